/*
 * fuzzutil: decoders and the message property check (see fuzzutil.h).
 *
 * The properties of a message built from an accepted request:
 *   - LF line endings only, no CR, no NUL, every line at most 998 octets,
 *     the message ends with a line break;
 *   - the top-level header block is printable ASCII, every line "Name:
 *     value" or a fold continuation starting with white space;
 *   - exactly the headers the request calls for, each once: From, To,
 *     Subject, Date, Message-ID, MIME-Version, Content-Type, Cc and
 *     Reply-To when given, Content-Transfer-Encoding for a single part,
 *     and the extra headers asked for; never Bcc nor anything else;
 *   - every header decodes to the input: address lists give back the
 *     addresses and display names in order, Subject and X-* give back
 *     their text, Message-ID is <msgid>;
 *   - the MIME tree is the one the request calls for, and each part
 *     decodes to its input: text, html, attachment names and bytes.
 */
#define _GNU_SOURCE		/* nftw, memmem, reallocarray */
#include <sys/stat.h>

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fuzzutil.h"
#include "html2text.h"
#include "mime.h"
#include "req.h"

#define LINE_MAX_OCTETS	998

void
fz_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
	va_list	ap;

	fprintf(stderr, "\n%s:%d: property failed: %s\n  ", file, line, cond);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

/* ---- input reader ---- */

unsigned
fz_byte(struct fz_in *in)
{
	unsigned	c;

	if (in->len == 0)
		return 0;
	c = in->p[0];
	in->p++;
	in->len--;
	return c;
}

char *
fz_str(struct fz_in *in)
{
	const uint8_t	*nul;
	size_t		 n;
	char		*s;

	nul = memchr(in->p, '\0', in->len);
	n = nul != NULL ? (size_t)(nul - in->p) : in->len;
	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, in->p, n);
	s[n] = '\0';
	in->p += n + (nul != NULL);
	in->len -= n + (nul != NULL);
	return s;
}

/* Length of the UTF-8 sequence at s (RFC 3629 table 3-7), 0 if invalid. */
static size_t
u8seq(const unsigned char *s, size_t n)
{
	unsigned char	lo = 0x80, hi = 0xbf;
	size_t		len, i;

	if (s[0] <= 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	if (s[0] == 0xed)
		hi = 0x9f;
	if (s[0] == 0xf0)
		lo = 0x90;
	if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

int
fz_utf8_valid(const unsigned char *s, size_t n)
{
	size_t	i = 0, k;

	while (i < n) {
		if ((k = u8seq(s + i, n - i)) == 0)
			return 0;
		i += k;
	}
	return 1;
}

char *
fz_utf8(struct fz_in *in)
{
	unsigned char	*s = (unsigned char *)fz_str(in);
	size_t		 n = strlen((char *)s), i = 0, k;

	while (i < n) {
		if ((k = u8seq(s + i, n - i)) == 0) {
			s[i++] = '?';
			continue;
		}
		i += k;
	}
	return (char *)s;
}

/* ---- decoders ---- */

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
fz_qp_decode(const char *s, size_t len, struct buf *out)
{
	size_t	i;
	int	h, l;
	char	c;

	for (i = 0; i < len; i++) {
		if (s[i] != '=') {
			if (buf_addc(out, s[i]) == -1)
				abort();
			continue;
		}
		if (i + 1 < len && s[i + 1] == '\n') {
			i++;
			continue;
		}
		if (i + 2 >= len || (h = hexval(s[i + 1])) < 0 ||
		    (l = hexval(s[i + 2])) < 0)
			return -1;
		c = (char)(h * 16 + l);
		if (buf_addc(out, c) == -1)
			abort();
		i += 2;
	}
	return 0;
}

static int
b64val(int c)
{
	const char	*a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789+/";
	const char	*p;

	if (c == '\0' || (p = strchr(a, c)) == NULL)
		return -1;
	return (int)(p - a);
}

/* Strict RFC 4648 with padding; LFs between characters are skipped. */
int
fz_b64_decode(const char *s, size_t len, struct buf *out)
{
	unsigned	q[4];
	size_t		i, k = 0, pad = 0;
	int		v;
	unsigned char	o[3];

	for (i = 0; i < len; i++) {
		if (s[i] == '\n')
			continue;
		if (pad > 0 && s[i] != '=')
			return -1;
		if (s[i] == '=') {
			if (k < 2)
				return -1;
			pad++;
			q[k++] = 0;
		} else {
			if ((v = b64val(s[i])) < 0)
				return -1;
			q[k++] = (unsigned)v;
		}
		if (k < 4)
			continue;
		o[0] = (unsigned char)(q[0] << 2 | q[1] >> 4);
		o[1] = (unsigned char)(q[1] << 4 | q[2] >> 2);
		o[2] = (unsigned char)(q[2] << 6 | q[3]);
		if (buf_add(out, o, 3 - pad) == -1)
			abort();
		k = 0;
		if (pad > 0)
			break;
	}
	for (i++; i < len; i++)
		if (s[i] != '\n')
			return -1;	/* data after the padding */
	return k == 0 ? 0 : -1;
}

/* One "=?UTF-8?Q?...?=" or "=?UTF-8?B?...?=" word. */
static int
ew_decode(const char *w, size_t len, struct buf *out)
{
	size_t	i;
	int	h, l;

	if (len < 12 || strncmp(w, "=?UTF-8?", 8) != 0 || w[9] != '?' ||
	    w[len - 2] != '?' || w[len - 1] != '=')
		return -1;
	if (len > MIME_EW_MAX)
		return -1;
	if (w[8] == 'B')
		return fz_b64_decode(w + 10, len - 12, out);
	if (w[8] != 'Q')
		return -1;
	for (i = 10; i < len - 2; i++) {
		if (w[i] == '_') {
			if (buf_addc(out, ' ') == -1)
				abort();
		} else if (w[i] == '=') {
			if (i + 2 >= len - 2 || (h = hexval(w[i + 1])) < 0 ||
			    (l = hexval(w[i + 2])) < 0)
				return -1;
			if (buf_addc(out, (char)(h * 16 + l)) == -1)
				abort();
			i += 2;
		} else if (w[i] <= ' ' || w[i] >= 0x7f || w[i] == '?')
			return -1;
		else if (buf_addc(out, w[i]) == -1)
			abort();
	}
	return 0;
}

static int
is_ew(const char *w, size_t len)
{
	return len >= 12 && strncmp(w, "=?", 2) == 0 &&
	    strncmp(w + len - 2, "?=", 2) == 0;
}

int
fz_text_decode(const char *s, size_t len, struct buf *out)
{
	size_t	i, j;

	if (memmem(s, len, "=?", 2) == NULL) {
		if (buf_add(out, s, len) == -1)
			abort();
		return 0;
	}
	/* Encoded words only, single spaces between them. */
	for (i = 0; i < len; i = j + 1) {
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (j == i || ew_decode(s + i, j - i, out) == -1)
			return -1;
	}
	return len > 0 && s[len - 1] == ' ' ? -1 : 0;
}

/* ---- headers ---- */

void
fz_headers(const char *s, size_t len, struct fz_hdrs *h)
{
	struct buf	 v;
	const char	*line, *nl, *colon, *p;
	size_t		 n;
	struct fz_hdr	*nv;

	h->v = NULL;
	h->n = 0;
	buf_init(&v);
	for (line = s; line < s + len; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(s + len - line));
		FZ_CHECK(nl != NULL, "header block does not end with LF");
		n = (size_t)(nl - line);
		FZ_CHECK(n > 0, "empty line inside a header block");
		for (p = line; p < nl; p++)
			FZ_CHECK((*p >= 0x20 && *p < 0x7f) || *p == '\t',
			    "byte 0x%02x in a header line: %.*s",
			    (unsigned char)*p, (int)n, line);
		if (*line == ' ' || *line == '\t') {
			FZ_CHECK(h->n > 0, "continuation before any header");
			FZ_CHECK(strspn(line, " \t") < n,
			    "white-space-only fold line");
			if (buf_add(&v, line, n) == -1)
				abort();
			free(h->v[h->n - 1].value);
			if ((h->v[h->n - 1].value = strdup(v.data)) == NULL)
				abort();
			continue;
		}
		colon = memchr(line, ':', n);
		FZ_CHECK(colon != NULL && colon > line &&
		    (size_t)(colon - line) < sizeof(h->v[0].name),
		    "not a header line: %.*s", (int)n, line);
		for (p = line; p < colon; p++)
			FZ_CHECK(*p > 0x20 && *p < 0x7f, "bad header name %.*s",
			    (int)(colon - line), line);
		FZ_CHECK(colon + 1 < nl && colon[1] == ' ',
		    "no space after the colon: %.*s", (int)n, line);
		if ((nv = reallocarray(h->v, h->n + 1, sizeof(*nv))) == NULL)
			abort();
		h->v = nv;
		memcpy(h->v[h->n].name, line, (size_t)(colon - line));
		h->v[h->n].name[colon - line] = '\0';
		buf_reset(&v);
		if (buf_add(&v, colon + 2, (size_t)(nl - colon - 2)) == -1)
			abort();
		if ((h->v[h->n].value = strdup(v.data)) == NULL)
			abort();
		h->n++;
	}
	buf_free(&v);
}

void
fz_headers_free(struct fz_hdrs *h)
{
	size_t	i;

	for (i = 0; i < h->n; i++)
		free(h->v[i].value);
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* The one header called name, or NULL. */
static const char *
hdr_get(const struct fz_hdrs *h, const char *name)
{
	size_t	i;

	for (i = 0; i < h->n; i++)
		if (strcasecmp(h->v[i].name, name) == 0)
			return h->v[i].value;
	return NULL;
}

/* ---- address lists ---- */

static int
is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/*
 * A display name: atoms, quoted strings and encoded words separated by
 * single spaces.  The space between two encoded words is dropped (RFC
 * 2047 6.2); every other separating space is kept.
 */
static void
phrase_decode(const char *s, size_t len, struct buf *out)
{
	size_t	i = 0, j;
	int	prev = 0;	/* 0 none, 1 atom or quoted, 2 encoded word */

	while (i < len) {
		if (prev != 0) {
			FZ_CHECK(s[i] == ' ', "tokens of a phrase not "
			    "separated by a space: %.*s", (int)len, s);
			i++;
		}
		FZ_CHECK(i < len, "phrase ends with a space");
		if (s[i] == '"') {
			if (prev)
				buf_addc(out, ' ');
			for (j = i + 1; j < len && s[j] != '"'; j++) {
				if (s[j] == '\\')
					j++;
				FZ_CHECK(j < len, "quoted string cut short");
				buf_addc(out, s[j]);
			}
			FZ_CHECK(j < len, "unterminated quoted string");
			i = j + 1;
			prev = 1;
			continue;
		}
		for (j = i; j < len && s[j] != ' '; j++)
			;
		if (is_ew(s + i, j - i)) {
			if (prev == 1)
				buf_addc(out, ' ');
			FZ_CHECK(ew_decode(s + i, j - i, out) == 0,
			    "bad encoded word %.*s", (int)(j - i), s + i);
			prev = 2;
		} else {
			if (prev)
				buf_addc(out, ' ');
			for (; i < j; i++) {
				FZ_CHECK(is_atext((unsigned char)s[i]),
				    "not an atom in a phrase: %.*s", (int)len,
				    s);
				buf_addc(out, s[i]);
			}
			prev = 1;
		}
		i = j;
	}
}

/* The end of the list element at s: a ',' outside quotes, or the end. */
static size_t
addr_elem(const char *s, size_t len)
{
	size_t	i;
	int	q = 0, angle = 0;

	for (i = 0; i < len; i++) {
		if (q && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == '<')
			angle++;
		else if (!q && s[i] == '>')
			angle--;
		else if (!q && !angle && s[i] == ',')
			return i;
	}
	FZ_CHECK(!q && !angle, "unbalanced quotes or brackets: %.*s",
	    (int)len, s);
	return len;
}

static void
check_one_addr(const char *s, size_t len, const struct mail_addr *a)
{
	const char	*lt = NULL;
	struct buf	 name;
	size_t		 i;
	int		 q = 0;

	for (i = 0; i < len; i++) {
		if (q && s[i] == '\\')
			i++;
		else if (s[i] == '"')
			q = !q;
		else if (!q && s[i] == '<')
			lt = s + i;
	}
	if (a->name == NULL || a->name[0] == '\0') {
		FZ_CHECK(lt == NULL && len == strlen(a->email) &&
		    memcmp(s, a->email, len) == 0, "address %.*s, want %s",
		    (int)len, s, a->email);
		return;
	}
	FZ_CHECK(lt != NULL && lt > s + 1 && lt[-1] == ' ' &&
	    s[len - 1] == '>', "no <addr> after a name: %.*s", (int)len, s);
	FZ_CHECK((size_t)(s + len - lt - 2) == strlen(a->email) &&
	    memcmp(lt + 1, a->email, strlen(a->email)) == 0,
	    "address %.*s, want %s", (int)len, s, a->email);
	buf_init(&name);
	buf_add(&name, "", 0);
	phrase_decode(s, (size_t)(lt - 1 - s), &name);
	FZ_CHECK(strcmp(name.data, a->name) == 0, "name \"%s\", want \"%s\"",
	    name.data, a->name);
	buf_free(&name);
}

void
fz_check_addrs(const char *v, const struct mail_addr *a, size_t n)
{
	size_t	len = strlen(v), i, e;

	for (i = 0; i < n; i++) {
		e = addr_elem(v, len);
		FZ_CHECK(e > 0, "empty list element in %s", v);
		check_one_addr(v, e, &a[i]);
		if (i + 1 < n) {
			FZ_CHECK(e + 1 < len && v[e] == ',' && v[e + 1] == ' ',
			    "%zu addresses, want %zu", i + 1, n);
			v += e + 2;
			len -= e + 2;
		} else
			FZ_CHECK(e == len, "more addresses than %zu: %s", n,
			    v);
	}
}

/* ---- the message ---- */

static void
check_lines(const char *msg, size_t len)
{
	const char	*p = msg, *nl;

	FZ_CHECK(len > 0 && msg[len - 1] == '\n', "message does not end "
	    "with a line break");
	FZ_CHECK(memchr(msg, '\r', len) == NULL, "CR in the message");
	FZ_CHECK(memchr(msg, '\0', len) == NULL, "NUL in the message");
	while (p < msg + len) {
		nl = memchr(p, '\n', (size_t)(msg + len - p));
		FZ_CHECK(nl - p <= LINE_MAX_OCTETS, "line of %zu octets",
		    (size_t)(nl - p));
		p = nl + 1;
	}
}

/* Each expected name exactly once, nothing else. */
static void
check_names(const struct fz_hdrs *h, const char **want, size_t nwant)
{
	size_t	i, k;
	int	seen[64] = { 0 };

	for (i = 0; i < h->n; i++) {
		for (k = 0; k < nwant; k++)
			if (strcasecmp(h->v[i].name, want[k]) == 0)
				break;
		FZ_CHECK(k < nwant, "unexpected header %s", h->v[i].name);
		FZ_CHECK(!seen[k]++, "header %s twice", want[k]);
	}
	for (k = 0; k < nwant; k++)
		FZ_CHECK(seen[k], "header %s missing", want[k]);
}

static void
check_text_value(const char *got, const char *want)
{
	struct buf	b;

	buf_init(&b);
	buf_add(&b, "", 0);
	FZ_CHECK(fz_text_decode(got, strlen(got), &b) == 0,
	    "undecodable value %s", got);
	FZ_CHECK(b.len == strlen(want) && memcmp(b.data, want, b.len) == 0,
	    "value %s decodes to \"%s\", want \"%s\"", got, b.data, want);
	buf_free(&b);
}

/* Splits an entity into its headers and content. */
static void
entity(const char *s, size_t len, struct fz_hdrs *h, const char **body,
    size_t *blen)
{
	const char	*end;

	end = memmem(s, len, "\n\n", 2);
	FZ_CHECK(end != NULL, "no empty line after the headers");
	fz_headers(s, (size_t)(end - s) + 1, h);
	*body = end + 2;
	*blen = len - (size_t)(end + 2 - s);
}

/* The boundary of a multipart Content-Type value, which must be type. */
static void
boundary(const char *ct, const char *type, char *bnd, size_t size)
{
	const char	*p, *q;

	FZ_CHECK(strncmp(ct, type, strlen(type)) == 0 &&
	    strncmp(ct + strlen(type), "; boundary=\"", 12) == 0,
	    "Content-Type %s, want %s", ct, type);
	p = ct + strlen(type) + 12;
	q = strchr(p, '"');
	FZ_CHECK(q != NULL && q > p && q[1] == '\0' &&
	    (size_t)(q - p) < size, "bad boundary in %s", ct);
	memcpy(bnd, p, (size_t)(q - p));
	bnd[q - p] = '\0';
}

/* The n parts of a multipart body: "--B\n" part "\n--B\n" ... "\n--B--". */
static void
parts(const char *s, size_t len, const char *bnd, size_t n,
    const char **pv, size_t *plen)
{
	char		 delim[128];
	const char	*p, *end = s + len, *next;
	size_t		 dl, i;

	dl = (size_t)snprintf(delim, sizeof(delim), "\n--%s", bnd);
	FZ_CHECK(len > dl && memcmp(s, delim + 1, dl - 1) == 0 &&
	    s[dl - 1] == '\n', "multipart body does not start with --%s",
	    bnd);
	p = s + dl;
	for (i = 0; ; i++) {
		next = memmem(p, (size_t)(end - p), delim, dl);
		FZ_CHECK(next != NULL, "part %zu not closed", i);
		FZ_CHECK(i < n, "more than %zu parts", n);
		pv[i] = p;
		plen[i] = (size_t)(next - p);
		p = next + dl;
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break;
		FZ_CHECK(p < end && *p == '\n', "junk after a delimiter");
		p++;
	}
	FZ_CHECK(i + 1 == n, "%zu parts, want %zu", i + 1, n);
	p += 2;
	FZ_CHECK(p == end || (p + 1 == end && *p == '\n'),
	    "data after the close delimiter");
}

static void
check_decoded(const struct buf *b, const void *want, size_t wlen,
    const char *what)
{
	FZ_CHECK(b->len == wlen && (wlen == 0 || memcmp(b->data, want, wlen)
	    == 0), "%s does not decode to the input (%zu octets, want %zu)",
	    what, b->len, wlen);
}

static void
check_text_part(const char *s, size_t len, const char *subtype,
    const char *want)
{
	struct fz_hdrs	 h;
	struct buf	 b;
	const char	*body, *names[] = { "Content-Type",
	    "Content-Transfer-Encoding" }, *cte;
	char		 ct[64];
	size_t		 blen;

	entity(s, len, &h, &body, &blen);
	check_names(&h, names, 2);
	snprintf(ct, sizeof(ct), "text/%s; charset=utf-8", subtype);
	FZ_CHECK(strcmp(hdr_get(&h, "Content-Type"), ct) == 0,
	    "Content-Type %s, want %s", hdr_get(&h, "Content-Type"), ct);
	cte = hdr_get(&h, "Content-Transfer-Encoding");
	buf_init(&b);
	buf_add(&b, "", 0);
	if (strcmp(cte, "base64") == 0)
		FZ_CHECK(fz_b64_decode(body, blen, &b) == 0, "bad base64");
	else {
		FZ_CHECK(strcmp(cte, "quoted-printable") == 0, "CTE %s", cte);
		FZ_CHECK(fz_qp_decode(body, blen, &b) == 0, "bad QP");
	}
	check_decoded(&b, want, strlen(want), subtype);
	buf_free(&b);
	fz_headers_free(&h);
}

/* filename="x", filename*=UTF-8''%xx or filename*0*=UTF-8''..;... */
static void
check_disposition(const char *v, const char *want)
{
	struct buf	 b;
	const char	*p = v + 12, *e;
	char		 pre[32];
	size_t		 k;
	int		 h, l;

	FZ_CHECK(strncmp(v, "attachment; ", 12) == 0, "disposition %s", v);
	buf_init(&b);
	buf_add(&b, "", 0);
	if (strncmp(p, "filename=\"", 10) == 0) {
		e = strchr(p + 10, '"');
		FZ_CHECK(e != NULL && e[1] == '\0', "bad filename in %s", v);
		buf_add(&b, p + 10, (size_t)(e - p - 10));
	} else {
		for (k = 0; *p != '\0'; k++) {
			if (k == 0 && strncmp(p, "filename*=UTF-8''", 17) == 0)
				p += 17;
			else {
				snprintf(pre, sizeof(pre), "filename*%zu*=%s", k,
				    k == 0 ? "UTF-8''" : "");
				FZ_CHECK(strncmp(p, pre, strlen(pre)) == 0,
				    "bad parameter %zu in %s", k, v);
				p += strlen(pre);
			}
			for (; *p != '\0' && *p != ';'; p++) {
				if (*p != '%') {
					FZ_CHECK(is_atext((unsigned char)*p) ||
					    *p == '.', "%c in %s", *p, v);
					buf_addc(&b, *p);
					continue;
				}
				FZ_CHECK((h = hexval(p[1])) >= 0 &&
				    (l = hexval(p[2])) >= 0, "bad %% in %s", v);
				buf_addc(&b, (char)(h * 16 + l));
				p += 2;
			}
			if (*p == ';') {
				FZ_CHECK(p[1] == ' ', "no space after ; in %s", v);
				p += 2;
			}
		}
	}
	check_decoded(&b, want, strlen(want), "filename");
	buf_free(&b);
}

/* The charset a text attachment must carry, or NULL. */
static const char *
want_charset(const struct mail_attachment *a)
{
	size_t	 i;
	int	 high = 0;

	if (a->charset != NULL)
		return a->charset;
	if (strncmp(a->content_type, "text/", 5) != 0)
		return NULL;
	for (i = 0; i < a->len; i++)
		high |= a->data[i] >= 0x80;
	return high && fz_utf8_valid(a->data, a->len) ? "utf-8" : NULL;
}

/*
 * type/subtype; [charset=x;] name="..." where the quoted name is the
 * filename as it is, or encoded words that decode to it.
 */
static void
check_content_type(const char *v, const struct mail_attachment *a)
{
	const char	*cs = want_charset(a), *p = v;
	struct buf	 b;
	size_t		 n = strlen(a->content_type), vl;

	FZ_CHECK(strncmp(p, a->content_type, n) == 0 &&
	    strncmp(p + n, "; ", 2) == 0, "attachment type %s", v);
	p += n + 2;
	if (cs != NULL) {
		FZ_CHECK(strncmp(p, "charset=", 8) == 0 &&
		    strncmp(p + 8, cs, strlen(cs)) == 0 &&
		    strncmp(p + 8 + strlen(cs), "; ", 2) == 0,
		    "charset in %s, want %s", v, cs);
		p += 8 + strlen(cs) + 2;
	} else	/* no charset parameter (a name may hold "charset=") */
		FZ_CHECK(strncmp(p, "charset=", 8) != 0, "charset in %s", v);
	vl = strlen(p);
	FZ_CHECK(strncmp(p, "name=\"", 6) == 0 && vl > 6 && p[vl - 1] == '"',
	    "name in %s", v);
	buf_init(&b);
	buf_add(&b, "", 0);
	FZ_CHECK(fz_text_decode(p + 6, vl - 7, &b) == 0, "name in %s", v);
	check_decoded(&b, a->filename, strlen(a->filename), "name");
	FZ_CHECK(memmem(p + 6, vl - 7, "=?", 2) != NULL ||
	    memchr(p + 6, '"', vl - 7) == NULL, "quote in %s", v);
	buf_free(&b);
}

static void
check_attachment(const char *s, size_t len, const struct mail_attachment *a)
{
	struct fz_hdrs	 h;
	struct buf	 b;
	const char	*body, *names[] = { "Content-Type",
	    "Content-Transfer-Encoding", "Content-Disposition" };
	size_t		 blen;

	entity(s, len, &h, &body, &blen);
	check_names(&h, names, 3);
	check_content_type(hdr_get(&h, "Content-Type"), a);
	FZ_CHECK(strcmp(hdr_get(&h, "Content-Transfer-Encoding"), "base64")
	    == 0, "attachment not base64");
	check_disposition(hdr_get(&h, "Content-Disposition"), a->filename);
	buf_init(&b);
	buf_add(&b, "", 0);
	FZ_CHECK(fz_b64_decode(body, blen, &b) == 0, "bad attachment base64");
	check_decoded(&b, a->data, a->len, "attachment");
	buf_free(&b);
	fz_headers_free(&h);
}

/* The text, or text and html, as one part or multipart/alternative. */
static void
check_alternative(const struct mail *m, const char *ct, const char *s,
    size_t len)
{
	const char	*pv[2];
	size_t		 pl[2];
	char		 bnd[80];

	boundary(ct, "multipart/alternative", bnd, sizeof(bnd));
	parts(s, len, bnd, 2, pv, pl);
	check_text_part(pv[0], pl[0], "plain", m->text);
	check_text_part(pv[1], pl[1], "html", m->html);
}

static void
check_body(const struct mail *m, const struct fz_hdrs *h, const char *s,
    size_t len, const char *whole, size_t wlen)
{
	const char	*ct = hdr_get(h, "Content-Type"), **pv, *first;
	size_t		*pl, i, n = m->nattachments + 1, flen;
	char		 bnd[80];
	struct fz_hdrs	 fh;

	if (m->nattachments == 0) {
		if (m->text != NULL && m->html != NULL)
			check_alternative(m, ct, s, len);
		else	/* the top-level entity is the text part */
			check_text_part(whole, wlen, m->html ? "html" : "plain",
			    m->html ? m->html : m->text);
		return;
	}
	boundary(ct, "multipart/mixed", bnd, sizeof(bnd));
	if ((pv = calloc(n, sizeof(*pv))) == NULL ||
	    (pl = calloc(n, sizeof(*pl))) == NULL)
		abort();
	parts(s, len, bnd, n, pv, pl);
	if (m->text != NULL && m->html != NULL) {
		entity(pv[0], pl[0], &fh, &first, &flen);
		FZ_CHECK(fh.n == 1 && hdr_get(&fh, "Content-Type") != NULL,
		    "alternative part headers");
		check_alternative(m, hdr_get(&fh, "Content-Type"), first, flen);
		fz_headers_free(&fh);
	} else
		check_text_part(pv[0], pl[0], m->html ? "html" : "plain",
		    m->html ? m->html : m->text);
	for (i = 0; i < m->nattachments; i++)
		check_attachment(pv[i + 1], pl[i + 1], &m->attachments[i]);
	free(pv);
	free(pl);
}

/* The top-level entity with the text part's headers only. */
static void
single_part_view(const struct fz_hdrs *h, const char *body, size_t blen,
    struct buf *out)
{
	buf_addf(out, "Content-Type: %s\nContent-Transfer-Encoding: %s\n\n",
	    hdr_get(h, "Content-Type"), hdr_get(h, "Content-Transfer-Encoding"));
	buf_add(out, body, blen);
}

void
fz_check_message(const struct mail *m, const char *msgid, const char *msg,
    size_t len)
{
	struct fz_hdrs	 h;
	struct buf	 view;
	const char	*want[64], *body;
	char		 mid[400];
	size_t		 n = 0, i, blen;
	int		 single = m->nattachments == 0 &&
			     !(m->text != NULL && m->html != NULL);

	check_lines(msg, len);
	entity(msg, len, &h, &body, &blen);
	want[n++] = "From";
	want[n++] = "To";
	if (m->ncc > 0)
		want[n++] = "Cc";
	if (m->nreply_to > 0)
		want[n++] = "Reply-To";
	want[n++] = "Subject";
	want[n++] = "Date";
	want[n++] = "Message-ID";
	want[n++] = "MIME-Version";
	want[n++] = "Content-Type";
	if (single)
		want[n++] = "Content-Transfer-Encoding";
	for (i = 0; i < m->nheaders && n < 64; i++)
		want[n++] = m->headers[i].name;
	check_names(&h, want, n);

	fz_check_addrs(hdr_get(&h, "From"), &m->from, 1);
	fz_check_addrs(hdr_get(&h, "To"), m->to, m->nto);
	if (m->ncc > 0)
		fz_check_addrs(hdr_get(&h, "Cc"), m->cc, m->ncc);
	if (m->nreply_to > 0)
		fz_check_addrs(hdr_get(&h, "Reply-To"), m->reply_to,
		    m->nreply_to);
	check_text_value(hdr_get(&h, "Subject"), m->subject);
	snprintf(mid, sizeof(mid), "<%s>", msgid);
	FZ_CHECK(strcmp(hdr_get(&h, "Message-ID"), mid) == 0, "Message-ID");
	FZ_CHECK(strcmp(hdr_get(&h, "MIME-Version"), "1.0") == 0,
	    "MIME-Version");
	for (i = 0; i < m->nheaders; i++) {
		if (mime_hdr_is_text(m->headers[i].name))
			check_text_value(hdr_get(&h, m->headers[i].name),
			    m->headers[i].value);
		else
			FZ_CHECK(strcmp(hdr_get(&h, m->headers[i].name),
			    m->headers[i].value) == 0, "header %s",
			    m->headers[i].name);
	}
	buf_init(&view);
	if (single)
		single_part_view(&h, body, blen, &view);
	check_body(m, &h, body, blen, view.data, view.len);
	buf_free(&view);
	fz_headers_free(&h);
}

static char	 tmpdir[256];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(path);
}

static void
rm_tmpdir(void)
{
	(void)nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fz_tmpdir(void)
{
	char		*dir = tmpdir;
	const char	*base;

	if (dir[0] != '\0')
		return dir;
	base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(dir, sizeof(tmpdir), "%s/mail-relay-fuzz.XXXXXX",
	    base != NULL ? base : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(rm_tmpdir);
	return dir;
}

void
fz_build_and_check(struct mail *m, int flags)
{
	static const char	msgid[] =
	    "0640a1b2c3d4e-0123456789abcdef@relay.test";
	static int		init;
	struct buf		out, text;
	struct mail		want = *m;

	if (!init) {
		html2text_init();
		init = 1;
	}
	buf_init(&out);
	buf_init(&text);
	FZ_CHECK(mime_build(m, msgid, (time_t)1700000000, flags, &out) == 0,
	    "mime_build failed");
	/* The text part derived from html: what html2text gives. */
	if ((flags & MIME_TEXT_FROM_HTML) && m->text == NULL &&
	    m->html != NULL) {
		FZ_CHECK(html2text_convert(&text, m->html, strlen(m->html)) ==
		    0, "html2text failed");
		if (text.len > 0)
			want.text = text.data;
	}
	fz_check_message(&want, msgid, out.data, out.len);
	buf_free(&out);
	buf_free(&text);
	req_free(m);
}

static void
check_ascii(const char *s, size_t size)
{
	size_t	i;

	FZ_CHECK(memchr(s, '\0', size) != NULL, "not NUL-terminated");
	for (i = 0; s[i] != '\0'; i++)
		FZ_CHECK(s[i] >= 0x20 && s[i] < 0x7f, "byte 0x%02x in an error",
		    (unsigned char)s[i]);
}

void
fz_check_refused(const struct mail *m, const struct req_error *e,
    const char *const *codes, size_t n)
{
	static const struct mail	zero;
	size_t				i;

	FZ_CHECK(memcmp(m, &zero, sizeof(zero)) == 0, "mail not emptied");
	FZ_CHECK(e->code != NULL, "no error code");
	for (i = 0; i < n; i++)
		if (strcmp(e->code, codes[i]) == 0)
			break;
	FZ_CHECK(i < n, "undocumented code %s", e->code);
	FZ_CHECK(e->status == (strcmp(e->code, "internal_error") == 0 ?
	    500 : 400), "status %d for %s", e->status, e->code);
	check_ascii(e->message, sizeof(e->message));
	check_ascii(e->field, sizeof(e->field));
}
