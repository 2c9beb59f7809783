#!/bin/bash
# Installs the Debian packages pktexport builds, tests and benchmarks with.
set -euo pipefail
packages=(
	build-essential autoconf automake libtool pkg-config
	libpcap-dev zlib1g-dev libzstd-dev bash-completion libltdl-dev libjansson-dev libevent-dev libhttp-parser-dev libcrypt-dev libssl-dev libcurl4-openssl-dev check
	libwireshark-dev libwiretap-dev libglib2.0-dev
	tcpdump tshark wireshark-common
	valgrind clang libclang-rt-14-dev
	python3 curl wrk time openssl iproute2 procps
	libjs-chart.js chromium chromium-driver python3-selenium
	debhelper lintian dpkg-dev
)
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: run as root (sudo $0)" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer it up front.
echo "wireshark-common wireshark-common/install-setuid boolean false" |
	debconf-set-selections
apt-get update
apt-get install -y --no-install-recommends "${packages[@]}"
