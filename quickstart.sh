#!/bin/bash
# Sets pktexport up on a fresh Debian machine and runs one export of the
# example capture: the HTTP and DNS packets of examples/fs/sample.pcap in
# a one-second window, written to example-out.pcap.
set -euo pipefail
cd "$(dirname "$0")"
if [ "$(id -u)" -eq 0 ]; then
	tools/install-deps.sh
else
	sudo tools/install-deps.sh
fi
[ -x configure ] || autoreconf -fi
[ -f Makefile ] || ./configure
make -j"$(nproc)"
export PKTEXPORT_PLUGIN_DIR="$PWD/plugins/.libs"
./pktexport export --root examples \
	--start 1700000001 --end 1700000002 \
	-f 'BPF:tcp port 80 or udp port 53' \
	-o example-out.pcap --stats fs/sample.pcap
echo "wrote example-out.pcap:"
tcpdump -nn -c 5 -r example-out.pcap 2>/dev/null
