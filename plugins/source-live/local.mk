# plugins/source-live: interfaces/<name>, live capture with libpcap.
if PLUGIN_SOURCE_LIVE
plugin_LTLIBRARIES += plugins/source_live.la
endif
plugins_source_live_la_SOURCES = plugins/source-live/source_live.c \
	plugins/common/pcap_linktype.h
plugins_source_live_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(PCAP_CFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/common
plugins_source_live_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_source_live_la_LIBADD = $(PCAP_LIBS) $(JANSSON_LIBS)
