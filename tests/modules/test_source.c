/* Test-only source plugin claiming "test/": synthetic packets with no file,
 * for what a capture on disk cannot show cheaply (an endless input for
 * time limits and cancel, interfaces that appear mid-stream, failures).
 *   test/endless        packets forever
 *   test/count/N        N packets, then the end
 *   test/fail-after/N   N packets, then a damaged input
 *   test/mixed          two interfaces of different link types at open
 *   test/grow-same      2 packets, then a second Ethernet interface
 *   test/grow-mixed     2 packets, then a second raw-IP interface
 *   test/fail-open      refused at open
 *   test/idle           a live source nothing reaches: always PKX_AGAIN
 *   test/trickle/N      a quiet live source: PKX_AGAIN before each of
 *                       its N packets, then nothing more (PKX_AGAIN)
 *   test/late/N         a capture ring that hands over late: PKX_AGAIN
 *                       once, then N packets, then nothing more
 *   test/slow/N         a live source with steady traffic: N packets 20 ms
 *                       apart, never PKX_AGAIN, then the end
 *   test/drops/N        N packets; through its export handle (ABI 1.5) it
 *                       counts each as seen, one drop per ten, and logs
 *                       its totals at close
 * Packet i is a 64-byte frame stamped 1700000000 s + i microseconds. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pktexport/plugin.h"

#define TS_LINKTYPE_ETHERNET 1
#define TS_LINKTYPE_RAW      101
#define TS_FRAME             64
#define TS_BASE_NS           1700000000000000000ull

static const pkx_services *ts_svc;

enum ts_shape {
	TS_ENDLESS,
	TS_COUNT,
	TS_FAIL_AFTER,
	TS_MIXED,
	TS_GROW,
	TS_IDLE,
	TS_TRICKLE,
	TS_LATE,
	TS_SLOW,
	TS_DROPS,
};

typedef struct ts_source {
	enum ts_shape shape;
	uint64_t limit; /* packets before the end or the failure */
	uint64_t sent;
	int waited; /* trickle: PKX_AGAIN given for the next packet */
	uint32_t grow_linktype;
	pkx_interface ifs[2];
	pkx_source_info info;
	uint8_t frame[TS_FRAME];
	const pkx_export_handle *export; /* NULL from a core before 1.5 */
} ts_source;

static pkx_result ts_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	ts_svc = svc;
	return PKX_OK;
}

static void ts_interface(pkx_interface *i, uint32_t linktype)
{
	memset(i, 0, sizeof(*i));
	i->linktype = linktype;
	i->snaplen = 65535;
}

/* Ethernet, IPv4, UDP 1024 -> 53; the IP header starts at byte 14. */
static void ts_fill_frame(uint8_t *f)
{
	static const uint8_t head[] = {
	    2,    0, 0,  0,  0, 1, 2, 0, 0,  0,  0, 2,  0x08, 0x00,
	    0x45, 0, 0,  50, 0, 1, 0, 0, 64, 17, 0, 0,  10,   0,
	    0,    1, 10, 0,  1, 1, 4, 0, 0,  53, 0, 30, 0,    0};

	memset(f, 'p', TS_FRAME);
	memcpy(f, head, sizeof(head));
}

static int ts_parse_count(const char *text, uint64_t *n)
{
	char *end;

	*n = strtoull(text, &end, 10);
	return *text && !*end;
}

static pkx_result ts_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	const char *what = args->path + strlen("test/");
	ts_source *s = calloc(1, sizeof(*s));

	if (!s)
		return ts_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	ts_interface(&s->ifs[0], TS_LINKTYPE_ETHERNET);
	s->info.n_interfaces = 1;
	s->info.interfaces = s->ifs;
	s->info.time_ordered = 1;
	ts_fill_frame(s->frame);
	if (PKX_ARGS_HAVE(args, pkx_source_args, export))
		s->export = args->export;
	if (strcmp(what, "endless") == 0) {
		s->shape = TS_ENDLESS;
	} else if (strncmp(what, "count/", 6) == 0 &&
	           ts_parse_count(what + 6, &s->limit)) {
		s->shape = TS_COUNT;
	} else if (strncmp(what, "fail-after/", 11) == 0 &&
	           ts_parse_count(what + 11, &s->limit)) {
		s->shape = TS_FAIL_AFTER;
	} else if (strcmp(what, "idle") == 0) {
		s->shape = TS_IDLE;
	} else if (strncmp(what, "trickle/", 8) == 0 &&
	           ts_parse_count(what + 8, &s->limit)) {
		s->shape = TS_TRICKLE;
	} else if (strncmp(what, "late/", 5) == 0 &&
	           ts_parse_count(what + 5, &s->limit)) {
		s->shape = TS_LATE;
	} else if (strncmp(what, "slow/", 5) == 0 &&
	           ts_parse_count(what + 5, &s->limit)) {
		s->shape = TS_SLOW;
		s->info.live = 1;
	} else if (strncmp(what, "drops/", 6) == 0 &&
	           ts_parse_count(what + 6, &s->limit)) {
		s->shape = TS_DROPS;
	} else if (strcmp(what, "mixed") == 0) {
		s->shape = TS_MIXED;
		s->limit = 4;
		ts_interface(&s->ifs[1], TS_LINKTYPE_RAW);
		s->info.n_interfaces = 2;
	} else if (strcmp(what, "grow-same") == 0 ||
	           strcmp(what, "grow-mixed") == 0) {
		s->shape = TS_GROW;
		s->limit = 4;
		s->grow_linktype =
		    what[5] == 's' ? TS_LINKTYPE_ETHERNET : TS_LINKTYPE_RAW;
	} else {
		free(s);
		return ts_svc->fail(err, "RESOURCE_NOT_FOUND",
		                    "test source \"%s\" does not exist",
		                    args->path);
	}
	*instance = s;
	return PKX_OK;
}

static const pkx_source_info *ts_info(void *instance)
{
	return &((ts_source *)instance)->info;
}

static pkx_result ts_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	ts_source *s = instance;

	if (s->shape == TS_IDLE ||
	    ((s->shape == TS_TRICKLE || s->shape == TS_LATE) &&
	     s->sent == s->limit))
		return PKX_AGAIN;
	if ((s->shape == TS_TRICKLE || s->shape == TS_LATE) && !s->waited) {
		s->waited = 1;
		return PKX_AGAIN;
	}
	if (s->shape == TS_TRICKLE)
		s->waited = 0;
	if (s->shape == TS_SLOW && s->sent < s->limit) {
		struct timespec gap = {0, 20000000};

		while (nanosleep(&gap, &gap) != 0)
			;
	}
	if (s->shape != TS_ENDLESS && s->sent == s->limit) {
		if (s->shape == TS_FAIL_AFTER)
			return ts_svc->fail(err, "SOURCE_DAMAGED",
			                    "test source damaged after packet "
			                    "%llu",
			                    (unsigned long long)s->sent);
		return PKX_END;
	}
	memset(pkt, 0, sizeof(*pkt));
	pkt->ts_ns = TS_BASE_NS + s->sent * 1000u;
	pkt->caplen = TS_FRAME;
	pkt->wirelen = TS_FRAME;
	pkt->data = s->frame;
	if (s->shape == TS_MIXED || s->shape == TS_GROW)
		pkt->ifindex = (uint32_t)(s->sent / 2);
	if (s->shape == TS_GROW && s->sent == 2) {
		/* The interface appears before its first packet. */
		ts_interface(&s->ifs[1], s->grow_linktype);
		s->info.n_interfaces = 2;
	}
	if (pkt->ifindex == 1 && s->ifs[1].linktype == TS_LINKTYPE_RAW) {
		pkt->data = s->frame + 14;
		pkt->caplen = pkt->wirelen = TS_FRAME - 14;
	}
	s->sent++;
	if (s->shape == TS_DROPS && s->export) {
		s->export->count(s->export, PKX_COUNT_SEEN, 1);
		s->export->count(s->export, PKX_COUNT_BYTES, pkt->caplen);
		if (s->sent % 10 == 0)
			s->export->count(s->export, PKX_COUNT_DROPPED, 1);
	}
	return PKX_OK;
}

static void ts_close(void *instance)
{
	ts_source *s = instance;

	if (s->shape == TS_DROPS && s->export)
		s->export->log(s->export, PKX_LOG_WARN, "test-source",
		               "%llu packets read, %llu dropped",
		               (unsigned long long)s->sent,
		               (unsigned long long)(s->sent / 10));
	free(s);
}

static const char *const ts_claims[] = {"test/", NULL};

static const pkx_source_plugin ts_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, "test-source", "0",
                      "synthetic packets for tests", ts_claims, ts_init, NULL),
    .open = ts_open,
    .info = ts_info,
    .next = ts_next,
    .close = ts_close,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &ts_plugin.header;
}
