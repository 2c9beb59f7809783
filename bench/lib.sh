# Shared by the benchmark scripts: where things are, a synthetic capture
# made once and reused, and timing with peak memory.
set -euo pipefail
BUILD=${BUILD:-$(pwd)}
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PKTEXPORT_PLUGIN_DIR=${PKTEXPORT_PLUGIN_DIR:-$BUILD/plugins/.libs}
PKTEXPORT=${PKTEXPORT:-$BUILD/pktexport}
PKTEXPORTD=${PKTEXPORTD:-$BUILD/pktexportd}
GENCAP=${GENCAP:-$SRC/tools/gencap.py}
BENCH_DIR=${BENCH_DIR:-/tmp/pktexport-bench}
RUNS=${RUNS:-3}
mkdir -p "$BENCH_DIR/root/fs"

# big_capture NAME PACKETS [gencap.py args]: fs/NAME under the bench root.
big_capture() {
	local name=$1 packets=$2
	shift 2
	local f=$BENCH_DIR/root/fs/$name
	if [ ! -s "$f" ]; then
		echo "making $f ($packets packets)..." >&2
		python3 "$GENCAP" "$f" --packets "$packets" "$@"
	fi
	echo "$f"
}

# timed OUTVAR CMD...: runs CMD, sets OUTVAR to "seconds peak_kb".
timed() {
	local __var=$1 __res
	shift
	/usr/bin/time -f "%e %M" -o "$BENCH_DIR/.time" "$@" >/dev/null 2>&1 || true
	__res=$(tail -n 1 "$BENCH_DIR/.time")
	printf -v "$__var" '%s' "$__res"
}

# median of numbers on stdin
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
