/*
 * fuzz_tokens: the callers file through tokens_load().  The first input
 * byte picks the file mode, the rest is the file.
 *
 * A mode that is group- or world-writable or world-readable is always
 * refused.  Accepted: at least one caller; names of 1..63 letters,
 * digits, '.', '_', '-', all different; token hashes all different;
 * every caller has senders, each a valid address it is allowed (case
 * aside); tokens_auth() of the input returns a caller only if the hash
 * matches.  Refused: the message names the file.
 */
#include <sys/stat.h>

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "fuzzutil.h"
#include "tokens.h"

static const mode_t modes[] = { 0600, 0400, 0640, 0440, 0644, 0660, 0602,
    0604, 0620, 0666 };

static void
check_tokens(const struct tokens *t, const uint8_t *data, size_t len)
{
	unsigned char		 h[TOKENS_HASH_LEN];
	const struct caller	*c, *found;
	char			 up[300];
	size_t			 i, k, j;

	FZ_CHECK(t->ncallers >= 1, "no callers accepted");
	for (i = 0; i < t->ncallers; i++) {
		c = &t->callers[i];
		FZ_CHECK(c->name[0] != '\0' && strlen(c->name) < TOKENS_NAME_MAX,
		    "name length");
		for (j = 0; c->name[j] != '\0'; j++)
			FZ_CHECK(isalnum((unsigned char)c->name[j]) ||
			    strchr("._-", c->name[j]), "name %s", c->name);
		for (k = 0; k < i; k++)
			FZ_CHECK(strcmp(c->name, t->callers[k].name) != 0 &&
			    memcmp(c->hash, t->callers[k].hash, TOKENS_HASH_LEN),
			    "repeated caller or hash");
		FZ_CHECK(c->nsenders >= 1, "caller %s without senders", c->name);
		for (k = 0; k < c->nsenders; k++) {
			FZ_CHECK(addr_valid(c->senders[k], NULL) == 0,
			    "sender %s", c->senders[k]);
			for (j = 0; c->senders[k][j] != '\0'; j++)
				up[j] = (char)toupper((unsigned char)
				    c->senders[k][j]);
			up[j] = '\0';
			FZ_CHECK(tokens_sender_allowed(c, c->senders[k]) &&
			    tokens_sender_allowed(c, up), "sender not allowed");
		}
	}
	tokens_hash((const char *)data, len, h);
	found = tokens_auth(t, (const char *)data, len);
	FZ_CHECK(len > 0 || found == NULL, "empty token accepted");
	FZ_CHECK(found == NULL || memcmp(found->hash, h, sizeof(h)) == 0,
	    "wrong caller");
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char	path[PATH_MAX];
	struct tokens	t;
	struct fz_in	in = { data, len };
	mode_t		mode = modes[fz_byte(&in) % (sizeof(modes) /
			    sizeof(modes[0]))];
	char		err[512];
	int		fd, rc;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/tokens", fz_tmpdir());
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1 ||
	    (in.len > 0 && write(fd, in.p, in.len) != (ssize_t)in.len) ||
	    fchmod(fd, mode) == -1 || close(fd) == -1)
		abort();
	err[0] = '\0';
	rc = tokens_load(path, &t, err, sizeof(err));
	if (mode & (S_IWGRP | S_IWOTH | S_IROTH))
		FZ_CHECK(rc == -1, "mode %04o accepted", (unsigned)mode);
	if (rc == 0) {
		check_tokens(&t, in.p, in.len);
		tokens_free(&t);
	} else
		FZ_CHECK(strncmp(err, path, strlen(path)) == 0 &&
		    err[strlen(path)] == ':', "error \"%s\"", err);
	return 0;
}
