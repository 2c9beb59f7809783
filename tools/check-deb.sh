#!/bin/bash
# A packager's check: builds the Debian packages from the release tarball
# (DEB_BUILD_OPTIONS=nocheck: the suite has run already), runs lintian
# (errors fail), installs them, runs the installed command line and the
# installed daemon (as its service user, with the unit's command line) on
# the example capture, then purges them and checks nothing is left.
#
#   tools/check-deb.sh pktexport-VERSION.tar.gz
set -euo pipefail
tarball=$(realpath "$1")
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/pkx-deb.XXXXXX)
daemon=
cleanup() {
	[ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "check-deb: building from $(basename "$tarball")"
tar -xzf "$tarball" -C "$work"
src=$(echo "$work"/pktexport-*)
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=2" \
	dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) || {
	tail -n 40 "$work/build.log"
	exit 1
}
cd "$work"
ls ./*.deb
# Errors fail; warnings are shown.
lintian --fail-on error ./*.changes

debs=(./pktexport_*.deb ./pktexportd_*.deb ./pktexport-wireshark_*.deb ./pktexport-dev_*.deb)
DEBIAN_FRONTEND=noninteractive apt-get install -y "${debs[@]}" >"$work/install.log" 2>&1 || {
	tail -n 30 "$work/install.log"
	exit 1
}

# The installed programs, by their installed paths (a make install under
# /usr/local may be on PATH too).
mkdir -p root/fs
cp "$top/examples/fs/sample.pcap" root/fs/
/usr/bin/pktexport plugins | tee plugins.txt
for k in source-file source-store source-live filter-bpf filter-steelfilter \
	filter-wireshark format-pcap format-pcapng; do
	grep -q " $k " plugins.txt || { echo "check-deb: plugin $k not installed" >&2; exit 1; }
done
/usr/bin/pktexport export --root root -f 'BPF:udp port 53' -F PCAPNG_NS -o dns.pcapng fs/sample.pcap
[ "$(stat -c %s dns.pcapng)" -gt 100 ]
# The WIRESHARK filter and its helper, from their own package: the same
# packets by the same rule.
/usr/bin/pktexport export --root root -f 'WIRESHARK:udp.port == 53' -F PCAPNG_NS \
	-o dns-ws.pcapng fs/sample.pcap
cmp dns.pcapng dns-ws.pcapng

# The daemon as installed, as its service user with the unit's command
# line (systemd is not assumed: its StateDirectory= is made by hand), on a
# port of its own.
getent passwd pktexport >/dev/null
install -d -o pktexport -g pktexport -m 0750 /var/lib/pktexport /var/lib/pktexport/fs
install -o pktexport -g pktexport -m 0640 root/fs/sample.pcap /var/lib/pktexport/fs/
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/pktexportd.service)
PKTEXPORTD_LISTEN=127.0.0.1:0 PKTEXPORTD_OPTS= eval "set -- $exec_start"
setpriv --reuid=pktexport --regid=pktexport --init-groups -- "$@" >addr 2>daemon.log &
daemon=$!
for _ in $(seq 100); do [ -s addr ] && break; sleep 0.1; done
addr=$(head -n 1 addr)
curl -sf "http://$addr/api/common/1.0/ping" >/dev/null
curl -sf -X POST "http://$addr/api/npm.packet_export/1.3/exports" \
	-d '{"config": {"path": "fs/sample.pcap", "output_format": "PCAPNG_NS",
	     "filters": {"items": [{"id": "1", "type": "BPF", "value": "udp port 53"}]}}}' >post.json
id=$(python3 -c 'import json; print(json.load(open("post.json"))["id"])')
curl -sf -o dns-http.pcapng "http://$addr/api/npm.packet_export/1.3/packets/items/$id"
cmp dns.pcapng dns-http.pcapng
[ "$(stat -c %U "/proc/$daemon")" = pktexport ]
kill "$daemon"
wait "$daemon" || true
daemon=
grep -q "stopped" daemon.log
grep -q "export $id by admin" daemon.log
rm /var/lib/pktexport/fs/sample.pcap

# The plugin headers and their pkg-config file.
pkg-config --exists pktexport-plugin
[ -f "$(pkg-config --variable=includedir pktexport-plugin)/pktexport/plugin.h" ]
# The unit and its user, as the package installs them.
[ -f /lib/systemd/system/pktexportd.service ]
[ -f /usr/lib/sysusers.d/pktexportd.conf ]
[ -f /etc/default/pktexportd ]

DEBIAN_FRONTEND=noninteractive apt-get purge -y pktexport pktexportd pktexport-wireshark pktexport-dev >"$work/purge.log" 2>&1
for f in /usr/bin/pktexport /usr/bin/pktexportd /etc/default/pktexportd \
	/lib/systemd/system/pktexportd.service /usr/include/pktexport/plugin.h \
	/usr/lib/sysusers.d/pktexportd.conf /var/lib/pktexport; do
	[ ! -e "$f" ] || { echo "check-deb: $f left after purge" >&2; exit 1; }
done
echo "check-deb: built, lintian clean of errors, installed, ran, purged"
