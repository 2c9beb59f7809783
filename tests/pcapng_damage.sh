#!/bin/bash
# The pcapng reader against damage: every truncation and many corrupted
# bytes of hand-made files end in a clean exit (0, 1 with the packets
# before the damage, or 2), never a crash, and what is written is valid.
. "${TOP_SRCDIR}/tests/lib.sh"
need python3
READ="python3 $TOP_SRCDIR/tests/pcapng_read.py"
python3 "$TOP_SRCDIR/tests/pcapng_craft.py" "$WORK/made"

# Writes the variants of the two-section file and the mid-stream one:
# cut at, just after and inside every block header, and seeded byte
# corruptions.
python3 - "$WORK/made/fs" "$WORK/fs" <<'PY'
import os, random, struct, sys
src, dst = sys.argv[1:]
rng = random.Random(5)
for name in ("sections", "midstream-near"):
    d = open(os.path.join(src, name + ".pcapng"), "rb").read()
    cuts, o, end = set(), 0, "<"
    while o + 8 <= len(d):
        if d[o:o + 4] == b"\x0a\x0d\x0d\x0a":
            end = "<" if d[o + 8:o + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        cuts.update(n for n in (o, o + 4, o + 8, o + 12, o + 28) if n < len(d))
        o += struct.unpack(end + "I", d[o + 4:o + 8])[0]
    for n in sorted(cuts):
        open(os.path.join(dst, "%s-cut%05d.pcapng" % (name, n)), "wb").write(d[:n])
    for k in range(60):
        b = bytearray(d)
        for _ in range(rng.choice((1, 1, 2, 4))):
            at = rng.randrange(len(b))
            b[at] = rng.choice((0, 0xFF, rng.randrange(256), b[at] ^ 0x80))
        open(os.path.join(dst, "%s-bad%03d.pcapng" % (name, k)), "wb").write(bytes(b))
PY
crashes=0 written=0 invalid=0 runs=0
for f in "$WORK"/fs/*.pcapng; do
	runs=$((runs + 1))
	rm -f "$WORK/out"
	"$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS -o "$WORK/out" "fs/$(basename "$f")" 2>/dev/null
	rc=$?
	if [ "$rc" -gt 2 ]; then
		crashes=$((crashes + 1))
		echo "exit $rc on $(basename "$f")" >&2
	fi
	if [ -e "$WORK/out" ]; then
		written=$((written + 1))
		$READ check "$WORK/out" --tsresol 9 >/dev/null || invalid=$((invalid + 1))
	fi
done
check "no crash in $runs damaged inputs ($crashes)" test "$crashes" = 0
check "every output written is valid pcapng ($invalid of $written bad)" test "$invalid" = 0
check "some damaged inputs still give their first packets ($written)" test "$written" -gt 50

# Packets longer than libpcap reads for their link type: an interface's
# snap length of 0 or past the link type's maximum (262144 for most, 1 MiB
# USBPCAP, 8 MiB EBHSCR, 128 MiB DBUS) is that maximum, a packet longer
# than it is damage (a Simple Packet Block's is cut to it), as is a packet
# longer than its block.  Exit status and records as tcpdump's.
need tcpdump
mkdir -p "$WORK/big/fs"
python3 - "$WORK/big/fs" "$TOP_SRCDIR/tests" <<'PY'
import os, random, struct, sys
sys.path.insert(0, sys.argv[2])
from pcapng_craft import Capture
T = 1700000000 * 10**6
def make(name, linktype, snaplen, sizes, spb=False):
    c = Capture(random.Random(7))
    c.shb("<")
    c.idb(linktype, snaplen, "eth0")
    for i, n in enumerate(sizes):
        if spb:
            c.block(3, struct.pack("<I", n) + c.frame(min(n, 262144)))
        else:
            c.epb(0, T + i, n)
    open(os.path.join(sys.argv[1], name + ".pcapng"), "wb").write(b"".join(c.blocks))
make("huge-snap", 1, 0xFFFFFFFF, [60, 300000, 60])
make("zero-snap", 1, 0, [60, 300000, 60])
make("max-snap", 1, 0xFFFFFFFF, [60, 262144, 60])
make("16m", 1, 0, [60, 16 * 1024 * 1024 - 64])
make("usbpcap", 249, 0xFFFFFFFF, [60, 300000, 60, 1048577, 60])
make("ebhscr", 279, 0xFFFFFFFF, [60, 1048577, 60])
make("dbus", 231, 400000, [60, 300000, 60])
make("spb-cut", 1, 0, [60, 300000, 60], spb=True)
# A Simple Packet Block of 100 bytes that holds 60.
c = Capture(random.Random(8))
c.shb("<")
c.idb(1, 0)
for n in (60, 100, 60):
    c.block(3, struct.pack("<I", n) + c.frame(60))
open(os.path.join(sys.argv[1], "spb-short.pcapng"), "wb").write(b"".join(c.blocks))
# A negative if_tsoffset: times before 1970 become 0 (doc/pcapng.md).
c = Capture(random.Random(9))
c.shb("<")
c.idb(1, 0, "eth0", 9, -1700000100)
for i in range(3):
    c.epb(0, 1700000000 * 10**9 + i, 60)
c.idb(1, 0, "eth1", 9, -100)
c.epb(1, 1700000000 * 10**9 + 5, 60)
open(os.path.join(sys.argv[1], "tsoffset-neg.pcapng"), "wb").write(b"".join(c.blocks))
PY
for f in huge-snap zero-snap max-snap 16m usbpcap ebhscr dbus spb-cut spb-short; do
	rm -f "$WORK/out" "$WORK/ref"
	tcpdump --time-stamp-precision=nano -r "$WORK/big/fs/$f.pcapng" -w "$WORK/ref" 2>/dev/null
	trc=$?
	"$PKTEXPORT" export --root "$WORK/big" -F PCAP_NS -o "$WORK/out" "fs/$f.pcapng" 2>"$WORK/err"
	rc=$?
	check "$f: exit $rc, tcpdump's $trc" test "$rc" = "$trc"
	[ "$rc" = 1 ] && check "$f: damage" error_is SOURCE_DAMAGED "$WORK/err"
	check "$f: tcpdump's records" same_records "$WORK/out" "$WORK/ref"
done
rm -f "$WORK/out"
"$PKTEXPORT" export --root "$WORK/big" -F PCAPNG_NS -o "$WORK/out" fs/tsoffset-neg.pcapng 2>/dev/null
check "negative if_tsoffset: exit 0" test $? = 0
check "negative if_tsoffset: 0 before 1970, exact after" test \
	"$($READ dump "$WORK/out" | sed -n 's/^pkt if=\([0-9]*\) ts=\([0-9]*\) .*/\1:\2/p' | tr '\n' ' ')" = \
	"0:0 0:0 0:0 1:1699999900000000005 "
finish
