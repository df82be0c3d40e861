/*
 * spool: ids and states, opening and closing a spool, counts, health and
 * listings.  The layout, the state table and the race rules are in spool.h
 * and spool(5).
 *
 * Every operation works through directory fds opened once
 * (O_DIRECTORY|O_CLOEXEC) with openat/renameat/unlinkat, so no path is
 * ever built from a job id beyond the id itself.
 */
#include <sys/stat.h>

#include <dirent.h>
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

static const char *const state_names[SPOOL_NSTATES] = {
	"pending", "processing", "held", "failed", "sent", "canceled"
};

int
spool_checked_close(int fd)
{
	if (close(fd) == -1 && errno != EINTR)
		return -1;
	return 0;
}

void
spool_close_keep_errno(int fd)
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

int
spool_ishex(int c)
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
		} else if (!spool_ishex((unsigned char)id[i]))
			return 0;
	}
	return id[SPOOL_ID_LEN] == '\0';
}

int
spool_tag_valid(const char *s)
{
	size_t	i;

	if (s == NULL)
		return 0;
	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '-') || i >= SPOOL_TAG_MAX)
			return 0;
	return i > 0;
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
	sp->qid = sp->suppress = sp->tracklockfd = sp->batch = -1;
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
		    create)) == -1 && ((i != SPOOL_SENT &&
		    i != SPOOL_CANCELED) || create || errno != ENOENT))
			goto fail;
	/* Attaching to a spool from before delivery records: absent. */
	if (((sp->qid = open_subdir(sp->root, "qid", create)) == -1 ||
	    (sp->suppress = open_subdir(sp->root, "suppress", create)) == -1)
	    && (create || errno != ENOENT))
		goto fail;
	if ((sp->batch = open_subdir(sp->root, "batch", create)) == -1 &&
	    (create || errno != ENOENT))
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
	if (sp->dirty || sp->sent_dirty)
		spool_sync(sp);
	if (sp->root != -1)
		close(sp->root);
	if (sp->tmp != -1)
		close(sp->tmp);
	if (sp->idem != -1)
		close(sp->idem);
	if (sp->lockfd != -1)
		close(sp->lockfd);
	if (sp->tracklockfd != -1)
		close(sp->tracklockfd);
	if (sp->qid != -1)
		close(sp->qid);
	if (sp->suppress != -1)
		close(sp->suppress);
	if (sp->batch != -1)
		close(sp->batch);
	for (i = 0; i < SPOOL_NSTATES; i++)
		if (sp->dir[i] != -1)
			close(sp->dir[i]);
	free(sp->path);
	pthread_mutex_destroy(&sp->pending_sync.mtx);
	pthread_cond_destroy(&sp->pending_sync.cond);
	free(sp);
	errno = saved;
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
	if (sp->dir[s] == -1)
		errno = ENOENT;		/* sent/ of an old spool, attached */
	return sp->dir[s];
}

/* opendir on a dup of dfd, so the spool's own fd stays open. */
DIR *
spool_dir_open(int dfd)
{
	DIR	*d;
	int	 fd;

	if ((fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		spool_close_keep_errno(fd);
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
		return errno == ENOENT ? 0 : -1;
	if ((d = spool_dir_open(dfd)) == NULL)
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
	if (spool_write_all(fd, "x", 1) == -1) {
		close(fd);
		(void)unlinkat(sp->tmp, name, 0);
		return 0;
	}
	if (spool_checked_close(fd) == -1) {
		(void)unlinkat(sp->tmp, name, 0);
		return 0;
	}
	return unlinkat(sp->tmp, name, 0) == 0;
}

int
spool_daemon_running(struct spool *sp)
{
	return spool_pidlock_held(sp, SPOOL_LOCK_NAME);
}

/* When job id, due at mtime, became due: creation or scheduled time. */
static time_t
due_since(struct spool *sp, const char *id, time_t mtime)
{
	struct spool_job	job;
	time_t			created = (time_t)(spool_id_usec(id) / 1000000ULL);
	time_t			t = created;

	/* Written due later than created: scheduled, or deferred. */
	if (mtime > created + 1 && spool_read(sp, SPOOL_PENDING, id, &job) == 0) {
		if (job.env.scheduled > created)
			t = job.env.scheduled;
		spool_job_free(&job);
	}
	return t;
}

time_t
spool_oldest_due(struct spool *sp, time_t now)
{
	struct spool_entry	*v;
	size_t			 n, i;
	time_t			 best = 0, t;

	if (spool_scan(sp, SPOOL_PENDING, &v, &n) == -1)	/* oldest first */
		return 0;
	for (i = 0; i < n; i++) {
		if (v[i].due > now)
			continue;
		t = (time_t)(spool_id_usec(v[i].id) / 1000000ULL);
		if (best != 0 && t >= best)
			break;		/* created later than the best's due */
		t = due_since(sp, v[i].id, v[i].due);
		if (best == 0 || t < best)
			best = t;
	}
	free(v);
	return best;
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
	if (sp->dir[state] == -1) {	/* sent/ of an old spool, attached */
		*vp = NULL;
		*np = 0;
		return 0;
	}
	if ((d = spool_dir_open(sp->dir[state])) == NULL)
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
	if (sp->dir[state] == -1) {
		errno = ENOENT;
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
		if (sp->dir[i] != -1 &&
		    fstatat(sp->dir[i], id, &st, AT_SYMLINK_NOFOLLOW) == 0)
			return i;
	errno = ENOENT;
	return -1;
}
