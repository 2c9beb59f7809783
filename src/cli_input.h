/* The command line's -r inputs (src/cli_input.c). */
#ifndef PKX_CLI_INPUT_H
#define PKX_CLI_INPUT_H

#include "pkx.h"

/* Adds -r PATH ("-": standard input). */
void ci_add(const char *path);
size_t ci_count(void);
/* Opens every input; feeders start for compressed files and pipes. */
int ci_open_all(pkx_error *err);
/* Adds the merging source to reg (it reads through reg's fs/ source). */
int ci_register(pkx_registry *reg, pkx_error *err);
/* The config path naming the inputs. */
const char *ci_path(void);
/* After the source is open: whether an input is pcapng, and whether one
 * has nanosecond timestamps (classic pcap). */
void ci_kind(int *pcapng, int *nanosecond);
void ci_close_all(void);

#endif
