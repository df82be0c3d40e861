/*
 * unit_spool_batch: batch files against a real spool in a temporary
 * directory: the commit and split of spool_batch_enqueue (every job byte
 * for byte what spool_enqueue writes), the parser's refusals, the resume
 * of an interrupted split (after the last job present, never a job twice,
 * a locked batch left to its splitter), and a batch's idempotency record
 * with its answer.
 */
#include <sys/file.h>
#include <sys/stat.h>

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
#include <unistd.h>

#include <cmocka.h>

#include "spool.h"

#define NJOBS	3

struct fx {
	char		 dir[64], other[72];	/* other: dir/ref */
	struct spool	*sp, *ref;
	char		 ids[NJOBS][SPOOL_ID_LEN + 1];
	struct spool_env env[NJOBS];
	char		 subj[NJOBS][32];
};

static const char *const rcpts[] = { "to@example.org", "bcc@example.net" };
static const char msg[] = "From: a@example.com\nSubject: hi\n\nbody\n";
static const struct spool_tag tags[] = { { "kind", "welcome" } };

static int
rm_rf(const char *path)
{
	char	cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	return system(cmd);
}

static int
setup(void **state)
{
	struct fx	*fx = calloc(1, sizeof(*fx));
	int		 i;

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/unit_batch.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	strcpy(fx->other, fx->dir);
	strcat(fx->other, "/ref");
	strcat(fx->dir, "/spool");
	assert_non_null(fx->sp = spool_open(fx->dir));
	assert_non_null(fx->ref = spool_open(fx->other));
	for (i = 0; i < NJOBS; i++) {
		assert_int_equal(spool_id_new(fx->ids[i]), 0);
		snprintf(fx->subj[i], sizeof(fx->subj[i]), "Subject %d", i);
		memset(&fx->env[i], 0, sizeof(fx->env[i]));
		fx->env[i].id = fx->ids[i];
		fx->env[i].created = 1700000000 + i;
		fx->env[i].caller = "app";
		fx->env[i].message_id = fx->ids[i];
		fx->env[i].sender = "a@example.com";
		fx->env[i].rcpt = rcpts;
		fx->env[i].nrcpt = 2;
		fx->env[i].subject = fx->subj[i];
		fx->env[i].tags = i == 1 ? tags : NULL;
		fx->env[i].ntags = i == 1 ? 1 : 0;
	}
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx	*fx = *state;
	char		 top[64];

	spool_close(fx->sp);
	spool_close(fx->ref);
	snprintf(top, sizeof(top), "%.*s", (int)(strlen(fx->dir) - 6),
	    fx->dir);
	rm_rf(top);
	free(fx);
	return 0;
}

static char *
slurp(const char *dir, const char *state, const char *id, size_t *len)
{
	char		 path[256], *p;
	struct stat	 st;
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, state, id);
	if ((fd = open(path, O_RDONLY)) == -1)
		return NULL;
	assert_int_equal(fstat(fd, &st), 0);
	assert_non_null(p = malloc(st.st_size + 1));
	assert_int_equal(read(fd, p, st.st_size), st.st_size);
	close(fd);
	p[st.st_size] = '\0';
	*len = st.st_size;
	return p;
}

static int
exists(const char *dir, const char *state, const char *id)
{
	char		path[256];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, state, id);
	return stat(path, &st) == 0;
}

static int
entries(const char *dir, const char *state)
{
	char		 path[256];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, state);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* What spool_enqueue writes for job i (in the reference spool). */
static char *
reference(struct fx *fx, int i, size_t *len)
{
	char	*p;

	if ((p = slurp(fx->other, "pending", fx->ids[i], len)) != NULL)
		return p;
	assert_int_equal(spool_enqueue(fx->ref, &fx->env[i], msg,
	    sizeof(msg) - 1), 0);
	return slurp(fx->other, "pending", fx->ids[i], len);
}

/* A batch file of jobs [0, n) as spool(5) gives it, malloc'd. */
static char *
batch_bytes(struct fx *fx, const char *bid, int n, size_t *len)
{
	char	*out, *job;
	size_t	 jl, off;
	int	 i, k;

	assert_non_null(out = malloc(65536));
	off = snprintf(out, 65536, "mail-relay-batch 1\nid %s\njobs %d\n", bid,
	    n);
	for (i = 0; i < n; i++) {
		job = reference(fx, i, &jl);
		k = snprintf(out + off, 65536 - off, "job %s %zu\n", fx->ids[i],
		    jl);
		off += k;
		free(job);
	}
	out[off++] = '\n';
	for (i = 0; i < n; i++) {
		job = reference(fx, i, &jl);
		memcpy(out + off, job, jl);
		off += jl;
		free(job);
	}
	*len = off;
	return out;
}

static void
put_batch(struct fx *fx, const char *bid, const char *p, size_t len)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/batch/%s", fx->dir, bid);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
}

static int	ncb;

static void
count_cb(const char *id, void *arg)
{
	(void)id;
	(void)arg;
	ncb++;
}

static void
test_enqueue_splits_byte_for_byte(void **state)
{
	struct fx		*fx = *state;
	struct spool_batch_job	 v[NJOBS];
	char			 bid[SPOOL_ID_LEN + 1], *a, *b;
	size_t			 al, bl;
	int			 i;

	assert_int_equal(spool_id_new(bid), 0);
	for (i = 0; i < NJOBS; i++)
		v[i] = (struct spool_batch_job){ &fx->env[i], msg,
		    sizeof(msg) - 1 };
	assert_int_equal(spool_batch_enqueue(fx->sp, bid, v, NJOBS), 0);
	for (i = 0; i < NJOBS; i++) {
		assert_non_null(a = slurp(fx->dir, "pending", fx->ids[i], &al));
		b = reference(fx, i, &bl);
		assert_int_equal(al, bl);
		assert_memory_equal(a, b, al);
		free(a);
		free(b);
	}
	/* the batch file stays, their durable copy, until it is finished */
	assert_int_equal(entries(fx->dir, "batch"), 1);
	assert_int_equal(spool_batch_count(fx->sp), 1);
	assert_int_equal(entries(fx->dir, "tmp"), 0);
	ncb = 0;
	assert_int_equal(spool_batch_recover(fx->sp, count_cb, NULL, NULL), 0);
	assert_int_equal(ncb, 0);
	assert_int_equal(entries(fx->dir, "batch"), 0);
	assert_int_equal(entries(fx->dir, "pending"), NJOBS);
	/* nothing committed for a bad id, a bad job, or none at all */
	assert_int_equal(spool_batch_enqueue(fx->sp, "nope", v, NJOBS), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_batch_enqueue(fx->sp, bid, v, 0), -1);
	fx->env[2].rcpt = NULL;
	fx->env[2].nrcpt = 0;
	assert_int_equal(spool_id_new(bid), 0);
	assert_int_equal(spool_batch_enqueue(fx->sp, bid, v, NJOBS), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(entries(fx->dir, "batch"), 0);
	assert_int_equal(entries(fx->dir, "tmp"), 0);
	assert_int_equal(entries(fx->dir, "pending"), NJOBS);
}

static void
test_parse(void **state)
{
	struct fx		*fx = *state;
	struct spool_batch	 b;
	char			 bid[SPOOL_ID_LEN + 1], *p, *q;
	size_t			 len;

	assert_int_equal(spool_id_new(bid), 0);
	p = batch_bytes(fx, bid, NJOBS, &len);
	assert_int_equal(spool_batch_parse(&b, bid, p, len), 0);
	assert_int_equal(b.n, NJOBS);
	assert_string_equal(b.v[1].id, fx->ids[1]);
	assert_int_equal(b.v[2].off + b.v[2].len, len);
	assert_memory_equal(p + b.v[0].off, "mail-relay-job 1\n", 17);
	spool_batch_free(&b);
	/* another batch's id, a byte short or long, a bad magic */
	assert_int_equal(spool_batch_parse(&b, fx->ids[0], p, len), -1);
	assert_int_equal(errno, EBADMSG);
	spool_batch_free(&b);
	assert_int_equal(spool_batch_parse(&b, bid, p, len - 1), -1);
	spool_batch_free(&b);
	assert_non_null(q = malloc(len + 1));
	memcpy(q, p, len);
	q[len] = '\n';
	assert_int_equal(spool_batch_parse(&b, bid, q, len + 1), -1);
	spool_batch_free(&b);
	q[17] = '2';
	assert_int_equal(spool_batch_parse(&b, bid, q, len), -1);
	spool_batch_free(&b);
	free(q);
	/* a job line naming another id than its job's */
	assert_non_null(q = malloc(len + 1));
	memcpy(q, p, len);
	q[len] = '\0';
	memcpy(strstr(q, "job ") + 4, fx->ids[1], SPOOL_ID_LEN);
	assert_int_equal(spool_batch_parse(&b, bid, q, len), -1);
	spool_batch_free(&b);
	free(q);
	free(p);
	/* "jobs 0" */
	p = batch_bytes(fx, bid, 0, &len);
	assert_int_equal(spool_batch_parse(&b, bid, p, len), -1);
	spool_batch_free(&b);
	free(p);
}

static void
test_recover_whole_and_resumed(void **state)
{
	struct fx	*fx = *state;
	char		 bid[SPOOL_ID_LEN + 1], *p, *a, *b;
	char		 path[256], tpath[256];
	size_t		 len, al, bl;
	int		 i, bad = 0, fd;

	/* not split at all: every job made, byte for byte */
	assert_int_equal(spool_id_new(bid), 0);
	p = batch_bytes(fx, bid, NJOBS, &len);
	put_batch(fx, bid, p, len);
	assert_int_equal(spool_batch_count(fx->sp), 1);
	ncb = 0;
	assert_int_equal(spool_batch_recover(fx->sp, count_cb, NULL, &bad),
	    NJOBS);
	assert_int_equal(ncb, NJOBS);
	assert_int_equal(bad, 0);
	for (i = 0; i < NJOBS; i++) {
		assert_non_null(a = slurp(fx->dir, "pending", fx->ids[i], &al));
		b = reference(fx, i, &bl);
		assert_int_equal(al, bl);
		assert_memory_equal(a, b, al);
		free(a);
		free(b);
	}
	assert_int_equal(entries(fx->dir, "batch"), 0);
	/*
	 * Cut short after job 1: job 0 was delivered (only its record is
	 * left), job 1 waits, job 2's tmp file was written but not renamed.
	 * Only job 2 is made.
	 */
	for (i = 0; i < NJOBS; i++) {
		snprintf(path, sizeof(path), "%s/pending/%s", fx->dir,
		    fx->ids[i]);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/sent/%s", fx->dir, fx->ids[0]);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/processing/%s", fx->dir, fx->ids[1]);
	assert_true((fd = open(path, O_WRONLY | O_CREAT, 0600)) >= 0);
	close(fd);
	snprintf(tpath, sizeof(tpath), "%s/tmp/%s", fx->dir, fx->ids[2]);
	assert_true((fd = open(tpath, O_WRONLY | O_CREAT, 0600)) >= 0);
	assert_int_equal(write(fd, "partial", 7), 7);
	close(fd);
	put_batch(fx, bid, p, len);
	ncb = 0;
	assert_int_equal(spool_batch_recover(fx->sp, count_cb, NULL, &bad), 1);
	assert_int_equal(ncb, 1);
	assert_false(exists(fx->dir, "pending", fx->ids[0]));
	assert_false(exists(fx->dir, "pending", fx->ids[1]));
	assert_non_null(a = slurp(fx->dir, "pending", fx->ids[2], &al));
	b = reference(fx, 2, &bl);
	assert_int_equal(al, bl);
	assert_memory_equal(a, b, al);
	free(a);
	free(b);
	assert_int_equal(entries(fx->dir, "tmp"), 0);
	assert_int_equal(entries(fx->dir, "batch"), 0);
	/*
	 * A system crash lost job 0's entry in pending/ but kept job 2's:
	 * job 0 is made again (at least once), job 2 is not.
	 */
	put_batch(fx, bid, p, len);
	snprintf(path, sizeof(path), "%s/sent/%s", fx->dir, fx->ids[0]);
	assert_int_equal(unlink(path), 0);
	ncb = 0;
	assert_int_equal(spool_batch_recover(fx->sp, count_cb, NULL, &bad), 1);
	assert_true(exists(fx->dir, "pending", fx->ids[0]));
	assert_true(exists(fx->dir, "pending", fx->ids[2]));
	assert_true(exists(fx->dir, "processing", fx->ids[1]));
	/* every job present: a batch found again makes none */
	put_batch(fx, bid, p, len);
	assert_int_equal(spool_batch_recover(fx->sp, NULL, NULL, NULL), 0);
	assert_int_equal(entries(fx->dir, "batch"), 0);
	free(p);
}

static void
test_recover_leaves_locked_and_bad(void **state)
{
	struct fx	*fx = *state;
	char		 bid[SPOOL_ID_LEN + 1], bad_id[SPOOL_ID_LEN + 1];
	char		 path[256], *p;
	size_t		 len;
	int		 fd, bad = 0;

	assert_int_equal(spool_id_new(bid), 0);
	p = batch_bytes(fx, bid, NJOBS, &len);
	put_batch(fx, bid, p, len);
	snprintf(path, sizeof(path), "%s/batch/%s", fx->dir, bid);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(flock(fd, LOCK_EX), 0);	/* a splitter at work */
	assert_int_equal(spool_batch_recover(fx->sp, NULL, NULL, &bad), 0);
	assert_true(exists(fx->dir, "batch", bid));
	assert_int_equal(entries(fx->dir, "pending"), 0);
	close(fd);
	assert_int_equal(spool_batch_recover(fx->sp, NULL, NULL, &bad), NJOBS);
	assert_false(exists(fx->dir, "batch", bid));
	/* garbage is counted and left alone */
	assert_int_equal(spool_id_new(bad_id), 0);
	put_batch(fx, bad_id, "mail-relay-batch 1\nid x\n", 24);
	assert_int_equal(spool_batch_recover(fx->sp, NULL, NULL, &bad), 0);
	assert_int_equal(bad, 1);
	assert_true(exists(fx->dir, "batch", bad_id));
	free(p);
}

static void
test_idem_answer(void **state)
{
	struct fx		*fx = *state;
	struct spool_idem	 h;
	unsigned char		 hash[32], other[32];
	char			 id[SPOOL_ID_LEN + 1], *ans;
	const char		*body = "{\"data\":[{\"id\":\"x\"}]}\n";
	size_t			 alen;

	memset(hash, 1, sizeof(hash));
	memset(other, 2, sizeof(other));
	assert_int_equal(spool_idem_try_answer(fx->sp, "app", "k", hash, &h,
	    id, &ans, &alen), SPOOL_IDEM_NEW);
	assert_int_equal(spool_idem_commit_answer(&h, fx->ids[0], body,
	    strlen(body)), 0);
	assert_int_equal(spool_idem_try_answer(fx->sp, "app", "k", hash, &h,
	    id, &ans, &alen), SPOOL_IDEM_DUP);
	assert_string_equal(id, fx->ids[0]);
	assert_int_equal(alen, strlen(body));
	assert_string_equal(ans, body);
	free(ans);
	assert_int_equal(spool_idem_try_answer(fx->sp, "app", "k", other, &h,
	    id, &ans, &alen), SPOOL_IDEM_CONFLICT);
	/* the plain reader still sees the id */
	assert_int_equal(spool_idem_try(fx->sp, "app", "k", hash, &h, id),
	    SPOOL_IDEM_DUP);
	assert_string_equal(id, fx->ids[0]);
	assert_int_equal(spool_idem_purge(fx->sp, spool_now()), 0);
	/* an answer with a NUL is refused */
	assert_int_equal(spool_idem_try_answer(fx->sp, "app", "k2", hash, &h,
	    id, &ans, &alen), SPOOL_IDEM_NEW);
	assert_int_equal(spool_idem_commit_answer(&h, fx->ids[0], "a\0b", 3),
	    -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_enqueue_splits_byte_for_byte, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recover_whole_and_resumed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_recover_leaves_locked_and_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idem_answer, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
