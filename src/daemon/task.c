/* Work that may block (disk, the store tool) done on a thread of its own,
 * its end handled on the loop: the loop never waits for a disk. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pkx_paths.h"
#include "pkxd.h"

/* What a listing of the store tool may print: more is refused. */
#define TOOL_MAX_OUTPUT (64u << 20)

extern char **environ;

typedef struct pkxd_task {
	pkxd_daemon *d;
	void (*work)(void *arg);
	void (*done)(pkxd_daemon *d, void *arg);
	void *arg;
	struct event *ev;
} pkxd_task;

static int tasks_running; /* loop only */

int pkxd_tasks_busy(void)
{
	return tasks_running;
}

static void task_done_cb(evutil_socket_t fd, short what, void *arg)
{
	pkxd_task *t = arg;
	pkxd_daemon *d = t->d;

	(void)fd;
	(void)what;
	t->done(d, t->arg);
	event_free(t->ev);
	free(t);
	tasks_running--;
	pkxd_idle(d);
}

static void *task_main(void *arg)
{
	pkxd_task *t = arg;

	t->work(t->arg);
	event_active(t->ev, EV_READ, 0);
	return NULL;
}

int pkxd_task_start(pkxd_daemon *d, void (*work)(void *arg),
                    void (*done)(pkxd_daemon *d, void *arg), void *arg)
{
	pkxd_task *t = calloc(1, sizeof(*t));
	pthread_attr_t attr;
	pthread_t th;
	int started = 0;

	if (!t)
		return -1;
	t->d = d;
	t->work = work;
	t->done = done;
	t->arg = arg;
	t->ev = event_new(d->base, -1, 0, task_done_cb, t);
	if (t->ev && pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		started = pthread_create(&th, &attr, task_main, t) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!started) {
		if (t->ev)
			event_free(t->ev);
		free(t);
		return -1;
	}
	tasks_running++;
	return 0;
}

/* ------------------------------------------------------- the store tool */

/* Reads the child's stdout (whole, bounded) and stderr (its first
 * line kept) until both close. */
static int tool_read(int out_fd, int err_fd, char **out, size_t *out_len,
                     char *why, size_t why_len)
{
	struct pollfd p[2] = {{out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}};
	size_t cap = 0, why_used = 0;
	int open_fds = 2, too_much = 0;

	*out = NULL;
	*out_len = 0;
	why[0] = '\0';
	while (open_fds > 0) {
		int i;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		for (i = 0; i < 2; i++) {
			char buf[65536];
			ssize_t n;

			if (p[i].fd < 0 || !p[i].revents)
				continue;
			n = read(p[i].fd, buf, sizeof(buf));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			if (i == 1) {
				size_t k = (size_t)n;

				if (k > why_len - 1 - why_used)
					k = why_len - 1 - why_used;
				memcpy(why + why_used, buf, k);
				why_used += k;
				why[why_used] = '\0';
				continue;
			}
			if (too_much ||
			    *out_len + (size_t)n > TOOL_MAX_OUTPUT) {
				too_much = 1;
				continue;
			}
			if (*out_len + (size_t)n + 1 > cap) {
				char *nb;

				cap = (*out_len + (size_t)n + 1) * 2;
				if (!(nb = realloc(*out, cap))) {
					too_much = 1;
					continue;
				}
				*out = nb;
			}
			memcpy(*out + *out_len, buf, (size_t)n);
			*out_len += (size_t)n;
		}
	}
	/* The first line of what it said is the reason. */
	why[strcspn(why, "\n")] = '\0';
	return too_much ? -1 : 0;
}

const char *pkxd_store_program(void)
{
	const char *prog = getenv("PKTEXPORT_STORE");

	return prog && *prog ? prog : PKX_STORE_PROGRAM;
}

json_t *pkxd_store_tool(const pkxd_daemon *d, const char *const *args,
                        pkx_error *err)
{
	const char *prog = pkxd_store_program();
	char *argv[64], *out = NULL, why[512];
	int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1}, status = 0, rc;
	posix_spawn_file_actions_t fa;
	json_error_t jerr;
	json_t *doc = NULL;
	size_t n = 0, len = 0;
	pid_t pid;

	argv[n++] = (char *)"pktexport-store";
	argv[n++] = NULL; /* the command, set below */
	argv[n++] = (char *)"--root";
	argv[n++] = d->root;
	argv[1] = (char *)args[0];
	for (args++; *args && n < 63; args++)
		argv[n++] = (char *)*args;
	argv[n] = NULL;
	if (pipe2(out_pipe, O_CLOEXEC) != 0 ||
	    pipe2(err_pipe, O_CLOEXEC) != 0) {
		pkx_fail(err, PKX_EINTERNAL, "cannot run the store tool: %s",
		         strerror(errno));
		goto out;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
	posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	rc = posix_spawn(&pid, prog, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(out_pipe[1]);
	close(err_pipe[1]);
	out_pipe[1] = err_pipe[1] = -1;
	if (rc != 0) {
		pkx_fail(err, PKX_EINTERNAL, "cannot run %s: %s", prog,
		         strerror(rc));
		goto out;
	}
	rc = tool_read(out_pipe[0], err_pipe[0], &out, &len, why, sizeof(why));
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (rc != 0) {
		pkx_fail(err, PKX_EINTERNAL,
		         "the store tool said more than %u bytes",
		         TOOL_MAX_OUTPUT);
	} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		pkx_fail(err, PKX_EINTERNAL, "the store tool failed: %s",
		         why[0] ? why : "no reason given");
	} else if (!(doc = json_loadb(out ? out : "", len, 0, &jerr))) {
		pkx_fail(err, PKX_EINTERNAL,
		         "the store tool's answer is not JSON: %s", jerr.text);
	}
out:
	free(out);
	if (out_pipe[0] >= 0)
		close(out_pipe[0]);
	if (err_pipe[0] >= 0)
		close(err_pipe[0]);
	if (out_pipe[1] >= 0)
		close(out_pipe[1]);
	if (err_pipe[1] >= 0)
		close(err_pipe[1]);
	return doc;
}
