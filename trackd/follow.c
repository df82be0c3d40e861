/*
 * follow: a log file followed through rotation; see follow.h.
 *
 * Watches: the directory (the name created, moved or deleted), the file
 * being read (grown, moved, unlinked), and, after a rename rotation
 * while the new file is still empty, the new file (its first write is the
 * moment to switch).  The file being read is watched through
 * /proc/self/fd/N, so the watch is on the inode that was opened even if
 * the name moved meanwhile.  Reads are pread(2) at the follower's own
 * offset: a line a callback refused is simply read again.
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "follow.h"
#include "log.h"

#define DIR_MASK	(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | \
			 IN_ONLYDIR)
#define FILE_MASK	(IN_MODIFY | IN_MOVE_SELF | IN_DELETE_SELF | IN_ATTRIB)

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
open_log(const char *path, struct stat *st)
{
	int	fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK))
	    == -1)
		return -1;
	if (fstat(fd, st) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

/* Offset after the last newline of the file (0 if it has none). */
static off_t
after_last_newline(int fd, off_t size)
{
	char	buf[4096];
	off_t	at = size;
	ssize_t	n, i;

	while (at > 0) {
		n = at < (off_t)sizeof(buf) ? (ssize_t)at : (ssize_t)sizeof(buf);
		if (pread(fd, buf, (size_t)n, at - n) != n)
			return size;
		for (i = n - 1; i >= 0; i--)
			if (buf[i] == '\n')
				return at - n + i + 1;
		at -= n;
	}
	return 0;
}

static void
attach(struct follow *f, int fd, const struct stat *st, off_t start)
{
	char	proc[64];

	f->fd = fd;
	f->dev = st->st_dev;
	f->ino = st->st_ino;
	f->rd = f->lstart = start;
	f->tail[0] = '\n';	/* all a restart knows: start ends a line */
	f->ntail = start > 0;
	f->len = 0;
	f->skip = 0;
	f->check_trunc = 1;
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	if ((f->wd_file = inotify_add_watch(f->inofd, proc, FILE_MASK)) == -1)
		log_warn("inotify watch on %s", f->path);
}

static void
detach(struct follow *f)
{
	if (f->wd_file != -1 && f->wd_file != f->wd_dir &&
	    f->wd_file != f->wd_next)
		(void)inotify_rm_watch(f->inofd, f->wd_file);
	f->wd_file = -1;
	if (f->fd != -1)
		close(f->fd);
	f->fd = -1;
	f->len = 0;
	f->skip = 0;
}

static void
unwatch_next(struct follow *f)
{
	if (f->wd_next != -1 && f->wd_next != f->wd_file)
		(void)inotify_rm_watch(f->inofd, f->wd_next);
	f->wd_next = -1;
}

/*
 * The file of a saved position, renamed by a rotation while nobody read
 * it: a sibling whose name starts with the log's (mail.log.1,
 * mail.log-20261201) and whose inode is the saved one.  Its fd, or -1.
 */
static int
find_rotated(struct follow *f, const struct spool_track_pos *pos,
    struct stat *st, char *name, size_t size)
{
	DIR		*d;
	struct dirent	*de;
	size_t		 blen = strlen(f->base);
	char		 path[PATH_MAX];
	int		 fd = -1;

	if ((d = opendir(f->dir)) == NULL)
		return -1;
	while (fd == -1 && (de = readdir(d)) != NULL) {
		if ((unsigned long long)de->d_ino != pos->ino ||
		    strncmp(de->d_name, f->base, blen) != 0 ||
		    de->d_name[blen] == '\0')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", f->dir,
		    de->d_name) >= sizeof(path))
			continue;
		if ((fd = open_log(path, st)) == -1)
			continue;
		if ((unsigned long long)st->st_dev != pos->dev ||
		    (unsigned long long)st->st_ino != pos->ino) {
			close(fd);
			fd = -1;
			continue;
		}
		(void)snprintf(name, size, "%s", de->d_name);
	}
	closedir(d);
	return fd;
}

static int
split_path(struct follow *f, const char *path)
{
	char	tmp[PATH_MAX];

	if (snprintf(f->path, sizeof(f->path), "%s", path) >=
	    (int)sizeof(f->path) || path[0] == '\0') {
		errno = ENAMETOOLONG;
		return -1;
	}
	(void)snprintf(tmp, sizeof(tmp), "%s", path);
	(void)snprintf(f->base, sizeof(f->base), "%s", basename(tmp));
	(void)snprintf(tmp, sizeof(tmp), "%s", path);
	(void)snprintf(f->dir, sizeof(f->dir), "%s", dirname(tmp));
	if (f->base[0] == '\0' || strcmp(f->base, "/") == 0 ||
	    strcmp(f->base, ".") == 0 || strcmp(f->base, "..") == 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* Where a restart goes on: the saved file, its rotated self, or 0. */
static void
resume(struct follow *f, const struct spool_track_pos *pos, int fd,
    const struct stat *st)
{
	struct stat	ost;
	char		name[NAME_MAX + 1];
	int		ofd;

	f->seq = pos->seq;
	if (fd != -1 && (unsigned long long)st->st_dev == pos->dev &&
	    (unsigned long long)st->st_ino == pos->ino) {
		attach(f, fd, st, (off_t)pos->offset);
		f->resumed = 1;
		return;
	}
	if (pos->ino != 0 &&
	    (ofd = find_rotated(f, pos, &ost, name, sizeof(name))) != -1) {
		log_info("%s was rotated while stopped: reading %s/%s to its "
		    "end first", f->path, f->dir, name);
		if (fd != -1)
			close(fd);
		attach(f, ofd, &ost, (off_t)pos->offset);
		f->resumed = 1;
		f->check_name = 1;
		return;
	}
	if (pos->ino != 0) {
		log_warnx("%s was rotated while stopped and the old file is "
		    "gone: its lines after offset %llu are lost", f->path,
		    pos->offset);
		f->seq += FOLLOW_SEQ_JUMP;
		f->moved = 1;
	}
	if (fd != -1)
		attach(f, fd, st, 0);
}

int
follow_open(struct follow *f, const char *path,
    const struct spool_track_pos *pos)
{
	struct stat	st;
	int		fd;

	memset(f, 0, sizeof(*f));
	f->fd = f->inofd = f->wd_dir = f->wd_file = f->wd_next = -1;
	f->old_fd = f->wd_old = -1;
	if (split_path(f, path) == -1)
		return -1;
	if ((f->buf = malloc(FOLLOW_LINE_MAX)) == NULL)
		return -1;
	if ((f->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    (f->wd_dir = inotify_add_watch(f->inofd, f->dir, DIR_MASK)) == -1)
		goto fail;
	if ((fd = open_log(f->path, &st)) == -1 && errno != ENOENT)
		goto fail;
	if (pos != NULL)
		resume(f, pos, fd, &st);
	else if (fd != -1)
		attach(f, fd, &st, after_last_newline(fd, st.st_size));
	return 0;
fail:
	follow_close(f);
	return -1;
}

int
follow_fd(const struct follow *f)
{
	return f->inofd;
}

static void
read_events(struct follow *f)
{
	char			 buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			 n;
	char			*p;

	do {
		if ((n = read(f->inofd, buf, sizeof(buf))) <= 0)
			return;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW)
				f->check_name = f->check_trunc = 1;
			else if (ev->wd == f->wd_dir) {
				if (ev->len > 0 &&
				    strcmp(ev->name, f->base) == 0)
					f->check_name = 1;
			} else if (ev->wd == f->wd_file) {
				if (ev->mask & IN_MODIFY)
					f->check_trunc = 1;
				if (ev->mask & (IN_MOVE_SELF | IN_DELETE_SELF |
				    IN_ATTRIB))
					f->check_name = 1;
				if (ev->mask & IN_IGNORED)
					f->wd_file = -1;
			} else if (ev->wd == f->wd_old && f->wd_old != -1) {
				if (ev->mask & IN_MODIFY)
					f->old_until = now_ms() +
					    FOLLOW_LATE_MS;
				if (ev->mask & IN_IGNORED)
					f->wd_old = -1;
			} else if (ev->wd == f->wd_next) {
				f->check_name = 1;
				if (ev->mask & IN_IGNORED)
					f->wd_next = -1;
			}
		}
	} while ((size_t)n == sizeof(buf));
}

/*
 * copytruncate: the file is now shorter than what was read, or the bytes
 * just before the position are no longer the ones read there (it was
 * truncated and has grown back past the position meanwhile).  One pread(2)
 * of up to FOLLOW_TAIL bytes tells both.
 */
static void
check_truncated(struct follow *f)
{
	char	now[FOLLOW_TAIL];
	ssize_t	n;
	int	resumed;

	f->check_trunc = 0;
	resumed = f->resumed;
	f->resumed = 0;
	if (f->rd == 0 || f->ntail == 0)
		return;
	if ((n = pread(f->fd, now, f->ntail, f->rd - (off_t)f->ntail)) == -1 ||
	    ((size_t)n == f->ntail && memcmp(now, f->tail, f->ntail) == 0))
		return;
	/* what was written after lstart and before the truncation is gone */
	log_warnx("%s was truncated (copytruncate?): reading it from the "
	    "start; lines from byte %lld of the old content on were not read",
	    f->path, (long long)f->lstart);
	if (resumed)
		f->seq += FOLLOW_SEQ_JUMP;
	f->rd = f->lstart = 0;
	f->ntail = 0;
	f->len = 0;
	f->skip = 0;
	f->moved = 1;
}

/* The last bytes read (n of them, ending at buf + len) into tail. */
static void
keep_tail(struct follow *f, const char *end, size_t n)
{
	size_t	keep;

	if (n >= FOLLOW_TAIL) {
		memcpy(f->tail, end - FOLLOW_TAIL, FOLLOW_TAIL);
		f->ntail = FOLLOW_TAIL;
		return;
	}
	keep = f->ntail + n > FOLLOW_TAIL ? FOLLOW_TAIL - n : f->ntail;
	memmove(f->tail, f->tail + f->ntail - keep, keep);
	memcpy(f->tail + keep, end - n, n);
	f->ntail = keep + n;
}

/* Hands over the complete lines in buf; keeps the partial one. */
static int
take_lines(struct follow *f, follow_cb cb, void *arg)
{
	char	*p = f->buf, *end = f->buf + f->len, *nl;
	off_t	 base = f->rd - (off_t)f->len;
	int	 rc = 0;

	while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (!f->skip && cb(p, (size_t)(nl - p), f->seq + 1, 0, arg) == -1) {
			errno = ECANCELED;
			rc = -1;
			break;
		}
		f->skip = 0;
		f->seq++;
		p = nl + 1;
		f->lstart = base + (p - f->buf);
	}
	f->len = (size_t)(end - p);
	memmove(f->buf, p, f->len);
	return rc;
}

/* Reads to the end of the file (a short read is the end). */
static int
read_lines(struct follow *f, follow_cb cb, void *arg)
{
	size_t	want;
	ssize_t	n;

	for (;;) {
		if (take_lines(f, cb, arg) == -1)
			return -1;
		if (f->len == FOLLOW_LINE_MAX) {
			/* no newline in FOLLOW_LINE_MAX bytes: cut it */
			if (!f->skip &&
			    cb(f->buf, f->len, f->seq + 1, 0, arg) == -1) {
				errno = ECANCELED;
				return -1;
			}
			f->skip = 1;
			f->len = 0;
		}
		want = FOLLOW_LINE_MAX - f->len;
		n = pread(f->fd, f->buf + f->len, want, f->rd);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		f->rd += n;
		f->len += (size_t)n;
		keep_tail(f, f->buf + f->len, (size_t)n);
		if ((size_t)n < want)
			return take_lines(f, cb, arg);
	}
}

/* A last line without its newline, in a file nobody writes any more. */
static int
flush_partial(struct follow *f, follow_cb cb, void *arg)
{
	if (f->len > 0 && !f->skip &&
	    cb(f->buf, f->len, f->seq + 1, 0, arg) == -1) {
		errno = ECANCELED;
		return -1;
	}
	if (f->len > 0 || f->skip) {
		f->seq++;
		f->lstart = f->rd;
	}
	f->len = 0;
	f->skip = 0;
	return 0;
}

static void
drop_old(struct follow *f)
{
	if (f->wd_old != -1)
		(void)inotify_rm_watch(f->inofd, f->wd_old);
	if (f->old_fd != -1)
		close(f->old_fd);
	free(f->old_buf);
	f->old_buf = NULL;
	f->old_fd = f->wd_old = -1;
	f->old_until = 0;
}

/* The file being read becomes the old one, read for late lines. */
static void
keep_old(struct follow *f)
{
	drop_old(f);
	if ((f->old_buf = malloc(FOLLOW_LINE_MAX)) == NULL) {
		detach(f);
		return;
	}
	f->old_fd = f->fd;
	f->wd_old = f->wd_file;
	f->old_rd = f->rd;
	f->old_len = 0;
	f->old_until = now_ms() + FOLLOW_LATE_MS;
	f->fd = -1;		/* detach without closing or unwatching */
	f->wd_file = -1;
	f->len = 0;
	f->skip = 0;
}

/* Complete lines added to the old file since; each as late. */
static int
read_old(struct follow *f, follow_cb cb, void *arg)
{
	char	*p, *nl, *end;
	ssize_t	 n;

	for (;;) {
		n = pread(f->old_fd, f->old_buf + f->old_len,
		    FOLLOW_LINE_MAX - f->old_len, f->old_rd + f->old_len);
		if (n <= 0)
			break;
		f->old_len += (size_t)n;
		p = f->old_buf;
		end = f->old_buf + f->old_len;
		while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
			if (f->late_seq != f->seq) {
				f->late_seq = f->seq;
				f->late = 0;
			}
			if (cb(p, (size_t)(nl - p), f->seq, f->late + 1, arg)
			    == -1) {
				errno = ECANCELED;
				f->old_len = (size_t)(end - p);
				memmove(f->old_buf, p, f->old_len);
				return -1;
			}
			f->late++;
			f->old_rd += nl + 1 - p;
			p = nl + 1;
		}
		f->old_len = (size_t)(end - p);
		memmove(f->old_buf, p, f->old_len);
		if (f->old_len == FOLLOW_LINE_MAX) {
			f->old_rd += (off_t)f->old_len;	/* too long: dropped */
			f->old_len = 0;
		}
	}
	return 0;
}

/*
 * The name now names another file (or a file at last).  Switch once the
 * old file is read to its end and the new one has data: the writer has
 * reopened, nothing more comes to the old one.
 */
static int
check_name(struct follow *f, follow_cb cb, void *arg)
{
	struct stat	st;
	int		fd;

	f->check_name = 0;
	if (stat(f->path, &st) == -1 || !S_ISREG(st.st_mode))
		return 0;		/* gone: a new one will be created */
	if (f->fd != -1 && st.st_dev == f->dev && st.st_ino == f->ino)
		return 0;
	if (f->fd != -1 && st.st_size == 0) {
		if (f->wd_next == -1 && (f->wd_next = inotify_add_watch(
		    f->inofd, f->path, IN_MODIFY)) == -1)
			log_warn("inotify watch on the new %s", f->path);
		if (stat(f->path, &st) == -1 || st.st_size == 0)
			return 0;	/* else it had its first write */
	}
	if ((fd = open_log(f->path, &st)) == -1)
		return 0;
	if (f->fd != -1) {
		if (read_lines(f, cb, arg) == -1 ||
		    flush_partial(f, cb, arg) == -1) {
			close(fd);
			f->check_name = 1;
			return -1;
		}
		log_info("%s was rotated: following the new file", f->path);
		keep_old(f);
	}
	unwatch_next(f);
	attach(f, fd, &st, 0);
	f->moved = 1;
	return 0;
}

int
follow_timeout(const struct follow *f)
{
	long long	left;

	if (f->old_fd == -1)
		return -1;
	left = f->old_until - now_ms();
	return left <= 0 ? 0 : left > 60000 ? 60000 : (int)left;
}

int
follow_run(struct follow *f, follow_cb cb, void *arg)
{
	read_events(f);
	if (f->old_fd != -1) {
		if (read_old(f, cb, arg) == -1)
			return -1;
		if (now_ms() >= f->old_until)
			drop_old(f);
	}
	if (f->moved)
		return 0;
	if (f->fd != -1) {
		if (f->check_trunc)
			check_truncated(f);
		if (f->moved)
			return 0;
		if (read_lines(f, cb, arg) == -1)
			return -1;
	}
	if (f->check_name) {
		if (check_name(f, cb, arg) == -1)
			return -1;
		if (f->moved)
			return 0;
	}
	return 0;
}

void
follow_pos(const struct follow *f, struct spool_track_pos *pos)
{
	memset(pos, 0, sizeof(*pos));
	if (f->fd != -1) {
		pos->dev = (unsigned long long)f->dev;
		pos->ino = (unsigned long long)f->ino;
		pos->offset = (unsigned long long)f->lstart;
	}
	pos->seq = f->seq;
}

void
follow_close(struct follow *f)
{
	drop_old(f);
	if (f->fd != -1)
		close(f->fd);
	if (f->inofd != -1)
		close(f->inofd);
	free(f->buf);
	f->fd = f->inofd = -1;
	f->buf = NULL;
}
