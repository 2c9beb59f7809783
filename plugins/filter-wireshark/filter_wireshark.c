/* filter-wireshark: Wireshark display filters, answered by a helper process
 * that dissects with libwireshark as `tshark -r FILE -Y FILTER` does, after
 * a pre-filter that skips packets whose headers prove they cannot match. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pktexport/plugin.h"
#include "pkx_paths.h"
#include "ws_prefilter.h"
#include "ws_protocol.h"

#define WSX_NAME   "filter-wireshark"
#define WSX_HELPER "pktexport-wireshark-helper"

#define LINKTYPE_ETHERNET 1
/* Defaults, each overridable by an environment variable (see the doc). */
#define WSX_TIMEOUT_MS  30000  /* one packet */
#define WSX_START_MS    120000 /* libwireshark start and filter compile */
#define WSX_RECYCLE     1000000
#define WSX_MAX_RSS_MB  1024
#define WSX_CHECK_EVERY 4096
#define WSX_PUNCH_EVERY (1u << 20)
#define WSX_WBUF        (256u << 10) /* stream bytes gathered per write */

extern char **environ;

static const pkx_services *wsx_svc;

/* A request the helper is answering, in slot `slot` of the shared page: k
 * packets, each with its index in the caller's batch, frame number and
 * what the frame history needs of it (the caller's packets are gone by the
 * time it is answered); where its records end in the stream; and where its
 * answers go: verdicts[asked[i]], *upto lowered to the first packet not
 * answered, with *err saying why. */
typedef struct wsx_req {
	uint32_t asked[WSP_BATCH_MAX], frames[WSP_BATCH_MAX];
	uint64_t ns[WSP_BATCH_MAX];
	uint32_t wirelen[WSP_BATCH_MAX];
	uint8_t got[WSP_BATCH_MAX]; /* the slot's verdicts, copied */
	uint32_t k, slot;
	uint64_t end;
	uint8_t *verdicts;
	size_t *upto;
	pkx_error *err;
} wsx_req;

/* A batch submitted and not yet collected (ABI 1.7): its verdicts, how
 * many packets it had, the first not answered (n: all were) and why. */
typedef struct wsx_pend {
	uint8_t *verdicts;
	size_t cap, n, upto;
	pkx_error err;
} wsx_pend;

typedef struct wsx_program {
	char *expr;
	pkx_interface *ifs;
	size_t n_ifs;
	int pcapng;     /* the stream mirrors a pcapng input */
	uint32_t flags; /* WSP_* for the helper */
	wsf_prog *pre;  /* NULL: no pre-filter */
	uint8_t carriers[2][WSP_PORT_BITMAP];
	wsf_carriers carrier_sets;
	/* The helper, the stream it reads and the page it answers in. */
	pid_t pid;
	int pidfd;  /* the helper's, when the kernel has them; or -1 */
	int status; /* where the fork server writes its wait status */
	int sock, records;
	wsp_shared *shared;
	uint64_t written, punched, sent, next_check;
	/* Stream bytes not yet written (the helper reads nothing before the
	 * next request, which writes them first): one write() per batch
	 * rather than two to four per packet. */
	uint8_t *wbuf;
	size_t wlen;
	/* Requests sent and not answered yet, oldest first from req_head
	 * (one per slot of the shared page), and how many were ever sent
	 * to this helper (which slot comes next). */
	wsx_req req[WSP_SLOTS];
	unsigned req_head, n_req, req_seq;
	/* Batches submitted and not collected (ABI 1.7/1.8), oldest first. */
	wsx_pend pend[WSP_SLOTS];
	unsigned pend_head, n_pend;
	/* Frame history, kept here so a fresh helper continues it. */
	uint32_t frame_num;
	wsp_state st;
	/* Settings. */
	int timeout_ms;
	const int *cancelled; /* the export's cancel flag (ABI 1.4) */
	uint64_t recycle_every, max_rss_kb;
	uint64_t skipped, recycled;
	uint64_t helper_peak_kb;          /* largest VmHWM of its helpers */
	uint64_t helper_private_kb;       /* largest memory of its own */
	char failure[PKX_ERROR_TEXT_MAX]; /* set once the helper failed */
} wsx_program;

/* The fork server: one process per service that started libwireshark
 * once and forks a helper for each filter (see ws_protocol.h).
 *
 * One thread at a time drives it (starts it, asks it for a helper, stops
 * it): that thread marks itself with busy.  The lock guards the fields
 * and is never held across a spawn, a request to the server or a wait for
 * a process; a thread that finds the server busy waits on cond, which
 * releases the lock. */
#define WSX_RETIRED_MAX 32
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int busy; /* a thread drives the server */
	pid_t pid;
	int sock;
	/* Servers whose settings went stale: they serve no more forks but
	 * live on until their helpers end, and are reaped here. */
	pid_t retired[WSX_RETIRED_MAX];
	int retired_sock[WSX_RETIRED_MAX]; /* closed once it has ended */
	int n_retired;
} wsx_server = {PTHREAD_MUTEX_INITIALIZER,
                PTHREAD_COND_INITIALIZER,
                0,
                -1,
                -1,
                {0},
                {0},
                0};

/* Becomes the thread that drives the server, waiting (without the lock)
 * for the one that does. */
static void wsx_drive_begin(void)
{
	pthread_mutex_lock(&wsx_server.lock);
	while (wsx_server.busy)
		pthread_cond_wait(&wsx_server.cond, &wsx_server.lock);
	wsx_server.busy = 1;
	pthread_mutex_unlock(&wsx_server.lock);
}

static void wsx_drive_end(void)
{
	pthread_mutex_lock(&wsx_server.lock);
	wsx_server.busy = 0;
	pthread_cond_broadcast(&wsx_server.cond);
	pthread_mutex_unlock(&wsx_server.lock);
}

static pkx_result wsx_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	wsx_svc = svc;
	return PKX_OK;
}

static uint64_t wsx_env(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (!v || !*v)
		return dflt;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || *end)
		return dflt;
	return n;
}

/* The helper program: $PKTEXPORT_WIRESHARK_HELPER, else next to the
 * plugin's folder (a build tree), else where `make install` puts it. */
static void wsx_helper_path(char *out, size_t size)
{
	const char *env = getenv("PKTEXPORT_WIRESHARK_HELPER");
	Dl_info info;

	if (env && *env) {
		snprintf(out, size, "%s", env);
		return;
	}
	if (dladdr((void *)wsx_helper_path, &info) && info.dli_fname) {
		const char *slash = strrchr(info.dli_fname, '/');

		if (slash && (size_t)(slash - info.dli_fname) + 40 < size) {
			snprintf(out, size, "%.*s/../%s",
			         (int)(slash - info.dli_fname), info.dli_fname,
			         WSX_HELPER);
			if (access(out, X_OK) == 0)
				return;
		}
	}
	snprintf(out, size, "%s", PKX_WS_HELPER);
}

/* ----------------------------------------------------- the packet stream */

static int wsx_write_now(wsx_program *p, const void *buf, size_t len)
{
	const char *b = buf;

	while (len > 0) {
		ssize_t r = write(p->records, b, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		len -= (size_t)r;
		p->written += (uint64_t)r;
	}
	return 0;
}

/* Writes what the stream holds back: before every request. */
static int wsx_flush(wsx_program *p)
{
	size_t len = p->wlen;

	p->wlen = 0;
	return len ? wsx_write_now(p, p->wbuf, len) : 0;
}

static int wsx_write(wsx_program *p, const void *buf, size_t len)
{
	if (!p->wbuf && !(p->wbuf = malloc(WSX_WBUF)))
		return wsx_write_now(p, buf, len);
	if (len > WSX_WBUF - p->wlen && wsx_flush(p) != 0)
		return -1;
	if (len > WSX_WBUF)
		return wsx_write_now(p, buf, len);
	memcpy(p->wbuf + p->wlen, buf, len);
	p->wlen += len;
	return 0;
}

static int wsx_option(wsx_program *p, uint16_t code, const void *v,
                      uint16_t len)
{
	static const uint8_t zero[4];
	uint16_t hdr[2] = {code, len};

	return wsx_write(p, hdr, sizeof(hdr)) || wsx_write(p, v, len) ||
	       wsx_write(p, zero, (4u - len % 4u) % 4u);
}

/* A pcapng interface block for f: its link type (and FCS length), snap
 * length, name, nanosecond stamps. */
static int wsx_pcapng_idb(wsx_program *p, const pkx_interface *f)
{
	size_t nlen = strnlen(f->name, sizeof(f->name));
	uint32_t lt = f->linktype, fcs = 0, blen;
	uint8_t resol = 9;
	uint32_t head[4];
	uint32_t end = 0;

	if (lt & PKX_LINKTYPE_FCS_PRESENT)
		fcs = ((lt >> PKX_LINKTYPE_FCS_SHIFT) & 0xfu) * 2u;
	blen = 20 + 8 /* tsresol */ + (fcs ? 8 : 0) + 4 /* end */;
	if (nlen)
		blen += 4 + (uint32_t)((nlen + 3) & ~(size_t)3);
	head[0] = 1;
	head[1] = blen;
	head[2] = lt & 0xffffu;
	head[3] = f->snaplen ? f->snaplen : 262144;
	return wsx_write(p, head, sizeof(head)) ||
	       (nlen && wsx_option(p, 2, f->name, (uint16_t)nlen)) ||
	       wsx_option(p, 9, &resol, 1) ||
	       (fcs && wsx_option(p, 13, &(uint8_t){(uint8_t)fcs}, 1)) ||
	       wsx_write(p, &end, sizeof(end)) ||
	       wsx_write(p, &blen, sizeof(blen));
}

/* pcapng: one interface block per source interface, names kept, so the
 * frame.interface_* fields read as they would on the input. */
static int wsx_pcapng_header(wsx_program *p)
{
	/* Version 1.0, section length unknown. */
	uint32_t shb[7] = {0x0A0D0D0A, 28,         0x1A2B3C4D, 1,
	                   0xffffffff, 0xffffffff, 28};
	size_t i;

	if (wsx_write(p, shb, sizeof(shb)))
		return -1;
	for (i = 0; i < p->n_ifs; i++)
		if (wsx_pcapng_idb(p, &p->ifs[i]) != 0)
			return -1;
	return 0;
}

static int wsx_stream_header(wsx_program *p)
{
	uint32_t hdr[6] = {0xa1b23c4d, 0x00040002, 0, 0, 0, 0};

	if (p->pcapng)
		return wsx_pcapng_header(p);
	hdr[4] = p->ifs[0].snaplen ? p->ifs[0].snaplen : 262144;
	hdr[5] = p->ifs[0].linktype; /* with its FCS bits, as read */
	return wsx_write(p, hdr, sizeof(hdr));
}

static int wsx_stream_packet(wsx_program *p, const pkx_packet *pkt)
{
	static const uint8_t zero[4];

	if (p->pcapng) {
		uint32_t pad = (4u - pkt->caplen % 4u) % 4u;
		uint32_t blen = 32 + pkt->caplen + pad;
		uint32_t h[7] = {6,
		                 blen,
		                 pkt->ifindex,
		                 (uint32_t)(pkt->ts_ns >> 32),
		                 (uint32_t)pkt->ts_ns,
		                 pkt->caplen,
		                 pkt->wirelen};

		return wsx_write(p, h, sizeof(h)) ||
		       wsx_write(p, pkt->data, pkt->caplen) ||
		       wsx_write(p, zero, pad) ||
		       wsx_write(p, &blen, sizeof(blen));
	}
	{
		uint32_t h[4] = {(uint32_t)(pkt->ts_ns / 1000000000u),
		                 (uint32_t)(pkt->ts_ns % 1000000000u),
		                 pkt->caplen, pkt->wirelen};

		return wsx_write(p, h, sizeof(h)) ||
		       wsx_write(p, pkt->data, pkt->caplen);
	}
}

/* Give back the memory of records the helper has read: those before
 * offset `end` of the stream. */
static void wsx_punch(wsx_program *p, uint64_t end)
{
	uint64_t upto = end & ~(uint64_t)4095;

	if (upto - p->punched < WSX_PUNCH_EVERY)
		return;
	if (fallocate(p->records, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	              (off_t)p->punched, (off_t)(upto - p->punched)) == 0)
		p->punched = upto;
}

/* ------------------------------------------------------------ the helper */

static int wsx_send(wsx_program *p, const void *buf, size_t len)
{
	const char *b = buf;

	/* A request may make the helper read the stream. */
	if (wsx_flush(p) != 0)
		return -1;
	while (len > 0) {
		ssize_t r = send(p->sock, b, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		len -= (size_t)r;
	}
	return 0;
}

/* 0 when len bytes came, -1 when the helper closed, -2 on timeout. */
static int wsx_recv(wsx_program *p, void *buf, size_t len, int timeout_ms)
{
	char *b = buf;
	uint64_t deadline = wsx_svc->now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (len > 0) {
		struct pollfd pfd = {.fd = p->sock, .events = POLLIN};
		uint64_t now = wsx_svc->now_ns();
		ssize_t r;
		int n;

		if (now >= deadline)
			return -2;
		n = poll(&pfd, 1, (int)((deadline - now) / 1000000u) + 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			continue;
		r = recv(p->sock, b, len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		len -= (size_t)r;
	}
	return 0;
}

/* The sum of the /proc/PID/FILE values in kB on lines starting with key
 * (one line for a status key, "Private_" sums smaps_rollup's private
 * memory), 0 when unknown. */
static uint64_t wsx_proc_kb(pid_t pid, const char *file, const char *key)
{
	char path[64], line[256];
	unsigned long long v, sum = 0;
	size_t klen = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		const char *colon = strchr(line, ':');

		if (strncmp(line, key, klen) == 0 && colon &&
		    sscanf(colon + 1, " %llu", &v) == 1)
			sum += v;
	}
	fclose(f);
	return sum;
}

static uint64_t wsx_status_kb(pid_t pid, const char *key)
{
	return wsx_proc_kb(pid, "status", key);
}

/* Waits up to timeout_ms for the fork server to report how the helper
 * ended.  1 with *status set, 0 when it has not ended yet, -1 when nobody
 * will say (the server is gone). */
static int wsx_exit_status(wsx_program *p, int timeout_ms, int *status)
{
	struct pollfd pfd = {.fd = p->status, .events = POLLIN};
	ssize_t r;
	int n;

	do
		n = poll(&pfd, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return 0;
	do
		r = read(p->status, status, sizeof(*status));
	while (r < 0 && errno == EINTR);
	return r == (ssize_t)sizeof(*status) ? 1 : -1;
}

/* Stops the helper; returns how it ended, for messages. */
static void wsx_stop(wsx_program *p, char *how, size_t size)
{
	int status = 0;

	if (how && size)
		snprintf(how, size, "it stopped");
	if (p->pid > 0) {
		/* A helper that closed its socket is on its way out: let it
		 * finish dying so its status says why. */
		int got = wsx_exit_status(p, how ? 1000 : 0, &status);
		int ended = got == 1; /* before we sent anything */

		/* Not ended, or ended unseen: a helper whose server has gone
		 * (its settings changed, or it was killed) has nobody to
		 * report it, and may still be running. */
		if (got != 1) {
			uint64_t hwm = wsx_status_kb(p->pid, "VmHWM:");

			/* What it does not share with the fork server. */
			uint64_t own =
			    wsx_proc_kb(p->pid, "smaps_rollup", "Private_");

			if (hwm > p->helper_peak_kb)
				p->helper_peak_kb = hwm;
			if (own > p->helper_private_kb)
				p->helper_private_kb = own;
			/* By pidfd: the id may be another process's by now.
			 * By id only where pidfds are missing (an old
			 * kernel, or valgrind, which does not know the call).
			 */
			if (p->pidfd < 0 ||
			    (syscall(SYS_pidfd_send_signal, p->pidfd, SIGKILL,
			             NULL, 0) != 0 &&
			     errno == ENOSYS))
				kill(p->pid, SIGKILL);
			if (got == 0)
				got = wsx_exit_status(p, 10000, &status);
		}
		if (got == 1 && how && WIFSIGNALED(status) &&
		    (ended || WTERMSIG(status) != SIGKILL))
			snprintf(how, size, "it was killed by signal %d (%s)",
			         WTERMSIG(status), strsignal(WTERMSIG(status)));
		else if (got == 1 && how && WIFEXITED(status))
			snprintf(how, size, "it exited with status %d",
			         WEXITSTATUS(status));
	}
	p->pid = -1;
	if (p->shared)
		munmap(p->shared, sizeof(*p->shared));
	p->shared = NULL;
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->status >= 0)
		close(p->status);
	if (p->sock >= 0)
		close(p->sock);
	if (p->records >= 0)
		close(p->records);
	p->pidfd = p->status = p->sock = p->records = -1;
}

/* Records the end of the helper as this program's failure. */
static int wsx_fail(wsx_program *p, pkx_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int wsx_fail(wsx_program *p, pkx_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->failure, sizeof(p->failure), fmt, ap);
	va_end(ap);
	wsx_svc->fail(err, "INTERNAL_ERROR", "%s", p->failure);
	return -1;
}

/* Waits for a server that was told to end (its socket closed): a moment
 * when force is 0, then SIGKILL. */
static void wsx_server_end(pid_t pid, int force)
{
	int status, grace;

	for (grace = force ? 0 : 200;
	     grace > 0 && waitpid(pid, &status, WNOHANG) == 0; grace--)
		usleep(10000);
	if (grace == 0) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
	}
}

/* Driving the server.  Reaps retired servers that have ended (without
 * waiting for any). */
static void wsx_reap_retired(void)
{
	int i, status;

	pthread_mutex_lock(&wsx_server.lock);
	for (i = 0; i < wsx_server.n_retired;)
		if (waitpid(wsx_server.retired[i], &status, WNOHANG) != 0) {
			int last = --wsx_server.n_retired;

			close(wsx_server.retired_sock[i]);
			wsx_server.retired[i] = wsx_server.retired[last];
			wsx_server.retired_sock[i] =
			    wsx_server.retired_sock[last];
		} else {
			i++;
		}
	pthread_mutex_unlock(&wsx_server.lock);
}

/* Driving the server.  Stops the current server: at once when force is
 * set; retire lets one whose settings went stale finish serving the
 * helpers it forked (they are reaped by it, so none is orphaned). */
static void wsx_server_stop(int force, int retire)
{
	pid_t pid;
	int sock;

	wsx_reap_retired();
	pthread_mutex_lock(&wsx_server.lock);
	pid = wsx_server.pid;
	sock = wsx_server.sock;
	wsx_server.sock = -1;
	wsx_server.pid = -1;
	/* A retired server keeps its socket: when that closes (here, or
	 * with this process) it kills the helpers it still has. */
	if (pid > 0 && sock >= 0 && retire &&
	    wsx_server.n_retired < WSX_RETIRED_MAX) {
		wsx_server.retired_sock[wsx_server.n_retired] = sock;
		wsx_server.retired[wsx_server.n_retired++] = pid;
		pid = -1;
		sock = -1;
	}
	pthread_mutex_unlock(&wsx_server.lock);
	if (sock >= 0)
		close(sock);
	if (pid > 0)
		wsx_server_end(pid, force);
}

/* Driving the server. */
static int wsx_server_start(char *why, size_t size)
{
	posix_spawn_file_actions_t fa;
	char path[PATH_MAX];
	char *argv[] = {(char *)WSX_HELPER, (char *)WSP_SERVER_ARG, NULL};
	int sv[2], r;
	pid_t pid = -1;

	wsx_helper_path(path, sizeof(path));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(why, size, "socketpair: %s", strerror(errno));
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, sv[1], WSP_FD_CONTROL);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	if (!getenv("PKTEXPORT_WIRESHARK_DEBUG"))
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY,
		                                 0);
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	r = posix_spawn(&pid, path, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (r != 0) {
		close(sv[0]);
		snprintf(why, size,
		         "cannot start the Wireshark helper %.256s: %s (set "
		         "PKTEXPORT_WIRESHARK_HELPER)",
		         path, strerror(r));
		return -1;
	}
	pthread_mutex_lock(&wsx_server.lock);
	wsx_server.pid = pid;
	wsx_server.sock = sv[0];
	pthread_mutex_unlock(&wsx_server.lock);
	wsx_svc->log(PKX_LOG_DEBUG, WSX_NAME,
	             "started the Wireshark fork server (pid %d)", (int)pid);
	return 0;
}

/* Driving the server (so its socket is this thread's alone).  Asks the
 * server for a helper on fds (control, records, shared page, status
 * pipe).  0 with *pid and *pidfd set; WSP_STALE; -1 with why set
 * (the server answered a failure); -2 when it did not answer. */
static int wsx_server_fork(const int fds[4], pid_t *pid, int *pidfd, char *why,
                           size_t size)
{
	wsp_fork f = {.magic = WSP_FORK_MAGIC};
	wsp_forked a;
	char ctl[CMSG_SPACE(4 * sizeof(int))];
	struct iovec iov = {.iov_base = &f, .iov_len = sizeof(f)};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = ctl,
	                   .msg_controllen = CMSG_SPACE(4 * sizeof(int))};
	struct pollfd pfd = {.fd = wsx_server.sock, .events = POLLIN};
	int timeout =
	    (int)wsx_env("PKTEXPORT_WIRESHARK_START_MS", WSX_START_MS);
	struct cmsghdr *c;
	ssize_t r;
	int n;

	memset(ctl, 0, sizeof(ctl));
	c = CMSG_FIRSTHDR(&m);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(4 * sizeof(int));
	memcpy(CMSG_DATA(c), fds, 4 * sizeof(int));
	do
		r = sendmsg(wsx_server.sock, &m, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	snprintf(why, size, "the Wireshark helper did not start");
	if (r != (ssize_t)sizeof(f))
		return -2;
	do
		n = poll(&pfd, 1, timeout);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		snprintf(why, size,
		         "the Wireshark helper did not start: it did not "
		         "answer in time");
		return -2;
	}
	memset(&a, 0, sizeof(a));
	iov.iov_base = &a;
	iov.iov_len = sizeof(a);
	m.msg_controllen = CMSG_SPACE(sizeof(int));
	do
		r = recvmsg(wsx_server.sock, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	*pidfd = -1;
	for (c = r > 0 ? CMSG_FIRSTHDR(&m) : NULL; c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
		    c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(pidfd, CMSG_DATA(c), sizeof(int));
	if (r < (ssize_t)offsetof(wsp_forked, text))
		return -2;
	if (a.pid > 0) {
		*pid = a.pid;
		return 0;
	}
	if (*pidfd >= 0)
		close(*pidfd);
	*pidfd = -1;
	if (a.pid == WSP_STALE)
		return WSP_STALE;
	snprintf(why, size, "the Wireshark helper did not start: %.*s",
	         (int)(a.len < sizeof(a.text) ? a.len : sizeof(a.text)),
	         a.text);
	return -1;
}

/* A helper for p, forked by the server: started if need be, and again
 * when it died or its Wireshark settings changed on disk. */
static int wsx_fork_helper(wsx_program *p, const int fds[4], pkx_error *err)
{
	char why[PKX_ERROR_TEXT_MAX];
	int attempt, r = -1;

	snprintf(why, sizeof(why), "the Wireshark helper did not start");
	wsx_drive_begin();
	wsx_reap_retired();
	for (attempt = 0; attempt < 2; attempt++) {
		int fresh = wsx_server.pid <= 0;

		if (fresh && wsx_server_start(why, sizeof(why)) != 0)
			break;
		r = wsx_server_fork(fds, &p->pid, &p->pidfd, why, sizeof(why));
		if (r == 0)
			break;
		wsx_server_stop(r != WSP_STALE, r == WSP_STALE);
		/* Only a server that had been running gets a successor: it
		 * may have died since, or read settings that have changed. */
		if (fresh && r != WSP_STALE)
			break;
	}
	wsx_drive_end();
	if (r != 0) {
		p->pid = -1;
		return wsx_fail(p, err, "%s", why);
	}
	return 0;
}

static int wsx_spawn(wsx_program *p, pkx_error *err)
{
	int sv[2], status[2], rec, shm, r;

	rec = memfd_create("pktexport-wireshark", MFD_CLOEXEC);
	if (rec < 0)
		return wsx_fail(p, err, "memfd_create: %s", strerror(errno));
	shm = memfd_create("pktexport-wireshark-answers", MFD_CLOEXEC);
	if (shm < 0 || ftruncate(shm, sizeof(wsp_shared)) != 0 ||
	    (p->shared = mmap(NULL, sizeof(wsp_shared), PROT_READ | PROT_WRITE,
	                      MAP_SHARED, shm, 0)) == MAP_FAILED) {
		r = errno;
		p->shared = NULL;
		close(rec);
		if (shm >= 0)
			close(shm);
		return wsx_fail(p, err, "shared answer page: %s", strerror(r));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		r = errno;
		close(rec);
		close(shm);
		return wsx_fail(p, err, "socketpair: %s", strerror(r));
	}
	if (pipe2(status, O_CLOEXEC) != 0) {
		r = errno;
		close(rec);
		close(shm);
		close(sv[0]);
		close(sv[1]);
		return wsx_fail(p, err, "pipe: %s", strerror(r));
	}
	p->records = rec;
	p->sock = sv[0];
	p->status = status[0];
	p->written = p->punched = p->sent = 0;
	p->req_seq = 0;
	p->wlen = 0; /* anything held was for the previous helper's stream */
	p->next_check = WSX_CHECK_EVERY;
	if (wsx_stream_header(p) != 0)
		r = wsx_fail(p, err, "writing the packet stream: %s",
		             strerror(errno));
	else
		r = wsx_fork_helper(
		    p, (const int[4]){sv[1], rec, shm, status[1]}, err);
	close(sv[1]);
	close(shm);
	close(status[1]);
	return r;
}

static void wsx_deinit(void)
{
	wsx_drive_begin();
	wsx_server_stop(0, 0);
	for (;;) {
		pid_t pid;
		int sock;

		pthread_mutex_lock(&wsx_server.lock);
		if (wsx_server.n_retired == 0) {
			pthread_mutex_unlock(&wsx_server.lock);
			break;
		}
		pid = wsx_server.retired[--wsx_server.n_retired];
		sock = wsx_server.retired_sock[wsx_server.n_retired];
		pthread_mutex_unlock(&wsx_server.lock);
		close(sock);
		wsx_server_end(pid, 0);
	}
	wsx_drive_end();
}

/* Starts a helper, compiles the filter in it, and hands it the frame
 * history.  A refused filter is REQUEST_INVALID_INPUT with dfilter's
 * message. */
static int wsx_start(wsx_program *p, pkx_error *err)
{
	size_t tlen = strlen(p->expr);
	wsp_compile c = {.flags = p->flags, .text_len = (uint32_t)tlen};
	wsp_request req = {.type = WSP_COMPILE,
	                   .arg = (uint32_t)(sizeof(c) + tlen)};
	wsp_answer a;
	char text[WSP_TEXT_MAX + 1], how[128];
	int r;

	if (wsx_spawn(p, err) != 0)
		return -1;
	if (wsx_send(p, &req, sizeof(req)) || wsx_send(p, &c, sizeof(c)) ||
	    wsx_send(p, p->expr, tlen))
		r = -1;
	else
		r = wsx_recv(
		    p, &a, sizeof(a),
		    (int)wsx_env("PKTEXPORT_WIRESHARK_START_MS", WSX_START_MS));
	if (r == 0 && (a.len > WSP_TEXT_MAX ||
	               wsx_recv(p, text, a.len, WSX_TIMEOUT_MS) != 0))
		r = -1;
	if (r != 0) {
		wsx_stop(p, how, sizeof(how));
		return wsx_fail(p, err,
		                "the Wireshark helper did not start: %s",
		                r == -2 ? "it did not answer in time" : how);
	}
	text[a.len] = '\0';
	if (a.status != WSP_OK) {
		wsx_stop(p, NULL, 0);
		if (a.status == WSP_BAD_FILTER || a.status == WSP_BAD_INPUT)
			return wsx_svc->fail(err, "REQUEST_INVALID_INPUT", "%s",
			                     text);
		return wsx_fail(p, err, "Wireshark: %s", text);
	}
	if (wsx_recv(p, p->carriers, sizeof(p->carriers), WSX_TIMEOUT_MS)) {
		wsx_stop(p, how, sizeof(how));
		return wsx_fail(p, err, "the Wireshark helper failed: %s", how);
	}
	req.type = WSP_STATE;
	req.arg = sizeof(p->st);
	if (p->frame_num && (wsx_send(p, &req, sizeof(req)) ||
	                     wsx_send(p, &p->st, sizeof(p->st)))) {
		wsx_stop(p, how, sizeof(how));
		return wsx_fail(p, err, "the Wireshark helper failed: %s", how);
	}
	return 0;
}

static uint64_t wsx_rss_kb(pid_t pid)
{
	char path[64];
	unsigned long long size = 0, resident = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu %llu", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * ((uint64_t)sysconf(_SC_PAGESIZE) / 1024u);
}

/* Bookkeeping for a packet the helper answered: the frame history a
 * fresh helper would need. */
static void wsx_answered(wsx_program *p, uint32_t frame, uint64_t ts_ns,
                         uint32_t wirelen, int yes)
{
	if (!p->st.ref_num) {
		p->st.ref_num = frame;
		p->st.ref_ns = ts_ns;
	}
	p->st.prev_cap_num = frame;
	p->st.prev_cap_ns = ts_ns;
	if (yes) {
		p->st.prev_dis_num = frame;
		p->st.prev_dis_ns = ts_ns;
		p->st.cum_bytes += wirelen;
	}
}

/* Waits for the helper to end request q.  The per-packet timeout runs
 * from the last verdict it published, so a long batch of quick packets
 * is not a hang.  Returns how many verdicts are valid (in q->got): k, or
 * fewer with the failure recorded. */
static uint32_t wsx_wait(wsx_program *p, wsx_req *q, pkx_error *err)
{
	wsp_slot *sl = &p->shared->slot[q->slot];
	uint32_t done = 0, now, n = q->k;
	char how[128];
	uint8_t answer;
	uint64_t progress = wsx_svc->now_ns(); /* when done last moved */
	int slice = p->timeout_ms < 250 ? p->timeout_ms : 250, r;
	int cancelled = 0;

	/* Waits in short slices so the timeout runs from the last verdict
	 * published, not from the last slice that saw progress, and a
	 * cancel is seen within one. */
	for (;;) {
		r = wsx_recv(p, &answer, 1, slice);
		now = __atomic_load_n(&sl->done, __ATOMIC_ACQUIRE);
		if (r == -2 && now < n && p->cancelled &&
		    __atomic_load_n(p->cancelled, __ATOMIC_RELAXED)) {
			cancelled = 1;
			break;
		}
		if (r == -2 && now < n) {
			uint64_t t = wsx_svc->now_ns();

			if (now > done) {
				done = now; /* slow, not stuck */
				progress = t;
			}
			if (t - progress < (uint64_t)p->timeout_ms * 1000000u)
				continue;
		}
		break;
	}
	done = now > n ? n : now;
	memcpy(q->got, sl->verdicts, done);
	if (cancelled) {
		/* The export is over: the rest of the batch is not wanted,
		 * and the helper may be stuck. */
		wsx_stop(p, NULL, 0);
		wsx_fail(p, err, "the export was cancelled");
		return done;
	}
	if (r == 0 && answer == WSP_YES && done == n)
		return n;
	if (r == 0 && answer == WSP_ERROR) {
		wsp_answer a;
		char text[WSP_TEXT_MAX + 1];

		if (wsx_recv(p, &a, sizeof(a), WSX_TIMEOUT_MS) == 0 &&
		    a.len <= WSP_TEXT_MAX &&
		    wsx_recv(p, text, a.len, WSX_TIMEOUT_MS) == 0) {
			text[a.len] = '\0';
			wsx_stop(p, NULL, 0);
			wsx_fail(p, err, "%s", text);
			return done;
		}
	}
	{
		uint32_t frame = done < n ? q->frames[done] : 0;

		wsx_stop(p, how, sizeof(how));
		if (r == -2)
			wsx_fail(p, err,
			         "Wireshark took longer than %d ms to dissect "
			         "packet %u; the helper was stopped and the "
			         "export ends here",
			         p->timeout_ms, frame);
		else
			wsx_fail(p, err,
			         "the Wireshark helper failed while dissecting "
			         "packet %u (%s); the export ends here",
			         frame, how);
	}
	return done < n ? done : n - 1;
}

/* Waits for the answers to the oldest request and sets its verdicts (or
 * lowers its *upto, with the failure).  A helper that failed answers no
 * more: the requests behind the failure get its message. */
static void wsx_req_end(wsx_program *p)
{
	wsx_req *q = &p->req[p->req_head];
	uint32_t i, got = 0;

	p->req_head = (p->req_head + 1) % WSP_SLOTS;
	p->n_req--;
	if (p->failure[0] || p->pid < 0 || !p->shared)
		wsx_svc->fail(q->err, "INTERNAL_ERROR", "%s",
		              p->failure[0] ? p->failure
		                            : "the Wireshark helper stopped");
	else
		got = wsx_wait(p, q, q->err);
	for (i = 0; i < got; i++) {
		int yes = q->got[i] == WSP_YES;

		q->verdicts[q->asked[i]] = (uint8_t)yes;
		wsx_answered(p, q->frames[i], q->ns[i], q->wirelen[i], yes);
	}
	p->sent += got;
	if (got < q->k && q->asked[got] < *q->upto)
		*q->upto = q->asked[got];
	if (got == q->k && p->records >= 0)
		wsx_punch(p, q->end);
}

/* Waits for every request sent. */
static void wsx_drain(wsx_program *p)
{
	while (p->n_req > 0)
		wsx_req_end(p);
}

/* A fresh helper bounds memory.  For a frame-only filter nothing is lost;
 * otherwise dissection state (reassembly, conversations) starts over, so
 * this happens only past the memory ceiling, and is logged.  The requests
 * the old helper has are answered first (the new one is told the frame
 * history they make). */
static int wsx_maybe_recycle(wsx_program *p, pkx_error *err)
{
	int stateless = (p->flags & WSP_FRAME_ONLY) != 0;
	uint64_t rss;

	if (p->sent == 0)
		return 0;
	if (!(stateless && p->sent >= p->recycle_every)) {
		if (p->sent < p->next_check)
			return 0;
		p->next_check = p->sent + WSX_CHECK_EVERY;
		rss = wsx_rss_kb(p->pid);
		if (rss <= p->max_rss_kb)
			return 0;
		if (!stateless)
			wsx_svc->log(PKX_LOG_WARN, WSX_NAME,
			             "filter \"%s\": the Wireshark helper "
			             "reached %llu MB at packet %u and is "
			             "restarted; reassembly and conversation "
			             "state start over",
			             p->expr, (unsigned long long)(rss / 1024),
			             p->frame_num);
	}
	wsx_drain(p);
	if (p->failure[0])
		return wsx_svc->fail(err, "INTERNAL_ERROR", "%s", p->failure),
		       -1;
	wsx_stop(p, NULL, 0);
	p->recycled++;
	return wsx_start(p, err);
}

/* A helper to send the next request to: started when there is none,
 * replaced when it is due (see wsx_maybe_recycle). */
static int wsx_ready(wsx_program *p, pkx_error *err)
{
	if (p->pid >= 0)
		return wsx_maybe_recycle(p, err);
	wsx_drain(p);
	if (p->failure[0])
		return wsx_svc->fail(err, "INTERNAL_ERROR", "%s", p->failure),
		       -1;
	return wsx_start(p, err);
}

/* A request to fill: the slot after the newest one sent, once its last
 * batch was answered. */
static wsx_req *wsx_req_new(wsx_program *p)
{
	wsx_req *q;

	if (p->n_req == WSP_SLOTS)
		wsx_req_end(p);
	q = &p->req[(p->req_head + p->n_req) % WSP_SLOTS];
	q->slot = p->req_seq % WSP_SLOTS;
	q->k = 0;
	return q;
}

/* Hands the helper the q->k packets pkts[q->asked[..]], in order, without
 * waiting: 0 (q is then answered by wsx_req_end), or -1 with the failure
 * recorded. */
static int wsx_req_send(wsx_program *p, wsx_req *q, const pkx_packet *pkts,
                        pkx_error *err)
{
	wsp_request req = {.type = WSP_BATCH,
	                   .arg = q->k | q->slot << WSP_SLOT_SHIFT};
	wsp_slot *sl;
	uint32_t i;

	if (p->failure[0] || p->pid < 0 || !p->shared)
		return wsx_svc->fail(err, "INTERNAL_ERROR", "%s",
		                     p->failure[0]
		                         ? p->failure
		                         : "the Wireshark helper stopped"),
		       -1;
	sl = &p->shared->slot[q->slot];
	for (i = 0; i < q->k; i++)
		if (wsx_stream_packet(p, &pkts[q->asked[i]]) != 0)
			return wsx_fail(p, err, "writing the packet stream: %s",
			                strerror(errno));
	memcpy(sl->frames, q->frames, q->k * sizeof(q->frames[0]));
	__atomic_store_n(&sl->done, 0, __ATOMIC_RELEASE);
	if (wsx_send(p, &req, sizeof(req)) != 0) {
		char how[128];
		const wsx_req *old = p->n_req ? &p->req[p->req_head] : NULL;
		uint32_t at =
		    old ? __atomic_load_n(&p->shared->slot[old->slot].done,
		                          __ATOMIC_ACQUIRE)
		        : 0;

		wsx_stop(p, how, sizeof(how));
		/* It died on a batch still in flight: the packet it was on
		 * is the one to name, as that batch's collect would. */
		if (old && at < old->k)
			return wsx_fail(p, err,
			                "the Wireshark helper failed while "
			                "dissecting packet %u (%s); the export "
			                "ends here",
			                old->frames[at], how);
		return wsx_fail(p, err, "the Wireshark helper failed (%s)",
		                how);
	}
	q->end = p->written;
	p->req_seq++;
	p->n_req++;
	return 0;
}

/* Verdicts for n packets: the pre-filter answers those it can prove do
 * not match; the helper the others, in requests of up to WSP_BATCH_MAX
 * sent without waiting for their answers (wsx_req_end sets them; a
 * third request waits for the oldest).  *upto becomes n, or the first
 * packet not answered (err set), and the requests lower it if they
 * fail. */
static void wsx_submit_verdicts(wsx_program *p, const pkx_packet *pkts,
                                size_t n, uint8_t *verdicts, size_t *upto,
                                pkx_error *err)
{
	size_t i = 0;

	*upto = n;
	if (p->failure[0]) {
		wsx_svc->fail(err, "INTERNAL_ERROR", "%s", p->failure);
		*upto = 0;
		return;
	}
	while (i < n) {
		size_t bad = n;
		wsx_req *q = NULL;

		for (; i < n && (!q || q->k < WSP_BATCH_MAX); i++) {
			const pkx_packet *pkt = &pkts[i];

			if (pkt->ifindex >= p->n_ifs) {
				bad = i;
				break;
			}
			p->frame_num++;
			if (p->pre &&
			    p->ifs[pkt->ifindex].linktype ==
			        LINKTYPE_ETHERNET &&
			    !wsf_may_match(p->pre, &p->carrier_sets, pkt->data,
			                   pkt->caplen)) {
				p->skipped++;
				verdicts[i] = 0;
				continue;
			}
			if (!q) {
				if (wsx_ready(p, err) != 0) {
					*upto = i;
					return;
				}
				q = wsx_req_new(p);
			}
			q->frames[q->k] = p->frame_num;
			q->ns[q->k] = pkt->ts_ns;
			q->wirelen[q->k] = pkt->wirelen;
			q->asked[q->k++] = (uint32_t)i;
		}
		if (q) {
			q->verdicts = verdicts;
			q->upto = upto;
			q->err = err;
			if (wsx_req_send(p, q, pkts, err) != 0) {
				if (q->asked[0] < *upto)
					*upto = q->asked[0];
				return;
			}
		}
		if (bad < n) {
			if (bad < *upto) {
				wsx_svc->fail(err, "INTERNAL_ERROR",
				              "packet on unknown interface %u",
				              pkts[bad].ifindex);
				*upto = bad;
			}
			return;
		}
	}
}

/* ------------------------------------------------------------ the plugin */

static void wsx_free(void *program)
{
	wsx_program *p = program;
	unsigned i;

	if (!p)
		return;
	wsx_stop(p, NULL, 0);
	if (p->frame_num) {
		uint64_t server_kb = 0, server_now_kb = 0;
		pid_t server;

		pthread_mutex_lock(&wsx_server.lock);
		server = wsx_server.pid;
		pthread_mutex_unlock(&wsx_server.lock);
		if (server > 0) {
			server_kb = wsx_status_kb(server, "VmHWM:");
			server_now_kb = wsx_status_kb(server, "VmRSS:");
		}
		wsx_svc->log(
		    PKX_LOG_DEBUG, WSX_NAME,
		    "filter \"%s\": %u packets, %llu skipped by the "
		    "pre-filter, helper restarts: %llu, helper peak "
		    "RSS: %llu kB (%llu kB not shared with the fork "
		    "server), fork server peak RSS: %llu kB (%llu kB "
		    "now), service peak RSS: %llu kB",
		    p->expr, p->frame_num, (unsigned long long)p->skipped,
		    (unsigned long long)p->recycled,
		    (unsigned long long)p->helper_peak_kb,
		    (unsigned long long)p->helper_private_kb,
		    (unsigned long long)server_kb,
		    (unsigned long long)server_now_kb,
		    (unsigned long long)wsx_status_kb(getpid(), "VmHWM:"));
	}
	wsf_free(p->pre);
	for (i = 0; i < WSP_SLOTS; i++)
		free(p->pend[i].verdicts);
	free(p->wbuf);
	free(p->ifs);
	free(p->expr);
	free(p);
}

static pkx_result wsx_compile(const char *type, const char *expr,
                              const pkx_interface *ifs, size_t n_ifs,
                              void **program, pkx_error *err)
{
	wsx_program *p = calloc(1, sizeof(*p));
	size_t i;

	(void)type;
	if (!p)
		return wsx_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	p->pid = -1;
	p->pidfd = p->status = p->sock = p->records = -1;
	p->expr = strdup(expr);
	p->ifs = calloc(n_ifs ? n_ifs : 1, sizeof(*ifs));
	if (!p->expr || !p->ifs || n_ifs == 0) {
		wsx_free(p);
		return wsx_svc->fail(err, "INTERNAL_ERROR",
		                     n_ifs ? "out of memory"
		                           : "no capture interface");
	}
	memcpy(p->ifs, ifs, n_ifs * sizeof(*ifs));
	p->n_ifs = n_ifs;
	/* Plain pcap input has no interface resolution: mirror it. */
	p->pcapng = n_ifs > 1 || ifs[0].tsresol != 0;
	for (i = 1; i < n_ifs; i++)
		if (ifs[i].linktype != ifs[0].linktype)
			p->pcapng = 1;
	if (p->pcapng)
		p->flags |= WSP_PCAPNG;
	if (wsx_env("PKTEXPORT_WIRESHARK_FRAME_ONLY", 1) &&
	    wsf_frame_only(expr))
		p->flags |= WSP_FRAME_ONLY;
	else if (wsx_env("PKTEXPORT_WIRESHARK_PREFILTER", 1))
		p->pre = wsf_parse(expr);
	p->timeout_ms =
	    (int)wsx_env("PKTEXPORT_WIRESHARK_TIMEOUT_MS", WSX_TIMEOUT_MS);
	p->recycle_every = wsx_env("PKTEXPORT_WIRESHARK_RECYCLE", WSX_RECYCLE);
	p->max_rss_kb =
	    wsx_env("PKTEXPORT_WIRESHARK_MAX_RSS_MB", WSX_MAX_RSS_MB) * 1024u;
	if (wsx_start(p, err) != 0) {
		wsx_free(p);
		return PKX_ERROR;
	}
	p->carrier_sets.tcp = p->carriers[0];
	p->carrier_sets.udp = p->carriers[1];
	if (p->pre)
		wsx_svc->log(PKX_LOG_DEBUG, WSX_NAME,
		             "filter \"%s\": pre-filter on plain TCP/UDP "
		             "packets: %s",
		             expr, wsf_bpf(p->pre));
	*program = p;
	return PKX_OK;
}

/* ABI 1.7: the helper dissects while the core reads and writes; 1.8: the
 * core submits the next batch before it collects the last one, so the
 * helper finds it waiting when it is done with one. */
static pkx_result wsx_submit(void *program, const pkx_packet *pkts, size_t n,
                             pkx_error *err)
{
	wsx_program *p = program;
	wsx_pend *d;

	if (p->n_pend == WSP_SLOTS)
		return wsx_svc->fail(err, "INTERNAL_ERROR",
		                     "more than %d batches submitted",
		                     WSP_SLOTS);
	d = &p->pend[(p->pend_head + p->n_pend++) % WSP_SLOTS];
	memset(&d->err, 0, sizeof(d->err));
	d->n = n;
	if (n > d->cap) {
		uint8_t *v = realloc(d->verdicts, n);

		if (!v) {
			d->upto = 0;
			wsx_svc->fail(&d->err, "INTERNAL_ERROR",
			              "out of memory");
			return PKX_OK; /* told by wsx_collect */
		}
		d->verdicts = v;
		d->cap = n;
	}
	wsx_submit_verdicts(p, pkts, n, d->verdicts, &d->upto, &d->err);
	return PKX_OK;
}

static size_t wsx_collect(void *program, uint8_t *verdicts, pkx_error *err)
{
	wsx_program *p = program;
	wsx_pend *d = &p->pend[p->pend_head];

	if (p->n_pend == 0) {
		wsx_svc->fail(err, "INTERNAL_ERROR", "no batch submitted");
		return 0;
	}
	/* Its requests are the oldest ones. */
	while (p->n_req > 0 && p->req[p->req_head].upto == &d->upto)
		wsx_req_end(p);
	p->pend_head = (p->pend_head + 1) % WSP_SLOTS;
	p->n_pend--;
	memcpy(verdicts, d->verdicts, d->upto);
	if (d->upto < d->n)
		*err = d->err;
	return d->upto;
}

static size_t wsx_match_batch(void *program, const pkx_packet *pkts, size_t n,
                              uint8_t *verdicts, pkx_error *err)
{
	wsx_program *p = program;
	size_t upto;

	wsx_submit_verdicts(p, pkts, n, verdicts, &upto, err);
	wsx_drain(p);
	return upto;
}

/* The source met new interfaces (ABI 1.3): they join the stream the
 * helper reads, so frame numbers and dissection state go on as in tshark,
 * which reads the interface block where the file has it.  A pcap stream
 * cannot take one: compiled again then. */
/* ABI 1.4: a batch waiting for a slow or stuck helper ends when the
 * export is cancelled, not when the packet's timeout runs out. */
static void wsx_watch_cancel(void *program, const int *cancelled)
{
	((wsx_program *)program)->cancelled = cancelled;
}

static pkx_result wsx_add_interfaces(void *program, const pkx_interface *ifs,
                                     size_t n_ifs, pkx_error *err)
{
	wsx_program *p = program;
	pkx_interface *grown;
	size_t i;

	if (p->failure[0])
		return wsx_svc->fail(err, "INTERNAL_ERROR", "%s", p->failure);
	if (!p->pcapng || n_ifs < p->n_ifs)
		return PKX_DECLINED;
	for (i = 0; i < p->n_ifs; i++)
		if (ifs[i].linktype != p->ifs[i].linktype)
			return PKX_DECLINED;
	if (!(grown = realloc(p->ifs, n_ifs * sizeof(*grown))))
		return wsx_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	p->ifs = grown;
	memcpy(grown + p->n_ifs, ifs + p->n_ifs,
	       (n_ifs - p->n_ifs) * sizeof(*ifs));
	for (i = p->n_ifs; i < n_ifs; i++)
		if (p->records >= 0 && wsx_pcapng_idb(p, &grown[i]) != 0) {
			wsx_fail(p, err, "writing the packet stream: %s",
			         strerror(errno));
			return PKX_ERROR;
		}
	p->n_ifs = n_ifs;
	return PKX_OK;
}

static int wsx_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	uint8_t verdict;

	if (wsx_match_batch(program, pkt, 1, &verdict, err) != 1)
		return -1;
	return verdict;
}

static const char *const wsx_claims[] = {"WIRESHARK", NULL};

static const pkx_filter_plugin wsx_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, WSX_NAME,
                      PACKAGE_VERSION,
                      "Wireshark display filters (libwireshark, in a "
                      "helper process)",
                      wsx_claims, wsx_init, wsx_deinit),
    .compile = wsx_compile,
    .match = wsx_match,
    .to_bpf = NULL,
    .free = wsx_free,
    .match_batch = wsx_match_batch,
    .add_interfaces = wsx_add_interfaces,
    .watch_cancel = wsx_watch_cancel,
    .batch_submit = wsx_submit,
    .batch_collect = wsx_collect,
    .batches_in_flight = WSP_SLOTS,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &wsx_plugin.header;
}
