/*
 * fuzz_spool: the job-file reader.  The input is written as
 * pending/<id> of a spool in a private directory (tmpfs when there is
 * one), then read with spool_read().
 *
 * Refused: errno EBADMSG (or ENOMEM), nothing left open or allocated.
 * Accepted: the envelope is complete and header-safe (the from, to, cc,
 * bcc and reply-to values too, never empty, none without from), and the job goes
 * through the way spoold would handle a deferral (claim, spool_defer with
 * an error text made of the message bytes, read again): the envelope and
 * message come back byte for byte, attempts + 1, the error text intact
 * through its escaping, the next-attempt time as given, and no stray
 * file in tmp/ or processing/.
 */
#include <sys/stat.h>

#include <dirent.h>
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

#define ID	"0640a1b2c3d4e-0123456789abcdef"
#define NEXT	((time_t)1700000000)

static struct spool	*sp;
static char		 root[PATH_MAX];

static void
path_of(char *out, const char *state)
{
	snprintf(out, PATH_MAX, "%s/%s/%s", root, state, ID);
}

static void
put_file(const uint8_t *data, size_t len)
{
	char	path[PATH_MAX];
	int	fd;

	path_of(path, "pending");
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) == -1)
		abort();
}

static int
empty_dir(const char *state)
{
	char		 path[PATH_MAX];
	struct dirent	*de;
	DIR		*d;
	int		 n = 0;

	snprintf(path, sizeof(path), "%s/%s", root, state);
	if ((d = opendir(path)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n == 0;
}

static void
check_env(const struct spool_job *j)
{
	size_t	i, k;

	FZ_CHECK(strcmp(j->id, ID) == 0 && j->env.id != NULL &&
	    strcmp(j->env.id, ID) == 0, "id");
	FZ_CHECK(j->env.caller && *j->env.caller && j->env.message_id &&
	    *j->env.message_id && j->env.sender && j->env.subject, "fields");
	FZ_CHECK(j->env.nrcpt >= 1, "no recipient");
	for (i = 0; i < j->env.nrcpt; i++)
		FZ_CHECK(j->env.rcpt[i][0] != '\0' &&
		    strpbrk(j->env.rcpt[i], "\r\n") == NULL, "rcpt %zu", i);
	FZ_CHECK(strpbrk(j->env.sender, "\r\n") == NULL &&
	    strpbrk(j->env.subject, "\r\n") == NULL, "CR or LF in a value");
	for (k = 0; k < SPOOL_NADDR; k++) {
		FZ_CHECK(j->env.addr[k].n == 0 || j->env.from != NULL,
		    "addresses without from");
		for (i = 0; i < j->env.addr[k].n; i++)
			FZ_CHECK(j->env.addr[k].v[i][0] != '\0' &&
			    strpbrk(j->env.addr[k].v[i], "\r\n") == NULL,
			    "address %zu of list %zu", i, k);
	}
	FZ_CHECK(j->env.from == NULL || (*j->env.from != '\0' &&
	    strpbrk(j->env.from, "\r\n") == NULL), "from");
	FZ_CHECK(j->attempts >= 0 && j->msg_off <= j->size && j->fd >= 0,
	    "attempts %d msg_off %lld", j->attempts, (long long)j->msg_off);
}

static void
same_env(const struct spool_job *a, const struct spool_job *b)
{
	size_t	i, k;

	FZ_CHECK(a->env.created == b->env.created &&
	    strcmp(a->env.caller, b->env.caller) == 0 &&
	    strcmp(a->env.message_id, b->env.message_id) == 0 &&
	    strcmp(a->env.sender, b->env.sender) == 0 &&
	    strcmp(a->env.subject, b->env.subject) == 0 &&
	    a->env.nrcpt == b->env.nrcpt, "envelope changed by the rewrite");
	for (i = 0; i < a->env.nrcpt; i++)
		FZ_CHECK(strcmp(a->env.rcpt[i], b->env.rcpt[i]) == 0,
		    "rcpt %zu changed", i);
	FZ_CHECK((a->env.from == NULL) == (b->env.from == NULL) &&
	    (a->env.from == NULL || strcmp(a->env.from, b->env.from) == 0),
	    "from changed by the rewrite");
	for (k = 0; k < SPOOL_NADDR; k++) {
		FZ_CHECK(a->env.addr[k].n == b->env.addr[k].n,
		    "list %zu changed", k);
		for (i = 0; i < a->env.addr[k].n; i++)
			FZ_CHECK(strcmp(a->env.addr[k].v[i],
			    b->env.addr[k].v[i]) == 0, "address %zu changed", i);
	}
}

static void
defer_and_reread(struct spool_job *job, const uint8_t *data, size_t len)
{
	struct spool_job	 again;
	char			 error[301], *msg;
	size_t			 mlen = len - (size_t)job->msg_off, n;

	n = mlen < 300 ? mlen : 300;
	memcpy(error, data + job->msg_off, n);
	error[n] = '\0';
	FZ_CHECK(spool_claim(sp, ID) == 0, "claim");
	FZ_CHECK(spool_defer(sp, job, NEXT, error) == 0, "spool_defer: %s",
	    strerror(errno));
	FZ_CHECK(spool_read(sp, SPOOL_PENDING, ID, &again) == 0,
	    "deferred job unreadable: %s", strerror(errno));
	check_env(&again);
	same_env(job, &again);
	FZ_CHECK(again.attempts == job->attempts + 1, "attempts");
	FZ_CHECK(again.error != NULL && strcmp(again.error, error) == 0,
	    "error text changed");
	FZ_CHECK(again.next == NEXT, "next attempt time");
	FZ_CHECK((size_t)(again.size - again.msg_off) == mlen, "message size");
	if ((msg = malloc(mlen + 1)) == NULL)
		abort();
	FZ_CHECK(pread(again.fd, msg, mlen, again.msg_off) == (ssize_t)mlen &&
	    memcmp(msg, data + job->msg_off, mlen) == 0, "message changed");
	free(msg);
	spool_job_free(&again);
	FZ_CHECK(empty_dir("tmp") && empty_dir("processing"), "stray files");
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spool_job	job;
	char			path[PATH_MAX];

	if (sp == NULL) {
		snprintf(root, sizeof(root), "%s/spool", fz_tmpdir());
		if ((sp = spool_open(root)) == NULL)
			abort();
	}
	put_file(data, len);
	if (spool_read(sp, SPOOL_PENDING, ID, &job) == -1) {
		FZ_CHECK(errno == EBADMSG || errno == ENOMEM, "errno %d", errno);
		FZ_CHECK(job.fd == -1 && job.hdr == NULL && job.rcptv == NULL &&
		    job.addrv == NULL && job.tagv == NULL,
		    "job not freed");
	} else {
		check_env(&job);
		FZ_CHECK(job.size == (off_t)len && job.msg_off >= 2 &&
		    data[job.msg_off - 1] == '\n' && data[job.msg_off - 2] == '\n',
		    "message offset");
		FZ_CHECK(memchr(data, '\0', (size_t)job.msg_off) == NULL,
		    "NUL in an accepted header");
		defer_and_reread(&job, data, len);
		spool_job_free(&job);
	}
	path_of(path, "pending");
	unlink(path);
	return 0;
}
