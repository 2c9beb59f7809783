/* /api/pktexport/1.0/timeline: packets and bytes per interval of a
 * source (a store, a clip, an fs/ capture) from its time indexes, the
 * project's own service beside the vendor's (doc/api.md, "Timeline").
 * The daemon knows no capture format: the store tool reads the indexes
 * (`pktexport-store timeline`), on a task thread, off the loop. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/keyvalq_struct.h>
#include "pkx.h"
#include "pkxd.h"

#define TIMELINE_MAX_INTERVALS     2000
#define TIMELINE_DEFAULT_INTERVALS 200

typedef struct timeline {
	const pkxd_daemon *d;
	pkxh_req *req;
	char path[4200], start[24], end[24], intervals[8];
	int spread; /* spread=1: counts interpolated inside index entries */
	json_t *out;
	pkx_error err;
} timeline;

static void timeline_work(void *arg)
{
	timeline *t = arg;
	const char *args[] = {"timeline", t->path,      t->start,
	                      t->end,     t->intervals, NULL};
	const char *spread_args[] = {"timeline", "--spread", t->path,
	                             t->start,   t->end,     t->intervals,
	                             NULL};

	t->out = pkxd_store_tool(t->d, t->spread ? spread_args : args, &t->err);
}

static void timeline_done(pkxd_daemon *d, void *arg)
{
	timeline *t = arg;
	json_t *code;

	(void)d;
	if (!t->out) {
		pkx_log(PKX_LOG_ERROR, "pktexportd", "timeline of %s: %s",
		        t->path, t->err.text);
		pkxd_reply_pkx_error(t->req, &t->err);
	} else if ((code = json_object_get(t->out, "code"))) {
		json_int_t c = json_integer_value(code);

		pkxd_reply_error(
		    t->req, (int)c,
		    c == 404   ? PKX_ENOTFOUND
		    : c == 500 ? PKX_EINTERNAL
		               : PKX_EINVAL,
		    "%s", json_string_value(json_object_get(t->out, "error")));
		json_decref(t->out);
	} else {
		pkxd_reply_json(t->req, 200, t->out);
	}
	free(t);
}

/* A query parameter's time ("SECONDS[.FRACTION]") as nanoseconds in buf;
 * "0" when absent.  -1 after answering. */
static int query_time(pkxh_req *req, const struct evkeyvalq *q,
                      const char *name, char *buf, size_t len)
{
	const char *v = evhttp_find_header(q, name);
	pkx_error err;
	uint64_t ns = 0;

	memset(&err, 0, sizeof(err));
	if (v && pkx_time_parse(v, name, &ns, &err) != PKX_OK) {
		pkxd_reply_pkx_error(req, &err);
		return -1;
	}
	snprintf(buf, len, "%" PRIu64, ns);
	return 0;
}

/* GET timeline?path=&start=&end=&intervals=&spread=. */
void pkxd_timeline(pkxd_daemon *d, pkxh_req *req, pkxh_method m)
{
	const char *query = evhttp_uri_get_query(pkxh_uri(req)), *path, *n,
	           *spread;
	struct evkeyvalq q;
	timeline *t = NULL;
	long intervals = TIMELINE_DEFAULT_INTERVALS;
	char *end;

	if (m != PKXH_GET && m != PKXH_HEAD) {
		pkxd_reply_not_allowed(req, "GET");
		return;
	}
	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query ? query : "", &q) != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL, "malformed query");
		return;
	}
	path = evhttp_find_header(&q, "path");
	n = evhttp_find_header(&q, "intervals");
	spread = evhttp_find_header(&q, "spread");
	if (spread && strcmp(spread, "0") != 0 && strcmp(spread, "1") != 0 &&
	    strcmp(spread, "false") != 0 && strcmp(spread, "true") != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "spread must be 1 (or true) or 0 (or false)");
		goto out;
	}
	if (n) {
		intervals = strtol(n, &end, 10);
		if (*end || end == n || intervals < 1 ||
		    intervals > TIMELINE_MAX_INTERVALS) {
			pkxd_reply_error(req, 400, PKX_EINVAL,
			                 "intervals must be 1 to %d",
			                 TIMELINE_MAX_INTERVALS);
			goto out;
		}
	}
	if (!path ||
	    (strncmp(path, "jobs/", 5) != 0 &&
	     strncmp(path, "clips/", 6) != 0 && strncmp(path, "fs/", 3) != 0)) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "path must be jobs/NAME, clips/ID or fs/FILE");
		goto out;
	}
	if (!(t = calloc(1, sizeof(*t))) || strlen(path) >= sizeof(t->path)) {
		pkxd_reply_error(req, t ? 400 : 500,
		                 t ? PKX_EINVAL : PKX_EINTERNAL, "%s",
		                 t ? "path too long" : "out of memory");
		goto out;
	}
	t->d = d;
	t->req = req;
	snprintf(t->path, sizeof(t->path), "%s", path);
	snprintf(t->intervals, sizeof(t->intervals), "%ld", intervals);
	t->spread = spread && (!strcmp(spread, "1") || !strcmp(spread, "true"));
	if (query_time(req, &q, "start", t->start, sizeof(t->start)) != 0 ||
	    query_time(req, &q, "end", t->end, sizeof(t->end)) != 0)
		goto out;
	if (strcmp(t->end, "0") != 0 &&
	    strtoull(t->start, NULL, 10) >= strtoull(t->end, NULL, 10)) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "start must be before end");
		goto out;
	}
	if (pkxd_tasks_busy() >= PKXD_MAX_LISTINGS ||
	    pkxd_task_start(d, timeline_work, timeline_done, t) != 0) {
		pkxd_reply_error(req, 503, PKX_EBUSY,
		                 "cannot read the timeline now (busy or out "
		                 "of resources): try again");
		goto out;
	}
	t = NULL; /* the task's */
out:
	free(t);
	evhttp_clear_headers(&q);
}
