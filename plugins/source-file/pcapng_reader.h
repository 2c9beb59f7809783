/* source-file's pcapng reader: several interfaces and link types, several
 * sections, either byte order, any if_tsresol, interfaces described
 * anywhere.  Packets keep their interface. */
#ifndef SF_PCAPNG_READER_H
#define SF_PCAPNG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "pktexport/plugin.h"

typedef struct sfng_reader sfng_reader;

#define SFNG_ERR_MAX 256

/* Nonzero when the 4 bytes at `magic` start a pcapng file. */
int sfng_is_pcapng(const uint8_t magic[4]);

/* Reads fd (with pread, from offset 0; the fd stays the caller's) up to
 * its first packet, learning the interfaces described before it.  NULL
 * with `why` set when the file is not a readable pcapng file. */
sfng_reader *sfng_open(int fd, uint64_t file_size, char *why, size_t len);

/* PKX_OK with *pkt filled (data borrowed until the next call), PKX_END,
 * or PKX_ERROR with `why` set when the file is damaged.  pkt->ifindex
 * indexes the list of sfng_interfaces, which grows (and may move) when a
 * block describes a new interface. */
pkx_result sfng_next(sfng_reader *r, pkx_packet *pkt, char *why, size_t len);

/* Every interface met so far, across sections, in file order. */
const pkx_interface *sfng_interfaces(const sfng_reader *r, size_t *n);

/* Goes on from `offset`, the start of a packet block of the current
 * section, when every interface of the file is already known (the
 * sidecar index vouches for that). */
void sfng_seek(sfng_reader *r, uint64_t offset);

/* Bytes of the file consumed so far. */
uint64_t sfng_position(const sfng_reader *r);

void sfng_close(sfng_reader *r);

#endif /* SF_PCAPNG_READER_H */
