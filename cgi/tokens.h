/*
 * tokens: the callers file.  One caller a line:
 *
 *	NAME  sha256:HEX  SENDER [SENDER ...]
 *
 * HEX is the SHA-256 of the caller's bearer token (never the token), the
 * senders are the exact From addresses the caller may use.  '#' starts a
 * comment.  The file must not be group- or world-writable nor
 * world-readable.
 */
#ifndef TOKENS_H
#define TOKENS_H

#include <stddef.h>

#define TOKENS_NAME_MAX		64
#define TOKENS_HASH_LEN		32

struct caller {
	char		  name[TOKENS_NAME_MAX];
	unsigned char	  hash[TOKENS_HASH_LEN];
	char		**senders;
	size_t		  nsenders;
};

struct tokens {
	struct caller	*callers;
	size_t		 ncallers;
};

/* 1 for a caller name: 1 to TOKENS_NAME_MAX - 1 of A-Z a-z 0-9 . _ - */
int		 tokens_name_valid(const char *);
/* 0, or -1 with "file[:line]: why" in err. */
int		 tokens_load(const char *, struct tokens *, char *, size_t);
void		 tokens_free(struct tokens *);
void		 tokens_hash(const char *, size_t, unsigned char[TOKENS_HASH_LEN]);
/* The caller whose token this is, or NULL.  Constant time in the token. */
const struct caller *tokens_auth(const struct tokens *, const char *, size_t);
int		 tokens_sender_allowed(const struct caller *, const char *);
/* 1 when the n bytes are equal; the time taken depends on n only. */
int		 tokens_equal(const void *, const void *, size_t n);

#endif
