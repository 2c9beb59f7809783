#!/usr/bin/env python3
"""Read pcap and pcapng files for pktexport's pcapng tests.

  pcapng_read.py dump FILE               interfaces and packets, one a line
  pcapng_read.py check FILE --tsresol N  strict check of an exported pcapng
  pcapng_read.py same NG PCAP --tsresol N
        NG (a PCAPNG_* export) holds exactly the packets of PCAP (the
        PCAP_* export of the same selection), with the same link type
  pcapng_read.py trunc US NS
        the PCAPNG_US export US is the PCAPNG_NS export NS with every
        timestamp truncated to the microsecond
  pcapng_read.py iface NG INDEX PCAP
        the packets of NG on interface INDEX are exactly those of PCAP
  pcapng_read.py fcsbits PCAP
        exit 0 when the pcap header's link type has FCS-length bits set
        without the bit that says they are present (fuzzed: pcapng has no
        place for them)
  pcapng_read.py snap CUT FULL SNAPLEN
        CUT is FULL with every packet cut to SNAPLEN bytes and its
        interfaces saying so; original lengths are kept

Timestamps are exact integers of nanoseconds (truncated toward zero when
the resolution is finer).  Exit 0 when all is well, 1 with a reason.
"""
import hashlib
import struct
import sys
from fractions import Fraction

SHB, IDB, PB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6


class Bad(Exception):
    pass


def units_per_second(v):
    return 2 ** (v & 0x7F) if v & 0x80 else 10 ** v


def read_pcapng(d, strict=False):
    """(interfaces, packets, blocks); interfaces are dicts, packets
    (ifindex, ts_ns, caplen, wirelen, data), blocks (type, total)."""
    ifs, pkts, blocks = [], [], []
    o, end, first, count = 0, None, 0, 0
    while o < len(d):
        if len(d) - o < 12:
            raise Bad("truncated block header at %d" % o)
        if struct.unpack("<I", d[o:o + 4])[0] == SHB:
            bom = d[o + 8:o + 12]
            end = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">" if bom == b"\x1a\x2b\x3c\x4d" else None
            if end is None:
                raise Bad("bad byte-order magic at %d" % o)
            first, count = len(ifs), 0
        elif end is None:
            raise Bad("file does not start with a section header")
        btype, total = struct.unpack(end + "II", d[o:o + 8])
        if total < 12 or total % 4 or o + total > len(d):
            raise Bad("block at %d has bad length %d" % (o, total))
        if struct.unpack(end + "I", d[o + total - 4:o + total])[0] != total:
            raise Bad("block at %d: trailing length differs" % o)
        body = d[o + 8:o + total - 4]
        blocks.append((btype, total))
        if btype == IDB:
            lt, _, snap = struct.unpack(end + "HHI", body[:8])
            iface = {"linktype": lt, "snaplen": snap, "name": "", "tsresol": 6, "offset": 0}
            p = 8
            while p + 4 <= len(body):
                code, ln = struct.unpack(end + "HH", body[p:p + 4])
                if code == 0:
                    break
                val = body[p + 4:p + 4 + ln]
                if code == 2:
                    iface["name"] = val.split(b"\0")[0].decode("utf-8", "replace")
                elif code == 9:
                    iface["tsresol"] = val[0]
                elif code == 14:
                    iface["offset"] = struct.unpack(end + "q", val)[0]
                p += 4 + ln + (-ln % 4)
            ifs.append(iface)
            count += 1
        elif btype in (EPB, PB, SPB):
            if btype == SPB:
                (wire,) = struct.unpack(end + "I", body[:4])
                idx, t = 0, None
                cap = min(wire, len(body) - 4)
                if ifs[first]["snaplen"]:
                    cap = min(cap, ifs[first]["snaplen"])
                data = body[4:4 + cap]
            else:
                if btype == EPB:
                    idx, hi, lo, cap, wire = struct.unpack(end + "IIIII", body[:20])
                else:
                    idx, _, hi, lo, cap, wire = struct.unpack(end + "HHIIII", body[:20])
                t = hi << 32 | lo
                if cap > len(body) - 20:
                    raise Bad("packet at %d overruns its block" % o)
                data = body[20:20 + cap]
                if strict and (total != 32 + cap + (-cap % 4) or any(body[20 + cap:])):
                    raise Bad("packet at %d: padding or length not exact" % o)
            if idx >= count:
                raise Bad("packet at %d on undescribed interface %d" % (o, idx))
            iface = ifs[first + idx]
            if strict and iface["snaplen"] and cap > iface["snaplen"]:
                raise Bad("packet at %d longer than its interface's snaplen" % o)
            ns = 0
            if t is not None:
                ups = units_per_second(iface["tsresol"])
                ns = int(Fraction(t, ups) * 10**9) + iface["offset"] * 10**9
            pkts.append((first + idx, ns, cap, wire, bytes(data)))
        o += total
    return ifs, pkts, blocks


def read_pcap(d):
    magic = struct.unpack("<I", d[:4])[0]
    end = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    magic, = struct.unpack(end + "I", d[:4])
    scale = 1 if magic == 0xA1B23C4D else 1000
    snap, lt = struct.unpack(end + "II", d[16:24])
    pkts, o = [], 24
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack(end + "IIII", d[o:o + 16])
        pkts.append((0, s * 10**9 + f * scale, c, w, d[o + 16:o + 16 + c]))
        o += 16 + c
    return [{"linktype": lt, "snaplen": snap, "name": "", "tsresol": None}], pkts


def read_any(path, strict=False):
    d = open(path, "rb").read()
    if d[:4] == b"\x0a\x0d\x0d\x0a":
        ifs, pkts, _ = read_pcapng(d, strict)
        return ifs, pkts
    return read_pcap(d)


def check(path, tsresol):
    ifs, pkts, blocks = read_pcapng(open(path, "rb").read(), strict=True)
    if not blocks or blocks[0][0] != SHB or sum(1 for b in blocks if b[0] == SHB) != 1:
        raise Bad("expected exactly one section, first")
    for i, iface in enumerate(ifs):
        if tsresol is not None and iface["tsresol"] != tsresol:
            raise Bad("interface %d has if_tsresol %r" % (i, iface["tsresol"]))
    if any(b[0] not in (SHB, IDB, EPB) for b in blocks):
        raise Bad("unexpected block types %r" % sorted({b[0] for b in blocks}))
    return ifs, pkts


def main():
    args = sys.argv[1:]
    try:
        if args[0] == "dump":
            ifs, pkts = read_any(args[1])
            for i, f in enumerate(ifs):
                print("if %d linktype=%d snaplen=%d name=%s" % (i, f["linktype"], f["snaplen"], f["name"]))
            for p in pkts:
                print("pkt if=%d ts=%d cap=%d len=%d sha=%s" % (p[0], p[1], p[2], p[3],
                                                                 hashlib.sha1(p[4]).hexdigest()[:16]))
            return 0
        if args[0] == "fcsbits":
            lt = read_pcap(open(args[1], "rb").read())[0][0]["linktype"]
            return 0 if lt & 0xF0000000 and not lt & 0x04000000 else 1
        tsresol = int(args[args.index("--tsresol") + 1]) if "--tsresol" in args else None
        if args[0] == "check":
            check(args[1], tsresol)
            return 0
        if args[0] == "same":
            ifs, pkts = check(args[1], tsresol)
            ref_ifs, ref = read_pcap(open(args[2], "rb").read())
            if ifs[0]["linktype"] != ref_ifs[0]["linktype"] & 0xFFFF:
                raise Bad("interface %r vs pcap header %r" % (ifs[0], ref_ifs[0]))
            if len(pkts) != len(ref):
                raise Bad("%d packets != %d" % (len(pkts), len(ref)))
            for i, (a, b) in enumerate(zip(pkts, ref)):
                # A pcap record keeps 32 bits of seconds; pcapng all.
                a = a[:1] + (a[1] % (2**32 * 10**9),) + a[2:]
                if a[1:] != b[1:] or a[0] != 0:
                    raise Bad("packet %d differs: %r vs %r" % (i, a[:4], b[:4]))
            return 0
        if args[0] == "trunc":
            us_ifs, us = check(args[1], 6)
            ns_ifs, ns = check(args[2], 9)
            if [(f["linktype"], f["snaplen"], f["name"]) for f in us_ifs] != \
                    [(f["linktype"], f["snaplen"], f["name"]) for f in ns_ifs]:
                raise Bad("interfaces differ")
            if len(us) != len(ns):
                raise Bad("%d packets != %d" % (len(us), len(ns)))
            for i, (a, b) in enumerate(zip(us, ns)):
                if a[1] != b[1] // 1000 * 1000 or a[0] != b[0] or a[2:] != b[2:]:
                    raise Bad("packet %d: %r is not %r truncated" % (i, a[:4], b[:4]))
            return 0
        if args[0] == "iface":
            ifs, pkts = read_any(args[1])
            idx = int(args[2])
            ref_ifs, ref = read_pcap(open(args[3], "rb").read())
            if ifs[idx]["linktype"] != ref_ifs[0]["linktype"] & 0xFFFF:
                raise Bad("interface %d is %r, pcap says %r" % (idx, ifs[idx], ref_ifs[0]))
            mine = [p[1:] for p in pkts if p[0] == idx]
            if mine != [p[1:] for p in ref]:
                raise Bad("interface %d: %d packets differ from %d" % (idx, len(mine), len(ref)))
            return 0
        if args[0] == "late":
            # late OUT.pcapng REF.pcap: the packets of a pcap writer that
            # wrapped seconds past 2106 (REF), with their full times kept.
            ifs, pkts = read_any(args[1])
            ref_ifs, ref = read_pcap(open(args[2], "rb").read())
            if len(pkts) != len(ref):
                raise Bad("%d packets != %d" % (len(pkts), len(ref)))
            wrap = 2**32 * 10**9
            for i, (a, b) in enumerate(zip(pkts, ref)):
                sec, frac = divmod(a[1], 10**9)
                if (sec % 2**32) * 10**9 + frac // 1000 * 1000 != b[1] or a[2:] != b[2:]:
                    raise Bad("packet %d: %r is not %r unwrapped" % (i, a[1:4], b[1:4]))
            if not any(p[1] >= wrap for p in pkts):
                raise Bad("no packet is past 2106")
            return 0
        if args[0] == "snap":
            cut_ifs, cut = check(args[1], None)
            full_ifs, full = check(args[2], None)
            n = int(args[3])
            want = [f["snaplen"] if f["snaplen"] and f["snaplen"] < n else n for f in full_ifs]
            if [f["snaplen"] for f in cut_ifs] != want:
                raise Bad("snap lengths %r, want %r" % ([f["snaplen"] for f in cut_ifs], want))
            if [(p[0], p[1], min(p[2], n), p[3], p[4][:n]) for p in full] != cut:
                raise Bad("packets are not the full ones cut to %d" % n)
            return 0
    except Bad as e:
        print("%s: %s" % (args[1], e))
        return 1
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
