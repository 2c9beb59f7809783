#!/bin/bash
# Builds the example plugins (examples/plugin-demo, a source;
# examples/filter-length, a filter; examples/format-csv, a format) out of
# tree against the installed pktexport (pkg-config), installs them, and
# runs one export through all three with the installed CLI.  Run after
# `make install`.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$(pkg-config --variable=prefix pktexport-plugin)
for ex in plugin-demo filter-length format-csv; do
	cp -r "$src/examples/$ex" "$work/"
	make -s -C "$work/$ex" CFLAGS="-O2 -g -Werror"
	make -s -C "$work/$ex" install
done
plugins=$("$prefix/bin/pktexport" plugins)
for p in 'source *demo-source' 'filter *filter-length' 'format *format-csv'; do
	echo "$plugins" | grep -q "^$p" || {
		echo "example plugins: '$p' is not listed" >&2
		exit 1
	}
done
"$prefix/bin/pktexport" export --start 1700000000.010 --end 1700000000.020 \
	-f 'BPF:udp port 5001' -o "$work/demo.pcap" --stats demo/100
n=$(tcpdump -r "$work/demo.pcap" 2>/dev/null | wc -l)
if [ "$n" != 10 ]; then
	echo "example plugins: expected 10 packets, got $n" >&2
	exit 1
fi
# The three together: demo's 60-byte frames, LENGTH's window of lengths,
# CSV_US's lines.
"$prefix/bin/pktexport" export --start 1700000000.010 --end 1700000000.020 \
	-f 'LENGTH:60-64' -F CSV_US -o "$work/demo.csv" demo/100
want=$(printf 'time,interface,caplen,wirelen\n'; for i in 0 1 2 3 4 5 6 7 8 9; do
	printf '1700000000.01%d000,demo0,60,60\n' "$i"; done)
if [ "$(cat "$work/demo.csv")" != "$want" ]; then
	echo "example plugins: the CSV export differs:" >&2
	diff <(echo "$want") "$work/demo.csv" >&2 || true
	exit 1
fi
if "$prefix/bin/pktexport" export -f 'LENGTH:>= 61' -F CSV_US -o "$work/none.csv" demo/10 &&
	[ "$(wc -l <"$work/none.csv")" = 1 ]; then :; else
	echo "example plugins: LENGTH >= 61 should keep no 60-byte frame" >&2
	exit 1
fi
echo "example plugins: source, filter and format built against" \
	"$(pkg-config --modversion pktexport-plugin) (ABI" \
	"$(pkg-config --variable=abi_major pktexport-plugin).$(pkg-config --variable=abi_minor pktexport-plugin));" \
	"10 packets exported, and the same 10 as CSV through LENGTH"
