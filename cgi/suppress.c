/*
 * suppress: POST /send (and POST /emails, through its send_api) refuses
 * a message to an address on the spool's suppression list (one that bounced with a 5.x.x status): 422
 * recipient_suppressed, field the first such recipient's path in the
 * request, nothing enqueued.  A check is one stat(2) per recipient,
 * however long the list is.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "errors.h"
#include "http.h"
#include "jobaddr.h"
#include "log.h"
#include "relay.h"
#include "send.h"

/*
 * The path of the idx-th address of list (to, cc, bcc) as the request
 * wrote it: "to", "to.email", "to[2]" or "to[2].email".  Only on the way
 * to a 422, so the body is decoded again rather than remembered.
 */
static void
rcpt_path(const struct worker *w, const char *list, size_t idx, char *out,
    size_t size)
{
	const cJSON	*v;
	cJSON		*root;

	(void)snprintf(out, size, "%s[%zu]", list, idx);
	if ((root = cJSON_ParseWithLength(w->body.data, w->body.len)) == NULL)
		return;
	if ((v = cJSON_GetObjectItemCaseSensitive(root, list)) != NULL) {
		if (cJSON_IsArray(v))
			(void)snprintf(out, size, "%s[%zu]%s", list, idx,
			    cJSON_IsObject(cJSON_GetArrayItem(v, (int)idx)) ?
			    ".email" : "");
		else
			(void)snprintf(out, size, "%s%s", list,
			    cJSON_IsObject(v) ? ".email" : "");
	}
	cJSON_Delete(root);
}

/*
 * email.suppressed, when webhooks are set: the request's id (no job is
 * made), every recipient, the one refused.
 */
static void
suppressed_event(const struct worker *w, const struct mail *m,
    const char *rcpt)
{
	const char		*v[3 * 64];
	struct spool_env	 env;
	struct jobaddr		 ja = { NULL, 0 };
	size_t			 i, n = 0;

	if (w->relay->cfg.webhooks[0] == '\0' || w->caller == NULL)
		return;
	for (i = 0; i < m->nto && n < sizeof(v) / sizeof(v[0]); i++)
		v[n++] = m->to[i].email;
	for (i = 0; i < m->ncc && n < sizeof(v) / sizeof(v[0]); i++)
		v[n++] = m->cc[i].email;
	for (i = 0; i < m->nbcc && n < sizeof(v) / sizeof(v[0]); i++)
		v[n++] = m->bcc[i].email;
	memset(&env, 0, sizeof(env));
	env.id = w->id;
	env.created = time(NULL);
	env.caller = w->caller;
	env.sender = m->from.email;
	env.rcpt = v;
	env.nrcpt = n;
	env.subject = m->subject != NULL ? m->subject : "";
	/* the From and To as given; without memory, the envelope only */
	(void)jobaddr_fill(&ja, m, &env);
	if (spool_event_add(w->relay->spool, SPOOL_EV_SUPPRESSED, &env, rcpt,
	    NULL, "recipient is on the suppression list", env.created, NULL)
	    == -1)
		log_warn("job=%s no email.suppressed event", w->id);
	jobaddr_free(&ja);
}

int
send_suppressed(struct worker *w, const struct send_api *api,
    const struct mail *m)
{
	const struct { const char *name; const struct mail_addr *v; size_t n; }
	    lists[] = { { "to", m->to, m->nto }, { "cc", m->cc, m->ncc },
	    { "bcc", m->bcc, m->nbcc } };
	struct send_err	 e = { 0, NULL, NULL, NULL, NULL, 0 };
	char		 path[64], message[400];
	size_t		 l, i;
	int		 r;

	for (l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
		for (i = 0; i < lists[l].n; i++) {
			r = spool_suppress_check(w->relay->spool,
			    lists[l].v[i].email);
			if (r == 0)
				continue;
			if (r == -1) {
				log_warn("job=%s suppression check", w->id);
				e.status = err_status(ERR_SPOOL_UNAVAILABLE);
				e.code = err_code(ERR_SPOOL_UNAVAILABLE);
				e.message = "the spool cannot be read now";
				e.extra = HTTP_RETRY_AFTER;
				(void)api->error(w, &e);
				return -1;
			}
			rcpt_path(w, lists[l].name, i, path, sizeof(path));
			(void)snprintf(message, sizeof(message), "%s is "
			    "suppressed: an earlier message to it bounced",
			    lists[l].v[i].email);
			suppressed_event(w, m, lists[l].v[i].email);
			e.status = err_status(ERR_RECIPIENT_SUPPRESSED);
			e.code = err_code(ERR_RECIPIENT_SUPPRESSED);
			e.message = message;
			e.field = path;
			send_reject(w, api, &e);	/* logs it */
			return 1;
		}
	}
	return 0;
}
