#!/usr/bin/env python3
"""gencap: synthetic Ethernet traffic for pktexport's tests and benchmarks.

  gencap.py OUT --packets N [--seed S] [--start SECONDS] [--pps RATE]
            [--flows F] [--format pcap|pcap-ns|pcapng] [--snap BYTES]

OUT may be '-' for standard output.  The same arguments always give the
same bytes (Python's seeded PRNG only; no clock, no host state).

What is in it, by share of the packets (within each kind a few flows carry
most packets, as on a real link: flow popularity follows a Pareto law):
  - TCP conversations (65%): a three-way handshake, data both ways, a FIN
    or an RST at the end, then the same client again from a new port.
    Port 80 and 8080 flows carry an HTTP request and response header in
    their first data packets; others carry opaque payload (443, 22, 3306,
    and random ports).
  - DNS over UDP (15%): queries and their answers (A or AAAA), same id.
  - other UDP (10%): NTP, SIP and random ports, opaque payload.
  - ICMP and ICMPv6 echo request/reply (5%), ARP request/reply (5%).
Frames shorter than 60 bytes are padded to 60, as received on a wire.
Each flow is IPv4 or IPv6 (one in five), and untagged, 802.1Q-tagged (one
in ten) or QinQ (0x88a8 outer tag, one in twenty).  IPv4 header checksums
and TCP/UDP/ICMP checksums are correct.  Frame sizes follow an IMIX-like
mix (64, 576 and 1514 bytes, and a spread between) for data packets.

Times are integer nanoseconds: the first packet follows --start (seconds
since the epoch, up to 9 decimals, exact) by one gap, gaps are exponential
with mean 1/--pps seconds and at least 1 ns.  pcap writes microseconds
(truncated), pcap-ns and pcapng (if_tsresol 9) nanoseconds.  --snap cuts
each record's captured bytes (the original length is kept).
"""
import argparse
import array
import random
import struct
import sys
from decimal import Decimal, InvalidOperation

ETH_IP4, ETH_IP6, ETH_ARP, ETH_8021Q, ETH_8021AD = 0x0800, 0x86DD, 0x0806, 0x8100, 0x88A8
TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x04, 0x08, 0x10
DNS_NAMES = ["www", "mail", "api", "cdn", "files", "vpn", "ntp", "git", "db", "auth"]
DNS_ZONES = ["example.com", "example.net", "example.org", "corp.test", "lab.invalid"]


def ones_sum(data):
    """Ones' complement sum of data as 16-bit words, folded.  Summed in the
    host's order (RFC 1071: the sum is byte-order independent up to a final
    swap), which keeps it in C."""
    if len(data) & 1:
        data += b"\0"
    s = sum(array.array("H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    if sys.byteorder == "little":
        s = ((s & 0xFF) << 8) | (s >> 8)
    return s


def checksum(*parts):
    s = 0
    for p in parts:
        s += ones_sum(p)
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


class Host:
    """One end of a flow: MAC and IP address."""

    def __init__(self, rng, v6):
        self.mac = bytes([0x02, rng.randrange(256)]) + rng.randbytes(4)
        if v6:
            self.ip = bytes([0x20, 0x01, 0x0D, 0xB8]) + rng.randbytes(12)
        else:
            self.ip = bytes([10, rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)])


KINDS = [("tcp", 0.65), ("dns", 0.15), ("udp", 0.10), ("icmp", 0.05), ("arp", 0.05)]


class Flow:
    def __init__(self, rng, index, kind):
        self.index = index
        self.kind = kind
        self.v6 = self.kind != "arp" and rng.random() < 0.2
        e = rng.random()
        self.tags = [] if e < 0.85 else [(ETH_8021Q, rng.randrange(1, 4095))] if e < 0.95 else \
            [(ETH_8021AD, rng.randrange(1, 4095)), (ETH_8021Q, rng.randrange(1, 4095))]
        self.client, self.server = Host(rng, self.v6), Host(rng, self.v6)
        if self.kind == "tcp":
            self.dport = rng.choice([80, 80, 443, 443, 22, 8080, 3306, rng.randrange(1, 65536)])
        elif self.kind == "dns":
            self.dport = 53
        elif self.kind == "udp":
            self.dport = rng.choice([123, 5060, rng.randrange(1, 65536)])
        else:
            self.dport = 0
        self.sport = rng.randrange(1024, 65536)
        self.step = 0          # packets sent in the current conversation
        self.length = 0        # packets the conversation lasts (TCP)
        self.seq = [0, 0]      # next sequence number, client and server
        self.query = None      # the DNS question awaiting its answer
        self.ident = rng.randrange(65536)

    def new_conversation(self, rng):
        self.step = 0
        self.length = 5 + min(int(rng.paretovariate(0.9) * 3), 2000)
        self.seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.sport = 1024 + (self.sport - 1024 + 1 + rng.randrange(50)) % (65536 - 1024)


class Generator:
    def __init__(self, seed, flows):
        self.rng = random.Random(seed)
        rng = self.rng
        # Flows of each kind in proportion to its share (one at least).
        self.by_kind = []
        index = 0
        for kind, share in KINDS:
            n = max(1, int(round(flows * share)))
            self.by_kind.append([Flow(rng, index + i, kind) for i in range(n)])
            index += n
        self.cumulative = []
        total = 0.0
        for _, share in KINDS:
            total += share
            self.cumulative.append(total)
        self.pool = rng.randbytes(1 << 16)  # payload bytes are slices of it

    def payload(self, n):
        if n <= 0:
            return b""
        off = self.rng.randrange(len(self.pool) - 1600)
        out = self.pool[off:off + n]
        while len(out) < n:
            out += self.pool[:n - len(out)]
        return out

    def data_size(self):
        """Bytes of a full data frame, an IMIX-like choice."""
        r = self.rng.randrange(12)
        return 64 if r < 6 else 576 if r < 9 else 1514 if r < 11 else self.rng.randrange(64, 1515)

    # ---------------------------------------------------------- layers
    def ethernet(self, f, src_mac, dst_mac, ethertype):
        h = dst_mac + src_mac
        for tpid, vid in f.tags:
            h += struct.pack("!HH", tpid, vid)
        return h + struct.pack("!H", ethertype)

    def ip(self, f, src, dst, proto, l4):
        if f.v6:
            return struct.pack("!IHBB", 0x60000000, len(l4), proto, 64) + src.ip + dst.ip + l4, \
                src.ip + dst.ip + struct.pack("!IxxxB", len(l4), proto)
        f.ident = (f.ident + 1) & 0xFFFF
        h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), f.ident, 0x4000, 64, proto, 0,
                        src.ip, dst.ip)
        h = h[:10] + struct.pack("!H", checksum(h)) + h[12:]
        return h + l4, src.ip + dst.ip + struct.pack("!xBH", proto, len(l4))

    def l3_frame(self, f, from_client, proto, l4_head, csum_at, body):
        """A frame carrying l4_head + body over IP; the transport checksum
        (at byte csum_at of the header) is filled in over a pseudo-header
        (for ICMPv4, without one)."""
        src, dst = (f.client, f.server) if from_client else (f.server, f.client)
        l4 = l4_head + body
        pkt, pseudo = self.ip(f, src, dst, proto, l4)
        c = checksum(l4) if proto == 1 else checksum(pseudo, l4)
        if proto == 17 and c == 0:
            c = 0xFFFF
        head = self.ethernet(f, src.mac, dst.mac, ETH_IP6 if f.v6 else ETH_IP4)
        iph = 40 if f.v6 else 20
        at = len(head) + iph + csum_at
        frame = head + pkt
        frame = frame[:at] + struct.pack("!H", c) + frame[at + 2:]
        return frame + bytes(max(0, 60 - len(frame)))  # Ethernet's minimum, FCS not captured

    def room(self, f, l4_header):
        """Payload bytes that bring a frame to a size from the mix."""
        over = 14 + 4 * len(f.tags) + (40 if f.v6 else 20) + l4_header
        return max(0, self.data_size() - over)

    # ---------------------------------------------------------- flows
    def tcp(self, f):
        rng = self.rng
        if f.step == 0 or f.step >= f.length:
            f.new_conversation(rng)
        s = f.step
        f.step += 1
        body = b""
        if s == 0:
            side, flags = 0, TCP_SYN
        elif s == 1:
            side, flags = 1, TCP_SYN | TCP_ACK
        elif s == 2:
            side, flags = 0, TCP_ACK
        elif s == f.length - 1:
            side, flags = rng.randrange(2), (TCP_RST | TCP_ACK) if rng.random() < 0.2 else (TCP_FIN | TCP_ACK)
        else:
            side = 0 if s == 3 else 1 if s == 4 else rng.randrange(2)
            flags = TCP_PSH | TCP_ACK
            if f.dport in (80, 8080) and s == 3:
                body = ("GET /%s/%d HTTP/1.1\r\nHost: %s.example.com\r\nUser-Agent: gencap\r\n"
                        "Accept: */*\r\n\r\n" % (rng.choice(DNS_NAMES), rng.randrange(10**6),
                                                 rng.choice(DNS_NAMES))).encode()
            elif f.dport in (80, 8080) and s == 4:
                n = self.room(f, 20)
                head = ("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                        "Content-Length: %d\r\n\r\n" % (n * 8)).encode()
                body = head + self.payload(n - len(head))
            else:
                body = self.payload(self.room(f, 20))
        seq, ack = f.seq[side], f.seq[1 - side]
        if flags & TCP_SYN:
            f.seq[side] = (seq + 1) & 0xFFFFFFFF
        f.seq[side] = (f.seq[side] + len(body) + (1 if flags & TCP_FIN else 0)) & 0xFFFFFFFF
        ports = (f.sport, f.dport) if side == 0 else (f.dport, f.sport)
        head = struct.pack("!HHIIBBHHH", ports[0], ports[1], seq,
                           ack if flags & TCP_ACK else 0, 0x50, flags, 64240, 0, 0)
        return self.l3_frame(f, side == 0, 6, head, 16, body)

    def dns(self, f):
        rng = self.rng
        if f.query is None:
            qid = rng.randrange(65536)
            qtype = 28 if rng.random() < 0.3 else 1
            labels = [rng.choice(DNS_NAMES) + str(rng.randrange(100))] + rng.choice(DNS_ZONES).split(".")
            qname = b"".join(bytes([len(x)]) + x.encode() for x in labels) + b"\0"
            f.query = (qid, qtype, qname)
            msg = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", qtype, 1)
            return self.udp(f, True, f.sport, 53, msg)
        qid, qtype, qname = f.query
        f.query = None
        f.sport = 1024 + (f.sport - 1024 + 7) % (65536 - 1024)
        if qtype == 1:
            rdata = bytes([192, 0, 2, rng.randrange(1, 255)])
        else:
            rdata = bytes([0x20, 0x01, 0x0D, 0xB8]) + rng.randbytes(12)
        answer = struct.pack("!HHHIH", 0xC00C, qtype, 1, rng.randrange(30, 86400), len(rdata)) + rdata
        msg = struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + qname + struct.pack("!HH", qtype, 1) + answer
        return self.udp(f, False, 53, (f.sport - 1024 - 7) % (65536 - 1024) + 1024, msg)

    def udp(self, f, from_client, sport, dport, body):
        head = struct.pack("!HHHH", sport, dport, 8 + len(body), 0)
        return self.l3_frame(f, from_client, 17, head, 6, body)

    def other_udp(self, f):
        side = self.rng.random() < 0.6
        body = self.payload(self.room(f, 8))
        if side:
            return self.udp(f, True, f.sport, f.dport, body)
        return self.udp(f, False, f.dport, f.sport, body)

    def icmp(self, f):
        request = f.step % 2 == 0
        f.step += 1
        if f.v6:
            proto, kind = 58, (128 if request else 129)
        else:
            proto, kind = 1, (8 if request else 0)
        body = self.payload(56)
        head = struct.pack("!BBHHH", kind, 0, 0, f.index & 0xFFFF, (f.step // 2) & 0xFFFF)
        return self.l3_frame(f, request, proto, head, 2, body)

    def arp(self, f):
        request = f.step % 2 == 0
        f.step += 1
        if request:
            src, dst = f.client, f.server
            body = struct.pack("!HHBBH", 1, ETH_IP4, 6, 4, 1) + src.mac + src.ip + bytes(6) + dst.ip
            eth = self.ethernet(f, src.mac, b"\xff" * 6, ETH_ARP)
        else:
            src, dst = f.server, f.client
            body = struct.pack("!HHBBH", 1, ETH_IP4, 6, 4, 2) + src.mac + src.ip + dst.mac + dst.ip
            eth = self.ethernet(f, src.mac, dst.mac, ETH_ARP)
        frame = eth + body
        return frame + bytes(max(0, 60 - len(frame)))

    def frame(self):
        r = self.rng.random() * self.cumulative[-1]
        k = 0
        while r >= self.cumulative[k]:
            k += 1
        flows = self.by_kind[k]
        f = flows[min(int(self.rng.paretovariate(1.2)) - 1, len(flows) - 1)]
        return getattr(self, "other_udp" if f.kind == "udp" else f.kind)(f)


def parse_start(text):
    try:
        d = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError("--start: seconds since the epoch, e.g. 1700000000.25")
    ns = d * 10**9
    if ns != ns.to_integral_value() or ns < 0:
        raise argparse.ArgumentTypeError("--start: at most 9 decimals, not negative")
    return int(ns)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("out")
    ap.add_argument("--packets", type=int, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--start", type=parse_start, default=1700000000 * 10**9)
    ap.add_argument("--pps", type=float, default=100000.0)
    ap.add_argument("--flows", type=int, default=1000)
    ap.add_argument("--format", choices=["pcap", "pcap-ns", "pcapng"], default="pcap")
    ap.add_argument("--snap", type=int, default=262144)
    a = ap.parse_args()
    if a.packets < 0 or a.flows < 1 or a.pps <= 0 or a.snap < 1:
        ap.error("--packets >= 0, --flows >= 1, --pps > 0 and --snap >= 1")
    gen = Generator(a.seed, a.flows)
    rng = gen.rng
    out = sys.stdout.buffer if a.out == "-" else open(a.out, "wb")
    buf = []
    if a.format == "pcapng":
        shb = struct.pack("<IIIHHq", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
        opts = struct.pack("<HHB3x", 9, 1, 9) + struct.pack("<HH", 0, 0)
        idb_len = 20 + len(opts)
        buf.append(shb + struct.pack("<IIHHI", 1, idb_len, 1, 0, a.snap) + opts + struct.pack("<I", idb_len))
    else:
        magic = 0xA1B23C4D if a.format == "pcap-ns" else 0xA1B2C3D4
        buf.append(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, a.snap, 1))
    t = a.start
    mean_gap = 1e9 / a.pps
    for _ in range(a.packets):
        t += max(1, int(rng.expovariate(1.0) * mean_gap))
        pkt = gen.frame()
        wire = len(pkt)
        pkt = pkt[:a.snap]
        if a.format == "pcapng":
            pad = -len(pkt) & 3
            blen = 32 + len(pkt) + pad
            buf.append(struct.pack("<IIIIIII", 6, blen, 0, t >> 32, t & 0xFFFFFFFF, len(pkt), wire)
                       + pkt + bytes(pad) + struct.pack("<I", blen))
        else:
            sec, frac = divmod(t, 10**9)
            if a.format == "pcap":
                frac //= 1000
            buf.append(struct.pack("<IIII", sec, frac, len(pkt), wire) + pkt)
        if len(buf) >= 4096:
            out.write(b"".join(buf))
            buf.clear()
    out.write(b"".join(buf))
    out.flush()
    if out is not sys.stdout.buffer:
        out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
