/* A careful reader of pcap and pcapng files that knows the byte offset of
 * every record, so an index can point into a file and reading can start
 * there.  Every length read from a file is checked before it is used. */
#ifndef PKX_STORE_CAPFILE_H
#define PKX_STORE_CAPFILE_H

#include <stddef.h>
#include <stdint.h>

enum cf_format { CF_PCAP = 1, CF_PCAPNG = 2 };

/* An interface as the file describes it.  The list of a reader only grows:
 * a new pcapng section appends its interfaces after the earlier ones. */
typedef struct cf_iface {
	uint32_t linktype;   /* with the FCS bits (pcap field, pcapng fcslen) */
	uint32_t snaplen;    /* as written */
	uint32_t snapshot;   /* pcapng: libpcap's (0 or too large: maximum) */
	uint8_t tsresol;     /* pcapng if_tsresol as written */
	uint8_t has_tsresol; /* the option was there */
	int64_t tsoffset;    /* pcapng if_tsoffset, seconds */
	uint64_t ts_mul;     /* ns = units * ts_mul / ts_div */
	uint64_t ts_div;
	char name[64];
} cf_iface;

typedef struct cf_record {
	uint64_t offset; /* of the record (pcap) or block (pcapng) */
	uint64_t ts_ns;
	uint32_t caplen, wirelen;
	uint32_t iface;      /* index into the reader's interfaces */
	const uint8_t *data; /* valid until the next call */
} cf_record;

typedef struct cf_reader cf_reader;

/* Reads the file header (and, for pcapng, the blocks before the first
 * packet).  The reader never reads at or past `limit`.  Returns NULL with
 * a sentence in errbuf when the file is not a capture or is damaged. */
cf_reader *cf_open(int fd, uint64_t limit, char *errbuf, size_t errlen);
void cf_close(cf_reader *r); /* does not close fd */

int cf_format(const cf_reader *r);
/* Decimal digits of a second the first interface's times carry: 6
 * (microseconds) or 9 (nanoseconds); 0 for any other resolution or none
 * known yet. */
int cf_ts_digits(const cf_reader *r);
/* Offset of the first record: where reading from the start begins. */
uint64_t cf_data_offset(const cf_reader *r);
/* Bytes of header a pcap file starts with (24) or the pcapng blocks before
 * the first packet; the store's import compares them to decide whether a
 * capture may be appended to a file. */
size_t cf_n_ifaces(const cf_reader *r);
const cf_iface *cf_ifaces(const cf_reader *r);
/* How many pcapng section or interface blocks came after the first
 * packet: offsets past one can only be reached from the start. */
int cf_layout_changed(const cf_reader *r);

/* Continue at `offset`, which must be the offset of a record that a reader
 * of the same file returned (an index entry). */
void cf_seek(cf_reader *r, uint64_t offset);
/* Offset of the next record to read. */
uint64_t cf_tell(const cf_reader *r);

/* 1: a record; 0: clean end of data; -1: damage (cf_error says what,
 * cf_tell stays at the damaged record). */
int cf_next(cf_reader *r, cf_record *rec);
const char *cf_error(const cf_reader *r);
/* Whether that damage is a record cut by the end of the data: in a file
 * still being written, the part of a record not written yet. */
int cf_cut(const cf_reader *r);

/* pcapng: the raw bytes of the current section header and interface
 * blocks, for starting a new file of the same section; pcap: the 24-byte
 * file header.  Owned by the reader. */
const uint8_t *cf_prologue(const cf_reader *r, size_t *len);

#endif /* PKX_STORE_CAPFILE_H */
