/*
 * Unit tests: the request decoder and validator (req.c).
 *
 * JSON in these tests is written with ' for " (J() swaps them), so a
 * literal apostrophe is written \u0027.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>

#include "buf.h"
#include "mail.h"
#include "req.h"

#define FROM	"'from':'a@example.com'"
#define TO	"'to':'b@example.org'"
#define SUBJ	"'subject':'s'"
#define TEXT	"'text':'t'"
#define BASE	FROM "," TO "," SUBJ "," TEXT
#define MAX_RCPT 50

/* The body as an exact-size heap copy (no NUL after it), ' -> ". */
static char *
J(const char *s, size_t *len)
{
	char	*p;
	size_t	 i;

	*len = strlen(s);
	p = malloc(*len ? *len : 1);
	assert_non_null(p);
	for (i = 0; i < *len; i++)
		p[i] = s[i] == '\'' ? '"' : s[i];
	return p;
}

static int
parse_raw(const char *body, size_t len, size_t max, struct mail *m,
    struct req_error *e)
{
	struct req_limits	 lim = { max };
	char			*copy;
	int			 rc;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, body, len);
	rc = req_parse(copy, len, &lim, m, e);
	free(copy);	/* m must not point into the body */
	return rc;
}

static int
parse(const char *json, struct mail *m, struct req_error *e)
{
	size_t	 len;
	char	*body = J(json, &len);
	int	 rc = parse_raw(body, len, MAX_RCPT, m, e);

	free(body);
	return rc;
}

static void
check_empty(const struct mail *m)
{
	struct mail	 zero;

	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(m, &zero, sizeof(zero));
}

static void
rejects_raw(const char *body, size_t len, const char *code, const char *field)
{
	struct mail		 m;
	struct req_error	 e;

	memset(&m, 0xa5, sizeof(m));
	if (parse_raw(body, len, MAX_RCPT, &m, &e) != -1)
		fail_msg("accepted: %.*s", (int)(len > 200 ? 200 : len), body);
	check_empty(&m);
	assert_int_equal(e.status, 400);
	if (strcmp(e.code, code) != 0 || strcmp(e.field, field) != 0)
		fail_msg("%.*s: got %s \"%s\" (%s), want %s \"%s\"",
		    (int)(len > 200 ? 200 : len), body, e.code, e.field,
		    e.message, code, field);
	assert_true(e.message[0] != '\0');
	req_free(&m);
}

static void
rejects(const char *json, const char *code, const char *field)
{
	size_t	 len;
	char	*body = J(json, &len);

	rejects_raw(body, len, code, field);
	free(body);
}

static void
accepts(const char *json, struct mail *m)
{
	struct req_error	 e;

	if (parse(json, m, &e) != 0)
		fail_msg("%s: refused: %s %s (%s)", json, e.code, e.field,
		    e.message);
}

/* Shapes */

static void
test_minimal(void **state)
{
	struct mail	 m;

	(void)state;
	accepts("{" BASE "}", &m);
	assert_string_equal(m.from.email, "a@example.com");
	assert_null(m.from.name);
	assert_int_equal(m.nto, 1);
	assert_string_equal(m.to[0].email, "b@example.org");
	assert_null(m.to[0].name);
	assert_int_equal(m.ncc + m.nbcc + m.nreply_to, 0);
	assert_string_equal(m.subject, "s");
	assert_string_equal(m.text, "t");
	assert_null(m.html);
	assert_int_equal(m.nheaders, 0);
	assert_int_equal(m.nattachments, 0);
	req_free(&m);
	check_empty(&m);
	req_free(&m);	/* twice is harmless */
}

static void
test_every_shape(void **state)
{
	struct mail	 m;

	(void)state;
	accepts("{'from':{'email':'a@example.com','name':'Alice \u00c5'},"
	    "'to':['t1@example.org',{'email':'t2@example.org'},"
	    "{'name':'Tee','email':'t3@example.org'}],"
	    "'cc':{'email':'c@example.org','name':'Cee'},"
	    "'bcc':'hidden@example.org',"
	    "'replyTo':[{'email':'r@example.org','name':''}],"
	    "'subject':'Hi \\u00e9\\ud83d\\ude00','text':'t','html':'<p>h</p>',"
	    "'headers':{'X-Tag':'v',"
	    "'list-unsubscribe':'<mailto:u@example.com>',"
	    "'List-Unsubscribe-Post':'List-Unsubscribe=One-Click',"
	    "'in-reply-to':'<a@b>','REFERENCES':'<a@b> <c@d>'},"
	    "'attachments':[{'filename':'r.pdf',"
	    "'contentType':'Application/PDF',"
	    "'content':'JVBERg=='},{'content':'','contentType':'text/plain',"
	    "'filename':'\\u65e5\\u672c.txt'}]}", &m);
	assert_string_equal(m.from.name, "Alice \xc3\x85");
	assert_int_equal(m.nto, 3);
	assert_string_equal(m.to[2].email, "t3@example.org");
	assert_string_equal(m.to[2].name, "Tee");
	assert_null(m.to[1].name);
	assert_int_equal(m.ncc, 1);
	assert_string_equal(m.cc[0].name, "Cee");
	assert_int_equal(m.nbcc, 1);
	assert_string_equal(m.bcc[0].email, "hidden@example.org");
	assert_int_equal(m.nreply_to, 1);
	assert_null(m.reply_to[0].name);	/* "" is no name */
	assert_string_equal(m.subject, "Hi \xc3\xa9\xf0\x9f\x98\x80");
	assert_string_equal(m.html, "<p>h</p>");
	assert_int_equal(m.nheaders, 5);
	assert_string_equal(m.headers[0].name, "X-Tag");
	assert_string_equal(m.headers[1].name, "List-Unsubscribe");
	assert_string_equal(m.headers[2].name, "List-Unsubscribe-Post");
	assert_string_equal(m.headers[3].name, "In-Reply-To");
	assert_string_equal(m.headers[4].name, "References");
	assert_string_equal(m.headers[4].value, "<a@b> <c@d>");
	assert_int_equal(m.nattachments, 2);
	assert_string_equal(m.attachments[0].content_type, "application/pdf");
	assert_int_equal(m.attachments[0].len, 4);
	assert_memory_equal(m.attachments[0].data, "%PDF", 4);
	assert_int_equal(m.attachments[1].len, 0);
	assert_string_equal(m.attachments[1].filename,
	    "\xe6\x97\xa5\xe6\x9c\xac.txt");
	req_free(&m);
}

static void
test_body_normalised(void **state)
{
	struct mail	 m;

	(void)state;
	accepts("{" FROM "," TO "," SUBJ ",'text':'a\\r\\nb\\rc\\n\\r\\n\\td',"
	    "'html':'\\r'}", &m);
	assert_string_equal(m.text, "a\nb\nc\n\n\td");
	assert_string_equal(m.html, "\n");
	req_free(&m);
	accepts("{" FROM "," TO "," SUBJ ",'text':'','html':'h'}", &m);
	assert_null(m.text);
	assert_string_equal(m.html, "h");
	req_free(&m);
	/* Bodies may hold any other Unicode, C1 and U+2028 included. */
	accepts("{" FROM "," TO "," SUBJ ",'text':'\\u0085\\u2028 %0d%0a'}",
	    &m);
	assert_string_equal(m.text, "\xc2\x85\xe2\x80\xa8 %0d%0a");
	req_free(&m);
}

static void
test_whitespace_and_escapes(void **state)
{
	struct mail	 m;

	(void)state;
	accepts(" \t\r\n{ 'from' : 'a@example.com' ,\n"
	    "'\\u0074o':'b@example.org',"
	    "'subject':'\\\"\\\\\\/\\u00e9',"
	    "'text':'x'} \n", &m);
	assert_string_equal(m.to[0].email, "b@example.org");
	assert_string_equal(m.subject, "\"\\/\xc3\xa9");
	req_free(&m);
}

/* Raw bytes */

static void
test_invalid_json(void **state)
{
	(void)state;
	rejects("", "invalid_json", "");
	rejects("  ", "invalid_json", "");
	rejects("[]", "invalid_json", "");
	rejects("'just a string'", "invalid_json", "");
	rejects("null", "invalid_json", "");
	rejects("{" BASE, "invalid_json", "");
	rejects("{" BASE "} x", "invalid_json", "");
	rejects("{" BASE "}{}", "invalid_json", "");
	rejects("{" BASE ",}", "invalid_json", "");
	rejects("{'from' 'a@example.com'}", "invalid_json", "");
	rejects("{" BASE ",'html':'a\\xb'}", "invalid_json", "");
	rejects("{" BASE ",'html':'\\u12'}", "invalid_json", "");
	rejects("{" BASE ",'html':'\\u12G4'}", "invalid_json", "");
	rejects("{" BASE ",'html':'unterminated}", "invalid_json", "");
	rejects("{" BASE ",'html':'\\", "invalid_json", "");
	/* Raw control characters in strings, and outside them. */
	rejects("{" BASE ",'html':'a\nb'}", "invalid_json", "");
	rejects("{" BASE ",'html':'a\tb'}", "invalid_json", "");
	rejects("{" BASE ",'html':'a\x01'}", "invalid_json", "");
	rejects("{" BASE "\x0b}", "invalid_json", "");
	rejects("{" BASE "\x7f}", "invalid_json", "");
	/* A byte order mark, and non-ASCII outside strings. */
	rejects("\xef\xbb\xbf{" BASE "}", "invalid_json", "");
	rejects("{" BASE "\xc2\xa0}", "invalid_json", "");
}

static void
test_invalid_utf8(void **state)
{
	static const char *const bad[] = {
		"\x80",			/* lone continuation */
		"\xc0\x80",		/* overlong NUL */
		"\xc1\xbf",		/* overlong */
		"\xe0\x80\x80",		/* overlong */
		"\xe0\x9f\xbf",		/* overlong */
		"\xf0\x80\x80\x80",	/* overlong */
		"\xf0\x8f\xbf\xbf",	/* overlong */
		"\xed\xa0\x80",		/* U+D800 */
		"\xed\xbf\xbf",		/* U+DFFF */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xff",
		"\xc3",			/* truncated */
		"\xe2\x82",		/* truncated */
		"\xc3\x28",		/* bad continuation */
		"\xe2\x28\xa1",
		"\xf0\x9f\x98",		/* truncated 4-byte */
	};
	char	 body[128];
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(body, sizeof(body), "{\"subject\":\"a%sb\"}", bad[i]);
		rejects_raw(body, strlen(body), "invalid_utf8", "");
		snprintf(body, sizeof(body), "{\"x%s\":1}", bad[i]);
		rejects_raw(body, strlen(body), "invalid_utf8", "");
	}
	/* At the very end of the body (no byte after it to read). */
	rejects_raw("{\"a\":\"\xe2", 7, "invalid_utf8", "");
}

static void
test_valid_utf8_edges(void **state)
{
	struct mail	 m;

	(void)state;
	/* U+00A0, U+07FF, U+0800, U+D7FF, U+E000, U+FFFD, U+10000,
	 * U+10FFFF, raw and escaped. */
	accepts("{" FROM "," TO "," TEXT ",'subject':'\xc2\xa0\xdf\xbf"
	    "\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbd\xf0\x90\x80\x80"
	    "\xf4\x8f\xbf\xbf'}", &m);
	req_free(&m);
	rejects("{" FROM "," TO "," TEXT ",'subject':'\xc2\x80'}",
	    "invalid_subject", "subject");	/* U+0080 is C1 */
	accepts("{" FROM "," TO "," TEXT ",'subject':'\\udbff\\udfff\\ue000'}",
	    &m);
	assert_string_equal(m.subject, "\xf4\x8f\xbf\xbf\xee\x80\x80");
	req_free(&m);
}

static void
test_nul_and_surrogates(void **state)
{
	(void)state;
	rejects("{" BASE ",'html':'a\\u0000b'}", "nul_character", "");
	rejects("{" BASE ",'html':'\\u0000'}", "nul_character", "");
	rejects("{'a\\u0000':1}", "nul_character", "");
	rejects("{" FROM "," TO "," TEXT ",'subject':'Hi\\u0000Bcc'}",
	    "nul_character", "");
	/* An escaped backslash before u0000 is just text. */
	{
		struct mail	 m;

		accepts("{" BASE ",'html':'a\\\\u0000b'}", &m);
		assert_string_equal(m.html, "a\\u0000b");
		req_free(&m);
	}
	rejects_raw("{\"subject\":\"a\0b\"}", 17, "invalid_json", "");
	rejects("{" BASE ",'html':'\\ud800'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\uD800x'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\ud800\\u0041'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\ud800\\ud800'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\udc00'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\udfff\\ud800'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\ud800\\n'}", "invalid_utf8", "");
	rejects("{" BASE ",'html':'\\ud800", "invalid_utf8", "");
}

static char *
nested(int depth, const char *inner)
{
	struct buf	 b;
	int		 i;

	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'x':"), 0);
	for (i = 1; i < depth; i++)
		assert_int_equal(buf_adds(&b, i % 2 ? "[" : "{'k':"), 0);
	assert_int_equal(buf_adds(&b, inner), 0);
	for (i = depth - 1; i >= 1; i--)
		assert_int_equal(buf_adds(&b, i % 2 ? "]" : "}"), 0);
	assert_int_equal(buf_adds(&b, "}"), 0);
	return b.data;
}

static void
test_depth(void **state)
{
	char	*s;
	size_t	 i, n = 100000;

	(void)state;
	/* Depth 8 is read (and x is unknown); 9 is refused first. */
	s = nested(8, "1");
	rejects(s, "unknown_field", "x");
	free(s);
	s = nested(9, "1");
	rejects(s, "too_deep", "");
	free(s);
	/* Far deeper than cJSON's own limit, cheaply. */
	assert_non_null(s = malloc(n + 1));
	for (i = 0; i < n; i++)
		s[i] = '[';
	s[n] = '\0';
	rejects(s, "too_deep", "");
	free(s);
	/* Brackets inside strings do not count. */
	{
		struct mail	 m;

		accepts("{" BASE ",'html':'[[[[[[[[[[{{{{{{{{{{'}", &m);
		req_free(&m);
	}
}

static void
test_duplicate_keys(void **state)
{
	(void)state;
	rejects("{" BASE ",'to':'c@example.org'}", "duplicate_key", "to");
	rejects("{" BASE ",'t\\u0065xt':'u'}", "duplicate_key", "text");
	rejects("{" BASE ",'from':{'email':'a@example.com'}}", "duplicate_key",
	    "from");
	rejects("{'from':{'email':'a@example.com','email':'x@example.com'},"
	    TO "," SUBJ "," TEXT "}", "duplicate_key", "from.email");
	rejects("{" FROM ",'to':['x@example.org',{'email':'b@example.org',"
	    "'name':'a','name':'b'}]," SUBJ "," TEXT "}", "duplicate_key",
	    "to[1].name");
	rejects("{" BASE ",'headers':{'X-A':'1','X-A':'2'}}", "duplicate_key",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'1','x-a':'2'}}", "duplicate_key",
	    "headers.x-a");
	rejects("{" BASE ",'headers':{'References':'<a@b>',"
	    "'references':'<c@d>'}}", "duplicate_key", "headers.references");
	rejects("{" BASE ",'attachments':[{'filename':'a','filename':'b',"
	    "'contentType':'text/plain','content':''}]}", "duplicate_key",
	    "attachments[0].filename");
	/* Anywhere, even where the value is refused later. */
	rejects("{" BASE ",'z':{'k':[{'d':1,'d':2}]}}", "duplicate_key",
	    "z.k[0].d");
}

static void
test_many_keys(void **state)
{
	struct buf	 b;
	int		 i;

	(void)state;
	/* An object too big for the pairwise check: sorted instead. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{"), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_addf(&b, "%s'X-H%d':'v'", i ? "," : "",
		    i % 4999), 0);
	assert_int_equal(buf_adds(&b, "}}"), 0);
	rejects(b.data, "duplicate_key", "headers.X-H0");
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{"), 0);
	for (i = 0; i < 5000; i++)
		assert_int_equal(buf_addf(&b, "%s'X-H%d':'v'", i ? "," : "",
		    i), 0);
	assert_int_equal(buf_adds(&b, "}}"), 0);
	rejects(b.data, "too_many_headers", "headers");
	buf_free(&b);
}

/* Fields */

static void
test_unknown_and_missing(void **state)
{
	(void)state;
	rejects("{" BASE ",'bogus':1}", "unknown_field", "bogus");
	rejects("{" BASE ",'Subject':'x'}", "unknown_field", "Subject");
	rejects("{" BASE ",'reply_to':'r@example.org'}", "unknown_field",
	    "reply_to");
	rejects("{" BASE ",'a\\nb':1}", "unknown_field", "a?b");
	rejects("{'from':{'email':'a@example.com','nom':'x'}," TO "," SUBJ ","
	    TEXT "}", "unknown_field", "from.nom");
	rejects("{" BASE ",'attachments':[{'filename':'a','contentType':"
	    "'text/plain','content':'','size':1}]}", "unknown_field",
	    "attachments[0].size");
	rejects("{" TO "," SUBJ "," TEXT "}", "missing_field", "from");
	rejects("{" FROM "," SUBJ "," TEXT "}", "missing_field", "to");
	rejects("{" FROM "," TO "," TEXT "}", "missing_field", "subject");
	rejects("{'from':{'name':'x'}," TO "," SUBJ "," TEXT "}",
	    "missing_field", "from.email");
	rejects("{" FROM ",'to':['b@example.org',{'name':'n'}]," SUBJ ","
	    TEXT "}", "missing_field", "to[1].email");
	rejects("{" BASE ",'attachments':[{'filename':'a','content':''}]}",
	    "missing_field", "attachments[0].contentType");
	rejects("{" FROM "," TO "," SUBJ "}", "missing_body", "");
	rejects("{" FROM "," TO "," SUBJ ",'text':'','html':''}",
	    "missing_body", "");
}

static void
test_types(void **state)
{
	(void)state;
	rejects("{'from':1," TO "," SUBJ "," TEXT "}", "invalid_type", "from");
	rejects("{'from':['a@example.com']," TO "," SUBJ "," TEXT "}",
	    "invalid_type", "from");
	rejects("{'from':{'email':1}," TO "," SUBJ "," TEXT "}",
	    "invalid_type", "from.email");
	rejects("{'from':{'email':'a@example.com','name':null}," TO "," SUBJ
	    "," TEXT "}", "invalid_type", "from.name");
	rejects("{" FROM ",'to':1e999999," SUBJ "," TEXT "}", "invalid_type",
	    "to");
	rejects("{" FROM ",'to':true," SUBJ "," TEXT "}", "invalid_type", "to");
	rejects("{" FROM ",'to':['b@example.org',2]," SUBJ "," TEXT "}",
	    "invalid_type", "to[1]");
	rejects("{" FROM ",'to':[['b@example.org']]," SUBJ "," TEXT "}",
	    "invalid_type", "to[0]");
	rejects("{" BASE ",'cc':null}", "invalid_type", "cc");
	rejects("{" BASE ",'bcc':{}}", "missing_field", "bcc.email");
	rejects("{" FROM "," TO ",'subject':1," TEXT "}", "invalid_type",
	    "subject");
	rejects("{" FROM "," TO "," SUBJ ",'text':['t']}", "invalid_type",
	    "text");
	rejects("{" BASE ",'html':{}}", "invalid_type", "html");
	rejects("{" BASE ",'headers':[]}", "invalid_type", "headers");
	rejects("{" BASE ",'headers':{'X-A':1}}", "invalid_type",
	    "headers.X-A");
	rejects("{" BASE ",'attachments':{}}", "invalid_type", "attachments");
	rejects("{" BASE ",'attachments':['x']}", "invalid_type",
	    "attachments[0]");
	rejects("{" BASE ",'attachments':[{'filename':'a','contentType':"
	    "'text/plain','content':5}]}", "invalid_type",
	    "attachments[0].content");
}

static void
test_addresses(void **state)
{
	(void)state;
	rejects("{'from':'nope'," TO "," SUBJ "," TEXT "}", "invalid_address",
	    "from");
	rejects("{'from':{'email':'a@localhost'}," TO "," SUBJ "," TEXT "}",
	    "invalid_address", "from.email");
	rejects("{" FROM ",'to':['b@example.org','c@example.org',"
	    "{'email':'\\\"q\\\"@example.org'}]," SUBJ "," TEXT "}",
	    "invalid_address", "to[2].email");
	rejects("{" BASE ",'cc':['c@[127.0.0.1]']}", "invalid_address",
	    "cc[0]");
	rejects("{" BASE ",'replyTo':'r@example.org\\r\\nBcc: x@example.com'}",
	    "invalid_address", "replyTo");
	rejects("{" BASE ",'bcc':'x@example.org, y@example.org'}",
	    "invalid_address", "bcc");
	rejects("{" BASE ",'cc':[]}", "empty_array", "cc");
	rejects("{" FROM ",'to':[]," SUBJ "," TEXT "}", "empty_array", "to");
	rejects("{" BASE ",'replyTo':[]}", "empty_array", "replyTo");
	{
		struct req_error	 e;
		struct mail		 m;

		assert_int_equal(parse("{'from':'a@example.com','to':'b@x',"
		    SUBJ "," TEXT "}", &m, &e), -1);
		assert_non_null(strstr(e.message, "two labels"));
	}
}

static void
test_names(void **state)
{
	struct buf	 b;
	struct mail	 m;
	int		 i;

	(void)state;
	rejects("{'from':{'email':'a@example.com','name':'A\\r\\nBcc: x'},"
	    TO "," SUBJ "," TEXT "}", "invalid_name", "from.name");
	rejects("{" FROM ",'to':{'email':'b@example.org','name':'a\\u2028b'},"
	    SUBJ "," TEXT "}", "invalid_name", "to.name");
	rejects("{" BASE ",'cc':[{'email':'c@example.org','name':'\\u0085'}]}",
	    "invalid_name", "cc[0].name");
	rejects("{" BASE ",'cc':[{'email':'c@example.org','name':'\\t'}]}",
	    "invalid_name", "cc[0].name");
	rejects("{" BASE ",'cc':[{'email':'c@example.org','name':'a\\u007f'}]}",
	    "invalid_name", "cc[0].name");
	rejects("{" BASE ",'cc':[{'email':'c@example.org','name':'\\u2029'}]}",
	    "invalid_name", "cc[0].name");
	/* 200 code points (4 octets each) pass, 201 do not. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" TO "," SUBJ "," TEXT ",'from':"
	    "{'email':'a@example.com','name':'"), 0);
	for (i = 0; i < 200; i++)
		assert_int_equal(buf_adds(&b, "\xf0\x9f\x8e\x89"), 0);
	assert_int_equal(buf_adds(&b, "'}}"), 0);
	accepts(b.data, &m);
	assert_int_equal(strlen(m.from.name), 800);
	req_free(&m);
	b.len -= 3;
	assert_int_equal(buf_adds(&b, "x'}}"), 0);
	rejects(b.data, "invalid_name", "from.name");
	buf_free(&b);
}

static void
test_recipient_limits(void **state)
{
	struct buf		 b;
	struct req_error	 e;
	struct mail		 m;
	int			 i;

	(void)state;
	/* to + cc + bcc: 50 pass, 51 do not; the field names the list
	 * that went over. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" FROM "," SUBJ "," TEXT ",'to':["),
	    0);
	for (i = 0; i < 30; i++)
		assert_int_equal(buf_addf(&b, "%s'to%d@example.org'",
		    i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "],'cc':["), 0);
	for (i = 0; i < 15; i++)
		assert_int_equal(buf_addf(&b, "%s'cc%d@example.org'",
		    i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "],'bcc':["), 0);
	for (i = 0; i < 5; i++)
		assert_int_equal(buf_addf(&b, "%s'bcc%d@example.org'",
		    i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	accepts(b.data, &m);
	assert_int_equal(m.nto + m.ncc + m.nbcc, 50);
	assert_string_equal(m.bcc[4].email, "bcc4@example.org");
	req_free(&m);
	b.len -= 2;
	assert_int_equal(buf_adds(&b, ",'bcc5@example.org']}"), 0);
	rejects(b.data, "too_many_recipients", "bcc");
	/* 10,000 recipients, refused before any is parsed. */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" FROM "," SUBJ "," TEXT ",'to':["),
	    0);
	for (i = 0; i < 10000; i++)
		assert_int_equal(buf_addf(&b, "%s'r%d@example.org'",
		    i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	rejects(b.data, "too_many_recipients", "to");
	/* The limit is the caller's. */
	{
		size_t	 len;
		char	*body = J(b.data, &len);

		assert_int_equal(parse_raw(body, len, 10000, &m, &e), 0);
		assert_int_equal(m.nto, 10000);
		req_free(&m);
		assert_int_equal(parse_raw(body, len, 9999, &m, &e), -1);
		assert_string_equal(e.code, "too_many_recipients");
		free(body);
	}
	/* replyTo has the same limit on its own. */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'replyTo':["), 0);
	for (i = 0; i < 51; i++)
		assert_int_equal(buf_addf(&b, "%s'r%d@example.org'",
		    i ? "," : "", i), 0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	rejects(b.data, "too_many_recipients", "replyTo");
	buf_free(&b);
}

static void
test_subject(void **state)
{
	struct buf	 b;
	struct mail	 m;
	int		 i;

	(void)state;
	rejects("{" FROM "," TO "," TEXT ",'subject':''}", "invalid_subject",
	    "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\nBcc: x@example.com'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\rb'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\tb'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'\\u001b[31m'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\u007f'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\u0085b'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\u009fb'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\\u2028b'}",
	    "invalid_subject", "subject");
	rejects("{" FROM "," TO "," TEXT ",'subject':'a\xe2\x80\xa9'}",
	    "invalid_subject", "subject");
	/* Printable look-alikes of injections are just text. */
	accepts("{" FROM "," TO "," TEXT ",'subject':'%0d%0aBcc: x \\\\r\\\\n "
	    "\\u00a0\\u2027\\u202a'}", &m);
	assert_string_equal(m.subject, "%0d%0aBcc: x \\r\\n "
	    "\xc2\xa0\xe2\x80\xa7\xe2\x80\xaa");
	req_free(&m);
	/* 200 code points pass, 201 do not. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" FROM "," TO "," TEXT ",'subject':'"),
	    0);
	for (i = 0; i < 199; i++)
		assert_int_equal(buf_adds(&b, "\xe4\xb8\xad"), 0);
	/* e and U+0301: two code points */
	assert_int_equal(buf_adds(&b, "e\xcc\x81'}"), 0);
	rejects(b.data, "invalid_subject", "subject");
	b.len -= 5;
	assert_int_equal(buf_adds(&b, "e'}"), 0);
	accepts(b.data, &m);
	req_free(&m);
	buf_free(&b);
}

/* A charset parameter on text types: cut off, lowercased, kept apart. */
static void
test_attachment_charset(void **state)
{
	static const char *const ok[][2] = {
		{ "text/plain; charset=utf-8", "utf-8" },
		{ "Text/CSV;charset=ISO-8859-1", "iso-8859-1" },
		{ "text/html ; charset=windows-1252 ", "windows-1252" },
		{ "text/plain; CHARSET=us-ascii", "us-ascii" },
		{ "text/plain", NULL },
	};
	struct mail	 m;
	char		 json[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(json, sizeof(json), "{" BASE ",'attachments':[{"
		    "'filename':'a','contentType':'%s','content':''}]}",
		    ok[i][0]);
		accepts(json, &m);
		assert_int_equal(strncmp(m.attachments[0].content_type,
		    "text/", 5), 0);
		assert_null(strpbrk(m.attachments[0].content_type, "; "));
		if (ok[i][1] == NULL)
			assert_null(m.attachments[0].charset);
		else
			assert_string_equal(m.attachments[0].charset, ok[i][1]);
		req_free(&m);
	}
}

/* Auto-Submitted: RFC 3834's values only, written in lower case. */
static void
test_auto_submitted(void **state)
{
	static const char *const ok[][2] = {
		{ "no", "no" }, { "auto-generated", "auto-generated" },
		{ "Auto-Replied", "auto-replied" },
		{ "auto-notified", "auto-notified" },
	};
	struct mail	 m;
	char		 json[512];
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(json, sizeof(json), "{" BASE ",'headers':{"
		    "'auto-submitted':'%s'}}", ok[i][0]);
		accepts(json, &m);
		assert_int_equal(m.nheaders, 1);
		assert_string_equal(m.headers[0].name, "Auto-Submitted");
		assert_string_equal(m.headers[0].value, ok[i][1]);
		req_free(&m);
	}
	rejects("{" BASE ",'headers':{'Auto-Submitted':'yes'}}",
	    "invalid_header", "headers.Auto-Submitted");
	rejects("{" BASE ",'headers':{'Auto-Submitted':'auto-replied; "
	    "owner-email=a@example.com'}}", "invalid_header",
	    "headers.Auto-Submitted");
	rejects("{" BASE ",'headers':{'Auto-Submitted':'auto-generated\\r\\n"
	    "Bcc: x@example.com'}}", "invalid_header",
	    "headers.Auto-Submitted");
	rejects("{" BASE ",'headers':{'Auto-Submitted':'no',"
	    "'auto-submitted':'no'}}", "duplicate_key",
	    "headers.auto-submitted");
}

static void
test_bodies(void **state)
{
	(void)state;
	rejects("{" FROM "," TO "," SUBJ ",'text':'a\\u0001'}", "invalid_body",
	    "text");
	rejects("{" FROM "," TO "," SUBJ ",'text':'a\\f'}", "invalid_body",
	    "text");
	rejects("{" BASE ",'html':'\\u007f'}", "invalid_body", "html");
	rejects("{" BASE ",'html':'\\u001b'}", "invalid_body", "html");
	rejects("{" BASE ",'html':'\\b'}", "invalid_body", "html");
}

static void
test_headers(void **state)
{
	struct buf	 b;
	struct mail	 m;
	char		 name[200], want[64];
	int		 i;

	(void)state;
	rejects("{" BASE ",'headers':{'Bcc':'x@example.com'}}",
	    "header_not_allowed", "headers.Bcc");
	rejects("{" BASE ",'headers':{'to':'x@example.com'}}",
	    "header_not_allowed", "headers.to");
	rejects("{" BASE ",'headers':{'Content-Type':'text/html'}}",
	    "header_not_allowed", "headers.Content-Type");
	rejects("{" BASE ",'headers':{'From':'x@example.com'}}",
	    "header_not_allowed", "headers.From");
	rejects("{" BASE ",'headers':{'Subject':'x'}}",
	    "header_not_allowed", "headers.Subject");
	rejects("{" BASE ",'headers':{'Message-ID':'<x@y>'}}",
	    "header_not_allowed", "headers.Message-ID");
	rejects("{" BASE ",'headers':{'X-':'x'}}", "header_not_allowed",
	    "headers.X-");
	rejects("{" BASE ",'headers':{'XFoo':'x'}}", "header_not_allowed",
	    "headers.XFoo");
	rejects("{" BASE ",'headers':{'List-Unsubscribe2':'x'}}",
	    "header_not_allowed", "headers.List-Unsubscribe2");
	/* Names that try to smuggle a header. */
	rejects("{" BASE ",'headers':{'X-A: b\\r\\nBcc':'x@example.com'}}",
	    "invalid_header", "headers.X-A: b??Bcc");
	rejects("{" BASE ",'headers':{'X-A:':'b'}}", "invalid_header",
	    "headers.X-A:");
	rejects("{" BASE ",'headers':{'X A':'b'}}", "invalid_header",
	    "headers.X A");
	rejects("{" BASE ",'headers':{'X-\\u00e9':'b'}}", "invalid_header",
	    "headers.X-??");
	rejects("{" BASE ",'headers':{'':'b'}}", "invalid_header", "headers.");
	snprintf(name, sizeof(name), "{" BASE ",'headers':{'X-%.63s':'b'}}",
	    "012345678901234567890123456789012345678901234567890123456789"
	    "0123");
	strlcpy(want, "headers.X-012345678901234567890123456789012345678901"
	    "234567890123456789", sizeof(want));	/* cut at 63 */
	rejects(name, "invalid_header", want);	/* 65 octets; field cut */
	snprintf(name, sizeof(name), "{" BASE ",'headers':{'X-%.62s':'b'}}",
	    "012345678901234567890123456789012345678901234567890123456789"
	    "0123");
	accepts(name, &m);			/* 64 octets */
	req_free(&m);
	/* Values. */
	rejects("{" BASE ",'headers':{'X-A':'a\\r\\nBcc: x@example.com'}}",
	    "invalid_header", "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a\\nb'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a\\u2028b'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a\\u2029b'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a\\u0085b'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a\\tb'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':''}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':' a'}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'X-A':'a '}}", "invalid_header",
	    "headers.X-A");
	rejects("{" BASE ",'headers':{'In-Reply-To':'<\\u00e9@x>'}}",
	    "invalid_header", "headers.In-Reply-To");
	/* Up to 998 octets per line: a long word fails, spaces fold. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{'X-Long':'"), 0);
	for (i = 0; i < 990 - 8; i++)
		assert_int_equal(buf_addc(&b, 'w'), 0);
	assert_int_equal(buf_adds(&b, "'}}"), 0);
	accepts(b.data, &m);		/* "X-Long: " + 982 = 990 */
	req_free(&m);
	b.len -= 3;
	assert_int_equal(buf_adds(&b, "wwwwwwwww'}}"), 0);
	rejects(b.data, "invalid_header", "headers.X-Long");
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{'References':'"),
	    0);
	for (i = 0; i < 500; i++)
		assert_int_equal(buf_addf(&b, "%s<id%d@example.org>",
		    i ? " " : "", i), 0);
	assert_int_equal(buf_adds(&b, "'}}"), 0);
	accepts(b.data, &m);
	req_free(&m);
	/* Non-ASCII X-* values are encoded, so need no spaces. */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{'X-U':'"), 0);
	for (i = 0; i < 2000; i++)
		assert_int_equal(buf_adds(&b, "\xc3\xa9"), 0);
	assert_int_equal(buf_adds(&b, "'}}"), 0);
	accepts(b.data, &m);
	req_free(&m);
	/* 50 headers pass, 51 do not. */
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'headers':{"), 0);
	for (i = 0; i < 50; i++)
		assert_int_equal(buf_addf(&b, "%s'X-H%d':'v'", i ? "," : "",
		    i), 0);
	assert_int_equal(buf_adds(&b, "}}"), 0);
	accepts(b.data, &m);
	assert_int_equal(m.nheaders, 50);
	req_free(&m);
	b.len -= 2;
	assert_int_equal(buf_adds(&b, ",'X-H50':'v'}}"), 0);
	rejects(b.data, "too_many_headers", "headers");
	buf_free(&b);
}

#define ATT(f, t, c) \
	"{" BASE ",'attachments':[{'filename':'" f "','contentType':'" t \
	"','content':'" c "'}]}"

static void
test_attachments(void **state)
{
	struct buf	 b;
	struct mail	 m;
	int		 i;

	(void)state;
	rejects(ATT("", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a/b", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("..\\\\x", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("..", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a\\r\\nb", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a\\u2028", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a\\u0085", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT(" a", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a\\u3000", "text/plain", ""), "invalid_attachment",
	    "attachments[0].filename");
	rejects(ATT("a", "text", ""), "invalid_attachment",
	    "attachments[0].contentType");
	rejects(ATT("a", "text/", ""), "invalid_attachment",
	    "attachments[0].contentType");
	rejects(ATT("a", "/plain", ""), "invalid_attachment",
	    "attachments[0].contentType");
	rejects(ATT("a", "text/plain/x", ""), "invalid_attachment",
	    "attachments[0].contentType");
	/* Parameters: a charset token on text types only. */
	rejects(ATT("a", "application/pdf; charset=utf-8", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; name=x", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; charset=\\\"utf-8\\\"", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; charset=utf-8; format=flowed", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; charset=", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain;", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; charset = utf-8", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain; charset=utf-8\\r\\nBcc: x", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain charset=utf-8", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "text/plain\\r\\nBcc: x", ""),
	    "invalid_attachment", "attachments[0].contentType");
	rejects(ATT("a", "multipart/mixed", ""), "invalid_attachment",
	    "attachments[0].contentType");
	rejects(ATT("a", "Message/RFC822", ""), "invalid_attachment",
	    "attachments[0].contentType");
	/* Strict base64. */
	rejects(ATT("a", "text/plain", "QQ"), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QQ="), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QR=="), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QUJ="), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QQ==QQ=="), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "Q===") , "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "===="), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QUJD\\nREVG"), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "QUJD REVG"), "invalid_attachment",
	    "attachments[0].content");
	rejects(ATT("a", "text/plain", "-_-_"), "invalid_attachment",
	    "attachments[0].content");
	accepts(ATT("a b \\u00e9.txt", "Text/Plain", "QUJDREVG"), &m);
	assert_int_equal(m.attachments[0].len, 6);
	assert_memory_equal(m.attachments[0].data, "ABCDEF", 6);
	assert_string_equal(m.attachments[0].content_type, "text/plain");
	req_free(&m);
	accepts(ATT("a", "application/vnd.ms-excel+x.y", "QUI="), &m);
	assert_int_equal(m.attachments[0].len, 2);
	assert_memory_equal(m.attachments[0].data, "AB", 2);
	req_free(&m);
	accepts(ATT("a", "text/plain", "AP/+"), &m);
	assert_int_equal(m.attachments[0].len, 3);
	assert_memory_equal(m.attachments[0].data, "\x00\xff\xfe", 3);
	req_free(&m);
	/* 255 octets pass, 256 do not; 100 attachments pass, 101 do not. */
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'attachments':[{'filename':"
	    "'"), 0);
	for (i = 0; i < 85; i++)
		assert_int_equal(buf_adds(&b, "\xe2\x82\xac"), 0);
	assert_int_equal(buf_adds(&b, "','contentType':'a/b','content':''}]}"),
	    0);
	accepts(b.data, &m);
	req_free(&m);
	b.len -= strlen("','contentType':'a/b','content':''}]}");
	assert_int_equal(buf_adds(&b, "x','contentType':'a/b','content':''}]}"),
	    0);
	rejects(b.data, "invalid_attachment", "attachments[0].filename");
	buf_reset(&b);
	assert_int_equal(buf_adds(&b, "{" BASE ",'attachments':["), 0);
	for (i = 0; i < 100; i++)
		assert_int_equal(buf_addf(&b, "%s{'filename':'f%d',"
		    "'contentType':'a/b','content':'QQ=='}", i ? "," : "", i),
		    0);
	assert_int_equal(buf_adds(&b, "]}"), 0);
	accepts(b.data, &m);
	assert_int_equal(m.nattachments, 100);
	assert_string_equal(m.attachments[99].filename, "f99");
	req_free(&m);
	b.len -= 2;
	assert_int_equal(buf_adds(&b, ",{'filename':'x','contentType':'a/b',"
	    "'content':''}]}"), 0);
	rejects(b.data, "too_many_attachments", "attachments");
	buf_free(&b);
	accepts("{" BASE ",'attachments':[]}", &m);
	assert_int_equal(m.nattachments, 0);
	req_free(&m);
}

/* Out of memory inside cJSON: 500 internal_error, never a crash. */

static int	 alloc_budget;

static void *
failing_malloc(size_t n)
{
	if (alloc_budget-- <= 0) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc(n);
}

static void
test_enomem(void **state)
{
	cJSON_Hooks		 hooks = { failing_malloc, free };
	struct req_error	 e;
	struct mail		 m;
	int			 i, rc, oom = 0;

	(void)state;
	cJSON_InitHooks(&hooks);
	for (i = 0; i < 40; i++) {
		alloc_budget = i;
		rc = parse("{" BASE ",'cc':[{'email':'c@example.org',"
		    "'name':'C'}],'headers':{'X-A':'b'}}", &m, &e);
		if (rc == -1) {
			assert_int_equal(e.status, 500);
			assert_string_equal(e.code, "internal_error");
			check_empty(&m);
			oom++;
		} else {
			assert_string_equal(m.cc[0].name, "C");
			req_free(&m);
		}
	}
	cJSON_InitHooks(NULL);
	assert_true(oom > 5);
	assert_int_equal(parse("{" BASE "}", &m, &e), 0);
	req_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal),
		cmocka_unit_test(test_every_shape),
		cmocka_unit_test(test_body_normalised),
		cmocka_unit_test(test_whitespace_and_escapes),
		cmocka_unit_test(test_invalid_json),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_valid_utf8_edges),
		cmocka_unit_test(test_nul_and_surrogates),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_unknown_and_missing),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_recipient_limits),
		cmocka_unit_test(test_subject),
		cmocka_unit_test(test_bodies),
		cmocka_unit_test(test_attachment_charset),
		cmocka_unit_test(test_auto_submitted),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_enomem),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
