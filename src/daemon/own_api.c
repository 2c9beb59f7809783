/* /api/pktexport/1.0/: the project's own resources beside the vendor's
 * services (doc/api.md): the timeline (timeline.c), filter validation
 * (validate.c), and what the console asks of the daemon itself: the
 * loaded plugins' claims and the session it runs in. */
#define _GNU_SOURCE
#include <string.h>

#include "pkx.h"
#include "pkxd.h"

/* GET plugins: the filter types and output formats the loaded plugins
 * claim, for the console's choices (a vendor's plugin shows there). */
static void add_claims(const pkx_plugin_header *h, void *data)
{
	json_t *list = json_object_get(
	    data, h->kind == PKX_KIND_FILTER   ? "filter_types"
	          : h->kind == PKX_KIND_FORMAT ? "output_formats"
	                                       : "");
	const char *const *c;

	for (c = h->claims; list && *c; c++)
		json_array_append_new(list, json_string(*c));
}

void pkxd_own_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                  pkxh_method m)
{
	if (strcmp(rest, "filters/validate") == 0) {
		if (m != PKXH_POST)
			pkxd_reply_not_allowed(req, "POST");
		else
			pkxd_validate_filters(d, req);
		return;
	}
	if (strcmp(rest, "plugins") == 0) {
		json_t *kinds;

		if (m != PKXH_GET && m != PKXH_HEAD) {
			pkxd_reply_not_allowed(req, "GET");
			return;
		}
		kinds =
		    json_pack("{s:[], s:[]}", "filter_types", "output_formats");
		pkx_registry_each(d->reg, add_claims, kinds);
		pkxd_reply_json(req, 200, kinds);
		return;
	}
	if (strcmp(rest, "session") == 0) {
		/* Who the console is logged in as (none shown without
		 * access control: everyone is the same "admin" there). */
		if (m != PKXH_GET && m != PKXH_HEAD) {
			pkxd_reply_not_allowed(req, "GET");
			return;
		}
		pkxd_reply_json(req, 200,
		                d->auth
		                    ? json_pack("{s:b, s:s?}", "access_control",
		                                1, "user", pkxh_user(req))
		                    : json_pack("{s:b}", "access_control", 0));
		return;
	}
	if (strcmp(rest, "timeline") == 0) {
		pkxd_timeline(d, req, m);
		return;
	}
	pkxd_reply_error(req, 404, PKX_ENOTFOUND,
	                 "no resource /api/pktexport/1.0/%.64s", rest);
}
