/* Whole exports through pkx_run_prepare/execute with the real plugins:
 * statistics, time windows, stop rules, snap length, damage, cancel. */
#include "config.h"

#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#define NS 1000000000ull
#define T0 1700000000ull

/* The input as the source plugin reads it, and its file size. */
typedef struct input {
	hx_buf store;
	hx_capture cap;
	uint64_t size;
} input;

static void input_read(const char *path, input *in)
{
	pkx_error err = {"", ""};
	hx_buf file = {0};

	memset(in, 0, sizeof(*in));
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, path, &in->store, &in->cap, &err),
	    PKX_END);
	hx_read_file(root, path, &file);
	in->size = file.len;
	hx_buf_free(&file);
}

static void input_free(input *in)
{
	hx_capture_free(&in->cap);
	hx_buf_free(&in->store);
}

/* Runs cfg into memory and parses the output, which must be whole. */
static void run_to_memory(const pkx_config *cfg, hx_mem_sink *sink,
                          hx_result *res, hx_capture *out)
{
	hx_mem_sink_init(sink, 0);
	hx_export(reg, root, cfg, &sink->sink, res);
	ck_assert_msg(hx_pcap_parse(sink->buf.data, sink->buf.len, out) == 0,
	              "output is not a whole pcap (%zu bytes)", sink->buf.len);
	ck_assert_uint_eq(out->n, res->stats.exported_packets);
}

/* Record i of out is record j of in, cut to snap (0: none). */
static void assert_same_record(const hx_record *o, const hx_record *i,
                               uint32_t snap, int nanos)
{
	uint32_t caplen = snap && i->caplen > snap ? snap : i->caplen;

	ck_assert_uint_eq(o->ts_ns, nanos ? i->ts_ns : i->ts_ns / 1000 * 1000);
	ck_assert_uint_eq(o->caplen, caplen);
	ck_assert_uint_eq(o->wirelen, i->wirelen);
	ck_assert_mem_eq(o->data, i->data, caplen);
}

/* Indexes of the records of c that the BPF expression matches, through
 * the filter plugin alone. */
static size_t bpf_select(const char *expr, const hx_capture *c, size_t *idx)
{
	const pkx_filter_plugin *bpf = pkx_registry_filter(reg, "BPF");
	const pkx_interface eth = {.linktype = 1, .snaplen = 65535};
	void *prog = NULL;
	pkx_error err;
	size_t i, n = 0;

	ck_assert_int_eq(bpf->compile("BPF", expr, &eth, 1, &prog, &err),
	                 PKX_OK);
	for (i = 0; i < c->n; i++) {
		pkx_packet p = {.ts_ns = c->recs[i].ts_ns,
		                .caplen = c->recs[i].caplen,
		                .wirelen = c->recs[i].wirelen,
		                .data = c->recs[i].data};

		if (bpf->match(prog, &p, &err) == 1)
			idx[n++] = i;
	}
	bpf->free(prog);
	return n;
}

START_TEST(pipeline_whole_file)
{
	static const char *const formats[] = {"PCAP_NS", "PCAP_US"};
	input in;
	uint64_t bytes = 0;
	size_t i, f;

	hx_mkcap(root, "a.pcap", "--packets 400 --seed 5 --format pcap-ns");
	input_read("fs/a.pcap", &in);
	for (i = 0; i < in.cap.n; i++)
		bytes += in.cap.recs[i].caplen;
	for (f = 0; f < 2; f++) {
		pkx_config *cfg = hx_config(
		    "{\"path\":\"fs/a.pcap\",\"output_format\":\"%s\"}",
		    formats[f]);
		hx_mem_sink sink;
		hx_result res;
		hx_capture out;

		run_to_memory(cfg, &sink, &res, &out);
		ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
		ck_assert_int_eq(out.nanos, f == 0);
		ck_assert_uint_eq(out.snaplen, 65535);
		ck_assert_uint_eq(out.linktype, 1);
		ck_assert_uint_eq(out.n, in.cap.n);
		for (i = 0; i < in.cap.n; i++)
			assert_same_record(&out.recs[i], &in.cap.recs[i], 0,
			                   f == 0);
		ck_assert_uint_eq(res.stats.processed_packets, in.cap.n);
		ck_assert_uint_eq(res.stats.exported_packets, in.cap.n);
		ck_assert_uint_eq(res.stats.exported_bytes, bytes);
		ck_assert_uint_eq(res.stats.total_bytes, in.size);
		ck_assert_int_eq(res.stats.truncated, 0);
		ck_assert_int_eq(res.stats.has_estimates, 1);
		ck_assert_uint_eq(res.stats.estimated_packets, in.cap.n);
		ck_assert(res.progress == 100.0);
		hx_capture_free(&out);
		hx_buf_free(&sink.buf);
		pkx_config_free(cfg);
	}
	input_free(&in);
}
END_TEST

START_TEST(pipeline_windows_to_the_nanosecond)
{
	/* Times around every bound; the selection is [S, E) intersected
	 * with the union of [A1, B1) and [A2, B2). */
	const uint64_t S = T0 * NS + 100, E = (T0 + 10) * NS + 5;
	const uint64_t A1 = T0 * NS, B1 = (T0 + 2) * NS + 1;
	const uint64_t A2 = (T0 + 5) * NS - 1, B2 = (T0 + 20) * NS;
	const uint64_t times[] = {S - 1,  S,      S + 1, B1 - 1, B1,
	                          B1 + 1, A2 - 1, A2,    A2 + 1, E - 1,
	                          E,      E + 1,  B2 - 1};
	size_t n = sizeof(times) / sizeof(times[0]), i, k = 0;
	char opts[512], *p = opts;
	pkx_config *cfg;
	hx_mem_sink sink;
	hx_result res;
	hx_capture out;
	input in;

	p += sprintf(p, "--format pcap-ns --times ");
	for (i = 0; i < n; i++)
		p += sprintf(p, "%s%llu", i ? "," : "",
		             (unsigned long long)times[i]);
	hx_mkcap(root, "w.pcap", opts);
	input_read("fs/w.pcap", &in);
	cfg = hx_config("{\"path\":\"fs/w.pcap\",\"output_format\":\"PCAP_NS\","
	                "\"start_time\":\"%llu.%09llu\",\"end_time\":"
	                "\"%llu.%09llu\",\"time_intervals\":["
	                "{\"start_time\":\"%llu.%09llu\",\"end_time\":"
	                "\"%llu.%09llu\"},{\"start_time\":\"%llu.%09llu\","
	                "\"end_time\":\"%llu.%09llu\"}]}",
	                S / NS, S % NS, E / NS, E % NS, A2 / NS, A2 % NS,
	                B2 / NS, B2 % NS, A1 / NS, A1 % NS, B1 / NS, B1 % NS);
	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
	for (i = 0; i < n; i++) {
		uint64_t t = times[i];
		int want = t >= S && t < E &&
		           ((t >= A1 && t < B1) || (t >= A2 && t < B2));

		if (!want)
			continue;
		ck_assert_uint_lt(k, out.n);
		assert_same_record(&out.recs[k++], &in.cap.recs[i], 0, 1);
	}
	ck_assert_uint_eq(out.n, k);
	ck_assert_uint_eq(k, 6); /* S, S+1, B1-1, A2, A2+1, E-1 */
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
	input_free(&in);
}
END_TEST

START_TEST(pipeline_empty_selection)
{
	pkx_config *cfg;
	hx_mem_sink sink;
	hx_result res;
	hx_capture out;

	hx_mkcap(root, "a.pcap", "--packets 50");
	cfg = hx_config("{\"path\":\"fs/a.pcap\",\"start_time\":\"10\","
	                "\"time_intervals\":[{\"start_time\":\"1\","
	                "\"end_time\":\"5\"}]}");
	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
	ck_assert_uint_eq(sink.buf.len, 24);
	ck_assert_uint_eq(res.stats.processed_packets, 0);
	ck_assert_int_eq(res.stats.truncated, 0);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
	/* A filter nothing matches: a valid empty capture too. */
	cfg = hx_config("{\"path\":\"fs/a.pcap\",\"filters\":{\"items\":[{"
	                "\"id\":\"x\",\"type\":\"BPF\",\"value\":\"ip proto "
	                "89\"}]}}");
	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
	ck_assert_uint_eq(out.n, 0);
	ck_assert_uint_eq(res.stats.processed_packets, 50);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_ordered_source_stops_after_last_window)
{
	/* test/ sources are time-ordered: reading ends at the first packet
	 * past the last window.  Packet i is at T0 s + i us. */
	pkx_config *cfg = hx_config("{\"path\":\"test/count/100\",\"end_time\":"
	                            "\"%llu.000010000\"}",
	                            T0);
	hx_mem_sink sink;
	hx_result res;
	hx_capture out;

	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
	ck_assert_uint_eq(res.stats.exported_packets, 10);
	ck_assert_uint_eq(res.stats.processed_packets, 11);
	ck_assert_int_eq(res.stats.truncated, 0);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
}
END_TEST

/* ABI 1.5: a source's drops, counted through its export handle, are the
 * export's dropped_packets. */
START_TEST(source_drops_become_dropped_packets)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/drops/100\"}");
	hx_mem_sink sink;
	hx_result res;
	hx_capture out;

	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
	ck_assert_uint_eq(res.stats.exported_packets, 100);
	ck_assert_uint_eq(res.stats.dropped_packets, 10);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
}
END_TEST

/* packet_limit and size_limit around the number and bytes of the packets
 * the filter matches. */
START_TEST(pipeline_stop_rules)
{
	input in;
	size_t idx[400], m, i;
	uint64_t bytes[401];
	const uint32_t snap = 100;
	struct limit_case {
		const char *rule;
		uint64_t value;
		size_t exported; /* matching packets expected out */
		int truncated;
	} cases[9];
	size_t c;

	hx_mkcap(root, "a.pcap", "--packets 400 --seed 11");
	input_read("fs/a.pcap", &in);
	m = bpf_select("tcp", &in.cap, idx);
	ck_assert_uint_gt(m, 3);
	ck_assert_uint_lt(m, in.cap.n);
	bytes[0] = 0;
	for (i = 0; i < m; i++) {
		uint32_t len = in.cap.recs[idx[i]].caplen;

		bytes[i + 1] = bytes[i] + (len > snap ? snap : len);
	}
	cases[0] = (struct limit_case){"packet_limit", m, m, 0};
	cases[1] = (struct limit_case){"packet_limit", m + 1, m, 0};
	cases[2] = (struct limit_case){"packet_limit", m - 1, m - 1, 1};
	cases[3] = (struct limit_case){"packet_limit", 1, 1, 1};
	cases[4] = (struct limit_case){"size_limit", bytes[m], m, 0};
	cases[5] = (struct limit_case){"size_limit", bytes[m] - 1, m - 1, 1};
	cases[6] = (struct limit_case){"size_limit", bytes[2], 2, 1};
	cases[7] = (struct limit_case){"size_limit", bytes[1] - 1, 0, 1};
	cases[8] = (struct limit_case){"packet_limit", 0, m, 0}; /* none */
	for (c = 0; c < 9; c++) {
		pkx_config *cfg = hx_config(
		    "{\"path\":\"fs/a.pcap\",\"snap_length\":%u,\"filters\":{"
		    "\"items\":[{\"id\":\"t\",\"type\":\"BPF\",\"value\":"
		    "\"tcp\"}]},\"stop_rule\":{\"%s\":%llu}}",
		    snap, cases[c].rule, (unsigned long long)cases[c].value);
		hx_mem_sink sink;
		hx_result res;
		hx_capture out;
		size_t want = cases[c].exported;

		run_to_memory(cfg, &sink, &res, &out);
		ck_assert_msg(
		    res.outcome ==
		        (cases[c].truncated ? PKX_RUN_STOPPED : PKX_RUN_DONE),
		    "%s %llu: outcome %d", cases[c].rule,
		    (unsigned long long)cases[c].value, res.outcome);
		ck_assert_int_eq(res.stats.truncated, cases[c].truncated);
		ck_assert_uint_eq(res.stats.exported_packets, want);
		ck_assert_uint_eq(res.stats.exported_bytes, bytes[want]);
		/* Stopped at the first matching packet refused. */
		ck_assert_uint_eq(res.stats.processed_packets,
		                  cases[c].truncated ? idx[want] + 1
		                                     : in.cap.n);
		ck_assert_uint_eq(out.snaplen, snap);
		for (i = 0; i < want; i++)
			assert_same_record(&out.recs[i], &in.cap.recs[idx[i]],
			                   snap, 0);
		hx_capture_free(&out);
		hx_buf_free(&sink.buf);
		pkx_config_free(cfg);
	}
	input_free(&in);
}
END_TEST

START_TEST(pipeline_time_limit)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/endless\",\"stop_rule\":{"
	                            "\"time_limit\":1}}");
	uint64_t t0 = pkx_now_ns(), spent;
	hx_result res;

	hx_export(reg, root, cfg, &pkx_null_sink, &res);
	spent = pkx_now_ns() - t0;
	ck_assert_int_eq(res.outcome, PKX_RUN_STOPPED);
	ck_assert_int_eq(res.stats.truncated, 1);
	ck_assert_uint_gt(res.stats.exported_packets, 0);
	ck_assert_uint_ge(spent, NS);
	ck_assert_msg(spent < 30 * NS, "a 1 s limit took %llu ns",
	              (unsigned long long)spent);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_cancel_before_execute)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/endless\"}");
	pkx_run *run = NULL;
	pkx_error err;
	pkx_stats st;

	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_OK);
	pkx_run_cancel(run);
	ck_assert_int_eq(pkx_run_execute(run, &pkx_null_sink, &err),
	                 PKX_RUN_CANCELLED);
	pkx_run_stats(run, &st);
	ck_assert_int_eq(st.truncated, 0);
	ck_assert_uint_lt(st.processed_packets, 100000);
	pkx_run_free(run);
	pkx_config_free(cfg);
}
END_TEST

/* What the core did with SEQ_ASYNC programs (tests/modules/test_filter.c,
 * TF_ASYNC): read from the module loaded by the registry. */
typedef struct tf_async_counts {
	unsigned long submits, collects, max_in_flight, broken;
	char why[200];
} tf_async_counts;

static tf_async_counts async_counts(int reset)
{
	const char *mods = getenv("TEST_MODULE_DIR");
	char *path = hx_path(mods, "test_filter_async.so");
	void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
	void (*stats)(tf_async_counts *, int);
	tf_async_counts c;

	ck_assert_msg(h != NULL, "%s is not loaded", path);
	*(void **)&stats = dlsym(h, "tf_async_stats");
	ck_assert_ptr_nonnull(stats);
	stats(&c, reset);
	dlclose(h);
	free(path);
	return c;
}

/* Every batch submitted was collected, no rule was broken, and as many
 * batches were in flight at once as expected (0: not checked). */
static void assert_async_kept_rules(unsigned long in_flight)
{
	tf_async_counts c = async_counts(1);

	ck_assert_msg(c.broken == 0, "SEQ_ASYNC: %lu rules broken: %s",
	              c.broken, c.why);
	ck_assert_msg(c.submits == c.collects,
	              "SEQ_ASYNC: %lu batches submitted, %lu collected",
	              c.submits, c.collects);
	if (in_flight)
		ck_assert_msg(c.max_in_flight == in_flight,
		              "SEQ_ASYNC: %lu batches in flight at most, "
		              "not %lu",
		              c.max_in_flight, in_flight);
}

typedef struct cancel_job {
	pkx_run *run;
	pkx_run_outcome outcome;
	pkx_error err;
} cancel_job;

static void *execute_job(void *arg)
{
	cancel_job *job = arg;

	job->outcome = pkx_run_execute(job->run, &pkx_null_sink, &job->err);
	return NULL;
}

/* Prepares cfg and executes it on a thread of its own. */
static void job_start(cancel_job *job, pthread_t *th, const pkx_config *cfg)
{
	pkx_error err;

	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &job->run, &err),
	                 PKX_OK);
	ck_assert_int_eq(pthread_create(th, NULL, execute_job, job), 0);
}

/* Polls the run's stats until at least n packets were exported (or, with
 * processed, read), 20 s at most. */
static pkx_stats job_wait(cancel_job *job, uint64_t n, int processed)
{
	uint64_t deadline = pkx_now_ns() + 20 * NS;
	pkx_stats st;

	do {
		sched_yield();
		pkx_run_stats(job->run, &st);
	} while ((processed ? st.processed_packets : st.exported_packets) < n &&
	         pkx_now_ns() < deadline);
	return st;
}

/* Cancels the run and waits for its thread: the outcome is CANCELLED. */
static void job_cancel(cancel_job *job, pthread_t th)
{
	pkx_run_cancel(job->run);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(job->outcome, PKX_RUN_CANCELLED);
}

START_TEST(pipeline_cancel_from_another_thread)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/endless\"}");
	cancel_job job = {0};
	pthread_t th;
	pkx_stats st;

	job_start(&job, &th, cfg);
	/* Wait until the run has visibly started, then cancel it. */
	st = job_wait(&job, 1, 1);
	ck_assert_uint_gt(st.processed_packets, 0);
	ck_assert(pkx_run_progress(job.run) < 100.0);
	job_cancel(&job, th);
	pkx_run_stats(job.run, &st);
	ck_assert_int_eq(st.truncated, 0);
	pkx_run_free(job.run);
	pkx_config_free(cfg);
}
END_TEST

/* A filter that waits on something else (ABI 1.4 watch_cancel: another
 * process, a device) gives up when the export is cancelled: the run ends
 * CANCELLED at once, not when the filter's own 10 s wait runs out. */
/* Runs test/endless through the filter, cancels it once `started`
 * packets were read and checks that the cancel took effect at once, as a
 * cancel (not the filter's own error), before packet `before`. */
static pkx_stats cancel_waiting_filter(const char *type, const char *value,
                                       uint64_t started, uint64_t before)
{
	pkx_config *cfg = hx_config(
	    "{\"path\":\"test/endless\",\"filters\":{\"items\":[{\"id\":"
	    "\"w\",\"type\":\"%s\",\"value\":\"%s\"}]}}",
	    type, value);
	cancel_job job = {0};
	pthread_t th;
	pkx_stats st;
	uint64_t t0;

	job_start(&job, &th, cfg);
	st = job_wait(&job, started, 1);
	ck_assert_uint_ge(st.processed_packets, started);
	t0 = pkx_now_ns();
	job_cancel(&job, th);
	ck_assert_msg(pkx_now_ns() - t0 < 5 * NS, "the cancel took %.1f s",
	              (double)(pkx_now_ns() - t0) / NS);
	/* The filter's failure was the cancel, not an error of its own. */
	ck_assert_str_eq(job.err.id, "");
	pkx_run_stats(job.run, &st);
	ck_assert_uint_lt(st.processed_packets, before);
	pkx_run_free(job.run);
	pkx_config_free(cfg);
	return st;
}

START_TEST(pipeline_cancel_interrupts_waiting_filter)
{
	/* Published at the check after packet 1023; the batch holding the
	 * 1100th is answered before the next check (after packet 2047), so
	 * the filter is waiting, or about to, when the cancel comes. */
	cancel_waiting_filter("SEQ_BATCH", "1/0/0/1100", 1023, 2048);
}
END_TEST

/* The same with a filter taking batches in two halves (ABI 1.7/1.8),
 * two in flight: the collect of the batch holding packet 3000 (when the
 * fifth batch is full) waits for the cancel; the batch in flight behind
 * it is collected and dropped.  Then a cancel between batches. */
START_TEST(pipeline_cancel_interrupts_collect)
{
	pkx_stats st;

	async_counts(1);
	st = cancel_waiting_filter("SEQ_ASYNC", "1/0/0/3000/5", 4096, 6144);
	/* Packets 1 to 2048 were written out; nothing after 2999. */
	ck_assert_uint_ge(st.exported_packets, 2048);
	ck_assert_uint_lt(st.exported_packets, 3000);
	assert_async_kept_rules(2);
	/* Cancelled between batches (seen at a check of the flags): the
	 * batches in flight are collected and dropped all the same. */
	cancel_waiting_filter("SEQ_ASYNC", "1/0/0/0/5", 4096, UINT64_MAX);
	assert_async_kept_rules(2);
}
END_TEST

/* A live source with nothing to say (PKX_AGAIN) still meets the time
 * limit and the cancel flag. */
START_TEST(pipeline_idle_source)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/idle\",\"stop_rule\":{"
	                            "\"time_limit\":1}}");
	uint64_t t0 = pkx_now_ns(), spent;
	cancel_job job = {0};
	pthread_t th;
	hx_result res;

	hx_export(reg, root, cfg, &pkx_null_sink, &res);
	spent = pkx_now_ns() - t0;
	ck_assert_int_eq(res.outcome, PKX_RUN_STOPPED);
	ck_assert_uint_eq(res.stats.processed_packets, 0);
	ck_assert_uint_ge(spent, NS);
	ck_assert_msg(spent < 30 * NS, "a 1 s limit took %llu ns",
	              (unsigned long long)spent);
	pkx_config_free(cfg);

	cfg = hx_config("{\"path\":\"test/idle\"}");
	job_start(&job, &th, cfg);
	job_cancel(&job, th);
	pkx_run_free(job.run);
	pkx_config_free(cfg);
}
END_TEST

/* A stop (Ctrl-C on a live capture) still takes the packets the source
 * hands over just after it, as a capture ring does with its last block;
 * a source with nothing more ends it. */
START_TEST(pipeline_stop_drains_source)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/late/7\"}");
	pkx_run *run = NULL;
	pkx_run_outcome outcome;
	pkx_stats st;
	pkx_error err;

	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_OK);
	pkx_run_stop(run);
	outcome = pkx_run_execute(run, &pkx_null_sink, &err);
	ck_assert_int_eq(outcome, PKX_RUN_STOPPED);
	pkx_run_stats(run, &st);
	ck_assert_uint_eq(st.exported_packets, 7);
	pkx_run_free(run);
	pkx_config_free(cfg);
}
END_TEST

/* Packets held for a batching filter go out while a live source is quiet,
 * not when traffic resumes: the 5 packets of a source that then falls
 * silent are exported (and published) before anything ends the run. */
START_TEST(pipeline_quiet_source_flushes_batch)
{
	pkx_config *cfg = hx_config(
	    "{\"path\":\"test/trickle/5\",\"filters\":{\"items\":[{\"id\":"
	    "\"s\",\"type\":\"STEELFILTER\",\"value\":\"1/0\"}]}}");
	cancel_job job = {0};
	pthread_t th;
	pkx_stats st;

	free(cfg->filters[0].type);
	cfg->filters[0].type = strdup("SEQ_BATCH");
	ck_assert_ptr_nonnull(cfg->filters[0].type);
	job_start(&job, &th, cfg);
	st = job_wait(&job, 5, 0);
	job_cancel(&job, th);
	ck_assert_uint_eq(st.exported_packets, 5);
	pkx_run_free(job.run);
	pkx_config_free(cfg);
}
END_TEST

/* A sink that counts its flushes and what it had been given by the
 * last one. */
typedef struct flush_sink {
	pkx_sink sink; /* first */
	uint64_t written, flushes, at_last_flush;
} flush_sink;

static pkx_result flush_sink_write(pkx_sink *sink, const void *buf, size_t len,
                                   pkx_error *err)
{
	(void)buf;
	(void)err;
	((flush_sink *)sink)->written += len;
	return PKX_OK;
}

static pkx_result flush_sink_flush(pkx_sink *sink, pkx_error *err)
{
	flush_sink *s = (flush_sink *)sink;

	(void)err;
	s->flushes++;
	s->at_last_flush = s->written;
	return PKX_OK;
}

/* A live source with steady traffic (a packet every 20 ms, never a quiet
 * answer): the time limit holds to the packet, not to the thousandth. */
START_TEST(pipeline_live_time_limit_per_packet)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/slow/1000\","
	                            "\"stop_rule\":{\"time_limit\":1}}");
	uint64_t t0 = pkx_now_ns();
	pkx_run *run = NULL;
	pkx_stats st;
	pkx_error err;

	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_OK);
	ck_assert_int_eq(pkx_run_execute(run, &pkx_null_sink, &err),
	                 PKX_RUN_STOPPED);
	/* 1000 packets would take 20 s; checks every 1024 would never
	 * stop it before its end. */
	ck_assert_uint_lt(pkx_now_ns() - t0, 3 * NS);
	pkx_run_stats(run, &st);
	ck_assert_uint_gt(st.exported_packets, 20);
	ck_assert_uint_lt(st.exported_packets, 150);
	pkx_run_free(run);
	pkx_config_free(cfg);
}
END_TEST

/* Cancel and live stats on the same source: seen within a packet. */
START_TEST(pipeline_live_cancel_per_packet)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/slow/1000\"}");
	cancel_job job = {0};
	pthread_t th;
	pkx_stats st;
	uint64_t asked;

	job_start(&job, &th, cfg);
	st = job_wait(&job, 3, 0);
	ck_assert_uint_ge(st.exported_packets, 3);
	ck_assert_uint_lt(st.exported_packets, 100);
	asked = pkx_now_ns();
	job_cancel(&job, th);
	ck_assert_uint_lt(pkx_now_ns() - asked, NS / 2);
	pkx_run_free(job.run);
	pkx_config_free(cfg);
}
END_TEST

/* A live export hands its output on as it goes (every 100 ms at most);
 * a file export leaves the buffering to its sink. */
START_TEST(pipeline_live_output_flushed)
{
	pkx_config *cfg = hx_config("{\"path\":\"test/slow/25\"}");
	flush_sink fs = {{flush_sink_write, flush_sink_flush}, 0, 0, 0};
	pkx_run *run = NULL;
	pkx_error err;

	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_OK);
	ck_assert_int_eq(pkx_run_execute(run, &fs.sink, &err), PKX_RUN_DONE);
	/* 25 packets 20 ms apart: half a second, so 3 flushes or more,
	 * the last of them with packets behind it. */
	ck_assert_uint_ge(fs.flushes, 3);
	ck_assert_uint_gt(fs.at_last_flush, 24 + 3 * (16 + 64));
	pkx_run_free(run);
	pkx_config_free(cfg);

	fs = (flush_sink){{flush_sink_write, flush_sink_flush}, 0, 0, 0};
	cfg = hx_config("{\"path\":\"test/count/5000\"}");
	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_OK);
	ck_assert_int_eq(pkx_run_execute(run, &fs.sink, &err), PKX_RUN_DONE);
	ck_assert_uint_eq(fs.flushes, 0);
	ck_assert_uint_eq(fs.written, 24 + 5000 * (16 + 64));
	pkx_run_free(run);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_damaged_input)
{
	hx_buf file = {0};
	uint8_t f[60];
	size_t i;
	pkx_config *cfg;
	hx_mem_sink sink;
	hx_result res;
	hx_capture out;

	make_frame(f, 17, 53);
	hx_pcap_header(&file, 1, 0, 65535, 1);
	for (i = 0; i < 10; i++)
		hx_pcap_record(&file, 0, (uint32_t)T0, (uint32_t)i, 60, 60, f);
	hx_write_file(root, "fs/cut.pcap", file.data, file.len - 7);
	cfg = hx_config("{\"path\":\"fs/cut.pcap\",\"output_format\":"
	                "\"PCAP_NS\"}");
	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DAMAGED);
	ck_assert_str_eq(res.err.id, PKX_EDAMAGED);
	assert_contains(res.err.text, "fs/cut.pcap");
	ck_assert_uint_eq(out.n, 9);
	ck_assert_mem_eq(out.recs[0].data, f, 60);
	ck_assert_uint_eq(out.recs[8].ts_ns, T0 * NS + 8);
	ck_assert_int_eq(res.stats.truncated, 0);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
	hx_buf_free(&file);

	cfg = hx_config("{\"path\":\"test/fail-after/3\"}");
	run_to_memory(cfg, &sink, &res, &out);
	ck_assert_int_eq(res.outcome, PKX_RUN_DAMAGED);
	ck_assert_uint_eq(out.n, 3);
	hx_capture_free(&out);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_sink_failure)
{
	pkx_config *cfg;
	hx_mem_sink sink;
	hx_result res;

	hx_mkcap(root, "a.pcap", "--packets 100");
	cfg = hx_config("{\"path\":\"fs/a.pcap\"}");
	hx_mem_sink_init(&sink, 1000);
	hx_export(reg, root, cfg, &sink.sink, &res);
	ck_assert_int_eq(res.outcome, PKX_RUN_FAILED);
	ck_assert_str_eq(res.err.id, PKX_EIO);
	hx_buf_free(&sink.buf);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_interfaces_mid_stream)
{
	static const struct {
		const char *config;
		pkx_run_outcome outcome;
		uint64_t exported;
	} cases[] = {
	    {"{\"path\":\"test/grow-same\"}", PKX_RUN_DONE, 4},
	    {"{\"path\":\"test/grow-same\",\"filters\":{\"items\":[{\"id\":"
	     "\"u\",\"type\":\"BPF\",\"value\":\"udp port 53\"}]}}",
	     PKX_RUN_DONE, 4},
	    {"{\"path\":\"test/grow-mixed\"}", PKX_RUN_FAILED, 2},
	    {"{\"path\":\"test/grow-mixed\",\"filters\":{\"items\":[{\"id\":"
	     "\"u\",\"type\":\"BPF\",\"value\":\"ether src 2:0:0:0:0:2\"}]}}",
	     PKX_RUN_FAILED, 2},
	};
	size_t c;

	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		pkx_config *cfg = hx_config("%s", cases[c].config);
		hx_mem_sink sink;
		hx_result res;

		hx_mem_sink_init(&sink, 0);
		hx_export(reg, root, cfg, &sink.sink, &res);
		ck_assert_msg(res.outcome == cases[c].outcome, "%s: %d %s",
		              cases[c].config, res.outcome, res.err.text);
		ck_assert_uint_eq(res.stats.exported_packets,
		                  cases[c].exported);
		if (res.outcome == PKX_RUN_FAILED)
			ck_assert_str_eq(res.err.id, PKX_EINVAL);
		hx_buf_free(&sink.buf);
		pkx_config_free(cfg);
	}
}
END_TEST

/* Filters that answer in batches (ABI 1.1 match_batch) against the same
 * filter answering one packet at a time (test/modules/test_filter.c): the SEQ
 * filters' verdicts depend on the order and number of packets they are shown,
 * so any difference in what the batched pipeline shows them changes the output.
 * Each case also states what it must give.  The third run asks SEQ_ASYNC,
 * which takes batches in two halves, two in flight (ABI 1.7 submit and
 * collect, 1.8 batches_in_flight), its answers ready a DELAY after the
 * submit: on c.pcap (5000 packets, five batches) two are in flight when
 * the stop rule or the failure is met. */
static const struct batch_case {
	const char *path;
	const char *filters; /* of type SEQ (the second run: SEQ_BATCH) */
	const char *stop;
	pkx_run_outcome outcome;
	long exported, processed; /* -1: not stated */
	unsigned long in_flight;  /* SEQ_ASYNC's most, 0: not stated */
} batch_cases[] = {
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1\"}", "",
     PKX_RUN_DONE, 667, 2000, 0},
    {"fs/b.pcap",
     "{\"id\":\"b\",\"type\":\"BPF\",\"value\":\"tcp\"},"
     "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"2/0\"}",
     "", PKX_RUN_DONE, -1, 2000, 0},
    {"fs/b.pcap",
     "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"2/0\"},"
     "{\"id\":\"b\",\"type\":\"BPF\",\"value\":\"udp\"},"
     "{\"id\":\"t\",\"type\":\"SEQ\",\"value\":\"3/0\"}",
     "", PKX_RUN_DONE, -1, 2000, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1\"}",
     ",\"stop_rule\":{\"packet_limit\":100}", PKX_RUN_STOPPED, 100, 301, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1\"}",
     ",\"stop_rule\":{\"size_limit\":20000}", PKX_RUN_STOPPED, -1, -1, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"4/1/900\"}", "",
     PKX_RUN_FAILED, 225, 900, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"4/1/900\"}",
     ",\"stop_rule\":{\"packet_limit\":100}", PKX_RUN_STOPPED, 100, 401, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"5/0/1\"}", "",
     PKX_RUN_FAILED, 0, 1, 0},
    {"fs/b.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"1/0/2000\"}", "",
     PKX_RUN_FAILED, 1999, 2000, 0},
    {"test/fail-after/700", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/0\"}",
     "", PKX_RUN_DAMAGED, 233, 700, 0},
    {"test/fail-after/700", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/0\"}",
     ",\"stop_rule\":{\"packet_limit\":50}", PKX_RUN_STOPPED, 50, 153, 0},
    {"test/grow-same", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"2/1\"}", "",
     PKX_RUN_DONE, 2, 4, 0},
    /* Two batches in flight: the whole file, in order. */
    {"fs/c.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1/0/0/20\"}",
     "", PKX_RUN_DONE, 1667, 5000, 2},
    /* The limit ends the export at the 401st match, packet 1201, of batch
     * 2, written out when batch 4 is full: batches 3 and 4, in flight,
     * are dropped. */
    {"fs/c.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1/0/0/20\"}",
     ",\"stop_rule\":{\"packet_limit\":400}", PKX_RUN_STOPPED, 400, 1201, 2},
    /* The limit met in the last batch of the file, flushed at its end. */
    {"fs/c.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"3/1\"}",
     ",\"stop_rule\":{\"packet_limit\":1600}", PKX_RUN_STOPPED, 1600, 4801, 2},
    /* A failure at packet 1100 (batch 2) is collected with batches 3 and
     * 4 in flight; at packet 2500 (batch 3) when the file ends. */
    {"fs/c.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"4/1/1100/0/20\"}",
     "", PKX_RUN_FAILED, 275, 1100, 2},
    {"fs/c.pcap", "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"4/1/2500\"}", "",
     PKX_RUN_FAILED, 625, 2500, 2},
    /* A filter before the last one fails: the batch it failed in is still
     * submitted up to there. */
    {"fs/c.pcap",
     "{\"id\":\"t\",\"type\":\"SEQ\",\"value\":\"1/0/3100\"},"
     "{\"id\":\"s\",\"type\":\"SEQ\",\"value\":\"2/1\"}",
     "", PKX_RUN_FAILED, 1550, 3100, 2},
};

START_TEST(pipeline_batched_filters)
{
	const struct batch_case *bc = &batch_cases[_i];
	static const char *const types[] = {"SEQ", "SEQ_BATCH", "SEQ_ASYNC"};
	hx_mem_sink sink[3];
	hx_result res[3];
	size_t t, f;

	hx_mkcap(root, "b.pcap", "--packets 2000 --seed 3");
	hx_mkcap(root, "c.pcap", "--packets 5000 --seed 4");
	async_counts(1);
	for (t = 0; t < 3; t++) {
		char filters[512];
		pkx_config *cfg;

		/* The cases name SEQ; the next runs ask SEQ_BATCH, then
		 * SEQ_ASYNC. */
		snprintf(filters, sizeof(filters), "%s", bc->filters);
		cfg = hx_config("{\"path\":\"%s\",\"filters\":{\"items\":[%s]}"
		                "%s}",
		                bc->path, filters, bc->stop);
		for (f = 0; f < cfg->n_filters; f++)
			if (strcmp(cfg->filters[f].type, "SEQ") == 0) {
				free(cfg->filters[f].type);
				cfg->filters[f].type = strdup(types[t]);
				ck_assert_ptr_nonnull(cfg->filters[f].type);
			}
		hx_mem_sink_init(&sink[t], 0);
		hx_export(reg, root, cfg, &sink[t].sink, &res[t]);
		ck_assert_msg(res[t].outcome == bc->outcome, "%s %s %s: %d %s",
		              types[t], bc->path, filters, res[t].outcome,
		              res[t].err.text);
		if (bc->exported >= 0)
			ck_assert_uint_eq(res[t].stats.exported_packets,
			                  (uint64_t)bc->exported);
		if (bc->processed >= 0)
			ck_assert_msg(
			    res[t].stats.processed_packets ==
			        (uint64_t)bc->processed,
			    "%s: %llu processed", types[t],
			    (unsigned long long)res[t].stats.processed_packets);
		pkx_config_free(cfg);
	}
	assert_async_kept_rules(bc->in_flight);
	ck_assert_uint_gt(res[0].stats.processed_packets, 0);
	for (t = 1; t < 3; t++) {
		ck_assert_uint_eq(res[t].stats.processed_packets,
		                  res[0].stats.processed_packets);
		ck_assert_uint_eq(res[t].stats.exported_packets,
		                  res[0].stats.exported_packets);
		ck_assert_uint_eq(res[t].stats.exported_bytes,
		                  res[0].stats.exported_bytes);
		ck_assert_int_eq(res[t].stats.truncated,
		                 res[0].stats.truncated);
		ck_assert_str_eq(res[t].err.id, res[0].err.id);
		ck_assert_str_eq(res[t].err.text, res[0].err.text);
		if (bc->outcome == PKX_RUN_FAILED)
			assert_contains(res[t].err.text, "failed at packet");
		ck_assert_uint_eq(sink[t].buf.len, sink[0].buf.len);
		ck_assert_mem_eq(sink[t].buf.data, sink[0].buf.data,
		                 sink[0].buf.len);
	}
	for (t = 0; t < 3; t++)
		hx_buf_free(&sink[t].buf);
}
END_TEST

/* A new interface mid-stream: a program with add_interfaces (ABI 1.3)
 * keeps its state, one without is compiled again.  test/grow-same gives 2
 * packets, a second interface, 2 more; "4/3" takes the 3rd packet its
 * program has seen. */
START_TEST(pipeline_filter_keeps_state_on_new_interface)
{
	static const char *const types[] = {"SEQ", "SEQ_BATCH", "SEQ_ASYNC"};
	static const uint64_t want[] = {0, 1, 1};
	size_t t;

	async_counts(1);
	for (t = 0; t < 3; t++) {
		hx_mem_sink sink;
		hx_result res;
		pkx_config *cfg =
		    hx_config("{\"path\":\"test/grow-same\",\"filters\":"
		              "{\"items\":[{\"id\":\"s\",\"type\":"
		              "\"STEELFILTER\",\"value\":\"4/3\"}]}}");

		free(cfg->filters[0].type);
		cfg->filters[0].type = strdup(types[t]);
		hx_mem_sink_init(&sink, 0);
		hx_export(reg, root, cfg, &sink.sink, &res);
		ck_assert_int_eq(res.outcome, PKX_RUN_DONE);
		ck_assert_uint_eq(res.stats.processed_packets, 4);
		ck_assert_msg(res.stats.exported_packets == want[t],
		              "%s: %llu exported", types[t],
		              (unsigned long long)res.stats.exported_packets);
		hx_buf_free(&sink.buf);
		pkx_config_free(cfg);
	}
	assert_async_kept_rules(1);
}
END_TEST

static const struct {
	const char *config;
	const char *id, *says;
} refused_runs[] = {
    {"{\"path\":\"nope/x.pcap\"}", PKX_EINVAL, "nope/x.pcap"},
    {"{\"path\":\"fs/missing.pcap\"}", PKX_ENOTFOUND, "missing.pcap"},
    {"{\"path\":\"fs/../a.pcap\"}", PKX_EINVAL, "\"..\""},
    {"{\"path\":\"test/fail-open\"}", PKX_ENOTFOUND, "test/fail-open"},
    {"{\"path\":\"test/mixed\"}", PKX_EINVAL, "PCAPNG"},
    {"{\"path\":\"fs/a.pcap\",\"filters\":{\"items\":[{\"id\":\"f9\","
     "\"type\":\"BPF\",\"value\":\"tcp port\"}]}}",
     PKX_EINVAL, "syntax error"},
    {"{\"path\":\"fs/a.pcap\",\"filters\":{\"items\":[{\"id\":\"ok\","
     "\"type\":\"BPF\",\"value\":\"tcp\"},{\"id\":\"f9\",\"type\":\"BPF\","
     "\"value\":\"port 70000\"}]}}",
     PKX_EINVAL, "\"f9\""},
};

START_TEST(pipeline_prepare_refusals)
{
	pkx_config *cfg;
	pkx_run *run = (pkx_run *)1;
	pkx_error err = {"", ""};

	hx_mkcap(root, "a.pcap", "--packets 3");
	cfg = hx_config("%s", refused_runs[_i].config);
	ck_assert_int_eq(pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
	                 PKX_ERROR);
	ck_assert_ptr_null(run);
	ck_assert_str_eq(err.id, refused_runs[_i].id);
	assert_contains(err.text, refused_runs[_i].says);
	pkx_config_free(cfg);
}
END_TEST

START_TEST(pipeline_missing_plugins)
{
	/* Types and formats the definition knows but no loaded plugin
	 * serves are refused by name. */
	static const char *const types[] = {"STEELFILTER", "WIRESHARK"};
	static const char *const formats[] = {"PCAPNG_US", "PCAPNG_NS"};
	pkx_error err;
	pkx_run *run;
	size_t i;

	hx_mkcap(root, "a.pcap", "--packets 3");
	for (i = 0; i < 2; i++) {
		pkx_config *cfg;

		if (!pkx_registry_filter(reg, types[i])) {
			cfg = hx_config("{\"path\":\"fs/a.pcap\",\"filters\":{"
			                "\"items\":[{\"id\":\"a\",\"type\":"
			                "\"%s\",\"value\":\"x\"}]}}",
			                types[i]);
			ck_assert_int_eq(
			    pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
			    PKX_ERROR);
			assert_contains(err.text, types[i]);
			pkx_config_free(cfg);
		}
		if (!pkx_registry_format(reg, formats[i])) {
			cfg = hx_config("{\"path\":\"fs/a.pcap\","
			                "\"output_format\":\"%s\"}",
			                formats[i]);
			ck_assert_int_eq(
			    pkx_run_prepare(reg, root, cfg, NULL, &run, &err),
			    PKX_ERROR);
			assert_contains(err.text, formats[i]);
			pkx_config_free(cfg);
		}
	}
}
END_TEST

Suite *pipeline_suite(void)
{
	Suite *s = suite_create("pipeline");
	TCase *tc = tcase_create("run");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, pipeline_whole_file);
	tcase_add_test(tc, pipeline_windows_to_the_nanosecond);
	tcase_add_test(tc, pipeline_empty_selection);
	tcase_add_test(tc, pipeline_ordered_source_stops_after_last_window);
	tcase_add_test(tc, source_drops_become_dropped_packets);
	tcase_add_test(tc, pipeline_stop_rules);
	tcase_add_test(tc, pipeline_time_limit);
	tcase_add_test(tc, pipeline_cancel_before_execute);
	tcase_add_test(tc, pipeline_cancel_from_another_thread);
	tcase_add_test(tc, pipeline_cancel_interrupts_waiting_filter);
	tcase_add_test(tc, pipeline_cancel_interrupts_collect);
	tcase_add_test(tc, pipeline_idle_source);
	tcase_add_test(tc, pipeline_quiet_source_flushes_batch);
	tcase_add_test(tc, pipeline_stop_drains_source);
	tcase_add_test(tc, pipeline_live_time_limit_per_packet);
	tcase_add_test(tc, pipeline_live_cancel_per_packet);
	tcase_add_test(tc, pipeline_live_output_flushed);
	tcase_add_test(tc, pipeline_damaged_input);
	tcase_add_test(tc, pipeline_sink_failure);
	tcase_add_test(tc, pipeline_interfaces_mid_stream);
	tcase_add_test(tc, pipeline_filter_keeps_state_on_new_interface);
	tcase_add_loop_test(
	    tc, pipeline_batched_filters, 0,
	    (int)(sizeof(batch_cases) / sizeof(batch_cases[0])));
	tcase_add_loop_test(
	    tc, pipeline_prepare_refusals, 0,
	    (int)(sizeof(refused_runs) / sizeof(refused_runs[0])));
	tcase_add_test(tc, pipeline_missing_plugins);
	suite_add_tcase(s, tc);
	return s;
}
