/*
 * spool_idem: Idempotency-Key records under idem/.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"
#include "text.h"

#define IDEM_NAME_LEN	64
#define IDEM_LINE_MAX	(SPOOL_ID_LEN + 1 + 64 + 1 + 24 + 2)
#define IDEM_FILE_MAX	(IDEM_LINE_MAX + SPOOL_IDEM_ANSWER_MAX)

static void
idem_name(const char *caller, const char *key, char out[IDEM_NAME_LEN + 1])
{
	SHA2_CTX	ctx;
	unsigned char	md[SHA256_DIGEST_LENGTH];

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const uint8_t *)caller, strlen(caller) + 1);
	SHA256Update(&ctx, (const uint8_t *)key, strlen(key));
	SHA256Final(md, &ctx);
	text_hex(md, sizeof(md), out);
}

/*
 * Parses "<jobid> <hexhash> <time>\n" (a batch's answer may follow).
 * Returns 1 for a record, 0 for an empty or malformed file (no record).
 */
static int
idem_parse(const char *buf, char id[SPOOL_ID_LEN + 1], char hash[65],
    time_t *when)
{
	char		 tbuf[24];
	const char	*errstr;
	const char	*p = buf;
	size_t		 tl;

	if (strlen(p) < SPOOL_ID_LEN + 1 + 64 + 3 || p[SPOOL_ID_LEN] != ' ' ||
	    p[SPOOL_ID_LEN + 65] != ' ')
		return 0;
	memcpy(id, p, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	memcpy(hash, p + SPOOL_ID_LEN + 1, 64);
	hash[64] = '\0';
	p += SPOOL_ID_LEN + 66;
	if ((tl = strcspn(p, "\n")) == 0 || tl >= sizeof(tbuf) ||
	    p[tl] != '\n')
		return 0;
	memcpy(tbuf, p, tl);
	tbuf[tl] = '\0';
	*when = strtonum(tbuf, 0, LLONG_MAX, &errstr);
	if (errstr != NULL || !spool_id_valid(id))
		return 0;
	return 1;
}

static ssize_t
read_small(int fd, char *buf, size_t size)
{
	ssize_t	n;
	size_t	got = 0;

	while (got < size - 1) {
		n = pread(fd, buf + got, size - 1 - got, (off_t)got);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	buf[got] = '\0';
	return (ssize_t)got;
}

/*
 * Opens and locks idem/<name>; retries if a purge unlinked it meanwhile.
 * With nowait, a lock held by another request is EWOULDBLOCK.
 */
static int
idem_lock(struct spool *sp, const char *name, int nowait)
{
	struct stat	st;
	int		fd;

	for (;;) {
		if ((fd = openat(sp->idem, name, O_RDWR | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
			return -1;
		while (flock(fd, LOCK_EX | (nowait ? LOCK_NB : 0)) == -1) {
			if (errno != EINTR) {
				spool_close_keep_errno(fd);
				return -1;
			}
		}
		if (fstat(fd, &st) == -1) {
			spool_close_keep_errno(fd);
			return -1;
		}
		if (st.st_nlink > 0)
			return fd;
		close(fd);		/* purged under us: open again */
	}
}

/* A duplicate's answer: what follows the record's line, copied out. */
static int
idem_answer(const char *buf, char **answer, size_t *alen)
{
	const char	*a = strchr(buf, '\n') + 1;

	*alen = strlen(a);
	if ((*answer = malloc(*alen + 1)) == NULL)
		return -1;
	memcpy(*answer, a, *alen + 1);
	return 0;
}

static int
idem_begin(struct spool *sp, const char *caller, const char *key,
    const unsigned char bodyhash[32], struct spool_idem *h,
    char id[SPOOL_ID_LEN + 1], int nowait, char **answer, size_t *alen)
{
	char	name[IDEM_NAME_LEN + 1], *buf;
	char	rid[SPOOL_ID_LEN + 1], rhash[65], want[65];
	time_t	when, now;
	int	fd, rc = SPOOL_IDEM_NEW;

	h->fd = -1;
	if ((buf = malloc(IDEM_FILE_MAX + 16)) == NULL)
		return -1;
	idem_name(caller, key, name);
	if ((fd = idem_lock(sp, name, nowait)) == -1) {
		free(buf);
		return nowait && errno == EWOULDBLOCK ? SPOOL_IDEM_BUSY : -1;
	}
	now = spool_now();	/* after the wait for the lock */
	if (read_small(fd, buf, IDEM_FILE_MAX + 16) == -1) {
		spool_close_keep_errno(fd);
		free(buf);
		return -1;
	}
	if (idem_parse(buf, rid, rhash, &when) && when <= now &&
	    now - when < SPOOL_IDEM_TTL) {
		close(fd);
		text_hex(bodyhash, 32, want);
		if (strcmp(want, rhash) != 0)
			rc = SPOOL_IDEM_CONFLICT;
		else if (answer != NULL && idem_answer(buf, answer, alen) == -1)
			rc = -1;
		else {
			memcpy(id, rid, sizeof(rid));
			rc = SPOOL_IDEM_DUP;
		}
		free(buf);
		return rc;
	}
	free(buf);
	h->fd = fd;
	memcpy(h->hash, bodyhash, sizeof(h->hash));
	return SPOOL_IDEM_NEW;
}

int
spool_idem_begin(struct spool *sp, const char *caller, const char *key,
    const unsigned char bodyhash[32], struct spool_idem *h,
    char id[SPOOL_ID_LEN + 1])
{
	return idem_begin(sp, caller, key, bodyhash, h, id, 0, NULL, NULL);
}

int
spool_idem_try(struct spool *sp, const char *caller, const char *key,
    const unsigned char bodyhash[32], struct spool_idem *h,
    char id[SPOOL_ID_LEN + 1])
{
	return idem_begin(sp, caller, key, bodyhash, h, id, 1, NULL, NULL);
}

int
spool_idem_try_answer(struct spool *sp, const char *caller, const char *key,
    const unsigned char bodyhash[32], struct spool_idem *h,
    char id[SPOOL_ID_LEN + 1], char **answer, size_t *alen)
{
	*answer = NULL;
	*alen = 0;
	return idem_begin(sp, caller, key, bodyhash, h, id, 1, answer, alen);
}

int
spool_idem_commit(struct spool_idem *h, const char *id)
{
	return spool_idem_commit_answer(h, id, NULL, 0);
}

int
spool_idem_commit_answer(struct spool_idem *h, const char *id,
    const char *answer, size_t alen)
{
	char	line[IDEM_LINE_MAX], hx[65];
	int	n, fd = h->fd;

	h->fd = -1;
	if (fd == -1 || !spool_id_valid(id) || alen > SPOOL_IDEM_ANSWER_MAX ||
	    (answer != NULL && memchr(answer, '\0', alen) != NULL)) {
		spool_close_keep_errno(fd);
		errno = EINVAL;
		return -1;
	}
	text_hex(h->hash, sizeof(h->hash), hx);
	n = snprintf(line, sizeof(line), "%s %s %lld\n", id, hx,
	    (long long)spool_now());
	if (n < 0 || (size_t)n >= sizeof(line)) {
		close(fd);
		errno = EOVERFLOW;
		return -1;
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, line, n, 0) != n ||
	    (alen > 0 && pwrite(fd, answer, alen, n) != (ssize_t)alen) ||
	    fsync(fd) == -1) {
		spool_close_keep_errno(fd);
		return -1;
	}
	return spool_checked_close(fd);
}

void
spool_idem_abort(struct spool_idem *h)
{
	if (h->fd != -1)
		spool_close_keep_errno(h->fd);
	h->fd = -1;
}

/* Unlinks idem/<name> if it is unlocked and holds nothing younger than 24h. */
static int
idem_purge_one(struct spool *sp, const char *name, time_t now)
{
	char		buf[IDEM_LINE_MAX + 16], rid[SPOOL_ID_LEN + 1];
	char		rhash[65];	/* the first line is enough here */
	struct stat	st;
	time_t		when;
	int		fd, gone = 0;

	if ((fd = openat(sp->idem, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC))
	    == -1)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1 || fstat(fd, &st) == -1 ||
	    st.st_nlink == 0 || read_small(fd, buf, sizeof(buf)) == -1)
		goto done;
	if (idem_parse(buf, rid, rhash, &when)) {
		if (when <= now && now - when < SPOOL_IDEM_TTL)
			goto done;
	} else if (st.st_mtime <= now && now - st.st_mtime < SPOOL_IDEM_TTL)
		goto done;	/* empty: an aborted or crashed request */
	gone = unlinkat(sp->idem, name, 0) == 0;
done:
	close(fd);
	return gone;
}

int
spool_idem_purge(struct spool *sp, time_t now)
{
	struct dirent	*de;
	DIR		*d;
	size_t		 len;
	int		 n = 0;

	if ((d = spool_dir_open(sp->idem)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len != IDEM_NAME_LEN ||
		    strspn(de->d_name, "0123456789abcdef") != len)
			continue;
		n += idem_purge_one(sp, de->d_name, now);
	}
	(void)closedir(d);
	return n;
}
