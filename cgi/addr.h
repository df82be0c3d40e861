/*
 * addr: the e-mail addresses the relay accepts, a strict subset of the
 * RFC 5321 Mailbox: a dot-atom local part of at most 64 octets without
 * "=?" (it would open an RFC 2047 encoded word, which some software
 * decodes even in an address), '@', and a domain of at least two LDH
 * labels (each 1..63 octets, no leading or trailing hyphen, at most 253
 * octets in all, top-level label not all digits); 254 octets at most.
 * Quoted local parts, IP literals, comments, spaces, angle brackets and
 * non-ASCII addresses are refused.  relay-fcgi(8) lists every rule.
 */
#ifndef ADDR_H
#define ADDR_H

#include <string.h>

#define ADDR_MAX	254	/* octets in a whole address */
#define ADDR_LOCAL_MAX	64
#define ADDR_DOMAIN_MAX	253
#define ADDR_LABEL_MAX	63

/* 0 when valid; -1 with *why (if why != NULL) set to a short reason. */
int	addr_valid(const char *email, const char **why);

/*
 * 1 when c is RFC 5322 atext (3.2.3): a letter, a digit or one of
 * !#$%&'*+-/=?^_`{|}~, what a dot-atom holds besides dots; else 0.
 */
static inline int
addr_is_atext(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* 1 when a and b are the same address, ASCII case-insensitively, else 0. */
int	addr_equal(const char *a, const char *b);

#endif
