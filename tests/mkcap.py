#!/usr/bin/env python3
"""Deterministic captures for pktexport's tests.

  mkcap.py OUT --packets N [--seed S] [--format pcap|pcap-ns|pcapng]
           [--start NS] [--gap NS] [--times NS,NS,...] [--linktype N]

Frames are Ethernet: IPv4 TCP/UDP (some to port 53)/ICMP, IPv6 TCP/UDP,
802.1Q-tagged copies and ARP, 60 to 1514 bytes.  Timestamps are integers
of nanoseconds: --times lists them one per packet, otherwise they start
at --start and step by --gap plus a seeded jitter below --gap.
"""
import argparse
import random
import struct


def frame(rng, i):
    kind = rng.randrange(10)
    size = rng.choice([60, 60, 64, 128, 576, 1000, 1514, rng.randrange(60, 1515)])
    dst, src = bytes([2, 0, 0, 0, 0, 1]), bytes([2, 0, 0, 0, 0, rng.randrange(2, 250)])
    eth = dst + src
    if kind == 9:  # ARP
        body = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + src + bytes([10, 0, 0, 1]) + bytes(6) + bytes([10, 0, 0, 2])
        return (eth + struct.pack("!H", 0x0806) + body).ljust(60, b"\0")
    if kind == 8:  # VLAN-tagged
        eth += struct.pack("!HH", 0x8100, rng.randrange(1, 4095))
    v6 = kind in (6, 7)
    proto = [6, 6, 6, 17, 17, 1, 6, 17, 6][kind]
    if proto == 6:
        l4 = struct.pack("!HHIIBBHHH", rng.randrange(1024, 65535), rng.choice([80, 443, 22, 8080]),
                         i, 0, 0x50, 0x18, 65535, 0, 0)
    elif proto == 17:
        l4 = struct.pack("!HHHH", rng.randrange(1024, 65535), rng.choice([53, 53, 123, 5060]), 8, 0)
    else:
        l4 = struct.pack("!BBHHH", 8, 0, 0, i & 0xffff, 1)
    if v6:
        l3len = 40
    else:
        l3len = 20
    pay = max(0, size - len(eth) - 2 - l3len - len(l4))
    payload = bytes(rng.getrandbits(8) for _ in range(min(pay, 24))) + b"z" * max(0, pay - 24)
    if v6:
        nh = 58 if proto == 1 else proto
        l3 = struct.pack("!IHBB", 0x60000000, len(l4) + pay, nh, 64) + bytes([0x20, 1, 0xd, 0xb8] + [0] * 11 + [1]) \
            + bytes([0x20, 1, 0xd, 0xb8] + [0] * 11 + [rng.randrange(2, 250)])
        et = 0x86DD
    else:
        l3 = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4) + pay, i & 0xffff, 0, 64, proto, 0,
                         bytes([10, 0, 0, rng.randrange(1, 250)]), bytes([10, 0, 1, rng.randrange(1, 250)]))
        et = 0x0800
    return eth + struct.pack("!H", et) + l3 + l4 + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--format", choices=["pcap", "pcap-ns", "pcapng"], default="pcap")
    ap.add_argument("--start", type=int, default=1700000000 * 10**9)
    ap.add_argument("--gap", type=int, default=10**6)
    ap.add_argument("--times", default="")
    ap.add_argument("--linktype", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    times = [int(t) for t in a.times.split(",") if t]
    n = len(times) if times else a.packets
    t = a.start
    with open(a.out, "wb") as out:
        if a.format == "pcapng":
            out.write(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28))
            opt = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
            out.write(struct.pack("<IIHHI", 1, 20 + len(opt), a.linktype, 0, 65535) + opt + struct.pack("<I", 20 + len(opt)))
        else:
            magic = 0xA1B23C4D if a.format == "pcap-ns" else 0xA1B2C3D4
            out.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, a.linktype))
        for i in range(n):
            if times:
                t = times[i]
            else:
                t += a.gap + rng.randrange(a.gap)
            pkt = frame(rng, i)
            if a.format == "pcapng":
                pad = (-len(pkt)) % 4
                blen = 32 + len(pkt) + pad
                out.write(struct.pack("<IIIIIII", 6, blen, 0, t >> 32, t & 0xFFFFFFFF, len(pkt), len(pkt))
                          + pkt + bytes(pad) + struct.pack("<I", blen))
            else:
                sec, frac = divmod(t, 10**9)
                if a.format == "pcap":
                    frac //= 1000
                out.write(struct.pack("<IIII", sec, frac, len(pkt), len(pkt)) + pkt)


if __name__ == "__main__":
    main()
