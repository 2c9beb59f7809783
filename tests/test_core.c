/* Unit tests of the core with no plugin: times, path confinement, the fd
 * sink, errors and the stats object (config and windows: test_config.c). */
#define _GNU_SOURCE /* nftw */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkx.h"

Suite *config_suite(void); /* test_config.c */

#define NS 1000000000ull

/* ------------------------------------------------------------ helpers */

static json_t *load(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, jerr.text);
	return j;
}

static void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) != NULL, "\"%s\" does not name \"%s\"",
	              text, part);
}

/* ------------------------------------------------------------- times */

static const struct {
	const char *text;
	uint64_t ns;
} good_times[] = {
    {"0", 0},
    {"1", NS},
    {"1700000000", 1700000000 * NS},
    {"1700000000.5", 1700000000 * NS + 500000000},
    {"1700000000.000000001", 1700000000 * NS + 1},
    {"1700000000.123456789", 1700000000 * NS + 123456789},
    {"0.999999999", 999999999},
    {"007.25", 7 * NS + 250000000},
    {"18446744069.999999999", 18446744069ull * NS + 999999999},
};

START_TEST(time_parse_valid)
{
	uint64_t ns = 42;
	pkx_error err = {"", ""};

	ck_assert_msg(pkx_time_parse(good_times[_i].text, "t", &ns, &err) ==
	                  PKX_OK,
	              "%s: %s", good_times[_i].text, err.text);
	ck_assert_uint_eq(ns, good_times[_i].ns);
}
END_TEST

static const struct {
	const char *text;
	const char *says; /* a part the error text must hold */
} bad_times[] = {
    {"", "\"\""},
    {"1700000000.1234567891", "more than 9 fraction digits"},
    {"12.", "\"12.\""},
    {".5", "\".5\""},
    {"-1", "\"-1\""},
    {"+1", "\"+1\""},
    {"1e9", "\"1e9\""},
    {" 1", "\" 1\""},
    {"1 ", "\"1 \""},
    {"1.2.3", "\"1.2.3\""},
    {"0x10", "\"0x10\""},
    {"abc", "\"abc\""},
    {"18446744074", "out of range"},
    {"99999999999999999999999", "out of range"},
};

START_TEST(time_parse_invalid)
{
	uint64_t ns = 42;
	pkx_error err = {"", ""};

	ck_assert_int_eq(
	    pkx_time_parse(bad_times[_i].text, "config.start_time", &ns, &err),
	    PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, "config.start_time");
	assert_contains(err.text, bad_times[_i].says);
	ck_assert_uint_eq(ns, 42); /* untouched on failure */
}
END_TEST

START_TEST(time_parse_null)
{
	uint64_t ns = 42;
	pkx_error err = {"", ""};

	ck_assert_int_eq(pkx_time_parse(NULL, "end_time", &ns, &err),
	                 PKX_ERROR);
	assert_contains(err.text, "end_time");
}
END_TEST

static const struct {
	const char *json;
	uint64_t ns;
} good_json_times[] = {
    {"\"1700000000.25\"", 1700000000 * NS + 250000000},
    {"0", 0},
    {"1700000000", 1700000000 * NS},
    {"18446744072", 18446744072ull * NS},
    {"1.25", 1250000000},
    {"1700000000.5", 1700000000 * NS + 500000000},
    {"0.0", 0},
};

START_TEST(time_json_valid)
{
	json_t *j = load(good_json_times[_i].json);
	uint64_t ns = 42;
	pkx_error err = {"", ""};

	ck_assert_msg(pkx_time_from_json(j, "t", &ns, &err) == PKX_OK, "%s: %s",
	              good_json_times[_i].json, err.text);
	ck_assert_uint_eq(ns, good_json_times[_i].ns);
	json_decref(j);
}
END_TEST

static const char *const bad_json_times[] = {
    "-1",  "-0.5", "18446744074", "1e11",     "true",  "null",
    "[1]", "{}",   "\"1e9\"",     "\"-1.0\"", "false",
};

START_TEST(time_json_invalid)
{
	json_t *j = load(bad_json_times[_i]);
	uint64_t ns = 42;
	pkx_error err = {"", ""};

	ck_assert_int_eq(pkx_time_from_json(j, "config.end_time", &ns, &err),
	                 PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, "config.end_time");
	ck_assert_uint_eq(ns, 42);
	json_decref(j);
}
END_TEST

START_TEST(time_json_real_fraction_is_rounded_not_truncated)
{
	/* 0.3 is 0.29999999999999998889... as a double: the nearest
	 * nanosecond is 300000000, truncation would give 299999999. */
	json_t *j = json_real(1700000000.3);
	uint64_t ns;
	pkx_error err;

	ck_assert_int_eq(pkx_time_from_json(j, "t", &ns, &err), PKX_OK);
	/* The shortest decimal giving that double, exactly: 1700000000.3
	 * (nearest-rounded it was 1700000000.299999952). */
	ck_assert_uint_eq(ns, 1700000000 * NS + 300000000);
	json_decref(j);
	j = json_real(1700000000.123456);
	ck_assert_int_eq(pkx_time_from_json(j, "t", &ns, &err), PKX_OK);
	ck_assert_uint_eq(ns, 1700000000 * NS + 123456000);
	json_decref(j);
	j = json_real(0.3);
	ck_assert_int_eq(pkx_time_from_json(j, "t", &ns, &err), PKX_OK);
	ck_assert_uint_eq(ns, 300000000);
	json_decref(j);
}
END_TEST

START_TEST(time_format_values)
{
	char buf[32];
	static const struct {
		uint64_t ns;
		const char *text;
	} cases[] = {
	    {0, "0.000000000"},
	    {1, "0.000000001"},
	    {1700000000 * NS + 123456789, "1700000000.123456789"},
	    {UINT64_MAX, "18446744073.709551615"},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pkx_time_format(cases[i].ns, buf, sizeof(buf));
		ck_assert_str_eq(buf, cases[i].text);
	}
}
END_TEST

START_TEST(time_format_round_trip)
{
	static const uint64_t values[] = {0,
	                                  1,
	                                  999999999,
	                                  NS,
	                                  1700000000 * NS + 987654321,
	                                  18446744069ull * NS + 999999999};
	char buf[32];
	uint64_t back;
	pkx_error err;
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		pkx_time_format(values[i], buf, sizeof(buf));
		ck_assert_int_eq(pkx_time_parse(buf, "t", &back, &err), PKX_OK);
		ck_assert_uint_eq(back, values[i]);
	}
}
END_TEST

/* -------------------------------------------------------------- paths */

START_TEST(relpath_valid)
{
	static const char *const ok[] = {
	    "a",      "fs/a.pcap", "fs/x/y/z.pcap", "fs/.hidden", "fs/a..b",
	    "fs/...", NULL};
	pkx_error err;
	size_t i;

	for (i = 0; ok[i]; i++)
		ck_assert_msg(pkx_check_relpath(ok[i], "path", &err) == PKX_OK,
		              "%s: %s", ok[i], err.text);
}
END_TEST

static const struct {
	const char *rel, *says;
} bad_relpaths[] = {
    {"", "empty"},
    {"/etc/passwd", "\"/etc/passwd\""},
    {"..", "\"..\""},
    {"../x", "\"../x\""},
    {"fs/../../x", "\"fs/../../x\""},
    {"fs/..", "\"fs/..\""},
    {"./fs/a", "\"./fs/a\""},
    {"fs/./a", "\"fs/./a\""},
    {"fs//a", "\"fs//a\""},
    {"fs/a/", "\"fs/a/\""},
};

START_TEST(relpath_invalid)
{
	pkx_error err = {"", ""};

	ck_assert_int_eq(pkx_check_relpath(bad_relpaths[_i].rel,
	                                   "config.output_filename", &err),
	                 PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, "config.output_filename");
	assert_contains(err.text, bad_relpaths[_i].says);
}
END_TEST

START_TEST(relpath_too_long)
{
	size_t len = 5000;
	char *p = malloc(len + 1);
	pkx_error err;

	memset(p, 'a', len);
	p[len] = '\0';
	ck_assert_int_eq(pkx_check_relpath(p, "path", &err), PKX_ERROR);
	assert_contains(err.text, "longer");
	free(p);
}
END_TEST

/* Claims a request can name, and ones it never could. */
START_TEST(claim_grammar)
{
	static const char *const names_ok[] = {"BPF", "PCAPNG_NS", "CSV_US",
	                                       "_X",  "A1",        NULL};
	static const char *const names_bad[] = {
	    "length",
	    "Bpf",
	    "",
	    "1ST",
	    "BPF ",
	    "A-B",
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456",
	    NULL};
	static const char *const src_ok[] = {"fs/", "jobs/", "vendor/live/",
	                                     "a.b/", NULL};
	static const char *const src_bad[] = {"",      "fs",    "/abs/", "../",
	                                      "a/../", "./",    "a//",   "a b/",
	                                      "a\\b/", "x/\n/", NULL};
	const char *const *c;

	for (c = names_ok; *c; c++) {
		ck_assert_msg(!pkx_claim_problem(PKX_KIND_FILTER, *c), "%s",
		              *c);
		ck_assert_msg(!pkx_claim_problem(PKX_KIND_FORMAT, *c), "%s",
		              *c);
	}
	for (c = names_bad; *c; c++)
		ck_assert_msg(pkx_claim_problem(PKX_KIND_FILTER, *c) != NULL,
		              "filter \"%s\" accepted", *c);
	for (c = src_ok; *c; c++)
		ck_assert_msg(!pkx_claim_problem(PKX_KIND_SOURCE, *c), "%s",
		              *c);
	for (c = src_bad; *c; c++)
		ck_assert_msg(pkx_claim_problem(PKX_KIND_SOURCE, *c) != NULL,
		              "source \"%s\" accepted", *c);
}
END_TEST

static char tmp_top[64], tmp_root[96], tmp_outside[96];

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* top/root: a.pcap, d/, d/b.pcap, in -> a.pcap, d/up -> ../a.pcap,
 * out -> ../outside/secret, outdir -> ../outside, abs -> /etc/passwd,
 * fifo; top/outside/secret. */
static void make_tree(void)
{
	char p[256];

	snprintf(tmp_top, sizeof(tmp_top), "%s/pkx-core.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp_top));
	snprintf(tmp_root, sizeof(tmp_root), "%s/root", tmp_top);
	snprintf(tmp_outside, sizeof(tmp_outside), "%s/outside", tmp_top);
	ck_assert_int_eq(mkdir(tmp_root, 0700), 0);
	ck_assert_int_eq(mkdir(tmp_outside, 0700), 0);
	snprintf(p, sizeof(p), "%s/secret", tmp_outside);
	write_file(p, "secret");
	snprintf(p, sizeof(p), "%s/a.pcap", tmp_root);
	write_file(p, "inside");
	snprintf(p, sizeof(p), "%s/d", tmp_root);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/d/b.pcap", tmp_root);
	write_file(p, "deeper");
#define LINK(target, name)                                                     \
	do {                                                                   \
		snprintf(p, sizeof(p), "%s/%s", tmp_root, name);               \
		ck_assert_int_eq(symlink(target, p), 0);                       \
	} while (0)
	LINK("a.pcap", "in");
	LINK("../a.pcap", "d/up");
	LINK("../outside/secret", "out");
	LINK("../outside", "outdir");
	LINK("/etc/passwd", "abs");
	LINK("nowhere", "dangling");
#undef LINK
	snprintf(p, sizeof(p), "%s/fifo", tmp_root);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
}

static void remove_tree(void)
{
	nftw(tmp_top, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void assert_opens(const char *rel, const char *content)
{
	pkx_error err = {"", ""};
	char buf[32] = "";
	int fd = pkx_open_under(tmp_root, rel, &err);
	ssize_t n;

	ck_assert_msg(fd >= 0, "%s: %s", rel, err.text);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_eq(n, (ssize_t)strlen(content));
	ck_assert_str_eq(buf, content);
	close(fd);
}

START_TEST(open_under_inside)
{
	assert_opens("a.pcap", "inside");
	assert_opens("d/b.pcap", "deeper");
	assert_opens("in", "inside");
	assert_opens("d/up", "inside");
}
END_TEST

static const struct {
	const char *rel, *id, *says;
} refused_opens[] = {
    {"out", PKX_EINVAL, "leads out"},
    {"outdir/secret", PKX_EINVAL, "leads out"},
    {"abs", PKX_EINVAL, "leads out"},
    {"../outside/secret", PKX_EINVAL, "\"..\""},
    {"d/../a.pcap", PKX_EINVAL, "\"..\""},
    {"/etc/passwd", PKX_EINVAL, "absolute"},
    {"missing.pcap", PKX_ENOTFOUND, "missing.pcap"},
    {"dangling", PKX_ENOTFOUND, "dangling"},
    {"d", PKX_EINVAL, "not a regular file"},
    {"fifo", PKX_EINVAL, "not a regular file"},
    {"a.pcap/x", PKX_ENOTFOUND, "a.pcap/x"},
};

START_TEST(open_under_refused)
{
	pkx_error err = {"", ""};
	int fd = pkx_open_under(tmp_root, refused_opens[_i].rel, &err);

	if (fd >= 0)
		close(fd);
	ck_assert_msg(fd == -1, "%s opened", refused_opens[_i].rel);
	ck_assert_str_eq(err.id, refused_opens[_i].id);
	assert_contains(err.text, refused_opens[_i].says);
}
END_TEST

START_TEST(open_under_missing_root)
{
	pkx_error err = {"", ""};
	char root[160];

	snprintf(root, sizeof(root), "%s/no-such-root", tmp_top);
	ck_assert_int_eq(pkx_open_under(root, "a.pcap", &err), -1);
	ck_assert_str_eq(err.id, PKX_ENOTFOUND);
}
END_TEST

START_TEST(open_under_root_is_symlink)
{
	/* A data root that is itself a link is fine: confinement is to
	 * where it resolves. */
	char link[160];
	pkx_error err = {"", ""};
	int fd;

	snprintf(link, sizeof(link), "%s/rootlink", tmp_top);
	ck_assert_int_eq(symlink("root", link), 0);
	fd = pkx_open_under(link, "in", &err);
	ck_assert_msg(fd >= 0, "%s", err.text);
	close(fd);
	ck_assert_int_eq(pkx_open_under(link, "out", &err), -1);
	assert_contains(err.text, "leads out");
}
END_TEST

/* -------------------------------------------------------------- sinks */

static char sink_path[64];
static int sink_fd = -1;

static void sink_setup(void)
{
	snprintf(sink_path, sizeof(sink_path), "%s/pkx-sink.XXXXXX",
	         getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	sink_fd = mkstemp(sink_path);
	ck_assert_int_ge(sink_fd, 0);
}

static void sink_teardown(void)
{
	close(sink_fd);
	unlink(sink_path);
}

static size_t file_size(void)
{
	struct stat st;

	ck_assert_int_eq(fstat(sink_fd, &st), 0);
	return (size_t)st.st_size;
}

START_TEST(fd_sink_boundaries)
{
	pkx_fd_sink s;
	pkx_error err;
	uint8_t data[64], back[64];
	size_t i, total = 0;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7 + 1);
	ck_assert_int_eq(pkx_fd_sink_init(&s, sink_fd, 8, &err), PKX_OK);
	ck_assert_uint_eq(s.cap, 8);
	/* Under the capacity: buffered, nothing written yet. */
	ck_assert_int_eq(s.sink.write(&s.sink, data, 3, &err), PKX_OK);
	total += 3;
	ck_assert_uint_eq(s.len, 3);
	ck_assert_uint_eq(file_size(), 0);
	/* Exactly filling the buffer still buffers. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 5, &err), PKX_OK);
	total += 5;
	ck_assert_uint_eq(s.len, 8);
	ck_assert_uint_eq(s.written, 0);
	/* A zero-length write changes nothing. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 0, &err), PKX_OK);
	ck_assert_uint_eq(s.len, 8);
	/* One more byte: the full buffer goes out first. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 1, &err), PKX_OK);
	total += 1;
	ck_assert_uint_eq(s.written, 8);
	ck_assert_uint_eq(s.len, 1);
	/* Exactly the capacity with a partly full buffer: flushed, then
	 * written straight through. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 8, &err), PKX_OK);
	total += 8;
	ck_assert_uint_eq(s.written, 17);
	ck_assert_uint_eq(s.len, 0);
	/* Exactly the capacity into an empty buffer: buffered. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 8, &err), PKX_OK);
	total += 8;
	ck_assert_uint_eq(s.len, 8);
	ck_assert_uint_eq(s.written, 17);
	/* Larger than the capacity. */
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 20, &err), PKX_OK);
	total += 20;
	ck_assert_uint_eq(s.written, 45);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(s.sink.write(&s.sink, data + total, 7, &err), PKX_OK);
	total += 7;
	ck_assert_int_eq(pkx_fd_sink_flush(&s, &err), PKX_OK);
	ck_assert_uint_eq(s.written, total);
	ck_assert_uint_eq(s.len, 0);
	/* A flush of an empty buffer writes nothing. */
	ck_assert_int_eq(pkx_fd_sink_flush(&s, &err), PKX_OK);
	ck_assert_uint_eq(s.written, total);
	pkx_fd_sink_release(&s);
	ck_assert_ptr_null(s.buf);
	ck_assert_uint_eq(file_size(), total);
	ck_assert_int_eq(pread(sink_fd, back, total, 0), (ssize_t)total);
	ck_assert_mem_eq(back, data, total);
}
END_TEST

START_TEST(fd_sink_default_capacity)
{
	pkx_fd_sink s;
	pkx_error err;

	ck_assert_int_eq(pkx_fd_sink_init(&s, sink_fd, 0, &err), PKX_OK);
	ck_assert_uint_gt(s.cap, 0);
	ck_assert_ptr_nonnull(s.buf);
	pkx_fd_sink_release(&s);
}
END_TEST

START_TEST(fd_sink_write_error)
{
	pkx_fd_sink s;
	pkx_error err = {"", ""};
	int fd = open("/dev/null", O_RDONLY);
	uint8_t data[16] = {0};

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(pkx_fd_sink_init(&s, fd, 8, &err), PKX_OK);
	ck_assert_int_eq(s.sink.write(&s.sink, data, 4, &err), PKX_OK);
	/* Buffered data fails at the flush; a large write at once. */
	ck_assert_int_eq(pkx_fd_sink_flush(&s, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EIO);
	assert_contains(err.text, "write failed");
	pkx_error_clear(&err);
	ck_assert_int_eq(s.sink.write(&s.sink, data, 16, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EIO);
	pkx_fd_sink_release(&s);
	close(fd);
}
END_TEST

START_TEST(null_sink_accepts)
{
	pkx_error err;
	char b[4] = "abc";

	ck_assert_int_eq(pkx_null_sink.write(&pkx_null_sink, b, 3, &err),
	                 PKX_OK);
}
END_TEST

/* ------------------------------------------------------ stats, errors */

START_TEST(stats_json_fields)
{
	pkx_stats st = {
	    .processed_packets = 10,
	    .exported_packets = 4,
	    .exported_bytes = 9007199254740993ull,
	    .total_bytes = 1234,
	    .dropped_packets = 0,
	    .truncated = 1,
	};
	static const char *const names[] = {
	    "processed_packets", "exported_packets", "exported_bytes",
	    "total_bytes",       "dropped_packets",  "truncated",
	    "estimated_packets", "estimated_bytes",  NULL};
	json_t *o = pkx_stats_to_json(&st);
	const char *key;
	json_t *v;
	size_t i;

	/* Only the API's names. */
	json_object_foreach(o, key, v)
	{
		for (i = 0; names[i]; i++)
			if (strcmp(names[i], key) == 0)
				break;
		ck_assert_msg(names[i] != NULL, "unknown stats field %s", key);
		(void)v;
	}
	ck_assert_uint_eq(json_object_size(o), 6);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "processed_packets")), 10);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "exported_packets")), 4);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "exported_bytes")),
	    9007199254740993ll);
	ck_assert_int_eq(json_integer_value(json_object_get(o, "total_bytes")),
	                 1234);
	ck_assert(json_is_true(json_object_get(o, "truncated")));
	ck_assert_ptr_null(json_object_get(o, "estimated_packets"));
	json_decref(o);

	st.truncated = 0;
	st.has_estimates = 1;
	st.estimated_packets = 77;
	st.estimated_bytes = 7700;
	o = pkx_stats_to_json(&st);
	ck_assert_uint_eq(json_object_size(o), 8);
	ck_assert(json_is_false(json_object_get(o, "truncated")));
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "estimated_packets")), 77);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(o, "estimated_bytes")), 7700);
	json_decref(o);
}
END_TEST

START_TEST(fail_fills_and_truncates)
{
	pkx_error err;
	char longtext[2000];

	memset(longtext, 'x', sizeof(longtext) - 1);
	longtext[sizeof(longtext) - 1] = '\0';
	ck_assert_int_eq(pkx_fail(&err, PKX_ENOTFOUND, "%s", longtext),
	                 PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_ENOTFOUND);
	ck_assert_uint_eq(strlen(err.text), PKX_ERROR_TEXT_MAX - 1);
	ck_assert_int_eq(pkx_fail(&err, NULL, "n=%d", 5), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINTERNAL);
	ck_assert_str_eq(err.text, "n=5");
	ck_assert_int_eq(pkx_fail(NULL, PKX_EINVAL, "ignored"), PKX_ERROR);
	pkx_error_clear(&err);
	ck_assert_str_eq(err.id, "");
	ck_assert_str_eq(err.text, "");
}
END_TEST

/* A plugin's error passes on with its id only when the id is one a
 * plugin may give; others (which would pick another HTTP status, or are
 * typos) become INTERNAL_ERROR with the id kept in the text. */
START_TEST(plugin_error_ids_checked)
{
	pkx_error why = {"REQUEST_INVALID_INPUT", "bad width"}, err;

	pkx_fail_from(&err, &why, PKX_EINTERNAL, "filter \"%s\": ", "f");
	ck_assert_str_eq(err.id, PKX_EINVAL);
	ck_assert_str_eq(err.text, "filter \"f\": bad width");
	why = (pkx_error){"AUTH_REQUIRED", "log in"};
	pkx_fail_from(&err, &why, PKX_EINVAL, NULL);
	ck_assert_str_eq(err.id, PKX_EINTERNAL);
	ck_assert_str_eq(err.text, "AUTH_REQUIRED: log in");
	why = (pkx_error){"REQUEST_INVALID_INPT", "typo"};
	pkx_fail_from(&err, &why, PKX_EINVAL, NULL);
	ck_assert_str_eq(err.id, PKX_EINTERNAL);
	pkx_error_clear(&why);
	pkx_fail_from(&err, &why, PKX_EIO, NULL);
	ck_assert_str_eq(err.id, PKX_EIO);
	ck_assert_str_eq(err.text, "failed without a reason");
}
END_TEST

START_TEST(services_table)
{
	const pkx_services *svc = pkx_core_services();
	uint64_t a, b;

	ck_assert_uint_eq(svc->size, sizeof(pkx_services));
	ck_assert_ptr_nonnull(svc->log);
	ck_assert_ptr_nonnull(svc->fail);
	ck_assert_ptr_nonnull(svc->open_under_root);
	a = svc->now_ns();
	b = svc->now_ns();
	ck_assert_uint_ge(b, a);
}
END_TEST

/* -------------------------------------------------------------- suite */

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *core_suite(void)
{
	Suite *s = suite_create("core");
	TCase *tc;

	tc = tcase_create("time");
	tcase_add_loop_test(tc, time_parse_valid, 0, N(good_times));
	tcase_add_loop_test(tc, time_parse_invalid, 0, N(bad_times));
	tcase_add_test(tc, time_parse_null);
	tcase_add_loop_test(tc, time_json_valid, 0, N(good_json_times));
	tcase_add_loop_test(tc, time_json_invalid, 0, N(bad_json_times));
	tcase_add_test(tc, time_json_real_fraction_is_rounded_not_truncated);
	tcase_add_test(tc, time_format_values);
	tcase_add_test(tc, time_format_round_trip);
	suite_add_tcase(s, tc);

	tc = tcase_create("path");
	tcase_add_checked_fixture(tc, make_tree, remove_tree);
	tcase_add_test(tc, relpath_valid);
	tcase_add_loop_test(tc, relpath_invalid, 0, N(bad_relpaths));
	tcase_add_test(tc, relpath_too_long);
	tcase_add_test(tc, claim_grammar);
	tcase_add_test(tc, open_under_inside);
	tcase_add_loop_test(tc, open_under_refused, 0, N(refused_opens));
	tcase_add_test(tc, open_under_missing_root);
	tcase_add_test(tc, open_under_root_is_symlink);
	suite_add_tcase(s, tc);

	tc = tcase_create("sink");
	tcase_add_checked_fixture(tc, sink_setup, sink_teardown);
	tcase_add_test(tc, fd_sink_boundaries);
	tcase_add_test(tc, fd_sink_default_capacity);
	tcase_add_test(tc, fd_sink_write_error);
	tcase_add_test(tc, null_sink_accepts);
	suite_add_tcase(s, tc);

	tc = tcase_create("stats");
	tcase_add_test(tc, stats_json_fields);
	tcase_add_test(tc, fail_fills_and_truncates);
	tcase_add_test(tc, plugin_error_ids_checked);
	tcase_add_test(tc, services_table);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(core_suite());
	int failed;

	srunner_add_suite(sr, config_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
