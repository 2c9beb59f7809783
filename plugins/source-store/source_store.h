/* Parts of the source-store plugin shared between its files: clips. */
#ifndef PKX_SOURCE_STORE_H
#define PKX_SOURCE_STORE_H

#include "pktexport/plugin.h"

/* A saved window of a job: clips/<id>.json under the data root. */
typedef struct ss_clip {
	char job[256];       /* "" when there is no clip */
	uint64_t start, end; /* [start, end); end UINT64_MAX: unbounded */
	char description[256];
} ss_clip;

/* Reads clips/<id>.json (or clips/<id>) under root. */
pkx_result ss_clip_load(const pkx_services *svc, const char *root,
                        const char *id, ss_clip *clip, pkx_error *err);
/* The export's windows clipped to the clip's window (all of them when
 * there is no clip), sorted and disjoint as given.  *out is malloc'd.
 * 0, or -1 when memory runs out. */
int ss_clip_windows(const ss_clip *clip, const pkx_time_range *w, size_t n,
                    pkx_time_range **out, size_t *n_out);

/* pktexport-store list and describe (store_list.c): the jobs and clips
 * of a data root, and what the captures fs/FILE... are, as JSON on
 * stdout.  The exit status. */
int store_cmd_list(const char *root);
int store_cmd_describe(const char *root, char **rels, int n);
/* The folders and captures below fs/DIR (or fs), each described. */
int store_cmd_tree(const char *root, const char *rel);

/* rel ("DIR/NAME") opened under rootfd without following a link. */
int store_open_rel(int rootfd, const char *rel, int *err_no);
/* The clip clips/<id> of the data root rootfd; 0, or -1 with why set. */
int store_clip_of(int rootfd, const char *id, ss_clip *clip, char *why,
                  size_t len);
/* pktexport-store timeline (store_timeline.c): packets and bytes per
 * interval of a source, from its time indexes, as JSON.  The exit
 * status. */
int store_cmd_timeline(const char *root, const char *path, const char *start,
                       const char *end, const char *intervals, int spread);

#endif /* PKX_SOURCE_STORE_H */
