#!/bin/bash
# Sources with several interfaces and link types: a mergecap of corpus
# captures exports to PCAPNG_* with every interface and every packet on
# its own, is refused for PCAP_*, and BPF filters per link type select
# what tcpdump selects from each input.  Hand-made pcapng files cover the
# reader: interfaces declared mid-stream (also past what libpcap reads
# before it refuses them), two sections in both byte orders, every kind of
# if_tsresol, simple and obsolete packet blocks, unknown and damaged blocks.
. "${TOP_SRCDIR}/tests/lib.sh"
need mergecap capinfos editcap tcpdump tshark python3
need_corpus
READ="python3 $TOP_SRCDIR/tests/pcapng_read.py"

export_as() { # export_as FORMAT NAME OUT [ARGS...]
	local fmt=$1 name=$2 out=$3
	shift 3
	rm -f "$out"
	"$PKTEXPORT" export --root "$WORK" -F "$fmt" -o "$out" "$@" "$name" 2>"$WORK/err"
}

# Ethernet, Linux SLL and BSD loopback captures, interleaved by time.
inputs=(bfd-multihop.pcap mptcp-aa-echo.pcap quic_retry.pcap)
for i in "${!inputs[@]}"; do
	cp "$CORPUS/${inputs[$i]}" "$WORK/in$i.pcap"
done
mergecap -F pcapng -w "$WORK/fs/mixed.pcapng" "$WORK"/in0.pcap "$WORK"/in1.pcap "$WORK"/in2.pcap
mergecap -F pcapng -w "$WORK/fs/two.pcapng" "$WORK"/in0.pcap "$WORK"/in1.pcap
# tshark's view of the merged file: interface, time, lengths per packet.
fields() {
	tshark -r "$1" -T fields -e frame.interface_id -e frame.time_epoch \
		-e frame.cap_len -e frame.len -e frame.protocols 2>/dev/null
}

# Wireshark's tools say this when run as root; it is not about the file.
quiet() { # quiet FILE: stderr held nothing but that
	! grep -v '^Running as user .* This could be dangerous\.$' "$1" | grep -q .
}
tools_read() { # tools_read FILE: every reader takes it silently
	capinfos "$1" >/dev/null 2>"$WORK/tool.err" && quiet "$WORK/tool.err" &&
		editcap "$1" "$WORK/edited.pcapng" 2>"$WORK/tool.err" &&
		quiet "$WORK/tool.err" &&
		tshark -r "$1" >/dev/null 2>"$WORK/tool.err" && quiet "$WORK/tool.err"
}

for src in mixed two; do
	for fmt in PCAPNG_NS PCAPNG_US; do
		out=$WORK/$src.$fmt
		export_as $fmt fs/$src.pcapng "$out"
		check "$src -> $fmt exits 0" test $? = 0
		check "$src -> $fmt is a clean pcapng file" $READ check "$out"
		check "$src -> $fmt read silently by Wireshark's tools" tools_read "$out"
		check "$src -> $fmt: tshark sees what it sees in the input" \
			cmp -s <(fields "$WORK/fs/$src.pcapng") <(fields "$out")
		for i in 0 1 2; do
			[ $src = two ] && [ $i = 2 ] && continue
			check "$src -> $fmt: interface $i holds exactly ${inputs[$i]}" \
				$READ iface "$out" $i "$WORK/in$i.pcap"
		done
	done
	for fmt in PCAP_US PCAP_NS; do
		export_as $fmt fs/$src.pcapng "$WORK/refused.pcap"
		check "$src -> $fmt refused with exit 2" test $? = 2
		check "$src -> $fmt leaves no file" test ! -e "$WORK/refused.pcap"
		check "$src -> $fmt refusal names the link types" \
			grep -q "mixes link types.*PCAPNG" "$WORK/err"
	done
done
check "two.pcapng keeps both interfaces" \
	test "$($READ dump "$WORK/two.PCAPNG_NS" | grep -c '^if ')" = 2

# A BPF filter is compiled for each link type: on each interface it picks
# what tcpdump picks from that interface's own capture.
for expr in "tcp" "udp" "ip and not tcp" "greater 100" "ip6 or arp"; do
	export_as PCAPNG_US fs/mixed.pcapng "$WORK/f.pcapng" -f "BPF:$expr"
	check "mixed '$expr' exits 0" test $? = 0
	for i in 0 1 2; do
		tcpdump -r "$WORK/in$i.pcap" -w "$WORK/ref$i.pcap" "$expr" 2>/dev/null
		check "mixed '$expr' on interface $i = tcpdump on ${inputs[$i]}" \
			$READ iface "$WORK/f.pcapng" $i "$WORK/ref$i.pcap"
	done
done

# A snap length cuts packets of every interface and is what each says.
export_as PCAPNG_NS fs/mixed.pcapng "$WORK/cut.pcapng" -s 70
check "mixed -s 70 exits 0" test $? = 0
check "mixed -s 70 is mixed cut to 70" $READ snap "$WORK/cut.pcapng" "$WORK/mixed.PCAPNG_NS" 70

# Hand-made files: PCAPNG_NS and PCAPNG_US hold exactly what the maker
# says, with exact nanoseconds and exit 1 past damage.
python3 "$TOP_SRCDIR/tests/pcapng_craft.py" "$WORK"
for f in "$WORK"/fs/*.pcapng; do
	c=$(basename "$f" .pcapng)
	[ -e "$WORK/$c.ns" ] || continue
	for unit in ns us; do
		fmt=PCAPNG_$(echo $unit | tr a-z A-Z)
		export_as $fmt "fs/$c.pcapng" "$WORK/out.$unit"
		rc=$?
		want=$(cat "$WORK/$c.rc")
		check "$c -> $fmt exits $want ($rc)" test "$rc" = "$want"
		check "$c -> $fmt holds what was made" \
			cmp -s <($READ dump "$WORK/out.$unit") "$WORK/$c.$unit"
	done
	if grep -q "^if 1 " "$WORK/$c.ns" && ! grep -q "^if 1 linktype=1 " "$WORK/$c.ns"; then
		export_as PCAP_NS "fs/$c.pcapng" "$WORK/refused.pcap"
		check "$c -> PCAP_NS fails" test $? != 0
		check "$c -> PCAP_NS leaves no file" test ! -e "$WORK/refused.pcap"
	fi
done

# -r of one file keeps its interfaces as they are, two alike included
# (merging them would mix two links' packets); a second -r merges into
# one of them, as mergecap does.
cp "$CORPUS/bfd-multihop.pcap" "$WORK/twin1.pcap"
cp "$CORPUS/bfd-multihop.pcap" "$WORK/twin2.pcap"
mergecap -I none -F pcapng -w "$WORK/twins.pcapng" "$WORK/twin1.pcap" "$WORK/twin2.pcap" 2>/dev/null
"$PKTEXPORT" -q -r "$WORK/twins.pcapng" -w "$WORK/twins-out.pcapng" 2>"$WORK/err"
check "-r a file of two alike interfaces: exit 0" test $? = 0
check "-r a file of two alike interfaces: both kept, each packet on its own" \
	cmp -s <(tshark -r "$WORK/twins.pcapng" -T fields -e frame.interface_id 2>/dev/null) \
	<(tshark -r "$WORK/twins-out.pcapng" -T fields -e frame.interface_id 2>/dev/null)
check "(the input has two interfaces)" test "$(tshark -r "$WORK/twins.pcapng" -T fields \
	-e frame.interface_id 2>/dev/null | sort -u | wc -l)" = 2

# Several link types through a pipe (libpcap reads those, one link type at
# most): said as that, with what to do, not as damage.
cat "$WORK/fs/mixed.pcapng" | "$PKTEXPORT" -q -r - -w "$WORK/piped.pcapng" 2>"$WORK/err"
check "mixed link types through a pipe: exit 1" test $? = 1
check "mixed link types through a pipe: says why and what to do ($(cat "$WORK/err"))" \
	grep -q "several link types.*decompress it to a file first" "$WORK/err"
finish
