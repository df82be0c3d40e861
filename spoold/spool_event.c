/*
 * spool_event: webhook events.  A producer (spoold, trackd, relay-fcgi)
 * writes events/<eid>, one file per event, durably; hookd delivers it,
 * keeps its delivery state in events-state/<eid> and unlinks both after
 * a 2xx, or moves the event into events-failed/ when it gives up.
 * spoolctl lists both and retries.  See spool(5).
 */
#define _GNU_SOURCE		/* asprintf */
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sha2.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"
#include "text.h"

#define EV_MAGIC	"mail-relay-event 1\n"
#define EV_STATE_MAGIC	"mail-relay-hook 1\n"
#define EV_TMP		"ev."		/* tmp/ev.<eid>, not a job id */
#define EV_STATE_TMP	"evs."

static const char *const ev_dirs[] = {
	"events", "events-failed", "events-state"
};
enum { EVD_PENDING, EVD_FAILED, EVD_STATE };

static const char *const ev_types[SPOOL_EV_NTYPES] = {
	"email.sent", "email.delivered", "email.delivery_delayed",
	"email.bounced", "email.failed", "email.suppressed",
	"email.scheduled", "email.canceled"
};

const char *
spool_event_type_name(int t)
{
	return t >= 0 && t < SPOOL_EV_NTYPES ? ev_types[t] : "unknown";
}

int
spool_event_type_parse(const char *s)
{
	int	i;

	for (i = 0; i < SPOOL_EV_NTYPES; i++)
		if (strcmp(s, ev_types[i]) == 0)
			return i;
	return -1;
}

/* One of the event directories, created when create is set; fd or -1. */
static int
ev_dir(struct spool *sp, int which, int create)
{
	int	fd;

	if (create && mkdirat(sp->root, ev_dirs[which], 0700) == -1 &&
	    errno != EEXIST)
		return -1;
	fd = openat(sp->root, ev_dirs[which], O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

int
spool_event_dirs(struct spool *sp)
{
	int	i, fd;

	for (i = 0; i <= EVD_STATE; i++) {
		if ((fd = ev_dir(sp, i, 1)) == -1)
			return -1;
		close(fd);
	}
	return 0;
}

/* A value for a header line: no CR, LF or NUL possible after escaping. */
static int
ev_append(char **buf, const char *key, const char *val, int escape)
{
	char	*e = NULL, *nb;
	int	 n;

	if (val == NULL)
		return 0;
	if (escape && (e = spool_escape(val, SPOOL_ERROR_MAX, 0)) == NULL)
		return -1;
	if (!escape && strpbrk(val, "\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	n = asprintf(&nb, "%s%s %s\n", *buf, key, e != NULL ? e : val);
	free(e);
	if (n < 0)
		return -1;
	free(*buf);
	*buf = nb;
	return 0;
}

/*
 * The id of the event a producer names by key: the same key gives the same
 * id, so an event written again after a crash (the same line of Postfix's
 * log read again, the same job handed over again) is the same event, with
 * the same webhook-id.  The job's time, then 64 bits of SHA-256 of the
 * job id and the key.
 */
static void
ev_keyed_id(const char *job, const char *key, char id[SPOOL_ID_LEN + 1])
{
	SHA2_CTX	ctx;
	uint8_t		md[SHA256_DIGEST_LENGTH];

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const uint8_t *)job, strlen(job) + 1);
	SHA256Update(&ctx, (const uint8_t *)key, strlen(key));
	SHA256Final(md, &ctx);
	memcpy(id, job, 14);			/* 13 hex digits and '-' */
	text_hex(md, 8, id + 14);
	id[SPOOL_ID_LEN] = '\0';
}

static int
ev_add(struct spool *sp, const char *key, int type,
    const struct spool_env *env, const char *rcpt, const char *dsn,
    const char *reply, time_t at, int lazy, char eid[SPOOL_ID_LEN + 1])
{
	char	 id[SPOOL_ID_LEN + 1], tmpname[sizeof(EV_TMP) + SPOOL_ID_LEN];
	char	*buf = NULL;
	size_t	 i;
	int	 dfd = -1, r = -1;

	if (type < 0 || type >= SPOOL_EV_NTYPES || env == NULL ||
	    env->caller == NULL || (env->id != NULL && *env->id != '\0' &&
	    !spool_id_valid(env->id))) {
		errno = EINVAL;
		return -1;
	}
	if (key != NULL && env->id != NULL && *env->id != '\0')
		ev_keyed_id(env->id, key, id);
	else if (spool_id_new(id) == -1)
		return -1;
	if (asprintf(&buf, EV_MAGIC "id %s\ntype %s\nat %lld\ncreated %lld\n",
	    id, ev_types[type], (long long)at, (long long)env->created) < 0) {
		buf = NULL;
		goto done;
	}
	if (ev_append(&buf, "job", env->id != NULL && *env->id != '\0' ?
	    env->id : "-", 0) == -1 ||
	    ev_append(&buf, "caller", env->caller, 0) == -1 ||
	    ev_append(&buf, "sender", env->sender, 1) == -1 ||
	    ev_append(&buf, "subject", env->subject, 1) == -1)
		goto done;
	for (i = 0; i < env->nrcpt; i++)
		if (ev_append(&buf, "rcpt", env->rcpt[i], 1) == -1)
			goto done;
	/*
	 * The addressing as given, when the job keeps it: the From and the
	 * To list only, as Resend's payload has them.  Cc, Bcc and Reply-To
	 * are not copied, so that no Bcc address can reach a body.
	 */
	if (env->from != NULL) {
		if (ev_append(&buf, "from", env->from, 1) == -1)
			goto done;
		for (i = 0; i < env->addr[SPOOL_ADDR_TO].n; i++)
			if (ev_append(&buf, "to",
			    env->addr[SPOOL_ADDR_TO].v[i], 1) == -1)
				goto done;
	}
	for (i = 0; i < env->ntags; i++) {
		char	*tag;

		if (!spool_tag_valid(env->tags[i].name) ||
		    !spool_tag_valid(env->tags[i].value))
			continue;
		if (asprintf(&tag, "%s %s", env->tags[i].name,
		    env->tags[i].value) < 0)
			goto done;
		if (ev_append(&buf, "tag", tag, 0) == -1) {
			free(tag);
			goto done;
		}
		free(tag);
	}
	if (ev_append(&buf, "recipient", rcpt, 1) == -1 ||
	    ev_append(&buf, "dsn", dsn != NULL && *dsn ? dsn : NULL, 1) == -1 ||
	    ev_append(&buf, "reply", reply != NULL && *reply ? reply : NULL,
	    1) == -1)
		goto done;
	if ((dfd = ev_dir(sp, EVD_PENDING, 1)) == -1)
		goto done;
	(void)snprintf(tmpname, sizeof(tmpname), EV_TMP "%s", id);
	if ((lazy ? spool_put_file_lazy(sp, tmpname, dfd, id, buf,
	    strlen(buf)) : spool_put_file(sp, tmpname, dfd, id, buf,
	    strlen(buf))) == -1)
		goto done;
	if (eid != NULL)
		memcpy(eid, id, sizeof(id));
	r = 0;
done:
	if (dfd != -1)
		spool_close_keep_errno(dfd);
	free(buf);
	return r;
}

int
spool_event_add(struct spool *sp, int type, const struct spool_env *env,
    const char *rcpt, const char *dsn, const char *reply, time_t at,
    char eid[SPOOL_ID_LEN + 1])
{
	return ev_add(sp, NULL, type, env, rcpt, dsn, reply, at, 0, eid);
}

int
spool_event_sent(struct spool *sp, const struct spool_env *env, time_t at,
    char eid[SPOOL_ID_LEN + 1])
{
	return ev_add(sp, "sent", SPOOL_EV_SENT, env, NULL, NULL, NULL, at,
	    0, eid);
}

int
spool_event_outcome(struct spool *sp, const char *job, const char *rcpt,
    const struct spool_outcome *o, unsigned long long seq,
    char eid[SPOOL_ID_LEN + 1])
{
	char			key[64];
	struct spool_record	rec;
	int			type, r, saved;

	switch (o->status) {
	case SPOOL_RCPT_DELIVERED:
		type = SPOOL_EV_DELIVERED;
		break;
	case SPOOL_RCPT_DEFERRED:
		type = SPOOL_EV_DELAYED;
		break;
	case SPOOL_RCPT_BOUNCED:
	case SPOOL_RCPT_EXPIRED:
		type = SPOOL_EV_BOUNCED;
		break;
	default:
		errno = EINVAL;
		return -1;
	}
	if (spool_record_read(sp, job, &rec) == -1) {
		spool_record_free(&rec);
		return -1;
	}
	(void)snprintf(key, sizeof(key), "outcome %llu", seq);
	/* lazy, as the outcome: made again from the log line if lost */
	r = ev_add(sp, key, type, &rec.env, rcpt, o->dsn, o->reply, o->at,
	    1, eid);
	saved = errno;
	spool_record_free(&rec);
	errno = saved;
	return r;
}

/* ---- reading ---- */

void
spool_event_free(struct spool_event *ev)
{
	free(ev->buf);
	free(ev->rcptv);
	free(ev->tov);
	free(ev->tagv);
	ev->buf = NULL;
	ev->rcptv = NULL;
	ev->tov = NULL;
	ev->tagv = NULL;
}

static int
ev_time(const char *v, time_t *t)
{
	char		*end;
	long long	 n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || end == v || *end != '\0' || n < 0) {
		errno = EBADMSG;
		return -1;
	}
	*t = (time_t)n;
	return 0;
}

/* "tag <name> <value>", both valid tag strings. */
static int
ev_tag(struct spool_event *ev, char *val)
{
	struct spool_tag	*nv;
	char			*sp_;

	if ((sp_ = strchr(val, ' ')) == NULL)
		return -1;
	*sp_++ = '\0';
	if (!spool_tag_valid(val) || !spool_tag_valid(sp_))
		return -1;
	if ((nv = reallocarray(ev->tagv, ev->ntags + 1, sizeof(*nv))) == NULL)
		return -1;
	ev->tagv = nv;
	ev->tagv[ev->ntags].name = val;
	ev->tagv[ev->ntags++].value = sp_;
	return 0;
}

/* One more value in *v (n of them, room for *cap). */
static int
ev_push(const char ***v, size_t *n, size_t *cap, const char *val)
{
	const char	**nv;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 8;
		if ((nv = reallocarray(*v, *cap, sizeof(*nv))) == NULL)
			return -1;
		*v = nv;
	}
	(*v)[(*n)++] = val;
	return 0;
}

static int
ev_line(struct spool_event *ev, char *key, char *val, size_t cap[2])
{

	if (strcmp(key, "id") == 0)
		return strcmp(val, ev->id) == 0 ? 0 : -1;
	if (strcmp(key, "type") == 0)
		return (ev->type = spool_event_type_parse(val)) == -1 ? -1 : 0;
	if (strcmp(key, "at") == 0)
		return ev_time(val, &ev->at);
	if (strcmp(key, "created") == 0)
		return ev_time(val, &ev->created);
	if (strcmp(key, "job") == 0) {
		ev->job = strcmp(val, "-") == 0 ? "" : val;
		return *ev->job == '\0' || spool_id_valid(ev->job) ? 0 : -1;
	}
	if (strcmp(key, "caller") == 0) {
		ev->caller = val;
		return 0;
	}
	if (strcmp(key, "tag") == 0)
		return ev_tag(ev, val);
	/* escaped, but no line breaks but in the reply once unescaped */
	if (spool_unescape(val) == -1 ||
	    (strcmp(key, "reply") != 0 && strpbrk(val, "\r\n") != NULL))
		return -1;
	if (strcmp(key, "sender") == 0)
		ev->sender = val;
	else if (strcmp(key, "subject") == 0)
		ev->subject = val;
	else if (strcmp(key, "recipient") == 0)
		ev->recipient = val;
	else if (strcmp(key, "dsn") == 0)
		ev->dsn = val;
	else if (strcmp(key, "reply") == 0)
		ev->reply = val;
	else if (strcmp(key, "from") == 0)
		ev->from = val;
	else if (strcmp(key, "rcpt") == 0)
		return ev_push(&ev->rcptv, &ev->nrcpt, &cap[0], val);
	else if (strcmp(key, "to") == 0)
		return ev_push(&ev->tov, &ev->nto, &cap[1], val);
	/* unknown keys are kept for later versions: ignored */
	return 0;
}

int
spool_event_parse(struct spool_event *ev, const char *eid, const void *p,
    size_t len)
{
	char	*s, *line, *sp_;
	size_t	 cap[2] = { 0, 0 };

	memset(ev, 0, sizeof(*ev));
	ev->type = -1;
	ev->at = ev->created = -1;
	if (!spool_id_valid(eid) || len > SPOOL_EVENT_MAX) {
		errno = EINVAL;
		return -1;
	}
	memcpy(ev->id, eid, sizeof(ev->id));
	if ((ev->buf = malloc(len + 1)) == NULL)
		return -1;
	memcpy(ev->buf, p, len);
	ev->buf[len] = '\0';
	if (memchr(ev->buf, '\0', len) != NULL ||
	    memchr(ev->buf, '\r', len) != NULL ||
	    strncmp(ev->buf, EV_MAGIC, sizeof(EV_MAGIC) - 1) != 0 ||
	    len == 0 || ev->buf[len - 1] != '\n')
		goto bad;
	s = ev->buf + sizeof(EV_MAGIC) - 1;
	while (*s != '\0') {
		line = s;
		s = strchr(s, '\n');
		*s++ = '\0';
		if ((sp_ = strchr(line, ' ')) == NULL)
			goto bad;
		*sp_++ = '\0';
		if (ev_line(ev, line, sp_, cap) == -1) {
			if (errno == ENOMEM)
				return -1;
			goto bad;
		}
	}
	if (ev->type == -1 || ev->at == -1 || ev->created == -1 ||
	    ev->job == NULL || ev->caller == NULL || *ev->caller == '\0')
		goto bad;
	if (ev->sender == NULL)
		ev->sender = "";
	if (ev->subject == NULL)
		ev->subject = "";
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

static int
ev_state_parse(struct spool_event *ev, char *buf)
{
	char		*line, *s = buf, *v;
	time_t		 t;

	if (strncmp(s, EV_STATE_MAGIC, sizeof(EV_STATE_MAGIC) - 1) != 0)
		return -1;
	s += sizeof(EV_STATE_MAGIC) - 1;
	while ((line = strsep(&s, "\n")) != NULL && *line != '\0') {
		if ((v = strchr(line, ' ')) == NULL)
			return -1;
		*v++ = '\0';
		if (strcmp(line, "status") == 0) {
			if (spool_unescape(v) == -1)
				return -1;
			(void)snprintf(ev->status, sizeof(ev->status), "%s", v);
			continue;
		}
		if (ev_time(v, &t) == -1)
			return -1;
		if (strcmp(line, "attempts") == 0)
			ev->attempts = t > SPOOL_ATTEMPTS_MAX ?
			    SPOOL_ATTEMPTS_MAX : (int)t;
		else if (strcmp(line, "next") == 0)
			ev->next = t;
		else if (strcmp(line, "since") == 0)
			ev->since = t;
	}
	return 0;
}

int
spool_event_read(struct spool *sp, int failed, const char *eid,
    struct spool_event *ev)
{
	char	*buf = NULL;
	size_t	 len;
	int	 dfd, r = -1, saved;

	memset(ev, 0, sizeof(*ev));
	if (!spool_id_valid(eid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = ev_dir(sp, failed ? EVD_FAILED : EVD_PENDING, 0)) == -1)
		return -1;
	if (spool_slurp(dfd, eid, SPOOL_EVENT_MAX, &buf, &len) == -1)
		goto done;
	if (spool_event_parse(ev, eid, buf, len) == -1)
		goto done;
	ev->failed = failed;
	free(buf);
	buf = NULL;
	close(dfd);
	/* the delivery state: none yet is attempts 0, due now */
	if ((dfd = ev_dir(sp, EVD_STATE, 0)) != -1) {
		if (spool_slurp(dfd, eid, 4096, &buf, NULL) == 0 &&
		    ev_state_parse(ev, buf) == -1) {
			ev->attempts = 0;
			ev->next = 0;
			ev->status[0] = '\0';
		}
	}
	r = 0;
done:
	saved = errno;
	free(buf);
	if (dfd != -1)
		close(dfd);
	errno = saved;
	return r;
}

/* ---- hookd ---- */

int
spool_event_lock(struct spool *sp)
{
	static int	fd = -1;	/* held until the process exits */

	if (fd != -1)
		return 0;
	if ((fd = ev_dir(sp, EVD_STATE, 1)) == -1)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		spool_close_keep_errno(fd);
		fd = -1;
		return -1;
	}
	return 0;
}

int
spool_event_watch(struct spool *sp, int inofd)
{
	char	path[PATH_MAX];

	if (snprintf(path, sizeof(path), "%s/%s", sp->path,
	    ev_dirs[EVD_PENDING]) >= (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return inotify_add_watch(inofd, path, IN_MOVED_TO | IN_ATTRIB |
	    IN_ONLYDIR);
}

static int
ev_entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_entry *)a)->id,
	    ((const struct spool_entry *)b)->id);
}

int
spool_event_scan(struct spool *sp, int failed, struct spool_entry **vp,
    size_t *np)
{
	struct spool_entry	*v = NULL, *nv;
	struct dirent		*de;
	struct stat		 st;
	DIR			*d;
	size_t			 n = 0, cap = 0;
	int			 dfd;

	*vp = NULL;
	*np = 0;
	if ((dfd = ev_dir(sp, failed ? EVD_FAILED : EVD_PENDING, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	d = fdopendir(dfd);
	if (d == NULL) {
		spool_close_keep_errno(dfd);
		return -1;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL)
			break;
		if (!spool_id_valid(de->d_name) || fstatat(dirfd(d),
		    de->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		memcpy(v[n].id, de->d_name, sizeof(v[n].id));
		v[n++].due = st.st_mtime;
	}
	if (errno != 0)
		goto fail;
	(void)closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), ev_entry_cmp);	/* ids sort by time */
	*vp = v;
	*np = n;
	return 0;
fail:
	free(v);
	(void)closedir(d);
	return -1;
}

int
spool_event_state(struct spool *sp, const char *eid, int attempts,
    time_t next, time_t since, const char *status)
{
	char	 tmpname[sizeof(EV_STATE_TMP) + SPOOL_ID_LEN];
	char	*buf = NULL, *e = NULL;
	int	 n, dfd, r = -1;

	if (!spool_id_valid(eid)) {
		errno = EINVAL;
		return -1;
	}
	if ((e = spool_escape(status != NULL ? status : "", 200, 0)) == NULL)
		return -1;
	n = asprintf(&buf, EV_STATE_MAGIC "attempts %d\nnext %lld\nsince %lld\n"
	    "status %s\n", attempts, (long long)next, (long long)since, e);
	free(e);
	if (n < 0)
		return -1;
	if ((dfd = ev_dir(sp, EVD_STATE, 1)) != -1) {
		(void)snprintf(tmpname, sizeof(tmpname), EV_STATE_TMP "%s",
		    eid);
		r = spool_put_file(sp, tmpname, dfd, eid, buf, (size_t)n);
		spool_close_keep_errno(dfd);
	}
	free(buf);
	return r;
}

static void
ev_state_unlink(struct spool *sp, const char *eid)
{
	int	dfd;

	if ((dfd = ev_dir(sp, EVD_STATE, 0)) == -1)
		return;
	(void)unlinkat(dfd, eid, 0);
	close(dfd);
}

int
spool_event_done(struct spool *sp, const char *eid)
{
	int	dfd, r;

	if (!spool_id_valid(eid)) {
		errno = EINVAL;
		return -1;
	}
	if ((dfd = ev_dir(sp, EVD_PENDING, 0)) == -1)
		return -1;
	r = unlinkat(dfd, eid, 0);
	spool_close_keep_errno(dfd);
	if (r == 0)
		ev_state_unlink(sp, eid);
	return r;
}

/* events/<eid> <-> events-failed/<eid>; fsyncs the target directory. */
static int
ev_move(struct spool *sp, const char *eid, int from, int to)
{
	int	fdf = -1, fdt = -1, r = -1;

	if (!spool_id_valid(eid)) {
		errno = EINVAL;
		return -1;
	}
	if ((fdf = ev_dir(sp, from, 0)) == -1 || (fdt = ev_dir(sp, to, 1))
	    == -1)
		goto done;
	if (renameat(fdf, eid, fdt, eid) == -1 || fsync(fdt) == -1)
		goto done;
	r = 0;
done:
	spool_close_keep_errno(fdf);
	spool_close_keep_errno(fdt);
	return r;
}

int
spool_event_fail(struct spool *sp, const char *eid)
{
	return ev_move(sp, eid, EVD_PENDING, EVD_FAILED);
}

int
spool_event_retry(struct spool *sp, const char *eid)
{
	struct timespec	ts[2];
	int		dfd, r;

	if (!spool_id_valid(eid)) {
		errno = EINVAL;
		return -1;
	}
	/* attempts and the age start again; hookd sees IN_MOVED_TO/ATTRIB */
	if (spool_event_state(sp, eid, 0, 0, time(NULL), "retry") == -1)
		return -1;
	if (ev_move(sp, eid, EVD_FAILED, EVD_PENDING) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	if ((dfd = ev_dir(sp, EVD_PENDING, 0)) == -1)
		return -1;
	ts[0].tv_nsec = ts[1].tv_nsec = UTIME_NOW;
	ts[0].tv_sec = ts[1].tv_sec = 0;
	r = utimensat(dfd, eid, ts, AT_SYMLINK_NOFOLLOW);
	spool_close_keep_errno(dfd);
	return r;
}
