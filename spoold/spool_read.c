/*
 * spool_read: reading and parsing job files.
 */
#define _GNU_SOURCE		/* memmem */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

static int
bad_job(void)
{
	errno = EBADMSG;
	return -1;
}

/*
 * If buf[0, got) holds the whole header, copies it NUL-terminated (without
 * the empty line) into job->hdr, sets msg_off and returns 1; 0 if not yet.
 */
static int
header_copy(struct spool_job *job, const char *buf, size_t got)
{
	const char	*end;
	size_t		 hlen;

	if ((end = memmem(buf, got, "\n\n", 2)) == NULL)
		return 0;
	hlen = end - buf + 1;
	if (memchr(buf, '\0', hlen) != NULL) {
		errno = EBADMSG;
		return -1;
	}
	if ((job->hdr = malloc(hlen + 1)) == NULL)
		return -1;
	memcpy(job->hdr, buf, hlen);
	job->hdr[hlen] = '\0';
	job->msg_off = (off_t)hlen + 1;
	return 1;
}

/* Reads the header of job->fd in growing chunks. */
static int
read_header(struct spool_job *job)
{
	char	*buf = NULL, *nb;
	size_t	 limit, cap = 0, got = 0;
	ssize_t	 n;
	int	 r = 0;

	limit = job->size < SPOOL_HDR_MAX ? (size_t)job->size : SPOOL_HDR_MAX;
	while (r == 0 && got < limit) {
		if (got == cap) {
			cap = cap ? cap * 2 : 16384;
			if (cap > limit)
				cap = limit;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		if ((n = pread(job->fd, buf + got, cap - got, (off_t)got)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		if (n == 0)
			break;
		got += n;
		if ((r = header_copy(job, buf, got)) == -1)
			goto fail;
	}
	free(buf);
	if (r == 1)
		return 0;
	errno = EBADMSG;
	return -1;
fail:
	free(buf);
	return -1;
}

static int
parse_num(const char *s, long long max, long long *out)
{
	const char	*errstr;

	*out = strtonum(s, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* One "key value" line into job; seen tracks keys that may appear once. */
static int
parse_line(struct spool_job *job, struct spool_envp *ep, char *line,
    unsigned *seen)
{
	static const char *const keys[] = { "id", "created", "caller",
	    "message-id", "sender", "subject", "attempts", "error" };
	char		*val;
	long long	 n;
	unsigned	 k;
	int		 r;

	if ((val = strchr(line, ' ')) == NULL)
		return bad_job();
	*val++ = '\0';
	if (strcmp(line, "rcpt") == 0) {
		if (*val == '\0')
			return bad_job();
		job->rcptv[job->env.nrcpt++] = val;
		return 0;
	}
	if ((r = spool_envp_line(ep, line, val)) != 0)
		return r == 1 ? 0 : -1;
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(line, keys[k]) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0]) || (*seen & (1U << k)))
		return bad_job();
	*seen |= 1U << k;
	switch (k) {
	case 0:
		if (strcmp(val, job->id) != 0)
			return bad_job();
		job->env.id = job->id;
		break;
	case 1:
		if (parse_num(val, LLONG_MAX, &n) == -1)
			return bad_job();
		job->env.created = (time_t)n;
		break;
	case 2: job->env.caller = val; break;
	case 3: job->env.message_id = val; break;
	case 4: job->env.sender = val; break;
	case 5: job->env.subject = val; break;
	case 6:
		if (parse_num(val, SPOOL_ATTEMPTS_MAX, &n) == -1)
			return bad_job();
		job->attempts = (int)n;
		break;
	case 7:
		if (spool_unescape(val) == -1)
			return bad_job();
		job->error = val;
		break;
	}
	return 0;
}

#define REQUIRED_KEYS	0x7fU	/* all but error */

static int
parse_header(struct spool_job *job)
{
	struct spool_envp ep;
	char		*p, *nl;
	size_t		 nrcpt = 0;
	unsigned	 seen = 0;

	if (strncmp(job->hdr, "mail-relay-job 1\n", 17) != 0)
		return bad_job();
	for (p = job->hdr; (p = strstr(p, "\nrcpt ")) != NULL; p++)
		nrcpt++;
	if ((job->rcptv = calloc(nrcpt + 1, sizeof(char *))) == NULL ||
	    spool_envp_init(&ep, &job->env, job->hdr, &job->addrv,
	    &job->tagv) == -1)
		return -1;
	job->env.rcpt = job->rcptv;
	for (p = job->hdr + 17; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			return bad_job();
		*nl = '\0';
		if (strchr(p, '\r') != NULL ||
		    parse_line(job, &ep, p, &seen) == -1)
			return bad_job();
	}
	if (spool_envp_end(&ep) == -1)
		return -1;
	if ((seen & REQUIRED_KEYS) != REQUIRED_KEYS || job->env.nrcpt == 0 ||
	    *job->env.caller == '\0' || *job->env.message_id == '\0')
		return bad_job();
	return 0;
}

int
spool_read(struct spool *sp, int state, const char *id, struct spool_job *job)
{
	struct stat	st;

	memset(job, 0, sizeof(*job));
	job->fd = -1;
	/* sent/ holds records, not jobs: spool_record_read reads them. */
	if (state < 0 || state >= SPOOL_NSTATES || state == SPOOL_SENT ||
	    !spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(job->id, id, sizeof(job->id));
	job->state = state;
	if ((job->fd = openat(sp->dir[state], id, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		if (errno == ELOOP)
			errno = EBADMSG;	/* a symlink is not a job */
		return -1;
	}
	if (fstat(job->fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EBADMSG;
		goto fail;
	}
	job->size = st.st_size;
	job->next = st.st_mtime;
	if (read_header(job) == -1 || parse_header(job) == -1)
		goto fail;
	return 0;
fail:
	spool_job_free(job);
	return -1;
}

int
spool_job_parse(struct spool_job *job, const char *id, const void *buf,
    size_t len)
{
	int	r;

	memset(job, 0, sizeof(*job));
	job->fd = -1;
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(job->id, id, sizeof(job->id));
	job->size = (off_t)len;
	r = header_copy(job, buf, len < SPOOL_HDR_MAX ? len : SPOOL_HDR_MAX);
	if (r == 0)
		errno = EBADMSG;
	if (r != 1 || parse_header(job) == -1) {
		spool_job_free(job);
		return -1;
	}
	return 0;
}

void
spool_job_free(struct spool_job *job)
{
	int	saved = errno;

	if (job->fd != -1)
		close(job->fd);
	free(job->hdr);
	free(job->rcptv);
	free(job->tagv);
	free(job->addrv);
	job->fd = -1;
	job->hdr = NULL;
	job->rcptv = NULL;
	job->tagv = NULL;
	job->addrv = NULL;
	errno = saved;
}
