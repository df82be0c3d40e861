/*
 * fuzz_record: the delivery-record reader.  The input is written as
 * sent/<id> of a spool in a private directory, then read with
 * spool_record_read().
 *
 * Refused: errno EBADMSG (or ENOMEM), nothing left allocated.
 * Accepted: the envelope is complete and header-safe, every recipient's
 * status is known, its strings are free of control characters and the
 * reply is at most SPOOL_REPLY_MAX bytes; the message state is one of the
 * API's.  Then the record goes through what trackd does: an outcome for
 * its first recipient, with a reply made of the input's bytes, is applied
 * with the next seq and read back (the envelope and the other recipients
 * unchanged, the reply cleaned, the seq kept), and the same outcome again
 * changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "spool.h"

#define ID	"0640a1b2c3d4e-0123456789abcdef"

static struct spool	*sp;
static char		 root[PATH_MAX];

static void
put_file(const uint8_t *data, size_t len)
{
	char	path[PATH_MAX];
	int	fd;

	snprintf(path, sizeof(path), "%s/sent/%s", root, ID);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1 ||
	    (len > 0 && write(fd, data, len) != (ssize_t)len) || close(fd) == -1)
		abort();
}

static void
check_clean(const char *s, size_t max, const char *what)
{
	const unsigned char	*p;

	FZ_CHECK(s != NULL && strlen(s) <= max, "%s too long", what);
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		FZ_CHECK(*p >= 0x20 && *p != 0x7f, "control byte in %s", what);
	FZ_CHECK(fz_utf8_valid((const unsigned char *)s, strlen(s)),
	    "%s is not UTF-8", what);
}

static void
check_record(const struct spool_record *r)
{
	size_t	i;
	int	st;

	FZ_CHECK(strcmp(r->id, ID) == 0 && r->state == SPOOL_SENT, "id");
	FZ_CHECK(r->env.caller && *r->env.caller && r->env.message_id &&
	    *r->env.message_id && r->env.sender && r->env.subject, "fields");
	FZ_CHECK(r->env.nrcpt >= 1 && r->attempts >= 0, "rcpt, attempts");
	for (i = 0; i < r->env.nrcpt; i++) {
		FZ_CHECK(r->rcptv[i].email == r->env.rcpt[i] &&
		    *r->rcptv[i].email && strpbrk(r->rcptv[i].email, "\r\n")
		    == NULL, "rcpt %zu", i);
		FZ_CHECK(r->rcptv[i].status >= 0 &&
		    r->rcptv[i].status < SPOOL_RCPT_NSTATUS, "status");
		check_clean(r->rcptv[i].reply, SPOOL_REPLY_MAX, "reply");
		check_clean(r->rcptv[i].relay, SPOOL_RELAY_MAX, "relay");
		FZ_CHECK(strlen(r->rcptv[i].dsn) <= SPOOL_DSN_MAX, "dsn");
	}
	for (i = 0; i < r->nqid; i++)
		FZ_CHECK(spool_qid_valid(r->qidv[i]), "queue id");
	st = spool_record_state(r);
	FZ_CHECK(st >= SPOOL_MSG_SENT && st < SPOOL_MSG_NSTATES, "state %d", st);
}

static void
same_except_first(const struct spool_record *a, const struct spool_record *b)
{
	size_t	i, k;

	FZ_CHECK(a->env.created == b->env.created && a->sent == b->sent &&
	    a->attempts == b->attempts &&
	    strcmp(a->env.caller, b->env.caller) == 0 &&
	    strcmp(a->env.message_id, b->env.message_id) == 0 &&
	    strcmp(a->env.sender, b->env.sender) == 0 &&
	    strcmp(a->env.subject, b->env.subject) == 0 &&
	    a->env.nrcpt == b->env.nrcpt && a->env.ntags == b->env.ntags &&
	    a->env.scheduled == b->env.scheduled &&
	    (a->env.from == NULL) == (b->env.from == NULL) &&
	    (a->env.from == NULL || strcmp(a->env.from, b->env.from) == 0),
	    "envelope changed by an outcome");
	for (k = 0; k < SPOOL_NADDR; k++) {
		FZ_CHECK(a->env.addr[k].n == b->env.addr[k].n,
		    "list %zu changed", k);
		for (i = 0; i < a->env.addr[k].n; i++)
			FZ_CHECK(strcmp(a->env.addr[k].v[i],
			    b->env.addr[k].v[i]) == 0, "address %zu changed", i);
	}
	for (i = 0; i < a->env.nrcpt; i++) {
		FZ_CHECK(strcmp(a->rcptv[i].email, b->rcptv[i].email) == 0,
		    "rcpt %zu changed", i);
		if (strcasecmp(a->rcptv[i].email, a->rcptv[0].email) == 0)
			continue;	/* maybe the same address: changed too */
		FZ_CHECK(a->rcptv[i].status == b->rcptv[i].status &&
		    a->rcptv[i].attempts == b->rcptv[i].attempts &&
		    strcmp(a->rcptv[i].reply, b->rcptv[i].reply) == 0,
		    "another recipient changed");
	}
}

static void
apply_outcome(const struct spool_record *rec, const uint8_t *data,
    size_t len)
{
	struct spool_record	 after, again;
	struct spool_outcome	 o;
	char			 reply[700];
	size_t			 n = len < sizeof(reply) - 1 ? len :
	    sizeof(reply) - 1;
	int			 r;

	if (rec->seq >= (unsigned long long)LLONG_MAX)
		return;
	memcpy(reply, data, n);
	reply[n] = '\0';	/* stops at the first NUL of the input */
	memset(&o, 0, sizeof(o));
	o.status = SPOOL_RCPT_BOUNCED;
	o.dsn = "5.1.1";
	o.relay = reply;
	o.reply = reply;
	o.at = 1700000000;
	r = spool_record_outcome(sp, ID, "ABC123", rec->rcptv[0].email, &o,
	    rec->seq + 1);
	FZ_CHECK(r == 0, "outcome not applied: %d %s", r, strerror(errno));
	FZ_CHECK(spool_record_read(sp, ID, &after) == 0,
	    "record unreadable after an outcome: %s", strerror(errno));
	check_record(&after);
	same_except_first(rec, &after);
	FZ_CHECK(after.seq == rec->seq + 1, "seq");
	FZ_CHECK(after.rcptv[0].status == SPOOL_RCPT_BOUNCED &&
	    strcmp(after.rcptv[0].dsn, "5.1.1") == 0, "outcome lost");
	r = spool_record_outcome(sp, ID, "ABC123", rec->rcptv[0].email, &o,
	    rec->seq + 1);
	FZ_CHECK(r == 1, "replay applied: %d", r);
	FZ_CHECK(spool_record_read(sp, ID, &again) == 0, "reread");
	FZ_CHECK(again.rcptv[0].attempts == after.rcptv[0].attempts &&
	    again.seq == after.seq, "replay changed the record");
	spool_record_free(&again);
	spool_record_free(&after);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct spool_record	rec;
	char			path[PATH_MAX];

	if (sp == NULL) {
		snprintf(root, sizeof(root), "%s/spool", fz_tmpdir());
		if ((sp = spool_open(root)) == NULL)
			abort();
	}
	put_file(data, len);
	if (spool_record_read(sp, ID, &rec) == -1) {
		FZ_CHECK(errno == EBADMSG || errno == ENOMEM, "errno %d", errno);
		FZ_CHECK(rec.buf == NULL && rec.rcptv == NULL &&
		    rec.qidv == NULL && rec.rcptp == NULL, "record not freed");
	} else {
		check_record(&rec);
		apply_outcome(&rec, data, len);
		spool_record_free(&rec);
	}
	snprintf(path, sizeof(path), "%s/sent/%s", root, ID);
	unlink(path);
	return 0;
}
