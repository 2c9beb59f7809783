# Helpers shared by the shell tests.  Sourced; expects the variables that
# AM_TESTS_ENVIRONMENT exports (PKTEXPORT, CORPUS, MKCAP, ...).
set -u
PASS=0
FAIL=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pktexport-test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/fs"

ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok; else bad "$what"; fi
}

# Same packet records (everything after the 24-byte file header) and the
# same link type.
same_records() { # OUT REF
	python3 "$TOP_SRCDIR/tests/pcapcmp.py" "$1" "$2"
}
same_bytes() {
	cmp -s <(tail -c +25 "$1") <(tail -c +25 "$2") &&
		cmp -s <(head -c 24 "$1" | tail -c 4) <(head -c 24 "$2" | tail -c 4)
}

# An error line on stderr is the API's error object with the given id.
error_is() { # error_is ID FILE
	grep -q "^{\"error_id\":\"$1\",\"error_text\":\"..*\"}$" "$2"
}

finish() {
	echo "$PASS passed, $FAIL failed"
	[ "$FAIL" -eq 0 ]
}

need() {
	for t in "$@"; do
		if ! command -v "$t" >/dev/null 2>&1; then
			echo "SKIP: $t is not installed"
			exit 77
		fi
	done
}

# The corpus ships in tests/data/corpus (PKTEXPORT_CORPUS may name another
# folder): its absence is a broken tree or a wrong setting, never a skip.
need_corpus() {
	if [ ! -d "$CORPUS" ] || [ -z "$(ls -A "$CORPUS")" ]; then
		echo "ERROR: no captures at $CORPUS (PKTEXPORT_CORPUS names another folder)" >&2
		exit 99
	fi
}

# An export to pcap refused for a packet stamped past 2106 (exit RC 1,
# that error in ERR, no OUT) is right when the same export to PCAPNG_NS
# holds tcpdump's records (REF, whose seconds tcpdump wrapped) with their
# full times.  Returns 1, checking nothing, when it is not that case.
LATE=0
past_2106() { # past_2106 RC ERR OUT REF EXPORT-ARGS...
	local rc=$1 err=$2 out=$3 ref=$4
	shift 4
	if [ "$rc" != 1 ] || ! grep -q 'past 2106-02-07T06:28:15Z' "$err"; then
		return 1
	fi
	check "[$*] past 2106: no output" test ! -e "$out"
	"$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS -o "$WORK/late.pcapng" \
		"$@" 2>"$WORK/late.err"
	check "[$*] past 2106: PCAPNG_NS exit 0 ($(cat "$WORK/late.err"))" test $? = 0
	check "[$*] past 2106: PCAPNG_NS holds tcpdump's packets, unwrapped" \
		python3 "$TOP_SRCDIR/tests/pcapng_read.py" late "$WORK/late.pcapng" "$ref"
	LATE=$((LATE + 1))
}
