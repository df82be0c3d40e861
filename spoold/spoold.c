/*
 * spoold: drain the spool into sendmail, one job at a time, oldest due job
 * first; retry temporary failures with backoff; never lose a job.
 *
 * One poll() covers a signalfd (TERM, INT, HUP), an inotify watch on
 * pending/ and the time of the next due job; idle, spoold sleeps in it.
 * The pending jobs are indexed in memory (pindex.h), built by a full scan
 * at start, on IN_Q_OVERFLOW, on SIGHUP and hourly, and kept current by
 * inotify events; every claim is checked against the file itself, so a
 * stale index entry costs a stat, never a wrong delivery.  One sendmail
 * runs at a time; while it runs, spoold finishes the job sent before and
 * claims the job after (send_job).
 */
#define _GNU_SOURCE
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "deliver.h"
#include "log.h"
#include "metrics.h"
#include "pindex.h"
#include "priv.h"
#include "spool.h"
#include "text.h"

#define OUTAGE_STREAK	5		/* temporary failures in a row */
#define MAINT_INTERVAL	3600		/* idem purge + full rescan */
#define LOG_REASON_MAX	512
#define BLOCKED_RETRY	5		/* seconds, spool not writable */

struct daemon {
	const char	*cfgpath;
	struct cfg	*cfg;
	struct spool	*sp;
	struct pindex	 pending;	/* the index of pending/ */
	int		 sigfd, inofd;
	int		 once;
	int		 want_term, want_reload, want_rescan;
	int		 batch_wd, want_batch;	/* batch/ closed: resume */
	/* outage guard */
	int		 streak;	/* temporary failures in a row */
	int		 paused;	/* failed probes so far, 0: running */
	time_t		 pause_until;
	time_t		 paused_since;
	time_t		 next_maint;
	time_t		 last_sync;
	/* the spool cannot be written: said once, the drain waits */
	int		 blocked;	/* the errno, 0: writable */
	time_t		 blocked_since, blocked_until;
	/* for /metrics */
	uint64_t	*handovers[4];		/* ok, temp, perm, timeout */
	struct metrics_hist sendmail_time, handover_delay;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: spoold [-1dv] [-c config]\n");
	exit(EX_USAGE);
}

/* ---- the index ---- */

/*
 * A job whose state change failed (unreadable, disk full) is put back;
 * the index keeps it out of the drain for a while so spoold does not
 * spin on it.
 */
static void
hold_off(struct daemon *d, const char *id)
{
	time_t	now = spool_now();

	/* On failure, the next rescan finds it. */
	(void)pindex_hold_off(&d->pending, id, now,
	    now + d->cfg->backoff_initial);
}

/*
 * A spool that cannot be written (read-only, full, failing) fails every
 * job the same way: the condition is logged once, the drain waits
 * BLOCKED_RETRY seconds (backoff_initial if shorter) between tries, and
 * its end is logged.  Jobs stay
 * where they are.  Returns 1 when errno is such a condition.
 */
static time_t
blocked_retry(const struct daemon *d)
{
	return d->cfg->backoff_initial < BLOCKED_RETRY ?
	    d->cfg->backoff_initial : BLOCKED_RETRY;
}

static int
spool_blocked(struct daemon *d, const char *id, const char *what)
{
	int	e = errno;
	time_t	now = spool_now();

	if (e != EROFS && e != ENOSPC && e != EDQUOT && e != EIO)
		return 0;
	if (d->blocked == 0) {
		d->blocked_since = now;
		log_warnx("spool %s cannot be written (%s: %s): deliveries "
		    "wait, retried every %llds", d->cfg->spool, what,
		    strerror(e), (long long)blocked_retry(d));
	} else
		log_debug("job=%s cannot %s: %s", id, what, strerror(e));
	d->blocked = e;
	d->blocked_until = now + blocked_retry(d);
	errno = e;
	return 1;
}

/* A write in the spool worked: a blocked spool is writable again. */
static void
spool_unblocked(struct daemon *d)
{
	if (d->blocked == 0)
		return;
	log_info("spool %s can be written again after %llds; deliveries "
	    "resume", d->cfg->spool, (long long)(spool_now() -
	    d->blocked_since));
	d->blocked = 0;
}

static void
rescan(struct daemon *d)
{
	struct spool_entry	*v;
	size_t			 i, n;

	d->want_rescan = 0;
	if (spool_scan(d->sp, SPOOL_PENDING, &v, &n) == -1) {
		log_warn("cannot scan pending");
		return;
	}
	pindex_clear(&d->pending);
	for (i = 0; i < n; i++)
		if (pindex_put(&d->pending, v[i].id, v[i].due) == -1) {
			log_warn("rescan");
			break;
		}
	free(v);
	log_debug("scanned pending: %zu jobs", n);
}

/* ---- events ---- */

static void
read_inotify(struct daemon *d)
{
	char			 buf[65536]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t			 n;
	char			*p;
	time_t			 due;

	while ((n = read(d->inofd, buf, sizeof(buf))) > 0) {
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			if (ev->mask & IN_Q_OVERFLOW) {
				d->want_rescan = d->want_batch = 1;
				continue;
			}
			if (ev->wd == d->batch_wd) {
				d->want_batch = 1;
				continue;
			}
			if (ev->len == 0 || !spool_id_valid(ev->name))
				continue;
			if (spool_stat(d->sp, SPOOL_PENDING, ev->name,
			    &due) == 0 &&
			    pindex_put(&d->pending, ev->name, due) == -1)
				d->want_rescan = 1;
		}
	}
}

/* Reads whatever is ready on the signalfd and inotify fd, waiting up to ms. */
static void
wait_events(struct daemon *d, int ms)
{
	struct pollfd	pfd[2];

	pfd[0].fd = d->sigfd;
	pfd[1].fd = d->inofd;
	pfd[0].events = pfd[1].events = POLLIN;
	pfd[0].revents = pfd[1].revents = 0;
	if (poll(pfd, 2, ms) == -1) {
		if (errno != EINTR)
			log_warn("poll");
		return;
	}
	if (pfd[0].revents & POLLIN)
		daemon_read_signals(d->sigfd, &d->want_reload, &d->want_term);
	if (pfd[1].revents & POLLIN)
		read_inotify(d);
}

static void
reload(struct daemon *d)
{
	struct cfg	*nc;

	d->want_reload = 0;
	d->want_rescan = 1;
	if ((nc = daemon_reload_cfg(d->cfgpath, d->cfg)) == NULL)
		return;
	free(d->cfg);
	d->cfg = nc;
	log_info("reloaded %s", d->cfgpath);
}

/* ---- one job ---- */

static time_t
backoff(const struct cfg *cfg, int n)
{
	time_t	delay = cfg->backoff_initial;

	while (--n > 0 && delay < cfg->backoff_max)
		delay *= 2;
	return delay < cfg->backoff_max ? delay : cfg->backoff_max;
}

/* Now rounded up to the next whole second. */
static time_t
now_ceil(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + (ts.tv_nsec > 0);
}

/* Puts a claimed job back into pending/ after a failed state change. */
static void
put_back(struct daemon *d, const char *id)
{
	if (spool_unclaim(d->sp, id) == -1) {
		if (!spool_blocked(d, id, "put back"))
			log_warn("job=%s cannot put back; recovered at restart",
			    id);
		return;
	}
	hold_off(d, id);
}

static void
job_delivered(const struct spool_job *job,
    const struct deliver_result *res)
{
	log_info("job=%s delivered message-id=<%s> attempt=%d delay=%llds "
	    "ms=%ld", job->id, job->env.message_id, job->attempts + 1,
	    (long long)(spool_now() - job->env.created), res->ms);
}

static void
job_failed(struct daemon *d, struct spool_job *job, const char *reason)
{
	char	safe[LOG_REASON_MAX];

	if (spool_fail(d->sp, job, reason) == -1) {
		/*
		 * The rewrite needs space in tmp/; a full disk must not make
		 * a permanent failure run sendmail again.  Move the job as it
		 * is: the reason is then in the log only.
		 */
		if (!spool_blocked(d, job->id, "record the failure"))
			log_warn("job=%s cannot record the failure", job->id);
		if (spool_fail_raw(d->sp, job->id) == -1) {
			if (!spool_blocked(d, job->id, "move to failed"))
				log_warn("job=%s cannot move to failed, will "
				    "try again", job->id);
			put_back(d, job->id);
			return;
		}
	}
	spool_unblocked(d);
	if (d->cfg->webhooks[0] != '\0' && spool_event_add(d->sp,
	    SPOOL_EV_FAILED, &job->env, NULL, NULL, reason, time(NULL), NULL)
	    == -1)
		log_warn("job=%s failed; no email.failed event", job->id);
	log_err("job=%s failed message-id=<%s> attempt=%d reason=\"%s\"",
	    job->id, job->env.message_id, job->attempts + 1,
	    text_line(reason, safe, sizeof(safe)));
}

static void
job_deferred(struct daemon *d, struct spool_job *job,
    const struct deliver_result *res)
{
	char	safe[LOG_REASON_MAX], why[DELIVER_OUTPUT_MAX + 200];
	time_t	delay, next;
	int	attempt = job->attempts + 1;

	if (attempt >= d->cfg->max_attempts) {
		(void)snprintf(why, sizeof(why), "max attempts (%d): %s",
		    d->cfg->max_attempts, res->reason);
		job_failed(d, job, why);
		return;
	}
	delay = backoff(d->cfg, attempt);
	delay += arc4random_uniform((uint32_t)(delay / 10 + 1));
	next = now_ceil() + delay;
	if (spool_defer(d->sp, job, next, res->reason) == -1) {
		if (!spool_blocked(d, job->id, "defer"))
			log_warn("job=%s cannot defer, will try again",
			    job->id);
		put_back(d, job->id);
		return;
	}
	spool_unblocked(d);
	log_warnx("job=%s deferred message-id=<%s> attempt=%d status=%d "
	    "next=+%llds reason=\"%s\"", job->id, job->env.message_id, attempt,
	    res->status, (long long)delay,
	    text_line(res->reason, safe, sizeof(safe)));
}

/* The outage guard: count temporary failures, pause and resume. */
static void
outage_account(struct daemon *d, enum deliver_outcome outcome)
{
	time_t	now = spool_now(), delay;

	if (outcome != DELIVER_TEMPFAIL) {
		if (d->paused)
			log_info("resumed after %llds: deliveries work again",
			    (long long)(now - d->paused_since));
		d->streak = d->paused = 0;
		return;
	}
	if (++d->streak < OUTAGE_STREAK && !d->paused)
		return;
	if (d->paused == 0) {
		d->paused_since = now;
		log_warnx("paused: %d deliveries in a row failed temporarily; "
		    "probing one job at a time with backoff", d->streak);
	}
	delay = backoff(d->cfg, ++d->paused);
	d->pause_until = now_ceil() + delay;
	log_debug("probe failed, next probe in %llds", (long long)delay);
}

/* A job claimed and read: the next to go, or the last one sent. */
struct slot {
	int			 has_job;	/* job and res are set */
	struct spool_job	 job;
	struct deliver_result	 res;
};

/* Claims and reads job id into s; 0 if it is not to be sent now. */
static int
claim_job(struct daemon *d, const char *id, struct slot *s)
{
	time_t	due;

	/* Due by the file claimed, now: see spool_claim_due. */
	if (spool_claim_due(d->sp, id, spool_now(), &due) == -1) {
		if (errno == EAGAIN) {
			/* Rescheduled after the index said due: wait. */
			log_info("job=%s rescheduled while claimed; back to "
			    "pending, due=%lld", id, (long long)due);
			if (pindex_put(&d->pending, id, due) == -1)
				d->want_rescan = 1;
		} else if (errno != ENOENT) {
			if (!spool_blocked(d, id, "claim"))
				log_warn("job=%s cannot claim", id);
			hold_off(d, id);
		}
		return 0;
	}
	if (d->blocked != ENOSPC && d->blocked != EDQUOT)
		spool_unblocked(d);	/* a rename worked: writable */
	if (spool_read(d->sp, SPOOL_PROCESSING, id, &s->job) == -1) {
		if (errno == EBADMSG) {
			log_err("job=%s failed: not a valid job file", id);
			if (spool_fail_raw(d->sp, id) == -1)
				log_warn("job=%s cannot move to failed", id);
		} else {
			log_warn("job=%s cannot read", id);
			put_back(d, id);
		}
		return 0;
	}
	s->has_job = 1;
	return 1;
}

static int
paused_now(struct daemon *d, time_t now, time_t *wake)
{
	if (d->paused && now < d->pause_until) {
		*wake = d->pause_until;
		return 1;
	}
	if (d->blocked && now < d->blocked_until) {
		*wake = d->blocked_until;
		return 1;
	}
	return 0;
}

/*
 * Claims the oldest due job into s.  Returns 1 if it did, else 0 with
 * *wake set to when something falls due (0: nothing pending).
 */
static int
take_job(struct daemon *d, struct slot *s, time_t *wake)
{
	char	id[SPOOL_ID_LEN + 1];
	time_t	now = spool_now(), due;

	for (;;) {
		*wake = 0;
		if (paused_now(d, now, wake) ||
		    !pindex_first_due(&d->pending, now, id, wake))
			return 0;
		/* The index may be stale: the file's mtime decides. */
		if (spool_stat(d->sp, SPOOL_PENDING, id, &due) == -1) {
			pindex_remove(&d->pending, id);
			continue;
		}
		if (due > now) {
			/* An update in place: it cannot fail. */
			(void)pindex_put(&d->pending, id, due);
			continue;
		}
		pindex_remove(&d->pending, id);
		if (claim_job(d, id, s))
			return 1;
	}
}

/*
 * Right after sendmail exits, a delivered job leaves the spool, so that a
 * crash from here on cannot send it again.  The rest (finish_job: the
 * log line, the close) waits until the next sendmail runs.
 */
static void
unlink_delivered(struct daemon *d, struct slot *s)
{
	if (s->res.outcome != DELIVER_OK)
		return;
	/* The record first: a crash between the two hands it over again. */
	if (spool_sent(d->sp, &s->job, spool_now()) == -1 &&
	    !spool_blocked(d, s->job.id, "write the delivery record"))
		log_warn("job=%s delivered; no delivery record", s->job.id);
	if (d->cfg->webhooks[0] != '\0' && spool_event_sent(d->sp,
	    &s->job.env, time(NULL), NULL) == -1 &&
	    !spool_blocked(d, s->job.id, "write the email.sent event"))
		log_warn("job=%s delivered; no email.sent event", s->job.id);
	if (spool_done(d->sp, s->job.id) == -1)
		log_warn("job=%s delivered but not removed", s->job.id);
}

/* Bounds of the duration histograms, in microseconds. */
static const uint64_t sendmail_bounds[] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000,
	5000000, 10000000, 30000000
};
static const uint64_t delay_bounds[] = {
	10000, 50000, 100000, 500000, 1000000, 5000000, 10000000, 60000000,
	300000000, 1800000000, 3600000000ULL, 21600000000ULL, 86400000000ULL
};
#define NBOUNDS(a)	(sizeof(a) / sizeof((a)[0]))

static void
metrics_setup(struct daemon *d)
{
	static const char *const outcome[4] = {
		"ok", "temporary", "permanent", "timeout"
	};
	int	i;

	if (metrics_init(d->sp, METRICS_SPOOLD) == -1)
		log_warn("metrics: counters will not be shown");
	for (i = 0; i < 4; i++)
		d->handovers[i] = metrics_seriesf(
		    "mail_relay_handovers_total{outcome=\"%s\"}", outcome[i]);
	metrics_hist_init(&d->sendmail_time,
	    "mail_relay_sendmail_duration_seconds", "", sendmail_bounds,
	    NBOUNDS(sendmail_bounds));
	metrics_hist_init(&d->handover_delay,
	    "mail_relay_handover_delay_seconds", "", delay_bounds,
	    NBOUNDS(delay_bounds));
}

/* One sendmail run: its outcome, its duration, the job's wait if sent. */
static void
count_handover(struct daemon *d, const struct slot *s)
{
	unsigned long long	 created = spool_id_usec(s->job.id);
	struct timespec		 ts;
	unsigned long long	 now;
	int			 i;

	if (s->res.timedout)
		i = 3;
	else
		i = s->res.outcome == DELIVER_OK ? 0 :
		    s->res.outcome == DELIVER_TEMPFAIL ? 1 : 2;
	metrics_add(d->handovers[i], 1);
	metrics_hist_observe(&d->sendmail_time,
	    s->res.ms > 0 ? (uint64_t)s->res.ms * 1000 : 0);
	if (i != 0 || created == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (unsigned long long)ts.tv_sec * 1000000 +
	    (unsigned long long)ts.tv_nsec / 1000;
	metrics_hist_observe(&d->handover_delay,
	    now > created ? now - created : 0);
}

/*
 * Finishes a job sent: logs a delivery, moves a permanent failure into
 * failed/, a temporary one back into pending/ (or into failed/ after
 * max_attempts); the slot is empty after.
 */
static void
finish_job(struct daemon *d, struct slot *s)
{
	switch (s->res.outcome) {
	case DELIVER_OK:
		job_delivered(&s->job, &s->res);
		break;
	case DELIVER_PERMFAIL:
		job_failed(d, &s->job, s->res.reason);
		break;
	case DELIVER_TEMPFAIL:
		job_deferred(d, &s->job, &s->res);
		break;
	}
	spool_job_free(&s->job);
	s->has_job = 0;
}

/* A job claimed but not sent goes back to pending/. */
static void
unclaim(struct daemon *d, struct slot *s)
{
	put_back(d, s->job.id);
	spool_job_free(&s->job);
	s->has_job = 0;
}

/*
 * Sends the job in *nextp.  Sending is serial, but spoold's own work is
 * kept out of its way: while sendmail runs, the job sent before (*sentp)
 * is finished and that slot takes the following job, so the next
 * sendmail starts as soon as this one exits.  Only the removal of a
 * delivered job comes first.  On return *sentp is the job just sent and
 * *nextp the following one, if any.
 */
static void
send_job(struct daemon *d, struct slot **nextp, struct slot **sentp)
{
	struct slot		*cur = *nextp, *other = *sentp;
	struct deliver_run	*run;
	time_t			 wake;

	log_debug("job=%s sending attempt=%d from=<%s> rcpt=%zu", cur->job.id,
	    cur->job.attempts + 1, cur->job.env.sender, cur->job.env.nrcpt);
	run = deliver_start(d->cfg->sendmail_argv, &cur->job,
	    d->cfg->sendmail_timeout, &cur->res);
	if (other->has_job)
		finish_job(d, other);
	if (run != NULL) {
		(void)take_job(d, other, &wake);
		deliver_wait(run, &cur->res);
	}
	unlink_delivered(d, cur);
	count_handover(d, cur);
	outage_account(d, cur->res.outcome);
	if (other->has_job && paused_now(d, spool_now(), &wake))
		unclaim(d, other);
	*nextp = other;
	*sentp = cur;
}

/* ---- setup ---- */

static void
recovered(const char *id, void *arg)
{
	struct daemon		*d = arg;
	struct spool_job	 job;

	if (spool_read(d->sp, SPOOL_PENDING, id, &job) == 0) {
		log_warnx("job=%s recovered message-id=<%s> attempt=%d: was "
		    "being delivered, may be delivered twice", id,
		    job.env.message_id, job.attempts + 1);
		spool_job_free(&job);
	} else
		log_warnx("job=%s recovered", id);
}

static void
batch_job(const char *id, void *arg)
{
	(void)arg;
	log_info("job=%s split from its batch", id);
}

/*
 * Batches whose splitter died or failed (relay-fcgi split them before it
 * answered otherwise): finished here, as spool(5) says.
 */
static void
resume_batches(struct daemon *d)
{
	int	n, bad = 0;

	d->want_batch = 0;
	if ((n = spool_batch_recover(d->sp, batch_job, d, &bad)) == -1)
		log_warn("batch split");
	else if (n > 0)
		log_info("split %d jobs from interrupted batches", n);
	if (bad > 0)
		log_warnx("%d files in batch/ are not valid batches; left "
		    "alone", bad);
}

static void
setup_events(struct daemon *d, sigset_t *set)
{
	d->sigfd = daemon_signalfd(set);
	if ((d->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1)
		fatal(EX_OSERR, "inotify_init1");
	if ((d->batch_wd = spool_batch_watch(d->sp, d->inofd)) == -1)
		fatal(EX_OSERR, "inotify on batch/");
	if (spool_watch(d->sp, d->inofd) == -1)
		fatal(EX_OSERR, "inotify watch on pending");
}

/* Delivery records older than track_retention go, with their queue ids. */
static void
expire_records(struct daemon *d)
{
	int	n;

	if ((n = spool_record_expire(d->sp, spool_now() -
	    d->cfg->track_retention)) == -1)
		log_warn("record expiry");
	else if (n > 0)
		log_info("expired %d delivery records", n);
	if ((n = spool_canceled_expire(d->sp, spool_now() -
	    d->cfg->track_retention)) == -1)
		log_warn("canceled job expiry");
	else if (n > 0)
		log_info("expired %d canceled jobs", n);
}

static void
init(struct daemon *d)
{
	sigset_t	set;
	char		err[512];
	int		n;

	daemon_block_signals(&set);
	daemon_std_fds();
	if ((d->cfg = malloc(sizeof(*d->cfg))) == NULL)
		fatal(EX_OSERR, "malloc");
	if (cfg_load(d->cfgpath, d->cfg, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if ((d->sp = spool_open(d->cfg->spool)) == NULL)
		fatal(EX_CANTCREAT, "spool %s", d->cfg->spool);
	if (spool_lock(d->sp) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx(EX_TEMPFAIL, "another spoold is running on %s "
			    "(spoold.lock is held)", d->cfg->spool);
		fatal(EX_CANTCREAT, "%s/spoold.lock", d->cfg->spool);
	}
	setup_events(d, &set);
	daemon_drop_privileges(d->cfg->user, d->sp);
	metrics_setup(d);
	if ((n = spool_recover(d->sp, spool_now(), recovered, d)) == -1)
		fatal(EX_IOERR, "recovery in %s", d->cfg->spool);
	resume_batches(d);
	if (spool_idem_purge(d->sp, spool_now()) == -1)
		log_warn("idem purge");
	expire_records(d);
	d->next_maint = spool_now() + MAINT_INTERVAL;
	rescan(d);
	log_info("started: spool %s, %zu pending, %d recovered",
	    d->cfg->spool, pindex_count(&d->pending), n);
}

static int
poll_ms(time_t wake)
{
	struct timespec	ts;
	long long	ms;

	if (wake == 0)
		return -1;
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = ((long long)wake - ts.tv_sec) * 1000 - ts.tv_nsec / 1000000;
	if (ms < 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

static void
maintenance(struct daemon *d)
{
	int	n;

	d->next_maint = spool_now() + MAINT_INTERVAL;
	if ((n = spool_idem_purge(d->sp, spool_now())) == -1)
		log_warn("idem purge");
	else if (n > 0)
		log_debug("purged %d idempotency records", n);
	expire_records(d);
	resume_batches(d);
	d->want_rescan = 1;
}

/*
 * Makes the unlinks of delivered jobs durable: before sleeping, and once a
 * second during a drain, so a system crash repeats few deliveries.
 */
static void
sync_done(struct daemon *d, int idle)
{
	time_t	now = spool_now();

	if (!idle && now == d->last_sync)
		return;
	d->last_sync = now;
	if (spool_sync(d->sp) == -1)
		if (!spool_blocked(d, "-", "sync processing/"))
			log_warn("fsync processing");
}

/*
 * The loop: take in what happened, send the oldest due job, and sleep in
 * poll only when nothing is due.  It logs and carries on; it never dies.
 * On the way out, the last job sent is finished and a job claimed but not
 * sent goes back to pending/.
 */
static void
loop(struct daemon *d)
{
	struct slot	 slots[2], *next = &slots[0], *sent = &slots[1];
	time_t		 wake = 0;

	memset(slots, 0, sizeof(slots));
	for (;;) {
		wait_events(d, 0);
		if (d->want_term)
			break;
		if (d->want_reload)
			reload(d);
		if (d->want_batch)
			resume_batches(d);
		if (d->want_rescan)
			rescan(d);
		if (next->has_job || take_job(d, next, &wake)) {
			send_job(d, &next, &sent);
			sync_done(d, 0);
			continue;
		}
		if (sent->has_job)
			finish_job(d, sent);
		if (d->once)
			break;
		sync_done(d, 1);
		pindex_shrink(&d->pending);
		if (spool_now() >= d->next_maint) {
			maintenance(d);
			continue;
		}
		if (wake == 0 || wake > d->next_maint)
			wake = d->next_maint;
		wait_events(d, poll_ms(wake));
	}
	if (sent->has_job)
		finish_job(d, sent);
	if (next->has_job)
		unclaim(d, next);
}

int
main(int argc, char *argv[])
{
	struct daemon	d;
	const char	*cfgarg = NULL;
	int		 ch, debug = 0, verbose = 0;

	/* args */
	memset(&d, 0, sizeof(d));
	while ((ch = getopt(argc, argv, "1c:dv")) != -1) {
		switch (ch) {
		case '1':
			d.once = 1;
			break;
		case 'c':
			cfgarg = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	d.cfgpath = cfg_path(cfgarg);
	log_init("spoold", debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose);

	/* init: may die */
	init(&d);

	/* loop: must not die */
	loop(&d);

	/* finish */
	if (spool_sync(d.sp) == -1)
		log_warn("fsync processing");
	log_info("exiting%s", d.want_term ? " on signal" : "");
	spool_close(d.sp);
	pindex_free(&d.pending);
	free(d.cfg);
	return EX_OK;
}
