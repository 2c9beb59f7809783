# Tests of the SteelFilter filter: parser/evaluator unit test, exports
# against tcpdump on the corpus and synthetic captures, and a libFuzzer run
# of the parser (skipped without clang's libFuzzer).
if PLUGIN_FILTER_STEELFILTER
if HAVE_CHECK
check_PROGRAMS += tests/steelfilter_unit
TESTS += tests/steelfilter_unit
endif
TESTS += tests/steelfilter_corpus.sh tests/steelfilter_fuzz.sh
endif
tests_steelfilter_unit_SOURCES = tests/steelfilter_unit.c $(STEELFILTER_CORE)
tests_steelfilter_unit_CPPFLAGS = -I$(top_srcdir)/plugins/filter-steelfilter \
	$(PCAP_CFLAGS)
tests_steelfilter_unit_CFLAGS = $(AM_CFLAGS) $(CHECK_CFLAGS)
tests_steelfilter_unit_LDADD = $(CHECK_LIBS) $(PCAP_LIBS)
EXTRA_DIST += tests/steelfilter_corpus.sh tests/steelfilter_fuzz.sh \
	tests/steelfilter_caps.py
