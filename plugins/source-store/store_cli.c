/* pktexport-store: builds and indexes packet stores (`pktexport store`
 * runs it).  Import copies capture records verbatim into time-ordered
 * files of about --file-size bytes and indexes them as it writes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "size_arg.h"
#include "source_store.h"
#include "store_index.h"

#define DEFAULT_FILE_SIZE (1ull << 30)

static const char *prog = "pktexport store";

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: pktexport store import --root DIR [--file-size BYTES] "
	        "[-q] JOB FILE...\n"
	        "       pktexport store index --root DIR JOB|fs/FILE...\n"
	        "       pktexport store info --root DIR JOB\n"
	        "       pktexport store locate --root DIR fs/FILE TIME\n"
	        "       pktexport store list --root DIR\n"
	        "       pktexport store describe --root DIR fs/FILE...\n"
	        "       pktexport store tree --root DIR fs[/DIR]\n"
	        "       pktexport store timeline --root DIR [--spread] "
	        "jobs/JOB|clips/ID|fs/FILE START END N\n"
	        "\n"
	        "A store is DIR/jobs/JOB: time-ordered capture files, their "
	        "time indexes\nand a catalog (see doc/store.md).  import "
	        "appends captures to it, in\nfiles of about BYTES each "
	        "(default 1 GB; on a terminal a progress line, -q: none); "
	        "index builds every index again\n(for fs/ "
	        "files, the sidecar index under DIR/.index/).  list, "
	        "describe and tree\nprint, as JSON, the jobs and clips of DIR, "
	        "what each fs/FILE is, and the\nfolders and captures below "
	        "fs/DIR.  locate prints the offset of fs/FILE's first\nrecord "
	        "at or after TIME: any form pktexport time takes (run alone,\n"
	        "pktexport-store takes nanoseconds since the epoch).\n");
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int job_name_ok(const char *job)
{
	return *job && !strchr(job, '/') && job[0] != '.';
}

/* Opens DIR/jobs/JOB, creating it when asked. */
static int open_job(const char *root, const char *job, int create)
{
	char rel[512];
	int rootfd, fd;

	if (!job_name_ok(job) ||
	    (size_t)snprintf(rel, sizeof(rel), "jobs/%s", job) >= sizeof(rel)) {
		fail("\"%s\" is not a job name (one folder name)", job);
		return -1;
	}
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		fail("data root %s: %s", root, strerror(errno));
		return -1;
	}
	fd = sx_open_dir(rootfd, rel, create);
	close(rootfd);
	if (fd < 0)
		fail("cannot open %s/%s: %s", root, rel, strerror(errno));
	return fd;
}

/* ---------------------------------------------------------------- import */

typedef struct imp_out {
	int fd;
	char name[64];
	uint64_t size;     /* bytes written, pending chunk excluded */
	uint8_t *prologue; /* header the file starts with */
	size_t prologue_len;
	sx_index ix;
} imp_out;

typedef struct importer {
	sx_store st;
	uint64_t file_size;
	uint64_t last_ts;
	unsigned next_number;
	imp_out out; /* out.fd < 0: none open */
	int in_fd;
	uint64_t pend;   /* input offset of bytes not copied yet */
	int layout_seen; /* cf_layout_changed of the input so far */
	int failed;
	/* progress on a terminal (pktexport(1)): packets and bytes so far */
	int progress;
	uint64_t packets, done_bytes, all_bytes;
	struct timespec started;
} importer;

static double imp_elapsed(const importer *im)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - im->started.tv_sec) +
	       (double)(now.tv_nsec - im->started.tv_nsec) / 1e9;
}

/* The live line: packets, bytes read of all inputs, rate, time left. */
static void imp_progress(const importer *im, uint64_t at)
{
	double secs = imp_elapsed(im), done = (double)(im->done_bytes + at);
	double pct = im->all_bytes ? 100.0 * done / (double)im->all_bytes : 0;

	fprintf(stderr,
	        "\r\033[K%llu packets imported, %.1f of %.1f MB (%.1f%%), "
	        "%.1f MB/s, %.0f s left",
	        (unsigned long long)im->packets, done / 1e6,
	        (double)im->all_bytes / 1e6, pct,
	        secs > 0 ? done / 1e6 / secs : 0.0,
	        pct > 0 ? secs * (100.0 - pct) / pct : 0.0);
}

static int copy_range(int in, uint64_t from, uint64_t to, int out)
{
	static uint8_t buf[1 << 20];
	loff_t off = (loff_t)from;

	while ((uint64_t)off < to) {
		size_t want = to - (uint64_t)off;
		ssize_t n = copy_file_range(in, &off, out, NULL, want, 0);

		if (n > 0)
			continue;
		if (n == 0)
			return -1;
		if (errno != EXDEV && errno != ENOSYS && errno != EINVAL &&
		    errno != EOPNOTSUPP)
			return -1;
		/* No in-kernel copy here: through a buffer then. */
		if (want > sizeof(buf))
			want = sizeof(buf);
		n = pread(in, buf, want, off);
		if (n <= 0 || write(out, buf, (size_t)n) != n)
			return -1;
		off += n;
	}
	return 0;
}

/* Copies the pending input bytes up to `to` into the open file. */
static int imp_flush(importer *im, uint64_t to)
{
	if (to <= im->pend)
		return 0;
	if (copy_range(im->in_fd, im->pend, to, im->out.fd) != 0)
		return fail("writing %s: %s", im->out.name, strerror(errno));
	im->out.size += to - im->pend;
	im->pend = to;
	return 0;
}

/* Finishes the open file: its index is saved beside the others. */
static int imp_close(importer *im)
{
	imp_out *o = &im->out;
	struct stat sb;
	int dfd, rc = 0;

	if (o->fd < 0)
		return 0;
	if (fsync(o->fd) != 0 || fstat(o->fd, &sb) != 0)
		rc = fail("%s: %s", o->name, strerror(errno));
	close(o->fd);
	o->fd = -1;
	sx_identity_set(&o->ix.sum, &sb);
	o->ix.sum.end_offset = (uint64_t)sb.st_size;
	dfd = sx_open_dir(im->st.dirfd, SX_INDEX_DIR, 1);
	if (rc == 0) {
		char idx[80];

		snprintf(idx, sizeof(idx), "%s.idx", o->name);
		if (dfd < 0 || sx_index_write(dfd, idx, &o->ix) != 0)
			rc = fail("cannot write the index of %s", o->name);
	}
	if (dfd >= 0)
		close(dfd);
	sx_index_free(&o->ix);
	free(o->prologue);
	o->prologue = NULL;
	return rc;
}

static int imp_new_file(importer *im, cf_reader *r)
{
	imp_out *o = &im->out;
	const uint8_t *pro;
	size_t len;

	pro = cf_prologue(r, &len);
	snprintf(o->name, sizeof(o->name), "%08u.%s", im->next_number++,
	         cf_format(r) == CF_PCAPNG ? "pcapng" : "pcap");
	o->fd =
	    openat(im->st.dirfd, o->name,
	           O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (o->fd < 0)
		return fail("cannot create %s: %s", o->name, strerror(errno));
	o->prologue = malloc(len);
	if (!o->prologue || write(o->fd, pro, len) != (ssize_t)len)
		return fail("writing %s: %s", o->name, strerror(errno));
	memcpy(o->prologue, pro, len);
	o->prologue_len = len;
	o->size = len;
	sx_index_init(&o->ix);
	o->ix.sum.format = (uint32_t)cf_format(r);
	o->ix.sum.data_offset = len;
	return 0;
}

/* Continues the store's last file when the capture has the same header
 * and the file has room left. */
static int imp_try_append(importer *im, cf_reader *r)
{
	const sx_index *ix;
	const uint8_t *pro;
	cf_reader *last;
	size_t i = im->st.n_files, len, llen;
	char why[256];
	int fd, same;

	if (i == 0)
		return 0;
	ix = sx_store_index(&im->st, --i);
	if (!ix || (ix->sum.flags & (SX_DAMAGED | SX_LINEAR)) ||
	    ix->sum.end_offset != ix->sum.size ||
	    ix->sum.size >= im->file_size ||
	    strlen(im->st.files[i].name) >= sizeof(im->out.name))
		return 0;
	fd = sx_store_open_file(&im->st, i);
	if (fd < 0)
		return 0;
	last = cf_open(fd, ix->sum.size, why, sizeof(why));
	pro = cf_prologue(r, &len);
	same = last && cf_prologue(last, &llen) && llen == len &&
	       memcmp(cf_prologue(last, &llen), pro, len) == 0;
	cf_close(last);
	close(fd);
	if (!same)
		return 0;
	im->out.fd = openat(im->st.dirfd, im->st.files[i].name,
	                    O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (im->out.fd < 0)
		return 0;
	snprintf(im->out.name, sizeof(im->out.name), "%s",
	         im->st.files[i].name);
	im->out.size = ix->sum.size;
	im->out.prologue = malloc(len);
	if (im->out.prologue)
		memcpy(im->out.prologue, pro, len);
	im->out.prologue_len = len;
	/* Go on building the file's index where it ended. */
	im->out.ix = *ix;
	im->out.ix.entries = malloc((ix->n_entries + 1) * sizeof(sx_entry));
	if (!im->out.ix.entries || !im->out.prologue)
		return fail("out of memory");
	memcpy(im->out.ix.entries, ix->entries,
	       ix->n_entries * sizeof(sx_entry));
	im->out.ix.cap = ix->n_entries + 1;
	im->out.ix.next_mark =
	    ix->n_entries ? ix->entries[ix->n_entries - 1].offset + SX_STRIDE
	                  : 0;
	return 0;
}

/* Takes one record (whose bytes, with any blocks before it, run from
 * `from` to `to` in the input) into the store. */
static int imp_record(importer *im, cf_reader *r, const cf_record *rec,
                      uint64_t from, uint64_t to)
{
	imp_out *o = &im->out;

	if (o->fd >= 0 && o->ix.sum.packets &&
	    o->size + (to - im->pend) > im->file_size) {
		if (imp_flush(im, from) || imp_close(im))
			return -1;
		im->pend = from;
	}
	if (o->fd < 0 && imp_new_file(im, r) != 0)
		return -1;
	/* Blocks other than packets may come first: records start here. */
	if (!o->ix.sum.packets)
		o->ix.sum.data_offset = o->size + (rec->offset - im->pend);
	/* A section or interface block came with this record: within a file
	 * that has packets already, the file must be read from its start;
	 * as the first record of a file, its new header covers it. */
	if (cf_layout_changed(r) != im->layout_seen) {
		im->layout_seen = cf_layout_changed(r);
		if (o->ix.sum.packets)
			o->ix.sum.flags |= SX_LINEAR;
	}
	return sx_index_add(&o->ix, o->size + (rec->offset - im->pend),
	                    rec->ts_ns, rec->caplen);
}

static int imp_capture(importer *im, const char *path)
{
	cf_reader *r;
	cf_record rec;
	struct stat sb;
	char why[256];
	uint64_t before;
	int rc = 0, n, first = 1; /* first: against the store's last */

	im->in_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (im->in_fd < 0 || fstat(im->in_fd, &sb) != 0)
		return fail("%s: %s", path, strerror(errno));
	r = cf_open(im->in_fd, (uint64_t)sb.st_size, why, sizeof(why));
	if (!r) {
		close(im->in_fd);
		return fail("%s: %s", path, why);
	}
	if (im->out.fd >= 0) {
		const uint8_t *pro;
		size_t len;

		pro = cf_prologue(r, &len);
		if (len != im->out.prologue_len ||
		    memcmp(pro, im->out.prologue, len) != 0)
			rc = imp_close(im);
	} else {
		rc = imp_try_append(im, r);
	}
	im->pend = cf_data_offset(r);
	im->layout_seen = 0;
	before = im->pend;
	while (rc == 0 && (n = cf_next(r, &rec)) == 1) {
		if (rec.ts_ns < im->last_ts && first)
			rc = fail(
			    "%s starts at %llu.%09llu, before the "
			    "store's last packet (%llu.%09llu): a store "
			    "holds time-ordered packets, so a capture "
			    "that overlaps it in time cannot be appended "
			    "(import it into another job, or merge both "
			    "with mergecap first)",
			    path, (unsigned long long)(rec.ts_ns / 1000000000u),
			    (unsigned long long)(rec.ts_ns % 1000000000u),
			    (unsigned long long)(im->last_ts / 1000000000u),
			    (unsigned long long)(im->last_ts % 1000000000u));
		else if (rec.ts_ns < im->last_ts)
			rc = fail("%s: the packet at offset %llu is earlier "
			          "than the one before it: a store holds "
			          "time-ordered packets (sort the capture "
			          "first, e.g. with reordercap)",
			          path, (unsigned long long)rec.offset);
		if (rc != 0) {
			cf_seek(r, rec.offset);
			break;
		}
		first = 0;
		im->last_ts = rec.ts_ns;
		rc = imp_record(im, r, &rec, before, cf_tell(r));
		before = cf_tell(r);
		if (im->progress && (++im->packets & 0xffff) == 0)
			imp_progress(im, before);
	}
	im->done_bytes += (uint64_t)sb.st_size;
	if (rc == 0 && n < 0)
		rc = fail("%s is damaged: %s; the packets before were "
		          "imported",
		          path, cf_error(r));
	if (im->out.fd >= 0 && imp_flush(im, cf_tell(r)) != 0)
		rc = -1;
	cf_close(r);
	close(im->in_fd);
	return rc;
}

static unsigned next_number(const sx_store *st)
{
	unsigned max = 0;
	size_t i;

	for (i = 0; i < st->n_files; i++) {
		unsigned long v = strtoul(st->files[i].name, NULL, 10);

		if (v >= max && v < 99999999)
			max = (unsigned)v + 1;
	}
	return max ? max : 1;
}

static int quiet; /* -q: no progress line */

static int cmd_import(const char *root, uint64_t file_size, const char *job,
                      char **files, int n)
{
	importer im;
	int dirfd, i, rc = 0;
	size_t k;

	memset(&im, 0, sizeof(im));
	im.out.fd = -1;
	im.file_size = file_size;
	dirfd = open_job(root, job, 1);
	if (dirfd < 0)
		return 1;
	if (sx_store_open(&im.st, dirfd, SX_OPEN_WRITABLE) != 0) {
		fail("jobs/%s: %s", job, im.st.error);
		sx_store_close(&im.st);
		return 1;
	}
	if (!im.st.ordered) {
		sx_store_close(&im.st);
		return fail("jobs/%s is not time-ordered: import refuses to "
		            "add to it",
		            job);
	}
	for (k = 0; k < im.st.n_files; k++)
		if (im.st.files[k].sum.packets &&
		    im.st.files[k].sum.last_ns > im.last_ts)
			im.last_ts = im.st.files[k].sum.last_ns;
	im.next_number = next_number(&im.st);
	im.progress = isatty(STDERR_FILENO) && !quiet;
	clock_gettime(CLOCK_MONOTONIC, &im.started);
	for (i = 0; i < n; i++) {
		struct stat sb;

		if (stat(files[i], &sb) == 0)
			im.all_bytes += (uint64_t)sb.st_size;
	}
	for (i = 0; i < n && rc == 0; i++)
		rc = imp_capture(&im, files[i]);
	if (im.progress)
		fprintf(stderr,
		        "\r\033[K%s: %d file(s), %.1f MB read into jobs/%s "
		        "in %.1f s\n",
		        rc == 0 ? "imported" : "stopped", i,
		        (double)im.done_bytes / 1e6, job, imp_elapsed(&im));
	if (imp_close(&im) != 0)
		rc = 1;
	sx_store_close(&im.st);
	/* Open again to bring the catalog up to date. */
	dirfd = open_job(root, job, 0);
	if (dirfd < 0 || sx_store_open(&im.st, dirfd, SX_OPEN_WRITABLE) != 0)
		rc = fail("jobs/%s: cannot update the catalog", job);
	else if (sx_rollup_build(&im.st, NULL, NULL) < 0)
		rc = fail("jobs/%s: cannot write the rollup", job);
	sx_store_close(&im.st);
	return rc ? 1 : 0;
}

/* ----------------------------------------------------------------- index */

static int index_job(const char *root, const char *job)
{
	sx_store st;
	int dirfd = open_job(root, job, 0), rc = 0;
	size_t i;

	if (dirfd < 0)
		return 1;
	if (sx_store_open(&st, dirfd, SX_OPEN_WRITABLE | SX_OPEN_REBUILD) != 0)
		rc = fail("jobs/%s: %s", job, st.error);
	for (i = 0; rc == 0 && i < st.n_files; i++)
		if (st.files[i].sum.flags & SX_DAMAGED) {
			const sx_index *ix = sx_store_index(&st, i);

			fprintf(stderr, "%s: jobs/%s/%s is damaged: %s\n", prog,
			        job, st.files[i].name, ix ? ix->damage : "");
		}
	if (rc == 0 && st.catalog_dirty)
		rc = fail("jobs/%s: cannot write the catalog", job);
	if (rc == 0 && sx_rollup_build(&st, NULL, NULL) < 0)
		rc = fail("jobs/%s: cannot write the rollup", job);
	if (rc == 0)
		printf("jobs/%s: %zu files indexed\n", job, st.n_files);
	sx_store_close(&st);
	return rc;
}

/* The sidecar index of a single capture under the data root. */
static int index_fs(const char *root, const char *rel)
{
	char path[4096], why[256];
	sx_index ix;
	int fd;

	if (strstr(rel, "/../") || strstr(rel, "/./") || rel[0] == '/')
		return fail("\"%s\" is not a path under the data root", rel);
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	/* A current index is kept; a missing or stale one is built. */
	if (sx_sidecar_index(root, rel, fd, 1, &ix, why, sizeof(why)) != 0) {
		close(fd);
		return fail("%s", why);
	}
	printf("%s: %llu packets indexed\n", rel,
	       (unsigned long long)ix.sum.packets);
	sx_index_free(&ix);
	close(fd);
	return 0;
}

/* Offset of the first record at or after NS in fs/FILE, by its sidecar:
 * what a whole-file reader seeks to. */
static int cmd_locate(const char *root, const char *rel, const char *ns)
{
	char path[4096], *end;
	uint64_t off, ts;
	int fd, rc;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail("%s: %s", path, strerror(errno));
	errno = 0;
	ts = strtoull(ns, &end, 10);
	if (errno || end == ns || *end || ns[0] == '-') {
		close(fd);
		fail("\"%s\" is not a time in nanoseconds since the "
		     "epoch (a whole number)",
		     ns);
		return 2; /* a bad command line */
	}
	rc = sx_sidecar_seek(root, rel, fd, ts, &off);
	close(fd);
	if (rc != 0)
		return fail("%s: no seek possible, read from the start", rel);
	printf("%llu\n", (unsigned long long)off);
	return 0;
}

/* ------------------------------------------------------------------ info */

static int cmd_info(const char *root, const char *job)
{
	sx_store st;
	int dirfd = open_job(root, job, 0);
	size_t i;

	if (dirfd < 0)
		return 1;
	if (sx_store_open(&st, dirfd, 0) != 0) {
		fail("jobs/%s: %s", job, st.error);
		sx_store_close(&st);
		return 1;
	}
	/* Every index is checked, not only those an export would need. */
	for (i = 0; i < st.n_files; i++)
		sx_store_index(&st, i);
	printf("{\"job\":\"%s\",\"ordered\":%s,\"rebuilt\":%d,\"files\":[", job,
	       st.ordered ? "true" : "false", st.rebuilt);
	for (i = 0; i < st.n_files; i++) {
		const sx_summary *s = &st.files[i].sum;

		printf("%s{\"name\":\"%s\",\"size\":%llu,\"packets\":%llu,"
		       "\"bytes\":%llu,\"first_ns\":%llu,\"last_ns\":%llu,"
		       "\"damaged\":%s}",
		       i ? "," : "", st.files[i].name,
		       (unsigned long long)s->size,
		       (unsigned long long)s->packets,
		       (unsigned long long)s->bytes,
		       (unsigned long long)s->first_ns,
		       (unsigned long long)s->last_ns,
		       s->flags & SX_DAMAGED ? "true" : "false");
	}
	printf("]}\n");
	sx_store_close(&st);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"file-size", required_argument, NULL, 's'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"spread", no_argument, NULL, 'S'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *root = ".", *cmd;
	uint64_t file_size = DEFAULT_FILE_SIZE;
	int c, i, rc = 0, spread = 0;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	cmd = argv[1];
	optind = 1;
	while ((c = getopt_long(argc - 1, argv + 1, "hq", opts, NULL)) != -1) {
		if (c == 'r')
			root = optarg;
		else if (c == 's' &&
		         size_arg(optarg, 1ull << 50, &file_size) == 0 &&
		         file_size >= 4096)
			continue;
		else if (c == 'q')
			quiet = 1;
		else if (c == 'S' && strcmp(cmd, "timeline") == 0)
			spread = 1;
		else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			if (c == 's')
				fail("--file-size \"%s\" is not a size from 4k "
				     "to 1024T (64k, 256M, 1G)",
				     optarg);
			usage(stderr);
			return 2;
		}
	}
	argc -= optind + 1;
	argv += optind + 1;
	if (strcmp(cmd, "import") == 0 && argc >= 2)
		return cmd_import(root, file_size, argv[0], argv + 1, argc - 1);
	if (strcmp(cmd, "locate") == 0 && argc == 2)
		return cmd_locate(root, argv[0], argv[1]);
	if (strcmp(cmd, "info") == 0 && argc == 1)
		return cmd_info(root, argv[0]);
	if (strcmp(cmd, "list") == 0 && argc == 0)
		return store_cmd_list(root);
	if (strcmp(cmd, "tree") == 0 && argc == 1)
		return store_cmd_tree(root, argv[0]);
	if (strcmp(cmd, "timeline") == 0 && argc == 4)
		return store_cmd_timeline(root, argv[0], argv[1], argv[2],
		                          argv[3], spread);
	if (strcmp(cmd, "describe") == 0 && argc >= 1)
		return store_cmd_describe(root, argv, argc);
	if (strcmp(cmd, "index") == 0 && argc >= 1) {
		for (i = 0; i < argc; i++)
			rc |= strncmp(argv[i], "fs/", 3) == 0
			          ? index_fs(root, argv[i])
			          : index_job(root, argv[i]);
		return rc ? 1 : 0;
	}
	usage(stderr);
	return 2;
}
