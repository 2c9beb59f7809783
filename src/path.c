/* Confinement of user-given paths to the data root. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pkx.h"

pkx_result pkx_check_relpath(const char *rel, const char *field, pkx_error *err)
{
	const char *p = rel, *seg;
	size_t len;

	if (!rel || !*rel)
		return pkx_fail(err, PKX_EINVAL, "%s is empty", field);
	if (strlen(rel) >= PATH_MAX)
		return pkx_fail(err, PKX_EINVAL,
		                "%s is longer than %d characters", field,
		                PATH_MAX - 1);
	if (rel[0] == '/')
		return pkx_fail(err, PKX_EINVAL,
		                "%s \"%s\" is absolute: paths are relative "
		                "to the data root",
		                field, rel);
	while (*p) {
		seg = p;
		while (*p && *p != '/')
			p++;
		len = (size_t)(p - seg);
		if (len == 0 || (len == 1 && seg[0] == '.') ||
		    (len == 2 && seg[0] == '.' && seg[1] == '.'))
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" has an empty, \".\" or "
			                "\"..\" component",
			                field, rel);
		if (len > NAME_MAX)
			return pkx_fail(err, PKX_EINVAL,
			                "%s has a component longer than %d "
			                "characters",
			                field, NAME_MAX);
		if (*p == '/')
			p++;
		if (*p == '\0' && p[-1] == '/')
			return pkx_fail(err, PKX_EINVAL,
			                "%s \"%s\" ends with \"/\"", field,
			                rel);
	}
	return PKX_OK;
}

/* True when path is base itself or lies below it. */
static int is_below(const char *base, const char *path)
{
	size_t n = strlen(base);

	if (strncmp(base, path, n) != 0)
		return 0;
	return path[n] == '\0' || path[n] == '/' || (n == 1 && base[0] == '/');
}

/* How a user names base/rel: "fs/x.pcap" for base ".../fs". */
static const char *shown_name(const char *base, const char *rel, char *buf,
                              size_t len)
{
	const char *last = strrchr(base, '/');

	last = last ? last + 1 : base;
	if (!*last || (size_t)snprintf(buf, len, "%s/%s", last, rel) >= len)
		return rel;
	return buf;
}

int pkx_open_under(const char *base, const char *rel, pkx_error *err)
{
	char shown_buf[PATH_MAX];
	const char *shown = shown_name(base, rel, shown_buf, sizeof(shown_buf));
	char joined[PATH_MAX], real_base[PATH_MAX], real_path[PATH_MAX];
	struct stat st;
	int fd, flags;

	if (pkx_check_relpath(rel, "path", err) != PKX_OK)
		return -1;
	if (!realpath(base, real_base)) {
		pkx_fail(err, PKX_ENOTFOUND, "data folder %s: %s", base,
		         strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(joined, sizeof(joined), "%s/%s", real_base, rel) >=
	    sizeof(joined)) {
		pkx_fail(err, PKX_EINVAL, "path \"%s\" is too long", rel);
		return -1;
	}
	if (!realpath(joined, real_path)) {
		pkx_fail(err, PKX_ENOTFOUND, "\"%s\" not found: %s", shown,
		         strerror(errno));
		return -1;
	}
	if (!is_below(real_base, real_path)) {
		pkx_fail(err, PKX_EINVAL, "\"%s\" leads out of the data root",
		         rel);
		return -1;
	}
	/* O_NONBLOCK so a FIFO cannot stall us; O_NOFOLLOW because the
	 * resolved path has no links left, so one now is a race. */
	fd = open(real_path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		pkx_fail(err, errno == ENOENT ? PKX_ENOTFOUND : PKX_EINVAL,
		         "cannot open \"%s\": %s", shown, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		pkx_fail(err, PKX_EINVAL, "\"%s\" is not a regular file",
		         shown);
		return -1;
	}
	flags = fcntl(fd, F_GETFL);
	if (flags >= 0)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}
