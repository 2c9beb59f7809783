/* The command line's inputs (-r FILE, repeatable; -r - for standard
 * input): files anywhere the user can read, opened by the CLI itself (the
 * data root confines the daemon's paths, not the local user's), read by
 * the fs/ source plugin through descriptors handed to it, and merged by
 * time as mergecap does.  gzip and zstd captures are decompressed on a
 * thread into a pipe; so is standard input when it is not a file.  No
 * sidecar index is made for them: the inner sources see no window. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_ZLIB
#include <zlib.h>
#endif
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

#include "cli_input.h"

#define CI_ROOT   "-r"
#define CI_BASE   "-r/fs"
#define CI_CHUNK  (1u << 18)
#define CI_PREFIX "-r/"

enum { CI_PLAIN, CI_GZIP, CI_ZSTD };

typedef struct ci_input {
	char *shown; /* as typed ("-" for standard input) */
	int fd;      /* what the file source reads (handed over once) */
	int src;     /* the feeder's input, -1 without a feeder */
	int wfd;     /* the feeder's end of the pipe */
	int kind;
	uint64_t size; /* of the file as typed, 0 when unknown */
	atomic_uint_least64_t consumed;
	uint8_t peek[4];
	size_t n_peek;
	uint8_t magic[4]; /* the first bytes of the capture itself */
	atomic_int have_magic;
	pthread_t feeder;
	int has_feeder;
	atomic_int fed; /* the feeder has ended (no cancel needed) */
	/* The feeder's buffers, kept here too: a feeder cancelled while
	 * blocked on a pipe (an interrupted command) cannot free them, and
	 * ci_close_all() does. */
	uint8_t *raw, *out;
	char why[256]; /* the feeder's failure */
	/* during a run */
	void *inst;
	pkx_packet head;
	int has_head, done;
	uint32_t *map; /* inner interface -> merged interface */
	size_t n_map;
} ci_input;

static ci_input *ci;
static size_t ci_n;
static const pkx_source_plugin *ci_inner;
static const pkx_services *ci_svc;

static void ci_set_magic(ci_input *in, const uint8_t *p, size_t n)
{
	if (atomic_load(&in->have_magic) || n < 4)
		return;
	memcpy(in->magic, p, 4);
	atomic_store(&in->have_magic, 1);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The next raw bytes of the input: the peeked ones first. */
static ssize_t feed_read(ci_input *in, uint8_t *buf, size_t cap)
{
	ssize_t n;

	if (in->n_peek) {
		n = (ssize_t)in->n_peek;
		memcpy(buf, in->peek, in->n_peek);
		in->n_peek = 0;
		return n;
	}
	do
		n = read(in->src, buf, cap);
	while (n < 0 && errno == EINTR);
	if (n > 0)
		atomic_fetch_add(&in->consumed, (uint64_t)n);
	return n;
}

static void *feeder(void *arg)
{
	ci_input *in = arg;
	uint8_t *raw = malloc(CI_CHUNK), *out = malloc(CI_CHUNK);
	ssize_t n;

	in->raw = raw;
	in->out = out;

	if (!raw || !out) {
		snprintf(in->why, sizeof(in->why), "out of memory");
		goto done;
	}
	if (in->kind == CI_PLAIN) {
		while ((n = feed_read(in, raw, CI_CHUNK)) > 0) {
			ci_set_magic(in, raw, (size_t)n);
			if (write_all(in->wfd, raw, (size_t)n) != 0)
				goto done; /* the reader has gone */
		}
		if (n < 0)
			snprintf(in->why, sizeof(in->why), "read: %s",
			         strerror(errno));
	}
#ifdef HAVE_ZLIB
	else if (in->kind == CI_GZIP) {
		z_stream z;
		int r = Z_OK;

		memset(&z, 0, sizeof(z));
		if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
			snprintf(in->why, sizeof(in->why), "zlib init failed");
			goto done;
		}
		for (;;) {
			if (z.avail_in == 0) {
				n = feed_read(in, raw, CI_CHUNK);
				if (n < 0) {
					snprintf(in->why, sizeof(in->why),
					         "read: %s", strerror(errno));
					break;
				}
				if (n == 0) {
					if (r != Z_STREAM_END)
						snprintf(in->why,
						         sizeof(in->why),
						         "the gzip data ends "
						         "early");
					break;
				}
				z.next_in = raw;
				z.avail_in = (uInt)n;
			}
			if (r == Z_STREAM_END) /* another member follows */
				inflateReset(&z);
			z.next_out = out;
			z.avail_out = CI_CHUNK;
			r = inflate(&z, Z_NO_FLUSH);
			if (r != Z_OK && r != Z_STREAM_END &&
			    r != Z_BUF_ERROR) {
				snprintf(in->why, sizeof(in->why),
				         "bad gzip data: %s",
				         z.msg ? z.msg : "inflate failed");
				break;
			}
			ci_set_magic(in, out, CI_CHUNK - z.avail_out);
			if (write_all(in->wfd, out, CI_CHUNK - z.avail_out))
				break;
		}
		inflateEnd(&z);
	}
#endif
#ifdef HAVE_ZSTD
	else if (in->kind == CI_ZSTD) {
		ZSTD_DCtx *d = ZSTD_createDCtx();
		size_t r = 0;

		while (d && (n = feed_read(in, raw, CI_CHUNK)) > 0) {
			ZSTD_inBuffer ib = {raw, (size_t)n, 0};

			while (ib.pos < ib.size) {
				ZSTD_outBuffer ob = {out, CI_CHUNK, 0};

				r = ZSTD_decompressStream(d, &ob, &ib);
				if (ZSTD_isError(r)) {
					snprintf(in->why, sizeof(in->why),
					         "bad zstd data: %s",
					         ZSTD_getErrorName(r));
					goto zdone;
				}
				ci_set_magic(in, out, ob.pos);
				if (write_all(in->wfd, out, ob.pos))
					goto zdone;
			}
		}
		if (r != 0 && !in->why[0])
			snprintf(in->why, sizeof(in->why),
			         "the zstd data ends early");
	zdone:
		ZSTD_freeDCtx(d);
	}
#endif
done:
	/* From here on the feeder ends by itself: a cancel now would unwind
	 * it from close() with its frame still marked (AddressSanitizer then
	 * reports the thread's own exit), and would gain nothing. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	in->raw = in->out = NULL;
	free(raw);
	free(out);
	close(in->wfd); /* the reader sees the end */
	in->wfd = -1;
	atomic_store(&in->fed, 1);
	return NULL;
}

void ci_add(const char *path)
{
	ci_input *grown = realloc(ci, (ci_n + 1) * sizeof(*ci));

	if (!grown)
		abort();
	ci = grown;
	memset(&ci[ci_n], 0, sizeof(ci[ci_n]));
	ci[ci_n].shown = strdup(path);
	ci[ci_n].fd = ci[ci_n].src = ci[ci_n].wfd = -1;
	ci_n++;
}

size_t ci_count(void)
{
	return ci_n;
}

/* Opens every input: a plain file is read directly, anything else
 * through a feeder thread and a pipe. */
int ci_open_all(pkx_error *err)
{
	size_t i;

	for (i = 0; i < ci_n; i++) {
		ci_input *in = &ci[i];
		struct stat st;
		int fd, p[2];
		ssize_t n;

		if (strcmp(in->shown, "-") == 0)
			fd = dup(STDIN_FILENO);
		else
			fd = open(in->shown, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) != 0) {
			pkx_fail(err,
			         errno == ENOENT ? "RESOURCE_NOT_FOUND"
			                         : "REQUEST_INVALID_INPUT",
			         "-r %s: %s", in->shown, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			pkx_fail(err, "REQUEST_INVALID_INPUT",
			         "-r %s is a folder: give a capture file",
			         in->shown);
			return -1;
		}
		if (S_ISREG(st.st_mode)) {
			in->size = (uint64_t)st.st_size;
			n = pread(fd, in->peek, 4, 0);
		} else {
			n = read(fd, in->peek, 4);
			if (n > 0)
				in->n_peek = (size_t)n;
			/* a short first read: the feeder reads on */
		}
		if (n >= 2 && in->peek[0] == 0x1f && in->peek[1] == 0x8b)
			in->kind = CI_GZIP;
		else if (n == 4 && memcmp(in->peek, "\x28\xb5\x2f\xfd", 4) == 0)
			in->kind = CI_ZSTD;
#ifndef HAVE_ZLIB
		if (in->kind == CI_GZIP) {
			close(fd);
			pkx_fail(err, "REQUEST_INVALID_INPUT",
			         "-r %s is gzip-compressed, and this pktexport "
			         "was built without zlib: gunzip it first",
			         in->shown);
			return -1;
		}
#endif
#ifndef HAVE_ZSTD
		if (in->kind == CI_ZSTD) {
			close(fd);
			pkx_fail(err, "REQUEST_INVALID_INPUT",
			         "-r %s is zstd-compressed, and this pktexport "
			         "was built without libzstd: unzstd it first",
			         in->shown);
			return -1;
		}
#endif
		if (S_ISREG(st.st_mode) && in->kind == CI_PLAIN) {
			in->fd = fd;
			if (n == 4)
				ci_set_magic(in, in->peek, 4);
			continue;
		}
		if (pipe2(p, O_CLOEXEC) != 0) {
			close(fd);
			pkx_fail(err, PKX_EINTERNAL, "pipe: %s",
			         strerror(errno));
			return -1;
		}
		in->src = fd;
		in->fd = p[0];
		in->wfd = p[1];
		if (pthread_create(&in->feeder, NULL, feeder, in) != 0) {
			close(p[0]);
			close(p[1]);
			pkx_fail(err, PKX_EINTERNAL, "cannot start a thread");
			return -1;
		}
		in->has_feeder = 1;
	}
	return 0;
}

void ci_close_all(void)
{
	size_t i;

	for (i = 0; i < ci_n; i++) {
		if (ci[i].fd >= 0)
			close(ci[i].fd);
		/* A feeder that ended, or ends now that its pipe's reader has
		 * gone (its write fails), is joined; one still waiting for its
		 * input (a pipe that stays open) is cancelled. */
		if (ci[i].has_feeder && atomic_load(&ci[i].fed)) {
			pthread_join(ci[i].feeder, NULL);
		} else if (ci[i].has_feeder) {
			struct timespec until;

			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += 200000000;
			if (until.tv_nsec >= 1000000000) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000;
			}
			if (pthread_timedjoin_np(ci[i].feeder, NULL, &until) !=
			    0) {
				pthread_cancel(ci[i].feeder);
				pthread_join(ci[i].feeder, NULL);
			}
			/* A feeder cancelled in a read or a write left its
			 * buffers (one that ended freed them: NULL). */
			free(ci[i].raw);
			free(ci[i].out);
		}
		if (ci[i].src >= 0)
			close(ci[i].src);
		free(ci[i].shown);
		free(ci[i].map);
	}
	free(ci);
	ci = NULL;
	ci_n = 0;
}

/* ----------------------------------------------- the merging source */

typedef struct ci_merge {
	pkx_source_info info;
	pkx_interface *ifs;
	size_t n_ifs, cap;
	ssize_t last; /* the input whose packet went out last, or -1 */
} ci_merge;

/* open_under_root for the inner sources: "-r/fs" and "N" is input N. */
static int ci_opener(const char *root, const char *rel, pkx_error *err)
{
	char *end;
	unsigned long i;
	int fd;

	if (strcmp(root, CI_BASE) != 0)
		return -2;
	i = strtoul(rel, &end, 10);
	if (*end || i >= ci_n || ci[i].fd < 0) {
		pkx_fail(err, PKX_EINTERNAL, "no input %s", rel);
		return -1;
	}
	fd = ci[i].fd;
	ci[i].fd = -1; /* the source owns it now */
	return fd;
}

/* The inner source's error, naming the file as the user typed it (and
 * the feeder's reason, when it failed first). */
static void ci_explain(size_t i, const pkx_error *why, pkx_error *err)
{
	char inner[32], text[sizeof(err->text) + 256], *svc;
	const char *at;

	snprintf(inner, sizeof(inner), "fs/%zu", i);
	at = strstr(why->text, inner);
	if (at && at[strlen(inner)] == '"')
		snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - why->text),
		         why->text, ci[i].shown, at + strlen(inner));
	else
		snprintf(text, sizeof(text), "%s: %s", ci[i].shown, why->text);
	/* The plugin speaks for the daemon; here it is this command. */
	if ((svc = strstr(text, " this service can read")) != NULL) {
		char tail[sizeof(text)];

		snprintf(tail, sizeof(tail), "%s",
		         svc + strlen(" this service"));
		snprintf(svc, sizeof(text) - (size_t)(svc - text),
		         " pktexport%s", tail);
	}
	if (ci[i].has_feeder &&
	    strstr(why->text, "different from the type of the first "
	                      "interface"))
		/* libpcap's limit, not damage: a stream it reads keeps the
		 * first interface's link type. */
		pkx_fail(err, PKX_EINVAL,
		         "-r %s: this pcapng holds interfaces of several link "
		         "types, which pktexport reads from a plain file only "
		         "(a compressed file or a pipe is read by libpcap, "
		         "which takes one link type): decompress it to a file "
		         "first",
		         ci[i].shown);
	else if (ci[i].why[0])
		pkx_fail(err, why->id[0] ? why->id : "SOURCE_DAMAGED",
		         "-r %s: %s", ci[i].shown, ci[i].why);
	else
		pkx_fail(err, why->id[0] ? why->id : "SOURCE_DAMAGED", "%s",
		         text);
}

/* Whether one of in's first n interfaces is merged interface k. */
static int ci_maps_to(const ci_input *in, size_t n, size_t k)
{
	size_t j;

	for (j = 0; j < n; j++)
		if (in->map[j] == k)
			return 1;
	return 0;
}

/* Maps input i's interfaces not mapped yet: one merged interface per
 * link type and name across inputs (so two pcap files of one link type
 * stay one interface, as mergecap makes them), the largest snap length
 * and the finest resolution.  The interfaces of one input never merge:
 * interface i of a single -r file is interface i of the output. */
static int ci_sync(ci_merge *m, size_t i)
{
	const pkx_source_info *info = ci_inner->info(ci[i].inst);
	size_t j, k;

	if (info->n_interfaces <= ci[i].n_map)
		return 0;
	{
		uint32_t *map =
		    realloc(ci[i].map, info->n_interfaces * sizeof(*map));

		if (!map)
			return -1;
		ci[i].map = map;
	}
	for (j = ci[i].n_map; j < info->n_interfaces; j++) {
		const pkx_interface *f = &info->interfaces[j];

		for (k = 0; k < m->n_ifs; k++)
			if (m->ifs[k].linktype == f->linktype &&
			    strcmp(m->ifs[k].name, f->name) == 0 &&
			    !ci_maps_to(&ci[i], j, k))
				break;
		if (k == m->n_ifs) {
			if (m->n_ifs == m->cap) {
				size_t cap = m->cap ? m->cap * 2 : 4;
				pkx_interface *g =
				    realloc(m->ifs, cap * sizeof(*g));

				if (!g)
					return -1;
				m->ifs = g;
				m->cap = cap;
			}
			m->ifs[k] = *f;
			m->n_ifs++;
		} else {
			if (f->snaplen > m->ifs[k].snaplen || f->snaplen == 0)
				m->ifs[k].snaplen = f->snaplen;
			if (f->tsresol > m->ifs[k].tsresol)
				m->ifs[k].tsresol = f->tsresol;
		}
		ci[i].map[j] = (uint32_t)k;
	}
	ci[i].n_map = info->n_interfaces;
	m->info.interfaces = m->ifs;
	m->info.n_interfaces = m->n_ifs;
	return 0;
}

static pkx_result ci_refill(ci_merge *m, size_t i, pkx_error *err)
{
	pkx_error why = {"", ""};
	pkx_result r = ci_inner->next(ci[i].inst, &ci[i].head, &why);

	if (r == PKX_OK) {
		if (ci_sync(m, i) != 0)
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
		ci[i].head.ifindex = ci[i].map[ci[i].head.ifindex];
		ci[i].has_head = 1;
		return PKX_OK;
	}
	if (r == PKX_END) {
		if (ci[i].has_feeder) {
			/* the feeder has closed its end: its verdict is in */
			if (ci[i].why[0]) {
				ci_explain(i, &why, err);
				return PKX_ERROR;
			}
		}
		ci[i].done = 1;
		return PKX_OK;
	}
	ci_explain(i, &why, err);
	return PKX_ERROR;
}

static pkx_result ci_open(const pkx_source_args *args, void **instance,
                          pkx_error *err)
{
	ci_merge *m = calloc(1, sizeof(*m));
	size_t i;

	if (!m)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	m->last = -1;
	for (i = 0; i < ci_n; i++) {
		pkx_source_args a = *args;
		pkx_error why = {"", ""};
		char path[32];

		snprintf(path, sizeof(path), "fs/%zu", i);
		a.root = CI_ROOT;
		a.path = path;
		a.windows = NULL; /* the whole file: no sidecar index */
		a.n_windows = 0;
		a.prefilter = NULL;
		a.flags = 0;
		if (ci_inner->open(&a, &ci[i].inst, &why) != PKX_OK) {
			ci[i].inst = NULL;
			ci_explain(i, &why, err);
			goto fail;
		}
		if (ci_sync(m, i) != 0) {
			pkx_fail(err, PKX_EINTERNAL, "out of memory");
			goto fail;
		}
		m->info.total_bytes += ci[i].size;
	}
	*instance = m;
	return PKX_OK;
fail:
	for (i = 0; i < ci_n; i++)
		if (ci[i].inst) {
			ci_inner->close(ci[i].inst);
			ci[i].inst = NULL;
		}
	free(m->ifs);
	free(m);
	return PKX_ERROR;
}

static const pkx_source_info *ci_info(void *instance)
{
	return &((ci_merge *)instance)->info;
}

static pkx_result ci_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	ci_merge *m = instance;
	ssize_t best = -1;
	size_t i;

	/* The packet handed out last is done with: only now may its input
	 * move on (the others' packets stay where they are). */
	for (i = 0; i < ci_n; i++)
		if (!ci[i].has_head && !ci[i].done &&
		    ci_refill(m, i, err) != PKX_OK)
			return PKX_ERROR;
	for (i = 0; i < ci_n; i++)
		if (ci[i].has_head &&
		    (best < 0 || ci[i].head.ts_ns < ci[best].head.ts_ns))
			best = (ssize_t)i;
	if (best < 0)
		return PKX_END;
	*pkt = ci[best].head;
	ci[best].has_head = 0;
	m->last = best;
	return PKX_OK;
}

static uint64_t ci_position(void *instance)
{
	uint64_t pos = 0;
	size_t i;

	(void)instance;
	for (i = 0; i < ci_n; i++) {
		if (ci[i].has_feeder)
			pos += atomic_load(&ci[i].consumed);
		else if (ci[i].inst && ci_inner->position)
			pos += ci_inner->position(ci[i].inst);
	}
	return pos;
}

static void ci_close(void *instance)
{
	ci_merge *m = instance;
	size_t i;

	for (i = 0; i < ci_n; i++)
		if (ci[i].inst) {
			ci_inner->close(ci[i].inst);
			ci[i].inst = NULL;
		}
	free(m->ifs);
	free(m);
}

static pkx_result ci_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	ci_svc = svc;
	return PKX_OK;
}

static const char *const ci_claims[] = {CI_PREFIX, NULL};

static const pkx_source_plugin ci_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, "cli-inputs",
                      PACKAGE_VERSION, "the command line's -r files", ci_claims,
                      ci_init, NULL),
    .open = ci_open,
    .info = ci_info,
    .next = ci_next,
    .position = ci_position,
    .close = ci_close,
};

int ci_register(pkx_registry *reg, pkx_error *err)
{
	ci_inner = pkx_registry_source(reg, "fs/x");
	if (!ci_inner) {
		pkx_fail(err, PKX_EINTERNAL,
		         "no plugin reads capture files (source-file)");
		return -1;
	}
	if (pkx_registry_add_builtin(reg, &ci_plugin.header, err) != PKX_OK)
		return -1;
	pkx_services_set_opener(ci_opener);
	return 0;
}

const char *ci_path(void)
{
	return CI_PREFIX "inputs";
}

/* What the inputs are: a classic pcap file of micro- or nanoseconds, or
 * pcapng; the finest resolution wins, one pcapng makes pcapng. */
void ci_kind(int *pcapng, int *nanosecond)
{
	size_t i;

	*pcapng = *nanosecond = 0;
	for (i = 0; i < ci_n; i++) {
		const uint8_t *mg = ci[i].magic;

		if (!atomic_load(&ci[i].have_magic))
			continue;
		if (memcmp(mg, "\x0a\x0d\x0d\x0a", 4) == 0) {
			*pcapng = 1;
			/* Through a pipe libpcap reads it and says nothing
			 * of its resolution: nanoseconds lose nothing. */
			if (ci[i].has_feeder)
				*nanosecond = 1;
		} else if (memcmp(mg, "\x4d\x3c\xb2\xa1", 4) == 0 ||
		           memcmp(mg, "\xa1\xb2\x3c\x4d", 4) == 0)
			*nanosecond = 1;
	}
}
