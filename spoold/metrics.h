/*
 * metrics: counters that relay-fcgi's GET /metrics shows for every
 * program, kept in one file per program under the spool (metrics/NAME,
 * opened through spool_metrics_open) and mapped MAP_SHARED.
 *
 * A program is the only writer of its file.  At start it makes a new file
 * (written beside, then renamed over the old one, so a reader that still
 * maps the old one never sees it shrink) and holds an OFD write lock on it
 * while it runs: its counters begin at zero with every start, so a crash
 * and a restart never count anything twice, and the lock tells a reader
 * whether the program is up.  A file holds series: a name with its labels
 * ("mail_relay_handovers_total{outcome=\"ok\"}") and a 64-bit value that
 * only ever changes by an atomic add.  A series is added once, under the
 * writer's mutex, and published by a release store of the count; a reader
 * loads the count with acquire and reads that many complete series.
 *
 * Values are integers; series whose name ends in "_seconds" or
 * "_seconds_sum" hold microseconds and are shown as seconds.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

struct spool;

#define METRICS_SERIES_MAX	2048	/* per program */
#define METRICS_NAME_MAX	120	/* a series name with labels, NUL */
#define METRICS_BUCKETS_MAX	16

/* The programs that keep a file, as their files are named. */
#define METRICS_RELAY_FCGI	"relay-fcgi"
#define METRICS_SPOOLD		"spoold"
#define METRICS_TRACKD		"trackd"
#define METRICS_HOOKD		"hookd"

/*
 * Makes this process's file for program and maps it.  -1 + errno when it
 * cannot: the counters then go to memory nobody reads, and the program
 * carries on.  Call once, after privileges are dropped.
 */
int		 metrics_init(struct spool *, const char *program);

/*
 * The value of a series, added at zero if new; never NULL (a full file
 * or a name too long gives a counter nobody reads).  Thread-safe.  Keep
 * the pointer: adding to it is one atomic instruction.
 */
uint64_t	*metrics_series(const char *name);
/* The same with the name made by printf; label values must be escaped. */
uint64_t	*metrics_seriesf(const char *fmt, ...)
		    __attribute__((format(printf, 1, 2)));

static inline void
metrics_add(uint64_t *v, uint64_t n)
{
	__atomic_fetch_add(v, n, __ATOMIC_RELAXED);
}

/*
 * A histogram with upper bounds in microseconds, shown in seconds.
 * labels is "" or such as "outcome=\"ok\"".
 */
struct metrics_hist {
	uint64_t	*bucket[METRICS_BUCKETS_MAX + 1];	/* + "+Inf" */
	uint64_t	*sum, *count;
	uint64_t	 bound[METRICS_BUCKETS_MAX];
	size_t		 nbounds;
};
void		 metrics_hist_init(struct metrics_hist *, const char *family,
		    const char *labels, const uint64_t *bounds_usec, size_t n);
void		 metrics_hist_observe(const struct metrics_hist *,
		    uint64_t usec);

/* Escapes a label value ("\\", "\"", newline) into out; truncates. */
void		 metrics_label(char *out, size_t size, const char *value);

/* ---- the reading side (relay-fcgi) ---- */

struct metrics_view {
	const void	*map;
	size_t		 size;
	size_t		 nseries;
	long long	 start;		/* the program's start, unix seconds */
	char		 version[32];
};

/*
 * Maps program's file read-only: 1 when the program runs (holds the
 * lock), 0 when it does not or has no file (view empty), -1 + errno.
 */
int		 metrics_view_open(struct spool *, const char *program,
		    struct metrics_view *);
void		 metrics_view_close(struct metrics_view *);
/* Series i: its name, and its value loaded atomically. */
const char	*metrics_view_series(const struct metrics_view *, size_t i,
		    uint64_t *value);

#endif
