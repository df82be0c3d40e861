/*
 * html2text: the plain text of an html body, for the text/plain part of
 * a message whose caller sent html only.  libxml2's HTML parser reads the
 * markup (broken markup as browsers do, entities decoded); what it reports
 * is written as text:
 *
 *	block elements (p, div, h1..h6, tr, ...)  line breaks, paragraphs
 *						  separated by an empty line
 *	ul/ol li				  "- item", "1. item", nested
 *						  lists indented
 *	<a href="u">text</a>			  "text <u>", or "u" when the text
 *						  is the url (mailto: and tel:
 *						  as written in the text)
 *	<img alt="x">				  x
 *	td, th					  separated by a space
 *	pre					  as written, not wrapped (but
 *						  one empty line at most)
 *	script, style, head, title, template,
 *	svg, comments, elements with
 *	display:none or the hidden attribute	  dropped
 *
 * Runs of white space (and U+00A0) become one space; zero-width and
 * soft-hyphen characters and control characters are dropped; lines are
 * wrapped at spaces to HTML2TEXT_WIDTH code points (a longer word keeps its
 * own line).  The output is UTF-8 with LF line breaks, no trailing white
 * space, no empty line at either end, never two empty lines in a row, and
 * ends with LF unless it is empty (html with no text at all).
 *
 * No network and no entity loading; no tree is built (SAX), so memory
 * beyond the output is bounded by the parser's own stacks.  The output is
 * at most a small multiple of the input (list indentation is capped).
 * Safe to call from several threads at once once html2text_init() ran.
 */
#ifndef HTML2TEXT_H
#define HTML2TEXT_H

#include <stddef.h>

#include "buf.h"

#define HTML2TEXT_WIDTH		76	/* MIME_FOLD: what QP keeps intact */
#define HTML2TEXT_INDENT_MAX	24	/* columns of list indentation */

/* Initialise libxml2.  Once, in main, before any thread starts. */
void	html2text_init(void);

/*
 * Append the text of len bytes of html (UTF-8) to out.  0, or -1 with
 * errno set (ENOMEM, EOVERFLOW) and out as it was.
 */
int	html2text_convert(struct buf *out, const char *html, size_t len);

#endif
