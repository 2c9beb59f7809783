#!/bin/bash
# SteelFilter exports against tcpdump: for a table of SteelFilter
# expressions and their BPF equivalents (written by hand, VLAN-aware), every
# capture of the corpus and synthetic ones (802.1Q, QinQ, three tags) gives
# exactly the records tcpdump writes.  The evaluator (forced with
# PKTEXPORT_STEELFILTER_EVALUATOR=1) gives the same records as the BPF path
# on the same captures, truncated ones included, for more expressions.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump python3
need_corpus
CAPS=$TOP_SRCDIR/tests/steelfilter_caps.py
cp "$CORPUS"/* "$WORK/fs/"
python3 "$MKCAP" "$WORK/fs/sf-mkcap.pcap" --packets 5000 --seed 11
python3 "$GENCAP" "$WORK/fs/sf-gencap.pcap" --packets 20000 --seed 12
python3 "$CAPS" "$WORK/fs/sf-qinq.pcap" --packets 6000 --seed 13
python3 "$CAPS" "$WORK/fs/sf-sll.pcap" --packets 3000 --seed 14 --linktype 113
python3 "$CAPS" "$WORK/fs/sf-raw.pcap" --packets 3000 --seed 15 --linktype 101
# Cut short: for the evaluator against BPF only (tcpdump semantics at the
# cut depend on how the equivalent is written).
python3 "$CAPS" "$WORK/fs/sf-cut-qinq.pcap" --packets 6000 --seed 16 --truncate 30
python3 "$CAPS" "$WORK/fs/sf-cut-sll.pcap" --packets 3000 --seed 17 --linktype 113 --truncate 30
python3 "$CAPS" "$WORK/fs/sf-cut-raw.pcap" --packets 3000 --seed 18 --linktype 101 --truncate 30

# STEELFILTER @ BPF @ shape: "va" wraps the BPF for untagged, 802.1Q and
# QinQ frames on Ethernet, "notva" is the negation of that, "raw" as is.
TABLE='tcp.port==80@tcp port 80@va
ip.addr==10.38.7.22 && ip.addr==10.38.7.25@ip host 10.38.7.22 and ip host 10.38.7.25@va
ip.addr == "10.0.0.1"@ip host 10.0.0.1@va
tcp.ip==\x2710.1.1.1\x27@ip proto 6 and ip host 10.1.1.1@va
(ip.addr==10.0.0.1) and (tcp.port==443)@ip host 10.0.0.1 and tcp port 443@va
ip.addr IN (\x2710.0.0.1\x27,\x2710.0.0.2\x27)@ip host 10.0.0.1 or ip host 10.0.0.2@va
ip.addr==10.0.0.0/8@ip net 10.0.0.0/8@va
udp.port==53 OR tcp.port==53@udp port 53 or tcp port 53@va
not tcp.port==80@tcp port 80@notva
frame.len > 1000@greater 1001@raw
ipv6.addr==2001:db8::1@ip6 host 2001:db8::1@va
ipv6.src == 2001:db8::/32@ip6 src net 2001:db8::/32@va
ip.src==10.0.0.1 and udp.dstport==53@ip src host 10.0.0.1 and udp dst port 53@va
tcp.port >= 1000 && tcp.port < 1002@tcp portrange 1000-65535 and tcp portrange 0-1001@va
ip.dst != 10.0.0.1@ip dst host 10.0.0.1@notva
ip.proto=17 || ip.proto > 40@ip proto 17 or ip[9] > 40@va
tcp.flags == 0x12@tcp[tcpflags] = 0x12 or (ip6[6] = 6 and ip6[53] = 0x12)@va
eth.addr==00:11:22:33:44:55 and frame.len > 100@ether host 00:11:22:33:44:55 and greater 101@raw
vlan.id==5@vlan and (ether[14:2] & 0xfff = 5 or (vlan and ether[18:2] & 0xfff = 5))@raw'
# More expressions, for the evaluator against the BPF path.
EXTRA='NOT (tcp.port==80 or udp.port in (53, 123)) and ip.addr==10.0.0.0/16
vlan.id IN (1, 4095) && !(ipv6.dst == 2001:db8::1)
not vlan.id == 5 or tcp.flags >= 0x11
tcp.srcport < 1001 and not tcp.dstport > 80
eth.dst == 02:00:00:00:00:02 and not ip.addr == 10.38.7.25/31
frame.len < 100 or (udp.srcport <= 53 and ip.proto != 17)
ip.addr == 2001:db8::/33 or tcp.ip != 192.168.1.0/24
ip.src == 0.0.0.0/0 and not ipv6.addr == ::/0'

linktype() { tcpdump -r "$1" -c 1 2>&1 >/dev/null | sed -n 's/.*link-type \([^ ]*\).*/\1/p' | head -1; }
evaluable() { case "$1" in EN10MB | RAW | LINUX_SLL) return 0 ;; esac; return 1; }

export_sf() { # OUT FILE EXPR [env...]: pktexport's exit status
	local out=$1 name=$2 expr=$3
	shift 3
	rm -f "$out"
	env "$@" "$PKTEXPORT" export --root "$WORK" -o "$out" \
		-F "${SF_FORMAT:-PCAP_US}" -f "STEELFILTER:$expr" "$name" 2>"$WORK/err"
}

# Byte-equal records first (cheap); pcapcmp.py's rules when not.
same_out() { same_bytes "$1" "$2" || same_records "$1" "$2"; }

no_records() { ! [ -e "$1" ] || [ "$(stat -c %s "$1")" -le 24 ]; }

files=0
for f in "$WORK"/fs/*; do
	name=${f#"$WORK"/}
	lt=$(linktype "$f")
	[ -n "$lt" ] || continue # libpcap cannot read it: nothing to compare
	files=$((files + 1))
	rows=$TABLE
	case "$name" in fs/sf-cut-*) rows= ;; esac
	while IFS='@' read -r sf bpf shape; do
		[ -n "$sf" ] || continue
		sf=$(printf '%b' "$sf")
		bpf=$(printf '%b' "$bpf")
		ref=$WORK/ref.pcap out=$WORK/out.pcap
		if [ "$lt" = EN10MB ] && [ "$shape" != raw ]; then
			bpf="($bpf) or (vlan and (($bpf) or (vlan and ($bpf))))"
		fi
		[ "$shape" = notva ] && bpf="not ($bpf)"
		rm -f "$ref"
		tcpdump -r "$f" -w "$ref" "$bpf" 2>"$WORK/tcpdump.err"
		trc=$?
		export_sf "$out" "$name" "$sf"
		rc=$?
		if past_2106 "$rc" "$WORK/err" "$out" "$ref" -f "STEELFILTER:$sf" "$name"; then
			continue
		fi
		if [ "$trc" != 0 ] && [ ! -e "$ref" ]; then
			# BPF cannot say it on this link type: refused, or nothing.
			check "$name '$sf' refused or empty ($rc)" \
				eval '[ "$rc" = 2 ] || no_records "$out"'
			continue
		fi
		if [ "$trc" = 0 ]; then
			check "$name '$sf' exit 0 ($rc: $(cat "$WORK/err"))" test "$rc" = 0
		else
			check "$name '$sf' damaged input exits 1 ($rc)" test "$rc" = 1
		fi
		check "$name '$sf' same records as tcpdump '$bpf'" same_out "$out" "$ref"
	done <<<"$rows"
	evaluable "$lt" || continue
	# Written as PCAPNG_NS, which holds any time (PCAP_* refuse one past
	# 2106): the two paths are compared byte for byte.
	SF_FORMAT=PCAPNG_NS
	while IFS= read -r sf; do
		[ -n "$sf" ] || continue
		sf=$(printf '%b' "$sf")
		export_sf "$WORK/bpf.out" "$name" "$sf"
		rc=$?
		export_sf "$WORK/eval.out" "$name" "$sf" PKTEXPORT_STEELFILTER_EVALUATOR=1
		erc=$?
		check "$name '$sf' same exit status on both paths ($rc, $erc)" test "$rc" = "$erc"
		check "$name '$sf' evaluator gives the BPF path's records" \
			cmp -s "$WORK/eval.out" "$WORK/bpf.out"
	done <<<"$(printf '%s\n' "$TABLE" | cut -d'@' -f1; printf '%s\n' "$EXTRA")"
	SF_FORMAT=
done
check "corpus and synthetic captures read ($files)" test "$files" -ge 40

# Errors: exit 2, the API's error object, position and token named.
refused() { # EXPR TEXT...
	local expr=$1
	shift
	export_sf "$WORK/out.pcap" fs/sf-mkcap.pcap "$expr"
	check "'$expr' refused" test $? = 2
	check "'$expr' is REQUEST_INVALID_INPUT" error_is REQUEST_INVALID_INPUT "$WORK/err"
	for t in "$@"; do
		check "'$expr' error names $t" grep -qF -- "$t" "$WORK/err"
	done
}
refused 'tcp.port==80 &&' 'position 16' 'end of the expression'
refused 'ip.addr == 10.0.0.300' 'position 12' '10.0.0.300'
refused 'app.name == "web"' 'app.name' 'analytics'
refused 'host_group.id == 3' 'host_group.id'
refused 'tcp.prot == 80' 'unknown field' 'tcp.prot'
refused '(tcp.port == 80' 'position 16' ')'
refused 'ip.addr > 10.0.0.1' 'position 9' '>'
refused 'tcp.port == 70000' '70000' '65535'
finish
