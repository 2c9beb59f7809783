#!/bin/bash
# pcap -> PCAPNG_* -> PCAP_* through pktexport gives back the pcap export
# byte for byte: nanosecond captures keep every nanosecond, and every
# capture of the corpus keeps its records, lengths and header.
. "${TOP_SRCDIR}/tests/lib.sh"
need python3
READ="python3 $TOP_SRCDIR/tests/pcapng_read.py"

run() { # run FORMAT IN OUT [ARGS...]: IN is relative to the root
	local fmt=$1 in=$2 out=$3
	shift 3
	"$PKTEXPORT" export --root "$WORK" -F "$fmt" -o "$out" "$@" "$in" 2>>"$WORK/err"
}

python3 "$MKCAP" "$WORK/fs/ns.pcap" --packets 4000 --seed 31 --format pcap-ns --gap 700
python3 "$MKCAP" "$WORK/fs/us.pcap" --packets 4000 --seed 32 --format pcap
python3 "$MKCAP" "$WORK/fs/edge.pcap" --format pcap-ns \
	--times 0,1,999,1000,999999999,1000000000,1700000000000000001,1700000000999999999,4294967295999999999

for src in ns edge; do
	run PCAPNG_NS fs/$src.pcap "$WORK/fs/$src.pcapng"
	check "$src.pcap -> PCAPNG_NS" test $? = 0
	run PCAP_NS fs/$src.pcapng "$WORK/$src.back.pcap"
	check "$src.pcap -> PCAPNG_NS -> PCAP_NS" test $? = 0
	check "$src.pcap -> PCAPNG_NS -> PCAP_NS is the original, byte for byte" \
		cmp -s "$WORK/fs/$src.pcap" "$WORK/$src.back.pcap"
	# Microseconds: truncated toward zero on the way in, then unchanged.
	run PCAP_US fs/$src.pcap "$WORK/$src.us.direct"
	run PCAPNG_US fs/$src.pcap "$WORK/fs/$src.us.pcapng"
	run PCAP_US fs/$src.us.pcapng "$WORK/$src.us.back"
	check "$src.pcap -> PCAPNG_US -> PCAP_US = PCAP_US" cmp -s "$WORK/$src.us.direct" "$WORK/$src.us.back"
done
run PCAPNG_US fs/us.pcap "$WORK/fs/us.pcapng"
run PCAP_US fs/us.pcapng "$WORK/us.back.pcap"
check "us.pcap -> PCAPNG_US -> PCAP_US is the original" cmp -s "$WORK/fs/us.pcap" "$WORK/us.back.pcap"
# From microseconds to nanoseconds and back is exact too.
run PCAPNG_NS fs/us.pcap "$WORK/fs/us.ns.pcapng"
run PCAP_US fs/us.ns.pcapng "$WORK/us.ns.back.pcap"
check "us.pcap -> PCAPNG_NS -> PCAP_US is the original" cmp -s "$WORK/fs/us.pcap" "$WORK/us.ns.back.pcap"

if [ -d "$CORPUS" ]; then
	mkdir -p "$WORK/fs/corpus"
	cp "$CORPUS"/* "$WORK/fs/corpus/"
	same=0 files=0
	for f in "$WORK"/fs/corpus/*; do
		b=$(basename "$f")
		rm -f "$WORK/direct.pcap" "$WORK/fs/via.pcapng" "$WORK/via.pcap"
		run PCAP_US "fs/corpus/$b" "$WORK/direct.pcap" || [ -s "$WORK/direct.pcap" ] || continue
		files=$((files + 1))
		run PCAPNG_US "fs/corpus/$b" "$WORK/fs/via.pcapng"
		run PCAP_US fs/via.pcapng "$WORK/via.pcap"
		if $READ fcsbits "$WORK/direct.pcap"; then
			# Fuzzed link type bits pcapng cannot hold: all else is kept.
			check "corpus/$b round trip keeps header and records" \
				same_records "$WORK/via.pcap" <(
					python3 -c 'import sys,struct;d=open(sys.argv[1],"rb").read();sys.stdout.buffer.write(d[:20]+struct.pack("<I",struct.unpack("<I",d[20:24])[0]&0xFFFF)+d[24:])' "$WORK/direct.pcap")
		else
			check "corpus/$b -> PCAPNG_US -> PCAP_US is its PCAP_US export" cmp -s "$WORK/direct.pcap" "$WORK/via.pcap"
		fi
	done
	check "corpus files ($files)" test "$files" -ge 55
fi
finish
