/*
 * fuzz_mime: the encoders of mime.h, one per input (the first byte picks
 * it), each checked against its contract and decoded back:
 *
 *   mime_qp	lines <= 76, printable ASCII, no white space before a line
 *		break, no "From " at a line start, '=' only before two hex
 *		digits or a soft break, no soft break inside a UTF-8 sequence,
 *		decodes to the input (with and without MIME_QP_EOL)
 *   mime_base64	lines of exactly linelen (the last may be shorter),
 *		no final LF, decodes to the input; linelen % 4 != 0 refused
 *   mime_words	encoded words of <= 75 octets, continuation lines <= 76,
 *		*col right, decodes to the input
 *   mime_hdr_text	one "Name: value" header, lines <= 998, decodes back
 *   mime_hdr_raw	(for values the validator passes) one header, lines
 *		<= 998, unfolds to the value
 *   mime_hdr_addrs	one header giving back every address and name
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "fuzzutil.h"
#include "mime.h"

static const char *const text_names[] = {
	"Subject", "X-Fuzz", "X-A-Rather-Long-Header-Name-That-Takes-Up-Room",
};
static const char *const raw_names[] = {
	"References", "In-Reply-To", "List-Unsubscribe", "List-Unsubscribe-Post",
};
static const char *const emails[] = {
	"a@b.co", "app@example.org",
	("a.very.long.local.part.that.is.sixty.four.octets.long.xxxxxxxxxx@"
	    "example.org"),
};

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))

static void
check_qp(const uint8_t *d, size_t len, int flags)
{
	struct buf	 b, dec;
	const char	*p, *line;
	size_t		 i, off = 0;
	int		 utf8 = fz_utf8_valid(d, len);

	buf_init(&b);
	buf_init(&dec);
	FZ_CHECK(mime_qp(&b, d, len, flags) == 0, "mime_qp failed");
	buf_add(&b, "", 0);
	buf_add(&dec, "", 0);
	for (line = p = b.data; p <= b.data + b.len; p++) {
		if (p < b.data + b.len && *p != '\n') {
			FZ_CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\t',
			    "byte 0x%02x in QP", (unsigned char)*p);
			continue;
		}
		FZ_CHECK(p - line <= MIME_FOLD, "QP line of %zu",
		    (size_t)(p - line));
		FZ_CHECK(p == line || (p[-1] != ' ' && p[-1] != '\t'),
		    "white space before a line break");
		FZ_CHECK(p - line < 5 || memcmp(line, "From ", 5) != 0,
		    "From at a line start");
		line = p + 1;
	}
	for (i = 0; i < b.len; i++) {
		if (b.data[i] != '=') {
			off++;
			continue;
		}
		if (b.data[i + 1] == '\n') {
			/* A soft break: the decoded offset is a boundary. */
			FZ_CHECK(!utf8 || off >= len || (d[off] & 0xc0) != 0x80,
			    "soft break inside a UTF-8 sequence at %zu", off);
			i++;
			continue;
		}
		FZ_CHECK(strchr("0123456789ABCDEF", b.data[i + 1]) &&
		    strchr("0123456789ABCDEF", b.data[i + 2]) &&
		    b.data[i + 1] != '\0' && b.data[i + 2] != '\0',
		    "bad escape");
		i += 2;
		off++;
	}
	FZ_CHECK(fz_qp_decode(b.data, b.len, &dec) == 0, "QP undecodable");
	FZ_CHECK(dec.len == len && memcmp(dec.data, d, len) == 0,
	    "QP does not decode to the input");
	if (flags & MIME_QP_EOL)
		FZ_CHECK(len == 0 || b.data[b.len - 1] == '\n', "no final EOL");
	else
		FZ_CHECK(b.len < 2 || b.data[b.len - 2] != '=' ||
		    b.data[b.len - 1] != '\n', "final soft break without EOL");
	buf_free(&b);
	buf_free(&dec);
}

static void
check_b64(const uint8_t *d, size_t len, size_t linelen)
{
	struct buf	 b, dec;
	const char	*p, *line;

	buf_init(&b);
	buf_init(&dec);
	if (linelen % 4 != 0) {
		FZ_CHECK(mime_base64(&b, d, len, linelen) == -1,
		    "linelen %zu accepted", linelen);
		return;
	}
	FZ_CHECK(mime_base64(&b, d, len, linelen) == 0, "mime_base64");
	buf_add(&b, "", 0);
	buf_add(&dec, "", 0);
	for (line = p = b.data; p <= b.data + b.len; p++) {
		if (p < b.data + b.len && *p != '\n')
			continue;
		if (p < b.data + b.len)
			FZ_CHECK(linelen > 0 && (size_t)(p - line) == linelen,
			    "base64 line of %zu, want %zu", (size_t)(p - line),
			    linelen);
		else
			FZ_CHECK(linelen == 0 || (size_t)(p - line) <= linelen,
			    "last base64 line of %zu", (size_t)(p - line));
		line = p + 1;
	}
	FZ_CHECK(b.len == 0 || b.data[b.len - 1] != '\n', "final LF");
	FZ_CHECK(fz_b64_decode(b.data, b.len, &dec) == 0, "bad base64");
	FZ_CHECK(dec.len == len && memcmp(dec.data, d, len) == 0,
	    "base64 does not decode to the input");
	buf_free(&b);
	buf_free(&dec);
}

static void
check_words(const uint8_t *d, size_t len, size_t col0)
{
	struct buf	 b, dec;
	size_t		 col = col0, i, j, linestart = 0, first = 1;

	buf_init(&b);
	buf_init(&dec);
	buf_add(&b, "", 0);
	buf_add(&dec, "", 0);
	FZ_CHECK(mime_words(&b, &col, (const char *)d, len) == 0, "words");
	FZ_CHECK(len > 0 || b.len == 0, "output for empty input");
	for (i = 0; i < b.len; i = j) {
		if (b.data[i] == '\n') {
			FZ_CHECK(!first, "fold before the first word");
			linestart = ++i;
			FZ_CHECK(i < b.len && b.data[i] == ' ', "fold w/o space");
		}
		FZ_CHECK(b.data[i] == ' ', "word not after a space");
		for (j = ++i; j < b.len && b.data[j] != ' ' &&
		    b.data[j] != '\n'; j++)
			;
		FZ_CHECK(j - i <= MIME_EW_MAX, "word of %zu octets", j - i);
		FZ_CHECK(fz_text_decode(b.data + i, j - i, &dec) == 0 &&
		    strncmp(b.data + i, "=?", 2) == 0, "bad word %.*s",
		    (int)(j - i), b.data + i);
		if (linestart > 0)
			FZ_CHECK(j - linestart <= MIME_FOLD,
			    "continuation line of %zu", j - linestart);
		first = 0;
	}
	FZ_CHECK(dec.len == len && memcmp(dec.data, d, len) == 0,
	    "words do not decode to the input");
	FZ_CHECK(col == (linestart > 0 ? b.len - linestart : col0 + b.len),
	    "col %zu is wrong", col);
	buf_free(&b);
	buf_free(&dec);
}

/* The output holds exactly one header called name; returns its value. */
static char *
one_header(const struct buf *b, const char *name)
{
	struct fz_hdrs	 h;
	const char	*p, *line;
	char		*v;

	FZ_CHECK(b->len > 0 && b->data[b->len - 1] == '\n', "no final LF");
	for (line = p = b->data; p < b->data + b->len; p++)
		if (*p == '\n') {
			FZ_CHECK(p - line <= 998, "line of %zu octets",
			    (size_t)(p - line));
			line = p + 1;
		}
	fz_headers(b->data, b->len, &h);
	FZ_CHECK(h.n == 1 && strcmp(h.v[0].name, name) == 0,
	    "%zu headers", h.n);
	v = h.v[0].value;
	h.v[0].value = NULL;
	fz_headers_free(&h);
	return v;
}

static void
check_hdr_text(const char *name, const char *value)
{
	struct buf	 b, dec;
	char		*v;

	buf_init(&b);
	buf_init(&dec);
	buf_add(&dec, "", 0);
	FZ_CHECK(mime_hdr_text(&b, name, value) == 0, "mime_hdr_text");
	v = one_header(&b, name);
	FZ_CHECK(fz_text_decode(v, strlen(v), &dec) == 0, "undecodable %s", v);
	FZ_CHECK(strcmp(dec.data, value) == 0, "\"%s\" decodes to \"%s\"",
	    value, dec.data);
	free(v);
	buf_free(&b);
	buf_free(&dec);
}

/* What req.c lets through to mime_hdr_raw. */
static int
raw_ok(const char *name, const char *v)
{
	size_t	i, n = strlen(v);

	if (n == 0 || v[0] == ' ' || v[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if (v[i] < 0x20 || v[i] >= 0x7f)
			return 0;
	return mime_hdr_ok(name, v);
}

static void
check_hdr_raw(const char *name, const char *value)
{
	struct buf	 b;
	char		*v;

	if (!raw_ok(name, value))
		return;
	buf_init(&b);
	FZ_CHECK(mime_hdr_raw(&b, name, value) == 0, "mime_hdr_raw");
	v = one_header(&b, name);
	FZ_CHECK(strcmp(v, value) == 0, "\"%s\" unfolds to \"%s\"", value, v);
	free(v);
	buf_free(&b);
}

/* Names as req.c lets them through: no C0, DEL, C1, U+2028/9. */
static int
name_ok(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f ||
		    (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
		    (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 ||
		    p[2] == 0xa9)))
			return 0;
	return 1;
}

static void
check_hdr_addrs(struct fz_in *in)
{
	struct mail_addr	 a[4];
	char			*own[8];
	struct buf		 b;
	size_t			 n = 1 + fz_byte(in) % 4, i, k = 0;
	char			*v, *e;

	for (i = 0; i < n; i++) {
		e = fz_str(in);
		own[k++] = e;
		a[i].email = addr_valid(e, NULL) == 0 ? e :
		    emails[(unsigned char)e[0] % NELEM(emails)];
		own[k++] = fz_utf8(in);
		a[i].name = name_ok(own[k - 1]) ? own[k - 1] : NULL;
	}
	buf_init(&b);
	FZ_CHECK(mime_hdr_addrs(&b, "To", a, n) == 0, "mime_hdr_addrs");
	v = one_header(&b, "To");
	fz_check_addrs(v, a, n);
	free(v);
	buf_free(&b);
	for (i = 0; i < k; i++)
		free(own[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const size_t	 linelens[] = { 0, 4, 8, 72, 76, 3, 6 };
	struct fz_in		 in = { data, len };
	unsigned		 op = fz_byte(&in), arg = fz_byte(&in);
	char			*s;

	switch (op % 7) {
	case 0:
	case 1:
		check_qp(in.p, in.len, op % 7 == 0 ? MIME_QP_EOL : 0);
		break;
	case 2:
		check_b64(in.p, in.len, linelens[arg % NELEM(linelens)]);
		break;
	case 3:
		check_words(in.p, in.len, arg % 90);
		break;
	case 4:
		/* Never empty: req.c refuses an empty subject or value. */
		s = fz_str(&in);
		if (s[0] != '\0')
			check_hdr_text(text_names[arg % NELEM(text_names)], s);
		free(s);
		break;
	case 5:
		s = fz_str(&in);
		check_hdr_raw(raw_names[arg % NELEM(raw_names)], s);
		free(s);
		break;
	case 6:
		in.p--;
		in.len++;
		check_hdr_addrs(&in);
		break;
	}
	return 0;
}
