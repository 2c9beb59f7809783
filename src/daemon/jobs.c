/* Export work on worker threads.  A job prepares its export's pipeline
 * (open the source, compile the filters), tells the loop, then runs it into
 * a spool file, an output file under fs/, or an HTTP download.  Downloads
 * go through a fixed pool of chunks: the worker fills one, the loop hands
 * it to the connection by reference, and it comes back once written to
 * the socket, so a slow client slows its export instead of growing
 * memory. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "pkxd.h"

typedef struct stream_chunk {
	pkxd_stream *stream;
	int index;
} stream_chunk;

struct pkxd_stream {
	pkx_sink sink; /* first: the worker writes through it */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *buf[PKXD_CHUNKS];
	size_t len[PKXD_CHUNKS];
	stream_chunk chunk[PKXD_CHUNKS];
	int free_list[PKXD_CHUNKS], n_free; /* worker may fill these */
	int ready[PKXD_CHUNKS], n_ready;    /* filled, for the loop */
	int filling;                        /* worker's chunk, -1: none */
	int closed;            /* no one reads any more: worker stops */
	int in_flight;         /* chunks libevent holds (loop only) */
	int job_over;          /* the job is gone (loop only) */
	pkxh_req *req;         /* loop only; NULL once detached */
	int started;           /* response headers sent */
	struct event *data_ev; /* worker -> loop: chunks ready */
	uint64_t bytes;        /* handed to libevent */
	pkxd_stream *next;     /* in the table of live downloads */
	pkxd_job *job;         /* loop only; valid while req is set */
	pkxd_span span;        /* a spool's download: status and length */
	/* Once the job is over: the reply's end is still being sent, and
	 * whose export it is. */
	int tail;
	pkxd_daemon *d;
	char export_id[PKXD_ID_LEN + 1];
};

struct pkxd_job {
	pkxd_job_kind kind;
	pkxd_export *e;
	pkxd_daemon *d;
	/* The pipeline: set by the worker once prepared, freed by the
	 * worker when it is done (plugins are never freed on the loop: a
	 * plugin's free may wait on its own processes).  run_mu guards the
	 * pointer against the loop's stats, cancel and stop. */
	pkx_run *run;
	pthread_mutex_t run_mu;
	pkx_stats final_stats; /* the run's last stats, once it is freed */
	double final_progress;
	int has_final;
	pkxh_req *req;         /* POST or PUT waiting on prepare */
	pkxd_answer_fn answer; /* how req is answered */
	pkxd_stream *stream;   /* downloads */
	struct event *prepared_ev, *done_ev;
	pkx_result prepared;
	pkx_run_outcome outcome;
	pkx_error err;
	char tmp_path[PATH_MAX];   /* file being written */
	char final_path[PATH_MAX]; /* its name once complete */
	int out_fd;
	uint64_t started_ns; /* monotonic: the log line's duration */
	int cut;             /* a download its client cut (may come again) */
	pkxd_span span;      /* SEND_SPOOL: what it sends */
	int cancelled;
	int stopped;       /* a live stream's client left */
	int prepared_seen; /* job_prepared ran (loop only) */
	/* Whose it is, among the running ones (loop only): a user's share
	 * counts jobs still running for exports since deleted. */
	char owner[64];
	pkxd_job *next_running, **prev_running;
	/* A spool or STREAM_TO_FILE output within its user's share of the
	 * disk: the user's spools when it started, and what it wrote. */
	struct pkxd_disk *disk;
	uint64_t disk_base;
	uint64_t disk_written;
};

/* What one user's running exports have written (workers add, atomically). */
typedef struct pkxd_disk {
	char user[64];
	uint64_t written;
	struct pkxd_disk *next;
} pkxd_disk;

/* The user's entry, made on first use (loop only).  NULL: out of memory. */
static pkxd_disk *disk_of(pkxd_daemon *d, const char *user)
{
	pkxd_disk *k;

	for (k = d->disks; k; k = k->next)
		if (strcmp(k->user, user) == 0)
			return k;
	if (!(k = calloc(1, sizeof(*k))))
		return NULL;
	snprintf(k->user, sizeof(k->user), "%s", user);
	k->next = d->disks;
	d->disks = k;
	return k;
}

void pkxd_disks_free(pkxd_daemon *d)
{
	pkxd_disk *k;

	while ((k = d->disks)) {
		d->disks = k->next;
		free(k);
	}
}

/* Bytes of the spools the user's exports keep now (loop only). */
static uint64_t spools_of(pkxd_daemon *d, const char *user)
{
	const pkxd_export *e;
	uint64_t sum = 0;

	for (e = pkxd_export_first(d); e; e = pkxd_export_next(e)) {
		char path[PATH_MAX];
		struct stat sst;

		if (!pkxd_export_spooled(e) || !pkxd_export_owner(e) ||
		    strcmp(pkxd_export_owner(e), user) != 0)
			continue;
		pkxd_spool_path(e, path, sizeof(path));
		if (stat(path, &sst) == 0)
			sum += (uint64_t)sst.st_size;
	}
	return sum;
}

/* A sink that keeps a job's output within its user's share of the disk,
 * writing through an fd sink. */
typedef struct disk_sink {
	pkx_sink sink;
	pkx_fd_sink *out;
	pkxd_job *job;
} disk_sink;

static pkx_result disk_write(pkx_sink *sink, const void *buf, size_t len,
                             pkx_error *err)
{
	disk_sink *s = (disk_sink *)sink;
	pkxd_job *job = s->job;
	uint64_t all =
	    __atomic_add_fetch(&job->disk->written, len, __ATOMIC_SEQ_CST);

	if (job->disk_base + all > job->d->max_user_disk) {
		__atomic_sub_fetch(&job->disk->written, len, __ATOMIC_SEQ_CST);
		return pkx_fail(
		    err, PKX_EIO,
		    "%s's spools and outputs being written would "
		    "pass %llu bytes, that user's share of the disk "
		    "(--max-user-disk): delete prepared exports first",
		    job->owner, (unsigned long long)job->d->max_user_disk);
	}
	job->disk_written += len;
	return s->out->sink.write(&s->out->sink, buf, len, err);
}

static pkx_result disk_flush(pkx_sink *sink, pkx_error *err)
{
	disk_sink *s = (disk_sink *)sink;

	return s->out->sink.flush ? s->out->sink.flush(&s->out->sink, err)
	                          : PKX_OK;
}

/* Downloads in progress, to recognise their requests (loop only). */
static pkxd_stream *live_streams;

/* ------------------------------------------------------------- streaming */

static void stream_free(pkxd_stream *st)
{
	pkxd_daemon *d = st->d;
	pkxd_stream **p;
	int i;

	if (st->tail && d && d->http)
		pkxh_cancel_sent(d->http, st, 0);

	for (p = &live_streams; *p; p = &(*p)->next)
		if (*p == st) {
			*p = st->next;
			break;
		}
	for (i = 0; i < PKXD_CHUNKS; i++)
		free(st->buf[i]);
	if (st->data_ev)
		event_free(st->data_ev);
	pthread_mutex_destroy(&st->mu);
	pthread_cond_destroy(&st->cv);
	free(st);
	/* A stopping service waits for the last replies to go out. */
	if (d && d->stopping)
		pkxd_idle(d);
}

/* Any thread: a chunk is free to fill again; wakes a waiting worker. */
static void stream_give_back(pkxd_stream *st, int idx)
{
	pthread_mutex_lock(&st->mu);
	st->free_list[st->n_free++] = idx;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* libevent wrote a chunk out (or dropped it with the connection). */
static void chunk_released(const void *data, size_t len, void *arg)
{
	stream_chunk *c = arg;
	pkxd_stream *st = c->stream;

	(void)data;
	(void)len;
	stream_give_back(st, c->index);
	if (--st->in_flight == 0 && st->job_over)
		stream_free(st);
}

/* Worker: a chunk to fill, waiting while all are in flight.  -1 once the
 * reader is gone. */
static int stream_acquire(pkxd_stream *st)
{
	int idx = -1;

	pthread_mutex_lock(&st->mu);
	while (!st->closed && st->n_free == 0)
		pthread_cond_wait(&st->cv, &st->mu);
	if (!st->closed)
		idx = st->free_list[--st->n_free];
	pthread_mutex_unlock(&st->mu);
	return idx;
}

/* Worker: hand a filled chunk to the loop. */
static void stream_post(pkxd_stream *st, int idx, size_t len)
{
	pthread_mutex_lock(&st->mu);
	st->len[idx] = len;
	st->ready[st->n_ready++] = idx;
	pthread_mutex_unlock(&st->mu);
	event_active(st->data_ev, EV_READ, 0);
}

static pkx_result stream_write(pkx_sink *sink, const void *data, size_t len,
                               pkx_error *err)
{
	pkxd_stream *st = (pkxd_stream *)sink;
	const uint8_t *p = data;

	while (len > 0) {
		size_t room, n;

		if (st->filling < 0) {
			st->filling = stream_acquire(st);
			st->len[st->filling < 0 ? 0 : st->filling] = 0;
			if (st->filling < 0)
				return pkx_fail(err, "CLIENT_DISCONNECTED",
				                "the client went away");
		}
		room = PKXD_CHUNK - st->len[st->filling];
		n = len < room ? len : room;
		memcpy(st->buf[st->filling] + st->len[st->filling], p, n);
		st->len[st->filling] += n;
		p += n;
		len -= n;
		if (st->len[st->filling] == PKXD_CHUNK) {
			stream_post(st, st->filling, PKXD_CHUNK);
			st->filling = -1;
		}
	}
	return PKX_OK;
}

static void stream_flush(pkxd_stream *st)
{
	if (st->filling >= 0) {
		if (st->len[st->filling])
			stream_post(st, st->filling, st->len[st->filling]);
		else
			stream_give_back(st, st->filling);
		st->filling = -1;
	}
}

/* The run's sink flush: a live stream's packets go out as they come. */
static pkx_result stream_sink_flush(pkx_sink *sink, pkx_error *err)
{
	(void)err;
	stream_flush((pkxd_stream *)sink);
	return PKX_OK;
}

static void stream_close(pkxd_stream *st)
{
	pthread_mutex_lock(&st->mu);
	st->closed = 1;
	pthread_cond_broadcast(&st->cv);
	pthread_mutex_unlock(&st->mu);
}

/* The stream lets go of its request (which its caller ends). */
static void stream_detach(pkxd_stream *st)
{
	if (st->req)
		pkxh_set_close_cb(st->req, NULL, NULL);
	st->req = NULL;
	stream_close(st);
}

static int job_is_live(const pkxd_job *job)
{
	return pkx_path_is_live(pkxd_export_config(job->e)->path);
}

/* Ends a live job's run on purpose (loop side of pkx_run_stop); a stop
 * that comes before the run exists is honoured when it does. */
static void job_stop(pkxd_job *job)
{
	pkx_run *run;

	__atomic_store_n(&job->stopped, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&job->run_mu);
	run = job->run;
	if (run)
		pkx_run_stop(run);
	pthread_mutex_unlock(&job->run_mu);
}

/* The connection went under a download (the server reads during a
 * reply, so a client that leaves is seen even while a live stream is
 * quiet).  For a live stream that is how it ends: the run stops at once. */
static void stream_closed_cb(pkxh_req *req, void *arg)
{
	pkxd_stream *st = arg;

	if (st->job && job_is_live(st->job))
		job_stop(st->job);
	stream_detach(st);
	pkxh_abort(req); /* the connection is gone: frees it */
}

void pkxd_download_headers(pkxh_req *req, const pkxd_export *e)
{
	struct evkeyvalq *h = pkxh_out_headers(req);
	const char *format = pkxd_export_config(e)->output_format;
	char disp[128], ext[33];
	size_t i;

	/* PCAP_US -> pcap, PCAPNG_NS -> pcapng; a plugin's CSV_US -> csv. */
	for (i = 0; format[i] && format[i] != '_' && i + 1 < sizeof(ext); i++)
		ext[i] = (char)tolower((unsigned char)format[i]);
	ext[i] = '\0';
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s.%s\"",
	         pkxd_export_id(e), ext);
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	evhttp_add_header(h, "Content-Disposition", disp);
}

static void stream_start_reply(pkxd_stream *st, const pkxd_export *e)
{
	pkxd_download_headers(st->req, e);
	if (st->span.status)
		pkxh_reply_start_length(st->req, st->span.status, st->span.len);
	else
		pkxh_reply_start(st->req, 200);
	st->started = 1;
}

/* Loop: move ready chunks to the connection, by reference. */
static void stream_pump(pkxd_stream *st, const pkxd_export *e)
{
	int idx[PKXD_CHUNKS], n, i;

	pthread_mutex_lock(&st->mu);
	n = st->n_ready;
	memcpy(idx, st->ready, sizeof(int) * (size_t)n);
	st->n_ready = 0;
	pthread_mutex_unlock(&st->mu);
	for (i = 0; i < n; i++) {
		struct evbuffer *b;

		if (!st->req) {
			/* The reader left: recycle without sending. */
			st->in_flight++;
			chunk_released(NULL, 0, &st->chunk[idx[i]]);
			continue;
		}
		if (!st->started)
			stream_start_reply(st, e);
		b = evbuffer_new();
		st->in_flight++;
		if (!b || evbuffer_add_reference(
		              b, st->buf[idx[i]], st->len[idx[i]],
		              chunk_released, &st->chunk[idx[i]]) != 0) {
			chunk_released(NULL, 0, &st->chunk[idx[i]]);
			if (b)
				evbuffer_free(b);
			continue;
		}
		st->bytes += st->len[idx[i]];
		pkxh_reply_chunk(st->req, b); /* gone: released at once */
		evbuffer_free(b);
	}
}

static void stream_data_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxd_job *job = arg;

	(void)fd;
	(void)what;
	stream_pump(job->stream, job->e);
}

static pkxd_stream *stream_new(pkxd_job *job, pkxh_req *req)
{
	pkxd_stream *st = calloc(1, sizeof(*st));
	int i;

	if (!st)
		return NULL;
	st->job = job;
	pthread_mutex_init(&st->mu, NULL);
	pthread_cond_init(&st->cv, NULL);
	st->sink.write = stream_write;
	st->sink.flush = stream_sink_flush;
	st->filling = -1;
	for (i = 0; i < PKXD_CHUNKS; i++) {
		st->buf[i] = malloc(PKXD_CHUNK);
		st->chunk[i].stream = st;
		st->chunk[i].index = i;
		st->free_list[st->n_free++] = i;
		if (!st->buf[i]) {
			stream_free(st);
			return NULL;
		}
	}
	st->d = job->d;
	snprintf(st->export_id, sizeof(st->export_id), "%s",
	         pkxd_export_id(job->e));
	st->data_ev = event_new(job->d->base, -1, 0, stream_data_cb, job);
	if (!st->data_ev) {
		stream_free(st);
		return NULL;
	}
	st->req = req;
	pkxh_set_close_cb(req, stream_closed_cb, st);
	st->next = live_streams;
	live_streams = st;
	return st;
}

/* ------------------------------------------------------------------ files */

/* Creates the temporary file of a STREAM_TO_FILE export beside its final
 * name, both confined to <root>/fs. */
static pkx_result open_output(pkxd_job *job, pkx_error *err)
{
	const pkxd_export *e = job->e;
	char fs[PATH_MAX], real_fs[PATH_MAX], dir[PATH_MAX], real_dir[PATH_MAX];
	const char *name = pkxd_export_config(e)->output_filename, *slash;
	struct stat st;

	if ((size_t)snprintf(fs, sizeof(fs), "%s/fs", job->d->root) >=
	        sizeof(fs) ||
	    !realpath(fs, real_fs))
		return pkx_fail(err, PKX_ENOTFOUND, "the data root has no fs/");
	slash = strrchr(name, '/');
	if ((size_t)snprintf(dir, sizeof(dir), "%s/%.*s", real_fs,
	                     slash ? (int)(slash - name) : 0,
	                     name) >= sizeof(dir))
		return pkx_fail(err, PKX_EINVAL, "output_filename too long");
	if (!realpath(dir, real_dir))
		return pkx_fail(err, PKX_ENOTFOUND,
		                "output folder of \"%s\" does not exist", name);
	if (strncmp(real_dir, real_fs, strlen(real_fs)) != 0 ||
	    (real_dir[strlen(real_fs)] != '\0' &&
	     real_dir[strlen(real_fs)] != '/'))
		return pkx_fail(err, PKX_EINVAL,
		                "output_filename \"%s\" leads out of fs/",
		                name);
	if ((size_t)snprintf(job->final_path, sizeof(job->final_path), "%s/%s",
	                     real_dir, slash ? slash + 1 : name) >=
	    sizeof(job->final_path))
		return pkx_fail(err, PKX_EINVAL, "output_filename too long");
	if (lstat(job->final_path, &st) == 0)
		return pkx_fail(err, "RESOURCE_EXISTS",
		                "fs/%s already exists: it is never overwritten",
		                name);
	if ((size_t)snprintf(job->tmp_path, sizeof(job->tmp_path),
	                     "%s/.pktexport-%s.part", real_dir,
	                     pkxd_export_id(e)) >= sizeof(job->tmp_path))
		return pkx_fail(err, PKX_EINVAL, "output_filename too long");
	job->out_fd =
	    open(job->tmp_path,
	         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (job->out_fd < 0)
		return pkx_fail(err, PKX_EIO, "cannot create fs/%s: %s", name,
		                strerror(errno));
	return PKX_OK;
}

static pkx_result open_spool(pkxd_job *job, pkx_error *err)
{
	pkxd_spool_path(job->e, job->final_path, sizeof(job->final_path));
	if ((size_t)snprintf(job->tmp_path, sizeof(job->tmp_path), "%s.part",
	                     job->final_path) >= sizeof(job->tmp_path))
		return pkx_fail(err, PKX_EINTERNAL, "spool path too long");
	job->out_fd =
	    open(job->tmp_path,
	         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (job->out_fd < 0)
		return pkx_fail(err, PKX_EIO,
		                "cannot create the spool file: %s",
		                strerror(errno));
	return PKX_OK;
}

/* Gives the finished file its name: never over an existing output. */
static pkx_result commit_file(pkxd_job *job, pkx_error *err)
{
	if (job->kind == PKXD_JOB_TO_FILE) {
		if (link(job->tmp_path, job->final_path) != 0) {
			pkx_fail(err,
			         errno == EEXIST ? "RESOURCE_EXISTS" : PKX_EIO,
			         "cannot create fs/%s: %s",
			         pkxd_export_config(job->e)->output_filename,
			         strerror(errno));
			return PKX_ERROR;
		}
		unlink(job->tmp_path);
		pkxd_sync_folder(job->final_path);
		return PKX_OK;
	}
	if (rename(job->tmp_path, job->final_path) != 0)
		return pkx_fail(err, PKX_EIO,
		                "cannot finish the spool file: %s",
		                strerror(errno));
	pkxd_sync_folder(job->final_path);
	return PKX_OK;
}

/* ---------------------------------------------------------------- workers */

static pkx_run_outcome run_into_file(pkxd_job *job)
{
	pkx_fd_sink sink;
	pkx_run_outcome outcome;
	int ok;

	disk_sink bounded = {{disk_write, disk_flush}, &sink, job};

	if (pkx_fd_sink_init(&sink, job->out_fd, 1u << 20, &job->err) != PKX_OK)
		return PKX_RUN_FAILED;
	outcome = pkx_run_execute(
	    job->run, job->disk ? &bounded.sink : &sink.sink, &job->err);
	ok = outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED;
	if (ok && pkx_fd_sink_flush(&sink, &job->err) != PKX_OK)
		ok = 0, outcome = PKX_RUN_FAILED;
	pkx_fd_sink_release(&sink);
	/* A STREAM_TO_FILE output or a spool is on disk before it has its
	 * name: a power loss never leaves a named file shorter than its
	 * export. */
	if (ok && fsync(job->out_fd) != 0) {
		pkx_fail(&job->err, PKX_EIO, "writing the output: %s",
		         strerror(errno));
		ok = 0, outcome = PKX_RUN_FAILED;
	}
	if (close(job->out_fd) != 0 && ok) {
		pkx_fail(&job->err, PKX_EIO, "closing the output: %s",
		         strerror(errno));
		ok = 0, outcome = PKX_RUN_FAILED;
	}
	job->out_fd = -1;
	if (ok && commit_file(job, &job->err) != PKX_OK)
		outcome = PKX_RUN_FAILED;
	if (outcome == PKX_RUN_FAILED || outcome == PKX_RUN_CANCELLED)
		unlink(job->tmp_path);
	return outcome;
}

static pkx_run_outcome send_spool(pkxd_job *job)
{
	pkxd_stream *st = job->stream;
	char path[PATH_MAX];
	int fd;

	uint64_t done = 0, want = st->span.len;

	pkxd_spool_path(job->e, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		pkx_fail(&job->err, PKX_EINTERNAL, "the spool file is gone: %s",
		         strerror(errno));
		return PKX_RUN_FAILED;
	}
	for (;;) {
		int idx = stream_acquire(st);
		ssize_t n;

		if (idx < 0) {
			close(fd);
			pkx_fail(&job->err, "CLIENT_DISCONNECTED",
			         "the client went away");
			return PKX_RUN_CANCELLED;
		}
		do
			n = done >= want ? 0
			                 : pread(fd, st->buf[idx],
			                         want - done < PKXD_CHUNK
			                             ? (size_t)(want - done)
			                             : PKXD_CHUNK,
			                         (off_t)(st->span.from + done));
		while (n < 0 && errno == EINTR);
		if (n > 0)
			done += (uint64_t)n;
		if (n <= 0) {
			stream_give_back(st, idx);
			close(fd);
			if (n == 0 && done == want)
				return PKX_RUN_DONE;
			if (n == 0) {
				pkx_fail(
				    &job->err, PKX_EIO,
				    "the spool file is shorter than it was");
				return PKX_RUN_FAILED;
			}
			pkx_fail(&job->err, PKX_EIO, "reading the spool: %s",
			         strerror(errno));
			return PKX_RUN_FAILED;
		}
		stream_post(st, idx, (size_t)n);
	}
}

/* Worker, once the run is over: keeps its last stats and frees it here,
 * off the loop. */
static void job_retire_run(pkxd_job *job)
{
	pkx_run *run;

	pthread_mutex_lock(&job->run_mu);
	run = job->run;
	if (run) {
		pkx_run_stats(run, &job->final_stats);
		job->final_progress = pkx_run_progress(run);
		job->has_final = 1;
	}
	job->run = NULL;
	pthread_mutex_unlock(&job->run_mu);
	pkx_run_free(run);
}

static void *job_main(void *arg)
{
	pkxd_job *job = arg;
	pkx_run *run = NULL;

	if (job->kind == PKXD_JOB_SEND_SPOOL) {
		job->prepared = PKX_OK;
	} else {
		job->prepared = pkx_run_prepare(
		    job->d->reg, job->d->root, pkxd_export_config(job->e),
		    pkxd_export_id(job->e), &run, &job->err);
		if (job->prepared == PKX_OK && (job->kind == PKXD_JOB_TO_FILE ||
		                                job->kind == PKXD_JOB_SPOOL)) {
			job->prepared = job->kind == PKXD_JOB_TO_FILE
			                    ? open_output(job, &job->err)
			                    : open_spool(job, &job->err);
		}
	}
	pthread_mutex_lock(&job->run_mu);
	job->run = run;
	/* A cancel or stop that came before the run existed is honoured
	 * here. */
	if (run && __atomic_load_n(&job->cancelled, __ATOMIC_SEQ_CST))
		pkx_run_cancel(run);
	if (run && __atomic_load_n(&job->stopped, __ATOMIC_SEQ_CST))
		pkx_run_stop(run);
	pthread_mutex_unlock(&job->run_mu);
	/* A job that ends here reports once, so the loop never sees the
	 * export answered but the job still alive. */
	if (job->prepared != PKX_OK || job->kind == PKXD_JOB_VALIDATE) {
		job_retire_run(job);
		event_active(job->done_ev, EV_READ, 0);
		return NULL;
	}
	event_active(job->prepared_ev, EV_READ, 0);
	switch (job->kind) {
	case PKXD_JOB_SPOOL:
	case PKXD_JOB_TO_FILE:
		job->outcome = run_into_file(job);
		break;
	case PKXD_JOB_STREAM:
		job->outcome =
		    pkx_run_execute(run, &job->stream->sink, &job->err);
		/* A failed transfer is cut: its last partial chunk is not
		 * sent, so one that fails before a full chunk answers with
		 * the error instead of a file header and a reset. */
		if (job->outcome == PKX_RUN_FAILED &&
		    job->stream->filling >= 0) {
			stream_give_back(job->stream, job->stream->filling);
			job->stream->filling = -1;
		}
		stream_flush(job->stream);
		break;
	case PKXD_JOB_SEND_SPOOL:
		job->outcome = send_spool(job);
		break;
	case PKXD_JOB_VALIDATE:
		break;
	}
	job_retire_run(job);
	event_active(job->done_ev, EV_READ, 0);
	return NULL;
}

/* ------------------------------------------------------------ loop side */

static void job_free(pkxd_job *job)
{
	if (job->out_fd >= 0) {
		close(job->out_fd);
		unlink(job->tmp_path);
	}
	/* The worker freed the run (job_retire_run). */
	pthread_mutex_destroy(&job->run_mu);
	event_free(job->prepared_ev);
	event_free(job->done_ev);
	if (job->stream) {
		job->stream->job_over = 1;
		if (job->stream->in_flight == 0)
			stream_free(job->stream);
	}
	free(job);
}

/* Loop: the pipeline is prepared (or could not be): answer who waits. */
static void job_prepared(pkxd_job *job)
{
	pkxd_export *e = job->e;

	if (job->prepared_seen)
		return;
	job->prepared_seen = 1;
	if (job->req) {
		/* A POST waits for the answer. */
		pkxh_req *req = job->req;

		job->req = NULL;
		job->answer(e, req, job->prepared == PKX_OK ? NULL : &job->err);
		return;
	}
	if (job->prepared != PKX_OK && job->stream && job->stream->req &&
	    !job->stream->started) {
		/* A download that cannot start gets the error, not data. */
		pkxh_req *req = job->stream->req;

		stream_detach(job->stream);
		pkxd_reply_pkx_error(req, &job->err);
	}
}

static void job_prepared_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	job_prepared(arg);
}

/* A finished download's reply went out (complete) or its connection
 * went first. */
static void stream_sent_cb(void *arg, int complete)
{
	pkxd_stream *st = arg;

	(void)complete;
	st->tail = 0;
}

static void job_finish_stream(pkxd_job *job)
{
	pkxd_stream *st = job->stream;
	pkxh_req *req = st->req;

	if (req && job->outcome == PKX_RUN_FAILED && !st->started &&
	    job->err.id[0]) {
		/* Nothing sent yet (not even the file header, which the
		 * failed run left in a chunk): the client gets the error. */
		stream_detach(st);
		stream_pump(st, job->e); /* recycles, sends nothing */
		pkxd_reply_pkx_error(req, &job->err);
		return;
	}
	stream_pump(st, job->e);
	if (!req)
		return;
	stream_detach(st);
	if (job->outcome == PKX_RUN_FAILED ||
	    job->outcome == PKX_RUN_CANCELLED) {
		/* Cut the connection: a truncated transfer must not end like
		 * a complete capture. */
		pkxh_abort(req);
		return;
	}
	if (!st->started)
		stream_start_reply(st, job->e);
	/* The export may read DONE while the end of its reply still waits
	 * for the client: a stopping service waits for it (see
	 * pkxd_streams_sending). */
	st->tail = pkxh_connected(req);
	pkxh_reply_end(req, st->tail ? stream_sent_cb : NULL, st);
}

int pkxd_streams_sending(void)
{
	return live_streams != NULL;
}

void pkxd_streams_abort(pkxd_daemon *d)
{
	static const pkx_error gone = {
	    "EXPORT_CANCELLED", "the service stopped before the download was "
	                        "sent in full"};
	pkxd_stream *st;

	for (;;) {
		pkxd_export *e;

		/* From the head each time: a reset frees streams. */
		for (st = live_streams; st && !st->tail; st = st->next)
			;
		if (!st)
			return;
		/* The client has not got it all: the export is not done for
		 * it, and the cut must not look like the end of a capture. */
		e = pkxd_export_find(d, st->export_id);
		if (e && (pkxd_export_state(e) == PKXD_DONE ||
		          pkxd_export_state(e) == PKXD_NODATA)) {
			pkxd_export_fail(e, &gone);
			pkxd_export_save(e);
		}
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "export %s: the service stopped before its download "
		        "was sent in full; the connection is reset",
		        st->export_id);
		st->tail = 0;
		/* Drops the chunks it held: the stream goes with them. */
		pkxh_cancel_sent(d->http, st, 1);
	}
}

/* Loop: the export's new state once its job is over. */
static void settle_export(pkxd_job *job, pkxd_export *e)
{
	int ok = job->outcome == PKX_RUN_DONE ||
	         job->outcome == PKX_RUN_STOPPED ||
	         job->outcome == PKX_RUN_DAMAGED;

	/* A resumed range of a DONE export's kept spool: the export was
	 * done before and stays as it is, whatever became of the range. */
	if (job->kind == PKXD_JOB_SEND_SPOOL && job->span.late) {
		pkxd_export_spool_resent(e);
		return;
	}
	/* A live stream ends when its client leaves: not an error. */
	if (job->stream && job_is_live(job) && job->outcome == PKX_RUN_FAILED &&
	    strcmp(job->err.id, "CLIENT_DISCONNECTED") == 0) {
		ok = 1;
		job->outcome = PKX_RUN_STOPPED;
	}
	/* Any other download its client cut (neither a DELETE nor the
	 * service stopping): the export may be downloaded again, a spool
	 * from where the client asks, a stream from the start. */
	if (job->stream && !job_is_live(job) &&
	    !__atomic_load_n(&job->cancelled, __ATOMIC_SEQ_CST) &&
	    !job->d->stopping && job->outcome != PKX_RUN_DONE &&
	    strcmp(job->err.id, "CLIENT_DISCONNECTED") == 0) {
		static const pkx_stats none;

		pkxd_export_clear_downloaded(e);
		if (job->kind == PKXD_JOB_STREAM)
			pkxd_export_set_stats(e, &none, 0);
		if (pkxd_export_state(e) == PKXD_STREAMING)
			pkxd_export_set_state(e, PKXD_READY);
		pkx_error_clear(&job->err);
		job->outcome = PKX_RUN_STOPPED;
		job->cut = 1;
		return;
	}

	if (job->prepared != PKX_OK || !ok) {
		pkxd_export_fail(e, &job->err);
		return;
	}
	if (job->outcome == PKX_RUN_DAMAGED)
		pkxd_export_note_error(e, &job->err); /* reported, not fatal */
	if (job->kind == PKXD_JOB_SPOOL) {
		pkxd_export_set_spooled(e, 1);
		pkxd_export_set_state(e, pkxd_export_stats(e)->exported_packets
		                             ? PKXD_READY
		                             : PKXD_NODATA);
	} else if (job->kind == PKXD_JOB_SEND_SPOOL &&
	           job->span.from + job->span.len < job->span.total) {
		/* A range short of the end: the rest may still be asked for. */
		pkxd_export_clear_downloaded(e);
		if (pkxd_export_state(e) == PKXD_STREAMING)
			pkxd_export_set_state(e, PKXD_READY);
	} else if (job->kind == PKXD_JOB_SEND_SPOOL) {
		if (pkxd_export_state(e) != PKXD_NODATA)
			pkxd_export_set_state(e, PKXD_DONE);
		if (pkxd_export_state(e) == PKXD_DONE) {
			pkxd_export_keep_spool(e);
		} else {
			char path[PATH_MAX];

			pkxd_spool_path(e, path, sizeof(path));
			unlink(path);
			pkxd_export_set_spooled(e, 0);
		}
	} else {
		pkxd_export_set_state(e, pkxd_export_stats(e)->exported_packets
		                             ? PKXD_DONE
		                             : PKXD_NODATA);
	}
}

/* "s.nnnnnnnnn" of a time in ns, or "" (unbounded). */
static void ns_text(uint64_t ns, char *buf, size_t len)
{
	if (ns == 0 || ns == PKX_TIME_UNBOUNDED)
		buf[0] = '\0';
	else
		pkxd_ns_text(ns, buf, len);
}

/* The export's line in the log, once its packets are out (or not): who,
 * what, when, how much.  Strings a client sent are escaped by the log. */
static void log_export(const pkxd_job *job, const pkxd_export *e)
{
	static const char *const kinds[] = {"checked", "prepared", "written",
	                                    "streamed", "downloaded"};
	const pkx_config *cfg = pkxd_export_config(e);
	const pkx_stats *st = pkxd_export_stats(e);
	char filters[600] = "", from[32], to[32], window[96];
	size_t i, n = 0;

	for (i = 0; i < cfg->n_filters && n < sizeof(filters) - 1; i++)
		n += (size_t)snprintf(
		    filters + n, sizeof(filters) - n, "%s%s \"%.200s\"",
		    i ? ", " : "", cfg->filters[i].type, cfg->filters[i].value);
	if (n >= sizeof(filters))
		snprintf(filters + sizeof(filters) - 4, 4, "...");
	ns_text(cfg->start_ns, from, sizeof(from));
	ns_text(cfg->end_ns, to, sizeof(to));
	if (cfg->has_intervals)
		snprintf(window, sizeof(window), "%zu interval(s)",
		         cfg->n_intervals);
	else
		snprintf(window, sizeof(window), "%s..%s", from[0] ? from : "",
		         to[0] ? to : "");
	pkx_log(
	    job->outcome == PKX_RUN_FAILED ? PKX_LOG_WARN : PKX_LOG_INFO,
	    "pktexportd",
	    "export %s by %s %s: %s, filters [%s], window %s, %s %s: %s%s%s, "
	    "%llu packets, %llu bytes, %.3f s",
	    pkxd_export_id(e), pkxd_export_owner(e),
	    kinds[job->kind < 5 ? job->kind : 0], cfg->path, filters, window,
	    cfg->mode, cfg->output_format,
	    pkxd_state_name(pkxd_export_state(e)),
	    job->cut         ? " (cut by its client: it may ask again)"
	    : job->err.id[0] ? " "
	                     : "",
	    job->err.id, (unsigned long long)st->exported_packets,
	    (unsigned long long)st->exported_bytes,
	    (double)(pkx_now_ns() - job->started_ns) / 1e9);
}

static void job_done_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxd_job *job = arg;
	pkxd_export *e = job->e;
	pkxd_daemon *d = job->d;
	int remove = 0;

	(void)fd;
	(void)what;
	pkx_log(PKX_LOG_DEBUG, "pktexportd",
	        "export %s: job %d over, outcome %d", pkxd_export_id(e),
	        (int)job->kind, (int)job->outcome);
	job_prepared(job);
	/* Cancelling closes the stream to wake a worker waiting for the
	 * client, which then fails to write: the cancel is the cause. */
	if (__atomic_load_n(&job->cancelled, __ATOMIC_SEQ_CST) &&
	    job->outcome == PKX_RUN_FAILED &&
	    strcmp(job->err.id, "CLIENT_DISCONNECTED") == 0) {
		job->outcome = PKX_RUN_CANCELLED;
		pkx_error_clear(&job->err);
	}
	if (job->stream)
		job_finish_stream(job);
	if (job->has_final) {
		pkxd_export_set_stats(e, &job->final_stats,
		                      job->final_progress);
	}
	if (job->outcome == PKX_RUN_CANCELLED && !job->err.id[0])
		pkx_fail(&job->err, "EXPORT_CANCELLED",
		         d->stopping ? "the service stopped during the export"
		                     : "the export was cancelled");
	if (!pkxd_export_deleted(e) && job->kind != PKXD_JOB_VALIDATE) {
		settle_export(job, e);
		log_export(job, e);
		/* LEGACY exports go once downloaded. */
		remove = job->stream && !job->cut &&
		         pkxd_export_state(e) != PKXD_ERRORS &&
		         strcmp(pkxd_export_config(e)->mode, "LEGACY") == 0;
		if (!remove) {
			pkxd_export_save(e);
			pkxd_export_arm_timer(e);
		}
	}
	if (pkxd_export_deleted(e) && job->kind == PKXD_JOB_SPOOL)
		unlink(job->final_path); /* finished just as it was deleted */
	pkxd_export_set_job(e, NULL);
	d->n_jobs--;
	/* What it wrote is a spool now (counted as one) or gone, or an
	 * output in fs/, which no longer counts. */
	if (job->disk)
		__atomic_sub_fetch(&job->disk->written, job->disk_written,
		                   __ATOMIC_SEQ_CST);
	if ((*job->prev_running = job->next_running))
		job->next_running->prev_running = job->prev_running;
	job_free(job);
	if (remove) {
		pkxd_export_delete(e);
	} else {
		if (!pkxd_export_deleted(e))
			pkxd_export_unpark(e);
		pkxd_export_release(e);
	}
	pkxd_idle(d);
}

static pkx_result job_start(pkxd_export *e, pkxd_job_kind kind, pkxh_req *req,
                            pkxd_answer_fn answer, const pkxd_span *span,
                            pkx_error *err);

pkx_result pkxd_job_start(pkxd_export *e, pkxd_job_kind kind, pkxh_req *req,
                          pkxd_answer_fn answer, pkx_error *err)
{
	return job_start(e, kind, req, answer, NULL, err);
}

pkx_result pkxd_job_send_spool(pkxd_export *e, pkxh_req *req,
                               const pkxd_span *span, pkx_error *err)
{
	return job_start(e, PKXD_JOB_SEND_SPOOL, req, NULL, span, err);
}

static pkx_result job_start(pkxd_export *e, pkxd_job_kind kind, pkxh_req *req,
                            pkxd_answer_fn answer, const pkxd_span *span,
                            pkx_error *err)
{
	pkxd_daemon *d = pkxd_export_daemon(e);
	pkxd_job *job;
	pthread_attr_t attr;
	pthread_t thread;
	uint64_t used;

	if (pkxd_export_job(e))
		return pkx_fail(err, "EXPORT_STATE_CONFLICT",
		                "export %s is busy (%s)", pkxd_export_id(e),
		                pkxd_state_name(pkxd_export_state(e)));
	if (d->n_jobs >= PKXD_MAX_JOBS)
		return pkx_fail(err, "SERVICE_BUSY",
		                "%d exports are running: try again later",
		                d->n_jobs);
	if (d->auth && pkxd_export_owner(e)) {
		/* A user's share of the running jobs: one user's stalled
		 * downloads and compiles leave the others served. */
		unsigned mine = 0;
		const pkxd_job *j;

		for (j = d->jobs; j; j = j->next_running)
			mine += strcmp(j->owner, pkxd_export_owner(e)) == 0;
		if (mine >= d->max_user_jobs)
			return pkx_fail(
			    err, "SERVICE_BUSY",
			    "%u exports of %s are running, the most "
			    "one user may run at once: try again "
			    "when one is done",
			    mine, pkxd_export_owner(e));
	}
	job = calloc(1, sizeof(*job));
	if (!job)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	if ((kind == PKXD_JOB_SPOOL || kind == PKXD_JOB_TO_FILE) && d->auth &&
	    d->max_user_disk && pkxd_export_owner(e)) {
		job->disk = disk_of(d, pkxd_export_owner(e));
		job->disk_base = spools_of(d, pkxd_export_owner(e));
		if (!job->disk) {
			free(job);
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
		}
		used = job->disk_base +
		       __atomic_load_n(&job->disk->written, __ATOMIC_SEQ_CST);
		if (used >= d->max_user_disk) {
			free(job);
			return pkx_fail(
			    err, "SERVICE_BUSY",
			    "%s's spools and outputs being written take "
			    "%llu bytes of the %llu that user may use "
			    "(--max-user-disk): delete prepared exports first",
			    pkxd_export_owner(e), (unsigned long long)used,
			    (unsigned long long)d->max_user_disk);
		}
	}
	job->kind = kind;
	job->started_ns = pkx_now_ns();
	job->e = e;
	job->d = d;
	job->out_fd = -1;
	pthread_mutex_init(&job->run_mu, NULL);
	job->prepared_ev = event_new(d->base, -1, 0, job_prepared_cb, job);
	job->done_ev = event_new(d->base, -1, 0, job_done_cb, job);
	if (kind == PKXD_JOB_STREAM || kind == PKXD_JOB_SEND_SPOOL) {
		job->stream = stream_new(job, req);
		if (job->stream && span)
			job->stream->span = job->span = *span;
	} else {
		job->req = req;
		job->answer = answer;
	}
	if (!job->prepared_ev || !job->done_ev ||
	    ((kind == PKXD_JOB_STREAM || kind == PKXD_JOB_SEND_SPOOL) &&
	     !job->stream)) {
		if (job->stream)
			stream_detach(job->stream);
		job_free(job);
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* The size a plugin gets on the command line's main thread (a
	 * vendor's compile may recurse deeply); only pages used are real. */
	pthread_attr_setstacksize(&attr, 8u << 20);
	if (pthread_create(&thread, &attr, job_main, job) != 0) {
		pthread_attr_destroy(&attr);
		if (job->stream)
			stream_detach(job->stream);
		job_free(job);
		return pkx_fail(err, PKX_EINTERNAL, "cannot start a thread");
	}
	pthread_attr_destroy(&attr);
	pkxd_export_set_job(e, job);
	d->n_jobs++;
	snprintf(job->owner, sizeof(job->owner), "%s",
	         pkxd_export_owner(e) ? pkxd_export_owner(e) : "");
	job->prev_running = &d->jobs;
	if ((job->next_running = d->jobs))
		d->jobs->prev_running = &job->next_running;
	d->jobs = job;
	return PKX_OK;
}

void pkxd_job_cancel(pkxd_job *job)
{
	pkx_run *run;

	__atomic_store_n(&job->cancelled, 1, __ATOMIC_SEQ_CST);
	pthread_mutex_lock(&job->run_mu);
	run = job->run;
	if (run)
		pkx_run_cancel(run);
	pthread_mutex_unlock(&job->run_mu);
	/* Wakes a worker waiting for the client; the connection is cut
	 * when the job ends. */
	if (job->stream)
		stream_close(job->stream);
}

void pkxd_job_stats(pkxd_job *job, pkx_stats *st, double *progress)
{
	pthread_mutex_lock(&job->run_mu);
	if (job->run) {
		pkx_run_stats(job->run, st);
		*progress = pkx_run_progress(job->run);
	} else if (job->has_final) {
		*st = job->final_stats;
		*progress = job->final_progress;
	}
	pthread_mutex_unlock(&job->run_mu);
}
