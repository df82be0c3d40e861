/* addr: strict address syntax (see addr.h). */
#include <string.h>

#include "addr.h"

static int
is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

static int
fail(const char **why, const char *reason)
{
	if (why != NULL)
		*why = reason;
	return -1;
}

/* What is wrong with any octet of s, or NULL; sets *len. */
static const char *
bad_octets(const char *s, size_t *len)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x80)
			return "non-ASCII addresses are not allowed";
		if (*p == ' ' || *p == '\t')
			return "spaces are not allowed in an address";
		if (*p < 0x20 || *p == 0x7f)
			return "control characters are not allowed in an "
			    "address";
		if (*p == '"')
			return "quoted local parts are not allowed";
		if (*p == '(' || *p == ')')
			return "comments are not allowed in an address";
		if (*p == '<' || *p == '>')
			return "give the bare address, without angle brackets";
		if (*p == '[' || *p == ']')
			return "IP address literals are not allowed";
	}
	*len = (size_t)(p - (const unsigned char *)s);
	return NULL;
}

static const char *
bad_local(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0)
		return "the local part (before @) is empty";
	if (len > ADDR_LOCAL_MAX)
		return "the local part (before @) is longer than 64 octets";
	if (s[0] == '.' || s[len - 1] == '.')
		return "the local part starts or ends with a dot";
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (s[i + 1] == '.')
				return "the local part has two dots in a row";
		} else if (!addr_is_atext((unsigned char)s[i]))
			return "invalid character in the local part";
		else if (s[i] == '=' && s[i + 1] == '?')
			return "'=?' is not allowed in an address";
	}
	return NULL;
}

static const char *
bad_domain(const char *s, size_t len)
{
	size_t	 i, start, nlabels = 0, digits;

	if (len == 0)
		return "the domain (after @) is empty";
	if (len > ADDR_DOMAIN_MAX)
		return "the domain is longer than 253 octets";
	for (start = 0; start <= len; start = i + 1) {
		digits = 0;
		for (i = start; i < len && s[i] != '.'; i++) {
			if (!is_ldh((unsigned char)s[i]))
				return "invalid character in the domain";
			if (s[i] >= '0' && s[i] <= '9')
				digits++;
		}
		if (i == start)
			return "the domain has an empty label";
		if (i - start > ADDR_LABEL_MAX)
			return "a domain label is longer than 63 octets";
		if (s[start] == '-' || s[i - 1] == '-')
			return "a domain label starts or ends with a hyphen";
		nlabels++;
		if (i == len && digits == i - start)
			return "the top-level domain is numeric "
			    "(IP addresses are not allowed)";
	}
	if (nlabels < 2)
		return "the domain needs at least two labels";
	return NULL;
}

int
addr_valid(const char *email, const char **why)
{
	const char	*at, *reason;
	size_t		 len = 0;

	if (email == NULL || *email == '\0')
		return fail(why, "the address is empty");
	if ((reason = bad_octets(email, &len)) != NULL)
		return fail(why, reason);
	if (len > ADDR_MAX)
		return fail(why, "the address is longer than 254 octets");
	if ((at = strchr(email, '@')) == NULL)
		return fail(why, "the address has no @");
	if (strchr(at + 1, '@') != NULL)
		return fail(why, "the address has more than one @");
	if ((reason = bad_local(email, (size_t)(at - email))) != NULL ||
	    (reason = bad_domain(at + 1, len - (size_t)(at - email) - 1)) !=
	    NULL)
		return fail(why, reason);
	return 0;
}

int
addr_equal(const char *a, const char *b)
{
	unsigned char	 ca, cb;

	do {
		ca = (unsigned char)*a++;
		cb = (unsigned char)*b++;
		if (ca >= 'A' && ca <= 'Z')
			ca += 'a' - 'A';
		if (cb >= 'A' && cb <= 'Z')
			cb += 'a' - 'A';
		if (ca != cb)
			return 0;
	} while (ca != '\0');
	return 1;
}
