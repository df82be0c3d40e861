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
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "log.h"
#include "relay.h"
#include "resend.h"
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
	{ "not_scheduled",		422, "validation_error" },
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

/* Appends s as the inside of a JSON string. */
static void
json_str(struct buf *b, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_addf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(b, "\\u%04x", *p);
		else
			buf_addc(b, (char)*p);
	}
}

void
resend_reply_error(struct worker *w, int status, const char *name,
    const char *field, const char *message, const char *extra)
{
	struct buf	*b = &w->out;

	buf_reset(b);
	buf_addf(b, "{\"statusCode\":%d,\"name\":\"", status);
	json_str(b, name);
	buf_adds(b, "\",\"message\":\"");
	if (field != NULL && *field != '\0') {
		json_str(b, field);
		buf_adds(b, ": ");
	}
	json_str(b, message);
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

/* /emails and below; path starts with "/emails". */
void
resend_dispatch(struct worker *w, const char *method, const char *path)
{
	if (strcmp(path, "/emails") == 0) {
		if (strcmp(method, "POST") == 0)
			send_request(w, &emails_api);
		else
			not_allowed(w, "POST");
		return;
	}
	scrape_count_error(w->endpoint, "not_found");
	resend_reply_error(w, 404, "not_found", NULL, "no such endpoint",
	    NULL);
}
