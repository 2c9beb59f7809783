/* Reading a display filter's text before dissection (see ws_prefilter.h).
 *
 * The pre-filter's rule: a packet is skipped only when it is *plain* and
 * its headers fail the test.  Plain means: an Ethernet frame (not Cisco
 * ISL), at most two VLAN tags, then IPv4 without fragmentation or IPv6
 * whose first next header is TCP or UDP, the whole TCP (20 bytes) or UDP
 * (8 bytes) header captured, and neither port one on which Wireshark
 * decodes a packet carried inside (the helper lists those from its own
 * dissector tables).  In such a packet the only TCP, UDP and IPv4 layers
 * are the outer ones, whose fields are read from fixed places and never
 * depend on other packets; the tests are `==` joined by && and ||, so a
 * failed test here is a failed test in Wireshark.  Everything else is
 * dissected. */
#include "ws_prefilter.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ tokenizer */

enum { TOK_END, TOK_WORD, TOK_STRING, TOK_OP, TOK_BAD };

typedef struct wsf_lexer {
	const char *p;
	char text[128];
	int type;
} wsf_lexer;

static int wsf_word_char(int c)
{
	return isalnum(c) || c == '_' || c == '.' || c == ':' || c == '/';
}

static void wsf_next(wsf_lexer *lx)
{
	const char *p = lx->p;
	size_t n = 0;

	while (isspace((unsigned char)*p))
		p++;
	lx->text[0] = '\0';
	if (!*p) {
		lx->type = TOK_END;
	} else if (*p == '"' || *p == '\'') {
		char q = *p++;

		while (*p && *p != q)
			p += (*p == '\\' && p[1]) ? 2 : 1;
		lx->type = *p ? TOK_STRING : TOK_BAD;
		if (*p)
			p++;
	} else if (wsf_word_char((unsigned char)*p)) {
		while (wsf_word_char((unsigned char)*p) &&
		       n + 1 < sizeof(lx->text))
			lx->text[n++] = *p++;
		lx->text[n] = '\0';
		lx->type =
		    wsf_word_char((unsigned char)*p) ? TOK_BAD : TOK_WORD;
	} else if (strchr("=!<>~&|()[]{},-", *p)) {
		/* Operators are one or two of these characters. */
		lx->text[n++] = *p++;
		if (*p && strchr("=&|", *p) && strchr("=!<>~&|", lx->text[0]))
			lx->text[n++] = *p++;
		lx->text[n] = '\0';
		lx->type = TOK_OP;
	} else {
		lx->type = TOK_BAD; /* macros, raw fields, anything else */
	}
	lx->p = p;
}

static int wsf_in(const char *word, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(word, *list) == 0)
			return 1;
	return 0;
}

/* ----------------------------------------------------------- frame only */

int wsf_frame_only(const char *expr)
{
	static const char *const keywords[] = {
	    "and",      "or",      "not",         "xor",    "eq",
	    "ne",       "gt",      "lt",          "ge",     "le",
	    "contains", "matches", "in",          "any_eq", "all_eq",
	    "any_ne",   "all_ne",  "bitwise_and", NULL};
	static const char *const functions[] = {"len",   "count",  "upper",
	                                        "lower", "string", NULL};
	/* Filled in by the frame dissector before it hands the packet on. */
	static const char *const fields[] = {"frame",
	                                     "frame.len",
	                                     "frame.cap_len",
	                                     "frame.number",
	                                     "frame.time",
	                                     "frame.time_epoch",
	                                     "frame.time_relative",
	                                     "frame.time_delta",
	                                     "frame.time_delta_displayed",
	                                     "frame.marked",
	                                     "frame.ignored",
	                                     NULL};
	wsf_lexer lx = {.p = expr};
	int fields_seen = 0;

	for (wsf_next(&lx); lx.type != TOK_END; wsf_next(&lx)) {
		const char *w = lx.text;

		if (lx.type == TOK_BAD)
			return 0;
		if (lx.type != TOK_WORD)
			continue;
		if (isdigit((unsigned char)w[0]) || strchr(w, ':'))
			continue; /* a number, bytes, an address */
		if (wsf_in(w, keywords))
			continue;
		if (wsf_in(w, functions) && *lx.p == '(')
			continue;
		if (!wsf_in(w, fields))
			return 0;
		fields_seen = 1;
	}
	return fields_seen;
}

/* ----------------------------------------------------------- pre-filter */

enum wsf_atom_kind {
	A_TCP_PORT,
	A_TCP_SRC,
	A_TCP_DST,
	A_UDP_PORT,
	A_UDP_SRC,
	A_UDP_DST,
	A_IP_ADDR,
	A_IP_SRC,
	A_IP_DST,
	A_TCP_FLAG,
};

typedef struct wsf_node {
	int op; /* '&', '|', or 'a' for an atom */
	struct wsf_node *l, *r;
	int kind;
	uint32_t value, mask; /* port, address, or flag bit */
	int flag_set;         /* A_TCP_FLAG: tested value */
} wsf_node;

struct wsf_prog {
	wsf_node *root;
	char *bpf;
};

static const struct {
	const char *name;
	int kind;
	uint32_t bit;
} wsf_fields[] = {
    {"tcp.port", A_TCP_PORT, 0},
    {"tcp.srcport", A_TCP_SRC, 0},
    {"tcp.dstport", A_TCP_DST, 0},
    {"udp.port", A_UDP_PORT, 0},
    {"udp.srcport", A_UDP_SRC, 0},
    {"udp.dstport", A_UDP_DST, 0},
    {"ip.addr", A_IP_ADDR, 0},
    {"ip.src", A_IP_SRC, 0},
    {"ip.dst", A_IP_DST, 0},
    {"tcp.flags.fin", A_TCP_FLAG, 0x01},
    {"tcp.flags.syn", A_TCP_FLAG, 0x02},
    {"tcp.flags.reset", A_TCP_FLAG, 0x04},
    {"tcp.flags.push", A_TCP_FLAG, 0x08},
    {"tcp.flags.ack", A_TCP_FLAG, 0x10},
    {"tcp.flags.urg", A_TCP_FLAG, 0x20},
};

static void wsf_free_node(wsf_node *n)
{
	if (!n)
		return;
	wsf_free_node(n->l);
	wsf_free_node(n->r);
	free(n);
}

/* A decimal number as display filters read it: no leading zero (that
 * would be octal), no sign.  -1 when not one. */
static long wsf_decimal(const char *s, long max)
{
	long v = 0;

	if (!isdigit((unsigned char)*s) || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

static int wsf_ipv4(const char *s, uint32_t *addr, uint32_t *mask)
{
	char buf[32], *slash, *part, *save = NULL;
	uint32_t a = 0;
	long bits = 32;
	size_t len = strlen(s);
	int n = 0;

	if (len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len + 1);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		bits = wsf_decimal(slash + 1, 32);
		if (bits < 0)
			return -1;
	}
	/* strtok_r would skip empty parts: refuse them first. */
	if (buf[0] == '\0' || buf[0] == '.' || strstr(buf, "..") ||
	    buf[strlen(buf) - 1] == '.')
		return -1;
	for (part = strtok_r(buf, ".", &save); part;
	     part = strtok_r(NULL, ".", &save)) {
		long o = wsf_decimal(part, 255);

		if (o < 0 || ++n > 4)
			return -1;
		a = a << 8 | (uint32_t)o;
	}
	if (n != 4)
		return -1;
	*mask = bits ? 0xffffffffu << (32 - bits) : 0;
	*addr = a & *mask;
	return 0;
}

static wsf_node *wsf_atom(wsf_lexer *lx)
{
	wsf_node *n;
	size_t i;

	if (lx->type != TOK_WORD)
		return NULL;
	for (i = 0; i < sizeof(wsf_fields) / sizeof(wsf_fields[0]); i++)
		if (strcmp(lx->text, wsf_fields[i].name) == 0)
			break;
	if (i == sizeof(wsf_fields) / sizeof(wsf_fields[0]))
		return NULL;
	wsf_next(lx);
	if (!(lx->type == TOK_OP && strcmp(lx->text, "==") == 0) &&
	    !(lx->type == TOK_WORD &&
	      (strcmp(lx->text, "eq") == 0 || strcmp(lx->text, "any_eq") == 0)))
		return NULL;
	wsf_next(lx);
	if (lx->type != TOK_WORD)
		return NULL;
	n = calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->op = 'a';
	n->kind = wsf_fields[i].kind;
	if (n->kind == A_TCP_FLAG) {
		long v = wsf_decimal(lx->text, 1);

		n->value = wsf_fields[i].bit;
		n->flag_set = (int)v;
		if (v < 0)
			goto bad;
	} else if (n->kind >= A_IP_ADDR) {
		if (wsf_ipv4(lx->text, &n->value, &n->mask) != 0)
			goto bad;
	} else {
		long v = wsf_decimal(lx->text, 65535);

		if (v < 0)
			goto bad;
		n->value = (uint32_t)v;
	}
	wsf_next(lx);
	return n;
bad:
	free(n);
	return NULL;
}

static wsf_node *wsf_or(wsf_lexer *lx, int depth);

static wsf_node *wsf_primary(wsf_lexer *lx, int depth)
{
	wsf_node *n;

	if (lx->type == TOK_OP && strcmp(lx->text, "(") == 0) {
		wsf_next(lx);
		n = wsf_or(lx, depth + 1);
		if (!n || lx->type != TOK_OP || strcmp(lx->text, ")") != 0) {
			wsf_free_node(n);
			return NULL;
		}
		wsf_next(lx);
		return n;
	}
	return wsf_atom(lx);
}

static int wsf_is(const wsf_lexer *lx, const char *op, const char *word)
{
	return (lx->type == TOK_OP && strcmp(lx->text, op) == 0) ||
	       (lx->type == TOK_WORD && strcmp(lx->text, word) == 0);
}

static wsf_node *wsf_join(int op, wsf_node *l, wsf_node *r)
{
	wsf_node *n;

	if (!l || !r || !(n = calloc(1, sizeof(*n)))) {
		wsf_free_node(l);
		wsf_free_node(r);
		return NULL;
	}
	n->op = op;
	n->l = l;
	n->r = r;
	return n;
}

static wsf_node *wsf_and(wsf_lexer *lx, int depth)
{
	wsf_node *n = wsf_primary(lx, depth);

	while (n && wsf_is(lx, "&&", "and")) {
		wsf_next(lx);
		n = wsf_join('&', n, wsf_primary(lx, depth));
	}
	return n;
}

static wsf_node *wsf_or(wsf_lexer *lx, int depth)
{
	wsf_node *n;

	if (depth > 32)
		return NULL;
	n = wsf_and(lx, depth);
	while (n && wsf_is(lx, "||", "or")) {
		wsf_next(lx);
		n = wsf_join('|', n, wsf_and(lx, depth));
	}
	return n;
}

static void wsf_append(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t n = strlen(s);

	if (!*buf)
		return;
	if (*len + n + 1 > *cap) {
		char *b;

		*cap = (*len + n + 1) * 2;
		b = realloc(*buf, *cap);
		if (!b) {
			free(*buf);
			*buf = NULL;
			return;
		}
		*buf = b;
	}
	memcpy(*buf + *len, s, n + 1);
	*len += n;
}

static void wsf_atom_bpf(const wsf_node *n, char *out, size_t size)
{
	static const char *const port_dir[] = {"", "src ", "dst "};
	uint32_t a = n->value;
	int bits = 0;

	while (bits < 32 && (n->mask << bits) != 0)
		bits++;
	if (n->kind <= A_TCP_DST)
		snprintf(out, size, "tcp %sport %u",
		         port_dir[n->kind - A_TCP_PORT], n->value);
	else if (n->kind <= A_UDP_DST)
		snprintf(out, size, "udp %sport %u",
		         port_dir[n->kind - A_UDP_PORT], n->value);
	else if (n->kind <= A_IP_DST)
		snprintf(out, size, "ip %snet %u.%u.%u.%u/%d",
		         port_dir[n->kind - A_IP_ADDR], a >> 24,
		         (a >> 16) & 255, (a >> 8) & 255, a & 255, bits);
	else
		snprintf(out, size,
		         "(tcp[13] & %u %s 0 or ip6[6] = 6 and "
		         "ip6[53] & %u %s 0)",
		         n->value, n->flag_set ? "!=" : "=", n->value,
		         n->flag_set ? "!=" : "=");
}

static void wsf_node_bpf(const wsf_node *n, char **buf, size_t *len,
                         size_t *cap)
{
	char atom[128];

	if (n->op == 'a') {
		wsf_atom_bpf(n, atom, sizeof(atom));
		wsf_append(buf, len, cap, atom);
		return;
	}
	wsf_append(buf, len, cap, "(");
	wsf_node_bpf(n->l, buf, len, cap);
	wsf_append(buf, len, cap, n->op == '&' ? " and " : " or ");
	wsf_node_bpf(n->r, buf, len, cap);
	wsf_append(buf, len, cap, ")");
}

wsf_prog *wsf_parse(const char *expr)
{
	wsf_lexer lx = {.p = expr};
	wsf_prog *prog;
	wsf_node *root;
	size_t len = 0, cap = 64;

	wsf_next(&lx);
	root = wsf_or(&lx, 0);
	if (!root || lx.type != TOK_END) {
		wsf_free_node(root);
		return NULL;
	}
	prog = calloc(1, sizeof(*prog));
	if (!prog) {
		wsf_free_node(root);
		return NULL;
	}
	prog->root = root;
	prog->bpf = malloc(cap);
	if (prog->bpf) {
		prog->bpf[0] = '\0';
		wsf_node_bpf(root, &prog->bpf, &len, &cap);
	}
	return prog;
}

void wsf_free(wsf_prog *prog)
{
	if (!prog)
		return;
	wsf_free_node(prog->root);
	free(prog->bpf);
	free(prog);
}

const char *wsf_bpf(const wsf_prog *prog)
{
	return prog->bpf ? prog->bpf : "";
}

/* ------------------------------------------------------- packet headers */

typedef struct wsf_headers {
	int ipv4;
	uint8_t proto; /* 6 or 17 */
	uint8_t tcp_flags;
	uint32_t src4, dst4;
	uint16_t sport, dport;
} wsf_headers;

static uint16_t wsf_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t wsf_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static int wsf_bit(const uint8_t *bits, uint16_t port)
{
	return bits && (bits[port / 8] >> (port % 8)) & 1;
}

/* 1 when the frame is plain (see the top of this file), with h filled. */
static int wsf_plain(const wsf_carriers *c, const uint8_t *p, uint32_t len,
                     wsf_headers *h)
{
	static const uint8_t isl1[5] = {0x01, 0x00, 0x0c, 0x00, 0x00};
	static const uint8_t isl2[5] = {0x0c, 0x00, 0x0c, 0x00, 0x00};
	uint32_t off = 12, l4;
	uint16_t type;
	int tags;

	if (len < 14 || memcmp(p, isl1, 5) == 0 || memcmp(p, isl2, 5) == 0)
		return 0;
	type = wsf_be16(p + off);
	for (tags = 0; type == 0x8100 || type == 0x88a8 || type == 0x9100;
	     tags++) {
		if (tags == 2 || len < off + 6)
			return 0;
		off += 4;
		type = wsf_be16(p + off);
	}
	off += 2;
	memset(h, 0, sizeof(*h));
	if (type == 0x0800) {
		uint32_t ihl;

		if (len < off + 20 || p[off] >> 4 != 4)
			return 0;
		ihl = (uint32_t)(p[off] & 0x0f) * 4;
		/* No options: a source route makes Wireshark's ip.dst the
		 * route's last hop, not the header's field. */
		if (ihl != 20 || (wsf_be16(p + off + 6) & 0x3fff) != 0)
			return 0;
		h->ipv4 = 1;
		h->proto = p[off + 9];
		h->src4 = wsf_be32(p + off + 12);
		h->dst4 = wsf_be32(p + off + 16);
		l4 = off + ihl;
	} else if (type == 0x86dd) {
		if (len < off + 40 || p[off] >> 4 != 6)
			return 0;
		h->proto = p[off + 6];
		l4 = off + 40;
	} else {
		return 0;
	}
	if (h->proto == 6 && len >= l4 + 20) {
		h->tcp_flags = p[l4 + 13];
	} else if (h->proto != 17 || len < l4 + 8) {
		return 0;
	}
	h->sport = wsf_be16(p + l4);
	h->dport = wsf_be16(p + l4 + 2);
	return !wsf_bit(h->proto == 6 ? c->tcp : c->udp, h->sport) &&
	       !wsf_bit(h->proto == 6 ? c->tcp : c->udp, h->dport);
}

static int wsf_eval(const wsf_node *n, const wsf_headers *h)
{
	int tcp = h->proto == 6, udp = h->proto == 17;

	switch (n->op) {
	case '&':
		return wsf_eval(n->l, h) && wsf_eval(n->r, h);
	case '|':
		return wsf_eval(n->l, h) || wsf_eval(n->r, h);
	}
	switch (n->kind) {
	case A_TCP_PORT:
		return tcp && (h->sport == n->value || h->dport == n->value);
	case A_TCP_SRC:
		return tcp && h->sport == n->value;
	case A_TCP_DST:
		return tcp && h->dport == n->value;
	case A_UDP_PORT:
		return udp && (h->sport == n->value || h->dport == n->value);
	case A_UDP_SRC:
		return udp && h->sport == n->value;
	case A_UDP_DST:
		return udp && h->dport == n->value;
	case A_IP_ADDR:
		return h->ipv4 && ((h->src4 & n->mask) == n->value ||
		                   (h->dst4 & n->mask) == n->value);
	case A_IP_SRC:
		return h->ipv4 && (h->src4 & n->mask) == n->value;
	case A_IP_DST:
		return h->ipv4 && (h->dst4 & n->mask) == n->value;
	case A_TCP_FLAG:
		return tcp && ((h->tcp_flags & n->value) != 0) == n->flag_set;
	}
	return 1;
}

int wsf_may_match(const wsf_prog *prog, const wsf_carriers *carriers,
                  const uint8_t *data, uint32_t caplen)
{
	wsf_headers h;

	if (!wsf_plain(carriers, data, caplen, &h))
		return 1;
	return wsf_eval(prog->root, &h);
}
