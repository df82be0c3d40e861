/*
 * mime_enc: the encoders of mime.h: base64, quoted-printable, RFC 2047
 * encoded words and RFC 2231 parameter values.  Encoded words and
 * filenames are written into a header line (struct hw, mime_int.h); the
 * rest append to a buf.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "mime.h"
#include "mime_int.h"

#define EW_OVERHEAD	12	/* "=?UTF-8?Q?" "?=" */
#define EW_MIN_PAYLOAD	8	/* fold rather than write less */
#define FILENAME_QUOTED_MAX 64

const char hexdig[] = "0123456789ABCDEF";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

/* Length of the UTF-8 sequence at s: 2..4, or 1 (ASCII or invalid). */
static size_t
u8len(const unsigned char *s, size_t n)
{
	size_t	 l, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 1;
	l = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (l > n)
		return 1;
	for (i = 1; i < l; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return l;
}

/* Base64 of n <= 3 bytes into 4 characters. */
static void
b64_quad(const unsigned char *s, size_t n, char *o)
{
	uint32_t	 v;

	v = (uint32_t)s[0] << 16;
	if (n > 1)
		v |= (uint32_t)s[1] << 8;
	if (n > 2)
		v |= s[2];
	o[0] = b64chars[v >> 18];
	o[1] = b64chars[(v >> 12) & 0x3f];
	o[2] = n > 1 ? b64chars[(v >> 6) & 0x3f] : '=';
	o[3] = n > 2 ? b64chars[v & 0x3f] : '=';
}

static size_t
b64_run(const unsigned char *s, size_t n, char *o)
{
	size_t	 i, k = 0;

	for (i = 0; i < n; i += 3, k += 4)
		b64_quad(s + i, n - i < 3 ? n - i : 3, o + k);
	return k;
}

int
mime_base64(struct buf *b, const void *src, size_t len, size_t linelen)
{
	const unsigned char	*s = src;
	size_t			 nout, nlines, chunk, i, n;
	char			*o;

	if (linelen % 4 != 0) {
		errno = EINVAL;
		return -1;
	}
	if (len > SIZE_MAX / 2) {
		errno = EOVERFLOW;
		return -1;
	}
	nout = (len / 3 + (len % 3 != 0)) * 4;
	nlines = linelen == 0 || nout == 0 ? 1 : (nout + linelen - 1) / linelen;
	if (buf_reserve(b, nout + nlines) == -1)
		return -1;
	chunk = linelen == 0 ? len + (len == 0) : linelen / 4 * 3;
	o = b->data + b->len;
	for (i = 0; i < len; i += n) {
		n = len - i < chunk ? len - i : chunk;
		if (i > 0)
			*o++ = '\n';
		o += b64_run(s + i, n, o);
	}
	*o = '\0';
	b->len = (size_t)(o - b->data);
	return 0;
}

/*
 * Quoted-printable classes: literal, line break, space or tab (encoded
 * before a line break), always =XX, and the lead or continuation bytes of
 * UTF-8 (=XX, kept together).
 */
enum { QP_LIT, QP_NL, QP_WS, QP_ESC, QP_HIGH };

static const unsigned char qp_class[256] = {
	[0 ... 8] = QP_ESC, ['\t'] = QP_WS, ['\n'] = QP_NL,
	[11 ... 31] = QP_ESC, [' '] = QP_WS, ['!' ... '<'] = QP_LIT,
	['='] = QP_ESC, ['>' ... '~'] = QP_LIT, [0x7f] = QP_ESC,
	[0x80 ... 0xff] = QP_HIGH
};

/* Bytes always escaped (*esc) and bytes that may be (the return). */
size_t
qp_scan(const unsigned char *s, size_t len, size_t *esc)
{
	size_t	 i, e = 0, grow = 0;
	int	 c;

	for (i = 0; i < len; i++) {
		c = qp_class[s[i]];
		e += c >= QP_ESC;
		grow += c >= QP_WS || s[i] == 'F';
	}
	*esc = e;
	return grow;
}

int
prefer_base64(size_t len, size_t esc)
{
	/* Soft breaks cost QP about 2/74, line breaks cost base64 1/76. */
	return (len / 3 + 1) * 4 + len / 57 < len + 2 * esc + len / 37;
}

int
mime_prefer_base64(const void *src, size_t len)
{
	size_t	 esc;

	qp_scan(src, len, &esc);
	return prefer_base64(len, esc);
}

static char *
qp_put(char *o, const unsigned char *s, size_t n, int esc)
{
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (!esc) {
			*o++ = (char)s[i];
			continue;
		}
		*o++ = '=';
		*o++ = hexdig[s[i] >> 4];
		*o++ = hexdig[s[i] & 0xf];
	}
	return o;
}

/*
 * One token at s[*i] (not LF), with a soft break before it if needed;
 * *nesc grows by the bytes written as =XX.
 */
static char *
qp_token(char *o, const unsigned char *s, size_t len, size_t *i,
    size_t *col, int flags, size_t *nesc)
{
	size_t	 n = 1, t, at = *i;
	int	 c = qp_class[s[at]], esc, last;

	if (c == QP_HIGH)
		n = u8len(s + at, len - at);
	last = at + n == len ? !(flags & MIME_QP_EOL) : s[at + n] == '\n';
	esc = c >= QP_ESC || (c == QP_WS && (last || at + n == len));
	t = esc ? 3 * n : n;
	/* The last token of a line may reach MIME_FOLD; others leave
	 * room for the soft break. */
	if (*col + t > (last ? MIME_FOLD : MIME_FOLD - 1)) {
		*o++ = '=';
		*o++ = '\n';
		*col = 0;
	}
	if (*col == 0 && s[at] == 'F' && len - at >= 5 &&
	    memcmp(s + at, "From ", 5) == 0) {
		esc = 1;
		t = 3;
	}
	*col += t;
	*i = at + n;
	if (esc)
		*nesc += n;
	return qp_put(o, s + at, n, esc);
}

/* Whether s[i] is written as it is (before a soft break at the latest). */
static inline int
qp_literal(const unsigned char *s, size_t len, size_t i)
{
	int	 c = qp_class[s[i]];

	return c == QP_LIT ||
	    (c == QP_WS && i + 1 < len && s[i + 1] != '\n');
}

/*
 * grow: an upper bound of the bytes that may be escaped (qp_scan(), or
 * len).  *esc: the bytes that were.
 */
int
qp_encode(struct buf *b, const unsigned char *s, size_t len, int flags,
    size_t grow, size_t *esc)
{
	size_t	 i = 0, j, end, col = 0, out;
	char	*o;

	if (grow > (SIZE_MAX - len) / 3) {
		errno = EOVERFLOW;
		return -1;
	}
	out = len + 2 * grow;
	/* A soft break follows at least MIME_FOLD - 12 octets. */
	if (buf_reserve(b, out + 2 * (out / (MIME_FOLD - 12) + 2)) == -1)
		return -1;
	o = b->data + b->len;
	*esc = 0;
	while (i < len) {
		/* A run of literals that cannot reach the end of the line. */
		if (qp_literal(s, len, i) && col < MIME_FOLD - 1 &&
		    (col > 0 || s[i] != 'F')) {
			end = len - i < MIME_FOLD - 1 - col ? len :
			    i + MIME_FOLD - 1 - col;
			for (j = i + 1; j < end && qp_literal(s, len, j); j++)
				;
			memcpy(o, s + i, j - i);
			o += j - i;
			col += j - i;
			i = j;
		} else if (s[i] == '\n') {
			*o++ = '\n';
			col = 0;
			i++;
		} else
			o = qp_token(o, s, len, &i, &col, flags, esc);
	}
	if ((flags & MIME_QP_EOL) && len > 0 && s[len - 1] != '\n') {
		*o++ = '=';
		*o++ = '\n';
	}
	*o = '\0';
	b->len = (size_t)(o - b->data);
	return 0;
}

int
mime_qp(struct buf *b, const void *src, size_t len, int flags)
{
	size_t	 esc, grow;

	grow = qp_scan(src, len, &esc);
	return qp_encode(b, src, len, flags, grow, &esc);
}

/* Printable ASCII without "=?" (s[len] is readable). */
int
printable_ok(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
		if (s[i] == '=' && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

/* Printable ASCII, no space at either end, no "=?": safe unencoded. */
int
plain_ok(const char *s, size_t len)
{
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	return printable_ok(s, len);
}

/* RFC 2047 encoded words. */

/* Octets a byte takes in a Q word (5(3) set; space becomes '_'). */
static size_t
q_cost(unsigned char c)
{
	return is_alnum(c) || c == ' ' || c == '!' || c == '*' || c == '+' ||
	    c == '-' || c == '/' ? 1 : 3;
}

static int
use_q(const unsigned char *s, size_t len)
{
	size_t	 i, q = 0;

	for (i = 0; i < len; i++)
		q += q_cost(s[i]);
	return q <= (len / 3 + (len % 3 != 0)) * 4;
}

/* How many bytes of s, whole UTF-8 sequences, fit in room octets. */
static size_t
ew_take(const unsigned char *s, size_t len, int q, size_t room)
{
	size_t	 i = 0, n, k, c, cost = 0;

	while (i < len) {
		n = u8len(s + i, len - i);
		if (q) {
			for (c = 0, k = 0; k < n; k++)
				c += q_cost(s[i + k]);
			if (cost + c > room)
				break;
			cost += c;
		} else if ((i + n + 2) / 3 * 4 > room)
			break;
		i += n;
	}
	return i;
}

/* The encoded word of n bytes of s into w (MIME_EW_MAX + 1 octets). */
static size_t
ew_format(char *w, const unsigned char *s, size_t n, int q)
{
	char	*o = w;
	size_t	 i;

	memcpy(o, q ? "=?UTF-8?Q?" : "=?UTF-8?B?", 10);
	o += 10;
	if (!q)
		o += b64_run(s, n, o);
	else
		for (i = 0; i < n; i++) {
			if (s[i] == ' ')
				*o++ = '_';
			else
				o = qp_put(o, s + i, 1, q_cost(s[i]) != 1);
		}
	*o++ = '?';
	*o++ = '=';
	return (size_t)(o - w);
}

/* The longest prefix of s[0..n) that ends between two words, or 0. */
static size_t
word_cut(const unsigned char *s, size_t len, size_t n)
{
	if (n == len)
		return n;
	for (; n > 0; n--)
		if (s[n - 1] == ' ' || s[n] == ' ')
			return n;
	return 0;
}

/*
 * The bytes of s the next encoded word takes: room octets are left for
 * it on the current line (0: none), a word on a new line may have max.
 * Whole words when the first word fits in one encoded word; a longer word
 * is cut between UTF-8 sequences, on the current line if anything fits.
 * fold: a new line may be started (not before a value's first word).
 * phrase: a rest that fits in one word on a new line is not split.
 */
static size_t
ew_next(const unsigned char *s, size_t len, int q, size_t room, size_t max,
    int fold, int phrase)
{
	size_t	 n = 0, nb, full, fb;

	if (room > max)
		room = max;
	if (room >= EW_OVERHEAD + EW_MIN_PAYLOAD)
		n = ew_take(s, len, q, room - EW_OVERHEAD);
	full = ew_take(s, len, q, max - EW_OVERHEAD);
	nb = word_cut(s, len, n);
	fb = word_cut(s, len, full);
	if (fb == 0)		/* one word longer than an encoded word */
		return n > 0 ? n : full;
	if (nb > 0 && !(fold && phrase && nb < len && fb == len))
		return nb;
	if (!fold) {
		/* No new line: a whole word up to RFC 5322's 78, or fill. */
		room = room + 2 < max ? room + 2 : max;
		if (room >= EW_OVERHEAD + EW_MIN_PAYLOAD &&
		    (nb = word_cut(s, len, ew_take(s, len, q,
		    room - EW_OVERHEAD))) > 0)
			return nb;
		return n > 0 ? n : fb;
	}
	return fb;
}

static void
hw_word(struct hw *h, const unsigned char *s, size_t n, int q)
{
	char	 w[MIME_EW_MAX + 8];
	size_t	 wl = ew_format(w, s, n, q);

	hw_sep(h, wl);
	hw_put(h, w, wl);
}

/*
 * Never folds before the first token: an unstructured value would gain a
 * leading space.  In a phrase, a run that fits in one word is not split
 * (fewer adjacent encoded words for decoders that keep the white space
 * between them, CPython issue 128110).
 */
void
hw_words(struct hw *h, const unsigned char *s, size_t len, int phrase)
{
	size_t	 room, n;
	int	 q = use_q(s, len);

	while (len > 0) {
		room = h->col + 1 < MIME_FOLD ? MIME_FOLD - h->col - 1 : 0;
		if (!h->any && room < EW_OVERHEAD + 2 * EW_MIN_PAYLOAD)
			room = EW_OVERHEAD + 2 * EW_MIN_PAYLOAD;
		n = ew_next(s, len, q, room, MIME_EW_MAX, h->any, phrase);
		/* hw_sep folds when the word does not fit */
		hw_word(h, s, n, q);
		s += n;
		len -= n;
	}
}

int
mime_words(struct buf *b, size_t *col, const char *s, size_t len)
{
	struct hw	 h;
	size_t		 mark = b->len;

	h.b = b;
	h.col = *col;
	h.max = 0;
	h.any = h.err = 0;
	hw_words(&h, (const unsigned char *)s, len, 0);
	if (h.err) {
		restore(b, mark);
		return -1;
	}
	*col = h.col;
	return 0;
}

/* Content-Disposition with an RFC 2231 filename where needed. */

static size_t
pct_cost(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$&+-.^_`|~", c) != NULL) ?
	    1 : 3;
}

static void
hw_pct(struct hw *h, const unsigned char *s, size_t n)
{
	char	 o[3];
	size_t	 i;

	for (i = 0; i < n; i++) {
		if (pct_cost(s[i]) == 1) {
			hw_put(h, s + i, 1);
			continue;
		}
		o[0] = '%';
		o[1] = hexdig[s[i] >> 4];
		o[2] = hexdig[s[i] & 0xf];
		hw_put(h, o, 3);
	}
}

/* Bytes of s, whole UTF-8 sequences, whose %-encoding fits in room. */
static size_t
pct_take(const unsigned char *s, size_t len, size_t room, size_t *cost)
{
	size_t	 i = 0, n, k, c;

	*cost = 0;
	while (i < len) {
		n = u8len(s + i, len - i);
		for (c = 0, k = 0; k < n; k++)
			c += pct_cost(s[i + k]);
		if (*cost + c > room && i > 0)
			break;
		*cost += c;
		i += n;
	}
	return i;
}

/* A filename written as it is, in quotes (else RFC 2231 or 2047). */
static int
quotable(const char *fn, size_t len)
{
	return len <= FILENAME_QUOTED_MAX && plain_ok(fn, len) &&
	    strpbrk(fn, "\"\\") == NULL;
}

void
hw_filename(struct hw *h, const char *fn)
{
	const unsigned char	*s = (const unsigned char *)fn;
	size_t			 len = strlen(fn), i, n, cost, k;
	char			 pre[32];
	int			 np;

	if (quotable(fn, len)) {
		hw_sep(h, len + 11);
		hw_put(h, "filename=\"", 10);
		hw_put(h, fn, len);
		hw_put(h, "\"", 1);
		return;
	}
	pct_take(s, len, SIZE_MAX, &cost);
	if (cost + 17 < MIME_FOLD) {
		hw_sep(h, cost + 17);
		hw_put(h, "filename*=UTF-8''", 17);
		hw_pct(h, s, len);
		return;
	}
	for (k = 0, i = 0; i < len; k++, i += n) {
		np = snprintf(pre, sizeof(pre), "filename*%zu*=%s", k,
		    k == 0 ? "UTF-8''" : "");
		if (np < 0 || (size_t)np >= sizeof(pre)) {
			h->err = 1;
			return;
		}
		n = pct_take(s + i, len - i, MIME_FOLD - 2 - (size_t)np - 1,
		    &cost);
		hw_sep(h, (size_t)np + cost + (i + n < len));
		hw_put(h, pre, (size_t)np);
		hw_pct(h, s + i, n);
		if (i + n < len)
			hw_put(h, ";", 1);
	}
}

void
hw_name(struct hw *h, const char *fn)
{
	const unsigned char	*s = (const unsigned char *)fn;
	size_t			 len = strlen(fn), n, wl, room, pre;
	char			 w[MIME_EW_MAX + 8];
	int			 q;

	if (quotable(fn, len)) {
		hw_sep(h, len + 7);
		hw_put(h, "name=\"", 6);
		hw_put(h, fn, len);
		hw_put(h, "\"", 1);
		return;
	}
	q = use_q(s, len);
	for (pre = 6; len > 0; pre = 0) {
		/* " " pre word '"': a word and its line stay in MIME_FOLD */
		room = h->col + pre + 2 < MIME_FOLD ?
		    MIME_FOLD - h->col - pre - 2 : 0;
		n = ew_next(s, len, q, room, MIME_FOLD - pre - 2, 1, 0);
		wl = ew_format(w, s, n, q);
		hw_sep(h, pre + wl + (n == len));
		if (pre > 0)
			hw_put(h, "name=\"", 6);
		hw_put(h, w, wl);
		if (n == len)
			hw_put(h, "\"", 1);
		s += n;
		len -= n;
	}
}
