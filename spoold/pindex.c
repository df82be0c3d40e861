/*
 * pindex: the in-memory index of pending/ (see pindex.h).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "pindex.h"

void
pindex_init(struct pindex *ix)
{
	memset(ix, 0, sizeof(*ix));
}

void
pindex_free(struct pindex *ix)
{
	free(ix->v);
	pindex_init(ix);
}

void
pindex_clear(struct pindex *ix)
{
	ix->n = ix->nremoved = ix->lo = 0;
}

size_t
pindex_count(const struct pindex *ix)
{
	return ix->n - ix->nremoved;
}

/* Where id is, or would go; *found says which. */
static size_t
search(const struct pindex *ix, const char *id, int *found)
{
	size_t	lo = 0, hi = ix->n, mid;
	int	c;

	*found = 0;
	if (ix->n > 0 && strcmp(ix->v[ix->n - 1].id, id) < 0)
		return ix->n;		/* the usual case: a new job */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if ((c = strcmp(ix->v[mid].id, id)) == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Makes room for and inserts a new entry at i. */
static int
insert(struct pindex *ix, size_t i, const char *id, time_t due)
{
	struct pindex_entry	*nv;
	size_t			 ncap;

	if (ix->n == ix->cap) {
		ncap = ix->cap ? ix->cap * 2 : PINDEX_MIN;
		if ((nv = reallocarray(ix->v, ncap, sizeof(*nv))) == NULL)
			return -1;
		ix->v = nv;
		ix->cap = ncap;
	}
	memmove(&ix->v[i + 1], &ix->v[i], (ix->n - i) * sizeof(*ix->v));
	memset(&ix->v[i], 0, sizeof(ix->v[i]));
	memcpy(ix->v[i].id, id, strnlen(id, SPOOL_ID_LEN));
	ix->v[i].due = due;
	ix->n++;
	return 0;
}

/* Puts id in at due; its entry's position, or -1 + ENOMEM. */
static long
put(struct pindex *ix, const char *id, time_t due)
{
	struct pindex_entry	*e;
	size_t			 i;
	int			 found;

	i = search(ix, id, &found);
	if (!found) {
		if (insert(ix, i, id, due) == -1)
			return -1;
	} else {
		e = &ix->v[i];
		if (e->removed) {
			ix->nremoved--;
			e->removed = 0;
			e->not_before = 0;
		}
		e->due = due;
	}
	if (i < ix->lo)
		ix->lo = i;
	return (long)i;
}

int
pindex_put(struct pindex *ix, const char *id, time_t due)
{
	return put(ix, id, due) == -1 ? -1 : 0;
}

int
pindex_hold_off(struct pindex *ix, const char *id, time_t due,
    time_t not_before)
{
	long	i;

	if ((i = put(ix, id, due)) == -1)
		return -1;
	ix->v[i].not_before = not_before;
	return 0;
}

/* Drops the removed entries; positions change. */
static void
compact(struct pindex *ix)
{
	size_t	i, k = 0;

	for (i = 0; i < ix->n; i++)
		if (!ix->v[i].removed)
			ix->v[k++] = ix->v[i];
	ix->n = k;
	ix->nremoved = 0;
	ix->lo = 0;
}

void
pindex_remove(struct pindex *ix, const char *id)
{
	size_t	i;
	int	found;

	i = search(ix, id, &found);
	if (!found || ix->v[i].removed)
		return;
	ix->v[i].removed = 1;
	ix->nremoved++;
	if (ix->nremoved > PINDEX_MIN && ix->nremoved > ix->n / 2)
		compact(ix);
}

int
pindex_first_due(struct pindex *ix, time_t now, char id[SPOOL_ID_LEN + 1],
    time_t *next)
{
	const struct pindex_entry	*e;
	size_t				 i;
	time_t				 due;

	*next = 0;
	while (ix->lo < ix->n && ix->v[ix->lo].removed)
		ix->lo++;
	for (i = ix->lo; i < ix->n; i++) {
		e = &ix->v[i];
		if (e->removed)
			continue;
		due = e->due > e->not_before ? e->due : e->not_before;
		if (due <= now) {
			memcpy(id, e->id, SPOOL_ID_LEN + 1);
			return 1;
		}
		if (*next == 0 || due < *next)
			*next = due;
	}
	return 0;
}

/*
 * Once a backlog has drained, the index gives its memory back: its size
 * follows the queue, not the longest queue spoold has seen.
 */
void
pindex_shrink(struct pindex *ix)
{
	struct pindex_entry	*nv;
	size_t			 live = pindex_count(ix), ncap;

	if (ix->cap <= PINDEX_MIN || live > ix->cap / 8)
		return;
	compact(ix);
	ncap = live * 2 > PINDEX_MIN ? live * 2 : PINDEX_MIN;
	if ((nv = reallocarray(ix->v, ncap, sizeof(*nv))) == NULL)
		return;
	ix->v = nv;
	ix->cap = ncap;
	malloc_trim(0);		/* and the heap the last rescan grew */
}
