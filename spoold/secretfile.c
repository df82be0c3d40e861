/* secretfile: the mode rule of the files that hold secrets; secretfile.h. */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secretfile.h"

static int
check_mode(int fd, const char *path, char *err, size_t errlen)
{
	struct stat	st;

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH | S_IROTH)) {
		snprintf(err, errlen, "%s: mode %04o: must not be group- or "
		    "world-writable nor world-readable "
		    "(chown root:mail-relay; chmod 0640)", path,
		    (unsigned int)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

FILE *
secretfile_open(const char *path, char *err, size_t errlen)
{
	FILE	*fp;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	if (check_mode(fd, path, err, errlen) == -1) {
		close(fd);
		return NULL;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	return fp;
}

int
secretfile_lines(FILE *fp, const char *path,
    const char *(*fn)(char *, void *), void *arg, char *err, size_t errlen)
{
	char		*line = NULL, *p;
	size_t		 cap = 0;
	unsigned long	 lineno = 0;
	const char	*why = NULL;
	int		 rc = 0;

	while (why == NULL && getline(&line, &cap, fp) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = line + strspn(line, " \t\r\n");
		if (*p == '\0')
			continue;
		p[strcspn(p, "\r\n")] = '\0';
		why = fn(p, arg);
	}
	if (why != NULL) {
		snprintf(err, errlen, "%s:%lu: %s", path, lineno, why);
		rc = -1;
	} else if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (line != NULL)
		explicit_bzero(line, cap);
	free(line);
	return rc;
}
