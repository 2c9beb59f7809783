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
