/* The files of a packet store and their catalog, and the sidecar indexes
 * of single fs/ captures (see store_index.h and doc/store.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "job_id.h"
#include "store_index.h"

/* 2: each line also holds the capture's ctime, device and inode.  3: a
 * last line "end HASH" (FNV-1a, 64 bits, of everything before it): a
 * catalog changed behind the store's back is not believed. */
#define SX_CATALOG_HEAD "pktexport-catalog 3\n"
/* A catalog larger than this is not read (a line a file: millions). */
#define SX_CATALOG_MAX (256u << 20)

/* The catalog's text without its last line, when that line holds the
 * hash of the rest; NULL otherwise (absent, cut, edited, another
 * version).  Owned by the caller. */
static char *sx_catalog_load(int fd, size_t *len)
{
	struct stat sb;
	char *buf, *end;
	unsigned long long want;
	size_t n = 0;

	if (fstat(fd, &sb) != 0 || sb.st_size <= 0 ||
	    (uint64_t)sb.st_size > SX_CATALOG_MAX)
		return NULL;
	buf = malloc((size_t)sb.st_size + 1);
	while (buf && n < (size_t)sb.st_size) {
		ssize_t r = read(fd, buf + n, (size_t)sb.st_size - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	if (!buf || n != (size_t)sb.st_size || buf[n - 1] != '\n') {
		free(buf);
		return NULL;
	}
	buf[n - 1] = '\0';
	end = strrchr(buf, '\n');
	if (!end || sscanf(end + 1, "end %16llx", &want) != 1 ||
	    strlen(end + 1) != 20 ||
	    sx_hash(SX_HASH_SEED, buf, (size_t)(end + 1 - buf)) != want) {
		free(buf);
		return NULL;
	}
	*len = (size_t)(end + 1 - buf);
	return buf;
}

static int sx_fail(sx_store *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int sx_fail(sx_store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->error, sizeof(st->error), fmt, ap);
	va_end(ap);
	return -1;
}

int sx_open_dir(int dirfd, const char *rel, int create)
{
	char *copy = strdup(rel), *save = NULL, *comp;
	int fd = dup(dirfd);

	if (!copy) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	for (comp = strtok_r(copy, "/", &save); comp && fd >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		int next;

		if (create && mkdirat(fd, comp, 0755) != 0 && errno != EEXIST)
			next = -1;
		else
			next = openat(fd, comp,
			              O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
			                  O_CLOEXEC);
		close(fd);
		fd = next;
	}
	free(copy);
	return fd;
}

/* Capture files are the regular files named *.pcap, *.pcapng or *.cap;
 * names starting with a dot (the index folder, temporary files) are not. */
static int sx_is_capture_name(const char *n)
{
	static const char *const ext[] = {".pcap", ".pcapng", ".cap"};
	size_t len = strlen(n), i;

	if (n[0] == '.' || strchr(n, '\n'))
		return 0;
	for (i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);

		if (len > e && strcmp(n + len - e, ext[i]) == 0)
			return 1;
	}
	return 0;
}

int sx_next_capture(int dirfd, const char *after, char *out, size_t len)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	int found = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	rewinddir(d);
	while ((de = readdir(d)))
		if (sx_is_capture_name(de->d_name) &&
		    strcmp(de->d_name, after) > 0 &&
		    (!found || strcmp(de->d_name, out) < 0) &&
		    strlen(de->d_name) < len) {
			snprintf(out, len, "%s", de->d_name);
			found = 1;
		}
	closedir(d);
	return found ? 0 : -1;
}

static int sx_cmp_file(const void *a, const void *b)
{
	return strcmp(((const sx_file *)a)->name, ((const sx_file *)b)->name);
}

static int sx_list(sx_store *st)
{
	int fd = dup(st->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return sx_fail(st, "cannot list the job folder: %s",
		               strerror(errno));
	}
	/* A duplicate shares the folder's read position with dirfd: from
	 * the start, whoever listed it before. */
	rewinddir(d);
	while ((de = readdir(d))) {
		struct stat sb;
		sx_file *f;

		if (!sx_is_capture_name(de->d_name) ||
		    fstatat(st->dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) !=
		        0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		if (st->n_files == cap) {
			cap = cap ? cap * 2 : 64;
			f = realloc(st->files, cap * sizeof(*f));
			if (!f) {
				closedir(d);
				return sx_fail(st, "out of memory");
			}
			st->files = f;
		}
		f = &st->files[st->n_files];
		memset(f, 0, sizeof(*f));
		f->name = strdup(de->d_name);
		if (!f->name) {
			closedir(d);
			return sx_fail(st, "out of memory");
		}
		sx_identity_set(&f->now, &sb);
		st->n_files++;
	}
	closedir(d);
	if (st->n_files)
		qsort(st->files, st->n_files, sizeof(*st->files), sx_cmp_file);
	return 0;
}

/* Takes the summaries the catalog holds for files as they are now. */
static void sx_catalog_read(sx_store *st)
{
	int dfd = sx_open_dir(st->dirfd, SX_INDEX_DIR, 0);
	int fd = dfd >= 0 ? openat(dfd, SX_CATALOG,
	                           O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
	                  : -1;
	size_t len = 0;
	char *text = fd >= 0 ? sx_catalog_load(fd, &len) : NULL;
	FILE *in = text ? fmemopen(text, len, "r") : NULL;
	char line[1024];

	if (dfd >= 0)
		close(dfd);
	if (fd >= 0)
		close(fd);
	if (!in) {
		/* None, or not to be believed: written again from the
		 * indexes (a writable store). */
		free(text);
		st->catalog_dirty = 1;
		return;
	}
	if (!fgets(line, sizeof(line), in) || strcmp(line, SX_CATALOG_HEAD)) {
		fclose(in);
		free(text);
		st->catalog_dirty = 1;
		return;
	}
	while (fgets(line, sizeof(line), in)) {
		unsigned long long v[13];
		unsigned fl, fmt;
		sx_file key, *f;
		int at = -1;
		size_t n = strlen(line);

		if (n == 0 || line[n - 1] != '\n')
			break;
		line[n - 1] = '\0';
		if (sscanf(line,
		           "%llu %llu %llu %llu %llu %u %u %llu %llu %llu %llu "
		           "%llu %llu %n",
		           &v[0], &v[1], &v[8], &v[9], &v[10], &fl, &fmt, &v[2],
		           &v[3], &v[4], &v[5], &v[6], &v[7], &at) != 13 ||
		    at < 0)
			continue;
		key.name = line + at;
		f = st->n_files ? bsearch(&key, st->files, st->n_files,
		                          sizeof(*f), sx_cmp_file)
		                : NULL;
		if (!f || f->now.size != v[0] || f->now.mtime_ns != v[1] ||
		    f->now.ctime_ns != v[8] || f->now.dev != v[9] ||
		    f->now.ino != v[10] || v[2] > v[3] || v[3] > v[0])
			continue;
		f->sum = (sx_summary){v[0], v[1], fl,   fmt,  v[2], v[3], v[4],
		                      v[5], v[6], v[7], v[8], v[9], v[10]};
		f->have_sum = 1;
	}
	fclose(in);
	free(text);
}

int sx_store_save_catalog(sx_store *st)
{
	char *buf = NULL;
	size_t len = 0, i;
	FILE *out;
	int dfd, rc = -1;

	if (!st->writable || !st->catalog_dirty)
		return 0;
	out = open_memstream(&buf, &len);
	if (!out)
		return -1;
	fputs(SX_CATALOG_HEAD, out);
	for (i = 0; i < st->n_files; i++) {
		const sx_summary *s = &st->files[i].sum;

		if (!st->files[i].have_sum)
			continue;
		fprintf(out,
		        "%llu %llu %llu %llu %llu %u %u %llu %llu %llu %llu "
		        "%llu %llu %s\n",
		        (unsigned long long)s->size,
		        (unsigned long long)s->mtime_ns,
		        (unsigned long long)s->ctime_ns,
		        (unsigned long long)s->dev, (unsigned long long)s->ino,
		        s->flags, s->format, (unsigned long long)s->data_offset,
		        (unsigned long long)s->end_offset,
		        (unsigned long long)s->packets,
		        (unsigned long long)s->bytes,
		        (unsigned long long)s->first_ns,
		        (unsigned long long)s->last_ns, st->files[i].name);
	}
	fclose(out);
	dfd = sx_open_dir(st->dirfd, SX_INDEX_DIR, 1);
	if (dfd >= 0 && buf) {
		/* The hash of all of it, as its last line. */
		char end[32];
		int n = snprintf(
		    end, sizeof(end), "end %016llx\n",
		    (unsigned long long)sx_hash(SX_HASH_SEED, buf, len));

		rc = sx_write_atomic(dfd, SX_CATALOG, buf, len, end, (size_t)n);
	}
	if (dfd >= 0)
		close(dfd);
	free(buf);
	if (rc == 0)
		st->catalog_dirty = 0;
	return rc;
}

int sx_store_open_file(sx_store *st, size_t i)
{
	int fd = openat(st->dirfd, st->files[i].name,
	                O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		sx_fail(st, "cannot open %s: %s", st->files[i].name,
		        strerror(errno));
	return fd;
}

static int sx_load_or_build(int dirfd, const char *name, int fd, int writable,
                            int rebuild, sx_index *ix, int *built)
{
	char idxname[512];
	struct stat sb;
	int ifd = -1;

	*built = 0;
	if (fstat(fd, &sb) != 0 ||
	    (size_t)snprintf(idxname, sizeof(idxname), "%s.idx", name) >=
	        sizeof(idxname))
		return -1;
	if (dirfd >= 0 && !rebuild)
		ifd = openat(dirfd, idxname, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (ifd >= 0) {
		int rc = sx_index_read(ifd, &sb, ix);

		close(ifd);
		if (rc == 0)
			return 0;
		/* A file a recorder appends to: its index holds for the part
		 * it covers, the rest is read now; nothing is saved (the
		 * recorder rewrites that index itself). */
		if (rc == 1 || rc == 2)
			return sx_index_extend(fd, &sb, ix);
	}
	if (sx_index_scan(fd, &sb, ix) != 0)
		return -1;
	*built = 1;
	if (writable && dirfd >= 0)
		sx_index_write(dirfd, idxname, ix); /* a cache: best effort */
	return 0;
}

const sx_index *sx_store_index(sx_store *st, size_t i)
{
	sx_file *f = &st->files[i];
	int fd, dfd, built = 0, rc;

	if (f->index)
		return f->index;
	f->index = malloc(sizeof(*f->index));
	fd = sx_store_open_file(st, i);
	if (!f->index || fd < 0) {
		free(f->index);
		f->index = NULL;
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	dfd = sx_open_dir(st->dirfd, SX_INDEX_DIR, st->writable);
	rc = sx_load_or_build(dfd, f->name, fd, st->writable, st->rebuild,
	                      f->index, &built);
	if (dfd >= 0)
		close(dfd);
	close(fd);
	if (rc != 0) {
		free(f->index);
		f->index = NULL;
		sx_fail(st, "cannot index %s", f->name);
		return NULL;
	}
	st->rebuilt += built;
	/* The index describes the file as it is now (it may have grown since
	 * it was listed): its figures win. */
	if (!f->have_sum || memcmp(&f->sum, &f->index->sum, sizeof(f->sum))) {
		f->sum = f->index->sum;
		f->now = f->sum;
		f->have_sum = 1;
		st->catalog_dirty = 1;
	}
	return f->index;
}

static void sx_check_order(sx_store *st)
{
	uint64_t last = 0;
	int seen = 0;
	size_t i;

	st->ordered = 1;
	for (i = 0; i < st->n_files; i++) {
		const sx_summary *s = &st->files[i].sum;

		if (!s->packets)
			continue;
		if (!(s->flags & SX_ORDERED) || (seen && s->first_ns < last))
			st->ordered = 0;
		last = s->last_ns;
		seen = 1;
	}
}

int sx_store_open(sx_store *st, int dirfd, int flags)
{
	size_t i;

	memset(st, 0, sizeof(*st));
	st->dirfd = dirfd;
	st->writable = !!(flags & SX_OPEN_WRITABLE);
	st->rebuild = !!(flags & SX_OPEN_REBUILD);
	/* Before listing: a rollup stamped with it is not trusted past any
	 * change made while the folder was being listed. */
	if (fstat(dirfd, &st->dir_at_open) != 0)
		return sx_fail(st, "cannot stat the job folder: %s",
		               strerror(errno));
	if (sx_list(st) != 0)
		return -1;
	if (!st->rebuild)
		sx_catalog_read(st);
	for (i = 0; i < st->n_files; i++)
		if (!st->files[i].have_sum && !sx_store_index(st, i))
			return -1;
	sx_check_order(st);
	if (st->writable)
		sx_store_save_catalog(st); /* a cache: best effort */
	return 0;
}

/* File i's points: entries 0, every, 2 every... of its index, read one
 * at a time where the index is final and current, else from the index
 * loaded (or built) whole. */
static int sx_roll_file(sx_store *st, size_t i, int idxdir, uint32_t every,
                        uint32_t step, uint64_t seq, uint64_t before_p,
                        uint64_t before_b, const int *out, uint64_t *at)
{
	sx_point buf[256];
	size_t nb = 0;
	sx_probe *pr = malloc(sizeof(*pr));
	const sx_index *ix = NULL;
	char name[512];
	uint64_t n, j;
	int fd = -1, rc = -1;

	snprintf(name, sizeof(name), "%s.idx", st->files[i].name);
	if (pr && idxdir >= 0 &&
	    (fd = openat(idxdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >=
	        0 &&
	    sx_probe_open(fd, &st->files[i].now, pr) == 0 &&
	    pr->sum.packets == st->files[i].sum.packets) {
		n = pr->n;
	} else {
		if (!(ix = sx_store_index(st, i)))
			goto out;
		n = ix->n_entries;
	}
	for (j = 0; j < n; j += every) {
		sx_entry e;

		if (ix)
			e = ix->entries[j];
		else if (sx_probe_entry(pr, j, &e) != 0)
			goto out;
		buf[nb++] = (sx_point){e.ts, seq, before_p + e.packets,
		                       before_b + e.bytes};
		if (nb == sizeof(buf) / sizeof(buf[0]) || j + every >= n) {
			if (sx_rollup_put_levels(out, step, *at, buf, nb) != 0)
				goto out;
			*at += nb;
			nb = 0;
		}
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	free(pr);
	return rc;
}

/* Removes every level of the rollup from the store's .index. */
static void sx_rollup_unlink(int idx)
{
	int k;

	for (k = 0; k < SX_ROLL_LEVELS; k++)
		unlinkat(idx, sx_roll_name(k), 0);
}

int sx_rollup_build(sx_store *st, uint64_t *points, sx_rollup *out)
{
	char tmp[SX_ROLL_LEVELS][256];
	int fds[SX_ROLL_LEVELS];
	uint32_t step = sx_roll_step();
	sx_rollup h;
	uint64_t p = 0, b = 0;
	int idx, k, rc = -1;
	size_t i;

	if (!st->writable ||
	    (idx = sx_open_dir(st->dirfd, SX_INDEX_DIR, 1)) < 0)
		return -1;
	sx_check_order(st);
	if (!st->ordered) {
		sx_rollup_unlink(idx);
		close(idx);
		return 1;
	}
	memset(&h, 0, sizeof(h));
	h.every = sx_roll_every();
	h.step = 1;
	for (k = 0; k < SX_ROLL_LEVELS; k++)
		fds[k] = -1;
	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		sx_temp_name(tmp[k], sizeof(tmp[k]), sx_roll_name(k));
		fds[k] = openat(
		    idx, tmp[k],
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
		if (fds[k] < 0)
			goto out;
	}
	for (i = 0; i < st->n_files; i++) {
		uint64_t at = h.n_points;
		const sx_summary *s;

		if (sx_roll_file(st, i, idx, h.every, step, i, p, b, fds,
		                 &h.n_points) != 0)
			goto out;
		s = &st->files[i].sum; /* as loading may have updated it */
		if (points)
			points[i] = h.n_points - at;
		if (s->packets && (!h.first_ns || s->first_ns < h.first_ns))
			h.first_ns = s->first_ns;
		if (s->packets && s->last_ns > h.last_ns)
			h.last_ns = s->last_ns;
		p += s->packets;
		b += s->bytes;
	}
	h.files = h.next_seq = st->n_files;
	h.packets = p;
	h.bytes = b;
	{
		sx_summary d;

		sx_identity_set(&d, &st->dir_at_open);
		h.dev = d.dev;
		h.ino = d.ino;
		h.mtime_ns = d.mtime_ns;
		h.ctime_ns = d.ctime_ns;
	}
	if (st->n_files) {
		const sx_file *f = &st->files[st->n_files - 1];

		if (strlen(f->name) >= sizeof(h.last_name))
			goto out; /* a name too long to note: no rollup */
		snprintf(h.last_name, sizeof(h.last_name), "%s", f->name);
		h.last_size = f->now.size;
		h.last_ino = f->now.ino;
	}
	if (sx_rollup_put_headers(fds, step, &h) != 0)
		goto out;
	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		int e = close(fds[k]);

		fds[k] = -1;
		if (e != 0)
			goto out;
	}
	/* No old level is left beside the new ones: a crash between the
	 * renames leaves levels missing (their readers go finer), never
	 * levels of two builds. */
	sx_rollup_unlink(idx);
	for (k = 0; k < SX_ROLL_LEVELS; k++)
		if (renameat(idx, tmp[k], idx, sx_roll_name(k)) != 0)
			goto out;
	rc = 0;
	if (out)
		*out = h;
out:
	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		if (fds[k] >= 0)
			close(fds[k]);
		if (rc != 0)
			unlinkat(idx, tmp[k], 0);
	}
	if (rc != 0) /* whatever was there may not describe the store */
		sx_rollup_unlink(idx);
	close(idx);
	return rc;
}

void sx_store_close(sx_store *st)
{
	size_t i;

	for (i = 0; i < st->n_files; i++) {
		free(st->files[i].name);
		if (st->files[i].index) {
			sx_index_free(st->files[i].index);
			free(st->files[i].index);
		}
	}
	free(st->files);
	if (st->dirfd >= 0)
		close(st->dirfd);
	memset(st, 0, sizeof(*st));
	st->dirfd = -1;
}

int sx_sidecar_index(const char *root, const char *rel, int fd, int writable,
                     sx_index *ix, char *err, size_t errlen)
{
	char *dir = strdup(rel), *slash, *sub;
	const char *base;
	int rootfd, dfd = -1, built, rc;

	if (!dir) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	slash = strrchr(dir, '/');
	base = slash ? rel + (slash - dir) + 1 : rel;
	if (slash)
		*slash = '\0';
	sub = malloc(strlen(dir) + sizeof(SX_INDEX_DIR) + 2);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sub && rootfd >= 0) {
		sprintf(sub, "%s/%s", SX_INDEX_DIR, slash ? dir : "");
		dfd = sx_open_dir(rootfd, sub, writable);
	}
	rc = sx_load_or_build(dfd, base, fd, writable, 0, ix, &built);
	if (rc != 0)
		snprintf(err, errlen, "cannot index \"%s\"", rel);
	if (dfd >= 0)
		close(dfd);
	if (rootfd >= 0)
		close(rootfd);
	free(sub);
	free(dir);
	return rc;
}

int sx_sidecar_seek(const char *root, const char *rel, int fd, uint64_t ts,
                    uint64_t *offset)
{
	char why[256];
	sx_index ix;
	cf_reader *r = NULL;
	sx_pos pos;
	int rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = -1;
	int writable =
	    rootfd >= 0 && faccessat(rootfd, ".", W_OK, AT_EACCESS) == 0;

	if (rootfd >= 0)
		close(rootfd);
	if (sx_sidecar_index(root, rel, fd, writable, &ix, why, sizeof(why)))
		return -1;
	/* Only where a seek cannot skip a wanted record or an interface. */
	if ((ix.sum.flags & SX_ORDERED) && !(ix.sum.flags & SX_LINEAR))
		r = cf_open(fd, ix.sum.end_offset, why, sizeof(why));
	if (r && sx_index_locate(&ix, r, ts, &pos) == 0) {
		*offset = pos.offset;
		rc = 0;
	}
	cf_close(r);
	sx_index_free(&ix);
	return rc;
}

/* ------------------------------------------------------------------ jobs */

void sx_job_id(const char *name, char out[SX_JOB_ID_LEN + 1])
{
	pkx_job_id(name, out);
}

int sx_job_find(int rootfd, const char *key, char *name, size_t len)
{
	char id[SX_JOB_ID_LEN + 1];
	int dfd = sx_open_dir(rootfd, "jobs", 0), rc = -1;
	struct dirent *de;
	struct stat st;
	DIR *dir;

	if (dfd < 0)
		return -1;
	if (*key != '.' && !strchr(key, '/') &&
	    fstatat(dfd, key, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISDIR(st.st_mode)) {
		close(dfd);
		return (size_t)snprintf(name, len, "%s", key) < len ? 0 : -1;
	}
	if (strlen(key) != SX_JOB_ID_LEN || !(dir = fdopendir(dfd))) {
		close(dfd);
		return -1;
	}
	while (rc != 0 && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		sx_job_id(de->d_name, id);
		if (strcmp(id, key) == 0 &&
		    fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISDIR(st.st_mode))
			rc = (size_t)snprintf(name, len, "%s", de->d_name) < len
			         ? 0
			         : -1;
	}
	closedir(dir);
	return rc;
}
