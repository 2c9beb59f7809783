#!/bin/bash
# Downloads over HTTPS against the same over plain HTTP, in one run: one
# pktexportd serving HTTPS (a self-signed certificate made here) with a
# plain listener on loopback beside it, a ~1 GB synthetic capture exported
# whole in BUFFER_STREAM and PREPARE, each download fetched with curl to
# /dev/null RUNS times (default 5); medians and the HTTPS/HTTP ratio.
#
#   BUILD=build-dir bench/https.sh [PACKETS]
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
PACKETS=${1:-2900000}
F=$(big_capture https.pcap "$PACKETS")
API=/api/npm.packet_export/1.3
size=$(stat -c %s "$F")
echo "capture: $F, $((size / 1000000)) MB, $PACKETS packets"
cat "$F" >/dev/null

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj /CN=bench -addext subjectAltName=IP:127.0.0.1 \
	-keyout "$BENCH_DIR/tls.key" -out "$BENCH_DIR/tls.crt" 2>/dev/null
"$PKTEXPORTD" --root "$BENCH_DIR/root" --listen 127.0.0.1:0 \
	--tls-cert "$BENCH_DIR/tls.crt" --tls-key "$BENCH_DIR/tls.key" \
	--plain-listen 127.0.0.1:0 >"$BENCH_DIR/addr" 2>"$BENCH_DIR/daemon.log" &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null' EXIT
for _ in $(seq 100); do [ "$(wc -l <"$BENCH_DIR/addr")" -ge 2 ] && break; sleep 0.05; done
TLS=https://$(sed -n 1p "$BENCH_DIR/addr")$API
PLAIN=http://$(sed -n 2p "$BENCH_DIR/addr")$API
CURL=(curl -sf --cacert "$BENCH_DIR/tls.crt")

create() { # create BASE MODE -> id (a PREPARE export is spooled first)
	local id
	id=$("${CURL[@]}" -X POST "$1/exports" \
		-d "{\"config\": {\"path\": \"fs/https.pcap\", \"mode\": \"$2\"}}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
	if [ "$2" = PREPARE ]; then
		for _ in $(seq 600); do
			# Spooled: READY at progress 100.
			"${CURL[@]}" "$1/exports/items/$id" | grep -q '"progress":100' && break
			sleep 0.1
		done
	fi
	echo "$id"
}

printf '%-14s %10s %10s %8s\n' mode http_s https_s ratio
for mode in BUFFER_STREAM PREPARE; do
	hs=() ss=()
	for _ in $(seq "$RUNS"); do
		for base in "$PLAIN" "$TLS"; do
			id=$(create "$base" "$mode")
			timed t "${CURL[@]}" -o /dev/null "$base/packets/items/$id"
			if [ "$base" = "$PLAIN" ]; then hs+=("${t% *}"); else ss+=("${t% *}"); fi
			"${CURL[@]}" -X DELETE "$base/exports/items/$id" >/dev/null || true
		done
	done
	hmed=$(printf '%s\n' "${hs[@]}" | median)
	smed=$(printf '%s\n' "${ss[@]}" | median)
	printf '%-14s %10s %10s %8s\n' "$mode" "$hmed" "$smed" "$(ratio "$smed" "$hmed")"
done
echo "negotiated: $(echo | openssl s_client -connect "$(sed -n 1p "$BENCH_DIR/addr")" \
	2>/dev/null | grep -o 'TLSv1.[23], Cipher is [A-Z0-9_-]*')"
echo "kernel TLS: $(grep -qw tls /proc/sys/net/ipv4/tcp_available_ulp 2>/dev/null &&
	echo available || echo 'not available (no tls ULP)')"
