/* Access codes kept across restarts (codes.c): the file both pktexportd
 * and `pktexport access-code` read and write. */
#ifndef PKX_CODES_H
#define PKX_CODES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define PKX_CODE_HEX       64 /* hex digits of a code and of a digest */
#define PKX_CODE_PARTIAL   8  /* the code's first digits, shown in lists */
#define PKX_CODE_USER_MAX  63
#define PKX_CODES_FILE     "access-codes" /* in <root>/.pktexport */
#define PKX_CODES_PER_USER 16 /* a user's codes (refresh tokens) at most */

typedef struct pkx_code {
	char digest[PKX_CODE_HEX + 1]; /* SHA-256 of the code, hex */
	char user[PKX_CODE_USER_MAX + 1];
	char partial[PKX_CODE_PARTIAL + 1];
	uint64_t issued_s; /* wall clock */
} pkx_code;

void pkx_code_digest(const char *value, char out[PKX_CODE_HEX + 1]);
/* 256 random bits as hex; -1 when no random bytes could be had. */
int pkx_code_new(char value[PKX_CODE_HEX + 1]);
/* The codes of file (none when it does not exist yet), and its stat
 * (zeroed when missing); -1 with err set when it cannot be read. */
int pkx_codes_read(const char *file, pkx_code **codes, size_t *n,
                   struct stat *st, char *err, size_t errlen);
/* Replaces file (mode 0600) through a rename; its new stat in *st. */
int pkx_codes_write(const char *file, const pkx_code *codes, size_t n,
                    struct stat *st);
/* Writers take <file>.lock around a read and its write; -1 on failure. */
int pkx_codes_lock(const char *file);
void pkx_codes_unlock(int fd);

#endif /* PKX_CODES_H */
