#!/bin/bash
# What a packager does: build from the release tarball for one prefix and
# install, configure again for another prefix in the same build folder,
# build, install, then delete the first prefix.  The second install must
# use its own paths only: the plugins, the store tool and the WIRESHARK
# helper are found under it.
#
#   tools/check-reinstall.sh pktexport-VERSION.tar.gz
set -euo pipefail
tarball=$(realpath "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work"
src=$(echo "$work"/pktexport-*/)
mkdir "$work/build" "$work/A" "$work/B"
cd "$work/build"
quiet() { # quiet CMD...: its output only when it fails
	"$@" >"$work/log" 2>&1 || { tail -n 50 "$work/log" >&2; exit 1; }
}
quiet "$src/configure" --prefix="$work/A"
quiet make -j2 install
quiet "$src/configure" --prefix="$work/B"
# Only what uses an installed path is rebuilt.
make -j2 V=1 2>&1 | grep -c -- ' -c .*\.c' >"$work/rebuilt" || true
quiet make install
rm -rf "$work/A"

fail() {
	echo "reinstall: $*" >&2
	exit 1
}
plugins=$("$work/B/bin/pktexport" plugins 2>&1) || fail "B's pktexport lists no plugins: $plugins"
n=$(echo "$plugins" | grep -c '^\(source\|filter\|format\) ')
[ "$n" -ge 6 ] || fail "B's pktexport lists $n plugins: $plugins"
"$work/B/bin/pktexport" store info --help >/dev/null 2>&1 ||
	fail "B's pktexport cannot run B's store tool: $("$work/B/bin/pktexport" store info --help 2>&1)"
for f in "$work/B/bin/pktexport" "$work/B/bin/pktexportd" "$work"/B/lib/pktexport/plugins/*.so; do
	if grep -q "$work/A" "$f"; then
		fail "$f still names the first prefix"
	fi
done
# An export through every installed path: a store built by the store tool,
# a BPF filter, and (when built) a WIRESHARK filter run by its helper.
mkdir -p "$work/root/fs"
python3 "$src/tools/gencap.py" "$work/in.pcap" --packets 2000 --seed 4
"$work/B/bin/pktexport" store import --root "$work/root" st "$work/in.pcap" >/dev/null
"$work/B/bin/pktexport" store info --root "$work/root" st | grep -q 2000 ||
	fail "B's store info does not show the 2000 packets imported"
"$work/B/bin/pktexport" export --root "$work/root" -f 'BPF:udp' -o "$work/out.pcap" jobs/st
filters=(-f 'BPF:udp')
if echo "$plugins" | grep -q WIRESHARK; then
	filters+=(-f 'WIRESHARK:udp')
fi
"$work/B/bin/pktexport" export --root "$work/root" "${filters[@]}" \
	-o "$work/out2.pcap" jobs/st || fail "export with ${filters[*]} failed"
cmp -s "$work/out.pcap" "$work/out2.pcap" || fail "the WIRESHARK export differs from the BPF one"
echo "reinstall: prefix B's programs use B only ($n plugins, store tool," \
	"$((${#filters[@]} / 2)) filter(s) in one export; $(cat "$work/rebuilt") C files rebuilt after reconfiguring)"
