/* POST /api/pktexport/1.0/filters/validate: compiles filters for a source
 * as an export's creation would, without creating one, so that a client
 * (the console) can check an expression as it is typed (doc/api.md,
 * "Filter validation").  The body is bounded as an export's filters are;
 * the source is opened and the filters compiled on a task thread, never
 * on the loop, a few at a time for each user. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"
#include "pkxd.h"

/* Validations of one user at once (the service's task bound holds the
 * total). */
#define VALIDATE_PER_USER 2

typedef struct validation {
	pkxd_daemon *d;
	pkxh_req *req;
	pkx_config *cfg;
	char user[64];
	pkx_error err;
	int ok;
	struct validation *next;
} validation;

static validation *running; /* loop only */

static void validate_work(void *arg)
{
	validation *v = arg;
	pkx_run *run = NULL;

	v->ok = pkx_run_prepare(v->d->reg, v->d->root, v->cfg, NULL, &run,
	                        &v->err) == PKX_OK;
	if (run)
		pkx_run_free(run);
}

static void validate_done(pkxd_daemon *d, void *arg)
{
	validation *v = arg, **p;

	(void)d;
	for (p = &running; *p; p = &(*p)->next)
		if (*p == v) {
			*p = v->next;
			break;
		}
	if (v->ok)
		pkxd_reply_json(v->req, 200, json_pack("{s:b}", "valid", 1));
	else
		pkxd_reply_pkx_error(v->req, &v->err);
	pkx_config_free(v->cfg);
	free(v);
}

void pkxd_validate_filters(pkxd_daemon *d, pkxh_req *req)
{
	json_t *body = pkxd_read_body(req), *cfgj = NULL;
	const char *user = pkxh_user(req) ? pkxh_user(req) : "";
	const json_t *path, *filters;
	validation *v = NULL;
	const validation *o;
	pkx_error err = {"", ""};
	unsigned mine = 0;
	const char *key;
	json_t *val;

	if (!body)
		return;
	path = json_object_get(body, "path");
	filters = json_object_get(body, "filters");
	json_object_foreach(body, key, val)
	{
		if (strcmp(key, "path") && strcmp(key, "filters")) {
			pkx_fail(&err, PKX_EINVAL,
			         "unknown property \"%.64s\": path and filters "
			         "only",
			         key);
			goto reject;
		}
	}
	if (!json_is_string(path) || !filters) {
		pkx_fail(&err, PKX_EINVAL,
		         "path (a source) and filters are required");
		goto reject;
	}
	if (pkx_path_is_live(json_string_value(path))) {
		pkx_fail(&err, PKX_EINVAL,
		         "filters are validated against a file or a store, "
		         "not a live source");
		goto reject;
	}
	cfgj = json_pack("{s:O, s:O}", "path", path, "filters", filters);
	if (!(v = calloc(1, sizeof(*v)))) {
		pkx_fail(&err, PKX_EINTERNAL, "out of memory");
		goto reject;
	}
	if (pkx_config_parse(cfgj, &v->cfg, &err) != PKX_OK ||
	    pkx_config_check_bounds(v->cfg, &err) != PKX_OK)
		goto reject;
	for (o = running; o; o = o->next)
		mine += strcmp(o->user, user) == 0;
	if (mine >= VALIDATE_PER_USER ||
	    pkxd_tasks_busy() >= PKXD_MAX_LISTINGS) {
		pkx_fail(&err, PKX_EBUSY,
		         "%u validations of yours are running: try again when "
		         "one is done",
		         mine);
		goto reject;
	}
	v->d = d;
	v->req = req;
	snprintf(v->user, sizeof(v->user), "%s", user);
	if (pkxd_task_start(d, validate_work, validate_done, v) != 0) {
		pkx_fail(&err, PKX_EBUSY, "cannot validate now: try again");
		goto reject;
	}
	v->next = running;
	running = v;
	json_decref(cfgj);
	json_decref(body);
	return;
reject:
	if (v) {
		pkx_config_free(v->cfg);
		free(v);
	}
	json_decref(cfgj);
	json_decref(body);
	pkxd_reply_pkx_error(req, &err);
}
