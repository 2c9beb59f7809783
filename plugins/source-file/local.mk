# plugins/source-file
if PLUGIN_SOURCE_FILE
plugin_LTLIBRARIES += plugins/source_file.la
endif
plugins_source_file_la_SOURCES = plugins/source-file/source_file.c \
	plugins/source-file/pcapng_reader.c plugins/source-file/pcapng_reader.h
plugins_source_file_la_CPPFLAGS = $(PLUGIN_CPPFLAGS) $(PCAP_CFLAGS)
plugins_source_file_la_LDFLAGS = $(PLUGIN_LDFLAGS)
plugins_source_file_la_LIBADD = $(PCAP_LIBS)
