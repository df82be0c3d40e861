/*
 * resend: the Resend-compatible endpoints.  POST /emails takes Resend's
 * body (resend_req.c) down the same path as POST /send (send.c) and
 * answers as Resend does: 200 {"id":"..."}, errors as
 * {"statusCode":N,"name":"...","message":"..."}.
 *
 * Every /send error code has its Resend-shaped twin in the table below
 * (relay-fcgi(8) prints it).  A success body never holds statusCode: the
 * Python SDK takes one for an error.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "errors.h"
#include "http.h"
#include "isotime.h"
#include "json.h"
#include "log.h"
#include "relay.h"
#include "resend.h"
#include "resend_batch.h"
#include "resend_req.h"
#include "scrape.h"
#include "send.h"

#define RESEND_IDEM_MAX		256

static const struct {
	const char	*code;
	int		 status;
	const char	*name;
} twins[] = {
	{ "unauthorized",		403, "invalid_api_key" },
	{ "unsupported_media_type",	415, "validation_error" },
	{ "length_required",		411, "validation_error" },
	{ "invalid_length",		400, "validation_error" },
	{ "body_too_large",		413, "validation_error" },
	{ "short_body",			400, "validation_error" },
	{ "invalid_idempotency_key",	400, "invalid_idempotency_key" },
	{ "missing_field",		422, "missing_required_field" },
	{ "missing_body",		422, "missing_required_field" },
	{ "invalid_attachment",		422, "invalid_attachment" },
	{ "too_many_attachments",	422, "invalid_attachment" },
	{ "sender_not_allowed",		403, "validation_error" },
	{ "spool_full",			503, "application_error" },
	{ "spool_unavailable",		503, "application_error" },
	{ "idempotency_conflict",	409, "invalid_idempotent_request" },
	{ "idempotency_in_progress",	409, "concurrent_idempotent_requests" },
	{ "internal_error",		500, "internal_server_error" },
	{ "not_found",			404, "not_found" },
	{ "invalid_id",			404, "not_found" },
	{ "method_not_allowed",		405, "method_not_allowed" },
	{ "not_waiting",		422, "validation_error" },
};

/* Resend's status and name for a /send error (default 422 validation). */
void
resend_twin(const char *code, const char *field, int flags, int *status,
    const char **name)
{
	size_t	 i;

	*status = 422;
	*name = "validation_error";
	if (strcmp(code, "unauthorized") == 0 && (flags & SEND_ERR_NO_TOKEN)) {
		*status = 401;
		*name = "missing_api_key";
		return;
	}
	if ((strcmp(code, "invalid_address") == 0 ||
	    strcmp(code, "invalid_name") == 0) && field != NULL &&
	    strncmp(field, "from", 4) == 0) {
		*name = "invalid_from_address";
		return;
	}
	for (i = 0; i < sizeof(twins) / sizeof(twins[0]); i++)
		if (strcmp(code, twins[i].code) == 0) {
			*status = twins[i].status;
			*name = twins[i].name;
			return;
		}
}

void
resend_reply_error(struct worker *w, int status, const char *name,
    const char *field, const char *message, const char *extra)
{
	struct buf	*b = &w->out;

	buf_reset(b);
	buf_addf(b, "{\"statusCode\":%d,\"name\":\"", status);
	http_json_str(b, name);
	buf_adds(b, "\",\"message\":\"");
	if (field != NULL && *field != '\0') {
		http_json_str(b, field);
		buf_adds(b, ": ");
	}
	http_json_str(b, message);
	if (buf_adds(b, "\"}\n") == -1) {
		http_reply(w, 500, extra, "application/json", "{\"statusCode\":"
		    "500,\"name\":\"internal_server_error\",\"message\":"
		    "\"out of memory\"}\n", 76);
		return;
	}
	http_reply(w, status, extra, "application/json", b->data, b->len);
}

int
resend_error(struct worker *w, const struct send_err *e)
{
	const char	*name;
	int		 status;

	resend_twin(e->code, e->field, e->flags, &status, &name);
	scrape_count_error(w->endpoint, e->code);
	resend_reply_error(w, status, name, e->field, e->message, e->extra);
	return status;
}

static void
resend_accepted(struct worker *w, int status, const char *id, int duplicate)
{
	char	 body[64];
	int	 n;

	(void)status;
	(void)duplicate;
	n = snprintf(body, sizeof(body), "{\"id\":\"%s\"}\n", id);
	http_reply(w, 200, NULL, "application/json", body, (size_t)n);
}

static const struct send_api emails_api = {
	.ok_status = 200,
	.idem_max = RESEND_IDEM_MAX,
	.idem_nowait = 1,
	.parse = resend_parse,
	.free = resend_free,
	.error = resend_error,
	.accepted = resend_accepted,
};

static void
not_allowed(struct worker *w, const char *allow)
{
	char	 extra[64], msg[64];

	snprintf(extra, sizeof(extra), "Allow: %s\r\n", allow);
	snprintf(msg, sizeof(msg), "method not allowed; use %s", allow);
	scrape_count_error(w->endpoint, "method_not_allowed");
	resend_reply_error(w, 405, "method_not_allowed", NULL, msg, extra);
}

static void
reject(struct worker *w, enum err e, const char *message)
{
	struct send_err	 se = { err_status(e), err_code(e), message, NULL,
	    NULL, 0 };

	send_reject(w, &emails_api, &se);
}

/* {"object":"email","id":"ID"}: the answer of PATCH and cancel. */
static void
email_object(struct worker *w, const char *id)
{
	char	 body[96];
	int	 n;

	n = snprintf(body, sizeof(body), "{\"object\":\"email\",\"id\":"
	    "\"%s\"}\n", id);
	http_reply(w, 200, NULL, "application/json", body, (size_t)n);
}

/*
 * The state of message id if caller sent it; -1 (404 answered) for an
 * unknown id and another caller's alike.
 */
static int
own_state(struct worker *w, const struct caller *c, const char *id)
{
	struct spool_record	 rec;
	int			 state = -1;

	if (spool_record_lookup(w->relay->spool, id, &rec) == 0 &&
	    strcmp(rec.env.caller, c->name) == 0)
		state = rec.state;
	spool_record_free(&rec);
	if (state == -1)
		reject(w, ERR_NOT_FOUND, "no email with this id");
	return state;
}

/* The spool's answer to a reschedule or cancel (rc, errno), answered. */
static void
sched_done(struct worker *w, int rc, const char *id, const char *what)
{
	struct send_err	 e = { err_status(ERR_SPOOL_UNAVAILABLE),
	    err_code(ERR_SPOOL_UNAVAILABLE), "the spool cannot be changed now",
	    NULL, HTTP_RETRY_AFTER, 0 };

	if (rc == 0) {
		log_info("job=%s caller=%s %s", id, w->caller, what);
		email_object(w, id);
	} else if (errno == ENOENT)
		reject(w, ERR_NOT_WAITING, "the email is no longer waiting "
		    "to be sent");
	else if (errno == EPERM)
		reject(w, ERR_NOT_FOUND, "no email with this id");
	else {
		log_warn("job=%s %s", id, what);
		(void)emails_api.error(w, &e);
	}
}

/* PATCH /emails/{id} {"scheduled_at":"..."} */
static void
reschedule(struct worker *w, const struct caller *c, const char *id)
{
	struct req_error	 err;
	struct send_err		 e;
	cJSON			*root = NULL, *v;
	time_t			 due;
	int			 state;

	if (send_read_json(w, &emails_api) == -1)
		return;
	err.field[0] = '\0';
	if (json_decode(w->body.data, w->body.len, &root, &err) == -1)
		goto refused;
	v = cJSON_GetObjectItemCaseSensitive(root, "scheduled_at");
	if (cJSON_GetArraySize(root) != 1 || v == NULL) {
		reject(w, v == NULL ? ERR_MISSING_FIELD : ERR_UNKNOWN_FIELD,
		    "the body is {\"scheduled_at\":\"...\"}");
		goto done;
	}
	if (isotime_schedule(v, time(NULL), &due, "scheduled_at", &err) == -1)
		goto refused;
	if ((state = own_state(w, c, id)) == -1)
		goto done;
	if (state != SPOOL_PENDING) {
		errno = ENOENT;
		sched_done(w, -1, id, "rescheduled");
	} else
		sched_done(w, spool_reschedule(w->relay->spool, id, c->name,
		    due), id, "rescheduled");
	goto done;
refused:
	e = (struct send_err){ err.status, err.code, err.message, err.field,
	    NULL, 0 };
	send_reject(w, &emails_api, &e);
done:
	cJSON_Delete(root);
}

/* email.canceled for a job just canceled (webhooks set only). */
static void
canceled_event(struct worker *w, const char *id)
{
	struct spool_job	job;

	if (w->relay->cfg.webhooks[0] == '\0')
		return;
	if (spool_read(w->relay->spool, SPOOL_CANCELED, id, &job) == -1 ||
	    spool_event_add(w->relay->spool, SPOOL_EV_CANCELED, &job.env, NULL,
	    NULL, NULL, time(NULL), NULL) == -1)
		log_warn("job=%s canceled; no email.canceled event", id);
	spool_job_free(&job);
}

/* POST /emails/{id}/cancel; the body, if any, is not read. */
static void
cancel(struct worker *w, const struct caller *c, const char *id)
{
	int	 state, rc;

	if ((state = own_state(w, c, id)) == -1)
		return;
	if (state != SPOOL_PENDING) {
		errno = ENOENT;
		sched_done(w, -1, id, "canceled");
		return;
	}
	rc = spool_cancel(w->relay->spool, id, c->name);
	if (rc == 0)
		canceled_event(w, id);
	sched_done(w, rc, id, "canceled");
}

/* /emails/{id}[/cancel]: the id, and whether /cancel follows; or NULL. */
static const char *
email_path(const char *path, char id[SPOOL_ID_LEN + 1], int *is_cancel)
{
	const char	*p = path + 8;		/* after "/emails/" */

	if (strlen(p) < SPOOL_ID_LEN)
		return NULL;
	memcpy(id, p, SPOOL_ID_LEN);
	id[SPOOL_ID_LEN] = '\0';
	if (!spool_id_valid(id))
		return NULL;
	p += SPOOL_ID_LEN;
	*is_cancel = strcmp(p, "/cancel") == 0;
	return *p == '\0' || *is_cancel ? id : NULL;
}

/* /emails and below; path starts with "/emails". */
void
resend_dispatch(struct worker *w, const char *method, const char *path)
{
	const struct caller	*c;
	char			 id[SPOOL_ID_LEN + 1];
	int			 is_cancel = 0;

	if (strcmp(path, "/emails") == 0) {
		if (strcmp(method, "POST") == 0)
			send_request(w, &emails_api);
		else
			not_allowed(w, "POST");
		return;
	}
	if (strcmp(path, "/emails/batch") == 0) {
		if (strcmp(method, "POST") == 0)
			resend_batch(w);
		else
			not_allowed(w, "POST");
		return;
	}
	if (path[7] != '/' || email_path(path, id, &is_cancel) == NULL) {
		scrape_count_error(w->endpoint, "not_found");
		resend_reply_error(w, 404, "not_found", NULL,
		    "no such endpoint", NULL);
		return;
	}
	if (is_cancel ? strcmp(method, "POST") != 0 :
	    strcmp(method, "PATCH") != 0 && strcmp(method, "GET") != 0) {
		not_allowed(w, is_cancel ? "POST" : "GET, PATCH");
		return;
	}
	if ((c = send_authorize(w, &emails_api)) == NULL)
		return;
	if (is_cancel)
		cancel(w, c, id);
	else if (strcmp(method, "GET") == 0)
		emails_get(w, c, id);
	else
		reschedule(w, c, id);
}
