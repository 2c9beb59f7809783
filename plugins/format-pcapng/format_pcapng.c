/* format-pcapng: pcapng files with microsecond (PCAPNG_US) or nanosecond
 * (PCAPNG_NS) timestamps; one Interface Description Block per source
 * interface, so a source mixing link types is written faithfully. */
#include <stdlib.h>
#include <string.h>

#include "pktexport/plugin.h"

#define FN_NAME "format-pcapng"

/* Block types and option codes of the pcapng specification. */
#define FN_BT_SHB        0x0a0d0d0au
#define FN_BT_IDB        0x00000001u
#define FN_BT_EPB        0x00000006u
#define FN_BYTE_ORDER    0x1a2b3c4du
#define FN_OPT_END       0
#define FN_SHB_USERAPPL  4
#define FN_IF_NAME       2
#define FN_IF_TSRESOL    9
#define FN_IF_FCSLEN     13
#define FN_LINKTYPE_MASK 0x0000ffffu

static const pkx_services *fn_svc;

typedef struct fn_writer {
	pkx_sink *sink;
	int nanos;
	int cut;          /* the export cuts packets to `snaplen` */
	uint32_t snaplen; /* the export's snap length */
	size_t n_ifs;     /* interfaces described so far */
} fn_writer;

static pkx_result fn_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	fn_svc = svc;
	return PKX_OK;
}

static size_t fn_pad4(size_t n)
{
	return (4 - (n & 3)) & 3;
}

/* Appends one option (code, length, value, padding) at buf + *off. */
static void fn_put_option(uint8_t *buf, size_t *off, uint16_t code,
                          const void *value, uint16_t len)
{
	memcpy(buf + *off, &code, 2);
	memcpy(buf + *off + 2, &len, 2);
	if (len)
		memcpy(buf + *off + 4, value, len);
	memset(buf + *off + 4 + len, 0, fn_pad4(len));
	*off += 4 + len + fn_pad4(len);
}

/* Writes a block whose body (after type and length) is body[0..len):
 * buf must have 8 bytes free in front of body and 4 after it. */
static pkx_result fn_put_block(pkx_sink *sink, uint8_t *buf, size_t body_len,
                               uint32_t type, pkx_error *err)
{
	uint32_t total = (uint32_t)(body_len + 12);

	memcpy(buf, &type, 4);
	memcpy(buf + 4, &total, 4);
	memcpy(buf + 8 + body_len, &total, 4);
	return sink->write(sink, buf, total, err);
}

static pkx_result fn_write_shb(pkx_sink *sink, pkx_error *err)
{
	static const char appl[] = "pktexport " PACKAGE_VERSION;
	uint8_t buf[8 + 16 + 4 + sizeof(appl) + 3 + 4 + 4];
	uint32_t bom = FN_BYTE_ORDER;
	uint16_t major = 1, minor = 0;
	int64_t section_len = -1; /* unknown: the file is streamed */
	size_t off = 8;

	memcpy(buf + off, &bom, 4);
	memcpy(buf + off + 4, &major, 2);
	memcpy(buf + off + 6, &minor, 2);
	memcpy(buf + off + 8, &section_len, 8);
	off += 16;
	fn_put_option(buf, &off, FN_SHB_USERAPPL, appl, sizeof(appl) - 1);
	fn_put_option(buf, &off, FN_OPT_END, NULL, 0);
	return fn_put_block(sink, buf, off - 8, FN_BT_SHB, err);
}

/* The IDB's snap length: what the export keeps of this interface's
 * packets, so no packet is ever longer than its interface says. */
static uint32_t fn_if_snaplen(const fn_writer *w, const pkx_interface *ifc)
{
	if (!w->cut)
		return ifc->snaplen;
	if (ifc->snaplen && ifc->snaplen < w->snaplen)
		return ifc->snaplen;
	return w->snaplen;
}

static pkx_result fn_check_interface(const pkx_interface *ifc, size_t index,
                                     pkx_error *err)
{
	if ((ifc->linktype & ~(FN_LINKTYPE_MASK | PKX_LINKTYPE_FCS_PRESENT |
	                       (0xfu << PKX_LINKTYPE_FCS_SHIFT))) != 0)
		return fn_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "interface %zu has link type %u, which a "
		                    "pcapng interface block cannot hold",
		                    index, ifc->linktype);
	return PKX_OK;
}

static pkx_result fn_write_idb(fn_writer *w, const pkx_interface *ifc,
                               pkx_error *err)
{
	uint8_t buf[8 + 8 + (4 + PKX_IFNAME_MAX) + 8 + 8 + 4 + 4];
	uint16_t linktype = (uint16_t)(ifc->linktype & FN_LINKTYPE_MASK);
	uint16_t reserved = 0;
	uint32_t snaplen = fn_if_snaplen(w, ifc);
	uint8_t tsresol = w->nanos ? 9 : 6;
	size_t off = 8, name_len = strnlen(ifc->name, PKX_IFNAME_MAX - 1);

	memcpy(buf + off, &linktype, 2);
	memcpy(buf + off + 2, &reserved, 2);
	memcpy(buf + off + 4, &snaplen, 4);
	off += 8;
	if (name_len)
		fn_put_option(buf, &off, FN_IF_NAME, ifc->name,
		              (uint16_t)name_len);
	fn_put_option(buf, &off, FN_IF_TSRESOL, &tsresol, 1);
	/* if_fcslen says in bits what the link type's FCS bits say in
	 * 16-bit words. */
	if (ifc->linktype & PKX_LINKTYPE_FCS_PRESENT) {
		uint8_t bits =
		    (uint8_t)((ifc->linktype >> PKX_LINKTYPE_FCS_SHIFT) * 16);

		fn_put_option(buf, &off, FN_IF_FCSLEN, &bits, 1);
	}
	fn_put_option(buf, &off, FN_OPT_END, NULL, 0);
	return fn_put_block(w->sink, buf, off - 8, FN_BT_IDB, err);
}

static pkx_result fn_describe(fn_writer *w, const pkx_interface *ifs, size_t n,
                              pkx_error *err)
{
	size_t i;

	for (i = w->n_ifs; i < n; i++)
		if (fn_check_interface(&ifs[i], i, err) != PKX_OK)
			return PKX_ERROR;
	for (i = w->n_ifs; i < n; i++) {
		if (fn_write_idb(w, &ifs[i], err) != PKX_OK)
			return PKX_ERROR;
		w->n_ifs = i + 1;
	}
	return PKX_OK;
}

static pkx_result fn_begin(const pkx_format_args *args, pkx_sink *sink,
                           void **instance, pkx_error *err)
{
	fn_writer *w;
	int nanos = strcmp(args->format, "PCAPNG_NS") == 0;

	if (!nanos && strcmp(args->format, "PCAPNG_US") != 0)
		return fn_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    FN_NAME " cannot write %s", args->format);
	if (args->n_interfaces == 0)
		return fn_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "the source has no interface");
	w = calloc(1, sizeof(*w));
	if (!w)
		return fn_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	w->sink = sink;
	w->nanos = nanos;
	w->snaplen = args->snaplen;
	/* The core says whether packets are cut (this module loads only in
	 * a core of ABI 1.2 or later, which fills args->cut). */
	w->cut = args->cut;
	if (fn_write_shb(sink, err) != PKX_OK ||
	    fn_describe(w, args->interfaces, args->n_interfaces, err) !=
	        PKX_OK) {
		free(w);
		return PKX_ERROR;
	}
	*instance = w;
	return PKX_OK;
}

/* One Enhanced Packet Block: header, data, then padding and the trailing
 * length together, three writes into the buffered sink. */
static pkx_result fn_write(void *instance, const pkx_packet *pkt,
                           pkx_error *err)
{
	fn_writer *w = instance;
	uint64_t ts = w->nanos ? pkt->ts_ns : pkt->ts_ns / 1000u;
	uint32_t pad = (uint32_t)fn_pad4(pkt->caplen);
	uint32_t hdr[7];
	uint8_t tail[8] = {0};
	uint32_t total;

	if (pkt->ifindex >= w->n_ifs)
		return fn_svc->fail(err, "INTERNAL_ERROR",
		                    "packet on interface %u, but only %zu are "
		                    "described",
		                    pkt->ifindex, w->n_ifs);
	if (pkt->caplen > UINT32_MAX - 64)
		return fn_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "packet of %u bytes is too large for a "
		                    "pcapng block",
		                    pkt->caplen);
	total = 32 + pkt->caplen + pad;
	hdr[0] = FN_BT_EPB;
	hdr[1] = total;
	hdr[2] = pkt->ifindex;
	hdr[3] = (uint32_t)(ts >> 32);
	hdr[4] = (uint32_t)ts;
	hdr[5] = pkt->caplen;
	hdr[6] = pkt->wirelen;
	memcpy(tail + pad, &total, 4);
	if (w->sink->write(w->sink, hdr, sizeof(hdr), err) != PKX_OK ||
	    w->sink->write(w->sink, pkt->data, pkt->caplen, err) != PKX_OK)
		return PKX_ERROR;
	return w->sink->write(w->sink, tail, pad + 4, err);
}

static pkx_result fn_end(void *instance, int complete, pkx_error *err)
{
	(void)complete;
	(void)err;
	free(instance);
	return PKX_OK;
}

/* A pcapng section may describe interfaces anywhere before their first
 * packet: new ones are appended as they come. */
static pkx_result fn_add_interfaces(void *instance, const pkx_interface *ifs,
                                    size_t n_ifs, pkx_error *err)
{
	return fn_describe(instance, ifs, n_ifs, err);
}

static const char *const fn_claims[] = {"PCAPNG_US", "PCAPNG_NS", NULL};

static const pkx_format_plugin fn_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FORMAT, pkx_format_plugin, FN_NAME,
                      PACKAGE_VERSION, "pcapng files, micro- or nanoseconds",
                      fn_claims, fn_init, NULL),
    .begin = fn_begin,
    .write = fn_write,
    .end = fn_end,
    .add_interfaces = fn_add_interfaces,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &fn_plugin.header;
}
