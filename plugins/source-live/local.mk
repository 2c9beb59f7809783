# plugins/source-live: interfaces/<name> and vifgs/<id>, live capture
# through pktexport-capture --stream (plugins/source-store/store_capture.c),
# so the process running exports needs no privilege.
if PLUGIN_SOURCE_LIVE
plugin_LTLIBRARIES += plugins/source_live.la
endif
plugins_source_live_la_SOURCES = plugins/source-live/source_live.c \
	plugins/common/capture_broker.h
plugins_source_live_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(JANSSON_CFLAGS) \
	-I$(top_builddir) -I$(top_srcdir)/plugins/common
plugins_source_live_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_source_live_la_LIBADD = $(JANSSON_LIBS)
