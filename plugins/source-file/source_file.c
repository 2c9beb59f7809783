/* source-file: `fs/<file>` under the data root.  Classic pcap is read with
 * libpcap, so every record is the one tcpdump sees.  pcapng is read with
 * our own reader, which keeps every packet on its interface however many
 * there are and wherever they are described (libpcap reports all packets
 * as interface 0 and refuses mixed link types); libpcap only explains a
 * file our reader refuses, in tcpdump's words. */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcap_linktype.h"
#include "capfile.h"
#include "pktexport/plugin.h"
#include "store_index.h"

#define SF_NAME   "source-file"
#define SF_PREFIX "fs/"
/* stdio buffer behind libpcap's reads: large reads, few syscalls. */
#define SF_READ_BUFFER (1u << 20)
/* Smaller files are read whole: an index would not pay for itself
 * ($PKTEXPORT_INDEX_MIN_BYTES overrides, for tests and tuning). */
#define SF_INDEX_MIN_BYTES (64u << 20)

static const pkx_services *sf_svc;

enum { SF_OTHER = 0, SF_PCAP_US, SF_PCAP_NS };

typedef struct sf_source {
	int pcap_format;        /* SF_PCAP_* for classic pcap */
	uint32_t pcap_linktype; /* the header's field, FCS bits included */
	pcap_t *pcap;
	FILE *file;
	/* pcapng: our reader (the packet store's), the descriptor it reads,
	 * and its interfaces as the ABI describes them. */
	cf_reader *ng;
	int ng_fd;
	pkx_interface *ng_ifs;
	size_t ng_cap;
	char *path;
	pkx_interface iface;
	pkx_source_info info;
	uint64_t packets;
	char *iobuf; /* the stdio buffer behind libpcap's reads */
	/* Damage is reported when packets of the windows could lie in the
	 * damaged part: not when every packet so far came in time order and
	 * the last one is already past the last window (the rule an index
	 * gives, doc/store.md "Damage"). */
	int ordered;
	uint64_t last_ts, end_ns;
} sf_source;

/* The packet just read, for the damage rule. */
static void sf_saw(sf_source *s, uint64_t ts)
{
	if (ts < s->last_ts)
		s->ordered = 0;
	else
		s->last_ts = ts;
}

/* Damage met: an error, unless it cannot hold a wanted packet. */
static pkx_result sf_damage(sf_source *s, const char *why, pkx_error *err)
{
	if (s->ordered && s->packets && s->last_ts >= s->end_ns) {
		sf_svc->log(PKX_LOG_DEBUG, SF_NAME,
		            "%s: damaged after packet %llu (%s), past the last "
		            "window: not read",
		            s->path, (unsigned long long)s->packets, why);
		return PKX_END;
	}
	return sf_svc->fail(err, "SOURCE_DAMAGED",
	                    "\"%s\" is damaged after packet %llu: %s", s->path,
	                    (unsigned long long)s->packets, why);
}

static pkx_result sf_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	sf_svc = svc;
	return PKX_OK;
}

/* Reads the classic pcap file header, if the file is one: its link type
 * field (FCS bits included) and the resolution of its records. */
static void sf_read_pcap_header(sf_source *s, int fd)
{
	uint32_t hdr[6];

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return;
	if (hdr[0] == 0xd4c3b2a1u || hdr[0] == 0x4d3cb2a1u ||
	    hdr[0] == 0x34cdb2a1u) {
		hdr[0] = __builtin_bswap32(hdr[0]);
		hdr[5] = __builtin_bswap32(hdr[5]);
	}
	/* Kuznetzov's "modified" pcap (0xa1b2cd34, longer record headers)
	 * has microseconds too. */
	if (hdr[0] == 0xa1b2c3d4u || hdr[0] == 0xa1b2cd34u)
		s->pcap_format = SF_PCAP_US;
	else if (hdr[0] == 0xa1b23c4du)
		s->pcap_format = SF_PCAP_NS;
	else
		return;
	s->pcap_linktype = hdr[5];
}

/* The reader's interfaces as the ABI describes them; -1 out of memory. */
static int sf_sync_ifaces(sf_source *s)
{
	const cf_iface *ifs = cf_ifaces(s->ng);
	size_t n = cf_n_ifaces(s->ng), i;

	if (n > s->ng_cap) {
		pkx_interface *grown = realloc(s->ng_ifs, n * sizeof(*grown));

		if (!grown)
			return -1;
		s->ng_ifs = grown;
		s->ng_cap = n;
	}
	for (i = 0; i < n; i++) {
		pkx_interface *f = &s->ng_ifs[i];

		memset(f, 0, sizeof(*f));
		f->linktype = ifs[i].linktype; /* with its FCS bits */
		f->snaplen = ifs[i].snaplen;
		/* pcapng's default resolution is the microsecond. */
		f->tsresol = ifs[i].has_tsresol ? ifs[i].tsresol : 6;
		snprintf(f->name, sizeof(f->name), "%s", ifs[i].name);
	}
	s->info.interfaces = s->ng_ifs;
	s->info.n_interfaces = n;
	return 0;
}

/* Opens fd with libpcap; on failure fd is closed. */
static pkx_result sf_open_libpcap(sf_source *s, int fd, pkx_error *err)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";

	s->file = fdopen(fd, "rb");
	if (!s->file) {
		close(fd);
		return sf_svc->fail(err, "INTERNAL_ERROR", "fdopen: %s",
		                    strerror(errno));
	}
	/* glibc ignores the size unless it is given the buffer itself. */
	s->iobuf = malloc(SF_READ_BUFFER);
	if (s->iobuf)
		setvbuf(s->file, s->iobuf, _IOFBF, SF_READ_BUFFER);
	s->pcap = pcap_fopen_offline_with_tstamp_precision(
	    s->file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
	if (!s->pcap) {
		fclose(s->file);
		free(s->iobuf);
		s->iobuf = NULL;
		return sf_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "\"%s\" is not a capture this service can "
		                    "read: %s",
		                    s->path, errbuf);
	}
	s->iface.linktype = pkx_pcap_linktype(pcap_datalink(s->pcap));
	sf_read_pcap_header(s, fd);
	/* Keep the FCS bits libpcap reads but does not report. */
	if (s->pcap_format &&
	    (s->pcap_linktype & 0x03ffffffu) == s->iface.linktype)
		s->iface.linktype = s->pcap_linktype;
	s->iface.snaplen = (uint32_t)pcap_snapshot(s->pcap);
	s->info.n_interfaces = 1;
	s->info.interfaces = &s->iface;
	return PKX_OK;
}

/* A window that starts late in a large file: jump there with the sidecar
 * index under <root>/.index (built on first use, rebuilt when the file
 * changed).  Only for files the index finds in time order, which also
 * lets the core stop after the last window. */
static void sf_seek_to_window(sf_source *s, const pkx_source_args *args, int fd)
{
	uint64_t offset;

	const char *min = getenv("PKTEXPORT_INDEX_MIN_BYTES");

	if (args->n_windows == 0 || args->windows[0].start == 0 ||
	    s->info.total_bytes <
	        (min && *min ? strtoull(min, NULL, 10) : SF_INDEX_MIN_BYTES))
		return;
	if (sx_sidecar_seek(args->root, args->path, fd, args->windows[0].start,
	                    &offset) != 0)
		return;
	/* The index refuses a pcapng whose interfaces or sections change
	 * after its first packet: all of them are known by now. */
	if (s->ng)
		cf_seek(s->ng, offset);
	else if (fseeko(s->file, (off_t)offset, SEEK_SET) != 0)
		return;
	s->info.time_ordered = 1;
}

static pkx_result sf_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	char base[4096];
	uint8_t magic[4];
	sf_source *s;
	struct stat st;
	int fd;

	if (strncmp(args->path, SF_PREFIX, strlen(SF_PREFIX)) != 0)
		return sf_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "\"%s\" is not an fs/ path", args->path);
	if ((size_t)snprintf(base, sizeof(base), "%s/fs", args->root) >=
	    sizeof(base))
		return sf_svc->fail(err, "INTERNAL_ERROR",
		                    "data root path too long");
	fd = sf_svc->open_under_root(base, args->path + strlen(SF_PREFIX), err);
	if (fd < 0)
		return PKX_ERROR;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->path = strdup(args->path))) {
		free(s);
		close(fd);
		return sf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	}
	s->ng_fd = -1;
	s->ordered = 1;
	s->end_ns = args->n_windows ? args->windows[args->n_windows - 1].end
	                            : UINT64_MAX;
	if (fstat(fd, &st) == 0)
		s->info.total_bytes = (uint64_t)st.st_size;
	if (pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
	    memcmp(magic, "\x0a\x0d\x0d\x0a", 4) == 0) {
		char why[256];

		/* A file our reader refuses, or one that describes no
		 * interface before its first packet, goes to libpcap, whose
		 * message is the one tcpdump gives. */
		s->ng = cf_open(fd, s->info.total_bytes, why, sizeof(why));
		if (s->ng &&
		    (cf_n_ifaces(s->ng) == 0 || sf_sync_ifaces(s) != 0)) {
			cf_close(s->ng);
			s->ng = NULL;
		}
		if (s->ng)
			s->ng_fd = fd;
	}
	if (!s->ng && sf_open_libpcap(s, fd, err) != PKX_OK) {
		free(s->path);
		free(s);
		return PKX_ERROR;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	sf_seek_to_window(s, args, fd);
	*instance = s;
	return PKX_OK;
}

static const pkx_source_info *sf_info(void *instance)
{
	return &((sf_source *)instance)->info;
}

static pkx_result sf_next_ng(sf_source *s, pkx_packet *pkt, pkx_error *err)
{
	cf_record rec;
	int r = cf_next(s->ng, &rec);

	/* An interface described since: the core learns of it before the
	 * first packet on it. */
	if (cf_n_ifaces(s->ng) != s->info.n_interfaces && sf_sync_ifaces(s))
		return sf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	if (r == 0)
		return PKX_END;
	if (r < 0)
		return sf_damage(s, cf_error(s->ng), err);
	sf_saw(s, rec.ts_ns);
	pkt->ts_ns = rec.ts_ns;
	pkt->caplen = rec.caplen;
	pkt->wirelen = rec.wirelen;
	pkt->ifindex = rec.iface;
	pkt->reserved = 0;
	pkt->data = rec.data;
	s->packets++;
	return PKX_OK;
}

static pkx_result sf_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	sf_source *s = instance;
	struct pcap_pkthdr *h;
	const u_char *data;
	int r;

	if (s->ng)
		return sf_next_ng(s, pkt, err);
	r = pcap_next_ex(s->pcap, &h, &data);

	if (r == 1) {
		uint64_t sec = (uint64_t)h->ts.tv_sec, frac;

		if (s->pcap_format == SF_PCAP_US) {
			/* Both fields are unsigned 32 bits in the file but
			 * libpcap reads them as signed (and scales the
			 * fraction to nanoseconds): recover them.  A fuzzed
			 * fraction of a second or more is normalised. */
			sec = (uint32_t)h->ts.tv_sec;
			frac =
			    (uint64_t)(uint32_t)(h->ts.tv_usec / 1000) * 1000;
		} else if (s->pcap_format == SF_PCAP_NS) {
			sec = (uint32_t)h->ts.tv_sec;
			frac = (uint32_t)h->ts.tv_usec;
		} else {
			frac = (uint64_t)h->ts.tv_usec;
		}
		pkt->ts_ns = sec * 1000000000u + frac;
		sf_saw(s, pkt->ts_ns);
		pkt->caplen = h->caplen;
		pkt->wirelen = h->len;
		pkt->ifindex = 0;
		pkt->data = data;
		s->packets++;
		return PKX_OK;
	}
	if (r == PCAP_ERROR_BREAK)
		return PKX_END;
	return sf_damage(s, pcap_geterr(s->pcap), err);
}

static uint64_t sf_position(void *instance)
{
	sf_source *s = instance;
	long off;

	if (s->ng)
		return cf_tell(s->ng);
	off = ftell(s->file);

	return off > 0 ? (uint64_t)off : 0;
}

static void sf_close(void *instance)
{
	sf_source *s = instance;

	if (s->pcap)
		pcap_close(s->pcap); /* closes the FILE too */
	free(s->iobuf);
	cf_close(s->ng);
	free(s->ng_ifs);
	if (s->ng_fd >= 0)
		close(s->ng_fd);
	free(s->path);
	free(s);
}

static const char *const sf_claims[] = {SF_PREFIX, NULL};

static const pkx_source_plugin sf_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, SF_NAME,
                      PACKAGE_VERSION, "pcap and pcapng files under fs/",
                      sf_claims, sf_init, NULL),
    .open = sf_open,
    .info = sf_info,
    .next = sf_next,
    .position = sf_position,
    .close = sf_close,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &sf_plugin.header;
}
