/*
 * hooks: the webhooks file (webhooks in relay.conf).  One caller a line:
 *
 *	NAME  URL  SECRET  [TYPE ...]
 *
 * NAME is the caller's name as in the tokens file; URL is https://, or
 * http:// only when its host is a loopback or private address (127/8,
 * 10/8, 172.16/12, 192.168/16, ::1, fc00::/7, localhost); SECRET is
 * "whsec_" and the base64 of at least 24 bytes; the TYPEs (email.sent
 * ...) are the events the caller wants, all when none is given.  '#'
 * starts a comment.  The file must not be group- or world-writable nor
 * world-readable: it holds secrets.
 */
#ifndef HOOKS_H
#define HOOKS_H

#include <stddef.h>

#define HOOKS_NAME_MAX		64
#define HOOKS_URL_MAX		2048
#define HOOKS_KEY_MAX		128	/* decoded secret bytes */
#define HOOKS_KEY_MIN		24

struct hook {
	char		 name[HOOKS_NAME_MAX];
	char		 url[HOOKS_URL_MAX];
	unsigned char	 key[HOOKS_KEY_MAX];
	size_t		 keylen;
	unsigned int	 types;		/* bit per SPOOL_EV_*; all if none */
};

struct hooks {
	struct hook	*v;
	size_t		 n;
};

/* 0, or -1 with "file[:line]: why" in err.  An empty file is valid. */
int		 hooks_load(const char *path, struct hooks *, char *err,
		    size_t errlen);
void		 hooks_free(struct hooks *);
/* The caller's hook, or NULL. */
const struct hook *hooks_find(const struct hooks *, const char *name);
/* 1 if the hook wants events of this type. */
int		 hooks_wants(const struct hook *, int type);
/* NULL if url may be used, else why not. */
const char	*hooks_url_check(const char *url);
/* The key of "whsec_<base64>": 0, or -1 if malformed or too short. */
int		 hooks_secret_decode(const char *secret, unsigned char *key,
		    size_t size, size_t *len);

#endif
