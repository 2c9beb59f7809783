/* The plugin loader: test modules it must refuse (and say why), one it must
 * accept, duplicate claims, and a folder mixing both. */
#include "config.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkx.h"

static pkx_registry *reg;

static void setup(void)
{
	reg = pkx_registry_new();
	ck_assert_ptr_nonnull(reg);
}

static void teardown(void)
{
	pkx_registry_free(reg);
	reg = NULL;
}

/* $TEST_MODULE_DIR/name, without extension: libltdl finds it. */
static char *module(const char *name)
{
	const char *dir = getenv("TEST_MODULE_DIR");
	char *p;

	ck_assert_msg(dir != NULL, "TEST_MODULE_DIR is not set: run through "
	                           "make check");
	p = malloc(strlen(dir) + strlen(name) + 2);
	ck_assert_ptr_nonnull(p);
	sprintf(p, "%s/%s", dir, name);
	return p;
}

static void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) != NULL, "\"%s\" does not say \"%s\"",
	              text, part);
}

static const struct {
	const char *module;
	const char *why; /* what the refusal must say */
} refusals[] = {
    {"bad_major", "major differs"},
    {"newer_minor", "newer than the core"},
    {"no_entry", "no pkx_plugin_entry symbol"},
    {"no_callback", "lacks the mandatory callback"},
    {"failing_init", "init failed: no licence for this test"},
    {"bad_claim", "format claim \"length\" can never be named by a request"},
    /* Refused at load, not fatal at its first call. */
    {"missing_symbol", "undefined symbol: pkx_test_defined_nowhere"},
};

START_TEST(refused_with_reason)
{
	char *path = module(refusals[_i].module);
	pkx_error err = {"", ""};

	ck_assert_int_eq(pkx_registry_load(reg, path, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINTERNAL);
	assert_contains(err.text, path);
	assert_contains(err.text, refusals[_i].why);
	/* Nothing of it is registered. */
	ck_assert_ptr_null(pkx_registry_format(reg, "TEST_FORMAT"));
	free(path);
}
END_TEST

START_TEST(good_module_accepted)
{
	char *path = module("good_format");
	pkx_error err = {"", ""};
	const pkx_format_plugin *fmt;

	ck_assert_msg(pkx_registry_load(reg, path, &err) == PKX_OK, "%s",
	              err.text);
	fmt = pkx_registry_format(reg, "TEST_FORMAT");
	ck_assert_ptr_nonnull(fmt);
	ck_assert_str_eq(fmt->header.name, "test-format");
	ck_assert_int_eq(fmt->header.kind, PKX_KIND_FORMAT);
	ck_assert_ptr_nonnull(fmt->write);
	/* Claims are per kind and exact. */
	ck_assert_ptr_null(pkx_registry_format(reg, "TEST"));
	ck_assert_ptr_null(pkx_registry_filter(reg, "TEST_FORMAT"));
	ck_assert_ptr_null(pkx_registry_source(reg, "TEST_FORMAT"));
	free(path);
}
END_TEST

START_TEST(duplicate_claim_refused)
{
	char *good = module("good_format");
	pkx_error err = {"", ""};
	const pkx_format_plugin *first;

	ck_assert_int_eq(pkx_registry_load(reg, good, &err), PKX_OK);
	first = pkx_registry_format(reg, "TEST_FORMAT");
	ck_assert_int_eq(pkx_registry_load(reg, good, &err), PKX_ERROR);
	assert_contains(err.text, "\"TEST_FORMAT\"");
	assert_contains(err.text, "already served by test-format");
	/* The first stays usable. */
	ck_assert_ptr_eq(pkx_registry_format(reg, "TEST_FORMAT"), first);
	free(good);
}
END_TEST

/* The same claim from another file: the refusal names the claim after
 * the refused module is unloaded (it once read its freed strings). */
START_TEST(duplicate_claim_from_another_file)
{
	char *good = module("good_format"), *so,
	     copy[] = "/tmp/pkx-dup.XXXXXX" LT_MODULE_EXT;
	char cmd[1024];
	pkx_error err = {"", ""};
	int fd = mkstemps(copy, (int)strlen(LT_MODULE_EXT));

	ck_assert_int_ge(fd, 0);
	close(fd);
	so = malloc(strlen(good) + sizeof(LT_MODULE_EXT));
	ck_assert_ptr_nonnull(so);
	sprintf(so, "%s%s", good, LT_MODULE_EXT);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", so, copy);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(pkx_registry_load(reg, so, &err), PKX_OK);
	ck_assert_int_eq(pkx_registry_load(reg, copy, &err), PKX_ERROR);
	assert_contains(err.text, copy);
	assert_contains(err.text, "format \"TEST_FORMAT\" is already served "
	                          "by test-format");
	unlink(copy);
	free(so);
	free(good);
}
END_TEST

START_TEST(source_claims_a_prefix)
{
	char *path = module("test_source");
	pkx_error err = {"", ""};
	const pkx_source_plugin *src;

	ck_assert_int_eq(pkx_registry_load(reg, path, &err), PKX_OK);
	src = pkx_registry_source(reg, "test/count/3");
	ck_assert_ptr_nonnull(src);
	ck_assert_str_eq(src->header.name, "test-source");
	ck_assert_ptr_null(pkx_registry_source(reg, "tes"));
	ck_assert_ptr_null(pkx_registry_source(reg, "fs/test/x"));
	free(path);
}
END_TEST

START_TEST(not_a_module)
{
	char path[] = "/tmp/pkx-loader.XXXXXX";
	int fd = mkstemp(path);
	pkx_error err = {"", ""};

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "not a shared object\n", 20), 20);
	close(fd);
	ck_assert_int_eq(pkx_registry_load(reg, path, &err), PKX_ERROR);
	assert_contains(err.text, "cannot load");
	unlink(path);
	ck_assert_int_eq(pkx_registry_load(reg, "/nonexistent/module", &err),
	                 PKX_ERROR);
	assert_contains(err.text, "/nonexistent/module");
}
END_TEST

/* Folders separated by ':': each is read in order, one that cannot be
 * read does not stop the others. */
START_TEST(plugin_folders_list)
{
	const char *plugins = getenv("PKTEXPORT_PLUGIN_DIR");
	char dirs[4096];

	ck_assert_ptr_nonnull(plugins);
	snprintf(dirs, sizeof(dirs), "/nonexistent/plugins:%s:%s", plugins,
	         getenv("TEST_MODULE_DIR"));
	ck_assert_int_gt(pkx_registry_load_dir(reg, dirs), 0);
	ck_assert_ptr_nonnull(pkx_registry_filter(reg, "BPF"));
	ck_assert_ptr_nonnull(pkx_registry_format(reg, "TEST_FORMAT"));
	ck_assert_ptr_nonnull(pkx_registry_source(reg, "test/count/3"));
	ck_assert_int_eq(pkx_registry_load_dir(reg, "/nonexistent/a:/none/b"),
	                 -1);
}
END_TEST

/* A module that declares an older minor (PKX_PLUGIN_ABI_MINOR) loads and
 * keeps it. */
START_TEST(older_minor_declared)
{
	char *path = module("test_filter");
	pkx_error err = {"", ""};
	const pkx_filter_plugin *f;

	ck_assert_msg(pkx_registry_load(reg, path, &err) == PKX_OK, "%s",
	              err.text);
	f = pkx_registry_filter(reg, "SEQ");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(f->header.abi_major, PKX_ABI_MAJOR);
	ck_assert_uint_eq(f->header.abi_minor, 0);
	ck_assert_ptr_null(f->match_batch);
	free(path);
}
END_TEST

static void count_plugin(const pkx_plugin_header *h, void *data)
{
	(void)h;
	(*(int *)data)++;
}

/* Files of dir with the module extension. */
static int count_modules(const char *dir)
{
	static const char ext[] = LT_MODULE_EXT;
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len > sizeof(ext) - 1 &&
		    strcmp(e->d_name + len - (sizeof(ext) - 1), ext) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* Runs load_dir with stderr sent to a file; returns what was logged. */
static char *load_dir_logged(const char *dir, int *loaded)
{
	char path[] = "/tmp/pkx-loader-log.XXXXXX";
	int fd = mkstemp(path), saved;
	char *log = calloc(1, 8192);

	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(log);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	*loaded = pkx_registry_load_dir(reg, dir);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	ck_assert_int_ge(pread(fd, log, 8191, 0), 0);
	close(fd);
	unlink(path);
	return log;
}

START_TEST(load_dir_tolerates_refusals)
{
	const char *dir = getenv("TEST_MODULE_DIR");
	int loaded, seen = 0;
	char *log;
	size_t i;

	ck_assert_ptr_nonnull(dir);
	log = load_dir_logged(dir, &loaded);
	/* Every module but the refused ones loads; each refusal is logged
	 * with its reason and does not stop the others. */
	ck_assert_int_eq(loaded,
	                 count_modules(dir) -
	                     (int)(sizeof(refusals) / sizeof(refusals[0])));
	ck_assert_int_ge(loaded, 2);
	pkx_registry_each(reg, count_plugin, &seen);
	ck_assert_int_eq(seen, loaded);
	ck_assert_ptr_nonnull(pkx_registry_format(reg, "TEST_FORMAT"));
	ck_assert_ptr_nonnull(pkx_registry_source(reg, "test/endless"));
	for (i = 0; i < sizeof(refusals) / sizeof(refusals[0]); i++) {
		char name[64];

		snprintf(name, sizeof(name), "/%s.", refusals[i].module);
		assert_contains(log, name);
		assert_contains(log, refusals[i].why);
	}
	/* good_format was not refused as a duplicate of a refused one. */
	ck_assert_ptr_null(strstr(log, "already served"));
	free(log);
}
END_TEST

START_TEST(load_dir_missing)
{
	int loaded;
	char *log = load_dir_logged("/nonexistent/plugins", &loaded);

	ck_assert_int_eq(loaded, -1);
	assert_contains(log, "/nonexistent/plugins");
	free(log);
}
END_TEST

START_TEST(real_plugins_load)
{
	const char *dir = getenv("PKTEXPORT_PLUGIN_DIR");
	static const char *const formats[] = {"PCAP_US", "PCAP_NS"};
	size_t i;

	ck_assert_ptr_nonnull(dir);
	ck_assert_int_ge(pkx_registry_load_dir(reg, dir), 3);
	ck_assert_ptr_nonnull(pkx_registry_source(reg, "fs/a.pcap"));
	ck_assert_ptr_nonnull(pkx_registry_filter(reg, "BPF"));
	for (i = 0; i < 2; i++)
		ck_assert_ptr_nonnull(pkx_registry_format(reg, formats[i]));
}
END_TEST

START_TEST(registries_are_independent)
{
	/* Two registries at once (the daemon and a test, say) share
	 * libltdl; freeing one leaves the other working. */
	pkx_registry *other = pkx_registry_new();
	char *good = module("good_format");
	pkx_error err;

	ck_assert_int_eq(pkx_registry_load(reg, good, &err), PKX_OK);
	ck_assert_int_eq(pkx_registry_load(other, good, &err), PKX_OK);
	pkx_registry_free(other);
	ck_assert_ptr_nonnull(pkx_registry_format(reg, "TEST_FORMAT"));
	free(good);
}
END_TEST

static Suite *loader_suite(void)
{
	Suite *s = suite_create("loader");
	TCase *tc = tcase_create("registry");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, refused_with_reason, 0,
	                    (int)(sizeof(refusals) / sizeof(refusals[0])));
	tcase_add_test(tc, good_module_accepted);
	tcase_add_test(tc, duplicate_claim_refused);
	tcase_add_test(tc, duplicate_claim_from_another_file);
	tcase_add_test(tc, plugin_folders_list);
	tcase_add_test(tc, older_minor_declared);
	tcase_add_test(tc, source_claims_a_prefix);
	tcase_add_test(tc, not_a_module);
	tcase_add_test(tc, load_dir_tolerates_refusals);
	tcase_add_test(tc, load_dir_missing);
	tcase_add_test(tc, real_plugins_load);
	tcase_add_test(tc, registries_are_independent);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(loader_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
