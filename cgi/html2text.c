/*
 * html2text: html to plain text on libxml2's HTML parser (see html2text.h).
 *
 * The parser runs in SAX mode: start tag, end tag and text callbacks drive
 * a small writer.  Text is cut into words at white space; a word is
 * written when it is complete, after the line breaks, the list marker or
 * indentation, or the space (or wrap) that is due before it.  libxml2
 * pairs every start with an end (it closes what the markup leaves open),
 * so the writer keeps only counters and a short stack of lists.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>

#include "buf.h"
#include "html2text.h"

#define H2T_LISTS	8	/* nested lists tracked; deeper ones share */
#define H2T_KEEP_DEPTH	256	/* a context with deeper stacks is not kept */
#define H2T_KEEP_NAMES	512	/* nor one that learned more names */
#define H2T_OPTIONS	(HTML_PARSE_RECOVER | HTML_PARSE_NONET |	\
			 HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |	\
			 HTML_PARSE_NODEFDTD | HTML_PARSE_IGNORE_ENC)

/* What an element does to the text. */
enum h2t_kind {
	K_INLINE,	/* nothing: b, span, ... */
	K_SKIP,		/* dropped with everything inside */
	K_LINE,		/* starts and ends a line */
	K_PARA,		/* starts and ends a paragraph */
	K_LIST,		/* ul, ol */
	K_ITEM,		/* li */
	K_CELL,		/* td, th: a space on either side */
	K_BR,
	K_PRE,
	K_LINK,
	K_IMG
};

struct h2t_elem {
	const char	*name;
	enum h2t_kind	 kind;
};

/* Sorted by name (see kind_of()). */
static const struct h2t_elem elems[] = {
	{ "a", K_LINK }, { "address", K_LINE }, { "article", K_LINE },
	{ "aside", K_LINE }, { "blockquote", K_PARA }, { "body", K_LINE },
	{ "br", K_BR }, { "caption", K_LINE }, { "center", K_LINE },
	{ "dd", K_LINE }, { "details", K_LINE }, { "div", K_LINE },
	{ "dl", K_PARA }, { "dt", K_LINE }, { "fieldset", K_LINE },
	{ "figcaption", K_LINE }, { "figure", K_PARA }, { "footer", K_LINE },
	{ "form", K_LINE }, { "h1", K_PARA }, { "h2", K_PARA },
	{ "h3", K_PARA }, { "h4", K_PARA }, { "h5", K_PARA },
	{ "h6", K_PARA }, { "head", K_SKIP }, { "header", K_LINE },
	{ "hr", K_PARA }, { "html", K_LINE }, { "img", K_IMG },
	{ "legend", K_LINE }, { "li", K_ITEM }, { "main", K_LINE },
	{ "nav", K_LINE }, { "noframes", K_SKIP }, { "ol", K_LIST },
	{ "p", K_PARA }, { "pre", K_PRE }, { "script", K_SKIP },
	{ "section", K_LINE }, { "style", K_SKIP }, { "summary", K_LINE },
	{ "svg", K_SKIP }, { "table", K_PARA }, { "td", K_CELL },
	{ "template", K_SKIP }, { "th", K_CELL }, { "title", K_SKIP },
	{ "tr", K_LINE }, { "ul", K_LIST }, { "xml", K_SKIP },
};

struct h2t_list {
	int		 ordered;
	unsigned long	 n;		/* the last item's number */
	size_t		 base;		/* column of the markers */
	size_t		 indent;	/* column of the items' text */
};

struct h2t {
	struct buf	*out;
	size_t		 start;		/* out->len before */
	struct buf	 word;		/* the word being read */
	size_t		 wordw;		/* its code points */
	size_t		 col;		/* code points on the current line */
	int		 nl;		/* LFs at the end of out */
	int		 brk;		/* line ends due: 0, 1, 2 (empty line) */
	int		 space;		/* a space is due before the next word */
	int		 any;		/* anything was written */
	char		 marker[24];	/* a list marker due, or "" */
	size_t		 marker_base;
	struct h2t_list	 lists[H2T_LISTS];
	int		 nlists;	/* may exceed H2T_LISTS */
	int		 loose_item;	/* inside an li outside any list */
	int		 depth;		/* open elements */
	int		 skip;		/* depth of the element dropped, or 0 */
	int		 pre;		/* open pre elements */
	int		 pre_fresh;	/* nothing read yet in this pre */
	char		*href;		/* of the open link, or NULL */
	size_t		 hreflen;
	int		 link_depth;
	struct buf	 ltext;		/* the link's text, spaces collapsed */
	struct buf	 ws;		/* white space waiting in a pre */
	int		 err;		/* errno of the first failure, or 0 */
};

void
html2text_init(void)
{
	xmlInitParser();
}

/*
 * Where the elements of each first letter start in elems[]: the names
 * come from every tag of every template, so a lookup compares with the
 * few names of one letter only.  Filled once (key_init()).
 */
static unsigned char	elem_first[27];

static void
elem_index(void)
{
	size_t	 i, n = sizeof(elems) / sizeof(elems[0]);
	int	 c;

	for (c = 0, i = 0; c < 26; c++) {
		elem_first[c] = (unsigned char)i;
		while (i < n && elems[i].name[0] == 'a' + c)
			i++;
	}
	elem_first[26] = (unsigned char)n;
}

static enum h2t_kind
kind_of(const char *name)
{
	unsigned	 c = (unsigned char)name[0] - 'a';
	const char	*a, *b;
	size_t		 i;

	if (c >= 26)
		return K_INLINE;
	for (i = elem_first[c]; i < elem_first[c + 1]; i++) {
		for (a = name + 1, b = elems[i].name + 1; *a == *b && *a != '\0';
		    a++, b++)
			;
		if (*a == *b)
			return elems[i].kind;
	}
	return K_INLINE;
}

/* Output. */

static void
fail(struct h2t *t)
{
	if (t->err == 0)
		t->err = errno != 0 ? errno : ENOMEM;
}

static inline void
put(struct h2t *t, const void *s, size_t n)
{
	struct buf	*b = t->out;

	if (t->err || n == 0)
		return;
	if (b->cap - b->len > n) {	/* no call while it has room */
		memcpy(b->data + b->len, s, n);
		b->len += n;
		b->data[b->len] = '\0';
	} else if (buf_add(b, s, n) == -1)
		fail(t);
}

static void
put_spaces(struct h2t *t, size_t n)
{
	static const char	 sp[] = "                        ";

	while (n > 0 && !t->err) {
		put(t, sp, n < sizeof(sp) - 1 ? n : sizeof(sp) - 1);
		n -= n < sizeof(sp) - 1 ? n : sizeof(sp) - 1;
	}
}

/* Drop spaces and tabs at the end of the current line. */
static void
trim_line(struct h2t *t)
{
	struct buf	*b = t->out;

	if (t->err || b->data == NULL)
		return;
	while (b->len > t->start && (b->data[b->len - 1] == ' ' ||
	    b->data[b->len - 1] == '\t'))
		b->len--;
	b->data[b->len] = '\0';
}

/*
 * End the line.  nl counts the LFs at the end of out, a line of white
 * space only (in pre) counting as empty: such a line is dropped when it
 * would make a second empty line.
 */
static void
newline(struct h2t *t)
{
	trim_line(t);
	t->col = 0;
	if (t->nl >= 2)
		return;
	put(t, "\n", 1);
	t->nl++;
}

static size_t
indent_of(const struct h2t *t)
{
	size_t	 n = 0;

	if (t->nlists > 0)
		n = t->lists[(t->nlists < H2T_LISTS ? t->nlists : H2T_LISTS) -
		    1].indent;
	else if (t->loose_item)
		n = 2;
	return n < HTML2TEXT_INDENT_MAX ? n : HTML2TEXT_INDENT_MAX;
}

/* The line breaks due. */
static void
line_breaks(struct h2t *t)
{
	if (t->brk == 0)
		return;
	if (t->any) {
		if (t->col > 0)
			newline(t);
		while (t->nl < t->brk)
			newline(t);
	}
	t->brk = 0;
	t->space = 0;
}

/* The line breaks due, then the marker or indentation of a new line. */
static void
line_begin(struct h2t *t)
{
	size_t	 n;

	line_breaks(t);
	if (t->col > 0)
		return;
	t->space = 0;
	if (t->marker[0] != '\0') {
		n = strlen(t->marker);
		put_spaces(t, t->marker_base);
		put(t, t->marker, n);
		t->col = t->marker_base + n;
		t->marker[0] = '\0';
	} else {
		put_spaces(t, indent_of(t));
		t->col = indent_of(t);
	}
}

static void
put_word(struct h2t *t, const char *w, size_t n, size_t width)
{
	if (n == 0)
		return;
	if (t->brk > 0 || t->col == 0)
		line_begin(t);
	else if (t->space) {
		if (t->col + 1 + width > HTML2TEXT_WIDTH &&
		    t->col > indent_of(t)) {
			newline(t);
			line_begin(t);
		} else {
			put(t, " ", 1);
			t->col++;
		}
	}
	put(t, w, n);
	t->col += width;
	t->nl = 0;
	t->any = 1;
	t->space = 0;
}

static void
flush_word(struct h2t *t)
{
	put_word(t, t->word.data, t->word.len, t->wordw);
	t->word.len = 0;
	t->wordw = 0;
}

/* A word boundary: the word is written, a space is due. */
static void
boundary(struct h2t *t)
{
	flush_word(t);
	if (t->any)
		t->space = 1;
}

/* Line ends due before the next word; inside a list, never an empty line. */
static void
want_break(struct h2t *t, int n)
{
	flush_word(t);
	if (n > 1 && (t->nlists > 0 || t->loose_item))
		n = 1;
	if (t->brk < n)
		t->brk = n;
}

/* Text. */

/*
 * Length of the UTF-8 sequence at s, or 0 for a byte that starts none
 * (libxml2 passes some invalid input through; such bytes are dropped).
 */
static size_t
u8len(const unsigned char *s, size_t n)
{
	size_t	 l, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	l = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (l > n)
		return 0;
	for (i = 1; i < l; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return l;
}

enum { C_CHAR, C_SPACE, C_DROP, C_LF };

static int
class_of(const unsigned char *s, size_t l)
{
	unsigned long	 c;

	if (l == 1) {
		if (s[0] == '\n')
			return C_LF;
		if (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' ||
		    s[0] == '\f' || s[0] == '\v')
			return C_SPACE;
		return s[0] < 0x20 || s[0] == 0x7f || s[0] >= 0x80 ? C_DROP :
		    C_CHAR;
	}
	c = s[0] & (0x7f >> l);
	while (--l > 0)
		c = c << 6 | (*++s & 0x3f);
	if (c == 0xa0 || c == 0x2028 || c == 0x2029 || c == 0x3000 ||
	    (c >= 0x2000 && c <= 0x200a) || c == 0x202f || c == 0x205f)
		return C_SPACE;
	if ((c >= 0x80 && c <= 0x9f) || c == 0xad || c == 0x34f ||
	    (c >= 0x200b && c <= 0x200f) || (c >= 0x2060 && c <= 0x2064) ||
	    c == 0xfeff)
		return C_DROP;
	return C_CHAR;
}

/* The link's text, for comparing with its url; no longer than needed. */
static void
link_text(struct h2t *t, const unsigned char *s, size_t l, int cls)
{
	struct buf	*b = &t->ltext;

	if (t->href == NULL || b->len > t->hreflen)
		return;
	if (cls == C_CHAR) {
		if (buf_add(b, s, l) == -1)
			fail(t);
	} else if (b->len > 0 && b->data[b->len - 1] != ' ' &&
	    buf_addc(b, ' ') == -1)
		fail(t);
}

/* In a pre: white space waits for the next character of its line. */
static void
pre_char(struct h2t *t, const unsigned char *s, size_t l, int cls)
{
	int	 fresh = t->pre_fresh;

	t->pre_fresh = 0;
	if (cls == C_DROP || s[0] == '\r')
		return;
	if (cls == C_SPACE) {
		if (buf_addc(&t->ws, s[0] == '\t' ? '\t' : ' ') == -1)
			fail(t);
		return;
	}
	if (cls == C_LF) {
		t->ws.len = 0;
		if (!fresh && t->any) {
			line_breaks(t);
			newline(t);
		}
		return;
	}
	if (t->brk > 0 || t->col == 0)
		line_begin(t);
	put(t, t->ws.data, t->ws.len);
	t->col += t->ws.len;
	t->ws.len = 0;
	put(t, s, l);
	t->col++;
	t->nl = 0;
	t->any = 1;
}

/* Add to the word being read; without a call while it has room. */
static inline void
word_add(struct h2t *t, const unsigned char *s, size_t l)
{
	struct buf	*w = &t->word;

	if (l == 0)
		return;
	if (w->cap - w->len > l) {
		memcpy(w->data + w->len, s, l);
		w->len += l;
		w->data[w->len] = '\0';
	} else if (buf_add(w, s, l) == -1)
		fail(t);
}

/* Printable ASCII but space: the common case, taken a run at a time. */
static inline int
is_plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f;
}

static void
text(struct h2t *t, const unsigned char *s, size_t len)
{
	size_t	 i, l;
	int	 cls;

	if (t->skip > 0)
		return;
	for (i = 0; i < len && !t->err; i += l) {
		if (t->pre == 0 && is_plain(s[i])) {
			for (l = 1; i + l < len && is_plain(s[i + l]); l++)
				;
			word_add(t, s + i, l);
			t->wordw += l;
			link_text(t, s + i, l, C_CHAR);
			continue;
		}
		if ((l = u8len(s + i, len - i)) == 0) {
			l = 1;
			continue;
		}
		cls = class_of(s + i, l);
		link_text(t, s + i, l, cls == C_LF ? C_SPACE : cls);
		if (t->pre > 0) {
			pre_char(t, s + i, l, cls);
			continue;
		}
		if (cls == C_CHAR) {
			word_add(t, s + i, l);
			t->wordw++;
		} else if (cls != C_DROP)
			boundary(t);
	}
}

/* Elements. */

static const char *
attr(const xmlChar **atts, const char *name)
{
	size_t	 i;

	for (i = 0; atts != NULL && atts[i] != NULL; i += 2)
		if (strcmp((const char *)atts[i], name) == 0)
			return atts[i + 1] != NULL ?
			    (const char *)atts[i + 1] : "";
	return NULL;
}

/* display:none in a style attribute, or the hidden attribute. */
static int
hidden(const xmlChar **atts)
{
	static const char	 want[] = "display:none";
	const char		*s = attr(atts, "style");
	size_t			 k = 0;

	if (attr(atts, "hidden") != NULL)
		return 1;
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			continue;
		if ((*s | 0x20) == want[k] || *s == want[k]) {
			if (want[++k] == '\0')
				return 1;
		} else
			k = (*s | 0x20) == want[0];
	}
	return 0;
}

static void
list_start(struct h2t *t, int ordered, const xmlChar **atts)
{
	struct h2t_list	*l;
	const char	*start = ordered ? attr(atts, "start") : NULL;
	long		 n = start != NULL ? strtol(start, NULL, 10) : 1;

	want_break(t, 2);
	if (++t->nlists > H2T_LISTS)
		return;
	l = &t->lists[t->nlists - 1];
	l->ordered = ordered;
	l->n = n > 0 && n < 1000000 ? (unsigned long)n - 1 : 0;
	l->base = t->nlists > 1 ? t->lists[t->nlists - 2].indent :
	    t->loose_item ? 2 : 0;
	if (l->base > HTML2TEXT_INDENT_MAX)
		l->base = HTML2TEXT_INDENT_MAX;
	l->indent = l->base + 2;
}

static void
item_start(struct h2t *t)
{
	struct h2t_list	*l;
	int		 n;

	want_break(t, 1);
	if (t->nlists == 0) {
		t->loose_item = 1;
		t->marker_base = 0;
		memcpy(t->marker, "- ", 3);
		return;
	}
	l = &t->lists[(t->nlists < H2T_LISTS ? t->nlists : H2T_LISTS) - 1];
	if (l->ordered)
		n = snprintf(t->marker, sizeof(t->marker), "%lu. ", ++l->n);
	else
		n = snprintf(t->marker, sizeof(t->marker), "- ");
	if (n < 0 || (size_t)n >= sizeof(t->marker))
		n = snprintf(t->marker, sizeof(t->marker), "- ");
	t->marker_base = l->base;
	l->indent = l->base + (size_t)n;
}

/* Whether the url only repeats the link's text. */
static int
url_is_text(const char *url, size_t ulen, const struct buf *txt)
{
	size_t	 tlen = txt->len;

	if (tlen > 0 && txt->data[tlen - 1] == ' ')
		tlen--;
	if (ulen > 7 && strncasecmp(url, "mailto:", 7) == 0)
		url += 7, ulen -= 7;
	else if (ulen > 4 && strncasecmp(url, "tel:", 4) == 0)
		url += 4, ulen -= 4;
	if (ulen > 0 && url[ulen - 1] == '/')
		ulen--;
	if (tlen > 0 && txt->data[tlen - 1] == '/')
		tlen--;
	return tlen == ulen &&
	    (ulen == 0 || memcmp(url, txt->data, ulen) == 0);
}

static void
link_end(struct h2t *t)
{
	char	*w;
	size_t	 n, width = 2, i;

	if (t->href == NULL)
		return;
	flush_word(t);
	if (!url_is_text(t->href, t->hreflen, &t->ltext)) {
		n = t->hreflen + 2;
		for (i = 0; i < t->hreflen; i++)
			width += ((unsigned char)t->href[i] & 0xc0) != 0x80;
		if ((w = malloc(n + 1)) == NULL)
			fail(t);
		else {
			w[0] = '<';
			memcpy(w + 1, t->href, t->hreflen);
			w[n - 1] = '>';
			w[n] = '\0';
			if (t->ltext.len > 0 && t->any)
				t->space = 1;
			put_word(t, w, n, width);
			free(w);
		}
	}
	free(t->href);
	t->href = NULL;
	t->ltext.len = 0;
}

/*
 * The href as written in the text: white space trimmed, inner runs as
 * %20, controls dropped; NULL for none, "#fragment" and javascript:.
 */
static void
link_start(struct h2t *t, const char *href)
{
	size_t	 i, l, hl, n = 0;
	char	*u;
	int	 gap = 0;

	link_end(t);
	while (href != NULL && (*href == ' ' || *href == '\t' ||
	    *href == '\n' || *href == '\r' || *href == '\f'))
		href++;
	if (href == NULL || *href == '\0' || *href == '#' ||
	    strncasecmp(href, "javascript:", 11) == 0)
		return;
	hl = strlen(href);
	if ((u = malloc(3 * hl + 1)) == NULL) {
		fail(t);
		return;
	}
	for (i = 0; href[i] != '\0'; i += l) {
		l = u8len((const unsigned char *)href + i, hl - i);
		if (l == 0)
			l = 1;
		else if (l == 1 && (href[i] == ' ' || href[i] == '\t' ||
		    href[i] == '\n' || href[i] == '\r' || href[i] == '\f'))
			gap = n > 0;
		else if (l > 1 || ((unsigned char)href[i] > ' ' &&
		    href[i] != 0x7f)) {
			if (gap)
				memcpy(u + n, "%20", 3), n += 3;
			gap = 0;
			memcpy(u + n, href + i, l);
			n += l;
		}
	}
	u[n] = '\0';
	t->href = u;
	t->hreflen = n;
	t->link_depth = t->depth;
	t->ltext.len = 0;
}

static void
on_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
	struct h2t	*t = ctx;
	const char	*name = (const char *)xname, *alt;
	enum h2t_kind	 k = kind_of(name);

	t->depth++;
	if (t->skip > 0 || t->err)
		return;
	if (k == K_SKIP || hidden(atts)) {
		t->skip = t->depth;
		return;
	}
	switch (k) {
	case K_LINE:
		want_break(t, 1);
		break;
	case K_PARA:
		want_break(t, 2);
		break;
	case K_LIST:
		list_start(t, name[0] == 'o', atts);
		break;
	case K_ITEM:
		item_start(t);
		break;
	case K_CELL:
		boundary(t);
		break;
	case K_BR:
		flush_word(t);
		if (t->any && t->brk < 2)
			t->brk++;
		break;
	case K_PRE:
		want_break(t, 2);
		t->pre++;
		t->pre_fresh = 1;
		t->ws.len = 0;
		break;
	case K_LINK:
		link_start(t, attr(atts, "href"));
		break;
	case K_IMG:
		if ((alt = attr(atts, "alt")) != NULL)
			text(t, (const unsigned char *)alt, strlen(alt));
		break;
	default:
		break;
	}
}

static void
on_end(void *ctx, const xmlChar *xname)
{
	struct h2t	*t = ctx;
	const char	*name = (const char *)xname;
	enum h2t_kind	 k = kind_of(name);

	if (t->skip > 0 || t->err) {
		if (t->skip == t->depth)
			t->skip = 0;
		t->depth--;
		return;
	}
	switch (k) {
	case K_LINE:
		want_break(t, 1);
		break;
	case K_PARA:
		want_break(t, 2);
		break;
	case K_LIST:
		flush_word(t);
		if (t->nlists > 0)
			t->nlists--;
		want_break(t, 2);
		break;
	case K_ITEM:
		want_break(t, 1);
		t->marker[0] = '\0';
		if (t->nlists == 0)
			t->loose_item = 0;
		break;
	case K_CELL:
		boundary(t);
		break;
	case K_PRE:
		if (t->pre > 0)
			t->pre--;
		t->ws.len = 0;
		want_break(t, 2);
		break;
	case K_LINK:
		if (t->href != NULL && t->link_depth == t->depth)
			link_end(t);
		break;
	default:
		break;
	}
	t->depth--;
}

static void
on_text(void *ctx, const xmlChar *s, int len)
{
	if (len > 0)
		text(ctx, s, (size_t)len);
}

static void
on_ignore(void *ctx, const xmlChar *s, int len)
{
	(void)ctx;
	(void)s;
	(void)len;
}

static void
on_error(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

/* End of input: the last word, one final LF, nothing after it. */
static void
finish(struct h2t *t)
{
	struct buf	*b = t->out;

	link_end(t);
	flush_word(t);
	if (t->err)
		return;
	if (!t->any)
		return;
	trim_line(t);
	while (b->len > t->start && b->data[b->len - 1] == '\n')
		b->len--;
	b->data[b->len] = '\0';
	put(t, "\n", 1);
}

/*
 * Whether s holds only well-formed UTF-8 (what libxml2's parser reads
 * without an encoder; a request's html always does, its JSON was checked).
 */
static int
utf8_ok(const unsigned char *s, size_t n)
{
	size_t	 i = 0, l;
	uint64_t w;

	while (i < n) {
		if (n - i >= 8) {
			memcpy(&w, s + i, 8);
			if ((w & 0x8080808080808080ULL) == 0) {
				i += 8;
				continue;
			}
		}
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((l = u8len(s + i, n - i)) == 0)
			return 0;
		i += l;
	}
	return 1;
}

/*
 * One parser context per thread, kept between conversions: creating and
 * freeing one (its dictionary, stacks and SAX handler) costs more than
 * parsing a short template.  htmlCtxtReset() clears its state before
 * each document; what it keeps is its stacks and its dictionary of
 * element and attribute names (never text or attribute values).  A
 * context that grew past what templates need, or that failed, is freed.
 */
static pthread_key_t	h2t_key;
static pthread_once_t	h2t_once = PTHREAD_ONCE_INIT;
static int		h2t_key_ok;

static void
ctxt_free(void *p)
{
	htmlFreeParserCtxt(p);
}

static void
key_init(void)
{
	elem_index();
	h2t_key_ok = pthread_key_create(&h2t_key, ctxt_free) == 0;
}

static htmlParserCtxtPtr
ctxt_get(void)
{
	htmlParserCtxtPtr	 ctxt;

	if (pthread_once(&h2t_once, key_init) == 0 && h2t_key_ok &&
	    (ctxt = pthread_getspecific(h2t_key)) != NULL)
		return ctxt;
	if ((ctxt = htmlNewParserCtxt()) == NULL)
		return NULL;
	memset(ctxt->sax, 0, sizeof(*ctxt->sax));
	ctxt->sax->initialized = XML_SAX2_MAGIC;
	ctxt->sax->startElement = on_start;
	ctxt->sax->endElement = on_end;
	ctxt->sax->characters = on_text;
	ctxt->sax->ignorableWhitespace = on_text;
	ctxt->sax->cdataBlock = on_ignore;
	ctxt->sax->serror = on_error;
	if (h2t_key_ok && pthread_setspecific(h2t_key, ctxt) != 0) {
		htmlFreeParserCtxt(ctxt);
		return NULL;
	}
	return ctxt;
}

/* After a document: nothing of it stays but names; big or failed, gone. */
static void
ctxt_put(htmlParserCtxtPtr ctxt, int failed)
{
	xmlParserInputPtr	 in;

	while ((in = inputPop(ctxt)) != NULL)
		xmlFreeInputStream(in);
	xmlCtxtResetLastError(ctxt);
	ctxt->userData = NULL;
	if (failed || !h2t_key_ok || ctxt->nameMax > H2T_KEEP_DEPTH ||
	    xmlDictSize(ctxt->dict) > H2T_KEEP_NAMES) {
		if (h2t_key_ok)
			(void)pthread_setspecific(h2t_key, NULL);
		htmlFreeParserCtxt(ctxt);
	}
}

/*
 * Parse html into t's callbacks.  Well-formed UTF-8 without a NUL (as a
 * request's html always is: its JSON was checked) is read as UTF-8 from
 * the start, from a NUL-terminated copy (*copy, to be freed after the
 * parser let go of it) that is an input with no buffer behind it, as
 * libxml2 reads an entity's text: no encoder (passing "UTF-8" runs every
 * byte through libxml2's UTF-8 to UTF-8 converter) and no refills.
 * Anything else goes through that converter, which passes bad bytes on
 * (u8len() drops them) where the bare parser would take the rest of the
 * input for Latin-1.
 */
static int
parse(htmlParserCtxtPtr ctxt, struct h2t *t, const char *html, size_t len,
    char **copy)
{
	xmlParserInputPtr	 in;
	htmlDocPtr		 doc;

	ctxt->userData = t;
	if (memchr(html, '\0', len) != NULL ||
	    !utf8_ok((const unsigned char *)html, len)) {
		doc = htmlCtxtReadMemory(ctxt, html, (int)len, NULL, "UTF-8",
		    H2T_OPTIONS);
		if (doc != NULL)
			xmlFreeDoc(doc);
		return ctxt->errNo == XML_ERR_NO_MEMORY ? -1 : 0;
	}
	if ((*copy = malloc(len + 1)) == NULL)
		return -1;
	memcpy(*copy, html, len);
	(*copy)[len] = '\0';
	htmlCtxtReset(ctxt);
	if ((in = xmlNewInputStream(ctxt)) == NULL)
		return -1;
	in->base = in->cur = (const xmlChar *)*copy;
	in->end = in->base + len;
	in->length = (int)len;
	if (inputPush(ctxt, in) < 0) {
		xmlFreeInputStream(in);
		return -1;
	}
	htmlCtxtUseOptions(ctxt, H2T_OPTIONS);
	ctxt->charset = XML_CHAR_ENCODING_UTF8;
	htmlParseDocument(ctxt);
	if (ctxt->myDoc != NULL) {
		xmlFreeDoc(ctxt->myDoc);
		ctxt->myDoc = NULL;
	}
	return ctxt->errNo == XML_ERR_NO_MEMORY ? -1 : 0;
}

int
html2text_convert(struct buf *out, const char *html, size_t len)
{
	htmlParserCtxtPtr	 ctxt;
	struct h2t		 t;
	size_t			 mark = out->len;
	char			*copy = NULL;
	int			 failed;

	if (len > INT_MAX) {
		errno = EOVERFLOW;
		return -1;
	}
	memset(&t, 0, sizeof(t));
	t.out = out;
	t.start = out->len;
	buf_init(&t.word);
	buf_init(&t.ltext);
	buf_init(&t.ws);
	if ((ctxt = ctxt_get()) == NULL) {
		errno = ENOMEM;
		return -1;
	}
	failed = parse(ctxt, &t, html, len, &copy) == -1;
	if (failed && t.err == 0)
		t.err = ENOMEM;
	ctxt_put(ctxt, failed || t.err != 0);
	free(copy);
	finish(&t);
	free(t.href);
	buf_free(&t.word);
	buf_free(&t.ltext);
	buf_free(&t.ws);
	if (t.err) {
		out->len = mark;
		if (out->data != NULL)
			out->data[mark] = '\0';
		errno = t.err;
		return -1;
	}
	return 0;
}
