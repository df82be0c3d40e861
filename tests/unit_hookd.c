/*
 * Unit tests: hookd's HMAC-SHA256 (RFC 4231 vectors), the Standard
 * Webhooks signature (the vector of the scheme's reference libraries),
 * webhook secrets and URLs, and the event body.
 */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cJSON.h>

#include "body.h"
#include "hooks.h"
#include "sign.h"
#include "spool.h"

static void
hex(const unsigned char *p, size_t n, char *out)
{
	size_t	i;

	for (i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", p[i]);
}

static void
check_hmac(const void *key, size_t klen, const void *msg, size_t mlen,
    const char *want)
{
	unsigned char	mac[SIGN_MAC_LEN];
	char		got[2 * SIGN_MAC_LEN + 1];

	assert_int_equal(sign_hmac_sha256(key, klen, msg, mlen, mac), 0);
	hex(mac, sizeof(mac), got);
	assert_string_equal(got, want);
}

/* RFC 4231 section 4: test cases 1, 2, 3, 6 and 7 (HMAC-SHA-256). */
static void
test_rfc4231(void **state)
{
	unsigned char	k[131], d[50];

	(void)state;
	memset(k, 0x0b, 20);
	check_hmac(k, 20, "Hi There", 8, "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7");
	check_hmac("Jefe", 4, "what do ya want for nothing?", 28,
	    "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(k, 0xaa, 20);
	memset(d, 0xdd, 50);
	check_hmac(k, 20, d, 50, "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe");
	memset(k, 0xaa, 131);
	check_hmac(k, 131, "Test Using Larger Than Block-Size Key - Hash Key "
	    "First", 54, "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54");
	check_hmac(k, 131, "This is a test using a larger than block-size key "
	    "and a larger than block-size data. The key needs to be hashed "
	    "before being used by the HMAC algorithm.", 152,
	    "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

static void
test_signature(void **state)
{
	unsigned char	key[HOOKS_KEY_MAX];
	size_t		klen;
	char		sig[SIGN_SIG_MAX];
	const char	*body = "{\"test\": 2432232314}";

	(void)state;
	assert_int_equal(hooks_secret_decode(
	    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key, sizeof(key), &klen),
	    0);
	assert_int_equal(klen, 24);
	assert_int_equal(sign_webhook(key, klen, "msg_p5jXN8AQM9LWM0D4loKWxJek",
	    1614265330, body, strlen(body), sig), 0);
	assert_string_equal(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

static void
test_secrets(void **state)
{
	unsigned char	key[HOOKS_KEY_MAX];
	size_t		klen;

	(void)state;
	/* 23 bytes: too short */
	assert_int_equal(hooks_secret_decode("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	    key, sizeof(key), &klen), -1);
	assert_int_equal(hooks_secret_decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	    key, sizeof(key), &klen), -1);
	assert_int_equal(hooks_secret_decode("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La*aSw",
	    key, sizeof(key), &klen), -1);
	assert_int_equal(hooks_secret_decode("whsec_", key, sizeof(key),
	    &klen), -1);
}

static void
test_urls(void **state)
{
	(void)state;
	assert_null(hooks_url_check("https://hooks.example.com/x?y=1"));
	assert_null(hooks_url_check("http://127.0.0.1:8080/h"));
	assert_null(hooks_url_check("http://10.1.2.3/h"));
	assert_null(hooks_url_check("http://172.31.0.1/h"));
	assert_null(hooks_url_check("http://192.168.1.1/h"));
	assert_null(hooks_url_check("http://[::1]:9/h"));
	assert_null(hooks_url_check("http://[fd00::1]/h"));
	assert_null(hooks_url_check("http://localhost/h"));
	assert_non_null(hooks_url_check("http://172.32.0.1/h"));
	assert_non_null(hooks_url_check("http://8.8.8.8/h"));
	assert_non_null(hooks_url_check("http://example.com/h"));
	assert_non_null(hooks_url_check("http://127.0.0.1.example.com/h"));
	assert_non_null(hooks_url_check("ftp://127.0.0.1/h"));
	assert_non_null(hooks_url_check("https://user@example.com/h"));
	assert_non_null(hooks_url_check("https:///h"));
	assert_non_null(hooks_url_check("https://a b/h"));
}

static void
test_body(void **state)
{
	static const char ev_text[] =
	    "mail-relay-event 1\nid 661982cfdff7c-4ebef514911ebf0f\n"
	    "type email.bounced\nat 0\ncreated 86400\n"
	    "job 661982cfd8a3b-9a85a2ed6aaa1b0c\ncaller app\n"
	    "sender a@example.org\nsubject Gr\\xc3\\xbc\\\\\"\n"
	    "rcpt x@example.net\nrcpt y@example.net\n"
	    "recipient y@example.net\ndsn 5.1.1\nreply 550 no\\x20such\n"
	    "future-key kept for later\n";
	struct spool_event	 ev;
	cJSON			*j, *d;
	char			*s;

	(void)state;
	assert_int_equal(spool_event_parse(&ev, "661982cfdff7c-4ebef514911ebf0f",
	    ev_text, sizeof(ev_text) - 1), 0);
	assert_non_null(s = body_make(&ev));
	assert_non_null(j = cJSON_Parse(s));
	assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring,
	    "email.bounced");
	assert_string_equal(cJSON_GetObjectItem(j, "created_at")->valuestring,
	    "1970-01-01T00:00:00.000Z");
	d = cJSON_GetObjectItem(j, "data");
	assert_string_equal(cJSON_GetObjectItem(d, "email_id")->valuestring,
	    "661982cfd8a3b-9a85a2ed6aaa1b0c");
	assert_string_equal(cJSON_GetObjectItem(d, "created_at")->valuestring,
	    "1970-01-02T00:00:00.000Z");
	assert_string_equal(cJSON_GetObjectItem(d, "subject")->valuestring,
	    "Gr\xc3\xbc\\\"");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "to")), 1);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(d, "to"),
	    0)->valuestring, "y@example.net");
	assert_string_equal(cJSON_GetObjectItem(d, "from")->valuestring,
	    "a@example.org");
	assert_string_equal(cJSON_GetObjectItem(d, "recipient")->valuestring,
	    "y@example.net");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d,
	    "bounce"), "message")->valuestring, "550 no such");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(d,
	    "bounce"), "type")->valuestring, "Permanent");
	cJSON_Delete(j);
	free(s);
	spool_event_free(&ev);
	/* what spool(5) refuses */
	assert_int_equal(spool_event_parse(&ev, "661982cfdff7c-4ebef514911ebf0f",
	    "mail-relay-event 1\nid 661982cfdff7c-4ebef514911ebf0f\n", 52), -1);
	spool_event_free(&ev);
	assert_int_equal(spool_event_parse(&ev, "661982cfdff7c-4ebef514911ebf0e",
	    ev_text, sizeof(ev_text) - 1), -1);
	spool_event_free(&ev);
}

static const char *
to_item(cJSON *d, int i)
{
	cJSON	*v = cJSON_GetArrayItem(cJSON_GetObjectItem(d, "to"), i);

	return v != NULL ? v->valuestring : NULL;
}

/*
 * The addressing as the job keeps it, through spool_event_add and
 * spool_event_read: from is the From as given, to the To list; Cc and Bcc
 * are in no line of the file and in no field of the body, even for the
 * event of a Bcc recipient, which names it as the recipient only.
 */
static void
test_body_addr(void **state)
{
	static const char *const rcpt[] = { "a@example.net", "c@example.net",
	    "hidden@example.net" };
	static const char *const to[] = { "\"A, B\" <a@example.net>" };
	static const char *const cc[] = { "C <c@example.net>" };
	static const char *const bcc[] = { "Secret <hidden@example.net>" };
	char			 dir[] = "/tmp/unit_hookd.XXXXXX", path[256];
	char			 eid[SPOOL_ID_LEN + 1], *s, *file;
	struct spool		*sp;
	struct spool_env	 env;
	struct spool_event	 ev;
	cJSON			*j, *d;
	FILE			*f;
	long			 n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(sp = spool_open(dir));
	memset(&env, 0, sizeof(env));
	env.id = "661982cfd8a3b-9a85a2ed6aaa1b0c";
	env.created = 86400;
	env.caller = "app";
	env.message_id = "m@example.org";
	env.sender = "bounce@example.org";
	env.rcpt = rcpt;
	env.nrcpt = 3;
	env.subject = "Hi";
	env.from = "Shop \xc3\xa9 <noreply@shop.example>";
	env.addr[SPOOL_ADDR_TO] = (struct spool_addrs){ to, 1 };
	env.addr[SPOOL_ADDR_CC] = (struct spool_addrs){ cc, 1 };
	env.addr[SPOOL_ADDR_BCC] = (struct spool_addrs){ bcc, 1 };
	assert_int_equal(spool_event_add(sp, SPOOL_EV_DELIVERED, &env,
	    "hidden@example.net", "2.0.0", "250 ok", 86401, eid), 0);
	(void)snprintf(path, sizeof(path), "%s/events/%s", dir, eid);
	assert_non_null(f = fopen(path, "r"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	assert_true((n = ftell(f)) > 0);
	rewind(f);
	assert_non_null(file = calloc(1, (size_t)n + 1));
	assert_int_equal(fread(file, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	assert_null(strstr(file, "Secret"));
	assert_null(strstr(file, "\ncc "));
	assert_null(strstr(file, "\nbcc "));
	free(file);

	assert_int_equal(spool_event_read(sp, 0, eid, &ev), 0);
	assert_string_equal(ev.from, env.from);
	assert_int_equal(ev.nto, 1);
	assert_non_null(s = body_make(&ev));
	assert_null(strstr(s, "Secret"));
	assert_null(strstr(s, "\"cc\""));
	assert_null(strstr(s, "\"bcc\""));
	assert_non_null(j = cJSON_Parse(s));
	d = cJSON_GetObjectItem(j, "data");
	assert_string_equal(cJSON_GetObjectItem(d, "from")->valuestring,
	    "Shop \xc3\xa9 <noreply@shop.example>");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "to")), 1);
	assert_string_equal(to_item(d, 0), "\"A, B\" <a@example.net>");
	assert_string_equal(cJSON_GetObjectItem(d, "recipient")->valuestring,
	    "hidden@example.net");
	cJSON_Delete(j);
	free(s);
	spool_event_free(&ev);

	/* email.sent has no recipient field; a job without from: envelope */
	assert_int_equal(spool_event_sent(sp, &env, 86402, eid), 0);
	assert_int_equal(spool_event_read(sp, 0, eid, &ev), 0);
	assert_non_null(s = body_make(&ev));
	assert_non_null(j = cJSON_Parse(s));
	d = cJSON_GetObjectItem(j, "data");
	assert_null(cJSON_GetObjectItem(d, "recipient"));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "to")), 1);
	cJSON_Delete(j);
	free(s);
	spool_event_free(&ev);
	env.from = NULL;
	memset(env.addr, 0, sizeof(env.addr));
	assert_int_equal(spool_event_add(sp, SPOOL_EV_FAILED, &env, NULL,
	    NULL, "no", 86403, eid), 0);
	assert_int_equal(spool_event_read(sp, 0, eid, &ev), 0);
	assert_null(ev.from);
	assert_non_null(s = body_make(&ev));
	assert_non_null(j = cJSON_Parse(s));
	d = cJSON_GetObjectItem(j, "data");
	assert_string_equal(cJSON_GetObjectItem(d, "from")->valuestring,
	    "bounce@example.org");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(d, "to")), 3);
	cJSON_Delete(j);
	free(s);
	spool_event_free(&ev);
	spool_close(sp);
	(void)snprintf(path, sizeof(path), "rm -rf -- '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc4231),
		cmocka_unit_test(test_signature),
		cmocka_unit_test(test_secrets),
		cmocka_unit_test(test_urls),
		cmocka_unit_test(test_body),
		cmocka_unit_test(test_body_addr),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
