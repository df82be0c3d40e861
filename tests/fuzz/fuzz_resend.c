/*
 * fuzz_resend: whole POST /emails bodies (Resend's) through resend_parse().
 *
 * Refused: a code resend_req.c or req.c documents, status 400 (500 only
 * for ENOMEM), message and field printable ASCII, the struct mail left
 * empty.  Accepted: tags and content ids hold what the reader promises,
 * the message with its inline parts builds and names each Content-ID, and
 * the message without them passes the whole property check of fuzzutil.c.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "fuzzutil.h"
#include "mail.h"
#include "mime.h"
#include "req.h"
#include "resend_req.h"
#include "spool.h"

static const char *const codes[] = {
	"invalid_json", "invalid_utf8", "nul_character", "too_deep",
	"duplicate_key", "unknown_field", "missing_field", "invalid_type",
	"empty_array", "invalid_address", "invalid_name",
	"too_many_recipients", "invalid_subject", "missing_body",
	"invalid_body", "invalid_header", "header_not_allowed",
	"too_many_headers", "invalid_attachment", "too_many_attachments",
	"internal_error", "invalid_tag", "invalid_scheduled_at",
	"not_supported"
};

static void
check_accepted(struct mail *m, time_t before)
{
	struct buf	 out;
	char		 want[256];
	size_t		 i, j;

	FZ_CHECK(m->nto >= 1 && m->nto <= RESEND_MAX_TO, "to count");
	FZ_CHECK(m->ntags <= RESEND_MAX_TAGS, "tag count");
	for (i = 0; i < m->ntags; i++) {
		FZ_CHECK(spool_tag_valid(m->tags[i].name) &&
		    spool_tag_valid(m->tags[i].value), "tag %zu", i);
		for (j = 0; j < i; j++)
			FZ_CHECK(strcmp(m->tags[i].name, m->tags[j].name) != 0,
			    "tag twice");
	}
	FZ_CHECK(m->scheduled_at == 0 || (m->scheduled_at >= before &&
	    m->scheduled_at <= time(NULL) + 30 * 86400), "scheduled_at");
	buf_init(&out);
	FZ_CHECK(mime_build(m, "0640a1b2c3d4e-0123456789abcdef@relay.test",
	    (time_t)1700000000, MIME_TEXT_FROM_HTML, &out) == 0,
	    "mime_build failed");
	for (i = 0; i < m->nattachments; i++) {
		if (m->attachments[i].content_id == NULL)
			continue;
		FZ_CHECK(strpbrk(m->attachments[i].content_id, "<> \"\\")
		    == NULL && strlen(m->attachments[i].content_id) <= 200,
		    "content id");
		snprintf(want, sizeof(want), "\nContent-ID: <%s>\n",
		    m->attachments[i].content_id);
		FZ_CHECK(strstr(out.data, want) != NULL, "no %s", want);
		m->attachments[i].content_id = NULL;
	}
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct req_limits	 lim = { 50 };
	struct req_error	 err;
	struct mail		 m, ext;
	time_t			 before = time(NULL);
	char			*body;

	/* An exact-size copy: resend_parse must not read past len. */
	if ((body = malloc(len ? len : 1)) == NULL)
		abort();
	memcpy(body, data, len);
	if (resend_parse(body, len, &lim, &m, &err) == -1) {
		fz_check_refused(&m, &err, codes,
		    sizeof(codes) / sizeof(codes[0]));
		free(body);
		return 0;
	}
	free(body);		/* m must not point into the body */
	check_accepted(&m, before);
	memset(&ext, 0, sizeof(ext));
	ext.ext = m.ext;	/* fz_build_and_check frees what req.c owns */
	m.ext = NULL;
	m.tags = NULL;
	m.ntags = 0;
	fz_build_and_check(&m, MIME_TEXT_FROM_HTML);
	resend_free(&ext);
	return 0;
}
