/*
 * spoolctl_hooks: listing and retrying webhook deliveries.  See
 * spoolctl_hooks.h; the moves are spool_event_retry's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "spool.h"
#include "spoolctl_hooks.h"
#include "spoolctl_out.h"
#include "text.h"

static int
usage(void)
{
	fprintf(stderr, "usage: spoolctl [-c config] hooks [--json]\n"
	    "       spoolctl [-c config] hooks retry ID... | --failed\n");
	return EX_USAGE;
}

static cJSON *
event_json(const struct spool_event *ev)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", ev->id);
	cJSON_AddStringToObject(o, "state", ev->failed ? "failed" : "pending");
	cJSON_AddStringToObject(o, "type", spool_event_type_name(ev->type));
	cJSON_AddStringToObject(o, "caller", ev->caller);
	if (*ev->job != '\0')
		cJSON_AddStringToObject(o, "email_id", ev->job);
	else
		cJSON_AddNullToObject(o, "email_id");
	cJSON_AddNumberToObject(o, "time", (double)ev->at);
	cJSON_AddNumberToObject(o, "attempts", ev->attempts);
	cJSON_AddNumberToObject(o, "next", (double)ev->next);
	cJSON_AddStringToObject(o, "status", ev->status);
	return o;
}

static void
event_line(const struct spool_event *ev)
{
	char	at[32], next[32], safe[TEXT_LINE_SIZE(256)];

	ctl_iso(ev->at, at, sizeof(at));
	ctl_iso(ev->failed ? 0 : ev->next, next, sizeof(next));
	printf("%s  %-7s  %-22s  %s  attempts=%d  next=%s  status=%s\n",
	    ev->id, ev->failed ? "failed" : "pending",
	    spool_event_type_name(ev->type), at, ev->attempts, next,
	    ev->status[0] ? text_line(ev->status, safe, sizeof(safe)) : "-");
}

static int
ev_cmp(const void *a, const void *b)
{
	const struct spool_event *x = a, *y = b;
	int	r;

	if ((r = strcmp(x->caller, y->caller)) != 0)
		return r;
	if (x->failed != y->failed)
		return x->failed - y->failed;
	return strcmp(x->id, y->id);
}

/* Every event, pending then failed, into *v. */
static int
read_all(struct spool *sp, struct spool_event **vp, size_t *np)
{
	struct spool_entry	*e;
	struct spool_event	*v = NULL, *nv;
	size_t			 ne, i, n = 0;
	int			 failed;

	for (failed = 0; failed <= 1; failed++) {
		if (spool_event_scan(sp, failed, &e, &ne) == -1)
			goto fail;
		if ((nv = reallocarray(v, n + ne + 1, sizeof(*v))) == NULL) {
			free(e);
			goto fail;
		}
		v = nv;
		for (i = 0; i < ne; i++) {
			if (spool_event_read(sp, failed, e[i].id, &v[n]) == 0)
				n++;
			else
				spool_event_free(&v[n]);	/* gone, bad */
		}
		free(e);
	}
	qsort(v, n, sizeof(*v), ev_cmp);
	*vp = v;
	*np = n;
	return 0;
fail:
	for (i = 0; i < n; i++)
		spool_event_free(&v[i]);
	free(v);
	return -1;
}

static int
list(struct spool *sp, int json)
{
	struct spool_event	*v;
	cJSON			*root = NULL, *c = NULL, *arr = NULL;
	char			*s;
	size_t			 i, n, pend = 0, fail = 0;
	const char		*cur = NULL;

	if (read_all(sp, &v, &n) == -1) {
		fprintf(stderr, "spoolctl: cannot list events: %s\n",
		    strerror(errno));
		return EX_IOERR;
	}
	if (json && (root = cJSON_CreateArray()) == NULL)
		goto nomem;
	for (i = 0; i < n; i++) {
		if (cur == NULL || strcmp(cur, v[i].caller) != 0) {
			cur = v[i].caller;
			if (json) {
				if ((c = cJSON_CreateObject()) == NULL)
					goto nomem;
				cJSON_AddItemToArray(root, c);
				cJSON_AddStringToObject(c, "caller", cur);
				arr = cJSON_AddArrayToObject(c, "events");
			} else
				printf("%s%s:\n", i ? "\n" : "", cur);
		}
		if (json)
			cJSON_AddItemToArray(arr, event_json(&v[i]));
		else
			event_line(&v[i]);
		if (v[i].failed)
			fail++;
		else
			pend++;
	}
	if (json) {
		if ((s = cJSON_Print(root)) == NULL)
			goto nomem;
		printf("%s\n", s);
		free(s);
		cJSON_Delete(root);
	} else if (n == 0)
		printf("no webhook events\n");
	else
		printf("\n%zu pending, %zu failed\n", pend, fail);
	for (i = 0; i < n; i++)
		spool_event_free(&v[i]);
	free(v);
	return 0;
nomem:
	cJSON_Delete(root);
	for (i = 0; i < n; i++)
		spool_event_free(&v[i]);
	free(v);
	fprintf(stderr, "spoolctl: out of memory\n");
	return EX_OSERR;
}

static int
retry_one(struct spool *sp, const char *id)
{
	if (spool_event_retry(sp, id) == 0) {
		printf("%s: retried\n", id);
		return 0;
	}
	if (errno == ENOENT) {
		fprintf(stderr, "spoolctl: %s: no such webhook event\n", id);
		return EX_NOINPUT;
	}
	fprintf(stderr, "spoolctl: %s: %s\n", id, strerror(errno));
	return EX_IOERR;
}

static int
retry(struct spool *sp, int argc, char **argv)
{
	struct spool_entry	*e;
	size_t			 n, i;
	int			 a, rc = 0, r;

	if (argc == 1 && strcmp(argv[0], "--failed") == 0) {
		if (spool_event_scan(sp, 1, &e, &n) == -1) {
			fprintf(stderr, "spoolctl: cannot list events: %s\n",
			    strerror(errno));
			return EX_IOERR;
		}
		for (i = 0; i < n; i++)
			if ((r = retry_one(sp, e[i].id)) != 0 && rc == 0)
				rc = r;
		free(e);
		return rc;
	}
	if (argc == 0)
		return usage();
	for (a = 0; a < argc; a++)
		if (!spool_id_valid(argv[a])) {
			fprintf(stderr, "spoolctl: %s: not an event id\n",
			    argv[a]);
			return EX_USAGE;
		}
	for (a = 0; a < argc; a++)
		if ((r = retry_one(sp, argv[a])) != 0 && rc == 0)
			rc = r;
	return rc;
}

int
ctlhooks_run(struct spool *sp, int argc, char **argv, time_t now)
{
	(void)now;
	if (argc == 0)
		return list(sp, 0);
	if (argc == 1 && strcmp(argv[0], "--json") == 0)
		return list(sp, 1);
	if (strcmp(argv[0], "retry") == 0)
		return retry(sp, argc - 1, argv + 1);
	return usage();
}
