#!/usr/bin/env python3
"""The web console end to end in a real headless browser (Debian's
chromium, chromium-driver and python3-selenium): log in, open a store,
see its timeline drawn with spread counts (no empty bar), drag a window
on the timeline whose start edge falls between two packets 500 ns apart, add a BPF and a WIRESHARK filter (and see a bad filter's
error where it was typed), create the export, watch it become ready,
download it, and compare the file byte for byte with `pktexport export`
of the same window and filters.  Exit 77 (skipped) without the browser.
SCREENSHOT_DIR=DIR keeps screenshots of the console there (doc/ has
them).  Prints "N passed, N failed"."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

try:
    from selenium import webdriver
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select
except ImportError:
    # Debian's python3-selenium is for the system's python3.
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3" \
            and not os.environ.get("CONSOLE_REEXEC"):
        os.environ["CONSOLE_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("python3-selenium is not installed: skipped")
    sys.exit(77)

from checks import check, summary, wait_until
from daemon_api import Daemon
from daemon_auth import crypt_hash, write_users

T0 = 1700000000 * 10**9
D = 50 * 10**6  # the timeline's bucket: 200 of them over 10 s


def ns_str(ns):
    return "%d.%09d" % (ns // 10**9, ns % 10**9)


def browser_paths():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or (
        "/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    return chrome, driver


def make_root(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "fs"))
    # 10 s of packets 2 ms apart, the last at T0 + 200 D - 1 so the
    # console's default timeline (200 intervals from the first packet to
    # just after the last) has its edges at T0 + k D; around the edge of
    # bucket 50, two packets 500 ns apart, one on each side.
    times = [T0 + i * 2000000 + 1000 for i in range(5000)]
    times[0] = T0
    times[-1] = T0 + 200 * D - 1
    edge = T0 + 50 * D
    k = next(i for i, t in enumerate(times) if t > edge)
    times[k - 1], times[k] = edge - 200, edge + 300
    cap = os.path.join(tmp, "a.pcap")
    subprocess.run([sys.executable, os.environ["MKCAP"], cap, "--format", "pcap-ns",
                    "--times", ",".join(map(str, times)), "--seed", "11"], check=True)
    subprocess.run([os.environ["PKTEXPORT"], "store", "import", "--root", root,
                    "--file-size", "256k", "core-1", cap], check=True, capture_output=True)
    # Captures under fs/, one in a folder below: sources too.
    os.makedirs(os.path.join(root, "fs", "sub"))
    shutil.copy(cap, os.path.join(root, "fs", "a.pcap"))
    shutil.copy(cap, os.path.join(root, "fs", "sub", "b.pcap"))
    return root, edge


def shot(driver, name):
    d = os.environ.get("SCREENSHOT_DIR")
    if d:
        driver.save_screenshot(os.path.join(d, name))


def run(driver, d, root, tmp, edge):
    base = "http://%s:%d" % (d.host, d.port)
    driver.get(base + "/")
    user = driver.find_element(By.ID, "username")
    check("the login form shows", wait_until(lambda: user.is_displayed(), 10))
    shot(driver, "console-login.png")
    user.send_keys("alice")
    driver.find_element(By.ID, "password").send_keys("secret\n")
    app = driver.find_element(By.ID, "app-view")
    check("logged in: the console shows", wait_until(lambda: app.is_displayed(), 10))
    cookies = driver.get_cookies()
    check("the session cookie is HttpOnly and SameSite=Strict",
          cookies and all(c.get("httpOnly") and c.get("sameSite") == "Strict" for c in cookies),
          cookies)
    check("no token in localStorage",
          driver.execute_script("return window.localStorage.length") == 0)

    # The source, then its timeline.
    info = driver.find_element(By.ID, "timeline-info")
    Select(driver.find_element(By.ID, "source")).select_by_value("jobs/core-1")
    check("the timeline loads", wait_until(lambda: "intervals" in info.text, 10), info.text)
    n = driver.execute_script("return data.items.length")
    check("200 intervals", n == 200, n)
    # The chart asks for spread counts: 10 s of steady traffic, its index
    # entries (one a file here) farther apart than the buckets, shows no
    # empty bar (counted at entries alone, most bars would be 0).
    spread, bars = driver.execute_script("return [data.spread, data.items.map((i) => i.packets)]")
    check("the chart's counts are spread within index entries: no empty bar",
          spread is True and all(p > 0 for p in bars), (spread, bars[:12]))

    # Drag from bucket 50 to bucket 119.
    area = driver.execute_script(
        "const a = chart.chartArea; return [a.left, a.right, a.top, a.bottom];")
    canvas = driver.find_element(By.ID, "chart")
    w = (area[1] - area[0]) / n
    rect = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.width, r.height];", canvas)
    y = int((area[2] + area[3]) / 2 - rect[1] / 2)

    def xoff(i):
        return int(area[0] + (i + 0.5) * w - rect[0] / 2)

    ActionChains(driver).move_to_element_with_offset(canvas, xoff(50), y).click_and_hold() \
        .move_by_offset(xoff(119) - xoff(50), 0).release().perform()
    start = driver.find_element(By.ID, "start").get_attribute("value")
    end = driver.find_element(By.ID, "end").get_attribute("value")
    check("the drag's start is the bucket edge to the nanosecond", start == ns_str(edge),
          (start, ns_str(edge)))
    check("the drag's end is the edge after bucket 119", end == ns_str(edge + 70 * D),
          (end, ns_str(edge + 70 * D)))

    # Filters: a bad one first, its error shown at the filter.
    driver.find_element(By.ID, "add-filter").click()
    rows = driver.find_elements(By.CSS_SELECTOR, "#filters .filter")
    shot(driver, "console-timeline.png")
    rows[0].find_element(By.CSS_SELECTOR, ".fvalue").send_keys("tcp and and")
    Select(driver.find_element(By.ID, "format")).select_by_value("PCAP_NS")
    Select(driver.find_element(By.ID, "mode")).select_by_value("PREPARE")
    ferr = rows[0].find_element(By.CSS_SELECTOR, ".ferror")
    check("a bad filter's error shows as it is typed (validation endpoint)",
          wait_until(lambda: "syntax error" in ferr.text, 10), ferr.text)
    shot(driver, "console-filter-error.png")
    driver.find_element(By.ID, "create").click()
    check("creating with it: the service's error, at the filter",
          wait_until(lambda: '"f1"' in ferr.text, 10),
          (ferr.text, driver.find_element(By.ID, "export-error").text))
    v = rows[0].find_element(By.CSS_SELECTOR, ".fvalue")
    v.clear()
    v.send_keys("tcp or udp")
    driver.find_element(By.ID, "add-filter").click()
    rows = driver.find_elements(By.CSS_SELECTOR, "#filters .filter")
    Select(rows[1].find_element(By.CSS_SELECTOR, ".ftype")).select_by_value("WIRESHARK")
    rows[1].find_element(By.CSS_SELECTOR, ".fvalue").send_keys("frame.len > 100")
    driver.find_element(By.ID, "create").click()

    # The export runs, becomes READY, and is downloaded.
    def ready_row():
        for tr in driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr"):
            if tr.get_attribute("data-state") == "READY":
                return tr
        return None
    check("the export becomes READY in the list", wait_until(lambda: ready_row() is not None, 30),
          [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr")])
    tr = ready_row()
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "list-title"))
    shot(driver, "console-exports.png")
    if not tr:
        return
    dl = os.path.join(tmp, "downloads")
    os.makedirs(dl)
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": dl})
    tr.find_element(By.CSS_SELECTOR, ".download").click()

    def downloaded():
        f = [p for p in glob.glob(os.path.join(dl, "*")) if not p.endswith(".crdownload")]
        return f[0] if f else None
    check("the download arrives", wait_until(lambda: downloaded() is not None, 30))
    got = open(downloaded(), "rb").read() if downloaded() else b""
    ref = os.path.join(tmp, "ref.pcap")
    rc = subprocess.run([os.environ["PKTEXPORT"], "export", "--root", root, "-o", ref,
                         "--start", start, "--end", end, "-F", "PCAP_NS",
                         "-f", "BPF:tcp or udp", "-f", "WIRESHARK:frame.len > 100",
                         "jobs/core-1"], capture_output=True).returncode
    want = open(ref, "rb").read() if rc == 0 else None
    check("the download equals pktexport export, byte for byte", got and got == want,
          (len(got), want and len(want), rc))
    # One packet 300 ns after the start edge is in; the one 200 ns before
    # it is out: a window off by a microsecond would differ.
    check("the export holds packets", len(got) > 24 + 16, len(got))

    # By keyboard: two windows as intervals, the union exported.
    for li in driver.find_elements(By.CSS_SELECTOR, "#filters .fremove"):
        li.click()
    wins = []
    for first, count in ((10, 5), (150, 20)):
        canvas.send_keys(Keys.HOME)
        for _ in range(first):
            canvas.send_keys(Keys.ARROW_RIGHT)
        for _ in range(count - 1):
            canvas.send_keys(Keys.SHIFT, Keys.ARROW_RIGHT)
        wins.append((driver.find_element(By.ID, "start").get_attribute("value"),
                     driver.find_element(By.ID, "end").get_attribute("value")))
        driver.find_element(By.ID, "add-interval").click()
    want_w = [(ns_str(T0 + 10 * D), ns_str(T0 + 15 * D)), (ns_str(T0 + 150 * D), ns_str(T0 + 170 * D))]
    check("keyboard selections fill the window exactly", wins == want_w, (wins, want_w))
    check("two intervals listed", len(driver.find_elements(By.CSS_SELECTOR, "#intervals li")) == 2)
    before = {tr.get_attribute("data-id") for tr in driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr")}
    driver.find_element(By.ID, "create").click()

    def new_ready():
        for tr in driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr"):
            if tr.get_attribute("data-id") not in before and tr.get_attribute("data-state") == "READY":
                return tr
        return None
    check("the intervals' export becomes READY", wait_until(lambda: new_ready() is not None, 30))
    tr = new_ready()
    if not tr:
        return
    for p in glob.glob(os.path.join(dl, "*")):
        os.unlink(p)
    tr.find_element(By.CSS_SELECTOR, ".download").click()
    check("its download arrives", wait_until(lambda: downloaded() is not None, 30))
    got = open(downloaded(), "rb").read() if downloaded() else b""
    ref2 = os.path.join(tmp, "ref2.pcap")
    rc = subprocess.run([os.environ["PKTEXPORT"], "export", "--root", root, "-o", ref2,
                         "--interval", "%s,%s" % want_w[0], "--interval", "%s,%s" % want_w[1],
                         "-F", "PCAP_NS", "jobs/core-1"], capture_output=True).returncode
    want = open(ref2, "rb").read() if rc == 0 else None
    check("the intervals' download equals pktexport export --interval, byte for byte",
          got and got == want, (len(got), want and len(want), rc))


def run_more(driver, d, root, tmp):
    """After a reload: the sources of fs/, who is logged in, the keyboard's
    focus kept across polls, a filter's error at the filter it names (f10,
    not f1), numbers checked as typed and sent exactly, zooming out of a
    1 ns window, a narrow window (200% zoom) without sideways scrolling,
    and logging out leaving nothing of the user's on the page."""
    driver.refresh()
    app = driver.find_element(By.ID, "app-view")
    check("after a reload: still logged in", wait_until(lambda: app.is_displayed(), 10))
    who = driver.find_element(By.ID, "who")
    check("after a reload: the user's name shows", wait_until(lambda: who.text == "alice", 10),
          who.text)
    values = [o.get_attribute("value") for o in
              driver.find_elements(By.CSS_SELECTOR, "#source option")]
    check("the captures of fs/ and of its folders are sources",
          "fs/a.pcap" in values and "fs/sub/b.pcap" in values and "jobs/core-1" in values,
          values)
    info = driver.find_element(By.ID, "timeline-info")
    Select(driver.find_element(By.ID, "source")).select_by_value("fs/sub/b.pcap")
    check("a file's timeline loads", wait_until(lambda: "intervals" in info.text
                                                and data_path(driver) == "fs/sub/b.pcap", 10),
          info.text)

    # Ten filters, the tenth bad: the error goes to f10, not f1.
    add = driver.find_element(By.ID, "add-filter")
    for i in range(10):
        add.click()
    rows = driver.find_elements(By.CSS_SELECTOR, "#filters .filter")
    for i, li in enumerate(rows):
        li.find_element(By.CSS_SELECTOR, ".fvalue").send_keys("tcp and and" if i == 9 else "tcp")
    # Validation as typed would also mark f10: wait for it, clear both
    # marks, and look at what Create shows.
    wait_until(lambda: rows[9].find_element(By.CSS_SELECTOR, ".ferror").text != "", 10)
    driver.find_element(By.ID, "create").click()
    errs = lambda: [li.find_element(By.CSS_SELECTOR, ".ferror").text for li in rows]
    check("creating: the error of filter f10 shows at f10, and only there",
          wait_until(lambda: '"f10"' in errs()[9] and not any(errs()[:9]), 10), errs())
    for li in driver.find_elements(By.CSS_SELECTOR, "#filters .fremove"):
        li.click()

    # Numbers: refused as typed, then sent exactly.
    before = len(driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr"))
    snap = driver.find_element(By.ID, "snaplen")
    snap.clear()
    snap.send_keys("1e3")
    nerr = driver.find_element(By.ID, "numbers-error")
    check("snap length 1e3: refused as typed", "Snap length" in nerr.text
          and snap.get_attribute("aria-invalid") == "true", nerr.text)
    driver.find_element(By.ID, "create").click()
    check("and not sent", driver.execute_script("return document.activeElement.id") == "snaplen"
          and len(driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr")) == before)
    snap.clear()
    snap.send_keys("0")
    size = driver.find_element(By.ID, "size-limit")
    size.clear()
    size.send_keys("9007199254740993")
    check("a size limit past 2^53: taken", nerr.text == "", nerr.text)
    Select(driver.find_element(By.ID, "mode")).select_by_value("PREPARE")
    ids = {tr.get_attribute("data-id") for tr in
           driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr")}
    driver.find_element(By.ID, "create").click()

    def new_id():
        for tr in driver.find_elements(By.CSS_SELECTOR, "#exports tbody tr"):
            if tr.get_attribute("data-id") not in ids:
                return tr.get_attribute("data-id")
        return None
    check("the export with it is created", wait_until(lambda: new_id() is not None, 10))
    eid = new_id()
    if eid:
        raw = driver.execute_async_script(
            "fetch(arguments[0]).then((r) => r.text()).then(arguments[arguments.length - 1])",
            "/api/npm.packet_export/1.3/exports/items/" + eid)
        check("its size limit is sent exactly (9007199254740993, not ...992)",
              '"size_limit":9007199254740993' in raw.replace(" ", ""), raw[:300])
    size.clear()
    size.send_keys("0")

    # The keyboard's focus on a row's Delete stays there across polls.
    btn = driver.find_element(By.CSS_SELECTOR, "#exports tbody tr .delete")
    driver.execute_script("arguments[0].focus()", btn)
    driver.execute_async_script("pollExports().then(() => pollExports())"
                                ".then(arguments[arguments.length - 1])")
    check("a focused Delete keeps the focus across polls",
          driver.execute_script("return document.activeElement === arguments[0]", btn))

    # Zooming out of a 1 ns window widens it.
    driver.execute_script("view = {start: %dn, end: %dn}; loadTimeline();" % (T0 + 7, T0 + 8))
    wait_until(lambda: driver.execute_script("return data && data.start_time") == ns_str(T0 + 7), 10)
    driver.execute_script("zoomOut()")
    check("zoom out of a 1 ns window widens it",
          wait_until(lambda: driver.execute_script(
              "return data && parseTime(data.end_time) - parseTime(data.start_time) > 1n"), 10),
          driver.execute_script("return data && [data.start_time, data.end_time]"))

    # 200% zoom of a 1280-pixel window: 640 CSS pixels, no sideways scroll.
    driver.set_window_size(640, 900)
    # The chart follows the new width when its resize observer runs, a
    # frame or so later: the page settles, then nothing is off the side.
    widths = lambda: driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    wait_until(lambda: widths()[0] <= widths()[1], 10)
    wide = widths()
    check("640 pixels wide (200% zoom): nothing off the side", wide[0] <= wide[1], wide)
    driver.execute_script("arguments[0].scrollIntoView()", driver.find_element(By.ID, "list-title"))
    shot(driver, "console-narrow.png")
    driver.set_window_size(1100, 900)

    # Logging out leaves nothing of the user's on the page.
    driver.find_element(By.ID, "logout").click()
    user = driver.find_element(By.ID, "username")
    check("logged out: the login form", wait_until(lambda: user.is_displayed(), 10))
    left = driver.execute_script(
        "return [document.querySelectorAll('#exports tbody tr').length,"
        " document.querySelectorAll('#source option').length, document.getElementById('who').textContent]")
    check("logged out: no export, source or name left on the page", left == [0, 0, ""], left)


def data_path(driver):
    return driver.execute_script("return document.getElementById('source').value")


def main():
    chrome, driver_path = browser_paths()
    if not chrome or not driver_path:
        print("chromium and chromium-driver are not installed: skipped")
        return 77
    chartjs = os.environ.get("PKTEXPORT_CHARTJS_DIR", "/usr/share/javascript/chart.js")
    if not os.path.exists(os.path.join(chartjs, "chart.min.js")):
        print("libjs-chart.js is not installed: skipped")
        return 77
    from selenium.webdriver.chrome.service import Service
    tmp = tempfile.mkdtemp(prefix="pkx-console-")
    drv = d = None
    try:
        root, edge = make_root(tmp)
        users = os.path.join(tmp, "users")
        write_users(users, "alice:%s:user\n" % crypt_hash("secret", "saltsalt"))
        d = Daemon(root, ["--users", users])
        opts = webdriver.ChromeOptions()
        opts.binary_location = chrome
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1100,900", "--user-data-dir=" + os.path.join(tmp, "profile")):
            opts.add_argument(a)
        drv = webdriver.Chrome(service=Service(driver_path), options=opts)
        drv.set_page_load_timeout(30)
        run(drv, d, root, tmp, edge)
        run_more(drv, d, root, tmp)
        # Answers the test provoked (401 before logging in, the bad
        # filter's 400) are network entries; a script error or a CSP
        # refusal is not.
        logs = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
                and e.get("source") != "network"]
        check("no error in the browser's console (CSP included)", not logs, logs)
    finally:
        if drv:
            drv.quit()
        if d:
            rc = d.stop()
            check("the daemon exits 0", rc == 0, d.stderr[-2000:])
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
