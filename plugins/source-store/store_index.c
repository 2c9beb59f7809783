/* Time indexes of capture files: building, the file format, locating a
 * time (see store_index.h and doc/store.md). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_index.h"

#define SX_MAGIC "PKXINDEX"
/* 2: the capture's ctime, device and inode at 224 (version 1 indexes,
 * trusted on size and mtime alone, are rebuilt). */
#define SX_VERSION 2
#define SX_HEADER  256
#define SX_ENTRY   32
/* An index claiming more entries than this is not one of ours. */
#define SX_MAX_ENTRIES (1u << 26)

uint64_t sx_mtime_ns(const struct stat *st)
{
	return (uint64_t)st->st_mtim.tv_sec * 1000000000u +
	       (uint64_t)st->st_mtim.tv_nsec;
}

void sx_identity_set(sx_summary *s, const struct stat *st)
{
	s->size = (uint64_t)st->st_size;
	s->mtime_ns = sx_mtime_ns(st);
	s->ctime_ns = (uint64_t)st->st_ctim.tv_sec * 1000000000u +
	              (uint64_t)st->st_ctim.tv_nsec;
	s->dev = (uint64_t)st->st_dev;
	s->ino = (uint64_t)st->st_ino;
}

int sx_identity_same(const sx_summary *s, const struct stat *st)
{
	sx_summary now;

	sx_identity_set(&now, st);
	return s->size == now.size && s->mtime_ns == now.mtime_ns &&
	       s->ctime_ns == now.ctime_ns && s->dev == now.dev &&
	       s->ino == now.ino;
}

void sx_index_init(sx_index *ix)
{
	memset(ix, 0, sizeof(*ix));
	ix->sum.flags = SX_ORDERED;
}

void sx_index_free(sx_index *ix)
{
	free(ix->entries);
	ix->entries = NULL;
	ix->n_entries = ix->cap = 0;
}

int sx_index_add(sx_index *ix, uint64_t offset, uint64_t ts, uint32_t caplen)
{
	sx_summary *s = &ix->sum;

	if (s->packets == 0) {
		s->first_ns = s->last_ns = ts;
	} else {
		if (ts < s->last_ns)
			s->flags &= ~(uint32_t)SX_ORDERED;
		if (ts < s->first_ns)
			s->first_ns = ts;
	}
	if (offset >= ix->next_mark) {
		if (ix->n_entries == ix->cap) {
			size_t ncap = ix->cap ? ix->cap * 2 : 256;
			sx_entry *n = realloc(ix->entries, ncap * sizeof(*n));

			if (!n)
				return -1;
			ix->entries = n;
			ix->cap = ncap;
		}
		ix->entries[ix->n_entries++] =
		    (sx_entry){ts, offset, s->packets, s->bytes};
		ix->next_mark = offset + SX_STRIDE;
	}
	if (ts > s->last_ns)
		s->last_ns = ts;
	s->packets++;
	s->bytes += caplen;
	return 0;
}

/* Adds the records r reads from where it stands, then notes where they
 * stop and why: damage, except a record the end of a growing file cuts
 * (one not wholly written yet). */
static int sx_index_records(cf_reader *r, sx_index *ix, int growing)
{
	cf_record rec;
	int rc;

	while ((rc = cf_next(r, &rec)) == 1)
		if (sx_index_add(ix, rec.offset, rec.ts_ns, rec.caplen) != 0)
			return -1;
	ix->sum.end_offset = cf_tell(r);
	if (rc < 0 && !(growing && cf_cut(r))) {
		ix->sum.flags |= SX_DAMAGED;
		snprintf(ix->damage, sizeof(ix->damage), "%.120s", cf_error(r));
	}
	if (cf_layout_changed(r))
		ix->sum.flags |= SX_LINEAR;
	return 0;
}

int sx_index_scan(int fd, const struct stat *st, sx_index *ix)
{
	char err[256];
	cf_reader *r;
	int rc;

	sx_index_init(ix);
	sx_identity_set(&ix->sum, st);
	r = cf_open(fd, ix->sum.size, err, sizeof(err));
	if (!r) {
		/* Nothing of it can be read: a file of no records. */
		ix->sum.flags |= SX_DAMAGED;
		snprintf(ix->damage, sizeof(ix->damage), "%.120s", err);
		return 0;
	}
	ix->sum.format = (uint32_t)cf_format(r);
	ix->sum.data_offset = cf_data_offset(r);
	rc = sx_index_records(r, ix, 0);
	cf_close(r);
	return rc;
}

int sx_index_extend(int fd, const struct stat *st, sx_index *ix)
{
	char err[256];
	cf_reader *r;
	int rc, fresh = ix->sum.packets == 0 && ix->sum.end_offset == 0;
	uint32_t keep = ix->sum.flags & (SX_ORDERED | SX_GROWING);

	sx_identity_set(&ix->sum, st);
	r = cf_open(fd, ix->sum.size, err, sizeof(err));
	if (!r) {
		/* Not even a whole header yet: no records so far. */
		ix->sum.flags = keep | SX_GROWING;
		return 0;
	}
	if (fresh) {
		ix->sum.format = (uint32_t)cf_format(r);
		ix->sum.data_offset = ix->sum.end_offset = cf_data_offset(r);
	}
	ix->sum.flags = keep | SX_GROWING;
	ix->damage[0] = '\0';
	cf_seek(r, ix->sum.end_offset);
	rc = sx_index_records(r, ix, 1);
	cf_close(r);
	return rc;
}

/* FNV-1a, 64 bits: catches an index file that was cut or scribbled on. */
uint64_t sx_hash(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

/* A header's numeric fields: where each stands in the header, its width
 * (4 or 8 bytes) and where it is in the struct.  Index and rollup
 * headers are both packed and unpacked from such a table. */
typedef struct sx_field {
	uint16_t at, width, off;
} sx_field;

static void sx_put_fields(uint8_t *b, const sx_field *f, size_t n,
                          const void *obj)
{
	const uint8_t *o = obj;
	size_t i;

	for (i = 0; i < n; i++) {
		if (f[i].width == 4) {
			uint32_t v;

			memcpy(&v, o + f[i].off, 4);
			put32(b + f[i].at, v);
		} else {
			uint64_t v;

			memcpy(&v, o + f[i].off, 8);
			put64(b + f[i].at, v);
		}
	}
}

static void sx_get_fields(const uint8_t *b, const sx_field *f, size_t n,
                          void *obj)
{
	uint8_t *o = obj;
	size_t i;

	for (i = 0; i < n; i++) {
		if (f[i].width == 4) {
			uint32_t v = get32(b + f[i].at);

			memcpy(o + f[i].off, &v, 4);
		} else {
			uint64_t v = get64(b + f[i].at);

			memcpy(o + f[i].off, &v, 8);
		}
	}
}

/* clang-format off */
#define SX_F32(at, type, m) {at, 4, offsetof(type, m)}
#define SX_F64(at, type, m) {at, 8, offsetof(type, m)}
/* clang-format on */
#define SX_NFIELDS(t) (sizeof(t) / sizeof((t)[0]))

static const sx_field sx_index_fields[] = {
    SX_F32(12, sx_summary, flags),      SX_F64(16, sx_summary, size),
    SX_F64(24, sx_summary, mtime_ns),   SX_F64(32, sx_summary, data_offset),
    SX_F64(40, sx_summary, end_offset), SX_F64(48, sx_summary, packets),
    SX_F64(56, sx_summary, bytes),      SX_F64(64, sx_summary, first_ns),
    SX_F64(72, sx_summary, last_ns),    SX_F32(92, sx_summary, format),
    SX_F64(224, sx_summary, ctime_ns),  SX_F64(232, sx_summary, dev),
    SX_F64(240, sx_summary, ino)};

static void sx_header_pack(const sx_index *ix, uint8_t *h)
{
	memset(h, 0, SX_HEADER);
	memcpy(h, SX_MAGIC, 8);
	put32(h + 8, SX_VERSION);
	sx_put_fields(h, sx_index_fields, SX_NFIELDS(sx_index_fields),
	              &ix->sum);
	put64(h + 80, ix->n_entries);
	put32(h + 88, SX_STRIDE);
	memcpy(h + 96, ix->damage, sizeof(ix->damage) - 1);
}

static int write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t w = write(fd, b, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A temporary name no other process or thread is using: exports of one
 * daemon may rebuild the same index at once. */
void sx_temp_name(char *buf, size_t len, const char *name)
{
	static unsigned long counter;

	snprintf(buf, len, ".%.200s.%ld.%lu.tmp", name, (long)getpid(),
	         __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED));
}

int sx_write_atomic(int dirfd, const char *name, const void *head, size_t hlen,
                    const void *body, size_t blen)
{
	char tmp[256];
	int fd, ok;

	sx_temp_name(tmp, sizeof(tmp), name);
	fd = openat(dirfd, tmp,
	            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -1;
	ok = write_all(fd, head, hlen) == 0 &&
	     (!blen || write_all(fd, body, blen) == 0);
	ok = close(fd) == 0 && ok;
	if (ok && renameat(dirfd, tmp, dirfd, name) == 0)
		return 0;
	unlinkat(dirfd, tmp, 0);
	return -1;
}

int sx_index_write(int dirfd, const char *name, const sx_index *ix)
{
	uint8_t head[SX_HEADER];
	uint8_t *body = malloc(ix->n_entries * SX_ENTRY + 1);
	uint64_t h;
	size_t i;
	int rc;

	if (!body)
		return -1;
	for (i = 0; i < ix->n_entries; i++) {
		uint8_t *e = body + i * SX_ENTRY;

		put64(e, ix->entries[i].ts);
		put64(e + 8, ix->entries[i].offset);
		put64(e + 16, ix->entries[i].packets);
		put64(e + 24, ix->entries[i].bytes);
	}
	sx_header_pack(ix, head);
	h = sx_hash(SX_HASH_SEED, head, SX_HEADER - 8);
	h = sx_hash(h, body, ix->n_entries * SX_ENTRY);
	put64(head + SX_HEADER - 8, h);
	rc = sx_write_atomic(dirfd, name, head, SX_HEADER, body,
	                     ix->n_entries * SX_ENTRY);
	free(body);
	return rc;
}

static int read_full(int fd, void *p, size_t n, off_t off)
{
	uint8_t *b = p;

	while (n) {
		ssize_t r = pread(fd, b, n, off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Entries must be in the file's order, within its records and counts. */
static int sx_entries_sound(const sx_index *ix)
{
	const sx_summary *s = &ix->sum;
	size_t i;

	for (i = 0; i < ix->n_entries; i++) {
		const sx_entry *e = &ix->entries[i];

		if (e->offset < s->data_offset || e->offset >= s->end_offset ||
		    e->packets >= s->packets || e->bytes > s->bytes)
			return 0;
		if (i &&
		    (e->offset <= e[-1].offset || e->packets <= e[-1].packets ||
		     e->bytes < e[-1].bytes))
			return 0;
		if (i && (s->flags & SX_ORDERED) && e->ts < e[-1].ts)
			return 0;
	}
	return (s->packets == 0) == (ix->n_entries == 0) &&
	       (!ix->n_entries || (ix->entries[0].offset == s->data_offset &&
	                           ix->entries[0].packets == 0));
}

static void sx_header_unpack(sx_index *ix, const uint8_t *h)
{
	sx_get_fields(h, sx_index_fields, SX_NFIELDS(sx_index_fields),
	              &ix->sum);
	memcpy(ix->damage, h + 96, sizeof(ix->damage) - 1);
	ix->damage[sizeof(ix->damage) - 1] = '\0';
}

/* An index file's header, read and checked against the file: magic,
 * version, and a length that matches its entry count (*n). */
static int sx_read_header(int idxfd, uint8_t head[SX_HEADER], uint64_t *n)
{
	struct stat ist;

	if (fstat(idxfd, &ist) != 0 || ist.st_size < SX_HEADER ||
	    read_full(idxfd, head, SX_HEADER, 0) != 0 ||
	    memcmp(head, SX_MAGIC, 8) != 0 || get32(head + 8) != SX_VERSION)
		return -1;
	*n = get64(head + 80);
	if (*n > SX_MAX_ENTRIES ||
	    (uint64_t)ist.st_size != SX_HEADER + *n * SX_ENTRY)
		return -1;
	return 0;
}

int sx_index_read(int idxfd, const struct stat *st, sx_index *ix)
{
	uint8_t head[SX_HEADER], *body = NULL;
	uint64_t n, h;
	size_t i;
	int prefix = 0;

	sx_index_init(ix);
	if (sx_read_header(idxfd, head, &n) != 0)
		return -1;
	sx_header_unpack(ix, head);
	if ((ix->sum.flags & SX_GROWING) &&
	    ix->sum.dev == (uint64_t)st->st_dev &&
	    ix->sum.ino == (uint64_t)st->st_ino) {
		/* Shorter than indexed: writes lost with the page cache (a
		 * power loss); the file is read again, as a growing one. */
		if (ix->sum.size > (uint64_t)st->st_size) {
			sx_index_init(ix);
			ix->sum.flags |= SX_GROWING;
			return 2;
		}
		prefix = !(ix->sum.flags & SX_DAMAGED);
	}
	if ((!prefix && !sx_identity_same(&ix->sum, st)) ||
	    ix->sum.data_offset > ix->sum.end_offset ||
	    ix->sum.end_offset > ix->sum.size)
		return -1;
	body = malloc(n * SX_ENTRY + 1);
	ix->entries = calloc(n + 1, sizeof(*ix->entries));
	if (!body || !ix->entries ||
	    read_full(idxfd, body, n * SX_ENTRY, SX_HEADER) != 0)
		goto bad;
	h = sx_hash(SX_HASH_SEED, head, SX_HEADER - 8);
	h = sx_hash(h, body, n * SX_ENTRY);
	if (h != get64(head + SX_HEADER - 8))
		goto bad;
	for (i = 0; i < n; i++) {
		const uint8_t *e = body + i * SX_ENTRY;

		ix->entries[i] = (sx_entry){get64(e), get64(e + 8),
		                            get64(e + 16), get64(e + 24)};
	}
	ix->n_entries = ix->cap = n;
	ix->next_mark = n ? ix->entries[n - 1].offset + SX_STRIDE : 0;
	free(body);
	if (!sx_entries_sound(ix)) {
		sx_index_free(ix);
		return -1;
	}
	return prefix;
bad:
	free(body);
	sx_index_free(ix);
	return -1;
}

int sx_index_locate(const sx_index *ix, cf_reader *r, uint64_t ts, sx_pos *pos)
{
	size_t lo = 0, hi = ix->n_entries;
	cf_record rec;
	int rc;

	/* The last entry earlier than ts: every record before it is earlier
	 * too, and the one after it is not, so the answer lies between. */
	if (!(ix->sum.flags & SX_LINEAR))
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (ix->entries[mid].ts < ts)
				lo = mid + 1;
			else
				hi = mid;
		}
	if (lo == 0) {
		*pos = (sx_pos){ix->sum.data_offset, 0, 0};
	} else {
		const sx_entry *e = &ix->entries[lo - 1];

		*pos = (sx_pos){e->offset, e->packets, e->bytes};
	}
	cf_seek(r, pos->offset);
	/* pos stays where reading resumes: before the wanted record and any
	 * non-packet blocks ahead of it, which the reader passes over. */
	while (pos->offset < ix->sum.end_offset) {
		rc = cf_next(r, &rec);
		if (rc == 0 && cf_tell(r) == ix->sum.end_offset) {
			/* Only blocks that are not packets were left (the
			 * statistics block a pcapng ends with): no record is
			 * at or after ts. */
			pos->offset = ix->sum.end_offset;
			break;
		}
		if (rc != 1 || rec.offset < pos->offset)
			return -1;
		if (rec.ts_ns >= ts)
			break;
		pos->packets++;
		pos->bytes += rec.caplen;
		pos->offset = cf_tell(r);
	}
	cf_seek(r, pos->offset);
	return 0;
}

/* ------------------------------------------------------------- probing */

int sx_probe_open(int idxfd, const sx_summary *now, sx_probe *p)
{
	uint8_t head[SX_HEADER];
	sx_index h;
	uint64_t n;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	memset(p->block, 0xff, sizeof(p->block));
	if (sx_read_header(idxfd, head, &n) != 0)
		return -1;
	sx_index_init(&h);
	sx_header_unpack(&h, head);
	if ((h.sum.flags & SX_GROWING) || h.sum.size != now->size ||
	    h.sum.mtime_ns != now->mtime_ns ||
	    h.sum.ctime_ns != now->ctime_ns || h.sum.dev != now->dev ||
	    h.sum.ino != now->ino || (n == 0) != (h.sum.packets == 0))
		return -1;
	p->sum = h.sum;
	p->n = n;
	p->fd = idxfd;
	p->bytes_read = SX_HEADER;
	return 0;
}

int sx_probe_entry(sx_probe *p, uint64_t i, sx_entry *e)
{
	uint64_t block = i / SX_PROBE_BLOCK, first = block * SX_PROBE_BLOCK;
	unsigned way = (unsigned)(block % SX_PROBE_WAYS);
	const uint8_t *b;

	if (i >= p->n)
		return -1;
	if (block != p->block[way]) {
		uint64_t k = p->n - first < SX_PROBE_BLOCK ? p->n - first
		                                           : SX_PROBE_BLOCK;

		if (read_full(p->fd, p->buf[way], k * SX_ENTRY,
		              (off_t)(SX_HEADER + first * SX_ENTRY)) != 0) {
			p->block[way] = UINT64_MAX;
			return -1;
		}
		p->block[way] = block;
		p->bytes_read += k * SX_ENTRY;
	}
	b = p->buf[way] + (i - first) * SX_ENTRY;
	*e = (sx_entry){get64(b), get64(b + 8), get64(b + 16), get64(b + 24)};
	p->entries_read++;
	/* An entry outside the file's counts is damage the hash would have
	 * caught: refused rather than believed. */
	if (e->packets >= p->sum.packets || e->bytes > p->sum.bytes)
		return -1;
	return 0;
}

/* -------------------------------------------------------------- rollup */

#define SX_ROLL_MAGIC "PKXROLUP"
/* 2: levels (the points of the first level a point, at 20). */
#define SX_ROLL_VERSION 2

static uint32_t sx_env_u32(const char *name, unsigned long lo, unsigned long hi,
                           uint32_t dflt)
{
	const char *e = getenv(name);
	unsigned long v = e ? strtoul(e, NULL, 10) : 0;

	return v >= lo && v <= hi ? (uint32_t)v : dflt;
}

uint32_t sx_roll_every(void)
{
	return sx_env_u32("PKTEXPORT_ROLLUP_EVERY", 1, SX_MAX_ENTRIES,
	                  SX_ROLL_EVERY);
}

uint32_t sx_roll_step(void)
{
	return sx_env_u32("PKTEXPORT_ROLLUP_STEP", 2, 1024, SX_ROLL_STEP);
}

const char *sx_roll_name(int level)
{
	static const char *const names[SX_ROLL_LEVELS] = {SX_ROLLUP, "rollup2",
	                                                  "rollup3"};

	return names[level];
}

static const sx_field sx_roll_fields[] = {
    SX_F32(12, sx_rollup, flags),      SX_F32(16, sx_rollup, every),
    SX_F32(20, sx_rollup, step),       SX_F64(24, sx_rollup, n_points),
    SX_F64(32, sx_rollup, first),      SX_F64(40, sx_rollup, files),
    SX_F64(48, sx_rollup, next_seq),   SX_F64(56, sx_rollup, base_packets),
    SX_F64(64, sx_rollup, base_bytes), SX_F64(72, sx_rollup, packets),
    SX_F64(80, sx_rollup, bytes),      SX_F64(88, sx_rollup, first_ns),
    SX_F64(96, sx_rollup, last_ns),    SX_F64(104, sx_rollup, dev),
    SX_F64(112, sx_rollup, ino),       SX_F64(120, sx_rollup, mtime_ns),
    SX_F64(128, sx_rollup, ctime_ns),  SX_F64(200, sx_rollup, last_size),
    SX_F64(208, sx_rollup, last_ino)};

static void sx_roll_pack(const sx_rollup *h, uint8_t *b)
{
	memset(b, 0, SX_HEADER);
	memcpy(b, SX_ROLL_MAGIC, 8);
	put32(b + 8, SX_ROLL_VERSION);
	sx_put_fields(b, sx_roll_fields, SX_NFIELDS(sx_roll_fields), h);
	memcpy(b + 136, h->last_name, sizeof(h->last_name) - 1);
	put64(b + SX_HEADER - 8, sx_hash(SX_HASH_SEED, b, SX_HEADER - 8));
}

int sx_rollup_read(int fd, sx_rollup *h)
{
	uint8_t b[SX_HEADER];
	struct stat sb;

	memset(h, 0, sizeof(*h));
	if (fstat(fd, &sb) != 0 || sb.st_size < SX_HEADER ||
	    read_full(fd, b, SX_HEADER, 0) != 0 ||
	    memcmp(b, SX_ROLL_MAGIC, 8) != 0 ||
	    get32(b + 8) != SX_ROLL_VERSION ||
	    get64(b + SX_HEADER - 8) != sx_hash(SX_HASH_SEED, b, SX_HEADER - 8))
		return -1;
	sx_get_fields(b, sx_roll_fields, SX_NFIELDS(sx_roll_fields), h);
	memcpy(h->last_name, b + 136, sizeof(h->last_name) - 1);
	/* Points past the header's count may be there (appended before a
	 * crash could update it); fewer may not.  The first level has a
	 * live point where it has live records (each file's first record is
	 * one); a coarser level may have none. */
	if (h->every == 0 || h->step == 0 || h->first > h->n_points ||
	    h->n_points > ((uint64_t)sb.st_size - SX_HEADER) / SX_ENTRY ||
	    h->base_packets > h->packets || h->base_bytes > h->bytes ||
	    (h->packets == h->base_packets && h->first != h->n_points) ||
	    (h->step == 1 && h->first == h->n_points &&
	     h->packets != h->base_packets))
		return -1;
	return 0;
}

int sx_rollup_put_header(int fd, const sx_rollup *h)
{
	uint8_t b[SX_HEADER];

	sx_roll_pack(h, b);
	return pwrite(fd, b, SX_HEADER, 0) == SX_HEADER ? 0 : -1;
}

/* First-level points a point of level k (0: the first). */
static uint64_t sx_roll_span(uint32_t step, int k)
{
	uint64_t s = 1;

	while (k-- > 0)
		s *= step;
	return s;
}

void sx_rollup_level(const sx_rollup *h1, uint32_t step, int k, sx_rollup *hk)
{
	uint64_t s = sx_roll_span(step, k);

	*hk = *h1;
	hk->step = (uint32_t)s;
	hk->n_points = (h1->n_points + s - 1) / s;
	hk->first = (h1->first + s - 1) / s;
}

int sx_rollup_put_headers(const int *fds, uint32_t step, const sx_rollup *h1)
{
	int k;

	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		sx_rollup hk;

		sx_rollup_level(h1, step, k, &hk);
		if (fds[k] >= 0 && sx_rollup_put_header(fds[k], &hk) != 0)
			return -1;
	}
	return 0;
}

int sx_rollup_put_levels(const int *fds, uint32_t step, uint64_t at,
                         const sx_point *p, size_t n)
{
	int k;

	if (sx_rollup_put_points(fds[0], at, p, n) != 0)
		return -1;
	for (k = 1; k < SX_ROLL_LEVELS; k++) {
		uint64_t s = sx_roll_span(step, k), i;

		if (fds[k] < 0)
			continue;
		for (i = (at + s - 1) / s * s; i < at + n; i += s)
			if (sx_rollup_put_points(fds[k], i / s, p + (i - at),
			                         1) != 0)
				return -1;
	}
	return 0;
}

uint64_t sx_rollup_bytes(const sx_rollup *h1, uint32_t step)
{
	uint64_t b = 0;
	int k;

	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		sx_rollup hk;

		sx_rollup_level(h1, step, k, &hk);
		b += SX_HEADER + hk.n_points * SX_ENTRY;
	}
	return b;
}

int sx_rollup_put_points(int fd, uint64_t at, const sx_point *p, size_t n)
{
	uint8_t buf[64 * SX_ENTRY];

	while (n) {
		size_t k = n < 64 ? n : 64, i;

		for (i = 0; i < k; i++) {
			put64(buf + i * SX_ENTRY, p[i].ts);
			put64(buf + i * SX_ENTRY + 8, p[i].seq);
			put64(buf + i * SX_ENTRY + 16, p[i].packets);
			put64(buf + i * SX_ENTRY + 24, p[i].bytes);
		}
		if (pwrite(fd, buf, k * SX_ENTRY,
		           (off_t)(SX_HEADER + at * SX_ENTRY)) !=
		    (ssize_t)(k * SX_ENTRY))
			return -1;
		p += k;
		at += k;
		n -= k;
	}
	return 0;
}

int sx_rollup_get_point(int fd, uint64_t i, sx_point *p)
{
	uint8_t b[SX_ENTRY];

	if (read_full(fd, b, SX_ENTRY, (off_t)(SX_HEADER + i * SX_ENTRY)) != 0)
		return -1;
	*p = (sx_point){get64(b), get64(b + 8), get64(b + 16), get64(b + 24)};
	return 0;
}

int sx_rollup_stamp(int jobfd, sx_rollup *h)
{
	struct stat sb;
	sx_summary s;

	if (fstat(jobfd, &sb) != 0)
		return -1;
	sx_identity_set(&s, &sb);
	h->dev = s.dev;
	h->ino = s.ino;
	h->mtime_ns = s.mtime_ns;
	h->ctime_ns = s.ctime_ns;
	return 0;
}

int sx_rollup_current(int jobfd, const sx_rollup *h)
{
	struct stat sb;
	sx_rollup now;

	if (sx_rollup_stamp(jobfd, &now) != 0 || now.dev != h->dev ||
	    now.ino != h->ino || now.mtime_ns != h->mtime_ns ||
	    now.ctime_ns != h->ctime_ns)
		return 0;
	if (!h->files)
		return 1;
	return memchr(h->last_name, '\0', sizeof(h->last_name)) &&
	       h->last_name[0] && h->last_name[0] != '.' &&
	       !strchr(h->last_name, '/') &&
	       fstatat(jobfd, h->last_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISREG(sb.st_mode) && (uint64_t)sb.st_ino == h->last_ino &&
	       (uint64_t)sb.st_size >= h->last_size;
}

int sx_rollup_get_range(int fd, uint64_t i, uint64_t n, sx_entry *out)
{
	uint8_t *b = (uint8_t *)out;
	uint64_t j;

	_Static_assert(sizeof(sx_entry) == SX_ENTRY, "a point, an entry");
	/* Read in place: a point's bytes are where its sx_entry lies. */
	if (read_full(fd, b, n * SX_ENTRY, (off_t)(SX_HEADER + i * SX_ENTRY)) !=
	    0)
		return -1;
	for (j = 0; j < n; j++) {
		const uint8_t *e = b + j * SX_ENTRY;

		out[j] = (sx_entry){get64(e), get64(e + 8), get64(e + 16),
		                    get64(e + 24)};
	}
	return 0;
}

void sx_rollup_probe(int fd, const sx_rollup *h, sx_probe *p)
{
	memset(p, 0, sizeof(*p));
	memset(p->block, 0xff, sizeof(p->block));
	p->fd = fd;
	p->n = h->n_points;
	p->sum.packets = h->packets;
	p->sum.bytes = h->bytes;
	p->sum.first_ns = h->first_ns;
	p->sum.last_ns = h->last_ns;
	p->bytes_read = SX_HEADER;
}
