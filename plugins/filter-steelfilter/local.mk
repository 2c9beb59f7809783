# plugins/filter-steelfilter: SteelFilter expressions, BPF where possible
if PLUGIN_FILTER_STEELFILTER
plugin_LTLIBRARIES += plugins/filter_steelfilter.la
endif
STEELFILTER_CORE = plugins/filter-steelfilter/steelfilter.h \
	plugins/filter-steelfilter/sf_parse.c \
	plugins/filter-steelfilter/sf_lower.c \
	plugins/filter-steelfilter/sf_eval.c
plugins_filter_steelfilter_la_SOURCES = $(STEELFILTER_CORE) \
	plugins/filter-steelfilter/filter_steelfilter.c
plugins_filter_steelfilter_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(PCAP_CFLAGS)
plugins_filter_steelfilter_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_filter_steelfilter_la_LIBADD = $(PCAP_LIBS) $(PTHREAD_LIBS)
EXTRA_DIST += plugins/filter-steelfilter/fuzz_steelfilter.c
