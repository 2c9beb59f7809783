/* pktexportd's HTTP/1.1 server (see httpd.h). */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <http_parser.h>
#include <openssl/ssl.h>

#include "httpd.h"

#define PKXH_MAX_HEADERS  100
#define PKXH_MAX_TARGET   8192
#define PKXH_READ_HIGH    (64u * 1024) /* input kept while a request waits */
#define PKXH_LINGER_BYTES (1u << 20)   /* read and dropped before a close */
#define PKXH_WRITE_MAX    (1u << 20)   /* bytes written a turn of the loop */
#define PKXH_READ_MAX     (256u << 10) /* bytes read a turn of the loop */

typedef struct pkxh_conn pkxh_conn;

struct pkxh_req {
	pkxh_conn *conn; /* NULL once the connection went */
	pkxh_server *srv;
	size_t held; /* body bytes counted in srv->bodies */
	pkxh_method method;
	char method_name[16];
	unsigned short major, minor;
	char *target;
	size_t target_len;
	struct evhttp_uri *uri;
	struct evkeyvalq in, out;
	struct evbuffer *body;
	size_t body_limit;
	int keep_alive;
	int streaming;    /* pkxh_reply_start done */
	int chunked;      /* its chunks are framed */
	int ended;        /* the service ended it */
	int header_count; /* lines of headers */
	char *field;      /* the header name being read */
	int in_value;     /* the parser is in a value */
	struct evbuffer *value;
	void (*close_cb)(pkxh_req *, void *);
	void *close_arg;
	char user[64];
	/* A body streamed to the service (pkxh_stream_body). */
	int (*body_data)(pkxh_req *, const void *, size_t, void *);
	void *body_arg;
	uint64_t body_seen;
	int body_failed;
	int body_owned; /* streamed: the service owns the request */
	/* A streamed answer of a known length: bytes still owed. */
	int sized;
	uint64_t owed;
	int deferred; /* head() handed it on (pkxh_defer_head) */
};

struct pkxh_conn {
	pkxh_server *srv;
	struct bufferevent *bev;
	http_parser parser;
	pkxh_req *req;      /* being read, or with the service */
	int with_service;   /* req is the service's */
	int head_ready;     /* the parser paused on a complete head */
	int paused;         /* the service paused the body */
	int deferring;      /* the service holds the head (pkxh_defer_head) */
	int answered_early; /* head() answered: the body is not read */
	int closing;        /* close once the output is written */
	int peer_done;      /* the client shut its side: nothing more comes */
	int lingering;      /* answered and shut: read and drop, then close */
	size_t lingered;
	int refusing; /* the server refuses req (parse error and such) */
	int refuse_status;
	const char *refuse_why;
	/* A finished reply still being written. */
	void (*sent)(void *arg, int complete);
	void *sent_arg;
	char peer[64];
	int tls;      /* over TLS */
	uint64_t seq; /* accept order: the oldest idle goes first */
	/* The minimum-rate rules (monotonic ms; 0: not running): when the
	 * head being read began, and when the body's clock last started,
	 * with the body bytes seen then. */
	uint64_t head_t0;
	uint64_t linger_t0;
	uint64_t body_t0;
	uint64_t body_b0;
	pkxh_conn *prev, *next;
};

#define PKXH_LISTENERS 4

typedef struct pkxh_listener {
	pkxh_server *srv;
	struct evconnlistener *l;
	SSL_CTX *tls; /* NULL: plain HTTP */
} pkxh_listener;

struct pkxh_server {
	struct event_base *base;
	pkxh_listener listeners[PKXH_LISTENERS];
	int n_listeners;
	struct event *resume_ev; /* accepting again after EMFILE */
	struct event *sweep_ev;  /* the minimum-rate rules, every second */
	pkxh_handlers h;
	pkxh_limits lim;
	pkxh_conn *conns;
	unsigned n_conns;
	size_t bodies; /* body bytes held by every request */
	uint64_t next_seq;
	http_parser_settings settings;
};

static void conn_free(pkxh_conn *c);
static void conn_parse(pkxh_conn *c);

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The body's clock (re)starts: now, from the bytes seen so far. */
static void body_clock(pkxh_conn *c)
{
	c->body_t0 = now_ms();
	c->body_b0 = c->req ? c->req->body_seen : 0;
}

/* ---------------------------------------------------------------- helpers */

static void req_free(pkxh_req *req)
{
	if (!req)
		return;
	req->srv->bodies -= req->held;
	free(req->target);
	if (req->uri)
		evhttp_uri_free(req->uri);
	evhttp_clear_headers(&req->in);
	evhttp_clear_headers(&req->out);
	if (req->body)
		evbuffer_free(req->body);
	if (req->value)
		evbuffer_free(req->value);
	free(req->field);
	free(req);
}

static pkxh_req *req_new(pkxh_conn *c)
{
	pkxh_req *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	req->conn = c;
	req->srv = c->srv;
	TAILQ_INIT(&req->in);
	TAILQ_INIT(&req->out);
	req->body = evbuffer_new();
	req->value = evbuffer_new();
	req->body_limit = c->srv->lim.max_body;
	req->major = 1;
	req->minor = 1;
	if (!req->body || !req->value) {
		req_free(req);
		return NULL;
	}
	return req;
}

static void set_timeouts(pkxh_conn *c, int reading)
{
	struct timeval tv = {(time_t)c->srv->lim.timeout_s, 0};

	/* While the service holds a request nothing needs reading in time
	 * (a live download can be quiet for long): only writes are timed. */
	bufferevent_set_timeouts(c->bev, reading ? &tv : NULL, &tv);
}

/* The request ends here: the connection reads the next one once its
 * answer is written, or closes. */
static void conn_request_over(pkxh_conn *c, pkxh_req *req)
{
	if (!req->keep_alive || c->answered_early)
		c->closing = 1;
	c->req = NULL;
	c->with_service = 0;
	c->head_ready = 0;
	c->paused = 0;
	c->deferring = 0;
	c->refusing = 0;
	req_free(req);
	/* The write callback goes on once the output is empty (later, on
	 * the loop, never from inside the caller). */
	bufferevent_enable(c->bev, EV_WRITE);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		bufferevent_trigger(c->bev, EV_WRITE,
		                    BEV_TRIG_IGNORE_WATERMARKS |
		                        BEV_TRIG_DEFER_CALLBACKS);
}

/* ---------------------------------------------------------------- replies */

static const char *reason_of(int status)
{
	const char *r = http_status_str((enum http_status)status);

	return r && strcmp(r, "<unknown>") != 0 ? r : "Status";
}

static void write_head(pkxh_req *req, int status, long long length)
{
	struct evbuffer *out = bufferevent_get_output(req->conn->bev);
	struct evkeyval *h;
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	evbuffer_add_printf(out, "HTTP/1.%d %d %s\r\n",
	                    req->major == 1 && req->minor == 0 ? 0 : 1, status,
	                    reason_of(status));
	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out, "Date: %s\r\n", date);
	TAILQ_FOREACH(h, &req->out, next)
	{
		if (strcasecmp(h->key, "Content-Length") == 0 ||
		    strcasecmp(h->key, "Connection") == 0 ||
		    strcasecmp(h->key, "Transfer-Encoding") == 0)
			continue; /* the server's own */
		evbuffer_add_printf(out, "%s: %s\r\n", h->key, h->value);
	}
	if (length >= 0 && status != 204 && status != 304 && status >= 200)
		evbuffer_add_printf(out, "Content-Length: %lld\r\n", length);
	if (length < 0 && req->chunked)
		evbuffer_add_printf(out, "Transfer-Encoding: chunked\r\n");
	if (!req->keep_alive || req->conn->answered_early)
		evbuffer_add_printf(out, "Connection: close\r\n");
	else if (req->minor == 0)
		evbuffer_add_printf(out, "Connection: keep-alive\r\n");
	evbuffer_add(out, "\r\n", 2);
}

void pkxh_reply(pkxh_req *req, int status, struct evbuffer *body)
{
	size_t len = body ? evbuffer_get_length(body) : 0;
	pkxh_conn *c = req->conn;

	req->ended = 1;
	if (!c) {
		if (body)
			evbuffer_drain(body, len);
		req_free(req);
		return;
	}
	/* An answer from head() or a refusal ends the exchange: the rest of
	 * the request is never read, and the connection closes. */
	if (!c->with_service)
		c->answered_early = 1;
	write_head(req, status, (long long)len);
	if (body && req->method != PKXH_HEAD && status != 204 && status != 304)
		evbuffer_add_buffer(bufferevent_get_output(c->bev), body);
	else if (body)
		evbuffer_drain(body, len);
	conn_request_over(c, req);
}

void pkxh_reply_start(pkxh_req *req, int status)
{
	if (!req->conn || req->streaming)
		return;
	req->streaming = 1;
	req->chunked = req->minor >= 1 && req->method != PKXH_HEAD;
	if (!req->chunked)
		req->keep_alive = 0; /* the close ends the body */
	write_head(req, status, -1);
}

void pkxh_reply_start_length(pkxh_req *req, int status, uint64_t length)
{
	if (!req->conn || req->streaming)
		return;
	req->streaming = 1;
	req->sized = 1;
	req->owed = req->method == PKXH_HEAD ? 0 : length;
	write_head(req, status, (long long)length);
}

int pkxh_reply_chunk(pkxh_req *req, struct evbuffer *data)
{
	size_t len = evbuffer_get_length(data);
	struct evbuffer *out;

	if (!req->conn || !req->streaming || req->method == PKXH_HEAD) {
		evbuffer_drain(data, len);
		return req->conn ? 0 : -1;
	}
	if (len == 0)
		return 0;
	if (req->sized && len > req->owed) {
		/* More than was announced: never sent. */
		evbuffer_drain(data, len);
		return -1;
	}
	req->owed -= req->sized ? len : 0;
	out = bufferevent_get_output(req->conn->bev);
	if (req->chunked)
		evbuffer_add_printf(out, "%zx\r\n", len);
	evbuffer_add_buffer(out, data);
	if (req->chunked)
		evbuffer_add(out, "\r\n", 2);
	return 0;
}

void pkxh_reply_end(pkxh_req *req, void (*sent)(void *arg, int complete),
                    void *arg)
{
	pkxh_conn *c = req->conn;

	req->ended = 1;
	if (!c) {
		req_free(req);
		if (sent)
			sent(arg, 0);
		return;
	}
	if (!req->streaming)
		pkxh_reply_start(req, 200);
	if (req->sized && req->owed) {
		/* Short of its Content-Length: a cut, never a complete look. */
		pkxh_abort(req);
		if (sent)
			sent(arg, 0);
		return;
	}
	if (req->chunked)
		evbuffer_add(bufferevent_get_output(c->bev), "0\r\n\r\n", 5);
	c->sent = sent;
	c->sent_arg = arg;
	conn_request_over(c, req);
}

static void reset_and_free(pkxh_conn *c)
{
	struct linger abort_now = {1, 0};
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort_now,
		           sizeof(abort_now));
	conn_free(c);
}

void pkxh_abort(pkxh_req *req)
{
	pkxh_conn *c = req->conn;

	req->ended = 1;
	if (c) {
		c->req = NULL; /* the service ends it: no close callback */
		req_free(req);
		reset_and_free(c);
		return;
	}
	req_free(req);
}

void pkxh_cancel_sent(pkxh_server *s, void *arg, int reset)
{
	pkxh_conn *c, *next;

	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->sent && c->sent_arg == arg) {
			c->sent = NULL;
			c->sent_arg = NULL;
			if (reset)
				reset_and_free(c);
		}
	}
}

/* ------------------------------------------------------------- accessors */

pkxh_method pkxh_method_of(const pkxh_req *req)
{
	return req->method;
}

const char *pkxh_method_name(const pkxh_req *req)
{
	return req->method_name;
}

const char *pkxh_target(const pkxh_req *req)
{
	return req->target ? req->target : "";
}

const struct evhttp_uri *pkxh_uri(const pkxh_req *req)
{
	return req->uri;
}

const char *pkxh_header(const pkxh_req *req, const char *name)
{
	return evhttp_find_header(&req->in, name);
}

struct evkeyvalq *pkxh_out_headers(pkxh_req *req)
{
	return &req->out;
}

struct evbuffer *pkxh_body(pkxh_req *req)
{
	return req->body;
}

const char *pkxh_peer(const pkxh_req *req)
{
	return req->conn ? req->conn->peer : "?";
}

int pkxh_secure(const pkxh_req *req)
{
	return req->conn && req->conn->tls;
}

void pkxh_set_body_limit(pkxh_req *req, size_t max)
{
	req->body_limit = max;
}

int pkxh_connected(const pkxh_req *req)
{
	return req->conn != NULL;
}

void pkxh_stream_body(pkxh_req *req,
                      int (*data)(pkxh_req *req, const void *buf, size_t len,
                                  void *arg),
                      void *arg)
{
	req->body_data = data;
	req->body_arg = arg;
	req->body_owned = 1;
}

void *pkxh_body_arg(const pkxh_req *req)
{
	return req->body_data ? req->body_arg : NULL;
}

int pkxh_body_failed(const pkxh_req *req)
{
	return req->body_failed;
}

void pkxh_pause_body(pkxh_req *req)
{
	pkxh_conn *c = req->conn;

	if (!c || c->with_service || c->paused)
		return;
	c->paused = 1;
	bufferevent_disable(c->bev, EV_READ);
	http_parser_pause(&c->parser, 1); /* when called from data() */
}

void pkxh_resume_body(pkxh_req *req)
{
	pkxh_conn *c = req->conn;

	if (!c || !c->paused)
		return;
	c->paused = 0;
	body_clock(c);
	bufferevent_enable(c->bev, EV_READ);
	/* What was read before the pause is parsed on the loop, later. */
	bufferevent_trigger(c->bev, EV_READ,
	                    BEV_TRIG_IGNORE_WATERMARKS |
	                        BEV_TRIG_DEFER_CALLBACKS);
}

void pkxh_set_close_cb(pkxh_req *req, void (*cb)(pkxh_req *, void *), void *arg)
{
	req->close_cb = cb;
	req->close_arg = arg;
}

void pkxh_set_user(pkxh_req *req, const char *user)
{
	snprintf(req->user, sizeof(req->user), "%s", user ? user : "");
}

const char *pkxh_user(const pkxh_req *req)
{
	return req->user;
}

/* ----------------------------------------------------------- the parser */

static pkxh_conn *conn_of(http_parser *p)
{
	return p->data;
}

/* Stops parsing: the server answers the request with status. */
static int refuse(pkxh_conn *c, int status, const char *why)
{
	c->refusing = 1;
	c->refuse_status = status;
	c->refuse_why = why;
	http_parser_pause(&c->parser, 1);
	return 0;
}

static int on_message_begin(http_parser *p)
{
	pkxh_conn *c = conn_of(p);

	c->req = req_new(c);
	if (!c->req)
		return -1;
	if (!c->head_t0)
		c->head_t0 = now_ms();
	c->body_t0 = 0;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	pkxh_conn *c = conn_of(p);
	pkxh_req *req = c->req;
	char *t;

	if (req->target_len + len > PKXH_MAX_TARGET)
		return refuse(c, 414, "the request target is too long");
	t = realloc(req->target, req->target_len + len + 1);
	if (!t)
		return -1;
	memcpy(t + req->target_len, at, len);
	req->target_len += len;
	t[req->target_len] = '\0';
	req->target = t;
	return 0;
}

static int commit_header(pkxh_conn *c)
{
	pkxh_req *req = c->req;
	size_t n = evbuffer_get_length(req->value);
	char *v;
	int rc;

	if (!req->field)
		return 0;
	v = malloc(n + 1);
	if (!v)
		return -1;
	evbuffer_remove(req->value, v, n);
	v[n] = '\0';
	/* Refuses CR and LF in a value, which http-parser lets through only
	 * on folded lines. */
	rc = evhttp_add_header(&req->in, req->field, v);
	free(v);
	free(req->field);
	req->field = NULL;
	if (rc != 0)
		return refuse(c, 400, "malformed header");
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	pkxh_conn *c = conn_of(p);
	pkxh_req *req = c->req;
	size_t old;
	char *f;

	if (req->in_value || !req->field) {
		if (commit_header(c) != 0)
			return -1;
		if (c->refusing)
			return 0;
		req->in_value = 0;
		if (++req->header_count > PKXH_MAX_HEADERS)
			return refuse(c, 431, "too many header lines");
		req->field = strdup("");
		if (!req->field)
			return -1;
	}
	old = strlen(req->field);
	f = realloc(req->field, old + len + 1);
	if (!f)
		return -1;
	memcpy(f + old, at, len);
	f[old + len] = '\0';
	req->field = f;
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	pkxh_conn *c = conn_of(p);

	c->req->in_value = 1;
	return evbuffer_add(c->req->value, at, len);
}

static const struct {
	enum http_method m;
	pkxh_method ours;
} methods[] = {
    {HTTP_GET, PKXH_GET}, {HTTP_HEAD, PKXH_HEAD},     {HTTP_POST, PKXH_POST},
    {HTTP_PUT, PKXH_PUT}, {HTTP_DELETE, PKXH_DELETE},
};

/* RFC 9112 3.2: a request with two Host headers is refused (which one
 * a proxy before us read is anyone's guess). */
static int host_headers(const pkxh_req *req)
{
	const struct evkeyval *h;
	int n = 0;

	TAILQ_FOREACH(h, &req->in, next)
	if (strcasecmp(h->key, "Host") == 0)
		n++;
	return n;
}

static int on_headers_complete(http_parser *p)
{
	pkxh_conn *c = conn_of(p);
	pkxh_req *req = c->req;
	size_t i;

	c->head_t0 = 0;
	if (commit_header(c) != 0)
		return -1;
	if (c->refusing)
		return 0;
	req->major = p->http_major;
	req->minor = p->http_minor;
	req->keep_alive = http_should_keep_alive(p);
	snprintf(req->method_name, sizeof(req->method_name), "%s",
	         http_method_str((enum http_method)p->method));
	req->method = PKXH_OTHER;
	for (i = 0; i < sizeof(methods) / sizeof(*methods); i++)
		if (methods[i].m == (enum http_method)p->method)
			req->method = methods[i].ours;
	if (p->http_major != 1)
		return refuse(c, 505, "only HTTP/1.0 and HTTP/1.1 are served");
	if (host_headers(req) > 1)
		return refuse(c, 400, "more than one Host header");
	if (p->method == HTTP_CONNECT || p->upgrade)
		return refuse(c, 405,
		              "CONNECT and protocol upgrades are not "
		              "served");
	req->uri = req->target ? evhttp_uri_parse_with_flags(
	                             req->target, EVHTTP_URI_NONCONFORMANT)
	                       : NULL;
	if (!req->uri || !evhttp_uri_get_path(req->uri))
		return refuse(c, 400, "malformed request target");
	/* head() runs once the parser is out of its call (it may answer). */
	c->head_ready = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	pkxh_conn *c = conn_of(p);
	pkxh_req *req = c->req;

	if (req->body_seen + len > req->body_limit)
		return refuse(c, 413, NULL);
	req->body_seen += len;
	if (!req->body_data) {
		pkxh_server *s = c->srv;

		if (s->lim.max_bodies && s->bodies + len > s->lim.max_bodies)
			return refuse(c, 503,
			              "too many request bodies at once: try "
			              "again later");
		s->bodies += len;
		req->held += len;
		return evbuffer_add(req->body, at, len);
	}
	if (req->body_data(req, at, len, req->body_arg) != 0) {
		/* The service wants no more: it answers now. */
		req->body_failed = 1;
		c->answered_early = 1;
		c->with_service = 1;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int on_message_complete(http_parser *p)
{
	pkxh_conn *c = conn_of(p);

	c->body_t0 = 0;
	c->with_service = 1;
	http_parser_pause(p, 1);
	return 0;
}

/* --------------------------------------------------------- connections */

static void conn_free(pkxh_conn *c)
{
	pkxh_server *s = c->srv;
	pkxh_req *req = c->req;

	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_conns--;
	c->req = NULL;
	if (req) {
		req->conn = NULL;
		if ((c->with_service || req->deferred || req->body_owned) &&
		    !req->ended) {
			if (req->close_cb)
				req->close_cb(req, req->close_arg);
		} else {
			req_free(req);
		}
	}
	if (c->sent) {
		void (*sent)(void *, int) = c->sent;

		c->sent = NULL;
		sent(c->sent_arg, 0);
	}
	/* Frees the output, and with it the references it held. */
	bufferevent_free(c->bev);
	free(c);
}

/* The server refuses the request being read: the service writes the
 * answer, then the connection closes. */
static void conn_refuse(pkxh_conn *c, int status, const char *why)
{
	pkxh_req *req = c->req;

	if (req && req->body_owned && !req->ended) {
		/* A streamed body gone wrong midway (too long, malformed):
		 * its owner learns as from a cut (it ends a request that
		 * has no connection any more), and the refusal is answered
		 * on a request of its own. */
		c->req = NULL;
		req->conn = NULL;
		if (req->close_cb)
			req->close_cb(req, req->close_arg);
		req = NULL;
	}
	if (!req) {
		req = c->req = req_new(c);
		if (!req) {
			conn_free(c);
			return;
		}
	}
	/* Its body, if any, is not needed any more. */
	c->srv->bodies -= req->held;
	req->held = 0;
	evbuffer_drain(req->body, evbuffer_get_length(req->body));
	c->refusing = 1;
	c->closing = 1;
	/* Refused midway through what the client sends: what follows is
	 * read and dropped a while after the answer, so that the close does
	 * not reset the connection before the client reads the answer. */
	if (!c->with_service)
		c->answered_early = 1;
	req->keep_alive = 0;
	c->srv->h.refuse(req, status, why, c->srv->h.arg);
	if (c->req == req) /* the service did not answer: be plain */
		pkxh_reply(req, status, NULL);
}

/* After an answer given before the body: the rest of the request is read
 * and dropped for a while, so that closing does not reset the connection
 * under the answer. */
static void conn_linger(pkxh_conn *c)
{
	struct timeval two = {2, 0};
	evutil_socket_t fd = bufferevent_getfd(c->bev);

	c->lingering = 1;
	c->linger_t0 = now_ms();
	if (fd >= 0)
		shutdown(fd, SHUT_WR);
	bufferevent_set_timeouts(c->bev, &two, NULL);
	bufferevent_disable(c->bev, EV_WRITE);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_enable(c->bev, EV_READ);
	evbuffer_drain(bufferevent_get_input(c->bev),
	               evbuffer_get_length(bufferevent_get_input(c->bev)));
}

/* Once head() let the request go on: the body limit against its
 * Content-Length, and Expect.  -1 when the request was refused. */
static int conn_after_head(pkxh_conn *c)
{
	const char *expect = pkxh_header(c->req, "Expect");

	if ((c->parser.flags & F_CONTENTLENGTH) &&
	    c->parser.content_length > c->req->body_limit) {
		conn_refuse(c, 413, NULL);
		return -1;
	}
	if (expect && strcasecmp(expect, "100-continue") != 0) {
		conn_refuse(c, 417, "only Expect: 100-continue is understood");
		return -1;
	}
	if (expect && c->req->minor >= 1)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		                    "HTTP/1.1 100 Continue\r\n\r\n");
	body_clock(c);
	return 0;
}

/* The request being read will never be finished (the client shut its
 * side): it goes as conn_free() lets it go. */
static void conn_drop_partial(pkxh_conn *c)
{
	pkxh_req *req = c->req;

	c->req = NULL;
	if (!req)
		return;
	if (req->body_owned && !req->ended) {
		req->conn = NULL;
		if (req->close_cb)
			req->close_cb(req, req->close_arg);
	} else {
		req_free(req);
	}
}

/* Feeds what was read to the parser until a request is whole (or its
 * head needs the service). */
static void conn_parse(pkxh_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	while (!c->with_service && !c->closing && !c->lingering && !c->paused &&
	       !c->deferring) {
		struct evbuffer_iovec v;
		size_t done;
		enum http_errno e;

		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
			if (!c->peer_done)
				return;
			/* Everything the client sent is answered: close once
			 * the answers are out.  A request it never finished
			 * is dropped, as when it leaves. */
			conn_drop_partial(c);
			if (evbuffer_get_length(
			        bufferevent_get_output(c->bev)) == 0)
				conn_free(c);
			else
				c->closing = 1;
			return;
		}
		done = http_parser_execute(&c->parser, &c->srv->settings,
		                           v.iov_base, v.iov_len);
		evbuffer_drain(in, done);
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (c->refusing) {
			conn_refuse(c, c->refuse_status, c->refuse_why);
			return;
		}
		if (e != HPE_OK && e != HPE_PAUSED) {
			conn_refuse(
			    c, e == HPE_HEADER_OVERFLOW ? 431 : 400,
			    e == HPE_HEADER_OVERFLOW
			        ? "the request head is too large"
			    : e == HPE_INVALID_METHOD
			        ? "malformed request line (unknown method)"
			        : http_errno_description(e));
			return;
		}
		if (e != HPE_PAUSED)
			continue;
		http_parser_pause(&c->parser, 0);
		if (c->paused && !c->with_service)
			return; /* pkxh_resume_body() goes on */
		if (c->with_service) {
			/* A whole request: the service has it. */
			bufferevent_setwatermark(c->bev, EV_READ, 0,
			                         PKXH_READ_HIGH);
			set_timeouts(c, 0);
			c->srv->h.request(c->req, c->srv->h.arg);
			return;
		}
		if (!c->head_ready)
			continue;
		/* The head is read. */
		c->head_ready = 0;
		c->srv->h.head(c->req, c->srv->h.arg);
		if (!c->req || c->answered_early || c->closing) {
			/* Answered from the head: the body stays unread. */
			return;
		}
		if (c->req->deferred) {
			/* What the client sends meanwhile waits, bounded. */
			c->deferring = 1;
			bufferevent_setwatermark(c->bev, EV_READ, 0,
			                         PKXH_READ_HIGH);
			return;
		}
		if (conn_after_head(c) != 0)
			return;
	}
}

void pkxh_defer_head(pkxh_req *req)
{
	req->deferred = 1;
}

void pkxh_resume_head(pkxh_req *req)
{
	pkxh_conn *c = req->conn;

	if (!req->deferred)
		return;
	req->deferred = 0;
	if (!c) {
		req_free(req); /* its client left: the request ends here */
		return;
	}
	c->deferring = 0;
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	if (conn_after_head(c) != 0)
		return;
	/* What came meanwhile is parsed on the loop, later. */
	bufferevent_trigger(c->bev, EV_READ,
	                    BEV_TRIG_IGNORE_WATERMARKS |
	                        BEV_TRIG_DEFER_CALLBACKS);
}

static void read_cb(struct bufferevent *bev, void *arg)
{
	pkxh_conn *c = arg;

	if (c->lingering) {
		struct evbuffer *in = bufferevent_get_input(bev);

		c->lingered += evbuffer_get_length(in);
		evbuffer_drain(in, evbuffer_get_length(in));
		if (c->lingered > PKXH_LINGER_BYTES)
			conn_free(c);
		return;
	}
	conn_parse(c);
}

/* The output is empty: a finished answer has gone. */
static void write_cb(struct bufferevent *bev, void *arg)
{
	pkxh_conn *c = arg;

	/* A deferred call (TLS bufferevents defer theirs) may come after
	 * more output was added: the answer has not gone yet, and the next
	 * drain calls again.  Closing now would drop its end. */
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->sent) {
		void (*sent)(void *, int) = c->sent;

		c->sent = NULL;
		sent(c->sent_arg, 1);
	}
	if (c->req)
		return; /* an answer still being written by the service */
	if (c->closing) {
		if (c->answered_early)
			conn_linger(c);
		else
			conn_free(c);
		return;
	}
	/* Ready for the next request on this connection. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	set_timeouts(c, 1);
	if (!c->peer_done)
		bufferevent_enable(c->bev, EV_READ);
	conn_parse(c);
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
	pkxh_conn *c = arg;

	if (what == BEV_EVENT_CONNECTED)
		return; /* a TLS handshake done: requests follow */
	/* An end of file with no request with the service is a client that
	 * shut its side after its requests (a half-close, as `nc -N` does): the
	 * answers already written, and those to requests still in the input,
	 * go out before the connection closes, instead of being dropped. */
	if ((what & BEV_EVENT_EOF) && !c->lingering &&
	    (!c->req || (!c->with_service && !c->deferring && !c->paused))) {
		c->peer_done = 1;
		if (!c->closing)
			conn_parse(c); /* closes at the end of the input */
		else if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_free(c);
		return; /* else write_cb closes once the answer is out */
	}
	/* An end of file under a request (the client left), an error, a
	 * timeout: the connection goes, and a request the service holds is
	 * told. */
	conn_free(c);
}

static void format_peer(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
		          &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
		          sizeof(host));
	else if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		          host, sizeof(host));
	snprintf(buf, len, "%s", host);
}

/* At the connection cap: a connection that serves no one goes to make
 * room.  First the one idle longest (no request, nothing being written)
 * or closing anyway (lingering after its answer); else the one whose
 * request head has been arriving longest, over a second (a trickling
 * sender, or a client too slow to be served while the service is full).
 * 0 when there is none: every connection is busy. */
static int close_oldest_idle(pkxh_server *s)
{
	pkxh_conn *c, *idle = NULL, *slow = NULL;
	uint64_t now = now_ms();

	for (c = s->conns; c; c = c->next) {
		if (c->lingering || (!c->req && !c->sent &&
		                     evbuffer_get_length(bufferevent_get_output(
		                         c->bev)) == 0)) {
			if (!idle || c->seq < idle->seq)
				idle = c;
		} else if (c->req && !c->with_service && !c->deferring &&
		           !c->closing && !c->body_t0 && c->head_t0 &&
		           now - c->head_t0 > 1000 &&
		           (!slow || c->head_t0 < slow->head_t0)) {
			slow = c;
		}
	}
	if (!idle && !slow)
		return 0;
	conn_free(idle ? idle : slow);
	return 1;
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
                      struct sockaddr *sa, int salen, void *arg)
{
	static const char body[] =
	    "{\"error_id\":\"SERVICE_BUSY\",\"error_text\":\"too many "
	    "connections: try again later\"}";
	char busy[256];
	pkxh_listener *li = arg;
	pkxh_server *s = li->srv;
	pkxh_conn *c;

	(void)l;
	(void)salen;
	if (s->n_conns >= s->lim.max_connections && !close_oldest_idle(s)) {
		if (li->tls) {
			/* No handshake for a connection that cannot be
			 * served: closed at once. */
			evutil_closesocket(fd);
			return;
		}
		/* Every connection is busy: this one is told and closed. */
		int n = snprintf(busy, sizeof(busy),
		                 "HTTP/1.1 503 Service Unavailable\r\n"
		                 "Content-Type: application/json\r\n"
		                 "Content-Length: %zu\r\nConnection: close\r\n"
		                 "\r\n%s",
		                 sizeof(body) - 1, body);
		ssize_t w =
		    send(fd, busy, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);

		(void)w;
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c && li->tls) {
		SSL *ssl = SSL_new(li->tls);

		/* The SSL goes with the bufferevent (close on free). */
		c->bev = ssl ? bufferevent_openssl_socket_new(
		                   s->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
		                   BEV_OPT_CLOSE_ON_FREE)
		             : NULL;
		if (ssl && !c->bev)
			SSL_free(ssl);
		c->tls = 1;
	} else if (c) {
		c->bev =
		    bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	if (!c || !c->bev) {
		free(c);
		evutil_closesocket(fd);
		return;
	}
	c->srv = s;
	c->seq = s->next_seq++;
	c->head_t0 = now_ms();
	format_peer(sa, c->peer, sizeof(c->peer));
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	s->n_conns++;
	bufferevent_setcb(c->bev, read_cb, write_cb, event_cb, c);
	/* libevent writes 16 KiB a turn of the loop by default: a download
	 * would take a turn per 16 KiB (through TLS, one record each). */
	bufferevent_set_max_single_write(c->bev, PKXH_WRITE_MAX);
	bufferevent_set_max_single_read(c->bev, PKXH_READ_MAX);
	set_timeouts(c, 1);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* The minimum-rate rules, once a second: a head not whole within head_s,
 * a body behind min_rate once grace_s have passed, end their connection
 * with a 408. */
static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxh_server *s = arg;
	uint64_t now = now_ms();
	uint64_t head_ms = (uint64_t)s->lim.head_s * 1000u;
	uint64_t grace_ms = (uint64_t)s->lim.grace_s * 1000u;
	pkxh_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = s->conns; c; c = next) {
		next = c->next;
		if (c->lingering && now - c->linger_t0 > 2000) {
			conn_free(c); /* however it trickles */
			continue;
		}
		if (c->with_service || c->closing || c->lingering ||
		    c->refusing || c->deferring || c->paused)
			continue;
		if (head_ms && c->head_t0 && now - c->head_t0 > head_ms) {
			c->head_t0 = 0;
			if (!c->req) {
				/* Not a byte of a request yet (or a TLS
				 * handshake dragging on): nothing to answer. */
				conn_free(c);
				continue;
			}
			conn_refuse(c, 408,
			            "the request head took too long to arrive");
			continue;
		}
		if (s->lim.min_rate && c->body_t0 && c->req &&
		    now - c->body_t0 > grace_ms) {
			uint64_t due = (now - c->body_t0 - grace_ms) *
			               s->lim.min_rate / 1000u;

			if (c->req->body_seen - c->body_b0 < due) {
				c->body_t0 = 0;
				conn_refuse(
				    c, 408,
				    "the request body arrived too slowly");
			}
		}
	}
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxh_server *s = arg;

	(void)fd;
	(void)what;
	event_free(s->resume_ev);
	s->resume_ev = NULL;
	for (int i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].l)
			evconnlistener_enable(s->listeners[i].l);
}

/* accept() failed: out of descriptors most likely.  Accepting pauses
 * for a while instead of failing again at once, in a loop. */
static void accept_error_cb(struct evconnlistener *l, void *arg)
{
	static const struct timeval pause = {0, 250000};
	static time_t said;
	pkxh_server *s = ((pkxh_listener *)arg)->srv;
	int err = EVUTIL_SOCKET_ERROR();
	int i;

	(void)l;
	if (time(NULL) != said) {
		said = time(NULL);
		fprintf(stderr, "pktexportd: cannot accept a connection: %s\n",
		        strerror(err));
	}
	if (!s->resume_ev)
		s->resume_ev = evtimer_new(s->base, resume_cb, s);
	/* Paused only with a timer to resume: never for good. */
	if (!s->resume_ev || evtimer_add(s->resume_ev, &pause) != 0)
		return;
	for (i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].l)
			evconnlistener_disable(s->listeners[i].l);
}

pkxh_server *pkxh_server_new(struct event_base *base, const pkxh_handlers *h,
                             const pkxh_limits *lim)
{
	pkxh_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->base = base;
	s->h = *h;
	s->lim = *lim;
	http_parser_settings_init(&s->settings);
	s->settings.on_message_begin = on_message_begin;
	s->settings.on_url = on_url;
	s->settings.on_header_field = on_header_field;
	s->settings.on_header_value = on_header_value;
	s->settings.on_headers_complete = on_headers_complete;
	s->settings.on_body = on_body;
	s->settings.on_message_complete = on_message_complete;
	http_parser_set_max_header_size((uint32_t)lim->max_head);
	if (lim->head_s || lim->min_rate) {
		static const struct timeval second = {1, 0};

		s->sweep_ev = event_new(base, -1, EV_PERSIST, sweep_cb, s);
		if (!s->sweep_ev || event_add(s->sweep_ev, &second) != 0) {
			if (s->sweep_ev)
				event_free(s->sweep_ev);
			free(s);
			return NULL;
		}
	}
	return s;
}

int pkxh_server_listen(pkxh_server *s, evutil_socket_t fd, SSL_CTX *tls)
{
	pkxh_listener *li;

	if (s->n_listeners == PKXH_LISTENERS) {
		evutil_closesocket(fd);
		return -1;
	}
	li = &s->listeners[s->n_listeners];
	li->srv = s;
	evutil_make_socket_nonblocking(fd);
	li->l = evconnlistener_new(
	    s->base, accept_cb, li,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!li->l) {
		evutil_closesocket(fd);
		return -1;
	}
	evconnlistener_set_error_cb(li->l, accept_error_cb);
	if (tls && SSL_CTX_up_ref(tls) == 1)
		li->tls = tls;
	s->n_listeners++;
	return 0;
}

void pkxh_server_set_tls(pkxh_server *s, SSL_CTX *tls)
{
	int i;

	for (i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].tls && SSL_CTX_up_ref(tls) == 1) {
			SSL_CTX_free(s->listeners[i].tls);
			s->listeners[i].tls = tls;
		}
}

void pkxh_server_close_listener(pkxh_server *s)
{
	int i;

	for (i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].l) {
			evconnlistener_free(s->listeners[i].l);
			s->listeners[i].l = NULL;
		}
	if (s->resume_ev) {
		event_free(s->resume_ev);
		s->resume_ev = NULL;
	}
}

void pkxh_server_free(pkxh_server *s)
{
	if (!s)
		return;
	pkxh_server_close_listener(s);
	if (s->sweep_ev)
		event_free(s->sweep_ev);
	while (s->conns)
		conn_free(s->conns);
	for (int i = 0; i < s->n_listeners; i++)
		if (s->listeners[i].tls)
			SSL_CTX_free(s->listeners[i].tls);
	free(s);
}
