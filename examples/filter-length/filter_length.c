/* filter-length: an example pktexport filter plugin, built out of tree.
 * Filter type LENGTH selects packets by their length on the wire:
 *   "> 100", ">= 64", "< 1500", "<= 60", "= 60" (or "== 60"),
 *   "60-128" (both ends included)
 * It shows the parts of a filter: compile (with an error that names the
 * offending text), match, to_bpf (a pre-filter the core may hand to
 * libpcap or the kernel), free, and the export handle of ABI 1.5 (its
 * totals are logged with the export's id). */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pktexport/plugin.h>

static const pkx_services *len_svc;

typedef struct len_program {
	uint32_t lo, hi; /* wire length in [lo, hi] */
	char bpf[64];    /* the same test in BPF */
	const pkx_export_handle *export;
	uint64_t seen, matched;
} len_program;

static pkx_result len_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	len_svc = svc;
	return PKX_OK;
}

/* A number at *p (skipping spaces), at most UINT32_MAX; -1 when none. */
static int64_t len_number(const char **p)
{
	char *end;
	unsigned long long v;

	while (isspace((unsigned char)**p))
		(*p)++;
	if (!isdigit((unsigned char)**p))
		return -1;
	v = strtoull(*p, &end, 10);
	if (v > UINT32_MAX)
		return -1;
	*p = end;
	return (int64_t)v;
}

static pkx_result len_compile(const char *type, const char *expr,
                              const pkx_interface *ifs, size_t n_ifs,
                              void **program, pkx_error *err)
{
	const char *p = expr;
	len_program *prog;
	int64_t a, b = -1;
	char op[3] = "";

	(void)type; /* only LENGTH is claimed */
	(void)ifs;  /* the wire length means the same on every link type */
	(void)n_ifs;
	while (isspace((unsigned char)*p))
		p++;
	if (strchr("<>=", *p)) {
		op[0] = *p++;
		if (*p == '=')
			op[1] = *p++;
	}
	a = len_number(&p);
	if (!op[0] && a >= 0 && *p == '-') {
		p++;
		b = len_number(&p);
	}
	while (isspace((unsigned char)*p))
		p++;
	if (a < 0 || *p || (!op[0] && b < 0 && *expr) ||
	    (!op[0] && b >= 0 && b < a) || strcmp(op, "=<") == 0 ||
	    strcmp(op, "=>") == 0)
		return len_svc->fail(
		    err, PKX_EINVAL,
		    "LENGTH \"%s\": expected \"> N\", \">= N\", \"< N\", "
		    "\"<= N\", \"= N\" or \"N-M\" (lengths in bytes)",
		    expr);
	prog = calloc(1, sizeof(*prog));
	if (!prog)
		return len_svc->fail(err, PKX_EINTERNAL, "out of memory");
	prog->lo = 0;
	prog->hi = UINT32_MAX;
	if (b >= 0) {
		prog->lo = (uint32_t)a;
		prog->hi = (uint32_t)b;
	} else if (op[0] == '>') {
		prog->lo = (uint32_t)a + (op[1] ? 0 : 1);
	} else if (op[0] == '<' && a == 0 && !op[1]) {
		prog->lo = 1; /* "< 0": nothing */
		prog->hi = 0;
	} else if (op[0] == '<') {
		prog->hi = (uint32_t)a - (op[1] ? 0 : 1);
	} else {
		prog->lo = prog->hi = (uint32_t)a;
	}
	/* BPF's "len" is the wire length too. */
	snprintf(prog->bpf, sizeof(prog->bpf),
	         "len >= %" PRIu32 " and len <= %" PRIu32, prog->lo, prog->hi);
	*program = prog;
	return PKX_OK;
}

static int len_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	len_program *prog = program;
	int yes = pkt->wirelen >= prog->lo && pkt->wirelen <= prog->hi;

	(void)err;
	prog->seen++;
	prog->matched += yes;
	return yes;
}

static const char *len_to_bpf(void *program)
{
	return ((len_program *)program)->bpf;
}

/* ABI 1.5: the export this program works for. */
static void len_bind_export(void *program, const pkx_export_handle *export)
{
	((len_program *)program)->export = export;
}

static void len_free(void *program)
{
	len_program *prog = program;

	if (prog && prog->export && prog->seen)
		prog->export->log(prog->export, PKX_LOG_DEBUG, "filter-length",
		                  "%" PRIu64 " of %" PRIu64 " packets matched",
		                  prog->matched, prog->seen);
	free(prog);
}

static const char *const len_claims[] = {"LENGTH", NULL};

static const pkx_filter_plugin len_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, "filter-length",
                      "1.0", "packets by wire length (example plugin)",
                      len_claims, len_init, NULL),
    .compile = len_compile,
    .match = len_match,
    .to_bpf = len_to_bpf,
    .free = len_free,
    .bind_export = len_bind_export,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &len_plugin.header;
}
