#!/bin/bash
# pcapng output and input speed, against PCAP_US export of the same
# synthetic capture (default ~1.1 GB) in the same run: median wall time of
# RUNS alternating pairs, the ratios of wall and CPU time, peak memory.
#   PCAPNG_NS / PCAPNG_US output of the pcap capture (the goal: <= 1.1x);
#   PCAP_US output of its PCAPNG_NS export read by libpcap (one interface)
#   and by our pcapng reader (the same file with a second interface).
# Outputs are checked to hold the same packets as the reference.
#
#   BUILD=build-dir bench/pcapng.sh [PACKETS]
BENCH_DIR=${BENCH_DIR:-/tmp/pktexport-bench-pcapng}
. "$(dirname "$0")/lib.sh"
PACKETS=${1:-2500000}
F=$(big_capture bench.pcap "$PACKETS")
ROOT=$BENCH_DIR/root
OUT=${OUT_DIR:-$BENCH_DIR/out}
mkdir -p "$OUT"
size=$(stat -c %s "$F")
echo "capture: $F, $((size / 1000000)) MB, $PACKETS packets; outputs in $OUT"

run() { # run FORMAT SOURCE
	"$PKTEXPORT" export --root "$ROOT" -F "$1" -o "$OUT/out.$1" "$2"
}

# The pcapng inputs: our own PCAPNG_NS export (libpcap reads it), and the
# same with a second interface described, which our reader takes.
if [ ! -s "$ROOT/fs/one.pcapng" ] || [ ! -s "$ROOT/fs/two.pcapng" ]; then
	run PCAPNG_NS fs/bench.pcap
	mv "$OUT/out.PCAPNG_NS" "$ROOT/fs/one.pcapng"
	python3 - "$ROOT/fs/one.pcapng" "$ROOT/fs/two.pcapng" <<'PY'
import shutil, struct, sys
src, dst = open(sys.argv[1], "rb"), open(sys.argv[2], "wb")
for _ in range(2):  # the section header and the first interface
    head = src.read(8)
    dst.write(head + src.read(struct.unpack("<I", head[4:])[0] - 8))
body = struct.pack("<HHI", 1, 0, 65535) + struct.pack("<HHB3xHH", 9, 1, 9, 0, 0)
dst.write(struct.pack("<II", 1, len(body) + 12) + body + struct.pack("<I", len(body) + 12))
shutil.copyfileobj(src, dst, 1 << 22)
PY
fi
cat "$F" "$ROOT/fs/one.pcapng" "$ROOT/fs/two.pcapng" >/dev/null # warm the cache

# once FORMAT SOURCE: sets $wall $cpu (user+sys) and $kb for one export.
once() {
	rm -f "$OUT/out.$1"
	/usr/bin/time -f "%e %U %S %M" -o "$BENCH_DIR/.time" \
		"$PKTEXPORT" export --root "$ROOT" -F "$1" -o "$OUT/out.$1" "$2"
	read -r wall u s kb <"$BENCH_DIR/.time"
	cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

printf '%-36s %7s %7s %7s %7s %7s %9s %9s\n' case wall ref_wall ratio cpu ref_cpu cpu_ratio peak_kb
# row LABEL FORMAT SOURCE: RUNS pairs (reference export, then the case),
# so load from other users hits both alike; medians of each.
row() {
	local rw=() rc=() cw=() cc=() m=0
	for _ in $(seq "$RUNS"); do
		once PCAP_US fs/bench.pcap
		rw+=("$wall") rc+=("$cpu")
		once "$2" "$3"
		cw+=("$wall") cc+=("$cpu")
		[ "$kb" -gt "$m" ] && m=$kb
	done
	local a b c d
	a=$(printf '%s\n' "${cw[@]}" | median) b=$(printf '%s\n' "${rw[@]}" | median)
	c=$(printf '%s\n' "${cc[@]}" | median) d=$(printf '%s\n' "${rc[@]}" | median)
	printf '%-36s %7s %7s %7s %7s %7s %9s %9s\n' "$1" "$a" "$b" "$(ratio "$a" "$b")" \
		"$c" "$d" "$(ratio "$c" "$d")" "$m"
}
once PCAP_US fs/bench.pcap
mv "$OUT/out.PCAP_US" "$OUT/ref.pcap"
row "PCAPNG_NS of bench.pcap" PCAPNG_NS fs/bench.pcap
row "PCAPNG_US of bench.pcap" PCAPNG_US fs/bench.pcap
row "PCAP_US of one.pcapng (libpcap)" PCAP_US fs/one.pcapng
cmp -s "$OUT/out.PCAP_US" "$OUT/ref.pcap" || { echo "MISMATCH one.pcapng" >&2; exit 1; }
row "PCAP_US of two.pcapng (our reader)" PCAP_US fs/two.pcapng
cmp -s "$OUT/out.PCAP_US" "$OUT/ref.pcap" || { echo "MISMATCH two.pcapng" >&2; exit 1; }
rm -f "$OUT"/out.* "$OUT/ref.pcap"
echo "ratio = case / PCAP_US export of bench.pcap, run in alternation (wall and user+sys CPU)"
