/*
 * unit_spool_tags: what the spool keeps for POST /emails, against a real
 * spool in a temporary directory: tag lines (written, read back, kept
 * through a deferral, refused when malformed), a job enqueued with a due
 * time, and the Idempotency-Key lock tried without waiting.
 */
#include <sys/stat.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"
#include "spoolfx.h"

static const char *const rcpts[] = { "to@example.org" };
static const char msg[] = "From: a@example.com\nSubject: hi\n\nbody\n";
static const struct spool_tag tags[] = {
	{ "category", "confirm_email" }, { "A-1_b", "x" }
};

static void
env_fill(struct spool_env *env, const char *id)
{
	memset(env, 0, sizeof(*env));
	env->id = id;
	env->created = 1700000000;
	env->caller = "shop";
	env->message_id = "x@relay.example";
	env->sender = "a@example.com";
	env->rcpt = rcpts;
	env->nrcpt = 1;
	env->subject = "s";
	env->tags = tags;
	env->ntags = 2;
}

static void
test_tags_round_trip(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1];

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_int_equal(job.env.ntags, 2);
	assert_string_equal(job.env.tags[0].name, "category");
	assert_string_equal(job.env.tags[0].value, "confirm_email");
	assert_string_equal(job.env.tags[1].name, "A-1_b");
	assert_string_equal(job.env.tags[1].value, "x");
	spool_job_free(&job);

	/* A deferral rewrites the job: the tags stay. */
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_defer(fx->sp, &job, time(NULL), "later"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_int_equal(job.env.ntags, 2);
	assert_string_equal(job.env.tags[1].name, "A-1_b");
	assert_int_equal(job.attempts, 1);
	spool_job_free(&job);
}

static void
test_tags_refused(void **state)
{
	static const struct spool_tag bad[][1] = {
		{ { "a b", "v" } }, { { "", "v" } }, { { "n", "" } },
		{ { "n", "v\n" } }, { { "\xc3\xa9", "v" } },
	};
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 id[SPOOL_ID_LEN + 1], big[SPOOL_TAG_MAX + 2];
	struct spool_tag	 t = { big, "v" };
	size_t			 i;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env.tags = bad[i];
		env.ntags = 1;
		assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
		assert_int_equal(errno, EINVAL);
	}
	memset(big, 'a', sizeof(big) - 2);
	big[sizeof(big) - 2] = '\0';
	env.tags = &t;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), 0);
	assert_int_equal(spool_id_new(id), 0);
	env.id = id;
	big[sizeof(big) - 2] = 'a';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(spool_count(fx->sp, "tmp"), 0);
}

static void
test_tag_lines_parsed(void **state)
{
	static const char *const bad[] = { "tag a\n", "tag a b c\n",
	    "tag a b\ntag a c\n", "tag a b!\n", "tag  b\n" };
	const char		*id = "0640a1b2c3d4e-0123456789abcdef";
	struct spool_job	 job;
	char			 buf[1024];
	size_t			 i;
	int			 n;

	(void)state;
	n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 7\n"
	    "caller c\nmessage-id m@x\nsender s\nrcpt r@x.org\nsubject s\n"
	    "tag x y\ntag tag-2 v_2\nattempts 0\n\nbody", id);
	assert_int_equal(spool_job_parse(&job, id, buf, (size_t)n), 0);
	assert_int_equal(job.env.ntags, 2);
	assert_string_equal(job.env.tags[1].name, "tag-2");
	assert_string_equal(job.env.tags[1].value, "v_2");
	spool_job_free(&job);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\n"
		    "created 7\ncaller c\nmessage-id m@x\nsender s\n"
		    "rcpt r@x.org\nsubject s\n%sattempts 0\n\nbody", id,
		    bad[i]);
		if (spool_job_parse(&job, id, buf, (size_t)n) != -1)
			fail_msg("accepted %s", bad[i]);
		assert_int_equal(errno, EBADMSG);
	}
}

static void
test_enqueue_at(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 id[SPOOL_ID_LEN + 1];
	time_t			 due = time(NULL) + 3600;
	time_t			 mtime;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, strlen(msg),
	    due), 0);
	assert_int_equal(spool_stat(fx->sp, SPOOL_PENDING, id, &mtime), 0);
	assert_int_equal(mtime, due);
	assert_int_equal(spool_oldest_due(fx->sp, spool_now()), 0);
}

/* An id made at time t (seconds), as spool_id_new makes them. */
static void
id_at(char id[SPOOL_ID_LEN + 1], time_t t, unsigned n)
{
	snprintf(id, SPOOL_ID_LEN + 1, "%013llx-%016x",
	    (unsigned long long)t * 1000000ULL, n);
}

static void
test_reschedule_cancel(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1];
	time_t			 now = time(NULL), due = now + 7200, mtime;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.scheduled = due;
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, strlen(msg),
	    due), 0);
	assert_int_equal(spool_reschedule(fx->sp, id, "other", due + 60), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(spool_reschedule(fx->sp, id, "shop", due + 60), 0);
	assert_int_equal(spool_stat(fx->sp, SPOOL_PENDING, id, &mtime), 0);
	assert_int_equal(mtime, due + 60);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_int_equal(job.env.scheduled, due + 60);
	assert_int_equal(job.env.ntags, 2);
	assert_int_equal(job.size - job.msg_off, (off_t)strlen(msg));
	spool_job_free(&job);
	assert_int_equal(spool_count(fx->sp, "tmp"), 0);

	/* Claimed by spoold: neither moves it any more. */
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_reschedule(fx->sp, id, "shop", due), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_cancel(fx->sp, id, "shop"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_unclaim(fx->sp, id), 0);

	assert_int_equal(spool_cancel(fx->sp, id, "other"), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(spool_cancel(fx->sp, id, "shop"), 0);
	assert_int_equal(spool_find(fx->sp, id), SPOOL_CANCELED);
	assert_int_equal(spool_canceled_expire(fx->sp, now - 10), 0);
	assert_int_equal(spool_canceled_expire(fx->sp, now + 10), 1);
	assert_int_equal(spool_find(fx->sp, id), -1);
}

static void
test_oldest_due_counts_from_the_due_time(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	time_t			 now = time(NULL);

	/* Created an hour ago, scheduled for 5 s ago: waits 5 s. */
	id_at(a, now - 3600, 1);
	env_fill(&env, a);
	env.created = now - 3600;
	env.scheduled = now - 5;
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, 3, now - 5), 0);
	assert_int_equal(spool_oldest_due(fx->sp, now), now - 5);
	/* Created 30 min ago, not scheduled, deferred: waits 30 min. */
	id_at(b, now - 1800, 2);
	env_fill(&env, b);
	env.created = now - 1800;
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, 3, now - 1), 0);
	assert_int_equal(spool_oldest_due(fx->sp, now), now - 1800);
}

static void
test_idem_try(void **state)
{
	struct fx		*fx = *state;
	struct spool_idem	 a, b;
	unsigned char		 hash[32];
	char			 got[SPOOL_ID_LEN + 1], id[SPOOL_ID_LEN + 1];

	memset(hash, 7, sizeof(hash));
	assert_int_equal(spool_idem_try(fx->sp, "shop", "k", hash, &a, got),
	    SPOOL_IDEM_NEW);
	/* Held by the first: the second does not wait. */
	assert_int_equal(spool_idem_try(fx->sp, "shop", "k", hash, &b, got),
	    SPOOL_IDEM_BUSY);
	assert_int_equal(spool_idem_try(fx->sp, "other", "k", hash, &b, got),
	    SPOOL_IDEM_NEW);
	spool_idem_abort(&b);
	assert_int_equal(spool_id_new(id), 0);
	assert_int_equal(spool_idem_commit(&a, id), 0);
	assert_int_equal(spool_idem_try(fx->sp, "shop", "k", hash, &b, got),
	    SPOOL_IDEM_DUP);
	assert_string_equal(got, id);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tags_round_trip,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_tags_refused,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test(test_tag_lines_parsed),
		cmocka_unit_test_setup_teardown(test_enqueue_at,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_idem_try,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_reschedule_cancel,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(
		    test_oldest_due_counts_from_the_due_time, spoolfx_setup,
		    spoolfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
