/* Unit tests of the config object of API 1.3: one invalid config per kind
 * of mistake, valid ones with their defaults, and the selected windows. */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"

#define NS 1000000000ull

Suite *config_suite(void);

/* ------------------------------------------------------------ helpers */

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, jerr.text);
	return j;
}

/* Parses a config that must be valid. */
static pkx_config *config_ok(const char *text)
{
	json_t *j = load(text);
	pkx_config *cfg = NULL;
	pkx_error err = {"", ""};

	ck_assert_msg(pkx_config_parse(j, &cfg, &err) == PKX_OK,
	              "%s refused: %s", text, err.text);
	ck_assert_ptr_nonnull(cfg);
	json_decref(j);
	return cfg;
}

static void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) != NULL, "\"%s\" does not name \"%s\"",
	              text, part);
}

/* ------------------------------------------------------------ config */

/* One invalid config per kind of mistake, and what its error must name. */
static const struct {
	const char *json;
	const char *names[2];
} bad_configs[] = {
    {"[]", {"config", "object"}},
    {"{}", {"path", "required"}},
    {"{\"path\":\"fs/a\",\"bogus\":1}", {"bogus", "config"}},
    {"{\"path\":7}", {"config.path", "string"}},
    {"{\"path\":\"\"}", {"config.path", "empty"}},
    {"{\"path\":\"fs/a\\u0000b\"}", {"config.path", "NUL"}},
    {"{\"path\":\"fs/a\",\"mode\":\"FAST\"}", {"config.mode", "FAST"}},
    {"{\"path\":\"fs/a\",\"mode\":1}", {"config.mode", "string"}},
    {"{\"path\":\"fs/a\",\"output_format\":\"pcap\"}",
     {"config.output_format", "\"pcap\""}},
    {"{\"path\":\"fs/a\",\"output_format\":\"pcap_us\"}",
     {"config.output_format", "pcap_us"}},
    {"{\"path\":\"fs/a\",\"snap_length\":65536}",
     {"config.snap_length", "65536"}},
    {"{\"path\":\"fs/a\",\"snap_length\":-1}", {"config.snap_length", "-1"}},
    {"{\"path\":\"fs/a\",\"snap_length\":\"100\"}",
     {"config.snap_length", "integer"}},
    {"{\"path\":\"fs/a\",\"snap_length\":100.5}",
     {"config.snap_length", "integer"}},
    {"{\"path\":\"fs/a\",\"connection_timeout_msec\":-5}",
     {"config.connection_timeout_msec", "-5"}},
    {"{\"path\":\"fs/a\",\"handle_timeout_msec\":\"10\"}",
     {"config.handle_timeout_msec", "integer"}},
    {"{\"path\":\"fs/a\",\"output_filename\":\"../x.pcap\"}",
     {"config.output_filename", "../x.pcap"}},
    {"{\"path\":\"fs/a\",\"output_filename\":\"/tmp/x.pcap\"}",
     {"config.output_filename", "/tmp/x.pcap"}},
    {"{\"path\":\"fs/a\",\"output_filename\":3}",
     {"config.output_filename", "string"}},
    {"{\"path\":\"fs/a\",\"start_time\":\"yesterday\"}",
     {"config.start_time", "yesterday"}},
    {"{\"path\":\"fs/a\",\"end_time\":\"1.1234567890\"}",
     {"config.end_time", "1.1234567890"}},
    {"{\"path\":\"fs/a\",\"start_time\":true}",
     {"config.start_time", "string"}},
    {"{\"path\":\"fs/a\",\"end_time\":-3}", {"config.end_time", "-3"}},
    {"{\"path\":\"fs/a\",\"start_time\":\"20\",\"end_time\":\"10\"}",
     {"config.start_time", "config.end_time"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":[]}", {"config.stop_rule", "object"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"byte_limit\":1}}",
     {"config.stop_rule", "byte_limit"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"packet_limit\":-1}}",
     {"config.stop_rule.packet_limit", "-1"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"packet_limit\":\"5\"}}",
     {"config.stop_rule.packet_limit", "integer"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"size_limit\":1.5}}",
     {"config.stop_rule.size_limit", "integer"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"time_limit\":4294967296}}",
     {"config.stop_rule.time_limit", "4294967296"}},
    {"{\"path\":\"fs/a\",\"stop_rule\":{\"time_limit\":-1}}",
     {"config.stop_rule.time_limit", "-1"}},
    {"{\"path\":\"fs/a\",\"filters\":[]}", {"config.filters", "object"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"op\":\"AND\"}}",
     {"config.filters", "\"op\""}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":{}}}",
     {"config.filters.items", "array"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[\"tcp\"]}}",
     {"config.filters.items[0]", "object"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"type\":"
     "\"BPF\",\"value\":\"tcp\",\"negate\":true}]}}",
     {"config.filters.items[0]", "negate"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"type\":\"BPF\","
     "\"value\":\"tcp\"}]}}",
     {"config.filters.items[0]", "\"id\""}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"value\":"
     "\"tcp\"}]}}",
     {"config.filters.items[0]", "\"type\""}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"type\":"
     "\"BPF\"}]}}",
     {"config.filters.items[0]", "\"value\""}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"type\":"
     "\"BPF\",\"value\":\"tcp\"},{\"id\":\"b\",\"type\":\"pcre\","
     "\"value\":\"x\"}]}}",
     {"config.filters.items[1].type", "pcre"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"type\":"
     "\"BPF\",\"value\":\"tcp\",\"context\":\"ALWAYS\"}]}}",
     {"config.filters.items[0].context", "ALWAYS"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":\"a\",\"type\":"
     "\"BPF\",\"value\":6}]}}",
     {"config.filters.items[0].value", "string"}},
    {"{\"path\":\"fs/a\",\"filters\":{\"items\":[{\"id\":1,\"type\":"
     "\"BPF\",\"value\":\"tcp\"}]}}",
     {"config.filters.items[0].id", "string"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":{}}",
     {"config.time_intervals", "array"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[5]}",
     {"config.time_intervals[0]", "object"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[{\"start_time\":\"1\","
     "\"end_time\":\"2\",\"duration\":1}]}",
     {"config.time_intervals[0]", "duration"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[{\"start_time\":\"1\"}]}",
     {"config.time_intervals[0]", "end_time"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[{\"end_time\":\"1\"}]}",
     {"config.time_intervals[0]", "start_time"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[{\"start_time\":\"1\","
     "\"end_time\":\"2\"},{\"start_time\":\"soon\",\"end_time\":\"2\"}]}",
     {"config.time_intervals[1].start_time", "soon"}},
    {"{\"path\":\"fs/a\",\"time_intervals\":[{\"start_time\":\"3\","
     "\"end_time\":\"2\"}]}",
     {"config.time_intervals[0]", "after"}},
};

START_TEST(config_invalid)
{
	json_t *j = load(bad_configs[_i].json);
	pkx_config *cfg = (pkx_config *)1;
	pkx_error err = {"", ""};
	size_t k;

	ck_assert_msg(pkx_config_parse(j, &cfg, &err) == PKX_ERROR,
	              "%s accepted", bad_configs[_i].json);
	ck_assert_ptr_null(cfg);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	for (k = 0; k < 2; k++)
		assert_contains(err.text, bad_configs[_i].names[k]);
	json_decref(j);
}
END_TEST

START_TEST(config_defaults)
{
	pkx_config *cfg = config_ok("{\"path\":\"fs/a.pcap\"}");

	ck_assert_str_eq(cfg->path, "fs/a.pcap");
	ck_assert_str_eq(cfg->mode, "BUFFER_STREAM");
	ck_assert_str_eq(cfg->output_format, "PCAP_US");
	ck_assert_ptr_null(cfg->output_filename);
	ck_assert_uint_eq(cfg->start_ns, 0);
	ck_assert_uint_eq(cfg->end_ns, PKX_TIME_UNBOUNDED);
	ck_assert_int_eq(cfg->has_intervals, 0);
	ck_assert_uint_eq(cfg->n_filters, 0);
	ck_assert_uint_eq(cfg->snap_length, 0);
	ck_assert_uint_eq(cfg->packet_limit, 0);
	ck_assert_uint_eq(cfg->size_limit, 0);
	ck_assert_uint_eq(cfg->time_limit, 0);
	ck_assert_uint_eq(cfg->connection_timeout_msec, 180000);
	ck_assert_int_eq(cfg->has_handle_timeout, 0);
	/* The defaults are stated in the echoed object. */
	ck_assert_str_eq(json_string_value(json_object_get(cfg->json, "mode")),
	                 "BUFFER_STREAM");
	ck_assert_str_eq(
	    json_string_value(json_object_get(cfg->json, "output_format")),
	    "PCAP_US");
	ck_assert_int_eq(json_integer_value(json_object_get(
	                     cfg->json, "connection_timeout_msec")),
	                 180000);
	ck_assert_str_eq(json_string_value(json_object_get(cfg->json, "path")),
	                 "fs/a.pcap");
	pkx_config_free(cfg);
}
END_TEST

START_TEST(config_full)
{
	pkx_config *cfg = config_ok(
	    "{\"path\":\"fs/x/b.pcapng\",\"mode\":\"STREAM_TO_FILE\","
	    "\"output_format\":\"PCAPNG_NS\",\"output_filename\":\"out/"
	    "c.pcap\","
	    "\"snap_length\":65535,\"connection_timeout_msec\":5,"
	    "\"handle_timeout_msec\":0,"
	    "\"start_time\":\"1700000000.000000001\",\"end_time\":1700000100,"
	    "\"stop_rule\":{\"packet_limit\":3,"
	    "\"size_limit\":9007199254740993,\"time_limit\":4294967295},"
	    "\"filters\":{\"items\":[{\"id\":\"f1\",\"type\":\"BPF\","
	    "\"value\":\"tcp\",\"context\":\"USER\"},{\"id\":\"f2\",\"type\":"
	    "\"WIRESHARK\",\"value\":\"dns\"}]},"
	    "\"time_intervals\":[{\"start_time\":\"1700000010\",\"end_time\":"
	    "\"1700000020.5\"},{\"start_time\":1700000030.25,\"end_time\":"
	    "\"0\"}]"
	    "}");

	ck_assert_str_eq(cfg->path, "fs/x/b.pcapng");
	ck_assert_str_eq(cfg->mode, "STREAM_TO_FILE");
	ck_assert_str_eq(cfg->output_format, "PCAPNG_NS");
	ck_assert_str_eq(cfg->output_filename, "out/c.pcap");
	ck_assert_uint_eq(cfg->snap_length, 65535);
	ck_assert_uint_eq(cfg->connection_timeout_msec, 5);
	ck_assert_int_eq(cfg->has_handle_timeout, 1);
	ck_assert_uint_eq(cfg->handle_timeout_msec, 0);
	ck_assert_uint_eq(cfg->start_ns, 1700000000 * NS + 1);
	ck_assert_uint_eq(cfg->end_ns, 1700000100 * NS);
	ck_assert_uint_eq(cfg->packet_limit, 3);
	ck_assert_uint_eq(cfg->size_limit, 9007199254740993ull);
	ck_assert_uint_eq(cfg->time_limit, 4294967295u);
	ck_assert_uint_eq(cfg->n_filters, 2);
	ck_assert_str_eq(cfg->filters[0].id, "f1");
	ck_assert_str_eq(cfg->filters[0].type, "BPF");
	ck_assert_str_eq(cfg->filters[0].value, "tcp");
	ck_assert_str_eq(cfg->filters[0].context, "USER");
	ck_assert_str_eq(cfg->filters[1].type, "WIRESHARK");
	ck_assert_ptr_null(cfg->filters[1].context);
	ck_assert_int_eq(cfg->has_intervals, 1);
	ck_assert_uint_eq(cfg->n_intervals, 2);
	ck_assert_uint_eq(cfg->intervals[0].start, 1700000010 * NS);
	ck_assert_uint_eq(cfg->intervals[0].end, 1700000020 * NS + 500000000);
	ck_assert_uint_eq(cfg->intervals[1].start, 1700000030 * NS + 250000000);
	ck_assert_uint_eq(cfg->intervals[1].end, PKX_TIME_UNBOUNDED);
	/* Numbers are echoed as the strings the definition asks for. */
	ck_assert_str_eq(
	    json_string_value(json_object_get(cfg->json, "end_time")),
	    "1700000100.000000000");
	ck_assert_str_eq(
	    json_string_value(json_object_get(
	        json_array_get(json_object_get(cfg->json, "time_intervals"), 1),
	        "start_time")),
	    "1700000030.250000000");
	ck_assert_str_eq(
	    json_string_value(json_object_get(cfg->json, "start_time")),
	    "1700000000.000000001");
	pkx_config_free(cfg);
}
END_TEST

START_TEST(config_largest_limits)
{
	/* jansson reads integers as signed 64 bits, so INT64_MAX is the
	 * largest limit a client can send. */
	pkx_config *cfg =
	    config_ok("{\"path\":\"fs/a\",\"stop_rule\":{\"packet_limit\":"
	              "9223372036854775807,\"size_limit\":0,\"time_limit\":0},"
	              "\"snap_length\":0}");

	ck_assert_uint_eq(cfg->packet_limit, 9223372036854775807ull);
	ck_assert_uint_eq(cfg->size_limit, 0);
	ck_assert_uint_eq(cfg->snap_length, 0);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(config_zero_times_unbounded)
{
	pkx_config *cfg =
	    config_ok("{\"path\":\"fs/a\",\"start_time\":\"0\",\"end_time\":"
	              "\"0\"}");

	ck_assert_uint_eq(cfg->start_ns, 0);
	ck_assert_uint_eq(cfg->end_ns, PKX_TIME_UNBOUNDED);
	pkx_config_free(cfg);
	/* "0" as end with a start: still unbounded, not "before start". */
	cfg = config_ok("{\"path\":\"fs/a\",\"start_time\":\"5\",\"end_time\":"
	                "0}");
	ck_assert_uint_eq(cfg->start_ns, 5 * NS);
	ck_assert_uint_eq(cfg->end_ns, PKX_TIME_UNBOUNDED);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(config_does_not_keep_input)
{
	json_t *j = load("{\"path\":\"fs/a\",\"end_time\":12}");
	pkx_config *cfg;
	pkx_error err;

	ck_assert_int_eq(pkx_config_parse(j, &cfg, &err), PKX_OK);
	ck_assert_int_eq(j->refcount, 1);
	/* The caller's object is not rewritten. */
	ck_assert(json_is_integer(json_object_get(j, "end_time")));
	ck_assert_ptr_null(json_object_get(j, "mode"));
	json_decref(j);
	ck_assert_str_eq(cfg->path, "fs/a");
	pkx_config_free(cfg);
	pkx_config_free(NULL);
}
END_TEST

/* ----------------------------------------------------------- windows */

/* Windows of a config given as JSON; returns the count. */
static size_t windows_of(const char *json, pkx_window **w)
{
	pkx_config *cfg = config_ok(json);
	size_t n = pkx_config_windows(cfg, w);

	pkx_config_free(cfg);
	return n;
}

START_TEST(windows_unbounded)
{
	pkx_window *w;

	ck_assert_uint_eq(windows_of("{\"path\":\"fs/a\"}", &w), 1);
	ck_assert_uint_eq(w[0].start, 0);
	ck_assert_uint_eq(w[0].end, PKX_TIME_UNBOUNDED);
	free(w);
	ck_assert_uint_eq(
	    windows_of("{\"path\":\"fs/a\",\"start_time\":\"7.5\"}", &w), 1);
	ck_assert_uint_eq(w[0].start, 7 * NS + 500000000);
	ck_assert_uint_eq(w[0].end, PKX_TIME_UNBOUNDED);
	free(w);
	ck_assert_uint_eq(
	    windows_of("{\"path\":\"fs/a\",\"end_time\":\"9\"}", &w), 1);
	ck_assert_uint_eq(w[0].start, 0);
	ck_assert_uint_eq(w[0].end, 9 * NS);
	free(w);
}
END_TEST

START_TEST(windows_union_sorted)
{
	pkx_window *w;
	size_t n = windows_of(
	    "{\"path\":\"fs/a\",\"time_intervals\":["
	    "{\"start_time\":\"30\",\"end_time\":\"40\"},"
	    "{\"start_time\":\"10\",\"end_time\":\"20\"},"
	    "{\"start_time\":\"50\",\"end_time\":\"50.000000001\"}]}",
	    &w);

	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(w[0].start, 10 * NS);
	ck_assert_uint_eq(w[0].end, 20 * NS);
	ck_assert_uint_eq(w[1].start, 30 * NS);
	ck_assert_uint_eq(w[1].end, 40 * NS);
	ck_assert_uint_eq(w[2].start, 50 * NS);
	ck_assert_uint_eq(w[2].end, 50 * NS + 1);
	free(w);
}
END_TEST

START_TEST(windows_overlap_merge)
{
	pkx_window *w;
	size_t n = windows_of("{\"path\":\"fs/a\",\"time_intervals\":["
	                      "{\"start_time\":\"15\",\"end_time\":\"25\"},"
	                      "{\"start_time\":\"10\",\"end_time\":\"20\"},"
	                      "{\"start_time\":\"25\",\"end_time\":\"26\"},"
	                      "{\"start_time\":\"12\",\"end_time\":\"13\"},"
	                      "{\"start_time\":\"40\",\"end_time\":\"50\"}]}",
	                      &w);

	/* [10,20)+[15,25)+[12,13) overlap, [25,26) touches: one range. */
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(w[0].start, 10 * NS);
	ck_assert_uint_eq(w[0].end, 26 * NS);
	ck_assert_uint_eq(w[1].start, 40 * NS);
	ck_assert_uint_eq(w[1].end, 50 * NS);
	free(w);
}
END_TEST

START_TEST(windows_clipped)
{
	pkx_window *w;
	size_t n = windows_of("{\"path\":\"fs/a\",\"start_time\":\"15\","
	                      "\"end_time\":\"45.5\",\"time_intervals\":["
	                      "{\"start_time\":\"10\",\"end_time\":\"20\"},"
	                      "{\"start_time\":\"1\",\"end_time\":\"5\"},"
	                      "{\"start_time\":\"30\",\"end_time\":\"35\"},"
	                      "{\"start_time\":\"40\",\"end_time\":\"0\"},"
	                      "{\"start_time\":\"46\",\"end_time\":\"50\"}]}",
	                      &w);

	ck_assert_uint_eq(n, 3);
	ck_assert_uint_eq(w[0].start, 15 * NS);
	ck_assert_uint_eq(w[0].end, 20 * NS);
	ck_assert_uint_eq(w[1].start, 30 * NS);
	ck_assert_uint_eq(w[1].end, 35 * NS);
	ck_assert_uint_eq(w[2].start, 40 * NS);
	ck_assert_uint_eq(w[2].end, 45 * NS + 500000000);
	free(w);
}
END_TEST

START_TEST(windows_empty)
{
	pkx_window *w = (pkx_window *)1;

	/* Every interval falls outside start/end. */
	ck_assert_uint_eq(
	    windows_of("{\"path\":\"fs/a\",\"start_time\":\"100\","
	               "\"time_intervals\":[{\"start_time\":\"10\","
	               "\"end_time\":\"20\"},{\"start_time\":\"20\","
	               "\"end_time\":\"100\"}]}",
	               &w),
	    0);
	ck_assert_ptr_null(w);
	/* An empty interval selects nothing. */
	w = (pkx_window *)1;
	ck_assert_uint_eq(windows_of("{\"path\":\"fs/a\",\"time_intervals\":["
	                             "{\"start_time\":\"10\",\"end_time\":"
	                             "\"10\"}]}",
	                             &w),
	                  0);
	ck_assert_ptr_null(w);
	/* start == end: nothing is >= start and < end. */
	w = (pkx_window *)1;
	ck_assert_uint_eq(windows_of("{\"path\":\"fs/a\",\"start_time\":\"10\","
	                             "\"end_time\":\"10\"}",
	                             &w),
	                  0);
	ck_assert_ptr_null(w);
	/* An empty list restricts nothing (clients send [] for "no
	 * intervals"); start/end still clip. */
	w = NULL;
	ck_assert_uint_eq(
	    windows_of("{\"path\":\"fs/a\",\"time_intervals\":[]}", &w), 1);
	ck_assert_uint_eq(w[0].start, 0);
	ck_assert_uint_eq(w[0].end, PKX_TIME_UNBOUNDED);
	free(w);
	w = NULL;
	ck_assert_uint_eq(windows_of("{\"path\":\"fs/a\",\"start_time\":\"5\","
	                             "\"time_intervals\":[]}",
	                             &w),
	                  1);
	ck_assert_uint_eq(w[0].start, 5 * NS);
	ck_assert_uint_eq(w[0].end, PKX_TIME_UNBOUNDED);
	free(w);
}
END_TEST

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

Suite *config_suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc;

	tc = tcase_create("config");
	tcase_add_loop_test(tc, config_invalid, 0, N(bad_configs));
	tcase_add_test(tc, config_defaults);
	tcase_add_test(tc, config_full);
	tcase_add_test(tc, config_largest_limits);
	tcase_add_test(tc, config_zero_times_unbounded);
	tcase_add_test(tc, config_does_not_keep_input);
	suite_add_tcase(s, tc);

	tc = tcase_create("windows");
	tcase_add_test(tc, windows_unbounded);
	tcase_add_test(tc, windows_union_sorted);
	tcase_add_test(tc, windows_overlap_merge);
	tcase_add_test(tc, windows_clipped);
	tcase_add_test(tc, windows_empty);
	suite_add_tcase(s, tc);

	return s;
}
