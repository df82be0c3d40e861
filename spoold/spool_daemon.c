/*
 * spool_daemon: what spoold does to the spool: its lock, chown, claiming
 * and watching jobs, done/defer/fail, and recovery at start.
 */
#define _GNU_SOURCE		/* renameat2 */
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

int
spool_pidlock(struct spool *sp, const char *name)
{
	struct flock	fl;
	char		pid[32];
	int		fd, n;

	if ((fd = openat(sp->root, name, O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1)
		return -1;
	/*
	 * A POSIX record lock, not flock(2): it belongs to this process and is
	 * never shared with a child, not even for the moment between
	 * posix_spawn's clone and the child's exec, so a restart right after
	 * a kill -9 finds the lock free.
	 */
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) == -1) {
		if (errno == EACCES || errno == EAGAIN)
			errno = EWOULDBLOCK;
		spool_close_keep_errno(fd);
		return -1;
	}
	/* The pid is for people; the lock is what counts. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, n, 0) != n) {
		spool_close_keep_errno(fd);
		return -1;
	}
	return fd;
}

int
spool_pidlock_held(struct spool *sp, const char *name)
{
	struct flock	fl;
	int		fd, r;

	if ((fd = openat(sp->root, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	/* F_GETLK only looks: it takes no lock. */
	r = fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK;
	close(fd);
	return r;
}

int
spool_lock(struct spool *sp)
{
	int	fd;

	if ((fd = spool_pidlock(sp, SPOOL_LOCK_NAME)) == -1)
		return -1;
	sp->lockfd = fd;
	return 0;
}

/* Gives every entry of dfd to uid/gid. */
static int
chown_entries(int dfd, uid_t uid, gid_t gid)
{
	struct dirent	*de;
	DIR		*d;
	int		 r = 0;

	if ((d = spool_dir_open(dfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fchownat(dirfd(d), de->d_name, uid, gid,
		    AT_SYMLINK_NOFOLLOW) == -1 && errno != ENOENT)
			r = -1;
	}
	(void)closedir(d);
	return r;
}

int
spool_chown(struct spool *sp, uid_t uid, gid_t gid)
{
	int	i;

	if (fchown(sp->root, uid, gid) == -1 || fchown(sp->tmp, uid, gid) == -1 ||
	    fchown(sp->idem, uid, gid) == -1)
		return -1;
	if (chown_entries(sp->tmp, uid, gid) == -1 ||
	    chown_entries(sp->idem, uid, gid) == -1)
		return -1;
	for (i = 0; i < SPOOL_NSTATES; i++)
		if (fchown(sp->dir[i], uid, gid) == -1 ||
		    chown_entries(sp->dir[i], uid, gid) == -1)
			return -1;
	if (fchown(sp->qid, uid, gid) == -1 ||
	    chown_entries(sp->qid, uid, gid) == -1 ||
	    fchown(sp->suppress, uid, gid) == -1 ||
	    chown_entries(sp->suppress, uid, gid) == -1 ||
	    fchown(sp->batch, uid, gid) == -1 ||
	    chown_entries(sp->batch, uid, gid) == -1)
		return -1;
	if (sp->lockfd != -1 && fchown(sp->lockfd, uid, gid) == -1)
		return -1;
	/* trackd's files, when trackd ran as root once. */
	if ((fchownat(sp->root, SPOOL_TRACK_POS_NAME, uid, gid,
	    AT_SYMLINK_NOFOLLOW) == -1 && errno != ENOENT) ||
	    (fchownat(sp->root, SPOOL_TRACK_LOCK_NAME, uid, gid,
	    AT_SYMLINK_NOFOLLOW) == -1 && errno != ENOENT))
		return -1;
	return 0;
}

int
spool_claim(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* No fsync: after a crash either copy is recovered into pending/. */
	return renameat(sp->dir[SPOOL_PENDING], id, sp->dir[SPOOL_PROCESSING],
	    id);
}

int
spool_claim_due(struct spool *sp, const char *id, time_t now, time_t *due)
{
	struct stat	st;

	if (spool_claim(sp, id) == -1)
		return -1;
	/*
	 * The rename took whatever pending/<id> was at that moment: a
	 * reschedule may have exchanged it for a later copy since spoold
	 * saw it due.  Then it goes back as it is (a crash in between
	 * leaves it in processing/, which recovery puts back unchanged).
	 */
	if (fstatat(sp->dir[SPOOL_PROCESSING], id, &st, AT_SYMLINK_NOFOLLOW)
	    == -1 || st.st_mtime <= now)
		return 0;	/* a failed stat: spool_read reports it */
	if (spool_unclaim(sp, id) == -1)
		return -1;
	*due = st.st_mtime;
	errno = EAGAIN;
	return -1;
}

int
spool_unclaim(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	return renameat2(sp->dir[SPOOL_PROCESSING], id, sp->dir[SPOOL_PENDING],
	    id, RENAME_NOREPLACE);
}

int
spool_watch(struct spool *sp, int inofd)
{
	char	path[PATH_MAX];
	int	n;

	n = snprintf(path, sizeof(path), "%s/%s", sp->path,
	    spool_state_name(SPOOL_PENDING));
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return inotify_add_watch(inofd, path, IN_MOVED_TO | IN_ATTRIB |
	    IN_ONLYDIR);
}

int
spool_done(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (unlinkat(sp->dir[SPOOL_PROCESSING], id, 0) == -1)
		return -1;
	/*
	 * Losing this unlink in a system crash would deliver the job again,
	 * never lose it; spoold calls spool_sync before it waits.
	 */
	sp->dirty = 1;
	return 0;
}

int
spool_sync(struct spool *sp)
{
	/*
	 * Records of delivered jobs: one syncfs for all of them since the
	 * last call (their data, their renames, and the removals of their
	 * jobs), instead of a flush per record, which would bound the drain
	 * by the disk's flush rate.
	 */
	if (sp->sent_dirty) {
		if (syncfs(sp->root) == -1)
			return -1;
		sp->sent_dirty = sp->dirty = 0;
		return 0;
	}
	if (!sp->dirty)
		return 0;
	if (fsync(sp->dir[SPOOL_PROCESSING]) == -1)
		return -1;
	sp->dirty = 0;
	return 0;
}

/* tmp/<id> -> <state>/<id>, fsync the target, unlink processing/<id>. */
static int
move_from_tmp(struct spool *sp, const char *id, int state)
{
	if (renameat(sp->tmp, id, sp->dir[state], id) == -1) {
		spool_unlink_keep_errno(sp->tmp, id);
		return -1;
	}
	if (fsync(sp->dir[state]) == -1)
		return -1;	/* both copies stay; recovery sorts it out */
	if (unlinkat(sp->dir[SPOOL_PROCESSING], id, 0) == -1)
		return -1;
	sp->dirty = 1;
	return 0;
}

int
spool_defer(struct spool *sp, const struct spool_job *job, time_t next,
    const char *error)
{
	if (spool_rewrite_tmp(sp, job, job->attempts + 1, error, next) == -1)
		return -1;
	return move_from_tmp(sp, job->id, SPOOL_PENDING);
}

int
spool_fail(struct spool *sp, const struct spool_job *job, const char *error)
{
	if (spool_rewrite_tmp(sp, job, job->attempts + 1, error, spool_now()) == -1)
		return -1;
	return move_from_tmp(sp, job->id, SPOOL_FAILED);
}

int
spool_fail_raw(struct spool *sp, const char *id)
{
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (renameat(sp->dir[SPOOL_PROCESSING], id, sp->dir[SPOOL_FAILED], id)
	    == -1)
		return -1;
	return fsync(sp->dir[SPOOL_FAILED]);
}

static void
clean_tmp(struct spool *sp, time_t now)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;

	if ((d = spool_dir_open(sp->tmp)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
		    || !S_ISREG(st.st_mode) || st.st_mtime > now - SPOOL_TMP_MAXAGE)
			continue;
		(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	(void)closedir(d);
}

int
spool_recover(struct spool *sp, time_t now,
    void (*cb)(const char *, void *), void *arg)
{
	struct spool_entry	*v;
	size_t			 i, n;
	int			 moved = 0;

	if (spool_scan(sp, SPOOL_PROCESSING, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (renameat2(sp->dir[SPOOL_PROCESSING], v[i].id,
		    sp->dir[SPOOL_PENDING], v[i].id, RENAME_NOREPLACE) == 0) {
			moved++;
			if (cb != NULL)
				cb(v[i].id, arg);
		} else if (errno == EEXIST) {
			/* A deferral cut short: the pending copy is newer. */
			(void)unlinkat(sp->dir[SPOOL_PROCESSING], v[i].id, 0);
		}
	}
	free(v);
	if (n > 0 && (fsync(sp->dir[SPOOL_PENDING]) == -1 ||
	    fsync(sp->dir[SPOOL_PROCESSING]) == -1))
		return -1;
	clean_tmp(sp, now);
	return moved;
}
