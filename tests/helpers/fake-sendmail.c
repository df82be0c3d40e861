/*
 * fake-sendmail: a stand-in for sendmail(8) for tests and for "make run".
 *
 *	fake-sendmail [-D dir] [sendmail options] -- rcpt...
 *
 * The directory is -D dir, else $FAKE_SENDMAIL_DIR, else $MAIL_CONFIG
 * (spoold passes only PATH and MAIL_CONFIG to the program it runs).  Every
 * call reads stdin to the end and appends one JSON line to dir/calls.log:
 *
 *	{"pid":N,"uid":U,"time":T,"exit":S,"bytes":B,"argv":[...],
 *	 "env":[...],"fds":[...],"sigblk":"HEX","sigign":"HEX"}
 *
 * (fds: the descriptors open at start; sigblk/sigign from /proc/self/status)
 * and, when it exits 0, files the message as dir/<time>-<pid>.eml (written
 * under a dot name, then renamed).  What it does is read, on each call, from
 * dir/control, "key value" lines (the environment variable in parentheses
 * applies when the file does not set the key):
 *
 *	exit N		exit status (FAKE_SENDMAIL_EXIT), default 0
 *	sleep MS	sleep before exiting (FAKE_SENDMAIL_SLEEP)
 *	ignore-term 1	ignore SIGTERM (to test SIGKILL after the grace)
 *	signal N	kill itself with signal N after reading stdin
 *	output TEXT	print TEXT to stderr
 *	output-bytes N	print N bytes ("x") to stdout
 *	rcpt-exit A N	exit N instead when A is one of the recipients
 *	read-bytes N	read only N bytes of stdin, then go on
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct control {
	int	 exit_status;
	long	 sleep_ms;
	int	 ignore_term;
	int	 sig;
	char	 output[512];
	long	 output_bytes;
	char	 rcpt[320];
	int	 rcpt_exit;
	long	 read_bytes;		/* -1: all */
};

static char	*msg;
static size_t	 msglen;
static char	 fds[256];		/* JSON array body */
static char	 sigblk[256], sigign[256];
extern char	**environ;

/* What the program was given: open fds and the signal state. */
static void
inspect(void)
{
	DIR		*d;
	struct dirent	*de;
	FILE		*f;
	char		 line[256];
	size_t		 n = 0;
	int		 self;

	if ((d = opendir("/proc/self/fd")) != NULL) {
		self = dirfd(d);
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.' || atoi(de->d_name) == self)
				continue;
			n += snprintf(fds + n, sizeof(fds) - n, "%s%s",
			    n ? "," : "", de->d_name);
			if (n >= sizeof(fds))
				break;
		}
		closedir(d);
	}
	if ((f = fopen("/proc/self/status", "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "SigBlk:\t", 8) == 0)
			snprintf(sigblk, sizeof(sigblk), "%s", line + 8);
		else if (strncmp(line, "SigIgn:\t", 8) == 0)
			snprintf(sigign, sizeof(sigign), "%s", line + 8);
	}
	fclose(f);
}

static void
load_env(struct control *c)
{
	const char	*e;

	memset(c, 0, sizeof(*c));
	c->read_bytes = -1;
	if ((e = getenv("FAKE_SENDMAIL_EXIT")) != NULL)
		c->exit_status = atoi(e);
	if ((e = getenv("FAKE_SENDMAIL_SLEEP")) != NULL)
		c->sleep_ms = atol(e);
}

static void
load_control(const char *dir, struct control *c)
{
	char	 path[4096], line[1024], *v, *nl;
	FILE	*f;

	snprintf(path, sizeof(path), "%s/control", dir);
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((nl = strchr(line, '\n')) != NULL)
			*nl = '\0';
		if ((v = strchr(line, ' ')) == NULL)
			continue;
		*v++ = '\0';
		if (strcmp(line, "exit") == 0)
			c->exit_status = atoi(v);
		else if (strcmp(line, "sleep") == 0)
			c->sleep_ms = atol(v);
		else if (strcmp(line, "ignore-term") == 0)
			c->ignore_term = atoi(v);
		else if (strcmp(line, "signal") == 0)
			c->sig = atoi(v);
		else if (strcmp(line, "output") == 0)
			snprintf(c->output, sizeof(c->output), "%s", v);
		else if (strcmp(line, "output-bytes") == 0)
			c->output_bytes = atol(v);
		else if (strcmp(line, "read-bytes") == 0)
			c->read_bytes = atol(v);
		else if (strcmp(line, "rcpt-exit") == 0) {
			char *sp = strrchr(v, ' ');
			if (sp == NULL)
				continue;
			*sp++ = '\0';
			snprintf(c->rcpt, sizeof(c->rcpt), "%s", v);
			c->rcpt_exit = atoi(sp);
		}
	}
	fclose(f);
}

static void
read_stdin(long limit)
{
	size_t	cap = 65536;
	ssize_t	n;

	if ((msg = malloc(cap)) == NULL)
		exit(71);
	for (;;) {
		if (limit >= 0 && msglen >= (size_t)limit)
			break;
		if (msglen == cap) {
			cap *= 2;
			if ((msg = realloc(msg, cap)) == NULL)
				exit(71);
		}
		n = read(0, msg + msglen, limit >= 0 &&
		    (size_t)limit - msglen < cap - msglen ?
		    (size_t)limit - msglen : cap - msglen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		msglen += n;
	}
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

/* One line, one write(2) with O_APPEND: concurrent calls do not mix. */
static void
log_call(const char *dir, int argc, char **argv, int status,
    unsigned long long t)
{
	char	 path[4096], *buf = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 fd, i;

	if ((f = open_memstream(&buf, &len)) == NULL)
		exit(71);
	fprintf(f, "{\"pid\":%ld,\"uid\":%ld,\"time\":%llu,\"exit\":%d,"
	    "\"bytes\":%zu,\"argv\":[", (long)getpid(), (long)getuid(), t,
	    status, msglen);
	for (i = 0; i < argc; i++) {
		if (i > 0)
			fputc(',', f);
		json_str(f, argv[i]);
	}
	fprintf(f, "],\"env\":[");
	for (i = 0; environ[i] != NULL; i++) {
		if (i > 0)
			fputc(',', f);
		json_str(f, environ[i]);
	}
	fprintf(f, "],\"fds\":[%s],\"sigblk\":\"%s\",\"sigign\":\"%s\"}\n",
	    fds, sigblk, sigign);
	fclose(f);
	snprintf(path, sizeof(path), "%s/calls.log", dir);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644)) == -1 ||
	    write(fd, buf, len) != (ssize_t)len || close(fd) == -1)
		exit(74);
	free(buf);
}

static void
file_message(const char *dir, unsigned long long t)
{
	char	tmp[4096], path[4096];
	int	fd;

	snprintf(tmp, sizeof(tmp), "%s/.%llu-%ld.eml", dir, t, (long)getpid());
	snprintf(path, sizeof(path), "%s/%llu-%ld.eml", dir, t,
	    (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) == -1 ||
	    write(fd, msg, msglen) != (ssize_t)msglen || close(fd) == -1 ||
	    rename(tmp, path) == -1)
		exit(74);
}

static int
has_rcpt(int argc, char **argv, const char *rcpt)
{
	int	i, after = 0;

	for (i = 1; i < argc; i++) {
		if (after && strcmp(argv[i], rcpt) == 0)
			return 1;
		if (strcmp(argv[i], "--") == 0)
			after = 1;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct control		 c;
	struct timespec		 ts;
	const char		*dir = NULL;
	unsigned long long	 t;
	int			 status;

	if (argc > 2 && strcmp(argv[1], "-D") == 0)
		dir = argv[2];
	if (dir == NULL)
		dir = getenv("FAKE_SENDMAIL_DIR");
	if (dir == NULL)
		dir = getenv("MAIL_CONFIG");
	inspect();
	if (dir == NULL) {
		fprintf(stderr, "fake-sendmail: no directory (-D, "
		    "FAKE_SENDMAIL_DIR or MAIL_CONFIG)\n");
		return 75;	/* like sendmail with a bad config dir */
	}
	load_env(&c);
	load_control(dir, &c);
	if (c.ignore_term)
		signal(SIGTERM, SIG_IGN);
	read_stdin(c.read_bytes);
	status = c.exit_status;
	if (c.rcpt[0] != '\0' && has_rcpt(argc, argv, c.rcpt))
		status = c.rcpt_exit;
	clock_gettime(CLOCK_REALTIME, &ts);
	t = (unsigned long long)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	log_call(dir, argc, argv, c.sig ? -c.sig : status, t);
	if (c.output[0] != '\0')
		fprintf(stderr, "%s\n", c.output);
	for (; c.output_bytes > 0; c.output_bytes--)
		putchar('x');
	fflush(stdout);
	if (c.sleep_ms > 0) {
		ts.tv_sec = c.sleep_ms / 1000;
		ts.tv_nsec = (c.sleep_ms % 1000) * 1000000L;
		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	if (c.sig) {
		signal(c.sig, SIG_DFL);
		raise(c.sig);
	}
	if (status == 0)
		file_message(dir, t);
	return status;
}
