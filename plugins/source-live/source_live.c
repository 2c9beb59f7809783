/* source-live: `interfaces/<name>`, the packets a network interface sees
 * from now on, and `vifgs/<id>`, those of every member of a VIFG, for
 * LIVE_STREAM exports.
 *
 * The capture itself is pktexport-capture --stream, a program of its own:
 * it alone opens packet sockets (CAP_NET_RAW, from its file capabilities
 * or the service's), so the process that runs exports needs no privilege.
 * It writes pcapng to a pipe: the interfaces first, then the packets as
 * the kernel hands them over (blocks, when full or after 100 ms), and
 * statistics blocks with the drops (kernel and interface) when they
 * change.  The export's BPF filters go to it as its kernel filter.
 *
 * next() waits at most SL_WAIT_MS for a packet and otherwise answers
 * PKX_AGAIN, so the core keeps an eye on its clock, cancel flag and held
 * packets; the end of the export's last window is watched on the wall
 * clock, so an end_time ends the export even on a quiet interface. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture_broker.h"
#include "pktexport/plugin.h"
#include "pkx_paths.h"

#define SL_NAME       "source-live"
#define SL_PREFIX     "interfaces/"
#define SL_VIFGS      "vifgs/"
#define SL_MAX_IFACES 16 /* members of a VIFG, as a capture job records */
#define SL_WAIT_MS    100
/* Packets stamped before the end may still be in the ring this long
 * after it. */
#define SL_GRACE_NS (2ull * SL_WAIT_MS * 1000000u)
/* The capture program has this long to open its interfaces. */
#define SL_START_MS 10000
/* Kernel ring of a live export: bursts wait here. */
#define SL_BUFFER "32M"
/* Largest pcapng block the capture program writes (a packet of the
 * largest snap length and its header). */
#define SL_MAX_BLOCK (262144 + 64)

extern char **environ;

static const pkx_services *sl_svc;

typedef struct sl_source {
	char names[SL_MAX_IFACES][PKX_IFNAME_MAX];
	pid_t pid;
	int out, err; /* the capture program's standard output and error */
	int reply;    /* the broker ran it: its end is told here; -1 */
	uint8_t *buf; /* what was read of the stream */
	size_t len, pos, cap;
	uint64_t end_ns;
	uint64_t packets, bytes;
	size_t n;
	pkx_interface iface[SL_MAX_IFACES];
	uint64_t drops[SL_MAX_IFACES]; /* as the statistics blocks say */
	pkx_source_info info;
	/* ABI 1.5: the export, and what was last reported to it. */
	const pkx_export_handle *export;
	uint64_t counted_packets, counted_bytes, counted_drops;
	uint64_t counted_at; /* monotonic ns */
} sl_source;

static uint64_t sl_drops(const sl_source *s)
{
	uint64_t d = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		d += s->drops[i];
	return d;
}

/* Reports to the export what it has not been told yet: packets and bytes
 * read, and the drops the capture counts (kernel and interface). */
static void sl_report(sl_source *s)
{
	uint64_t drops = sl_drops(s);

	s->counted_at = sl_svc->now_ns();
	if (!s->export)
		return;
	s->export->count(s->export, PKX_COUNT_SEEN,
	                 s->packets - s->counted_packets);
	s->export->count(s->export, PKX_COUNT_BYTES,
	                 s->bytes - s->counted_bytes);
	s->counted_packets = s->packets;
	s->counted_bytes = s->bytes;
	if (drops > s->counted_drops) {
		s->export->count(s->export, PKX_COUNT_DROPPED,
		                 drops - s->counted_drops);
		s->counted_drops = drops;
	}
}

static pkx_result sl_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	sl_svc = svc;
	return PKX_OK;
}

static uint64_t sl_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static const char *sl_program(void)
{
	const char *env = getenv("PKTEXPORT_CAPTURE");

	return env && *env ? env : PKX_CAPTURE_PROGRAM;
}

/* The members of VIFG `id`: those the capture configuration gives
 * (<root>/.pktexport/capture.json, written by pktexportd), else, as long
 * as no VIFG was set, the interface of that index (one VIFG each). */
static pkx_result sl_vifg_members(const pkx_source_args *args, const char *id,
                                  char names[][PKX_IFNAME_MAX], size_t *n,
                                  pkx_error *err)
{
	char path[4096], *end = NULL;
	long want = strtol(id, &end, 10);
	json_t *doc, *vifgs, *v, *m;
	size_t i, k;

	*n = 0;
	if (!*id || !end || *end || want <= 0)
		return sl_svc->fail(
		    err, "REQUEST_INVALID_INPUT",
		    "\"%s\" is not vifgs/<id> (a VIFG's number)", args->path);
	snprintf(path, sizeof(path), "%s/.pktexport/capture.json", args->root);
	doc = json_load_file(path, 0, NULL);
	vifgs = json_object_get(doc, "vifgs");
	if (!json_is_array(vifgs)) {
		char name[IF_NAMESIZE];

		json_decref(doc);
		if (!if_indextoname((unsigned)want, name))
			goto none;
		snprintf(names[0], PKX_IFNAME_MAX, "%s", name);
		*n = 1;
		return PKX_OK;
	}
	json_array_foreach(vifgs, i, v)
	{
		if (json_integer_value(json_object_get(v, "id")) != want)
			continue;
		json_array_foreach(
		    json_object_get(json_object_get(v, "config"), "members"), k,
		    m)
		{
			if (*n < SL_MAX_IFACES && json_string_value(m))
				snprintf(names[(*n)++], PKX_IFNAME_MAX, "%s",
				         json_string_value(m));
		}
	}
	json_decref(doc);
	if (*n)
		return PKX_OK;
none:
	return sl_svc->fail(err, "RESOURCE_NOT_FOUND",
	                    "no VIFG %s (GET /api/npm.packet_capture/3.0/vifgs "
	                    "lists them)",
	                    id);
}

/* Stops the capture program and forgets what it wrote. */
static void sl_stop(sl_source *s)
{
	if (s->out >= 0)
		close(s->out);
	if (s->pid > 0)
		pkx_capture_stop(s->pid, &s->reply, 2000);
	if (s->err >= 0)
		close(s->err);
	free(s->buf);
	if (s->reply >= 0)
		close(s->reply);
	s->out = s->err = s->reply = -1;
	s->pid = 0;
	s->buf = NULL;
	s->len = s->pos = s->cap = 0;
}

static void sl_free(sl_source *s)
{
	sl_stop(s);
	free(s);
}

/* Reads what the pipe holds (waiting at most ms for it).  1 when bytes
 * came, 0 when none did, -1 at its end. */
static int sl_fill(sl_source *s, int ms)
{
	struct pollfd p = {.fd = s->out, .events = POLLIN};
	ssize_t r;

	if (s->pos && s->pos == s->len)
		s->pos = s->len = 0;
	if (s->cap - s->len < SL_MAX_BLOCK && s->pos) {
		memmove(s->buf, s->buf + s->pos, s->len - s->pos);
		s->len -= s->pos;
		s->pos = 0;
	}
	if (poll(&p, 1, ms) <= 0)
		return 0;
	r = read(s->out, s->buf + s->len, s->cap - s->len);
	if (r < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -1;
	if (r == 0)
		return -1;
	s->len += (size_t)r;
	return 1;
}

/* The next whole block of the stream (NULL when it is not all here);
 * *type and *blen set.  The block stays in place until the next call. */
static const uint8_t *sl_block(sl_source *s, uint32_t *type, uint32_t *blen,
                               pkx_error *err, int *bad)
{
	const uint8_t *b = s->buf + s->pos;

	*bad = 0;
	if (s->len - s->pos < 12)
		return NULL;
	memcpy(type, b, 4);
	memcpy(blen, b + 4, 4);
	if (*blen < 12 || *blen % 4 || *blen > SL_MAX_BLOCK) {
		*bad = 1;
		sl_svc->fail(err, "INTERNAL_ERROR",
		             "the capture program wrote a block of %u bytes",
		             *blen);
		return NULL;
	}
	if (s->len - s->pos < *blen)
		return NULL;
	s->pos += *blen;
	return b;
}

/* Why the capture program ended: its exit status and last words. */
static pkx_result sl_ended(sl_source *s, const char *what, pkx_error *err)
{
	char words[512] = "", *nl;
	ssize_t n;
	int st = 0;

	n = read(s->err, words, sizeof(words) - 1);
	words[n > 0 ? n : 0] = '\0';
	while ((nl = strrchr(words, '\n')) && !nl[1])
		*nl = '\0';
	nl = strrchr(words, '\n');
	if (s->reply >= 0) {
		st = pkx_broker_wait(&s->reply, -1);
		s->pid = 0;
	} else if (waitpid(s->pid, &st, 0) == s->pid) {
		s->pid = 0;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 4)
		return sl_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "%s: no such network interface (`ip link` "
		                    "on the host, or GET "
		                    "/api/npm.packet_capture/3.0/interfaces, "
		                    "lists them)",
		                    what);
	return sl_svc->fail(
	    err, "INTERNAL_ERROR", "capture on %s %s: %s%s", what,
	    s->packets ? "failed" : "cannot start",
	    words[0] ? (nl ? nl + 1 : words) : "the capture program ended",
	    WIFEXITED(st) && WEXITSTATUS(st) == 5
	        ? " (the capture program needs CAP_NET_RAW: doc/packaging.md)"
	        : "");
}

/* Runs the capture program on the interfaces and reads their
 * descriptions: SHB, then one IDB each. */
static pkx_result sl_start(sl_source *s, char names[][PKX_IFNAME_MAX], size_t n,
                           const char *filter, pkx_error *err)
{
	const char *promisc = getenv("PKTEXPORT_LIVE_PROMISC");
	const char *argv[10 + SL_MAX_IFACES];
	int out[2] = {-1, -1}, errp[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	size_t k = 0, i, seen = 0;
	uint64_t deadline;
	int rc;

	argv[k++] = "pktexport-capture";
	argv[k++] = "--stream";
	argv[k++] = "--buffer=" SL_BUFFER;
	if (!promisc || strcmp(promisc, "1") != 0)
		argv[k++] = "--no-promisc";
	if (filter) {
		argv[k++] = "--filter";
		argv[k++] = filter;
	}
	argv[k++] = "--";
	for (i = 0; i < n; i++)
		argv[k++] = names[i];
	argv[k] = NULL;
	if (pipe2(out, O_CLOEXEC) != 0) {
		rc = errno;
		goto fail_errno;
	}
	if (pipe2(errp, O_CLOEXEC) != 0) {
		rc = errno;
		close(out[0]);
		close(out[1]);
		goto fail_errno;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, errp[1], 2);
	if (pkx_broker_fd() >= 0) {
		/* In pktexportd the capture broker runs it (it alone holds
		 * the capture capability). */
		s->pid = pkx_broker_spawn(pkx_broker_fd(), argv + 1, out[1],
		                          errp[1], &s->reply);
		rc = s->pid < 0 ? errno : 0;
	} else {
		rc = posix_spawn(&s->pid, sl_program(), &fa, NULL,
		                 (char **)argv, environ);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(out[1]);
	close(errp[1]);
	s->out = out[0];
	s->err = errp[0];
	if (rc != 0) {
		s->pid = 0;
		goto fail_errno;
	}
	fcntl(s->err, F_SETFL, O_NONBLOCK);
	s->cap = 4 * SL_MAX_BLOCK;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return sl_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	deadline = sl_svc->now_ns() + SL_START_MS * 1000000ull;
	while (seen < n) {
		uint32_t type, blen;
		int bad;
		const uint8_t *b = sl_block(s, &type, &blen, err, &bad);

		if (bad)
			return PKX_ERROR;
		if (!b) {
			int r = sl_fill(s, SL_WAIT_MS);

			if (r < 0)
				return sl_ended(s, names[0], err);
			if (r == 0 && sl_svc->now_ns() > deadline)
				return sl_svc->fail(
				    err, "INTERNAL_ERROR",
				    "capture on %s: the capture "
				    "program did not start in "
				    "%d s",
				    names[0], SL_START_MS / 1000);
			continue;
		}
		if (type == 1 && blen >= 20) {
			uint16_t lt;
			uint32_t snap;

			memcpy(&lt, b + 8, 2);
			memcpy(&snap, b + 12, 4);
			s->iface[seen].linktype = lt;
			s->iface[seen].snaplen = snap;
			s->iface[seen].tsresol = 9;
			snprintf(s->iface[seen].name,
			         sizeof(s->iface[seen].name), "%s",
			         names[seen]);
			sl_svc->log(PKX_LOG_INFO, SL_NAME,
			            "capturing on %s (link type %u, nanosecond "
			            "timestamps)",
			            names[seen], lt);
			seen++;
		}
	}
	s->n = n;
	/* The capture program set its kernel filter before it wrote the
	 * interfaces: what it said about it (a filter the kernel cannot
	 * take) is passed on. */
	{
		char said[1024];
		ssize_t r = read(s->err, said, sizeof(said) - 1);

		if (r > 0) {
			said[r] = '\0';
			said[strcspn(said, "\n")] = '\0';
			sl_svc->log(PKX_LOG_WARN, SL_NAME, "%s", said);
		} else if (filter) {
			sl_svc->log(PKX_LOG_DEBUG, SL_NAME,
			            "kernel filter \"%s\"", filter);
		}
	}
	return PKX_OK;
fail_errno:
	return sl_svc->fail(err, "INTERNAL_ERROR",
	                    "cannot run the capture program %s: %s",
	                    sl_program(), strerror(rc));
}

static pkx_result sl_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	char names[SL_MAX_IFACES][PKX_IFNAME_MAX];
	size_t n = 1;
	sl_source *s;

	if (strncmp(args->path, SL_VIFGS, strlen(SL_VIFGS)) == 0) {
		if (sl_vifg_members(args, args->path + strlen(SL_VIFGS), names,
		                    &n, err) != PKX_OK)
			return PKX_ERROR;
	} else {
		const char *name = args->path + strlen(SL_PREFIX);

		if (strncmp(args->path, SL_PREFIX, strlen(SL_PREFIX)) != 0 ||
		    !*name || strlen(name) >= PKX_IFNAME_MAX ||
		    strchr(name, '/') || name[0] == '-')
			return sl_svc->fail(err, "REQUEST_INVALID_INPUT",
			                    "\"%s\" is not interfaces/<name>",
			                    args->path);
		snprintf(names[0], PKX_IFNAME_MAX, "%s", name);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return sl_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	s->out = s->err = s->reply = -1;
	if (PKX_ARGS_HAVE(args, pkx_source_args, export))
		s->export = args->export;
	s->counted_at = sl_svc->now_ns();
	memcpy(s->names, names, sizeof(s->names));
	if (sl_start(s, s->names, n,
	             args->size > offsetof(pkx_source_args, prefilter)
	                 ? args->prefilter
	                 : NULL,
	             err) != PKX_OK) {
		sl_free(s);
		return PKX_ERROR;
	}
	s->info.n_interfaces = s->n;
	s->info.interfaces = s->iface;
	/* Rings of several queues (and several rings) may hand packets
	 * slightly out of order: the end is kept by the clock, not by the
	 * first late packet. */
	s->info.time_ordered = 0;
	s->info.live = 1;
	s->end_ns =
	    args->n_windows ? args->windows[args->n_windows - 1].end : 0;
	*instance = s;
	return PKX_OK;
}

static const pkx_source_info *sl_info(void *instance)
{
	return &((sl_source *)instance)->info;
}

static pkx_result sl_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	sl_source *s = instance;
	int waited = 0;

	/* No window at all (an empty selection) or the last one is over. */
	if (s->end_ns != UINT64_MAX &&
	    (s->end_ns == 0 || sl_wall_ns() >= s->end_ns + SL_GRACE_NS))
		return PKX_END;
	if (sl_svc->now_ns() - s->counted_at >= SL_WAIT_MS * 1000000ull)
		sl_report(s);
	for (;;) {
		uint32_t type, blen, h[5];
		int bad;
		const uint8_t *b = sl_block(s, &type, &blen, err, &bad);

		if (bad)
			return PKX_ERROR;
		if (!b) {
			int r;

			if (waited)
				return PKX_AGAIN;
			r = sl_fill(s, SL_WAIT_MS);
			if (r < 0)
				return sl_ended(s, s->iface[0].name, err);
			waited = r == 0;
			continue;
		}
		if (type == 6 && blen >= 32) {
			memcpy(h, b + 8, sizeof(h));
			if (h[0] >= s->n || h[3] > blen - 32)
				return sl_svc->fail(
				    err, "INTERNAL_ERROR",
				    "the capture program wrote a "
				    "bad packet block");
			pkt->ts_ns = (uint64_t)h[1] << 32 | h[2];
			pkt->caplen = h[3];
			pkt->wirelen = h[4];
			pkt->ifindex = h[0];
			pkt->reserved = 0;
			pkt->data = b + 28;
			s->packets++;
			s->bytes += h[3];
			return PKX_OK;
		}
		if (type == 5 && blen == 52) {
			uint32_t i;
			uint64_t ifdrop, osdrop;

			memcpy(&i, b + 8, 4);
			memcpy(&ifdrop, b + 24, 8);
			memcpy(&osdrop, b + 36, 8);
			if (i < s->n)
				s->drops[i] = ifdrop + osdrop;
		}
	}
}

static void sl_close(void *instance)
{
	sl_source *s = instance;
	size_t i;

	if (!s)
		return;
	sl_report(s);
	for (i = 0; s->packets && i < s->n; i++) {
		char line[256];

		snprintf(line, sizeof(line),
		         "%s: %llu packets read in all, %llu dropped by the "
		         "kernel or the interface",
		         s->iface[i].name, (unsigned long long)s->packets,
		         (unsigned long long)s->drops[i]);
		/* With the export's id when the core gives it (ABI 1.5). */
		if (s->export)
			s->export->log(s->export, PKX_LOG_INFO, SL_NAME, "%s",
			               line);
		else
			sl_svc->log(PKX_LOG_INFO, SL_NAME, "%s", line);
	}
	sl_free(s);
}

static const char *const sl_claims[] = {SL_PREFIX, SL_VIFGS, NULL};

/* ABI 1.3: the filters' wider BPF (a SteelFilter's, say), once they are
 * compiled, before the export reads its first packet: the capture program
 * starts again with it as its kernel filter.  Past the first packet the
 * filter stays as it was (it only spares copies: the core applies every
 * filter). */
static pkx_result sl_set_prefilter(void *instance, const char *bpf,
                                   pkx_error *err)
{
	sl_source *s = instance;
	size_t n = s->n;

	if (s->packets) {
		sl_svc->log(PKX_LOG_DEBUG, SL_NAME,
		            "kernel filter kept as started (not \"%s\")", bpf);
		return PKX_OK;
	}
	sl_stop(s);
	return sl_start(s, s->names, n, bpf, err);
}

static const pkx_source_plugin sl_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, SL_NAME,
                      PACKAGE_VERSION,
                      "live capture on network interfaces and VIFGs "
                      "(through pktexport-capture)",
                      sl_claims, sl_init, NULL),
    .open = sl_open,
    .info = sl_info,
    .next = sl_next,
    .close = sl_close,
    .set_prefilter = sl_set_prefilter,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &sl_plugin.header;
}
