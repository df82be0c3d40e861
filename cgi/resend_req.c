/*
 * resend_req: the body of POST /emails (Resend's, snake_case, as the
 * resend SDKs write it) into the same validated struct mail that req.c
 * makes of a POST /send body.
 *
 * The body goes through json_decode_value() (UTF-8, controls, depth,
 * duplicate keys).  The object is then rewritten into the shape of a /send body,
 * and req_mail() validates it with every rule of /send:
 *
 *	"Name <a@b>"		{"email":"a@b","name":"Name"} (from, to, cc,
 *				bcc, reply_to; a quoted name is unquoted)
 *	reply_to		replyTo
 *	attachments[].content_type	contentType (guessed from the
 *				filename's extension when absent)
 *	attachments[].content	a base64 string as it is; a Node Buffer as
 *				JSON.stringify writes it, {"type":"Buffer",
 *				"data":[bytes]}, becomes base64
 *	null			an optional field that is null is absent
 *
 * What /send does not have is taken out first and kept beside the tree:
 * tags, scheduled_at and each attachment's content_id.  Error codes are
 * those of req.c (field paths and messages in Resend's names) plus:
 *
 *	invalid_tag		tags not [{name, value}], a name or value not
 *				1..256 of A-Z a-z 0-9 _ -, a name twice, more
 *				than RESEND_MAX_TAGS
 *	invalid_scheduled_at	not ISO 8601 with a zone, or more than 30
 *				days ahead
 *	not_supported		template, topic_id, an attachment's path
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cJSON.h>

#include "isotime.h"
#include "json.h"
#include "mail.h"
#include "req.h"
#include "resend_req.h"
#include "spool.h"

#define CID_MAX		200	/* octets of a content_id */

/* What resend_parse() keeps besides req.c's storage (m->ext). */
struct resend_priv {
	cJSON		*kept;		/* tags, content ids: an array */
	struct mail_tag	 tags[];
};

static int
rfail(struct req_error *err, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
rfail(struct req_error *err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list	 ap;
	char	*p;

	err->status = 400;
	err->code = code;
	strlcpy(err->field, field, sizeof(err->field));
	va_start(ap, fmt);
	if (vsnprintf(err->message, sizeof(err->message), fmt, ap) < 0)
		err->message[0] = '\0';
	va_end(ap);
	/* Keys come from the body: the error is ASCII, as req.c's are. */
	for (p = err->field; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
	for (p = err->message; *p != '\0'; p++)
		if (*p < 0x20 || *p >= 0x7f)
			*p = '?';
	return -1;
}

static int
rnomem(struct req_error *err)
{
	rfail(err, "internal_error", "", "out of memory");
	err->status = 500;
	return -1;
}

/* Field names of /send as Resend names them, in a req_error. */
static void
rename_in(char *s, size_t size)
{
	static const char *const names[][2] = {
		{ "replyTo", "reply_to" }, { "contentType", "content_type" }
	};
	char	 out[256], *p;
	size_t	 i, o, n;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((p = strstr(s, names[i][0])) == NULL)
			continue;
		n = strlen(names[i][0]);
		o = (size_t)(p - s);
		if (snprintf(out, sizeof(out), "%.*s%s%s", (int)o, s,
		    names[i][1], p + n) < 0)
			continue;
		strlcpy(s, out, size);
	}
}

/* "Name <a@b>" -> name and address; a bare address is left as it is. */
static int
split_addr(const char *s, char **name, char **addr)
{
	const char	*lt, *gt;
	char		*n, *w;
	size_t		 len = strlen(s), nl;

	*name = *addr = NULL;
	if (len == 0 || s[len - 1] != '>' || (lt = strrchr(s, '<')) == NULL)
		return 0;
	gt = s + len - 1;
	if ((*addr = strndup(lt + 1, (size_t)(gt - lt - 1))) == NULL)
		return -1;
	while (lt > s && lt[-1] == ' ')
		lt--;
	nl = (size_t)(lt - s);
	while (nl > 0 && *s == ' ') {
		s++;
		nl--;
	}
	if (nl >= 2 && s[0] == '"' && s[nl - 1] == '"') {
		s++;
		nl -= 2;
	}
	if ((n = *name = strndup(s, nl)) == NULL) {
		free(*addr);
		*addr = NULL;
		return -1;
	}
	for (w = n; *n != '\0'; n++) {	/* \" and \\ in a quoted name */
		if (*n == '\\' && n[1] != '\0')
			n++;
		*w++ = *n;
	}
	*w = '\0';
	return 0;
}

/* Puts o in the place of item (in an object: under its key). */
static int
replace(cJSON *parent, cJSON *item, cJSON *o)
{
	if (o == NULL)
		return 0;
	if (cJSON_IsObject(parent))
		return cJSON_ReplaceItemInObjectCaseSensitive(parent,
		    item->string, o);
	return cJSON_ReplaceItemViaPointer(parent, item, o);
}

/* A string address of a Resend body as /send's string or object. */
static int
conv_addr(cJSON *parent, cJSON *item, struct req_error *err)
{
	cJSON	*o;
	char	*name, *addr;

	if (!cJSON_IsString(item))
		return 0;			/* req_mail says why */
	if (split_addr(item->valuestring, &name, &addr) == -1)
		return rnomem(err);
	if (addr == NULL)
		return 0;
	if ((o = cJSON_CreateObject()) == NULL ||
	    cJSON_AddStringToObject(o, "email", addr) == NULL ||
	    (*name != '\0' && cJSON_AddStringToObject(o, "name", name) ==
	    NULL) || !replace(parent, item, o)) {
		cJSON_Delete(o);
		free(name);
		free(addr);
		return rnomem(err);
	}
	free(name);
	free(addr);
	return 0;
}

static int
conv_addrs(cJSON *root, const char *key, struct req_error *err)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(root, key), *c, *next;
	size_t	 n = 0;

	if (v == NULL)
		return 0;
	if (!cJSON_IsArray(v))
		return conv_addr(root, v, err);
	for (c = v->child; c != NULL; c = next, n++) {
		next = c->next;
		if (conv_addr(v, c, err) == -1)
			return -1;
	}
	if (strcmp(key, "to") == 0 && n > RESEND_MAX_TO)
		return rfail(err, "too_many_recipients", "to", "to holds at "
		    "most %d addresses", RESEND_MAX_TO);
	return 0;
}

/* Content types by extension, for an attachment without content_type. */
static const char *
guess_type(const char *filename)
{
	static const char *const types[][2] = {
		{ "pdf", "application/pdf" }, { "png", "image/png" },
		{ "jpg", "image/jpeg" }, { "jpeg", "image/jpeg" },
		{ "gif", "image/gif" }, { "webp", "image/webp" },
		{ "svg", "image/svg+xml" }, { "txt", "text/plain" },
		{ "csv", "text/csv" }, { "html", "text/html" },
		{ "htm", "text/html" }, { "ics", "text/calendar" },
		{ "json", "application/json" }, { "xml", "application/xml" },
		{ "zip", "application/zip" }, { "gz", "application/gzip" },
		{ "doc", "application/msword" },
		{ "docx", "application/vnd.openxmlformats-officedocument."
		    "wordprocessingml.document" },
		{ "xls", "application/vnd.ms-excel" },
		{ "xlsx", "application/vnd.openxmlformats-officedocument."
		    "spreadsheetml.sheet" },
	};
	const char	*dot = strrchr(filename, '.');
	size_t		 i;

	if (dot != NULL)
		for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
			if (strcasecmp(dot + 1, types[i][0]) == 0)
				return types[i][1];
	return "application/octet-stream";
}

/* {"type":"Buffer","data":[0..255, ...]} as base64 text, or NULL. */
static char *
buffer_base64(const cJSON *v, int *bad)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
	    "qrstuvwxyz0123456789+/";
	const cJSON	*t = cJSON_GetObjectItemCaseSensitive(v, "type");
	const cJSON	*d = cJSON_GetObjectItemCaseSensitive(v, "data"), *c;
	unsigned char	 q[3];
	char		*out, *o;
	size_t		 n, k = 0;

	*bad = 1;
	if (cJSON_GetArraySize(v) != 2 || !cJSON_IsString(t) ||
	    strcmp(t->valuestring, "Buffer") != 0 || !cJSON_IsArray(d))
		return NULL;
	n = (size_t)cJSON_GetArraySize(d);
	if ((o = out = malloc((n + 2) / 3 * 4 + 1)) == NULL) {
		*bad = 0;
		return NULL;
	}
	for (c = d->child; c != NULL; c = c->next) {
		if (!cJSON_IsNumber(c) || c->valuedouble < 0 ||
		    c->valuedouble > 255 || c->valuedouble != c->valueint) {
			free(out);
			return NULL;
		}
		q[k++] = (unsigned char)c->valueint;
		if (k == 3 || c->next == NULL) {
			o[0] = b64[q[0] >> 2];
			o[1] = b64[(q[0] & 3) << 4 | (k > 1 ? q[1] >> 4 : 0)];
			o[2] = k > 1 ? b64[(q[1] & 15) << 2 |
			    (k > 2 ? q[2] >> 6 : 0)] : '=';
			o[3] = k > 2 ? b64[q[2] & 63] : '=';
			o += 4;
			k = 0;
		}
	}
	*o = '\0';
	return out;
}

static int
cid_valid(const char *s)
{
	size_t	 i;

	for (i = 0; s[i] != '\0'; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' &&
		    s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
		    strchr("!#$%&'*+-/=?^_`{|}~.@", s[i]) != NULL))
			return 0;
	return i >= 1 && i <= CID_MAX;
}

/* content_id out of attachment a into kept (NULL: none, as a null). */
static int
take_cid(cJSON *a, cJSON *kept, size_t idx, struct req_error *err)
{
	cJSON	*c = cJSON_DetachItemFromObjectCaseSensitive(a, "content_id");
	char	 field[64];
	char	*s;
	size_t	 len;

	snprintf(field, sizeof(field), "attachments[%zu].content_id", idx);
	if (c == NULL || cJSON_IsNull(c)) {
		cJSON_Delete(c);
		return cJSON_AddItemToArray(kept, cJSON_CreateNull()) ? 0 :
		    rnomem(err);
	}
	cJSON_AddItemToArray(kept, c);
	if (!cJSON_IsString(c))
		return rfail(err, "invalid_type", field, "content_id must be "
		    "a string");
	s = c->valuestring;
	len = strlen(s);
	if (len >= 2 && s[0] == '<' && s[len - 1] == '>') {
		memmove(s, s + 1, len - 2);
		s[len - 2] = '\0';
	}
	if (!cid_valid(s))
		return rfail(err, "invalid_attachment", field, "content_id is "
		    "1 to %d characters of an address (letters, digits, "
		    "\".\", \"@\" ...)", CID_MAX);
	return 0;
}

/* One attachment into /send's shape; its content_id into kept. */
static int
conv_attachment(cJSON *a, cJSON *kept, size_t idx, struct req_error *err)
{
	char	 field[64], cfield[64];
	cJSON	*c, *fn, *o = NULL;
	char	*b64;
	int	 bad;

	snprintf(field, sizeof(field), "attachments[%zu]", idx);
	snprintf(cfield, sizeof(cfield), "attachments[%zu].content", idx);
	if (!cJSON_IsObject(a))
		return 0;			/* req_mail says why */
	if ((c = cJSON_GetObjectItemCaseSensitive(a, "path")) != NULL &&
	    !cJSON_IsNull(c))
		return rfail(err, "not_supported", field, "path is not "
		    "supported: the relay fetches nothing; send content");
	cJSON_DeleteItemFromObjectCaseSensitive(a, "path");
	if (take_cid(a, kept, idx, err) == -1)
		return -1;
	if ((c = cJSON_DetachItemFromObjectCaseSensitive(a, "content_type"))
	    != NULL && !cJSON_IsNull(c))
		cJSON_AddItemToObject(a, "contentType", c);
	else {
		cJSON_Delete(c);
		fn = cJSON_GetObjectItemCaseSensitive(a, "filename");
		if (cJSON_IsString(fn) && cJSON_AddStringToObject(a,
		    "contentType", guess_type(fn->valuestring)) == NULL)
			return rnomem(err);
	}
	c = cJSON_GetObjectItemCaseSensitive(a, "content");
	if (cJSON_IsObject(c)) {
		if ((b64 = buffer_base64(c, &bad)) == NULL)
			return bad ? rfail(err, "invalid_attachment", cfield,
			    "content is base64 text or a Buffer") :
			    rnomem(err);
		if ((o = cJSON_CreateString(b64)) == NULL ||
		    !replace(a, c, o)) {
			cJSON_Delete(o);
			free(b64);
			return rnomem(err);
		}
		free(b64);
	}
	return 0;
}

static int
conv_attachments(cJSON *root, cJSON *kept, struct req_error *err)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(root, "attachments");
	cJSON	*c;
	size_t	 i = 0;

	if (!cJSON_IsArray(v))
		return 0;
	for (c = v->child; c != NULL; c = c->next, i++)
		if (conv_attachment(c, kept, i, err) == -1)
			return -1;
	return 0;
}

/* tags into kept (validated); their count into *n. */
static int
take_tags(cJSON *root, cJSON *kept, size_t *n, struct req_error *err)
{
	cJSON	*v = cJSON_DetachItemFromObjectCaseSensitive(root, "tags");
	cJSON	*c, *k, *name, *value, *o;
	char	 field[32];

	*n = 0;
	if (v == NULL || cJSON_IsNull(v)) {
		cJSON_Delete(v);
		return 0;
	}
	cJSON_AddItemToArray(kept, v);
	if (!cJSON_IsArray(v))
		return rfail(err, "invalid_tag", "tags", "tags is an array of "
		    "{\"name\",\"value\"} objects");
	for (c = v->child; c != NULL; c = c->next, (*n)++) {
		snprintf(field, sizeof(field), "tags[%zu]", *n);
		if (*n >= RESEND_MAX_TAGS)
			return rfail(err, "invalid_tag", "tags", "at most %d "
			    "tags", RESEND_MAX_TAGS);
		name = cJSON_GetObjectItemCaseSensitive(c, "name");
		value = cJSON_GetObjectItemCaseSensitive(c, "value");
		if (!cJSON_IsObject(c) || cJSON_GetArraySize(c) != 2 ||
		    !cJSON_IsString(name) || !cJSON_IsString(value))
			return rfail(err, "invalid_tag", field, "a tag is a "
			    "{\"name\",\"value\"} object of strings");
		if (!spool_tag_valid(name->valuestring) ||
		    !spool_tag_valid(value->valuestring))
			return rfail(err, "invalid_tag", field, "a tag's name "
			    "and value are 1 to 256 ASCII letters, digits, "
			    "underscores or dashes");
		for (o = v->child; o != c; o = o->next) {
			k = cJSON_GetObjectItemCaseSensitive(o, "name");
			if (strcmp(k->valuestring, name->valuestring) == 0)
				return rfail(err, "invalid_tag", field, "tag "
				    "%s is given twice", name->valuestring);
		}
	}
	return 0;
}

static int
take_schedule(cJSON *root, time_t now, time_t *due, struct req_error *err)
{
	cJSON	*v = cJSON_GetObjectItemCaseSensitive(root, "scheduled_at");
	int	 rc = 0;

	*due = 0;
	if (v != NULL && !cJSON_IsNull(v))
		rc = isotime_schedule(v, now, due, "scheduled_at", err);
	cJSON_DeleteItemFromObjectCaseSensitive(root, "scheduled_at");
	return rc;
}

/* Top-level keys: known, unsupported, null (dropped), renamed. */
static int
conv_top(cJSON *root, struct req_error *err)
{
	static const char *const known[] = { "from", "to", "cc", "bcc",
	    "reply_to", "subject", "html", "text", "headers", "attachments",
	    "tags", "scheduled_at" };
	cJSON	*c, *next;
	size_t	 i;

	for (c = root->child; c != NULL; c = next) {
		next = c->next;
		for (i = 0; i < sizeof(known) / sizeof(known[0]) &&
		    strcmp(c->string, known[i]) != 0; i++)
			;
		if (i == sizeof(known) / sizeof(known[0])) {
			if (cJSON_IsNull(c))
				cJSON_Delete(cJSON_DetachItemViaPointer(root, c));
			else if (strcmp(c->string, "template") == 0 ||
			    strcmp(c->string, "topic_id") == 0 ||
			    strcmp(c->string, "react") == 0)
				return rfail(err, "not_supported", c->string,
				    "%s is not supported by this relay",
				    c->string);
			else
				return rfail(err, "unknown_field", c->string,
				    "unknown field");
		} else if (cJSON_IsNull(c))
			cJSON_Delete(cJSON_DetachItemViaPointer(root, c));
	}
	if ((c = cJSON_DetachItemFromObjectCaseSensitive(root, "reply_to"))
	    != NULL)
		cJSON_AddItemToObject(root, "replyTo", c);
	return 0;
}

static int
convert(cJSON *root, cJSON *kept, time_t now, size_t *ntags, time_t *due,
    struct req_error *err)
{
	if (!cJSON_IsObject(root))
		return rfail(err, "invalid_json", "", "the body must be a "
		    "JSON object");
	if (conv_top(root, err) == -1 ||
	    take_tags(root, kept, ntags, err) == -1 ||
	    take_schedule(root, now, due, err) == -1 ||
	    conv_addrs(root, "from", err) == -1 ||
	    conv_addrs(root, "to", err) == -1 ||
	    conv_addrs(root, "cc", err) == -1 ||
	    conv_addrs(root, "bcc", err) == -1 ||
	    conv_addrs(root, "replyTo", err) == -1 ||
	    conv_attachments(root, kept, err) == -1)
		return -1;
	return 0;
}

/* Tags and content ids from kept into m. */
static void
attach_kept(struct mail *m, struct resend_priv *p, size_t ntags)
{
	cJSON	*c, *t = NULL;
	size_t	 i = 0;

	for (c = p->kept->child; c != NULL; c = c->next) {
		if (cJSON_IsArray(c))
			t = c;
		else if (i < m->nattachments) {
			m->attachments[i++].content_id = cJSON_IsString(c) ?
			    c->valuestring : NULL;
		}
	}
	for (i = 0, c = t ? t->child : NULL; c != NULL && i < ntags;
	    c = c->next, i++) {
		p->tags[i].name = cJSON_GetObjectItemCaseSensitive(c,
		    "name")->valuestring;
		p->tags[i].value = cJSON_GetObjectItemCaseSensitive(c,
		    "value")->valuestring;
	}
	m->tags = p->tags;
	m->ntags = ntags;
	m->ext = p;
}

int
resend_mail(cJSON *root, const struct req_limits *lim, time_t now,
    struct mail *m, struct req_error *err)
{
	struct resend_priv	*p = NULL;
	cJSON			*kept;
	size_t			 ntags = 0;
	time_t			 due = 0;

	memset(m, 0, sizeof(*m));
	if ((kept = cJSON_CreateArray()) == NULL) {
		cJSON_Delete(root);
		return rnomem(err);
	}
	if (convert(root, kept, now, &ntags, &due, err) == -1) {
		cJSON_Delete(root);
		goto fail;
	}
	if ((p = calloc(1, sizeof(*p) + ntags * sizeof(p->tags[0]))) ==
	    NULL) {
		cJSON_Delete(root);
		rnomem(err);
		goto fail;
	}
	if (req_mail(root, lim, m, err) == -1) {	/* root is gone */
		rename_in(err->field, sizeof(err->field));
		rename_in(err->message, sizeof(err->message));
		goto fail;
	}
	p->kept = kept;
	attach_kept(m, p, ntags);
	m->scheduled_at = due;
	return 0;
fail:
	free(p);
	cJSON_Delete(kept);
	return -1;
}

int
resend_parse(const char *body, size_t len, const struct req_limits *lim,
    struct mail *m, struct req_error *err)
{
	cJSON	*root;

	memset(m, 0, sizeof(*m));
	err->status = 0;
	err->code = NULL;
	err->message[0] = err->field[0] = '\0';
	if (json_decode_value(body, len, &root, err) == -1)
		return -1;
	return resend_mail(root, lim, time(NULL), m, err);
}

void
resend_free(struct mail *m)
{
	struct resend_priv	*p = m->ext;

	if (p != NULL) {
		cJSON_Delete(p->kept);
		free(p);
	}
	req_free(m);
}
