/*
 * spawn-loop: the serial posix_spawn ceiling.  Spawns a program the way
 * spoold hands a job to sendmail (argv, no shell; a job file on stdin;
 * stdout and stderr into one pipe read to EOF; a minimal environment;
 * waitpid), one after the other.
 *
 *	spawn-loop -n count -i file program [arg ...]
 *
 * Prints "spawns=N secs=S rate=R failures=F".
 */
#define _GNU_SOURCE		/* pipe2 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
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

/* One spawn; 0 when the program exited 0. */
static int
one(char *const argv[], const char *input)
{
	static char *const	 envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
				    NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t	 attr;
	sigset_t		 none, all;
	char			 buf[4096];
	pid_t			 pid;
	int			 in, p[2], status, rc = -1;

	if ((in = open(input, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (pipe2(p, O_CLOEXEC) == -1) {
		close(in);
		return -1;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1], 2);
	if (posix_spawn(&pid, argv[0], &fa, &attr, argv, envp) == 0) {
		close(p[1]);
		p[1] = -1;
		while (read(p[0], buf, sizeof(buf)) > 0)
			continue;
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			continue;
		rc = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
	}
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(in);
	close(p[0]);
	if (p[1] != -1)
		close(p[1]);
	return rc;
}

int
main(int argc, char *argv[])
{
	const char	*input = NULL, *errstr;
	double		 t0, secs;
	long		 i, n = 2000, failures = 0;
	int		 ch;

	while ((ch = getopt(argc, argv, "+i:n:")) != -1) {
		switch (ch) {
		case 'i': input = optarg; break;
		case 'n':
			n = strtonum(optarg, 1, 10000000, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		default:
			return EX_USAGE;
		}
	}
	if (input == NULL || optind >= argc) {
		fprintf(stderr, "usage: spawn-loop -n count -i file program "
		    "[arg ...]\n");
		return EX_USAGE;
	}
	t0 = now();
	for (i = 0; i < n; i++)
		if (one(argv + optind, input) == -1)
			failures++;
	secs = now() - t0;
	printf("spawns=%ld secs=%.2f rate=%.0f failures=%ld\n", n, secs,
	    n / secs, failures);
	return failures ? 1 : 0;
}
