/*
 * spool_impl: what the spool_*.c files share and nothing else includes:
 * struct spool and the helpers more than one of them calls.
 *
 *	spool.c		ids, open/close, counts and health, listings
 *	spool_write.c	writing job files, enqueue
 *	spool_read.c	reading and parsing job files
 *	spool_idem.c	Idempotency-Key records
 *	spool_daemon.c	what spoold does
 *	spool_ctl.c	what spoolctl does
 *	spool_record.c	delivery records in sent/: reading, writing,
 *			outcomes, expiry, the message state
 *	spool_track.c	the queue id map, trackd's lock and position
 *	spool_suppress.c the suppression list
 *	spool_env.c	the addressing, tag and scheduled lines of jobs
 *			and records: their writer and line parser
 *	spool_batch.c	batch files: commit, split, resume
 */
#ifndef SPOOL_IMPL_H
#define SPOOL_IMPL_H

#include <dirent.h>
#include <pthread.h>

#include "spool.h"

#define SPOOL_LOCK_NAME	"spoold.lock"	/* in the spool root */
#define SPOOL_TRACK_LOCK_NAME	"trackd.lock"	/* in the spool root */
#define SPOOL_TRACK_POS_NAME	"track.pos"	/* in the spool root */

/* A directory fsync shared by every thread that needs one at the time. */
struct gsync {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	unsigned long	 started, done;
	int		 running, err;
};

struct spool {
	char		*path;
	int		 root;
	int		 tmp;
	int		 idem;
	int		 dir[SPOOL_NSTATES];	/* sent: -1 if absent (attach) */
	int		 qid;		/* -1 if absent (attach) */
	int		 suppress;	/* -1 if absent (attach) */
	int		 batch;		/* -1 if absent (attach) */
	int		 lockfd;
	int		 tracklockfd;
	int		 dirty;		/* processing/ has unsynced unlinks */
	int		 sent_dirty;	/* lazy writes not yet synced */
	struct gsync	 pending_sync;
};

/* Writes all len bytes of p, looping on EINTR and short writes. */
int	 spool_write_all(int fd, const void *p, size_t len);
/* close(2); -1 only for an error other than EINTR. */
int	 spool_checked_close(int fd);
/* Closes fd unless it is -1, keeping errno. */
void	 spool_close_keep_errno(int fd);
/*
 * A pid lock file in the spool's root (spoold.lock, trackd.lock): write-
 * locked with a POSIX record lock, the pid written in: fd, or -1 + errno
 * (EWOULDBLOCK: another process holds it).  held: 1 when another process
 * holds it, else 0.
 */
int	 spool_pidlock(struct spool *, const char *name);
int	 spool_pidlock_held(struct spool *, const char *name);
/* Unlinks name in dfd, ignoring errors and keeping errno. */
void	 spool_unlink_keep_errno(int dfd, const char *name);
/* 1 for a lowercase hex digit, else 0. */
int	 spool_ishex(int c);
/* opendir on a dup of dfd, so the spool's own fd stays open. */
DIR	*spool_dir_open(int dfd);
/* Escapes s (at most max bytes of it) as error is; space too if sp. */
char	*spool_escape(const char *s, size_t max, int sp);
/* Reverses spool_escape in place; -1 on a malformed escape or \x00. */
int	 spool_unescape(char *s);
/*
 * Writes len bytes as tmp/<tmpname>, fsyncs, renames to dfd/name, fsyncs
 * dfd.  lazy: neither fsync; the caller makes it durable later with
 * spool_sync (one syncfs), which the lazy write marks as due.
 */
int	 spool_put_file(struct spool *, const char *tmpname, int dfd,
	    const char *name, const void *buf, size_t len);
int	 spool_put_file_lazy(struct spool *, const char *tmpname, int dfd,
	    const char *name, const void *buf, size_t len);
/* Reads a small regular file (at most max bytes) NUL-terminated; free after. */
int	 spool_slurp(int dfd, const char *name, size_t max, char **out,
	    size_t *len);
/* flock on sent/, held by every writer of a record. */
int	 spool_sent_lock(struct spool *);
void	 spool_sent_unlock(struct spool *);
/*
 * Writes tmp/<name>: env's header, then msg/len or len bytes of fd src
 * from off; fsynced; mtime if not 0.  Nothing left behind on failure.
 */
int	 spool_tmp_write_as(struct spool *, const char *name,
	    const struct spool_env *, int attempts, const char *error,
	    const void *msg, size_t len, int src, off_t off, time_t mtime);
/* A growing buffer of job file bytes (batches). */
struct spool_buf {
	char	*p;
	size_t	 len, cap;
};
/*
 * Appends the job file for env and msg (attempts 0, no error) to b, byte
 * for byte as spool_enqueue writes it.  0, or -1 + errno (EINVAL as
 * spool_enqueue); b keeps what it had on failure.
 */
int	 spool_job_append(struct spool_buf *b, const struct spool_env *,
	    const void *msg, size_t len);
/* Rewrites job into tmp/<id> with attempts, error and mtime. */
int	 spool_rewrite_tmp(struct spool *, const struct spool_job *,
	    int attempts, const char *error, time_t mtime);

/*
 * The optional lines of env a job and a record share (from, to, cc, bcc,
 * reply-to, tag, scheduled), as text to add to a header; free it after.
 * NULL + errno: EINVAL for a value with CR or LF, an empty address, an
 * address without from, a bad tag.
 */
char	*spool_env_lines(const struct spool_env *);
/* Parsing them: init counts hdr's lines and allocates their storage
 * (*addrv, *tagv: the caller frees both, also after a failure) and points
 * env at it; line takes one "key value" line: 1 if it was one of these,
 * 0 if not, -1 + EBADMSG (ENOMEM); end checks what needs all lines. */
struct spool_envp {
	struct spool_env	 *env;
	const char		**addrv;
	struct spool_tag	 *tagv;
	size_t			  base[SPOOL_NADDR];
	unsigned		  seen;
};
int	 spool_envp_init(struct spool_envp *, struct spool_env *,
	    const char *hdr, const char ***addrv, struct spool_tag **tagv);
int	 spool_envp_line(struct spool_envp *, const char *key, char *val);
int	 spool_envp_end(struct spool_envp *);

#endif
