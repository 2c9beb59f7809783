# tests of the pcapng part: PCAPNG_* output, the pcapng reader of
# source-file, multi-interface sources
PCAPNG_TESTS = tests/pcapng_corpus.sh tests/pcapng_roundtrip.sh \
	tests/pcapng_multi.sh tests/pcapng_damage.sh tests/pcap_snaplen.sh
TESTS += $(PCAPNG_TESTS)
EXTRA_DIST += $(PCAPNG_TESTS) tests/pcapng_read.py tests/pcapng_craft.py
