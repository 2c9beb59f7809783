#!/usr/bin/env python3
"""Hand-made pcapng files for the tests of pktexport's pcapng reader.

  pcapng_craft.py DIR

Writes DIR/fs/<case>.pcapng and, for each, DIR/<case>.ns and DIR/<case>.us:
what `pcapng_read.py dump` must print for its PCAPNG_NS and PCAPNG_US
export (nanosecond timestamps computed here with exact integers), and
DIR/<case>.rc, the exit status pktexport must give (1: damaged input).
Cases: several link types and interfaces declared mid-stream (near the
start, and past the first megabyte so that libpcap meets them first), two
sections in both byte orders, every kind of if_tsresol, if_tsoffset,
simple and obsolete packet blocks, unknown blocks, damaged endings.
"""
import hashlib
import os
import random
import struct
import sys


class Capture:
    def __init__(self, rng):
        self.rng = rng
        self.blocks = []
        self.ifs = []        # global: (linktype, snaplen, name, units, offset)
        self.section = []    # global indices of the current section
        self.end = "<"
        self.expect = []     # (ifindex, ns, caplen, wirelen, data)

    def block(self, btype, body):
        body += b"\0" * (-len(body) % 4)
        total = len(body) + 12
        self.blocks.append(struct.pack(self.end + "II", btype, total) + body +
                           struct.pack(self.end + "I", total))

    def option(self, code, value):
        return struct.pack(self.end + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)

    def shb(self, end):
        self.end = end
        self.section = []
        self.block(0x0A0D0D0A, struct.pack(end + "IHHq", 0x1A2B3C4D, 1, 0, -1) +
                   self.option(4, b"pcapng_craft") + self.option(0, b""))

    def idb(self, linktype, snaplen, name="", tsresol=None, offset=0):
        opts = b""
        if name:
            opts += self.option(2, name.encode())
        if tsresol is not None:
            opts += self.option(9, bytes([tsresol]))
        if offset:
            opts += self.option(14, struct.pack(self.end + "q", offset))
        if opts:
            opts += self.option(0, b"")
        self.block(1, struct.pack(self.end + "HHI", linktype, 0, snaplen) + opts)
        v = 6 if tsresol is None else tsresol
        units = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        self.section.append(len(self.ifs))
        self.ifs.append((linktype, snaplen, name, units, offset))

    def frame(self, size):
        return self.rng.randbytes(size)

    def ns(self, gidx, t):
        units, offset = self.ifs[gidx][3], self.ifs[gidx][4]
        return (t // units + offset) * 10**9 + (t % units) * 10**9 // units

    def epb(self, local, t, size, wire=None, obsolete=False):
        data, wire = self.frame(size), size if wire is None else wire
        if obsolete:
            head = struct.pack(self.end + "HHIIII", local, 0, t >> 32, t & 0xFFFFFFFF, size, wire)
        else:
            head = struct.pack(self.end + "IIIII", local, t >> 32, t & 0xFFFFFFFF, size, wire)
        self.block(2 if obsolete else 6, head + data + b"\0" * (-size % 4) +
                   self.option(1, b"comment") + self.option(0, b""))
        g = self.section[local]
        self.expect.append((g, self.ns(g, t), size, wire, data))

    def spb(self, wire):
        g = self.section[0]
        snap = self.ifs[g][1]
        cap = min(wire, snap) if snap else wire
        data = self.frame(cap)
        self.block(3, struct.pack(self.end + "I", wire) + data)
        self.expect.append((g, 0, cap, wire, data))

    def other(self, btype, size):
        self.block(btype, self.frame(size))

    def write(self, d, name, damage=b"", rc=0):
        open(os.path.join(d, "fs", name + ".pcapng"), "wb").write(b"".join(self.blocks) + damage)
        for unit, ext in ((1, "ns"), (1000, "us")):
            with open(os.path.join(d, name + "." + ext), "w") as f:
                for i, (lt, snap, ifname, _, _) in enumerate(self.ifs):
                    f.write("if %d linktype=%d snaplen=%d name=%s\n" % (i, lt, snap, ifname))
                for g, ns, cap, wire, data in self.expect:
                    f.write("pkt if=%d ts=%d cap=%d len=%d sha=%s\n" % (
                        g, ns // unit * unit, cap, wire, hashlib.sha1(data).hexdigest()[:16]))
        open(os.path.join(d, name + ".rc"), "w").write("%d\n" % rc)


T0 = 1700000000


def midstream(d, rng, name, before, linktype=113, ifname="any"):
    """An Ethernet interface, `before` packets, then a second interface
    (Linux SLL unless told; an Ethernet one like the first is what libpcap
    would report as the first)."""
    c = Capture(rng)
    c.shb("<")
    c.idb(1, 65535, "eth0", 9)
    for i in range(before):
        c.epb(0, T0 * 10**9 + i * 1000 + 7, 1000)
    c.idb(linktype, 65535, ifname, 9)
    c.epb(1, T0 * 10**9 + 5 * 10**6, 80)
    c.epb(0, T0 * 10**9 + 6 * 10**6 + 999, 60)
    c.epb(1, T0 * 10**9 + 7 * 10**6 + 1, 100)
    c.write(d, name)


def sections(d, rng):
    """Two sections, little then big endian, unknown blocks around."""
    c = Capture(rng)
    c.shb("<")
    c.other(0x00000FFF, 24)  # a type nobody has assigned
    c.idb(1, 262144, "eth0", 6)
    c.idb(101, 1500, "tun0", 3)
    c.epb(0, T0 * 10**6 + 123456, 98)
    c.block(4, struct.pack("<HH", 1, 9) + b"\x0a\0\0\1host\0\0\0\0" + struct.pack("<HH", 0, 0))
    c.epb(1, T0 * 10**3 + 999, 60, obsolete=True)
    c.epb(0, T0 * 10**6 + 1, 1514, wire=3000)
    c.block(5, struct.pack("<III", 0, 0, 0))  # interface statistics
    c.other(0x80000001, 8)  # local use
    c.shb(">")
    c.idb(1, 128, "", None)
    c.idb(113, 0, "sll", 0x80 | 20, offset=-3600)
    c.spb(300)              # cut to the snap length 128
    c.spb(40)
    c.epb(1, (T0 + 3600) * 2**20 + 2**19 + 1, 200)
    c.epb(0, T0 * 10**6 + 77, 128, wire=1400)
    c.write(d, "sections")


def resolutions(d, rng):
    """Every kind of if_tsresol, including remainders whose scaling needs
    more than 64 bits."""
    c = Capture(rng)
    c.shb(">")
    for v in (0, 3, 6, 9, 12, 19, 0x80 | 0, 0x80 | 10, 0x80 | 40, 0x80 | 63):
        c.idb(1, 65535, "r%x" % v, v)
    for local, v in enumerate((0, 3, 6, 9, 12, 19, 0x80, 0x80 | 10, 0x80 | 40, 0x80 | 63)):
        units = 2 ** (v & 0x7F) if v & 0x80 else 10 ** v
        sec = T0 if units < 2**30 else (2**64 - 1) // units
        for frac in (0, 1, units - 1, units // 3):
            t = sec * units + frac
            if t < 2**64:
                c.epb(local, t, 64)
    c.write(d, "resolutions")


def damaged(d, rng):
    """Packets, then a block whose length runs past the end of the file:
    the export keeps the packets before it and exits 1."""
    c = Capture(rng)
    c.shb("<")
    c.idb(1, 65535, "eth0", 9)
    c.idb(0, 65535, "lo", 9)
    for i in range(5):
        c.epb(i % 2, T0 * 10**9 + i, 100)
    c.write(d, "damaged", damage=struct.pack("<II", 6, 4096) + b"\0" * 40, rc=1)
    c = Capture(rng)
    c.shb("<")
    c.idb(1, 65535, "eth0", 9)
    c.idb(0, 65535, "lo", 9)
    c.epb(0, T0 * 10**9, 100)
    c.epb(1, T0 * 10**9 + 1, 100)
    good = c.blocks[:]
    c.epb(0, T0 * 10**9 + 2, 100)
    bad = bytearray(c.blocks[-1])
    bad[-4:] = struct.pack("<I", 4)  # trailing length differs
    c.blocks = good + [bytes(bad)]
    c.expect.pop()
    c.write(d, "badtrailer", rc=1)


def main():
    d = sys.argv[1]
    os.makedirs(os.path.join(d, "fs"), exist_ok=True)
    rng = random.Random(11)
    midstream(d, rng, "midstream-near", 3)
    midstream(d, rng, "midstream-far", 1500)
    midstream(d, rng, "midstream-same-far", 1500, 1, "eth1")
    sections(d, rng)
    resolutions(d, rng)
    damaged(d, rng)


if __name__ == "__main__":
    main()
