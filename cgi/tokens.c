/*
 * tokens: load the callers file and authenticate bearer tokens.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "secretfile.h"
#include "tokens.h"

void
tokens_hash(const char *token, size_t len, unsigned char out[TOKENS_HASH_LEN])
{
	SHA2_CTX	ctx;

	SHA256Init(&ctx);
	SHA256Update(&ctx, (const unsigned char *)token, len);
	SHA256Final(out, &ctx);
}

static void
caller_free(struct caller *c)
{
	size_t	i;

	for (i = 0; i < c->nsenders; i++)
		free(c->senders[i]);
	free(c->senders);
}

void
tokens_free(struct tokens *t)
{
	size_t	i;

	for (i = 0; i < t->ncallers; i++)
		caller_free(&t->callers[i]);
	free(t->callers);
	t->callers = NULL;
	t->ncallers = 0;
}

int
tokens_name_valid(const char *s)
{
	size_t	n;

	for (n = 0; s[n] != '\0'; n++)
		if (!(s[n] >= 'a' && s[n] <= 'z') &&
		    !(s[n] >= 'A' && s[n] <= 'Z') &&
		    !(s[n] >= '0' && s[n] <= '9') && strchr("._-", s[n]) == NULL)
			return 0;
	return n > 0 && n < TOKENS_NAME_MAX;
}

static int
hex_decode(const char *s, unsigned char *out, size_t outlen)
{
	size_t		i;
	unsigned int	v;

	if (strlen(s) != outlen * 2)
		return -1;
	for (i = 0; i < outlen; i++) {
		if (!isxdigit((unsigned char)s[2 * i]) ||
		    !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (unsigned char)v;
	}
	return 0;
}

static const char *
sender_add(struct caller *c, const char *addr)
{
	const char	 *why;
	char		**p;

	if (addr_valid(addr, &why) == -1)
		return why;
	p = reallocarray(c->senders, c->nsenders + 1, sizeof(*p));
	if (p == NULL)
		return strerror(errno);
	c->senders = p;
	if ((c->senders[c->nsenders] = strdup(addr)) == NULL)
		return strerror(errno);
	c->nsenders++;
	return NULL;
}

/* Parse one non-empty line into c; NULL or the reason it is malformed. */
static const char *
caller_parse(char *line, struct caller *c)
{
	char		*name, *hash, *sender, *save = NULL;
	const char	*why;
	const char	*sep = " \t";

	memset(c, 0, sizeof(*c));
	name = strtok_r(line, sep, &save);
	hash = strtok_r(NULL, sep, &save);
	if (name == NULL || !tokens_name_valid(name))
		return "bad caller name (letters, digits, . _ -)";
	strlcpy(c->name, name, sizeof(c->name));
	if (hash == NULL || strncmp(hash, "sha256:", 7) != 0 ||
	    hex_decode(hash + 7, c->hash, sizeof(c->hash)) == -1)
		return "expected sha256:<64 hex digits> after the name";
	while ((sender = strtok_r(NULL, sep, &save)) != NULL)
		if ((why = sender_add(c, sender)) != NULL)
			return why;
	if (c->nsenders == 0)
		return "no sender address";
	return NULL;
}

static const char *
tokens_add(struct tokens *t, struct caller *c)
{
	struct caller	*p;
	size_t		 i;

	for (i = 0; i < t->ncallers; i++) {
		if (strcmp(t->callers[i].name, c->name) == 0)
			return "caller name repeated";
		if (memcmp(t->callers[i].hash, c->hash, sizeof(c->hash)) == 0)
			return "token hash repeated";
	}
	p = reallocarray(t->callers, t->ncallers + 1, sizeof(*p));
	if (p == NULL)
		return strerror(errno);
	t->callers = p;
	t->callers[t->ncallers++] = *c;
	return NULL;
}

static const char *
tokens_line(char *line, void *arg)
{
	struct caller	 c;
	const char	*why;

	if ((why = caller_parse(line, &c)) == NULL &&
	    (why = tokens_add(arg, &c)) == NULL)
		return NULL;
	caller_free(&c);
	return why;
}

int
tokens_load(const char *path, struct tokens *t, char *err, size_t errlen)
{
	FILE	*fp;
	int	 rc;

	t->callers = NULL;
	t->ncallers = 0;
	if ((fp = secretfile_open(path, err, errlen)) == NULL)
		return -1;
	rc = secretfile_lines(fp, path, tokens_line, t, err, errlen);
	fclose(fp);
	if (rc == 0 && t->ncallers == 0) {
		snprintf(err, errlen, "%s: no callers", path);
		rc = -1;
	}
	if (rc == -1)
		tokens_free(t);
	return rc;
}

/*
 * timingsafe_bcmp(3) as OpenBSD has it: the time taken depends on n only.
 * Debian 12's libbsd does not export it.
 */
static int
ct_bcmp(const void *b1, const void *b2, size_t n)
{
	const volatile unsigned char	*p1 = b1, *p2 = b2;
	unsigned char			 ret = 0;

	for (; n > 0; n--)
		ret |= *p1++ ^ *p2++;
	return ret != 0;
}

/*
 * Hash the presented token and compare it with every caller's hash, all of
 * them, in constant time: neither the position of a match nor the number of
 * matching bytes shows in the time taken.
 */
const struct caller *
tokens_auth(const struct tokens *t, const char *token, size_t len)
{
	unsigned char		 hash[TOKENS_HASH_LEN];
	const struct caller	*found = NULL;
	size_t			 i;

	if (len == 0)
		return NULL;
	tokens_hash(token, len, hash);
	for (i = 0; i < t->ncallers; i++)
		if (ct_bcmp(hash, t->callers[i].hash,
		    sizeof(hash)) == 0)
			found = &t->callers[i];
	explicit_bzero(hash, sizeof(hash));
	return found;
}

int
tokens_sender_allowed(const struct caller *c, const char *addr)
{
	size_t	i;

	for (i = 0; i < c->nsenders; i++)
		if (addr_equal(c->senders[i], addr))
			return 1;
	return 0;
}

int
tokens_equal(const void *a, const void *b, size_t n)
{
	return ct_bcmp(a, b, n) == 0;
}
