/* Test-only filter plugin whose answers depend on the order it sees
 * packets in, to show that batched answers (match_batch, ABI 1.1) reach
 * the same verdicts as one-by-one ones.  Built twice: "SEQ" answers one
 * packet at a time, "SEQ_BATCH" (with -DTF_BATCH) many at once.
 *   "MOD/REM"          the n-th packet seen (from 1) matches when
 *                      n % MOD == REM
 *   "MOD/REM/FAIL"     the same, and fails at the FAIL-th packet seen
 *   "MOD/REM/FAIL/WAIT" SEQ_BATCH only: at the WAIT-th packet seen, waits
 *                      for the export to be cancelled (ABI 1.4
 *                      watch_cancel), 10 s at most, then fails
 * A new interface mid-stream recompiles SEQ (its count starts over) and
 * is added to SEQ_BATCH's program (its count goes on). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef TF_BATCH
/* "SEQ" uses nothing newer than ABI 1.0 and says so: a module for older
 * cores, loaded by this one. */
#define PKX_PLUGIN_ABI_MINOR 0
#endif
#include "pktexport/plugin.h"

#ifdef TF_BATCH
#define TF_TYPE "SEQ_BATCH"
#define TF_NAME "test-filter-batch"
#else
#define TF_TYPE "SEQ"
#define TF_NAME "test-filter"
#endif

static const pkx_services *tf_svc;

typedef struct tf_program {
	unsigned long mod, rem, fail, wait;
	unsigned long seen;
	const int *cancelled; /* SEQ_BATCH: the export's, ABI 1.4 */
} tf_program;

static pkx_result tf_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	tf_svc = svc;
	return PKX_OK;
}

static pkx_result tf_compile(const char *type, const char *expr,
                             const pkx_interface *ifs, size_t n_ifs,
                             void **program, pkx_error *err)
{
	tf_program *p = calloc(1, sizeof(*p));
	int n;

	(void)type;
	(void)ifs;
	(void)n_ifs;
	if (!p)
		return tf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	n = sscanf(expr, "%lu/%lu/%lu/%lu", &p->mod, &p->rem, &p->fail,
	           &p->wait);
	if (n < 2 || p->mod == 0) {
		free(p);
		return tf_svc->fail(
		    err, "REQUEST_INVALID_INPUT",
		    "expected MOD/REM[/FAIL[/WAIT]], not \"%s\"", expr);
	}
	*program = p;
	return PKX_OK;
}

static int tf_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	tf_program *p = program;

	(void)pkt;
	p->seen++;
	if (p->fail && p->seen == p->fail) {
		tf_svc->fail(err, "INTERNAL_ERROR", "failed at packet %lu",
		             p->seen);
		return -1;
	}
	return p->seen % p->mod == p->rem;
}

#ifdef TF_BATCH
/* Waits as a filter asking another process would: in short sleeps,
 * looking at the cancel flag between them. */
static int tf_wait_for_cancel(tf_program *p, pkx_error *err)
{
	const struct timespec nap = {0, 10000000}; /* 10 ms */
	int i;

	for (i = 0; i < 1000; i++) {
		if (p->cancelled &&
		    __atomic_load_n(p->cancelled, __ATOMIC_RELAXED))
			break;
		nanosleep(&nap, NULL);
	}
	tf_svc->fail(err, "INTERNAL_ERROR", "%s at packet %lu",
	             i < 1000 ? "cancelled" : "not cancelled in 10 s",
	             p->seen + 1);
	return -1;
}

static size_t tf_match_batch(void *program, const pkx_packet *pkts, size_t n,
                             uint8_t *verdicts, pkx_error *err)
{
	tf_program *p = program;
	size_t i;

	for (i = 0; i < n; i++) {
		int m = p->wait && p->seen + 1 == p->wait
		            ? tf_wait_for_cancel(p, err)
		            : tf_match(program, &pkts[i], err);

		if (m < 0)
			return i;
		verdicts[i] = (uint8_t)m;
	}
	return n;
}

/* ABI 1.3: new interfaces keep the count going (SEQ, a 1.0 module, is
 * compiled again and starts over). */
static pkx_result tf_add_interfaces(void *program, const pkx_interface *ifs,
                                    size_t n_ifs, pkx_error *err)
{
	(void)program;
	(void)ifs;
	(void)n_ifs;
	(void)err;
	return PKX_OK;
}

/* ABI 1.4. */
static void tf_watch_cancel(void *program, const int *cancelled)
{
	((tf_program *)program)->cancelled = cancelled;
}
#endif

static void tf_free(void *program)
{
	free(program);
}

static const char *const tf_claims[] = {TF_TYPE, NULL};

static const pkx_filter_plugin tf_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, TF_NAME, "1.0",
                      "order-dependent test filter", tf_claims, tf_init, NULL),
    .compile = tf_compile,
    .match = tf_match,
    .free = tf_free,
#ifdef TF_BATCH
    .match_batch = tf_match_batch,
    .add_interfaces = tf_add_interfaces,
    .watch_cancel = tf_watch_cancel,
#endif
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &tf_plugin.header;
}
