# tests of the WIRESHARK filter: exactness against tshark on the corpus and
# synthetic captures, refused filters, helper crashes and hangs, recycling.
if PLUGIN_FILTER_WIRESHARK
TESTS += tests/wireshark_tshark.sh tests/wireshark_errors.sh tests/wireshark_server.py
endif
EXTRA_DIST += tests/wireshark_tshark.sh tests/wireshark_errors.sh tests/wireshark_server.py \
	tests/wireshark_records.py tests/wireshark_mktunnels.py \
	tests/wireshark_mkreassembly.py
