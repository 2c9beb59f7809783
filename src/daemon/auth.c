/* Access control for pktexportd (opt-in with --users FILE).  A request
 * authenticates in one of three ways, all against the same users:
 *  - HTTP Basic on the request itself (verified credentials are kept for
 *    a minute under a keyed hash, so a client sending them on every
 *    request pays one password check, not one a request);
 *  - a session cookie from POST /api/common/1.0/login;
 *  - a bearer token from the mgmt.aaa token endpoint (2.0 and 1.0), for
 *    user name and password or a refresh token.
 * Credentials are checked from the request's head, before its body.
 *
 * Passwords are checked with crypt(3) against the users file's hashes on a
 * thread of their own, so a deliberately slow hash never stalls the loop.
 * Tokens live in memory only: a restart logs everyone out. */
#include "config.h"

#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include "codes.h"
#include "pkxd.h"

#define AUTH_TOKEN_BYTES  32 /* random bytes; tokens are their hex */
#define AUTH_USER_ACCESS  64 /* access tokens per user; their oldest goes */
#define AUTH_USER_REFRESH PKX_CODES_PER_USER /* then refused */
#define AUTH_MAX_CHECKS   4  /* password checks running at once */
#define AUTH_MAX_QUEUED   64 /* logins waiting for one */
#define AUTH_PER_PEER     2  /* logins running or waiting per address */
/* Logins waiting per account (unknown names together): guesses at one
 * account, from however many addresses, cannot fill the queue that every
 * other account's logins go through. */
#define AUTH_PER_ACCOUNT   4
#define AUTH_FAIL_DELAY_MS 1000 /* a wrong password is answered this late */
#define AUTH_PARTIAL       8    /* characters of a refresh token shown */
#define AUTH_NAME_MAX      63
#define AUTH_REALM         "Bearer realm=\"pktexport\""
#define AUTH_BASIC_REALM   "Basic realm=\"pktexport\", charset=\"UTF-8\""
#define AUTH_BASIC_KEEP_S  60 /* verified Basic credentials kept this long */
#define AUTH_BASIC_SLOTS   64
#define AUTH_COOKIE        "SESSID" /* the session cookie's name */
/* Per account: past AUTH_THROTTLE_FREE failures within the window, its
 * checks start one at a time, 2^(failures - AUTH_THROTTLE_FREE) s apart,
 * AUTH_THROTTLE_MAX_S at most; a success or a quiet window clears it. */
#define AUTH_THROTTLE_FREE     5
#define AUTH_THROTTLE_MAX_S    30
#define AUTH_THROTTLE_WINDOW_S 600
/* Kinds of token (auth_token.kind). */
#define AUTH_ACCESS  0
#define AUTH_REFRESH 1
#define AUTH_SESSION 2

/* Basic credentials verified lately: a keyed hash of name and password
 * (never the password), whose user, until when. */
typedef struct auth_basic_slot {
	unsigned char digest[32];
	char user[AUTH_NAME_MAX + 1];
	uint64_t until_ns; /* monotonic; 0: empty */
} auth_basic_slot;

/* Failed logins of one account (every unknown name shares one). */
typedef struct auth_throttle {
	unsigned fails;         /* in the window */
	uint64_t window_ns;     /* when the window began (monotonic) */
	uint64_t not_before_ns; /* its next check starts no sooner */
} auth_throttle;

typedef struct auth_user {
	char *name;
	char *hash;
	int admin; /* role admin (the default): sees every export */
	auth_throttle throttle;
} auth_user;

typedef struct auth_token {
	char value[2 * AUTH_TOKEN_BYTES + 1];
	char user[AUTH_NAME_MAX + 1];
	int kind;            /* AUTH_ACCESS, AUTH_REFRESH or AUTH_SESSION */
	uint64_t grant;      /* tokens of one login share it */
	uint64_t issued_ns;  /* wall clock */
	uint64_t expires_ns; /* monotonic clock; 0: until revoked */
	uint64_t last_redeemed_ns;
	unsigned redeemed;
	/* A refresh token (an access code) is known by its digest: the
	 * value is given once and kept nowhere, in memory or on disk. */
	char digest[PKX_CODE_HEX + 1];
	char partial[PKX_CODE_PARTIAL + 1];
	struct auth_token *next;
} auth_token;

typedef struct auth_check auth_check;

struct pkxd_auth {
	auth_user *users;
	size_t n_users;
	const char *stand_in; /* the costliest hash: for unknown users */
	auth_token *tokens;
	unsigned lifetime_s;
	int checks;             /* password checks on their threads */
	auth_check *queue_head; /* logins waiting for a thread, in order */
	auth_check **queue_tail;
	int queued;
	auth_check *active; /* every login not answered yet */
	uint64_t grants;    /* logins granted so far */
	unsigned char basic_key[32];
	EVP_MAC *hmac; /* fetched once: a fetch costs more than the hash */
	auth_basic_slot basic[AUTH_BASIC_SLOTS];
	auth_throttle unknown;     /* names of no user, together */
	struct event *throttle_ev; /* the queue waits for a throttled one */
	/* Refresh tokens (access codes) live in this file across restarts;
	 * `pktexport access-code` writes it too: reread when it changed. */
	char *codes_file;
	struct stat codes_st;
};

enum auth_kind {
	AUTH_FOR_TOKEN,   /* a token request: answered with tokens */
	AUTH_FOR_BASIC,   /* a request with Basic credentials: goes on */
	AUTH_FOR_SESSION, /* a login: answered with a session cookie */
};

/* One password check, handed to a thread and back to the loop. */
struct auth_check {
	pkxd_daemon *d;
	pkxh_req *req;
	struct event *done_ev;
	char peer[64];           /* the client's address */
	auth_check *next;        /* in the queue */
	auth_check *next_active; /* in the list of logins in progress */
	struct event *delay_ev;  /* a wrong password's late answer */
	char user[AUTH_NAME_MAX + 1];
	char *password;
	const char *hash; /* the user's, or a stand-in for unknown users */
	int known;
	int ok;
	int want_refresh;
	char *state;
	auth_throttle *throttle; /* its account's */
	enum auth_kind kind;
	unsigned char digest[32]; /* AUTH_FOR_BASIC: the credentials' */
};

/* ------------------------------------------------------------ users file */

static void trim_line(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' ||
	                 s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static int valid_name(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > AUTH_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.' || s[i] == '@'))
			return 0;
	return 1;
}

/* What checking a password against hash costs (ns), or -1 when it is not
 * a hash crypt(3) can check: one of its "$id$" prefixes, and a method this
 * libcrypt knows (a test string hashed with it comes back). */
static int64_t hash_cost(const char *hash)
{
	struct crypt_data *cd;
	uint64_t t0 = pkx_now_ns();
	const char *r;
	int ok;

	if (hash[0] != '$')
		return -1;
	if (!(cd = calloc(1, sizeof(*cd))))
		return -1;
	r = crypt_rn("", hash, cd, sizeof(*cd));
	ok = r && r[0] != '*';
	free(cd);
	return ok ? (int64_t)(pkx_now_ns() - t0) : -1;
}

pkxd_auth *pkxd_auth_load(const char *file, unsigned lifetime_s)
{
	FILE *f = fopen(file, "r");
	pkxd_auth *a;
	char *line = NULL;
	size_t line_cap = 0;
	int64_t cost, costliest = -1;
	unsigned lineno = 0;
	struct stat st;

	if (!f) {
		fprintf(stderr, "pktexportd: users file %s: %s\n", file,
		        strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 027)) {
		fprintf(stderr,
		        "pktexportd: users file %s: %s by %s; refusing it "
		        "(chmod g-w,o-rwx)\n",
		        file, st.st_mode & 022 ? "writable" : "readable",
		        st.st_mode & (st.st_mode & 022 ? 002 : 004)
		            ? "others"
		            : "its group");
		fclose(f);
		return NULL;
	}
	if (!(a = calloc(1, sizeof(*a)))) {
		fclose(f);
		return NULL;
	}
	a->lifetime_s = lifetime_s;
	a->queue_tail = &a->queue_head;
	/* Whole lines, however long: a long comment must not end early and
	 * leave its tail read as a user. */
	while (getline(&line, &line_cap, f) > 0) {
		char *colon, *hash, *role, first;
		auth_user *grown;
		size_t i;

		lineno++;
		trim_line(line);
		/* Blank, or a comment ('#' after any blanks). */
		first = line[strspn(line, " \t")];
		if (first == '\0' || first == '#')
			continue;
		colon = strchr(line, ':');
		hash = colon ? colon + 1 : NULL;
		if (!colon || !valid_name(line, (size_t)(colon - line))) {
			fprintf(stderr,
			        "pktexportd: users file %s, line %u: expected "
			        "NAME:HASH (names: letters, digits, _ - . @; "
			        "at most %d)\n",
			        file, lineno, AUTH_NAME_MAX);
			goto fail;
		}
		*colon = '\0';
		/* NAME:HASH[:ROLE]: crypt hashes hold no ':'. */
		role = strchr(hash, ':');
		if (role) {
			*role++ = '\0';
			if (strcmp(role, "admin") && strcmp(role, "user")) {
				fprintf(stderr,
				        "pktexportd: users file %s, line %u: "
				        "role \"%.32s\" of %s is neither admin "
				        "nor user\n",
				        file, lineno, role, line);
				goto fail;
			}
		}
		if ((cost = hash_cost(hash)) < 0) {
			fprintf(stderr,
			        "pktexportd: users file %s, line %u: the "
			        "password of %s is not a crypt(3) hash this "
			        "system can check (make one with `openssl "
			        "passwd -6` or `mkpasswd`)\n",
			        file, lineno, line);
			goto fail;
		}
		for (i = 0; i < a->n_users; i++)
			if (strcmp(a->users[i].name, line) == 0) {
				fprintf(stderr,
				        "pktexportd: users file %s, line %u: "
				        "%s is listed twice\n",
				        file, lineno, line);
				goto fail;
			}
		grown = realloc(a->users, (a->n_users + 1) * sizeof(*grown));
		if (!grown)
			goto fail;
		a->users = grown;
		memset(&a->users[a->n_users], 0, sizeof(*a->users));
		a->users[a->n_users].name = strdup(line);
		a->users[a->n_users].hash = strdup(hash);
		a->users[a->n_users].admin =
		    !role || strcmp(role, "admin") == 0;
		a->n_users++;
		if (!a->users[a->n_users - 1].name ||
		    !a->users[a->n_users - 1].hash)
			goto fail;
		/* An unknown user is checked against the costliest hash, so
		 * the answer's delay does not tell names apart. */
		if (cost > costliest) {
			costliest = cost;
			a->stand_in = a->users[a->n_users - 1].hash;
		}
	}
	if (ferror(f) || a->n_users == 0) {
		fprintf(stderr, "pktexportd: users file %s: %s\n", file,
		        ferror(f) ? strerror(errno) : "lists no user");
		goto fail;
	}
	fclose(f);
	free(line);
	/* The key of the Basic credentials' hashes: new at every start. */
	if (getrandom(a->basic_key, sizeof(a->basic_key), 0) !=
	        (ssize_t)sizeof(a->basic_key) ||
	    !(a->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL))) {
		fprintf(stderr, "pktexportd: no random bytes or no HMAC for "
		                "the key of Basic credentials\n");
		pkxd_auth_free(a);
		return NULL;
	}
	return a;
fail:
	fclose(f);
	free(line);
	pkxd_auth_free(a);
	return NULL;
}

static void check_free(auth_check *c);

/* Tokens are secrets: wiped before their memory goes back. */
static void token_free(auth_token *t)
{
	explicit_bzero(t->value, sizeof(t->value));
	free(t);
}

void pkxd_auth_free(pkxd_auth *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n_users; i++) {
		free(a->users[i].name);
		free(a->users[i].hash);
	}
	free(a->users);
	free(a->codes_file);
	EVP_MAC_free(a->hmac);
	while (a->active) {
		auth_check *c = a->active;

		a->active = c->next_active;
		check_free(c);
	}
	while (a->tokens) {
		auth_token *t = a->tokens;

		a->tokens = t->next;
		token_free(t);
	}
	free(a);
}

int pkxd_auth_busy(const pkxd_daemon *d)
{
	return d->auth ? d->auth->checks : 0;
}

/* ---------------------------------------------------------------- tokens */

/* Same length and same bytes, in time that does not depend on where they
 * first differ. */
static int same_secret(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i;
	unsigned char diff = la != lb;

	for (i = 0; i < la && i < lb; i++)
		diff |= (unsigned char)(a[i] ^ b[i]);
	return diff == 0;
}

static int user_known(const pkxd_auth *a, const char *user)
{
	size_t i;

	for (i = 0; i < a->n_users; i++)
		if (strcmp(a->users[i].name, user) == 0)
			return 1;
	return 0;
}

static void drop_expired(pkxd_auth *a, uint64_t now)
{
	auth_token **p = &a->tokens;

	while (*p) {
		auth_token *t = *p;

		if (t->expires_ns && t->expires_ns <= now) {
			*p = t->next;
			token_free(t);
		} else {
			p = &t->next;
		}
	}
}

/* How many tokens of a kind user holds; *oldest gets the oldest (tokens
 * are kept newest first). */
static size_t user_tokens(pkxd_auth *a, const char *user, int kind,
                          auth_token ***oldest)
{
	auth_token **p;
	size_t n = 0;

	for (p = &a->tokens; *p; p = &(*p)->next)
		if ((*p)->kind == kind && strcmp((*p)->user, user) == 0) {
			n++;
			*oldest = p;
		}
	return n;
}

/* ------------------------------------------------------- access codes */

/* Drops the tokens of a login: its refresh token and every access token
 * traded for it. */
static void drop_grant(pkxd_auth *a, uint64_t grant_id)
{
	auth_token **p = &a->tokens, *t;

	while (*p)
		if ((*p)->grant == grant_id) {
			t = *p;
			*p = t->next;
			token_free(t);
		} else {
			p = &(*p)->next;
		}
}

static int codes_same_file(const struct stat *x, const struct stat *y)
{
	return x->st_ino == y->st_ino && x->st_dev == y->st_dev &&
	       x->st_size == y->st_size &&
	       x->st_mtim.tv_sec == y->st_mtim.tv_sec &&
	       x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
}

/* The refresh tokens in memory made to match the file: codes added by
 * `pktexport access-code` appear, revoked ones go with the access tokens
 * traded for them.  A file that cannot be read changes nothing. */
static void codes_sync(pkxd_auth *a)
{
	struct stat st;
	pkx_code *codes;
	auth_token *t, *next;
	char why[256];
	size_t n, i;

	if (!a->codes_file)
		return;
	if (stat(a->codes_file, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (codes_same_file(&st, &a->codes_st))
		return;
	if (pkx_codes_read(a->codes_file, &codes, &n, &st, why, sizeof(why)) !=
	    0) {
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "access codes not reread: %s", why);
		return;
	}
	a->codes_st = st;
	for (t = a->tokens; t; t = next) {
		next = t->next;
		if (t->kind != AUTH_REFRESH)
			continue;
		for (i = 0; i < n && strcmp(codes[i].digest, t->digest); i++)
			;
		if (i == n) {
			drop_grant(a, t->grant);
			next = a->tokens; /* the list changed: from the top */
		}
	}
	for (i = 0; i < n; i++) {
		for (t = a->tokens; t; t = t->next)
			if (t->kind == AUTH_REFRESH &&
			    strcmp(t->digest, codes[i].digest) == 0)
				break;
		if (t || !(t = calloc(1, sizeof(*t))))
			continue;
		snprintf(t->user, sizeof(t->user), "%s", codes[i].user);
		memcpy(t->digest, codes[i].digest, sizeof(t->digest));
		memcpy(t->partial, codes[i].partial, sizeof(t->partial));
		t->kind = AUTH_REFRESH;
		t->grant = ++a->grants;
		t->issued_ns = codes[i].issued_s * 1000000000u;
		t->next = a->tokens;
		a->tokens = t;
	}
	free(codes);
}

/* A new refresh token goes to the file before it is given out: a code
 * the next start would not know is not issued. */
static int codes_add(pkxd_auth *a, auth_token *t)
{
	pkx_code *codes = NULL, *nc;
	char why[256];
	size_t n = 0;
	int lock, rc = -1;

	pkx_code_digest(t->value, t->digest);
	memcpy(t->partial, t->value, PKX_CODE_PARTIAL);
	t->partial[PKX_CODE_PARTIAL] = '\0';
	if (!a->codes_file)
		return 0;
	if ((lock = pkx_codes_lock(a->codes_file)) < 0 ||
	    pkx_codes_read(a->codes_file, &codes, &n, &a->codes_st, why,
	                   sizeof(why)) != 0 ||
	    !(nc = realloc(codes, (n + 1) * sizeof(*nc)))) {
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "%s: cannot keep a new access code: %s", a->codes_file,
		        lock < 0 ? strerror(errno) : why);
		goto out;
	}
	codes = nc;
	memset(&codes[n], 0, sizeof(codes[n]));
	memcpy(codes[n].digest, t->digest, sizeof(t->digest));
	snprintf(codes[n].user, sizeof(codes[n].user), "%s", t->user);
	memcpy(codes[n].partial, t->partial, sizeof(t->partial));
	codes[n].issued_s = t->issued_ns / 1000000000u;
	if (pkx_codes_write(a->codes_file, codes, n + 1, &a->codes_st) != 0)
		pkx_log(PKX_LOG_ERROR, "pktexportd",
		        "%s: cannot keep a new access code: %s", a->codes_file,
		        strerror(errno));
	else
		rc = 0;
out:
	free(codes);
	pkx_codes_unlock(lock);
	return rc;
}

/* A revoked refresh token leaves the file. */
static int codes_remove(pkxd_auth *a, const char *digest)
{
	pkx_code *codes = NULL;
	char why[256];
	size_t n = 0, i, k = 0;
	int lock, rc = -1;

	if (!a->codes_file)
		return 0;
	if ((lock = pkx_codes_lock(a->codes_file)) >= 0 &&
	    pkx_codes_read(a->codes_file, &codes, &n, &a->codes_st, why,
	                   sizeof(why)) == 0) {
		for (i = 0; i < n; i++)
			if (strcmp(codes[i].digest, digest) != 0)
				codes[k++] = codes[i];
		rc = pkx_codes_write(a->codes_file, codes, k, &a->codes_st);
	}
	free(codes);
	pkx_codes_unlock(lock);
	return rc;
}

int pkxd_auth_keep_codes(pkxd_auth *a, const char *file)
{
	pkx_code *codes;
	struct stat st;
	char why[256];
	size_t n;

	if (pkx_codes_read(file, &codes, &n, &st, why, sizeof(why)) != 0) {
		fprintf(stderr, "pktexportd: access codes: %s\n", why);
		return -1;
	}
	free(codes);
	if (!(a->codes_file = strdup(file)))
		return -1;
	memset(&a->codes_st, 0xff, sizeof(a->codes_st)); /* read it */
	codes_sync(a);
	return 0;
}

/* A new token for user.  Each user's tokens are bounded apart from the
 * others': past AUTH_USER_ACCESS the user's own oldest access token goes;
 * past AUTH_USER_REFRESH a refresh token is refused (*full set), as they
 * are meant to last until revoked. */
static auth_token *new_token(pkxd_auth *a, const char *user, int kind,
                             uint64_t grant, int *full)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[AUTH_TOKEN_BYTES];
	uint64_t now = pkx_now_ns();
	auth_token *t, **oldest = NULL;
	size_t i, held;

	*full = 0;
	drop_expired(a, now);
	held = user_tokens(a, user, kind, &oldest);
	if (kind == AUTH_REFRESH && held >= AUTH_USER_REFRESH) {
		*full = 1;
		return NULL;
	}
	if (kind != AUTH_REFRESH && held >= AUTH_USER_ACCESS) {
		t = *oldest;
		*oldest = t->next;
		token_free(t);
	}
	if (getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
		return NULL; /* no weak fallback for a secret */
	if (!(t = calloc(1, sizeof(*t))))
		return NULL;
	for (i = 0; i < sizeof(raw); i++) {
		t->value[2 * i] = hex[raw[i] >> 4];
		t->value[2 * i + 1] = hex[raw[i] & 15];
	}
	explicit_bzero(raw, sizeof(raw));
	snprintf(t->user, sizeof(t->user), "%s", user);
	t->kind = kind;
	t->grant = grant;
	t->issued_ns = pkx_wallclock_ns();
	if (kind == AUTH_REFRESH && codes_add(a, t) != 0) {
		token_free(t);
		return NULL;
	}
	/* Expiry runs on the monotonic clock: setting the wall clock does
	 * not lengthen or shorten a token. */
	t->expires_ns = kind == AUTH_REFRESH
	                    ? 0
	                    : now + (uint64_t)a->lifetime_s * 1000000000u;
	t->next = a->tokens;
	a->tokens = t;
	return t;
}

static auth_token *find_token(pkxd_auth *a, const char *value, int kind)
{
	uint64_t now = pkx_now_ns();
	char digest[PKX_CODE_HEX + 1];
	auth_token *t, *found = NULL;

	if (kind == AUTH_REFRESH) {
		codes_sync(a);
		pkx_code_digest(value, digest);
	}
	/* Every token is compared, so the time taken says nothing. */
	for (t = a->tokens; t; t = t->next)
		if (t->kind == kind &&
		    same_secret(kind == AUTH_REFRESH ? t->digest : t->value,
		                kind == AUTH_REFRESH ? digest : value) &&
		    (!t->expires_ns || t->expires_ns > now))
			found = t;
	return found;
}

/* Answers the token request: an access token for user, and a refresh
 * token when asked.  Tokens given for one login (its refresh token and
 * every access token traded for it) share the number grant_id; 0
 * starts a new one. */
static void grant(pkxd_daemon *d, pkxh_req *req, const char *user,
                  int want_refresh, const char *state, uint64_t grant_id)
{
	auth_token *access, *refresh = NULL;
	int full = 0;
	json_t *o;

	if (!grant_id)
		grant_id = ++d->auth->grants;
	if (want_refresh && !(refresh = new_token(d->auth, user, AUTH_REFRESH,
	                                          grant_id, &full))) {
		if (full)
			pkxd_reply_error(req, 409, "RESOURCE_EXISTS",
			                 "%s holds %d refresh tokens already: "
			                 "revoke one first",
			                 user, AUTH_USER_REFRESH);
		else
			pkxd_reply_error(req, 500, PKX_EINTERNAL,
			                 "no token could be made (no random "
			                 "bytes or no memory)");
		return;
	}
	if (!(access =
	          new_token(d->auth, user, AUTH_ACCESS, grant_id, &full))) {
		pkxd_reply_error(req, 500, PKX_EINTERNAL,
		                 "no token could be made (no random bytes or "
		                 "no memory)");
		return;
	}
	o = json_pack("{s:s, s:I, s:s}", "access_token", access->value,
	              "expires_at",
	              (json_int_t)((access->issued_ns / 1000000000u) +
	                           d->auth->lifetime_s),
	              "token_type", "bearer");
	if (refresh) {
		json_object_set_new(o, "refresh_token",
		                    json_string(refresh->value));
		/* Given once: from now on only its digest is kept. */
		explicit_bzero(refresh->value, sizeof(refresh->value));
	}
	if (state)
		json_object_set_new(o, "state", json_string(state));
	pkx_log(PKX_LOG_INFO, "pktexportd", "login: %s from %s: access token%s",
	        user, pkxh_peer(req),
	        refresh ? " and refresh token (access code)"
	        : grant_id && d->auth->grants != grant_id
	            ? " for a refresh token or access code"
	            : "");
	pkxd_reply_json(req, 201, o);
}

/* ------------------------------------------------------ password checks */

static void *check_thread(void *arg)
{
	auth_check *c = arg;
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *r =
	    cd ? crypt_rn(c->password, c->hash, cd, sizeof(*cd)) : NULL;

	c->ok = c->known && r && r[0] != '*' && same_secret(r, c->hash);
	if (cd) {
		explicit_bzero(cd, sizeof(*cd));
		free(cd);
	}
	event_active(c->done_ev, EV_READ, 0);
	return NULL;
}

static void check_free(auth_check *c)
{
	if (c->password) {
		explicit_bzero(c->password, strlen(c->password));
		free(c->password);
	}
	free(c->state);
	if (c->done_ev)
		event_free(c->done_ev);
	if (c->delay_ev)
		event_free(c->delay_ev);
	free(c);
}

/* A check is over: out of the list of logins in progress, and freed. */
static void check_finish(pkxd_auth *a, auth_check *c)
{
	auth_check **p;

	for (p = &a->active; *p; p = &(*p)->next_active)
		if (*p == c) {
			*p = c->next_active;
			break;
		}
	check_free(c);
}

static void refuse(auth_check *c)
{
	/* Only names that could be users reach the log: the rest could
	 * forge lines or send terminal controls. */
	if (valid_name(c->user, strlen(c->user)))
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "login refused: wrong user name or password for "
		        "\"%s\" from %s",
		        c->user, c->peer);
	else
		pkx_log(PKX_LOG_WARN, "pktexportd",
		        "login refused: a user name no user can have, from %s",
		        c->peer);
	if (c->kind == AUTH_FOR_BASIC)
		evhttp_add_header(pkxh_out_headers(c->req), "WWW-Authenticate",
		                  AUTH_BASIC_REALM);
	pkxd_reply_error(c->req, 401, "AUTH_INVALID_CREDENTIALS",
	                 "wrong user name or password");
}

static void delay_done(evutil_socket_t fd, short what, void *arg)
{
	auth_check *c = arg;
	pkxd_auth *a = c->d->auth;

	(void)fd;
	(void)what;
	refuse(c);
	check_finish(a, c);
}

/* The keyed hash under which verified Basic credentials are kept. */
static void basic_digest(const pkxd_auth *a, const char *user,
                         const char *password, unsigned char out[32])
{
	unsigned char zero = 0;
	EVP_MAC_CTX *m = EVP_MAC_CTX_new(a->hmac);
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string("digest", (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	size_t got = 0;

	memset(out, 0, 32);
	if (m &&
	    EVP_MAC_init(m, a->basic_key, sizeof(a->basic_key), params) == 1) {
		EVP_MAC_update(m, (const unsigned char *)user, strlen(user));
		EVP_MAC_update(m, &zero, 1); /* "ab"+"c" is not "a"+"bc" */
		EVP_MAC_update(m, (const unsigned char *)password,
		               strlen(password));
		EVP_MAC_final(m, out, &got, 32);
	}
	EVP_MAC_CTX_free(m);
}

/* The user of verified Basic credentials, or NULL. */
static const char *basic_known(pkxd_auth *a, const unsigned char digest[32])
{
	uint64_t now = pkx_now_ns();
	const char *user = NULL;
	size_t i;

	for (i = 0; i < AUTH_BASIC_SLOTS; i++)
		if (a->basic[i].until_ns > now &&
		    CRYPTO_memcmp(a->basic[i].digest, digest, 32) == 0)
			user = a->basic[i].user;
	return user;
}

static void basic_keep(pkxd_auth *a, const unsigned char digest[32],
                       const char *user)
{
	size_t i, slot = 0;

	/* An empty or expired slot, else the one that ends first. */
	for (i = 1; i < AUTH_BASIC_SLOTS; i++)
		if (a->basic[i].until_ns < a->basic[slot].until_ns)
			slot = i;
	memcpy(a->basic[slot].digest, digest, 32);
	snprintf(a->basic[slot].user, sizeof(a->basic[slot].user), "%s", user);
	a->basic[slot].until_ns =
	    pkx_now_ns() + (uint64_t)AUTH_BASIC_KEEP_S * 1000000000u;
}

/* A session for user: its id in a cookie and in the answer. */
static void open_session(pkxd_daemon *d, pkxh_req *req, const char *user)
{
	auth_token *t = NULL;
	char cookie[160];
	int full;

	if (d->auth && !(t = new_token(d->auth, user, AUTH_SESSION,
	                               ++d->auth->grants, &full))) {
		pkxd_reply_error(req, 500, PKX_EINTERNAL,
		                 "no session could be made (no random bytes or "
		                 "no memory)");
		return;
	}
	/* HttpOnly: no script reads it; SameSite: no other site's page
	 * sends it. */
	snprintf(cookie, sizeof(cookie),
	         AUTH_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s",
	         t ? t->value : "none", pkxh_secure(req) ? "; Secure" : "");
	evhttp_add_header(pkxh_out_headers(req), "Set-Cookie", cookie);
	if (t)
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "login: %s from %s: session", user, pkxh_peer(req));
	pkxd_reply_json(req, 200,
	                json_pack("{s:s, s:s}", "session_key", AUTH_COOKIE,
	                          "session_id", t ? t->value : "none"));
}

/* The password was right: what the check was for. */
static void verified(pkxd_daemon *d, auth_check *c)
{
	switch (c->kind) {
	case AUTH_FOR_TOKEN:
		grant(d, c->req, c->user, c->want_refresh, c->state, 0);
		break;
	case AUTH_FOR_SESSION:
		open_session(d, c->req, c->user);
		break;
	case AUTH_FOR_BASIC:
		/* Logged when checked: then kept for a minute, unlogged. */
		pkx_log(PKX_LOG_INFO, "pktexportd", "login: %s from %s: Basic",
		        c->user, c->peer);
		basic_keep(d->auth, c->digest, c->user);
		pkxh_set_user(c->req, c->user);
		if (pkxh_connected(c->req) && d->authed && d->authed(d, c->req))
			break; /* answered */
		pkxh_resume_head(c->req);
		break;
	}
}

/* Whether an account's failures are old enough to be forgotten. */
static int throttle_window_over(const auth_throttle *t, uint64_t now)
{
	return now - t->window_ns >
	       (uint64_t)AUTH_THROTTLE_WINDOW_S * 1000000000u;
}

/* How long an account's checks stand apart at now (0: not throttled). */
static uint64_t throttle_gap_ns(const auth_throttle *t, uint64_t now)
{
	unsigned over = t->fails - AUTH_THROTTLE_FREE;
	uint64_t s;

	if (t->fails < AUTH_THROTTLE_FREE || throttle_window_over(t, now))
		return 0;
	s = over < 31 ? 1u << over : AUTH_THROTTLE_MAX_S;
	return (s < AUTH_THROTTLE_MAX_S ? s : AUTH_THROTTLE_MAX_S) *
	       1000000000u;
}

/* A check's verdict counts for its account. */
static void throttle_record(auth_throttle *t, int ok)
{
	uint64_t now = pkx_now_ns(), gap;

	if (ok) {
		t->fails = 0;
		t->not_before_ns = 0;
		return;
	}
	if (throttle_window_over(t, now)) {
		t->window_ns = now;
		t->fails = 0;
	}
	t->fails++;
	/* Past the free failures the account's next check waits. */
	if ((gap = throttle_gap_ns(t, now)))
		t->not_before_ns = now + gap;
}

static void start_checks(pkxd_daemon *d);

static void throttle_wake(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	start_checks(arg);
}

static void check_done(evutil_socket_t fd, short what, void *arg)
{
	auth_check *c = arg;
	pkxd_daemon *d = c->d;
	pkxd_auth *a = d->auth;
	struct timeval later = {AUTH_FAIL_DELAY_MS / 1000,
	                        (AUTH_FAIL_DELAY_MS % 1000) * 1000};

	(void)fd;
	(void)what;
	a->checks--;
	throttle_record(c->throttle, c->ok);
	if (c->ok) {
		verified(d, c);
		check_finish(a, c);
	} else if (d->stopping ||
	           /* the second counts from now, not from the loop's
	            * cached time, which can be this pass's start */
	           event_base_update_cache_time(d->base) != 0 ||
	           !(c->delay_ev = evtimer_new(d->base, delay_done, c)) ||
	           evtimer_add(c->delay_ev, &later) != 0) {
		refuse(c);
		check_finish(a, c);
	}
	/* else: a wrong password is answered a second later; the login
	 * still counts against its address meanwhile, which is what slows
	 * guessing down. */
	start_checks(d);
	if (d->stopping)
		pkxd_idle(d);
}

/* Hands waiting logins to threads while fewer than AUTH_MAX_CHECKS run;
 * logins whose client has left are dropped unchecked. */
static void start_checks(pkxd_daemon *d)
{
	pkxd_auth *a = d->auth;
	uint64_t now = pkx_now_ns(), wake = 0;

	while (a->checks < AUTH_MAX_CHECKS && a->queue_head) {
		auth_check *c, **p;
		uint64_t gap = 0;
		pthread_attr_t attr;
		pthread_t th;
		int started = 0;

		/* The first in order whose account may be checked now.  A
		 * login whose client went away is dropped on the way, before
		 * it takes its account's turn. */
		for (p = &a->queue_head; (c = *p);) {
			if (!pkxh_connected(c->req)) {
				*p = c->next;
				if (a->queue_tail == &c->next)
					a->queue_tail = p;
				a->queued--;
				pkxh_abort(c->req);
				check_finish(a, c);
				continue;
			}
			gap = throttle_gap_ns(c->throttle, now);
			if (!gap || c->throttle->not_before_ns <= now)
				break;
			if (!wake || c->throttle->not_before_ns < wake)
				wake = c->throttle->not_before_ns;
			p = &c->next;
		}
		if (!c)
			break;
		*p = c->next;
		if (a->queue_tail == &c->next)
			a->queue_tail = p;
		a->queued--;
		if (gap)
			/* The next check of a throttled account waits. */
			c->throttle->not_before_ns = now + gap;
		if (!pkxh_connected(c->req)) {
			/* Its client went away: nobody waits for the
			 * answer. */
			pkxh_abort(c->req);
			check_finish(a, c);
			continue;
		}
		if (pthread_attr_init(&attr) == 0) {
			pthread_attr_setdetachstate(&attr,
			                            PTHREAD_CREATE_DETACHED);
			started =
			    pthread_create(&th, &attr, check_thread, c) == 0;
			pthread_attr_destroy(&attr);
		}
		/* Counted after the start: the thread's answer is handled on
		 * this loop, not before we return to it. */
		if (started) {
			a->checks++;
		} else {
			pkxd_reply_error(c->req, 503, "SERVICE_BUSY",
			                 "cannot check the password now (out "
			                 "of resources)");
			check_finish(a, c);
		}
	}
	if (a->queue_head && a->checks < AUTH_MAX_CHECKS && wake > now) {
		struct timeval tv = {
		    (time_t)((wake - now) / 1000000000u),
		    (suseconds_t)((wake - now) % 1000000000u / 1000u)};

		if (!a->throttle_ev)
			a->throttle_ev = evtimer_new(d->base, throttle_wake, d);
		if (a->throttle_ev)
			evtimer_add(a->throttle_ev, &tv);
	}
}

void pkxd_auth_stop(pkxd_daemon *d)
{
	pkxd_auth *a = d->auth;
	auth_check *c, *next;

	if (!a)
		return;
	/* Waiting logins are refused, delayed refusals sent now; the running
	 * ones finish (the daemon waits for their threads). */
	while ((c = a->queue_head)) {
		a->queue_head = c->next;
		a->queued--;
		pkxd_reply_error(c->req, 503, "SERVICE_BUSY",
		                 "the service is stopping");
		check_finish(a, c);
	}
	a->queue_tail = &a->queue_head;
	if (a->throttle_ev) {
		event_free(a->throttle_ev);
		a->throttle_ev = NULL;
	}
	for (c = a->active; c; c = next) {
		next = c->next_active;
		if (c->delay_ev) {
			refuse(c);
			check_finish(a, c);
		}
	}
}

static const char *string_member(json_t *o, const char *key, int *bad)
{
	json_t *v = json_object_get(o, key);

	if (v && !json_is_string(v))
		*bad = 1;
	return json_string_value(v);
}

static void peer_of(pkxh_req *req, char *buf, size_t len)
{
	snprintf(buf, len, "%s", pkxh_peer(req));
}

/* Logins from one address not answered yet. */
static int peer_logins(const pkxd_auth *a, const char *peer)
{
	const auth_check *c;
	int n = 0;

	for (c = a->active; c; c = c->next_active)
		n += strcmp(c->peer, peer) == 0;
	return n;
}

/* Refuses (400) a JSON body with a property not in known; 0 when it has
 * none. */
static int only_known(pkxh_req *req, json_t *body, const char *const *known,
                      const char *what)
{
	const char *key;
	json_t *v;

	json_object_foreach(body, key, v)
	{
		const char *const *k;

		(void)v;
		for (k = known; *k && strcmp(*k, key); k++)
			;
		if (!*k) {
			pkxd_reply_error(req, 400, PKX_EINVAL,
			                 "unknown property \"%.64s\" in %s",
			                 key, what);
			return -1;
		}
	}
	return 0;
}

/* Hands a password check to a thread (queued when AUTH_MAX_CHECKS run);
 * its verdict is answered by verified() or refuse().  Answers 503 itself
 * when the address has too many logins in progress or the queue is
 * full.  0 when queued. */
/* Logins of one account waiting in the queue (the connected ones). */
static int account_waiting(const pkxd_auth *a, const auth_throttle *t)
{
	const auth_check *c;
	int n = 0;

	for (c = a->queue_head; c; c = c->next)
		n += c->throttle == t && pkxh_connected(c->req);
	return n;
}

static int queue_check(pkxd_daemon *d, pkxh_req *req, enum auth_kind kind,
                       const char *user, const char *password,
                       const char *state, int want_refresh,
                       const unsigned char *digest)
{
	auth_check *c = calloc(1, sizeof(*c));
	int from_peer;
	size_t i;

	if (!c)
		goto oom;
	c->d = d;
	c->req = req;
	c->kind = kind;
	c->want_refresh = want_refresh;
	if (digest)
		memcpy(c->digest, digest, sizeof(c->digest));
	peer_of(req, c->peer, sizeof(c->peer));
	from_peer = peer_logins(d->auth, c->peer);
	if (from_peer >= AUTH_PER_PEER || d->auth->queued >= AUTH_MAX_QUEUED) {
		if (from_peer >= AUTH_PER_PEER)
			pkxd_reply_error(req, 503, "SERVICE_BUSY",
			                 "%d logins from %s are in progress "
			                 "already; wait for their answers",
			                 AUTH_PER_PEER, c->peer);
		else
			pkxd_reply_error(req, 503, "SERVICE_BUSY",
			                 "%d logins are waiting already; try "
			                 "again",
			                 AUTH_MAX_QUEUED);
		check_free(c);
		return -1;
	}
	snprintf(c->user, sizeof(c->user), "%s", user);
	/* An unknown user costs what the costliest known one does. */
	c->hash = d->auth->stand_in;
	c->throttle = &d->auth->unknown;
	for (i = 0; i < d->auth->n_users; i++)
		if (strcmp(d->auth->users[i].name, user) == 0) {
			c->hash = d->auth->users[i].hash;
			c->throttle = &d->auth->users[i].throttle;
			c->known = 1;
		}
	if (account_waiting(d->auth, c->throttle) >= AUTH_PER_ACCOUNT) {
		/* The same answer for a name known or not. */
		pkxd_reply_error(req, 503, "SERVICE_BUSY",
		                 "%d logins as %.64s are waiting already; try "
		                 "again later",
		                 AUTH_PER_ACCOUNT, c->user);
		check_free(c);
		return -1;
	}
	c->password = strdup(password);
	c->state = state ? strdup(state) : NULL;
	c->done_ev = event_new(d->base, -1, 0, check_done, c);
	if (!c->password || (state && !c->state) || !c->done_ev) {
		check_free(c);
		goto oom;
	}
	c->next_active = d->auth->active;
	d->auth->active = c;
	*d->auth->queue_tail = c;
	d->auth->queue_tail = &c->next;
	d->auth->queued++;
	start_checks(d);
	return 0;
oom:
	pkxd_reply_error(req, 503, "SERVICE_BUSY",
	                 "cannot check the password now (out of resources)");
	return -1;
}

/* POST /api/mgmt.aaa/2.0/token (and 1.0) */
static void token_request(pkxd_daemon *d, pkxh_req *req)
{
	static const char *const known[] = {"user_credentials", "refresh_token",
	                                    "generate_refresh_token", "state",
	                                    NULL};
	json_t *body = pkxd_read_body(req), *creds, *gen;
	const char *user, *password, *refresh, *state;
	int bad = 0, want_refresh;

	if (!body)
		return;
	if (only_known(req, body, known, "a token request") != 0)
		goto out;
	creds = json_object_get(body, "user_credentials");
	gen = json_object_get(body, "generate_refresh_token");
	refresh = string_member(body, "refresh_token", &bad);
	state = string_member(body, "state", &bad);
	if (bad || (gen && !json_is_boolean(gen)) ||
	    (creds && !json_is_object(creds))) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "refresh_token and state must be strings, "
		                 "generate_refresh_token a boolean, "
		                 "user_credentials an object");
		goto out;
	}
	want_refresh = gen && json_is_true(gen);
	if (!creds == !refresh) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "a token request carries user_credentials "
		                 "or a refresh_token (one of them)");
		goto out;
	}
	if (refresh) {
		auth_token *t = find_token(d->auth, refresh, AUTH_REFRESH);

		if (want_refresh) {
			pkxd_reply_error(
			    req, 400, PKX_EINVAL,
			    "generate_refresh_token cannot be true "
			    "with a refresh_token");
		} else if (!t || !user_known(d->auth, t->user)) {
			pkxd_reply_error(req, 401, "AUTH_INVALID_CREDENTIALS",
			                 "unknown or revoked refresh token");
		} else {
			t->redeemed++;
			t->last_redeemed_ns = pkx_wallclock_ns();
			grant(d, req, t->user, 0, state, t->grant);
		}
		goto out;
	}
	user = string_member(creds, "username", &bad);
	password = string_member(creds, "password", &bad);
	if (bad || !user || !password || json_object_size(creds) != 2) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "user_credentials holds a username and a "
		                 "password, both strings");
		goto out;
	}
	queue_check(d, req, AUTH_FOR_TOKEN, user, password, state, want_refresh,
	            NULL);
out:
	json_decref(body);
}

/* --------------------------------------------------------- refresh tokens */

static void list_refresh(pkxd_daemon *d, pkxh_req *req, const char *user)
{
	json_t *items = json_array();
	auth_token *t;

	codes_sync(d->auth);
	for (t = d->auth->tokens; t; t = t->next) {
		char partial[AUTH_PARTIAL + 1];
		if (t->kind != AUTH_REFRESH || strcmp(t->user, user) != 0)
			continue;
		memcpy(partial, t->partial, AUTH_PARTIAL);
		partial[AUTH_PARTIAL] = '\0';
		json_array_append_new(
		    items,
		    json_pack("{s:s, s:s, s:I, s:I, s:I}", "user", t->user,
		              "partial_token", partial, "issued_at",
		              (json_int_t)(t->issued_ns / 1000000000u),
		              "last_redeemed",
		              (json_int_t)(t->last_redeemed_ns / 1000000000u),
		              "times_redeemed", (json_int_t)t->redeemed));
	}
	pkxd_reply_json(req, 200, json_pack("{s:o}", "items", items));
}

static void revoke_refresh(pkxd_daemon *d, pkxh_req *req, const char *user)
{
	json_t *body = pkxd_read_body(req);
	const char *value;
	char digest[PKX_CODE_HEX + 1];
	auth_token **p;

	if (!body)
		return;
	value = json_string_value(json_object_get(body, "refresh_token"));
	if (!value || json_object_size(body) != 1) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "the body is {\"refresh_token\": TOKEN}");
		json_decref(body);
		return;
	}
	codes_sync(d->auth);
	pkx_code_digest(value, digest);
	for (p = &d->auth->tokens; *p; p = &(*p)->next)
		if ((*p)->kind == AUTH_REFRESH &&
		    same_secret((*p)->digest, digest) &&
		    strcmp((*p)->user, user) == 0)
			break;
	json_decref(body);
	if (!*p) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no refresh token of yours matches");
		return;
	}
	if (codes_remove(d->auth, digest) != 0) {
		pkxd_reply_error(req, 500, PKX_EIO,
		                 "the access-code file cannot be rewritten: "
		                 "the token stays valid");
		return;
	}
	/* The access tokens it gave (and the one given with it) go too. */
	drop_grant(d->auth, (*p)->grant);
	pkxh_reply(req, 204, NULL);
}

/* ------------------------------------------------------------- requests */

static void unauthorized(pkxh_req *req, const char *challenge, const char *id,
                         const char *text)
{
	evhttp_add_header(pkxh_out_headers(req), "WWW-Authenticate", challenge);
	pkxd_reply_error(req, 401, id, "%s", text);
}

/* The value of cookie name in a Cookie header, copied into out; 0 when
 * there is none. */
static int cookie_value(const char *header, const char *name, char *out,
                        size_t size)
{
	size_t n = strlen(name);
	const char *p = header;

	while (p && *p) {
		size_t len;

		while (*p == ' ' || *p == ';')
			p++;
		len = strcspn(p, ";");
		if (len > n && strncmp(p, name, n) == 0 && p[n] == '=') {
			len -= n + 1;
			if (len >= size)
				return 0;
			memcpy(out, p + n + 1, len);
			out[len] = '\0';
			while (len > 0 && out[len - 1] == ' ')
				out[--len] = '\0';
			return 1;
		}
		p = strchr(p, ';');
	}
	return 0;
}

/* A token as this service makes them: hex of AUTH_TOKEN_BYTES. */
static int token_shaped(const char *v)
{
	return strlen(v) == 2 * AUTH_TOKEN_BYTES &&
	       strspn(v, "0123456789abcdef") == 2 * AUTH_TOKEN_BYTES;
}

/* Basic credentials: "user:password" in base64, decoded into buf (NUL
 * terminated); *password points into it.  -1 when malformed. */
static int basic_credentials(const char *b64, char *buf, size_t size,
                             char **password)
{
	size_t len = strlen(b64), pad = 0;
	int n;
	char *colon;

	while (len > 0 && b64[len - 1] == ' ')
		len--;
	if (len == 0 || len % 4 || len / 4 * 3 + 1 > size)
		return -1;
	n = EVP_DecodeBlock((unsigned char *)buf, (const unsigned char *)b64,
	                    (int)len);
	if (n < 0)
		return -1;
	pad = (len >= 1 && b64[len - 1] == '=') +
	      (len >= 2 && b64[len - 2] == '=');
	n -= (int)pad;
	buf[n] = '\0';
	if ((int)strlen(buf) != n || !(colon = strchr(buf, ':')))
		return -1; /* a NUL inside, or no colon */
	*colon = '\0';
	*password = colon + 1;
	return 0;
}

int pkxd_auth_head(pkxd_daemon *d, pkxh_req *req)
{
	pkxd_auth *a = d->auth;
	const char *h = pkxh_header(req, "Authorization");
	const char *cookies = pkxh_header(req, "Cookie");
	char session[2 * AUTH_TOKEN_BYTES + 1];
	auth_token *t;

	if (!a) {
		/* No access control: any credentials, or none, get in. */
		pkxh_set_user(req, "admin");
		return 1;
	}
	if (h && strncasecmp(h, "Basic ", 6) == 0) {
		char buf[512], *password;
		unsigned char digest[32];
		const char *known;

		for (h += 6; *h == ' '; h++)
			;
		if (basic_credentials(h, buf, sizeof(buf), &password) != 0) {
			unauthorized(req, AUTH_BASIC_REALM,
			             "AUTH_INVALID_CREDENTIALS",
			             "malformed Basic credentials (base64 of "
			             "NAME:PASSWORD)");
			return 0;
		}
		basic_digest(a, buf, password, digest);
		if ((known = basic_known(a, digest))) {
			pkxh_set_user(req, known);
			explicit_bzero(buf, sizeof(buf));
			return 1;
		}
		/* Checked off the loop; the request waits, unread. */
		pkxh_defer_head(req);
		if (queue_check(d, req, AUTH_FOR_BASIC, buf, password, NULL, 0,
		                digest) != 0) {
			explicit_bzero(buf, sizeof(buf));
			return 0; /* answered */
		}
		explicit_bzero(buf, sizeof(buf));
		return 2;
	}
	if (h && strncasecmp(h, "Bearer ", 7) == 0) {
		for (h += 7; *h == ' '; h++)
			;
		if ((t = find_token(a, h, AUTH_ACCESS))) {
			pkxh_set_user(req, t->user);
			return 1;
		}
		/* Tokens live in memory: one of ours that is not known any
		 * more expired, was revoked, or dates from before a restart.
		 * Either way a client logs in again. */
		if (token_shaped(h))
			unauthorized(req,
			             AUTH_REALM ", error=\"invalid_token\"",
			             "AUTH_EXPIRED_TOKEN",
			             "the access token has expired (or the "
			             "service restarted): get a new one");
		else
			unauthorized(req,
			             AUTH_REALM ", error=\"invalid_token\"",
			             "AUTH_INVALID_TOKEN",
			             "this is not an access token of this "
			             "service");
		return 0;
	}
	if (h) {
		unauthorized(req, AUTH_REALM, "AUTH_REQUIRED",
		             "unknown authorization scheme: use Basic, Bearer "
		             "or a session cookie");
		return 0;
	}
	if (cookies &&
	    cookie_value(cookies, AUTH_COOKIE, session, sizeof(session))) {
		if ((t = find_token(a, session, AUTH_SESSION))) {
			pkxh_set_user(req, t->user);
			return 1;
		}
		unauthorized(req, AUTH_REALM, "AUTH_INVALID_SESSION",
		             "the session has ended (logged out, expired, or "
		             "the service restarted): log in again");
		return 0;
	}
	unauthorized(req, AUTH_REALM, "AUTH_REQUIRED",
	             "this request needs credentials: HTTP Basic, a session "
	             "cookie (POST /api/common/1.0/login) or a bearer token "
	             "(POST /api/mgmt.aaa/2.0/token)");
	return 0;
}

/* POST /api/common/1.0/login */
void pkxd_auth_login(pkxd_daemon *d, pkxh_req *req)
{
	static const char *const known[] = {"username", "password", "purpose",
	                                    NULL};
	json_t *body = pkxd_read_body(req);
	const char *user, *password;
	int bad = 0;

	if (!body)
		return;
	if (only_known(req, body, known, "a login") != 0)
		goto out;
	user = string_member(body, "username", &bad);
	password = string_member(body, "password", &bad);
	string_member(body, "purpose", &bad);
	if (bad || !user || !password) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "a login holds a username and a password (and "
		                 "optionally a purpose), all strings");
		goto out;
	}
	if (!d->auth)
		open_session(d, req, user); /* no access control: a token one */
	else
		queue_check(d, req, AUTH_FOR_SESSION, user, password, NULL, 0,
		            NULL);
out:
	json_decref(body);
}

/* POST /api/common/1.0/logout: the session of the request's cookie ends. */
void pkxd_auth_logout(pkxd_daemon *d, pkxh_req *req)
{
	const char *cookies = pkxh_header(req, "Cookie");
	char session[2 * AUTH_TOKEN_BYTES + 1];
	auth_token **p;

	if (d->auth && cookies &&
	    cookie_value(cookies, AUTH_COOKIE, session, sizeof(session)))
		for (p = &d->auth->tokens; *p; p = &(*p)->next)
			if ((*p)->kind == AUTH_SESSION &&
			    same_secret((*p)->value, session)) {
				auth_token *t = *p;

				*p = t->next;
				pkx_log(PKX_LOG_INFO, "pktexportd",
				        "%s: session closed", t->user);
				token_free(t);
				break;
			}
	evhttp_add_header(pkxh_out_headers(req), "Set-Cookie",
	                  AUTH_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; "
	                              "Max-Age=0");
	pkxh_reply(req, 204, NULL);
}

int pkxd_auth_is_admin(const pkxd_daemon *d, const char *user)
{
	size_t i;

	if (!d->auth)
		return 1; /* no access control: everyone is */
	for (i = 0; i < d->auth->n_users; i++)
		if (strcmp(d->auth->users[i].name, user) == 0)
			return d->auth->users[i].admin;
	return 0;
}

/* POST /api/common/1.0/oauth/token: the OAuth 2.0 exchange the vendor's
 * client makes with an access code (form-encoded: grant_type=access_code,
 * assertion=HEADER.CODE.SIGNATURE, state).  An access code is a refresh
 * token of this service (mgmt.aaa token with generate_refresh_token):
 * long-lived, revocable, traded here for an access token. */
void pkxd_auth_oauth_token(pkxd_daemon *d, pkxh_req *req)
{
	struct evbuffer *in = pkxh_body(req);
	size_t len = evbuffer_get_length(in);
	struct evkeyvalq form;
	char *text = malloc(len + 1), *code = NULL, *dot;
	const char *grant_type, *assertion, *state;
	auth_token *t;

	TAILQ_INIT(&form);
	if (!text) {
		pkxd_reply_error(req, 503, "SERVICE_BUSY", "out of memory");
		return;
	}
	evbuffer_copyout(in, text, len);
	text[len] = '\0';
	if (strlen(text) != len || evhttp_parse_query_str(text, &form) != 0) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "the body is not a form "
		                 "(application/x-www-form-urlencoded)");
		goto out;
	}
	grant_type = evhttp_find_header(&form, "grant_type");
	assertion = evhttp_find_header(&form, "assertion");
	state = evhttp_find_header(&form, "state");
	if (!grant_type || strcmp(grant_type, "access_code") != 0 ||
	    !assertion) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "expected grant_type=access_code and an "
		                 "assertion (HEADER.ACCESS_CODE.SIGNATURE)");
		goto out;
	}
	/* The code is the assertion's middle part. */
	if (!(dot = strchr(assertion, '.')) || !(code = strdup(dot + 1)) ||
	    !(dot = strchr(code, '.'))) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "the assertion is not HEADER.ACCESS_CODE."
		                 "SIGNATURE");
		goto out;
	}
	*dot = '\0';
	if (!d->auth) {
		/* No access control: any code gets a token nothing checks. */
		pkxd_reply_json(req, 200,
		                json_pack("{s:s, s:s, s:s?}", "access_token",
		                          "none", "token_type", "bearer",
		                          "state", state));
		goto out;
	}
	if (!(t = find_token(d->auth, code, AUTH_REFRESH)) ||
	    !user_known(d->auth, t->user)) {
		/* A code of a user no longer in the users file is no code. */
		pkxd_reply_error(req, 401, "AUTH_INVALID_CREDENTIALS",
		                 "unknown or revoked access code");
		goto out;
	}
	t->redeemed++;
	t->last_redeemed_ns = pkx_wallclock_ns();
	grant(d, req, t->user, 0, state, t->grant);
out:
	if (code)
		explicit_bzero(code, strlen(code));
	free(code);
	explicit_bzero(text, len);
	free(text);
	evhttp_clear_headers(&form);
}

json_t *pkxd_auth_info(const pkxd_daemon *d)
{
	/* What works: Basic, cookie sessions and OAuth access codes (the
	 * common definition names it OAUTH_2_0, the vendor's client looks
	 * for OAUTH2.0: both are listed); without --users any credentials
	 * get in. */
	json_t *methods = json_pack("[s, s, s, s]", "BASIC", "COOKIE",
	                            "OAUTH_2_0", "OAUTH2.0");

	(void)d;
	return json_pack("{s:s, s:b, s:o}", "login_banner", "",
	                 "specify_purpose", 0, "supported_methods", methods);
}

void pkxd_auth_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                   pkxh_method m)
{
	const char *user = pkxh_user(req);

	if (!d->auth) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "access control is off on this service "
		                 "(pktexportd --users FILE turns it on)");
		return;
	}
	if (strcmp(rest, "token") == 0) {
		if (m != PKXH_POST)
			pkxd_reply_not_allowed(req, "POST");
		else
			token_request(d, req);
		return;
	}
	if (strcmp(rest, "refresh_tokens") &&
	    strcmp(rest, "refresh_tokens/revoke")) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no resource /api/mgmt.aaa/2.0/%.64s", rest);
		return;
	}
	/* Authenticated from the head (pkxd_auth_head). */
	if (strcmp(rest, "refresh_tokens") == 0) {
		if (m != PKXH_GET && m != PKXH_HEAD)
			pkxd_reply_not_allowed(req, "GET");
		else
			list_refresh(d, req, user);
	} else if (m != PKXH_POST) {
		pkxd_reply_not_allowed(req, "POST");
	} else {
		revoke_refresh(d, req, user);
	}
}
