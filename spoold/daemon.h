/*
 * daemon: the start of every relay daemon (spoold, trackd, hookd; and
 * relay-fcgi's privilege drop), in the init phase: each dies with a
 * sysexits code and a log line when it cannot do its part.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <signal.h>

struct cfg;
struct spool;

/* TERM, INT and HUP blocked (for a signalfd or sigwait), SIGPIPE ignored. */
void	daemon_block_signals(sigset_t *);
/* A non-blocking signalfd(2) for the blocked set. */
int	daemon_signalfd(const sigset_t *);
/* Reads every queued signal: HUP sets *reload, any other *term. */
void	daemon_read_signals(int sigfd, int *reload, int *term);
/* fds 0-2 open (on /dev/null if closed), so no file opened can be one. */
void	daemon_std_fds(void);
/*
 * Started as root with `user` set: give the spool to the user, then drop
 * to it (priv_drop: groups, gid and uid, verified).  Otherwise nothing.
 */
void	daemon_drop_privileges(const char *user, struct spool *);

/*
 * SIGHUP: the configuration read again from path, with old's spool kept
 * (it changes only on restart; a warning says so).  NULL, with the reason
 * logged, when it cannot be read: the caller keeps old.
 */
struct cfg *daemon_reload_cfg(const char *path, const struct cfg *old);

#endif
