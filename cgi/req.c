/*
 * req: the POST /send body, decoded and validated into a struct mail.
 *
 * json_decode() (json.c) gives the body as a cJSON object, strictly
 * checked; then the fields are validated here.  The strings of the
 * struct mail point into the cJSON tree: text and html are normalised
 * (CR LF and CR to LF) and attachments are base64-decoded in place.
 * What is refused, and with which code, is in errors.h ("The fields").
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "addr.h"
#include "errors.h"
#include "json.h"
#include "isotime.h"
#include "mail.h"
#include "mime.h"
#include "req.h"
#include "req_err.h"

enum {
	F_FROM, F_TO, F_CC, F_BCC, F_REPLY_TO, F_SUBJECT, F_TEXT, F_HTML,
	F_HEADERS, F_ATTACHMENTS, F_SCHEDULED_AT, F_COUNT
};

static const char *const field_names[F_COUNT] = {
	"from", "to", "cc", "bcc", "replyTo", "subject", "text", "html",
	"headers", "attachments", "scheduledAt"
};

/* Extra headers a caller may set besides X-*, as they are written. */
static const char *const known_headers[] = {
	"List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To",
	"References", "Auto-Submitted"
};

/* The values of Auto-Submitted (RFC 3834 5, and RFC 5436's). */
static const char *const auto_submitted[] = {
	"no", "auto-generated", "auto-replied", "auto-notified"
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

/* "base[idx].leaf" */
static void
path_where(struct req_path *s, const struct where *w, const char *leaf)
{
	req_path_add(s, w->base);
	if (w->idx >= 0)
		req_path_idx(s, (size_t)w->idx);
	if (leaf != NULL) {
		req_path_add(s, ".");
		req_path_add(s, leaf);
	}
}

/* req_fail() with field = w.leaf. */
static int
fail_at(struct req_error *err, const struct where *w, const char *leaf,
    enum err code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static int
fail_at(struct req_error *err, const struct where *w, const char *leaf,
    enum err code, const char *fmt, ...)
{
	struct req_path	 s = REQ_PATH(err);
	va_list		 ap;

	path_where(&s, w, leaf);
	va_start(ap, fmt);
	req_vfail(err, code, fmt, ap);
	va_end(ap);
	return -1;
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
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE, "expected an "
		    "address, an {\"email\",\"name\"} object, or an array of "
		    "them");
	for (c = v->child; c != NULL; c = c->next)
		(*n)++;
	if (*n == 0)
		return fail_at(err, &w, NULL, ERR_EMPTY_ARRAY,
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
		return fail_at(err, w, "name", ERR_INVALID_TYPE,
		    "name must be a string");
	if (has_controls(n->valuestring, &ncp))
		return fail_at(err, w, "name", ERR_INVALID_NAME,
		    "control characters are not allowed in a name");
	if (ncp > REQ_NAME_MAX)
		return fail_at(err, w, "name", ERR_INVALID_NAME,
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
				    ERR_UNKNOWN_FIELD, "an address has only "
				    "email and name");
		}
		leaf = "email";
		if (e == NULL)
			return fail_at(err, w, leaf, ERR_MISSING_FIELD,
			    "email is required");
	} else
		e = v;
	if (!cJSON_IsString(e))
		return fail_at(err, w, leaf, ERR_INVALID_TYPE, "%s",
		    leaf != NULL ? "email must be a string" : "expected an "
		    "address or an {\"email\",\"name\"} object");
	if (addr_valid(e->valuestring, &why) == -1)
		return fail_at(err, w, leaf, ERR_INVALID_ADDRESS,
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
			return fail_at(err, &w, NULL, ERR_INVALID_TYPE,
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
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE,
		    "subject must be a string");
	if (has_controls(v->valuestring, &ncp))
		return fail_at(err, &w, NULL, ERR_INVALID_SUBJECT,
		    "control characters are not allowed in the subject");
	if (ncp == 0 || ncp > REQ_SUBJECT_MAX)
		return fail_at(err, &w, NULL, ERR_INVALID_SUBJECT,
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
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE,
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
			return fail_at(err, &w, NULL, ERR_INVALID_BODY,
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

/* The value of Auto-Submitted as it is written, or NULL. */
static const char *
auto_submitted_value(const char *v)
{
	size_t	 i;

	for (i = 0; i < sizeof(auto_submitted) / sizeof(auto_submitted[0]);
	    i++)
		if (strcasecmp(v, auto_submitted[i]) == 0)
			return auto_submitted[i];
	return NULL;
}

static int
check_header_name(const char *name, const struct where *w,
    struct req_error *err)
{
	const char	*p;

	for (p = name; *p != '\0'; p++)
		if (!is_tchar((unsigned char)*p))
			return fail_at(err, w, name, ERR_INVALID_HEADER,
			    "a header name is made of token characters");
	if (p == name || p - name > REQ_HEADER_NAME_MAX)
		return fail_at(err, w, name, ERR_INVALID_HEADER,
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
		return fail_at(err, w, key, ERR_INVALID_TYPE,
		    "a header value must be a string");
	s = v->valuestring;
	len = strlen(s);
	if (has_controls(s, &ncp))
		return fail_at(err, w, key, ERR_INVALID_HEADER,
		    "control characters are not allowed in a header value");
	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return fail_at(err, w, key, ERR_INVALID_HEADER, "a header "
		    "value is not empty and has no spaces at either end");
	if (!mime_hdr_is_text(name))
		for (p = s; *p != '\0'; p++)
			if ((unsigned char)*p >= 0x80)
				return fail_at(err, w, key, ERR_INVALID_HEADER,
				    "this header takes ASCII only");
	if (!mime_hdr_ok(name, s))
		return fail_at(err, w, key, ERR_INVALID_HEADER, "the value "
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
			return fail_at(err, &w, c->string,
			    ERR_HEADER_NOT_ALLOWED, "only X-*, "
			    "List-Unsubscribe, List-Unsubscribe-Post, "
			    "In-Reply-To, References and Auto-Submitted may "
			    "be set");
		for (i = 0; i < n; i++)
			if (strcasecmp(m->headers[i].name, name) == 0)
				return fail_at(err, &w, c->string,
				    ERR_DUPLICATE_KEY,
				    "a header is given twice");
		if (check_header_value(c, name, &w, err) == -1)
			return -1;
		m->headers[n].name = name;
		m->headers[n].value = c->valuestring;
		if (strcmp(name, "Auto-Submitted") == 0 &&
		    (m->headers[n].value = auto_submitted_value(
		    c->valuestring)) == NULL)
			return fail_at(err, &w, c->string, ERR_INVALID_HEADER,
			    "Auto-Submitted is no, auto-generated, "
			    "auto-replied or auto-notified");
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

/*
 * type/subtype, RFC 2045 tokens, lowercased in place.  A text type may
 * add one parameter, "; charset=token" (spaces around the ';', the name in
 * any case): cut off in place, lowercased, into *charset.
 */
static const char *
bad_content_type(char *s, const char **charset)
{
	char	*p, *slash = NULL, *end, *cs, *last;

	*charset = NULL;
	if (strlen(s) > REQ_CONTENT_TYPE_MAX)
		return "contentType is type/subtype";
	for (p = s; *p != '\0' && *p != ';' && *p != ' '; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
		else if (*p == '/' && slash == NULL)
			slash = p;
		else if (!is_token((unsigned char)*p))
			return "contentType is type/subtype";
	}
	if (slash == NULL || slash == s || slash + 1 == p)
		return "contentType is type/subtype";
	if (strncmp(s, "multipart/", 10) == 0 ||
	    strncmp(s, "message/", 8) == 0)
		return "multipart and message types are not allowed";
	if (*p == '\0')
		return NULL;
	if (strncmp(s, "text/", 5) != 0)
		return "only a text/* contentType takes a parameter (charset)";
	for (end = p; *p == ' '; p++)
		;
	if (*p++ != ';')
		return "contentType is type/subtype";
	while (*p == ' ')
		p++;
	if (strncasecmp(p, "charset=", 8) != 0)
		return "charset is the only parameter a contentType takes";
	for (cs = p += 8; is_token((unsigned char)*p); p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	if (p == cs || (*p != '\0' && *p != ' ' && *p != ';'))
		return "charset is a token, without quotes";
	for (last = p; *p == ' '; p++)
		;
	if (*p != '\0')
		return "charset is the only parameter a contentType takes";
	*last = '\0';
	*end = '\0';
	*charset = cs;
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
		return fail_at(err, w, NULL, ERR_INVALID_TYPE, "an attachment "
		    "is a {\"filename\",\"contentType\",\"content\"} object");
	for (c = v->child; c != NULL; c = c->next) {
		for (k = 0; k < 3 && strcmp(c->string, keys[k]) != 0; k++)
			;
		if (k == 3)
			return fail_at(err, w, c->string, ERR_UNKNOWN_FIELD,
			    "an attachment has filename, contentType and "
			    "content");
		f[k] = c;
	}
	for (k = 0; k < 3; k++) {
		if (f[k] == NULL)
			return fail_at(err, w, keys[k], ERR_MISSING_FIELD,
			    "%s is required", keys[k]);
		if (!cJSON_IsString(f[k]))
			return fail_at(err, w, keys[k], ERR_INVALID_TYPE,
			    "%s must be a string", keys[k]);
	}
	if ((why = bad_filename(f[0]->valuestring)) != NULL)
		return fail_at(err, w, keys[0], ERR_INVALID_ATTACHMENT, "%s",
		    why);
	if ((why = bad_content_type(f[1]->valuestring, &a->charset)) != NULL)
		return fail_at(err, w, keys[1], ERR_INVALID_ATTACHMENT, "%s",
		    why);
	if (b64_decode(f[2]->valuestring, &a->len) == -1)
		return fail_at(err, w, keys[2], ERR_INVALID_ATTACHMENT,
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
			return fail_at(err, &w, NULL, ERR_UNKNOWN_FIELD,
			    "unknown field");
		f[k] = c;
	}
	for (k = 0; k <= F_SUBJECT; k++) {
		if (k == F_CC || k == F_BCC || k == F_REPLY_TO || f[k] != NULL)
			continue;
		w.base = field_names[k];
		return fail_at(err, &w, NULL, ERR_MISSING_FIELD,
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
		return fail_at(err, &w, NULL, ERR_TOO_MANY_RECIPIENTS, "to, cc "
		    "and bcc hold at most %zu addresses", lim->max_recipients);
	w.base = "replyTo";
	if (n->reply_to > lim->max_recipients)
		return fail_at(err, &w, NULL, ERR_TOO_MANY_RECIPIENTS,
		    "replyTo holds at most %zu addresses",
		    lim->max_recipients);
	w.base = "headers";
	if (f[F_HEADERS] != NULL && !cJSON_IsObject(f[F_HEADERS]))
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE,
		    "headers must be an object");
	if (f[F_HEADERS] != NULL &&
	    (n->headers = count_children(f[F_HEADERS])) > REQ_MAX_HEADERS)
		return fail_at(err, &w, NULL, ERR_TOO_MANY_HEADERS,
		    "at most %d headers", REQ_MAX_HEADERS);
	w.base = "attachments";
	if (f[F_ATTACHMENTS] != NULL && !cJSON_IsArray(f[F_ATTACHMENTS]))
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE,
		    "attachments must be an array");
	if (f[F_ATTACHMENTS] != NULL && (n->attachments =
	    count_children(f[F_ATTACHMENTS])) > REQ_MAX_ATTACHMENTS)
		return fail_at(err, &w, NULL, ERR_TOO_MANY_ATTACHMENTS,
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
		return fail_at(err, &w, NULL, ERR_INVALID_TYPE, "from is an "
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
		return req_fail(err, ERR_MISSING_BODY,
		    "text or html is required");
	if (f[F_HEADERS] != NULL && parse_headers(f[F_HEADERS], m, err) == -1)
		return -1;
	if (f[F_SCHEDULED_AT] != NULL && isotime_schedule(f[F_SCHEDULED_AT],
	    time(NULL), &m->scheduled_at, "scheduledAt", err) == -1)
		return -1;
	if (f[F_ATTACHMENTS] == NULL)
		return 0;
	for (c = f[F_ATTACHMENTS]->child; c != NULL; c = c->next, w.idx++)
		if (parse_attachment(c, &w, &m->attachments[w.idx], err) == -1)
			return -1;
	m->nattachments = n->attachments;
	return 0;
}

int
req_parse(const char *body, size_t len, const struct req_limits *lim,
    struct mail *m, struct req_error *err)
{
	cJSON	*root;

	memset(m, 0, sizeof(*m));
	err->status = 0;
	err->code = NULL;
	err->message[0] = err->field[0] = '\0';
	if (json_decode(body, len, &root, err) == -1)
		return -1;
	return req_mail(root, lim, m, err);
}

int
req_mail(cJSON *root, const struct req_limits *lim, struct mail *m,
    struct req_error *err)
{
	const cJSON	*f[F_COUNT];
	struct counts	 n;

	memset(m, 0, sizeof(*m));
	memset(&n, 0, sizeof(n));
	memset(f, 0, sizeof(f));
	err->status = 0;
	err->code = NULL;
	err->message[0] = err->field[0] = '\0';
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return req_fail(err, ERR_INVALID_JSON, "the body must be a "
		    "JSON object");
	}
	if (top_fields(root, f, err) == -1 ||
	    count_all(f, lim, &n, err) == -1) {
		cJSON_Delete(root);
		return -1;
	}
	if (alloc_mail(m, root, &n) == -1) {
		cJSON_Delete(root);
		return req_fail_nomem(err);
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
