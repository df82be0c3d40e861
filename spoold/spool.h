/*
 * spool: the one home of the spool layout and of the job file format.
 * Only spool.c and spool_*.c build spool paths, read or write job files,
 * and rename or unlink anything in the spool.  See spool(5).
 *
 * Layout under the spool directory (all 0700, files 0600):
 *
 *	tmp/		files being written; never a job
 *	pending/	queued jobs; a job is due when its mtime <= now
 *	processing/	the job spoold is handing to sendmail
 *	held/		jobs kept out of the drain by spoolctl hold
 *	failed/		jobs that failed for good
 *	sent/		records of jobs handed to sendmail (no message body)
 *	canceled/	scheduled jobs canceled before they were due
 *	qid/		Postfix queue id -> job id, one file per queue id
 *	suppress/	suppressed recipient addresses, one file each
 *	idem/		Idempotency-Key records
 *	batch/		committed batches of jobs (POST /emails/batch) not
 *			yet split into pending/, one file each
 *	events/		webhook events waiting for hookd, one file each
 *	events-failed/	events hookd gave up on (webhook_max_age)
 *	events-state/	hookd's delivery state of an event
 *	metrics/	one file of counters per program (metrics.h); not
 *			durable, remade at every program start
 *	spoold.lock	write-locked (fcntl F_SETLK) by the running spoold
 *	trackd.lock	write-locked (fcntl F_SETLK) by the running trackd
 *	track.pos	trackd's position in Postfix's log
 *
 * States of job <id>, as the files that exist:
 *
 *	state		files			who moves it out
 *	-----		-----			----------------
 *	writing		tmp/<id>		the writer: rename to pending/
 *	pending		pending/<id>		spoold (claim), spoolctl (hold,
 *						delete)
 *	processing	processing/<id>		spoold only (done, defer, fail)
 *	deferring	tmp/<id> +		spoold: rename tmp/<id> over to
 *			processing/<id>		pending/, then unlink the
 *						processing copy
 *	held		held/<id>		spoolctl (release, retry, delete)
 *	failed		failed/<id>		spoolctl (retry, delete)
 *	sent		sent/<id>		spoold (expiry), spoolctl delete;
 *						trackd rewrites it in place
 *						(outcomes) through tmp/
 *	rescheduling	tmp/<id>.sched +	relay-fcgi: exchange it with
 *			pending/<id>		pending/<id>, unlink the old
 *	canceled	canceled/<id>		spoold (expiry), spoolctl delete
 *	(gone)		(none)			-
 *
 * States of batch <bid> (POST /emails/batch: an id like a job's, the
 * request's), as the files that exist:
 *
 *	state		files			who moves it out
 *	-----		-----			----------------
 *	writing		tmp/batch.<bid>		relay-fcgi: rename to batch/
 *	splitting	batch/<bid> [+ some of	relay-fcgi, holding its flock
 *			its jobs as above]
 *	split		batch/<bid> + its jobs	spoold, once that lock is free:
 *			as above		syncfs, unlink (or the rest of
 *						the split, if relay-fcgi died)
 *	(gone)		(none)			-
 *
 * The batch file is written, fsynced, renamed into batch/ and batch/ is
 * fsynced: the one commit point of all its jobs, whose ids are fixed in
 * it.  The splitter holds an exclusive flock(2) on it from creation to
 * removal, so two never split it.  Splitting writes each job to tmp/<id>
 * without a flush and renames it into pending/ (RENAME_NOREPLACE), in the
 * file's order, then lets go of the lock: relay-fcgi answers only then, so
 * every id it returns is in pending/ (or further) by then.  The jobs'
 * bytes are durable in the batch file meanwhile; spoold, told by the
 * close (IN_CLOSE_WRITE on batch/), at start and hourly, takes every batch
 * whose lock is free, makes each of its jobs that exists in no state
 * (none, after a whole split; sent/ records count as a state), makes them
 * all durable with one syncfs(2) for up to 64 batches (group commit), and
 * only then unlinks the batch files.  A crash at any point resumes the
 * same way: a job lost with an unsynced directory entry is made again, a
 * job already claimed, sent, held or canceled is not.  So before spoolctl
 * moves or removes a job (hold, release, retry, delete), it finishes
 * every batch in batch/ the same way (spool_batch_settle, waiting for a
 * splitter's lock): a job it deletes is never made again.
 *
 * States of webhook event <eid> (an id like a job's, made by the
 * producer), as the files that exist:
 *
 *	state		files			who moves it out
 *	-----		-----			----------------
 *	writing		tmp/ev.<eid>		the producer (spoold, trackd,
 *						relay-fcgi): rename to events/
 *	pending		events/<eid> [+		hookd: unlink after a 2xx
 *			events-state/<eid>]	(done), rename to failed
 *	failed		events-failed/<eid> +	spoolctl hooks retry: rename
 *			events-state/<eid>	back to events/
 *	(gone)		(none)			-
 *
 * An event file never changes after the rename; hookd rewrites only
 * events-state/<eid> (tmp/evs.<eid>, fsync, rename, fsync), and a missing
 * state file means attempts 0, due now.  hookd delivers every file in
 * events/ at least once: a crash between the 2xx and the unlink sends it
 * again with the same webhook-id.  spoolctl hooks retry rewrites the
 * state (attempts 0, the age window from now) before it renames the event
 * back, or touches a pending one (IN_ATTRIB).
 *
 * Transitions, each one rename(2) or unlink(2):
 *
 *	tmp -> pending		enqueue (commit point), defer, spoolctl retry
 *	pending -> processing	spoold claims; ENOENT means it lost the race
 *	processing -> sent	handed over: sendmail exited 0 (spool_sent
 *				writes sent/<id>, spool_done unlinks the job)
 *	sent -> (gone)		older than track_retention (spoold), or
 *				spoolctl delete
 *	processing -> failed	permanent failure or max attempts
 *	processing -> pending	recovery at spoold start (at-least-once);
 *				spool_claim_due: a claimed job not due yet
 *	pending -> held		spoolctl hold; ENOENT means spoold claimed it
 *	held -> pending		spoolctl release / retry
 *	failed -> pending	spoolctl retry
 *	pending|held|failed -> (gone)	spoolctl delete
 *	pending -> pending	relay-fcgi reschedules (PATCH /emails/{id}):
 *				tmp/<id>.sched, with the new scheduled line
 *				and mtime, renameat2(RENAME_EXCHANGE) with
 *				pending/<id>; ENOENT: spoold claimed it.
 *				If spoold found it due before the exchange,
 *				it claims the new copy, sees its mtime in the
 *				future and puts it back (spool_claim_due)
 *	pending -> canceled	relay-fcgi cancels (POST /emails/{id}/cancel);
 *				ENOENT: spoold claimed it
 *	canceled -> (gone)	older than track_retention (spoold)
 *	tmp -> batch		a batch committed (relay-fcgi)
 *	(batch) -> pending	each job split out: tmp/<id>, renamed
 *	batch -> (gone)		split and synced (spoold)
 *
 * Race rules: spoold moves jobs pending <-> processing and rewrites a job
 * only while it sits in processing/.  spoolctl never touches processing/;
 * it rewrites only in held/ and failed/ and makes pending jobs due with
 * utimensat(2) (spoold watches pending/ for IN_MOVED_TO and IN_ATTRIB).
 * After a crash a job may exist both in pending/ and processing/ (a
 * deferral cut short): the pending copy is the newer one.  A crash
 * between spool_sent and spool_done leaves sent/<id> beside
 * processing/<id>: recovery puts the job back into pending/ and it is
 * handed over again (at least once); the second spool_sent keeps the
 * outcomes already recorded.  Every writer of sent/<id> holds an
 * exclusive flock(2) on the sent/ directory while it reads, rewrites
 * and renames (spoold, trackd, spoolctl); readers need no lock.
 *
 * Job file: a header of "key value" lines, an empty line, then the exact
 * message bytes (LF line endings):
 *
 *	mail-relay-job 1
 *	id <id>
 *	created <unix seconds>
 *	caller <name>
 *	message-id <msgid without <>>
 *	sender <envelope sender>
 *	rcpt <addr>		one line per recipient, Bcc included
 *	subject <UTF-8 subject>
 *	from <From, escaped>	optional: the From as given, "Name <a@b>"
 *				or "a@b"
 *	to <address, escaped>	optional, one line per To address as given
 *	cc, bcc, reply-to <address, escaped>
 *				the same for Cc, Bcc and Reply-To
 *	tag <name> <value>	optional, one line per tag (POST /emails)
 *	scheduled <unix>	optional: the time the caller asked for
 *	attempts <n>
 *	error <last error, escaped>	optional
 *
 * Header values never hold CR, LF or NUL; error escapes "\\", control bytes
 * and bytes >= 0x7f as \\, \n, \r, \t, \xHH; from, to, cc, bcc and
 * reply-to are escaped as error is.  They are the addressing the API
 * shows (GET /emails/{id}); rcpt is the envelope.  A job written before
 * they existed has no from line: it shows sender as its From and its rcpt
 * lines as its To (env.from NULL).  A tag's name and value
 * are 1 to SPOOL_TAG_MAX of A-Z a-z 0-9 _ -; tags are kept with the job for
 * status, webhooks and metrics, never written into the message.
 *
 * Record file sent/<id> (no message body, no empty line):
 *
 *	mail-relay-sent 1
 *	id, created, caller, message-id, sender, rcpt..., subject,
 *	from, to..., cc..., bcc..., reply-to..., tag..., scheduled
 *				as in the job file (the optional ones
 *				only when the job has them)
 *	attempts <n>		hand-over attempts, the successful one included
 *	sent <unix seconds>	hand-over time; 0 while only trackd has
 *				written the record (see spool_record_outcome)
 *	seq <n>			highest trackd log position applied, 0 if none
 *	queue-id <qid>		0 or more: Postfix queue ids of the job
 *	outcome <i> <status> <attempts> <at> <dsn> <relay> <reply>
 *				0 or 1 per recipient, <i> its 0-based index
 *				among the rcpt lines; a recipient without
 *				one is "queued".  dsn, relay and reply are
 *				escaped as error is, with space also
 *				escaped (\x20), "-" for an empty value.
 *
 * Queue id map qid/<qid>: "<job id>\n".  Suppression file
 * suppress/<hex SHA-256 of the normalised address>:
 *
 *	mail-relay-suppress 1
 *	address <normalised address>
 *	time <unix seconds>
 *	id <job id, or "-">
 *	reply <escaped reply, "-" if none>
 *
 * Event file events/<eid>: "mail-relay-event 1", then "key value" lines:
 * id, type (email.sent ...), at (unix seconds of the event), created (of
 * the message), job (its id, "-" for none), caller, sender, subject, rcpt
 * (one per recipient), from and to (the From and each To address as the
 * job keeps them, only when it does; never Cc, Bcc or Reply-To), tag
 * (<name> <value>, one per tag of the message), and for a recipient's
 * event recipient, dsn and reply; sender, subject, rcpt, from, to,
 * recipient, dsn and reply escaped as error is.  An event without a from
 * line (written before it existed, or of an older job) shows sender as
 * its From and its rcpt lines as its To.  State file events-state/<eid>: "mail-relay-hook 1", attempts <n>,
 * next <unix seconds>, since <start of the age window, 0: the event's
 * time>, status <last answer, escaped>.
 *
 * Batch file batch/<bid>: a header, an empty line, then the job files
 * one after the other, each exactly as spool_enqueue writes it:
 *
 *	mail-relay-batch 1
 *	id <bid>
 *	jobs <n>		1 to SPOOL_BATCH_MAX
 *	job <id> <length>	n lines, in order: a job's id and bytes
 *
 * track.pos: "mail-relay-track 1\ndev <n>\nino <n>\noffset <n>\nseq <n>\n".
 * Every one of these files is written to tmp/ under a name that is not a
 * job id, fsynced, renamed into place, and its directory fsynced; only
 * spool_sent, spool_record_outcome, spool_qid_put and spool_event_outcome
 * leave both syncs to spool_sync (one syncfs, see there): spoold's
 * records, and what trackd writes from a log line, which it reads again
 * after a crash (it calls spool_sync before it saves its position).
 */
#ifndef SPOOL_H
#define SPOOL_H

#include <sys/types.h>
#include <stddef.h>
#include <time.h>

#define SPOOL_ID_LEN		30	/* 13 hex + '-' + 16 hex */
#define SPOOL_HDR_MAX		(1024 * 1024)	/* largest header read */
#define SPOOL_ERROR_MAX		8192	/* longest error kept (unescaped) */
#define SPOOL_IDEM_TTL		(24 * 60 * 60)
#define SPOOL_TMP_MAXAGE	(60 * 60)	/* stale tmp/ files */
#define SPOOL_ATTEMPTS_MAX	1000000	/* more makes a job file invalid */
#define SPOOL_TAG_MAX		256	/* octets of a tag name or value */
#define SPOOL_BATCH_MAX		1000	/* jobs in one batch file */
#define SPOOL_BATCH_FILE_MAX	(256 * 1024 * 1024)	/* largest batch file */

enum spool_state {
	SPOOL_PENDING,
	SPOOL_PROCESSING,
	SPOOL_HELD,
	SPOOL_FAILED,
	SPOOL_SENT,		/* a record, not a job: spool_read refuses it */
	SPOOL_CANCELED,		/* a job canceled before it was due */
	SPOOL_NSTATES
};

struct spool;				/* dir fds, O_DIRECTORY|O_CLOEXEC */

/* Opens dir, creating it and missing subdirectories 0700.  NULL + errno. */
struct spool	*spool_open(const char *dir);
/* Opens an existing spool and creates nothing (spoolctl).  NULL + errno. */
struct spool	*spool_attach(const char *dir);
void		 spool_close(struct spool *);
/* Owner of the spool directory. */
int		 spool_owner(struct spool *, uid_t *, gid_t *);

/*
 * Now, in seconds, from the fine-grained clock.  time(3) reads a coarse
 * clock that can lag behind file timestamps by a tick; compare mtimes (due
 * times) with this instead.
 */
time_t		 spool_now(void);

int		 spool_id_new(char id[SPOOL_ID_LEN + 1]);
int		 spool_id_valid(const char *);
/* Enqueue time of an id in microseconds, 0 if the id is not valid. */
unsigned long long spool_id_usec(const char *);

/* "pending" ... "sent"; spool_state_parse returns -1 if unknown. */
const char	*spool_state_name(int);
int		 spool_state_parse(const char *);

/* A tag of a job: name and value, 1..SPOOL_TAG_MAX of [A-Za-z0-9_-]. */
struct spool_tag {
	const char		*name;
	const char		*value;
};
/* 1 when s is a valid tag name or value. */
int		 spool_tag_valid(const char *s);

/* The visible addressing of a job (as given): To, Cc, Bcc, Reply-To. */
enum spool_addr_kind {
	SPOOL_ADDR_TO,
	SPOOL_ADDR_CC,
	SPOOL_ADDR_BCC,
	SPOOL_ADDR_REPLY_TO,
	SPOOL_NADDR
};
struct spool_addrs {
	const char *const	*v;	/* "Name <a@b>" or "a@b" */
	size_t			 n;
};

/* What a job records besides the message. */
struct spool_env {
	const char		*id;
	time_t			 created;
	const char		*caller;
	const char		*message_id;
	const char		*sender;
	const char *const	*rcpt;
	size_t			 nrcpt;
	const char		*subject;
	const struct spool_tag	*tags;
	size_t			 ntags;
	time_t			 scheduled;	/* asked-for due time, 0: none */
	/* The From as given; NULL: not kept (a job older than the line). */
	const char		*from;
	struct spool_addrs	 addr[SPOOL_NADDR];	/* with from only */
};

/*
 * Writes tmp/<id> (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), fsyncs it, renames it
 * into pending/ and fsyncs pending/.  0 only when durable; -1 + errno with
 * nothing left behind (EINVAL: a bad id or a value with CR, LF or NUL).
 * Thread-safe.
 */
int		 spool_enqueue(struct spool *, const struct spool_env *,
		    const void *msg, size_t len);
/* The same with the job due at due (its mtime; 0: now): scheduled. */
int		 spool_enqueue_at(struct spool *, const struct spool_env *,
		    const void *msg, size_t len, time_t due);

/*
 * Batches (see the batch states above).  spool_batch_enqueue writes the n
 * jobs (env->id each, distinct) as batch/<bid> and commits it with one
 * fsync of the file and one of batch/, then splits it into pending/
 * without a flush (the batch file stays their durable copy until spoold
 * has synced them).  0: every job is in pending/; 1: committed, but the
 * split stopped (errno says why) and spoold finishes it; -1 + errno:
 * nothing committed, nothing left behind.  Thread-safe.
 */
struct spool_batch_job {
	const struct spool_env	*env;
	const void		*msg;
	size_t			 len;
};
int		 spool_batch_enqueue(struct spool *, const char *bid,
		    const struct spool_batch_job *, size_t n);
/* A batch file as parsed: its jobs' ids and where their bytes are. */
struct spool_batch_ent {
	char		 id[SPOOL_ID_LEN + 1];
	size_t		 off, len;
};
struct spool_batch {
	char			 id[SPOOL_ID_LEN + 1];
	size_t			 n;
	struct spool_batch_ent	*v;
};
/*
 * Parses a batch file from memory: the header, and every job in it as
 * spool_job_parse would take it (its id that of its job line, no id
 * twice).  -1 + EBADMSG (or ENOMEM); free with spool_batch_free after
 * either result.
 */
int		 spool_batch_parse(struct spool_batch *, const char *bid,
		    const void *buf, size_t len);
void		 spool_batch_free(struct spool_batch *);
/*
 * spoold: finishes every batch in batch/ whose flock is free: makes each
 * of its jobs that exists in no state, one syncfs(2) per 64 batches, then
 * removes their files (spool(5)); cb is called for each job it makes.  A
 * batch file that does not parse is left alone (counted in *bad if not
 * NULL).  Returns the number of jobs made, -1 + errno.
 */
int		 spool_batch_recover(struct spool *,
		    void (*cb)(const char *id, void *), void *arg, int *bad);
/*
 * spoolctl, before it changes a job: the same for every batch in batch/,
 * waiting for the lock of one being split, so that no batch can make a
 * job again once the command has moved or removed it.  Jobs made, -1 +
 * errno.
 */
int		 spool_batch_settle(struct spool *);
/* inotify watch of batch/ for IN_CLOSE_WRITE (a splitter let go).  wd. */
int		 spool_batch_watch(struct spool *, int inofd);
/* Batch files in batch/ (committed, not yet split), -1 + errno. */
long		 spool_batch_count(struct spool *);

/* Entries with a valid id in a state ("pending", ... or "tmp"), -1 + errno. */
long		 spool_count(struct spool *, const char *state);
/* 1 if a file can be created and removed in tmp/, else 0. */
int		 spool_writable(struct spool *);
/* 1 if a spoold holds spoold.lock, else 0 (another process's lock only). */
int		 spool_daemon_running(struct spool *);
/*
 * The time the longest-waiting due pending job became due, 0 if none (or
 * on error): its creation, or its scheduled time when that is later.
 */
time_t		 spool_oldest_due(struct spool *, time_t now);

/*
 * Idempotency keys under idem/: file name = hex SHA-256 of caller NUL key,
 * content "<jobid> <hex sha256 of body> <unix time>\n" (a batch: its id,
 * then its whole answer), written only after the job is committed.  begin flocks the key file: SPOOL_IDEM_DUP (id
 * copied out) for a committed entry younger than 24 h with the same body
 * hash, SPOOL_IDEM_CONFLICT for a different hash, otherwise SPOOL_IDEM_NEW
 * with the lock held: the caller enqueues, then commits or aborts.  -1 +
 * errno on error.  Treat struct spool_idem as opaque.
 */
enum { SPOOL_IDEM_NEW, SPOOL_IDEM_DUP, SPOOL_IDEM_CONFLICT,
    SPOOL_IDEM_BUSY };
struct spool_idem {
	int		fd;
	unsigned char	hash[32];
};
int		 spool_idem_begin(struct spool *, const char *caller,
		    const char *key, const unsigned char bodyhash[32],
		    struct spool_idem *, char id[SPOOL_ID_LEN + 1]);
/* The same without waiting: SPOOL_IDEM_BUSY while another holds the key. */
int		 spool_idem_try(struct spool *, const char *caller,
		    const char *key, const unsigned char bodyhash[32],
		    struct spool_idem *, char id[SPOOL_ID_LEN + 1]);
int		 spool_idem_commit(struct spool_idem *, const char *id);
/*
 * A batch (POST /emails/batch) is one idempotent unit: its record is
 * committed with the batch's id and, after that line, its whole answer
 * (at most SPOOL_IDEM_ANSWER_MAX bytes, no NUL); a duplicate gets that
 * answer back (*answer, malloc'd, NUL-terminated; "" for a record without
 * one).  As spool_idem_try otherwise.
 */
#define SPOOL_IDEM_ANSWER_MAX	(256 * 1024)
int		 spool_idem_try_answer(struct spool *, const char *caller,
		    const char *key, const unsigned char bodyhash[32],
		    struct spool_idem *, char id[SPOOL_ID_LEN + 1],
		    char **answer, size_t *alen);
int		 spool_idem_commit_answer(struct spool_idem *, const char *id,
		    const char *answer, size_t alen);
void		 spool_idem_abort(struct spool_idem *);
/* Drops records older than 24 h; returns how many, -1 + errno. */
int		 spool_idem_purge(struct spool *, time_t now);

/*
 * Reading side.  spool_read parses <state>/<id>; the job keeps the file
 * open read-only (fd) so the message can be streamed from msg_off.
 * -1 + errno: ENOENT, EBADMSG for a file that is not a valid job.
 */
struct spool_job {
	char		 id[SPOOL_ID_LEN + 1];
	int		 state;
	struct spool_env env;		/* points into hdr */
	int		 attempts;
	char		*error;		/* unescaped, NULL if none */
	time_t		 next;		/* mtime: next attempt */
	off_t		 size;		/* whole file */
	off_t		 msg_off;	/* first message byte */
	int		 fd;
	char		*hdr;		/* storage */
	const char	**rcptv;
	struct spool_tag *tagv;
	const char	**addrv;	/* every address line */
};
int		 spool_read(struct spool *, int state, const char *id,
		    struct spool_job *);
void		 spool_job_free(struct spool_job *);
/* The same parse from memory (fd -1, state 0): for tests and fuzzing. */
int		 spool_job_parse(struct spool_job *, const char *id,
		    const void *buf, size_t len);

/* An id and its mtime, as listed from a state directory. */
struct spool_entry {
	char		 id[SPOOL_ID_LEN + 1];
	time_t		 due;
};
/* Every valid id in a state, sorted oldest first; free(*v) after. */
int		 spool_scan(struct spool *, int state, struct spool_entry **v,
		    size_t *n);
/* mtime of <state>/<id>: 0 or -1 + errno (ENOENT). */
int		 spool_stat(struct spool *, int state, const char *id,
		    time_t *due);
/* The state a job is in, or -1 + ENOENT. */
int		 spool_find(struct spool *, const char *id);

/* spoold (one thread). */
/*
 * Locks spoold.lock (a POSIX record lock, held by this process only; the
 * process must not open the file again): 0, or -1 with EWOULDBLOCK when
 * another spoold runs.
 */
int		 spool_lock(struct spool *);
/* Give the spool, its directories and every file in them to uid/gid. */
int		 spool_chown(struct spool *, uid_t, gid_t);
/* pending -> processing.  -1 + ENOENT: gone (claimed, held, deleted). */
int		 spool_claim(struct spool *, const char *id);
/*
 * spoold's claim of a job it found due at now: the file claimed decides,
 * not the index it was picked from.  One that is not due (its mtime later
 * than now: PATCH /emails/{id} exchanged it for a rescheduled copy after
 * spoold chose it) goes back into pending/ unchanged: -1 + EAGAIN with
 * *due its due time.  Otherwise as spool_claim.
 */
int		 spool_claim_due(struct spool *, const char *id, time_t now,
		    time_t *due);
/* processing -> pending, unchanged, after a failed read or rewrite. */
int		 spool_unclaim(struct spool *, const char *id);
/*
 * Watch pending/ on an inotify fd for IN_MOVED_TO (new, deferred,
 * released, retried jobs) and IN_ATTRIB (spoolctl flush/retry make jobs
 * due with utimensat).  Returns the watch descriptor.
 */
int		 spool_watch(struct spool *, int inofd);
/* Delivered: unlink processing/<id>.  processing/ is fsynced lazily. */
int		 spool_done(struct spool *, const char *id);
/* Rewrite with attempts + 1, error, mtime = next; back into pending/. */
int		 spool_defer(struct spool *, const struct spool_job *,
		    time_t next, const char *error);
/* Rewrite with attempts + 1 and error into failed/. */
int		 spool_fail(struct spool *, const struct spool_job *,
		    const char *error);
/* An unreadable job: rename processing/<id> into failed/ as it is. */
int		 spool_fail_raw(struct spool *, const char *id);
/*
 * syncfs(2) if a lazy write (spool_sent, spool_record_outcome,
 * spool_qid_put, spool_event_outcome) was made since the last call (which
 * covers spool_done's unlinks too), else fsync processing/ if spool_done
 * left it unsynced.  spool_close calls it.
 */
int		 spool_sync(struct spool *);
/*
 * At start: processing/<id> back into pending/ (or unlinked when a pending
 * copy exists); cb is called for each job put back.  tmp/ files older than
 * SPOOL_TMP_MAXAGE are removed.  Returns the number recovered, -1 + errno.
 */
int		 spool_recover(struct spool *, time_t now,
		    void (*cb)(const char *id, void *), void *arg);

/*
 * metrics/: open (SPOOL_METRICS_CREATE: read-write, created 0600 with the
 * directory) or rename a program's counters file; name is a plain file
 * name.  fd or -1 + errno.
 */
#define SPOOL_METRICS_CREATE	1
int		 spool_metrics_open(struct spool *, const char *name, int flags);
int		 spool_metrics_rename(struct spool *, const char *from,
		    const char *to);
void		 spool_metrics_unlink(struct spool *, const char *name);

/* spoolctl.  -1 + ENOENT when the job is not in the state named. */
int		 spool_hold(struct spool *, const char *id);	/* pending */
int		 spool_release(struct spool *, const char *id);	/* held */
/* failed or held -> pending with attempts 0, due now; pending: due now. */
int		 spool_retry(struct spool *, const char *id);
/* Unlink from pending/, held/ or failed/ (never processing/). */
int		 spool_delete(struct spool *, const char *id, int *state);
/* Every pending job not yet due becomes due now; returns how many. */
int		 spool_flush(struct spool *, time_t now);

/*
 * relay-fcgi, for the caller that sent pending job id (scheduled sending).
 * reschedule: the job is due at due (its scheduled line and mtime), made
 * durable.  cancel: pending/<id> -> canceled/<id>.  -1 + errno: ENOENT
 * not (or no longer) pending, EPERM another caller's, EINVAL bad id.
 */
int		 spool_reschedule(struct spool *, const char *id,
		    const char *caller, time_t due);
int		 spool_cancel(struct spool *, const char *id, const char *caller);
/* spoold: removes canceled jobs canceled before `before`; how many, -1. */
int		 spool_canceled_expire(struct spool *, time_t before);

/*
 * Delivery records (sent/), written when sendmail exits 0 and followed by
 * trackd from Postfix's log.  See the record format at the top.
 */
#define SPOOL_REPLY_MAX		512	/* longest remote reply kept, bytes */
#define SPOOL_RELAY_MAX		255	/* longest relay kept */
#define SPOOL_DSN_MAX		11	/* "5.123.123" */
#define SPOOL_QID_MAX		32	/* longest Postfix queue id */

/* What Postfix says about one recipient. */
enum spool_rcpt_status {
	SPOOL_RCPT_QUEUED,	/* handed over, nothing heard yet */
	SPOOL_RCPT_DELIVERED,	/* status=sent */
	SPOOL_RCPT_DEFERRED,	/* status=deferred: Postfix retries */
	SPOOL_RCPT_BOUNCED,	/* status=bounced */
	SPOOL_RCPT_EXPIRED,	/* qmgr: status=expired, returned to sender */
	SPOOL_RCPT_NSTATUS
};
/* "queued" ... "expired"; parse returns -1 if unknown. */
const char	*spool_rcpt_status_name(int);
int		 spool_rcpt_status_parse(const char *);

/* One outcome as trackd parsed it; strings may be NULL (none). */
struct spool_outcome {
	int		 status;	/* SPOOL_RCPT_DELIVERED .. _EXPIRED */
	const char	*dsn;		/* "5.1.1": [245].n.n, else dropped */
	const char	*relay;		/* "127.0.0.1[127.0.0.1]:2526" */
	const char	*reply;		/* the text in parentheses */
	time_t		 at;		/* time of the log line */
};

/* A recipient in a record.  Strings are never NULL ("" for none). */
struct spool_rcpt {
	const char	*email;		/* as in the job's rcpt line */
	int		 status;	/* SPOOL_RCPT_* */
	int		 attempts;	/* outcomes heard: deferrals + final */
	time_t		 at;		/* last event, 0 if none */
	const char	*dsn;
	const char	*relay;
	const char	*reply;		/* control chars removed, valid UTF-8 */
};

/*
 * A message as the API shows it, whatever its state.  For state
 * SPOOL_SENT it is the record; for a job (spool_record_lookup) every
 * recipient is "queued", sent is 0 and error the job's last error.
 * Everything points into storage freed by spool_record_free.
 */
struct spool_record {
	char		  id[SPOOL_ID_LEN + 1];
	int		  state;	/* SPOOL_PENDING .. SPOOL_SENT */
	struct spool_env  env;		/* env.rcpt[i] == rcptv[i].email */
	int		  attempts;	/* job: attempts so far; record: hand-overs */
	const char	 *error;	/* job's last error, NULL if none */
	time_t		  sent;		/* hand-over time, 0 if not known */
	unsigned long long seq;		/* highest outcome seq applied */
	const char	**qidv;		/* Postfix queue ids, nqid of them */
	size_t		  nqid;
	time_t		  next;		/* job: its next attempt; record: 0 */
	struct spool_rcpt *rcptv;	/* env.nrcpt of them */
	/* storage */
	char		 *buf;
	const char	**rcptp;
	struct spool_tag *tagv;
	const char	**addrv;
};

/*
 * spoold, when sendmail exited 0 for job, before spool_done: writes
 * sent/<id> with the job's header, attempts + 1 and sent = at, through
 * tmp/ and a rename; it is made durable by spool_sync, which spoold calls
 * within a second during a drain and before it sleeps: one syncfs(2) for
 * every record since the last call and the removals of their jobs (group
 * commit: a flush per record would bound the drain by the disk's flush
 * rate; measured here, 74 instead of ~300 hand-overs a second).  A
 * system crash within that second may lose a record or leave it
 * unreadable, as it may repeat the delivery.  An existing record for the
 * id (a hand-over repeated after a crash, or one trackd started) keeps its
 * outcomes, queue ids and seq.  0, or -1 + errno (the job stays in
 * processing/ either way; spoold still calls spool_done: it was handed).
 */
int		 spool_sent(struct spool *, const struct spool_job *, time_t at);
/*
 * Reads sent/<id>.  -1 + errno: EINVAL bad id, ENOENT, EBADMSG not a
 * valid record.  Free with spool_record_free (also after a failure).
 */
int		 spool_record_read(struct spool *, const char *id,
		    struct spool_record *);
/* The same parse from memory, for tests and fuzzing. */
int		 spool_record_parse(struct spool_record *, const char *id,
		    const void *buf, size_t len);
/*
 * The message <id> in whichever state it is: sent/ first (a record wins
 * over a job being handed over again), then pending/, processing/,
 * held/, failed/, canceled/.  -1 + ENOENT when there is none, EINVAL for
 * a bad id.
 * For relay-fcgi's GET /messages/{id} and the like; the caller checks
 * rec->env.caller itself.
 */
int		 spool_record_lookup(struct spool *, const char *id,
		    struct spool_record *);
void		 spool_record_free(struct spool_record *);
/*
 * trackd: applies one recipient's outcome to sent/<id> and rewrites it
 * through tmp/ and a rename, made durable by the next spool_sync (trackd
 * calls it before it saves the position that covers the line: a record
 * lost in a system crash is made again from the line).  rcpt matches every rcpt line equal to it with the
 * domain compared case-insensitively; queue_id (may be NULL) is added to
 * the record's queue ids if new.  seq is trackd's strictly increasing
 * position of the log line: the record keeps the highest seq applied and
 * an outcome with seq <= it changes nothing, so a replay after a crash
 * applies nothing twice.  deferred, delivered and bounced add one
 * attempt, expired none; a deferred outcome for a recipient that is
 * already final (delivered, bounced, expired) is ignored.  A NULL dsn,
 * relay or reply keeps the recipient's previous one.  The reply is
 * cleaned (control characters removed, invalid UTF-8 bytes as '?', cut
 * to SPOOL_REPLY_MAX bytes), as is relay (SPOOL_RELAY_MAX); a dsn not
 * of the form [245].n.n is stored as "".  The queue id map is not touched:
 * trackd calls spool_qid_put for the cleanup line.
 * If sent/<id> does not exist yet but the job is in processing/ or
 * pending/ (Postfix spoke before spoold wrote the record), the record is
 * created from the job with sent 0; spool_sent completes it.
 * Returns 0 applied, 1 ignored (seq already applied), -1 + errno: ENOENT
 * no such message, ESRCH no such recipient in it, EINVAL bad argument.
 */
int		 spool_record_outcome(struct spool *, const char *id,
		    const char *queue_id, const char *rcpt,
		    const struct spool_outcome *, unsigned long long seq);
/*
 * spoold's retention: removes every record whose last change (its mtime:
 * hand-over or last outcome) is before `before`, with its qid/ entries,
 * and qid/ entries older than `before` whose record is gone.  Returns
 * how many records went, -1 + errno.
 */
int		 spool_record_expire(struct spool *, time_t before);

/*
 * The message state the API reports, from the spool state and, for a
 * record, the recipients.  A pure function:
 *	pending -> queued, processing -> sending, held -> held,
 *	failed -> failed (the relay gave up before Postfix),
 *	canceled -> canceled;
 *	sent, while any recipient is still queued or deferred:
 *	  deferred if one is deferred, else sent;
 *	sent, once every recipient is final: delivered if all were
 *	  delivered, bounced if none was (expired counts as bounced),
 *	  else partially_bounced.
 * Out-of-range input gives SPOOL_MSG_NSTATES.
 */
enum spool_msg_state {
	SPOOL_MSG_QUEUED,
	SPOOL_MSG_HELD,
	SPOOL_MSG_SENDING,
	SPOOL_MSG_FAILED,
	SPOOL_MSG_SENT,
	SPOOL_MSG_DEFERRED,
	SPOOL_MSG_DELIVERED,
	SPOOL_MSG_BOUNCED,
	SPOOL_MSG_PARTIALLY_BOUNCED,
	SPOOL_MSG_CANCELED,	/* canceled before it was due */
	SPOOL_MSG_NSTATES
};
int		 spool_msg_state(int spool_state, const struct spool_rcpt *,
		    size_t n);
/* "queued" ... "partially_bounced", "unknown" out of range. */
const char	*spool_msg_state_name(int);
/* spool_msg_state of a record or looked-up message. */
int		 spool_record_state(const struct spool_record *);

/*
 * Postfix queue id -> job id, qid/<qid>, kept until the record expires;
 * put writes it through tmp/ and a rename, made durable by the next
 * spool_sync (as spool_record_outcome).  A queue id is 1 to SPOOL_QID_MAX of [0-9A-Za-z]
 * (short hex and long queue ids alike).  put replaces an existing entry.
 * get: 0 with id filled, -1 + ENOENT, EINVAL for a bad qid.
 */
int		 spool_qid_valid(const char *);
int		 spool_qid_put(struct spool *, const char *qid, const char *id);
int		 spool_qid_get(struct spool *, const char *qid,
		    char id[SPOOL_ID_LEN + 1]);

/*
 * Suppression list, suppress/<name>: name is the hex SHA-256 of the
 * normalised address (local part as given, domain lowercased), so a
 * check is one fstatat(2) however many are listed.
 */
struct spool_suppression {
	char		 address[320];	/* normalised */
	time_t		 at;		/* when it was added */
	char		 id[SPOOL_ID_LEN + 1];	/* the job that bounced, "" if none */
	char		 reply[SPOOL_REPLY_MAX + 1];	/* "" if none */
};
/* Normalises addr into out (local part kept, domain lowercased); 0/-1. */
int		 spool_addr_normalise(const char *addr, char *out, size_t size);
/*
 * Adds or replaces addr (id and reply may be NULL), durably.  EINVAL for
 * an address that is empty, over 319 bytes, without '@' or with control
 * characters or spaces.
 */
int		 spool_suppress_add(struct spool *, const char *addr, time_t at,
		    const char *id, const char *reply);
/* 1 if addr is suppressed, 0 if not, -1 + errno. */
int		 spool_suppress_check(struct spool *, const char *addr);
/* 0 with *out filled, -1 + ENOENT when not suppressed. */
int		 spool_suppress_get(struct spool *, const char *addr,
		    struct spool_suppression *out);
/* 0, or -1 + ENOENT when it was not suppressed. */
int		 spool_suppress_remove(struct spool *, const char *addr);
/* Every entry, sorted by address; free(*v) after.  0 or -1 + errno. */
int		 spool_suppress_list(struct spool *, struct spool_suppression **v,
		    size_t *n);
/* How many are suppressed, -1 + errno. */
long		 spool_suppress_count(struct spool *);

/*
 * trackd.  spool_track_lock locks trackd.lock as spool_lock does
 * spoold.lock (0, or -1 + EWOULDBLOCK when another trackd runs);
 * spool_track_running is 1 if another process holds it.  The position in
 * Postfix's log is kept in track.pos: load returns -1 + ENOENT before
 * the first save (trackd then starts at the log's end); save writes it
 * durably (tmp, fsync, rename, fsync root).  Save it only after the
 * records for the lines it covers are durable (spool_sync).
 */
struct spool_track_pos {
	unsigned long long	dev;
	unsigned long long	ino;
	unsigned long long	offset;
	unsigned long long	seq;	/* seq of the last line consumed */
};
int		 spool_track_lock(struct spool *);
int		 spool_track_running(struct spool *);
int		 spool_track_pos_load(struct spool *, struct spool_track_pos *);
int		 spool_track_pos_save(struct spool *, const struct spool_track_pos *);

/*
 * Webhook events (events/, events-failed/, events-state/).  Producers
 * call spool_event_add only when relay.conf names a webhooks file.
 */
#define SPOOL_EVENT_MAX		(256 * 1024)	/* largest event file */
enum spool_event_type {
	SPOOL_EV_SENT,		/* email.sent: sendmail exited 0 */
	SPOOL_EV_DELIVERED,	/* email.delivered: per recipient */
	SPOOL_EV_DELAYED,	/* email.delivery_delayed: per recipient */
	SPOOL_EV_BOUNCED,	/* email.bounced: per recipient */
	SPOOL_EV_FAILED,	/* email.failed: the relay gave up */
	SPOOL_EV_SUPPRESSED,	/* email.suppressed: refused, per recipient */
	SPOOL_EV_SCHEDULED,	/* email.scheduled */
	SPOOL_EV_CANCELED,	/* email.canceled */
	SPOOL_EV_NTYPES
};
/* "email.sent" ...; parse returns -1 if unknown. */
const char	*spool_event_type_name(int);
int		 spool_event_type_parse(const char *);
/*
 * Writes events/<eid> durably (tmp, fsync, rename, fsync events/) with a
 * new eid (copied out if eid is not NULL).  env gives the message (id
 * may be NULL or "" for a request that never became a job); rcpt, dsn
 * and reply (NULL for none) the recipient of a recipient's event.  0, or
 * -1 + errno with nothing left behind.  Thread-safe.
 */
int		 spool_event_add(struct spool *, int type,
		    const struct spool_env *, const char *rcpt,
		    const char *dsn, const char *reply, time_t at,
		    char eid[SPOOL_ID_LEN + 1]);
/*
 * trackd: the event of one outcome just applied to sent/<job> (delivered,
 * delivery_delayed, bounced; expired is bounced), written as
 * spool_event_add does but made durable by the next spool_sync, as the
 * outcome: its id comes from the job and seq, so the line read again
 * after a crash makes the same event again.
 */
int		 spool_event_outcome(struct spool *, const char *job,
		    const char *rcpt, const struct spool_outcome *,
		    unsigned long long seq, char eid[SPOOL_ID_LEN + 1]);
/*
 * spoold: email.sent of a job handed over.  The id comes from the job
 * (and trackd's from the job and the log line's seq), so that the same
 * event written again after a crash keeps its webhook-id.
 */
int		 spool_event_sent(struct spool *, const struct spool_env *,
		    time_t at, char eid[SPOOL_ID_LEN + 1]);

/* An event as read, with its delivery state.  Points into buf. */
struct spool_event {
	char		  id[SPOOL_ID_LEN + 1];
	int		  type;
	int		  failed;	/* in events-failed/ */
	time_t		  at, created;
	const char	 *job;		/* "" if none */
	const char	 *caller, *sender, *subject;
	const char	**rcptv;
	size_t		  nrcpt;
	/* The From and To as given; from NULL: not kept (an older event) */
	const char	 *from;
	const char	**tov;
	size_t		  nto;
	const char	 *recipient, *dsn, *reply;	/* NULL if none */
	struct spool_tag *tagv;		/* the message's tags */
	size_t		  ntags;
	/* events-state/<eid>; all 0 / "" when there is none */
	int		  attempts;
	time_t		  next, since;
	char		  status[256];
	char		 *buf;
};
/* Creates the three directories (hookd at start).  0/-1. */
int		 spool_event_dirs(struct spool *);
/* events/<eid> (failed 0) or events-failed/<eid>.  -1 + errno. */
int		 spool_event_read(struct spool *, int failed, const char *eid,
		    struct spool_event *);
int		 spool_event_parse(struct spool_event *, const char *eid,
		    const void *, size_t);
void		 spool_event_free(struct spool_event *);
/* Ids in events/ or events-failed/, oldest first; free(*v) after. */
int		 spool_event_scan(struct spool *, int failed,
		    struct spool_entry **v, size_t *n);
/* hookd: flock on events-state/ for the process's life; EWOULDBLOCK. */
int		 spool_event_lock(struct spool *);
/* inotify watch of events/ (IN_MOVED_TO, IN_ATTRIB).  wd or -1. */
int		 spool_event_watch(struct spool *, int inofd);
/* Rewrites events-state/<eid> durably. */
int		 spool_event_state(struct spool *, const char *eid,
		    int attempts, time_t next, time_t since,
		    const char *status);
/* Delivered: unlink events/<eid>, then its state. */
int		 spool_event_done(struct spool *, const char *eid);
/* events/<eid> -> events-failed/<eid> (state kept). */
int		 spool_event_fail(struct spool *, const char *eid);
/*
 * spoolctl: attempts 0 and a new age window; a failed event goes back
 * into events/, a pending one is made due now.  -1 + ENOENT if neither.
 */
int		 spool_event_retry(struct spool *, const char *eid);

#endif
