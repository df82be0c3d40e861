/*
 * spool_env: the header lines a job file and a delivery record share
 * beyond the envelope: from, to, cc, bcc, reply-to (the addressing as
 * given), tag and scheduled.  One writer and one line parser for both
 * formats (spool_write.c and spool_read.c for jobs, spool_record.c for
 * records).  Format: spool.h, spool(5).
 */
#define _GNU_SOURCE		/* open_memstream */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spool.h"
#include "spool_impl.h"

static const char *const addr_keys[SPOOL_NADDR] = {
	"to", "cc", "bcc", "reply-to"
};

enum { SEEN_FROM = 1, SEEN_SCHEDULED = 2 };

/* "key <escaped value>\n"; an empty value or one with CR, LF, NUL: EINVAL. */
static int
put_escaped(FILE *f, const char *key, const char *val)
{
	char	*e;
	int	 r;

	if (val == NULL || *val == '\0' || strlen(val) > SPOOL_HDR_MAX) {
		errno = EINVAL;
		return -1;
	}
	if (strpbrk(val, "\r\n") != NULL) {
		errno = EINVAL;
		return -1;
	}
	if ((e = spool_escape(val, SPOOL_HDR_MAX, 0)) == NULL)
		return -1;
	r = fprintf(f, "%s %s\n", key, e) < 0 ? -1 : 0;
	free(e);
	return r;
}

static int
format(FILE *f, const struct spool_env *env)
{
	size_t	i, k;

	if (env->from != NULL && put_escaped(f, "from", env->from) == -1)
		return -1;
	for (k = 0; k < SPOOL_NADDR; k++) {
		if (env->addr[k].n > 0 && (env->from == NULL ||
		    env->addr[k].v == NULL)) {
			errno = EINVAL;
			return -1;
		}
		for (i = 0; i < env->addr[k].n; i++)
			if (put_escaped(f, addr_keys[k], env->addr[k].v[i])
			    == -1)
				return -1;
	}
	for (i = 0; i < env->ntags; i++) {
		if (!spool_tag_valid(env->tags[i].name) ||
		    !spool_tag_valid(env->tags[i].value)) {
			errno = EINVAL;
			return -1;
		}
		if (fprintf(f, "tag %s %s\n", env->tags[i].name,
		    env->tags[i].value) < 0)
			return -1;
	}
	if (env->scheduled < 0) {
		errno = EINVAL;
		return -1;
	}
	if (env->scheduled > 0 &&
	    fprintf(f, "scheduled %lld\n", (long long)env->scheduled) < 0)
		return -1;
	return 0;
}

char *
spool_env_lines(const struct spool_env *env)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 len = 0;
	int	 r, saved;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	r = format(f, env);
	saved = errno;
	if (fclose(f) == EOF && r == 0) {
		r = -1;
		saved = errno;
	}
	if (r == -1) {
		free(buf);
		errno = saved;
		return NULL;
	}
	return buf;
}

/* How many lines of hdr start with key and a space (never the first). */
static size_t
count_lines(const char *hdr, const char *key)
{
	char	nlkey[16];
	size_t	n = 0;

	(void)snprintf(nlkey, sizeof(nlkey), "\n%s ", key);
	for (; (hdr = strstr(hdr, nlkey)) != NULL; hdr++)
		n++;
	return n;
}

int
spool_envp_init(struct spool_envp *p, struct spool_env *env, const char *hdr,
    const char ***addrv, struct spool_tag **tagv)
{
	size_t	k, total = 0, ntags;

	memset(p, 0, sizeof(*p));
	p->env = env;
	for (k = 0; k < SPOOL_NADDR; k++) {
		p->base[k] = total;
		total += count_lines(hdr, addr_keys[k]);
	}
	ntags = count_lines(hdr, "tag");
	if ((*addrv = calloc(total + 1, sizeof(char *))) == NULL ||
	    (*tagv = calloc(ntags + 1, sizeof(**tagv))) == NULL)
		return -1;
	p->addrv = *addrv;
	p->tagv = *tagv;
	env->tags = p->tagv;
	env->ntags = 0;
	env->from = NULL;
	for (k = 0; k < SPOOL_NADDR; k++) {
		env->addr[k].v = p->addrv + p->base[k];
		env->addr[k].n = 0;
	}
	return 0;
}

static int
bad(void)
{
	errno = EBADMSG;
	return -1;
}

/* "name value" of a tag line; a name may appear once. */
static int
parse_tag(struct spool_envp *p, char *val)
{
	struct spool_env	*env = p->env;
	char			*v;
	size_t			 i;

	if ((v = strchr(val, ' ')) == NULL)
		return bad();
	*v++ = '\0';
	if (!spool_tag_valid(val) || !spool_tag_valid(v))
		return bad();
	for (i = 0; i < env->ntags; i++)
		if (strcmp(p->tagv[i].name, val) == 0)
			return bad();
	p->tagv[env->ntags].name = val;
	p->tagv[env->ntags].value = v;
	env->ntags++;
	return 1;
}

/* An escaped, non-empty value, unescaped in place: never CR or LF. */
static int
text(char *val)
{
	return *val == '\0' || spool_unescape(val) == -1 || *val == '\0' ||
	    strpbrk(val, "\r\n") != NULL ? -1 : 0;
}

int
spool_envp_line(struct spool_envp *p, const char *key, char *val)
{
	struct spool_env	*env = p->env;
	const char		*errstr;
	long long		 n;
	size_t			 k;

	if (strcmp(key, "tag") == 0)
		return parse_tag(p, val);
	if (strcmp(key, "from") == 0) {
		if ((p->seen & SEEN_FROM) || text(val) == -1)
			return bad();
		p->seen |= SEEN_FROM;
		env->from = val;
		return 1;
	}
	if (strcmp(key, "scheduled") == 0) {
		if (p->seen & SEEN_SCHEDULED)
			return bad();
		p->seen |= SEEN_SCHEDULED;
		n = strtonum(val, 1, LLONG_MAX, &errstr);
		if (errstr != NULL)
			return bad();
		env->scheduled = (time_t)n;
		return 1;
	}
	for (k = 0; k < SPOOL_NADDR; k++)
		if (strcmp(key, addr_keys[k]) == 0)
			break;
	if (k == SPOOL_NADDR)
		return 0;
	if (text(val) == -1)
		return bad();
	p->addrv[p->base[k] + env->addr[k].n++] = val;
	return 1;
}

int
spool_envp_end(struct spool_envp *p)
{
	size_t	k;

	for (k = 0; k < SPOOL_NADDR; k++)
		if (p->env->addr[k].n > 0 && p->env->from == NULL)
			return bad();
	return 0;
}
