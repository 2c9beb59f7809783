/* pktexportd's HTTP/1.1 server: connections on libevent bufferevents,
 * requests parsed by http-parser (libhttp-parser).
 *
 * Unlike libevent's evhttp, it hands the service a request's method,
 * target and headers before its body (the head callback), so credentials
 * and body limits are checked before a byte of body is read; it caps
 * connections; it tells when a reply has left for the kernel; and it
 * speaks TLS (OpenSSL under libevent's bufferevents) on the listeners
 * given a context.
 *
 * Everything here runs on the loop's thread.
 *
 * A request's life: the server creates it and calls head(); if head()
 * answers, the body is never read and the connection closes once the
 * answer is written.  Otherwise the body is read (up to the request's
 * limit) and request() is called.  From then on the service owns the
 * request until it ends it with pkxh_reply(), pkxh_reply_end() or
 * pkxh_abort(), exactly once, even when the connection went meanwhile
 * (the close callback says so; answering a request whose connection is
 * gone only frees it).  While a request is with the service, further
 * requests on its connection wait. */
#ifndef PKXD_HTTPD_H
#define PKXD_HTTPD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/http.h> /* evkeyvalq helpers and URI parsing only */

typedef struct pkxh_server pkxh_server;
typedef struct pkxh_req pkxh_req;

typedef enum pkxh_method {
	PKXH_GET,
	PKXH_HEAD,
	PKXH_POST,
	PKXH_PUT,
	PKXH_DELETE,
	PKXH_OTHER,
} pkxh_method;

typedef struct pkxh_handlers {
	/* Method, target and headers are read, the body is not. */
	void (*head)(pkxh_req *req, void *arg);
	/* The whole request is read: the service owns it now. */
	void (*request)(pkxh_req *req, void *arg);
	/* The server refuses a request itself (malformed, too large, a
	 * method it does not serve): the service writes the answer with
	 * pkxh_reply(), which then closes the connection. */
	void (*refuse)(pkxh_req *req, int status, const char *why, void *arg);
	void *arg;
} pkxh_handlers;

typedef struct pkxh_limits {
	unsigned max_connections; /* beyond it the oldest idle one goes */
	size_t max_body;          /* default body limit of a request */
	size_t max_bodies;        /* every body held, together (0: none) */
	size_t max_head;          /* request line and headers */
	unsigned timeout_s;       /* reading a request, writing a reply */
	/* Minimum rates, so that a trickling sender cannot hold a
	 * connection: a request head is whole within head_s of its first
	 * byte (of the accept, for a connection's first request); a body
	 * brings at least min_rate bytes a second on average once grace_s
	 * have passed (time the service paused it does not count).  0: no
	 * such rule. */
	unsigned head_s;
	unsigned min_rate;
	unsigned grace_s;
} pkxh_limits;

struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

/* A server with no listener yet.  NULL when out of memory. */
pkxh_server *pkxh_server_new(struct event_base *base, const pkxh_handlers *h,
                             const pkxh_limits *lim);
/* Serves the listening socket fd (the server owns it from now on, also on
 * failure), with TLS when tls is given (the server takes a reference).
 * At most four listeners.  0, or -1 on failure. */
int pkxh_server_listen(pkxh_server *s, evutil_socket_t fd,
                       struct ssl_ctx_st *tls);
/* New connections of the TLS listeners use tls from now on (a reloaded
 * certificate); connections already open keep theirs. */
void pkxh_server_set_tls(pkxh_server *s, struct ssl_ctx_st *tls);
/* Stops accepting: the listening sockets are closed. */
void pkxh_server_close_listener(pkxh_server *s);
/* Closes every connection (requests the service holds lose theirs, and
 * their close callbacks run) and frees the server. */
void pkxh_server_free(pkxh_server *s);

/* ---------------------------------------------------------- the request */
pkxh_method pkxh_method_of(const pkxh_req *req);
/* As sent ("PATCH"), for messages. */
const char *pkxh_method_name(const pkxh_req *req);
/* The request target as sent, and parsed (never NULL once head() runs). */
const char *pkxh_target(const pkxh_req *req);
const struct evhttp_uri *pkxh_uri(const pkxh_req *req);
const char *pkxh_header(const pkxh_req *req, const char *name);
struct evkeyvalq *pkxh_out_headers(pkxh_req *req);
/* The body read so far (all of it in request()). */
struct evbuffer *pkxh_body(pkxh_req *req);
/* The client's address as text ("?" once the connection is gone). */
const char *pkxh_peer(const pkxh_req *req);
/* True when the request came over TLS. */
int pkxh_secure(const pkxh_req *req);
/* From head(): the answer to the head waits for something off the loop
 * (a password check).  The service owns the request until it answers it
 * or calls pkxh_resume_head(), which goes on as if head() had just
 * returned (the body is then read); either way exactly once, also when
 * the connection went meanwhile (the close callback says so). */
void pkxh_defer_head(pkxh_req *req);
void pkxh_resume_head(pkxh_req *req);
/* From head(): the most body bytes this request may bring. */
void pkxh_set_body_limit(pkxh_req *req, size_t max);
/* True while the connection is there. */
int pkxh_connected(const pkxh_req *req);
/* From head(): the body is not kept but handed to data(), on the loop,
 * as it arrives (up to the body limit), for an upload written as it
 * comes.  When data() returns nonzero the rest of the body is not read:
 * request() runs at once with pkxh_body_failed() true, and the
 * connection closes after its answer.  From this call on, the service
 * owns the request as it does in request(): a connection that goes (or a
 * body refused midway) before the body is all read runs the close
 * callback (set it with this call), and the service ends the request. */
void pkxh_stream_body(pkxh_req *req,
                      int (*data)(pkxh_req *req, const void *buf, size_t len,
                                  void *arg),
                      void *arg);
/* The arg of pkxh_stream_body(), NULL when the body is not streamed. */
void *pkxh_body_arg(const pkxh_req *req);
int pkxh_body_failed(const pkxh_req *req);
/* Stops reading the body (the service is behind: a worker writes what it
 * got) until pkxh_resume_body(); may be called from data(). */
void pkxh_pause_body(pkxh_req *req);
void pkxh_resume_body(pkxh_req *req);
/* The connection went before the request was ended: cb runs once, on
 * the loop, and the service still ends the request. */
void pkxh_set_close_cb(pkxh_req *req, void (*cb)(pkxh_req *, void *),
                       void *arg);
/* A name the service gives the request (the user it acts for). */
void pkxh_set_user(pkxh_req *req, const char *user);
const char *pkxh_user(const pkxh_req *req);

/* ----------------------------------------------------------- answering */
/* The whole answer: status, the headers set, body (drained; NULL: none).
 * Content-Length is set; a HEAD request gets the headers only. */
void pkxh_reply(pkxh_req *req, int status, struct evbuffer *body);
/* A streamed answer: chunked on HTTP/1.1, until the close on 1.0. */
void pkxh_reply_start(pkxh_req *req, int status);
/* A streamed answer of a known length (Content-Length, no chunks: a Range
 * answer, a file).  An answer ended short of it resets the connection. */
void pkxh_reply_start_length(pkxh_req *req, int status, uint64_t length);
/* Moves data into the answer (references in it are kept).  -1 when the
 * connection is gone (data is then drained all the same). */
int pkxh_reply_chunk(pkxh_req *req, struct evbuffer *data);
/* Ends a streamed answer.  sent(arg, complete) runs once its last byte
 * has gone to the kernel (complete 1) or the connection went first (0);
 * sent may be NULL. */
void pkxh_reply_end(pkxh_req *req, void (*sent)(void *arg, int complete),
                    void *arg);
/* Ends the request by resetting its connection (a cut, never the look of
 * a complete answer), or just frees it when the connection is gone. */
void pkxh_abort(pkxh_req *req);

/* A pending sent callback of pkxh_reply_end() is dropped (its owner is
 * going away); the connection is reset instead of finishing. */
void pkxh_cancel_sent(pkxh_server *s, void *arg, int reset);

#endif /* PKXD_HTTPD_H */
