#!/usr/bin/env python3
"""Write a deterministic Ethernet capture whose answers depend on
Wireshark's reassembly, so that the WIRESHARK filter is compared with
tshark where the helper keeps copies of earlier packets' bytes.

  wireshark_mkreassembly.py OUT [--conversations N] [--seed S]

Kinds: HTTP requests and responses split over several TCP segments
(some out of order, some sent twice), DNS over TCP split in two, UDP
datagrams in IPv4 and IPv6 fragments (some out of order).  About one in
three carries the word "needle" in its last piece only, so a filter on
it matches only where the pieces were put together.
"""
import argparse
import random
import struct

from wireshark_mktunnels import csum

NEEDLE = b"needle"


def eth(ethertype, payload):
    return b"\x02\0\0\0\0\x01\x02\0\0\0\0\x02" + struct.pack("!H", ethertype) + payload


def ip4(src, dst, proto, payload, ident=0, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag,
                    64, proto, 0, src, dst)
    return eth(0x0800, h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload)


def tcp(sport, dport, seq, ack, flags, data=b""):
    return struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF,
                       ack & 0xFFFFFFFF, 0x50, flags, 65535, 0, 0) + data


def pieces(rng, data, n):
    """data cut in n non-empty pieces: [(offset, bytes)]."""
    cuts = sorted(rng.sample(range(1, len(data)), n - 1))
    edges = [0] + cuts + [len(data)]
    return [(edges[i], data[edges[i]:edges[i + 1]]) for i in range(n)]


def shuffle_some(rng, items):
    """Swaps two neighbours now and then, and sends one twice."""
    items = list(items)
    if len(items) > 1 and rng.random() < 0.4:
        i = rng.randrange(len(items) - 1)
        items[i], items[i + 1] = items[i + 1], items[i]
    if rng.random() < 0.2:
        items.insert(rng.randrange(len(items) + 1), rng.choice(items))
    return items


def word(rng, needle):
    w = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(8))
    return w + (NEEDLE.decode() if needle else "")


def tcp_conversation(rng, c, port, request, response):
    cli = bytes([10, 0, c >> 8 & 255, c & 255])
    srv = bytes([10, 1, 0, 1])
    sport = 20000 + c
    cseq, sseq = rng.getrandbits(32), rng.getrandbits(32)
    out = [ip4(cli, srv, 6, tcp(sport, port, cseq, 0, 0x02)),
           ip4(srv, cli, 6, tcp(port, sport, sseq, cseq + 1, 0x12)),
           ip4(cli, srv, 6, tcp(sport, port, cseq + 1, sseq + 1, 0x10))]
    for off, part in shuffle_some(rng, pieces(rng, request, rng.randint(2, 4))):
        out.append(ip4(cli, srv, 6, tcp(sport, port, cseq + 1 + off, sseq + 1, 0x18, part)))
    if response:
        for off, part in shuffle_some(rng, pieces(rng, response, rng.randint(2, 4))):
            out.append(ip4(srv, cli, 6, tcp(port, sport, sseq + 1 + off,
                                            cseq + 1 + len(request), 0x18, part)))
    return out


def http(rng, c):
    uri = "/" + word(rng, rng.random() < 0.35)
    req = ("GET %s HTTP/1.1\r\nHost: h%d.example\r\nUser-Agent: %s\r\n"
           "Accept: */*\r\n\r\n" % (uri, c, "x" * rng.randint(50, 900))).encode()
    body = word(rng, rng.random() < 0.35).encode() * rng.randint(20, 200)
    resp = ("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
            "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
    return tcp_conversation(rng, c, 80, req, resp)


def dns_tcp(rng, c):
    name = word(rng, rng.random() < 0.35).encode()
    q = (struct.pack("!HHHHHH", c & 0xFFFF, 0x0100, 1, 0, 0, 0) +
         bytes([len(name)]) + name + b"\x07example\0" + struct.pack("!HH", 1, 1))
    return tcp_conversation(rng, c, 53, struct.pack("!H", len(q)) + q, b"")


def udp_fragments(rng, c, v6):
    body = word(rng, False).encode() * rng.randint(300, 600)
    if rng.random() < 0.35:
        body += NEEDLE  # in the last fragment only
    sport, dport = 30000 + c, 9999
    udp = struct.pack("!HHHH", sport, dport, 8 + len(body), 0) + body
    out = []
    if v6:
        src = b"\x20\x01\x0d\xb8" + bytes(10) + struct.pack("!H", c)
        dst = b"\x20\x01\x0d\xb8" + bytes(11) + b"\x01"
        step = 1448  # a multiple of 8
        offs = range(0, len(udp), step)
        for off in shuffle_some(rng, offs):
            more = 1 if off + step < len(udp) else 0
            fh = struct.pack("!BBHI", 17, 0, off | more, 0x1000 + c)
            part = fh + udp[off:off + step]
            out.append(eth(0x86DD, struct.pack("!IHBB", 0x60000000, len(part), 44, 64) +
                           src + dst + part))
    else:
        src, dst = bytes([10, 2, c >> 8 & 255, c & 255]), bytes([10, 3, 0, 1])
        step = 1480
        offs = range(0, len(udp), step)
        for off in shuffle_some(rng, offs):
            more = 0x2000 if off + step < len(udp) else 0
            out.append(ip4(src, dst, 17, udp[off:off + step], ident=c & 0xFFFF,
                           frag=more | off // 8))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--conversations", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    frames = []
    for c in range(1, a.conversations + 1):
        kind = c % 4
        if kind == 0:
            frames += http(rng, c)
        elif kind == 1:
            frames += dns_tcp(rng, c)
        else:
            frames += udp_fragments(rng, c, kind == 3)
    with open(a.out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000, (i % 1000) * 1000,
                                len(fr), len(fr)) + fr)


if __name__ == "__main__":
    main()
