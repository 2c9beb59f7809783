#!/bin/bash
# SteelFilter against BPF: the same export written as SteelFilter (compiled
# to BPF), as its VLAN-aware BPF equivalent, and through the evaluator
# (PKTEXPORT_STEELFILTER_EVALUATOR=1); prints each time, the ratio to the
# BPF export measured in the same run, and peak RSS.
#   bench/steelfilter.sh [PACKETS] [ROUNDS]   (build dir: BUILD=...)
set -eu
PACKETS=${1:-1000000}
ROUNDS=${2:-5}
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$PWD}
PKTEXPORT=${PKTEXPORT:-$BUILD/pktexport}
export PKTEXPORT_PLUGIN_DIR=${PKTEXPORT_PLUGIN_DIR:-$BUILD/plugins/.libs}
GENCAP=${GENCAP:-$TOP/tools/gencap.py}
DIR=/tmp/pktexport-bench-steelfilter
[ -x "$PKTEXPORT" ] || { echo "no pktexport at $PKTEXPORT (set BUILD)"; exit 1; }
mkdir -p "$DIR/fs"
trap 'rm -rf "$DIR"' EXIT
python3 "$GENCAP" "$DIR/fs/in.pcap" --packets "$PACKETS" --seed 5
echo "input: $PACKETS packets, $(stat -c %s "$DIR/fs/in.pcap") bytes"

X='tcp port 80 or udp port 53'
declare -A FILTERS=(
	[bpf]="BPF:($X) or (vlan and (($X) or (vlan and ($X))))"
	[steelfilter]="STEELFILTER:tcp.port==80 or udp.port==53"
	[evaluator]="STEELFILTER:tcp.port==80 or udp.port==53"
)
declare -A BEST
run() { # NAME: microseconds of one export; peak RSS in $DIR/rss-NAME
	local name=$1 env=() t0 t1
	[ "$name" = evaluator ] && env=(PKTEXPORT_STEELFILTER_EVALUATOR=1)
	t0=$(date +%s%N)
	env "${env[@]}" /usr/bin/time -f %M -o "$DIR/rss-$name" "$PKTEXPORT" export \
		--root "$DIR" -o "$DIR/out-$name.pcap" -f "${FILTERS[$name]}" fs/in.pcap
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000))
}
for r in $(seq "$ROUNDS"); do
	for name in bpf steelfilter evaluator; do
		us=$(run "$name")
		if [ -z "${BEST[$name]:-}" ] || [ "$us" -lt "${BEST[$name]}" ]; then
			BEST[$name]=$us
		fi
	done
done
cmp -s "$DIR/out-bpf.pcap" "$DIR/out-steelfilter.pcap" || echo "WARNING: outputs differ"
cmp -s "$DIR/out-bpf.pcap" "$DIR/out-evaluator.pcap" || echo "WARNING: evaluator output differs"
for name in bpf steelfilter evaluator; do
	awk -v n="$name" -v t="${BEST[$name]}" -v ref="${BEST[bpf]}" -v rss="$(cat "$DIR/rss-$name")" \
		'BEGIN { printf "%-12s best of %d: %8.3f s  ratio %.3f  peak RSS %d KiB\n", n, '"$ROUNDS"', t / 1e6, t / ref, rss }'
done
