# plugins/source-store: jobs/ and clips/ sources, and pktexport-store (the
# `pktexport store` command), which share the index and catalog code.
STORE_SHARED = plugins/source-store/capfile.c plugins/source-store/capfile.h \
	plugins/common/job_id.h plugins/common/size_arg.h \
	plugins/source-store/store_index.c plugins/source-store/store_catalog.c \
	plugins/source-store/store_index.h
if PLUGIN_SOURCE_STORE
plugin_LTLIBRARIES += plugins/source_store.la
pkglibexec_PROGRAMS += pktexport-store
endif
if BUILD_CAPTURE
pkglibexec_PROGRAMS += pktexport-capture
endif
plugins_source_store_la_SOURCES = plugins/source-store/source_store.c \
	plugins/source-store/source_store.h plugins/source-store/store_clip.c \
	$(STORE_SHARED)
plugins_source_store_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/common
plugins_source_store_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_source_store_la_LIBADD = $(JANSSON_LIBS)
pktexport_store_SOURCES = plugins/source-store/store_cli.c \
	plugins/source-store/store_list.c plugins/source-store/store_clip.c \
	plugins/source-store/store_timeline.c \
	plugins/source-store/source_store.h $(STORE_SHARED)
pktexport_store_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_srcdir)/plugins/common
pktexport_store_LDADD = $(JANSSON_LIBS)
# pktexport-capture (`pktexport capture`, the daemon's capture jobs):
# records interfaces into a store; the one program needing CAP_NET_RAW.
pktexport_capture_SOURCES = plugins/source-store/store_capture.c \
	plugins/common/pcap_linktype.h $(STORE_SHARED)
pktexport_capture_CPPFLAGS = $(AM_CPPFLAGS) $(JANSSON_CFLAGS) \
	$(PCAP_CFLAGS) -I$(top_srcdir)/plugins/common
pktexport_capture_LDADD = $(JANSSON_LIBS) $(PCAP_LIBS)
