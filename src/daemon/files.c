/* npm.filesystem 1.0 over <root>/fs: the folders and captures as the
 * reference's file objects, downloads, uploads streamed to disk, folders
 * made and things deleted.  Every disk access runs off the loop (a task,
 * or a download's reader thread); no symbolic link is followed and no
 * name starting with a dot is shown or reached (indexes, temporary
 * files). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "pkxd.h"

#define FS_API        "/api/npm.filesystem/1.0/"
#define FS_REL_MAX    1024
#define FS_CHUNK      (1u << 20)   /* a download's reads */
#define FS_BUFS       2            /* and how many are in flight */
#define FS_UPLOAD_HI  (4u << 20)   /* upload bytes waiting: reading pauses */
#define FS_UPLOAD_MAX (1ull << 40) /* bytes an upload may bring */
#define FS_CONFLICT   PKXD_ECONFLICT

static int files_sending; /* downloads and uploads under way (loop only) */

int pkxd_files_busy(void)
{
	return files_sending;
}

/* ------------------------------------------------------------ ids, paths */

static int name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > 255 || s[0] == '.')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			return 0;
	return 1;
}

/* The API's id ("/dir/a.pcap"; the leading slash may be left out) as a
 * path under the data root ("fs/dir/a.pcap"; "fs" for "/").  -1 when it
 * is not one: an empty, dot-led or control-character name. */
static int id_to_rel(const char *id, char *rel)
{
	size_t n = 2;

	memcpy(rel, "fs", 3);
	while (*id == '/')
		id++;
	while (*id) {
		size_t len = strcspn(id, "/");

		if (!name_ok(id, len) || n + 1 + len >= FS_REL_MAX)
			return -1;
		rel[n++] = '/';
		memcpy(rel + n, id, len);
		n += len;
		rel[n] = '\0';
		id += len;
		if (*id == '/' && *++id == '\0')
			return -1;
	}
	return 0;
}

static const char *rel_to_id(const char *rel)
{
	return rel[2] ? rel + 2 : "/";
}

/* Off the loop: the folder rel under the root, opened without following
 * a link; -1 with errno set. */
static int open_folder(const pkxd_daemon *d, const char *rel)
{
	char copy[FS_REL_MAX], *save = NULL, *comp;
	int fd = open(d->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next, e;

	snprintf(copy, sizeof(copy), "%s", rel);
	for (comp = strtok_r(copy, "/", &save); comp && fd >= 0;
	     comp = strtok_r(NULL, "/", &save)) {
		next = openat(fd, comp,
		              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		e = errno;
		close(fd);
		fd = next;
		errno = e;
	}
	return fd;
}

/* The folder holding rel (opened) and rel's last name. */
static int open_parent(const pkxd_daemon *d, const char *rel, char *name)
{
	char parent[FS_REL_MAX];
	const char *slash = strrchr(rel, '/');

	if (!slash) {
		errno = EINVAL;
		return -1;
	}
	snprintf(parent, sizeof(parent), "%.*s", (int)(slash - rel), rel);
	snprintf(name, 256, "%s", slash + 1);
	return open_folder(d, parent);
}

/* ------------------------------------------------- the reference's shape */

/* The tool's times are never negative (an unknown one is null: 0). */
static json_t *time_str(const json_t *ns)
{
	char buf[32];

	pkxd_ns_text((uint64_t)json_integer_value(ns), buf, sizeof(buf));
	return json_string(buf);
}

/* A capture the store tool described, as a virtualfile. */
static json_t *vfile_json(const json_t *f)
{
	const char *rel = json_string_value(json_object_get(f, "path"));
	const json_t *type = json_object_get(f, "type");
	json_t *o = json_pack("{s:s, s:s}", "id", rel_to_id(rel), "type",
	                      type ? json_string_value(type) : "UNKNOWN_FILE");
	const json_t *v;

	v = json_object_get(f, "format");
	json_object_set_new(o, "format",
	                    json_string(v ? json_string_value(v) : "UNKNOWN"));
	v = json_object_get(f, "link_type");
	json_object_set_new(o, "link_type",
	                    json_string(v ? json_string_value(v) : "UNKNOWN"));
	if ((v = json_object_get(f, "size")))
		json_object_set(o, "size", (json_t *)v);
	if ((v = json_object_get(f, "mtime_ns")))
		json_object_set_new(o, "modified", time_str(v));
	if ((v = json_object_get(f, "btime_ns")))
		json_object_set_new(o, "created", time_str(v));
	/* Known once the capture has been read whole (its sidecar index,
	 * made by an export or `pktexport store index`). */
	if ((v = json_object_get(f, "packets"))) {
		json_object_set(o, "packets", (json_t *)v);
		if (json_integer_value(v) > 0)
			json_object_set_new(
			    o, "index",
			    json_pack("{s:s, s:s, s:{s:[{s:s, s:o, s:o}]}}",
			              "id", rel_to_id(rel), "status", "DONE",
			              "stats", "items", "version",
			              "pktexport-1", "start_time",
			              time_str(json_object_get(f, "first_ns")),
			              "end_time",
			              time_str(json_object_get(f, "last_ns"))));
	}
	return o;
}

/* A folder of the store tool's tree, as a file_system_dir. */
static json_t *dir_json(const json_t *t)
{
	const char *rel = json_string_value(json_object_get(t, "path"));
	json_t *dirs = json_array(), *files = json_array(), *v, *o;
	size_t i;

	json_array_foreach(json_object_get(t, "dirs"), i, v)
	    json_array_append_new(dirs, dir_json(v));
	json_array_foreach(json_object_get(t, "files"), i, v)
	    json_array_append_new(files, vfile_json(v));
	o = json_pack("{s:s, s:{s:o}, s:{s:o}}", "id", rel_to_id(rel), "files",
	              "items", files, "dirs", "items", dirs);
	if ((v = json_object_get(t, "mtime_ns")))
		json_object_set_new(o, "modified", time_str(v));
	if ((v = json_object_get(t, "btime_ns")))
		json_object_set_new(o, "created", time_str(v));
	return o;
}

/* ------------------------------------------------------ operations (tasks) */

typedef enum fs_kind { FS_GET, FS_LIST, FS_MKDIR, FS_DELETE, FS_OPEN } fs_kind;

typedef struct fsop {
	pkxd_daemon *d;
	pkxh_req *req;
	fs_kind kind;
	char rel[FS_REL_MAX];
	int is_dir; /* FS_GET: what rel turned out to be */
	json_t *out;
	int fd; /* FS_OPEN */
	uint64_t size;
	char etag[80]; /* FS_OPEN: the file's strong validator */
	int status;    /* the answer's status, 0: err */
	pkx_error err;
} fsop;

static void fsop_fail(fsop *op, int status, const char *id, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));
static void fsop_fail(fsop *op, int status, const char *id, const char *fmt,
                      ...)
{
	va_list ap;

	op->status = status;
	snprintf(op->err.id, sizeof(op->err.id), "%s", id);
	va_start(ap, fmt);
	vsnprintf(op->err.text, sizeof(op->err.text), fmt, ap);
	va_end(ap);
}

/* An errno of a walk, as the answer. */
static void fsop_errno(fsop *op, int e)
{
	if (e == ENOENT || e == ENOTDIR || e == ELOOP)
		fsop_fail(op, 404, PKX_ENOTFOUND, "no file or folder %s",
		          rel_to_id(op->rel));
	else
		fsop_fail(op, 500, PKX_EIO, "%s: %s", rel_to_id(op->rel),
		          strerror(e));
}

static void op_get(fsop *op)
{
	char name[256];
	const char *args[3] = {"tree", op->rel, NULL};
	struct stat st;
	int pfd;

	if (op->kind == FS_GET && strcmp(op->rel, "fs") != 0) {
		if ((pfd = open_parent(op->d, op->rel, name)) < 0 ||
		    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			fsop_errno(op, errno);
			if (pfd >= 0)
				close(pfd);
			return;
		}
		close(pfd);
		if (S_ISREG(st.st_mode))
			args[0] = "describe";
		else if (!S_ISDIR(st.st_mode)) {
			fsop_errno(op, ENOENT);
			return;
		}
	}
	op->is_dir = strcmp(args[0], "tree") == 0;
	if ((op->out = pkxd_store_tool(op->d, args, &op->err)))
		op->status = 200;
	else
		op->status = 500;
}

static void op_mkdir(fsop *op)
{
	char name[256];
	int pfd = open_parent(op->d, op->rel, name);

	if (pfd < 0) {
		fsop_errno(op, errno);
		return;
	}
	if (mkdirat(pfd, name, 0755) == 0)
		op->status = 201;
	else if (errno == EEXIST)
		fsop_fail(op, 409, FS_CONFLICT, "%s already exists",
		          rel_to_id(op->rel));
	else
		fsop_errno(op, errno);
	close(pfd);
}

/* The sidecar index of a deleted capture goes with it. */
static void drop_sidecar(const pkxd_daemon *d, const char *rel)
{
	char idx[FS_REL_MAX + 16], name[256 + 8];
	int pfd;

	snprintf(idx, sizeof(idx), ".index/%s", rel);
	if ((pfd = open_parent(d, idx, name)) < 0)
		return;
	strcat(name, ".idx");
	unlinkat(pfd, name, 0);
	close(pfd);
}

static void op_delete(fsop *op)
{
	char name[256];
	struct stat st;
	int pfd = open_parent(op->d, op->rel, name);

	if (pfd < 0 || fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		fsop_errno(op, errno);
		if (pfd >= 0)
			close(pfd);
		return;
	}
	if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
		/* A link (or anything else) is not reached, as in listings. */
		fsop_errno(op, ENOENT);
	} else if (unlinkat(pfd, name,
	                    S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) == 0) {
		op->status = 204;
		if (!S_ISDIR(st.st_mode))
			drop_sidecar(op->d, op->rel);
	} else if (errno == ENOTEMPTY || errno == EEXIST) {
		fsop_fail(op, 409, FS_CONFLICT,
		          "folder %s is not empty: delete what it holds first",
		          rel_to_id(op->rel));
	} else {
		fsop_errno(op, errno);
	}
	close(pfd);
}

static void op_open(fsop *op)
{
	char name[256];
	struct stat st;
	int pfd = open_parent(op->d, op->rel, name);

	op->fd = pfd < 0
	             ? -1
	             : openat(pfd, name,
	                      O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (op->fd < 0 || fstat(op->fd, &st) != 0) {
		fsop_errno(op, errno);
	} else if (!S_ISREG(st.st_mode)) {
		fsop_fail(op, 400, PKX_EINVAL, "%s is not a file",
		          rel_to_id(op->rel));
	} else {
		op->size = (uint64_t)st.st_size;
		/* Another file, or the same one changed, has another tag. */
		snprintf(op->etag, sizeof(op->etag), "\"%llx-%llx-%llx.%lx\"",
		         (unsigned long long)st.st_ino,
		         (unsigned long long)st.st_size,
		         (unsigned long long)st.st_mtim.tv_sec,
		         (unsigned long)st.st_mtim.tv_nsec);
		op->status = 200;
	}
	if (op->status != 200 && op->fd >= 0) {
		close(op->fd);
		op->fd = -1;
	}
	if (pfd >= 0)
		close(pfd);
}

static void op_work(void *arg)
{
	fsop *op = arg;

	switch (op->kind) {
	case FS_GET:
	case FS_LIST:
		op_get(op);
		break;
	case FS_MKDIR:
		op_mkdir(op);
		break;
	case FS_DELETE:
		op_delete(op);
		break;
	case FS_OPEN:
		op_open(op);
		break;
	}
}

static void file_headers(fsop *op);
static void send_file(fsop *op, int status, uint64_t from);

static void op_done(pkxd_daemon *d, void *arg)
{
	fsop *op = arg;
	struct evkeyvalq *h = pkxh_out_headers(op->req);
	char loc[FS_REL_MAX + 64];

	(void)d;
	if (op->status == 0 || op->status >= 400) {
		if (op->status >= 500)
			pkx_log(PKX_LOG_ERROR, "pktexportd", "filesystem: %s",
			        op->err.text);
		pkxd_reply_error(op->req, op->status ? op->status : 500,
		                 op->err.id[0] ? op->err.id : PKX_EINTERNAL,
		                 "%s", op->err.text);
	} else if (op->kind == FS_OPEN) {
		uint64_t from, len;
		int st = pkxd_range(op->req, op->size, op->etag, &from, &len);

		if (st == 416) {
			close(op->fd);
		} else if (pkxh_method_of(op->req) == PKXH_HEAD) {
			/* The headers a GET would have, no body, no reader. */
			close(op->fd);
			file_headers(op);
			pkxh_reply_start_length(op->req, st, len);
			pkxh_reply_end(op->req, NULL, NULL);
		} else {
			op->size = len;
			send_file(op, st, from); /* takes op */
			return;
		}
	} else if (op->kind == FS_LIST) {
		pkxd_reply_json(
		    op->req, 200,
		    json_pack("{s:[o]}", "items", dir_json(op->out)));
	} else if (op->kind == FS_GET && op->is_dir) {
		pkxd_reply_json(
		    op->req, 200,
		    json_pack("{s:s, s:s, s:o}", "id", rel_to_id(op->rel),
		              "type", "DIRECTORY", "dir", dir_json(op->out)));
	} else if (op->kind == FS_GET) {
		const json_t *f = json_array_get(op->out, 0);

		pkxd_reply_json(op->req, 200,
		                json_pack("{s:s, s:s, s:o}", "id",
		                          rel_to_id(op->rel), "type", "FILE",
		                          "file", vfile_json(f)));
	} else if (op->status == 201) {
		snprintf(loc, sizeof(loc), FS_API "fs/%s", rel_to_id(op->rel));
		evhttp_add_header(h, "Location", loc);
		pkxd_reply_json(op->req, 201,
		                json_pack("{s:s, s:s}", "id",
		                          rel_to_id(op->rel), "type",
		                          "DIRECTORY"));
	} else {
		pkxh_reply(op->req, op->status, NULL);
	}
	json_decref(op->out);
	free(op);
}

static void start_op(pkxd_daemon *d, pkxh_req *req, fs_kind kind,
                     const char *rel)
{
	fsop *op = calloc(1, sizeof(*op));

	if (op) {
		op->d = d;
		op->req = req;
		op->kind = kind;
		op->fd = -1;
		snprintf(op->rel, sizeof(op->rel), "%s", rel);
	}
	/* Listings and file operations wait for nothing: past a bound
	 * they are refused, never queued without end. */
	if (!op || pkxd_tasks_busy() >= PKXD_MAX_LISTINGS ||
	    pkxd_task_start(d, op_work, op_done, op) != 0) {
		free(op);
		pkxd_reply_error(
		    req, 503, PKX_EBUSY,
		    "cannot do that now (busy or out of resources): "
		    "try again");
	}
}

/* ------------------------------------------------------------- downloads */

typedef struct sender sender;
typedef struct send_chunk {
	sender *s;
	int index;
} send_chunk;

struct sender {
	pkxh_req *req; /* NULL once ended */
	int fd;
	uint64_t size, sent;   /* bytes to send (from offset), handed over */
	uint64_t offset, read; /* where they start; read so far (thread) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint8_t *buf[FS_BUFS];
	size_t len[FS_BUFS];
	send_chunk chunk[FS_BUFS];
	int free_list[FS_BUFS], n_free;
	int ready[FS_BUFS], n_ready;
	int closed;      /* nobody reads: the thread stops */
	int over, error; /* the thread is done (and failed) */
	int joined;
	int in_flight; /* chunks libevent holds (loop) */
	struct event *ev;
};

static void sender_maybe_free(sender *s)
{
	int i;

	if (!s->joined || s->in_flight || s->req)
		return;
	for (i = 0; i < FS_BUFS; i++)
		free(s->buf[i]);
	event_free(s->ev);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	pthread_cond_destroy(&s->cv);
	free(s);
	files_sending--;
}

static void sender_release(const void *data, size_t len, void *arg)
{
	send_chunk *c = arg;
	sender *s = c->s;

	(void)data;
	(void)len;
	pthread_mutex_lock(&s->mu);
	s->free_list[s->n_free++] = c->index;
	pthread_cond_signal(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->in_flight--;
	sender_maybe_free(s);
}

static void *sender_main(void *arg)
{
	sender *s = arg;

	for (;;) {
		ssize_t n;
		int idx;

		pthread_mutex_lock(&s->mu);
		while (!s->closed && s->n_free == 0)
			pthread_cond_wait(&s->cv, &s->mu);
		idx = s->closed ? -1 : s->free_list[--s->n_free];
		pthread_mutex_unlock(&s->mu);
		if (idx < 0)
			break;
		do
			n = s->read >= s->size
			        ? 0
			        : pread(s->fd, s->buf[idx],
			                s->size - s->read < FS_CHUNK
			                    ? (size_t)(s->size - s->read)
			                    : FS_CHUNK,
			                (off_t)(s->offset + s->read));
		while (n < 0 && errno == EINTR);
		if (n > 0)
			s->read += (uint64_t)n;
		pthread_mutex_lock(&s->mu);
		if (n <= 0) {
			s->free_list[s->n_free++] = idx;
			s->error = n < 0;
			pthread_mutex_unlock(&s->mu);
			break;
		}
		s->len[idx] = (size_t)n;
		s->ready[s->n_ready++] = idx;
		pthread_mutex_unlock(&s->mu);
		event_active(s->ev, EV_READ, 0);
	}
	pthread_mutex_lock(&s->mu);
	s->over = 1;
	pthread_mutex_unlock(&s->mu);
	event_active(s->ev, EV_READ, 0);
	return NULL;
}

/* Loop: chunks read go out by reference; once the reader is over, the
 * answer ends, whole or cut. */
static void sender_cb(evutil_socket_t fd, short what, void *arg)
{
	sender *s = arg;
	int idx[FS_BUFS], n, i, over;

	(void)fd;
	(void)what;
	pthread_mutex_lock(&s->mu);
	n = s->n_ready;
	memcpy(idx, s->ready, sizeof(int) * (size_t)n);
	s->n_ready = 0;
	over = s->over;
	pthread_mutex_unlock(&s->mu);
	for (i = 0; i < n; i++) {
		struct evbuffer *b = evbuffer_new();

		s->in_flight++;
		if (!s->req || !b ||
		    evbuffer_add_reference(b, s->buf[idx[i]], s->len[idx[i]],
		                           sender_release,
		                           &s->chunk[idx[i]]) != 0) {
			sender_release(NULL, 0, &s->chunk[idx[i]]);
		} else {
			s->sent += s->len[idx[i]];
			pkxh_reply_chunk(s->req, b);
		}
		if (b)
			evbuffer_free(b);
	}
	if (!over || s->joined)
		return;
	pthread_join(s->thread, NULL);
	s->joined = 1;
	if (s->req) {
		/* A file that changed size meanwhile is cut, never passed
		 * off as whole. */
		if (s->error || s->sent != s->size)
			pkxh_abort(s->req);
		else
			pkxh_reply_end(s->req, NULL, NULL);
		s->req = NULL;
	}
	sender_maybe_free(s);
}

static void sender_closed(pkxh_req *req, void *arg)
{
	sender *s = arg;

	pthread_mutex_lock(&s->mu);
	s->closed = 1;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->mu);
	s->req = NULL;
	pkxh_abort(req);
	sender_maybe_free(s);
}

/* A download's type and name. */
static void file_headers(fsop *op)
{
	struct evkeyvalq *h = pkxh_out_headers(op->req);
	const char *base = strrchr(op->rel, '/') + 1;
	char disp[300];
	size_t i;

	/* The name as a token without quotes or backslashes (names hold
	 * no control character). */
	snprintf(disp, sizeof(disp), "attachment; filename=\"%.250s\"", base);
	for (i = 22; disp[i]; i++)
		if (disp[i] == '"' || disp[i] == '\\')
			disp[i] = '_';
	disp[strlen(disp) - 1] = '"';
	evhttp_add_header(h, "Content-Type", "application/octet-stream");
	evhttp_add_header(h, "Content-Disposition", disp);
}

static void send_file(fsop *op, int status, uint64_t from)
{
	sender *s = calloc(1, sizeof(*s));
	int i, ok = s != NULL;

	if (s) {
		s->fd = op->fd;
		s->size = op->size;
		s->offset = from;
		pthread_mutex_init(&s->mu, NULL);
		pthread_cond_init(&s->cv, NULL);
		for (i = 0; i < FS_BUFS; i++) {
			s->chunk[i].s = s;
			s->chunk[i].index = i;
			s->free_list[s->n_free++] = i;
			ok = ok && (s->buf[i] = malloc(FS_CHUNK));
		}
		ok =
		    ok && (s->ev = event_new(op->d->base, -1, 0, sender_cb, s));
		ok =
		    ok && pthread_create(&s->thread, NULL, sender_main, s) == 0;
	}
	if (!ok) {
		if (s) {
			for (i = 0; i < FS_BUFS; i++)
				free(s->buf[i]);
			if (s->ev)
				event_free(s->ev);
			free(s);
		}
		close(op->fd);
		pkxd_reply_error(op->req, 503, PKX_EBUSY,
		                 "cannot send the file now (out of resources)");
		free(op);
		return;
	}
	files_sending++;
	s->req = op->req;
	file_headers(op);
	pkxh_set_close_cb(s->req, sender_closed, s);
	pkxh_reply_start_length(s->req, status, s->size);
	free(op);
}

/* --------------------------------------------------------------- uploads */

typedef enum up_step { UP_OPEN, UP_WRITE, UP_FINISH, UP_DISCARD } up_step;

typedef struct upload {
	pkxd_daemon *d;
	pkxh_req *req; /* NULL once ended */
	char dir_rel[FS_REL_MAX], name[256], tmp[64];
	int dirfd, fd;
	struct evbuffer *pending; /* loop: received, not yet written */
	struct evbuffer *writing; /* the running write's */
	up_step step;             /* of the running task */
	int busy, opened, body_done, paused, gone, discarded;
	int status; /* an answer decided: its status (error: err) */
	pkx_error err;
	json_t *desc;
	uint64_t bytes;
} upload;

static void up_fail(upload *up, int status, const char *id, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));
static void up_fail(upload *up, int status, const char *id, const char *fmt,
                    ...)
{
	va_list ap;

	if (up->status)
		return; /* the first reason stands */
	up->status = status;
	snprintf(up->err.id, sizeof(up->err.id), "%s", id);
	va_start(ap, fmt);
	vsnprintf(up->err.text, sizeof(up->err.text), fmt, ap);
	va_end(ap);
}

static void up_id(const upload *up, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", up->dir_rel + 2, up->name);
}

static void up_open(upload *up)
{
	struct stat st;
	uint64_t r;
	int i;

	up->dirfd = open_folder(up->d, up->dir_rel);
	if (up->dirfd < 0) {
		up_fail(up, 404, PKX_ENOTFOUND, "no folder %s",
		        rel_to_id(up->dir_rel));
		return;
	}
	if (fstatat(up->dirfd, up->name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		up_fail(up, 409, FS_CONFLICT,
		        "%s already holds %s: an upload never replaces a file "
		        "(delete it first)",
		        rel_to_id(up->dir_rel), up->name);
		return;
	}
	/* Written under a hidden name, shown once whole and checked. */
	for (i = 0; i < 8 && up->fd < 0; i++) {
		if (getentropy(&r, sizeof(r)) != 0)
			r = (uint64_t)pkx_now_ns() ^ (uint64_t)i;
		snprintf(up->tmp, sizeof(up->tmp), ".upload-%016llx",
		         (unsigned long long)r);
		up->fd = openat(
		    up->dirfd, up->tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	}
	if (up->fd < 0)
		up_fail(up, 500, PKX_EIO, "cannot create a file in %s: %s",
		        rel_to_id(up->dir_rel), strerror(errno));
}

static void up_write(upload *up)
{
	while (evbuffer_get_length(up->writing) > 0) {
		struct evbuffer_iovec v;
		ssize_t n;

		evbuffer_peek(up->writing, -1, NULL, &v, 1);
		n = write(up->fd, v.iov_base, v.iov_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			up_fail(up,
			        errno == ENOSPC || errno == EDQUOT ? 507 : 500,
			        PKX_EIO, "writing %s: %s", up->name,
			        strerror(n < 0 ? errno : EIO));
			evbuffer_drain(up->writing,
			               evbuffer_get_length(up->writing));
			return;
		}
		evbuffer_drain(up->writing, (size_t)n);
	}
}

static void up_finish(upload *up)
{
	char rel[FS_REL_MAX + 300];
	const char *args[3] = {"describe", rel, NULL};
	const char *why;
	json_t *d;

	if (fsync(up->fd) != 0) {
		up_fail(up, 500, PKX_EIO, "writing %s: %s", up->name,
		        strerror(errno));
		return;
	}
	close(up->fd);
	up->fd = -1;
	snprintf(rel, sizeof(rel), "%s/%s", up->dir_rel, up->tmp);
	d = pkxd_store_tool(up->d, args, &up->err);
	if (!d) {
		up->status = 500;
		return;
	}
	if ((why = json_string_value(
	         json_object_get(json_array_get(d, 0), "error")))) {
		up_fail(up, 400, PKX_EINVAL,
		        "%s is not a capture the service reads: %s", up->name,
		        why);
		json_decref(d);
		return;
	}
	/* Never over a file: a name taken meanwhile is a conflict. */
	if (linkat(up->dirfd, up->tmp, up->dirfd, up->name, 0) != 0) {
		if (errno == EEXIST)
			up_fail(up, 409, FS_CONFLICT,
			        "%s already holds %s: an upload never replaces "
			        "a file (delete it first)",
			        rel_to_id(up->dir_rel), up->name);
		else
			up_fail(up, 500, PKX_EIO, "naming %s: %s", up->name,
			        strerror(errno));
		json_decref(d);
		return;
	}
	unlinkat(up->dirfd, up->tmp, 0);
	up->tmp[0] = '\0';
	fsync(up->dirfd);
	/* Described under its own name. */
	snprintf(rel, sizeof(rel), "%s/%s", up->dir_rel, up->name);
	json_object_set_new(json_array_get(d, 0), "path", json_string(rel));
	up->desc = d;
	up->status = 201;
}

static void up_work(void *arg)
{
	upload *up = arg;

	switch (up->step) {
	case UP_OPEN:
		up_open(up);
		break;
	case UP_WRITE:
		up_write(up);
		break;
	case UP_FINISH:
		up_finish(up);
		break;
	case UP_DISCARD:
		if (up->fd >= 0)
			close(up->fd);
		up->fd = -1;
		if (up->tmp[0] && up->dirfd >= 0)
			unlinkat(up->dirfd, up->tmp, 0);
		break;
	}
}

static void up_next(upload *up);

static void up_free(upload *up)
{
	if (up->dirfd >= 0)
		close(up->dirfd);
	evbuffer_free(up->pending);
	evbuffer_free(up->writing);
	json_decref(up->desc);
	free(up);
	files_sending--;
}

static void up_answer(upload *up)
{
	char id[FS_REL_MAX + 260], loc[FS_REL_MAX + 300];
	json_t *f;

	if (!up->req)
		return;
	if (up->status == 201) {
		up_id(up, id, sizeof(id));
		snprintf(loc, sizeof(loc), FS_API "fs/%s", id);
		evhttp_add_header(pkxh_out_headers(up->req), "Location", loc);
		f = vfile_json(json_array_get(up->desc, 0));
		pkx_log(PKX_LOG_INFO, "pktexportd",
		        "%s uploaded %s (%llu bytes)", pkxh_user(up->req), id,
		        (unsigned long long)up->bytes);
		pkxd_reply_json(up->req, 201,
		                json_pack("{s:s, s:s, s:o}", "id", id, "type",
		                          "FILE", "file", f));
	} else {
		pkxd_reply_error(up->req, up->status ? up->status : 500,
		                 up->err.id[0] ? up->err.id : PKX_EINTERNAL,
		                 "%s", up->err.text);
	}
	up->req = NULL;
}

static void up_done(pkxd_daemon *d, void *arg)
{
	upload *up = arg;

	(void)d;
	up->busy = 0;
	if (up->step == UP_OPEN)
		up->opened = up->fd >= 0;
	if (up->step == UP_DISCARD) {
		up->discarded = 1;
		up_answer(up);
		up_free(up);
		return;
	}
	if (up->step == UP_FINISH && up->status == 201)
		up_answer(up);
	up_next(up);
}

/* What comes next, on the loop: a write of what is pending, the finish
 * once the body is all here, or the discarding of a failed upload. */
static void up_next(upload *up)
{
	if (up->busy)
		return;
	if (up->status == 201 && !up->req) {
		up_free(up);
		return;
	}
	if (up->status || up->gone) {
		/* Failed, or its client left: the file goes; the answer
		 * waits for the whole request (a reply mid-body would be
		 * read as the answer to half a request). */
		if (!up->body_done && !up->gone)
			return;
		up->step = UP_DISCARD;
	} else if (!up->opened) {
		return; /* the open is not done yet */
	} else if (evbuffer_get_length(up->pending) > 0) {
		evbuffer_add_buffer(up->writing, up->pending);
		up->step = UP_WRITE;
		if (up->paused && up->req) {
			up->paused = 0;
			pkxh_resume_body(up->req);
		}
	} else if (up->body_done) {
		up->step = UP_FINISH;
	} else {
		return;
	}
	up->busy = 1;
	if (pkxd_task_start(up->d, up_work, up_done, up) != 0) {
		/* No thread: work here this once rather than leak. */
		up_work(up);
		up_done(up->d, up);
	}
}

static int up_data(pkxh_req *req, const void *buf, size_t len, void *arg)
{
	upload *up = arg;

	if (up->status)
		return 1; /* failed: the rest is not read */
	up->bytes += len;
	evbuffer_add(up->pending, buf, len);
	if (evbuffer_get_length(up->pending) > FS_UPLOAD_HI && !up->paused) {
		up->paused = 1;
		pkxh_pause_body(req);
	}
	up_next(up);
	return 0;
}

static void up_closed(pkxh_req *req, void *arg)
{
	upload *up = arg;

	up->gone = 1;
	up->req = NULL;
	pkxh_abort(req); /* no connection: frees it */
	pkx_log(PKX_LOG_INFO, "pktexportd",
	        "upload of %s cut by its client after %llu bytes; nothing kept",
	        up->name, (unsigned long long)up->bytes);
	up_next(up);
}

/* The name an upload or a new folder is given: Content-Disposition, a
 * bare name (as the vendor's client sends) or `...; filename="NAME"`. */
static int disposition_name(const char *h, char *out)
{
	const char *p = h ? strcasestr(h, "filename=") : NULL;
	size_t n;

	if (!h)
		return -1;
	if (p) {
		p += 9;
		if (*p == '"')
			n = strcspn(++p, "\"");
		else
			n = strcspn(p, "; ");
	} else {
		for (p = h; *p == ' '; p++)
			;
		n = strlen(p);
		while (n && p[n - 1] == ' ')
			n--;
	}
	if (!name_ok(p, n))
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return 0;
}

static int is_mkdir(const pkxh_req *req)
{
	const char *t = pkxh_header(req, "Content-Type");

	return t && strncasecmp(t, "application/x-shark-directory", 29) == 0;
}

/* The head of a POST to fs/DIR, credentials checked: an upload's body is
 * written to disk as it comes, never kept whole. */
int pkxd_files_head(pkxd_daemon *d, pkxh_req *req, const char *rest)
{
	upload *up;
	char rel[FS_REL_MAX], name[256];

	if (pkxh_method_of(req) != PKXH_POST || strncmp(rest, "fs", 2) != 0 ||
	    (rest[2] && rest[2] != '/') || is_mkdir(req))
		return 0;
	if (!pkxd_auth_is_admin(d, pkxh_user(req))) {
		pkxd_reply_error(req, 403, "AUTH_FORBIDDEN",
		                 "uploading takes the admin role");
		return 1;
	}
	if (id_to_rel(rest + 2, rel) != 0) {
		pkxd_reply_error(req, 404, PKX_ENOTFOUND,
		                 "no folder %.64s (names are not empty, do not "
		                 "start with a dot and hold no control "
		                 "character)",
		                 rest + 2);
		return 1;
	}
	if (disposition_name(pkxh_header(req, "Content-Disposition"), name) !=
	    0) {
		pkxd_reply_error(req, 400, PKX_EINVAL,
		                 "an upload names its file in "
		                 "Content-Disposition (NAME, or attachment; "
		                 "filename=\"NAME\"): not empty, not starting "
		                 "with a dot, no '/' or control character");
		return 1;
	}
	if (!(up = calloc(1, sizeof(*up))) || !(up->pending = evbuffer_new()) ||
	    !(up->writing = evbuffer_new())) {
		if (up) {
			if (up->pending)
				evbuffer_free(up->pending);
			free(up);
		}
		pkxd_reply_error(req, 503, PKX_EBUSY,
		                 "cannot take an upload now (out of memory)");
		return 1;
	}
	up->d = d;
	up->req = req;
	up->fd = up->dirfd = -1;
	snprintf(up->dir_rel, sizeof(up->dir_rel), "%s", rel);
	snprintf(up->name, sizeof(up->name), "%s", name);
	files_sending++;
	pkxh_set_body_limit(req, (size_t)FS_UPLOAD_MAX);
	pkxh_stream_body(req, up_data, up);
	pkxh_set_close_cb(req, up_closed, up);
	up->step = UP_OPEN;
	up->busy = 1;
	if (pkxd_task_start(d, up_work, up_done, up) != 0) {
		up->busy = 0;
		up_fail(up, 503, PKX_EBUSY,
		        "cannot take an upload now (out of resources)");
	}
	return 0;
}

/* -------------------------------------------------------------- routing */

void pkxd_files_api(pkxd_daemon *d, pkxh_req *req, const char *rest,
                    pkxh_method m)
{
	const int get = m == PKXH_GET || m == PKXH_HEAD;
	char rel[FS_REL_MAX], name[256];
	upload *up = pkxh_body_arg(req);

	if (up) {
		/* An upload's whole body is here (or it stopped early). */
		up->body_done = 1;
		if (!up->status && pkxh_body_failed(req))
			up_fail(up, 400, PKX_EINVAL, "the upload stopped");
		if (up->bytes == 0)
			up_fail(up, 400, PKX_EINVAL,
			        "%s is empty: not a capture", up->name);
		up_next(up);
		return;
	}
	if (strcmp(rest, "fs") == 0 && get) {
		start_op(d, req, FS_LIST, "fs");
		return;
	}
	if (strncmp(rest, "fs/", 3) == 0 || strcmp(rest, "fs") == 0) {
		if (id_to_rel(rest + 2, rel) != 0) {
			pkxd_reply_error(req, 404, PKX_ENOTFOUND,
			                 "no file or folder %.64s", rest + 2);
		} else if (get) {
			start_op(d, req, FS_GET, rel);
		} else if (m == PKXH_DELETE || m == PKXH_POST) {
			size_t n = strlen(rel);

			if (!pkxd_auth_is_admin(d, pkxh_user(req))) {
				pkxd_reply_error(
				    req, 403, "AUTH_FORBIDDEN",
				    "changing files takes the admin "
				    "role");
			} else if (m == PKXH_DELETE && strcmp(rel, "fs") == 0) {
				pkxd_reply_error(
				    req, 400, PKX_EINVAL,
				    "the top folder is not deleted");
			} else if (m == PKXH_DELETE) {
				start_op(d, req, FS_DELETE, rel);
			} else if (disposition_name(
			               pkxh_header(req, "Content-Disposition"),
			               name) != 0 ||
			           n + 1 + strlen(name) >= FS_REL_MAX) {
				pkxd_reply_error(
				    req, 400, PKX_EINVAL,
				    "a new folder is named in "
				    "Content-Disposition: not empty, "
				    "not starting with a dot, no '/' "
				    "or control character");
			} else {
				snprintf(rel + n, sizeof(rel) - n, "/%s", name);
				start_op(d, req, FS_MKDIR, rel);
			}
		} else {
			pkxd_reply_not_allowed(req, "GET, POST, DELETE");
		}
		return;
	}
	if (strncmp(rest, "fileop/download/", 16) == 0) {
		if (!get)
			pkxd_reply_not_allowed(req, "GET, HEAD");
		else if (id_to_rel(rest + 16, rel) != 0 ||
		         strcmp(rel, "fs") == 0)
			pkxd_reply_error(req, 404, PKX_ENOTFOUND,
			                 "no file %.64s", rest + 16);
		else
			start_op(d, req, FS_OPEN, rel);
		return;
	}
	pkxd_reply_error(req, 404, PKX_ENOTFOUND, "no resource " FS_API "%.64s",
	                 rest);
}
