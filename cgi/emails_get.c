/*
 * emails_get: GET /emails/{id}, the message in Resend's shape, for the
 * caller that sent it.  The same lookup as GET /messages/{id}
 * (spool_record_lookup) and the same message state (spool_record_state),
 * named as Resend's last_event:
 *
 *	queued		queued (scheduled while it waits for a later time),
 *			held, sending
 *	failed		failed: the relay gave up before Postfix
 *	sent		sent: handed to Postfix, nothing heard yet
 *	delivery_delayed deferred
 *	delivered	delivered (every recipient)
 *	bounced		bounced, partially_bounced
 *	canceled	canceled
 *
 * suppressed is never shown: a suppressed recipient is refused before a
 * job exists (422).  html and text are always null: the spool keeps the
 * built message, not the request, and nothing once it has left.
 * An unknown id and another caller's get the same 404 (no oracle).
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
#include "resend.h"
#include "send.h"

/* "2026-12-01T18:16:09.123456+00:00"; usec of the second, or null for 0. */
static int
add_time(cJSON *o, const char *key, time_t t, unsigned long usec)
{
	struct tm	tm;
	char		s[48], date[32];

	if (t <= 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return cJSON_AddNullToObject(o, key) == NULL ? -1 : 0;
	(void)snprintf(s, sizeof(s), "%s.%06lu+00:00", date, usec % 1000000);
	return cJSON_AddStringToObject(o, key, s) == NULL ? -1 : 0;
}

/* The strings as an array, or null when there are none (nullable). */
static int
add_list(cJSON *o, const char *key, const char *const *v, size_t n,
    int nullable)
{
	cJSON	*arr, *s;
	size_t	 i;

	if (n == 0 && nullable)
		return cJSON_AddNullToObject(o, key) == NULL ? -1 : 0;
	if ((arr = cJSON_AddArrayToObject(o, key)) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((s = cJSON_CreateString(v[i])) == NULL)
			return -1;
		cJSON_AddItemToArray(arr, s);
	}
	return 0;
}

static int
add_tags(cJSON *o, const struct spool_env *env)
{
	cJSON	*arr, *t;
	size_t	 i;

	if ((arr = cJSON_AddArrayToObject(o, "tags")) == NULL)
		return -1;
	for (i = 0; i < env->ntags; i++) {
		if ((t = cJSON_CreateObject()) == NULL)
			return -1;
		cJSON_AddItemToArray(arr, t);
		if (cJSON_AddStringToObject(t, "name", env->tags[i].name) ==
		    NULL || cJSON_AddStringToObject(t, "value",
		    env->tags[i].value) == NULL)
			return -1;
	}
	return 0;
}

/* Resend's last_event for rec (see the table at the top). */
static const char *
last_event(const struct spool_record *rec, time_t now)
{
	switch (spool_record_state(rec)) {
	case SPOOL_MSG_QUEUED:
		return rec->env.scheduled > 0 && rec->next > now ?
		    "scheduled" : "queued";
	case SPOOL_MSG_HELD:
	case SPOOL_MSG_SENDING:
		return "queued";
	case SPOOL_MSG_FAILED: return "failed";
	case SPOOL_MSG_SENT: return "sent";
	case SPOOL_MSG_DEFERRED: return "delivery_delayed";
	case SPOOL_MSG_DELIVERED: return "delivered";
	case SPOOL_MSG_BOUNCED:
	case SPOOL_MSG_PARTIALLY_BOUNCED: return "bounced";
	case SPOOL_MSG_CANCELED: return "canceled";
	default: return "queued";
	}
}

/* The 200 body for rec; NULL when out of memory. */
static char *
email_json(const struct spool_record *rec)
{
	const struct spool_env	*env = &rec->env;
	unsigned long long	 usec = spool_id_usec(rec->id);
	const char		*from = env->from ? env->from : env->sender;
	char			 msgid[1024];
	char			*s = NULL;
	cJSON			*o;
	int			 old = env->from == NULL;

	(void)snprintf(msgid, sizeof(msgid), "<%s>", env->message_id);
	/* The id's clock gives the microseconds of the created second. */
	if (usec / 1000000 != (unsigned long long)env->created)
		usec = 0;
	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	if (cJSON_AddStringToObject(o, "object", "email") == NULL ||
	    cJSON_AddStringToObject(o, "id", rec->id) == NULL ||
	    cJSON_AddStringToObject(o, "from", from) == NULL ||
	    (old ? add_list(o, "to", env->rcpt, env->nrcpt, 0) :
	    add_list(o, "to", env->addr[SPOOL_ADDR_TO].v,
	    env->addr[SPOOL_ADDR_TO].n, 0)) == -1 ||
	    add_list(o, "cc", env->addr[SPOOL_ADDR_CC].v,
	    old ? 0 : env->addr[SPOOL_ADDR_CC].n, 1) == -1 ||
	    add_list(o, "bcc", env->addr[SPOOL_ADDR_BCC].v,
	    old ? 0 : env->addr[SPOOL_ADDR_BCC].n, 1) == -1 ||
	    add_list(o, "reply_to", env->addr[SPOOL_ADDR_REPLY_TO].v,
	    old ? 0 : env->addr[SPOOL_ADDR_REPLY_TO].n, 1) == -1 ||
	    cJSON_AddStringToObject(o, "subject", env->subject) == NULL ||
	    cJSON_AddNullToObject(o, "html") == NULL ||
	    cJSON_AddNullToObject(o, "text") == NULL ||
	    cJSON_AddStringToObject(o, "message_id", msgid) == NULL ||
	    add_time(o, "created_at", env->created, (unsigned long)(usec %
	    1000000)) == -1 ||
	    add_time(o, "scheduled_at", env->scheduled, 0) == -1 ||
	    add_tags(o, env) == -1 ||
	    cJSON_AddStringToObject(o, "last_event",
	    last_event(rec, spool_now())) == NULL)
		goto done;
	s = cJSON_PrintUnformatted(o);
done:
	cJSON_Delete(o);
	return s;
}

static void
not_found(struct worker *w)
{
	struct send_err	 e = { err_status(ERR_NOT_FOUND), err_code(ERR_NOT_FOUND),
	    "no email with this id", NULL, NULL, 0 };

	(void)resend_error(w, &e);
}

void
emails_get(struct worker *w, const struct caller *c, const char *id)
{
	struct spool_record	 rec;
	struct send_err		 e = { err_status(ERR_SPOOL_UNAVAILABLE),
	    err_code(ERR_SPOOL_UNAVAILABLE), "the spool cannot be read now",
	    NULL, HTTP_RETRY_AFTER, 0 };
	char			*body;
	size_t			 len;

	/* X-Relay-Id names the email asked for, in every answer. */
	(void)strlcpy(w->id, id, sizeof(w->id));
	if (spool_record_lookup(w->relay->spool, id, &rec) == -1) {
		if (errno == ENOENT)
			not_found(w);
		else {
			log_warn("job=%s caller=%s lookup", id, c->name);
			(void)resend_error(w, &e);
		}
		spool_record_free(&rec);
		return;
	}
	/* Another caller's email: exactly the answer for none. */
	if (strcmp(rec.env.caller, c->name) != 0) {
		spool_record_free(&rec);
		not_found(w);
		return;
	}
	body = email_json(&rec);
	spool_record_free(&rec);
	if (body == NULL) {
		e = (struct send_err){ err_status(ERR_INTERNAL_ERROR),
		    err_code(ERR_INTERNAL_ERROR), "out of memory", NULL, NULL,
		    0 };
		(void)resend_error(w, &e);
		return;
	}
	len = strlen(body);
	body[len] = '\n';	/* over the NUL: the body is not a C string */
	http_reply(w, 200, NULL, "application/json", body, len + 1);
	free(body);
}
