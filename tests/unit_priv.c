/*
 * Unit tests: the privilege drop (spoold/priv.c).  Each case runs in a
 * child, which the drop changes for good; the cases that change ids need
 * root and are skipped otherwise.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <grp.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "priv.h"

#define TEST_UID	((uid_t)64999)	/* any id nobody uses */
#define TEST_GID	((gid_t)64998)

/* What the child found: 0 all as expected, else the number of the check. */
static int
in_child(int (*fn)(void))
{
	pid_t	pid;
	int	st;

	assert_true((pid = fork()) != -1);
	if (pid == 0)
		_exit(fn());
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static int
drop_and_look(void)
{
	uid_t	r, e, s;
	gid_t	rg, eg, sg, groups[8];
	gid_t	extra[3] = { 0, 4, TEST_GID + 1 };

	if (setgroups(3, extra) == -1)	/* root's groups, and more */
		return 1;
	if (priv_drop(TEST_UID, TEST_GID) == -1)
		return 2;
	if (getresuid(&r, &e, &s) == -1 || r != TEST_UID || e != TEST_UID ||
	    s != TEST_UID)
		return 3;
	if (getresgid(&rg, &eg, &sg) == -1 || rg != TEST_GID ||
	    eg != TEST_GID || sg != TEST_GID)
		return 4;
	if (getgroups(8, groups) != 1 || groups[0] != TEST_GID)
		return 5;
	/* For good: there is no way back. */
	if (setresuid(0, 0, 0) != -1 || setgroups(1, extra) != -1)
		return 6;
	if (priv_drop(0, 0) != -1 || errno != EPERM)
		return 7;
	return 0;
}

static void
test_drop_sets_every_id_and_the_one_group(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(in_child(drop_and_look), 0);
}

/* Without the right to change ids (not root): -1 and EPERM, ids kept. */
static int
drop_refused(void)
{
	uid_t	r, e, s, uid = getuid();

	if (priv_drop(TEST_UID, TEST_GID) != -1 || errno != EPERM)
		return 1;
	if (getresuid(&r, &e, &s) == -1 || r != uid || e != uid || s != uid)
		return 2;
	return 0;
}

static void
test_drop_refused_without_the_right(void **state)
{
	(void)state;
	if (geteuid() == 0)
		skip();
	assert_int_equal(in_child(drop_refused), 0);
}

static void
test_lookup(void **state)
{
	uid_t	uid = 1;
	gid_t	gid = 1;

	(void)state;
	assert_int_equal(priv_lookup("root", &uid, &gid), 0);
	assert_int_equal(uid, 0);
	assert_int_equal(gid, 0);
	errno = 0;
	assert_int_equal(priv_lookup("no-such-user-here", &uid, &gid), -1);
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_sets_every_id_and_the_one_group),
		cmocka_unit_test(test_drop_refused_without_the_right),
		cmocka_unit_test(test_lookup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
