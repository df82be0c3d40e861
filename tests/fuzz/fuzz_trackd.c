/*
 * fuzz_trackd: trackd's log line parser, parse_line(), on any bytes.
 *
 * The input is one line, copied to a buffer of exactly its size so that a
 * read past the end is caught.  Whatever the bytes: every string in the
 * event is NUL-terminated inside its field; the reply holds no control
 * character (C0, DEL, C1), is valid UTF-8 and at most 512 bytes; an
 * address is printable ASCII without '<', '>', ',' or space; a link names
 * a valid job id; a dsn is "X.Y.Z" with X 2, 4 or 5; a trailing LF
 * changes nothing; the kind is one of the five.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzzutil.h"
#include "parse.h"

#define DOMAIN	"relay.example.test"
#define NOW	1796148948	/* 2026-12-01T18:15:48Z */

static void
check_str(const char *s, size_t size, const char *what)
{
	FZ_CHECK(memchr(s, '\0', size) != NULL, "%s not terminated", what);
}

static void
check_addr(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	FZ_CHECK(*p != '\0', "empty address");
	for (; *p; p++)
		FZ_CHECK(*p > 0x20 && *p < 0x7f && *p != '<' && *p != '>' &&
		    *p != ',', "address byte 0x%02x", *p);
}

static void
check_reply(const char *s)
{
	FZ_CHECK(strlen(s) <= PARSE_REPLY_MAX, "reply of %zu bytes",
	    strlen(s));
	FZ_CHECK(fz_utf8_valid((const unsigned char *)s, strlen(s)),
	    "reply not UTF-8");
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		FZ_CHECK(*p >= 0x20 && *p != 0x7f, "control byte 0x%02x", *p);
		FZ_CHECK(!(p[0] == 0xc2 && p[1] >= 0x80 && p[1] < 0xa0),
		    "C1 control");
	}
}

static void
check_dsn(const char *s)
{
	FZ_CHECK(s[0] == '\0' || ((s[0] == '2' || s[0] == '4' ||
	    s[0] == '5') && s[1] == '.'), "dsn %s", s);
}

static void
check_event(const struct parse_event *ev)
{
	check_str(ev->prog, sizeof(ev->prog), "prog");
	check_str(ev->qid, sizeof(ev->qid), "qid");
	check_str(ev->job, sizeof(ev->job), "job");
	check_str(ev->rcpt, sizeof(ev->rcpt), "rcpt");
	check_str(ev->relay, sizeof(ev->relay), "relay");
	check_str(ev->dsn, sizeof(ev->dsn), "dsn");
	check_str(ev->reply, sizeof(ev->reply), "reply");
	switch (ev->kind) {
	case PARSE_NONE:
		return;
	case PARSE_LINK:
		FZ_CHECK(spool_id_valid(ev->job), "link to %s", ev->job);
		break;
	case PARSE_RCPT:
		check_addr(ev->rcpt);
		check_reply(ev->reply);
		check_dsn(ev->dsn);
		for (const char *p = ev->relay; *p; p++)
			FZ_CHECK(*p > 0x20 && *p < 0x7f, "relay byte");
		FZ_CHECK(ev->status >= PARSE_SENT &&
		    ev->status <= PARSE_EXPIRED_RCPT, "status %d", ev->status);
		break;
	case PARSE_EXPIRED:
	case PARSE_REMOVED:
		FZ_CHECK(strcmp(ev->prog, "qmgr") == 0, "prog %s", ev->prog);
		break;
	default:
		FZ_CHECK(0, "kind %d", ev->kind);
	}
	FZ_CHECK(strlen(ev->qid) >= 5, "qid %s", ev->qid);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct parse_event	 ev, ev2;
	char			*line, *nl;

	if ((line = malloc(len ? len : 1)) == NULL ||
	    (nl = malloc(len + 1)) == NULL)
		abort();
	memcpy(line, data, len);
	parse_line(line, len, DOMAIN, NOW, &ev);
	check_event(&ev);
	if (len == 0 || line[len - 1] != '\n') {
		memcpy(nl, data, len);
		nl[len] = '\n';
		parse_line(nl, len + 1, DOMAIN, NOW, &ev2);
		FZ_CHECK(memcmp(&ev, &ev2, sizeof(ev)) == 0,
		    "a trailing LF changed the event");
	}
	free(line);
	free(nl);
	return 0;
}
