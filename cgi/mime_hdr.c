/*
 * mime_hdr: the header writer of mime.h: unstructured and raw header
 * lines folded at spaces, display names (atoms, quoted-strings, encoded
 * words) and address lists folded after the commas.
 */
#include <string.h>

#include "addr.h"
#include "buf.h"
#include "mail.h"
#include "mime.h"
#include "mime_int.h"

#define QUOTED_MAX	400	/* longer ASCII names: encoded words */

/*
 * " value", folded at spaces: a fold goes before a run of spaces, so that
 * unfolding gives the value back.
 */
static void
hw_plain(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j;

	for (j = 0; j < len && s[j] != ' '; j++)
		;
	hw_put(h, " ", 1);
	hw_put(h, s, j);
	h->any = 1;
	for (i = j; i < len; i = j) {
		for (j = i; j < len && s[j] == ' '; j++)
			;
		for (; j < len && s[j] != ' '; j++)
			;
		if (s[j - 1] != ' ' && h->col + (j - i) > MIME_FOLD)
			hw_newline(h);
		hw_put(h, s + i, j - i);
	}
}

int
mime_hdr_text(struct buf *b, const char *name, const char *value)
{
	struct hw	 h;
	size_t		 len = strlen(value), mark = b->len;
	int		 plain = plain_ok(value, len);

	if (plain && strlen(name) + 2 + len > MIME_LINE_MAX) {
		hw_begin(&h, NULL, name);
		hw_plain(&h, value, len);
		hw_newline(&h);
		plain = h.max <= MIME_LINE_MAX;
	}
	hw_begin(&h, b, name);
	if (plain)
		hw_plain(&h, value, len);
	else
		hw_words(&h, (const unsigned char *)value, len, 0);
	return hw_end(&h, mark);
}

int
mime_hdr_raw(struct buf *b, const char *name, const char *value)
{
	struct hw	 h;
	size_t		 mark = b->len;

	hw_begin(&h, b, name);
	hw_plain(&h, value, strlen(value));
	return hw_end(&h, mark);
}

int
mime_hdr_is_text(const char *name)
{
	return (name[0] == 'X' || name[0] == 'x') && name[1] == '-';
}

int
mime_hdr_ok(const char *name, const char *value)
{
	struct hw	 h;
	size_t		 len = strlen(value);

	if (mime_hdr_is_text(name) && !plain_ok(value, len))
		return 1;
	hw_begin(&h, NULL, name);
	hw_plain(&h, value, len);
	hw_newline(&h);
	return h.max <= MIME_LINE_MAX;
}

/* Addresses. */

static int
atoms_ok(const char *s, size_t len)
{
	size_t	 i;

	if (!plain_ok(s, len))
		return 0;
	for (i = 0; i < len; i++) {
		if (s[i] == ' ') {
			if (s[i + 1] == ' ')
				return 0;
		} else if (!addr_is_atext((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

static int
quoted_ok(const char *s, size_t len)
{
	return len <= QUOTED_MAX && printable_ok(s, len);
}

static void
hw_quoted(struct hw *h, const char *s, size_t len)
{
	size_t	 i, n = len + 2;

	for (i = 0; i < len; i++)
		n += s[i] == '"' || s[i] == '\\';
	hw_sep(h, n);
	hw_put(h, "\"", 1);
	for (i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			hw_put(h, "\\", 1);
		hw_put(h, s + i, 1);
	}
	hw_put(h, "\"", 1);
}

/* How a word of a display name is written. */
enum { W_ATOM, W_QUOTED, W_ENCODED };

/*
 * An atom as it is; other printable ASCII (specials: "Smith," "(Sales)")
 * as a quoted-string; the rest (non-ASCII, "=?", a word of specials too
 * long to be quoted) in encoded words.
 */
static int
word_kind(const char *s, size_t len)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		if (!addr_is_atext((unsigned char)s[i]) ||
		    (s[i] == '=' && i + 1 < len && s[i + 1] == '?'))
			break;
	if (i == len)
		return W_ATOM;
	/* A quoted-string too long for a folded line is encoded (and split). */
	return len + 3 < MIME_FOLD / 2 && printable_ok(s, len) ? W_QUOTED :
	    W_ENCODED;
}

/*
 * Words separated by single spaces: atoms as they are, other ASCII words
 * as quoted-strings, each run of the other words as encoded words, split
 * only where a run does not fit in one.  Decoders drop the space between
 * two adjacent encoded words (RFC 2047 6.2) and keep it between an
 * encoded word and an atom or a quoted-string, so a run carries its inner
 * spaces encoded.  Python's email (CPython issue 128110) adds a space
 * between adjacent encoded words of an address header, and keeps exactly
 * one beside an atom or a quoted-string: only a run too long for one
 * encoded word shows an extra space there, beside its own.
 */
static void
hw_mixed(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j, run = 0;
	int	 in_run = 0, k;

	for (i = 0; i <= len; i = j + 1) {
		for (j = i; j < len && s[j] != ' '; j++)
			;
		k = word_kind(s + i, j - i);
		if (k == W_ENCODED) {
			if (!in_run)
				run = i;
			in_run = 1;
			if (j < len)
				continue;
			hw_words(h, (const unsigned char *)s + run, j - run, 1);
			return;
		}
		if (in_run)
			hw_words(h, (const unsigned char *)s + run, i - 1 - run,
			    1);
		in_run = 0;
		if (k == W_QUOTED)
			hw_quoted(h, s + i, j - i);
		else {
			hw_sep(h, j - i);
			hw_put(h, s + i, j - i);
		}
	}
}

/* Single spaces between words, none at either end. */
static int
single_spaced(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || s[0] == ' ' || s[len - 1] == ' ')
		return 0;
	for (i = 0; i + 1 < len; i++)
		if (s[i] == ' ' && s[i + 1] == ' ')
			return 0;
	return 1;
}

static void
hw_phrase(struct hw *h, const char *s, size_t len)
{
	size_t	 i, j;

	if (atoms_ok(s, len)) {
		for (i = 0; i < len; i = j + 1) {
			for (j = i; j < len && s[j] != ' '; j++)
				;
			hw_sep(h, j - i);
			hw_put(h, s + i, j - i);
		}
	} else if (quoted_ok(s, len))
		hw_quoted(h, s, len);
	else if (single_spaced(s, len))
		hw_mixed(h, s, len);
	else
		hw_words(h, (const unsigned char *)s, len, 1);
}

int
mime_hdr_addrs(struct buf *b, const char *name, const struct mail_addr *a,
    size_t n)
{
	struct hw	 h;
	size_t		 i, len, mark = b->len;
	int		 angle;

	hw_begin(&h, b, name);
	for (i = 0; i < n; i++) {
		angle = a[i].name != NULL && a[i].name[0] != '\0';
		if (angle)
			hw_phrase(&h, a[i].name, strlen(a[i].name));
		len = strlen(a[i].email);
		hw_sep(&h, len + 2 * angle + (i + 1 < n));
		if (angle)
			hw_put(&h, "<", 1);
		hw_put(&h, a[i].email, len);
		if (angle)
			hw_put(&h, ">", 1);
		if (i + 1 < n)
			hw_put(&h, ",", 1);
	}
	return hw_end(&h, mark);
}
