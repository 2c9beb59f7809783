/* What the command line's parts share: cli.c (the local export) and
 * cli_remote.c (the client of pktexportd). */
#ifndef PKX_CLI_H
#define PKX_CLI_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "pkx.h"

#define EXIT_REJECTED 2
#define EXIT_RUNTIME  1

/* An error on stderr: one line for people, or the API's JSON object
 * (--json-errors, PKTEXPORT_JSON_ERRORS=1). */
void cli_say_error(const char *id, const char *text);
void cli_set_json_errors(int on);
int cli_json_errors(void);
int cli_json_errors_from_env(void);

void cli_human_bytes(uint64_t n, char *buf, size_t len);
/* -w NAME.gz and the like: 1 with err saying why and the pipe to use
 * (nothing here compresses, and a plain capture under such a name would
 * lie), 0 for any other name or none. */
int cli_compressed_output(const char *output, pkx_error *err);
/* -w PATH when it is a stream rather than a file to make: "-" (or none),
 * a descriptor named (/dev/stdout, /dev/fd/N, /proc/self/fd/N, a link to
 * one) or a FIFO or device (also through a link).  1 with *fd open for
 * writing (STDOUT_FILENO for "-", else the caller's to close); 0 when
 * PATH names a file to make or replace (a link to a file or to nothing is
 * replaced, never followed); -1 with err when refused (a terminal, a
 * folder, a descriptor not open or open for reading only). */
int cli_output_stream(const char *path, int *fd, pkx_error *err);

/* The export's options of the remote `create`, read as the local export
 * reads them into the API's config object.  -r is refused (a server
 * reads its own files): the first word is the server's source path. */
typedef struct cli_export_request {
	json_t *config;     /* the API's config object (new reference) */
	const char *output; /* -w/-o, or NULL */
	int quiet;          /* -q */
	int json;           /* --json, --stats */
	int download;       /* --download */
	int mode_given;     /* the config names a mode (--follow, --config) */
	void *args;         /* the options as typed */
} cli_export_request;

int cli_export_request_parse(int argc, char **argv, cli_export_request *r,
                             pkx_error *err);
/* The API's names in a message (the server's) become what was typed. */
void cli_export_request_name(const cli_export_request *r, pkx_error *err);
void cli_export_request_free(cli_export_request *r);

/* The remote client: `pktexport --server URL ...` (cli_remote.c). */
int cli_is_remote(int argc, char **argv);
int cli_remote_main(int argc, char **argv);

#endif
