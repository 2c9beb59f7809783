/* Capture jobs and VIFGs of npm.packet_capture 3.0: their configuration is
 * one file, <root>/.pktexport/capture.json (what the API changes is what
 * the daemon reads at start), and each enabled job runs as a
 * pktexport-capture process recording into jobs/<name>/.  The daemon never
 * opens a packet socket for a job: the recorder does, and it is the only
 * program that needs CAP_NET_RAW for it.
 *
 * A recorder that ends by itself is started again after a pause that
 * doubles up to a minute, unless it stopped on a failure that waiting
 * does not cure (the disk is full: exit 3), which leaves the job STOPPED
 * with its reason until its configuration is set again. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture_broker.h"
#include "job_id.h"
#include "pkx_paths.h"
#include "pkxd.h"

#define CAP_FILE        "capture.json"
#define CAP_MAX_JOBS    64
#define CAP_MAX_VIFGS   256
#define CAP_MAX_MEMBERS 16   /* interfaces a job records, as the recorder */
#define CAP_MAX_FILTER  4096 /* bytes of a capture filter */
#define CAP_SNAP_MAX    262144
#define CAP_SNAP_DEF    65535 /* the reference's default */
#define CAP_FILE_MAX    (256ull << 20)
#define CAP_FILE_MIN    (1ull << 20)
#define CAP_BACKOFF_MAX 60

extern char **environ;

typedef enum cap_after {
	AFTER_NONE,
	AFTER_START,  /* configuration changed: start again if enabled */
	AFTER_CLEAR,  /* remove its packets, then start again if enabled */
	AFTER_DELETE, /* forget it, and remove its packets unless kept */
} cap_after;

typedef struct cap_job {
	char name[256];
	char id[PKX_JOB_ID_LEN + 1];
	json_t *config; /* as the API gave it, checked */
	pid_t pid;      /* 0: not running */
	int stopping;   /* asked to stop */
	cap_after after;
	int keep_packets;
	unsigned failures; /* ends in a row, for the pause */
	struct event *retry;
	int reply;              /* broker: where its end is told, -1: none */
	struct event *reply_ev; /* on the loop */
	char reason[256]; /* why it stopped by itself, "" when it did not */
	struct pkxd_capture *c;
} cap_job;

struct pkxd_capture {
	pkxd_daemon *d;
	char *file;
	json_t *vifgs; /* [{id, config}] set over the API; NULL: one each */
	cap_job *jobs[CAP_MAX_JOBS];
	size_t n_jobs;
	struct event *sigchld, *kill_timer;
	/* Saving capture.json, on a task thread: one save at a time, each
	 * of what the jobs are when it starts; the changes waiting for the
	 * next one (their replies are sent once it is on disk). */
	int saving;
	struct save_wait *waiting, **waiting_tail;
};

static const char *capture_program(void)
{
	const char *env = getenv("PKTEXPORT_CAPTURE");

	return env && *env ? env : PKX_CAPTURE_PROGRAM;
}

/* ---------------------------------------------------------------- VIFGs */

/* The VIFGs in force: those set over the API, else one per interface of
 * the host (its id the interface's index).  A new reference. */
static json_t *vifgs_now(const pkxd_capture *c)
{
	struct if_nameindex *ifs, *i;
	json_t *out;

	if (c->vifgs)
		return json_incref(c->vifgs);
	out = json_array();
	ifs = if_nameindex();
	for (i = ifs; i && i->if_index; i++)
		json_array_append_new(
		    out, json_pack("{s:I, s:{s:s, s:s, s:b, s:[s], s:b}}", "id",
		                   (json_int_t)i->if_index, "config", "name",
		                   i->if_name, "description", "", "enabled", 1,
		                   "members", i->if_name, "is_other_vifg", 0));
	if (ifs)
		if_freenameindex(ifs);
	return out;
}

static json_t *vifg_find(json_t *vifgs, json_int_t id)
{
	json_t *v;
	size_t i;

	json_array_foreach(vifgs, i, v) if (json_integer_value(json_object_get(
	                                        v, "id")) == id) return v;
	return NULL;
}

/* ------------------------------------------------------------ the file */

static json_t *jobs_json(const pkxd_capture *c)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i]->after != AFTER_DELETE)
			json_array_append_new(
			    a, json_pack("{s:s, s:O}", "id", c->jobs[i]->id,
			                 "config", c->jobs[i]->config));
	return a;
}

/* A change waiting for capture.json to hold it: done(c, arg, ok) on the
 * loop once a save that started after the change has ended. */
typedef struct save_wait {
	struct save_wait *next;
	void (*done)(pkxd_capture *c, void *arg, int ok);
	void *arg;
} save_wait;

typedef struct save_task {
	pkxd_capture *c;
	char *path, *text;
	save_wait *batch; /* the changes this save holds */
	int ok, err;
} save_task;

/* Written through a temporary name, flushed, then renamed (a crash
 * leaves the old file or the new one), off the loop: an fsync waits for
 * the disk, which a recording keeps busy. */
static void save_work(void *arg)
{
	save_task *t = arg;

	t->ok = t->text && t->path &&
	        pkxd_write_durable(t->path, t->text, strlen(t->text)) == 0;
	t->err = errno;
}

static void save_start(pkxd_capture *c);

/* The changes of `w` (a list) told how their save went, and freed. */
static void save_tell(pkxd_capture *c, save_wait *w, int ok)
{
	save_wait *next;

	for (; w; w = next) {
		next = w->next;
		if (w->done)
			w->done(c, w->arg, ok);
		free(w);
	}
}

static void save_done(pkxd_daemon *d, void *arg)
{
	save_task *t = arg;
	pkxd_capture *c = t->c;

	(void)d;
	c->saving = 0;
	if (!t->ok)
		pkx_log(PKX_LOG_ERROR, "pktexportd", "cannot save %s: %s",
		        c->file, strerror(t->err));
	save_tell(c, t->batch, t->ok);
	free(t->text);
	free(t->path);
	free(t);
	if (c->waiting && !c->saving)
		save_start(c);
}

/* The next save, of the jobs as they are now, for every change waiting. */
static void save_start(pkxd_capture *c)
{
	save_task *t = calloc(1, sizeof(*t));
	save_wait *batch = c->waiting;
	json_t *doc;

	c->waiting = NULL;
	c->waiting_tail = &c->waiting;
	if (!t) {
		save_tell(c, batch, 0); /* out of memory */
		return;
	}
	doc = json_pack("{s:i, s:o}", "version", 1, "jobs", jobs_json(c));
	if (doc && c->vifgs)
		json_object_set(doc, "vifgs", c->vifgs);
	t->c = c;
	t->text = doc ? json_dumps(doc, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	t->path = strdup(c->file);
	t->err = ENOMEM;
	t->batch = batch;
	c->saving = 1;
	if (pkxd_task_start(c->d, save_work, save_done, t) != 0) {
		/* No thread to be had: saved here, as the loop must. */
		save_work(t);
		save_done(c->d, t);
	}
}

/* capture.json saved with what the jobs and VIFGs are now; done (may be
 * NULL) is called on the loop once it is on disk, or has failed. */
static void capture_save(pkxd_capture *c,
                         void (*done)(pkxd_capture *c, void *arg, int ok),
                         void *arg)
{
	save_wait *w = calloc(1, sizeof(*w));

	if (!w) {
		if (done)
			done(c, arg, 0);
		return;
	}
	w->done = done;
	w->arg = arg;
	*c->waiting_tail = w;
	c->waiting_tail = &w->next;
	if (!c->saving)
		save_start(c);
}

/* ------------------------------------------------------------ checking */

static int good_name(const char *s)
{
	const unsigned char *p;

	if (!s || !*s || s[0] == '.' || strlen(s) > 200)
		return 0;
	for (p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || *p == '/')
			return 0;
	return 1;
}

/* Seconds as the API writes times and durations: a decimal string (or a
 * number); 0 when absent. */
static int seconds_of(const json_t *v, double *out)
{
	char *end;

	*out = 0;
	if (!v)
		return 0;
	if (json_is_number(v)) {
		*out = json_number_value(v);
	} else if (json_is_string(v)) {
		*out = strtod(json_string_value(v), &end);
		if (end == json_string_value(v) || *end)
			return -1;
	} else {
		return -1;
	}
	return *out >= 0 && *out < 1e10 ? 0 : -1;
}

/* The first key of o that keys does not list, or NULL. */
static const char *unknown_key(const json_t *o, const char *const *keys)
{
	const char *key;
	json_t *v;
	size_t i;
	int known;

	json_object_foreach((json_t *)o, key, v)
	{
		for (known = 0, i = 0; keys[i]; i++)
			known |= strcmp(key, keys[i]) == 0;
		if (!known)
			return key;
	}
	return NULL;
}

static int check_retention(const json_t *r, pkx_error *err)
{
	static const char *const keys[] = {
	    "min_retention_time", "max_retention_time", "min_disk_space",
	    "max_disk_space", NULL};
	const char *key;
	json_t *v;
	double s;

	if (!json_is_object(r))
		return pkx_fail(err, PKX_EINVAL,
		                "config.retention_rules must be an object");
	if ((key = unknown_key(r, keys)))
		return pkx_fail(
		    err, PKX_EINVAL,
		    "config.retention_rules.%.64s is not a retention rule",
		    key);
	json_object_foreach((json_t *)r, key, v)
	{
		if (strstr(key, "disk")
		        ? !json_is_integer(v) || json_integer_value(v) < 0
		        : seconds_of(v, &s) != 0)
			return pkx_fail(
			    err, PKX_EINVAL, "config.retention_rules.%s: %s",
			    key,
			    strstr(key, "disk")
			        ? "a number of bytes (integer, 0: none)"
			        : "seconds as a decimal string (\"0\": "
			          "none)");
	}
	v = json_object_get(r, "max_disk_space");
	if (v && json_integer_value(v) && json_integer_value(v) < (4 << 20))
		return pkx_fail(
		    err, PKX_EINVAL,
		    "config.retention_rules.max_disk_space: at least "
		    "4194304 bytes (4 MiB), or 0 for none");
	return 0;
}

/* A job's configuration as POST or PUT give it.  Filled in with the
 * defaults; the BPF filter is compiled later, off the loop. */
static int check_job(const pkxd_capture *c, json_t *cfg, pkx_error *err)
{
	static const char *const keys[] = {
	    "name",     "enabled",  "vifgs",           "optimize_for_read",
	    "filter",   "snap_len", "retention_rules", "capture_from_all_vifgs",
	    "indexing", NULL};
	json_t *vifgs = vifgs_now(c), *v, *f;
	const char *key;
	size_t i, members = 0;
	int all;

	if (!json_is_object(cfg))
		goto bad_cfg;
	if ((key = unknown_key(cfg, keys))) {
		pkx_fail(err, PKX_EINVAL,
		         "config.%.64s is not a capture job setting", key);
		goto out;
	}
	if (!good_name(json_string_value(json_object_get(cfg, "name")))) {
		pkx_fail(err, PKX_EINVAL,
		         "config.name: a job name (1 to 200 characters, no "
		         "'/', no control characters, not starting with '.')");
		goto out;
	}
	if (!json_is_boolean(json_object_get(cfg, "enabled"))) {
		pkx_fail(err, PKX_EINVAL, "config.enabled: true or false");
		goto out;
	}
	if (!json_object_get(cfg, "optimize_for_read"))
		json_object_set_new(cfg, "optimize_for_read", json_false());
	all = json_is_true(json_object_get(cfg, "capture_from_all_vifgs"));
	v = json_object_get(cfg, "vifgs");
	if (!v && all)
		json_object_set_new(cfg, "vifgs", v = json_array());
	if (!json_is_array(v)) {
		pkx_fail(err, PKX_EINVAL, "config.vifgs: an array of VIFG ids");
		goto out;
	}
	json_array_foreach(all ? vifgs : v, i, f)
	{
		json_t *g = all ? f : vifg_find(vifgs, json_integer_value(f));

		if (!all && (!json_is_integer(f) || !g)) {
			pkx_fail(err, PKX_EINVAL,
			         "config.vifgs[%zu]: no VIFG with that id (GET "
			         "/api/npm.packet_capture/3.0/vifgs)",
			         i);
			goto out;
		}
		members += json_array_size(
		    json_object_get(json_object_get(g, "config"), "members"));
	}
	if (!members || members > CAP_MAX_MEMBERS) {
		pkx_fail(
		    err, PKX_EINVAL,
		    "config.vifgs: the job's VIFGs hold %zu interfaces; a job "
		    "records 1 to %d",
		    members, CAP_MAX_MEMBERS);
		goto out;
	}
	f = json_object_get(cfg, "filter");
	if (f) {
		const char *type =
		    json_string_value(json_object_get(f, "type"));
		const char *val =
		    json_string_value(json_object_get(f, "value"));

		if (!json_is_object(f) || !type || !val ||
		    json_object_size(f) != 2) {
			pkx_fail(
			    err, PKX_EINVAL,
			    "config.filter: {\"type\": \"BPF\", \"value\": "
			    "...}");
			goto out;
		}
		if (*val && strcmp(type, "BPF") != 0) {
			pkx_fail(err, PKX_EINVAL,
			         "config.filter.type: capture filters are BPF "
			         "(the kernel runs them); export filters take "
			         "the other languages");
			goto out;
		}
		if (strlen(val) > CAP_MAX_FILTER) {
			pkx_fail(err, PKX_EINVAL,
			         "config.filter.value: longer than %d bytes",
			         CAP_MAX_FILTER);
			goto out;
		}
	}
	v = json_object_get(cfg, "snap_len");
	if (!v)
		json_object_set_new(cfg, "snap_len",
		                    json_integer(CAP_SNAP_DEF));
	else if (!json_is_integer(v) || json_integer_value(v) < 1 ||
	         json_integer_value(v) > CAP_SNAP_MAX) {
		pkx_fail(err, PKX_EINVAL, "config.snap_len: 1 to %d bytes",
		         CAP_SNAP_MAX);
		goto out;
	}
	v = json_object_get(cfg, "retention_rules");
	if (v && check_retention(v, err) != 0)
		goto out;
	json_decref(vifgs);
	return 0;
bad_cfg:
	pkx_fail(err, PKX_EINVAL, "the body needs a \"config\" object");
out:
	json_decref(vifgs);
	return -1;
}

/* Whether the filter compiles (libpcap's compiler and optimiser, as the
 * recorder will run them): off the loop, for a long filter can take
 * seconds there. */
static int compile_ok(const char *expr, int snaplen, char *why, size_t len)
{
	struct bpf_program prog;
	pcap_t *p = pcap_open_dead(DLT_EN10MB, snaplen);
	int ok;

	if (!p)
		return snprintf(why, len, "out of memory"), 0;
	ok = pcap_compile(p, &prog, expr, 1, PCAP_NETMASK_UNKNOWN) == 0;
	if (ok)
		pcap_freecode(&prog);
	else
		snprintf(why, len, "%s", pcap_geterr(p));
	pcap_close(p);
	return ok;
}

/* -------------------------------------------------------------- running */

static cap_job *job_by_key(const pkxd_capture *c, const char *key)
{
	size_t i;

	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i]->after != AFTER_DELETE &&
		    (strcmp(c->jobs[i]->id, key) == 0 ||
		     strcmp(c->jobs[i]->name, key) == 0))
			return c->jobs[i];
	return NULL;
}

static uint64_t cfg_u64(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* The folder jobs/<name>, made when missing; its descriptor or -1. */
static int job_dir(const pkxd_capture *c, const char *name, int create)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/jobs", c->d->root);
	if (create && mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	snprintf(path, sizeof(path), "%s/jobs/%s", c->d->root, name);
	if (create && mkdir(path, 0755) != 0 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

static void job_spawn(cap_job *j);
static void on_reply(evutil_socket_t fd, short what, void *arg);

static void retry_cb(evutil_socket_t fd, short what, void *arg)
{
	cap_job *j = arg;

	(void)fd;
	(void)what;
	if (!j->pid && !j->c->d->stopping &&
	    json_is_true(json_object_get(j->config, "enabled")))
		job_spawn(j);
}

/* Runs pktexport-capture for the job: its interfaces are the members of
 * its VIFGs; its output goes to jobs/<name>/.recorder.log. */
static void job_spawn(cap_job *j)
{
	pkxd_capture *c = j->c;
	const json_t *cfg = j->config;
	const json_t *ret = json_object_get(cfg, "retention_rules");
	json_t *vifgs = vifgs_now(c), *v, *m;
	char *argv[64], snap[32], fsize[32], msize[32], age[32];
	const char *filter = json_string_value(
	    json_object_get(json_object_get(cfg, "filter"), "value"));
	int all = json_is_true(json_object_get(cfg, "capture_from_all_vifgs"));
	posix_spawn_file_actions_t fa;
	size_t n = 0, i, k, first_if;
	uint64_t max = cfg_u64(ret, "max_disk_space"), file = CAP_FILE_MAX;
	double secs = 0;
	int dfd, logfd, rc;

	j->reason[0] = '\0';
	argv[n++] = (char *)"pktexport-capture";
	argv[n++] = (char *)"--root";
	argv[n++] = c->d->root;
	snprintf(
	    snap, sizeof(snap), "%lld",
	    (long long)json_integer_value(json_object_get(cfg, "snap_len")));
	argv[n++] = (char *)"--snaplen";
	argv[n++] = snap;
	if (filter && *filter) {
		argv[n++] = (char *)"--filter";
		argv[n++] = (char *)filter;
	}
	if (max) {
		/* Files of a sixteenth of the limit: retention then frees
		 * space in steps of about 6%. */
		file = max / 16;
		if (file > CAP_FILE_MAX)
			file = CAP_FILE_MAX;
		if (file < CAP_FILE_MIN)
			file = CAP_FILE_MIN;
		snprintf(msize, sizeof(msize), "%llu", (unsigned long long)max);
		argv[n++] = (char *)"--max-size";
		argv[n++] = msize;
	}
	if ((uint64_t)atoll(snap) + 4096 > file)
		file = (uint64_t)atoll(snap) + 4096;
	snprintf(fsize, sizeof(fsize), "%llu", (unsigned long long)file);
	argv[n++] = (char *)"--file-size";
	argv[n++] = fsize;
	if (seconds_of(json_object_get(ret, "max_retention_time"), &secs) ==
	        0 &&
	    secs >= 1) {
		snprintf(age, sizeof(age), "%.0f", secs);
		argv[n++] = (char *)"--max-age";
		argv[n++] = age;
	}
	argv[n++] = j->name;
	first_if = n;
	json_array_foreach(all ? vifgs : json_object_get(cfg, "vifgs"), i, v)
	{
		json_t *g = all ? v : vifg_find(vifgs, json_integer_value(v));

		json_array_foreach(
		    json_object_get(json_object_get(g, "config"), "members"), k,
		    m)
		{
			const char *name = json_string_value(m);
			size_t x;

			for (x = first_if; x < n && name; x++)
				if (strcmp(argv[x], name) == 0)
					name = NULL;
			if (name && n < 62)
				argv[n++] = (char *)name;
		}
	}
	argv[n] = NULL;
	dfd = job_dir(c, j->name, 1);
	logfd =
	    dfd >= 0
	        ? openat(dfd, ".recorder.log",
	                 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW,
	                 0644)
	        : -1;
	if (dfd >= 0)
		close(dfd);
	if (n == first_if || logfd < 0) {
		snprintf(j->reason, sizeof(j->reason), "%s",
		         n == first_if ? "its VIFGs hold no interface"
		                       : "cannot write in its folder");
		pkx_log(PKX_LOG_ERROR, "pktexportd", "capture job %s: %s",
		        j->name, j->reason);
		if (logfd >= 0)
			close(logfd);
		json_decref(vifgs);
		return;
	}
	if (pkx_broker_fd() >= 0) {
		/* The broker holds the capture capability: it runs it. */
		j->pid = pkx_broker_spawn(pkx_broker_fd(),
		                          (const char *const *)argv + 1, logfd,
		                          logfd, &j->reply);
		rc = j->pid < 0 ? errno : 0;
		if (!rc) {
			if (!j->reply_ev)
				j->reply_ev = event_new(c->d->base, j->reply,
				                        EV_READ, on_reply, j);
			else
				event_assign(j->reply_ev, c->d->base, j->reply,
				             EV_READ, on_reply, j);
			if (j->reply_ev) {
				event_add(j->reply_ev, NULL);
			} else {
				/* Its end could not be watched: it does
				 * not run unwatched. */
				pkx_capture_stop(j->pid, &j->reply, 1000);
				rc = ENOMEM;
			}
		}
	} else {
		posix_spawn_file_actions_init(&fa);
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
		                                 0);
		posix_spawn_file_actions_adddup2(&fa, logfd, 1);
		posix_spawn_file_actions_adddup2(&fa, logfd, 2);
		rc = posix_spawn(&j->pid, capture_program(), &fa, NULL, argv,
		                 environ);
		posix_spawn_file_actions_destroy(&fa);
	}
	close(logfd);
	json_decref(vifgs);
	if (rc != 0) {
		j->pid = 0;
		snprintf(j->reason, sizeof(j->reason), "cannot run %s: %s",
		         capture_program(), strerror(rc));
		pkx_log(PKX_LOG_ERROR, "pktexportd", "capture job %s: %s",
		        j->name, j->reason);
		return;
	}
	j->stopping = 0;
	pkx_log(PKX_LOG_INFO, "pktexportd",
	        "capture job %s: recording (process %ld)", j->name,
	        (long)j->pid);
}

static void job_stop(cap_job *j)
{
	if (j->retry)
		evtimer_del(j->retry);
	if (j->pid && !j->stopping) {
		j->stopping = 1;
		kill(j->pid, SIGTERM);
	}
}

/* The last line the recorder wrote to its log: why it ended. */
static void last_words(const pkxd_capture *c, cap_job *j)
{
	char buf[1024], *line, *nl;
	int dfd = job_dir(c, j->name, 0);
	int fd = dfd >= 0 ? openat(dfd, ".recorder.log",
	                           O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
	                  : -1;
	struct stat st;
	ssize_t n = 0;

	if (fd >= 0 && fstat(fd, &st) == 0) {
		off_t at = st.st_size > (off_t)sizeof(buf) - 1
		               ? st.st_size - (off_t)sizeof(buf) + 1
		               : 0;

		n = pread(fd, buf, sizeof(buf) - 1, at);
	}
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	buf[n > 0 ? n : 0] = '\0';
	while ((nl = strrchr(buf, '\n')) && !nl[1])
		*nl = '\0';
	line = strrchr(buf, '\n');
	line = line ? line + 1 : buf;
	/* "pktexport-capture: NAME: ..." said it; the rest is the reason. */
	if (strncmp(line, "pktexport-capture: ", 19) == 0) {
		char *p = strstr(line + 19, ": ");

		line = p ? p + 2 : line + 19;
	}
	if (strncmp(line, "stopping: ", 10) == 0)
		line += 10;
	if (*line)
		snprintf(j->reason, sizeof(j->reason), "%.250s", line);
}

/* Removes the job's captures, indexes and recorder files (and the folder
 * when delete), off the loop. */
typedef struct purge {
	char *dir;
	int folder;
} purge;

/* One pass over the job's folder: its captures, recorder files and
 * index files removed (all of them, with the folder itself, when
 * `folder`); 0 when the folder is gone (or was kept), else -1. */
static int purge_pass(const purge *p)
{
	int dfd = open(p->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int ifd = dfd >= 0
	              ? openat(dfd, ".index",
	                       O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
	              : -1;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		int fd = pass ? dfd : ifd;
		DIR *d = fd >= 0 ? fdopendir(dup(fd)) : NULL;
		struct dirent *de;

		if (!d)
			continue;
		rewinddir(d);
		while ((de = readdir(d))) {
			size_t l = strlen(de->d_name);
			int ours = pass == 0 ||
			           (l > 5 &&
			            strcmp(de->d_name + l - 5, ".pcap") == 0) ||
			           (l > 7 && strcmp(de->d_name + l - 7,
			                            ".pcapng") == 0) ||
			           strncmp(de->d_name, ".recorder.", 10) == 0 ||
			           (de->d_name[0] == '.' &&
			            strstr(de->d_name, ".new"));

			if (de->d_type == DT_REG && ours &&
			    (p->folder || strcmp(de->d_name, ".recorder.log")))
				unlinkat(fd, de->d_name, 0);
		}
		closedir(d);
	}
	if (ifd >= 0)
		close(ifd);
	if (dfd >= 0) {
		if (p->folder) {
			unlinkat(dfd, ".index", AT_REMOVEDIR);
		}
		close(dfd);
	}
	return !p->folder || rmdir(p->dir) == 0 || errno == ENOENT ? 0 : -1;
}

static void purge_work(void *arg)
{
	purge *p = arg;
	int tries;

	/* A listing running meanwhile may write an index file into the
	 * folder as it goes: the passes are made again then. */
	for (tries = 0; tries < 3; tries++)
		if (purge_pass(p) == 0)
			return;
	pkx_log(PKX_LOG_WARN, "pktexportd",
	        "%s: left in place (it holds files that are not the "
	        "job's): %s",
	        p->dir, strerror(errno));
}

static void purge_done(pkxd_daemon *d, void *arg)
{
	purge *p = arg;

	(void)d;
	free(p->dir);
	free(p);
	pkxd_idle(d);
}

static void purge_start(pkxd_capture *c, const char *name, int folder)
{
	purge *p = calloc(1, sizeof(*p));

	if (p && asprintf(&p->dir, "%s/jobs/%s", c->d->root, name) > 0) {
		p->folder = folder;
		if (pkxd_task_start(c->d, purge_work, purge_done, p) == 0)
			return;
		free(p->dir);
	}
	free(p);
	pkx_log(PKX_LOG_ERROR, "pktexportd",
	        "capture job %s: cannot remove its packets now", name);
}

static void job_free(cap_job *j)
{
	if (j->retry)
		event_free(j->retry);
	if (j->reply_ev)
		event_free(j->reply_ev);
	if (j->reply >= 0)
		close(j->reply);
	json_decref(j->config);
	free(j);
}

static void job_remove(pkxd_capture *c, cap_job *j)
{
	size_t i;

	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i] == j) {
			memmove(c->jobs + i, c->jobs + i + 1,
			        (c->n_jobs - i - 1) * sizeof(*c->jobs));
			c->n_jobs--;
			break;
		}
	job_free(j);
}

/* The job is not running: what was asked of it while it was. */
static void job_settle(pkxd_capture *c, cap_job *j)
{
	cap_after after = j->after;

	j->after = AFTER_NONE;
	if (after == AFTER_DELETE) {
		if (!j->keep_packets)
			purge_start(c, j->name, 1);
		job_remove(c, j);
		return;
	}
	if (after == AFTER_CLEAR)
		purge_start(c, j->name, 0);
	if (after != AFTER_NONE && !c->d->stopping &&
	    json_is_true(json_object_get(j->config, "enabled")))
		job_spawn(j);
}

/* The job's recorder ended with wait status st. */
static void job_ended(pkxd_capture *c, cap_job *j, int st)
{
	j->pid = 0;
	if (j->stopping) {
		j->stopping = 0;
		pkx_log(PKX_LOG_INFO, "pktexportd", "capture job %s: stopped",
		        j->name);
		job_settle(c, j); /* may free j */
		return;
	}
	last_words(c, j);
	if (WIFEXITED(st) && (WEXITSTATUS(st) == 3 || WEXITSTATUS(st) == 2)) {
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "capture job %s: stopped: %s", j->name, j->reason);
		return;
	}
	{
		unsigned pause = 1u << (j->failures < 6 ? j->failures : 6);
		struct timeval tv = {
		    pause > CAP_BACKOFF_MAX ? CAP_BACKOFF_MAX : pause, 0};

		j->failures++;
		if (!j->retry)
			j->retry = evtimer_new(c->d->base, retry_cb, j);
		if (j->retry)
			evtimer_add(j->retry, &tv);
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "capture job %s: ended (%s %d): %s; starting again in "
		        "%ld s",
		        j->name, WIFEXITED(st) ? "exit" : "signal",
		        WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st),
		        j->reason[0] ? j->reason : "no reason given",
		        (long)tv.tv_sec);
	}
}

/* A recorder the broker ran ended (or the broker did). */
static void on_reply(evutil_socket_t fd, short what, void *arg)
{
	cap_job *j = arg;
	pkxd_capture *c = j->c;
	int st = pkx_broker_wait(&j->reply, 0);

	(void)fd;
	(void)what;
	if (st == -1) {
		event_add(j->reply_ev, NULL);
		return;
	}
	job_ended(c, j, st);
	pkxd_idle(c->d);
}

/* A recorder this process ran itself ended. */
static void on_child(evutil_socket_t sig, short what, void *arg)
{
	pkxd_capture *c = arg;
	size_t i;

	(void)sig;
	(void)what;
	for (i = 0; i < c->n_jobs; i++) {
		cap_job *j = c->jobs[i];
		int st = 0;

		if (!j->pid || j->reply >= 0 ||
		    waitpid(j->pid, &st, WNOHANG) != j->pid)
			continue;
		job_ended(c, j, st);
		i = (size_t)-1; /* the list may have changed */
	}
	pkxd_idle(c->d);
}

static cap_job *job_new(pkxd_capture *c, const char *name, json_t *cfg)
{
	cap_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	snprintf(j->name, sizeof(j->name), "%s", name);
	pkx_job_id(name, j->id);
	j->config = json_incref(cfg);
	j->c = c;
	j->reply = -1;
	c->jobs[c->n_jobs++] = j;
	return j;
}

/* ---------------------------------------------------------------- start */

int pkxd_capture_start(pkxd_daemon *d)
{
	pkxd_capture *c = calloc(1, sizeof(*c));
	json_error_t jerr;
	json_t *doc, *jobs, *v;
	pkx_error err;
	size_t i;

	if (!c || asprintf(&c->file, "%s/.pktexport/" CAP_FILE, d->root) < 0)
		return -1;
	c->d = d;
	c->waiting_tail = &c->waiting;
	d->capture = c;
	c->sigchld = evsignal_new(d->base, SIGCHLD, on_child, c);
	if (!c->sigchld || evsignal_add(c->sigchld, NULL) != 0)
		return -1;
	doc = json_load_file(c->file, JSON_REJECT_DUPLICATES, &jerr);
	if (!doc) {
		if (access(c->file, F_OK) == 0) {
			fprintf(stderr, "pktexportd: %s: %s (line %d)\n",
			        c->file, jerr.text, jerr.line);
			return -1;
		}
		return 0;
	}
	v = json_object_get(doc, "vifgs");
	if (json_is_array(v))
		c->vifgs = json_incref(v);
	jobs = json_object_get(doc, "jobs");
	json_array_foreach(jobs, i, v)
	{
		json_t *cfg = json_deep_copy(json_object_get(v, "config"));
		const char *name =
		    json_string_value(json_object_get(cfg, "name"));
		cap_job *j;

		if (c->n_jobs == CAP_MAX_JOBS || check_job(c, cfg, &err) != 0 ||
		    job_by_key(c, name)) {
			fprintf(
			    stderr, "pktexportd: %s: job %zu: %s\n", c->file, i,
			    c->n_jobs == CAP_MAX_JOBS ? "too many jobs"
			    : job_by_key(c, name) ? "a second job of that name"
			                          : err.text);
			json_decref(cfg);
			json_decref(doc);
			return -1;
		}
		j = job_new(c, name, cfg);
		json_decref(cfg);
		if (j && json_is_true(json_object_get(j->config, "enabled")))
			job_spawn(j);
	}
	json_decref(doc);
	return 0;
}

/* Stopping: a recorder that did not end within this is killed (what it
 * wrote stays exact; its last index is rebuilt by readers). */
#define CAP_STOP_WAIT 10

static void kill_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxd_capture *c = arg;
	size_t i;

	(void)fd;
	(void)what;
	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i]->pid) {
			pkx_log(
			    PKX_LOG_ERROR, "pktexportd",
			    "capture job %s: not stopped after %d s: killed",
			    c->jobs[i]->name, CAP_STOP_WAIT);
			kill(c->jobs[i]->pid, SIGKILL);
		}
}

void pkxd_capture_stop(pkxd_daemon *d)
{
	pkxd_capture *c = d->capture;
	struct timeval tv = {CAP_STOP_WAIT, 0};
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n_jobs; i++)
		job_stop(c->jobs[i]);
	if (!c->kill_timer)
		c->kill_timer = evtimer_new(d->base, kill_cb, c);
	if (c->kill_timer)
		evtimer_add(c->kill_timer, &tv);
}

int pkxd_capture_busy(const pkxd_daemon *d)
{
	const pkxd_capture *c = d->capture;
	size_t i;
	int n = 0;

	for (i = 0; c && i < c->n_jobs; i++)
		n += c->jobs[i]->pid != 0;
	return n + (c && (c->saving || c->waiting));
}

void pkxd_capture_free(pkxd_daemon *d)
{
	pkxd_capture *c = d->capture;
	size_t i;

	if (!c)
		return;
	/* A recorder still running is waited for a moment, then killed:
	 * what it wrote stays exact (its index is rebuilt). */
	for (i = 0; i < c->n_jobs; i++)
		if (c->jobs[i]->pid)
			pkx_capture_stop(c->jobs[i]->pid, &c->jobs[i]->reply,
			                 10000);
	for (i = 0; i < c->n_jobs; i++)
		job_free(c->jobs[i]);
	if (c->sigchld)
		event_free(c->sigchld);
	if (c->kill_timer)
		event_free(c->kill_timer);
	json_decref(c->vifgs);
	free(c->file);
	free(c);
	d->capture = NULL;
}

/* ---------------------------------------------------------------- the API */

/* What the job's own status file adds: per interface counts. */
static json_t *recorder_status(const pkxd_capture *c, const cap_job *j)
{
	int dfd = job_dir(c, j->name, 0);
	int fd = dfd >= 0 ? openat(dfd, ".recorder.json",
	                           O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
	                  : -1;
	json_t *o = NULL;

	if (fd >= 0) {
		o = json_loadfd(fd, 0, NULL);
		close(fd);
	}
	if (dfd >= 0)
		close(dfd);
	return o;
}

json_t *pkxd_capture_job_json(const pkxd_daemon *d, const char *name,
                              json_t *stored)
{
	const pkxd_capture *c = d->capture;
	const cap_job *j = c ? job_by_key(c, name) : NULL;
	json_t *o, *status, *st;

	if (!j)
		return NULL;
	o = json_pack("{s:s, s:O}", "id", j->id, "config", j->config);
	if (stored && json_object_get(stored, "state"))
		json_object_set(o, "state", json_object_get(stored, "state"));
	else
		json_object_set_new(
		    o, "state",
		    json_pack("{s:{s:{s:I}, s:{s:I}}, s:{s:s, s:s, s:s, s:I, "
		              "s:I}}",
		              "stats", "packets_written", "total",
		              (json_int_t)0, "bytes_written", "total",
		              (json_int_t)0, "status", "state", "STOPPED",
		              "packet_start_time", "0", "packet_end_time", "0",
		              "capture_size", (json_int_t)0,
		              "capture_disk_space", (json_int_t)0));
	status = json_object_get(json_object_get(o, "state"), "status");
	json_object_set_new(status, "state",
	                    json_string(j->pid ? "RUNNING" : "STOPPED"));
	/* Why a job that should record does not: an extension of the
	 * reference's status (doc/api.md). */
	if (!j->pid && j->reason[0])
		json_object_set_new(status, "reason", json_string(j->reason));
	st = recorder_status(c, j);
	if (st && json_is_array(json_object_get(st, "interfaces")))
		json_object_set(json_object_get(o, "state"), "interfaces",
		                json_object_get(st, "interfaces"));
	json_decref(st);
	return o;
}

int pkxd_capture_is_job(const pkxd_daemon *d, const char *name)
{
	return d->capture && job_by_key(d->capture, name) != NULL;
}

void pkxd_capture_each_job(const pkxd_daemon *d,
                           void (*fn)(const char *name, void *arg), void *arg)
{
	const pkxd_capture *c = d->capture;
	size_t i;

	for (i = 0; c && i < c->n_jobs; i++)
		if (c->jobs[i]->after != AFTER_DELETE)
			fn(c->jobs[i]->name, arg);
}

/* A change waiting for its filter to be compiled. */
typedef struct change {
	pkxd_capture *c;
	pkxh_req *req;
	json_t *cfg;
	char key[PKX_JOB_ID_LEN + 1]; /* PUT: the job's id */
	int ok;
	char why[PCAP_ERRBUF_SIZE + 64];
} change;

static void change_work(void *arg)
{
	change *ch = arg;
	const char *f = json_string_value(
	    json_object_get(json_object_get(ch->cfg, "filter"), "value"));

	ch->ok = !f || !*f ||
	         compile_ok(f,
	                    (int)json_integer_value(
	                        json_object_get(ch->cfg, "snap_len")),
	                    ch->why, sizeof(ch->why));
}

static void reply_job(pkxd_capture *c, pkxh_req *req, int code, cap_job *j)
{
	json_t *o = pkxd_capture_job_json(c->d, j->name, NULL);

	pkxd_reply_json(req, code, o);
}

/* A new job's configuration on disk (or not): it starts, or is taken
 * back. */
static void job_created(pkxd_capture *c, void *arg, int ok)
{
	change *ch = arg;
	const char *name = json_string_value(json_object_get(ch->cfg, "name"));
	cap_job *j = job_by_key(c, name);

	if (!ok) {
		if (j && !j->pid)
			job_remove(c, j);
		pkxd_reply_error(ch->req, 500, PKX_EINTERNAL,
		                 "cannot save the capture configuration");
	} else if (!j) {
		pkxd_reply_error(ch->req, 404, PKX_ENOTFOUND,
		                 "no capture job %s (deleted meanwhile)", name);
	} else {
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "capture job %s created by %s", name,
		        pkxh_user(ch->req) ? pkxh_user(ch->req) : "-");
		if (json_is_true(json_object_get(j->config, "enabled")) &&
		    !j->pid && j->after != AFTER_DELETE)
			job_spawn(j);
		reply_job(c, ch->req, 201, j);
	}
	json_decref(ch->cfg);
	free(ch);
}

/* A job's new configuration on disk (or not): it restarts with it. */
static void job_changed(pkxd_capture *c, void *arg, int ok)
{
	change *ch = arg;
	cap_job *j = job_by_key(c, ch->key);

	if (!ok) {
		pkxd_reply_error(ch->req, 500, PKX_EINTERNAL,
		                 "cannot save the capture configuration");
	} else if (!j || j->after == AFTER_DELETE) {
		pkxd_reply_error(ch->req, 404, PKX_ENOTFOUND,
		                 "no capture job %s (deleted meanwhile)",
		                 ch->key);
	} else {
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "capture job %s set by %s (%s)", j->name,
		        pkxh_user(ch->req) ? pkxh_user(ch->req) : "-",
		        json_is_true(json_object_get(j->config, "enabled"))
		            ? "enabled"
		            : "disabled");
		if (j->pid) {
			j->after = AFTER_START;
			job_stop(j);
		} else {
			if (j->retry)
				evtimer_del(j->retry);
			j->after = AFTER_START;
			job_settle(c, j);
		}
		reply_job(c, ch->req, 200, j);
	}
	json_decref(ch->cfg);
	free(ch);
}

static void change_done(pkxd_daemon *d, void *arg)
{
	change *ch = arg;
	pkxd_capture *c = ch->c;
	const char *name = json_string_value(json_object_get(ch->cfg, "name"));
	cap_job *j;
	int dfd;

	(void)d;
	if (!ch->ok) {
		pkxd_reply_error(ch->req, 400, PKX_EINVAL,
		                 "config.filter.value: %s", ch->why);
		goto out;
	}
	if (!ch->key[0]) {
		/* POST: the name may have been taken meanwhile. */
		if (job_by_key(c, name)) {
			pkxd_reply_error(ch->req, 409, PKXD_ECONFLICT,
			                 "a capture job is named %s already",
			                 name);
			goto out;
		}
		if (c->n_jobs == CAP_MAX_JOBS) {
			pkxd_reply_error(ch->req, 409, PKXD_ECONFLICT,
			                 "%d capture jobs at most",
			                 CAP_MAX_JOBS);
			goto out;
		}
		dfd = job_dir(c, name, 1);
		if (dfd < 0) {
			pkxd_reply_error(ch->req, 500, PKX_EINTERNAL,
			                 "cannot make jobs/%s: %s", name,
			                 strerror(errno));
			goto out;
		}
		close(dfd);
		if (!job_new(c, name, ch->cfg)) {
			pkxd_reply_error(ch->req, 503, PKX_EBUSY,
			                 "out of memory");
			goto out;
		}
		capture_save(c, job_created, ch);
		return; /* ch is job_created's */
	}
	j = job_by_key(c, ch->key);
	if (!j) {
		pkxd_reply_error(ch->req, 404, PKX_ENOTFOUND,
		                 "no capture job %s (deleted meanwhile)",
		                 ch->key);
		goto out;
	}
	json_decref(j->config);
	j->config = json_incref(ch->cfg);
	j->failures = 0;
	j->reason[0] = '\0';
	capture_save(c, job_changed, ch);
	return; /* ch is job_changed's */
out:
	json_decref(ch->cfg);
	free(ch);
}

static void job_change(pkxd_capture *c, pkxh_req *req, const cap_job *j)
{
	json_t *body = pkxd_read_body(req), *cfg;
	change *ch;
	pkx_error err;
	const char *key;
	json_t *v;

	if (!body)
		return;
	json_object_foreach(body, key, v) if (strcmp(key, "config") &&
	                                      strcmp(key, "id") &&
	                                      strcmp(key, "state"))
	{
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "%.64s is not a property of a capture job",
		                 key);
		json_decref(body);
		return;
	}
	cfg = json_deep_copy(json_object_get(body, "config"));
	json_decref(body);
	if (check_job(c, cfg, &err) != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL, "%s", err.text);
		json_decref(cfg);
		return;
	}
	if (j && strcmp(j->name,
	                json_string_value(json_object_get(cfg, "name"))) != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "config.name: a capture job keeps its name "
		                 "(%s); make a new job for another",
		                 j->name);
		json_decref(cfg);
		return;
	}
	ch = calloc(1, sizeof(*ch));
	if (!ch) {
		json_decref(cfg);
		pkxd_reply_error(req, 503, PKX_EBUSY, "out of memory");
		return;
	}
	ch->c = c;
	ch->req = req;
	ch->cfg = cfg;
	if (j)
		snprintf(ch->key, sizeof(ch->key), "%s", j->id);
	if (pkxd_tasks_busy() >= PKXD_MAX_LISTINGS ||
	    pkxd_task_start(c->d, change_work, change_done, ch) != 0) {
		json_decref(cfg);
		free(ch);
		pkxd_reply_error(req, 503, PKX_EBUSY,
		                 "busy: try again in a moment");
	}
}

static int query_true(pkxh_req *req, const char *name)
{
	const char *q = evhttp_uri_get_query(pkxh_uri(req));
	size_t n = strlen(name);

	while (q && *q) {
		if (strncmp(q, name, n) == 0 && q[n] == '=' &&
		    (strncmp(q + n + 1, "true", 4) == 0 ||
		     strncmp(q + n + 1, "1", 1) == 0))
			return 1;
		q = strchr(q, '&');
		if (q)
			q++;
	}
	return 0;
}

/* POST jobs, PUT/DELETE jobs/items/{id}, POST jobs/items/{id}/clear. */
int pkxd_capture_jobs_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                          pkxh_method m)
{
	pkxd_capture *c = d->capture;
	char key[PKX_JOB_ID_LEN + 256];
	const char *slash;
	cap_job *j;
	int clear = 0;

	if (!c)
		return 0;
	if (strcmp(rest, "jobs") == 0) {
		if (m != PKXH_POST)
			return 0;
		job_change(c, req, NULL);
		return 1;
	}
	if (strncmp(rest, "jobs/items/", 11) != 0 || !rest[11])
		return 0;
	rest += 11;
	slash = strchr(rest, '/');
	if (slash && strcmp(slash, "/clear") != 0)
		return 0;
	clear = slash != NULL;
	snprintf(key, sizeof(key), "%.*s",
	         (int)(slash ? (size_t)(slash - rest) : strlen(rest)), rest);
	j = job_by_key(c, key);
	if (clear ? m != PKXH_POST : m != PKXH_PUT && m != PKXH_DELETE)
		return 0;
	if (!j) {
		/* A store under jobs/ that no configuration records: */
		pkxd_reply_error(req, m == PKXH_DELETE || clear ? 409 : 404,
		                 m == PKXH_DELETE || clear ? PKXD_ECONFLICT
		                                           : PKX_ENOTFOUND,
		                 "no configured capture job %.64s%s", key,
		                 m == PKXH_DELETE || clear
		                     ? " (a store made by `pktexport store "
		                       "import` is managed on the host)"
		                     : "");
		return 1;
	}
	if (m == PKXH_PUT) {
		job_change(c, req, j);
		return 1;
	}
	if (clear) {
		j->after = AFTER_CLEAR;
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "capture job %s: packets cleared by %s", j->name,
		        pkxh_user(req) ? pkxh_user(req) : "-");
	} else {
		j->after = AFTER_DELETE;
		j->keep_packets = query_true(req, "keep_packets");
		capture_save(c, NULL, NULL); /* the job goes in any case */
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "capture job %s deleted by %s (%s)", j->name,
		        pkxh_user(req) ? pkxh_user(req) : "-",
		        j->keep_packets ? "packets kept" : "with its packets");
	}
	pkxh_reply(req, 204, NULL);
	if (j->pid)
		job_stop(j);
	else
		job_settle(c, j);
	return 1;
}

/* ----------------------------------------------------------------- VIFGs */

static json_t *vifg_state(json_t *g)
{
	json_t *o = json_deep_copy(g), *m;
	json_int_t mtu = 0, speed = 0, bytes = 0, pkts = 0;
	size_t i;

	json_array_foreach(
	    json_object_get(json_object_get(g, "config"), "members"), i, m)
	{
		char path[256], buf[64];
		const char *what[] = {"mtu", "speed", "statistics/rx_bytes",
		                      "statistics/rx_packets"};
		json_int_t *to[] = {&mtu, &speed, &bytes, &pkts};
		size_t k;

		for (k = 0; k < 4; k++) {
			FILE *f;

			snprintf(path, sizeof(path), "/sys/class/net/%s/%s",
			         json_string_value(m), what[k]);
			f = strchr(json_string_value(m), '/')
			        ? NULL
			        : fopen(path, "re");
			if (f && fgets(buf, sizeof(buf), f)) {
				json_int_t v = atoll(buf);

				if (k == 0)
					mtu = v > mtu ? v : mtu;
				else if (v > 0)
					*to[k] += v;
			}
			if (f)
				fclose(f);
		}
	}
	json_object_set_new(
	    o, "state",
	    json_pack("{s:I, s:I, s:{s:{s:I}, s:{s:I}, s:{s:I}}}", "mtu", mtu,
	              "bandwidth_capacity", speed, "stats", "bytes_received",
	              "total", bytes, "packets_received", "total", pkts,
	              "packets_duped", "total", (json_int_t)0));
	return o;
}

static int check_vifg(json_t *cfg, pkx_error *err)
{
	static const char *const keys[] = {
	    "name",          "description", "enabled", "members",
	    "is_other_vifg", "filter",      "dedup",   "bandwidth_capacity",
	    "flow_export",   NULL};
	const char *key;
	json_t *v;
	size_t i;

	if (!json_is_object(cfg))
		return pkx_fail(err, PKX_EINVAL,
		                "the body needs a \"config\" object");
	if ((key = unknown_key(cfg, keys)))
		return pkx_fail(err, PKX_EINVAL,
		                "config.%.64s is not a VIFG setting", key);
	if (!good_name(json_string_value(json_object_get(cfg, "name"))))
		return pkx_fail(err, PKX_EINVAL,
		                "config.name: a name (1 to 200 characters, no "
		                "control characters)");
	if (!json_is_boolean(json_object_get(cfg, "enabled")))
		return pkx_fail(err, PKX_EINVAL,
		                "config.enabled: true or false");
	v = json_object_get(cfg, "members");
	if (!json_is_array(v) || json_array_size(v) == 0 ||
	    json_array_size(v) > CAP_MAX_MEMBERS)
		return pkx_fail(err, PKX_EINVAL,
		                "config.members: 1 to %d interface names",
		                CAP_MAX_MEMBERS);
	for (i = 0; i < json_array_size(json_object_get(cfg, "members")); i++) {
		const char *n = json_string_value(
		    json_array_get(json_object_get(cfg, "members"), i));

		if (!n || !*n || strlen(n) >= IF_NAMESIZE || strchr(n, '/') ||
		    !if_nametoindex(n))
			return pkx_fail(
			    err, PKX_EINVAL,
			    "config.members[%zu]: no interface of that "
			    "name on this host (GET "
			    "/api/npm.packet_capture/3.0/interfaces)",
			    i);
	}
	if (!json_object_get(cfg, "description"))
		json_object_set_new(cfg, "description", json_string(""));
	if (!json_object_get(cfg, "is_other_vifg"))
		json_object_set_new(cfg, "is_other_vifg", json_false());
	return 0;
}

static int vifg_used(const pkxd_capture *c, json_int_t id)
{
	size_t i, k;
	json_t *v;

	for (i = 0; i < c->n_jobs; i++)
		json_array_foreach(json_object_get(c->jobs[i]->config, "vifgs"),
		                   k,
		                   v) if (json_integer_value(v) == id) return 1;
	return 0;
}

/* A VIFG change waiting for capture.json to hold it. */
typedef struct vifg_change {
	pkxh_req *req;
	pkxh_method m;
	json_int_t id;
} vifg_change;

static void vifg_saved(pkxd_capture *c, void *arg, int ok)
{
	vifg_change *v = arg;
	json_t *g = c->vifgs ? vifg_find(c->vifgs, v->id) : NULL;

	if (!ok) {
		pkxd_reply_error(v->req, 500, PKX_EINTERNAL,
		                 "cannot save the capture configuration");
	} else {
		pkx_log(PKX_LOG_INFO, "pktexportd", "VIFG %lld %s by %s",
		        (long long)v->id,
		        v->m == PKXH_DELETE ? "deleted"
		        : v->m == PKXH_PUT  ? "set"
		                            : "created",
		        pkxh_user(v->req) ? pkxh_user(v->req) : "-");
		if (v->m == PKXH_DELETE)
			pkxh_reply(v->req, 204, NULL);
		else if (!g)
			pkxd_reply_error(v->req, 404, PKX_ENOTFOUND,
			                 "no VIFG %lld (deleted meanwhile)",
			                 (long long)v->id);
		else
			pkxd_reply_json(v->req, v->m == PKXH_POST ? 201 : 200,
			                vifg_state(g));
	}
	free(v);
}

void pkxd_capture_vifgs_api(pkxd_daemon *d, pkxh_req *req, const char *one,
                            pkxh_method m)
{
	pkxd_capture *c = d->capture;
	json_t *all = c ? vifgs_now(c) : json_array(), *g = NULL, *body, *cfg;
	json_int_t id = 0, next = 1;
	char *end = NULL;
	pkx_error err;
	size_t i;

	if (one) {
		id = strtoll(one, &end, 10);
		g = end && !*end ? vifg_find(all, id) : NULL;
		if (!g) {
			pkxd_reply_error(req, 404, PKX_ENOTFOUND,
			                 "no VIFG %.64s", one);
			goto out;
		}
	}
	if (m == PKXH_GET || m == PKXH_HEAD) {
		json_t *items = json_array();

		if (g) {
			pkxd_reply_json(req, 200, vifg_state(g));
			json_decref(items);
			goto out;
		}
		json_array_foreach(all, i, g)
		    json_array_append_new(items, vifg_state(g));
		pkxd_reply_json(req, 200,
		                json_pack("{s:o, s:I}", "items", items, "count",
		                          (json_int_t)json_array_size(all)));
		goto out;
	}
	if (!c || (one ? m != PKXH_PUT && m != PKXH_DELETE : m != PKXH_POST)) {
		pkxd_reply_not_allowed(req,
		                       one ? "GET, PUT, DELETE" : "GET, POST");
		goto out;
	}
	if (m == PKXH_DELETE) {
		if (vifg_used(c, id)) {
			pkxd_reply_error(req, 409, PKXD_ECONFLICT,
			                 "VIFG %lld is in use by a capture job",
			                 (long long)id);
			goto out;
		}
		for (i = 0; i < json_array_size(all); i++)
			if (json_array_get(all, i) == g)
				json_array_remove(all, i);
		goto save;
	}
	body = pkxd_read_body(req);
	if (!body)
		goto out;
	cfg = json_deep_copy(json_object_get(body, "config"));
	json_decref(body);
	if (check_vifg(cfg, &err) != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL, "%s", err.text);
		json_decref(cfg);
		goto out;
	}
	json_array_foreach(all, i, body)
	{
		json_int_t vid =
		    json_integer_value(json_object_get(body, "id"));
		const char *name = json_string_value(
		    json_object_get(json_object_get(body, "config"), "name"));

		if (vid >= next)
			next = vid + 1;
		if (vid != id && name &&
		    strcmp(name, json_string_value(
		                     json_object_get(cfg, "name"))) == 0) {
			pkxd_reply_error(req, 409, PKXD_ECONFLICT,
			                 "a VIFG is named %s already", name);
			json_decref(cfg);
			goto out;
		}
	}
	if (g) {
		json_object_set_new(g, "config", cfg);
	} else {
		if (json_array_size(all) >= CAP_MAX_VIFGS) {
			pkxd_reply_error(req, 409, PKXD_ECONFLICT,
			                 "%d VIFGs at most", CAP_MAX_VIFGS);
			json_decref(cfg);
			goto out;
		}
		id = next;
		json_array_append_new(
		    all, json_pack("{s:I, s:o}", "id", id, "config", cfg));
	}
save:
	/* The set in force becomes the configured one (the defaults, one
	 * per interface, are kept as they were). */
	if (all != c->vifgs) {
		json_decref(c->vifgs);
		c->vifgs = json_incref(all);
	}
	{
		vifg_change *v = calloc(1, sizeof(*v));

		if (!v) {
			pkxd_reply_error(req, 503, PKX_EBUSY, "out of memory");
			goto out;
		}
		*v = (vifg_change){req, m, id};
		capture_save(c, vifg_saved, v);
	}
out:
	json_decref(all);
}
