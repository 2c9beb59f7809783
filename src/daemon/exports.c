/* The export table: creation, states, timeouts, JSON, and the state files
 * under <root>/.pktexport that let exports survive a restart. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "pkxd.h"

/* Key of the daemon's bookkeeping in a state file. */
#define PKXD_PRIVATE_KEY "_pktexportd"

static const char *const state_names[] = {
    "UNINITIALIZED", "INITIALIZING", "READY",  "RUNNING",
    "STREAMING",     "ERRORS",       "NODATA", "DONE",
};

struct pkxd_export {
	pkxd_daemon *d;
	char id[PKXD_ID_LEN + 1];
	pkx_config *cfg;
	json_t *extra; /* unknown top-level properties, kept as given */
	pkxd_state state;
	char owner[64];
	uint64_t created_ns; /* since the epoch */
	pkx_stats stats;     /* last known; live ones come from the job */
	double progress;
	pkx_error error; /* error.id[0] when there is one */
	int spooled;     /* PREPARE output sits in the spool file */
	int downloaded;  /* a download has started */
	/* DONE, its spool kept a while for a resumed download whose last
	 * bytes were sent but not received (pkxd_export_keep_spool). */
	struct event *resume_timer;
	/* A download that came while another was ending (pkxd_export_park) */
	pkxh_req *waiter;
	void (*again)(pkxd_export *e, pkxh_req *req, int timed_out);
	struct event *wait_timer;
	int deleted;         /* removed from the table, waiting on its job */
	pkxd_job *job;       /* running work, or NULL */
	struct event *timer; /* connection or handle timeout */
	pkxd_export *next;
};

const char *pkxd_state_name(pkxd_state s)
{
	return state_names[s];
}

static int state_from_name(const char *name, pkxd_state *s)
{
	size_t i;

	for (i = 0; i < sizeof(state_names) / sizeof(*state_names); i++)
		if (name && strcmp(name, state_names[i]) == 0) {
			*s = (pkxd_state)i;
			return 0;
		}
	return -1;
}

pkxd_export *pkxd_export_find(pkxd_daemon *d, const char *id)
{
	pkxd_export *e;

	for (e = d->exports; e; e = e->next)
		if (strcmp(e->id, id) == 0)
			return e;
	return NULL;
}

static void new_id(char *out)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t raw[PKXD_ID_LEN / 2];
	size_t i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw)) {
		/* Never reached on Linux >= 3.17; keep ids unique anyway. */
		uint64_t t = pkx_wallclock_ns() ^ (uint64_t)getpid();

		for (i = 0; i < sizeof(raw); i++)
			raw[i] = (uint8_t)(t >> (8 * (i % 8))) ^ (uint8_t)i;
	}
	for (i = 0; i < sizeof(raw); i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
	}
	out[PKXD_ID_LEN] = '\0';
}

pkxd_export *pkxd_export_new(pkxd_daemon *d, pkx_config *cfg, json_t *extra)
{
	pkxd_export *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->d = d;
	do
		new_id(e->id);
	while (pkxd_export_find(d, e->id));
	e->cfg = cfg;
	e->extra = extra;
	e->state = PKXD_INITIALIZING;
	snprintf(e->owner, sizeof(e->owner), "admin");
	e->created_ns = pkx_wallclock_ns();
	e->next = d->exports;
	d->exports = e;
	return e;
}

void pkxd_spool_path(const pkxd_export *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", e->d->spool_dir, e->id);
}

static void state_path(const pkxd_export *e, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.json", e->d->state_dir, e->id);
}

static void free_export(pkxd_export *e)
{
	if (e->timer)
		event_free(e->timer);
	if (e->resume_timer)
		event_free(e->resume_timer);
	if (e->wait_timer)
		event_free(e->wait_timer);
	pkx_config_free(e->cfg);
	json_decref(e->extra);
	free(e);
}

void pkxd_export_release(pkxd_export *e)
{
	if (e->deleted && !e->job)
		free_export(e);
}

static int saver_queue(pkxd_daemon *d, const char *path, char *text,
                       const char *id,
                       void (*done)(pkxd_daemon *, const char *, int, void *),
                       void *arg);

void pkxd_export_delete(pkxd_export *e)
{
	pkxd_export **p;
	char path[PATH_MAX];

	if (e->deleted)
		return;
	for (p = &e->d->exports; *p; p = &(*p)->next)
		if (*p == e) {
			*p = e->next;
			break;
		}
	e->deleted = 1;
	if (e->timer)
		evtimer_del(e->timer);
	if (e->resume_timer)
		evtimer_del(e->resume_timer);
	if (e->waiter) {
		pkxh_req *w = e->waiter;

		e->waiter = NULL;
		evtimer_del(e->wait_timer);
		e->again(e, w, PKXD_PARK_DELETED);
	}
	/* In order after its saves still queued, which would bring it
	 * back. */
	state_path(e, path, sizeof(path));
	if (saver_queue(e->d, path, NULL, e->id, NULL, NULL) != 0)
		unlink(path);
	pkxd_spool_path(e, path, sizeof(path));
	unlink(path);
	if (e->job)
		e->d->job_cancel(e->job); /* freed when the job ends */
	else
		free_export(e);
}

void pkxd_export_set_state(pkxd_export *e, pkxd_state s)
{
	e->state = s;
}

void pkxd_export_fail(pkxd_export *e, const pkx_error *err)
{
	e->state = PKXD_ERRORS;
	e->error = *err;
}

json_t *pkxd_export_json(const pkxd_export *e)
{
	json_t *o = e->extra ? json_deep_copy(e->extra) : json_object();
	json_t *status = json_object();
	pkx_stats st = e->stats;
	double progress = e->progress;
	char created[32];

	if (e->job)
		e->d->job_stats(e->job, &st, &progress);
	pkx_time_format(e->created_ns, created, sizeof(created));
	json_object_set_new(o, "id", json_string(e->id));
	json_object_set_new(o, "config", json_deep_copy(e->cfg->json));
	json_object_set_new(status, "state",
	                    json_string(pkxd_state_name(e->state)));
	json_object_set_new(status, "progress", json_real(progress));
	json_object_set_new(status, "creation_time", json_string(created));
	json_object_set_new(status, "owner", json_string(e->owner));
	json_object_set_new(status, "stats", pkx_stats_to_json(&st));
	if (e->error.id[0])
		json_object_set_new(status, "error",
		                    json_pack("{s:s, s:s, s:[]}", "error_id",
		                              e->error.id, "error_text",
		                              e->error.text, "error_metrics"));
	json_object_set_new(o, "status", status);
	return o;
}

int pkxd_write_durable(const char *path, const char *text, size_t len)
{
	char tmp[PATH_MAX + 8];
	int fd, ok, saved;
	size_t done = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0)
		return -1;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = ENOSPC;
			break;
		}
		done += (size_t)n;
	}
	ok = done == len && fsync(fd) == 0;
	saved = errno;
	ok = close(fd) == 0 && ok;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok) {
		saved = errno ? errno : saved;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	pkxd_sync_folder(path); /* the rename lasts once it is on disk */
	return 0;
}

void pkxd_sync_folder(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	int fd;

	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1,
	         slash ? path : ".");
	if ((fd = open(dir[0] ? dir : "/",
	               O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
}

/* ------------------------------------------------------- the state saver */

/* One save (text) or removal (text NULL) of a state file. */
typedef struct save_item {
	char path[PATH_MAX];
	char *text;
	char id[PKXD_ID_LEN + 1];
	void (*done)(pkxd_daemon *d, const char *id, int err, void *arg);
	void *arg;
	int err;
	struct save_item *next;
} save_item;

typedef struct pkxd_saver {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	save_item *todo, **todo_tail; /* for the thread, in order */
	save_item *done, **done_tail; /* for the loop */
	struct event *done_ev;
	int stopping;
} pkxd_saver;

static void *saver_main(void *arg)
{
	pkxd_daemon *d = arg;
	pkxd_saver *sv = d->saver;

	pthread_mutex_lock(&sv->mu);
	for (;;) {
		save_item *it;

		while (!sv->todo && !sv->stopping)
			pthread_cond_wait(&sv->cv, &sv->mu);
		if (!(it = sv->todo))
			break; /* stopping, nothing left */
		if (!(sv->todo = it->next))
			sv->todo_tail = &sv->todo;
		pthread_mutex_unlock(&sv->mu);
		if (it->text) {
			if (pkxd_write_durable(it->path, it->text,
			                       strlen(it->text)) != 0) {
				it->err = errno;
				pkx_log(PKX_LOG_ERROR, "pktexportd",
				        "cannot save %s: %s", it->path,
				        strerror(it->err));
			}
		} else if (unlink(it->path) != 0 && errno != ENOENT) {
			it->err = errno;
		}
		pthread_mutex_lock(&sv->mu);
		it->next = NULL;
		*sv->done_tail = it;
		sv->done_tail = &it->next;
		if (sv->done_ev)
			event_active(sv->done_ev, EV_READ, 0);
	}
	pthread_mutex_unlock(&sv->mu);
	return NULL;
}

/* On the loop: the callbacks of what the thread has done, in order. */
static void saver_deliver(evutil_socket_t fd, short what, void *arg)
{
	pkxd_daemon *d = arg;
	pkxd_saver *sv = d->saver;
	save_item *list, *it;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&sv->mu);
	list = sv->done;
	sv->done = NULL;
	sv->done_tail = &sv->done;
	pthread_mutex_unlock(&sv->mu);
	while ((it = list)) {
		list = it->next;
		if (it->done)
			it->done(d, it->id, it->err, it->arg);
		free(it->text);
		free(it);
	}
}

int pkxd_saver_start(pkxd_daemon *d)
{
	pkxd_saver *sv = calloc(1, sizeof(*sv));

	if (!sv)
		return -1;
	pthread_mutex_init(&sv->mu, NULL);
	pthread_cond_init(&sv->cv, NULL);
	sv->todo_tail = &sv->todo;
	sv->done_tail = &sv->done;
	sv->done_ev = event_new(d->base, -1, 0, saver_deliver, d);
	d->saver = sv;
	if (!sv->done_ev || pthread_create(&sv->thread, NULL, saver_main, d)) {
		if (sv->done_ev)
			event_free(sv->done_ev);
		pthread_mutex_destroy(&sv->mu);
		pthread_cond_destroy(&sv->cv);
		free(sv);
		d->saver = NULL;
		return -1;
	}
	return 0;
}

void pkxd_saver_stop(pkxd_daemon *d)
{
	pkxd_saver *sv = d->saver;

	if (!sv)
		return;
	pthread_mutex_lock(&sv->mu);
	sv->stopping = 1;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	pthread_join(sv->thread, NULL);
	saver_deliver(-1, 0, d); /* what finished after the loop's end */
	event_free(sv->done_ev);
	pthread_mutex_destroy(&sv->mu);
	pthread_cond_destroy(&sv->cv);
	free(sv);
	d->saver = NULL;
}

/* Queues a save (text) or removal (NULL) of path; owns text. */
static int saver_queue(pkxd_daemon *d, const char *path, char *text,
                       const char *id,
                       void (*done)(pkxd_daemon *, const char *, int, void *),
                       void *arg)
{
	pkxd_saver *sv = d->saver;
	save_item *it = calloc(1, sizeof(*it));

	if (!it || !sv) {
		free(it);
		free(text);
		errno = sv ? ENOMEM : EINVAL;
		return -1;
	}
	snprintf(it->path, sizeof(it->path), "%s", path);
	snprintf(it->id, sizeof(it->id), "%s", id);
	it->text = text;
	it->done = done;
	it->arg = arg;
	pthread_mutex_lock(&sv->mu);
	*sv->todo_tail = it;
	sv->todo_tail = &it->next;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
	return 0;
}

int pkxd_export_save_then(const pkxd_export *e,
                          void (*done)(pkxd_daemon *d, const char *id, int err,
                                       void *arg),
                          void *arg)
{
	char path[PATH_MAX];
	json_t *o = pkxd_export_json(e);
	char *text;

	/* The daemon's own bookkeeping, under a key of its own. */
	json_object_set_new(o, PKXD_PRIVATE_KEY,
	                    json_pack("{s:b, s:b}", "spooled", e->spooled,
	                              "downloaded", e->downloaded));
	state_path(e, path, sizeof(path));
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	if (!text) {
		errno = ENOMEM;
		return -1;
	}
	return saver_queue(e->d, path, text, e->id, done, arg);
}

void pkxd_export_save(const pkxd_export *e)
{
	if (pkxd_export_save_then(e, NULL, NULL) != 0)
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "cannot save the state of export %s: %s", e->id,
		        strerror(errno));
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxd_export *e = arg;

	(void)fd;
	(void)what;
	pkx_log(PKX_LOG_INFO, "pktexportd", "export %s timed out in %s", e->id,
	        pkxd_state_name(e->state));
	pkxd_export_delete(e);
}

/* READY exports wait connection_timeout_msec for someone to act; finished
 * ones stay listed handle_timeout_msec (when given). */
void pkxd_export_arm_timer(pkxd_export *e)
{
	uint64_t ms;
	struct timeval tv;

	if (e->timer)
		evtimer_del(e->timer);
	if (e->state == PKXD_READY || (e->state == PKXD_NODATA && e->spooled))
		ms = e->cfg->connection_timeout_msec;
	else if ((e->state == PKXD_DONE || e->state == PKXD_NODATA ||
	          e->state == PKXD_ERRORS) &&
	         e->cfg->has_handle_timeout)
		ms = e->cfg->handle_timeout_msec;
	else
		return;
	if (ms == 0)
		return; /* 0: no timeout, the export stays until deleted */
	if (!e->timer)
		e->timer = evtimer_new(e->d->base, timeout_cb, e);
	if (!e->timer)
		return;
	if (ms > (uint64_t)INT32_MAX * 1000)
		ms = (uint64_t)INT32_MAX * 1000;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(e->timer, &tv);
}

/* ------------------------------------------------------------- restart */

static pkxd_export *load_one(pkxd_daemon *d, const char *path)
{
	json_error_t jerr;
	json_t *o = json_load_file(path, 0, &jerr), *status, *v;
	pkx_config *cfg = NULL;
	pkx_error err;
	pkxd_export *e = NULL;
	pkxd_state state;
	const char *id, *key;
	uint64_t created = 0;

	if (!o)
		goto bad;
	id = json_string_value(json_object_get(o, "id"));
	status = json_object_get(o, "status");
	if (!id || strlen(id) != PKXD_ID_LEN || !json_is_object(status) ||
	    state_from_name(json_string_value(json_object_get(status, "state")),
	                    &state) != 0 ||
	    pkx_config_parse(json_object_get(o, "config"), &cfg, &err) !=
	        PKX_OK)
		goto bad;
	e = calloc(1, sizeof(*e));
	if (!e)
		goto bad;
	e->d = d;
	memcpy(e->id, id, PKXD_ID_LEN + 1);
	e->cfg = cfg;
	cfg = NULL;
	e->state = state;
	snprintf(e->owner, sizeof(e->owner), "%s",
	         json_string_value(json_object_get(status, "owner"))
	             ? json_string_value(json_object_get(status, "owner"))
	             : "admin");
	if (pkx_time_from_json(json_object_get(status, "creation_time"), "t",
	                       &created, &err) == PKX_OK)
		e->created_ns = created;
	v = json_object_get(status, "stats");
#define STAT(f)                                                                \
	e->stats.f = (uint64_t)json_integer_value(json_object_get(v, #f))
	STAT(processed_packets);
	STAT(exported_packets);
	STAT(exported_bytes);
	STAT(total_bytes);
	STAT(dropped_packets);
	STAT(estimated_packets);
	STAT(estimated_bytes);
#undef STAT
	e->stats.has_estimates =
	    json_object_get(v, "estimated_packets") != NULL;
	e->stats.truncated = json_is_true(json_object_get(v, "truncated"));
	e->progress = json_number_value(json_object_get(status, "progress"));
	v = json_object_get(status, "error");
	if (json_is_object(v)) {
		snprintf(e->error.id, sizeof(e->error.id), "%s",
		         json_string_value(json_object_get(v, "error_id"))
		             ? json_string_value(json_object_get(v, "error_id"))
		             : PKX_EINTERNAL);
		snprintf(
		    e->error.text, sizeof(e->error.text), "%s",
		    json_string_value(json_object_get(v, "error_text"))
		        ? json_string_value(json_object_get(v, "error_text"))
		        : "");
	}
	v = json_object_get(o, PKXD_PRIVATE_KEY);
	e->spooled = json_is_true(json_object_get(v, "spooled"));
	e->downloaded = json_is_true(json_object_get(v, "downloaded"));
	e->extra = json_object();
	json_object_foreach(o, key, v)
	{
		if (strcmp(key, "id") && strcmp(key, "config") &&
		    strcmp(key, "status") && strcmp(key, PKXD_PRIVATE_KEY))
			json_object_set(e->extra, key, v);
	}
	json_decref(o);
	return e;
bad:
	pkx_log(PKX_LOG_WARN, "pktexportd", "ignoring unreadable state file %s",
	        path);
	pkx_config_free(cfg);
	json_decref(o);
	return NULL;
}

/* Work cut short by a restart is not resumed: it is reported. */
static void settle_after_restart(pkxd_export *e)
{
	char spool[PATH_MAX], part[PATH_MAX + 8];

	pkxd_spool_path(e, spool, sizeof(spool));
	snprintf(part, sizeof(part), "%s.part", spool);
	unlink(part);
	if (e->state == PKXD_RUNNING || e->state == PKXD_STREAMING ||
	    e->state == PKXD_INITIALIZING || e->state == PKXD_UNINITIALIZED) {
		if (strcmp(e->cfg->mode, "STREAM_TO_FILE") == 0 &&
		    e->cfg->output_filename) {
			/* Its temporary file never got the final name. */
			char tmp[PATH_MAX * 2];
			const char *slash =
			    strrchr(e->cfg->output_filename, '/');

			snprintf(
			    tmp, sizeof(tmp), "%s/fs/%.*s%s.pktexport-%s.part",
			    e->d->root,
			    slash ? (int)(slash - e->cfg->output_filename) : 0,
			    e->cfg->output_filename, slash ? "/" : "", e->id);
			unlink(tmp);
		}
		e->state = PKXD_ERRORS;
		pkx_fail(&e->error, "SERVICE_RESTARTED",
		         "the service stopped while this export was %s; "
		         "create it again",
		         e->downloaded ? "being downloaded" : "running");
		e->spooled = 0;
		unlink(spool);
	}
	if (!e->spooled)
		unlink(spool); /* one kept for a resume: not past a restart */
	if (e->spooled && access(spool, R_OK) != 0) {
		e->state = PKXD_ERRORS;
		pkx_fail(&e->error, PKX_EINTERNAL,
		         "the prepared packets are gone from the spool");
		e->spooled = 0;
	}
}

int pkxd_exports_load(pkxd_daemon *d)
{
	DIR *dir = opendir(d->state_dir);
	struct dirent *ent;
	int n = 0;

	if (!dir)
		return 0;
	while ((ent = readdir(dir))) {
		char path[PATH_MAX];
		size_t len = strlen(ent->d_name);
		pkxd_export *e;

		if (len != PKXD_ID_LEN + 5 ||
		    strcmp(ent->d_name + PKXD_ID_LEN, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", d->state_dir,
		         ent->d_name);
		e = load_one(d, path);
		if (!e)
			continue;
		if (pkxd_export_find(d, e->id)) {
			free_export(e);
			continue;
		}
		settle_after_restart(e);
		e->next = d->exports;
		d->exports = e;
		pkxd_export_save(e);
		pkxd_export_arm_timer(e);
		n++;
	}
	closedir(dir);
	return n;
}

/* ------------------------------------------------------------- accessors */

pkxd_export *pkxd_export_first(const pkxd_daemon *d)
{
	return d->exports;
}

pkxd_export *pkxd_export_next(const pkxd_export *e)
{
	return e->next;
}

pkxd_daemon *pkxd_export_daemon(const pkxd_export *e)
{
	return e->d;
}

const char *pkxd_export_id(const pkxd_export *e)
{
	return e->id;
}

const pkx_config *pkxd_export_config(const pkxd_export *e)
{
	return e->cfg;
}

void pkxd_export_set_config(pkxd_export *e, pkx_config *cfg)
{
	pkx_config_free(e->cfg);
	e->cfg = cfg;
}

void pkxd_export_set_extra(pkxd_export *e, json_t *extra)
{
	json_decref(e->extra);
	e->extra = extra;
}

pkxd_state pkxd_export_state(const pkxd_export *e)
{
	return e->state;
}

uint64_t pkxd_export_created(const pkxd_export *e)
{
	return e->created_ns;
}

const char *pkxd_export_owner(const pkxd_export *e)
{
	return e->owner;
}

void pkxd_export_set_owner(pkxd_export *e, const char *user)
{
	snprintf(e->owner, sizeof(e->owner), "%s", user);
}

int pkxd_export_deleted(const pkxd_export *e)
{
	return e->deleted;
}

void pkxd_export_clear_downloaded(pkxd_export *e)
{
	e->downloaded = 0;
}

void pkxd_export_set_downloaded(pkxd_export *e, int downloaded)
{
	e->downloaded = downloaded;
}

int pkxd_export_downloaded(const pkxd_export *e)
{
	return e->downloaded;
}

int pkxd_export_spooled(const pkxd_export *e)
{
	return e->spooled;
}

void pkxd_export_set_spooled(pkxd_export *e, int spooled)
{
	e->spooled = spooled;
}

static void wait_over(evutil_socket_t fd, short what, void *arg)
{
	pkxd_export *e = arg;
	pkxh_req *w = e->waiter;

	(void)fd;
	(void)what;
	e->waiter = NULL;
	if (w)
		e->again(e, w, PKXD_PARK_TIMEOUT);
}

int pkxd_export_park(pkxd_export *e, pkxh_req *req,
                     void (*again)(pkxd_export *, pkxh_req *, int), unsigned ms)
{
	struct timeval tv = {(time_t)(ms / 1000),
	                     (suseconds_t)(ms % 1000) * 1000};

	if (e->waiter || e->d->stopping || !e->job)
		return -1;
	if (!e->wait_timer)
		e->wait_timer = evtimer_new(e->d->base, wait_over, e);
	if (!e->wait_timer || evtimer_add(e->wait_timer, &tv) != 0)
		return -1;
	e->waiter = req;
	e->again = again;
	return 0;
}

void pkxd_export_unpark(pkxd_export *e)
{
	pkxh_req *w = e->waiter;

	if (!w)
		return;
	e->waiter = NULL;
	evtimer_del(e->wait_timer);
	e->again(e, w, e->d->stopping ? PKXD_PARK_TIMEOUT : PKXD_PARK_GO);
}

static void resume_over(evutil_socket_t fd, short what, void *arg)
{
	pkxd_export *e = arg;
	char path[PATH_MAX];

	(void)fd;
	(void)what;
	if (e->job)
		return; /* a resumed range is being sent: it ends the wait */
	pkxd_spool_path(e, path, sizeof(path));
	unlink(path);
	event_free(e->resume_timer);
	e->resume_timer = NULL;
}

void pkxd_export_keep_spool(pkxd_export *e)
{
	struct timeval tv = {PKXD_RESUME_KEEP_S, 0};

	e->spooled = 0;
	if (!e->resume_timer)
		e->resume_timer = evtimer_new(e->d->base, resume_over, e);
	if (!e->resume_timer || evtimer_add(e->resume_timer, &tv) != 0) {
		char path[PATH_MAX];

		pkxd_spool_path(e, path, sizeof(path));
		unlink(path);
	}
}

int pkxd_export_spool_kept(const pkxd_export *e)
{
	return e->resume_timer != NULL && e->state == PKXD_DONE;
}

void pkxd_export_spool_resent(pkxd_export *e)
{
	if (e->resume_timer && !evtimer_pending(e->resume_timer, NULL))
		resume_over(-1, 0, e); /* its time ran out meanwhile */
}

pkxd_job *pkxd_export_job(const pkxd_export *e)
{
	return e->job;
}

void pkxd_export_set_job(pkxd_export *e, pkxd_job *job)
{
	e->job = job;
}

const pkx_stats *pkxd_export_stats(const pkxd_export *e)
{
	return &e->stats;
}

void pkxd_export_set_stats(pkxd_export *e, const pkx_stats *st, double progress)
{
	e->stats = *st;
	e->progress = progress;
}

void pkxd_export_note_error(pkxd_export *e, const pkx_error *err)
{
	e->error = *err;
}

void pkxd_export_disarm_timer(pkxd_export *e)
{
	if (e->timer)
		evtimer_del(e->timer);
}

void pkxd_exports_free_all(pkxd_daemon *d)
{
	while (d->exports) {
		pkxd_export *e = d->exports;

		d->exports = e->next;
		e->deleted = 1;
		e->job = NULL;
		pkxd_export_release(e);
	}
}
