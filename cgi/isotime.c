/*
 * isotime: ISO 8601 / RFC 3339 date-times with a zone, read and written.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cJSON.h>

#include "isotime.h"
#include "req_err.h"

/* n decimal digits at s into *v; -1 if any is not a digit. */
static int
digits(const char *s, int n, int *v)
{
	int	i;

	for (*v = 0, i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		*v = *v * 10 + (s[i] - '0');
	}
	return 0;
}

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static long long
days_from_civil(int y, int m, int d)
{
	long long	era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* The zone at s: "Z", "+HH:MM", "+HHMM" or "+HH"; *off in seconds. */
static int
zone(const char *s, long *off)
{
	int	h, m = 0, sign;

	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0') {
		*off = 0;
		return 0;
	}
	if (s[0] != '+' && s[0] != '-')
		return -1;
	sign = s[0] == '-' ? -1 : 1;
	if (digits(s + 1, 2, &h) == -1)
		return -1;
	s += 3;
	if (*s == ':')
		s++;
	if (*s != '\0' && (digits(s, 2, &m) == -1 || s[2] != '\0'))
		return -1;
	if (h > 23 || m > 59)
		return -1;
	*off = sign * (h * 3600L + m * 60L);
	return 0;
}

int
isotime_parse(const char *s, time_t *t)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30,
	    31, 30, 31 };
	int	y, mo, d, h, mi, sec = 0;
	long	off;

	if (strlen(s) < 17 || digits(s, 4, &y) == -1 || s[4] != '-' ||
	    digits(s + 5, 2, &mo) == -1 || s[7] != '-' ||
	    digits(s + 8, 2, &d) == -1 || (s[10] != 'T' && s[10] != 't' &&
	    s[10] != ' ') || digits(s + 11, 2, &h) == -1 || s[13] != ':' ||
	    digits(s + 14, 2, &mi) == -1)
		return -1;
	s += 16;
	if (*s == ':') {
		if (digits(s + 1, 2, &sec) == -1)
			return -1;
		s += 3;
		if (*s == '.' || *s == ',') {	/* fractions are dropped */
			if (s[1] < '0' || s[1] > '9')
				return -1;
			for (s++; *s >= '0' && *s <= '9'; s++)
				;
		}
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 ||
	    d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 ||
	    sec > 60 || zone(s, &off) == -1)
		return -1;
	if (sec == 60)
		sec = 59;			/* a leap second */
	*t = (time_t)(days_from_civil(y, mo, d) * 86400 + h * 3600 +
	    mi * 60 + sec - off);
	return 0;
}

char *
isotime_format(time_t t, char buf[ISOTIME_LEN + 1])
{
	struct tm	tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, ISOTIME_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		strlcpy(buf, "1970-01-01T00:00:00Z", ISOTIME_LEN + 1);
	return buf;
}

int
isotime_schedule(const cJSON *v, time_t now, time_t *due, const char *field,
    struct req_error *err)
{
	struct req_path	 p = REQ_PATH(err);

	err->field[0] = '\0';
	req_path_add(&p, field);
	if (!cJSON_IsString(v) || isotime_parse(v->valuestring, due) == -1)
		return req_fail(err, ERR_INVALID_SCHEDULED_AT, "%s is an ISO "
		    "8601 date and time with a zone, e.g. "
		    "2026-08-05T11:52:01.858Z", field);
	if (*due > now + ISOTIME_SCHEDULE_MAX)
		return req_fail(err, ERR_INVALID_SCHEDULED_AT, "%s is at most "
		    "30 days ahead", field);
	if (*due < now)
		*due = now;			/* a time past: now */
	return 0;
}
