/* The HTTP server of pktexportd (src/daemon/httpd.c) on its own: a loop
 * thread serves handlers written here, the test talks to it through
 * plain sockets on 127.0.0.1:0. */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/thread.h>

#include "daemon/httpd.h"

static struct event_base *base;
static pkxh_server *server;
static pthread_t loop_thread;
static int port;
/* What the streamed body handler saw (loop thread; read after). */
static uint64_t streamed_bytes;
static int streamed_calls, pauses;

static void answer(pkxh_req *req, int status, const char *text)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, text, strlen(text));
	pkxh_reply(req, status, b);
	evbuffer_free(b);
}

static void resume_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	pkxh_resume_body(arg);
}

/* Takes every byte; every 64 KiB it pauses, and resumes on the next turn
 * of the loop, as a service waiting for its writer would. */
static int stream_data(pkxh_req *req, const void *buf, size_t len, void *arg)
{
	static const struct timeval soon = {0, 1000};
	uint64_t before = streamed_bytes;

	(void)buf;
	(void)arg;
	streamed_calls++;
	streamed_bytes += len;
	if (strstr(pkxh_target(req), "fail") && streamed_bytes > 100000)
		return -1;
	if (before / 65536 != streamed_bytes / 65536) {
		pauses++;
		pkxh_pause_body(req);
		event_base_once(base, -1, EV_TIMEOUT, resume_cb, req, &soon);
	}
	return 0;
}

/* A check off the loop, answered 20 ms later: go on, or refuse. */
static int deferred_gone, verdicts;
static void defer_close_cb(pkxh_req *req, void *arg)
{
	(void)req;
	(void)arg;
	deferred_gone = 1;
}

static void verdict_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxh_req *req = arg;
	struct evbuffer *b;

	(void)fd;
	(void)what;
	__atomic_add_fetch(&verdicts, 1, __ATOMIC_SEQ_CST);
	if (!strstr(pkxh_target(req), "deny")) {
		pkxh_resume_head(req);
		return;
	}
	b = evbuffer_new();
	evbuffer_add(b, "no", 2);
	pkxh_reply(req, 401, b);
	evbuffer_free(b);
}

static void on_head(pkxh_req *req, void *arg)
{
	const char *t = pkxh_target(req);

	(void)arg;
	if (strcmp(t, "/deny") == 0)
		answer(req, 401, "denied");
	else if (strncmp(t, "/stream", 7) == 0) {
		pkxh_set_body_limit(req, 4u << 20);
		pkxh_stream_body(req, stream_data, NULL);
	} else if (strcmp(t, "/small") == 0) {
		pkxh_set_body_limit(req, 10);
	} else if (strncmp(t, "/defer", 6) == 0) {
		static const struct timeval later = {0, 20000};

		pkxh_defer_head(req);
		pkxh_set_close_cb(req, defer_close_cb, NULL);
		event_base_once(base, -1, EV_TIMEOUT, verdict_cb, req, &later);
	}
}

static void on_request(pkxh_req *req, void *arg)
{
	const char *t = pkxh_target(req);
	char text[64];

	(void)arg;
	if (strncmp(t, "/stream", 7) == 0) {
		snprintf(text, sizeof(text), "got %llu%s",
		         (unsigned long long)streamed_bytes,
		         pkxh_body_failed(req) ? " then stopped" : "");
		answer(req, pkxh_body_failed(req) ? 507 : 200, text);
	} else if (strcmp(t, "/len") == 0 || strcmp(t, "/short") == 0) {
		struct evbuffer *b = evbuffer_new();

		pkxh_reply_start_length(req, 200, 10);
		evbuffer_add(b, "0123456789", t[1] == 'l' ? 10 : 5);
		pkxh_reply_chunk(req, b);
		evbuffer_free(b);
		pkxh_reply_end(req, NULL, NULL);
	} else if (strcmp(t, "/body") == 0 || strcmp(t, "/defer") == 0) {
		snprintf(text, sizeof(text), "body %zu",
		         evbuffer_get_length(pkxh_body(req)));
		answer(req, 200, text);
	} else {
		answer(req, 200, "hello");
	}
}

static void on_refuse(pkxh_req *req, int status, const char *why, void *arg)
{
	(void)arg;
	answer(req, status, why ? why : "refused");
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void setup(void)
{
	static const pkxh_handlers h = {on_head, on_request, on_refuse, NULL};
	/* Heads whole in 2 s; bodies at 1000 bytes/s after 1 s. */
	const pkxh_limits lim = {16, 1u << 20, 4u << 20, 16384, 10, 2, 1000, 1};
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 16), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	port = ntohs(a.sin_port);
	evthread_use_pthreads();
	base = event_base_new();
	server = pkxh_server_new(base, &h, &lim);
	ck_assert_ptr_nonnull(server);
	ck_assert_int_eq(pkxh_server_listen(server, fd, NULL), 0);
	streamed_bytes = 0;
	streamed_calls = pauses = 0;
	pthread_create(&loop_thread, NULL, loop_main, NULL);
}

static void teardown(void)
{
	event_base_loopbreak(base);
	pthread_join(loop_thread, NULL);
	pkxh_server_free(server);
	event_base_free(base);
}

static int dial(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	struct timeval tv = {5, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
}

static void send_str(int fd, const char *text)
{
	send_all(fd, text, strlen(text));
}

/* Reads until the server closes (or 5 s pass): the answer, NUL-ended. */
static size_t read_all(int fd, char *out, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got + 1 < size &&
	       (n = recv(fd, out + got, size - 1 - got, 0)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	return got;
}

static char reply[1 << 16];

START_TEST(keep_alive_and_close)
{
	int fd = dial();
	const char *second;

	send_str(fd, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
	             "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s",
	              reply);
	second = strstr(reply + 17, "HTTP/1.1 200 OK\r\n");
	ck_assert_msg(second != NULL, "one connection, two answers: %s", reply);
	ck_assert_ptr_nonnull(strstr(second, "Connection: close"));
	ck_assert_ptr_nonnull(strstr(reply, "Content-Length: 5\r\n"));
}
END_TEST

START_TEST(answer_from_head_before_body)
{
	int fd = dial();

	/* 100 MB announced, none sent: the answer comes anyway. */
	send_str(
	    fd,
	    "POST /deny HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n"
	    "\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 401 ", 13) == 0, "%s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "Connection: close"));
	ck_assert_ptr_nonnull(strstr(reply, "\r\n\r\ndenied"));
}
END_TEST

START_TEST(body_limit_from_head)
{
	int fd = dial();

	send_str(
	    fd,
	    "POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 413 ", 13) == 0, "%s", reply);
	/* Within it, the body is kept for the request. */
	fd = dial();
	send_str(fd, "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	             "Content-Length: 10\r\n\r\n0123456789");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strstr(reply, "\r\n\r\nbody 10") != NULL, "%s", reply);
}
END_TEST

/* A chunked upload of 1 MiB reaches the service as it comes, with pauses
 * and resumes, none of it kept by the server. */
START_TEST(streamed_body_with_pauses)
{
	static char piece[8192];
	int fd = dial(), i;
	char line[32];

	memset(piece, 'u', sizeof(piece));
	send_str(fd, "POST /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	             "Transfer-Encoding: chunked\r\n\r\n");
	for (i = 0; i < 128; i++) {
		int n = snprintf(line, sizeof(line), "%zx\r\n", sizeof(piece));

		send_all(fd, line, (size_t)n);
		send_all(fd, piece, sizeof(piece));
		send_str(fd, "\r\n");
	}
	send_str(fd, "0\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strstr(reply, "\r\n\r\ngot 1048576") != NULL, "%s",
	              reply);
	ck_assert_int_ge(pauses, 15);
	ck_assert_int_gt(streamed_calls, 16);
}
END_TEST

START_TEST(streamed_body_refused_midway)
{
	static char piece[200000];
	int fd = dial();

	memset(piece, 'u', sizeof(piece));
	send_str(fd, "POST /stream-fail HTTP/1.1\r\nHost: x\r\n"
	             "Content-Length: 200000\r\n\r\n");
	send(fd, piece, sizeof(piece), MSG_NOSIGNAL);
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 507 ", 13) == 0, "%s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "then stopped"));
	ck_assert_ptr_nonnull(strstr(reply, "Connection: close"));
}
END_TEST

START_TEST(known_length_stream)
{
	int fd = dial();
	size_t n;

	send_str(fd,
	         "GET /len HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_ptr_nonnull(strstr(reply, "Content-Length: 10\r\n"));
	ck_assert_ptr_null(strstr(reply, "chunked"));
	ck_assert_msg(strstr(reply, "\r\n\r\n0123456789") != NULL, "%s", reply);
	/* Ended short of its length: cut, never a complete-looking answer. */
	fd = dial();
	send_str(fd, "GET /short HTTP/1.1\r\nHost: x\r\n\r\n");
	n = read_all(fd, reply, sizeof(reply));
	close(fd);
	/* The reset may reach the client before what was sent: it sees a
	 * cut either way. */
	ck_assert_ptr_null(strstr(reply, "0123456789"));
	if (n > 0 && strstr(reply, "\r\n\r\n"))
		ck_assert_msg(strlen(strstr(reply, "\r\n\r\n") + 4) < 10, "%s",
		              reply);
}
END_TEST

START_TEST(head_gets_headers_only)
{
	int fd = dial();

	send_str(
	    fd, "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_ptr_nonnull(strstr(reply, "Content-Length: 5\r\n"));
	ck_assert_msg(strcmp(strstr(reply, "\r\n\r\n"), "\r\n\r\n") == 0, "%s",
	              reply);
}
END_TEST

/* The head held off the loop: the body is read only once it goes on, and
 * a refusal comes before any of it; a client that leaves meanwhile is
 * seen. */
START_TEST(deferred_head)
{
	int fd = dial();

	send_str(fd, "POST /defer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	             "Content-Length: 10\r\n\r\n0123456789");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strstr(reply, "\r\n\r\nbody 10") != NULL, "%s", reply);
	fd = dial();
	send_str(fd, "POST /defer-deny HTTP/1.1\r\nHost: x\r\n"
	             "Content-Length: 100000000\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 401 ", 13) == 0, "%s", reply);
	fd = dial();
	send_str(fd, "GET /defer HTTP/1.1\r\nHost: x\r\n\r\n");
	close(fd); /* gone before the verdict */
	fd = dial();
	send_str(fd,
	         "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strstr(reply, "\r\n\r\nhello") != NULL, "%s", reply);
	/* The third verdict ends a request whose client is gone. */
	for (int i = 0;
	     i < 200 && __atomic_load_n(&verdicts, __ATOMIC_SEQ_CST) < 3; i++)
		usleep(10000);
	ck_assert_int_eq(__atomic_load_n(&verdicts, __ATOMIC_SEQ_CST), 3);
	ck_assert_int_eq(__atomic_load_n(&deferred_gone, __ATOMIC_SEQ_CST), 1);
}
END_TEST

START_TEST(malformed_is_refused)
{
	int fd = dial();

	send_str(fd, "GARBAGE\r\n\r\n");
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 400 ", 13) == 0, "%s", reply);
}
END_TEST

static double seconds_since(const struct timeval *t0)
{
	struct timeval t;

	gettimeofday(&t, NULL);
	return (double)(t.tv_sec - t0->tv_sec) +
	       (double)(t.tv_usec - t0->tv_usec) / 1e6;
}

/* A head sent a byte every 300 ms is cut at its deadline (2 s here) with
 * a 408, though every byte came well within the idle timeout. */
START_TEST(trickled_head_is_cut)
{
	static const char head[] =
	    "GET /x HTTP/1.1\r\nHost: x\r\n"
	    "X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
	struct timeval t0;
	int fd = dial();
	size_t i;

	gettimeofday(&t0, NULL);
	for (i = 0; i < sizeof(head) - 1; i++) {
		if (send(fd, head + i, 1, MSG_NOSIGNAL) != 1)
			break;
		if (seconds_since(&t0) > 4)
			break;
		usleep(300000);
	}
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 408 ", 13) == 0, "%s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "head took too long"));
	ck_assert_double_lt(seconds_since(&t0), 4.5);
}
END_TEST

/* A connection that sends nothing goes at the head deadline, unanswered. */
START_TEST(silent_connection_goes)
{
	struct timeval t0;
	int fd = dial();

	gettimeofday(&t0, NULL);
	ck_assert_uint_eq(read_all(fd, reply, sizeof(reply)), 0);
	close(fd);
	ck_assert_double_gt(seconds_since(&t0), 1.5);
	ck_assert_double_lt(seconds_since(&t0), 4.5);
}
END_TEST

/* A body below the minimum rate (200 bytes/s against 1000) is cut; one
 * above it (4000 bytes/s for 3 s) is read whole, however long it takes. */
START_TEST(body_below_minimum_rate)
{
	static char piece[400];
	struct timeval t0;
	int fd = dial(), i;

	memset(piece, 'b', sizeof(piece));
	send_str(fd, "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	             "Content-Length: 12000\r\n\r\n");
	gettimeofday(&t0, NULL);
	for (i = 0; i < 30 && seconds_since(&t0) < 4; i++) {
		if (send(fd, piece, 100, MSG_NOSIGNAL) != 100)
			break;
		usleep(500000);
	}
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strncmp(reply, "HTTP/1.1 408 ", 13) == 0, "%s", reply);
	ck_assert_ptr_nonnull(strstr(reply, "body arrived too slowly"));

	fd = dial();
	send_str(fd, "POST /body HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
	             "Content-Length: 12000\r\n\r\n");
	for (i = 0; i < 30; i++) {
		send_all(fd, piece, sizeof(piece));
		usleep(100000);
	}
	read_all(fd, reply, sizeof(reply));
	close(fd);
	ck_assert_msg(strstr(reply, "\r\n\r\nbody 12000") != NULL, "%s", reply);
}
END_TEST

/* Bodies held at once are bounded together (4 MiB here): four requests
 * each part-way through a 1,000,000-byte body hold 3.6 MB; a fifth is
 * refused with a 503 once its body would pass the bound, and the four
 * are still served when their bodies end. */
START_TEST(bodies_bounded_together)
{
	static char piece[900000];
	int fds[5], i, refused = 0, served = 0;

	memset(piece, 'p', sizeof(piece));
	for (i = 0; i < 5; i++) {
		fds[i] = dial();
		send_str(fds[i], "POST /body HTTP/1.1\r\nHost: x\r\n"
		                 "Connection: close\r\n"
		                 "Content-Length: 1000000\r\n\r\n");
		send(fds[i], piece, sizeof(piece), MSG_NOSIGNAL);
	}
	/* Whichever came last past the bound is refused (the order the
	 * server reads them in is its own): the one answered while none has
	 * ended its body.  The others then end theirs and are served. */
	{
		struct pollfd p[5];

		for (i = 0; i < 5; i++)
			p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		ck_assert_int_eq(poll(p, 5, 5000), 1);
		for (i = 0; i < 5; i++)
			if (p[i].revents) {
				read_all(fds[i], reply, sizeof(reply));
				ck_assert_msg(
				    strncmp(reply, "HTTP/1.1 503 ", 13) == 0 &&
				        strstr(reply,
				               "too many request bodies"),
				    "%s", reply);
				close(fds[i]);
				fds[i] = -1;
				refused++;
			}
	}
	for (i = 0; i < 5; i++) {
		if (fds[i] < 0)
			continue;
		send_all(fds[i], piece, 100000);
		read_all(fds[i], reply, sizeof(reply));
		close(fds[i]);
		ck_assert_msg(strstr(reply, "\r\n\r\nbody 1000000"), "%d: %s",
		              i, reply);
		served++;
	}
	ck_assert_int_eq(refused, 1);
	ck_assert_int_eq(served, 4);
}
END_TEST

static Suite *httpd_suite(void)
{
	Suite *s = suite_create("httpd");
	TCase *tc = tcase_create("server");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, keep_alive_and_close);
	tcase_add_test(tc, answer_from_head_before_body);
	tcase_add_test(tc, body_limit_from_head);
	tcase_add_test(tc, streamed_body_with_pauses);
	tcase_add_test(tc, streamed_body_refused_midway);
	tcase_add_test(tc, known_length_stream);
	tcase_add_test(tc, head_gets_headers_only);
	tcase_add_test(tc, malformed_is_refused);
	tcase_add_test(tc, deferred_head);
	tcase_add_test(tc, trickled_head_is_cut);
	tcase_add_test(tc, silent_connection_goes);
	tcase_add_test(tc, body_below_minimum_rate);
	tcase_add_test(tc, bodies_bounded_together);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(httpd_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
