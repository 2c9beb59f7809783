/* pktexport-wireshark-helper: dissects packets with libwireshark for the
 * filter-wireshark plugin, one at a time and in order, the way
 * `tshark -r FILE -Y FILTER` does in its single pass, and says which match.
 * It runs as its own process so a dissector that crashes or hangs costs
 * one export, not the service. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <epan/dfilter/dfilter.h>
#include <epan/epan.h>
#include <epan/epan_dissect.h>
#include <epan/frame_data.h>
#include <epan/packet.h>
#include <epan/prefs.h>
#include <epan/proto.h>
#include <epan/tvbuff.h>
#include <wiretap/wtap.h>
#include <wsutil/filesystem.h>
#include <wsutil/privileges.h>
#include <wsutil/report_message.h>
#if __has_include(<wsutil/wslog.h>)
#include <wsutil/wslog.h>
#define WS_HAVE_WSLOG 1
#endif

#include "ws_protocol.h"
#include "ws_tvb.h"

/* What epan asks the application about frames other than the current one.
 * Only these three are ever asked for in a single pass. */
struct packet_provider_data {
	wtap *wth;
	const frame_data *ref;
	const frame_data *prev_dis;
	const frame_data *prev_cap;
};

typedef struct helper {
	struct packet_provider_data prov;
	wsp_shared *shared;
	epan_t *epan;
	epan_dissect_t *edt;
	dfilter_t *dfcode;
	int file_type;
	wtap_rec rec;
	Buffer buf;
	frame_data ref_frame, prev_dis_frame, prev_cap_frame;
	nstime_t elapsed;
	guint32 cum_bytes;
	guint32 fault_frame; /* tests: misbehave on this frame */
	int fault_hang;
	char report[WSP_TEXT_MAX]; /* last message libwireshark reported */
} helper;

static helper hp;

/* Application protocols whose dissectors, reached through a TCP or UDP
 * port, never decode a packet carried inside (no second IP, TCP or UDP
 * layer comes out of them).  A segment on a port Wireshark gives to any
 * other dissector is never skipped by the plugin's pre-filter: a protocol
 * missing here costs speed, never an answer. */
static const char *const ws_leaves[] = {
    "9p",       "acap",      "agentx",      "ajp13",      "amqp",
    "bfd",      "bfd_echo",  "bgp",         "bittorrent", "bjnp",
    "bzr",      "cast",      "cldap",       "coap",       "collectd",
    "cops",     "couchbase", "cql",         "cups",       "cvspserver",
    "daytime",  "db-lsp",    "db-lsp-disc", "dhcp",       "dhcpfo",
    "dhcpv6",   "diameter",  "dicom",       "distcc",     "dnp3",
    "dns",      "dtls",      "echo",        "edonkey",    "elasticsearch",
    "enip",     "epmd",      "exec",        "finger",     "ftp",
    "ftp-data", "gadu-gadu", "gearman",     "git",        "glbp",
    "gnutella", "gopher",    "h225",        "h248",       "hiqnet",
    "hl7",      "hsrp",      "http",        "iax2",       "icap",
    "icp",      "icq",       "imap",        "irc",        "isakmp",
    "isns",     "jdwp",      "kafka",       "kerberos",   "kpasswd",
    "ldap",     "ldp",       "llmnr",       "lpd",        "mbtcp",
    "mbudp",    "mdns",      "megaco",      "memcache",   "mgcp",
    "mqtt",     "msrp",      "mysql",       "nbdgm",      "nbns",
    "nbss",     "ndmp",      "nntp",        "ntp",        "opcua",
    "pcep",     "pgsql",     "pop",         "ptp",        "radius",
    "resp",     "rip",       "ripng",       "rlogin",     "rmi",
    "rpc",      "rsh",       "rsync",       "rtsp",       "sip",
    "skinny",   "slsk",      "smtp",        "snmp",       "ssdp",
    "ssh",      "syslog",    "tacacs",      "tacplus",    "tds",
    "telnet",   "tftp",      "time",        "tls",        "tns",
    "vnc",      "whois",     "x11",         "xdmcp",      "xmpp",
    "z3950",    "zebra",     NULL,
};

static void ws_vreport(const char *fmt, va_list ap)
{
	vsnprintf(hp.report, sizeof(hp.report), fmt, ap);
}

static void ws_open_failure(const char *name, int err, gboolean for_writing)
{
	snprintf(hp.report, sizeof(hp.report), "cannot open %s for %s: %s",
	         name, for_writing ? "writing" : "reading", g_strerror(err));
}

static void ws_rw_failure(const char *name, int err)
{
	snprintf(hp.report, sizeof(hp.report), "%s: %s", name, g_strerror(err));
}

static void ws_cfile_failure(const char *name, int err, gchar *info)
{
	snprintf(hp.report, sizeof(hp.report), "%s: %s%s%s", name,
	         wtap_strerror(err), info ? ": " : "", info ? info : "");
}

static void ws_dump_failure(const char *name, int err, gchar *info, int t)
{
	(void)t;
	ws_cfile_failure(name, err, info);
}

static void ws_write_failure(const char *in, const char *out, int err,
                             gchar *info, guint32 num, int t)
{
	(void)in;
	(void)num;
	(void)t;
	ws_cfile_failure(out, err, info);
}

#ifdef WS_HAVE_WSLOG
static void ws_log_setup_error(const char *fmt, va_list ap)
{
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}
#endif

static const struct report_message_routines ws_report_routines = {
    ws_vreport,       ws_vreport,       ws_open_failure, ws_rw_failure,
    ws_rw_failure,    ws_cfile_failure, ws_dump_failure, ws_cfile_failure,
    ws_write_failure, ws_cfile_failure,
};

/* ------------------------------------------------------------- wire I/O */

static int ws_read_all(void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t r = read(WSP_FD_CONTROL, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int ws_write_all(const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t r = write(WSP_FD_CONTROL, p, len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

static int ws_answer(uint32_t status, const char *text)
{
	wsp_answer a = {.status = status, .len = (uint32_t)strlen(text)};

	if (a.len > WSP_TEXT_MAX)
		a.len = WSP_TEXT_MAX;
	if (ws_write_all(&a, sizeof(a)) != 0)
		return -1;
	return ws_write_all(text, a.len);
}

/* ---------------------------------------------------------------- setup */

static const nstime_t *ws_frame_ts(struct packet_provider_data *prov,
                                   guint32 num)
{
	if (prov->ref && prov->ref->num == num)
		return &prov->ref->abs_ts;
	if (prov->prev_dis && prov->prev_dis->num == num)
		return &prov->prev_dis->abs_ts;
	if (prov->prev_cap && prov->prev_cap->num == num)
		return &prov->prev_cap->abs_ts;
	return NULL;
}

static const char *ws_interface_name(struct packet_provider_data *prov,
                                     guint32 id)
{
	wtapng_iface_descriptions_t *idb = wtap_file_get_idb_info(prov->wth);
	const char *name = NULL;

	if (idb && id < idb->interface_data->len) {
		wtap_block_t b =
		    g_array_index(idb->interface_data, wtap_block_t, id);
		char *s;

		if (wtap_block_get_string_option_value(b, OPT_IDB_NAME, &s) ==
		    WTAP_OPTTYPE_SUCCESS)
			name = s;
	}
	g_free(idb);
	return name ? name : "unknown";
}

static const char *ws_interface_descr(struct packet_provider_data *prov,
                                      guint32 id)
{
	wtapng_iface_descriptions_t *idb = wtap_file_get_idb_info(prov->wth);
	const char *descr = NULL;

	if (idb && id < idb->interface_data->len) {
		wtap_block_t b =
		    g_array_index(idb->interface_data, wtap_block_t, id);
		char *s;

		if (wtap_block_get_string_option_value(
		        b, OPT_IDB_DESCRIPTION, &s) == WTAP_OPTTYPE_SUCCESS)
			descr = s;
	}
	g_free(idb);
	return descr;
}

static void ws_note_carrier(const gchar *table, ftenum_t type, gpointer key,
                            gpointer value, gpointer user_data)
{
	dissector_handle_t h = dtbl_entry_get_handle((dtbl_entry_t *)value);
	guint port = GPOINTER_TO_UINT(key);
	uint8_t *bits = user_data;
	int proto;
	const char *name;
	size_t i;

	(void)table;
	(void)type;
	if (!h || port > 65535)
		return;
	proto = dissector_handle_get_protocol_index(h);
	name = proto >= 0 ? proto_get_protocol_filter_name(proto) : NULL;
	for (i = 0; name && ws_leaves[i]; i++)
		if (strcmp(name, ws_leaves[i]) == 0)
			return;
	bits[port / 8] |= (uint8_t)(1u << (port % 8));
}

/* Dissect nothing past the frame layer: for a filter that reads only
 * frame fields, the rest of the tree cannot change its answer. */
static void ws_frame_only(void)
{
	void *cookie = NULL;
	int frame = proto_get_id_by_filter_name("frame");
	int id;

	for (id = proto_get_first_protocol(&cookie); id != -1;
	     id = proto_get_next_protocol(&cookie))
		if (id != frame && proto_can_toggle_protocol(id) &&
		    !proto_is_pino(find_protocol_by_id(id)))
			proto_set_decoding(id, FALSE);
}

static uint64_t ws_config_stamp(void);
static uint64_t ws_stamp; /* the settings as start-up found them */

static int ws_init_epan(const char *argv0)
{
	char *why;

	/* The order is tshark's, so preferences, plugins and decode-as
	 * settings are those `tshark -r` uses. */
#ifdef WS_HAVE_WSLOG
	/* As tshark does first.  Without it libwireshark's log level is
	 * "everything": each debug message of wiretap and the dissectors is
	 * formatted and written to a stderr that is /dev/null (eight per
	 * packet read from a pcapng stream, which made it several times
	 * slower).  WIRESHARK_LOG_LEVEL and friends count as for tshark. */
	ws_log_init("pktexport-wireshark-helper", ws_log_setup_error);
#endif
	init_process_policies();
	why = configuration_init(argv0, NULL);
	g_free(why);
	/* Stamped before anything is read: a file changed while we start
	 * counts as a change. */
	ws_stamp = ws_config_stamp();
	init_report_message("pktexport-wireshark-helper", &ws_report_routines);
	wtap_init(TRUE);
	if (!epan_init(NULL, NULL, TRUE))
		return -1;
	epan_load_settings();
	prefs_apply_all();
	return 0;
}

/* The dissection session of one filter, on a started libwireshark. */
static int ws_open_session(void)
{
	static const struct packet_provider_funcs funcs = {
	    ws_frame_ts,
	    ws_interface_name,
	    ws_interface_descr,
	    NULL,
	};

	hp.shared = mmap(NULL, sizeof(wsp_shared), PROT_READ | PROT_WRITE,
	                 MAP_SHARED, WSP_FD_SHARED, 0);
	if (hp.shared == MAP_FAILED)
		return -1;
	hp.epan = epan_new(&hp.prov, &funcs);
	return hp.epan ? 0 : -1;
}

/* 0, or WSP_BAD_INPUT / WSP_FAILED with hp.report set. */
static int ws_open_records(uint32_t flags)
{
	char path[64];
	gchar *info = NULL;
	unsigned type;
	int err = 0;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", WSP_FD_RECORDS);
	type = open_info_name_to_type((flags & WSP_PCAPNG) ? "pcapng" : "pcap");
	hp.prov.wth = wtap_open_offline(path, type, &err, &info, FALSE);
	if (!hp.prov.wth) {
		snprintf(hp.report, sizeof(hp.report),
		         "Wireshark cannot dissect these packets: %s%s%s",
		         wtap_strerror(err), info ? ": " : "",
		         info ? info : "");
		g_free(info);
		/* Link types wiretap does not know: tshark refuses the file. */
		return err == WTAP_ERR_UNSUPPORTED ? WSP_BAD_INPUT : WSP_FAILED;
	}
	hp.file_type = wtap_file_type_subtype(hp.prov.wth);
	return 0;
}

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

/* Start-up touches the registration code of every dissector once and
 * leaves freed heap behind.  Give both back: the code pages dissection
 * needs come back from the page cache on their own. */
static void ws_shed_startup_memory(void)
{
	FILE *maps = fopen("/proc/self/maps", "r");
	char line[512];

	malloc_trim(0);
	if (!maps)
		return;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi;
		char perms[8];
		int path = 0;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perms,
		           &path) < 3 ||
		    !path || line[path] != '/')
			continue;
		/* Clean, read-only file pages only: never private writes. */
		if (perms[1] == '-' && perms[3] == 'p')
			madvise((void *)lo, hi - lo, MADV_PAGEOUT);
	}
	fclose(maps);
}

/* COMPILE: compile, open the stream, answer with the carrier ports. */
static int ws_compile(uint32_t len)
{
	static uint8_t bits[2][WSP_PORT_BITMAP];
	wsp_compile c;
	char *text, *msg = NULL;
	int r;

	if (len < sizeof(c) || len - sizeof(c) > 1u << 20 ||
	    ws_read_all(&c, sizeof(c)) != 0 || c.text_len != len - sizeof(c))
		return -1;
	text = g_malloc(c.text_len + 1);
	if (ws_read_all(text, c.text_len) != 0) {
		g_free(text);
		return -1;
	}
	text[c.text_len] = '\0';
	if (!dfilter_compile(text, &hp.dfcode, &msg)) {
		r = ws_answer(WSP_BAD_FILTER,
		              msg ? msg : "invalid display filter");
		g_free(msg);
		g_free(text);
		return r;
	}
	g_free(text);
	if (c.flags & WSP_FRAME_ONLY)
		ws_frame_only();
	if ((r = ws_open_records(c.flags)) != 0)
		return ws_answer((uint32_t)r, hp.report);
	/* A single pass builds the tree only where the filter needs it. */
	hp.edt = epan_dissect_new(hp.epan, TRUE, FALSE);
	memset(bits, 0, sizeof(bits));
	dissector_table_foreach("tcp.port", ws_note_carrier, bits[0]);
	dissector_table_foreach("udp.port", ws_note_carrier, bits[1]);
	ws_shed_startup_memory();
	if (ws_answer(WSP_OK, "") != 0)
		return -1;
	return ws_write_all(bits, sizeof(bits));
}

static void ws_fake_frame(frame_data *fd, guint32 num, uint64_t ns)
{
	memset(fd, 0, sizeof(*fd));
	fd->num = num;
	fd->abs_ts.secs = (time_t)(ns / 1000000000u);
	fd->abs_ts.nsecs = (int)(ns % 1000000000u);
}

/* STATE: pick up the frame history of the helper this one replaces. */
static int ws_state(uint32_t len)
{
	wsp_state s;

	if (len != sizeof(s) || ws_read_all(&s, sizeof(s)) != 0)
		return -1;
	hp.prov.ref = hp.prov.prev_cap = hp.prov.prev_dis = NULL;
	if (s.ref_num) {
		ws_fake_frame(&hp.ref_frame, s.ref_num, s.ref_ns);
		hp.prov.ref = &hp.ref_frame;
	}
	if (s.prev_cap_num) {
		ws_fake_frame(&hp.prev_cap_frame, s.prev_cap_num,
		              s.prev_cap_ns);
		hp.prov.prev_cap = &hp.prev_cap_frame;
	}
	if (s.prev_dis_num) {
		ws_fake_frame(&hp.prev_dis_frame, s.prev_dis_num,
		              s.prev_dis_ns);
		hp.prov.prev_dis = &hp.prev_dis_frame;
	}
	hp.cum_bytes = s.cum_bytes;
	return 0;
}

/* Reads the next record and runs the filter on it, as tshark's single
 * pass does: same frame bookkeeping, same priming, no columns.  1 or 0,
 * or -1 when wiretap cannot read it (hp.report says why). */
static int ws_packet(guint32 num)
{
	frame_data fd;
	gint64 offset;
	gchar *info = NULL;
	gboolean passed;
	tvbuff_t *tvb;
	int err = 0;

	wtap_cleareof(hp.prov.wth);
	if (!wtap_read(hp.prov.wth, &hp.rec, &hp.buf, &err, &info, &offset)) {
		snprintf(hp.report, sizeof(hp.report),
		         "Wireshark could not read packet %u: %s%s%s", num,
		         err ? wtap_strerror(err) : "no record",
		         info ? ": " : "", info ? info : "");
		g_free(info);
		return -1;
	}
	if (num == hp.fault_frame) {
		if (hp.fault_hang) {
			/* Seen with PKTEXPORT_WIRESHARK_DEBUG: tests wait for
			 * it rather than for time to pass. */
			fprintf(stderr, "test fault: hanging at frame %u\n",
			        num);
			fflush(stderr);
			for (;;)
				pause();
		}
		raise(SIGSEGV);
	}
	frame_data_init(&fd, num, &hp.rec, offset, hp.cum_bytes);
	if (hp.dfcode)
		epan_dissect_prime_with_dfilter(hp.edt, hp.dfcode);
	prime_epan_dissect_with_postdissector_wanted_hfids(hp.edt);
	frame_data_set_before_dissect(&fd, &hp.elapsed, &hp.prov.ref,
	                              hp.prov.prev_dis);
	if (hp.prov.ref == &fd) {
		hp.ref_frame = fd;
		hp.prov.ref = &hp.ref_frame;
	}
	tvb = ws_frame_tvb_new(ws_buffer_start_ptr(&hp.buf), fd.cap_len,
	                       fd.pkt_len > G_MAXINT ? G_MAXINT
	                                             : (gint)fd.pkt_len);
	epan_dissect_run_with_taps(hp.edt, hp.file_type, &hp.rec, tvb, &fd,
	                           NULL);
	/* An all-blank filter compiles to nothing and passes everything, as
	 * `tshark -Y ""` does. */
	passed = hp.dfcode ? dfilter_apply_edt(hp.dfcode, hp.edt) : TRUE;
	if (passed) {
		frame_data_set_after_dissect(&fd, &hp.cum_bytes);
		hp.prev_dis_frame = fd;
		hp.prov.prev_dis = &hp.prev_dis_frame;
	}
	hp.prev_cap_frame = fd;
	hp.prov.prev_cap = &hp.prev_cap_frame;
	epan_dissect_reset(hp.edt);
	frame_data_destroy(&fd);
	wtap_rec_reset(&hp.rec);
	return passed ? 1 : 0;
}

/* BATCH: n records, in order, each verdict published as soon as known
 * in the slot the request names. */
static int ws_batch(uint32_t arg)
{
	uint32_t n = arg & ((1u << WSP_SLOT_SHIFT) - 1u);
	uint32_t s = arg >> WSP_SLOT_SHIFT;
	wsp_slot *sh;
	uint8_t answer = WSP_YES;
	uint32_t i;

	if (n == 0 || n > WSP_BATCH_MAX || s >= WSP_SLOTS)
		return -1;
	sh = &hp.shared->slot[s];
	__atomic_store_n(&sh->done, 0, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++) {
		int v = ws_packet(sh->frames[i]);

		if (v < 0) {
			answer = WSP_ERROR;
			if (ws_write_all(&answer, 1) != 0)
				return -1;
			return ws_answer(WSP_FAILED, hp.report);
		}
		sh->verdicts[i] = v ? WSP_YES : WSP_NO;
		__atomic_store_n(&sh->done, i + 1, __ATOMIC_RELEASE);
	}
	return ws_write_all(&answer, 1);
}

static void ws_read_fault(void)
{
	const char *f = getenv("PKTEXPORT_WIRESHARK_TEST_FAULT");

	if (!f)
		return;
	if (strncmp(f, "crash:", 6) == 0)
		hp.fault_frame = (guint32)strtoul(f + 6, NULL, 10);
	else if (strncmp(f, "hang:", 5) == 0) {
		hp.fault_frame = (guint32)strtoul(f + 5, NULL, 10);
		hp.fault_hang = 1;
	}
}

/* Serves one filter's requests until the plugin closes the socket. */
static int ws_session(void)
{
	wsp_request req;

	if (ws_open_session() != 0)
		return 1;
	while (ws_read_all(&req, sizeof(req)) == 0) {
		int r;

		switch (req.type) {
		case WSP_COMPILE:
			r = hp.edt ? -1 : ws_compile(req.arg);
			if (r == 0 && !hp.edt)
				return 0; /* refused filter: done */
			break;
		case WSP_STATE:
			r = ws_state(req.arg);
			break;
		case WSP_BATCH:
			r = hp.edt ? ws_batch(req.arg) : -1;
			break;
		default:
			r = -1;
		}
		if (r != 0)
			return 1;
	}
	/* The plugin closed the socket: the export is over.  Exit without
	 * tearing libwireshark down; the kernel frees it faster. */
	return 0;
}

/* ---------------------------------------------------------- fork server */

static void ws_fold(uint64_t *h, const void *data, size_t len)
{
	const unsigned char *b = data;

	while (len--) {
		*h ^= *b++;
		*h *= 0x100000001b3ull;
	}
}

/* Folds the names, sizes, times and inodes under dir (depth levels deep)
 * into h: what tells that a setting, a profile or a plugin changed. */
static void ws_stamp_dir(uint64_t *h, const char *dir, int depth)
{
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *e;

	ws_fold(h, dir ? dir : "", dir ? strlen(dir) + 1 : 1);
	if (!d)
		return;
	while ((e = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir,
		                     e->d_name) >= sizeof(path) ||
		    stat(path, &st) != 0)
			continue;
		ws_fold(h, e->d_name, strlen(e->d_name) + 1);
		ws_fold(h, &st.st_ino, sizeof(st.st_ino));
		ws_fold(h, &st.st_size, sizeof(st.st_size));
		ws_fold(h, &st.st_mtim, sizeof(st.st_mtim));
		if (S_ISDIR(st.st_mode) && depth > 1)
			ws_stamp_dir(h, path, depth - 1);
	}
	closedir(d);
}

/* What a new tshark would read at start: the personal configuration (its
 * default profile), the global data folder, and both plugin folders. */
static uint64_t ws_config_stamp(void)
{
	uint64_t h = 0xcbf29ce484222325ull;
	char *dir = get_persconffile_path("preferences", TRUE);
	char *slash = dir ? strrchr(dir, '/') : NULL;

	if (slash)
		*slash = '\0';
	ws_stamp_dir(&h, dir, 1);
	g_free(dir);
	ws_stamp_dir(&h, get_datafile_dir(), 1);
	ws_stamp_dir(&h, get_plugins_dir_with_version(), 3);
	ws_stamp_dir(&h, get_plugins_pers_dir_with_version(), 3);
	return h;
}

typedef struct ws_child {
	pid_t pid;
	int status_fd;
} ws_child;

static ws_child *ws_children;
static size_t ws_n_children;

static void ws_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		size_t i;

		for (i = 0; i < ws_n_children; i++)
			if (ws_children[i].pid == pid)
				break;
		if (i == ws_n_children)
			continue;
		if (write(ws_children[i].status_fd, &status, sizeof(status)) <
		    0) {
			/* The plugin is gone or did not wait: nobody to tell.
			 */
		}
		close(ws_children[i].status_fd);
		ws_children[i] = ws_children[--ws_n_children];
	}
}

static void ws_reply(int32_t pid, int pidfd, const char *text)
{
	wsp_forked a = {.pid = pid};
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov;
	struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};

	if (text) {
		a.len = (uint32_t)strnlen(text, sizeof(a.text));
		memcpy(a.text, text, a.len);
	}
	iov.iov_base = &a;
	iov.iov_len = offsetof(wsp_forked, text) + a.len;
	if (pidfd >= 0) {
		struct cmsghdr *c;

		memset(ctl, 0, sizeof(ctl));
		m.msg_control = ctl;
		m.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &pidfd, sizeof(int));
	}
	while (sendmsg(WSP_FD_CONTROL, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
		;
}

/* Receives a request: 1 with its four descriptors, 0 at the end (the
 * plugin closed), -1 for a malformed one (its descriptors closed). */
static int ws_receive(int fds[4])
{
	char ctl[CMSG_SPACE(4 * sizeof(int))];
	wsp_fork f;
	struct iovec iov = {.iov_base = &f, .iov_len = sizeof(f)};
	struct msghdr m = {.msg_iov = &iov,
	                   .msg_iovlen = 1,
	                   .msg_control = ctl,
	                   .msg_controllen = sizeof(ctl)};
	struct cmsghdr *c;
	ssize_t r;
	int n = 0, i;

	do
		r = recvmsg(WSP_FD_CONTROL, &m, MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r <= 0)
		return 0;
	for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k =
			    (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));

			for (i = 0; i < k; i++) {
				int fd;

				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
				if (n < 4)
					fds[n++] = fd;
				else
					close(fd);
			}
		}
	if (r == sizeof(f) && f.magic == WSP_FORK_MAGIC && n == 4 &&
	    !(m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)))
		return 1;
	for (i = 0; i < n; i++)
		close(fds[i]);
	return -1;
}

/* In a new helper: the received descriptors become the usual ones. */
static int ws_become_helper(const int fds[4], int sigfd)
{
	static const int target[3] = {WSP_FD_CONTROL, WSP_FD_RECORDS,
	                              WSP_FD_SHARED};
	sigset_t chld;
	int high[3], i;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	close(sigfd);
	free(ws_children);
	ws_children = NULL;
	ws_n_children = 0;
	/* Out of the way first: a received descriptor may sit on a target. */
	for (i = 0; i < 3; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 64)) < 0)
			return -1;
	for (i = 0; i < 3; i++)
		if (dup2(high[i], target[i]) < 0)
			return -1;
	closefrom(WSP_FD_SHARED + 1);
	return 0;
}

/* The fork server's loop.  Returns in a forked helper (0) or when the
 * server is done (1, with *code the exit status). */
static int ws_serve(const char *argv0, int *code)
{
	struct pollfd pfd[2];
	sigset_t chld;
	uint64_t stamp = 0;
	const char *broken = NULL;
	int retired = 0, shed = 0;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	pfd[0].fd = WSP_FD_CONTROL;
	pfd[1].fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	pfd[0].events = pfd[1].events = POLLIN;
	if (pfd[1].fd < 0)
		broken = "signalfd failed";
	else if (ws_init_epan(argv0) != 0)
		broken = hp.report[0] ? hp.report
		                      : "libwireshark failed to initialise";
	else {
		stamp = ws_stamp;
		/* The heap start-up freed goes back now; the pages it only
		 * read go once the server has been idle for a second (below):
		 * paged out here, before the first fork, they were read back
		 * from the disk by that helper as it dissected (0.06 s more to
		 * start the command line's one export). */
		malloc_trim(0);
		shed = 1;
	}
	*code = 0;
	for (;;) {
		int fds[4], r, pidfd, n;
		pid_t pid;

		/* Retired (the settings changed): no more forks, but the
		 * helpers still running are reaped and reported until the
		 * last ends.  Closed (the plugin is done, or its process
		 * died): the helpers left are killed, a hung one included. */
		if ((pfd[0].fd < 0 || retired) && ws_n_children == 0)
			return 1;
		n = poll(pfd, 2, shed ? 1000 : -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			*code = 1;
			return 1;
		}
		if (n == 0) {
			ws_shed_startup_memory();
			shed = 0;
			continue;
		}
		if (pfd[1].revents) {
			struct signalfd_siginfo si;

			while (read(pfd[1].fd, &si, sizeof(si)) > 0)
				;
			ws_reap();
		}
		if (!pfd[0].revents)
			continue;
		if ((r = ws_receive(fds)) == 0) {
			size_t i;

			for (i = 0; i < ws_n_children; i++)
				kill(ws_children[i].pid, SIGKILL);
			pfd[0].fd = -1;
			continue;
		}
		if (r < 0) {
			ws_reply(-1, -1, "malformed request");
			continue;
		}
		if (broken || retired || ws_config_stamp() != stamp) {
			ws_reply(broken ? -1 : WSP_STALE, -1, broken);
			for (r = 0; r < 4; r++)
				close(fds[r]);
			if (!broken)
				retired = 1;
			continue;
		}
		pid = fork();
		if (pid == 0) {
			if (ws_become_helper(fds, pfd[1].fd) != 0)
				_exit(1);
			return 0;
		}
		if (pid < 0) {
			char why[128];

			snprintf(why, sizeof(why), "fork: %s", strerror(errno));
			ws_reply(-1, -1, why);
			for (r = 0; r < 4; r++)
				close(fds[r]);
			continue;
		}
		{
			ws_child *more = realloc(
			    ws_children, (ws_n_children + 1) * sizeof(*more));

			if (more) {
				ws_children = more;
				ws_children[ws_n_children].pid = pid;
				ws_children[ws_n_children++].status_fd = fds[3];
			} else
				close(fds[3]);
		}
		for (r = 0; r < 3; r++)
			close(fds[r]);
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		ws_reply(pid, pidfd, NULL);
		if (pidfd >= 0)
			close(pidfd);
	}
}

/* Dissectors parse packets from anywhere: whatever capabilities the
 * service holds (CAP_NET_RAW for live capture, or root's) are not the
 * helper's, and nothing it runs can gain any. */
static void ws_drop_privileges(void)
{
	struct __user_cap_header_struct head = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];

	memset(none, 0, sizeof(none));
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	syscall(SYS_capset, &head, none);
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int main(int argc, char **argv)
{
	int code;

	/* Started by the filter-wireshark plugin, always as a fork server:
	 * a helper is one of its forks. */
	if (argc != 2 || strcmp(argv[1], WSP_SERVER_ARG) != 0) {
		fprintf(stderr,
		        "usage: %s %s (started by the filter-wireshark "
		        "plugin)\n",
		        argv[0], WSP_SERVER_ARG);
		return 2;
	}
	ws_drop_privileges();
	signal(SIGPIPE, SIG_IGN);
	/* Ctrl-C at a terminal reaches the whole foreground group: it is the
	 * command's to answer (pktexport keeps what it wrote), and the
	 * plugin ends its helpers itself.  Inherited by every helper. */
	signal(SIGINT, SIG_IGN);
	ws_read_fault();
	wtap_rec_init(&hp.rec);
	ws_buffer_init(&hp.buf, 1514);
	if (ws_serve(argv[0], &code))
		_exit(code); /* the server, its helpers reaped */
	return ws_session();
}
