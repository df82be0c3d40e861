/*
 * parse: Postfix log lines; see parse.h.  A cursor walks the line once,
 * one field at a time; each reader returns -1 at the first byte it does
 * not expect, and that rejects the line.  Nothing reads past end: the line
 * need not be NUL-terminated and may hold NULs.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "parse.h"

struct cur {
	const unsigned char	*p, *end;
};

static int
is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int
is_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Consumes the literal s if it comes next: 0, else -1 with c unchanged. */
static int
lit(struct cur *c, const char *s)
{
	size_t	n = strlen(s);

	if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n) != 0)
		return -1;
	c->p += n;
	return 0;
}

/* Exactly n digits as a number. */
static int
digits(struct cur *c, int n, int *v)
{
	int	i;

	if (c->end - c->p < n)
		return -1;
	for (*v = 0, i = 0; i < n; i++) {
		if (!is_digit(c->p[i]))
			return -1;
		*v = *v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	return 0;
}

static int
hms(struct cur *c, struct tm *tm)
{
	if (digits(c, 2, &tm->tm_hour) == -1 || lit(c, ":") == -1 ||
	    digits(c, 2, &tm->tm_min) == -1 || lit(c, ":") == -1 ||
	    digits(c, 2, &tm->tm_sec) == -1)
		return -1;
	if (tm->tm_hour > 23 || tm->tm_min > 59 || tm->tm_sec > 60)
		return -1;
	return 0;
}

/*
 * mktime(3) reads the zone again on every call (a stat of /etc/localtime
 * in glibc), which would cost more than the rest of a line.  Times are
 * therefore converted once per minute of the log and kept: a minute is
 * the same offset from UTC throughout (zone changes fall on minutes).
 */
struct minute {
	int	valid, year, mon, mday, hour, min;
	time_t	t;		/* second 0 of that minute */
};

static int
minute_hit(const struct minute *m, const struct tm *tm)
{
	return m->valid && m->year == tm->tm_year && m->mon == tm->tm_mon &&
	    m->mday == tm->tm_mday && m->hour == tm->tm_hour &&
	    m->min == tm->tm_min;
}

/* tm's time (tm_sec added) as local time (utc 0) or UTC (utc 1). */
static time_t
convert(struct tm *tm, int utc)
{
	static struct minute	cache[2];
	struct minute		*m = &cache[utc];
	struct tm		 t0 = *tm;

	if (!minute_hit(m, tm)) {
		t0.tm_sec = 0;
		t0.tm_isdst = -1;
		m->t = utc ? timegm(&t0) : mktime(&t0);
		if (m->t == (time_t)-1) {
			m->valid = 0;
			return (time_t)-1;
		}
		m->valid = 1;
		m->year = tm->tm_year;
		m->mon = tm->tm_mon;
		m->mday = tm->tm_mday;
		m->hour = tm->tm_hour;
		m->min = tm->tm_min;
	}
	return m->t + tm->tm_sec;
}

/* 2026-12-01T18:15:48[.123456](Z|+00:00) */
static int
stamp_rfc3339(struct cur *c, time_t *when)
{
	struct tm	tm;
	int		y, oh, om, sign;
	time_t		t;

	memset(&tm, 0, sizeof(tm));
	if (digits(c, 4, &y) == -1 || lit(c, "-") == -1 ||
	    digits(c, 2, &tm.tm_mon) == -1 || lit(c, "-") == -1 ||
	    digits(c, 2, &tm.tm_mday) == -1 ||
	    (lit(c, "T") == -1 && lit(c, " ") == -1) || hms(c, &tm) == -1)
		return -1;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || y < 1970)
		return -1;
	if (lit(c, ".") == 0) {
		if (c->p == c->end || !is_digit(*c->p))
			return -1;
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
	}
	tm.tm_year = y - 1900;
	tm.tm_mon--;
	if ((t = convert(&tm, 1)) == (time_t)-1)
		return -1;
	if (lit(c, "Z") == 0) {
		*when = t;
		return 0;
	}
	if (lit(c, "+") == 0)
		sign = 1;
	else if (lit(c, "-") == 0)
		sign = -1;
	else
		return -1;
	if (digits(c, 2, &oh) == -1 || lit(c, ":") == -1 ||
	    digits(c, 2, &om) == -1 || oh > 23 || om > 59)
		return -1;
	*when = t - sign * (time_t)(oh * 3600 + om * 60);
	return 0;
}

/*
 * "Dec 01 18:15:48" or "Dec  1 18:15:48", local time without a year: the
 * year is now's, or the one before when that would put the line more than
 * a day in the future (a December line read in January).
 */
static int
stamp_bsd(struct cur *c, time_t now, time_t *when)
{
	static const char	months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	struct tm		tm, lt;
	int			m, d;
	time_t			t;

	memset(&tm, 0, sizeof(tm));
	if (c->end - c->p < 4 || c->p[3] != ' ')
		return -1;
	for (m = 0; m < 12; m++)
		if (memcmp(c->p, months + 3 * m, 3) == 0)
			break;
	if (m == 12)
		return -1;
	c->p += 4;
	if (lit(c, " ") == 0) {
		if (digits(c, 1, &d) == -1)
			return -1;
	} else if (digits(c, 2, &d) == -1)
		return -1;
	if (d < 1 || d > 31 || lit(c, " ") == -1 || hms(c, &tm) == -1)
		return -1;
	if (localtime_r(&now, &lt) == NULL)
		return -1;
	tm.tm_mon = m;
	tm.tm_mday = d;
	tm.tm_year = lt.tm_year;
	if ((t = convert(&tm, 0)) == (time_t)-1)
		return -1;
	if (t > now + 86400) {
		tm.tm_year--;
		if ((t = convert(&tm, 0)) == (time_t)-1)
			return -1;
	}
	*when = t;
	return 0;
}

/* A run of bytes of the given class, 1..max long, copied out. */
static int
token(struct cur *c, int (*ok)(int), char *out, size_t max)
{
	size_t	n = 0;

	while (c->p + n < c->end && ok(c->p[n]))
		n++;
	if (n == 0 || n > max)
		return -1;
	memcpy(out, c->p, n);
	out[n] = '\0';
	c->p += n;
	return 0;
}

static int
host_char(int c)
{
	return c > 0x20 && c < 0x7f;
}

static int
ident_char(int c)
{
	return is_alnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
}

/* host, then "syslog_name/prog[pid]: ": prog copied out. */
static int
ident(struct cur *c, struct parse_event *ev)
{
	char		 host[256], name[128];
	const char	*slash;

	if (token(c, host_char, host, sizeof(host) - 1) == -1 ||
	    lit(c, " ") == -1 ||
	    token(c, ident_char, name, sizeof(name) - 1) == -1)
		return -1;
	if ((slash = strrchr(name, '/')) == NULL || slash == name ||
	    slash[1] == '\0' || strlen(slash + 1) > PARSE_PROG_MAX)
		return -1;
	strcpy(ev->prog, slash + 1);
	if (lit(c, "[") == 0) {
		if (c->p == c->end || !is_digit(*c->p))
			return -1;
		while (c->p < c->end && is_digit(*c->p))
			c->p++;
		if (lit(c, "]") == -1)
			return -1;
	}
	return lit(c, ": ");
}

static int
qid_char(int c)
{
	return is_alnum(c);
}

static int
queue_id(struct cur *c, struct parse_event *ev)
{
	if (token(c, qid_char, ev->qid, PARSE_QID_MAX) == -1 ||
	    strlen(ev->qid) < 5)
		return -1;
	return lit(c, ": ");
}

/* cleanup: "message-id=<JOBID@domain>" and nothing after. */
static int
link_line(struct cur *c, const char *domain, struct parse_event *ev)
{
	size_t	dlen = strlen(domain);

	if (lit(c, "message-id=<") == -1 ||
	    (size_t)(c->end - c->p) != SPOOL_ID_LEN + 1 + dlen + 1 ||
	    c->p[SPOOL_ID_LEN] != '@' || c->end[-1] != '>' || dlen == 0 ||
	    strncasecmp((const char *)c->p + SPOOL_ID_LEN + 1, domain, dlen)
	    != 0)
		return -1;
	memcpy(ev->job, c->p, SPOOL_ID_LEN);
	ev->job[SPOOL_ID_LEN] = '\0';
	if (!spool_id_valid(ev->job))
		return -1;
	return PARSE_LINK;
}

static int
suffix(const struct cur *c, const char *s)
{
	size_t	n = strlen(s);

	return (size_t)(c->end - c->p) >= n && memcmp(c->end - n, s, n) == 0;
}

/* qmgr: "removed", or "from=<...>, status=expired, returned to sender". */
static int
qmgr_line(struct cur *c)
{
	if (c->end - c->p == 7 && memcmp(c->p, "removed", 7) == 0)
		return PARSE_REMOVED;
	if (lit(c, "from=<") == 0 &&
	    suffix(c, ">, status=expired, returned to sender"))
		return PARSE_EXPIRED;
	return -1;
}

static int
is_key_char(int c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

static int
addr_char(int c)
{
	return c > 0x20 && c < 0x7f && c != '<' && c != '>' && c != ',';
}

/* "<addr>", the address 1..PARSE_ADDR_MAX printable ASCII bytes. */
static int
angle_addr(struct cur *c, char *out)
{
	if (lit(c, "<") == -1 ||
	    token(c, addr_char, out, PARSE_ADDR_MAX) == -1)
		return -1;
	return lit(c, ">");
}

static int
dsn_valid(const char *s)
{
	int	part, n;

	if (*s != '2' && *s != '4' && *s != '5')
		return 0;
	for (part = 0; part < 3; part++) {
		if (part > 0 && *s++ != '.')
			return 0;
		for (n = 0; is_digit(*s); n++, s++)
			;
		if (n < 1 || n > (part == 0 ? 1 : 3))
			return 0;
	}
	return *s == '\0';
}

/* Length of a valid UTF-8 sequence at p (< end), 0 if invalid. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t		n, i;
	uint32_t	cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		cp = p[0] & 0x07;
	} else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * The remote reply: control characters (C0, DEL, C1) removed, invalid
 * UTF-8 bytes made '?', at most PARSE_REPLY_MAX bytes, cut at a character.
 */
static void
reply_copy(const unsigned char *p, const unsigned char *end, char *out)
{
	size_t	o = 0, n;

	while (p < end) {
		if ((n = utf8_len(p, end)) == 0) {
			n = 1;
			if (o + 1 > PARSE_REPLY_MAX)
				break;
			out[o++] = '?';
		} else if (!(n == 1 && (*p < 0x20 || *p == 0x7f)) &&
		    !(n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			if (o + n > PARSE_REPLY_MAX)
				break;
			memcpy(out + o, p, n);
			o += n;
		}
		p += n;
	}
	out[o] = '\0';
}

static int
status_word(struct cur *c, int *status)
{
	static const struct {
		const char	*word;
		int		 status;
	} words[] = {
		{ "sent", PARSE_SENT }, { "deferred", PARSE_DEFERRED },
		{ "bounced", PARSE_BOUNCED }, { "expired", PARSE_EXPIRED_RCPT },
	};
	const unsigned char	*w = c->p;
	size_t			 i, n;

	while (c->p < c->end && *c->p >= 'a' && *c->p <= 'z')
		c->p++;
	n = (size_t)(c->p - w);
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (strlen(words[i].word) == n &&
		    memcmp(words[i].word, w, n) == 0) {
			*status = words[i].status;
			return 0;
		}
	return -1;		/* deliverable, undeliverable, ... */
}

/* A value up to the next ", " or the end, copied (truncated) if out. */
static int
plain_value(struct cur *c, char *out, size_t max)
{
	const unsigned char	*v = c->p;
	size_t			 n = 0, i;

	while (c->p < c->end && !(*c->p == ',' && c->p + 1 < c->end &&
	    c->p[1] == ' '))
		c->p++;
	if (out == NULL)
		return 0;
	for (i = 0; v + i < c->p && n < max; i++)
		if (host_char(v[i]))
			out[n++] = (char)v[i];
	out[n] = '\0';
	return 0;
}

/* "status=WORD" then nothing, or " (reply)" to the end of the line. */
static int
status_field(struct cur *c, struct parse_event *ev)
{
	const unsigned char	*end = c->end;

	if (status_word(c, &ev->status) == -1)
		return -1;
	if (c->p == c->end)
		return PARSE_RCPT;
	if (lit(c, " (") == -1)
		return -1;
	if (end > c->p && end[-1] == ')')
		end--;		/* a truncated line keeps what it has */
	reply_copy(c->p, end, ev->reply);
	return PARSE_RCPT;
}

static int
is_agent(const char *prog)
{
	static const char *const agents[] = { "smtp", "lmtp", "local",
	    "virtual", "pipe", "error", "retry", "discard", "relay" };
	size_t	i;

	for (i = 0; i < sizeof(agents) / sizeof(agents[0]); i++)
		if (strcmp(prog, agents[i]) == 0)
			return 1;
	return 0;
}

/* "to=<a>, [orig_to=<b>, ]key=value, ..., status=WORD[ (reply)]" */
static int
rcpt_line(struct cur *c, struct parse_event *ev)
{
	char	key[16], orig[PARSE_ADDR_MAX + 1] = "";

	if (lit(c, "to=") == -1 || angle_addr(c, ev->rcpt) == -1)
		return -1;
	for (;;) {
		if (lit(c, ", ") == -1)
			return -1;
		if (token(c, is_key_char, key, sizeof(key) - 1) == -1 ||
		    lit(c, "=") == -1)
			return -1;
		if (strcmp(key, "status") == 0)
			break;
		if (strcmp(key, "orig_to") == 0) {
			if (angle_addr(c, orig) == -1)
				return -1;
		} else if (strcmp(key, "relay") == 0)
			plain_value(c, ev->relay, PARSE_RELAY_MAX);
		else if (strcmp(key, "dsn") == 0) {
			plain_value(c, ev->dsn, PARSE_DSN_MAX);
			if (!dsn_valid(ev->dsn))
				return -1;
		} else
			plain_value(c, NULL, 0);
	}
	if (orig[0] != '\0')
		strcpy(ev->rcpt, orig);
	return status_field(c, ev);
}

int
parse_line(const char *line, size_t len, const char *domain, time_t now,
    struct parse_event *ev)
{
	struct cur	c;
	int		kind;

	memset(ev, 0, sizeof(*ev));
	c.p = (const unsigned char *)line;
	c.end = c.p + len;
	if (c.end > c.p && c.end[-1] == '\n')
		c.end--;
	if (c.end > c.p && c.end[-1] == '\r')
		c.end--;
	if ((c.p < c.end && is_digit(*c.p) ? stamp_rfc3339(&c, &ev->when) :
	    stamp_bsd(&c, now, &ev->when)) == -1 || lit(&c, " ") == -1 ||
	    ident(&c, ev) == -1 || queue_id(&c, ev) == -1)
		kind = -1;
	else if (strcmp(ev->prog, "cleanup") == 0)
		kind = link_line(&c, domain, ev);
	else if (strcmp(ev->prog, "qmgr") == 0)
		kind = qmgr_line(&c);
	else if (is_agent(ev->prog))
		kind = rcpt_line(&c, ev);
	else
		kind = -1;
	if (kind == -1) {
		memset(ev, 0, sizeof(*ev));
		kind = PARSE_NONE;
	}
	ev->kind = kind;
	return kind;
}

const char *
parse_status_name(int status)
{
	switch (status) {
	case PARSE_SENT:
		return "delivered";
	case PARSE_DEFERRED:
		return "deferred";
	case PARSE_BOUNCED:
		return "bounced";
	case PARSE_EXPIRED_RCPT:
		return "expired";
	}
	return "unknown";
}
