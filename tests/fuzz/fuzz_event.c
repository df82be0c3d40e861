/*
 * fuzz_event: the webhook event reader and hookd's body.  The input is
 * parsed as an events/ file (spool_event_parse); an accepted event is
 * made into its JSON body (body_make), which must parse back as JSON
 * with the type, the job id and the recipients the event names.
 *
 * Refused: errno EBADMSG (or ENOMEM).  Accepted: type known, caller set,
 * job "" or a valid id, every string free of CR, LF and NUL.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "body.h"
#include "fuzzutil.h"
#include "spool.h"

#define EID	"0640a1b2c3d4e-0123456789abcdef"

static void
check_str(const char *s, const char *what)
{
	FZ_CHECK(s != NULL && strpbrk(s, "\r\n") == NULL, "%s", what);
}

static void
check_body(const struct spool_event *ev)
{
	cJSON	*j, *d, *to;
	char	*s;

	if ((s = body_make(ev)) == NULL) {
		FZ_CHECK(errno == ENOMEM, "body_make: %d", errno);
		return;
	}
	FZ_CHECK((j = cJSON_Parse(s)) != NULL, "body is not JSON");
	FZ_CHECK(strcmp(cJSON_GetObjectItem(j, "type")->valuestring,
	    spool_event_type_name(ev->type)) == 0, "type");
	d = cJSON_GetObjectItem(j, "data");
	FZ_CHECK(d != NULL && strcmp(cJSON_GetObjectItem(d,
	    "email_id")->valuestring, ev->job) == 0, "email_id");
	to = cJSON_GetObjectItem(d, "to");
	FZ_CHECK(cJSON_IsArray(to), "to");
	FZ_CHECK((size_t)cJSON_GetArraySize(to) == (ev->from != NULL ?
	    ev->nto : ev->recipient != NULL &&
	    (ev->type == SPOOL_EV_DELIVERED || ev->type == SPOOL_EV_DELAYED ||
	    ev->type == SPOOL_EV_BOUNCED || ev->type == SPOOL_EV_SUPPRESSED) ?
	    1 : ev->nrcpt), "to count");
	FZ_CHECK(strcmp(cJSON_GetObjectItem(d, "from")->valuestring,
	    ev->from != NULL ? ev->from : ev->sender) == 0, "from");
	cJSON_Delete(j);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spool_event	ev;
	size_t			i;

	if (spool_event_parse(&ev, EID, data, len) == -1) {
		FZ_CHECK(errno == EBADMSG || errno == ENOMEM || errno == EINVAL,
		    "errno %d", errno);
		spool_event_free(&ev);
		return 0;
	}
	FZ_CHECK(ev.type >= 0 && ev.type < SPOOL_EV_NTYPES, "type");
	FZ_CHECK(*ev.caller != '\0', "caller");
	FZ_CHECK(*ev.job == '\0' || spool_id_valid(ev.job), "job");
	check_str(ev.caller, "caller");
	check_str(ev.sender, "sender");
	check_str(ev.subject, "subject");
	for (i = 0; i < ev.nrcpt; i++)
		check_str(ev.rcptv[i], "rcpt");
	if (ev.from != NULL)
		check_str(ev.from, "from");
	for (i = 0; i < ev.nto; i++)
		check_str(ev.tov[i], "to");
	check_body(&ev);
	spool_event_free(&ev);
	return 0;
}
