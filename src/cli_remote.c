/* pktexport --server URL ...: the command line as a client of pktexportd
 * (doc/api.md): it creates, lists, shows, follows, downloads and deletes
 * exports over HTTP or HTTPS, with libcurl.  `create` reads the options
 * of a local export into the same config object (cli.c). */
#include "config.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "size_arg.h"

/* Exit statuses past the local export's 0, 1 and 2. */
#define EXIT_CONNECT   3 /* the server cannot be reached */
#define EXIT_TLS       4 /* the TLS handshake failed (certificate) */
#define EXIT_AUTH      5 /* 401, 403: credentials */
#define EXIT_NOT_FOUND 6 /* 404: no such export */
#define EXIT_CONFLICT  7 /* 409: the export's state does not allow it */

#define API "/api/npm.packet_export/1.3"

typedef struct remote {
	char *base; /* the server's URL without a trailing slash */
	const char *user, *cacert, *password_file, *token_file;
	char *token;   /* bearer token, once logged in */
	int logged_in; /* authenticate() ran */
	CURL *curl;
	int verbose;
	long long limit_rate; /* bytes a second a download may take */
	const cli_export_request *request; /* create's, for messages */
	char what[256]; /* what the user typed, for messages */
	/* An export that ended with an error but holds what came before it
	 * (a damaged source): said once its packets are written. */
	char partial_id[64], partial[768];
} remote;

/* One answer: its status and headers, its body in memory (JSON, errors)
 * or, for a download's 200 or 206, into fd. */
typedef struct reply {
	CURL *curl;
	long status;
	char *body;
	size_t len;
	char etag[160];
	char content_range[128];
	/* downloads */
	int fd;             /* -1: the body goes to memory */
	int began;          /* the body's first byte decided where it goes */
	uint64_t resume_at; /* bytes of a .part asked to be kept */
	uint64_t written;   /* bytes written to fd by this answer */
	int write_errno;
	const char *etag_file; /* where the tag of a .part is kept */
	/* progress line */
	int progress;
	uint64_t started, shown_at;
	int shown;
} reply;

static volatile sig_atomic_t remote_signal;

static void on_remote_signal(int sig)
{
	remote_signal = sig;
}

/* ------------------------------------------------------------ messages */

static void fail(const char *id, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail(const char *id, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	cli_say_error(id, text);
}

static int exit_for_status(long status)
{
	if (status == 401 || status == 403)
		return EXIT_AUTH;
	if (status == 404)
		return EXIT_NOT_FOUND;
	if (status == 409)
		return EXIT_CONFLICT;
	if (status >= 400 && status < 500)
		return EXIT_REJECTED;
	return EXIT_RUNTIME;
}

/* The server's error: its own JSON with --json-errors, else one line
 * naming what was typed, with the server's error_id and error_text. */
static int http_error(const remote *r, const reply *rep)
{
	json_t *doc =
	    rep->body ? json_loadb(rep->body, rep->len, 0, NULL) : NULL;
	const char *id = json_string_value(json_object_get(doc, "error_id"));
	const char *text =
	    json_string_value(json_object_get(doc, "error_text"));
	const char *hint = "";
	char fallback[64];
	pkx_error named;

	if (!id || !text) {
		snprintf(fallback, sizeof(fallback), "HTTP status %ld",
		         rep->status);
		id = "HTTP_ERROR";
		text = fallback;
	}
	if (r->request) {
		/* config.start_time -> --start '...' */
		snprintf(named.id, sizeof(named.id), "%s", id);
		snprintf(named.text, sizeof(named.text), "%s", text);
		cli_export_request_name(r->request, &named);
		text = named.text;
	}
	if (rep->status == 401 && !r->user && !r->token)
		hint = "; the server asks for a login: give --user NAME";
	else if (rep->status == 401 && r->user)
		hint = "; check the user name and the password";
	if (cli_json_errors())
		cli_say_error(id, text); /* the server's own words */
	else
		fail(id, "%s: %s (%s, HTTP %ld from %s)%s", r->what, text, id,
		     rep->status, r->base, hint);
	json_decref(doc);
	return exit_for_status(rep->status);
}

/* libcurl's failures, by what the user can do about them. */
static int transport_error(const remote *r, CURLcode code, const char *buf)
{
	const char *why = buf[0] ? buf : curl_easy_strerror(code);

	switch (code) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		fail("CONNECTION_FAILED", "%s: cannot reach %s: %s", r->what,
		     r->base, why);
		return EXIT_CONNECT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
		fail("TLS_FAILED", "%s: no trusted TLS connection to %s: %s%s",
		     r->what, r->base, why,
		     r->cacert ? ""
		               : " (a server with a certificate of its own "
		                 "CA: give --cacert FILE)");
		return EXIT_TLS;
	default:
		fail("CONNECTION_FAILED", "%s: talking to %s: %s", r->what,
		     r->base, why);
		return EXIT_RUNTIME;
	}
}

/* -------------------------------------------------------------- replies */

static int keep_in_memory(reply *rep, const char *data, size_t n)
{
	char *grown;

	if (rep->len + n > (64u << 20))
		return -1; /* no JSON answer is this large */
	grown = realloc(rep->body, rep->len + n + 1);
	if (!grown)
		return -1;
	rep->body = grown;
	memcpy(rep->body + rep->len, data, n);
	rep->len += n;
	rep->body[rep->len] = '\0';
	return 0;
}

/* Writes a .part's tag beside it (FILE.part.etag), so that a later run
 * asks for the rest of the same bytes only (If-Range). */
static void save_etag(const reply *rep)
{
	FILE *f;

	if (!rep->etag_file)
		return;
	if (!rep->etag[0] || !(f = fopen(rep->etag_file, "w"))) {
		unlink(rep->etag_file);
		return;
	}
	fprintf(f, "%s\n", rep->etag);
	fclose(f);
}

static unsigned long long range_start(const char *content_range)
{
	unsigned long long from = ~0ull;

	if (sscanf(content_range, "bytes %llu-", &from) != 1)
		return ~0ull;
	return from;
}

/* The first byte of a body: a download's 200 starts the file again, its
 * 206 continues it where the .part ends; anything else is an error to
 * read in memory. */
static void begin_body(reply *rep)
{
	rep->began = 1;
	curl_easy_getinfo(rep->curl, CURLINFO_RESPONSE_CODE, &rep->status);
	if (rep->fd < 0)
		return;
	if (rep->status == 206 &&
	    range_start(rep->content_range) == rep->resume_at) {
		save_etag(rep);
		return;
	}
	if (rep->status == 200) {
		if (rep->resume_at && (ftruncate(rep->fd, 0) != 0 ||
		                       lseek(rep->fd, 0, SEEK_SET) != 0))
			rep->write_errno = errno;
		rep->resume_at = 0;
		save_etag(rep);
		return;
	}
	rep->fd = -1; /* an error, or a range we did not ask for */
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	reply *rep = arg;
	size_t len = size * n, done = 0;

	if (!rep->began)
		begin_body(rep);
	if (rep->fd < 0)
		return keep_in_memory(rep, data, len) == 0 ? len : 0;
	while (done < len) {
		ssize_t w = write(rep->fd, data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rep->write_errno = w < 0 ? errno : EIO;
			return 0;
		}
		done += (size_t)w;
	}
	rep->written += len;
	return len;
}

static int header_is(const char *line, size_t n, const char *name)
{
	size_t k = strlen(name);

	return n > k && strncasecmp(line, name, k) == 0 && line[k] == ':';
}

static void header_value(const char *line, size_t n, size_t skip, char *buf,
                         size_t cap)
{
	const char *v = line + skip + 1, *end = line + n;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
	                   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	snprintf(buf, cap, "%.*s", (int)(end - v), v);
}

static size_t on_header(char *line, size_t size, size_t n, void *arg)
{
	reply *rep = arg;
	size_t len = size * n;

	if (header_is(line, len, "ETag"))
		header_value(line, len, 4, rep->etag, sizeof(rep->etag));
	else if (header_is(line, len, "Content-Range"))
		header_value(line, len, 13, rep->content_range,
		             sizeof(rep->content_range));
	return len;
}

/* A download's line on a terminal, as the local export's. */
static int on_progress(void *arg, curl_off_t total, curl_off_t now,
                       curl_off_t up_total, curl_off_t up_now)
{
	reply *rep = arg;
	uint64_t t = pkx_now_ns();
	char got[32], all[32], rate[32], pct[64] = "";
	double secs;

	(void)up_total;
	(void)up_now;
	if (remote_signal)
		return 1; /* ends the transfer: the .part stays */
	if (!rep->progress || t - rep->started < 500000000u ||
	    t - rep->shown_at < 250000000u)
		return 0;
	rep->shown_at = t;
	secs = (double)(t - rep->started) / 1e9;
	cli_human_bytes(rep->resume_at + (uint64_t)now, got, sizeof(got));
	cli_human_bytes((uint64_t)((double)now / secs), rate, sizeof(rate));
	if (total > 0) {
		cli_human_bytes(rep->resume_at + (uint64_t)total, all,
		                sizeof(all));
		snprintf(pct, sizeof(pct), " of %s, %.1f%%", all,
		         100.0 * (double)now / (double)total);
	}
	fprintf(stderr, "\r\033[K%s downloaded%s (%s/s)", got, pct, rate);
	rep->shown = 1;
	return 0;
}

/* ------------------------------------------------------------- requests */

static void reply_init(reply *rep, const remote *r)
{
	memset(rep, 0, sizeof(*rep));
	rep->fd = -1;
	rep->curl = r->curl;
}

static void reply_free(reply *rep)
{
	if (rep->body)
		explicit_bzero(rep->body, rep->len); /* may hold a token */
	free(rep->body);
}

static int authenticate(remote *r);

/* One request: 0 once the server answered (whatever its status), else
 * the exit status of a transport failure, said. */
static int send_request(remote *r, const char *method, const char *path,
                        json_t *body, struct curl_slist *headers, reply *x)
{
	char url[4096], errbuf[CURL_ERROR_SIZE] = "", auth[600];
	char *text = NULL;
	CURLcode code;
	struct curl_slist *h = NULL, *c;

	if (!r->logged_in) {
		int rc;

		r->logged_in = 1;
		if ((rc = authenticate(r)) != 0)
			return rc;
	}
	snprintf(url, sizeof(url), "%s%s", r->base, path);
	curl_easy_reset(r->curl);
	curl_easy_setopt(r->curl, CURLOPT_URL, url);
	curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(r->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->curl, CURLOPT_USERAGENT,
	                 "pktexport/" PACKAGE_VERSION);
	if (r->cacert)
		curl_easy_setopt(r->curl, CURLOPT_CAINFO, r->cacert);
	if (r->limit_rate > 0)
		curl_easy_setopt(r->curl, CURLOPT_MAX_RECV_SPEED_LARGE,
		                 (curl_off_t)r->limit_rate);
	curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(r->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->curl, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(r->curl, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(r->curl, CURLOPT_NOPROGRESS, 0L);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(r->curl, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST, method);
	for (c = headers; c; c = c->next) /* the caller's, then ours */
		h = curl_slist_append(h, c->data);
	if (body) {
		text = json_dumps(body, JSON_COMPACT);
		curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, text);
		h = curl_slist_append(h, "Content-Type: application/json");
	}
	if (r->token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		         r->token);
		h = curl_slist_append(h, auth);
		explicit_bzero(auth, sizeof(auth));
	}
	curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, h);
	if (r->verbose)
		fprintf(stderr, "> %s %s\n", method, url);
	x->started = pkx_now_ns();
	code = curl_easy_perform(r->curl);
	if (x->shown)
		fprintf(stderr, "\r\033[K");
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
	curl_slist_free_all(h);
	if (code == CURLE_OK || (code == CURLE_WRITE_ERROR && x->began)) {
		curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &x->status);
		if (!x->began)
			begin_body(x);
	}
	if (r->verbose && x->status)
		fprintf(stderr, "< %ld %s\n", x->status, x->etag);
	if (code == CURLE_OK)
		return 0;
	if (code == CURLE_ABORTED_BY_CALLBACK && remote_signal)
		return 128 + remote_signal;
	if (x->write_errno) {
		fail("EXPORT_IO_ERROR", "%s: writing the download: %s", r->what,
		     strerror(x->write_errno));
		return EXIT_RUNTIME;
	}
	return transport_error(r, code, errbuf);
}

/* A request whose answer is JSON: *doc on 2xx, else the error said and
 * its exit status returned. */
static int call(remote *r, const char *method, const char *path, json_t *body,
                json_t **doc)
{
	reply x;
	int rc;

	reply_init(&x, r);
	if (doc)
		*doc = NULL;
	rc = send_request(r, method, path, body, NULL, &x);
	if (rc == 0 && (x.status < 200 || x.status > 299))
		rc = http_error(r, &x);
	if (rc == 0 && doc && x.len) {
		*doc = json_loadb(x.body, x.len, 0, NULL);
		if (!*doc) {
			fail("HTTP_ERROR", "%s: %s answered no JSON", r->what,
			     r->base);
			rc = EXIT_RUNTIME;
		}
	}
	reply_free(&x);
	return rc;
}

/* --------------------------------------------------------- credentials */

/* A secret from a file that only its owner may read (0600, 0400). */
static int read_secret_file(const char *path, const char *opt, char *buf,
                            size_t cap)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0) {
		fail(PKX_EINVAL, "%s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077)) {
		fail(PKX_EINVAL,
		     "%s %s: others may read it (mode %04o): chmod 600 %s, "
		     "or give the secret another way",
		     opt, path, (unsigned)(st.st_mode & 07777), path);
		close(fd);
		return -1;
	}
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0) {
		fail(PKX_EINVAL, "%s %s: %s", opt, path, strerror(errno));
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0'; /* its first line */
	return 0;
}

/* The password typed on the terminal, not echoed. */
static int prompt_password(const remote *r, char *buf, size_t cap)
{
	struct termios old, quiet;
	int fd = open("/dev/tty", O_RDWR | O_CLOEXEC), ok;
	char prompt[400];
	ssize_t n;

	if (fd < 0) {
		fail(PKX_EINVAL,
		     "%s: no password for %s: set PKTEXPORT_PASSWORD, give "
		     "--password-file FILE, or run on a terminal",
		     r->what, r->user);
		return -1;
	}
	snprintf(prompt, sizeof(prompt), "Password for %s at %s: ", r->user,
	         r->base);
	/* Echo off (dropping what was typed before the question) and only
	 * then the question: an answer typed once it shows is kept. */
	ok = tcgetattr(fd, &old) == 0;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	if (ok)
		ok = tcsetattr(fd, TCSAFLUSH, &quiet) == 0;
	if (ok && write(fd, prompt, strlen(prompt)) <= 0) {
		tcsetattr(fd, TCSAFLUSH, &old);
		ok = 0;
	}
	n = ok ? read(fd, buf, cap - 1) : -1;
	if (ok) {
		tcsetattr(fd, TCSAFLUSH, &old);
		if (write(fd, "\n", 1) < 0) {
			/* the line is cosmetic */
		}
	}
	close(fd);
	if (n < 0) {
		fail(PKX_EINVAL, "%s: no password read from the terminal",
		     r->what);
		return -1;
	}
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

static int get_password(const remote *r, char *buf, size_t cap)
{
	const char *env = getenv("PKTEXPORT_PASSWORD");

	if (r->password_file)
		return read_secret_file(r->password_file, "--password-file",
		                        buf, cap);
	if (env) {
		snprintf(buf, cap, "%s", env);
		return 0;
	}
	return prompt_password(r, buf, cap);
}

/* A bearer token given (PKTEXPORT_TOKEN, --token-file), else a login as
 * --user with the mgmt.aaa token request (doc/api.md, Access control). */
static int authenticate(remote *r)
{
	char secret[1024];
	const char *env = getenv("PKTEXPORT_TOKEN");
	json_t *body, *doc = NULL;
	const char *token;
	reply x;
	int rc;

	if (r->token_file || (env && *env)) {
		if (r->token_file &&
		    read_secret_file(r->token_file, "--token-file", secret,
		                     sizeof(secret)) != 0)
			return EXIT_REJECTED;
		r->token = strdup(r->token_file ? secret : env);
		explicit_bzero(secret, sizeof(secret));
		return 0;
	}
	if (!r->user)
		return 0;
	if (get_password(r, secret, sizeof(secret)) != 0)
		return EXIT_REJECTED;
	body = json_pack("{s:{s:s, s:s}}", "user_credentials", "username",
	                 r->user, "password", secret);
	explicit_bzero(secret, sizeof(secret));
	reply_init(&x, r);
	rc = send_request(r, "POST", "/api/mgmt.aaa/2.0/token", body, NULL, &x);
	json_decref(body);
	if (rc == 0 && x.status == 404) {
		/* No --users on the server: no access control to pass. */
		if (r->verbose)
			fprintf(stderr,
			        "pktexport: %s has no users: "
			        "--user is not needed\n",
			        r->base);
	} else if (rc == 0 && x.status / 100 != 2) {
		char what[sizeof(r->what)];

		memcpy(what, r->what, sizeof(what));
		snprintf(r->what, sizeof(r->what),
		         "%.100s: logging in as %.100s", what, r->user);
		rc = http_error(r, &x);
		memcpy(r->what, what, sizeof(what));
	} else if (rc == 0) {
		doc = json_loadb(x.body ? x.body : "", x.len, 0, NULL);
		token = json_string_value(json_object_get(doc, "access_token"));
		if (!token) {
			fail("HTTP_ERROR", "%s: %s gave no access token",
			     r->what, r->base);
			rc = EXIT_AUTH;
		} else {
			r->token = strdup(token);
		}
		json_decref(doc);
	}
	reply_free(&x);
	return rc;
}

/* --------------------------------------------------------------- exports */

static const char *state_of(json_t *e)
{
	const char *s = json_string_value(
	    json_object_get(json_object_get(e, "status"), "state"));

	return s ? s : "?";
}

static json_int_t stat_of(json_t *e, const char *key)
{
	return json_integer_value(json_object_get(
	    json_object_get(json_object_get(e, "status"), "stats"), key));
}

static void print_json_to(FILE *out, json_t *doc)
{
	char *s = json_dumps(doc, JSON_INDENT(2));

	fprintf(out, "%s\n", s ? s : "null");
	free(s);
}

static void print_json(json_t *doc)
{
	print_json_to(stdout, doc);
}

/* An id in a path: escaped, so that whatever was typed stays one
 * segment (and the server's 404 names it). */
static char *item_path(const remote *r, const char *kind, const char *id)
{
	char *esc = curl_easy_escape(r->curl, id, 0);
	size_t n = strlen(API) + strlen(kind) + strlen(esc) + 16;
	char *path = malloc(n);

	snprintf(path, n, API "/%s/items/%s", kind, esc);
	curl_free(esc);
	return path;
}

/* GET or DELETE of one export. */
static int export_call(remote *r, const char *method, const char *id,
                       json_t **doc)
{
	char *path = item_path(r, "exports", id);
	int rc = call(r, method, path, NULL, doc);

	free(path);
	return rc;
}

/* An API time ("S.NNNNNNNNN") as ISO 8601, in UTC. */
static const char *iso_time(json_t *t, char *buf, size_t len)
{
	pkx_error ignored;
	uint64_t ns;

	if (pkx_time_from_json(t, "time", &ns, &ignored) != PKX_OK)
		return "?";
	pkx_time_format_iso(ns, buf, len);
	return buf;
}

static void show_human(json_t *e)
{
	json_t *cfg = json_object_get(e, "config");
	json_t *status = json_object_get(e, "status");
	json_t *error = json_object_get(status, "error");
	char bytes[32], created[48];

	cli_human_bytes((uint64_t)stat_of(e, "exported_bytes"), bytes,
	                sizeof(bytes));
	printf("id        %s\n", json_string_value(json_object_get(e, "id")));
	printf("state     %s\n", state_of(e));
	printf("path      %s\n",
	       json_string_value(json_object_get(cfg, "path")));
	printf("mode      %s\n",
	       json_string_value(json_object_get(cfg, "mode")));
	printf("format    %s\n",
	       json_string_value(json_object_get(cfg, "output_format")));
	printf("progress  %.1f%%\n",
	       json_number_value(json_object_get(status, "progress")));
	printf("packets   %lld written of %lld read (%s)\n",
	       (long long)stat_of(e, "exported_packets"),
	       (long long)stat_of(e, "processed_packets"), bytes);
	printf("created   %s\n",
	       iso_time(json_object_get(status, "creation_time"), created,
	                sizeof(created)));
	printf("owner     %s\n",
	       json_string_value(json_object_get(status, "owner")));
	if (json_string_value(json_object_get(error, "error_id")))
		printf("error     %s: %s\n",
		       json_string_value(json_object_get(error, "error_id")),
		       json_string_value(json_object_get(error, "error_text")));
}

/* A subcommand's own options: --json, -q, -w FILE, --limit-rate. */
typedef struct sub_opts {
	int json, quiet;
	const char *output, *path;
	long long limit_rate;
} sub_opts;

/* "show" becomes "show ID" for messages. */
static void name_target(remote *r, const char *word)
{
	size_t n = strlen(r->what);

	snprintf(r->what + n, sizeof(r->what) - n, " %s", word);
}

static int parse_sub(remote *r, int argc, char **argv, const char *letters,
                     const char *usage_line, sub_opts *o, int want_words)
{
	static const struct option opts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"quiet", no_argument, NULL, 'q'},
	    {"write", required_argument, NULL, 'w'},
	    {"output", required_argument, NULL, 'o'},
	    {"path", required_argument, NULL, 'p'},
	    {"limit-rate", required_argument, NULL, 'L'},
	    {"json-errors", no_argument, NULL, 'J'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	optind = 0; /* glibc: start again */
	while ((c = getopt_long(argc, argv, "qw:o:", opts, NULL)) != -1) {
		if (c == 'J') {
			cli_set_json_errors(1);
			continue;
		}
		if (c == '?' || !strchr(letters, c == 'o' ? 'w' : c))
			goto bad;
		if (c == 'j')
			o->json = 1;
		else if (c == 'q')
			o->quiet = 1;
		else if (c == 'w' || c == 'o')
			o->output = optarg;
		else if (c == 'p')
			o->path = optarg;
		else if (c == 'L') {
			uint64_t rate;

			/* As curl's --limit-rate: k and M are powers of 1024.
			 */
			if (size_arg(optarg, LLONG_MAX, &rate) != 0 ||
			    rate == 0) {
				fail(PKX_EINVAL,
				     "--limit-rate %s is not a rate in bytes "
				     "a second (200k, 5M)",
				     optarg);
				return -1;
			}
			o->limit_rate = (long long)rate;
		}
	}
	if (argc - optind == want_words) {
		if (want_words)
			name_target(r, argv[optind]);
		return optind;
	}
bad:
	fail(PKX_EINVAL, "usage: pktexport --server URL %s", usage_line);
	return -1;
}

static int cmd_list(remote *r, int argc, char **argv)
{
	sub_opts o;
	json_t *doc, *e;
	char path[4096];
	size_t i;
	int rc;

	if (parse_sub(r, argc, argv, "jp", "list [--json] [--path PATH]", &o,
	              0) < 0)
		return EXIT_REJECTED;
	if (o.path) {
		char *esc = curl_easy_escape(r->curl, o.path, 0);

		snprintf(path, sizeof(path), API "/exports?path=%s", esc);
		curl_free(esc);
	} else {
		snprintf(path, sizeof(path), API "/exports");
	}
	if ((rc = call(r, "GET", path, NULL, &doc)) != 0)
		return rc;
	if (o.json) {
		print_json(doc);
	} else {
		json_array_foreach(json_object_get(doc, "items"), i, e)
		{
			printf("%s %-13s %5.1f%% %s\n",
			       json_string_value(json_object_get(e, "id")),
			       state_of(e),
			       json_number_value(json_object_get(
			           json_object_get(e, "status"), "progress")),
			       json_string_value(json_object_get(
			           json_object_get(e, "config"), "path")));
		}
	}
	json_decref(doc);
	return 0;
}

static int cmd_show(remote *r, int argc, char **argv)
{
	sub_opts o;
	json_t *doc;
	int rc, at;

	if ((at = parse_sub(r, argc, argv, "j", "show [--json] ID", &o, 1)) < 0)
		return EXIT_REJECTED;
	if ((rc = export_call(r, "GET", argv[at], &doc)) != 0)
		return rc;
	if (o.json)
		print_json(doc);
	else
		show_human(doc);
	json_decref(doc);
	return 0;
}

static int cmd_delete(remote *r, int argc, char **argv)
{
	sub_opts o;
	int at = parse_sub(r, argc, argv, "", "delete ID", &o, 1);

	return at < 0 ? EXIT_REJECTED
	              : export_call(r, "DELETE", argv[at], NULL);
}

/* An export's status.error: its object (NULL without one), id and text
 * (NULL when absent). */
static json_t *error_of(json_t *e, const char **eid, const char **text)
{
	json_t *err = json_object_get(json_object_get(e, "status"), "error");

	*eid = json_string_value(json_object_get(err, "error_id"));
	*text = json_string_value(json_object_get(err, "error_text"));
	return err;
}

/* Notes an export's error when its state is not ERRORS (a damaged
 * source: the packets before the damage were exported). */
static void note_partial(remote *r, const char *id, json_t *e)
{
	const char *eid, *text;
	json_t *err = error_of(e, &eid, &text);

	if (!err || strcmp(state_of(e), "ERRORS") == 0 || (!eid && !text))
		return;
	snprintf(r->partial_id, sizeof(r->partial_id), "%s",
	         eid ? eid : "EXPORT_FAILED");
	snprintf(r->partial, sizeof(r->partial),
	         "%s: export %s holds what came before an error: %s (%s)",
	         r->what, id, text ? text : "no reason given", r->partial_id);
}

/* After the packets are out: an export with such an error fails the
 * command (1), as a local export of a damaged input does. */
static int said_partial(remote *r, int rc)
{
	if (rc != 0 || !r->partial[0])
		return rc;
	cli_say_error(r->partial_id, r->partial);
	return EXIT_RUNTIME;
}

/* Follows an export until nothing more happens without a download:
 * READY, DONE, NODATA or ERRORS.  0, or 1 for ERRORS (said). */
static int watch(remote *r, const char *id, int quiet)
{
	int tty = !quiet && isatty(STDERR_FILENO), shown = 0, rc;
	struct timespec pause = {0, 100000000};
	const char *state = "";
	json_t *e = NULL;

	for (;;) {
		if ((rc = export_call(r, "GET", id, &e)) != 0)
			break;
		state = state_of(e);
		if (strcmp(state, "INITIALIZING") != 0 &&
		    strcmp(state, "RUNNING") != 0 &&
		    strcmp(state, "STREAMING") != 0)
			break;
		if (tty) {
			char bytes[32];

			cli_human_bytes((uint64_t)stat_of(e, "exported_bytes"),
			                bytes, sizeof(bytes));
			fprintf(stderr,
			        "\r\033[K%s %5.1f%%, %lld packets read, %lld "
			        "written (%s)",
			        state,
			        json_number_value(json_object_get(
			            json_object_get(e, "status"), "progress")),
			        (long long)stat_of(e, "processed_packets"),
			        (long long)stat_of(e, "exported_packets"),
			        bytes);
			shown = 1;
		}
		json_decref(e);
		nanosleep(&pause, NULL);
		if (pause.tv_nsec < 500000000)
			pause.tv_nsec += 100000000;
	}
	if (shown)
		fprintf(stderr, "\r\033[K");
	if (rc != 0)
		return rc;
	if (strcmp(state, "ERRORS") == 0) {
		const char *eid, *text;

		error_of(e, &eid, &text);
		if (cli_json_errors())
			cli_say_error(eid ? eid : "EXPORT_FAILED",
			              text ? text : "the export failed");
		else
			fail(eid ? eid : "EXPORT_FAILED",
			     "%s: export %s failed: %s (%s)", r->what, id,
			     text ? text : "no reason given",
			     eid ? eid : "ERRORS");
		rc = EXIT_RUNTIME;
	} else {
		note_partial(r, id, e);
	}
	if (rc == 0 && !quiet) {
		char bytes[32];

		cli_human_bytes((uint64_t)stat_of(e, "exported_bytes"), bytes,
		                sizeof(bytes));
		fprintf(stderr, "export %s %s: %lld of %lld packets (%s)\n", id,
		        state, (long long)stat_of(e, "exported_packets"),
		        (long long)stat_of(e, "processed_packets"), bytes);
	}
	json_decref(e);
	return rc;
}

static int cmd_watch(remote *r, int argc, char **argv)
{
	sub_opts o;
	int at;

	if ((at = parse_sub(r, argc, argv, "q", "watch [-q] ID", &o, 1)) < 0)
		return EXIT_REJECTED;
	return said_partial(r, watch(r, argv[at], o.quiet));
}

/* ------------------------------------------------------------- download */

/* -w's target opened before anything is asked of the server: *fd the
 * stream to write into (standard output, a descriptor, a FIFO, a device),
 * or -1 for a file, downloaded into FILE.part.  -1 when refused (said). */
static int open_output(remote *r, const char *output, int *fd)
{
	pkx_error err = {"", ""};

	if (cli_output_stream(output, fd, &err) < 0) {
		fail(err.id, "%s: %s", r->what, err.text);
		return -1;
	}
	return 0;
}

/* Whether descriptor fd writes where standard output does. */
static int is_stdout(int fd)
{
	struct stat a, b;

	return fd == STDOUT_FILENO ||
	       (fd >= 0 && fstat(fd, &a) == 0 &&
	        fstat(STDOUT_FILENO, &b) == 0 && a.st_dev == b.st_dev &&
	        a.st_ino == b.st_ino);
}

static void close_output(int fd)
{
	if (fd > STDERR_FILENO)
		close(fd);
}

/* The export's capture into `stream` (from open_output, closed here) or,
 * when it is -1, into the file `output`: downloaded into FILE.part, its
 * ETag in FILE.part.etag; a .part there already is continued with Range
 * and If-Range, so the server sends the rest of the same bytes or, when
 * its tag differs (another export, another spool), the whole from the
 * start.  Renamed to FILE once whole; a cut download leaves the .part for
 * the next run. */
static int download(remote *r, const char *id, const char *output, int stream,
                    int quiet, long long limit_rate)
{
	char *path = item_path(r, "packets", id), *part = NULL, *tagfile = NULL,
	     range[64], ifrange[200], tag[160] = "";
	struct curl_slist *h = NULL;
	struct stat st;
	reply x;
	int rc, fd = -1, asked_range = 0;
	uint64_t started = pkx_now_ns();
	FILE *f;

	reply_init(&x, r);
	x.progress = !quiet && isatty(STDERR_FILENO);
	/* Standard output, a descriptor, a FIFO or a device is written
	 * straight into (nothing to resume there); a file is downloaded
	 * into FILE.part. */
	if (stream >= 0) {
		x.fd = stream;
		if (stream > STDERR_FILENO)
			fd = stream; /* ours to close */
	} else {
		if (asprintf(&part, "%s.part", output) < 0 ||
		    asprintf(&tagfile, "%s.part.etag", output) < 0)
			abort();
		x.etag_file = tagfile;
		x.fd = fd = open(
		    part, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
		if (fd < 0) {
			fail("EXPORT_IO_ERROR", "%s: cannot open %s: %s",
			     r->what, part, strerror(errno));
			rc = EXIT_RUNTIME;
			goto done;
		}
		if ((f = fopen(tagfile, "r"))) {
			if (!fgets(tag, sizeof(tag), f))
				tag[0] = '\0';
			tag[strcspn(tag, "\r\n")] = '\0';
			fclose(f);
		}
		if (fstat(x.fd, &st) == 0 && st.st_size > 0 && tag[0]) {
			x.resume_at = (uint64_t)st.st_size;
			lseek(x.fd, 0, SEEK_END);
			snprintf(range, sizeof(range), "Range: bytes=%llu-",
			         (unsigned long long)x.resume_at);
			snprintf(ifrange, sizeof(ifrange), "If-Range: %s", tag);
			h = curl_slist_append(h, range);
			h = curl_slist_append(h, ifrange);
			asked_range = 1;
		} else if (ftruncate(x.fd, 0) != 0) {
			fail("EXPORT_IO_ERROR", "%s: %s: %s", r->what, part,
			     strerror(errno));
			rc = EXIT_RUNTIME;
			goto done;
		}
	}
	r->limit_rate = limit_rate;
	rc = send_request(r, "GET", path, NULL, h, &x);
	r->limit_rate = 0;
	if (rc == 0 && x.status != 200 && x.status != 206) {
		if (x.status == 416 && x.resume_at) {
			/* The .part is longer than the export: start again. */
			unlink(tagfile);
			reply_free(&x);
			close(fd);
			unlink(part);
			rc = download(r, id, output, -1, quiet, limit_rate);
			free(part);
			free(tagfile);
			free(path);
			curl_slist_free_all(h);
			return rc;
		}
		rc = http_error(r, &x);
	}
	if (rc == 0 && !quiet && x.resume_at)
		fprintf(stderr, "pktexport: resumed %s at byte %llu\n", part,
		        (unsigned long long)x.resume_at);
	else if (rc == 0 && !quiet && asked_range)
		fprintf(stderr,
		        "pktexport: %s is of another download (its tag "
		        "differs): started again\n",
		        part);
	if (rc == 0 && part && fsync(fd) != 0) {
		fail("EXPORT_IO_ERROR", "%s: %s: %s", r->what, part,
		     strerror(errno));
		rc = EXIT_RUNTIME;
	}
	if (fd >= 0 && close(fd) != 0 && rc == 0) {
		fail("EXPORT_IO_ERROR", "%s: %s: %s", r->what,
		     part ? part : output, strerror(errno));
		rc = EXIT_RUNTIME;
	}
	fd = -1;
	if (rc == 0 && part) {
		if (rename(part, output) != 0) {
			fail("EXPORT_IO_ERROR",
			     "%s: cannot rename %s to %s: %s", r->what, part,
			     output, strerror(errno));
			rc = EXIT_RUNTIME;
		} else {
			unlink(tagfile);
		}
	} else if (rc != 0 && part) {
		struct stat pst;

		if (stat(part, &pst) == 0 && pst.st_size == 0) {
			unlink(part); /* nothing to resume */
			unlink(tagfile);
		} else if (rc != EXIT_NOT_FOUND && rc != EXIT_AUTH) {
			fprintf(stderr,
			        "pktexport: %s kept (%lld bytes): the same "
			        "command resumes the download\n",
			        part, (long long)pst.st_size);
		}
	}
	if (rc == 0 && !quiet) {
		char bytes[32];

		cli_human_bytes(x.resume_at + x.written, bytes, sizeof(bytes));
		fprintf(stderr, "%s downloaded to %s in %.2f s\n", bytes,
		        x.fd == STDOUT_FILENO ? "standard output" : output,
		        (double)(pkx_now_ns() - started) / 1e9);
	}
done:
	if (fd >= 0)
		close(fd);
	curl_slist_free_all(h);
	reply_free(&x);
	free(part);
	free(tagfile);
	free(path);
	return rc;
}

/* -w NAME.gz and the like: refused before anything is asked of the
 * server, as a local export refuses them. */
static int refuse_compressed(remote *r, const char *output)
{
	pkx_error err = {"", ""};

	if (!cli_compressed_output(output, &err))
		return 0;
	fail(err.id, "%s: %s", r->what, err.text);
	return 1;
}

static int cmd_download(remote *r, int argc, char **argv)
{
	sub_opts o;
	json_t *e;
	const char *state;
	int at, rc, busy, out;

	if ((at = parse_sub(r, argc, argv, "qwL",
	                    "download [-q] [--limit-rate BYTES] "
	                    "[-w FILE|-] ID",
	                    &o, 1)) < 0)
		return EXIT_REJECTED;
	if (refuse_compressed(r, o.output) || open_output(r, o.output, &out))
		return EXIT_REJECTED;
	/* An export still being made is waited for, quietly. */
	if ((rc = export_call(r, "GET", argv[at], &e)) != 0) {
		close_output(out);
		return rc;
	}
	state = state_of(e);
	busy =
	    strcmp(state, "INITIALIZING") == 0 || strcmp(state, "RUNNING") == 0;
	if (!busy)
		note_partial(r, argv[at], e);
	json_decref(e);
	if (busy && (rc = watch(r, argv[at], 1)) != 0) {
		close_output(out);
		return rc;
	}
	return said_partial(
	    r, download(r, argv[at], o.output, out, o.quiet, o.limit_rate));
}

static int cmd_create(remote *r, int argc, char **argv)
{
	cli_export_request q;
	pkx_error err = {"", ""};
	json_t *body, *doc = NULL;
	const char *id;
	int rc = EXIT_REJECTED, out = -1;
	FILE *said;

	if (cli_export_request_parse(argc, argv, &q, &err) != 0) {
		cli_say_error(err.id, err.text);
		goto done;
	}
	name_target(r, json_string_value(json_object_get(q.config, "path")));
	if (refuse_compressed(r, q.output))
		goto done;
	if (q.output && !q.download) {
		fail(PKX_EINVAL,
		     "%s: -w goes with --download (or: pktexport "
		     "--server URL download ID -w FILE)",
		     r->what);
		goto done;
	}
	/* Where the capture goes is checked before the export is made. */
	if (q.download && open_output(r, q.output, &out) != 0)
		goto done;
	/* Made at once, then downloaded from its spool: it can be
	 * followed, and a cut download resumed. */
	if (!q.mode_given)
		json_object_set_new(q.config, "mode", json_string("PREPARE"));
	body = json_pack("{s:O}", "config", q.config);
	r->request = &q;
	rc = call(r, "POST", API "/exports", body, &doc);
	r->request = NULL;
	json_decref(body);
	if (rc != 0)
		goto done;
	if (!(id = json_string_value(json_object_get(doc, "id")))) {
		fail("HTTP_ERROR", "%s: %s answered no export id", r->what,
		     r->base);
		rc = EXIT_RUNTIME;
		goto done;
	}
	/* The id on standard output, unless the capture goes there. */
	said = q.download && is_stdout(out) ? stderr : stdout;
	if (q.json)
		print_json_to(said, doc);
	else
		fprintf(said, "%s\n", id);
	fflush(said);
	if (q.download) {
		rc = watch(r, id, q.quiet);
		if (rc == 0) {
			rc = said_partial(
			    r, download(r, id, q.output, out, q.quiet, 0));
			out = -1; /* closed by download */
		}
	}
done:
	close_output(out);
	json_decref(doc);
	cli_export_request_free(&q);
	return rc;
}

/* ------------------------------------------------------------- the front */

static void remote_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pktexport --server URL [options] create [export options] "
	    "PATH [BPF]\n"
	    "       pktexport --server URL [options] list [--json] [--path "
	    "PATH]\n"
	    "       pktexport --server URL [options] show [--json] ID\n"
	    "       pktexport --server URL [options] watch [-q] ID\n"
	    "       pktexport --server URL [options] download [-q] "
	    "[--limit-rate BYTES] [-w FILE|-] ID\n"
	    "       pktexport --server URL [options] delete ID\n"
	    "\n"
	    "  --server URL           pktexportd: http://HOST:PORT or "
	    "https://HOST:PORT\n"
	    "                         (also PKTEXPORT_SERVER)\n"
	    "  --user NAME            log in as NAME; the password from "
	    "--password-file,\n"
	    "                         PKTEXPORT_PASSWORD, or the terminal\n"
	    "  --password-file FILE   the password (first line; mode 0600 "
	    "or stricter)\n"
	    "  --token-file FILE      a bearer token (mode 0600 or "
	    "stricter); also\n"
	    "                         PKTEXPORT_TOKEN\n"
	    "  --cacert FILE          trust the CA certificates in FILE for "
	    "HTTPS\n"
	    "  --json-errors          errors as the API's JSON (also "
	    "PKTEXPORT_JSON_ERRORS=1)\n"
	    "  -v, --verbose          the requests and answers on standard "
	    "error\n"
	    "\n"
	    "create takes the options of a local export (-f, -Y, --start, "
	    "--end,\n--duration, --interval, -c, -s, -F, --size-limit, "
	    "--time-limit, --config,\n--follow); PATH is the source on the "
	    "server (fs/trace.pcap).  It prints the\nexport's id (--json: "
	    "the export); --download [-w FILE] also waits for it and\n"
	    "downloads it.  Exports are PREPARE unless the config says "
	    "otherwise.\n"
	    "\n"
	    "Exit status: 0 done, 1 failed, 2 refused, 3 server not reached, "
	    "4 TLS failed,\n5 not authorised (401, 403), 6 no such export "
	    "(404), 7 the export's state\ndoes not allow it (409).\n");
}

static const char *const remote_commands[] = {
    "create", "list", "show", "watch", "download", "delete", NULL};

/* The client's options that take a value (no local export has them). */
static const char *const client_options[] = {
    "--server", "--user", "--cacert", "--password-file", "--token-file",
};
#define N_CLIENT_OPTIONS (sizeof(client_options) / sizeof(*client_options))

static int flag_option(const char *arg)
{
	return strcmp(arg, "--json-errors") == 0 || strcmp(arg, "-v") == 0 ||
	       strcmp(arg, "--verbose") == 0;
}

/* A client's command line: a client option first (after --json-errors
 * or -v), or a subcommand of the client (PKTEXPORT_SERVER names the
 * server). */
int cli_is_remote(int argc, char **argv)
{
	const char *const *c;
	size_t k, n;
	int i;

	for (i = 1; i < argc; i++) {
		for (k = 0; k < N_CLIENT_OPTIONS; k++) {
			n = strlen(client_options[k]);
			if (strncmp(argv[i], client_options[k], n) == 0 &&
			    (argv[i][n] == '\0' || argv[i][n] == '='))
				return 1;
		}
		for (c = remote_commands; *c; c++)
			if (strcmp(argv[i], *c) == 0)
				return 1;
		if (!flag_option(argv[i]))
			return 0;
	}
	return 0;
}

/* The options before the subcommand: "--name VALUE" or "--name=VALUE". */
static int global_option(int argc, char **argv, int *i, const char *name,
                         const char **value)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return 0;
	if (argv[*i][n] == '=') {
		*value = argv[*i] + n + 1;
		return 1;
	}
	if (argv[*i][n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		fail(PKX_EINVAL, "%s needs a value", name);
		return -1;
	}
	*value = argv[++*i];
	return 1;
}

int cli_remote_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(remote *, int, char **);
	} subs[] = {
	    {"create", cmd_create},     {"list", cmd_list},
	    {"show", cmd_show},         {"watch", cmd_watch},
	    {"download", cmd_download}, {"delete", cmd_delete},
	};
	remote r;
	const char *server = getenv("PKTEXPORT_SERVER"), *v;
	int i, k, got, rc = EXIT_REJECTED;
	size_t s, n;
	struct sigaction sa;

	memset(&r, 0, sizeof(r));
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		/* in the order of client_options */
		const char **to[N_CLIENT_OPTIONS] = {
		    &server, &r.user, &r.cacert, &r.password_file,
		    &r.token_file};

		if (strcmp(argv[i], "--json-errors") == 0) {
			cli_set_json_errors(1);
			continue;
		}
		if (strcmp(argv[i], "-v") == 0 ||
		    strcmp(argv[i], "--verbose") == 0) {
			r.verbose = 1;
			continue;
		}
		if (strcmp(argv[i], "-h") == 0 ||
		    strcmp(argv[i], "--help") == 0) {
			remote_usage(stdout);
			return 0;
		}
		for (k = 0, got = 0; !got && k < (int)N_CLIENT_OPTIONS; k++) {
			got = global_option(argc, argv, &i, client_options[k],
			                    &v);
			if (got > 0)
				*to[k] = v;
		}
		if (got < 0)
			return EXIT_REJECTED;
		if (!got) {
			fail(PKX_EINVAL,
			     "%s: not an option of pktexport --server (the "
			     "export's options follow create)",
			     argv[i]);
			return EXIT_REJECTED;
		}
	}
	if (!server || !*server) {
		fail(PKX_EINVAL, "no server: give --server URL (or set "
		                 "PKTEXPORT_SERVER)");
		return EXIT_REJECTED;
	}
	if (i >= argc) {
		remote_usage(stderr);
		return EXIT_REJECTED;
	}
	for (s = 0; s < sizeof(subs) / sizeof(*subs); s++)
		if (strcmp(argv[i], subs[s].name) == 0)
			break;
	if (s == sizeof(subs) / sizeof(*subs)) {
		fail(PKX_EINVAL,
		     "%s: no such command (create, list, show, watch, "
		     "download, delete)",
		     argv[i]);
		return EXIT_REJECTED;
	}
	if (strncasecmp(server, "http://", 7) != 0 &&
	    strncasecmp(server, "https://", 8) != 0) {
		fail(PKX_EINVAL,
		     "--server %s: give the service's URL, http://HOST:PORT "
		     "or https://HOST:PORT",
		     server);
		return EXIT_REJECTED;
	}
	/* What was typed, for messages: "show 1234" once the id is read. */
	snprintf(r.what, sizeof(r.what), "%s", argv[i]);
	r.base = strdup(server);
	for (n = strlen(r.base); n > 0 && r.base[n - 1] == '/'; n--)
		r.base[n - 1] = '\0';
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_remote_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    !(r.curl = curl_easy_init())) {
		fail(PKX_EINTERNAL, "libcurl could not start");
		free(r.base);
		return EXIT_RUNTIME;
	}
	/* create reads its options itself, after its own name; the login
	 * comes with the first request. */
	rc = subs[s].run(&r, argc - i, argv + i);
	if (r.token) {
		explicit_bzero(r.token, strlen(r.token));
		free(r.token);
	}
	curl_easy_cleanup(r.curl);
	curl_global_cleanup();
	free(r.base);
	return rc;
}
