/*
 * Unit tests: Resend's POST /emails body (resend_req.c), the error twins
 * (resend.c) and ISO 8601 times (isotime.c).
 *
 * JSON in these tests is written with ' for " (J() swaps them).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "isotime.h"
#include "mail.h"
#include "req.h"
#include "resend.h"
#include "resend_req.h"
#include "send.h"

#define BASE	"'from':'a@example.com','to':'b@example.org'," \
		"'subject':'s','text':'t'"

static int
parse(const char *json, struct mail *m, struct req_error *e)
{
	struct req_limits	 lim = { 50 };
	size_t			 i, len = strlen(json);
	char			*p = malloc(len + 1);
	int			 rc;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = json[i] == '\'' ? '"' : json[i];
	rc = resend_parse(p, len, &lim, m, e);
	memset(p, 'x', len);	/* m must not point into the body */
	free(p);
	return rc;
}

static void
fails(const char *json, const char *code, const char *field)
{
	struct mail		 m;
	struct req_error	 e;

	if (parse(json, &m, &e) != -1)
		fail_msg("accepted: %s", json);
	assert_string_equal(e.code, code);
	if (field != NULL)
		assert_string_equal(e.field, field);
	assert_null(m.priv);
	assert_null(m.ext);
}

static void
test_addresses(void **state)
{
	struct mail		 m;
	struct req_error	 e;

	(void)state;
	assert_int_equal(parse("{'from':'Shop <shop@example.com>',"
	    "'to':['A B <a@example.org>','c@example.org'],"
	    "'cc':'  \\'Doe, J\\' <d@example.org>',"
	    "'reply_to':'R <r@example.org>','subject':'s','text':'t'}",
	    &m, &e), 0);
	assert_string_equal(m.from.email, "shop@example.com");
	assert_string_equal(m.from.name, "Shop");
	assert_int_equal(m.nto, 2);
	assert_string_equal(m.to[0].name, "A B");
	assert_string_equal(m.to[1].email, "c@example.org");
	assert_null(m.to[1].name);
	assert_int_equal(m.nreply_to, 1);
	assert_string_equal(m.reply_to[0].email, "r@example.org");
	resend_free(&m);

	assert_int_equal(parse("{'from':'<shop@example.com>','to':"
	    "'\\'x \\\\\\'q\\\\\\' y\\' <b@example.org>','subject':'s',"
	    "'text':'t'}", &m, &e), 0);
	assert_null(m.from.name);
	assert_string_equal(m.to[0].name, "x \"q\" y");
	resend_free(&m);

	fails("{'from':'bad','to':'b@example.org','subject':'s','text':'t'}",
	    "invalid_address", "from");
	fails("{'from':'N <bad>','to':'b@example.org','subject':'s',"
	    "'text':'t'}", "invalid_address", "from.email");
	fails("{'from':'a@example.com','to':'b@example.org','reply_to':'x',"
	    "'subject':'s','text':'t'}", "invalid_address", "reply_to");
	fails("{'from':'a@example.com','to':['a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org','a@example.org','a@example.org','a@example.org',"
	    "'a@example.org'],'subject':'s','text':'t'}",
	    "too_many_recipients", "to");
}

static void
test_nulls_and_unknown(void **state)
{
	struct mail		 m;
	struct req_error	 e;

	(void)state;
	assert_int_equal(parse("{" BASE ",'cc':null,'html':null,'tags':null,"
	    "'topic_id':null,'scheduled_at':null,'attachments':null}", &m,
	    &e), 0);
	assert_int_equal(m.ncc, 0);
	assert_null(m.html);
	assert_int_equal(m.ntags, 0);
	assert_int_equal(m.scheduled_at, 0);
	resend_free(&m);
	fails("{" BASE ",'bogus':1}", "unknown_field", "bogus");
	fails("{" BASE ",'template':{'id':'x'}}", "not_supported",
	    "template");
	fails("{" BASE ",'topic_id':'t'}", "not_supported", "topic_id");
	fails("{'from':'a@example.com','to':'b@example.org','subject':null,"
	    "'text':'t'}", "missing_field", "subject");
	fails("[]", "invalid_json", NULL);
	fails("{" BASE ",'replyTo':'x@example.org'}", "unknown_field",
	    "replyTo");
}

static void
test_tags(void **state)
{
	struct mail		 m;
	struct req_error	 e;
	char			 json[1024], v[300];

	(void)state;
	assert_int_equal(parse("{" BASE ",'tags':[{'name':'category','value':"
	    "'confirm_email'},{'name':'A-9','value':'x'}]}", &m, &e), 0);
	assert_int_equal(m.ntags, 2);
	assert_string_equal(m.tags[0].name, "category");
	assert_string_equal(m.tags[0].value, "confirm_email");
	assert_string_equal(m.tags[1].name, "A-9");
	resend_free(&m);

	memset(v, 'v', 256);
	v[256] = '\0';
	snprintf(json, sizeof(json), "{" BASE ",'tags':[{'name':'n','value':"
	    "'%s'}]}", v);
	assert_int_equal(parse(json, &m, &e), 0);
	resend_free(&m);
	v[256] = 'v';
	v[257] = '\0';
	snprintf(json, sizeof(json), "{" BASE ",'tags':[{'name':'n','value':"
	    "'%s'}]}", v);
	fails(json, "invalid_tag", "tags[0]");

	fails("{" BASE ",'tags':{'name':'a','value':'b'}}", "invalid_tag",
	    "tags");
	fails("{" BASE ",'tags':[{'name':'a'}]}", "invalid_tag", "tags[0]");
	fails("{" BASE ",'tags':[{'name':'a','value':'b','x':1}]}",
	    "invalid_tag", "tags[0]");
	fails("{" BASE ",'tags':[{'name':'a b','value':'b'}]}", "invalid_tag",
	    "tags[0]");
	fails("{" BASE ",'tags':[{'name':'','value':'b'}]}", "invalid_tag",
	    "tags[0]");
	fails("{" BASE ",'tags':[{'name':'\\u00e9','value':'b'}]}",
	    "invalid_tag", "tags[0]");
	fails("{" BASE ",'tags':[{'name':'a','value':1}]}", "invalid_tag",
	    "tags[0]");
	fails("{" BASE ",'tags':[{'name':'a','value':'1'},{'name':'b',"
	    "'value':'2'},{'name':'a','value':'3'}]}", "invalid_tag",
	    "tags[2]");
}

static void
test_attachments(void **state)
{
	struct mail		 m;
	struct req_error	 e;

	(void)state;
	assert_int_equal(parse("{" BASE ",'html':'<img src=cid:x>',"
	    "'attachments':[{'filename':'a.PNG','content':{'type':'Buffer',"
	    "'data':[0,1,254,255,7]},'content_id':'<x@y>'},"
	    "{'filename':'b','content':'AAE=','content_type':'Text/Plain',"
	    "'path':null,'content_id':null},"
	    "{'filename':'c.pdf','content':{'type':'Buffer','data':[]}}]}",
	    &m, &e), 0);
	assert_int_equal(m.nattachments, 3);
	assert_string_equal(m.attachments[0].content_type, "image/png");
	assert_int_equal(m.attachments[0].len, 5);
	assert_memory_equal(m.attachments[0].data, "\0\1\376\377\7", 5);
	assert_string_equal(m.attachments[0].content_id, "x@y");
	assert_string_equal(m.attachments[1].content_type, "text/plain");
	assert_int_equal(m.attachments[1].len, 2);
	assert_null(m.attachments[1].content_id);
	assert_string_equal(m.attachments[2].content_type, "application/pdf");
	assert_int_equal(m.attachments[2].len, 0);
	resend_free(&m);

	fails("{" BASE ",'attachments':[{'filename':'a','content':'A'}]}",
	    "invalid_attachment", "attachments[0].content");
	fails("{" BASE ",'attachments':[{'filename':'a','content':"
	    "{'type':'Buffer','data':[1.5]}}]}", "invalid_attachment",
	    "attachments[0].content");
	fails("{" BASE ",'attachments':[{'filename':'a','content':"
	    "{'type':'Buffer','data':[-1]}}]}", "invalid_attachment", NULL);
	fails("{" BASE ",'attachments':[{'filename':'a','content':"
	    "{'0':1,'1':2}}]}", "invalid_attachment", NULL);
	fails("{" BASE ",'attachments':[{'filename':'a','content':'AA==',"
	    "'path':'https://example.com/x'}]}", "not_supported",
	    "attachments[0]");
	fails("{" BASE ",'attachments':[{'filename':'a','content':'AA==',"
	    "'content_id':'a b'}]}", "invalid_attachment",
	    "attachments[0].content_id");
	fails("{" BASE ",'attachments':[{'filename':'a','content':'AA==',"
	    "'content_id':7}]}", "invalid_type", "attachments[0].content_id");
	fails("{" BASE ",'attachments':[{'filename':'a','content':'AA==',"
	    "'content_type':'a b'}]}", "invalid_attachment",
	    "attachments[0].content_type");
	fails("{" BASE ",'attachments':[{'content':'AA=='}]}",
	    "missing_field", "attachments[0].filename");
}

static void
test_schedule(void **state)
{
	struct mail		 m;
	struct req_error	 e;
	char			 json[256], at[ISOTIME_LEN + 1];
	time_t			 now = time(NULL);

	(void)state;
	isotime_format(now + 3600, at);
	snprintf(json, sizeof(json), "{" BASE ",'scheduled_at':'%s'}", at);
	assert_int_equal(parse(json, &m, &e), 0);
	assert_int_equal(m.scheduled_at, now + 3600);
	resend_free(&m);
	isotime_format(now - 3600, at);
	snprintf(json, sizeof(json), "{" BASE ",'scheduled_at':'%s'}", at);
	assert_int_equal(parse(json, &m, &e), 0);
	assert_true(m.scheduled_at >= now);	/* past: now */
	resend_free(&m);
	isotime_format(now + 31 * 86400, at);
	snprintf(json, sizeof(json), "{" BASE ",'scheduled_at':'%s'}", at);
	fails(json, "invalid_scheduled_at", "scheduled_at");
	fails("{" BASE ",'scheduled_at':'in 1 min'}", "invalid_scheduled_at",
	    "scheduled_at");
	fails("{" BASE ",'scheduled_at':42}", "invalid_scheduled_at",
	    "scheduled_at");
}

static void
test_isotime(void **state)
{
	static const struct {
		const char	*s;
		long long	 t;
	} ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-12-01T18:16:09Z", 1796148969 },
		{ "2026-12-01T18:16:09.858Z", 1796148969 },
		{ "2026-12-01T19:16:09+01:00", 1796148969 },
		{ "2026-12-01T13:46:09-0430", 1796148969 },
		{ "2026-12-01T20:16:09+02", 1796148969 },
		{ "2026-12-01 18:16Z", 1796148960 },
		{ "2024-02-29T00:00:00z", 1709164800 },
		{ "2016-12-31T23:59:60Z", 1483228799 },
	};
	static const char *const bad[] = {
		"", "2026-12-01", "2026-12-01T18:16:09", "2026-12-01T18:16:09 Z",
		"2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
		"2026-12-01T24:00:00Z", "2026-12-01T18:60:00Z",
		"2026-12-01T18:16:09+24:00", "2026-12-01T18:16:09.Z",
		"1969-12-31T23:59:59Z", "2026-12-01T18:16:09Zx",
		"2026-12-01T18:16:09+01:0", "+2026-12-01T18:16:09Z",
	};
	char	 buf[ISOTIME_LEN + 1];
	time_t	 t;
	size_t	 i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		if (isotime_parse(ok[i].s, &t) != 0)
			fail_msg("refused %s", ok[i].s);
		assert_int_equal((long long)t, ok[i].t);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (isotime_parse(bad[i], &t) != -1)
			fail_msg("accepted %s", bad[i]);
	assert_string_equal(isotime_format(1796148969, buf),
	    "2026-12-01T18:16:09Z");
}

static void
test_twins(void **state)
{
	int		 status;
	const char	*name;

	(void)state;
	resend_twin("unauthorized", NULL, SEND_ERR_NO_TOKEN, &status, &name);
	assert_int_equal(status, 401);
	assert_string_equal(name, "missing_api_key");
	resend_twin("unauthorized", NULL, 0, &status, &name);
	assert_int_equal(status, 403);
	assert_string_equal(name, "invalid_api_key");
	resend_twin("invalid_address", "from", 0, &status, &name);
	assert_string_equal(name, "invalid_from_address");
	resend_twin("invalid_address", "to[1]", 0, &status, &name);
	assert_int_equal(status, 422);
	assert_string_equal(name, "validation_error");
	resend_twin("sender_not_allowed", "from", 0, &status, &name);
	assert_int_equal(status, 403);
	assert_string_equal(name, "validation_error");
	resend_twin("missing_body", NULL, 0, &status, &name);
	assert_string_equal(name, "missing_required_field");
	resend_twin("idempotency_in_progress", NULL, 0, &status, &name);
	assert_int_equal(status, 409);
	assert_string_equal(name, "concurrent_idempotent_requests");
	resend_twin("spool_full", NULL, 0, &status, &name);
	assert_int_equal(status, 503);
	assert_string_equal(name, "application_error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_nulls_and_unknown),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_attachments),
		cmocka_unit_test(test_schedule),
		cmocka_unit_test(test_isotime),
		cmocka_unit_test(test_twins),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
