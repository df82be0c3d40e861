/*
 * text: hex and one-line escaping (see text.h).
 */
#include <stdio.h>
#include <string.h>

#include "text.h"

void
text_hex(const void *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	const unsigned char	*b = p;
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Length of the UTF-8 sequence at s if it is valid (shortest form, no
 * surrogate, at most U+10FFFF) and not a C1 control, else 0.
 */
static size_t
utf8_len(const unsigned char *s)
{
	unsigned long	cp;
	size_t		n, i;

	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	cp = s[0] & (0x3f >> (n - 1));
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)	/* the NUL too */
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if (cp < 0xa0 || (n == 3 && cp < 0x800) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/* The escaped form of the character at s into e; its length in s. */
static size_t
escape_one(const unsigned char *s, char e[5])
{
	size_t	n;

	if (*s >= 0x20 && *s < 0x7f && *s != '\\') {
		e[0] = (char)*s;
		e[1] = '\0';
		return 1;
	}
	if ((n = utf8_len(s)) > 0) {
		memcpy(e, s, n);
		e[n] = '\0';
		return n;
	}
	if (*s == '\\')
		memcpy(e, "\\\\", 3);
	else if (*s == '\n')
		memcpy(e, "\\n", 3);
	else if (*s == '\r')
		memcpy(e, "\\r", 3);
	else if (*s == '\t')
		memcpy(e, "\\t", 3);
	else
		(void)snprintf(e, 5, "\\x%02x", *s);
	return 1;
}

const char *
text_line(const char *s, char *out, size_t size)
{
	const unsigned char	*p = (const unsigned char *)s;
	char			 e[5];
	size_t			 o = 0, n, len;

	while (*p != '\0') {
		n = escape_one(p, e);
		len = strlen(e);
		if (o + len > size - 4) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(out + o, e, len);
		o += len;
		p += n;
	}
	out[o] = '\0';
	return out;
}
