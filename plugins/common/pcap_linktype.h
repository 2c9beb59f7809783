/* The LINKTYPE_* value libpcap writes for a DLT_* value: libpcap's own
 * table decides, by dumping a file header to memory.  For plugins that
 * read with libpcap and report link types as files carry them. */
#ifndef PKX_PCAP_LINKTYPE_H
#define PKX_PCAP_LINKTYPE_H

#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline uint32_t pkx_pcap_linktype(int dlt)
{
	char *buf = NULL;
	size_t len = 0;
	uint32_t linktype = (uint32_t)dlt;
	pcap_t *dead = pcap_open_dead(dlt, 65535);
	FILE *mem = open_memstream(&buf, &len);
	pcap_dumper_t *d = NULL;

	if (dead && mem && (d = pcap_dump_fopen(dead, mem))) {
		pcap_dump_flush(d);
		if (len >= 24)
			memcpy(&linktype, buf + 20, 4);
		pcap_dump_close(d); /* closes mem */
		mem = NULL;
	}
	if (mem)
		fclose(mem);
	free(buf);
	if (dead)
		pcap_close(dead);
	return linktype;
}

#endif /* PKX_PCAP_LINKTYPE_H */
