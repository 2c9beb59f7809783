/* SteelFilter evaluator: matches the lowered trees on packet bytes, for link
 * types or expressions BPF is not used for.  Each atom reads the packet in
 * the order libpcap's code for it does, and a read past the captured bytes
 * rejects the packet outright, as a BPF load out of bounds does, so both
 * paths give the same answer on truncated packets too. */
#include <string.h>

#include "steelfilter.h"

#define SF_ABORT (-1)

typedef struct sf_pkt {
	const uint8_t *data;
	uint32_t caplen, wirelen;
	int raw;         /* raw IP: the version nibble says v4 or v6 */
	uint32_t et_off; /* where the ethertype is (not raw) */
	uint32_t nh_off; /* where the network header starts */
} sf_pkt;

static int sf_ld8(const sf_pkt *p, uint64_t off, uint32_t *v)
{
	if (off >= p->caplen)
		return SF_ABORT;
	*v = p->data[off];
	return 0;
}

static int sf_ld16(const sf_pkt *p, uint64_t off, uint32_t *v)
{
	if (off + 2 > p->caplen)
		return SF_ABORT;
	*v = (uint32_t)p->data[off] << 8 | p->data[off + 1];
	return 0;
}

static int sf_ld32(const sf_pkt *p, uint64_t off, uint32_t *v)
{
	if (off + 4 > p->caplen)
		return SF_ABORT;
	*v = (uint32_t)p->data[off] << 24 | (uint32_t)p->data[off + 1] << 16 |
	     (uint32_t)p->data[off + 2] << 8 | p->data[off + 3];
	return 0;
}

static int sf_cmp(uint32_t v, sf_op op, uint32_t k)
{
	switch (op) {
	case SF_OP_EQ:
		return v == k;
	case SF_OP_LT:
		return v < k;
	case SF_OP_LE:
		return v <= k;
	case SF_OP_GT:
		return v > k;
	case SF_OP_GE:
		return v >= k;
	default:
		return 0;
	}
}

/* 1 when the network header is IPv6 (v6) or IPv4 (!v6), 0 when not. */
static int sf_l3(const sf_pkt *p, int v6)
{
	uint32_t v;

	if (p->raw) {
		if (sf_ld8(p, 0, &v))
			return SF_ABORT;
		return (v & 0xf0) == (v6 ? 0x60u : 0x40u);
	}
	if (sf_ld16(p, p->et_off, &v))
		return SF_ABORT;
	return v == (v6 ? 0x86ddu : 0x0800u);
}

/* Compares `words` 32-bit words at `off` with addr under a prefix, in
 * order, every word read (libpcap's unoptimized code reads them all). */
static int sf_addr_at(const sf_pkt *p, uint64_t off, const uint8_t *addr,
                      unsigned words, unsigned prefix)
{
	unsigned w;

	for (w = 0; w < words; w++) {
		unsigned bits = prefix > w * 32 ? prefix - w * 32 : 0;
		uint32_t mask = bits >= 32 ? 0xffffffffu
		                : bits     ? ~(0xffffffffu >> bits)
		                           : 0;
		uint32_t want = (uint32_t)addr[4 * w] << 24 |
		                (uint32_t)addr[4 * w + 1] << 16 |
		                (uint32_t)addr[4 * w + 2] << 8 |
		                addr[4 * w + 3];
		uint32_t v;

		if (sf_ld32(p, off + 4 * w, &v))
			return SF_ABORT;
		if ((v & mask) != (want & mask))
			return 0;
	}
	return 1;
}

static int sf_ip_addr(const sf_pkt *p, const sf_node *n)
{
	int v6 = n->kind == SF_A_IP6;
	unsigned words = v6 ? 4 : 1;
	uint64_t src = p->nh_off + (v6 ? 8 : 12);
	uint64_t dst = p->nh_off + (v6 ? 24 : 16);
	int r = sf_l3(p, v6);

	if (r != 1 || n->prefix == 0)
		return r;
	if (n->dir != SF_DIR_DST) {
		r = sf_addr_at(p, src, n->addr, words, n->prefix);
		if (r != 0 || n->dir == SF_DIR_SRC)
			return r;
	}
	return sf_addr_at(p, dst, n->addr, words, n->prefix);
}

/* Where the transport header of an IPv4 packet of protocol `proto` starts:
 * 1 and *off, 0 when not that protocol or not a first fragment. */
static int sf_l4_ip4(const sf_pkt *p, unsigned proto, uint64_t *off)
{
	uint32_t v;

	if (sf_ld8(p, p->nh_off + 9, &v))
		return SF_ABORT;
	if (v != proto)
		return 0;
	if (sf_ld16(p, p->nh_off + 6, &v))
		return SF_ABORT;
	if (v & 0x1fff)
		return 0;
	if (sf_ld8(p, p->nh_off, &v))
		return SF_ABORT;
	*off = p->nh_off + 4 * (v & 0xf);
	return 1;
}

static int sf_l4_ip6(const sf_pkt *p, unsigned proto, uint64_t *off)
{
	uint32_t v;

	if (sf_ld8(p, p->nh_off + 6, &v))
		return SF_ABORT;
	*off = p->nh_off + 40;
	return v == proto;
}

static int sf_in_range(const sf_pkt *p, uint64_t off, const sf_node *n)
{
	uint32_t v;

	if (sf_ld16(p, off, &v))
		return SF_ABORT;
	return v >= n->lo && v <= n->hi;
}

static int sf_port(const sf_pkt *p, const sf_node *n)
{
	uint64_t off = 0;
	int r = sf_l3(p, 1);

	if (r == 1)
		r = sf_l4_ip6(p, n->sub, &off);
	else if (r == 0 && (r = sf_l3(p, 0)) == 1)
		r = sf_l4_ip4(p, n->sub, &off);
	if (r != 1)
		return r;
	if (n->dir != SF_DIR_DST) {
		r = sf_in_range(p, off, n);
		if (r != 0 || n->dir == SF_DIR_SRC)
			return r;
	}
	return sf_in_range(p, off + 2, n);
}

/* Source (6..11) then destination (0..5), each read as a word at +2 and
 * then a halfword, as libpcap does. */
static int sf_ether(const sf_pkt *p, const sf_node *n)
{
	if (p->raw)
		return 0;
	if (n->dir != SF_DIR_DST) {
		if (p->caplen < 12)
			return SF_ABORT;
		if (memcmp(p->data + 6, n->addr, 6) == 0)
			return 1;
		if (n->dir == SF_DIR_SRC)
			return 0;
	}
	if (p->caplen < 6)
		return SF_ABORT;
	return memcmp(p->data, n->addr, 6) == 0;
}

static int sf_atom(const sf_pkt *p, const sf_node *n)
{
	uint64_t off = 0;
	uint32_t v;
	int r;

	switch ((sf_kind)n->kind) {
	case SF_A_IP4:
	case SF_A_IP6:
		return sf_ip_addr(p, n);
	case SF_A_IPPROTO:
		if ((r = sf_l3(p, 0)) != 1)
			return r;
		if (sf_ld8(p, p->nh_off + 9, &v))
			return SF_ABORT;
		return sf_cmp(v, n->op, n->lo);
	case SF_A_PORT:
		return sf_port(p, n);
	case SF_A_VLAN:
		if (sf_ld16(p, 14 + 4 * (uint64_t)n->sub, &v))
			return SF_ABORT;
		return sf_cmp(v & 0xfff, n->op, n->lo);
	case SF_A_ETHER:
		return sf_ether(p, n);
	case SF_A_LEN:
		return sf_cmp(p->wirelen, n->op, n->lo);
	case SF_A_TCPFLAGS4:
		if ((r = sf_l3(p, 0)) != 1 || (r = sf_l4_ip4(p, 6, &off)) != 1)
			return r;
		if (sf_ld8(p, off + 13, &v))
			return SF_ABORT;
		return sf_cmp(v, n->op, n->lo);
	case SF_A_TCPFLAGS6:
		if ((r = sf_l3(p, 1)) != 1 || (r = sf_l4_ip6(p, 6, &off)) != 1)
			return r;
		if (sf_ld8(p, off + 13, &v))
			return SF_ABORT;
		return sf_cmp(v, n->op, n->lo);
	default:
		return SF_ABORT;
	}
}

/* 1, 0, or SF_ABORT, short-circuiting left to right as the BPF code. */
static int sf_tree(const sf_expr *e, int32_t id, const sf_pkt *p)
{
	const sf_node *n = &e->nodes[id];
	int32_t c;
	int r;

	switch ((sf_kind)n->kind) {
	case SF_N_TRUE:
		return 1;
	case SF_N_FALSE:
		return 0;
	case SF_N_AND:
		for (c = n->child; c >= 0; c = e->nodes[c].next)
			if ((r = sf_tree(e, c, p)) != 1)
				return r;
		return 1;
	case SF_N_OR:
		for (c = n->child; c >= 0; c = e->nodes[c].next)
			if ((r = sf_tree(e, c, p)) != 0)
				return r;
		return 0;
	case SF_N_NOT:
		r = sf_tree(e, n->child, p);
		return r == SF_ABORT ? r : !r;
	default:
		return sf_atom(p, n);
	}
}

static int sf_is_tpid(uint32_t et)
{
	return et == 0x8100 || et == 0x88a8 || et == 0x9100;
}

static int sf_false(const sf_expr *e, int32_t id)
{
	return e->nodes[id].kind == SF_N_FALSE;
}

/* Ethernet: find the number of tags as the generated BPF does, then match
 * that level's tree. */
static int sf_eval_eth(const sf_expr *e, sf_pkt *p)
{
	uint32_t et;
	int tags = 0;

	if (!e->tagged)
		return sf_tree(e, e->eth[0], p);
	if (sf_false(e, e->eth[0]) && sf_false(e, e->eth[1]) &&
	    sf_false(e, e->eth[2]))
		return 0;
	if (sf_ld16(p, 12, &et))
		return SF_ABORT;
	if (sf_is_tpid(et)) {
		if (sf_false(e, e->eth[1]) && sf_false(e, e->eth[2]))
			return 0;
		if (sf_ld16(p, 16, &et))
			return SF_ABORT;
		tags = sf_is_tpid(et) ? 2 : 1;
	}
	p->et_off = 12 + 4 * (uint32_t)tags;
	p->nh_off = 14 + 4 * (uint32_t)tags;
	return sf_tree(e, e->eth[tags], p);
}

int sf_eval_supports(uint32_t linktype)
{
	return linktype == SF_LINKTYPE_ETHERNET ||
	       linktype == SF_LINKTYPE_RAW || linktype == SF_LINKTYPE_LINUX_SLL;
}

int sf_eval(const sf_expr *e, uint32_t linktype, const uint8_t *data,
            uint32_t caplen, uint32_t wirelen)
{
	sf_pkt p = {.data = data, .caplen = caplen, .wirelen = wirelen};
	int r;

	switch (linktype) {
	case SF_LINKTYPE_ETHERNET:
		r = sf_eval_eth(e, &p);
		break;
	case SF_LINKTYPE_RAW:
		p.raw = 1;
		r = sf_tree(e, e->plain, &p);
		break;
	case SF_LINKTYPE_LINUX_SLL:
		p.et_off = 14;
		p.nh_off = 16;
		r = sf_tree(e, e->plain, &p);
		break;
	default:
		/* Only a constant tree is matched on other link types. */
		r = e->nodes[e->plain].kind == SF_N_TRUE;
		break;
	}
	return r == 1;
}
