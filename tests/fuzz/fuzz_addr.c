/*
 * fuzz_addr: addr_valid() against a second implementation written from
 * the rules in addr.h, and addr_equal() against its definition.
 *
 * The reference works on the whole string at once (split at the '@',
 * then at the dots) where addr.c scans octet by octet, so the two share
 * no code and no structure.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "fuzzutil.h"

static int
atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* dot-atom, 1..64 octets, no "=?" (an encoded-word opener). */
static int
ref_local(const char *s, size_t n)
{
	size_t	i;

	if (n == 0 || n > ADDR_LOCAL_MAX || s[0] == '.' || s[n - 1] == '.')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.' && s[i + 1] == '.')
			return 0;
		if (s[i] != '.' && !atext((unsigned char)s[i]))
			return 0;
		if (s[i] == '=' && i + 1 < n && s[i + 1] == '?')
			return 0;
	}
	return 1;
}

static int
ref_label(const char *s, size_t n, int last)
{
	size_t	i, digits = 0;

	if (n == 0 || n > ADDR_LABEL_MAX || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') || s[i] == '-'))
			return 0;
	}
	return !(last && digits == n);
}

static int
ref_domain(const char *s, size_t n)
{
	const char	*dot;
	size_t		 labels = 0, k;

	if (n == 0 || n > ADDR_DOMAIN_MAX)
		return 0;
	for (;;) {
		dot = memchr(s, '.', n);
		k = dot != NULL ? (size_t)(dot - s) : n;
		if (!ref_label(s, k, dot == NULL))
			return 0;
		labels++;
		if (dot == NULL)
			break;
		s += k + 1;
		n -= k + 1;
	}
	return labels >= 2;
}

static int
ref_valid(const char *s)
{
	const char	*at = strchr(s, '@');
	size_t		 n = strlen(s);

	if (n == 0 || n > ADDR_MAX || at == NULL || strchr(at + 1, '@'))
		return 0;
	return ref_local(s, (size_t)(at - s)) &&
	    ref_domain(at + 1, n - (size_t)(at - s) - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*why = NULL;
	char		*s, *t;
	size_t		 i, n;
	int		 ok;

	if ((s = malloc(len + 1)) == NULL || (t = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	n = strlen(s);
	ok = addr_valid(s, &why) == 0;
	FZ_CHECK(ok == ref_valid(s), "addr_valid(\"%s\") = %d, reference %d",
	    s, ok, !ok);
	FZ_CHECK(ok || (why != NULL && why[0] != '\0'), "no reason given");
	FZ_CHECK(addr_valid(s, NULL) == (ok ? 0 : -1), "why == NULL differs");

	/* addr_equal: ASCII case-insensitive equality, nothing else. */
	for (i = 0; i <= n; i++)
		t[i] = (s[i] >= 'a' && s[i] <= 'z') ? s[i] - 32 : s[i];
	FZ_CHECK(addr_equal(s, t) == 1 && addr_equal(t, s) == 1,
	    "case-insensitive");
	if (n > 0) {
		t[n - 1] ^= 0x01;
		/* x ^ 1 is never x nor its other case. */
		FZ_CHECK(addr_equal(s, t) == 0, "last octet changed");
		t[n - 1] = '\0';
		FZ_CHECK(addr_equal(s, t) == 0 && addr_equal(t, s) == 0,
		    "prefix equal");
	}
	free(s);
	free(t);
	return 0;
}
