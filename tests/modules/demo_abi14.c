/* examples/plugin-demo as it is, built against the header of ABI 1.4
 * (tests/abi/1.4): see tests/abi_compat.sh. */
#include "../../examples/plugin-demo/demo_source.c"
