/*
 * scrape: GET /metrics, the Prometheus text format (0.0.4), and the
 * counters relay-fcgi keeps itself.
 *
 * The figures come from every program's counters file (metrics.h), read
 * at each scrape, and from the spool (queue depth, oldest due job,
 * suppressed addresses), counted at each scrape.  Each family below is
 * written once, HELP and TYPE first, with its series from every file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "log.h"
#include "metrics.h"
#include "relay.h"
#include "scrape.h"

enum source { FROM_FILES, FROM_PROGRAMS, FROM_SPOOL };

struct family {
	const char	*name;
	const char	*type;
	enum source	 source;
	const char	*help;
};

static const struct family families[] = {
	{ "mail_relay_up", "gauge", FROM_PROGRAMS,
	    "1 when the program runs (holds its counters file), else 0" },
	{ "mail_relay_start_time_seconds", "gauge", FROM_PROGRAMS,
	    "When the program started, in unix seconds" },
	{ "mail_relay_build_info", "gauge", FROM_PROGRAMS,
	    "Always 1; the program's version in a label" },
	{ "mail_relay_requests_total", "counter", FROM_FILES,
	    "HTTP answers by endpoint and status code" },
	{ "mail_relay_rejections_total", "counter", FROM_FILES,
	    "Error answers by endpoint and error code" },
	{ "mail_relay_accepted_messages_total", "counter", FROM_FILES,
	    "Messages accepted (durably queued) by caller" },
	{ "mail_relay_accepted_recipients_total", "counter", FROM_FILES,
	    "Envelope recipients of accepted messages by caller" },
	{ "mail_relay_queue_jobs", "gauge", FROM_SPOOL,
	    "Jobs in the spool by state" },
	{ "mail_relay_queue_oldest_due_age_seconds", "gauge", FROM_SPOOL,
	    "How long the oldest due pending job has existed, 0 if none" },
	{ "mail_relay_suppressed_addresses", "gauge", FROM_SPOOL,
	    "Addresses on the suppression list" },
	{ "mail_relay_handovers_total", "counter", FROM_FILES,
	    "sendmail runs by outcome (ok, temporary, permanent, timeout)" },
	{ "mail_relay_sendmail_duration_seconds", "histogram", FROM_FILES,
	    "How long one sendmail run took" },
	{ "mail_relay_handover_delay_seconds", "histogram", FROM_FILES,
	    "From acceptance to the successful hand-over to sendmail" },
	{ "mail_relay_recipient_outcomes_total", "counter", FROM_FILES,
	    "Recipient outcomes read from Postfix's log (delivered, deferred, "
	    "bounced, expired)" },
	{ "mail_relay_delivery_delay_seconds", "histogram", FROM_FILES,
	    "From acceptance to delivered, per recipient" },
	{ "mail_relay_webhook_deliveries_total", "counter", FROM_FILES,
	    "Webhook delivery attempts by outcome" },
};
#define NFAMILIES	(sizeof(families) / sizeof(families[0]))

static const char *const programs[] = {
	METRICS_RELAY_FCGI, METRICS_SPOOLD, METRICS_TRACKD, METRICS_HOOKD
};
#define NPROGRAMS	(sizeof(programs) / sizeof(programs[0]))

/* ---- relay-fcgi's own counters ---- */

static const char *const endpoints[SCRAPE_NENDPOINTS] = {
	"send", "health", "messages", "emails", "emails_batch", "metrics",
	"other"
};
static const int statuses[] = {
	200, 202, 400, 401, 403, 404, 405, 409, 411, 413, 415, 422, 429, 500,
	503
};
#define NSTATUSES	(sizeof(statuses) / sizeof(statuses[0]))

static uint64_t	*requests[SCRAPE_NENDPOINTS][NSTATUSES + 1];

int
scrape_endpoint(const char *path)
{
	if (strcmp(path, "/send") == 0)
		return SCRAPE_SEND;
	if (strcmp(path, "/health") == 0)
		return SCRAPE_HEALTH;
	if (strcmp(path, "/metrics") == 0)
		return SCRAPE_METRICS;
	if (strncmp(path, "/messages/", 10) == 0)
		return SCRAPE_MESSAGES;
	if (strcmp(path, "/emails/batch") == 0)
		return SCRAPE_EMAILS_BATCH;
	if (strcmp(path, "/emails") == 0 || strncmp(path, "/emails/", 8) == 0)
		return SCRAPE_EMAILS;
	return SCRAPE_OTHER;
}

void
scrape_count_answer(int endpoint, int status)
{
	uint64_t	*v;
	size_t		 i;

	if (endpoint < 0 || endpoint >= SCRAPE_NENDPOINTS)
		endpoint = SCRAPE_OTHER;
	for (i = 0; i < NSTATUSES && statuses[i] != status; i++)
		;
	if ((v = __atomic_load_n(&requests[endpoint][i],
	    __ATOMIC_ACQUIRE)) == NULL) {
		/* Every thread finds the same series; the store is idempotent. */
		v = metrics_seriesf("mail_relay_requests_total{endpoint=\"%s\","
		    "code=\"%d\"}", endpoints[endpoint],
		    i < NSTATUSES ? status : 0);
		__atomic_store_n(&requests[endpoint][i], v, __ATOMIC_RELEASE);
	}
	metrics_add(v, 1);
}

void
scrape_count_error(int endpoint, const char *code)
{
	char	label[64];

	if (endpoint < 0 || endpoint >= SCRAPE_NENDPOINTS)
		endpoint = SCRAPE_OTHER;
	metrics_label(label, sizeof(label), code);
	metrics_add(metrics_seriesf("mail_relay_rejections_total{endpoint=\"%s\","
	    "error=\"%s\"}", endpoints[endpoint], label), 1);
}

int
scrape_callers(struct scrape_callers *sc, const struct tokens *t)
{
	char	label[2 * TOKENS_NAME_MAX];
	size_t	i;

	sc->n = t->ncallers;
	if ((sc->messages = calloc(t->ncallers + 1, sizeof(*sc->messages))) ==
	    NULL || (sc->recipients = calloc(t->ncallers + 1,
	    sizeof(*sc->recipients))) == NULL) {
		free(sc->messages);
		return -1;
	}
	for (i = 0; i < t->ncallers; i++) {
		metrics_label(label, sizeof(label), t->callers[i].name);
		sc->messages[i] = metrics_seriesf(
		    "mail_relay_accepted_messages_total{caller=\"%s\"}", label);
		sc->recipients[i] = metrics_seriesf(
		    "mail_relay_accepted_recipients_total{caller=\"%s\"}",
		    label);
	}
	return 0;
}

void
scrape_callers_free(struct scrape_callers *sc)
{
	free(sc->messages);
	free(sc->recipients);
	memset(sc, 0, sizeof(*sc));
}

void
scrape_count_accepted(const struct relay *r, const struct caller *c,
    size_t nrcpt)
{
	size_t	i = (size_t)(c - r->tokens.callers);

	if (i >= r->counters.n)
		return;
	metrics_add(r->counters.messages[i], 1);
	metrics_add(r->counters.recipients[i], nrcpt);
}

long
scrape_suppressed(const struct relay *r)
{
	return spool_suppress_count(r->spool);
}

/* ---- rendering ---- */

/* 1 when series belongs to family f. */
static int
in_family(const char *series, const struct family *f)
{
	size_t		 n = strlen(f->name);
	const char	*rest = series + n;

	if (strncmp(series, f->name, n) != 0)
		return 0;
	if (*rest == '\0' || *rest == '{')
		return 1;
	if (strcmp(f->type, "histogram") != 0)
		return 0;
	return strncmp(rest, "_bucket{", 8) == 0 ||
	    strcmp(rest, "_sum") == 0 || strncmp(rest, "_sum{", 5) == 0 ||
	    strcmp(rest, "_count") == 0 || strncmp(rest, "_count{", 7) == 0;
}

/* A sum of microseconds is shown in seconds. */
static void
put_series(struct buf *b, const struct family *f, const char *series,
    uint64_t v)
{
	const char	*sum = series + strlen(f->name);

	if (strcmp(f->type, "histogram") == 0 && strncmp(sum, "_sum", 4) == 0 &&
	    strlen(f->name) > 8 &&
	    strcmp(f->name + strlen(f->name) - 8, "_seconds") == 0)
		buf_addf(b, "%s %llu.%06llu\n", series,
		    (unsigned long long)(v / 1000000),
		    (unsigned long long)(v % 1000000));
	else
		buf_addf(b, "%s %llu\n", series, (unsigned long long)v);
}

static void
put_programs(struct buf *b, const struct family *f,
    const struct metrics_view *views, const int *up)
{
	size_t	i;

	for (i = 0; i < NPROGRAMS; i++) {
		if (strcmp(f->name, "mail_relay_up") == 0)
			buf_addf(b, "%s{program=\"%s\"} %d\n", f->name,
			    programs[i], up[i] == 1);
		else if (up[i] != 1)
			continue;
		else if (strcmp(f->name, "mail_relay_start_time_seconds") == 0)
			buf_addf(b, "%s{program=\"%s\"} %lld\n", f->name,
			    programs[i], views[i].start);
		else {
			char	version[64];

			metrics_label(version, sizeof(version),
			    views[i].version);
			buf_addf(b, "%s{program=\"%s\",version=\"%s\"} 1\n",
			    f->name, programs[i], version);
		}
	}
}

static void
put_spool(struct buf *b, const struct family *f, const struct relay *r)
{
	time_t	now = time(NULL), oldest;
	long	n;
	int	i;

	if (strcmp(f->name, "mail_relay_queue_jobs") == 0) {
		for (i = 0; i < SPOOL_NSTATES; i++)
			if ((n = spool_count(r->spool, spool_state_name(i))) >= 0)
				buf_addf(b, "%s{state=\"%s\"} %ld\n", f->name,
				    spool_state_name(i), n);
	} else if (strcmp(f->name,
	    "mail_relay_queue_oldest_due_age_seconds") == 0) {
		oldest = spool_oldest_due(r->spool, now);
		buf_addf(b, "%s %lld\n", f->name,
		    oldest == 0 || oldest > now ? 0LL :
		    (long long)(now - oldest));
	} else if (strcmp(f->name, "mail_relay_suppressed_addresses") == 0) {
		if ((n = scrape_suppressed(r)) >= 0)
			buf_addf(b, "%s %ld\n", f->name, n);
	}
}

static void
put_files(struct buf *b, const struct family *f,
    const struct metrics_view *views, const int *up)
{
	const char	*series;
	uint64_t	 v;
	size_t		 i, k;

	for (i = 0; i < NPROGRAMS; i++) {
		if (up[i] != 1)
			continue;
		for (k = 0; k < views[i].nseries; k++)
			if ((series = metrics_view_series(&views[i], k,
			    &v)) != NULL && in_family(series, f))
				put_series(b, f, series, v);
	}
}

/* Writes the whole scrape into b; -1 when out of memory. */
int
scrape_render(const struct relay *r, struct buf *b)
{
	struct metrics_view	 views[NPROGRAMS];
	int			 up[NPROGRAMS];
	size_t			 i;

	for (i = 0; i < NPROGRAMS; i++)
		if ((up[i] = metrics_view_open(r->spool, programs[i],
		    &views[i])) == -1)
			log_warn("metrics: %s", programs[i]);
	buf_reset(b);
	for (i = 0; i < NFAMILIES; i++) {
		buf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", families[i].name,
		    families[i].help, families[i].name, families[i].type);
		switch (families[i].source) {
		case FROM_PROGRAMS:
			put_programs(b, &families[i], views, up);
			break;
		case FROM_SPOOL:
			put_spool(b, &families[i], r);
			break;
		case FROM_FILES:
			put_files(b, &families[i], views, up);
			break;
		}
	}
	for (i = 0; i < NPROGRAMS; i++)
		metrics_view_close(&views[i]);
	return buf_addc(b, '\0') == -1 ? -1 : (b->len--, 0);
}

/* The metrics_token, if one is set, as a bearer token. */
static int
scrape_authorized(struct worker *w)
{
	const char	*tok = w->relay->cfg.metrics_token;
	const char	*auth = http_param(w, "HTTP_AUTHORIZATION");
	unsigned char	 want[TOKENS_HASH_LEN], got[TOKENS_HASH_LEN];

	if (*tok == '\0')
		return 1;
	if (auth == NULL || strncmp(auth, "Bearer ", 7) != 0)
		return 0;
	tokens_hash(tok, strlen(tok), want);
	tokens_hash(auth + 7, strlen(auth + 7), got);
	return tokens_equal(want, got, sizeof(want));
}

void
scrape_handle(struct worker *w)
{
	if (!scrape_authorized(w)) {
		http_fail(w, ERR_UNAUTHORIZED, "a valid metrics token is "
		    "required", NULL, "WWW-Authenticate: Bearer\r\n");
		return;
	}
	if (scrape_render(w->relay, &w->out) == -1) {
		http_fail(w, ERR_INTERNAL_ERROR, "out of memory", NULL,
		    NULL);
		return;
	}
	http_reply(w, 200, NULL, "text/plain; version=0.0.4; charset=utf-8",
	    w->out.data, w->out.len);
}
