/*
 * spool_batch: batch files (POST /emails/batch).  One file holds every job
 * of a batch, its fsync and rename into batch/ commit them all at once;
 * the split then turns it into ordinary jobs in pending/ with the ids
 * fixed in it, made durable by one syncfs(2).  The states, the lock and
 * the resume rule are in spool.h and spool(5).
 */
#define _GNU_SOURCE		/* renameat2, syncfs */
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

#define BATCH_MAGIC	"mail-relay-batch 1\n"
#define BATCH_TMP	"batch."	/* tmp/batch.<bid>: never a job id */

/* ---- the format ---- */

void
spool_batch_free(struct spool_batch *b)
{
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

/* The line at *p (up to LF, which must be there): NUL-terminated copy. */
static int
take_line(const char **p, const char *end, char *out, size_t size)
{
	const char	*nl;
	size_t		 n;

	if ((nl = memchr(*p, '\n', (size_t)(end - *p))) == NULL ||
	    (n = (size_t)(nl - *p)) >= size || memchr(*p, '\0', n) != NULL)
		return -1;
	memcpy(out, *p, n);
	out[n] = '\0';
	*p = nl + 1;
	return 0;
}

/* "<key> <decimal>" with the number in [min, max]. */
static int
take_num(const char *line, const char *key, long long min, long long max,
    long long *v)
{
	const char	*errstr;
	size_t		 kl = strlen(key);

	if (strncmp(line, key, kl) != 0 || line[kl] != ' ' ||
	    line[kl + 1] == '0' || line[kl + 1] == '\0')
		return -1;
	*v = strtonum(line + kl + 1, min, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* "job <id> <length>" */
static int
take_job(const char *line, struct spool_batch_ent *e)
{
	const char	*errstr, *num;
	long long	 len;

	if (strncmp(line, "job ", 4) != 0 || strlen(line) < 4 + SPOOL_ID_LEN
	    + 2 || line[4 + SPOOL_ID_LEN] != ' ')
		return -1;
	memcpy(e->id, line + 4, SPOOL_ID_LEN);
	e->id[SPOOL_ID_LEN] = '\0';
	num = line + 4 + SPOOL_ID_LEN + 1;
	if (!spool_id_valid(e->id) || *num < '1' || *num > '9')
		return -1;
	len = strtonum(num, 1, SPOOL_BATCH_FILE_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	e->len = (size_t)len;
	return 0;
}

static int
ent_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* No id twice. */
static int
distinct(const struct spool_batch *b)
{
	const char	**v;
	size_t		  i;
	int		  ok = 1;

	if ((v = calloc(b->n, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < b->n; i++)
		v[i] = b->v[i].id;
	qsort(v, b->n, sizeof(*v), ent_cmp);
	for (i = 1; i < b->n && ok; i++)
		ok = strcmp(v[i - 1], v[i]) != 0;
	free(v);
	return ok;
}

/* Every job's bytes parse as a job file with the id of its line. */
static int
jobs_valid(const struct spool_batch *b, const char *buf)
{
	struct spool_job	job;
	size_t			i;
	int			r;

	for (i = 0; i < b->n; i++) {
		r = spool_job_parse(&job, b->v[i].id, buf + b->v[i].off,
		    b->v[i].len);
		spool_job_free(&job);
		if (r == -1)
			return -1;
	}
	return 0;
}

int
spool_batch_parse(struct spool_batch *b, const char *bid, const void *vbuf,
    size_t len)
{
	const char	*buf = vbuf, *p = vbuf, *end = (const char *)vbuf + len;
	char		 line[128];
	long long	 n;
	size_t		 i, off;

	memset(b, 0, sizeof(*b));
	if (!spool_id_valid(bid) || len < sizeof(BATCH_MAGIC) - 1 ||
	    memcmp(p, BATCH_MAGIC, sizeof(BATCH_MAGIC) - 1) != 0)
		goto bad;
	p += sizeof(BATCH_MAGIC) - 1;
	if (take_line(&p, end, line, sizeof(line)) == -1 ||
	    strncmp(line, "id ", 3) != 0 || strcmp(line + 3, bid) != 0)
		goto bad;
	memcpy(b->id, bid, sizeof(b->id));
	if (take_line(&p, end, line, sizeof(line)) == -1 ||
	    take_num(line, "jobs", 1, SPOOL_BATCH_MAX, &n) == -1)
		goto bad;
	if ((b->v = calloc((size_t)n, sizeof(*b->v))) == NULL)
		return -1;
	b->n = (size_t)n;
	for (i = 0; i < b->n; i++)
		if (take_line(&p, end, line, sizeof(line)) == -1 ||
		    take_job(line, &b->v[i]) == -1)
			goto bad;
	if (p >= end || *p++ != '\n')
		goto bad;
	for (i = 0, off = (size_t)(p - buf); i < b->n; i++) {
		if (b->v[i].len > len - off)
			goto bad;
		b->v[i].off = off;
		off += b->v[i].len;
	}
	if (off != len)
		goto bad;
	switch (distinct(b)) {
	case -1:
		return -1;
	case 0:
		goto bad;
	}
	if (jobs_valid(b, buf) == -1)
		goto bad;
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

/* The header of the batch file of b. */
static int
batch_header(struct spool_buf *h, const struct spool_batch *b)
{
	size_t	n = b->n;
	char	line[128];
	size_t	i, need;
	int	k;

	need = sizeof(BATCH_MAGIC) + 64 + n * (SPOOL_ID_LEN + 32) + 2;
	if ((h->p = malloc(need)) == NULL)
		return -1;
	h->cap = need;
	k = snprintf(h->p, need, "%sid %s\njobs %zu\n", BATCH_MAGIC, b->id, n);
	h->len = (size_t)k;
	for (i = 0; i < n; i++) {
		k = snprintf(line, sizeof(line), "job %s %zu\n", b->v[i].id,
		    b->v[i].len);
		if (k < 0 || (size_t)k >= sizeof(line) ||
		    h->len + (size_t)k + 2 > need) {
			errno = EOVERFLOW;
			return -1;
		}
		memcpy(h->p + h->len, line, (size_t)k);
		h->len += (size_t)k;
	}
	h->p[h->len++] = '\n';
	return 0;
}

/* ---- the split ---- */

/*
 * tmp/<id> with the bytes, not flushed, renamed into pending/ unless a job
 * of that id is there already (a split resumed).  0 or -1 + errno.
 */
static int
split_one(struct spool *sp, const char *id, const char *p, size_t len)
{
	int	fd;

	if ((fd = openat(sp->tmp, id, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1) {
		if (errno != EEXIST || unlinkat(sp->tmp, id, 0) == -1 ||
		    (fd = openat(sp->tmp, id, O_WRONLY | O_CREAT | O_EXCL |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
			return -1;	/* EEXIST: left by a split cut short */
	}
	if (spool_write_all(fd, p, len) == -1) {
		spool_close_keep_errno(fd);
		spool_unlink_keep_errno(sp->tmp, id);
		return -1;
	}
	if (spool_checked_close(fd) == -1) {
		spool_unlink_keep_errno(sp->tmp, id);
		return -1;
	}
	if (renameat2(sp->tmp, id, sp->dir[SPOOL_PENDING], id,
	    RENAME_NOREPLACE) == -1) {
		if (errno == EEXIST) {
			(void)unlinkat(sp->tmp, id, 0);
			return 0;
		}
		spool_unlink_keep_errno(sp->tmp, id);
		return -1;
	}
	return 0;
}

/*
 * The jobs of b that exist in no state (every one for a fresh batch) into
 * pending/, without a flush: the batch file stays their durable copy
 * until spool_batch_recover has synced them.  cb for each job made;
 * *made counts them.
 */
static int
split(struct spool *sp, const struct spool_batch *b, const char *buf,
    int fresh, void (*cb)(const char *, void *), void *arg, int *made)
{
	size_t	i;

	for (i = 0; i < b->n; i++) {
		if (!fresh && spool_find(sp, b->v[i].id) != -1)
			continue;	/* split before, or moved on since */
		if (split_one(sp, b->v[i].id, buf + b->v[i].off,
		    b->v[i].len) == -1)
			return -1;
		if (made != NULL)
			(*made)++;
		if (cb != NULL)
			cb(b->v[i].id, arg);
	}
	return 0;
}

/* Writes the header and the jobs to fd, fsyncs it. */
static int
write_batch(int fd, const struct spool_buf *h, const struct spool_buf *jobs)
{
	if (spool_write_all(fd, h->p, h->len) == -1 ||
	    spool_write_all(fd, jobs->p, jobs->len) == -1 || fsync(fd) == -1)
		return -1;
	return 0;
}

/* tmp/batch.<bid>, locked, written and synced; renamed into batch/. */
static int
commit(struct spool *sp, const char *bid, const struct spool_buf *h,
    const struct spool_buf *jobs)
{
	char	name[sizeof(BATCH_TMP) + SPOOL_ID_LEN];
	int	fd;

	(void)snprintf(name, sizeof(name), "%s%s", BATCH_TMP, bid);
	if ((fd = openat(sp->tmp, name, O_RDWR | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return -1;
	/* Held until the file is gone: nobody else splits it meanwhile. */
	if (flock(fd, LOCK_EX) == -1 || write_batch(fd, h, jobs) == -1)
		goto fail;
	if (renameat2(sp->tmp, name, sp->batch, bid, RENAME_NOREPLACE) == -1)
		goto fail;
	/*
	 * The commit point of every job in the batch, once batch/ is synced.
	 * If that fails, take the batch back: nobody has seen it, we hold
	 * its lock.
	 */
	if (fsync(sp->batch) == -1) {
		spool_unlink_keep_errno(sp->batch, bid);
		spool_close_keep_errno(fd);
		return -1;
	}
	return fd;
fail:
	spool_unlink_keep_errno(sp->tmp, name);
	spool_close_keep_errno(fd);
	return -1;
}

int
spool_batch_enqueue(struct spool *sp, const char *bid,
    const struct spool_batch_job *v, size_t n)
{
	struct spool_buf	 jobs = { NULL, 0, 0 }, h = { NULL, 0, 0 };
	struct spool_batch	 b = { "", 0, NULL };
	size_t			 i, start, off;
	int			 fd = -1, rc = -1, saved;

	if (!spool_id_valid(bid) || n == 0 || n > SPOOL_BATCH_MAX ||
	    sp->batch == -1) {
		errno = EINVAL;
		return -1;
	}
	if ((b.v = calloc(n, sizeof(*b.v))) == NULL)
		return -1;
	b.n = n;
	memcpy(b.id, bid, sizeof(b.id));
	for (i = 0; i < n; i++) {
		start = jobs.len;
		if (spool_job_append(&jobs, v[i].env, v[i].msg, v[i].len) == -1)
			goto done;
		memcpy(b.v[i].id, v[i].env->id, SPOOL_ID_LEN + 1);
		b.v[i].len = jobs.len - start;
	}
	for (i = 0, off = 0; i < n; i++) {
		b.v[i].off = off;
		off += b.v[i].len;
	}
	if (batch_header(&h, &b) == -1)
		goto done;
	if ((fd = commit(sp, bid, &h, &jobs)) == -1)
		goto done;
	/* Committed: from here on it is 0 or 1, never -1. */
	rc = split(sp, &b, jobs.p, 1, NULL, NULL, NULL) == 0 ? 0 : 1;
done:
	saved = errno;
	if (fd != -1)
		(void)close(fd);	/* the lock goes with it */
	free(jobs.p);
	free(h.p);
	free(b.v);
	errno = saved;
	return rc;
}

/* ---- resume ---- */

/* Reads the batch file on fd, whole. */
static int
slurp_fd(int fd, char **out, size_t *outlen)
{
	struct stat	 st;
	char		*p;
	size_t		 got = 0;
	ssize_t		 r;

	if (fstat(fd, &st) == -1)
		return -1;
	if (!S_ISREG(st.st_mode) || st.st_size > SPOOL_BATCH_FILE_MAX) {
		errno = EBADMSG;
		return -1;
	}
	if ((p = malloc((size_t)st.st_size + 1)) == NULL)
		return -1;
	while (got < (size_t)st.st_size) {
		if ((r = pread(fd, p + got, (size_t)st.st_size - got,
		    (off_t)got)) == -1) {
			if (errno == EINTR)
				continue;
			free(p);
			return -1;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*out = p;
	*outlen = got;
	return 0;
}

/*
 * One batch: its fd, locked, when it is ours to finish (*fdp), else -1;
 * its missing jobs made.  With wait, waits for a splitter's lock instead
 * of passing the batch by.  0, or -1 + errno.
 */
static int
resume_one(struct spool *sp, const char *bid, int wait,
    void (*cb)(const char *, void *), void *arg, int *bad, int *made,
    int *fdp)
{
	struct spool_batch	 b;
	struct stat		 st;
	char			*buf = NULL;
	size_t			 len;
	int			 fd, rc = 0;

	*fdp = -1;
	memset(&b, 0, sizeof(b));
	if ((fd = openat(sp->batch, bid, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1)
		return errno == ENOENT ? 0 : -1;
	while (flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB)) == -1) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? 0 : -1;	/* being split */
		goto fail;
	}
	if (fstat(fd, &st) == -1 || st.st_nlink == 0)
		goto fail;	/* finished and removed meanwhile */
	if (slurp_fd(fd, &buf, &len) == -1 ||
	    spool_batch_parse(&b, bid, buf, len) == -1) {
		if (errno != EBADMSG)
			rc = -1;
		else if (bad != NULL)
			(*bad)++;
		goto fail;
	}
	if ((rc = split(sp, &b, buf, 0, cb, arg, made)) == -1)
		goto fail;
	*fdp = fd;
	spool_batch_free(&b);
	free(buf);
	return 0;
fail:
	spool_batch_free(&b);
	free(buf);
	spool_close_keep_errno(fd);
	return rc;
}

#define RESUME_MAX	64	/* batches finished per syncfs */

/*
 * Up to RESUME_MAX batches: their missing jobs made, one syncfs for all,
 * then the batch files removed.  Returns how many batches it took on
 * (0: none left), -1 + errno.
 */
static int
resume_some(struct spool *sp, DIR *d, int wait,
    void (*cb)(const char *, void *), void *arg, int *bad, int *made,
    int *err)
{
	struct dirent	*de;
	char		 ids[RESUME_MAX][SPOOL_ID_LEN + 1];
	int		 fds[RESUME_MAX], n = 0, i, fd;

	while (n < RESUME_MAX && (de = readdir(d)) != NULL) {
		if (!spool_id_valid(de->d_name))
			continue;
		if (resume_one(sp, de->d_name, wait, cb, arg, bad, made,
		    &fd) == -1)
			*err = errno;
		else if (fd != -1) {
			memcpy(ids[n], de->d_name, sizeof(ids[n]));
			fds[n++] = fd;
		}
	}
	/*
	 * One flush for every job of these batches (group commit); until it
	 * is done their batch files make them durable, so those go only
	 * afterwards.  An unlink lost in a crash is harmless: the batch is
	 * found again with every job present, and none is made.
	 */
	if (n > 0 && syncfs(sp->root) == -1)
		*err = errno;
	for (i = 0; i < n; i++) {
		if (*err == 0 && unlinkat(sp->batch, ids[i], 0) == -1)
			*err = errno;
		close(fds[i]);
	}
	return n;
}

static int
recover(struct spool *sp, int wait, void (*cb)(const char *, void *),
    void *arg, int *bad)
{
	DIR	*d;
	int	 made = 0, err = 0;

	if (sp->batch == -1)
		return 0;
	if ((d = spool_dir_open(sp->batch)) == NULL)
		return -1;
	while (resume_some(sp, d, wait, cb, arg, bad, &made, &err) ==
	    RESUME_MAX && err == 0)
		;
	(void)closedir(d);
	if (err != 0) {
		errno = err;
		return -1;
	}
	return made;
}

int
spool_batch_recover(struct spool *sp, void (*cb)(const char *, void *),
    void *arg, int *bad)
{
	return recover(sp, 0, cb, arg, bad);
}

int
spool_batch_settle(struct spool *sp)
{
	return recover(sp, 1, NULL, NULL, NULL);
}

long
spool_batch_count(struct spool *sp)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;

	if (sp->batch == -1)
		return 0;
	if ((d = spool_dir_open(sp->batch)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (spool_id_valid(de->d_name))
			n++;
	(void)closedir(d);
	return n;
}

int
spool_batch_watch(struct spool *sp, int inofd)
{
	char	path[PATH_MAX];
	int	n;

	n = snprintf(path, sizeof(path), "%s/batch", sp->path);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return inotify_add_watch(inofd, path, IN_CLOSE_WRITE | IN_ONLYDIR);
}
