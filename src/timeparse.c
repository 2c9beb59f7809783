/* Times of the API: seconds since the epoch with up to nine fraction
 * digits, kept as 64-bit nanoseconds. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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

		if (!(v >= 0) || v >= (double)PKX_TIME_MAX_SEC)
			return pkx_fail(err, PKX_EINVAL,
			                "%s %.17g is out of range", field, v);
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
