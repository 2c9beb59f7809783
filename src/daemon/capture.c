/* npm.packet_capture 3.0 (the packet stores under jobs/ as capture jobs:
 * configured ones with their state from recorder.c, the others stopped;
 * the host's interfaces; the VIFGs are recorder.c's) and npm.clips 1.0
 * (the saved windows under clips/).  What the stores hold comes from the
 * store tool, run off the loop; the interfaces from /sys/class/net. */
#define _GNU_SOURCE
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkxd.h"

/* "SECONDS.NANOSECONDS", the API's time strings; "0" for none. */
static json_t *time_str(json_t *ns)
{
	char buf[32];
	json_int_t v = json_integer_value(ns);

	if (!json_is_integer(ns) || v <= 0)
		return json_string("0");
	pkxd_ns_text((uint64_t)v, buf, sizeof(buf));
	return json_string(buf);
}

static json_int_t int_of(const json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

/* A store as a capture job of the reference (a stopped one: recording
 * belongs to capture jobs proper). */
static json_t *job_json(const json_t *s)
{
	const char *error = json_string_value(json_object_get(s, "error"));

	return json_pack(
	    "{s:O, s:{s:O, s:b, s:[], s:b}, s:{s:{s:{s:I}, s:{s:I}}, "
	    "s:{s:s, s:o, s:o, s:I, s:I}}}",
	    "id", json_object_get(s, "id"), "config", "name",
	    json_object_get(s, "name"), "enabled", 0, "vifgs",
	    "optimize_for_read", 0, "state", "stats", "packets_written",
	    "total", int_of(s, "packets"), "bytes_written", "total",
	    int_of(s, "bytes"), "status", "state",
	    error ? "UNKNOWN" : "STOPPED", "packet_start_time",
	    time_str(json_object_get(s, "first_ns")), "packet_end_time",
	    time_str(json_object_get(s, "last_ns")), "capture_size",
	    int_of(s, "bytes"), "capture_disk_space", int_of(s, "size"));
}

static json_t *clip_json(const json_t *c)
{
	const json_t *job_id = json_object_get(c, "job_id");
	const json_t *end = json_object_get(c, "end_ns");
	json_t *cfg, *o;

	cfg = json_pack("{s:O, s:o}", "job_id",
	                job_id ? job_id : json_object_get(c, "job"),
	                "start_time", time_str(json_object_get(c, "start_ns")));
	if (json_is_integer(end))
		json_object_set_new(cfg, "end_time", time_str((json_t *)end));
	if (json_object_get(c, "description"))
		json_object_set(cfg, "description",
		                json_object_get(c, "description"));
	o = json_pack("{s:O, s:o, s:{s:o, s:o, s:b}}", "id",
	              json_object_get(c, "id"), "config", cfg, "status",
	              "creation_time", time_str(json_object_get(c, "mtime_ns")),
	              "modification_time",
	              time_str(json_object_get(c, "mtime_ns")), "locked", 0);
	return o;
}

/* ------------------------------------------------------------ listings */

typedef struct listing {
	const pkxd_daemon *d;
	pkxh_req *req;
	int clips;     /* npm.clips, else jobs */
	char *item_id; /* one item, else the collection */
	json_t *out;
	pkx_error err;
} listing;

static void listing_work(void *arg)
{
	listing *l = arg;
	const char *args[] = {"list", NULL};

	l->out = pkxd_store_tool(l->d, args, &l->err);
}

static void listing_done(pkxd_daemon *d, void *arg)
{
	listing *l = arg;
	json_t *items, *v;
	size_t i;

	if (!l->out) {
		pkx_log(PKX_LOG_ERROR, "pktexportd", "listing %s: %s",
		        l->clips ? "clips" : "jobs", l->err.text);
		pkxd_reply_pkx_error(l->req, &l->err);
		goto out;
	}
	items = json_array();
	json_array_foreach(json_object_get(l->out, l->clips ? "clips" : "jobs"),
	                   i, v)
	{
		const char *id = json_string_value(json_object_get(v, "id"));

		if (l->clips && json_object_get(v, "error")) {
			/* A clip file that is not one is not listed. */
			pkx_log(PKX_LOG_WARN, "pktexportd", "clips/%s: %s", id,
			        json_string_value(json_object_get(v, "error")));
			if (!l->item_id || strcmp(id, l->item_id) != 0)
				continue;
			pkxd_reply_error(
			    l->req, 422, PKX_EINVAL, "clip %s: %s", id,
			    json_string_value(json_object_get(v, "error")));
			json_decref(items);
			goto out;
		}
		if (l->item_id && strcmp(id, l->item_id) != 0 &&
		    (l->clips ||
		     strcmp(json_string_value(json_object_get(v, "name")),
		            l->item_id) != 0))
			continue;
		if (l->clips) {
			json_array_append_new(items, clip_json(v));
		} else {
			const char *name =
			    json_string_value(json_object_get(v, "name"));
			json_t *stored = job_json(v);
			json_t *conf = pkxd_capture_job_json(d, name, stored);

			json_array_append_new(items, conf ? conf : stored);
			if (conf)
				json_decref(stored);
		}
	}
	if (!l->item_id)
		pkxd_reply_json(l->req, 200,
		                json_pack("{s:o}", "items", items));
	else if (json_array_size(items) == 1) {
		pkxd_reply_json(l->req, 200,
		                json_incref(json_array_get(items, 0)));
		json_decref(items);
	} else {
		json_decref(items);
		pkxd_reply_error(l->req, 404, PKX_ENOTFOUND, "no %s with id %s",
		                 l->clips ? "clip" : "capture job", l->item_id);
	}
out:
	json_decref(l->out);
	free(l->item_id);
	free(l);
}

static void list_stores(pkxd_daemon *d, pkxh_req *req, int clips,
                        const char *item_id)
{
	listing *l = calloc(1, sizeof(*l));

	if (l) {
		l->d = d;
		l->req = req;
		l->clips = clips;
		l->item_id = item_id ? strdup(item_id) : NULL;
	}
	if (!l || (item_id && !l->item_id) ||
	    pkxd_tasks_busy() >= PKXD_MAX_LISTINGS ||
	    pkxd_task_start(d, listing_work, listing_done, l) != 0) {
		if (l)
			free(l->item_id);
		free(l);
		pkxd_reply_error(req, 503, PKX_EBUSY,
		                 "cannot list the stores now (busy or out of "
		                 "resources): try again");
	}
}

/* ---------------------------------------------------------- interfaces */

static int sys_read(const char *name, const char *what, char *buf, size_t len)
{
	char path[256];
	FILE *f;
	int ok;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, what);
	if (!(f = fopen(path, "re")))
		return -1;
	/* Some read as an error (an interface without a speed). */
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	if (!ok)
		buf[0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return ok ? 0 : -1;
}

static json_int_t sys_int(const char *name, const char *what)
{
	char buf[64];

	return sys_read(name, what, buf, sizeof(buf)) == 0 ? atoll(buf) : 0;
}

/* An interface of the host, as the reference's phys_interface: what the
 * kernel says of it (sysfs reads do not touch a disk). */
static json_t *iface_json(const char *name)
{
	char oper[32] = "", duplex[32] = "", sd[32] = "UNKNOWN";
	json_int_t speed = sys_int(name, "speed");
	const char *status = "UNKNOWN";

	sys_read(name, "operstate", oper, sizeof(oper));
	sys_read(name, "duplex", duplex, sizeof(duplex));
	if (strcmp(oper, "up") == 0)
		status = "UP";
	else if (strcmp(oper, "down") == 0 || strcmp(oper, "dormant") == 0 ||
	         strcmp(oper, "lowerlayerdown") == 0)
		status = "DOWN";
	if (speed == 10 || speed == 100 || speed == 1000 || speed == 10000 ||
	    speed == 40000 || speed == 100000)
		snprintf(sd, sizeof(sd), "%lld_%s", (long long)speed,
		         strcmp(duplex, "half") == 0 ? "HD" : "FD");
	if (strcmp(sd, "1000_HD") == 0 || strcmp(sd, "10000_HD") == 0)
		snprintf(sd, sizeof(sd), "UNKNOWN");
	return json_pack(
	    "{s:s, s:{s:s, s:b, s:s, s:s}, s:{s:s, s:s, s:I, s:s, "
	    "s:{s:{s:I}, s:{s:I}, s:{s:I}}}}",
	    "name", name, "config", "alias", "", "enabled", 1, "description",
	    "", "speed_duplex", "AUTONEG", "state", "status", status,
	    "interface_type", "UNKNOWN", "mtu", sys_int(name, "mtu"),
	    "speed_duplex", sd, "stats", "bytes_total", "total",
	    sys_int(name, "statistics/rx_bytes"), "packets_total", "total",
	    sys_int(name, "statistics/rx_packets") +
	        sys_int(name, "statistics/rx_dropped"),
	    "packets_dropped", "total", sys_int(name, "statistics/rx_dropped"));
}

static void list_interfaces(pkxh_req *req, const char *one)
{
	struct if_nameindex *ifs = if_nameindex(), *i;
	json_t *items = json_array();

	for (i = ifs; i && i->if_index; i++)
		if (!one || strcmp(one, i->if_name) == 0)
			json_array_append_new(items, iface_json(i->if_name));
	if (ifs)
		if_freenameindex(ifs);
	if (!one)
		pkxd_reply_json(req, 200, json_pack("{s:O}", "items", items));
	else if (json_array_size(items))
		pkxd_reply_json(req, 200,
		                json_incref(json_array_get(items, 0)));
	else
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no interface %.64s on this host", one);
	json_decref(items);
}

/* ------------------------------------------------------------- routing */

void pkxd_capture_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                      pkxh_method m)
{
	int vifgs = strcmp(rest, "vifgs") == 0 ||
	            (strncmp(rest, "vifgs/items/", 12) == 0 && rest[12] &&
	             !strchr(rest + 12, '/'));

	if (m != PKXH_GET && m != PKXH_HEAD) {
		/* Jobs and VIFGs change with the admin role. */
		if (!pkxd_auth_is_admin(d, pkxh_user(req))) {
			pkxd_reply_error(
			    req, 403, "AUTH_FORBIDDEN",
			    "changing capture jobs and VIFGs takes "
			    "the admin role");
			return;
		}
		if (vifgs)
			pkxd_capture_vifgs_api(d, req,
			                       rest[5] ? rest + 12 : NULL, m);
		else if (!pkxd_capture_jobs_api(d, req, rest, m))
			pkxd_reply_not_allowed(req, "GET");
		return;
	}
	if (vifgs)
		pkxd_capture_vifgs_api(d, req, rest[5] ? rest + 12 : NULL, m);
	else if (strcmp(rest, "jobs") == 0)
		list_stores(d, req, 0, NULL);
	else if (strncmp(rest, "jobs/items/", 11) == 0 && rest[11] &&
	         !strchr(rest + 11, '/'))
		list_stores(d, req, 0, rest + 11);
	else if (strcmp(rest, "interfaces") == 0)
		list_interfaces(req, NULL);
	else if (strncmp(rest, "interfaces/items/", 17) == 0 && rest[17] &&
	         !strchr(rest + 17, '/'))
		list_interfaces(req, rest + 17);
	else
		pkxd_reply_error(
		    req, 404, PKX_ENOTFOUND,
		    "no resource /api/npm.packet_capture/3.0/%.64s", rest);
}

void pkxd_clips_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                    pkxh_method m)
{
	if (m != PKXH_GET && m != PKXH_HEAD) {
		pkxd_reply_not_allowed(req, "GET");
		return;
	}
	if (strcmp(rest, "clips") == 0)
		list_stores(d, req, 1, NULL);
	else if (strncmp(rest, "clips/items/", 12) == 0 && rest[12] &&
	         !strchr(rest + 12, '/'))
		list_stores(d, req, 1, rest + 12);
	else
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no resource /api/npm.clips/1.0/%.64s", rest);
}
