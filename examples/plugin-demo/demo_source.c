/* demo-source: an example pktexport source plugin, built out of tree.
 * `demo/<N>` is N synthetic UDP packets over Ethernet, one a millisecond
 * from 1700000000 s, each saying which packet it is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pktexport/plugin.h>

#define DEMO_START_NS 1700000000000000000ull
#define DEMO_FRAME    60

static const pkx_services *demo_svc;

typedef struct demo_source {
	uint64_t count, next;
	pkx_interface iface;
	pkx_source_info info;
	uint8_t frame[DEMO_FRAME];
} demo_source;

static pkx_result demo_init(const pkx_services *svc, pkx_error *err)
{
	(void)err;
	demo_svc = svc;
	return PKX_OK;
}

static pkx_result demo_open(const pkx_source_args *args, void **instance,
                            pkx_error *err)
{
	const char *n = args->path + strlen("demo/");
	char *end;
	unsigned long long count = strtoull(n, &end, 10);
	demo_source *s;

	if (!*n || *end)
		return demo_svc->fail(err, "REQUEST_INVALID_INPUT",
		                      "\"%s\" is not demo/<number>",
		                      args->path);
	s = calloc(1, sizeof(*s));
	if (!s)
		return demo_svc->fail(err, "INTERNAL_ERROR", "out of memory");
	s->count = count;
	s->iface.linktype = 1; /* Ethernet */
	s->iface.snaplen = DEMO_FRAME;
	snprintf(s->iface.name, sizeof(s->iface.name), "demo0");
	s->info.n_interfaces = 1;
	s->info.interfaces = &s->iface;
	s->info.time_ordered = 1;
	s->info.has_estimates = 1;
	s->info.estimated_packets = count;
	s->info.estimated_bytes = count * DEMO_FRAME;
	/* Ethernet, IPv4, UDP 10.0.0.1:5000 -> 10.0.0.2:5001. */
	memcpy(s->frame, "\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00", 14);
	memcpy(s->frame + 14,
	       "\x45\0\0\x2e\0\0\0\0\x40\x11\0\0\x0a\0\0\x01\x0a\0\0\x02", 20);
	memcpy(s->frame + 34, "\x13\x88\x13\x89\0\x1a\0\0", 8);
	*instance = s;
	return PKX_OK;
}

static const pkx_source_info *demo_info(void *instance)
{
	return &((demo_source *)instance)->info;
}

static pkx_result demo_next(void *instance, pkx_packet *pkt, pkx_error *err)
{
	demo_source *s = instance;

	(void)err;
	if (s->next == s->count)
		return PKX_END;
	snprintf((char *)s->frame + 42, DEMO_FRAME - 42, "packet %llu",
	         (unsigned long long)s->next);
	pkt->ts_ns = DEMO_START_NS + s->next * 1000000u;
	pkt->caplen = pkt->wirelen = DEMO_FRAME;
	pkt->ifindex = 0;
	pkt->data = s->frame; /* valid until the next call: the ABI's rule */
	s->next++;
	return PKX_OK;
}

static void demo_close(void *instance)
{
	free(instance);
}

static const char *const demo_claims[] = {"demo/", NULL};

static const pkx_source_plugin demo_plugin = {
    PKX_PLUGIN_HEADER(PKX_KIND_SOURCE, pkx_source_plugin, "demo-source", "1.0",
                      "synthetic UDP packets (example plugin)", demo_claims,
                      demo_init, NULL),
    .open = demo_open,
    .info = demo_info,
    .next = demo_next,
    .close = demo_close,
};

const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
{
	return &demo_plugin.header;
}
