#!/bin/sh
# Builds the libFuzzer targets (build.sh), replays the regression inputs
# and seeds of each, then fuzzes each target for SECONDS (default 20) from
# its seeds.  Exits non-zero on any crash, leak, timeout (an input taking
# more than 5 s) or failed check.  Corpora and findings go to the build
# directory (FUZZ_BUILD_DIR, default tests/fuzz/build), never into the
# source tree.
#
#   tests/fuzz/run.sh [SECONDS]
#
# Needs what build.sh needs (Debian: clang, libclang-rt-14-dev or the
# libFuzzer runtime of the clang installed, pkg-config, libjansson-dev,
# libevent-dev, libssl-dev, libhttp-parser-dev, libpcap-dev).
# FUZZ_TARGETS limits the run to some of: time config steelfilter capfile
# httpd.
set -eu

secs=${1:-20}
here=$(cd "$(dirname "$0")" && pwd)
out=${FUZZ_BUILD_DIR:-$here/build}
targets=${FUZZ_TARGETS:-"time config steelfilter capfile httpd"}

list=
for t in $targets; do list="$list fuzz_$t"; done
FUZZ_TARGETS=$list "$here/build.sh" "$out"

fail=0
for t in $targets; do
	bin=$out/fuzz_$t
	corpus=$out/corpus/$t
	arts=$out/artifacts/$t
	log=$out/fuzz_$t.log
	mkdir -p "$corpus" "$arts"
	dict=
	[ -f "$here/$t.dict" ] && dict=-dict=$here/$t.dict
	# Inputs that once failed, and the seeds, must pass as they are.
	replay=
	for d in "$here/regress/$t" "$here/seeds/$t"; do
		[ -d "$d" ] && replay="$replay $(find "$d" -type f | sort | tr '\n' ' ')"
	done
	if [ -n "$replay" ]; then
		# shellcheck disable=SC2086
		if ! "$bin" -timeout=5 -rss_limit_mb=2048 $dict \
			-artifact_prefix="$arts/" $replay >"$log.replay" 2>&1; then
			echo "FAIL: $t: a regression input or seed fails (see $log.replay)"
			tail -30 "$log.replay" >&2
			fail=1
			continue
		fi
	fi
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 $dict -artifact_prefix="$arts/" \
		"$corpus" "$here/seeds/$t" >"$log" 2>&1; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok: $t: $secs s, ${execs:-?} inputs, $(ls "$corpus" | wc -l) in the corpus"
	else
		echo "FAIL: $t: see $log and $arts"
		grep -E "^(==[0-9]+==|SUMMARY|ERROR)|FAIL|differ|says" "$log" | head -20 >&2
		fail=1
	fi
done
exit $fail
