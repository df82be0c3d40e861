/*
 * resend_batch: POST /emails/batch, Resend's batch: a JSON array of 1 to
 * RESEND_BATCH_MAX emails in POST /emails's body (resend_req.c), without
 * attachments or scheduled_at.  The request goes through what POST
 * /emails does (send.c: token, Content-Type, Content-Length against
 * max_batch_body, Idempotency-Key; per email the validation, the sender
 * allowlist and the suppression list), then every accepted email becomes
 * a job of one batch file: one durable commit for all of them
 * (spool_batch_enqueue), split into pending/ before the answer.
 *
 * x-batch-validation: strict (the default): the first email refused
 * refuses the batch, nothing is enqueued, the error names its index as
 * "[i].field".  permissive: the valid ones are enqueued and the others
 * listed: 200 {"data":[{"id":...}],"errors":[{"index":i,"message":...}]}.
 * A full spool, or one that fails, refuses the whole batch (503).  With an
 * Idempotency-Key the batch is one unit: the same body again gets the
 * same answer, byte for byte.
 */
#include <errno.h>
#include <sha2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "errors.h"
#include "http.h"
#include "jobaddr.h"
#include "json.h"
#include "log.h"
#include "mime.h"
#include "relay.h"
#include "resend.h"
#include "resend_batch.h"
#include "resend_req.h"
#include "send.h"

#define RESEND_IDEM_MAX		256

_Static_assert(sizeof(struct mail_tag) == sizeof(struct spool_tag),
    "a mail_tag is a spool_tag");

/* One email of the batch. */
struct item {
	struct mail	 m;
	int		 parsed;	/* m holds a mail (resend_free it) */
	int		 ok;		/* to be enqueued */
	const char	*code;		/* a /send error code when refused */
	char		 field[128];
	char		 message[400];
	char		 id[SPOOL_ID_LEN + 1];
	char		 msgid[SPOOL_ID_LEN + 2 + 254];
	const char	**rcpt;
	size_t		 nrcpt;
	size_t		 off, len;	/* its message in w->msg */
	struct spool_env env;
	struct jobaddr	 ja;		/* env's from and addresses */
};

static const struct send_api batch_api = {
	.ok_status = 200,
	.idem_max = RESEND_IDEM_MAX,
	.idem_nowait = 1,
	.batch_body = 1,
	.parse = resend_parse,		/* not used: the body is an array */
	.free = resend_free,
	.error = resend_error,
};

/* The email send_suppressed answers into (its api's error writer). */
static __thread struct item *collecting;

static void
item_fail(struct item *it, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
item_fail(struct item *it, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	ap;

	it->ok = 0;
	it->code = code;
	(void)snprintf(it->field, sizeof(it->field), "%s", field ? field : "");
	va_start(ap, fmt);
	(void)vsnprintf(it->message, sizeof(it->message), fmt, ap);
	va_end(ap);
}

static int
collect(struct worker *w, const struct send_err *e)
{
	(void)w;
	if (collecting != NULL)
		item_fail(collecting, e->code, e->field, "%s", e->message);
	return e->status;
}

static const struct send_api item_api = {
	.ok_status = 200,
	.idem_max = RESEND_IDEM_MAX,
	.error = collect,
};

/* Answers a refusal of the whole request (Resend's shape), logged. */
static void
refuse(struct worker *w, enum err e, const char *field, const char *message,
    const char *extra)
{
	struct send_err	 se = { err_status(e), err_code(e), message, field,
	    extra, 0 };

	send_reject(w, &batch_api, &se);
}

/* strict 0, permissive 1, -1 answered (422). */
static int
batch_mode(struct worker *w)
{
	const char	*v = http_param(w, "HTTP_X_BATCH_VALIDATION");

	if (v == NULL || strcasecmp(v, "strict") == 0)
		return 0;
	if (strcasecmp(v, "permissive") == 0)
		return 1;
	refuse(w, ERR_INVALID_TYPE, "x-batch-validation", "must be strict "
	    "or permissive", NULL);
	return -1;
}

/* Validates one email (taking v over) into it. */
static void
check_item(struct worker *w, const struct caller *c, cJSON *v,
    struct item *it)
{
	struct req_limits	 lim = { w->relay->cfg.max_recipients };
	struct req_error	 err;
	const char		*no[] = { "attachments", "scheduled_at" };
	cJSON			*k;
	size_t			 i;
	int			 r;

	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		item_fail(it, "invalid_type", NULL, "an email is a JSON object");
		return;
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if ((k = cJSON_GetObjectItemCaseSensitive(v, no[i])) != NULL &&
		    !cJSON_IsNull(k)) {
			cJSON_Delete(v);
			item_fail(it, "not_supported", no[i], "a batch takes "
			    "no %s", no[i]);
			return;
		}
	err.status = 0;
	err.code = NULL;
	err.message[0] = err.field[0] = '\0';
	if (resend_mail(v, &lim, time(NULL), &it->m, &err) == -1) {
		item_fail(it, err.code, err.field, "%s", err.message);
		return;
	}
	it->parsed = 1;
	if (!tokens_sender_allowed(c, it->m.from.email)) {
		item_fail(it, "sender_not_allowed", "from", "this caller may "
		    "not send from that address");
		return;
	}
	it->ok = 1;
	collecting = it;
	r = send_suppressed(w, &item_api, &it->m);	/* logs a refusal */
	collecting = NULL;
	if (r != 0)
		it->ok = 0;
}

/* "[i]" or "[i].field". */
static void
index_field(char *out, size_t size, size_t i, const char *field)
{
	(void)snprintf(out, size, "[%zu]%s%s", i, *field ? "." : "", field);
}

/*
 * Validates every email (strict: up to the first refused one).  Returns
 * the index of the email that refuses the batch (strict, or a spool
 * failure either way), or n when the batch goes on.
 */
static size_t
check_all(struct worker *w, const struct caller *c, cJSON *root,
    struct item *items, size_t n, int permissive)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		check_item(w, c, cJSON_DetachItemFromArray(root, 0), &items[i]);
		if (items[i].ok)
			continue;
		if (strcmp(items[i].code, "recipient_suppressed") != 0)
			log_info("job=%s caller=%s rejected index=%zu error=%s"
			    "%s%s", w->id, c->name, i, items[i].code,
			    items[i].field[0] ? " field=" : "", items[i].field);
		if (!permissive || strcmp(items[i].code,
		    err_code(ERR_SPOOL_UNAVAILABLE)) == 0)
			return i;
	}
	return n;
}

/* The email at index i refuses the batch: its error, in Resend's shape. */
static void
refuse_item(struct worker *w, const struct item *it, size_t i)
{
	char		 field[160];
	const char	*name;
	int		 status;

	resend_twin(it->code, it->field, 0, &status, &name);
	index_field(field, sizeof(field), i, it->field);
	scrape_count_error(w->endpoint, it->code);
	resend_reply_error(w, status, name, field, it->message,
	    status == 503 ? HTTP_RETRY_AFTER : NULL);
}

/* {"data":[{"id":...},...]} and, permissive, "errors":[...]: into w->out. */
static int
answer(struct worker *w, const struct item *items, size_t n, int permissive)
{
	struct buf	*b = &w->out;
	size_t		 i, k = 0;

	buf_reset(b);
	buf_adds(b, "{\"data\":[");
	for (i = 0; i < n; i++)
		if (items[i].ok)
			buf_addf(b, "%s{\"id\":\"%s\"}", k++ ? "," : "",
			    items[i].id);
	buf_adds(b, "]");
	if (permissive) {
		buf_adds(b, ",\"errors\":[");
		for (i = 0, k = 0; i < n; i++) {
			if (items[i].ok)
				continue;
			buf_addf(b, "%s{\"index\":%zu,\"message\":\"",
			    k++ ? "," : "", i);
			if (items[i].field[0] != '\0') {
				http_json_str(b, items[i].field);
				buf_adds(b, ": ");
			}
			http_json_str(b, items[i].message);
			buf_adds(b, "\"}");
		}
		buf_adds(b, "]");
	}
	return buf_adds(b, "}\n");
}

/* Ids, messages and envelopes of the accepted emails; 0 or -1 (ENOMEM). */
static int
build(struct worker *w, const struct caller *c, struct item *items,
    size_t n, time_t now)
{
	const struct cfg	*cfg = &w->relay->cfg;
	struct item		*it;
	size_t			 i, mark;

	buf_reset(&w->msg);
	for (i = 0; i < n; i++) {
		if (!(it = &items[i])->ok)
			continue;
		if (spool_id_new(it->id) == -1)
			return -1;
		(void)snprintf(it->msgid, sizeof(it->msgid), "%s@%s", it->id,
		    cfg->message_id_domain);
		mark = w->msg.len;
		if ((it->rcpt = send_envelope(&it->m, &it->nrcpt)) == NULL ||
		    mime_build(&it->m, it->msgid, now, cfg->html_to_text ?
		    MIME_TEXT_FROM_HTML : 0, &w->msg) == -1)
			return -1;
		it->off = mark;
		it->len = w->msg.len - mark;
		memset(&it->env, 0, sizeof(it->env));
		it->env.id = it->id;
		it->env.created = now;
		it->env.caller = c->name;
		it->env.message_id = it->msgid;
		it->env.sender = it->m.from.email;
		it->env.rcpt = it->rcpt;
		it->env.nrcpt = it->nrcpt;
		it->env.subject = it->m.subject;
		it->env.tags = (const struct spool_tag *)it->m.tags;
		it->env.ntags = it->m.ntags;
		if (jobaddr_fill(&it->ja, &it->m, &it->env) == -1)
			return -1;
	}
	return 0;
}

/* Every accepted email into one batch; -1 when nothing was committed. */
static int
commit(struct worker *w, const struct caller *c, struct item *items,
    size_t n, size_t nok)
{
	struct spool_batch_job	*v;
	size_t			 i, k = 0;
	int			 r;

	if ((v = calloc(nok, sizeof(*v))) == NULL)
		return -1;
	for (i = 0; i < n; i++)
		if (items[i].ok) {
			v[k].env = &items[i].env;
			v[k].msg = w->msg.data + items[i].off;
			v[k++].len = items[i].len;
		}
	r = spool_batch_enqueue(w->relay->spool, w->id, v, nok);
	free(v);
	if (r == -1) {
		log_warn("job=%s caller=%s batch enqueue", w->id, c->name);
		return -1;
	}
	if (r == 1)
		log_warn("job=%s batch committed, split left to spoold",
		    w->id);
	send_pending_add(nok);
	for (i = 0; i < n; i++) {
		if (!items[i].ok)
			continue;
		scrape_count_accepted(w->relay, c, items[i].nrcpt);
		log_info("job=%s caller=%s from=%s rcpt=%zu bytes=%zu queued "
		    "message-id=<%s> batch=%s index=%zu", items[i].id, c->name,
		    items[i].m.from.email, items[i].nrcpt, items[i].len,
		    items[i].msgid, w->id, i);
	}
	return 0;
}

static void
unavailable(struct worker *w, const char *what)
{
	struct send_err	 e = { err_status(ERR_SPOOL_UNAVAILABLE),
	    err_code(ERR_SPOOL_UNAVAILABLE), what, NULL, HTTP_RETRY_AFTER, 0 };

	(void)batch_api.error(w, &e);
}

/* The key's record: 1 go on (h held), 0 answered (a duplicate, 409, 503). */
static int
idem_begin(struct worker *w, const struct caller *c, const char *key,
    struct spool_idem *h)
{
	unsigned char	 hash[SHA256_DIGEST_LENGTH];
	char		 first[SPOOL_ID_LEN + 1], *prev = NULL;
	size_t		 plen;
	SHA2_CTX	 ctx;

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)w->body.data, w->body.len);
	SHA256Final(hash, &ctx);
	switch (spool_idem_try_answer(w->relay->spool, c->name, key, hash, h,
	    first, &prev, &plen)) {
	case SPOOL_IDEM_NEW:
		return 1;
	case SPOOL_IDEM_DUP:
		log_info("job=%s caller=%s duplicate of batch=%s", w->id,
		    c->name, first);
		if (plen > 0)
			http_reply(w, 200, NULL, "application/json", prev, plen);
		else
			refuse(w, ERR_IDEMPOTENCY_CONFLICT, NULL, "this "
			    "Idempotency-Key was used for another request",
			    NULL);
		free(prev);
		return 0;
	case SPOOL_IDEM_CONFLICT:
		refuse(w, ERR_IDEMPOTENCY_CONFLICT, NULL, "this "
		    "Idempotency-Key was used with a different body", NULL);
		return 0;
	case SPOOL_IDEM_BUSY:
		refuse(w, ERR_IDEMPOTENCY_IN_PROGRESS, NULL, "a request with "
		    "this Idempotency-Key is still in progress", NULL);
		return 0;
	default:
		log_warn("job=%s idempotency store", w->id);
		unavailable(w, "the spool cannot take the messages now");
		return 0;
	}
}

/* The valid emails: room, the key, the commit, the answer. */
static void
enqueue(struct worker *w, const struct caller *c, const char *key,
    struct item *items, size_t n, int permissive)
{
	struct spool_idem	 h = { -1, { 0 } };
	size_t			 i, nok = 0;

	for (i = 0; i < n; i++)
		nok += items[i].ok;
	if (nok > 0 && !send_room(w, nok)) {
		refuse(w, ERR_SPOOL_FULL, NULL, "too many messages are "
		    "waiting; try again later", HTTP_RETRY_AFTER);
		return;
	}
	if (key != NULL && !idem_begin(w, c, key, &h))
		return;
	if (nok > 0 && build(w, c, items, n, time(NULL)) == -1) {
		log_warn("job=%s build", w->id);
		spool_idem_abort(&h);
		(void)batch_api.error(w, &(struct send_err){
		    err_status(ERR_INTERNAL_ERROR),
		    err_code(ERR_INTERNAL_ERROR), "out of memory", NULL, NULL,
		    0 });
		return;
	}
	if (nok > 0 && commit(w, c, items, n, nok) == -1) {
		spool_idem_abort(&h);
		unavailable(w, "the spool cannot take the messages now");
		return;
	}
	if (answer(w, items, n, permissive) == -1) {
		spool_idem_abort(&h);
		unavailable(w, "out of memory");	/* but enqueued */
		return;
	}
	if (key != NULL && nok == 0)
		spool_idem_abort(&h);	/* nothing enqueued: nothing to keep */
	else if (key != NULL && spool_idem_commit_answer(&h, w->id,
	    w->out.data, w->out.len) == -1)
		log_warn("job=%s idempotency commit", w->id);
	http_reply(w, 200, NULL, "application/json", w->out.data, w->out.len);
}

void
resend_batch(struct worker *w)
{
	const struct caller	*c;
	const char		*key = NULL;
	struct req_error	 err;
	struct item		*items = NULL;
	cJSON			*root = NULL;
	size_t			 n = 0, i, bad;
	int			 permissive;

	if ((c = send_begin(w, &batch_api, &key)) == NULL ||
	    (permissive = batch_mode(w)) == -1)
		return;
	err.field[0] = '\0';
	if (json_decode_value(w->body.data, w->body.len, &root, &err) == -1) {
		send_reject(w, &batch_api, &(struct send_err){ err.status,
		    err.code, err.message, err.field, NULL, 0 });
		return;
	}
	if (!cJSON_IsArray(root) || (n = (size_t)cJSON_GetArraySize(root)) ==
	    0 || n > RESEND_BATCH_MAX) {
		refuse(w, !cJSON_IsArray(root) ? ERR_INVALID_TYPE : n == 0 ?
		    ERR_EMPTY_ARRAY : ERR_TOO_MANY_EMAILS, NULL,
		    n > RESEND_BATCH_MAX ? "a batch holds at most 100 emails" :
		    "the body is an array of 1 to 100 emails", NULL);
		goto done;
	}
	if ((items = calloc(n, sizeof(*items))) == NULL) {
		unavailable(w, "out of memory");
		goto done;
	}
	if ((bad = check_all(w, c, root, items, n, permissive)) < n)
		refuse_item(w, &items[bad], bad);
	else
		enqueue(w, c, key, items, n, permissive);
done:
	for (i = 0; items != NULL && i < n; i++) {
		if (items[i].parsed)
			resend_free(&items[i].m);
		free(items[i].rcpt);
		jobaddr_free(&items[i].ja);
	}
	free(items);
	cJSON_Delete(root);
}
