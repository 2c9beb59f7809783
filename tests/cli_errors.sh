#!/bin/bash
# Bad input through the CLI: every kind is exit 2, exactly one API error
# line on stderr, and no output file (an existing one left untouched).
# Also: config files, options over them, empty results, damaged input.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump tshark

ROOT=$WORK/root
OUTDIR=$WORK/out
OUT=$OUTDIR/x.pcap
mkdir -p "$ROOT/fs/dir" "$WORK/outside" "$OUTDIR"
python3 "$MKCAP" "$ROOT/fs/a.pcap" --packets 200 --seed 21
cp "$ROOT/fs/a.pcap" "$WORK/outside/secret.pcap"
ln -s ../../outside/secret.pcap "$ROOT/fs/out.pcap"
ln -s ../../outside "$ROOT/fs/outdir"
ln -s "$WORK/outside/secret.pcap" "$ROOT/fs/abs.pcap"
ln -s a.pcap "$ROOT/fs/in.pcap"
echo "this is not a capture" >"$ROOT/fs/text.pcap"
: >"$ROOT/fs/empty.pcap"

export_to() { # export_to OUTPUT ARGS...: runs an export, sets RC
	local out=$1
	shift
	"$PKTEXPORT" export --root "$ROOT" -o "$out" "$@" \
		>"$WORK/stdout" 2>"$WORK/err"
	RC=$?
}

# rejected ID SAYS ARGS...: the request is refused with error ID, its text
# names SAYS, and nothing is written.
rejected() {
	local id=$1 says=$2 what
	shift 2
	what="rejected [$*]"
	rm -f "$OUT"
	export_to "$OUT" "$@"
	check "$what: exit 2 (got $RC)" test "$RC" = 2
	check "$what: one line on stderr" test "$(wc -l <"$WORK/err")" = 1
	check "$what: $id ($(cat "$WORK/err"))" error_is "$id" "$WORK/err"
	check "$what: names '$says'" text_has "$says" "$WORK/err"
	check "$what: no output file" test ! -e "$OUT"
	check "$what: nothing on stdout" test ! -s "$WORK/stdout"
	# An existing file of that name is left as it was.
	echo "precious" >"$OUT"
	export_to "$OUT" "$@"
	check "$what: exit 2 again" test "$RC" = 2
	check "$what: existing file untouched" test "$(cat "$OUT")" = precious
	rm -f "$OUT"
	check "$what: no temporary file left" test -z "$(ls -A "$OUTDIR")"
}

text_has() { # text_has PART FILE: the error_text of FILE holds PART
	python3 -c 'import json, sys
sys.exit(sys.argv[1] not in json.loads(open(sys.argv[2]).readline())["error_text"])' "$1" "$2"
}

config() { # config NAME JSON: writes a config file, prints its path
	printf '%s\n' "$2" >"$WORK/$1.json"
	echo "$WORK/$1.json"
}

EINVAL=REQUEST_INVALID_INPUT
ENOTFOUND=RESOURCE_NOT_FOUND

# --- unknown keys, wrong types, bad enums (config file and options)
rejected $EINVAL bogus --config "$(config k1 '{"path":"fs/a.pcap","bogus":1}')"
rejected $EINVAL byte_limit \
	--config "$(config k2 '{"path":"fs/a.pcap","stop_rule":{"byte_limit":1}}')"
rejected $EINVAL negate --config "$(config k3 '{"path":"fs/a.pcap","filters":{"items":[{"id":"a","type":"BPF","value":"tcp","negate":true}]}}')"
rejected $EINVAL '"op"' --config "$(config k4 '{"path":"fs/a.pcap","filters":{"op":"and"}}')"
rejected $EINVAL duration --config "$(config k5 '{"path":"fs/a.pcap","time_intervals":[{"start_time":"1","end_time":"2","duration":1}]}')"
rejected $EINVAL snap_length \
	--config "$(config t1 '{"path":"fs/a.pcap","snap_length":"100"}')"
rejected $EINVAL config.path --config "$(config t2 '{"path":["fs/a.pcap"]}')"
rejected $EINVAL packet_limit \
	--config "$(config t3 '{"path":"fs/a.pcap","stop_rule":{"packet_limit":1.5}}')"
rejected $EINVAL start_time --config "$(config t4 '{"path":"fs/a.pcap","start_time":false}')"
rejected $EINVAL FAST --config "$(config e1 '{"path":"fs/a.pcap","mode":"FAST"}')"
rejected $EINVAL PCAP_MS -F PCAP_MS fs/a.pcap
rejected $EINVAL PCRE -f 'PCRE:x' fs/a.pcap
rejected $EINVAL ALWAYS --config "$(config e2 '{"path":"fs/a.pcap","filters":{"items":[{"id":"a","type":"BPF","value":"tcp","context":"ALWAYS"}]}}')"
rejected $EINVAL LIVE_STREAM \
	--config "$(config e3 '{"path":"fs/a.pcap","mode":"LIVE_STREAM"}')"
rejected $EINVAL end_time --config "$(config r1 '{"path":"fs/a.pcap","time_intervals":[{"start_time":"1"}]}')"
rejected $EINVAL "path" --config "$(config r2 '{"mode":"PREPARE"}')"
# An export's document ({"config": ...}) rather than its config: said so,
# with or without a PATH.
rejected $EINVAL "the config object itself" --config "$(config r3 '{"config":{"path":"fs/a.pcap"}}')"
rejected $EINVAL "the config object itself" --config "$(config r4 '{"config":{"path":"fs/a.pcap"}}')" fs/a.pcap
# The service's own fields: exported anyway, with a warning for each.
export_to "$OUT" --config "$(config w1 '{"path":"fs/a.pcap","mode":"STREAM_TO_FILE","output_filename":"zz.pcap"}')"
check "service-only fields: exit 0 ($RC)" test "$RC" = 0
check "service-only fields: mode warned of" grep -q 'mode applies to the service only' "$WORK/err"
check "service-only fields: output_filename warned of" grep -q 'output_filename applies to the service only' "$WORK/err"
check "service-only fields: no file of that name" test ! -e "$WORK/fs/zz.pcap"

# --- numbers out of range
rejected $EINVAL 65536 -s 65536 fs/a.pcap
rejected $EINVAL 100000 -s 100000 fs/a.pcap
rejected $EINVAL '"-1"' -s -1 fs/a.pcap
rejected $EINVAL abc --packet-limit abc fs/a.pcap
rejected $EINVAL 4294967296 --time-limit 4294967296 fs/a.pcap
rejected $EINVAL 12x --size-limit 12x fs/a.pcap
rejected $EINVAL 12ki --size-limit 12ki fs/a.pcap
rejected $EINVAL 2kk --size-limit 2kk fs/a.pcap
rejected $EINVAL '" k"' --size-limit ' k' fs/a.pcap
# Past 2^63 - 1, in digits or through the unit: refused, never wrapped.
rejected $EINVAL 9223372036854775808 --size-limit 9223372036854775808 fs/a.pcap
rejected $EINVAL 8388608T --size-limit 8388608T fs/a.pcap
rejected $EINVAL 65536 --config "$(config n1 '{"path":"fs/a.pcap","snap_length":65536}')"

# --- times
rejected $EINVAL '"1e9"' --start 1e9 fs/a.pcap
rejected $EINVAL '"12."' --end 12. fs/a.pcap
rejected $EINVAL '" 1"' --start " 1" fs/a.pcap
rejected $EINVAL '"-1x"' --start -1x fs/a.pcap
rejected $EINVAL '"2023-02-29T00:00:00Z": no such day' --start 2023-02-29T00:00:00Z fs/a.pcap
rejected $EINVAL 1700000000.1234567891 --end 1700000000.1234567891 fs/a.pcap
rejected $EINVAL yesterday --interval yesterday,1700000001 fs/a.pcap
rejected $EINVAL '"1700000001"' --interval 1700000001 fs/a.pcap
rejected $EINVAL after --interval 1700000002,1700000001 fs/a.pcap
rejected $EINVAL after --start 1700000002 --end 1700000001 fs/a.pcap
rejected $EINVAL 99999999999999999999 --start 99999999999999999999 fs/a.pcap

# --- paths
rejected $EINVAL '".."' fs/../fs/a.pcap
rejected $EINVAL '".."' fs/dir/../a.pcap
rejected $EINVAL ../a.pcap ../a.pcap
rejected $EINVAL /etc/passwd /etc/passwd
rejected $EINVAL absolute fs//etc/passwd
rejected $EINVAL "leads out" fs/out.pcap
rejected $EINVAL "leads out" fs/outdir/secret.pcap
rejected $EINVAL "leads out" fs/abs.pcap
rejected $ENOTFOUND missing.pcap fs/missing.pcap
rejected $EINVAL "not a regular file" fs/dir
rejected $EINVAL fs/text.pcap fs/text.pcap
rejected $EINVAL fs/empty.pcap fs/empty.pcap
rejected $EINVAL "nothing to read" --start 1
# the words after PATH are a BPF expression, as tcpdump's are
rejected $EINVAL "the BPF expression 'fs/in.pcap'" fs/a.pcap fs/in.pcap
rejected $ENOTFOUND nowhere --root "$WORK/nowhere" fs/a.pcap

# --- filters
rejected $EINVAL "syntax error" -f 'BPF:tcp port' fs/a.pcap
rejected $EINVAL 99999 -f 'BPF:port 99999' fs/a.pcap
rejected $EINVAL "syntax error" -f BPF:tcp -f 'BPF:udp and (' fs/a.pcap
# a text whose prefix names no filter type is BPF (-f tcp is BPF:tcp)
rejected $EINVAL "-f ':tcp'" -f :tcp fs/a.pcap
rejected $EINVAL "no filter type BOGUS" -f BOGUS:x fs/a.pcap
for type in STEELFILTER WIRESHARK; do
	if ! "$PKTEXPORT" plugins 2>/dev/null | grep -qw "$type"; then
		rejected $EINVAL "$type" -f "$type:x" fs/a.pcap
	fi
done

# --- config files that are not configs
rejected $EINVAL bad.json --config "$(config bad '{"path":"fs/a.pcap",}')"
rejected $EINVAL "config object" --config "$(config arr '["fs/a.pcap"]')"
rejected $EINVAL duplicate \
	--config "$(config dup '{"path":"fs/a.pcap","path":"fs/in.pcap"}')"
rejected $EINVAL nonexistent.json --config "$WORK/nonexistent.json"

# --- writing to standard output: nothing on it when refused
"$PKTEXPORT" export --root "$ROOT" -f 'BPF:tcp port' fs/a.pcap \
	>"$WORK/stdout" 2>"$WORK/err"
check "refused to stdout: exit 2" test $? = 2
check "refused to stdout: nothing written" test ! -s "$WORK/stdout"
check "refused to stdout: error" error_is $EINVAL "$WORK/err"

# --- an output file that cannot be created: an error, no file
export_to "$WORK/no-such-dir/x.pcap" fs/a.pcap
check "unwritable output: fails ($RC)" test "$RC" != 0
check "unwritable output: EXPORT_IO_ERROR" error_is EXPORT_IO_ERROR "$WORK/err"

# --- options override the config file
tcpdump -r "$ROOT/fs/a.pcap" -w "$WORK/ref.pcap" 'tcp and port 80' 2>/dev/null
file_cfg=$(config over '{"path":"fs/missing.pcap","output_format":"PCAP_US","snap_length":100,"filters":{"items":[{"id":"f","type":"BPF","value":"tcp"}]},"stop_rule":{"packet_limit":1}}')
export_to "$OUT" --config "$file_cfg" -F PCAP_NS -s 0 -f 'BPF:port 80' \
	--packet-limit 100000 fs/a.pcap
check "override: exit 0 ($RC $(cat "$WORK/err"))" test "$RC" = 0
check "override: format PCAP_NS" test "$(head -c 4 "$OUT" | od -An -tx4 | tr -d ' ')" = a1b23c4d
python3 - "$OUT" "$WORK/ref.pcap" <<'EOF'
import struct, sys
def recs(p, scale):
    d = open(p, "rb").read()
    o, out = 24, []
    while o + 16 <= len(d):
        s, f, c, w = struct.unpack("<IIII", d[o:o + 16])
        out.append((s * 10**9 + f * scale, c, w, d[o + 16:o + 16 + c]))
        o += 16 + c
    return out
a, b = recs(sys.argv[1], 1), recs(sys.argv[2], 1000)
sys.exit(0 if a == b and len(a) > 1 else 1)
EOF
check "override: filters ANDed, no snap, no limit: tcpdump's packets" test $? = 0
export_to "$OUT" --config "$file_cfg" --size-limit 100000000 --stats fs/a.pcap
check "override: stop rules merge (the file's packet_limit kept)" \
	grep -q '"exported_packets":1,' "$WORK/err"
file_cfg=$(config ivl '{"path":"fs/a.pcap","time_intervals":[{"start_time":"0","end_time":"1"}]}')
export_to "$OUT" --config "$file_cfg" --interval 0,0 --stats
check "override: --interval replaces the file's intervals" \
	grep -q '"exported_packets":200,' "$WORK/err"

# --- nothing matches: exit 0 and an empty but valid capture
tcpdump_reads() { tcpdump -n -r "$1" -w /dev/null 2>/dev/null; }
empty_ok() { # empty_ok ARGS...
	rm -f "$OUT"
	export_to "$OUT" "$@" fs/a.pcap
	check "empty [$*]: exit 0 ($RC)" test "$RC" = 0
	check "empty [$*]: header only" test "$(wc -c <"$OUT")" = 24
	check "empty [$*]: tcpdump reads it" tcpdump_reads "$OUT"
}
empty_ok -f 'BPF:ip proto 89'
empty_ok --start 1800000000
empty_ok --end 1
empty_ok --interval 1,2 --interval 3,4

# --- damaged input: exit 1, every packet before the damage kept
head -c -10 "$ROOT/fs/a.pcap" >"$ROOT/fs/cut.pcap"
tcpdump -r "$ROOT/fs/cut.pcap" -w "$WORK/ref.pcap" 2>/dev/null
export_to "$OUT" fs/cut.pcap
check "damaged: exit 1 ($RC)" test "$RC" = 1
check "damaged: error on stderr" error_is SOURCE_DAMAGED "$WORK/err"
check "damaged: the good packets are kept" same_records "$OUT" "$WORK/ref.pcap"
check "damaged: 199 packets" test "$(tcpdump -n -r "$OUT" 2>/dev/null | wc -l)" = 199
export_to "$OUT" --stats fs/cut.pcap
check "damaged --stats: exit 1" test "$RC" = 1
python3 -c '
import json, sys
s = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert s["error"]["error_id"] == "SOURCE_DAMAGED", s
assert s["exported_packets"] == 199 and s["truncated"] is False, s
' "$WORK/err"
check "damaged --stats: stats carry the error" test $? = 0

# --- what the CLI writes never follows a symbolic link: -o naming a link
# replaces the link with the capture, its target is left alone; a file
# replaced keeps its permissions
mkdir -p "$WORK/links"
ln -s target.pcap "$WORK/links/dangling.pcap"
export_to "$WORK/links/dangling.pcap" fs/a.pcap
check "-o dangling link: exit 0" test "$RC" = 0
check "-o dangling link: now a file" test -f "$WORK/links/dangling.pcap" -a ! -L "$WORK/links/dangling.pcap"
check "-o dangling link: the capture" same_records "$WORK/links/dangling.pcap" "$ROOT/fs/a.pcap"
check "-o dangling link: no target made" test ! -e "$WORK/links/target.pcap"
printf x >"$WORK/links/kept.pcap"
chmod 640 "$WORK/links/kept.pcap"
ln -s kept.pcap "$WORK/links/to-kept.pcap"
export_to "$WORK/links/to-kept.pcap" fs/a.pcap
check "-o link to a file: replaced by the file" test -f "$WORK/links/to-kept.pcap" -a ! -L "$WORK/links/to-kept.pcap"
check "-o link to a file: its target untouched" test "$(cat "$WORK/links/kept.pcap")" = x
export_to "$WORK/links/kept.pcap" fs/a.pcap
check "-o the file itself: replaced" same_records "$WORK/links/kept.pcap" "$ROOT/fs/a.pcap"
check "-o replaced file keeps mode 640" test "$(stat -c %a "$WORK/links/kept.pcap")" = 640
check "-o links: no temporary file left" test "$(ls -A "$WORK/links" | grep -c pktexport)" = 0
# A link to a pipe or a device is written through (there is no file to
# replace): /dev/stdout, /dev/fd/N, a link of one's own to them.
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/stdout fs/a.pcap 2>"$WORK/err" >"$WORK/links/via-stdout.pcap"
check "-o /dev/stdout: the capture on standard output" same_records "$WORK/links/via-stdout.pcap" "$ROOT/fs/a.pcap"
check "-o /dev/stdout: still a link" test -L /dev/stdout
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/fd/1 fs/a.pcap 2>"$WORK/err" | cat >"$WORK/links/via-fd.pcap"
check "-o /dev/fd/1 into a pipe: the capture" same_records "$WORK/links/via-fd.pcap" "$ROOT/fs/a.pcap"
ln -s /dev/fd/1 "$WORK/links/to-stdout"
"$PKTEXPORT" export --root "$ROOT" -q -o "$WORK/links/to-stdout" fs/a.pcap 2>"$WORK/err" | cat >"$WORK/links/via-own.pcap"
check "-o a link to /dev/fd/1: written through" same_records "$WORK/links/via-own.pcap" "$ROOT/fs/a.pcap"
check "-o a link to /dev/fd/1: the link kept" test -L "$WORK/links/to-stdout"
# A descriptor that is not open, or not for writing, is named as such,
# exit 2, and nothing is made; standard output closed (">&-") is not
# written into whatever file took its number.
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/fd/9 fs/a.pcap 2>"$WORK/err"
check "-o /dev/fd/9 not open: exit 2 ($?)" test $? = 2
check "-o /dev/fd/9 not open: says so ($(cat "$WORK/err"))" grep -q "descriptor 9 is not open" "$WORK/err"
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/fd/9 fs/a.pcap 2>"$WORK/err" 9>"$WORK/links/nine.pcap"
check "-o /dev/fd/9 open: the capture" same_records "$WORK/links/nine.pcap" "$ROOT/fs/a.pcap"
cp "$ROOT/fs/a.pcap" "$WORK/links/a-before.pcap"
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/fd/0 fs/a.pcap 2>"$WORK/err" <"$ROOT/fs/a.pcap"
check "-o /dev/fd/0 read-only: exit 2 ($?)" test $? = 2
check "-o /dev/fd/0 read-only: says so ($(cat "$WORK/err"))" grep -q "descriptor 0 is open for reading only" "$WORK/err"
check "-o /dev/fd/0 read-only: the input untouched" cmp -s "$ROOT/fs/a.pcap" "$WORK/links/a-before.pcap"
# Only a descriptor pktexport was started with: not one of its own that
# took a free number since (the input file here is opened at 3).
"$PKTEXPORT" export --root "$ROOT" -q -o /dev/fd/3 fs/a.pcap 2>"$WORK/err"
check "-o /dev/fd/3, not given: exit 2 ($?)" test $? = 2
check "-o /dev/fd/3, not given: not open ($(cat "$WORK/err"))" grep -q "descriptor 3 is not open" "$WORK/err"
check "-o /dev/fd/3, not given: the input untouched" cmp -s "$ROOT/fs/a.pcap" "$WORK/links/a-before.pcap"
# A link to a folder is refused as the folder is, the link kept.
mkdir -p "$WORK/links/dir"
ln -sfn "$WORK/links/dir" "$WORK/links/to-dir"
"$PKTEXPORT" export --root "$ROOT" -q -o "$WORK/links/to-dir" fs/a.pcap 2>"$WORK/err"
check "-o a link to a folder: exit 2 ($?)" test $? = 2
check "-o a link to a folder: says so ($(cat "$WORK/err"))" grep -q "is a folder" "$WORK/err"
check "-o a link to a folder: still the link" test -L "$WORK/links/to-dir"
for w in - /dev/stdout; do
	"$PKTEXPORT" export --root "$ROOT" -q -o "$w" fs/a.pcap 2>"$WORK/err" >&-
	check "-o $w, standard output closed: exit 2 ($?)" test $? = 2
	check "-o $w, standard output closed: says so ($(cat "$WORK/err"))" grep -q "reading only" "$WORK/err"
done

# --- a packet stamped past 2106 fits no pcap record: PCAP_* refuse it with
# an error naming it and PCAPNG_*, keeping no file; PCAPNG_* keep its time
cp "$CORPUS/time_2106_overflow.pcapng" "$ROOT/fs/t2106.pcapng"
for fmt in PCAP_US PCAP_NS; do
	rm -f "$OUT"
	export_to "$OUT" -F $fmt fs/t2106.pcapng
	check "2106 $fmt: exit 1 (got $RC)" test "$RC" = 1
	check "2106 $fmt: the error says why ($(cat "$WORK/err"))" \
		grep -q '"error_text":"packet 1 of the export is stamped 4294967296.000000000 s .*past 2106.*PCAPNG_US or PCAPNG_NS"' "$WORK/err"
	check "2106 $fmt: no file kept" test ! -e "$OUT"
	check "2106 $fmt: no temporary file left" test -z "$(ls -A "$OUTDIR")"
done
for fmt in PCAPNG_US PCAPNG_NS; do
	export_to "$WORK/t.pcapng" -F $fmt fs/t2106.pcapng
	check "2106 $fmt: exit 0" test "$RC" = 0
	check "2106 $fmt: time kept" test "$(tshark -r "$WORK/t.pcapng" -T fields -e frame.time_epoch 2>/dev/null)" = 4294967296.000000000
done

finish
