/*
 * spool_ctl: what spoolctl does to the spool: hold, release, retry, delete
 * and flush, serialized on the spool root.
 */
#define _GNU_SOURCE		/* renameat2 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

static void
ctl_unlock(struct spool *sp)
{
	int	saved = errno;

	(void)flock(sp->root, LOCK_UN);
	errno = saved;
}

/*
 * spoolctl commands serialize among themselves on the spool root.  Each
 * works on one job: its id is checked first (EINVAL).  Every batch still
 * in batch/ is finished first (spool(5)): one would otherwise make again
 * a job of it that the command moves out of a state or removes.
 */
static int
ctl_lock(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	while (flock(sp->root, LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	if (spool_batch_settle(sp) == -1) {
		ctl_unlock(sp);
		return -1;
	}
	return 0;
}

static int
touch_now(int dfd, const char *id)
{
	struct timespec	ts[2];

	ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
	ts[0].tv_sec = ts[1].tv_sec = 0;
	return utimensat(dfd, id, ts, AT_SYMLINK_NOFOLLOW);
}

/* <from>/<id> -> <to>/<id> without replacing, then sync both directories. */
static int
move_state(struct spool *sp, const char *id, int from, int to)
{
	if (renameat2(sp->dir[from], id, sp->dir[to], id, RENAME_NOREPLACE)
	    == -1)
		return -1;
	if (fsync(sp->dir[to]) == -1 || fsync(sp->dir[from]) == -1)
		return -1;
	return 0;
}

int
spool_hold(struct spool *sp, const char *id)
{
	int	r;

	if (ctl_lock(sp, id) == -1)
		return -1;
	r = move_state(sp, id, SPOOL_PENDING, SPOOL_HELD);
	ctl_unlock(sp);
	return r;
}

int
spool_release(struct spool *sp, const char *id)
{
	int	r = -1;

	if (ctl_lock(sp, id) == -1)
		return -1;
	if (touch_now(sp->dir[SPOOL_HELD], id) == 0)
		r = move_state(sp, id, SPOOL_HELD, SPOOL_PENDING);
	ctl_unlock(sp);
	return r;
}

/* held/ or failed/: rewrite in place with attempts 0, due now; to pending/. */
static int
retry_rewrite(struct spool *sp, const char *id, int state)
{
	struct spool_job	job;
	int			r = -1;

	if (spool_read(sp, state, id, &job) == -1)
		return -1;	/* EBADMSG: not a job; it stays where it is */
	if (spool_rewrite_tmp(sp, &job, 0, job.error, spool_now()) == -1)
		goto done;
	if (renameat(sp->tmp, id, sp->dir[state], id) == -1) {
		spool_unlink_keep_errno(sp->tmp, id);
		goto done;
	}
	r = move_state(sp, id, state, SPOOL_PENDING);
done:
	spool_job_free(&job);
	return r;
}

int
spool_retry(struct spool *sp, const char *id)
{
	int	state, r = -1;

	if (ctl_lock(sp, id) == -1)
		return -1;
	if ((state = spool_find(sp, id)) == -1)
		goto done;
	switch (state) {
	case SPOOL_PENDING:
		r = touch_now(sp->dir[SPOOL_PENDING], id);
		break;
	case SPOOL_PROCESSING:
		errno = EBUSY;
		break;
	case SPOOL_SENT:
		errno = EALREADY;	/* handed over: not a job any more */
		break;
	default:
		r = retry_rewrite(sp, id, state);
		break;
	}
done:
	ctl_unlock(sp);
	return r;
}

int
spool_delete(struct spool *sp, const char *id, int *statep)
{
	int	state, r = -1;

	if (ctl_lock(sp, id) == -1)
		return -1;
	if ((state = spool_find(sp, id)) == -1)
		goto done;
	if (statep != NULL)
		*statep = state;
	if (state == SPOOL_PROCESSING) {
		errno = EBUSY;
		goto done;
	}
	if (state == SPOOL_SENT) {	/* a record: its writers' lock too */
		if (spool_sent_lock(sp) == -1)
			goto done;
		r = unlinkat(sp->dir[state], id, 0);
		spool_sent_unlock(sp);
		if (r == 0)
			r = fsync(sp->dir[state]);
		goto done;
	}
	if (unlinkat(sp->dir[state], id, 0) == -1) {
		/* Only a pending job can go: spoold claimed it. */
		if (errno == ENOENT && state == SPOOL_PENDING) {
			if (statep != NULL)
				*statep = SPOOL_PROCESSING;
			errno = EBUSY;
		}
		goto done;
	}
	r = fsync(sp->dir[state]);
done:
	ctl_unlock(sp);
	return r;
}

int
spool_flush(struct spool *sp, time_t now)
{
	struct spool_entry	*v;
	size_t			 i, n;
	int			 touched = 0;

	if (spool_scan(sp, SPOOL_PENDING, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i].due <= now)
			continue;
		/* ENOENT: spoold claimed it meanwhile. */
		if (touch_now(sp->dir[SPOOL_PENDING], v[i].id) == 0)
			touched++;
	}
	free(v);
	return touched;
}
