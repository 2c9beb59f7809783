/* pktexport-store timeline: packets and bytes per interval of a store, a
 * clip or an fs/ capture, from the time indexes' cumulative counts
 * (doc/store.md, "Index file"), for pktexportd's timeline endpoint.
 *
 * A count is taken at index-entry granularity: the position of a time b
 * is the first index entry (over the source's files, in order) whose
 * timestamp is at or after b, and the records before it are those
 * "before b".  A bucket [b0, b1) counts the records from the position of
 * b0 up to the position of b1: at most one stride (256 KiB of capture) of
 * records before an edge is counted in the bucket before it.  Finding a
 * position costs a binary search over the files' summaries (the catalog)
 * and a search over one file's entries (interpolated, galloping, halving:
 * see tl_in_file), read by pread a block at a time: at most about
 * intervals x log(entries), whatever the store's size.
 *
 * A store's rollup (doc/store.md, "Rollup") answers instead, without the
 * folder being listed, when a level of it is current and the window
 * holds TL_ROLL_MIN of that level's points per interval: the coarsest
 * such level, its points in the window read with one pread, then the
 * same search over them, the counts then exact at that level's points
 * (about 1 GiB, 64 GiB or 4 TiB apart).
 *
 * With --spread (the endpoint's `spread=1`), a position inside the span
 * of an index entry (or of a level's point) is interpolated linearly in
 * time between the entry before it and the entry at or after it, the
 * first record and just after the last record of a file (of the rollup)
 * standing for entries at its ends: cumulative packets and bytes are
 * piecewise linear between entries, rounded down, so the counts are
 * estimates, exact at entries, never negative, and the buckets still sum
 * to the window's counts (tl_spread). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "source_store.h"
#include "store_index.h"

#define TL_MAX_INTERVALS 2000
/* The rollup answers only when the window holds at least this many of
 * its points per interval (doc/api.md, "Timeline"). */
#define TL_ROLL_MIN 8
/* The window's points of the level that answers are read with one pread
 * when they take at most this (else a block at a time, as indexes). */
#define TL_ROLL_WHOLE (32u << 20)
/* A stale rollup is read again TL_ROLL_TRIES times, TL_ROLL_WAIT_NS
 * apart, when the folder changed in the last TL_ROLL_FRESH_NS. */
#define TL_ROLL_TRIES    25
#define TL_ROLL_WAIT_NS  2000000L
#define TL_ROLL_FRESH_NS 2000000000ull

enum { TL_UNTRIED, TL_PROBE, TL_MEMORY, TL_FAILED };

typedef struct tl_file {
	int state;
	sx_probe *probe;
	const sx_index *ix; /* TL_MEMORY */
	uint64_t hint;      /* the last answer: answers only grow */
	uint64_t lim;       /* has_lim: no answer is past it */
	int has_lim;
} tl_file;

typedef struct tl_src {
	sx_store st;
	int have_store;
	sx_index fix; /* an fs/ capture's sidecar index */
	int have_fix;
	size_t n;         /* files */
	size_t *nonempty; /* the files holding packets, in order */
	size_t n_nonempty;
	tl_file *files;
	int idxdir; /* the store's .index, -1 when none */
	uint64_t entries_read, bytes_read, indexes_loaded;
	int jobfd, flags; /* a store not opened yet (tl_open_store) */
	int spread;       /* positions interpolated inside entries */
	const char *rel;
	/* Answering from the rollup: one pseudo-file whose entries are its
	 * live points, counts taken from the first live file on. */
	int rollup, rollfd, level;
	int roll_waited; /* a stale level was waited for: the next is not */
	sx_rollup rh;
	sx_probe *rp;
	sx_summary rsum;
	sx_entry *rbuf; /* live points rbuf_at.. read whole, or NULL */
	uint64_t rbuf_at, rbuf_n;
} tl_src;

/* A position: the records of files before `file`, and `packets` and
 * `bytes` of that file. */
typedef struct tl_pos {
	size_t file;
	uint64_t packets, bytes;
} tl_pos;

static int out_error(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int out_error(int code, const char *fmt, ...)
{
	char text[512];
	va_list ap;
	json_t *o;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	o = json_pack("{s:s, s:i}", "error", text, "code", code);
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	return fflush(stdout) == 0 ? 0 : 1;
}

static const sx_summary *tl_sum(const tl_src *s, size_t i)
{
	if (s->rollup)
		return &s->rsum;
	return s->have_store ? &s->st.files[i].sum : &s->fix.sum;
}

static json_t *ns_text(uint64_t ns)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu.%09llu",
	         (unsigned long long)(ns / 1000000000u),
	         (unsigned long long)(ns % 1000000000u));
	return json_string(buf);
}

/* Makes file i's entries readable: probed when its index is final and
 * current, else loaded (built when stale) as an export would. */
static int tl_ready(tl_src *s, size_t i)
{
	tl_file *f = &s->files[i];

	if (f->state == TL_PROBE || f->state == TL_MEMORY)
		return 0;
	if (f->state == TL_FAILED)
		return -1;
	f->state = TL_FAILED;
	if (s->rollup) {
		f->probe = s->rp;
		f->state = TL_PROBE;
		return 0;
	}
	if (s->have_fix) {
		f->ix = &s->fix;
		f->state = TL_MEMORY;
		return 0;
	}
	if (s->idxdir >= 0) {
		char name[512];
		int fd;

		snprintf(name, sizeof(name), "%s.idx", s->st.files[i].name);
		fd = openat(s->idxdir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		f->probe = malloc(sizeof(*f->probe));
		if (fd >= 0 && f->probe &&
		    sx_probe_open(fd, &s->st.files[i].now, f->probe) == 0 &&
		    f->probe->sum.packets == s->st.files[i].sum.packets) {
			f->state = TL_PROBE;
			return 0;
		}
		if (fd >= 0)
			close(fd);
		free(f->probe);
		f->probe = NULL;
	}
	if (!(f->ix = sx_store_index(&s->st, i)))
		return -1;
	s->indexes_loaded++;
	s->entries_read += f->ix->n_entries;
	f->state = TL_MEMORY;
	return 0;
}

static uint64_t tl_n_entries(const tl_src *s, size_t i)
{
	const tl_file *f = &s->files[i];

	if (s->rollup)
		return s->rh.n_points - s->rh.first;
	return f->state == TL_PROBE ? f->probe->n : f->ix->n_entries;
}

static int tl_entry(tl_src *s, size_t i, uint64_t j, sx_entry *e)
{
	tl_file *f = &s->files[i];

	if (s->rollup) {
		if (s->rbuf && j >= s->rbuf_at && j - s->rbuf_at < s->rbuf_n) {
			*e = s->rbuf[j - s->rbuf_at];
			/* As sx_probe_entry: outside the counts is damage. */
			if (e->packets >= s->rh.packets ||
			    e->bytes > s->rh.bytes)
				return -1;
		} else if (sx_probe_entry(f->probe, s->rh.first + j, e) != 0)
			return -1;
		if (e->packets < s->rh.base_packets ||
		    e->bytes < s->rh.base_bytes)
			return -1;
		e->packets -= s->rh.base_packets;
		e->bytes -= s->rh.base_bytes;
		return 0;
	}
	if (f->state == TL_PROBE)
		return sx_probe_entry(f->probe, j, e);
	if (j >= f->ix->n_entries)
		return -1;
	*e = f->ix->entries[j];
	s->entries_read++;
	return 0;
}

/* The position of time b in file i, whose last record is at or after b:
 * its first entry at or after b, or the file's end when none is.  Every
 * entry before `lo` is earlier than b (the last answer: answers only
 * grow) and every one from `hi` on is not; a guess interpolated from the
 * times (traffic is steady more often than not), a gallop from it to
 * bracket the answer, then halving: a few entries, often of one block,
 * and at worst about twice a binary search's. */
static int tl_in_file(tl_src *s, size_t i, uint64_t b, tl_pos *pos)
{
	tl_file *f = &s->files[i];
	uint64_t n, lo, hi, g, step, lo_ts = 0, last = tl_sum(s, i)->last_ns;
	sx_entry e;

	if (tl_ready(s, i) != 0)
		return -1;
	n = tl_n_entries(s, i);
	lo = f->hint;
	hi = f->has_lim && f->lim < n ? f->lim : n;
	if (lo < hi) {
		if (tl_entry(s, i, lo, &e) != 0)
			return -1;
		if (e.ts >= b)
			hi = lo;
		else
			lo_ts = e.ts, lo++;
	}
	if (lo < hi) {
		g = lo + (uint64_t)((unsigned __int128)(b - lo_ts) * (hi - lo) /
		                    (last > lo_ts ? last - lo_ts + 1 : 1));
		if (g >= hi)
			g = hi - 1;
		if (tl_entry(s, i, g, &e) != 0)
			return -1;
		if (e.ts >= b) {
			hi = g;
			for (step = 1; hi > lo; step *= 2) {
				uint64_t j = hi - lo > step ? hi - step : lo;

				if (tl_entry(s, i, j, &e) != 0)
					return -1;
				if (e.ts < b) {
					lo = j + 1;
					break;
				}
				hi = j;
			}
		} else {
			lo = g + 1;
			for (step = 1; lo < hi; step *= 2) {
				uint64_t j =
				    hi - lo > step ? lo - 1 + step : hi - 1;

				if (tl_entry(s, i, j, &e) != 0)
					return -1;
				if (e.ts >= b) {
					hi = j;
					break;
				}
				lo = j + 1;
			}
		}
	}
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (tl_entry(s, i, mid, &e) != 0)
			return -1;
		if (e.ts >= b)
			hi = mid;
		else
			lo = mid + 1;
	}
	f->hint = lo;
	pos->file = i;
	if (lo == n) {
		pos->packets = tl_sum(s, i)->packets;
		pos->bytes = tl_sum(s, i)->bytes;
	} else {
		if (tl_entry(s, i, lo, &e) != 0)
			return -1;
		pos->packets = e.packets;
		pos->bytes = e.bytes;
	}
	return 0;
}

/* With --spread: pos, the position tl_in_file found for b in file i (the
 * file's entry `hint`, the first at or after b, or its end), moved back
 * inside the span of the entry before it.  Between that entry (or the
 * file's first record, with no records before it) at time t0 with
 * cumulative counts c0, and the entry at or after b (or just after the
 * file's last record, with all its records before it) at t1 with c1, the
 * records before b are taken as c0 + (c1 - c0) (b - t0) / (t1 - t0),
 * rounded down: exact at t0 and t1, never decreasing as b grows, so the
 * buckets (differences of positions) are never negative and sum to the
 * difference of the window's edges.  0, or -1 when an entry cannot be
 * read or the counts go backwards. */
static int tl_spread(tl_src *s, size_t i, uint64_t b, tl_pos *pos)
{
	const sx_summary *sum = tl_sum(s, i);
	uint64_t j = s->files[i].hint, n = tl_n_entries(s, i);
	unsigned __int128 dt, span;
	sx_entry prev, next;

	if (j == 0)
		prev = (sx_entry){.ts = sum->first_ns};
	else if (tl_entry(s, i, j - 1, &prev) != 0)
		return -1;
	if (j < n) {
		if (tl_entry(s, i, j, &next) != 0)
			return -1;
	} else {
		next = (sx_entry){.ts = sum->last_ns < UINT64_MAX
		                            ? sum->last_ns + 1
		                            : UINT64_MAX,
		                  .packets = sum->packets,
		                  .bytes = sum->bytes};
	}
	if (next.packets < prev.packets || next.bytes < prev.bytes ||
	    next.packets != pos->packets || next.bytes != pos->bytes)
		return -1;
	if (prev.ts >= b || next.ts <= b)
		return 0; /* on an entry (or before the first): exact */
	dt = b - prev.ts;
	span = next.ts - prev.ts;
	pos->packets =
	    prev.packets +
	    (uint64_t)((unsigned __int128)(next.packets - prev.packets) * dt /
	               span);
	pos->bytes = prev.bytes +
	             (uint64_t)((unsigned __int128)(next.bytes - prev.bytes) *
	                        dt / span);
	return 0;
}

/* The position of time b over the whole source. */
static int tl_locate(tl_src *s, uint64_t b, tl_pos *pos)
{
	size_t lo = 0, hi = s->n_nonempty, k;

	/* The first file holding packets whose last is at or after b. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tl_sum(s, s->nonempty[mid])->last_ns >= b)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (lo == s->n_nonempty) {
		*pos = (tl_pos){s->n, 0, 0};
		return 0;
	}
	k = s->nonempty[lo];
	if (tl_sum(s, k)->first_ns >= b) {
		*pos = (tl_pos){k, 0, 0};
		return 0;
	}
	if (tl_in_file(s, k, b, pos) != 0)
		return -1;
	return s->spread ? tl_spread(s, k, b, pos) : 0;
}

static int rel_ok(const char *rel)
{
	const char *p = rel;

	if (strncmp(rel, "fs/", 3) != 0)
		return 0;
	for (p = rel + 3;;) {
		size_t len = strcspn(p, "/");
		size_t k;

		if (len == 0 || p[0] == '.')
			return 0;
		for (k = 0; k < len; k++)
			if ((unsigned char)p[k] < 0x20 || p[k] == 0x7f)
				return 0;
		if (!p[len])
			return 1;
		p += len + 1;
	}
}

static int parse_u64(const char *t, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(t, &end, 10);
	return errno || end == t || *end || t[0] == '-' ? -1 : 0;
}

/* Opens the source; 0, or the exit status after writing the error. */
static int tl_open(tl_src *s, int rootfd, const char *root, const char *path,
                   uint64_t *cstart, uint64_t *cend, int *failed)
{
	char name[256], rel[512], why[256];
	int dirfd, flags = 0;

	*failed = 1;
	if (strncmp(path, "clips/", 6) == 0) {
		ss_clip clip;

		if (!path[6] || strchr(path + 6, '/') || path[6] == '.')
			return out_error(404, "no clip %s", path);
		if (store_clip_of(rootfd, path + 6, &clip, why, sizeof(why)) !=
		    0)
			return out_error(404, "%s: %s", path, why);
		*cstart = clip.start;
		*cend = clip.end;
		snprintf(name, sizeof(name), "%s", clip.job);
		if (strncmp(name, "jobs/", 5) == 0)
			memmove(name, name + 5, strlen(name + 5) + 1);
		path = NULL;
	} else if (strncmp(path, "jobs/", 5) == 0) {
		snprintf(name, sizeof(name), "%s", path + 5);
		path = NULL;
	}
	if (!path) {
		char found[256];

		if (!name[0] || name[0] == '.' || strchr(name, '/') ||
		    sx_job_find(rootfd, name, found, sizeof(found)) != 0)
			return out_error(404, "no store %s", name);
		snprintf(rel, sizeof(rel), "jobs/%s", found);
		if ((dirfd = sx_open_dir(rootfd, rel, 0)) < 0)
			return out_error(404, "%s: %s", rel, strerror(errno));
		if (faccessat(dirfd, ".", W_OK, AT_EACCESS) == 0)
			flags = SX_OPEN_WRITABLE;
		/* Opened (listed) only when the rollup cannot answer. */
		s->jobfd = dirfd;
		s->flags = flags;
		s->rel = strdup(rel);
		if (!s->rel)
			return out_error(500, "out of memory");
	} else {
		int fd, e;

		if (!rel_ok(path))
			return out_error(
			    400, "path must be jobs/NAME, clips/ID or fs/FILE");
		if ((fd = store_open_rel(rootfd, path, &e)) < 0)
			return out_error(e == ENOENT || e == ENOTDIR ? 404
			                                             : 400,
			                 "%s: %s", path, strerror(e));
		if (sx_sidecar_index(root, path, fd, access(root, W_OK) == 0,
		                     &s->fix, why, sizeof(why)) != 0) {
			close(fd);
			return out_error(422, "%s: %s", path, why);
		}
		close(fd);
		s->have_fix = 1;
		s->n = 1;
		s->indexes_loaded = 1;
		if (!(s->fix.sum.flags & SX_ORDERED))
			return out_error(
			    422, "%s is not time-ordered: no timeline", path);
	}
	*failed = 0;
	return 0;
}

/* The store listed, with its catalog: the path the rollup does not take;
 * 0, or the exit status after writing the error (*failed set). */
static int tl_open_store(tl_src *s, int *failed)
{
	int dirfd = s->jobfd;

	*failed = 1;
	s->jobfd = -1;
	s->have_store = 1;
	if (sx_store_open(&s->st, dirfd, s->flags) != 0)
		return out_error(500, "%s: %s", s->rel, s->st.error);
	if (!s->st.ordered)
		return out_error(422, "%s is not time-ordered: no timeline",
		                 s->rel);
	s->n = s->st.n_files;
	s->idxdir = sx_open_dir(s->st.dirfd, SX_INDEX_DIR, 0);
	*failed = 0;
	return 0;
}

/* Whether the job's folder changed less than TL_ROLL_FRESH_NS ago: a
 * recorder at work, which stamps the rollup right after each change. */
static int tl_folder_busy(int jobfd)
{
	struct timespec now;
	sx_rollup st;
	uint64_t t;

	if (sx_rollup_stamp(jobfd, &st) != 0 ||
	    clock_gettime(CLOCK_REALTIME, &now) != 0)
		return 0;
	t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	return st.ctime_ns + TL_ROLL_FRESH_NS > t;
}

/* The rollup's header, read again while it is stale and the folder busy:
 * a recorder renames its status file (every flush) and then stamps the
 * rollup, so a reader between the two finds it stale for an instant.  A
 * few short waits spare it the path through every file's index. */
static int tl_rollup_current(tl_src *s)
{
	const struct timespec pause = {0, TL_ROLL_WAIT_NS};
	int i;

	for (i = 0;; i++) {
		if (sx_rollup_read(s->rollfd, &s->rh) != 0)
			return 0;
		if (sx_rollup_current(s->jobfd, &s->rh))
			return 1;
		if (i == TL_ROLL_TRIES || s->roll_waited ||
		    !tl_folder_busy(s->jobfd)) {
			s->roll_waited = 1;
			return 0;
		}
		nanosleep(&pause, NULL);
	}
}

/* Level `level` of the store's rollup, when it is there and current: 0,
 * else -1. */
static int tl_open_rollup(tl_src *s, int level)
{
	int idx = sx_open_dir(s->jobfd, SX_INDEX_DIR, 0);

	s->rollfd = idx >= 0 ? openat(idx, sx_roll_name(level),
	                              O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
	                     : -1;
	if (idx >= 0)
		close(idx);
	if (s->rollfd < 0 || !tl_rollup_current(s) ||
	    (s->rh.flags & SX_ROLL_UNORDERED) ||
	    !(s->rp = malloc(sizeof(*s->rp)))) {
		if (s->rollfd >= 0)
			close(s->rollfd);
		s->rollfd = -1;
		return -1;
	}
	sx_rollup_probe(s->rollfd, &s->rh, s->rp);
	memset(&s->rsum, 0, sizeof(s->rsum));
	s->rsum.flags = SX_ORDERED;
	s->rsum.packets = s->rh.packets - s->rh.base_packets;
	s->rsum.bytes = s->rh.bytes - s->rh.base_bytes;
	s->rsum.first_ns = s->rh.first_ns;
	s->rsum.last_ns = s->rh.last_ns;
	s->rollup = 1;
	s->level = level;
	s->n = 1;
	return 0;
}

/* Puts the rollup aside (its reads stay counted). */
static void tl_drop_rollup(tl_src *s)
{
	s->entries_read += s->rp->entries_read;
	s->bytes_read += s->rp->bytes_read;
	close(s->rollfd);
	s->rollfd = -1;
	free(s->rp);
	s->rp = NULL;
	free(s->rbuf);
	s->rbuf = NULL;
	s->rollup = 0;
	s->n = 0;
	free(s->files);
	free(s->nonempty);
	s->files = NULL;
	s->nonempty = NULL;
	s->n_nonempty = 0;
}

/* How many of the rollup's points are earlier than b. */
static int tl_rank(tl_src *s, uint64_t b, uint64_t *r)
{
	tl_pos p;

	*r = 0;
	if (!s->n_nonempty || b <= s->rsum.first_ns)
		return 0;
	*r = tl_n_entries(s, 0);
	if (b > s->rsum.last_ns)
		return 0;
	s->files[0].hint = 0;
	if (tl_in_file(s, 0, b, &p) != 0)
		return -1;
	*r = s->files[0].hint;
	s->files[0].hint = 0;
	return 0;
}

/* The rollup answers for the window whose edges have ranks r0 and r1:
 * every answer lies in [r0, r1], so the searches are kept there and those
 * points (the one at r1 included, when there is one) are read with one
 * pread when they are not too many.  0, or -1 when the points read are
 * not in order (damage the header's hash does not cover). */
static int tl_roll_window(tl_src *s, uint64_t r0, uint64_t r1)
{
	uint64_t n = tl_n_entries(s, 0), k, j;
	const sx_entry *e;

	s->files[0].hint = r0;
	s->files[0].lim = r1;
	s->files[0].has_lim = 1;
	if (r0 >= n)
		return 0;
	k = (r1 < n ? r1 + 1 : n) - r0;
	if (k * sizeof(sx_entry) > TL_ROLL_WHOLE ||
	    !(s->rbuf = malloc(k * sizeof(sx_entry))))
		return 0;
	if (sx_rollup_get_range(s->rollfd, s->rh.first + r0, k, s->rbuf) != 0) {
		free(s->rbuf);
		s->rbuf = NULL;
		return 0;
	}
	s->rbuf_at = r0;
	s->rbuf_n = k;
	s->entries_read += k;
	s->bytes_read += k * sizeof(sx_entry);
	for (j = 0, e = s->rbuf; j < k; j++, e++)
		if (e->packets < s->rh.base_packets ||
		    e->packets >= s->rh.packets || e->bytes > s->rh.bytes ||
		    (j && (e->ts < e[-1].ts || e->packets <= e[-1].packets ||
		           e->bytes < e[-1].bytes)))
			return -1;
	return 0;
}

/* The files' (or the rollup's) summaries: which hold packets, and the
 * first and last packet times.  0, or -1 out of memory. */
static int tl_prepare(tl_src *s, uint64_t *first, uint64_t *last)
{
	size_t i;

	*first = *last = 0;
	s->files = calloc(s->n ? s->n : 1, sizeof(*s->files));
	s->nonempty = calloc(s->n ? s->n : 1, sizeof(*s->nonempty));
	if (!s->files || !s->nonempty)
		return -1;
	for (i = 0; i < s->n; i++) {
		const sx_summary *sum = tl_sum(s, i);

		if (!sum->packets)
			continue;
		s->nonempty[s->n_nonempty++] = i;
		if (!*first || sum->first_ns < *first)
			*first = sum->first_ns;
		if (sum->last_ns > *last)
			*last = sum->last_ns;
	}
	return 0;
}

/* The window: as asked, else the source's packets (within a clip's
 * window for a clip); 0, or -1 when it starts after its end. */
static int tl_window(const tl_src *s, uint64_t *t0, uint64_t *t1, uint64_t *n,
                     uint64_t first, uint64_t last, uint64_t cstart,
                     uint64_t cend)
{
	if (!*t0)
		*t0 = first > cstart ? first : cstart;
	if (!*t1)
		*t1 = s->n_nonempty && last + 1 < cend ? last + 1 : cend;
	if (*t1 == UINT64_MAX && !s->n_nonempty)
		*t1 = *t0;
	if (*t0 < cstart) /* a clip shows its own window only */
		*t0 = cstart;
	if (*t1 > cend)
		*t1 = cend;
	if (*t0 > *t1 && (cstart || cend != UINT64_MAX))
		*t1 = *t0;
	if (*t0 > *t1)
		return -1;
	if (*t1 - *t0 < *n)
		*n = *t1 - *t0 ? *t1 - *t0
		               : 0; /* no bucket narrower than 1 ns */
	return 0;
}

static void tl_close(tl_src *s)
{
	size_t i;

	if (s->rollup)
		tl_drop_rollup(s);
	if (s->jobfd >= 0)
		close(s->jobfd);
	free((char *)s->rel);
	for (i = 0; s->files && i < s->n; i++) {
		if (s->files[i].probe) {
			close(s->files[i].probe->fd);
			free(s->files[i].probe);
		}
	}
	free(s->files);
	free(s->nonempty);
	if (s->idxdir >= 0)
		close(s->idxdir);
	if (s->have_store)
		sx_store_close(&s->st);
	if (s->have_fix)
		sx_index_free(&s->fix);
}

int store_cmd_timeline(const char *root, const char *path, const char *start,
                       const char *end, const char *intervals, int spread)
{
	uint64_t t0, t1, n, cstart = 0, cend = UINT64_MAX, first = 0, last = 0;
	uint64_t *pk = NULL, *by = NULL, *bound = NULL, before_p, before_b;
	uint64_t req_t0, req_t1, req_n;
	tl_pos *pos = NULL;
	json_t *o, *items;
	tl_src s;
	size_t i, k;
	int rootfd, rc, failed, lv;
	uint64_t gran;

	memset(&s, 0, sizeof(s));
	s.idxdir = s.jobfd = s.rollfd = -1;
	s.spread = spread;
	if (parse_u64(start, &t0) || parse_u64(end, &t1) ||
	    parse_u64(intervals, &n) || n < 1 || n > TL_MAX_INTERVALS) {
		fprintf(stderr,
		        "pktexport store timeline: START and END are "
		        "nanoseconds (0: the source's), INTERVALS 1 to %d\n",
		        TL_MAX_INTERVALS);
		return 2;
	}
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "pktexport store: data root %s: %s\n", root,
		        strerror(errno));
		return 1;
	}
	rc = tl_open(&s, rootfd, root, path, &cstart, &cend, &failed);
	close(rootfd);
	if (failed)
		goto out;
	req_t0 = t0;
	req_t1 = t1;
	req_n = n;
	/* The coarsest level of the rollup whose window spans TL_ROLL_MIN
	 * of its points per interval or more, on average, answers. */
	for (lv = SX_ROLL_LEVELS - 1; s.jobfd >= 0 && lv >= 0 && !s.rollup;
	     lv--) {
		uint64_t r0, r1;

		if (tl_open_rollup(&s, lv) != 0)
			continue;
		if (tl_prepare(&s, &first, &last) != 0) {
			rc = out_error(500, "out of memory");
			goto out;
		}
		if (tl_window(&s, &t0, &t1, &n, first, last, cstart, cend) !=
		        0 ||
		    tl_rank(&s, t0, &r0) != 0 || tl_rank(&s, t1, &r1) != 0 ||
		    r1 - r0 < TL_ROLL_MIN * n || n == 0) {
			tl_drop_rollup(&s);
			t0 = req_t0;
			t1 = req_t1;
			n = req_n;
			continue;
		}
		if (tl_roll_window(&s, r0, r1) != 0) {
			tl_drop_rollup(&s); /* a finer level may do */
			t0 = req_t0;
			t1 = req_t1;
			n = req_n;
		}
	}
	if (!s.rollup) {
		if (s.jobfd >= 0) {
			rc = tl_open_store(&s, &failed);
			if (failed)
				goto out;
		}
		if (tl_prepare(&s, &first, &last) != 0) {
			rc = out_error(500, "out of memory");
			goto out;
		}
		if (tl_window(&s, &t0, &t1, &n, first, last, cstart, cend) !=
		    0) {
			rc = out_error(400,
			               "the window's start is after its end");
			goto out;
		}
	}
	bound = calloc(n + 1, sizeof(*bound));
	pos = calloc(n + 1, sizeof(*pos));
	pk = calloc(s.n + 1, sizeof(*pk));
	by = calloc(s.n + 1, sizeof(*by));
	if (!bound || !pos || !pk || !by) {
		rc = out_error(500, "out of memory");
		goto out;
	}
	for (k = 0; k <= n; k++) {
		bound[k] = t0 + (uint64_t)((unsigned __int128)(t1 - t0) * k /
		                           (n ? n : 1));
		if (tl_locate(&s, bound[k], &pos[k]) != 0) {
			rc = out_error(500, "%s: an index cannot be read%s%s",
			               path, s.have_store ? ": " : "",
			               s.have_store ? s.st.error : "");
			goto out;
		}
	}
	/* Records before each file: summed last, as loading an index may
	 * have brought a file's figures up to date. */
	for (i = 0, before_p = before_b = 0; i <= s.n; i++) {
		pk[i] = before_p;
		by[i] = before_b;
		if (i < s.n) {
			before_p += tl_sum(&s, i)->packets;
			before_b += tl_sum(&s, i)->bytes;
		}
	}
	items = json_array();
	for (k = 0; k < n; k++) {
		uint64_t p0 = pk[pos[k].file] + pos[k].packets,
		         p1 = pk[pos[k + 1].file] + pos[k + 1].packets,
		         b0 = by[pos[k].file] + pos[k].bytes,
		         b1 = by[pos[k + 1].file] + pos[k + 1].bytes;

		json_array_append_new(items,
		                      json_pack("{s:o, s:I, s:I}", "start_time",
		                                ns_text(bound[k]), "packets",
		                                (json_int_t)(p1 - p0), "bytes",
		                                (json_int_t)(b1 - b0)));
	}
	for (i = 0; i < s.n && !s.rollup; i++)
		if (s.files[i].probe) {
			s.entries_read += s.files[i].probe->entries_read;
			s.bytes_read += s.files[i].probe->bytes_read;
		}
	if (s.rollup) { /* its searches' and header's reads, counted once */
		s.entries_read += s.rp->entries_read;
		s.bytes_read += s.rp->bytes_read;
		s.rp->entries_read = s.rp->bytes_read = 0;
	}
	gran =
	    s.rollup ? (uint64_t)SX_STRIDE * s.rh.every * s.rh.step : SX_STRIDE;
	o = json_pack(
	    "{s:s, s:o, s:o, s:I, s:o, s:o, s:I, s:I, s:I, s:s, s:b, s:I, "
	    "s:I, s:I, s:I, s:o}",
	    "path", path, "start_time", ns_text(t0), "end_time", ns_text(t1),
	    "intervals", (json_int_t)n, "first_packet_time",
	    s.n_nonempty ? ns_text(first) : json_null(), "last_packet_time",
	    s.n_nonempty ? ns_text(last) : json_null(), "packets",
	    (json_int_t)(pk[pos[n].file] + pos[n].packets - pk[pos[0].file] -
	                 pos[0].packets),
	    "bytes",
	    (json_int_t)(by[pos[n].file] + pos[n].bytes - by[pos[0].file] -
	                 pos[0].bytes),
	    "granularity_bytes", (json_int_t)gran, "granularity",
	    s.rollup ? sx_roll_name(s.level) : "index", "spread", s.spread,
	    "files", (json_int_t)(s.rollup ? s.rh.files : s.n),
	    "index_entries_read", (json_int_t)s.entries_read,
	    "index_bytes_read", (json_int_t)s.bytes_read, "indexes_loaded",
	    (json_int_t)s.indexes_loaded, "items", items);
	json_dumpf(o, stdout, JSON_COMPACT);
	putchar('\n');
	json_decref(o);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	free(bound);
	free(pos);
	free(pk);
	free(by);
	tl_close(&s);
	return rc;
}
