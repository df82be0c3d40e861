/*
 * mime_build: the message of mime.h: the headers, then one text part,
 * multipart/alternative for text and html (the text derived from the html
 * when the caller sent none), inside multipart/mixed when there are
 * attachments.  Attachments with a content id are inline parts of a
 * multipart/related beside the html part (an image the html shows as
 * cid:...); without html they are ordinary attachments.
 *
 * Boundaries are "=_" followed by random hex: quoted-printable output only
 * has '=' before two hex digits or a line break and base64 has no '_', so
 * no boundary can occur inside an encoded part.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "html2text.h"
#include "mail.h"
#include "mime.h"
#include "mime_int.h"

#define BOUNDARY_LEN	27	/* "=_" + digit + 24 hex */
#define QP_SCAN_MIN	16384	/* longer texts: scanned first */

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

/* Valid UTF-8 with at least one non-ASCII character. */
static int
utf8_not_ascii(const unsigned char *s, size_t len)
{
	size_t	 i = 0, l, k;
	int	 high = 0;

	while (i < len) {
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (s[i] < 0xc2 || s[i] > 0xf4)
			return 0;
		l = s[i] < 0xe0 ? 2 : s[i] < 0xf0 ? 3 : 4;
		if (l > len - i)
			return 0;
		for (k = 1; k < l; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return 0;
		if ((s[i] == 0xe0 && s[i + 1] < 0xa0) ||
		    (s[i] == 0xed && s[i + 1] > 0x9f) ||
		    (s[i] == 0xf0 && s[i + 1] < 0x90) ||
		    (s[i] == 0xf4 && s[i + 1] > 0x8f))
			return 0;
		high = 1;
		i += l;
	}
	return high;
}

/* "Content-Type: type/subtype[; charset=x]; name=..." */
static void
attachment_type(struct hw *h, struct buf *b, const struct mail_attachment *a)
{
	const char	*cs = a->charset;
	size_t		 n = strlen(a->content_type);

	if (cs == NULL && strncmp(a->content_type, "text/", 5) == 0 &&
	    utf8_not_ascii(a->data, a->len))
		cs = "utf-8";
	hw_begin(h, b, "Content-Type");
	hw_sep(h, n + 1);
	hw_put(h, a->content_type, n);
	hw_put(h, ";", 1);
	if (cs != NULL) {
		n = strlen(cs);
		hw_sep(h, n + 9);
		hw_put(h, "charset=", 8);
		hw_put(h, cs, n);
		hw_put(h, ";", 1);
	}
	hw_name(h, a->filename);
}

static int
attachment_part(struct buf *b, const struct mail_attachment *a,
    int inline_part)
{
	struct hw	 h;
	size_t		 mark = b->len;

	attachment_type(&h, b, a);
	if (hw_end(&h, mark) == -1 ||
	    buf_adds(b, "Content-Transfer-Encoding: base64\n") == -1 ||
	    (a->content_id != NULL && (buf_adds(b, "Content-ID: <") == -1 ||
	    buf_adds(b, a->content_id) == -1 || buf_adds(b, ">\n") == -1))) {
		restore(b, mark);
		return -1;
	}
	hw_begin(&h, b, "Content-Disposition");
	if (inline_part) {
		hw_sep(&h, 7);
		hw_put(&h, "inline;", 7);
	} else {
		hw_sep(&h, 11);
		hw_put(&h, "attachment;", 11);
	}
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

/* Whether attachment a is an inline part of the html's related. */
static int
is_inline(const struct mail *m, const struct mail_attachment *a)
{
	return a->content_id != NULL && m->html != NULL;
}

static size_t
count_inline(const struct mail *m)
{
	size_t	 i, n = 0;

	for (i = 0; i < m->nattachments; i++)
		n += is_inline(m, &m->attachments[i]);
	return n;
}

/* The html part, or multipart/related of it and its inline parts. */
static int
html_part(struct buf *b, const struct mail *m, const char *bnd, int eol)
{
	size_t	 i;

	if (count_inline(m) == 0)
		return text_part(b, "html", m->html, eol);
	if (buf_adds(b, "Content-Type: multipart/related; type=\"text/html\";"
	    "\n boundary=\"") == -1 || buf_add(b, bnd, BOUNDARY_LEN) == -1 ||
	    buf_add(b, "\"\n\n--", 5) == -1 ||
	    buf_add(b, bnd, BOUNDARY_LEN) == -1 || buf_addc(b, '\n') == -1 ||
	    text_part(b, "html", m->html, 0) == -1)
		return -1;
	for (i = 0; i < m->nattachments; i++)
		if (is_inline(m, &m->attachments[i]) &&
		    (delimiter(b, bnd, 0, 1) == -1 ||
		    attachment_part(b, &m->attachments[i], 1) == -1))
			return -1;
	return delimiter(b, bnd, 1, eol);
}

static int
alternative(struct buf *b, const struct mail *m, const char *text,
    char bnd[][BOUNDARY_LEN + 1], int eol)
{
	return multipart(b, "alternative", bnd[1]) == -1 ||
	    text_part(b, "plain", text, 0) == -1 ||
	    delimiter(b, bnd[1], 0, 1) == -1 ||
	    html_part(b, m, bnd[2], 0) == -1 ||
	    delimiter(b, bnd[1], 1, eol) == -1 ? -1 : 0;
}

static void
boundaries(char bnd[3][BOUNDARY_LEN + 1])
{
	unsigned char	 r[12];
	size_t		 i, k;

	arc4random_buf(r, sizeof(r));
	for (k = 0; k < 3; k++) {
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

/* text: the caller's, or derived from html, or NULL. */
static int
body(struct buf *b, const struct mail *m, const char *text)
{
	char	 bnd[3][BOUNDARY_LEN + 1];
	size_t	 i;
	int	 mixed = m->nattachments > count_inline(m);
	int	 alt = text && m->html;

	boundaries(bnd);
	if (mixed && multipart(b, "mixed", bnd[0]) == -1)
		return -1;
	if (alt) {
		if (alternative(b, m, text, bnd, !mixed) == -1)
			return -1;
	} else if (m->html != NULL) {
		if (html_part(b, m, bnd[2], !mixed) == -1)
			return -1;
	} else if (text_part(b, "plain", text != NULL ? text : "",
	    !mixed) == -1)
		return -1;
	if (!mixed)
		return 0;
	for (i = 0; i < m->nattachments; i++)
		if (!is_inline(m, &m->attachments[i]) &&
		    (delimiter(b, bnd[0], 0, 1) == -1 ||
		    attachment_part(b, &m->attachments[i], 0) == -1))
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
	if (m->html != NULL)	/* and a text part derived from it */
		n += strlen(m->html) / 20 * 21 * (m->text == NULL ? 2 : 1);
	for (i = 0; i < m->nattachments; i++)
		n += m->attachments[i].len / 57 * 77 + 512;
	return n;
}

int
mime_build(const struct mail *m, const char *message_id, time_t date,
    int flags, struct buf *out)
{
	struct buf	 derived;
	const char	*text = m->text;
	size_t		 mark = out->len;

	buf_init(&derived);
	if (text == NULL && m->html != NULL && (flags & MIME_TEXT_FROM_HTML)) {
		if (html2text_convert(&derived, m->html, strlen(m->html)) == -1)
			return -1;
		if (derived.len > 0)
			text = derived.data;
	}
	if (buf_reserve(out, estimate(m)) == -1 ||
	    mime_hdr_addrs(out, "From", &m->from, 1) == -1 ||
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
	    body(out, m, text) == -1) {
		buf_free(&derived);
		restore(out, mark);
		return -1;
	}
	buf_free(&derived);
	return 0;
}
