/*
 * spool_metrics: the metrics/ directory, where each program keeps the file
 * of counters that metrics.c maps.  Not durable: counters start again with
 * every program start, so nothing here is fsynced.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "spool_impl.h"

#define METRICS_DIR	"metrics"

/* A plain file name: no slash, no leading dot, not empty. */
static int
name_ok(const char *name)
{
	return name[0] != '\0' && name[0] != '.' &&
	    strchr(name, '/') == NULL && strlen(name) < 64;
}

static int
metrics_dir(struct spool *sp, int create)
{
	if (create && mkdirat(sp->root, METRICS_DIR, 0700) == -1 &&
	    errno != EEXIST)
		return -1;
	return openat(sp->root, METRICS_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int
spool_metrics_open(struct spool *sp, const char *name, int flags)
{
	int	dfd, fd, saved;

	if (!name_ok(name)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = metrics_dir(sp, flags & SPOOL_METRICS_CREATE)) == -1)
		return -1;
	if (flags & SPOOL_METRICS_CREATE)
		fd = openat(dfd, name, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
	else
		fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	saved = errno;
	close(dfd);
	errno = saved;
	return fd;
}

int
spool_metrics_rename(struct spool *sp, const char *from, const char *to)
{
	int	dfd, rc, saved;

	if (!name_ok(from) || !name_ok(to)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = metrics_dir(sp, 0)) == -1)
		return -1;
	rc = renameat(dfd, from, dfd, to);
	saved = errno;
	close(dfd);
	errno = saved;
	return rc;
}

void
spool_metrics_unlink(struct spool *sp, const char *name)
{
	int	dfd;

	if (!name_ok(name) || (dfd = metrics_dir(sp, 0)) == -1)
		return;
	spool_unlink_keep_errno(dfd, name);
	spool_close_keep_errno(dfd);
}
