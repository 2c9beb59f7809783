/* The capture broker: a small process pktexportd forks before anything
 * else, which alone keeps CAP_NET_RAW, and which runs pktexport-capture
 * (and nothing else) when asked.  The daemon then holds no capture
 * capability at all; its capture jobs (recorder.c) and the live sources of
 * its exports (source-live) ask the broker, whose socket descriptor the
 * daemon names in PKTEXPORT_CAPTURE_BROKER.
 *
 * Protocol, on the broker's SOCK_SEQPACKET socket: a request is one
 * message holding the capture program's arguments (after argv[0], each
 * ending with a NUL) and three descriptors: the child's standard output,
 * its standard error, and a reply socket.  On the reply socket the broker
 * writes the child's pid (an int, or -errno when it could not start it),
 * later its wait status (an int), then closes it. */
#ifndef PKX_CAPTURE_BROKER_H
#define PKX_CAPTURE_BROKER_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PKX_BROKER_ENV  "PKTEXPORT_CAPTURE_BROKER"
#define PKX_BROKER_ARGS 8192 /* bytes of arguments in a request */

/* The broker's socket in this process, or -1 when there is none. */
static inline int pkx_broker_fd(void)
{
	const char *v = getenv(PKX_BROKER_ENV);
	char *end = NULL;
	long fd = v ? strtol(v, &end, 10) : -1;

	return v && end && !*end && fd >= 0 && fd < 65536 ? (int)fd : -1;
}

/* Asks the broker to run the capture program with args (NULL-ended,
 * without argv[0]), its standard output and error on out and err.  The
 * child's pid, with *reply the socket its wait status comes on; -1 with
 * errno set when it could not be started. */
static inline pid_t pkx_broker_spawn(int broker, const char *const *args,
                                     int out, int err, int *reply)
{
	char buf[PKX_BROKER_ARGS], cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = {buf, 0};
	struct msghdr m;
	struct cmsghdr *c;
	int r[2], fds[3], pid = 0;
	size_t n = 0;

	for (; *args; args++) {
		size_t l = strlen(*args) + 1;

		if (n + l > sizeof(buf)) {
			errno = E2BIG;
			return -1;
		}
		memcpy(buf + n, *args, l);
		n += l;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r) != 0)
		return -1;
	fds[0] = out;
	fds[1] = err;
	fds[2] = r[1];
	iov.iov_len = n;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(broker, &m, MSG_NOSIGNAL) < 0 ||
	    recv(r[0], &pid, sizeof(pid), 0) != (ssize_t)sizeof(pid)) {
		int e = errno ? errno : EPIPE;

		close(r[0]);
		close(r[1]);
		errno = e;
		return -1;
	}
	close(r[1]);
	if (pid <= 0) {
		close(r[0]);
		errno = pid < 0 ? -pid : EIO;
		return -1;
	}
	*reply = r[0];
	return pid;
}

/* The wait status of a child the broker runs, waiting at most ms (-1:
 * as long as it takes); -1 when it has not ended by then. The reply
 * socket is closed once the status is read. */
static inline int pkx_broker_wait(int *reply, int ms)
{
	struct pollfd p = {.fd = *reply, .events = POLLIN};
	int st = 0;

	if (*reply < 0 || poll(&p, 1, ms) <= 0)
		return -1;
	if (recv(*reply, &st, sizeof(st), 0) != (ssize_t)sizeof(st))
		st = 0x100 * 127; /* the broker went away: as exit 127 */
	close(*reply);
	*reply = -1;
	return st;
}

/* Stops a capture program: SIGTERM, at most ms to end, then SIGKILL; it
 * is waited for either way, through its reply socket when the broker runs
 * it (*reply >= 0, closed then), else as this process's child. */
static inline void pkx_capture_stop(pid_t pid, int *reply, int ms)
{
	int waited;

	kill(pid, SIGTERM);
	if (*reply >= 0) {
		if (pkx_broker_wait(reply, ms) == -1) {
			kill(pid, SIGKILL);
			pkx_broker_wait(reply, -1);
		}
		return;
	}
	for (waited = 0; waited < ms && waitpid(pid, NULL, WNOHANG) == 0;
	     waited += 10) {
		struct timespec d = {0, 10 * 1000000};

		nanosleep(&d, NULL);
	}
	if (waited >= ms) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
}

#endif /* PKX_CAPTURE_BROKER_H */
