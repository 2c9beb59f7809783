#!/bin/bash
# WIRESHARK filters against the reference: on every capture of the corpus
# and on synthetic ones, pktexport exports exactly the records
# `tshark -r F -Y EXPR -w -` writes.  Pre-filterable filters run twice,
# with the pre-filter and without.  Every export starts libwireshark once,
# so by default a sample of the corpus (every link type in it) is used;
# PKTEXPORT_WIRESHARK_FULL=1 takes all of it.
. "${TOP_SRCDIR}/tests/lib.sh"
need tshark python3
"$PKTEXPORT" plugins 2>/dev/null | grep -qw WIRESHARK || {
	echo "SKIP: the WIRESHARK filter plugin is not built"
	exit 77
}
: "${PKTEXPORT_WIRESHARK_HELPER:=$(dirname "$PKTEXPORT")/plugins/pktexport-wireshark-helper}"
export PKTEXPORT_WIRESHARK_HELPER
RECORDS="$TOP_SRCDIR/tests/wireshark_records.py"

SAMPLE="erspan-type-ii-1.pcap ieee802.11_exthdr.pcap kday6.pcap
	mptcp-aa-echo.pcap ppp_ip_udp_dns.pcap quic_retry.pcap
	smb_print_trans-oobr2.pcap isis-seg-fault-1.pcapng"
if [ -d "$CORPUS" ] && [ "${PKTEXPORT_WIRESHARK_FULL:-0}" = 1 ]; then
	cp "$CORPUS"/* "$WORK/fs/"
elif [ -d "$CORPUS" ]; then
	for f in $SAMPLE; do
		[ -e "$CORPUS/$f" ] && cp "$CORPUS/$f" "$WORK/fs/"
	done
else
	echo "note: no corpus at $CORPUS, synthetic captures only"
fi
python3 "$GENCAP" "$WORK/fs/mix.pcap" --packets 6000 --seed 5 --flows 300
python3 "$GENCAP" "$WORK/fs/mix-ns.pcapng" --packets 3000 --seed 6 --format pcapng
python3 "$MKCAP" "$WORK/fs/mkcap.pcap" --packets 3000 --seed 7
# Tunnels, ICMP errors, fragments: where tcp.port == 80 hides inside.
python3 "$TOP_SRCDIR/tests/wireshark_mktunnels.py" "$WORK/fs/tunnels.pcap" --packets 3000 --seed 2

FILTERS=(
	'tcp.port == 80'
	'dns'
	'tcp.flags.syn == 1 && tcp.flags.ack == 0'
	'!arp && frame.len > 100'
	'ipv6 || vlan'
	'frame contains "zq"'
	'udp.port == 53 || ip.addr == 10.0.0.0/8'
	'tcp.dstport == 80 and ip.src == 10.1.0.0/16'
)

compared=0 differ=0 unreadable=0
for f in "$WORK"/fs/*; do
	name=fs/$(basename "$f")
	# Files tshark cannot open: we refuse them too (below).
	tshark -r "$f" -c 1 -w /dev/null 2>/dev/null ||
		unreadable=$((unreadable + 1))
	for expr in "${FILTERS[@]}"; do
		for pre in 1 0; do
			ref=$WORK/ref.pcapng out=$WORK/out.pcapng
			rm -f "$ref" "$out"
			# Without the pre-filter: filters it covers, on the
			# synthetic captures.
			[ $pre = 0 ] && [[ $expr != tcp* && $expr != udp* || $name != fs/[mt]* ]] && continue
			tshark -r "$f" -Y "$expr" -w "$ref" 2>/dev/null
			trc=$?
			PKTEXPORT_WIRESHARK_PREFILTER=$pre "$PKTEXPORT" export --root "$WORK" \
				-F PCAPNG_NS -o "$out" -f "WIRESHARK:$expr" "$name" 2>"$WORK/err"
			rc=$?
			if [ ! -e "$out" ]; then
				# pktexport refused the file (libpcap cannot read
				# it): a clear error, not a crash.
				check "$name refused cleanly ($rc)" test "$rc" = 2
				check "$name refusal is an API error" error_is REQUEST_INVALID_INPUT "$WORK/err"
				break 2
			fi
			check "$name '$expr' no crash ($rc: $(head -c 300 "$WORK/err"))" test "$rc" = 0 -o "$rc" = 1
			compared=$((compared + 1))
			if [ "$rc" = 1 ] || [ "$trc" != 0 ]; then
				# Damaged input: libpcap and wiretap may stop at
				# different records; compare what both read.
				n=$(python3 "$RECORDS" --count "$out")
				m=$(python3 "$RECORDS" --count "$ref" 2>/dev/null || echo 0)
				if [ "$n" != "$m" ]; then
					echo "note: $name '$expr' damaged input, $n vs $m records"
					continue
				fi
			fi
			if ! python3 "$RECORDS" "$out" "$ref" >"$WORK/cmp"; then
				differ=$((differ + 1))
				bad "$name '$expr' (pre-filter $pre) differs from tshark: $(cat "$WORK/cmp")"
			else
				ok
			fi
		done
	done
done
# An interface described mid-file: frame numbers, relative times and
# dissection state go on across it, as tshark reads it.
python3 - "$WORK/fs/mix-ns.pcapng" "$WORK/midif.pcapng" <<'EOF'
import struct, sys
data = open(sys.argv[1], "rb").read()
blocks, off = [], 0
while off + 12 <= len(data):
    n = struct.unpack_from("<I", data, off + 4)[0]
    blocks.append(data[off:off + n])
    off += n
out, epb, idb = [], 0, None
for b in blocks:
    kind = struct.unpack_from("<I", b)[0]
    if kind == 1:
        idb = b
    if kind == 6:
        epb += 1
        if epb == 1000:  # a second Ethernet interface from here on
            out.append(idb)
        if epb >= 1000 and epb % 2:
            b = b[:8] + struct.pack("<I", 1) + b[12:]
    out.append(b)
open(sys.argv[2], "wb").write(b"".join(out))
EOF
mkdir -p "$WORK/mid/fs" && mv "$WORK/midif.pcapng" "$WORK/mid/fs/"
for expr in 'frame.number > 1500 && tcp' 'tcp.stream == 7' 'frame.time_relative < 0.3 && udp' \
	'frame.interface_id == 1 && dns'; do
	tshark -r "$WORK/mid/fs/midif.pcapng" -Y "$expr" -w "$WORK/ref.pcapng" 2>/dev/null
	"$PKTEXPORT" export --root "$WORK/mid" -F PCAPNG_NS -o "$WORK/out.pcapng" \
		-f "WIRESHARK:$expr" fs/midif.pcapng 2>"$WORK/err"
	check "interface mid-file, '$expr': exit 0" test $? = 0
	check "interface mid-file, '$expr': same as tshark" \
		python3 "$RECORDS" "$WORK/out.pcapng" "$WORK/ref.pcapng"
done

# Answers that exist only once pieces are put together (TCP segments out
# of order or sent twice, IPv4 and IPv6 fragments, one overlapping): the
# helper keeps copies of earlier packets' bytes for Wireshark's reassembly.
mkdir -p "$WORK/reas/fs"
python3 "$TOP_SRCDIR/tests/wireshark_mkreassembly.py" "$WORK/reas/fs/r.pcap" --seed 1
for expr in 'http.request.uri contains "needle"' 'http.file_data contains "needle"' \
	'tcp.reassembled.length > 0' 'ip.reassembled.length > 3000' \
	'ipv6.reassembled.length > 3000' 'data.data contains "needle"' \
	'dns.qry.name contains "needle"' 'ip.fragment.overlap'; do
	tshark -r "$WORK/reas/fs/r.pcap" -Y "$expr" -w "$WORK/ref.pcapng" 2>/dev/null
	"$PKTEXPORT" export --root "$WORK/reas" -F PCAPNG_NS -o "$WORK/out.pcapng" \
		-f "WIRESHARK:$expr" fs/r.pcap 2>"$WORK/err"
	check "reassembly, '$expr': exit 0" test $? = 0
	n=$(python3 "$RECORDS" --count "$WORK/ref.pcapng")
	check "reassembly, '$expr': tshark finds some ($n)" test "$n" -gt 0
	check "reassembly, '$expr': same as tshark" \
		python3 "$RECORDS" "$WORK/out.pcapng" "$WORK/ref.pcapng"
done

echo "compared $compared exports, $differ differ; $unreadable files tshark cannot read"
check "enough exports compared" test "$compared" -ge 60
finish
