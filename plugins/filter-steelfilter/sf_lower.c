/* SteelFilter lowering: parse tree -> trees of libpcap primitives (one per
 * number of VLAN tags on Ethernet, one for other link types), constants
 * folded, and the libpcap expression text of those trees. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steelfilter.h"

/* ------------------------------------------------------------ folding */

static int32_t sf_const(sf_expr *e, int value)
{
	return sf_node_new(e, value ? SF_N_TRUE : SF_N_FALSE);
}

static int32_t sf_not(sf_expr *e, int32_t c)
{
	int32_t id;

	if (c < 0)
		return -1;
	if (e->nodes[c].kind == SF_N_TRUE || e->nodes[c].kind == SF_N_FALSE)
		return sf_const(e, e->nodes[c].kind == SF_N_FALSE);
	id = sf_node_new(e, SF_N_NOT);
	if (id >= 0)
		e->nodes[id].child = c;
	return id;
}

/* An n-ary AND or OR of already lowered children, folded: `absorbing` is
 * FALSE for AND, TRUE for OR. */
typedef struct sf_join {
	sf_kind kind;
	int32_t id, last;
	int n, absorbed;
} sf_join;

static void sf_join_add(sf_expr *e, sf_join *j, int32_t c)
{
	sf_kind neutral = j->kind == SF_N_AND ? SF_N_TRUE : SF_N_FALSE;

	if (c < 0 || j->id < 0) {
		j->id = -1;
		return;
	}
	if (e->nodes[c].kind == neutral)
		return;
	if (e->nodes[c].kind == SF_N_TRUE || e->nodes[c].kind == SF_N_FALSE) {
		j->absorbed = 1;
		return;
	}
	if (j->n++ == 0)
		e->nodes[j->id].child = c;
	else
		e->nodes[j->last].next = c;
	e->nodes[c].next = -1;
	j->last = c;
}

static int32_t sf_join_end(sf_expr *e, sf_join *j)
{
	if (j->id < 0)
		return -1;
	if (j->absorbed)
		return sf_const(e, j->kind == SF_N_OR);
	if (j->n == 0)
		return sf_const(e, j->kind == SF_N_AND);
	if (j->n == 1)
		return e->nodes[j->id].child;
	return j->id;
}

static void sf_join_start(sf_expr *e, sf_join *j, sf_kind kind)
{
	memset(j, 0, sizeof(*j));
	j->kind = kind;
	j->id = sf_node_new(e, kind);
}

/* -------------------------------------------------------------- atoms */

static int32_t sf_atom(sf_expr *e, sf_kind kind, const sf_node *cmp, sf_dir dir)
{
	int32_t id = sf_node_new(e, kind);
	sf_node *n;

	if (id < 0)
		return -1;
	n = &e->nodes[id];
	n->op = cmp->op;
	n->dir = (uint8_t)dir;
	n->lo = cmp->lo;
	n->prefix = cmp->prefix;
	memcpy(n->addr, cmp->addr, sizeof(n->addr));
	return id;
}

/* A numeric comparison no value of `max` bits can satisfy. */
static int sf_never(const sf_node *c, uint32_t max)
{
	return (c->op == SF_OP_LT && c->lo == 0) ||
	       (c->op == SF_OP_GT && c->lo >= max);
}

static int32_t sf_port(sf_expr *e, const sf_node *c, int proto, sf_dir dir)
{
	uint32_t lo = 0, hi = 65535;
	int32_t id;

	switch (c->op) {
	case SF_OP_EQ:
		lo = hi = c->lo;
		break;
	case SF_OP_LT:
		if (c->lo == 0)
			return sf_const(e, 0);
		hi = c->lo - 1;
		break;
	case SF_OP_LE:
		hi = c->lo;
		break;
	case SF_OP_GT:
		if (c->lo >= 65535)
			return sf_const(e, 0);
		lo = c->lo + 1;
		break;
	default:
		lo = c->lo;
		break;
	}
	id = sf_atom(e, SF_A_PORT, c, dir);
	if (id >= 0) {
		e->nodes[id].sub = (uint8_t)proto;
		e->nodes[id].lo = lo;
		e->nodes[id].hi = hi;
	}
	return id;
}

static int32_t sf_pair(sf_expr *e, sf_kind kind, int32_t a, int32_t b)
{
	sf_join j;

	sf_join_start(e, &j, kind);
	sf_join_add(e, &j, a);
	sf_join_add(e, &j, b);
	return sf_join_end(e, &j);
}

static sf_dir sf_dir_of(sf_field f)
{
	switch (f) {
	case SF_F_IP_SRC:
	case SF_F_IP6_SRC:
	case SF_F_TCP_SRCPORT:
	case SF_F_UDP_SRCPORT:
	case SF_F_ETH_SRC:
		return SF_DIR_SRC;
	case SF_F_IP_DST:
	case SF_F_IP6_DST:
	case SF_F_TCP_DSTPORT:
	case SF_F_UDP_DSTPORT:
	case SF_F_ETH_DST:
		return SF_DIR_DST;
	default:
		return SF_DIR_EITHER;
	}
}

static int32_t sf_vlan_id(sf_expr *e, const sf_node *c, int tags)
{
	sf_join j;
	int t;

	sf_join_start(e, &j, SF_N_OR);
	for (t = 0; t < tags; t++) {
		int32_t a = sf_never(c, 4095) ? sf_const(e, 0)
		                              : sf_atom(e, SF_A_VLAN, c, 0);

		if (a >= 0 && e->nodes[a].kind == SF_A_VLAN)
			e->nodes[a].sub = (uint8_t)t;
		sf_join_add(e, &j, a);
	}
	return sf_join_end(e, &j);
}

/* One comparison (never !=) for frames with `tags` VLAN tags (-1: a
 * link type without tags or Ethernet addresses). */
static int32_t sf_lower_eq(sf_expr *e, const sf_node *c, int tags)
{
	sf_field f = (sf_field)c->sub;
	sf_dir dir = sf_dir_of(f);

	switch (f) {
	case SF_F_IP_ADDR:
	case SF_F_IP_SRC:
	case SF_F_IP_DST:
	case SF_F_IP6_ADDR:
	case SF_F_IP6_SRC:
	case SF_F_IP6_DST:
		return sf_atom(e, c->vtype == SF_V_IP6 ? SF_A_IP6 : SF_A_IP4, c,
		               dir);
	case SF_F_IP_PROTO:
		return sf_never(c, 255) ? sf_const(e, 0)
		                        : sf_atom(e, SF_A_IPPROTO, c, dir);
	case SF_F_TCP_PORT:
	case SF_F_TCP_SRCPORT:
	case SF_F_TCP_DSTPORT:
		return sf_port(e, c, 6, dir);
	case SF_F_UDP_PORT:
	case SF_F_UDP_SRCPORT:
	case SF_F_UDP_DSTPORT:
		return sf_port(e, c, 17, dir);
	case SF_F_TCP_IP: {
		sf_node proto = {.op = SF_OP_EQ, .lo = 6};
		int32_t a = sf_atom(e, SF_A_IPPROTO, &proto, dir);

		return sf_pair(e, SF_N_AND, a, sf_atom(e, SF_A_IP4, c, dir));
	}
	case SF_F_VLAN_ID:
		return sf_vlan_id(e, c, tags < 0 ? 0 : tags);
	case SF_F_ETH_ADDR:
	case SF_F_ETH_SRC:
	case SF_F_ETH_DST:
		return tags < 0 ? sf_const(e, 0)
		                : sf_atom(e, SF_A_ETHER, c, dir);
	case SF_F_FRAME_LEN:
		return sf_never(c, UINT32_MAX) ? sf_const(e, 0)
		                               : sf_atom(e, SF_A_LEN, c, dir);
	case SF_F_TCP_FLAGS:
		if (sf_never(c, 255))
			return sf_const(e, 0);
		return sf_pair(e, SF_N_OR, sf_atom(e, SF_A_TCPFLAGS4, c, dir),
		               sf_atom(e, SF_A_TCPFLAGS6, c, dir));
	}
	return -1;
}

static int32_t sf_lower_node(sf_expr *e, int32_t id, int tags)
{
	sf_node n = e->nodes[id]; /* a copy: the pool may move */
	sf_join j;
	int32_t c;

	switch ((sf_kind)n.kind) {
	case SF_N_AND:
	case SF_N_OR:
		sf_join_start(e, &j, (sf_kind)n.kind);
		for (c = n.child; c >= 0; c = e->nodes[c].next)
			sf_join_add(e, &j, sf_lower_node(e, c, tags));
		return sf_join_end(e, &j);
	case SF_N_NOT:
		return sf_not(e, sf_lower_node(e, n.child, tags));
	case SF_N_CMP:
		if (n.op == SF_OP_NE) {
			n.op = SF_OP_EQ;
			return sf_not(e, sf_lower_eq(e, &n, tags));
		}
		return sf_lower_eq(e, &n, tags);
	default:
		return -1;
	}
}

/* --------------------------------------------------------------- text */

typedef struct sf_buf {
	char *s;
	size_t len, cap;
	int oom;
} sf_buf;

static void sf_put(sf_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sf_put(sf_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0,
	              fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (!b->s || b->len + (size_t)n >= b->cap) {
		size_t cap = (b->cap ? b->cap : 256);
		char *grown;

		while (cap <= b->len + (size_t)n)
			cap *= 2;
		grown = realloc(b->s, cap);
		if (!grown) {
			b->oom = 1;
			return;
		}
		b->s = grown;
		b->cap = cap;
		va_start(ap, fmt);
		vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static const char *const sf_op_text[] = {"=", "!=", "<", "<=", ">", ">="};
static const char *const sf_dir_text[] = {"", "src ", "dst "};

static void sf_text_addr(sf_buf *b, const sf_node *n)
{
	uint8_t a[16] = {0};
	char s[INET6_ADDRSTRLEN];
	unsigned bits = n->kind == SF_A_IP6 ? 128 : 32, i;

	/* libpcap refuses a net with host bits set: clear them. */
	for (i = 0; i < bits / 8; i++) {
		unsigned keep = n->prefix > i * 8 ? n->prefix - i * 8 : 0;

		a[i] = keep >= 8 ? n->addr[i]
		                 : (uint8_t)(n->addr[i] & (0xff00 >> keep));
	}
	inet_ntop(bits == 128 ? AF_INET6 : AF_INET, a, s, sizeof(s));
	if (n->prefix == 0)
		sf_put(b, "%s", bits == 128 ? "ip6" : "ip");
	else if (n->prefix == bits)
		sf_put(b, "%s %shost %s", bits == 128 ? "ip6" : "ip",
		       sf_dir_text[n->dir], s);
	else
		sf_put(b, "%s %snet %s/%u", bits == 128 ? "ip6" : "ip",
		       sf_dir_text[n->dir], s, n->prefix);
}

/* greater/less compile to one comparison where `len op n` costs ten
 * instructions without the optimizer. */
static void sf_text_len(sf_buf *b, const sf_node *n)
{
	if (n->op == SF_OP_GT && n->lo < UINT32_MAX)
		sf_put(b, "(greater %u)", n->lo + 1);
	else if (n->op == SF_OP_GE)
		sf_put(b, "(greater %u)", n->lo);
	else if (n->op == SF_OP_LE)
		sf_put(b, "(less %u)", n->lo);
	else if (n->op == SF_OP_LT && n->lo > 0)
		sf_put(b, "(less %u)", n->lo - 1);
	else
		sf_put(b, "(len %s %u)", sf_op_text[n->op], n->lo);
}

static void sf_text(sf_buf *b, const sf_expr *e, int32_t id)
{
	const sf_node *n = &e->nodes[id];
	const char *op = sf_op_text[n->op];
	int32_t c;

	switch ((sf_kind)n->kind) {
	case SF_N_AND:
	case SF_N_OR:
		sf_put(b, "(");
		for (c = n->child; c >= 0; c = e->nodes[c].next) {
			if (c != n->child)
				sf_put(b,
				       n->kind == SF_N_AND ? " and " : " or ");
			sf_text(b, e, c);
		}
		sf_put(b, ")");
		break;
	case SF_N_NOT:
		sf_put(b, "not ");
		sf_text(b, e, n->child);
		break;
	case SF_A_IP4:
	case SF_A_IP6:
		sf_put(b, "(");
		sf_text_addr(b, n);
		sf_put(b, ")");
		break;
	case SF_A_IPPROTO:
		if (n->op == SF_OP_EQ)
			sf_put(b, "(ip proto %u)", n->lo);
		else
			sf_put(b, "(ip[9] %s %u)", op, n->lo);
		break;
	case SF_A_PORT:
		if (n->lo == n->hi)
			sf_put(b, "(%s %sport %u)", n->sub == 6 ? "tcp" : "udp",
			       sf_dir_text[n->dir], n->lo);
		else
			sf_put(b, "(%s %sportrange %u-%u)",
			       n->sub == 6 ? "tcp" : "udp", sf_dir_text[n->dir],
			       n->lo, n->hi);
		break;
	case SF_A_VLAN:
		sf_put(b, "(ether[%u:2] & 0xfff %s %u)", 14 + 4 * n->sub, op,
		       n->lo);
		break;
	case SF_A_ETHER:
		sf_put(b, "(ether %shost %02x:%02x:%02x:%02x:%02x:%02x)",
		       sf_dir_text[n->dir], n->addr[0], n->addr[1], n->addr[2],
		       n->addr[3], n->addr[4], n->addr[5]);
		break;
	case SF_A_LEN:
		sf_text_len(b, n);
		break;
	case SF_A_TCPFLAGS4:
		sf_put(b, "(tcp[13] %s %u)", op, n->lo);
		break;
	case SF_A_TCPFLAGS6:
		sf_put(b, "(ip6[6] = 6 and ip6[53] %s %u)", op, n->lo);
		break;
	default: /* constants are folded away below the root */
		break;
	}
}

static int sf_is(const sf_expr *e, int32_t id, sf_kind kind)
{
	return e->nodes[id].kind == kind;
}

/* "The ethertype here is no VLAN TPID": libpcap reads it where the
 * `vlan` keywords before it have moved the link header's end. */
static void sf_text_untagged(sf_buf *b)
{
	sf_put(b, "not (ether proto 0x8100 or ether proto 0x88a8 or "
	          "ether proto 0x9100)");
}

/* (G0 and T0) or (vlan and ((G1 and T1) or (vlan and T2))): each `vlan`
 * moves libpcap's offsets for what follows it, so the nesting puts each
 * tree behind exactly its number of tags; the guards keep the levels
 * apart, so a negation at one level says nothing about another. */
static void sf_text_eth(sf_buf *b, const sf_expr *e)
{
	int has0 = !sf_is(e, e->eth[0], SF_N_FALSE);
	int has1 = !sf_is(e, e->eth[1], SF_N_FALSE);
	int has2 = !sf_is(e, e->eth[2], SF_N_FALSE);

	if (has0) {
		sf_put(b, "(");
		sf_text_untagged(b);
		if (!sf_is(e, e->eth[0], SF_N_TRUE)) {
			sf_put(b, " and ");
			sf_text(b, e, e->eth[0]);
		}
		sf_put(b, ")");
	}
	if (!has1 && !has2)
		return;
	sf_put(b, "%s(vlan and (", has0 ? " or " : "");
	if (has1) {
		sf_put(b, "(");
		sf_text_untagged(b);
		if (!sf_is(e, e->eth[1], SF_N_TRUE)) {
			sf_put(b, " and ");
			sf_text(b, e, e->eth[1]);
		}
		sf_put(b, ")");
	}
	if (has2) {
		sf_put(b, "%s(vlan", has1 ? " or " : "");
		if (!sf_is(e, e->eth[2], SF_N_TRUE)) {
			sf_put(b, " and ");
			sf_text(b, e, e->eth[2]);
		}
		sf_put(b, ")");
	}
	sf_put(b, "))");
}

/* The text of a single tree; NULL for FALSE, "" for TRUE. */
static char *sf_text_tree(const sf_expr *e, int32_t root, int *oom)
{
	sf_buf b = {0};

	if (sf_is(e, root, SF_N_FALSE))
		return NULL;
	sf_put(&b, "%s", "");
	if (!sf_is(e, root, SF_N_TRUE))
		sf_text(&b, e, root);
	if (b.oom) {
		free(b.s);
		*oom = 1;
		return NULL;
	}
	return b.s;
}

/* Nonzero when a field of the tree depends on the network header. */
static int sf_needs_tags(const sf_expr *e)
{
	size_t i;

	for (i = 0; i < e->n_nodes; i++) {
		const sf_node *n = &e->nodes[i];

		if (n->kind == SF_N_CMP && n->sub != SF_F_FRAME_LEN &&
		    n->sub != SF_F_ETH_ADDR && n->sub != SF_F_ETH_SRC &&
		    n->sub != SF_F_ETH_DST)
			return 1;
	}
	return 0;
}

int sf_lower(sf_expr *e)
{
	int t, oom = 0;

	e->tagged = sf_needs_tags(e);
	for (t = 0; t <= SF_TAGS_MAX; t++) {
		if (t > 0 && !e->tagged) {
			e->eth[t] = e->eth[0];
			continue;
		}
		e->eth[t] = sf_lower_node(e, e->ast, t);
		if (e->eth[t] < 0)
			return -1;
	}
	e->plain = sf_lower_node(e, e->ast, -1);
	if (e->plain < 0)
		return -1;
	if (e->tagged && !(sf_is(e, e->eth[0], SF_N_FALSE) &&
	                   sf_is(e, e->eth[1], SF_N_FALSE) &&
	                   sf_is(e, e->eth[2], SF_N_FALSE))) {
		sf_buf b = {0};

		sf_text_eth(&b, e);
		if (b.oom) {
			free(b.s);
			return -1;
		}
		e->bpf_eth = b.s;
	} else if (!e->tagged) {
		e->bpf_eth = sf_text_tree(e, e->eth[0], &oom);
	}
	e->bpf_plain = sf_text_tree(e, e->plain, &oom);
	return oom ? -1 : 0;
}

const char *sf_bpf_for(const sf_expr *e, uint32_t linktype)
{
	return linktype == SF_LINKTYPE_ETHERNET ? e->bpf_eth : e->bpf_plain;
}
