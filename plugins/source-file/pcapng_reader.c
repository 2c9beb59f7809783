/* The pcapng reader of source-file: blocks are read into one large buffer
 * with pread and parsed in place (no allocation per packet); every length
 * is checked against the block that holds it before it is used. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pcapng_reader.h"

#define SFNG_BT_SHB     0x0a0d0d0au
#define SFNG_BT_IDB     0x00000001u
#define SFNG_BT_PB      0x00000002u /* obsolete Packet Block */
#define SFNG_BT_SPB     0x00000003u
#define SFNG_BT_EPB     0x00000006u
#define SFNG_BYTE_ORDER 0x1a2b3c4du
#define SFNG_IF_NAME    2
#define SFNG_IF_TSRESOL 9
#define SFNG_IF_FCSLEN  13
#define SFNG_IF_TSOFF   14
/* pcap's link type field carries an FCS length (16-bit words, bits 28-31,
 * present when bit 26 is set); pcapng's if_fcslen gives it in bits. */
#define SFNG_FCS_PRESENT 0x04000000u
#define SFNG_FCS_SHIFT   28

#define SFNG_BUFFER    (1u << 20)   /* one read(2) worth of blocks */
#define SFNG_MAX_BLOCK (256u << 20) /* larger than any link type's packet */
#define SFNG_NS        1000000000u

/* How an interface's timestamps become nanoseconds. */
typedef struct sfng_clock {
	uint64_t units; /* ticks per second: 10^exp or 2^exp */
	int pow2;
	unsigned exp;
	int64_t offset_s; /* if_tsoffset, seconds */
} sfng_clock;

/* A complete block in the buffer. */
typedef struct sfng_block {
	uint32_t type;
	uint32_t total;
	const uint8_t *body; /* after type and length */
	size_t body_len;     /* without the trailing length */
	uint64_t offset;     /* in the file */
} sfng_block;

struct sfng_reader {
	int fd;
	uint64_t file_size;
	uint8_t *buf;
	size_t cap, pos, len; /* buf[pos..len) is read but not consumed */
	uint64_t buf_off;     /* file offset of buf[0] */
	int swapped;          /* this section's byte order is not ours */
	size_t section_first; /* global index of the section's interface 0 */
	size_t section_count;
	pkx_interface *ifs;
	sfng_clock *clocks;
	size_t n_ifs, cap_ifs;
};

static const uint64_t sfng_pow10[20] = {
    1ull,
    10ull,
    100ull,
    1000ull,
    10000ull,
    100000ull,
    1000000ull,
    10000000ull,
    100000000ull,
    1000000000ull,
    10000000000ull,
    100000000000ull,
    1000000000000ull,
    10000000000000ull,
    100000000000000ull,
    1000000000000000ull,
    10000000000000000ull,
    100000000000000000ull,
    1000000000000000000ull,
    10000000000000000000ull,
};

static pkx_result sfng_damaged(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static pkx_result sfng_damaged(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
	return PKX_ERROR;
}

static uint16_t sfng_u16(const sfng_reader *r, const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return r->swapped ? __builtin_bswap16(v) : v;
}

static uint32_t sfng_u32(const sfng_reader *r, const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return r->swapped ? __builtin_bswap32(v) : v;
}

static uint64_t sfng_u64(const sfng_reader *r, const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return r->swapped ? __builtin_bswap64(v) : v;
}

int sfng_is_pcapng(const uint8_t magic[4])
{
	uint32_t v;

	memcpy(&v, magic, 4);
	return v == SFNG_BT_SHB; /* the same in both byte orders */
}

/* Makes `need` unconsumed bytes available: 1, 0 at the end of the file
 * before that, -1 on a read error. */
static int sfng_fill(sfng_reader *r, size_t need, char *why, size_t wl)
{
	if (r->len - r->pos >= need)
		return 1;
	if (r->pos) {
		memmove(r->buf, r->buf + r->pos, r->len - r->pos);
		r->buf_off += r->pos;
		r->len -= r->pos;
		r->pos = 0;
	}
	if (need > r->cap) {
		size_t cap = r->cap * 2 > need ? r->cap * 2 : need;
		uint8_t *b = realloc(r->buf, cap);

		if (!b) {
			snprintf(why, wl,
			         "out of memory for a block of %zu "
			         "bytes",
			         need);
			return -1;
		}
		r->buf = b;
		r->cap = cap;
	}
	while (r->len < need) {
		ssize_t n = pread(r->fd, r->buf + r->len, r->cap - r->len,
		                  (off_t)(r->buf_off + r->len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, wl, "read error at offset %llu: %s",
			         (unsigned long long)(r->buf_off + r->len),
			         strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		r->len += (size_t)n;
	}
	return 1;
}

/* Reads the next whole block into the buffer without consuming it.  An
 * SHB sets the byte order of the section it opens, its own length
 * included. */
static pkx_result sfng_peek(sfng_reader *r, sfng_block *b, char *why, size_t wl)
{
	uint64_t at = r->buf_off + r->pos;
	const uint8_t *p;
	uint32_t raw;
	int f = sfng_fill(r, 12, why, wl);

	if (f < 0)
		return PKX_ERROR;
	if (f == 0) {
		if (r->len == r->pos)
			return PKX_END;
		return sfng_damaged(why, wl,
		                    "truncated block header at offset %llu",
		                    (unsigned long long)at);
	}
	p = r->buf + r->pos;
	memcpy(&raw, p, 4);
	if (raw == SFNG_BT_SHB) {
		uint32_t bom;

		memcpy(&bom, p + 8, 4);
		if (bom == SFNG_BYTE_ORDER)
			r->swapped = 0;
		else if (bom == __builtin_bswap32(SFNG_BYTE_ORDER))
			r->swapped = 1;
		else
			return sfng_damaged(why, wl,
			                    "section header at offset %llu has "
			                    "a bad byte-order magic",
			                    (unsigned long long)at);
	}
	b->type = sfng_u32(r, p);
	b->total = sfng_u32(r, p + 4);
	b->offset = at;
	if (b->total < 12 || b->total % 4 != 0 ||
	    (b->type == SFNG_BT_SHB && b->total < 28))
		return sfng_damaged(why, wl,
		                    "block at offset %llu has an invalid "
		                    "length of %u",
		                    (unsigned long long)at, b->total);
	if (b->total > SFNG_MAX_BLOCK || at > r->file_size ||
	    b->total > r->file_size - at)
		return sfng_damaged(why, wl,
		                    "block of %u bytes at offset %llu runs "
		                    "past the end of the file",
		                    b->total, (unsigned long long)at);
	f = sfng_fill(r, b->total, why, wl);
	if (f < 0)
		return PKX_ERROR;
	if (f == 0)
		return sfng_damaged(why, wl, "truncated block at offset %llu",
		                    (unsigned long long)at);
	p = r->buf + r->pos;
	if (sfng_u32(r, p + b->total - 4) != b->total)
		return sfng_damaged(why, wl,
		                    "block at offset %llu ends with a length "
		                    "of %u instead of %u",
		                    (unsigned long long)at,
		                    sfng_u32(r, p + b->total - 4), b->total);
	b->body = p + 8;
	b->body_len = b->total - 12;
	return PKX_OK;
}

static pkx_result sfng_section(sfng_reader *r, const sfng_block *b, char *why,
                               size_t wl)
{
	uint16_t major = sfng_u16(r, b->body + 4);

	if (major != 1)
		return sfng_damaged(why, wl,
		                    "section at offset %llu has pcapng "
		                    "version %u.%u, which this reader does "
		                    "not know",
		                    (unsigned long long)b->offset, major,
		                    sfng_u16(r, b->body + 6));
	/* A section numbers its interfaces from 0 again; ours go on. */
	r->section_first = r->n_ifs;
	r->section_count = 0;
	return PKX_OK;
}

static pkx_result sfng_set_tsresol(sfng_clock *c, uint8_t v, uint64_t at,
                                   char *why, size_t wl)
{
	c->pow2 = (v & 0x80) != 0;
	c->exp = v & 0x7f;
	if ((c->pow2 && c->exp > 63) || (!c->pow2 && c->exp > 19))
		return sfng_damaged(why, wl,
		                    "interface block at offset %llu has "
		                    "if_tsresol 0x%02x, finer than 64 bits "
		                    "can count",
		                    (unsigned long long)at, v);
	c->units = c->pow2 ? 1ull << c->exp : sfng_pow10[c->exp];
	return PKX_OK;
}

/* The options of an interface block that matter for export. */
static pkx_result sfng_if_options(sfng_reader *r, const sfng_block *b,
                                  pkx_interface *ifc, sfng_clock *clk,
                                  char *why, size_t wl)
{
	size_t off = 8;

	while (b->body_len - off >= 4) {
		uint16_t code = sfng_u16(r, b->body + off);
		uint16_t olen = sfng_u16(r, b->body + off + 2);
		const uint8_t *v = b->body + off + 4;

		if (code == 0)
			break;
		if (olen > b->body_len - off - 4)
			return sfng_damaged(
			    why, wl,
			    "option %u of the interface block at offset "
			    "%llu overruns the block",
			    code, (unsigned long long)b->offset);
		if (code == SFNG_IF_NAME) {
			size_t n = olen < PKX_IFNAME_MAX - 1
			               ? olen
			               : PKX_IFNAME_MAX - 1;

			memcpy(ifc->name, v, n);
			ifc->name[n] = '\0'; /* a NUL inside ends it early */
		} else if (code == SFNG_IF_TSRESOL && olen >= 1) {
			if (sfng_set_tsresol(clk, v[0], b->offset, why, wl) !=
			    PKX_OK)
				return PKX_ERROR;
			ifc->tsresol = v[0];
		} else if (code == SFNG_IF_TSOFF && olen == 8) {
			clk->offset_s = (int64_t)sfng_u64(r, v);
		} else if (code == SFNG_IF_FCSLEN && olen >= 1 &&
		           v[0] % 16 == 0 && v[0] / 16 <= 15 && v[0]) {
			ifc->linktype |=
			    SFNG_FCS_PRESENT |
			    ((uint32_t)(v[0] / 16) << SFNG_FCS_SHIFT);
		}
		off += 4 + (size_t)olen + ((4 - (olen & 3)) & 3);
		if (off > b->body_len)
			break; /* the last option's padding is missing */
	}
	return PKX_OK;
}

static pkx_result sfng_interface(sfng_reader *r, const sfng_block *b, char *why,
                                 size_t wl)
{
	pkx_interface ifc;
	sfng_clock clk = {1000000u, 0, 6, 0};

	if (b->body_len < 8)
		return sfng_damaged(why, wl,
		                    "interface block at offset %llu is too "
		                    "short",
		                    (unsigned long long)b->offset);
	memset(&ifc, 0, sizeof(ifc));
	ifc.linktype = sfng_u16(r, b->body);
	ifc.snaplen = sfng_u32(r, b->body + 4);
	ifc.tsresol = 6; /* the default when the option is absent */
	if (sfng_if_options(r, b, &ifc, &clk, why, wl) != PKX_OK)
		return PKX_ERROR;
	if (r->n_ifs == r->cap_ifs) {
		size_t cap = r->cap_ifs ? r->cap_ifs * 2 : 4;
		pkx_interface *ifs = realloc(r->ifs, cap * sizeof(*ifs));
		sfng_clock *clocks;

		if (!ifs)
			return sfng_damaged(why, wl, "out of memory");
		r->ifs = ifs;
		clocks = realloc(r->clocks, cap * sizeof(*clocks));
		if (!clocks)
			return sfng_damaged(why, wl, "out of memory");
		r->clocks = clocks;
		r->cap_ifs = cap;
	}
	r->ifs[r->n_ifs] = ifc;
	r->clocks[r->n_ifs] = clk;
	r->n_ifs++;
	r->section_count++;
	return PKX_OK;
}

/* Exact conversion: whole seconds, then the remainder scaled with 128-bit
 * arithmetic, truncated toward zero. */
static uint64_t sfng_to_ns(const sfng_clock *c, uint64_t t)
{
	uint64_t sec, rem, frac;

	if (c->offset_s == 0 && !c->pow2) {
		if (c->exp == 9)
			return t;
		if (c->exp == 6)
			return t * 1000u;
	}
	sec = t / c->units;
	rem = t % c->units;
	if (c->pow2)
		frac = (uint64_t)(((unsigned __int128)rem * SFNG_NS) >> c->exp);
	else if (c->exp <= 9)
		frac = rem * sfng_pow10[9 - c->exp];
	else
		frac = rem / sfng_pow10[c->exp - 9];
	return (sec + (uint64_t)c->offset_s) * SFNG_NS + frac;
}

static pkx_result sfng_packet(sfng_reader *r, const sfng_block *b,
                              pkx_packet *pkt, char *why, size_t wl)
{
	uint32_t id = 0, caplen, wirelen;
	uint64_t t = 0;
	size_t fixed = b->type == SFNG_BT_SPB ? 4 : 20;
	const pkx_interface *ifc;

	if (b->body_len < fixed)
		return sfng_damaged(why, wl,
		                    "packet block at offset %llu is too short",
		                    (unsigned long long)b->offset);
	if (b->type == SFNG_BT_SPB) {
		wirelen = caplen = sfng_u32(r, b->body);
	} else {
		id = b->type == SFNG_BT_PB ? sfng_u16(r, b->body)
		                           : sfng_u32(r, b->body);
		t = (uint64_t)sfng_u32(r, b->body + 4) << 32 |
		    sfng_u32(r, b->body + 8);
		caplen = sfng_u32(r, b->body + 12);
		wirelen = sfng_u32(r, b->body + 16);
	}
	if (id >= r->section_count)
		return sfng_damaged(why, wl,
		                    "packet block at offset %llu is on "
		                    "interface %u, which its section does not "
		                    "describe",
		                    (unsigned long long)b->offset, id);
	ifc = &r->ifs[r->section_first + id];
	if (b->type == SFNG_BT_SPB) {
		/* Its data is what the snap length kept of the packet. */
		if (ifc->snaplen && caplen > ifc->snaplen)
			caplen = ifc->snaplen;
		if (caplen > b->body_len - fixed)
			caplen = (uint32_t)(b->body_len - fixed);
	} else if (caplen > b->body_len - fixed) {
		return sfng_damaged(why, wl,
		                    "packet block at offset %llu says %u "
		                    "bytes were captured but holds %zu",
		                    (unsigned long long)b->offset, caplen,
		                    b->body_len - fixed);
	}
	if (ifc->snaplen && caplen > ifc->snaplen)
		return sfng_damaged(why, wl,
		                    "packet block at offset %llu holds %u "
		                    "bytes, more than the snap length %u of "
		                    "its interface",
		                    (unsigned long long)b->offset, caplen,
		                    ifc->snaplen);
	pkt->ts_ns = sfng_to_ns(&r->clocks[r->section_first + id], t);
	pkt->caplen = caplen;
	pkt->wirelen = wirelen;
	pkt->ifindex = (uint32_t)(r->section_first + id);
	pkt->reserved = 0;
	pkt->data = b->body + fixed;
	return PKX_OK;
}

static int sfng_is_packet(uint32_t type)
{
	return type == SFNG_BT_EPB || type == SFNG_BT_SPB || type == SFNG_BT_PB;
}

/* Handles every block up to the next packet block, which stays unread. */
static pkx_result sfng_skip_to_packet(sfng_reader *r, sfng_block *b, char *why,
                                      size_t wl)
{
	for (;;) {
		pkx_result res = sfng_peek(r, b, why, wl);

		if (res != PKX_OK)
			return res;
		if (sfng_is_packet(b->type))
			return PKX_OK;
		if (b->type == SFNG_BT_SHB)
			res = sfng_section(r, b, why, wl);
		else if (b->type == SFNG_BT_IDB)
			res = sfng_interface(r, b, why, wl);
		if (res != PKX_OK)
			return res;
		r->pos += b->total;
	}
}

pkx_result sfng_next(sfng_reader *r, pkx_packet *pkt, char *why, size_t len)
{
	sfng_block b;
	pkx_result res = sfng_skip_to_packet(r, &b, why, len);

	if (res != PKX_OK)
		return res;
	if (sfng_packet(r, &b, pkt, why, len) != PKX_OK)
		return PKX_ERROR;
	/* The data stays in the buffer until the next fill moves it. */
	r->pos += b.total;
	return PKX_OK;
}

sfng_reader *sfng_open(int fd, uint64_t file_size, char *why, size_t len)
{
	sfng_reader *r = calloc(1, sizeof(*r));
	sfng_block b;
	pkx_result res;

	if (!r || !(r->buf = malloc(SFNG_BUFFER))) {
		free(r);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->file_size = file_size ? file_size : UINT64_MAX; /* 0: unknown */
	r->cap = SFNG_BUFFER;
	res = sfng_peek(r, &b, why, len);
	if (res == PKX_OK && b.type != SFNG_BT_SHB)
		res = sfng_damaged(why, len, "not a pcapng file");
	else if (res == PKX_END)
		res = sfng_damaged(why, len, "empty file");
	if (res == PKX_OK) {
		res = sfng_skip_to_packet(r, &b, why, len);
		if (res == PKX_END)
			res = PKX_OK;
	}
	if (res == PKX_OK && r->n_ifs == 0)
		res = sfng_damaged(why, len,
		                   "no interface is described before the "
		                   "first packet");
	if (res != PKX_OK) {
		sfng_close(r);
		return NULL;
	}
	return r;
}

const pkx_interface *sfng_interfaces(const sfng_reader *r, size_t *n)
{
	*n = r->n_ifs;
	return r->ifs;
}

void sfng_seek(sfng_reader *r, uint64_t offset)
{
	r->buf_off = offset;
	r->pos = r->len = 0;
}

uint64_t sfng_position(const sfng_reader *r)
{
	return r->buf_off + r->pos;
}

void sfng_close(sfng_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->ifs);
	free(r->clocks);
	free(r);
}
