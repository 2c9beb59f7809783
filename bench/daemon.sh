#!/bin/bash
# pktexportd measured from outside, in one run on one synthetic capture:
#  1. a full-file BPF export downloaded with curl, against
#     `tcpdump -r F -w OUT EXPR` (median of RUNS; ratio; same records);
#  2. 16 concurrent downloads of different exports, each checked against
#     `pktexport export`, with the daemon's peak resident memory;
#  3. requests per second of GET /exports (wrk) while a large export streams.
#
#   BUILD=build-dir bench/daemon.sh [PACKETS]
. "$(dirname "$0")/lib.sh"
PACKETS=${1:-2500000}
F=$(big_capture bench.pcap "$PACKETS")
OUT=${OUT_DIR:-$BENCH_DIR/out}
mkdir -p "$OUT"
API=/api/npm.packet_export/1.3
size=$(stat -c %s "$F")
echo "capture: $F, $((size / 1000000)) MB, $PACKETS packets"
cat "$F" >/dev/null

"$PKTEXPORTD" --root "$BENCH_DIR/root" --listen 127.0.0.1:0 >"$BENCH_DIR/addr" 2>"$BENCH_DIR/daemon.log" &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null; rm -f "$OUT"/dl-*.pcap "$OUT"/ref-*.pcap' EXIT
for _ in $(seq 100); do [ -s "$BENCH_DIR/addr" ] && break; sleep 0.05; done
ADDR=$(head -n 1 "$BENCH_DIR/addr")
URL=http://$ADDR$API

create() { # create CONFIG_JSON -> id
	curl -sf -X POST "$URL/exports" -d "{\"config\": $1}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'
}
bpf_config() {
	if [ -n "$1" ]; then
		printf '{"path": "fs/bench.pcap", "filters": {"items": [{"id": "b", "type": "BPF", "value": "%s"}]}}' "$1"
	else
		printf '{"path": "fs/bench.pcap"}'
	fi
}

echo "== 1. download through the daemon vs tcpdump"
printf '%-12s %10s %10s %8s\n' filter tcpdump_s curl_s ratio
for expr in "" "tcp"; do
	ts=() cs=()
	for k in $(seq "$RUNS"); do
		# As bench/cli.sh: each timed run after sync, the two taking
		# turns going first.
		rm -f "$OUT/ref-1.pcap" "$OUT/dl-1.pcap"
		id=$(create "$(bpf_config "$expr")")
		sync
		if [ $((k % 2)) = 1 ]; then
			timed t tcpdump -r "$F" -w "$OUT/ref-1.pcap" $expr
			sync
			timed c curl -sf -o "$OUT/dl-1.pcap" "$URL/packets/items/$id"
		else
			timed c curl -sf -o "$OUT/dl-1.pcap" "$URL/packets/items/$id"
			sync
			timed t tcpdump -r "$F" -w "$OUT/ref-1.pcap" $expr
		fi
		ts+=("${t% *}")
		cs+=("${c% *}")
	done
	cmp -s <(tail -c +25 "$OUT/ref-1.pcap") <(tail -c +25 "$OUT/dl-1.pcap") || {
		echo "MISMATCH for '$expr'" >&2
		exit 1
	}
	tmed=$(printf '%s\n' "${ts[@]}" | median)
	cmed=$(printf '%s\n' "${cs[@]}" | median)
	printf '%-12s %10s %10s %8s\n' "${expr:-(none)}" "$tmed" "$cmed" "$(ratio "$cmed" "$tmed")"
done
rm -f "$OUT/ref-1.pcap" "$OUT/dl-1.pcap"

echo "== 2. 16 concurrent downloads"
exprs=("" tcp udp ip6 vlan "tcp port 80" "udp port 53" icmp arp "not tcp" "greater 1000"
	"less 100" "ip and udp" "tcp port 443" "ip6 and tcp" "vlan and udp")
[ "${#exprs[@]}" = 16 ]
ids=()
for e in "${exprs[@]}"; do ids+=("$(create "$(bpf_config "$e")")"); done
peak=0
start=$(date +%s.%N)
pids=()
for i in "${!ids[@]}"; do
	(curl -sf "$URL/packets/items/${ids[$i]}" | sha256sum >"$BENCH_DIR/sum-$i") &
	pids+=($!)
done
running() { for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && return 0; done; return 1; }
while running; do
	rss=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
	[ "$rss" -gt "$peak" ] && peak=$rss
	sleep 0.1
done
wait "${pids[@]}"
wait_end=$(date +%s.%N)
bad=0
for i in "${!ids[@]}"; do
	args=()
	[ -n "${exprs[$i]}" ] && args=(-f "BPF:${exprs[$i]}")
	want=$("$PKTEXPORT" export --root "$BENCH_DIR/root" -o - "${args[@]}" fs/bench.pcap | sha256sum)
	[ "$want" = "$(cat "$BENCH_DIR/sum-$i")" ] || { echo "download $i ('${exprs[$i]}') differs" >&2; bad=1; }
done
hwm=$(awk '/VmHWM/ {print $2}' /proc/$DPID/status)
echo "16 downloads: $(awk -v a="$start" -v b="$wait_end" 'BEGIN{printf "%.1f", b-a}') s, all equal to pktexport export: $([ $bad = 0 ] && echo yes || echo NO)"
echo "daemon resident memory: peak sampled ${peak} kB, high-water mark ${hwm} kB"

echo "== 3. GET /exports while a large export streams"
if command -v wrk >/dev/null; then
	id=$(create "$(bpf_config "")")
	curl -sf --limit-rate 50M -o /dev/null "$URL/packets/items/$id" &
	CURL=$!
	wrk -t2 -c16 -d10s "$URL/exports" | grep -E 'Requests/sec|Latency'
	kill $CURL 2>/dev/null || true
else
	echo "wrk not installed"
fi
[ $bad = 0 ]
