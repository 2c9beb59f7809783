#!/usr/bin/env python3
"""Reference windows for the packet store tests.

  store_ref.py OUTDIR SEED COUNT STOREDIR CAPTURE...

Reads the captures (pcap or pcapng) in the order given, as `pktexport
store import` takes them, and writes COUNT random windows to
OUTDIR/windows.txt, one per line:

  ID COUNT FILTER ARG...

ID names OUTDIR/ref-ID.pcap (the window cut from the captures, PCAP_NS),
COUNT is its number of records, FILTER is a BPF expression or "-", and
the ARGs are the `pktexport export` options that select the window.  The
windows' edges sit on packet timestamps (give or take a nanosecond), on
the first packet of each store file in STOREDIR, in gaps, and before and
after the data.
"""
import os
import random
import struct
import sys


def pcap_records(d):
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    magic = struct.unpack(end + "I", d[:4])[0]
    nano = magic == 0xA1B23C4D
    o = 24
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack(end + "IIII", d[o:o + 16])
        if o + 16 + c > len(d):
            break
        yield s * 10**9 + (f if nano else f * 1000), c, w, d[o + 16:o + 16 + c]
        o += 16 + c


def pcapng_records(d):
    o, end, ifs = 0, "<", []
    while o + 12 <= len(d):
        t = struct.unpack("<I", d[o:o + 4])[0]
        if t == 0x0A0D0D0A:
            end = "<" if d[o + 8:o + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        blen = struct.unpack(end + "I", d[o + 4:o + 8])[0]
        if blen < 12 or o + blen > len(d):
            break
        b = d[o:o + blen]
        t = struct.unpack(end + "I", b[:4])[0]
        if t == 1:
            res, off, p = 6, 0, 16
            while p + 4 <= blen - 4:
                code, olen = struct.unpack(end + "HH", b[p:p + 4])
                if code == 0:
                    break
                if code == 9:
                    res = b[p + 4]
                if code == 14:
                    off = struct.unpack(end + "q", b[p + 4:p + 12])[0]
                p += 4 + ((olen + 3) & ~3)
            ifs.append((res, off))
        elif t == 6:
            ifid, hi, lo, c, w = struct.unpack(end + "IIIII", b[8:28])
            res, off = ifs[ifid]
            units = (hi << 32) | lo
            if res & 0x80:
                ns = units * 10**9 // (1 << (res & 0x7F))
            else:
                ns = units * 10**9 // 10**res if res > 9 else units * 10**(9 - res)
            yield ns + off * 10**9, c, w, b[28:28 + c]
        o += blen


def records(path):
    d = open(path, "rb").read()
    if d[:4] == b"\x0a\x0d\x0d\x0a":
        return list(pcapng_records(d))
    return list(pcap_records(d))


def complete(path):
    """True when the records of a pcap file fill it exactly."""
    d = open(path, "rb").read()
    return 24 + sum(16 + r[1] for r in pcap_records(d)) == len(d)


def write_pcap(path, recs):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 65535, 1))
        for ts, c, w, data in recs:
            out.write(struct.pack("<IIII", ts // 10**9, ts % 10**9, c, w) + data)


def t(ns):
    return "%d.%09d" % (ns // 10**9, ns % 10**9)


def store_firsts(storedir):
    """First timestamp of each capture file of the store."""
    firsts = []
    for name in sorted(os.listdir(storedir)):
        if name.startswith(".") or not name.endswith((".pcap", ".pcapng")):
            continue
        recs = records(os.path.join(storedir, name))
        if recs:
            firsts.append(recs[0][0])
    return firsts


def pick_window(rng, ts, firsts, gaps):
    first, last = ts[0], ts[-1]
    kind = rng.choice(["edge", "edge", "edge", "span", "span", "gap", "before", "after", "all"])
    if kind == "edge":
        a = rng.randrange(len(ts))
        b = min(len(ts) - 1, a + rng.randrange(1, 3000))
        return ts[a] + rng.choice([-1, 0, 0, 1]), ts[b] + rng.choice([-1, 0, 0, 1])
    if kind == "span":
        f = rng.choice(firsts)
        return f - rng.randrange(0, 2 * 10**9), f + rng.choice([0, 1, rng.randrange(1, 3 * 10**9)])
    if kind == "gap" and gaps:
        lo, hi = rng.choice(gaps)
        a = rng.randrange(lo + 1, hi)
        return a, rng.randrange(a + 1, hi + 1)
    if kind == "before":
        return first - 10**9, first - rng.choice([0, 1, 5 * 10**8])
    if kind == "after":
        return last + 1, last + 10**9
    return first - 1, last + 1


def main():
    outdir, seed, count, storedir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    recs = []
    for path in sys.argv[5:]:
        recs.extend(records(path))
    ts = [r[0] for r in recs]
    gaps = [(ts[i], ts[i + 1]) for i in range(len(ts) - 1) if ts[i + 1] - ts[i] > 10**8]
    firsts = store_firsts(storedir)
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        multi = i % 4 == 3
        n = rng.randrange(2, 5) if multi else 1
        wins = sorted((a, max(b, a + 1)) for a, b in
                      (pick_window(rng, ts, firsts, gaps) for _ in range(n)))
        filt = rng.choice(["tcp", "udp port 53", "-"]) if multi else "-"
        clip = None
        if multi and rng.random() < 0.3:
            # --start/--end clip the union of the intervals.
            clip = (wins[0][0] + rng.randrange(0, 10**9), wins[-1][1] - rng.randrange(0, 10**9))
        sel = [r for r in recs if any(a <= r[0] < b for a, b in wins)
               and (clip is None or clip[0] <= r[0] < clip[1])]
        write_pcap(os.path.join(outdir, "ref-%d.pcap" % i), sel)
        if n == 1:
            args = ["--start", t(wins[0][0]), "--end", t(wins[0][1])]
        else:
            args = []
            for a, b in wins:
                args += ["--interval", "%s,%s" % (t(a), t(b))]
            if clip:
                args += ["--start", t(clip[0]), "--end", t(clip[1])]
        lines.append("%d %d %s %s" % (i, len(sel), filt.replace(" ", "_"), " ".join(args)))
    with open(os.path.join(outdir, "windows.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
