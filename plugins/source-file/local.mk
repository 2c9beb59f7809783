# plugins/source-file
if PLUGIN_SOURCE_FILE
plugin_LTLIBRARIES += plugins/source_file.la
endif
# The store's capture reader reads pcapng; its index code gives large files
# a sidecar time index.
plugins_source_file_la_SOURCES = plugins/source-file/source_file.c \
	plugins/common/pcap_linktype.h \
	plugins/source-store/capfile.c plugins/source-store/capfile.h \
	plugins/source-store/store_index.c plugins/source-store/store_catalog.c \
	plugins/source-store/store_index.h
plugins_source_file_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(PCAP_CFLAGS) \
	-I$(top_srcdir)/plugins/source-store -I$(top_srcdir)/plugins/common
plugins_source_file_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_source_file_la_LIBADD = $(PCAP_LIBS)
