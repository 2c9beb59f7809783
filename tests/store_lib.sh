# Helpers of the store tests (sourced after lib.sh).
# pktexport-store beside pktexport when not given.
PKTEXPORT_STORE=${PKTEXPORT_STORE:-$(dirname "$PKTEXPORT")/pktexport-store}
export PKTEXPORT_STORE
if [ ! -x "$PKTEXPORT_STORE" ]; then
	echo "SKIP: no $PKTEXPORT_STORE (source-store disabled)"
	exit 77
fi

# A field of the --stats line written to $WORK/stats.
stat_of() {
	python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1]).get(sys.argv[2], ''))" "$WORK/stats" "$1"
}
