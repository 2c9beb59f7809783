#!/bin/bash
# Every capture of the corpus that tcpdump reads exports to PCAPNG_NS and
# PCAPNG_US holding exactly the packets of the PCAP_NS / PCAP_US exports
# (data, lengths, nanosecond timestamps in PCAPNG_NS, truncated ones in
# PCAPNG_US), and tcpdump, capinfos, editcap and tshark read the results
# without a word of warning.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump tshark capinfos editcap python3
need_corpus
READ="python3 $TOP_SRCDIR/tests/pcapng_read.py"
cp "$CORPUS"/* "$WORK/fs/"
python3 "$MKCAP" "$WORK/fs/synthetic-ns.pcap" --packets 3000 --seed 21 --format pcap-ns
python3 "$MKCAP" "$WORK/fs/synthetic.pcapng" --packets 3000 --seed 22 --format pcapng

# Wireshark's tools say this when run as root; it is not about the file.
quiet() { # quiet FILE: stderr held nothing but that
	! grep -v '^Running as user .* This could be dangerous\.$' "$1" | grep -q .
}

export_as() { # export_as FORMAT NAME [ARGS...]: writes $WORK/out.FORMAT
	local fmt=$1 name=$2
	shift 2
	rm -f "$WORK/out.$fmt"
	"$PKTEXPORT" export --root "$WORK" -F "$fmt" -o "$WORK/out.$fmt" "$@" \
		"$name" 2>"$WORK/err.$fmt"
}

tools_read() { # tools_read FILE: every reader takes it silently
	local f=$1
	capinfos "$f" >/dev/null 2>"$WORK/tool.err" && quiet "$WORK/tool.err" &&
		editcap "$f" "$WORK/edited.pcapng" 2>"$WORK/tool.err" &&
		quiet "$WORK/tool.err" &&
		tshark -r "$f" >/dev/null 2>"$WORK/tool.err" && quiet "$WORK/tool.err"
}

files=0 unknown=0
for f in "$WORK"/fs/*; do
	name=fs/$(basename "$f")
	if ! tcpdump -r "$f" -w "$WORK/ref.pcap" 2>/dev/null &&
		[ ! -s "$WORK/ref.pcap" ]; then
		continue # libpcap refuses it: tests/cli_corpus.sh covers that
	fi
	files=$((files + 1))
	export_as PCAP_NS "$name"
	rc=$?
	if past_2106 "$rc" "$WORK/err.PCAP_NS" "$WORK/out.PCAP_NS" "$WORK/ref.pcap" "$name"; then
		export_as PCAPNG_US "$name"
		check "$name past 2106: PCAPNG_US exit 0" test $? = 0
		check "$name past 2106: PCAPNG_US truncates PCAPNG_NS" \
			$READ trunc "$WORK/out.PCAPNG_US" "$WORK/late.pcapng"
		check "$name past 2106: PCAPNG_US read silently by Wireshark's tools" \
			tools_read "$WORK/out.PCAPNG_US"
		continue
	fi
	export_as PCAP_US "$name"
	export_as PCAPNG_NS "$name"
	check "$name PCAPNG_NS exits as PCAP_NS ($rc)" test $? = "$rc"
	export_as PCAPNG_US "$name"
	check "$name PCAPNG_US exits as PCAP_NS ($rc)" test $? = "$rc"
	check "$name PCAPNG_NS = PCAP_NS" $READ same "$WORK/out.PCAPNG_NS" "$WORK/out.PCAP_NS" --tsresol 9
	check "$name PCAPNG_US = PCAP_US" $READ same "$WORK/out.PCAPNG_US" "$WORK/out.PCAP_US" --tsresol 6
	check "$name PCAPNG_US truncates PCAPNG_NS" $READ trunc "$WORK/out.PCAPNG_US" "$WORK/out.PCAPNG_NS"
	# A link type Wireshark does not know makes its tools complain about
	# the input itself: only files they read are held to silence.
	if capinfos "$WORK/out.PCAP_NS" >/dev/null 2>&1; then
		for fmt in PCAPNG_NS PCAPNG_US; do
			check "$name $fmt read silently by Wireshark's tools" tools_read "$WORK/out.$fmt"
		done
	else
		unknown=$((unknown + 1))
	fi
	# libpcap, the other reader: the packets of our pcap exports.
	tcpdump -r "$WORK/out.PCAPNG_US" -w "$WORK/back.pcap" 2>/dev/null
	check "$name tcpdump reads PCAPNG_US back" $READ iface "$WORK/back.pcap" 0 "$WORK/out.PCAP_US"
	tcpdump --time-stamp-precision=nano -r "$WORK/out.PCAPNG_NS" -w "$WORK/back.pcap" 2>/dev/null
	check "$name tcpdump reads PCAPNG_NS back" $READ iface "$WORK/back.pcap" 0 "$WORK/out.PCAP_NS"
	# A snap length applies to pcapng too and keeps the original length.
	export_as PCAPNG_NS "$name" -s 96
	mv "$WORK/out.PCAPNG_NS" "$WORK/cut.pcapng"
	export_as PCAPNG_NS "$name"
	check "$name PCAPNG_NS -s 96" $READ snap "$WORK/cut.pcapng" "$WORK/out.PCAPNG_NS" 96
done
check "corpus files read ($files)" test "$files" -ge 55
check "few link types unknown to Wireshark ($unknown)" test "$unknown" -le 5
finish
