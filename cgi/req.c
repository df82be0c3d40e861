/*
 * req: the POST /send body, decoded and validated into a struct mail.
 *
 * The body is first scanned as raw bytes: it must be UTF-8 (no overlong
 * forms, no encoded surrogates, nothing above U+10FFFF), strings may not
 * hold raw control characters, \u0000 or lone surrogate escapes, and
 * nesting may not pass REQ_MAX_DEPTH.  cJSON then parses it (it checks
 * none of these), every object is checked for duplicate keys, and the
 * fields are validated.  The strings of the struct mail point into the
 * cJSON tree: text and html are normalised (CR LF and CR to LF) and
 * attachments are base64-decoded in place.
 *
 * Error codes (status 400 unless noted):
 *   invalid_json          not JSON, data after the value, a raw control
 *                         character in a string, or not an object
 *   invalid_utf8          bytes that are not UTF-8, or a lone surrogate
 *                         escape (\ud800)
 *   nul_character         a \u0000 escape
 *   too_deep              objects and arrays nested deeper than 8
 *   duplicate_key         a key given twice in one object (header names
 *                         compare case-insensitively)
 *   unknown_field         a key the request does not define
 *   missing_field         from, to, subject; email of an address object;
 *                         filename, contentType, content of an attachment
 *   invalid_type          a value of the wrong JSON type
 *   empty_array           an address array without elements
 *   invalid_address       an address addr_valid() refuses (message: why)
 *   invalid_name          a display name with control characters or over
 *                         200 code points
 *   too_many_recipients   to + cc + bcc (or replyTo) over max_recipients
 *   invalid_subject       empty, over 200 code points, control characters
 *   missing_body          neither text nor html (empty strings count as
 *                         absent)
 *   invalid_body          text or html with a control character other
 *                         than tab, LF and CR
 *   invalid_header        a header name that is not 1..64 token
 *                         characters; a value that is empty, has control
 *                         characters, spaces at either end, non-ASCII
 *                         (except in X-* headers), or that cannot be
 *                         folded into lines of 998 octets
 *   header_not_allowed    a header other than X-*, List-Unsubscribe,
 *                         List-Unsubscribe-Post, In-Reply-To, References
 *   too_many_headers      more than 50 headers
 *   invalid_attachment    a filename (1..255 octets, no / or \, no control
 *                         characters, no white space at either end, not
 *                         . or ..), contentType
 *                         (type/subtype tokens, no parameters, not
 *                         multipart/ or message/) or content (strict
 *                         base64) refused
 *   too_many_attachments  more than 100 attachments
 *   internal_error        (500) out of memory
 *
 * "Control characters" in header-bound fields (names, subject, header
 * values, filenames): C0 (tab included), DEL, C1 (U+0080..U+009F, so
 * U+0085 too), U+2028 and U+2029.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cJSON.h>

#include "addr.h"
#include "mail.h"
#include "mime.h"
#include "req.h"

enum {
	F_FROM, F_TO, F_CC, F_BCC, F_REPLY_TO, F_SUBJECT, F_TEXT, F_HTML,
	F_HEADERS, F_ATTACHMENTS, F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"from", "to", "cc", "bcc", "replyTo", "subject", "text", "html",
	"headers", "attachments"
};

/* Extra headers a caller may set besides X-*, as they are written. */
static const char *const known_headers[] = {
	"List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To",
	"References"
};

/* What req_parse() allocates besides the cJSON tree. */
struct req_priv {
	cJSON	*root;
};

/* Where a value sits, for error paths: base[idx] (idx -1: none). */
struct where {
	const char	*base;
	long		 idx;
};

/* A key or index on the way down from the root, for duplicate_key. */
struct seg {
	const struct seg	*up;
	const char		*key;	/* NULL: an array index */
	size_t			 idx;
};

/* A bounded ASCII string: the field of a req_error. */
struct sb {
	char	*p;
	size_t	 len, cap;
};

static void
sb_add(struct sb *s, const char *str)
{
	for (; *str != '\0' && s->len + 1 < s->cap; str++)
		s->p[s->len++] = *str >= 0x20 && *str < 0x7f ? *str : '?';
	s->p[s->len] = '\0';
}

static void
sb_idx(struct sb *s, size_t idx)
{
	char	 t[24];
	int	 n;

	n = snprintf(t, sizeof(t), "[%zu]", idx);
	if (n > 0 && (size_t)n < sizeof(t))
		sb_add(s, t);
}

static void
sb_where(struct sb *s, const struct where *w, const char *leaf)
{
	sb_add(s, w->base);
	if (w->idx >= 0)
		sb_idx(s, (size_t)w->idx);
	if (leaf != NULL) {
		sb_add(s, ".");
		sb_add(s, leaf);
	}
}

static void
sb_seg(struct sb *s, const struct seg *g)
{
	if (g == NULL)
		return;
	sb_seg(s, g->up);
	if (g->key == NULL)
		sb_idx(s, g->idx);
	else {
		if (s->len > 0)
			sb_add(s, ".");
		sb_add(s, g->key);
	}
}

static int
fail(struct req_error *err, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct req_error *err, const char *code, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	err->status = 400;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->message[0] = '\0';
	return -1;
}

/* fail() with field = w.leaf. */
static int
fail_at(struct req_error *err, const struct where *w, const char *leaf,
    const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
fail_at(struct req_error *err, const struct where *w, const char *leaf,
    const char *code, const char *fmt, ...)
{
	struct sb	 s = { err->field, 0, sizeof(err->field) };
	va_list		 ap;
	int		 n;

	sb_where(&s, w, leaf);
	err->status = 400;
	err->code = code;
	va_start(ap, fmt);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	if (n < 0)
		err->message[0] = '\0';
	return -1;
}

static int
fail_nomem(struct req_error *err)
{
	err->status = 500;
	err->code = "internal_error";
	strlcpy(err->message, "out of memory", sizeof(err->message));
	err->field[0] = '\0';
	return -1;
}

/* Raw body checks. */

/* Length of the well-formed UTF-8 sequence at s, or 0. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (s[0] == 0xe0)
		lo = 0xa0;		/* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f;		/* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;		/* overlong */
	else if (s[0] == 0xf4)
		hi = 0x8f;		/* above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

static int
hex4(const unsigned char *s, size_t n, unsigned *v)
{
	size_t	 i;

	if (n < 4)
		return -1;
	for (*v = 0, i = 0; i < 4; i++) {
		*v <<= 4;
		if (s[i] >= '0' && s[i] <= '9')
			*v |= s[i] - '0';
		else if ((s[i] | 0x20) >= 'a' && (s[i] | 0x20) <= 'f')
			*v |= (s[i] | 0x20) - 'a' + 10;
		else
			return -1;
	}
	return 0;
}

/* A \u escape at s[0]: its length (6 or 12), or -1 with err set. */
static int
scan_u(const unsigned char *s, size_t n, struct req_error *err)
{
	unsigned	 v, w;

	if (hex4(s + 2, n - 2, &v) == -1)
		return fail(err, "invalid_json", "malformed \\u escape");
	if (v == 0)
		return fail(err, "nul_character", "\\u0000 is not allowed");
	if (v >= 0xdc00 && v <= 0xdfff)
		return fail(err, "invalid_utf8", "lone surrogate escape");
	if (v < 0xd800 || v > 0xdbff)
		return 6;
	if (n < 12 || s[6] != '\\' || s[7] != 'u' ||
	    hex4(s + 8, n - 8, &w) == -1 || w < 0xdc00 || w > 0xdfff)
		return fail(err, "invalid_utf8", "lone surrogate escape");
	return 12;
}

/* Bytes a JSON string holds as they are: printable ASCII but " and \. */
static const unsigned char str_plain[256] = {
	[' ' ... '!'] = 1, ['#' ... '['] = 1, [']' ... 0x7f] = 1
};

/* The string starting after the quote at s[*i]; *i ends past its end. */
static int
scan_string(const unsigned char *s, size_t len, size_t *i,
    struct req_error *err)
{
	size_t	 p = *i + 1, n;
	int	 e;

	while (p < len) {
		if (str_plain[s[p]]) {
			p++;
			continue;
		}
		if (s[p] == '"') {
			*i = p + 1;
			return 0;
		}
		if (s[p] == '\\') {
			if (p + 1 < len && s[p + 1] == 'u') {
				if ((e = scan_u(s + p, len - p, err)) == -1)
					return -1;
				p += (size_t)e;
				continue;
			}
			if (p + 1 >= len || s[p + 1] == '\0' ||
			    strchr("\"\\/bfnrt", s[p + 1]) == NULL)
				return fail(err, "invalid_json",
				    "malformed escape in a string");
			p += 2;
		} else if (s[p] < 0x20)
			return fail(err, "invalid_json", "unescaped control "
			    "character in a string");
		else if (s[p] < 0x80)
			p++;
		else if ((n = utf8_seq(s + p, len - p)) == 0)
			return fail(err, "invalid_utf8", "the body is not "
			    "valid UTF-8 (byte %zu)", p);
		else
			p += n;
	}
	return fail(err, "invalid_json", "unterminated string");
}

static int
prescan(const unsigned char *s, size_t len, struct req_error *err)
{
	size_t	 i = 0;
	int	 depth = 0;

	while (i < len) {
		switch (s[i]) {
		case '"':
			if (scan_string(s, len, &i, err) == -1)
				return -1;
			continue;
		case '{':
		case '[':
			if (++depth > REQ_MAX_DEPTH)
				return fail(err, "too_deep", "objects and "
				    "arrays nest deeper than %d",
				    REQ_MAX_DEPTH);
			break;
		case '}':
		case ']':
			depth--;
			break;
		case ' ': case '\t': case '\n': case '\r':
			break;
		default:
			if (s[i] >= 0x80 && utf8_seq(s + i, len - i) == 0)
				return fail(err, "invalid_utf8", "the body is "
				    "not valid UTF-8 (byte %zu)", i);
			if (s[i] < 0x20 || s[i] >= 0x7f)
				return fail(err, "invalid_json", "unexpected "
				    "character at byte %zu", i);
		}
		i++;
	}
	return 0;
}

/* Duplicate keys, at any depth (at most REQ_MAX_DEPTH). */

static int
cmp_keys(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A key of object o that occurs twice, NULL if none; -1 on ENOMEM. */
static int
dup_key(const cJSON *o, const char **dup)
{
	const cJSON	*a, *b;
	const char	**keys;
	size_t		 n = 0, i;

	*dup = NULL;
	for (a = o->child; a != NULL; a = a->next)
		n++;
	if (n <= 16) {
		for (a = o->child; a != NULL && *dup == NULL; a = a->next)
			for (b = a->next; b != NULL; b = b->next)
				if (strcmp(a->string, b->string) == 0) {
					*dup = a->string;
					break;
				}
		return 0;
	}
	if ((keys = calloc(n, sizeof(*keys))) == NULL)
		return -1;
	for (i = 0, a = o->child; a != NULL; a = a->next)
		keys[i++] = a->string;
	qsort(keys, n, sizeof(*keys), cmp_keys);
	for (i = 1; i < n && *dup == NULL; i++)
		if (strcmp(keys[i - 1], keys[i]) == 0)
			*dup = keys[i];
	free(keys);
	return 0;
}

static int
check_dups(const cJSON *v, const struct seg *up, struct req_error *err)
{
	struct seg	 g = { up, NULL, 0 };
	struct sb	 s = { err->field, 0, sizeof(err->field) };
	const cJSON	*c;
	const char	*dup;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	if (cJSON_IsObject(v)) {
		if (dup_key(v, &dup) == -1)
			return fail_nomem(err);
		if (dup != NULL) {
			g.key = dup;
			sb_seg(&s, &g);
			return fail(err, "duplicate_key", "a key is given "
			    "twice in one object");
		}
	}
	for (c = v->child; c != NULL; c = c->next, g.idx++) {
		g.key = cJSON_IsObject(v) ? c->string : NULL;
		if (check_dups(c, &g, err) == -1)
			return -1;
	}
	return 0;
}

/* Text checks. */

/*
 * Whether s holds a control character a header may not carry (C0, DEL,
 * C1, U+2028, U+2029); counts code points into *ncp.  s is UTF-8.
 */
static int
has_controls(const char *str, size_t *ncp)
{
	const unsigned char	*s = (const unsigned char *)str;
	size_t			 n = 0;

	for (; *s != '\0'; s++) {
		if ((*s & 0xc0) != 0x80)
			n++;
		if (*s < 0x20 || *s == 0x7f)
			return 1;
		if (s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f)
			return 1;
		if (s[0] == 0xe2 && s[1] == 0x80 &&
		    (s[2] == 0xa8 || s[2] == 0xa9))
			return 1;
	}
	*ncp = n;
	return 0;
}

static int
is_token(unsigned char c)
{
	return c > 0x20 && c < 0x7f &&
	    strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Header names are RFC 7230 tokens. */
static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Addresses. */

static int
count_addrs(const cJSON *v, const char *field, size_t *n,
    struct req_error *err)
{
	struct where	 w = { field, -1 };
	const cJSON	*c;

	*n = 0;
	if (v == NULL)
		return 0;
	if (cJSON_IsString(v) || cJSON_IsObject(v)) {
		*n = 1;
		return 0;
	}
	if (!cJSON_IsArray(v))
		return fail_at(err, &w, NULL, "invalid_type", "expected an "
		    "address, an {\"email\",\"name\"} object, or an array of "
		    "them");
	for (c = v->child; c != NULL; c = c->next)
		(*n)++;
	if (*n == 0)
		return fail_at(err, &w, NULL, "empty_array",
		    "an address array may not be empty");
	return 0;
}

static int
check_name(const cJSON *n, const struct where *w, const char **name,
    struct req_error *err)
{
	size_t	 ncp;

	*name = NULL;
	if (n == NULL)
		return 0;
	if (!cJSON_IsString(n))
		return fail_at(err, w, "name", "invalid_type",
		    "name must be a string");
	if (has_controls(n->valuestring, &ncp))
		return fail_at(err, w, "name", "invalid_name",
		    "control characters are not allowed in a name");
	if (ncp > REQ_NAME_MAX)
		return fail_at(err, w, "name", "invalid_name",
		    "a name is at most 200 characters");
	if (ncp > 0)
		*name = n->valuestring;
	return 0;
}

static int
parse_addr(const cJSON *v, const struct where *w, struct mail_addr *a,
    struct req_error *err)
{
	const cJSON	*c, *e = NULL, *n = NULL;
	const char	*why, *leaf = NULL;

	if (cJSON_IsObject(v)) {
		for (c = v->child; c != NULL; c = c->next) {
			if (strcmp(c->string, "email") == 0)
				e = c;
			else if (strcmp(c->string, "name") == 0)
				n = c;
			else
				return fail_at(err, w, c->string,
				    "unknown_field", "an address has only "
				    "email and name");
		}
		leaf = "email";
		if (e == NULL)
			return fail_at(err, w, leaf, "missing_field",
			    "email is required");
	} else
		e = v;
	if (!cJSON_IsString(e))
		return fail_at(err, w, leaf, "invalid_type", "%s",
		    leaf != NULL ? "email must be a string" : "expected an "
		    "address or an {\"email\",\"name\"} object");
	if (addr_valid(e->valuestring, &why) == -1)
		return fail_at(err, w, leaf, "invalid_address",
		    "invalid address: %s", why);
	a->email = e->valuestring;
	return check_name(n, w, &a->name, err);
}

/* to, cc, bcc or replyTo (v != NULL) into a[0..n). */
static int
parse_addrs(const cJSON *v, const char *field, struct mail_addr *a,
    struct req_error *err)
{
	struct where	 w = { field, -1 };
	const cJSON	*c;

	if (!cJSON_IsArray(v))
		return parse_addr(v, &w, a, err);
	w.idx = 0;
	for (c = v->child; c != NULL; c = c->next, w.idx++, a++) {
		if (!cJSON_IsString(c) && !cJSON_IsObject(c))
			return fail_at(err, &w, NULL, "invalid_type",
			    "expected an address or an {\"email\",\"name\"} "
			    "object");
		if (parse_addr(c, &w, a, err) == -1)
			return -1;
	}
	return 0;
}

/* Subject, text, html. */

static int
parse_subject(const cJSON *v, struct mail *m, struct req_error *err)
{
	struct where	 w = { "subject", -1 };
	size_t		 ncp;

	if (!cJSON_IsString(v))
		return fail_at(err, &w, NULL, "invalid_type",
		    "subject must be a string");
	if (has_controls(v->valuestring, &ncp))
		return fail_at(err, &w, NULL, "invalid_subject",
		    "control characters are not allowed in the subject");
	if (ncp == 0 || ncp > REQ_SUBJECT_MAX)
		return fail_at(err, &w, NULL, "invalid_subject",
		    "the subject is 1 to %d characters", REQ_SUBJECT_MAX);
	m->subject = v->valuestring;
	return 0;
}

/* Bytes of a body that need a look: NUL, CR, and refused controls. */
static const unsigned char body_special[256] = {
	[0 ... 8] = 1, [11 ... 31] = 1, [0x7f] = 1
};

/*
 * text or html: control characters other than tab, LF and CR refused;
 * CR LF and lone CR become LF, in place.  Empty is absent.
 */
static int
parse_body(const cJSON *v, const char *field, const char **out,
    struct req_error *err)
{
	struct where	 w = { field, -1 };
	char		*s, *o;

	*out = NULL;
	if (v == NULL)
		return 0;
	if (!cJSON_IsString(v))
		return fail_at(err, &w, NULL, "invalid_type",
		    "%s must be a string", field);
	for (s = v->valuestring; !body_special[(unsigned char)*s]; s++)
		;
	for (o = s; *s != '\0'; s++) {
		if (*s == '\r') {
			*o++ = '\n';
			if (s[1] == '\n')
				s++;
			continue;
		}
		if (((unsigned char)*s < 0x20 && *s != '\n' && *s != '\t') ||
		    *s == 0x7f)
			return fail_at(err, &w, NULL, "invalid_body",
			    "control characters other than tab and line "
			    "breaks are not allowed in %s", field);
		*o++ = *s;
	}
	*o = '\0';
	if (o != v->valuestring)
		*out = v->valuestring;
	return 0;
}

/* Extra headers. */

/* The name as it is written, or NULL when it may not be set. */
static const char *
header_allowed(const char *name)
{
	size_t	 i;

	if ((name[0] == 'X' || name[0] == 'x') && name[1] == '-' &&
	    name[2] != '\0')
		return name;
	for (i = 0; i < sizeof(known_headers) / sizeof(known_headers[0]); i++)
		if (strcasecmp(name, known_headers[i]) == 0)
			return known_headers[i];
	return NULL;
}

static int
check_header_name(const char *name, const struct where *w,
    struct req_error *err)
{
	const char	*p;

	for (p = name; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return fail_at(err, w, name, "invalid_header",
			    "a header name is made of token characters");
	if (p == name || p - name > REQ_HEADER_NAME_MAX)
		return fail_at(err, w, name, "invalid_header",
		    "a header name is 1 to %d characters",
		    REQ_HEADER_NAME_MAX);
	return 0;
}

static int
check_header_value(const cJSON *v, const char *name, const struct where *w,
    struct req_error *err)
{
	const char	*s, *p, *key = v->string;
	size_t		 ncp, len;

	if (!cJSON_IsString(v))
		return fail_at(err, w, key, "invalid_type",
		    "a header value must be a string");
	s = v->valuestring;
	len = strlen(s);
	if (has_controls(s, &ncp))
		return fail_at(err, w, key, "invalid_header",
		    "control characters are not allowed in a header value");
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return fail_at(err, w, key, "invalid_header", "a header "
		    "value is not empty and has no spaces at either end");
	if (!mime_hdr_is_text(name))
		for (p = s; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return fail_at(err, w, key, "invalid_header",
				    "this header takes ASCII only");
	if (!mime_hdr_ok(name, s))
		return fail_at(err, w, key, "invalid_header", "the value "
		    "cannot be folded into lines of %d octets", MIME_LINE_MAX);
	return 0;
}

static int
parse_headers(const cJSON *v, struct mail *m, struct req_error *err)
{
	struct where	 w = { "headers", -1 };
	const cJSON	*c;
	const char	*name;
	size_t		 i, n = 0;

	for (c = v->child; c != NULL; c = c->next, n++) {
		if (check_header_name(c->string, &w, err) == -1)
			return -1;
		if ((name = header_allowed(c->string)) == NULL)
			return fail_at(err, &w, c->string, "header_not_allowed",
			    "only X-*, List-Unsubscribe, List-Unsubscribe-Post,"
			    " In-Reply-To and References may be set");
		for (i = 0; i < n; i++)
			if (strcasecmp(m->headers[i].name, name) == 0)
				return fail_at(err, &w, c->string,
				    "duplicate_key", "a header is given twice");
		if (check_header_value(c, name, &w, err) == -1)
			return -1;
		m->headers[n].name = name;
		m->headers[n].value = c->valuestring;
	}
	m->nheaders = n;
	return 0;
}

/* Attachments. */

static const unsigned char b64val[256] = {
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 62, 64, 64, 64, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 64, 64, 64, 64, 64, 64,
	64,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 64, 64, 64, 64, 64,
	64, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
	64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
};

/*
 * Strict base64 (RFC 4648 4): the standard alphabet, no whitespace, '='
 * padding to a multiple of 4, zero pad bits.  Decoded in place.
 */
static int
b64_decode(char *str, size_t *outlen)
{
	unsigned char	*s = (unsigned char *)str, *o = s;
	size_t		 len = strlen(str), i, pad = 0;
	unsigned	 a, b = 0, c = 0, d;

	if (len % 4 != 0)
		return -1;
	if (len > 0 && s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len; i += 4) {
		a = b64val[s[i]];
		b = b64val[s[i + 1]];
		c = i + 4 == len && pad == 2 ? 0 : b64val[s[i + 2]];
		d = i + 4 == len && pad >= 1 ? 0 : b64val[s[i + 3]];
		if ((a | b | c | d) & 64)
			return -1;
		*o++ = (unsigned char)(a << 2 | b >> 4);
		*o++ = (unsigned char)(b << 4 | c >> 2);
		*o++ = (unsigned char)(c << 6 | d);
	}
	/* The padded quad's unused bits must be zero. */
	if ((pad == 2 && (b & 0x0f) != 0) || (pad == 1 && (c & 0x03) != 0))
		return -1;
	*outlen = (size_t)(o - s) - pad;
	return 0;
}

/* The last UTF-8 sequence of s (len > 0). */
static const char *
last_char(const char *s, size_t len)
{
	while (len > 1 && ((unsigned char)s[len - 1] & 0xc0) == 0x80)
		len--;
	return s + len - 1;
}

/* Whether s starts with a space separator (Unicode Zs). */
static int
is_space(const char *str)
{
	static const char *const zs[] = { "\xc2\xa0", "\xe1\x9a\x80",
	    "\xe2\x80\x80", "\xe2\x80\x81", "\xe2\x80\x82",
	    "\xe2\x80\x83", "\xe2\x80\x84", "\xe2\x80\x85",
	    "\xe2\x80\x86", "\xe2\x80\x87", "\xe2\x80\x88",
	    "\xe2\x80\x89", "\xe2\x80\x8a", "\xe2\x80\xaf",
	    "\xe2\x81\x9f", "\xe3\x80\x80" };
	size_t	 i;

	if (*str == ' ')
		return 1;
	for (i = 0; i < sizeof(zs) / sizeof(zs[0]); i++)
		if (strncmp(str, zs[i], strlen(zs[i])) == 0)
			return 1;
	return 0;
}

static const char *
bad_filename(const char *s)
{
	size_t	 ncp, len = strlen(s);

	if (len == 0 || len > REQ_FILENAME_MAX)
		return "a filename is 1 to 255 octets";
	if (strpbrk(s, "/\\") != NULL)
		return "a filename may not contain / or \\";
	if (has_controls(s, &ncp))
		return "control characters are not allowed in a filename";
	if (is_space(s) || is_space(last_char(s, len)))
		return "a filename may not start or end with white space";
	if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
		return "a filename may not be . or ..";
	return NULL;
}

/* type/subtype, RFC 2045 tokens, no parameters; lowercased in place. */
static const char *
bad_content_type(char *s)
{
	char	*p, *slash = NULL;

	for (p = s; *p != '\0'; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
		else if (*p == '/' && slash == NULL)
			slash = p;
		else if (!is_token((unsigned char)*p))
			return *p == ';' ? "contentType takes no parameters" :
			    "contentType is type/subtype";
	}
	if (slash == NULL || slash == s || slash[1] == '\0' ||
	    p - s > REQ_CONTENT_TYPE_MAX)
		return "contentType is type/subtype";
	if (strncmp(s, "multipart/", 10) == 0 ||
	    strncmp(s, "message/", 8) == 0)
		return "multipart and message types are not allowed";
	return NULL;
}

static int
parse_attachment(const cJSON *v, const struct where *w,
    struct mail_attachment *a, struct req_error *err)
{
	static const char *const keys[3] = { "filename", "contentType",
	    "content" };
	const cJSON	*c, *f[3] = { NULL, NULL, NULL };
	const char	*why;
	size_t		 k;

	if (!cJSON_IsObject(v))
		return fail_at(err, w, NULL, "invalid_type", "an attachment "
		    "is a {\"filename\",\"contentType\",\"content\"} object");
	for (c = v->child; c != NULL; c = c->next) {
		for (k = 0; k < 3 && strcmp(c->string, keys[k]) != 0; k++)
			;
		if (k == 3)
			return fail_at(err, w, c->string, "unknown_field", "an "
			    "attachment has filename, contentType and content");
		f[k] = c;
	}
	for (k = 0; k < 3; k++) {
		if (f[k] == NULL)
			return fail_at(err, w, keys[k], "missing_field",
			    "%s is required", keys[k]);
		if (!cJSON_IsString(f[k]))
			return fail_at(err, w, keys[k], "invalid_type",
			    "%s must be a string", keys[k]);
	}
	if ((why = bad_filename(f[0]->valuestring)) != NULL)
		return fail_at(err, w, keys[0], "invalid_attachment", "%s",
		    why);
	if ((why = bad_content_type(f[1]->valuestring)) != NULL)
		return fail_at(err, w, keys[1], "invalid_attachment", "%s",
		    why);
	if (b64_decode(f[2]->valuestring, &a->len) == -1)
		return fail_at(err, w, keys[2], "invalid_attachment",
		    "content is not strict base64");
	a->filename = f[0]->valuestring;
	a->content_type = f[1]->valuestring;
	a->data = (unsigned char *)f[2]->valuestring;
	return 0;
}

/* The request as a whole. */

struct counts {
	size_t	 to, cc, bcc, reply_to, headers, attachments;
};

static int
top_fields(const cJSON *root, const cJSON *f[F_COUNT], struct req_error *err)
{
	struct where	 w = { NULL, -1 };
	const cJSON	*c;
	size_t		 k;

	for (c = root->child; c != NULL; c = c->next) {
		for (k = 0; k < F_COUNT && strcmp(c->string,
		    field_names[k]) != 0; k++)
			;
		w.base = c->string;
		if (k == F_COUNT)
			return fail_at(err, &w, NULL, "unknown_field",
			    "unknown field");
		f[k] = c;
	}
	for (k = 0; k <= F_SUBJECT; k++) {
		if (k == F_CC || k == F_BCC || k == F_REPLY_TO || f[k] != NULL)
			continue;
		w.base = field_names[k];
		return fail_at(err, &w, NULL, "missing_field",
		    "%s is required", field_names[k]);
	}
	return 0;
}

static size_t
count_children(const cJSON *v)
{
	size_t	 n = 0;

	for (v = v->child; v != NULL; v = v->next)
		n++;
	return n;
}

static int
count_all(const cJSON *f[F_COUNT], const struct req_limits *lim,
    struct counts *n, struct req_error *err)
{
	struct where	 w = { NULL, -1 };

	if (count_addrs(f[F_TO], "to", &n->to, err) == -1 ||
	    count_addrs(f[F_CC], "cc", &n->cc, err) == -1 ||
	    count_addrs(f[F_BCC], "bcc", &n->bcc, err) == -1 ||
	    count_addrs(f[F_REPLY_TO], "replyTo", &n->reply_to, err) == -1)
		return -1;
	w.base = n->to > lim->max_recipients ? "to" :
	    n->to + n->cc > lim->max_recipients ? "cc" : "bcc";
	if (n->to + n->cc + n->bcc > lim->max_recipients)
		return fail_at(err, &w, NULL, "too_many_recipients", "to, cc "
		    "and bcc hold at most %zu addresses", lim->max_recipients);
	w.base = "replyTo";
	if (n->reply_to > lim->max_recipients)
		return fail_at(err, &w, NULL, "too_many_recipients", "replyTo "
		    "holds at most %zu addresses", lim->max_recipients);
	w.base = "headers";
	if (f[F_HEADERS] != NULL && !cJSON_IsObject(f[F_HEADERS]))
		return fail_at(err, &w, NULL, "invalid_type",
		    "headers must be an object");
	if (f[F_HEADERS] != NULL &&
	    (n->headers = count_children(f[F_HEADERS])) > REQ_MAX_HEADERS)
		return fail_at(err, &w, NULL, "too_many_headers",
		    "at most %d headers", REQ_MAX_HEADERS);
	w.base = "attachments";
	if (f[F_ATTACHMENTS] != NULL && !cJSON_IsArray(f[F_ATTACHMENTS]))
		return fail_at(err, &w, NULL, "invalid_type",
		    "attachments must be an array");
	if (f[F_ATTACHMENTS] != NULL && (n->attachments =
	    count_children(f[F_ATTACHMENTS])) > REQ_MAX_ATTACHMENTS)
		return fail_at(err, &w, NULL, "too_many_attachments",
		    "at most %d attachments", REQ_MAX_ATTACHMENTS);
	return 0;
}

_Static_assert(_Alignof(struct mail_addr) <= _Alignof(struct req_priv) &&
    _Alignof(struct mail_header) <= _Alignof(struct req_priv) &&
    _Alignof(struct mail_attachment) <= _Alignof(struct req_priv),
    "one block holds the arrays");

/* One block: the priv header, then every array m needs. */
static int
alloc_mail(struct mail *m, cJSON *root, const struct counts *n)
{
	struct req_priv	*priv;
	char		*p;
	size_t		 naddr = n->to + n->cc + n->bcc + n->reply_to;

	priv = calloc(1, sizeof(*priv) + naddr * sizeof(struct mail_addr) +
	    n->headers * sizeof(struct mail_header) +
	    n->attachments * sizeof(struct mail_attachment));
	if (priv == NULL)
		return -1;
	priv->root = root;
	m->priv = priv;
	p = (char *)(priv + 1);
	m->to = (struct mail_addr *)p;
	m->cc = m->to + n->to;
	m->bcc = m->cc + n->cc;
	m->reply_to = m->bcc + n->bcc;
	p = (char *)(m->reply_to + n->reply_to);
	m->headers = (struct mail_header *)p;
	p = (char *)(m->headers + n->headers);
	m->attachments = (struct mail_attachment *)p;
	m->nto = n->to;
	m->ncc = n->cc;
	m->nbcc = n->bcc;
	m->nreply_to = n->reply_to;
	return 0;
}

static int
fill_addrs(struct mail *m, const cJSON *f[F_COUNT], struct req_error *err)
{
	struct where	 w = { "from", -1 };

	if (!cJSON_IsString(f[F_FROM]) && !cJSON_IsObject(f[F_FROM]))
		return fail_at(err, &w, NULL, "invalid_type", "from is an "
		    "address or an {\"email\",\"name\"} object");
	if (parse_addr(f[F_FROM], &w, &m->from, err) == -1 ||
	    parse_addrs(f[F_TO], "to", m->to, err) == -1 ||
	    (f[F_CC] != NULL && parse_addrs(f[F_CC], "cc", m->cc, err) == -1) ||
	    (f[F_BCC] != NULL &&
	    parse_addrs(f[F_BCC], "bcc", m->bcc, err) == -1) ||
	    (f[F_REPLY_TO] != NULL &&
	    parse_addrs(f[F_REPLY_TO], "replyTo", m->reply_to, err) == -1))
		return -1;
	return 0;
}

static int
fill(struct mail *m, const cJSON *f[F_COUNT], const struct counts *n,
    struct req_error *err)
{
	struct where	 w = { "attachments", 0 };
	const cJSON	*c;

	if (fill_addrs(m, f, err) == -1 ||
	    parse_subject(f[F_SUBJECT], m, err) == -1 ||
	    parse_body(f[F_TEXT], "text", &m->text, err) == -1 ||
	    parse_body(f[F_HTML], "html", &m->html, err) == -1)
		return -1;
	if (m->text == NULL && m->html == NULL)
		return fail(err, "missing_body", "text or html is required");
	if (f[F_HEADERS] != NULL && parse_headers(f[F_HEADERS], m, err) == -1)
		return -1;
	if (f[F_ATTACHMENTS] == NULL)
		return 0;
	for (c = f[F_ATTACHMENTS]->child; c != NULL; c = c->next, w.idx++)
		if (parse_attachment(c, &w, &m->attachments[w.idx], err) == -1)
			return -1;
	m->nattachments = n->attachments;
	return 0;
}

/* cJSON, then the checks cJSON does not make; root is 0 or the object. */
static int
decode(const char *body, size_t len, cJSON **root, struct req_error *err)
{
	const char	*end = NULL;

	*root = NULL;
	if (len == 0)
		return fail(err, "invalid_json", "the body is empty");
	if (prescan((const unsigned char *)body, len, err) == -1)
		return -1;
	errno = 0;
	if ((*root = cJSON_ParseWithLengthOpts(body, len, &end, 0)) == NULL) {
		if (errno == ENOMEM)
			return fail_nomem(err);
		return fail(err, "invalid_json", "malformed JSON near byte %zu",
		    end != NULL && end >= body ? (size_t)(end - body) : 0);
	}
	while (end < body + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != body + len)
		fail(err, "invalid_json", "data after the JSON value at "
		    "byte %zu", (size_t)(end - body));
	else if (!cJSON_IsObject(*root))
		fail(err, "invalid_json", "the body must be a JSON object");
	else if (check_dups(*root, NULL, err) == 0)
		return 0;
	cJSON_Delete(*root);
	*root = NULL;
	return -1;
}

int
req_parse(const char *body, size_t len, const struct req_limits *lim,
    struct mail *m, struct req_error *err)
{
	const cJSON	*f[F_COUNT];
	struct counts	 n;
	cJSON		*root;

	memset(m, 0, sizeof(*m));
	memset(&n, 0, sizeof(n));
	memset(f, 0, sizeof(f));
	err->status = 0;
	err->code = NULL;
	err->message[0] = err->field[0] = '\0';
	if (decode(body, len, &root, err) == -1)
		return -1;
	if (top_fields(root, f, err) == -1 ||
	    count_all(f, lim, &n, err) == -1) {
		cJSON_Delete(root);
		return -1;
	}
	if (alloc_mail(m, root, &n) == -1) {
		cJSON_Delete(root);
		return fail_nomem(err);
	}
	if (fill(m, f, &n, err) == -1) {
		req_free(m);
		return -1;
	}
	return 0;
}

void
req_free(struct mail *m)
{
	struct req_priv	*priv = m->priv;

	if (priv != NULL) {
		cJSON_Delete(priv->root);
		free(priv);
	}
	memset(m, 0, sizeof(*m));
}
