/*
 * priv: giving up root for good, the one way relay-fcgi, spoold and
 * spoolctl do it: the group list becomes the one group, then the real,
 * effective and saved gid, then the three uids; each is read back
 * (getgroups, getresgid, getresuid) before the program goes on.
 */
#ifndef PRIV_H
#define PRIV_H

#include <sys/types.h>

/* uid and primary gid of user: 0, or -1 with errno (ENOENT: no user). */
int	priv_lookup(const char *user, uid_t *uid, gid_t *gid);
/*
 * Becomes uid with gid as its only group.  0 once every id has been
 * checked; -1 + errno if a call failed, EPERM if a check did (the process
 * may then hold some of its old ids: the caller must exit).
 */
int	priv_drop(uid_t uid, gid_t gid);

#endif
