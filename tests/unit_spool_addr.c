/*
 * unit_spool_addr: what the spool keeps for GET /emails/{id}, against a
 * real spool in a temporary directory: the from, to, cc, bcc and reply-to
 * lines of a job (written escaped, read back, kept through a deferral,
 * a reschedule and a cancel, carried into the sent/ record with the tags
 * and the scheduled time), old jobs without them, malformed ones refused;
 * and spoold's claim of a job rescheduled after it was found due.
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

static const char *const rcpts[] = { "a@dest.test", "b@dest.test",
    "c@dest.test", "d@dest.test" };
static const char *const to[] = { "A <a@dest.test>", "b@dest.test" };
static const char *const cc[] = { "\"Doe, C\\\\\" <c@dest.test>" };
static const char *const bcc[] = { "d@dest.test" };
static const char *const replyto[] = { "Zo\xc3\xab <r@dest.test>" };
static const struct spool_tag tags[] = { { "kind", "welcome" } };
static const char msg[] = "From: a@example.com\nSubject: hi\n\nbody\n";
static const char from[] = "J\xc3\xbcrgen \\ Co <app@example.org>";

static void
env_fill(struct spool_env *env, const char *id)
{
	memset(env, 0, sizeof(*env));
	env->id = id;
	env->created = 1700000000;
	env->caller = "shop";
	env->message_id = "x@relay.example";
	env->sender = "app@example.org";
	env->rcpt = rcpts;
	env->nrcpt = 4;
	env->subject = "s";
	env->tags = tags;
	env->ntags = 1;
	env->from = from;
	env->addr[SPOOL_ADDR_TO] = (struct spool_addrs){ to, 2 };
	env->addr[SPOOL_ADDR_CC] = (struct spool_addrs){ cc, 1 };
	env->addr[SPOOL_ADDR_BCC] = (struct spool_addrs){ bcc, 1 };
	env->addr[SPOOL_ADDR_REPLY_TO] = (struct spool_addrs){ replyto, 1 };
}

/* Every addressing field of env as env_fill made it. */
static void
assert_addressing(const struct spool_env *env)
{
	assert_non_null(env->from);
	assert_string_equal(env->from, from);
	assert_int_equal(env->addr[SPOOL_ADDR_TO].n, 2);
	assert_string_equal(env->addr[SPOOL_ADDR_TO].v[0], to[0]);
	assert_string_equal(env->addr[SPOOL_ADDR_TO].v[1], to[1]);
	assert_int_equal(env->addr[SPOOL_ADDR_CC].n, 1);
	assert_string_equal(env->addr[SPOOL_ADDR_CC].v[0], cc[0]);
	assert_int_equal(env->addr[SPOOL_ADDR_BCC].n, 1);
	assert_string_equal(env->addr[SPOOL_ADDR_BCC].v[0], bcc[0]);
	assert_int_equal(env->addr[SPOOL_ADDR_REPLY_TO].n, 1);
	assert_string_equal(env->addr[SPOOL_ADDR_REPLY_TO].v[0], replyto[0]);
	assert_int_equal(env->nrcpt, 4);
	assert_string_equal(env->rcpt[3], "d@dest.test");
	assert_int_equal(env->ntags, 1);
	assert_string_equal(env->tags[0].value, "welcome");
}

static char *
slurp(struct fx *fx, const char *sub, const char *id)
{
	char	 path[256], *buf;
	FILE	*f;
	long	 n;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->dir, sub, id);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	assert_non_null(buf = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	return buf;
}

static void
test_round_trip(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1], *file;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
	file = slurp(fx, "pending", id);
	/* Escaped as error is: backslash, bytes >= 0x7f; spaces stay. */
	assert_non_null(strstr(file,
	    "\nfrom J\\xc3\\xbcrgen \\\\ Co <app@example.org>\n"));
	assert_non_null(strstr(file, "\nto A <a@dest.test>\nto b@dest.test\n"
	    "cc \"Doe, C\\\\\\\\\" <c@dest.test>\nbcc d@dest.test\n"
	    "reply-to Zo\\xc3\\xab <r@dest.test>\n"));
	free(file);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_addressing(&job.env);
	spool_job_free(&job);

	/* A deferral rewrites the job: they stay. */
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_defer(fx->sp, &job, time(NULL), "later"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_addressing(&job.env);
	assert_int_equal(job.attempts, 1);
	spool_job_free(&job);
}

static void
test_record_carries_them(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_job	 job;
	struct spool_record	 rec;
	struct spool_outcome	 o = { SPOOL_RCPT_DELIVERED, "2.0.0", "relay",
	    "250 ok", 1700000100 };
	char			 id[SPOOL_ID_LEN + 1];

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.scheduled = 1700000050;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_sent(fx->sp, &job, 1700000060), 0);
	spool_job_free(&job);
	assert_int_equal(spool_done(fx->sp, id), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_addressing(&rec.env);
	assert_int_equal(rec.env.scheduled, 1700000050);
	spool_record_free(&rec);

	/* An outcome rewrites the record: they stay. */
	assert_int_equal(spool_record_outcome(fx->sp, id, "AB12", "b@dest.test",
	    &o, 1), 0);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_SENT);
	assert_addressing(&rec.env);
	assert_int_equal(rec.env.scheduled, 1700000050);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_DELIVERED);
	spool_record_free(&rec);
}

static void
test_lookup_of_jobs(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_record	 rec;
	char			 id[SPOOL_ID_LEN + 1];
	time_t			 due = time(NULL) + 3600;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.scheduled = due;
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, strlen(msg), due),
	    0);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_PENDING);
	assert_addressing(&rec.env);
	spool_record_free(&rec);

	/* A reschedule and a cancel keep them too. */
	assert_int_equal(spool_reschedule(fx->sp, id, "shop", due + 60), 0);
	assert_int_equal(spool_cancel(fx->sp, id, "shop"), 0);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_CANCELED);
	assert_addressing(&rec.env);
	assert_int_equal(rec.env.scheduled, due + 60);
	spool_record_free(&rec);
}

#define HEAD	"mail-relay-job 1\nid %s\ncreated 1\ncaller c\n" \
		"message-id m@x\nsender s@x\nrcpt r@x\nsubject s\n%s" \
		"attempts 0\n\nbody\n"

static int
parse(const char *id, const char *extra, struct spool_job *job)
{
	char	buf[1024];
	int	n;

	n = snprintf(buf, sizeof(buf), HEAD, id, extra);
	return spool_job_parse(job, id, buf, (size_t)n);
}

static void
test_old_and_bad_jobs(void **state)
{
	static const char *const bad[] = {
		"to a@x\n",			/* an address without from */
		"from \n",			/* empty */
		"from a@x\nfrom b@x\n",		/* twice */
		"from a@x\nto \n",
		"from a\\x00b\n",		/* NUL by escape */
		"from a\\q\n",			/* bad escape */
		"from a@x\nbcc a\\nBcc: b@x\n",	/* LF by escape */
		"from a\\rb\n",			/* CR by escape */
		"from a@x\nreply-to\n",		/* no value */
		"from a@x\nscheduled 0\n",
	};
	struct spool_job	job;
	char			id[SPOOL_ID_LEN + 1];
	size_t			i, k;

	(void)state;
	assert_int_equal(spool_id_new(id), 0);
	/* Written before the lines existed: valid, no addressing. */
	assert_int_equal(parse(id, "", &job), 0);
	assert_null(job.env.from);
	for (k = 0; k < SPOOL_NADDR; k++)
		assert_int_equal(job.env.addr[k].n, 0);
	spool_job_free(&job);
	/* from alone, lists in any order */
	assert_int_equal(parse(id, "bcc b@x\nfrom F <f@x>\nto t@x\nbcc c@x\n",
	    &job), 0);
	assert_string_equal(job.env.from, "F <f@x>");
	assert_int_equal(job.env.addr[SPOOL_ADDR_BCC].n, 2);
	assert_string_equal(job.env.addr[SPOOL_ADDR_BCC].v[1], "c@x");
	assert_string_equal(job.env.addr[SPOOL_ADDR_TO].v[0], "t@x");
	assert_int_equal(job.env.addr[SPOOL_ADDR_CC].n, 0);
	spool_job_free(&job);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(parse(id, bad[i], &job), -1);
		assert_int_equal(errno, EBADMSG);
	}
}

static void
test_refused_values(void **state)
{
	static const char *const badto[] = { "a@x\r\nBcc: evil@x" };
	static const char *const empty[] = { "" };
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 id[SPOOL_ID_LEN + 1];

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.from = "F <f@x>\n";
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	env_fill(&env, id);
	env.addr[SPOOL_ADDR_CC] = (struct spool_addrs){ badto, 1 };
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	env.addr[SPOOL_ADDR_CC] = (struct spool_addrs){ empty, 1 };
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	/* Addresses without a From are refused, not written half. */
	env_fill(&env, id);
	env.from = NULL;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_count(fx->sp, "pending"), 0);
	assert_int_equal(spool_count(fx->sp, "tmp"), 0);
}

static time_t
mtime(struct fx *fx, const char *sub, const char *id)
{
	char		path[256];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->dir, sub, id);
	if (stat(path, &st) == -1)
		return -1;
	return st.st_mtime;
}

/*
 * spoold found a job due (its index, the stat in take_job), then PATCH
 * /emails/{id} exchanged it for a copy due later, then spoold claims:
 * the claim takes the new copy and must not hand it over early.
 */
static void
test_claim_after_reschedule(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1];
	time_t			 now = time(NULL), seen, due;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.scheduled = now - 10;
	assert_int_equal(spool_enqueue_at(fx->sp, &env, msg, strlen(msg),
	    now - 10), 0);
	/* spoold's view: due. */
	assert_int_equal(spool_stat(fx->sp, SPOOL_PENDING, id, &seen), 0);
	assert_true(seen <= now);
	/* The caller moves it an hour on, between the stat and the claim. */
	assert_int_equal(spool_reschedule(fx->sp, id, "shop", now + 3600), 0);
	due = 0;
	assert_int_equal(spool_claim_due(fx->sp, id, now, &due), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(due, now + 3600);
	/* Back in pending/, unchanged: the rescheduled copy, not sent. */
	assert_int_equal(mtime(fx, "processing", id), -1);
	assert_int_equal(mtime(fx, "pending", id), now + 3600);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_int_equal(job.env.scheduled, now + 3600);
	assert_addressing(&job.env);
	spool_job_free(&job);

	/* Once due it is claimed as always. */
	assert_int_equal(spool_claim_due(fx->sp, id, now + 3600, &due), 0);
	assert_int_equal(mtime(fx, "pending", id), -1);
	assert_int_equal(mtime(fx, "processing", id), now + 3600);
	/* Gone meanwhile: ENOENT, as spool_claim. */
	assert_int_equal(spool_claim_due(fx->sp, id, now, &due), -1);
	assert_int_equal(errno, ENOENT);
}

#define FX(f)	cmocka_unit_test_setup_teardown(f, spoolfx_setup, \
		    spoolfx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		FX(test_round_trip),
		FX(test_record_carries_them),
		FX(test_lookup_of_jobs),
		cmocka_unit_test(test_old_and_bad_jobs),
		FX(test_refused_values),
		FX(test_claim_after_reschedule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
