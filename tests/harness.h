/* In-process harness for the plugin tests: loads the real plugins through
 * the registry, makes data roots and captures, and gives memory sinks and
 * a small pcap reader to check what a plugin wrote. */
#ifndef PKX_TEST_HARNESS_H
#define PKX_TEST_HARNESS_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "pkx.h"

/* A growable byte buffer. */
typedef struct hx_buf {
	uint8_t *data;
	size_t len, cap;
} hx_buf;

void hx_buf_add(hx_buf *b, const void *data, size_t len);
void hx_buf_free(hx_buf *b);

/* The registry of $PKTEXPORT_PLUGIN_DIR plus the test-only source module
 * of $TEST_MODULE_DIR (claims "test/"). */
pkx_registry *hx_registry(void);

/* A fresh data root with an empty fs/ folder; hx_root_free removes it. */
char *hx_root_new(void);
void hx_root_free(char *base);
/* root/rel as a malloc'd string. */
char *hx_path(const char *base, const char *rel);

/* Runs tests/mkcap.py into root/fs/name with the given options. */
void hx_mkcap(const char *base, const char *name, const char *options);
void hx_write_file(const char *base, const char *rel, const void *data,
                   size_t len);
void hx_read_file(const char *base, const char *rel, hx_buf *out);

/* Classic pcap in host byte order, or swapped when `swap`. */
void hx_pcap_header(hx_buf *b, int nanos, int swap, uint32_t snaplen,
                    uint32_t linktype);
void hx_pcap_record(hx_buf *b, int swap, uint32_t sec, uint32_t frac,
                    uint32_t caplen, uint32_t wirelen, const void *data);

/* A parsed classic pcap (little-endian, as our writer and mkcap.py make
 * them).  Records point into the parsed buffer. */
typedef struct hx_record {
	uint64_t ts_ns;
	uint32_t caplen, wirelen;
	const uint8_t *data;
} hx_record;

typedef struct hx_capture {
	int nanos;
	uint32_t snaplen, linktype;
	size_t n;
	hx_record *recs;
	size_t trailing; /* bytes after the last whole record */
} hx_capture;

/* 0 when buf holds a pcap header and whole records. */
int hx_pcap_parse(const uint8_t *buf, size_t len, hx_capture *out);
void hx_capture_free(hx_capture *c);

/* A sink into memory; with fail_after > 0 a write that would pass that
 * many bytes fails with EXPORT_IO_ERROR. */
typedef struct hx_mem_sink {
	pkx_sink sink; /* first */
	hx_buf buf;
	size_t fail_after;
} hx_mem_sink;

void hx_mem_sink_init(hx_mem_sink *s, size_t fail_after);

/* A config from printf-formatted JSON that must be valid. */
pkx_config *hx_config(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Prepares (which must succeed) and executes an export into sink. */
typedef struct hx_result {
	pkx_run_outcome outcome;
	pkx_stats stats;
	pkx_error err;
	double progress;
} hx_result;

void hx_export(const pkx_registry *registry, const char *base,
               const pkx_config *cfg, pkx_sink *sink, hx_result *res);

/* Reads every packet of a source through the ABI (copies of the data in
 * `store`, records pointing into it once the source is closed).
 * Returns what the last next() returned. */
pkx_result hx_source_read_all(const pkx_registry *registry, const char *base,
                              const char *path, hx_buf *store, hx_capture *out,
                              pkx_error *err);

/* Shared by the plugin and pipeline tests (test_plugins.c): the registry
 * and data root of the running test, made by setup, freed by teardown. */
extern pkx_registry *reg;
extern char *root;
void setup(void);
void teardown(void);
void assert_contains(const char *text, const char *part);
/* A 60-byte Ethernet frame: IPv4 with proto (6 TCP, 17 UDP) to dport, or
 * ARP when proto is 0. */
size_t make_frame(uint8_t *f, int proto, uint16_t dport);
Suite *pipeline_suite(void);

#endif /* PKX_TEST_HARNESS_H */
