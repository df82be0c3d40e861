/*
 * Unit tests: html to text (html2text.c).  The templates in tests/html/
 * (a receipt, a password reset, a newsletter, a fragment) convert to the
 * .txt beside each; the cases below pin each rule of html2text.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "html2text.h"

static char	 datadir[4096] = "tests/html";

static char *
convert(const char *html)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(html2text_convert(&b, html, strlen(html)), 0);
	if (b.data == NULL)
		return strdup("");
	return b.data;
}

/* html converts to exactly want. */
static void
same(const char *html, const char *want)
{
	char	*got = convert(html);

	if (strcmp(got, want) != 0)
		fail_msg("\"%s\"\n gives \"%s\"\n wants \"%s\"", html, got,
		    want);
	free(got);
}

static char *
slurp(const char *name)
{
	char	 path[4200];
	FILE	*f;
	char	*s;
	long	 n;

	snprintf(path, sizeof(path), "%s/%s", datadir, name);
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: %s", path, strerror(errno));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	assert_int_equal(fread(s, 1, (size_t)n, f), (size_t)n);
	s[n] = '\0';
	fclose(f);
	return s;
}

/* The properties every output has (html2text.h). */
static void
well_formed(const char *s)
{
	size_t	 len = strlen(s), i;

	if (len == 0)
		return;
	assert_true(s[0] != '\n');
	assert_true(s[len - 1] == '\n');
	assert_true(len < 2 || s[len - 2] != '\n');
	assert_null(strstr(s, "\n\n\n"));
	assert_null(strstr(s, " \n"));
	assert_null(strstr(s, "\t\n"));
	for (i = 0; i < len; i++)
		assert_true((unsigned char)s[i] >= 0x20 || s[i] == '\n' ||
		    s[i] == '\t');
}

static void
template(const char *base, const char *const *lines)
{
	char	 name[64];
	char	*html, *want, *got;

	snprintf(name, sizeof(name), "%s.html", base);
	html = slurp(name);
	snprintf(name, sizeof(name), "%s.txt", base);
	want = slurp(name);
	got = convert(html);
	if (strcmp(got, want) != 0)
		fail_msg("%s: got\n%s\nwanted\n%s", base, got, want);
	well_formed(got);
	/* And the lines that matter, whatever the .txt says. */
	for (; *lines != NULL; lines++)
		if (strstr(got, *lines) == NULL)
			fail_msg("%s: no \"%s\" in\n%s", base, *lines, got);
	free(html);
	free(want);
	free(got);
}

static void
test_receipt(void **state)
{
	static const char *const lines[] = {
		"\nThanks for your order, Zo\xc3\xab!\n\n",
		"\nOrder #10045 \xc2\xb7 14 November 2023\n",
		"\nItem Qty Price\n",
		"\nCr\xc3\xa8me de marrons & jam 2 \xe2\x82\xac" "9.90\n",
		"\nTotal \xe2\x82\xac" "34.90\n",
		"write to help@shop.example.\n",
		"\nView your order <https://shop.example/orders/10045>\n",
		NULL
	};

	(void)state;
	template("receipt", lines);
}

static void
test_password_reset(void **state)
{
	static const char *const lines[] = {
		"Hi Alice,\n\nSomeone asked",
		"\n\nReset password "
		    "<https://app.example/reset?token=3f9a1c0e77b24d5e&u=42>\n\n",
		"browser:\nhttps://app.example/reset?token=3f9a1c0e77b24d5e"
		    "&u=42\n",
		"\xe2\x80\x94 The Example team\n",
		NULL
	};
	char	*got, *html = slurp("password-reset.html");

	(void)state;
	template("password-reset", lines);
	got = convert(html);
	/* Head, title, styles, conditional comments, the hidden preheader. */
	assert_null(strstr(got, "Reset your password"));
	assert_null(strstr(got, "border-collapse"));
	assert_null(strstr(got, "@media"));
	assert_null(strstr(got, "within 24"));
	assert_int_equal(strncmp(got, "Hi Alice,", 9), 0);
	free(got);
	free(html);
}

static void
test_newsletter(void **state)
{
	static const char *const lines[] = {
		"Example Weekly <https://news.example/?utm_source=mail>\n\n",
		"\nIssue 42 \xe2\x80\x93 March 2024\n\n",
		"\nA new editor\n\nSplit panes",
		"\nRead more \xe2\x86\x92 <https://news.example/editor>\n",
		"\n- 12 April: meetup in Lyon\n- 3 May: online workshop, "
		    "sign up <https://news.example/workshop>\n",
		"Unsubscribe\n<https://news.example/unsubscribe?id=abc123>",
		NULL
	};
	char	*got, *html = slurp("newsletter.html");

	(void)state;
	template("newsletter", lines);
	got = convert(html);
	assert_null(strstr(got, "meetup in Lyon."));	/* the preheader */
	assert_null(strstr(got, "vertical-align"));
	free(got);
	free(html);
}

static void
test_fragment(void **state)
{
	static const char *const lines[] = {
		"Hi Bob,\n\nYour sign-in code is 482 913.",
		"Secure your account <https://app.example/security>.\n",
		"\nThanks,\nThe team\n",
		NULL
	};

	(void)state;
	template("fragment", lines);
}

static void
test_blocks(void **state)
{
	(void)state;
	same("", "");
	same("   \n\t ", "");
	same("<p></p><div> </div><img src=x>", "");
	same("plain text", "plain text\n");
	same("<p>one</p><p>two</p>", "one\n\ntwo\n");
	same("<div>one</div><div>two</div>", "one\ntwo\n");
	same("<h1>Title</h1>text", "Title\n\ntext\n");
	same("a<br>b<br><br>c<br><br><br><br>d", "a\nb\n\nc\n\nd\n");
	same("<br><br><p>x</p><br><br>", "x\n");
	same("<div>a</div><br><div>b</div>", "a\n\nb\n");
	same("<table><tr><td>a</td><td>b</td></tr><tr><td>c</td>"
	    "<td><p>d</p></td></tr></table>", "a b\nc\n\nd\n");
	same("x<hr>y", "x\n\ny\n");
	same("<blockquote>q</blockquote>after", "q\n\nafter\n");
}

static void
test_inline_and_space(void **state)
{
	(void)state;
	same("<b>bold</b> <i>it</i>alic", "bold italic\n");
	same("  lots \n\n of \t\r\n  space  ", "lots of space\n");
	same("a&nbsp;&nbsp;b", "a b\n");
	same("a&#8203;b&shy;c&zwnj;d&#xFEFF;e", "abcde\n");
	same("x&#1;y", "xy\n");
	same("&lt;tag&gt; &amp; &quot;q&quot; &eacute; &#233; &#x1F600;",
	    "<tag> & \"q\" \xc3\xa9 \xc3\xa9 \xf0\x9f\x98\x80\n");
	same("&unknown; &amp;&amp;x", "&unknown; &&x\n");
	same("<img alt=\"Logo\"> text", "Logo text\n");
}

static void
test_dropped(void **state)
{
	(void)state;
	same("<script>var a = '<p>no</p>';</script>yes", "yes\n");
	same("<style>p { color: red }</style>yes", "yes\n");
	same("a<!-- comment <p>x</p> -->b", "ab\n");
	same("<!--[if mso]><p>outlook</p><![endif]-->shown", "shown\n");
	same("<head><title>T</title><meta charset=latin1></head>body",
	    "body\n");
	same("<template><p>t</p></template>x", "x\n");
	same("<div hidden>h</div><span style=\"color:red;DISPLAY : none\">"
	    "h</span>v", "v\n");
	same("<div style=\"display:block\">v</div>", "v\n");
	same("<svg><text>s</text></svg>v", "v\n");
	/* Still dropped when the markup around it is broken. */
	same("<p>a<script>x", "a\n");
	same("<style>p{}", "");
}

static void
test_lists(void **state)
{
	(void)state;
	same("<ul><li>a</li><li>b</li></ul>", "- a\n- b\n");
	same("<ol><li>a<li>b<li>c</ol>", "1. a\n2. b\n3. c\n");
	same("<ol start=\"9\"><li>a<li>b</ol>", "9. a\n10. b\n");
	same("x<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>y",
	    "x\n\n- a\n  - b\n- c\n\ny\n");
	same("<ol><li><p>one</p><p>two</p></li></ol>", "1. one\n   two\n");
	same("<li>loose</li>", "- loose\n");
	same("<ul><li></li><li>b</li></ul>", "- b\n");
	same("<ul><li>a long item that goes on and on and on and on and on "
	    "and on and beyond the line</li></ul>",
	    "- a long item that goes on and on and on and on and on and on "
	    "and beyond the\n  line\n");
}

static void
test_links(void **state)
{
	(void)state;
	same("<a href=\"https://x.example/a\">text</a>",
	    "text <https://x.example/a>\n");
	same("<a href=\"https://x.example/\">https://x.example</a>",
	    "https://x.example\n");
	same("<a href=\"https://x.example/a\">https://x.example/a</a>.",
	    "https://x.example/a.\n");
	same("<a href=\"mailto:a@x.example\">a@x.example</a>",
	    "a@x.example\n");
	same("<a href=\"mailto:a@x.example\">write</a>",
	    "write <mailto:a@x.example>\n");
	same("<a href=\"tel:+331234\">+331234</a>", "+331234\n");
	same("<a href=\"#top\">top</a> <a href=\"javascript:x()\">js</a> "
	    "<a>none</a> <a href=\"\">empty</a>", "top js none empty\n");
	same("<a href=\"https://x.example/i\"><img src=i alt=\"\"></a>",
	    "<https://x.example/i>\n");
	same("<a href=\"https://x.example/i\"><img src=i alt=\"Shop\"></a>",
	    "Shop <https://x.example/i>\n");
	same("<a href=\" https://x.example/a b \">t</a>",
	    "t <https://x.example/a%20b>\n");
	same("<a href=\"https://x.example/?a=1&amp;b=2\">q</a>",
	    "q <https://x.example/?a=1&b=2>\n");
	same("<a href=\"u1\">one<a href=\"u2\">two</a>",
	    "one <u1>two <u2>\n");
	same("<a href=\"https://x.example/a\"><b>bold</b>  text </a>",
	    "bold text <https://x.example/a>\n");
	/* A long url keeps its own line. */
	same("Click <a href=\"https://x.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\">here</a>",
	    "Click here\n<https://x.example/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa>\n");
}

static void
test_wrap(void **state)
{
	struct buf	 b;
	char		*got, *p, *line;
	size_t		 n;

	(void)state;
	got = convert("<p>Lorem ipsum dolor sit amet, consectetur adipiscing "
	    "elit, sed do eiusmod tempor incididunt ut labore et dolore magna "
	    "aliqua. Ut enim ad minim veniam, quis nostrud exercitation "
	    "ullamco laboris nisi ut aliquip ex ea commodo consequat.</p>");
	for (line = got; (p = strchr(line, '\n')) != NULL; line = p + 1) {
		assert_true(p - line <= HTML2TEXT_WIDTH);
		/* Full: the next word would not have fitted. */
		if (p[1] != '\0') {
			n = strcspn(p + 1, " \n");
			assert_true((size_t)(p - line) + 1 + n >
			    HTML2TEXT_WIDTH);
		}
	}
	free(got);
	/* Code points, not octets: a line of 76 two-byte letters fits. */
	buf_init(&b);
	for (n = 0; n < 75; n++)
		assert_int_equal(buf_adds(&b, n == 37 ? " " : "\xc3\xa9"), 0);
	assert_int_equal(buf_adds(&b, "\xc3\xa9 \xc3\xa9"), 0);
	got = convert(b.data);
	p = strchr(got, '\n');
	assert_non_null(p);
	assert_int_equal(p - got, 2 * 75 + 1);
	assert_string_equal(p, "\n\xc3\xa9\n");
	free(got);
	buf_free(&b);
	/* A word longer than a line is not cut. */
	got = convert("a bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    " c");
	assert_int_equal(strncmp(got, "a\nbbbb", 6), 0);
	assert_int_equal(strcmp(got + strlen(got) - 3, "\nc\n"), 0);
	free(got);
}

static void
test_pre(void **state)
{
	(void)state;
	same("x<pre>\n  a   b\n\n  c  \n</pre>y", "x\n\n  a   b\n\n  c\n\ny\n");
	same("<pre>tab\there</pre>", "tab\there\n");
	same("<pre>a\r\nb</pre>", "a\nb\n");
	same("<pre>a\n\n\n\nb\n\n</pre>", "a\n\nb\n");
	same("<pre> \t \n\t</pre>", "");
	same("<ul><li><pre> \n \n x</pre></ul>", "-  x\n");
	same("<ul><li>a<pre>\n \n\n\n x\n  y</pre></ul>", "- a\n\n   x\n    y\n");
}

static void
test_broken(void **state)
{
	(void)state;
	same("<p>unclosed <b>bold <i>both", "unclosed bold both\n");
	same("</p></div></li>stray ends", "stray ends\n");
	same("<p <b>>x", ">x\n");
	same("<div><p>a</div>b", "a\n\nb\n");
	same("a < b > c", "a < b > c\n");
	same("<table><td>cell<tr>row</table>", "cell\nrow\n");
	same("<ul><li>a<li>b</ul>", "- a\n- b\n");
	same("<p>\xc3\xa9t\xc3\xa9</p><meta charset=\"iso-8859-1\">"
	    "\xc3\xa9", "\xc3\xa9t\xc3\xa9\n\n\xc3\xa9\n");
	/* Invalid UTF-8 still gives valid UTF-8. */
	same("caf\xe9 \xed\xa0\x80x\xc0\xaf <p>\xf4\x90\x80\x80y",
	    "caf x\n\ny\n");
}

/* No entity, DTD or document is ever loaded. */
static void
test_no_loading(void **state)
{
	char	*got;

	(void)state;
	got = convert("<!DOCTYPE html [<!ENTITY e SYSTEM \"/etc/passwd\">]>"
	    "<p>&e;</p><xi:include href=\"/etc/passwd\" "
	    "xmlns:xi=\"http://www.w3.org/2001/XInclude\"/>"
	    "<iframe src=\"file:///etc/passwd\"></iframe>"
	    "<link rel=stylesheet href=\"http://127.0.0.1:9/x.css\">ok");
	assert_null(strstr(got, "root:"));
	assert_non_null(strstr(got, "ok"));
	free(got);
}

/* Deep nesting: linear time, indentation capped. */
static void
test_deep(void **state)
{
	struct buf	 in, out;
	size_t		 i, line = 0, maxline = 0;

	(void)state;
	buf_init(&in);
	buf_init(&out);
	for (i = 0; i < 20000; i++)
		assert_int_equal(buf_adds(&in, "<ul><li>x <div><span>"), 0);
	assert_int_equal(html2text_convert(&out, in.data, in.len), 0);
	for (i = 0; i < out.len; i++) {
		line = out.data[i] == '\n' ? 0 : line + 1;
		if (line > maxline)
			maxline = line;
	}
	assert_true(maxline <= HTML2TEXT_INDENT_MAX + 24 + 2);
	assert_true(out.len < 16 * in.len);
	well_formed(out.data);
	buf_free(&in);
	buf_free(&out);
}

/* Appends after what out holds; the same text every time. */
static void
test_append(void **state)
{
	struct buf	 b;

	(void)state;
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "before\n"), 0);
	assert_int_equal(html2text_convert(&b, "<p>x</p>", 8), 0);
	assert_string_equal(b.data, "before\nx\n");
	assert_int_equal(html2text_convert(&b, "", 0), 0);
	assert_string_equal(b.data, "before\nx\n");
	buf_free(&b);
}

/*
 * Each thread keeps its parser between conversions: nothing of one
 * document shows in the next, whatever it left open, however many names
 * or how deep it went (such a parser is dropped), and through the
 * fallback for bad UTF-8.
 */
static void
test_reuse(void **state)
{
	struct buf	 in;
	char		*receipt, *want, *exact;
	int		 i, round;

	(void)state;
	receipt = slurp("receipt.html");
	want = slurp("receipt.txt");
	for (round = 0; round < 3; round++) {
		same("<p>open <b><i><a href=\"https://a.example/\">link "
		    "<ul><li>item<pre>  pre",
		    "open link\n\n- item\n    pre\n\n<https://a.example/>\n");
		same("<p>y</p>", "y\n");
		same("<title>t</title><style>p{}</style>x", "x\n");
		same("after <script>if (a < b) {", "after\n");
		same("z", "z\n");
		buf_init(&in);
		for (i = 0; i < 2000; i++)
			assert_int_equal(buf_addf(&in, "<x%d a%d=v>", i, i), 0);
		assert_int_equal(buf_adds(&in, "names"), 0);
		same(in.data, "names\n");
		buf_reset(&in);
		for (i = 0; i < 2000; i++)
			assert_int_equal(buf_adds(&in, "<div><span>"), 0);
		assert_int_equal(buf_adds(&in, "deep"), 0);
		same(in.data, "deep\n");
		buf_free(&in);
		same("caf\xe9 <b>x", "caf x\n");
		buf_init(&in);	/* a NUL inside: the old way */
		assert_int_equal(html2text_convert(&in, "<p>a\0b</p>", 10), 0);
		assert_non_null(in.data);
		assert_true(in.len >= 2 && in.data[0] == 'a' &&
		    in.data[in.len - 1] == '\n');
		buf_free(&in);
		exact = malloc(9);	/* no NUL after it: not read past */
		assert_non_null(exact);
		memcpy(exact, "<p>ab</p>", 9);
		buf_init(&in);
		assert_int_equal(html2text_convert(&in, exact, 9), 0);
		assert_string_equal(in.data, "ab\n");
		buf_free(&in);
		free(exact);
		same(receipt, want);
		same("<p>y</p>", "y\n");
	}
	free(receipt);
	free(want);
}

struct job {
	const char	*html[4];
	const char	*want[4];
	int		 first;
	int		 ok;
};

static void *
worker(void *arg)
{
	struct job	*j = arg;
	struct buf	 b;
	int		 i, k;

	j->ok = 1;
	for (i = 0; i < 200; i++) {
		k = (j->first + i) % 4;
		buf_init(&b);
		if (html2text_convert(&b, j->html[k], strlen(j->html[k])) ==
		    -1 || b.data == NULL || strcmp(b.data, j->want[k]) != 0)
			j->ok = 0;
		buf_free(&b);
	}
	return NULL;
}

/*
 * Four threads at once, as relay-fcgi's workers, each going through the
 * four templates in turn (from a different one) with the parser it keeps.
 */
static void
test_threads(void **state)
{
	static const char *const names[] = {
		"receipt", "password-reset", "newsletter", "fragment"
	};
	struct job	 j[4];
	pthread_t	 th[4];
	char		 name[64];
	char		*html[4], *want[4];
	int		 i, k;

	(void)state;
	for (k = 0; k < 4; k++) {
		snprintf(name, sizeof(name), "%s.html", names[k]);
		html[k] = slurp(name);
		snprintf(name, sizeof(name), "%s.txt", names[k]);
		want[k] = slurp(name);
	}
	for (i = 0; i < 4; i++) {
		for (k = 0; k < 4; k++) {
			j[i].html[k] = html[k];
			j[i].want[k] = want[k];
		}
		j[i].first = i;
		assert_int_equal(pthread_create(&th[i], NULL, worker, &j[i]),
		    0);
	}
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_true(j[i].ok);
	}
	for (k = 0; k < 4; k++) {
		free(html[k]);
		free(want[k]);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_receipt),
		cmocka_unit_test(test_password_reset),
		cmocka_unit_test(test_newsletter),
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_blocks),
		cmocka_unit_test(test_inline_and_space),
		cmocka_unit_test(test_dropped),
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_pre),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_no_loading),
		cmocka_unit_test(test_deep),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_reuse),
		cmocka_unit_test(test_threads),
	};
	const char	*slash;

	/* The templates sit in html/ beside this program. */
	if (argc > 0 && (slash = strrchr(argv[0], '/')) != NULL)
		snprintf(datadir, sizeof(datadir), "%.*s/html",
		    (int)(slash - argv[0]), argv[0]);
	html2text_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
