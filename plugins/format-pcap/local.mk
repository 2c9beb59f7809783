# plugins/format-pcap
if PLUGIN_FORMAT_PCAP
plugin_LTLIBRARIES += plugins/format_pcap.la
endif
plugins_format_pcap_la_SOURCES = plugins/format-pcap/format_pcap.c
plugins_format_pcap_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_format_pcap_la_LDFLAGS = $(PLUGIN_LDFLAGS)
