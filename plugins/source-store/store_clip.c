/* Clips: a small JSON file naming a job and a window of it, in the shape
 * of the Clips API's config object (doc/store.md). */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "source_store.h"

/* A clip file larger than this is not a clip. */
#define SS_CLIP_MAX (1u << 20)

/* "SECONDS[.FRACTION]" with up to 9 fraction digits, or a JSON number;
 * "0" and absent mean unbounded (the API's convention). */
static int ss_clip_time(json_t *v, uint64_t unbounded, uint64_t *ns)
{
	const char *p;
	uint64_t sec = 0, frac = 0;
	int digits = 0;

	*ns = unbounded;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0 ||
		    json_integer_value(v) > 18446744072)
			return -1;
		sec = (uint64_t)json_integer_value(v);
		if (sec)
			*ns = sec * 1000000000u;
		return 0;
	}
	if (json_is_real(v)) {
		double d = json_real_value(v);

		if (!(d >= 0 && d < 18446744072.0))
			return -1;
		if (d > 0)
			*ns = (uint64_t)(d * 1e9 + 0.5);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	p = json_string_value(v);
	if (!*p)
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		sec = sec * 10 + (uint64_t)(*p - '0');
		if (sec > 18446744072u)
			return -1;
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9' && digits < 9; p++, digits++)
			frac = frac * 10 + (uint64_t)(*p - '0');
		if (digits == 0)
			return -1;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*p)
		return -1;
	if (sec || frac)
		*ns = sec * 1000000000u + frac;
	return 0;
}

static char *ss_read_fd(int fd, size_t *len)
{
	char *buf = malloc(SS_CLIP_MAX + 1);
	size_t n = 0;

	while (buf && n <= SS_CLIP_MAX) {
		ssize_t r = read(fd, buf + n, SS_CLIP_MAX + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* Takes the job and window out of the clip's config object. */
static pkx_result ss_clip_parse(const pkx_services *svc, const char *id,
                                json_t *doc, ss_clip *clip, pkx_error *err)
{
	json_t *cfg = json_object_get(doc, "config"), *job, *filters, *v;
	const char *key, *name;

	if (!cfg)
		cfg = doc;
	if (!json_is_object(cfg))
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\": config is not an object", id);
	json_object_foreach(cfg, key, v)
	{
		if (strcmp(key, "job_id") && strcmp(key, "start_time") &&
		    strcmp(key, "end_time") && strcmp(key, "description") &&
		    strcmp(key, "filters"))
			return svc->fail(err, "REQUEST_INVALID_INPUT",
			                 "clip \"%s\": unknown field \"%s\"",
			                 id, key);
	}
	job = json_object_get(cfg, "job_id");
	if (!json_is_string(job) || !*json_string_value(job))
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\" names no job (config.job_id)",
		                 id);
	name = json_string_value(job);
	if (strncmp(name, "jobs/", 5) == 0)
		name += 5;
	if ((size_t)snprintf(clip->job, sizeof(clip->job), "%s", name) >=
	    sizeof(clip->job))
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\": job name too long", id);
	/* Filters are the export's business: a clip with any is refused
	 * rather than exported unfiltered.  Empty ones ({"items": []}, [],
	 * null) say nothing. */
	filters = json_object_get(cfg, "filters");
	if (filters && !json_is_null(filters) &&
	    !(json_is_array(filters) && json_array_size(filters) == 0) &&
	    !(json_is_object(filters) && json_object_size(filters) == 1 &&
	      json_is_array(json_object_get(filters, "items")) &&
	      json_array_size(json_object_get(filters, "items")) == 0))
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\" has filters, which a clip used "
		                 "as a source does not apply: give them in "
		                 "the export's filters",
		                 id);
	if (ss_clip_time(json_object_get(cfg, "start_time"), 0, &clip->start) !=
	        0 ||
	    ss_clip_time(json_object_get(cfg, "end_time"), UINT64_MAX,
	                 &clip->end) != 0)
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\": start_time or end_time is not "
		                 "seconds since the epoch",
		                 id);
	v = json_object_get(cfg, "description");
	if (json_is_string(v))
		snprintf(clip->description, sizeof(clip->description), "%s",
		         json_string_value(v));
	if (clip->start > clip->end)
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\": start_time is after end_time",
		                 id);
	return PKX_OK;
}

pkx_result ss_clip_load(const pkx_services *svc, const char *root,
                        const char *id, ss_clip *clip, pkx_error *err)
{
	char rel[512];
	json_error_t jerr;
	json_t *doc;
	pkx_result rc;
	size_t len;
	char *buf;
	int fd;

	memset(clip, 0, sizeof(*clip));
	if (!*id || strchr(id, '/') || id[0] == '.')
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "\"clips/%s\" does not name a clip", id);
	snprintf(rel, sizeof(rel), "clips/%.400s.json", id);
	fd = svc->open_under_root(root, rel, err);
	if (fd < 0 && strcmp(err->id, "RESOURCE_NOT_FOUND") == 0) {
		snprintf(rel, sizeof(rel), "clips/%.400s", id);
		fd = svc->open_under_root(root, rel, err);
	}
	if (fd < 0 && strcmp(err->id, "RESOURCE_NOT_FOUND") == 0)
		/* Named as the client named it, not by the data root's
		 * folder name. */
		return svc->fail(
		    err, "RESOURCE_NOT_FOUND",
		    "clip \"clips/%s\" not found (no clips/%s.json "
		    "or clips/%s under the data root)",
		    id, id, id);
	if (fd < 0)
		return PKX_ERROR;
	buf = ss_read_fd(fd, &len);
	close(fd);
	if (!buf)
		return svc->fail(err, "INTERNAL_ERROR", "out of memory");
	if (len > SS_CLIP_MAX) {
		free(buf);
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\" is larger than %u bytes", id,
		                 SS_CLIP_MAX);
	}
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	free(buf);
	if (!json_is_object(doc)) {
		json_decref(doc);
		return svc->fail(err, "REQUEST_INVALID_INPUT",
		                 "clip \"%s\" is not a JSON object: %s", id,
		                 jerr.text);
	}
	rc = ss_clip_parse(svc, id, doc, clip, err);
	json_decref(doc);
	return rc;
}

int ss_clip_windows(const ss_clip *clip, const pkx_time_range *w, size_t n,
                    pkx_time_range **out, size_t *n_out)
{
	size_t i;

	*n_out = 0;
	*out = malloc((n + 1) * sizeof(**out));
	if (!*out)
		return -1;
	for (i = 0; i < n; i++) {
		pkx_time_range r = w[i];

		if (clip->job[0]) {
			if (r.start < clip->start)
				r.start = clip->start;
			if (r.end > clip->end)
				r.end = clip->end;
		}
		if (r.start < r.end)
			(*out)[(*n_out)++] = r;
	}
	return 0;
}
