/*
 * spool: job files and their states.  The layout, the state table and the
 * race rules are in spool.h and spool(5).
 *
 * Every operation works through directory fds opened once
 * (O_DIRECTORY|O_CLOEXEC) with openat/renameat/unlinkat, so no path is
 * ever built from a job id beyond the id itself.
 */
#define _GNU_SOURCE		/* renameat2 */
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"

#define LOCK_NAME	"spoold.lock"
#define IDEM_NAME_LEN	64
#define IDEM_LINE_MAX	(SPOOL_ID_LEN + 1 + 64 + 1 + 24 + 2)

static const char *const state_names[SPOOL_NSTATES] = {
	"pending", "processing", "held", "failed"
};

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
	int		 dir[SPOOL_NSTATES];
	int		 lockfd;
	int		 dirty;		/* processing/ has unsynced unlinks */
	struct gsync	 pending_sync;
};

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

static int
write_all(int fd, const void *p, size_t len)
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

static int
checked_close(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		return -1;
	return 0;
}

static void
close_keep_errno(int fd)
{
	int	saved = errno;

	if (fd != -1)
		close(fd);
	errno = saved;
}

/* ---- ids and time ---- */

time_t
spool_now(void)
{
	struct timespec	ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return time(NULL);
	return ts.tv_sec;
}

int
spool_id_new(char id[SPOOL_ID_LEN + 1])
{
	struct timespec		 ts;
	unsigned long long	 us;
	uint64_t		 r;
	int			 n;

	if (clock_gettime(CLOCK_REALTIME, &ts) == -1)
		return -1;
	us = (unsigned long long)ts.tv_sec * 1000000ULL + ts.tv_nsec / 1000;
	if (us >= (1ULL << 52)) {
		errno = EOVERFLOW;
		return -1;
	}
	arc4random_buf(&r, sizeof(r));
	n = snprintf(id, SPOOL_ID_LEN + 1, "%013llx-%016llx", us,
	    (unsigned long long)r);
	if (n != SPOOL_ID_LEN) {
		errno = EOVERFLOW;
		return -1;
	}
	return 0;
}

static int
ishex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

int
spool_id_valid(const char *id)
{
	size_t	i;

	if (id == NULL)
		return 0;
	for (i = 0; i < SPOOL_ID_LEN; i++) {
		if (i == 13) {
			if (id[i] != '-')
				return 0;
		} else if (!ishex((unsigned char)id[i]))
			return 0;
	}
	return id[SPOOL_ID_LEN] == '\0';
}

unsigned long long
spool_id_usec(const char *id)
{
	if (!spool_id_valid(id))
		return 0;
	return strtoull(id, NULL, 16);	/* stops at the '-' */
}

const char *
spool_state_name(int state)
{
	if (state < 0 || state >= SPOOL_NSTATES)
		return "unknown";
	return state_names[state];
}

int
spool_state_parse(const char *s)
{
	int	i;

	for (i = 0; i < SPOOL_NSTATES; i++)
		if (strcmp(s, state_names[i]) == 0)
			return i;
	return -1;
}

/* ---- open / close ---- */

static int
open_subdir(int root, const char *name, int create)
{
	if (create && mkdirat(root, name, 0700) == -1 && errno != EEXIST)
		return -1;
	return openat(root, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
}

static void
gsync_init(struct gsync *g)
{
	pthread_mutex_init(&g->mtx, NULL);
	pthread_cond_init(&g->cond, NULL);
	g->started = g->done = 0;
	g->running = g->err = 0;
}

static struct spool *
spool_open_flags(const char *dir, int create)
{
	struct spool	*sp;
	int		 i;

	if ((sp = calloc(1, sizeof(*sp))) == NULL)
		return NULL;
	sp->root = sp->tmp = sp->idem = sp->lockfd = -1;
	for (i = 0; i < SPOOL_NSTATES; i++)
		sp->dir[i] = -1;
	gsync_init(&sp->pending_sync);
	if ((sp->path = strdup(dir)) == NULL)
		goto fail;
	if (create && mkdir(dir, 0700) == -1 && errno != EEXIST)
		goto fail;
	if ((sp->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		goto fail;
	if ((sp->tmp = open_subdir(sp->root, "tmp", create)) == -1 ||
	    (sp->idem = open_subdir(sp->root, "idem", create)) == -1)
		goto fail;
	for (i = 0; i < SPOOL_NSTATES; i++)
		if ((sp->dir[i] = open_subdir(sp->root, state_names[i],
		    create)) == -1)
			goto fail;
	return sp;
fail:
	spool_close(sp);
	return NULL;
}

struct spool *
spool_open(const char *dir)
{
	return spool_open_flags(dir, 1);
}

struct spool *
spool_attach(const char *dir)
{
	return spool_open_flags(dir, 0);
}

int
spool_owner(struct spool *sp, uid_t *uid, gid_t *gid)
{
	struct stat	st;

	if (fstat(sp->root, &st) == -1)
		return -1;
	*uid = st.st_uid;
	*gid = st.st_gid;
	return 0;
}

void
spool_close(struct spool *sp)
{
	int	i, saved = errno;

	if (sp == NULL)
		return;
	if (sp->dirty)
		spool_sync(sp);
	if (sp->root != -1)
		close(sp->root);
	if (sp->tmp != -1)
		close(sp->tmp);
	if (sp->idem != -1)
		close(sp->idem);
	if (sp->lockfd != -1)
		close(sp->lockfd);
	for (i = 0; i < SPOOL_NSTATES; i++)
		if (sp->dir[i] != -1)
			close(sp->dir[i]);
	free(sp->path);
	pthread_mutex_destroy(&sp->pending_sync.mtx);
	pthread_cond_destroy(&sp->pending_sync.cond);
	free(sp);
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

/* ---- writing job files ---- */

static int
env_header(struct sbuf *b, const struct spool_env *env, int attempts,
    const char *error)
{
	char	num[32];
	size_t	i;

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
	(void)snprintf(num, sizeof(num), "%d", attempts);
	if (sbuf_kv(b, "subject", env->subject) == -1 ||
	    sbuf_kv(b, "attempts", num) == -1)
		return -1;
	if (error != NULL && (sbuf_add(b, "error ", 6) == -1 ||
	    sbuf_add(b, error, strlen(error)) == -1 ||
	    sbuf_add(b, "\n", 1) == -1))
		return -1;
	return sbuf_add(b, "\n", 1);
}

/* Escapes an error text into one header-safe line. */
static char *
error_escape(const char *s)
{
	struct sbuf	b = { NULL, 0, 0 };
	char		hx[5];
	size_t		n = 0;
	unsigned char	c;

	if (sbuf_add(&b, "", 0) == -1)
		return NULL;
	for (; *s != '\0' && n < SPOOL_ERROR_MAX; s++, n++) {
		c = (unsigned char)*s;
		if (c == '\\')
			(void)snprintf(hx, sizeof(hx), "\\\\");
		else if (c == '\n')
			(void)snprintf(hx, sizeof(hx), "\\n");
		else if (c == '\r')
			(void)snprintf(hx, sizeof(hx), "\\r");
		else if (c == '\t')
			(void)snprintf(hx, sizeof(hx), "\\t");
		else if (c < 0x20 || c >= 0x7f)
			(void)snprintf(hx, sizeof(hx), "\\x%02x", c);
		else {
			hx[0] = (char)c;
			hx[1] = '\0';
		}
		if (sbuf_add(&b, hx, strlen(hx)) == -1) {
			free(b.p);
			return NULL;
		}
	}
	return b.p;
}

static int
unhex(int c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

/* Reverses error_escape in place; -1 on a malformed escape. */
static int
error_unescape(char *s)
{
	char	*w = s;

	for (; *s != '\0'; s++) {
		if (*s != '\\') {
			*w++ = *s;
			continue;
		}
		switch (*++s) {
		case '\\': *w++ = '\\'; break;
		case 'n': *w++ = '\n'; break;
		case 'r': *w++ = '\r'; break;
		case 't': *w++ = '\t'; break;
		case 'x':
			if (!ishex((unsigned char)s[1]) ||
			    !ishex((unsigned char)s[2]) ||
			    (s[1] == '0' && s[2] == '0'))
				return -1;
			*w++ = (char)(unhex(s[1]) * 16 + unhex(s[2]));
			s += 2;
			break;
		default:
			return -1;
		}
	}
	*w = '\0';
	return 0;
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
		if (write_all(out, buf, n) == -1)
			return -1;
		off += n;
		len -= n;
	}
	return 0;
}

static void
unlink_keep_errno(int dfd, const char *name)
{
	int	saved = errno;

	(void)unlinkat(dfd, name, 0);
	errno = saved;
}

/* Writes the message: msg/len, or len bytes of src from off. */
static int
write_body(int fd, const void *msg, size_t len, int src, off_t off)
{
	if (src == -1)
		return write_all(fd, msg, len);
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
	struct sbuf	 b = { NULL, 0, 0 };
	char		*eerr = NULL;
	int		 fd = -1, created = 0;

	if (!spool_id_valid(env->id)) {
		errno = EINVAL;
		return -1;
	}
	if (error != NULL && (eerr = error_escape(error)) == NULL)
		return -1;
	if (env_header(&b, env, attempts, eerr) == -1)
		goto fail;
	if ((fd = openat(sp->tmp, env->id, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		goto fail;
	created = 1;
	if (write_all(fd, b.p, b.len) == -1 ||
	    write_body(fd, msg, len, src, off) == -1 ||
	    (mtime != 0 && set_mtime(fd, mtime) == -1) || fsync(fd) == -1)
		goto fail;
	if (checked_close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	free(b.p);
	free(eerr);
	return 0;
fail:
	close_keep_errno(fd);
	if (created)
		unlink_keep_errno(sp->tmp, env->id);
	free(b.p);
	free(eerr);
	return -1;
}

int
spool_enqueue(struct spool *sp, const struct spool_env *env, const void *msg,
    size_t len)
{
	if (tmp_write(sp, env, 0, NULL, msg, len, -1, 0, 0) == -1)
		return -1;
	if (renameat2(sp->tmp, env->id, sp->dir[SPOOL_PENDING], env->id,
	    RENAME_NOREPLACE) == -1) {
		unlink_keep_errno(sp->tmp, env->id);
		return -1;
	}
	/*
	 * The rename is the commit point: from here on the job is spoold's.
	 * It is durable once pending/ is synced; if that fails, take the job
	 * back (unless spoold has already claimed it).
	 */
	if (gsync_fsync(&sp->pending_sync, sp->dir[SPOOL_PENDING]) == -1) {
		unlink_keep_errno(sp->dir[SPOOL_PENDING], env->id);
		return -1;
	}
	return 0;
}

/* ---- counting and health ---- */

static int
state_dir(struct spool *sp, const char *state)
{
	int	s;

	if (strcmp(state, "tmp") == 0)
		return sp->tmp;
	if ((s = spool_state_parse(state)) == -1) {
		errno = EINVAL;
		return -1;
	}
	return sp->dir[s];
}

/* opendir on a dup of dfd, so the spool's own fd stays open. */
static DIR *
dir_open(int dfd)
{
	DIR	*d;
	int	 fd;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close_keep_errno(fd);
	return d;
}

long
spool_count(struct spool *sp, const char *state)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;
	int		 dfd;

	if ((dfd = state_dir(sp, state)) == -1)
		return -1;
	if ((d = dir_open(dfd)) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (spool_id_valid(de->d_name))
			n++;
	}
	if (errno != 0)
		n = -1;
	{
		int saved = errno;
		(void)closedir(d);
		errno = saved;
	}
	return n;
}

int
spool_writable(struct spool *sp)
{
	char	name[64];
	int	fd;

	(void)snprintf(name, sizeof(name), ".probe-%ld-%08x", (long)getpid(),
	    arc4random());
	if ((fd = openat(sp->tmp, name, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return 0;
	if (write_all(fd, "x", 1) == -1) {
		close(fd);
		(void)unlinkat(sp->tmp, name, 0);
		return 0;
	}
	if (checked_close(fd) == -1) {
		(void)unlinkat(sp->tmp, name, 0);
		return 0;
	}
	return unlinkat(sp->tmp, name, 0) == 0;
}

int
spool_daemon_running(struct spool *sp)
{
	struct flock	fl;
	int		fd, r;

	if ((fd = openat(sp->root, LOCK_NAME, O_RDONLY | O_NOFOLLOW |
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

time_t
spool_oldest_due(struct spool *sp, time_t now)
{
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	unsigned long long	 us, best = 0;

	if ((d = dir_open(sp->dir[SPOOL_PENDING])) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		if ((us = spool_id_usec(de->d_name)) == 0)
			continue;
		if (best != 0 && us >= best)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW)
		    == -1 || st.st_mtime > now)
			continue;
		best = us;
	}
	(void)closedir(d);
	return (time_t)(best / 1000000ULL);
}

/* ---- idempotency keys ---- */

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

static void
idem_name(const char *caller, const char *key, char out[IDEM_NAME_LEN + 1])
{
	SHA2_CTX	ctx;
	unsigned char	md[SHA256_DIGEST_LENGTH];

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const uint8_t *)caller, strlen(caller) + 1);
	SHA256Update(&ctx, (const uint8_t *)key, strlen(key));
	SHA256Final(md, &ctx);
	hex(md, sizeof(md), out);
}

/*
 * Parses "<jobid> <hexhash> <time>\n".  Returns 1 for a record, 0 for an
 * empty or malformed file (no record).
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
	    p[tl] != '\n' || p[tl + 1] != '\0')
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

/* Opens and locks idem/<name>; retries if a purge unlinked it meanwhile. */
static int
idem_lock(struct spool *sp, const char *name)
{
	struct stat	st;
	int		fd;

	for (;;) {
		if ((fd = openat(sp->idem, name, O_RDWR | O_CREAT |
		    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
			return -1;
		while (flock(fd, LOCK_EX) == -1) {
			if (errno != EINTR) {
				close_keep_errno(fd);
				return -1;
			}
		}
		if (fstat(fd, &st) == -1) {
			close_keep_errno(fd);
			return -1;
		}
		if (st.st_nlink > 0)
			return fd;
		close(fd);		/* purged under us: open again */
	}
}

int
spool_idem_begin(struct spool *sp, const char *caller, const char *key,
    const unsigned char bodyhash[32], struct spool_idem *h,
    char id[SPOOL_ID_LEN + 1])
{
	char	name[IDEM_NAME_LEN + 1], buf[IDEM_LINE_MAX + 16];
	char	rid[SPOOL_ID_LEN + 1], rhash[65], want[65];
	time_t	when, now;
	int	fd;

	h->fd = -1;
	idem_name(caller, key, name);
	if ((fd = idem_lock(sp, name)) == -1)
		return -1;
	now = spool_now();	/* after the wait for the lock */
	if (read_small(fd, buf, sizeof(buf)) == -1) {
		close_keep_errno(fd);
		return -1;
	}
	if (idem_parse(buf, rid, rhash, &when) && when <= now &&
	    now - when < SPOOL_IDEM_TTL) {
		close(fd);
		hex(bodyhash, 32, want);
		if (strcmp(want, rhash) != 0)
			return SPOOL_IDEM_CONFLICT;
		memcpy(id, rid, sizeof(rid));
		return SPOOL_IDEM_DUP;
	}
	h->fd = fd;
	memcpy(h->hash, bodyhash, sizeof(h->hash));
	return SPOOL_IDEM_NEW;
}

int
spool_idem_commit(struct spool_idem *h, const char *id)
{
	char	line[IDEM_LINE_MAX], hx[65];
	int	n, fd = h->fd;

	h->fd = -1;
	if (fd == -1 || !spool_id_valid(id)) {
		close_keep_errno(fd);
		errno = EINVAL;
		return -1;
	}
	hex(h->hash, sizeof(h->hash), hx);
	n = snprintf(line, sizeof(line), "%s %s %lld\n", id, hx,
	    (long long)spool_now());
	if (n < 0 || (size_t)n >= sizeof(line)) {
		close(fd);
		errno = EOVERFLOW;
		return -1;
	}
	if (ftruncate(fd, 0) == -1 || pwrite(fd, line, n, 0) != n ||
	    fsync(fd) == -1) {
		close_keep_errno(fd);
		return -1;
	}
	return checked_close(fd);
}

void
spool_idem_abort(struct spool_idem *h)
{
	if (h->fd != -1)
		close_keep_errno(h->fd);
	h->fd = -1;
}

/* Unlinks idem/<name> if it is unlocked and holds nothing younger than 24h. */
static int
idem_purge_one(struct spool *sp, const char *name, time_t now)
{
	char		buf[IDEM_LINE_MAX + 16], rid[SPOOL_ID_LEN + 1];
	char		rhash[65];
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

	if ((d = dir_open(sp->idem)) == NULL)
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

/* ---- reading job files ---- */

static int
bad_job(void)
{
	errno = EBADMSG;
	return -1;
}

/*
 * If buf[0, got) holds the whole header, copies it NUL-terminated (without
 * the empty line) into job->hdr, sets msg_off and returns 1; 0 if not yet.
 */
static int
header_copy(struct spool_job *job, const char *buf, size_t got)
{
	const char	*end;
	size_t		 hlen;

	if ((end = memmem(buf, got, "\n\n", 2)) == NULL)
		return 0;
	hlen = end - buf + 1;
	if (memchr(buf, '\0', hlen) != NULL) {
		errno = EBADMSG;
		return -1;
	}
	if ((job->hdr = malloc(hlen + 1)) == NULL)
		return -1;
	memcpy(job->hdr, buf, hlen);
	job->hdr[hlen] = '\0';
	job->msg_off = (off_t)hlen + 1;
	return 1;
}

/* Reads the header of job->fd in growing chunks. */
static int
read_header(struct spool_job *job)
{
	char	*buf = NULL, *nb;
	size_t	 limit, cap = 0, got = 0;
	ssize_t	 n;
	int	 r = 0;

	limit = job->size < SPOOL_HDR_MAX ? (size_t)job->size : SPOOL_HDR_MAX;
	while (r == 0 && got < limit) {
		if (got == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > limit)
				cap = limit;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if ((n = pread(job->fd, buf + got, cap - got, (off_t)got)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		got += n;
		if ((r = header_copy(job, buf, got)) == -1)
			goto fail;
	}
	free(buf);
	if (r == 1)
		return 0;
	errno = EBADMSG;
	return -1;
fail:
	free(buf);
	return -1;
}

static int
parse_num(const char *s, long long max, long long *out)
{
	const char	*errstr;

	*out = strtonum(s, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* One "key value" line into job; seen tracks keys that may appear once. */
static int
parse_line(struct spool_job *job, char *line, unsigned *seen)
{
	static const char *const keys[] = { "id", "created", "caller",
	    "message-id", "sender", "subject", "attempts", "error" };
	char		*val;
	long long	 n;
	unsigned	 k;

	if ((val = strchr(line, ' ')) == NULL)
		return bad_job();
	*val++ = '\0';
	if (strcmp(line, "rcpt") == 0) {
		if (*val == '\0')
			return bad_job();
		job->rcptv[job->env.nrcpt++] = val;
		return 0;
	}
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(line, keys[k]) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0]) || (*seen & (1U << k)))
		return bad_job();
	*seen |= 1U << k;
	switch (k) {
	case 0:
		if (strcmp(val, job->id) != 0)
			return bad_job();
		job->env.id = job->id;
		break;
	case 1:
		if (parse_num(val, LLONG_MAX, &n) == -1)
			return bad_job();
		job->env.created = (time_t)n;
		break;
	case 2: job->env.caller = val; break;
	case 3: job->env.message_id = val; break;
	case 4: job->env.sender = val; break;
	case 5: job->env.subject = val; break;
	case 6:
		if (parse_num(val, SPOOL_ATTEMPTS_MAX, &n) == -1)
			return bad_job();
		job->attempts = (int)n;
		break;
	case 7:
		if (error_unescape(val) == -1)
			return bad_job();
		job->error = val;
		break;
	}
	return 0;
}

#define REQUIRED_KEYS	0x7fU	/* all but error */

static int
parse_header(struct spool_job *job)
{
	char		*p, *nl;
	size_t		 nrcpt = 0;
	unsigned	 seen = 0;

	if (strncmp(job->hdr, "mail-relay-job 1\n", 17) != 0)
		return bad_job();
	for (p = job->hdr; (p = strstr(p, "\nrcpt ")) != NULL; p++)
		nrcpt++;
	if ((job->rcptv = calloc(nrcpt + 1, sizeof(char *))) == NULL)
		return -1;
	job->env.rcpt = job->rcptv;
	for (p = job->hdr + 17; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			return bad_job();
		*nl = '\0';
		if (strchr(p, '\r') != NULL || parse_line(job, p, &seen) == -1)
			return bad_job();
	}
	if ((seen & REQUIRED_KEYS) != REQUIRED_KEYS || job->env.nrcpt == 0 ||
	    *job->env.caller == '\0' || *job->env.message_id == '\0')
		return bad_job();
	return 0;
}

int
spool_read(struct spool *sp, int state, const char *id, struct spool_job *job)
{
	struct stat	st;

	memset(job, 0, sizeof(*job));
	job->fd = -1;
	if (state < 0 || state >= SPOOL_NSTATES || !spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(job->id, id, sizeof(job->id));
	job->state = state;
	if ((job->fd = openat(sp->dir[state], id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ELOOP)
			errno = EBADMSG;	/* a symlink is not a job */
		return -1;
	}
	if (fstat(job->fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EBADMSG;
		goto fail;
	}
	job->size = st.st_size;
	job->next = st.st_mtime;
	if (read_header(job) == -1 || parse_header(job) == -1)
		goto fail;
	return 0;
fail:
	spool_job_free(job);
	return -1;
}

int
spool_job_parse(struct spool_job *job, const char *id, const void *buf,
    size_t len)
{
	int	r;

	memset(job, 0, sizeof(*job));
	job->fd = -1;
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(job->id, id, sizeof(job->id));
	job->size = (off_t)len;
	r = header_copy(job, buf, len < SPOOL_HDR_MAX ? len : SPOOL_HDR_MAX);
	if (r == 0)
		errno = EBADMSG;
	if (r != 1 || parse_header(job) == -1) {
		spool_job_free(job);
		return -1;
	}
	return 0;
}

void
spool_job_free(struct spool_job *job)
{
	int	saved = errno;

	if (job->fd != -1)
		close(job->fd);
	free(job->hdr);
	free(job->rcptv);
	job->fd = -1;
	job->hdr = NULL;
	job->rcptv = NULL;
	errno = saved;
}

/* ---- listing ---- */

static int
entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_entry *)a)->id,
	    ((const struct spool_entry *)b)->id);
}

int
spool_scan(struct spool *sp, int state, struct spool_entry **vp, size_t *np)
{
	struct spool_entry	*v = NULL, *nv;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	size_t			 n = 0, cap = 0;

	if (state < 0 || state >= SPOOL_NSTATES) {
		errno = EINVAL;
		return -1;
	}
	if ((d = dir_open(sp->dir[state])) == NULL)
		return -1;
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (!spool_id_valid(de->d_name) || fstatat(dirfd(d),
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;	/* gone meanwhile */
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		memcpy(v[n].id, de->d_name, sizeof(v[n].id));
		v[n++].due = st.st_mtime;
	}
	if (errno != 0)
		goto fail;
	(void)closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), entry_cmp);
	*vp = v;
	*np = n;
	return 0;
fail:
	free(v);
	{
		int saved = errno;
		(void)closedir(d);
		errno = saved;
	}
	return -1;
}

int
spool_stat(struct spool *sp, int state, const char *id, time_t *due)
{
	struct stat	st;

	if (state < 0 || state >= SPOOL_NSTATES || !spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (fstatat(sp->dir[state], id, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	*due = st.st_mtime;
	return 0;
}

int
spool_find(struct spool *sp, const char *id)
{
	struct stat	st;
	int		i;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < SPOOL_NSTATES; i++)
		if (fstatat(sp->dir[i], id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return i;
	errno = ENOENT;
	return -1;
}

/* ---- spoold ---- */

int
spool_lock(struct spool *sp)
{
	struct flock	fl;
	char		pid[32];
	int		fd, n;

	if ((fd = openat(sp->root, LOCK_NAME, O_RDWR | O_CREAT | O_NOFOLLOW |
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
		close_keep_errno(fd);
		return -1;
	}
	/* The pid is for people; the lock is what counts. */
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == -1 || pwrite(fd, pid, n, 0) != n) {
		close_keep_errno(fd);
		return -1;
	}
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

	if ((d = dir_open(dfd)) == NULL)
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
	if (sp->lockfd != -1 && fchown(sp->lockfd, uid, gid) == -1)
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
	    state_names[SPOOL_PENDING]);
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
	if (!sp->dirty)
		return 0;
	if (fsync(sp->dir[SPOOL_PROCESSING]) == -1)
		return -1;
	sp->dirty = 0;
	return 0;
}

/* Rewrites job (in processing/) into tmp/ with attempts + 1 and error. */
static int
rewrite_tmp(struct spool *sp, const struct spool_job *job, int attempts,
    const char *error, time_t mtime)
{
	(void)unlinkat(sp->tmp, job->id, 0);	/* a stale copy, if any */
	return tmp_write(sp, &job->env, attempts, error, NULL,
	    (size_t)(job->size - job->msg_off), job->fd, job->msg_off, mtime);
}

/* tmp/<id> -> <state>/<id>, fsync the target, unlink processing/<id>. */
static int
move_from_tmp(struct spool *sp, const char *id, int state)
{
	if (renameat(sp->tmp, id, sp->dir[state], id) == -1) {
		unlink_keep_errno(sp->tmp, id);
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
	if (rewrite_tmp(sp, job, job->attempts + 1, error, next) == -1)
		return -1;
	return move_from_tmp(sp, job->id, SPOOL_PENDING);
}

int
spool_fail(struct spool *sp, const struct spool_job *job, const char *error)
{
	if (rewrite_tmp(sp, job, job->attempts + 1, error, spool_now()) == -1)
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

	if ((d = dir_open(sp->tmp)) == NULL)
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

/* ---- spoolctl ---- */

/* spoolctl commands serialize among themselves on the spool root. */
static int
ctl_lock(struct spool *sp)
{
	while (flock(sp->root, LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

static void
ctl_unlock(struct spool *sp)
{
	int	saved = errno;

	(void)flock(sp->root, LOCK_UN);
	errno = saved;
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

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (ctl_lock(sp) == -1)
		return -1;
	r = move_state(sp, id, SPOOL_PENDING, SPOOL_HELD);
	ctl_unlock(sp);
	return r;
}

int
spool_release(struct spool *sp, const char *id)
{
	int	r = -1;

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (ctl_lock(sp) == -1)
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
	if (rewrite_tmp(sp, &job, 0, job.error, spool_now()) == -1)
		goto done;
	if (renameat(sp->tmp, id, sp->dir[state], id) == -1) {
		unlink_keep_errno(sp->tmp, id);
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

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (ctl_lock(sp) == -1)
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

	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (ctl_lock(sp) == -1)
		return -1;
	if ((state = spool_find(sp, id)) == -1)
		goto done;
	if (statep != NULL)
		*statep = state;
	if (state == SPOOL_PROCESSING) {
		errno = EBUSY;
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
