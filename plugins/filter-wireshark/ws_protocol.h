/* The conversation between filter-wireshark and its dissection helper:
 * fixed-size requests on a stream socket, packets in a capture file the
 * plugin appends to and the helper reads with wiretap, and a shared page
 * where the helper leaves its verdicts as it goes. */
#ifndef PKX_WS_PROTOCOL_H
#define PKX_WS_PROTOCOL_H

#include <stdint.h>

/* File descriptors the helper is started with. */
#define WSP_FD_CONTROL 0 /* the socket: requests in, answers out */
#define WSP_FD_RECORDS 3 /* the capture file the plugin appends to */
#define WSP_FD_SHARED  4 /* a wsp_shared, mapped by both */

/* Requests: a wsp_request, then `arg` more bytes for COMPILE and STATE. */
enum wsp_type {
	WSP_COMPILE = 'C', /* arg: length of a wsp_compile + filter text */
	WSP_STATE = 'S',   /* arg: sizeof(wsp_state) */
	WSP_BATCH = 'B',   /* arg: how many records, plus the slot of
	                      wsp_shared holding their frame numbers times
	                      WSP_SLOT_SHIFT */
};

typedef struct wsp_request {
	uint32_t type;
	uint32_t arg;
} wsp_request;

/* Flags of a COMPILE request. */
#define WSP_FRAME_ONLY 1u /* the filter reads only frame fields */
#define WSP_PCAPNG     2u /* the records file is pcapng, else pcap */

typedef struct wsp_compile {
	uint32_t flags;
	uint32_t text_len; /* filter text follows, not NUL-terminated */
} wsp_compile;

/* What a fresh helper must know to go on where the last one stopped:
 * frame.time_relative, frame.time_delta and frame.time_delta_displayed
 * read these frames.  A number of 0 means "none yet". */
typedef struct wsp_state {
	uint32_t ref_num, prev_cap_num, prev_dis_num, cum_bytes;
	uint64_t ref_ns, prev_cap_ns, prev_dis_ns;
} wsp_state;

/* Answer to COMPILE: a wsp_answer, then `len` bytes of message; when
 * status is WSP_OK, then two WSP_PORT_BITMAP bitmaps (TCP, then UDP) of
 * the ports on which Wireshark decodes packets carried inside others. */
enum wsp_status {
	WSP_OK = 0,
	WSP_BAD_FILTER = 1, /* message: dfilter's own */
	WSP_FAILED = 2,     /* message: what went wrong */
	WSP_BAD_INPUT = 3,  /* message: why wiretap refuses the packets */
};

typedef struct wsp_answer {
	uint32_t status;
	uint32_t len;
} wsp_answer;

#define WSP_PORT_BITMAP (65536 / 8)

/* A batch: the plugin has appended the records and written their frame
 * numbers in a slot; the helper dissects them in order, and after each one
 * sets its verdict (WSP_NO or WSP_YES) then `done` (a release store), so
 * when a dissector crashes or hangs the plugin knows the verdicts before
 * it and the frame at fault.  The answer on the socket is one byte:
 * WSP_YES when all are done, or WSP_ERROR followed by a wsp_answer and its
 * message (a record wiretap could not read: frames[done]).  Two slots, so
 * the plugin can send the next batch while the helper answers one: the
 * helper takes requests in order and answers them in order, and a slot is
 * written again only once its batch was answered. */
#define WSP_BATCH_MAX  1024
#define WSP_SLOTS      2
#define WSP_SLOT_SHIFT 16 /* WSP_BATCH's arg: n | slot << WSP_SLOT_SHIFT */

typedef struct wsp_slot {
	uint32_t frames[WSP_BATCH_MAX];
	uint8_t verdicts[WSP_BATCH_MAX];
	uint32_t done;
} wsp_slot;

typedef struct wsp_shared {
	wsp_slot slot[WSP_SLOTS];
} wsp_shared;

#define WSP_NO    0
#define WSP_YES   1
#define WSP_ERROR 2

#define WSP_TEXT_MAX 4096

/* The helper as a fork server (started with WSP_SERVER_ARG): it starts
 * libwireshark once, then forks a helper per filter, each beginning where
 * a freshly started helper would, after start-up.  WSP_FD_CONTROL is then
 * a SOCK_SEQPACKET socket.  A request is one wsp_fork message carrying
 * four descriptors: the new helper's control socket, records file and
 * shared page, and the write end of a pipe on which the server writes the
 * helper's wait status (an int) once it has reaped it, then closes it.
 * The answer is one wsp_forked message, with a pidfd of the helper
 * attached when the kernel has them.  A server whose Wireshark settings
 * changed on disk since it started answers WSP_STALE and exits, so the
 * next helper reads them as a new tshark would. */
#define WSP_SERVER_ARG "--server"
#define WSP_FORK_MAGIC 0x504b5846u /* "FXKP" */
#define WSP_STALE      (-1000)

typedef struct wsp_fork {
	uint32_t magic;
} wsp_fork;

typedef struct wsp_forked {
	int32_t pid;  /* > 0; else WSP_STALE or -1 with a message */
	uint32_t len; /* bytes of text */
	char text[WSP_TEXT_MAX];
} wsp_forked;

#endif /* PKX_WS_PROTOCOL_H */
