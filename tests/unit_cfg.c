/* Unit tests: relay.conf parsing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cfg.h"

static char path[] = "/tmp/unit_cfg.XXXXXX";

static int
load(const char *text, struct cfg *c, char *err, size_t errlen)
{
	FILE	*fp;
	int	 fd;

	strlcpy(path, "/tmp/unit_cfg.XXXXXX", sizeof(path));
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	fd = cfg_load(path, c, err, errlen);
	unlink(path);
	return fd;
}

static void
test_defaults(void **state)
{
	struct cfg	c;
	char		err[256];

	(void)state;
	assert_int_equal(load("# nothing\n\n", &c, err, sizeof(err)), 0);
	assert_int_equal(c.max_body, 512 * 1024);
	assert_int_equal(c.max_batch_body, 4 * 1024 * 1024);
	assert_int_equal(c.max_recipients, 50);
	assert_int_equal(c.max_pending, 10000);
	assert_int_equal(c.sendmail_timeout, 30);
	assert_int_equal(c.max_attempts, 8);
	assert_int_equal(c.backoff_initial, 30);
	assert_int_equal(c.backoff_max, 3600);
	assert_string_equal(c.sendmail_argv[0], "/usr/sbin/sendmail");
	assert_null(c.sendmail_argv[1]);
	assert_string_equal(c.postfix_log, "");
	assert_int_equal(c.track_retention, 7 * 86400);
	assert_int_equal(c.suppress_bounces, 1);
	assert_string_equal(c.webhooks, "");
	assert_string_equal(c.webhook_ca_file, "");
	assert_int_equal(c.webhook_max_age, 86400);
	assert_string_equal(c.metrics_token, "");
	assert_int_equal(c.html_to_text, 1);
}

static void
test_tracking_and_hooks(void **state)
{
	struct cfg	c;
	char		err[256];

	(void)state;
	assert_int_equal(load(
	    "postfix_log = /var/log/mail.log\n"
	    "track_retention = 2d\n"
	    "suppress_bounces = no\n"
	    "webhooks = /etc/mail-relay/webhooks\n"
	    "webhook_ca_file = /etc/mail-relay/hooks-ca.crt\n"
	    "webhook_max_age = 36h\n"
	    "metrics_token = s3cret\n"
	    "html_to_text = no\n",
	    &c, err, sizeof(err)), 0);
	assert_string_equal(c.postfix_log, "/var/log/mail.log");
	assert_int_equal(c.track_retention, 2 * 86400);
	assert_int_equal(c.suppress_bounces, 0);
	assert_string_equal(c.webhooks, "/etc/mail-relay/webhooks");
	assert_string_equal(c.webhook_ca_file, "/etc/mail-relay/hooks-ca.crt");
	assert_int_equal(c.webhook_max_age, 36 * 3600);
	assert_string_equal(c.metrics_token, "s3cret");
	assert_int_equal(c.html_to_text, 0);
}

static void
test_values(void **state)
{
	struct cfg	c;
	char		err[256];

	(void)state;
	assert_int_equal(load(
	    "spool = /var/tmp/s   # trailing comment\n"
	    "  max_body=1m\n"
	    "max_batch_body = 8m\n"
	    "max_recipients = 7\n"
	    "backoff_initial = 2m\n"
	    "backoff_max = 1h\n"
	    "sendmail_timeout = 45\n"
	    "sendmail = /usr/sbin/sendmail  -C /etc/pf\n"
	    "message_id_domain = relay.example.org\n",
	    &c, err, sizeof(err)), 0);
	assert_string_equal(c.spool, "/var/tmp/s");
	assert_int_equal(c.max_body, 1024 * 1024);
	assert_int_equal(c.max_batch_body, 8 * 1024 * 1024);
	assert_int_equal(c.max_recipients, 7);
	assert_int_equal(c.backoff_initial, 120);
	assert_int_equal(c.backoff_max, 3600);
	assert_int_equal(c.sendmail_timeout, 45);
	assert_int_equal(c.sendmail_argc, 3);
	assert_string_equal(c.sendmail_argv[1], "-C");
	assert_string_equal(c.sendmail_argv[2], "/etc/pf");
	assert_null(c.sendmail_argv[3]);
	assert_string_equal(c.message_id_domain, "relay.example.org");
}

static void
expect_error(const char *text, const char *line_why)
{
	struct cfg	c;
	char		err[256], want[300];

	assert_int_equal(load(text, &c, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:%s", path, line_why);
	assert_string_equal(err, want);
}

static void
test_errors(void **state)
{
	(void)state;
	expect_error("spool = /a\nbogus = 1\n", "2: unknown key");
	expect_error("spool = /a\nspool = /b\n", "2: key given twice");
	expect_error("max_body\n", "1: expected key = value");
	expect_error("spool = relative\n", "1: must be an absolute path");
	expect_error("max_body = 12x\n",
	    "1: bad size (a number with optional k or m)");
	expect_error("backoff_max = -1s\n",
	    "1: bad duration (a number with s, m, h or d)");
	expect_error("suppress_bounces = maybe\n", "1: must be yes or no");
	expect_error("html_to_text = 1\n", "1: must be yes or no");
	expect_error("postfix_log = mail.log\n", "1: must be an absolute path");
	expect_error("track_retention = 30s\n",
	    "1: bad duration (a number with s, m, h or d)");
	expect_error("max_recipients = 0\n", "1: too small");
	expect_error("max_recipients = many\n", "1: invalid");
	expect_error("tokens =\n", "1: empty value");
	expect_error("sendmail = sendmail\n",
	    "1: must be an absolute path and at most 16 words");
}

static void
test_units(void **state)
{
	size_t	s;
	time_t	d;

	(void)state;
	assert_int_equal(cfg_parse_size("512k", &s), 0);
	assert_int_equal(s, 524288);
	assert_int_equal(cfg_parse_size("3M", &s), 0);
	assert_int_equal(s, 3145728);
	assert_int_equal(cfg_parse_size("k", &s), -1);
	assert_int_equal(cfg_parse_size("99999999999999999999", &s), -1);
	assert_int_equal(cfg_parse_duration("90s", &d), 0);
	assert_int_equal(d, 90);
	assert_int_equal(cfg_parse_duration("3h", &d), 0);
	assert_int_equal(d, 10800);
	assert_int_equal(cfg_parse_duration("3d", &d), 0);
	assert_int_equal(d, 3 * 86400);
	assert_int_equal(cfg_parse_duration("3w", &d), -1);
	assert_int_equal(cfg_parse_duration("", &d), -1);
}

static void
test_path_env(void **state)
{
	(void)state;
	setenv(CFG_PATH_ENV, "/x/relay.conf", 1);
	assert_string_equal(cfg_path(NULL), "/x/relay.conf");
	assert_string_equal(cfg_path("/y.conf"), "/y.conf");
	unsetenv(CFG_PATH_ENV);
	assert_string_equal(cfg_path(NULL), CFG_PATH_DEFAULT);
}

/* The example shipped in conf/ parses (the tests run from the top). */
static void
test_shipped_example(void **state)
{
	struct cfg	c;
	char		err[256];

	(void)state;
	if (cfg_load("conf/mail-relay/relay.conf", &c, err, sizeof(err)) == -1)
		fail_msg("%s", err);
	assert_string_equal(c.spool, "/var/spool/mail-relay");
	assert_int_equal(c.max_body, 512 * 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_tracking_and_hooks),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_path_env),
		cmocka_unit_test(test_shipped_example),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
