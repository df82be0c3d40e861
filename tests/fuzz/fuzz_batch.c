/*
 * fuzz_batch: the batch-file reader (POST /emails/batch, spool(5)).  The
 * input is parsed with spool_batch_parse() as batch BID.
 *
 * Refused: errno EBADMSG (or ENOMEM), nothing left allocated.
 * Accepted: 1 to SPOOL_BATCH_MAX jobs with valid, distinct ids, whose byte
 * ranges follow each other to the end of the input, each a job file that
 * spool_read takes.  Then the batch goes through what spoold does with an
 * interrupted split: written as batch/BID of a private spool, finished
 * by spool_batch_recover(), which must make every job, each byte for byte
 * its range, and remove the batch file; the same batch again makes none.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "spool.h"

#define BID	"0640a1b2c3d4e-0123456789abcdef"

static struct spool	*sp;
static char		 root[PATH_MAX];

static void
put_batch(const uint8_t *data, size_t len)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/batch/%s", root, BID);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) == -1)
		abort();
}

static int
same_file(const char *state, const char *id, const uint8_t *p, size_t len)
{
	char	path[PATH_MAX], *buf;
	ssize_t	n;
	int	fd, ok;

	snprintf(path, sizeof(path), "%s/%s/%s", root, state, id);
	if ((fd = open(path, O_RDONLY)) == -1)
		return 0;
	if ((buf = malloc(len + 1)) == NULL)
		abort();
	n = read(fd, buf, len + 1);
	close(fd);
	ok = n == (ssize_t)len && memcmp(buf, p, len) == 0;
	free(buf);
	return ok;
}

static void
check_parsed(const struct spool_batch *b, const uint8_t *data, size_t len)
{
	struct spool_job	job;
	size_t			i, j, off;

	FZ_CHECK(b->n >= 1 && b->n <= SPOOL_BATCH_MAX, "n %zu", b->n);
	FZ_CHECK(strcmp(b->id, BID) == 0, "batch id");
	off = b->v[0].off;
	for (i = 0; i < b->n; i++) {
		FZ_CHECK(spool_id_valid(b->v[i].id), "id %zu", i);
		FZ_CHECK(b->v[i].off == off && b->v[i].len > 0, "range %zu", i);
		off += b->v[i].len;
		for (j = 0; j < i; j++)
			FZ_CHECK(strcmp(b->v[i].id, b->v[j].id) != 0,
			    "id twice");
		FZ_CHECK(spool_job_parse(&job, b->v[i].id, data + b->v[i].off,
		    b->v[i].len) == 0, "job %zu does not parse", i);
		FZ_CHECK(job.env.nrcpt >= 1, "job %zu without rcpt", i);
		spool_job_free(&job);
	}
	FZ_CHECK(off == len, "the jobs end at %zu of %zu", off, len);
}

static void
split(const struct spool_batch *b, const uint8_t *data, size_t len)
{
	char	path[PATH_MAX];
	int	n, bad = 0;
	size_t	i;

	put_batch(data, len);
	n = spool_batch_recover(sp, NULL, NULL, &bad);
	FZ_CHECK(n == (int)b->n && bad == 0, "made %d of %zu (bad %d): %s",
	    n, b->n, bad, strerror(errno));
	for (i = 0; i < b->n; i++)
		FZ_CHECK(same_file("pending", b->v[i].id, data + b->v[i].off,
		    b->v[i].len), "job %zu not as in the batch", i);
	FZ_CHECK(spool_batch_count(sp) == 0, "batch file left");
	put_batch(data, len);
	FZ_CHECK(spool_batch_recover(sp, NULL, NULL, NULL) == 0,
	    "a finished batch made jobs again");
	for (i = 0; i < b->n; i++) {
		snprintf(path, sizeof(path), "%s/pending/%s", root,
		    b->v[i].id);
		unlink(path);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spool_batch	b;

	if (sp == NULL) {
		snprintf(root, sizeof(root), "%s/spool", fz_tmpdir());
		if ((sp = spool_open(root)) == NULL)
			abort();
	}
	if (spool_batch_parse(&b, BID, data, len) == -1) {
		FZ_CHECK(errno == EBADMSG || errno == ENOMEM, "errno %d", errno);
		spool_batch_free(&b);
		FZ_CHECK(b.v == NULL && b.n == 0, "not freed");
		return 0;
	}
	check_parsed(&b, data, len);
	split(&b, data, len);
	spool_batch_free(&b);
	return 0;
}
