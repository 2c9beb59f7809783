# capture jobs (pktexport capture) on veth pairs in a network namespace the
# test makes, with our own traffic generator; skipped where namespaces or
# packet sockets are not allowed
if PLUGIN_SOURCE_STORE
check_PROGRAMS += tests/pktgen
TESTS += tests/capture.py
endif
tests_pktgen_SOURCES = tests/pktgen.c
EXTRA_DIST += tests/capture.py
