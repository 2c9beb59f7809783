#!/bin/bash
# Fuzzes the SteelFilter parser and evaluator with libFuzzer (clang, with
# AddressSanitizer and UndefinedBehaviorSanitizer) for a while; skipped when
# clang cannot build a fuzzer here.  STEELFILTER_FUZZ_SECONDS sets how long.
. "${TOP_SRCDIR}/tests/lib.sh"
CC_FUZZ=
for c in clang clang-14 clang-15 clang-16 clang-17 clang-18; do
	if command -v "$c" >/dev/null 2>&1; then
		CC_FUZZ=$c
		break
	fi
done
if [ -z "$CC_FUZZ" ]; then
	echo "SKIP: clang is not installed"
	exit 77
fi
SRC=$TOP_SRCDIR/plugins/filter-steelfilter
FLAGS="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all"
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }' |
	"$CC_FUZZ" $FLAGS -x c - -o "$WORK/probe" 2>/dev/null; then
	echo "SKIP: $CC_FUZZ cannot link libFuzzer (libclang-rt-dev missing?)"
	exit 77
fi
check "fuzz target builds" "$CC_FUZZ" $FLAGS -Wall -Wextra -I"$SRC" \
	"$SRC/fuzz_steelfilter.c" "$SRC/sf_parse.c" "$SRC/sf_lower.c" \
	"$SRC/sf_eval.c" -o "$WORK/fuzz"
# A seed corpus of valid and broken expressions, and a dictionary.
mkdir -p "$WORK/seeds"
i=0
while IFS= read -r line; do
	i=$((i + 1))
	printf '%s' "$line" >"$WORK/seeds/$i"
done <<'SEEDS'
tcp.port==80
ip.addr==10.38.7.22 && ip.addr==10.38.7.25
ip.addr == "10.0.0.1"
tcp.ip=='10.1.1.1'
(ip.addr==10.0.0.1) and (tcp.port==443)
ip.addr IN ('10.0.0.1','10.0.0.2')
ip.addr==10.0.0.0/8
udp.port==53 OR tcp.port==53
not tcp.port==80
frame.len > 1000
vlan.id in (1, 5) or !(ipv6.addr == 2001:db8::/32) || eth.src = 02:00:00:00:00:01
tcp.flags >= 0x12 and tcp.srcport < 1024 and udp.dstport != 53
app.name == "x"
((((tcp.port==80
SEEDS
cat >"$WORK/dict" <<'DICT'
"ip.addr"
"ipv6.addr"
"tcp.port"
"udp.port"
"vlan.id"
"eth.addr"
"frame.len"
"tcp.flags"
"tcp.ip"
"=="
"!="
"<="
">="
"&&"
"||"
" and "
" or "
" not "
" in "
"("
")"
"10.0.0.1"
"2001:db8::1"
"/8"
"02:00:00:00:00:01"
DICT
secs=${STEELFILTER_FUZZ_SECONDS:-45}
if [ -x "$WORK/fuzz" ]; then
	"$WORK/fuzz" -max_total_time="$secs" -max_len=256 -dict="$WORK/dict" \
		-artifact_prefix="$WORK/" "$WORK/seeds" >"$WORK/fuzz.log" 2>&1
	rc=$?
	check "fuzzer ran $secs s without a finding (exit $rc)" test "$rc" = 0
	[ "$rc" = 0 ] || tail -40 "$WORK/fuzz.log" >&2
	check "fuzzer ran many inputs" grep -q "Done [0-9][0-9][0-9]* runs" "$WORK/fuzz.log"
	grep -h "Done" "$WORK/fuzz.log"
fi
finish
