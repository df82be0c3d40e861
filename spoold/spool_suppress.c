/*
 * spool_suppress: the suppression list, suppress/<name>, one file per
 * address named by the hex SHA-256 of the normalised address, so that a
 * check is one fstatat(2) however long the list is.
 */
#define _GNU_SOURCE		/* asprintf */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sha2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"
#include "text.h"

#define SUPP_MAGIC	"mail-relay-suppress 1\n"
#define SUPP_NAME_LEN	64
#define SUPP_TMP	"supp."		/* tmp/supp.<name>.<pid> */
#define SUPP_FILE_MAX	4096
#define ADDRESS_MAX	319

int
spool_addr_normalise(const char *addr, char *out, size_t size)
{
	const char	*at;
	size_t		 i, len;

	if (addr == NULL || (len = strlen(addr)) == 0 || len > ADDRESS_MAX ||
	    len >= size || (at = strrchr(addr, '@')) == NULL || at == addr ||
	    at[1] == '\0') {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < len; i++) {
		if ((unsigned char)addr[i] <= 0x20 || addr[i] == 0x7f) {
			errno = EINVAL;
			return -1;
		}
		out[i] = addr + i > at ? (char)tolower((unsigned char)addr[i]) :
		    addr[i];
	}
	out[len] = '\0';
	return 0;
}

static int
supp_name(const char *addr, char norm[ADDRESS_MAX + 1],
    char name[SUPP_NAME_LEN + 1])
{
	SHA2_CTX	ctx;
	unsigned char	md[SHA256_DIGEST_LENGTH];

	if (spool_addr_normalise(addr, norm, ADDRESS_MAX + 1) == -1)
		return -1;
	SHA256Init(&ctx);
	SHA256Update(&ctx, (const uint8_t *)norm, strlen(norm));
	SHA256Final(md, &ctx);
	text_hex(md, sizeof(md), name);		/* SUPP_NAME_LEN digits */
	return 0;
}

int
spool_suppress_add(struct spool *sp, const char *addr, time_t at,
    const char *id, const char *reply)
{
	char	 norm[ADDRESS_MAX + 1], name[SUPP_NAME_LEN + 1];
	char	 tmpname[sizeof(SUPP_TMP) + SUPP_NAME_LEN + 24];
	char	*ereply = NULL, *buf = NULL;
	int	 n, r = -1;

	if (supp_name(addr, norm, name) == -1)
		return -1;
	if ((id != NULL && *id != '\0' && !spool_id_valid(id)) || at < 0) {
		errno = EINVAL;
		return -1;
	}
	if (reply != NULL && *reply != '\0' &&
	    (ereply = spool_escape(reply, SPOOL_REPLY_MAX, 0)) == NULL)
		return -1;
	n = asprintf(&buf, SUPP_MAGIC "address %s\ntime %lld\nid %s\nreply %s\n",
	    norm, (long long)at, id != NULL && *id != '\0' ? id : "-",
	    ereply != NULL ? ereply : "-");
	if (n < 0) {
		buf = NULL;
		goto done;
	}
	/* Writers do not lock: the pid keeps their tmp names apart. */
	(void)snprintf(tmpname, sizeof(tmpname), SUPP_TMP "%s.%ld", name,
	    (long)getpid());
	r = spool_put_file(sp, tmpname, sp->suppress, name, buf, (size_t)n);
done:
	free(ereply);
	free(buf);
	return r;
}

int
spool_suppress_check(struct spool *sp, const char *addr)
{
	char		norm[ADDRESS_MAX + 1], name[SUPP_NAME_LEN + 1];
	struct stat	st;

	if (supp_name(addr, norm, name) == -1)
		return -1;
	if (sp->suppress == -1)
		return 0;
	if (fstatat(sp->suppress, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return errno == ENOENT ? 0 : -1;
}

/* Parses a suppression file into out; -1 + EBADMSG if it is not one. */
static int
supp_parse(char *buf, struct spool_suppression *out)
{
	static const char *const keys[] = { "address ", "time ", "id ",
	    "reply " };
	const char	*errstr;
	char		*v[4], *p = buf, *nl;
	size_t		 k;

	if (strncmp(p, SUPP_MAGIC, strlen(SUPP_MAGIC)) != 0)
		goto bad;
	p += strlen(SUPP_MAGIC);
	for (k = 0; k < 4; k++) {
		if (strncmp(p, keys[k], strlen(keys[k])) != 0 ||
		    (nl = strchr(p, '\n')) == NULL)
			goto bad;
		*nl = '\0';
		v[k] = p + strlen(keys[k]);
		p = nl + 1;
	}
	if (*p != '\0' || strlcpy(out->address, v[0], sizeof(out->address)) >=
	    sizeof(out->address))
		goto bad;
	out->at = (time_t)strtonum(v[1], 0, LLONG_MAX, &errstr);
	if (errstr != NULL)
		goto bad;
	if (strcmp(v[2], "-") == 0)
		out->id[0] = '\0';
	else if (spool_id_valid(v[2]))
		memcpy(out->id, v[2], sizeof(out->id));
	else
		goto bad;
	if (strcmp(v[3], "-") == 0)
		v[3][0] = '\0';
	else if (spool_unescape(v[3]) == -1)
		goto bad;
	(void)strlcpy(out->reply, v[3], sizeof(out->reply));
	return 0;
bad:
	errno = EBADMSG;
	return -1;
}

static int
supp_read(struct spool *sp, const char *name, struct spool_suppression *out)
{
	char	*buf;
	int	 r;

	if (spool_slurp(sp->suppress, name, SUPP_FILE_MAX, &buf, NULL) == -1)
		return -1;
	r = supp_parse(buf, out);
	free(buf);
	return r;
}

int
spool_suppress_get(struct spool *sp, const char *addr,
    struct spool_suppression *out)
{
	char	norm[ADDRESS_MAX + 1], name[SUPP_NAME_LEN + 1];

	if (supp_name(addr, norm, name) == -1)
		return -1;
	return supp_read(sp, name, out);
}

int
spool_suppress_remove(struct spool *sp, const char *addr)
{
	char	norm[ADDRESS_MAX + 1], name[SUPP_NAME_LEN + 1];

	if (supp_name(addr, norm, name) == -1)
		return -1;
	if (sp->suppress == -1) {
		errno = ENOENT;
		return -1;
	}
	if (unlinkat(sp->suppress, name, 0) == -1)
		return -1;
	return fsync(sp->suppress);
}

static int
supp_name_valid(const char *s)
{
	return strlen(s) == SUPP_NAME_LEN &&
	    strspn(s, "0123456789abcdef") == SUPP_NAME_LEN;
}

static int
supp_cmp(const void *a, const void *b)
{
	return strcmp(((const struct spool_suppression *)a)->address,
	    ((const struct spool_suppression *)b)->address);
}

int
spool_suppress_list(struct spool *sp, struct spool_suppression **vp,
    size_t *np)
{
	struct spool_suppression	*v = NULL, *nv;
	struct dirent			*de;
	DIR				*d;
	size_t				 n = 0, cap = 0;

	*vp = NULL;
	*np = 0;
	if (sp->suppress == -1)
		return 0;
	if ((d = spool_dir_open(sp->suppress)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!supp_name_valid(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				free(v);
				(void)closedir(d);
				return -1;
			}
			v = nv;
		}
		if (supp_read(sp, de->d_name, &v[n]) == 0)
			n++;		/* gone or unreadable: skipped */
	}
	(void)closedir(d);
	if (n > 1)
		qsort(v, n, sizeof(*v), supp_cmp);
	*vp = v;
	*np = n;
	return 0;
}

long
spool_suppress_count(struct spool *sp)
{
	struct dirent	*de;
	DIR		*d;
	long		 n = 0;

	if (sp->suppress == -1)
		return 0;
	if ((d = spool_dir_open(sp->suppress)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (supp_name_valid(de->d_name))
			n++;
	(void)closedir(d);
	return n;
}
