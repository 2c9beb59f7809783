/* The web console: its static files at / and /console/ (installed in
 * $(pkgdatadir)/console; Debian's libjs-chart.js served from where the
 * package puts it), and what a browser's requests must show before they
 * reach any service (doc/api.md, "The web console"): a Host this service
 * answers to (DNS rebinding), and for a state-changing request its own
 * Origin and a JSON body.  Files are read on a task thread, never on the
 * loop. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "pkx_paths.h"
#include "pkxd.h"

#define CONSOLE_MAX_FILE  (4u << 20)
#define MAX_ALLOWED_HOSTS 32

static char *allowed_hosts[MAX_ALLOWED_HOSTS];
static int n_allowed_hosts;

int pkxd_console_allow_host(const char *name)
{
	if (n_allowed_hosts == MAX_ALLOWED_HOSTS || !*name ||
	    strlen(name) > 253 || strpbrk(name, ":/ \t[]"))
		return -1;
	return (allowed_hosts[n_allowed_hosts++] = strdup(name)) ? 0 : -1;
}

void pkxd_console_free(void)
{
	while (n_allowed_hosts > 0)
		free(allowed_hosts[--n_allowed_hosts]);
}

/* A Host header's port: 1 to 5 digits, nothing after. */
static int good_port(const char *p)
{
	size_t n = strspn(p, "0123456789");

	return n >= 1 && n <= 5 && !p[n];
}

/* The Host header's name (without its port): an address, localhost,
 * this machine's name or one given with --allowed-host.  A name an
 * attacker's DNS points at us is none of those. */
static int host_allowed(const char *host)
{
	char name[256], self[256];
	struct in6_addr a6;
	struct in_addr a4;
	const char *colon;
	size_t len;
	int i;

	if (!host || !*host)
		return 0;
	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		if (!end || (size_t)(end - host - 1) >= sizeof(name) ||
		    (end[1] && (end[1] != ':' || !good_port(end + 2))))
			return 0;
		memcpy(name, host + 1, (size_t)(end - host - 1));
		name[end - host - 1] = '\0';
		return inet_pton(AF_INET6, name, &a6) == 1;
	}
	colon = strchr(host, ':');
	len = colon ? (size_t)(colon - host) : strlen(host);
	if (len == 0 || len >= sizeof(name) || (colon && !good_port(colon + 1)))
		return 0;
	/* A host name's letters only: "127.0.0.1:80@evil.com" is none. */
	if (strspn(host, "abcdefghijklmnopqrstuvwxyz"
	                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") != len)
		return 0;
	memcpy(name, host, len);
	name[len] = '\0';
	if (len > 1 && name[len - 1] == '.')
		name[--len] = '\0';
	if (inet_pton(AF_INET, name, &a4) == 1 ||
	    strcasecmp(name, "localhost") == 0)
		return 1;
	if (gethostname(self, sizeof(self)) == 0 && strcasecmp(name, self) == 0)
		return 1;
	for (i = 0; i < n_allowed_hosts; i++)
		if (strcasecmp(name, allowed_hosts[i]) == 0)
			return 1;
	return 0;
}

static int is_console_path(const char *path)
{
	return strcmp(path, "/") == 0 || strcmp(path, "/console") == 0 ||
	       strncmp(path, "/console/", 9) == 0;
}

/* "application/json", with parameters or not. */
static int is_json_type(const char *t)
{
	size_t n = strlen("application/json");

	if (!t)
		return 0;
	while (*t == ' ')
		t++;
	return strncasecmp(t, "application/json", n) == 0 &&
	       (t[n] == '\0' || t[n] == ';' || t[n] == ' ');
}

int pkxd_console_check(pkxh_req *req, const char *path)
{
	const char *origin = pkxh_header(req, "Origin");
	const char *site = pkxh_header(req, "Sec-Fetch-Site");
	const char *host = pkxh_header(req, "Host");
	pkxh_method m = pkxh_method_of(req);
	struct evkeyvalq *out = pkxh_out_headers(req);
	char want[300];

	/* Every answer: no sniffing, never inside another site's frame. */
	evhttp_add_header(out, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(out, "X-Frame-Options", "DENY");
	if (!origin && !site && !is_console_path(path))
		return 0; /* not a browser's (curl, the vendor's client) */
	if (!host_allowed(host)) {
		pkxd_reply_error(req, 403, "AUTH_FORBIDDEN",
		                 "this service does not answer to the name "
		                 "\"%.64s\" (see --allowed-host)",
		                 host ? host : "");
		return 1;
	}
	if (m == PKXH_GET || m == PKXH_HEAD)
		return 0;
	snprintf(want, sizeof(want), "%s://%s",
	         pkxh_secure(req) ? "https" : "http", host);
	if (!origin || strcasecmp(origin, want) != 0) {
		pkxd_reply_error(req, 403, "AUTH_FORBIDDEN",
		                 "a browser's %s must come from this service's "
		                 "own pages (Origin %s)",
		                 pkxh_method_name(req), want);
		return 1;
	}
	if ((m == PKXH_POST || m == PKXH_PUT) &&
	    !is_json_type(pkxh_header(req, "Content-Type"))) {
		pkxd_reply_error(req, 415, PKX_EINVAL,
		                 "a browser's %s must send application/json",
		                 pkxh_method_name(req));
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------ the files */

typedef struct console_file {
	pkxh_req *req;
	char path[4200];
	const char *type;
	struct evbuffer *body;
	int status;
	int needed; /* 1: index.html, 2: the chart library, 0: others */
} console_file;

static const char *dir_of(const char *env, const char *dflt)
{
	const char *v = getenv(env);

	return v && *v ? v : dflt;
}

static void file_work(void *arg)
{
	console_file *cf = arg;
	struct stat st;
	int fd = open(cf->path, O_RDONLY | O_CLOEXEC);
	char *buf = NULL;
	size_t got = 0;

	cf->status = 404;
	if (fd < 0)
		return;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    st.st_size <= CONSOLE_MAX_FILE &&
	    (buf = malloc((size_t)st.st_size + 1))) {
		ssize_t n;

		while (
		    got < (size_t)st.st_size &&
		    ((n = read(fd, buf + got, (size_t)st.st_size - got)) > 0 ||
		     (n < 0 && errno == EINTR)))
			if (n > 0)
				got += (size_t)n;
		if (got == (size_t)st.st_size && (cf->body = evbuffer_new()) &&
		    evbuffer_add(cf->body, buf, got) == 0)
			cf->status = 200;
	}
	free(buf);
	close(fd);
}

static void file_done(pkxd_daemon *d, void *arg)
{
	console_file *cf = arg;
	struct evkeyvalq *out = pkxh_out_headers(cf->req);

	(void)d;
	if (cf->status != 200) {
		/* The folder goes to the log, not to whoever asked. */
		if (cf->needed == 1)
			pkx_log(PKX_LOG_WARN, "pktexportd",
			        "the console is not installed: cannot read %s",
			        cf->path);
		pkxd_reply_error(
		    cf->req, 404, PKX_ENOTFOUND, "%s",
		    cf->needed == 1   ? "the console is not installed on this "
		                        "service"
		    : cf->needed == 2 ? "the chart library (Debian's "
		                        "libjs-chart.js) is not installed"
		                      : "no such console file");
	} else {
		evhttp_add_header(out, "Content-Type", cf->type);
		evhttp_add_header(out, "Cache-Control", "no-cache");
		evhttp_add_header(out, "Referrer-Policy", "no-referrer");
		evhttp_add_header(
		    out, "Content-Security-Policy",
		    "default-src 'none'; script-src 'self'; style-src 'self'; "
		    "img-src 'self' data:; connect-src 'self'; "
		    "form-action 'none'; frame-ancestors 'none'; "
		    "base-uri 'none'");
		pkxh_reply(cf->req, 200, cf->body);
	}
	if (cf->body)
		evbuffer_free(cf->body);
	free(cf);
}

static const char *type_of(const char *name)
{
	const char *dot = strrchr(name, '.');

	if (!dot)
		return NULL;
	if (strcmp(dot, ".html") == 0)
		return "text/html; charset=utf-8";
	if (strcmp(dot, ".js") == 0)
		return "text/javascript; charset=utf-8";
	if (strcmp(dot, ".css") == 0)
		return "text/css; charset=utf-8";
	if (strcmp(dot, ".png") == 0)
		return "image/png";
	if (strcmp(dot, ".svg") == 0)
		return "image/svg+xml";
	return NULL;
}

int pkxd_console_serve(pkxd_daemon *d, pkxh_req *req, const char *path)
{
	pkxh_method m = pkxh_method_of(req);
	const char *name, *dir;
	console_file *cf;
	size_t k;

	if (!is_console_path(path))
		return 0;
	if (m != PKXH_GET && m != PKXH_HEAD) {
		pkxd_reply_not_allowed(req, "GET");
		return 1;
	}
	if (strcmp(path, "/console/lib/chart.js") == 0) {
		dir = dir_of("PKTEXPORT_CHARTJS_DIR", PKX_CHARTJS_DIR);
		name = "chart.min.js";
	} else {
		dir = dir_of("PKTEXPORT_CONSOLE_DIR", PKX_CONSOLE_DIR);
		name = strcmp(path, "/") == 0 || strcmp(path, "/console") == 0
		           ? "index.html"
		           : path + 9;
		/* One plain name: no folder, no dot name. */
		for (k = 0; name[k]; k++)
			if (!strchr("abcdefghijklmnopqrstuvwxyz0123456789-_.",
			            name[k]))
				break;
		if (name[k] || name[0] == '.' || !type_of(name)) {
			pkxd_reply_error(req, 404, PKX_ENOTFOUND,
			                 "no resource %.64s", path);
			return 1;
		}
	}
	if (!(cf = calloc(1, sizeof(*cf)))) {
		pkxd_reply_error(req, 500, PKX_EINTERNAL, "out of memory");
		return 1;
	}
	cf->req = req;
	cf->type = type_of(name);
	cf->needed = strcmp(name, "index.html") == 0     ? 1
	             : strcmp(name, "chart.min.js") == 0 ? 2
	                                                 : 0;
	snprintf(cf->path, sizeof(cf->path), "%s/%s", dir, name);
	if (pkxd_tasks_busy() >= PKXD_MAX_LISTINGS ||
	    pkxd_task_start(d, file_work, file_done, cf) != 0) {
		free(cf);
		pkxd_reply_error(req, 503, PKX_EBUSY, "busy: try again");
	}
	return 1;
}
