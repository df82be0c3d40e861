/*
 * log: syslog (facility mail) or stderr.  log_warn and fatal append
 * strerror(errno); the x variants do not.  fatal and fatalx exit with the
 * sysexits(3) code given.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static const char	*log_ident = "mail-relay";
static int		 log_to = LOG_TO_STDERR;
static int		 log_verbose;

void
log_init(const char *ident, int to, int verbose)
{
	log_ident = ident;
	log_to = to;
	log_verbose = verbose;
	if (to == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/*
 * One line, one write(2): no stdio lock for the worker threads to queue
 * on, and lines from different threads never interleave.  A line longer
 * than the buffer is cut, and still ends in a newline.
 */
static void
stderr_line(const char *msg, const char *err)
{
	char	line[2304], *p = line;
	ssize_t	w;
	int	n;

	n = snprintf(line, sizeof(line), "%s: %s%s%s\n", log_ident, msg,
	    err ? ": " : "", err ? err : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	while (n > 0) {
		if ((w = write(STDERR_FILENO, p, (size_t)n)) == -1) {
			if (errno == EINTR)
				continue;
			return;
		}
		p += w;
		n -= (int)w;
	}
}

static void	vlog(int, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));

static void
vlog(int pri, int with_errno, const char *fmt, va_list ap)
{
	char	msg[2048];
	int	saved = errno;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to == LOG_TO_SYSLOG) {
		if (with_errno)
			syslog(pri, "%s: %s", msg, strerror(saved));
		else
			syslog(pri, "%s", msg);
	} else
		stderr_line(msg, with_errno ? strerror(saved) : NULL);
	errno = saved;
}

#define LOG_FN(fn, pri, with_errno)			\
void							\
fn(const char *fmt, ...)				\
{							\
	va_list ap;					\
	va_start(ap, fmt);				\
	vlog(pri, with_errno, fmt, ap);			\
	va_end(ap);					\
}

LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)
LOG_FN(log_err, LOG_ERR, 0)

void
log_debug(const char *fmt, ...)
{
	va_list	ap;

	if (!log_verbose)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, 0, fmt, ap);
	va_end(ap);
}

void
fatal(int ex, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(ex);
}

void
fatalx(int ex, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(ex);
}
