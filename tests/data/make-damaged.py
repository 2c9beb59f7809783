#!/usr/bin/env python3
"""Writes the deliberately damaged captures of corpus/ from its intact
ones (run from tests/data/; the results are committed, so this only
documents and reproduces how they were made)."""
import struct

D = "corpus/"


def read(name):
    with open(D + name, "rb") as f:
        return bytearray(f.read())


def write(name, data):
    with open(D + name, "wb") as f:
        f.write(data)


# The file ends 30 bytes into the last packet's data.
b = read("bfd-multihop.pcap")
write("damaged-cut-record.pcap", b[:-30])
# A pcapng file ending inside a block, as a copy interrupted would.
b = read("OSPFv2_Capture_FINAL.pcapng")
write("damaged-cut-block.pcapng", b[:len(b) * 2 // 3 + 5])
# After five good records, a record header claiming 2 GiB of data.
b = read("LACP.pcap")
off = 24
for _ in range(5):
    off += 16 + struct.unpack_from("<I", b, off + 8)[0]
struct.pack_into("<I", b, off + 8, 0x7FFFFFFF)
write("damaged-huge-caplen.pcap", b)
# A file header and no packet at all.
write("empty.pcap", read("LACP.pcap")[:24])
