/*
 * jobaddr: the addressing of a mail as its job keeps it for GET
 * /emails/{id} (spool_env's from and to, cc, bcc, reply-to lists): each
 * address as "Name <a@b>" or "a@b".
 */
#ifndef JOBADDR_H
#define JOBADDR_H

#include "mail.h"
#include "spool.h"

struct jobaddr {
	char	**v;		/* from, then to, cc, bcc, reply-to */
	size_t	  n;
};

/*
 * Points env->from and env->addr at strings made from m, kept in ja
 * until jobaddr_free.  0, or -1 + ENOMEM (ja left empty).
 */
int	jobaddr_fill(struct jobaddr *ja, const struct mail *m,
	    struct spool_env *env);
void	jobaddr_free(struct jobaddr *ja);
/* "Name <a@b>" (the name quoted if it needs it) or "a@b"; free after. */
char	*jobaddr_format(const struct mail_addr *);

#endif
