#!/bin/bash
# A 1-second window from packet stores of ~1 GB and ~4 GB (made of the same
# traffic), against `editcap -A -B` over the same 4 GB capture, all in one
# run.  Prints times, ratios and peak RSS.
#
#   bench/store.sh [BUILD_DIR]
#   SCALE_MB=4096 (size of the large store), BENCH_DIR=/tmp/pktexport-bench-store,
#   KEEP=1 keeps the generated data.
set -eu
BUILD=${1:-.}
SRC=$(cd "$(dirname "$0")/.." && pwd)
GENCAP=${GENCAP:-$SRC/tools/gencap.py}
SCALE_MB=${SCALE_MB:-4096}
DIR=${BENCH_DIR:-/tmp/pktexport-bench-store}
PPS=100000 # gencap.py's default rate: ~37 MB of packets per second
export PKTEXPORT_PLUGIN_DIR=$BUILD/plugins/.libs
export PKTEXPORT_STORE=$BUILD/pktexport-store
PKTEXPORT=$BUILD/pktexport
command -v editcap >/dev/null || {
	echo "editcap is needed (wireshark-common / tshark)"
	exit 77
}
mkdir -p "$DIR/root"
[ "${KEEP:-}" ] || trap 'rm -rf "$DIR"' EXIT

# gencap.py writes ~370 bytes a packet on average; the same seed gives the
# same first packets, so the small capture is the start of the large one.
big_packets=$((SCALE_MB * 1000000 / 370))
small_packets=$((big_packets / 4))
start=1700000000
for n in small big; do
	p=${n}_packets
	if [ ! -s "$DIR/$n.pcap" ]; then
		echo "generating $n.pcap (${!p} packets)..." >&2
		python3 "$GENCAP" "$DIR/$n.pcap" --packets "${!p}" --seed 5 \
			--start $start --pps $PPS
	fi
	if [ ! -d "$DIR/root/jobs/$n" ]; then
		/usr/bin/time -f "import $n: %e s, %M KB" "$PKTEXPORT" store import \
			--root "$DIR/root" "$n" "$DIR/$n.pcap"
	fi
done
du -sh "$DIR/big.pcap" "$DIR/root/jobs/small" "$DIR/root/jobs/big" >&2

# One second in the middle of the small store's traffic.
read -r a b < <(awk -v n="$small_packets" -v pps=$PPS -v s=$start 'BEGIN {
	m = n / pps / 2; printf "%d.%09d %d.%09d\n", s + int(m - 0.5),
	(m - 0.5 - int(m - 0.5)) * 1e9, s + int(m + 0.5), (m + 0.5 - int(m + 0.5)) * 1e9 }')

now() { date +%s.%N; }
# Best-of-5 wall time of a command in seconds, and its peak RSS in KB.
measure() {
	local t0 t1 t best=
	for _ in 1 2 3 4 5; do
		# Each run writes a fresh file, as editcap does: freeing the
		# previous run's pages is not part of the export.
		for arg in "$@"; do
			case $arg in "$DIR"/out-*) rm -f "$arg" ;; esac
		done
		t0=$(now)
		"$@" >/dev/null 2>&1
		t1=$(now)
		t=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b - a}')
		if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
			best=$t
		fi
	done
	/usr/bin/time -o "$DIR/time" -f "%M" "$@" >/dev/null 2>&1
	echo "$best $(tail -1 "$DIR/time")"
}
store_args() {
	echo export --root "$DIR/root" -o "$DIR/out-$1.pcap" -F PCAP_NS \
		--start "$a" --end "$b" "jobs/$1"
}
cat "$DIR/big.pcap" "$DIR"/root/jobs/*/* >/dev/null 2>&1 # warm page cache
# shellcheck disable=SC2046
t_small=$(measure "$PKTEXPORT" $(store_args small))
# shellcheck disable=SC2046
t_big=$(measure "$PKTEXPORT" $(store_args big))
rm -f "$DIR/editcap.pcap"
t0=$(now)
/usr/bin/time -o "$DIR/time" -f "%M" editcap -A "$a" -B "$b" "$DIR/big.pcap" \
	"$DIR/editcap.pcap"
t1=$(now)
t_edit="$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.4f", b - a}') $(tail -1 "$DIR/time")"
n_out=$(tcpdump -r "$DIR/out-big.pcap" 2>/dev/null | wc -l)
n_small=$(tcpdump -r "$DIR/out-small.pcap" 2>/dev/null | wc -l)
n_edit=$(tcpdump -r "$DIR/editcap.pcap" 2>/dev/null | wc -l)
echo "window [$a, $b): $n_out packets from the 4x store, $n_small from the 1x store, editcap $n_edit"
printf "%-28s %8s s %8s KB\n" "pktexport, ${SCALE_MB} MB store" ${t_big} \
	"pktexport, $((SCALE_MB / 4)) MB store" ${t_small} \
	"editcap -A -B, ${SCALE_MB} MB" ${t_edit}
awk -v b="${t_big% *}" -v s="${t_small% *}" -v e="${t_edit% *}" 'BEGIN {
	if (b < 0.01) b = 0.01; if (s < 0.01) s = 0.01;
	printf "editcap / pktexport (4x store): %.1f (goal >= 50)\n", e / b
	printf "4x store / 1x store:            %.2f (goal <= 1.3)\n", b / s }'
[ "$n_out" = "$n_edit" ] && [ "$n_out" = "$n_small" ] || {
	echo "packet counts differ"
	exit 1
}
