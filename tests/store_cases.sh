#!/bin/bash
# The packet store's other promises: clips, stale and broken indexes are
# rebuilt, damaged capture files export every packet before the damage and
# say so, bad names are refused, import keeps the store time-ordered.
. "${TOP_SRCDIR}/tests/lib.sh"
need python3
. "${TOP_SRCDIR}/tests/store_lib.sh"

base=1700000000000000000
python3 "$MKCAP" "$WORK/a.pcap" --packets 8000 --seed 21 --format pcap-ns --start $base
python3 "$MKCAP" "$WORK/b.pcap" --packets 2000 --seed 22 --format pcap-ns --start $((base + 30 * 10**9))
store() { "$PKTEXPORT" store "$@"; }
export_to() { # OUT [options] PATH
	local out=$1
	shift
	"$PKTEXPORT" export --root "$WORK" -F PCAP_NS --stats -o "$out" "$@" 2>"$WORK/stats"
}
count() { python3 -c "
import sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
print(len(store_ref.records(sys.argv[1])))" "$1"; }
# The records of the store's files, in order, stopping at damage, with
# the window [A, B) applied: a reference independent of the index.
store_cut() { # OUT A B
	python3 -c "
import os, sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
d = '$WORK/jobs/s'
recs = []
for n in sorted(os.listdir(d)):
    if n.endswith('.pcap'):
        recs += store_ref.records(os.path.join(d, n))
        if not store_ref.complete(os.path.join(d, n)):
            break
a, b = int(sys.argv[2]), int(sys.argv[3])
store_ref.write_pcap(sys.argv[1], [r for r in recs if a <= r[0] < b])" "$@"
}
check "import" store import --root "$WORK" --file-size 100000 s "$WORK/a.pcap" "$WORK/b.pcap"
files=("$WORK"/jobs/s/*.pcap)
# --file-size takes units (powers of 1024); a wrong or huge one is refused
# before anything is written.
check "import --file-size 64KiB" store import --root "$WORK" -q --file-size 64KiB units "$WORK/a.pcap"
check "  makes files of about 64 KiB" python3 -c "
import os, sys
s = [os.path.getsize(os.path.join(sys.argv[1], n)) for n in os.listdir(sys.argv[1]) if n.endswith('.pcap')]
sys.exit(not (len(s) > 1 and all(x < 2 * 65536 for x in s) and max(s) >= 65536 - 4096))" "$WORK/jobs/units"
for bad in 64ki 1k 2097152G 99999999999999999999; do
	store import --root "$WORK" --file-size "$bad" units2 "$WORK/a.pcap" 2>"$WORK/err"
	check "import --file-size $bad: exit 2" test $? = 2
	check "import --file-size $bad: says so ($(head -1 "$WORK/err"))" grep -q -- "--file-size \"$bad\"" "$WORK/err"
	check "import --file-size $bad: no job made" test ! -e "$WORK/jobs/units2"
done
# pktexport capture says which option and what it takes (no capture
# starts: the options are read first).
capture_refuses() { # OPTION VALUE WANTED
	"$PKTEXPORT" capture --root "$WORK" "$1" "$2" cj lo 2>"$WORK/err"
	check "capture $1 $2: exit 2" test $? = 2
	check "capture $1 $2: $3 ($(cat "$WORK/err"))" grep -q -- "$1 \"$2\": should be $3" "$WORK/err"
}
if [ -x "$PKTEXPORT_CAPTURE" ]; then
	capture_refuses --snaplen 1k "a number from 1 to 262144"
	capture_refuses --file-size 1k "a size from 64k to 1024T"
	capture_refuses --file-size 8388608T "a size from 64k to 1024T"
	capture_refuses --max-size 16777216T "a size"
	capture_refuses --buffer 3G "a size from 1M to 2G"
	capture_refuses --flush-ms 5 "milliseconds from 10 to 60000"
	capture_refuses --count 0 "a number of packets"
	check "no capture job made" test ! -e "$WORK/jobs/cj"
fi

# ---- import keeps time order; damaged input keeps what came before it.
python3 "$MKCAP" "$WORK/old.pcap" --packets 10 --seed 23 --format pcap-ns --start $((base + 10 * 10**9))
store import --root "$WORK" s "$WORK/old.pcap" 2>"$WORK/err"
check "import refuses an earlier packet" test $? = 1
check "and says why" grep -q "time-ordered" "$WORK/err"
check "naming both times, as an overlap" grep -Eq "starts at 170000001[0-9]\.[0-9]{9}, before the store's last packet \(17[0-9]{8}\.[0-9]{9}\)" "$WORK/err"
python3 "$MKCAP" "$WORK/late.pcap" --packets 100 --seed 24 --format pcap-ns --start $((base + 100 * 10**9))
head -c -7 "$WORK/late.pcap" >"$WORK/late-cut.pcap"
store import --root "$WORK" --file-size 100000 s2 "$WORK/late-cut.pcap" 2>"$WORK/err"
check "import of a cut capture fails" test $? = 1
export_to "$WORK/o.pcap" jobs/s2
check "but keeps the 99 packets before the cut" test "$(count "$WORK/o.pcap")" = 99

# ---- clips: a JSON file naming a job and a window.
mkdir -p "$WORK/clips"
cat >"$WORK/clips/c1.json" <<JSON
{"id": "c1", "config": {"job_id": "s", "start_time": "1700000003.5",
 "end_time": "1700000031.25", "description": "evidence"}}
JSON
export_to "$WORK/clip.pcap" clips/c1
check "clip exports" test $? = 0
export_to "$WORK/job.pcap" --start 1700000003.5 --end 1700000031.25 jobs/s
check "clip = its window of the job" same_records "$WORK/clip.pcap" "$WORK/job.pcap"
store_cut "$WORK/ref.pcap" 1700000003500000000 1700000031250000000
check "clip = the window cut from the files" same_records "$WORK/clip.pcap" "$WORK/ref.pcap"
export_to "$WORK/clip2.pcap" --start 1700000030 --end 1700000040 clips/c1
store_cut "$WORK/ref.pcap" 1700000030000000000 1700000031250000000
check "export window within a clip" same_records "$WORK/clip2.pcap" "$WORK/ref.pcap"
check "estimate of a clip" test "$(stat_of estimated_packets)" = "$(count "$WORK/ref.pcap")"
echo '{"config": {"job_id": "nope", "start_time": "1"}}' >"$WORK/clips/c2.json"
export_to "$WORK/x.pcap" clips/c2
check "clip of a missing job: rejected" test $? = 2
check "as not found" error_is RESOURCE_NOT_FOUND "$WORK/stats"
# Filters in any shape are refused (a clip used as a source never
# applies them), never exported unfiltered; empty ones say nothing.
for f in '{"items": [{"id": "1", "type": "BPF", "value": "tcp"}]}' \
	'[{"id": "1", "type": "BPF", "value": "tcp"}]' '{}' '"tcp"' '{"items": [], "x": 1}'; do
	echo "{\"config\": {\"job_id\": \"s\", \"filters\": $f}}" >"$WORK/clips/c3.json"
	export_to "$WORK/x.pcap" clips/c3
	check "clip with filters $f: exit 2" test $? = 2
	check "clip with filters $f: rejected" error_is REQUEST_INVALID_INPUT "$WORK/stats"
done
for f in '{"items": []}' '[]' 'null'; do
	echo "{\"config\": {\"job_id\": \"s\", \"filters\": $f}}" >"$WORK/clips/c3.json"
	export_to "$WORK/x.pcap" clips/c3
	check "clip with empty filters $f: exports" test $? = 0
done
echo '{"config": {"job_id": "s", "start_time": "5", "end_time": "2"}}' >"$WORK/clips/c3.json"
export_to "$WORK/x.pcap" clips/c3
check "clip ending before it starts: exit 2" test $? = 2
check "clip ending before it starts: says so" grep -q 'start_time is after end_time' "$WORK/stats"
export_to "$WORK/x.pcap" clips/none
check "missing clip" error_is RESOURCE_NOT_FOUND "$WORK/stats"
for bad in jobs/../s jobs/.index jobs/s/x jobs/; do
	export_to "$WORK/x.pcap" "$bad"
	check "bad job path $bad refused" test $? = 2
done

# ---- stale, missing and broken indexes are rebuilt, never trusted.
full() { export_to "$WORK/full.pcap" jobs/s && store_cut "$WORK/ref.pcap" 0 99999999999999999999 &&
	same_records "$WORK/full.pcap" "$WORK/ref.pcap" &&
	test "$(stat_of estimated_packets)" = "$(count "$WORK/ref.pcap")"; }
check "whole store" full
rebuilt() { store info --root "$WORK" s | python3 -c "import json,sys; print(json.load(sys.stdin)['rebuilt'])"; }
check "current indexes are used" test "$(rebuilt)" = 0
touch "${files[3]}"
check "a touched file's index is rebuilt" test "$(rebuilt)" = 1
printf 'garbage!' | dd of="$WORK/jobs/s/.index/$(basename "${files[2]}").idx" bs=1 seek=300 conv=notrunc 2>/dev/null
check "a scribbled index is rebuilt" test "$(rebuilt)" = 2
check "and the export is still exact" full
# A window inside the file of the scribbled index: that index is read,
# found broken and built again.
f2=$(python3 -c "
import sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
print(store_ref.records(sys.argv[1])[5][0])" "${files[2]}")
export_to "$WORK/w.pcap" --start "${f2:0:10}.${f2:10}" --end "$((${f2:0:10} + 1)).${f2:10}" jobs/s
store_cut "$WORK/ref.pcap" "$f2" "$((f2 + 10**9))"
check "window in the file of the scribbled index" same_records "$WORK/w.pcap" "$WORK/ref.pcap"
check "the exports saved the new indexes" test "$(rebuilt)" = 0
rm -rf "$WORK/jobs/s/.index"
check "no index at all: exact" full
check "store index" store index --root "$WORK" s
check "indexes current again" test "$(rebuilt)" = 0
# A capture replaced by another of the same size whose mtime is put back
# (cp -p, touch -r): the catalog and the index see its new ctime.  The new
# one holds the same records, all a nanosecond after the last: outside
# the time span the old catalog and index give the file.
python3 - "${files[1]}" "$WORK/same-size.pcap" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
offs, o = [], 24
while o + 16 <= len(d):
    offs.append(o)
    o += 16 + struct.unpack("<I", d[o + 8:o + 12])[0]
s, f = struct.unpack("<II", d[offs[-1]:offs[-1] + 8])
s, f = divmod(s * 10**9 + f + 1, 10**9)
for o in offs:
    d[o:o + 8] = struct.pack("<II", s, f)
open(sys.argv[2], "wb").write(bytes(d))
EOF
touch -r "${files[1]}" "$WORK/same-size.pcap"
cp -p "$WORK/same-size.pcap" "${files[1]}"
check "same-size replacement (cp -p): its index is rebuilt" test "$(rebuilt)" = 1
last=$(python3 -c "
import sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
print(store_ref.records(sys.argv[1])[-1][0])" "${files[1]}")
export_to "$WORK/w.pcap" --start "${last:0:10}.${last:10}" --end "$((${last:0:10} + 1)).${last:10}" jobs/s
store_cut "$WORK/ref.pcap" "$last" "$((last + 10**9))"
check "same-size replacement (cp -p): window exact ($(count "$WORK/w.pcap") of $(count "$WORK/ref.pcap"))" \
	same_records "$WORK/w.pcap" "$WORK/ref.pcap"
check "same-size replacement (cp -p): whole store exact" full

# ---- damage: every packet before it, the damage in the status.
victim=${files[4]}
first_of_victim=$(python3 -c "
import sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
print(store_ref.records(sys.argv[1])[0][0])" "$victim")
size=$(stat -c %s "$victim")
truncate -s $((size - 100)) "$victim"
export_to "$WORK/d.pcap" jobs/s
check "cut file: exit 1" test $? = 1
check "cut file: damage in the status" grep -q '"error_id":"SOURCE_DAMAGED"' "$WORK/stats"
store_cut "$WORK/ref.pcap" 0 99999999999999999999
check "cut file: every packet before the cut" same_records "$WORK/d.pcap" "$WORK/ref.pcap"
export_to "$WORK/d.pcap" --end "${first_of_victim:0:10}.${first_of_victim:10}" jobs/s
check "a window before the damage is clean" test $? = 0
# A record length of garbage in the middle of a file.
victim=${files[1]}
off=$(python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read()
o, n = 24, 0
while n < 100:
    o += 16 + struct.unpack('<I', d[o + 8:o + 12])[0]; n += 1
print(o + 8)" "$victim")
printf '\xf0\xff\xff\x7f' | dd of="$victim" bs=1 seek="$off" conv=notrunc 2>/dev/null
export_to "$WORK/d.pcap" jobs/s
check "garbage length: exit 1" test $? = 1
check "garbage length: damage in the status" grep -q '"error_id":"SOURCE_DAMAGED"' "$WORK/stats"
n_before=$(python3 -c "
import os, sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
print(len(store_ref.records(sys.argv[1])) + 100)" "${files[0]}")
check "garbage length: the packets before it ($n_before)" test "$(count "$WORK/d.pcap")" = "$n_before"
check "garbage length: exactly those" test "$(stat_of exported_packets)" = "$n_before"

# ---- pcapng with a second section after packets: read from its start.
python3 "$MKCAP" "$WORK/n1.pcapng" --packets 1500 --seed 31 --format pcapng --start $base
python3 "$MKCAP" "$WORK/n2.pcapng" --packets 1500 --seed 32 --format pcapng --start $((base + 5 * 10**9))
cat "$WORK/n1.pcapng" "$WORK/n2.pcapng" >"$WORK/n.pcapng"
check "import two sections" store import --root "$WORK" --file-size 300000 ng "$WORK/n.pcapng"
for w in "1700000001 1700000002" "1700000002.5 1700000006.1" "1700000000 1700000009"; do
	set -- $w
	export_to "$WORK/ng.pcap" --start "$1" --end "$2" jobs/ng
	python3 -c "
import sys; sys.path.insert(0, '$TOP_SRCDIR/tests'); import store_ref
a, b = (int(round(float(x) * 10**9)) for x in sys.argv[2:4])
store_ref.write_pcap(sys.argv[1], [r for r in store_ref.records('$WORK/n.pcapng') if a <= r[0] < b])" \
		"$WORK/ref.pcap" "$1" "$2"
	check "two sections, window $w" same_records "$WORK/ng.pcap" "$WORK/ref.pcap"
	check "two sections, estimate $w" test "$(stat_of estimated_packets)" = "$(count "$WORK/ref.pcap")"
done

# ---- pcapng time resolutions a store must convert exactly: 2^-20 s with
# an offset, and whole seconds (if_tsresol 0, not the default microsecond).
python3 - "$WORK/res.pcapng" "$WORK/res.want" <<'PY'
import struct, sys
def blk(t, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", t, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
def opt(code, v):
    return struct.pack("<HH", code, len(v)) + v + b"\0" * (-len(v) % 4)
out = blk(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
out += blk(1, struct.pack("<HHI", 1, 0, 0) + opt(9, b"\x94") + opt(14, struct.pack("<q", -60)) + opt(0, b""))
out += blk(1, struct.pack("<HHI", 1, 0, 0) + opt(9, b"\x00") + opt(0, b""))
want = []
for i in range(40):
    frame = bytes([i]) * 60
    if i % 2:
        units = 1700000000 + i
        ns = units * 10**9
        iface = 1
    else:
        units = (1700000000 + i + 60) * 2**20 + i * 4099
        ns = (units * 10**9 >> 20) - 60 * 10**9
        iface = 0
    out += blk(6, struct.pack("<IIIII", iface, units >> 32, units & 0xFFFFFFFF, 60, 60) + frame)
    want.append("%d %d" % (iface, ns))
open(sys.argv[1], "wb").write(out)
open(sys.argv[2], "w").write("\n".join(want) + "\n")
PY
check "import pcapng of odd resolutions" store import --root "$WORK" res "$WORK/res.pcapng"
export_to "$WORK/res.out" -F PCAPNG_NS jobs/res
check "odd resolutions: exact nanoseconds from the store" cmp -s "$WORK/res.want" \
	<(python3 "$TOP_SRCDIR/tests/pcapng_read.py" dump "$WORK/res.out" | sed -n 's/^pkt if=\([0-9]*\) ts=\([0-9]*\) .*/\1 \2/p')

# ---- a catalog edited behind the store's back (one file's packet count
# zeroed, its other fields and the files untouched) is not believed: every
# packet is still exported.
export_to "$WORK/before.pcap" jobs/s
cat_file="$WORK/jobs/s/.index/catalog"
check "the store has a catalog" test -s "$cat_file"
python3 - "$cat_file" <<'PY'
import sys
lines = open(sys.argv[1]).read().split("\n")
f = lines[1].split(" ")
f[9] = "0"  # the packet count of the first file
lines[1] = " ".join(f)
open(sys.argv[1], "w").write("\n".join(lines))
PY
export_to "$WORK/after.pcap" jobs/s
check "a corrupted catalog changes no export" cmp "$WORK/before.pcap" "$WORK/after.pcap"
check "and it is written again, sound" test "$(sed -n 2p "$cat_file" | cut -d' ' -f10)" != 0

# ---- one damage rule for a file with or without its index: an export
# whose windows end before the damage is whole (exit 0), one reaching it
# says SOURCE_DAMAGED (exit 1), whatever the file's size.
mkdir -p "$WORK/fs"
head -c -5 "$WORK/a.pcap" >"$WORK/fs/cut.pcap"
for min in 1000000000 0; do # no index, then an index for any size
	what=$([ $min = 0 ] && echo "with its index" || echo "without an index")
	PKTEXPORT_INDEX_MIN_BYTES=$min export_to "$WORK/cut-$min.pcap" \
		--start 1700000000.5 --end 1700000002 fs/cut.pcap
	check "damage after the window, $what: exit 0" test $? = 0
	PKTEXPORT_INDEX_MIN_BYTES=$min export_to "$WORK/cutall-$min.pcap" \
		--start 1700000000.5 fs/cut.pcap
	check "a window reaching the damage, $what: exit 1" test $? = 1
	check "... naming it" grep -q SOURCE_DAMAGED "$WORK/stats"
done
check "both ways the same packets" cmp "$WORK/cut-0.pcap" "$WORK/cut-1000000000.pcap"
check "and as many as the window holds" test "$(count "$WORK/cut-0.pcap")" -gt 100
rm -f "$WORK/fs/cut.pcap"

# ---- a sidecar index for a single large fs/ file.
cp "$WORK/a.pcap" "$WORK/fs/big.pcap"
check "store index fs/" store index --root "$WORK" fs/big.pcap
check "sidecar under the data root's index folder" test -s "$WORK/.index/fs/big.pcap.idx"
check "nothing beside the user's file" test "$(ls "$WORK/fs")" = big.pcap
# Where a reader of the whole file would seek for a few times.
for ns in 0 1700000004000000000 1700000004000000001 1700000011000000000 1800000000000000000; do
	want=$(python3 -c "
import struct, sys
d = open(sys.argv[1], 'rb').read()
o = 24
while o < len(d):
    s, f, c = struct.unpack('<III', d[o:o + 12])
    if s * 10**9 + f >= int(sys.argv[2]):
        break
    o += 16 + c
print(o)" "$WORK/fs/big.pcap" "$ns")
	# pktexport store locate takes the command line's times (seconds)
	secs=$(printf '%d.%09d' $((ns / 1000000000)) $((ns % 1000000000)))
	check "sidecar seek to $ns" test "$(store locate --root "$WORK" fs/big.pcap "$secs")" = "$want"
done
touch -d "2001-01-01 00:00:00" "$WORK/fs/big.pcap" # stale: another mtime, clearly older than now
check "stale sidecar rebuilt" test "$(store locate --root "$WORK" fs/big.pcap 1700000004)" -gt 24
check "and saved again" test "$WORK/.index/fs/big.pcap.idx" -nt "$WORK/fs/big.pcap"
check "locate 1700000004.5 (seconds with a fraction)" \
	test "$(store locate --root "$WORK" fs/big.pcap 1700000004.5)" -gt 24
for bad in 12x '' 2023-13-01T00:00:00Z; do
	store locate --root "$WORK" fs/big.pcap "$bad" 2>"$WORK/err" >/dev/null
	check "locate '$bad': exit 2" test $? = 2
	check "locate '$bad': names it ($(cat "$WORK/err"))" grep -q "store locate" "$WORK/err"
done
# ---- what the command line writes never follows a symbolic link (issue
# 18, finding 11): a capture linked from outside the root is read, its
# index is written inside the root as a file of its own; a link planted
# where the index goes is replaced, never written through; an index
# folder that is a link is not written into.
mkdir -p "$WORK/outside"
cp "$WORK/a.pcap" "$WORK/outside/x.pcap"
ln -s "$WORK/outside/x.pcap" "$WORK/fs/linked.pcap"
echo victim >"$WORK/outside/victim"
ln -s "$WORK/outside/victim" "$WORK/.index/fs/linked.pcap.idx"
check "index a capture linked from outside the root" store index --root "$WORK" fs/linked.pcap
check "the file linked to is untouched" cmp -s "$WORK/a.pcap" "$WORK/outside/x.pcap"
check "the link planted at the index's name is not written through" test "$(cat "$WORK/outside/victim")" = victim
check "the index is a file of its own inside the root" test -f "$WORK/.index/fs/linked.pcap.idx" -a ! -L "$WORK/.index/fs/linked.pcap.idx"
mkdir -p "$WORK/elsewhere" "$WORK/linkroot/fs"
cp "$WORK/a.pcap" "$WORK/linkroot/fs/y.pcap"
ln -s "$WORK/elsewhere" "$WORK/linkroot/.index"
store index --root "$WORK/linkroot" fs/y.pcap >/dev/null 2>&1
check "an index folder that is a link is not written into" test -z "$(ls -A "$WORK/elsewhere")"
check "and exports still work there" export_to "$WORK/y.out" --root "$WORK/linkroot" fs/y.pcap
rm -rf "$WORK/outside" "$WORK/elsewhere" "$WORK/linkroot" "$WORK/fs/linked.pcap" "$WORK/.index/fs/linked.pcap.idx"
# pktexport-store itself still takes whole nanoseconds
"$PKTEXPORT_STORE" locate --root "$WORK" fs/big.pcap 1700000004.5 2>"$WORK/err" >/dev/null
check "pktexport-store locate: nanoseconds only" grep -q "nanoseconds since the epoch" "$WORK/err"
finish
