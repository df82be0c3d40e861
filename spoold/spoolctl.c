/*
 * spoolctl: look at and steer the spool.  Every change goes through the
 * spool module's race rules (spool.h): spoolctl renames jobs in and out of
 * pending/, rewrites them only in held/ and failed/, makes pending jobs due
 * with utimensat, and never touches processing/.  It works whether or not
 * spoold runs.
 */
#define _GNU_SOURCE
#include <sys/types.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "priv.h"
#include "spool.h"
#include "spoolctl_hooks.h"
#include "spoolctl_out.h"
#include "spoolctl_rec.h"
#include "text.h"

#define EX_BADID	EX_USAGE	/* not a job id at all */
#define EX_UNKNOWN	EX_NOINPUT	/* no such job */
#define EX_STATE	EX_DATAERR	/* wrong state for the command */
#define EX_BUSY		EX_TEMPFAIL	/* spoold is delivering it */
#define HEADERS_MAX	65536

struct ctl {
	struct spool	*sp;
	int		 json;
	int		 raw;
	int		 failed;	/* retry --failed */
	int		 state;		/* list --state, -1: all */
	int		 rc;		/* first non-zero exit status */
	time_t		 now;
	time_t		 retention;	/* track_retention */
};

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr,
	    "usage: spoolctl [-c config] list [--state STATE] [--json]\n"
	    "       spoolctl [-c config] show ID [--raw | --json]\n"
	    "       spoolctl [-c config] retry ID... | --failed\n"
	    "       spoolctl [-c config] hold | release | delete ID...\n"
	    "       spoolctl [-c config] flush\n"
	    "       spoolctl [-c config] stats [--json]\n"
	    "       spoolctl [-c config] suppressed [--json]\n"
	    "       spoolctl [-c config] suppress | unsuppress ADDRESS\n"
	    "       spoolctl [-c config] hooks [--json]\n"
	    "       spoolctl [-c config] hooks retry ID... | --failed\n");
	exit(EX_USAGE);
}

static void
fail_with(struct ctl *c, int ex, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
fail_with(struct ctl *c, int ex, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "spoolctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (c->rc == 0)
		c->rc = ex;
}

/* "42s", "5m", "3h", "2d" */
static const char *
span(time_t secs, char *buf, size_t size)
{
	if (secs < 0)
		secs = 0;
	if (secs < 120)
		snprintf(buf, size, "%llds", (long long)secs);
	else if (secs < 2 * 3600)
		snprintf(buf, size, "%lldm", (long long)secs / 60);
	else if (secs < 2 * 86400)
		snprintf(buf, size, "%lldh", (long long)secs / 3600);
	else
		snprintf(buf, size, "%lldd", (long long)secs / 86400);
	return buf;
}

/*
 * Reports a job that no longer exists or that spoold holds right now;
 * returns its state, which the caller reports when it is another one.
 */
static int
gone_or_busy(struct ctl *c, const char *id)
{
	int	state;

	if ((state = spool_find(c->sp, id)) == -1)
		fail_with(c, EX_UNKNOWN, "%s: no such job", id);
	else if (state == SPOOL_PROCESSING)
		fail_with(c, EX_BUSY, "%s: spoold is delivering it right now; "
		    "try again", id);
	return state;
}

/* Why a job id given by the user is not in the state wanted. */
static void
explain(struct ctl *c, const char *id, const char *cmd, const char *want)
{
	int	state;

	if ((state = gone_or_busy(c, id)) != -1 && state != SPOOL_PROCESSING)
		fail_with(c, EX_STATE, "%s: cannot %s a %s job (only %s)", id,
		    cmd, spool_state_name(state), want);
}

/* A job that vanished from under a command that looked everywhere. */
static void
moved(struct ctl *c, const char *id)
{
	int	state;

	if ((state = gone_or_busy(c, id)) != -1 && state != SPOOL_PROCESSING)
		fail_with(c, EX_BUSY, "%s: changed state meanwhile (now %s); "
		    "try again", id, spool_state_name(state));
}

/* ---- list and show ---- */

/*
 * A pending job the caller scheduled that is not yet due is listed as
 * "scheduled", apart from the due and deferred ones.
 */
static const char *
job_state(const struct ctl *c, const struct spool_job *job)
{
	if (job->state == SPOOL_PENDING && job->env.scheduled > 0 &&
	    job->attempts == 0 && job->next > c->now)
		return "scheduled";
	return spool_state_name(job->state);
}

static cJSON *
job_json(struct ctl *c, const struct spool_job *job)
{
	cJSON	*o, *r;
	size_t	 i;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", job->id);
	cJSON_AddStringToObject(o, "state", job_state(c, job));
	cJSON_AddNumberToObject(o, "created", (double)job->env.created);
	if (job->env.scheduled > 0)
		cJSON_AddNumberToObject(o, "scheduled_at",
		    (double)job->env.scheduled);
	cJSON_AddNumberToObject(o, "age", (double)(c->now - job->env.created));
	cJSON_AddNumberToObject(o, "attempts", job->attempts);
	cJSON_AddNumberToObject(o, "next_attempt", (double)job->next);
	cJSON_AddBoolToObject(o, "due", job->state == SPOOL_PENDING &&
	    job->next <= c->now);
	cJSON_AddStringToObject(o, "caller", job->env.caller);
	cJSON_AddStringToObject(o, "message_id", job->env.message_id);
	cJSON_AddStringToObject(o, "sender", job->env.sender);
	ctl_json_addr(o, &job->env);
	r = cJSON_AddArrayToObject(o, "recipients");
	for (i = 0; i < job->env.nrcpt; i++)
		cJSON_AddItemToArray(r, cJSON_CreateString(job->env.rcpt[i]));
	cJSON_AddStringToObject(o, "subject", job->env.subject);
	if (job->error != NULL)
		cJSON_AddStringToObject(o, "error", job->error);
	else
		cJSON_AddNullToObject(o, "error");
	cJSON_AddNumberToObject(o, "size", (double)(job->size - job->msg_off));
	return o;
}

static cJSON *
corrupt_json(const char *id, int state)
{
	cJSON	*o;

	if ((o = cJSON_CreateObject()) == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "id", id);
	cJSON_AddStringToObject(o, "state", spool_state_name(state));
	cJSON_AddBoolToObject(o, "corrupt", 1);
	cJSON_AddStringToObject(o, "error", "not a valid job file");
	return o;
}

static void
job_line(struct ctl *c, const struct spool_job *job)
{
	char	age[32], next[32];
	size_t	i;

	if (job->state != SPOOL_PENDING)
		snprintf(next, sizeof(next), "-");
	else if (job->next <= c->now)
		snprintf(next, sizeof(next), "now");
	else {
		next[0] = '+';
		span(job->next - c->now, next + 1, sizeof(next) - 1);
	}
	printf("%s  %-10s %5s %3d %6s  %s ->", job->id, job_state(c, job),
	    span(c->now - job->env.created, age, sizeof(age)), job->attempts,
	    next, job->env.sender);
	for (i = 0; i < job->env.nrcpt; i++)
		printf("%s%s", i ? ", " : " ", job->env.rcpt[i]);
	printf("\n    subject: ");
	ctl_put_safe(job->env.subject);
	if (job->error != NULL) {
		printf("\n    error: ");
		ctl_put_safe(job->error);
	}
	printf("\n");
}

/* Prints one job of a listing, or adds it to arr; 0 if it is gone. */
static int
list_one(struct ctl *c, int state, const char *id, cJSON *arr)
{
	struct spool_job	job;

	if (state == SPOOL_SENT) {
		ctlrec_list_one(c->sp, id, arr, c->now);
		return 1;
	}
	if (spool_read(c->sp, state, id, &job) == -1) {
		if (errno == ENOENT)
			return 0;	/* moved on meanwhile */
		if (arr != NULL)
			cJSON_AddItemToArray(arr, corrupt_json(id, state));
		else
			printf("%s  %-10s (unreadable: %s)\n", id,
			    spool_state_name(state), strerror(errno));
		return 1;
	}
	if (arr != NULL)
		cJSON_AddItemToArray(arr, job_json(c, &job));
	else
		job_line(c, &job);
	spool_job_free(&job);
	return 1;
}

static void
print_json(struct ctl *c, cJSON *o)
{
	if (ctl_print_json(o) != 0 && c->rc == 0)
		c->rc = EX_OSERR;
}

static void
cmd_list(struct ctl *c)
{
	struct spool_entry	*v;
	cJSON			*arr = NULL;
	size_t			 i, n, shown = 0;
	int			 s;

	if (c->json && (arr = cJSON_CreateArray()) == NULL)
		fail_with(c, EX_OSERR, "out of memory");
	for (s = 0; s < SPOOL_NSTATES; s++) {
		if (c->state != -1 && s != c->state)
			continue;
		if (spool_scan(c->sp, s, &v, &n) == -1) {
			fail_with(c, EX_IOERR, "cannot list %s: %s",
			    spool_state_name(s), strerror(errno));
			continue;
		}
		for (i = 0; i < n; i++)
			shown += list_one(c, s, v[i].id, arr);
		free(v);
	}
	if (c->json)
		print_json(c, arr);
	else if (shown == 0 && c->rc == 0 && c->state != -1)
		printf("no %s jobs\n", spool_state_name(c->state));
	else if (shown == 0 && c->rc == 0)
		printf("queue is empty\n");
}

/* The message's header section, as far as the first empty line. */
static void
print_headers(const struct spool_job *job)
{
	char	*buf, *end;
	ssize_t	 n;
	size_t	 want = job->size - job->msg_off;

	if (want > HEADERS_MAX)
		want = HEADERS_MAX;
	if ((buf = malloc(want + 1)) == NULL)
		return;
	if ((n = pread(job->fd, buf, want, job->msg_off)) < 0)
		n = 0;
	buf[n] = '\0';
	if ((end = strstr(buf, "\n\n")) != NULL)
		end[1] = '\0';
	printf("headers:\n%s", buf);
	if (n > 0 && buf[strlen(buf) - 1] != '\n')
		printf("\n");
	free(buf);
}

static int
copy_message(const struct spool_job *job)
{
	char	buf[65536];
	off_t	off = job->msg_off;
	ssize_t	n;

	while ((n = pread(job->fd, buf, sizeof(buf), off)) > 0) {
		if (fwrite(buf, 1, n, stdout) != (size_t)n)
			return -1;
		off += n;
	}
	return n == 0 && fflush(stdout) == 0 ? 0 : -1;
}

static void
show_text(struct ctl *c, const struct spool_job *job)
{
	char	t1[64], t2[64], a[32];
	size_t	i;

	printf("id: %s\nstate: %s\ncaller: %s\nmessage-id: <%s>\n", job->id,
	    spool_state_name(job->state), job->env.caller,
	    job->env.message_id);
	printf("created: %s (%s ago)\nattempts: %d\n",
	    ctl_iso(job->env.created, t1, sizeof(t1)),
	    span(c->now - job->env.created, a, sizeof(a)), job->attempts);
	if (job->state == SPOOL_PENDING)
		printf("next attempt: %s%s\n",
		    ctl_iso(job->next, t2, sizeof(t2)),
		    job->next <= c->now ? " (due)" : "");
	printf("sender: %s\n", job->env.sender);
	for (i = 0; i < job->env.nrcpt; i++)
		printf("rcpt: %s\n", job->env.rcpt[i]);
	ctl_put_addr(&job->env);
	printf("subject: ");
	ctl_put_safe(job->env.subject);
	if (job->error != NULL) {
		printf("\nerror: ");
		ctl_put_safe(job->error);
	}
	printf("\n");
	printf("size: %lld\n", (long long)(job->size - job->msg_off));
	print_headers(job);
}

static void
cmd_show(struct ctl *c, const char *id)
{
	struct spool_job	job;
	int			state;

	if ((state = spool_find(c->sp, id)) == -1) {
		fail_with(c, EX_UNKNOWN, "%s: no such job", id);
		return;
	}
	if (state == SPOOL_SENT) {	/* handed over: its delivery record */
		if (c->raw)
			fail_with(c, EX_STATE, "%s: handed over; the message "
			    "is no longer kept", id);
		else if ((state = ctlrec_show(c->sp, id, c->json, c->now)) != 0
		    && c->rc == 0)
			c->rc = state;
		return;
	}
	if (spool_read(c->sp, state, id, &job) == -1) {
		if (errno == ENOENT)
			moved(c, id);
		else
			fail_with(c, errno == EBADMSG ? EX_DATAERR : EX_IOERR,
			    "%s: %s", id, errno == EBADMSG ?
			    "not a valid job file" : strerror(errno));
		return;
	}
	if (c->raw) {
		if (copy_message(&job) == -1)
			fail_with(c, EX_IOERR, "%s: %s", id, strerror(errno));
	} else if (c->json)
		print_json(c, job_json(c, &job));
	else
		show_text(c, &job);
	spool_job_free(&job);
}

/* ---- changes ---- */

static void
cmd_hold(struct ctl *c, const char *id)
{
	if (spool_hold(c->sp, id) == 0) {
		log_info("job=%s held by uid %ld", id, (long)getuid());
		printf("%s: held\n", id);
		return;
	}
	if (errno == ENOENT && spool_find(c->sp, id) == SPOOL_HELD) {
		printf("%s: already held\n", id);
		return;
	}
	if (errno == ENOENT)
		explain(c, id, "hold", "pending");
	else
		fail_with(c, EX_IOERR, "%s: %s", id, strerror(errno));
}

static void
cmd_release(struct ctl *c, const char *id)
{
	if (spool_release(c->sp, id) == 0) {
		log_info("job=%s released by uid %ld", id, (long)getuid());
		printf("%s: released, due now\n", id);
	} else if (errno == ENOENT)
		explain(c, id, "release", "held");
	else
		fail_with(c, EX_IOERR, "%s: %s", id, strerror(errno));
}

static void
cmd_retry(struct ctl *c, const char *id)
{
	int	state = spool_find(c->sp, id);

	if (spool_retry(c->sp, id) == 0) {
		log_info("job=%s retried by uid %ld (was %s)", id,
		    (long)getuid(), spool_state_name(state));
		printf("%s: pending, due now\n", id);
	} else if (errno == ENOENT || errno == EBUSY)
		moved(c, id);
	else if (errno == EALREADY)
		fail_with(c, EX_STATE, "%s: cannot retry a sent job: it was "
		    "handed over", id);
	else if (errno == EBADMSG)
		fail_with(c, EX_DATAERR, "%s: not a valid job file", id);
	else
		fail_with(c, EX_IOERR, "%s: %s", id, strerror(errno));
}

static void
cmd_delete(struct ctl *c, const char *id)
{
	int	state = -1;

	if (spool_delete(c->sp, id, &state) == 0) {
		log_info("job=%s deleted by uid %ld (was %s)", id,
		    (long)getuid(), spool_state_name(state));
		printf("%s: deleted (was %s)\n", id, spool_state_name(state));
	} else if (errno == ENOENT || errno == EBUSY)
		moved(c, id);
	else
		fail_with(c, EX_IOERR, "%s: %s", id, strerror(errno));
}

static void
cmd_retry_failed(struct ctl *c)
{
	struct spool_entry	*v;
	size_t			 i, n;

	if (spool_scan(c->sp, SPOOL_FAILED, &v, &n) == -1) {
		fail_with(c, EX_IOERR, "cannot list failed: %s",
		    strerror(errno));
		return;
	}
	for (i = 0; i < n; i++)
		cmd_retry(c, v[i].id);
	if (n == 0)
		printf("no failed jobs\n");
	free(v);
}

static void
cmd_flush(struct ctl *c)
{
	int	n;

	if ((n = spool_flush(c->sp, c->now)) == -1) {
		fail_with(c, EX_IOERR, "flush: %s", strerror(errno));
		return;
	}
	log_info("flush by uid %ld: %d jobs made due", (long)getuid(), n);
	printf("%d job%s made due now\n", n, n == 1 ? "" : "s");
	if (!spool_daemon_running(c->sp))
		fprintf(stderr, "spoolctl: warning: spoold is not running\n");
}

static void
cmd_stats(struct ctl *c)
{
	struct spool_entry	*v;
	cJSON			*o, *r;
	long			 count[SPOOL_NSTATES];
	long			 rcpt[SPOOL_RCPT_NSTATUS], supp, batches;
	time_t			 oldest = 0, due;
	size_t			 n;
	int			 s, running;
	char			 a[32], b[32];

	for (s = 0; s < SPOOL_NSTATES; s++) {
		if ((count[s] = spool_count(c->sp, spool_state_name(s))) == -1)
			fail_with(c, EX_IOERR, "cannot count %s: %s",
			    spool_state_name(s), strerror(errno));
	}
	if (spool_scan(c->sp, SPOOL_PENDING, &v, &n) == 0) {
		if (n > 0)
			oldest = (time_t)(spool_id_usec(v[0].id) / 1000000);
		free(v);
	}
	due = spool_oldest_due(c->sp, c->now);
	running = spool_daemon_running(c->sp);
	if (ctlrec_count(c->sp, c->now - c->retention, rcpt) == -1)
		fail_with(c, EX_IOERR, "cannot count records: %s",
		    strerror(errno));
	if ((supp = spool_suppress_count(c->sp)) == -1)
		fail_with(c, EX_IOERR, "cannot count suppressed: %s",
		    strerror(errno));
	if ((batches = spool_batch_count(c->sp)) == -1)
		fail_with(c, EX_IOERR, "cannot count batches: %s",
		    strerror(errno));
	if (c->json) {
		if ((o = cJSON_CreateObject()) == NULL) {
			fail_with(c, EX_OSERR, "out of memory");
			return;
		}
		for (s = 0; s < SPOOL_NSTATES; s++)
			cJSON_AddNumberToObject(o, spool_state_name(s), count[s]);
		cJSON_AddNumberToObject(o, "batches", batches);
		if (oldest)
			cJSON_AddNumberToObject(o, "oldest_pending_age",
			    (double)(c->now - oldest));
		else
			cJSON_AddNullToObject(o, "oldest_pending_age");
		if (due)
			cJSON_AddNumberToObject(o, "oldest_due_age",
			    (double)(c->now - due));
		else
			cJSON_AddNullToObject(o, "oldest_due_age");
		cJSON_AddBoolToObject(o, "spoold", running);
		cJSON_AddBoolToObject(o, "trackd", spool_track_running(c->sp));
		r = cJSON_AddObjectToObject(o, "recipients");
		for (s = 0; s < SPOOL_RCPT_NSTATUS; s++)
			cJSON_AddNumberToObject(r, spool_rcpt_status_name(s),
			    rcpt[s]);
		cJSON_AddNumberToObject(o, "suppressed", supp);
		print_json(c, o);
		return;
	}
	for (s = 0; s < SPOOL_NSTATES; s++)
		printf("%-11s %ld\n", spool_state_name(s), count[s]);
	printf("%-11s %ld\n", "batches", batches);
	printf("oldest pending %s\noldest due     %s\nspoold         %s\n",
	    oldest ? span(c->now - oldest, a, sizeof(a)) : "-",
	    due ? span(c->now - due, b, sizeof(b)) : "-",
	    running ? "running" : "not running");
	printf("trackd         %s\n", spool_track_running(c->sp) ? "running" :
	    "not running");
	printf("recipients in the last %s:", span(c->retention, a, sizeof(a)));
	for (s = 0; s < SPOOL_RCPT_NSTATUS; s++)
		printf("%s %ld %s", s ? "," : "", rcpt[s],
		    spool_rcpt_status_name(s));
	printf("\nsuppressed     %ld\n", supp);
}

/* ---- main ---- */

/* Command options after the command name; the rest are ids. */
static int
parse_opts(struct ctl *c, const char *cmd, int argc, char **argv,
    char **ids)
{
	int	i, n = 0;

	for (i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0 &&
		    (!strcmp(cmd, "list") || !strcmp(cmd, "stats") ||
		    !strcmp(cmd, "show") || !strcmp(cmd, "suppressed")))
			c->json = 1;
		else if (strcmp(argv[i], "--raw") == 0 && !strcmp(cmd, "show"))
			c->raw = 1;
		else if (strcmp(argv[i], "--failed") == 0 &&
		    !strcmp(cmd, "retry"))
			c->failed = 1;
		else if (strcmp(argv[i], "--state") == 0 &&
		    !strcmp(cmd, "list") && i + 1 < argc) {
			if ((c->state = spool_state_parse(argv[++i])) == -1) {
				fprintf(stderr, "spoolctl: unknown state %s "
				    "(pending, processing, held, failed, "
				    "sent)\n",
				    argv[i]);
				exit(EX_USAGE);
			}
		} else if (argv[i][0] == '-')
			usage();
		else if (!strcmp(cmd, "suppress") || !strcmp(cmd, "unsuppress"))
			ids[n++] = argv[i];	/* an address, checked later */
		else if (!spool_id_valid(argv[i])) {
			fprintf(stderr, "spoolctl: %s: not a job id\n",
			    argv[i]);
			exit(EX_BADID);
		} else
			ids[n++] = argv[i];
	}
	return n;
}

/*
 * Root works on a spool as the spool's owner, so files stay readable.  If
 * it cannot become the owner, it stops rather than go on as root.
 */
static void
become_owner(struct spool *sp)
{
	uid_t	uid;
	gid_t	gid;

	if (geteuid() != 0)
		return;
	if (spool_owner(sp, &uid, &gid) == -1) {
		fprintf(stderr, "spoolctl: cannot find the spool's owner, "
		    "not going on as root: %s\n", strerror(errno));
		exit(EX_OSERR);
	}
	if (uid == 0)
		return;			/* root's own spool: nothing to give up */
	if (priv_drop(uid, gid) == -1) {
		fprintf(stderr, "spoolctl: cannot become the spool's owner "
		    "(uid %lu), not going on as root: %s\n",
		    (unsigned long)uid, strerror(errno));
		exit(EX_OSERR);
	}
}

static void
run(struct ctl *c, const char *cmd, char **ids, int nids)
{
	void	(*each)(struct ctl *, const char *) = NULL;
	int	i;

	if (!strcmp(cmd, "suppress") || !strcmp(cmd, "unsuppress")) {
		if (nids != 1)
			usage();
		c->rc = !strcmp(cmd, "suppress") ?
		    ctlrec_suppress(c->sp, ids[0], c->now) :
		    ctlrec_unsuppress(c->sp, ids[0]);
		return;
	}
	if (!strcmp(cmd, "list") || !strcmp(cmd, "stats") ||
	    !strcmp(cmd, "flush") || !strcmp(cmd, "suppressed") ||
	    (!strcmp(cmd, "retry") && c->failed)) {
		if (nids != 0)
			usage();
		if (!strcmp(cmd, "suppressed")) {
			c->rc = ctlrec_suppressed(c->sp, c->json);
			return;
		}
		if (!strcmp(cmd, "list"))
			cmd_list(c);
		else if (!strcmp(cmd, "stats"))
			cmd_stats(c);
		else if (!strcmp(cmd, "flush"))
			cmd_flush(c);
		else
			cmd_retry_failed(c);
		return;
	}
	if (!strcmp(cmd, "show")) {
		if (nids != 1 || (c->raw && c->json))
			usage();
		each = cmd_show;
	} else if (!strcmp(cmd, "retry"))
		each = cmd_retry;
	else if (!strcmp(cmd, "hold"))
		each = cmd_hold;
	else if (!strcmp(cmd, "release"))
		each = cmd_release;
	else if (!strcmp(cmd, "delete"))
		each = cmd_delete;
	if (each == NULL || nids == 0)
		usage();
	for (i = 0; i < nids; i++)
		each(c, ids[i]);
}

int
main(int argc, char *argv[])
{
	struct ctl	 c;
	struct cfg	*cfg;
	const char	*cfgarg = NULL, *cmd;
	char		 err[512], **ids;
	int		 ch, nids;

	memset(&c, 0, sizeof(c));
	c.state = -1;
	while ((ch = getopt(argc, argv, "+c:")) != -1) {
		if (ch != 'c')
			usage();
		cfgarg = optarg;
	}
	if (optind >= argc)
		usage();
	cmd = argv[optind++];
	if ((ids = calloc(argc, sizeof(*ids))) == NULL)
		return EX_OSERR;
	nids = strcmp(cmd, "hooks") == 0 ? 0 :
	    parse_opts(&c, cmd, argc - optind, argv + optind, ids);

	log_init("spoolctl", LOG_TO_SYSLOG, 0);
	if ((cfg = malloc(sizeof(*cfg))) == NULL)
		return EX_OSERR;
	if (cfg_load(cfg_path(cfgarg), cfg, err, sizeof(err)) == -1) {
		fprintf(stderr, "spoolctl: %s\n", err);
		return EX_CONFIG;
	}
	if ((c.sp = spool_attach(cfg->spool)) == NULL) {
		fprintf(stderr, "spoolctl: spool %s: %s\n", cfg->spool,
		    strerror(errno));
		return EX_IOERR;
	}
	become_owner(c.sp);
	c.now = spool_now();
	c.retention = cfg->track_retention;
	if (strcmp(cmd, "hooks") == 0)
		c.rc = ctlhooks_run(c.sp, argc - optind, argv + optind, c.now);
	else
		run(&c, cmd, ids, nids);
	if (fflush(stdout) == EOF && c.rc == 0)
		c.rc = EX_IOERR;
	spool_close(c.sp);
	free(cfg);
	free(ids);
	return c.rc;
}
