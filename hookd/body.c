/*
 * body: the JSON of an event.  See body.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "body.h"
#include "spool.h"

static void
iso_time(time_t t, char out[32])
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%S.000Z", &tm) == 0)
		(void)snprintf(out, 32, "1970-01-01T00:00:00.000Z");
}

static int
per_recipient(int type)
{
	return type == SPOOL_EV_DELIVERED || type == SPOOL_EV_DELAYED ||
	    type == SPOOL_EV_BOUNCED || type == SPOOL_EV_SUPPRESSED;
}

/* The type's own object: bounce, delay, failed, suppressed. */
static int
add_detail(cJSON *data, const struct spool_event *ev)
{
	cJSON		*o;
	const char	*key, *kind = NULL;
	const char	*msg = ev->reply != NULL ? ev->reply : "";

	switch (ev->type) {
	case SPOOL_EV_BOUNCED:
		key = "bounce";
		kind = ev->dsn != NULL && ev->dsn[0] == '4' ? "Transient" :
		    "Permanent";
		break;
	case SPOOL_EV_DELAYED:
		key = "delay";
		break;
	case SPOOL_EV_FAILED:
		key = "failed";
		break;
	case SPOOL_EV_SUPPRESSED:
		key = "suppressed";
		kind = "OnAccountSuppressionList";
		break;
	default:
		return 0;
	}
	if ((o = cJSON_AddObjectToObject(data, key)) == NULL)
		return -1;
	if (cJSON_AddStringToObject(o, ev->type == SPOOL_EV_FAILED ? "reason" :
	    "message", msg) == NULL)
		return -1;
	if (kind != NULL && cJSON_AddStringToObject(o, "type", kind) == NULL)
		return -1;
	if (ev->dsn != NULL && ev->type != SPOOL_EV_FAILED &&
	    cJSON_AddStringToObject(o, "dsn", ev->dsn) == NULL)
		return -1;
	return 0;
}

char *
body_make(const struct spool_event *ev)
{
	cJSON	*root, *data, *to, *tags, *tag;
	char	 at[32], created[32], *s = NULL;
	size_t	 i;

	if ((root = cJSON_CreateObject()) == NULL)
		return NULL;
	iso_time(ev->at, at);
	iso_time(ev->created, created);
	if (cJSON_AddStringToObject(root, "type",
	    spool_event_type_name(ev->type)) == NULL ||
	    cJSON_AddStringToObject(root, "created_at", at) == NULL ||
	    (data = cJSON_AddObjectToObject(root, "data")) == NULL ||
	    cJSON_AddStringToObject(data, "email_id", ev->job) == NULL ||
	    cJSON_AddStringToObject(data, "from", ev->from != NULL ?
	    ev->from : ev->sender) == NULL ||
	    (to = cJSON_AddArrayToObject(data, "to")) == NULL)
		goto done;
	if (ev->from != NULL) {
		/* the To list as given, as Resend's; never Cc or Bcc */
		for (i = 0; i < ev->nto; i++)
			if (!cJSON_AddItemToArray(to,
			    cJSON_CreateString(ev->tov[i])))
				goto done;
	} else if (per_recipient(ev->type) && ev->recipient != NULL) {
		/* an older event: only the envelope */
		if (!cJSON_AddItemToArray(to, cJSON_CreateString(ev->recipient)))
			goto done;
	} else
		for (i = 0; i < ev->nrcpt; i++)
			if (!cJSON_AddItemToArray(to,
			    cJSON_CreateString(ev->rcptv[i])))
				goto done;
	/* the recipient a recipient's event is about (not in Resend's) */
	if (per_recipient(ev->type) && ev->recipient != NULL &&
	    cJSON_AddStringToObject(data, "recipient", ev->recipient) == NULL)
		goto done;
	if (cJSON_AddStringToObject(data, "subject", ev->subject) == NULL ||
	    cJSON_AddStringToObject(data, "created_at", created) == NULL ||
	    (tags = cJSON_AddArrayToObject(data, "tags")) == NULL ||
	    add_detail(data, ev) == -1)
		goto done;
	for (i = 0; i < ev->ntags; i++) {
		if ((tag = cJSON_CreateObject()) == NULL ||
		    !cJSON_AddItemToArray(tags, tag) ||
		    cJSON_AddStringToObject(tag, "name", ev->tagv[i].name)
		    == NULL || cJSON_AddStringToObject(tag, "value",
		    ev->tagv[i].value) == NULL)
			goto done;
	}
	s = cJSON_PrintUnformatted(root);
done:
	cJSON_Delete(root);
	if (s == NULL)
		errno = ENOMEM;
	return s;
}
