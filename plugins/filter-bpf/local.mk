# plugins/filter-bpf
if PLUGIN_FILTER_BPF
plugin_LTLIBRARIES += plugins/filter_bpf.la
endif
plugins_filter_bpf_la_SOURCES = plugins/filter-bpf/filter_bpf.c
plugins_filter_bpf_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(PCAP_CFLAGS)
plugins_filter_bpf_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_filter_bpf_la_LIBADD = $(PCAP_LIBS) $(PTHREAD_LIBS)
