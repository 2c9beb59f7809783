/* The access-code file (<root>/.pktexport/access-codes): the long-lived
 * codes (refresh tokens) of the users, kept across restarts as SHA-256
 * digests, never as the codes themselves.  Shared by pktexportd and by
 * `pktexport access-code`, which issues codes from the command line. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codes.h"

#define CODES_HEAD "pktexport-access-codes 1\n"

void pkx_code_digest(const char *value, char out[PKX_CODE_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	unsigned int n = 0, i;

	EVP_Digest(value, strlen(value), md, &n, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[PKX_CODE_HEX] = '\0';
}

int pkx_code_new(char value[PKX_CODE_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[32];
	size_t i;

	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return -1; /* no weak fallback for a secret */
	for (i = 0; i < sizeof(raw); i++) {
		value[2 * i] = hex[raw[i] >> 4];
		value[2 * i + 1] = hex[raw[i] & 15];
	}
	value[PKX_CODE_HEX] = '\0';
	explicit_bzero(raw, sizeof(raw));
	return 0;
}

int pkx_codes_lock(const char *file)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s.lock", file);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

void pkx_codes_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the lock */
}

static int hex_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s[n] == '\0';
}

int pkx_codes_read(const char *file, pkx_code **codes, size_t *n,
                   struct stat *st, char *err, size_t errlen)
{
	char line[512];
	size_t cap = 0, lineno = 1;
	FILE *f;

	*codes = NULL;
	*n = 0;
	memset(st, 0, sizeof(*st));
	if (!(f = fopen(file, "re"))) {
		if (errno == ENOENT)
			return 0; /* no code issued yet */
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		return -1;
	}
	fstat(fileno(f), st);
	if (!fgets(line, sizeof(line), f) || strcmp(line, CODES_HEAD) != 0) {
		snprintf(err, errlen, "%s: not an access-code file", file);
		fclose(f);
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		pkx_code c;
		unsigned long long issued;
		char digest[80], user[80], partial[16];

		lineno++;
		memset(&c, 0, sizeof(c));
		if (sscanf(line, "%79s %79s %15s %llu", digest, user, partial,
		           &issued) != 4 ||
		    !hex_ok(digest, PKX_CODE_HEX) ||
		    strlen(user) > PKX_CODE_USER_MAX ||
		    !hex_ok(partial, PKX_CODE_PARTIAL)) {
			snprintf(err, errlen, "%s: line %zu is malformed", file,
			         lineno);
			fclose(f);
			free(*codes);
			*codes = NULL;
			*n = 0;
			return -1;
		}
		memcpy(c.digest, digest, sizeof(c.digest));
		memcpy(c.user, user, strlen(user) + 1);
		memcpy(c.partial, partial, sizeof(c.partial));
		c.issued_s = issued;
		if (*n == cap) {
			pkx_code *nc;

			cap = cap ? 2 * cap : 16;
			if (!(nc = realloc(*codes, cap * sizeof(*nc)))) {
				snprintf(err, errlen, "out of memory");
				fclose(f);
				free(*codes);
				*codes = NULL;
				*n = 0;
				return -1;
			}
			*codes = nc;
		}
		(*codes)[(*n)++] = c;
	}
	fclose(f);
	return 0;
}

int pkx_codes_write(const char *file, const pkx_code *codes, size_t n,
                    struct stat *st)
{
	char tmp[4096];
	size_t i;
	FILE *f;
	int fd, ok;

	snprintf(tmp, sizeof(tmp), "%s.new", file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
	          0600);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	ok = fputs(CODES_HEAD, f) >= 0;
	for (i = 0; ok && i < n; i++)
		ok = fprintf(f, "%s %s %s %llu\n", codes[i].digest,
		             codes[i].user, codes[i].partial,
		             (unsigned long long)codes[i].issued_s) > 0;
	ok = ok && fflush(f) == 0;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, file) != 0) {
		unlink(tmp);
		return -1;
	}
	if (st)
		stat(file, st);
	return 0;
}
