/*
 * spool_write: job files written through tmp/, enqueue and its shared
 * directory fsync.
 */
#define _GNU_SOURCE		/* renameat2 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

/* A small growable string for job headers. */
struct sbuf {
	char	*p;
	size_t	 len, cap;
};

static int
sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	char	*np;
	size_t	 ncap;

	if (n > SIZE_MAX / 2 - b->len) {
		errno = EOVERFLOW;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap ? b->cap : 512;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((np = realloc(b->p, ncap)) == NULL)
			return -1;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* "key value\n"; a value with CR, LF or NUL is refused (EINVAL). */
static int
sbuf_kv(struct sbuf *b, const char *key, const char *val)
{
	if (val == NULL || strpbrk(val, "\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (sbuf_add(b, key, strlen(key)) == -1 || sbuf_add(b, " ", 1) == -1 ||
	    sbuf_add(b, val, strlen(val)) == -1 || sbuf_add(b, "\n", 1) == -1)
		return -1;
	return 0;
}

int
spool_write_all(int fd, const void *p, size_t len)
{
	const char	*c = p;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, c, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		c += n;
		len -= n;
	}
	return 0;
}

void
spool_unlink_keep_errno(int dfd, const char *name)
{
	int	saved = errno;

	(void)unlinkat(dfd, name, 0);
	errno = saved;
}

/*
 * fsync(fd) on behalf of every caller that arrives while one is running:
 * a caller needs a sync that started after it arrived, so it either starts
 * one or waits for the next.  Many enqueues then share one directory
 * flush instead of queueing one each.
 */
static int
gsync_fsync(struct gsync *g, int fd)
{
	unsigned long	need, mine;
	int		r, err;

	pthread_mutex_lock(&g->mtx);
	need = g->started + 1;
	while (g->done < need) {
		if (g->running) {
			pthread_cond_wait(&g->cond, &g->mtx);
			continue;
		}
		g->running = 1;
		mine = ++g->started;
		pthread_mutex_unlock(&g->mtx);
		r = fsync(fd);
		err = r == -1 ? errno : 0;
		pthread_mutex_lock(&g->mtx);
		g->running = 0;
		g->done = mine;
		g->err = err;
		pthread_cond_broadcast(&g->cond);
	}
	err = g->err;
	pthread_mutex_unlock(&g->mtx);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

static int
env_header(struct sbuf *b, const struct spool_env *env, int attempts,
    const char *error)
{
	char	 num[32];
	char	*lines;
	size_t	 i;
	int	 r;

	if (env->nrcpt == 0 || env->caller == NULL || *env->caller == '\0' ||
	    env->message_id == NULL || *env->message_id == '\0') {
		errno = EINVAL;
		return -1;
	}
	if (sbuf_add(b, "mail-relay-job 1\n", 17) == -1 ||
	    sbuf_kv(b, "id", env->id) == -1)
		return -1;
	(void)snprintf(num, sizeof(num), "%lld", (long long)env->created);
	if (sbuf_kv(b, "created", num) == -1 ||
	    sbuf_kv(b, "caller", env->caller) == -1 ||
	    sbuf_kv(b, "message-id", env->message_id) == -1 ||
	    sbuf_kv(b, "sender", env->sender) == -1)
		return -1;
	for (i = 0; i < env->nrcpt; i++) {
		if (env->rcpt[i] == NULL || *env->rcpt[i] == '\0') {
			errno = EINVAL;
			return -1;
		}
		if (sbuf_kv(b, "rcpt", env->rcpt[i]) == -1)
			return -1;
	}
	if (sbuf_kv(b, "subject", env->subject) == -1)
		return -1;
	if ((lines = spool_env_lines(env)) == NULL)
		return -1;
	r = sbuf_add(b, lines, strlen(lines));
	free(lines);
	if (r == -1)
		return -1;
	(void)snprintf(num, sizeof(num), "%d", attempts);
	if (sbuf_kv(b, "attempts", num) == -1)
		return -1;
	if (error != NULL && (sbuf_add(b, "error ", 6) == -1 ||
	    sbuf_add(b, error, strlen(error)) == -1 ||
	    sbuf_add(b, "\n", 1) == -1))
		return -1;
	return sbuf_add(b, "\n", 1);
}

/* Copies len bytes from fd at off to out. */
static int
copy_range(int in, off_t off, off_t len, int out)
{
	char	buf[65536];
	ssize_t	n;

	while (len > 0) {
		n = pread(in, buf, len < (off_t)sizeof(buf) ? (size_t)len :
		    sizeof(buf), off);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EBADMSG;	/* shrank under us */
			return -1;
		}
		if (spool_write_all(out, buf, n) == -1)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

/* Writes the message: msg/len, or len bytes of src from off. */
static int
write_body(int fd, const void *msg, size_t len, int src, off_t off)
{
	if (src == -1)
		return spool_write_all(fd, msg, len);
	return copy_range(src, off, (off_t)len, fd);
}

static int
set_mtime(int fd, time_t mtime)
{
	struct timespec	ts[2];

	ts[0].tv_sec = ts[1].tv_sec = mtime;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	return futimens(fd, ts);
}

/*
 * Writes tmp/<id>: the header for env, then either msg/len or the bytes
 * [off, off + len) of fd src.  The file is fsynced and closed; mtime, if
 * not 0, becomes its mtime.  On failure nothing is left in tmp/.
 */
static int
tmp_write(struct spool *sp, const struct spool_env *env, int attempts,
    const char *error, const void *msg, size_t len, int src, off_t off,
    time_t mtime)
{
	return spool_tmp_write_as(sp, env->id, env, attempts, error, msg, len,
	    src, off, mtime);
}

/* tmp_write() into tmp/<name> (a job id, or another name for a copy). */
int
spool_tmp_write_as(struct spool *sp, const char *name,
    const struct spool_env *env, int attempts, const char *error,
    const void *msg, size_t len, int src, off_t off, time_t mtime)
{
	struct sbuf	 b = { NULL, 0, 0 };
	char		*eerr = NULL;
	int		 fd = -1, created = 0;

	if (!spool_id_valid(env->id)) {
		errno = EINVAL;
		return -1;
	}
	if (error != NULL && (eerr = spool_escape(error, SPOOL_ERROR_MAX, 0)) == NULL)
		return -1;
	if (env_header(&b, env, attempts, eerr) == -1)
		goto fail;
	if ((fd = openat(sp->tmp, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		goto fail;
	created = 1;
	if (spool_write_all(fd, b.p, b.len) == -1 ||
	    write_body(fd, msg, len, src, off) == -1 ||
	    (mtime != 0 && set_mtime(fd, mtime) == -1) || fsync(fd) == -1)
		goto fail;
	if (spool_checked_close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	free(b.p);
	free(eerr);
	return 0;
fail:
	spool_close_keep_errno(fd);
	if (created)
		spool_unlink_keep_errno(sp->tmp, name);
	free(b.p);
	free(eerr);
	return -1;
}

int
spool_enqueue(struct spool *sp, const struct spool_env *env, const void *msg,
    size_t len)
{
	return spool_enqueue_at(sp, env, msg, len, 0);
}

int
spool_enqueue_at(struct spool *sp, const struct spool_env *env,
    const void *msg, size_t len, time_t due)
{
	if (tmp_write(sp, env, 0, NULL, msg, len, -1, 0, due) == -1)
		return -1;
	if (renameat2(sp->tmp, env->id, sp->dir[SPOOL_PENDING], env->id,
	    RENAME_NOREPLACE) == -1) {
		spool_unlink_keep_errno(sp->tmp, env->id);
		return -1;
	}
	/*
	 * The rename is the commit point: from here on the job is spoold's.
	 * It is durable once pending/ is synced; if that fails, take the job
	 * back (unless spoold has already claimed it).
	 */
	if (gsync_fsync(&sp->pending_sync, sp->dir[SPOOL_PENDING]) == -1) {
		spool_unlink_keep_errno(sp->dir[SPOOL_PENDING], env->id);
		return -1;
	}
	return 0;
}

/* Rewrites job into tmp/<id> with attempts, error and mtime. */
int
spool_rewrite_tmp(struct spool *sp, const struct spool_job *job, int attempts,
    const char *error, time_t mtime)
{
	(void)unlinkat(sp->tmp, job->id, 0);	/* a stale copy, if any */
	return tmp_write(sp, &job->env, attempts, error, NULL,
	    (size_t)(job->size - job->msg_off), job->fd, job->msg_off, mtime);
}

int
spool_job_append(struct spool_buf *out, const struct spool_env *env,
    const void *msg, size_t len)
{
	struct sbuf	b = { out->p, out->len, out->cap };
	size_t		start = out->len;

	if (!spool_id_valid(env->id)) {
		errno = EINVAL;
		return -1;
	}
	if (env_header(&b, env, 0, NULL) == -1 || sbuf_add(&b, msg, len) == -1) {
		out->p = b.p;		/* realloc may have moved it */
		out->cap = b.cap;
		out->len = start;
		if (out->p != NULL)
			out->p[start] = '\0';
		return -1;
	}
	out->p = b.p;
	out->len = b.len;
	out->cap = b.cap;
	return 0;
}
