/* SteelFilter parser: text -> parse tree, with errors that name the position
 * and the offending token.  The grammar is in doc/steelfilter.md. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "steelfilter.h"

typedef enum sf_tok {
	SF_T_END,
	SF_T_LPAREN,
	SF_T_RPAREN,
	SF_T_COMMA,
	SF_T_AND,
	SF_T_OR,
	SF_T_NOT,
	SF_T_IN,
	SF_T_OP,
	SF_T_WORD,
	SF_T_STRING,
	SF_T_BAD, /* a character no token starts with */
} sf_tok;

typedef struct sf_parser {
	sf_expr *e;
	const char *text;
	size_t pos; /* next character to read */
	/* The current token. */
	sf_tok tok;
	sf_op op;
	size_t start, len;   /* where the token is in text */
	size_t vstart, vlen; /* its value (inside quotes) */
	int depth;
	char *err;
	size_t errlen;
	int failed; /* -1 syntax, -2 memory */
} sf_parser;

typedef struct sf_field_def {
	const char *name;
	sf_field field;
	sf_vtype vtype; /* what a value is parsed as */
	uint32_t max;   /* SF_V_NUM: largest value */
	int relational; /* < <= > >= allowed */
} sf_field_def;

static const sf_field_def sf_fields[] = {
    {"ip.addr", SF_F_IP_ADDR, SF_V_IP4, 0, 0},
    {"ip.src", SF_F_IP_SRC, SF_V_IP4, 0, 0},
    {"ip.dst", SF_F_IP_DST, SF_V_IP4, 0, 0},
    {"ipv6.addr", SF_F_IP6_ADDR, SF_V_IP6, 0, 0},
    {"ipv6.src", SF_F_IP6_SRC, SF_V_IP6, 0, 0},
    {"ipv6.dst", SF_F_IP6_DST, SF_V_IP6, 0, 0},
    {"ip.proto", SF_F_IP_PROTO, SF_V_NUM, 255, 1},
    {"tcp.port", SF_F_TCP_PORT, SF_V_NUM, 65535, 1},
    {"tcp.srcport", SF_F_TCP_SRCPORT, SF_V_NUM, 65535, 1},
    {"tcp.dstport", SF_F_TCP_DSTPORT, SF_V_NUM, 65535, 1},
    {"udp.port", SF_F_UDP_PORT, SF_V_NUM, 65535, 1},
    {"udp.srcport", SF_F_UDP_SRCPORT, SF_V_NUM, 65535, 1},
    {"udp.dstport", SF_F_UDP_DSTPORT, SF_V_NUM, 65535, 1},
    {"tcp.ip", SF_F_TCP_IP, SF_V_IP4, 0, 0},
    {"vlan.id", SF_F_VLAN_ID, SF_V_NUM, 4095, 1},
    {"eth.addr", SF_F_ETH_ADDR, SF_V_MAC, 0, 0},
    {"eth.src", SF_F_ETH_SRC, SF_V_MAC, 0, 0},
    {"eth.dst", SF_F_ETH_DST, SF_V_MAC, 0, 0},
    {"frame.len", SF_F_FRAME_LEN, SF_V_NUM, UINT32_MAX, 1},
    {"tcp.flags", SF_F_TCP_FLAGS, SF_V_NUM, 255, 1},
};

/* Fields of the vendor's flow analytics: known names, refused because a
 * packet alone does not carry them. */
static const char *const sf_analytics_prefixes[] = {
    "app.",       "application.",    "host_group.",
    "hostgroup.", "business_group.", "user.",
    "device.",    "site.",           "geo.",
    "flow.",      "port_group.",     "interface_group.",
    NULL,
};

int32_t sf_node_new(sf_expr *e, sf_kind kind)
{
	sf_node *n;

	if (e->n_nodes == e->cap_nodes) {
		size_t cap = e->cap_nodes ? e->cap_nodes * 2 : 64;
		sf_node *grown;

		if (cap > INT32_MAX / 2)
			return -1;
		grown = realloc(e->nodes, cap * sizeof(*grown));
		if (!grown)
			return -1;
		e->nodes = grown;
		e->cap_nodes = cap;
	}
	n = &e->nodes[e->n_nodes];
	memset(n, 0, sizeof(*n));
	n->kind = (uint8_t)kind;
	n->child = -1;
	n->next = -1;
	return (int32_t)e->n_nodes++;
}

void sf_free(sf_expr *e)
{
	if (!e)
		return;
	free(e->nodes);
	free(e->bpf_eth);
	free(e->bpf_plain);
	free(e);
}

/* ------------------------------------------------------------- errors */

/* Records the first error only: later ones follow from it. */
static void sf_fail(sf_parser *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void sf_fail(sf_parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->failed)
		return;
	p->failed = -1;
	va_start(ap, fmt);
	vsnprintf(p->err, p->errlen, fmt, ap);
	va_end(ap);
}

static void sf_oom(sf_parser *p)
{
	if (!p->failed)
		snprintf(p->err, p->errlen, "out of memory");
	p->failed = -2;
}

/* The current token for a message, quoted and cut short when long. */
static const char *sf_tok_text(const sf_parser *p, char *buf, size_t size)
{
	size_t n = p->len;

	if (p->tok == SF_T_END)
		return "the end of the expression";
	if (n > 40)
		n = 40;
	snprintf(buf, size, "\"%.*s%s\"", (int)n, p->text + p->start,
	         n < p->len ? "..." : "");
	return buf;
}

static void sf_expected(sf_parser *p, const char *what)
{
	char buf[64];

	sf_fail(p, "syntax error at position %zu near %s: expected %s",
	        p->start + 1, sf_tok_text(p, buf, sizeof(buf)), what);
}

/* -------------------------------------------------------------- lexer */

static int sf_word_char(int c)
{
	return isalnum(c) || c == '.' || c == ':' || c == '/' || c == '_' ||
	       c == '-';
}

static int sf_keyword(const char *s, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(s, kw, n) == 0;
}

static void sf_lex_op(sf_parser *p, const char *s)
{
	p->tok = SF_T_OP;
	p->len = 1;
	if (s[0] == '=') {
		p->op = SF_OP_EQ;
		p->len = s[1] == '=' ? 2 : 1;
	} else if (s[0] == '!') {
		p->op = SF_OP_NE;
		p->len = 2;
	} else if (s[0] == '<') {
		p->op = s[1] == '=' ? SF_OP_LE : SF_OP_LT;
		p->len = s[1] == '=' ? 2 : 1;
	} else {
		p->op = s[1] == '=' ? SF_OP_GE : SF_OP_GT;
		p->len = s[1] == '=' ? 2 : 1;
	}
}

static void sf_lex_word(sf_parser *p, const char *s)
{
	size_t n = 0;

	while (sf_word_char((unsigned char)s[n]))
		n++;
	p->len = n;
	p->vstart = p->start;
	p->vlen = n;
	if (sf_keyword(s, n, "and"))
		p->tok = SF_T_AND;
	else if (sf_keyword(s, n, "or"))
		p->tok = SF_T_OR;
	else if (sf_keyword(s, n, "not"))
		p->tok = SF_T_NOT;
	else if (sf_keyword(s, n, "in"))
		p->tok = SF_T_IN;
	else
		p->tok = SF_T_WORD;
}

static void sf_lex_string(sf_parser *p, const char *s)
{
	const char *close = strchr(s + 1, s[0]);

	if (!close) {
		p->tok = SF_T_BAD;
		p->len = strlen(s);
		sf_fail(p,
		        "syntax error at position %zu: the string starting "
		        "with %c is not closed",
		        p->start + 1, s[0]);
		return;
	}
	p->tok = SF_T_STRING;
	p->len = (size_t)(close - s) + 1;
	p->vstart = p->start + 1;
	p->vlen = p->len - 2;
}

static void sf_next(sf_parser *p)
{
	const char *s;

	while (isspace((unsigned char)p->text[p->pos]))
		p->pos++;
	s = p->text + p->pos;
	p->start = p->pos;
	p->len = 1;
	if (!*s) {
		p->tok = SF_T_END;
		p->len = 0;
	} else if (*s == '(') {
		p->tok = SF_T_LPAREN;
	} else if (*s == ')') {
		p->tok = SF_T_RPAREN;
	} else if (*s == ',') {
		p->tok = SF_T_COMMA;
	} else if (s[0] == '&' && s[1] == '&') {
		p->tok = SF_T_AND;
		p->len = 2;
	} else if (s[0] == '|' && s[1] == '|') {
		p->tok = SF_T_OR;
		p->len = 2;
	} else if (s[0] == '!' && s[1] != '=') {
		p->tok = SF_T_NOT;
	} else if (strchr("=!<>", s[0])) {
		sf_lex_op(p, s);
	} else if (s[0] == '\'' || s[0] == '"') {
		sf_lex_string(p, s);
	} else if (sf_word_char((unsigned char)s[0])) {
		sf_lex_word(p, s);
	} else {
		p->tok = SF_T_BAD;
	}
	p->pos = p->start + p->len;
}

/* ------------------------------------------------------------- values */

/* Decimal, or hexadecimal after 0x. */
static int sf_parse_num(const char *s, uint32_t max, uint32_t *out)
{
	int hex = s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
	char *end;
	unsigned long long v;

	if (hex)
		s += 2;
	if (!(hex ? isxdigit((unsigned char)s[0])
	          : isdigit((unsigned char)s[0])))
		return -1;
	errno = 0;
	v = strtoull(s, &end, hex ? 16 : 10);
	if (errno || *end || v > max)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* Dotted quad of decimal numbers 0-255, nothing else. */
static int sf_parse_ip4(const char *s, uint8_t *addr)
{
	int i;

	for (i = 0; i < 4; i++) {
		unsigned v = 0;
		int digits = 0;

		while (isdigit((unsigned char)*s) && digits < 4) {
			v = v * 10 + (unsigned)(*s++ - '0');
			digits++;
		}
		if (digits == 0 || digits > 3 || v > 255)
			return -1;
		addr[i] = (uint8_t)v;
		if (i < 3 && *s++ != '.')
			return -1;
	}
	return *s ? -1 : 0;
}

static int sf_parse_mac(const char *s, uint8_t *addr)
{
	int i;

	for (i = 0; i < 6; i++) {
		unsigned v = 0;
		int digits = 0;

		while (isxdigit((unsigned char)*s) && digits < 3) {
			v = v * 16 +
			    (unsigned)(isdigit((unsigned char)*s)
			                   ? *s - '0'
			                   : tolower((unsigned char)*s) - 'a' +
			                         10);
			s++;
			digits++;
		}
		if (digits == 0 || digits > 2)
			return -1;
		addr[i] = (uint8_t)v;
		if (i < 5 && *s != ':' && *s != '-')
			return -1;
		if (i < 5)
			s++;
	}
	return *s ? -1 : 0;
}

/* An address with an optional /prefix; sets vtype to IP4 or IP6 by what
 * the text is.  IPv4 fields take IPv6 addresses too (see the manual). */
static int sf_parse_addr(char *s, sf_node *n)
{
	char *slash = strchr(s, '/');
	uint32_t prefix = 0;
	int v6 = strchr(s, ':') != NULL;

	if (slash) {
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]) ||
		    sf_parse_num(slash + 1, v6 ? 128 : 32, &prefix) != 0)
			return -1;
	} else {
		prefix = v6 ? 128 : 32;
	}
	if (v6) {
		if (inet_pton(AF_INET6, s, n->addr) != 1)
			return -1;
		n->vtype = SF_V_IP6;
	} else {
		if (sf_parse_ip4(s, n->addr) != 0)
			return -1;
		n->vtype = SF_V_IP4;
	}
	n->prefix = (uint8_t)prefix;
	return 0;
}

static const char *const sf_vtype_names[] = {"an IPv4 address or prefix",
                                             "an IPv6 address or prefix",
                                             "a MAC address", "a number"};

/* Parses the current token as a value of `def` into the CMP node. */
static void sf_value(sf_parser *p, const sf_field_def *def, sf_node *n)
{
	char buf[64], text[80];
	int bad;

	if (p->tok != SF_T_WORD && p->tok != SF_T_STRING) {
		sf_expected(p, "a value");
		return;
	}
	if (p->vlen >= sizeof(text)) {
		bad = 1;
	} else {
		memcpy(text, p->text + p->vstart, p->vlen);
		text[p->vlen] = '\0';
		n->vtype = (uint8_t)def->vtype;
		if (def->vtype == SF_V_NUM)
			bad = sf_parse_num(text, def->max, &n->lo) != 0;
		else if (def->vtype == SF_V_MAC)
			bad = sf_parse_mac(text, n->addr) != 0;
		else
			bad = sf_parse_addr(text, n) != 0 ||
			      (def->field == SF_F_TCP_IP &&
			       n->vtype != SF_V_IP4) ||
			      (def->vtype == SF_V_IP6 && n->vtype != SF_V_IP6);
	}
	if (bad) {
		if (def->vtype == SF_V_NUM)
			sf_fail(p,
			        "invalid value %s at position %zu: %s takes a "
			        "number from 0 to %lu",
			        sf_tok_text(p, buf, sizeof(buf)), p->start + 1,
			        def->name, (unsigned long)def->max);
		else
			sf_fail(p,
			        "invalid value %s at position %zu: %s takes %s",
			        sf_tok_text(p, buf, sizeof(buf)), p->start + 1,
			        def->name,
			        def->field == SF_F_TCP_IP
			            ? "an IPv4 address or prefix"
			            : sf_vtype_names[def->vtype]);
		return;
	}
	sf_next(p);
}

/* ------------------------------------------------------------- parser */

static int32_t sf_or(sf_parser *p);

static const sf_field_def *sf_field_lookup(sf_parser *p)
{
	size_t i;
	char buf[64];

	for (i = 0; i < sizeof(sf_fields) / sizeof(sf_fields[0]); i++)
		if (sf_keyword(p->text + p->start, p->len, sf_fields[i].name))
			return &sf_fields[i];
	for (i = 0; sf_analytics_prefixes[i]; i++) {
		size_t n = strlen(sf_analytics_prefixes[i]);

		if (p->len > n &&
		    strncasecmp(p->text + p->start, sf_analytics_prefixes[i],
		                n) == 0) {
			sf_fail(p,
			        "field %s at position %zu is a flow analytics "
			        "field, which cannot be evaluated on packets",
			        sf_tok_text(p, buf, sizeof(buf)), p->start + 1);
			return NULL;
		}
	}
	sf_fail(p, "unknown field %s at position %zu",
	        sf_tok_text(p, buf, sizeof(buf)), p->start + 1);
	return NULL;
}

static int32_t sf_cmp_node(sf_parser *p, const sf_field_def *def, sf_op op)
{
	int32_t id = sf_node_new(p->e, SF_N_CMP);

	if (id < 0) {
		sf_oom(p);
		return -1;
	}
	p->e->nodes[id].sub = (uint8_t)def->field;
	p->e->nodes[id].op = (uint8_t)op;
	sf_value(p, def, &p->e->nodes[id]);
	return p->failed ? -1 : id;
}

/* field IN ( value, value, ... ): an OR of equalities. */
static int32_t sf_in_list(sf_parser *p, const sf_field_def *def)
{
	int32_t id = sf_node_new(p->e, SF_N_OR), last = -1;

	if (id < 0) {
		sf_oom(p);
		return -1;
	}
	sf_next(p);
	if (p->tok != SF_T_LPAREN) {
		sf_expected(p, "\"(\" after IN");
		return -1;
	}
	do {
		int32_t c;

		sf_next(p);
		c = sf_cmp_node(p, def, SF_OP_EQ);
		if (c < 0)
			return -1;
		if (last < 0)
			p->e->nodes[id].child = c;
		else
			p->e->nodes[last].next = c;
		last = c;
	} while (p->tok == SF_T_COMMA);
	if (p->tok != SF_T_RPAREN) {
		sf_expected(p, "\",\" or \")\" in the IN list");
		return -1;
	}
	sf_next(p);
	return id;
}

static int32_t sf_comparison(sf_parser *p)
{
	const sf_field_def *def;
	char buf[64];
	sf_op op;
	size_t at;

	if (p->tok != SF_T_WORD) {
		sf_expected(p, "a field name or \"(\"");
		return -1;
	}
	def = sf_field_lookup(p);
	if (!def)
		return -1;
	sf_next(p);
	if (p->tok == SF_T_IN)
		return sf_in_list(p, def);
	if (p->tok != SF_T_OP) {
		sf_expected(p, "a comparison operator or IN");
		return -1;
	}
	op = p->op;
	at = p->start;
	if (!def->relational && op != SF_OP_EQ && op != SF_OP_NE) {
		sf_fail(p,
		        "operator %s at position %zu does not apply to %s, "
		        "which only takes == and !=",
		        sf_tok_text(p, buf, sizeof(buf)), at + 1, def->name);
		return -1;
	}
	sf_next(p);
	return sf_cmp_node(p, def, op);
}

static int32_t sf_primary(sf_parser *p)
{
	int32_t id, child;

	if (p->tok == SF_T_BAD) {
		sf_expected(p, "a field name or \"(\"");
		return -1;
	}
	if (p->tok != SF_T_LPAREN && p->tok != SF_T_NOT)
		return sf_comparison(p);
	if (++p->depth > SF_DEPTH_MAX) {
		sf_fail(p, "expression nested too deeply at position %zu",
		        p->start + 1);
		return -1;
	}
	if (p->tok == SF_T_NOT) {
		sf_next(p);
		id = sf_node_new(p->e, SF_N_NOT);
		if (id < 0) {
			sf_oom(p);
			return -1;
		}
		/* Not assigned in one statement: the call may move the pool. */
		child = sf_primary(p);
		if (child < 0)
			return -1;
		p->e->nodes[id].child = child;
		p->depth--;
		return id;
	}
	sf_next(p);
	id = sf_or(p);
	if (id < 0)
		return -1;
	if (p->tok != SF_T_RPAREN) {
		sf_expected(p, "\")\"");
		return -1;
	}
	sf_next(p);
	p->depth--;
	return id;
}

/* A run of operands joined by one operator, as one n-ary node. */
static int32_t sf_chain(sf_parser *p, sf_tok joiner, sf_kind kind,
                        int32_t (*operand)(sf_parser *))
{
	int32_t first = operand(p), id, last;

	if (first < 0 || p->tok != joiner)
		return first;
	id = sf_node_new(p->e, kind);
	if (id < 0) {
		sf_oom(p);
		return -1;
	}
	p->e->nodes[id].child = first;
	last = first;
	while (p->tok == joiner) {
		int32_t c;

		sf_next(p);
		c = operand(p);
		if (c < 0)
			return -1;
		p->e->nodes[last].next = c;
		last = c;
	}
	return id;
}

static int32_t sf_and(sf_parser *p)
{
	return sf_chain(p, SF_T_AND, SF_N_AND, sf_primary);
}

static int32_t sf_or(sf_parser *p)
{
	return sf_chain(p, SF_T_OR, SF_N_OR, sf_and);
}

int sf_compile(const char *text, sf_expr **out, char *err, size_t errlen)
{
	sf_parser p = {.text = text, .err = err, .errlen = errlen};
	size_t len = strlen(text);

	*out = NULL;
	if (len > SF_TEXT_MAX) {
		snprintf(err, errlen,
		         "expression of %zu characters is longer than the "
		         "%d allowed",
		         len, SF_TEXT_MAX);
		return -1;
	}
	p.e = calloc(1, sizeof(*p.e));
	if (!p.e) {
		snprintf(err, errlen, "out of memory");
		return -2;
	}
	sf_next(&p);
	if (p.tok == SF_T_END) {
		sf_fail(&p, "the expression is empty");
	} else {
		p.e->ast = sf_or(&p);
		if (!p.failed && p.tok != SF_T_END)
			sf_expected(&p, "AND, OR or the end");
	}
	if (!p.failed && sf_lower(p.e) != 0)
		sf_oom(&p);
	if (p.failed) {
		sf_free(p.e);
		return p.failed;
	}
	*out = p.e;
	return 0;
}
