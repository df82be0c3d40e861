/*
 * messages: GET /messages/{id}.  What happened to a message, for the
 * caller that sent it: its state and, per recipient, what Postfix said.
 *
 * Order of checks: 405 (method, with Allow: GET), 401 (token), 400
 * invalid_id, 404 not_found (no such message, or another caller's: the
 * same answer, so an id tells nothing about other callers), 503, 200.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "errors.h"
#include "http.h"
#include "log.h"
#include "relay.h"
#include "tokens.h"

#define MESSAGES_PREFIX	"/messages/"

/* "2026-12-01T18:16:09Z", or null for 0. */
static int
add_time(cJSON *o, const char *key, time_t t)
{
	struct tm	tm;
	char		s[32];

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return cJSON_AddNullToObject(o, key) == NULL ? -1 : 0;
	return cJSON_AddStringToObject(o, key, s) == NULL ? -1 : 0;
}

/* The string, or null when empty. */
static int
add_text(cJSON *o, const char *key, const char *s)
{
	if (s == NULL || *s == '\0')
		return cJSON_AddNullToObject(o, key) == NULL ? -1 : 0;
	return cJSON_AddStringToObject(o, key, s) == NULL ? -1 : 0;
}

static int
add_rcpt(cJSON *arr, const struct spool_rcpt *r)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		return -1;
	cJSON_AddItemToArray(arr, o);
	if (cJSON_AddStringToObject(o, "email", r->email) == NULL ||
	    cJSON_AddStringToObject(o, "status",
	    spool_rcpt_status_name(r->status)) == NULL ||
	    add_text(o, "dsn", r->dsn) == -1 ||
	    add_text(o, "reply", r->reply) == -1 ||
	    add_text(o, "relay", r->relay) == -1 ||
	    add_time(o, "at", r->at) == -1 ||
	    cJSON_AddNumberToObject(o, "attempts", r->attempts) == NULL)
		return -1;
	return 0;
}

/* The 200 body for rec; NULL when out of memory. */
static char *
message_json(const struct spool_record *rec)
{
	cJSON	*o, *arr;
	char	 msgid[1024];
	char	*s = NULL;
	size_t	 i;

	(void)snprintf(msgid, sizeof(msgid), "<%s>", rec->env.message_id);
	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (cJSON_AddTrueToObject(o, "ok") == NULL ||
	    cJSON_AddStringToObject(o, "id", rec->id) == NULL ||
	    cJSON_AddStringToObject(o, "messageId", msgid) == NULL ||
	    cJSON_AddStringToObject(o, "state",
	    spool_msg_state_name(spool_record_state(rec))) == NULL ||
	    add_time(o, "createdAt", rec->env.created) == -1 ||
	    add_time(o, "sentAt", rec->state == SPOOL_SENT ? rec->sent : 0)
	    == -1 ||
	    cJSON_AddNumberToObject(o, "attempts", rec->attempts) == NULL)
		goto done;
	if (rec->error != NULL &&
	    cJSON_AddStringToObject(o, "lastError", rec->error) == NULL)
		goto done;
	if (rec->state == SPOOL_PENDING && rec->next > 0 &&
	    add_time(o, "nextAttemptAt", rec->next) == -1)
		goto done;
	if ((arr = cJSON_AddArrayToObject(o, "recipients")) == NULL)
		goto done;
	for (i = 0; i < rec->env.nrcpt; i++)
		if (add_rcpt(arr, &rec->rcptv[i]) == -1)
			goto done;
	s = cJSON_PrintUnformatted(o);
done:
	cJSON_Delete(o);
	return s;
}

static void
answer(struct worker *w, const struct caller *c, const char *id)
{
	struct spool_record	 rec;
	char			*body;
	size_t			 len;

	if (spool_record_lookup(w->relay->spool, id, &rec) == -1) {
		if (errno == ENOENT)
			http_fail(w, ERR_NOT_FOUND, "no such message", NULL,
			    NULL);
		else {
			log_warn("job=%s caller=%s lookup", id, c->name);
			http_fail(w, ERR_SPOOL_UNAVAILABLE, "the spool cannot be "
			    "read now", NULL, "Retry-After: 30\r\n");
		}
		spool_record_free(&rec);
		return;
	}
	/* Another caller's message: exactly the answer for none. */
	if (strcmp(rec.env.caller, c->name) != 0) {
		http_fail(w, ERR_NOT_FOUND, "no such message", NULL, NULL);
		spool_record_free(&rec);
		return;
	}
	body = message_json(&rec);
	spool_record_free(&rec);
	if (body == NULL) {
		http_fail(w, ERR_INTERNAL_ERROR, "out of memory", NULL, NULL);
		return;
	}
	len = strlen(body);
	body[len] = '\n';	/* over the NUL: the body is not a C string */
	http_reply(w, 200, NULL, "application/json", body, len + 1);
	free(body);
}

void
messages_handle(struct worker *w, const char *path)
{
	const char		*method = http_param(w, "REQUEST_METHOD");
	const char		*id = path + strlen(MESSAGES_PREFIX);
	const struct caller	*c;

	if (method == NULL || strcmp(method, "GET") != 0) {
		http_fail(w, ERR_METHOD_NOT_ALLOWED, "use GET", NULL,
		    "Allow: GET\r\n");
		return;
	}
	if ((c = send_auth(w)) == NULL) {
		http_fail(w, ERR_UNAUTHORIZED, "a valid bearer token is "
		    "required", NULL,
		    "WWW-Authenticate: Bearer realm=\"mail-relay\"\r\n");
		return;
	}
	w->caller = c->name;
	if (!spool_id_valid(id)) {
		http_fail(w, ERR_INVALID_ID, "not a message id", NULL, NULL);
		return;
	}
	/* X-Relay-Id names the message asked for, in every answer. */
	(void)strlcpy(w->id, id, sizeof(w->id));
	answer(w, c, id);
}
