/* Sinks the core hands to formats: a buffered file descriptor and a null
 * sink; and the stats object of the API. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pkx.h"

static pkx_result write_all(pkx_fd_sink *s, const uint8_t *p, size_t len,
                            pkx_error *err)
{
	while (len > 0) {
		ssize_t n = write(s->fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return pkx_fail(err, PKX_EIO, "write failed: %s",
			                strerror(errno));
		}
		p += n;
		len -= (size_t)n;
		s->written += (uint64_t)n;
	}
	return PKX_OK;
}

pkx_result pkx_fd_sink_flush(pkx_fd_sink *s, pkx_error *err)
{
	pkx_result r = write_all(s, s->buf, s->len, err);

	s->len = 0;
	return r;
}

static pkx_result fd_sink_write(pkx_sink *sink, const void *buf, size_t len,
                                pkx_error *err)
{
	pkx_fd_sink *s = (pkx_fd_sink *)sink;

	if (len == 0)
		return PKX_OK; /* a zero-length packet's data may be NULL */
	if (len <= s->cap - s->len) {
		memcpy(s->buf + s->len, buf, len);
		s->len += len;
		return PKX_OK;
	}
	if (pkx_fd_sink_flush(s, err) != PKX_OK)
		return PKX_ERROR;
	if (len >= s->cap)
		return write_all(s, buf, len, err);
	memcpy(s->buf, buf, len);
	s->len = len;
	return PKX_OK;
}

static pkx_result fd_sink_flush(pkx_sink *sink, pkx_error *err)
{
	return pkx_fd_sink_flush((pkx_fd_sink *)sink, err);
}

pkx_result pkx_fd_sink_init(pkx_fd_sink *s, int fd, size_t cap, pkx_error *err)
{
	memset(s, 0, sizeof(*s));
	s->sink.write = fd_sink_write;
	s->sink.flush = fd_sink_flush;
	s->fd = fd;
	s->cap = cap ? cap : 256 * 1024;
	s->buf = malloc(s->cap);
	if (!s->buf)
		return pkx_fail(err, PKX_EINTERNAL, "out of memory");
	return PKX_OK;
}

void pkx_fd_sink_release(pkx_fd_sink *s)
{
	free(s->buf);
	s->buf = NULL;
}

static pkx_result null_write(pkx_sink *sink, const void *buf, size_t len,
                             pkx_error *err)
{
	(void)sink;
	(void)buf;
	(void)len;
	(void)err;
	return PKX_OK;
}

pkx_sink pkx_null_sink = {.write = null_write};

json_t *pkx_stats_to_json(const pkx_stats *st)
{
	json_t *o = json_object();

	json_object_set_new(o, "processed_packets",
	                    json_integer((json_int_t)st->processed_packets));
	json_object_set_new(o, "exported_packets",
	                    json_integer((json_int_t)st->exported_packets));
	json_object_set_new(o, "exported_bytes",
	                    json_integer((json_int_t)st->exported_bytes));
	json_object_set_new(o, "total_bytes",
	                    json_integer((json_int_t)st->total_bytes));
	json_object_set_new(o, "dropped_packets",
	                    json_integer((json_int_t)st->dropped_packets));
	if (st->has_estimates) {
		json_object_set_new(
		    o, "estimated_packets",
		    json_integer((json_int_t)st->estimated_packets));
		json_object_set_new(
		    o, "estimated_bytes",
		    json_integer((json_int_t)st->estimated_bytes));
	}
	json_object_set_new(o, "truncated", json_boolean(st->truncated));
	return o;
}
