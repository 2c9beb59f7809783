/* Test-only modules: each build flag makes one the loader must refuse; with
 * no flag it is a well-formed format plugin the loader must accept. */
#include <stddef.h>

#include "pktexport/plugin.h"

#ifndef REFUSE_BAD_MAJOR
#define MAJOR PKX_ABI_MAJOR
#else
#define MAJOR (PKX_ABI_MAJOR + 1)
#endif
#ifndef REFUSE_NEWER_MINOR
#define MINOR PKX_ABI_MINOR
#else
#define MINOR (PKX_ABI_MINOR + 1)
#endif

static pkx_result t_begin(const pkx_format_args *args, pkx_sink *sink,
                          void **instance, pkx_error *err)
{
	(void)args;
	(void)sink;
	(void)err;
	*instance = NULL;
	return PKX_OK;
}

__attribute__((unused)) static pkx_result
t_write(void *instance, const pkx_packet *pkt, pkx_error *err)
{
	(void)instance;
	(void)pkt;
	(void)err;
	return PKX_OK;
}

#ifdef REFUSE_MISSING_SYMBOL
/* Defined nowhere: the module cannot be bound. */
extern int pkx_test_defined_nowhere(void);
#endif

static pkx_result t_end(void *instance, int complete, pkx_error *err)
{
	(void)instance;
	(void)complete;
	(void)err;
#ifdef REFUSE_MISSING_SYMBOL
	if (pkx_test_defined_nowhere() != 0)
		return PKX_ERROR;
#endif
	return PKX_OK;
}

#ifdef REFUSE_FAILING_INIT
static pkx_result t_init(const pkx_services *svc, pkx_error *err)
{
	return svc->fail(err, "INTERNAL_ERROR", "no licence for this test");
}
#else
#define t_init NULL
#endif

#ifdef REFUSE_BAD_CLAIM
/* Lower case: no request can name it. */
static const char *const t_claims[] = {"TEST_FORMAT", "length", NULL};
#else
static const char *const t_claims[] = {"TEST_FORMAT", NULL};
#endif

static const pkx_format_plugin t_plugin = {
    .header =
        {
            .abi_major = MAJOR,
            .abi_minor = MINOR,
            .size = sizeof(pkx_format_plugin),
            .kind = PKX_KIND_FORMAT,
            .name = "test-format",
            .version = "0",
            .description = "test module",
            .claims = t_claims,
            .init = t_init,
        },
    .begin = t_begin,
#ifndef REFUSE_NO_CALLBACK
    .write = t_write,
#endif
    .end = t_end,
};

#ifdef REFUSE_NO_ENTRY
const pkx_plugin_header *not_the_entry(void);
const pkx_plugin_header *not_the_entry(void)
#else
const pkx_plugin_header *PKX_PLUGIN_ENTRY(void)
#endif
{
	return &t_plugin.header;
}
