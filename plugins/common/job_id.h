/* A capture job's id: 32 hex digits in the 8-4-4-4-12 shape of a UUID,
 * made from its folder name with two 64-bit FNV-1a hashes of different
 * bases.  Stable (a job keeps its id across restarts and imports), not a
 * secret.  Shared by the store code and pktexportd. */
#ifndef PKX_JOB_ID_H
#define PKX_JOB_ID_H

#include <stdint.h>
#include <stdio.h>

#define PKX_JOB_ID_LEN 36

static inline uint64_t pkx_job_fnv(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

static inline void pkx_job_id(const char *name, char out[PKX_JOB_ID_LEN + 1])
{
	uint64_t a = pkx_job_fnv(name, 0xcbf29ce484222325ull);
	uint64_t b = pkx_job_fnv(name, 0x84222325cbf29ce4ull);

	snprintf(out, PKX_JOB_ID_LEN + 1, "%08x-%04x-%04x-%04x-%012llx",
	         (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffffu,
	         (unsigned)a & 0xffffu, (unsigned)(b >> 48),
	         (unsigned long long)(b & 0xffffffffffffull));
}

#endif /* PKX_JOB_ID_H */
