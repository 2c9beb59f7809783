#!/bin/bash
# Modules built for an older minor of the plugin ABI keep loading and
# working: examples/plugin-demo built against the header of ABI 1.4
# (tests/abi/1.4, that release's header) exports through this core.
. "${TOP_SRCDIR}/tests/lib.sh"
need tcpdump
old=$(sed -n 's/^#define PKX_ABI_MINOR *\([0-9]*\).*/\1/p' "$TOP_SRCDIR/tests/abi/1.4/pktexport/plugin.h")
now=$(sed -n 's/^#define PKX_ABI_MINOR *\([0-9]*\).*/\1/p' "$TOP_SRCDIR/include/pktexport/plugin.h")
check "the module's header is ABI 1.$old, older than the core's 1.$now" test "$old" = 4 -a "$now" -gt "$old"
dirs="$PKTEXPORT_PLUGIN_DIR:$TEST_MODULE_DIR"
"$PKTEXPORT" plugins --plugin-dir "$dirs" >"$WORK/plugins" 2>/dev/null
check "the 1.4 module is loaded" grep -q '^source *demo-source' "$WORK/plugins"
"$PKTEXPORT" export --plugin-dir "$dirs" --start 1700000000.010 --end 1700000000.020 \
	-f 'BPF:udp port 5001' -o "$WORK/demo.pcap" demo/100 2>"$WORK/err"
check "the 1.4 module exports (exit $?: $(cat "$WORK/err"))" test -s "$WORK/demo.pcap"
n=$(tcpdump -n -r "$WORK/demo.pcap" 2>/dev/null | wc -l)
check "10 packets of its 100 in the window ($n)" test "$n" = 10
finish
