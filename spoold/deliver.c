/*
 * deliver: spawn the sendmail program for one job, feed it the message,
 * collect its output while it runs, enforce the deadline, classify.
 * The table of outcomes is in deliver.h and spoold(8).
 */
#define _GNU_SOURCE		/* pidfd_open, posix_spawn_file_actions_addclosefrom_np */
#include <sys/pidfd.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "deliver.h"
#include "spool.h"

/* What a run of the child left behind. */
struct run {
	pid_t	 pid;
	int	 wstatus;
	int	 timedout;
	int	 killed;		/* SIGKILL was needed */
	char	 out[DELIVER_OUTPUT_MAX + 1];
	size_t	 outlen;
};

enum deliver_outcome
deliver_classify(int wstatus)
{
	if (WIFSIGNALED(wstatus))
		return DELIVER_TEMPFAIL;
	if (!WIFEXITED(wstatus))
		return DELIVER_TEMPFAIL;
	switch (WEXITSTATUS(wstatus)) {
	case 0:
		return DELIVER_OK;
	case EX_TEMPFAIL:
	case EX_OSERR:
	case EX_IOERR:
	case EX_UNAVAILABLE:
	case EX_CANTCREAT:
		return DELIVER_TEMPFAIL;
	default:
		return DELIVER_PERMFAIL;
	}
}

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* argv... -oi -f SENDER -- RCPT... NULL; free() the result. */
static char **
build_argv(char *const *base, const struct spool_job *job)
{
	char	**v;
	size_t	  nbase = 0, i, k = 0;

	while (base[nbase] != NULL)
		nbase++;
	if ((v = calloc(nbase + 5 + job->env.nrcpt, sizeof(*v))) == NULL)
		return NULL;
	for (i = 0; i < nbase; i++)
		v[k++] = base[i];
	v[k++] = "-oi";
	v[k++] = "-f";
	v[k++] = (char *)job->env.sender;
	v[k++] = "--";
	for (i = 0; i < job->env.nrcpt; i++)
		v[k++] = (char *)job->env.rcpt[i];
	v[k] = NULL;
	return v;
}

/* Spawns argv with stdin = in, stdout = stderr = out.  0 or an errno. */
static int
spawn(char **argv, int in, int out, pid_t *pid)
{
	posix_spawn_file_actions_t	 fa;
	posix_spawnattr_t		 at;
	sigset_t			 none, all;
	char				*envp[3], mc[4096];
	const char			*mail_config;
	int				 e, n = 0;

	envp[n++] = DELIVER_PATH;
	if ((mail_config = getenv("MAIL_CONFIG")) != NULL &&
	    snprintf(mc, sizeof(mc), "MAIL_CONFIG=%s", mail_config) <
	    (int)sizeof(mc))
		envp[n++] = mc;
	envp[n] = NULL;
	sigemptyset(&none);
	sigfillset(&all);
	if ((e = posix_spawn_file_actions_init(&fa)) != 0)
		return e;
	if ((e = posix_spawnattr_init(&at)) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return e;
	}
	if ((e = posix_spawn_file_actions_adddup2(&fa, in, 0)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, out, 1)) != 0 ||
	    (e = posix_spawn_file_actions_adddup2(&fa, out, 2)) != 0 ||
	    (e = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0 ||
	    (e = posix_spawnattr_setsigmask(&at, &none)) != 0 ||
	    (e = posix_spawnattr_setsigdefault(&at, &all)) != 0 ||
	    (e = posix_spawnattr_setpgroup(&at, 0)) != 0 ||
	    (e = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)) != 0)
		goto done;
	e = posix_spawn(pid, argv[0], &fa, &at, argv, envp);
done:
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	return e;
}

/* Reads what the pipe has; 0 at EOF, 1 if more may come. */
static int
read_output(int fd, struct run *r)
{
	char	buf[4096];
	ssize_t	n;
	size_t	keep;

	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 1 : 0;
		}
		if (n == 0)
			return 0;
		keep = DELIVER_OUTPUT_MAX - r->outlen;
		if (keep > (size_t)n)
			keep = (size_t)n;
		memcpy(r->out + r->outlen, buf, keep);
		r->outlen += keep;
	}
}

/* The deadline passed: SIGTERM the group, or SIGKILL it after the grace. */
static long long
expire(struct run *r, time_t timeout)
{
	time_t	grace = timeout < DELIVER_GRACE_MAX ? timeout : DELIVER_GRACE_MAX;

	if (!r->timedout) {
		r->timedout = 1;
		(void)kill(-r->pid, SIGTERM);
		(void)kill(r->pid, SIGTERM);
		return now_ms() + grace * 1000;
	}
	r->killed = 1;
	(void)kill(-r->pid, SIGKILL);
	(void)kill(r->pid, SIGKILL);
	return now_ms() + 24LL * 3600 * 1000;	/* it cannot outlive SIGKILL */
}

/* Has the child exited?  Reaps it if so. */
static int
reaped(struct run *r)
{
	pid_t	p;

	while ((p = waitpid(r->pid, &r->wstatus, WNOHANG)) == -1 &&
	    errno == EINTR)
		;
	return p == r->pid;
}

/*
 * Reads the child's output while it runs, until it exits, enforcing the
 * deadline (the now_ms() time of the first SIGTERM).  A pidfd tells when
 * it exits even if a grandchild keeps the pipe open; without one, the
 * loop looks every 50 ms.
 */
static void
collect(struct run *r, int rd, long long deadline, time_t timeout)
{
	struct pollfd	pfd[2];
	long long	left;
	int		pidfd, open_pipe = 1, n, done = 0;

	pidfd = pidfd_open(r->pid, 0);
	while (!done) {
		if ((left = deadline - now_ms()) <= 0) {
			deadline = expire(r, timeout);
			continue;
		}
		n = 0;
		if (open_pipe) {
			pfd[n].fd = rd;
			pfd[n++].events = POLLIN;
		}
		if (pidfd != -1) {
			pfd[n].fd = pidfd;
			pfd[n++].events = POLLIN;
		} else if (left > 50)
			left = 50;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, n, (int)(left > 60000 ? 60000 : left)) == -1) {
			if (errno == EINTR)
				continue;
			usleep(50000);	/* should not happen: do not spin */
		}
		if (open_pipe && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
			open_pipe = read_output(rd, r);
		if ((pidfd == -1 || (pfd[n - 1].revents & POLLIN)) && reaped(r))
			done = 1;
	}
	if (open_pipe)
		(void)read_output(rd, r);	/* what is there; rd is O_NONBLOCK */
	if (pidfd != -1)
		close(pidfd);
}

/* Trims trailing white space from the output for the reason line. */
static void
trim(struct run *r)
{
	while (r->outlen > 0 && (r->out[r->outlen - 1] == '\n' ||
	    r->out[r->outlen - 1] == '\r' || r->out[r->outlen - 1] == ' ' ||
	    r->out[r->outlen - 1] == '\t'))
		r->outlen--;
	r->out[r->outlen] = '\0';
	/* A NUL in the output would cut the reason short: show it as '?'. */
	for (size_t i = 0; i < r->outlen; i++)
		if (r->out[i] == '\0')
			r->out[i] = '?';
}

static void
summarize(struct deliver_result *res, struct run *r, time_t timeout)
{
	char	what[128];

	if (r->timedout) {
		res->timedout = 1;
		res->outcome = DELIVER_TEMPFAIL;
		(void)snprintf(what, sizeof(what), "timeout after %llds%s",
		    (long long)timeout, r->killed ? ", killed" : "");
	} else if (WIFSIGNALED(r->wstatus)) {
		res->outcome = DELIVER_TEMPFAIL;
		(void)snprintf(what, sizeof(what), "signal %d",
		    WTERMSIG(r->wstatus));
	} else {
		res->outcome = deliver_classify(r->wstatus);
		(void)snprintf(what, sizeof(what), "exit %d",
		    WEXITSTATUS(r->wstatus));
	}
	if (WIFSIGNALED(r->wstatus))
		res->sig = WTERMSIG(r->wstatus);
	if (WIFEXITED(r->wstatus))
		res->status = WEXITSTATUS(r->wstatus);
	trim(r);
	if (r->outlen > 0)
		(void)snprintf(res->reason, sizeof(res->reason), "%s: %s",
		    what, r->out);
	else
		(void)snprintf(res->reason, sizeof(res->reason), "%s", what);
}

/* A started run: what deliver_wait needs. */
struct deliver_run {
	struct run	 r;
	char		**av;
	int		  rd;		/* read end of the output pipe */
	time_t		  timeout;
	long long	  t0;		/* now_ms() at the spawn */
};

struct deliver_run *
deliver_start(char *const *argv, const struct spool_job *job, time_t timeout,
    struct deliver_result *res)
{
	struct deliver_run	*dr;
	long long		 t0 = now_ms();
	int			 p[2] = { -1, -1 }, e;

	memset(res, 0, sizeof(*res));
	res->status = -1;
	res->outcome = DELIVER_TEMPFAIL;
	if ((dr = calloc(1, sizeof(*dr))) == NULL ||
	    (dr->av = build_argv(argv, job)) == NULL) {
		e = errno;
		goto fail;
	}
	if (pipe2(p, O_CLOEXEC) == -1 ||
	    lseek(job->fd, job->msg_off, SEEK_SET) == -1) {
		e = errno;
		goto fail;
	}
	if ((e = spawn(dr->av, job->fd, p[1], &dr->r.pid)) != 0)
		goto fail;
	close(p[1]);
	(void)fcntl(p[0], F_SETFL, O_NONBLOCK);
	dr->rd = p[0];
	dr->timeout = timeout;
	dr->t0 = t0;
	return dr;
fail:
	(void)snprintf(res->reason, sizeof(res->reason), "cannot run %s: %s",
	    argv[0], strerror(e));
	res->ms = (long)(now_ms() - t0);
	if (p[0] != -1)
		close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	if (dr != NULL)
		free(dr->av);
	free(dr);
	return NULL;
}

void
deliver_wait(struct deliver_run *dr, struct deliver_result *res)
{
	collect(&dr->r, dr->rd, dr->t0 + (long long)dr->timeout * 1000,
	    dr->timeout);
	summarize(res, &dr->r, dr->timeout);
	res->ms = (long)(now_ms() - dr->t0);
	close(dr->rd);
	free(dr->av);
	free(dr);
}
