/* Unit tests: spoold's pending index (spoold/pindex.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pindex.h"

/* A spool id enqueued at usec (13 hex digits), with tail r. */
static const char *
mkid(char id[SPOOL_ID_LEN + 1], unsigned long long usec, unsigned r)
{
	snprintf(id, SPOOL_ID_LEN + 1, "%013llx-%016x", usec, r);
	assert_true(spool_id_valid(id));
	return id;
}

/* The id pindex_first_due picks at now, "" if none; *next as it says. */
static const char *
first(struct pindex *ix, time_t now, time_t *next)
{
	static char	id[SPOOL_ID_LEN + 1];
	time_t		dummy;

	if (!pindex_first_due(ix, now, id, next ? next : &dummy))
		id[0] = '\0';
	return id;
}

static void
test_oldest_due_first_whatever_the_order_of_insertion(void **state)
{
	struct pindex	ix;
	char		id[5][SPOOL_ID_LEN + 1];
	int		order[5] = { 3, 0, 4, 1, 2 }, i;

	(void)state;
	pindex_init(&ix);
	for (i = 0; i < 5; i++)
		mkid(id[i], 1000 + i, 7);
	for (i = 0; i < 5; i++)
		assert_int_equal(pindex_put(&ix, id[order[i]], 100), 0);
	assert_int_equal(pindex_count(&ix), 5);
	for (i = 0; i < 5; i++) {
		assert_string_equal(first(&ix, 100, NULL), id[i]);
		pindex_remove(&ix, id[i]);
	}
	assert_string_equal(first(&ix, 100, NULL), "");
	assert_int_equal(pindex_count(&ix), 0);
	pindex_free(&ix);
}

static void
test_not_due_is_skipped_and_next_is_the_earliest(void **state)
{
	struct pindex	ix;
	char		a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	char		c[SPOOL_ID_LEN + 1];
	time_t		next;

	(void)state;
	pindex_init(&ix);
	assert_string_equal(first(&ix, 100, &next), "");
	assert_int_equal(next, 0);
	pindex_put(&ix, mkid(a, 1, 0), 300);	/* oldest, due last */
	pindex_put(&ix, mkid(b, 2, 0), 200);
	pindex_put(&ix, mkid(c, 3, 0), 50);
	assert_string_equal(first(&ix, 100, NULL), c);
	pindex_remove(&ix, c);
	assert_string_equal(first(&ix, 100, &next), "");
	assert_int_equal(next, 200);
	assert_string_equal(first(&ix, 200, NULL), b);
	/* A second put moves the due time, earlier or later. */
	pindex_put(&ix, a, 150);
	assert_string_equal(first(&ix, 160, NULL), a);
	pindex_put(&ix, a, 500);
	pindex_put(&ix, b, 400);
	assert_string_equal(first(&ix, 300, &next), "");
	assert_int_equal(next, 400);
	assert_int_equal(pindex_count(&ix), 2);
	pindex_free(&ix);
}

static void
test_removed_comes_back_with_a_new_put(void **state)
{
	struct pindex	ix;
	char		a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];

	(void)state;
	pindex_init(&ix);
	pindex_put(&ix, mkid(a, 1, 0), 10);
	pindex_put(&ix, mkid(b, 2, 0), 10);
	pindex_remove(&ix, a);
	pindex_remove(&ix, a);			/* twice: no effect */
	pindex_remove(&ix, mkid((char[SPOOL_ID_LEN + 1]){ 0 }, 9, 9));
	assert_int_equal(pindex_count(&ix), 1);
	assert_string_equal(first(&ix, 10, NULL), b);
	pindex_put(&ix, a, 10);			/* released, retried */
	assert_int_equal(pindex_count(&ix), 2);
	assert_string_equal(first(&ix, 10, NULL), a);
	pindex_free(&ix);
}

static void
test_hold_off_keeps_a_due_job_back(void **state)
{
	struct pindex	ix;
	char		a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	time_t		next;

	(void)state;
	pindex_init(&ix);
	pindex_put(&ix, mkid(a, 1, 0), 10);
	pindex_put(&ix, mkid(b, 2, 0), 50);
	pindex_remove(&ix, a);			/* claimed */
	assert_int_equal(pindex_hold_off(&ix, a, 100, 130), 0);
	assert_string_equal(first(&ix, 100, NULL), b);
	pindex_remove(&ix, b);
	assert_string_equal(first(&ix, 129, &next), "");
	assert_int_equal(next, 130);
	/* The put-back file's own event keeps the hold-off. */
	pindex_put(&ix, a, 100);
	assert_string_equal(first(&ix, 129, NULL), "");
	/* A due time later than the hold-off wins. */
	pindex_put(&ix, a, 140);
	assert_string_equal(first(&ix, 135, &next), "");
	assert_int_equal(next, 140);
	assert_string_equal(first(&ix, 140, NULL), a);
	/* Removed and put again (claimed, deferred): no hold-off. */
	pindex_hold_off(&ix, a, 100, 1000);
	pindex_remove(&ix, a);
	pindex_put(&ix, a, 100);
	assert_string_equal(first(&ix, 100, NULL), a);
	/* Hold-off of a job the index did not have. */
	pindex_hold_off(&ix, b, 100, 1000);
	assert_int_equal(pindex_count(&ix), 2);
	pindex_remove(&ix, a);
	assert_string_equal(first(&ix, 999, NULL), "");
	assert_string_equal(first(&ix, 1000, NULL), b);
	pindex_free(&ix);
}

/* Removed entries are dropped once they are more than half. */
static void
test_compaction_keeps_order_and_due_times(void **state)
{
	struct pindex	ix;
	char		id[SPOOL_ID_LEN + 1];
	int		i, n = 4000;

	(void)state;
	pindex_init(&ix);
	for (i = n - 1; i >= 0; i--)
		assert_int_equal(pindex_put(&ix, mkid(id, 100 + i, i), i), 0);
	assert_int_equal(ix.n, n);
	for (i = 0; i < n; i += 4) {		/* a quarter: kept */
		pindex_remove(&ix, mkid(id, 100 + i + 1, i + 1));
		pindex_remove(&ix, mkid(id, 100 + i + 2, i + 2));
		pindex_remove(&ix, mkid(id, 100 + i + 3, i + 3));
	}
	assert_int_equal(pindex_count(&ix), n / 4);
	assert_true(ix.n < (size_t)n);		/* compacted on the way */
	for (i = 0; i < n; i += 4) {
		assert_string_equal(first(&ix, i, NULL), mkid(id, 100 + i, i));
		pindex_remove(&ix, id);
	}
	assert_int_equal(pindex_count(&ix), 0);
	pindex_free(&ix);
}

static void
test_shrink_gives_memory_back_after_a_backlog(void **state)
{
	struct pindex	ix;
	char		id[SPOOL_ID_LEN + 1];
	int		i, n = 100000;

	(void)state;
	pindex_init(&ix);
	for (i = 0; i < n; i++)
		pindex_put(&ix, mkid(id, 100 + i, 0), 0);
	pindex_shrink(&ix);			/* still full: nothing */
	assert_true(ix.cap >= (size_t)n);
	for (i = 0; i < n - 10; i++) {
		assert_string_equal(first(&ix, 0, NULL), mkid(id, 100 + i, 0));
		pindex_remove(&ix, id);
	}
	pindex_shrink(&ix);
	assert_int_equal(ix.cap, PINDEX_MIN);
	assert_int_equal(pindex_count(&ix), 10);
	assert_string_equal(first(&ix, 0, NULL), mkid(id, 100 + n - 10, 0));
	pindex_free(&ix);
}

static void
test_clear_forgets_everything(void **state)
{
	struct pindex	ix;
	char		id[SPOOL_ID_LEN + 1];
	time_t		next;
	int		i;

	(void)state;
	pindex_init(&ix);
	for (i = 0; i < 1000; i++)
		pindex_put(&ix, mkid(id, 100 + i, 0), 5);
	pindex_clear(&ix);
	assert_int_equal(pindex_count(&ix), 0);
	assert_string_equal(first(&ix, 10, &next), "");
	assert_int_equal(next, 0);
	pindex_put(&ix, id, 5);			/* a rescan fills it again */
	assert_string_equal(first(&ix, 10, NULL), id);
	pindex_free(&ix);
	assert_int_equal(pindex_count(&ix), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
		    test_oldest_due_first_whatever_the_order_of_insertion),
		cmocka_unit_test(
		    test_not_due_is_skipped_and_next_is_the_earliest),
		cmocka_unit_test(test_removed_comes_back_with_a_new_put),
		cmocka_unit_test(test_hold_off_keeps_a_due_job_back),
		cmocka_unit_test(test_compaction_keeps_order_and_due_times),
		cmocka_unit_test(test_shrink_gives_memory_back_after_a_backlog),
		cmocka_unit_test(test_clear_forgets_everything),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
