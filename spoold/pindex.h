/*
 * pindex: spoold's in-memory index of pending/, the jobs waiting for their
 * turn.  Each entry is a job id and the time it falls due (the file's
 * mtime); the index only says which job to look at next; the file decides
 * (spoold checks it before every claim), so a stale entry costs a stat,
 * never a wrong delivery.
 *
 * Entries are kept sorted by id.  An id starts with its enqueue time in
 * fixed-width hex, so id order is enqueue order and the first due entry
 * is the oldest due job.  A removed entry is only marked and skipped;
 * the array is compacted once more than half of it (and over
 * PINDEX_MIN entries) is removed, and given back by pindex_shrink once a
 * backlog has drained.
 *
 * An entry may also carry a hold-off time (pindex_hold_off): a job whose
 * state change failed stays out of the drain until then, even when the
 * put-back file says it is due, so spoold does not spin on it.
 *
 * Treat struct pindex as opaque; zero it (or pindex_init) before use.
 */
#ifndef PINDEX_H
#define PINDEX_H

#include <stddef.h>
#include <time.h>

#include "spool.h"

#define PINDEX_MIN	256	/* entries kept allocated however few */

struct pindex_entry {
	char	 id[SPOOL_ID_LEN + 1];
	char	 removed;
	time_t	 due;
	time_t	 not_before;	/* the hold-off */
};

struct pindex {
	struct pindex_entry	*v;
	size_t			 n, cap, nremoved;
	size_t			 lo;	/* none live before v[lo] */
};

void	 pindex_init(struct pindex *);
void	 pindex_free(struct pindex *);
/* Forgets every entry, keeping the memory (before a full rescan). */
void	 pindex_clear(struct pindex *);

/*
 * Ids are valid spool ids (spool_id_valid).
 *
 * Adds id, due at due, or updates its due time.  A removed entry comes
 * back without a hold-off; a live one keeps its hold-off.  -1 + ENOMEM.
 */
int	 pindex_put(struct pindex *, const char *id, time_t due);
/* Puts id back due at due but not picked before not_before.  -1 + ENOMEM. */
int	 pindex_hold_off(struct pindex *, const char *id, time_t due,
	    time_t not_before);
/* Takes id out of the index (claimed, or gone from pending/). */
void	 pindex_remove(struct pindex *, const char *id);

/*
 * The oldest job due at now (its due time and its hold-off both passed):
 * copies its id into id and returns 1, the entry staying in the index.
 * Otherwise returns 0 with *next set to the earliest time a job in the
 * index falls due, 0 if the index is empty.
 */
int	 pindex_first_due(struct pindex *, time_t now,
	    char id[SPOOL_ID_LEN + 1], time_t *next);

/* Jobs in the index. */
size_t	 pindex_count(const struct pindex *);
/* Gives memory back when far fewer jobs are left than there is room for. */
void	 pindex_shrink(struct pindex *);

#endif
