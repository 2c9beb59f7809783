/* pktexportd internals: the export table, jobs on worker threads and the
 * HTTP front end, all driven by one libevent loop. */
#ifndef PKXD_H
#define PKXD_H

#include <event2/event.h>
#include <jansson.h>
#include <pthread.h>

#include "httpd.h"
#include "pkx.h"
#include "reply.h"

#define PKXD_API          "/api/npm.packet_export/1.3"
#define PKXD_ID_LEN       32            /* hex digits of an export id */
#define PKXD_MAX_JOBS     64            /* exports running at once */
#define PKXD_MAX_EXPORTS  4096          /* default of --max-exports */
#define PKXD_CHUNK        (256u * 1024) /* bytes per streamed chunk */
#define PKXD_CHUNKS       4             /* chunks per download: its memory */
#define PKXD_MAX_LISTINGS 16            /* store-tool runs at once: then 503 */

typedef enum pkxd_state {
	PKXD_UNINITIALIZED,
	PKXD_INITIALIZING,
	PKXD_READY,
	PKXD_RUNNING,
	PKXD_STREAMING,
	PKXD_ERRORS,
	PKXD_NODATA,
	PKXD_DONE,
} pkxd_state;

typedef struct pkxd_daemon pkxd_daemon;
typedef struct pkxd_export pkxd_export;
typedef struct pkxd_job pkxd_job;
typedef struct pkxd_stream pkxd_stream;
typedef struct pkxd_auth pkxd_auth;
typedef struct pkxd_capture pkxd_capture;

struct pkxd_daemon {
	struct event_base *base;
	pkxh_server *http;
	pkx_registry *reg;
	char *root;      /* the data root */
	char *state_dir; /* <root>/.pktexport/exports */
	char *spool_dir; /* <root>/.pktexport/spool */
	pkxd_export *exports;
	pkxd_auth *auth;           /* NULL: access control off */
	unsigned max_exports;      /* kept at most; the oldest finished go */
	unsigned max_user_exports; /* of them, by one user (with --users) */
	int n_jobs;
	unsigned max_user_jobs; /* running at once for one user (--users) */
	/* With --users: bytes of spools and STREAM_TO_FILE outputs one user
	 * may have on disk (0: no bound); what each user's running exports
	 * have written so far (loop creates, workers add). */
	uint64_t max_user_disk;
	struct pkxd_disk *disks;
	struct pkxd_saver *saver; /* writes export states (exports.c) */
	pkxd_job *jobs;           /* running (loop only) */
	int stopping;
	unsigned stop_grace;     /* seconds to finish sending, stopping */
	struct event *stop_wait; /* then reset what is left */
	struct event *sigterm, *sigint, *sighup;
	/* Upward calls, set by main.c: the lower layers (exports, jobs,
	 * auth) never call a higher one by name. */
	void (*idle)(pkxd_daemon *d);
	void (*job_cancel)(pkxd_job *job);
	void (*job_stats)(pkxd_job *job, pkx_stats *st, double *progress);
	/* A request's credentials were found good after its head was
	 * deferred: what its body needs is set up.  1 when that answered
	 * the request (the head is then not resumed). */
	int (*authed)(pkxd_daemon *d, pkxh_req *req);
	int have_store_tool;   /* jobs/, clips/ and fs/ can be described */
	pkxd_capture *capture; /* capture jobs and VIFGs (recorder.c) */
};

/* ---------------------------------------------------------------- exports */
const char *pkxd_state_name(pkxd_state s);
pkxd_export *pkxd_export_find(pkxd_daemon *d, const char *id);
pkxd_export *pkxd_export_new(pkxd_daemon *d, pkx_config *cfg, json_t *extra);
/* Removes it from the table, cancels its job, deletes its files. */
void pkxd_export_delete(pkxd_export *e);
/* Frees once neither the table nor a job holds it. */
void pkxd_export_release(pkxd_export *e);
json_t *pkxd_export_json(const pkxd_export *e);
/* The export struct is exports.c's; the other layers read and change it
 * through these. */
pkxd_export *pkxd_export_first(const pkxd_daemon *d); /* the table, unordered */
pkxd_export *pkxd_export_next(const pkxd_export *e);
pkxd_daemon *pkxd_export_daemon(const pkxd_export *e);
const char *pkxd_export_id(const pkxd_export *e);
const pkx_config *pkxd_export_config(const pkxd_export *e);
/* Takes cfg, frees the old one. */
void pkxd_export_set_config(pkxd_export *e, pkx_config *cfg);
/* Takes extra (the unknown top-level properties kept as given). */
void pkxd_export_set_extra(pkxd_export *e, json_t *extra);
pkxd_state pkxd_export_state(const pkxd_export *e);
uint64_t pkxd_export_created(const pkxd_export *e);
void pkxd_export_set_owner(pkxd_export *e, const char *user);
const char *pkxd_export_owner(const pkxd_export *e);
int pkxd_export_deleted(const pkxd_export *e);
int pkxd_export_downloaded(const pkxd_export *e);
void pkxd_export_set_downloaded(pkxd_export *e, int downloaded);
/* A download cut by its client: the export may be downloaded again. */
void pkxd_export_clear_downloaded(pkxd_export *e);
int pkxd_export_spooled(const pkxd_export *e);
void pkxd_export_set_spooled(pkxd_export *e, int spooled);
/* The download that sent a spool's last byte made the export DONE: the
 * spool is kept PKXD_RESUME_KEEP_S more seconds, for a Range request
 * resuming a download whose last bytes were sent but never arrived. */
#define PKXD_RESUME_KEEP_S 300
/* How long a download waits for another of the same export to end. */
#define PKXD_DOWNLOAD_WAIT_MS 2000
void pkxd_export_keep_spool(pkxd_export *e);
/* A download that finds another one of e under way waits (at most ms) for
 * its job to end: again(e, req, PKXD_PARK_GO) then, as if it came just
 * after; PKXD_PARK_TIMEOUT when the time ran out or the service stops;
 * PKXD_PARK_DELETED when e is being deleted (e still readable).  One
 * waits at a time; -1 when it cannot wait. */
enum { PKXD_PARK_GO, PKXD_PARK_TIMEOUT, PKXD_PARK_DELETED };
int pkxd_export_park(pkxd_export *e, pkxh_req *req,
                     void (*again)(pkxd_export *, pkxh_req *, int),
                     unsigned ms);
/* e's job has ended: the download waiting on it goes on. */
void pkxd_export_unpark(pkxd_export *e);
int pkxd_export_spool_kept(const pkxd_export *e);
/* A resumed range of a kept spool is over: the spool goes if its time
 * ran out while it was being sent. */
void pkxd_export_spool_resent(pkxd_export *e);
pkxd_job *pkxd_export_job(const pkxd_export *e);
void pkxd_export_set_job(pkxd_export *e, pkxd_job *job);
/* The stats and progress kept once its job is over. */
const pkx_stats *pkxd_export_stats(const pkxd_export *e);
void pkxd_export_set_stats(pkxd_export *e, const pkx_stats *st,
                           double progress);
/* An error reported without changing the state (damage in a PREPARE). */
void pkxd_export_note_error(pkxd_export *e, const pkx_error *err);
/* Stops its connection or handle timer. */
void pkxd_export_disarm_timer(pkxd_export *e);
/* The daemon ends: every export is freed (no job holds one any more). */
void pkxd_exports_free_all(pkxd_daemon *d);
void pkxd_export_set_state(pkxd_export *e, pkxd_state s);
void pkxd_export_fail(pkxd_export *e, const pkx_error *err);
/* Saves the export's state, off the loop, in order with every other save
 * and removal of export states: written, flushed to disk, renamed, the
 * folder flushed.  A failure is logged.  _then calls done on the loop
 * once it is over, err 0 or an errno, with the export's id (the export
 * may be gone by then: look it up).  Returns -1 (done not called) only
 * when the save cannot even be queued, with errno set. */
void pkxd_export_save(const pkxd_export *e);
int pkxd_export_save_then(const pkxd_export *e,
                          void (*done)(pkxd_daemon *d, const char *id, int err,
                                       void *arg),
                          void *arg);
/* The thread that saves states: started once the loop exists; stopped
 * (what is queued written, the callbacks run) before teardown. */
int pkxd_saver_start(pkxd_daemon *d);
void pkxd_saver_stop(pkxd_daemon *d);
/* path gets len bytes of text, durably: through a temporary name, flushed
 * to disk before the rename and the folder after it.  0, or -1 with errno
 * set (nothing is left under a temporary name). */
int pkxd_write_durable(const char *path, const char *text, size_t len);
/* The folder path is in, flushed to disk: a name just given lasts. */
void pkxd_sync_folder(const char *path);
void pkxd_export_arm_timer(pkxd_export *e);
int pkxd_exports_load(pkxd_daemon *d);
void pkxd_spool_path(const pkxd_export *e, char *buf, size_t len);

/* ------------------------------------------------------------------- jobs */
typedef enum pkxd_job_kind {
	PKXD_JOB_VALIDATE,   /* POST: open the source, compile the filters */
	PKXD_JOB_SPOOL,      /* PREPARE: run into the spool file */
	PKXD_JOB_TO_FILE,    /* STREAM_TO_FILE: run into fs/<output_filename> */
	PKXD_JOB_STREAM,     /* download: run into the HTTP response */
	PKXD_JOB_SEND_SPOOL, /* download of a spooled export */
} pkxd_job_kind;

/* How a POST is answered once its validation job has prepared the
 * pipeline (err NULL) or could not (the layer above jobs gives it). */
typedef void (*pkxd_answer_fn)(pkxd_export *e, pkxh_req *req,
                               const pkx_error *err);

/* The part of a spooled export a download sends: [from, from + len) of
 * total bytes, answered with status (200 or 206) and a Content-Length. */
typedef struct pkxd_span {
	int status;
	int late; /* a range of a DONE export's kept spool: changes nothing */
	uint64_t from, len, total;
} pkxd_span;
pkx_result pkxd_job_send_spool(pkxd_export *e, pkxh_req *req,
                               const pkxd_span *span, pkx_error *err);
/* A download's Content-Type and Content-Disposition (also for HEAD). */
void pkxd_download_headers(pkxh_req *req, const pkxd_export *e);

/* Starts work for e on a worker thread.  For downloads, req is the request
 * to answer; for a validation, req is the POST that answer answers.  On
 * failure to start, err is set. */
pkx_result pkxd_job_start(pkxd_export *e, pkxd_job_kind kind, pkxh_req *req,
                          pkxd_answer_fn answer, pkx_error *err);
/* Frees what the user's shares of the disk were counted in (at exit). */
void pkxd_disks_free(pkxd_daemon *d);
void pkxd_job_cancel(pkxd_job *job);
/* Live stats and progress of a running job. */
void pkxd_job_stats(pkxd_job *job, pkx_stats *st, double *progress);
/* True while a download's reply is still being sent (its job may be
 * over: the export already says DONE). */
int pkxd_streams_sending(void);
/* Stopping, out of time: resets the connections of the replies not yet
 * sent and marks their exports ERRORS (saved). */
void pkxd_streams_abort(pkxd_daemon *d);

/* ------------------------------------------------------------------- http */
/* The server's handlers (httpd.h): the head of a request (the service
 * refuses and authenticates here, before any body) and the whole request.
 * The server's own refusals go to pkxd_http_refuse (reply.h). */
void pkxd_http_head(pkxh_req *req, void *arg);
void pkxd_http_handle(pkxh_req *req, void *arg);
/* d->authed: a deferred head's credentials were good. */
int pkxd_http_authed(pkxd_daemon *d, pkxh_req *req);

/* A lower layer (exports, jobs, auth) finished something a stopping
 * daemon may be waiting for: main.c's hook decides whether the loop
 * ends. */
static inline void pkxd_idle(pkxd_daemon *d)
{
	if (d->idle)
		d->idle(d);
}

/* ------------------------------------------------------------------- auth */
/* Reads a users file (NAME:CRYPT-HASH lines); NULL after saying why on
 * stderr.  Access tokens last lifetime_s seconds. */
pkxd_auth *pkxd_auth_load(const char *file, unsigned lifetime_s);
/* Refresh tokens (access codes) are kept in file across restarts (as
 * digests), and reread when `pktexport access-code` changed it.  -1 after
 * saying why on stderr when the file cannot be read. */
int pkxd_auth_keep_codes(pkxd_auth *a, const char *file);
void pkxd_auth_free(pkxd_auth *a);
/* Password checks still running on their threads. */
int pkxd_auth_busy(const pkxd_daemon *d);
/* The daemon stops: waiting logins are refused, delayed answers sent. */
void pkxd_auth_stop(pkxd_daemon *d);
/* From the head of a request that needs credentials: 1 when they are
 * good (the request's user is set; "admin" when access control is off),
 * 0 after answering 401 (or 503), 2 when they are being checked off the
 * loop (the head was deferred: pkxh_resume_head() or an answer follows). */
int pkxd_auth_head(pkxd_daemon *d, pkxh_req *req);
/* Whether user has the admin role (every user does without --users). */
int pkxd_auth_is_admin(const pkxd_daemon *d, const char *user);
/* POST /api/common/1.0/login and /logout: cookie sessions. */
void pkxd_auth_login(pkxd_daemon *d, pkxh_req *req);
void pkxd_auth_logout(pkxd_daemon *d, pkxh_req *req);
/* POST /api/common/1.0/oauth/token: an access code for an access token. */
void pkxd_auth_oauth_token(pkxd_daemon *d, pkxh_req *req);
/* GET /api/common/1.0/auth_info */
json_t *pkxd_auth_info(const pkxd_daemon *d);
/* /api/mgmt.aaa/2.0/<rest> */
void pkxd_auth_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                   pkxh_method m);

/* ------------------------------------------------------------------ tasks */
/* work(arg) runs on a thread of its own, then done(d, arg) on the loop.
 * 0, or -1 when no thread could be started (nothing runs). */
int pkxd_task_start(pkxd_daemon *d, void (*work)(void *arg),
                    void (*done)(pkxd_daemon *d, void *arg), void *arg);
/* Tasks started and not yet done (a stopping daemon waits for them). */
int pkxd_tasks_busy(void);
/* Downloads and uploads of npm.filesystem under way (files.c). */
int pkxd_files_busy(void);
/* Off the loop only: runs the store tool (PKTEXPORT_STORE, else the
 * installed pktexport-store) as `pktexport-store ARGS[0] --root ROOT
 * ARGS[1]...` and returns what it printed, parsed; NULL with err set
 * when it failed. */
json_t *pkxd_store_tool(const pkxd_daemon *d, const char *const *args,
                        pkx_error *err);
const char *pkxd_store_program(void);

/* ---------------------------------------------------- the other services */
/* /api/npm.packet_capture/3.0/<rest>: the stores as capture jobs, the
 * host's interfaces (capture.c). */
void pkxd_capture_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                      pkxh_method m);
/* The capture broker (broker.c, plugins/common/capture_broker.h): forks
 * the process that keeps the capture capability and runs
 * pktexport-capture; the daemon's end of its socket, or -1. */
int pkxd_broker_start(void);
/* Capture jobs (recorder.c): their configuration is
 * <root>/.pktexport/capture.json; each enabled job runs as a
 * pktexport-capture process.  start: -1 after saying why on stderr (a
 * configuration file that does not read). */
int pkxd_capture_start(pkxd_daemon *d);
/* The daemon stops: every recorder is asked to stop. */
void pkxd_capture_stop(pkxd_daemon *d);
/* Recorders still running. */
int pkxd_capture_busy(const pkxd_daemon *d);
void pkxd_capture_free(pkxd_daemon *d);
/* The configured job `name` (or id) as the API shows it, its state taken
 * from `stored` (the store's job object, or NULL); NULL when no job of
 * that name is configured. */
json_t *pkxd_capture_job_json(const pkxd_daemon *d, const char *name,
                              json_t *stored);
int pkxd_capture_is_job(const pkxd_daemon *d, const char *name);
void pkxd_capture_each_job(const pkxd_daemon *d,
                           void (*fn)(const char *name, void *arg), void *arg);
/* POST jobs, PUT and DELETE jobs/items/{id}, POST .../clear: 1 when it
 * answered, 0 when rest is not one of those. */
int pkxd_capture_jobs_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                          pkxh_method m);
/* /vifgs (one NULL) and /vifgs/items/{one}. */
void pkxd_capture_vifgs_api(pkxd_daemon *d, pkxh_req *req, const char *one,
                            pkxh_method m);
/* /api/npm.clips/1.0/<rest> (capture.c). */
void pkxd_clips_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                    pkxh_method m);
/* /api/npm.filesystem/1.0/<rest>: fs/ under the data root (files.c). */
/* The head of a request to it, credentials good: an upload is set up to
 * be written as it comes.  1 when that answered the request. */
int pkxd_files_head(pkxd_daemon *d, pkxh_req *req, const char *rest);
void pkxd_files_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                    pkxh_method m);
/* The web console (console.c).  check: from a request's head, what a
 * browser's request must show (a Host this service answers to; for a
 * POST, PUT or DELETE its own Origin and JSON); 1 when it refused it.
 * serve: its static files at / and /console/...; 1 when path was one. */
int pkxd_console_check(pkxh_req *req, const char *path);
int pkxd_console_serve(pkxd_daemon *d, pkxh_req *req, const char *path);
/* POST /api/pktexport/1.0/filters/validate (validate.c). */
void pkxd_validate_filters(pkxd_daemon *d, pkxh_req *req);
/* --allowed-host NAME: 0, or -1 for a name that is none. */
int pkxd_console_allow_host(const char *name);
void pkxd_console_free(void);
/* /api/pktexport/1.0/<rest>: the project's own resources (own_api.c):
 * timeline, filters/validate, plugins, session. */
void pkxd_own_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                  pkxh_method m);
/* GET timeline: packets and bytes per interval of a source (timeline.c). */
void pkxd_timeline(pkxd_daemon *d, pkxh_req *req, pkxh_method m);

#endif /* PKXD_H */
