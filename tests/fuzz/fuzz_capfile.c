/* libFuzzer target: the capture readers.
 *
 * The input is a capture file (pcap or pcapng, or anything).  It is read
 *  1. by the store's reader (plugins/source-store/capfile.c, which reads
 *     pcapng for the file source too and every capture of a packet store)
 *     from a memfd: every record must lie inside the input, at increasing
 *     offsets, on a described interface, and a clean end must be the end
 *     of the input;
 *  2. by the index builder (store_index.c): its counts, bounds and flags
 *     must be those of the records of 1, the index must survive a write
 *     and read back, and on an ordered file sx_index_locate must find the
 *     first record at or after a time;
 *  3. by the file source plugin (plugins/source-file) through its own
 *     callbacks, from a file under a temporary data root: classic pcap
 *     goes through libpcap there, so on a pcap file it must agree with 1
 *     record for record (lengths, bytes, time) and on where reading stops,
 *     as a store holding the file must export what fs/ exports;
 *  4. when the input starts with the index magic "PKXINDEX", it is also
 *     read as an index file (its checksum fixed up first, and the capture
 *     identity taken from it, so the parser behind them is reached). */
#include "config.h"

#include <sys/mman.h>

#include "../../plugins/source-file/source_file.c"

#include "pkx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_RECORDS 4096

#define FAIL(...)                                                              \
	do {                                                                   \
		fprintf(stderr, __VA_ARGS__);                                  \
		fputc('\n', stderr);                                           \
		abort();                                                       \
	} while (0)

typedef struct rec {
	uint64_t offset, end, ts;
	uint32_t caplen, wirelen, iface;
	const uint8_t *data; /* into the input */
} rec;

static rec cf_recs[MAX_RECORDS], sf_recs[MAX_RECORDS];
static char root[64], root_fs[80], root_file[96], idx_dir[80];
static pkx_services services;
static int memfd = -1, idxfd = -1;

static void quiet_log(int level, const char *plugin, const char *fmt, ...)
{
	(void)level;
	(void)plugin;
	(void)fmt;
}

static void cleanup(void)
{
	char p[128];

	unlink(root_file);
	snprintf(p, sizeof(p), "%s/i", idx_dir);
	unlink(p);
	rmdir(idx_dir);
	rmdir(root_fs);
	rmdir(root);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pkx_error err;
	const char *tmp = getenv("TMPDIR");

	(void)argc;
	(void)argv;
	snprintf(root, sizeof(root), "%s/pkxfuzz.XXXXXX",
	         tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(root))
		return 1;
	snprintf(root_fs, sizeof(root_fs), "%s/fs", root);
	snprintf(root_file, sizeof(root_file), "%s/fs/in", root);
	snprintf(idx_dir, sizeof(idx_dir), "%s/idx", root);
	if (mkdir(root_fs, 0700) != 0 || mkdir(idx_dir, 0700) != 0)
		return 1;
	atexit(cleanup);
	memfd = memfd_create("capture", MFD_CLOEXEC);
	idxfd = memfd_create("index", MFD_CLOEXEC);
	services = *pkx_core_services();
	services.log = quiet_log;
	return memfd >= 0 && idxfd >= 0 && sf_init(&services, &err) == PKX_OK
	           ? 0
	           : 1;
}

static int put_bytes(int fd, const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		return -1;
	return 0;
}

/* Where rec's bytes lie in the input: right after its record or block
 * header, inside the record. */
static const uint8_t *locate_data(const uint8_t *in, size_t size,
                                  const cf_record *r, uint64_t end)
{
	static const unsigned starts[] = {12, 16, 24, 28};
	size_t k;

	for (k = 0; k < 4; k++) {
		uint64_t at = r->offset + starts[k];

		if (at + r->caplen <= end && end <= size &&
		    memcmp(in + at, r->data, r->caplen) == 0)
			return in + at;
	}
	return NULL;
}

/* 1. The store's reader; returns the number of records, *end_rc how
 * reading stopped (0 clean, -1 damage, 1 too many records), -1 when the
 * reader refuses the file. */
static long read_cf(const uint8_t *in, size_t size, int *end_rc, uint64_t *stop,
                    uint64_t *data_off)
{
	char why[256] = "";
	cf_reader *r = cf_open(memfd, size, why, sizeof(why));
	cf_record cr;
	uint64_t last = 0;
	long n = 0;
	int rc;

	if (!r) {
		if (!why[0])
			FAIL("cf_open refused without a reason");
		return -1;
	}
	if (cf_data_offset(r) > size)
		FAIL("data offset %llu past the end",
		     (unsigned long long)cf_data_offset(r));
	while ((rc = cf_next(r, &cr)) == 1) {
		uint64_t end = cf_tell(r);
		const uint8_t *at = locate_data(in, size, &cr, end);

		if (cr.offset < cf_data_offset(r) || cr.offset < last ||
		    (n && cr.offset == last) || end <= cr.offset || end > size)
			FAIL(
			    "record %ld at %llu..%llu: out of order or outside "
			    "the input (%zu bytes)",
			    n, (unsigned long long)cr.offset,
			    (unsigned long long)end, size);
		if (!at)
			FAIL("record %ld at %llu: its %u bytes are not the "
			     "input's",
			     n, (unsigned long long)cr.offset, cr.caplen);
		if (cr.iface >= cf_n_ifaces(r))
			FAIL("record %ld on interface %u of %zu", n, cr.iface,
			     cf_n_ifaces(r));
		if (cr.ts_ns == UINT64_MAX)
			FAIL("record %ld stamped UINT64_MAX", n);
		cf_recs[n] = (rec){cr.offset,  end,      cr.ts_ns, cr.caplen,
		                   cr.wirelen, cr.iface, at};
		last = cr.offset;
		if (++n == MAX_RECORDS)
			break;
	}
	*end_rc = rc == 1 ? 1 : rc;
	*data_off = cf_data_offset(r);
	*stop = cf_tell(r);
	if (rc == 0 && cf_tell(r) != size)
		FAIL("clean end at %llu of %zu bytes",
		     (unsigned long long)cf_tell(r), size);
	if (rc < 0 && !cf_error(r)[0])
		FAIL("damage without a reason");
	cf_close(r);
	return n;
}

/* 2. The index of the same bytes. */
static void check_index(long n, int end_rc, uint64_t stop, uint64_t data_offset)
{
	struct stat st;
	sx_index ix, back;
	uint64_t bytes = 0, first = 0, last = 0;
	int ordered = 1, fd;
	long i;

	if (n < 0 || end_rc == 1 || fstat(memfd, &st) != 0)
		return;
	if (sx_index_scan(memfd, &st, &ix) != 0)
		FAIL("sx_index_scan failed");
	for (i = 0; i < n; i++) {
		bytes += cf_recs[i].caplen;
		if (i && cf_recs[i].ts < cf_recs[i - 1].ts)
			ordered = 0;
		if (!i || cf_recs[i].ts < first)
			first = cf_recs[i].ts;
		if (!i || cf_recs[i].ts > last)
			last = cf_recs[i].ts;
	}
	if (ix.sum.packets != (uint64_t)n || ix.sum.bytes != bytes ||
	    ix.sum.end_offset != stop ||
	    !!(ix.sum.flags & SX_DAMAGED) != (end_rc < 0) ||
	    !!(ix.sum.flags & SX_ORDERED) != ordered ||
	    (n && (ix.sum.first_ns != first || ix.sum.last_ns != last)))
		FAIL("index: %llu packets %llu bytes end %llu flags %#x, "
		     "reader: %ld packets %llu bytes end %llu rc %d",
		     (unsigned long long)ix.sum.packets,
		     (unsigned long long)ix.sum.bytes,
		     (unsigned long long)ix.sum.end_offset, ix.sum.flags, n,
		     (unsigned long long)bytes, (unsigned long long)stop,
		     end_rc);
	/* Written and read back: the same index. */
	fd = open(idx_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || sx_index_write(fd, "i", &ix) != 0)
		FAIL("cannot write the index");
	{
		int ifd = openat(fd, "i", O_RDONLY | O_CLOEXEC);

		if (ifd < 0 || sx_index_read(ifd, &st, &back) != 0)
			FAIL("an index just written does not read back");
		close(ifd);
	}
	close(fd);
	if (back.n_entries != ix.n_entries ||
	    memcmp(&back.sum, &ix.sum, sizeof(ix.sum)) != 0 ||
	    (ix.n_entries && memcmp(back.entries, ix.entries,
	                            ix.n_entries * sizeof(*ix.entries))))
		FAIL("the index read back differs");
	sx_index_free(&back);
	/* Locating a time, as the file source's seek does. */
	if ((ix.sum.flags & SX_ORDERED) && !(ix.sum.flags & SX_LINEAR)) {
		char why[256];
		cf_reader *r =
		    cf_open(memfd, ix.sum.end_offset, why, sizeof(why));
		long k;

		if (!r)
			FAIL("reader refuses for locate: %s", why);
		/* One reader serves every search of an ordered file. */
		for (k = 0; k <= n && k < 16; k++) {
			uint64_t want = k < n ? cf_recs[k].ts : last + 1;
			int plus;

			for (plus = 0; plus < 2; plus++) {
				uint64_t t = want + (uint64_t)plus, lo, hi;
				sx_pos pos;
				long j = 0;

				if (t < want)
					continue;
				while (j < n && cf_recs[j].ts < t)
					j++;
				if (sx_index_locate(&ix, r, t, &pos) != 0)
					FAIL("sx_index_locate failed");
				/* At the record, or before blocks that are
				 * not packets ahead of it. */
				lo = j ? cf_recs[j - 1].end : data_offset;
				hi = j < n ? cf_recs[j].offset
				           : ix.sum.end_offset;
				if (pos.packets != (uint64_t)j ||
				    pos.offset < lo || pos.offset > hi)
					FAIL("locate %llu: packet %llu at "
					     "%llu, expected %ld at %llu..%llu",
					     (unsigned long long)t,
					     (unsigned long long)pos.packets,
					     (unsigned long long)pos.offset, j,
					     (unsigned long long)lo,
					     (unsigned long long)hi);
			}
		}
		cf_close(r);
	}
	sx_index_free(&ix);
}

/* 3. The file source plugin. */
static long read_plugin(const uint8_t *in, size_t size, int *end_rc,
                        int *via_libpcap)
{
	static const char path[] = "fs/in";
	pkx_source_args args;
	const pkx_source_info *info;
	pkx_error err;
	pkx_packet pkt;
	pkx_result r = PKX_OK;
	void *inst = NULL;
	long n = 0;
	int fd;

	(void)in;
	fd = open(root_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, in, size) != (ssize_t)size)
		FAIL("cannot write %s", root_file);
	close(fd);
	memset(&args, 0, sizeof(args));
	args.size = sizeof(args);
	args.root = root;
	args.path = path;
	memset(&err, 0, sizeof(err));
	if (sf_open(&args, &inst, &err) != PKX_OK) {
		if (inst || !err.id[0] || !err.text[0])
			FAIL("source-file refused without a reason");
		return -1;
	}
	*via_libpcap = ((sf_source *)inst)->pcap != NULL;
	info = sf_info(inst);
	if (!info || !info->n_interfaces || !info->interfaces ||
	    info->total_bytes != size)
		FAIL("source-file: bad info");
	while (n < MAX_RECORDS) {
		memset(&err, 0, sizeof(err));
		r = sf_next(inst, &pkt, &err);
		if (r != PKX_OK)
			break;
		info = sf_info(inst);
		if (pkt.ifindex >= info->n_interfaces)
			FAIL("source-file: packet %ld on interface %u of %zu",
			     n, pkt.ifindex, info->n_interfaces);
		if (pkt.caplen > size)
			FAIL("source-file: packet %ld of %u bytes", n,
			     pkt.caplen);
		if (pkt.caplen && !pkt.data)
			FAIL("source-file: packet %ld without data", n);
		sf_recs[n] =
		    (rec){0,           sf_position(inst), pkt.ts_ns, pkt.caplen,
		          pkt.wirelen, pkt.ifindex,       pkt.data};
		/* Borrowed until the next call: compare now. */
		if (pkt.caplen &&
		    memmem(in, size, pkt.data, pkt.caplen) == NULL)
			FAIL("source-file: packet %ld's bytes are not in the "
			     "input",
			     n);
		if (n < MAX_RECORDS && *via_libpcap) {
			/* kept for comparing with the store's reader */
			sf_recs[n].data =
			    memmem(in, size, pkt.data, pkt.caplen);
		}
		n++;
	}
	if (r == PKX_ERROR && (!err.id[0] || !err.text[0]))
		FAIL("source-file: damage without a reason");
	*end_rc = n == MAX_RECORDS ? 1 : r == PKX_END ? 0 : -1;
	sf_close(inst);
	return n;
}

/* 4. The bytes as an index file. */
static void read_as_index(const uint8_t *in, size_t size)
{
	uint8_t *copy;
	struct stat st;
	sx_index ix;
	uint64_t h, v;
	int rc;

	if (size < 256 || memcmp(in, "PKXINDEX", 8) != 0)
		return;
	copy = malloc(size);
	if (!copy)
		return;
	memcpy(copy, in, size);
	h = sx_hash(SX_HASH_SEED, copy, 248);
	h = sx_hash(h, copy + 256, size - 256);
	h = htole64(h);
	memcpy(copy + 248, &h, 8);
	memset(&st, 0, sizeof(st));
	memcpy(&v, copy + 16, 8);
	st.st_size = (off_t)le64toh(v);
	memcpy(&v, copy + 24, 8);
	v = le64toh(v);
	st.st_mtim.tv_sec = (time_t)(v / 1000000000u);
	st.st_mtim.tv_nsec = (long)(v % 1000000000u);
	memcpy(&v, copy + 224, 8);
	v = le64toh(v);
	st.st_ctim.tv_sec = (time_t)(v / 1000000000u);
	st.st_ctim.tv_nsec = (long)(v % 1000000000u);
	memcpy(&v, copy + 232, 8);
	st.st_dev = (dev_t)le64toh(v);
	memcpy(&v, copy + 240, 8);
	st.st_ino = (ino_t)le64toh(v);
	if (put_bytes(idxfd, copy, size) == 0) {
		rc = sx_index_read(idxfd, &st, &ix);
		if (rc == 0 || rc == 1) {
			size_t i;

			for (i = 0; i < ix.n_entries; i++)
				if (ix.entries[i].offset < ix.sum.data_offset ||
				    ix.entries[i].offset >= ix.sum.end_offset ||
				    (i && ix.entries[i].offset <=
				              ix.entries[i - 1].offset))
					FAIL("unsound index accepted");
			sx_index_free(&ix);
		} else if (rc == 2 && ix.entries) {
			FAIL("index 2 with entries");
		}
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int cf_end = 0, sf_end = 0, via_libpcap = 0;
	uint64_t stop = 0, data_off = 0;
	long n_cf, n_sf, i;

	if (put_bytes(memfd, data, size) != 0)
		FAIL("cannot write the memfd");
	n_cf = read_cf(data, size, &cf_end, &stop, &data_off);
	check_index(n_cf, cf_end, stop, data_off);
	n_sf = read_plugin(data, size, &sf_end, &via_libpcap);
	read_as_index(data, size);

	/* A pcapng the store reads is read the same by the file source; a
	 * classic pcap is read by libpcap there: compare. */
	if (size < 4 || !via_libpcap ||
	    memcmp(data, "\x0a\x0d\x0d\x0a", 4) == 0)
		return 0;
	if ((n_cf < 0) != (n_sf < 0))
		FAIL("pcap: the store's reader %s it, libpcap %s it",
		     n_cf < 0 ? "refuses" : "accepts",
		     n_sf < 0 ? "refuses" : "accepts");
	if (n_cf < 0)
		return 0;
	for (i = 0; i < n_cf && i < n_sf; i++) {
		const rec *a = &cf_recs[i], *b = &sf_recs[i];

		if (a->caplen != b->caplen || a->wirelen != b->wirelen ||
		    a->ts != b->ts ||
		    (a->caplen && memcmp(a->data, b->data, a->caplen) != 0))
			FAIL("pcap record %ld: store reader caplen %u len %u "
			     "ts %llu, libpcap caplen %u len %u ts %llu",
			     i, a->caplen, a->wirelen,
			     (unsigned long long)a->ts, b->caplen, b->wirelen,
			     (unsigned long long)b->ts);
	}
	if (n_cf != n_sf || (cf_end != sf_end && cf_end != 1 && sf_end != 1))
		FAIL("pcap: the store's reader reads %ld records and %s, "
		     "libpcap %ld and %s",
		     n_cf, cf_end ? "stops on damage" : "ends cleanly", n_sf,
		     sf_end ? "stops on damage" : "ends cleanly");
	return 0;
}
