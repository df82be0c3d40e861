/*
 * fuzz_req: whole POST /send bodies through req_parse().
 *
 * Refused: the error is one of the codes errors.h gives the body and its
 * fields, status 400 (500 only for ENOMEM), message and field printable
 * ASCII, and the struct mail is left empty.  Accepted: every field holds
 * what the validator promises, and the message mime_build() makes of it
 * passes the whole property check of fuzzutil.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "addr.h"
#include "buf.h"
#include "fuzzutil.h"
#include "mail.h"
#include "mime.h"
#include "req.h"


static const char *const codes[] = {
	"invalid_json", "invalid_utf8", "nul_character", "too_deep",
	"duplicate_key", "unknown_field", "missing_field", "invalid_type",
	"empty_array", "invalid_address", "invalid_name",
	"too_many_recipients", "invalid_subject", "missing_body",
	"invalid_body", "invalid_header", "header_not_allowed",
	"too_many_headers", "invalid_attachment", "too_many_attachments",
	"invalid_scheduled_at", "internal_error"
};

/* No C0, DEL, C1, U+2028, U+2029: what req.c calls control characters. */
static int
header_safe(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p < 0x20 || *p == 0x7f)
			return 0;
		if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f)
			return 0;
		if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 ||
		    p[2] == 0xa9))
			return 0;
	}
	return fz_utf8_valid((const unsigned char *)s, strlen(s));
}

static void
check_addrs(const struct mail_addr *a, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		FZ_CHECK(addr_valid(a[i].email, NULL) == 0, "bad address %s",
		    a[i].email);
		FZ_CHECK(a[i].name == NULL || (a[i].name[0] != '\0' &&
		    header_safe(a[i].name)), "bad name");
	}
}

static void
check_accepted(const struct mail *m, size_t max)
{
	size_t	i;

	check_addrs(&m->from, 1);
	check_addrs(m->to, m->nto);
	check_addrs(m->cc, m->ncc);
	check_addrs(m->bcc, m->nbcc);
	check_addrs(m->reply_to, m->nreply_to);
	FZ_CHECK(m->nto >= 1 && m->nto + m->ncc + m->nbcc <= max &&
	    m->nreply_to <= max, "recipient counts");
	FZ_CHECK(m->subject != NULL && m->subject[0] != '\0' &&
	    header_safe(m->subject), "subject");
	FZ_CHECK(m->text != NULL || m->html != NULL, "no body");
	FZ_CHECK(m->text == NULL || strchr(m->text, '\r') == NULL, "CR");
	FZ_CHECK(m->html == NULL || strchr(m->html, '\r') == NULL, "CR");
	for (i = 0; i < m->nheaders; i++)
		FZ_CHECK(header_safe(m->headers[i].value) &&
		    m->headers[i].value[0] != '\0', "header value");
	for (i = 0; i < m->nattachments; i++)
		FZ_CHECK(header_safe(m->attachments[i].filename) &&
		    strpbrk(m->attachments[i].filename, "/\\") == NULL &&
		    header_safe(m->attachments[i].content_type),
		    "attachment names");
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct req_limits	 lim = { 50 };
	struct req_error	 err;
	struct mail		 m;
	char			*body;

	/* An exact-size copy: req_parse must not read past len. */
	if ((body = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(body, data, len);
	if (req_parse(body, len, &lim, &m, &err) == -1) {
		fz_check_refused(&m, &err, codes,
		    sizeof(codes) / sizeof(codes[0]));
		free(body);
		return 0;
	}
	free(body);		/* m must not point into the body */
	check_accepted(&m, lim.max_recipients);
	fz_build_and_check(&m, MIME_TEXT_FROM_HTML);
	return 0;
}
