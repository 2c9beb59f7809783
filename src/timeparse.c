/* Times of the API: seconds since the epoch with up to nine fraction
 * digits, kept as 64-bit nanoseconds. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "pkx.h"

/* The largest whole second whose nanoseconds fit 64 bits. */
#define PKX_TIME_MAX_SEC (UINT64_MAX / 1000000000u)

pkx_result pkx_time_parse(const char *text, const char *field, uint64_t *ns,
                          pkx_error *err)
{
	const char *p = text;
	uint64_t sec = 0, frac = 0;
	int digits = 0, frac_digits = 0;

	if (!text)
		return pkx_fail(err, PKX_EINVAL, "%s is missing", field);
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		sec = sec * 10 + (uint64_t)(*p - '0');
		if (sec > PKX_TIME_MAX_SEC)
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" is out of range", field,
			                text);
	}
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, frac_digits++) {
			if (frac_digits == 9)
				return pkx_fail(err, PKX_EINVAL,
				                "%s \"%s\" has more than 9 "
				                "fraction digits",
				                field, text);
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (frac_digits == 0)
			digits = 0; /* "12." is not a time */
	}
	if (digits == 0 || *p != '\0')
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is not a time: expected seconds "
		                "since the epoch such as \"1700000000\" or "
		                "\"1700000000.123456789\"",
		                field, text);
	for (; frac_digits < 9; frac_digits++)
		frac *= 10;
	/* UINT64_MAX itself means "unbounded". */
	if (sec * 1000000000u > UINT64_MAX - 1 - frac)
		return pkx_fail(err, PKX_EINVAL, "%s \"%s\" is out of range",
		                field, text);
	*ns = sec * 1000000000u + frac;
	return PKX_OK;
}

pkx_result pkx_time_from_json(const json_t *value, const char *field,
                              uint64_t *ns, pkx_error *err)
{
	if (json_is_string(value))
		return pkx_time_parse(json_string_value(value), field, ns, err);
	if (json_is_integer(value)) {
		json_int_t v = json_integer_value(value);

		if (v < 0 || (uint64_t)v > PKX_TIME_MAX_SEC)
			return pkx_fail(err, PKX_EINVAL,
			                "%s %lld is out of range", field,
			                (long long)v);
		*ns = (uint64_t)v * 1000000000u;
		return PKX_OK;
	}
	if (json_is_real(value)) {
		double v = json_real_value(value), whole;
		double frac;
		char text[64];
		int d;

		if (!(v >= 0) || v >= (double)PKX_TIME_MAX_SEC)
			return pkx_fail(err, PKX_EINVAL,
			                "%s %.17g is out of range", field, v);
		/* The number as it was most likely written: the shortest
		 * decimal (9 places at most) that gives the same double.
		 * 1700000000.1 is 1700000000.099999904... as a double; read
		 * nearest, a packet at exactly .1 would fall the wrong side
		 * of the edge.  A double holds about 16 digits: at today's
		 * times microseconds, so nanoseconds come as strings. */
		for (d = 0; d <= 9; d++) {
			snprintf(text, sizeof(text), "%.*f", d, v);
			if (strtod(text, NULL) == v)
				return pkx_time_parse(text, field, ns, err);
		}
		/* Split first: v - floor(v) is exact, so only the fraction
		 * is rounded. */
		whole = floor(v);
		frac = v - whole;
		*ns = (uint64_t)whole * 1000000000u +
		      (uint64_t)llround(frac * 1e9);
		return PKX_OK;
	}
	return pkx_fail(err, PKX_EINVAL,
	                "%s must be a string of seconds since the epoch",
	                field);
}

void pkx_time_format(uint64_t ns, char *buf, size_t len)
{
	snprintf(buf, len, "%llu.%09llu",
	         (unsigned long long)(ns / 1000000000u),
	         (unsigned long long)(ns % 1000000000u));
}

/* ------------------------------------------------- command-line times */

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar (the
 * usual era arithmetic, integers only). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char n[] = {31, 28, 31, 30, 31, 30,
	                                  31, 31, 30, 31, 30, 31};

	if (m == 2 && y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))
		return 29;
	return n[m - 1];
}

/* Exactly n digits at *p: their value, or -1. */
static long fixed_digits(const char **p, int n)
{
	long v = 0;
	int i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return v;
}

/* ".123" (up to 9 digits) at *p as nanoseconds; 0 when none.  -1 when
 * malformed, -2 when there are more than 9 digits. */
static int64_t fraction_ns(const char **p)
{
	int64_t frac = 0;
	int digits = 0;

	if (**p != '.')
		return 0;
	for ((*p)++; **p >= '0' && **p <= '9'; (*p)++, digits++) {
		if (digits == 9)
			return -2;
		frac = frac * 10 + (**p - '0');
	}
	if (digits == 0)
		return -1;
	for (; digits < 9; digits++)
		frac *= 10;
	return frac;
}

pkx_result pkx_duration_parse(const char *text, const char *flag, uint64_t *ns,
                              pkx_error *err)
{
	static const struct {
		const char *unit;
		uint64_t ns;
	} units[] = {{"ns", 1},
	             {"us", 1000},
	             {"ms", 1000000},
	             {"s", 1000000000ull},
	             {"", 1000000000ull},
	             {"m", 60000000000ull},
	             {"h", 3600000000000ull},
	             {"d", 86400000000000ull}};
	const char *p = text;
	uint64_t whole = 0, mul = 0;
	int64_t frac;
	int digits = 0;
	size_t k;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > PKX_TIME_MAX_SEC)
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" is too long", flag, text);
	}
	frac = fraction_ns(&p);
	for (k = 0; k < sizeof(units) / sizeof(*units); k++)
		if (strcmp(p, units[k].unit) == 0)
			mul = units[k].ns;
	if (digits == 0 || frac < 0 || mul == 0)
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is not a duration: give a number "
		                "and a unit, such as 30s, 1.5s, 250ms, 10m, "
		                "2h or 1d (ns, us, ms, s, m, h, d)",
		                flag, text);
	/* frac is in billionths of the unit: exact for every unit down to
	 * the nanosecond (a fraction of a nanosecond is refused). */
	if (mul < 1000000000ull && frac % (1000000000 / (int64_t)mul) != 0)
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is finer than a nanosecond", flag,
		                text);
	if (whole > (UINT64_MAX / 2) / mul)
		return pkx_fail(err, PKX_EINVAL, "%s \"%s\" is too long", flag,
		                text);
	*ns = whole * mul + (mul >= 1000000000u
	                         ? (uint64_t)frac * (mul / 1000000000u)
	                         : (uint64_t)frac / (1000000000u / mul));
	return PKX_OK;
}

/* "+01:00", "-03:30": a zone's offset from UTC as ISO 8601 writes it. */
static const char *zone_offset(char buf[8], long off)
{
	long a = off < 0 ? -off : off;

	snprintf(buf, 8, "%c%02ld:%02ld", off < 0 ? '-' : '+', a / 3600 % 100,
	         a / 60 % 60);
	return buf;
}

/* Whether the local clock, reading `at` at t, reads so at another
 * instant too (it goes back as daylight saving ends, or as a zone moves
 * its offset): 1 with that instant and its reading.  The other reading,
 * if any, is at the offset in force a day before or after. */
static int local_twice(time_t t, const struct tm *at, time_t *t2,
                       struct tm *other)
{
	time_t near[2] = {t - 86400, t + 86400};
	int k;

	for (k = 0; k < 2; k++) {
		struct tm o;

		if (!localtime_r(&near[k], &o) || o.tm_gmtoff == at->tm_gmtoff)
			continue;
		*t2 = (time_t)((int64_t)t + at->tm_gmtoff - o.tm_gmtoff);
		if (localtime_r(t2, other) && other->tm_gmtoff == o.tm_gmtoff &&
		    other->tm_hour == at->tm_hour &&
		    other->tm_min == at->tm_min &&
		    other->tm_sec == at->tm_sec &&
		    other->tm_mday == at->tm_mday)
			return 1;
	}
	return 0;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.fraction]]][Z|+HH:MM|-HH:MM|+HHMM|+HH]. */
static pkx_result parse_calendar(const char *text, const char *flag,
                                 uint64_t *ns, pkx_error *err)
{
	const char *p = text, *why = NULL;
	long y, mo, d, h = 0, mi = 0, s = 0, zh = 0, zm = 0;
	int64_t frac = 0, secs;
	int zone = 0, zsign = 1;

	y = fixed_digits(&p, 4);
	if (y < 0 || *p++ != '-' || (mo = fixed_digits(&p, 2)) < 0 ||
	    *p++ != '-' || (d = fixed_digits(&p, 2)) < 0)
		goto malformed;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if ((h = fixed_digits(&p, 2)) < 0 || *p++ != ':' ||
		    (mi = fixed_digits(&p, 2)) < 0)
			goto malformed;
		if (*p == ':') {
			p++;
			if ((s = fixed_digits(&p, 2)) < 0)
				goto malformed;
			frac = fraction_ns(&p);
			if (frac == -2)
				return pkx_fail(err, PKX_EINVAL,
				                "%s \"%s\" has more than 9 "
				                "fraction digits",
				                flag, text);
			if (frac < 0)
				goto malformed;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		zone = 1;
		p++;
	} else if (*p == '+' || *p == '-') {
		zone = 1;
		zsign = *p++ == '-' ? -1 : 1;
		if ((zh = fixed_digits(&p, 2)) < 0)
			goto malformed;
		if (*p == ':')
			p++;
		if (*p && (zm = fixed_digits(&p, 2)) < 0)
			goto malformed;
	}
	if (*p)
		goto malformed;
	if (mo < 1 || mo > 12)
		why = "month";
	else if (d < 1 ||
	         (unsigned)d > days_in_month((unsigned)y, (unsigned)mo))
		why = "day";
	else if (h > 23)
		why = "hour";
	else if (mi > 59)
		why = "minute";
	else if (s > 59)
		why = "second";
	else if (zh > 23 || zm > 59)
		why = "zone offset";
	if (why)
		return pkx_fail(err, PKX_EINVAL, "%s \"%s\": no such %s", flag,
		                text, why);
	if (zone) {
		secs = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 +
		       h * 3600 + mi * 60 + s - zsign * (zh * 3600 + zm * 60);
	} else {
		/* Local time, as date(1) and editcap read it. */
		struct tm tm = {0}, back;
		time_t t;

		tm.tm_year = (int)y - 1900;
		tm.tm_mon = (int)mo - 1;
		tm.tm_mday = (int)d;
		tm.tm_hour = (int)h;
		tm.tm_min = (int)mi;
		tm.tm_sec = (int)s;
		tm.tm_isdst = -1;
		t = mktime(&tm);
		if (t == (time_t)-1 || !localtime_r(&t, &back) ||
		    back.tm_hour != h || back.tm_min != mi || back.tm_mday != d)
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" does not exist in the local "
			                "time zone (a daylight saving gap?): "
			                "give a zone, such as Z or +01:00",
			                flag, text);
		/* A time the clocks show twice is refused rather than taken
		 * as one of the two. */
		{
			struct tm other;
			time_t t2;

			if (local_twice(t, &back, &t2, &other)) {
				const struct tm *a = t < t2 ? &back : &other;
				const struct tm *b = t < t2 ? &other : &back;
				char za[8], zb[8];

				return pkx_fail(
				    err, PKX_EINVAL,
				    "%s \"%s\" happens twice in the local time "
				    "zone (the clocks go back then): give its "
				    "zone, %s (%s, the first) or %s (%s, the "
				    "second)",
				    flag, text, zone_offset(za, a->tm_gmtoff),
				    a->tm_zone, zone_offset(zb, b->tm_gmtoff),
				    b->tm_zone);
			}
		}
		secs = (int64_t)t;
	}
	if (secs < 0 || (uint64_t)secs >= PKX_TIME_MAX_SEC)
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is out of range (1970 to 2554)",
		                flag, text);
	*ns = (uint64_t)secs * 1000000000u + (uint64_t)frac;
	return PKX_OK;
malformed:
	return pkx_fail(err, PKX_EINVAL,
	                "%s \"%s\" is not a time: give ISO 8601 such as "
	                "2023-11-14T22:13:21.5Z or 2023-11-14T23:13:21+01:00, "
	                "local time such as '2023-11-14 22:13:21', seconds "
	                "since the epoch such as 1700000000.123456789, now, "
	                "or -10m (ago; s, m, h, d)",
	                flag, text);
}

pkx_result pkx_time_parse_cli(const char *text, const char *flag,
                              uint64_t now_ns, uint64_t *ns, pkx_error *err)
{
	uint64_t ago;
	const char *p = text;

	if (!text || !*text)
		return pkx_fail(err, PKX_EINVAL, "%s is empty", flag);
	if (strcmp(text, "now") == 0) {
		*ns = now_ns;
		return PKX_OK;
	}
	if (strncmp(text, "now-", 4) == 0)
		p = text + 3;
	if (*p == '-') {
		if (pkx_duration_parse(p + 1, flag, &ago, err) != PKX_OK)
			return pkx_fail(
			    err, PKX_EINVAL,
			    "%s \"%s\" is not a time: a time before "
			    "now is written -30s, -10m, -2h or -1d",
			    flag, text);
		if (ago > now_ns)
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" is before 1970", flag, text);
		*ns = now_ns - ago;
		return PKX_OK;
	}
	if (strlen(text) >= 10 && text[4] == '-' && text[7] == '-')
		return parse_calendar(text, flag, ns, err);
	if (pkx_time_parse(text, flag, ns, err) == PKX_OK)
		return PKX_OK;
	if (strstr(err->text, "out of range") &&
	    strspn(text, "0123456789") == strlen(text) && strlen(text) > 12)
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is out of range: times are seconds "
		                "(in nanoseconds? write %.*s.%s)",
		                flag, text, (int)(strlen(text) - 9), text,
		                text + strlen(text) - 9);
	if (strstr(err->text, "out of range") || strstr(err->text, "fraction"))
		return PKX_ERROR;
	return parse_calendar(text, flag, ns, err);
}

void pkx_time_format_iso(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000u);
	struct tm tm;

	if (ns == PKX_TIME_UNBOUNDED) {
		snprintf(buf, len, "unbounded");
		return;
	}
	gmtime_r(&t, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%09uZ",
	         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	         tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u));
}
