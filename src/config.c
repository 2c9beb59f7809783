/* The export `config` object of Packet Export API 1.3: validation with
 * jansson, exactly as the definition says, and the selected windows. */
#include "config.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"

static const char *const modes[] = {"LIVE_STREAM",    "BUFFER_STREAM",
                                    "STREAM_TO_FILE", "LEGACY",
                                    "PREPARE",        NULL};
static const char *const formats[] = {"PCAP_US", "PCAP_NS", "PCAPNG_US",
                                      "PCAPNG_NS", NULL};
static const char *const filter_types[] = {"BPF", "STEELFILTER", "WIRESHARK",
                                           NULL};
static const char *const contexts[] = {"NONE", "INTERNAL", "USER", "DRILL_DOWN",
                                       NULL};

static int in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return 1;
	return 0;
}

static void join_list(const char *const *list, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (; *list && used < len; list++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s",
		                         used ? ", " : "", *list);
}

/* Refuses any key of obj not in allowed. */
static pkx_result check_keys(const json_t *obj, const char *where,
                             const char *const *allowed, pkx_error *err)
{
	const char *key;
	const json_t *value;
	char names[256];

	json_object_foreach((json_t *)obj, key, value)
	{
		(void)value;
		if (!in_list(key, allowed)) {
			join_list(allowed, names, sizeof(names));
			return pkx_fail(err, PKX_EINVAL,
			                "unknown property \"%s\" in %s "
			                "(allowed: %s)",
			                key, where, names);
		}
	}
	return PKX_OK;
}

static pkx_result get_string(const json_t *obj, const char *key,
                             const char *where, const char **out,
                             pkx_error *err)
{
	const json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v)
		return PKX_OK;
	if (!json_is_string(v))
		return pkx_fail(err, PKX_EINVAL, "%s.%s must be a string",
		                where, key);
	*out = json_string_value(v);
	if (strlen(*out) != json_string_length(v))
		return pkx_fail(err, PKX_EINVAL,
		                "%s.%s contains a NUL character", where, key);
	return PKX_OK;
}

static pkx_result get_enum(const json_t *obj, const char *key,
                           const char *where, const char *const *values,
                           const char **out, pkx_error *err)
{
	char names[256];

	if (get_string(obj, key, where, out, err) != PKX_OK)
		return PKX_ERROR;
	if (*out && !in_list(*out, values)) {
		join_list(values, names, sizeof(names));
		return pkx_fail(err, PKX_EINVAL,
		                "%s.%s \"%s\" is not one of %s", where, key,
		                *out, names);
	}
	return PKX_OK;
}

/* A name from the API's list, or one a plugin may claim (a vendor's
 * filter language or format: upper-case letters, digits and '_', at most
 * 32).  Whether a loaded plugin serves it is the run's to say. */
int pkx_api_name_ok(const char *name)
{
	size_t n = strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_");

	return n > 0 && n <= 32 && name[n] == '\0' &&
	       !isdigit((unsigned char)name[0]);
}

static pkx_result get_claim(const json_t *obj, const char *key,
                            const char *where, const char *const *values,
                            const char **out, pkx_error *err)
{
	char names[256];

	if (get_string(obj, key, where, out, err) != PKX_OK)
		return PKX_ERROR;
	if (!*out || in_list(*out, values) || pkx_api_name_ok(*out))
		return PKX_OK;
	join_list(values, names, sizeof(names));
	return pkx_fail(err, PKX_EINVAL,
	                "%s.%s \"%s\" is not one of %s (or the name of a "
	                "plugin's, in capitals)",
	                where, key, *out, names);
}

/* An unsigned integer no larger than max; *present tells if it was given. */
static pkx_result get_uint(const json_t *obj, const char *key,
                           const char *where, uint64_t max, uint64_t *out,
                           int *present, pkx_error *err)
{
	const json_t *v = json_object_get(obj, key);
	json_int_t n;

	if (present)
		*present = v != NULL;
	if (!v)
		return PKX_OK;
	if (!json_is_integer(v))
		return pkx_fail(err, PKX_EINVAL, "%s.%s must be an integer",
		                where, key);
	n = json_integer_value(v);
	/* JSON integers are read as signed 64-bit: larger ones never get
	 * here (the body is refused as "too big integer"). */
	if (max > (uint64_t)INT64_MAX)
		max = (uint64_t)INT64_MAX;
	if (n < 0 || (uint64_t)n > max)
		return pkx_fail(err, PKX_EINVAL,
		                "%s.%s %lld is out of range (0 to %llu)", where,
		                key, (long long)n, (unsigned long long)max);
	*out = (uint64_t)n;
	return PKX_OK;
}

/* Reads a time field; "0" and absence both leave *ns untouched. */
static pkx_result get_time(json_t *obj, const char *key, const char *where,
                           uint64_t *ns, pkx_error *err)
{
	json_t *v = json_object_get(obj, key);
	char field[64], canon[32];
	uint64_t t;

	if (!v)
		return PKX_OK;
	snprintf(field, sizeof(field), "%s.%s", where, key);
	if (pkx_time_from_json(v, field, &t, err) != PKX_OK)
		return PKX_ERROR;
	if (!json_is_string(v)) {
		/* The definition says string: echo numbers back as one. */
		pkx_time_format(t, canon, sizeof(canon));
		json_object_set_new(obj, key, json_string(canon));
	}
	if (t != 0)
		*ns = t;
	return PKX_OK;
}

static pkx_result parse_filters(pkx_config *cfg, const json_t *filters,
                                pkx_error *err)
{
	static const char *const keys[] = {"items", NULL};
	static const char *const item_keys[] = {"context", "id", "type",
	                                        "value", NULL};
	const json_t *items, *item;
	size_t i;

	if (!json_is_object(filters))
		return pkx_fail(err, PKX_EINVAL,
		                "config.filters must be an object");
	if (check_keys(filters, "config.filters", keys, err) != PKX_OK)
		return PKX_ERROR;
	items = json_object_get(filters, "items");
	if (!items)
		return PKX_OK;
	if (!json_is_array(items))
		return pkx_fail(err, PKX_EINVAL,
		                "config.filters.items must be an array");
	cfg->filters =
	    calloc(json_array_size(items) + 1, sizeof(*cfg->filters));
	if (!cfg->filters)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	json_array_foreach(items, i, item)
	{
		char where[64];
		const char *id, *type, *value, *context;

		snprintf(where, sizeof(where), "config.filters.items[%zu]", i);
		if (!json_is_object(item))
			return pkx_fail(err, PKX_EINVAL, "%s must be an object",
			                where);
		if (check_keys(item, where, item_keys, err) != PKX_OK ||
		    get_string(item, "id", where, &id, err) != PKX_OK ||
		    get_claim(item, "type", where, filter_types, &type, err) !=
		        PKX_OK ||
		    get_string(item, "value", where, &value, err) != PKX_OK ||
		    get_enum(item, "context", where, contexts, &context, err) !=
		        PKX_OK)
			return PKX_ERROR;
		if (!id || !type || !value)
			return pkx_fail(err, PKX_EINVAL, "%s needs \"%s\"",
			                where,
			                !id     ? "id"
			                : !type ? "type"
			                        : "value");
		cfg->filters[i].id = strdup(id);
		cfg->filters[i].type = strdup(type);
		cfg->filters[i].value = strdup(value);
		cfg->filters[i].context = context ? strdup(context) : NULL;
		cfg->n_filters = i + 1;
	}
	return PKX_OK;
}

static pkx_result parse_intervals(pkx_config *cfg, json_t *list, pkx_error *err)
{
	static const char *const keys[] = {"end_time", "start_time", NULL};
	json_t *item;
	size_t i;

	if (!json_is_array(list))
		return pkx_fail(err, PKX_EINVAL,
		                "config.time_intervals must be an array");
	/* [] restricts nothing: clients send it for "no intervals". */
	cfg->has_intervals = json_array_size(list) > 0;
	cfg->intervals =
	    calloc(json_array_size(list) + 1, sizeof(*cfg->intervals));
	if (!cfg->intervals)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	json_array_foreach(list, i, item)
	{
		char where[64];
		pkx_window *w = &cfg->intervals[i];

		snprintf(where, sizeof(where), "config.time_intervals[%zu]", i);
		if (!json_is_object(item))
			return pkx_fail(err, PKX_EINVAL, "%s must be an object",
			                where);
		if (check_keys(item, where, keys, err) != PKX_OK)
			return PKX_ERROR;
		if (!json_object_get(item, "start_time") ||
		    !json_object_get(item, "end_time"))
			return pkx_fail(err, PKX_EINVAL,
			                "%s needs both start_time and "
			                "end_time",
			                where);
		w->start = 0;
		w->end = PKX_TIME_UNBOUNDED;
		if (get_time(item, "start_time", where, &w->start, err) !=
		        PKX_OK ||
		    get_time(item, "end_time", where, &w->end, err) != PKX_OK)
			return PKX_ERROR;
		if (w->start > w->end)
			return pkx_fail(err, PKX_EINVAL,
			                "%s: start_time is after end_time",
			                where);
		cfg->n_intervals = i + 1;
	}
	return PKX_OK;
}

static pkx_result parse_stop_rule(pkx_config *cfg, const json_t *rule,
                                  pkx_error *err)
{
	static const char *const keys[] = {"packet_limit", "size_limit",
	                                   "time_limit", NULL};
	const char *where = "config.stop_rule";
	uint64_t t = 0;

	if (!json_is_object(rule))
		return pkx_fail(err, PKX_EINVAL, "%s must be an object", where);
	if (check_keys(rule, where, keys, err) != PKX_OK ||
	    get_uint(rule, "packet_limit", where, UINT64_MAX,
	             &cfg->packet_limit, NULL, err) != PKX_OK ||
	    get_uint(rule, "size_limit", where, UINT64_MAX, &cfg->size_limit,
	             NULL, err) != PKX_OK ||
	    get_uint(rule, "time_limit", where, UINT32_MAX, &t, NULL, err) !=
	        PKX_OK)
		return PKX_ERROR;
	cfg->time_limit = (uint32_t)t;
	return PKX_OK;
}

static pkx_result parse_into(pkx_config *cfg, json_t *obj, pkx_error *err)
{
	static const char *const keys[] = {"connection_timeout_msec",
	                                   "end_time",
	                                   "filters",
	                                   "handle_timeout_msec",
	                                   "mode",
	                                   "output_filename",
	                                   "output_format",
	                                   "path",
	                                   "snap_length",
	                                   "start_time",
	                                   "stop_rule",
	                                   "time_intervals",
	                                   NULL};
	const char *w = "config";
	const char *path, *mode, *format, *outname;
	uint64_t snap = 0;
	const json_t *v;

	if (check_keys(obj, w, keys, err) != PKX_OK ||
	    get_string(obj, "path", w, &path, err) != PKX_OK ||
	    get_enum(obj, "mode", w, modes, &mode, err) != PKX_OK ||
	    get_claim(obj, "output_format", w, formats, &format, err) !=
	        PKX_OK ||
	    get_string(obj, "output_filename", w, &outname, err) != PKX_OK ||
	    get_uint(obj, "snap_length", w, 65535, &snap, NULL, err) !=
	        PKX_OK ||
	    get_uint(obj, "connection_timeout_msec", w, UINT64_MAX,
	             &cfg->connection_timeout_msec, NULL, err) != PKX_OK ||
	    get_uint(obj, "handle_timeout_msec", w, UINT64_MAX,
	             &cfg->handle_timeout_msec, &cfg->has_handle_timeout,
	             err) != PKX_OK ||
	    get_time(obj, "start_time", w, &cfg->start_ns, err) != PKX_OK ||
	    get_time(obj, "end_time", w, &cfg->end_ns, err) != PKX_OK)
		return PKX_ERROR;
	if (!path)
		return pkx_fail(err, PKX_EINVAL, "config.path is required");
	if (path[0] == '\0')
		return pkx_fail(err, PKX_EINVAL, "config.path is empty");
	if (cfg->start_ns > cfg->end_ns)
		return pkx_fail(err, PKX_EINVAL,
		                "config.start_time is after config.end_time");
	if ((v = json_object_get(obj, "filters")) &&
	    parse_filters(cfg, v, err) != PKX_OK)
		return PKX_ERROR;
	if ((v = json_object_get(obj, "time_intervals")) &&
	    parse_intervals(cfg, (json_t *)v, err) != PKX_OK)
		return PKX_ERROR;
	if ((v = json_object_get(obj, "stop_rule")) &&
	    parse_stop_rule(cfg, v, err) != PKX_OK)
		return PKX_ERROR;
	if (outname &&
	    pkx_check_relpath(outname, "config.output_filename", err) != PKX_OK)
		return PKX_ERROR;
	if (outname) {
		const char *base = strrchr(outname, '/');
		const unsigned char *c;

		/* A name no listing could show and no log could print as it
		 * is: control characters, DEL, text-direction controls. */
		for (c = (const unsigned char *)outname; *c; c++)
			if (*c < 0x20 || *c == 0x7f ||
			    (c[0] == 0xe2 && c[1] == 0x80 &&
			     ((c[2] >= 0x8e && c[2] <= 0x8f) ||
			      (c[2] >= 0xaa && c[2] <= 0xae))) ||
			    (c[0] == 0xe2 && c[1] == 0x81 && c[2] >= 0xa6 &&
			     c[2] <= 0xa9))
				return pkx_fail(
				    err, PKX_EINVAL,
				    "config.output_filename holds a control "
				    "or text-direction character (byte %zu)",
				    (size_t)(c -
				             (const unsigned char *)outname));
		/* The service's own temporary files are named so. */
		if (strncmp(base ? base + 1 : outname, ".pktexport-", 11) == 0)
			return pkx_fail(err, PKX_EINVAL,
			                "config.output_filename \"%s\": names "
			                "starting with \".pktexport-\" are the "
			                "service's own",
			                outname);
	}

	cfg->path = strdup(path);
	cfg->mode = strdup(mode ? mode : "BUFFER_STREAM");
	cfg->output_format = strdup(format ? format : "PCAP_US");
	cfg->output_filename = outname ? strdup(outname) : NULL;
	cfg->snap_length = (uint32_t)snap;

	/* Defaults are stated, so a client reads back what will happen. */
	json_object_set_new(obj, "mode", json_string(cfg->mode));
	json_object_set_new(obj, "output_format",
	                    json_string(cfg->output_format));
	json_object_set_new(
	    obj, "connection_timeout_msec",
	    json_integer((json_int_t)cfg->connection_timeout_msec));
	return PKX_OK;
}

pkx_result pkx_config_parse(const json_t *obj, pkx_config **out, pkx_error *err)
{
	pkx_config *cfg;

	*out = NULL;
	if (!json_is_object(obj))
		return pkx_fail(err, PKX_EINVAL, "config must be an object");
	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	cfg->end_ns = PKX_TIME_UNBOUNDED;
	cfg->connection_timeout_msec = 180000;
	cfg->json = json_deep_copy(obj);
	if (!cfg->json || parse_into(cfg, cfg->json, err) != PKX_OK) {
		if (!cfg->json)
			pkx_fail(err, PKX_EINTERNAL, "out of memory");
		pkx_config_free(cfg);
		return PKX_ERROR;
	}
	*out = cfg;
	return PKX_OK;
}

void pkx_config_free(pkx_config *cfg)
{
	size_t i;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_filters; i++) {
		free(cfg->filters[i].id);
		free(cfg->filters[i].type);
		free(cfg->filters[i].value);
		free(cfg->filters[i].context);
	}
	free(cfg->filters);
	free(cfg->intervals);
	free(cfg->path);
	free(cfg->mode);
	free(cfg->output_format);
	free(cfg->output_filename);
	json_decref(cfg->json);
	free(cfg);
}

static int window_cmp(const void *a, const void *b)
{
	const pkx_window *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

size_t pkx_config_windows(const pkx_config *cfg, pkx_window **out)
{
	pkx_window *w;
	size_t n = 0, i;

	*out = NULL;
	w = malloc((cfg->has_intervals ? cfg->n_intervals : 1) * sizeof(*w) +
	           1);
	if (!w)
		return 0;
	if (!cfg->has_intervals) {
		w[n++] = (pkx_window){0, PKX_TIME_UNBOUNDED};
	} else {
		for (i = 0; i < cfg->n_intervals; i++)
			w[n++] = cfg->intervals[i];
	}
	/* Clip by start/end, drop empties, then merge overlaps. */
	for (i = 0; i < n;) {
		if (w[i].start < cfg->start_ns)
			w[i].start = cfg->start_ns;
		if (w[i].end > cfg->end_ns)
			w[i].end = cfg->end_ns;
		if (w[i].start >= w[i].end)
			w[i] = w[--n];
		else
			i++;
	}
	qsort(w, n, sizeof(*w), window_cmp);
	if (n) {
		size_t k = 0;

		for (i = 1; i < n; i++) {
			if (w[i].start <= w[k].end) {
				if (w[i].end > w[k].end)
					w[k].end = w[i].end;
			} else {
				w[++k] = w[i];
			}
		}
		n = k + 1;
	}
	if (n == 0) {
		free(w);
		return 0;
	}
	*out = w;
	return n;
}

pkx_result pkx_config_check_bounds(const pkx_config *cfg, pkx_error *err)
{
	size_t i, bpf = 0, all = 0;

	if (cfg->n_filters > PKX_FILTER_ITEMS)
		return pkx_fail(err, PKX_EINVAL,
		                "config.filters.items: %zu items; at most %d "
		                "are accepted",
		                cfg->n_filters, PKX_FILTER_ITEMS);
	for (i = 0; i < cfg->n_filters; i++) {
		size_t n = strlen(cfg->filters[i].value);
		int is_bpf = strcmp(cfg->filters[i].type, "BPF") == 0;
		size_t max = is_bpf ? PKX_FILTER_BPF_MAX : PKX_FILTER_TEXT_MAX;

		if (n > max)
			return pkx_fail(
			    err, PKX_EINVAL,
			    "config.filters.items[%zu].value: %zu "
			    "bytes; a %s filter may have %zu at most",
			    i, n, cfg->filters[i].type, max);
		bpf += is_bpf ? n : 0;
		all += n;
	}
	if (bpf > PKX_FILTER_BPF_ALL)
		return pkx_fail(err, PKX_EINVAL,
		                "config.filters.items: the BPF values take %zu "
		                "bytes together; at most %d are accepted",
		                bpf, PKX_FILTER_BPF_ALL);
	if (all > PKX_FILTER_ALL)
		return pkx_fail(
		    err, PKX_EINVAL,
		    "config.filters.items: the values take %zu bytes "
		    "together; at most %d are accepted",
		    all, PKX_FILTER_ALL);
	return PKX_OK;
}

int pkx_path_is_live(const char *path)
{
	return strncmp(path, "interfaces/", 11) == 0 ||
	       strncmp(path, "vifgs/", 6) == 0;
}

pkx_result pkx_config_check_live(const pkx_config *cfg, int unattended,
                                 pkx_error *err)
{
	int stream = strcmp(cfg->mode, "LIVE_STREAM") == 0;
	/* A store being recorded is followed by a LIVE_STREAM export. */
	int follows = stream && strncmp(cfg->path, "jobs/", 5) == 0;
	int live = pkx_path_is_live(cfg->path) || follows;

	if (stream && !live)
		return pkx_fail(err, PKX_EINVAL,
		                "mode LIVE_STREAM streams a live source "
		                "(interfaces/<name>, vifgs/<id>) or follows a "
		                "recording (jobs/<name>); \"%s\" is neither "
		                "(use "
		                "BUFFER_STREAM)",
		                cfg->path);
	if (live && unattended && !cfg->packet_limit && !cfg->size_limit &&
	    !cfg->time_limit && cfg->end_ns == PKX_TIME_UNBOUNDED)
		return pkx_fail(err, PKX_EINVAL,
		                "\"%s\" is a live source, which never ends by "
		                "itself: mode %s needs a stop_rule or an "
		                "end_time",
		                cfg->path, cfg->mode);
	return PKX_OK;
}
