/*
 * priv: the privilege drop (see priv.h).  As slowcgi and OpenSMTPD do it:
 * setgroups, setresgid, setresuid, then check.
 */
#define _GNU_SOURCE		/* setresuid, getresuid */
#include <sys/types.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include "priv.h"

int
priv_lookup(const char *user, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;

	errno = 0;
	if ((pw = getpwnam(user)) == NULL) {
		/* getpwnam(3): these say "not found" too. */
		if (errno == 0 || errno == ESRCH || errno == EBADF ||
		    errno == EPERM)
			errno = ENOENT;
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

/* 1 if the process holds uid and gid in every slot and no other group. */
static int
priv_check(uid_t uid, gid_t gid)
{
	uid_t	r, e, s;
	gid_t	rg, eg, sg, groups[2];
	int	n;

	if (getresuid(&r, &e, &s) == -1 || getresgid(&rg, &eg, &sg) == -1)
		return 0;
	if (r != uid || e != uid || s != uid ||
	    rg != gid || eg != gid || sg != gid)
		return 0;
	if ((n = getgroups(2, groups)) == -1)	/* EINVAL: more than two */
		return 0;
	return n == 1 && groups[0] == gid;
}

int
priv_drop(uid_t uid, gid_t gid)
{
	if (setgroups(1, &gid) == -1 ||
	    setresgid(gid, gid, gid) == -1 ||
	    setresuid(uid, uid, uid) == -1)
		return -1;
	if (!priv_check(uid, gid)) {
		errno = EPERM;
		return -1;
	}
	return 0;
}
