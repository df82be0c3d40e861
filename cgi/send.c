/*
 * send: POST /send.  Authenticate, check the request, build the message
 * once, and answer 202 only after the job is durably in pending/.
 *
 * Order of checks, the first that fails answers (codes in errors.h):
 * 401 (token); 415 (Content-Type); 411, 400, 413 (Content-Length missing,
 * not a number, above max_body: before the body is read); 400 (a body
 * shorter than that); 400 (a malformed Idempotency-Key); 400, or 500 out
 * of memory (the body: JSON and fields, req_parse); 400 (a sender the
 * caller may not use); 503 (spool full); with an Idempotency-Key, 200
 * (the same body again), 409 (another body) or 503 (the key store
 * fails); 500 (out of memory building the message); 503 (spool not
 * writable); 202.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <sha2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "mail.h"
#include "mime.h"
#include "relay.h"
#include "req.h"

#define TOKEN_MAX		512
#define IDEM_KEY_MAX		255

/*
 * How many jobs pending/ holds.  A count reads the whole directory, so it
 * is redone only once the last one is older than 1 s plus 1 s for every
 * PENDING_RECOUNT jobs it found: its cost per request stays flat however
 * long the queue grows.  In between, this process adds its own enqueues.
 */
#define PENDING_RECOUNT		10000

static atomic_long	pending_count;
static atomic_llong	pending_counted;	/* unix time of the last count */
static atomic_long	pending_every = 1;	/* seconds between counts */
static pthread_mutex_t	pending_lock = PTHREAD_MUTEX_INITIALIZER;

static int
pending_stale(time_t now)
{
	long long	age = now - pending_counted;

	return age >= pending_every || age < 0;	/* < 0: clock set back */
}

static long
pending_estimate(struct spool *spool, time_t now)
{
	long	n;

	if (pending_stale(now) && pthread_mutex_trylock(&pending_lock) == 0) {
		if (pending_stale(now) &&
		    (n = spool_count(spool, "pending")) >= 0) {
			pending_count = n;
			pending_every = 1 + n / PENDING_RECOUNT;
			pending_counted = now;
		}
		pthread_mutex_unlock(&pending_lock);
	}
	return pending_count;
}

static void
reject_as(struct worker *w, int status, const char *code, const char *message,
    const char *field, const char *extra)
{
	log_info("job=%s caller=%s rejected status=%d error=%s%s%s", w->id,
	    w->caller ? w->caller : "-", status, code,
	    field && *field ? " field=" : "", field ? field : "");
	http_error(w, status, code, message, field, extra);
}

/* reject_as() with the status and code of e (errors.h). */
static void
reject(struct worker *w, enum err e, const char *message, const char *field,
    const char *extra)
{
	reject_as(w, err_status(e), err_code(e), message, field, extra);
}

const struct caller *
send_auth(struct worker *w)
{
	const char	*h = http_param(w, "HTTP_AUTHORIZATION");
	size_t		 len;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	while (len > 0 && h[len - 1] == ' ')
		len--;
	if (len == 0 || len > TOKEN_MAX)
		return NULL;
	return tokens_auth(&w->relay->tokens, h, len);
}

/* application/json, with at most a charset=utf-8 parameter. */
static int
type_is_json(const char *t)
{
	size_t	n = strlen("application/json");

	if (t == NULL || strncasecmp(t, "application/json", n) != 0)
		return 0;
	t += n;
	while (*t == ' ')
		t++;
	if (*t == '\0')
		return 1;
	if (*t++ != ';')
		return 0;
	while (*t == ' ')
		t++;
	return strcasecmp(t, "charset=utf-8") == 0 ||
	    strcasecmp(t, "charset=\"utf-8\"") == 0;
}

/* 1..255 printable ASCII: NULL if absent, "" if malformed. */
static const char *
idem_key(struct worker *w)
{
	const char	*k = http_param(w, "HTTP_IDEMPOTENCY_KEY");
	size_t		 i;

	if (k == NULL)
		return NULL;
	for (i = 0; k[i] != '\0'; i++)
		if (k[i] < 0x20 || k[i] > 0x7e)
			return "";
	return i >= 1 && i <= IDEM_KEY_MAX ? k : "";
}

/* Read exactly the declared body; -1 on a short body. */
static int
read_body(struct worker *w, size_t len)
{
	int	n;

	buf_reset(&w->body);
	if (buf_reserve(&w->body, len) == -1)
		return -1;
	while (w->body.len < len) {
		n = FCGX_GetStr(w->body.data + w->body.len,
		    (int)(len - w->body.len), w->req.in);
		if (n <= 0)
			return -1;
		w->body.len += (size_t)n;
	}
	w->body.data[w->body.len] = '\0';
	return 0;
}

/* The envelope: every To, Cc and Bcc address. */
static const char **
envelope_rcpts(const struct mail *m, size_t *n)
{
	const char	**r;
	size_t		  i, k = 0;

	*n = m->nto + m->ncc + m->nbcc;
	if ((r = calloc(*n, sizeof(*r))) == NULL)
		return NULL;
	for (i = 0; i < m->nto; i++)
		r[k++] = m->to[i].email;
	for (i = 0; i < m->ncc; i++)
		r[k++] = m->cc[i].email;
	for (i = 0; i < m->nbcc; i++)
		r[k++] = m->bcc[i].email;
	return r;
}

static void
accepted(struct worker *w, int status, const char *id, int duplicate)
{
	const struct cfg	*cfg = &w->relay->cfg;
	char			 body[512];
	int			 n;

	if (id != w->id)
		strlcpy(w->id, id, sizeof(w->id));
	n = snprintf(body, sizeof(body), "{\"ok\":true,\"queued\":true,%s"
	    "\"id\":\"%s\",\"messageId\":\"<%s@%s>\"}\n",
	    duplicate ? "\"duplicate\":true," : "", id, id,
	    cfg->message_id_domain);
	http_reply(w, status, NULL, "application/json", body, (size_t)n);
}

/* Build and enqueue; 0 when durable, else -1 (answered already). */
static int
enqueue(struct worker *w, const struct caller *c, const struct mail *m)
{
	const struct relay	*r = w->relay;
	struct spool_env	 env;
	char			 msgid[SPOOL_ID_LEN + 1 + sizeof(r->cfg.message_id_domain)];
	const char		**rcpt;
	size_t			 nrcpt;
	time_t			 now = time(NULL);	/* Date: and created */
	int			 rc = -1;

	snprintf(msgid, sizeof(msgid), "%s@%s", w->id, r->cfg.message_id_domain);
	buf_reset(&w->msg);
	if ((rcpt = envelope_rcpts(m, &nrcpt)) == NULL ||
	    mime_build(m, msgid, now, r->cfg.html_to_text ?
	    MIME_TEXT_FROM_HTML : 0, &w->msg) == -1) {
		log_warn("job=%s build", w->id);
		http_fail(w, ERR_INTERNAL_ERROR, "out of memory", NULL, NULL);
		goto done;
	}
	memset(&env, 0, sizeof(env));
	env.id = w->id;
	env.created = now;
	env.caller = c->name;
	env.message_id = msgid;
	env.sender = m->from.email;
	env.rcpt = rcpt;
	env.nrcpt = nrcpt;
	env.subject = m->subject;
	if (spool_enqueue(r->spool, &env, w->msg.data, w->msg.len) == -1) {
		log_warn("job=%s caller=%s enqueue", w->id, c->name);
		http_fail(w, ERR_SPOOL_UNAVAILABLE,
		    "the spool cannot take the message now", NULL,
		    HTTP_RETRY_AFTER);
		goto done;
	}
	pending_count++;
	scrape_count_accepted(r, c, nrcpt);
	log_info("job=%s caller=%s from=%s rcpt=%zu bytes=%zu queued "
	    "message-id=<%s>", w->id, c->name, m->from.email, nrcpt,
	    w->msg.len, msgid);
	rc = 0;
done:
	free(rcpt);
	return rc;
}

/* With an Idempotency-Key: the first job's id, 409, or enqueue once. */
static void
enqueue_once(struct worker *w, const struct caller *c, const struct mail *m,
    const char *key)
{
	struct spool_idem	 idem;
	unsigned char		 hash[SHA256_DIGEST_LENGTH];
	char			 first[SPOOL_ID_LEN + 1];
	SHA2_CTX		 ctx;

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)w->body.data, w->body.len);
	SHA256Final(hash, &ctx);
	switch (spool_idem_begin(w->relay->spool, c->name, key, hash, &idem,
	    first)) {
	case SPOOL_IDEM_DUP:
		log_info("job=%s caller=%s duplicate of job=%s", w->id,
		    c->name, first);
		accepted(w, 200, first, 1);
		return;
	case SPOOL_IDEM_CONFLICT:
		reject(w, ERR_IDEMPOTENCY_CONFLICT, "this Idempotency-Key "
		    "was used with a different body", NULL, NULL);
		return;
	case SPOOL_IDEM_NEW:
		break;
	default:
		log_warn("job=%s idempotency store", w->id);
		http_fail(w, ERR_SPOOL_UNAVAILABLE,
		    "the spool cannot take the message now", NULL,
		    HTTP_RETRY_AFTER);
		return;
	}
	if (enqueue(w, c, m) == -1) {
		spool_idem_abort(&idem);
		return;
	}
	if (spool_idem_commit(&idem, w->id) == -1)
		log_warn("job=%s idempotency commit", w->id);
	accepted(w, 202, w->id, 0);
}

static int
check_length(struct worker *w)
{
	const char	*s = http_param(w, "CONTENT_LENGTH");
	const char	*errstr;
	long long	 len;
	size_t		 max = w->relay->cfg.max_body;

	if (s == NULL || *s == '\0') {
		reject(w, ERR_LENGTH_REQUIRED, "Content-Length is required",
		    NULL, NULL);
		return -1;
	}
	len = strtonum(s, 0, LLONG_MAX, &errstr);
	if (errstr != NULL && strcmp(errstr, "too large") != 0) {
		reject(w, ERR_INVALID_LENGTH, "Content-Length is not a "
		    "number", NULL, NULL);
		return -1;
	}
	if (errstr != NULL || (unsigned long long)len > max) {
		reject(w, ERR_BODY_TOO_LARGE, "the body exceeds max_body",
		    NULL, NULL);
		return -1;
	}
	if (read_body(w, (size_t)len) == -1) {
		reject(w, ERR_SHORT_BODY, "the body is shorter than "
		    "Content-Length", NULL, NULL);
		return -1;
	}
	return 0;
}

void
send_handle(struct worker *w)
{
	const struct relay	*r = w->relay;
	const struct caller	*c;
	const char		*key;
	struct req_limits	 lim = { r->cfg.max_recipients };
	struct req_error	 err;
	struct mail		 m;

	if ((c = send_auth(w)) == NULL) {
		reject(w, ERR_UNAUTHORIZED, "a valid bearer token is "
		    "required", NULL, "WWW-Authenticate: Bearer realm=\"mail-relay\"\r\n");
		return;
	}
	w->caller = c->name;
	if (!type_is_json(http_param(w, "CONTENT_TYPE"))) {
		reject(w, ERR_UNSUPPORTED_MEDIA_TYPE,
		    "Content-Type must be application/json", NULL, NULL);
		return;
	}
	if (check_length(w) == -1)
		return;
	if ((key = idem_key(w)) != NULL && *key == '\0') {
		reject(w, ERR_INVALID_IDEMPOTENCY_KEY, "Idempotency-Key must "
		    "be 1 to 255 printable ASCII characters", NULL, NULL);
		return;
	}
	if (req_parse(w->body.data, w->body.len, &lim, &m, &err) == -1) {
		reject_as(w, err.status, err.code, err.message, err.field,
		    NULL);
		return;
	}
	if (!tokens_sender_allowed(c, m.from.email))
		reject(w, ERR_SENDER_NOT_ALLOWED, "this caller may not send "
		    "from that address", "from", NULL);
	else if (send_suppressed(w, &m) != 0)
		;	/* answered: 422 or 503 */
	else if (pending_estimate(r->spool, time(NULL)) >=
	    (long)r->cfg.max_pending)
		reject(w, ERR_SPOOL_FULL, "too many messages are waiting; "
		    "try again later", NULL, HTTP_RETRY_AFTER);
	else if (key != NULL)
		enqueue_once(w, c, &m, key);
	else if (enqueue(w, c, &m) == 0)
		accepted(w, 202, w->id, 0);
	req_free(&m);
}
