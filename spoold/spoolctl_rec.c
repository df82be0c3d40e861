/*
 * spoolctl_rec: show, list and count delivery records; list, add and
 * remove suppressed addresses.  See spoolctl(8).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "log.h"
#include "spoolctl_out.h"
#include "spoolctl_rec.h"
#include "text.h"

/* Reads sent/<id>; on failure says why and returns the exit status. */
static int
read_record(struct spool *sp, const char *id, struct spool_record *rec)
{
	if (spool_record_read(sp, id, rec) == 0)
		return 0;
	if (errno == ENOENT)
		fprintf(stderr, "spoolctl: %s: no such job\n", id);
	else
		fprintf(stderr, "spoolctl: %s: %s\n", id, errno == EBADMSG ?
		    "not a valid record" : strerror(errno));
	spool_record_free(rec);
	return errno == ENOENT ? EX_NOINPUT : errno == EBADMSG ? EX_DATAERR :
	    EX_IOERR;
}

static cJSON *
rcpt_json(const struct spool_rcpt *r)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "email", r->email);
	cJSON_AddStringToObject(o, "status", spool_rcpt_status_name(r->status));
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	cJSON_AddStringToObject(o, "dsn", r->dsn);
	cJSON_AddStringToObject(o, "relay", r->relay);
	cJSON_AddStringToObject(o, "reply", r->reply);
	cJSON_AddNumberToObject(o, "at", (double)r->at);
	return o;
}

static cJSON *
record_json(const struct spool_record *rec, time_t now)
{
	cJSON	*o, *a;
	size_t	 i;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", rec->id);
	cJSON_AddStringToObject(o, "state", spool_state_name(rec->state));
	cJSON_AddStringToObject(o, "message_state",
	    spool_msg_state_name(spool_record_state(rec)));
	cJSON_AddNumberToObject(o, "created", (double)rec->env.created);
	cJSON_AddNumberToObject(o, "age", (double)(now - rec->env.created));
	cJSON_AddNumberToObject(o, "sent", (double)rec->sent);
	cJSON_AddNumberToObject(o, "attempts", rec->attempts);
	cJSON_AddStringToObject(o, "caller", rec->env.caller);
	cJSON_AddStringToObject(o, "message_id", rec->env.message_id);
	cJSON_AddStringToObject(o, "sender", rec->env.sender);
	ctl_json_addr(o, &rec->env);
	cJSON_AddStringToObject(o, "subject", rec->env.subject);
	a = cJSON_AddArrayToObject(o, "queue_ids");
	for (i = 0; i < rec->nqid; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(rec->qidv[i]));
	a = cJSON_AddArrayToObject(o, "recipients");
	for (i = 0; i < rec->env.nrcpt; i++)
		cJSON_AddItemToArray(a, rcpt_json(&rec->rcptv[i]));
	return o;
}

static void
record_text(const struct spool_record *rec)
{
	const struct spool_rcpt	*r;
	char			 t1[32], t2[32];
	size_t			 i;

	printf("id: %s\nstate: sent (%s)\ncaller: %s\nmessage-id: <%s>\n",
	    rec->id, spool_msg_state_name(spool_record_state(rec)),
	    rec->env.caller, rec->env.message_id);
	printf("created: %s\nsent: %s\nattempts: %d\n",
	    ctl_iso(rec->env.created, t1, sizeof(t1)), ctl_iso(rec->sent, t2,
	    sizeof(t2)), rec->attempts);
	for (i = 0; i < rec->nqid; i++)
		printf("queue-id: %s\n", rec->qidv[i]);
	printf("sender: %s\n", rec->env.sender);
	ctl_put_addr(&rec->env);
	printf("subject: ");
	ctl_put_safe(rec->env.subject);
	printf("\n");
	for (i = 0; i < rec->env.nrcpt; i++) {
		r = &rec->rcptv[i];
		printf("rcpt: %s %s attempts=%d dsn=%s at=%s relay=%s\n",
		    r->email, spool_rcpt_status_name(r->status), r->attempts,
		    *r->dsn ? r->dsn : "-", ctl_iso(r->at, t1, sizeof(t1)),
		    *r->relay ? r->relay : "-");
		if (*r->reply) {
			printf("    reply: ");
			ctl_put_safe(r->reply);
			printf("\n");
		}
	}
}

int
ctlrec_show(struct spool *sp, const char *id, int json, time_t now)
{
	struct spool_record	rec;
	int			rc;

	if ((rc = read_record(sp, id, &rec)) != 0)
		return rc;
	if (json)
		rc = ctl_print_json(record_json(&rec, now));
	else
		record_text(&rec);
	spool_record_free(&rec);
	return rc;
}

void
ctlrec_list_one(struct spool *sp, const char *id, cJSON *arr, time_t now)
{
	struct spool_record	rec;
	long			n[SPOOL_RCPT_NSTATUS] = { 0 };
	size_t			i;
	int			s, first = 1;

	if (spool_record_read(sp, id, &rec) == -1) {
		if (errno != ENOENT && arr == NULL)
			printf("%s  %-10s (unreadable: %s)\n", id, "sent",
			    strerror(errno));
		spool_record_free(&rec);
		return;
	}
	if (arr != NULL) {
		cJSON_AddItemToArray(arr, record_json(&rec, now));
		spool_record_free(&rec);
		return;
	}
	printf("%s  %-10s %s ->", id, "sent",
	    spool_msg_state_name(spool_record_state(&rec)));
	for (i = 0; i < rec.env.nrcpt; i++) {
		printf("%s%s", i ? ", " : " ", rec.rcptv[i].email);
		n[rec.rcptv[i].status]++;
	}
	printf("\n    subject: ");
	ctl_put_safe(rec.env.subject);
	printf("\n    recipients:");
	for (s = 0; s < SPOOL_RCPT_NSTATUS; s++)
		if (n[s] > 0) {
			printf("%s %ld %s", first ? "" : ",", n[s],
			    spool_rcpt_status_name(s));
			first = 0;
		}
	printf("\n");
	spool_record_free(&rec);
}

int
ctlrec_count(struct spool *sp, time_t since, long *n)
{
	struct spool_entry	*v;
	struct spool_record	 rec;
	size_t			 i, k, nv;

	memset(n, 0, SPOOL_RCPT_NSTATUS * sizeof(*n));
	if (spool_scan(sp, SPOOL_SENT, &v, &nv) == -1)
		return -1;
	for (i = 0; i < nv; i++) {
		if (v[i].due < since || spool_record_read(sp, v[i].id, &rec)
		    == -1) {
			spool_record_free(&rec);
			continue;
		}
		for (k = 0; k < rec.env.nrcpt; k++)
			n[rec.rcptv[k].status]++;
		spool_record_free(&rec);
	}
	free(v);
	return 0;
}

/* ---- the suppression list ---- */

int
ctlrec_suppressed(struct spool *sp, int json)
{
	struct spool_suppression	*v;
	cJSON				*arr, *o;
	char				 t[32];
	size_t				 i, n;

	if (spool_suppress_list(sp, &v, &n) == -1) {
		fprintf(stderr, "spoolctl: cannot list suppressed addresses: "
		    "%s\n", strerror(errno));
		return EX_IOERR;
	}
	if (json) {
		if ((arr = cJSON_CreateArray()) == NULL) {
			free(v);
			return ctl_print_json(NULL);
		}
		for (i = 0; i < n; i++) {
			if ((o = cJSON_CreateObject()) == NULL)
				break;
			cJSON_AddItemToArray(arr, o);
			cJSON_AddStringToObject(o, "address", v[i].address);
			cJSON_AddNumberToObject(o, "time", (double)v[i].at);
			if (v[i].id[0])
				cJSON_AddStringToObject(o, "id", v[i].id);
			else
				cJSON_AddNullToObject(o, "id");
			cJSON_AddStringToObject(o, "reply", v[i].reply);
		}
		free(v);
		return ctl_print_json(arr);
	}
	for (i = 0; i < n; i++) {
		printf("%s  %s  %s  ", v[i].address, ctl_iso(v[i].at, t, sizeof(t)),
		    v[i].id[0] ? v[i].id : "-");
		ctl_put_safe(v[i].reply[0] ? v[i].reply : "-");
		printf("\n");
	}
	free(v);
	return 0;
}

/* local@domain, without spaces or control characters. */
static int
check_addr(const char *addr)
{
	char	norm[320];

	if (spool_addr_normalise(addr, norm, sizeof(norm)) == 0)
		return 0;
	fprintf(stderr, "spoolctl: %s: not an address\n", addr);
	return EX_DATAERR;
}

int
ctlrec_suppress(struct spool *sp, const char *addr, time_t now)
{
	int	rc;

	if ((rc = check_addr(addr)) != 0)
		return rc;
	if (spool_suppress_add(sp, addr, now, NULL, NULL) == -1) {
		fprintf(stderr, "spoolctl: %s: %s\n", addr, strerror(errno));
		return EX_IOERR;
	}
	/* Addresses are logged at debug level only. */
	log_info("an address was added to the suppression list by uid %ld",
	    (long)getuid());
	printf("%s: suppressed\n", addr);
	return 0;
}

int
ctlrec_unsuppress(struct spool *sp, const char *addr)
{
	int	rc;

	if ((rc = check_addr(addr)) != 0)
		return rc;
	if (spool_suppress_remove(sp, addr) == -1) {
		if (errno == ENOENT) {
			fprintf(stderr, "spoolctl: %s: not suppressed\n", addr);
			return EX_NOINPUT;
		}
		fprintf(stderr, "spoolctl: %s: %s\n", addr, strerror(errno));
		return EX_IOERR;
	}
	log_info("an address was removed from the suppression list by uid %ld",
	    (long)getuid());
	printf("%s: no longer suppressed\n", addr);
	return 0;
}
