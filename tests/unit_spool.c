/*
 * unit_spool: the spool module against a real spool in a temporary
 * directory: ids, enqueue, the job file format, every state change, the
 * race answers (ENOENT, EBUSY) and Idempotency-Key records.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

static const char *const rcpts[] = { "to@example.org", "bcc@example.net" };
static const char msg[] = "From: a@example.com\nSubject: hi\n\nbody\n";

static void
env_fill(struct spool_env *env, const char *id)
{
	memset(env, 0, sizeof(*env));
	env->id = id;
	env->created = 1700000000;
	env->caller = "billing";
	env->message_id = "x@relay.example";
	env->sender = "a@example.com";
	env->rcpt = rcpts;
	env->nrcpt = 2;
	env->subject = "Gr\xc3\xbc\xc3\x9f" "e";
}

static void
enqueue_one(struct fx *fx, char id[SPOOL_ID_LEN + 1])
{
	struct spool_env	env;

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
}

static int
exists(struct fx *fx, const char *sub, const char *name)
{
	char		path[256];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->dir, sub, name);
	return stat(path, &st) == 0;
}

static int
dir_entries(struct fx *fx, const char *sub)
{
	char		 path[256];
	DIR		*d;
	struct dirent	*de;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/%s", fx->dir, sub);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
write_file(struct fx *fx, const char *sub, const char *name, const char *s)
{
	char	path[256];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s/%s", fx->dir, sub, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(s, f);
	assert_int_equal(fclose(f), 0);
}

static void
test_id(void **state)
{
	char	a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];

	(void)state;
	assert_int_equal(spool_id_new(a), 0);
	usleep(2);
	assert_int_equal(spool_id_new(b), 0);
	assert_int_equal(strlen(a), SPOOL_ID_LEN);
	assert_true(spool_id_valid(a));
	assert_true(strcmp(a, b) < 0);		/* sorts by age */
	assert_true(spool_id_usec(a) / 1000000 - time(NULL) + 2 <= 4);
	assert_true(spool_id_valid("0640a1b2c3d4e-0123456789abcdef"));
	assert_false(spool_id_valid("0640A1B2C3D4E-0123456789abcdef"));
	assert_false(spool_id_valid("0640a1b2c3d4e_0123456789abcdef"));
	assert_false(spool_id_valid("0640a1b2c3d4e-0123456789abcde"));
	assert_false(spool_id_valid("0640a1b2c3d4e-0123456789abcdef0"));
	assert_false(spool_id_valid("../../etc/passwd"));
	assert_false(spool_id_valid(""));
	assert_false(spool_id_valid(NULL));
	assert_int_equal(spool_id_usec("bad"), 0);
}

static void
test_enqueue_read(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job;
	char			 id[SPOOL_ID_LEN + 1], buf[256];
	char			 path[256];
	struct stat		 st;
	ssize_t			 n;

	enqueue_one(fx, id);
	assert_true(exists(fx, "pending", id));
	assert_int_equal(dir_entries(fx, "tmp"), 0);
	snprintf(path, sizeof(path), "%s/pending/%s", fx->dir, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(spool_count(fx->sp, "pending"), 1);

	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	assert_string_equal(job.env.id, id);
	assert_int_equal(job.env.created, 1700000000);
	assert_string_equal(job.env.caller, "billing");
	assert_string_equal(job.env.message_id, "x@relay.example");
	assert_string_equal(job.env.sender, "a@example.com");
	assert_int_equal(job.env.nrcpt, 2);
	assert_string_equal(job.env.rcpt[0], "to@example.org");
	assert_string_equal(job.env.rcpt[1], "bcc@example.net");
	assert_string_equal(job.env.subject, "Gr\xc3\xbc\xc3\x9f" "e");
	assert_int_equal(job.attempts, 0);
	assert_null(job.error);
	assert_int_equal(job.size - job.msg_off, strlen(msg));
	n = pread(job.fd, buf, sizeof(buf), job.msg_off);
	assert_int_equal(n, strlen(msg));
	assert_memory_equal(buf, msg, n);
	spool_job_free(&job);
}

/* The exact bytes of the documented format. */
static void
test_format(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 path[256], buf[1024], want[1024];
	const char		*id = "0640a1b2c3d4e-0123456789abcdef";
	FILE			*f;
	size_t			 n;

	env_fill(&env, id);
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
	snprintf(path, sizeof(path), "%s/pending/%s", fx->dir, id);
	assert_non_null(f = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "mail-relay-job 1\nid %s\n"
	    "created 1700000000\ncaller billing\nmessage-id x@relay.example\n"
	    "sender a@example.com\nrcpt to@example.org\nrcpt bcc@example.net\n"
	    "subject Gr\xc3\xbc\xc3\x9f" "e\nattempts 0\n\n%s", id, msg);
	assert_string_equal(buf, want);
	/* The same id twice is refused and leaves the first alone. */
	assert_int_equal(spool_enqueue(fx->sp, &env, "x", 1), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(dir_entries(fx, "tmp"), 0);
	assert_int_equal(spool_count(fx->sp, "pending"), 1);
}

static void
test_enqueue_refuses(void **state)
{
	struct fx		*fx = *state;
	struct spool_env	 env;
	char			 id[SPOOL_ID_LEN + 1];
	const char *const	 bad[] = { "to@example.org\nrcpt evil@x.org" };
	const char *const	 empty[] = { "" };

	assert_int_equal(spool_id_new(id), 0);
	env_fill(&env, id);
	env.subject = "hi\r\nBcc: evil@x.org";
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	env_fill(&env, id);
	env.rcpt = bad;
	env.nrcpt = 1;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	env.rcpt = empty;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	env_fill(&env, id);
	env.nrcpt = 0;
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	env_fill(&env, id);
	env.sender = "a@example.com\n";
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	env_fill(&env, "../x");
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, 3), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(dir_entries(fx, "tmp"), 0);
	assert_int_equal(dir_entries(fx, "pending"), 0);
}

#define THREADS	8
#define PER	40

static void *
enqueue_thread(void *arg)
{
	struct fx	*fx = arg;
	char		 id[SPOOL_ID_LEN + 1];
	int		 i;

	for (i = 0; i < PER; i++)
		enqueue_one(fx, id);
	return NULL;
}

static void
test_enqueue_threads(void **state)
{
	struct fx	*fx = *state;
	pthread_t	 t[THREADS];
	int		 i;

	for (i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, enqueue_thread,
		    fx), 0);
	for (i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(spool_count(fx->sp, "pending"), THREADS * PER);
	assert_int_equal(spool_count(fx->sp, "tmp"), 0);
	assert_int_equal(spool_count(fx->sp, "nonsense"), -1);
}

/* An id as if enqueued at t. */
static void
enqueue_aged(struct fx *fx, char id[SPOOL_ID_LEN + 1], time_t t)
{
	struct spool_env	env;

	snprintf(id, SPOOL_ID_LEN + 1, "%013llx-%016x",
	    (unsigned long long)t * 1000000ULL, arc4random());
	assert_true(spool_id_valid(id));
	env_fill(&env, id);
	assert_int_equal(spool_enqueue(fx->sp, &env, msg, strlen(msg)), 0);
}

static void
test_health(void **state)
{
	struct fx		*fx = *state;
	struct spool		*other;
	struct spool_job	 job;
	char			 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1], c;
	time_t			 now = spool_now();
	int			 p[2], q[2], status;
	pid_t			 pid;

	assert_int_equal(spool_writable(fx->sp), 1);
	assert_int_equal(dir_entries(fx, "tmp"), 0);
	assert_int_equal(spool_daemon_running(fx->sp), 0);
	/* The lock is per process: a child takes it. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(pipe(q), 0);
	if ((pid = fork()) == 0) {
		close(p[1]);
		other = spool_open(fx->dir);
		c = other != NULL && spool_lock(other) == 0 ? 'L' : 'x';
		if (write(q[1], &c, 1) != 1 ||
		    read(p[0], &c, 1) == -1)	/* until the parent is done */
			_exit(1);
		if (other != NULL)
			spool_close(other);	/* valgrind checks the child */
		_exit(0);
	}
	assert_int_equal(read(q[0], &c, 1), 1);
	assert_int_equal(c, 'L');
	assert_int_equal(spool_daemon_running(fx->sp), 1);
	assert_int_equal(spool_lock(fx->sp), -1);
	assert_int_equal(errno, EWOULDBLOCK);
	close(p[1]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(p[0]);
	close(q[0]);
	close(q[1]);
	assert_int_equal(spool_daemon_running(fx->sp), 0);

	assert_int_equal(spool_oldest_due(fx->sp, now + 5), 0);
	enqueue_aged(fx, b, now - 100);
	enqueue_aged(fx, a, now - 200);
	assert_int_equal(spool_oldest_due(fx->sp, now + 5), now - 200);
	/* Held jobs and jobs not yet due do not count. */
	assert_int_equal(spool_hold(fx->sp, a), 0);
	assert_int_equal(spool_oldest_due(fx->sp, now + 5), now - 100);
	assert_int_equal(spool_release(fx->sp, a), 0);
	assert_int_equal(spool_oldest_due(fx->sp, now + 5), now - 200);
	assert_int_equal(spool_claim(fx->sp, a), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, a, &job), 0);
	assert_int_equal(spool_defer(fx->sp, &job, now + 3600, "x"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_oldest_due(fx->sp, now + 5), now - 100);
}

static void
test_claim_done(void **state)
{
	struct fx	*fx = *state;
	char		 id[SPOOL_ID_LEN + 1];

	enqueue_one(fx, id);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_true(exists(fx, "processing", id));
	assert_false(exists(fx, "pending", id));
	assert_int_equal(spool_claim(fx->sp, id), -1);	/* lost the race */
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_find(fx->sp, id), SPOOL_PROCESSING);
	assert_int_equal(spool_done(fx->sp, id), 0);
	assert_int_equal(spool_sync(fx->sp), 0);
	assert_int_equal(spool_find(fx->sp, id), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_claim(fx->sp, "nope"), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_defer_fail(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job, again;
	char			 id[SPOOL_ID_LEN + 1], buf[256];
	const char		*err = "exit 75: line1\nline2\\ \t\r\x01\xff end";
	time_t			 next = time(NULL) + 120;

	enqueue_one(fx, id);
	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_defer(fx->sp, &job, next, err), 0);
	spool_job_free(&job);
	assert_false(exists(fx, "processing", id));
	assert_int_equal(dir_entries(fx, "tmp"), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &again), 0);
	assert_int_equal(again.attempts, 1);
	assert_string_equal(again.error, err);
	assert_int_equal(again.next, next);
	assert_int_equal(pread(again.fd, buf, sizeof(buf), again.msg_off),
	    strlen(msg));
	assert_memory_equal(buf, msg, strlen(msg));
	assert_int_equal(again.env.nrcpt, 2);
	spool_job_free(&again);

	assert_int_equal(spool_claim(fx->sp, id), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, id, &job), 0);
	assert_int_equal(spool_fail(fx->sp, &job, "exit 67: no such user"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_read(fx->sp, SPOOL_FAILED, id, &again), 0);
	assert_int_equal(again.attempts, 2);
	assert_string_equal(again.error, "exit 67: no such user");
	spool_job_free(&again);
	assert_int_equal(spool_count(fx->sp, "failed"), 1);
	assert_int_equal(spool_count(fx->sp, "processing"), 0);
}

static void
test_recover(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job;
	struct timespec		 old[2];
	char			 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	char			 path[256];
	int			 fd;

	enqueue_one(fx, a);
	enqueue_one(fx, b);
	assert_int_equal(spool_claim(fx->sp, a), 0);
	/* b: a deferral cut short after its rename into pending/. */
	assert_int_equal(spool_claim(fx->sp, b), 0);
	snprintf(path, sizeof(path), "%s/processing/%s", fx->dir, b);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s/pending/%s'", path,
		    fx->dir, b);
		assert_int_equal(system(cmd), 0);
	}
	write_file(fx, "tmp", "stale", "x");
	write_file(fx, "tmp", "fresh", "x");
	snprintf(path, sizeof(path), "%s/tmp/stale", fx->dir);
	old[0].tv_sec = old[1].tv_sec = time(NULL) - 2 * 3600;
	old[0].tv_nsec = old[1].tv_nsec = 0;
	fd = open(path, O_RDONLY);
	assert_int_equal(futimens(fd, old), 0);
	close(fd);

	assert_int_equal(spool_recover(fx->sp, time(NULL), NULL, NULL), 1);
	assert_true(exists(fx, "pending", a));
	assert_true(exists(fx, "pending", b));
	assert_int_equal(dir_entries(fx, "processing"), 0);
	assert_false(exists(fx, "tmp", "stale"));
	assert_true(exists(fx, "tmp", "fresh"));
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, a, &job), 0);
	assert_int_equal(job.attempts, 0);
	spool_job_free(&job);
}

static void
test_ctl(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job;
	struct spool_entry	*v;
	size_t			 n;
	char			 a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1];
	time_t			 now = spool_now(), due;
	int			 st;

	enqueue_one(fx, a);
	enqueue_one(fx, b);
	assert_int_equal(spool_hold(fx->sp, a), 0);
	assert_int_equal(spool_find(fx->sp, a), SPOOL_HELD);
	assert_int_equal(spool_hold(fx->sp, a), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_release(fx->sp, a), 0);
	assert_int_equal(spool_find(fx->sp, a), SPOOL_PENDING);
	assert_int_equal(spool_release(fx->sp, a), -1);
	assert_int_equal(errno, ENOENT);

	/* defer b far ahead, flush makes it due */
	assert_int_equal(spool_claim(fx->sp, b), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, b, &job), 0);
	assert_int_equal(spool_defer(fx->sp, &job, now + 3600, "later"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_stat(fx->sp, SPOOL_PENDING, b, &due), 0);
	assert_int_equal(due, now + 3600);
	assert_int_equal(spool_flush(fx->sp, spool_now()), 1);
	assert_int_equal(spool_stat(fx->sp, SPOOL_PENDING, b, &due), 0);
	assert_true(due <= spool_now());

	/* a fails; retry resets attempts and makes it due */
	assert_int_equal(spool_claim(fx->sp, a), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PROCESSING, a, &job), 0);
	assert_int_equal(spool_retry(fx->sp, a), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(spool_delete(fx->sp, a, &st), -1);
	assert_int_equal(errno, EBUSY);
	assert_int_equal(spool_fail(fx->sp, &job, "exit 64"), 0);
	spool_job_free(&job);
	assert_int_equal(spool_retry(fx->sp, a), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, a, &job), 0);
	assert_int_equal(job.attempts, 0);
	assert_string_equal(job.error, "exit 64");
	assert_true(job.next <= spool_now());
	spool_job_free(&job);

	assert_int_equal(spool_scan(fx->sp, SPOOL_PENDING, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, a);
	assert_string_equal(v[1].id, b);
	free(v);

	assert_int_equal(spool_delete(fx->sp, a, &st), 0);
	assert_int_equal(st, SPOOL_PENDING);
	assert_int_equal(spool_delete(fx->sp, a, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_retry(fx->sp, "0640a1b2c3d4e-0123456789abcdef"),
	    -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_hold(fx->sp, "x"), -1);
	assert_int_equal(errno, EINVAL);
}

static void
test_bad_files(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job;
	const char		*id = "0640a1b2c3d4e-0123456789abcdef";
	char			 good[512], buf[600];
	const char		*cases[] = {
		"mail-relay-job 2\n",				/* version */
		"",						/* nothing */
		"caller x\n",					/* repeated */
		"color red\n",					/* unknown */
		"rcpt\n",					/* no value */
		"error bad\\q\n",				/* escape */
		"created 12x\n",				/* number */
	};
	size_t			 i;

	snprintf(good, sizeof(good), "id %s\ncreated 1\ncaller c\n"
	    "message-id m@x\nsender s@x.org\nrcpt r@x.org\nsubject s\n"
	    "attempts 0\n", id);
	snprintf(buf, sizeof(buf), "mail-relay-job 1\n%s\nbody\n", good);
	write_file(fx, "pending", id, buf);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), 0);
	spool_job_free(&job);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (i == 0)
			snprintf(buf, sizeof(buf), "%s%s\nbody\n", cases[i],
			    good);
		else
			snprintf(buf, sizeof(buf), "mail-relay-job 1\n%s%s\n"
			    "body\n", good, cases[i]);
		if (i == 1)
			snprintf(buf, sizeof(buf), "mail-relay-job 1\n%s",
			    good);	/* no empty line */
		write_file(fx, "pending", id, buf);
		assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job),
		    -1);
		assert_int_equal(errno, EBADMSG);
	}
	/* id mismatch, missing key, CR */
	snprintf(buf, sizeof(buf), "mail-relay-job 1\nid "
	    "0640a1b2c3d4e-0123456789abcdee\ncreated 1\ncaller c\n"
	    "message-id m@x\nsender s@x.org\nrcpt r@x.org\nsubject s\n"
	    "attempts 0\n\n");
	write_file(fx, "pending", id, buf);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), -1);
	snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 1\n"
	    "caller c\nmessage-id m@x\nsender s@x.org\nsubject s\n"
	    "attempts 0\n\n", id);
	write_file(fx, "pending", id, buf);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), -1);
	snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 1\n"
	    "caller c\nmessage-id m@x\nsender s@x.org\nrcpt r@x.org\n"
	    "subject s\r\nattempts 0\n\n", id);
	write_file(fx, "pending", id, buf);
	assert_int_equal(spool_read(fx->sp, SPOOL_PENDING, id, &job), -1);
	assert_int_equal(spool_read(fx->sp, SPOOL_FAILED, id, &job), -1);
	assert_int_equal(errno, ENOENT);
}

static void
test_parse_memory(void **state)
{
	struct spool_job	 job;
	const char		*id = "0640a1b2c3d4e-0123456789abcdef";
	char			 buf[1024], *big;
	size_t			 n;

	(void)state;
	n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 7\n"
	    "caller c\nmessage-id m@x\nsender \nrcpt r@x.org\nrcpt q@x.org\n"
	    "subject a b  c\nattempts 3\nerror e\\x41\\n\n\nbody", id);
	assert_int_equal(spool_job_parse(&job, id, buf, n), 0);
	assert_string_equal(job.env.sender, "");	/* null sender */
	assert_string_equal(job.env.subject, "a b  c");
	assert_int_equal(job.env.nrcpt, 2);
	assert_string_equal(job.error, "eA\n");
	assert_int_equal(job.attempts, 3);
	assert_int_equal(job.env.created, 7);
	assert_int_equal(job.size - job.msg_off, 4);
	assert_memory_equal(buf + job.msg_off, "body", 4);
	spool_job_free(&job);
	/* NUL in the header, \x00, a header that never ends */
	buf[20] = '\0';
	assert_int_equal(spool_job_parse(&job, id, buf, n), -1);
	assert_int_equal(errno, EBADMSG);
	big = malloc(SPOOL_HDR_MAX + 100);
	assert_non_null(big);
	memset(big, 'a', SPOOL_HDR_MAX + 100);
	memcpy(big + SPOOL_HDR_MAX + 10, "\n\n", 2);
	assert_int_equal(spool_job_parse(&job, id, big, SPOOL_HDR_MAX + 100),
	    -1);
	assert_int_equal(errno, EBADMSG);
	free(big);
	n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 7\n"
	    "caller c\nmessage-id m@x\nsender s\nrcpt r@x.org\nsubject s\n"
	    "attempts 0\nerror a\\x00b\n\n", id);
	assert_int_equal(spool_job_parse(&job, id, buf, n), -1);
	assert_int_equal(spool_job_parse(&job, "nope", buf, n), -1);
	assert_int_equal(errno, EINVAL);
	/* An attempt count that could overflow is not a job. */
	n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 7\n"
	    "caller c\nmessage-id m@x\nsender s\nrcpt r@x.org\nsubject s\n"
	    "attempts %d\n\n", id, SPOOL_ATTEMPTS_MAX);
	assert_int_equal(spool_job_parse(&job, id, buf, n), 0);
	spool_job_free(&job);
	n = snprintf(buf, sizeof(buf), "mail-relay-job 1\nid %s\ncreated 7\n"
	    "caller c\nmessage-id m@x\nsender s\nrcpt r@x.org\nsubject s\n"
	    "attempts 2147483647\n\n", id);
	assert_int_equal(spool_job_parse(&job, id, buf, n), -1);
	assert_int_equal(errno, EBADMSG);
}

static void
test_not_files(void **state)
{
	struct fx		*fx = *state;
	struct spool_job	 job;
	char			 a[SPOOL_ID_LEN + 1], path[256], target[256];
	const char		*b = "0640a1b2c3d4e-0123456789abcdef";

	enqueue_one(fx, a);
	snprintf(target, sizeof(target), "%s/pending/%s", fx->dir, a);
	snprintf(path, sizeof(path), "%s/failed/%s", fx->dir, a);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_FAILED, a, &job), -1);
	assert_int_equal(errno, EBADMSG);
	snprintf(path, sizeof(path), "%s/held/%s", fx->dir, b);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(spool_read(fx->sp, SPOOL_HELD, b, &job), -1);
	assert_int_equal(errno, EBADMSG);
	/* Names that are not ids are not jobs. */
	write_file(fx, "pending", "README", "x");
	write_file(fx, "pending", ".0640a1b2c3d4e-0123456789abcdef", "x");
	assert_int_equal(spool_count(fx->sp, "pending"), 1);
}

static void
hash_of(const char *s, unsigned char out[32])
{
	size_t	n = strlen(s);

	memset(out, 0, 32);
	memcpy(out, s, n < 32 ? n : 32);
}

struct idem_arg {
	struct fx	*fx;
	int		 r;
	char		 id[SPOOL_ID_LEN + 1];
};

static void *
idem_thread(void *p)
{
	struct idem_arg		*a = p;
	struct spool_idem	 h;
	unsigned char		 hash[32];
	int			 r;

	hash_of("body", hash);
	r = spool_idem_begin(a->fx->sp, "billing", "k1", hash, &h, a->id);
	if (r == SPOOL_IDEM_NEW)
		spool_idem_abort(&h);
	__atomic_store_n(&a->r, r, __ATOMIC_RELEASE);
	return NULL;
}

static void
test_idem(void **state)
{
	struct fx		*fx = *state;
	struct spool_idem	 h;
	struct idem_arg		 arg = { fx, -2, "" };
	unsigned char		 hash[32], other[32];
	char			 id[SPOOL_ID_LEN + 1], got[SPOOL_ID_LEN + 1];
	pthread_t		 t;

	hash_of("body", hash);
	hash_of("other", other);
	assert_int_equal(spool_idem_begin(fx->sp, "billing", "k1", hash, &h,
	    got), SPOOL_IDEM_NEW);
	/* A racing request waits for the first one to commit. */
	assert_int_equal(pthread_create(&t, NULL, idem_thread, &arg), 0);
	usleep(50000);	/* time to finish, if it did not wait */
	assert_int_equal(__atomic_load_n(&arg.r, __ATOMIC_ACQUIRE), -2);
	enqueue_one(fx, id);
	assert_int_equal(spool_idem_commit(&h, id), 0);
	pthread_join(t, NULL);
	assert_int_equal(arg.r, SPOOL_IDEM_DUP);
	assert_string_equal(arg.id, id);

	assert_int_equal(spool_idem_begin(fx->sp, "billing", "k1", other, &h,
	    got), SPOOL_IDEM_CONFLICT);
	/* Keys are per caller. */
	assert_int_equal(spool_idem_begin(fx->sp, "shop", "k1", hash, &h, got),
	    SPOOL_IDEM_NEW);
	spool_idem_abort(&h);
	/* An aborted request leaves no record. */
	assert_int_equal(spool_idem_begin(fx->sp, "shop", "k1", other, &h,
	    got), SPOOL_IDEM_NEW);
	spool_idem_abort(&h);

	assert_int_equal(spool_idem_purge(fx->sp, time(NULL)), 0);
	assert_int_equal(spool_idem_purge(fx->sp, time(NULL) + 25 * 3600), 2);
	assert_int_equal(dir_entries(fx, "idem"), 0);
	assert_int_equal(spool_idem_begin(fx->sp, "billing", "k1", other, &h,
	    got), SPOOL_IDEM_NEW);
	spool_idem_abort(&h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_id),
		cmocka_unit_test_setup_teardown(test_enqueue_read,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_format,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_refuses,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_enqueue_threads,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_health,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_claim_done,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_defer_fail,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_recover,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_ctl,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_bad_files,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test_setup_teardown(test_idem,
		    spoolfx_setup, spoolfx_teardown),
		cmocka_unit_test(test_parse_memory),
		cmocka_unit_test_setup_teardown(test_not_files,
		    spoolfx_setup, spoolfx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
