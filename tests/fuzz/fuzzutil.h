/*
 * fuzzutil: what the libFuzzer harnesses share.  Independent decoders for
 * what mime_enc.c encodes (quoted-printable, base64, RFC 2047 words, RFC
 * 2231 parameters), a reader for a built message, and the property check
 * every built message must pass.  Written from the RFCs and mime.h, not
 * from mime_*.c, so a bug in an encoder is not mirrored here.
 *
 * A failed property calls fz_fail(), which prints the reason and aborts:
 * libFuzzer then saves the input as a crash.
 */
#ifndef FUZZUTIL_H
#define FUZZUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mail.h"
#include "req.h"

#define FZ_CHECK(cond, ...) do {					\
	if (!(cond))							\
		fz_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);	\
} while (0)

void	fz_fail(const char *, int, const char *, const char *, ...)
	    __attribute__((noreturn, format(printf, 4, 5)));

/* A reader over the fuzz input. */
struct fz_in {
	const uint8_t	*p;
	size_t		 len;
};
unsigned	fz_byte(struct fz_in *);
/* The bytes up to the next NUL (or the end) as a new C string. */
char	       *fz_str(struct fz_in *);
/* The same, with invalid UTF-8 bytes replaced by '?'. */
char	       *fz_utf8(struct fz_in *);

/* 1 if s[0..len) is UTF-8 as json.c accepts it. */
int	fz_utf8_valid(const unsigned char *, size_t);

/* Decoders; 0, or -1 on malformed input.  out is appended to. */
int	fz_qp_decode(const char *, size_t, struct buf *out);
int	fz_b64_decode(const char *, size_t, struct buf *out);
/* An unstructured header value: plain, or encoded words only. */
int	fz_text_decode(const char *, size_t, struct buf *out);

/*
 * The whole property check of a message built by mime_build() from m with
 * Message-ID <msgid>: see fuzzutil.c.
 */
void	fz_check_message(const struct mail *m, const char *msgid,
	    const char *msg, size_t len);
/*
 * Build m with mime_build() and flags, check the message (with the text
 * html2text derives, if flags ask for it), then req_free(m).
 */
void	fz_build_and_check(struct mail *m, int flags);

/*
 * A refused body: m left empty, e's code one of codes[0..n), status 400
 * (500 for internal_error), message and field printable ASCII.
 */
void	fz_check_refused(const struct mail *m, const struct req_error *e,
	    const char *const *codes, size_t n);

/* The header of one line block, unfolded.  Names point into the block. */
struct fz_hdr {
	char	 name[80];
	char	*value;		/* unfolded, after "Name: " */
};
struct fz_hdrs {
	struct fz_hdr	*v;
	size_t		 n;
};
/*
 * Splits a header block (len bytes, no final empty line) into headers,
 * checking that every line is "Name: value" or a fold continuation and
 * only printable ASCII.  Aborts otherwise.
 */
void	fz_headers(const char *, size_t, struct fz_hdrs *);
void	fz_headers_free(struct fz_hdrs *);
/* Checks an address list header value against a[0..n). */
void	fz_check_addrs(const char *value, const struct mail_addr *, size_t);

/* A private directory (0700) under /dev/shm or $TMPDIR, made once. */
const char *fz_tmpdir(void);

#endif
