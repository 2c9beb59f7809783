/* source-store: `jobs/<name>` packet stores and `clips/<id>` saved windows
 * of them.  The catalog and time indexes find the bytes of each window, so
 * an export reads only those (doc/store.md). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pktexport/plugin.h"
#include "source_store.h"
#include "store_index.h"

#define SS_NAME "source-store"
/* pktexport-capture's status file in a job folder it records into. */
#define SS_RECORDER_STATUS ".recorder.json"
/* Not updated for this long: not recording (it updates 5 times a s). */
#define SS_RECORDER_STALE_NS (5ull * 1000000000u)
/* Windows ending at most this far ahead wait for the recording... */
#define SS_WAIT_AHEAD_NS (60ull * 1000000000u)
/* ...for at most this long after their end. */
#define SS_WAIT_AFTER_NS (5ull * 1000000000u)
/* Following a recording: how long next() waits when nothing is new. */
#define SS_FOLLOW_WAIT_MS 100

static const pkx_services *ss_svc;

typedef struct ss_range {
	size_t fa, fb; /* first and last file */
	sx_pos a, b;   /* start in fa, end in fb (exclusive) */
} ss_range;

typedef struct ss_source {
	sx_store store;
	char *path;
	pkx_time_range *windows; /* what this source serves */
	size_t n_windows;
	ss_range *ranges;
	size_t n_ranges;
	int check_times; /* the store is not ordered: test each packet */
	pkx_interface *ifaces;
	size_t n_ifaces;
	pkx_source_info info;
	/* Reading. */
	size_t range, file;
	int fd;
	cf_reader *reader;
	uint64_t start, limit; /* offsets of the file being read */
	uint64_t done_bytes;   /* span of the files and ranges finished */
	uint32_t *ifmap;       /* reader interface -> ours */
	size_t n_ifmap;
	int state; /* 0 before the first range, 1 reading, 2 ended,
	              3 following the recording */
	uint64_t packets;
	/* Following (LIVE_STREAM of a store being recorded): the file read,
	 * the offset of its next record, the size it was read up to. */
	int follow;
	char tname[256];
	uint64_t toff, tsize, end_ns;
	int tnext; /* a newer file was seen: the current one is complete */
	int tlast; /* the recorder stopped: one more look, then the end */
} ss_source;

static pkx_result ss_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	ss_svc = svc;
	return PKX_OK;
}

/* ------------------------------------------------------------ interfaces */

/* Our index of the reader's interface i, added to the list when new. */
static int ss_map_iface(ss_source *s, const cf_iface *ifc, size_t i,
                        uint32_t *out)
{
	pkx_interface want;
	size_t k;

	memset(&want, 0, sizeof(want));
	want.linktype = ifc->linktype;
	want.snaplen = ifc->snaplen;
	want.tsresol = ifc->tsresol;
	/* reserved[0] keeps the interface's position in its file, so that
	 * two unnamed but distinct interfaces of one file stay two. */
	want.reserved[0] = (uint8_t)(i < 255 ? i : 255);
	memcpy(want.name, ifc->name, sizeof(want.name));
	for (k = 0; k < s->n_ifaces; k++)
		if (memcmp(&s->ifaces[k], &want, sizeof(want)) == 0)
			break;
	if (k == s->n_ifaces) {
		pkx_interface *n =
		    realloc(s->ifaces, (k + 1) * sizeof(*s->ifaces));

		if (!n)
			return -1;
		s->ifaces = n;
		s->ifaces[s->n_ifaces++] = want;
		s->info.interfaces = s->ifaces;
		s->info.n_interfaces = s->n_ifaces;
	}
	*out = (uint32_t)k;
	return 0;
}

/* Maps the reader's interfaces not mapped yet. */
static int ss_map_reader(ss_source *s)
{
	size_t n = cf_n_ifaces(s->reader), i;
	uint32_t *m;

	if (n <= s->n_ifmap)
		return 0;
	m = realloc(s->ifmap, n * sizeof(*m));
	if (!m)
		return -1;
	s->ifmap = m;
	for (i = s->n_ifmap; i < n; i++)
		if (ss_map_iface(s, &cf_ifaces(s->reader)[i], i, &m[i]) != 0)
			return -1;
	s->n_ifmap = n;
	return 0;
}

/* Interfaces of the files the ranges read (of the first readable file
 * when they read none, since an export needs one to describe). */
static pkx_result ss_collect_ifaces(ss_source *s, pkx_error *err)
{
	size_t r, i, first = 0, last = 0, any = s->n_ranges > 0;
	char why[256];

	if (any) {
		first = s->ranges[0].fa;
		last = s->ranges[s->n_ranges - 1].fb;
	} else if (s->store.n_files) {
		last = s->store.n_files - 1;
	}
	for (i = first; i <= last && i < s->store.n_files; i++) {
		int in = !any;

		for (r = 0; r < s->n_ranges && !in; r++)
			in = i >= s->ranges[r].fa && i <= s->ranges[r].fb;
		if (!in || s->store.files[i].sum.format == 0)
			continue;
		s->fd = sx_store_open_file(&s->store, i);
		if (s->fd < 0)
			return ss_svc->fail(err, "SOURCE_DAMAGED", "%s: %s",
			                    s->path, s->store.error);
		s->reader = cf_open(s->fd, s->store.files[i].sum.end_offset,
		                    why, sizeof(why));
		s->n_ifmap = 0;
		if (s->reader && ss_map_reader(s) != 0)
			return ss_svc->fail(err, "INTERNAL_ERROR",
			                    "out of memory");
		cf_close(s->reader);
		s->reader = NULL;
		close(s->fd);
		s->fd = -1;
		if (!any && s->n_ifaces)
			break;
	}
	s->n_ifmap = 0;
	if (!s->n_ifaces)
		return ss_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "\"%s\" holds no readable capture file",
		                    s->path);
	return PKX_OK;
}

/* ---------------------------------------------------------------- ranges */

/* Finds `ts` in file i: the first record at or after it. */
static int ss_locate(ss_source *s, size_t i, uint64_t ts, sx_pos *pos)
{
	const sx_index *ix = sx_store_index(&s->store, i);
	char why[256];
	cf_reader *r;
	int fd, rc = -1;

	if (!ix)
		return -1;
	fd = sx_store_open_file(&s->store, i);
	if (fd < 0)
		return -1;
	r = cf_open(fd, ix->sum.end_offset, why, sizeof(why));
	if (r)
		rc = sx_index_locate(ix, r, ts, pos);
	cf_close(r);
	close(fd);
	return rc;
}

static uint64_t ss_next_first(const sx_store *st, size_t i)
{
	for (i++; i < st->n_files; i++)
		if (st->files[i].sum.packets)
			return st->files[i].sum.first_ns;
	return UINT64_MAX;
}

/* Where the records at or after ts begin, from file *from on.  A damaged
 * file whose lost tail may hold such records answers its own end, so the
 * damage is met (and reported) before anything later is served. */
static int ss_find(ss_source *s, uint64_t ts, int for_start, size_t *from,
                   sx_pos *pos)
{
	const sx_store *st = &s->store;
	size_t i;

	for (i = *from; i < st->n_files; i++) {
		const sx_summary *f = &st->files[i].sum;

		if (f->packets && f->last_ns >= ts) {
			*from = i;
			return ss_locate(s, i, ts, pos);
		}
		if (for_start && (f->flags & SX_DAMAGED) &&
		    ts < ss_next_first(st, i)) {
			*from = i;
			*pos = (sx_pos){f->end_offset, f->packets, f->bytes};
			return 0;
		}
	}
	*from = st->n_files - 1;
	i = *from;
	*pos = (sx_pos){st->files[i].sum.end_offset, st->files[i].sum.packets,
	                st->files[i].sum.bytes};
	return 0;
}

static int ss_pos_less(size_t fa, const sx_pos *a, size_t fb, const sx_pos *b)
{
	return fa < fb || (fa == fb && a->offset < b->offset);
}

static pkx_result ss_plan(ss_source *s, pkx_error *err)
{
	sx_store *st = &s->store;
	size_t w, from = 0;

	s->ranges = calloc(s->n_windows + 1, sizeof(*s->ranges));
	if (!s->ranges)
		return ss_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	if (!st->n_files || !s->n_windows)
		return PKX_OK;
	if (!st->ordered) {
		/* Read everything and pick by time. */
		const sx_summary *l = &st->files[st->n_files - 1].sum;

		s->ranges[0] =
		    (ss_range){0,
		               st->n_files - 1,
		               {st->files[0].sum.data_offset, 0, 0},
		               {l->end_offset, l->packets, l->bytes}};
		s->n_ranges = 1;
		s->check_times = 1;
		return PKX_OK;
	}
	for (w = 0; w < s->n_windows; w++) {
		ss_range *r = &s->ranges[s->n_ranges];
		const sx_summary *fa;
		size_t to;

		if (ss_find(s, s->windows[w].start, 1, &from, &r->a) != 0)
			goto damaged;
		r->fa = to = from;
		if (ss_find(s, s->windows[w].end, 0, &to, &r->b) != 0)
			goto damaged;
		r->fb = to;
		fa = &st->files[r->fa].sum;
		/* Empty, unless it starts on a damaged end. */
		if (ss_pos_less(r->fa, &r->a, r->fb, &r->b) ||
		    ((fa->flags & SX_DAMAGED) && r->a.offset == fa->end_offset))
			s->n_ranges++;
		from = to;
	}
	return PKX_OK;
damaged:
	return ss_svc->fail(err, "SOURCE_DAMAGED",
	                    "%s: a capture file does not read as its index "
	                    "says (it changed while being read?)",
	                    s->path);
}

/* Estimates and the bytes to read, from the positions of the ranges. */
static void ss_estimate(ss_source *s)
{
	const sx_store *st = &s->store;
	uint64_t pk = 0, by = 0, span = 0;
	size_t r, i;

	for (r = 0; r < s->n_ranges; r++) {
		const ss_range *g = &s->ranges[r];

		for (i = g->fa; i <= g->fb; i++) {
			const sx_summary *f = &st->files[i].sum;
			sx_pos a = {f->data_offset, 0, 0};
			sx_pos b = {f->end_offset, f->packets, f->bytes};

			if (i == g->fa)
				a = g->a;
			if (i == g->fb)
				b = g->b;
			pk += b.packets - a.packets;
			by += b.bytes - a.bytes;
			span += b.offset - a.offset;
		}
	}
	s->info.total_bytes = span;
	s->info.has_estimates = !s->check_times;
	s->info.estimated_packets = pk;
	s->info.estimated_bytes = by;
	s->info.time_ordered = st->ordered;
	for (i = 0; i < st->n_files; i++) {
		const sx_summary *f = &st->files[i].sum;

		if (!f->packets)
			continue;
		if (!s->info.first_ns || f->first_ns < s->info.first_ns)
			s->info.first_ns = f->first_ns;
		if (f->last_ns > s->info.last_ns)
			s->info.last_ns = f->last_ns;
	}
}

/* ------------------------------------------------------------------ open */

static void ss_free(ss_source *s)
{
	if (s->reader)
		cf_close(s->reader);
	if (s->fd >= 0)
		close(s->fd);
	sx_store_close(&s->store);
	free(s->path);
	free(s->windows);
	free(s->ranges);
	free(s->ifaces);
	free(s->ifmap);
	free(s);
}

static uint64_t ss_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A recorder's status (pktexport-capture): whether it is recording now,
 * and up to when everything it captured is written (complete_ns). */
static int ss_recording(int dirfd, uint64_t *complete)
{
	int fd = openat(dirfd, SS_RECORDER_STATUS,
	                O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	char buf[4096];
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	json_t *o;
	json_int_t upd = 0, done = 0;
	const char *state = "";
	int running;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	o = json_loadb(buf, (size_t)n, 0, NULL);
	if (!o || json_unpack(o, "{s:s, s:I, s:I}", "state", &state,
	                      "updated_ns", &upd, "complete_ns", &done) != 0) {
		json_decref(o);
		return 0;
	}
	/* A recorder that stopped updating (killed) is not waited for. */
	running = strcmp(state, "RUNNING") == 0 && upd > 0 &&
	          (uint64_t)upd + SS_RECORDER_STALE_NS > ss_wall_ns();
	json_decref(o);
	*complete = (uint64_t)done;
	return running;
}

/* A window that ends where the recording has not yet got to (its last
 * packets are still in the capture ring or the recorder's buffers): the
 * export waits until they are written, so it holds the window whole, as
 * the same export after the recording would.  Not for windows ending far
 * ahead (those export what is recorded at the time; LIVE_STREAM follows
 * a recording) nor for a recorder that stopped or fell behind. */
static void ss_wait_recording(ss_source *s, int dirfd)
{
	uint64_t end, complete = 0, now = ss_wall_ns();

	if (!s->n_windows)
		return;
	end = s->windows[s->n_windows - 1].end;
	if (end > now + SS_WAIT_AHEAD_NS || !ss_recording(dirfd, &complete) ||
	    complete >= end)
		return;
	ss_svc->log(PKX_LOG_DEBUG, SS_NAME,
	            "%s: waiting for the recording to reach the window's end",
	            s->path);
	while (ss_recording(dirfd, &complete) && complete < end) {
		struct timespec d = {0, 20 * 1000000};

		if (ss_wall_ns() > end + SS_WAIT_AFTER_NS) {
			ss_svc->log(PKX_LOG_WARN, SS_NAME,
			            "%s: the recording is %.1f s behind the "
			            "window's end: exporting what it holds",
			            s->path, (double)(end - complete) / 1e9);
			return;
		}
		nanosleep(&d, NULL);
	}
}

static pkx_result ss_open_job(ss_source *s, const char *root, const char *job,
                              pkx_error *err)
{
	char rel[512], name[256];
	int rootfd, dirfd;

	if (!*job || strchr(job, '/') || strcmp(job, ".") == 0 ||
	    strcmp(job, "..") == 0 || job[0] == '.')
		return ss_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "\"%s\" does not name a job (jobs/NAME, "
		                    "one folder name)",
		                    s->path);
	if (strlen(job) >= sizeof(name))
		return ss_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "job name \"%s\" is too long", job);
	rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0)
		return ss_svc->fail(err, "INTERNAL_ERROR", "data root %s: %s",
		                    root, strerror(errno));
	/* A job is named by its folder or by its id (the capture API's). */
	if (sx_job_find(rootfd, job, name, sizeof(name)) == 0)
		job = name;
	snprintf(rel, sizeof(rel), "jobs/%s", job);
	/* No symbolic link is followed below the root: nothing leads out. */
	dirfd = sx_open_dir(rootfd, rel, 0);
	close(rootfd);
	if (dirfd < 0)
		return ss_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "job \"%s\" not found (no folder %s under "
		                    "the data root, and no job has that id)",
		                    job, rel);
	if (!s->follow)
		ss_wait_recording(s, dirfd);
	if (sx_store_open(&s->store, dirfd,
	                  faccessat(dirfd, ".", W_OK, AT_EACCESS) == 0
	                      ? SX_OPEN_WRITABLE
	                      : 0) != 0)
		return ss_svc->fail(err, "SOURCE_DAMAGED", "%s: %s", s->path,
		                    s->store.error);
	if (s->store.rebuilt)
		ss_svc->log(PKX_LOG_INFO, SS_NAME,
		            "%s: built %d missing or stale index(es)", s->path,
		            s->store.rebuilt);
	return PKX_OK;
}

/* A LIVE_STREAM export of a job: followed when a recorder is writing it
 * and the last window ends after what it has written.  Reading then goes
 * on past the planned ranges, from the end of the newest file. */
static void ss_follow_start(ss_source *s)
{
	uint64_t complete = 0;
	const sx_store *st = &s->store;

	s->end_ns = s->n_windows ? s->windows[s->n_windows - 1].end : 0;
	if (!s->n_windows || !ss_recording(st->dirfd, &complete) ||
	    complete >= s->end_ns) {
		s->follow = 0;
		return;
	}
	if (st->n_files) {
		const sx_file *f = &st->files[st->n_files - 1];

		snprintf(s->tname, sizeof(s->tname), "%s", f->name);
		s->toff = f->sum.end_offset;
	}
	s->info.live = 1;
	ss_svc->log(PKX_LOG_DEBUG, SS_NAME, "%s: following the recording",
	            s->path);
}

static pkx_result ss_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	ss_source *s = calloc(1, sizeof(*s));
	ss_clip clip;
	pkx_result rc;

	if (!s)
		return ss_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	s->fd = -1;
	s->store.dirfd = -1;
	s->path = strdup(args->path);
	memset(&clip, 0, sizeof(clip));
	if (!s->path) {
		ss_free(s);
		return ss_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	}
	if (strncmp(args->path, "clips/", 6) == 0)
		rc = ss_clip_load(ss_svc, args->root, args->path + 6, &clip,
		                  err);
	else if (strncmp(args->path, "jobs/", 5) == 0)
		rc = PKX_OK;
	else
		rc = ss_svc->fail(err, "REQUEST_INVALID_INPUT",
		                  "\"%s\" is not a jobs/ or clips/ path",
		                  args->path);
	if (rc == PKX_OK)
		rc = ss_clip_windows(&clip, args->windows, args->n_windows,
		                     &s->windows, &s->n_windows)
		         ? ss_svc->fail(err, "INTERNAL_ERROR", "out of memory")
		         : PKX_OK;
	s->follow = PKX_ARGS_HAVE(args, pkx_source_args, flags) &&
	            (args->flags & PKX_SOURCE_FOLLOW) && !clip.job[0];
	if (rc == PKX_OK)
		rc = ss_open_job(s, args->root,
		                 clip.job[0] ? clip.job : args->path + 5, err);
	if (rc == PKX_OK && s->follow)
		ss_follow_start(s);
	if (rc == PKX_OK)
		rc = ss_plan(s, err);
	if (rc == PKX_OK)
		rc = ss_collect_ifaces(s, err);
	if (rc != PKX_OK) {
		ss_free(s);
		return PKX_ERROR;
	}
	ss_estimate(s);
	if (s->follow)
		s->info.has_estimates = 0;
	sx_store_save_catalog(&s->store);
	*instance = s;
	return PKX_OK;
}

static const pkx_source_info *ss_info(void *instance)
{
	return &((ss_source *)instance)->info;
}

/* --------------------------------------------------------------- reading */

static void ss_close_file(ss_source *s)
{
	if (s->reader)
		cf_close(s->reader);
	if (s->fd >= 0)
		close(s->fd);
	s->reader = NULL;
	s->fd = -1;
	s->n_ifmap = 0;
}

/* Positions the reader on file s->file of range s->range. */
static pkx_result ss_enter_file(ss_source *s, pkx_error *err)
{
	const ss_range *g = &s->ranges[s->range];
	const sx_summary *f = &s->store.files[s->file].sum;
	int same = s->reader && !(f->flags & SX_LINEAR);
	char why[256];

	s->start = s->file == g->fa ? g->a.offset : f->data_offset;
	s->limit = s->file == g->fb ? g->b.offset : f->end_offset;
	if (s->start >= s->limit) {
		ss_close_file(s);
		return PKX_OK;
	}
	if (!same) {
		ss_close_file(s);
		s->fd = sx_store_open_file(&s->store, s->file);
		if (s->fd < 0)
			return ss_svc->fail(err, "SOURCE_DAMAGED", "%s: %s",
			                    s->path, s->store.error);
		s->reader = cf_open(s->fd, f->end_offset, why, sizeof(why));
		if (!s->reader)
			return ss_svc->fail(err, "SOURCE_DAMAGED",
			                    "%s: %s changed since it was "
			                    "indexed: %s",
			                    s->path,
			                    s->store.files[s->file].name, why);
	}
	/* A linear file is walked from its start (see ss_next). */
	if (!(f->flags & SX_LINEAR))
		cf_seek(s->reader, s->start);
	return PKX_OK;
}

/* The reader reached s->limit: the next file or range, or the end. */
static pkx_result ss_advance(ss_source *s, pkx_error *err)
{
	const ss_range *g;
	const sx_file *f;

	if (s->state == 0) {
		s->state = 1;
		s->range = 0;
		s->file = s->n_ranges ? s->ranges[0].fa : 0;
		if (!s->n_ranges) {
			s->state = 2;
			return PKX_END;
		}
		return ss_enter_file(s, err);
	}
	g = &s->ranges[s->range];
	f = &s->store.files[s->file];
	if (s->limit > s->start)
		s->done_bytes += s->limit - s->start;
	if ((f->sum.flags & SX_DAMAGED) && s->limit == f->sum.end_offset) {
		const sx_index *ix = sx_store_index(&s->store, s->file);

		s->state = 2;
		return ss_svc->fail(
		    err, "SOURCE_DAMAGED",
		    "%s: %s is damaged at byte %llu (%s); the %llu packets "
		    "before it were exported",
		    s->path, f->name, (unsigned long long)f->sum.end_offset,
		    ix ? ix->damage : "records stop early",
		    (unsigned long long)s->packets);
	}
	if (s->file < g->fb) {
		s->file++;
		ss_close_file(s);
		return ss_enter_file(s, err);
	}
	if (++s->range == s->n_ranges) {
		ss_close_file(s);
		s->state = 2;
		return PKX_END;
	}
	if (s->ranges[s->range].fa != s->file)
		ss_close_file(s);
	s->file = s->ranges[s->range].fa;
	return ss_enter_file(s, err);
}

static pkx_result ss_tail(ss_source *s, pkx_packet *pkt, pkx_error *err);

/* The planned ranges are read: a followed recording goes on from the
 * end of the newest file. */
static pkx_result ss_followed(ss_source *s, pkx_result r, pkx_packet *pkt,
                              pkx_error *err)
{
	if (r != PKX_END || !s->follow)
		return r;
	ss_close_file(s);
	s->state = 3;
	return ss_tail(s, pkt, err);
}

static int ss_wanted(const ss_source *s, uint64_t ts)
{
	size_t lo = 0, hi = s->n_windows;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ts < s->windows[mid].start)
			hi = mid;
		else if (ts >= s->windows[mid].end)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* The record as the packet next() answers. */
static pkx_result ss_emit(ss_source *s, const cf_record *rec, pkx_packet *pkt,
                          pkx_error *err)
{
	if (ss_map_reader(s) != 0)
		return ss_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	pkt->ts_ns = rec->ts_ns;
	pkt->caplen = rec->caplen;
	pkt->wirelen = rec->wirelen;
	pkt->ifindex = s->ifmap[rec->iface];
	pkt->data = rec->data;
	s->packets++;
	return PKX_OK;
}

/* Opens the followed file s->tname again up to its size now, at the
 * record at s->toff (its first record when toff is 0). */
static int ss_tail_open(ss_source *s)
{
	char why[256];
	struct stat sb;

	if (s->fd < 0) {
		s->fd = openat(s->store.dirfd, s->tname,
		               O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s->fd < 0)
			return -1;
	}
	if (fstat(s->fd, &sb) != 0)
		return -1;
	if ((uint64_t)sb.st_size <= s->tsize && s->tsize)
		return 0; /* not grown */
	if (s->reader)
		cf_close(s->reader);
	s->reader = cf_open(s->fd, (uint64_t)sb.st_size, why, sizeof(why));
	if (!s->reader)
		return 0; /* no whole header yet */
	s->tsize = (uint64_t)sb.st_size;
	s->n_ifmap = 0;
	if (!s->toff)
		s->toff = cf_data_offset(s->reader);
	cf_seek(s->reader, s->toff);
	return 1;
}

/* Following the recording: the next wanted packet of the newest files,
 * PKX_AGAIN after a short wait when there is none yet, PKX_END once the
 * recording passed the last window's end (or stopped) and all it wrote
 * was read. */
static pkx_result ss_tail(ss_source *s, pkx_packet *pkt, pkx_error *err)
{
	char next[256];
	uint64_t complete = 0;
	cf_record rec;
	int rc, running;

	for (;;) {
		if (s->reader) {
			rc = cf_next(s->reader, &rec);
			if (rc == 1) {
				s->toff = cf_tell(s->reader);
				if (!ss_wanted(s, rec.ts_ns))
					continue;
				return ss_emit(s, &rec, pkt, err);
			}
			if (rc < 0 && !cf_cut(s->reader))
				return ss_svc->fail(
				    err, "SOURCE_DAMAGED",
				    "%s: %s is damaged (%s); the %llu packets "
				    "before it were exported",
				    s->path, s->tname, cf_error(s->reader),
				    (unsigned long long)s->packets);
			cf_close(s->reader);
			s->reader = NULL;
		}
		if (s->tname[0] && (rc = ss_tail_open(s)) != 0) {
			if (rc < 0 && errno != ENOENT)
				return ss_svc->fail(err, "SOURCE_DAMAGED",
				                    "%s: cannot read %s: %s",
				                    s->path, s->tname,
				                    strerror(errno));
			if (rc > 0)
				continue;
		}
		if (sx_next_capture(s->store.dirfd, s->tname, next,
		                    sizeof(next)) == 0) {
			/* The recorder closes a file before it starts the
			 * next: what remains of this one is read first. */
			if (s->tname[0] && !s->tnext && s->fd >= 0) {
				s->tnext = 1;
				s->tsize = 0;
				continue;
			}
			ss_close_file(s);
			snprintf(s->tname, sizeof(s->tname), "%s", next);
			s->toff = s->tsize = 0;
			s->tnext = 0;
			continue;
		}
		running = ss_recording(s->store.dirfd, &complete);
		if (!running || complete >= s->end_ns ||
		    ss_wall_ns() >= s->end_ns + SS_WAIT_AFTER_NS) {
			/* Its last flush came before it said so: one more
			 * look at the files, then the end. */
			if (s->tlast) {
				ss_close_file(s);
				s->state = 2;
				return PKX_END;
			}
			s->tlast = 1;
			s->tsize = 0;
			continue;
		}
		{
			struct timespec d = {0, SS_FOLLOW_WAIT_MS * 1000000};

			nanosleep(&d, NULL);
		}
		return PKX_AGAIN;
	}
}

static pkx_result ss_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	ss_source *s = instance;
	cf_record rec;
	pkx_result r;
	int rc;

	if (s->state == 3)
		return ss_tail(s, pkt, err);
	if (s->state == 0 && (r = ss_advance(s, err)) != PKX_OK)
		return ss_followed(s, r, pkt, err);
	for (;;) {
		if (s->state == 2)
			return PKX_END;
		if (!s->reader || cf_tell(s->reader) >= s->limit) {
			if ((r = ss_advance(s, err)) != PKX_OK)
				return ss_followed(s, r, pkt, err);
			continue;
		}
		rc = cf_next(s->reader, &rec);
		if (rc <= 0)
			return ss_svc->fail(
			    err, "SOURCE_DAMAGED",
			    "%s: %s is damaged (%s); the %llu packets before "
			    "it were exported",
			    s->path, s->store.files[s->file].name,
			    rc ? cf_error(s->reader)
			       : "it is shorter than "
			         "when it was indexed",
			    (unsigned long long)s->packets);
		if (rec.offset < s->start ||
		    (s->check_times && !ss_wanted(s, rec.ts_ns)))
			continue;
		return ss_emit(s, &rec, pkt, err);
	}
}

static uint64_t ss_position(void *instance)
{
	ss_source *s = instance;
	uint64_t here = 0;

	if (s->state == 1 && s->reader && cf_tell(s->reader) > s->start)
		here = cf_tell(s->reader) - s->start;
	return s->done_bytes + here;
}

static void ss_close(void *instance)
{
	ss_free(instance);
}

static const char *const ss_claims[] = {"jobs/", "clips/", NULL};

static const pkx_source_plugin ss_plugin = {
    PKX_PLUGIN_HEADER(
        PKX_KIND_SOURCE, pkx_source_plugin, SS_NAME, PACKAGE_VERSION,
        "packet stores under jobs/ and their clips/", ss_claims, ss_init, NULL),
    .open = ss_open,
    .info = ss_info,
    .next = ss_next,
    .position = ss_position,
    .close = ss_close,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &ss_plugin.header;
}
