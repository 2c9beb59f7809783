/* format-csv: an example pktexport format plugin, built out of tree.
 * Output format CSV_US writes one line per packet, for a spreadsheet:
 *   time,interface,caplen,wirelen
 *   1700000000.000000,demo0,60,60
 * (times in seconds with microseconds, the interface by name or number).
 * It shows the parts of a format: begin (a header line through the sink,
 * refusing what it cannot write), write, end, add_interfaces (a source
 * that meets new interfaces mid-stream), and that a format keeps copies
 * of what it is given (args are borrowed for the call). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pktexport/plugin.h>

static const pkx_services *csv_svc;

typedef struct csv_writer {
	pkx_sink *sink;
	pkx_interface *ifs; /* our copy: args->interfaces is borrowed */
	size_t n_ifs;
} csv_writer;

static pkx_result csv_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	csv_svc = svc;
	return PKX_OK;
}

static pkx_result csv_keep(csv_writer *w, const pkx_interface *ifs, size_t n,
                           pkx_error *err)
{
	pkx_interface *copy = malloc((n ? n : 1) * sizeof(*copy));

	if (!copy)
		return csv_svc->fail(err, PKX_EINTERNAL, "out of memory");
	memcpy(copy, ifs, n * sizeof(*copy));
	free(w->ifs);
	w->ifs = copy;
	w->n_ifs = n;
	return PKX_OK;
}

static pkx_result csv_begin(const pkx_format_args *args, pkx_sink *sink,
                            void **instance, pkx_error *err)
{
	static const char head[] = "time,interface,caplen,wirelen\n";
	csv_writer *w;

	if (strcmp(args->format, "CSV_US") != 0)
		return csv_svc->fail(err, PKX_EINVAL,
		                     "format-csv cannot write %s",
		                     args->format);
	w = calloc(1, sizeof(*w));
	if (!w)
		return csv_svc->fail(err, PKX_EINTERNAL, "out of memory");
	w->sink = sink;
	if (csv_keep(w, args->interfaces, args->n_interfaces, err) != PKX_OK ||
	    sink->write(sink, head, sizeof(head) - 1, err) != PKX_OK) {
		free(w->ifs);
		free(w);
		return PKX_ERROR;
	}
	*instance = w;
	return PKX_OK;
}

static pkx_result csv_write(void *instance, const pkx_packet *pkt,
                            pkx_error *err)
{
	csv_writer *w = instance;
	char line[160], name[PKX_IFNAME_MAX + 1];
	int n;

	if (pkt->ifindex < w->n_ifs && w->ifs[pkt->ifindex].name[0]) {
		size_t i;

		/* A name with a comma or a quote would break the column. */
		for (i = 0; w->ifs[pkt->ifindex].name[i] && i < PKX_IFNAME_MAX;
		     i++) {
			char c = w->ifs[pkt->ifindex].name[i];

			name[i] = c == ',' || c == '"' || c == '\n' ? '_' : c;
		}
		name[i] = '\0';
	} else {
		snprintf(name, sizeof(name), "%" PRIu32, pkt->ifindex);
	}
	n = snprintf(line, sizeof(line),
	             "%" PRIu64 ".%06" PRIu64 ",%s,%" PRIu32 ",%" PRIu32 "\n",
	             pkt->ts_ns / 1000000000u, pkt->ts_ns % 1000000000u / 1000u,
	             name, pkt->caplen, pkt->wirelen);
	return w->sink->write(w->sink, line, (size_t)n, err);
}

static pkx_result csv_end(void *instance, int complete, pkx_error *err)
{
	csv_writer *w = instance;

	(void)complete; /* no trailer: a cut file is still a prefix */
	(void)err;
	free(w->ifs);
	free(w);
	return PKX_OK;
}

static pkx_result csv_add_interfaces(void *instance, const pkx_interface *ifs,
                                     size_t n_ifs, pkx_error *err)
{
	return csv_keep(instance, ifs, n_ifs, err);
}

static const char *const csv_claims[] = {"CSV_US", NULL};

static const pkx_format_plugin csv_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_FORMAT, pkx_format_plugin, "format-csv", "1.0",
                      "one CSV line per packet (example plugin)", csv_claims,
                      csv_init, NULL),
    .begin = csv_begin,
    .write = csv_write,
    .end = csv_end,
    .add_interfaces = csv_add_interfaces,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &csv_plugin.header;
}
