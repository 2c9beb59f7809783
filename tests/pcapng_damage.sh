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
finish
