#!/bin/bash
# Time windows to the nanosecond, nanosecond and microsecond output, stop
# rules and snap length through the CLI, against an independent reader
# (and editcap/tcpdump where they are exact).
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump

ROOT=$WORK
OUT=$WORK/out.pcap
TOOL=$WORK/pcaptool.py

# A small pcap reader/writer: the expected results, computed apart from
# pktexport.  Times are "SECONDS[.FRACTION]" strings, read exactly.
cat >"$TOOL" <<'EOF'
import struct, sys

def ns_of(text):
    s, _, f = text.partition(".")
    return int(s) * 10**9 + int((f + "000000000")[:9])

def read(path):
    d = open(path, "rb").read()
    magic, _, _, _, _, snap, lt = struct.unpack("<IHHiIII", d[:24])
    scale = 1 if magic == 0xA1B23C4D else 1000
    recs, o = [], 24
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack("<IIII", d[o:o + 16])
        recs.append((s * 10**9 + f * scale, c, w, d[o + 16:o + 16 + c]))
        o += 16 + c
    return scale == 1, snap, lt, recs

def write(path, nanos, snap, lt, recs):
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B23C4D if nanos else 0xA1B2C3D4,
                              2, 4, 0, 0, snap, lt))
        for t, c, w, data in recs:
            s, f = divmod(t, 10**9)
            out.write(struct.pack("<IIII", s, f if nanos else f // 1000, c, w) + data)

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "select":   # IN OUT START END [A,B]...: [START,END) and the union
    nanos, snap, lt, recs = read(args[0])
    start, end = ns_of(args[2]), ns_of(args[3]) or 2**64
    ivs = [tuple(ns_of(x) for x in a.split(",")) for a in args[4:]]
    ivs = [(a, b or 2**64) for a, b in ivs]
    keep = [r for r in recs if start <= r[0] < end and
            (not ivs or any(a <= r[0] < b for a, b in ivs))]
    write(args[1], nanos, snap, lt, keep)
elif cmd == "us":     # IN OUT: the same records in microseconds
    nanos, snap, lt, recs = read(args[0])
    write(args[1], False, snap, lt, recs)
elif cmd == "head":   # IN OUT N
    nanos, snap, lt, recs = read(args[0])
    write(args[1], nanos, snap, lt, recs[:int(args[2])])
elif cmd == "snap":   # IN OUT N: cut to N bytes, original length kept
    nanos, snap, lt, recs = read(args[0])
    n = int(args[2])
    write(args[1], nanos, n, lt, [(t, min(c, n), w, d[:n]) for t, c, w, d in recs])
elif cmd == "count":  # IN: packets and bytes
    recs = read(args[0])[3]
    print(len(recs), sum(r[1] for r in recs))
elif cmd == "prefix": # IN LIMIT: the longest run of first records within LIMIT bytes
    n = total = 0
    for r in read(args[0])[3]:
        if total + r[1] > int(args[1]):
            break
        n, total = n + 1, total + r[1]
    print(n, total)
elif cmd == "last":   # IN: caplen of the last record
    print(read(args[0])[3][-1][1])
elif cmd == "header": # IN: magic-says-nanos snaplen linktype
    nanos, snap, lt, _ = read(args[0])
    print(int(nanos), snap, lt)
elif cmd == "times":  # IN: every timestamp in nanoseconds
    for r in read(args[0])[3]:
        print(r[0])
EOF
tool() { python3 "$TOOL" "$@"; }

stat_is() { # stat_is FILE FIELD VALUE: the last stderr line's stats field
	python3 -c '
import json, sys
names = {"processed_packets", "exported_packets", "exported_bytes",
         "total_bytes", "dropped_packets", "estimated_packets",
         "estimated_bytes", "truncated"}
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert set(s) <= names, set(s) - names
v = s[sys.argv[2]]
sys.exit(json.dumps(v) != sys.argv[3])' "$@"
}

run() { # run ARGS...: an export to $OUT that must succeed
	rm -f "$OUT"
	"$PKTEXPORT" export --root "$ROOT" -o "$OUT" "$@" 2>"$WORK/err"
	RC=$?
	check "[$*] exit 0 ($RC: $(cat "$WORK/err"))" test "$RC" = 0
}

# --- a nanosecond capture with packets on and around every bound
T=1700000000
S=$T.000000100 E=$((T + 10)).000000005
A1=$T.000000000 B1=$((T + 2)).000000001
A2=$((T + 4)).999999999 B2=$((T + 20)).000000000
times=$(python3 - "$S" "$E" "$A1" "$B1" "$A2" "$B2" <<'EOF'
import sys
def ns_of(text):
    s, _, f = text.partition(".")
    return int(s) * 10**9 + int((f + "000000000")[:9])
ts = set()
for b in map(ns_of, sys.argv[1:]):
    ts.update({b - 2, b - 1, b, b + 1, b + 2})
base = ns_of(sys.argv[3]) - 10**9
ts.update(base + i * 73333333 for i in range(450))  # a grid over 33 s
ts.update({base + 2 * 10**9 - 1, base + 10**9 + 999999, base + 10**9 + 999})
print(",".join(str(t) for t in sorted(ts)))
EOF
)
python3 "$MKCAP" "$WORK/fs/ns.pcap" --format pcap-ns --seed 41 --times "$times"
IN=$WORK/fs/ns.pcap

# editcap is a reference for [start, end) only if it is exact to the
# nanosecond here (older versions are not).
EDITCAP=
if command -v editcap >/dev/null; then
	python3 "$MKCAP" "$WORK/probe.pcap" --format pcap-ns \
		--times 1700000000000000000,1700000000000000001,1700000000000000002
	if editcap -F nsecpcap -A 1700000000.000000001 -B 1700000000.000000002 \
		"$WORK/probe.pcap" "$WORK/probe-out.pcap" 2>/dev/null &&
		[ "$(tool times "$WORK/probe-out.pcap")" = 1700000000000000001 ]; then
		EDITCAP=editcap
	fi
fi

window() { # window DESCRIPTION "START END [A,B]..." ARGS...
	local what=$1 sel=$2
	shift 2
	# shellcheck disable=SC2086
	tool select "$IN" "$WORK/want.pcap" $sel
	run -F PCAP_NS "$@" fs/ns.pcap
	check "$what: same packets as the reader" same_records "$OUT" "$WORK/want.pcap"
	check "$what: selects something" test "$(tool count "$OUT" | cut -d' ' -f1)" -gt 0
}

window "start/end" "$S $E" --start "$S" --end "$E"
window "start only" "$S 0" --start "$S"
window "end only" "0 $E" --end "$E"
window "one ns" "$S $T.000000101" --start "$S" --end "$T.000000101"
window "union" "0 0 $A1,$B1 $A2,$B2" --interval "$A1,$B1" --interval "$A2,$B2"
window "union clipped" "$S $E $A1,$B1 $A2,$B2" --start "$S" --end "$E" \
	--interval "$A2,$B2" --interval "$A1,$B1"
window "overlapping" "0 0 $A1,$B2 $A2,$E" --interval "$A1,$B2" --interval "$A2,$E"
window "open interval" "$S 0 $A2,0" --start "$S" --interval "$A2,0"
if [ -n "$EDITCAP" ]; then
	editcap -F nsecpcap -A "$S" -B "$E" "$IN" "$WORK/ref.pcap"
	run -F PCAP_NS --start "$S" --end "$E" fs/ns.pcap
	check "start/end: same packets as editcap -A/-B" same_records "$OUT" "$WORK/ref.pcap"
fi
# The same windows from a config file, times as JSON numbers and strings.
# A double near 1.7e9 holds about 7 fraction digits: the number is one
# it holds exactly.
printf '{"path":"fs/ns.pcap","output_format":"PCAP_NS","start_time":"%s","time_intervals":[{"start_time":%s,"end_time":"%s"}]}\n' \
	"$S" "$((T + 3)).5" "$B2" >"$WORK/cfg.json"
tool select "$IN" "$WORK/want.pcap" "$S" 0 "$((T + 3)).5,$B2"
run --config "$WORK/cfg.json"
check "config file windows" same_records "$OUT" "$WORK/want.pcap"

# --- PCAP_NS keeps every nanosecond; PCAP_US truncates toward zero
run -F PCAP_NS fs/ns.pcap
check "PCAP_NS: every record as read" same_records "$OUT" "$IN"
check "PCAP_NS: tcpdump sees the same nanoseconds" cmp -s \
	<(tcpdump -n --time-stamp-precision=nano -tt -r "$OUT" 2>/dev/null) \
	<(tcpdump -n --time-stamp-precision=nano -tt -r "$IN" 2>/dev/null)
check "PCAP_NS: header" test "$(tool header "$OUT")" = "1 65535 1"
run -F PCAP_US fs/ns.pcap
tool us "$IN" "$WORK/want.pcap"
check "PCAP_US: truncated toward zero" same_records "$OUT" "$WORK/want.pcap"
check "PCAP_US: header" test "$(tool header "$OUT")" = "0 65535 1"
tcpdump -r "$IN" -w "$WORK/ref.pcap" 2>/dev/null
check "PCAP_US: as tcpdump writes microseconds" same_records "$OUT" "$WORK/ref.pcap"
run -F PCAP_US --start "$T.999999999" --end "$((T + 1)).000001" fs/ns.pcap
check "PCAP_US: .999999999 is written .999999" test \
	"$(tool times "$OUT" | head -1)" = "${T}999999000"
run -F PCAP_US --start "$T.000000999" --end "$T.000001" fs/ns.pcap
check "PCAP_US: .000000999 is written .000000" test \
	"$(tool times "$OUT")" = "${T}000000000"

# --- stop rules, exact, read back from --stats
python3 "$MKCAP" "$WORK/fs/a.pcap" --packets 1000 --seed 31
tcpdump -r "$WORK/fs/a.pcap" -w "$WORK/tcp.pcap" tcp 2>/dev/null
read -r M B < <(tool count "$WORK/tcp.pcap")
LAST=$(tool last "$WORK/tcp.pcap")
check "enough tcp packets ($M)" test "$M" -gt 10

stop() { # stop DESCRIPTION PACKETS BYTES TRUNCATED ARGS...
	local what=$1 n=$2 bytes=$3 trunc=$4
	shift 4
	run --stats -f BPF:tcp "$@" fs/a.pcap
	check "$what: exported_packets $n" stat_is "$WORK/err" exported_packets "$n"
	check "$what: exported_bytes $bytes" stat_is "$WORK/err" exported_bytes "$bytes"
	check "$what: truncated $trunc" stat_is "$WORK/err" truncated "$trunc"
	tool head "$WORK/tcp.pcap" "$WORK/want.pcap" "$n"
	check "$what: the first $n matching packets" same_records "$OUT" "$WORK/want.pcap"
}
stop "no limit" "$M" "$B" false
stop "packet_limit N (exactly N match)" "$M" "$B" false --packet-limit "$M"
stop "packet_limit N-1" $((M - 1)) $((B - LAST)) true --packet-limit $((M - 1))
tool head "$WORK/tcp.pcap" "$WORK/one.pcap" 1
read -r _ FIRST < <(tool count "$WORK/one.pcap")
stop "packet_limit 1" 1 "$FIRST" true --packet-limit 1
stop "size_limit = all bytes" "$M" "$B" false --size-limit "$B"
stop "size_limit one byte short" $((M - 1)) $((B - LAST)) true --size-limit $((B - 1))
stop "time_limit far away" "$M" "$B" false --time-limit 3600
# Sizes take k, M, G, T (powers of 1024), with B or iB after them or not.
read -r KN KB < <(tool prefix "$WORK/tcp.pcap" 2048)
check "2 KiB holds some, not all, of the tcp packets" test "$KN" -gt 0 -a "$KN" -lt "$M"
for size in 2k 2K 2kB 2KiB 2048B; do
	stop "size_limit $size (2048 bytes)" "$KN" "$KB" true --size-limit "$size"
done
stop "size_limit 1M (more than all)" "$M" "$B" false --size-limit 1M
run --stats fs/a.pcap
check "stats: processed every packet" stat_is "$WORK/err" processed_packets 1000
check "stats: total_bytes is the file size" stat_is "$WORK/err" total_bytes \
	"$(wc -c <"$WORK/fs/a.pcap")"
check "stats: nothing dropped" stat_is "$WORK/err" dropped_packets 0

# --- snap length: cut, original length kept, header says it
run -s 100 fs/a.pcap
tool snap "$WORK/fs/a.pcap" "$WORK/want.pcap" 100
check "snap 100: records cut, lengths kept" same_records "$OUT" "$WORK/want.pcap"
check "snap 100: header snaplen" test "$(tool header "$OUT")" = "0 100 1"
if command -v editcap >/dev/null; then
	editcap -F pcap -s 100 "$WORK/fs/a.pcap" "$WORK/ref.pcap"
	check "snap 100: as editcap -s" same_records "$OUT" "$WORK/ref.pcap"
fi
read -r N NB < <(tool prefix "$WORK/want.pcap" 1000)
run --stats -s 100 --size-limit 1000 fs/a.pcap
check "snap 100: size_limit counts cut bytes ($NB)" stat_is "$WORK/err" exported_bytes "$NB"
check "snap 100: $N packets within 1000 bytes" stat_is "$WORK/err" exported_packets "$N"
check "snap 100: size_limit truncated" stat_is "$WORK/err" truncated true
run -s 65535 fs/a.pcap
check "snap 65535: every record whole" same_records "$OUT" "$WORK/fs/a.pcap"

# --- sidecar index: windows on a file the index covers (the size floor is
# lowered so a small file gets one) equal windows read from the start
python3 "$MKCAP" "$WORK/fs/idx.pcap" --packets 6000 --seed 41 --gap 1000000
mkdir -p "$WORK/noidx"
for w in "1700000003 1700000004.5" "1700000000 1700000000.000001" \
	"1700000011.000000001 1700000012" "1600000000 1700000001" "1800000000 1800000001"; do
	set -- $w
	PKTEXPORT_INDEX_MIN_BYTES=1000000000000 run --start "$1" --end "$2" fs/idx.pcap
	mv "$OUT" "$WORK/noidx/want.pcap"
	PKTEXPORT_INDEX_MIN_BYTES=0 run --start "$1" --end "$2" fs/idx.pcap
	check "indexed window $1..$2 equals a full read" cmp -s "$OUT" "$WORK/noidx/want.pcap"
done
check "sidecar index kept under the root's .index" test -s "$WORK/.index/fs/idx.pcap.idx"
check "nothing written beside the capture" test "$(ls "$WORK/fs" | grep -c idx)" = 1
touch -d '2001-01-01' "$WORK/fs/idx.pcap"
PKTEXPORT_INDEX_MIN_BYTES=0 run --start 1700000003 --end 1700000004.5 fs/idx.pcap
PKTEXPORT_INDEX_MIN_BYTES=1000000000000 run --start 1700000003 --end 1700000004.5 fs/idx.pcap
cp "$OUT" "$WORK/noidx/want.pcap"
PKTEXPORT_INDEX_MIN_BYTES=0 run --start 1700000003 --end 1700000004.5 fs/idx.pcap
check "stale index (file touched) is rebuilt, window still exact" cmp -s "$OUT" "$WORK/noidx/want.pcap"

# --- the sidecar index is of the file as it is: a capture replaced by
# another of the same size, its mtime put back (cp -p, touch -r), is
# indexed again.  The replacement holds the same records, all at the time
# of the last one: an index of the old file would seek past most of them.
python3 - "$WORK/fs/idx.pcap" "$WORK/same-size.pcap" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
offs, o = [], 24
while o + 16 <= len(d):
    offs.append(o)
    o += 16 + struct.unpack("<I", d[o + 8:o + 12])[0]
last = bytes(d[offs[-1]:offs[-1] + 8])
for o in offs:
    d[o:o + 8] = last
open(sys.argv[2], "wb").write(bytes(d))
EOF
last=$(tool times "$WORK/same-size.pcap" | tail -1)
LS=${last:0:10}.${last:10} LE=$((${last:0:10} + 1)).${last:10}
PKTEXPORT_INDEX_MIN_BYTES=0 run --start 1700000003 --end 1700000004.5 fs/idx.pcap # index current
touch -r "$WORK/fs/idx.pcap" "$WORK/same-size.pcap"
cp -p "$WORK/same-size.pcap" "$WORK/fs/idx.pcap"
PKTEXPORT_INDEX_MIN_BYTES=1000000000000 run --start "$LS" --end "$LE" fs/idx.pcap
mv "$OUT" "$WORK/noidx/want.pcap"
PKTEXPORT_INDEX_MIN_BYTES=0 run --start "$LS" --end "$LE" fs/idx.pcap
check "same-size replacement (cp -p): window = full read ($(tool count "$OUT"))" \
	cmp -s "$OUT" "$WORK/noidx/want.pcap"
check "same-size replacement (cp -p): every record" \
	test "$(tool count "$OUT")" = "$(tool count "$WORK/fs/idx.pcap")"

# --- damage as libpcap sees it, indexed or not: a record longer than the
# link type allows ends the export there (exit 1) even when the header's
# snap length is huge; one longer than a smaller snap length is cut to
# it; a 2.2 file has caplen and len the other way round; "modified" pcap
# (0xa1b2cd34) has 24-byte record headers.  Windows with and without the
# index, and tcpdump, agree.
mkdir -p "$WORK/fs/lp"
python3 - "$WORK/fs/lp" <<'EOF'
import os, struct, sys
T = 1700000000
def hdr(snap, magic=0xA1B2C3D4, lt=1, minor=4):
    return struct.pack("<IHHiIII", magic, 2, minor, 0, 0, snap, lt)
def rec(t, cap, wire=None, extra=b"", swap=False):
    wire = cap if wire is None else wire
    a, b = (wire, cap) if swap else (cap, wire)
    return struct.pack("<IIII", t, 5, a, b) + extra + bytes([t % 251]) * cap
def put(name, data):
    open(os.path.join(sys.argv[1], name), "wb").write(data)
def small(i, **k):
    return rec(T + i, 60 + i % 40, **k)
# 0xffffffff, 0x7fffffff and 0 mean 262144 to libpcap: 300000 bytes is
# damage.
for name, snap in (("huge", 0xFFFFFFFF), ("zero", 0), ("int", 0x7FFFFFFF)):
    put("snap-%s.pcap" % name, hdr(snap) + b"".join(small(i) for i in range(200)) +
        rec(T + 200, 300000) + b"".join(small(i) for i in range(201, 400)))
# 70000 bytes past a snap length of 1000: cut to 1000, the rest skipped.
put("cut.pcap", hdr(1000) + b"".join(small(i) for i in range(100)) +
    rec(T + 100, 70000) + b"".join(small(i) for i in range(101, 300)))
# A link type allowed 1 MiB (USBPCAP): 300000 bytes is a packet.
put("usbpcap.pcap", hdr(0, lt=249) + b"".join(small(i) for i in range(100)) +
    rec(T + 100, 300000) + b"".join(small(i) for i in range(101, 300)))
# Version 2.2: len first, then caplen.
put("v22.pcap", hdr(65535, minor=2) +
    b"".join(rec(T + i, 60 + i % 40, 1500, swap=True) for i in range(300)))
# Modified pcap: 8 more bytes per record header (ifindex, protocol, type).
put("modified.pcap", hdr(65535, magic=0xA1B2CD34) +
    b"".join(rec(T + i, 60 + i % 40, extra=bytes(8)) for i in range(300)))
EOF
for f in snap-huge snap-zero snap-int cut usbpcap v22 modified; do
	tcpdump --time-stamp-precision=nano -r "$WORK/fs/lp/$f.pcap" -w "$WORK/lp-ref.pcap" 2>/dev/null
	trc=$?
	for w in "1700000150 1700000250" "1700000201 1700000300" "1700000000 1700001000"; do
		set -- $w
		rm -f "$OUT" "$WORK/lp-full.pcap"
		PKTEXPORT_INDEX_MIN_BYTES=1000000000000 "$PKTEXPORT" export --root "$ROOT" \
			-o "$WORK/lp-full.pcap" -F PCAP_NS --start "$1" --end "$2" "fs/lp/$f.pcap" 2>/dev/null
		frc=$?
		rm -rf "$WORK/.index/fs/lp"
		PKTEXPORT_INDEX_MIN_BYTES=0 "$PKTEXPORT" export --root "$ROOT" \
			-o "$OUT" -F PCAP_NS --start "$1" --end "$2" "fs/lp/$f.pcap" 2>"$WORK/err"
		irc=$?
		check "$f.pcap $1..$2: indexed exit $irc = full read's $frc = tcpdump's $trc" \
			test "$irc" = "$frc" -a "$frc" = "$trc"
		if [ "$frc" = 0 ]; then
			check "$f.pcap $1..$2: indexed = full read" cmp -s "$OUT" "$WORK/lp-full.pcap"
			tool select "$WORK/lp-ref.pcap" "$WORK/lp-want.pcap" "$1" "$2"
			check "$f.pcap $1..$2: = tcpdump's records" same_records "$OUT" "$WORK/lp-want.pcap"
		else
			check "$f.pcap $1..$2: damage" error_is SOURCE_DAMAGED "$WORK/err"
		fi
	done
done

# --- "modified" pcap with times past 2^31 s and FCS bits in its link type
# field: times, window and link type as tcpdump has them.
python3 - "$WORK/fs/lp/mod2038.pcap" <<'EOF'
import struct, sys
d = struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1 | (1 << 26) | (2 << 28))
for i in range(3):
    d += struct.pack("<IIII", 0x80000000 + i, 999999, 60, 60) + bytes(8) + bytes([i]) * 60
open(sys.argv[1], "wb").write(d)
EOF
tcpdump --time-stamp-precision=nano -r "$WORK/fs/lp/mod2038.pcap" -w "$WORK/lp-ref.pcap" 2>/dev/null
run -F PCAP_NS fs/lp/mod2038.pcap
check "modified pcap past 2038: tcpdump's records and link type" same_records "$OUT" "$WORK/lp-ref.pcap"
check "modified pcap past 2038: first time 2147483648.999999" \
	test "$(tool times "$OUT" | head -1)" = 2147483648999999000
run -F PCAP_NS --start 2147483649 --end 2147483650 fs/lp/mod2038.pcap
check "modified pcap past 2038: a window of one second, one packet" \
	test "$(tool times "$OUT")" = 2147483649999999000

finish
