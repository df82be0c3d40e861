/* Unit tests: the tokens file and bearer authentication. */
#include <sys/stat.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tokens.h"

static char	hash_a[65], hash_b[65];
static char	path[64];

static void
hexhash(const char *token, char *out)
{
	unsigned char	h[TOKENS_HASH_LEN];
	int		i;

	tokens_hash(token, strlen(token), h);
	for (i = 0; i < TOKENS_HASH_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

static int
load(const char *text, mode_t mode, struct tokens *t, char *err, size_t n)
{
	FILE	*fp;
	int	 fd, rc;

	strlcpy(path, "/tmp/unit_tokens.XXXXXX", sizeof(path));
	assert_true((fd = mkstemp(path)) != -1);
	assert_int_equal(fchmod(fd, mode), 0);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
	rc = tokens_load(path, t, err, n);
	unlink(path);
	return rc;
}

static void
test_known_hash(void **state)
{
	char	hex[65];

	(void)state;
	hexhash("abc", hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

static void
test_auth(void **state)
{
	struct tokens		 t;
	const struct caller	*c;
	char			 text[512], err[256];

	(void)state;
	hexhash("secret-a", hash_a);
	hexhash("secret-b", hash_b);
	snprintf(text, sizeof(text),
	    "# callers\n"
	    "shop   sha256:%s  orders@shop.example  Billing@Shop.Example\n"
	    "\n"
	    "crm\tsha256:%s\tcrm@example.org # trailing\n", hash_a, hash_b);
	assert_int_equal(load(text, 0600, &t, err, sizeof(err)), 0);
	assert_int_equal(t.ncallers, 2);

	assert_non_null(c = tokens_auth(&t, "secret-a", 8));
	assert_string_equal(c->name, "shop");
	assert_non_null(c = tokens_auth(&t, "secret-b", 8));
	assert_string_equal(c->name, "crm");
	assert_null(tokens_auth(&t, "secret-c", 8));
	assert_null(tokens_auth(&t, "secret-", 7));
	assert_null(tokens_auth(&t, "", 0));

	c = tokens_auth(&t, "secret-a", 8);
	assert_true(tokens_sender_allowed(c, "orders@shop.example"));
	assert_true(tokens_sender_allowed(c, "ORDERS@shop.EXAMPLE"));
	assert_true(tokens_sender_allowed(c, "billing@shop.example"));
	assert_false(tokens_sender_allowed(c, "crm@example.org"));
	assert_false(tokens_sender_allowed(c, "orders@shop.example.evil"));
	tokens_free(&t);
}

static void
expect_error(const char *text, mode_t mode, const char *suffix)
{
	struct tokens	t;
	char		err[256];

	assert_int_equal(load(text, mode, &t, err, sizeof(err)), -1);
	assert_non_null(strstr(err, suffix));
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
}

static void
test_refusals(void **state)
{
	char	ok[256], dup[512], line[256];

	(void)state;
	snprintf(ok, sizeof(ok), "a sha256:%s a@example.org\n", hash_a);
	expect_error(ok, 0644, "world-readable");
	expect_error(ok, 0620, "group- or world-writable");
	expect_error(ok, 0602, "group- or world-writable");
	expect_error("", 0600, "no callers");
	expect_error("a sha256:00 a@example.org\n", 0600,
	    ":1: expected sha256:");
	snprintf(line, sizeof(line), "a md5:%s a@example.org\n", hash_a);
	expect_error(line, 0600, ":1: expected sha256:");
	snprintf(line, sizeof(line), "a sha256:%s\n", hash_a);
	expect_error(line, 0600, ":1: no sender address");
	snprintf(line, sizeof(line), "a/b sha256:%s a@example.org\n", hash_a);
	expect_error(line, 0600, ":1: bad caller name");
	snprintf(line, sizeof(line), "a sha256:%s not-an-address\n", hash_a);
	expect_error(line, 0600, ":1: ");
	snprintf(dup, sizeof(dup), "a sha256:%s a@example.org\n"
	    "a sha256:%s b@example.org\n", hash_a, hash_b);
	expect_error(dup, 0600, ":2: caller name repeated");
	snprintf(dup, sizeof(dup), "a sha256:%s a@example.org\n"
	    "b sha256:%s b@example.org\n", hash_a, hash_a);
	expect_error(dup, 0600, ":2: token hash repeated");
}

static void
test_group_readable_ok(void **state)
{
	struct tokens	t;
	char		text[256], err[256];

	(void)state;
	snprintf(text, sizeof(text), "a sha256:%s a@example.org\n", hash_a);
	assert_int_equal(load(text, 0640, &t, err, sizeof(err)), 0);
	tokens_free(&t);
}

/* The rule relay-token and the tokens file share. */
static void
test_caller_names(void **state)
{
	char	longest[TOKENS_NAME_MAX + 1];

	(void)state;
	assert_true(tokens_name_valid("shop"));
	assert_true(tokens_name_valid("Shop.eu_2-a"));
	assert_false(tokens_name_valid(""));
	assert_false(tokens_name_valid("a b"));
	assert_false(tokens_name_valid("a/b"));
	assert_false(tokens_name_valid("caf\xc3\xa9"));
	memset(longest, 'a', sizeof(longest));
	longest[TOKENS_NAME_MAX - 1] = '\0';
	assert_true(tokens_name_valid(longest));
	longest[TOKENS_NAME_MAX - 1] = 'a';
	longest[TOKENS_NAME_MAX] = '\0';
	assert_false(tokens_name_valid(longest));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_hash),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_group_readable_ok),
		cmocka_unit_test(test_caller_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
