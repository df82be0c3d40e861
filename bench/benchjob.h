/*
 * benchjob: one job enqueued as relay-fcgi enqueues an accepted message,
 * with the spool's own spool_enqueue: tmp/<id>, fsync, rename into
 * pending/, fsync pending/ (shared by the threads waiting at the time).
 * The envelope is a shop's order mail to three recipients.
 */
#ifndef BENCHJOB_H
#define BENCHJOB_H

#include <stddef.h>

#include "spool.h"

/* msg as the message of a new job, its id into id: 0, or -1 with none. */
int	bench_enqueue(struct spool *, const void *msg, size_t len,
	    char id[SPOOL_ID_LEN + 1]);

#endif
