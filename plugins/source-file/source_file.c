/* source-file: `fs/<file>` under the data root, pcap or pcapng, read with
 * libpcap so every record is the one tcpdump sees; pcapng files libpcap
 * cannot describe (several interfaces, link types or sections) are read
 * with our own pcapng reader, so packets keep their interface. */
#include <errno.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pcapng_reader.h"
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
	/* pcapng only: our reader when it reads the file, and a descriptor
	 * for it should libpcap stop at an interface it refuses. */
	sfng_reader *ng;
	int ng_fd;
	char *path;
	pkx_interface iface;
	pkx_source_info info;
	uint64_t packets;
	char *iobuf; /* the stdio buffer behind libpcap's reads */
	int seeked;  /* started past the beginning, by the sidecar index */
} sf_source;

static pkx_result sf_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	sf_svc = svc;
	return PKX_OK;
}

/* The LINKTYPE_* value libpcap would write for a DLT_* value: we let
 * libpcap's own table decide by dumping a header to memory. */
static uint32_t sf_linktype_of(int dlt)
{
	char *buf = NULL;
	size_t len = 0;
	uint32_t linktype = (uint32_t)dlt;
	pcap_t *dead = pcap_open_dead(dlt, 65535);
	FILE *mem = open_memstream(&buf, &len);
	pcap_dumper_t *d = NULL;

	if (dead && mem && (d = pcap_dump_fopen(dead, mem))) {
		pcap_dump_flush(d);
		if (len >= 24)
			memcpy(&linktype, buf + 20, 4);
		pcap_dump_close(d); /* closes mem */
		mem = NULL;
	}
	if (mem)
		fclose(mem);
	free(buf);
	if (dead)
		pcap_close(dead);
	return linktype;
}

/* Reads the classic pcap file header, if the file is one: its link type
 * field (FCS bits included) and the resolution of its records. */
static void sf_read_pcap_header(sf_source *s, int fd)
{
	uint32_t hdr[6];

	if (pread(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr))
		return;
	if (hdr[0] == 0xd4c3b2a1u || hdr[0] == 0x4d3cb2a1u) {
		hdr[0] = __builtin_bswap32(hdr[0]);
		hdr[5] = __builtin_bswap32(hdr[5]);
	}
	if (hdr[0] == 0xa1b2c3d4u)
		s->pcap_format = SF_PCAP_US;
	else if (hdr[0] == 0xa1b23c4du)
		s->pcap_format = SF_PCAP_NS;
	else
		return;
	s->pcap_linktype = hdr[5];
}

/* Reads the start of a pcapng file with our reader.  Returns 1 when our
 * reader keeps the file: it describes several interfaces (libpcap would
 * refuse mixed ones and cannot tell which packet is on which).  Otherwise
 * *first is the interface libpcap will report, with the name and input
 * resolution libpcap does not give, and s->ng_fd is kept for a switch to
 * our reader should libpcap refuse a later interface. */
static int sf_probe_pcapng(sf_source *s, int fd, pkx_interface *first)
{
	char why[SFNG_ERR_MAX];
	sfng_reader *r = sfng_open(fd, s->info.total_bytes, why, sizeof(why));
	const pkx_interface *ifs;
	size_t n;

	if (!r)
		return 0; /* libpcap says what is wrong, as tcpdump would */
	ifs = sfng_interfaces(r, &n);
	if (n > 1 || sfng_describes_later(r)) {
		s->ng = r;
		s->ng_fd = fd;
		s->info.n_interfaces = n;
		s->info.interfaces = ifs;
		return 1;
	}
	*first = ifs[0];
	sfng_close(r);
	s->ng_fd = dup(fd);
	return 0;
}

/* Opens fd with libpcap; on failure fd (and s->ng_fd) are closed. */
static pkx_result sf_open_libpcap(sf_source *s, int fd,
                                  const pkx_interface *first, pkx_error *err)
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
	s->iface.linktype = sf_linktype_of(pcap_datalink(s->pcap));
	sf_read_pcap_header(s, fd);
	/* Keep the FCS bits libpcap reads but does not report. */
	if (s->pcap_format &&
	    (s->pcap_linktype & 0x03ffffffu) == s->iface.linktype)
		s->iface.linktype = s->pcap_linktype;
	s->iface.snaplen = (uint32_t)pcap_snapshot(s->pcap);
	if (s->ng_fd >= 0) {
		memcpy(s->iface.name, first->name, sizeof(first->name));
		s->iface.tsresol = first->tsresol;
		if ((first->linktype & 0xffffu) == s->iface.linktype)
			s->iface.linktype = first->linktype; /* with its FCS */
	}
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
	if (fseeko(s->file, (off_t)offset, SEEK_SET) == 0) {
		s->seeked = offset > 0;
		s->info.time_ordered = 1;
	}
}

static pkx_result sf_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	char base[4096];
	pkx_interface first;
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
	memset(&first, 0, sizeof(first));
	if (fstat(fd, &st) == 0)
		s->info.total_bytes = (uint64_t)st.st_size;
	if (pread(fd, magic, sizeof(magic), 0) == (ssize_t)sizeof(magic) &&
	    sfng_is_pcapng(magic) && sf_probe_pcapng(s, fd, &first)) {
		*instance = s;
		return PKX_OK;
	}
	if (sf_open_libpcap(s, fd, &first, err) != PKX_OK) {
		if (s->ng_fd >= 0)
			close(s->ng_fd);
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
	char why[SFNG_ERR_MAX];
	pkx_result r = sfng_next(s->ng, pkt, why, sizeof(why));

	/* The list may have grown (and moved) with a new interface. */
	s->info.interfaces = sfng_interfaces(s->ng, &s->info.n_interfaces);
	if (r == PKX_OK)
		s->packets++;
	if (r != PKX_ERROR)
		return r;
	return sf_svc->fail(err, "SOURCE_DAMAGED",
	                    "\"%s\" is damaged after packet %llu: %s", s->path,
	                    (unsigned long long)s->packets, why);
}

/* libpcap stops at an interface unlike the first, or a section in the
 * other byte order: neither is damage, our reader goes on from there. */
static int sf_libpcap_limit(const char *msg)
{
	return strncmp(msg, "an interface has a ", 19) == 0 ||
	       strcmp(msg, "the file has sections with different byte "
	                   "orders") == 0;
}

/* Reopens the file with our reader past the packets libpcap returned. */
static pkx_result sf_switch_reader(sf_source *s)
{
	char why[SFNG_ERR_MAX];
	sfng_reader *r =
	    sfng_open(s->ng_fd, s->info.total_bytes, why, sizeof(why));
	uint64_t i;
	pkx_packet skip;

	/* Skipping by count is only right from the file's start. */
	if (!r || s->seeked) {
		sfng_close(r);
		return PKX_ERROR;
	}
	for (i = 0; i < s->packets; i++)
		if (sfng_next(r, &skip, why, sizeof(why)) != PKX_OK) {
			sfng_close(r);
			return PKX_ERROR;
		}
	sf_svc->log(PKX_LOG_INFO, SF_NAME,
	            "%s: libpcap stops after packet %llu (%s); reading on "
	            "with the pcapng reader",
	            s->path, (unsigned long long)s->packets,
	            pcap_geterr(s->pcap));
	pcap_close(s->pcap); /* closes the FILE too */
	s->pcap = NULL;
	s->file = NULL;
	free(s->iobuf);
	s->iobuf = NULL;
	s->ng = r;
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
		pkt->caplen = h->caplen;
		pkt->wirelen = h->len;
		pkt->ifindex = 0;
		pkt->data = data;
		s->packets++;
		return PKX_OK;
	}
	if (r == PCAP_ERROR_BREAK)
		return PKX_END;
	if (s->ng_fd >= 0 && sf_libpcap_limit(pcap_geterr(s->pcap)) &&
	    sf_switch_reader(s) == PKX_OK)
		return sf_next_ng(s, pkt, err);
	return sf_svc->fail(
	    err, "SOURCE_DAMAGED", "\"%s\" is damaged after packet %llu: %s",
	    s->path, (unsigned long long)s->packets, pcap_geterr(s->pcap));
}

static uint64_t sf_position(void *instance)
{
	sf_source *s = instance;
	long off;

	if (s->ng)
		return sfng_position(s->ng);
	off = ftell(s->file);

	return off > 0 ? (uint64_t)off : 0;
}

static void sf_close(void *instance)
{
	sf_source *s = instance;

	if (s->pcap)
		pcap_close(s->pcap); /* closes the FILE too */
	free(s->iobuf);
	sfng_close(s->ng);
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
