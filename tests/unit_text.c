/* Unit tests: hex and one-line escaping (spoold/text.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "text.h"

static void
test_hex(void **state)
{
	const unsigned char	in[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	char			out[2 * sizeof(in) + 1];

	(void)state;
	memset(out, 'x', sizeof(out));
	text_hex(in, sizeof(in), out);
	assert_string_equal(out, "00017f80abff");
	text_hex(in, 0, out);
	assert_string_equal(out, "");
}

/* text_line with room for all of s. */
static const char *
line(const char *s)
{
	static char	out[1024];

	assert_true(sizeof(out) >= TEXT_LINE_SIZE(strlen(s)));
	return text_line(s, out, TEXT_LINE_SIZE(strlen(s)));
}

static void
test_printable_and_utf8_stay(void **state)
{
	(void)state;
	assert_string_equal(line(""), "");
	assert_string_equal(line("exit 75: try \"later\" ~"),
	    "exit 75: try \"later\" ~");
	assert_string_equal(line("Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac "
	    "\xf0\x9f\x93\xa8"), "Gr\xc3\xbc\xc3\x9f" "e \xe2\x82\xac "
	    "\xf0\x9f\x93\xa8");
	assert_string_equal(line("\xc2\xa0"), "\xc2\xa0");	/* NBSP */
}

static void
test_controls_are_escaped(void **state)
{
	(void)state;
	assert_string_equal(line("a\nb\rc\td\\e"), "a\\nb\\rc\\td\\\\e");
	assert_string_equal(line("\x1b[31mred\x7f\x01"),
	    "\\x1b[31mred\\x7f\\x01");
	/* C1 controls, as UTF-8: CSI would be a terminal escape too. */
	assert_string_equal(line("\xc2\x9b" "31m \xc2\x85"),
	    "\\xc2\\x9b31m \\xc2\\x85");
}

static void
test_bytes_that_are_not_utf8_are_escaped(void **state)
{
	(void)state;
	assert_string_equal(line("\xff\xfe"), "\\xff\\xfe");
	assert_string_equal(line("\x80z"), "\\x80z");		/* continuation */
	assert_string_equal(line("\xc3"), "\\xc3");		/* cut short */
	assert_string_equal(line("\xc3z"), "\\xc3z");
	assert_string_equal(line("\xc0\xaf"), "\\xc0\\xaf");	/* overlong */
	assert_string_equal(line("\xe0\x80\xaf"), "\\xe0\\x80\\xaf");
	assert_string_equal(line("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	assert_string_equal(line("\xf4\x90\x80\x80"),		/* > U+10FFFF */
	    "\\xf4\\x90\\x80\\x80");
	assert_string_equal(line("\xf5\x80\x80\x80"), "\\xf5\\x80\\x80\\x80");
}

static void
test_a_long_text_is_cut_with_dots(void **state)
{
	char	out[8];

	(void)state;
	assert_string_equal(text_line("abcd", out, sizeof(out)), "abcd");
	assert_string_equal(text_line("abcdefghij", out, sizeof(out)),
	    "abcd...");
	/* An escape is never cut in half. */
	assert_string_equal(text_line("abc\n", out, sizeof(out)), "abc...");
	assert_string_equal(text_line("ab\xc3\xbc", out, sizeof(out)),
	    "ab\xc3\xbc");
	assert_string_equal(text_line("abc\xc3\xbc", out, sizeof(out)),
	    "abc...");
	assert_string_equal(text_line("abc", out, 4), "...");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_printable_and_utf8_stay),
		cmocka_unit_test(test_controls_are_escaped),
		cmocka_unit_test(test_bytes_that_are_not_utf8_are_escaped),
		cmocka_unit_test(test_a_long_text_is_cut_with_dots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
