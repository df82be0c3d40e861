/*
 * spoolfx: the cmocka fixture of the unit tests that run against a real
 * spool: a fresh spool directory under /tmp per test, removed after it.
 */
#ifndef SPOOLFX_H
#define SPOOLFX_H

struct fx {
	char		 dir[64];	/* <tmpdir>/spool */
	struct spool	*sp;		/* spool_open(dir) */
};

/* cmocka setup and teardown; *state is the struct fx. */
int	spoolfx_setup(void **state);
int	spoolfx_teardown(void **state);

#endif
