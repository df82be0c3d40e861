/* spoolfx: a real spool per unit test; spoolfx.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "spool.h"
#include "spoolfx.h"

int
spoolfx_setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/unit_spoolfx.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	strcat(fx->dir, "/spool");
	assert_non_null(fx->sp = spool_open(fx->dir));
	*state = fx;
	return 0;
}

int
spoolfx_teardown(void **state)
{
	struct fx	*fx = *state;
	char		 cmd[128];

	spool_close(fx->sp);
	*strrchr(fx->dir, '/') = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}
