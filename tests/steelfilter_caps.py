#!/usr/bin/env python3
"""Deterministic captures for the SteelFilter tests.

  steelfilter_caps.py OUT --packets N [--seed S] [--linktype 1|101|113]
                      [--truncate PERCENT]

Frames carry 0 to 3 VLAN tags (TPIDs 0x8100, 0x88a8, 0x9100), IPv4 (with
options, bad header lengths, later fragments), IPv6 (TCP, UDP, a fragment
header), ARP and other ethertypes, drawn from small sets of addresses,
ports, flags and VLAN ids so filters hit them.  --truncate cuts that share
of records short (caplen < len) at a random point.  Link type 101 writes
the IP packets of untagged frames alone, 113 puts them behind a Linux
cooked header.
"""
import argparse
import random
import struct

IP4 = ["10.0.0.1", "10.0.0.2", "10.38.7.22", "10.38.7.25", "10.1.1.1",
       "192.168.1.1", "10.200.0.9"]
IP6 = ["2001:db8::1", "2001:db8:8000::1", "fe80::1", "2001:db8::2"]
PORTS = [53, 80, 443, 8080, 1000, 1001, 65535, 0, 22]
FLAGS = [0x02, 0x12, 0x10, 0x18, 0x11, 0x04]
MACS = ["02:00:00:00:00:01", "02:00:00:00:00:02", "00:11:22:33:44:55"]
VIDS = [1, 5, 100, 4095]
TPIDS = [0x8100, 0x88A8, 0x9100]


def ip4(s):
    return bytes(int(x) for x in s.split("."))


def ip6(s):
    head, _, tail = s.partition("::")
    h = [int(x, 16) for x in head.split(":") if x]
    t = [int(x, 16) for x in tail.split(":") if x]
    return struct.pack("!8H", *(h + [0] * (8 - len(h) - len(t)) + t))


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def l4(rng, proto):
    sport, dport = rng.choice(PORTS), rng.choice(PORTS)
    if proto == 6:
        return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 0x50,
                           rng.choice(FLAGS), 65535, 0, 0)
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 8, 0)
    return struct.pack("!BBHHH", 8, 0, 0, 1, 1)


def ipv4(rng):
    proto = rng.choice([6, 6, 17, 17, 1, 47])
    ihl = rng.choice([5, 5, 5, 6, 15, 2])
    frag = rng.choice([0, 0, 0, 0x2000, 0x0010, 0x4000])
    body = l4(rng, proto) + bytes(rng.randrange(0, 64))
    opts = bytes(max(0, ihl - 5) * 4)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 20 + len(opts) + len(body),
                      1, frag, 64, proto, 0, ip4(rng.choice(IP4)),
                      ip4(rng.choice(IP4)))
    return 0x0800, hdr + opts + body


def ipv6(rng):
    nh = rng.choice([6, 6, 17, 17, 44, 58])
    if nh == 44:
        body = struct.pack("!BBHI", 6, 0, 0, 1) + l4(rng, 6)
    else:
        body = l4(rng, nh)
    body += bytes(rng.randrange(0, 64))
    hdr = struct.pack("!IHBB", 0x60000000, len(body), nh, 64) + \
        ip6(rng.choice(IP6)) + ip6(rng.choice(IP6))
    return 0x86DD, hdr + body


def payload(rng):
    kind = rng.randrange(10)
    if kind < 5:
        return ipv4(rng)
    if kind < 8:
        return ipv6(rng)
    if kind == 8:
        return 0x0806, struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes(20)
    return rng.choice([0x88CC, 0x8847, 0x0842]), bytes(rng.randrange(0, 60))


def frame(rng, linktype):
    ethertype, body = payload(rng)
    if linktype == 101:
        return body if ethertype in (0x0800, 0x86DD) else bytes([0x45]) + body
    if linktype == 113:
        return struct.pack("!HHH8sH", 0, 1, 6, mac(rng.choice(MACS)) + b"\0\0",
                           ethertype) + body
    tags = b""
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        tags += struct.pack("!HH", rng.choice(TPIDS), rng.choice(VIDS))
    eth = mac(rng.choice(MACS)) + mac(rng.choice(MACS))
    return eth + tags + struct.pack("!H", ethertype) + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--linktype", type=int, default=1, choices=[1, 101, 113])
    ap.add_argument("--truncate", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.out, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535,
                              a.linktype))
        for i in range(a.packets):
            pkt = frame(rng, a.linktype)
            cap = len(pkt)
            if rng.randrange(100) < a.truncate:
                cap = rng.randrange(0, len(pkt) + 1)
            out.write(struct.pack("<IIII", 1700000000 + i, 0, cap, len(pkt))
                      + pkt[:cap])


if __name__ == "__main__":
    main()
