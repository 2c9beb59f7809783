#!/usr/bin/env python3
"""Compare the packet records of two captures, pcap or pcapng.

  wireshark_records.py OUT REF      exit 0 when the records agree
  wireshark_records.py --count F    print the number of records

A record is (timestamp in nanoseconds, caplen, wirelen, bytes): what
tshark -w writes (pcapng) and what pktexport writes (pcap or pcapng) can
then be compared whatever their container.  Link types are not compared:
wiretap writes some under another number of the same encapsulation (50,
PPP in HDLC framing, as 9).  Where a damaged file has a record longer than
its snap length, libpcap cuts it and wiretap does not: such a record
matches when the shorter bytes start the longer.
"""
import struct
import sys


def pcap_records(d):
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    magic = struct.unpack(end + "I", d[:4])[0]
    scale = 1 if magic == 0xA1B23C4D else 1000
    linktype = struct.unpack(end + "I", d[20:24])[0] & 0x03FFFFFF
    o = 24
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack(end + "IIII", d[o:o + 16])
        yield (s * 10**9 + f * scale, c, w, d[o + 16:o + 16 + c], linktype)
        o += 16 + c


def tsresol_ns(v):
    if v & 0x80:
        return None  # power of two: not used by the tools compared here
    return 10 ** (9 - v) if v <= 9 else None


def pcapng_records(d):
    o, end, ifs = 0, "<", []
    while o + 12 <= len(d):
        btype = struct.unpack(end + "I", d[o:o + 4])[0]
        if btype == 0x0A0D0D0A:
            bom = d[o + 8:o + 12]
            end = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            ifs = []
        blen = struct.unpack(end + "I", d[o + 4:o + 8])[0]
        if blen < 12 or o + blen > len(d):
            break
        body = d[o + 8:o + blen - 4]
        if btype == 1:
            lt = struct.unpack(end + "H", body[:2])[0]
            mult, p = 1000, 8
            while p + 4 <= len(body):
                code, ln = struct.unpack(end + "HH", body[p:p + 4])
                if code == 0:
                    break
                if code == 9:
                    mult = tsresol_ns(body[p + 4])
                p += 4 + ln + (-ln % 4)
            ifs.append((lt, mult))
        elif btype == 6:
            i, hi, lo, c, w = struct.unpack(end + "IIIII", body[:20])
            lt, mult = ifs[i]
            yield ((hi << 32 | lo) * mult, c, w, body[20:20 + c], lt)
        o += blen


def records(path):
    d = open(path, "rb").read()
    if d[:4] == b"\x0a\x0d\x0d\x0a":
        return list(pcapng_records(d))
    if len(d) < 24:
        return []
    return list(pcap_records(d))


def main():
    if sys.argv[1] == "--count":
        print(len(records(sys.argv[2])))
        return 0
    a, b = records(sys.argv[1]), records(sys.argv[2])
    if len(a) != len(b):
        print("%d records != %d" % (len(a), len(b)))
        return 1
    for i, (x, y) in enumerate(zip(a, b)):
        x, y = x[:4], y[:4]
        n = min(x[1], y[1])
        if x[1] != y[1] and x[0] == y[0] and x[2] == y[2] and x[3][:n] == y[3][:n]:
            continue
        if x != y:
            print("record %d differs: %r vs %r" % (i, x[:3], y[:3]))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
