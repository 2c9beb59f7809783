/* The capture broker (plugins/common/capture_broker.h): forked by
 * pktexportd before it loads a plugin or opens a socket, it keeps the
 * capture capability the daemon then gives up, and runs pktexport-capture
 * with the arguments it is sent, nothing else.  It ends when the daemon
 * does (its socket closes), stopping the captures still running. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture_broker.h"
#include "pkx_paths.h"
#include "pkxd.h"

#define BROKER_CHILDREN 256 /* captures at once */

extern char **environ;

typedef struct child {
	pid_t pid;
	int reply;
} child;

/* Every descriptor but these goes: the broker holds nothing of the
 * daemon's. */
static void close_others(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd = d ? dirfd(d) : -1;

	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && fd > 2 && fd != keep && fd != dfd)
			close(fd);
	}
	if (d)
		closedir(d);
}

static void reap(child *kids, size_t *n)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		size_t i;

		for (i = 0; i < *n; i++)
			if (kids[i].pid == pid) {
				send(kids[i].reply, &st, sizeof(st),
				     MSG_NOSIGNAL);
				close(kids[i].reply);
				kids[i] = kids[--*n];
				break;
			}
	}
}

/* One request: runs the capture program and answers its pid.  0, or -1
 * when the daemon is gone. */
static int serve(int sock, const char *prog, child *kids, size_t *n)
{
	char buf[PKX_BROKER_ARGS + 1], cbuf[CMSG_SPACE(3 * sizeof(int))];
	struct iovec iov = {buf, PKX_BROKER_ARGS};
	char *argv[512];
	struct msghdr m;
	struct cmsghdr *c;
	posix_spawn_file_actions_t fa;
	int fds[3] = {-1, -1, -1}, rc;
	ssize_t len;
	size_t k = 0, off = 0;
	pid_t pid = 0;

	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf;
	m.msg_controllen = sizeof(cbuf);
	len = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
	if (len <= 0)
		return len == 0 || (errno != EINTR && errno != EAGAIN) ? -1 : 0;
	c = CMSG_FIRSTHDR(&m);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
	    c->cmsg_len == CMSG_LEN(sizeof(fds)))
		memcpy(fds, CMSG_DATA(c), sizeof(fds));
	if (fds[2] < 0)
		goto out;
	buf[len] = '\0';
	argv[k++] = (char *)"pktexport-capture";
	while (off < (size_t)len && k < 510) {
		argv[k++] = buf + off;
		off += strlen(buf + off) + 1;
	}
	argv[k] = NULL;
	if (*n == BROKER_CHILDREN || (m.msg_flags & MSG_TRUNC)) {
		rc = *n == BROKER_CHILDREN ? EAGAIN : E2BIG;
		pid = -rc;
		send(fds[2], &pid, sizeof(pid), MSG_NOSIGNAL);
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 1);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 2);
	rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		pid = -rc;
	send(fds[2], &pid, sizeof(pid), MSG_NOSIGNAL);
	if (pid > 0) {
		kids[*n].pid = pid;
		kids[*n].reply = fds[2];
		(*n)++;
		fds[2] = -1;
	}
out:
	for (k = 0; k < 3; k++)
		if (fds[k] >= 0)
			close(fds[k]);
	return 0;
}

static void broker_main(int sock)
{
	static child kids[BROKER_CHILDREN];
	const char *env = getenv("PKTEXPORT_CAPTURE");
	const char *prog = env && *env ? env : PKX_CAPTURE_PROGRAM;
	struct sigaction sa;
	size_t n = 0, i;
	int tries;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);  /* the daemon decides when to stop */
	sigaction(SIGTERM, &sa, NULL); /* its own stop closes our socket */
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	prctl(PR_SET_NAME, "pkx-broker");
	close_others(sock);
	for (;;) {
		struct pollfd p = {.fd = sock, .events = POLLIN};

		if (poll(&p, 1, 100) > 0 && ((p.revents & (POLLHUP | POLLERR) &&
		                              !(p.revents & POLLIN)) ||
		                             serve(sock, prog, kids, &n) != 0))
			break;
		reap(kids, &n);
	}
	/* The daemon is gone: the captures it left stop too. */
	for (i = 0; i < n; i++)
		kill(kids[i].pid, SIGTERM);
	for (tries = 0; n && tries < 500; tries++) {
		struct timespec d = {0, 20 * 1000000};

		nanosleep(&d, NULL);
		reap(kids, &n);
	}
	for (i = 0; i < n; i++)
		kill(kids[i].pid, SIGKILL);
	_exit(0);
}

int pkxd_broker_start(void)
{
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		broker_main(sv[1]);
	}
	close(sv[1]);
	return sv[0];
}
