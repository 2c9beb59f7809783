/* The REST surface of pktexportd: routing, the Packet Export API 1.3
 * handlers, the common service, and JSON errors everywhere. */
#include "config.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sys/queue.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "pkxd.h"
#include "reply.h"
#include "service_def.inc"

static int check_known(const json_t *obj, const char *where,
                       const char *const *keys, pkx_error *err)
{
	const char *key;
	const json_t *v;
	const char *const *k;

	if (!json_is_object(obj)) {
		pkx_fail(err, PKX_EINVAL, "%s must be an object", where);
		return -1;
	}
	json_object_foreach((json_t *)obj, key, v)
	{
		(void)v;
		for (k = keys; *k && strcmp(*k, key) != 0; k++)
			;
		if (!*k) {
			pkx_fail(err, PKX_EINVAL,
			         "unknown property \"%s\" in %s", key, where);
			return -1;
		}
	}
	return 0;
}

/* status is read-only: its values are ignored, but its shape is the
 * definition's, so unknown properties are still refused. */
static int check_status(const json_t *status, pkx_error *err)
{
	static const char *const keys[] = {
	    "creation_time", "error", "owner", "progress",
	    "state",         "stats", NULL};
	static const char *const stats[] = {
	    "dropped_packets", "estimated_bytes",  "estimated_packets",
	    "exported_bytes",  "exported_packets", "processed_packets",
	    "total_bytes",     "truncated",        NULL};
	static const char *const error[] = {"error_id", "error_metrics",
	                                    "error_text", NULL};
	const json_t *v;

	if (!status)
		return 0;
	if (check_known(status, "status", keys, err) != 0)
		return -1;
	if ((v = json_object_get(status, "stats")) &&
	    check_known(v, "status.stats", stats, err) != 0)
		return -1;
	if ((v = json_object_get(status, "error")) &&
	    check_known(v, "status.error", error, err) != 0)
		return -1;
	return 0;
}

/* Nesting depth of a JSON value (a scalar is 0), up to limit + 1. */
static int json_depth(const json_t *v, int limit)
{
	int deepest = 0, d;

	if (limit < 0 || !(json_is_object(v) || json_is_array(v)))
		return 0;
	if (json_is_object(v)) {
		const char *key;
		json_t *m;

		json_object_foreach((json_t *)v, key, m)
		{
			(void)key;
			if ((d = json_depth(m, limit - 1)) > deepest)
				deepest = d;
		}
	} else {
		size_t i;
		json_t *m;

		json_array_foreach(v, i, m)
		{
			if ((d = json_depth(m, limit - 1)) > deepest)
				deepest = d;
		}
	}
	return deepest + 1;
}

#define PKXD_EXTRA_DEPTH 32
/* Extra properties are kept with the export and sent back in every list
 * of exports: 200 exports of 1 MiB each would make one GET of the list
 * cost a gigabyte. */
#define PKXD_EXTRA_BYTES 16384

/* Splits an export body into its config and its extra properties. */
static int parse_export_body(const json_t *body, pkx_config **cfg,
                             json_t **extra, pkx_error *err)
{
	const json_t *id = json_object_get(body, "id");
	const char *key;
	json_t *v;

	*cfg = NULL;
	*extra = NULL;
	if (id && !json_is_string(id)) {
		pkx_fail(err, PKX_EINVAL, "id must be a string");
		return -1;
	}
	if (check_status(json_object_get(body, "status"), err) != 0)
		return -1;
	if (json_object_get(body, "config") &&
	    (pkx_config_parse(json_object_get(body, "config"), cfg, err) !=
	         PKX_OK ||
	     pkx_config_check_bounds(*cfg, err) != PKX_OK)) {
		pkx_config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	*extra = json_object();
	json_object_foreach((json_t *)body, key, v)
	{
		if (strcmp(key, "id") && strcmp(key, "config") &&
		    strcmp(key, "status")) {
			/* Kept and sent back to every client that lists
			 * exports, so kept within what clients parse. */
			if (json_depth(v, PKXD_EXTRA_DEPTH) >
			    PKXD_EXTRA_DEPTH) {
				pkx_fail(err, PKX_EINVAL,
				         "property \"%.64s\" nests deeper than "
				         "%d levels",
				         key, PKXD_EXTRA_DEPTH);
				json_decref(*extra);
				*extra = NULL;
				pkx_config_free(*cfg);
				*cfg = NULL;
				return -1;
			}
			json_object_set(*extra, key, v);
		}
	}
	if (json_dumpb(*extra, NULL, 0, JSON_COMPACT) > PKXD_EXTRA_BYTES) {
		pkx_fail(err, PKX_EINVAL,
		         "the properties other than id, config and status take "
		         "more than %d bytes (as compact JSON)",
		         PKXD_EXTRA_BYTES);
		json_decref(*extra);
		*extra = NULL;
		pkx_config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- handlers */

static void reply_export(pkxh_req *req, int code, const pkxd_export *e)
{
	pkxd_reply_json(req, code, pkxd_export_json(e));
}

static int export_cmp(const void *a, const void *b)
{
	const pkxd_export *x = *(pkxd_export *const *)a;
	const pkxd_export *y = *(pkxd_export *const *)b;

	return pkxd_export_created(x) < pkxd_export_created(y) ? -1
	       : pkxd_export_created(x) > pkxd_export_created(y)
	           ? 1
	           : strcmp(pkxd_export_id(x), pkxd_export_id(y));
}

/* Whether the request's user may see and act on e: an admin any export, a
 * user their own. */
static int may_see(int admin, const pkxh_req *req, const pkxd_export *e)
{
	return admin || strcmp(pkxd_export_owner(e), pkxh_user(req)) == 0;
}

static void list_exports(pkxd_daemon *d, pkxh_req *req, const char *path)
{
	pkxd_export *e, **all;
	json_t *items = json_array();
	size_t n = 0, i;
	int admin = pkxd_auth_is_admin(d, pkxh_user(req));

	for (e = pkxd_export_first(d); e; e = pkxd_export_next(e))
		n++;
	all = malloc((n + 1) * sizeof(*all));
	if (!all) {
		json_decref(items);
		pkxd_reply_error(req, 500, PKX_EINTERNAL, "out of memory");
		return;
	}
	for (n = 0, e = pkxd_export_first(d); e; e = pkxd_export_next(e))
		if ((!path || strcmp(path, pkxd_export_config(e)->path) == 0) &&
		    may_see(admin, req, e))
			all[n++] = e;
	qsort(all, n, sizeof(*all), export_cmp);
	for (i = 0; i < n; i++)
		json_array_append_new(items, pkxd_export_json(all[i]));
	free(all);
	pkxd_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

/* Keeps the table under --max-exports (user NULL), or user's exports
 * under their share (--max-user-exports), before a new export: the
 * finished exports created first go.  -1 when every export kept (of that
 * user) is still in use. */
static int make_room(pkxd_daemon *d, const char *user)
{
	unsigned cap = user ? d->max_user_exports : d->max_exports;

	for (;;) {
		pkxd_export *e, *oldest = NULL;
		size_t n = 0;

		for (e = pkxd_export_first(d); e; e = pkxd_export_next(e)) {
			if (user && (!pkxd_export_owner(e) ||
			             strcmp(pkxd_export_owner(e), user) != 0))
				continue;
			n++;
			if (!pkxd_export_job(e) &&
			    (pkxd_export_state(e) == PKXD_DONE ||
			     pkxd_export_state(e) == PKXD_NODATA ||
			     pkxd_export_state(e) == PKXD_ERRORS) &&
			    !pkxd_export_spooled(e) &&
			    (!oldest || pkxd_export_created(e) <
			                    pkxd_export_created(oldest)))
				oldest = e;
		}
		if (n < cap)
			return 0;
		if (!oldest)
			return -1;
		pkx_log(
		    PKX_LOG_INFO, "pktexportd",
		    "%u exports kept%s%s: removing the oldest finished one, "
		    "%s",
		    cap, user ? " by " : "", user ? user : "",
		    pkxd_export_id(oldest));
		pkxd_export_delete(oldest);
	}
}

/* The STREAM_TO_FILE export still writing fs/<name>, if any: a second one
 * would only find the name taken when it is done. */
static const pkxd_export *writing_to(const pkxd_daemon *d, const char *name)
{
	const pkxd_export *e;

	for (e = pkxd_export_first(d); e; e = pkxd_export_next(e))
		if (pkxd_export_job(e) &&
		    pkxd_export_config(e)->output_filename &&
		    strcmp(pkxd_export_config(e)->mode, "STREAM_TO_FILE") ==
		        0 &&
		    strcmp(pkxd_export_config(e)->output_filename, name) == 0)
			return e;
	return NULL;
}

static void post_done(pkxd_export *e, pkxh_req *req, const pkx_error *err);

static void create_export(pkxd_daemon *d, pkxh_req *req, const char *user)
{
	json_t *body = pkxd_read_body(req), *extra = NULL;
	pkx_config *cfg = NULL;
	pkx_error err = {"", ""};
	pkxd_export *e;
	const pkxd_export *writer;
	pkxd_job_kind kind = PKXD_JOB_VALIDATE;

	if (!body)
		return;
	if (parse_export_body(body, &cfg, &extra, &err) != 0)
		goto reject;
	if (!cfg) {
		pkx_fail(&err, PKX_EINVAL, "config is required");
		goto reject;
	}
	if (pkx_config_check_live(cfg,
	                          strcmp(cfg->mode, "STREAM_TO_FILE") == 0 ||
	                              strcmp(cfg->mode, "PREPARE") == 0,
	                          &err) != PKX_OK)
		goto reject;
	if (strcmp(cfg->mode, "STREAM_TO_FILE") == 0) {
		if (!cfg->output_filename) {
			pkx_fail(&err, PKX_EINVAL,
			         "mode STREAM_TO_FILE needs "
			         "config.output_filename");
			goto reject;
		}
		if ((writer = writing_to(d, cfg->output_filename))) {
			pkx_fail(&err, "RESOURCE_EXISTS",
			         "export %s is writing fs/%s already",
			         pkxd_export_id(writer), cfg->output_filename);
			goto reject;
		}
		kind = PKXD_JOB_TO_FILE;
	} else if (strcmp(cfg->mode, "PREPARE") == 0) {
		kind = PKXD_JOB_SPOOL;
	}
	/* A user's share first (with --users): one user's unfinished
	 * exports never take the others' room. */
	if (d->auth && user && make_room(d, user) != 0) {
		pkx_fail(&err, "SERVICE_BUSY",
		         "%s keeps %u exports, its share, and none has "
		         "finished: delete some first",
		         user, d->max_user_exports);
		goto reject;
	}
	if (make_room(d, NULL) != 0) {
		pkx_fail(&err, "SERVICE_BUSY",
		         "%u exports are kept and none has finished: delete "
		         "some first",
		         d->max_exports);
		goto reject;
	}
	e = pkxd_export_new(d, cfg, extra);
	if (!e) {
		pkx_fail(&err, PKX_EINTERNAL, "out of memory");
		goto reject;
	}
	cfg = NULL;
	extra = NULL;
	pkxd_export_set_owner(e, user);
	if (pkxd_job_start(e, kind, req, post_done, &err) != PKX_OK) {
		pkxd_export_delete(e);
		goto reject;
	}
	json_decref(body);
	return; /* answered by post_done */
reject:
	pkx_log(PKX_LOG_INFO, "pktexportd", "export by %s refused: %s: %s",
	        user, err.id, err.text);
	pkx_config_free(cfg);
	json_decref(extra);
	json_decref(body);
	pkxd_reply_pkx_error(req, &err);
}

/* The POST is answered once its validation job is over. */
static void post_saved(pkxd_daemon *d, const char *id, int err, void *arg);

static void post_done(pkxd_export *e, pkxh_req *req, const pkx_error *err)
{
	if (pkxd_export_deleted(e)) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "export %s was deleted before it was ready",
		                 pkxd_export_id(e));
		return;
	}
	if (err) {
		pkx_error copy = *err;

		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "export by %s refused: %s: %s: %s",
		        pkxd_export_owner(e), pkxd_export_config(e)->path,
		        copy.id, copy.text);
		pkxd_export_delete(e);
		pkxd_reply_pkx_error(req, &copy);
		return;
	}
	pkxd_export_set_state(
	    e,
	    strcmp(pkxd_export_config(e)->mode, "PREPARE") == 0 ||
	            strcmp(pkxd_export_config(e)->mode, "STREAM_TO_FILE") == 0
	        ? PKXD_RUNNING
	        : PKXD_READY);
	/* Answered once its state is on disk (saved off the loop). */
	if (pkxd_export_save_then(e, post_saved, req) != 0)
		post_saved(pkxd_export_daemon(e), pkxd_export_id(e), errno,
		           req);
}

static void post_saved(pkxd_daemon *d, const char *id, int err, void *arg)
{
	pkxh_req *req = arg;
	pkxd_export *e = pkxd_export_find(d, id);
	char location[128];

	if (!e) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "export %s was deleted before it was ready",
		                 id);
		return;
	}
	if (err) {
		/* An export the service cannot keep is not made. */
		pkxd_export_delete(e);
		pkxd_reply_error(req, 503, "SERVICE_BUSY",
		                 "the service cannot save the export's state "
		                 "(%s): try again later",
		                 strerror(err));
		return;
	}
	pkxd_export_arm_timer(e);
	snprintf(location, sizeof(location), PKXD_API "/exports/items/%s",
	         pkxd_export_id(e));
	evhttp_add_header(pkxh_out_headers(req), "Location", location);
	pkx_log(PKX_LOG_INFO, "pktexportd", "export %s by %s created: %s, %s",
	        pkxd_export_id(e), pkxd_export_owner(e),
	        pkxd_export_config(e)->path, pkxd_export_config(e)->mode);
	reply_export(req, 201, e);
}

static int same_but_mode(const json_t *a, const json_t *b)
{
	json_t *x = json_deep_copy(a), *y = json_deep_copy(b);
	int same;

	json_object_del(x, "mode");
	json_object_del(y, "mode");
	same = json_equal(x, y);
	json_decref(x);
	json_decref(y);
	return same;
}

/* A PUT's change is on disk, or could not be put there. */
static void put_saved(pkxd_daemon *d, const char *id, int err, void *arg)
{
	pkxh_req *req = arg;
	pkxd_export *e = pkxd_export_find(d, id);

	if (!e) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "export %s was deleted meanwhile", id);
		return;
	}
	if (err) {
		/* What is on disk is no longer what runs: the export goes
		 * rather than come back different after a restart. */
		pkxd_reply_error(req, 503, "SERVICE_BUSY",
		                 "the service cannot save the export's state "
		                 "(%s): export %s is removed",
		                 strerror(err), id);
		pkxd_export_delete(e);
		return;
	}
	reply_export(req, 200, e);
}

static void update_export(pkxd_export *e, pkxh_req *req)
{
	json_t *body = pkxd_read_body(req), *extra = NULL;
	pkx_config *cfg = NULL;
	pkx_error err = {"", ""};
	const char *id;

	if (!body)
		return;
	if (parse_export_body(body, &cfg, &extra, &err) != 0)
		goto reject;
	/* parse_export_body made sure an id is a string. */
	id = json_string_value(json_object_get(body, "id"));
	if (id && strcmp(id, pkxd_export_id(e)) != 0) {
		pkx_fail(&err, PKX_EINVAL,
		         "id \"%.64s\" is not this export's (%s); ids cannot "
		         "change",
		         id, pkxd_export_id(e));
		goto reject;
	}
	if (pkxd_export_state(e) == PKXD_INITIALIZING ||
	    pkxd_export_state(e) == PKXD_RUNNING ||
	    pkxd_export_state(e) == PKXD_STREAMING) {
		pkx_fail(
		    &err, PKXD_ESTATE, "export %s is %s: it cannot change now",
		    pkxd_export_id(e), pkxd_state_name(pkxd_export_state(e)));
		goto reject;
	}
	if (cfg && !same_but_mode(cfg->json, pkxd_export_config(e)->json)) {
		pkx_fail(&err, PKX_EINVAL,
		         "only config.mode can change once an export exists; "
		         "create a new export for another config");
		goto reject;
	}
	if (cfg && strcmp(cfg->mode, pkxd_export_config(e)->mode) != 0) {
		if (strcmp(cfg->mode, "PREPARE") != 0) {
			pkx_fail(&err, PKX_EINVAL,
			         "mode can only change to PREPARE (from "
			         "BUFFER_STREAM or LEGACY), not to %s",
			         cfg->mode);
			goto reject;
		}
		if (pkxd_export_state(e) != PKXD_READY ||
		    pkxd_export_spooled(e)) {
			pkx_fail(&err, PKXD_ESTATE,
			         "mode can only change from BUFFER_STREAM or "
			         "LEGACY to PREPARE, while the export is "
			         "READY (it is %s, mode %s)",
			         pkxd_state_name(pkxd_export_state(e)),
			         pkxd_export_config(e)->mode);
			goto reject;
		}
		if (pkx_config_check_live(cfg, 1, &err) != PKX_OK)
			goto reject;
		pkxd_export_set_config(e, cfg);
		cfg = NULL;
		if (pkxd_job_start(e, PKXD_JOB_SPOOL, NULL, NULL, &err) !=
		    PKX_OK)
			goto reject;
		pkxd_export_disarm_timer(e);
		pkxd_export_set_state(e, PKXD_RUNNING);
	}
	pkxd_export_set_extra(e, extra);
	extra = NULL;
	/* Answered once its state is on disk (saved off the loop). */
	if (pkxd_export_save_then(e, put_saved, req) != 0)
		put_saved(pkxd_export_daemon(e), pkxd_export_id(e), errno, req);
	pkx_config_free(cfg);
	json_decref(body);
	return;
reject:
	pkx_log(PKX_LOG_INFO, "pktexportd",
	        "change of export %s by %s refused: %s: %s", pkxd_export_id(e),
	        pkxh_user(req), err.id, err.text);
	pkx_config_free(cfg);
	json_decref(extra);
	json_decref(body);
	pkxd_reply_pkx_error(req, &err);
}

/* A download that did not start gives the export back as it was. */
/* A download about to start: what it sends, and the export as it was
 * before the download took it. */
typedef struct download_ctx {
	pkxh_req *req;
	pkxd_job_kind kind;
	pkxd_span span;
	pkxd_state was;
	int was_downloaded;
} download_ctx;

/* A download that did not start gives the export back as it was. */
static void untake(pkxd_export *e, const download_ctx *dc, int save)
{
	pkxd_export_set_downloaded(e, dc->was_downloaded);
	pkxd_export_set_state(e, dc->was);
	if (save)
		pkxd_export_save(e);
}

/* The taking is on disk (or could not be put there): the download
 * starts, unless the export or its client went meanwhile. */
static void download_taken(pkxd_daemon *d, const char *id, int err, void *arg)
{
	download_ctx *dc = arg;
	pkxh_req *req = dc->req;
	pkxd_export *e = pkxd_export_find(d, id);
	pkx_error perr = {"", ""};
	pkx_result r;

	if (!e) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "export %s was deleted meanwhile", id);
	} else if (err) {
		untake(e, dc, 0);
		pkxd_reply_error(req, 503, "SERVICE_BUSY",
		                 "the service cannot save the export's state "
		                 "(%s): try again later",
		                 strerror(err));
	} else if (!pkxh_connected(req)) {
		/* Its client left before a byte went: a download may come
		 * again, a live stream is over (as when its client leaves
		 * later), with nothing sent. */
		if (pkx_path_is_live(pkxd_export_config(e)->path)) {
			pkxd_export_set_state(e, PKXD_NODATA);
			pkxd_export_save(e);
			pkxd_export_arm_timer(e);
		} else {
			untake(e, dc, 1);
		}
		pkxh_abort(req);
	} else {
		r = dc->kind == PKXD_JOB_SEND_SPOOL
		        ? pkxd_job_send_spool(e, req, &dc->span, &perr)
		        : pkxd_job_start(e, dc->kind, req, NULL, &perr);
		if (r != PKX_OK) {
			untake(e, dc, 1);
			pkxd_reply_pkx_error(req, &perr);
		} else {
			pkxd_export_disarm_timer(e);
		}
	}
	free(dc);
}

/* A spool's size and strong tag (the same output for the same export:
 * id and size); -1 when the spool is not there. */
static int spool_stat(const pkxd_export *e, uint64_t *size, char *etag,
                      size_t cap)
{
	char path[PATH_MAX];
	struct stat sst;

	pkxd_spool_path(e, path, sizeof(path));
	if (stat(path, &sst) != 0)
		return -1;
	*size = (uint64_t)sst.st_size;
	snprintf(etag, cap, "\"%s-%llx\"", pkxd_export_id(e),
	         (unsigned long long)*size);
	return 0;
}

/* A Range request on a DONE export whose spool is still kept (its last
 * bytes were sent, maybe never received): the range is sent, nothing
 * else changes.  Returns 0 when it is not such a request. */
static int late_range(pkxd_export *e, pkxh_req *req)
{
	char etag[64];
	const char *if_range = pkxh_header(req, "If-Range");
	pkxd_span span = {.late = 1};
	pkx_error perr = {"", ""};

	if (!pkxd_export_spool_kept(e) || pkxd_export_job(e) ||
	    pkxh_method_of(req) != PKXH_GET || !pkxh_header(req, "Range"))
		return 0;
	if (spool_stat(e, &span.total, etag, sizeof(etag)) != 0)
		return 0;
	if (if_range && strcmp(if_range, etag) != 0)
		return 0; /* asks for the whole again: that was done */
	span.status = pkxd_range(req, span.total, etag, &span.from, &span.len);
	if (span.status == 416)
		return 1;
	if (span.status != 206)
		return 0;
	if (pkxd_job_send_spool(e, req, &span, &perr) != PKX_OK)
		pkxd_reply_pkx_error(req, &perr);
	return 1;
}

static void download(pkxd_export *e, pkxh_req *req);

/* A download that waited for the one before to end. */
static void download_again(pkxd_export *e, pkxh_req *req, int why)
{
	if (why == PKXD_PARK_DELETED)
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "export %s was deleted meanwhile",
		                 pkxd_export_id(e));
	else if (why == PKXD_PARK_TIMEOUT)
		pkxd_reply_error(req, 409, PKXD_ESTATE,
		                 "export %s is %s: another download of it is "
		                 "under way",
		                 pkxd_export_id(e),
		                 pkxd_state_name(pkxd_export_state(e)));
	else
		download(e, req);
}

static void download(pkxd_export *e, pkxh_req *req)
{
	download_ctx *dc;

	if (strcmp(pkxd_export_config(e)->mode, "STREAM_TO_FILE") == 0) {
		pkxd_reply_error(req, 409, PKXD_ESTATE,
		                 "export %s writes its packets to fs/%s, not "
		                 "to a download",
		                 pkxd_export_id(e),
		                 pkxd_export_config(e)->output_filename);
		return;
	}
	if (late_range(e, req))
		return;
	/* Another download is under way, or ending: a client that got a
	 * whole answer may ask again before the worker has told the loop it
	 * is over (or a cut one may retry at once).  It waits for that
	 * download's end, a while, rather than being refused at once. */
	if (pkxd_export_state(e) == PKXD_STREAMING && pkxd_export_job(e) &&
	    pkxd_export_park(e, req, download_again, PKXD_DOWNLOAD_WAIT_MS) ==
	        0)
		return;
	if (pkxd_export_downloaded(e) || pkxd_export_state(e) == PKXD_DONE) {
		pkxd_reply_error(req, 409, PKXD_ESTATE,
		                 "export %s was already downloaded (%s)",
		                 pkxd_export_id(e),
		                 pkxd_state_name(pkxd_export_state(e)));
		return;
	}
	if (!(dc = calloc(1, sizeof(*dc)))) {
		pkxd_reply_error(req, 503, "SERVICE_BUSY", "out of memory");
		return;
	}
	dc->req = req;
	if (pkxd_export_spooled(e) && (pkxd_export_state(e) == PKXD_READY ||
	                               pkxd_export_state(e) == PKXD_NODATA)) {
		dc->kind = PKXD_JOB_SEND_SPOOL;
	} else if (pkxd_export_state(e) == PKXD_READY &&
	           !pkxd_export_spooled(e)) {
		dc->kind = PKXD_JOB_STREAM;
		if (pkxh_method_of(req) == PKXH_HEAD) {
			/* Its length is known once it has run: no
			 * Content-Length, no ranges. */
			free(dc);
			pkxd_download_headers(req, e);
			pkxh_reply_start(req, 200);
			pkxh_reply_end(req, NULL, NULL);
			return;
		}
	} else {
		free(dc);
		pkxd_reply_error(
		    req, 409, PKXD_ESTATE, "export %s is %s%s%s",
		    pkxd_export_id(e), pkxd_state_name(pkxd_export_state(e)),
		    pkxd_export_state(e) == PKXD_RUNNING ? ": still preparing"
		                                         : "",
		    pkxd_export_state(e) == PKXD_ERRORS ? ": see status.error"
		                                        : "");
		return;
	}
	if (dc->kind == PKXD_JOB_SEND_SPOOL) {
		/* The spool's size is known: a length, a tag, ranges. */
		char etag[64];

		if (spool_stat(e, &dc->span.total, etag, sizeof(etag)) != 0) {
			free(dc);
			pkxd_reply_error(req, 500, PKX_EINTERNAL,
			                 "export %s: its spool file is gone",
			                 pkxd_export_id(e));
			return;
		}
		dc->span.status = pkxd_range(req, dc->span.total, etag,
		                             &dc->span.from, &dc->span.len);
		if (dc->span.status == 416 ||
		    pkxh_method_of(req) == PKXH_HEAD) {
			if (dc->span.status != 416) {
				pkxd_download_headers(req, e);
				pkxh_reply_start_length(req, dc->span.status,
				                        dc->span.len);
				pkxh_reply_end(req, NULL, NULL);
			}
			free(dc);
			return;
		}
	}
	/* A download takes the export: that is saved (off the loop) before
	 * a byte goes, so an export whose taking cannot be saved is not sent
	 * (it would come back READY after a restart and go out twice).
	 * Meanwhile a second download finds it taken. */
	dc->was = pkxd_export_state(e);
	dc->was_downloaded = pkxd_export_downloaded(e);
	pkxd_export_set_downloaded(e, 1);
	if (dc->was == PKXD_READY)
		pkxd_export_set_state(e, PKXD_STREAMING);
	if (pkxd_export_save_then(e, download_taken, dc) != 0)
		download_taken(pkxd_export_daemon(e), pkxd_export_id(e), errno,
		               dc);
}

/* ---------------------------------------------------------------- routing */

static int is_id(const char *s)
{
	size_t i;

	for (i = 0; i < PKXD_ID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[PKXD_ID_LEN] == '\0';
}

static pkxd_export *find_or_404(pkxd_daemon *d, pkxh_req *req, const char *id)
{
	pkxd_export *e = is_id(id) ? pkxd_export_find(d, id) : NULL;

	/* Another user's export is not there for a plain user. */
	if (e && !may_see(pkxd_auth_is_admin(d, pkxh_user(req)), req, e))
		e = NULL;
	if (!e)
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no export with id \"%.64s%s\"", id,
		                 strlen(id) > 64 ? "..." : "");
	return e;
}

/* A service's definition (doc/api/<name>_<version>.json). */
static void reply_service_def(pkxh_req *req, const char *name, pkxh_method m)
{
	json_error_t jerr;
	size_t i;

	if (m != PKXH_GET && m != PKXH_HEAD) {
		pkxd_reply_not_allowed(req, "GET");
		return;
	}
	for (i = 0; i < sizeof(pkxd_service_defs) / sizeof(*pkxd_service_defs);
	     i++)
		if (strcmp(pkxd_service_defs[i].name, name) == 0) {
			pkxd_reply_json(
			    req, 200,
			    json_loads(pkxd_service_defs[i].text, 0, &jerr));
			return;
		}
	pkxd_reply_error(req, 404, PKX_ENOTFOUND, "no definition of service %s",
	                 name);
}

static void common_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                       pkxh_method m)
{
	char host[256] = "pktexport";

	/* The common service's POST resources, all auth.c's. */
	static const struct {
		const char *name;
		void (*post)(pkxd_daemon *d, pkxh_req *req);
	} posts[] = {
	    {"login", pkxd_auth_login},
	    {"logout", pkxd_auth_logout},
	    {"oauth/token", pkxd_auth_oauth_token},
	};
	size_t i;

	for (i = 0; i < sizeof(posts) / sizeof(*posts); i++)
		if (strcmp(rest, posts[i].name) == 0) {
			if (m != PKXH_POST)
				pkxd_reply_not_allowed(req, "POST");
			else
				posts[i].post(d, req);
			return;
		}
	if (strcmp(rest, "ping") && strcmp(rest, "info") &&
	    strcmp(rest, "services") && strcmp(rest, "auth_info")) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no resource /api/common/1.0/%.64s", rest);
		return;
	}
	if (m != PKXH_GET && m != PKXH_HEAD) {
		pkxd_reply_not_allowed(req, "GET");
		return;
	}
	if (strcmp(rest, "ping") == 0) {
		pkxd_reply_json(req, 200, json_object());
	} else if (strcmp(rest, "auth_info") == 0) {
		pkxd_reply_json(req, 200, pkxd_auth_info(d));
	} else if (strcmp(rest, "info") == 0) {
		/* Anyone may ask (no credentials are checked here): with
		 * access control on, the host's name is not told. */
		if (!d->auth)
			gethostname(host, sizeof(host) - 1);
		pkxd_reply_json(req, 200,
		                json_pack("{s:s, s:s, s:s}", "device_name",
		                          host, "model", "pktexport",
		                          "sw_version", PACKAGE_VERSION));
	} else {
		json_t *list = json_pack(
		    "[{s:s, s:[s]}, {s:s, s:[s]}]", "id", "common", "versions",
		    "1.0", "id", "npm.packet_export", "versions", "1.3");

		if (d->auth)
			json_array_append_new(
			    list, json_pack("{s:s, s:[s]}", "id", "mgmt.aaa",
			                    "versions", "2.0"));
		if (d->have_store_tool) {
			json_array_append_new(list,
			                      json_pack("{s:s, s:[s]}", "id",
			                                "npm.packet_capture",
			                                "versions", "3.0"));
			json_array_append_new(
			    list, json_pack("{s:s, s:[s]}", "id", "npm.clips",
			                    "versions", "1.0"));
			json_array_append_new(list,
			                      json_pack("{s:s, s:[s]}", "id",
			                                "npm.filesystem",
			                                "versions", "1.0"));
		}
		pkxd_reply_json(req, 200, list);
	}
}

static void export_api(pkxd_daemon *d, pkxh_req *req, const char *user,
                       const char *rest, const char *query, pkxh_method m)
{
	const int get = m == PKXH_GET || m == PKXH_HEAD;
	pkxd_export *e;

	if (*rest == '\0' || strcmp(rest, "/") == 0) {
		reply_service_def(req, "npm.packet_export", m);
	} else if (strcmp(rest, "/exports") == 0) {
		struct evkeyvalq q;
		const char *path;

		if (m == PKXH_POST) {
			create_export(d, req, user);
			return;
		}
		if (!get) {
			pkxd_reply_not_allowed(req, "GET, POST");
			return;
		}
		TAILQ_INIT(&q);
		if (query && evhttp_parse_query_str(query, &q) != 0) {
			pkxd_reply_error(req, 400, PKX_EINVAL,
			                 "malformed query string");
			return;
		}
		path = evhttp_find_header(&q, "path");
		list_exports(d, req, path);
		evhttp_clear_headers(&q);
	} else if (strncmp(rest, "/exports/items/", 15) == 0) {
		if (!get && m != PKXH_PUT && m != PKXH_DELETE) {
			pkxd_reply_not_allowed(req, "GET, PUT, DELETE");
			return;
		}
		if (!(e = find_or_404(d, req, rest + 15)))
			return;
		if (get)
			reply_export(req, 200, e);
		else if (m == PKXH_PUT)
			update_export(e, req);
		else {
			pkx_log(PKX_LOG_INFO, "pktexportd",
			        "export %s deleted by %s (%s)",
			        pkxd_export_id(e), pkxh_user(req),
			        pkxd_state_name(pkxd_export_state(e)));
			pkxd_export_delete(e);
			pkxh_reply(req, 204, NULL);
		}
	} else if (strncmp(rest, "/packets/items/", 15) == 0) {
		if (!get) {
			pkxd_reply_not_allowed(req, "GET, HEAD");
			return;
		}
		if ((e = find_or_404(d, req, rest + 15)))
			download(e, req);
	} else {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no resource " PKXD_API "%.64s", rest);
	}
}

/* The path of a request, percent-decoded, "/exports/" as "/exports"; NULL
 * after answering when it is malformed or holds a NUL byte. */
static char *request_path(pkxh_req *req)
{
	const char *raw = evhttp_uri_get_path(pkxh_uri(req));
	size_t len = 0;
	char *path;

	if (!raw || !(path = evhttp_uridecode(raw, 0, &len))) {
		pkxd_reply_error(req, 400, PKX_EINVAL, "malformed URI");
		return NULL;
	}
	if (strlen(path) == len && len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	if (strlen(path) != len) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no resource at a path holding a NUL byte");
		free(path);
		return NULL;
	}
	return path;
}

static int is_export_api(const char *path)
{
	size_t n = strlen(PKXD_API);

	return strncmp(path, PKXD_API, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/');
}

/* Before the body: a stopping service and a request without valid
 * credentials are answered here, so their bodies are never read. */
/* The request's path, or NULL after answering: a stopping service
 * takes nothing new, a malformed path is refused. */
static char *serve_path(const pkxd_daemon *d, pkxh_req *req)
{
	if (d->stopping) {
		pkxd_reply_error(req, 503, "SERVICE_BUSY",
		                 "the service is stopping");
		return NULL;
	}
	return request_path(req);
}

/* The services that read the data root through the store tool: their
 * resources below /api/<name>/<version>/. */
static const struct store_service {
	const char *name, *prefix; /* prefix: "/api/<name>/<version>/" */
	void (*api)(pkxd_daemon *d, pkxh_req *req, const char *rest,
	            pkxh_method m);
} store_services[] = {
    {"npm.packet_capture", "/api/npm.packet_capture/3.0/", pkxd_capture_api},
    {"npm.clips", "/api/npm.clips/1.0/", pkxd_clips_api},
    {"npm.filesystem", "/api/npm.filesystem/1.0/", pkxd_files_api},
    {"pktexport", "/api/pktexport/1.0/", pkxd_own_api},
};
#define N_STORE_SERVICES (sizeof(store_services) / sizeof(*store_services))

/* The service of a path below one of those, and the rest of the path. */
static const struct store_service *
store_service_of(const pkxd_daemon *d, const char *path, const char **rest)
{
	size_t i, n;

	for (i = 0; d->have_store_tool && i < N_STORE_SERVICES; i++) {
		n = strlen(store_services[i].prefix);
		/* "/api/<name>/<version>" alone: its definition (rest ""). */
		if (strncmp(path, store_services[i].prefix, n - 1) == 0 &&
		    (path[n - 1] == '\0' || path[n - 1] == '/')) {
			*rest = path[n - 1] ? path + n : "";
			return &store_services[i];
		}
	}
	return NULL;
}

/* Credentials good: an upload's body is set up before it is read, and
 * the services' requests may bring more than the server's default (which
 * is what a request that needs no credentials, such as a login, gets). */
static int after_auth(pkxd_daemon *d, pkxh_req *req, const char *path)
{
	const char *rest;
	const struct store_service *s = store_service_of(d, path, &rest);

	pkxh_set_body_limit(req, PKXD_MAX_BODY);
	return s && s->api == pkxd_files_api ? pkxd_files_head(d, req, rest)
	                                     : 0;
}

int pkxd_http_authed(pkxd_daemon *d, pkxh_req *req)
{
	char *path = request_path(req);
	int answered = path ? after_auth(d, req, path) : 1;

	free(path);
	return answered;
}

void pkxd_http_head(pkxh_req *req, void *arg)
{
	pkxd_daemon *d = arg;
	const char *rest;
	char *path;

	if (!(path = serve_path(d, req)))
		return;
	if (pkxd_console_check(req, path)) {
		free(path);
		return;
	}
	/* What needs credentials: the exports, a user's own refresh
	 * tokens, and the resources of the services on the data root.
	 * A check that takes a thread defers the head. */
	if ((is_export_api(path) || store_service_of(d, path, &rest)) &&
	    pkxd_auth_head(d, req) == 1)
		after_auth(d, req, path);
	else if (strncmp(path, "/api/mgmt.aaa/", 14) == 0 &&
	         strstr(path, "/refresh_tokens"))
		pkxd_auth_head(d, req);
	free(path);
}

void pkxd_http_handle(pkxh_req *req, void *arg)
{
	pkxd_daemon *d = arg;
	pkxh_method m = pkxh_method_of(req);
	const struct store_service *svc;
	const char *rest;
	char *path;

	if (!(path = serve_path(d, req)))
		return;
	if (pkxd_console_serve(d, req, path)) {
		/* the console's files (console.c) */
	} else if (strcmp(path, "/api/common/1.0") == 0) {
		reply_service_def(req, "common", m);
	} else if (strcmp(path, "/api/mgmt.aaa/2.0") == 0 && d->auth) {
		/* Served (and listed) with access control only. */
		reply_service_def(req, "mgmt.aaa", m);
	} else if (strncmp(path, "/api/common/1.0/", 16) == 0) {
		common_api(d, req, path + 16, m);
	} else if (strncmp(path, "/api/mgmt.aaa/2.0/", 18) == 0) {
		pkxd_auth_api(d, req, path + 18, m);
	} else if (strcmp(path, "/api/mgmt.aaa/1.0/token") == 0) {
		/* The 1.0 token endpoint: the same requests and answers. */
		pkxd_auth_api(d, req, "token", m);
	} else if ((svc = store_service_of(d, path, &rest)) && !*rest) {
		reply_service_def(req, svc->name, m);
	} else if (svc) {
		/* Authenticated from the head (pkxd_http_head). */
		svc->api(d, req, rest, m);
	} else if (is_export_api(path)) {
		/* Authenticated from the head (pkxd_http_head). */
		export_api(d, req, pkxh_user(req), path + strlen(PKXD_API),
		           evhttp_uri_get_query(pkxh_uri(req)), m);
	} else {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND, "no resource %.64s%s",
		                 path, strlen(path) > 64 ? "..." : "");
	}
	free(path);
}
