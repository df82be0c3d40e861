/* json: strict decoding of a request body (see json.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>

#include "errors.h"
#include "json.h"
#include "req.h"
#include "req_err.h"

/* A key or index on the way down from the root, for duplicate_key. */
struct seg {
	const struct seg	*up;
	const char		*key;	/* NULL: an array index */
	size_t			 idx;
};

/* The path from the root to g: "headers.X-A", "to[2].name". */
static void
seg_path(struct req_path *s, const struct seg *g)
{
	if (g == NULL)
		return;
	seg_path(s, g->up);
	if (g->key == NULL)
		req_path_idx(s, g->idx);
	else {
		if (s->len > 0)
			req_path_add(s, ".");
		req_path_add(s, g->key);
	}
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
		return req_fail(err, ERR_INVALID_JSON, "malformed \\u escape");
	if (v == 0)
		return req_fail(err, ERR_NUL_CHARACTER,
		    "\\u0000 is not allowed");
	if (v >= 0xdc00 && v <= 0xdfff)
		return req_fail(err, ERR_INVALID_UTF8, "lone surrogate escape");
	if (v < 0xd800 || v > 0xdbff)
		return 6;
	if (n < 12 || s[6] != '\\' || s[7] != 'u' ||
	    hex4(s + 8, n - 8, &w) == -1 || w < 0xdc00 || w > 0xdfff)
		return req_fail(err, ERR_INVALID_UTF8, "lone surrogate escape");
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
				return req_fail(err, ERR_INVALID_JSON,
				    "malformed escape in a string");
			p += 2;
		} else if (s[p] < 0x20)
			return req_fail(err, ERR_INVALID_JSON,
			    "unescaped control character in a string");
		else if (s[p] < 0x80)
			p++;
		else if ((n = utf8_seq(s + p, len - p)) == 0)
			return req_fail(err, ERR_INVALID_UTF8,
			    "the body is not valid UTF-8 (byte %zu)", p);
		else
			p += n;
	}
	return req_fail(err, ERR_INVALID_JSON, "unterminated string");
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
				return req_fail(err, ERR_TOO_DEEP,
				    "objects and arrays nest deeper than %d",
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
				return req_fail(err, ERR_INVALID_UTF8,
				    "the body is not valid UTF-8 (byte %zu)",
				    i);
			if (s[i] < 0x20 || s[i] >= 0x7f)
				return req_fail(err, ERR_INVALID_JSON,
				    "unexpected character at byte %zu", i);
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
	struct req_path	 s = REQ_PATH(err);
	const cJSON	*c;
	const char	*dup;

	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return 0;
	if (cJSON_IsObject(v)) {
		if (dup_key(v, &dup) == -1)
			return req_fail_nomem(err);
		if (dup != NULL) {
			g.key = dup;
			seg_path(&s, &g);
			return req_fail(err, ERR_DUPLICATE_KEY,
			    "a key is given twice in one object");
		}
	}
	for (c = v->child; c != NULL; c = c->next, g.idx++) {
		g.key = cJSON_IsObject(v) ? c->string : NULL;
		if (check_dups(c, &g, err) == -1)
			return -1;
	}
	return 0;
}

/* cJSON, then the checks cJSON does not make; object: it must be one. */
static int
decode(const char *body, size_t len, int object, cJSON **root,
    struct req_error *err)
{
	const char	*end = NULL;

	*root = NULL;
	if (len == 0)
		return req_fail(err, ERR_INVALID_JSON, "the body is empty");
	if (prescan((const unsigned char *)body, len, err) == -1)
		return -1;
	errno = 0;
	if ((*root = cJSON_ParseWithLengthOpts(body, len, &end, 0)) == NULL) {
		if (errno == ENOMEM)
			return req_fail_nomem(err);
		return req_fail(err, ERR_INVALID_JSON,
		    "malformed JSON near byte %zu",
		    end != NULL && end >= body ? (size_t)(end - body) : 0);
	}
	while (end < body + len &&
	    (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
		end++;
	if (end != body + len)
		req_fail(err, ERR_INVALID_JSON, "data after the JSON value at "
		    "byte %zu", (size_t)(end - body));
	else if (object && !cJSON_IsObject(*root))
		req_fail(err, ERR_INVALID_JSON,
		    "the body must be a JSON object");
	else if (check_dups(*root, NULL, err) == 0)
		return 0;
	cJSON_Delete(*root);
	*root = NULL;
	return -1;
}

int
json_decode(const char *body, size_t len, cJSON **root, struct req_error *err)
{
	return decode(body, len, 1, root, err);
}

int
json_decode_value(const char *body, size_t len, cJSON **root,
    struct req_error *err)
{
	return decode(body, len, 0, root, err);
}
