/* A careful pcap/pcapng reader with record offsets (see capfile.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capfile.h"
#include "pktexport/plugin.h"

#define CF_BUFFER     (1u << 20)
#define CF_MAX_IFACES 4096
/* libpcap's largest pcapng block (INITIAL_MAX_BLOCKSIZE), raised for a
 * link type whose largest packet needs more (MAX_BLOCKSIZE_FOR_SNAPLEN:
 * an EPB with such a packet and 128 KiB of options). */
#define CF_NG_MAX_BLOCK              (16u << 20)
#define CF_NG_BLOCK_FOR_SNAPLEN(max) (8u + 20u + (max) + 131072u + 4u)

enum { SHB = 0x0A0D0D0Au, IDB = 1, OPB = 2, SPB = 3, EPB = 6 };

struct cf_reader {
	int fd;
	int format;
	int swapped;          /* file byte order differs from ours */
	int pcap_nanos;       /* pcap: fraction is nanoseconds */
	int pcap_modified;    /* pcap: 0xa1b2cd34, 24-byte record headers */
	int pcap_lengths;     /* pcap: caplen and len swapped (CF_LEN_*) */
	uint32_t snapshot;    /* pcap: libpcap's snapshot (pcap_snapshot()) */
	uint32_t max_snaplen; /* pcap: libpcap's max_snaplen_for_dlt() */
	uint32_t max_block;   /* pcapng: largest block accepted */
	uint64_t limit;
	uint64_t data_offset;
	uint8_t *buf;
	size_t cap, len;     /* buffer capacity and bytes held */
	size_t chunk;        /* next read size: small at first, then grows */
	uint64_t buf_off;    /* file offset of buf[0] */
	uint64_t pos;        /* file offset of the next record */
	cf_iface *ifaces;    /* all sections so far */
	size_t n_ifaces;     /* across sections */
	size_t section_base; /* first interface of the current section */
	int seen_packet, layout_changed;
	int cut;           /* the damage is a record the end of the data cuts */
	uint8_t *prologue; /* pcap header, or SHB + IDBs of the section */
	size_t prologue_len;
	char error[256];
};

static uint32_t cf_u32(const cf_reader *r, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return r->swapped ? __builtin_bswap32(v) : v;
}

static uint16_t cf_u16(const cf_reader *r, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return r->swapped ? __builtin_bswap16(v) : v;
}

static int cf_fail(cf_reader *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int cf_fail(cf_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Damage that is the end of the data cutting `what` (of len bytes, 0:
 * its header) at r->pos. */
static int cf_fail_cut(cf_reader *r, const char *what, uint32_t len)
{
	r->cut = 1;
	if (!len)
		return cf_fail(r, "cut in a %s header at offset %llu", what,
		               (unsigned long long)r->pos);
	return cf_fail(r, "cut in a %s at offset %llu (%u bytes)", what,
	               (unsigned long long)r->pos, len);
}

/* Makes the `need` bytes at r->pos available in the buffer.  Returns a
 * pointer to them, or NULL when the file (or limit) ends first; *have
 * tells how many bytes there were. */
static const uint8_t *cf_fill(cf_reader *r, size_t need, size_t *have)
{
	uint64_t start = r->pos;
	size_t keep, want;

	*have = 0;
	if (start >= r->buf_off && start + need <= r->buf_off + r->len)
		return r->buf + (start - r->buf_off);
	if (start >= r->limit)
		return NULL;
	if (need > r->cap) {
		uint8_t *nb = realloc(r->buf, need);

		if (!nb)
			return NULL;
		r->buf = nb;
		r->cap = need;
	}
	/* Keep what we already hold of the wanted bytes. */
	keep = 0;
	if (start >= r->buf_off && start < r->buf_off + r->len) {
		keep = (size_t)(r->buf_off + r->len - start);
		memmove(r->buf, r->buf + (start - r->buf_off), keep);
	}
	r->buf_off = start;
	r->len = keep;
	/* Opening a file reads little (many are opened for their header
	 * alone); a reader that keeps going reads ever larger chunks. */
	want = r->chunk > need ? r->chunk : need;
	if (r->chunk < r->cap)
		r->chunk *= 2;
	if (want > r->cap)
		want = r->cap;
	if ((uint64_t)want > r->limit - start)
		want = (size_t)(r->limit - start);
	while (r->len < want) {
		ssize_t n = pread(r->fd, r->buf + r->len, want - r->len,
		                  (off_t)(start + r->len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	*have = r->len;
	return r->len >= need ? r->buf : NULL;
}

static int cf_add_iface(cf_reader *r, const cf_iface *ifc)
{
	cf_iface *n;

	if (r->n_ifaces >= CF_MAX_IFACES)
		return cf_fail(r, "more than %d interfaces", CF_MAX_IFACES);
	n = realloc(r->ifaces, (r->n_ifaces + 1) * sizeof(*n));
	if (!n)
		return cf_fail(r, "out of memory");
	r->ifaces = n;
	r->ifaces[r->n_ifaces++] = *ifc;
	return 0;
}

static int cf_prologue_add(cf_reader *r, const uint8_t *p, size_t len,
                           int reset)
{
	uint8_t *n;

	if (reset)
		r->prologue_len = 0;
	n = realloc(r->prologue, r->prologue_len + len);
	if (!n)
		return cf_fail(r, "out of memory");
	memcpy(n + r->prologue_len, p, len);
	r->prologue = n;
	r->prologue_len += len;
	return 0;
}

enum { CF_LEN_AS_IS, CF_LEN_SWAPPED, CF_LEN_MAYBE_SWAPPED };

/* The pcap file header as libpcap's pcap_check_header() reads it: the
 * versions it takes, the snapshot it derives, the record header size and
 * the order of the two lengths. */
static int cf_open_pcap(cf_reader *r, const uint8_t *h)
{
	uint32_t magic, lt;
	uint16_t major, minor;
	cf_iface ifc;

	memcpy(&magic, h, 4);
	r->swapped = magic == 0xd4c3b2a1u || magic == 0x4d3cb2a1u ||
	             magic == 0x34cdb2a1u;
	magic = cf_u32(r, h);
	r->pcap_nanos = magic == 0xa1b23c4du;
	r->pcap_modified = magic == 0xa1b2cd34u;
	major = cf_u16(r, h + 4);
	minor = cf_u16(r, h + 6);
	if (major < 2)
		return cf_fail(r, "archaic pcap savefile format");
	if (!((major == 2 && minor <= 4) || (major == 543 && minor == 0)))
		return cf_fail(r, "unsupported pcap savefile version %u.%u",
		               major, minor);
	r->pcap_lengths = major == 543 || minor < 3 ? CF_LEN_SWAPPED
	                  : minor == 3              ? CF_LEN_MAYBE_SWAPPED
	                                            : CF_LEN_AS_IS;
	memset(&ifc, 0, sizeof(ifc));
	ifc.snaplen = cf_u32(r, h + 16);
	/* The upper bits hold the FCS length; the link type is the rest,
	 * but we hand on the field as written, as the pcap output does. */
	lt = ifc.linktype = cf_u32(r, h + 20);
	r->max_snaplen = pkx_linktype_max_snaplen(lt);
	r->snapshot = pkx_linktype_snapshot(lt, ifc.snaplen);
	/* Kuznetzov's format on Ethernet: libpcap allows for the 14 bytes
	 * of a faked Ethernet header (a cooked capture), up to INT_MAX. */
	if (r->pcap_modified && (lt & 0x03ffffffu) == 1)
		r->snapshot += 14;
	ifc.snapshot = r->snapshot;
	ifc.ts_mul = 1;
	ifc.ts_div = 1;
	r->format = CF_PCAP;
	r->data_offset = 24;
	r->pos = 24;
	if (cf_prologue_add(r, h, 24, 1) != 0)
		return -1;
	return cf_add_iface(r, &ifc);
}

/* Reads the options of an interface block: name, resolution, offset, FCS
 * length.  An option that runs past the block is damage, as libpcap has
 * it; a last option without its padding is read. */
static int cf_idb_options(cf_reader *r, cf_iface *ifc, const uint8_t *p,
                          size_t len)
{
	while (len >= 4) {
		uint16_t code = cf_u16(r, p), olen = cf_u16(r, p + 2);
		size_t padded = 4 + (((size_t)olen + 3) & ~(size_t)3);

		if (code == 0)
			break;
		if (4 + (size_t)olen > len)
			return cf_fail(r,
			               "option %u of the interface block at "
			               "offset %llu runs past the block",
			               code, (unsigned long long)r->pos);
		if (padded > len)
			padded = len;
		if (code == 2 && olen > 0) {
			size_t n = olen < sizeof(ifc->name) - 1
			               ? olen
			               : sizeof(ifc->name) - 1;
			memcpy(ifc->name, p + 4, n);
			ifc->name[n] = '\0';
		} else if (code == 9 && olen >= 1) {
			ifc->tsresol = p[4];
			ifc->has_tsresol = 1;
		} else if (code == 14 && olen >= 8) {
			uint64_t v;

			memcpy(&v, p + 4, 8);
			ifc->tsoffset =
			    (int64_t)(r->swapped ? __builtin_bswap64(v) : v);
		} else if (code == 13 && olen >= 1 && p[4] && p[4] % 16 == 0 &&
		           p[4] / 16 <= 15) {
			/* if_fcslen, in bits: the pcap link type field's
			 * FCS flag and length in 16-bit words. */
			ifc->linktype |=
			    PKX_LINKTYPE_FCS_PRESENT |
			    ((uint32_t)(p[4] / 16) << PKX_LINKTYPE_FCS_SHIFT);
		}
		p += padded;
		len -= padded;
	}
	return 0;
}

static int cf_idb(cf_reader *r, const uint8_t *b, uint32_t blen)
{
	cf_iface ifc;
	unsigned v;

	if (blen < 20)
		return cf_fail(r, "interface block of %u bytes at offset %llu",
		               blen, (unsigned long long)r->pos);
	memset(&ifc, 0, sizeof(ifc));
	ifc.linktype = cf_u16(r, b + 8);
	ifc.snaplen = cf_u32(r, b + 12);
	/* libpcap's snapshot for the interface, and its largest block. */
	ifc.snapshot = pkx_linktype_snapshot(ifc.linktype, ifc.snaplen);
	if (CF_NG_BLOCK_FOR_SNAPLEN(pkx_linktype_max_snaplen(ifc.linktype)) >
	    r->max_block)
		r->max_block = CF_NG_BLOCK_FOR_SNAPLEN(
		    pkx_linktype_max_snaplen(ifc.linktype));
	if (cf_idb_options(r, &ifc, b + 16, blen - 20) != 0)
		return -1;
	/* ns = units * ts_mul / ts_div, exact (128 bits), rounded down. */
	v = ifc.has_tsresol ? ifc.tsresol & 0x7fu : 6;
	ifc.ts_mul = 1;
	ifc.ts_div = 1;
	if (ifc.has_tsresol && (ifc.tsresol & 0x80u)) {
		if (v > 63)
			return cf_fail(r, "if_tsresol 2^-%u out of range", v);
		ifc.ts_mul = 1000000000u;
		ifc.ts_div = (uint64_t)1 << v;
	} else if (v <= 9) {
		while (v++ < 9)
			ifc.ts_mul *= 10;
	} else {
		if (v > 19)
			return cf_fail(r, "if_tsresol 10^-%u out of range", v);
		while (v-- > 9)
			ifc.ts_div *= 10;
	}
	if (r->seen_packet)
		r->layout_changed++;
	if (cf_prologue_add(r, b, blen, 0) != 0)
		return -1;
	return cf_add_iface(r, &ifc);
}

static int cf_shb(cf_reader *r, const uint8_t *b, uint32_t blen)
{
	if (blen < 28 || cf_u16(r, b + 12) != 1)
		return cf_fail(r,
		               "section header at offset %llu is not pcapng "
		               "version 1",
		               (unsigned long long)r->pos);
	r->section_base = r->n_ifaces;
	if (r->seen_packet)
		r->layout_changed++;
	return cf_prologue_add(r, b, blen, 1);
}

static uint64_t cf_ts(const cf_iface *ifc, uint64_t units)
{
	unsigned __int128 ns =
	    (unsigned __int128)units * ifc->ts_mul / ifc->ts_div;
	__int128 t;

	t = (__int128)ns + (__int128)ifc->tsoffset * 1000000000;
	if (t < 0)
		return 0;
	if (t > (__int128)UINT64_MAX - 1)
		return UINT64_MAX - 1;
	return (uint64_t)t;
}

/* Fills rec from a packet block; 1, or -1 when the block is malformed. */
static int cf_packet_block(cf_reader *r, uint32_t type, const uint8_t *b,
                           uint32_t blen, cf_record *rec)
{
	uint32_t ifid, cap, hdr = type == SPB ? 16 : 32;
	const cf_iface *ifc;

	if (blen < hdr)
		return cf_fail(r, "packet block of %u bytes at offset %llu",
		               blen, (unsigned long long)r->pos);
	ifid = type == EPB ? cf_u32(r, b + 8)
	                   : (type == OPB ? cf_u16(r, b + 8) : 0);
	if (r->section_base + ifid >= r->n_ifaces)
		return cf_fail(r,
		               "packet at offset %llu names interface %u, "
		               "which the section does not describe",
		               (unsigned long long)r->pos, ifid);
	ifc = &r->ifaces[r->section_base + ifid];
	/* As libpcap: a packet longer than its interface's snapshot is
	 * damage (a Simple Packet Block's is cut to it), and so is one
	 * longer than its block. */
	if (type == SPB) {
		rec->wirelen = cf_u32(r, b + 8);
		cap = rec->wirelen;
		if (cap > ifc->snapshot)
			cap = ifc->snapshot;
		rec->ts_ns = 0; /* it has none: 0, as libpcap and tshark say */
	} else {
		uint64_t units =
		    ((uint64_t)cf_u32(r, b + 12) << 32) | cf_u32(r, b + 16);

		cap = cf_u32(r, b + 20);
		rec->wirelen = cf_u32(r, b + 24);
		if (cap > ifc->snapshot)
			return cf_fail(r,
			               "packet at offset %llu holds %u bytes, "
			               "more than the snap length %u of its "
			               "interface",
			               (unsigned long long)r->pos, cap,
			               ifc->snapshot);
		rec->ts_ns = cf_ts(ifc, units);
	}
	if (cap > blen - hdr)
		return cf_fail(r,
		               "packet at offset %llu claims %u bytes in a "
		               "block of %u",
		               (unsigned long long)r->pos, cap, blen);
	rec->caplen = cap;
	rec->iface = (uint32_t)(r->section_base + ifid);
	rec->data = b + (type == SPB ? 12 : 28);
	return 1;
}

/* One pcapng block at r->pos: 1 with rec filled for a packet, 2 for any
 * other block (consumed), 0 at the end, -1 on damage. */
static int cf_next_block(cf_reader *r, cf_record *rec)
{
	size_t have;
	const uint8_t *b = cf_fill(r, 12, &have);
	uint32_t type, blen;
	int rc = 2;

	if (!b)
		return have == 0 ? 0 : cf_fail_cut(r, "block", 0);
	memcpy(&type, b, 4);
	if (type == SHB) {
		uint32_t magic;

		memcpy(&magic, b + 8, 4);
		if (magic != 0x1A2B3C4Du && magic != 0x4D3C2B1Au)
			return cf_fail(r, "bad byte-order magic at offset %llu",
			               (unsigned long long)r->pos);
		r->swapped = magic == 0x4D3C2B1Au;
	}
	type = cf_u32(r, b);
	blen = cf_u32(r, b + 4);
	if (blen < 12 || blen % 4 || blen > r->max_block)
		return cf_fail(r, "block at offset %llu has a length of %u",
		               (unsigned long long)r->pos, blen);
	b = cf_fill(r, blen, &have);
	if (!b)
		return cf_fail_cut(r, "block", blen);
	if (cf_u32(r, b + blen - 4) != blen)
		return cf_fail(r,
		               "block at offset %llu: trailing length differs",
		               (unsigned long long)r->pos);
	if (type == SHB)
		rc = cf_shb(r, b, blen) ? -1 : 2;
	else if (type == IDB)
		rc = cf_idb(r, b, blen) ? -1 : 2;
	else if (type == EPB || type == OPB || type == SPB)
		rc = cf_packet_block(r, type, b, blen, rec);
	if (rc == 1) {
		rec->offset = r->pos;
		r->seen_packet = 1;
	}
	if (rc >= 1)
		r->pos += blen;
	return rc;
}

/* A record as libpcap's pcap_next_packet() reads it: longer than the link
 * type allows is damage; longer than the snapshot is cut to it (the rest
 * is passed over). */
static int cf_next_pcap(cf_reader *r, cf_record *rec)
{
	size_t have, hlen = r->pcap_modified ? 24 : 16;
	const uint8_t *h = cf_fill(r, hlen, &have);
	uint32_t sec, frac, cap, len;

	if (!h)
		return have == 0 ? 0 : cf_fail_cut(r, "record", 0);
	sec = cf_u32(r, h);
	frac = cf_u32(r, h + 4);
	cap = cf_u32(r, h + 8);
	len = cf_u32(r, h + 12);
	if (r->pcap_lengths == CF_LEN_SWAPPED ||
	    (r->pcap_lengths == CF_LEN_MAYBE_SWAPPED && cap > len)) {
		uint32_t t = cap;

		cap = len;
		len = t;
	}
	if (cap > r->max_snaplen)
		return cf_fail(r,
		               "record at offset %llu claims %u bytes, more "
		               "than libpcap reads for its link type (%u)",
		               (unsigned long long)r->pos, cap, r->max_snaplen);
	h = cf_fill(r, hlen + (size_t)cap, &have);
	if (!h)
		return cf_fail_cut(r, "record", cap);
	rec->wirelen = len;
	rec->offset = r->pos;
	rec->ts_ns = (uint64_t)sec * 1000000000u +
	             (r->pcap_nanos ? frac : (uint64_t)frac * 1000u);
	rec->caplen = cap > r->snapshot ? r->snapshot : cap;
	rec->iface = 0;
	rec->data = h + hlen;
	r->pos += hlen + (uint64_t)cap;
	return 1;
}

int cf_next(cf_reader *r, cf_record *rec)
{
	int rc;

	if (r->format == CF_PCAP)
		return cf_next_pcap(r, rec);
	while ((rc = cf_next_block(r, rec)) == 2)
		;
	return rc;
}

cf_reader *cf_open(int fd, uint64_t limit, char *errbuf, size_t errlen)
{
	cf_reader *r = calloc(1, sizeof(*r));
	const uint8_t *h;
	uint32_t magic;
	size_t have;
	cf_record rec;
	int rc = -1;

	if (!r || !(r->buf = malloc(CF_BUFFER))) {
		free(r);
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->cap = CF_BUFFER;
	r->chunk = 4096;
	r->limit = limit;
	r->max_block = CF_NG_MAX_BLOCK;
	h = cf_fill(r, 24, &have);
	if (h)
		memcpy(&magic, h, 4);
	if (!h)
		cf_fail(r, "too short for a capture file (%zu bytes)", have);
	else if (magic == 0xa1b2c3d4u || magic == 0xa1b23c4du ||
	         magic == 0xa1b2cd34u || magic == 0xd4c3b2a1u ||
	         magic == 0x4d3cb2a1u || magic == 0x34cdb2a1u)
		rc = cf_open_pcap(r, h);
	else if (magic == SHB) {
		/* Read the section header and interfaces up to the first
		 * packet, then step back to it. */
		r->format = CF_PCAPNG;
		while ((rc = cf_next_block(r, &rec)) == 2)
			;
		if (rc == 1)
			r->pos = rec.offset;
		r->seen_packet = 0;
		rc = rc < 0 ? -1 : 0;
		r->data_offset = r->pos;
		if (rc == 0 && r->n_ifaces == 0 && r->pos < limit)
			rc = cf_fail(r, "no interface before the first packet");
	} else
		cf_fail(r, "not a pcap or pcapng file (magic 0x%08x)", magic);
	if (rc != 0) {
		snprintf(errbuf, errlen, "%s", r->error);
		cf_close(r);
		return NULL;
	}
	return r;
}

void cf_close(cf_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->ifaces);
	free(r->prologue);
	free(r);
}

int cf_ts_digits(const cf_reader *r)
{
	const cf_iface *ifc = r->n_ifaces ? &r->ifaces[0] : NULL;

	if (r->format == CF_PCAP)
		return r->pcap_nanos ? 9 : 6;
	if (!ifc || ifc->ts_div != 1)
		return 0;
	return ifc->ts_mul == 1 ? 9 : ifc->ts_mul == 1000 ? 6 : 0;
}

int cf_format(const cf_reader *r)
{
	return r->format;
}

uint64_t cf_data_offset(const cf_reader *r)
{
	return r->data_offset;
}

size_t cf_n_ifaces(const cf_reader *r)
{
	return r->n_ifaces;
}

const cf_iface *cf_ifaces(const cf_reader *r)
{
	return r->ifaces;
}

int cf_layout_changed(const cf_reader *r)
{
	return r->layout_changed;
}

void cf_seek(cf_reader *r, uint64_t offset)
{
	r->pos = offset;
}

uint64_t cf_tell(const cf_reader *r)
{
	return r->pos;
}

int cf_cut(const cf_reader *r)
{
	return r->cut;
}

const char *cf_error(const cf_reader *r)
{
	return r->error;
}

const uint8_t *cf_prologue(const cf_reader *r, size_t *len)
{
	*len = r->prologue_len;
	return r->prologue;
}
