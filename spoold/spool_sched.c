/*
 * spool_sched: scheduled sending.  A job that waits in pending/ is moved
 * to another due time or canceled by the caller that sent it, racing
 * spoold's claim by rename: whoever renames first wins, and the loser
 * gets ENOENT.
 */
#define _GNU_SOURCE		/* renameat2 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

/* The pending job id of caller, read: 0, or -1 + ENOENT, EPERM. */
static int
read_own(struct spool *sp, const char *id, const char *caller,
    struct spool_job *job)
{
	if (spool_read(sp, SPOOL_PENDING, id, job) == -1) {
		if (errno == EBADMSG)
			errno = ENOENT;
		return -1;
	}
	if (strcmp(job->env.caller, caller) != 0) {
		spool_job_free(job);
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
spool_reschedule(struct spool *sp, const char *id, const char *caller,
    time_t due)
{
	struct spool_job	 job;
	struct spool_env	 env;
	char			 name[SPOOL_ID_LEN + 8];
	int			 rc = -1;

	if (!spool_id_valid(id) || due <= 0) {
		errno = EINVAL;
		return -1;
	}
	if (read_own(sp, id, caller, &job) == -1)
		return -1;
	(void)snprintf(name, sizeof(name), "%s.sched", id);
	(void)unlinkat(sp->tmp, name, 0);	/* a copy a crash left */
	env = job.env;
	env.scheduled = due;
	if (spool_tmp_write_as(sp, name, &env, job.attempts, job.error, NULL,
	    (size_t)(job.size - job.msg_off), job.fd, job.msg_off, due) == -1)
		goto done;
	/*
	 * The exchange is the commit point: the new copy is the job, the old
	 * one lands in tmp/ under the copy's name.  ENOENT: spoold claimed
	 * the job first; it is being handed over.
	 */
	if (renameat2(sp->tmp, name, sp->dir[SPOOL_PENDING], id,
	    RENAME_EXCHANGE) == -1) {
		spool_unlink_keep_errno(sp->tmp, name);
		goto done;
	}
	spool_unlink_keep_errno(sp->tmp, name);
	rc = fsync(sp->dir[SPOOL_PENDING]);
done:
	spool_job_free(&job);
	return rc;
}

int
spool_cancel(struct spool *sp, const char *id, const char *caller)
{
	struct spool_job	job;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (read_own(sp, id, caller, &job) == -1)
		return -1;
	spool_job_free(&job);
	if (renameat2(sp->dir[SPOOL_PENDING], id, sp->dir[SPOOL_CANCELED], id,
	    RENAME_NOREPLACE) == -1)
		return -1;		/* ENOENT: claimed by spoold */
	return fsync(sp->dir[SPOOL_CANCELED]) == -1 ||
	    fsync(sp->dir[SPOOL_PENDING]) == -1 ? -1 : 0;
}

int
spool_canceled_expire(struct spool *sp, time_t before)
{
	struct dirent	*de;
	struct stat	 st;
	DIR		*d;
	int		 n = 0;

	if (sp->dir[SPOOL_CANCELED] == -1)
		return 0;
	if ((d = spool_dir_open(sp->dir[SPOOL_CANCELED])) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!spool_id_valid(de->d_name) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == -1 || st.st_ctime >= before)
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) == 0)
			n++;
	}
	(void)closedir(d);
	return n;
}
