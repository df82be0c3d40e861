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
#include "text.h"
#include "tokens.h"

#define TOKEN_BYTES	32

static void
usage(void)
{
	fprintf(stderr, "usage: relay-token NAME SENDER...\n");
	exit(EX_USAGE);
}

int
main(int argc, char *argv[])
{
	unsigned char	 raw[TOKEN_BYTES], hash[TOKENS_HASH_LEN];
	char		 token[2 * TOKEN_BYTES + 1], hashhex[2 * TOKENS_HASH_LEN + 1];
	const char	*why;
	int		 a;

	if (argc < 3)
		usage();
	if (!tokens_name_valid(argv[1])) {
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
	text_hex(raw, sizeof(raw), token);
	tokens_hash(token, strlen(token), hash);
	text_hex(hash, sizeof(hash), hashhex);
	explicit_bzero(raw, sizeof(raw));

	printf("%s\n%s sha256:%s", token, argv[1], hashhex);
	for (a = 2; a < argc; a++)
		printf(" %s", argv[a]);
	printf("\n");
	explicit_bzero(token, sizeof(token));
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}
