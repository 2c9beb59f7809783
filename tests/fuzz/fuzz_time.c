/* libFuzzer target: the API's times (src/timeparse.c).
 *
 * The input is tried three ways:
 *  - as text for pkx_time_parse, compared with a reference parser written
 *    here from the rule in doc/architecture.md (digits, optionally '.' and
 *    1 to 9 fraction digits, below UINT64_MAX nanoseconds, which means
 *    "unbounded"); an accepted time must format and parse back to itself;
 *  - as JSON for pkx_time_from_json: an integer is exact, a real is within
 *    the rounding of a double;
 *  - its first 8 bytes as nanoseconds: format, then parse, gives them back
 *    (UINT64_MAX, "unbounded", must be refused). */
#include "config.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* 1 and *ns when text is a time by the documented rule, else 0. */
static int reference_parse(const char *text, uint64_t *ns)
{
	unsigned __int128 sec = 0;
	uint64_t frac = 0;
	const char *p = text;
	int digits = 0, fdigits = 0;

	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		sec = sec * 10 + (unsigned)(*p - '0');
		if (sec > UINT64_MAX)
			sec = (unsigned __int128)UINT64_MAX + 1; /* saturate */
	}
	if (!digits)
		return 0;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++, fdigits++) {
			if (fdigits == 9)
				return 0;
			frac = frac * 10 + (unsigned)(*p - '0');
		}
		if (!fdigits)
			return 0;
	}
	if (*p)
		return 0;
	for (; fdigits < 9; fdigits++)
		frac *= 10;
	sec = sec * 1000000000u + frac;
	if (sec >= UINT64_MAX)
		return 0;
	*ns = (uint64_t)sec;
	return 1;
}

static void check_round_trip(uint64_t ns)
{
	char buf[32];
	uint64_t back = 0;
	pkx_error err;
	pkx_result r;

	memset(&err, 0, sizeof(err));
	pkx_time_format(ns, buf, sizeof(buf));
	r = pkx_time_parse(buf, "t", &back, &err);
	if (ns == UINT64_MAX) {
		if (r == PKX_OK)
			abort(); /* "unbounded" is not a time */
		return;
	}
	if (r != PKX_OK || back != ns) {
		fprintf(stderr, "round trip of %llu: \"%s\" -> %d %llu (%s)\n",
		        (unsigned long long)ns, buf, r,
		        (unsigned long long)back, err.text);
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	uint64_t ns = 0, want = 0;
	pkx_error err;
	pkx_result r;
	json_t *j;
	int ok;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	/* Text. */
	memset(&err, 0, sizeof(err));
	r = pkx_time_parse(text, "t", &ns, &err);
	ok = reference_parse(text, &want);
	if ((r == PKX_OK) != ok || (ok && ns != want)) {
		fprintf(stderr, "\"%s\": parsed %d %llu, expected %d %llu\n",
		        text, r, (unsigned long long)ns, ok,
		        (unsigned long long)want);
		abort();
	}
	if (r == PKX_OK)
		check_round_trip(ns);
	else if (!err.id[0] || !err.text[0])
		abort(); /* a refusal says why */

	/* JSON. */
	j = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
	if (j) {
		memset(&err, 0, sizeof(err));
		r = pkx_time_from_json(j, "t", &ns, &err);
		if (r == PKX_OK) {
			if (ns == UINT64_MAX)
				abort();
			if (json_is_integer(j) &&
			    ns != (uint64_t)json_integer_value(j) * 1000000000u)
				abort();
			if (json_is_real(j)) {
				long double v = json_real_value(j);
				long double d = (long double)ns - v * 1e9L;
				char back[32];

				/* The decimal read makes the same double
				 * (the shortest that does), or, when none of
				 * 9 places does, the nearest nanosecond: half
				 * a ns of rounding, and the long double's own
				 * (2^64 ns needs 64 bits). */
				snprintf(
				    back, sizeof(back), "%llu.%09llu",
				    (unsigned long long)(ns / 1000000000u),
				    (unsigned long long)(ns % 1000000000u));
				if (strtod(back, NULL) != json_real_value(j) &&
				    fabsl(d) > 3)
					abort();
			}
			check_round_trip(ns);
		} else if (!err.id[0] || !err.text[0]) {
			abort();
		}
		json_decref(j);
	}

	/* Nanoseconds. */
	if (size >= 8) {
		memcpy(&ns, data, 8);
		check_round_trip(ns);
	}
	free(text);
	return 0;
}
