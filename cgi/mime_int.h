/*
 * mime_int: what the three parts of mime share, not for other modules.
 *
 *   mime_enc.c	encoders: base64, quoted-printable, RFC 2047 words,
 *		RFC 2231 filenames
 *   mime_hdr.c	header writer: unstructured and raw headers, folding,
 *		phrases and address lists
 *   mime_build.c	the message: headers, parts, boundaries
 *
 * struct hw is one header line being written; the functions below that
 * take one record the first failure in h->err and hw_end() reports it.
 */
#ifndef MIME_INT_H
#define MIME_INT_H

#include <stddef.h>
#include <string.h>

#include "buf.h"
#include "mime.h"

/* A header line being written (or, with b == NULL, only measured). */
struct hw {
	struct buf	*b;
	size_t		 col;	/* octets on the current line */
	size_t		 max;	/* longest finished line */
	int		 any;	/* a token follows the colon */
	int		 err;
};

/* Truncate b back to mark (a failed append leaves b as it was). */
static inline void
restore(struct buf *b, size_t mark)
{
	b->len = mark;
	if (b->data != NULL)
		b->data[mark] = '\0';
}

static inline void
hw_put(struct hw *h, const void *s, size_t n)
{
	if (h->b != NULL && !h->err && buf_add(h->b, s, n) == -1)
		h->err = 1;
	h->col += n;
}

static inline void
hw_newline(struct hw *h)
{
	if (h->col > h->max)
		h->max = h->col;
	hw_put(h, "\n", 1);
	h->col = 0;
}

static inline void
hw_begin(struct hw *h, struct buf *b, const char *name)
{
	h->b = b;
	h->col = h->max = 0;
	h->any = h->err = 0;
	hw_put(h, name, strlen(name));
	hw_put(h, ":", 1);
}

/* The space, or the fold and space, before a token of n octets. */
static inline void
hw_sep(struct hw *h, size_t n)
{
	if (h->any && h->col + 1 + n > MIME_FOLD)
		hw_newline(h);
	hw_put(h, " ", 1);
	h->any = 1;
}

static inline int
hw_end(struct hw *h, size_t mark)
{
	hw_newline(h);
	if (h->err) {
		restore(h->b, mark);
		return -1;
	}
	return 0;
}

/* mime_enc.c */
extern const char hexdig[];		/* "0123456789ABCDEF" */

/* Bytes always escaped (*esc) and bytes that may be (the return). */
size_t	qp_scan(const unsigned char *s, size_t len, size_t *esc);

/* 1 when base64 is shorter than quoted-printable for len bytes, esc of
 * them always escaped. */
int	prefer_base64(size_t len, size_t esc);

/* Quoted-printable of s; grow: an upper bound of the bytes that may be
 * escaped (qp_scan(), or len); *esc: the bytes that were. */
int	qp_encode(struct buf *, const unsigned char *s, size_t len, int flags,
	    size_t grow, size_t *esc);

/* Printable ASCII without "=?" (s[len] is readable, as a NUL). */
int	printable_ok(const char *s, size_t len);

/* Printable ASCII, no space at either end, no "=?": safe unencoded. */
int	plain_ok(const char *s, size_t len);

/* RFC 2047 encoded words of s (see mime_words); phrase: a display name,
 * where a run that fits in one word is not split. */
void	hw_words(struct hw *, const unsigned char *s, size_t len, int phrase);

/* " filename=..." of Content-Disposition: quoted, or RFC 2231 (%-encoded,
 * in continuations where it does not fit one line). */
void	hw_filename(struct hw *, const char *fn);

/* " name=..." of Content-Type, for readers that predate RFC 2231: quoted
 * as hw_filename() would, else a quoted string of RFC 2047 encoded words
 * (what most mail clients write, although RFC 2047 5 does not allow
 * encoded words in a quoted string; readers of name= decode them). */
void	hw_name(struct hw *, const char *fn);

#endif
