/* libFuzzer target for the SteelFilter parser: any input either compiles or
 * fails with a message, and a compiled expression is evaluated on a few
 * packets (tagged, untagged, cut short) on every link type the evaluator
 * knows.  Built and run by tests/steelfilter_fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "steelfilter.h"

/* An Ethernet frame with two VLAN tags, IPv4 and TCP port 80. */
static const uint8_t fuzz_frame[] = {
    0x02, 0,    0,    0,    0,    1,    0x02, 0,    0,    0,    0, 2, 0x88,
    0xa8, 0x00, 0x05, 0x81, 0x00, 0x00, 0x64, 0x08, 0x00, 0x45, 0, 0, 40,
    0,    1,    0,    0,    64,   6,    0,    0,    10,   0,    0, 1, 10,
    0,    0,    2,    0x04, 0x00, 0x00, 0x50, 0,    0,    0,    1, 0, 0,
    0,    0,    0x50, 0x02, 0xff, 0xff, 0,    0,    0,    0};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t linktypes[] = {
	    SF_LINKTYPE_ETHERNET, SF_LINKTYPE_RAW, SF_LINKTYPE_LINUX_SLL, 105};
	char *text = malloc(size + 1);
	char err[512];
	sf_expr *e;
	size_t i, cut;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (sf_compile(text, &e, err, sizeof(err)) == 0) {
		for (i = 0; i < sizeof(linktypes) / sizeof(linktypes[0]); i++)
			for (cut = 0; cut <= sizeof(fuzz_frame); cut += 7)
				sf_eval(e, linktypes[i], fuzz_frame,
				        (uint32_t)cut, sizeof(fuzz_frame));
		(void)sf_bpf_for(e, SF_LINKTYPE_ETHERNET);
		sf_free(e);
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	free(text);
	return 0;
}
