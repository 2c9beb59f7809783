/* pktexport: the command line.  `pktexport export` runs one export
 * locally; its options map one to one onto the API's config object. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pkx.h"
#include "cli.h"
#include "cli_input.h"
#include "daemon/codes.h"
#include "pkx_paths.h"
#include "size_arg.h"

static pkx_run *volatile cli_running;
static volatile sig_atomic_t cli_live;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pktexport -r FILE [-r FILE...] [options] [BPF expression]\n"
	    "       pktexport [export] --root DIR [options] PATH [BPF "
	    "expression]\n"
	    "       pktexport store import|index|info|locate ... (pktexport "
	    "store --help)\n"
	    "       pktexport capture --root DIR [options] JOB IFACE...\n"
	    "       pktexport time TIME...   (how pktexport reads a time)\n"
	    "       pktexport plugins [--plugin-dir DIR]\n"
	    "       pktexport access-code [--root DIR] USER|--list|--revoke "
	    "PREFIX\n"
	    "       pktexport --version\n"
	    "\n"
	    "Input:\n"
	    "  -r, --read FILE        a capture (pcap, pcapng; gzip or zstd "
	    "too), anywhere;\n"
	    "                         repeat to merge by time; - is standard "
	    "input\n"
	    "      --root DIR         data root for PATH (fs/<file>, "
	    "jobs/<name>,\n"
	    "                         clips/<id>, interfaces/<name>); "
	    "default .\n"
	    "Output:\n"
	    "  -w, -o FILE|-          where to write (default: standard "
	    "output)\n"
	    "  -F FORMAT              pcap, nsecpcap, pcapng, nsecpcapng "
	    "(or PCAP_US,\n"
	    "                         PCAP_NS, PCAPNG_US, PCAPNG_NS), any "
	    "case; default:\n"
	    "                         the file name's extension, else the "
	    "input's format\n"
	    "                         and resolution\n"
	    "Packets:\n"
	    "  BPF expression         the words after the options, as in "
	    "tcpdump\n"
	    "  -f, --filter [TYPE:]EXPR  a filter (BPF, WIRESHARK, "
	    "STEELFILTER; any case);\n"
	    "                         without TYPE: BPF; repeatable, all "
	    "must match\n"
	    "  -Y EXPR                a Wireshark display filter, as in "
	    "tshark\n"
	    "      --start TIME       first time (see TIMES)\n"
	    "      --end TIME         end time (exclusive)\n"
	    "      --duration D       end = start + D (30s, 250ms, 10m, 2h, "
	    "1d)\n"
	    "      --interval S,E     a time interval, repeatable (a "
	    "union)\n"
	    "  -c, --count N          write at most N packets\n"
	    "  -s, --snaplen N        cut packets to N bytes (0: as "
	    "captured)\n"
	    "      --size-limit BYTES at most BYTES of packet data (64k, "
	    "500M)\n"
	    "      --time-limit S     stop after S seconds\n"
	    "      --config FILE      the API's config object from FILE; "
	    "options add to it\n"
	    "      --follow           jobs/<name> being recorded: follow it "
	    "(LIVE_STREAM)\n"
	    "Messages:\n"
	    "  -q, --quiet            no progress line and no summary\n"
	    "      --stats, --json    the statistics as JSON on standard "
	    "error\n"
	    "      --json-errors      errors as the API's JSON (also "
	    "PKTEXPORT_JSON_ERRORS=1)\n"
	    "  -v, --verbose          log more\n"
	    "      --plugin-dir DIR   load plugins from DIR (DIR:DIR...)\n"
	    "\n"
	    "TIMES: 2023-11-14T22:13:21.123456789Z, 2023-11-14T23:13:21+01:00,"
	    "\n'2023-11-14 22:13:21' (local time), 1700000001.5 (seconds "
	    "since the epoch),\nnow, -10m (ago: s, m, h, d).  Exact to the "
	    "nanosecond.\n"
	    "\n"
	    "Exit status: 0 done, 2 refused (nothing written), 1 failed or "
	    "damaged input,\n130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (what was "
	    "written is a valid capture).\nWhen the reader of the output goes "
	    "away (| head), pktexport ends quietly\nwith 0, as tcpdump "
	    "does.\n");
}

static void print_error(const char *id, const char *text)
{
	json_t *e = json_pack("{s:s, s:s}", "error_id", id, "error_text", text);
	char *s = json_dumps(e, JSON_COMPACT);

	fprintf(stderr, "%s\n", s ? s : text);
	free(s);
	json_decref(e);
}

static int json_errors;

/* One line on stderr: the API's JSON (--json-errors), or for people. */
void cli_say_error(const char *id, const char *text)
{
	if (json_errors)
		print_error(id, text);
	else
		fprintf(stderr, "pktexport: %s\n", text);
}

int cli_json_errors(void)
{
	return json_errors;
}

void cli_set_json_errors(int on)
{
	json_errors = on;
}

int cli_json_errors_from_env(void)
{
	const char *env = getenv("PKTEXPORT_JSON_ERRORS");

	return env && *env && strcmp(env, "0") != 0;
}

static int reject(const pkx_error *err)
{
	cli_say_error(err->id, err->text);
	return EXIT_REJECTED;
}

static json_t *child(json_t *obj, const char *key, json_t *(*make)(void))
{
	json_t *c = json_object_get(obj, key);

	if (!c) {
		c = make();
		json_object_set_new(obj, key, c);
	}
	return c;
}

/* Options that take a number: kept as JSON integers so that the config
 * validation judges their range. */
static int set_number(json_t *obj, const char *key, const char *opt,
                      const char *text, pkx_error *err)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(text, &end, 10);
	if (!*text || *end || text[0] == '-' || errno || v > LLONG_MAX) {
		pkx_fail(err, PKX_EINVAL, "%s \"%s\" is not a number", opt,
		         text);
		return -1;
	}
	json_object_set_new(obj, key, json_integer((json_int_t)v));
	return 0;
}

/* A size of the command line ("500M", "64k": powers of 1024). */
static int set_size(json_t *obj, const char *key, const char *opt,
                    const char *text, pkx_error *err)
{
	uint64_t v;

	if (size_arg(text, LLONG_MAX, &v) != 0) {
		pkx_fail(err, PKX_EINVAL,
		         "%s \"%s\" is not a size in bytes (65536, 64k, 500M, "
		         "2G: k, M, G, T are powers of 1024)",
		         opt, text);
		return -1;
	}
	json_object_set_new(obj, key, json_integer((json_int_t)v));
	return 0;
}

/* A time of the command line as the API writes it ("S.NNNNNNNNN"). */
static json_t *api_time(uint64_t ns)
{
	char buf[32];

	pkx_time_format(ns, buf, sizeof(buf));
	return json_string(buf);
}

static int add_interval(json_t *cfg, const char *arg, uint64_t now,
                        pkx_error *err)
{
	const char *comma = strchr(arg, ',');
	json_t *list = child(cfg, "time_intervals", json_array);
	uint64_t s, e;
	char *start;
	int rc;

	if (!comma) {
		pkx_fail(err, PKX_EINVAL,
		         "--interval \"%s\" is not START,END (two times and a "
		         "comma)",
		         arg);
		return -1;
	}
	start = strndup(arg, (size_t)(comma - arg));
	rc = pkx_time_parse_cli(start, "--interval (start)", now, &s, err) ==
	                 PKX_OK &&
	             pkx_time_parse_cli(comma + 1, "--interval (end)", now, &e,
	                                err) == PKX_OK
	         ? 0
	         : -1;
	free(start);
	if (rc == 0 && s > e && e != 0) { /* 0: unbounded */
		char a[48], b[48];

		pkx_time_format_iso(s, a, sizeof(a));
		pkx_time_format_iso(e, b, sizeof(b));
		pkx_fail(err, PKX_EINVAL,
		         "--interval \"%s\": its start (%s) is after its end "
		         "(%s)",
		         arg, a, b);
		rc = -1;
	}
	if (rc == 0)
		json_array_append_new(list, json_pack("{s:o, s:o}",
		                                      "start_time", api_time(s),
		                                      "end_time", api_time(e)));
	return rc;
}

/* --start, --end and --duration, read against one "now". */
static int set_times(json_t *flags, const char *start, const char *end,
                     const char *duration, uint64_t now, pkx_error *err)
{
	uint64_t s = 0, e = 0, d = 0;

	if (start && pkx_time_parse_cli(start, "--start", now, &s, err))
		return -1;
	if (end && pkx_time_parse_cli(end, "--end", now, &e, err))
		return -1;
	if (duration) {
		if (pkx_duration_parse(duration, "--duration", &d, err))
			return -1;
		if (!start) {
			pkx_fail(err, PKX_EINVAL,
			         "--duration %s counts from --start: give "
			         "--start too",
			         duration);
			return -1;
		}
		if (end) {
			pkx_fail(err, PKX_EINVAL,
			         "--duration %s and --end %s both say where "
			         "the export ends: give one",
			         duration, end);
			return -1;
		}
		if (d > PKX_TIME_UNBOUNDED - 1 - s) {
			pkx_fail(err, PKX_EINVAL,
			         "--duration %s: the end is out of range",
			         duration);
			return -1;
		}
		e = s + d;
		end = duration;
	}
	if (start && end && s > e && e != 0) { /* 0: unbounded */
		char a[48], b[48];

		pkx_time_format_iso(s, a, sizeof(a));
		pkx_time_format_iso(e, b, sizeof(b));
		pkx_fail(err, PKX_EINVAL,
		         "--start \"%s\" (%s) is after --end \"%s\" (%s)",
		         start, a, end, b);
		return -1;
	}
	if (start)
		json_object_set_new(flags, "start_time", api_time(s));
	if (end)
		json_object_set_new(flags, "end_time", api_time(e));
	return 0;
}

/* Where the capture goes: a temporary file renamed into place at the end,
 * so a failed run never leaves a file looking complete.  No file is
 * written through a symbolic link: the rename replaces a link named -w
 * (to a file, or to nothing) with the file itself.  A FIFO, a device or
 * a socket named -w is written into, also through a link (/dev/stdout,
 * /dev/fd/N, a shell's >(...)): there is no file there to replace. */
typedef struct cli_output {
	const char *path; /* NULL: standard output */
	char *tmp;        /* temporary name, or NULL when writing in place */
	int fd;
} cli_output;

/* The descriptors the caller gave (a shell's 9>FILE or >(...)), as they
 * were when main began, before any of ours: -w /dev/fd/N names only
 * these, never our own input, socket or helper's pipe that took a free
 * number since.  Descriptors 0 to 1023. */
static uint64_t cli_given[1024 / 64];

static void note_given_fds(void)
{
	int fd;

	for (fd = 0; fd < 1024; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			cli_given[fd / 64] |= 1ull << (fd % 64);
}

static int fd_given(long fd)
{
	return fd >= 0 && fd < 1024 && (cli_given[fd / 64] >> (fd % 64)) & 1;
}

/* The descriptor a path names, as /dev/stdout, /dev/fd/N or
 * /proc/self/fd/N do (also through a link of one's own to them); -1 for
 * any other path (a link to a descriptor not open is a link to nothing);
 * -2 - N when the path itself names descriptor N and it is not open. */
static int fd_named(const char *path, int depth)
{
	static const char *const dirs[] = {"/dev/fd/", "/proc/self/fd/"};
	char to[PATH_MAX];
	ssize_t n;
	size_t i;

	if (strcmp(path, "/dev/stdout") == 0)
		return STDOUT_FILENO;
	if (strcmp(path, "/dev/stderr") == 0)
		return STDERR_FILENO;
	for (i = 0; i < sizeof(dirs) / sizeof(*dirs); i++) {
		size_t len = strlen(dirs[i]);
		char *end;
		long fd;

		if (strncmp(path, dirs[i], len) != 0 || !path[len])
			continue;
		fd = strtol(path + len, &end, 10);
		if (!*end && fd >= 0 && fd < INT_MAX)
			return fd_given(fd) && fcntl((int)fd, F_GETFD) >= 0
			           ? (int)fd
			       : depth ? -1
			               : -2 - (int)fd;
	}
	n = depth < 8 ? readlink(path, to, sizeof(to) - 1) : -1;
	if (n <= 0)
		return -1;
	to[n] = '\0';
	return fd_named(to, depth + 1);
}

/* -w naming a terminal: refused, as "-w -" is on one. */
static int refuse_terminal(const char *path, pkx_error *err)
{
	pkx_fail(err, PKX_EINVAL,
	         "-w %s is a terminal: refusing to write a capture there; "
	         "give -w FILE",
	         path);
	return -1;
}

int cli_output_stream(const char *path, int *fd, pkx_error *err)
{
	struct stat st, to;
	int named;

	*fd = -1;
	if (!path || strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO))
			pkx_fail(err, PKX_EINVAL,
			         "refusing to write a capture to a terminal: "
			         "give -w FILE");
		else if ((fcntl(STDOUT_FILENO, F_GETFL) & O_ACCMODE) ==
		         O_RDONLY)
			pkx_fail(err, PKX_EINVAL,
			         "standard output is closed or open for "
			         "reading only: give -w FILE");
		else
			*fd = STDOUT_FILENO;
		return *fd >= 0 ? 1 : -1;
	}
	if ((named = fd_named(path, 0)) < -1) {
		pkx_fail(err, PKX_EINVAL,
		         "-w %s: descriptor %d is not open (a shell opens it "
		         "with %d>FILE)",
		         path, -2 - named, -2 - named);
		return -1;
	}
	if (named >= 0) {
		/* An open descriptor of ours (-w /dev/stdout, a shell's
		 * >(...)): written through a copy of it, as "-w -" writes to
		 * standard output; what it leads to is the caller's, never
		 * replaced. */
		int fl = fcntl(named, F_GETFL);

		if (isatty(named))
			refuse_terminal(path, err);
		else if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
			pkx_fail(err, PKX_EINVAL,
			         "-w %s: descriptor %d is open for reading "
			         "only",
			         path, named);
		else if ((*fd = fcntl(named, F_DUPFD_CLOEXEC, 3)) < 0)
			pkx_fail(err, PKX_EIO, "-w %s: %s", path,
			         strerror(errno));
		return *fd >= 0 ? 1 : -1;
	}
	if (lstat(path, &st) != 0)
		return 0;
	/* A link to a pipe or a device is followed; one to a file (or to
	 * nothing) is replaced by the file, not followed; one to a folder
	 * is refused as the folder is. */
	if (S_ISLNK(st.st_mode) &&
	    (stat(path, &to) != 0 || S_ISREG(to.st_mode)))
		return 0;
	if (S_ISLNK(st.st_mode))
		st = to;
	if (S_ISDIR(st.st_mode)) {
		pkx_fail(err, PKX_EINVAL, "-w %s is a folder: give a file name",
		         path);
		return -1;
	}
	if (S_ISREG(st.st_mode))
		return 0;
	/* A device or FIFO: written straight into. */
	if ((*fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
		pkx_fail(err, PKX_EIO, "cannot open %s: %s", path,
		         strerror(errno));
		return -1;
	}
	if (isatty(*fd)) {
		close(*fd);
		*fd = -1;
		return refuse_terminal(path, err);
	}
	return 1;
}

static int output_open(cli_output *o, const char *path, pkx_error *err)
{
	struct stat st;
	char *copy, *dir;
	int exists, rc;

	memset(o, 0, sizeof(*o));
	if ((rc = cli_output_stream(path, &o->fd, err)) != 0) {
		if (o->fd != STDOUT_FILENO)
			o->path = path;
		return rc > 0 ? 0 : -1;
	}
	o->path = path;
	/* A file to make, or one to replace (a link is replaced, never
	 * written through). */
	exists = lstat(path, &st) == 0 && S_ISREG(st.st_mode);
	copy = strdup(path);
	dir = dirname(copy);
	o->tmp = malloc(strlen(dir) + strlen(path) + 32);
	sprintf(o->tmp, "%s/.pktexport-XXXXXX", dir);
	free(copy);
	o->fd = mkstemp(o->tmp);
	if (o->fd < 0) {
		pkx_fail(err, PKX_EIO, "cannot create a file beside %s: %s",
		         path, strerror(errno));
		free(o->tmp);
		o->tmp = NULL;
		goto fail;
	}
	if (exists) {
		/* Replacing a file: it keeps its permissions (and its owner,
		 * where we may give it). */
		fchmod(o->fd, st.st_mode & 07777);
		if (fchown(o->fd, st.st_uid, st.st_gid) != 0) {
			/* not ours to give: the file becomes ours */
		}
	} else {
		mode_t mask = umask(0);

		umask(mask);
		fchmod(o->fd, 0666 & ~mask);
	}
	return 0;
fail:
	return -1;
}

static int output_close(cli_output *o, int keep, pkx_error *err)
{
	int ok = 1;

	if (o->fd > STDERR_FILENO && close(o->fd) != 0 && keep) {
		pkx_fail(err, PKX_EIO, "closing %s: %s", o->path,
		         strerror(errno));
		ok = 0;
	}
	if (o->tmp) {
		if (keep && ok && rename(o->tmp, o->path) != 0) {
			pkx_fail(err, PKX_EIO, "cannot rename into %s: %s",
			         o->path, strerror(errno));
			ok = 0;
		}
		if (!keep || !ok)
			unlink(o->tmp);
		free(o->tmp);
	}
	return ok ? 0 : -1;
}

/* Ctrl-C and SIGTERM end any export as a stop rule would: what was
 * written stays a valid capture, the summary says it was interrupted and
 * the exit status is 128 + the signal, as a shell reports it. */
static volatile sig_atomic_t cli_signal;

static void on_signal(int sig)
{
	cli_signal = sig;
	/* A live source is stopped (its held packets still go out); any
	 * other export is cancelled, which also wakes a filter waiting on a
	 * helper, and keeps what it wrote (below). */
	if (cli_running && cli_live)
		pkx_run_stop(cli_running);
	else if (cli_running)
		pkx_run_cancel(cli_running);
}

enum {
	OPT_ROOT = 256,
	OPT_START,
	OPT_END,
	OPT_DURATION,
	OPT_INTERVAL,
	OPT_PACKET_LIMIT,
	OPT_SIZE_LIMIT,
	OPT_TIME_LIMIT,
	OPT_STATS,
	OPT_PLUGIN_DIR,
	OPT_FOLLOW,
	OPT_CONFIG,
	OPT_JSON_ERRORS,
	OPT_DOWNLOAD,
};

static const struct option export_options[] = {
    {"read", required_argument, NULL, 'r'},
    {"root", required_argument, NULL, OPT_ROOT},
    {"write", required_argument, NULL, 'w'},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, 'F'},
    {"filter", required_argument, NULL, 'f'},
    {"display-filter", required_argument, NULL, 'Y'},
    {"start", required_argument, NULL, OPT_START},
    {"end", required_argument, NULL, OPT_END},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"snaplen", required_argument, NULL, 's'},
    {"count", required_argument, NULL, 'c'},
    {"packet-limit", required_argument, NULL, OPT_PACKET_LIMIT},
    {"size-limit", required_argument, NULL, OPT_SIZE_LIMIT},
    {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"stats", no_argument, NULL, OPT_STATS},
    {"json", no_argument, NULL, OPT_STATS},
    {"json-errors", no_argument, NULL, OPT_JSON_ERRORS},
    {"quiet", no_argument, NULL, 'q'},
    {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"download", no_argument, NULL, OPT_DOWNLOAD},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

/* A filter as typed, kept until the registry can tell a TYPE: prefix
 * from a BPF expression holding a colon. */
typedef struct cli_filter {
	char *type; /* NULL: decide from the text */
	char *value;
	char *typed; /* how the user wrote it, for messages */
} cli_filter;

typedef struct cli_args {
	const char *root, *output, *config_file, *plugin_dir, *format;
	const char *start, *end, *duration;
	int stats, quiet, has_inputs, output_is_w;
	int remote;           /* for a server (cli_remote.c): no local input */
	int download;         /* remote create --download */
	int root_given;       /* --root or --plugin-dir: local only */
	int format_from_file; /* the config file names output_format */
	json_t *flags;        /* config fields given as options */
	json_t *intervals;    /* --interval items, already API times */
	cli_filter *filters;
	size_t n_filters;
	char *bpf_words; /* the words after the options, joined */
	/* API names -> what the user typed, for messages */
	char typed_start[300], typed_end[300], typed_format[300];
	char typed_snap[64], typed_count[64];
	int follow;     /* --follow */
	int stdin_read; /* -r - given */
} cli_args;

static void add_cli_filter(cli_args *a, const char *type, const char *value,
                           const char *typed)
{
	cli_filter *f = realloc(a->filters, (a->n_filters + 1) * sizeof(*f));

	if (!f)
		abort();
	a->filters = f;
	f += a->n_filters++;
	f->type = type ? strdup(type) : NULL;
	f->value = strdup(value);
	f->typed = strdup(typed);
}

static void free_args(cli_args *a)
{
	size_t i;

	json_decref(a->flags);
	json_decref(a->intervals);
	for (i = 0; i < a->n_filters; i++) {
		free(a->filters[i].type);
		free(a->filters[i].value);
		free(a->filters[i].typed);
	}
	free(a->filters);
	free(a->bpf_words);
}

/* The option just read as the user spelled it: "--snaplen" or "-s". */
static const char *typed_flag(char **argv, const char *short_name, char *buf,
                              size_t len)
{
	const char *tok = optarg && optind >= 2 && argv[optind - 1] == optarg
	                      ? argv[optind - 2]
	                      : argv[optind - 1];

	if (strncmp(tok, "--", 2) != 0)
		return short_name;
	snprintf(buf, len, "%.*s", (int)strcspn(tok, "="), tok);
	return buf;
}

static int set_count(json_t *stop, const char *flag, const char *text,
                     pkx_error *err)
{
	const char *p = text;

	if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
		pkx_fail(err, PKX_EINVAL,
		         "%s %s: a packet count is at least 1, as in tcpdump",
		         flag, text);
		return -1;
	}
	for (; *p >= '0' && *p <= '9'; p++)
		;
	if (!*text || *p) {
		pkx_fail(err, PKX_EINVAL,
		         "%s %s: %s takes a packet count, as in tcpdump; the "
		         "config file is given with --config %s",
		         flag, text, flag, text);
		return -1;
	}
	if (strspn(text, "0") == strlen(text)) {
		/* The API's packet_limit 0 is "no limit": -c 0 would write
		 * everything, which nobody asking for 0 packets means. */
		pkx_fail(err, PKX_EINVAL,
		         "%s %s: a packet count is at least 1, as in tcpdump",
		         flag, text);
		return -1;
	}
	return set_number(stop, "packet_limit", flag, text, err);
}

/* A plugin folder the user named (--plugin-dir, PKTEXPORT_PLUGIN_DIR)
 * none of whose ':'-separated folders exists: a mistyped name, said in
 * one line (the installed folder missing is the registry's to explain). */
static int plugin_dir_missing(const char *opt, pkx_error *err)
{
	const char *env = getenv("PKTEXPORT_PLUGIN_DIR");
	const char *dirs = opt ? opt : env && *env ? env : NULL;
	const char *p = dirs;
	struct stat st;
	char one[PATH_MAX];

	while (p && *p) {
		size_t n = strcspn(p, ":");

		snprintf(one, sizeof(one), "%.*s", (int)n, p);
		if (n && stat(one, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		p += n + (p[n] == ':');
	}
	if (!dirs)
		return 0;
	pkx_fail(err, PKX_EINVAL,
	         "%s %s: no such folder (it names the folder of "
	         "source_file.so and the other plugins)",
	         opt ? "--plugin-dir" : "PKTEXPORT_PLUGIN_DIR", dirs);
	return 1;
}

/* Whether --json-errors is among the options (read before getopt says
 * anything of the others). */
static int json_errors_in(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
		if (strcmp(argv[i], "--json-errors") == 0)
			return 1;
	return 0;
}

static int parse_export_args(int argc, char **argv, cli_args *a, pkx_error *err)
{
	json_t *stop = json_object();
	char typed[4200], flag[64];
	int c, rc = 0;
	size_t len = 0;

	a->root = ".";
	a->flags = json_object();
	a->intervals = json_object();
	optind = 1;
	/* For scripts (--json-errors), one JSON error and nothing else. */
	if (json_errors_in(argc, argv))
		json_errors = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, ":r:w:o:F:f:Y:s:c:qvh",
	                                   export_options, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (strcmp(optarg, "-") == 0 && a->stdin_read++) {
				pkx_fail(err, PKX_EINVAL,
				         "-r - is given twice: standard input "
				         "can be read once");
				rc = -1;
				break;
			}
			ci_add(optarg);
			a->has_inputs = 1;
			break;
		case OPT_ROOT:
			a->root = optarg;
			a->root_given = 1;
			break;
		case 'w':
		case 'o':
			if (a->output) {
				pkx_fail(
				    err, PKX_EINVAL,
				    "-%c %s: the output is already %s (one "
				    "output per export)",
				    c, optarg, a->output);
				rc = -1;
			}
			a->output = optarg;
			a->output_is_w = c == 'w';
			break;
		case 'F':
			a->format = optarg;
			snprintf(
			    a->typed_format, sizeof(a->typed_format), "%s %s",
			    typed_flag(argv, "-F", flag, sizeof(flag)), optarg);
			break;
		case 'f':
			snprintf(typed, sizeof(typed), "-f '%s'", optarg);
			add_cli_filter(a, NULL, optarg, typed);
			break;
		case 'Y':
			snprintf(typed, sizeof(typed), "%s '%s'",
			         typed_flag(argv, "-Y", flag, sizeof(flag)),
			         optarg);
			add_cli_filter(a, "WIRESHARK", optarg, typed);
			break;
		case OPT_START:
			a->start = optarg;
			snprintf(a->typed_start, sizeof(a->typed_start),
			         "--start '%s'", optarg);
			break;
		case OPT_END:
			a->end = optarg;
			snprintf(a->typed_end, sizeof(a->typed_end),
			         "--end '%s'", optarg);
			break;
		case OPT_DURATION:
			a->duration = optarg;
			snprintf(a->typed_end, sizeof(a->typed_end),
			         "--duration '%s'", optarg);
			break;
		case OPT_INTERVAL:
			/* read after the options, against one "now" */
			json_array_append_new(
			    child(a->intervals, "typed", json_array),
			    json_string(optarg));
			break;
		case 's':
			/* The API's messages say the value after the name. */
			snprintf(a->typed_snap, sizeof(a->typed_snap), "%s",
			         typed_flag(argv, "-s", flag, sizeof(flag)));
			rc = set_number(a->flags, "snap_length", a->typed_snap,
			                optarg, err);
			break;
		case 'c':
			snprintf(a->typed_count, sizeof(a->typed_count), "%s",
			         typed_flag(argv, "-c", flag, sizeof(flag)));
			rc = set_count(stop, a->typed_count, optarg, err);
			break;
		case OPT_PACKET_LIMIT:
			snprintf(a->typed_count, sizeof(a->typed_count),
			         "--packet-limit");
			rc = set_number(stop, "packet_limit", "--packet-limit",
			                optarg, err);
			break;
		case OPT_SIZE_LIMIT:
			rc = set_size(stop, "size_limit", "--size-limit",
			              optarg, err);
			break;
		case OPT_TIME_LIMIT:
			rc = set_number(stop, "time_limit", "--time-limit",
			                optarg, err);
			break;
		case OPT_CONFIG:
			a->config_file = optarg;
			break;
		case OPT_STATS:
			a->stats = 1;
			break;
		case OPT_JSON_ERRORS:
			json_errors = 1;
			break;
		case 'q':
			a->quiet = 1;
			break;
		case OPT_PLUGIN_DIR:
			a->plugin_dir = optarg;
			a->root_given = 1;
			break;
		case OPT_DOWNLOAD:
			a->download = 1;
			break;
		case OPT_FOLLOW:
			a->follow = 1;
			/* The API's LIVE_STREAM: a store being recorded is
			 * followed until the end time (or a stop rule). */
			json_object_set_new(a->flags, "mode",
			                    json_string("LIVE_STREAM"));
			break;
		case 'v':
			pkx_log_set_level(PKX_LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default: {
			/* getopt says nothing (the ':' leading its letters):
			 * one line of ours, JSON for scripts. */
			const char *tok = argv[optind - 1];
			char text[512];

			if (c == ':')
				snprintf(text, sizeof(text),
				         "%s needs a value; see pktexport "
				         "--help, or man pktexport",
				         tok);
			else if (optopt > 0 && optopt < 128)
				snprintf(text, sizeof(text),
				         "-%c: no such option; see pktexport "
				         "--help, or man pktexport",
				         optopt);
			else
				snprintf(text, sizeof(text),
				         "%s: no such option; see pktexport "
				         "--help, or man pktexport",
				         tok);
			cli_say_error(PKX_EINVAL, text);
			json_decref(stop);
			exit(EXIT_REJECTED);
		}
		}
	}
	/* Without -r, the first word is the source path (the API's). */
	if (rc == 0 && !a->has_inputs && optind < argc)
		json_object_set_new(a->flags, "path",
		                    json_string(argv[optind++]));
	/* The other words: a BPF expression, as tcpdump takes it. */
	for (; rc == 0 && optind < argc; optind++) {
		size_t n = strlen(argv[optind]);
		char *grown = realloc(a->bpf_words, len + n + 2);

		if (!grown)
			abort();
		a->bpf_words = grown;
		if (len)
			a->bpf_words[len++] = ' ';
		memcpy(a->bpf_words + len, argv[optind], n + 1);
		len += n;
	}
	if (json_object_size(stop))
		json_object_set_new(a->flags, "stop_rule", stop);
	else
		json_decref(stop);
	return rc;
}

/* The type names of -f in any case; a text whose prefix before ':' names
 * no filter type is a BPF expression (which may hold colons: IPv6 and
 * MAC addresses).  Without a registry (an export for a server, whose
 * plugins are not ours to know) the built-in types are known, and a
 * prefix that could only be a type is sent as one for the server to
 * judge. */
static int builtin_filter_type(const char *type)
{
	return strcmp(type, "BPF") == 0 || strcmp(type, "WIRESHARK") == 0 ||
	       strcmp(type, "STEELFILTER") == 0;
}

static int resolve_filters(cli_args *a, const pkx_registry *reg, pkx_error *err)
{
	size_t i, k;

	if (a->bpf_words) {
		char typed[4200];

		snprintf(typed, sizeof(typed), "the BPF expression '%s'",
		         a->bpf_words);
		add_cli_filter(a, "BPF", a->bpf_words, typed);
	}
	for (i = 0; i < a->n_filters; i++) {
		cli_filter *f = &a->filters[i];
		const char *colon;
		char type[40];
		size_t n;
		int only_type;

		if (f->type)
			continue;
		colon = strchr(f->value, ':');
		n = colon ? (size_t)(colon - f->value) : 0;
		if (colon && n > 0 && n < sizeof(type)) {
			for (k = 0; k < n; k++)
				type[k] =
				    (char)toupper((unsigned char)f->value[k]);
			type[n] = '\0';
			/* Only a type could look like this (no BPF does). */
			only_type =
			    pkx_api_name_ok(type) && !strchr(colon + 1, ':') &&
			    strspn(type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == n &&
			    n > 4;
			if (pkx_api_name_ok(type) &&
			    (reg ? pkx_registry_filter(reg, type) != NULL
			         : builtin_filter_type(type) || only_type)) {
				char *value = strdup(colon + 1);

				f->type = strdup(type);
				free(f->value);
				f->value = value;
				continue;
			}
			if (only_type) {
				pkx_fail(err, PKX_EINVAL,
				         "%s: no filter type %s here (BPF, "
				         "WIRESHARK, STEELFILTER; pktexport "
				         "plugins lists them)",
				         f->typed, type);
				return -1;
			}
		}
		f->type = strdup("BPF");
	}
	return 0;
}

/* -F in any case, the API's names and editcap's: pcap (microseconds),
 * nsecpcap, pcapng, nsecpcapng.  *container: 1 pcap, 2 pcapng; *res: 0
 * the input's, 6 or 9. */
static int parse_format(const char *text, int *container, int *res)
{
	static const struct {
		const char *name;
		int container, res;
	} names[] = {
	    {"PCAP_US", 1, 6},   {"PCAP_NS", 1, 9},    {"PCAPNG_US", 2, 6},
	    {"PCAPNG_NS", 2, 9}, {"pcap", 1, 6},       {"nsecpcap", 1, 9},
	    {"pcapng", 2, 0},    {"nsecpcapng", 2, 9}, {"libpcap", 1, 6},
	    {"usecpcap", 1, 6},  {"usecpcapng", 2, 6}, {"pcap-ns", 1, 9},
	    {"pcapng-ns", 2, 9},
	};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(*names); i++)
		if (strcasecmp(text, names[i].name) == 0) {
			*container = names[i].container;
			*res = names[i].res;
			return 0;
		}
	return -1;
}

/* The tool that makes what a file name says is compressed (".gz":
 * "gzip"), or NULL. */
static const char *compressor_of(const char *path)
{
	static const char *const ends[][2] = {
	    {".gz", "gzip"},  {".zst", "zstd"},  {".zstd", "zstd"},
	    {".xz", "xz"},    {".bz2", "bzip2"}, {".lz4", "lz4"},
	    {".lzma", "lzma"}};
	const char *dot = path ? strrchr(path, '.') : NULL;
	size_t i;

	if (!dot || strchr(dot, '/'))
		return NULL;
	for (i = 0; i < sizeof(ends) / sizeof(*ends); i++)
		if (strcasecmp(dot, ends[i][0]) == 0)
			return ends[i][1];
	return NULL;
}

int cli_compressed_output(const char *output, pkx_error *err)
{
	const char *tool = output ? compressor_of(output) : NULL;

	if (!tool)
		return 0;
	pkx_fail(err, PKX_EINVAL,
	         "-w %s: pktexport does not compress what it writes (the file "
	         "would hold a plain capture); compress through a pipe: -w - "
	         "| %s > %s",
	         output, tool, output);
	return 1;
}

/* The container a file name asks for: 1 .pcap, 2 .pcapng, 0 none. */
static int extension_container(const char *path)
{
	const char *dot = path ? strrchr(path, '.') : NULL;

	if (!dot || strchr(dot, '/'))
		return 0;
	if (strcasecmp(dot, ".pcap") == 0 || strcasecmp(dot, ".cap") == 0)
		return 1;
	if (strcasecmp(dot, ".pcapng") == 0 || strcasecmp(dot, ".ntar") == 0)
		return 2;
	return 0;
}

static const char *format_name(int container, int res)
{
	if (container == 2)
		return res == 9 ? "PCAPNG_NS" : "PCAPNG_US";
	return res == 9 ? "PCAP_NS" : "PCAP_US";
}

/* What the input is, once open: the container and the resolution. */
static void input_kind(const cli_args *a, const pkx_run *run, int *container,
                       int *res)
{
	const pkx_source_info *info = pkx_run_source_info(run);
	size_t i;
	int ng = 0, ns = 0;

	if (a->has_inputs) {
		ci_kind(&ng, &ns);
	} else if (strncmp(pkx_run_path(run), "fs/", 3) == 0) {
		/* A classic pcap file says its resolution in its magic. */
		char base[PATH_MAX];
		pkx_error ignored;
		uint8_t m[4];
		int fd;

		snprintf(base, sizeof(base), "%s/fs", a->root);
		fd = pkx_open_under(base, pkx_run_path(run) + 3, &ignored);
		if (fd >= 0 && pread(fd, m, 4, 0) == 4 &&
		    (memcmp(m, "\x4d\x3c\xb2\xa1", 4) == 0 ||
		     memcmp(m, "\xa1\xb2\x3c\x4d", 4) == 0))
			ns = 1;
		if (fd >= 0)
			close(fd);
	}
	for (i = 0; i < info->n_interfaces; i++) {
		uint8_t r = info->interfaces[i].tsresol;

		if (r != 0)
			ng = 1; /* only pcapng describes a resolution */
		if ((r & 0x80) ? (r & 0x7f) > 19 : r > 6)
			ns = 1;
	}
	if (info->n_interfaces > 1)
		ng = 1;
	*container = ng ? 2 : 1;
	*res = ns ? 9 : 6;
}

static int format_unknown(const cli_args *a, pkx_error *err)
{
	pkx_fail(err, PKX_EINVAL,
	         "%s: no such format (pcap, nsecpcap, pcapng, nsecpcapng, "
	         "or PCAP_US, PCAP_NS, PCAPNG_US, PCAPNG_NS, or a plugin's; "
	         "any case)",
	         a->typed_format);
	return -1;
}

/* -F's container (fc) against the one -w's name says (ec). */
static int format_conflict(const cli_args *a, int fc, int ec, pkx_error *err)
{
	if (!fc || !ec || fc == ec)
		return 0;
	pkx_fail(err, PKX_EINVAL,
	         "%s writes %s, but the name %s says %s: change one of "
	         "them",
	         a->typed_format, fc == 2 ? "pcapng" : "pcap", a->output,
	         ec == 2 ? "pcapng" : "pcap");
	return -1;
}

/* -F or the extension or the input: the one output format. */
static int choose_format(const cli_args *a, const pkx_registry *reg,
                         const pkx_run *run, const char **name, pkx_error *err)
{
	int fc = 0, fr = 0, ec = extension_container(a->output), ic, ir;
	static char plugin_format[40];

	if (a->format && parse_format(a->format, &fc, &fr) != 0 &&
	    strlen(a->format) < sizeof(plugin_format)) {
		/* A format a plugin adds (CSV_US of the example), any case:
		 * its own name, whatever the file is called. */
		size_t k;

		for (k = 0; a->format[k]; k++)
			plugin_format[k] =
			    (char)toupper((unsigned char)a->format[k]);
		plugin_format[k] = '\0';
		if (pkx_api_name_ok(plugin_format) &&
		    pkx_registry_format(reg, plugin_format)) {
			*name = plugin_format;
			return 0;
		}
	}
	if (a->format && !fc)
		return format_unknown(a, err);
	if (format_conflict(a, fc, ec, err) != 0)
		return -1;
	input_kind(a, run, &ic, &ir);
	*name = format_name(fc ? fc : ec ? ec : ic, fr ? fr : ir);
	return 0;
}

/* The output format of an export made by a server, which alone knows its
 * input: -F, else -w's extension (with --download), else the config
 * file's, else the API's default (PCAP_US).  A resolution left open (-F
 * pcapng) is the API's, microseconds. */
static int remote_format(const cli_args *a, json_t *cfg, pkx_error *err)
{
	int fc = 0, fr = 0, ec = extension_container(a->output);
	char up[40];
	size_t k;

	if (a->format && parse_format(a->format, &fc, &fr) != 0) {
		for (k = 0; a->format[k] && k + 1 < sizeof(up); k++)
			up[k] = (char)toupper((unsigned char)a->format[k]);
		up[k] = '\0';
		if (a->format[k] || !pkx_api_name_ok(up)) {
			return format_unknown(a, err);
		}
		/* a plugin's, for the server to judge */
		json_object_set_new(cfg, "output_format", json_string(up));
		return 0;
	}
	if (format_conflict(a, fc, ec, err) != 0)
		return -1;
	if (fc || (ec && !a->format_from_file))
		json_object_set_new(
		    cfg, "output_format",
		    json_string(format_name(fc ? fc : ec, fr ? fr : 6)));
	return 0;
}

/* The API's names in a message become what the user typed. */
static void name_what_was_typed(const cli_args *a, pkx_error *err)
{
	struct {
		const char *api, *typed;
	} pairs[8];
	size_t n = 0, i;
	char buf[sizeof(err->text)], key[64];

	if (a->typed_start[0])
		pairs[n].api = "config.start_time",
		pairs[n++].typed = a->typed_start;
	if (a->typed_end[0])
		pairs[n].api = "config.end_time",
		pairs[n++].typed = a->typed_end;
	if (a->typed_snap[0])
		pairs[n].api = "config.snap_length",
		pairs[n++].typed = a->typed_snap;
	if (a->typed_count[0])
		pairs[n].api = "config.stop_rule.packet_limit",
		pairs[n++].typed = a->typed_count;
	if (a->format && strlen(a->format) < 40) {
		static char up[64];
		size_t k;

		snprintf(up, sizeof(up), "output format ");
		for (k = 0; a->format[k]; k++)
			up[14 + k] = (char)toupper((unsigned char)a->format[k]);
		up[14 + k] = '\0';
		pairs[n].api = up, pairs[n++].typed = a->typed_format;
	}
	for (i = 0; i < n; i++) {
		char *at = strstr(err->text, pairs[i].api);

		if (!at)
			continue;
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - err->text),
		         err->text, pairs[i].typed, at + strlen(pairs[i].api));
		snprintf(err->text, sizeof(err->text), "%s", buf);
	}
	for (i = 0; i < a->n_filters; i++) {
		char *at;

		snprintf(key, sizeof(key), "filter \"cli-%zu\" (%s)", i + 1,
		         a->filters[i].type ? a->filters[i].type : "");
		at = strstr(err->text, key);
		if (!at && !a->config_file) {
			snprintf(key, sizeof(key), "config.filters.items[%zu]",
			         i);
			at = strstr(err->text, key);
		}
		if (!at)
			continue;
		snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - err->text),
		         err->text, a->filters[i].typed, at + strlen(key));
		snprintf(err->text, sizeof(err->text), "%s", buf);
	}
}

/* The config file, then the options on top of it. */
static json_t *build_config(cli_args *a, pkx_error *err)
{
	json_t *cfg, *v, *list, *items = NULL;
	json_error_t jerr;
	const char *key;
	uint64_t now = pkx_wallclock_ns();
	size_t i;

	if (set_times(a->flags, a->start, a->end, a->duration, now, err) != 0)
		return NULL;
	json_array_foreach(json_object_get(a->intervals, "typed"), i,
	                   v) if (add_interval(a->intervals,
	                                       json_string_value(v), now,
	                                       err) != 0) return NULL;
	if (a->config_file) {
		cfg = json_load_file(a->config_file, JSON_REJECT_DUPLICATES,
		                     &jerr);
		if (!cfg) {
			if (jerr.line > 0)
				pkx_fail(err, PKX_EINVAL, "%s:%d: %s",
				         a->config_file, jerr.line, jerr.text);
			else /* jansson's text names the file and why */
				pkx_fail(err, PKX_EINVAL, "%s", jerr.text);
			return NULL;
		}
		if (!json_is_object(cfg)) {
			pkx_fail(err, PKX_EINVAL,
			         "%s does not hold a config object",
			         a->config_file);
			json_decref(cfg);
			return NULL;
		}
	} else {
		cfg = json_object();
	}
	if (a->has_inputs)
		json_object_set_new(a->flags, "path", json_string(ci_path()));
	json_object_foreach(a->flags, key, v)
	{
		if (strcmp(key, "stop_rule") == 0 &&
		    json_is_object(json_object_get(cfg, key)))
			json_object_update(json_object_get(cfg, key), v);
		else
			json_object_set(cfg, key, v);
	}
	if (a->n_filters) {
		json_t *have = json_object_get(cfg, "filters");

		if (json_is_object(have) &&
		    json_is_array(json_object_get(have, "items")))
			items = json_object_get(have, "items");
		else {
			items = json_array();
			json_object_set_new(cfg, "filters",
			                    json_pack("{s:o}", "items", items));
		}
		for (i = 0; i < a->n_filters; i++) {
			char id[32];

			snprintf(id, sizeof(id), "cli-%zu", i + 1);
			json_array_append_new(
			    items, json_pack("{s:s, s:s, s:s}", "id", id,
			                     "type", a->filters[i].type,
			                     "value", a->filters[i].value));
		}
	}
	list = json_object_get(a->intervals, "time_intervals");
	if (list)
		json_object_set(cfg, "time_intervals", list);
	/* The format is chosen once the input is open (choose_format); the
	 * source is opened against one that holds any input, or against
	 * -F's, so that a pcap asked for is checked as early as before. */
	a->format_from_file =
	    a->config_file && json_object_get(cfg, "output_format");
	if (a->remote) {
		if (remote_format(a, cfg, err) != 0) {
			json_decref(cfg);
			return NULL;
		}
	} else if (a->format || !a->format_from_file) {
		int fc, fr;
		char up[40] = "PCAPNG_NS";
		size_t k;

		if (a->format && parse_format(a->format, &fc, &fr) == 0)
			snprintf(up, sizeof(up), "%s",
			         format_name(fc, fr ? fr : 9));
		else if (a->format && strlen(a->format) < sizeof(up)) {
			for (k = 0; a->format[k]; k++)
				up[k] =
				    (char)toupper((unsigned char)a->format[k]);
			up[k] = '\0';
			if (!pkx_api_name_ok(up))
				snprintf(up, sizeof(up), "PCAPNG_NS");
		}
		json_object_set_new(cfg, "output_format", json_string(up));
	}
	if (a->config_file && json_is_object(json_object_get(cfg, "config"))) {
		pkx_fail(err, PKX_EINVAL,
		         "%s holds an export ({\"config\": {...}}): give the "
		         "config object itself",
		         a->config_file);
		json_decref(cfg);
		return NULL;
	}
	if (!json_object_get(cfg, "path") && a->remote) {
		pkx_fail(err, PKX_EINVAL,
		         "nothing to read: give the source's path on the "
		         "server, such as fs/trace.pcap");
		json_decref(cfg);
		return NULL;
	}
	if (!json_object_get(cfg, "path")) {
		pkx_fail(err, PKX_EINVAL,
		         "nothing to read: give -r FILE (a capture anywhere), "
		         "or --root DIR and a path under it such as "
		         "fs/trace.pcap");
		json_decref(cfg);
		return NULL;
	}
	return cfg;
}

/* Fields of a config file that only the service uses: accepted (a
 * config is a config) but without effect here, said once it is valid. */
static void warn_service_only(const cli_args *a, json_t *cfg)
{
	static const char *const service_only[] = {"mode", "output_filename",
	                                           "connection_timeout_msec",
	                                           "handle_timeout_msec"};
	size_t k;

	if (!a->config_file)
		return;
	for (k = 0; k < sizeof(service_only) / sizeof(*service_only); k++)
		if (json_object_get(cfg, service_only[k]))
			pkx_log(PKX_LOG_WARN, "pktexport",
			        "%s: %s applies to the service only; "
			        "pktexport writes to -w",
			        a->config_file, service_only[k]);
}

static void print_stats(const pkx_run *run, const pkx_error *err,
                        int interrupted)
{
	pkx_stats st;
	json_t *o;
	char *s;

	pkx_run_stats(run, &st);
	o = pkx_stats_to_json(&st);
	if (interrupted)
		json_object_set_new(o, "interrupted", json_true());
	if (err && err->id[0])
		json_object_set_new(o, "error",
		                    json_pack("{s:s, s:s}", "error_id", err->id,
		                              "error_text", err->text));
	s = json_dumps(o, JSON_COMPACT);
	fprintf(stderr, "%s\n", s);
	free(s);
	json_decref(o);
}

/* ------------------------------------------------------------ progress */

typedef struct cli_progress {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	const pkx_run *run;
	int done, shown;
	uint64_t started;
} cli_progress;

void cli_human_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = (double)n;
	int u = 0;

	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void progress_line(cli_progress *p)
{
	pkx_stats st;
	double pct = pkx_run_progress(p->run), secs;
	char read[32], out[32], rate[32], eta[48] = "";
	uint64_t pos;

	pkx_run_stats(p->run, &st);
	secs = (double)(pkx_now_ns() - p->started) / 1e9;
	pos = pkx_run_position(p->run);
	cli_human_bytes(pos, read, sizeof(read));
	cli_human_bytes(st.exported_bytes, out, sizeof(out));
	cli_human_bytes(secs > 0 ? (uint64_t)((double)pos / secs) : 0, rate,
	                sizeof(rate));
	if (st.total_bytes && pct > 0.5 && secs > 0)
		snprintf(eta, sizeof(eta), " %4.1f%%, %.0f s left", pct,
		         secs * (100.0 - pct) / pct);
	fprintf(stderr,
	        "\r\033[K%llu packets read (%s, %s/s), %llu written (%s)%s",
	        (unsigned long long)st.processed_packets, read, rate,
	        (unsigned long long)st.exported_packets, out, eta);
	p->shown = 1;
}

static void *progress_thread(void *arg)
{
	cli_progress *p = arg;
	struct timespec at;

	pthread_mutex_lock(&p->lock);
	while (!p->done) {
		clock_gettime(CLOCK_REALTIME, &at);
		at.tv_nsec += 250000000;
		if (at.tv_nsec >= 1000000000) {
			at.tv_sec++;
			at.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&p->wake, &p->lock, &at);
		if (!p->done && pkx_now_ns() - p->started > 500000000u)
			progress_line(p);
	}
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static int progress_start(cli_progress *p, const pkx_run *run)
{
	memset(p, 0, sizeof(*p));
	p->run = run;
	p->started = pkx_now_ns();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	return pthread_create(&p->thread, NULL, progress_thread, p) == 0;
}

static void progress_end(cli_progress *p)
{
	pthread_mutex_lock(&p->lock);
	p->done = 1;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
}

/* One line at the end, for people. */
static void summary(const pkx_run *run, const char *format, const char *to,
                    uint64_t ns, int sig, int outcome)
{
	pkx_stats st;
	char bytes[32];
	const char *how = "";

	pkx_run_stats(run, &st);
	cli_human_bytes(st.exported_bytes, bytes, sizeof(bytes));
	if (sig)
		how = sig == SIGINT   ? " (interrupted by Ctrl-C: a valid "
		                        "capture of what came before)"
		      : sig == SIGHUP ? " (interrupted by SIGHUP, the "
		                        "terminal closing: a valid capture of "
		                        "what came before)"
		                      : " (interrupted by SIGTERM: a valid "
		                        "capture of what came before)";
	else if (outcome == PKX_RUN_STOPPED)
		how = " (a limit ended it)";
	else if (outcome == PKX_RUN_DAMAGED)
		how = " (the input is damaged: everything before the damage)";
	fprintf(stderr,
	        "%llu of %llu packets written (%s) to %s as %s in %.2f s%s\n",
	        (unsigned long long)st.exported_packets,
	        (unsigned long long)st.processed_packets, bytes, to, format,
	        (double)ns / 1e9, how);
}

static int cmd_export(int argc, char **argv)
{
	cli_args a = {0};
	pkx_error err = {"", ""};
	pkx_registry *reg = NULL;
	pkx_config *cfg = NULL;
	pkx_run *run = NULL;
	json_t *obj = NULL;
	const char *format = NULL;
	cli_output out;
	pkx_fd_sink sink;
	pkx_run_outcome outcome;
	cli_progress prog;
	int rc, progress = 0, broken_pipe = 0;
	uint64_t started;
	struct sigaction sa;

	/* From the start: a Ctrl-C while filters compile ends the command
	 * before anything is written, with the same status. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART; /* a read of a pipe is not cut short */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* The terminal or the ssh session closing ends it as SIGTERM does,
	 * unless it was started to outlive them (nohup: SIGHUP ignored). */
	{
		struct sigaction old;

		if (sigaction(SIGHUP, NULL, &old) == 0 &&
		    old.sa_handler != SIG_IGN)
			sigaction(SIGHUP, &sa, NULL);
	}
	/* write errors say EPIPE: the feeders' and the output's */
	signal(SIGPIPE, SIG_IGN);
	if (parse_export_args(argc, argv, &a, &err) != 0) {
		rc = reject(&err);
		goto done;
	}
	if (a.download) {
		pkx_fail(&err, PKX_EINVAL,
		         "--download goes with an export made by a server: "
		         "pktexport --server URL create --download ...");
		rc = reject(&err);
		goto done;
	}
	/* Refusals by the options alone, before any plugin is loaded. */
	if (cli_compressed_output(a.output, &err) ||
	    plugin_dir_missing(a.plugin_dir, &err)) {
		rc = reject(&err);
		goto done;
	}
	reg = pkx_registry_new();
	if (!reg || pkx_registry_load_dir(
	                reg, a.plugin_dir ? a.plugin_dir
	                                  : pkx_default_plugin_dir()) <= 0) {
		cli_say_error(PKX_EINTERNAL, "cannot load the plugins");
		rc = EXIT_RUNTIME;
		goto done;
	}
	if ((a.has_inputs && ci_register(reg, &err) != 0) ||
	    resolve_filters(&a, reg, &err) != 0 ||
	    !(obj = build_config(&a, &err))) {
		rc = reject(&err);
		goto done;
	}
	if (a.has_inputs && a.follow) {
		pkx_fail(&err, PKX_EINVAL,
		         "--follow follows a live source or a store being "
		         "recorded (interfaces/NAME, jobs/NAME under --root); "
		         "-r files are read to their end");
		rc = reject(&err);
		goto done;
	}
	if (pkx_config_parse(obj, &cfg, &err) != PKX_OK ||
	    pkx_config_check_live(cfg, 0, &err) != PKX_OK) {
		name_what_was_typed(&a, &err);
		rc = reject(&err);
		goto done;
	}
	warn_service_only(&a, obj);
	cli_live = pkx_path_is_live(cfg->path) ||
	           strcmp(cfg->mode, "LIVE_STREAM") == 0;
	if ((a.has_inputs && ci_open_all(&err) != 0) ||
	    pkx_run_prepare(reg, a.root, cfg, NULL, &run, &err) != PKX_OK) {
		name_what_was_typed(&a, &err);
		if (!a.has_inputs && strstr(err.text, "names no source") &&
		    access(cfg->path, R_OK) == 0) {
			/* A file of the current folder, not an API path:
			 * tcpdump's -r was forgotten. */
			size_t n = strlen(err.text);

			snprintf(err.text + n, sizeof(err.text) - n,
			         "; to read the file %s, give -r %s", cfg->path,
			         cfg->path);
		}
		if (a.bpf_words && strchr(a.bpf_words, '/') &&
		    strstr(err.text, "the BPF expression")) {
			size_t n = strlen(err.text);

			snprintf(err.text + n, sizeof(err.text) - n,
			         " (the words after the options are a BPF "
			         "expression; to read several files give -r "
			         "FILE -r FILE)");
		}
		rc = reject(&err);
		goto done;
	}
	/* A config file's output_format holds unless -F says otherwise; an
	 * output name saying another container is a clash, as with -F. */
	if (a.format_from_file && !a.format) {
		int fc = 0, fr = 0, ec = extension_container(a.output);

		if (parse_format(cfg->output_format, &fc, &fr) != 0)
			fc = 0; /* a plugin's format: neither container */
		if (ec && fc != ec) {
			pkx_fail(&err, PKX_EINVAL,
			         "the --config file's output_format %s is not "
			         "%s, but the name %s says so: change one of "
			         "them (or give -F)",
			         cfg->output_format,
			         ec == 2 ? "pcapng" : "pcap", a.output);
			rc = reject(&err);
			goto done;
		}
		format = cfg->output_format;
	} else if (choose_format(&a, reg, run, &format, &err) != 0 ||
	           pkx_run_set_format(run, reg, format, &err) != PKX_OK) {
		rc = reject(&err);
		goto done;
	}
	if (output_open(&out, a.output, &err) != 0) {
		rc = reject(&err);
		goto done;
	}
	if (pkx_fd_sink_init(&sink, out.fd, 1u << 20, &err) != PKX_OK) {
		output_close(&out, 0, NULL);
		rc = reject(&err);
		goto done;
	}
	cli_running = run;
	if (cli_signal) {
		/* before the first packet: nothing is kept */
		cli_running = NULL;
		pkx_fd_sink_release(&sink);
		output_close(&out, 0, NULL);
		cli_say_error("EXPORT_CANCELLED",
		              "interrupted before the export started: nothing "
		              "written");
		rc = 128 + cli_signal;
		goto done;
	}
	started = pkx_now_ns();
	if (!a.quiet && isatty(STDERR_FILENO))
		progress = progress_start(&prog, run);
	outcome = pkx_run_execute(run, &sink.sink, &err);
	cli_running = NULL;
	/* Cancelled by Ctrl-C or SIGTERM: between two packets, so the sink
	 * holds whole records, a prefix of the complete export's. */
	if (outcome == PKX_RUN_CANCELLED && cli_signal) {
		outcome = PKX_RUN_STOPPED;
		pkx_error_clear(&err);
	}
	if (outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED &&
	    pkx_fd_sink_flush(&sink, &err) != PKX_OK)
		outcome = PKX_RUN_FAILED;
	if (progress)
		progress_end(&prog);
	pkx_fd_sink_release(&sink);
	/* A reader that went away (| head): quiet, as tcpdump is. */
	if (outcome == PKX_RUN_FAILED && strstr(err.text, strerror(EPIPE)))
		broken_pipe = 1;
	if (outcome == PKX_RUN_CANCELLED)
		pkx_fail(&err, "EXPORT_CANCELLED", "interrupted by a signal");
	/* A damaged input still yields every packet before the damage, and
	 * an interrupted export what it wrote before the signal. */
	if (output_close(
	        &out, outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED,
	        &err) != 0)
		outcome = PKX_RUN_FAILED;
	if (broken_pipe) {
		/* tcpdump 4.99 -w - ends this way too: exit 0, no message. */
		pkx_log(PKX_LOG_DEBUG, "pktexport",
		        "the reader of the output went away");
		rc = 0;
		goto done;
	}
	if (a.stats)
		print_stats(run, &err, cli_signal != 0);
	else if (!a.quiet && outcome != PKX_RUN_FAILED &&
	         outcome != PKX_RUN_CANCELLED)
		summary(run, format,
		        a.output && strcmp(a.output, "-") ? a.output
		                                          : "standard output",
		        pkx_now_ns() - started, cli_signal, outcome);
	rc = 0;
	if (outcome == PKX_RUN_FAILED || outcome == PKX_RUN_CANCELLED ||
	    outcome == PKX_RUN_DAMAGED) {
		if (!a.stats) {
			name_what_was_typed(&a, &err);
			cli_say_error(err.id, err.text);
		}
		rc = EXIT_RUNTIME;
	} else if (cli_signal && !cli_live) {
		rc = 128 + cli_signal;
	}
done:
	pkx_run_free(run);
	pkx_config_free(cfg);
	ci_close_all();
	pkx_registry_free(reg);
	json_decref(obj);
	free_args(&a);
	return rc;
}

int cli_export_request_parse(int argc, char **argv, cli_export_request *r,
                             pkx_error *err)
{
	cli_args *a = calloc(1, sizeof(*a));

	memset(r, 0, sizeof(*r));
	if (!a)
		abort();
	r->args = a;
	a->remote = 1;
	if (parse_export_args(argc, argv, a, err) != 0)
		return -1;
	if (a->has_inputs) {
		pkx_fail(err, PKX_EINVAL,
		         "-r reads a file here; the server reads its own: "
		         "give the source's path on the server (fs/FILE, "
		         "jobs/NAME, clips/ID)");
		return -1;
	}
	if (a->root_given) {
		pkx_fail(err, PKX_EINVAL,
		         "--root and --plugin-dir are the server's to choose "
		         "(pktexportd --root): leave them out");
		return -1;
	}
	if (resolve_filters(a, NULL, err) != 0 ||
	    !(r->config = build_config(a, err))) {
		name_what_was_typed(a, err);
		return -1;
	}
	r->output = a->output;
	r->quiet = a->quiet;
	r->json = a->stats;
	r->download = a->download;
	r->mode_given = json_object_get(r->config, "mode") != NULL;
	return 0;
}

void cli_export_request_name(const cli_export_request *r, pkx_error *err)
{
	name_what_was_typed(r->args, err);
}

void cli_export_request_free(cli_export_request *r)
{
	if (r->args)
		free_args(r->args);
	free(r->args);
	json_decref(r->config);
	memset(r, 0, sizeof(*r));
}

static void print_plugin(const pkx_plugin_header *h, void *data)
{
	static const char *const kinds[] = {"", "source", "filter", "format"};
	const char *const *c;

	(void)data;
	printf("%-8s %-20s %-10s", kinds[h->kind], h->name,
	       h->version ? h->version : "");
	for (c = h->claims; *c; c++)
		printf(" %s", *c);
	printf("\n");
}

static int cmd_plugins(int argc, char **argv)
{
	const char *dir = pkx_default_plugin_dir();
	pkx_registry *reg;

	if (argc == 3 && strcmp(argv[1], "--plugin-dir") == 0)
		dir = argv[2];
	else if (argc != 1) {
		usage(stderr);
		return EXIT_REJECTED;
	}
	pkx_log_set_level(PKX_LOG_INFO);
	reg = pkx_registry_new();
	if (!reg || pkx_registry_load_dir(reg, dir) <= 0) {
		pkx_registry_free(reg);
		return EXIT_RUNTIME;
	}
	pkx_registry_each(reg, print_plugin, NULL);
	pkx_registry_free(reg);
	return 0;
}

/* Runs one of the project's programs with the subcommand's arguments:
 * the one the environment variable names, else the installed one. */
static int run_tool(char **argv, const char *env_var, const char *installed,
                    const char *name)
{
	const char *env = getenv(env_var);
	const char *prog = env && *env ? env : installed;

	argv[0] = (char *)name;
	execv(prog, argv);
	fprintf(stderr, "pktexport: cannot run %s: %s\n", prog,
	        strerror(errno));
	return EXIT_RUNTIME;
}

/* `pktexport access-code`: issues, lists and revokes the access codes a
 * pktexportd --users gives for OAuth logins, in the data root's
 * .pktexport/access-codes (the daemon rereads it when it changes). */
static void access_code_usage(FILE *out)
{
	fprintf(out,
	        "usage: pktexport access-code [--root DIR] USER\n"
	        "       pktexport access-code [--root DIR] --list [USER]\n"
	        "       pktexport access-code [--root DIR] --revoke PREFIX\n"
	        "\n"
	        "Issues an access code for USER (a user of pktexportd's "
	        "--users file),\nprinted once: a client trades it at "
	        "/api/common/1.0/oauth/token for\naccess tokens (the vendor's "
	        "client: OAuth(code)).  Codes last until\nrevoked, also across "
	        "restarts; --list shows their first %d characters,\n--revoke "
	        "takes such a prefix.  The running daemon sees changes at "
	        "once.\n",
	        PKX_CODE_PARTIAL);
}

static int code_user_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= PKX_CODE_USER_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789_-.@") == n;
}

static int cmd_access_code(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"list", no_argument, NULL, 'l'},
	    {"revoke", required_argument, NULL, 'x'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *root = ".", *revoke = NULL;
	char dir[PATH_MAX], file[PATH_MAX + 32], why[256],
	    value[PKX_CODE_HEX + 1];
	int c, list = 0, lock, rc = EXIT_RUNTIME;
	pkx_code *codes = NULL, *nc;
	size_t n = 0, i, k, held = 0;
	struct stat st;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'r')
			root = optarg;
		else if (c == 'l')
			list = 1;
		else if (c == 'x')
			revoke = optarg;
		else if (c == 'h') {
			access_code_usage(stdout);
			return 0;
		} else {
			access_code_usage(stderr);
			return EXIT_REJECTED;
		}
	}
	if ((list && revoke) || (list && argc - optind > 1) ||
	    (revoke && argc != optind) ||
	    (!list && !revoke && argc != optind + 1)) {
		access_code_usage(stderr);
		return EXIT_REJECTED;
	}
	if (optind < argc && !code_user_ok(argv[optind])) {
		fprintf(stderr,
		        "pktexport: \"%s\" is not a user name (letters, "
		        "digits, _ - . @; at most %d)\n",
		        argv[optind], PKX_CODE_USER_MAX);
		return EXIT_REJECTED;
	}
	snprintf(dir, sizeof(dir), "%s/.pktexport", root);
	snprintf(file, sizeof(file), "%s/" PKX_CODES_FILE, dir);
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "pktexport: %s: %s\n", dir, strerror(errno));
		return EXIT_RUNTIME;
	}
	if ((lock = pkx_codes_lock(file)) < 0) {
		fprintf(stderr, "pktexport: %s.lock: %s\n", file,
		        strerror(errno));
		return EXIT_RUNTIME;
	}
	if (pkx_codes_read(file, &codes, &n, &st, why, sizeof(why)) != 0) {
		fprintf(stderr, "pktexport: %s\n", why);
		goto out;
	}
	if (list) {
		for (i = 0; i < n; i++)
			if (optind == argc ||
			    strcmp(codes[i].user, argv[optind]) == 0)
				printf("%s\t%s...\tissued %llu\n",
				       codes[i].user, codes[i].partial,
				       (unsigned long long)codes[i].issued_s);
		rc = 0;
		goto out;
	}
	if (revoke) {
		for (i = k = 0; i < n; i++)
			if (strncmp(codes[i].partial, revoke, strlen(revoke)) ||
			    !*revoke)
				codes[k++] = codes[i];
		if (n - k != 1) {
			fprintf(stderr,
			        "pktexport: %s matches %zu codes: give a "
			        "prefix that names one (--list)\n",
			        revoke, n - k);
			rc = EXIT_REJECTED;
			goto out;
		}
		n = k;
	} else {
		for (i = 0; i < n; i++)
			held += strcmp(codes[i].user, argv[optind]) == 0;
		if (held >= PKX_CODES_PER_USER) {
			fprintf(stderr,
			        "pktexport: %s holds %d access codes already: "
			        "revoke one first\n",
			        argv[optind], PKX_CODES_PER_USER);
			rc = EXIT_REJECTED;
			goto out;
		}
		if (pkx_code_new(value) != 0 ||
		    !(nc = realloc(codes, (n + 1) * sizeof(*nc)))) {
			fprintf(stderr, "pktexport: no code could be made\n");
			goto out;
		}
		codes = nc;
		memset(&codes[n], 0, sizeof(codes[n]));
		pkx_code_digest(value, codes[n].digest);
		snprintf(codes[n].user, sizeof(codes[n].user), "%s",
		         argv[optind]);
		memcpy(codes[n].partial, value, PKX_CODE_PARTIAL);
		codes[n].issued_s = (uint64_t)time(NULL);
		n++;
	}
	if (pkx_codes_write(file, codes, n, NULL) != 0) {
		fprintf(stderr, "pktexport: %s: %s\n", file, strerror(errno));
		goto out;
	}
	if (!revoke)
		printf("%s\n", value);
	explicit_bzero(value, sizeof(value));
	rc = 0;
out:
	free(codes);
	pkx_codes_unlock(lock);
	return rc;
}

/* `pktexport time`: how the command line reads times. */
static int cmd_time(int argc, char **argv)
{
	uint64_t now = pkx_wallclock_ns(), ns;
	pkx_error err = {"", ""};
	char iso[48], api[32];
	int i, rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: pktexport time TIME...\n");
		return EXIT_REJECTED;
	}
	for (i = 1; i < argc; i++) {
		if (pkx_time_parse_cli(argv[i], "time", now, &ns, &err) !=
		    PKX_OK) {
			cli_say_error(err.id, err.text);
			rc = EXIT_REJECTED;
			continue;
		}
		pkx_time_format_iso(ns, iso, sizeof(iso));
		pkx_time_format(ns, api, sizeof(api));
		printf("%s %s\n", iso, api);
	}
	return rc;
}

/* `pktexport store locate ... TIME`: the time in any form the command
 * line takes, handed to the store tool in nanoseconds. */
static int store_locate_time(int argc, char **argv, char *buf, size_t len)
{
	pkx_error err = {"", ""};
	uint64_t ns;

	if (argc < 3 || strcmp(argv[1], "locate") != 0 ||
	    (argv[argc - 1][0] == '-' && argv[argc - 1][1] == '-'))
		return 0;
	if (pkx_time_parse_cli(argv[argc - 1], "store locate",
	                       pkx_wallclock_ns(), &ns, &err) != PKX_OK) {
		fprintf(stderr, "pktexport: %s\n", err.text);
		return -1;
	}
	snprintf(buf, len, "%llu", (unsigned long long)ns);
	argv[argc - 1] = buf;
	return 0;
}

int main(int argc, char **argv)
{
	char locate_ns[32];
	int fd;

	/* A standard descriptor the caller closed (">&-") gets /dev/null,
	 * read-only: a file opened later cannot take its number, so an
	 * input is never written as "standard output", and a write there
	 * fails with a message instead. */
	for (fd = 0; fd <= 2; fd++)
		if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDONLY) != fd)
			return EXIT_FAILURE;
	note_given_fds();
	if (cli_json_errors_from_env())
		cli_set_json_errors(1);
	/* --json-errors before a subcommand holds for it ("pktexport
	 * --json-errors time X"). */
	while (argc >= 2 && strcmp(argv[1], "--json-errors") == 0) {
		cli_set_json_errors(1);
		argv[1] = argv[0];
		argv++;
		argc--;
	}
	if (argc >= 2 && strcmp(argv[1], "access-code") == 0)
		return cmd_access_code(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "store") == 0) {
		if (store_locate_time(argc - 1, argv + 1, locate_ns,
		                      sizeof(locate_ns)) != 0)
			return EXIT_REJECTED;
		/* The store tool knows capture file formats the core does
		 * not. */
		return run_tool(argv + 1, "PKTEXPORT_STORE", PKX_STORE_PROGRAM,
		                "pktexport-store");
	}
	if (argc >= 2 && strcmp(argv[1], "capture") == 0)
		/* The recorder, the one program that captures. */
		return run_tool(argv + 1, "PKTEXPORT_CAPTURE",
		                PKX_CAPTURE_PROGRAM, "pktexport capture");
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return cmd_export(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "time") == 0)
		return cmd_time(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "plugins") == 0)
		return cmd_plugins(argc - 1, argv + 1);
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("pktexport %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
		       PKX_ABI_MAJOR, PKX_ABI_MINOR);
		return 0;
	}
	if (argc == 2 &&
	    (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	/* The client of a server: --server first, or a subcommand of it. */
	if (cli_is_remote(argc, argv))
		return cli_remote_main(argc, argv);
	/* No subcommand: an export, as tcpdump -r reads. */
	if (argc >= 2 && argv[1][0] == '-')
		return cmd_export(argc, argv);
	usage(stderr);
	return EXIT_REJECTED;
}
