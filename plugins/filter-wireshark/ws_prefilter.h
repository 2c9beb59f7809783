/* What filter-wireshark learns from a display filter's text before any
 * dissection: whether it reads frame fields only, and, for a small set of
 * header tests, a pre-filter that rejects packets which cannot match. */
#ifndef PKX_WS_PREFILTER_H
#define PKX_WS_PREFILTER_H

#include <stddef.h>
#include <stdint.h>

/* 1 when every field the filter names is a frame field whose value does
 * not depend on dissection past the frame layer (frame, frame.len,
 * frame.number, frame.time...).  Unknown words give 0. */
int wsf_frame_only(const char *expr);

typedef struct wsf_prog wsf_prog;

/* The pre-filter for expr, or NULL when expr is not one of the shapes the
 * pre-filter covers: `==` tests of tcp/udp ports, IPv4 addresses and TCP
 * flags, joined by && and || with parentheses.  Free with wsf_free. */
wsf_prog *wsf_parse(const char *expr);
void wsf_free(wsf_prog *prog);

/* The same test as a BPF expression, for people and logs.  Owned by prog. */
const char *wsf_bpf(const wsf_prog *prog);

/* Ports on which Wireshark decodes packets inside TCP or UDP payloads
 * (bitmaps of 65536 bits). */
typedef struct wsf_carriers {
	const uint8_t *tcp;
	const uint8_t *udp;
} wsf_carriers;

/* For an Ethernet frame: 0 when the pre-filter proves the packet cannot
 * match (it is a plain TCP or UDP packet, see ws_prefilter.c, and its
 * headers fail the test), 1 when it must be dissected. */
int wsf_may_match(const wsf_prog *prog, const wsf_carriers *carriers,
                  const uint8_t *data, uint32_t caplen);

#endif /* PKX_WS_PREFILTER_H */
