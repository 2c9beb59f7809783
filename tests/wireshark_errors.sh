#!/bin/bash
# WIRESHARK filters when things go wrong: a refused display filter (exit 2
# on the CLI, HTTP 400 from the daemon, with Wireshark's own message), a
# dissector that crashes or hangs (a clear error for that export, the
# service unharmed), and helper restarts that keep answers tshark-equal.
. "${TOP_SRCDIR}/tests/lib.sh"
need tshark python3
"$PKTEXPORT" plugins 2>/dev/null | grep -qw WIRESHARK || {
	echo "SKIP: the WIRESHARK filter plugin is not built"
	exit 77
}
: "${PKTEXPORT_WIRESHARK_HELPER:=$(dirname "$PKTEXPORT")/plugins/pktexport-wireshark-helper}"
export PKTEXPORT_WIRESHARK_HELPER
RECORDS="$TOP_SRCDIR/tests/wireshark_records.py"
python3 "$GENCAP" "$WORK/fs/a.pcap" --packets 5000 --seed 3 --flows 200

export_to() { # OUT EXPR: runs an export, stderr in $WORK/err
	"$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS -o "$1" -f "WIRESHARK:$2" fs/a.pcap 2>"$WORK/err"
}
same_as_tshark() { # OUT EXPR
	tshark -r "$WORK/fs/a.pcap" -Y "$2" -w "$WORK/ref.pcapng" 2>/dev/null &&
		python3 "$RECORDS" "$1" "$WORK/ref.pcapng"
}
# tshark's message for a filter it refuses: its first line, without "tshark: ".
tshark_says() {
	tshark -r "$WORK/fs/a.pcap" -Y "$1" -c 1 2>&1 >/dev/null |
		grep -v '^Running as user' | head -1 | sed 's/^tshark: //'
}

# --- refused filters: exit 2, nothing written, dfilter's message
for expr in 'tcp.port ==' 'nosuch.field == 1' 'ip.addr == 300.1.1.1' 'frame contains'; do
	rm -f "$WORK/out"
	export_to "$WORK/out" "$expr"
	rc=$?
	check "'$expr' refused: exit 2 ($rc)" test "$rc" = 2
	check "'$expr' refused: no output" test ! -e "$WORK/out"
	check "'$expr' refused: API error" error_is REQUEST_INVALID_INPUT "$WORK/err"
	want=$(tshark_says "$expr")
	check "'$expr' refused with tshark's words ($want)" \
		grep -qF "$(printf '%s' "$want" | sed 's/"/\\"/g')" "$WORK/err"
done

# --- a dissector that crashes: that export fails, cleanly
PKTEXPORT_WIRESHARK_TEST_FAULT=crash:700 export_to "$WORK/out" 'ip'
rc=$?
check "crash: exit 1 ($rc)" test "$rc" = 1
check "crash: API error" error_is INTERNAL_ERROR "$WORK/err"
# SIGSEGV natively; under a sanitizer its handler reports and aborts.
check "crash: says which packet and why" grep -Eq 'packet 700.*(signal (11|6)|exited with status)' "$WORK/err"

# --- a dissector that hangs: stopped after the timeout
start=$(date +%s)
PKTEXPORT_WIRESHARK_TEST_FAULT=hang:300 PKTEXPORT_WIRESHARK_TIMEOUT_MS=1500 \
	export_to "$WORK/out" 'frame contains "zq"'
rc=$?
took=$(($(date +%s) - start))
check "hang: exit 1 ($rc)" test "$rc" = 1
check "hang: says so" grep -q 'longer than 1500 ms to dissect packet 300' "$WORK/err"
check "hang: stopped in time ($took s)" test "$took" -lt 60

# --- Ctrl-C while a dissector hangs: the export ends at once (the plugin
# watches the cancel flag), not when the 60 s timeout runs out, keeping
# what it wrote as a valid capture (issue 20; exit 130); no helper left.
rm -f "$WORK/out"
PKTEXPORT_WIRESHARK_TEST_FAULT=hang:300 PKTEXPORT_WIRESHARK_TIMEOUT_MS=60000 \
	PKTEXPORT_WIRESHARK_DEBUG=1 "$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS \
	-o "$WORK/out" -f 'WIRESHARK:frame contains "zq"' fs/a.pcap 2>"$WORK/err" &
pid=$! # pktexport itself: the shell leaves SIGINT ignored, the CLI takes it
for _ in $(seq 600); do # the helper says when it hangs (60 s at most)
	grep -q 'hanging at frame 300' "$WORK/err" 2>/dev/null && break
	sleep 0.1
done
check "Ctrl-C: the helper hangs first" grep -q 'hanging at frame 300' "$WORK/err"
srv=$(pgrep -P "$pid" -f pktexport-wireshark-helper)
procs="$srv $(for s in $srv; do pgrep -P "$s"; done)"
start=$(date +%s%N)
kill -INT "$pid"
wait "$pid"
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
check "Ctrl-C: exit 130 ($rc)" test "$rc" = 130
check "Ctrl-C: ended in $took ms (under 5 s)" test "$took" -lt 5000
check "Ctrl-C: says so" grep -q "interrupted by Ctrl-C" "$WORK/err"
check "Ctrl-C: the output kept, a valid capture" tcpdump -r "$WORK/out" -w /dev/null
gone() { # PID...: none of them alive (5 s to end)
	for _ in $(seq 50); do
		kill -0 "$@" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
check "Ctrl-C: a server and its helper were running ($procs)" test "$(echo $procs | wc -w)" -ge 2
# shellcheck disable=SC2086
check "Ctrl-C: no server or helper left" gone $procs

# --- a crash inside a batch of pre-filtered packets: the verdicts before
# it still count.  Two matches of a port filter in the same batch of 256
# packets: a stop rule met at the first wins over a crash at the second
# (exit 0, the same packets as tshark up to there); one more packet
# allowed and the crash comes first (exit 1, no file).
port=$(tshark -r "$WORK/fs/a.pcap" -T fields -e tcp.dstport 2>/dev/null | grep . |
	sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
expr="tcp.port == $port"
mapfile -t frames < <(tshark -r "$WORK/fs/a.pcap" -Y "$expr" -T fields -e frame.number 2>/dev/null)
k=5
while [ $((k + 1)) -lt ${#frames[@]} ] &&
	[ $(((frames[k] - 1) / 256)) != $(((frames[k + 1] - 1) / 256)) ]; do
	k=$((k + 1))
done
stop=${frames[$k]} crash=${frames[$((k + 1))]}
rm -f "$WORK/out"
PKTEXPORT_WIRESHARK_TEST_FAULT=crash:$crash "$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS \
	--packet-limit "$k" -o "$WORK/out" -f "WIRESHARK:$expr" fs/a.pcap 2>"$WORK/err"
check "crash after a stop rule in its batch ($expr, stop at $stop, crash at $crash): exit 0" test $? = 0
tshark -r "$WORK/fs/a.pcap" -Y "$expr" -c $((stop - 1)) -w "$WORK/ref.pcapng" 2>/dev/null
check "crash after a stop rule in its batch: tshark's first $k matches" \
	python3 "$RECORDS" "$WORK/out" "$WORK/ref.pcapng"
rm -f "$WORK/out"
PKTEXPORT_WIRESHARK_TEST_FAULT=crash:$crash "$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS \
	--packet-limit $((k + 1)) -o "$WORK/out" -f "WIRESHARK:$expr" fs/a.pcap 2>"$WORK/err"
check "crash before the stop rule: exit 1" test $? = 1
check "crash before the stop rule: names packet $crash" grep -q "packet $crash " "$WORK/err"
check "crash before the stop rule: no file" test ! -e "$WORK/out"

# --- helper restarts: frame-only filters stay exact across them
for expr in 'frame.number >= 1200 && frame.len > 300' \
	'frame.time_delta_displayed < 0.00002' 'frame.time_relative > 0.01 && frame contains "zq"'; do
	PKTEXPORT_WIRESHARK_RECYCLE=700 "$PKTEXPORT" export -v --root "$WORK" -F PCAPNG_NS \
		-o "$WORK/out" -f "WIRESHARK:$expr" fs/a.pcap 2>"$WORK/err"
	check "recycled '$expr': exit 0" test $? = 0
	check "recycled '$expr': the helper was restarted" \
		grep -Eq 'helper restarts: [1-9]' "$WORK/err"
	check "recycled '$expr': same as tshark" same_as_tshark "$WORK/out" "$expr"
done

# --- the daemon: a refused filter is HTTP 400 with Wireshark's message
PKTEXPORTD=${PKTEXPORTD:-$(dirname "$PKTEXPORT")/pktexportd}
if [ -x "$PKTEXPORTD" ]; then
	python3 - "$PKTEXPORTD" "$WORK" "$(tshark_says 'tcp.port ==')" <<'EOF'
import http.client, json, subprocess, sys
daemon, root, want = sys.argv[1:4]
p = subprocess.Popen([daemon, "--root", root, "--listen", "127.0.0.1:0"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
host, port = p.stdout.readline().strip().rsplit(":", 1)
ok = 0
try:
    def post(expr):
        c = http.client.HTTPConnection(host, int(port), timeout=120)
        body = {"config": {"path": "fs/a.pcap", "filters": {"items": [
            {"id": "w", "type": "WIRESHARK", "value": expr}]}}}
        c.request("POST", "/api/npm.packet_export/1.3/exports", json.dumps(body),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    status, err = post("tcp.port ==")
    if status == 400 and err.get("error_id") == "REQUEST_INVALID_INPUT" and want in err.get("error_text", ""):
        ok += 1
    else:
        print("FAIL: daemon refused filter: %s %r" % (status, err), file=sys.stderr)
    status, _ = post("tcp.port == 80")
    if status == 201:
        ok += 1
    else:
        print("FAIL: daemon good filter: %s" % status, file=sys.stderr)
finally:
    p.terminate()
    p.wait(timeout=30)
sys.exit(0 if ok == 2 else 1)
EOF
	check "daemon: 400 with Wireshark's message, 201 for a good filter" test $? = 0
fi
finish
