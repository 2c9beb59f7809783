/* The plugin registry: loads modules with libltdl, checks each one's ABI
 * and callbacks before anything else, and finds the plugin that claims a
 * path prefix, filter type or output format. */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <ltdl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pkx.h"
#include "pkx_paths.h"

typedef struct pkx_module {
	lt_dlhandle handle;
	const pkx_plugin_header *header;
} pkx_module;

struct pkx_registry {
	pkx_module *modules;
	size_t n, cap;
};

static int ltdl_users;

pkx_registry *pkx_registry_new(void)
{
	pkx_registry *reg = calloc(1, sizeof(*reg));

	if (reg && ltdl_users++ == 0 && lt_dlinit() != 0) {
		pkx_log(PKX_LOG_ERROR, "registry", "lt_dlinit: %s",
		        lt_dlerror());
		ltdl_users--;
		free(reg);
		return NULL;
	}
	return reg;
}

void pkx_registry_free(pkx_registry *reg)
{
	size_t i;

	if (!reg)
		return;
	for (i = reg->n; i-- > 0;) {
		if (reg->modules[i].header->deinit)
			reg->modules[i].header->deinit();
		if (reg->modules[i].handle)
			lt_dlclose(reg->modules[i].handle);
	}
	free(reg->modules);
	free(reg);
	if (--ltdl_users == 0)
		lt_dlexit();
}

static const char *kind_name(pkx_kind kind)
{
	switch (kind) {
	case PKX_KIND_SOURCE:
		return "source";
	case PKX_KIND_FILTER:
		return "filter";
	case PKX_KIND_FORMAT:
		return "format";
	}
	return "unknown";
}

/* The checks every module passes before it is used. */
static pkx_result check_header(const pkx_plugin_header *h, pkx_error *err)
{
	size_t need;
	const char *missing;

	if (h->abi_major != PKX_ABI_MAJOR)
		return pkx_fail(err, PKX_EINTERNAL,
		                "ABI %u.%u, the core speaks %u.%u: major "
		                "differs",
		                h->abi_major, h->abi_minor, PKX_ABI_MAJOR,
		                PKX_ABI_MINOR);
	if (h->abi_minor > PKX_ABI_MINOR)
		return pkx_fail(err, PKX_EINTERNAL,
		                "ABI %u.%u is newer than the core's %u.%u",
		                h->abi_major, h->abi_minor, PKX_ABI_MAJOR,
		                PKX_ABI_MINOR);
	if (!h->name || !*h->name)
		return pkx_fail(err, PKX_EINTERNAL, "descriptor has no name");
	if (!h->claims || !h->claims[0])
		return pkx_fail(err, PKX_EINTERNAL, "claims nothing");
	switch (h->kind) {
	case PKX_KIND_SOURCE: {
		const pkx_source_plugin *p = (const void *)h;

		need = sizeof(*p);
		missing = h->size < need ? NULL
		          : !p->open     ? "open"
		          : !p->info     ? "info"
		          : !p->next     ? "next"
		          : !p->close    ? "close"
		                         : NULL;
		break;
	}
	case PKX_KIND_FILTER: {
		const pkx_filter_plugin *p = (const void *)h;

		need = sizeof(*p);
		missing = h->size < need ? NULL
		          : !p->compile  ? "compile"
		          : !p->match    ? "match"
		          : !p->free     ? "free"
		                         : NULL;
		break;
	}
	case PKX_KIND_FORMAT: {
		const pkx_format_plugin *p = (const void *)h;

		need = sizeof(*p);
		missing = h->size < need ? NULL
		          : !p->begin    ? "begin"
		          : !p->write    ? "write"
		          : !p->end      ? "end"
		                         : NULL;
		break;
	}
	default:
		return pkx_fail(err, PKX_EINTERNAL, "unknown kind %d",
		                (int)h->kind);
	}
	if (h->size < need)
		return pkx_fail(err, PKX_EINTERNAL,
		                "%s descriptor of %u bytes, expected at least "
		                "%zu",
		                kind_name(h->kind), h->size, need);
	if (missing)
		return pkx_fail(err, PKX_EINTERNAL,
		                "%s plugin lacks the mandatory callback %s",
		                kind_name(h->kind), missing);
	return PKX_OK;
}

const char *pkx_claim_problem(pkx_kind kind, const char *claim)
{
	const char *p, *seg;

	if (kind == PKX_KIND_FILTER || kind == PKX_KIND_FORMAT)
		return pkx_api_name_ok(claim)
		           ? NULL
		           : "a filter type or output format is 1 to 32 "
		             "upper-case letters, digits and '_', not starting "
		             "with a digit";
	if (kind != PKX_KIND_SOURCE)
		return "an unknown kind";
	if (!*claim || claim[strlen(claim) - 1] != '/' || claim[0] == '/')
		return "a source claims a relative folder, ending with '/'";
	for (p = claim; *p; p++)
		if (!isgraph((unsigned char)*p) || *p == '\\')
			return "a source claim is printable ASCII without "
			       "spaces or '\\'";
	for (seg = claim; *seg; seg = strchr(seg, '/') + 1) {
		size_t len = (size_t)(strchr(seg, '/') - seg);

		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return "a source claim has no empty, '.' or '..' "
			       "folder";
	}
	return NULL;
}

/* A claim may be served by one plugin only: the first loaded wins. */
static const pkx_module *find_claim(const pkx_registry *reg, pkx_kind kind,
                                    const char *claim)
{
	size_t i;
	const char *const *c;

	for (i = 0; i < reg->n; i++) {
		if (reg->modules[i].header->kind != kind)
			continue;
		for (c = reg->modules[i].header->claims; *c; c++)
			if (strcmp(*c, claim) == 0)
				return &reg->modules[i];
	}
	return NULL;
}

/* dlopen with every symbol bound; a path without its extension is
 * tried with it, as libltdl does. */
static void *bind_now(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	char *with;

	if (h || access(path, F_OK) == 0 ||
	    !(with = malloc(strlen(path) + sizeof(LT_MODULE_EXT))))
		return h;
	sprintf(with, "%s%s", path, LT_MODULE_EXT);
	h = dlopen(with, RTLD_NOW | RTLD_LOCAL);
	free(with);
	return h;
}

pkx_result pkx_registry_load(pkx_registry *reg, const char *path,
                             pkx_error *err)
{
	lt_dlhandle handle;
	void *bound;
	pkx_plugin_entry_fn entry;
	const pkx_plugin_header *h;
	const char *const *c;
	pkx_error why;

	/* Every symbol the module needs is resolved now, not at its first
	 * call (libltdl binds lazily): a module with a missing symbol is
	 * refused here, with the dynamic linker's reason, instead of ending
	 * the process in the middle of an export.  libltdl's open below
	 * then finds the module already loaded. */
	bound = bind_now(path);
	if (!bound)
		return pkx_fail(err, PKX_EINTERNAL, "cannot load %s: %s", path,
		                dlerror());
	handle = lt_dlopenext(path);
	dlclose(bound);
	if (!handle)
		return pkx_fail(err, PKX_EINTERNAL, "cannot load %s: %s", path,
		                lt_dlerror());
	entry = (pkx_plugin_entry_fn)(uintptr_t)lt_dlsym(handle,
	                                                 PKX_PLUGIN_ENTRY_NAME);
	if (!entry) {
		lt_dlclose(handle);
		return pkx_fail(err, PKX_EINTERNAL, "%s refused: no %s symbol",
		                path, PKX_PLUGIN_ENTRY_NAME);
	}
	h = entry();
	if (!h) {
		lt_dlclose(handle);
		return pkx_fail(err, PKX_EINTERNAL,
		                "%s refused: %s returned no descriptor", path,
		                PKX_PLUGIN_ENTRY_NAME);
	}
	if (check_header(h, &why) != PKX_OK) {
		lt_dlclose(handle);
		return pkx_fail(err, PKX_EINTERNAL, "%s refused: %s", path,
		                why.text);
	}
	for (c = h->claims; *c; c++) {
		const pkx_module *other = find_claim(reg, h->kind, *c);
		const char *bad = pkx_claim_problem(h->kind, *c);

		if (bad) {
			/* No request could ever reach it. */
			pkx_fail(err, PKX_EINTERNAL,
			         "%s refused: %s claim \"%.64s\" can never be "
			         "named by a request: %s",
			         path, kind_name(h->kind), *c, bad);
			lt_dlclose(handle);
			return PKX_ERROR;
		}
		if (other) {
			/* The message reads the module's strings: made
			 * before it is unloaded. */
			pkx_fail(err, PKX_EINTERNAL,
			         "%s refused: %s \"%s\" is already served by "
			         "%s",
			         path, kind_name(h->kind), *c,
			         other->header->name);
			lt_dlclose(handle);
			return PKX_ERROR;
		}
	}
	if (h->init && h->init(pkx_core_services(), &why) != PKX_OK) {
		lt_dlclose(handle);
		return pkx_fail(err, PKX_EINTERNAL,
		                "%s refused: init failed: %s", path, why.text);
	}
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 8;
		pkx_module *m = realloc(reg->modules, cap * sizeof(*m));

		if (!m) {
			if (h->deinit)
				h->deinit();
			lt_dlclose(handle);
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
		}
		reg->modules = m;
		reg->cap = cap;
	}
	reg->modules[reg->n].handle = handle;
	reg->modules[reg->n].header = h;
	reg->n++;
	pkx_log(PKX_LOG_DEBUG, "registry", "loaded %s plugin %s %s from %s",
	        kind_name(h->kind), h->name, h->version ? h->version : "",
	        path);
	return PKX_OK;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The modules of one folder; -1 when it cannot be read. */
static int load_one_dir(pkx_registry *reg, const char *dir)
{
	static const char ext[] = LT_MODULE_EXT;
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0, i;
	int loaded = 0;

	if (!d) {
		pkx_log(PKX_LOG_ERROR, "registry",
		        "cannot read plugin folder %s", dir);
		return -1;
	}
	/* Modules by their real file name; sorted, so load order (and which
	 * of two plugins claiming the same thing wins) is stable. */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (len <= sizeof(ext) - 1 ||
		    strcmp(e->d_name + len - (sizeof(ext) - 1), ext) != 0)
			continue;
		if (n == cap) {
			char **grown;

			cap = cap ? cap * 2 : 16;
			grown = realloc(names, cap * sizeof(*names));
			if (!grown)
				break;
			names = grown;
		}
		names[n] = malloc(strlen(dir) + len + 2);
		if (!names[n])
			break;
		sprintf(names[n], "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n; i++) {
		pkx_error err;

		if (pkx_registry_load(reg, names[i], &err) == PKX_OK)
			loaded++;
		else
			pkx_log(PKX_LOG_WARN, "registry", "%s", err.text);
		free(names[i]);
	}
	free(names);
	if (loaded == 0)
		pkx_log(PKX_LOG_WARN, "registry",
		        "no plugin loaded from %s (%zu module%s found)", dir, n,
		        n == 1 ? "" : "s");
	return loaded;
}

int pkx_registry_load_dir(pkx_registry *reg, const char *dirs)
{
	const char *p = dirs;
	int loaded = 0, readable = 0;

	/* Folders separated by ':', in order: the installed one and a
	 * vendor's, say.  A claim goes to the first module that makes it. */
	for (;;) {
		size_t len = strcspn(p, ":");
		char *dir = strndup(p, len);
		int n;

		if (!dir)
			break;
		if (len > 0 && (n = load_one_dir(reg, dir)) >= 0) {
			readable++;
			loaded += n;
		}
		free(dir);
		if (!p[len])
			break;
		p += len + 1;
	}
	if (loaded == 0)
		pkx_log(PKX_LOG_ERROR, "registry",
		        "no plugin loaded from %s; --plugin-dir or "
		        "PKTEXPORT_PLUGIN_DIR names the folder (or folders, "
		        "separated by ':') of source_file%s and the others",
		        dirs, LT_MODULE_EXT);
	return readable ? loaded : -1;
}

pkx_result pkx_registry_add_builtin(pkx_registry *reg,
                                    const pkx_plugin_header *h, pkx_error *err)
{
	const char *const *c;
	pkx_error why;

	if (check_header(h, err) != PKX_OK)
		return PKX_ERROR;
	for (c = h->claims; *c; c++)
		if (find_claim(reg, h->kind, *c))
			return pkx_fail(err, PKX_EINTERNAL,
			                "%s \"%s\" is already served", h->name,
			                *c);
	if (h->init && h->init(pkx_core_services(), &why) != PKX_OK)
		return pkx_fail(err, PKX_EINTERNAL, "%s: init failed: %s",
		                h->name, why.text);
	if (reg->n == reg->cap) {
		size_t cap = reg->cap ? reg->cap * 2 : 8;
		pkx_module *m = realloc(reg->modules, cap * sizeof(*m));

		if (!m)
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
		reg->modules = m;
		reg->cap = cap;
	}
	reg->modules[reg->n].handle = NULL;
	reg->modules[reg->n].header = h;
	reg->n++;
	return PKX_OK;
}

/* The source whose claim is the longest prefix of path: a vendor's
 * "fs/vendor/" wins over "fs/" whatever the load order. */
const pkx_source_plugin *pkx_registry_source(const pkx_registry *reg,
                                             const char *path)
{
	const pkx_source_plugin *best = NULL;
	size_t i, best_len = 0;
	const char *const *c;

	for (i = 0; i < reg->n; i++) {
		if (reg->modules[i].header->kind != PKX_KIND_SOURCE)
			continue;
		for (c = reg->modules[i].header->claims; *c; c++) {
			size_t len = strlen(*c);

			if (len > best_len && strncmp(path, *c, len) == 0) {
				best = (const void *)reg->modules[i].header;
				best_len = len;
			}
		}
	}
	return best;
}

const pkx_filter_plugin *pkx_registry_filter(const pkx_registry *reg,
                                             const char *type)
{
	const pkx_module *m = find_claim(reg, PKX_KIND_FILTER, type);

	return m ? (const void *)m->header : NULL;
}

const pkx_format_plugin *pkx_registry_format(const pkx_registry *reg,
                                             const char *format)
{
	const pkx_module *m = find_claim(reg, PKX_KIND_FORMAT, format);

	return m ? (const void *)m->header : NULL;
}

void pkx_registry_each(const pkx_registry *reg,
                       void (*fn)(const pkx_plugin_header *h, void *data),
                       void *data)
{
	size_t i;

	for (i = 0; i < reg->n; i++)
		fn(reg->modules[i].header, data);
}

const char *pkx_default_plugin_dir(void)
{
	const char *env = getenv("PKTEXPORT_PLUGIN_DIR");

	return env && *env ? env : PKX_PLUGINDIR;
}
