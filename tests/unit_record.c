/*
 * unit_record: delivery records (sent/), outcomes as trackd applies them,
 * lookup in every state, expiry, the queue id map, the suppression list,
 * trackd's lock and position, and the message state function, against a
 * real spool in a temporary directory.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

static const char *const rcpts[] = { "alice@Dest.test", "b@dest.test",
    "d@dest.test" };
static const char msg[] = "From: a@example.com\nSubject: hi\n\nbody\n";

static void
path_of(struct fx *fx, const char *sub, const char *name, char *out)
{
	snprintf(out, 256, "%s/%s/%s", fx->dir, sub, name);
}

static int
exists(struct fx *fx, const char *sub, const char *name)
{
	char		path[256];
	struct stat	st;

	path_of(fx, sub, name, path);
	return stat(path, &st) == 0;
}

static char *
slurp(struct fx *fx, const char *sub, const char *name)
{
	static char	buf[65536];
	char		path[256];
	ssize_t		n;
	int		fd;

	path_of(fx, sub, name, path);
	assert_true((fd = open(path, O_RDONLY)) != -1);
	assert_true((n = read(fd, buf, sizeof(buf) - 1)) >= 0);
	close(fd);
	buf[n] = '\0';
	return buf;
}

static int
dir_entries(struct fx *fx, const char *sub)
{
	char		 path[256];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, sub);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Enqueues a job with rcpts and claims it, as spoold would. */
static void
claimed_job(struct fx *fx, char id[SPOOL_ID_LEN + 1], struct spool_job *job)
{
	struct spool_env	env;

	assert_int_equal(spool_id_new(id), 0);
	memset(&env, 0, sizeof(env));
	env.id = id;
	env.created = 1700000000;
	env.caller = "billing";
	env.message_id = "x@relay.example";
	env.sender = "app@example.com";
	env.rcpt = rcpts;
	env.nrcpt = 3;
	env.subject = "Invoice 42";
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, job), 0);
}

/* A job handed over: sent/<id> written, processing/<id> gone. */
static void
sent_job(struct fx *fx, char id[SPOOL_ID_LEN + 1])
{
	struct spool_job	job;

	claimed_job(fx, id, &job);
	assert_int_equal(spool_sent(fx->sp, &job, 1700000100), 0);
	assert_int_equal(spool_done(fx->sp, id), 0);
	spool_job_free(&job);
}

static struct spool_outcome
outcome(int status, const char *dsn, const char *reply, time_t at)
{
	struct spool_outcome	o;

	memset(&o, 0, sizeof(o));
	o.status = status;
	o.dsn = dsn;
	o.relay = "127.0.0.1[127.0.0.1]:2526";
	o.reply = reply;
	o.at = at;
	return o;
}

static void
test_sent_record(void **state)
{
	struct fx		*fx = *state;
	struct spool_record	 rec;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1], *file;
	size_t			 i;

	sent_job(fx, id);
	assert_false(exists(fx, "processing", id));
	file = slurp(fx, "sent", id);
	/* Never the body: the record is the header alone. */
	assert_null(strstr(file, "body"));
	assert_null(strstr(file, "From:"));
	assert_non_null(strstr(file, "mail-relay-sent 1\n"));
	assert_non_null(strstr(file, "\nsent 1700000100\n"));
	assert_non_null(strstr(file, "\nattempts 1\n"));
	assert_int_equal(dir_entries(fx, "tmp"), 0);

	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_SENT);
	assert_string_equal(rec.env.caller, "billing");
	assert_string_equal(rec.env.message_id, "x@relay.example");
	assert_string_equal(rec.env.sender, "app@example.com");
	assert_string_equal(rec.env.subject, "Invoice 42");
	assert_int_equal(rec.env.created, 1700000000);
	assert_int_equal(rec.sent, 1700000100);
	assert_int_equal(rec.attempts, 1);
	assert_int_equal(rec.seq, 0);
	assert_int_equal(rec.nqid, 0);
	assert_int_equal(rec.env.nrcpt, 3);
	for (i = 0; i < 3; i++) {
		assert_string_equal(rec.rcptv[i].email, rcpts[i]);
		assert_string_equal(rec.env.rcpt[i], rcpts[i]);
		assert_int_equal(rec.rcptv[i].status, SPOOL_RCPT_QUEUED);
		assert_string_equal(rec.rcptv[i].reply, "");
	}
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_SENT);
	spool_record_free(&rec);
	assert_int_equal(spool_count(fx->sp, "sent"), 1);
	assert_int_equal(spool_find(fx->sp, id), SPOOL_SENT);

	assert_int_equal(spool_record_read(fx->sp, "nope", &rec), -1);
	assert_int_equal(errno, EINVAL);
	spool_record_free(&rec);
	id[0] = id[0] == '0' ? '1' : '0';
	assert_int_equal(spool_record_read(fx->sp, id, &rec), -1);
	assert_int_equal(errno, ENOENT);
	spool_record_free(&rec);
	/* spool_read reads jobs only. */
	assert_int_equal(spool_read(fx->sp, SPOOL_SENT, id, &job), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_outcomes(void **state)
{
	struct fx		*fx = *state;
	struct spool_record	 rec;
	struct spool_outcome	 o;
	char			 id[SPOOL_ID_LEN + 1];

	sent_job(fx, id);
	o = outcome(SPOOL_RCPT_DELIVERED, "2.0.0", "250 2.0.0 stored", 1700000200);
	/* The domain compares case-insensitively, the local part not. */
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "alice@dest.TEST", &o, 10), 0);
	o = outcome(SPOOL_RCPT_BOUNCED, "5.1.1", "host 127.0.0.1[127.0.0.1] "
	    "said: 550 5.1.1 <b@dest.test>: no such user here", 1700000201);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "b@dest.test", &o, 11), 0);
	o = outcome(SPOOL_RCPT_DEFERRED, "4.3.0", "451 4.3.0 try again later",
	    1700000202);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 12), 0);
	/* A replay of the same lines after a crash applies nothing. */
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 12), 1);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 5), 1);
	/* Unknown recipient and message. */
	assert_int_equal(spool_record_outcome(fx->sp, id, NULL,
	    "ALICE@dest.test", &o, 13), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(spool_record_outcome(fx->sp,
	    "0000000000000-0000000000000000", NULL, "d@dest.test", &o, 14), -1);
	assert_int_equal(errno, ENOENT);
	o.status = SPOOL_RCPT_QUEUED;
	assert_int_equal(spool_record_outcome(fx->sp, id, NULL, "d@dest.test",
	    &o, 15), -1);
	assert_int_equal(errno, EINVAL);

	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.seq, 12);
	assert_int_equal(rec.nqid, 1);
	assert_string_equal(rec.qidv[0], "DC61410C683");
	assert_int_equal(rec.rcptv[0].status, SPOOL_RCPT_DELIVERED);
	assert_string_equal(rec.rcptv[0].dsn, "2.0.0");
	assert_string_equal(rec.rcptv[0].reply, "250 2.0.0 stored");
	assert_string_equal(rec.rcptv[0].relay, "127.0.0.1[127.0.0.1]:2526");
	assert_int_equal(rec.rcptv[0].at, 1700000200);
	assert_int_equal(rec.rcptv[0].attempts, 1);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_BOUNCED);
	assert_string_equal(rec.rcptv[1].dsn, "5.1.1");
	assert_int_equal(rec.rcptv[2].status, SPOOL_RCPT_DEFERRED);
	assert_int_equal(rec.rcptv[2].attempts, 1);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_DEFERRED);
	spool_record_free(&rec);

	/* Deferred again, then accepted: attempts count exactly. */
	o = outcome(SPOOL_RCPT_DEFERRED, "4.3.0", "451 again", 1700000300);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 20), 0);
	o = outcome(SPOOL_RCPT_DELIVERED, "2.0.0", "250 ok", 1700000400);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 21), 0);
	/* A late deferral never replaces a final status. */
	o = outcome(SPOOL_RCPT_DEFERRED, "4.3.0", "451 late", 1700000500);
	assert_int_equal(spool_record_outcome(fx->sp, id, "DC61410C683",
	    "d@dest.test", &o, 22), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.rcptv[2].status, SPOOL_RCPT_DELIVERED);
	assert_int_equal(rec.rcptv[2].attempts, 3);
	assert_string_equal(rec.rcptv[2].reply, "250 ok");
	assert_int_equal(rec.seq, 22);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_PARTIALLY_BOUNCED);
	spool_record_free(&rec);
	assert_int_equal(dir_entries(fx, "tmp"), 0);
}

static void
test_reply_cleaned(void **state)
{
	struct fx		*fx = *state;
	struct spool_record	 rec;
	struct spool_outcome	 o;
	char			 id[SPOOL_ID_LEN + 1], big[2000], *file;
	size_t			 i;

	sent_job(fx, id);
	/* Control characters go, invalid UTF-8 becomes '?', UTF-8 stays. */
	o = outcome(SPOOL_RCPT_BOUNCED, "5.1.1",
	    "550\t no\x01 such \xff user \xc3\xa9 - \\x41 \xc2\x85!", 1);
	o.relay = "-";
	assert_int_equal(spool_record_outcome(fx->sp, id, NULL, "b@dest.test",
	    &o, 1), 0);
	file = slurp(fx, "sent", id);
	assert_null(strchr(file, '\t'));
	assert_non_null(strstr(file, "outcome 1 bounced 1 1 5.1.1 \\x2d "));
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_string_equal(rec.rcptv[1].reply,
	    "550 no such ? user \xc3\xa9 - \\x41 !");
	assert_string_equal(rec.rcptv[1].relay, "-");
	spool_record_free(&rec);

	/* Cut to 512 bytes, never inside a character; a bad dsn dropped. */
	for (i = 0; i + 2 <= sizeof(big) - 1; i += 2)
		memcpy(big + i, "\xc3\xa9", 2);
	big[i] = '\0';
	o = outcome(SPOOL_RCPT_BOUNCED, "5.1.1\n", big, 2);
	o.relay = NULL;
	assert_int_equal(spool_record_outcome(fx->sp, id, NULL, "b@dest.test",
	    &o, 2), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(strlen(rec.rcptv[1].reply), SPOOL_REPLY_MAX);
	assert_string_equal(rec.rcptv[1].dsn, "");	/* not a dsn */
	assert_string_equal(rec.rcptv[1].relay, "-");	/* NULL keeps */
	spool_record_free(&rec);
	o.dsn = NULL;
	o.reply = NULL;
	o.status = SPOOL_RCPT_EXPIRED;
	assert_int_equal(spool_record_outcome(fx->sp, id, NULL, "b@dest.test",
	    &o, 3), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(strlen(rec.rcptv[1].reply), SPOOL_REPLY_MAX);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_EXPIRED);
	assert_int_equal(rec.rcptv[1].attempts, 2);	/* expired adds none */
	spool_record_free(&rec);
}

static void
test_outcome_before_record(void **state)
{
	struct fx		*fx = *state;
	struct spool_record	 rec;
	struct spool_outcome	 o;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1];

	/* Postfix speaks before spoold has written the record. */
	claimed_job(fx, id, &job);
	o = outcome(SPOOL_RCPT_DELIVERED, "2.0.0", "250 ok", 1700000150);
	assert_int_equal(spool_record_outcome(fx->sp, id, "ABC", "b@dest.test",
	    &o, 7), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.sent, 0);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_DELIVERED);
	spool_record_free(&rec);
	/* spool_sent completes it and keeps the outcome. */
	assert_int_equal(spool_sent(fx->sp, &job, 1700000100), 0);
	assert_int_equal(spool_done(fx->sp, id), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.sent, 1700000100);
	assert_int_equal(rec.seq, 7);
	assert_int_equal(rec.nqid, 1);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_DELIVERED);
	assert_int_equal(rec.rcptv[0].status, SPOOL_RCPT_QUEUED);
	spool_record_free(&rec);
	/* A hand-over repeated after a crash keeps it too. */
	assert_int_equal(spool_sent(fx->sp, &job, 1700000900), 0);
	assert_int_equal(spool_record_read(fx->sp, id, &rec), 0);
	assert_int_equal(rec.sent, 1700000900);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_DELIVERED);
	spool_record_free(&rec);
	spool_job_free(&job);
}

static void
test_lookup_states(void **state)
{
	struct fx		*fx = *state;
	struct spool_record	 rec;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1];

	claimed_job(fx, id, &job);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_PROCESSING);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_SENDING);
	assert_int_equal(rec.env.nrcpt, 3);
	assert_string_equal(rec.rcptv[2].email, "d@dest.test");
	spool_record_free(&rec);

	assert_int_equal(spool_defer(fx->sp, &job, 1700000000, "exit 75: later"),
	    0);
	spool_job_free(&job);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(rec.state, SPOOL_PENDING);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_QUEUED);
	assert_int_equal(rec.attempts, 1);
	assert_string_equal(rec.error, "exit 75: later");
	assert_int_equal(rec.next, 1700000000);
	assert_int_equal(rec.rcptv[0].status, SPOOL_RCPT_QUEUED);
	spool_record_free(&rec);

	assert_int_equal(spool_hold(fx->sp, id), 0);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_HELD);
	spool_record_free(&rec);

	assert_int_equal(spool_release(fx->sp, id), 0);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_fail(fx->sp, &job, "exit 67: no such user"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_FAILED);
	assert_string_equal(rec.error, "exit 67: no such user");
	assert_int_equal(rec.attempts, 2);
	spool_record_free(&rec);

	assert_int_equal(spool_retry(fx->sp, id), 0);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_sent(fx->sp, &job, 1700000100), 0);
	assert_int_equal(spool_done(fx->sp, id), 0);
	spool_job_free(&job);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), 0);
	assert_int_equal(spool_record_state(&rec), SPOOL_MSG_SENT);
	assert_int_equal(rec.attempts, 1);	/* retry reset it */
	assert_null(rec.error);
	spool_record_free(&rec);

	/* A record is not retried; it can be deleted. */
	assert_int_equal(spool_retry(fx->sp, id), -1);
	assert_int_equal(errno, EALREADY);
	assert_int_equal(spool_delete(fx->sp, id, NULL), 0);
	assert_int_equal(spool_record_lookup(fx->sp, id, &rec), -1);
	assert_int_equal(errno, ENOENT);
	spool_record_free(&rec);
	assert_int_equal(spool_record_lookup(fx->sp, "../etc", &rec), -1);
	assert_int_equal(errno, EINVAL);
	spool_record_free(&rec);
}

static void
set_mtime(struct fx *fx, const char *sub, const char *name, time_t t)
{
	char		path[256];
	struct timespec	ts[2];

	path_of(fx, sub, name, path);
	ts[0].tv_sec = ts[1].tv_sec = t;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
test_expire_qid(void **state)
{
	struct fx		*fx = *state;
	struct spool_outcome	 o;
	char			 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	char			 got[SPOOL_ID_LEN + 1];
	time_t			 now = time(NULL);

	sent_job(fx, a);
	sent_job(fx, b);
	assert_int_equal(spool_qid_put(fx->sp, "AAA111", a), 0);
	assert_int_equal(spool_qid_put(fx->sp, "BBB222", b), 0);
	assert_int_equal(spool_qid_put(fx->sp, "CCC333", b), 0);
	assert_int_equal(spool_qid_put(fx->sp, "OrphanZ9", a), 0);
	assert_int_equal(spool_qid_get(fx->sp, "AAA111", got), 0);
	assert_string_equal(got, a);
	assert_int_equal(spool_qid_get(fx->sp, "NOPE", got), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_qid_get(fx->sp, "../x", got), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_qid_put(fx->sp, "A-B", a), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_qid_put(fx->sp,
	    "0123456789abcdef0123456789ABCDEFx", a), -1);
	o = outcome(SPOOL_RCPT_DELIVERED, "2.0.0", "250 ok", now);
	assert_int_equal(spool_record_outcome(fx->sp, a, "AAA111",
	    "b@dest.test", &o, 1), 0);
	assert_int_equal(spool_record_outcome(fx->sp, b, "BBB222",
	    "b@dest.test", &o, 2), 0);

	/* a is old; b too, but its queue ids were written just now. */
	set_mtime(fx, "sent", a, now - 8 * 86400);
	set_mtime(fx, "qid", "AAA111", now - 8 * 86400);
	assert_int_equal(spool_record_expire(fx->sp, now - 7 * 86400), 1);
	assert_false(exists(fx, "sent", a));
	assert_true(exists(fx, "sent", b));
	assert_false(exists(fx, "qid", "AAA111"));
	assert_true(exists(fx, "qid", "OrphanZ9")); /* written before, not old */
	/* An old queue id whose record is gone goes too. */
	assert_true(exists(fx, "qid", "BBB222"));
	set_mtime(fx, "qid", "OrphanZ9", now - 8 * 86400);
	set_mtime(fx, "qid", "CCC333", now - 8 * 86400);
	assert_int_equal(spool_record_expire(fx->sp, now - 7 * 86400), 0);
	assert_false(exists(fx, "qid", "OrphanZ9"));
	assert_true(exists(fx, "qid", "CCC333"));	/* b lives on */
	assert_int_equal(spool_count(fx->sp, "sent"), 1);
}

static void
test_suppress(void **state)
{
	struct fx			*fx = *state;
	struct spool_suppression	 s, *v;
	char				 id[SPOOL_ID_LEN + 1], norm[320];
	size_t				 n;

	assert_int_equal(spool_id_new(id), 0);
	assert_int_equal(spool_addr_normalise("Bob@Dest.TEST", norm,
	    sizeof(norm)), 0);
	assert_string_equal(norm, "Bob@dest.test");
	assert_int_equal(spool_suppress_count(fx->sp), 0);
	assert_int_equal(spool_suppress_check(fx->sp, "b@dest.test"), 0);
	assert_int_equal(spool_suppress_add(fx->sp, "b@DEST.test", 1700000000,
	    id, "550 5.1.1 no\nsuch user"), 0);
	assert_int_equal(spool_suppress_add(fx->sp, "a@dest.test", 1700000001,
	    NULL, NULL), 0);
	assert_int_equal(spool_suppress_check(fx->sp, "b@dest.test"), 1);
	assert_int_equal(spool_suppress_check(fx->sp, "b@Dest.Test"), 1);
	assert_int_equal(spool_suppress_check(fx->sp, "B@dest.test"), 0);
	assert_int_equal(spool_suppress_check(fx->sp, "c@dest.test"), 0);
	assert_int_equal(spool_suppress_check(fx->sp, "nonsense"), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_suppress_add(fx->sp, "x y@dest.test", 1, NULL,
	    NULL), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_suppress_count(fx->sp), 2);

	assert_int_equal(spool_suppress_get(fx->sp, "b@dest.test", &s), 0);
	assert_string_equal(s.address, "b@dest.test");
	assert_int_equal(s.at, 1700000000);
	assert_string_equal(s.id, id);
	assert_string_equal(s.reply, "550 5.1.1 no\nsuch user");

	assert_int_equal(spool_suppress_list(fx->sp, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].address, "a@dest.test");
	assert_string_equal(v[0].id, "");
	assert_string_equal(v[0].reply, "");
	assert_string_equal(v[1].address, "b@dest.test");
	free(v);

	assert_int_equal(spool_suppress_remove(fx->sp, "b@dest.TEST"), 0);
	assert_int_equal(spool_suppress_check(fx->sp, "b@dest.test"), 0);
	assert_int_equal(spool_suppress_remove(fx->sp, "b@dest.test"), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_suppress_count(fx->sp), 1);
	assert_int_equal(dir_entries(fx, "tmp"), 0);
}

static void
test_track(void **state)
{
	struct fx		*fx = *state;
	struct spool_track_pos	 pos, got;
	struct spool		*other;
	pid_t			 pid;
	int			 st;

	assert_int_equal(spool_track_pos_load(fx->sp, &got), -1);
	assert_int_equal(errno, ENOENT);
	pos.dev = 2049;
	pos.ino = 123456789;
	pos.offset = 1ULL << 40;
	pos.seq = 99;
	assert_int_equal(spool_track_pos_save(fx->sp, &pos), 0);
	assert_int_equal(spool_track_pos_load(fx->sp, &got), 0);
	assert_memory_equal(&pos, &got, sizeof(pos));
	pos.seq = 100;
	assert_int_equal(spool_track_pos_save(fx->sp, &pos), 0);
	assert_int_equal(spool_track_pos_load(fx->sp, &got), 0);
	assert_int_equal(got.seq, 100);
	assert_int_equal(dir_entries(fx, "tmp"), 0);

	assert_int_equal(spool_track_running(fx->sp), 0);
	assert_int_equal(spool_track_lock(fx->sp), 0);
	/* Another process sees the lock and cannot take it. */
	if ((pid = fork()) == 0) {
		other = spool_open(fx->dir);
		_exit(other != NULL && spool_track_running(other) == 1 &&
		    spool_track_lock(other) == -1 && errno == EWOULDBLOCK &&
		    spool_daemon_running(other) == 0 ? 0 : 1);
	}
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_msg_state(void **state)
{
	struct spool_rcpt	r[3];
	size_t			i;

	(void)state;
	memset(r, 0, sizeof(r));
	assert_int_equal(spool_msg_state(SPOOL_PENDING, r, 3), SPOOL_MSG_QUEUED);
	assert_int_equal(spool_msg_state(SPOOL_PROCESSING, r, 3),
	    SPOOL_MSG_SENDING);
	assert_int_equal(spool_msg_state(SPOOL_HELD, r, 3), SPOOL_MSG_HELD);
	assert_int_equal(spool_msg_state(SPOOL_FAILED, r, 3), SPOOL_MSG_FAILED);
	assert_int_equal(spool_msg_state(99, r, 3), SPOOL_MSG_NSTATES);
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_SENT);
	r[0].status = SPOOL_RCPT_DELIVERED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_SENT);
	r[1].status = SPOOL_RCPT_DEFERRED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_DEFERRED);
	r[1].status = SPOOL_RCPT_DELIVERED;
	r[2].status = SPOOL_RCPT_DELIVERED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_DELIVERED);
	r[2].status = SPOOL_RCPT_BOUNCED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3),
	    SPOOL_MSG_PARTIALLY_BOUNCED);
	for (i = 0; i < 3; i++)
		r[i].status = i ? SPOOL_RCPT_BOUNCED : SPOOL_RCPT_EXPIRED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_BOUNCED);
	r[0].status = SPOOL_RCPT_DEFERRED;
	assert_int_equal(spool_msg_state(SPOOL_SENT, r, 3), SPOOL_MSG_DEFERRED);
	assert_string_equal(spool_msg_state_name(SPOOL_MSG_PARTIALLY_BOUNCED),
	    "partially_bounced");
	assert_string_equal(spool_msg_state_name(SPOOL_MSG_NSTATES), "unknown");
	assert_string_equal(spool_rcpt_status_name(SPOOL_RCPT_DELIVERED),
	    "delivered");
	assert_int_equal(spool_rcpt_status_parse("expired"), SPOOL_RCPT_EXPIRED);
	assert_int_equal(spool_rcpt_status_parse("sent"), -1);
	assert_string_equal(spool_state_name(SPOOL_SENT), "sent");
	assert_int_equal(spool_state_parse("sent"), SPOOL_SENT);
}

#define ID	"0640a1b2c3d4e-0123456789abcdef"
#define HEAD	"mail-relay-sent 1\nid " ID "\ncreated 1\ncaller c\n" \
		"message-id m@x\nsender s@x\nrcpt a@x\nrcpt b@x\nsubject s\n" \
		"attempts 1\nsent 2\nseq 3\n"

static int
parses(const char *s)
{
	struct spool_record	rec;
	int			r;

	r = spool_record_parse(&rec, ID, s, strlen(s));
	spool_record_free(&rec);
	return r;
}

static void
test_parse(void **state)
{
	struct spool_record	rec;
	const char		*ok = HEAD "queue-id ABC\noutcome 1 bounced 2 5 "
	    "5.1.1 h[1.2.3.4]:25 550\\x20no\\x20such\\x20user\n";

	(void)state;
	assert_int_equal(spool_record_parse(&rec, ID, ok, strlen(ok)), 0);
	assert_int_equal(rec.rcptv[1].status, SPOOL_RCPT_BOUNCED);
	assert_int_equal(rec.rcptv[1].attempts, 2);
	assert_string_equal(rec.rcptv[1].reply, "550 no such user");
	assert_string_equal(rec.rcptv[1].relay, "h[1.2.3.4]:25");
	assert_int_equal(rec.rcptv[0].status, SPOOL_RCPT_QUEUED);
	assert_int_equal(rec.seq, 3);
	spool_record_free(&rec);
	/* A value that looks like an outcome line is a value. */
	assert_int_equal(parses("mail-relay-sent 1\nid " ID "\ncreated 1\n"
	    "caller c\nmessage-id m@x\nsender s@x\nrcpt a@x\n"
	    "subject outcome 0 bounced 1 1 - - -\nattempts 1\nsent 2\nseq 3\n"),
	    0);

	assert_int_equal(parses(HEAD), 0);
	assert_int_equal(parses(""), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(parses("mail-relay-job 1\n"), -1);
	assert_int_equal(parses(HEAD "outcome 2 bounced 1 1 - - -\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced 1 1 - - -\n"
	    "outcome 0 bounced 1 1 - - -\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 sent 1 1 - - -\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced 1 1 - -\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced 1 1 - - - x\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced 1 1 6.0.0 - -\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced 1 1 - - \\x00\n"), -1);
	assert_int_equal(parses(HEAD "outcome 0 bounced -1 1 - - -\n"), -1);
	assert_int_equal(parses(HEAD "queue-id ../x\n"), -1);
	assert_int_equal(parses(HEAD "seq 4\n"), -1);
	assert_int_equal(parses(HEAD "bogus 1\n"), -1);
	assert_int_equal(parses(HEAD "rcpt c@x\r\n"), -1);
	assert_int_equal(parses(HEAD "rcpt c@x"), -1);
	assert_int_equal(parses("mail-relay-sent 1\nid " ID "\ncreated 1\n"
	    "caller c\nmessage-id m@x\nsender s@x\nsubject s\nattempts 1\n"
	    "sent 2\nseq 3\n"), -1);		/* no recipient */
	assert_int_equal(parses("mail-relay-sent 1\nid " ID "\ncreated 1\n"
	    "caller c\nmessage-id m@x\nsender s@x\nrcpt a@x\nsubject s\n"
	    "attempts 1\nsent 2\n"), -1);	/* no seq */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sent_record,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_outcomes,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_reply_cleaned,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_outcome_before_record,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_lookup_states,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_expire_qid,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_suppress,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_track,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test(test_msg_state),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
