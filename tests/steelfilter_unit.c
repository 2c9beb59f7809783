/* Unit tests of the SteelFilter parser, lowering and evaluator: accepted
 * and refused syntax, what fields match on hand-built frames, and the
 * evaluator against libpcap's code for the generated BPF on many random
 * frames, cut short or not, on every link type the evaluator knows. */
#include <check.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "steelfilter.h"

static sf_expr *compile_ok(const char *text)
{
	char err[512] = "";
	sf_expr *e = NULL;
	int r = sf_compile(text, &e, err, sizeof(err));

	ck_assert_msg(r == 0, "'%s' refused: %s", text, err);
	return e;
}

/* The error for `text`, which must be refused. */
static const char *compile_err(const char *text)
{
	static char err[512];
	sf_expr *e = NULL;

	err[0] = '\0';
	ck_assert_msg(sf_compile(text, &e, err, sizeof(err)) == -1,
	              "'%s' accepted", text);
	ck_assert_ptr_null(e);
	ck_assert_msg(err[0], "'%s': empty error", text);
	return err;
}

/* ------------------------------------------------------- frame builder */

typedef struct frame {
	uint8_t b[256];
	size_t len;
} frame;

static void put(frame *f, const void *p, size_t n)
{
	ck_assert_uint_le(f->len + n, sizeof(f->b));
	memcpy(f->b + f->len, p, n);
	f->len += n;
}

static void put16(frame *f, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(f, b, 2);
}

/* Ethernet with the given tags (0 ends the list), IPv4 src -> dst with a
 * TCP or UDP header. */
static frame eth_ip4(const unsigned *tpids, const char *src, const char *dst,
                     unsigned proto, unsigned sport, unsigned dport,
                     unsigned flags)
{
	static const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
	frame f = {.len = 0};
	uint8_t ip[20] = {0x45, 0, 0, 40, 0, 1, 0, 0, 64, (uint8_t)proto};
	uint8_t l4[20] = {0};
	unsigned a[4];

	put(&f, macs, sizeof(macs));
	for (; tpids && *tpids; tpids++) {
		put16(&f, *tpids);
		put16(&f, 5);
	}
	put16(&f, 0x0800);
	sscanf(src, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
	for (int i = 0; i < 4; i++)
		ip[12 + i] = (uint8_t)a[i];
	sscanf(dst, "%u.%u.%u.%u", &a[0], &a[1], &a[2], &a[3]);
	for (int i = 0; i < 4; i++)
		ip[16 + i] = (uint8_t)a[i];
	put(&f, ip, sizeof(ip));
	l4[0] = (uint8_t)(sport >> 8);
	l4[1] = (uint8_t)sport;
	l4[2] = (uint8_t)(dport >> 8);
	l4[3] = (uint8_t)dport;
	l4[12] = 0x50;
	l4[13] = (uint8_t)flags;
	put(&f, l4, proto == 6 ? 20 : 8);
	while (f.len < 60)
		put16(&f, 0);
	return f;
}

static int matches(const char *text, const frame *f)
{
	sf_expr *e = compile_ok(text);
	int r = sf_eval(e, SF_LINKTYPE_ETHERNET, f->b, (uint32_t)f->len,
	                (uint32_t)f->len);

	sf_free(e);
	return r;
}

/* ---------------------------------------------------------------- tests */

static const char *const examples[] = {
    "tcp.port==80",
    "ip.addr==10.38.7.22 && ip.addr==10.38.7.25",
    "ip.addr == \"10.0.0.1\"",
    "tcp.ip=='10.1.1.1'",
    "(ip.addr==10.0.0.1) and (tcp.port==443)",
    "ip.addr IN ('10.0.0.1','10.0.0.2')",
    "ip.addr==10.0.0.0/8",
    "udp.port==53 OR tcp.port==53",
    "not tcp.port==80",
    "frame.len > 1000",
};

START_TEST(test_examples_compile_to_bpf)
{
	pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
	size_t i;

	for (i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		sf_expr *e = compile_ok(examples[i]);
		const char *bpf = sf_bpf_for(e, SF_LINKTYPE_ETHERNET);
		struct bpf_program prog;

		ck_assert_ptr_nonnull(bpf);
		ck_assert_msg(pcap_compile(dead, &prog, bpf, 0, 0) == 0,
		              "%s -> %s: %s", examples[i], bpf,
		              pcap_geterr(dead));
		pcap_freecode(&prog);
		sf_free(e);
	}
	pcap_close(dead);
}
END_TEST

START_TEST(test_tags_are_skipped)
{
	static const unsigned one[] = {0x8100, 0}, two[] = {0x88a8, 0x8100, 0},
	                      three[] = {0x88a8, 0x8100, 0x8100, 0};
	frame u = eth_ip4(NULL, "10.0.0.1", "10.0.0.2", 6, 1234, 80, 2);
	frame t1 = eth_ip4(one, "10.0.0.1", "10.0.0.2", 6, 1234, 80, 2);
	frame t2 = eth_ip4(two, "10.0.0.1", "10.0.0.2", 6, 1234, 80, 2);
	frame t3 = eth_ip4(three, "10.0.0.1", "10.0.0.2", 6, 1234, 80, 2);

	ck_assert_int_eq(matches("tcp.port==80", &u), 1);
	ck_assert_int_eq(matches("tcp.port==80", &t1), 1);
	ck_assert_int_eq(matches("tcp.port==80", &t2), 1);
	/* Two tags at most: behind a third the network header is unknown. */
	ck_assert_int_eq(matches("tcp.port==80", &t3), 0);
	ck_assert_int_eq(matches("not tcp.port==80", &t1), 0);
	ck_assert_int_eq(matches("not tcp.port==80", &t2), 0);
	ck_assert_int_eq(matches("not tcp.port==443", &t2), 1);
	ck_assert_int_eq(matches("vlan.id==5", &u), 0);
	ck_assert_int_eq(matches("vlan.id==5", &t2), 1);
	ck_assert_int_eq(matches("vlan.id!=5", &t1), 0);
	ck_assert_int_eq(matches("vlan.id!=5", &u), 1);
	ck_assert_int_eq(matches("vlan.id > 4", &t1), 1);
}
END_TEST

START_TEST(test_fields)
{
	frame f =
	    eth_ip4(NULL, "10.38.7.22", "10.38.7.25", 6, 40000, 443, 0x12);
	frame d = eth_ip4(NULL, "10.0.0.9", "8.8.8.8", 17, 5353, 53, 0);

	ck_assert_int_eq(
	    matches("ip.addr==10.38.7.22 && ip.addr==10.38.7.25", &f), 1);
	ck_assert_int_eq(matches("ip.src==10.38.7.25", &f), 0);
	ck_assert_int_eq(matches("ip.dst==10.38.7.25", &f), 1);
	ck_assert_int_eq(matches("ip.addr==10.38.0.0/16", &f), 1);
	ck_assert_int_eq(matches("ip.addr==10.39.0.0/16", &f), 0);
	ck_assert_int_eq(matches("ip.addr in (1.1.1.1, '10.38.7.25')", &f), 1);
	ck_assert_int_eq(matches("tcp.ip=='10.38.7.22'", &f), 1);
	ck_assert_int_eq(matches("tcp.ip=='10.0.0.9'", &d), 0);
	ck_assert_int_eq(matches("udp.port==53 OR tcp.port==53", &d), 1);
	ck_assert_int_eq(matches("udp.srcport==53", &d), 0);
	ck_assert_int_eq(matches("udp.dstport<=53", &d), 1);
	ck_assert_int_eq(matches("tcp.port >= 40000", &f), 1);
	ck_assert_int_eq(matches("tcp.port > 40000", &f), 0);
	ck_assert_int_eq(matches("tcp.flags == 0x12", &f), 1);
	ck_assert_int_eq(matches("tcp.flags == 2", &f), 0);
	ck_assert_int_eq(matches("ip.proto == 17", &d), 1);
	ck_assert_int_eq(matches("ip.proto != 17", &d), 0);
	ck_assert_int_eq(matches("frame.len > 1000", &d), 0);
	ck_assert_int_eq(matches("frame.len >= 60", &d), 1);
	ck_assert_int_eq(matches("eth.src == 02:00:00:00:00:01", &d), 1);
	ck_assert_int_eq(matches("eth.dst == 02-00-00-00-00-01", &d), 0);
	ck_assert_int_eq(matches("eth.addr == 2:0:0:0:0:2", &d), 1);
	ck_assert_int_eq(matches("ipv6.addr == 2001:db8::1", &d), 0);
	ck_assert_int_eq(matches("NOT ipv6.addr == 2001:db8::1", &d), 1);
}
END_TEST

START_TEST(test_syntax)
{
	sf_expr *e;

	/* Keywords in any case, C-style operators, both quotes, '='. */
	sf_free(compile_ok("tcp.port=80 AnD NoT (udp.port==53 Or "
	                   "ip.addr=\"10.0.0.1\") || !tcp.flags=2 && "
	                   "ip.src IN ('1.2.3.4', 5.6.7.8)"));
	sf_free(compile_ok("  ( ( ip.addr==10.0.0.1 ) )  "));
	sf_free(compile_ok("ip.addr == 2001:db8::1/64"));
	sf_free(compile_ok("TCP.PORT == 0x50"));
	/* A comparison nothing satisfies matches nothing, without BPF. */
	e = compile_ok("tcp.port < 0");
	ck_assert_ptr_null(sf_bpf_for(e, SF_LINKTYPE_ETHERNET));
	ck_assert_int_eq(sf_eval(e, SF_LINKTYPE_ETHERNET,
	                         (const uint8_t *)"0123456789abcdef", 16, 16),
	                 0);
	sf_free(e);
}
END_TEST

START_TEST(test_errors)
{
	static const struct {
		const char *text, *want1, *want2;
	} cases[] = {
	    {"", "empty", "empty"},
	    {"tcp.port==", "position 11", "end of the expression"},
	    {"tcp.port 80", "position 10", "\"80\""},
	    {"tcp.port==80 &", "position 14", "\"&\""},
	    {"tcp.port==80 and", "position 17", "end of the expression"},
	    {"(tcp.port==80", "position 14", "\")\""},
	    {"tcp.port==80)", "position 13", "\")\""},
	    {"ip.addr=='10.0.0.1", "position 10", "not closed"},
	    {"ip.addr==10.0.0.256", "position 10", "\"10.0.0.256\""},
	    {"ip.addr==10.0.0.0/33", "position 10", "IPv4"},
	    {"ipv6.addr==10.0.0.1", "position 12", "IPv6"},
	    {"tcp.ip==2001:db8::1", "position 9", "IPv4"},
	    {"eth.src==02:00:00:00:00", "position 10", "MAC"},
	    {"vlan.id==4096", "position 10", "4095"},
	    {"tcp.port==-1", "position 11", "\"-1\""},
	    {"ip.addr < 10.0.0.1", "position 9", "\"<\""},
	    {"ip.addr in 10.0.0.1", "position 12", "\"(\" after IN"},
	    {"ip.addr in ()", "position 13", "\")\""},
	    {"ip.addr in (10.0.0.1 10.0.0.2)", "position 22", "\",\""},
	    {"app.name == 'web'", "\"app.name\"", "analytics"},
	    {"host_group.id == 7", "\"host_group.id\"", "analytics"},
	    {"tcp.portt == 1", "unknown field", "\"tcp.portt\""},
	    {"== 80", "position 1", "\"==\""},
	    {"tcp.port == and", "position 13", "\"and\""},
	    {"tcp.port == 80 # x", "position 16", "\"#\""},
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = compile_err(cases[i].text);

		ck_assert_msg(strstr(err, cases[i].want1) &&
		                  strstr(err, cases[i].want2),
		              "'%s': %s", cases[i].text, err);
	}
}
END_TEST

START_TEST(test_limits)
{
	char *deep = malloc(2 * SF_DEPTH_MAX + 64);
	char *longtext = malloc(SF_TEXT_MAX + 2);
	size_t n = 0;
	int i;

	for (i = 0; i < SF_DEPTH_MAX + 1; i++)
		deep[n++] = '(';
	strcpy(deep + n, "tcp.port==80");
	ck_assert_ptr_nonnull(strstr(compile_err(deep), "too deeply"));
	memset(deep, '!', SF_DEPTH_MAX + 1);
	strcpy(deep + SF_DEPTH_MAX + 1, "tcp.port==80");
	ck_assert_ptr_nonnull(strstr(compile_err(deep), "too deeply"));
	memset(longtext, ' ', SF_TEXT_MAX + 1);
	longtext[SF_TEXT_MAX + 1] = '\0';
	ck_assert_ptr_nonnull(strstr(compile_err(longtext), "longer"));
	free(deep);
	free(longtext);
}
END_TEST

/* ------------------------------------------- evaluator against libpcap */

static uint32_t rnd_state = 12345;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state % n;
}

static void put_pick(frame *f, const uint8_t (*set)[16], size_t n, size_t len)
{
	put(f, set[rnd((uint32_t)n)], len);
}

/* A random frame of the given link type from small value sets, so the
 * expressions below hit it often. */
static frame random_frame(uint32_t linktype)
{
	static const uint8_t addrs[][16] = {
	    {10, 0, 0, 1},
	    {10, 38, 7, 22},
	    {10, 38, 7, 25},
	    {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
	    {0x20, 0x01, 0x0d, 0xb8, 0x80, [15] = 1},
	    {2, 0, 0, 0, 0, 1},
	};
	static const unsigned tpids[] = {0x8100, 0x88a8, 0x9100};
	static const unsigned ports[] = {53, 80, 443, 1000, 65535, 0};
	frame f = {.len = 0};
	unsigned kind = rnd(8), ihl = rnd(5) ? 5 : rnd(16), i, ntags;
	unsigned et = kind < 4 ? 0x0800 : kind < 7 ? 0x86dd : 0x0806;
	unsigned proto = rnd(3) ? (rnd(2) ? 6 : 17) : 44;

	if (linktype == SF_LINKTYPE_ETHERNET) {
		put_pick(&f, addrs + 3, 3, 6);
		put_pick(&f, addrs + 3, 3, 6);
		for (ntags = rnd(5), i = 0; i < ntags && i < 3; i++) {
			put16(&f, tpids[rnd(3)]);
			put16(&f, rnd(3) ? 5 : 4095);
		}
		put16(&f, et);
	} else if (linktype == SF_LINKTYPE_LINUX_SLL) {
		put(&f, "\0\0\0\1\0\6abcdef\0\0", 14);
		put16(&f, et);
	}
	if (et == 0x0800) {
		uint8_t ip[20] = {(uint8_t)(0x40 | ihl),
		                  0,
		                  0,
		                  60,
		                  0,
		                  1,
		                  rnd(4) ? 0 : 0x20,
		                  rnd(4) ? 0 : 8,
		                  64,
		                  (uint8_t)proto};

		put(&f, ip, 12);
		put_pick(&f, addrs, 3, 4);
		put_pick(&f, addrs, 3, 4);
	} else if (et == 0x86dd) {
		uint8_t ip6[8] = {0x60, 0, 0, 0, 0, 40, (uint8_t)proto, 64};

		put(&f, ip6, 8);
		put_pick(&f, addrs + 3, 2, 16);
		put_pick(&f, addrs + 3, 2, 16);
	} else {
		put(&f, "\x45\0\0\x1c\0\1\0\0", 8);
	}
	put16(&f, ports[rnd(6)]);
	put16(&f, ports[rnd(6)]);
	for (i = rnd(40) + 9; i > 0; i--)
		put16(&f, (unsigned)rnd(4) ? 0x5012 : rnd(65536));
	return f;
}

static const char *const agreeing[] = {
    "tcp.port==80",
    "not tcp.port==80",
    "ip.addr==10.38.7.22 && ip.addr==10.38.7.25",
    "ip.addr==10.0.0.0/8 or ipv6.addr == 2001:db8::/33",
    "ipv6.src == 2001:db8::1 and not ipv6.dst == 2001:db8:8000::/36",
    "tcp.ip == 10.0.0.1 || udp.port in (53, 443)",
    "tcp.srcport < 443 and tcp.dstport >= 443",
    "udp.srcport > 53 or not udp.dstport <= 1000",
    "vlan.id == 5 and not vlan.id == 4095",
    "vlan.id != 5 or ip.proto > 6",
    "tcp.flags == 0x12 or tcp.flags < 0x10",
    "eth.src == 02:00:00:00:00:01 or eth.dst != 2:0:0:0:0:1",
    "frame.len > 40 and not eth.addr == 02:00:00:00:00:01",
    "ip.proto == 44 or ip.src == 0.0.0.0/0",
    "ipv6.addr == ::/0 and !(ip.dst == 10.38.7.25/31)",
    "not (tcp.port == 80 or (udp.port == 53 and vlan.id == 5))",
};

/* The evaluator against libpcap's unoptimized code on every frame, and
 * against its optimized code on frames long enough that no load can fail
 * (what the plugin runs: 96 bytes, see filter_steelfilter.c). */
static void agree_on(uint32_t linktype, int dlt)
{
	pcap_t *dead = pcap_open_dead(dlt, 65535);
	size_t i;
	int n, hits = 0;

	for (i = 0; i < sizeof(agreeing) / sizeof(agreeing[0]); i++) {
		sf_expr *e = compile_ok(agreeing[i]);
		const char *bpf = sf_bpf_for(e, linktype);
		struct bpf_program exact, fast;

		if (!bpf) {
			sf_free(e);
			continue;
		}
		ck_assert_msg(pcap_compile(dead, &exact, bpf, 0, 0) == 0 &&
		                  pcap_compile(dead, &fast, bpf, 1, 0) == 0,
		              "%s: %s", bpf, pcap_geterr(dead));
		for (n = 0; n < 3000; n++) {
			frame f = random_frame(linktype);
			uint32_t cap =
			    rnd(3) ? (uint32_t)f.len : rnd((uint32_t)f.len + 1);
			int want = bpf_filter(exact.bf_insns, f.b,
			                      (uint32_t)f.len, cap) != 0;
			int got =
			    sf_eval(e, linktype, f.b, cap, (uint32_t)f.len);

			ck_assert_msg(got == want,
			              "'%s' on link type %u, frame %d (caplen "
			              "%u of %zu): evaluator %d, BPF %d",
			              agreeing[i], linktype, n, cap, f.len, got,
			              want);
			if (cap >= 96)
				ck_assert_int_eq(bpf_filter(fast.bf_insns, f.b,
				                            (uint32_t)f.len,
				                            cap) != 0,
				                 want);
			hits += want;
		}
		pcap_freecode(&exact);
		pcap_freecode(&fast);
		sf_free(e);
	}
	ck_assert_int_gt(hits, 1000);
	pcap_close(dead);
}

START_TEST(test_evaluator_agrees_ethernet)
{
	agree_on(SF_LINKTYPE_ETHERNET, DLT_EN10MB);
}
END_TEST

START_TEST(test_evaluator_agrees_raw)
{
	agree_on(SF_LINKTYPE_RAW, DLT_RAW);
}
END_TEST

START_TEST(test_evaluator_agrees_sll)
{
	agree_on(SF_LINKTYPE_LINUX_SLL, DLT_LINUX_SLL);
}
END_TEST

static Suite *steelfilter_suite(void)
{
	Suite *s = suite_create("steelfilter");
	TCase *tc = tcase_create("parser");

	tcase_add_test(tc, test_examples_compile_to_bpf);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_limits);
	suite_add_tcase(s, tc);
	tc = tcase_create("semantics");
	tcase_add_test(tc, test_tags_are_skipped);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_evaluator_agrees_ethernet);
	tcase_add_test(tc, test_evaluator_agrees_raw);
	tcase_add_test(tc, test_evaluator_agrees_sll);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(steelfilter_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
