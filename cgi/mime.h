/*
 * mime: the RFC 5322 / MIME message built from a validated request, and
 * the encoders it uses.  Output always has LF line endings (the job file
 * is read by sendmail -i); no line exceeds MIME_LINE_MAX octets.
 *
 * Every function that appends to a buf returns 0, or -1 with errno set
 * (ENOMEM, EOVERFLOW) and the buf as it was before the call.
 */
#ifndef MIME_H
#define MIME_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "mail.h"

#define MIME_LINE_MAX	998	/* octets per line, RFC 5322 2.1.1 */
#define MIME_FOLD	76	/* header and quoted-printable line length */
#define MIME_EW_MAX	75	/* octets per RFC 2047 encoded word */
#define MIME_B64_LINE	76	/* base64 body line length */

/*
 * The whole message: From, To, Cc, Reply-To, Subject, Date, Message-ID
 * <message_id>, MIME-Version, the extra headers, then the body (one text
 * part, multipart/alternative for text and html, inside multipart/mixed
 * when there are attachments).  Bcc never appears.  Appended to out.
 *
 * With MIME_TEXT_FROM_HTML, html without text gets the text part
 * html2text_convert() derives from it (multipart/alternative), unless
 * that text is empty.  Attachments: Content-Type with the caller's
 * charset, or charset=utf-8 for a text type that is valid UTF-8 and not
 * ASCII, and a name= parameter (hw_name) beside Content-Disposition's
 * filename.
 */
#define MIME_TEXT_FROM_HTML	0x1
int	mime_build(const struct mail *, const char *message_id, time_t date,
	    int flags, struct buf *out);

/*
 * Quoted-printable (RFC 2045 6.7) of len bytes: lines of at most
 * MIME_FOLD octets, soft breaks never inside an =XX escape nor inside the
 * escapes of one UTF-8 sequence, spaces and tabs before a line break
 * encoded, "From " at a line start encoded as =46rom.  An LF in src is a
 * line break.  With MIME_QP_EOL the output ends with a line break, a soft
 * one if src does not end with LF (so decoding gives src back exactly);
 * without it, the output ends where src ends.
 */
#define MIME_QP_EOL	0x1
int	mime_qp(struct buf *, const void *src, size_t len, int flags);

/*
 * Base64 (RFC 4648 4) of len bytes in lines of linelen characters (a
 * multiple of 4; 0 for one line), LF between lines, none after the last.
 */
int	mime_base64(struct buf *, const void *src, size_t len,
	    size_t linelen);

/* 1 when base64 is shorter than quoted-printable for these bytes. */
int	mime_prefer_base64(const void *src, size_t len);

/*
 * RFC 2047 encoded words (charset UTF-8; B or Q, whichever is shorter for
 * the whole string) of the UTF-8 string s, appended after column *col of a
 * header line: each word is preceded by a space, or by a fold when it
 * would pass MIME_FOLD (never before the first word, which a decoder of
 * unstructured text would read as a leading space); a word is at most
 * MIME_EW_MAX octets and never splits a UTF-8 sequence.  *col is updated.
 * The Q form uses the restricted character set of RFC 2047 5(3), valid in
 * phrases too.
 */
int	mime_words(struct buf *, size_t *col, const char *s, size_t len);

/*
 * One unstructured header line, "Name: value\n", folded at spaces; the
 * value is written as it is when it is printable ASCII without "=?",
 * without leading or trailing space, and fits, else as encoded words.
 */
int	mime_hdr_text(struct buf *, const char *name, const char *value);

/* A header whose ASCII value is only folded at spaces, never encoded. */
int	mime_hdr_raw(struct buf *, const char *name, const char *value);

/*
 * An address list header, folded after the commas; a name is written as
 * atoms, as a quoted-string, or word by word: atoms, quoted-strings for
 * ASCII words with specials, and each run of the other words as encoded
 * words, split only where a run does not fit in one.
 */
int	mime_hdr_addrs(struct buf *, const char *name,
	    const struct mail_addr *, size_t);

/*
 * 1 when mime_build can write the extra header name: value with no line
 * over MIME_LINE_MAX (X-* values that need encoding always can; others
 * must fold at spaces), else 0.
 */
int	mime_hdr_ok(const char *name, const char *value);

/* 1 when the extra header name is unstructured text (X-*). */
int	mime_hdr_is_text(const char *name);

#endif
