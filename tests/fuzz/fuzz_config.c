/* libFuzzer target: the export config parser (src/config.c).
 *
 * The input is JSON text; objects go to pkx_config_parse.  For a config
 * it accepts, the harness checks what the rest of the core relies on:
 *  - required fields set, times ordered, snap length in range;
 *  - the object it echoes back (defaults filled in, numeric times as
 *    strings) is accepted again and means the same config;
 *  - pkx_config_windows: windows non-empty, sorted, neither overlapping
 *    nor touching (touching ones are merged), inside start/end, and at
 *    every boundary point (±1) a time is inside a window exactly when it
 *    is inside [start_time, end_time) and, given intervals, one of them. */
#include "config.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

static int str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_same(const pkx_config *a, const pkx_config *b)
{
	size_t i;

	if (!str_eq(a->path, b->path) || !str_eq(a->mode, b->mode) ||
	    !str_eq(a->output_format, b->output_format) ||
	    !str_eq(a->output_filename, b->output_filename) ||
	    a->start_ns != b->start_ns || a->end_ns != b->end_ns ||
	    a->has_intervals != b->has_intervals ||
	    a->n_intervals != b->n_intervals || a->n_filters != b->n_filters ||
	    a->snap_length != b->snap_length ||
	    a->packet_limit != b->packet_limit ||
	    a->size_limit != b->size_limit || a->time_limit != b->time_limit ||
	    a->connection_timeout_msec != b->connection_timeout_msec ||
	    a->handle_timeout_msec != b->handle_timeout_msec ||
	    a->has_handle_timeout != b->has_handle_timeout)
		FAIL("the echoed config means something else");
	for (i = 0; i < a->n_intervals; i++)
		if (a->intervals[i].start != b->intervals[i].start ||
		    a->intervals[i].end != b->intervals[i].end)
			FAIL("echoed interval %zu differs", i);
	for (i = 0; i < a->n_filters; i++)
		if (!str_eq(a->filters[i].id, b->filters[i].id) ||
		    !str_eq(a->filters[i].type, b->filters[i].type) ||
		    !str_eq(a->filters[i].value, b->filters[i].value) ||
		    !str_eq(a->filters[i].context, b->filters[i].context))
			FAIL("echoed filter %zu differs", i);
}

/* Whether t is selected, by the definition. */
static int selected(const pkx_config *cfg, uint64_t t)
{
	size_t i;

	if (t < cfg->start_ns || t >= cfg->end_ns)
		return 0;
	if (!cfg->has_intervals)
		return 1;
	for (i = 0; i < cfg->n_intervals; i++)
		if (t >= cfg->intervals[i].start && t < cfg->intervals[i].end)
			return 1;
	return 0;
}

static int in_windows(const pkx_window *w, size_t n, uint64_t t)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (t >= w[i].start && t < w[i].end)
			return 1;
	return 0;
}

static void probe(const pkx_config *cfg, const pkx_window *w, size_t n,
                  uint64_t t)
{
	uint64_t p[3] = {t - 1, t, t + 1};
	int k;

	for (k = 0; k < 3; k++)
		if (selected(cfg, p[k]) != in_windows(w, n, p[k]))
			FAIL("time %llu: selected %d, in the windows %d",
			     (unsigned long long)p[k], selected(cfg, p[k]),
			     in_windows(w, n, p[k]));
}

static void check_windows(const pkx_config *cfg)
{
	pkx_window *w;
	size_t n = pkx_config_windows(cfg, &w), i;

	if (n && !w)
		FAIL("windows: count %zu without a list", n);
	if (!n && w)
		FAIL("windows: a list without a count");
	for (i = 0; i < n; i++) {
		if (w[i].start >= w[i].end)
			FAIL("window %zu is empty or reversed", i);
		if (w[i].start < cfg->start_ns || w[i].end > cfg->end_ns)
			FAIL("window %zu is outside start/end", i);
		if (i && w[i].start <= w[i - 1].end)
			FAIL("windows %zu and %zu overlap, touch or are not "
			     "sorted",
			     i - 1, i);
	}
	probe(cfg, w, n, 0);
	probe(cfg, w, n, 1);
	probe(cfg, w, n, UINT64_MAX - 1);
	probe(cfg, w, n, cfg->start_ns);
	probe(cfg, w, n, cfg->end_ns);
	for (i = 0; i < cfg->n_intervals && i < 64; i++) {
		probe(cfg, w, n, cfg->intervals[i].start);
		probe(cfg, w, n, cfg->intervals[i].end);
	}
	for (i = 0; i < n; i++) {
		probe(cfg, w, n, w[i].start);
		probe(cfg, w, n, w[i].end);
	}
	free(w);
}

static void check_config(const pkx_config *cfg)
{
	size_t i;

	if (!cfg->path || !cfg->path[0] || !cfg->mode || !cfg->output_format ||
	    !cfg->json)
		FAIL("accepted config lacks a required field");
	if (cfg->start_ns > cfg->end_ns)
		FAIL("start after end");
	if (cfg->snap_length > 65535)
		FAIL("snap length %u", cfg->snap_length);
	if (cfg->has_intervals != (cfg->n_intervals > 0))
		FAIL("has_intervals %d with %zu intervals", cfg->has_intervals,
		     cfg->n_intervals);
	for (i = 0; i < cfg->n_intervals; i++)
		if (cfg->intervals[i].start > cfg->intervals[i].end)
			FAIL("interval %zu reversed", i);
	for (i = 0; i < cfg->n_filters; i++)
		if (!cfg->filters[i].id || !cfg->filters[i].type ||
		    !cfg->filters[i].value)
			FAIL("filter %zu incomplete", i);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j = json_loadb((const char *)data, size, 0, NULL);
	pkx_config *cfg = NULL, *again = NULL;
	pkx_error err;

	if (!j)
		return 0;
	memset(&err, 0, sizeof(err));
	if (pkx_config_parse(j, &cfg, &err) != PKX_OK) {
		if (cfg)
			FAIL("a refused config was returned");
		if (!err.id[0] || !err.text[0])
			FAIL("refused without a reason");
		json_decref(j);
		return 0;
	}
	check_config(cfg);
	memset(&err, 0, sizeof(err));
	if (pkx_config_parse(cfg->json, &again, &err) != PKX_OK)
		FAIL("the echoed config is refused: %s", err.text);
	check_same(cfg, again);
	check_windows(cfg);
	memset(&err, 0, sizeof(err));
	(void)pkx_config_check_live(cfg, 1, &err);
	pkx_config_free(again);
	pkx_config_free(cfg);
	json_decref(j);
	return 0;
}
