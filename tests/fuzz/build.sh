#!/bin/sh
# Builds the libFuzzer targets of tests/fuzz/ with clang, straight from the
# project's sources (no configure, no make): one binary per target in
# BUILD_DIR (default tests/fuzz/build, ignored by git).
#
#   tests/fuzz/build.sh [BUILD_DIR]
#
# Needs, on Debian/Ubuntu: clang (14 or later) and the libFuzzer runtime
# that comes with it (libclang-rt-14-dev on bookworm; part of the
# clang-14/libclang-common-14-dev packages on older releases), pkg-config,
# libjansson-dev, libevent-dev, libssl-dev, libhttp-parser-dev,
# libpcap-dev.  CC and FUZZ_CFLAGS override the compiler and flags.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
out=${1:-$here/build}
CC=${CC:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:--g -O1 -fno-omit-frame-pointer \
-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all}

mkdir -p "$out"
# What configure would put in config.h, as far as these sources need it.
cat >"$out/config.h.new" <<'H'
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#define PACKAGE "pktexport"
#define PACKAGE_VERSION "fuzz"
H
if ! cmp -s "$out/config.h.new" "$out/config.h" 2>/dev/null; then
	mv "$out/config.h.new" "$out/config.h"
else
	rm -f "$out/config.h.new"
fi

pc() { pkg-config "$@"; }
JANSSON=$(pc --cflags --libs jansson)
PCAP=$(pc --cflags --libs libpcap 2>/dev/null || echo -lpcap)
EVENT=$(pc --cflags --libs libevent libevent_openssl libssl libcrypto)

CORE="$top/src/services.c $top/src/path.c $top/src/config.c \
$top/src/timeparse.c"
STORE="$top/plugins/source-store/capfile.c \
$top/plugins/source-store/store_index.c \
$top/plugins/source-store/store_catalog.c"
SF="$top/plugins/filter-steelfilter/sf_parse.c \
$top/plugins/filter-steelfilter/sf_lower.c \
$top/plugins/filter-steelfilter/sf_eval.c"
INC="-I$out -I$top/include -I$top/src -I$top/plugins/common \
-I$top/plugins/source-store -I$top/plugins/filter-steelfilter"

build() {
	name=$1
	shift
	echo "  CCLD  $out/$name"
	# shellcheck disable=SC2086
	$CC $FUZZ_CFLAGS -Wall -Wextra -Wno-unused-function $INC \
		"$here/$name.c" "$@" -o "$out/$name"
}

targets=${FUZZ_TARGETS:-"fuzz_time fuzz_config fuzz_steelfilter fuzz_capfile fuzz_httpd"}
for t in $targets; do
	case $t in
	fuzz_time | fuzz_config) build "$t" $CORE $JANSSON -lm ;;
	fuzz_steelfilter) build "$t" $CORE $SF $JANSSON $PCAP -lpthread -lm ;;
	fuzz_capfile) build "$t" $CORE $STORE $JANSSON $PCAP -lm ;; # + source_file.c
	fuzz_httpd)
		build "$t" $EVENT -lhttp_parser ;; # includes httpd.c
	*)
		echo "unknown target $t" >&2
		exit 2
		;;
	esac
done
