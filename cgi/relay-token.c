/*
 * relay-token: make a new caller token.
 *
 *	relay-token [-o FILE] NAME SENDER...
 *
 * Prints the token (32 bytes from arc4random, as 64 hex digits) on the
 * first line and the line to add to the tokens file on the second.  With
 * -o the token goes into FILE instead (a new file, mode 0600) and stdout
 * has only the tokens-file line: no terminal needed.  The token is shown
 * this once; only its SHA-256 is kept.
 *
 *	relay-token --webhook-secret NAME URL [TYPE...]
 *
 * Prints a webhook signing secret ("whsec_" and the base64 of 32 bytes
 * from arc4random) on the first line and the line to add to the webhooks
 * file (hookd(8)) on the second.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "addr.h"
#include "text.h"
#include "tokens.h"

#define TOKEN_BYTES	32
#define SECRET_BYTES	32

static void
usage(void)
{
	fprintf(stderr, "usage: relay-token [-o file] NAME SENDER...\n"
	    "       relay-token --webhook-secret NAME URL [TYPE...]\n");
	exit(EX_USAGE);
}

/* The token into a new file of its own, 0600; 0 or -1 with errno set. */
static int
write_token(const char *path, const char *token)
{
	size_t	len = strlen(token), off = 0;
	ssize_t	n;
	int	fd, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	while (off <= len) {
		n = off < len ? write(fd, token + off, len - off) :
		    write(fd, "\n", 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	saved = errno ? errno : EIO;
	if (fd != -1)
		close(fd);
	unlink(path);
	errno = saved;
	return -1;
}

static void
base64(const unsigned char *p, size_t n, char *out)
{
	static const char	b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			i;
	unsigned long		v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (unsigned long)p[i] << 16 | p[i + 1] << 8 | p[i + 2];
		*out++ = b64[v >> 18 & 63];
		*out++ = b64[v >> 12 & 63];
		*out++ = b64[v >> 6 & 63];
		*out++ = b64[v & 63];
	}
	if (i < n) {
		v = (unsigned long)p[i] << 16 | (i + 1 < n ? p[i + 1] << 8 : 0);
		*out++ = b64[v >> 18 & 63];
		*out++ = b64[v >> 12 & 63];
		*out++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

/* A webhook secret and its webhooks-file line; the URL is not checked. */
static int
webhook_secret(int argc, char *argv[])
{
	unsigned char	raw[SECRET_BYTES];
	char		b[(SECRET_BYTES + 2) / 3 * 4 + 1];
	int		a;

	if (argc < 4)
		usage();
	if (!tokens_name_valid(argv[2])) {
		fprintf(stderr, "relay-token: %s: bad caller name "
		    "(letters, digits, . _ -)\n", argv[2]);
		return EX_USAGE;
	}
	for (a = 3; a < argc; a++)
		if (strpbrk(argv[a], " \t\r\n#") != NULL || *argv[a] == '\0') {
			fprintf(stderr, "relay-token: %s: a blank or '#' in a "
			    "field\n", argv[a]);
			return EX_USAGE;
		}
	arc4random_buf(raw, sizeof(raw));
	base64(raw, sizeof(raw), b);
	explicit_bzero(raw, sizeof(raw));
	printf("whsec_%s\n%s %s whsec_%s", b, argv[2], argv[3], b);
	for (a = 4; a < argc; a++)
		printf(" %s", argv[a]);
	printf("\n");
	explicit_bzero(b, sizeof(b));
	return fflush(stdout) == 0 ? 0 : EX_IOERR;
}

int
main(int argc, char *argv[])
{
	unsigned char	 raw[TOKEN_BYTES], hash[TOKENS_HASH_LEN];
	char		 token[2 * TOKEN_BYTES + 1], hashhex[2 * TOKENS_HASH_LEN + 1];
	const char	*why, *outfile = NULL;
	int		 a, ch;

	if (argc > 1 && strcmp(argv[1], "--webhook-secret") == 0)
		return webhook_secret(argc, argv);
	while ((ch = getopt(argc, argv, "o:")) != -1) {
		switch (ch) {
		case 'o':
			outfile = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind - 1;
	argv += optind - 1;
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

	if (outfile != NULL) {
		if (write_token(outfile, token) == -1) {
			fprintf(stderr, "relay-token: %s: %s\n", outfile,
			    strerror(errno));
			explicit_bzero(token, sizeof(token));
			return errno == EEXIST ? EX_CANTCREAT : EX_IOERR;
		}
	} else
		printf("%s\n", token);
	explicit_bzero(token, sizeof(token));
	printf("%s sha256:%s", argv[1], hashhex);
	for (a = 2; a < argc; a++)
		printf(" %s", argv[a]);
	printf("\n");
	if (fflush(stdout) != 0) {
		fprintf(stderr, "relay-token: standard output: %s\n",
		    strerror(errno));
		if (outfile != NULL)
			unlink(outfile);
		return EX_IOERR;
	}
	return 0;
}
