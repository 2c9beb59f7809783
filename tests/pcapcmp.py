#!/usr/bin/env python3
"""Compare the packet records of two pcap files.

  pcapcmp.py OUT REF

Exit 0 when every record (timestamp, caplen, wirelen, bytes) and the link
type agree.  Records are compared byte for byte, except that a reference
timestamp whose fraction is out of range (a fuzzed file: a microsecond
field of a million or more) is compared as the instant it denotes, since
pktexport keeps times as nanoseconds and writes them normalised.
"""
import struct
import sys


def records(path):
    d = open(path, "rb").read()
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    magic = struct.unpack(end + "I", d[:4])[0]
    scale = 1 if magic == 0xA1B23C4D else 1000
    linktype = struct.unpack(end + "I", d[20:24])[0]
    out, o = [], 24
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack(end + "IIII", d[o:o + 16])
        out.append((s, f, scale, c, w, d[o + 16:o + 16 + c]))
        o += 16 + c
    return linktype, out


def main():
    lt_a, a = records(sys.argv[1])
    lt_b, b = records(sys.argv[2])
    if lt_a != lt_b:
        print("link type %d != %d" % (lt_a, lt_b))
        return 1
    if len(a) != len(b):
        print("%d records != %d" % (len(a), len(b)))
        return 1
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y:
            continue
        fuzzed = y[1] * y[2] >= 10**9
        same_instant = x[0] * 10**9 + x[1] * x[2] == (y[0] * 10**9 + y[1] * y[2]) % (2**32 * 10**9)
        if fuzzed and same_instant and x[3:] == y[3:]:
            continue
        print("record %d differs: %r vs %r" % (i, x[:5], y[:5]))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
