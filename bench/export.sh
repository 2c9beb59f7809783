#!/bin/bash
# `pktexport export` against `tcpdump -r F -w OUT EXPR` on the same synthetic
# capture (default ~1.1 GB), in the same run: median wall time of RUNS
# alternating runs each, the ratio, and peak memory.  Outputs are checked to
# hold the same records.
#
#   BUILD=build-dir bench/export.sh [PACKETS]
. "$(dirname "$0")/lib.sh"
PACKETS=${1:-2500000}
F=$(big_capture bench.pcap "$PACKETS")
OUT=${OUT_DIR:-$BENCH_DIR/out}
mkdir -p "$OUT"
size=$(stat -c %s "$F")
echo "capture: $F, $((size / 1000000)) MB, $PACKETS packets; outputs in $OUT"
cat "$F" >/dev/null # warm the page cache for both tools alike
printf '%-16s %10s %10s %8s %12s %12s\n' filter tcpdump_s pktexport_s ratio tcpdump_kb pktexport_kb
for expr in "" "tcp" "udp port 53" "vlan or ip6"; do
	ts=() ps=() tm=0 pm=0
	args=()
	[ -n "$expr" ] && args=(-f "BPF:$expr")
	for k in $(seq "$RUNS"); do
		# Outputs are removed untimed, so neither tool pays for freeing
		# the previous run's pages; each timed run starts with nothing
		# waiting to be written back (sync), and the tools take turns
		# going first (the second would else write while the first's
		# output is being written back).
		rm -f "$OUT/ref.pcap" "$OUT/out.pcap"
		sync
		if [ $((k % 2)) = 1 ]; then
			timed t tcpdump -r "$F" -w "$OUT/ref.pcap" $expr
			sync
		fi
		timed p "$PKTEXPORT" export --root "$BENCH_DIR/root" -o "$OUT/out.pcap" "${args[@]}" fs/bench.pcap
		if [ $((k % 2)) = 0 ]; then
			sync
			timed t tcpdump -r "$F" -w "$OUT/ref.pcap" $expr
		fi
		ts+=("${t% *}")
		[ "${t#* }" -gt "$tm" ] && tm=${t#* }
		ps+=("${p% *}")
		[ "${p#* }" -gt "$pm" ] && pm=${p#* }
	done
	if ! cmp -s <(tail -c +25 "$OUT/ref.pcap") <(tail -c +25 "$OUT/out.pcap"); then
		echo "MISMATCH for '$expr'" >&2
		exit 1
	fi
	tmed=$(printf '%s\n' "${ts[@]}" | median)
	pmed=$(printf '%s\n' "${ps[@]}" | median)
	printf '%-16s %10s %10s %8s %12s %12s\n' "${expr:-(none)}" "$tmed" "$pmed" "$(ratio "$pmed" "$tmed")" "$tm" "$pm"
	rm -f "$OUT/ref.pcap" "$OUT/out.pcap"
done
echo "ratio = pktexport time / tcpdump time (below 1: pktexport is faster)"
