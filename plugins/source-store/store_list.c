/* pktexport-store list and describe: what the data root holds, as JSON,
 * for pktexportd's capture, clips and filesystem services (the daemon
 * knows no capture format; this tool reads them with the plugin's code). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source_store.h"
#include "store_index.h"

/* The tool's side of the services store_clip.c asks for. */
static int tool_root_fd = -1;

static pkx_result tool_fail(pkx_error *err, const char *id, const char *fmt,
                            ...) __attribute__((format(printf, 3, 4)));
static pkx_result tool_fail(pkx_error *err, const char *id, const char *fmt,
                            ...)
{
	va_list ap;

	snprintf(err->id, sizeof(err->id), "%s", id);
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return PKX_ERROR;
}

/* rel is "DIR/NAME" under the root: no link is followed on the way. */
static int open_rel(int rootfd, const char *rel, int *err_no)
{
	char dir[4096];
	const char *base = strrchr(rel, '/');
	int dfd, fd;

	if (!base || (size_t)(base - rel) >= sizeof(dir)) {
		*err_no = EINVAL;
		return -1;
	}
	memcpy(dir, rel, (size_t)(base - rel));
	dir[base - rel] = '\0';
	dfd = sx_open_dir(rootfd, dir, 0);
	if (dfd < 0) {
		*err_no = errno;
		return -1;
	}
	fd = openat(dfd, base + 1, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	*err_no = errno;
	close(dfd);
	return fd;
}

static int tool_open_under_root(const char *root, const char *rel,
                                pkx_error *err)
{
	int e, fd;

	(void)root;
	fd = open_rel(tool_root_fd, rel, &e);
	if (fd < 0)
		tool_fail(err, e == ENOENT ? "RESOURCE_NOT_FOUND" : "IO_ERROR",
		          "%s: %s", rel, strerror(e));
	return fd;
}

static const pkx_services tool_services = {
    .size = sizeof(pkx_services),
    .fail = tool_fail,
    .open_under_root = tool_open_under_root,
};

static json_t *ns_json(uint64_t ns)
{
	return ns > INT64_MAX ? json_null() : json_integer((json_int_t)ns);
}

static uint64_t mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000u +
	       (uint64_t)st->st_mtim.tv_nsec;
}

/* When the file was made, where the file system keeps it (statx's birth
 * time), else its last change: "created" in the filesystem API. */
static json_t *btime_json(int fd, const struct stat *st)
{
	struct statx sx;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_BTIME, &sx) == 0 &&
	    (sx.stx_mask & STATX_BTIME))
		return ns_json((uint64_t)sx.stx_btime.tv_sec * 1000000000u +
		               sx.stx_btime.tv_nsec);
	return ns_json(mtime_ns(st));
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dirfd (taken), sorted; those starting with a dot left out. */
static char **names_of(int dirfd, size_t *n)
{
	DIR *dir = fdopendir(dirfd);
	struct dirent *de;
	char **v = NULL;

	*n = 0;
	if (!dir) {
		close(dirfd);
		return NULL;
	}
	while ((de = readdir(dir))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (*n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		if ((v[*n] = strdup(de->d_name)))
			(*n)++;
	}
	closedir(dir);
	if (*n)
		qsort(v, *n, sizeof(*v), name_cmp);
	return v;
}

static json_t *describe_job(int rootfd, const char *name)
{
	char rel[512], id[SX_JOB_ID_LEN + 1];
	json_t *o = json_pack("{s:s}", "name", name);
	uint64_t packets = 0, bytes = 0, size = 0, first = 0, last = 0;
	int damaged = 0, dirfd, flags = 0;
	struct stat dst;
	sx_store st;
	size_t i;

	sx_job_id(name, id);
	json_object_set_new(o, "id", json_string(id));
	snprintf(rel, sizeof(rel), "jobs/%s", name);
	dirfd = sx_open_dir(rootfd, rel, 0);
	if (dirfd < 0 || fstat(dirfd, &dst) != 0) {
		json_object_set_new(o, "error", json_string(strerror(errno)));
		if (dirfd >= 0)
			close(dirfd);
		return o;
	}
	json_object_set_new(o, "mtime_ns", ns_json(mtime_ns(&dst)));
	if (faccessat(dirfd, ".", W_OK, AT_EACCESS) == 0)
		flags = SX_OPEN_WRITABLE;
	if (sx_store_open(&st, dirfd, flags) != 0) {
		json_object_set_new(o, "error", json_string(st.error));
		sx_store_close(&st);
		return o;
	}
	for (i = 0; i < st.n_files; i++) {
		const sx_summary *s = &st.files[i].sum;

		size += s->size;
		packets += s->packets;
		bytes += s->bytes;
		damaged |= (s->flags & SX_DAMAGED) != 0;
		if (s->packets && (!first || s->first_ns < first))
			first = s->first_ns;
		if (s->packets && s->last_ns > last)
			last = s->last_ns;
	}
	json_object_update_new(
	    o, json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:b, s:b}", "files",
	                 (json_int_t)st.n_files, "packets", (json_int_t)packets,
	                 "bytes", (json_int_t)bytes, "size", (json_int_t)size,
	                 "first_ns", packets ? ns_json(first) : json_null(),
	                 "last_ns", packets ? ns_json(last) : json_null(),
	                 "ordered", st.ordered, "damaged", damaged));
	sx_store_close(&st);
	return o;
}

static json_t *describe_clip(int rootfd, const char *file)
{
	char id[256], jobname[256], jid[SX_JOB_ID_LEN + 1], rel[512];
	size_t len = strlen(file);
	json_t *o;
	pkx_error err;
	ss_clip clip;
	struct stat cst;
	int fd, e;

	if (len > 5 && strcmp(file + len - 5, ".json") == 0)
		len -= 5;
	snprintf(id, sizeof(id), "%.*s", (int)len, file);
	o = json_pack("{s:s}", "id", id);
	snprintf(rel, sizeof(rel), "clips/%s", file);
	if ((fd = open_rel(rootfd, rel, &e)) >= 0) {
		if (fstat(fd, &cst) == 0)
			json_object_set_new(o, "mtime_ns",
			                    ns_json(mtime_ns(&cst)));
		close(fd);
	}
	memset(&err, 0, sizeof(err));
	if (ss_clip_load(&tool_services, ".", id, &clip, &err) != PKX_OK) {
		json_object_set_new(o, "error", json_string(err.text));
		return o;
	}
	json_object_set_new(o, "job", json_string(clip.job));
	if (sx_job_find(rootfd, clip.job, jobname, sizeof(jobname)) == 0) {
		sx_job_id(jobname, jid);
		json_object_set_new(o, "job_id", json_string(jid));
	}
	json_object_set_new(o, "start_ns", ns_json(clip.start));
	json_object_set_new(o, "end_ns", ns_json(clip.end));
	if (clip.description[0])
		json_object_set_new(o, "description",
		                    json_string(clip.description));
	return o;
}

int store_cmd_list(const char *root)
{
	json_t *jobs = json_array(), *clips = json_array(), *out;
	char **names;
	size_t n, i;
	int fd;

	tool_root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tool_root_fd < 0) {
		fprintf(stderr, "pktexport store: data root %s: %s\n", root,
		        strerror(errno));
		return 1;
	}
	if ((fd = sx_open_dir(tool_root_fd, "jobs", 0)) >= 0) {
		names = names_of(fd, &n);
		for (i = 0; i < n; i++) {
			json_array_append_new(
			    jobs, describe_job(tool_root_fd, names[i]));
			free(names[i]);
		}
		free(names);
	}
	if ((fd = sx_open_dir(tool_root_fd, "clips", 0)) >= 0) {
		names = names_of(fd, &n);
		for (i = 0; i < n; i++) {
			json_array_append_new(
			    clips, describe_clip(tool_root_fd, names[i]));
			free(names[i]);
		}
		free(names);
	}
	out = json_pack("{s:o, s:o}", "jobs", jobs, "clips", clips);
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	close(tool_root_fd);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The link types the filesystem API names; others are UNKNOWN (the
 * number is given as well). */
static const char *link_name(uint32_t dlt)
{
	switch (dlt & 0xffffu) {
	case 0:
		return "NONE";
	case 1:
		return "EN10MB";
	case 12:
	case 14:
	case 101:
		return "RAW";
	case 104:
		return "C_HDLC";
	case 113:
		return "LINUX_SLL";
	case 127:
		return "IEEE802_11_RADIO";
	case 178:
		return "JUNIPER_ETHER";
	case 192:
		return "PPI";
	case 204:
		return "PPP_WITH_DIR";
	default:
		return "UNKNOWN";
	}
}

/* The sidecar index of rel when one exists and is current: never built
 * here (a listing must stay cheap). */
static int current_sidecar(int rootfd, const char *rel, const struct stat *st,
                           sx_index *ix)
{
	char idx[4200];
	int fd, e, rc;

	if ((size_t)snprintf(idx, sizeof(idx), ".index/%s.idx", rel) >=
	    sizeof(idx))
		return -1;
	if ((fd = open_rel(rootfd, idx, &e)) < 0)
		return -1;
	sx_index_init(ix);
	rc = sx_index_read(fd, st, ix);
	close(fd);
	if (rc != 0)
		sx_index_free(ix);
	return rc;
}

static json_t *describe_file(int rootfd, const char *rel)
{
	json_t *o = json_pack("{s:s}", "path", rel);
	char why[256];
	cf_reader *r;
	struct stat st;
	sx_index ix;
	int fd, e;

	if (strncmp(rel, "fs/", 3) != 0 || strstr(rel, "/../") ||
	    strstr(rel, "/./") || strstr(rel, "//")) {
		json_object_set_new(o, "error",
		                    json_string("not a path under fs/"));
		return o;
	}
	if ((fd = open_rel(rootfd, rel, &e)) < 0 || fstat(fd, &st) != 0 ||
	    !S_ISREG(st.st_mode)) {
		json_object_set_new(
		    o, "error",
		    json_string(fd < 0 ? strerror(e) : "not a regular file"));
		if (fd >= 0)
			close(fd);
		return o;
	}
	json_object_set_new(o, "size", json_integer((json_int_t)st.st_size));
	json_object_set_new(o, "mtime_ns", ns_json(mtime_ns(&st)));
	json_object_set_new(o, "btime_ns", btime_json(fd, &st));
	if (!(r = cf_open(fd, (uint64_t)st.st_size, why, sizeof(why)))) {
		json_object_set_new(o, "error", json_string(why));
		close(fd);
		return o;
	}
	if (cf_ts_digits(r)) {
		char fmt[16];

		snprintf(fmt, sizeof(fmt), "%s_%s",
		         cf_format(r) == CF_PCAP ? "PCAP" : "PCAPNG",
		         cf_ts_digits(r) == 9 ? "NS" : "US");
		json_object_set_new(o, "format", json_string(fmt));
	} else {
		json_object_set_new(o, "format", json_string("UNKNOWN"));
	}
	if (cf_n_ifaces(r) > 0) {
		uint32_t dlt = cf_ifaces(r)[0].linktype & 0xffffu;

		json_object_set_new(o, "link_type",
		                    json_string(link_name(dlt)));
		json_object_set_new(o, "dlt", json_integer(dlt));
	}
	json_object_set_new(
	    o, "type",
	    json_string(cf_format(r) == CF_PCAP ? "PCAP_FILE" : "PCAPNG_FILE"));
	cf_close(r);
	close(fd);
	if (current_sidecar(rootfd, rel, &st, &ix) == 0) {
		json_object_update_new(
		    o,
		    json_pack(
		        "{s:I, s:I, s:o, s:o, s:b}", "packets",
		        (json_int_t)ix.sum.packets, "bytes",
		        (json_int_t)ix.sum.bytes, "first_ns",
		        ix.sum.packets ? ns_json(ix.sum.first_ns) : json_null(),
		        "last_ns",
		        ix.sum.packets ? ns_json(ix.sum.last_ns) : json_null(),
		        "damaged", (ix.sum.flags & SX_DAMAGED) != 0));
		sx_index_free(&ix);
	}
	return o;
}

int store_cmd_describe(const char *root, char **rels, int n)
{
	json_t *out = json_array();
	int i, rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (rootfd < 0) {
		fprintf(stderr, "pktexport store: data root %s: %s\n", root,
		        strerror(errno));
		json_decref(out);
		return 1;
	}
	for (i = 0; i < n; i++)
		json_array_append_new(out, describe_file(rootfd, rels[i]));
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	close(rootfd);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------------ tree */

/* Entries a tree may hold: a listing stays an answer, not a dump. */
#define TREE_MAX_ENTRIES 100000

/* The folder rel (open as dirfd, taken): its files described, its
 * folders walked; symbolic links and dot names left out. */
static json_t *tree_dir(int rootfd, int dirfd, const char *rel, size_t *left)
{
	json_t *o = json_pack("{s:s}", "path", rel), *dirs = json_array(),
	       *files = json_array();
	struct stat st;
	char **names;
	size_t n, i;

	if (fstat(dirfd, &st) == 0) {
		json_object_set_new(o, "mtime_ns", ns_json(mtime_ns(&st)));
		json_object_set_new(o, "btime_ns", btime_json(dirfd, &st));
	}
	names = names_of(dup(dirfd), &n);
	for (i = 0; i < n; i++) {
		char sub[4096];
		int fd;

		if (*left == 0 ||
		    (size_t)snprintf(sub, sizeof(sub), "%s/%s", rel,
		                     names[i]) >= sizeof(sub) ||
		    fstatat(dirfd, names[i], &st, AT_SYMLINK_NOFOLLOW) != 0) {
			free(names[i]);
			continue;
		}
		if (S_ISDIR(st.st_mode) &&
		    (fd = openat(dirfd, names[i],
		                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		                     O_CLOEXEC)) >= 0) {
			(*left)--;
			json_array_append_new(dirs,
			                      tree_dir(rootfd, fd, sub, left));
		} else if (S_ISREG(st.st_mode)) {
			(*left)--;
			json_array_append_new(files,
			                      describe_file(rootfd, sub));
		}
		free(names[i]);
	}
	free(names);
	close(dirfd);
	json_object_set_new(o, "dirs", dirs);
	json_object_set_new(o, "files", files);
	return o;
}

int store_cmd_tree(const char *root, const char *rel)
{
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), dirfd;
	size_t left = TREE_MAX_ENTRIES;
	json_t *out;

	if (rootfd < 0) {
		fprintf(stderr, "pktexport store: data root %s: %s\n", root,
		        strerror(errno));
		return 1;
	}
	if (strncmp(rel, "fs", 2) != 0 || (rel[2] && rel[2] != '/') ||
	    strstr(rel, "/..") || strstr(rel, "/.") || strstr(rel, "//")) {
		fprintf(stderr,
		        "pktexport store: \"%s\" is not a folder "
		        "under fs/\n",
		        rel);
		close(rootfd);
		return 2;
	}
	dirfd = sx_open_dir(rootfd, rel, 0);
	if (dirfd < 0 && errno == ENOENT && strcmp(rel, "fs") == 0) {
		/* A data root without fs/ (only stores): nothing to list. */
		close(rootfd);
		puts("{\"path\":\"fs\",\"dirs\":[],\"files\":[]}");
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (dirfd < 0) {
		fprintf(stderr, "pktexport store: %s: %s\n", rel,
		        strerror(errno));
		close(rootfd);
		return 1;
	}
	out = tree_dir(rootfd, dirfd, rel, &left);
	if (left == 0) {
		fprintf(stderr,
		        "pktexport store: %s holds more than %d entries: list "
		        "a folder below it\n",
		        rel, TREE_MAX_ENTRIES);
		json_decref(out);
		close(rootfd);
		return 1;
	}
	json_dumpf(out, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(out);
	close(rootfd);
	return fflush(stdout) == 0 ? 0 : 1;
}

int store_open_rel(int rootfd, const char *rel, int *err_no)
{
	return open_rel(rootfd, rel, err_no);
}

int store_clip_of(int rootfd, const char *id, ss_clip *clip, char *why,
                  size_t len)
{
	pkx_error err;

	memset(&err, 0, sizeof(err));
	tool_root_fd = rootfd;
	if (ss_clip_load(&tool_services, ".", id, clip, &err) != PKX_OK) {
		snprintf(why, len, "%s", err.text);
		return -1;
	}
	return 0;
}
