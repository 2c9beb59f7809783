#!/bin/bash
# WIRESHARK filters against `tshark -r F -Y EXPR -w OUT`, in the same run on
# the same synthetic capture: wall time, peak memory, and the ratios.
#
#   bench/wireshark.sh [PACKETS] [BUILD_DIR]     (defaults: 500000, .)
#
# pktexport's memory, from what the plugin logs with -v (/usr/bin/time
# would report only the largest process): the service's peak, plus the
# larger of the fork server's peak (libwireshark starting) and what the
# server holds afterwards plus the helper's memory not shared with it
# (the helper is forked from the server, so most of its pages are the
# server's).  Every output is checked against tshark's.
set -u
PACKETS=${1:-500000}
BUILD=$(cd "${2:-.}" && pwd)
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIR=${PKTEXPORT_BENCH_DIR:-/tmp/pktexport-bench-wireshark}
GENCAP=${GENCAP:-$SRC/tools/gencap.py}
export PKTEXPORT_PLUGIN_DIR=$BUILD/plugins/.libs
export PKTEXPORT_WIRESHARK_HELPER=$BUILD/plugins/pktexport-wireshark-helper
for t in tshark /usr/bin/time python3; do
	command -v "$t" >/dev/null || { echo "needs $t"; exit 1; }
done

mkdir -p "$DIR/fs"
trap 'rm -rf "$DIR"' EXIT
python3 "$GENCAP" "$DIR/fs/bench.pcap" --packets "$PACKETS" --seed 1
echo "capture: $PACKETS packets, $(($(stat -c %s "$DIR/fs/bench.pcap") / 1048576)) MB"

# run NAME ENV EXPR: one line of figures
run() {
	local name=$1 env=$2 expr=$3 t_s t_kb p_s p_kb h_kb s_kb s_now line n
	/usr/bin/time -f "%e %M" -o "$DIR/t.time" \
		tshark -r "$DIR/fs/bench.pcap" -Y "$expr" -w "$DIR/ref.pcapng" 2>/dev/null
	read -r t_s t_kb <"$DIR/t.time"
	env $env /usr/bin/time -f "%e %M" -o "$DIR/p.time" \
		"$BUILD/pktexport" export -v --root "$DIR" -F PCAPNG_NS \
		-o "$DIR/out.pcapng" -f "WIRESHARK:$expr" fs/bench.pcap 2>"$DIR/p.err"
	read -r p_s _ <"$DIR/p.time"
	line=$(grep 'helper peak RSS' "$DIR/p.err" | tail -1)
	h_kb=$(sed -n 's/.*(\([0-9]*\) kB not shared.*/\1/p' <<<"$line")
	s_kb=$(sed -n 's/.*fork server peak RSS: \([0-9]*\) kB.*/\1/p' <<<"$line")
	s_now=$(sed -n 's/.*fork server peak RSS: [0-9]* kB (\([0-9]*\) kB now).*/\1/p' <<<"$line")
	p_kb=$(sed -n 's/.*service peak RSS: \([0-9]*\) kB.*/\1/p' <<<"$line")
	h_kb=${h_kb:-0} s_kb=${s_kb:-0} s_now=${s_now:-0} p_kb=${p_kb:-0}
	# The server's share: its peak, or what it holds with the helper's own.
	[ $((s_now + h_kb)) -gt "$s_kb" ] && s_kb=$((s_now + h_kb))
	n=$(python3 "$SRC/tests/wireshark_records.py" --count "$DIR/out.pcapng")
	if python3 "$SRC/tests/wireshark_records.py" "$DIR/out.pcapng" "$DIR/ref.pcapng" >/dev/null; then
		same=same
	else
		same=DIFFERENT
	fi
	awk -v name="$name" -v expr="$expr" -v ts="$t_s" -v tk="$t_kb" -v ps="$p_s" \
		-v pk="$p_kb" -v hk="$s_kb" -v n="$n" -v same="$same" 'BEGIN {
		mem = pk + hk
		printf "%-12s %-28s %7d pkts %-9s tshark %6.1fs %5d MB | pktexport %6.1fs %4d MB (%d+%d) | %5.1fx faster, memory %.2f of tshark\n",
			name, expr, n, same, ts, tk / 1024, ps, mem / 1024, pk / 1024, hk / 1024,
			ts / (ps > 0 ? ps : 0.01), mem / tk }'
}

run pre-filter "" 'tcp.port == 443'
run frame-only "" 'frame contains "zq"'
run full "PKTEXPORT_WIRESHARK_FRAME_ONLY=0" 'frame contains "zq"'
run full "" 'dns'
