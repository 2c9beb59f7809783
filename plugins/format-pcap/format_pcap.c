/* format-pcap: classic pcap files with microsecond (PCAP_US) or nanosecond
 * (PCAP_NS) timestamps.  One link type per file: a source mixing link types
 * is refused rather than written as a wrong file. */
#include <stdlib.h>
#include <string.h>

#include "pktexport/plugin.h"

#define FP_NAME     "format-pcap"
#define FP_MAGIC_US 0xa1b2c3d4u
#define FP_MAGIC_NS 0xa1b23c4du

static const pkx_services *fp_svc;

typedef struct fp_writer {
	pkx_sink *sink;
	int nanos;
	uint32_t snaplen; /* what the header declared */
	uint64_t written; /* packets written so far */
} fp_writer;

static pkx_result fp_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	fp_svc = svc;
	return PKX_OK;
}

/* One link type per file: anything else is refused, never written. */
static pkx_result fp_check_linktypes(const char *format,
                                     const pkx_interface *ifs, size_t n,
                                     pkx_error *err)
{
	size_t i;

	for (i = 1; i < n; i++)
		if (ifs[i].linktype != ifs[0].linktype)
			return fp_svc->fail(
			    err, "REQUEST_INVALID_INPUT",
			    "the source mixes link types %u and %u, which %s "
			    "cannot hold: ask for PCAPNG_US or PCAPNG_NS",
			    ifs[0].linktype, ifs[i].linktype, format);
	return PKX_OK;
}

static pkx_result fp_begin(const pkx_format_args *args, pkx_sink *sink,
                           void **instance, pkx_error *err)
{
	struct {
		uint32_t magic;
		uint16_t major, minor;
		int32_t thiszone;
		uint32_t sigfigs, snaplen, linktype;
	} hdr; /* host byte order: readers tell it by the magic */
	fp_writer *w;
	int nanos = strcmp(args->format, "PCAP_NS") == 0;

	if (!nanos && strcmp(args->format, "PCAP_US") != 0)
		return fp_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "format-pcap cannot write %s",
		                    args->format);
	if (args->n_interfaces == 0)
		return fp_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "the source has no interface");
	if (fp_check_linktypes(args->format, args->interfaces,
	                       args->n_interfaces, err) != PKX_OK)
		return PKX_ERROR;
	w = calloc(1, sizeof(*w));
	if (!w)
		return fp_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	w->sink = sink;
	w->nanos = nanos;
	w->snaplen = args->snaplen;
	hdr.magic = nanos ? FP_MAGIC_NS : FP_MAGIC_US;
	hdr.major = 2;
	hdr.minor = 4;
	hdr.thiszone = 0;
	hdr.sigfigs = 0;
	hdr.snaplen = args->snaplen;
	hdr.linktype = args->interfaces[0].linktype;
	if (sink->write(sink, &hdr, sizeof(hdr), err) != PKX_OK) {
		free(w);
		return PKX_ERROR;
	}
	*instance = w;
	return PKX_OK;
}

static pkx_result fp_write(void *instance, const pkx_packet *pkt,
                           pkx_error *err)
{
	fp_writer *w = instance;
	uint32_t rec[4];
	uint64_t sec = pkt->ts_ns / 1000000000u;
	uint32_t frac = (uint32_t)(pkt->ts_ns % 1000000000u);

	if (sec > UINT32_MAX)
		/* The field is 32 bits.  libpcap's writer keeps the low bits,
		 * which puts the packet in 1970: a silent wrong value. */
		return fp_svc->fail(
		    err, "REQUEST_INVALID_INPUT",
		    "packet %llu of the export is stamped %llu.%09u s since "
		    "the epoch, past 2106-02-07T06:28:15Z, the last second a "
		    "pcap record can hold: ask for PCAPNG_US or PCAPNG_NS",
		    (unsigned long long)w->written + 1, (unsigned long long)sec,
		    frac);
	if (w->snaplen && pkt->caplen > w->snaplen)
		/* Readers would cut it to the header's limit without a word.
		 * Only an interface described after the header can do this. */
		return fp_svc->fail(
		    err, "REQUEST_INVALID_INPUT",
		    "a packet of %u captured bytes does not fit the snap "
		    "length %u this pcap file declared at its start (an "
		    "interface described later in the source allows more): "
		    "ask for PCAPNG_US or PCAPNG_NS, or set a snap length",
		    pkt->caplen, w->snaplen);
	rec[0] = (uint32_t)sec;
	rec[1] = w->nanos ? frac : frac / 1000u; /* truncates toward zero */
	rec[2] = pkt->caplen;
	rec[3] = pkt->wirelen;
	if (w->sink->write(w->sink, rec, sizeof(rec), err) != PKX_OK)
		return PKX_ERROR;
	w->written++;
	return w->sink->write(w->sink, pkt->data, pkt->caplen, err);
}

static pkx_result fp_end(void *instance, int complete, pkx_error *err)
{
	(void)complete;
	(void)err;
	free(instance);
	return PKX_OK;
}

static pkx_result fp_add_interfaces(void *instance, const pkx_interface *ifs,
                                    size_t n_ifs, pkx_error *err)
{
	fp_writer *w = instance;

	return fp_check_linktypes(w->nanos ? "PCAP_NS" : "PCAP_US", ifs, n_ifs,
	                          err);
}

static const char *const fp_claims[] = {"PCAP_US", "PCAP_NS", NULL};

static const pkx_format_plugin fp_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FORMAT, pkx_format_plugin, FP_NAME,
                      PACKAGE_VERSION, "pcap files, micro- or nanoseconds",
                      fp_claims, fp_init, NULL),
    .begin = fp_begin,
    .write = fp_write,
    .end = fp_end,
    .add_interfaces = fp_add_interfaces,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &fp_plugin.header;
}
