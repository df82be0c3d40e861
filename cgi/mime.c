/*
 * mime: quoted-printable, base64, RFC 2047 and RFC 2231 encoders, header
 * folding, and the message builder (see mime.h).
 *
 * Boundaries are "=_" followed by random hex: quoted-printable output only
 * has '=' before two hex digits or a line break and base64 has no '_', so
 * no boundary can occur inside an encoded part.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "mail.h"
#include "mime.h"

#define EW_OVERHEAD	12	/* "=?UTF-8?Q?" "?=" */
#define EW_MIN_PAYLOAD	8	/* fold rather than write less */
#define QUOTED_MAX	400	/* longer ASCII names: encoded words */
#define FILENAME_QUOTED_MAX 64
#define BOUNDARY_LEN	27	/* "=_" + digit + 24 hex */
#define QP_SCAN_MIN	16384	/* longer texts: scanned first */

static const char hexdig[] = "0123456789ABCDEF";
static const char b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* A header line being written (or, with b == NULL, only measured). */
struct hw {
	struct buf	*b;
	size_t		 col;	/* octets on the current line */
	size_t		 max;	/* longest finished line */
	int		 any;	/* a token follows the colon */
	int		 err;
};

static void
restore(struct buf *b, size_t mark)
{
	b->len = mark;
	if (b->data != NULL)
		b->data[mark] = '\0';
}

static int
is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

static int
is_atext(unsigned char c)
{
	return is_alnum(c) ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
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
static size_t
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

static int
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
static int
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

/* Header lines. */

static void
hw_put(struct hw *h, const void *s, size_t n)
{
	if (h->b != NULL && !h->err && buf_add(h->b, s, n) == -1)
		h->err = 1;
	h->col += n;
}

static void
hw_newline(struct hw *h)
{
	if (h->col > h->max)
		h->max = h->col;
	hw_put(h, "\n", 1);
	h->col = 0;
}

static void
hw_begin(struct hw *h, struct buf *b, const char *name)
{
	h->b = b;
	h->col = h->max = 0;
	h->any = h->err = 0;
	hw_put(h, name, strlen(name));
	hw_put(h, ":", 1);
}

/* The space, or the fold and space, before a token of n octets. */
static void
hw_sep(struct hw *h, size_t n)
{
	if (h->any && h->col + 1 + n > MIME_FOLD)
		hw_newline(h);
	hw_put(h, " ", 1);
	h->any = 1;
}

static int
hw_end(struct hw *h, size_t mark)
{
	hw_newline(h);
	if (h->err) {
		restore(h->b, mark);
		return -1;
	}
	return 0;
}

/* Printable ASCII, no space at either end, no "=?": safe unencoded. */
static int
plain_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
		if (s[i] == '=' && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

/*
 * " value", folded at spaces: a fold goes before a run of spaces, so that
 * unfolding gives the value back.
 */
static void
hw_plain(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j;

	for (j = 0; j < len && s[j] != ' '; j++)
		;
	hw_put(h, " ", 1);
	hw_put(h, s, j);
	h->any = 1;
	for (i = j; i < len; i = j) {
		for (j = i; j < len && s[j] == ' '; j++)
			;
		for (; j < len && s[j] != ' '; j++)
			;
		if (s[j - 1] != ' ' && h->col + (j - i) > MIME_FOLD)
			hw_newline(h);
		hw_put(h, s + i, j - i);
	}
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

static void
hw_word(struct hw *h, const unsigned char *s, size_t n, int q)
{
	char	 w[MIME_EW_MAX + 8], *o = w;
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
	hw_sep(h, (size_t)(o - w));
	hw_put(h, w, (size_t)(o - w));
}

/*
 * Never folds before the first token: an unstructured value would gain a
 * leading space.  In a phrase, a run that fits in one word is not split
 * (some decoders keep the space between two words of a display name).
 */
static void
hw_words(struct hw *h, const unsigned char *s, size_t len, int phrase)
{
	size_t	 room, n;
	int	 q = use_q(s, len);

	while (len > 0) {
		room = h->col + 1 < MIME_FOLD ? MIME_FOLD - h->col - 1 : 0;
		if (!h->any && room < EW_OVERHEAD + 2 * EW_MIN_PAYLOAD)
			room = EW_OVERHEAD + 2 * EW_MIN_PAYLOAD;
		if (room > MIME_EW_MAX)
			room = MIME_EW_MAX;
		n = 0;
		if (room >= EW_OVERHEAD + EW_MIN_PAYLOAD)
			n = ew_take(s, len, q, room - EW_OVERHEAD);
		if (n == 0 || (phrase && n < len && h->any &&
		    ew_take(s, len, q, MIME_EW_MAX - EW_OVERHEAD) == len))
			n = ew_take(s, len, q, MIME_EW_MAX - EW_OVERHEAD);
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

int
mime_hdr_text(struct buf *b, const char *name, const char *value)
{
	struct hw	 h;
	size_t		 len = strlen(value), mark = b->len;
	int		 plain = plain_ok(value, len);

	if (plain && strlen(name) + 2 + len > MIME_LINE_MAX) {
		hw_begin(&h, NULL, name);
		hw_plain(&h, value, len);
		hw_newline(&h);
		plain = h.max <= MIME_LINE_MAX;
	}
	hw_begin(&h, b, name);
	if (plain)
		hw_plain(&h, value, len);
	else
		hw_words(&h, (const unsigned char *)value, len, 0);
	return hw_end(&h, mark);
}

int
mime_hdr_raw(struct buf *b, const char *name, const char *value)
{
	struct hw	 h;
	size_t		 mark = b->len;

	hw_begin(&h, b, name);
	hw_plain(&h, value, strlen(value));
	return hw_end(&h, mark);
}

int
mime_hdr_is_text(const char *name)
{
	return (name[0] == 'X' || name[0] == 'x') && name[1] == '-';
}

int
mime_hdr_ok(const char *name, const char *value)
{
	struct hw	 h;
	size_t		 len = strlen(value);

	if (mime_hdr_is_text(name) && !plain_ok(value, len))
		return 1;
	hw_begin(&h, NULL, name);
	hw_plain(&h, value, len);
	hw_newline(&h);
	return h.max <= MIME_LINE_MAX;
}

/* Addresses. */

static int
atoms_ok(const char *s, size_t len)
{
	size_t	 i;

	if (!plain_ok(s, len))
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == ' ') {
			if (s[i + 1] == ' ')
				return 0;
		} else if (!is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int
quoted_ok(const char *s, size_t len)
{
	size_t	 i;

	if (len > QUOTED_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
		if (s[i] == '=' && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

static void
hw_quoted(struct hw *h, const char *s, size_t len)
{
	size_t	 i, n = len + 2;

	for (i = 0; i < len; i++)
		n += s[i] == '"' || s[i] == '\\';
	hw_sep(h, n);
	hw_put(h, "\"", 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			hw_put(h, "\\", 1);
		hw_put(h, s + i, 1);
	}
	hw_put(h, "\"", 1);
}

/* An atom that needs no encoding. */
static int
plain_word(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!is_atext((unsigned char)s[i]) ||
		    (s[i] == '=' && i + 1 < len && s[i + 1] == '?'))
			return 0;
	return 1;
}

/*
 * Words separated by single spaces: plain atoms as they are, each run of
 * other words as encoded words.  Decoders drop the space between two
 * adjacent encoded words (RFC 2047 6.2) and keep it between an encoded
 * word and an atom, so a run carries its inner spaces encoded.
 */
static void
hw_mixed(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j, run = 0;
	int	 in_run = 0;

	for (i = 0; i <= len; i = j + 1) {
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (j < len && !plain_word(s + i, j - i)) {
			if (!in_run)
				run = i;
			in_run = 1;
			continue;
		}
		if (j == len && !plain_word(s + i, j - i)) {
			if (!in_run)
				run = i;
			hw_words(h, (const unsigned char *)s + run, j - run, 1);
			return;
		}
		if (in_run)
			hw_words(h, (const unsigned char *)s + run, i - 1 - run,
			    1);
		in_run = 0;
		hw_sep(h, j - i);
		hw_put(h, s + i, j - i);
	}
}

/* Single spaces between words, none at either end. */
static int
single_spaced(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (i = 0; i + 1 < len; i++)
		if (s[i] == ' ' && s[i + 1] == ' ')
			return 0;
	return 1;
}

static void
hw_phrase(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j;

	if (atoms_ok(s, len)) {
		for (i = 0; i < len; i = j + 1) {
			for (j = i; j < len && s[j] != ' '; j++)
				;
			hw_sep(h, j - i);
			hw_put(h, s + i, j - i);
		}
	} else if (quoted_ok(s, len))
		hw_quoted(h, s, len);
	else if (single_spaced(s, len))
		hw_mixed(h, s, len);
	else
		hw_words(h, (const unsigned char *)s, len, 1);
}

int
mime_hdr_addrs(struct buf *b, const char *name, const struct mail_addr *a,
    size_t n)
{
	struct hw	 h;
	size_t		 i, len, mark = b->len;
	int		 angle;

	hw_begin(&h, b, name);
	for (i = 0; i < n; i++) {
		angle = a[i].name != NULL && a[i].name[0] != '\0';
		if (angle)
			hw_phrase(&h, a[i].name, strlen(a[i].name));
		len = strlen(a[i].email);
		hw_sep(&h, len + 2 * angle + (i + 1 < n));
		if (angle)
			hw_put(&h, "<", 1);
		hw_put(&h, a[i].email, len);
		if (angle)
			hw_put(&h, ">", 1);
		if (i + 1 < n)
			hw_put(&h, ",", 1);
	}
	return hw_end(&h, mark);
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

static void
hw_filename(struct hw *h, const char *fn)
{
	const unsigned char	*s = (const unsigned char *)fn;
	size_t			 len = strlen(fn), i, n, cost, k;
	char			 pre[32];
	int			 np;

	if (len <= FILENAME_QUOTED_MAX && plain_ok(fn, len) &&
	    strpbrk(fn, "\"\\") == NULL) {
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

/* The message. */

static char *
put2(char *o, int v)
{
	*o++ = (char)('0' + v / 10 % 10);
	*o++ = (char)('0' + v % 10);
	return o;
}

/* "Date: Tue, 14 Nov 2023 22:13:20 +0000" (RFC 5322 3.3), in UTC. */
static int
hdr_date(struct buf *b, time_t t)
{
	static const char	 days[] = "SunMonTueWedThuFriSat";
	static const char	 months[] = "JanFebMarAprMayJun"
	    "JulAugSepOctNovDec";
	struct tm		 tm;
	char			 d[64], *o = d;
	int			 year;

	if (gmtime_r(&t, &tm) == NULL || tm.tm_year > 9999 - 1900 ||
	    tm.tm_year < -1900) {
		errno = EOVERFLOW;
		return -1;
	}
	year = tm.tm_year + 1900;
	memcpy(o, "Date: ", 6);
	memcpy(o + 6, days + 3 * tm.tm_wday, 3);
	memcpy(o + 9, ", ", 2);
	o = put2(o + 11, tm.tm_mday);
	*o++ = ' ';
	memcpy(o, months + 3 * tm.tm_mon, 3);
	o[3] = ' ';
	o = put2(put2(o + 4, year / 100), year % 100);
	*o++ = ' ';
	o = put2(o, tm.tm_hour);
	*o++ = ':';
	o = put2(o, tm.tm_min);
	*o++ = ':';
	o = put2(o, tm.tm_sec);
	memcpy(o, " +0000\n", 7);
	return buf_add(b, d, (size_t)(o + 7 - d));
}

static int
extra_headers(struct buf *b, const struct mail *m)
{
	const struct mail_header	*x;
	size_t				 i;

	for (i = 0; i < m->nheaders; i++) {
		x = &m->headers[i];
		if ((mime_hdr_is_text(x->name) ?
		    mime_hdr_text(b, x->name, x->value) :
		    mime_hdr_raw(b, x->name, x->value)) == -1)
			return -1;
	}
	return 0;
}

/*
 * Headers and content of one text part; eol: it ends the message.
 * Quoted-printable unless base64 is shorter.  A short text is encoded
 * in one pass (then replaced by base64 if that is shorter); a long one is
 * scanned first, so as not to reserve three times its size.
 */
static int
text_part(struct buf *b, const char *subtype, const char *s, int eol)
{
	static const char	 qp[] = "; charset=utf-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n";
	static const char	 b64[] = "; charset=utf-8\n"
	    "Content-Transfer-Encoding: base64\n\n";
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 len = strlen(s), esc = 0, grow, mark;

	if (buf_adds(b, "Content-Type: text/") == -1 ||
	    buf_adds(b, subtype) == -1)
		return -1;
	mark = b->len;
	grow = len > QP_SCAN_MIN ? qp_scan(u, len, &esc) : len;
	if (!prefer_base64(len, esc)) {
		if (buf_add(b, qp, sizeof(qp) - 1) == -1 ||
		    qp_encode(b, u, len, eol ? MIME_QP_EOL : 0, grow,
		    &esc) == -1)
			return -1;
		if (!prefer_base64(len, esc))
			return 0;
		restore(b, mark);
	}
	return buf_add(b, b64, sizeof(b64) - 1) == -1 ||
	    mime_base64(b, s, len, MIME_B64_LINE) == -1 ||
	    (eol && buf_addc(b, '\n') == -1) ? -1 : 0;
}

static int
attachment_part(struct buf *b, const struct mail_attachment *a)
{
	struct hw	 h;
	size_t		 mark = b->len;

	if (buf_adds(b, "Content-Type: ") == -1 ||
	    buf_adds(b, a->content_type) == -1 ||
	    buf_adds(b, "\nContent-Transfer-Encoding: base64\n") == -1) {
		restore(b, mark);
		return -1;
	}
	hw_begin(&h, b, "Content-Disposition");
	hw_sep(&h, 11);
	hw_put(&h, "attachment;", 11);
	hw_filename(&h, a->filename);
	if (hw_end(&h, mark) == -1 || buf_addc(b, '\n') == -1 ||
	    mime_base64(b, a->data, a->len, MIME_B64_LINE) == -1) {
		restore(b, mark);
		return -1;
	}
	return 0;
}

/* "\n--" bnd "--"? "\n"? : a delimiter line after the part before it. */
static int
delimiter(struct buf *b, const char *bnd, int close, int eol)
{
	return buf_add(b, "\n--", 3) == -1 ||
	    buf_add(b, bnd, BOUNDARY_LEN) == -1 ||
	    (close && buf_add(b, "--", 2) == -1) ||
	    (eol && buf_addc(b, '\n') == -1) ? -1 : 0;
}

/* Content-Type of a multipart and its first delimiter. */
static int
multipart(struct buf *b, const char *subtype, const char *bnd)
{
	return buf_adds(b, "Content-Type: multipart/") == -1 ||
	    buf_adds(b, subtype) == -1 ||
	    buf_add(b, "; boundary=\"", 12) == -1 ||
	    buf_add(b, bnd, BOUNDARY_LEN) == -1 ||
	    buf_add(b, "\"\n\n--", 5) == -1 ||
	    buf_add(b, bnd, BOUNDARY_LEN) == -1 ||
	    buf_addc(b, '\n') == -1 ? -1 : 0;
}

static int
alternative(struct buf *b, const struct mail *m, const char *bnd, int eol)
{
	return multipart(b, "alternative", bnd) == -1 ||
	    text_part(b, "plain", m->text, 0) == -1 ||
	    delimiter(b, bnd, 0, 1) == -1 ||
	    text_part(b, "html", m->html, 0) == -1 ||
	    delimiter(b, bnd, 1, eol) == -1 ? -1 : 0;
}

static void
boundaries(char bnd[2][BOUNDARY_LEN + 1])
{
	unsigned char	 r[12];
	size_t		 i, k;

	arc4random_buf(r, sizeof(r));
	for (k = 0; k < 2; k++) {
		bnd[k][0] = '=';
		bnd[k][1] = '_';
		bnd[k][2] = (char)('0' + k);
		for (i = 0; i < sizeof(r); i++) {
			bnd[k][3 + 2 * i] = hexdig[r[i] >> 4];
			bnd[k][4 + 2 * i] = hexdig[r[i] & 0xf];
		}
		bnd[k][BOUNDARY_LEN] = '\0';
	}
}

static int
body(struct buf *b, const struct mail *m)
{
	char	 bnd[2][BOUNDARY_LEN + 1];
	size_t	 i;
	int	 mixed = m->nattachments > 0, alt = m->text && m->html;

	boundaries(bnd);
	if (mixed && multipart(b, "mixed", bnd[0]) == -1)
		return -1;
	if (alt) {
		if (alternative(b, m, bnd[1], !mixed) == -1)
			return -1;
	} else if (text_part(b, m->html != NULL ? "html" : "plain",
	    m->html != NULL ? m->html : m->text != NULL ? m->text : "",
	    !mixed) == -1)
		return -1;
	if (!mixed)
		return 0;
	for (i = 0; i < m->nattachments; i++)
		if (delimiter(b, bnd[0], 0, 1) == -1 ||
		    attachment_part(b, &m->attachments[i]) == -1)
			return -1;
	return delimiter(b, bnd[0], 1, 1);
}

/* A generous guess of the message size, to allocate once. */
static size_t
estimate(const struct mail *m)
{
	size_t	 n = 4096, i;

	n += (m->nto + m->ncc + m->nreply_to) * 80;
	if (m->text != NULL)
		n += strlen(m->text) / 20 * 21;
	if (m->html != NULL)
		n += strlen(m->html) / 20 * 21;
	for (i = 0; i < m->nattachments; i++)
		n += m->attachments[i].len / 57 * 77 + 512;
	return n;
}

int
mime_build(const struct mail *m, const char *message_id, time_t date,
    struct buf *out)
{
	size_t	 mark = out->len;

	if (buf_reserve(out, estimate(m)) == -1)
		return -1;
	if (mime_hdr_addrs(out, "From", &m->from, 1) == -1 ||
	    (m->nto > 0 && mime_hdr_addrs(out, "To", m->to, m->nto) == -1) ||
	    (m->ncc > 0 && mime_hdr_addrs(out, "Cc", m->cc, m->ncc) == -1) ||
	    (m->nreply_to > 0 &&
	    mime_hdr_addrs(out, "Reply-To", m->reply_to, m->nreply_to) == -1) ||
	    (m->subject != NULL &&
	    mime_hdr_text(out, "Subject", m->subject) == -1) ||
	    hdr_date(out, date) == -1 ||
	    buf_adds(out, "Message-ID: <") == -1 ||
	    buf_adds(out, message_id) == -1 ||
	    buf_adds(out, ">\nMIME-Version: 1.0\n") == -1 ||
	    extra_headers(out, m) == -1 ||
	    body(out, m) == -1) {
		restore(out, mark);
		return -1;
	}
	return 0;
}
