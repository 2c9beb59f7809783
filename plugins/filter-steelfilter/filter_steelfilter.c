/* filter-steelfilter: SteelFilter expressions, compiled to BPF by libpcap
 * per link type where the expression allows, matched by the SteelFilter
 * evaluator otherwise (doc/steelfilter.md). */
#include <pcap/pcap.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pktexport/plugin.h"
#include "steelfilter.h"

#define SF_NAME "filter-steelfilter"
/* Debugging aid: set to 1 to match with the evaluator wherever it knows
 * the link type, instead of BPF. */
#define SF_FORCE_ENV "PKTEXPORT_STEELFILTER_EVALUATOR"

static const pkx_services *sf_svc;
/* Older libpcaps compile through global parser state. */
static pthread_mutex_t sf_compile_lock = PTHREAD_MUTEX_INITIALIZER;

/* No load of a SteelFilter program on a link type the evaluator knows
 * reaches past this many bytes: Ethernet, two tags, 60 bytes of IPv4
 * header, the TCP flags (14 + 8 + 60 + 14). */
#define SF_SAFE_CAPLEN 96

/* libpcap's optimizer reorders loads, which changes the answer on a packet
 * cut short before one of them.  So each link type the evaluator knows gets
 * two programs: optimized, for packets long enough that no load can fail,
 * and unoptimized (loads in the order of the expression, as the evaluator
 * reads), for shorter ones.  Other link types get the optimized one only,
 * as tcpdump would. */
typedef struct sf_bpf {
	struct bpf_program fast, exact;
	int has_exact;
} sf_bpf;

typedef struct sf_program {
	sf_expr *expr;
	size_t n_interfaces;
	uint32_t *linktype_of; /* interface index -> link type */
	int *program_of;       /* interface index -> program, -1: evaluator */
	size_t n_programs;
	sf_bpf *programs;
	const char *to_bpf; /* borrowed from expr, or NULL */
} sf_program;

static pkx_result sf_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	sf_svc = svc;
	return PKX_OK;
}

/* The DLT_* value libpcap uses for a LINKTYPE_* value, found by letting it
 * read a file header from memory; -1 when libpcap does not know it. */
static int sf_dlt_of(uint32_t linktype, uint32_t snaplen)
{
	uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, snaplen, linktype};
	char errbuf[PCAP_ERRBUF_SIZE];
	FILE *mem = fmemopen(hdr, sizeof(hdr), "rb");
	pcap_t *p;
	int dlt;

	if (!mem)
		return -1;
	p = pcap_fopen_offline(mem, errbuf);
	if (!p) {
		fclose(mem);
		return -1;
	}
	dlt = pcap_datalink(p);
	pcap_close(p);
	return dlt;
}

static void sf_program_free(void *program)
{
	sf_program *prog = program;
	size_t i;

	if (!prog)
		return;
	for (i = 0; i < prog->n_programs; i++) {
		pcap_freecode(&prog->programs[i].fast);
		if (prog->programs[i].has_exact)
			pcap_freecode(&prog->programs[i].exact);
	}
	free(prog->programs);
	free(prog->program_of);
	free(prog->linktype_of);
	sf_free(prog->expr);
	free(prog);
}

/* Compiles `text` for a link type: 0, or -1 with libpcap's reason. */
static int sf_pcap_compile(const char *text, const pkx_interface *ifc,
                           int optimize, struct bpf_program *bpf, char *why,
                           size_t size)
{
	uint32_t snaplen = ifc->snaplen ? ifc->snaplen : 65535;
	int dlt = sf_dlt_of(ifc->linktype, snaplen);
	pcap_t *dead;
	int r;

	if (dlt < 0) {
		snprintf(why, size, "libpcap does not know the link type");
		return -1;
	}
	dead = pcap_open_dead(dlt, (int)snaplen);
	if (!dead) {
		snprintf(why, size, "pcap_open_dead failed");
		return -1;
	}
	pthread_mutex_lock(&sf_compile_lock);
	/* Netmask 0, as tcpdump reading a file. */
	r = pcap_compile(dead, bpf, text, optimize, 0);
	pthread_mutex_unlock(&sf_compile_lock);
	if (r != 0)
		snprintf(why, size, "%s", pcap_geterr(dead));
	pcap_close(dead);
	return r != 0 ? -1 : 0;
}

static int sf_forced(void)
{
	const char *v = getenv(SF_FORCE_ENV);

	return v && *v && strcmp(v, "0") != 0;
}

/* Chooses BPF or the evaluator for one link type; fills program_of[i]. */
static pkx_result sf_compile_interface(sf_program *prog,
                                       const pkx_interface *ifc, size_t i,
                                       pkx_error *err)
{
	const char *text = sf_bpf_for(prog->expr, ifc->linktype);
	int evaluable = sf_eval_supports(ifc->linktype);
	char why[PCAP_ERRBUF_SIZE + 64];
	sf_bpf *bpf = &prog->programs[prog->n_programs];

	prog->program_of[i] = -1;
	if (!text)
		return PKX_OK; /* matches nothing: no BPF needed */
	if (evaluable && (sf_forced() || strlen(text) > SF_BPF_TEXT_MAX))
		return PKX_OK;
	if (sf_pcap_compile(text, ifc, 1, &bpf->fast, why, sizeof(why)) != 0) {
		if (evaluable) {
			sf_svc->log(PKX_LOG_DEBUG, SF_NAME,
			            "BPF for link type %u refused (%s); using "
			            "the evaluator",
			            ifc->linktype, why);
			return PKX_OK;
		}
		return sf_svc->fail(err, "REQUEST_INVALID_INPUT",
		                    "the expression cannot be matched on link "
		                    "type %u: %s",
		                    ifc->linktype, why);
	}
	if (evaluable) {
		if (sf_pcap_compile(text, ifc, 0, &bpf->exact, why,
		                    sizeof(why)) != 0) {
			pcap_freecode(&bpf->fast);
			return PKX_OK; /* the evaluator, then */
		}
		bpf->has_exact = 1;
	}
	prog->program_of[i] = (int)prog->n_programs++;
	return PKX_OK;
}

/* The BPF text when every interface runs the same BPF program text. */
static const char *sf_common_bpf(const sf_program *prog)
{
	const char *text = NULL;
	size_t i;

	for (i = 0; i < prog->n_interfaces; i++) {
		const char *t = sf_bpf_for(prog->expr, prog->linktype_of[i]);

		if (prog->program_of[i] < 0 || (text && strcmp(text, t) != 0))
			return NULL;
		text = t;
	}
	return text;
}

static pkx_result sf_plugin_compile(const char *type, const char *expr,
                                    const pkx_interface *ifs, size_t n_ifs,
                                    void **program, pkx_error *err)
{
	sf_program *prog = calloc(1, sizeof(*prog));
	char why[PKX_ERROR_TEXT_MAX - 64];
	size_t i, j;
	int r;

	(void)type;
	if (!prog)
		return sf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	r = sf_compile(expr, &prog->expr, why, sizeof(why));
	if (r != 0) {
		sf_program_free(prog);
		return sf_svc->fail(
		    err, r == -2 ? "INTERNAL_ERROR" : "REQUEST_INVALID_INPUT",
		    "%s", why);
	}
	prog->n_interfaces = n_ifs;
	prog->programs = calloc(n_ifs + 1, sizeof(*prog->programs));
	prog->program_of = calloc(n_ifs + 1, sizeof(*prog->program_of));
	prog->linktype_of = calloc(n_ifs + 1, sizeof(*prog->linktype_of));
	if (!prog->programs || !prog->program_of || !prog->linktype_of) {
		sf_program_free(prog);
		return sf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	}
	for (i = 0; i < n_ifs; i++) {
		prog->linktype_of[i] = ifs[i].linktype;
		for (j = 0; j < i; j++)
			if (ifs[j].linktype == ifs[i].linktype)
				break;
		if (j < i) {
			prog->program_of[i] = prog->program_of[j];
			continue;
		}
		if (sf_compile_interface(prog, &ifs[i], i, err) != PKX_OK) {
			sf_program_free(prog);
			return PKX_ERROR;
		}
	}
	prog->to_bpf = sf_common_bpf(prog);
	*program = prog;
	return PKX_OK;
}

static int sf_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	const sf_program *prog = program;
	const sf_bpf *bpf;
	const struct bpf_insn *code;
	int which;

	if (pkt->ifindex >= prog->n_interfaces) {
		sf_svc->fail(err, "INTERNAL_ERROR",
		             "packet on unknown interface %u", pkt->ifindex);
		return -1;
	}
	which = prog->program_of[pkt->ifindex];
	if (which < 0)
		return sf_eval(prog->expr, prog->linktype_of[pkt->ifindex],
		               pkt->data, pkt->caplen, pkt->wirelen);
	bpf = &prog->programs[which];
	code = bpf->has_exact && pkt->caplen < SF_SAFE_CAPLEN
	           ? bpf->exact.bf_insns
	           : bpf->fast.bf_insns;
	return bpf_filter(code, pkt->data, pkt->wirelen, pkt->caplen) != 0;
}

static const char *sf_to_bpf(void *program)
{
	return ((sf_program *)program)->to_bpf;
}

static const char *const sf_claims[] = {"STEELFILTER", NULL};

static const pkx_filter_plugin sf_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, SF_NAME,
                      PACKAGE_VERSION,
                      "SteelFilter expressions (BPF where possible)", sf_claims,
                      sf_init, NULL),
    .compile = sf_plugin_compile,
    .match = sf_match,
    .to_bpf = sf_to_bpf,
    .free = sf_program_free,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &sf_plugin.header;
}
