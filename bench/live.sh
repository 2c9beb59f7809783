#!/bin/bash
# Live capture on the loopback interface against tcpdump, in the same run:
# both capture the first N datagrams of a flood (one UDP port, 100-byte
# payloads, as fast as one Python process sends them) and write a pcap;
# the figures are CPU seconds (user + system) of the capturing process and
# the packets its kernel ring dropped.  Needs root (CAP_NET_RAW).
#
#   bench/live.sh [PACKETS] [BUILD_DIR]     (defaults: 300000, .)
set -u
N=${1:-300000}
BUILD=$(cd "${2:-.}" && pwd)
DIR=$(mktemp -d /tmp/pktexport-bench-live.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
export PKTEXPORT_PLUGIN_DIR=$BUILD/plugins/.libs
for t in tcpdump python3 /usr/bin/time; do
	command -v "$t" >/dev/null || { echo "needs $t"; exit 1; }
done
PORT=$(python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# flood: datagrams to PORT until the file STOP exists (at most 120 s).
flood() {
	python3 - "$PORT" "$DIR/stop" <<'EOF' &
import os, socket, sys, time
port, stop = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
payload, end, n = b"x" * 100, time.monotonic() + 120, 0
while time.monotonic() < end:
    for _ in range(1000):
        s.sendto(payload, ("127.0.0.1", port))
    n += 1000
    if os.path.exists(stop):
        break
EOF
}

# run NAME READY-TEXT COMMAND...: starts COMMAND, floods once READY-TEXT
# is on its stderr, stops the flood when it exits.
run() {
	local name=$1 ready=$2
	shift 2
	rm -f "$DIR/stop" "$DIR/err"
	/usr/bin/time -f "%U %S" -o "$DIR/time" "$@" 2>"$DIR/err" &
	local pid=$!
	for _ in $(seq 1 300); do
		grep -q "$ready" "$DIR/err" && break
		sleep 0.1
	done
	flood
	wait "$pid"
	touch "$DIR/stop"
	wait
	read -r u s <"$DIR/time"
	echo "$name $(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }') $(grep -Eo '[0-9]+ (packets )?dropped by (the )?kernel' "$DIR/err" | grep -Eo '^[0-9]+' | head -1)"
}

echo "capturing the first $N datagrams of a flood on lo"
t=$(run tcpdump "listening on" tcpdump -i lo -n -w "$DIR/t.pcap" -c "$N" "udp port $PORT")
p=$(run pktexport "capturing on" "$BUILD/pktexport" export -v --root "$DIR" -F PCAP_US \
	--packet-limit "$N" -f "BPF:udp port $PORT" -o "$DIR/p.pcap" interfaces/lo)
read -r _ tc td <<<"$t"
read -r _ pc pd <<<"$p"
count() { python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(); o, n = 24, 0
while o + 16 <= len(d):
    o += 16 + struct.unpack("<I", d[o + 8:o + 12])[0]; n += 1
print(n)' "$1"; }
echo "tcpdump:   $(count "$DIR/t.pcap") packets, ${tc} s CPU, ${td:-0} dropped by the kernel"
echo "pktexport: $(count "$DIR/p.pcap") packets, ${pc} s CPU, ${pd:-0} dropped by the kernel"
awk -v a="$pc" -v b="$tc" 'BEGIN { printf "CPU ratio pktexport/tcpdump: %.2f\n", a / (b > 0 ? b : 0.01) }'
