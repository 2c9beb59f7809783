/* Answers in the API's shape (reply.c): the leaf of the daemon's layers. */
#ifndef PKXD_REPLY_H
#define PKXD_REPLY_H

#include <jansson.h>
#include <stdint.h>

#include "httpd.h"
#include "pkx.h"

#define PKXD_MAX_BODY (1u << 20) /* bodies of the services' requests */
/* Bodies of requests that need no credentials (a login, a token): what
 * anyone may make the daemon hold is small. */
#define PKXD_OPEN_BODY (64u << 10)
/* Every request body held at once, together (beyond it: 503). */
#define PKXD_ALL_BODIES (64u << 20)
#define PKXD_ESTATE     "EXPORT_STATE_CONFLICT"
#define PKXD_ECONFLICT  "RESOURCE_CONFLICT" /* exists, in use: 409 */

/* Answers with body (taken), "application/json". */
void pkxd_reply_json(pkxh_req *req, int code, json_t *body);
void pkxd_reply_error(pkxh_req *req, int code, const char *id, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
/* Answers with err, at the HTTP status of its id. */
void pkxd_reply_pkx_error(pkxh_req *req, const pkx_error *err);
/* The request body as a JSON object, or NULL after replying. */
json_t *pkxd_read_body(pkxh_req *req);
void pkxd_reply_not_allowed(pkxh_req *req, const char *allow);
/* "SECONDS.NANOSECONDS" of ns since the epoch: the API's time strings. */
void pkxd_ns_text(uint64_t ns, char *buf, size_t len);
/* A body of size bytes with a strong etag ("..."), asked for with the
 * request's Range and If-Range: sets Accept-Ranges, ETag and, for a
 * range, Content-Range; returns 200 (send [*from, *from + *len): the
 * whole body), 206 (send that range) or 416 (already answered). */
int pkxd_range(pkxh_req *req, uint64_t size, const char *etag, uint64_t *from,
               uint64_t *len);
/* The HTTP server's refusals (its refuse handler), answered as API
 * errors. */
void pkxd_http_refuse(pkxh_req *req, int status, const char *why, void *arg);

#endif /* PKXD_REPLY_H */
