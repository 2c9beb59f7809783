#!/bin/bash
# The command line of a tcpdump/editcap/mergecap/tshark user (issue 20):
# every form of time (exact to the nanosecond, errors naming the flag),
# inputs (-r repeated, stdin, gzip, zstd, outside the root, symbolic
# links), outputs (extension, -F and its clash, nanoseconds kept), flags
# (-c, -s, -Y, bare BPF, -c with a file name) and the messages for people.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump gzip zstd
unset PKTEXPORT_JSON_ERRORS

P=$PKTEXPORT
cd "$WORK" || exit 99
mkdir -p elsewhere root/fs
python3 "$MKCAP" a.pcap --packets 3000 --seed 31
python3 "$MKCAP" b.pcap --packets 2000 --seed 32
python3 "$MKCAP" ns.pcap --packets 2000 --seed 33 --format pcap-ns
python3 "$MKCAP" ng.pcapng --packets 2000 --seed 34 --format pcapng
cp a.pcap elsewhere/far.pcap
ln -s elsewhere/far.pcap link.pcap

rc() { # rc ARGS...: runs pktexport, sets RC, stdout in out.bin, stderr in err
	"$P" "$@" >out.bin 2>err
	RC=$?
	# Killed by a signal it did not expect (a sanitizer's abort): the
	# report into the log, where the failed check alone would not say.
	if [ "$RC" -gt 128 ] && [ "$RC" != 130 ] && [ "$RC" != 143 ]; then
		echo "pktexport $* ended with $RC; its stderr:"
		tail -n 60 err
	fi
}
err_has() { grep -qF -- "$1" err; }
one_line() { test "$(wc -l <err)" = 1; }
not_json() { ! grep -q '^{' err; }
magic() { od -An -tx1 -N4 "$1" | tr -d ' \n'; }
count() { tcpdump -n -r "$1" 2>/dev/null | wc -l; }
caplens() { # the largest caplen of a classic pcap file
	python3 -c 'import struct,sys
d=open(sys.argv[1],"rb").read(); o=24; m=0
while o+16<=len(d):
    c=struct.unpack("<I",d[o+8:o+12])[0]; m=max(m,c); o+=16+c
print(m)' "$1"
}

# ------------------------------------------------------------- times
t() { # t TEXT WANT: pktexport time TEXT prints WANT (ISO, then API)
	local got
	got=$(TZ=${TZONE:-UTC} "$P" time "$1" 2>&1)
	check "time '$1' = $2 (got $got)" test "$got" = "$2"
}
t 2023-11-14T22:13:21.123456789Z "2023-11-14T22:13:21.123456789Z 1700000001.123456789"
t 2023-11-14T22:13:21Z "2023-11-14T22:13:21.000000000Z 1700000001.000000000"
t 2023-11-14t22:13:21.5z "2023-11-14T22:13:21.500000000Z 1700000001.500000000"
t 2023-11-14T23:13:21.000000001+01:00 "2023-11-14T22:13:21.000000001Z 1700000001.000000001"
t 2023-11-14T17:13:21-0500 "2023-11-14T22:13:21.000000000Z 1700000001.000000000"
t 2023-11-14T23:13:21+01 "2023-11-14T22:13:21.000000000Z 1700000001.000000000"
t "2023-11-14 22:13:21.999999999" "2023-11-14T22:13:21.999999999Z 1700000001.999999999"
t "2023-11-14 22:13" "2023-11-14T22:13:00.000000000Z 1699999980.000000000"
TZONE=Europe/Paris t "2023-11-14 23:13:21" "2023-11-14T22:13:21.000000000Z 1700000001.000000000"
TZONE=Europe/Paris t "2023-07-14 23:13:21" "2023-07-14T21:13:21.000000000Z 1689369201.000000000"
TZONE=Europe/Paris t "2023-11-14 23:13:21Z" "2023-11-14T23:13:21.000000000Z 1700003601.000000000"
t 1700000001.123456789 "2023-11-14T22:13:21.123456789Z 1700000001.123456789"
t 1700000001 "2023-11-14T22:13:21.000000000Z 1700000001.000000000"
t 2024-02-29T00:00:00Z "2024-02-29T00:00:00.000000000Z 1709164800.000000000"
t 2106-02-07T06:28:16Z "2106-02-07T06:28:16.000000000Z 4294967296.000000000"
# now and -10m against the clock (a second of slack)
near() { # near TEXT OFFSET: pktexport time TEXT is now + OFFSET seconds
	local before after got
	before=$(date +%s)
	got=$("$P" time "$1" | cut -d' ' -f2 | cut -d. -f1)
	after=$(date +%s)
	check "time '$1' is now$2 ($got, $before..$after)" \
		test "$got" -ge $((before + $2 - 1)) -a "$got" -le $((after + $2))
}
near now +0
near -10m -600
near now-2h -7200
near -30s -30
near -1d -86400
near -1.5s -1
# errors: one line, naming the flag and the text typed, not JSON
bad_time() { # bad_time FLAG TEXT SAYS
	rc -r a.pcap -w x.pcap "$1" "$2"
	check "$1 '$2': exit 2" test "$RC" = 2
	check "$1 '$2': one line" one_line
	check "$1 '$2': names the flag and the text ($(cat err))" err_has "$1 \"$2\""
	check "$1 '$2': says $3" err_has "$3"
	check "$1 '$2': not JSON" not_json
	check "$1 '$2': no file" test ! -e x.pcap
}
bad_time --start 2023-13-01T00:00:00Z "no such month"
bad_time --start 2023-02-29T00:00:00Z "no such day"
bad_time --end 2023-11-14T24:00:00Z "no such hour"
bad_time --end 2023-11-14T22:13:21.1234567891Z "more than 9 fraction digits"
bad_time --start 1700000001.1234567891 "more than 9 fraction digits"
bad_time --start yesterday "is not a time"
bad_time --start 1700000105000000000 "in nanoseconds? write 1700000105.000000000"
bad_time --start -10x "a time before now"
bad_time --start 1969-12-31T23:59:59Z "out of range"
TZ=Europe/Paris rc -r a.pcap -w x.pcap --start "2023-03-26 02:30:00"
check "a local time in the DST gap is refused ($(cat err))" err_has "does not exist in the local time zone"
# One the clocks show twice is refused too, naming both offsets (daylight
# saving ending, and Volgograd moving its standard offset); with its offset
# each is the instant it names; the first second after the repeat is not
# ambiguous.
for tzc in "America/New_York 2023-11-05 01:30:00 -04:00 -05:00 1699162200" \
	"Europe/Paris 2023-10-29 02:30:00 +02:00 +01:00 1698539400" \
	"America/St_Johns 2023-11-05 01:30:00 -02:30 -03:30 1699156800" \
	"Europe/Volgograd 2020-12-27 01:30:00 +04:00 +03:00 1609018200"; do
	read -r tz day clock first second epoch <<<"$tzc"
	TZ=$tz rc -r a.pcap -w x.pcap --start "$day $clock"
	check "$tz $day $clock (twice) is refused: exit 2" test "$RC" = 2
	check "$tz $day $clock (twice): names $first and $second ($(cat err))" \
		err_has "happens twice in the local time zone (the clocks go back then): give its zone, $first"
	check "$tz $day $clock (twice): and $second" err_has "or $second"
	check "$tz $day $clock (twice): no file" test ! -e x.pcap
	check "$tz $day $clock$first is $epoch" test "$(TZ=$tz "$P" time "$day $clock$first")" = \
		"$(TZ=UTC "$P" time "$epoch")"
	check "$tz $day $clock$second is an hour later" test "$(TZ=$tz "$P" time "$day $clock$second")" = \
		"$(TZ=UTC "$P" time "$((epoch + 3600))")"
done
check "Paris 2023-10-29 03:00:00 is once" test "$(TZ=Europe/Paris "$P" time "2023-10-29 03:00:00")" = \
	"$("$P" time 1698544800)"
check "Paris 2023-10-29 02:00:00 is twice" bash -c 'TZ=Europe/Paris "$0" time "2023-10-29 02:00:00" 2>&1 | grep -q "happens twice"' "$P"
rc -r a.pcap -w x.pcap --duration 10s
check "--duration without --start says so" err_has "--duration 10s counts from --start"
rc -r a.pcap -w x.pcap --start 1700000002 --end 2023-11-14T22:13:21Z
check "--start after --end shows both in ISO ($(cat err))" \
	err_has "(2023-11-14T22:13:22.000000000Z) is after --end"
rc -r a.pcap -w x.pcap --duration 1x --start 1700000001
check "--duration 1x names the unit forms" err_has "--duration \"1x\" is not a duration"

# nanosecond exactness: a window of one nanosecond around one packet
times=$(tcpdump -n --time-stamp-precision=nano -tt -r ns.pcap 2>/dev/null | cut -d' ' -f1)
ts=$(echo "$times" | sed -n 1000p)
n_same=$(echo "$times" | grep -cxF "$ts")
iso=$("$P" time "$ts" | cut -d' ' -f1)
sec=${ts%.*} frac=${ts#*.}
next=$(printf '%s.%09d' "$sec" $((10#$frac + 1)))
[ "$((10#$frac))" -lt 999999999 ] || next=""
exact() { # exact WANT ARGS...
	local want=$1
	shift
	rc -q -r ns.pcap -w x.pcap "$@"
	check "[$*] exit 0 ($(cat err))" test "$RC" = 0
	check "[$*] $want packet(s) (got $(count x.pcap))" test "$(count x.pcap)" = "$want"
	rm -f x.pcap
}
if [ -n "$next" ]; then
	exact "$n_same" --start "$ts" --end "$next"
	exact "$n_same" --start "$iso" --end "$next"
	exact "$n_same" --start "$iso" --duration 1ns
	exact "$n_same" --interval "$iso,$next"
	exact 0 --start "$next" --end "$next"
	exact 0 --start "$ts" --duration 0ns
	exact 0 --start "$next" --duration 1ns
	# local time, written in Paris, is the same instant
	paris=$(TZ=Europe/Paris date -d "@$sec" '+%Y-%m-%d %H:%M:%S').$frac
	TZ=Europe/Paris exact "$n_same" --start "$paris" --duration 1ns
	# the window's bytes are the records tcpdump prints at those times
	rc -q -r ns.pcap -w x.pcap --start "$iso" --end "$next"
	check "the packet keeps its nanoseconds" test \
		"$(tcpdump -n --time-stamp-precision=nano -tt -r x.pcap 2>/dev/null | cut -d' ' -f1 | head -1)" = "$ts"
fi
# a window against editcap's (whole seconds, ISO vs epoch seconds)
if command -v editcap >/dev/null; then
	editcap -F nsecpcap -A 1700000003 -B 1700000007 ns.pcap ref.pcap
	rc -q -r ns.pcap -w x.pcap --start 2023-11-14T22:13:23Z --end 2023-11-14T22:13:27Z
	check "ISO window = editcap -A -B" same_records x.pcap ref.pcap
fi

# store locate takes the same times (not nanoseconds only)
cp ns.pcap root/fs/ns.pcap
want=$("$PKTEXPORT_STORE" locate --root root fs/ns.pcap "$((sec))${frac}")
got_s=$("$P" store locate --root root fs/ns.pcap "$ts")
got_iso=$("$P" store locate --root root fs/ns.pcap "$iso")
check "store locate: seconds = nanoseconds ($got_s, $want)" test "$got_s" = "$want"
check "store locate: ISO = nanoseconds ($got_iso)" test "$got_iso" = "$want"
check "store locate: not the first record" test "$got_s" -gt 24
"$P" store locate --root root fs/ns.pcap 1700000105000000000 2>err
check "store locate: nanoseconds pointed out" err_has "in nanoseconds?"

# ------------------------------------------------------------- inputs
rm -f x.pcap
tcpdump -r a.pcap -w ref-a.pcap 2>/dev/null
rc -r a.pcap -w plain.pcap
check "-r FILE, no subcommand: exit 0" test "$RC" = 0
check "-r FILE: the records tcpdump writes" cmp -s plain.pcap ref-a.pcap
check "-r: a summary line" err_has "3000 of 3000 packets written"
rc -r "$WORK/elsewhere/far.pcap" --root "$WORK/root" -w far-out.pcap
check "-r outside the root: read" cmp -s far-out.pcap ref-a.pcap
rc -r link.pcap -w link-out.pcap
check "-r through a symbolic link: read" cmp -s link-out.pcap ref-a.pcap
cat a.pcap | "$P" -q -r - -w stdin.pcap
check "-r - (a pipe): the same" cmp -s stdin.pcap ref-a.pcap
"$P" -q -r - -w stdin2.pcap <a.pcap
check "-r - (a file): the same" cmp -s stdin2.pcap ref-a.pcap
gzip -c a.pcap >a.pcap.gz
zstd -q -c a.pcap >a.pcap.zst
cat a.pcap.gz a.pcap.gz >twice.pcap.gz
rc -r a.pcap.gz -w gz.pcap
check "-r FILE.gz: the same" cmp -s gz.pcap ref-a.pcap
rc -r a.pcap.zst -w zst.pcap
check "-r FILE.zst: the same" cmp -s zst.pcap ref-a.pcap
gzip -c a.pcap >renamed.pcap
rc -r renamed.pcap -w gz2.pcap
check "gzip known by its bytes, not its name" cmp -s gz2.pcap ref-a.pcap
zstd -q -c ng.pcapng >ng.pcapng.zst
rc -q -r ng.pcapng.zst -w ngz.pcapng
"$P" -q -r ng.pcapng -w ngp.pcapng
check "-r pcapng.zst: the packets of the pcapng" \
	cmp -s <(tcpdump -n --time-stamp-precision=nano -tt -xx -r ngz.pcapng 2>/dev/null) \
	<(tcpdump -n --time-stamp-precision=nano -tt -xx -r ngp.pcapng 2>/dev/null)
head -c 30000 a.pcap.gz >cut.pcap.gz
rc -r cut.pcap.gz -w cut.pcap
check "a cut gzip file: exit 1 ($RC)" test "$RC" = 1
check "a cut gzip file: says so ($(cat err))" err_has "gzip data ends early"
check "a cut gzip file: the packets before kept" test "$(count cut.pcap)" -gt 0
rc -r missing.pcap -w x.pcap
check "-r missing: exit 2, no file" test "$RC" = 2 -a ! -e x.pcap
check "-r missing: the path and why" err_has "-r missing.pcap: No such file"
rc -r elsewhere -w x.pcap
check "-r a folder: refused" err_has "is a folder"
# several -r: merged by time, as mergecap does
rc -q -r a.pcap -r b.pcap -w merged.pcap
check "-r A -r B: exit 0" test "$RC" = 0
check "-r A -r B: every packet" test "$(count merged.pcap)" = 5000
check "-r A -r B: in time order" cmp -s \
	<(tcpdump -n -tt -r merged.pcap 2>/dev/null | cut -d' ' -f1) \
	<(tcpdump -tt -r merged.pcap 2>/dev/null | cut -d' ' -f1 | sort -s -n)
if command -v mergecap >/dev/null; then
	mergecap -F pcap -w ref-m.pcap a.pcap b.pcap
	check "-r A -r B: mergecap's records" same_records merged.pcap ref-m.pcap
	rc -q -r a.pcap -r ns.pcap -r b.pcap.gz -w merged3.pcap 2>/dev/null
	gzip -c b.pcap >b.pcap.gz
	rc -q -r a.pcap -r ns.pcap -r b.pcap.gz -w merged3.pcap
	mergecap -F nsecpcap -w ref-m3.pcap a.pcap ns.pcap b.pcap
	check "three inputs, one gzip, one nanosecond: mergecap's" same_records merged3.pcap ref-m3.pcap
fi
rm -f x.pcap
# no sidecar index for -r files, even large windows with the index on
PKTEXPORT_INDEX_MIN_BYTES=0 "$P" -q -r a.pcap --start 1700000003 -w x.pcap
# (root/ has the index store locate made above)
check "no index made for -r files" test -z "$(find "$WORK" -path "$WORK/root" -prune -o \( -name '*.idx' -o -name .index \) -print)"
rm -f x.pcap

# ------------------------------------------------------------ outputs
rc -q -r a.pcap -w o.pcapng
check "-w X.pcapng: pcapng" test "$(magic o.pcapng)" = 0a0d0d0a
rc -q -r ng.pcapng -w o.pcap
check "-w X.pcap from pcapng: pcap" test "$(magic o.pcap)" = d4c3b2a1 -o "$(magic o.pcap)" = 4d3cb2a1
rc -q -r ns.pcap -w o.out
check "-w without extension, nanosecond pcap in: nanosecond pcap out" test "$(magic o.out)" = 4d3cb2a1
check "nanoseconds kept" same_records o.out ns.pcap
rc -q -r ns.pcap -w o2.pcap
check "-w X.pcap, nanosecond input: nanoseconds kept" same_records o2.pcap ns.pcap
rc -q -r ng.pcapng -w o.cap2
check "pcapng in, no extension: pcapng out" test "$(magic o.cap2)" = 0a0d0d0a
for f in pcap PCAP libpcap PCAP_US; do
	rc -q -r ns.pcap -F "$f" -w "f-$f"
	check "-F $f: microsecond pcap" test "$(magic "f-$f")" = d4c3b2a1
done
for f in nsecpcap NsecPcap PCAP_NS pcap_ns; do
	rc -q -r a.pcap -F "$f" -w "f-$f"
	check "-F $f: nanosecond pcap" test "$(magic "f-$f")" = 4d3cb2a1
done
for f in pcapng PcapNG nsecpcapng PCAPNG_US; do
	rc -q -r a.pcap -F "$f" -w "f-$f"
	check "-F $f: pcapng" test "$(magic "f-$f")" = 0a0d0d0a
done
rc -r a.pcap -F pcap -w clash.pcapng
check "-F pcap -w X.pcapng: refused, exit 2" test "$RC" = 2 -a ! -e clash.pcapng
check "-F/extension clash: names both ($(cat err))" err_has "-F pcap writes pcap, but the name clash.pcapng says pcapng"
rc -r a.pcap -F pcapng -w clash.pcap
check "-F pcapng -w X.pcap: refused" test "$RC" = 2 -a ! -e clash.pcap
rc -r a.pcap -F pcpa -w x.pcap
check "-F unknown: names -F as typed ($(cat err))" err_has "-F pcpa"
"$P" -q -r a.pcap -w - >stdout.pcap
check "-w -: standard output" cmp -s stdout.pcap ref-a.pcap
"$P" -q -r a.pcap -o o-flag.pcap
check "-o stays" cmp -s o-flag.pcap ref-a.pcap

# -------------------------------------------------------------- flags
rc -q -r a.pcap -c 5 -w c5.pcap
check "-c 5: 5 packets" test "$(count c5.pcap)" = 5
check "-c 5: the first five" cmp -s <(tcpdump -r c5.pcap -w - 2>/dev/null | tail -c +25) \
	<(tcpdump -r a.pcap -c 5 -w - 2>/dev/null | tail -c +25)
echo '{"snap_length": 60}' >cfg.json
rc -r a.pcap -c cfg.json -w x.pcap
check "-c FILE: exit 2" test "$RC" = 2 -a ! -e x.pcap
check "-c FILE: names --config ($(cat err))" err_has "the config file is given with --config cfg.json"
for n in 0 -1; do
	rm -f x.pcap
	rc -r a.pcap -c "$n" -w x.pcap
	check "-c $n: refused, as tcpdump does (exit $RC)" test "$RC" = 2 -a ! -e x.pcap
	check "-c $n: says why ($(cat err))" err_has "at least 1"
done
# Errors name the option as it was typed, its value once.
rc -r a.pcap --snaplen 70000 -w x.pcap
check "--snaplen 70000: named as typed, the value once ($(cat err))" err_has "--snaplen 70000 is out"
rc -r a.pcap --format pcapng -w x.pcap
check "--format pcapng -w x.pcap: named as typed ($(cat err))" err_has "--format pcapng writes pcapng"
rc -r a.pcap --count 0 -w x.pcap
check "--count 0: named as typed ($(cat err))" err_has "--count 0:"
rc -r a.pcap --follow -w x.pcap
check "-r with --follow: refused (exit $RC)" test "$RC" = 2
check "-r with --follow: says -r files are read to their end ($(cat err))" err_has "read to their end"
cat a.pcap | "$P" -r - -r - -w x.pcap >out.bin 2>err
check "-r - twice: refused ($(cat err))" err_has "standard input can be read once"
rc -w x.pcap a.pcap
check "a file named without -r: the hint to give -r ($(cat err))" err_has "give -r a.pcap"
printf 'not a capture\n' >text.txt
rc -r text.txt -w x.pcap
check "-r a text file: not a capture pktexport can read ($(cat err))" err_has "not a capture pktexport can read"
# Option errors: one line naming the option; JSON for scripts, wherever
# --json-errors stands (a subcommand's words included).
rc -r a.pcap --bogus -w x.pcap
check "--bogus: one line naming it (exit $RC: $(cat err))" test "$RC" = 2
check "--bogus: the line names it" one_line
check "--bogus: says no such option" err_has "--bogus: no such option"
rc -r a.pcap -w
check "-w without a value: says so ($(cat err))" err_has "-w needs a value"
rc --json-errors -r a.pcap --bogus
check "--json-errors, --bogus: a JSON error ($(cat err))" grep -q '^{"error_id":"REQUEST_INVALID_INPUT".*--bogus' err
check "--json-errors, --bogus: one line" one_line
rc --json-errors time bogus
check "--json-errors time bogus: a JSON error about the time ($(cat err))" \
	grep -q '^{"error_id".*time \\"bogus\\" is not a time' err
PKTEXPORT_JSON_ERRORS=1 "$P" time bogus >out.bin 2>err
check "PKTEXPORT_JSON_ERRORS=1 time bogus: JSON ($(cat err))" grep -q '^{"error_id"' err
rc --plugin-dir "$WORK/no-such-folder" -r a.pcap -w x.pcap
check "--plugin-dir of no folder: refused in one line (exit $RC: $(cat err))" test "$RC" = 2
check "--plugin-dir of no folder: one line" one_line
check "--plugin-dir of no folder: says so" err_has "no such folder"
for z in gz zst xz; do
	rc -r a.pcap -w "x.pcap.$z"
	check "-w x.pcap.$z: refused, no file ($(cat err))" test "$RC" = 2 -a ! -e "x.pcap.$z"
	check "-w x.pcap.$z: names the pipe to use" err_has "| "
done
rc -q -r a.pcap --config cfg.json -w cfg.pcap
check "--config: read" test "$(caplens cfg.pcap)" -le 60
# a config file's output_format against the output's name
echo '{"output_format": "PCAPNG_NS"}' >cfg-ng.json
rc -q -r a.pcap --config cfg-ng.json -w cfg-ng.pcap
check "--config PCAPNG_NS, -w x.pcap: exit 2, nothing written" test "$RC" = 2 -a ! -e cfg-ng.pcap
check "--config PCAPNG_NS, -w x.pcap: says the clash ($(cat err))" \
	err_has "output_format PCAPNG_NS is not pcap, but the name cfg-ng.pcap says so"
rc -q -r a.pcap --config cfg-ng.json -w cfg-ng.pcapng
check "--config PCAPNG_NS, -w x.pcapng: pcapng" test "$RC" = 0 -a "$(magic cfg-ng.pcapng)" = 0a0d0d0a
rc -q -r a.pcap --config cfg-ng.json -F pcap -w cfg-f.pcap
check "--config PCAPNG_NS, -F pcap: -F wins" test "$RC" = 0 -a "$(magic cfg-f.pcap)" = d4c3b2a1
rc -q -r a.pcap -s 64 -w s64.pcap
check "-s 64: nothing longer than 64 bytes" test "$(caplens s64.pcap)" = 64
if command -v editcap >/dev/null; then
	editcap -F pcap -s 64 a.pcap ref-s.pcap
	check "-s 64 = editcap -s 64" same_records s64.pcap ref-s.pcap
fi
tcpdump -r a.pcap -w ref-tcp80.pcap tcp port 80 2>/dev/null
rc -q -r a.pcap -w bare.pcap tcp port 80
check "bare BPF words = tcpdump's" cmp -s bare.pcap ref-tcp80.pcap
rc -q -r a.pcap -w bare2.pcap 'tcp port 80'
check "bare BPF quoted = tcpdump's" cmp -s bare2.pcap ref-tcp80.pcap
rc -q -r a.pcap -f 'tcp port 80' -w f.pcap
check "-f EXPR without a type is BPF" cmp -s f.pcap ref-tcp80.pcap
rc -q -r a.pcap -f 'bPf:tcp port 80' -w f2.pcap
check "-f bPf: any case" cmp -s f2.pcap ref-tcp80.pcap
tcpdump -r a.pcap -w ref-v6.pcap 'ip6 host 2001:db8::1' 2>/dev/null
rc -q -r a.pcap -f 'ip6 host 2001:db8::1' -w v6.pcap
check "-f with colons (IPv6) is BPF ($(cat err))" cmp -s v6.pcap ref-v6.pcap
rc -q -r a.pcap -f 'tcp' -w both.pcap port 80
check "-f and bare words: both must match" cmp -s both.pcap ref-tcp80.pcap
rc -r a.pcap -f 'bpf:tcp porrt 80' -w x.pcap
check "a BPF error: exit 2" test "$RC" = 2 -a ! -e x.pcap
check "a BPF error: one line" one_line
check "a BPF error: names -f as typed ($(cat err))" err_has "pktexport: -f 'bpf:tcp porrt 80':"
rc -r a.pcap -w x.pcap tcp porrt 80
check "a bare BPF error: names the words" err_has "the BPF expression 'tcp porrt 80'"
rc --json-errors -r a.pcap -f 'bpf:tcp porrt 80' -w x.pcap
check "--json-errors: the API's JSON" error_is REQUEST_INVALID_INPUT err
rc -r a.pcap -s abc -w x.pcap
check "-s abc: names -s" err_has '-s "abc" is not a number'
if "$P" plugins 2>/dev/null | grep -qw WIRESHARK && command -v tshark >/dev/null; then
	tshark -r a.pcap -Y 'tcp.port == 80' -w ref-y.pcap -F pcap 2>/dev/null
	rc -q -r a.pcap -Y 'tcp.port == 80' -w y.pcap
	check "-Y = tshark -Y ($(cat err))" same_records y.pcap ref-y.pcap
	rc -r a.pcap -Y 'tcp.port ==' -w x.pcap
	check "-Y error names -Y ($(cat err))" err_has "-Y 'tcp.port =='"
fi
rc -q -r a.pcap --stats -w st.pcap
check "--stats: JSON on stderr" python3 -c 'import json,sys; d=json.load(open("err")); sys.exit(d["exported_packets"]!=3000)'
rc -r a.pcap -q -w q.pcap
check "-q: nothing on stderr" test ! -s err
"$P" export --root root -q -w exp.pcap fs/ns.pcap
check "pktexport export PATH keeps working" same_records exp.pcap ns.pcap

finish
