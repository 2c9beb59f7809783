/* The export pipeline: source -> time windows -> filters -> snap length ->
 * stop rules -> format -> sink, with the statistics the API reports. */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkx.h"

typedef struct run_filter {
	const pkx_filter_plugin *plugin;
	void *program;
} run_filter;

/* Packets held for filters that answer many at once (match_batch).  They
 * are copies: a source lends a packet only until its next call. */
#define BATCH_PACKETS 1024
#define BATCH_BYTES   (1u << 20)

typedef struct run_batch {
	size_t n;
	pkx_packet pkts[BATCH_PACKETS];
	uint64_t read_at[BATCH_PACKETS]; /* `processed` once it was read */
	uint8_t alive[BATCH_PACKETS];
	/* One filter's view: the packets still alive, and their verdicts. */
	pkx_packet ask[BATCH_PACKETS];
	size_t ask_index[BATCH_PACKETS];
	uint8_t verdicts[BATCH_PACKETS];
	uint8_t *data;
	size_t used, cap;
	/* In flight (submitted to the last filter, ABI 1.7): how many
	 * packets it was asked about, whether the submit failed, the first
	 * packet not answered by the filters before it, and the failure. */
	size_t m, upto;
	int submit_failed;
	pkx_error failure;
} run_batch;

/* The counters of one execution. */
typedef struct run_counts {
	uint64_t processed, exported, bytes;
} run_counts;

struct pkx_run {
	const pkx_source_plugin *source;
	void *source_inst;
	const pkx_source_info *info;
	run_filter *filters;
	size_t n_filters;
	run_batch *batch; /* NULL when no filter answers in batches */
	/* When the last filter takes batches in two halves (ABI 1.7
	 * batch_submit and batch_collect): the batches it is answering,
	 * oldest first (depth at most, ABI 1.8 batches_in_flight), and the
	 * buffers that are neither held nor in flight.  depth + 1 buffers in
	 * all, which change roles. */
	int pipelined;
	size_t depth, n_flight, n_spare;
	run_batch *flight[PKX_BATCHES_IN_FLIGHT_MAX];
	run_batch *spare[PKX_BATCHES_IN_FLIGHT_MAX];
	const pkx_format_plugin *format;
	char *format_name;
	pkx_window *windows;
	size_t n_windows;
	int all_time;          /* one unbounded window: no time checks */
	size_t known_ifs;      /* interfaces filters and format know of */
	const pkx_config *cfg; /* borrowed from the caller of prepare */
	uint32_t cut;          /* snap length to apply, 0: none */
	uint32_t snaplen;      /* what the output header says */
	uint64_t packet_limit, size_limit;
	uint32_t time_limit;
	int live; /* packets arrive as they happen: check after each */

	/* Published for other threads (atomics, relaxed). */
	uint64_t processed, exported, exported_bytes, position;
	int truncated, finished, cancel, stop;
	/* ABI 1.5: the export's handle, given to its plugin instances, and
	 * the counters they add to (atomics, relaxed). */
	pkx_export_handle handle;
	char *export_id;
	uint64_t counters[PKX_COUNTERS];
};

static pkx_run *run_of_handle(const pkx_export_handle *h)
{
	return (pkx_run *)((char *)h - offsetof(pkx_run, handle));
}

static void handle_log(const pkx_export_handle *h, int level,
                       const char *plugin, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (h->id[0])
		pkx_log(level, plugin ? plugin : "plugin", "export %s: %s",
		        h->id, text);
	else
		pkx_log(level, plugin ? plugin : "plugin", "%s", text);
}

static void handle_count(const pkx_export_handle *h, pkx_counter which,
                         uint64_t n)
{
	if ((unsigned)which < PKX_COUNTERS)
		__atomic_fetch_add(&run_of_handle(h)->counters[which], n,
		                   __ATOMIC_RELAXED);
}

/* match_batch is read only from modules built for ABI 1.1 or later: in
 * older ones the slot was reserved. */
static int filter_batches(const pkx_filter_plugin *p)
{
	return p->header.abi_minor >= 1 && p->match_batch;
}

/* batch_submit and batch_collect are read only from modules built for ABI
 * 1.7 or later, batches_in_flight from 1.8 on.  How many batches the core
 * keeps in flight: 0 when the filter does not take them in two halves. */
static size_t filter_submits(const pkx_filter_plugin *p)
{
	if (!filter_batches(p) || p->header.abi_minor < 7 || !p->batch_submit ||
	    !p->batch_collect)
		return 0;
	if (p->header.abi_minor < 8 || p->batches_in_flight <= 1)
		return 1;
	return p->batches_in_flight < PKX_BATCHES_IN_FLIGHT_MAX
	           ? p->batches_in_flight
	           : PKX_BATCHES_IN_FLIGHT_MAX;
}

/* Compiles filter i of the config for the source's interfaces as they
 * are now; `when` ends the name of the filter in a message. */
static pkx_result compile_filter(const pkx_run *run, const pkx_filter_plugin *p,
                                 size_t i, const char *when, void **program,
                                 pkx_error *err)
{
	const pkx_filter_spec *f = &run->cfg->filters[i];
	pkx_error why;

	*program = NULL;
	pkx_error_clear(&why);
	if (p->compile(f->type, f->value, run->info->interfaces,
	               run->info->n_interfaces, program, &why) == PKX_OK) {
		if (p->header.abi_minor >= 4 && p->watch_cancel)
			p->watch_cancel(*program, &run->cancel);
		/* Read only from modules built for ABI 1.5 or later. */
		if (p->header.abi_minor >= 5 && p->bind_export)
			p->bind_export(*program, &run->handle);
		return PKX_OK;
	}
	return pkx_fail_from(err, &why, PKX_EINVAL,
	                     "filter \"%s\" (%s)%s: ", f->id, f->type, when);
}

/* What the loaded plugins of a kind claim, joined: for messages. */
typedef struct served_list {
	pkx_kind kind;
	char *buf;
	size_t size;
} served_list;

static void add_served(const pkx_plugin_header *h, void *data)
{
	served_list *l = data;
	const char *const *c;

	if (h->kind != l->kind)
		return;
	for (c = h->claims; *c; c++) {
		size_t len = strlen(l->buf);

		snprintf(l->buf + len, l->size - len, "%s%s", len ? ", " : "",
		         *c);
	}
}

static void served(const pkx_registry *reg, pkx_kind kind, char *buf,
                   size_t size)
{
	served_list l = {kind, buf, size};

	buf[0] = '\0';
	pkx_registry_each(reg, add_served, &l);
	if (!buf[0])
		snprintf(buf, size, "none");
}

static pkx_result open_filters(pkx_run *run, const pkx_registry *reg,
                               const pkx_config *cfg, pkx_error *err)
{
	size_t i;

	run->filters = calloc(cfg->n_filters + 1, sizeof(*run->filters));
	if (!run->filters)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	for (i = 0; i < cfg->n_filters; i++) {
		const pkx_filter_spec *f = &cfg->filters[i];
		const pkx_filter_plugin *p = pkx_registry_filter(reg, f->type);

		if (!p) {
			char have[256];

			served(reg, PKX_KIND_FILTER, have, sizeof(have));
			return pkx_fail(err, PKX_EINVAL,
			                "filter \"%s\": type %s is not "
			                "available (this service has %s)",
			                f->id, f->type, have);
		}
		if (compile_filter(run, p, i, "", &run->filters[i].program,
		                   err) != PKX_OK)
			return PKX_ERROR;
		run->filters[i].plugin = p;
		run->n_filters = i + 1;
		if (filter_batches(p) && !run->batch &&
		    !(run->batch = calloc(1, sizeof(*run->batch))))
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	}
	/* The last filter answering in the background, the core reads the
	 * next packets and writes out the last ones meanwhile. */
	if (run->n_filters > 0 &&
	    (run->depth =
	         filter_submits(run->filters[run->n_filters - 1].plugin))) {
		for (; run->n_spare < run->depth; run->n_spare++)
			if (!(run->spare[run->n_spare] =
			          calloc(1, sizeof(run_batch))))
				return pkx_fail(err, PKX_EINTERNAL,
				                "out of memory");
		run->pipelined = 1;
	}
	return PKX_OK;
}

/* Adds "(b)" to *joined with "and" (a blank b tests nothing).  0, or -1
 * with *joined freed when out of memory: the hint is only a speed-up. */
static int bpf_and(char **joined, size_t *len, const char *b)
{
	char *grown;

	if (!b || !b[strspn(b, " \t\r\n")])
		return 0;
	if (!(grown = realloc(*joined, *len + strlen(b) + 8))) {
		free(*joined);
		*joined = NULL;
		return -1;
	}
	*joined = grown;
	*len += (size_t)sprintf(grown + *len, "%s(%s)", *len ? " and " : "", b);
	return 0;
}

/* The export's BPF filters joined with "and": what a live source may
 * filter with in the kernel.  NULL when there are none. */
static char *bpf_prefilter(const pkx_config *cfg)
{
	char *joined = NULL;
	size_t i, len = 0;

	for (i = 0; i < cfg->n_filters; i++)
		if (strcmp(cfg->filters[i].type, "BPF") == 0 &&
		    bpf_and(&joined, &len, cfg->filters[i].value) != 0)
			break;
	return joined;
}

/* Every filter's to_bpf joined the same way: a wider kernel filter than
 * the BPF filters alone when another language can say its filter in BPF
 * (SteelFilter).  NULL when no filter can. */
static char *filters_bpf(const pkx_run *run)
{
	char *joined = NULL;
	size_t i, len = 0;

	for (i = 0; i < run->n_filters; i++) {
		const pkx_filter_plugin *f = run->filters[i].plugin;

		if (f->to_bpf &&
		    bpf_and(&joined, &len,
		            f->to_bpf(run->filters[i].program)) != 0)
			break;
	}
	return joined;
}

/* After the filters compiled: a live source that takes a kernel filter
 * late gets the wider one (ABI 1.3 set_prefilter). */
static void widen_prefilter(pkx_run *run, const pkx_config *cfg)
{
	char *wide, *at_open;

	if (run->source->header.abi_minor < 3 || !run->source->set_prefilter)
		return;
	wide = filters_bpf(run);
	at_open = bpf_prefilter(cfg);
	if (wide && (!at_open || strcmp(wide, at_open) != 0)) {
		pkx_error why;

		pkx_error_clear(&why);
		if (run->source->set_prefilter(run->source_inst, wide, &why) !=
		    PKX_OK)
			pkx_log(PKX_LOG_DEBUG, "run",
			        "the source keeps its filter: %s", why.text);
	}
	free(wide);
	free(at_open);
}

static pkx_result open_source(pkx_run *run, const pkx_registry *reg,
                              const char *root, const pkx_config *cfg,
                              pkx_error *err)
{
	pkx_source_args args = {
	    .size = sizeof(args),
	    .root = root,
	    .path = cfg->path,
	    .windows = run->windows,
	    .n_windows = run->n_windows,
	    .export = &run->handle,
	};
	char *prefilter;
	pkx_result r;
	pkx_error why;

	run->source = pkx_registry_source(reg, cfg->path);
	if (!run->source)
		return pkx_fail(err, PKX_EINVAL,
		                "path \"%s\" names no source this service "
		                "knows (sources are fs/<file>, and those "
		                "of the loaded plugins)",
		                cfg->path);
	pkx_error_clear(&why);
	if (strcmp(cfg->mode, "LIVE_STREAM") == 0)
		args.flags = PKX_SOURCE_FOLLOW;
	args.prefilter = prefilter = bpf_prefilter(cfg);
	r = run->source->open(&args, &run->source_inst, &why);
	free(prefilter);
	if (r != PKX_OK) {
		run->source_inst = NULL;
		return pkx_fail_from(err, &why, PKX_EINVAL, NULL);
	}
	run->info = run->source->info(run->source_inst);
	if (!run->info || run->info->n_interfaces == 0)
		return pkx_fail(err, PKX_EINVAL,
		                "\"%s\" has no capture interface", cfg->path);
	/* info->live exists only in modules built for ABI 1.2 or later. */
	run->live = run->source->header.abi_minor >= 2 && run->info->live;
	return PKX_OK;
}

/* Asks the format to accept the source's interfaces without writing. */
static pkx_result check_format(pkx_run *run, const pkx_registry *reg,
                               const pkx_config *cfg, pkx_error *err)
{
	pkx_format_args args = {
	    .size = sizeof(args),
	    .format = cfg->output_format,
	    .interfaces = run->info->interfaces,
	    .n_interfaces = run->info->n_interfaces,
	    .snaplen = run->cut,
	    .cut = run->cut != 0,
	};
	void *inst = NULL;
	pkx_error why;

	run->format = pkx_registry_format(reg, cfg->output_format);
	if (!run->format) {
		char have[256];

		served(reg, PKX_KIND_FORMAT, have, sizeof(have));
		return pkx_fail(err, PKX_EINVAL,
		                "output format %s is not available (this "
		                "service has %s)",
		                cfg->output_format, have);
	}
	pkx_error_clear(&why);
	/* Uncut packets keep the source's own limit, as tcpdump -w does. */
	if (!run->cut) {
		size_t i;

		/* The largest limit, each as libpcap adjusts it: none (0)
		 * or one past what readers accept for the link type is that
		 * maximum. */
		for (i = 0; i < run->info->n_interfaces; i++) {
			const pkx_interface *f = &run->info->interfaces[i];
			uint32_t snap =
			    pkx_linktype_snapshot(f->linktype, f->snaplen);

			if (snap > run->snaplen)
				run->snaplen = snap;
		}
		args.snaplen = run->snaplen;
	}
	if (run->format->begin(&args, &pkx_null_sink, &inst, &why) != PKX_OK)
		return pkx_fail_from(err, &why, PKX_EINVAL, NULL);
	run->format->end(inst, 0, &why);
	return PKX_OK;
}

pkx_result pkx_run_prepare(const pkx_registry *reg, const char *root,
                           const pkx_config *cfg, const char *export_id,
                           pkx_run **out, pkx_error *err)
{
	pkx_run *run = calloc(1, sizeof(*run));

	*out = NULL;
	if (!run)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	run->export_id = strdup(export_id ? export_id : "");
	run->handle.size = sizeof(run->handle);
	run->handle.id = run->export_id ? run->export_id : "";
	run->handle.log = handle_log;
	run->handle.count = handle_count;
	run->cfg = cfg;
	run->cut = cfg->snap_length;
	run->snaplen = cfg->snap_length;
	run->packet_limit = cfg->packet_limit;
	run->size_limit = cfg->size_limit;
	run->time_limit = cfg->time_limit;
	run->format_name = strdup(cfg->output_format);
	run->n_windows = pkx_config_windows(cfg, &run->windows);
	run->all_time = run->n_windows == 1 && run->windows[0].start == 0 &&
	                run->windows[0].end == PKX_TIME_UNBOUNDED;
	if (!run->format_name ||
	    open_source(run, reg, root, cfg, err) != PKX_OK ||
	    (run->known_ifs = run->info->n_interfaces, 0) ||
	    open_filters(run, reg, cfg, err) != PKX_OK ||
	    check_format(run, reg, cfg, err) != PKX_OK) {
		pkx_run_free(run);
		return PKX_ERROR;
	}
	widen_prefilter(run, cfg);
	*out = run;
	return PKX_OK;
}

const char *pkx_run_path(const pkx_run *run)
{
	return run->cfg->path;
}

const pkx_source_info *pkx_run_source_info(const pkx_run *run)
{
	return run->info;
}

pkx_result pkx_run_set_format(pkx_run *run, const pkx_registry *reg,
                              const char *format, pkx_error *err)
{
	pkx_config cfg = *run->cfg;
	char *name = strdup(format);

	if (!name)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	cfg.output_format = name;
	if (check_format(run, reg, &cfg, err) != PKX_OK) {
		pkx_error ignored;

		free(name);
		/* back to the format prepare accepted */
		check_format(run, reg, run->cfg, &ignored);
		return PKX_ERROR;
	}
	free(run->format_name);
	run->format_name = name;
	return PKX_OK;
}

void pkx_run_free(pkx_run *run)
{
	size_t i;

	if (!run)
		return;
	for (i = 0; i < run->n_filters; i++)
		run->filters[i].plugin->free(run->filters[i].program);
	free(run->filters);
	if (run->batch)
		free(run->batch->data);
	free(run->batch);
	for (i = 0; i < run->n_spare; i++) {
		free(run->spare[i]->data);
		free(run->spare[i]);
	}
	for (i = 0; i < run->n_flight; i++) {
		free(run->flight[i]->data);
		free(run->flight[i]);
	}
	if (run->source_inst)
		run->source->close(run->source_inst);
	free(run->windows);
	free(run->format_name);
	free(run->export_id);
	free(run);
}

/* Index of the window holding ts, or -1.  Windows are sorted, disjoint. */
static int in_windows(const pkx_run *run, uint64_t ts)
{
	size_t lo = 0, hi = run->n_windows;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ts < run->windows[mid].start)
			hi = mid;
		else if (ts >= run->windows[mid].end)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* The source met new interfaces mid-stream: compile the filters again for
 * the whole list and tell the format. */
static pkx_result grow_interfaces(pkx_run *run, void *fmt, uint32_t ifindex,
                                  pkx_error *err)
{
	size_t n = run->info->n_interfaces, i;
	pkx_error why;

	if (ifindex >= n)
		return pkx_fail(err, PKX_EINTERNAL,
		                "source %s returned a packet on interface %u "
		                "of %zu",
		                run->source->header.name, ifindex, n);
	for (i = 0; i < run->n_filters; i++) {
		const pkx_filter_plugin *f = run->filters[i].plugin;
		void *prog;

		/* A program that can take the interfaces keeps its state;
		 * the others are compiled again (add_interfaces is read only
		 * from modules built for ABI 1.3 or later). */
		if (f->header.abi_minor >= 3 && f->add_interfaces) {
			pkx_result r;

			pkx_error_clear(&why);
			r = f->add_interfaces(run->filters[i].program,
			                      run->info->interfaces, n, &why);
			if (r == PKX_OK)
				continue;
			if (r != PKX_DECLINED)
				return pkx_fail_from(err, &why, PKX_EINTERNAL,
				                     "filter \"%s\" on a new "
				                     "interface: ",
				                     run->cfg->filters[i].id);
		}
		if (compile_filter(run, f, i, " on a new interface", &prog,
		                   err) != PKX_OK)
			return PKX_ERROR;
		f->free(run->filters[i].program);
		run->filters[i].program = prog;
	}
	pkx_error_clear(&why);
	if (!run->format->add_interfaces)
		return pkx_fail(err, PKX_EINVAL,
		                "the source added an interface mid-stream, "
		                "which %s cannot add",
		                run->format_name);
	if (run->format->add_interfaces(fmt, run->info->interfaces, n, &why) !=
	    PKX_OK)
		return pkx_fail_from(err, &why, PKX_EINVAL, NULL);
	run->known_ifs = n;
	return PKX_OK;
}

#define PUBLISH(field, value)                                                  \
	__atomic_store_n(&(field), (value), __ATOMIC_RELAXED)
#define READ(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

/* How many packets of a file pass between clock, cancel and stats
 * updates.  A live source is checked after every answer: its packets are
 * far apart in time. */
#define CHECK_EVERY 1024
/* A live export hands what it wrote on to its sink at least this often. */
#define LIVE_FLUSH_NS 100000000ull
/* After pkx_run_stop, a live source is read on until it has nothing more
 * (PKX_AGAIN) or for this long: packets that had arrived when the stop
 * came may still sit in a capture ring that hands them over in blocks. */
#define STOP_DRAIN_NS 500000000ull

/* Snap length, stop rules, format: the rest of the pipeline for a packet
 * that passed every filter.  PKX_RUN_DONE to go on. */
static pkx_run_outcome emit(pkx_run *run, void *fmt, pkx_packet *pkt,
                            run_counts *c, pkx_error *err)
{
	pkx_error why;

	if (run->cut && pkt->caplen > run->cut)
		pkt->caplen = run->cut;
	/* A stop rule ends the export at the first matching packet it
	 * refuses: truncated means a wanted packet was left out. */
	if ((run->packet_limit && c->exported >= run->packet_limit) ||
	    (run->size_limit && c->bytes + pkt->caplen > run->size_limit))
		return PKX_RUN_STOPPED;
	pkx_error_clear(&why);
	if (run->format->write(fmt, pkt, &why) != PKX_OK) {
		pkx_fail_from(err, &why, PKX_EIO, NULL);
		return PKX_RUN_FAILED;
	}
	c->exported++;
	c->bytes += pkt->caplen;
	return PKX_RUN_DONE;
}

/* Every filter, in order, on one packet: 1 passes, 0 not, -1 failed. */
static int match_all(pkx_run *run, const pkx_packet *pkt, pkx_error *err)
{
	size_t i;

	for (i = 0; i < run->n_filters; i++) {
		pkx_error why;
		int m;

		pkx_error_clear(&why);
		m = run->filters[i].plugin->match(run->filters[i].program, pkt,
		                                  &why);
		if (m < 0)
			pkx_fail_from(err, &why, PKX_EINTERNAL, NULL);
		if (m <= 0)
			return m < 0 ? -1 : 0;
	}
	return 1;
}

/* Whether pkt must wait for the held packets to be answered first. */
static int batch_full(const run_batch *b, const pkx_packet *pkt)
{
	return b->n == BATCH_PACKETS ||
	       (b->n > 0 && b->cap - b->used < pkt->caplen);
}

/* Holds a copy of pkt (the batch has room: see batch_full). */
static pkx_result batch_add(run_batch *b, const pkx_packet *pkt,
                            uint64_t read_at, pkx_error *err)
{
	if (b->cap - b->used < pkt->caplen) {
		/* Only an empty batch gets here: no held pointer moves. */
		size_t cap =
		    pkt->caplen > BATCH_BYTES ? pkt->caplen : BATCH_BYTES;
		uint8_t *data = realloc(b->data, cap);

		if (!data)
			return pkx_fail(err, PKX_EINTERNAL, "out of memory");
		b->data = data;
		b->cap = cap;
	}
	b->pkts[b->n] = *pkt;
	if (pkt->caplen)
		memcpy(b->data + b->used, pkt->data, pkt->caplen);
	b->pkts[b->n].data = b->data + b->used;
	b->read_at[b->n] = read_at;
	b->used += pkt->caplen;
	b->n++;
	return PKX_OK;
}

/* The packets of b below upto still alive, in b->ask for one filter:
 * how many. */
static size_t batch_ask(run_batch *b, size_t upto)
{
	size_t m = 0, i;

	for (i = 0; i < upto; i++)
		if (b->alive[i]) {
			b->ask_index[m] = i;
			b->ask[m++] = b->pkts[i];
		}
	return m;
}

/* A filter's got verdicts of the m packets asked: the new upto. */
static size_t batch_answered(run_batch *b, size_t m, size_t got, size_t upto)
{
	size_t i;

	if (got > m)
		got = m;
	for (i = 0; i < got; i++)
		b->alive[b->ask_index[i]] = b->verdicts[i] != 0;
	return got < m ? b->ask_index[got] : upto;
}

/* Runs the first nf filters over the held packets, one filter after the
 * other, so each sees the packets match() would have shown it, in the same
 * order.  Returns how many leading packets have all their answers (the
 * first failure's in *failure). */
static size_t batch_filter(pkx_run *run, run_batch *b, size_t nf,
                           pkx_error *failure)
{
	size_t upto = b->n, f;

	memset(b->alive, 1, b->n);
	for (f = 0; f < nf && upto > 0; f++) {
		const pkx_filter_plugin *p = run->filters[f].plugin;
		void *prog = run->filters[f].program;
		size_t m = batch_ask(b, upto), got;

		if (m == 0)
			break;
		if (filter_batches(p)) {
			got = p->match_batch(prog, b->ask, m, b->verdicts,
			                     failure);
		} else {
			for (got = 0; got < m; got++) {
				int r = p->match(prog, &b->ask[got], failure);

				if (r < 0)
					break;
				b->verdicts[got] = r > 0;
			}
		}
		upto = batch_answered(b, m, got, upto);
	}
	return upto;
}

/* Sends the packets of b that passed every filter down the pipeline.  A
 * filter that failed at packet upto ends the export there: the packets
 * before it still go out, and a stop rule met first wins, exactly as
 * packet by packet.  Empties b. */
static pkx_run_outcome batch_emit(pkx_run *run, void *fmt, run_batch *b,
                                  size_t upto, const pkx_error *failure,
                                  run_counts *c, pkx_error *err)
{
	pkx_run_outcome out = PKX_RUN_DONE;
	size_t i;

	for (i = 0; i < upto && out == PKX_RUN_DONE; i++)
		if (b->alive[i])
			out = emit(run, fmt, &b->pkts[i], c, err);
	if (out != PKX_RUN_DONE) {
		c->processed = b->read_at[i - 1];
	} else if (upto < b->n) {
		pkx_fail_from(err, failure, PKX_EINTERNAL, NULL);
		c->processed = b->read_at[upto];
		out = PKX_RUN_FAILED;
	}
	b->n = 0;
	b->used = 0;
	return out;
}

/* Runs the filters over the held packets, then sends those that passed
 * down the pipeline. */
static pkx_run_outcome batch_flush(pkx_run *run, void *fmt, run_counts *c,
                                   pkx_error *err)
{
	run_batch *b = run->batch;
	pkx_error failure;
	size_t upto;

	pkx_error_clear(&failure);
	upto = batch_filter(run, b, run->n_filters, &failure);
	return batch_emit(run, fmt, b, upto, &failure, c, err);
}

/* Pipelined: the held packets go to the filters, the last one answering
 * in the background, behind the batches already in flight (fewer than
 * depth).  The caller gives run->batch a buffer for the next packets. */
static void batch_launch(pkx_run *run)
{
	run_batch *b = run->batch;
	const run_filter *last = &run->filters[run->n_filters - 1];

	pkx_error_clear(&b->failure);
	b->submit_failed = 0;
	b->upto = batch_filter(run, b, run->n_filters - 1, &b->failure);
	b->m = batch_ask(b, b->upto);
	if (b->m > 0 && last->plugin->batch_submit(last->program, b->ask, b->m,
	                                           &b->failure) != PKX_OK)
		b->submit_failed = 1;
	run->flight[run->n_flight++] = b;
	run->batch = NULL;
}

/* Pipelined: waits for the answers to the oldest batch in flight and
 * returns it (its packets still to be written out; the caller gives the
 * buffer a role).  NULL when none was in flight. */
static run_batch *batch_collect(pkx_run *run)
{
	run_batch *b;
	const run_filter *last = &run->filters[run->n_filters - 1];
	size_t got = 0, i;

	if (run->n_flight == 0)
		return NULL;
	b = run->flight[0];
	for (i = 1; i < run->n_flight; i++)
		run->flight[i - 1] = run->flight[i];
	run->n_flight--;
	if (b->m > 0) {
		if (!b->submit_failed)
			got = last->plugin->batch_collect(
			    last->program, b->verdicts, &b->failure);
		b->upto = batch_answered(b, b->m, got, b->upto);
	}
	return b;
}

static void batch_spare(pkx_run *run, run_batch *b)
{
	b->n = b->used = 0;
	run->spare[run->n_spare++] = b;
}

/* Pipelined: the batches in flight are not wanted (the export ended
 * before them): their answers are waited for, in order, and their packets
 * dropped. */
static void batch_drop_flight(pkx_run *run)
{
	run_batch *b;

	while ((b = batch_collect(run)) != NULL)
		batch_spare(run, b);
}

/* Pipelined, the held packets filling the buffer: the oldest batch in
 * flight is answered, the held one takes off, and only then is the
 * answered one written out, so the filter works while the core writes and
 * reads (with two in flight, it has the next batch already while the core
 * collects the one before). */
static pkx_run_outcome batch_cycle(pkx_run *run, void *fmt, run_counts *c,
                                   pkx_error *err)
{
	run_batch *done;
	pkx_run_outcome out;

	if (run->n_flight < run->depth) {
		/* The first batches: a spare buffer takes the next ones. */
		batch_launch(run);
		run->batch = run->spare[--run->n_spare];
		return PKX_RUN_DONE;
	}
	done = batch_collect(run);
	if (done->upto < done->n) {
		/* It failed: nothing after it is asked, and what is in
		 * flight was read after the failure. */
		out = batch_emit(run, fmt, done, done->upto, &done->failure, c,
		                 err);
		batch_spare(run, done);
		batch_drop_flight(run);
		run->batch->n = run->batch->used = 0;
		return out;
	}
	/* done is written out while the held packets are answered, then
	 * holds the next ones. */
	batch_launch(run);
	run->batch = done;
	out = batch_emit(run, fmt, done, done->upto, &done->failure, c, err);
	if (out != PKX_RUN_DONE)
		batch_drop_flight(run); /* read after the end: never sent */
	return out;
}

/* Answers the packets held for a batching filter, if any. */
static pkx_run_outcome flush_held(pkx_run *run, void *fmt, run_counts *c,
                                  pkx_error *err)
{
	pkx_run_outcome out;
	run_batch *done;

	if (!run->batch)
		return PKX_RUN_DONE;
	if (!run->pipelined)
		return run->batch->n == 0 ? PKX_RUN_DONE
		                          : batch_flush(run, fmt, c, err);
	/* In order: the batches in flight, then the held one. */
	while ((done = batch_collect(run)) != NULL) {
		out = batch_emit(run, fmt, done, done->upto, &done->failure, c,
		                 err);
		batch_spare(run, done);
		if (out != PKX_RUN_DONE) {
			batch_drop_flight(run);
			run->batch->n = run->batch->used = 0;
			return out;
		}
	}
	if (run->batch->n == 0)
		return PKX_RUN_DONE;
	batch_launch(run);
	done = batch_collect(run);
	run->batch = done;
	return batch_emit(run, fmt, done, done->upto, &done->failure, c, err);
}

/* A live export: held packets answered and the sink's buffer handed on,
 * so a reader sees packets about as they happen. */
static pkx_run_outcome live_flush(pkx_run *run, void *fmt, pkx_sink *sink,
                                  run_counts *c, pkx_error *err)
{
	pkx_run_outcome o = flush_held(run, fmt, c, err);
	pkx_error why;

	pkx_error_clear(&why);
	if (o == PKX_RUN_DONE && sink->flush &&
	    sink->flush(sink, &why) != PKX_OK) {
		pkx_fail_from(err, &why, PKX_EIO, NULL);
		o = PKX_RUN_FAILED;
	}
	return o;
}

pkx_run_outcome pkx_run_execute(pkx_run *run, pkx_sink *sink, pkx_error *err)
{
	pkx_format_args fargs = {
	    .size = sizeof(fargs),
	    .format = run->format_name,
	    .interfaces = run->info->interfaces,
	    .n_interfaces = run->info->n_interfaces,
	    .snaplen = run->snaplen,
	    .cut = run->cut != 0,
	    .export = &run->handle,
	};
	run_counts c = {0, 0, 0};
	uint64_t deadline =
	    run->time_limit
	        ? pkx_now_ns() + (uint64_t)run->time_limit * 1000000000u
	        : 0;
	uint64_t last_end =
	    run->n_windows ? run->windows[run->n_windows - 1].end : 0;
	unsigned countdown = run->live ? 1 : CHECK_EVERY;
	pkx_run_outcome outcome = PKX_RUN_DONE;
	run_batch *batch = run->batch;
	uint64_t stop_by = 0; /* a stop was asked: drain until then */
	uint64_t flushed = 0; /* live: when the sink was last flushed */
	int quiet = 0;        /* the source's last answer was PKX_AGAIN */
	void *fmt = NULL;
	pkx_packet pkt;
	pkx_error why, damage;

	pkx_error_clear(&why);
	pkx_error_clear(&damage);
	if (run->format->begin(&fargs, sink, &fmt, &why) != PKX_OK) {
		pkx_fail_from(err, &why, PKX_EINTERNAL, NULL);
		return PKX_RUN_FAILED;
	}
	/* An empty selection (windows that clip to nothing) reads nothing. */
	while (run->n_windows > 0) {
		pkx_result r;
		int m;

		if (--countdown == 0) {
			uint64_t now = pkx_now_ns();

			countdown = run->live ? 1 : CHECK_EVERY;
			PUBLISH(run->processed, c.processed);
			PUBLISH(run->exported, c.exported);
			PUBLISH(run->exported_bytes, c.bytes);
			if (run->source->position)
				PUBLISH(run->position, run->source->position(
				                           run->source_inst));
			if (READ(run->cancel)) {
				outcome = PKX_RUN_CANCELLED;
				break;
			}
			if (READ(run->stop)) {
				/* A file holds nothing back: it ends now (the
				 * command line's Ctrl-C). */
				if (!run->live) {
					outcome = PKX_RUN_STOPPED;
					break;
				}
				if (!stop_by) {
					stop_by = now + STOP_DRAIN_NS;
				} else if (quiet || now >= stop_by) {
					outcome = PKX_RUN_STOPPED;
					break;
				}
			}
			if (deadline && now >= deadline) {
				outcome = PKX_RUN_STOPPED;
				break;
			}
			if (run->live && now - flushed >= LIVE_FLUSH_NS) {
				flushed = now;
				if ((outcome = live_flush(run, fmt, sink, &c,
				                          err)) != PKX_RUN_DONE)
					break;
			}
		}
		r = run->source->next(run->source_inst, &pkt, &damage);
		if (r == PKX_END)
			break;
		quiet = r == PKX_AGAIN;
		if (r == PKX_AGAIN) {
			/* A quiet live source: answer the held packets and
			 * hand the output on now rather than when traffic
			 * resumes, and look at the clock and the cancel flag.
			 * A source that says this is live from now on. */
			run->live = 1;
			flushed = pkx_now_ns();
			if ((outcome = live_flush(run, fmt, sink, &c, err)) !=
			    PKX_RUN_DONE)
				break;
			countdown = 1;
			continue;
		}
		if (r != PKX_OK) {
			outcome = PKX_RUN_DAMAGED;
			break;
		}
		c.processed++;
		if (pkt.ifindex >= run->known_ifs) {
			/* Held packets are answered by the programs that
			 * knew their interfaces. */
			if ((outcome = flush_held(run, fmt, &c, err)) !=
			    PKX_RUN_DONE)
				break;
			if (grow_interfaces(run, fmt, pkt.ifindex, err) !=
			    PKX_OK) {
				outcome = PKX_RUN_FAILED;
				break;
			}
		}
		if (!run->all_time && !in_windows(run, pkt.ts_ns)) {
			if (run->info->time_ordered && pkt.ts_ns >= last_end)
				break;
			continue;
		}
		if (batch) {
			/* run->batch: pipelined, the buffers swap */
			if (batch_full(run->batch, &pkt) &&
			    (outcome = run->pipelined
			                   ? batch_cycle(run, fmt, &c, err)
			                   : batch_flush(run, fmt, &c, err)) !=
			        PKX_RUN_DONE)
				break;
			if (batch_add(run->batch, &pkt, c.processed, err) !=
			    PKX_OK) {
				outcome = PKX_RUN_FAILED;
				break;
			}
			continue;
		}
		if ((m = match_all(run, &pkt, err)) < 0) {
			outcome = PKX_RUN_FAILED;
			break;
		}
		if (m > 0 &&
		    (outcome = emit(run, fmt, &pkt, &c, err)) != PKX_RUN_DONE)
			break;
	}
	/* Packets held when reading ended were read before whatever ended
	 * it (the end, damage past them, the time limit): they go on, as
	 * they would have one by one.  A stop rule or failure among them
	 * comes first. */
	if (outcome != PKX_RUN_CANCELLED && outcome != PKX_RUN_FAILED) {
		pkx_run_outcome o = flush_held(run, fmt, &c, err);

		if (o != PKX_RUN_DONE)
			outcome = o;
	} else if (run->n_flight) {
		batch_drop_flight(run);
	}
	/* A filter that gave up because the export was cancelled (ABI 1.4
	 * watch_cancel) failed on purpose. */
	if (outcome == PKX_RUN_FAILED && READ(run->cancel)) {
		outcome = PKX_RUN_CANCELLED;
		pkx_error_clear(err);
	}
	if (outcome == PKX_RUN_DAMAGED)
		pkx_fail_from(err, &damage, PKX_EDAMAGED, NULL);
	PUBLISH(run->processed, c.processed);
	PUBLISH(run->exported, c.exported);
	PUBLISH(run->exported_bytes, c.bytes);
	if (run->source->position)
		PUBLISH(run->position, run->source->position(run->source_inst));
	PUBLISH(run->truncated, outcome == PKX_RUN_STOPPED);
	pkx_error_clear(&why);
	if (run->format->end(
	        fmt, outcome != PKX_RUN_FAILED && outcome != PKX_RUN_CANCELLED,
	        &why) != PKX_OK &&
	    outcome != PKX_RUN_FAILED) {
		pkx_fail_from(err, &why, PKX_EIO, NULL);
		outcome = PKX_RUN_FAILED;
	}
	/* Estimates become exact and progress 100 only for a run that got to
	 * its end (or to a stop rule). */
	PUBLISH(run->finished, outcome == PKX_RUN_DONE ||
	                           outcome == PKX_RUN_STOPPED ||
	                           outcome == PKX_RUN_DAMAGED);
	return outcome;
}

void pkx_run_cancel(pkx_run *run)
{
	PUBLISH(run->cancel, 1);
}

void pkx_run_stop(pkx_run *run)
{
	PUBLISH(run->stop, 1);
}

void pkx_run_stats(const pkx_run *run, pkx_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->processed_packets = READ(run->processed);
	out->exported_packets = READ(run->exported);
	out->exported_bytes = READ(run->exported_bytes);
	out->total_bytes = run->info->total_bytes;
	out->truncated = READ(run->truncated);
	out->dropped_packets = READ(run->counters[PKX_COUNT_DROPPED]);
	if (READ(run->finished)) {
		/* Once the run is over the estimate is exact. */
		out->has_estimates = 1;
		out->estimated_packets = out->exported_packets;
		out->estimated_bytes = out->exported_bytes;
	} else if (run->info->has_estimates && run->n_filters == 0) {
		out->has_estimates = 1;
		out->estimated_packets = run->info->estimated_packets;
		out->estimated_bytes = run->info->estimated_bytes;
	}
}

uint64_t pkx_run_position(const pkx_run *run)
{
	return READ(run->position);
}

double pkx_run_progress(const pkx_run *run)
{
	uint64_t total = run->info->total_bytes;
	uint64_t pos = READ(run->position);
	double p;

	if (READ(run->finished))
		return 100.0;
	if (!total)
		return 0.0;
	p = 100.0 * (double)pos / (double)total;
	return p > 99.9 ? 99.9 : p;
}
