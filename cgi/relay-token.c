/*
 * relay-token: make a new caller token.
 *
 *	relay-token NAME SENDER...
 *
 * Prints the token (32 bytes from arc4random, as 64 hex digits) on the
 * first line and the line to add to the tokens file on the second.  The
 * token is shown this once; only its SHA-256 is kept.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "addr.h"
#include "tokens.h"

#define TOKEN_BYTES	32

static void
usage(void)
{
	fprintf(stderr, "usage: relay-token NAME SENDER...\n");
	exit(EX_USAGE);
}

static void
hex(const unsigned char *p, size_t n, char *out)
{
	static const char	digits[] = "0123456789abcdef";
	size_t			i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

int
main(int argc, char *argv[])
{
	unsigned char	 raw[TOKEN_BYTES], hash[TOKENS_HASH_LEN];
	char		 token[2 * TOKEN_BYTES + 1], hashhex[2 * TOKENS_HASH_LEN + 1];
	const char	*why;
	size_t		 i;
	int		 a;

	if (argc < 3)
		usage();
	for (i = 0; argv[1][i] != '\0'; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789._-", argv[1][i]) == NULL)
			break;
	if (argv[1][i] != '\0' || i == 0 || i >= TOKENS_NAME_MAX) {
		fprintf(stderr, "relay-token: %s: bad caller name "
		    "(letters, digits, . _ -)\n", argv[1]);
		return EX_USAGE;
	}
	for (a = 2; a < argc; a++)
		if (addr_valid(argv[a], &why) == -1) {
			fprintf(stderr, "relay-token: %s: %s\n", argv[a], why);
			return EX_USAGE;
		}

	arc4random_buf(raw, sizeof(raw));
	hex(raw, sizeof(raw), token);
	tokens_hash(token, strlen(token), hash);
	hex(hash, sizeof(hash), hashhex);
	explicit_bzero(raw, sizeof(raw));

	printf("%s\n%s sha256:%s", token, argv[1], hashhex);
	for (a = 2; a < argc; a++)
		printf(" %s", argv[a]);
	printf("\n");
	explicit_bzero(token, sizeof(token));
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
