/*
 * fuzz_build: the message builder, fed through the real validator.
 *
 * The input is read as a recipe (flag bytes, then NUL-separated strings):
 * it picks which fields a request has and gives every free-text field
 * (display names, subject, text, html, header values, filenames,
 * attachment bytes) its content.  cJSON writes the JSON, so nearly every
 * recipe is a well-formed request and the fuzzer spends its time on what
 * the builder sees.  Strings are made valid UTF-8 (invalid bytes become
 * '?'); control characters stay, for the validator to refuse.
 *
 * Every accepted request must give a message that passes fuzzutil's
 * property check: LF only, lines <= 998, the exact header set, no Bcc,
 * every header and part decoding back to its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "buf.h"
#include "fuzzutil.h"
#include "mail.h"
#include "mime.h"
#include "req.h"


static const char *const emails[] = {
	"app@example.org", "a@b.co", "x.y+tag@mail.example.net",
	("very.long.local.part.with.many.dots.and.more.characters.here@"
	    "sub-domain.of.a.rather.long.domain.name.example.com"),
	"o'hara@example.ie", "{braces}|pipe@ex-ample.org",
	"!#$%&'*+-/=?^_`{|}~@example.org", "UPPER@EXAMPLE.ORG",
};

static const char *const header_names[] = {
	"X-Campaign", "List-Unsubscribe", "List-Unsubscribe-Post",
	"In-Reply-To", "References", "x-lower", "X-Y", "Auto-Submitted",
};

static const char *const types[] = {
	"application/pdf", "image/png", "text/plain", "application/x-foo+json",
	"Application/OCTET-STREAM", "text/csv; charset=UTF-8",
	"text/plain ;charset=iso-8859-1 ", "text/html; charset=\"x\"",
};

static void
add_str(cJSON *o, const char *key, char *s)
{
	cJSON_AddItemToObject(o, key, cJSON_CreateString(s));
	free(s);
}

static cJSON *
make_addr(struct fz_in *in)
{
	unsigned	 c = fz_byte(in);
	cJSON		*o;
	char		*s;

	s = c & 0x80 ? fz_str(in) : strdup(emails[c % (sizeof(emails) /
	    sizeof(emails[0]))]);
	if (s == NULL)
		abort();
	if (!(c & 0x40)) {
		o = cJSON_CreateString(s);
		free(s);
		return o;
	}
	o = cJSON_CreateObject();
	add_str(o, "email", s);
	add_str(o, "name", fz_utf8(in));
	return o;
}

/* One address, or an array of n (1..4) of them. */
static void
add_addrs(cJSON *root, const char *key, struct fz_in *in)
{
	unsigned	 c = fz_byte(in), i;
	cJSON		*a;

	if ((c & 3) == 0) {
		cJSON_AddItemToObject(root, key, make_addr(in));
		return;
	}
	a = cJSON_CreateArray();
	for (i = 0; i <= (c & 3); i++)
		cJSON_AddItemToArray(a, make_addr(in));
	cJSON_AddItemToObject(root, key, a);
}

static void
add_headers(cJSON *root, unsigned n, struct fz_in *in)
{
	cJSON		*h = cJSON_CreateObject();
	unsigned	 i, c;
	char		*name;

	for (i = 0; i < n; i++) {
		c = fz_byte(in);
		if (c & 0x80)
			name = fz_str(in);
		else if ((name = strdup(header_names[c % (sizeof(header_names)
		    / sizeof(header_names[0]))])) == NULL)
			abort();
		add_str(h, name, fz_utf8(in));
		free(name);
	}
	cJSON_AddItemToObject(root, "headers", h);
}

static void
add_attachments(cJSON *root, unsigned n, struct fz_in *in)
{
	cJSON		*a = cJSON_CreateArray(), *o;
	struct buf	 b64;
	unsigned	 i, c;
	char		*data;

	for (i = 0; i < n; i++) {
		o = cJSON_CreateObject();
		add_str(o, "filename", fz_utf8(in));
		c = fz_byte(in);
		if (c & 0x80)
			add_str(o, "contentType", fz_str(in));
		else
			cJSON_AddStringToObject(o, "contentType",
			    types[c % (sizeof(types) / sizeof(types[0]))]);
		data = fz_str(in);
		buf_init(&b64);
		if (mime_base64(&b64, data, strlen(data), 0) == -1 ||
		    buf_add(&b64, "", 0) == -1)
			abort();
		cJSON_AddStringToObject(o, "content", b64.data);
		buf_free(&b64);
		free(data);
		cJSON_AddItemToArray(a, o);
	}
	cJSON_AddItemToObject(root, "attachments", a);
}

/*
 * flags: 1 cc, 2 bcc, 4 replyTo, 8 text, 16 html, 32 headers, 64 att.,
 * 128 html_to_text = no.
 */
static cJSON *
recipe(struct fz_in *in, int *build_flags)
{
	cJSON		*root = cJSON_CreateObject();
	unsigned	 f = fz_byte(in), counts = fz_byte(in);

	*build_flags = f & 128 ? 0 : MIME_TEXT_FROM_HTML;
	cJSON_AddItemToObject(root, "from", make_addr(in));
	add_addrs(root, "to", in);
	if (f & 1)
		add_addrs(root, "cc", in);
	if (f & 2)
		add_addrs(root, "bcc", in);
	if (f & 4)
		add_addrs(root, "replyTo", in);
	add_str(root, "subject", fz_utf8(in));
	if ((f & 8) || !(f & 16))
		add_str(root, "text", fz_utf8(in));
	if (f & 16)
		add_str(root, "html", fz_utf8(in));
	if (f & 32)
		add_headers(root, 1 + (counts & 3), in);
	if (f & 64)
		add_attachments(root, 1 + (counts >> 2 & 3), in);
	return root;
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct fz_in		 in = { data, len };
	struct req_limits	 lim = { 50 };
	struct req_error	 err;
	struct mail		 m;
	cJSON			*root;
	char			*json;
	int			 flags;

	root = recipe(&in, &flags);
	json = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (json == NULL)
		abort();
	if (req_parse(json, strlen(json), &lim, &m, &err) == -1) {
		FZ_CHECK(err.status == 400, "status %d (%s)", err.status,
		    err.code);
		free(json);
		return 0;
	}
	free(json);
	fz_build_and_check(&m, flags);
	return 0;
}
