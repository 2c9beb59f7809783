#!/bin/bash
# Builds examples/plugin-demo out of tree against the installed pktexport
# (pkg-config), installs it, and exports from it with the installed CLI.
# Run after `make install`.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$(pkg-config --variable=prefix pktexport-plugin)
cp -r "$src/examples/plugin-demo" "$work/"
make -s -C "$work/plugin-demo"
make -s -C "$work/plugin-demo" install
"$prefix/bin/pktexport" plugins | grep -q '^source *demo-source'
"$prefix/bin/pktexport" export --start 1700000000.010 --end 1700000000.020 \
	-f 'BPF:udp port 5001' -o "$work/demo.pcap" --stats demo/100
n=$(tcpdump -r "$work/demo.pcap" 2>/dev/null | wc -l)
if [ "$n" != 10 ]; then
	echo "example plugin: expected 10 packets, got $n" >&2
	exit 1
fi
echo "example plugin: built against $(pkg-config --modversion pktexport-plugin), 10 packets exported"
