/*
 * isotime: date-times as ISO 8601 writes them with a zone, for scheduled
 * sending and for the answers of GET /emails/{id}.
 */
#ifndef ISOTIME_H
#define ISOTIME_H

#include <time.h>

#define ISOTIME_LEN	20	/* "2026-12-01T18:16:09Z" */

/*
 * "YYYY-MM-DDTHH:MM[:SS[.frac]]" followed by "Z", "+HH:MM", "+HHMM" or
 * "+HH" (or "-"), nothing else: 0 with *t, or -1.  Years before 1970 are
 * refused; fractions of a second are dropped.
 */
int	 isotime_parse(const char *, time_t *);
/* t as "YYYY-MM-DDTHH:MM:SSZ" into buf; returns buf. */
char	*isotime_format(time_t, char buf[ISOTIME_LEN + 1]);

#endif
