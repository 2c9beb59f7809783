/* pktexport-capture: records network interfaces into a packet store
 * (jobs/<name>), indexing as it writes, so any window of the recording,
 * the last second included, can be exported while it goes on
 * (doc/store.md, "Recording").  The only program of the project that
 * needs CAP_NET_RAW.
 *
 * Packets come from libpcap's TPACKET_V3 rings (one per interface), go
 * through a bounded reorder stage when there are several interfaces, and
 * are appended to the store's newest file: pcap with nanosecond times for
 * one interface, pcapng (one interface block each) for several.  Every
 * flush interval the file is written out, made durable (fdatasync) and its
 * index rewritten, flagged SX_GROWING: readers trust it for the prefix it
 * covers and read the rest.  At the configured size the file is closed
 * with a final index and a new one started; retention removes the oldest
 * files first so the store stays under its size limit and age. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pcap_linktype.h"
#include "size_arg.h"
#include "store_index.h"

#define RC_PROG       "pktexport-capture"
#define RC_WBUF       (1u << 20) /* bytes gathered per write() */
#define RC_TIMEOUT_MS 100        /* a ring block is handed over after */
#define RC_STATUS     ".recorder.json"
#define RC_MAX_IFACES 16
/* After the rings were emptied at time W, every packet stamped before
 * W - RC_TIMEOUT_MS - this has been taken (the kernel hands a ring block
 * over at its timeout; the slack is for its timer and the softirq). */
#define RC_SLACK_NS (50ull * 1000000u)

enum {
	EXIT_OK = 0,
	EXIT_FAIL = 1, /* could not start */
	EXIT_USAGE = 2,
	EXIT_STOPPED = 3, /* stopped by a failure (disk full...) */
	EXIT_NODEV = 4,   /* no such interface */
	EXIT_PERM = 5,    /* not allowed to capture (no CAP_NET_RAW) */
};

typedef struct rc_iface {
	char name[64];
	pcap_t *pcap;
	int fd;
	int dlt;
	uint32_t linktype, snaplen;
	uint64_t seen, written, bytes, lost;
	uint64_t kernel_drops, if_drops;
} rc_iface;

/* A packet held by the reorder stage. */
typedef struct rc_pkt {
	uint64_t ts;
	uint32_t caplen, wirelen;
	uint32_t iface;
	uint8_t data[];
} rc_pkt;

typedef struct rc_file {
	char name[32];
	uint64_t size, last_ns;
	uint64_t points, packets, bytes; /* in the rollup */
} rc_file;

static struct rc {
	/* options */
	const char *root, *job, *filter;
	uint64_t file_size, max_size, max_age_ns, buffer, count, duration_ns;
	uint32_t snaplen;
	unsigned flush_ms;
	int promisc;
	uint64_t synced_ns;   /* monotonic: the last fdatasync */
	uint64_t sync_ns;     /* made durable this often; 0: as files close */
	uint64_t complete_ns; /* every packet stamped before is written */
	/* interfaces */
	rc_iface ifs[RC_MAX_IFACES];
	size_t n_if;
	int pcapng; /* several interfaces: pcapng, one IDB each */
	int stream; /* --stream: pcapng to standard output, no store */
	uint64_t isb_drops[RC_MAX_IFACES]; /* drops last told the reader */
	/* reorder stage (several interfaces) */
	rc_pkt **q;
	size_t qn, qcap, q_bytes;
	uint64_t reorder_ns, max_seen;
	/* the store */
	int dirfd, idxfd;
	rc_file *files; /* closed files, oldest first */
	size_t n_files, files_cap;
	uint64_t closed_bytes, removed_files, removed_bytes;
	unsigned next_number;
	/* the file being written */
	int fd;
	char name[32];
	uint64_t off; /* bytes written to fd */
	uint8_t *wbuf;
	size_t wlen;
	/* Records and bytes of each interface in wbuf: on a failed write
	 * they move from written to lost. */
	uint64_t pend[RC_MAX_IFACES], pend_bytes[RC_MAX_IFACES];
	int failed; /* a write failed: the index is rebuilt from the file */
	sx_index ix;
	uint64_t last_ts, late;
	/* The rollup (.index/rollup): points of closed files as built at
	 * start or written at their close; those of the file being written
	 * appended at each status write, which also rewrites the header. */
	int rfd[SX_ROLL_LEVELS]; /* each level's file; rfd[0] < 0: none */
	uint32_t rstep;          /* first-level points a level-2 point */
	sx_rollup roll;          /* the first level's header */
	uint64_t cur_first, cur_npts, cur_base_p, cur_base_b;
	/* totals */
	uint64_t written, bytes;
	uint64_t started_ns;
	char state[16], reason[256];
} R = {.fd = -1, .dirfd = -1, .idxfd = -1, .rfd = {-1, -1, -1}};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, RC_PROG ": ");
	if (R.job)
		fprintf(stderr, "%s: ", R.job);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Stops the recording with a reason the status file keeps. */
static void halt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void halt(const char *fmt, ...)
{
	va_list ap;

	if (R.reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(R.reason, sizeof(R.reason), fmt, ap);
	va_end(ap);
	say("stopping: %s", R.reason);
}

/* ------------------------------------------------------------- rollup */

/* Without the rollup, readers take the path that lists the folder: every
 * level is closed and removed. */
static void roll_drop(const char *why)
{
	int k;

	say("the rollup is dropped (%s): long timelines will read every "
	    "file's index until the next start",
	    why);
	for (k = 0; k < SX_ROLL_LEVELS; k++) {
		if (R.rfd[k] >= 0)
			close(R.rfd[k]);
		R.rfd[k] = -1;
		unlinkat(R.idxfd, sx_roll_name(k), 0);
	}
}

/* The points of the file being written that are not in the rollup yet,
 * and the totals up to its last record. */
static void roll_points(void)
{
	uint32_t every = R.roll.every;

	while (R.rfd[0] >= 0 && R.cur_npts * every < R.ix.n_entries) {
		const sx_entry *e = &R.ix.entries[R.cur_npts * every];
		sx_point p = {e->ts, R.roll.next_seq - 1,
		              R.cur_base_p + e->packets,
		              R.cur_base_b + e->bytes};

		if (sx_rollup_put_levels(
		        R.rfd, R.rstep, R.cur_first + R.cur_npts, &p, 1) != 0) {
			roll_drop(strerror(errno));
			return;
		}
		if (R.cur_first + R.cur_npts == R.roll.first)
			R.roll.first_ns = e->ts;
		R.cur_npts++;
	}
	R.roll.n_points = R.cur_first + R.cur_npts;
	R.roll.packets = R.cur_base_p + R.ix.sum.packets;
	R.roll.bytes = R.cur_base_b + R.ix.sum.bytes;
	if (R.ix.sum.packets && R.ix.sum.last_ns > R.roll.last_ns)
		R.roll.last_ns = R.ix.sum.last_ns;
}

/* The header, after the points it counts, stamped with the folder as it
 * is now: called after every change the recorder makes to the folder
 * (the status file's rename is one). */
static void roll_sync(void)
{
	struct stat sb;

	if (R.rfd[0] < 0)
		return;
	if (R.fd >= 0) {
		roll_points();
		if (fstat(R.fd, &sb) == 0) {
			snprintf(R.roll.last_name, sizeof(R.roll.last_name),
			         "%s", R.name);
			R.roll.last_size = R.off;
			R.roll.last_ino = (uint64_t)sb.st_ino;
		}
	}
	if (R.late)
		R.roll.flags |= SX_ROLL_UNORDERED;
	if (R.rfd[0] >= 0 &&
	    (sx_rollup_stamp(R.dirfd, &R.roll) != 0 ||
	     sx_rollup_put_headers(R.rfd, R.rstep, &R.roll) != 0))
		roll_drop(strerror(errno));
}

/* ------------------------------------------------------------- status */

/* What the daemon shows of the job: state, totals, per interface counts.
 * Rewritten through a rename, so a reader never sees half of it. */
static void write_status(void)
{
	json_t *o, *ifs = json_array();
	char *text;
	size_t i;

	for (i = 0; i < R.n_if; i++) {
		rc_iface *f = &R.ifs[i];

		json_array_append_new(
		    ifs,
		    json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "name",
		              f->name, "packets_seen", (json_int_t)f->seen,
		              "packets_written", (json_int_t)f->written,
		              "bytes_written", (json_int_t)f->bytes,
		              "kernel_drops", (json_int_t)f->kernel_drops,
		              "interface_drops", (json_int_t)f->if_drops,
		              "our_drops", (json_int_t)f->lost));
	}
	o = json_pack("{s:I, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	              "s:I, s:I, s:I, s:o}",
	              "pid", (json_int_t)getpid(), "state", R.state, "reason",
	              R.reason, "started_ns", (json_int_t)R.started_ns,
	              "updated_ns", (json_int_t)wall_ns(), "complete_ns",
	              (json_int_t)R.complete_ns, "flush_ms",
	              (json_int_t)R.flush_ms, "packets_written",
	              (json_int_t)R.written, "bytes_written",
	              (json_int_t)R.bytes, "late_packets", (json_int_t)R.late,
	              "files_removed", (json_int_t)R.removed_files,
	              "bytes_removed", (json_int_t)R.removed_bytes, "snap_len",
	              (json_int_t)R.snaplen, "interfaces", ifs);
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (text && sx_write_atomic(R.dirfd, RC_STATUS, text, strlen(text),
	                            NULL, 0) != 0) {
		/* No room for a new file (a full disk, the very case the
		 * status must tell): the old one is overwritten in place,
		 * which takes no new block.  A reader may then meet it
		 * half-written for an instant, and reads it again. */
		int fd = openat(R.dirfd, RC_STATUS,
		                O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
		size_t n = strlen(text);

		if (fd >= 0) {
			if (pwrite(fd, text, n, 0) == (ssize_t)n)
				(void)!ftruncate(fd, (off_t)n);
			close(fd);
		}
	}
	free(text);
	roll_sync();
}

static void update_drops(void)
{
	size_t i;

	for (i = 0; i < R.n_if; i++) {
		struct pcap_stat st;

		if (R.ifs[i].pcap && pcap_stats(R.ifs[i].pcap, &st) == 0) {
			R.ifs[i].kernel_drops = st.ps_drop;
			R.ifs[i].if_drops = st.ps_ifdrop;
		}
	}
}

/* -------------------------------------------------------------- files */

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			if (w == 0)
				errno = ENOSPC;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Writes out what is gathered.  A failed write (the disk is full) leaves
 * the file cut back to its last whole record, as if it had not been. */
static int drain(void)
{
	if (!R.wlen)
		return 0;
	size_t i;

	if (write_all(R.fd, R.wbuf, R.wlen) != 0) {
		int e = errno;

		if (R.stream) {
			/* The reader left (or failed): nothing to keep. */
			if (e != EPIPE)
				halt("cannot write to the reader: %s",
				     strerror(e));
			R.wlen = 0;
			stop_signal = -1;
			return -1;
		}

		if (ftruncate(R.fd, (off_t)R.off) != 0)
			say("cannot cut %s back to %" PRIu64 " bytes: %s",
			    R.name, R.off, strerror(errno));
		halt("cannot write %s: %s", R.name, strerror(e));
		for (i = 0; i < R.n_if; i++) {
			R.ifs[i].written -= R.pend[i];
			R.ifs[i].bytes -= R.pend_bytes[i];
			R.ifs[i].lost += R.pend[i];
			R.written -= R.pend[i];
			R.bytes -= R.pend_bytes[i];
		}
		R.failed = 1;
	} else {
		R.off += R.wlen;
	}
	R.wlen = 0;
	memset(R.pend, 0, sizeof(R.pend));
	memset(R.pend_bytes, 0, sizeof(R.pend_bytes));
	return R.failed ? -1 : 0;
}

static int save_index(int final)
{
	char idx[64];
	struct stat sb;

	if (fstat(R.fd, &sb) != 0)
		return -1;
	sx_identity_set(&R.ix.sum, &sb);
	R.ix.sum.end_offset = R.off;
	if (final)
		R.ix.sum.flags &= ~(uint32_t)SX_GROWING;
	else
		R.ix.sum.flags |= SX_GROWING;
	snprintf(idx, sizeof(idx), "%s.idx", R.name);
	/* A cache: a failure costs readers a scan, never a wrong answer. */
	return sx_index_write(R.idxfd, idx, &R.ix);
}

/* Everything gathered is written and the index rewritten to cover it,
 * so exports see it; at least once a second (and always when `sync`) it
 * is also made durable first.  An index may thus cover bytes a power loss
 * takes back: the file is then shorter than indexed, which readers and
 * the next recorder detect (SX_GROWING, doc/store.md). */
static int flush_file(int sync)
{
	uint64_t now = mono_ns();

	if (R.fd < 0)
		return 0;
	if (drain() != 0)
		return -1;
	if (sync || (R.sync_ns && now - R.synced_ns >= R.sync_ns)) {
		if (fdatasync(R.fd) != 0) {
			halt("cannot flush %s: %s", R.name, strerror(errno));
			return -1;
		}
		R.synced_ns = now;
	}
	save_index(0);
	return 0;
}

static int add_closed(const char *name, uint64_t size, uint64_t last_ns,
                      uint64_t points, uint64_t packets, uint64_t bytes)
{
	if (R.n_files == R.files_cap) {
		size_t ncap = R.files_cap ? R.files_cap * 2 : 64;
		rc_file *n = realloc(R.files, ncap * sizeof(*n));

		if (!n)
			return -1;
		R.files = n;
		R.files_cap = ncap;
	}
	snprintf(R.files[R.n_files].name, sizeof(R.files[0].name), "%s", name);
	R.files[R.n_files].size = size;
	R.files[R.n_files].last_ns = last_ns;
	R.files[R.n_files].points = points;
	R.files[R.n_files].packets = packets;
	R.files[R.n_files].bytes = bytes;
	R.n_files++;
	R.closed_bytes += size;
	return 0;
}

static void close_file(void)
{
	struct stat sb;

	if (R.fd < 0)
		return;
	if (flush_file(1) == 0) {
		save_index(1);
	} else if (R.failed) {
		/* Records the index counted did not reach the file: the
		 * index is made again from what is there. */
		sx_index ix;

		sx_index_init(&ix);
		if (fstat(R.fd, &sb) == 0 &&
		    sx_index_extend(R.fd, &sb, &ix) == 0) {
			sx_index_free(&R.ix);
			R.ix = ix;
			R.off = R.ix.sum.end_offset;
			save_index(1);
		} else {
			sx_index_free(&ix);
		}
	}
	/* Its points again from its final index (which a failed write may
	 * have made anew). */
	R.cur_npts = 0;
	roll_points();
	if (fstat(R.fd, &sb) == 0) {
		snprintf(R.roll.last_name, sizeof(R.roll.last_name), "%s",
		         R.name);
		R.roll.last_size = (uint64_t)sb.st_size;
		R.roll.last_ino = (uint64_t)sb.st_ino;
		add_closed(R.name, (uint64_t)sb.st_size, R.ix.sum.last_ns,
		           R.cur_npts, R.ix.sum.packets, R.ix.sum.bytes);
	}
	close(R.fd);
	R.fd = -1;
	sx_index_free(&R.ix);
}

#define RC_META_BYTES 8192

/* The index of a file of this size at most, for the size budget. */
static uint64_t index_bytes(uint64_t size)
{
	return 256 + 32 * (size / SX_STRIDE + 2);
}

/* The store's size, with `active` bytes in the file being written:
 * captures, their indexes (at most), the status file and the temporary
 * names of an index being rewritten. */
static uint64_t store_bytes(uint64_t active)
{
	return R.closed_bytes + R.n_files * index_bytes(0) +
	       R.closed_bytes / SX_STRIDE * 32 + active +
	       index_bytes(R.file_size) + RC_META_BYTES +
	       (R.rfd[0] >= 0 ? sx_rollup_bytes(&R.roll, R.rstep) : 0);
}

static void remove_oldest(void)
{
	char idx[64];

	snprintf(idx, sizeof(idx), "%s.idx", R.files[0].name);
	/* The capture first: a reader listing the folder then never finds
	 * a file without the index it had. */
	if (unlinkat(R.dirfd, R.files[0].name, 0) != 0 && errno != ENOENT)
		say("cannot remove %s: %s", R.files[0].name, strerror(errno));
	unlinkat(R.idxfd, idx, 0);
	R.closed_bytes -= R.files[0].size;
	if (R.rfd[0] >= 0) {
		/* Its points are no longer live (they stay in the files until
		 * the next start writes the rollup afresh); a coarser level's
		 * first live point follows (sx_rollup_level). */
		sx_point p;

		R.roll.first += R.files[0].points;
		R.roll.base_packets += R.files[0].packets;
		R.roll.base_bytes += R.files[0].bytes;
		R.roll.files--;
		R.roll.first_ns = 0;
		if (R.roll.first < R.roll.n_points) {
			if (sx_rollup_get_point(R.rfd[0], R.roll.first, &p) ==
			    0)
				R.roll.first_ns = p.ts;
			else
				roll_drop(strerror(errno));
		}
	}
	R.removed_files++;
	R.removed_bytes += R.files[0].size;
	memmove(R.files, R.files + 1, (R.n_files - 1) * sizeof(*R.files));
	R.n_files--;
}

/* Oldest files out until a new file of the full size fits the limit,
 * and files whose last packet is older than the age limit. */
static void retain(int for_new_file)
{
	uint64_t now = wall_ns();

	if (R.max_size) {
		uint64_t active = for_new_file ? R.file_size : R.off + R.wlen;

		while (R.n_files && store_bytes(active) > R.max_size)
			remove_oldest();
	}
	if (R.max_age_ns)
		while (R.n_files && R.files[0].last_ns + R.max_age_ns < now)
			remove_oldest();
}

static size_t pcapng_option(uint8_t *p, uint16_t code, const void *v,
                            uint16_t len)
{
	size_t pad = (4 - len % 4) % 4;

	memcpy(p, &code, 2);
	memcpy(p + 2, &len, 2);
	memcpy(p + 4, v, len);
	memset(p + 4 + len, 0, pad);
	return 4 + len + pad;
}

/* The file's prologue: a pcap header with nanosecond times, or a pcapng
 * section header and one interface block per interface. */
static size_t prologue(uint8_t *p)
{
	size_t n = 0, i;

	if (!R.pcapng) {
		uint32_t h[6] = {0xa1b23c4du,      0x00040002u,      0, 0,
		                 R.ifs[0].snaplen, R.ifs[0].linktype};

		memcpy(p, h, sizeof(h));
		return sizeof(h);
	} else {
		uint32_t shb[7] = {0x0a0d0d0au, 28,          0x1a2b3c4du,
		                   0x00000001u, 0xffffffffu, 0xffffffffu,
		                   28};

		memcpy(p, shb, sizeof(shb));
		n = sizeof(shb);
	}
	for (i = 0; i < R.n_if; i++) {
		uint8_t *b = p + n;
		uint32_t len, v;
		uint16_t lt = (uint16_t)R.ifs[i].linktype, zero = 0;
		uint8_t resol = 9;
		size_t o = 16;

		v = 1;
		memcpy(b, &v, 4);
		memcpy(b + 8, &lt, 2);
		memcpy(b + 10, &zero, 2);
		memcpy(b + 12, &R.ifs[i].snaplen, 4);
		o += pcapng_option(b + o, 2, R.ifs[i].name,
		                   (uint16_t)strlen(R.ifs[i].name));
		o += pcapng_option(b + o, 9, &resol, 1);
		memset(b + o, 0, 4);
		o += 4;
		len = (uint32_t)(o + 4);
		memcpy(b + 4, &len, 4);
		memcpy(b + o, &len, 4);
		n += len;
	}
	return n;
}

/* A new file: written under a hidden name with its header and an empty
 * growing index, then given its name, so a reader never meets a capture
 * file without a header or an index. */
static int open_file(void)
{
	uint8_t head[RC_MAX_IFACES * 96 + 64];
	char tmp[64];
	size_t n;
	cf_reader *r;
	char err[128];

	retain(1);
	snprintf(R.name, sizeof(R.name), "%08u.%s", R.next_number++,
	         R.pcapng ? "pcapng" : "pcap");
	snprintf(tmp, sizeof(tmp), ".%s.new", R.name);
	unlinkat(R.dirfd, tmp, 0);
	R.fd = openat(R.dirfd, tmp,
	              O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (R.fd < 0) {
		halt("cannot create %s: %s", R.name, strerror(errno));
		return -1;
	}
	n = prologue(head);
	if (write_all(R.fd, head, n) != 0) {
		halt("cannot write %s: %s", R.name, strerror(errno));
		goto bad;
	}
	R.off = n;
	R.wlen = 0;
	sx_index_init(&R.ix);
	/* The data offset as the readers' own parser finds it. */
	r = cf_open(R.fd, n, err, sizeof(err));
	if (r) {
		R.ix.sum.format = (uint32_t)cf_format(r);
		R.ix.sum.data_offset = cf_data_offset(r);
		cf_close(r);
	} else {
		halt("%s: our own header does not read back: %s", R.name, err);
		goto bad;
	}
	if (flush_file(1) != 0)
		goto bad;
	if (renameat(R.dirfd, tmp, R.dirfd, R.name) != 0) {
		halt("cannot name %s: %s", R.name, strerror(errno));
		goto bad;
	}
	R.cur_first = R.roll.n_points;
	R.cur_npts = 0;
	R.cur_base_p = R.roll.packets;
	R.cur_base_b = R.roll.bytes;
	R.roll.next_seq++;
	R.roll.files++;
	/* The folder changed (this file, and what retention removed):
	 * readers find the rollup current again at once, not at the next
	 * flush. */
	roll_sync();
	return 0;
bad:
	close(R.fd);
	R.fd = -1;
	unlinkat(R.dirfd, tmp, 0);
	sx_index_free(&R.ix);
	return -1;
}

/* Appends one record, starting a new file when this one is full. */
static int put(uint32_t iface, uint64_t ts, uint32_t caplen, uint32_t wirelen,
               const uint8_t *data)
{
	size_t pad = R.pcapng ? (4 - caplen % 4) % 4 : 0;
	size_t len = R.pcapng ? 32 + caplen + pad : 16 + (size_t)caplen;
	uint8_t *p;

	if (R.reason[0] || (R.fd < 0 && open_file() != 0))
		return -1;
	if (R.off + R.wlen + len > R.file_size && R.ix.sum.packets) {
		close_file();
		if (R.reason[0] || open_file() != 0)
			return -1;
	}
	if (R.wlen + len > RC_WBUF && drain() != 0)
		return -1;
	if (!R.stream && sx_index_add(&R.ix, R.off + R.wlen, ts, caplen) != 0) {
		halt("out of memory");
		return -1;
	}
	p = R.wbuf + R.wlen;
	if (R.pcapng) {
		uint32_t h[7] = {6,
		                 (uint32_t)len,
		                 iface,
		                 (uint32_t)(ts >> 32),
		                 (uint32_t)ts,
		                 caplen,
		                 wirelen};
		uint32_t l = (uint32_t)len;

		memcpy(p, h, sizeof(h));
		memcpy(p + 28, data, caplen);
		memset(p + 28 + caplen, 0, pad);
		memcpy(p + 28 + caplen + pad, &l, 4);
	} else {
		uint32_t h[4] = {(uint32_t)(ts / 1000000000u),
		                 (uint32_t)(ts % 1000000000u), caplen, wirelen};

		memcpy(p, h, sizeof(h));
		memcpy(p + 16, data, caplen);
	}
	R.wlen += len;
	if (ts < R.last_ts)
		R.late++;
	else
		R.last_ts = ts;
	R.ifs[iface].written++;
	R.ifs[iface].bytes += caplen;
	R.pend[iface]++;
	R.pend_bytes[iface] += caplen;
	R.written++;
	R.bytes += caplen;
	if (R.count && R.written >= R.count && !stop_signal)
		stop_signal = -1;
	return 0;
}

/* ------------------------------------------------------------ reorder */

/* Packets of several rings, each in its own order, leave in time order:
 * a packet is written once a packet RC_REORDER later has been seen, or
 * that long has passed on the clock; the stage holds at most its byte
 * budget (past it, the oldest leave early). */
#define RC_REORDER_NS  (3ull * RC_TIMEOUT_MS * 1000000u)
#define RC_REORDER_MAX (64u << 20)

static int emit_ready(uint64_t now, int all)
{
	size_t i = 0;

	while (i < R.qn) {
		rc_pkt *p = R.q[i];

		if (!all && R.q_bytes <= RC_REORDER_MAX &&
		    p->ts + R.reorder_ns > R.max_seen &&
		    p->ts + R.reorder_ns > now)
			break;
		if (!R.reason[0] &&
		    put(p->iface, p->ts, p->caplen, p->wirelen, p->data) != 0)
			R.ifs[p->iface].lost++;
		else if (R.reason[0])
			R.ifs[p->iface].lost++;
		R.q_bytes -= p->caplen;
		free(p);
		i++;
	}
	if (i) {
		memmove(R.q, R.q + i, (R.qn - i) * sizeof(*R.q));
		R.qn -= i;
	}
	return R.reason[0] ? -1 : 0;
}

static void hold(uint32_t iface, const struct pcap_pkthdr *h,
                 const uint8_t *data, uint64_t ts)
{
	rc_pkt *p;
	size_t at;

	if (R.qn == R.qcap) {
		size_t ncap = R.qcap ? R.qcap * 2 : 4096;
		rc_pkt **n = realloc(R.q, ncap * sizeof(*n));

		if (!n) {
			R.ifs[iface].lost++;
			return;
		}
		R.q = n;
		R.qcap = ncap;
	}
	p = malloc(sizeof(*p) + h->caplen);
	if (!p) {
		R.ifs[iface].lost++;
		return;
	}
	p->ts = ts;
	p->caplen = h->caplen;
	p->wirelen = h->len;
	p->iface = iface;
	memcpy(p->data, data, h->caplen);
	/* Mostly in order already: the place is found from the end. */
	at = R.qn;
	while (at && R.q[at - 1]->ts > ts)
		at--;
	memmove(R.q + at + 1, R.q + at, (R.qn - at) * sizeof(*R.q));
	R.q[at] = p;
	R.qn++;
	R.q_bytes += h->caplen;
	if (ts > R.max_seen)
		R.max_seen = ts;
}

static void on_packet(u_char *user, const struct pcap_pkthdr *h,
                      const u_char *data)
{
	uint32_t iface = (uint32_t)(uintptr_t)user;
	uint64_t ts = (uint64_t)h->ts.tv_sec * 1000000000u +
	              (uint64_t)h->ts.tv_usec; /* nanosecond precision */

	R.ifs[iface].seen++;
	if (R.reason[0] || (R.count && R.written + R.qn >= R.count)) {
		if (R.reason[0])
			R.ifs[iface].lost++;
		return;
	}
	if (R.n_if == 1) {
		if (put(iface, ts, h->caplen, h->len, data) != 0)
			R.ifs[iface].lost++;
		return;
	}
	hold(iface, h, data, ts);
}

/* --------------------------------------------------------- the store */

/* A crash leaves the newest file as it was: its index may be behind, its
 * last record may be cut.  The file is read again, cut back to its last
 * whole record and given a final index; recording goes on in a new
 * file. */
static int repair_last(const char *name)
{
	sx_index ix;
	struct stat sb;
	char idx[64];
	int fd = openat(R.dirfd, name, O_RDWR | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &sb) != 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	sx_index_init(&ix);
	if (sx_index_extend(fd, &sb, &ix) != 0) {
		close(fd);
		return -1;
	}
	if (!(ix.sum.flags & SX_DAMAGED) &&
	    ix.sum.end_offset < (uint64_t)sb.st_size) {
		say("%s: cut back from %lld to %" PRIu64
		    " bytes (a record not wholly written before a crash)",
		    name, (long long)sb.st_size, ix.sum.end_offset);
		if (ftruncate(fd, (off_t)ix.sum.end_offset) != 0 ||
		    fsync(fd) != 0) {
			say("cannot cut %s: %s", name, strerror(errno));
			close(fd);
			sx_index_free(&ix);
			return -1;
		}
	}
	if (fstat(fd, &sb) == 0) {
		sx_identity_set(&ix.sum, &sb);
		ix.sum.flags &= ~(uint32_t)SX_GROWING;
		snprintf(idx, sizeof(idx), "%s.idx", name);
		sx_index_write(R.idxfd, idx, &ix);
	}
	close(fd);
	sx_index_free(&ix);
	return 0;
}

/* Opens (creating) the job folder, finishes what a crash left, and lists
 * the files retention will remove oldest first. */
static int open_store(void)
{
	char rel[512];
	int rootfd, jobsfd;
	sx_store st;
	uint64_t *pts = NULL;
	size_t i;

	rootfd = open(R.root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		say("cannot open the data root %s: %s", R.root,
		    strerror(errno));
		return -1;
	}
	jobsfd = sx_open_dir(rootfd, "jobs", 1);
	close(rootfd);
	snprintf(rel, sizeof(rel), "%s", R.job);
	R.dirfd = jobsfd >= 0 ? sx_open_dir(jobsfd, rel, 1) : -1;
	if (jobsfd >= 0)
		close(jobsfd);
	if (R.dirfd < 0) {
		say("cannot open or create jobs/%s below %s: %s", R.job, R.root,
		    strerror(errno));
		return -1;
	}
	R.idxfd = sx_open_dir(R.dirfd, SX_INDEX_DIR, 1);
	if (R.idxfd < 0) {
		say("cannot create jobs/%s/%s: %s", R.job, SX_INDEX_DIR,
		    strerror(errno));
		return -1;
	}
	/* A file begun but never named is dropped; the newest named one is
	 * repaired. */
	memset(&st, 0, sizeof(st));
	if (sx_store_open(&st, dup(R.dirfd), SX_OPEN_WRITABLE) != 0) {
		say("cannot open the store: %s", st.error);
		sx_store_close(&st);
		return -1;
	}
	if (st.n_files) {
		const char *last = st.files[st.n_files - 1].name;

		if (repair_last(last) != 0)
			say("cannot repair %s: %s", last, strerror(errno));
		sx_store_close(&st);
		memset(&st, 0, sizeof(st));
		if (sx_store_open(&st, dup(R.dirfd), SX_OPEN_WRITABLE) != 0) {
			say("cannot open the store: %s", st.error);
			sx_store_close(&st);
			return -1;
		}
	}
	/* The rollup afresh (its points from every file's index): what a
	 * crash or an earlier run left is not trusted. */
	pts = calloc(st.n_files + 1, sizeof(*pts));
	R.rstep = sx_roll_step();
	if (pts && sx_rollup_build(&st, pts, &R.roll) == 0) {
		int k;

		for (k = 0; k < SX_ROLL_LEVELS; k++)
			R.rfd[k] = openat(R.idxfd, sx_roll_name(k),
			                  O_RDWR | O_NOFOLLOW | O_CLOEXEC);
		for (k = 0; k < SX_ROLL_LEVELS; k++)
			if (R.rfd[k] < 0) {
				roll_drop(strerror(errno));
				break;
			}
	}
	for (i = 0; i < st.n_files; i++) {
		const sx_file *f = &st.files[i];
		unsigned num;
		char tail[16];

		if (!sx_store_index(&st, i))
			continue;
		add_closed(f->name, f->sum.size, f->sum.last_ns,
		           pts ? pts[i] : 0, f->sum.packets, f->sum.bytes);
		if (sscanf(f->name, "%8u.%15s", &num, tail) == 2 &&
		    num >= R.next_number)
			R.next_number = num + 1;
	}
	sx_store_save_catalog(&st);
	sx_store_close(&st);
	free(pts);
	if (!R.next_number)
		R.next_number = 1;
	return 0;
}

/* --------------------------------------------------------- interfaces */

static int open_iface(rc_iface *f, const char *name)
{
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	int rc;

	snprintf(f->name, sizeof(f->name), "%s", name);
	f->pcap = pcap_create(name, errbuf);
	if (!f->pcap) {
		say("cannot capture on %s: %s", name, errbuf);
		return -1;
	}
	pcap_set_snaplen(f->pcap, (int)R.snaplen);
	pcap_set_promisc(f->pcap, R.promisc);
	pcap_set_timeout(f->pcap, RC_TIMEOUT_MS);
	pcap_set_buffer_size(f->pcap, (int)R.buffer);
	pcap_set_tstamp_precision(f->pcap, PCAP_TSTAMP_PRECISION_NANO);
	rc = pcap_activate(f->pcap);
	if (rc < 0) {
		say("cannot capture on %s: %s%s", name,
		    rc == PCAP_ERROR ? pcap_geterr(f->pcap)
		                     : pcap_statustostr(rc),
		    rc == PCAP_ERROR_PERM_DENIED ? " (needs CAP_NET_RAW)" : "");
		return rc;
	}
	if (rc > 0)
		say("%s: %s", name, pcap_statustostr(rc));
	if (pcap_get_tstamp_precision(f->pcap) != PCAP_TSTAMP_PRECISION_NANO) {
		say("%s: no nanosecond timestamps", name);
		return -1;
	}
	if (R.filter) {
		struct bpf_program prog;

		/* A stream's filter only spares copies (its reader filters
		 * again): one the kernel cannot take is left out. */
		if (pcap_compile(f->pcap, &prog, R.filter, 1,
		                 PCAP_NETMASK_UNKNOWN) != 0) {
			say("%s capture filter \"%s\": %s",
			    R.stream ? "capturing everything: bad" : "bad",
			    R.filter, pcap_geterr(f->pcap));
			if (!R.stream)
				return -1;
		} else {
			rc = pcap_setfilter(f->pcap, &prog);
			pcap_freecode(&prog);
			if (rc != 0) {
				say("%s: cannot set the capture filter: %s",
				    name, pcap_geterr(f->pcap));
				if (!R.stream)
					return -1;
			}
		}
	}
	if (pcap_setnonblock(f->pcap, 1, errbuf) != 0 ||
	    (f->fd = pcap_get_selectable_fd(f->pcap)) < 0) {
		say("%s: cannot capture without blocking: %s", name, errbuf);
		return -1;
	}
	f->dlt = pcap_datalink(f->pcap);
	f->linktype = pkx_pcap_linktype(f->dlt);
	f->snaplen = (uint32_t)pcap_snapshot(f->pcap);
	return 0;
}

/* ----------------------------------------------------------- the loop */

/* Takes every packet the rings hold now; 0 when there were none. */
static uint64_t take(void)
{
	uint64_t got = 0;
	size_t i;

	for (i = 0; i < R.n_if; i++) {
		int n = pcap_dispatch(R.ifs[i].pcap, -1, on_packet,
		                      (u_char *)(uintptr_t)i);

		if (n < 0 && n != PCAP_ERROR_BREAK) {
			halt("capture on %s failed: %s", R.ifs[i].name,
			     pcap_geterr(R.ifs[i].pcap));
			break;
		}
		if (n > 0)
			got += (uint64_t)n;
	}
	return got;
}

/* --stream: tells the reader each interface's drops (kernel and
 * interface) when they changed, as pcapng Interface Statistics Blocks
 * (isb_ifdrop, isb_osdrop). */
static void stream_drops(void)
{
	size_t i;

	update_drops();
	for (i = 0; i < R.n_if; i++) {
		rc_iface *f = &R.ifs[i];
		uint64_t d = f->kernel_drops + f->if_drops, ts = wall_ns();
		uint32_t b[13] = {5, 52, (uint32_t)i, (uint32_t)(ts >> 32),
		                  (uint32_t)ts};
		uint16_t opt[2] = {5, 8};

		if (d == R.isb_drops[i] || R.wlen + 52 > RC_WBUF)
			continue;
		R.isb_drops[i] = d;
		memcpy(&b[5], opt, 4);
		memcpy(&b[6], &f->if_drops, 8);
		opt[0] = 7;
		memcpy(&b[8], opt, 4);
		memcpy(&b[9], &f->kernel_drops, 8);
		b[11] = 0; /* opt_endofopt */
		b[12] = 52;
		memcpy(R.wbuf + R.wlen, b, sizeof(b));
		R.wlen += sizeof(b);
	}
}

/* --stream: the packets of the interfaces, as they come, in pcapng on
 * standard output, until the reader closes it or a signal. */
static int stream(void)
{
	struct pollfd pfd[RC_MAX_IFACES];
	uint64_t next_stats = mono_ns();
	uint8_t head[RC_MAX_IFACES * 96 + 64];
	size_t i, n;
	int rounds;

	for (i = 0; i < R.n_if; i++)
		pfd[i] = (struct pollfd){.fd = R.ifs[i].fd, .events = POLLIN};
	R.fd = STDOUT_FILENO;
	n = prologue(head);
	if (write_all(R.fd, head, n) != 0)
		return 0; /* nobody reads */
	while (!stop_signal && !R.reason[0]) {
		uint64_t now;

		poll(pfd, R.n_if, RC_TIMEOUT_MS);
		take();
		if (R.n_if > 1)
			emit_ready(wall_ns(), 0);
		now = mono_ns();
		if (now >= next_stats) {
			next_stats = now + RC_TIMEOUT_MS * 1000000ull;
			stream_drops();
		}
		if (drain() != 0)
			break;
	}
	for (rounds = 0; rounds < 64 && !R.reason[0] && take() > 0; rounds++)
		;
	emit_ready(0, 1);
	stream_drops();
	drain();
	return R.reason[0] ? -1 : 0;
}

static int record(void)
{
	struct pollfd pfd[RC_MAX_IFACES];
	uint64_t next_flush, t0 = mono_ns(), tick = R.flush_ms * 1000000ull;
	size_t i;
	int rounds;

	for (i = 0; i < R.n_if; i++)
		pfd[i] = (struct pollfd){.fd = R.ifs[i].fd, .events = POLLIN};
	next_flush = t0 + tick;
	/* The first file at once, empty: its header says what the store
	 * records (link types, snap length) before any packet comes. */
	if (open_file() != 0)
		goto out;
	snprintf(R.state, sizeof(R.state), "RUNNING");
	update_drops();
	write_status();
	while (!stop_signal && !R.reason[0]) {
		uint64_t now, wall, done;

		poll(pfd, R.n_if, RC_TIMEOUT_MS);
		wall = wall_ns();
		take();
		now = mono_ns();
		done = wall - RC_TIMEOUT_MS * 1000000ull - RC_SLACK_NS;
		if (R.n_if > 1) {
			emit_ready(wall, 0);
			/* The stage still holds what is younger than this. */
			if (R.qn && R.q[0]->ts - 1 < done)
				done = R.q[0]->ts - 1;
		}
		if (R.duration_ns && now - t0 >= R.duration_ns)
			break;
		if (now >= next_flush) {
			next_flush = now + tick;
			if (flush_file(0) != 0)
				break;
			R.complete_ns = done;
			retain(0);
			update_drops();
			write_status();
		}
	}
	/* Stopping: what the rings still hold is taken (a bounded number of
	 * rounds), then everything is written, flushed and indexed. */
	for (rounds = 0; rounds < 64 && !R.reason[0] && take() > 0; rounds++)
		;
	emit_ready(0, 1);
out:
	update_drops();
	close_file();
	snprintf(R.state, sizeof(R.state), "STOPPED");
	write_status();
	return R.reason[0] ? -1 : 0;
}

/* ------------------------------------------------------------ options */

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: pktexport capture --root DIR [options] JOB IFACE...\n"
	    "\n"
	    "Records the interfaces into the packet store jobs/JOB (created "
	    "when\nmissing), indexing as it writes; exports of the job see "
	    "the recording\nup to the last flush.  Ctrl-C (or SIGTERM) stops "
	    "it with everything\nwritten, flushed and indexed.\n"
	    "\n"
	    "  --file-size BYTES   start a new file past this size "
	    "(default 256M)\n"
	    "  --max-size BYTES    keep the store under this size: oldest "
	    "files\n"
	    "                      leave first (at least twice "
	    "--file-size)\n"
	    "  --max-age SECONDS   remove files whose last packet is "
	    "older\n"
	    "  --filter BPF        capture only what the filter takes\n"
	    "  --snaplen N         bytes kept of each packet (default "
	    "262144)\n"
	    "  --buffer BYTES      kernel ring per interface (default "
	    "64M)\n"
	    "  --flush-ms N        written and indexed this often, for "
	    "exports to see\n"
	    "                      (default 200; made durable at least "
	    "every second)\n"
	    "  --no-promisc        do not put the interfaces in "
	    "promiscuous mode\n"
	    "  --count N           stop after N packets\n"
	    "  --duration SECONDS  stop after this long\n"
	    "\n"
	    "pktexport-capture --stream [--filter BPF] [--snaplen N] "
	    "[--buffer BYTES]\n"
	    "    [--no-promisc] IFACE... writes the packets to standard "
	    "output as pcapng\n"
	    "(drops as statistics blocks) instead: the live sources of "
	    "exports read it.\n"
	    "\n"
	    "Exit: 0 stopped as asked, 1 failed to start, 2 bad command "
	    "line,\n3 stopped by a failure (disk full...), named on "
	    "stderr and in\njobs/JOB/" RC_STATUS ", 4 no such interface, "
	    "5 not allowed to capture.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"root", required_argument, NULL, 'r'},
	    {"file-size", required_argument, NULL, 's'},
	    {"max-size", required_argument, NULL, 'm'},
	    {"max-age", required_argument, NULL, 'a'},
	    {"filter", required_argument, NULL, 'f'},
	    {"snaplen", required_argument, NULL, 'n'},
	    {"buffer", required_argument, NULL, 'b'},
	    {"flush-ms", required_argument, NULL, 'F'},
	    {"sync-ms", required_argument, NULL, 'S'},
	    {"stream", no_argument, NULL, 'T'},
	    {"no-promisc", no_argument, NULL, 'P'},
	    {"count", required_argument, NULL, 'c'},
	    {"duration", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct sigaction sa;
	uint64_t v;
	int c, i, li = 0;

	R.file_size = 256u << 20;
	R.buffer = 64u << 20;
	R.snaplen = 262144;
	R.flush_ms = 200;
	R.sync_ns = 1000ull * 1000000u;
	R.promisc = 1;
	while ((c = getopt_long(argc, argv, "h", opts, &li)) != -1) {
		const char *bad = NULL; /* what the value should be */

		switch (c) {
		case 'r':
			R.root = optarg;
			break;
		case 's':
			if (size_arg(optarg, 1ull << 50, &R.file_size) ||
			    R.file_size < 65536)
				bad = "a size from 64k to 1024T (256M, 1G)";
			break;
		case 'm':
			if (size_arg(optarg, UINT64_MAX, &R.max_size))
				bad = "a size (500M, 20G)";
			break;
		case 'a':
			if (num_arg(optarg, UINT32_MAX, &v))
				bad = "seconds, up to 4294967295";
			R.max_age_ns = v * 1000000000ull;
			break;
		case 'f':
			R.filter = optarg;
			break;
		case 'n':
			if (num_arg(optarg, 262144, &v) || v == 0)
				bad = "a number from 1 to 262144";
			R.snaplen = (uint32_t)v;
			break;
		case 'b':
			if (size_arg(optarg, 1ull << 31, &R.buffer) ||
			    R.buffer < (1u << 20))
				bad = "a size from 1M to 2G";
			break;
		case 'F':
			if (num_arg(optarg, 60000, &v) || v < 10)
				bad = "milliseconds from 10 to 60000";
			R.flush_ms = (unsigned)v;
			break;
		case 'S':
			if (num_arg(optarg, 3600000, &v))
				bad = "milliseconds from 0 to 3600000";
			R.sync_ns = v * 1000000ull;
			break;
		case 'P':
			R.promisc = 0;
			break;
		case 'T':
			R.stream = 1;
			break;
		case 'c':
			if (num_arg(optarg, UINT64_MAX, &R.count) ||
			    R.count == 0)
				bad = "a number of packets, 1 or more";
			break;
		case 'd':
			if (num_arg(optarg, UINT32_MAX, &v) || v == 0)
				bad = "seconds from 1 to 4294967295";
			R.duration_ns = v * 1000000000ull;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
		if (bad) {
			fprintf(stderr, RC_PROG ": --%s \"%s\": should be %s\n",
			        opts[li].name, optarg, bad);
			return EXIT_USAGE;
		}
	}
	if (R.stream ? argc - optind < 1 : !R.root || argc - optind < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!R.stream) {
		R.job = argv[optind++];
		if (!*R.job || R.job[0] == '.' || strchr(R.job, '/') ||
		    strlen(R.job) > 200) {
			fprintf(stderr,
			        RC_PROG
			        ": \"%s\" is not a job name (one folder "
			        "name, not starting with a dot)\n",
			        R.job);
			return EXIT_USAGE;
		}
	}
	if (!R.stream && R.file_size < (uint64_t)R.snaplen + 4096) {
		fprintf(stderr,
		        RC_PROG ": --file-size (%" PRIu64
		                ") must hold a packet "
		                "of --snaplen (%u) and its headers\n",
		        R.file_size, R.snaplen);
		return EXIT_USAGE;
	}
	if (!R.stream && R.max_size && R.max_size / 2 < R.file_size) {
		fprintf(stderr,
		        RC_PROG ": --max-size (%" PRIu64 ") must be at least "
		                "twice --file-size (%" PRIu64 ")\n",
		        R.max_size, R.file_size);
		return EXIT_USAGE;
	}
	if (argc - optind > RC_MAX_IFACES) {
		fprintf(stderr, RC_PROG ": at most %d interfaces\n",
		        RC_MAX_IFACES);
		return EXIT_USAGE;
	}
	R.wbuf = malloc(RC_WBUF + 262144 + 64);
	if (!R.wbuf)
		return EXIT_FAIL;
	R.reorder_ns = RC_REORDER_NS;
	for (i = optind; i < argc; i++) {
		int rc = open_iface(&R.ifs[R.n_if], argv[i]);

		if (rc != 0)
			return rc == PCAP_ERROR_NO_SUCH_DEVICE ? EXIT_NODEV
			       : rc == PCAP_ERROR_PERM_DENIED  ? EXIT_PERM
			                                       : EXIT_FAIL;
		R.n_if++;
	}
	/* A stream is pcapng whatever the interfaces: its statistics
	 * blocks carry the drops. */
	R.pcapng = R.n_if > 1 || R.stream;
	if (!R.stream && open_store() != 0)
		return EXIT_FAIL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	R.started_ns = wall_ns();
	if (R.stream) {
		c = stream();
		for (i = 0; i < (int)R.n_if; i++)
			pcap_close(R.ifs[i].pcap);
		free(R.wbuf);
		free(R.q);
		return c == 0 ? EXIT_OK : EXIT_STOPPED;
	}
	say("recording %zu interface%s into %s/jobs/%s", R.n_if,
	    R.n_if == 1 ? "" : "s", R.root, R.job);
	c = record();
	for (i = 0; i < (int)R.n_if; i++) {
		rc_iface *f = &R.ifs[i];

		say("%s: %" PRIu64 " packets seen, %" PRIu64
		    " written, %" PRIu64 " dropped by the kernel, %" PRIu64
		    " by the interface, %" PRIu64 " by us",
		    f->name, f->seen, f->written, f->kernel_drops, f->if_drops,
		    f->lost);
		pcap_close(f->pcap);
	}
	free(R.wbuf);
	free(R.files);
	free(R.q);
	close(R.idxfd);
	close(R.dirfd);
	return c == 0 ? EXIT_OK : EXIT_STOPPED;
}
