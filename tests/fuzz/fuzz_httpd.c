/* libFuzzer target: pktexportd's HTTP/1.1 server (src/daemon/httpd.c).
 *
 * A server with trivial handlers (head() lets every request go on,
 * request() answers 200 echoing the body, refuse() answers the status the
 * server chose) gets one end of an AF_UNIX socket pair as an accepted
 * connection; the harness writes the input on the other end, shuts its
 * writing side (a half-close: the answers still come back), and runs the
 * loop until the server closes.  Then:
 *  - every answer the handlers gave has arrived, in order, and the bytes
 *    read are exactly those answers (interim 100 Continue aside): parsed
 *    by http-parser as responses, each well formed, its status the one
 *    given, Content-Length or chunks consistent with its body, no body
 *    for HEAD, "Connection: close" on none but the last;
 *  - the body of the k-th request the service saw is the body of the k-th
 *    request http-parser finds in the input on its own (same limits);
 *  - the connection is gone: nothing leaks, nothing hangs (the loop must
 *    end within 3 s; libFuzzer's -timeout catches worse). */
#include "../../src/daemon/httpd.c"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/un.h>
#include <sys/time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

#define MAX_ANSWERS 512
#define MAX_BODY    4096
#define MAX_HEAD    8192

typedef struct answer {
	int status;
	int head;    /* to a HEAD request: no body */
	int request; /* from request(): echoes the body */
	size_t body_len;
} answer;

static struct event_base *base;
static pkxh_server *srv;
static pkxh_listener fake_listener;
static answer answers[MAX_ANSWERS];
static size_t n_answers, n_requests;
/* The bodies the service saw, one after the other. */
static struct evbuffer *seen_bodies;
static size_t seen_len[MAX_ANSWERS];

static void note(pkxh_req *req, int status, int request, size_t len)
{
	if (n_answers == MAX_ANSWERS)
		FAIL("too many answers");
	answers[n_answers++] =
	    (answer){status, pkxh_method_of(req) == PKXH_HEAD, request, len};
}

static void on_head(pkxh_req *req, void *arg)
{
	(void)arg;
	if (!pkxh_target(req) || !pkxh_uri(req))
		FAIL("head() without a target");
	pkxh_set_body_limit(req, MAX_BODY);
}

static void on_request(pkxh_req *req, void *arg)
{
	struct evbuffer *body = pkxh_body(req);
	struct evbuffer *copy = evbuffer_new();
	size_t len = evbuffer_get_length(body);

	(void)arg;
	if (!copy)
		abort();
	if (len > MAX_BODY)
		FAIL("a body of %zu bytes past the limit %d", len, MAX_BODY);
	evbuffer_add(copy, evbuffer_pullup(body, -1), len);
	evbuffer_add_buffer(seen_bodies, copy);
	seen_len[n_requests++] = len;
	evhttp_add_header(pkxh_out_headers(req), "Content-Type",
	                  "application/octet-stream");
	note(req, 200, 1, len);
	pkxh_reply(req, 200, body);
	evbuffer_free(copy);
}

static void on_refuse(pkxh_req *req, int status, const char *why, void *arg)
{
	struct evbuffer *b = evbuffer_new();

	(void)arg;
	if (status < 400 || status > 599)
		FAIL("refused with status %d", status);
	evbuffer_add_printf(b, "{\"error\":\"%s\"}", why ? why : "");
	note(req, status, 0, evbuffer_get_length(b));
	pkxh_reply(req, status, b);
	evbuffer_free(b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const pkxh_handlers h = {on_head, on_request, on_refuse, NULL};
	/* Named: the structure grows (rate rules), zero is "none". */
	static const pkxh_limits lim = {.max_connections = 16,
	                                .max_body = MAX_BODY,
	                                .max_head = MAX_HEAD,
	                                .timeout_s = 5};

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	srv = base ? pkxh_server_new(base, &h, &lim) : NULL;
	seen_bodies = evbuffer_new();
	if (!srv || !seen_bodies)
		return 1;
	/* No listening socket: connections are handed to accept_cb. */
	fake_listener.srv = srv;
	return 0;
}

/* ------------------------------------------- the input, parsed on its own */

typedef struct mirror {
	struct evbuffer *bodies;
	size_t n, len[MAX_ANSWERS];
	size_t cur;
} mirror;

static int m_begin(http_parser *p)
{
	((mirror *)p->data)->cur = 0;
	return 0;
}

static int m_body(http_parser *p, const char *at, size_t len)
{
	mirror *m = p->data;

	m->cur += len;
	return evbuffer_add(m->bodies, at, len);
}

static int m_complete(http_parser *p)
{
	mirror *m = p->data;

	if (m->n < MAX_ANSWERS)
		m->len[m->n++] = m->cur;
	return 0;
}

/* ------------------------------------------------ the answers, as a client */

typedef struct reader {
	size_t k;    /* answers matched so far */
	int status;  /* of the response being read */
	size_t body; /* its body bytes */
	int close;   /* it said Connection: close */
	int last_was_close;
	const uint8_t *body_at; /* where in the output its body starts */
	const uint8_t *out;
	int field_is_conn, value_close;
} reader;

static int r_begin(http_parser *p)
{
	reader *r = p->data;

	r->body = 0;
	r->close = 0;
	r->body_at = NULL;
	return 0;
}

static int r_field(http_parser *p, const char *at, size_t len)
{
	reader *r = p->data;

	r->field_is_conn = len == 10 && strncasecmp(at, "connection", 10) == 0;
	return 0;
}

static int r_value(http_parser *p, const char *at, size_t len)
{
	reader *r = p->data;

	if (r->field_is_conn && len == 5 && strncasecmp(at, "close", 5) == 0)
		r->close = 1;
	return 0;
}

static int r_headers(http_parser *p)
{
	reader *r = p->data;

	if (p->status_code == 100)
		return 0;
	if (r->k >= n_answers)
		FAIL("a response (%u) no handler gave", p->status_code);
	if (r->last_was_close)
		FAIL("a response after one saying Connection: close");
	if ((int)p->status_code != answers[r->k].status)
		FAIL("response %zu: status %u, the handler gave %d", r->k,
		     p->status_code, answers[r->k].status);
	/* A HEAD answer has the headers only. */
	return answers[r->k].head ? 1 : 0;
}

static int r_body(http_parser *p, const char *at, size_t len)
{
	reader *r = p->data;

	if (!r->body_at)
		r->body_at = (const uint8_t *)at;
	r->body += len;
	return 0;
}

static int r_complete(http_parser *p)
{
	reader *r = p->data;
	const answer *a;

	if (p->status_code == 100)
		return 0;
	a = &answers[r->k];
	if (r->body != (a->head ? 0 : a->body_len))
		FAIL("response %zu: %zu body bytes, the handler gave %zu", r->k,
		     r->body, a->head ? 0 : a->body_len);
	r->last_was_close = r->close;
	r->k++;
	return 0;
}

static void check_answers(const uint8_t *out, size_t len)
{
	http_parser_settings s;
	http_parser p;
	reader r;
	size_t done;

	memset(&r, 0, sizeof(r));
	http_parser_settings_init(&s);
	s.on_message_begin = r_begin;
	s.on_header_field = r_field;
	s.on_header_value = r_value;
	s.on_headers_complete = r_headers;
	s.on_body = r_body;
	s.on_message_complete = r_complete;
	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &r;
	http_parser_set_max_header_size(1u << 20);
	done = http_parser_execute(&p, &s, (const char *)out, len);
	if (HTTP_PARSER_ERRNO(&p) != HPE_OK || done != len)
		FAIL("the answers do not parse at byte %zu of %zu: %s", done,
		     len, http_errno_description(HTTP_PARSER_ERRNO(&p)));
	/* The end of the stream ends the last response. */
	http_parser_execute(&p, &s, NULL, 0);
	if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
		FAIL("the answers end inside a response: %s",
		     http_errno_description(HTTP_PARSER_ERRNO(&p)));
	if (r.k != n_answers)
		FAIL("%zu answers given, %zu arrived", n_answers, r.k);
	http_parser_set_max_header_size(MAX_HEAD);
}

static double now_s(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct evbuffer *out = evbuffer_new();
	struct event *timer = evtimer_new(base, tick, NULL);
	struct timeval ms20 = {0, 20000};
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t sent = 0, i;
	int sv[2], shut = 0, eof = 0;
	double start = now_s();
	mirror m;

	if (!out || !timer || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		abort();
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	n_answers = n_requests = 0;
	evbuffer_drain(seen_bodies, evbuffer_get_length(seen_bodies));
	accept_cb(NULL, sv[0], (struct sockaddr *)&sa, sizeof(sa),
	          &fake_listener);
	if (srv->n_conns != 1)
		FAIL("the connection was not taken");

	while (!eof) {
		char buf[65536];
		ssize_t n;

		if (sent < size) {
			n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL);
			if (n > 0)
				sent += (size_t)n;
			else if (n < 0 && errno != EAGAIN && errno != EINTR)
				sent = size; /* the server went */
		}
		if (sent == size && !shut) {
			shutdown(sv[1], SHUT_WR);
			shut = 1;
		}
		evtimer_add(timer, &ms20);
		event_base_loop(base, EVLOOP_ONCE);
		while ((n = recv(sv[1], buf, sizeof(buf), 0)) > 0)
			evbuffer_add(out, buf, (size_t)n);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			eof = 1;
		if (now_s() - start > 3)
			FAIL("the server did not close within 3 s (%zu of %zu "
			     "bytes sent)",
			     sent, size);
	}
	close(sv[1]);
	/* Let the server see the close and free the connection. */
	while (srv->n_conns && now_s() - start < 4) {
		evtimer_add(timer, &ms20);
		event_base_loop(base, EVLOOP_ONCE);
	}
	if (srv->n_conns)
		FAIL("the connection is still open after the client left");
	event_free(timer);

	check_answers(evbuffer_pullup(out, -1), evbuffer_get_length(out));

	/* The bodies, against http-parser on its own. */
	memset(&m, 0, sizeof(m));
	m.bodies = evbuffer_new();
	{
		http_parser_settings s;
		http_parser p;

		http_parser_settings_init(&s);
		s.on_message_begin = m_begin;
		s.on_body = m_body;
		s.on_message_complete = m_complete;
		http_parser_init(&p, HTTP_REQUEST);
		p.data = &m;
		http_parser_execute(&p, &s, (const char *)data, size);
	}
	if (n_requests > m.n)
		FAIL("the service saw %zu requests, the input holds %zu",
		     n_requests, m.n);
	{
		const uint8_t *a = evbuffer_pullup(seen_bodies, -1);
		const uint8_t *b = evbuffer_pullup(m.bodies, -1);
		size_t off = 0;

		for (i = 0; i < n_requests; i++) {
			if (seen_len[i] != m.len[i] ||
			    (seen_len[i] &&
			     memcmp(a + off, b + off, seen_len[i]) != 0))
				FAIL("request %zu: the service saw a body of "
				     "%zu bytes, http-parser finds %zu",
				     i, seen_len[i], m.len[i]);
			off += seen_len[i];
		}
	}
	evbuffer_free(m.bodies);
	evbuffer_free(out);
	return 0;
}
