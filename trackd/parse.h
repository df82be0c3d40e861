/*
 * parse: one line of Postfix's log, from bytes to a struct.  A function
 * of its input (and of the time and zone it is given): no I/O, no
 * allocation; its only state is a cache of the last minute's time
 * conversion, so it is not thread-safe.  It never trusts the log: any length,
 * NUL bytes, invalid UTF-8 and truncated lines are refused or cleaned,
 * field by field, and the first bad field rejects the whole line.
 *
 * A line is a syslog prefix, then "<syslog_name>/<program>[pid]: ", a
 * queue id, ": " and the program's text.  Both prefixes are accepted:
 *
 *	Dec 01 18:15:48 host postfix/smtp[8470]: ...		postlogd,
 *	Dec  1 18:15:48 host postfix/smtp[8470]: ...		BSD syslog
 *	2026-12-01T18:15:48.123456+00:00 host postfix/smtp[8470]: ...
 *								rsyslog
 *
 * and any syslog_name ("postfix-out/smtp", "postfix/submission/smtpd").
 * The lines used, everything else being PARSE_NONE:
 *
 *	cleanup	QID: message-id=<JOBID@message_id_domain>	PARSE_LINK
 *		(only the relay's own form: JOBID valid per spool_id_valid,
 *		the domain compared case-insensitively)
 *	smtp, lmtp, local, virtual, pipe, error, retry, discard, relay
 *		QID: to=<rcpt>, [orig_to=<rcpt>, ]relay=..., ..., dsn=X.Y.Z,
 *		status=sent|deferred|bounced|expired (reply)	PARSE_RCPT
 *	qmgr	QID: from=<...>, status=expired, returned to sender
 *								PARSE_EXPIRED
 *	qmgr	QID: removed				PARSE_REMOVED
 */
#ifndef PARSE_H
#define PARSE_H

#include <stddef.h>
#include <time.h>

#include "spool.h"

#define PARSE_QID_MAX		31	/* long queue ids are ~15 */
#define PARSE_ADDR_MAX		320	/* 64 + '@' + 255 */
#define PARSE_RELAY_MAX		300
#define PARSE_DSN_MAX		11	/* "5.123.123" */
#define PARSE_REPLY_MAX		512	/* bytes, control characters removed */
#define PARSE_PROG_MAX		31

enum parse_kind {
	PARSE_NONE,	/* not a line trackd uses (or not a valid one) */
	PARSE_LINK,	/* a relay job's message-id: qid -> job */
	PARSE_RCPT,	/* one recipient's outcome */
	PARSE_EXPIRED,	/* the message was returned to its sender */
	PARSE_REMOVED	/* Postfix is done with the queue id */
};

enum parse_status {
	PARSE_SENT,
	PARSE_DEFERRED,
	PARSE_BOUNCED,
	PARSE_EXPIRED_RCPT	/* status=expired on a recipient's line */
};

struct parse_event {
	int	 kind;
	time_t	 when;				/* the line's time, UTC */
	char	 prog[PARSE_PROG_MAX + 1];	/* "smtp", "qmgr", ... */
	char	 qid[PARSE_QID_MAX + 1];
	/* PARSE_LINK */
	char	 job[SPOOL_ID_LEN + 1];
	/* PARSE_RCPT */
	int	 status;
	char	 rcpt[PARSE_ADDR_MAX + 1];	/* orig_to= if given, else to= */
	char	 relay[PARSE_RELAY_MAX + 1];	/* "" if absent */
	char	 dsn[PARSE_DSN_MAX + 1];	/* "" if absent */
	char	 reply[PARSE_REPLY_MAX + 1];	/* "" if absent */
};

/*
 * Parses line[0..len) (a trailing LF or CR LF is ignored) into ev and
 * returns ev->kind.  domain is the relay's message_id_domain.  now is the
 * reading time: it gives the year a BSD timestamp lacks (local time, as
 * syslog and postlogd write it).  Every string in ev is NUL-terminated
 * whatever the kind; on PARSE_NONE the rest of ev means nothing.
 */
int		 parse_line(const char *line, size_t len, const char *domain,
		    time_t now, struct parse_event *ev);
const char	*parse_status_name(int);	/* "delivered", ... */

#endif
