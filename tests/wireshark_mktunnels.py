#!/usr/bin/env python3
"""Write a deterministic Ethernet capture where the same TCP and UDP ports
appear in the outer headers and inside other packets, to test that the
WIRESHARK pre-filter never skips a packet Wireshark would match.

  wireshark_mktunnels.py OUT [--packets N] [--seed S]

Kinds: plain TCP/UDP (IPv4, IPv6, one and two VLAN tags), GRE, IP-in-IP,
VXLAN, Teredo, OpenFlow PACKET_IN, ICMP errors quoting a TCP header, IPv4
fragments, an IPv4 source route, an IPv6 extension header, DNS, ARP,
SYN/ACK mixes, and records cut short.
"""
import argparse
import random
import struct

PORTS = [80, 443, 53, 22, 8080, 4789, 3544]


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(rng, proto, payload, frag=0, ident=None):
    src = bytes([10, rng.randrange(4), rng.randrange(256), rng.randrange(1, 255)])
    dst = bytes([192, 168, rng.randrange(4), rng.randrange(1, 255)])
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload),
                    ident if ident is not None else rng.getrandbits(16),
                    frag, 64, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ip6(rng, nh, payload):
    addr = lambda: bytes([0x20, 0x01, 0x0D, 0xB8] + [rng.getrandbits(8) for _ in range(12)])
    return struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) + addr() + addr() + payload


def tcp(rng, flags=None, sport=None, dport=None, data=b""):
    if flags is None:
        flags = rng.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x04])
    return struct.pack("!HHIIBBHHH", sport or rng.choice(PORTS + [rng.randrange(1024, 65535)]),
                       dport or rng.choice(PORTS + [rng.randrange(1024, 65535)]),
                       rng.getrandbits(32), rng.getrandbits(32), 0x50, flags,
                       65535, 0, 0) + data


def udp(sport, dport, data):
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def dns_query(rng):
    q = b"".join(bytes([len(p)]) + p for p in (b"www", b"example", b"org")) + b"\0"
    return struct.pack("!HHHHHH", rng.getrandbits(16), 0x0100, 1, 0, 0, 0) + q + struct.pack("!HH", 1, 1)


def eth(payload, ethertype, tags=()):
    h = bytes.fromhex("020000000001") + bytes.fromhex("020000000002")
    for tpid, vid in tags:
        h += struct.pack("!HH", tpid, vid)
    return h + struct.pack("!H", ethertype) + payload


def data(rng):
    n = rng.randrange(0, 120)
    d = bytes(rng.getrandbits(8) for _ in range(n))
    return d + (b"zq" if rng.random() < 0.1 else b"")


def packet(rng, kind):
    if kind == "tcp4":
        return eth(ip4(rng, 6, tcp(rng, data=data(rng))), 0x0800)
    if kind == "udp4":
        return eth(ip4(rng, 17, udp(rng.choice(PORTS), rng.choice(PORTS), data(rng))), 0x0800)
    if kind == "tcp6":
        return eth(ip6(rng, 6, tcp(rng, data=data(rng))), 0x86DD)
    if kind == "vlan":
        return eth(ip4(rng, 6, tcp(rng)), 0x0800, [(0x8100, 10)])
    if kind == "qinq":
        return eth(ip6(rng, 6, tcp(rng)), 0x86DD, [(0x88A8, 20), (0x8100, 30)])
    if kind == "gre":
        inner = ip4(rng, 6, tcp(rng, dport=80))
        return eth(ip4(rng, 47, struct.pack("!HH", 0, 0x0800) + inner), 0x0800)
    if kind == "ipip":
        return eth(ip4(rng, 4, ip4(rng, 6, tcp(rng, sport=80))), 0x0800)
    if kind == "vxlan":
        inner = eth(ip4(rng, 6, tcp(rng, dport=80, flags=0x02)), 0x0800)
        return eth(ip4(rng, 17, udp(rng.randrange(1024, 65535), 4789,
                                    struct.pack("!II", 0x08000000, 100 << 8) + inner)), 0x0800)
    if kind == "teredo":
        inner = ip6(rng, 6, tcp(rng, dport=80))
        return eth(ip4(rng, 17, udp(3544, rng.randrange(1024, 65535), inner)), 0x0800)
    if kind == "icmp":
        quoted = ip4(rng, 6, tcp(rng, dport=80))[:28]
        return eth(ip4(rng, 1, struct.pack("!BBHI", 3, 3, 0, 0) + quoted), 0x0800)
    if kind == "frag":
        seg = tcp(rng, dport=80, data=bytes(rng.getrandbits(8) for _ in range(60)))
        ident = rng.getrandbits(16)
        first = ip4(rng, 6, seg[:40], frag=0x2000, ident=ident)
        second = bytearray(ip4(rng, 6, seg[40:], frag=5, ident=ident))
        second[12:20] = first[12:20]  # same addresses: one datagram
        second[10:12] = b"\0\0"
        second[10:12] = struct.pack("!H", csum(bytes(second[:20])))
        return [eth(first, 0x0800), eth(bytes(second), 0x0800)]
    if kind == "ext6":
        hbh = struct.pack("!BB", 6, 0) + b"\x01\x04\0\0\0\0"
        return eth(ip6(rng, 0, hbh + tcp(rng, dport=80)), 0x86DD)
    if kind == "dns":
        return eth(ip4(rng, 17, udp(rng.randrange(1024, 65535), 53, dns_query(rng))), 0x0800)
    if kind == "openflow":
        # OpenFlow 1.0 PACKET_IN on its port: a whole frame inside.
        inner = eth(ip4(rng, 6, tcp(rng, dport=80, flags=0x02)), 0x0800)
        msg = struct.pack("!IHHBB", 0xFFFFFFFF, len(inner), 1, 0, 0) + inner
        of = struct.pack("!BBHI", 1, 10, 8 + len(msg), rng.getrandbits(32)) + msg
        return eth(ip4(rng, 6, tcp(rng, flags=0x18, sport=rng.randrange(1024, 65535),
                                   dport=6653, data=of)), 0x0800)
    if kind == "lsrr":
        # A loose source route: Wireshark's ip.dst is its last hop.
        opt = struct.pack("!BBB", 131, 11, 4) + bytes([192, 168, 7, 1]) + \
            bytes([10, 66, 0, rng.randrange(1, 255)]) + b"\x00"
        payload = udp(rng.randrange(1024, 65535), 5004, data(rng))
        h = struct.pack("!BBHHHBBH4s4s", 0x48, 0, 32 + len(payload), rng.getrandbits(16), 0,
                        64, 17, 0, bytes([192, 168, 9, 1]), bytes([192, 168, 9, 2])) + opt
        h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
        return eth(h + payload, 0x0800)
    if kind == "arp":
        a = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + bytes(6) + bytes([10, 0, 0, 1]) + bytes(6) + bytes([10, 0, 0, 2])
        return eth(a + bytes(18), 0x0806)
    raise ValueError(kind)


KINDS = ["tcp4"] * 6 + ["udp4"] * 3 + ["tcp6"] * 2 + ["vlan", "qinq", "gre", "ipip", "vxlan",
         "teredo", "icmp", "frag", "ext6", "dns", "arp", "openflow", "lsrr"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    out = open(a.out, "wb")
    out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    t, n = 1700000000 * 10**6, 0
    while n < a.packets:
        pkts = packet(rng, rng.choice(KINDS))
        for p in pkts if isinstance(pkts, list) else [pkts]:
            t += rng.randrange(1, 2000)
            cap = len(p)
            if rng.random() < 0.03:
                cap = rng.randrange(14, len(p))  # cut short by a snap length
            out.write(struct.pack("<IIII", t // 10**6, t % 10**6, cap, len(p)) + p[:cap])
            n += 1
    out.close()


if __name__ == "__main__":
    main()
