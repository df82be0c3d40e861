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
 *	idem/		Idempotency-Key records
 *	spoold.lock	write-locked (fcntl F_SETLK) by the running spoold
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
 *	delivered	(none)			-
 *
 * Transitions, each one rename(2) or unlink(2):
 *
 *	tmp -> pending		enqueue (commit point), defer, spoolctl retry
 *	pending -> processing	spoold claims; ENOENT means it lost the race
 *	processing -> (gone)	delivered
 *	processing -> failed	permanent failure or max attempts
 *	processing -> pending	recovery at spoold start (at-least-once)
 *	pending -> held		spoolctl hold; ENOENT means spoold claimed it
 *	held -> pending		spoolctl release / retry
 *	failed -> pending	spoolctl retry
 *	pending|held|failed -> (gone)	spoolctl delete
 *
 * Race rules: spoold moves jobs pending <-> processing and rewrites a job
 * only while it sits in processing/.  spoolctl never touches processing/;
 * it rewrites only in held/ and failed/ and makes pending jobs due with
 * utimensat(2) (spoold watches pending/ for IN_MOVED_TO and IN_ATTRIB).
 * After a crash a job may exist both in pending/ and processing/ (a
 * deferral cut short): the pending copy is the newer one.
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
 *	attempts <n>
 *	error <last error, escaped>	optional
 *
 * Header values never hold CR, LF or NUL; error escapes "\\", control bytes
 * and bytes >= 0x7f as \\, \n, \r, \t, \xHH.
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

enum spool_state {
	SPOOL_PENDING,
	SPOOL_PROCESSING,
	SPOOL_HELD,
	SPOOL_FAILED,
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

/* "pending" ... "failed"; spool_state_parse returns -1 if unknown. */
const char	*spool_state_name(int);
int		 spool_state_parse(const char *);

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
};

/*
 * Writes tmp/<id> (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), fsyncs it, renames it
 * into pending/ and fsyncs pending/.  0 only when durable; -1 + errno with
 * nothing left behind (EINVAL: a bad id or a value with CR, LF or NUL).
 * Thread-safe.
 */
int		 spool_enqueue(struct spool *, const struct spool_env *,
		    const void *msg, size_t len);

/* Entries with a valid id in a state ("pending", ... or "tmp"), -1 + errno. */
long		 spool_count(struct spool *, const char *state);
/* 1 if a file can be created and removed in tmp/, else 0. */
int		 spool_writable(struct spool *);
/* 1 if a spoold holds spoold.lock, else 0 (another process's lock only). */
int		 spool_daemon_running(struct spool *);
/* Created time of the oldest due pending job, 0 if none (or on error). */
time_t		 spool_oldest_due(struct spool *, time_t now);

/*
 * Idempotency keys under idem/: file name = hex SHA-256 of caller NUL key,
 * content "<jobid> <hex sha256 of body> <unix time>\n", written only after
 * the job is committed.  begin flocks the key file: SPOOL_IDEM_DUP (id
 * copied out) for a committed entry younger than 24 h with the same body
 * hash, SPOOL_IDEM_CONFLICT for a different hash, otherwise SPOOL_IDEM_NEW
 * with the lock held: the caller enqueues, then commits or aborts.  -1 +
 * errno on error.  Treat struct spool_idem as opaque.
 */
enum { SPOOL_IDEM_NEW, SPOOL_IDEM_DUP, SPOOL_IDEM_CONFLICT };
struct spool_idem {
	int		fd;
	unsigned char	hash[32];
};
int		 spool_idem_begin(struct spool *, const char *caller,
		    const char *key, const unsigned char bodyhash[32],
		    struct spool_idem *, char id[SPOOL_ID_LEN + 1]);
int		 spool_idem_commit(struct spool_idem *, const char *id);
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
/* fsync processing/ if spool_done left it unsynced. */
int		 spool_sync(struct spool *);
/*
 * At start: processing/<id> back into pending/ (or unlinked when a pending
 * copy exists); cb is called for each job put back.  tmp/ files older than
 * SPOOL_TMP_MAXAGE are removed.  Returns the number recovered, -1 + errno.
 */
int		 spool_recover(struct spool *, time_t now,
		    void (*cb)(const char *id, void *), void *arg);

/* spoolctl.  -1 + ENOENT when the job is not in the state named. */
int		 spool_hold(struct spool *, const char *id);	/* pending */
int		 spool_release(struct spool *, const char *id);	/* held */
/* failed or held -> pending with attempts 0, due now; pending: due now. */
int		 spool_retry(struct spool *, const char *id);
/* Unlink from pending/, held/ or failed/ (never processing/). */
int		 spool_delete(struct spool *, const char *id, int *state);
/* Every pending job not yet due becomes due now; returns how many. */
int		 spool_flush(struct spool *, time_t now);

#endif
