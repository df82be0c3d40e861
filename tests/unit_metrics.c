/* Unit tests: the per-program counters files behind GET /metrics. */
#include <sys/wait.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"
#include "spool.h"

static char	 dir[] = "/tmp/unit_metrics.XXXXXX";
static struct spool *sp;

static int
setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(sp = spool_open(dir));
	return 0;
}

static int
teardown(void **state)
{
	char	cmd[128];

	(void)state;
	spool_close(sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The value of a series as a reader of program's file sees it. */
static long long
seen(const char *program, const char *name)
{
	struct metrics_view	 v;
	const char		*s;
	uint64_t		 val;
	long long		 found = -1;
	size_t			 i;

	if (metrics_view_open(sp, program, &v) != 1)
		return -2;
	for (i = 0; i < v.nseries; i++)
		if ((s = metrics_view_series(&v, i, &val)) != NULL &&
		    strcmp(s, name) == 0)
			found = (long long)val;
	metrics_view_close(&v);
	return found;
}

static void
test_series_are_shared_and_counted(void **state)
{
	uint64_t	*a, *b;

	(void)state;
	assert_int_equal(metrics_init(sp, "unit"), 0);
	a = metrics_series("t_total{x=\"1\"}");
	b = metrics_seriesf("t_total{x=\"%d\"}", 1);
	assert_ptr_equal(a, b);
	metrics_add(a, 2);
	metrics_add(b, 3);
	assert_int_equal(seen("unit", "t_total{x=\"1\"}"), 5);
	assert_int_equal(seen("unit", "t_total{x=\"2\"}"), -1);
	assert_int_equal(seen("nobody", "t_total{x=\"1\"}"), -2);
}

static void
test_histogram_buckets_are_cumulative(void **state)
{
	static const uint64_t	 bounds[] = { 1000, 10000, 100000 };
	struct metrics_hist	 h;

	(void)state;
	metrics_hist_init(&h, "h_seconds", "k=\"v\"", bounds, 3);
	metrics_hist_observe(&h, 500);
	metrics_hist_observe(&h, 5000);
	metrics_hist_observe(&h, 5000000);
	assert_int_equal(seen("unit", "h_seconds_bucket{k=\"v\",le=\"0.001\"}"),
	    1);
	assert_int_equal(seen("unit", "h_seconds_bucket{k=\"v\",le=\"0.01\"}"),
	    2);
	assert_int_equal(seen("unit", "h_seconds_bucket{k=\"v\",le=\"0.1\"}"),
	    2);
	assert_int_equal(seen("unit", "h_seconds_bucket{k=\"v\",le=\"+Inf\"}"),
	    3);
	assert_int_equal(seen("unit", "h_seconds_count{k=\"v\"}"), 3);
	assert_int_equal(seen("unit", "h_seconds_sum{k=\"v\"}"), 5005500);
}

static void
test_too_long_or_too_many_go_nowhere(void **state)
{
	char		 name[METRICS_NAME_MAX + 8];
	uint64_t	*first, *v;
	int		 i;

	(void)state;
	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	v = metrics_series(name);
	metrics_add(v, 1);			/* harmless */
	first = metrics_series("full_total");
	for (i = 0; i < METRICS_SERIES_MAX + 10; i++)
		v = metrics_seriesf("many_total{i=\"%d\"}", i);
	assert_non_null(v);
	metrics_add(v, 1);
	assert_ptr_equal(metrics_series("full_total"), first);
	assert_int_equal(seen("unit", "many_total{i=\"0\"}"), 0);
	assert_int_equal(seen("unit", "many_total{i=\"2100\"}"), -1);
}

static void
test_a_program_that_exited_is_not_up(void **state)
{
	pid_t	pid;
	int	st;

	(void)state;
	if ((pid = fork()) == 0) {
		if (metrics_init(sp, "child") != 0)
			_exit(1);
		metrics_add(metrics_series("c_total"), 7);
		_exit(seen("child", "c_total") == 7 ? 0 : 2);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	/* Its file is still there, but nobody holds it: not up. */
	assert_int_equal(seen("child", "c_total"), -2);
}

static void
test_label_escaping(void **state)
{
	char	out[32];

	(void)state;
	metrics_label(out, sizeof(out), "a\"b\\c\nd");
	assert_string_equal(out, "a\\\"b\\\\c\\nd");
	metrics_label(out, 6, "abcdefgh");
	assert_string_equal(out, "abc");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series_are_shared_and_counted),
		cmocka_unit_test(test_histogram_buckets_are_cumulative),
		cmocka_unit_test(test_too_long_or_too_many_go_nowhere),
		cmocka_unit_test(test_a_program_that_exited_is_not_up),
		cmocka_unit_test(test_label_escaping),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
