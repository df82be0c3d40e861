/* daemon: what every relay daemon does first; see daemon.h. */
#include <sys/signalfd.h>
#include <sys/types.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "log.h"
#include "priv.h"
#include "spool.h"

void
daemon_block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, set, NULL) == -1)
		fatal(EX_OSERR, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
}

void
daemon_std_fds(void)
{
	int	fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd == -1)
		fatal(EX_OSERR, "/dev/null");
	close(fd);
}

void
daemon_drop_privileges(const char *user, struct spool *sp)
{
	uid_t	uid;
	gid_t	gid;

	if (geteuid() != 0 || *user == '\0')
		return;
	if (priv_lookup(user, &uid, &gid) == -1)
		fatalx(EX_NOUSER, "unknown user %s", user);
	if (spool_chown(sp, uid, gid) == -1)
		fatal(EX_OSERR, "cannot give the spool to %s", user);
	if (priv_drop(uid, gid) == -1)
		fatal(EX_OSERR, "cannot drop privileges to %s", user);
	log_debug("running as %s", user);
}

int
daemon_signalfd(const sigset_t *set)
{
	int	fd;

	if ((fd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal(EX_OSERR, "signalfd");
	return fd;
}

void
daemon_read_signals(int sigfd, int *reload, int *term)
{
	struct signalfd_siginfo	si;

	while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			*reload = 1;
		else
			*term = 1;
	}
}

struct cfg *
daemon_reload_cfg(const char *path, const struct cfg *old)
{
	struct cfg	*nc;
	char		 err[512];

	if ((nc = malloc(sizeof(*nc))) == NULL) {
		log_warn("reload");
		return NULL;
	}
	if (cfg_load(path, nc, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the old configuration: %s",
		    err);
		free(nc);
		return NULL;
	}
	if (strcmp(nc->spool, old->spool) != 0)
		log_warnx("reload: the spool directory changes only on "
		    "restart; still using %s", old->spool);
	(void)snprintf(nc->spool, sizeof(nc->spool), "%s", old->spool);
	return nc;
}
