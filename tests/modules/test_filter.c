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
 * is added to SEQ_BATCH's program (its count goes on).
 *
 * "SEQ_ASYNC" (-DTF_BATCH -DTF_ASYNC) also takes batches in two halves
 * (ABI 1.7 batch_submit / batch_collect, two in flight: 1.8
 * batches_in_flight), as a filter answering in another process would:
 *   "MOD/REM/FAIL/WAIT/DELAY" a batch's answers are ready DELAY ms after
 *                      its submit (its collect sleeps until then); the
 *                      WAIT-th packet makes the collect of its batch wait
 *                      for the cancel.
 * It counts what the core does (tf_async_stats, read by the tests through
 * dlsym): submits, collects, the most batches in flight, and the broken
 * rules -- a third batch in flight, a collect with none, another call
 * while batches are in flight, calls from two threads.  A broken rule
 * also fails the next collect ("protocol: ..."). */
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

#if defined(TF_ASYNC)
#include <pthread.h>
#define TF_TYPE  "SEQ_ASYNC"
#define TF_NAME  "test-filter-async"
#define TF_DEPTH 2
#elif defined(TF_BATCH)
#define TF_TYPE "SEQ_BATCH"
#define TF_NAME "test-filter-batch"
#else
#define TF_TYPE "SEQ"
#define TF_NAME "test-filter"
#endif

static const pkx_services *tf_svc;

#ifdef TF_ASYNC
/* A batch submitted: its verdicts, how many are set (n: all), the
 * failure, the packet to wait for the cancel at (0: none), and when its
 * answers are ready. */
typedef struct tf_flight {
	uint8_t *v;
	size_t n, got;
	unsigned long wait_at;
	pkx_error err;
	struct timespec ready;
} tf_flight;

/* What the core did, over every SEQ_ASYNC program: see the top. */
typedef struct tf_async_counts {
	unsigned long submits, collects, max_in_flight, broken;
	char why[200]; /* the first rule broken */
} tf_async_counts;

static tf_async_counts tf_counts;

/* For the tests (dlsym): the counts so far; reset when asked. */
__attribute__((visibility("default"))) void tf_async_stats(tf_async_counts *out,
                                                           int reset);
void tf_async_stats(tf_async_counts *out, int reset)
{
	if (out)
		*out = tf_counts;
	if (reset)
		memset(&tf_counts, 0, sizeof(tf_counts));
}
#endif

typedef struct tf_program {
	unsigned long mod, rem, fail, wait, delay;
	unsigned long seen;
	const int *cancelled; /* SEQ_BATCH: the export's, ABI 1.4 */
#ifdef TF_ASYNC
	tf_flight q[TF_DEPTH]; /* in flight: q[head], then the next */
	size_t head, count;
	pthread_t thread; /* of the first submit */
	int has_thread;
#endif
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
	n = sscanf(expr, "%lu/%lu/%lu/%lu/%lu", &p->mod, &p->rem, &p->fail,
	           &p->wait, &p->delay);
	if (n < 2 || p->mod == 0) {
		free(p);
		return tf_svc->fail(
		    err, "REQUEST_INVALID_INPUT",
		    "expected MOD/REM[/FAIL[/WAIT[/DELAY]]], not \"%s\"", expr);
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

#ifdef TF_ASYNC
/* A rule the core broke: what, and "" or what makes it broken. */
static void tf_broken(const char *what, const char *how)
{
	if (tf_counts.broken++ == 0)
		snprintf(tf_counts.why, sizeof(tf_counts.why), "%s%s", what,
		         how);
}

/* Every call but free: none while batches are in flight but a submit or
 * a collect, and all from one thread. */
static void tf_check(tf_program *p, const char *call, int halves)
{
	if (!halves && p->count > 0)
		tf_broken(call, " with batches in flight");
	if (!p->has_thread) {
		p->thread = pthread_self();
		p->has_thread = 1;
	} else if (!pthread_equal(p->thread, pthread_self())) {
		tf_broken(call, " from another thread");
	}
}

#endif

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

#ifdef TF_ASYNC
	tf_check(p, "a match_batch", 0);
#endif
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

#ifdef TF_ASYNC
static pkx_result tf_submit(void *program, const pkx_packet *pkts, size_t n,
                            pkx_error *err)
{
	tf_program *p = program;
	tf_flight *f;
	size_t i;

	tf_check(p, "a submit", 1);
	tf_counts.submits++;
	if (p->count == TF_DEPTH) {
		tf_broken("a third batch in flight", "");
		return tf_svc->fail(err, "INTERNAL_ERROR", "protocol: %s",
		                    tf_counts.why);
	}
	f = &p->q[(p->head + p->count) % TF_DEPTH];
	memset(&f->err, 0, sizeof(f->err));
	free(f->v);
	if (!(f->v = malloc(n ? n : 1)))
		return tf_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	f->n = n;
	f->wait_at = 0;
	/* The answers are those of match(), in the order submitted. */
	for (i = 0; i < n; i++) {
		int m;

		if (p->wait && p->seen + 1 == p->wait) {
			f->wait_at = p->seen + 1;
			break;
		}
		if ((m = tf_match(program, &pkts[i], &f->err)) < 0)
			break;
		f->v[i] = (uint8_t)m;
	}
	f->got = i;
	clock_gettime(CLOCK_MONOTONIC, &f->ready);
	f->ready.tv_sec += (time_t)(p->delay / 1000);
	f->ready.tv_nsec += (long)(p->delay % 1000) * 1000000L;
	if (f->ready.tv_nsec >= 1000000000L) {
		f->ready.tv_sec++;
		f->ready.tv_nsec -= 1000000000L;
	}
	if (++p->count > tf_counts.max_in_flight)
		tf_counts.max_in_flight = p->count;
	return PKX_OK;
}

static size_t tf_collect(void *program, uint8_t *verdicts, pkx_error *err)
{
	tf_program *p = program;
	tf_flight *f = &p->q[p->head];

	tf_check(p, "a collect", 1);
	tf_counts.collects++;
	if (p->count == 0) {
		tf_broken("a collect with no batch in flight", "");
		tf_svc->fail(err, "INTERNAL_ERROR", "protocol: %s",
		             tf_counts.why);
		return 0;
	}
	p->head = (p->head + 1) % TF_DEPTH;
	p->count--;
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &f->ready,
	                       NULL) != 0)
		;
	memcpy(verdicts, f->v, f->got);
	if (tf_counts.broken) {
		tf_svc->fail(err, "INTERNAL_ERROR", "protocol: %s",
		             tf_counts.why);
		return 0;
	}
	if (f->wait_at) {
		unsigned long seen = p->seen;

		p->seen = f->wait_at - 1; /* for its message */
		tf_wait_for_cancel(p, err);
		p->seen = seen;
	} else if (f->got < f->n) {
		*err = f->err;
	}
	return f->got;
}

static int tf_async_match(void *program, const pkx_packet *pkt, pkx_error *err)
{
	tf_check(program, "a match", 0);
	return tf_match(program, pkt, err);
}
#endif

/* ABI 1.3: new interfaces keep the count going (SEQ, a 1.0 module, is
 * compiled again and starts over). */
static pkx_result tf_add_interfaces(void *program, const pkx_interface *ifs,
                                    size_t n_ifs, pkx_error *err)
{
#ifdef TF_ASYNC
	tf_check(program, "add_interfaces", 0);
#endif
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
#ifdef TF_ASYNC
	tf_program *p = program;
	size_t i;

	for (i = 0; p && i < TF_DEPTH; i++)
		free(p->q[i].v);
#endif
	free(program);
}

static const char *const tf_claims[] = {TF_TYPE, NULL};

static const pkx_filter_plugin tf_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FILTER, pkx_filter_plugin, TF_NAME, "1.0",
                      "order-dependent test filter", tf_claims, tf_init, NULL),
    .compile = tf_compile,
#ifdef TF_ASYNC
    .match = tf_async_match,
#else
    .match = tf_match,
#endif
    .free = tf_free,
#ifdef TF_BATCH
    .match_batch = tf_match_batch,
    .add_interfaces = tf_add_interfaces,
    .watch_cancel = tf_watch_cancel,
#endif
#ifdef TF_ASYNC
    .batch_submit = tf_submit,
    .batch_collect = tf_collect,
    .batches_in_flight = TF_DEPTH,
#endif
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &tf_plugin.header;
}
