/*
 * spool_file: small files that are not jobs (records, queue ids,
 * suppressions, trackd's position): escaping their values, writing them
 * durably through tmp/ and reading them back.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

char *
spool_escape(const char *s, size_t max, int space)
{
	char		*out, *w;
	size_t		 n, len = strnlen(s, max);
	unsigned char	 c;

	if ((out = malloc(len * 4 + 1)) == NULL)
		return NULL;
	for (w = out, n = 0; n < len; n++) {
		c = (unsigned char)s[n];
		if (c == '\\') {
			*w++ = '\\';
			*w++ = '\\';
		} else if (c == '\n') {
			*w++ = '\\';
			*w++ = 'n';
		} else if (c == '\r') {
			*w++ = '\\';
			*w++ = 'r';
		} else if (c == '\t') {
			*w++ = '\\';
			*w++ = 't';
		} else if (c < 0x20 || c >= 0x7f || (space && c == ' ')) {
			(void)snprintf(w, 5, "\\x%02x", c);
			w += 4;
		} else
			*w++ = (char)c;
	}
	*w = '\0';
	return out;
}

static int
unhex(int c)
{
	return c <= '9' ? c - '0' : c - 'a' + 10;
}

int
spool_unescape(char *s)
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
			if (!spool_ishex((unsigned char)s[1]) ||
			    !spool_ishex((unsigned char)s[2]) ||
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

static int
put_file(struct spool *sp, const char *tmpname, int dfd, const char *name,
    const void *buf, size_t len, int lazy)
{
	int	fd;

	if (dfd == -1) {
		errno = ENOENT;		/* a directory absent when attached */
		return -1;
	}
	(void)unlinkat(sp->tmp, tmpname, 0);	/* a stale copy, if any */
	if ((fd = openat(sp->tmp, tmpname, O_WRONLY | O_CREAT | O_EXCL |
	    O_NOFOLLOW | O_CLOEXEC, 0600)) == -1)
		return -1;
	if (spool_write_all(fd, buf, len) == -1 || (!lazy && fsync(fd) == -1)) {
		spool_close_keep_errno(fd);
		goto fail;
	}
	if (spool_checked_close(fd) == -1)
		goto fail;
	if (renameat(sp->tmp, tmpname, dfd, name) == -1)
		goto fail;
	/* The rename is the commit point; the fsync makes it durable. */
	if (lazy) {
		sp->sent_dirty = 1;	/* spool_sync's syncfs does it */
		return 0;
	}
	return fsync(dfd);
fail:
	spool_unlink_keep_errno(sp->tmp, tmpname);
	return -1;
}

int
spool_put_file(struct spool *sp, const char *tmpname, int dfd,
    const char *name, const void *buf, size_t len)
{
	return put_file(sp, tmpname, dfd, name, buf, len, 0);
}

int
spool_put_file_lazy(struct spool *sp, const char *tmpname, int dfd,
    const char *name, const void *buf, size_t len)
{
	return put_file(sp, tmpname, dfd, name, buf, len, 1);
}

int
spool_slurp(int dfd, const char *name, size_t max, char **out, size_t *lenp)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 got = 0;
	ssize_t		 n;
	int		 fd;

	*out = NULL;
	if (dfd == -1) {
		errno = ENOENT;
		return -1;
	}
	if ((fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ELOOP)
			errno = EBADMSG;
		return -1;
	}
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size < 0 || (size_t)st.st_size > max) {
		errno = EBADMSG;
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	while (got < (size_t)st.st_size) {
		n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		got += n;
	}
	close(fd);
	buf[got] = '\0';
	*out = buf;
	if (lenp != NULL)
		*lenp = got;
	return 0;
fail:
	free(buf);
	spool_close_keep_errno(fd);
	return -1;
}
