#!/bin/bash
# The snap length a pcap file declares in its header, for sources with
# several interfaces: readers cut every record to it, so it must hold
# every packet written.  An interface without a limit (0) makes it 262144;
# an interface described after the header with a larger limit, whose
# packets would not fit, fails the export with a message, not a file
# readers would cut; PCAPNG keeps it all.
. "${TOP_SRCDIR}/tests/lib.sh"
need python3 tcpdump

python3 - "$WORK" "$TOP_SRCDIR/tests" <<'PY'
import os, random, sys
sys.path.insert(0, sys.argv[2])
from pcapng_craft import Capture
d = sys.argv[1]
T = 1700000000 * 10**6

c = Capture(random.Random(1))
c.shb("<")
c.idb(1, 2000, "eth0")
c.idb(1, 0, "eth1")
c.epb(0, T, 100)
c.epb(1, T + 1, 5000)
c.write(d, "snap-unlimited")

c = Capture(random.Random(3))
c.shb("<")
c.idb(249, 0, "usb")  # USBPCAP: readers take up to 1 MiB
c.epb(0, T, 300000)
c.write(d, "snap-usb")

c = Capture(random.Random(4))
c.shb("<")
c.idb(1, 0xFFFFFFFF, "eth0")  # past the maximum: readers take 262144
c.epb(0, T, 1000)
c.write(d, "snap-huge")

for name, big in (("snap-later", 5000), ("snap-later-small", 90)):
    c = Capture(random.Random(2))
    c.shb("<")
    c.idb(1, 100, "eth0")
    c.epb(0, T, 80)
    c.idb(1, 9000, "eth1")
    c.epb(1, T + 1, big)
    c.write(d, name)
PY

# snaplen and the records' caplens of a pcap file, as a line.
describe() {
	python3 -c '
import struct, sys
b = open(sys.argv[1], "rb").read()
snap = struct.unpack("<I", b[16:20])[0]
caps, p = [], 24
while p + 16 <= len(b):
    cap = struct.unpack("<I", b[p + 8:p + 12])[0]
    caps.append(cap)
    p += 16 + cap
print(snap, *caps)' "$1"
}

out=$WORK/unlimited.pcap
"$PKTEXPORT" export --root "$WORK" -F PCAP_NS -o "$out" fs/snap-unlimited.pcapng 2>"$WORK/err"
check "an interface without a limit: exit 0" test $? = 0
check "header snap length 262144, records whole" test "$(describe "$out")" = "262144 100 5000"
tcpdump -r "$out" -w "$WORK/reread.pcap" 2>/dev/null
check "tcpdump reads the 5000-byte packet whole" test "$(describe "$WORK/reread.pcap")" = "262144 100 5000"

"$PKTEXPORT" export --root "$WORK" -F PCAP_NS -o "$WORK/usb.pcap" fs/snap-usb.pcapng 2>"$WORK/err"
check "USBPCAP without a limit: exit 0" test $? = 0
check "USBPCAP: header 1 MiB, the 300000-byte packet whole" \
	test "$(describe "$WORK/usb.pcap")" = "1048576 300000"
"$PKTEXPORT" export --root "$WORK" -F PCAP_NS -o "$WORK/huge.pcap" fs/snap-huge.pcapng 2>"$WORK/err"
check "a limit past the maximum is the maximum, as tcpdump writes it" \
	test "$(describe "$WORK/huge.pcap")" = "262144 1000"

# PCAPNG keeps each interface's own limit, 0 and past-maximum ones too:
# the pcap header's single limit is no cut.
ifs() { python3 "$TOP_SRCDIR/tests/pcapng_read.py" dump "$1" | grep '^if' | cut -d' ' -f4 | tr '\n' ' '; }
for case in unlimited:"snaplen=2000 snaplen=0 " usb:"snaplen=0 " huge:"snaplen=4294967295 "; do
	name=${case%%:*}
	"$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS -o "$WORK/$name.pcapng" \
		"fs/snap-$name.pcapng" 2>"$WORK/err"
	check "$name -> PCAPNG keeps the interfaces' limits" test "$(ifs "$WORK/$name.pcapng")" = "${case#*:}"
done

out=$WORK/later.pcap
"$PKTEXPORT" export --root "$WORK" -F PCAP_US -o "$out" fs/snap-later.pcapng 2>"$WORK/err"
check "a later, larger interface whose packet does not fit: exit 1" test $? = 1
check "it says why and what to do" grep -q 'does not fit the snap length 100.*PCAPNG' "$WORK/err"
check "no output file left" test ! -e "$out"
"$PKTEXPORT" export --root "$WORK" -F PCAPNG_NS -o "$WORK/later.pcapng" fs/snap-later.pcapng 2>"$WORK/err"
check "PCAPNG keeps it" test $? = 0
"$PKTEXPORT" export --root "$WORK" -F PCAP_US -s 100 -o "$out" fs/snap-later.pcapng 2>"$WORK/err"
check "with a snap length it fits" test "$(describe "$out")" = "100 80 100"
"$PKTEXPORT" export --root "$WORK" -F PCAP_US -o "$out" fs/snap-later-small.pcapng 2>"$WORK/err"
check "a later interface whose packets fit: exit 0" test $? = 0
check "a later interface whose packets fit: all there" test "$(describe "$out")" = "100 80 90"

finish
