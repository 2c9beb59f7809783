/* filter-bpf: BPF expressions compiled by libpcap, once per link type, and
 * matched with libpcap's interpreter, as tcpdump does. */
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktexport/plugin.h"

#define BPF_NAME "filter-bpf"

static const pkx_services *bpf_svc;
/* Older libpcaps compile through global parser state. */
static pthread_mutex_t bpf_compile_lock = PTHREAD_MUTEX_INITIALIZER;

typedef struct bpf_program_set {
	size_t n_programs;
	struct bpf_program *programs; /* one per distinct link type */
	size_t n_interfaces;
	size_t *program_of; /* interface index -> program */
	char *expr;
} bpf_program_set;

static pkx_result bpf_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	bpf_svc = svc;
	return PKX_OK;
}

static void bpf_free(void *program)
{
	bpf_program_set *set = program;
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->n_programs; i++)
		pcap_freecode(&set->programs[i]);
	free(set->programs);
	free(set->program_of);
	free(set->expr);
	free(set);
}

static pkx_result bpf_compile_one(const char *expr, uint32_t linktype,
                                  uint32_t snaplen, struct bpf_program *prog,
                                  pkx_error *err)
{
	uint32_t hdr[6] = {
	    0xa1b2c3d4, 0x00040002, 0, 0, snaplen ? snaplen : 65535, linktype};
	char errbuf[PCAP_ERRBUF_SIZE];
	FILE *mem = fmemopen(hdr, sizeof(hdr), "rb");
	pcap_t *file = mem ? pcap_fopen_offline(mem, errbuf) : NULL;
	int r;

	/* Compile on a savefile handle, not pcap_open_dead: libpcap then
	 * generates what `tcpdump -r` does (on DLT_NULL, e.g., it checks
	 * every BSD AF_INET6 value only when reading a file). */
	if (!file) {
		if (mem)
			fclose(mem);
		return bpf_svc->fail(err, "REQUEST_INVALID_INPUT",
		                     "link type %u is unknown to libpcap",
		                     linktype);
	}
	pthread_mutex_lock(&bpf_compile_lock);
	/* Netmask 0, optimizer on: what tcpdump uses when reading a file. */
	r = pcap_compile(file, prog, expr, 1, 0);
	pthread_mutex_unlock(&bpf_compile_lock);
	if (r != 0) {
		bpf_svc->fail(err, "REQUEST_INVALID_INPUT", "%s",
		              pcap_geterr(file));
		pcap_close(file);
		return PKX_ERROR;
	}
	pcap_close(file); /* closes mem too */
	return PKX_OK;
}

static pkx_result bpf_compile(const char *type, const char *expr,
                              const pkx_interface *ifs, size_t n_ifs,
                              void **program, pkx_error *err)
{
	bpf_program_set *set = calloc(1, sizeof(*set));
	size_t i, j;

	(void)type;
	if (!set)
		return bpf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	set->programs = calloc(n_ifs, sizeof(*set->programs));
	set->program_of = calloc(n_ifs, sizeof(*set->program_of));
	set->expr = strdup(expr);
	set->n_interfaces = n_ifs;
	if (!set->programs || !set->program_of || !set->expr) {
		bpf_free(set);
		return bpf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	}
	for (i = 0; i < n_ifs; i++) {
		for (j = 0; j < i; j++)
			if (ifs[j].linktype == ifs[i].linktype)
				break;
		if (j < i) {
			set->program_of[i] = set->program_of[j];
			continue;
		}
		if (bpf_compile_one(expr, ifs[i].linktype, ifs[i].snaplen,
		                    &set->programs[set->n_programs],
		                    err) != PKX_OK) {
			bpf_free(set);
			return PKX_ERROR;
		}
		set->program_of[i] = set->n_programs++;
	}
	*program = set;
	return PKX_OK;
}

static int bpf_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	const bpf_program_set *set = program;
	const struct bpf_program *prog;

	if (pkt->ifindex >= set->n_interfaces) {
		bpf_svc->fail(err, "INTERNAL_ERROR",
		              "packet on unknown interface %u", pkt->ifindex);
		return -1;
	}
	prog = &set->programs[set->program_of[pkt->ifindex]];
	return bpf_filter(prog->bf_insns, pkt->data, pkt->wirelen,
	                  pkt->caplen) != 0;
}

static const char *bpf_to_bpf(void *program)
{
	return ((bpf_program_set *)program)->expr;
}

static const char *const bpf_claims[] = {"BPF", NULL};

static const pkx_filter_plugin bpf_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, BPF_NAME,
                      PACKAGE_VERSION, "BPF capture filters (libpcap)",
                      bpf_claims, bpf_init, NULL),
    .compile = bpf_compile,
    .match = bpf_match,
    .to_bpf = bpf_to_bpf,
    .free = bpf_free,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &bpf_plugin.header;
}
