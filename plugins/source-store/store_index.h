/* Time indexes of capture files and the catalog of a packet store
 * (doc/store.md): shared by the source-store plugin and pktexport-store.
 * An index is only a speed-up: one whose capture changed size, mtime,
 * ctime, device or inode is never used, it is built again from the
 * capture. */
#ifndef PKX_STORE_INDEX_H
#define PKX_STORE_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "capfile.h"

/* One index entry per this many bytes of capture. */
#define SX_STRIDE (256u << 10)
/* Where a job keeps its indexes and catalog, and the data root its
 * sidecar indexes of fs/ files. */
#define SX_INDEX_DIR ".index"
#define SX_CATALOG   "catalog"

enum {
	SX_ORDERED = 1, /* timestamps never go back */
	SX_LINEAR = 2,  /* pcapng layout changes mid-file: read from start */
	SX_DAMAGED = 4, /* records stop at end_offset, before the file end */
	/* A recorder is still appending to the file: the index is valid for
	 * the prefix up to end_offset while the file keeps its device and
	 * inode and does not shrink below the size indexed; records past it
	 * are read from the file, and a record cut by the file's end is one
	 * not wholly written yet, not damage. */
	SX_GROWING = 8,
};

/* A point of the file: the offset of a record and the packets and
 * captured bytes before it. */
typedef struct sx_entry {
	uint64_t ts, offset, packets, bytes;
} sx_entry;

typedef struct sx_summary {
	uint64_t size, mtime_ns; /* of the capture when indexed */
	uint32_t flags, format;
	uint64_t data_offset, end_offset; /* records lie in between */
	uint64_t packets, bytes;          /* records, captured bytes */
	uint64_t first_ns, last_ns;       /* smallest and largest time */
	/* Also of the capture when indexed: the mtime can be set by anyone
	 * (cp -p, touch -r), the ctime cannot and every write changes it. */
	uint64_t ctime_ns, dev, ino;
} sx_summary;

typedef struct sx_index {
	sx_summary sum;
	char damage[128]; /* why records stop early, "" when they do not */
	sx_entry *entries;
	size_t n_entries, cap;
	uint64_t next_mark; /* building: offset that earns the next entry */
} sx_index;

uint64_t sx_mtime_ns(const struct stat *st);
/* The identity of a capture as stat describes it now: size, mtime,
 * ctime, device and inode; and whether a summary is of that capture. */
void sx_identity_set(sx_summary *s, const struct stat *st);
int sx_identity_same(const sx_summary *s, const struct stat *st);

/* Building, record by record (the scanner and the importer both do). */
void sx_index_init(sx_index *ix);
int sx_index_add(sx_index *ix, uint64_t offset, uint64_t ts, uint32_t caplen);
void sx_index_free(sx_index *ix);

/* Builds the index of an open capture by reading it whole. */
int sx_index_scan(int fd, const struct stat *st, sx_index *ix);
/* Loads an index file; 0 when it is sound and describes a capture of
 * exactly st's identity (sx_identity_same), 1 when it is a sound
 * SX_GROWING index of a prefix of that capture (sx_index_extend brings
 * it up to date), 2 when it is a growing index of that file which is now
 * shorter than indexed (ix is emptied: sx_index_extend reads it whole),
 * -1 otherwise. */
int sx_index_read(int idxfd, const struct stat *st, sx_index *ix);
/* Adds the records past ix's end_offset in the open capture fd (st as
 * fstat says now) to a growing index, or indexes the whole file when ix
 * is empty (sx_index_init); a record cut by the end of the file ends the
 * records without damage. 0, or -1 when out of memory. */
int sx_index_extend(int fd, const struct stat *st, sx_index *ix);
/* Writes ix as `name` in dirfd through a temporary name; 0 or -1. */
int sx_index_write(int dirfd, const char *name, const sx_index *ix);

/* FNV-1a, 64 bits, of n bytes on from h (SX_HASH_SEED to start): the
 * check of index files and of the catalog. */
#define SX_HASH_SEED 0xcbf29ce484222325ull
uint64_t sx_hash(uint64_t h, const void *p, size_t n);

/* A fresh temporary name for writing `name` through a rename. */
void sx_temp_name(char *buf, size_t len, const char *name);
/* Writes head then body (blen 0: none) as `name` in dirfd through a
 * temporary name, so that a reader sees the old file or the new, never
 * half of one; 0 or -1. */
int sx_write_atomic(int dirfd, const char *name, const void *head, size_t hlen,
                    const void *body, size_t blen);

typedef struct sx_pos {
	uint64_t offset, packets, bytes;
} sx_pos;
/* The first record at or after time ts in an ordered file (pos->offset is
 * end_offset when there is none).  r reads the same file; for an
 * SX_LINEAR file it must be freshly opened, as the search then walks from
 * the first record.  0, or -1 when the capture does not read as its index
 * says. */
int sx_index_locate(const sx_index *ix, cf_reader *r, uint64_t ts, sx_pos *pos);

/* Reading an index entry by entry (pread, one block of entries at a
 * time) without loading it: the timeline's cost follows the entries it
 * looks at, not the index's size.  Only a final (not growing) index whose
 * header names exactly the capture `now` (sx_identity_set) is probed; its
 * hash is not checked (that would read it whole), each entry read is
 * checked against the header's counts instead.  0, or -1: load it with
 * sx_store_index instead. */
#define SX_PROBE_BLOCK 128 /* entries a read */
#define SX_PROBE_WAYS  8   /* blocks kept (direct-mapped) */
typedef struct sx_probe {
	int fd; /* not owned */
	sx_summary sum;
	uint64_t n; /* entries */
	uint64_t block[SX_PROBE_WAYS];
	uint64_t entries_read, bytes_read;
	uint8_t buf[SX_PROBE_WAYS][SX_PROBE_BLOCK * 32];
} sx_probe;
int sx_probe_open(int idxfd, const sx_summary *now, sx_probe *p);
/* Entry i; 0, or -1 when it cannot be read or is not sound. */
int sx_probe_entry(sx_probe *p, uint64_t i, sx_entry *e);

/* --------------------------------------------------------------- rollup */

/* The store's coarse level (.index/rollup, doc/store.md "Rollup"): a
 * 256-byte header, then 32-byte points, one at every `every`-th index
 * entry of each file (its first entry included), with the records and
 * captured bytes before it counted over the whole store since the
 * rollup was written.  Long spans are answered from it alone, without
 * listing the folder or reading any capture's index. */
#define SX_ROLLUP         "rollup"
#define SX_ROLL_EVERY     4096 /* index entries a point: about 1 GiB */
#define SX_ROLL_UNORDERED 1u   /* a packet went back in time: not used */
/* Coarser levels (.index/rollup2, rollup3): every SX_ROLL_STEP-th point
 * of the level below (about 64 GiB and 4 TiB of capture a point), each a
 * file of the same format, header and trust rule as the first level. */
#define SX_ROLL_LEVELS 3
#define SX_ROLL_STEP   64
typedef struct sx_rollup {
	uint32_t flags, every;
	uint32_t step; /* points of the first level a point: 1, 64, 4096 */
	uint64_t n_points, first;          /* written; the first live one */
	uint64_t files, next_seq;          /* live capture files; next seq */
	uint64_t base_packets, base_bytes; /* before the first live file */
	uint64_t packets, bytes;           /* up to the end of the newest */
	uint64_t first_ns, last_ns;        /* of the live records */
	/* The job folder as it was when this was written: any file added,
	 * removed or renamed since changes its mtime and ctime. */
	uint64_t dev, ino, mtime_ns, ctime_ns;
	/* The newest capture: it must still be there, that inode, at least
	 * that long (a power loss that shortened it is seen). */
	char last_name[64];
	uint64_t last_size, last_ino;
} sx_rollup;
/* A point: time of the record, the file's sequence number, and the
 * records and captured bytes before it (the layout of an index entry
 * with the offset's place holding the sequence number). */
typedef struct sx_point {
	uint64_t ts, seq, packets, bytes;
} sx_point;
/* The `every` builders use: SX_ROLL_EVERY, or PKTEXPORT_ROLLUP_EVERY (for
 * tests: a finer rollup of small stores); and the step between levels:
 * SX_ROLL_STEP, or PKTEXPORT_ROLLUP_STEP (2 to 1024). */
uint32_t sx_roll_every(void);
uint32_t sx_roll_step(void);
/* The file of level k (0: the first, "rollup"; 1: "rollup2"...). */
const char *sx_roll_name(int level);
/* Level k's header from the first level's h1: its points are the first
 * level's points 0, s, 2s... (s = step^k), so it counts ceil(n/s) of
 * them and its first live one is ceil(first/s); the rest is h1's. */
void sx_rollup_level(const sx_rollup *h1, uint32_t step, int k, sx_rollup *hk);
/* Every level's header (fds[k] < 0: level k skipped); 0 or -1. */
int sx_rollup_put_headers(const int *fds, uint32_t step, const sx_rollup *h1);
/* First-level points p[0..n), the first at index `at`, into fds[0], and
 * those whose index is a multiple of step^k into fds[k]; 0 or -1. */
int sx_rollup_put_levels(const int *fds, uint32_t step, uint64_t at,
                         const sx_point *p, size_t n);
/* The levels' size on disk, headers included. */
uint64_t sx_rollup_bytes(const sx_rollup *h1, uint32_t step);
/* Points i to i+n-1, read with one pread (as index entries). */
int sx_rollup_get_range(int fd, uint64_t i, uint64_t n, sx_entry *out);
/* Header read and checked (magic, version, hash, length); 0 or -1. */
int sx_rollup_read(int fd, sx_rollup *h);
int sx_rollup_put_header(int fd, const sx_rollup *h);
int sx_rollup_put_points(int fd, uint64_t at, const sx_point *p, size_t n);
int sx_rollup_get_point(int fd, uint64_t i, sx_point *p);
/* Notes the folder's identity in h. */
int sx_rollup_stamp(int jobfd, sx_rollup *h);
/* Whether h still describes the job folder jobfd: the stamp and the
 * newest file as above. */
int sx_rollup_current(int jobfd, const sx_rollup *h);
/* Points read as index entries (sx_probe_entry; offset = seq). */
void sx_rollup_probe(int fd, const sx_rollup *h, sx_probe *p);

/* ---------------------------------------------------------------- store */

typedef struct sx_file {
	char *name;
	sx_summary now; /* identity as stat says now (sx_identity_set) */
	sx_summary sum;
	int have_sum;    /* sum describes the file as it is now */
	sx_index *index; /* loaded on demand */
} sx_file;

typedef struct sx_store {
	int dirfd; /* the job folder (owned) */
	int writable;
	int rebuild;    /* build every index from its capture */
	sx_file *files; /* capture files in name order */
	size_t n_files;
	int ordered; /* every file ordered, each ending before the next */
	int catalog_dirty;
	int rebuilt;             /* indexes built by this process */
	struct stat dir_at_open; /* the folder before it was listed */
	char error[256];
} sx_store;

enum { SX_OPEN_WRITABLE = 1, SX_OPEN_REBUILD = 2 };
/* Lists the captures of the job folder dirfd (taken over) and their
 * summaries, from the catalog where it is current, else from their
 * indexes, building those that are missing or stale (all of them with
 * SX_OPEN_REBUILD).  With SX_OPEN_WRITABLE, what was built is saved.  0,
 * or -1 with st->error set. */
int sx_store_open(sx_store *st, int dirfd, int flags);
/* The index of file i, loaded or built on first use; NULL on failure. */
const sx_index *sx_store_index(sx_store *st, size_t i);
/* Opens file i for reading; -1 with st->error set. */
int sx_store_open_file(sx_store *st, size_t i);
void sx_store_close(sx_store *st);
/* Writes .index/rollup and its coarser levels afresh from the files'
 * indexes (read a point at a time where current, else loaded or built),
 * stamped with the folder as it was before sx_store_open listed it; an
 * unordered store gets none.
 * points[i] (when not NULL) receives file i's count of points.  0, 1
 * when the store is not ordered (no rollup), -1 on failure. */
int sx_rollup_build(sx_store *st, uint64_t *points, sx_rollup *out);
/* Rewrites the catalog when it changed (writable stores). */
int sx_store_save_catalog(sx_store *st);
/* The capture file of the job folder dirfd that comes first after the
 * name `after` ("" for the first), in name order; 0, or -1 when none. */
int sx_next_capture(int dirfd, const char *after, char *out, size_t len);
/* Opens (creating with mkdir) the folder `rel` below dirfd without
 * following symbolic links; -1 on failure. */
int sx_open_dir(int dirfd, const char *rel, int create);

/* ------------------------------------------------------------------ jobs */

/* A job's id: 32 hex digits in the 8-4-4-4-12 shape of a UUID, made from
 * its folder name, so it stays the same across restarts and imports (a
 * job recreated under the same name gets the same id). */
#define SX_JOB_ID_LEN 36
void sx_job_id(const char *name, char out[SX_JOB_ID_LEN + 1]);
/* The folder name under rootfd's jobs/ of the job named or identified by
 * key (a name first, then an id).  0, or -1 when no job answers to it. */
int sx_job_find(int rootfd, const char *key, char *name, size_t len);

/* ------------------------------------------------------ sidecar of fs/ */

/* The index of a single capture `rel` (relative to the data root, e.g.
 * "fs/a/b.pcap"), whose open descriptor is fd: loaded from
 * <root>/.index/<rel>.idx when current, else built from the file and,
 * with `writable`, saved there.  0, or -1 with err set. */
int sx_sidecar_index(const char *root, const char *rel, int fd, int writable,
                     sx_index *ix, char *err, size_t errlen);

/* For a reader of the whole file (source-file): the offset of the first
 * record at or after ts, through the sidecar index (built and saved under
 * the data root when missing or stale).  -1 when the file cannot be
 * indexed or is not one a seek may cut into (not ordered, or a pcapng
 * whose interfaces change mid-file): then read from the start. */
int sx_sidecar_seek(const char *root, const char *rel, int fd, uint64_t ts,
                    uint64_t *offset);

#endif /* PKX_STORE_INDEX_H */
