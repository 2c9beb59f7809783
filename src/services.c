/* Errors, logging, clocks and the service table lent to plugins. */
#include "config.h"

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

static void pkx_vlog(int level, const char *who, const char *fmt, va_list ap)
{
	static const char *const names[] = {"error", "warning", "info",
	                                    "debug"};
	char line[1024];

	if (level > pkx_log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (who && strcmp(who, pkx_log_name) == 0)
		who = NULL; /* the program's own: said once */
	/* One fprintf per line so lines from threads do not interleave. */
	fprintf(stderr, "%s: %s: %s%s%s\n", pkx_log_name,
	        names[level < 0   ? 0
	              : level > 3 ? 3
	                          : level],
	        who ? who : "", who ? ": " : "", line);
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

static int svc_open_under_root(const char *root, const char *rel,
                               pkx_error *err)
{
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
