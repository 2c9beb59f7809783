/* libFuzzer target: the SteelFilter plugin (plugins/filter-steelfilter),
 * through its own compile and match callbacks, with a differential check.
 *
 * Input: an expression, then optionally a NUL byte, a byte choosing the
 * interface (Ethernet, raw IP, Linux SLL, 802.11), a byte added to the
 * wire length and the packet's bytes.  The expression is compiled by the
 * plugin for all four link types (BPF through libpcap where it can, the
 * evaluator otherwise) and matched on the fuzzed packet and on a built-in
 * frame cut at every length.  On the link types the evaluator knows, the
 * plugin's answer must equal sf_eval's: steelfilter.h promises "same
 * answer as the BPF code of sf_bpf_for on every packet, truncated ones
 * included", and the plugin picks BPF or the evaluator per link type, so a
 * disagreement is a silently wrong export.  A refused expression must say
 * why. */
#include "config.h"

#include "../../plugins/filter-steelfilter/filter_steelfilter.c"

#include "pkx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Ethernet, 802.1ad + 802.1Q tags, IPv4, TCP 1024 -> 80, SYN. */
static const uint8_t frame4[] = {
    0x02, 0,    0,    0,    0,    1,    0x02, 0,    0,    0,    0, 2, 0x88,
    0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45, 0, 0, 40,
    0,    1,    0,    0,    64,   6,    0,    0,    10,   0,    0, 1, 10,
    0,    0,    2,    0x04, 0x00, 0x00, 0x50, 0,    0,    0,    1, 0, 0,
    0,    0,    0x50, 0x02, 0xff, 0xff, 0,    0,    0,    0};
/* Ethernet, IPv6, UDP 53 -> 53. */
static const uint8_t frame6[] = {
    0x02, 0, 0, 0, 0,  1,  0x02, 0,    0,    0,    0, 2, 0x86, 0xdd, 0x60, 0,
    0,    0, 0, 8, 17, 64, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,    0,    0,
    0,    0, 0, 0, 0,  1,  0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,    0,    0,    0,
    0,    0, 0, 0, 0,  2,  0,    53,   0,    53,   0, 8, 0,    0};

static const pkx_interface ifs[] = {
    {.linktype = SF_LINKTYPE_ETHERNET, .snaplen = 262144, .tsresol = 6},
    {.linktype = SF_LINKTYPE_RAW, .snaplen = 65535, .tsresol = 6},
    {.linktype = SF_LINKTYPE_LINUX_SLL, .snaplen = 65535, .tsresol = 6},
    {.linktype = 105, .snaplen = 65535, .tsresol = 6},
};
#define N_IFS (sizeof(ifs) / sizeof(ifs[0]))

static void quiet_log(int level, const char *plugin, const char *fmt, ...)
{
	(void)level;
	(void)plugin;
	(void)fmt;
}

static pkx_services services;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	pkx_error err;

	(void)argc;
	(void)argv;
	services = *pkx_core_services();
	services.log = quiet_log;
	return sf_init(&services, &err) == PKX_OK ? 0 : 1;
}

static void match_one(sf_program *prog, const char *expr, uint32_t ifindex,
                      const uint8_t *pkt, uint32_t caplen, uint32_t wirelen)
{
	pkx_packet p;
	pkx_error err;
	int got, want;

	memset(&p, 0, sizeof(p));
	p.ifindex = ifindex;
	p.caplen = caplen;
	p.wirelen = wirelen;
	p.data = pkt;
	memset(&err, 0, sizeof(err));
	got = sf_match(prog, &p, &err);
	if (got < 0 || got > 1)
		abort();
	if (!sf_eval_supports(ifs[ifindex].linktype))
		return;
	want = sf_eval(prog->expr, ifs[ifindex].linktype, pkt, caplen, wirelen);
	if (got != want) {
		fprintf(stderr,
		        "\"%s\" on link type %u, caplen %u, wirelen %u: "
		        "plugin (%s) says %d, evaluator says %d\nBPF: %s\n",
		        expr, ifs[ifindex].linktype, caplen, wirelen,
		        prog->program_of[ifindex] < 0 ? "evaluator" : "BPF",
		        got, want,
		        sf_bpf_for(prog->expr, ifs[ifindex].linktype));
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, 0, size);
	size_t elen = nul ? (size_t)(nul - data) : size;
	char *expr = malloc(elen + 1);
	void *program = NULL;
	sf_program *prog;
	pkx_error err;
	uint32_t i, cut;

	if (!expr)
		return 0;
	memcpy(expr, data, elen);
	expr[elen] = '\0';
	memset(&err, 0, sizeof(err));
	if (sf_plugin_compile("STEELFILTER", expr, ifs, N_IFS, &program,
	                      &err) != PKX_OK) {
		if (program || !err.id[0] || !err.text[0])
			abort();
		free(expr);
		return 0;
	}
	prog = program;
	if (nul && size - elen >= 3) {
		const uint8_t *pkt = nul + 3;
		uint32_t caplen = (uint32_t)(size - elen - 3);

		match_one(prog, expr, nul[1] % N_IFS, pkt, caplen,
		          caplen + nul[2]);
	} else {
		for (i = 0; i < N_IFS; i++)
			for (cut = 0; cut <= sizeof(frame6); cut++) {
				if (cut <= sizeof(frame4))
					match_one(prog, expr, i, frame4, cut,
					          sizeof(frame4));
				match_one(prog, expr, i, frame6, cut,
				          sizeof(frame6));
			}
	}
	(void)sf_to_bpf(prog);
	sf_program_free(prog);
	free(expr);
	return 0;
}
