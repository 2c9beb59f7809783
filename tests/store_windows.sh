#!/bin/bash
# Random windows of a packet store (edges to the nanosecond, across file
# boundaries, in gaps, before and after the data, several intervals with a
# filter): each export equals the same window cut from the imported
# captures by a separate reader (tests/store_ref.py), and its estimate
# equals its count.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump python3
. "${TOP_SRCDIR}/tests/store_lib.sh"

# Four captures with gaps between them, in three formats; the last one has
# runs of equal timestamps and edges a nanosecond apart.
base=1700000000000000000
python3 "$MKCAP" "$WORK/in1.pcap" --packets 6000 --seed 11 --format pcap-ns --start $base
python3 "$MKCAP" "$WORK/in2.pcap" --packets 3000 --seed 12 --format pcap-ns --start $((base + 20 * 10**9))
python3 "$MKCAP" "$WORK/in3.pcapng" --packets 3000 --seed 13 --format pcapng --start $((base + 40 * 10**9))
times=$(python3 -c "
t=$base + 60 * 10**9
out=[]
for i in range(2000):
    t += [0, 0, 1, 1, 2, 999, 123456789][i % 7]
    out.append(t)
print(','.join(map(str, out)))")
python3 "$MKCAP" "$WORK/in4.pcap" --format pcap-ns --seed 14 --times "$times"
inputs=("$WORK/in1.pcap" "$WORK/in2.pcap" "$WORK/in3.pcapng" "$WORK/in4.pcap")

# Imported in two steps (the second extends the store), in small files.
check "import" "$PKTEXPORT" store import --root "$WORK" --file-size 200000 job1 "${inputs[@]:0:2}"
check "import extends" "$PKTEXPORT" store import --root "$WORK" --file-size 200000 job1 "${inputs[@]:2}"
nfiles=$(ls "$WORK/jobs/job1" | wc -l)
check "several store files ($nfiles)" test "$nfiles" -ge 10

mkdir -p "$WORK/ref"
python3 "$TOP_SRCDIR/tests/store_ref.py" "$WORK/ref" 7 "${STORE_WINDOWS:-80}" "$WORK/jobs/job1" "${inputs[@]}"
while read -r id count filter args; do
	out=$WORK/out-$id.pcap ref=$WORK/ref/ref-$id.pcap
	fargs=()
	if [ "$filter" != - ]; then
		fargs=(-f "BPF:${filter//_/ }")
		tcpdump --time-stamp-precision=nano -r "$ref" -w "$ref.f" "${filter//_/ }" 2>/dev/null
		ref=$ref.f
	fi
	# shellcheck disable=SC2086
	"$PKTEXPORT" export --root "$WORK" -F PCAP_NS --stats -o "$out" "${fargs[@]}" $args jobs/job1 2>"$WORK/stats"
	rc=$?
	check "window $id exit 0 ($rc: $(cat "$WORK/stats"))" test "$rc" = 0
	check "window $id ($filter $args) same records" same_records "$out" "$ref"
	if [ "$filter" = - ]; then
		check "window $id exported $count" test "$(stat_of exported_packets)" = "$count"
		check "window $id estimate" test "$(stat_of estimated_packets)" = "$count"
	fi
done <"$WORK/ref/windows.txt"
check "windows were tried" test "$(wc -l <"$WORK/ref/windows.txt")" -ge 20
finish
