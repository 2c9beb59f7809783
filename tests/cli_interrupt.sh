#!/bin/bash
# Ctrl-C, SIGTERM and SIGHUP at random moments of an export keep what was
# written: every time the output is a valid capture (whole records), it is
# a prefix of the complete export's, the exit status is 130 (143, 129), the summary
# says it was interrupted.  A reader that goes away (| head -c 100,
# | tcpdump -r - -c 1) ends the export quietly with 0, as tcpdump's.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump
unset PKTEXPORT_JSON_ERRORS

P=$PKTEXPORT
cd "$WORK" || exit 99
# about 100 MB: long enough that a signal in the first ~0.3 s meets it
# running on a loaded machine
python3 "$MKCAP" big.pcap --packets 200000 --seed 51
t0=$(date +%s%N)
"$P" -q -r big.pcap -w full.pcap not icmp
t1=$(date +%s%N)
"$P" -q -r big.pcap -w full.pcapng -F pcapng not icmp
tcpdump -r full.pcapng -w full-ng.pcap 2>/dev/null
# signals fall within the time a complete export takes here
span=$(((t1 - t0) / 1000000))
echo "a complete export takes $span ms"
full_n=$(tcpdump -n -r full.pcap 2>/dev/null | wc -l)
check "the complete export has packets ($full_n)" test "$full_n" -gt 1000

# whole records, nothing after the last: the file's length is the sum
valid_pcap() {
	python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
assert len(d) >= 24 and d[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1")
o = 24
while o < len(d):
    assert o + 16 <= len(d), "a record header cut at %d" % o
    c = struct.unpack("<I", d[o + 8:o + 12])[0]
    o += 16 + c
    assert o <= len(d), "a record cut"
EOF
}

# Waits (bounded) until process PID is pktexport (not the shell forked to
# run it, which catches SIGINT itself) and catches signal SIG, as its
# SigCgt in /proc says: a signal sent sooner meets the program before its
# handlers exist (exec, the loader, a sanitizer's start), where the
# default action kills it.  1 when PID ended first.
catching() { # PID SIG
	local bit i mask
	bit=$(($(kill -l "$2") - 1))
	for i in $(seq 1 1000); do
		mask=$(awk '/^SigCgt:/ {print $2}' "/proc/$1/status" 2>/dev/null)
		[ -n "$mask" ] || return 1
		[ "$(cat "/proc/$1/comm" 2>/dev/null)" = pktexport ] &&
			[ $(((16#$mask >> bit) & 1)) = 1 ] && return 0
		sleep 0.005
	done
	return 1
}

interrupted=0 complete=0
for i in $(seq 1 20); do
	sig=INT want=130 fmt=pcap
	[ $((i % 3)) = 0 ] && sig=HUP want=129
	[ $((i % 4)) = 0 ] && sig=TERM want=143
	[ $((i % 5)) = 0 ] && fmt=pcapng
	rm -f out.$fmt
	if [ $((i % 2)) = 1 ]; then
		# the file itself, a signal within the time an export takes (counted
		# from its start-up: within 0.6 of it from the handlers)
		delay=$(python3 -c 'import random, sys; print("%.3f" % random.uniform(0.005, 0.6 * int(sys.argv[1]) / 1000))' "$span")
		"$P" -r big.pcap -w out.$fmt not icmp 2>err &
		pid=$!
	else
		# through a pipe fed at about 100 MB/s: a signal within its
		# first second always meets the export running
		delay=$(python3 -c 'import random; print("%.3f" % random.uniform(0.05, 0.9))')
		"$P" -r - -w out.$fmt not icmp 2>err < <(python3 -c '
import sys, time
with open("big.pcap", "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        try:
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            break
        time.sleep(0.01)
') &
		pid=$!
	fi
	# the random moment counts from when the program handles the signal
	catching $pid $sig
	sleep "$delay"
	kill -$sig $pid 2>/dev/null
	wait $pid
	rc=$?
	what="run $i (SIG$sig after ${delay}s, $fmt)"
	if [ ! -e out.$fmt ]; then
		# the signal came before the first packet: nothing is kept
		check "$what: before the start: exit $want (got $rc)" test "$rc" = "$want"
		check "$what: before the start: says so ($(cat err))" grep -q "interrupted before" err
		continue
	fi
	if [ "$rc" = 0 ]; then
		# finished before the signal came
		complete=$((complete + 1))
		check "$what: complete" cmp -s out.$fmt full.$fmt
		continue
	fi
	interrupted=$((interrupted + 1))
	check "$what: exit $want (got $rc)" test "$rc" = "$want"
	check "$what: the summary says interrupted ($(cat err))" grep -q "interrupted by" err
	check "$what: no temporary file left" test -z "$(ls -A | grep pktexport-)"
	check "$what: tcpdump reads it without error" tcpdump -r out.$fmt -w /dev/null
	if [ "$fmt" = pcap ]; then
		check "$what: whole records" valid_pcap out.pcap
		size=$(stat -c %s out.pcap)
		check "$what: a prefix of the complete export ($size bytes)" \
			cmp -s -n "$size" out.pcap full.pcap
	else
		# as pcap (tcpdump's rewriting), a prefix of the complete one's
		tcpdump -r out.pcapng -w out-ng.pcap 2>/dev/null
		size=$(stat -c %s out-ng.pcap)
		check "$what: a prefix of the complete export" \
			cmp -s -n "$size" out-ng.pcap full-ng.pcap
	fi
done
echo "$interrupted interrupted, $complete complete"
check "most runs were interrupted ($interrupted of 20)" test "$interrupted" -ge 10

# Started to outlive its terminal (nohup: SIGHUP ignored), the export goes
# on to its end.
(
	trap '' HUP
	exec "$P" -q -r big.pcap -w nohup.pcap not icmp 2>err
) &
pid=$!
sleep 0.05
kill -HUP $pid 2>/dev/null
wait $pid
rc=$?
check "SIGHUP ignored (nohup): the export completes (exit $rc)" test "$rc" = 0
check "SIGHUP ignored (nohup): the whole export" cmp -s nohup.pcap full.pcap

# Ctrl-C at a terminal signals the whole group, the Wireshark helpers
# too: the export still keeps what it wrote
if "$P" plugins 2>/dev/null | grep -qw WIRESHARK; then
	mkfifo slow.fifo
	python3 -c '
import sys, time
with open("big.pcap", "rb") as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        try:
            sys.stdout.buffer.write(b)
            sys.stdout.buffer.flush()
        except BrokenPipeError:
            break
        time.sleep(0.05)
' >slow.fifo &
	setsid "$P" -r - -Y 'tcp.port == 80' -w y.pcap 2>err <slow.fifo &
	pid=$!
	sleep 2
	kill -INT -- -$pid
	wait $pid
	rc=$?
	check "-Y, the group interrupted: exit 130 (got $rc; $(cat err))" test "$rc" = 130
	check "-Y, the group interrupted: a valid capture" tcpdump -r y.pcap -w /dev/null
	check "-Y, the group interrupted: whole records" valid_pcap y.pcap
fi

# --stats after Ctrl-C says so too
"$P" -r big.pcap --stats -w s.pcap 2>err &
pid=$!
sleep 0.05
kill -INT $pid
wait $pid
if [ $? = 130 ]; then
	check "--stats: interrupted: true" python3 -c 'import json; assert json.load(open("err"))["interrupted"]'
fi

# a closed pipe: quiet, 0, as tcpdump
"$P" -r big.pcap -w - 2>err | head -c 100 >/dev/null
rc=${PIPESTATUS[0]}
check "| head -c 100: exit 0 (got $rc)" test "$rc" = 0
check "| head -c 100: nothing on stderr ($(cat err))" test ! -s err
"$P" -r big.pcap 2>err | tcpdump -r - -c 1 -w one.pcap 2>/dev/null
rc=${PIPESTATUS[0]}
check "| tcpdump -r - -c 1: exit 0 (got $rc)" test "$rc" = 0
check "| tcpdump -r - -c 1: nothing on stderr" test ! -s err
check "| tcpdump -r - -c 1: tcpdump got its packet" test "$(tcpdump -n -r one.pcap 2>/dev/null | wc -l)" = 1
tcpdump -r big.pcap -w - 2>/dev/null | head -c 100 >/dev/null
check "(tcpdump itself exits 0 there: ${PIPESTATUS[0]})" test "${PIPESTATUS[0]}" = 0

finish
