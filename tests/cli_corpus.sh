#!/bin/bash
# Every capture of the corpus, with several BPF filters and none: pktexport
# writes exactly the records `tcpdump -r F -w - EXPR` writes.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump
need_corpus
cp "$CORPUS"/* "$WORK/fs/"
python3 "$MKCAP" "$WORK/fs/synthetic.pcap" --packets 20000 --seed 7
python3 "$MKCAP" "$WORK/fs/synthetic-ns.pcap" --packets 5000 --seed 8 --format pcap-ns
python3 "$MKCAP" "$WORK/fs/synthetic.pcapng" --packets 5000 --seed 9 --format pcapng

files=0
for f in "$WORK"/fs/*; do
	name=fs/$(basename "$f")
	files=$((files + 1))
	for expr in "" "tcp" "udp port 53" "vlan or ip6" "ip and not tcp" "greater 200"; do
		ref=$WORK/ref.pcap out=$WORK/out.pcap
		rm -f "$ref" "$out"
		tcpdump -r "$f" -w "$ref" $expr 2>"$WORK/tcpdump.err"
		trc=$?
		args=()
		[ -n "$expr" ] && args=(-f "BPF:$expr")
		# tcpdump -w writes microseconds whatever it reads
		"$PKTEXPORT" export --root "$WORK" -F PCAP_US -o "$out" "${args[@]}" "$name" 2>"$WORK/err"
		rc=$?
		if grep -q "unknown file format\|bad dump file format\|unknown" "$WORK/tcpdump.err" && [ ! -s "$ref" ]; then
			# libpcap refuses the file: a clear error, exit 2, no output.
			check "$name refused cleanly" test "$rc" = 2 -a ! -e "$out"
			check "$name refusal is an API error" error_is REQUEST_INVALID_INPUT "$WORK/err"
			continue
		fi
		if past_2106 "$rc" "$WORK/err" "$out" "$ref" "${args[@]}" "$name"; then
			continue
		fi
		if [ "$trc" != 0 ] && [ ! -e "$ref" ]; then
			# The filter does not compile for this link type.
			check "$name '$expr' rejected" test "$rc" = 2 -a ! -e "$out"
			continue
		fi
		if [ "$trc" != 0 ]; then
			# tcpdump stopped at damage: we stop there too, exit 1.
			check "$name '$expr' damaged input exits 1 ($rc)" test "$rc" = 1
		else
			check "$name '$expr' exit 0 ($rc: $(cat "$WORK/err"))" test "$rc" = 0
		fi
		check "$name '$expr' same records as tcpdump" same_records "$out" "$ref"
	done
done
check "corpus has files" test "$files" -ge 60
check "a packet past 2106 was met ($LATE exports)" test "$LATE" -ge 1
finish
