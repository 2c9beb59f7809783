/* The plugin test harness: real plugins through the registry, data roots,
 * captures, memory sinks and a pcap reader. */
#define _GNU_SOURCE /* nftw */
#include "config.h"

#include <check.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

void hx_buf_add(hx_buf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 256;

		while (cap < b->len + len)
			cap *= 2;
		b->data = realloc(b->data, cap);
		ck_assert_ptr_nonnull(b->data);
		b->cap = cap;
	}
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
}

void hx_buf_free(hx_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

pkx_registry *hx_registry(void)
{
	const char *dir = getenv("PKTEXPORT_PLUGIN_DIR");
	const char *mods = getenv("TEST_MODULE_DIR");
	pkx_registry *registry = pkx_registry_new();
	static const char *const modules[] = {"test_source", "test_filter",
	                                      "test_filter_batch",
	                                      "test_filter_async"};
	pkx_error err = {"", ""};
	char *path;
	size_t i;

	ck_assert_msg(dir && mods, "run through make check: "
	                           "PKTEXPORT_PLUGIN_DIR and TEST_MODULE_DIR "
	                           "are not set");
	ck_assert_ptr_nonnull(registry);
	ck_assert_int_gt(pkx_registry_load_dir(registry, dir), 0);
	for (i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		path = hx_path(mods, modules[i]);
		ck_assert_msg(pkx_registry_load(registry, path, &err) == PKX_OK,
		              "%s", err.text);
		free(path);
	}
	return registry;
}

char *hx_path(const char *base, const char *rel)
{
	char *p = malloc(strlen(base) + strlen(rel) + 2);

	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/%s", base, rel);
	return p;
}

char *hx_root_new(void)
{
	const char *tmp = getenv("TMPDIR");
	char *base = malloc(256), *fs;

	ck_assert_ptr_nonnull(base);
	snprintf(base, 256, "%s/pkx-plugins.XXXXXX",
	         tmp && *tmp ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(base));
	fs = hx_path(base, "fs");
	ck_assert_int_eq(mkdir(fs, 0700), 0);
	free(fs);
	return base;
}

static int hx_rm(const char *path, const struct stat *st, int flag,
                 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void hx_root_free(char *base)
{
	if (!base)
		return;
	nftw(base, hx_rm, 16, FTW_DEPTH | FTW_PHYS);
	free(base);
}

void hx_mkcap(const char *base, const char *name, const char *options)
{
	const char *mkcap = getenv("MKCAP");
	char cmd[1024];
	int rc;

	ck_assert_msg(mkcap != NULL, "MKCAP is not set");
	snprintf(cmd, sizeof(cmd), "python3 '%s' '%s/fs/%s' %s", mkcap, base,
	         name, options);
	rc = system(cmd);
	ck_assert_msg(rc == 0, "%s failed (%d)", cmd, rc);
}

void hx_write_file(const char *base, const char *rel, const void *data,
                   size_t len)
{
	char *p = hx_path(base, rel);
	FILE *f = fopen(p, "wb");

	ck_assert_msg(f != NULL, "cannot create %s", p);
	ck_assert_uint_eq(fwrite(data, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	free(p);
}

void hx_read_file(const char *base, const char *rel, hx_buf *out)
{
	char *p = hx_path(base, rel);
	FILE *f = fopen(p, "rb");
	char chunk[8192];
	size_t n;

	ck_assert_msg(f != NULL, "cannot read %s", p);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		hx_buf_add(out, chunk, n);
	fclose(f);
	free(p);
}

static uint32_t hx_order(int swap, uint32_t v)
{
	return swap ? __builtin_bswap32(v) : v;
}

void hx_pcap_header(hx_buf *b, int nanos, int swap, uint32_t snaplen,
                    uint32_t linktype)
{
	uint32_t h[6];
	uint16_t version[2] = {2, 4};

	h[0] = hx_order(swap, nanos ? 0xa1b23c4du : 0xa1b2c3d4u);
	if (swap) {
		version[0] = __builtin_bswap16(version[0]);
		version[1] = __builtin_bswap16(version[1]);
	}
	memcpy(&h[1], version, 4);
	h[2] = 0;
	h[3] = 0;
	h[4] = hx_order(swap, snaplen);
	h[5] = hx_order(swap, linktype);
	hx_buf_add(b, h, sizeof(h));
}

void hx_pcap_record(hx_buf *b, int swap, uint32_t sec, uint32_t frac,
                    uint32_t caplen, uint32_t wirelen, const void *data)
{
	uint32_t r[4] = {hx_order(swap, sec), hx_order(swap, frac),
	                 hx_order(swap, caplen), hx_order(swap, wirelen)};

	hx_buf_add(b, r, sizeof(r));
	hx_buf_add(b, data, caplen);
}

static uint32_t hx_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

int hx_pcap_parse(const uint8_t *buf, size_t len, hx_capture *out)
{
	size_t off = 24, cap = 0;
	uint32_t magic;

	memset(out, 0, sizeof(*out));
	if (len < 24)
		return -1;
	magic = hx_le32(buf);
	if (magic != 0xa1b2c3d4u && magic != 0xa1b23c4du)
		return -1;
	if (hx_le32(buf + 4) != 0x00040002u)
		return -1;
	out->nanos = magic == 0xa1b23c4du;
	out->snaplen = hx_le32(buf + 16);
	out->linktype = hx_le32(buf + 20);
	while (len - off >= 16) {
		uint32_t caplen = hx_le32(buf + off + 8);
		hx_record *r;

		if (caplen > len - off - 16)
			break;
		if (out->n == cap) {
			cap = cap ? cap * 2 : 64;
			out->recs = realloc(out->recs, cap * sizeof(*r));
			ck_assert_ptr_nonnull(out->recs);
		}
		r = &out->recs[out->n++];
		r->ts_ns = (uint64_t)hx_le32(buf + off) * 1000000000u +
		           (uint64_t)hx_le32(buf + off + 4) *
		               (out->nanos ? 1u : 1000u);
		r->caplen = caplen;
		r->wirelen = hx_le32(buf + off + 12);
		r->data = buf + off + 16;
		off += 16 + caplen;
	}
	out->trailing = len - off;
	return out->trailing ? -1 : 0;
}

void hx_capture_free(hx_capture *c)
{
	free(c->recs);
	memset(c, 0, sizeof(*c));
}

static pkx_result hx_mem_write(pkx_sink *sink, const void *buf, size_t len,
                               pkx_error *err)
{
	hx_mem_sink *s = (hx_mem_sink *)sink;

	if (s->fail_after && s->buf.len + len > s->fail_after)
		return pkx_fail(err, PKX_EIO, "test sink full after %zu bytes",
		                s->fail_after);
	hx_buf_add(&s->buf, buf, len);
	return PKX_OK;
}

void hx_mem_sink_init(hx_mem_sink *s, size_t fail_after)
{
	memset(s, 0, sizeof(*s));
	s->sink.write = hx_mem_write;
	s->fail_after = fail_after;
}

pkx_config *hx_config(const char *fmt, ...)
{
	char text[4096];
	va_list ap;
	json_error_t jerr;
	json_t *j;
	pkx_config *cfg = NULL;
	pkx_error err = {"", ""};

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	j = json_loads(text, 0, &jerr);
	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, jerr.text);
	ck_assert_msg(pkx_config_parse(j, &cfg, &err) == PKX_OK,
	              "config %s refused: %s", text, err.text);
	json_decref(j);
	return cfg;
}

void hx_export(const pkx_registry *registry, const char *base,
               const pkx_config *cfg, pkx_sink *sink, hx_result *res)
{
	pkx_run *run = NULL;

	memset(res, 0, sizeof(*res));
	ck_assert_msg(pkx_run_prepare(registry, base, cfg, NULL, &run,
	                              &res->err) == PKX_OK,
	              "prepare %s: %s", cfg->path, res->err.text);
	res->outcome = pkx_run_execute(run, sink, &res->err);
	pkx_run_stats(run, &res->stats);
	res->progress = pkx_run_progress(run);
	pkx_run_free(run);
}

pkx_result hx_source_read_all(const pkx_registry *registry, const char *base,
                              const char *path, hx_buf *store, hx_capture *out,
                              pkx_error *err)
{
	const pkx_source_plugin *src = pkx_registry_source(registry, path);
	pkx_source_args args = {
	    .size = sizeof(args), .root = base, .path = path};
	size_t *offsets = NULL, i;
	void *inst = NULL;
	pkx_packet pkt;
	pkx_result r;

	memset(out, 0, sizeof(*out));
	ck_assert_msg(src != NULL, "no source for %s", path);
	if (src->open(&args, &inst, err) != PKX_OK)
		return PKX_ERROR;
	while ((r = src->next(inst, &pkt, err)) == PKX_OK) {
		hx_record rec = {pkt.ts_ns, pkt.caplen, pkt.wirelen, NULL};

		offsets = realloc(offsets, (out->n + 1) * sizeof(*offsets));
		out->recs = realloc(out->recs, (out->n + 1) * sizeof(rec));
		ck_assert(offsets && out->recs);
		offsets[out->n] = store->len;
		out->recs[out->n++] = rec;
		hx_buf_add(store, pkt.data, pkt.caplen);
	}
	src->close(inst);
	/* The store may have moved while growing: point in at the end. */
	for (i = 0; i < out->n; i++)
		out->recs[i].data = store->data + offsets[i];
	free(offsets);
	return r;
}
