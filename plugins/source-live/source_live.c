/* source-live: `interfaces/<name>`, the packets a network interface sees
 * from now on (libpcap), and `vifgs/<id>`, those of every member of a VIFG
 * (one capture each, read in turn), for LIVE_STREAM exports.  next() waits at
 * most SL_WAIT_MS for a packet and otherwise answers PKX_AGAIN, so the core
 * keeps an eye on its clock, cancel flag and held packets; the end of the
 * export's last window is watched on the wall clock, so an end_time ends
 * the export even on a quiet interface. */
#include <errno.h>
#include <jansson.h>
#include <net/if.h>
#include <stddef.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcap_linktype.h"
#include "pktexport/plugin.h"

#define SL_NAME       "source-live"
#define SL_PREFIX     "interfaces/"
#define SL_VIFGS      "vifgs/"
#define SL_MAX_IFACES 16 /* members of a VIFG, as a capture job records */
#define SL_WAIT_MS    100
#define SL_SNAPLEN    262144
#define SL_BUFFER     (32 << 20) /* kernel ring: bursts wait here */
/* Packets stamped before the end may still be in the ring this long
 * after it. */
#define SL_GRACE_NS (2ull * SL_WAIT_MS * 1000000u)

static const pkx_services *sl_svc;

typedef struct sl_source {
	/* One capture per interface: one for interfaces/<name>, one per
	 * member for vifgs/<id>. */
	pcap_t *pcap[SL_MAX_IFACES];
	int fd[SL_MAX_IFACES]; /* to wait on: the captures are non-blocking */
	int nanos[SL_MAX_IFACES]; /* the ring stamps nanoseconds */
	size_t n, turn;           /* captures, and the next one to read */
	uint64_t end_ns;
	uint64_t packets;
	pkx_interface iface[SL_MAX_IFACES];
	pkx_source_info info;
	/* ABI 1.5: the export, and what was last reported to it. */
	const pkx_export_handle *export;
	uint64_t counted_packets, counted_bytes, bytes, counted_drops;
	uint64_t counted_at; /* monotonic ns */
} sl_source;

/* Reports to the export what it has not been told yet: packets and bytes
 * read, and the drops libpcap counts (kernel and interface). */
/* What libpcap counts as dropped (kernel and interface), all captures. */
static uint64_t sl_drops(sl_source *s)
{
	struct pcap_stat st;
	uint64_t drops = 0;
	size_t i;

	for (i = 0; i < s->n; i++)
		if (pcap_stats(s->pcap[i], &st) == 0)
			drops += (uint64_t)st.ps_drop + st.ps_ifdrop;
	return drops;
}

static void sl_report(sl_source *s)
{
	uint64_t drops;

	s->counted_at = sl_svc->now_ns();
	if (!s->export)
		return;
	s->export->count(s->export, PKX_COUNT_SEEN,
	                 s->packets - s->counted_packets);
	s->export->count(s->export, PKX_COUNT_BYTES,
	                 s->bytes - s->counted_bytes);
	s->counted_packets = s->packets;
	s->counted_bytes = s->bytes;
	drops = sl_drops(s);
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

/* Whether libpcap knows an interface of that name.  The names of the
 * others stay out of the answer: an error is no inventory of the host
 * (the capture service lists interfaces to those who may see them). */
static int sl_known(const char *name)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	pcap_if_t *all = NULL, *d;
	int found = 0;

	if (pcap_findalldevs(&all, errbuf) != 0)
		return 1; /* cannot tell: let pcap_activate say */
	for (d = all; d; d = d->next)
		if (strcmp(d->name, name) == 0)
			found = 1;
	pcap_freealldevs(all);
	return found;
}

static pkx_result sl_activate_error(pcap_t *p, const char *name, int rc,
                                    pkx_error *err)
{
	const char *why =
	    rc == PCAP_ERROR ? pcap_geterr(p) : pcap_statustostr(rc);

	if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
		return sl_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "no network interface \"%s\": %s", name,
		                    why);
	if (rc == PCAP_ERROR_PERM_DENIED)
		return sl_svc->fail(err, "INTERNAL_ERROR",
		                    "cannot capture on \"%s\": %s (the "
		                    "service needs CAP_NET_RAW)",
		                    name, why);
	return sl_svc->fail(err, "INTERNAL_ERROR",
	                    "cannot capture on \"%s\": %s", name, why);
}

/* The export's BPF filters, run by the kernel: only packets they take are
 * copied to us.  The core applies them again, so a filter the kernel
 * cannot take costs speed, not answers. */
static void sl_kernel_filter(pcap_t *p, const char *name, const char *bpf)
{
	struct bpf_program prog;

	if (pcap_compile(p, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		sl_svc->log(PKX_LOG_WARN, SL_NAME,
		            "%s: capturing everything: the filter does not "
		            "compile for the kernel: %s",
		            name, pcap_geterr(p));
		return;
	}
	if (pcap_setfilter(p, &prog) != 0)
		sl_svc->log(PKX_LOG_WARN, SL_NAME,
		            "%s: capturing everything: the kernel refused the "
		            "filter: %s",
		            name, pcap_geterr(p));
	else
		sl_svc->log(PKX_LOG_DEBUG, SL_NAME, "%s: kernel filter \"%s\"",
		            name, bpf);
	pcap_freecode(&prog);
}

static void sl_free(sl_source *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		pcap_close(s->pcap[i]);
	free(s);
}

/* Opens capture s->n on interface `name`. */
static pkx_result sl_open_one(sl_source *s, const char *name,
                              const pkx_source_args *args, pkx_error *err)
{
	const char *promisc = getenv("PKTEXPORT_LIVE_PROMISC");
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	size_t i = s->n;
	pcap_t *p;
	int rc;

	if (!sl_known(name))
		return sl_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "no network interface \"%s\" (`ip link` on "
		                    "the host, or GET "
		                    "/api/npm.packet_capture/3.0/interfaces, "
		                    "lists them)",
		                    name);
	p = pcap_create(name, errbuf);
	if (!p)
		return sl_svc->fail(err, "INTERNAL_ERROR",
		                    "cannot capture on \"%s\": %s", name,
		                    errbuf);
	pcap_set_snaplen(p, SL_SNAPLEN);
	pcap_set_promisc(p, promisc && strcmp(promisc, "1") == 0);
	pcap_set_timeout(p, SL_WAIT_MS);
	/* Not immediate mode: that gives each packet a slot of the snap
	 * length (128 slots in 32 MiB) and a wake-up; blocks of packets
	 * handed over when full or after SL_WAIT_MS keep up with a flood
	 * for a tenth of a second of latency. */
	pcap_set_buffer_size(p, SL_BUFFER);
	pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(p);
	if (rc < 0) {
		sl_activate_error(p, name, rc, err);
		pcap_close(p);
		return PKX_ERROR;
	}
	if (rc > 0)
		sl_svc->log(PKX_LOG_WARN, SL_NAME, "%s: %s", name,
		            pcap_statustostr(rc));
	s->pcap[i] = p;
	s->n++;
	/* Non-blocking, and we wait on the descriptor ourselves: next()
	 * must come back within SL_WAIT_MS whatever libpcap does. */
	s->fd[i] = pcap_get_selectable_fd(p);
	if (s->fd[i] < 0 || pcap_setnonblock(p, 1, errbuf) != 0)
		return sl_svc->fail(
		    err, "INTERNAL_ERROR",
		    "cannot capture on \"%s\" without blocking: "
		    "%s",
		    name, errbuf[0] ? errbuf : "no descriptor");
	s->nanos[i] =
	    pcap_get_tstamp_precision(p) == PCAP_TSTAMP_PRECISION_NANO;
	if (args->size > offsetof(pkx_source_args, prefilter) &&
	    args->prefilter)
		sl_kernel_filter(p, name, args->prefilter);
	s->iface[i].linktype = pkx_pcap_linktype(pcap_datalink(p));
	s->iface[i].snaplen = (uint32_t)pcap_snapshot(p);
	snprintf(s->iface[i].name, sizeof(s->iface[i].name), "%s", name);
	sl_svc->log(PKX_LOG_INFO, SL_NAME,
	            "capturing on %s (link type %u, %s timestamps)", name,
	            s->iface[i].linktype,
	            s->nanos[i] ? "nanosecond" : "microsecond");
	return PKX_OK;
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

static pkx_result sl_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	char names[SL_MAX_IFACES][PKX_IFNAME_MAX];
	size_t n = 1, i;
	sl_source *s;

	if (strncmp(args->path, SL_VIFGS, strlen(SL_VIFGS)) == 0) {
		if (sl_vifg_members(args, args->path + strlen(SL_VIFGS), names,
		                    &n, err) != PKX_OK)
			return PKX_ERROR;
	} else {
		const char *name = args->path + strlen(SL_PREFIX);

		if (strncmp(args->path, SL_PREFIX, strlen(SL_PREFIX)) != 0 ||
		    !*name || strlen(name) >= PKX_IFNAME_MAX ||
		    strchr(name, '/'))
			return sl_svc->fail(err, "REQUEST_INVALID_INPUT",
			                    "\"%s\" is not interfaces/<name>",
			                    args->path);
		snprintf(names[0], PKX_IFNAME_MAX, "%s", name);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return sl_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	if (PKX_ARGS_HAVE(args, pkx_source_args, export))
		s->export = args->export;
	s->counted_at = sl_svc->now_ns();
	for (i = 0; i < n; i++)
		if (sl_open_one(s, names[i], args, err) != PKX_OK) {
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

/* A packet from capture i, or 0 when it has none now (-1 failed). */
static int sl_take(sl_source *s, size_t i, pkx_packet *pkt)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int r = pcap_next_ex(s->pcap[i], &h, &data);

	if (r != 1)
		return r == 0 ? 0 : r;
	pkt->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
	             (uint64_t)h->ts.tv_usec * (s->nanos[i] ? 1u : 1000u);
	pkt->caplen = h->caplen;
	pkt->wirelen = h->len;
	pkt->ifindex = (uint32_t)i;
	pkt->reserved = 0;
	pkt->data = data;
	s->packets++;
	s->bytes += h->caplen;
	return 1;
}

static pkx_result sl_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	sl_source *s = instance;
	struct pollfd pfd[SL_MAX_IFACES];
	size_t k;
	int pass;

	/* No window at all (an empty selection) or the last one is over. */
	if (s->end_ns != UINT64_MAX &&
	    (s->end_ns == 0 || sl_wall_ns() >= s->end_ns + SL_GRACE_NS))
		return PKX_END;
	if (sl_svc->now_ns() - s->counted_at >= SL_WAIT_MS * 1000000ull)
		sl_report(s);
	/* The captures in turn, so a busy one does not starve the others;
	 * when none has a packet, a wait on all of them, then once more. */
	for (pass = 0; pass < 2; pass++) {
		for (k = 0; k < s->n; k++) {
			size_t i = (s->turn + k) % s->n;
			int r = sl_take(s, i, pkt);

			if (r == 1) {
				s->turn = (i + 1) % s->n;
				return PKX_OK;
			}
			if (r == PCAP_ERROR_BREAK)
				return PKX_END;
			if (r < 0)
				return sl_svc->fail(
				    err, "INTERNAL_ERROR",
				    "capture on \"%s\" failed after %llu "
				    "packets: %s",
				    s->iface[i].name,
				    (unsigned long long)s->packets,
				    pcap_geterr(s->pcap[i]));
		}
		if (pass)
			break;
		for (k = 0; k < s->n; k++)
			pfd[k] =
			    (struct pollfd){.fd = s->fd[k], .events = POLLIN};
		if (poll(pfd, s->n, SL_WAIT_MS) <= 0)
			return PKX_AGAIN;
	}
	return PKX_AGAIN;
}

static void sl_close(void *instance)
{
	sl_source *s = instance;
	size_t i;

	if (!s)
		return;
	sl_report(s);
	for (i = 0; s->packets && i < s->n; i++) {
		struct pcap_stat st;
		char line[256];

		if (pcap_stats(s->pcap[i], &st) != 0)
			continue;
		snprintf(line, sizeof(line),
		         "%s: %llu packets read in all, %u dropped by the "
		         "kernel, %u by the interface",
		         s->iface[i].name, (unsigned long long)s->packets,
		         st.ps_drop, st.ps_ifdrop);
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

/* ABI 1.3: the filters' wider BPF, once they are compiled. */
static pkx_result sl_set_prefilter(void *instance, const char *bpf,
                                   pkx_error *err)
{
	sl_source *s = instance;
	size_t i;

	(void)err;
	for (i = 0; i < s->n; i++)
		sl_kernel_filter(s->pcap[i], s->iface[i].name, bpf);
	return PKX_OK;
}

static const pkx_source_plugin sl_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, SL_NAME,
                      PACKAGE_VERSION,
                      "live capture on network interfaces and VIFGs "
                      "(libpcap)",
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
