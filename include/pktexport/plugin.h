/* pktexport plugin ABI: the only header a source, filter or format plugin
 * includes.  Everything a plugin may call in the core is in the service
 * table it receives at load time; it links against nothing of the core.
 *
 * The contract, stated on each declaration below:
 *  - Threads.  init and deinit run once, on the thread that loads the
 *    plugins, while nothing else of the plugin runs.  Every call on one
 *    instance (a source instance, a filter program, a format instance),
 *    from its creation to its release, comes from the one thread that runs
 *    its export: a worker thread in the daemon, never its event loop; the
 *    calling thread on the command line.  Instances of different exports
 *    run at the same time on different threads, so whatever a plugin
 *    shares between instances (globals, a helper process) it guards
 *    itself.  The core's services and an export handle's functions may be
 *    called from any thread.
 *  - Blocking.  Every callback may block (read a disk, wait for another
 *    process); the core never calls one on its event loop.  A callback
 *    that waits on something it does not control bounds the wait (see
 *    next() and watch_cancel).
 *  - Memory.  "Borrowed" means valid for the call only (copy what you
 *    keep); "owned by X" means X frees it and it stays valid until then.
 *    Strings and arrays the core passes in are borrowed unless said
 *    otherwise; what a plugin returns through a pointer it keeps owning
 *    unless said otherwise. */
#ifndef PKTEXPORT_PLUGIN_H
#define PKTEXPORT_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A plugin is loaded when its major equals the core's and its minor is not
 * newer.  Adding a callback at the end of a descriptor (taking a reserved
 * slot) bumps the minor; changing anything else bumps the major. */
#define PKX_ABI_MAJOR 1
#define PKX_ABI_MINOR 8

/* The minor a module declares: this header's, unless the module defines
 * PKX_PLUGIN_ABI_MINOR (before including this header) to load in older
 * cores too, and then uses nothing added after that minor. */
#ifndef PKX_PLUGIN_ABI_MINOR
#define PKX_PLUGIN_ABI_MINOR PKX_ABI_MINOR
#endif

/* The one symbol every module exports. */
#define PKX_PLUGIN_ENTRY      pkx_plugin_entry
#define PKX_PLUGIN_ENTRY_NAME "pkx_plugin_entry"

typedef enum pkx_result {
	PKX_OK = 0,       /* done, or: here is a packet */
	PKX_ERROR = -1,   /* failed; the pkx_error says why */
	PKX_END = 1,      /* no more packets */
	PKX_DECLINED = 2, /* optional operation not supported here */
	PKX_AGAIN = 3,    /* ABI 1.1, source next(): no packet yet */
} pkx_result;

typedef enum pkx_kind {
	PKX_KIND_SOURCE = 1,
	PKX_KIND_FILTER = 2,
	PKX_KIND_FORMAT = 3,
} pkx_kind;

/* Error reported by a callback.  `id` is one of the API error ids below;
 * `text` is one sentence for a person that names the offending value.  An
 * id not in this list reaches clients as INTERNAL_ERROR, the plugin's id
 * leading the text. */
#define PKX_EINVAL         "REQUEST_INVALID_INPUT" /* bad expression, value: 400 */
#define PKX_ENOTFOUND      "RESOURCE_NOT_FOUND"    /* no such source: 404 */
#define PKX_EINTERNAL      "INTERNAL_ERROR"        /* the plugin failed: 500 */
#define PKX_EIO            "EXPORT_IO_ERROR" /* output cannot be written */
#define PKX_EDAMAGED       "SOURCE_DAMAGED"  /* input damaged from here */
#define PKX_EBUSY          "SERVICE_BUSY"    /* try again later: 503 */
#define PKX_ERROR_ID_MAX   48
#define PKX_ERROR_TEXT_MAX 512
typedef struct pkx_error {
	char id[PKX_ERROR_ID_MAX];
	char text[PKX_ERROR_TEXT_MAX];
} pkx_error;

/* One capture interface of a source.  linktype is a LINKTYPE_* value as
 * written in pcap and pcapng files (not a platform DLT_* value), with the
 * pcap header's FCS bits when the input says how long its FCS is: */
#define PKX_LINKTYPE_FCS_PRESENT 0x04000000u /* bits 28-31 say how long */
#define PKX_LINKTYPE_FCS_SHIFT   28          /* in 16-bit words */

/* The largest packet readers accept for a link type (libpcap's
 * max_snaplen_for_dlt(); the few link types with a larger one have the
 * same LINKTYPE_ and DLT_ value): what a snap length of 0, "no limit",
 * means in a file. */
static inline uint32_t pkx_linktype_max_snaplen(uint32_t linktype)
{
	switch (linktype & 0x03ffffffu) {
	case 231: /* DBUS */
		return 128u << 20;
	case 279: /* EBHSCR */
		return 8u << 20;
	case 249: /* USBPCAP */
		return 1u << 20;
	default:
		return 262144u;
	}
}

/* The limit readers apply for a snap length written in a file (libpcap's
 * pcap_adjust_snapshot()): none (0), or one past the link type's maximum,
 * is that maximum. */
static inline uint32_t pkx_linktype_snapshot(uint32_t linktype,
                                             uint32_t snaplen)
{
	uint32_t max = pkx_linktype_max_snaplen(linktype);

	return snaplen == 0 || snaplen > max ? max : snaplen;
}
#define PKX_IFNAME_MAX 64
typedef struct pkx_interface {
	uint32_t linktype;
	uint32_t snaplen;
	uint8_t tsresol; /* pcapng if_tsresol of the input, 0 if none */
	uint8_t reserved[3];
	char name[PKX_IFNAME_MAX]; /* "" when unknown */
} pkx_interface;

/* A packet travelling through the pipeline.  Borrowed: `data` stays valid
 * until the next call into the source that produced it. */
typedef struct pkx_packet {
	uint64_t ts_ns;   /* nanoseconds since the epoch */
	uint32_t caplen;  /* bytes present at data */
	uint32_t wirelen; /* original length on the wire */
	uint32_t ifindex; /* index into the source's interfaces */
	uint32_t reserved;
	const uint8_t *data;
} pkx_packet;

enum pkx_log_level {
	PKX_LOG_ERROR = 0,
	PKX_LOG_WARN = 1,
	PKX_LOG_INFO = 2,
	PKX_LOG_DEBUG = 3,
};

/* Services the core lends a plugin for its whole lifetime (from init to
 * deinit; the table itself is owned by the core).  Every function may be
 * called from any thread and returns at once. */
typedef struct pkx_services {
	uint32_t size; /* sizeof(pkx_services) as the core knows it */
	void (*log)(int level, const char *plugin, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	/* Monotonic clock in nanoseconds. */
	uint64_t (*now_ns)(void);
	/* Fill err; returns PKX_ERROR so a callback can `return
	 * svc->fail(...)`. */
	pkx_result (*fail)(pkx_error *err, const char *id, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
	/* Resolve `relpath` (relative, e.g. "fs/a.pcap") under `root` and open
	 * it read-only.  Refuses absolute paths, `..`, and symlinks leading out
	 * of root.  Returns a file descriptor (owned by the caller) or -1 with
	 * err set (RESOURCE_NOT_FOUND or REQUEST_INVALID_INPUT). */
	int (*open_under_root)(const char *root, const char *relpath,
	                       pkx_error *err);
	void *reserved[8];
} pkx_services;

/* ABI 1.5.  The export an instance works for: its id, for log lines, and
 * counters the core reads (a source's capture drops become the export's
 * dropped_packets).  Owned by the core; valid until the instance it was
 * given to is released (source close, filter free, format end).  Its
 * functions may be called from any thread and return at once. */
typedef enum pkx_counter {
	PKX_COUNT_SEEN = 0,    /* packets the plugin saw */
	PKX_COUNT_DROPPED = 1, /* packets lost before the plugin saw them
	                          (a capture's kernel or interface drops) */
	PKX_COUNT_BYTES = 2,   /* bytes of the packets it saw */
	PKX_COUNTERS = 3,
} pkx_counter;

typedef struct pkx_export_handle pkx_export_handle;
struct pkx_export_handle {
	uint32_t size;  /* sizeof(pkx_export_handle) as the core knows it */
	const char *id; /* the export's id ("" for an export without one) */
	/* A log line about this export: the core prefixes the export's id
	 * and the plugin's name. */
	void (*log)(const pkx_export_handle *h, int level, const char *plugin,
	            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
	/* Adds n to a counter (atomically; totals over the export's
	 * plugins).  An unknown counter is ignored. */
	void (*count)(const pkx_export_handle *h, pkx_counter which,
	              uint64_t n);
	void *reserved[4];
};

/* True when an args struct of the given size (its `size` field, as the
 * core that filled it knows it) holds field. */
#define PKX_ARGS_HAVE(args, type, field)                                       \
	((args)->size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* Fields every descriptor starts with.  The descriptor and every string
 * and array it points to are the module's, static, valid while it is
 * loaded. */
typedef struct pkx_plugin_header {
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size; /* sizeof the whole kind-specific descriptor */
	pkx_kind kind;
	const char *name;        /* e.g. "source-file" */
	const char *version;     /* the plugin's own version */
	const char *description; /* one line */
	/* What the plugin claims, NULL-terminated: path prefixes ("fs/") for a
	 * source, filter types ("BPF") for a filter, output formats
	 * ("PCAP_US") for a format. */
	const char *const *claims;
	/* Optional.  Called once after load, on the loading thread, before
	 * any other call; svc stays valid until deinit.  A failure refuses
	 * the module. */
	pkx_result (*init)(const pkx_services *svc, pkx_error *err);
	/* Optional.  Called once before unload, when no instance is left. */
	void (*deinit)(void);
} pkx_plugin_header;

/* Fills the header of a descriptor of type type_:
 *   static const pkx_source_plugin my_plugin = {
 *       PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, "source-x",
 *                         "1.0", "what it reads", my_claims, NULL, NULL),
 *       .open = my_open, ...
 *   };                                                                   */
#define PKX_PLUGIN_HEADER(kind_, type_, name_, version_, desc_, claims_,       \
                          init_, deinit_)                                      \
	.header = {                                                            \
	    .abi_major = PKX_ABI_MAJOR,                                        \
	    .abi_minor = PKX_PLUGIN_ABI_MINOR,                                 \
	    .size = sizeof(type_),                                             \
	    .kind = (kind_),                                                   \
	    .name = (name_),                                                   \
	    .version = (version_),                                             \
	    .description = (desc_),                                            \
	    .claims = (claims_),                                               \
	    .init = (init_),                                                   \
	    .deinit = (deinit_),                                               \
	}

/* ---------------------------------------------------------------- source */

/* What an open source knows.  Owned by the source instance; valid until
 * close (the interfaces array may move when it grows: the core reads it
 * again after each next(), and a plugin that keeps interfaces it was
 * given copies them).  A source reports every interface it knows at open; when
 * it meets a new one later (a pcapng section or interface block after packets),
 * it appends it before returning the first packet on it, and the core re-reads
 * n_interfaces/interfaces: filters are compiled again and the format is told
 * through add_interfaces. */
typedef struct pkx_source_info {
	size_t n_interfaces;
	const pkx_interface *interfaces;
	uint64_t total_bytes; /* bytes of input, 0 if unknown */
	uint64_t first_ns;    /* 0 if unknown */
	uint64_t last_ns;     /* 0 if unknown */
	/* Nonzero when next() returns packets in non-decreasing time order,
	 * so the core may stop at the end of the last window. */
	int time_ordered;
	/* Estimates for the windows given at open; valid when has_estimates. */
	int has_estimates;
	uint64_t estimated_packets;
	uint64_t estimated_bytes;
	/* ABI 1.2 (read only from modules built for 1.2 or later).  Nonzero
	 * when packets arrive as they happen (a live capture): the core then
	 * looks at the clock, stop and cancel after every answer, not every
	 * thousand packets, and hands its output on at least every 100 ms. */
	int live;
} pkx_source_info;

/* A time range [start, end) in nanoseconds since the epoch. */
typedef struct pkx_time_range {
	uint64_t start;
	uint64_t end; /* UINT64_MAX: unbounded */
} pkx_time_range;

/* Borrowed for open(): a source copies what it keeps. */
typedef struct pkx_source_args {
	uint32_t size;    /* sizeof(pkx_source_args) as the core knows it */
	const char *root; /* the data root */
	const char *path; /* as the user gave it, e.g. "fs/trace.pcap" */
	/* The windows the export selects, sorted and disjoint: a hint a source
	 * may use to read less.  The core still checks every packet. */
	const pkx_time_range *windows;
	size_t n_windows;
	/* ABI 1.1.  A BPF expression every wanted packet matches (the
	 * export's BPF filters, joined with "and"), or NULL: a live source
	 * may hand it to the kernel so that only those packets are copied
	 * to it.  The core still applies every filter. */
	const char *prefilter;
	/* ABI 1.5 (when PKX_ARGS_HAVE(args, pkx_source_args, export)).  The
	 * export, or NULL: a live source counts its drops through it. */
	const pkx_export_handle *export;
	/* ABI 1.6 (when PKX_ARGS_HAVE(args, pkx_source_args, flags)). */
	uint32_t flags;
} pkx_source_args;

/* pkx_source_args.flags: the export is a LIVE_STREAM.  A source that
 * grows while it is read (a packet store being recorded) follows it,
 * declaring itself live, until the last window ends, instead of ending at
 * what there is when it opens. */
#define PKX_SOURCE_FOLLOW 1u

/* Every call on an instance comes from its export's thread, one at a
 * time, and may block (next() of a live source a quarter of a second at
 * most). */
typedef struct pkx_source_plugin {
	pkx_plugin_header header;
	/* Mandatory.  Opens args->path (args borrowed); *instance is owned by
	 * the core from then on and released by close. */
	pkx_result (*open)(const pkx_source_args *args, void **instance,
	                   pkx_error *err);
	/* Mandatory.  Owned by the instance. */
	const pkx_source_info *(*info)(void *instance);
	/* Mandatory.  PKX_OK with *pkt filled (borrowed until the next call),
	 * PKX_END at the end, PKX_ERROR when the input is damaged or
	 * unreadable: packets returned before stay valid output.  A live
	 * source (ABI 1.1) waits a short while (a quarter of a second at
	 * most) and returns PKX_AGAIN when nothing came, so the core can
	 * check its clock, cancel flag and held packets between packets. */
	pkx_result (*next)(void *instance, pkx_packet *pkt, pkx_error *err);
	/* Optional.  Bytes of input consumed so far, for progress. */
	uint64_t (*position)(void *instance);
	/* Mandatory.  Releases the instance. */
	void (*close)(void *instance);
	/* Optional, ABI 1.3.  Once the filters are compiled, a BPF
	 * expression every wanted packet matches, wider than the one at open
	 * (it includes what other filter languages can say in BPF, through
	 * their to_bpf): a live source may filter with it in the kernel from
	 * now on.  A failure costs speed only; the core applies every filter
	 * anyway. */
	pkx_result (*set_prefilter)(void *instance, const char *bpf,
	                            pkx_error *err);
	void *reserved[7];
} pkx_source_plugin;

/* ---------------------------------------------------------------- filter */

/* Every call on a program comes from its export's thread, one at a time,
 * and may block (a compile may take seconds: it never runs on the
 * daemon's event loop, and neither does free). */
/* The most batches the core keeps in flight (ABI 1.8 batches_in_flight). */
#define PKX_BATCHES_IN_FLIGHT_MAX 2

typedef struct pkx_filter_plugin {
	pkx_plugin_header header;
	/* Mandatory.  Compiles `expr` for the given interfaces (a program may
	 * be compiled once per link type); type, expr and ifs are borrowed.
	 * *program is owned by the core from then on and released by free.
	 * A syntax error is REQUEST_INVALID_INPUT with the compiler's own
	 * message. */
	pkx_result (*compile)(const char *type, const char *expr,
	                      const pkx_interface *ifs, size_t n_ifs,
	                      void **program, pkx_error *err);
	/* Mandatory.  1 when the packet matches, 0 when not, -1 on failure
	 * (err set; the export ends in ERRORS).  The packet is borrowed. */
	int (*match)(void *program, const pkx_packet *pkt, pkx_error *err);
	/* Optional.  A BPF expression true for every packet the program
	 * accepts (a pre-filter), or NULL.  Owned by the program. */
	const char *(*to_bpf)(void *program);
	/* Mandatory. */
	void (*free)(void *program);
	/* Optional, ABI 1.1 (read only from a module built for 1.1 or later).
	 * Answers for n packets at once, in the order given: for a filter
	 * that pays a fixed price per call (another process, a device).
	 * Sets verdicts[i] to 1 or 0 and returns n; on failure returns how
	 * many leading verdicts it set before the packet that failed, with
	 * err set.  The packets are borrowed for the call; they are the
	 * packets match() would have seen, in its order, so stateful
	 * programs see no difference. */
	size_t (*match_batch)(void *program, const pkx_packet *pkts, size_t n,
	                      uint8_t *verdicts, pkx_error *err);
	/* Optional, ABI 1.3.  The source met new interfaces mid-stream: ifs
	 * is the whole list, the first ones unchanged.  PKX_OK when the
	 * program goes on with them (keeping whatever state it has: frame
	 * numbers, reassembly); PKX_DECLINED to be compiled again for the
	 * whole list instead (what happens without it); PKX_ERROR with err
	 * set. */
	pkx_result (*add_interfaces)(void *program, const pkx_interface *ifs,
	                             size_t n_ifs, pkx_error *err);
	/* Optional, ABI 1.4.  Called once after each compile, before any
	 * match: *cancelled becomes nonzero when the export is cancelled
	 * (a DELETE, a service stopping, Ctrl-C), and the flag stays valid
	 * for the program's life.  A match or match_batch that waits on
	 * something else (another process, a device) reads it
	 * (__atomic_load_n, relaxed) at least every quarter of a second and,
	 * once set, gives up with a failure: the core ends the export as
	 * cancelled, not failed.  Without it, a cancel waits for the call
	 * to return. */
	void (*watch_cancel)(void *program, const int *cancelled);
	/* Optional, ABI 1.5.  Called once after each compile, before any
	 * match: the export the program works for (see pkx_export_handle). */
	void (*bind_export)(void *program, const pkx_export_handle *export);
	/* Optional, ABI 1.7, both or neither (and match_batch too): the two
	 * halves of match_batch, for a filter whose answers are computed
	 * elsewhere (another process), so the core reads the next packets
	 * and writes the last ones out meanwhile.  batch_submit takes n
	 * packets (borrowed for the call: copy what is needed) and returns
	 * without waiting for their answers; batch_collect waits for them,
	 * sets verdicts[0..n) and returns what match_batch would have (n, or
	 * how many leading verdicts are set, err set).  Batches are
	 * collected in the order they were submitted; at most
	 * batches_in_flight (below; one before ABI 1.8) are submitted and not
	 * collected, and every submit is collected before any other call on
	 * the program but free.  A submit that fails reports it at its
	 * collect (returning PKX_ERROR is the same as a collect answering
	 * 0). */
	pkx_result (*batch_submit)(void *program, const pkx_packet *pkts,
	                           size_t n, pkx_error *err);
	size_t (*batch_collect)(void *program, uint8_t *verdicts,
	                        pkx_error *err);
	/* Optional, ABI 1.8, with batch_submit: how many batches the filter
	 * takes submitted and not yet collected (0 or 1: one).  With 2 the
	 * core submits the next batch before it has collected the last one,
	 * so the filter is never left waiting for the core between batches.
	 * The core keeps no more than PKX_BATCHES_IN_FLIGHT_MAX. */
	size_t batches_in_flight;
	void *reserved[1];
} pkx_filter_plugin;

/* ---------------------------------------------------------------- format */

/* Where a format writes.  The core supplies it (HTTP stream, spool file,
 * output file) and buffers behind it; owned by the core, valid until the
 * format's end() returns.  write() may block while a reader is slow. */
typedef struct pkx_sink pkx_sink;
struct pkx_sink {
	pkx_result (*write)(pkx_sink *sink, const void *buf, size_t len,
	                    pkx_error *err);
	/* The core's own, optional: hands on what the sink buffered (a live
	 * export's packets go out as they come).  Formats never call it. */
	pkx_result (*flush)(pkx_sink *sink, pkx_error *err);
};

/* Borrowed for begin() (the interfaces too: copy what you keep). */
typedef struct pkx_format_args {
	uint32_t size;      /* sizeof(pkx_format_args) as the core knows it */
	const char *format; /* the claimed name asked for, e.g. "PCAP_NS" */
	const pkx_interface *interfaces;
	size_t n_interfaces;
	uint32_t snaplen; /* the export's snap length */
	/* ABI 1.2.  Nonzero when packets are cut to snaplen (the export
	 * asked for a snap length); zero when they are kept as captured and
	 * snaplen is only the one limit a pcap header can state for them. */
	int cut;
	/* ABI 1.5 (when PKX_ARGS_HAVE(args, pkx_format_args, export)).  The
	 * export, or NULL (a format checked before any export runs). */
	const pkx_export_handle *export;
} pkx_format_args;

/* Every call on an instance comes from its export's thread, one at a
 * time, and may block (the sink may). */
typedef struct pkx_format_plugin {
	pkx_plugin_header header;
	/* Mandatory.  Writes the file header through sink.  Refuses (with
	 * REQUEST_INVALID_INPUT) interfaces it cannot represent. */
	pkx_result (*begin)(const pkx_format_args *args, pkx_sink *sink,
	                    void **instance, pkx_error *err);
	/* Mandatory.  pkt->caplen is already cut to the snap length; the
	 * packet is borrowed for this call. */
	pkx_result (*write)(void *instance, const pkx_packet *pkt,
	                    pkx_error *err);
	/* Mandatory.  Writes any trailer when `complete`, and releases the
	 * instance in every case. */
	pkx_result (*end)(void *instance, int complete, pkx_error *err);
	/* Optional.  The source's interface list grew mid-stream; ifs is the
	 * whole new list (the first n as before), borrowed for the call.
	 * Without this callback, or when it fails, the export ends in an
	 * error. */
	pkx_result (*add_interfaces)(void *instance, const pkx_interface *ifs,
	                             size_t n_ifs, pkx_error *err);
	void *reserved[8];
} pkx_format_plugin;

/* The entry symbol: returns a pointer to a static descriptor whose header
 * says which of the three kinds follows. */
typedef const pkx_plugin_header *(*pkx_plugin_entry_fn)(void);
/* Exported even from a module built with -fvisibility=hidden. */
__attribute__((visibility("default"))) const pkx_plugin_header *
PKX_PLUGIN_ENTRY(void);

#ifdef __cplusplus
}
#endif

#endif /* PKTEXPORT_PLUGIN_H */
