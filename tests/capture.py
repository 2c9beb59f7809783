#!/usr/bin/env python3
"""Capture jobs (pktexport capture, pktexport-capture) on a network the test
makes itself: a network namespace and veth pairs, traffic from our own
generator (tests/pktgen) carrying sequence numbers.

- the recording equals what tcpdump records on the same interface in the
  same run (packets, bytes, order, times); an export of the last second, and
  one of the last 10 s, made while it records, return within 1 s of the
  window's end and equal the same exports after the recording;
- retention keeps the store under its size limit at every moment sampled,
  and what remains exports whole;
- kill -9 at random moments, 20 times, and files cut as a power loss cuts
  them: the store always reopens, exports are exact for what it holds, and
  the next recording repairs and goes on;
- two interfaces into one pcapng store, in time order;
- a full disk stops the job with a clear state and nothing corrupt;
- over REST (pktexportd): a VIFG holding one veth interface, a job on it,
  whose export equals tcpdump's recording of the same run; the job
  survives a restart of the daemon; disable, clear, delete; refusals.

Skipped (77) with the reason where the machine forbids namespaces or
packet sockets (not root, no `ip`, no tcpdump)."""
import http.client
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

from checks import check, summary, wait_until
from daemon_api import API, Daemon

PKT = os.environ["PKTEXPORT"]
TOP = os.path.dirname(PKT)
PKTGEN = os.environ.get("PKTGEN", os.path.join(TOP, "tests", "pktgen"))
os.environ.setdefault("PKTEXPORT_CAPTURE", os.path.join(TOP, "pktexport-capture"))
TAG = b"PKXG"
NS = "pkxc%d" % os.getpid()
IF = ["pkx%da" % os.getpid(), "pkx%dc" % os.getpid()]  # ours
PEER = ["pkx%db" % os.getpid(), "pkx%dd" % os.getpid()]  # in NS


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def sh(*args, ok=(0,)):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if r.returncode not in ok:
        raise RuntimeError("%s: %s" % (" ".join(args), r.stdout.decode()))
    return r


def setup():
    if os.geteuid() != 0:
        skip("needs root to make network namespaces and veth pairs")
    if not shutil.which("ip") or not shutil.which("tcpdump"):
        skip("needs ip (iproute2) and tcpdump")
    if subprocess.run(["ip", "netns", "add", NS], stderr=subprocess.DEVNULL).returncode:
        skip("cannot make a network namespace here")
    for mine, peer in zip(IF, PEER):
        sh("ip", "link", "add", mine, "type", "veth", "peer", "name", peer, "netns", NS)
        # No IPv6 chatter (router solicitations) of our own.
        sh("sysctl", "-qw", "net.ipv6.conf.%s.disable_ipv6=1" % mine, ok=(0, 255))
        sh("ip", "netns", "exec", NS, "sysctl", "-qw",
           "net.ipv6.conf.%s.disable_ipv6=1" % peer, ok=(0, 255))
        sh("ip", "link", "set", mine, "up")
        sh("ip", "-n", NS, "link", "set", peer, "up")


def teardown():
    subprocess.run(["ip", "netns", "del", NS], stderr=subprocess.DEVNULL)
    for mine in IF:
        subprocess.run(["ip", "link", "del", mine], stderr=subprocess.DEVNULL)


def gen(peer, rate, count, wait=True):
    p = subprocess.Popen(["ip", "netns", "exec", NS, PKTGEN, peer, str(rate), str(count)],
                         stdout=subprocess.DEVNULL)
    if wait:
        check("generator on %s ran" % peer, p.wait() == 0)
    return p


# ---------------------------------------------------------------- captures

def records(path):
    """[(iface, ts_ns, wirelen, data)] of the whole records of a pcap or
    pcapng file (little-endian, as ours and tcpdump's are); a record cut by
    the end of the file is not one."""
    try:
        d = open(path, "rb").read()
    except FileNotFoundError:
        return []
    out = []
    if d[:4] == b"\x0a\x0d\x0d\x0a":
        o, nif = 0, 0
        while o + 12 <= len(d):
            t, ln = struct.unpack("<II", d[o:o + 8])
            if ln < 12 or o + ln > len(d):
                break
            if t == 1:
                nif += 1
            elif t == 6:
                i, hi, lo, cap, wire = struct.unpack("<IIIII", d[o + 8:o + 28])
                out.append((i, (hi << 32 | lo), wire, d[o + 28:o + 28 + cap]))
            o += ln
        return out
    magic = struct.unpack("<I", d[:4])[0]
    scale = 1 if magic == 0xA1B23C4D else 1000
    o = 24
    while o + 16 <= len(d):
        s, f, cap, wire = struct.unpack("<IIII", d[o:o + 16])
        if o + 16 + cap > len(d):
            break
        out.append((0, s * 10**9 + f * scale, wire, d[o + 16:o + 16 + cap]))
        o += 16 + cap
    return out


def seq(data):
    """The generator's sequence number of a frame, None for other traffic."""
    at = data.find(TAG, 42)
    return struct.unpack(">Q", data[at + 4:at + 12])[0] if at == 42 else None


def job_files(root, job):
    d = os.path.join(root, "jobs", job)
    return sorted(os.path.join(d, n) for n in os.listdir(d)
                  if n.endswith((".pcap", ".pcapng")) and not n.startswith("."))


def store_records(root, job):
    return [r for f in job_files(root, job) for r in records(f)]


def export(root, src, out, *extra):
    r = subprocess.run([PKT, "export", "--root", root, "-F", "PCAP_NS", "-o", out]
                       + list(extra) + [src], stderr=subprocess.PIPE)
    return r.returncode, r.stderr.decode()


def status(root, job):
    try:
        with open(os.path.join(root, "jobs", job, ".recorder.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def recorder(root, job, ifaces, *opts):
    os.makedirs(root, exist_ok=True)
    p = subprocess.Popen([PKT, "capture", "--root", root] + list(opts) + [job] + ifaces,
                         stderr=subprocess.PIPE)
    ready = wait_until(lambda: status(root, job).get("pid") == p.pid
                       and status(root, job).get("state") == "RUNNING"
                       or p.poll() is not None, 20)
    check("recorder %s started" % job, ready and p.poll() is None,
          p.stderr.read().decode() if p.poll() is not None else "")
    return p


def stop(p):
    p.send_signal(signal.SIGINT)
    try:
        rc = p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = p.wait()
    return rc, p.stderr.read().decode()


def tcpdump(iface, out):
    err = open(out + ".err", "wb")
    p = subprocess.Popen(["tcpdump", "-i", iface, "-U", "-s", "262144", "-w", out,
                          "--time-stamp-precision=nano"], stderr=err)
    wait_until(lambda: b"listening on" in open(out + ".err", "rb").read()
               or p.poll() is not None, 20)
    return p


def ours(recs):
    return [r for r in recs if seq(r[3]) is not None]


# ------------------------------------------------------------------- tests

def test_equal_to_tcpdump(tmp):
    root = os.path.join(tmp, "eq")
    ref = os.path.join(tmp, "tcpdump.pcap")
    n = 20000
    td = tcpdump(IF[0], ref)
    rec = recorder(root, "eq", [IF[0]], "--file-size", "2M")
    gen(PEER[0], 20000, n)
    # While it records: the last second, exported as soon as it is over.
    t = time.time_ns()
    win = ("--start", "%d.%09d" % divmod(t - 10**9, 10**9),
           "--end", "%d.%09d" % divmod(t, 10**9))
    rc, err = export(root, "jobs/eq", os.path.join(tmp, "last1.pcap"), *win)
    late = (time.time_ns() - t) / 1e9
    check("export of the last second while recording", rc == 0, err)
    check("it returned within 1 s of the window's end", late < 1.0, "%.3f s" % late)
    check("tcpdump saw the traffic",
          wait_until(lambda: len(ours(records(ref))) >= n, 20))
    check("the recording reached the end",
          wait_until(lambda: status(root, "eq").get("packets_written", 0) >= n, 20))
    td.send_signal(signal.SIGINT)
    td.wait()
    rc, err = stop(rec)
    check("recorder stopped cleanly", rc == 0, err)
    st = status(root, "eq")
    check("status: STOPPED, no reason", st.get("state") == "STOPPED" and not st.get("reason"), st)
    ifs = st.get("interfaces", [{}])
    check("status: per interface counts",
          ifs[0].get("name") == IF[0] and ifs[0].get("packets_written") == st.get("packets_written")
          and ifs[0].get("kernel_drops") == 0 and ifs[0].get("our_drops") == 0, ifs)
    rc, err = export(root, "jobs/eq", os.path.join(tmp, "all.pcap"))
    check("export of the whole job", rc == 0, err)
    got, want = records(os.path.join(tmp, "all.pcap")), records(ref)
    check("same packets as tcpdump, in the same order",
          [r[3] for r in got] == [r[3] for r in want], "%d vs %d" % (len(got), len(want)))
    check("same lengths", [r[2] for r in got] == [r[2] for r in want])
    check("times within 1 ms of tcpdump's",
          len(got) == len(want) and all(abs(a[1] - b[1]) <= 10**6 for a, b in zip(got, want)))
    check("every generated packet, in order", [seq(r[3]) for r in ours(got)] == list(range(n)))
    check("several files (rotation)", len(job_files(root, "eq")) > 3, job_files(root, "eq"))
    rc, err = export(root, "jobs/eq", os.path.join(tmp, "last1-after.pcap"), *win)
    check("the last second, exported while recording, equals it exported after",
          rc == 0 and open(os.path.join(tmp, "last1.pcap"), "rb").read()
          == open(os.path.join(tmp, "last1-after.pcap"), "rb").read()
          and len(records(os.path.join(tmp, "last1.pcap"))) > 1000, err)


def test_last_10s(tmp):
    """The last 10 s of a recording, exported while it records: back
    within 1 s of the window's end, equal to the same export after."""
    root = os.path.join(tmp, "l10")
    rec = recorder(root, "l10", [IF[0]])
    t0 = time.time()
    traffic = gen(PEER[0], 2000, 2000 * 13, wait=False)
    # The wall clock has to pass 10 s of recording: a span, not a wait
    # for something to get ready.
    wait_until(lambda: time.time() >= t0 + 11, 15)
    t = time.time_ns()
    win = ("--start", "%d.%09d" % divmod(t - 10 * 10**9, 10**9),
           "--end", "%d.%09d" % divmod(t, 10**9))
    out = os.path.join(tmp, "l10-during.pcap")
    rc, err = export(root, "jobs/l10", out, *win)
    late = (time.time_ns() - t) / 1e9
    check("export of the last 10 s while recording", rc == 0, err)
    check("back within 1 s of the window's end", late < 1.0, "%.3f s" % late)
    check("generator ran", traffic.wait() == 0)
    rc, err = stop(rec)
    check("recorder stopped cleanly", rc == 0, err)
    after = os.path.join(tmp, "l10-after.pcap")
    rc, err = export(root, "jobs/l10", after, *win)
    n = len(records(out))
    check("equal to the same window exported after the recording stopped",
          rc == 0 and open(out, "rb").read() == open(after, "rb").read() and n > 15000,
          "%s: %d vs %d records" % (err, n, len(records(after))))
    print("last 10 s: %d packets, back %.3f s after the window's end" % (n, late))


def test_follow_cli(tmp):
    """pktexport export --follow on a job being recorded: the packets of a
    window that starts now, written as they are recorded."""
    root = os.path.join(tmp, "fol")
    rec = recorder(root, "fol", [IF[0]])
    t = time.time_ns()
    out = os.path.join(tmp, "follow.pcap")
    win = ["--start", "%d.%09d" % divmod(t, 10**9),
           "--end", "%d.%09d" % divmod(t + 3 * 10**9, 10**9)]
    exp = subprocess.Popen([PKT, "export", "--root", root, "--follow", "-F", "PCAP_NS",
                            "-o", out] + win + ["jobs/fol"], stderr=subprocess.PIPE)
    gen(PEER[0], 2000, 3000)
    rc = exp.wait(30)
    ended = time.time_ns()
    check("export --follow ended by itself", rc == 0, exp.stderr.read().decode())
    check("within 1.5 s of the window's end", (ended - t) / 1e9 - 3 < 1.5, (ended - t) / 1e9)
    rc, err = stop(rec)
    after = os.path.join(tmp, "follow-after.pcap")
    rc, err = export(root, "jobs/fol", after, *win)
    check("every packet of the window, equal to the export made afterwards",
          rc == 0 and [seq(x[3]) for x in ours(records(out))] == list(range(3000))
          and open(out, "rb").read() == open(after, "rb").read(), err)
    rc, err = export(root, "jobs/fol", os.path.join(tmp, "x.pcap"), "--follow", *win)
    check("--follow of a job no longer recorded ends at once, exact",
          rc == 0 and open(os.path.join(tmp, "x.pcap"), "rb").read() == open(after, "rb").read(), err)


def store_size(d):
    total = 0
    for base, _, names in os.walk(d):
        for n in names:
            try:
                total += os.lstat(os.path.join(base, n)).st_size
            except FileNotFoundError:
                pass
    return total


def test_retention(tmp):
    root = os.path.join(tmp, "ret")
    limit = 512 * 1024
    rec = recorder(root, "ret", [IF[0]], "--file-size", "64k", "--max-size", str(limit),
                   "--snaplen", "2048", "--flush-ms", "50")
    jobdir = os.path.join(root, "jobs", "ret")
    peak, samples, halt = [0], [0], threading.Event()

    def sample():
        while not halt.is_set():
            peak[0] = max(peak[0], store_size(jobdir))
            samples[0] += 1
            time.sleep(0.002)
    th = threading.Thread(target=sample)
    th.start()
    n = 15000  # about 10.8 MB: 20 times the limit
    gen(PEER[0], 15000, n)
    check("the recording reached the end",
          wait_until(lambda: status(root, "ret").get("packets_written", 0) >= n, 20))
    halt.set()
    th.join()
    rc, err = stop(rec)
    check("recorder stopped cleanly", rc == 0, err)
    check("the store stayed under its limit at every sample",
          0 < peak[0] <= limit, "peak %d of %d in %d samples" % (peak[0], limit, samples[0]))
    check("old files were removed", status(root, "ret").get("files_removed", 0) > 10,
          status(root, "ret"))
    rc, err = export(root, "jobs/ret", os.path.join(tmp, "ret.pcap"))
    got = [seq(r[3]) for r in ours(records(os.path.join(tmp, "ret.pcap")))]
    check("what remains exports whole: the newest packets, none missing",
          rc == 0 and got and got == list(range(got[0], n)), "%s %s" % (err, got[:3]))
    check("export equals the files read directly",
          [r[3] for r in records(os.path.join(tmp, "ret.pcap"))]
          == [r[3] for r in store_records(root, "ret")])


def test_rollup_retention(tmp):
    """The recorder keeps the store's rollup (every index entry a point:
    PKTEXPORT_ROLLUP_EVERY=1; levels 2 and 3 every 2nd and 4th point:
    PKTEXPORT_ROLLUP_STEP=2) as it writes and as retention removes files:
    a long timeline after it is answered from the coarsest level holding 8
    points an interval, with the counts of the files that remain at that
    level's points, during the recording and after it."""
    import struct
    from daemon_timeline import Reference
    root = os.path.join(tmp, "rollret")
    os.environ["PKTEXPORT_ROLLUP_EVERY"] = "1"
    os.environ["PKTEXPORT_ROLLUP_STEP"] = "2"
    try:
        rec = recorder(root, "rr", [IF[0]], "--file-size", "64k", "--max-size", str(2 << 20),
                       "--snaplen", "2048", "--flush-ms", "50")
    finally:
        del os.environ["PKTEXPORT_ROLLUP_EVERY"]
        del os.environ["PKTEXPORT_ROLLUP_STEP"]
    store = os.environ["PKTEXPORT_STORE"]

    def timeline(n):
        r = subprocess.run([store, "timeline", "--root", root, "jobs/rr", "0", "0", str(n)],
                           capture_output=True, text=True)
        return json.loads(r.stdout) if r.stdout else {}
    gen(PEER[0], 20000, 8000)
    check("the recording reached the end",
          wait_until(lambda: status(root, "rr").get("packets_written", 0) >= 8000, 20))
    doc = {}

    def from_rollup():
        doc.update(timeline(2))
        return doc.get("granularity", "").startswith("rollup")
    check("while recording, a long timeline comes from the rollup",
          wait_until(from_rollup, 10) and doc.get("files", 0) > 8, doc.get("granularity"))
    # The recorder renames its status file every 50 ms and stamps the
    # rollup just after: a reader in between waits for the stamp rather
    # than read every file's index (1 in 300 did before it waited).
    got = [timeline(2).get("granularity", "") for _ in range(100)]
    check("while the recorder flushes, 100 timelines of 100 come from the rollup",
          all(g.startswith("rollup") for g in got), got)
    rc, err = stop(rec)
    check("recorder stopped cleanly", rc == 0, err)
    check("retention removed files", status(root, "rr").get("files_removed", 0) > 10,
          status(root, "rr"))
    files = job_files(root, "rr")
    ref = Reference(files)
    with open(os.path.join(root, "jobs", "rr", ".index", "rollup"), "rb") as f:
        first = struct.unpack_from("<Q", f.read(256), 32)[0]  # the first live point
    levels = [Reference(files, step=2 ** k, first=first) for k in range(3)]
    names = ["rollup", "rollup2", "rollup3"]
    seen = set()
    for n in (1, 2, len(files) // 8):
        k = next((k for k in (2, 1, 0) if len(levels[k].points) >= 8 * n), 0)
        seen.add(k)
        doc = timeline(n)
        b0 = int(doc.get("start_time", "0").replace(".", ""))
        b1 = int(doc.get("end_time", "0").replace(".", ""))
        got = [(it["packets"], it["bytes"]) for it in doc.get("items", [])]
        want = [(p, b) for _, p, b in levels[k].buckets(b0, b1, n)]
        check("after retention, %d intervals from %s equal the remaining files at its points"
              % (n, names[k]),
              doc.get("granularity") == names[k] and got == want
              and doc.get("packets") == len(ref.ts) and b0 == min(ref.ts),
              (doc.get("granularity"), got[:3], want[:3]))
    check("after retention, a coarser level answered too", seen - {0}, seen)
    for name in names:
        os.unlink(os.path.join(root, "jobs", "rr", ".index", name))
    doc = timeline(2)
    check("without the rollup: the same totals from the files' indexes",
          doc.get("granularity") == "index" and doc.get("packets") == len(ref.ts), doc.get("packets"))


def growing(idx):
    try:
        with open(idx, "rb") as f:
            h = f.read(16)
        return len(h) == 16 and struct.unpack("<I", h[12:16])[0] & 8
    except OSError:
        return False


def test_kill9(tmp, rounds=20):
    root = os.path.join(tmp, "k9")
    rng = random.Random(os.getpid())
    traffic = gen(PEER[0], 4000, 10**9, wait=False)
    last_seq, cut_rounds = -1, 0
    try:
        for i in range(rounds):
            rec = recorder(root, "k9", [IF[0]], "--file-size", "256k", "--snaplen", "2048",
                           "--flush-ms", "50")
            time.sleep(rng.uniform(0.05, 0.6))  # a random moment, not a wait for readiness
            rec.kill()
            rec.wait()
            rec.stderr.close()
            files = job_files(root, "k9")
            # Half the rounds: a power loss as well, which loses what the
            # page cache held of the file being written (its index says
            # it was not yet closed): its tail is cut at a random byte.
            if i % 2 and files:
                last = files[-1]
                idx = os.path.join(os.path.dirname(last), ".index",
                                   os.path.basename(last) + ".idx")
                size = os.path.getsize(last)
                if growing(idx) and size > 24:
                    os.truncate(last, rng.randint(24, size))
                    cut_rounds += 1
            want = store_records(root, "k9")
            out = os.path.join(tmp, "k9.pcap")
            rc, err = export(root, "jobs/k9", out)
            got = records(out)
            ok = rc == 0 and [r[3] for r in got] == [r[3] for r in want]
            seqs = [seq(r[3]) for r in ours(got)]
            ok = ok and all(b > a for a, b in zip(seqs, seqs[1:]))
            check("round %d: the store reopens and exports exactly what it holds" % i,
                  ok, "%s: %d vs %d" % (err, len(got), len(want)))
            last_seq = seqs[-1] if seqs else last_seq
        check("power losses were simulated", cut_rounds >= 3, cut_rounds)
        # A last recording repairs the cut file and goes on.
        rec = recorder(root, "k9", [IF[0]], "--file-size", "256k", "--snaplen", "2048")
        before = len(store_records(root, "k9"))
        check("recording goes on after the crashes",
              wait_until(lambda: status(root, "k9").get("packets_written", 0) > 100, 20))
        rc, err = stop(rec)
        check("stopped cleanly", rc == 0, err)
        r = subprocess.run([PKT, "store", "info", "--root", root, "k9"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        info = json.loads(r.stdout or b"{}")
        check("store info: sound, nothing damaged", r.returncode == 0
              and not any(f.get("damaged") for f in info.get("files", [])), r.stderr)
        rc, err = export(root, "jobs/k9", os.path.join(tmp, "k9.pcap"))
        got = records(os.path.join(tmp, "k9.pcap"))
        check("the whole job exports, more than before the last recording",
              rc == 0 and len(got) > before and
              [r[3] for r in got] == [r[3] for r in store_records(root, "k9")], err)
    finally:
        traffic.kill()
        traffic.wait()


def test_two_interfaces(tmp):
    root = os.path.join(tmp, "two")
    rec = recorder(root, "two", IF, "--file-size", "1M")
    a = gen(PEER[0], 5000, 5000, wait=False)
    b = gen(PEER[1], 3000, 3000, wait=False)
    check("generators ran", a.wait() == 0 and b.wait() == 0)
    check("the recording reached the end",
          wait_until(lambda: status(root, "two").get("packets_written", 0) >= 8000, 20))
    rc, err = stop(rec)
    check("recorder stopped cleanly", rc == 0, err)
    files = job_files(root, "two")
    check("pcapng files", files and all(f.endswith(".pcapng") for f in files), files)
    recs = store_records(root, "two")
    check("in time order across the interfaces",
          all(y[1] >= x[1] for x, y in zip(recs, recs[1:])))
    for i, n in ((0, 5000), (1, 3000)):
        check("interface %d: every packet, in order" % i,
              [seq(r[3]) for r in ours(recs) if r[0] == i] == list(range(n)))
    rc, err = export(root, "jobs/two", os.path.join(tmp, "two.pcapng"), "-F", "PCAPNG_NS")
    check("exports as pcapng with both interfaces", rc == 0 and
          len(ours(records(os.path.join(tmp, "two.pcapng")))) == 8000, err)
    st = status(root, "two")
    check("status per interface", [f.get("packets_written") for f in st.get("interfaces", [])]
          == [5000, 3000] or sum(f.get("packets_written", 0) for f in st.get("interfaces", [])) >= 8000,
          st)


def test_disk_full(tmp):
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt],
                      stderr=subprocess.DEVNULL).returncode:
        print("disk full: not tested (cannot mount a small tmpfs here)")
        return
    try:
        rec = recorder(mnt, "full", [IF[0]], "--file-size", "256k", "--snaplen", "2048",
                       "--flush-ms", "50")
        gen(PEER[0], 10000, 5000)
        try:
            rc = rec.wait(20)
        except subprocess.TimeoutExpired:
            rc = stop(rec)[0]
        err = rec.stderr.read().decode()
        st = status(mnt, "full")
        check("a full disk stops the job: exit 3, STOPPED, reason named",
              rc == 3 and st.get("state") == "STOPPED" and "space" in st.get("reason", ""),
              "%s %s %s" % (rc, st, err))
        check("packets it could not write are counted as ours",
              st.get("interfaces", [{}])[0].get("our_drops", 0) > 0, st)
        out = os.path.join(tmp, "full.pcap")
        rc, err = export(mnt, "jobs/full", out)
        want = store_records(mnt, "full")
        check("what was stored exports whole, no damage", rc == 0 and want and
              [r[3] for r in records(out)] == [r[3] for r in want], err)
        seqs = [seq(r[3]) for r in ours(want)]
        check("the stored packets are the first ones, none missing",
              seqs == list(range(len(seqs))), seqs[:3])
        check("every file ends on a whole record",
              all(sum(16 + len(r[3]) for r in records(f)) + 24 == os.path.getsize(f)
                  for f in job_files(mnt, "full")))
        check("the status counts what is stored",
              st.get("packets_written") == len(want), "%s %d" % (st.get("packets_written"), len(want)))
    finally:
        subprocess.run(["umount", mnt])


CAP = "/api/npm.packet_capture/3.0"


def test_saves(d, root, vid):
    """capture.json is saved off the event loop: a save that cannot end
    (its temporary file a FIFO nobody reads) holds its own request only;
    a failed save takes the new job back; saves of concurrent changes keep
    their order, and the file says what the API says."""
    conf = os.path.join(root, ".pktexport", "capture.json")
    tmpname = conf + ".tmp"
    os.mkfifo(tmpname)
    got = {}
    job = {"name": "held", "enabled": False, "vifgs": [vid]}
    th = threading.Thread(target=lambda: got.update(
        r=d.request("POST", CAP + "/jobs", {"config": job})))
    th.start()
    def ping():
        try:
            c = http.client.HTTPConnection(d.host, d.port, timeout=2)
            c.request("GET", "/api/common/1.0/ping")
            return c.getresponse().status
        except OSError as e:  # a loop held by the save: timed out
            return repr(e)
    t0 = time.monotonic()
    answers = [ping() for _ in range(5)]
    took = time.monotonic() - t0
    check("while a save waits on its disk, the daemon answers others at once",
          answers == [200] * 5 and took < 2 and th.is_alive(), (answers, took))
    with open(tmpname, "rb") as f:  # the save goes on, and fails (fsync of a FIFO)
        f.read()
    th.join(30)
    code, e, _ = got.get("r", (None, {}, None))
    check("a failed save: 500", code == 500 and "cannot save" in (e or {}).get("error_text", ""),
          (code, e))
    check("... no temporary file left", not os.path.exists(tmpname))
    check("... the job taken back: not in capture.json, and the name is free again",
          "held" not in [j["config"]["name"] for j in json.load(open(conf))["jobs"]]
          and d.request("POST", CAP + "/jobs", {"config": job})[0] == 201)
    check("... which that job's DELETE undoes",
          d.request("DELETE", CAP + "/jobs/items/held")[0] == 204)
    names = ["c%d" % i for i in range(8)]
    res = {}

    def make(n):
        res[n] = d.request("POST", CAP + "/jobs",
                           {"config": {"name": n, "enabled": False, "vifgs": [vid]}})[0]
    ths = [threading.Thread(target=make, args=(n,)) for n in names]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)

    def listed():
        return sorted(j["config"]["name"] for j in
                      d.request("GET", CAP + "/jobs")[1]["items"] if j["config"]["name"] in names)

    def saved():
        return sorted(j["config"]["name"] for j in json.load(open(conf))["jobs"]
                      if j["config"]["name"] in names)
    check("8 jobs made at once: 201 each, listed, all in capture.json",
          all(res.get(n) == 201 for n in names) and listed() == names and saved() == names,
          (res, listed(), saved()))
    ths = [threading.Thread(target=lambda n=n: res.update({n: d.request(
        "DELETE", CAP + "/jobs/items/" + n)[0]})) for n in names[::2]]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    check("4 deleted at once: the file follows the API",
          wait_until(lambda: listed() == names[1::2] and saved() == names[1::2], 10),
          (listed(), saved(), res))
    for n in names[1::2]:
        d.request("DELETE", CAP + "/jobs/items/" + n)
    check("... and after the rest, none", wait_until(lambda: not saved() and not listed(), 10))


def test_rest(tmp):
    root = os.path.join(tmp, "rest")
    os.makedirs(root)
    d = Daemon(root)
    try:
        code, v, _ = d.request("POST", CAP + "/vifgs",
                               {"config": {"name": "veth", "enabled": True, "members": [IF[0]]}})
        check("POST vifgs: 201", code == 201 and v.get("config", {}).get("members") == [IF[0]], v)
        vid = v.get("id")
        code, lst, _ = d.request("GET", CAP + "/vifgs")
        check("the VIFG is listed", code == 200 and vid in [g["id"] for g in lst["items"]])
        bad = [({"name": "x", "enabled": True, "vifgs": [999999]}, 400, "no VIFG"),
               ({"name": "x", "enabled": True, "vifgs": [vid],
                 "filter": {"type": "STEELFILTER", "value": "ip"}}, 400, "BPF"),
               ({"name": "x", "enabled": True, "vifgs": [vid],
                 "filter": {"type": "BPF", "value": "tcp port"}}, 400, "filter"),
               ({"name": "../x", "enabled": True, "vifgs": [vid]}, 400, "name"),
               ({"name": "x", "enabled": True, "vifgs": [vid], "snap_len": 0}, 400, "snap_len"),
               ({"name": "x", "enabled": True, "vifgs": [vid], "colour": 1}, 400, "colour"),
               ({"name": "x", "enabled": True, "vifgs": [vid],
                 "retention_rules": {"max_disk_space": 10}}, 400, "max_disk_space")]
        for cfg, want, word in bad:
            code, e, _ = d.request("POST", CAP + "/jobs", {"config": cfg})
            check("POST jobs refused (%s): %d" % (word, want),
                  code == want and word in (e or {}).get("error_text", ""), (code, e))
        td = tcpdump(IF[0], os.path.join(tmp, "rest-td.pcap"))
        job = {"name": "rec", "enabled": True, "vifgs": [vid], "snap_len": 262144,
               "retention_rules": {"max_disk_space": 64 << 20, "max_retention_time": "3600"}}
        code, j, _ = d.request("POST", CAP + "/jobs", {"config": job})
        check("POST jobs: 201 with an id", code == 201 and len(j.get("id", "")) == 36, (code, j))
        jid = j.get("id", "none")
        code, e, _ = d.request("POST", CAP + "/jobs", {"config": job})
        check("a second job of that name: 409", code == 409, (code, e))

        def state():
            code, o, _ = d.request("GET", CAP + "/jobs/items/" + jid)
            return o["state"]["status"]["state"] if code == 200 else None
        check("the job records (RUNNING, its recorder ready)",
              wait_until(lambda: state() == "RUNNING"
                         and status(root, "rec").get("state") == "RUNNING", 20),
              (state(), status(root, "rec")))
        n = 5000
        gen(PEER[0], 20000, n)
        check("tcpdump saw it", wait_until(lambda: len(ours(records(td.args[-2]))) >= n, 20))
        check("the job wrote it", wait_until(
            lambda: d.request("GET", CAP + "/jobs/items/" + jid)[1]["state"]["stats"]
            ["packets_written"]["total"] >= n, 20))
        td.send_signal(signal.SIGINT)
        td.wait()
        code, o, _ = d.request("GET", CAP + "/jobs/items/" + jid)
        ifs = o["state"].get("interfaces", [{}])
        check("job state: per interface counts, no drops",
              ifs[0].get("name") == IF[0] and ifs[0].get("kernel_drops") == 0
              and ifs[0].get("our_drops") == 0 and ifs[0].get("packets_written", 0) >= n, o["state"])
        code, e, _ = d.post({"path": "jobs/" + jid, "output_format": "PCAP_NS"})
        check("export of jobs/<id>", code == 201, e)
        r, data = d.request("GET", API + "/packets/items/" + e.get("id", ""), raw=True)
        out = os.path.join(tmp, "rest-export.pcap")
        open(out, "wb").write(data)
        got, want = records(out), records(os.path.join(tmp, "rest-td.pcap"))
        check("the job's export equals tcpdump's recording (packets, bytes, order)",
              r.status == 200 and [x[3] for x in got] == [x[3] for x in want]
              and [x[2] for x in got] == [x[2] for x in want], "%d vs %d" % (len(got), len(want)))
        check("times within 1 ms of tcpdump's",
              len(got) == len(want) and all(abs(a[1] - b[1]) <= 10**6 for a, b in zip(got, want)))
        # The daemon restarts: the job records again, from its configuration.
        check("daemon stops (its recorder too)", d.stop() == 0)
        check("the recorder stopped with it", status(root, "rec").get("state") == "STOPPED")
        d.start()
        check("after a restart the job records again",
              wait_until(lambda: state() == "RUNNING"
                         and status(root, "rec").get("state") == "RUNNING", 20), state())
        gen(PEER[0], 20000, 1000)
        check("and goes on writing", wait_until(
            lambda: d.request("GET", CAP + "/jobs/items/rec")[1]["state"]["stats"]
            ["packets_written"]["total"] >= n + 1000, 20))
        # LIVE_STREAM of the job: the download follows the recording to
        # the window's end.
        t = time.time_ns()
        w = {"start_time": "%d.%09d" % divmod(t, 10**9),
             "end_time": "%d.%09d" % divmod(t + 3 * 10**9, 10**9)}
        code, e, _ = d.post(dict(w, path="jobs/" + jid, output_format="PCAP_NS",
                                 mode="LIVE_STREAM"))
        check("LIVE_STREAM of a job being recorded: 201", code == 201, e)
        got = {}
        th = threading.Thread(target=lambda: got.update(
            r=d.request("GET", API + "/packets/items/" + e.get("id", ""), raw=True)))
        th.start()
        gen(PEER[0], 2000, 3000)  # 1.5 s, inside the window
        th.join(30)
        ended = time.time_ns()
        r, live = got.get("r", (None, b""))
        code, e2, _ = d.post(dict(w, path="jobs/" + jid, output_format="PCAP_NS"))
        r2, after = d.request("GET", API + "/packets/items/" + e2.get("id", ""), raw=True)
        out = os.path.join(tmp, "rest-live.pcap")
        open(out, "wb").write(live)
        check("the followed stream holds every packet sent in its window",
              r is not None and r.status == 200
              and [seq(x[3]) for x in ours(records(out))] == list(range(3000)),
              len(ours(records(out))))
        check("and equals the same window exported afterwards", live == after,
              "%d vs %d bytes" % (len(live), len(after)))
        check("it ended within 1.5 s of the window's end",
              (ended - t - 3 * 10**9) / 1e9 < 1.5, (ended - t) / 1e9)
        # The daemon (run by root here) holds no capture capability: its
        # live sources and jobs capture through pktexport-capture.
        caps = dict(l.split(":\t") for l in open("/proc/%d/status" % d.proc.pid).read()
                    .splitlines() if l.startswith("Cap"))
        check("the daemon holds neither CAP_NET_RAW nor CAP_NET_ADMIN",
              all(not int(caps[k], 16) & (3 << 12) for k in ("CapEff", "CapPrm", "CapAmb")),
              caps)
        # vifgs/<id> is a live source, as interfaces/<name> is.
        t = time.time_ns()
        code, e, _ = d.post({"path": "vifgs/%d" % vid, "mode": "LIVE_STREAM",
                             "output_format": "PCAP_NS",
                             "end_time": "%d.%09d" % divmod(t + 2 * 10**9, 10**9)})
        check("LIVE_STREAM of vifgs/<id>: 201", code == 201, e)
        got = {}
        th = threading.Thread(target=lambda: got.update(
            r=d.request("GET", API + "/packets/items/" + e.get("id", ""), raw=True)))
        th.start()
        # Traffic all along the window: the stream holds an unbroken run
        # of it (it starts once the capture is open).
        gen(PEER[0], 2000, 6000)
        th.join(30)
        out = os.path.join(tmp, "rest-vifg.pcap")
        open(out, "wb").write(got.get("r", (None, b""))[1])
        seqs = [seq(x[3]) for x in ours(records(out))]
        check("it carried the VIFG's traffic, none missing",
              len(seqs) > 1000 and seqs == list(range(seqs[0], seqs[0] + len(seqs))),
              seqs[:3] + seqs[-3:])
        code, e, _ = d.post({"path": "vifgs/999999", "mode": "LIVE_STREAM",
                             "end_time": "%d" % (time.time() + 2)})
        check("an unknown VIFG: 404", code == 404, (code, e))
        code, e, _ = d.request("DELETE", CAP + "/vifgs/items/%d" % vid)
        check("a VIFG in use is not deleted: 409", code == 409, (code, e))
        job["enabled"] = False
        code, o, _ = d.request("PUT", CAP + "/jobs/items/" + jid, {"config": job})
        check("PUT enabled false: 200", code == 200, (code, o))
        check("the job stops", wait_until(lambda: state() == "STOPPED", 20))
        job["name"] = "other"
        code, o, _ = d.request("PUT", CAP + "/jobs/items/" + jid, {"config": job})
        check("a job keeps its name: 400", code == 400, (code, o))
        code, _, _ = d.request("POST", CAP + "/jobs/items/%s/clear" % jid)
        check("clear: 204", code == 204)
        check("its packets are gone", wait_until(lambda: not job_files(root, "rec"), 20),
              job_files(root, "rec"))
        code, _, _ = d.request("DELETE", CAP + "/jobs/items/" + jid)
        check("DELETE: 204", code == 204)
        check("the job and its folder are gone",
              wait_until(lambda: not os.path.exists(os.path.join(root, "jobs", "rec")), 20)
              and d.request("GET", CAP + "/jobs/items/" + jid)[0] == 404)
        test_saves(d, root, vid)
        code, _, _ = d.request("DELETE", CAP + "/vifgs/items/%d" % vid)
        check("then the VIFG goes: 204", code == 204)
        check("the configuration file says so",
              json.load(open(os.path.join(root, ".pktexport", "capture.json")))["jobs"] == [])
    finally:
        if d.proc.poll() is None:
            check("daemon stops cleanly", d.stop() == 0, getattr(d, "stderr", ""))


TESTS = [test_equal_to_tcpdump, test_last_10s, test_follow_cli, test_retention,
         test_rollup_retention,
         test_two_interfaces, test_disk_full, test_rest, test_kill9]


def main():
    setup()
    tmp = tempfile.mkdtemp(prefix="pkx-capture-")
    only = os.environ.get("CAPTURE_TESTS", "").split()  # names, to run a few by hand
    try:
        for t in TESTS:
            if not only or t.__name__ in only:
                t(tmp)
    finally:
        teardown()
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
