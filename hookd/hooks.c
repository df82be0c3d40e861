/*
 * hooks: reading the webhooks file.  See hooks.h.
 */
#define _GNU_SOURCE
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hooks.h"
#include "secretfile.h"
#include "spool.h"

#define SECRET_PREFIX	"whsec_"

static int
name_valid(const char *s)
{
	size_t	i, n = strlen(s);

	if (n == 0 || n >= HOOKS_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '.' &&
		    s[i] != '_' && s[i] != '-')
			return 0;
	return 1;
}

/* Loopback and private addresses, where plain http is allowed. */
static int
host_private(const char *host)
{
	struct in_addr	a4;
	struct in6_addr	a6;
	unsigned long	h;

	if (strcasecmp(host, "localhost") == 0)
		return 1;
	if (inet_pton(AF_INET, host, &a4) == 1) {
		h = ntohl(a4.s_addr);
		return (h >> 24) == 127 || (h >> 24) == 10 ||
		    (h >> 20) == 0xac1 || (h >> 16) == 0xc0a8;
	}
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ||
		    (a6.s6_addr[0] & 0xfe) == 0xfc;
	return 0;
}

const char *
hooks_url_check(const char *url)
{
	char		 host[256];
	const char	*p, *end;
	size_t		 n;
	int		 https;

	if (strlen(url) >= HOOKS_URL_MAX)
		return "URL too long";
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
			return "URL with a space, control or non-ASCII byte";
	if (strncasecmp(url, "https://", 8) == 0) {
		https = 1;
		p = url + 8;
	} else if (strncasecmp(url, "http://", 7) == 0) {
		https = 0;
		p = url + 7;
	} else
		return "URL must be https:// (or http:// on a private network)";
	if (strpbrk(p, "@") != NULL && strpbrk(p, "@") < p + strcspn(p, "/?#"))
		return "URL with user information";
	if (*p == '[') {
		if ((end = strchr(p, ']')) == NULL)
			return "URL with a bad host";
		p++;
	} else
		end = p + strcspn(p, ":/?#");
	n = (size_t)(end - p);
	if (n == 0 || n >= sizeof(host))
		return "URL without a host";
	memcpy(host, p, n);
	host[n] = '\0';
	if (!https && !host_private(host))
		return "http:// only to a loopback or private address; use "
		    "https://";
	return NULL;
}

int
hooks_secret_decode(const char *secret, unsigned char *key, size_t size,
    size_t *len)
{
	unsigned char	 buf[HOOKS_KEY_MAX * 2];
	const char	*b = secret + sizeof(SECRET_PREFIX) - 1;
	size_t		 n, pad = 0;
	int		 r;

	if (strncmp(secret, SECRET_PREFIX, sizeof(SECRET_PREFIX) - 1) != 0)
		return -1;
	n = strlen(b);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf))
		return -1;
	if (b[n - 1] == '=')
		pad++;
	if (n > 1 && b[n - 2] == '=')
		pad++;
	if ((r = EVP_DecodeBlock(buf, (const unsigned char *)b, (int)n)) < 0)
		return -1;
	if ((size_t)r < pad || (size_t)r - pad < HOOKS_KEY_MIN ||
	    (size_t)r - pad > size)
		return -1;
	*len = (size_t)r - pad;
	memcpy(key, buf, *len);
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static const char *
hook_parse(char *line, struct hook *h)
{
	char		*name, *url, *secret, *type;
	const char	*why;
	int		 t;

	memset(h, 0, sizeof(*h));
	name = strsep(&line, " \t");
	while (line != NULL && (*line == ' ' || *line == '\t'))
		line++;
	url = strsep(&line, " \t");
	while (line != NULL && (*line == ' ' || *line == '\t'))
		line++;
	secret = strsep(&line, " \t");
	if (name == NULL || url == NULL || secret == NULL || *url == '\0' ||
	    *secret == '\0')
		return "expected: NAME URL SECRET [TYPE ...]";
	if (!name_valid(name))
		return "bad caller name";
	if ((why = hooks_url_check(url)) != NULL)
		return why;
	if (hooks_secret_decode(secret, h->key, sizeof(h->key), &h->keylen)
	    == -1)
		return "secret must be whsec_ and the base64 of 24 to 128 "
		    "bytes (relay-token --webhook-secret makes one)";
	(void)snprintf(h->name, sizeof(h->name), "%s", name);
	(void)snprintf(h->url, sizeof(h->url), "%s", url);
	while ((type = strsep(&line, " \t,")) != NULL) {
		if (*type == '\0')
			continue;
		if ((t = spool_event_type_parse(type)) == -1)
			return "unknown event type";
		h->types |= 1u << t;
	}
	return NULL;
}

static const char *
hooks_line(char *line, void *arg)
{
	struct hooks	*hs = arg;
	struct hook	 h, *nv;
	const char	*why;

	why = hook_parse(line, &h);
	if (why == NULL && hooks_find(hs, h.name) != NULL)
		why = "caller named twice";
	if (why == NULL) {
		if ((nv = reallocarray(hs->v, hs->n + 1, sizeof(*nv))) == NULL)
			why = "out of memory";
		else {
			hs->v = nv;
			hs->v[hs->n++] = h;
		}
	}
	OPENSSL_cleanse(&h, sizeof(h));
	return why;
}

int
hooks_load(const char *path, struct hooks *hs, char *err, size_t errlen)
{
	FILE	*fp;
	int	 rc;

	hs->v = NULL;
	hs->n = 0;
	if ((fp = secretfile_open(path, err, errlen)) == NULL)
		return -1;
	rc = secretfile_lines(fp, path, hooks_line, hs, err, errlen);
	fclose(fp);
	if (rc == -1)
		hooks_free(hs);
	return rc;
}

void
hooks_free(struct hooks *hs)
{
	if (hs->v != NULL)
		OPENSSL_cleanse(hs->v, hs->n * sizeof(*hs->v));
	free(hs->v);
	hs->v = NULL;
	hs->n = 0;
}

const struct hook *
hooks_find(const struct hooks *hs, const char *name)
{
	size_t	i;

	for (i = 0; i < hs->n; i++)
		if (strcmp(hs->v[i].name, name) == 0)
			return &hs->v[i];
	return NULL;
}

int
hooks_wants(const struct hook *h, int type)
{
	return h->types == 0 || (h->types & (1u << type)) != 0;
}
