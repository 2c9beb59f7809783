#!/usr/bin/env python3
"""GET /api/pktexport/1.0/timeline over HTTP: packets and bytes per
interval of a store, a clip and an fs/ capture, checked against a
reference computed here from the captures themselves (their records and
where the 256 KiB index entries fall, doc/api.md "Timeline"), the bucket
start times as nanosecond strings, the window's defaults, the limits, the
sandbox and the credentials; with spread=1, the counts interpolated
inside each entry's span (against the same reference, interpolated); POST /api/pktexport/1.0/filters/validate;
and the web console's files and browser rules over plain HTTP (Host
against DNS rebinding, Origin and JSON for a browser's state-changing
requests, the security headers).  Prints "N passed, N failed"."""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import urllib.parse

from checks import check, summary
from daemon_api import Daemon, is_error
from daemon_auth import crypt_hash, write_users

TL = "/api/pktexport/1.0/timeline"
STRIDE = 256 << 10
T0 = 1700000000 * 10**9


def records(path):
    """(offset, ns, caplen) of each record of a pcap file, read here."""
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack_from("<I", data)[0]
    scale = {0xA1B23C4D: 1, 0xA1B2C3D4: 1000}[magic]
    off, out = 24, []
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from("<IIII", data, off)
        out.append((off, sec * 10**9 + frac * scale, incl))
        off += 16 + incl
    return out


def entries(recs):
    """Which records get an index entry: the first, then the first at or
    past each further 256 KiB of the file."""
    marks, mark = [], 0
    for i, (off, _, _) in enumerate(recs):
        if off >= mark:
            marks.append(i)
            mark = off + STRIDE
    return marks


class Reference:
    """The timeline as doc/api.md defines it, from the capture files; with
    `every` > 1, as the store's rollup answers it: from every `every`-th
    index entry of each file only; with `step` > 1, as a coarser level of
    the rollup answers it: from those points whose number (counted from
    `first`, the number of the first one here) is a multiple of `step`,
    the start of the records standing for a point (doc/store.md).

    With spread (doc/api.md, "Timeline", spread=1), the cumulative counts
    are piecewise linear between knots, rounded down: from the files'
    indexes, each file's entries and just after its last record (the
    time of the position's file); from the rollup (`rollup`, or `every`
    or `step` > 1), the first record, the level's points and just after
    the last record, as one."""

    def __init__(self, files, every=1, step=1, first=0, rollup=False):
        self.points = []  # (ts of an entry, records before it, bytes before)
        self.ts, before_p, before_b = [], 0, 0
        # With spread: (first ts, last ts, counts before, knots) of each file.
        self.groups = []
        for path in files:
            recs = records(path)
            cum_b = [0]
            for r in recs:
                cum_b.append(cum_b[-1] + r[2])
            for i in entries(recs)[::every]:
                self.points.append((recs[i][1], before_p + i, before_b + cum_b[i]))
            if recs:
                last = max(r[1] for r in recs)
                knots = [(recs[i][1], before_p + i, before_b + cum_b[i]) for i in entries(recs)]
                knots.append((last + 1, before_p + len(recs), before_b + cum_b[-1]))
                self.groups.append((recs[0][1], last, (before_p, before_b), knots))
            before_p += len(recs)
            before_b += cum_b[-1]
            self.ts += [r[1] for r in recs]
        self.total = (before_p, before_b)
        self.points = [pt for g, pt in enumerate(self.points, first) if g % step == 0]
        if (rollup or every > 1 or step > 1) and self.ts:
            lo, hi = min(self.ts), max(self.ts)
            self.groups = [(lo, hi, (0, 0), [(lo, 0, 0)] + self.points + [(hi + 1,) + self.total])]

    def spread_position(self, b):
        for first, last, base, knots in self.groups:
            if last < b:
                continue
            if first >= b:
                return base
            j = next(j for j, k in enumerate(knots) if k[0] >= b)
            (t0, p0, b0), (t1, p1, b1) = knots[j - 1], knots[j]
            return p0 + (p1 - p0) * (b - t0) // (t1 - t0), b0 + (b1 - b0) * (b - t0) // (t1 - t0)
        return self.total

    def position(self, b):
        if self.ts and b <= min(self.ts):
            return 0, 0
        for ts, p, by in self.points:
            if ts >= b:
                return p, by
        return self.total

    def buckets(self, start, end, n, spread=False):
        bounds = [start + (end - start) * k // n for k in range(n + 1)]
        pos = [(self.spread_position if spread else self.position)(b) for b in bounds]
        return [(bounds[k], pos[k + 1][0] - pos[k][0], pos[k + 1][1] - pos[k][1])
                for k in range(n)]


def ns_str(ns):
    return "%d.%09d" % (ns // 10**9, ns % 10**9)


def get(d, path, headers=None, **q):
    q["path"] = path
    return d.request("GET", TL + "?" + urllib.parse.urlencode(q), headers=headers)


def same(doc, ref, start, end, n, spread=False):
    want = ref.buckets(start, end, n, spread)
    got = [(it["start_time"], it["packets"], it["bytes"]) for it in doc.get("items", [])]
    return got == [(ns_str(b), p, by) for b, p, by in want], (got[:5], want[:5])


def make_root(tmp):
    root = os.path.join(tmp, "root")
    os.makedirs(os.path.join(root, "fs"))
    os.makedirs(os.path.join(root, "clips"))
    # 6000 packets 2 ms apart (about 3 MB: a dozen index entries per
    # file), two of them 300 ns apart.
    times = [T0 + i * 2000000 for i in range(6000)]
    times[3001] = times[3000] + 300
    cap = os.path.join(root, "fs", "a.pcap")
    subprocess.run([sys.executable, os.environ["MKCAP"], cap, "--format", "pcap-ns",
                    "--times", ",".join(map(str, times)), "--seed", "7"], check=True)
    subprocess.run([os.environ["PKTEXPORT"], "store", "import", "--root", root,
                    "--file-size", "1M", "core-1", cap], check=True, capture_output=True)
    with open(os.path.join(root, "clips", "c1.json"), "w") as f:
        json.dump({"id": "c1", "config": {"job_id": "core-1", "start_time": "1700000002.5",
                                          "end_time": "1700000007.000000001"}}, f)
    os.symlink(cap, os.path.join(root, "fs", "link.pcap"))
    shutil.copy(cap, os.path.join(root, "fs", ".hidden.pcap"))
    return root, times


def store_files(root):
    jd = os.path.join(root, "jobs", "core-1")
    return [os.path.join(jd, n) for n in sorted(os.listdir(jd)) if n.endswith(".pcap")]


def test_counts(d, root, times):
    ref = Reference(store_files(root))
    check("the store has several files", len(store_files(root)) >= 3, store_files(root))
    first, last = times[0], max(times)
    st, doc, _ = get(d, "jobs/core-1")
    check("store, default window: 200", st == 200, doc)
    check("default window: first packet to just after the last",
          doc.get("start_time") == ns_str(first) and doc.get("end_time") == ns_str(last + 1), doc)
    check("first and last packet times", doc.get("first_packet_time") == ns_str(first)
          and doc.get("last_packet_time") == ns_str(last), doc)
    check("default 200 intervals", doc.get("intervals") == 200 and len(doc["items"]) == 200)
    ok, why = same(doc, ref, first, last + 1, 200)
    check("store, default window: counts equal the reference", ok, why)
    check("the whole span counts every packet exactly",
          doc.get("packets") == len(times) and sum(i["packets"] for i in doc["items"]) == len(times),
          doc.get("packets"))
    check("index entries read reported, few", 0 < doc.get("index_entries_read", 0) < 200 * 12,
          doc.get("index_entries_read"))
    # A window with nanosecond edges, one of them between the two packets
    # 300 ns apart.
    s, e = times[1000] + 123456789, times[3000] + 150
    for n in (1, 7, 300, 2000):
        st, doc, _ = get(d, "jobs/core-1", start=ns_str(s), end=ns_str(e), intervals=n)
        ok, why = same(doc, ref, s, e, n)
        check("store, %d intervals of a ns window: counts equal the reference" % n,
              st == 200 and ok, (st, why))
    check("a bucket start keeps every nanosecond", doc["items"][0]["start_time"] == ns_str(s)
          and doc["end_time"] == ns_str(e), doc["items"][0])
    # Windows past either end, and finer than a stride.
    for a, b in ((T0 - 10**9, T0 + 10**9), (last - 1000, last + 10**9), (last + 1, last + 10**12),
                 (times[10], times[10] + 5)):
        st, doc, _ = get(d, "jobs/core-1", start=ns_str(a), end=ns_str(b), intervals=5)
        ok, why = same(doc, ref, a, b, min(5, b - a))
        check("window %s..%s: counts equal the reference" % (ns_str(a), ns_str(b)), st == 200 and ok,
              (st, why))
    # The same capture as one fs/ file (its sidecar index).
    fref = Reference([os.path.join(root, "fs", "a.pcap")])
    st, doc, _ = get(d, "fs/a.pcap", start=ns_str(s), end=ns_str(e), intervals=50)
    ok, why = same(doc, fref, s, e, 50)
    check("fs/ capture: counts equal the reference", st == 200 and ok, (st, why))
    # A clip: its own window.
    cs, ce = 1700000002500000000, 1700000007000000001
    st, doc, _ = get(d, "clips/c1", intervals=10)
    ok, why = same(doc, ref, cs, ce, 10)
    check("clip: its window, counts equal the reference", st == 200 and ok
          and doc["start_time"] == ns_str(cs) and doc["end_time"] == ns_str(ce), (st, why))
    # A capture changed behind the store's back (its mtime and ctime):
    # its index is built again, the counts stay right.
    f1 = store_files(root)[1]
    st_ = os.stat(f1)
    os.utime(f1, ns=(st_.st_atime_ns, st_.st_mtime_ns + 10**9))
    st, doc, _ = get(d, "jobs/core-1", start=ns_str(s), end=ns_str(e), intervals=40)
    ok, why = same(doc, ref, s, e, 40)
    check("a file touched since indexed: counts equal the reference", st == 200 and ok, (st, why))
    # By id, as the capture service names the store.
    _, jobs, _ = d.request("GET", "/api/npm.packet_capture/3.0/jobs")
    jid = jobs["items"][0]["id"]
    st, doc2, _ = get(d, "jobs/" + jid, intervals=10)
    check("a store named by its id", st == 200 and doc2["packets"] == len(times), doc2)


def test_spread(d, root, times):
    """spread=1: each entry's records spread linearly over its span, the
    counts rounded down at each edge (the interpolated reference); exact
    at entries and over the whole span, never negative; without it (or
    spread=0), the answer is unchanged."""
    ref = Reference(store_files(root))
    first, last = times[0], max(times)
    st, doc, _ = get(d, "jobs/core-1", spread=1)
    ok, why = same(doc, ref, first, last + 1, 200, spread=True)
    check("spread=1, default window: counts equal the interpolated reference",
          st == 200 and ok and doc.get("spread") is True, (st, why, doc.get("spread")))
    items = doc.get("items", [])
    check("spread=1, the whole span: the buckets sum to every packet and byte exactly",
          doc.get("packets") == len(times) == sum(i["packets"] for i in items)
          and doc.get("bytes") == ref.total[1] == sum(i["bytes"] for i in items),
          (doc.get("packets"), doc.get("bytes"), ref.total))
    st, plain, _ = get(d, "jobs/core-1")
    st0, zero, _ = get(d, "jobs/core-1", spread=0)
    ok, why = same(plain, ref, first, last + 1, 200)
    check("without spread (or spread=0): the exact-at-entries counts, unchanged", st == st0 == 200
          and ok and plain.get("spread") is False and zero == plain, (why, plain.get("spread")))
    empty = sum(1 for i in plain["items"] if not i["packets"])
    check("spread=1: no empty bucket where the plain answer has %d" % empty,
          empty > 100 and all(i["packets"] > 0 for i in items), [i["packets"] for i in items][:20])
    # Narrow windows (finer than the entries) with nanosecond edges.
    s, e = times[1000] + 123456789, times[3000] + 150
    for n in (1, 7, 300, 2000):
        st, doc, _ = get(d, "jobs/core-1", start=ns_str(s), end=ns_str(e), intervals=n, spread=1)
        ok, why = same(doc, ref, s, e, n, spread=True)
        check("spread=1, %d intervals of a ns window: the interpolated reference" % n,
              st == 200 and ok, (st, why))
        check("spread=1, %d intervals: no negative count, the buckets sum to the window's" % n,
              all(i["packets"] >= 0 and i["bytes"] >= 0 for i in doc.get("items", [{"packets": -1}]))
              and sum(i["packets"] for i in doc["items"]) == doc["packets"]
              and sum(i["bytes"] for i in doc["items"]) == doc["bytes"], doc.get("packets"))
    # A window inside one entry's span: its share of the entry's records,
    # in proportion to the time it covers (the plain answer: 0).
    t0, p0, b0 = ref.groups[1][3][2]
    t1, p1, b1 = ref.groups[1][3][3]
    a, b = t0 + (t1 - t0) // 4, t0 + 3 * (t1 - t0) // 4
    st, doc, _ = get(d, "jobs/core-1", start=ns_str(a), end=ns_str(b), intervals=1, spread=1)
    want_p = (p1 - p0) * (b - t0) // (t1 - t0) - (p1 - p0) * (a - t0) // (t1 - t0)
    want_b = (b1 - b0) * (b - t0) // (t1 - t0) - (b1 - b0) * (a - t0) // (t1 - t0)
    check("spread=1, half of one entry's span: half its records and bytes, rounded at the edges",
          st == 200 and doc["items"][0]["packets"] == want_p and doc["items"][0]["bytes"] == want_b
          and abs(want_p - (p1 - p0) / 2) <= 1 and want_p > 100,
          (doc.get("items"), want_p, want_b, p1 - p0))
    st, doc, _ = get(d, "jobs/core-1", start=ns_str(a), end=ns_str(b), intervals=1)
    check("the same window without spread: 0 (the test can tell)",
          st == 200 and doc["items"][0]["packets"] == 0, doc.get("items"))
    # Edges on entries (of different files): the exact count of the
    # packets stamped in the window, whatever the buckets between.
    ta, tb = ref.groups[0][3][1][0], ref.groups[2][3][2][0]
    exact = sum(1 for t in times if ta <= t < tb)
    for n in (1, 3, 50):
        st, doc, _ = get(d, "jobs/core-1", start=ns_str(ta), end=ns_str(tb), intervals=n,
                         spread=1)
        ok, why = same(doc, ref, ta, tb, n, spread=True)
        check("spread=1, edges on entries, %d intervals: exactly the %d packets in it" % (n, exact),
              st == 200 and ok and doc["packets"] == exact
              and sum(i["packets"] for i in doc["items"]) == exact, (doc.get("packets"), why))
    # An fs/ capture (its sidecar index) and a clip.
    fref = Reference([os.path.join(root, "fs", "a.pcap")])
    st, doc, _ = get(d, "fs/a.pcap", start=ns_str(s), end=ns_str(e), intervals=50, spread=1)
    ok, why = same(doc, fref, s, e, 50, spread=True)
    check("spread=1, fs/ capture: the interpolated reference", st == 200 and ok, (st, why))
    cs, ce = 1700000002500000000, 1700000007000000001
    st, doc, _ = get(d, "clips/c1", intervals=10, spread="true")
    ok, why = same(doc, ref, cs, ce, 10, spread=True)
    check("spread=true, clip: its window, the interpolated reference",
          st == 200 and ok and doc.get("spread") is True, (st, why))
    for bad in ("2", "yes", ""):
        st, doc, _ = get(d, "jobs/core-1", spread=bad)
        check("spread=%r: 400" % bad, st == 400 and is_error(doc, "REQUEST_INVALID_INPUT"),
              (st, doc))


def tool_timeline(root, path, n, start=0, end=0):
    r = subprocess.run([os.environ["PKTEXPORT_STORE"], "timeline", "--root", root, path,
                        str(start), str(end), str(n)], capture_output=True, text=True)
    return json.loads(r.stdout) if r.stdout else {"error": r.stderr}


def import_store(tmp, name, job, seed, env):
    """30000 packets (about 15 MB) imported as `job` in files of 4 MB with
    env's rollup knobs: the root, job folder, capture files and times."""
    root = os.path.join(tmp, name)
    os.makedirs(root)
    cap = os.path.join(tmp, name + ".pcap")
    subprocess.run([sys.executable, os.environ["MKCAP"], cap, "--format", "pcap-ns",
                    "--packets", "30000", "--start", str(T0), "--seed", str(seed)], check=True)
    subprocess.run([os.environ["PKTEXPORT"], "store", "import", "--root", root,
                    "--file-size", "4M", job, cap], check=True, capture_output=True, env=env)
    jd = os.path.join(root, "jobs", job)
    files = [os.path.join(jd, n) for n in sorted(os.listdir(jd)) if n.endswith(".pcap")]
    return root, jd, files, [r[1] for r in records(cap)]


def test_rollup(tmp):
    """A store whose rollup holds every 2nd index entry of each file
    (PKTEXPORT_ROLLUP_EVERY=2 when imported): long windows are answered
    from it, at its granularity; short ones, a store without one, and a
    folder changed since it was written, from the files' indexes."""
    env = dict(os.environ, PKTEXPORT_ROLLUP_EVERY="2")
    root, jd, files, times = import_store(tmp, "roll", "big", 11, env)
    fine, coarse = Reference(files), Reference(files, every=2)
    npoints = len(coarse.points)
    check("the rollup store: several files, about 30 points", len(files) >= 3
          and 24 <= npoints <= 40, (len(files), npoints))
    first, last = times[0], times[-1]
    d2 = Daemon(root)
    try:
        for n in (1, 2, npoints // 8):
            st, doc, _ = get(d2, "jobs/big", intervals=n)
            ok, why = same(doc, coarse, first, last + 1, n)
            check("%d intervals of the whole span: from the rollup, its counts" % n,
                  st == 200 and ok and doc.get("granularity") == "rollup"
                  and doc.get("granularity_bytes") == 2 * STRIDE, (st, why, doc.get("granularity")))
            check("%d intervals from the rollup: every packet, points read only" % n,
                  doc.get("packets") == len(times) and doc.get("files") == len(files)
                  and 0 <= doc.get("index_entries_read", -1) <= npoints
                  and (n == 1 or doc["index_entries_read"] > 0), doc.get("index_entries_read"))
        # spread=1 from the rollup: interpolated between its points (the
        # first record and just after the last standing for points), as
        # one, over the files.
        for n in (1, 2, npoints // 8):
            st, doc, _ = get(d2, "jobs/big", intervals=n, spread=1)
            ok, why = same(doc, coarse, first, last + 1, n, spread=True)
            check("spread=1, %d intervals of the whole span: from the rollup, interpolated" % n,
                  st == 200 and ok and doc.get("granularity") == "rollup"
                  and doc.get("spread") is True and doc.get("packets") == len(times)
                  and sum(i["packets"] for i in doc["items"]) == len(times)
                  and all(i["packets"] >= 0 for i in doc["items"]),
                  (st, why, doc.get("granularity"), doc.get("packets")))
        n = npoints // 8
        st, doc, _ = get(d2, "jobs/big", intervals=n, spread=1)
        check("spread=1 from the rollup is not the plain rollup nor the fine spread answer "
              "(the test can tell)", not same(doc, coarse, first, last + 1, n)[0]
              and not same(doc, fine, first, last + 1, n, spread=True)[0])
        # A window inside the span, still 8 points an interval.
        s, e = times[2000] + 777, times[27000] + 1
        st, doc, _ = get(d2, "jobs/big", start=ns_str(s), end=ns_str(e), intervals=2)
        ok, why = same(doc, coarse, s, e, 2)
        check("a long inner window: from the rollup, its counts", st == 200 and ok
              and doc.get("granularity") == "rollup", (st, why))
        check("the rollup's answer is not the fine one here (the test can tell)",
              not same(doc, fine, s, e, 2)[0])
        # Fewer than 8 points an interval: the files' indexes.
        n = npoints // 8 + 1
        st, doc, _ = get(d2, "jobs/big", intervals=n)
        ok, why = same(doc, fine, first, last + 1, n)
        check("%d intervals: from the files' indexes, exact at entries" % n,
              st == 200 and ok and doc.get("granularity") == "index"
              and doc.get("granularity_bytes") == STRIDE, (st, why))
        # A file added to the folder behind the rollup's back: not trusted.
        open(os.path.join(jd, "notes.txt"), "w").close()
        st, doc, _ = get(d2, "jobs/big", intervals=2)
        ok, why = same(doc, fine, first, last + 1, 2)
        check("the folder changed since the rollup: the files' indexes", st == 200 and ok
              and doc.get("granularity") == "index", (st, why, doc.get("granularity")))
        r = subprocess.run([os.environ["PKTEXPORT"], "store", "index", "--root", root, "big"],
                           capture_output=True, env=env)
        st, doc, _ = get(d2, "jobs/big", intervals=2)
        ok, why = same(doc, coarse, first, last + 1, 2)
        check("store index writes the rollup again", r.returncode == 0 and st == 200 and ok
              and doc.get("granularity") == "rollup", (r.stderr, st, why))
        # An old store: no rollup at all.
        os.unlink(os.path.join(jd, ".index", "rollup"))
        st, doc, _ = get(d2, "jobs/big", intervals=2)
        ok, why = same(doc, fine, first, last + 1, 2)
        check("a store without a rollup: the files' indexes, exact at entries", st == 200 and ok
              and doc.get("granularity") == "index", (st, why))
        # A damaged rollup (a byte of its header changed): not believed.
        subprocess.run([os.environ["PKTEXPORT"], "store", "index", "--root", root, "big"],
                       capture_output=True, env=env, check=True)
        with open(os.path.join(jd, ".index", "rollup"), "r+b") as f:
            f.seek(72)
            f.write(b"\x01")
        st, doc, _ = get(d2, "jobs/big", intervals=2)
        check("a rollup whose header hash fails: the files' indexes", st == 200
              and doc.get("granularity") == "index" and doc.get("packets") == len(times),
              (doc.get("granularity"), doc.get("packets")))
        subprocess.run([os.environ["PKTEXPORT"], "store", "index", "--root", root, "big"],
                       capture_output=True, env=env, check=True)
        # The newest file shorter than the rollup says (a power loss),
        # the folder unchanged: not trusted.
        with open(files[-1], "r+b") as f:
            f.truncate(os.path.getsize(files[-1]) - 100)
        st, doc, _ = get(d2, "jobs/big", intervals=2)
        check("the newest file shorter than noted: the files' indexes",
              st == 200 and doc.get("granularity") == "index", doc.get("granularity"))
    finally:
        d2.stop()


def test_levels(tmp):
    """A store whose rollup has a point at every index entry and levels 2
    and 3 at every 2nd and 4th of them (PKTEXPORT_ROLLUP_EVERY=1,
    PKTEXPORT_ROLLUP_STEP=2 when imported): each window is answered by the
    coarsest level holding 8 points an interval, at its granularity (the
    counts of a reference at that level's points), and a window too fine
    for every level by the files' indexes."""
    env = dict(os.environ, PKTEXPORT_ROLLUP_EVERY="1", PKTEXPORT_ROLLUP_STEP="2")
    root, jd, files, times = import_store(tmp, "levels", "lv", 13, env)
    names = ["rollup", "rollup2", "rollup3"]
    refs = [Reference(files, step=2 ** k) for k in range(3)]
    spread_refs = [Reference(files, step=2 ** k, rollup=True) for k in range(3)]
    counts = [len(r.points) for r in refs]
    check("the levels' files: 1, 2 and 4 entries a point",
          all(os.path.getsize(os.path.join(jd, ".index", names[k])) >= 256 + 32 * counts[k]
              for k in range(3)) and counts[2] >= 10 and counts[0] >= 4 * counts[2] - 4,
          counts)
    first, last = times[0], times[-1]
    d2 = Daemon(root)
    try:
        seen = set()
        for n in sorted({1, 2, counts[2] // 8, counts[2] // 8 + 1, counts[1] // 8,
                         counts[1] // 8 + 1,
                         counts[0] // 8, counts[0] // 8 + 1} - {0}):
            # The coarsest level with 8 points an interval over the span.
            k = next((k for k in (2, 1, 0) if counts[k] >= 8 * n), None)
            st, doc, _ = get(d2, "jobs/lv", intervals=n)
            want = names[k] if k is not None else "index"
            seen.add(want)
            ok, why = same(doc, refs[k if k is not None else 0], first, last + 1, n)
            check("%d intervals of the span: from %s, at its points" % (n, want),
                  st == 200 and ok and doc.get("granularity") == want
                  and doc.get("granularity_bytes") == STRIDE * (2 ** k if k is not None else 1)
                  and doc.get("packets") == len(times), (st, why, doc.get("granularity")))
            st, doc, _ = get(d2, "jobs/lv", intervals=n, spread=1)
            ok, why = same(doc, spread_refs[k] if k is not None else refs[0], first, last + 1, n,
                           spread=True)
            check("spread=1, %d intervals of the span: from %s, interpolated" % (n, want),
                  st == 200 and ok and doc.get("granularity") == want
                  and doc.get("spread") is True and doc.get("packets") == len(times)
                  and sum(i["packets"] for i in doc["items"]) == len(times)
                  and all(i["packets"] >= 0 for i in doc["items"]),
                  (st, why, doc.get("granularity")))
        check("every level answered some window", seen == set(names + ["index"]), seen)
        # Inner windows: the level is chosen on the points in the window.
        s, e = times[1000] + 333, times[28000] + 1
        inside = [sum(1 for ts, _, _ in r.points if s <= ts < e) for r in refs]
        for n in (1, 2, 3):
            k = next((k for k in (2, 1, 0) if inside[k] >= 8 * n), None)
            if k is None:
                continue
            st, doc, _ = get(d2, "jobs/lv", start=ns_str(s), end=ns_str(e), intervals=n)
            ok, why = same(doc, refs[k], s, e, n)
            check("an inner window, %d intervals: from %s, at its points" % (n, names[k]),
                  st == 200 and ok and doc.get("granularity") == names[k], (st, why))
            if k:
                check("%s's answer is not the finer level's here (the test can tell)" % names[k],
                      not same(doc, refs[k - 1], s, e, n)[0])
        # A coarse level damaged: the next finer one answers.
        with open(os.path.join(jd, ".index", "rollup3"), "r+b") as f:
            f.seek(72)
            f.write(b"\x01")
        st, doc, _ = get(d2, "jobs/lv", intervals=1)
        ok, why = same(doc, refs[1], first, last + 1, 1)
        check("rollup3 whose header hash fails: rollup2 answers", st == 200 and ok
              and doc.get("granularity") == "rollup2", (st, why, doc.get("granularity")))
        # A level missing: the next finer one answers.
        os.unlink(os.path.join(jd, ".index", "rollup2"))
        st, doc, _ = get(d2, "jobs/lv", intervals=1)
        ok, why = same(doc, refs[0], first, last + 1, 1)
        check("without rollup2 nor a sound rollup3: rollup answers", st == 200 and ok
              and doc.get("granularity") == "rollup", (st, why, doc.get("granularity")))
        r = subprocess.run([os.environ["PKTEXPORT"], "store", "index", "--root", root, "lv"],
                           capture_output=True, env=env)
        st, doc, _ = get(d2, "jobs/lv", intervals=1)
        ok, why = same(doc, refs[2], first, last + 1, 1)
        check("store index writes every level again", r.returncode == 0 and st == 200 and ok
              and doc.get("granularity") == "rollup3", (r.stderr, st, why))
        # The folder changed since: no level is believed.
        open(os.path.join(jd, "notes.txt"), "w").close()
        st, doc, _ = get(d2, "jobs/lv", intervals=1)
        check("the folder changed since the levels: the files' indexes",
              st == 200 and doc.get("granularity") == "index"
              and doc.get("packets") == len(times), doc.get("granularity"))
    finally:
        d2.stop()


def test_errors(d):
    for q, code, eid in (
            ({"path": "jobs/core-1", "intervals": "2001"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "jobs/core-1", "intervals": "0"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "jobs/core-1", "start": "1700000005", "end": "1700000001"}, 400,
             "REQUEST_INVALID_INPUT"),
            ({"path": "jobs/core-1", "start": "17000x"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "jobs/core-1", "start": "1.0000000001"}, 400, "REQUEST_INVALID_INPUT"),
            ({}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "/etc/passwd"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "fs/../jobs/core-1/00000001.pcap"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "fs/.hidden.pcap"}, 400, "REQUEST_INVALID_INPUT"),
            ({"path": "jobs/../fs"}, 404, "RESOURCE_NOT_FOUND"),
            ({"path": "jobs/nope"}, 404, "RESOURCE_NOT_FOUND"),
            ({"path": "clips/nope"}, 404, "RESOURCE_NOT_FOUND"),
            ({"path": "fs/missing.pcap"}, 404, "RESOURCE_NOT_FOUND")):
        st, doc, _ = d.request("GET", TL + "?" + urllib.parse.urlencode(q))
        check("%s: %d %s" % (q, code, eid), st == code and is_error(doc, eid), (st, doc))
    st, doc, _ = get(d, "fs/link.pcap")
    check("a symbolic link is not followed", st in (400, 404) and "items" not in (doc or {}),
          (st, doc))
    st, doc, r = d.request("POST", TL + "?path=jobs/core-1", body={})
    check("POST: 405 with Allow", st == 405 and r.getheader("Allow") == "GET", (st, doc))
    st, doc, _ = d.request("GET", "/api/pktexport/1.0/other")
    check("another resource of the service: 404", st == 404, (st, doc))


def test_validate(d):
    V = "/api/pktexport/1.0/filters/validate"

    def f(*items):
        return {"items": [{"id": "f%d" % i, "type": t, "value": v}
                          for i, (t, v) in enumerate(items, 1)]}
    st, doc, _ = d.request("POST", V, body={"path": "jobs/core-1", "filters": f(("BPF", "tcp"))})
    check("validate: a good BPF filter", st == 200 and doc == {"valid": True}, (st, doc))
    st, doc, _ = d.request("POST", V, body={"path": "fs/a.pcap",
                                            "filters": f(("BPF", "tcp"), ("BPF", "tcp and and"))})
    check("validate: a bad filter is 400 naming it", st == 400
          and is_error(doc, "REQUEST_INVALID_INPUT") and '"f2"' in doc["error_text"], (st, doc))
    st, doc, _ = d.request("POST", V, body={"path": "fs/a.pcap",
                                            "filters": f(("BPF", "host " + "1" * 2000))})
    check("validate: bounded as exports (a BPF value past 1024 bytes)", st == 400, (st, doc))
    st, doc, _ = d.request("POST", V, body={"path": "fs/missing.pcap", "filters": f()})
    check("validate: a missing source is 404", st == 404, (st, doc))
    st, doc, _ = d.request("POST", V, body={"path": "interfaces/lo", "filters": f()})
    check("validate: not against a live source", st == 400, (st, doc))
    st, doc, _ = d.request("POST", V, body={"path": "fs/a.pcap", "filters": f(), "mode": "x"})
    check("validate: unknown properties refused", st == 400, (st, doc))
    st, doc, r = d.request("GET", V)
    check("validate: GET is 405", st == 405 and r.getheader("Allow") == "POST", (st, doc))


def test_console_http(d):
    r, body = d.request("GET", "/", raw=True)
    if r.status == 404 and not os.environ.get("PKTEXPORT_CONSOLE_DIR"):
        return
    csp = r.getheader("Content-Security-Policy") or ""
    check("/ is the console's page", r.status == 200 and b"<html" in body
          and r.getheader("Content-Type", "").startswith("text/html"), r.status)
    check("the page's CSP: own scripts only, no frames",
          "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
          and "default-src 'none'" in csp and "unsafe" not in csp, csp)
    check("nosniff and DENY on the page", r.getheader("X-Content-Type-Options") == "nosniff"
          and r.getheader("X-Frame-Options") == "DENY")
    r, body = d.request("GET", "/console/app.js", raw=True)
    check("the script, as JavaScript", r.status == 200
          and r.getheader("Content-Type", "").startswith("text/javascript"), r.status)
    for bad in ("/console/../../etc/passwd", "/console/.hidden.js", "/console/sub/x.js",
                "/console/x.txt"):
        r, _ = d.request("GET", bad, raw=True)
        check("%s: 404" % bad, r.status == 404, r.status)
    r, _ = d.request("POST", "/", body="{}", raw=True, headers={
        "Content-Type": "application/json", "Origin": "http://%s:%d" % (d.host, d.port)})
    check("POST /: 405", r.status == 405, r.status)
    r, _ = d.request("GET", "/api/common/1.0/ping", raw=True)
    check("nosniff on an API answer too", r.getheader("X-Content-Type-Options") == "nosniff")
    # DNS rebinding: a browser's request naming another host.
    for h in ({"Host": "attacker.example"}, {"Host": "attacker.example:8080",
                                              "Sec-Fetch-Site": "same-origin"}):
        st, doc, _ = d.request("GET", "/" if "Sec-Fetch-Site" not in h else
                               TL + "?path=jobs/core-1", headers=h)
        check("Host %s from a browser: 403" % h["Host"], st == 403
              and is_error(doc, "AUTH_FORBIDDEN"), (st, doc))
    st, _, _ = d.request("GET", TL + "?path=jobs/core-1",
                         headers={"Host": "localhost:1", "Sec-Fetch-Site": "same-origin"})
    check("Host localhost from a browser: served", st == 200, st)
    st, _, _ = d.request("GET", TL + "?path=jobs/core-1", headers={"Host": "attacker.example"})
    check("not a browser (no Origin, no Sec-Fetch-Site): any Host", st == 200, st)
    # A Host that only starts like an allowed one is none of them.
    for host in ("127.0.0.1:%d@attacker.example" % d.port, "localhost:abc", "localhost:1:2",
                 "[::1]:80x", "local_host", "localhost:123456"):
        st, doc, _ = d.request("GET", "/", headers={"Host": host})
        check("Host %r from a browser: 403" % host, st == 403
              and is_error(doc, "AUTH_FORBIDDEN"), (st, doc))
    for host in ("[::1]:8080", "localhost.", "LOCALHOST:80"):
        st, _, _ = d.request("GET", "/", headers={"Host": host})
        check("Host %r from a browser: served" % host, st == 200, st)
    with socket.create_connection((d.host, d.port), timeout=5) as s:
        s.sendall(b"GET /api/common/1.0/ping HTTP/1.1\r\nHost: localhost\r\n"
                  b"Host: attacker.example\r\n\r\n")
        head = s.recv(4096)
    check("two Host headers: 400", head.startswith(b"HTTP/1.1 400") and b"Host" in head, head[:200])
    # A missing console file names no folder of the machine.
    r, body = d.request("GET", "/console/nope.js", raw=True)
    check("a missing console file: 404 naming no folder", r.status == 404
          and b"/" not in json.loads(body)["error_text"].encode(), (r.status, body))
    own = "http://%s:%d" % (d.host, d.port)
    body = {"path": "fs/a.pcap", "filters": {"items": []}}
    V = "/api/pktexport/1.0/filters/validate"
    for h, code in (({"Origin": "http://attacker.example"}, 403),
                    ({"Origin": own, "Content-Type": "text/plain"}, 415),
                    ({"Origin": own, "Content-Type": "application/x-www-form-urlencoded"}, 415),
                    ({"Origin": own, "Content-Type": "application/json; charset=utf-8"}, 200),
                    ({"Sec-Fetch-Site": "same-origin", "Content-Type": "application/json"}, 403)):
        st, doc, _ = d.request("POST", V, body=json.dumps(body), headers=h)
        check("a browser's POST with %s: %d" % (h, code), st == code, (st, doc))
    st, doc, _ = d.request("DELETE", "/api/npm.packet_export/1.3/exports/items/" + "0" * 32,
                           headers={"Origin": "http://attacker.example"})
    check("a browser's DELETE from another origin: 403", st == 403, (st, doc))


def test_no_fs(tmp):
    """A data root with stores only (no fs/): the file tree is empty, not
    an error, and the console's session resource answers."""
    root = os.path.join(tmp, "nofs")
    os.makedirs(root)
    d = Daemon(root)
    try:
        st, doc, _ = d.request("GET", "/api/npm.filesystem/1.0/fs")
        check("no fs/ folder: the tree is empty", st == 200 and doc["items"][0]["id"] == "/"
              and doc["items"][0]["files"]["items"] == []
              and doc["items"][0]["dirs"]["items"] == [], (st, doc))
        st, doc, _ = d.request("GET", "/api/pktexport/1.0/plugins")
        check("plugins: the loaded filter types and output formats", st == 200
              and {"BPF", "WIRESHARK", "STEELFILTER"} <= set(doc["filter_types"])
              and {"PCAP_US", "PCAP_NS", "PCAPNG_US", "PCAPNG_NS"} <= set(doc["output_formats"]),
              (st, doc))
        st, doc, _ = d.request("GET", "/api/pktexport/1.0/session")
        check("session without --users: no access control, no user shown",
              st == 200 and doc == {"access_control": False}, (st, doc))
    finally:
        d.stop()


def test_users(root, tmp):
    users = os.path.join(tmp, "users")
    h = crypt_hash("secret", "saltsalt")
    if not h:
        return
    write_users(users, "alice:%s:user\n" % h)
    d = Daemon(root, ["--users", users])
    try:
        st, doc, _ = get(d, "jobs/core-1")
        check("with --users, no credentials: 401", st == 401 and is_error(doc, "AUTH_REQUIRED"),
              (st, doc))
        basic = {"Authorization": "Basic " + base64.b64encode(b"alice:secret").decode()}
        st, doc, _ = get(d, "jobs/core-1", headers=basic, intervals=3)
        check("with --users, a user's credentials: 200", st == 200 and len(doc["items"]) == 3,
              (st, doc))
        st, doc, _ = d.request("GET", "/api/pktexport/1.0/session", headers=basic)
        check("session with --users: the caller's name", st == 200
              and doc == {"access_control": True, "user": "alice"}, (st, doc))
        st, doc, _ = d.request("GET", "/api/pktexport/1.0/session")
        check("session with --users, no credentials: 401", st == 401, (st, doc))
        bad = {"Authorization": "Basic " + base64.b64encode(b"alice:wrong").decode()}
        st, doc, _ = get(d, "jobs/core-1", headers=bad)
        check("with --users, a wrong password: 401", st == 401, (st, doc))
    finally:
        d.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="pkx-timeline-")
    try:
        root, times = make_root(tmp)
        d = Daemon(root)
        try:
            test_counts(d, root, times)
            test_spread(d, root, times)
            test_errors(d)
            test_validate(d)
            test_console_http(d)
            test_rollup(tmp)
            test_levels(tmp)
        finally:
            rc = d.stop()
            check("SIGTERM exits 0", rc == 0, d.stderr[-2000:])
        test_users(root, tmp)
        test_no_fs(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return summary()


if __name__ == "__main__":
    sys.exit(main())
