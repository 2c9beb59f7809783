/* pktexport: the command line.  `pktexport export` runs one export
 * locally; its options map one to one onto the API's config object. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pkx.h"
#include "daemon/codes.h"
#include "pkx_paths.h"

#define EXIT_REJECTED 2
#define EXIT_RUNTIME  1

static pkx_run *volatile cli_running;
static volatile sig_atomic_t cli_live;

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pktexport export [options] PATH\n"
	    "       pktexport store import|index|info ... (pktexport "
	    "store --help)\n"
	    "       pktexport capture --root DIR [options] JOB IFACE... "
	    "(records;\n"
	    "                         pktexport capture --help)\n"
	    "       pktexport plugins [--plugin-dir DIR]\n"
	    "       pktexport access-code [--root DIR] USER|--list|--revoke "
	    "PREFIX\n"
	    "       pktexport --version\n"
	    "\n"
	    "PATH: fs/<file> (pcap, pcapng), jobs/<name> and clips/<id> "
	    "(packet store),\n"
	    "interfaces/<name> (live capture: ends at a stop rule, the "
	    "end time or Ctrl-C,\n"
	    "which keeps what was written).\n"
	    "\n"
	    "Export options (each sets one field of the API's config):\n"
	    "  --root DIR             data root (default: .); PATH is "
	    "relative to it\n"
	    "  -o, --output FILE|-    where to write (default: standard "
	    "output)\n"
	    "  -F, --format FORMAT    PCAP_US (default), PCAP_NS, "
	    "PCAPNG_US, PCAPNG_NS\n"
	    "  -f, --filter TYPE:EXPR filter, repeatable, all must match "
	    "(BPF, WIRESHARK, STEELFILTER)\n"
	    "      --start T          first time, seconds since the epoch "
	    "(up to 9 decimals)\n"
	    "      --end T            end time (exclusive)\n"
	    "      --interval S,E     a time interval, repeatable (a "
	    "union)\n"
	    "  -s, --snaplen N        cut packets to N bytes (1-65535; 0 or "
	    "absent: as\n"
	    "                         captured)\n"
	    "      --packet-limit N   export at most N packets\n"
	    "      --size-limit BYTES export at most BYTES of packet data\n"
	    "      --time-limit S     stop after S seconds\n"
	    "  -c, --config FILE      read the config object from FILE; "
	    "-f adds to its\n"
	    "                         filters (all must match), other "
	    "options replace\n"
	    "                         its fields (--interval: its "
	    "time_intervals)\n"
	    "      --follow           jobs/<name> being recorded: follow "
	    "the recording\n"
	    "                         until --end or a stop rule (the API's "
	    "LIVE_STREAM)\n"
	    "      --stats            print the final stats as JSON on "
	    "standard error\n"
	    "      --plugin-dir DIR   load plugins from DIR (DIR:DIR... for "
	    "several)\n"
	    "  -v, --verbose          log more\n"
	    "\n"
	    "Exit status: 0 done, 2 request rejected (nothing written), 1 "
	    "failed while running.\n");
}

static void print_error(const char *id, const char *text)
{
	json_t *e = json_pack("{s:s, s:s}", "error_id", id, "error_text", text);
	char *s = json_dumps(e, JSON_COMPACT);

	fprintf(stderr, "%s\n", s ? s : text);
	free(s);
	json_decref(e);
}

static int reject(const pkx_error *err)
{
	print_error(err->id, err->text);
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

static int add_filter(json_t *cfg, const char *arg, pkx_error *err)
{
	const char *colon = strchr(arg, ':');
	json_t *items =
	    child(child(cfg, "filters", json_object), "items", json_array);
	char id[32], type[32];
	size_t n;

	if (!colon || colon == arg || (size_t)(colon - arg) >= sizeof(type)) {
		pkx_fail(err, PKX_EINVAL,
		         "filter \"%s\" is not TYPE:EXPR (e.g. BPF:tcp)", arg);
		return -1;
	}
	n = (size_t)(colon - arg);
	memcpy(type, arg, n);
	type[n] = '\0';
	snprintf(id, sizeof(id), "cli-%zu", json_array_size(items) + 1);
	json_array_append_new(items,
	                      json_pack("{s:s, s:s, s:s}", "id", id, "type",
	                                type, "value", colon + 1));
	return 0;
}

static int add_interval(json_t *cfg, const char *arg, pkx_error *err)
{
	const char *comma = strchr(arg, ',');
	json_t *list = child(cfg, "time_intervals", json_array);
	char *start;

	if (!comma) {
		pkx_fail(err, PKX_EINVAL, "interval \"%s\" is not START,END",
		         arg);
		return -1;
	}
	start = strndup(arg, (size_t)(comma - arg));
	json_array_append_new(list, json_pack("{s:s, s:s}", "start_time", start,
	                                      "end_time", comma + 1));
	free(start);
	return 0;
}

/* Where the capture goes: a temporary file renamed into place at the end,
 * so a failed run never leaves a file looking complete. */
typedef struct cli_output {
	const char *path; /* NULL: standard output */
	char *tmp;        /* temporary name, or NULL when writing in place */
	char *followed;   /* where a symbolic link -o named leads, owned */
	int fd;
} cli_output;

/* Where the symbolic link `path` leads (whether or not that exists), or
 * NULL when path is not a link.  Writing goes there, as tcpdump -w does,
 * so the link stays a link.  Followed link by link: realpath() would fail
 * on a link to a file yet to be made. */
static char *follow_link(const char *path)
{
	char target[PATH_MAX], *joined, *copy;
	struct stat st;
	ssize_t n;
	int hops;

	if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode))
		return NULL;
	joined = strdup(path);
	for (hops = 0; joined && hops < 40; hops++) {
		if (lstat(joined, &st) != 0 || !S_ISLNK(st.st_mode))
			return joined;
		n = readlink(joined, target, sizeof(target) - 1);
		if (n < 0)
			break;
		target[n] = '\0';
		if (target[0] == '/') {
			free(joined);
			joined = strdup(target);
			continue;
		}
		copy = strdup(joined);
		free(joined);
		joined = NULL;
		if (copy &&
		    asprintf(&joined, "%s/%s", dirname(copy), target) < 0)
			joined = NULL;
		free(copy);
	}
	free(joined);
	return NULL;
}

static int output_open(cli_output *o, const char *path, pkx_error *err)
{
	struct stat st;
	char *copy, *dir;
	int exists;

	memset(o, 0, sizeof(*o));
	o->fd = -1;
	if (!path || strcmp(path, "-") == 0) {
		if (isatty(STDOUT_FILENO)) {
			pkx_fail(err, PKX_EINVAL,
			         "refusing to write a capture to a terminal: "
			         "give -o FILE");
			return -1;
		}
		o->fd = STDOUT_FILENO;
		return 0;
	}
	o->followed = follow_link(path);
	if (o->followed)
		path = o->followed;
	o->path = path;
	exists = stat(path, &st) == 0;
	if (exists && !S_ISREG(st.st_mode)) {
		/* A device or FIFO: write straight into it. */
		o->fd = open(path, O_WRONLY | O_CLOEXEC);
		if (o->fd < 0) {
			pkx_fail(err, PKX_EIO, "cannot open %s: %s", path,
			         strerror(errno));
			goto fail;
		}
		return 0;
	}
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
	free(o->followed);
	o->followed = NULL;
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
	free(o->followed);
	o->followed = NULL;
	return ok ? 0 : -1;
}

/* Ctrl-C abandons an export of a file (no output is left), but is how a
 * live capture is ended: that one stops and keeps what it wrote. */
static void on_signal(int sig)
{
	(void)sig;
	if (cli_running && cli_live)
		pkx_run_stop(cli_running);
	else if (cli_running)
		pkx_run_cancel(cli_running);
}

enum {
	OPT_ROOT = 256,
	OPT_START,
	OPT_END,
	OPT_INTERVAL,
	OPT_PACKET_LIMIT,
	OPT_SIZE_LIMIT,
	OPT_TIME_LIMIT,
	OPT_STATS,
	OPT_PLUGIN_DIR,
	OPT_FOLLOW,
};

static const struct option export_options[] = {
    {"root", required_argument, NULL, OPT_ROOT},
    {"output", required_argument, NULL, 'o'},
    {"format", required_argument, NULL, 'F'},
    {"filter", required_argument, NULL, 'f'},
    {"start", required_argument, NULL, OPT_START},
    {"end", required_argument, NULL, OPT_END},
    {"interval", required_argument, NULL, OPT_INTERVAL},
    {"snaplen", required_argument, NULL, 's'},
    {"packet-limit", required_argument, NULL, OPT_PACKET_LIMIT},
    {"size-limit", required_argument, NULL, OPT_SIZE_LIMIT},
    {"time-limit", required_argument, NULL, OPT_TIME_LIMIT},
    {"config", required_argument, NULL, 'c'},
    {"stats", no_argument, NULL, OPT_STATS},
    {"plugin-dir", required_argument, NULL, OPT_PLUGIN_DIR},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

typedef struct cli_args {
	const char *root, *output, *config_file, *plugin_dir;
	int stats;
	json_t *flags;        /* config fields given as options */
	json_t *flag_filters; /* -f items, appended after the file's */
	json_t *flag_intervals;
} cli_args;

static int parse_export_args(int argc, char **argv, cli_args *a, pkx_error *err)
{
	json_t *stop = json_object();
	int c, rc = 0;

	a->root = ".";
	a->flags = json_object();
	a->flag_filters = json_object();
	a->flag_intervals = json_object();
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "o:F:f:s:c:vh",
	                                   export_options, NULL)) != -1) {
		switch (c) {
		case OPT_ROOT:
			a->root = optarg;
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'F':
			json_object_set_new(a->flags, "output_format",
			                    json_string(optarg));
			break;
		case 'f':
			rc = add_filter(a->flag_filters, optarg, err);
			break;
		case OPT_START:
			json_object_set_new(a->flags, "start_time",
			                    json_string(optarg));
			break;
		case OPT_END:
			json_object_set_new(a->flags, "end_time",
			                    json_string(optarg));
			break;
		case OPT_INTERVAL:
			rc = add_interval(a->flag_intervals, optarg, err);
			break;
		case 's':
			rc = set_number(a->flags, "snap_length", "--snaplen",
			                optarg, err);
			break;
		case OPT_PACKET_LIMIT:
			rc = set_number(stop, "packet_limit", "--packet-limit",
			                optarg, err);
			break;
		case OPT_SIZE_LIMIT:
			rc = set_number(stop, "size_limit", "--size-limit",
			                optarg, err);
			break;
		case OPT_TIME_LIMIT:
			rc = set_number(stop, "time_limit", "--time-limit",
			                optarg, err);
			break;
		case 'c':
			a->config_file = optarg;
			break;
		case OPT_STATS:
			a->stats = 1;
			break;
		case OPT_PLUGIN_DIR:
			a->plugin_dir = optarg;
			break;
		case OPT_FOLLOW:
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
		default:
			usage(stderr);
			json_decref(stop);
			exit(EXIT_REJECTED);
		}
	}
	if (rc == 0 && optind < argc - 1) {
		pkx_fail(err, PKX_EINVAL,
		         "one source path expected, got \"%s\" and \"%s\"",
		         argv[optind], argv[optind + 1]);
		rc = -1;
	}
	if (rc == 0 && optind == argc - 1)
		json_object_set_new(a->flags, "path",
		                    json_string(argv[optind]));
	if (json_object_size(stop))
		json_object_set_new(a->flags, "stop_rule", stop);
	else
		json_decref(stop);
	return rc;
}

/* The config file, then the options on top of it. */
static json_t *build_config(const cli_args *a, pkx_error *err)
{
	json_t *cfg, *v, *list;
	json_error_t jerr;
	const char *key;
	size_t i;

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
	json_object_foreach(a->flags, key, v)
	{
		if (strcmp(key, "stop_rule") == 0 &&
		    json_is_object(json_object_get(cfg, key)))
			json_object_update(json_object_get(cfg, key), v);
		else
			json_object_set(cfg, key, v);
	}
	list = json_object_get(a->flag_filters, "filters");
	if (list) {
		json_t *have = json_object_get(cfg, "filters");

		if (json_is_object(have) &&
		    json_is_array(json_object_get(have, "items"))) {
			json_array_foreach(json_object_get(list, "items"), i, v)
			    json_array_append(json_object_get(have, "items"),
			                      v);
		} else {
			json_object_set(cfg, "filters", list);
		}
	}
	list = json_object_get(a->flag_intervals, "time_intervals");
	if (list)
		json_object_set(cfg, "time_intervals", list);
	if (a->config_file && json_is_object(json_object_get(cfg, "config"))) {
		pkx_fail(err, PKX_EINVAL,
		         "%s holds an export ({\"config\": {...}}): give the "
		         "config object itself",
		         a->config_file);
		json_decref(cfg);
		return NULL;
	}
	if (!json_object_get(cfg, "path")) {
		pkx_fail(err, PKX_EINVAL,
		         "no source path: give PATH (e.g. fs/trace.pcap)");
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
			        "pktexport writes to -o",
			        a->config_file, service_only[k]);
}

static void print_stats(const pkx_run *run, const pkx_error *err)
{
	pkx_stats st;
	json_t *o;
	char *s;

	pkx_run_stats(run, &st);
	o = pkx_stats_to_json(&st);
	if (err && err->id[0])
		json_object_set_new(o, "error",
		                    json_pack("{s:s, s:s}", "error_id", err->id,
		                              "error_text", err->text));
	s = json_dumps(o, JSON_COMPACT);
	fprintf(stderr, "%s\n", s);
	free(s);
	json_decref(o);
}

static int cmd_export(int argc, char **argv)
{
	cli_args a = {0};
	pkx_error err = {"", ""};
	pkx_registry *reg = NULL;
	pkx_config *cfg = NULL;
	pkx_run *run = NULL;
	json_t *obj = NULL;
	cli_output out;
	pkx_fd_sink sink;
	pkx_run_outcome outcome;
	int rc;

	if (parse_export_args(argc, argv, &a, &err) != 0 ||
	    !(obj = build_config(&a, &err)) ||
	    pkx_config_parse(obj, &cfg, &err) != PKX_OK) {
		rc = reject(&err);
		goto done;
	}
	reg = pkx_registry_new();
	if (!reg || pkx_registry_load_dir(
	                reg, a.plugin_dir ? a.plugin_dir
	                                  : pkx_default_plugin_dir()) <= 0) {
		print_error(PKX_EINTERNAL, "cannot load the plugins");
		rc = EXIT_RUNTIME;
		goto done;
	}
	if (pkx_config_check_live(cfg, 0, &err) != PKX_OK) {
		rc = reject(&err);
		goto done;
	}
	warn_service_only(&a, obj);
	cli_live = pkx_path_is_live(cfg->path) ||
	           strcmp(cfg->mode, "LIVE_STREAM") == 0;
	if (pkx_run_prepare(reg, a.root, cfg, NULL, &run, &err) != PKX_OK ||
	    output_open(&out, a.output, &err) != 0) {
		rc = reject(&err);
		goto done;
	}
	if (pkx_fd_sink_init(&sink, out.fd, 1u << 20, &err) != PKX_OK) {
		output_close(&out, 0, NULL);
		rc = reject(&err);
		goto done;
	}
	cli_running = run;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	outcome = pkx_run_execute(run, &sink.sink, &err);
	cli_running = NULL;
	if (outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED &&
	    pkx_fd_sink_flush(&sink, &err) != PKX_OK)
		outcome = PKX_RUN_FAILED;
	pkx_fd_sink_release(&sink);
	if (outcome == PKX_RUN_CANCELLED)
		pkx_fail(&err, "EXPORT_CANCELLED", "interrupted by a signal");
	/* A damaged input still yields every packet before the damage. */
	if (output_close(
	        &out, outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED,
	        &err) != 0)
		outcome = PKX_RUN_FAILED;
	if (a.stats)
		print_stats(run, &err);
	rc = 0;
	if (outcome == PKX_RUN_FAILED || outcome == PKX_RUN_CANCELLED ||
	    outcome == PKX_RUN_DAMAGED) {
		if (!a.stats)
			print_error(err.id, err.text);
		rc = EXIT_RUNTIME;
	}
done:
	pkx_run_free(run);
	pkx_config_free(cfg);
	pkx_registry_free(reg);
	json_decref(obj);
	json_decref(a.flags);
	json_decref(a.flag_filters);
	json_decref(a.flag_intervals);
	return rc;
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

int main(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "access-code") == 0)
		return cmd_access_code(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "store") == 0)
		/* The store tool knows capture file formats the core does
		 * not. */
		return run_tool(argv + 1, "PKTEXPORT_STORE", PKX_STORE_PROGRAM,
		                "pktexport-store");
	if (argc >= 2 && strcmp(argv[1], "capture") == 0)
		/* The recorder, the one program that captures. */
		return run_tool(argv + 1, "PKTEXPORT_CAPTURE",
		                PKX_CAPTURE_PROGRAM, "pktexport capture");
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return cmd_export(argc - 1, argv + 1);
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
	usage(stderr);
	return EXIT_REJECTED;
}
