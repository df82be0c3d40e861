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

#define ISOTIME_SCHEDULE_MAX	(30 * 24 * 60 * 60)

struct cJSON;
struct req_error;

/*
 * A scheduled time (scheduled_at, scheduledAt: the JSON value v) into
 * *due: a string isotime_parse() takes, at most 30 days after now; a time
 * already past is now.  -1: err filled (invalid_scheduled_at, field).
 */
int	 isotime_schedule(const struct cJSON *v, time_t now, time_t *due,
	    const char *field, struct req_error *err);

#endif
