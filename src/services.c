/* Errors, logging, clocks and the service table lent to plugins. */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pkx.h"

static int pkx_log_level = PKX_LOG_WARN;

void pkx_log_set_level(int level)
{
	pkx_log_level = level;
}

static const char *pkx_log_name = "pktexport";

void pkx_log_set_name(const char *name)
{
	pkx_log_name = name;
}

static int pkx_log_style;

void pkx_log_set_style(int style)
{
	pkx_log_style = style;
}

/* The line as it goes out: control characters, DEL and the Unicode
 * direction controls are escaped (\xNN, \u{NNNN}), so that nothing a
 * client sends (a name, a filter, a path) can start a line of its own,
 * move the cursor or reorder what a terminal shows. */
static void pkx_log_escape(const char *in, char *out, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t n = 0;

	while (*p && n + 10 < len) {
		unsigned cp = 0;

		if (p[0] == 0xe2 && p[1] == 0x80 &&
		    ((p[2] >= 0x8e && p[2] <= 0x8f) ||
		     (p[2] >= 0xaa && p[2] <= 0xae)))
			cp = 0x2000u + ((p[2] - 0x80u) & 0x3fu);
		else if (p[0] == 0xe2 && p[1] == 0x81 && p[2] >= 0xa6 &&
		         p[2] <= 0xa9)
			cp = 0x2040u + ((p[2] - 0x80u) & 0x3fu);
		if (cp) {
			n +=
			    (size_t)snprintf(out + n, len - n, "\\u{%04x}", cp);
			p += 3;
		} else if (*p < 0x20 || *p == 0x7f) {
			n += (size_t)snprintf(out + n, len - n, "\\x%02x", *p);
			p++;
		} else {
			out[n++] = (char)*p++;
		}
	}
	out[n] = '\0';
}

static pthread_mutex_t pkx_log_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned pkx_log_rate, pkx_log_burst;
static double pkx_log_tokens;
static struct timespec pkx_log_refilled;
static unsigned long pkx_log_dropped;

void pkx_log_set_rate(unsigned per_second, unsigned burst)
{
	pthread_mutex_lock(&pkx_log_lock);
	pkx_log_rate = per_second;
	pkx_log_burst = burst ? burst : per_second;
	pkx_log_tokens = pkx_log_burst;
	clock_gettime(CLOCK_MONOTONIC, &pkx_log_refilled);
	pthread_mutex_unlock(&pkx_log_lock);
}

/* Whether a line may go out now; *dropped: lines held back before it. */
static int pkx_log_admit(unsigned long *dropped)
{
	struct timespec now;
	int ok;

	*dropped = 0;
	pthread_mutex_lock(&pkx_log_lock);
	if (!pkx_log_rate) {
		pthread_mutex_unlock(&pkx_log_lock);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	pkx_log_tokens +=
	    ((double)(now.tv_sec - pkx_log_refilled.tv_sec) +
	     (double)(now.tv_nsec - pkx_log_refilled.tv_nsec) / 1e9) *
	    pkx_log_rate;
	if (pkx_log_tokens > pkx_log_burst)
		pkx_log_tokens = pkx_log_burst;
	pkx_log_refilled = now;
	ok = pkx_log_tokens >= 1.0;
	if (ok) {
		pkx_log_tokens -= 1.0;
		*dropped = pkx_log_dropped;
		pkx_log_dropped = 0;
	} else {
		pkx_log_dropped++;
	}
	pthread_mutex_unlock(&pkx_log_lock);
	return ok;
}

static void pkx_vlog(int level, const char *who, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warning", "info",
	                                    "debug"};
	/* syslog priorities: err, warning, info, debug */
	static const int prio[] = {3, 4, 6, 7};
	char raw[1024], line[1536], stamp[40] = "", pri[8] = "";
	int l = level < 0 ? 0 : level > 3 ? 3 : level;
	unsigned long dropped;
	int n = 0;

	if (level > pkx_log_level || !pkx_log_admit(&dropped))
		return;
	if (dropped)
		n = snprintf(raw, sizeof(raw),
		             "(%lu lines not logged: too many) ", dropped);
	vsnprintf(raw + n, sizeof(raw) - (size_t)n, fmt, ap);
	pkx_log_escape(raw, line, sizeof(line));
	if (who && strcmp(who, pkx_log_name) == 0)
		who = NULL; /* the program's own: said once */
	if (pkx_log_style & PKX_LOG_PRIORITY)
		snprintf(pri, sizeof(pri), "<%d>", prio[l]);
	if (pkx_log_style & PKX_LOG_TIMESTAMP) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(stamp + strlen(stamp), sizeof(stamp) - strlen(stamp),
		         ".%03ldZ ", ts.tv_nsec / 1000000);
	}
	/* One fprintf per line so lines from threads do not interleave. */
	fprintf(stderr, "%s%s%s: %s: %s%s%s\n", pri, stamp, pkx_log_name,
	        names[l], who ? who : "", who ? ": " : "", line);
}

void pkx_log(int level, const char *who, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pkx_vlog(level, who, fmt, ap);
	va_end(ap);
}

static pkx_result pkx_vfail(pkx_error *err, const char *id, const char *fmt,
                            va_list ap)
{
	if (!err)
		return PKX_ERROR;
	snprintf(err->id, sizeof(err->id), "%s", id ? id : PKX_EINTERNAL);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	return PKX_ERROR;
}

pkx_result pkx_fail(pkx_error *err, const char *id, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pkx_vfail(err, id, fmt, ap);
	va_end(ap);
	return PKX_ERROR;
}

pkx_result pkx_fail_from(pkx_error *err, const pkx_error *why, const char *dflt,
                         const char *fmt, ...)
{
	static const char *const known[] = {
	    PKX_EINVAL,   PKX_ENOTFOUND, PKX_EINTERNAL, PKX_EIO,
	    PKX_EDAMAGED, PKX_EBUSY,     PKX_EGONE,     NULL};
	pkx_error from = *why; /* err may be why */
	char prefix[PKX_ERROR_TEXT_MAX] = "", odd[PKX_ERROR_ID_MAX + 2] = "";
	const char *id = from.id[0] ? from.id : dflt;
	size_t i;
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(prefix, sizeof(prefix), fmt, ap);
		va_end(ap);
	}
	/* A plugin picks the HTTP status through its id: only the ids a
	 * plugin may give pass (not AUTH_REQUIRED, not a typo). */
	for (i = 0; known[i] && strcmp(known[i], id) != 0; i++)
		;
	if (!known[i]) {
		snprintf(odd, sizeof(odd), "%.*s: ", PKX_ERROR_ID_MAX - 1, id);
		id = PKX_EINTERNAL;
	}
	return pkx_fail(err, id, "%s%s%s", prefix, odd,
	                from.text[0] ? from.text : "failed without a reason");
}

void pkx_error_clear(pkx_error *err)
{
	err->id[0] = '\0';
	err->text[0] = '\0';
}

uint64_t pkx_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t pkx_wallclock_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int (*input_opener)(const char *root, const char *rel, pkx_error *err);

void pkx_services_set_opener(int (*fn)(const char *root, const char *rel,
                                       pkx_error *err))
{
	input_opener = fn;
}

static int svc_open_under_root(const char *root, const char *rel,
                               pkx_error *err)
{
	int fd;

	if (input_opener && (fd = input_opener(root, rel, err)) != -2)
		return fd;
	return pkx_open_under(root, rel, err);
}

static const pkx_services core_services = {
    .size = sizeof(pkx_services),
    .log = pkx_log,
    .now_ns = pkx_now_ns,
    .fail = pkx_fail,
    .open_under_root = svc_open_under_root,
};

const pkx_services *pkx_core_services(void)
{
	return &core_services;
}
