# plugins/filter-wireshark: the plugin (no libwireshark in it) and the
# helper program that dissects (libwireshark, libwiretap).
if PLUGIN_FILTER_WIRESHARK
plugin_LTLIBRARIES += plugins/filter_wireshark.la
pkglibexec_PROGRAMS += plugins/pktexport-wireshark-helper
endif
plugins_filter_wireshark_la_SOURCES = \
	plugins/filter-wireshark/filter_wireshark.c \
	plugins/filter-wireshark/ws_prefilter.c \
	plugins/filter-wireshark/ws_prefilter.h \
	plugins/filter-wireshark/ws_protocol.h
plugins_filter_wireshark_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_filter_wireshark_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_filter_wireshark_la_LIBADD =

plugins_pktexport_wireshark_helper_SOURCES = \
	plugins/filter-wireshark/ws_helper.c \
	plugins/filter-wireshark/ws_protocol.h \
	plugins/filter-wireshark/ws_tvb.c \
	plugins/filter-wireshark/ws_tvb.h
plugins_pktexport_wireshark_helper_CFLAGS = $(AM_CFLAGS) $(WIRESHARK_CFLAGS)
plugins_pktexport_wireshark_helper_LDADD = $(WIRESHARK_LIBS)
