/* Unit tests: address syntax (addr.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "addr.h"

static void
valid(const char *a)
{
	const char	*why = NULL;

	if (addr_valid(a, &why) != 0)
		fail_msg("refused \"%s\": %s", a, why);
}

/* Refused, and the reason mentions want. */
static void
invalid(const char *a, const char *want)
{
	const char	*why = NULL;

	if (addr_valid(a, &why) != -1)
		fail_msg("accepted \"%s\"", a);
	assert_non_null(why);
	if (strstr(why, want) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", a, why, want);
}

static char *
repeat(char c, size_t n)
{
	char	*s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static void
test_valid(void **state)
{
	(void)state;
	valid("a@example.com");
	valid("first.last@sub.example.co.uk");
	valid("x+tag@example.org");
	valid("!#$%&'*+-/?=^_`{|}~@example.com");
	valid("user@xn--bcher-kva.example");
	valid("user@a-b.c-d");
	valid("USER@EXAMPLE.COM");
	valid("1@2.example3");
	valid("a=b?c@example.com");
	valid("user@example.123abc");
}

static void
test_refused_with_reason(void **state)
{
	(void)state;
	invalid("", "empty");
	invalid("plain", "no @");
	invalid("a@b@example.com", "more than one @");
	invalid("\"quoted\"@example.com", "quoted");
	invalid("a@[192.0.2.1]", "IP address literals");
	invalid("a@[IPv6:2001:db8::1]", "IP address literals");
	invalid("a@192.0.2.1", "IP addresses");
	invalid("a@example.123", "numeric");
	invalid("a(comment)@example.com", "comments");
	invalid("a@example.com (c)", "spaces");
	invalid("a b@example.com", "spaces");
	invalid("a\t@example.com", "spaces");
	invalid("Name <a@example.com>", "spaces");
	invalid("<a@example.com>", "angle brackets");
	invalid("jos\xc3\xa9@example.com", "non-ASCII");
	invalid("a@b\xc3\xbc" "cher.de", "non-ASCII");
	invalid("a@example.com\r\nBcc: x@example.com", "control");
	invalid("a\x7f@example.com", "control");
	invalid("@example.com", "local part");
	invalid(".a@example.com", "dot");
	invalid("a.@example.com", "dot");
	invalid("a..b@example.com", "two dots");
	invalid("a,b@example.com", "invalid character in the local part");
	invalid("a;b@example.com", "invalid character in the local part");
	invalid("a\\b@example.com", "invalid character in the local part");
	invalid("=?utf-8?q?x?=@example.com", "'=?'");
	invalid("a@", "domain");
	invalid("a@localhost", "two labels");
	invalid("a@.example.com", "empty label");
	invalid("a@example..com", "empty label");
	invalid("a@example.com.", "empty label");
	invalid("a@-example.com", "hyphen");
	invalid("a@example-.com", "hyphen");
	invalid("a@example.-com", "hyphen");
	invalid("a@exa_mple.com", "invalid character in the domain");
	invalid("a@exa%mple.com", "invalid character in the domain");
}

static void
test_lengths(void **state)
{
	char	*local64 = repeat('l', 64), *local65 = repeat('l', 65);
	char	*label63 = repeat('d', 63), *label64 = repeat('d', 64);
	char	 buf[600];

	(void)state;
	snprintf(buf, sizeof(buf), "%s@example.com", local64);
	valid(buf);
	snprintf(buf, sizeof(buf), "%s@example.com", local65);
	invalid(buf, "longer than 64");
	snprintf(buf, sizeof(buf), "a@%s.com", label63);
	valid(buf);
	snprintf(buf, sizeof(buf), "a@%s.com", label64);
	invalid(buf, "longer than 63");
	/* 254 octets: 64 + 1 + 189 (three 61-octet labels, dots, "com"). */
	snprintf(buf, sizeof(buf), "%s@%.61s.%.61s.%.61s.com", local64,
	    label63, label63, label63);
	assert_int_equal(strlen(buf), 254);
	valid(buf);
	snprintf(buf, sizeof(buf), "%s@%.61s.%.61s.%.61s.comm", local64,
	    label63, label63, label63);
	invalid(buf, "longer than 254");
	/* With a 253-octet domain the address passes 254 octets. */
	snprintf(buf, sizeof(buf), "a@%s.%s.%s.%.61s", label63, label63,
	    label63, label63);
	assert_int_equal(strlen(buf), 2 + 253);
	invalid(buf, "longer than 254");
	free(local64);
	free(local65);
	free(label63);
	free(label64);
}

static void
test_long_labels(void **state)
{
	char	*label = repeat('d', 63);
	char	 buf[600];

	(void)state;
	/* Four labels of 63, 63, 63 and 59 octets: 251, address 253. */
	snprintf(buf, sizeof(buf), "a@%s.%s.%s.%.59s", label, label, label,
	    label);
	assert_int_equal(strlen(buf), 2 + 251);
	valid(buf);
	free(label);
}

static void
test_null_why(void **state)
{
	(void)state;
	assert_int_equal(addr_valid("bad", NULL), -1);
	assert_int_equal(addr_valid(NULL, NULL), -1);
	assert_int_equal(addr_valid("a@example.com", NULL), 0);
}

static void
test_equal(void **state)
{
	(void)state;
	assert_int_equal(addr_equal("a@example.com", "a@example.com"), 1);
	assert_int_equal(addr_equal("Alice@Example.COM", "alice@example.com"),
	    1);
	assert_int_equal(addr_equal("alice@example.com", "alice@example.co"),
	    0);
	assert_int_equal(addr_equal("alice@example.co", "alice@example.com"),
	    0);
	assert_int_equal(addr_equal("alice@example.com", "alice@exbmple.com"),
	    0);
	assert_int_equal(addr_equal("", ""), 1);
	/* Only ASCII letters fold: '@' (0x40) and '`' (0x60) differ. */
	assert_int_equal(addr_equal("a@b.c", "a`b.c"), 0);
	assert_int_equal(addr_equal("[@x", "{@x"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_refused_with_reason),
		cmocka_unit_test(test_lengths),
		cmocka_unit_test(test_long_labels),
		cmocka_unit_test(test_null_why),
		cmocka_unit_test(test_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
