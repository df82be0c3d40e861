/*
 * hookd: post the spool's webhook events (events/) to each caller's URL
 * (the webhooks file named in relay.conf), signed the Standard Webhooks
 * way, at least once.
 *
 * One thread.  curl_multi_poll() waits on the transfers, the inotify fd
 * on events/ (a producer's rename, spoolctl's retry) and a signalfd
 * (TERM, INT, HUP); its timeout is the next retry that is due.  Nothing
 * polls the directory.  At most HOOKD_PARALLEL transfers run at a time
 * and at most HOOKD_PER_CALLER for one caller, so a receiver that hangs
 * holds only its own caller's slots.
 *
 * A 2xx answer ends an event (unlink); anything else (a status, a
 * redirect, which is never followed, a timeout, a TLS error) schedules
 * the next attempt with backoff, written to events-state/ first, until
 * webhook_max_age has passed: then the event moves to events-failed/.
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "body.h"
#include "cfg.h"
#include "daemon.h"
#include "hooks.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "sign.h"
#include "spool.h"

#define HOOKD_PARALLEL		16	/* transfers at a time */
#define HOOKD_PER_CALLER	4	/* of them for one caller */
#define HOOKD_TIMEOUT_MS	10000	/* one attempt, connect included */
#define HOOKD_BACKOFF_MS	5000	/* the first retry */
#define HOOKD_USER_AGENT	"mail-relay-hookd/1"

/* Retry delays in units of the first one: 5 s, 30 s, 2 min, 10 min, 1 h. */
static const unsigned int backoff_steps[] = { 1, 6, 24, 120, 720 };
#define NSTEPS	(sizeof(backoff_steps) / sizeof(backoff_steps[0]))

struct item {
	char		 id[SPOOL_ID_LEN + 1];
	char		 job[SPOOL_ID_LEN + 1];
	char		 caller[HOOKS_NAME_MAX];
	int		 type;
	int		 attempts;
	time_t		 at, since;
	long long	 due_ms;	/* realtime ms of the next attempt */
	long long	 start_ms;	/* of the transfer in flight */
	CURL		*easy;		/* NULL unless in flight */
	struct curl_slist *hdrs;
	char		*body;
	int		 gone;		/* delivered or failed: drop */
};

struct hookd {
	const char	*cfgpath;
	struct cfg	*cfg;
	struct hooks	 hooks;
	struct spool	*sp;
	CURLM		*multi;
	int		 sigfd, inofd;
	int		 verbose;
	int		 want_term, want_reload, want_scan;
	long long	 backoff_ms;	/* -b: the first delay */
	long long	 timeout_ms;	/* -t */
	struct item	**items;
	size_t		 nitems, capitems;
	int		 inflight;
};

static uint64_t	*m_ok, *m_retry, *m_failed;

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: hookd [-dv] [-b ms] [-t ms] [-c config]\n");
	exit(EX_USAGE);
}

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* webhook_max_age, scaled as the delays are by -b. */
static long long
max_age_ms(const struct hookd *h)
{
	return (long long)h->cfg->webhook_max_age * 1000 * h->backoff_ms /
	    HOOKD_BACKOFF_MS;
}

static long long
backoff(const struct hookd *h, int attempts)
{
	size_t	i = attempts <= 0 ? 0 : (size_t)attempts - 1;

	if (i >= NSTEPS)
		i = NSTEPS - 1;
	return h->backoff_ms * backoff_steps[i];
}

/* ---- the set of events ---- */

static struct item *
item_find(struct hookd *h, const char *id)
{
	size_t	i;

	for (i = 0; i < h->nitems; i++)
		if (strcmp(h->items[i]->id, id) == 0)
			return h->items[i];
	return NULL;
}

static void
item_free(struct item *it)
{
	curl_slist_free_all(it->hdrs);
	free(it->body);
	free(it);
}

/* Reads events/<id> into the set, or refreshes a known idle one. */
static void
item_load(struct hookd *h, const char *id)
{
	struct spool_event	 ev;
	struct item		*it, **nv;

	if ((it = item_find(h, id)) != NULL && it->easy != NULL)
		return;		/* in flight: its outcome decides */
	if (spool_event_read(h->sp, 0, id, &ev) == -1) {
		if (errno == EBADMSG && spool_event_fail(h->sp, id) == 0)
			log_err("event=%s is not a valid event: moved to "
			    "events-failed", id);
		else if (errno != ENOENT)
			log_warn("event=%s cannot be read", id);
		spool_event_free(&ev);
		return;
	}
	if (it == NULL) {
		if (h->nitems == h->capitems) {
			h->capitems = h->capitems ? h->capitems * 2 : 64;
			if ((nv = reallocarray(h->items, h->capitems,
			    sizeof(*nv))) == NULL) {
				log_warn("event=%s", id);
				spool_event_free(&ev);
				return;
			}
			h->items = nv;
		}
		if ((it = calloc(1, sizeof(*it))) == NULL) {
			log_warn("event=%s", id);
			spool_event_free(&ev);
			return;
		}
		h->items[h->nitems++] = it;
	}
	memcpy(it->id, ev.id, sizeof(it->id));
	(void)snprintf(it->job, sizeof(it->job), "%s", ev.job);
	(void)snprintf(it->caller, sizeof(it->caller), "%s", ev.caller);
	it->type = ev.type;
	it->attempts = ev.attempts;
	it->at = ev.at;
	it->since = ev.since;
	it->due_ms = (long long)ev.next * 1000;
	spool_event_free(&ev);
}

static void
scan(struct hookd *h)
{
	struct spool_entry	*v;
	size_t			 n, i;

	h->want_scan = 0;
	if (spool_event_scan(h->sp, 0, &v, &n) == -1) {
		log_warn("cannot list %s/events", h->cfg->spool);
		return;
	}
	for (i = 0; i < n; i++)
		item_load(h, v[i].id);
	free(v);
}

/* Drops the items that are done with, keeping the order. */
static void
compact(struct hookd *h)
{
	size_t	i, j = 0;

	for (i = 0; i < h->nitems; i++) {
		if (h->items[i]->gone)
			item_free(h->items[i]);
		else
			h->items[j++] = h->items[i];
	}
	h->nitems = j;
}

/* ---- one delivery ---- */

static int
caller_busy(const struct hookd *h, const char *caller)
{
	size_t	i;
	int	n = 0;

	for (i = 0; i < h->nitems; i++)
		if (h->items[i]->easy != NULL &&
		    strcmp(h->items[i]->caller, caller) == 0)
			n++;
	return n;
}

static struct curl_slist *
headers(const struct hook *hk, const struct item *it, const char *body)
{
	struct curl_slist	*l = NULL, *nl;
	char			 sig[SIGN_SIG_MAX], line[160];
	time_t			 ts = time(NULL);
	const char		*fixed[] = {
		"Content-Type: application/json", "Expect:", NULL
	};
	int			 i;

	if (sign_webhook(hk->key, hk->keylen, it->id, ts, body, strlen(body),
	    sig) == -1)
		return NULL;
	for (i = 0; fixed[i] != NULL; i++) {
		if ((nl = curl_slist_append(l, fixed[i])) == NULL)
			goto fail;
		l = nl;
	}
#define ADD(...) do { \
		(void)snprintf(line, sizeof(line), __VA_ARGS__); \
		if ((nl = curl_slist_append(l, line)) == NULL) \
			goto fail; \
		l = nl; \
	} while (0)
	ADD("webhook-id: %s", it->id);
	ADD("webhook-timestamp: %lld", (long long)ts);
	ADD("webhook-signature: %s", sig);
#undef ADD
	return l;
fail:
	curl_slist_free_all(l);
	return NULL;
}

/* Finished for good: delivered, not wanted, or unreadable. */
static void
finish(struct hookd *h, struct item *it)
{
	if (spool_event_done(h->sp, it->id) == -1 && errno != ENOENT)
		log_warn("event=%s cannot be removed", it->id);
	it->gone = 1;
}

static int
start(struct hookd *h, struct item *it)
{
	struct spool_event	 ev;
	const struct hook	*hk;
	CURL			*e = NULL;

	if ((hk = hooks_find(&h->hooks, it->caller)) == NULL ||
	    !hooks_wants(hk, it->type)) {
		log_debug("event=%s job=%s caller=%s type=%s not wanted: "
		    "dropped", it->id, it->job, it->caller,
		    spool_event_type_name(it->type));
		finish(h, it);
		return 0;
	}
	if (spool_event_read(h->sp, 0, it->id, &ev) == -1) {
		if (errno == ENOENT)
			it->gone = 1;		/* delivered by another run */
		else
			log_warn("event=%s cannot be read", it->id);
		spool_event_free(&ev);
		it->due_ms = now_ms() + backoff(h, 1);
		return -1;
	}
	it->body = body_make(&ev);
	spool_event_free(&ev);
	if (it->body == NULL || (it->hdrs = headers(hk, it, it->body)) == NULL ||
	    (e = curl_easy_init()) == NULL)
		goto fail;
	curl_easy_setopt(e, CURLOPT_URL, hk->url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, HOOKD_USER_AGENT);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, it->hdrs);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, it->body);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(it->body));
	curl_easy_setopt(e, CURLOPT_PRIVATE, it);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
	if (h->cfg->webhook_ca_file[0] != '\0')
		curl_easy_setopt(e, CURLOPT_CAINFO, h->cfg->webhook_ca_file);
	if (curl_multi_add_handle(h->multi, e) != CURLM_OK)
		goto fail;
	it->easy = e;
	it->start_ms = now_ms();
	h->inflight++;
	return 0;
fail:
	log_warn("event=%s cannot start a delivery", it->id);
	if (e != NULL)
		curl_easy_cleanup(e);
	curl_slist_free_all(it->hdrs);
	it->hdrs = NULL;
	free(it->body);
	it->body = NULL;
	it->due_ms = now_ms() + backoff(h, 1);
	return -1;
}

/* Not a 2xx: the next attempt, or failed once the age is over. */
static void
retry_or_fail(struct hookd *h, struct item *it, const char *status,
    long long ms)
{
	long long	now = now_ms(), next;
	long long	since = (long long)(it->since ? it->since : it->at) * 1000;

	it->attempts++;
	next = now + backoff(h, it->attempts);
	if (now - since >= max_age_ms(h)) {
		if (spool_event_state(h->sp, it->id, it->attempts, 0,
		    it->since, status) == -1 ||
		    spool_event_fail(h->sp, it->id) == -1) {
			log_warn("event=%s cannot be moved to events-failed",
			    it->id);
			it->due_ms = next;
			return;
		}
		metrics_add(m_failed, 1);
		log_err("event=%s job=%s caller=%s type=%s status=%s ms=%lld "
		    "attempts=%d failed: older than webhook_max_age", it->id,
		    it->job, it->caller, spool_event_type_name(it->type),
		    status, ms, it->attempts);
		it->gone = 1;
		return;
	}
	/* rounded up: the state keeps seconds */
	if (spool_event_state(h->sp, it->id, it->attempts, (next + 999) / 1000,
	    it->since, status) == -1)
		log_warn("event=%s cannot save the delivery state", it->id);
	metrics_add(m_retry, 1);
	log_warnx("event=%s job=%s caller=%s type=%s status=%s ms=%lld "
	    "attempts=%d retry in %lld ms", it->id, it->job, it->caller,
	    spool_event_type_name(it->type), status, ms, it->attempts,
	    next - now);
	it->due_ms = next;
}

static void
completed(struct hookd *h, CURL *e, CURLcode rc)
{
	struct item	*it = NULL;
	long		 code = 0;
	long long	 ms;
	char		 status[64];

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&it);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(h->multi, e);
	curl_easy_cleanup(e);
	h->inflight--;
	if (it == NULL)
		return;
	it->easy = NULL;
	curl_slist_free_all(it->hdrs);
	it->hdrs = NULL;
	free(it->body);
	it->body = NULL;
	ms = now_ms() - it->start_ms;
	if (rc == CURLE_OK)
		(void)snprintf(status, sizeof(status), "%ld", code);
	else
		(void)snprintf(status, sizeof(status), "\"%s\"",
		    curl_easy_strerror(rc));
	if (rc == CURLE_OK && code >= 200 && code <= 299) {
		metrics_add(m_ok, 1);
		log_info("event=%s job=%s caller=%s type=%s status=%s ms=%lld "
		    "delivered", it->id, it->job, it->caller,
		    spool_event_type_name(it->type), status, ms);
		finish(h, it);
		return;
	}
	retry_or_fail(h, it, status, ms);
}

/* Starts what is due, oldest first, within the limits. */
static void
dispatch(struct hookd *h)
{
	long long	now = now_ms();
	size_t		i;
	struct item	*it;

	for (i = 0; i < h->nitems && h->inflight < HOOKD_PARALLEL; i++) {
		it = h->items[i];
		if (it->gone || it->easy != NULL || it->due_ms > now)
			continue;
		if (caller_busy(h, it->caller) >= HOOKD_PER_CALLER)
			continue;
		(void)start(h, it);
	}
	compact(h);
}

/* Until the next idle item is due; -1 for none. */
static int
next_timeout(const struct hookd *h)
{
	long long	now = now_ms(), due = -1;
	size_t		i;

	for (i = 0; i < h->nitems; i++) {
		const struct item *it = h->items[i];

		if (it->easy != NULL)
			continue;
		if (it->due_ms <= now) {
			/* due but held back by a limit: a transfer ends it */
			if (h->inflight >= HOOKD_PARALLEL ||
			    caller_busy(h, it->caller) >= HOOKD_PER_CALLER)
				continue;
			return 0;
		}
		if (due == -1 || it->due_ms < due)
			due = it->due_ms;
	}
	if (due == -1)
		return h->inflight > 0 ? 1000 : 60000;
	due -= now;
	return due > 60000 ? 60000 : (int)due;
}

/* ---- events ---- */

static void
read_inotify(struct hookd *h)
{
	char				 buf[8192]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event	*ie;
	ssize_t				 n;
	char				*p;

	while ((n = read(h->inofd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)p;
			if (ie->mask & IN_Q_OVERFLOW)
				h->want_scan = 1;
			else if (ie->len > 0 && spool_id_valid(ie->name))
				item_load(h, ie->name);
		}
	}
}

static int
load_hooks(struct hookd *h, struct hooks *hs)
{
	char	err[512];

	if (hooks_load(h->cfg->webhooks, hs, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	return 0;
}

static void
reload(struct hookd *h)
{
	struct cfg	*nc;
	struct hooks	 hs;

	h->want_reload = 0;
	if ((nc = daemon_reload_cfg(h->cfgpath, h->cfg)) == NULL)
		return;
	if (nc->webhooks[0] == '\0') {
		log_warnx("reload: webhooks is not set; keeping %s",
		    h->cfg->webhooks);
		(void)snprintf(nc->webhooks, sizeof(nc->webhooks), "%s",
		    h->cfg->webhooks);
	}
	free(h->cfg);
	h->cfg = nc;
	if (load_hooks(h, &hs) == -1) {
		log_warnx("reload: keeping the old webhooks");
		return;
	}
	hooks_free(&h->hooks);
	h->hooks = hs;
	log_info("reloaded %s and %s: %zu callers", h->cfgpath,
	    h->cfg->webhooks, h->hooks.n);
}

/* ---- setup ---- */

static void
init(struct hookd *h)
{
	sigset_t	set;
	char		err[512];

	daemon_block_signals(&set);
	daemon_std_fds();
	if ((h->cfg = malloc(sizeof(*h->cfg))) == NULL)
		fatal(EX_OSERR, "malloc");
	if (cfg_load(h->cfgpath, h->cfg, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if (h->cfg->webhooks[0] == '\0')
		fatalx(EX_CONFIG, "%s: webhooks is not set: there is no one to "
		    "post events to", h->cfgpath);
	if (hooks_load(h->cfg->webhooks, &h->hooks, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if ((h->sp = spool_open(h->cfg->spool)) == NULL)
		fatal(EX_CANTCREAT, "spool %s", h->cfg->spool);
	h->sigfd = daemon_signalfd(&set);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
	    (h->multi = curl_multi_init()) == NULL)
		fatalx(EX_SOFTWARE, "curl_multi_init");
	curl_multi_setopt(h->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS,
	    (long)HOOKD_PARALLEL);
	daemon_drop_privileges(h->cfg->user, h->sp);
	if (spool_event_dirs(h->sp) == -1)
		fatal(EX_CANTCREAT, "%s/events", h->cfg->spool);
	if (spool_event_lock(h->sp) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx(EX_TEMPFAIL, "another hookd is running on %s",
			    h->cfg->spool);
		fatal(EX_CANTCREAT, "%s/events-state", h->cfg->spool);
	}
	if ((h->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1 ||
	    spool_event_watch(h->sp, h->inofd) == -1)
		fatal(EX_OSERR, "inotify on %s/events", h->cfg->spool);
	if (metrics_init(h->sp, METRICS_HOOKD) == -1)
		log_warn("metrics: counters will not be shown");
	m_ok = metrics_series(
	    "mail_relay_webhook_deliveries_total{outcome=\"ok\"}");
	m_retry = metrics_series(
	    "mail_relay_webhook_deliveries_total{outcome=\"retry\"}");
	m_failed = metrics_series(
	    "mail_relay_webhook_deliveries_total{outcome=\"failed\"}");
	scan(h);
	log_info("started: %zu callers in %s, %zu events pending",
	    h->hooks.n, h->cfg->webhooks, h->nitems);
}

/* The loop: it logs and carries on; it never dies. */
static void
loop(struct hookd *h)
{
	struct curl_waitfd	 wfd[2];
	struct CURLMsg		*msg;
	int			 running, left;

	for (;;) {
		dispatch(h);
		wfd[0].fd = h->sigfd;
		wfd[1].fd = h->inofd;
		wfd[0].events = wfd[1].events = CURL_WAIT_POLLIN;
		wfd[0].revents = wfd[1].revents = 0;
		if (curl_multi_poll(h->multi, wfd, 2, next_timeout(h), NULL)
		    != CURLM_OK)
			log_warnx("curl_multi_poll failed");
		if (wfd[0].revents != 0)
			daemon_read_signals(h->sigfd, &h->want_reload,
			    &h->want_term);
		if (h->want_term)
			break;
		if (h->want_reload)
			reload(h);
		if (wfd[1].revents != 0)
			read_inotify(h);
		if (h->want_scan)
			scan(h);
		(void)curl_multi_perform(h->multi, &running);
		while ((msg = curl_multi_info_read(h->multi, &left)) != NULL)
			if (msg->msg == CURLMSG_DONE)
				completed(h, msg->easy_handle,
				    msg->data.result);
	}
}

static long long
ms_arg(const char *s)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, 1, 3600000, &errstr);
	if (errstr != NULL) {
		fprintf(stderr, "hookd: %s: milliseconds %s\n", s, errstr);
		exit(EX_USAGE);
	}
	return n;
}

int
main(int argc, char *argv[])
{
	struct hookd	 h;
	const char	*cfgarg = NULL;
	size_t		 i;
	int		 ch, debug = 0;

	/* args */
	memset(&h, 0, sizeof(h));
	h.backoff_ms = HOOKD_BACKOFF_MS;
	h.timeout_ms = HOOKD_TIMEOUT_MS;
	while ((ch = getopt(argc, argv, "b:c:dt:v")) != -1) {
		switch (ch) {
		case 'b':
			h.backoff_ms = ms_arg(optarg);
			break;
		case 'c':
			cfgarg = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 't':
			h.timeout_ms = ms_arg(optarg);
			break;
		case 'v':
			h.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	h.cfgpath = cfg_path(cfgarg);
	log_init("hookd", debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, h.verbose);

	/* init: may die */
	init(&h);

	/* loop: must not die */
	loop(&h);

	/* finish: transfers in flight are sent again at the next start */
	for (i = 0; i < h.nitems; i++) {
		if (h.items[i]->easy != NULL) {
			curl_multi_remove_handle(h.multi, h.items[i]->easy);
			curl_easy_cleanup(h.items[i]->easy);
		}
		item_free(h.items[i]);
	}
	free(h.items);
	log_info("exiting on signal");
	curl_multi_cleanup(h.multi);
	curl_global_cleanup();
	hooks_free(&h.hooks);
	spool_close(h.sp);
	free(h.cfg);
	return EX_OK;
}
