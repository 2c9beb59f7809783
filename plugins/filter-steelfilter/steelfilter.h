/* SteelFilter internals shared by the parser, the lowering to BPF text, the
 * evaluator, the plugin glue, the unit test and the fuzz target. */
#ifndef STEELFILTER_H
#define STEELFILTER_H

#include <stddef.h>
#include <stdint.h>

/* Longest expression accepted, and deepest nesting of parentheses and
 * negations: both keep parsing and evaluation bounded. */
#define SF_TEXT_MAX  65536
#define SF_DEPTH_MAX 100
/* Generated BPF longer than this is matched by the evaluator instead:
 * libpcap's optimizer gets slow on long expressions (1 KiB of the worst
 * kind seen, "port N or port M ...", takes it about 0.2 s; 4 KiB, 7 s). */
#define SF_BPF_TEXT_MAX 1024
/* Tags skipped before the network header: 802.1Q and QinQ. */
#define SF_TAGS_MAX 2

#define SF_LINKTYPE_ETHERNET  1
#define SF_LINKTYPE_RAW       101
#define SF_LINKTYPE_LINUX_SLL 113

typedef enum sf_kind {
	SF_N_TRUE,
	SF_N_FALSE,
	SF_N_AND, /* n-ary: child, then next of each child */
	SF_N_OR,
	SF_N_NOT,
	SF_N_CMP, /* parse tree only: field op value */
	/* Atoms of the lowered trees: each one a libpcap primitive whose
	 * generated code the evaluator reproduces, loads in the same order. */
	SF_A_IP4,       /* ip [src|dst] host|net: addr, prefix */
	SF_A_IP6,       /* ip6 [src|dst] host|net: addr, prefix */
	SF_A_IPPROTO,   /* ip[9] op lo */
	SF_A_PORT,      /* tcp|udp [src|dst] portrange lo-hi: sub = 6|17 */
	SF_A_VLAN,      /* ether[14+4*sub:2] & 0xfff op lo */
	SF_A_ETHER,     /* ether [src|dst] host addr */
	SF_A_LEN,       /* len op lo */
	SF_A_TCPFLAGS4, /* tcp[13] op lo */
	SF_A_TCPFLAGS6, /* ip6[6] = 6 and ip6[53] op lo */
} sf_kind;

typedef enum sf_op {
	SF_OP_EQ,
	SF_OP_NE,
	SF_OP_LT,
	SF_OP_LE,
	SF_OP_GT,
	SF_OP_GE,
} sf_op;

typedef enum sf_dir {
	SF_DIR_EITHER,
	SF_DIR_SRC,
	SF_DIR_DST,
} sf_dir;

typedef enum sf_vtype {
	SF_V_IP4,
	SF_V_IP6,
	SF_V_MAC,
	SF_V_NUM,
} sf_vtype;

typedef enum sf_field {
	SF_F_IP_ADDR,
	SF_F_IP_SRC,
	SF_F_IP_DST,
	SF_F_IP6_ADDR,
	SF_F_IP6_SRC,
	SF_F_IP6_DST,
	SF_F_IP_PROTO,
	SF_F_TCP_PORT,
	SF_F_TCP_SRCPORT,
	SF_F_TCP_DSTPORT,
	SF_F_UDP_PORT,
	SF_F_UDP_SRCPORT,
	SF_F_UDP_DSTPORT,
	SF_F_TCP_IP,
	SF_F_VLAN_ID,
	SF_F_ETH_ADDR,
	SF_F_ETH_SRC,
	SF_F_ETH_DST,
	SF_F_FRAME_LEN,
	SF_F_TCP_FLAGS,
} sf_field;

/* One node of a tree; trees live in a pool and link by index (-1: none). */
typedef struct sf_node {
	uint8_t kind;   /* sf_kind */
	uint8_t op;     /* sf_op: CMP and numeric atoms */
	uint8_t dir;    /* sf_dir: address and port atoms */
	uint8_t sub;    /* CMP: sf_field; PORT: protocol; VLAN: tag index */
	uint8_t vtype;  /* CMP: sf_vtype of the value */
	uint8_t prefix; /* IP4/IP6 prefix length */
	int32_t child;
	int32_t next;
	uint32_t lo, hi;  /* numbers; PORT: the range */
	uint8_t addr[16]; /* IPv4 (4 bytes), IPv6 (16), MAC (6) */
} sf_node;

/* A compiled expression: parse tree and the trees lowered from it. */
typedef struct sf_expr {
	sf_node *nodes; /* the pool */
	size_t n_nodes, cap_nodes;
	int32_t ast;
	/* Nonzero when some field depends on where the network header is,
	 * so Ethernet frames are matched per number of VLAN tags. */
	int tagged;
	int32_t eth[SF_TAGS_MAX + 1]; /* Ethernet, per number of tags */
	int32_t plain;                /* other link types */
	char *bpf_eth;   /* NULL when the expression matches nothing */
	char *bpf_plain; /* same, for other link types */
} sf_expr;

/* Parses and lowers `text`.  0 and *out (owned by the caller, released by
 * sf_free); -1 with `err` set to one sentence naming the position and the
 * offending token; -2 when memory runs out. */
int sf_compile(const char *text, sf_expr **out, char *err, size_t errlen);
void sf_free(sf_expr *e);

/* Lowering (sf_lower.c): fills eth[], plain, bpf_eth, bpf_plain. */
int sf_lower(sf_expr *e);

/* BPF text for a link type: NULL when the expression matches nothing. */
const char *sf_bpf_for(const sf_expr *e, uint32_t linktype);

/* Nonzero when the evaluator decodes this link type. */
int sf_eval_supports(uint32_t linktype);
/* 1 when the packet matches, 0 when not; same answer as the BPF code of
 * sf_bpf_for on every packet, truncated ones included. */
int sf_eval(const sf_expr *e, uint32_t linktype, const uint8_t *data,
            uint32_t caplen, uint32_t wirelen);

/* Pool helpers shared by the parser and the lowering. */
int32_t sf_node_new(sf_expr *e, sf_kind kind);

#endif /* STEELFILTER_H */
