# plugins/format-pcapng
if PLUGIN_FORMAT_PCAPNG
plugin_LTLIBRARIES += plugins/format_pcapng.la
endif
plugins_format_pcapng_la_SOURCES = plugins/format-pcapng/format_pcapng.c
plugins_format_pcapng_la_CPPFLAGS = $(PLUGIN_CPPFLAGS)
plugins_format_pcapng_la_LDFLAGS = $(PLUGIN_LDFLAGS)
