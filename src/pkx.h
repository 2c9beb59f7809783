/* libpktexport: the core's internal API shared by the CLI, the daemon and
 * the tests.  Plugins never see this header. */
#ifndef PKX_CORE_H
#define PKX_CORE_H

#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>

#include "pktexport/plugin.h"

#define PKX_TIME_UNBOUNDED UINT64_MAX

/* API error ids used by the core: those of plugin.h, and these. */
#define PKX_EGONE "CLIENT_DISCONNECTED"

/* ------------------------------------------------------------ errors/log */

pkx_result pkx_fail(pkx_error *err, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Passes on an error a plugin reported: its id, or dflt when it gave
 * none, and its text after a prefix made from fmt (may be NULL). */
pkx_result pkx_fail_from(pkx_error *err, const pkx_error *why, const char *dflt,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void pkx_error_clear(pkx_error *err);

void pkx_log(int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void pkx_log_set_level(int level);
/* The program named at the start of each line (default "pktexport"). */
void pkx_log_set_name(const char *name);
/* How lines look (a daemon's choice; the command line has neither):
 * PKX_LOG_TIMESTAMP starts each with its UTC time, PKX_LOG_PRIORITY with
 * a syslog priority, <3> to <7>, as the journal reads them. */
enum { PKX_LOG_TIMESTAMP = 1, PKX_LOG_PRIORITY = 2 };
void pkx_log_set_style(int style);
/* At most burst lines at once and per_second lines a second on average
 * (a flood of refusals must not fill a disk); lines over it are counted
 * and the count said with the next line that goes out.  0: no limit. */
void pkx_log_set_rate(unsigned per_second, unsigned burst);
uint64_t pkx_now_ns(void);       /* monotonic */
uint64_t pkx_wallclock_ns(void); /* since the epoch */

/* The service table handed to every plugin. */
const pkx_services *pkx_core_services(void);

/* ------------------------------------------------------------------ time */

/* Parses seconds since the epoch with up to 9 fraction digits
 * ("1700000000", "1700000000.5") into nanoseconds.  `field` names the value
 * in the error. */
pkx_result pkx_time_parse(const char *text, const char *field, uint64_t *ns,
                          pkx_error *err);
/* Accepts a JSON string as above or a non-negative JSON number. */
pkx_result pkx_time_from_json(const json_t *value, const char *field,
                              uint64_t *ns, pkx_error *err);
/* "1700000000.123456789" (always 9 fraction digits); buf >= 32 bytes. */
void pkx_time_format(uint64_t ns, char *buf, size_t len);
/* The command line's times (pktexport(1), TIMES): ISO 8601 with a zone
 * or Z, "YYYY-MM-DD HH:MM:SS[.fraction]" in local time, seconds since the
 * epoch with up to 9 decimals, "now", and "-10m" (before now_ns; units s,
 * m, h, d).  Integer arithmetic throughout: exact to the nanosecond.
 * Errors name `flag` and the text. */
pkx_result pkx_time_parse_cli(const char *text, const char *flag,
                              uint64_t now_ns, uint64_t *ns, pkx_error *err);
/* "30s", "1.5s", "250ms", "10m", "2h", "1d" (ns, us, ms, s, m, h, d; a
 * bare number is seconds). */
pkx_result pkx_duration_parse(const char *text, const char *flag, uint64_t *ns,
                              pkx_error *err);
/* "2023-11-14T22:13:20.000000000Z"; buf >= 40 bytes. */
void pkx_time_format_iso(uint64_t ns, char *buf, size_t len);

/* ---------------------------------------------------------------- config */

/* start inclusive, end exclusive (PKX_TIME_UNBOUNDED for none). */
typedef pkx_time_range pkx_window;

typedef struct pkx_filter_spec {
	char *id;
	char *type;
	char *value;
	char *context; /* NULL when absent */
} pkx_filter_spec;

typedef struct pkx_config {
	char *path;
	uint64_t start_ns; /* 0 when unbounded */
	uint64_t end_ns;   /* PKX_TIME_UNBOUNDED when unbounded */
	pkx_window *intervals;
	size_t n_intervals;
	int has_intervals;
	pkx_filter_spec *filters;
	size_t n_filters;
	char *output_format; /* never NULL: defaults to PCAP_US */
	char *mode;          /* never NULL: defaults to BUFFER_STREAM */
	char *output_filename;
	uint32_t snap_length;  /* 1..65535; 0: packets are kept as captured */
	uint64_t packet_limit; /* 0: none */
	uint64_t size_limit;   /* 0: none */
	uint32_t time_limit;   /* seconds, 0: none */
	uint64_t connection_timeout_msec;
	uint64_t handle_timeout_msec;
	int has_handle_timeout;
	json_t *json; /* the validated object, with defaults filled in */
} pkx_config;

/* Validates a `config` object exactly as the 1.3 definition says.  Does not
 * keep a reference to obj. */
pkx_result pkx_config_parse(const json_t *obj, pkx_config **out,
                            pkx_error *err);
void pkx_config_free(pkx_config *cfg);

/* What a service accepts from clients, so that the largest accepted set
 * of filters compiles in well under a second (doc/api.md "Limits"; the
 * command line, whose user runs what they ask for, has none):
 * PKX_FILTER_ITEMS items; a BPF value of PKX_FILTER_BPF_MAX bytes,
 * PKX_FILTER_BPF_ALL for all BPF values (libpcap's optimiser is the slow
 * one); any other value PKX_FILTER_TEXT_MAX bytes; all values together
 * PKX_FILTER_ALL bytes. */
#define PKX_FILTER_ITEMS    16
#define PKX_FILTER_BPF_MAX  1024
#define PKX_FILTER_BPF_ALL  2048
#define PKX_FILTER_TEXT_MAX 16384
#define PKX_FILTER_ALL      32768
pkx_result pkx_config_check_bounds(const pkx_config *cfg, pkx_error *err);

/* Live sources (`interfaces/<name>`) never end by themselves. */
int pkx_path_is_live(const char *path);
/* The rules between modes and live sources: LIVE_STREAM reads a live
 * source; when `unattended` (the export runs with no client to end it:
 * PREPARE, STREAM_TO_FILE), a live source needs a stop rule or an
 * end_time. */
pkx_result pkx_config_check_live(const pkx_config *cfg, int unattended,
                                 pkx_error *err);

/* The selected time ranges: the union of time_intervals (or everything)
 * clipped by start/end, sorted and merged.  Returns the count (0: nothing
 * can match); *out is malloc'd (NULL when the count is 0). */
size_t pkx_config_windows(const pkx_config *cfg, pkx_window **out);

/* -------------------------------------------------------------- registry */

typedef struct pkx_registry pkx_registry;

pkx_registry *pkx_registry_new(void);
void pkx_registry_free(pkx_registry *reg);
/* Loads every module in dirs (folders separated by ':', in order; the
 * first module to claim something keeps it); refusals are logged, not
 * fatal.  Returns the number loaded, or -1 when no folder can be read. */
int pkx_registry_load_dir(pkx_registry *reg, const char *dirs);
/* Loads one module (path with or without extension). */
pkx_result pkx_registry_load(pkx_registry *reg, const char *path,
                             pkx_error *err);
const pkx_source_plugin *pkx_registry_source(const pkx_registry *reg,
                                             const char *path);
const pkx_filter_plugin *pkx_registry_filter(const pkx_registry *reg,
                                             const char *type);
const pkx_format_plugin *pkx_registry_format(const pkx_registry *reg,
                                             const char *format);
/* Calls fn for every loaded plugin header. */
void pkx_registry_each(const pkx_registry *reg,
                       void (*fn)(const pkx_plugin_header *h, void *data),
                       void *data);
/* Adds a plugin linked into the program (the command line's -r inputs):
 * checked as a module is, never unloaded. */
pkx_result pkx_registry_add_builtin(pkx_registry *reg,
                                    const pkx_plugin_header *h, pkx_error *err);
/* The plugin directory: $PKTEXPORT_PLUGIN_DIR or the installed one. */
const char *pkx_default_plugin_dir(void);
/* Whether a request can name a plugin's claim: a filter type or an output
 * format is an API name (pkx_api_name_ok), a source claim a folder prefix
 * of the data root ("fs/", "jobs/", "vendor/live/").  NULL when it can,
 * else why not. */
const char *pkx_claim_problem(pkx_kind kind, const char *claim);
/* Upper-case letters, digits and '_', not starting with a digit, 1 to 32
 * characters: the names config.filters.items[].type and
 * config.output_format take. */
int pkx_api_name_ok(const char *name);

/* ------------------------------------------------------------------ path */

/* Opens base/rel read-only, refusing escapes from base (see
 * pkx_services.open_under_root).  A regular file is required. */
int pkx_open_under(const char *base, const char *rel, pkx_error *err);
/* Checks that rel is a clean relative path: not empty, not absolute, no
 * "." or ".." component, no empty component, no NUL.  `field` names it. */
pkx_result pkx_check_relpath(const char *rel, const char *field,
                             pkx_error *err);

/* The command line's own inputs (-r): fn answers open_under_root for the
 * paths it knows (a descriptor, or -1 with err set) and returns -2 for
 * the others, which go to pkx_open_under.  NULL removes it. */
void pkx_services_set_opener(int (*fn)(const char *root, const char *rel,
                                       pkx_error *err));

/* ------------------------------------------------------------------ sink */

/* A buffered sink writing to a file descriptor. */
typedef struct pkx_fd_sink {
	pkx_sink sink; /* first: a pkx_sink* is a pkx_fd_sink* */
	int fd;
	uint8_t *buf;
	size_t len, cap;
	uint64_t written; /* bytes handed to write(2) */
} pkx_fd_sink;

pkx_result pkx_fd_sink_init(pkx_fd_sink *s, int fd, size_t cap, pkx_error *err);
pkx_result pkx_fd_sink_flush(pkx_fd_sink *s, pkx_error *err);
void pkx_fd_sink_release(pkx_fd_sink *s); /* frees the buffer, not the fd */

/* A sink that discards everything (used to validate a format). */
extern pkx_sink pkx_null_sink;

/* ----------------------------------------------------------------- stats */

typedef struct pkx_stats {
	uint64_t processed_packets;
	uint64_t exported_packets;
	uint64_t exported_bytes;
	uint64_t total_bytes;
	uint64_t estimated_packets;
	uint64_t estimated_bytes;
	uint64_t dropped_packets;
	int has_estimates;
	int truncated;
} pkx_stats;

json_t *pkx_stats_to_json(const pkx_stats *st);

/* ------------------------------------------------------------------- run */

/* One export's pipeline: source -> windows -> filters -> snap -> stop
 * rules -> format -> sink. */
typedef struct pkx_run pkx_run;

typedef enum pkx_run_outcome {
	PKX_RUN_DONE = 0,      /* the source was read to its end */
	PKX_RUN_STOPPED = 1,   /* a stop rule ended it (stats.truncated) */
	PKX_RUN_CANCELLED = 2, /* pkx_run_cancel was called */
	PKX_RUN_FAILED = 3,    /* error set; output not usable */
	PKX_RUN_DAMAGED = 4,   /* the input is damaged past some point: the
	                          output holds every packet before it */
} pkx_run_outcome;

/* Opens the source, compiles the filters and checks the format accepts the
 * source's interfaces.  export_id (NULL: none) prefixes the log lines the
 * plugins write through their export handle.  Nothing is written anywhere.
 * Errors are the API's: REQUEST_INVALID_INPUT or RESOURCE_NOT_FOUND. */
pkx_result pkx_run_prepare(const pkx_registry *reg, const char *root,
                           const pkx_config *cfg, const char *export_id,
                           pkx_run **out, pkx_error *err);
/* Runs the export into sink (on the calling thread).  The sink is flushed
 * by the caller. */
pkx_run_outcome pkx_run_execute(pkx_run *run, pkx_sink *sink, pkx_error *err);
/* Thread-safe: may be called from any thread while execute runs. */
void pkx_run_cancel(pkx_run *run);
/* Thread-safe.  Ends the export as a stop rule would (PKX_RUN_STOPPED,
 * output complete): how a live export is ended on purpose.  The packets
 * the source already holds still go out (it is read until it says
 * PKX_AGAIN, half a second at most). */
void pkx_run_stop(pkx_run *run);
void pkx_run_stats(const pkx_run *run, pkx_stats *out);
double pkx_run_progress(const pkx_run *run); /* 0..100 */
/* Bytes of the source read so far (also when its size is not known: a
 * pipe, a compressed file). */
uint64_t pkx_run_position(const pkx_run *run);
void pkx_run_free(pkx_run *run);
/* What the source turned out to be, after prepare. */
const pkx_source_info *pkx_run_source_info(const pkx_run *run);
const char *pkx_run_path(const pkx_run *run);
/* Another output format, checked against the source's interfaces as
 * prepare checks cfg's (the command line picks it from the input). */
pkx_result pkx_run_set_format(pkx_run *run, const pkx_registry *reg,
                              const char *format, pkx_error *err);

#endif /* PKX_CORE_H */
