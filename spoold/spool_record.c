/*
 * spool_record: delivery records in sent/: the record format, spool_sent,
 * the outcomes trackd applies, lookup of a message in any state, expiry,
 * and the message state derived from it all.  Format: spool.h, spool(5).
 */
#define _GNU_SOURCE		/* open_memstream */
#include <sys/file.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

#define RECORD_MAGIC	"mail-relay-sent 1\n"
#define RECORD_TMP	"sent."		/* tmp/sent.<id> */

static const char *const rcpt_status_names[SPOOL_RCPT_NSTATUS] = {
	"queued", "delivered", "deferred", "bounced", "expired"
};

static const char *const msg_state_names[SPOOL_MSG_NSTATES] = {
	"queued", "held", "sending", "failed", "sent", "deferred",
	"delivered", "bounced", "partially_bounced", "canceled"
};

const char *
spool_rcpt_status_name(int s)
{
	if (s < 0 || s >= SPOOL_RCPT_NSTATUS)
		return "unknown";
	return rcpt_status_names[s];
}

int
spool_rcpt_status_parse(const char *s)
{
	int	i;

	for (i = 0; i < SPOOL_RCPT_NSTATUS; i++)
		if (strcmp(s, rcpt_status_names[i]) == 0)
			return i;
	return -1;
}

const char *
spool_msg_state_name(int s)
{
	if (s < 0 || s >= SPOOL_MSG_NSTATES)
		return "unknown";
	return msg_state_names[s];
}

static int
rcpt_final(int status)
{
	return status == SPOOL_RCPT_DELIVERED || status == SPOOL_RCPT_BOUNCED ||
	    status == SPOOL_RCPT_EXPIRED;
}

int
spool_msg_state(int state, const struct spool_rcpt *r, size_t n)
{
	size_t	i, delivered = 0, deferred = 0, open = 0;

	switch (state) {
	case SPOOL_PENDING: return SPOOL_MSG_QUEUED;
	case SPOOL_PROCESSING: return SPOOL_MSG_SENDING;
	case SPOOL_HELD: return SPOOL_MSG_HELD;
	case SPOOL_FAILED: return SPOOL_MSG_FAILED;
	case SPOOL_CANCELED: return SPOOL_MSG_CANCELED;
	case SPOOL_SENT: break;
	default: return SPOOL_MSG_NSTATES;
	}
	for (i = 0; i < n; i++) {
		if (r[i].status == SPOOL_RCPT_DELIVERED)
			delivered++;
		else if (r[i].status == SPOOL_RCPT_DEFERRED)
			deferred++;
		if (!rcpt_final(r[i].status))
			open++;
	}
	if (open > 0 || n == 0)
		return deferred > 0 ? SPOOL_MSG_DEFERRED : SPOOL_MSG_SENT;
	if (delivered == n)
		return SPOOL_MSG_DELIVERED;
	return delivered == 0 ? SPOOL_MSG_BOUNCED : SPOOL_MSG_PARTIALLY_BOUNCED;
}

int
spool_record_state(const struct spool_record *rec)
{
	return spool_msg_state(rec->state, rec->rcptv, rec->env.nrcpt);
}

/* ---- cleaning what Postfix wrote ---- */

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	size_t	len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] > 0x9f) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] > 0x8f))
		return 0;		/* overlong, surrogate, above U+10FFFF */
	return len;
}

/*
 * Copies in into out (size > max): control characters (C0, DEL, C1)
 * dropped, bytes of invalid UTF-8 as '?', at most max bytes, never half a
 * character.  out may equal in.
 */
static void
text_clean(char *out, size_t max, const char *in)
{
	const unsigned char	*p = (const unsigned char *)in;
	size_t			 n = strlen(in), len, w = 0;

	while (n > 0) {
		if ((len = utf8_len(p, n)) == 0) {
			if (w + 1 > max)
				break;
			out[w++] = '?';
			p++, n--;
			continue;
		}
		if (p[0] < 0x20 || p[0] == 0x7f ||
		    (len == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			p += len, n -= len;
			continue;
		}
		if (w + len > max)
			break;
		memmove(out + w, p, len);
		w += len;
		p += len, n -= len;
	}
	out[w] = '\0';
}

/* 1 for "[245].n.n" with 1-3 digits each, else 0. */
static int
dsn_valid(const char *s)
{
	size_t	i, d;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	s++;
	for (i = 0; i < 2; i++) {
		if (*s++ != '.')
			return 0;
		for (d = 0; s[d] >= '0' && s[d] <= '9'; d++)
			;
		if (d < 1 || d > 3)
			return 0;
		s += d;
	}
	return *s == '\0';
}

/* a and b equal with the domain (after the last '@') case-insensitive. */
static int
addr_eq(const char *a, const char *b)
{
	const char	*da = strrchr(a, '@'), *db = strrchr(b, '@');

	if (da == NULL || db == NULL)
		return strcmp(a, b) == 0;
	return da - a == db - b && strncmp(a, b, da - a) == 0 &&
	    strcasecmp(da, db) == 0;
}

/* ---- parsing ---- */

static int
bad_record(void)
{
	errno = EBADMSG;
	return -1;
}

static int
num(const char *s, long long max, long long *out)
{
	const char	*errstr;

	*out = strtonum(s, 0, max, &errstr);
	return errstr == NULL ? 0 : -1;
}

/* "-" is empty; anything else is unescaped in place. */
static int
field(char *s, const char **out)
{
	if (strcmp(s, "-") == 0) {
		*out = "";
		return 0;
	}
	if (spool_unescape(s) == -1)
		return -1;
	*out = s;
	return 0;
}

/* "<i> <status> <attempts> <at> <dsn> <relay> <reply>" */
static int
parse_outcome(struct spool_record *rec, char *line, unsigned char *seen)
{
	char			*f[7], *save = NULL;
	struct spool_rcpt	*r;
	long long		 n;
	int			 i;

	for (i = 0; i < 7; i++)
		if ((f[i] = strtok_r(i == 0 ? line : NULL, " ", &save)) == NULL)
			return bad_record();
	if (strtok_r(NULL, " ", &save) != NULL ||
	    num(f[0], (long long)rec->env.nrcpt - 1, &n) == -1 || seen[n])
		return bad_record();
	seen[n] = 1;
	r = &rec->rcptv[n];
	if ((r->status = spool_rcpt_status_parse(f[1])) == -1 ||
	    num(f[2], SPOOL_ATTEMPTS_MAX, &n) == -1)
		return bad_record();
	r->attempts = (int)n;
	if (num(f[3], LLONG_MAX, &n) == -1)
		return bad_record();
	r->at = (time_t)n;
	if (field(f[4], &r->dsn) == -1 || field(f[5], &r->relay) == -1 ||
	    field(f[6], &r->reply) == -1 || (*r->dsn && !dsn_valid(r->dsn)))
		return bad_record();
	/* Cleaned again: the file is ours, but never trusted further. */
	text_clean(f[5], SPOOL_RELAY_MAX, r->relay);
	text_clean(f[6], SPOOL_REPLY_MAX, r->reply);
	r->relay = f[5];
	r->reply = f[6];
	return 0;
}

/* One "key value" line; seen tracks the keys that appear once. */
static int
parse_line(struct spool_record *rec, struct spool_envp *ep, char *line,
    unsigned *seen)
{
	static const char *const keys[] = { "id", "created", "caller",
	    "message-id", "sender", "subject", "attempts", "sent", "seq" };
	char		*val;
	long long	 n;
	unsigned	 k;
	int		 r;

	if ((val = strchr(line, ' ')) == NULL)
		return bad_record();
	*val++ = '\0';
	if ((r = spool_envp_line(ep, line, val)) != 0)
		return r == 1 ? 0 : bad_record();
	if (strcmp(line, "queue-id") == 0) {
		if (!spool_qid_valid(val))
			return bad_record();
		rec->qidv[rec->nqid++] = val;
		return 0;
	}
	for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(line, keys[k]) == 0)
			break;
	if (k == sizeof(keys) / sizeof(keys[0]) || (*seen & (1U << k)))
		return bad_record();
	*seen |= 1U << k;
	switch (k) {
	case 0:
		if (strcmp(val, rec->id) != 0)
			return bad_record();
		rec->env.id = rec->id;
		break;
	case 1:
	case 7:
		if (num(val, LLONG_MAX, &n) == -1)
			return bad_record();
		if (k == 1)
			rec->env.created = (time_t)n;
		else
			rec->sent = (time_t)n;
		break;
	case 2: rec->env.caller = val; break;
	case 3: rec->env.message_id = val; break;
	case 4: rec->env.sender = val; break;
	case 5: rec->env.subject = val; break;
	case 6:
		if (num(val, SPOOL_ATTEMPTS_MAX, &n) == -1)
			return bad_record();
		rec->attempts = (int)n;
		break;
	case 8:
		if (num(val, LLONG_MAX, &n) == -1)
			return bad_record();
		rec->seq = (unsigned long long)n;
		break;
	}
	return 0;
}

#define REQUIRED_KEYS	0x1ffU

static size_t
count_key(const char *buf, const char *nlkey)
{
	size_t	n = 0;

	for (; (buf = strstr(buf, nlkey)) != NULL; buf++)
		n++;
	return n;
}

/* Splits rec->buf (after the magic line) into lines, rcpt first. */
static int
parse_body(struct spool_record *rec)
{
	struct spool_envp ep;
	unsigned char	 *seen = NULL;
	unsigned	  keys = 0;
	char		 *p, *nl, **outv = NULL;
	size_t		  i, nrcpt, nout, nqid, no = 0;

	nrcpt = count_key(rec->buf, "\nrcpt ");
	nout = count_key(rec->buf, "\noutcome ");
	nqid = count_key(rec->buf, "\nqueue-id ");
	if (nrcpt == 0 || nout > nrcpt)
		return bad_record();
	if ((rec->rcptp = calloc(nrcpt, sizeof(char *))) == NULL ||
	    (rec->rcptv = calloc(nrcpt, sizeof(*rec->rcptv))) == NULL ||
	    (rec->qidv = calloc(nqid + 1, sizeof(char *))) == NULL ||
	    (outv = calloc(nout + 1, sizeof(char *))) == NULL ||
	    (seen = calloc(nrcpt, 1)) == NULL ||
	    spool_envp_init(&ep, &rec->env, rec->buf, &rec->addrv,
	    &rec->tagv) == -1)
		goto fail;
	rec->env.rcpt = rec->rcptp;
	/* Pass 1: every line but outcome; rcpt lines in order. */
	for (p = rec->buf + strlen(RECORD_MAGIC); *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL ||
		    memchr(p, '\r', nl - p) != NULL)
			goto bad;
		*nl = '\0';
		if (strncmp(p, "rcpt ", 5) == 0) {
			if (p[5] == '\0' || rec->env.nrcpt == nrcpt)
				goto bad;
			rec->rcptp[rec->env.nrcpt++] = p + 5;
		} else if (strncmp(p, "outcome ", 8) == 0) {
			if (no == nout)
				goto bad;
			outv[no++] = p + 8;
		} else if (parse_line(rec, &ep, p, &keys) == -1)
			goto fail;
	}
	if (spool_envp_end(&ep) == -1 ||
	    (keys & REQUIRED_KEYS) != REQUIRED_KEYS ||
	    rec->env.nrcpt != nrcpt || *rec->env.caller == '\0' ||
	    *rec->env.message_id == '\0')
		goto bad;
	for (i = 0; i < nrcpt; i++) {
		rec->rcptv[i].email = rec->rcptp[i];
		rec->rcptv[i].dsn = rec->rcptv[i].relay = "";
		rec->rcptv[i].reply = "";
	}
	/* Pass 2: the outcome lines, now that the recipients are known. */
	for (i = 0; i < no; i++)
		if (parse_outcome(rec, outv[i], seen) == -1)
			goto fail;
	free(outv);
	free(seen);
	return 0;
bad:
	errno = EBADMSG;
fail:
	free(outv);
	free(seen);
	return -1;
}

static void
record_init(struct spool_record *rec, const char *id)
{
	memset(rec, 0, sizeof(*rec));
	rec->state = SPOOL_SENT;
	if (id != NULL)
		(void)strlcpy(rec->id, id, sizeof(rec->id));
}

void
spool_record_free(struct spool_record *rec)
{
	int	saved = errno;

	free(rec->buf);
	free(rec->rcptp);
	free(rec->rcptv);
	free(rec->qidv);
	free(rec->tagv);
	free(rec->addrv);
	rec->buf = NULL;
	rec->rcptp = NULL;
	rec->rcptv = NULL;
	rec->qidv = NULL;
	rec->tagv = NULL;
	rec->addrv = NULL;
	rec->env.nrcpt = rec->nqid = 0;
	errno = saved;
}

int
spool_record_parse(struct spool_record *rec, const char *id, const void *buf,
    size_t len)
{
	record_init(rec, NULL);
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(rec->id, id, sizeof(rec->id));
	if (len > SPOOL_HDR_MAX || memchr(buf, '\0', len) != NULL ||
	    len < strlen(RECORD_MAGIC) ||
	    memcmp(buf, RECORD_MAGIC, strlen(RECORD_MAGIC)) != 0 ||
	    ((const char *)buf)[len - 1] != '\n') {
		errno = EBADMSG;
		return -1;
	}
	if ((rec->buf = malloc(len + 1)) == NULL)
		return -1;
	memcpy(rec->buf, buf, len);
	rec->buf[len] = '\0';
	if (parse_body(rec) == -1) {
		spool_record_free(rec);
		return -1;
	}
	return 0;
}

int
spool_record_read(struct spool *sp, const char *id, struct spool_record *rec)
{
	char	*buf;
	size_t	 len;
	int	 r;

	record_init(rec, NULL);
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_slurp(sp->dir[SPOOL_SENT], id, SPOOL_HDR_MAX, &buf, &len)
	    == -1)
		return -1;
	r = spool_record_parse(rec, id, buf, len);
	free(buf);
	return r;
}

/* ---- writing ---- */

/* The value of an outcome field: "-" for empty, else escaped. */
static int
put_field(FILE *f, const char *s, size_t max)
{
	char	*e;
	int	 r;

	if (*s == '\0')
		return fputs(" -", f) == EOF ? -1 : 0;
	if ((e = spool_escape(s, max, 1)) == NULL)
		return -1;
	if (strcmp(e, "-") == 0)
		r = fputs(" \\x2d", f);
	else
		r = fprintf(f, " %s", e);
	free(e);
	return r < 0 ? -1 : 0;
}

static int
put_kv(FILE *f, const char *key, const char *val)
{
	if (val == NULL || strpbrk(val, "\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	return fprintf(f, "%s %s\n", key, val) < 0 ? -1 : 0;
}

static int
format_lines(FILE *f, const struct spool_record *rec)
{
	const struct spool_rcpt	*r;
	char			*lines;
	size_t			 i;
	int			 rc;

	if (fputs(RECORD_MAGIC, f) == EOF || put_kv(f, "id", rec->id) == -1 ||
	    fprintf(f, "created %lld\n", (long long)rec->env.created) < 0 ||
	    put_kv(f, "caller", rec->env.caller) == -1 ||
	    put_kv(f, "message-id", rec->env.message_id) == -1 ||
	    put_kv(f, "sender", rec->env.sender) == -1)
		return -1;
	for (i = 0; i < rec->env.nrcpt; i++)
		if (put_kv(f, "rcpt", rec->rcptv[i].email) == -1)
			return -1;
	if (put_kv(f, "subject", rec->env.subject) == -1 ||
	    (lines = spool_env_lines(&rec->env)) == NULL)
		return -1;
	rc = fputs(lines, f) == EOF ? -1 : 0;
	free(lines);
	if (rc == -1 ||
	    fprintf(f, "attempts %d\nsent %lld\nseq %llu\n", rec->attempts,
	    (long long)rec->sent, rec->seq) < 0)
		return -1;
	for (i = 0; i < rec->nqid; i++)
		if (put_kv(f, "queue-id", rec->qidv[i]) == -1)
			return -1;
	for (i = 0; i < rec->env.nrcpt; i++) {
		r = &rec->rcptv[i];
		if (r->status == SPOOL_RCPT_QUEUED && r->attempts == 0 &&
		    r->at == 0 && *r->dsn == '\0' && *r->reply == '\0' &&
		    *r->relay == '\0')
			continue;
		if (fprintf(f, "outcome %zu %s %d %lld", i,
		    spool_rcpt_status_name(r->status), r->attempts,
		    (long long)r->at) < 0 ||
		    put_field(f, r->dsn, SPOOL_DSN_MAX) == -1 ||
		    put_field(f, r->relay, SPOOL_RELAY_MAX) == -1 ||
		    put_field(f, r->reply, SPOOL_REPLY_MAX) == -1 ||
		    fputc('\n', f) == EOF)
			return -1;
	}
	return 0;
}

/*
 * Writes rec as sent/<id>, durably; lazy leaves both fsyncs to
 * spool_sync.  The caller holds the sent/ lock.
 */
static int
record_write(struct spool *sp, const struct spool_record *rec, int lazy)
{
	char	 tmpname[sizeof(RECORD_TMP) + SPOOL_ID_LEN];
	char	*buf = NULL;
	size_t	 len = 0;
	FILE	*f;
	int	 r;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return -1;
	r = format_lines(f, rec);
	if (fclose(f) == EOF)
		r = -1;
	if (r == 0 && len > SPOOL_HDR_MAX) {
		errno = EFBIG;
		r = -1;
	}
	if (r == 0) {
		(void)snprintf(tmpname, sizeof(tmpname), RECORD_TMP "%s",
		    rec->id);
		r = lazy ? spool_put_file_lazy(sp, tmpname,
		    sp->dir[SPOOL_SENT], rec->id, buf, len) :
		    spool_put_file(sp, tmpname, sp->dir[SPOOL_SENT], rec->id,
		    buf, len);
		if (r == 0 && lazy)
			sp->sent_dirty = 1;
	}
	free(buf);
	return r;
}

/* Every writer of sent/ holds this: flock on the sent/ directory. */
int
spool_sent_lock(struct spool *sp)
{
	if (sp->dir[SPOOL_SENT] == -1) {
		errno = ENOENT;
		return -1;
	}
	while (flock(sp->dir[SPOOL_SENT], LOCK_EX) == -1)
		if (errno != EINTR)
			return -1;
	return 0;
}

void
spool_sent_unlock(struct spool *sp)
{
	int	saved = errno;

	(void)flock(sp->dir[SPOOL_SENT], LOCK_UN);
	errno = saved;
}

/*
 * A record for job: its header, every recipient queued, or with the
 * outcome old holds for the same address.  rec points into job and old.
 */
static int
record_from_job(struct spool_record *rec, const struct spool_job *job,
    const struct spool_record *old)
{
	struct spool_rcpt	*r;
	size_t			 i, j;

	record_init(rec, job->id);
	rec->env = job->env;
	rec->env.id = rec->id;
	if ((rec->rcptv = calloc(job->env.nrcpt, sizeof(*r))) == NULL)
		return -1;
	for (i = 0; i < job->env.nrcpt; i++) {
		r = &rec->rcptv[i];
		r->email = job->env.rcpt[i];
		r->dsn = r->relay = r->reply = "";
		for (j = 0; old != NULL && j < old->env.nrcpt; j++)
			if (strcmp(old->rcptv[j].email, r->email) == 0) {
				*r = old->rcptv[j];
				break;
			}
	}
	if (old != NULL) {
		rec->seq = old->seq;
		rec->qidv = old->qidv;
		rec->nqid = old->nqid;
		rec->sent = old->sent;
	}
	return 0;
}

int
spool_sent(struct spool *sp, const struct spool_job *job, time_t at)
{
	struct spool_record	old, rec;
	int			have, r = -1;

	if (!spool_id_valid(job->id)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_sent_lock(sp) == -1)
		return -1;
	/* An unreadable old record is replaced: the job is the truth. */
	have = spool_record_read(sp, job->id, &old) == 0;
	if (record_from_job(&rec, job, have ? &old : NULL) == 0) {
		rec.attempts = job->attempts + 1;
		rec.sent = at;
		r = record_write(sp, &rec, 1);
	}
	free(rec.rcptv);
	spool_record_free(&old);
	spool_sent_unlock(sp);
	return r;
}

/* ---- lookup in any state ---- */

/* Takes job's storage into rec: every recipient queued. */
static int
record_take_job(struct spool_record *rec, struct spool_job *job)
{
	record_init(rec, job->id);
	if (record_from_job(rec, job, NULL) == -1)
		return -1;
	rec->state = job->state;
	rec->attempts = job->attempts;
	rec->error = job->error;
	rec->next = job->next;
	rec->buf = job->hdr;
	rec->rcptp = job->rcptv;
	rec->tagv = job->tagv;
	rec->addrv = job->addrv;
	job->hdr = NULL;
	job->rcptv = NULL;
	job->tagv = NULL;
	job->addrv = NULL;
	return 0;
}

int
spool_record_lookup(struct spool *sp, const char *id, struct spool_record *rec)
{
	static const int	 order[] = { SPOOL_PENDING, SPOOL_PROCESSING,
	    SPOOL_HELD, SPOOL_FAILED, SPOOL_CANCELED };
	struct spool_job	 job;
	size_t			 i;
	int			 tries, r;

	record_init(rec, NULL);
	if (!spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	/* A job moves on while we look: look again, a few times. */
	for (tries = 0; tries < 4; tries++) {
		if (spool_record_read(sp, id, rec) == 0)
			return 0;
		if (errno != ENOENT)
			return -1;
		for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
			if (spool_read(sp, order[i], id, &job) == -1) {
				if (errno == ENOENT)
					continue;
				return -1;
			}
			r = record_take_job(rec, &job);
			spool_job_free(&job);
			if (r == -1)
				spool_record_free(rec);
			return r;
		}
	}
	errno = ENOENT;
	return -1;
}

/* ---- outcomes ---- */

/* Adds qid to rec's queue ids if new; qidv must have room (see caller). */
static void
add_qid(struct spool_record *rec, const char *qid)
{
	size_t	i;

	for (i = 0; i < rec->nqid; i++)
		if (strcmp(rec->qidv[i], qid) == 0)
			return;
	rec->qidv[rec->nqid++] = qid;
}

/* The cleaned strings of one outcome, alive while the record is written. */
struct clean {
	char	dsn[SPOOL_DSN_MAX + 1];
	char	relay[SPOOL_RELAY_MAX + 1];
	char	reply[SPOOL_REPLY_MAX + 1];
};

static void
apply(struct spool_rcpt *r, const struct spool_outcome *o,
    const struct clean *c)
{
	if (o->status == SPOOL_RCPT_DEFERRED && rcpt_final(r->status))
		return;
	if (o->status != SPOOL_RCPT_EXPIRED && r->attempts < SPOOL_ATTEMPTS_MAX)
		r->attempts++;
	r->status = o->status;
	r->at = o->at;
	if (o->dsn != NULL)
		r->dsn = c->dsn;
	if (o->relay != NULL)
		r->relay = c->relay;
	if (o->reply != NULL)
		r->reply = c->reply;
}

/* sent/<id>, or a new record from the job in processing/ or pending/. */
static int
record_load(struct spool *sp, const char *id, struct spool_record *rec,
    struct spool_job *job)
{
	static const int	order[] = { SPOOL_PROCESSING, SPOOL_PENDING };
	size_t			i;

	if (spool_record_read(sp, id, rec) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		if (spool_read(sp, order[i], id, job) == 0) {
			if (record_from_job(rec, job, NULL) == -1)
				return -1;
			rec->attempts = job->attempts + 1;
			return 0;
		}
		if (errno != ENOENT)
			return -1;
	}
	errno = ENOENT;
	return -1;
}

static int
outcome_check(const char *id, const char *qid, const char *rcpt,
    const struct spool_outcome *o)
{
	if (!spool_id_valid(id) || rcpt == NULL || *rcpt == '\0' ||
	    (qid != NULL && !spool_qid_valid(qid)) || o == NULL ||
	    o->status <= SPOOL_RCPT_QUEUED || o->status >= SPOOL_RCPT_NSTATUS ||
	    o->at < 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

int
spool_record_outcome(struct spool *sp, const char *id, const char *qid,
    const char *rcpt, const struct spool_outcome *o, unsigned long long seq)
{
	struct spool_record	 rec;
	struct spool_job	 job = { .fd = -1 };
	struct clean		 c;
	const char		**qidv = NULL;
	size_t			 i, hits = 0;
	int			 r = -1;

	if (outcome_check(id, qid, rcpt, o) == -1)
		return -1;
	c.dsn[0] = '\0';
	if (o->dsn != NULL && strlen(o->dsn) <= SPOOL_DSN_MAX &&
	    dsn_valid(o->dsn))
		(void)strlcpy(c.dsn, o->dsn, sizeof(c.dsn));
	text_clean(c.relay, SPOOL_RELAY_MAX, o->relay ? o->relay : "");
	text_clean(c.reply, SPOOL_REPLY_MAX, o->reply ? o->reply : "");
	if (spool_sent_lock(sp) == -1)
		return -1;
	if (record_load(sp, id, &rec, &job) == -1)
		goto done;
	if (seq <= rec.seq) {
		r = 1;
		goto done;
	}
	for (i = 0; i < rec.env.nrcpt; i++)
		if (addr_eq(rec.rcptv[i].email, rcpt)) {
			apply(&rec.rcptv[i], o, &c);
			hits++;
		}
	if (hits == 0) {
		errno = ESRCH;
		goto done;
	}
	if (qid != NULL) {
		if ((qidv = reallocarray(NULL, rec.nqid + 1, sizeof(*qidv)))
		    == NULL)
			goto done;
		if (rec.nqid > 0)
			memcpy(qidv, rec.qidv, rec.nqid * sizeof(*qidv));
		free(rec.qidv);
		rec.qidv = qidv;
		add_qid(&rec, qid);
	}
	rec.seq = seq;
	r = record_write(sp, &rec, 1);	/* trackd syncs before its position */
done:
	spool_record_free(&rec);
	spool_job_free(&job);
	spool_sent_unlock(sp);
	return r;
}

/* ---- retention ---- */

/* Unlinks sent/<id> if it is still older than before, with its qids. */
static int
expire_one(struct spool *sp, const char *id, time_t before)
{
	struct spool_record	rec;
	struct stat		st;
	char			tid[SPOOL_ID_LEN + 1];
	size_t			i;
	int			gone = 0;

	if (spool_sent_lock(sp) == -1)
		return 0;
	if (fstatat(sp->dir[SPOOL_SENT], id, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    st.st_mtime >= before)
		goto done;	/* gone, or rewritten meanwhile */
	if (spool_record_read(sp, id, &rec) == 0) {
		for (i = 0; i < rec.nqid; i++)
			if (spool_qid_get(sp, rec.qidv[i], tid) == 0 &&
			    strcmp(tid, id) == 0)
				(void)unlinkat(sp->qid, rec.qidv[i], 0);
	}
	spool_record_free(&rec);
	gone = unlinkat(sp->dir[SPOOL_SENT], id, 0) == 0;
done:
	spool_sent_unlock(sp);
	return gone;
}

/* qid/ entries older than before whose record is gone. */
static void
expire_qids(struct spool *sp, time_t before)
{
	struct dirent	*de;
	struct stat	 st;
	char		 id[SPOOL_ID_LEN + 1];
	DIR		*d;

	if (sp->qid == -1 || (d = spool_dir_open(sp->qid)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (!spool_qid_valid(de->d_name) || fstatat(sp->qid,
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
		    st.st_mtime >= before)
			continue;
		if (spool_qid_get(sp, de->d_name, id) == 0 &&
		    fstatat(sp->dir[SPOOL_SENT], id, &st, AT_SYMLINK_NOFOLLOW)
		    == 0)
			continue;	/* its record lives on */
		(void)unlinkat(sp->qid, de->d_name, 0);
	}
	(void)closedir(d);
}

int
spool_record_expire(struct spool *sp, time_t before)
{
	struct spool_entry	*v;
	size_t			 i, n;
	int			 gone = 0;

	if (spool_scan(sp, SPOOL_SENT, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++)
		if (v[i].due < before)
			gone += expire_one(sp, v[i].id, before);
	free(v);
	expire_qids(sp, before);
	/* Losing these unlinks in a crash only keeps records longer. */
	return gone;
}
