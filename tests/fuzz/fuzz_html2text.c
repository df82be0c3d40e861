/*
 * fuzz_html2text: the html to text converter on any bytes.  The first
 * byte picks how the rest is used:
 *
 *   0, 3	as html.  The text must be what html2text.h promises: valid
 *		UTF-8, no control characters but LF and tab, no white space
 *		at a line end, no empty line at either end nor two in a row,
 *		a final LF unless empty, at most 16 times the input (plus a
 *		little).  Input with no markup at all ('<', '&', NUL) and
 *		only printable ASCII and white space gives back its words
 *		in order, in lines of at most HTML2TEXT_WIDTH columns unless
 *		a line is one word.
 *   1		inside <script>...</script> (without '<'): nothing of it
 *		comes out, only the "ok" after it.
 *   2		inside a comment (without '-' and '>'): the same.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "fuzzutil.h"
#include "html2text.h"

static void
check_shape(const char *s, size_t len, size_t inlen)
{
	size_t	 i;

	FZ_CHECK(len <= 16 * inlen + 64, "%zu octets of text from %zu", len,
	    inlen);
	FZ_CHECK(fz_utf8_valid((const unsigned char *)s, len),
	    "invalid UTF-8");
	if (len == 0)
		return;
	FZ_CHECK(s[0] != '\n', "empty first line");
	FZ_CHECK(s[len - 1] == '\n', "no final LF");
	FZ_CHECK(len < 2 || s[len - 2] != '\n', "empty last line");
	for (i = 0; i < len; i++) {
		FZ_CHECK((unsigned char)s[i] >= 0x20 || s[i] == '\n' ||
		    s[i] == '\t', "control 0x%02x", (unsigned char)s[i]);
		FZ_CHECK(s[i] != 0x7f, "DEL");
		if (s[i] != '\n' || i == 0)
			continue;
		FZ_CHECK(s[i - 1] != ' ' && s[i - 1] != '\t',
		    "white space at a line end");
		FZ_CHECK(i < 2 || s[i - 1] != '\n' || s[i - 2] != '\n',
		    "two empty lines");
	}
}

static int
plain_input(const uint8_t *d, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!((d[i] >= 0x20 && d[i] < 0x7f && d[i] != '<' &&
		    d[i] != '&') || d[i] == ' ' || d[i] == '\n' ||
		    d[i] == '\t' || d[i] == '\r'))
			return 0;
	return 1;
}

/* The next word of s at *i (white space skipped), its length in *n. */
static const char *
next_word(const char *s, size_t len, size_t *i, size_t *n)
{
	size_t	 j;

	while (*i < len && strchr(" \t\r\n", s[*i]) != NULL)
		(*i)++;
	for (j = *i; j < len && strchr(" \t\r\n", s[j]) == NULL; j++)
		;
	*n = j - *i;
	s += *i;
	*i = j;
	return *n > 0 ? s : NULL;
}

static void
check_words(const char *in, size_t inlen, const char *out, size_t outlen)
{
	size_t		 i = 0, k = 0, n, m, line, col;
	const char	*a, *b;

	for (;;) {
		a = next_word(in, inlen, &i, &n);
		b = next_word(out, outlen, &k, &m);
		if (a == NULL || b == NULL) {
			FZ_CHECK(a == NULL && b == NULL, "words differ in number");
			break;
		}
		FZ_CHECK(n == m && memcmp(a, b, n) == 0, "word \"%.*s\" became"
		    " \"%.*s\"", (int)n, a, (int)m, b);
	}
	for (line = 0; line < outlen; line = k + 1) {
		for (k = line; out[k] != '\n'; k++)
			;
		col = k - line;
		FZ_CHECK(col <= HTML2TEXT_WIDTH ||
		    memchr(out + line, ' ', col) == NULL,
		    "line of %zu with a space", col);
	}
}

/* prefix, data without the bytes in drop, suffix; as one C string. */
static char *
wrap(const char *prefix, const uint8_t *d, size_t len, const char *drop,
    const char *suffix, size_t *outlen)
{
	size_t	 pl = strlen(prefix), sl = strlen(suffix), i, n = 0;
	char	*s;

	if ((s = malloc(pl + len + sl + 1)) == NULL)
		abort();
	memcpy(s, prefix, pl);
	n = pl;
	for (i = 0; i < len; i++)
		if (d[i] != '\0' && strchr(drop, d[i]) == NULL)
			s[n++] = (char)d[i];
	memcpy(s + n, suffix, sl);
	n += sl;
	s[n] = '\0';
	*outlen = n;
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static int	 init;
	struct buf	 b;
	unsigned	 op;
	char		*s;
	size_t		 n;

	if (!init) {
		html2text_init();
		init = 1;
	}
	if (len == 0)
		return 0;
	op = data[0] % 4;
	data++;
	len--;
	buf_init(&b);
	if (op == 1 || op == 2) {
		s = op == 1 ?
		    wrap("<p>x<script>", data, len, "<", "</script>ok", &n) :
		    wrap("<p>x<!--", data, len, "->", "-->ok", &n);
		FZ_CHECK(html2text_convert(&b, s, n) == 0, "convert failed");
		FZ_CHECK(b.data != NULL && strcmp(b.data, "xok\n") == 0,
		    "hidden text shows: \"%s\"", b.data ? b.data : "");
		free(s);
		buf_free(&b);
		return 0;
	}
	FZ_CHECK(html2text_convert(&b, (const char *)data, len) == 0,
	    "convert failed");
	check_shape(b.data != NULL ? b.data : "", b.len, len);
	if (plain_input(data, len))
		check_words((const char *)data, len, b.data != NULL ? b.data :
		    "", b.len);
	buf_free(&b);
	return 0;
}
