/* source-live: `interfaces/<name>`, the packets a network interface sees
 * from now on (libpcap), for LIVE_STREAM exports.  next() waits at most
 * SL_WAIT_MS for a packet and otherwise answers PKX_AGAIN, so the core
 * keeps an eye on its clock, cancel flag and held packets; the end of the
 * export's last window is watched on the wall clock, so an end_time ends
 * the export even on a quiet interface. */
#include <errno.h>
#include <stddef.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pcap_linktype.h"
#include "pktexport/plugin.h"

#define SL_NAME    "source-live"
#define SL_PREFIX  "interfaces/"
#define SL_WAIT_MS 100
#define SL_SNAPLEN 262144
#define SL_BUFFER  (32 << 20) /* kernel ring: bursts wait here */
/* Packets stamped before the end may still be in the ring this long
 * after it. */
#define SL_GRACE_NS (2ull * SL_WAIT_MS * 1000000u)

static const pkx_services *sl_svc;

typedef struct sl_source {
	pcap_t *pcap;
	int fd;    /* to wait on: the capture is non-blocking */
	int nanos; /* the ring stamps nanoseconds */
	uint64_t end_ns;
	uint64_t packets;
	pkx_interface iface;
	pkx_source_info info;
	/* ABI 1.5: the export, and what was last reported to it. */
	const pkx_export_handle *export;
	uint64_t counted_packets, counted_bytes, bytes, counted_drops;
	uint64_t counted_at; /* monotonic ns */
} sl_source;

/* Reports to the export what it has not been told yet: packets and bytes
 * read, and the drops libpcap counts (kernel and interface). */
static void sl_report(sl_source *s)
{
	struct pcap_stat st;

	s->counted_at = sl_svc->now_ns();
	if (!s->export)
		return;
	s->export->count(s->export, PKX_COUNT_SEEN,
	                 s->packets - s->counted_packets);
	s->export->count(s->export, PKX_COUNT_BYTES,
	                 s->bytes - s->counted_bytes);
	s->counted_packets = s->packets;
	s->counted_bytes = s->bytes;
	if (pcap_stats(s->pcap, &st) == 0) {
		uint64_t drops = (uint64_t)st.ps_drop + st.ps_ifdrop;

		if (drops > s->counted_drops) {
			s->export->count(s->export, PKX_COUNT_DROPPED,
			                 drops - s->counted_drops);
			s->counted_drops = drops;
		}
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

static pkx_result sl_activate_error(sl_source *s, const char *name, int rc,
                                    pkx_error *err)
{
	const char *why =
	    rc == PCAP_ERROR ? pcap_geterr(s->pcap) : pcap_statustostr(rc);

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
static void sl_kernel_filter(sl_source *s, const char *name, const char *bpf)
{
	struct bpf_program prog;

	if (pcap_compile(s->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) != 0) {
		sl_svc->log(PKX_LOG_WARN, SL_NAME,
		            "%s: capturing everything: the filter does not "
		            "compile for the kernel: %s",
		            name, pcap_geterr(s->pcap));
		return;
	}
	if (pcap_setfilter(s->pcap, &prog) != 0)
		sl_svc->log(PKX_LOG_WARN, SL_NAME,
		            "%s: capturing everything: the kernel refused the "
		            "filter: %s",
		            name, pcap_geterr(s->pcap));
	else
		sl_svc->log(PKX_LOG_DEBUG, SL_NAME, "%s: kernel filter \"%s\"",
		            name, bpf);
	pcap_freecode(&prog);
}

static pkx_result sl_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	const char *name = args->path + strlen(SL_PREFIX);
	const char *promisc = getenv("PKTEXPORT_LIVE_PROMISC");
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	sl_source *s;
	int rc;

	if (strncmp(args->path, SL_PREFIX, strlen(SL_PREFIX)) != 0 || !*name ||
	    strlen(name) >= PKX_IFNAME_MAX || strchr(name, '/'))
		return sl_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "\"%s\" is not interfaces/<name>",
		                    args->path);
	if (!sl_known(name))
		return sl_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "no network interface \"%s\" (`ip link` on "
		                    "the host, or GET "
		                    "/api/npm.packet_capture/3.0/interfaces, "
		                    "lists them)",
		                    name);
	s = calloc(1, sizeof(*s));
	if (!s)
		return sl_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	if (PKX_ARGS_HAVE(args, pkx_source_args, export))
		s->export = args->export;
	s->counted_at = sl_svc->now_ns();
	s->pcap = pcap_create(name, errbuf);
	if (!s->pcap) {
		free(s);
		return sl_svc->fail(err, "INTERNAL_ERROR",
		                    "cannot capture on \"%s\": %s", name,
		                    errbuf);
	}
	pcap_set_snaplen(s->pcap, SL_SNAPLEN);
	pcap_set_promisc(s->pcap, promisc && strcmp(promisc, "1") == 0);
	pcap_set_timeout(s->pcap, SL_WAIT_MS);
	/* Not immediate mode: that gives each packet a slot of the snap
	 * length (128 slots in 32 MiB) and a wake-up; blocks of packets
	 * handed over when full or after SL_WAIT_MS keep up with a flood
	 * for a tenth of a second of latency. */
	pcap_set_buffer_size(s->pcap, SL_BUFFER);
	pcap_set_tstamp_precision(s->pcap, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(s->pcap);
	if (rc < 0) {
		sl_activate_error(s, name, rc, err);
		pcap_close(s->pcap);
		free(s);
		return PKX_ERROR;
	}
	if (rc > 0)
		sl_svc->log(PKX_LOG_WARN, SL_NAME, "%s: %s", name,
		            pcap_statustostr(rc));
	/* Non-blocking, and we wait on the descriptor ourselves: next()
	 * must come back within SL_WAIT_MS whatever libpcap does. */
	s->fd = pcap_get_selectable_fd(s->pcap);
	if (s->fd < 0 || pcap_setnonblock(s->pcap, 1, errbuf) != 0) {
		sl_svc->fail(err, "INTERNAL_ERROR",
		             "cannot capture on \"%s\" without blocking: %s",
		             name, errbuf[0] ? errbuf : "no descriptor");
		pcap_close(s->pcap);
		free(s);
		return PKX_ERROR;
	}
	s->nanos =
	    pcap_get_tstamp_precision(s->pcap) == PCAP_TSTAMP_PRECISION_NANO;
	if (args->size > offsetof(pkx_source_args, prefilter) &&
	    args->prefilter)
		sl_kernel_filter(s, name, args->prefilter);
	s->iface.linktype = pkx_pcap_linktype(pcap_datalink(s->pcap));
	s->iface.snaplen = (uint32_t)pcap_snapshot(s->pcap);
	snprintf(s->iface.name, sizeof(s->iface.name), "%s", name);
	s->info.n_interfaces = 1;
	s->info.interfaces = &s->iface;
	/* Rings of several queues may hand packets slightly out of order:
	 * the end is kept by the clock, not by the first late packet. */
	s->info.time_ordered = 0;
	s->info.live = 1;
	s->end_ns =
	    args->n_windows ? args->windows[args->n_windows - 1].end : 0;
	sl_svc->log(PKX_LOG_INFO, SL_NAME,
	            "capturing on %s (link type %u, %s timestamps)", name,
	            s->iface.linktype, s->nanos ? "nanosecond" : "microsecond");
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
	struct pcap_pkthdr *h;
	const u_char *data;
	int r;

	/* No window at all (an empty selection) or the last one is over. */
	if (s->end_ns != UINT64_MAX &&
	    (s->end_ns == 0 || sl_wall_ns() >= s->end_ns + SL_GRACE_NS))
		return PKX_END;
	if (sl_svc->now_ns() - s->counted_at >= SL_WAIT_MS * 1000000ull)
		sl_report(s);
	r = pcap_next_ex(s->pcap, &h, &data);
	if (r == 0) {
		struct pollfd pfd = {.fd = s->fd, .events = POLLIN};

		if (poll(&pfd, 1, SL_WAIT_MS) <= 0)
			return PKX_AGAIN;
		r = pcap_next_ex(s->pcap, &h, &data);
		if (r == 0)
			return PKX_AGAIN;
	}
	if (r == PCAP_ERROR_BREAK)
		return PKX_END;
	if (r != 1)
		return sl_svc->fail(err, "INTERNAL_ERROR",
		                    "capture on \"%s\" failed after %llu "
		                    "packets: %s",
		                    s->iface.name,
		                    (unsigned long long)s->packets,
		                    pcap_geterr(s->pcap));
	pkt->ts_ns = (uint64_t)h->ts.tv_sec * 1000000000u +
	             (uint64_t)h->ts.tv_usec * (s->nanos ? 1u : 1000u);
	pkt->caplen = h->caplen;
	pkt->wirelen = h->len;
	pkt->ifindex = 0;
	pkt->reserved = 0;
	pkt->data = data;
	s->packets++;
	s->bytes += h->caplen;
	return PKX_OK;
}

static void sl_close(void *instance)
{
	sl_source *s = instance;
	struct pcap_stat st;

	if (!s)
		return;
	sl_report(s);
	if (s->packets && pcap_stats(s->pcap, &st) == 0) {
		char line[256];

		snprintf(line, sizeof(line),
		         "%s: %llu packets read, %u dropped by the kernel, %u "
		         "by the interface",
		         s->iface.name, (unsigned long long)s->packets,
		         st.ps_drop, st.ps_ifdrop);
		/* With the export's id when the core gives it (ABI 1.5). */
		if (s->export)
			s->export->log(s->export, PKX_LOG_INFO, SL_NAME, "%s",
			               line);
		else
			sl_svc->log(PKX_LOG_INFO, SL_NAME, "%s", line);
	}
	pcap_close(s->pcap);
	free(s);
}

static const char *const sl_claims[] = {SL_PREFIX, NULL};

/* ABI 1.3: the filters' wider BPF, once they are compiled. */
static pkx_result sl_set_prefilter(void *instance, const char *bpf,
                                   pkx_error *err)
{
	sl_source *s = instance;

	(void)err;
	sl_kernel_filter(s, s->iface.name, bpf);
	return PKX_OK;
}

static const pkx_source_plugin sl_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, SL_NAME,
                      PACKAGE_VERSION,
                      "live capture on a network interface (libpcap)",
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
