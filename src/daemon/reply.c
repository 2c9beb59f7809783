/* Answers in the API's shape: JSON bodies, and every error as exactly
 * {"error_id": "...", "error_text": "..."}.  The leaf of the daemon's
 * layers: it knows the HTTP server (httpd.h) and nothing else of the
 * daemon. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "reply.h"

void pkxd_reply_json(pkxh_req *req, int code, json_t *body)
{
	struct evbuffer *b = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	if (body)
		evhttp_add_header(pkxh_out_headers(req), "Content-Type",
		                  "application/json");
	/* A HEAD request gets the headers only (the server's rule). */
	if (text && b)
		evbuffer_add(b, text, strlen(text));
	pkxh_reply(req, code, b);
	if (b)
		evbuffer_free(b);
	free(text);
	json_decref(body);
}

void pkxd_reply_error(pkxh_req *req, int code, const char *id, const char *fmt,
                      ...)
{
	char text[PKX_ERROR_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pkxd_reply_json(
	    req, code,
	    json_pack("{s:s, s:s}", "error_id", id, "error_text", text));
}

static int error_status(const char *id)
{
	static const struct {
		const char *id;
		int status;
	} map[] = {
	    {PKX_EINVAL, 400},
	    {PKX_ENOTFOUND, 404},
	    {"HTTP_INVALID_METHOD", 405},
	    {"AUTH_REQUIRED", 401},
	    {"AUTH_INVALID_TOKEN", 401},
	    {"AUTH_INVALID_CREDENTIALS", 401},
	    {"AUTH_FORBIDDEN", 403},
	    {"RESOURCE_EXISTS", 409},
	    {PKXD_ESTATE, 409},
	    {"REQUEST_TOO_LARGE", 413},
	    {"SERVICE_BUSY", 503},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(*map); i++)
		if (strcmp(map[i].id, id) == 0)
			return map[i].status;
	return 500;
}

static const char *error_id_of_status(int code)
{
	switch (code) {
	case 400:
		return PKX_EINVAL;
	case 404:
		return PKX_ENOTFOUND;
	case 405:
	case 501:
		return "HTTP_INVALID_METHOD";
	case 413:
	case 414:
	case 431:
		return "REQUEST_TOO_LARGE";
	case 408:
		return "REQUEST_TIMEOUT";
	case 417:
	case 505:
		return PKX_EINVAL;
	case 503:
		return "SERVICE_BUSY";
	}
	return PKX_EINTERNAL;
}

/* The server refuses a request itself (malformed, a body over its limit,
 * a method it does not serve): the answer is the API's JSON error, so
 * every error a client sees has one shape. */
void pkxd_http_refuse(pkxh_req *req, int status, const char *why, void *arg)
{
	(void)arg;
	pkxd_reply_error(req, status, error_id_of_status(status), "%s",
	                 why             ? why
	                 : status == 413 ? "the request body is larger than "
	                                   "this resource accepts"
	                 : status == 400 ? "malformed HTTP request"
	                                 : "request refused");
}

/* ------------------------------------------------------------------ input */

json_t *pkxd_read_body(pkxh_req *req)
{
	struct evbuffer *in = pkxh_body(req);
	size_t len = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *o;

	if (len > PKXD_MAX_BODY) {
		pkxd_reply_error(req, 413, "REQUEST_TOO_LARGE",
		                 "the body has %zu bytes; the limit is %u", len,
		                 PKXD_MAX_BODY);
		return NULL;
	}
	if (len == 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "the request needs a JSON body");
		return NULL;
	}
	o = json_loadb((const char *)evbuffer_pullup(in, -1), len,
	               JSON_REJECT_DUPLICATES, &jerr);
	if (!o) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "body is not valid JSON: %s (line %d, column "
		                 "%d)",
		                 jerr.text, jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "the body must be a JSON object");
		return NULL;
	}
	return o;
}

void pkxd_reply_not_allowed(pkxh_req *req, const char *allow)
{
	evhttp_add_header(pkxh_out_headers(req), "Allow", allow);
	pkxd_reply_error(req, 405, "HTTP_INVALID_METHOD",
	                 "%.16s is not allowed here (allowed: %s)",
	                 pkxh_method_name(req), allow);
}

void pkxd_reply_pkx_error(pkxh_req *req, const pkx_error *err)
{
	pkxd_reply_error(req, error_status(err->id), err->id, "%s", err->text);
}

/* "bytes=A-B", "bytes=A-", "bytes=-N": one range of a size-byte body.
 * 1 with [*from, *from + *len) when it overlaps the body, 0 when it does
 * not (416), -1 when it is not one range this parser takes (the whole
 * body is sent, as RFC 9110 allows). */
static int parse_range(const char *h, uint64_t size, uint64_t *from,
                       uint64_t *len)
{
	unsigned long long a = 0, b = 0;
	const char *p = h + 6;
	char *end;
	int have_a, have_b;

	if (strncmp(h, "bytes=", 6) != 0 || strchr(p, ','))
		return -1;
	have_a = *p >= '0' && *p <= '9';
	if (have_a) {
		a = strtoull(p, &end, 10);
		p = end;
	}
	if (*p++ != '-')
		return -1;
	have_b = *p >= '0' && *p <= '9';
	if (have_b) {
		b = strtoull(p, &end, 10);
		p = end;
	}
	if (*p || (!have_a && !have_b) || (have_a && have_b && b < a))
		return -1;
	if (!have_a) { /* the last b bytes */
		if (b == 0 || size == 0)
			return 0;
		*from = b >= size ? 0 : size - b;
		*len = size - *from;
		return 1;
	}
	if (a >= size)
		return 0;
	*from = a;
	*len = (have_b && b < size ? b + 1 : size) - a;
	return 1;
}

int pkxd_range(pkxh_req *req, uint64_t size, const char *etag, uint64_t *from,
               uint64_t *len)
{
	struct evkeyvalq *out = pkxh_out_headers(req);
	const char *range = pkxh_header(req, "Range");
	const char *if_range = pkxh_header(req, "If-Range");
	char cr[96];
	int r;

	*from = 0;
	*len = size;
	evhttp_add_header(out, "Accept-Ranges", "bytes");
	evhttp_add_header(out, "ETag", etag);
	/* If-Range with another validator (or a date: only strong ETags
	 * are kept here) asks for the whole body. */
	if (!range || (if_range && strcmp(if_range, etag) != 0))
		return 200;
	r = parse_range(range, size, from, len);
	if (r < 0) {
		*from = 0;
		*len = size;
		return 200;
	}
	if (r == 0) {
		snprintf(cr, sizeof(cr), "bytes */%llu",
		         (unsigned long long)size);
		evhttp_add_header(out, "Content-Range", cr);
		pkxd_reply_error(req, 416, PKX_EINVAL,
		                 "range \"%.64s\" is outside the %llu bytes",
		                 range, (unsigned long long)size);
		return 416;
	}
	snprintf(
	    cr, sizeof(cr), "bytes %llu-%llu/%llu", (unsigned long long)*from,
	    (unsigned long long)(*from + *len - 1), (unsigned long long)size);
	evhttp_add_header(out, "Content-Range", cr);
	return 206;
}

void pkxd_ns_text(uint64_t ns, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%09llu",
	         (unsigned long long)(ns / 1000000000u),
	         (unsigned long long)(ns % 1000000000u));
}
