/* pktexportd: serves the Packet Export API 1.3 over libevent.  Runs in the
 * foreground; prints the address it listens on once it accepts requests;
 * SIGTERM stops the running exports and exits 0. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/thread.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "capture_broker.h"
#include "codes.h"
#include "pkxd.h"

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: pktexportd --root DIR [--listen ADDR:PORT] "
	        "[--plugin-dir DIR] [--users FILE]\n"
	        "                  [--token-lifetime S] [--max-exports N] "
	        "[--stop-grace S] [-v]\n"
	        "                  [--tls-cert FILE --tls-key FILE "
	        "[--plain-listen ADDR:PORT]]\n"
	        "       pktexportd --version\n"
	        "  --root DIR        the data root (sources under fs/, jobs/, "
	        "...)\n"
	        "  --listen A:P      address to serve on; port 0 picks one "
	        "(default 127.0.0.1:8080)\n"
	        "  --plugin-dir DIR  load plugins from DIR (DIR:DIR... for "
	        "several)\n"
	        "  --users FILE      require access tokens; FILE lists "
	        "NAME:CRYPT-HASH lines\n"
	        "  --token-lifetime S  seconds an access token lasts "
	        "(default 3600)\n"
	        "  --max-exports N   exports kept at most; past it the "
	        "oldest finished one goes (default 4096)\n"
	        "  --max-user-exports N  of them, kept by one user of "
	        "--users (default: a\n"
	        "                    quarter of --max-exports)\n"
	        "  --max-user-disk BYTES  bytes of spools and STREAM_TO_FILE "
	        "outputs being\n"
	        "                    written one user of --users may have "
	        "(K, M, G, T; 0: no\n"
	        "                    bound; default a quarter of the data "
	        "root's file system)\n"
	        "  --max-user-running N  exports one user of --users runs "
	        "at once (compiles,\n"
	        "                    downloads, spools; default 16 of the "
	        "64 the service runs)\n"
	        "  --stop-grace S    on SIGTERM, seconds to finish sending "
	        "downloads whose\n"
	        "                    export is done (default 30); the rest "
	        "are reset\n"
	        "  --tls-cert FILE   serve HTTPS on --listen: the certificate "
	        "(chain), PEM\n"
	        "  --tls-key FILE    its private key, PEM (both reread on "
	        "SIGHUP)\n"
	        "  --plain-listen A:P  plain HTTP as well, on a loopback "
	        "address only\n"
	        "  --allowed-host NAME  a name browsers may reach this "
	        "service by, besides its\n"
	        "                    addresses, localhost and the host's "
	        "name (repeatable)\n"
	        "  -v                log more\n");
}

/* A command line mistake: what was wrong, then how to call it. */
static int bad_usage(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pktexportd: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	usage(stderr);
	return 2;
}

static int make_dir(const char *path)
{
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "pktexportd: cannot create %s: %s\n", path,
		        strerror(errno));
		return -1;
	}
	return 0;
}

/* Splits "ADDR:PORT" ("[v6]:PORT" for IPv6). */
static int split_listen(const char *arg, char *addr, size_t len, int *port)
{
	const char *colon = strrchr(arg, ':');
	const char *a = arg;
	size_t n;
	char *end;
	long p;

	if (!colon)
		return -1;
	n = (size_t)(colon - arg);
	if (arg[0] == '[' && n >= 2 && arg[n - 1] == ']') {
		a = arg + 1;
		n -= 2;
	}
	if (n == 0 || n >= len)
		return -1;
	memcpy(addr, a, n);
	addr[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end || colon[1] == '\0' || p < 0 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* A listening socket on addr:port, or -1 with *why set.  Resolved here
 * rather than by libevent, whose lookup asks for AI_ADDRCONFIG: with that,
 * 127.0.0.1 cannot be bound while no interface but loopback has an IPv4
 * address (early in boot, before DHCP answers). */
static int listen_on(const char *addr, int port, const char **why)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
	                         .ai_socktype = SOCK_STREAM,
	                         .ai_flags = AI_PASSIVE | AI_NUMERICSERV |
	                                     AI_NUMERICHOST};
	struct addrinfo *res = NULL, *ai;
	char service[8];
	int fd = -1, r, one = 1, saved = 0;

	snprintf(service, sizeof(service), "%d", port);
	r = getaddrinfo(addr, service, &hints, &res);
	if (r == EAI_NONAME) { /* a name, not a number */
		hints.ai_flags &= ~AI_NUMERICHOST;
		r = getaddrinfo(addr, service, &hints, &res);
	}
	if (r != 0) {
		*why = r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r);
		return -1;
	}
	for (ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
		            ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
		    listen(fd, SOMAXCONN) != 0) {
			saved = errno;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		*why = strerror(saved ? saved : EADDRNOTAVAIL);
	return fd;
}

/* Tells a service manager that started us with $NOTIFY_SOCKET (systemd's
 * Type=notify) how we are: "READY=1", "STOPPING=1".  Nothing otherwise. */
static void notify_manager(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	size_t len;
	int fd;

	if (!path || (path[0] != '/' && path[0] != '@') ||
	    (len = strlen(path)) >= sizeof(sun.sun_path))
		return;
	memcpy(sun.sun_path, path, len);
	if (path[0] == '@')
		sun.sun_path[0] = '\0'; /* an abstract socket */
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	           (const struct sockaddr *)&sun,
	           (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) <
	    0)
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "cannot tell the service manager \"%s\": %s", state,
		        strerror(errno));
	close(fd);
}

/* An option's whole number, 1 to max; -1 when it is not one. */
static long parse_count(const char *arg, unsigned long max)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || *end || !*arg || arg[0] == '-' || v == 0 || v > max)
		return -1;
	return (long)v;
}

/* A size in bytes with an optional binary suffix (K, M, G, T). */
static int parse_bytes(const char *arg, uint64_t *out)
{
	unsigned long long v;
	char *end;
	unsigned shift = 0;

	errno = 0;
	v = strtoull(arg, &end, 10);
	if (errno || end == arg || arg[0] == '-')
		return -1;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10, end++;
		break;
	case 'M':
	case 'm':
		shift = 20, end++;
		break;
	case 'G':
	case 'g':
		shift = 30, end++;
		break;
	case 'T':
	case 't':
		shift = 40, end++;
		break;
	}
	if (*end || (shift && v > (~0ull >> shift)))
		return -1;
	*out = (uint64_t)v << shift;
	return 0;
}

/* Whether only this machine can reach the socket whose address is ss. */
static int is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)ss)->sin6_addr);
	return ss->ss_family == AF_INET &&
	       (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >>
	        24) == 127;
}

/* "ADDR:PORT" ("[ADDR]:PORT" for IPv6) of a bound socket. */
static void format_bound(const struct sockaddr_storage *ss, char *out,
                         size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, size, "[%s]:%d", host, ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)ss;

		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, size, "%s:%d", host, ntohs(s4->sin_port));
	}
}

static void maybe_exit(pkxd_daemon *d);

static void on_stop(evutil_socket_t sig, short what, void *arg)
{
	pkxd_daemon *d = arg;
	pkxd_export *e;

	(void)what;
	if (d->stopping)
		return;
	pkx_log(PKX_LOG_INFO, "pktexportd", "signal %d: stopping", (int)sig);
	notify_manager("STOPPING=1");
	d->stopping = 1;
	if (d->http)
		pkxh_server_close_listener(d->http);
	for (e = pkxd_export_first(d); e; e = pkxd_export_next(e))
		if (pkxd_export_job(e))
			pkxd_job_cancel(pkxd_export_job(e));
	pkxd_auth_stop(d);
	pkxd_capture_stop(d);
	maybe_exit(d);
}

/* Stopping, and the downloads of finished exports are still not sent:
 * they are cut (and their exports marked), then the loop ends. */
static void stop_wait_over(evutil_socket_t fd, short what, void *arg)
{
	pkxd_daemon *d = arg;
	struct timeval now = {0, 0};

	(void)fd;
	(void)what;
	pkxd_streams_abort(d);
	event_base_loopexit(d->base, &now);
}

/* Ends the loop once a stopping daemon has nothing left running (the
 * idle hook of the lower layers). */
static void maybe_exit(pkxd_daemon *d)
{
	/* A moment for the last answers to be written out: ending the loop
	 * at once would close their connections with the replies unsent. */
	struct timeval grace = {0, 250000};

	if (!d->stopping || d->n_jobs != 0 || pkxd_auth_busy(d) != 0 ||
	    pkxd_tasks_busy() != 0 || pkxd_capture_busy(d) != 0)
		return;
	if (pkxd_streams_sending() || pkxd_files_busy()) {
		/* An export reads DONE once its job ends, with the end of the
		 * reply still to go: the client gets it, or a reset.  A file
		 * sent or received has the same time to finish; an upload
		 * cut then leaves nothing under its name. */
		struct timeval limit = {(time_t)d->stop_grace, 0};

		if (!d->stop_wait &&
		    (d->stop_wait = evtimer_new(d->base, stop_wait_over, d)))
			evtimer_add(d->stop_wait, &limit);
		if (d->stop_wait)
			return;
	}
	event_base_loopexit(d->base, &grace);
}

/* Packet sockets are opened by pktexport-capture alone (capture jobs and
 * the live sources of exports), which the capture broker runs
 * (broker.c): this process gives up the capabilities for them altogether
 * once the broker holds them.  Without a broker it keeps CAP_NET_RAW only
 * to pass on to the capture program it runs itself (as the unit's ambient
 * capability): out of its effective set, so nothing in this process opens
 * a packet socket unless it first raises it again.  Other capabilities
 * are left as they are. */
static void drop_capture_caps(int all)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct c[2];
	static const int caps[] = {CAP_NET_RAW, CAP_NET_ADMIN};
	size_t i;

	/* Root has them again on exec: nothing to pass on. */
	all = all || geteuid() == 0;
	for (i = 0; all && i < sizeof(caps) / sizeof(*caps); i++)
		prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, caps[i], 0, 0);
	if (syscall(SYS_capget, &h, c) != 0)
		return;
	for (i = 0; i < sizeof(caps) / sizeof(*caps); i++) {
		uint32_t bit = 1u << (caps[i] % 32);

		c[caps[i] / 32].effective &= ~bit;
		if (all) {
			c[caps[i] / 32].permitted &= ~bit;
			c[caps[i] / 32].inheritable &= ~bit;
		}
	}
	if (syscall(SYS_capset, &h, c) != 0)
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "cannot give up CAP_NET_RAW: %s", strerror(errno));
}

static int setup(pkxd_daemon *d, const char *root, const char *plugin_dir)
{
	char path[PATH_MAX];

	d->root = realpath(root, NULL);
	if (!d->root) {
		fprintf(stderr, "pktexportd: data root %s: %s\n", root,
		        strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/.pktexport", d->root);
	if (make_dir(path) != 0)
		return -1;
	if (asprintf(&d->state_dir, "%s/exports", path) < 0 ||
	    asprintf(&d->spool_dir, "%s/spool", path) < 0 ||
	    make_dir(d->state_dir) != 0 || make_dir(d->spool_dir) != 0)
		return -1;
	d->reg = pkx_registry_new();
	if (!d->reg || pkx_registry_load_dir(d->reg, plugin_dir) <= 0)
		return -1;
	/* The capture, clips and filesystem services describe captures
	 * through the store tool: without it they are not served. */
	d->have_store_tool = access(pkxd_store_program(), X_OK) == 0;
	if (!d->have_store_tool)
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "no store tool at %s: npm.packet_capture, npm.clips "
		        "and npm.filesystem are not served",
		        pkxd_store_program());
	return 0;
}

static void teardown(pkxd_daemon *d)
{
	pkxd_saver_stop(d); /* what is queued is written first */
	pkxd_exports_free_all(d);
	pkxd_disks_free(d);
	pkxd_capture_free(d);
	if (d->stop_wait)
		event_free(d->stop_wait);
	if (d->sigterm)
		event_free(d->sigterm);
	if (d->sigint)
		event_free(d->sigint);
	if (d->sighup)
		event_free(d->sighup);
	pkxh_server_free(d->http);
	if (d->base)
		event_base_free(d->base);
	pkx_registry_free(d->reg);
	pkxd_auth_free(d->auth);
	pkxd_console_free();
	free(d->root);
	free(d->state_dir);
	free(d->spool_dir);
	libevent_global_shutdown();
}

/* A TLS server context from PEM files: TLS 1.2 and 1.3, AEAD ciphers
 * only, no renegotiation or compression.  NULL after saying why. */
static SSL_CTX *tls_context(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	char why[256] = "out of memory";

	if (!ctx)
		goto fail;
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	                             SSL_OP_NO_COMPRESSION |
	                             SSL_OP_CIPHER_SERVER_PREFERENCE);
	/* TLS 1.2: forward-secret AEAD suites only (TLS 1.3's are all AEAD). */
	/* AES-128-GCM first (as browsers prefer it): the cheapest AEAD
	 * with AES instructions, and downloads are bulk encryption. */
	if (SSL_CTX_set_cipher_list(ctx, "ECDHE+AES128GCM:ECDHE+AESGCM:"
	                                 "ECDHE+CHACHA20:DHE+AESGCM:"
	                                 "DHE+CHACHA20") != 1 ||
	    SSL_CTX_set_ciphersuites(ctx,
	                             "TLS_AES_128_GCM_SHA256:"
	                             "TLS_AES_256_GCM_SHA384:"
	                             "TLS_CHACHA20_POLY1305_SHA256") != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_error_string_n(ERR_get_error(), why, sizeof(why));
		goto fail;
	}
	return ctx;
fail:
	fprintf(stderr, "pktexportd: TLS with certificate %s and key %s: %s\n",
	        cert, key, why);
	SSL_CTX_free(ctx);
	return NULL;
}

static const char *tls_cert, *tls_key;

/* SIGHUP: the certificate and key are read again; new connections use
 * them, open ones keep theirs.  A pair that does not load leaves the old
 * one in use. */
static void on_reload(evutil_socket_t sig, short what, void *arg)
{
	pkxd_daemon *d = arg;
	SSL_CTX *ctx;

	(void)sig;
	(void)what;
	if (!tls_cert)
		return;
	if (!(ctx = tls_context(tls_cert, tls_key))) {
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "SIGHUP: the new certificate or key does not load: the "
		        "old ones stay in use");
		return;
	}
	pkxh_server_set_tls(d->http, ctx);
	SSL_CTX_free(ctx); /* the server holds its own reference */
	pkx_log(PKX_LOG_INFO, "pktexportd",
	        "SIGHUP: certificate %s and key %s loaded", tls_cert, tls_key);
}

/* Listens on a --listen style address: the socket, its bound address in
 * text (out), or -1 after saying why. */
static int open_listener(const char *spec, const char *option,
                         struct sockaddr_storage *ss, char *out, size_t size)
{
	char host[256];
	const char *why = NULL;
	socklen_t len = sizeof(*ss);
	int port, fd;

	if (split_listen(spec, host, sizeof(host), &port) != 0) {
		fprintf(stderr,
		        "pktexportd: %s \"%s\" is not ADDR:PORT (port 0 to "
		        "65535; [ADDR]:PORT for IPv6)\n",
		        option, spec);
		return -1;
	}
	fd = listen_on(host, port, &why);
	if (fd < 0) {
		fprintf(stderr, "pktexportd: cannot listen on %s: %s\n", spec,
		        why);
		return -1;
	}
	if (getsockname(fd, (struct sockaddr *)ss, &len) != 0) {
		fprintf(stderr,
		        "pktexportd: cannot read the address bound: %s\n",
		        strerror(errno));
		close(fd);
		return -1;
	}
	format_bound(ss, out, size);
	return fd;
}

/* Connections served at once: the descriptor limit (raised to its hard
 * limit where allowed) less a reserve for what exports open (captures,
 * spools, plugin helpers, state files). */
static unsigned connection_cap(void)
{
	struct rlimit rl;
	rlim_t n = 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if (rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
			getrlimit(RLIMIT_NOFILE, &rl);
		}
		n = rl.rlim_cur;
	}
	if (n > 65536)
		n = 65536;
	return n > 512 ? (unsigned)(n - 256) : (unsigned)(n / 2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"listen", required_argument, NULL, 'l'},
	    {"plugin-dir", required_argument, NULL, 'p'},
	    {"users", required_argument, NULL, 'u'},
	    {"token-lifetime", required_argument, NULL, 't'},
	    {"max-exports", required_argument, NULL, 'm'},
	    {"max-user-exports", required_argument, NULL, 'M'},
	    {"max-user-running", required_argument, NULL, 'J'},
	    {"max-user-disk", required_argument, NULL, 'D'},
	    {"stop-grace", required_argument, NULL, 'g'},
	    {"tls-cert", required_argument, NULL, 'C'},
	    {"tls-key", required_argument, NULL, 'K'},
	    {"plain-listen", required_argument, NULL, 'P'},
	    {"allowed-host", required_argument, NULL, 'A'},
	    {"version", no_argument, NULL, 'V'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *root = NULL, *listen = "127.0.0.1:8080", *users = NULL;
	const char *plain_listen = NULL;
	SSL_CTX *tls = NULL;
	struct sockaddr_storage plain_ss;
	char plain_addr[256];
	int plain_fd = -1;
	long lifetime = 3600, max_exports = PKXD_MAX_EXPORTS, grace = 30;
	long max_user = 0, max_user_jobs = PKXD_MAX_JOBS / 4;
	uint64_t max_user_disk = 0;
	int have_disk = 0;
	struct sockaddr_storage ss;
	int fd;
	const char *plugin_dir = pkx_default_plugin_dir();
	pkxd_daemon d;
	const pkxh_handlers handlers = {pkxd_http_head, pkxd_http_handle,
	                                pkxd_http_refuse, &d};
	pkxh_limits limits = {
	    0, PKXD_OPEN_BODY, PKXD_ALL_BODIES, 64 * 1024, 120, 30, 1024, 10};
	char addr[256];
	int port, c, rc = 1, broker;

	memset(&d, 0, sizeof(d));
	d.idle = maybe_exit;
	d.job_cancel = pkxd_job_cancel;
	d.job_stats = pkxd_job_stats;
	d.authed = pkxd_http_authed;
	pkx_log_set_name("pktexportd");
	/* One line per export, login and error by default; -v adds
	 * debugging.  The journal stamps lines itself and reads priorities;
	 * elsewhere each line carries its time. */
	pkx_log_set_level(PKX_LOG_INFO);
	pkx_log_set_style(getenv("JOURNAL_STREAM") ? PKX_LOG_PRIORITY
	                                           : PKX_LOG_TIMESTAMP);
	/* Clients cause most lines: a flood of them must not fill a disk. */
	pkx_log_set_rate(10, 100);
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			root = optarg;
			break;
		case 'l':
			listen = optarg;
			break;
		case 'C':
			tls_cert = optarg;
			break;
		case 'K':
			tls_key = optarg;
			break;
		case 'P':
			plain_listen = optarg;
			break;
		case 'A':
			if (pkxd_console_allow_host(optarg) != 0)
				return bad_usage(
				    "--allowed-host \"%s\" is not a "
				    "host name (or too many)",
				    optarg);
			break;
		case 'p':
			plugin_dir = optarg;
			break;
		case 'u':
			users = optarg;
			break;
		case 'm':
			if ((max_exports = parse_count(optarg, 1000000)) < 0) {
				fprintf(stderr, "pktexportd: --max-exports "
				                "takes 1 to 1000000\n");
				return 2;
			}
			break;
		case 'M':
			if ((max_user = parse_count(optarg, 1000000)) < 0) {
				fprintf(stderr,
				        "pktexportd: --max-user-exports "
				        "takes 1 to 1000000\n");
				return 2;
			}
			break;
		case 'D':
			if (parse_bytes(optarg, &max_user_disk) != 0) {
				fprintf(
				    stderr,
				    "pktexportd: --max-user-disk takes bytes "
				    "(a whole number, with K, M, G or T for "
				    "KiB, MiB, GiB, TiB; 0: no bound)\n");
				return 2;
			}
			have_disk = 1;
			break;
		case 'J':
			if ((max_user_jobs =
			         parse_count(optarg, PKXD_MAX_JOBS)) < 0) {
				fprintf(
				    stderr,
				    "pktexportd: --max-user-running takes 1 "
				    "to %d\n",
				    PKXD_MAX_JOBS);
				return 2;
			}
			break;
		case 't':
			if ((lifetime = parse_count(optarg, 31u * 86400)) < 0) {
				fprintf(stderr,
				        "pktexportd: --token-lifetime takes "
				        "seconds, 1 to %u\n",
				        31u * 86400);
				return 2;
			}
			break;
		case 'g':
			if ((grace = parse_count(optarg, 3600)) < 0) {
				fprintf(stderr,
				        "pktexportd: --stop-grace takes "
				        "seconds, 1 to 3600\n");
				return 2;
			}
			break;
		case 'v':
			pkx_log_set_level(PKX_LOG_DEBUG);
			break;
		case 'V':
			printf("pktexportd %s (plugin ABI %d.%d)\n",
			       PACKAGE_VERSION, PKX_ABI_MAJOR, PKX_ABI_MINOR);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default: /* getopt said what */
			usage(stderr);
			return 2;
		}
	}
	if (!root)
		return bad_usage("--root DIR is required");
	if (optind != argc)
		return bad_usage("unexpected argument \"%s\"", argv[optind]);
	if (split_listen(listen, addr, sizeof(addr), &port) != 0)
		return bad_usage("--listen \"%s\" is not ADDR:PORT (port 0 to "
		                 "65535; [ADDR]:PORT for IPv6)",
		                 listen);
	if (!tls_cert != !tls_key)
		return bad_usage("--tls-cert and --tls-key go together");
	if (plain_listen && !tls_cert)
		return bad_usage(
		    "--plain-listen is for a plain listener beside "
		    "HTTPS (--tls-cert, --tls-key); --listen serves "
		    "plain HTTP already");
	/* The broker first, while nothing is loaded or open: it keeps the
	 * capture capability, this process gives it up. */
	broker = pkxd_broker_start();
	if (broker >= 0) {
		char num[16];

		snprintf(num, sizeof(num), "%d", broker);
		setenv(PKX_BROKER_ENV, num, 1);
	} else {
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "no capture broker (%s): this process runs the capture "
		        "program itself",
		        strerror(errno));
	}
	drop_capture_caps(broker >= 0);
	if (tls_cert && !(tls = tls_context(tls_cert, tls_key)))
		return 1;
	signal(SIGPIPE, SIG_IGN);
	d.max_exports = (unsigned)max_exports;
	/* A user's share: a quarter of the table unless said (at least 1),
	 * never more than the table. */
	if (!max_user)
		max_user = max_exports / 4 ? max_exports / 4 : 1;
	d.max_user_exports =
	    (unsigned)(max_user < max_exports ? max_user : max_exports);
	d.max_user_jobs = (unsigned)max_user_jobs;
	if (!have_disk) {
		/* A quarter of the data root's file system per user. */
		struct statvfs vfs;

		if (statvfs(root, &vfs) == 0)
			max_user_disk =
			    (uint64_t)vfs.f_blocks * vfs.f_frsize / 4;
	}
	d.max_user_disk = max_user_disk;
	d.stop_grace = (unsigned)grace;
	if (users && !(d.auth = pkxd_auth_load(users, (unsigned)lifetime)))
		goto out;
	if (evthread_use_pthreads() != 0 || setup(&d, root, plugin_dir) != 0)
		goto out;
	if (d.auth) {
		char codes[PATH_MAX];

		snprintf(codes, sizeof(codes), "%s/.pktexport/" PKX_CODES_FILE,
		         d.root);
		if (pkxd_auth_keep_codes(d.auth, codes) != 0)
			goto out;
	}
	/* Precise timers: libevent's default coarse clock ticks in
	 * milliseconds, and a delay promised to be a second (a wrong
	 * password's) must not end a few of them early. */
	{
		struct event_config *ec = event_config_new();

		if (ec) {
			event_config_set_flag(ec,
			                      EVENT_BASE_FLAG_PRECISE_TIMER);
			d.base = event_base_new_with_config(ec);
			event_config_free(ec);
		}
	}
	if (!d.base)
		goto out;
	limits.max_connections = connection_cap();
	if (pkxd_saver_start(&d) != 0) {
		fprintf(stderr, "pktexportd: cannot start a thread\n");
		goto out;
	}
	pkxd_exports_load(&d);
	if (pkxd_capture_start(&d) != 0)
		goto out;
	if ((fd = open_listener(listen, "--listen", &ss, addr, sizeof(addr))) <
	    0)
		goto out;
	if (plain_listen &&
	    (plain_fd = open_listener(plain_listen, "--plain-listen", &plain_ss,
	                              plain_addr, sizeof(plain_addr))) < 0) {
		close(fd);
		goto out;
	}
	if (plain_fd >= 0 && !is_loopback(&plain_ss)) {
		fprintf(stderr,
		        "pktexportd: --plain-listen %s is not a loopback "
		        "address: plain HTTP beside HTTPS stays on this host\n",
		        plain_listen);
		close(fd);
		close(plain_fd);
		goto out;
	}
	d.http = pkxh_server_new(d.base, &handlers, &limits);
	if (!d.http || pkxh_server_listen(d.http, fd, tls) != 0 ||
	    (plain_fd >= 0 &&
	     pkxh_server_listen(d.http, plain_fd, NULL) != 0)) {
		fprintf(stderr, "pktexportd: cannot serve %s: out of memory\n",
		        listen);
		goto out;
	}
	if (tls) {
		d.sighup = evsignal_new(d.base, SIGHUP, on_reload, &d);
		if (!d.sighup || evsignal_add(d.sighup, NULL) != 0)
			goto out;
	}
	d.sigterm = evsignal_new(d.base, SIGTERM, on_stop, &d);
	d.sigint = evsignal_new(d.base, SIGINT, on_stop, &d);
	if (!d.sigterm || !d.sigint || evsignal_add(d.sigterm, NULL) != 0 ||
	    evsignal_add(d.sigint, NULL) != 0)
		goto out;
	if (!d.auth && !is_loopback(&ss))
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "listening on %s without --users: anyone who can "
		        "reach it can read every capture under %s",
		        addr, d.root);
	/* On stdout, once it accepts: where it listens, one line per
	 * listener, --listen's first. */
	printf("%s\n", addr);
	if (plain_fd >= 0)
		printf("%s\n", plain_addr);
	fflush(stdout);
	pkx_log(PKX_LOG_INFO, "pktexportd",
	        "pktexportd %s serving %s on %s%s%s%s, %s", PACKAGE_VERSION,
	        d.root, tls ? "https://" : "http://", addr,
	        plain_fd >= 0 ? " and http://" : "",
	        plain_fd >= 0 ? plain_addr : "",
	        d.auth ? "access control on (--users)"
	               : "no access control (no --users)");
	notify_manager("READY=1");
	event_base_dispatch(d.base);
	pkx_log(PKX_LOG_INFO, "pktexportd", "stopped");
	rc = 0;
out:
	teardown(&d);
	SSL_CTX_free(tls);
	return rc;
}
