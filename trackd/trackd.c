/*
 * trackd: follow Postfix's log (postfix_log in relay.conf) and record what
 * happened to every message the relay handed over, per recipient, in the
 * spool's delivery records; put addresses that bounced with a 5.x.x
 * status on the suppression list.
 *
 * One poll() covers a signalfd (TERM, INT, HUP) and the follower's
 * inotify fd; the only timeouts are a pending position save (at most one
 * a second while lines flow) and a retry after a failed record write.
 * Idle, trackd sleeps in poll.
 *
 * Neither missed nor repeated: every line gets a number (seq); outcomes
 * are written with it and a record ignores a seq it has already applied;
 * the position (device, inode, offset, seq) is saved only after the
 * records of the lines it covers are durable.  A restart from an older
 * position reads lines again, and they change nothing but the webhook
 * events and suppressions they make, which are the same again.
 *
 * Group commit: queue ids, records and events are written without a flush
 * of their own (tmp/, a rename); one syncfs(2) (spool_sync) before each
 * position save makes every line it covers durable at once.  A system
 * crash loses at most what the unsaved position had still to cover, and
 * the log gives it again.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "daemon.h"
#include "follow.h"
#include "log.h"
#include "metrics.h"
#include "parse.h"
#include "priv.h"
#include "spool.h"

#define SAVE_INTERVAL_MS	1000	/* position saves while lines flow */
#define RETRY_MIN_MS		1000	/* after a failed record write */
#define RETRY_MAX_MS		60000
/*
 * A line's seq, as records see it: the line number shifted, so that the
 * outcomes of one line (an expiry ends every open recipient) each get
 * their own, increasing.
 */
#define SEQ_SHIFT		20
#define SEQ_LATE		(1u << 19)	/* late lines: above expiries, */
#define SEQ_LATE_SHIFT		10		/* 511 after a line, each with */
#define SEQ_LATE_MAX		511		/* 1023 expiries at most */

struct trackd {
	const char		*cfgpath;
	struct cfg		*cfg;
	struct spool		*sp;
	struct follow		 fl;
	int			 sigfd;
	int			 verbose;
	int			 want_term, want_reload;
	struct spool_track_pos	 saved;
	long long		 last_save;	/* monotonic ms */
	long long		 retry_at;	/* 0: not failing */
	long long		 retry_ms;
	/* an outcome recorded whose suppression could not be written */
	unsigned long long	 pend_seq;
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: trackd [-dv] [-c config]\n");
	exit(EX_USAGE);
}

static long long
now_ms(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- position ---- */

static int
save_pos(struct trackd *t)
{
	struct spool_track_pos	pos;

	follow_pos(&t->fl, &pos);
	if (memcmp(&pos, &t->saved, sizeof(pos)) == 0)
		return 0;
	/* what the position covers first: the lazy writes of its lines */
	if (spool_sync(t->sp) == -1) {
		log_warn("cannot flush the records to %s", t->cfg->spool);
		return -1;	/* the position waits; lines are read again */
	}
	if (spool_track_pos_save(t->sp, &pos) == -1) {
		log_warn("cannot save the position in %s", t->cfg->postfix_log);
		return -1;	/* lines are read again; records ignore them */
	}
	t->saved = pos;
	t->last_save = now_ms();
	return 0;
}

/*
 * Before a record takes line number lineno: the saved position must not
 * lag by FOLLOW_SEQ_JUMP / 2 lines or more, so that the numbers a restart
 * gives after a break (see follow.h) are above every number in use.
 */
static int
pos_close_enough(struct trackd *t, unsigned long long lineno)
{
	if (lineno < t->saved.seq + FOLLOW_SEQ_JUMP / 2)
		return 0;
	return save_pos(t);	/* the position before this line */
}

/* ---- one line ---- */

static int
to_spool_status(int status)
{
	switch (status) {
	case PARSE_SENT:
		return SPOOL_RCPT_DELIVERED;
	case PARSE_DEFERRED:
		return SPOOL_RCPT_DEFERRED;
	case PARSE_BOUNCED:
		return SPOOL_RCPT_BOUNCED;
	default:
		return SPOOL_RCPT_EXPIRED;
	}
}

/* Errors that retrying cannot mend: the line is logged and passed. */
static int
hopeless(int err)
{
	return err == ENOENT || err == ESRCH || err == EINVAL ||
	    err == EBADMSG || err == ENAMETOOLONG;
}

/* For /metrics: outcomes by kind, and acceptance to delivery. */
static uint64_t			*outcomes[4];	/* delivered .. expired */
static struct metrics_hist	 delivery_delay;

static void
metrics_setup(struct trackd *t)
{
	static const char *const name[4] = {
		"delivered", "deferred", "bounced", "expired"
	};
	static const uint64_t bounds[] = {	/* microseconds */
		100000, 500000, 1000000, 5000000, 10000000, 30000000,
		60000000, 300000000, 1800000000, 3600000000ULL,
		21600000000ULL, 86400000000ULL, 432000000000ULL
	};
	int	i;

	if (metrics_init(t->sp, METRICS_TRACKD) == -1)
		log_warn("metrics: counters will not be shown");
	for (i = 0; i < 4; i++)
		outcomes[i] = metrics_seriesf(
		    "mail_relay_recipient_outcomes_total{outcome=\"%s\"}",
		    name[i]);
	metrics_hist_init(&delivery_delay, "mail_relay_delivery_delay_seconds",
	    "", bounds, sizeof(bounds) / sizeof(bounds[0]));
}

/* One outcome recorded (never one ignored as already recorded). */
static void
count_outcome(const char *job, int status, time_t when)
{
	unsigned long long	created = spool_id_usec(job);
	unsigned long long	at = (unsigned long long)when * 1000000;

	switch (status) {
	case SPOOL_RCPT_DELIVERED:
		metrics_add(outcomes[0], 1);
		if (created != 0)
			metrics_hist_observe(&delivery_delay,
			    at > created ? at - created : 0);
		break;
	case SPOOL_RCPT_DEFERRED:
		metrics_add(outcomes[1], 1);
		break;
	case SPOOL_RCPT_BOUNCED:
		metrics_add(outcomes[2], 1);
		break;
	case SPOOL_RCPT_EXPIRED:
		metrics_add(outcomes[3], 1);
		break;
	}
}

static void
log_outcome(const struct trackd *t, const char *job,
    const struct parse_event *ev)
{
	void	(*lf)(const char *, ...) = log_info;

	if (ev->status == PARSE_DEFERRED)
		lf = log_warnx;
	else if (ev->status != PARSE_SENT)
		lf = log_err;
	if (t->verbose)
		lf("job=%s qid=%s rcpt=<%s> status=%s dsn=%s relay=%s "
		    "reply=\"%s\"", job, ev->qid, ev->rcpt,
		    parse_status_name(ev->status), ev->dsn[0] ? ev->dsn : "-",
		    ev->relay[0] ? ev->relay : "-", ev->reply);
	else
		lf("job=%s qid=%s status=%s dsn=%s relay=%s", job, ev->qid,
		    parse_status_name(ev->status), ev->dsn[0] ? ev->dsn : "-",
		    ev->relay[0] ? ev->relay : "-");
}

/*
 * The webhook event of an outcome recorded (webhooks set only).  Its id
 * comes from the job and the line's seq: written again for a line read
 * again after a crash, it is the same event (the same webhook-id), so an
 * outcome recorded just before a crash still gets its event.  -1 when it
 * could not be written and may be later: the line is refused and comes
 * again (its outcome is then already recorded, the event is made).
 */
static int
hook_event(struct trackd *t, const char *job, const char *qid,
    const char *rcpt, const struct spool_outcome *o, unsigned long long seq)
{
	if (t->cfg->webhooks[0] == '\0' ||
	    spool_event_outcome(t->sp, job, rcpt, o, seq, NULL) == 0)
		return 0;
	if (hopeless(errno)) {
		log_warn("job=%s qid=%s outcome recorded; no webhook event",
		    job, qid);
		return 0;
	}
	log_warn("job=%s qid=%s outcome recorded; cannot write its webhook "
	    "event, will try again", job, qid);
	return -1;
}

static int
suppress(struct trackd *t, const char *job, const struct parse_event *ev,
    unsigned long long seq)
{
	if (!t->cfg->suppress_bounces || ev->status != PARSE_BOUNCED ||
	    ev->dsn[0] != '5')
		return 0;
	if (spool_suppress_add(t->sp, ev->rcpt, ev->when, job,
	    ev->reply[0] ? ev->reply : NULL) == -1) {
		if (errno == EINVAL) {
			log_warnx("job=%s qid=%s cannot suppress this address",
			    job, ev->qid);
			return 0;
		}
		log_warn("job=%s qid=%s cannot write the suppression, will "
		    "try again", job, ev->qid);
		t->pend_seq = seq;
		return -1;
	}
	t->pend_seq = 0;
	log_info("job=%s qid=%s suppressed: bounced with %s", job, ev->qid,
	    ev->dsn);
	if (t->verbose)
		log_debug("job=%s suppressed <%s>", job, ev->rcpt);
	return 0;
}

static int
on_rcpt(struct trackd *t, struct parse_event *ev, unsigned long long seq)
{
	struct spool_outcome	o;
	char			job[SPOOL_ID_LEN + 1];
	int			rc;

	if (spool_qid_get(t->sp, ev->qid, job) == -1)
		return hopeless(errno) ? 0 : -1;	/* not the relay's */
	if (pos_close_enough(t, seq >> SEQ_SHIFT) == -1)
		return -1;
	if (t->pend_seq == seq)
		return suppress(t, job, ev, seq);
	memset(&o, 0, sizeof(o));
	o.status = to_spool_status(ev->status);
	o.dsn = ev->dsn[0] ? ev->dsn : NULL;
	o.relay = ev->relay[0] ? ev->relay : NULL;
	o.reply = ev->reply[0] ? ev->reply : NULL;
	o.at = ev->when;
	rc = spool_record_outcome(t->sp, job, ev->qid, ev->rcpt, &o, seq);
	if (rc == 1) {
		/* read again: its event and suppression may be what was lost */
		log_debug("job=%s qid=%s line %llu already recorded", job,
		    ev->qid, seq >> SEQ_SHIFT);
		if (hook_event(t, job, ev->qid, ev->rcpt, &o, seq) == -1)
			return -1;
		return suppress(t, job, ev, seq);
	}
	if (rc == -1) {
		if (!hopeless(errno)) {
			log_warn("job=%s qid=%s cannot record the outcome, "
			    "will try again", job, ev->qid);
			return -1;
		}
		if (errno == ENOENT)
			log_debug("job=%s qid=%s no record any more (expired or "
			    "deleted)", job, ev->qid);
		else if (errno == ESRCH)
			log_warnx("job=%s qid=%s outcome for a recipient the "
			    "job does not have", job, ev->qid);
		else
			log_warn("job=%s qid=%s outcome not recorded", job,
			    ev->qid);
		if (t->verbose)
			log_debug("job=%s qid=%s rcpt=<%s> not recorded", job,
			    ev->qid, ev->rcpt);
		return 0;
	}
	count_outcome(job, o.status, ev->when);
	log_outcome(t, job, ev);
	if (hook_event(t, job, ev->qid, ev->rcpt, &o, seq) == -1)
		return -1;
	return suppress(t, job, ev, seq);
}

/* qmgr returned the message: every recipient still open has expired. */
static int
on_expired(struct trackd *t, const struct parse_event *ev,
    unsigned long long seq)
{
	struct spool_record	rec;
	struct spool_outcome	o;
	char			job[SPOOL_ID_LEN + 1];
	size_t			i;
	int			rc = 0, n = 0, r, again;

	if (spool_qid_get(t->sp, ev->qid, job) == -1)
		return hopeless(errno) ? 0 : -1;
	if (pos_close_enough(t, seq >> SEQ_SHIFT) == -1)
		return -1;
	if (spool_record_read(t->sp, job, &rec) == -1) {
		r = errno;
		spool_record_free(&rec);
		return hopeless(r) ? 0 : -1;
	}
	memset(&o, 0, sizeof(o));
	o.status = SPOOL_RCPT_EXPIRED;
	o.at = ev->when;
	for (i = 0; i < rec.env.nrcpt &&
	    i < ((seq & SEQ_LATE) ? (1u << SEQ_LATE_SHIFT) : SEQ_LATE); i++) {
		/* open ones; and, read again, the ones this line expired */
		again = rec.seq >= seq &&
		    rec.rcptv[i].status == SPOOL_RCPT_EXPIRED &&
		    rec.rcptv[i].at == ev->when;
		if (rec.rcptv[i].status != SPOOL_RCPT_QUEUED &&
		    rec.rcptv[i].status != SPOOL_RCPT_DEFERRED && !again)
			continue;
		r = spool_record_outcome(t->sp, job, ev->qid,
		    rec.rcptv[i].email, &o, seq + i);
		if (r == -1 && !hopeless(errno)) {
			log_warn("job=%s qid=%s cannot record the expiry, "
			    "will try again", job, ev->qid);
			rc = -1;
			break;
		}
		if (r == 0) {
			count_outcome(job, SPOOL_RCPT_EXPIRED, ev->when);
			n++;
		}
		if ((r == 0 || (r == 1 && again)) && hook_event(t, job,
		    ev->qid, rec.rcptv[i].email, &o, seq + i) == -1) {
			rc = -1;
			break;
		}
	}
	spool_record_free(&rec);
	if (n > 0)
		log_err("job=%s qid=%s status=expired rcpt=%d: returned to "
		    "sender", job, ev->qid, n);
	return rc;
}

static int
on_link(struct trackd *t, const struct parse_event *ev)
{
	char	job[SPOOL_ID_LEN + 1];

	if (spool_qid_get(t->sp, ev->qid, job) == 0 &&
	    strcmp(job, ev->job) == 0)
		return 0;		/* read again after a restart */
	if (spool_qid_put(t->sp, ev->qid, ev->job) == -1) {
		log_warn("job=%s qid=%s cannot record the queue id, will try "
		    "again", ev->job, ev->qid);
		return -1;
	}
	log_info("job=%s qid=%s queued by postfix", ev->job, ev->qid);
	return 0;
}

static int
on_line(const char *line, size_t len, unsigned long long lineno,
    unsigned late, void *arg)
{
	struct trackd		*t = arg;
	struct parse_event	 ev;
	unsigned long long	 seq = lineno << SEQ_SHIFT;

	/* a late line: after line lineno, before the next (see follow.h) */
	if (late > 0)
		seq |= SEQ_LATE | (unsigned long long)(late < SEQ_LATE_MAX ?
		    late : SEQ_LATE_MAX) << SEQ_LATE_SHIFT;
	time_t			 now = time(NULL);

	switch (parse_line(line, len, t->cfg->message_id_domain, now, &ev)) {
	case PARSE_LINK:
		return on_link(t, &ev);
	case PARSE_RCPT:
		if (ev.when == 0)
			ev.when = now;
		return on_rcpt(t, &ev, seq);
	case PARSE_EXPIRED:
		if (ev.when == 0)
			ev.when = now;
		return on_expired(t, &ev, seq);
	case PARSE_REMOVED:		/* the qid/ entry stays with the record */
		return 0;
	}
	return 0;
}

/* The poll timeout: a pending save or retry, else none (-1). */
static int
next_timeout(struct trackd *t)
{
	struct spool_track_pos	pos;
	long long		now = now_ms(), due = -1;

	follow_pos(&t->fl, &pos);
	if (memcmp(&pos, &t->saved, sizeof(pos)) != 0)
		due = t->last_save + SAVE_INTERVAL_MS;
	if (t->retry_at != 0 && (due == -1 || t->retry_at < due))
		due = t->retry_at;
	if (follow_timeout(&t->fl) != -1 &&
	    (due == -1 || now + follow_timeout(&t->fl) < due))
		due = now + follow_timeout(&t->fl);
	if (due == -1)
		return -1;
	if (due <= now)
		return 0;
	return due - now > INT_MAX ? INT_MAX : (int)(due - now);
}

/* ---- events ---- */

static void
reload(struct trackd *t)
{
	struct cfg	*nc;

	t->want_reload = 0;
	if ((nc = daemon_reload_cfg(t->cfgpath, t->cfg)) == NULL)
		return;
	if (strcmp(nc->postfix_log, t->cfg->postfix_log) != 0)
		log_warnx("reload: postfix_log changes only on restart; still "
		    "using %s", t->cfg->postfix_log);
	(void)snprintf(nc->postfix_log, sizeof(nc->postfix_log), "%s",
	    t->cfg->postfix_log);
	free(t->cfg);
	t->cfg = nc;
	log_info("reloaded %s", t->cfgpath);
}

/* Reads the log; a refused line is retried with a growing delay. */
static void
run_follower(struct trackd *t)
{
	long long	now = now_ms();

	if (t->retry_at != 0 && now < t->retry_at)
		return;
	for (;;) {
		if (t->fl.moved) {
			/* a truncation or a new file: saved before reading on */
			if (save_pos(t) == -1) {
				errno = ECANCELED;	/* said already */
				goto fail;
			}
			t->fl.moved = 0;
		}
		if (follow_run(&t->fl, on_line, t) == -1)
			goto fail;
		if (!t->fl.moved)
			break;
	}
	if (t->retry_at != 0)
		log_info("records are written again");
	t->retry_at = 0;
	t->retry_ms = RETRY_MIN_MS;
	if (now - t->last_save >= SAVE_INTERVAL_MS)
		(void)save_pos(t);
	return;
fail:
	if (errno != ECANCELED)
		log_warn("reading %s", t->cfg->postfix_log);
	t->retry_at = now + t->retry_ms;
	if (t->retry_ms < RETRY_MAX_MS)
		t->retry_ms *= 2;
}

/* ---- setup ---- */

static void
open_spool(struct trackd *t)
{
	if ((t->sp = spool_open(t->cfg->spool)) == NULL)
		fatal(EX_CANTCREAT, "spool %s", t->cfg->spool);
	if (spool_track_lock(t->sp) == -1) {
		if (errno == EWOULDBLOCK)
			fatalx(EX_TEMPFAIL, "another trackd is running on %s "
			    "(trackd.lock is held)", t->cfg->spool);
		fatal(EX_CANTCREAT, "%s/trackd.lock", t->cfg->spool);
	}
}

static void
open_log(struct trackd *t)
{
	struct spool_track_pos	pos;
	int			first = 0;

	if (spool_track_pos_load(t->sp, &pos) == -1) {
		if (errno != ENOENT)
			fatal(EX_DATAERR, "%s/track.pos", t->cfg->spool);
		first = 1;
	}
	if (follow_open(&t->fl, t->cfg->postfix_log, first ? NULL : &pos)
	    == -1)
		fatal(EX_NOINPUT, "cannot follow %s", t->cfg->postfix_log);
	if (t->fl.fd == -1 && access(t->cfg->postfix_log, F_OK) == 0)
		fatal(EX_NOINPUT, "cannot read %s", t->cfg->postfix_log);
	if (first) {
		/* from here on nothing is missed, even across a restart */
		memset(&t->saved, 0xff, sizeof(t->saved));
		save_pos(t);
		if (t->saved.seq == ~0ULL)
			fatalx(EX_CANTCREAT, "cannot save the first position");
	} else
		t->saved = pos;
	log_info("started: following %s%s from line %llu", t->cfg->postfix_log,
	    t->fl.fd == -1 ? " (not there yet)" : "", t->fl.seq);
}

static void
init(struct trackd *t)
{
	sigset_t	set;
	char		err[512];

	daemon_block_signals(&set);
	daemon_std_fds();
	if ((t->cfg = malloc(sizeof(*t->cfg))) == NULL)
		fatal(EX_OSERR, "malloc");
	if (cfg_load(t->cfgpath, t->cfg, err, sizeof(err)) == -1)
		fatalx(EX_CONFIG, "%s", err);
	if (t->cfg->postfix_log[0] == '\0')
		fatalx(EX_CONFIG, "%s: postfix_log is not set: without "
		    "Postfix's log there is nothing to follow (delivery "
		    "records stop at \"sent\")", t->cfgpath);
	open_spool(t);
	t->sigfd = daemon_signalfd(&set);
	daemon_drop_privileges(t->cfg->user, t->sp);
	metrics_setup(t);
	open_log(t);
	t->retry_ms = RETRY_MIN_MS;
}

/*
 * The loop: read what the log gained, save the position when due, sleep
 * in poll.  It logs and carries on; it never dies.
 */
static void
loop(struct trackd *t)
{
	struct pollfd	pfd[2];

	run_follower(t);
	for (;;) {
		pfd[0].fd = t->sigfd;
		pfd[1].fd = follow_fd(&t->fl);
		pfd[0].events = pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		if (poll(pfd, 2, next_timeout(t)) == -1 && errno != EINTR)
			log_warn("poll");
		if (pfd[0].revents & POLLIN)
			daemon_read_signals(t->sigfd, &t->want_reload,
			    &t->want_term);
		if (t->want_term)
			break;
		if (t->want_reload)
			reload(t);
		if ((pfd[1].revents & POLLIN) || t->retry_at != 0 ||
		    follow_timeout(&t->fl) == 0)
			run_follower(t);
		if (next_timeout(t) == 0)
			save_pos(t);
	}
}

int
main(int argc, char *argv[])
{
	struct trackd	 t;
	const char	*cfgarg = NULL;
	int		 ch, debug = 0;

	/* args */
	memset(&t, 0, sizeof(t));
	while ((ch = getopt(argc, argv, "c:dv")) != -1) {
		switch (ch) {
		case 'c':
			cfgarg = optarg;
			break;
		case 'd':
			debug = 1;
			break;
		case 'v':
			t.verbose = 1;
			break;
		default:
			usage();
		}
	}
	if (optind != argc)
		usage();
	t.cfgpath = cfg_path(cfgarg);
	log_init("trackd", debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, t.verbose);

	/* init: may die */
	init(&t);

	/* loop: must not die */
	loop(&t);

	/* finish */
	save_pos(&t);
	log_info("exiting on signal at line %llu", t.fl.seq);
	follow_close(&t.fl);
	spool_close(t.sp);
	free(t.cfg);
	return EX_OK;
}
