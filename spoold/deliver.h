/*
 * deliver: hand one job to the sendmail program and classify the outcome.
 *
 * The program is spawned (posix_spawn, never a shell) as
 *	argv... -oi -f SENDER -- RCPT...
 * with the message on stdin, stdout and stderr in one pipe of which the
 * first DELIVER_OUTPUT_MAX bytes are kept, no other fds, an empty signal
 * mask and default handlers, a minimal environment, in its own process
 * group.  At the deadline the group gets SIGTERM, after a grace period
 * SIGKILL.
 *
 *	exit 0						DELIVER_OK
 *	exit 75, 71, 74, 69, 73 (EX_TEMPFAIL, EX_OSERR,	DELIVER_TEMPFAIL
 *	  EX_IOERR, EX_UNAVAILABLE, EX_CANTCREAT),
 *	  a signal, the timeout, a failed spawn
 *	any other exit status				DELIVER_PERMFAIL
 */
#ifndef DELIVER_H
#define DELIVER_H

#include <time.h>

struct spool_job;

#define DELIVER_OUTPUT_MAX	4096
#define DELIVER_GRACE_MAX	5	/* seconds from SIGTERM to SIGKILL */
#define DELIVER_PATH		"PATH=/usr/sbin:/usr/bin:/sbin:/bin"

enum deliver_outcome {
	DELIVER_OK,
	DELIVER_TEMPFAIL,
	DELIVER_PERMFAIL
};

struct deliver_result {
	enum deliver_outcome	 outcome;
	int			 status;	/* exit status, -1 if none */
	int			 sig;		/* signal that ended it, or 0 */
	int			 timedout;
	long			 ms;		/* spawn to exit */
	/* "exit 75: <output>", "signal 9", "timeout after 30s: ...", ... */
	char			 reason[DELIVER_OUTPUT_MAX + 160];
};

/* The outcome for a wait(2) status. */
enum deliver_outcome	deliver_classify(int wstatus);

/*
 * Starts argv (NULL-terminated, argv[0] the program's path) for job,
 * whose fd is read from job->msg_off, and returns the run; or returns
 * NULL with res filled in if it could not start it.  The caller does its
 * own work while the program runs, then deliver_wait waits for the run to
 * end, at most timeout seconds from the start plus the grace period,
 * fills res and frees the run.  The child reads the message through a
 * duplicate of job->fd: the file offset is the child's until deliver_wait
 * returns.
 */
struct deliver_run;
struct deliver_run	*deliver_start(char *const *argv,
			    const struct spool_job *job, time_t timeout,
			    struct deliver_result *res);
void			 deliver_wait(struct deliver_run *,
			    struct deliver_result *res);

#endif
