/*
 * send: POST /send, and the path it shares with POST /emails (send.h).
 * Authenticate, check the request, build the message once, and answer
 * only after the job is durably in pending/.
 *
 * Order of checks, the first that fails answers (codes in errors.h):
 * 401 (token); 415 (Content-Type); 411, 400, 413 (Content-Length missing,
 * not a number, above max_body: before the body is read); 400 (a body
 * shorter than that); 400 (a malformed Idempotency-Key); 400, or 500 out
 * of memory (the body: JSON and fields, the api's parser); 400 (a sender
 * the caller may not use); 503 (spool full); with an Idempotency-Key, 200
 * (the same body again), 409 (another body, or for an api that does not
 * wait, a request with the key still in hand) or 503 (the key store
 * fails); 500 (out of memory building the message); 503 (spool not
 * writable); 202 (/send) or 200 (/emails).
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
#include "jobaddr.h"
#include "log.h"
#include "mail.h"
#include "mime.h"
#include "relay.h"
#include "req.h"
#include "send.h"

#define TOKEN_MAX		512
#define IDEM_KEY_MAX		255
#define WWW_AUTH	"WWW-Authenticate: Bearer realm=\"mail-relay\"\r\n"

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

int
send_room(struct worker *w, size_t n)
{
	const struct relay	*r = w->relay;

	return (unsigned long)pending_estimate(r->spool, time(NULL)) + n <=
	    r->cfg.max_pending;
}

void
send_pending_add(size_t n)
{
	pending_count += (long)n;
}

void
send_reject(struct worker *w, const struct send_api *api,
    const struct send_err *e)
{
	int	status = api->error(w, e);

	log_info("job=%s caller=%s rejected status=%d error=%s%s%s", w->id,
	    w->caller ? w->caller : "-", status, e->code,
	    e->field && *e->field ? " field=" : "", e->field ? e->field : "");
}

static void
reject_as(struct worker *w, const struct send_api *api, int status,
    const char *code, const char *message, const char *field,
    const char *extra)
{
	struct send_err	 e = { status, code, message, field, extra, 0 };

	send_reject(w, api, &e);
}

/* reject_as() with the status and code of ec (errors.h). */
static void
reject(struct worker *w, const struct send_api *api, enum err ec,
    const char *message, const char *field, const char *extra)
{
	reject_as(w, api, err_status(ec), err_code(ec), message, field, extra);
}

/* Answered without logging: the request was not refused, it failed. */
static void
failed(struct worker *w, const struct send_api *api, enum err ec,
    const char *message, const char *extra)
{
	struct send_err	 e = { err_status(ec), err_code(ec), message, NULL,
	    extra, 0 };

	(void)api->error(w, &e);
}

/* The caller, or NULL with *missing set when no token was given. */
static const struct caller *
send_auth_why(struct worker *w, int *missing)
{
	const char	*h = http_param(w, "HTTP_AUTHORIZATION");
	size_t		 len;

	*missing = 1;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	while (len > 0 && h[len - 1] == ' ')
		len--;
	if (len == 0)
		return NULL;
	*missing = 0;
	if (len > TOKEN_MAX)
		return NULL;
	return tokens_auth(&w->relay->tokens, h, len);
}

const struct caller *
send_auth(struct worker *w)
{
	int	missing;

	return send_auth_why(w, &missing);
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

/* 1..max printable ASCII: NULL if absent, "" if malformed. */
static const char *
idem_key(struct worker *w, size_t max)
{
	const char	*k = http_param(w, "HTTP_IDEMPOTENCY_KEY");
	size_t		 i;

	if (k == NULL)
		return NULL;
	for (i = 0; k[i] != '\0'; i++)
		if (k[i] < 0x20 || k[i] > 0x7e)
			return "";
	return i >= 1 && i <= max ? k : "";
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

const char **
send_envelope(const struct mail *m, size_t *n)
{
	const char	**r;
	size_t		  i, k = 0;

	*n = m->nto + m->ncc + m->nbcc;
	if ((r = calloc(*n ? *n : 1, sizeof(*r))) == NULL)
		return NULL;
	for (i = 0; i < m->nto; i++)
		r[k++] = m->to[i].email;
	for (i = 0; i < m->ncc; i++)
		r[k++] = m->cc[i].email;
	for (i = 0; i < m->nbcc; i++)
		r[k++] = m->bcc[i].email;
	return r;
}

/* The /send answer for a job on disk. */
static void
send_accepted(struct worker *w, int status, const char *id, int duplicate)
{
	const struct cfg	*cfg = &w->relay->cfg;
	char			 body[512];
	int			 n;

	n = snprintf(body, sizeof(body), "{\"ok\":true,\"queued\":true,%s"
	    "\"id\":\"%s\",\"messageId\":\"<%s@%s>\"}\n",
	    duplicate ? "\"duplicate\":true," : "", id, id,
	    cfg->message_id_domain);
	http_reply(w, status, NULL, "application/json", body, (size_t)n);
}

static int
send_error(struct worker *w, const struct send_err *e)
{
	http_error(w, e->status, e->code, e->message, e->field, e->extra);
	return e->status;
}

static void
accepted(struct worker *w, const struct send_api *api, int status,
    const char *id, int duplicate)
{
	if (id != w->id)
		strlcpy(w->id, id, sizeof(w->id));
	api->accepted(w, status, id, duplicate);
}

/* Build and enqueue; 0 when durable, else -1 (answered already). */
static int
enqueue(struct worker *w, const struct send_api *api,
    const struct caller *c, const struct mail *m)
{
	const struct relay	*r = w->relay;
	struct spool_env	 env;
	struct jobaddr		 ja = { NULL, 0 };
	char			 msgid[SPOOL_ID_LEN + 1 + sizeof(r->cfg.message_id_domain)];
	const char		**rcpt;
	size_t			 nrcpt;
	time_t			 now = time(NULL);	/* Date: and created */
	int			 rc = -1;

	snprintf(msgid, sizeof(msgid), "%s@%s", w->id, r->cfg.message_id_domain);
	buf_reset(&w->msg);
	if ((rcpt = send_envelope(m, &nrcpt)) == NULL ||
	    mime_build(m, msgid, now, r->cfg.html_to_text ?
	    MIME_TEXT_FROM_HTML : 0, &w->msg) == -1) {
		log_warn("job=%s build", w->id);
		failed(w, api, ERR_INTERNAL_ERROR, "out of memory", NULL);
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
	_Static_assert(sizeof(struct mail_tag) == sizeof(struct spool_tag),
	    "a mail_tag is a spool_tag");
	env.tags = (const struct spool_tag *)m->tags;
	env.ntags = m->ntags;
	env.scheduled = m->scheduled_at > now ? m->scheduled_at : 0;
	if (jobaddr_fill(&ja, m, &env) == -1) {
		failed(w, api, ERR_INTERNAL_ERROR, "out of memory", NULL);
		goto done;
	}
	if (spool_enqueue_at(r->spool, &env, w->msg.data, w->msg.len,
	    m->scheduled_at > now ? m->scheduled_at : 0) == -1) {
		log_warn("job=%s caller=%s enqueue", w->id, c->name);
		failed(w, api, ERR_SPOOL_UNAVAILABLE,
		    "the spool cannot take the message now", HTTP_RETRY_AFTER);
		goto done;
	}
	if (r->cfg.webhooks[0] != '\0' && m->scheduled_at > now &&
	    spool_event_add(r->spool, SPOOL_EV_SCHEDULED, &env, NULL, NULL,
	    NULL, now, NULL) == -1)
		log_warn("job=%s queued; no email.scheduled event", w->id);
	pending_count++;
	scrape_count_accepted(r, c, nrcpt);
	log_info("job=%s caller=%s from=%s rcpt=%zu bytes=%zu queued "
	    "message-id=<%s>%s%.0lld", w->id, c->name, m->from.email, nrcpt,
	    w->msg.len, msgid, m->scheduled_at > now ? " due=" : "",
	    m->scheduled_at > now ? (long long)m->scheduled_at : 0LL);
	rc = 0;
done:
	jobaddr_free(&ja);
	free(rcpt);
	return rc;
}

/* With an Idempotency-Key: the first job's id, 409, or enqueue once. */
static void
enqueue_once(struct worker *w, const struct send_api *api,
    const struct caller *c, const struct mail *m, const char *key)
{
	struct spool_idem	 idem;
	unsigned char		 hash[SHA256_DIGEST_LENGTH];
	char			 first[SPOOL_ID_LEN + 1];
	SHA2_CTX		 ctx;

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)w->body.data, w->body.len);
	SHA256Final(hash, &ctx);
	switch ((api->idem_nowait ? spool_idem_try : spool_idem_begin)(
	    w->relay->spool, c->name, key, hash, &idem, first)) {
	case SPOOL_IDEM_DUP:
		log_info("job=%s caller=%s duplicate of job=%s", w->id,
		    c->name, first);
		accepted(w, api, 200, first, 1);
		return;
	case SPOOL_IDEM_CONFLICT:
		reject(w, api, ERR_IDEMPOTENCY_CONFLICT, "this "
		    "Idempotency-Key was used with a different body", NULL,
		    NULL);
		return;
	case SPOOL_IDEM_BUSY:
		reject(w, api, ERR_IDEMPOTENCY_IN_PROGRESS, "a request "
		    "with this Idempotency-Key is still in progress", NULL,
		    NULL);
		return;
	case SPOOL_IDEM_NEW:
		break;
	default:
		log_warn("job=%s idempotency store", w->id);
		failed(w, api, ERR_SPOOL_UNAVAILABLE,
		    "the spool cannot take the message now", HTTP_RETRY_AFTER);
		return;
	}
	if (enqueue(w, api, c, m) == -1) {
		spool_idem_abort(&idem);
		return;
	}
	if (spool_idem_commit(&idem, w->id) == -1)
		log_warn("job=%s idempotency commit", w->id);
	accepted(w, api, api->ok_status, w->id, 0);
}

static int
check_length(struct worker *w, const struct send_api *api)
{
	const char	*s = http_param(w, "CONTENT_LENGTH");
	const char	*errstr;
	long long	 len;
	size_t		 max = api->batch_body ? w->relay->cfg.max_batch_body :
	    w->relay->cfg.max_body;

	if (s == NULL || *s == '\0') {
		reject(w, api, ERR_LENGTH_REQUIRED, "Content-Length is "
		    "required", NULL, NULL);
		return -1;
	}
	len = strtonum(s, 0, LLONG_MAX, &errstr);
	if (errstr != NULL && strcmp(errstr, "too large") != 0) {
		reject(w, api, ERR_INVALID_LENGTH, "Content-Length is not "
		    "a number", NULL, NULL);
		return -1;
	}
	if (errstr != NULL || (unsigned long long)len > max) {
		reject(w, api, ERR_BODY_TOO_LARGE, api->batch_body ? "the "
		    "body exceeds max_batch_body" : "the body exceeds max_body",
		    NULL, NULL);
		return -1;
	}
	if (read_body(w, (size_t)len) == -1) {
		reject(w, api, ERR_SHORT_BODY, "the body is shorter than "
		    "Content-Length", NULL, NULL);
		return -1;
	}
	return 0;
}

const struct caller *
send_authorize(struct worker *w, const struct send_api *api)
{
	struct send_err		 e = { 0, NULL, NULL, NULL, WWW_AUTH, 0 };
	const struct caller	*c;
	int			 missing;

	if ((c = send_auth_why(w, &missing)) == NULL) {
		e.status = err_status(ERR_UNAUTHORIZED);
		e.code = err_code(ERR_UNAUTHORIZED);
		e.flags = missing ? SEND_ERR_NO_TOKEN : 0;
		e.message = missing ? "a bearer token is required" :
		    "the bearer token is not valid";
		send_reject(w, api, &e);
		return NULL;
	}
	w->caller = c->name;
	return c;
}

int
send_read_json(struct worker *w, const struct send_api *api)
{
	if (!type_is_json(http_param(w, "CONTENT_TYPE"))) {
		reject(w, api, ERR_UNSUPPORTED_MEDIA_TYPE,
		    "Content-Type must be application/json", NULL, NULL);
		return -1;
	}
	return check_length(w, api);
}

const struct caller *
send_begin(struct worker *w, const struct send_api *api, const char **key)
{
	struct send_err		 e = { 0, NULL, NULL, NULL, NULL, 0 };
	const struct caller	*c;
	char			 msg[80];

	if ((c = send_authorize(w, api)) == NULL ||
	    send_read_json(w, api) == -1)
		return NULL;
	if ((*key = idem_key(w, api->idem_max)) != NULL && **key == '\0') {
		e.status = err_status(ERR_INVALID_IDEMPOTENCY_KEY);
		e.code = err_code(ERR_INVALID_IDEMPOTENCY_KEY);
		(void)snprintf(msg, sizeof(msg), "Idempotency-Key must be 1 "
		    "to %zu printable ASCII characters", api->idem_max);
		e.message = msg;
		e.extra = NULL;
		send_reject(w, api, &e);
		return NULL;
	}
	return c;
}

void
send_request(struct worker *w, const struct send_api *api)
{
	const struct relay	*r = w->relay;
	const struct caller	*c;
	const char		*key = NULL;
	struct req_limits	 lim = { r->cfg.max_recipients };
	struct req_error	 err;
	struct mail		 m;

	if ((c = send_begin(w, api, &key)) == NULL)
		return;
	if (api->parse(w->body.data, w->body.len, &lim, &m, &err) == -1) {
		reject_as(w, api, err.status, err.code, err.message, err.field,
		    NULL);
		return;
	}
	if (!tokens_sender_allowed(c, m.from.email))
		reject(w, api, ERR_SENDER_NOT_ALLOWED, "this caller may not "
		    "send from that address", "from", NULL);
	else if (send_suppressed(w, api, &m) != 0)
		;	/* answered: 422 or 503 */
	else if (pending_estimate(r->spool, time(NULL)) >=
	    (long)r->cfg.max_pending)
		reject(w, api, ERR_SPOOL_FULL, "too many messages are "
		    "waiting; try again later", NULL, HTTP_RETRY_AFTER);
	else if (key != NULL)
		enqueue_once(w, api, c, &m, key);
	else if (enqueue(w, api, c, &m) == 0)
		accepted(w, api, api->ok_status, w->id, 0);
	api->free(&m);
}

static const struct send_api send_api = {
	.ok_status = 202,
	.idem_max = IDEM_KEY_MAX,
	.idem_nowait = 0,
	.parse = req_parse,
	.free = req_free,
	.error = send_error,
	.accepted = send_accepted,
};

void
send_handle(struct worker *w)
{
	send_request(w, &send_api);
}
