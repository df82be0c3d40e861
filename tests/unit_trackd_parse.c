/*
 * unit_trackd_parse: trackd's line parser on lines captured from real
 * Postfix 3.7 runs (tests/trackd/, made by tests/trackd/capture.py): the
 * postlogd file and the same lines as Debian 12's rsyslog writes them;
 * then other syslog names, timestamps, foreign message-ids and hostile
 * input (NULs, invalid UTF-8, control characters, truncation, length).
 */
#include <errno.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "parse.h"

#define DOMAIN	"relay.example.test"
#define JOB0	"18d2f6a1b2c3d-0123456789abcdef"
#define JOB1	"18d2f6a1b2c3e-fedcba9876543210"
#define JOB2	"18d2f6a1b2c3f-00112233445566aa"

static char	 datadir[4096];
static time_t	 now_dec;	/* 2026-12-01 20:00 local */

struct capture {
	char	**line;
	size_t	  n;
};

static void
load(const char *name, struct capture *c)
{
	char	 path[4200], buf[8192];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	f = fopen(path, "r");
	if (f == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	c->line = NULL;
	c->n = 0;
	while (fgets(buf, sizeof(buf), f) != NULL) {
		c->line = realloc(c->line, (c->n + 1) * sizeof(*c->line));
		assert_non_null(c->line);
		c->line[c->n++] = strdup(buf);
	}
	fclose(f);
	assert_true(c->n > 50);
}

static void
unload(struct capture *c)
{
	size_t	i;

	for (i = 0; i < c->n; i++)
		free(c->line[i]);
	free(c->line);
}

static int
parse(const char *line, struct parse_event *ev)
{
	return parse_line(line, strlen(line), DOMAIN, now_dec, ev);
}

/* The one line of the capture containing needle (and needle2 if given). */
static const char *
find(const struct capture *c, const char *needle, const char *needle2)
{
	const char	*hit = NULL;
	size_t		 i;

	for (i = 0; i < c->n; i++)
		if (strstr(c->line[i], needle) != NULL &&
		    (needle2 == NULL || strstr(c->line[i], needle2) != NULL)) {
			if (hit != NULL)
				fail_msg("more than one line has %s %s", needle,
				    needle2 ? needle2 : "");
			hit = c->line[i];
		}
	if (hit == NULL)
		fail_msg("no line has %s %s", needle, needle2 ? needle2 : "");
	return hit;
}

/* The queue id cleanup linked to job, checked to be the only link. */
static void
link_of(const struct capture *c, const char *job, char *qid)
{
	struct parse_event	ev;
	size_t			i, n = 0;

	for (i = 0; i < c->n; i++)
		if (parse(c->line[i], &ev) == PARSE_LINK &&
		    strcmp(ev.job, job) == 0) {
			strcpy(qid, ev.qid);
			assert_string_equal(ev.prog, "cleanup");
			n++;
		}
	assert_int_equal(n, 1);
}

static void
check_rcpt(const char *line, const char *qid, const char *prog,
    const char *rcpt, int status, const char *dsn, const char *relay,
    const char *reply)
{
	struct parse_event	ev;

	assert_int_equal(parse(line, &ev), PARSE_RCPT);
	assert_string_equal(ev.qid, qid);
	assert_string_equal(ev.prog, prog);
	assert_string_equal(ev.rcpt, rcpt);
	assert_int_equal(ev.status, status);
	assert_string_equal(ev.dsn, dsn);
	assert_string_equal(ev.relay, relay);
	assert_string_equal(ev.reply, reply);
	assert_true(ev.when > 0);
}

/* What both captures must give: the same events, prefix aside. */
static void
check_capture(const char *name)
{
	struct capture		 c;
	struct parse_event	 ev;
	char			 q0[32], q1[32], q2[32];
	const char		*l;
	size_t			 i, nlink = 0, nrcpt = 0, nexp = 0, nrm = 0;

	load(name, &c);
	link_of(&c, JOB0, q0);
	link_of(&c, JOB1, q1);		/* its domain was upper case */
	link_of(&c, JOB2, q2);
	for (i = 0; i < c.n; i++) {
		switch (parse(c.line[i], &ev)) {
		case PARSE_LINK:
			nlink++;
			break;
		case PARSE_RCPT:
			nrcpt++;
			assert_non_null(strstr(c.line[i], "status="));
			break;
		case PARSE_EXPIRED:
			nexp++;
			assert_string_equal(ev.prog, "qmgr");
			break;
		case PARSE_REMOVED:
			nrm++;
			break;
		default:
			/* nothing with a delivery status is left out */
			assert_null(strstr(c.line[i], "status="));
		}
	}
	assert_int_equal(nlink, 3);	/* foreign message-ids are not */
	assert_int_equal(nexp, 2);
	assert_true(nrm >= 10);

	l = find(&c, "to=<b@dest.test>", NULL);
	check_rcpt(l, q0, "smtp", "b@dest.test", PARSE_BOUNCED, "5.1.1",
	    "127.0.0.1[127.0.0.1]:55939", "host 127.0.0.1[127.0.0.1] said: "
	    "550 5.1.1 <b@dest.test>: no such user here (in reply to RCPT TO "
	    "command)");
	l = find(&c, "to=<d@dest.test>", "status=deferred");
	check_rcpt(l, q0, "smtp", "d@dest.test", PARSE_DEFERRED, "4.3.0",
	    "127.0.0.1[127.0.0.1]:55939", "host 127.0.0.1[127.0.0.1] said: "
	    "451 4.3.0 <d@dest.test>: try again later (in reply to RCPT TO "
	    "command)");
	/* the retry, on a reused connection (conn_use=) */
	l = find(&c, "to=<d@dest.test>", "status=sent");
	check_rcpt(l, q0, "smtp", "d@dest.test", PARSE_SENT, "2.0.0",
	    "127.0.0.1[127.0.0.1]:55939", "250 2.0.0 Ok: kept");
	l = find(&c, "to=<A.Mixed@Dest.Test>", NULL);
	check_rcpt(l, q1, "smtp", "A.Mixed@Dest.Test", PARSE_SENT, "2.0.0",
	    "127.0.0.1[127.0.0.1]:55939", "250 2.0.0 Ok: kept");
	l = find(&c, "to=<l@lmtp.test>", NULL);
	check_rcpt(l, q1, "lmtp", "l@lmtp.test", PARSE_SENT, "2.0.0",
	    "127.0.0.1[127.0.0.1]:37215", "250 2.0.0 Ok: lmtp kept");
	l = find(&c, "to=<loc@loc.test>", NULL);
	check_rcpt(l, q1, "local", "loc@loc.test", PARSE_SENT, "2.0.0",
	    "local", "delivered to file: /dev/null");
	l = find(&c, "to=<v@virt.test>", NULL);
	check_rcpt(l, q1, "virtual", "v@virt.test", PARSE_SENT, "2.0.0",
	    "virtual", "delivered to maildir");
	/* a reply with parentheses of its own */
	l = find(&c, "to=<p@pipe.test>", NULL);
	assert_int_equal(parse(l, &ev), PARSE_RCPT);
	assert_string_equal(ev.prog, "pipe");
	assert_string_equal(ev.relay, "capturepipe");
	assert_non_null(strstr(ev.reply, "delivered via capturepipe service "
	    "(Received: by relay.example.test (Postfix, from userid 0)"));
	assert_int_equal(ev.reply[strlen(ev.reply) - 1], ')');
	l = find(&c, "to=<q@disc.test>", NULL);
	check_rcpt(l, q1, "discard", "q@disc.test", PARSE_SENT, "2.0.0",
	    "none", "dropped here");
	l = find(&c, "to=<u@err.test>", NULL);
	check_rcpt(l, q1, "error", "u@err.test", PARSE_BOUNCED, "5.7.1",
	    "none", "no mail for err.test");
	/* the long reply is cut to 512 bytes */
	l = find(&c, "to=<long@dest.test>", NULL);
	assert_true(strlen(l) > 600);
	assert_int_equal(parse(l, &ev), PARSE_RCPT);
	assert_int_equal(strlen(ev.reply), PARSE_REPLY_MAX);
	assert_memory_equal(ev.reply, "host 127.0.0.1[127.0.0.1] said: 550 "
	    "5.7.1 refused refused", 57);
	/* the expiry of the deferred e@dest.test's message */
	for (i = 0; i < c.n; i++)
		if (parse(c.line[i], &ev) == PARSE_EXPIRED &&
		    strcmp(ev.qid, q2) == 0)
			break;
	assert_true(i < c.n);
	(void)nrcpt;
	unload(&c);
}

static void
test_postlogd_capture(void **state)
{
	(void)state;
	check_capture("postfix-3.7-postlogd.log");
}

static void
test_rsyslog_capture(void **state)
{
	(void)state;
	check_capture("postfix-3.7-rsyslog.log");
}

/* The two captures hold the same lines: the same events but for time. */
static void
test_prefixes_agree(void **state)
{
	struct capture		a, b;
	struct parse_event	ea, eb;
	size_t			i;

	(void)state;
	load("postfix-3.7-postlogd.log", &a);
	load("postfix-3.7-rsyslog.log", &b);
	assert_int_equal(a.n, b.n);
	for (i = 0; i < a.n; i++) {
		parse(a.line[i], &ea);
		parse(b.line[i], &eb);
		ea.when = eb.when = 0;
		assert_memory_equal(&ea, &eb, sizeof(ea));
	}
	unload(&a);
	unload(&b);
}

static void
test_timestamps(void **state)
{
	struct parse_event	ev;
	struct tm		tm;
	time_t			jan;
	const char		*rest = " h postfix/qmgr[1]: ABCDEF123: removed";
	char			line[256];

	(void)state;
	snprintf(line, sizeof(line), "2026-12-01T18:15:48.123456+00:00%s",
	    rest);
	assert_int_equal(parse(line, &ev), PARSE_REMOVED);
	assert_int_equal(ev.when, 1796148948);
	snprintf(line, sizeof(line), "2026-12-01T19:15:48+01:00%s", rest);
	assert_int_equal(parse(line, &ev), PARSE_REMOVED);
	assert_int_equal(ev.when, 1796148948);
	snprintf(line, sizeof(line), "2026-12-01T18:15:48Z%s", rest);
	assert_int_equal(parse(line, &ev), PARSE_REMOVED);
	assert_int_equal(ev.when, 1796148948);
	/* BSD forms: local time, the year from the reading time */
	snprintf(line, sizeof(line), "Dec  1 18:15:48%s", rest);
	assert_int_equal(parse(line, &ev), PARSE_REMOVED);
	localtime_r(&ev.when, &tm);
	assert_int_equal(tm.tm_year, 126);
	assert_int_equal(tm.tm_mon, 11);
	assert_int_equal(tm.tm_mday, 1);
	assert_int_equal(tm.tm_hour, 18);
	snprintf(line, sizeof(line), "Dec 01 18:15:48%s", rest);
	assert_int_equal(parse(line, &ev), PARSE_REMOVED);
	assert_int_equal(localtime_r(&ev.when, &tm)->tm_mday, 1);
	/* a December line read in January is last year's */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 127;
	tm.tm_mday = 1;
	tm.tm_hour = 1;
	tm.tm_isdst = -1;
	jan = mktime(&tm);
	snprintf(line, sizeof(line), "Dec 31 23:59:59%s", rest);
	assert_int_equal(parse_line(line, strlen(line), DOMAIN, jan, &ev),
	    PARSE_REMOVED);
	assert_int_equal(localtime_r(&ev.when, &tm)->tm_year, 126);
	/* not timestamps */
	static const char *const bad[] = {
		"Dex 01 18:15:48", "Dec 32 18:15:48", "Dec 1 18:15:48",
		"Dec 01 24:15:48", "2026-13-01T18:15:48Z",
		"2026-12-01T18:15:48", "2026-12-01T18:15:48.Z",
		"2026-12-01T18:15:48+0100", "18:15:48", "",
	};
	size_t i;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "%s%s", bad[i], rest);
		assert_int_equal(parse(line, &ev), PARSE_NONE);
	}
}

static void
test_syslog_names(void **state)
{
	struct parse_event	ev;

	(void)state;
	assert_int_equal(parse("Dec 01 18:15:48 relay postfix-out/smtp[8470]: "
	    "DC61410C683: to=<a@dest.test>, relay=mx.dest.test[192.0.2.1]:25, "
	    "delay=0.03, delays=0.01/0.01/0/0.01, dsn=2.0.0, status=sent (250 "
	    "2.0.0 stored)\n", &ev), PARSE_RCPT);
	assert_string_equal(ev.prog, "smtp");
	assert_string_equal(ev.reply, "250 2.0.0 stored");
	assert_int_equal(parse("Dec 01 18:15:48 relay postfix/submission/relay"
	    "[1]: 4Q2bL91Y0Zz2Rm8: to=<a@dest.test>, orig_to=<A@Dest.Test>, "
	    "relay=none, dsn=4.4.1, status=deferred (connect refused)\r\n",
	    &ev), PARSE_RCPT);
	assert_string_equal(ev.prog, "relay");
	assert_string_equal(ev.qid, "4Q2bL91Y0Zz2Rm8");	/* a long queue id */
	assert_string_equal(ev.rcpt, "A@Dest.Test");	/* as handed over */
	assert_string_equal(ev.relay, "none");
	/* without a pid, with a bare status */
	assert_int_equal(parse("Dec 01 18:15:48 relay postfix/error: "
	    "DC61410C683: to=<a@dest.test>, status=bounced", &ev), PARSE_RCPT);
	assert_int_equal(ev.status, PARSE_BOUNCED);
	assert_string_equal(ev.reply, "");
	assert_string_equal(ev.dsn, "");
	/* not a delivery agent, or not Postfix's shape */
	static const char *const none[] = {
		"Dec 01 18:15:48 relay postfix/smtpd[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay smtp[1]: DC61410C683: to=<a@dest.test>, "
		    "dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay /smtp[1]: DC61410C683: to=<a@dest.test>,"
		    " dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC6: to=<a@dest.test>, "
		    "dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=2.0.0, status=deliverable (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=9.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=2.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test> status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<>, dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a b@dest.test>, dsn=2.0.0, status=sent (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=2.0.0, status=sentx (x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "to=<a@dest.test>, dsn=2.0.0, status=sent(x)",
		"Dec 01 18:15:48 relay postfix/smtp[1]: DC61410C683: "
		    "host mx said: 550 to=<a@dest.test>, status=bounced",
		"Dec 01 18:15:48 relay postfix/qmgr[1]: DC61410C683: removed ",
		"Dec 01 18:15:48 relay postfix/qmgr[1]: DC61410C683: "
		    "from=<a@b>, size=303, nrcpt=3 (queue active)",
		"Dec 01 18:15:48 relay postfix/pickup[1]: DC61410C683: uid=0 "
		    "from=<noreply@example.test>",
		"Dec 01 18:15:48 relay postfix/bounce[1]: DC61410C683: sender "
		    "non-delivery notification: D6F6C11A5B2",
	};
	size_t i;
	for (i = 0; i < sizeof(none) / sizeof(none[0]); i++)
		if (parse(none[i], &ev) != PARSE_NONE)
			fail_msg("parsed: %s", none[i]);
}

static void
test_message_ids(void **state)
{
	struct parse_event	ev;
	const char		*pre = "Dec 01 18:15:48 relay postfix/cleanup[1]:"
	    " DC61410C683: message-id=";
	char			line[512];
	size_t			i;
	static const char *const foreign[] = {
		"<" JOB0 "@other.example>",
		"<" JOB0 "@relay.example.test.evil>",
		"<" JOB0 "@" DOMAIN "> x",
		"<" JOB0 "@" DOMAIN,			/* truncated */
		"<" JOB0 "x@" DOMAIN ">",
		"<18D2F6A1B2C3D-0123456789ABCDEF@" DOMAIN ">",
		"<18d2f6a1b2c3d_0123456789abcdef@" DOMAIN ">",
		"<20261201190950.444FD106563@" DOMAIN ">",
		"<abc123@example.test>",
		"<>",
		"",
		JOB0 "@" DOMAIN,
	};

	(void)state;
	snprintf(line, sizeof(line), "%s<%s@%s>", pre, JOB0, DOMAIN);
	assert_int_equal(parse(line, &ev), PARSE_LINK);
	assert_string_equal(ev.job, JOB0);
	assert_string_equal(ev.qid, "DC61410C683");
	snprintf(line, sizeof(line), "%s<%s@Relay.Example.TEST>\n", pre, JOB0);
	assert_int_equal(parse(line, &ev), PARSE_LINK);
	for (i = 0; i < sizeof(foreign) / sizeof(foreign[0]); i++) {
		snprintf(line, sizeof(line), "%s%s", pre, foreign[i]);
		if (parse(line, &ev) != PARSE_NONE)
			fail_msg("linked: %s", foreign[i]);
	}
	/* resent-message-id is not the message's own */
	snprintf(line, sizeof(line), "Dec 01 18:15:48 relay postfix/cleanup[1]:"
	    " DC61410C683: resent-message-id=<%s@%s>", JOB0, DOMAIN);
	assert_int_equal(parse(line, &ev), PARSE_NONE);
	/* an empty message_id_domain links nothing */
	snprintf(line, sizeof(line), "%s<%s@>", pre, JOB0);
	assert_int_equal(parse_line(line, strlen(line), "", now_dec, &ev),
	    PARSE_NONE);
}

static int
clean_reply(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 &&
		    p[1] < 0xa0))
			return 0;
	return 1;
}

static void
test_hostile_replies(void **state)
{
	static const char	pre[] = "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<a@dest.test>, relay=mx, dsn=5.0.0, status=bounced"
	    " (";
	static const char	evil[] = "\0b\tc\033d\177e\xc2\x85"
	    "f\xff\xc3g\xc3\xa9h" "\xed\xa0\x80i)";
	struct parse_event	ev;
	char			line[256];
	size_t			n;

	(void)state;
	/* NUL, tab, ESC, DEL, C1 (U+0085), bad UTF-8, good UTF-8 */
	n = (size_t)snprintf(line, sizeof(line), "%s550 a", pre);
	memcpy(line + n, evil, sizeof(evil) - 1);
	n += sizeof(evil) - 1;
	assert_int_equal(parse_line(line, n, DOMAIN, now_dec, &ev),
	    PARSE_RCPT);
	assert_string_equal(ev.reply, "550 abcdef??g\xc3\xa9h???i");
	assert_true(clean_reply(ev.reply));
	/* a NUL anywhere before the reply rejects the line */
	n = (size_t)snprintf(line, sizeof(line), "%s550 x)", pre);
	line[50] = '\0';
	assert_int_equal(parse_line(line, n, DOMAIN, now_dec, &ev),
	    PARSE_NONE);
	/* a relay with control bytes is cleaned, not trusted */
	snprintf(line, sizeof(line), "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<a@dest.test>, relay=m\x01x\xff, dsn=2.0.0, "
	    "status=sent");
	assert_int_equal(parse(line, &ev), PARSE_RCPT);
	assert_string_equal(ev.relay, "mx");
}

/* A multi-byte character at the 512-byte cut is kept whole or dropped. */
static void
test_reply_cut_at_character(void **state)
{
	static const char	pre[] = "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<a@dest.test>, dsn=5.0.0, status=bounced (";
	struct parse_event	ev;
	char			line[2048];
	size_t			n, i;

	(void)state;
	n = strlen(pre);
	memcpy(line, pre, n);
	line[n++] = 'x';		/* 1 + 3 * k: the cut falls inside */
	for (i = 0; i < 300; i++) {
		memcpy(line + n, "\xe2\x82\xac", 3);	/* U+20AC */
		n += 3;
	}
	line[n++] = ')';
	assert_int_equal(parse_line(line, n, DOMAIN, now_dec, &ev),
	    PARSE_RCPT);
	assert_int_equal(strlen(ev.reply), 1 + 3 * 170);
	assert_memory_equal(ev.reply + strlen(ev.reply) - 3, "\xe2\x82\xac",
	    3);
}

/*
 * Every prefix of every captured line: no crash, and a cut line never
 * gives a recipient's outcome unless the status word is whole.
 */
static void
test_truncated_lines(void **state)
{
	struct capture		c;
	struct parse_event	ev;
	const char		*st;
	size_t			i, k, len;
	int			kind;

	(void)state;
	load("postfix-3.7-postlogd.log", &c);
	for (i = 0; i < c.n; i++) {
		len = strlen(c.line[i]);
		for (k = 0; k < len; k++) {
			kind = parse_line(c.line[i], k, DOMAIN, now_dec, &ev);
			if (kind != PARSE_RCPT)
				continue;
			st = strstr(c.line[i], "status=");
			assert_non_null(st);
			assert_true(k >= (size_t)(st - c.line[i]) + 7 + 4);
			assert_true(strlen(ev.reply) <= PARSE_REPLY_MAX);
		}
	}
	unload(&c);
}

static void
test_huge_and_empty(void **state)
{
	struct parse_event	ev;
	size_t			n = 4 * 1024 * 1024, k;
	char			*big = malloc(n);
	static const char	pre[] = "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<a@dest.test>, dsn=5.0.0, status=bounced (";

	(void)state;
	assert_non_null(big);
	assert_int_equal(parse_line("", 0, DOMAIN, now_dec, &ev), PARSE_NONE);
	assert_int_equal(parse_line("\n", 1, DOMAIN, now_dec, &ev),
	    PARSE_NONE);
	memset(big, 'a', n);
	assert_int_equal(parse_line(big, n, DOMAIN, now_dec, &ev), PARSE_NONE);
	memcpy(big, pre, strlen(pre));
	assert_int_equal(parse_line(big, n, DOMAIN, now_dec, &ev), PARSE_RCPT);
	assert_int_equal(strlen(ev.reply), PARSE_REPLY_MAX);
	/* a huge address or relay is refused or cut, never overflows */
	k = (size_t)snprintf(big, n, "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<");
	memset(big + k, 'a', 1000);
	k += 1000;
	k += (size_t)snprintf(big + k, n - k, "@x>, dsn=2.0.0, status=sent");
	assert_int_equal(parse_line(big, k, DOMAIN, now_dec, &ev), PARSE_NONE);
	k = (size_t)snprintf(big, n, "Dec 01 18:15:48 relay postfix/smtp[1]: "
	    "DC61410C683: to=<a@x>, relay=");
	memset(big + k, 'r', 100000);
	k += 100000;
	k += (size_t)snprintf(big + k, n - k, ", dsn=2.0.0, status=sent");
	assert_int_equal(parse_line(big, k, DOMAIN, now_dec, &ev), PARSE_RCPT);
	assert_int_equal(strlen(ev.relay), PARSE_RELAY_MAX);
	free(big);
}

static void
test_status_names(void **state)
{
	(void)state;
	assert_string_equal(parse_status_name(PARSE_SENT), "delivered");
	assert_string_equal(parse_status_name(PARSE_DEFERRED), "deferred");
	assert_string_equal(parse_status_name(PARSE_BOUNCED), "bounced");
	assert_string_equal(parse_status_name(PARSE_EXPIRED_RCPT), "expired");
}

int
main(int argc, char *argv[])
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_postlogd_capture),
		cmocka_unit_test(test_rsyslog_capture),
		cmocka_unit_test(test_prefixes_agree),
		cmocka_unit_test(test_timestamps),
		cmocka_unit_test(test_syslog_names),
		cmocka_unit_test(test_message_ids),
		cmocka_unit_test(test_hostile_replies),
		cmocka_unit_test(test_reply_cut_at_character),
		cmocka_unit_test(test_truncated_lines),
		cmocka_unit_test(test_huge_and_empty),
		cmocka_unit_test(test_status_names),
	};
	struct tm	tm;
	char		self[4096];

	(void)argc;
	/* the captures sit beside this program's source: tests/trackd/ */
	snprintf(self, sizeof(self), "%s", argv[0]);
	snprintf(datadir, sizeof(datadir), "%s/trackd", dirname(self));
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 126;
	tm.tm_mon = 11;
	tm.tm_mday = 1;
	tm.tm_hour = 20;
	tm.tm_isdst = -1;
	now_dec = mktime(&tm);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
