/* Unit tests: encoders, header folding and the message builder (mime_*.c). */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "buf.h"
#include "mail.h"
#include "mime.h"

/* Test-side decoders, written from the RFCs. */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;	/* lower case is not what we write */
}

/* RFC 2045 6.7: soft breaks vanish, =XX is a byte. */
static void
qp_decode(const char *s, size_t len, struct buf *out)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (s[i] != '=') {
			assert_int_equal(buf_addc(out, s[i]), 0);
			continue;
		}
		assert_true(i + 1 < len);
		if (s[i + 1] == '\n') {
			i++;
			continue;
		}
		assert_true(i + 2 < len);
		assert_true(hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0);
		assert_int_equal(buf_addc(out,
		    (char)(hexval(s[i + 1]) << 4 | hexval(s[i + 2]))), 0);
		i += 2;
	}
}

static int
b64val(char c)
{
	const char	*a = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const char	*p = c != '\0' ? strchr(a, c) : NULL;

	return p == NULL ? -1 : (int)(p - a);
}

static void
b64_decode(const char *s, size_t len, struct buf *out)
{
	uint32_t	 v = 0;
	size_t		 i;
	int		 n = 0, pad = 0, d;

	for (i = 0; i < len; i++) {
		if (s[i] == '\n')
			continue;
		if (s[i] == '=') {
			pad++;
			d = 0;
		} else {
			assert_int_equal(pad, 0);
			assert_true((d = b64val(s[i])) >= 0);
		}
		v = v << 6 | (uint32_t)d;
		if (++n == 4) {
			assert_int_equal(buf_addc(out, (char)(v >> 16)), 0);
			if (pad < 2)
				assert_int_equal(buf_addc(out,
				    (char)(v >> 8)), 0);
			if (pad < 1)
				assert_int_equal(buf_addc(out, (char)v),
				    0);
			v = 0;
			n = 0;
		}
	}
	assert_int_equal(n, 0);
}

static int
utf8_ok(const unsigned char *s, size_t len)
{
	size_t	 i, n, k;

	for (i = 0; i < len; i += n) {
		n = s[i] < 0x80 ? 1 : s[i] >= 0xf0 ? 4 : s[i] >= 0xe0 ? 3 :
		    s[i] >= 0xc2 ? 2 : 0;
		if (n == 0 || i + n > len)
			return 0;
		for (k = 1; k < n; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
	}
	return 1;
}

/*
 * A folded header value made of encoded words only: unfold, check each
 * word (at most 75 octets, whole UTF-8 inside), decode and concatenate.
 */
static void
words_decode(const char *s, struct buf *out)
{
	struct buf	 w;
	const char	*end;
	size_t		 len;

	buf_init(&w);
	while (*s != '\0') {
		while (*s == ' ' || *s == '\n')
			s++;
		if (*s == '\0')
			break;
		assert_int_equal(strncmp(s, "=?UTF-8?", 8), 0);
		assert_true(s[8] == 'Q' || s[8] == 'B');
		assert_int_equal(s[9], '?');
		assert_non_null(end = strstr(s + 10, "?="));
		len = (size_t)(end + 2 - s);
		assert_true(len <= MIME_EW_MAX);
		buf_reset(&w);
		if (s[8] == 'B')
			b64_decode(s + 10, (size_t)(end - s - 10), &w);
		else {
			const char	*p;

			for (p = s + 10; p < end; p++)
				assert_true(*p != ' ' && *p != '?');
			qp_decode(s + 10, (size_t)(end - s - 10), &w);
			for (len = 0; len < w.len; len++)
				if (w.data[len] == '_')
					w.data[len] = ' ';
		}
		assert_true(utf8_ok((unsigned char *)w.data, w.len));
		assert_int_equal(buf_add(out, w.data, w.len), 0);
		s = end + 2;
	}
	buf_free(&w);
}

/* Every line at most max octets (without the LF); no CR anywhere. */
static void
lines_max(const char *s, size_t len, size_t max)
{
	size_t	 i, col = 0;

	for (i = 0; i < len; i++) {
		assert_int_not_equal(s[i], '\r');
		if (s[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > max)
			fail_msg("line over %zu: %.40s", max, s + i + 1 - col);
	}
}

/* Quoted-printable */

static void
qp_is(const char *in, int flags, const char *want)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(mime_qp(&b, in, strlen(in), flags), 0);
	assert_string_equal(b.len ? b.data : "", want);
	buf_free(&b);
}

static char *
rep(const char *s, int n, const char *tail)
{
	struct buf	 b;
	int		 i;

	buf_init(&b);
	for (i = 0; i < n; i++)
		assert_int_equal(buf_adds(&b, s), 0);
	assert_int_equal(buf_adds(&b, tail), 0);
	return b.data;
}

static void
test_qp_vectors(void **state)
{
	char	*in, *want;

	(void)state;
	qp_is("", 0, "");
	qp_is("", MIME_QP_EOL, "");
	qp_is("abc", 0, "abc");
	qp_is("abc", MIME_QP_EOL, "abc=\n");
	qp_is("abc\n", MIME_QP_EOL, "abc\n");
	qp_is("a=b", 0, "a=3Db");
	qp_is("caf\xc3\xa9", 0, "caf=C3=A9");
	qp_is("\xff\xfe", 0, "=FF=FE");
	qp_is("a\x01\x7f\rb", 0, "a=01=7F=0Db");
	qp_is("tab\there", 0, "tab\there");
	qp_is("a \nb\t\nc", 0, "a=20\nb=09\nc");
	qp_is("a ", 0, "a=20");
	qp_is("a ", MIME_QP_EOL, "a=20=\n");
	qp_is("a  b", 0, "a  b");
	qp_is("From me", 0, "=46rom me");
	qp_is("x\nFrom me\nFrom\nFromage", 0, "x\n=46rom me\nFrom\nFromage");
	qp_is("a From b", 0, "a From b");
	qp_is(".\n..\n", 0, ".\n..\n");
	qp_is("\n\n", MIME_QP_EOL, "\n\n");
	/* 76 octets fit on a line that ends there, 75 before a soft break. */
	in = rep("x", 76, "");
	qp_is(in, 0, in);
	free(in);
	in = rep("x", 76, "");
	want = rep("x", 75, "=\nx=\n");
	qp_is(in, MIME_QP_EOL, want);
	free(in);
	free(want);
	in = rep("x", 76, "\ny");
	qp_is(in, 0, in);
	free(in);
	in = rep("x", 77, "");
	want = rep("x", 75, "=\nxx");
	qp_is(in, 0, want);
	free(in);
	free(want);
	/* An escape or a UTF-8 group is never split. */
	in = rep("x", 74, "=y");
	want = rep("x", 74, "=\n=3Dy");
	qp_is(in, 0, want);
	free(in);
	free(want);
	in = rep("x", 70, "\xc3\xa9");
	want = rep("x", 70, "=C3=A9");
	qp_is(in, 0, want);			/* ends the line at 76 */
	free(in);
	free(want);
	in = rep("x", 70, "\xc3\xa9y");
	want = rep("x", 70, "=\n=C3=A9y");
	qp_is(in, 0, want);
	free(in);
	free(want);
	in = rep("x", 64, "\xf0\x9f\x8e\x89z");
	want = rep("x", 64, "=\n=F0=9F=8E=89z");
	qp_is(in, 0, want);
	free(in);
	free(want);
	/* "From " after a soft break is encoded too. */
	in = rep("x", 75, "From here");
	want = rep("x", 75, "=\n=46rom here");
	qp_is(in, 0, want);
	free(in);
	free(want);
	/* Trailing white space at a soft break boundary stays visible. */
	in = rep("x", 75, " \n");
	want = rep("x", 75, "=\n=20\n");
	qp_is(in, 0, want);
	free(in);
	free(want);
}

static void
qp_roundtrip(const char *in, size_t len, int flags)
{
	struct buf	 b, d;
	size_t		 i;

	buf_init(&b);
	buf_init(&d);
	assert_int_equal(mime_qp(&b, in, len, flags), 0);
	lines_max(b.data ? b.data : "", b.len, MIME_FOLD);
	for (i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.data[i];

		assert_true(c == '\n' || c == '\t' || (c >= 0x20 && c < 0x7f));
		if (b.data[i] == '\n' && i > 0)
			assert_true(b.data[i - 1] != ' ' &&
			    b.data[i - 1] != '\t');
		if (i == 0 || b.data[i - 1] == '\n')
			assert_true(strncmp(b.data + i, "From ", 5) != 0);
	}
	if (b.len > 0)
		assert_true(b.data[b.len - 1] != ' ' &&
		    b.data[b.len - 1] != '\t');
	if ((flags & MIME_QP_EOL) && len > 0)
		assert_int_equal(b.data[b.len - 1], '\n');
	if (b.len > 0)
		qp_decode(b.data, b.len, &d);
	assert_int_equal(d.len, len);
	if (len > 0)
		assert_memory_equal(d.data, in, len);
	buf_free(&b);
	buf_free(&d);
}

static void
test_qp_random(void **state)
{
	static const char *const atoms[] = { "a", "Z", " ", "\t", "\n", "=",
	    "From ", ".", "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x8e\x89",
	    "\xff", "\x01", "\x7f", "\r", "xxxxxxxxxx", "\xc3" };
	char	 in[2048];
	size_t	 len, n;
	int	 i, k;

	(void)state;
	srandom(1);
	for (i = 0; i < 3000; i++) {
		len = 0;
		for (k = random() % 200; k > 0; k--) {
			const char *a = atoms[random() % (sizeof(atoms) /
			    sizeof(atoms[0]))];

			n = strlen(a);
			if (len + n > sizeof(in))
				break;
			memcpy(in + len, a, n);
			len += n;
		}
		qp_roundtrip(in, len, 0);
		qp_roundtrip(in, len, MIME_QP_EOL);
	}
}

/* Base64 */

static void
b64_is(const char *in, size_t len, size_t linelen, const char *want)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(mime_base64(&b, in, len, linelen), 0);
	assert_string_equal(b.len ? b.data : "", want);
	buf_free(&b);
}

static void
test_base64_vectors(void **state)
{
	struct buf	 b, d;
	unsigned char	 bin[1000];
	size_t		 i, len;

	(void)state;
	/* RFC 4648 10. */
	b64_is("", 0, 76, "");
	b64_is("f", 1, 76, "Zg==");
	b64_is("fo", 2, 76, "Zm8=");
	b64_is("foo", 3, 76, "Zm9v");
	b64_is("foob", 4, 76, "Zm9vYg==");
	b64_is("fooba", 5, 76, "Zm9vYmE=");
	b64_is("foobar", 6, 0, "Zm9vYmFy");
	b64_is("\0\xff\xfe", 3, 0, "AP/+");
	b64_is("foobar", 6, 4, "Zm9v\nYmFy");
	b64_is("foobarx", 7, 4, "Zm9v\nYmFy\neA==");
	buf_init(&b);
	buf_init(&d);
	assert_int_equal(mime_base64(&b, "x", 1, 6), -1);
	assert_int_equal(errno, EINVAL);
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7 + 3);
	for (len = 0; len <= sizeof(bin); len += 19) {
		buf_reset(&b);
		buf_reset(&d);
		assert_int_equal(mime_base64(&b, bin, len, MIME_B64_LINE), 0);
		lines_max(b.data ? b.data : "", b.len, MIME_B64_LINE);
		if (len > 0) {
			assert_true(b.data[b.len - 1] != '\n');
			/* Full lines are exactly 76. */
			assert_true(len <= 57 || b.data[76] == '\n');
		}
		b64_decode(b.data ? b.data : "", b.len, &d);
		assert_int_equal(d.len, len);
		if (len > 0)
			assert_memory_equal(d.data, bin, len);
	}
	buf_free(&b);
	buf_free(&d);
}

static void
test_prefer_base64(void **state)
{
	const char	*cjk = "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"
	    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e";

	(void)state;
	assert_int_equal(mime_prefer_base64("hello world\n", 12), 0);
	assert_int_equal(mime_prefer_base64("", 0), 0);
	assert_int_equal(mime_prefer_base64("caf\xc3\xa9 au lait, "
	    "s'il vous pla\xc3\xaet\n", 30), 0);
	assert_int_equal(mime_prefer_base64(cjk, strlen(cjk)), 1);
	assert_int_equal(mime_prefer_base64("\x01\x02\x03\x04\x05\x06", 6), 1);
}

/* RFC 2047 encoded words */

static void
words_is(const char *in, size_t col, const char *want)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(mime_words(&b, &col, in, strlen(in)), 0);
	assert_string_equal(b.len ? b.data : "", want);
	buf_free(&b);
}

static void
test_words_vectors(void **state)
{
	(void)state;
	words_is("", 9, "");
	words_is("\xc3\xa9", 9, " =?UTF-8?B?w6k=?=");
	words_is("Caf\xc3\xa9 au lait", 9, " =?UTF-8?Q?Caf=C3=A9_au_lait?=");
	/* Q would take 17 octets, B 12. */
	words_is("a_b=c?d\"e", 9, " =?UTF-8?B?YV9iPWM/ZCJl?=");
	words_is("ab_cd efgh=", 9, " =?UTF-8?Q?ab=5Fcd_efgh=3D?=");
	words_is("!*+-/", 9, " =?UTF-8?Q?!*+-/?=");
	words_is("\xe4\xb8\xad\xe6\x96\x87", 9, " =?UTF-8?B?5Lit5paH?=");
	words_is("\xf0\x9f\x8e\x89", 9, " =?UTF-8?B?8J+OiQ==?=");
}

static void
words_roundtrip(const char *in, size_t col0)
{
	struct buf	 b, d;
	size_t		 col = col0, i, line, first;

	buf_init(&b);
	buf_init(&d);
	assert_int_equal(buf_adds(&b, ""), 0);
	for (i = 0; i < col0; i++)
		assert_int_equal(buf_addc(&b, 'H'), 0);
	assert_int_equal(mime_words(&b, &col, in, strlen(in)), 0);
	/* Lines of at most 76 octets, but never folded before the first
	 * word (which may reach RFC 5322's 78 to keep a word whole); col is
	 * where the last line ends. */
	first = strcspn(b.data, "\n");
	assert_true(first <= (col0 + 1 + 28 > MIME_FOLD + 2 ?
	    col0 + 1 + 28 : MIME_FOLD + 2));
	lines_max(b.data + first, b.len - first, MIME_FOLD);
	for (line = b.len; line > 0 && b.data[line - 1] != '\n'; line--)
		;
	assert_int_equal(col, b.len - line);
	if (*in != '\0')
		assert_int_equal(b.data[col0], ' ');
	words_decode(b.data + col0, &d);
	assert_int_equal(d.len, strlen(in));
	assert_memory_equal(d.data, in, d.len);
	buf_free(&b);
	buf_free(&d);
}

static void
test_words_split(void **state)
{
	static const char *const atoms[] = { "a", " ", "_", "=", "?",
	    "\xc3\xa9", "\xe4\xb8\xad", "\xf0\x9f\x8e\x89", "e\xcc\x81",
	    "\xc3" };
	char	 in[1024];
	size_t	 len, n;
	int	 i, k;

	(void)state;
	srandom(2);
	for (i = 0; i < 2000; i++) {
		len = 0;
		for (k = random() % 250; k > 0; k--) {
			const char *a = atoms[random() % (sizeof(atoms) /
			    sizeof(atoms[0]))];

			n = strlen(a);
			if (len + n + 1 > sizeof(in))
				break;
			memcpy(in + len, a, n);
			len += n;
		}
		in[len] = '\0';
		/* Invalid UTF-8 (the lone \xc3) is carried byte by byte. */
		if (!utf8_ok((unsigned char *)in, len))
			continue;
		words_roundtrip(in, (size_t)(random() % 70));
	}
	words_roundtrip("x", 70);	/* no room: still on the first line */
}

/*
 * The decoded text of each encoded word after column col0 of b, one NUL-
 * terminated string after the other in out; returns how many.
 */
static size_t
words_each(const struct buf *b, size_t col0, struct buf *out)
{
	const char	*s = b->data + col0, *e;
	struct buf	 one;
	size_t		 n = 0;
	char		 w[128];

	buf_init(&one);
	while ((s = strstr(s, "=?UTF-8?")) != NULL) {
		e = strstr(s + 10, "?=") + 2;
		assert_true((size_t)(e - s) < sizeof(w));
		memcpy(w, s, (size_t)(e - s));
		w[e - s] = '\0';
		buf_reset(&one);
		words_decode(w, &one);
		assert_int_equal(buf_add(out, one.data, one.len), 0);
		assert_int_equal(buf_addc(out, '\0'), 0);
		n++;
		s = e;
	}
	buf_free(&one);
	return n;
}

/* Several words: encoded words end between two of them, never inside. */
static void
split_between(const char *in, size_t col0)
{
	struct buf	 b, d;
	const char	*p, *end;
	size_t		 col = col0, i, n, len;

	buf_init(&b);
	buf_init(&d);
	for (i = 0; i < col0; i++)
		assert_int_equal(buf_addc(&b, 'H'), 0);
	assert_int_equal(mime_words(&b, &col, in, strlen(in)), 0);
	n = words_each(&b, col0, &d);
	assert_true(n > 1);
	end = d.data + d.len;
	for (p = d.data; p < end; p += len + 1) {
		len = strlen(p);
		assert_true(len > 0);
		/* The last byte is a space, or the next word starts with one,
		 * or this is the end. */
		if (p + len + 1 < end && p[len - 1] != ' ' && p[len + 1] != ' ')
			fail_msg("split inside a word: \"%s\" | \"%s\"", p,
			    p + len + 1);
	}
	words_roundtrip(in, col0);
	buf_free(&b);
	buf_free(&d);
}

static void
test_words_between_words(void **state)
{
	(void)state;
	split_between("Inscription confirm\xc3\xa9" "e : votre r\xc3\xa9servation "
	    "n\xc2\xb0 40213 pour la location du 12 au 19 ao\xc3\xbbt est "
	    "enregistr\xc3\xa9" "e", 9);
	split_between("\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9"
	    "\xce\xba\xce\xac \xce\x93\xcf\x81\xce\xac\xce\xbc\xce\xbc"
	    "\xce\xb1\xcf\x84\xce\xb1 \xce\x95\xce\xbb\xce\xbb\xce\xb7"
	    "\xce\xbd\xce\xb9\xce\xba\xce\xac \xce\x93\xcf\x81\xce\xac"
	    "\xce\xbc\xce\xbc\xce\xb1\xcf\x84\xce\xb1 \xce\x95\xce\xbb"
	    "\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac", 6);
	split_between("B\xc3\xa9r\xc3\xa9nice-Am\xc3\xa9lie Rosemonde "
	    "D\xc3\xbb" "bois-B\xc3\xa9nard, B\xc3\xa9r\xc3\xa9nice-Am"
	    "\xc3\xa9lie Rosemonde D\xc3\xbb" "bois-B\xc3\xa9nard", 30);
	split_between("\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e "
	    "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e \xe5\xb1"
	    "\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e \xe5\xb1\xb1\xe7"
	    "\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e", 20);
}

/* Header lines */

static void
hdr_is(int (*fn)(struct buf *, const char *, const char *),
    const char *name, const char *value, const char *want)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(fn(&b, name, value), 0);
	assert_string_equal(b.data, want);
	buf_free(&b);
}

/* Unfold a header line: drop each LF (before a space). */
static void
unfold(const char *s, struct buf *out)
{
	for (; *s != '\0'; s++) {
		if (*s == '\n') {
			assert_true(s[1] == ' ' || s[1] == '\0');
			continue;
		}
		assert_int_equal(buf_addc(out, *s), 0);
	}
}

static void
test_hdr_text(void **state)
{
	struct buf	 b, u;
	char		*v;

	(void)state;
	hdr_is(mime_hdr_text, "Subject", "Hello", "Subject: Hello\n");
	hdr_is(mime_hdr_text, "Subject", "a  b", "Subject: a  b\n");
	hdr_is(mime_hdr_text, "Subject", "caf\xc3\xa9",
	    "Subject: =?UTF-8?B?Y2Fmw6k=?=\n");
	hdr_is(mime_hdr_text, "Subject", "Caf\xc3\xa9 au lait",
	    "Subject: =?UTF-8?Q?Caf=C3=A9_au_lait?=\n");
	hdr_is(mime_hdr_text, "Subject", "=?x?q?y?=",
	    "Subject: =?UTF-8?B?PT94P3E/eT89?=\n");
	hdr_is(mime_hdr_text, "Subject", " lead",
	    "Subject: =?UTF-8?Q?_lead?=\n");
	hdr_is(mime_hdr_text, "X-Trail", "t ", "X-Trail: =?UTF-8?Q?t_?=\n");
	hdr_is(mime_hdr_raw, "References", "<a@b>  <c@d>",
	    "References: <a@b>  <c@d>\n");
	/* Folding at spaces, before the run, unfolding to the value. */
	buf_init(&b);
	buf_init(&u);
	v = rep("word ", 40, "end");
	assert_int_equal(mime_hdr_text(&b, "Subject", v), 0);
	lines_max(b.data, b.len, MIME_FOLD);
	assert_true(strstr(b.data, "\n word") != NULL);
	unfold(b.data, &u);
	assert_int_equal(strncmp(u.data, "Subject: ", 9), 0);
	assert_string_equal(u.data + 9, v);
	free(v);
	/* A word too long for 998 goes encoded rather than break the limit. */
	buf_reset(&b);
	buf_reset(&u);
	v = rep("w", 1200, "");
	assert_int_equal(mime_hdr_text(&b, "Subject", v), 0);
	lines_max(b.data, b.len, MIME_FOLD);
	words_decode(b.data + 8, &u);
	assert_string_equal(u.data, v);
	free(v);
	buf_free(&b);
	buf_free(&u);
}

static void
test_hdr_ok(void **state)
{
	char	*v;

	(void)state;
	v = rep("w", 990, "");		/* "X-Long: " + 990 = 998 */
	assert_int_equal(mime_hdr_ok("X-Long", v), 1);
	free(v);
	v = rep("w", 991, "");
	assert_int_equal(mime_hdr_ok("X-Long", v), 0);
	assert_int_equal(mime_hdr_ok("References", v), 0);
	free(v);
	v = rep("<a@b> ", 500, "<c@d>");
	assert_int_equal(mime_hdr_ok("References", v), 1);
	free(v);
	v = rep("\xc3\xa9", 2000, "");
	assert_int_equal(mime_hdr_ok("X-U", v), 1);
	free(v);
	v = rep("x", 984, "");		/* "References: " + 984 = 996 */
	assert_int_equal(mime_hdr_ok("References", v), 1);
	free(v);
	v = rep("x", 987, "");
	assert_int_equal(mime_hdr_ok("References", v), 0);
	free(v);
	v = malloc(1100);
	assert_non_null(v);
	memcpy(v, "y ", 2);		/* continuation " " + 997 = 998 */
	memset(v + 2, 'x', 997);
	v[999] = '\0';
	assert_int_equal(mime_hdr_ok("References", v), 1);
	v[999] = 'x';
	v[1000] = '\0';
	assert_int_equal(mime_hdr_ok("References", v), 0);
	free(v);
	assert_int_equal(mime_hdr_is_text("X-A"), 1);
	assert_int_equal(mime_hdr_is_text("x-a"), 1);
	assert_int_equal(mime_hdr_is_text("References"), 0);
}

static void
addrs_is(const struct mail_addr *a, size_t n, const char *want)
{
	struct buf	 b;

	buf_init(&b);
	assert_int_equal(mime_hdr_addrs(&b, "To", a, n), 0);
	assert_string_equal(b.data, want);
	lines_max(b.data, b.len, MIME_FOLD);
	buf_free(&b);
}

static void
test_hdr_addrs(void **state)
{
	struct mail_addr	 a[40];
	char			 email[40][32];
	size_t			 i;

	(void)state;
	a[0].email = "a@example.com";
	a[0].name = NULL;
	addrs_is(a, 1, "To: a@example.com\n");
	a[0].name = "";
	addrs_is(a, 1, "To: a@example.com\n");
	a[0].name = "John Q Public";
	addrs_is(a, 1, "To: John Q Public <a@example.com>\n");
	a[0].name = "Public, John Q.";
	addrs_is(a, 1, "To: \"Public, John Q.\" <a@example.com>\n");
	a[0].name = "say \"hi\" \\o/";
	addrs_is(a, 1, "To: \"say \\\"hi\\\" \\\\o/\" <a@example.com>\n");
	a[0].name = " spaced ";
	addrs_is(a, 1, "To: \" spaced \" <a@example.com>\n");
	a[0].name = "Jos\xc3\xa9 Garc\xc3\xad" "a";
	addrs_is(a, 1, "To: =?UTF-8?B?Sm9zw6kgR2FyY8OtYQ==?= "
	    "<a@example.com>\n");
	/* Plain words stay plain around an encoded run, ASCII words with
	 * specials are quoted-strings: no two encoded words side by side. */
	a[0].name = "Dr. J\xc3\xb6rg M\xc3\xbcller of Example Inc";
	addrs_is(a, 1, "To: \"Dr.\" =?UTF-8?B?SsO2cmcgTcO8bGxlcg==?= of Example"
	    " Inc <a@example.com>\n");
	a[0].name = "M\xc3\xbcller & S\xc3\xb6hne (Vertrieb), K\xc3\xb6ln";
	addrs_is(a, 1, "To: =?UTF-8?Q?M=C3=BCller?= & =?UTF-8?B?U8O2aG5l?= "
	    "\"(Vertrieb),\"\n =?UTF-8?B?S8O2bG4=?= <a@example.com>\n");
	a[0].name = "\xc3\xa9 \"q\\\" x";
	addrs_is(a, 1, "To: =?UTF-8?B?w6k=?= \"\\\"q\\\\\\\"\" x "
	    "<a@example.com>\n");
	a[0].name = "Ren\xc3\xa9 Descartes and the Philosophers of Europe";
	addrs_is(a, 1, "To: =?UTF-8?B?UmVuw6k=?= Descartes and the "
	    "Philosophers of Europe\n <a@example.com>\n");
	a[0].name = "=?utf-8?q?x?=";
	addrs_is(a, 1, "To: =?UTF-8?B?PT91dGYtOD9xP3g/PQ==?= "
	    "<a@example.com>\n");
	/* Many addresses fold after the commas. */
	for (i = 0; i < 40; i++) {
		snprintf(email[i], sizeof(email[i]), "user%zu@example.org", i);
		a[i].email = email[i];
		a[i].name = i % 3 == 0 ? "Some Body" : i % 3 == 1 ?
		    "\xe5\xb1\xb1\xe7\x94\xb0 \xe5\xa4\xaa\xe9\x83\x8e" : NULL;
	}
	{
		struct buf	 b;

		buf_init(&b);
		assert_int_equal(mime_hdr_addrs(&b, "To", a, 40), 0);
		lines_max(b.data, b.len, MIME_FOLD);
		assert_true(strstr(b.data, ",\n ") != NULL);
		assert_null(strstr(b.data, " \n"));
		assert_int_equal(b.data[b.len - 1], '\n');
		assert_non_null(strstr(b.data, "<user39@example.org>\n"));
		buf_free(&b);
	}
}

static void
test_date(void **state)
{
	struct mail	 m;
	struct buf	 b;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.from.email = "a@example.com";
	m.subject = "s";
	m.text = "t";
	buf_init(&b);
	assert_int_equal(mime_build(&m, "x@y", 0, 0, &b), 0);
	assert_non_null(strstr(b.data,
	    "\nDate: Thu, 01 Jan 1970 00:00:00 +0000\n"));
	buf_reset(&b);
	assert_int_equal(mime_build(&m, "x@y", 951782400, 0, &b), 0);
	assert_non_null(strstr(b.data,
	    "\nDate: Tue, 29 Feb 2000 00:00:00 +0000\n"));
	buf_reset(&b);
	assert_int_equal(mime_build(&m, "x@y", 1700000000, 0, &b), 0);
	assert_non_null(strstr(b.data,
	    "\nDate: Tue, 14 Nov 2023 22:13:20 +0000\n"));
	buf_free(&b);
}

/* The message */

static struct mail_addr	 to[2] = {
	{ "b@example.org", "B\xc3\xa9" }, { "c@example.org", NULL }
};
static struct mail_addr	 bcc[1] = { { "secret@example.net", "Secret" } };
static struct mail_header hdrs[2] = {
	{ "X-Tag", "v1" }, { "List-Unsubscribe", "<mailto:u@example.com>" }
};

static void
sample(struct mail *m)
{
	memset(m, 0, sizeof(*m));
	m->from.email = "a@example.com";
	m->from.name = "Alice";
	m->to = to;
	m->nto = 2;
	m->bcc = bcc;
	m->nbcc = 1;
	m->reply_to = to + 1;
	m->nreply_to = 1;
	m->subject = "Hi";
	m->headers = hdrs;
	m->nheaders = 2;
}

/* The boundary of the Content-Type header after `after`. */
static void
boundary_of(const char *msg, const char *after, char *out, size_t outlen)
{
	const char	*p = strstr(msg, after), *q;

	assert_non_null(p);
	assert_non_null(p = strstr(p, "boundary=\""));
	p += 10;
	assert_non_null(q = strchr(p, '"'));
	assert_true((size_t)(q - p) < outlen);
	memcpy(out, p, (size_t)(q - p));
	out[q - p] = '\0';
	assert_int_equal(strncmp(out, "=_", 2), 0);
}

static void
test_build_single(void **state)
{
	struct mail	 m;
	struct buf	 b;

	(void)state;
	sample(&m);
	m.text = "Hello\nFrom me";
	buf_init(&b);
	assert_int_equal(buf_adds(&b, "prefix:"), 0);
	assert_int_equal(mime_build(&m, "id@example.org", 1700000000, 0, &b), 0);
	assert_string_equal(b.data, "prefix:"
	    "From: Alice <a@example.com>\n"
	    "To: =?UTF-8?B?QsOp?= <b@example.org>, c@example.org\n"
	    "Reply-To: c@example.org\n"
	    "Subject: Hi\n"
	    "Date: Tue, 14 Nov 2023 22:13:20 +0000\n"
	    "Message-ID: <id@example.org>\n"
	    "MIME-Version: 1.0\n"
	    "X-Tag: v1\n"
	    "List-Unsubscribe: <mailto:u@example.com>\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n"
	    "\n"
	    "Hello\n"
	    "=46rom me=\n");
	assert_null(strstr(b.data, "secret"));
	assert_null(strstr(b.data, "Bcc"));
	buf_reset(&b);
	m.text = NULL;
	m.html = "<p>x</p>\n";
	m.nreply_to = 0;
	m.nheaders = 0;
	assert_int_equal(mime_build(&m, "id@example.org", 1700000000, 0, &b), 0);
	assert_non_null(strstr(b.data, "MIME-Version: 1.0\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n<p>x</p>\n"));
	assert_null(strstr(b.data, "Reply-To"));
	buf_free(&b);
}

static void
test_build_alternative(void **state)
{
	struct mail	 m;
	struct buf	 b, want;
	char		 bnd[80];

	(void)state;
	sample(&m);
	m.text = "plain";
	m.html = "<b>rich</b>\n";
	buf_init(&b);
	buf_init(&want);
	assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b), 0);
	boundary_of(b.data, "Content-Type: multipart/alternative", bnd,
	    sizeof(bnd));
	assert_int_equal(buf_addf(&want, "Content-Type: multipart/alternative; "
	    "boundary=\"%s\"\n\n--%s\n"
	    "Content-Type: text/plain; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\nplain\n--%s\n"
	    "Content-Type: text/html; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n<b>rich</b>\n\n"
	    "--%s--\n", bnd, bnd, bnd, bnd), 0);
	assert_true(b.len > want.len);
	assert_string_equal(b.data + b.len - want.len, want.data);
	buf_free(&b);
	buf_free(&want);
}

static void
test_build_mixed(void **state)
{
	struct mail		 m;
	struct mail_attachment	 att[6];
	struct buf		 b, d;
	char			 outer[80], inner[80], *p;
	unsigned char		 bin[300];
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)i;
	sample(&m);
	m.text = "see attached";
	m.html = "<p>see attached</p>";
	att[0] = (struct mail_attachment){ "r.pdf", "application/pdf", bin,
	    sizeof(bin), NULL, NULL };
	att[1] = (struct mail_attachment){ "caf\xc3\xa9.txt", "text/plain",
	    (unsigned char *)"x", 1, NULL, NULL };
	att[2] = (struct mail_attachment){ "empty", "application/x-empty",
	    bin, 0, NULL, NULL };
	/* UTF-8 text gets its charset; the caller's is kept; others none. */
	att[3] = (struct mail_attachment){ "notes.txt", "text/plain",
	    (unsigned char *)"Gr\xc3\xbc\xc3\x9f" "e\n", 8, NULL, NULL };
	att[4] = (struct mail_attachment){ "l1.csv", "text/csv",
	    (unsigned char *)"\xe9", 1, "iso-8859-1", NULL };
	att[5] = (struct mail_attachment){ "raw.txt", "text/plain",
	    (unsigned char *)"\xff\xc3", 2, NULL, NULL };
	m.attachments = att;
	m.nattachments = 6;
	buf_init(&b);
	buf_init(&d);
	assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b), 0);
	lines_max(b.data, b.len, MIME_FOLD);
	boundary_of(b.data, "Content-Type: multipart/mixed", outer,
	    sizeof(outer));
	boundary_of(b.data, "Content-Type: multipart/alternative", inner,
	    sizeof(inner));
	assert_string_not_equal(outer, inner);
	assert_non_null(strstr(b.data, "Content-Type: application/pdf; "
	    "name=\"r.pdf\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; filename=\"r.pdf\"\n\n"
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v"
	    "MDEyMzQ1Njc4\n"));
	assert_non_null(strstr(b.data, "Content-Type: text/plain; "
	    "name=\"=?UTF-8?B?Y2Fmw6kudHh0?=\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; "
	    "filename*=UTF-8''caf%C3%A9.txt\n\neA==\n--"));
	assert_non_null(strstr(b.data, "Content-Type: application/x-empty; "
	    "name=\"empty\"\n"
	    "Content-Transfer-Encoding: base64\n"
	    "Content-Disposition: attachment; filename=\"empty\"\n\n\n--"));
	assert_non_null(strstr(b.data, "Content-Type: text/plain; "
	    "charset=utf-8; name=\"notes.txt\"\n"));
	assert_non_null(strstr(b.data, "Content-Type: text/csv; "
	    "charset=iso-8859-1; name=\"l1.csv\"\n"));
	assert_non_null(strstr(b.data, "Content-Type: text/plain; "
	    "name=\"raw.txt\"\n"));
	/* Outer parts: the alternative, then six attachments; inner: two. */
	for (i = 0, p = b.data; (p = strstr(p, outer)) != NULL; p++)
		i++;
	/* The parameter, seven delimiters, the close delimiter. */
	assert_int_equal(i, 1 + 7 + 1);
	for (i = 0, p = b.data; (p = strstr(p, inner)) != NULL; p++)
		i++;
	assert_int_equal(i, 1 + 2 + 1);
	assert_int_equal(b.len - (size_t)(strstr(b.data, outer) - b.data) > 0,
	    1);
	assert_int_equal(b.data[b.len - 1], '\n');
	p = b.data + b.len - strlen(outer) - 6;
	assert_int_equal(strncmp(p, "\n--", 3), 0);
	assert_int_equal(strncmp(p + 3, outer, strlen(outer)), 0);
	assert_string_equal(p + 3 + strlen(outer), "--\n");
	buf_free(&b);
	buf_free(&d);
}

/* name= of Content-Type: encoded words in quotes, lines of 76 at most. */
static void
test_attachment_names(void **state)
{
	static const char *const names[] = {
		"Rapport annuel \xc3\xa9t\xc3\xa9 2023 \xe2\x80\x93 "
		    "version d\xc3\xa9" "finitive sign\xc3\xa9" "e.pdf",
		"\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8\xe8\xab\x8b\xe6\xb1"
		    "\x82\xe6\x9b\xb8\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8"
		    "\xe8\xab\x8b\xe6\xb1\x82\xe6\x9b\xb8\xe8\xab\x8b\xe6"
		    "\xb1\x82\xe6\x9b\xb8.pdf",
		"quote \" and backslash \\.txt",
		("a-very-long-ascii-file-name-that-does-not-fit-in-a-quoted-"
		    "string-of-sixty-four.txt"),
	};
	struct mail		 m;
	struct mail_attachment	 att = { NULL, "application/pdf",
	    (unsigned char *)"x", 1, NULL, NULL };
	struct buf		 b, d, u;
	const char		*p, *q;
	size_t			 i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		sample(&m);
		m.text = "t";
		att.filename = names[i];
		m.attachments = &att;
		m.nattachments = 1;
		buf_init(&b);
		buf_init(&d);
		buf_init(&u);
		assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b),
		    0);
		lines_max(b.data, b.len, MIME_FOLD);
		p = strstr(b.data, "Content-Type: application/pdf;");
		assert_non_null(p);
		q = strstr(p, "\nContent-Transfer-Encoding");
		assert_non_null(q);
		assert_int_equal(buf_add(&u, p, (size_t)(q - p)), 0);
		/* One quoted string of encoded words, then the end. */
		p = strstr(u.data, "name=\"=?UTF-8?");
		assert_non_null(p);
		assert_int_equal(u.data[u.len - 1], '"');
		u.data[--u.len] = '\0';
		assert_null(strchr(p + 6, '"'));
		words_decode(p + 6, &d);
		assert_int_equal(d.len, strlen(names[i]));
		assert_memory_equal(d.data, names[i], d.len);
		buf_free(&b);
		buf_free(&d);
		buf_free(&u);
	}
}

static void
test_build_boundaries_random(void **state)
{
	struct mail	 m;
	struct buf	 b1, b2;
	char		 x[80], y[80];

	(void)state;
	sample(&m);
	m.text = "a";
	m.html = "b";
	buf_init(&b1);
	buf_init(&b2);
	assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b1), 0);
	assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b2), 0);
	boundary_of(b1.data, "multipart/alternative", x, sizeof(x));
	boundary_of(b2.data, "multipart/alternative", y, sizeof(y));
	assert_string_not_equal(x, y);
	buf_free(&b1);
	buf_free(&b2);
}

static void
filename_lines(const char *fn, const char *want_start)
{
	struct mail		 m;
	struct mail_attachment	 att = { fn, "a/b", NULL, 0, NULL, NULL };
	struct buf		 b;
	const char		*p, *q;

	sample(&m);
	m.text = "t";
	m.attachments = &att;
	m.nattachments = 1;
	buf_init(&b);
	assert_int_equal(mime_build(&m, "id@example.org", 0, 0, &b), 0);
	lines_max(b.data, b.len, MIME_FOLD);
	assert_non_null(p = strstr(b.data, "Content-Disposition: "));
	assert_non_null(q = strstr(p, "\n\n"));
	if (strncmp(p, want_start, strlen(want_start)) != 0)
		fail_msg("got %.*s", (int)(q - p), p);
	/* No %XX is cut by a fold. */
	for (; strstr(p, "*=") != NULL && p < q; p++)
		if (*p == '%')
			assert_true(hexval(p[1]) >= 0 && hexval(p[2]) >= 0);
	buf_free(&b);
}

static void
test_filenames(void **state)
{
	char	*fn;

	(void)state;
	filename_lines("a.txt", "Content-Disposition: attachment; "
	    "filename=\"a.txt\"\n");
	filename_lines("with space.txt", "Content-Disposition: attachment; "
	    "filename=\"with space.txt\"\n");
	filename_lines("q\"uote", "Content-Disposition: attachment; "
	    "filename*=UTF-8''q%22uote\n");
	filename_lines("50%.txt", "Content-Disposition: attachment; "
	    "filename=\"50%.txt\"\n");
	fn = rep("n", 64, "");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename=\"nnnn");
	free(fn);
	fn = rep("n", 65, "");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename*0*=UTF-8''nnn");
	free(fn);
	fn = rep("n", 57, "");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename=\"nnn");
	free(fn);
	fn = rep("n", 57, "\xc3\xa9");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename*0*=UTF-8''nnn");
	free(fn);
	fn = rep("n", 52, "\xc3\xa9");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename*=UTF-8''nnn");
	free(fn);
	fn = rep("\xe2\x82\xac", 85, "");
	filename_lines(fn, "Content-Disposition: attachment;\n "
	    "filename*0*=UTF-8''%E2%82%AC");
	free(fn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp_vectors),
		cmocka_unit_test(test_qp_random),
		cmocka_unit_test(test_base64_vectors),
		cmocka_unit_test(test_prefer_base64),
		cmocka_unit_test(test_words_vectors),
		cmocka_unit_test(test_words_split),
		cmocka_unit_test(test_words_between_words),
		cmocka_unit_test(test_hdr_text),
		cmocka_unit_test(test_hdr_ok),
		cmocka_unit_test(test_hdr_addrs),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_build_single),
		cmocka_unit_test(test_build_alternative),
		cmocka_unit_test(test_build_mixed),
		cmocka_unit_test(test_attachment_names),
		cmocka_unit_test(test_build_boundaries_random),
		cmocka_unit_test(test_filenames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
