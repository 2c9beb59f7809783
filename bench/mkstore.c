/* A synthetic packet store for bench/timeline.sh: capture files that
 * hold a pcap header and no packet data (sparse, of their full size),
 * with the time indexes and the catalog a store of that traffic would
 * have (doc/store.md), written with the store's own index code.
 *
 *   mkstore DIR/jobs/NAME FILES FILE_BYTES RATE_BITS_PER_SECOND START_NS
 *           [rollup-only]
 *
 * The traffic is 1024-byte records (16-byte header, 1008 captured bytes)
 * back to back at RATE: an index entry every 256 records.  The store's
 * rollup (.index/rollup) is written too, a point every SX_ROLL_EVERY
 * entries of each file, with its coarser levels (rollup2, rollup3: every
 * SX_ROLL_STEP-th point of the level below).  With `rollup-only`, only the
 * newest capture file (sparse), its index and the catalog line of it are
 * written, and the rollup describing all FILES: what a timeline over the whole
 * span reads (the rollup, the folder's stamp, the newest file's stat). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_index.h"

#define REC 1024u
#define HDR 24u

static int die(const char *what)
{
	fprintf(stderr, "mkstore: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	static const unsigned char pcap_ns[HDR] = {
	    0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0,
	    0,    0,    0,    0,    0, 0, 4, 0, 1, 0, 0, 0};
	unsigned long long files, size, rate, start, t_before = 0;
	FILE *cat;
	char *catbuf = NULL;
	size_t catlen = 0;
	int dir, idx, only, rfd[SX_ROLL_LEVELS];
	char rtmp[SX_ROLL_LEVELS][256];
	uint32_t step = sx_roll_step();
	sx_rollup roll;
	sx_point pts[4096];
	size_t npts = 0;

	if (argc != 6 && !(argc == 7 && !strcmp(argv[6], "rollup-only"))) {
		fprintf(stderr, "usage: mkstore JOBDIR FILES FILE_BYTES "
		                "RATE_BPS START_NS [rollup-only]\n");
		return 2;
	}
	files = strtoull(argv[2], NULL, 10);
	size = strtoull(argv[3], NULL, 10);
	rate = strtoull(argv[4], NULL, 10);
	start = strtoull(argv[5], NULL, 10);
	size = HDR + (size - HDR) / REC * REC;
	if (mkdir(argv[1], 0755) != 0 && errno != EEXIST)
		return die(argv[1]);
	if ((dir = open(argv[1], O_RDONLY | O_DIRECTORY)) < 0)
		return die(argv[1]);
	if (mkdirat(dir, SX_INDEX_DIR, 0755) != 0 && errno != EEXIST)
		return die(SX_INDEX_DIR);
	if ((idx = openat(dir, SX_INDEX_DIR, O_RDONLY | O_DIRECTORY)) < 0)
		return die(SX_INDEX_DIR);
	only = argc == 7;
	memset(&roll, 0, sizeof(roll));
	roll.every = sx_roll_every();
	roll.step = 1;
	for (int k = 0; k < SX_ROLL_LEVELS; k++) {
		sx_temp_name(rtmp[k], sizeof(rtmp[k]), sx_roll_name(k));
		rfd[k] = openat(idx, rtmp[k], O_RDWR | O_CREAT | O_EXCL, 0644);
		if (rfd[k] < 0)
			return die(rtmp[k]);
	}
	cat = open_memstream(&catbuf, &catlen);
	fputs("pktexport-catalog 3\n", cat);
	for (unsigned long long f = 0; f < files; f++) {
		unsigned long long recs = (size - HDR) / REC;
		char name[64], iname[80];
		struct stat st;
		sx_index ix;
		int fd;

		snprintf(name, sizeof(name), "%08llu.pcap", f + 1);
		/* The rollup's points of this file: entries 0, every, ... */
		for (unsigned long long j = 0; j < (recs + 255) / 256;
		     j += roll.every) {
			unsigned long long r = t_before + j * 256;

			pts[npts++] = (sx_point){
			    start + (unsigned long long)((unsigned __int128)r *
			                                 REC * 8 *
			                                 1000000000ull / rate),
			    f, r, r * (REC - 16)};
			if (npts == sizeof(pts) / sizeof(pts[0])) {
				if (sx_rollup_put_levels(rfd, step,
				                         roll.n_points, pts,
				                         npts) != 0)
					return die("rollup");
				roll.n_points += npts;
				npts = 0;
			}
		}
		if (only && f + 1 < files) {
			t_before += recs;
			continue;
		}
		fd = openat(dir, name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || write(fd, pcap_ns, HDR) != HDR ||
		    ftruncate(fd, (off_t)size) != 0 || fstat(fd, &st) != 0)
			return die(name);
		close(fd);
		sx_index_init(&ix);
		ix.n_entries = ix.cap = (recs + 255) / 256;
		ix.entries = calloc(ix.n_entries, sizeof(*ix.entries));
		if (!ix.entries)
			return die("memory");
		for (size_t j = 0; j < ix.n_entries; j++) {
			unsigned long long r = (unsigned long long)j * 256;

			ix.entries[j] = (sx_entry){
			    start +
			        (unsigned long long)((unsigned __int128)(t_before +
			                                                 r) *
			                             REC * 8 * 1000000000ull /
			                             rate),
			    HDR + r * REC, r, r * (REC - 16)};
		}
		ix.sum.flags = SX_ORDERED;
		ix.sum.format = 1;
		ix.sum.data_offset = HDR;
		ix.sum.end_offset = size;
		ix.sum.packets = recs;
		ix.sum.bytes = recs * (REC - 16);
		ix.sum.first_ns = ix.entries[0].ts;
		ix.sum.last_ns =
		    start +
		    (unsigned long long)((unsigned __int128)(t_before + recs -
		                                             1) *
		                         REC * 8 * 1000000000ull / rate);
		sx_identity_set(&ix.sum, &st);
		snprintf(roll.last_name, sizeof(roll.last_name), "%s", name);
		roll.last_size = (uint64_t)st.st_size;
		roll.last_ino = (uint64_t)st.st_ino;
		roll.last_ns = ix.sum.last_ns;
		snprintf(iname, sizeof(iname), "%s.idx", name);
		if (sx_index_write(idx, iname, &ix) != 0)
			return die(iname);
		fprintf(cat,
		        "%llu %llu %llu %llu %llu %u %u %llu %llu %llu %llu "
		        "%llu %llu %s\n",
		        (unsigned long long)ix.sum.size,
		        (unsigned long long)ix.sum.mtime_ns,
		        (unsigned long long)ix.sum.ctime_ns,
		        (unsigned long long)ix.sum.dev,
		        (unsigned long long)ix.sum.ino, ix.sum.flags,
		        ix.sum.format, (unsigned long long)ix.sum.data_offset,
		        (unsigned long long)ix.sum.end_offset,
		        (unsigned long long)ix.sum.packets,
		        (unsigned long long)ix.sum.bytes,
		        (unsigned long long)ix.sum.first_ns,
		        (unsigned long long)ix.sum.last_ns, name);
		t_before += recs;
		sx_index_free(&ix);
	}
	fclose(cat);
	{
		char end[32];
		int n = snprintf(
		    end, sizeof(end), "end %016llx\n",
		    (unsigned long long)sx_hash(SX_HASH_SEED, catbuf, catlen));

		if (sx_write_atomic(idx, SX_CATALOG, catbuf, catlen, end,
		                    (size_t)n) != 0)
			return die("catalog");
	}
	free(catbuf);
	/* The rollup last, stamped with the folder as it now is. */
	if (npts &&
	    sx_rollup_put_levels(rfd, step, roll.n_points, pts, npts) != 0)
		return die("rollup");
	roll.n_points += npts;
	roll.files = roll.next_seq = files;
	roll.packets = t_before;
	roll.bytes = t_before * (REC - 16);
	roll.first_ns = start;
	if (sx_rollup_stamp(dir, &roll) != 0 ||
	    sx_rollup_put_headers(rfd, step, &roll) != 0)
		return die("rollup");
	for (int k = 0; k < SX_ROLL_LEVELS; k++) {
		sx_rollup hk;

		if (close(rfd[k]) != 0 ||
		    renameat(idx, rtmp[k], idx, sx_roll_name(k)) != 0)
			return die(sx_roll_name(k));
		sx_rollup_level(&roll, step, k, &hk);
		printf("%s: %llu points (%llu bytes)\n", sx_roll_name(k),
		       (unsigned long long)hk.n_points,
		       (unsigned long long)(256 + hk.n_points * 32));
	}
	printf("%llu files, %llu bytes of capture, %llu index entries\n", files,
	       files * size, files * ((size - HDR) / REC + 255) / 256);
	return 0;
}
