/*
 * benchjob: the benchmark's job (see benchjob.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "benchjob.h"

int
bench_enqueue(struct spool *sp, const void *msg, size_t len,
    char id[SPOOL_ID_LEN + 1])
{
	static const char *const rcpt[] = { "alice@example.net",
	    "bob@example.net", "audit@example.org" };
	struct spool_env	 env;
	char			 msgid[SPOOL_ID_LEN + sizeof("@relay.test")];

	if (spool_id_new(id) == -1)
		return -1;
	(void)snprintf(msgid, sizeof(msgid), "%s@relay.test", id);
	memset(&env, 0, sizeof(env));
	env.id = id;
	env.created = time(NULL);
	env.caller = "bench";
	env.message_id = msgid;
	env.sender = "orders@example.org";
	env.rcpt = rcpt;
	env.nrcpt = 3;
	env.subject = "Your order has shipped \xe2\x9c\x94";
	return spool_enqueue(sp, &env, msg, len);
}
