/* The first plugins driven through the ABI by the harness (source-file,
 * filter-bpf, format-pcap), and whole exports through the pipeline. */
#include "config.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NS          1000000000ull
#define T0          1700000000ull
#define LT_ETHERNET 1
#define LT_RAW      101

pkx_registry *reg;
char *root;

void setup(void)
{
	reg = hx_registry();
	root = hx_root_new();
}

void teardown(void)
{
	hx_root_free(root);
	root = NULL;
	pkx_registry_free(reg);
	reg = NULL;
}

void assert_contains(const char *text, const char *part)
{
	ck_assert_msg(strstr(text, part) != NULL, "\"%s\" does not name \"%s\"",
	              text, part);
}

/* A 60-byte Ethernet frame: IPv4 with `proto` (6 TCP, 17 UDP) to dport,
 * or ARP when proto is 0. */
size_t make_frame(uint8_t *f, int proto, uint16_t dport)
{
	static const uint8_t eth[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};

	memset(f, 0, 60);
	memcpy(f, eth, 12);
	if (proto == 0) {
		f[12] = 0x08, f[13] = 0x06;
		f[14] = 0, f[15] = 1, f[16] = 8, f[17] = 0, f[18] = 6,
		f[19] = 4;
		return 60;
	}
	f[12] = 0x08, f[13] = 0x00;
	f[14] = 0x45, f[16] = 0, f[17] = 46, f[22] = 64, f[23] = (uint8_t)proto;
	f[26] = 10, f[29] = 1, f[30] = 10, f[32] = 1, f[33] = 1;
	f[34] = 0x9c, f[35] = 0x40; /* source port 40000 */
	f[36] = (uint8_t)(dport >> 8), f[37] = (uint8_t)dport;
	if (proto == 6)
		f[46] = 0x50;
	return 60;
}

/* --------------------------------------------------------- source-file */

static void assert_source_matches_file(const char *name, int nanos)
{
	char path[128];
	hx_buf file = {0}, store = {0};
	hx_capture want, got;
	pkx_error err = {"", ""};
	size_t i;

	snprintf(path, sizeof(path), "fs/%s", name);
	hx_read_file(root, path, &file);
	ck_assert_int_eq(hx_pcap_parse(file.data, file.len, &want), 0);
	ck_assert_int_eq(want.nanos, nanos);
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, path, &store, &got, &err), PKX_END);
	ck_assert_uint_eq(got.n, want.n);
	for (i = 0; i < want.n; i++) {
		ck_assert_uint_eq(got.recs[i].ts_ns, want.recs[i].ts_ns);
		ck_assert_uint_eq(got.recs[i].caplen, want.recs[i].caplen);
		ck_assert_uint_eq(got.recs[i].wirelen, want.recs[i].wirelen);
		ck_assert_mem_eq(got.recs[i].data, want.recs[i].data,
		                 want.recs[i].caplen);
	}
	hx_capture_free(&want);
	hx_capture_free(&got);
	hx_buf_free(&file);
	hx_buf_free(&store);
}

START_TEST(source_reads_pcap_us)
{
	hx_mkcap(root, "a.pcap", "--packets 300 --seed 3");
	assert_source_matches_file("a.pcap", 0);
}
END_TEST

START_TEST(source_reads_pcap_ns)
{
	hx_mkcap(root, "a.pcap", "--packets 300 --seed 4 --format pcap-ns");
	assert_source_matches_file("a.pcap", 1);
}
END_TEST

START_TEST(source_info)
{
	const pkx_source_plugin *src = pkx_registry_source(reg, "fs/a.pcap");
	pkx_source_args args = {
	    .size = sizeof(args), .root = root, .path = "fs/a.pcap"};
	const pkx_source_info *info;
	hx_buf file = {0};
	pkx_error err;
	pkx_packet pkt;
	void *inst;
	uint8_t f[60];

	make_frame(f, 6, 80);
	hx_pcap_header(&file, 0, 0, 100, LT_RAW);
	hx_pcap_record(&file, 0, 5, 7, 40, 1500, f + 14);
	hx_write_file(root, "fs/a.pcap", file.data, file.len);
	ck_assert_ptr_nonnull(src);
	ck_assert_str_eq(src->header.name, "source-file");
	ck_assert_int_eq(src->open(&args, &inst, &err), PKX_OK);
	info = src->info(inst);
	ck_assert_uint_eq(info->n_interfaces, 1);
	ck_assert_uint_eq(info->interfaces[0].linktype, LT_RAW);
	ck_assert_uint_eq(info->interfaces[0].snaplen, 100);
	ck_assert_uint_eq(info->total_bytes, file.len);
	ck_assert_int_eq(src->next(inst, &pkt, &err), PKX_OK);
	ck_assert_uint_eq(pkt.ts_ns, 5 * NS + 7000);
	ck_assert_uint_eq(pkt.caplen, 40);
	ck_assert_uint_eq(pkt.wirelen, 1500);
	ck_assert_uint_eq(pkt.ifindex, 0);
	ck_assert_mem_eq(pkt.data, f + 14, 40);
	ck_assert_int_eq(src->next(inst, &pkt, &err), PKX_END);
	if (src->position)
		ck_assert_uint_eq(src->position(inst), file.len);
	src->close(inst);
	hx_buf_free(&file);
}
END_TEST

START_TEST(source_big_endian_and_edges)
{
	hx_buf file = {0}, store = {0};
	hx_capture got;
	pkx_error err;
	uint8_t f[60];

	make_frame(f, 17, 53);
	hx_pcap_header(&file, 0, 1, 65535, LT_ETHERNET);
	hx_pcap_record(&file, 1, 0, 0, 60, 60, f);
	hx_pcap_record(&file, 1, 0xffffffffu, 999999, 60, 60, f);
	hx_write_file(root, "fs/be.pcap", file.data, file.len);
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, "fs/be.pcap", &store, &got, &err),
	    PKX_END);
	ck_assert_uint_eq(got.n, 2);
	ck_assert_uint_eq(got.recs[0].ts_ns, 0);
	/* Seconds are unsigned 32 bits in the file. */
	ck_assert_uint_eq(got.recs[1].ts_ns, 0xffffffffull * NS + 999999000);
	ck_assert_mem_eq(got.recs[1].data, f, 60);
	hx_capture_free(&got);
	hx_buf_free(&file);
	hx_buf_free(&store);
}
END_TEST

START_TEST(source_pcapng_nanoseconds)
{
	static const uint64_t times[] = {T0 * NS, T0 * NS + 1,
	                                 T0 * NS + 999999999, (T0 + 1) * NS};
	char opts[256];
	hx_buf store = {0};
	hx_capture got;
	pkx_error err;
	size_t i;

	snprintf(opts, sizeof(opts),
	         "--format pcapng --times %llu,%llu,%llu,%llu",
	         (unsigned long long)times[0], (unsigned long long)times[1],
	         (unsigned long long)times[2], (unsigned long long)times[3]);
	hx_mkcap(root, "a.pcapng", opts);
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, "fs/a.pcapng", &store, &got, &err),
	    PKX_END);
	ck_assert_uint_eq(got.n, 4);
	for (i = 0; i < 4; i++)
		ck_assert_uint_eq(got.recs[i].ts_ns, times[i]);
	hx_capture_free(&got);
	hx_buf_free(&store);
}
END_TEST

static const struct {
	const char *path, *id, *says;
} refused_sources[] = {
    {"fs/missing.pcap", PKX_ENOTFOUND, "missing.pcap"},
    {"fs/../secret.pcap", PKX_EINVAL, "\"..\""},
    {"fs//etc/passwd", PKX_EINVAL, "/etc/passwd"},
    {"fs/out.pcap", PKX_EINVAL, "leads out"},
    {"fs/dir", PKX_EINVAL, "not a regular file"},
    {"fs/text.pcap", PKX_EINVAL, "fs/text.pcap"},
    {"fs/empty.pcap", PKX_EINVAL, "fs/empty.pcap"},
    {"fs/", PKX_EINVAL, "path"},
};

START_TEST(source_refusals)
{
	const pkx_source_plugin *src = pkx_registry_source(reg, "fs/");
	pkx_source_args args = {.size = sizeof(args),
	                        .root = root,
	                        .path = refused_sources[_i].path};
	pkx_error err = {"", ""};
	void *inst = NULL;
	char *p;

	hx_write_file(root, "secret.pcap", "x", 1);
	p = hx_path(root, "fs/out.pcap");
	ck_assert_int_eq(symlink("../secret.pcap", p), 0);
	free(p);
	p = hx_path(root, "fs/dir");
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(p);
	hx_write_file(root, "fs/text.pcap", "hello, this is not a capture\n",
	              29);
	hx_write_file(root, "fs/empty.pcap", "", 0);
	ck_assert_int_eq(src->open(&args, &inst, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, refused_sources[_i].id);
	assert_contains(err.text, refused_sources[_i].says);
}
END_TEST

/* A capture of n packets cut `cut` bytes short of its end. */
static size_t write_cut_capture(size_t n, size_t cut)
{
	hx_buf file = {0};
	size_t i, len;
	uint8_t f[60];

	make_frame(f, 6, 80);
	hx_pcap_header(&file, 1, 0, 65535, LT_ETHERNET);
	for (i = 0; i < n; i++)
		hx_pcap_record(&file, 0, (uint32_t)T0, (uint32_t)i, 60, 60, f);
	len = file.len - cut;
	hx_write_file(root, "fs/cut.pcap", file.data, len);
	hx_buf_free(&file);
	return len;
}

START_TEST(source_truncated_file)
{
	/* Cut in the last record's data, and in its header. */
	static const size_t cuts[] = {5, 60, 70};
	hx_buf store = {0};
	hx_capture got;
	pkx_error err = {"", ""};
	size_t i;

	for (i = 0; i < 3; i++) {
		write_cut_capture(10, cuts[i]);
		ck_assert_int_eq(hx_source_read_all(reg, root, "fs/cut.pcap",
		                                    &store, &got, &err),
		                 PKX_ERROR);
		ck_assert_uint_eq(got.n, 9);
		ck_assert_uint_eq(got.recs[8].ts_ns, T0 * NS + 8);
		ck_assert_str_eq(err.id, PKX_EDAMAGED);
		assert_contains(err.text, "fs/cut.pcap");
		assert_contains(err.text, "after packet 9");
		hx_capture_free(&got);
		hx_buf_free(&store);
	}
	/* Cut on a record boundary: a shorter, whole file. */
	write_cut_capture(10, 76);
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, "fs/cut.pcap", &store, &got, &err),
	    PKX_END);
	ck_assert_uint_eq(got.n, 9);
	hx_capture_free(&got);
	hx_buf_free(&store);
}
END_TEST

START_TEST(source_absurd_record_length)
{
	hx_buf file = {0}, store = {0};
	hx_capture got;
	pkx_error err = {"", ""};
	uint8_t f[60];
	uint32_t bad[4] = {1, 0, 0x7fffffffu, 60};

	make_frame(f, 6, 80);
	hx_pcap_header(&file, 0, 0, 65535, LT_ETHERNET);
	hx_pcap_record(&file, 0, 1, 0, 60, 60, f);
	hx_buf_add(&file, bad, sizeof(bad));
	hx_buf_add(&file, f, 60);
	hx_write_file(root, "fs/bad.pcap", file.data, file.len);
	ck_assert_int_eq(
	    hx_source_read_all(reg, root, "fs/bad.pcap", &store, &got, &err),
	    PKX_ERROR);
	ck_assert_uint_eq(got.n, 1);
	ck_assert_str_eq(err.id, PKX_EDAMAGED);
	hx_capture_free(&got);
	hx_buf_free(&file);
	hx_buf_free(&store);
}
END_TEST

/* ---------------------------------------------------------- filter-bpf */

static const pkx_interface eth_if = {.linktype = LT_ETHERNET, .snaplen = 65535};

static int bpf_matches(const char *expr, const pkx_interface *ifs, size_t n,
                       const pkx_packet *pkt)
{
	const pkx_filter_plugin *bpf = pkx_registry_filter(reg, "BPF");
	void *prog = NULL;
	pkx_error err = {"", ""};
	int m;

	ck_assert_ptr_nonnull(bpf);
	ck_assert_msg(bpf->compile("BPF", expr, ifs, n, &prog, &err) == PKX_OK,
	              "%s: %s", expr, err.text);
	m = bpf->match(prog, pkt, &err);
	bpf->free(prog);
	return m;
}

START_TEST(bpf_match_known_packets)
{
	uint8_t tcp[60], udp[60], arp[60];
	pkx_packet p_tcp = {.caplen = 60, .wirelen = 60, .data = tcp};
	pkx_packet p_udp = {.caplen = 60, .wirelen = 60, .data = udp};
	pkx_packet p_arp = {.caplen = 60, .wirelen = 60, .data = arp};

	make_frame(tcp, 6, 80);
	make_frame(udp, 17, 53);
	make_frame(arp, 0, 0);
	ck_assert_int_eq(bpf_matches("tcp port 80", &eth_if, 1, &p_tcp), 1);
	ck_assert_int_eq(bpf_matches("tcp port 80", &eth_if, 1, &p_udp), 0);
	ck_assert_int_eq(bpf_matches("udp dst port 53", &eth_if, 1, &p_udp), 1);
	ck_assert_int_eq(bpf_matches("udp dst port 54", &eth_if, 1, &p_udp), 0);
	ck_assert_int_eq(bpf_matches("arp", &eth_if, 1, &p_arp), 1);
	ck_assert_int_eq(bpf_matches("ip", &eth_if, 1, &p_arp), 0);
	ck_assert_int_eq(bpf_matches("src host 10.0.0.1", &eth_if, 1, &p_tcp),
	                 1);
	/* Lengths are the wire length, as in tcpdump. */
	p_tcp.wirelen = 1500;
	ck_assert_int_eq(bpf_matches("greater 1000", &eth_if, 1, &p_tcp), 1);
	p_tcp.wirelen = 60;
	ck_assert_int_eq(bpf_matches("greater 1000", &eth_if, 1, &p_tcp), 0);
}
END_TEST

START_TEST(bpf_per_linktype)
{
	const pkx_interface ifs[2] = {
	    {.linktype = LT_ETHERNET, .snaplen = 65535},
	    {.linktype = LT_RAW, .snaplen = 65535}};
	uint8_t tcp[60];
	pkx_packet p = {.caplen = 60, .wirelen = 60, .data = tcp};

	make_frame(tcp, 6, 80);
	ck_assert_int_eq(bpf_matches("tcp port 80", ifs, 2, &p), 1);
	/* The same bytes read as raw IP are not IPv4 (0x02 first). */
	p.ifindex = 1;
	ck_assert_int_eq(bpf_matches("tcp port 80", ifs, 2, &p), 0);
	/* Raw IP bytes on the raw interface match. */
	p.data = tcp + 14;
	p.caplen = p.wirelen = 46;
	ck_assert_int_eq(bpf_matches("tcp port 80", ifs, 2, &p), 1);
	ck_assert_int_eq(bpf_matches("udp", ifs, 2, &p), 0);
}
END_TEST

static const struct {
	const char *expr;
	uint32_t linktype;
	const char *says; /* libpcap's own words */
} bad_bpf[] = {
    {"tcp port", LT_ETHERNET, "syntax error"},
    {"port 99999", LT_ETHERNET, "99999"},
    {"ether host 02:00:00:00:00:01", LT_RAW, "ether"},
    {"tcp", 65000, "65000"},
};

START_TEST(bpf_compile_errors)
{
	const pkx_filter_plugin *bpf = pkx_registry_filter(reg, "BPF");
	pkx_interface ifs[2] = {eth_if, eth_if};
	void *prog = NULL;
	pkx_error err = {"", ""};

	ifs[1].linktype = bad_bpf[_i].linktype;
	ck_assert_int_eq(
	    bpf->compile("BPF", bad_bpf[_i].expr, ifs, 2, &prog, &err),
	    PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, bad_bpf[_i].says);
}
END_TEST

START_TEST(bpf_misc)
{
	const pkx_filter_plugin *bpf = pkx_registry_filter(reg, "BPF");
	uint8_t tcp[60];
	pkx_packet p = {.caplen = 60, .wirelen = 60, .data = tcp, .ifindex = 1};
	void *prog = NULL;
	pkx_error err = {"", ""};

	make_frame(tcp, 6, 80);
	ck_assert_int_eq(bpf->compile("BPF", "tcp", &eth_if, 1, &prog, &err),
	                 PKX_OK);
	ck_assert_str_eq(bpf->to_bpf(prog), "tcp");
	/* A packet on an interface the program was not compiled for. */
	ck_assert_int_eq(bpf->match(prog, &p, &err), -1);
	ck_assert_str_eq(err.id, PKX_EINTERNAL);
	bpf->free(prog);
	/* The empty expression matches everything. */
	p.ifindex = 0;
	ck_assert_int_eq(bpf_matches("", &eth_if, 1, &p), 1);
}
END_TEST

/* --------------------------------------------------------- format-pcap */

static const uint8_t payload[8] = {1, 2, 3, 4, 5, 6, 7, 8};

/* Writes packets at the given times with format; returns the bytes. */
static void format_write(const char *format, uint32_t snaplen,
                         const uint64_t *times, size_t n, hx_buf *out)
{
	const pkx_format_plugin *fmt = pkx_registry_format(reg, format);
	pkx_format_args args = {.size = sizeof(args),
	                        .format = format,
	                        .interfaces = &eth_if,
	                        .n_interfaces = 1,
	                        .snaplen = snaplen};
	hx_mem_sink sink;
	void *inst = NULL;
	pkx_error err = {"", ""};
	size_t i;

	ck_assert_ptr_nonnull(fmt);
	hx_mem_sink_init(&sink, 0);
	ck_assert_int_eq(fmt->begin(&args, &sink.sink, &inst, &err), PKX_OK);
	for (i = 0; i < n; i++) {
		pkx_packet p = {.ts_ns = times[i],
		                .caplen = 8,
		                .wirelen = 1000 + (uint32_t)i,
		                .data = payload};

		ck_assert_int_eq(fmt->write(inst, &p, &err), PKX_OK);
	}
	ck_assert_int_eq(fmt->end(inst, 1, &err), PKX_OK);
	*out = sink.buf;
}

static const uint64_t edge_times[] = {
    0, 1, 999, 1000, 1999, T0 *NS + 999999999, T0 *NS + 123456789,
};

START_TEST(format_pcap_exact_bytes)
{
	hx_buf us, ns, want = {0};
	size_t n = sizeof(edge_times) / sizeof(edge_times[0]), i;

	format_write("PCAP_US", 1234, edge_times, n, &us);
	format_write("PCAP_NS", 65535, edge_times, n, &ns);
	/* Built independently: what the files must hold, byte for byte. */
	hx_pcap_header(&want, 0, 0, 1234, LT_ETHERNET);
	for (i = 0; i < n; i++)
		hx_pcap_record(&want, 0, (uint32_t)(edge_times[i] / NS),
		               (uint32_t)(edge_times[i] % NS / 1000), 8,
		               1000 + (uint32_t)i, payload);
	ck_assert_uint_eq(us.len, want.len);
	ck_assert_mem_eq(us.data, want.data, want.len);
	want.len = 0;
	hx_pcap_header(&want, 1, 0, 65535, LT_ETHERNET);
	for (i = 0; i < n; i++)
		hx_pcap_record(&want, 0, (uint32_t)(edge_times[i] / NS),
		               (uint32_t)(edge_times[i] % NS), 8,
		               1000 + (uint32_t)i, payload);
	ck_assert_uint_eq(ns.len, want.len);
	ck_assert_mem_eq(ns.data, want.data, want.len);
	hx_buf_free(&us);
	hx_buf_free(&ns);
	hx_buf_free(&want);
}
END_TEST

START_TEST(format_pcap_refusals)
{
	const pkx_format_plugin *fmt = pkx_registry_format(reg, "PCAP_US");
	const pkx_interface mixed[2] = {eth_if,
	                                {.linktype = LT_RAW, .snaplen = 9}};
	pkx_format_args args = {.size = sizeof(args),
	                        .format = "PCAP_US",
	                        .interfaces = mixed,
	                        .n_interfaces = 2,
	                        .snaplen = 65535};
	pkx_error err = {"", ""};
	void *inst = NULL;

	ck_assert_int_eq(fmt->begin(&args, &pkx_null_sink, &inst, &err),
	                 PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, "101");
	assert_contains(err.text, "PCAPNG");
	args.n_interfaces = 0;
	ck_assert_int_eq(fmt->begin(&args, &pkx_null_sink, &inst, &err),
	                 PKX_ERROR);
	args.n_interfaces = 1;
	args.format = "PCAPNG_US";
	ck_assert_int_eq(fmt->begin(&args, &pkx_null_sink, &inst, &err),
	                 PKX_ERROR);
	assert_contains(err.text, "PCAPNG_US");
}
END_TEST

START_TEST(format_pcap_add_interfaces)
{
	const pkx_format_plugin *fmt = pkx_registry_format(reg, "PCAP_NS");
	pkx_interface ifs[2] = {eth_if, eth_if};
	pkx_format_args args = {.size = sizeof(args),
	                        .format = "PCAP_NS",
	                        .interfaces = ifs,
	                        .n_interfaces = 1,
	                        .snaplen = 65535};
	pkx_error err = {"", ""};
	void *inst = NULL;

	ck_assert_ptr_nonnull(fmt->add_interfaces);
	ck_assert_int_eq(fmt->begin(&args, &pkx_null_sink, &inst, &err),
	                 PKX_OK);
	ck_assert_int_eq(fmt->add_interfaces(inst, ifs, 2, &err), PKX_OK);
	ifs[1].linktype = LT_RAW;
	ck_assert_int_eq(fmt->add_interfaces(inst, ifs, 2, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EINVAL);
	assert_contains(err.text, "PCAP_NS");
	ck_assert_int_eq(fmt->end(inst, 0, &err), PKX_OK);
}
END_TEST

START_TEST(format_pcap_sink_failure)
{
	const pkx_format_plugin *fmt = pkx_registry_format(reg, "PCAP_US");
	pkx_format_args args = {.size = sizeof(args),
	                        .format = "PCAP_US",
	                        .interfaces = &eth_if,
	                        .n_interfaces = 1,
	                        .snaplen = 65535};
	pkx_packet p = {.caplen = 8, .wirelen = 8, .data = payload};
	hx_mem_sink sink;
	pkx_error err = {"", ""};
	void *inst = NULL;

	hx_mem_sink_init(&sink, 10);
	ck_assert_int_eq(fmt->begin(&args, &sink.sink, &inst, &err), PKX_ERROR);
	ck_assert_str_eq(err.id, PKX_EIO);
	hx_mem_sink_init(&sink, 24 + 16 + 4);
	ck_assert_int_eq(fmt->begin(&args, &sink.sink, &inst, &err), PKX_OK);
	ck_assert_int_eq(fmt->write(inst, &p, &err), PKX_ERROR);
	ck_assert_int_eq(fmt->end(inst, 0, &err), PKX_OK);
	hx_buf_free(&sink.buf);
}
END_TEST

/* -------------------------------------------------------------- suite */

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *plugins_suite(void)
{
	Suite *s = suite_create("plugins");
	TCase *tc;

	tc = tcase_create("source-file");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, source_reads_pcap_us);
	tcase_add_test(tc, source_reads_pcap_ns);
	tcase_add_test(tc, source_info);
	tcase_add_test(tc, source_big_endian_and_edges);
	tcase_add_test(tc, source_pcapng_nanoseconds);
	tcase_add_loop_test(tc, source_refusals, 0, N(refused_sources));
	tcase_add_test(tc, source_truncated_file);
	tcase_add_test(tc, source_absurd_record_length);
	suite_add_tcase(s, tc);

	tc = tcase_create("filter-bpf");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bpf_match_known_packets);
	tcase_add_test(tc, bpf_per_linktype);
	tcase_add_loop_test(tc, bpf_compile_errors, 0, N(bad_bpf));
	tcase_add_test(tc, bpf_misc);
	suite_add_tcase(s, tc);

	tc = tcase_create("format-pcap");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, format_pcap_exact_bytes);
	tcase_add_test(tc, format_pcap_refusals);
	tcase_add_test(tc, format_pcap_add_interfaces);
	tcase_add_test(tc, format_pcap_sink_failure);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(plugins_suite());
	int failed;

	srunner_add_suite(sr, pipeline_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
