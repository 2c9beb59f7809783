#!/bin/bash
# The tcpdump-style command line against the tools its users know, side by
# side in the same run on the same synthetic capture (default ~1.1 GB):
#   pktexport -r F -w OUT tcp                 vs  tcpdump -r F -w OUT tcp
#   pktexport -r F --start ISO --duration 10s vs  editcap -A S -B E F OUT
#   pktexport -r F -Y dns -w OUT              vs  tshark -r F -Y dns -w OUT
# Median wall time of RUNS alternating runs each, the ratio (pktexport's
# time over the other's: below 1 is faster), and whether the outputs hold
# the same packets: byte for byte where both write the same header, else
# record by record (tests/pcapcmp.py: times, lengths, bytes, link type).
#
#   BUILD=build-dir bench/cli.sh [PACKETS]
. "$(dirname "$0")/lib.sh"
PACKETS=${1:-3000000}
F=$(big_capture cli.pcap "$PACKETS")
OUT=${OUT_DIR:-$BENCH_DIR/out-cli}
YRUNS=${YRUNS:-1} # the display-filter runs take minutes each
mkdir -p "$OUT"
size=$(stat -c %s "$F")
echo "capture: $F, $((size / 1000000)) MB, $PACKETS packets; outputs in $OUT"
cat "$F" >/dev/null # warm the page cache for every tool alike

first=$(tcpdump -tt -n -r "$F" -c 1 2>/dev/null | cut -d. -f1)
A=$((first + 10))
B=$((A + 10))
ISO=$(date -u -d "@$A" +%Y-%m-%dT%H:%M:%SZ)

# case NAME RUNS 'OTHER CMD' 'PKTEXPORT CMD' COMPARE: times both,
# alternating which goes first; each timed run starts with nothing waiting
# to be written back (sync), else the one timed second writes while the
# first's output, hundreds of MB, is being written.  Neither tool syncs
# its output: both are timed into the page cache.
case_() {
	local name=$1 runs=$2 other=$3 ours=$4 compare=$5 os=() ps=() t p k
	for k in $(seq "$runs"); do
		rm -f "$OUT/ref.pcap" "$OUT/out.pcap"
		sync
		if [ $((k % 2)) = 1 ]; then
			timed t bash -c "$other"
			sync
			timed p bash -c "$ours"
		else
			timed p bash -c "$ours"
			sync
			timed t bash -c "$other"
		fi
		os+=("${t% *}")
		ps+=("${p% *}")
	done
	local same
	if [ "$compare" = bytes ] && cmp -s "$OUT/ref.pcap" "$OUT/out.pcap"; then
		same="identical bytes"
	elif python3 "$SRC/tests/pcapcmp.py" "$OUT/out.pcap" "$OUT/ref.pcap" >/dev/null; then
		same="same records"
	else
		same=DIFFERENT
	fi
	local n omed pmed
	# records counted from their headers (tcpdump's text output would
	# take minutes on a million packets)
	n=$(python3 -c 'import struct, sys
d = open(sys.argv[1], "rb").read(); o = 24; n = 0
e = "<" if d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
while o + 16 <= len(d):
    o += 16 + struct.unpack(e + "I", d[o + 8:o + 12])[0]; n += 1
print(n)' "$OUT/out.pcap")
	omed=$(printf '%s\n' "${os[@]}" | median)
	pmed=$(printf '%s\n' "${ps[@]}" | median)
	printf '%-34s %9s pkts  %-15s other %7ss  pktexport %7ss  ratio %s\n' \
		"$name" "$n" "$same" "$omed" "$pmed" "$(ratio "$pmed" "$omed")"
}

case_ "BPF 'tcp' vs tcpdump -r -w" "$RUNS" \
	"tcpdump -r '$F' -w '$OUT/ref.pcap' tcp" \
	"'$PKTEXPORT' -q -r '$F' -w '$OUT/out.pcap' tcp" bytes
case_ "10 s, ISO times vs editcap -A -B" "$RUNS" \
	"editcap -F pcap -A $A -B $B '$F' '$OUT/ref.pcap'" \
	"'$PKTEXPORT' -q -r '$F' --start $ISO --duration 10s -w '$OUT/out.pcap'" records
case_ "-Y dns vs tshark -r -Y -w" "$YRUNS" \
	"tshark -r '$F' -Y dns -F pcap -w '$OUT/ref.pcap'" \
	"'$PKTEXPORT' -q -r '$F' -Y dns -w '$OUT/out.pcap'" records
rm -f "$OUT/ref.pcap" "$OUT/out.pcap"
