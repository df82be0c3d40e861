/*
 * log-writer: appends lines to a log file as fast as it can, one write(2)
 * per line with O_APPEND, as postlogd writes Postfix's log: the lines of
 * a template file, over and over, until N lines are written.
 *
 *	log-writer -f logfile -t template [-n lines]
 *
 * Prints one line: "lines=N secs=S rate=R".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: log-writer -f logfile -t template [-n lines]\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	const char	*log = NULL, *tpl = NULL;
	char		*buf, **line;
	size_t		*len, nline = 0, cap = 0, i;
	long		 n = 100000, k;
	FILE		*f;
	ssize_t		 got;
	double		 t0, t1;
	int		 ch, fd;

	while ((ch = getopt(argc, argv, "f:n:t:")) != -1) {
		switch (ch) {
		case 'f':
			log = optarg;
			break;
		case 'n':
			n = strtol(optarg, NULL, 10);
			break;
		case 't':
			tpl = optarg;
			break;
		default:
			usage();
		}
	}
	if (log == NULL || tpl == NULL || n <= 0)
		usage();
	if ((f = fopen(tpl, "r")) == NULL) {
		perror(tpl);
		return EX_NOINPUT;
	}
	line = NULL;
	len = NULL;
	buf = NULL;
	while ((got = getline(&buf, &cap, f)) > 0) {
		if ((line = realloc(line, (nline + 1) * sizeof(*line))) == NULL ||
		    (len = realloc(len, (nline + 1) * sizeof(*len))) == NULL)
			return EX_OSERR;
		line[nline] = buf;
		len[nline++] = (size_t)got;
		buf = NULL;
		cap = 0;
	}
	fclose(f);
	if (nline == 0)
		return EX_DATAERR;
	if ((fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644))
	    == -1) {
		perror(log);
		return EX_CANTCREAT;
	}
	t0 = now();
	for (k = 0, i = 0; k < n; k++, i = (i + 1) % nline)
		if (write(fd, line[i], len[i]) != (ssize_t)len[i]) {
			perror("write");
			return EX_IOERR;
		}
	t1 = now();
	close(fd);
	printf("lines=%ld secs=%.3f rate=%.0f\n", n, t1 - t0, n / (t1 - t0));
	return 0;
}
