/* A size typed on a command line (--size-limit, --file-size, --max-size,
 * --limit-rate, ...), shared by pktexport and its helper programs: decimal
 * digits and an optional unit, k, M, G or T in any case (powers of 1024),
 * which may be followed by "B" or "iB": "65536", "64k", "256MiB", "2G".
 * A bare "B" is bytes.  Never a wrapped value: past `max` is refused. */
#ifndef PKX_SIZE_ARG_H
#define PKX_SIZE_ARG_H

#include <stdint.h>
#include <string.h>

/* 0 and *out when `s` is such a size of at most `max` (a plain number
 * when !units), else -1 (*out untouched). */
static inline int size_arg_parse(const char *s, int units, uint64_t max,
                                 uint64_t *out)
{
	static const char unit[] = "kmgt";
	const char *u;
	uint64_t v = 0, mul = 1;

	if (*s < '0' || *s > '9')
		return -1;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (!units)
		;
	else if (*s && (u = strchr(unit, *s | 0x20)) != NULL) {
		mul <<= 10 * (u - unit + 1);
		s++;
		if (s[0] == 'i' && s[1] == 'B')
			s += 2;
		else if (*s == 'B')
			s++;
	} else if (*s == 'B')
		s++;
	if (*s || (v && mul > max / v) || v * mul > max)
		return -1;
	*out = v * mul;
	return 0;
}

/* A size: "64k", "256MiB". */
static inline int size_arg(const char *s, uint64_t max, uint64_t *out)
{
	return size_arg_parse(s, 1, max, out);
}

/* A count, milliseconds or seconds: digits alone. */
static inline int num_arg(const char *s, uint64_t max, uint64_t *out)
{
	return size_arg_parse(s, 0, max, out);
}

#endif
