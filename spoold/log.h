/*
 * log: one line per event to syslog (facility mail), or to stderr when
 * running in the foreground for a terminal or a test.  Every function keeps
 * errno intact.  Lines about a job start "job=<id>".
 */
#ifndef LOG_H
#define LOG_H

#define LOG_TO_SYSLOG	0
#define LOG_TO_STDERR	1

void	log_init(const char *ident, int to, int verbose);
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_err(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(int, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));
void	fatalx(int, const char *, ...)
	    __attribute__((format(printf, 2, 3), noreturn));

#endif
