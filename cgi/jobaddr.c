/*
 * jobaddr: a mail's From, To, Cc, Bcc and Reply-To as its job keeps them
 * (spool(5): the from, to, cc, bcc and reply-to lines).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jobaddr.h"

char *
jobaddr_format(const struct mail_addr *a)
{
	struct buf	 b;
	const char	*p;
	int		 quote, r = 0;

	buf_init(&b);
	if (a->name == NULL || *a->name == '\0')
		return strdup(a->email);
	/* A name with specials is quoted, as RFC 5322 wants (dots stay). */
	quote = strpbrk(a->name, "\"\\()<>[]:;@,") != NULL;
	if (quote)
		r |= buf_addc(&b, '"');
	for (p = a->name; *p != '\0'; p++) {
		if (quote && (*p == '"' || *p == '\\'))
			r |= buf_addc(&b, '\\');
		r |= buf_addc(&b, *p);
	}
	if (quote)
		r |= buf_addc(&b, '"');
	if ((r | buf_addf(&b, " <%s>", a->email)) != 0) {
		buf_free(&b);
		errno = ENOMEM;
		return NULL;
	}
	return b.data;		/* NUL-terminated by buf */
}

void
jobaddr_free(struct jobaddr *ja)
{
	size_t	i;

	for (i = 0; i < ja->n; i++)
		free(ja->v[i]);
	free(ja->v);
	ja->v = NULL;
	ja->n = 0;
}

int
jobaddr_fill(struct jobaddr *ja, const struct mail *m, struct spool_env *env)
{
	const struct mail_addr	*list[SPOOL_NADDR] = { m->to, m->cc, m->bcc,
	    m->reply_to };
	size_t			 count[SPOOL_NADDR] = { m->nto, m->ncc,
	    m->nbcc, m->nreply_to };
	size_t			 k, i, total = 1;

	ja->n = 0;
	for (k = 0; k < SPOOL_NADDR; k++)
		total += count[k];
	if ((ja->v = calloc(total, sizeof(char *))) == NULL)
		return -1;
	if ((ja->v[ja->n++] = jobaddr_format(&m->from)) == NULL)
		goto fail;
	env->from = ja->v[0];
	for (k = 0; k < SPOOL_NADDR; k++) {
		env->addr[k].v = (const char *const *)ja->v + ja->n;
		env->addr[k].n = count[k];
		for (i = 0; i < count[k]; i++)
			if ((ja->v[ja->n++] = jobaddr_format(&list[k][i]))
			    == NULL)
				goto fail;
	}
	return 0;
fail:
	jobaddr_free(ja);
	env->from = NULL;
	memset(env->addr, 0, sizeof(env->addr));
	errno = ENOMEM;
	return -1;
}
