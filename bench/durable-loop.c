/*
 * durable-loop: the durable-write loop, the reference for durable
 * acceptance.  N threads each enqueue jobs with the spool's own
 * spool_enqueue, which relay-fcgi calls for every accepted message:
 * write tmp/<id>, fsync it, close, rename it into pending/, fsync
 * pending/ (that fsync shared by the threads waiting at the time).  No
 * HTTP, no parsing, no message building.
 *
 *	durable-loop -d dir [-t threads] [-s seconds] [-b bytes]
 *
 * dir becomes a spool; -b is the size of each job file, header included.
 * Prints one line: "ops=N secs=S rate=R p50_ms=A p99_ms=B errors=E".
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "benchjob.h"

#define NBUCKETS	20000	/* 10 us steps to 100 ms, then 1 ms steps */

struct loop {
	pthread_t		 tid;
	unsigned long long	 ops, errors;
	unsigned		*hist;
};

static struct spool	*spool;
static size_t		 file_len = 2600, msg_len;
static char		*msg;
static double		 deadline;
static atomic_int	 go;

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
bucket(double secs)
{
	unsigned long long	us = (unsigned long long)(secs * 1e6);

	if (us < 100000)
		return us / 10;
	us = us / 1000 - 100 + 10000;
	return us < NBUCKETS ? us : NBUCKETS - 1;
}

static double
bucket_ms(size_t b)
{
	return b < 10000 ? (b * 10 + 5) / 1000.0 : (double)(b - 10000 + 100);
}

/*
 * The header's length, from one job enqueued and removed again, so that
 * header and message together are file_len bytes.
 */
static int
size_message(void)
{
	struct spool_job	job;
	char			id[SPOOL_ID_LEN + 1];
	int			state;

	msg_len = 1;
	if (bench_enqueue(spool, msg, msg_len, id) == -1 ||
	    spool_read(spool, SPOOL_PENDING, id, &job) == -1)
		return -1;
	msg_len = file_len > (size_t)job.msg_off + 1 ?
	    file_len - (size_t)job.msg_off : 1;
	spool_job_free(&job);
	return spool_delete(spool, id, &state);
}

static void *
loop_main(void *arg)
{
	struct loop	*l = arg;
	char		 id[SPOOL_ID_LEN + 1];
	double		 t0, t1;

	while (!atomic_load(&go))
		;
	for (t0 = now(); t0 < deadline; t0 = t1) {
		if (bench_enqueue(spool, msg, msg_len, id) == -1)
			l->errors++;
		else
			l->ops++;
		t1 = now();
		l->hist[bucket(t1 - t0)]++;
	}
	return NULL;
}

static double
percentile(unsigned *hist, unsigned long long total, double p)
{
	unsigned long long	acc = 0, want = (unsigned long long)(total * p);
	size_t			b;

	for (b = 0; b < NBUCKETS; b++)
		if ((acc += hist[b]) > want)
			return bucket_ms(b);
	return bucket_ms(NBUCKETS - 1);
}

int
main(int argc, char *argv[])
{
	struct loop		*loops;
	unsigned		*hist;
	unsigned long long	 ops = 0, errors = 0;
	const char		*dir = NULL, *errstr;
	double			 secs = 10, t0, elapsed;
	int			 ch, i, nthreads = 16;
	size_t			 b;

	while ((ch = getopt(argc, argv, "b:d:s:t:")) != -1) {
		switch (ch) {
		case 'b':
			file_len = (size_t)strtonum(optarg, 1, 1 << 24, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 's': secs = strtod(optarg, NULL); break;
		case 't':
			nthreads = (int)strtonum(optarg, 1, 4096, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		default:
			fprintf(stderr, "usage: durable-loop -d dir [-t threads] "
			    "[-s seconds] [-b bytes]\n");
			return EX_USAGE;
		}
	}
	if (dir == NULL || secs <= 0)
		return EX_USAGE;
	if ((spool = spool_open(dir)) == NULL) {
		perror(dir);
		return EX_CANTCREAT;
	}
	if ((msg = malloc(file_len)) == NULL ||
	    (loops = calloc(nthreads, sizeof(*loops))) == NULL ||
	    (hist = calloc(NBUCKETS, sizeof(*hist))) == NULL)
		return EX_OSERR;
	for (b = 0; b < file_len; b++)
		msg[b] = (b % 64 == 63) ? '\n' : 'a' + b % 26;
	if (size_message() == -1) {
		perror(dir);
		return EX_IOERR;
	}
	for (i = 0; i < nthreads; i++) {
		if ((loops[i].hist = calloc(NBUCKETS, sizeof(unsigned))) == NULL ||
		    pthread_create(&loops[i].tid, NULL, loop_main, &loops[i]) != 0)
			return EX_OSERR;
	}
	t0 = now();
	deadline = t0 + secs;
	atomic_store(&go, 1);
	for (i = 0; i < nthreads; i++) {
		pthread_join(loops[i].tid, NULL);
		ops += loops[i].ops;
		errors += loops[i].errors;
		for (b = 0; b < NBUCKETS; b++)
			hist[b] += loops[i].hist[b];
	}
	elapsed = now() - t0;
	printf("ops=%llu secs=%.2f rate=%.0f p50_ms=%.2f p99_ms=%.2f "
	    "errors=%llu\n", ops, elapsed, ops / elapsed,
	    percentile(hist, ops + errors, 0.50),
	    percentile(hist, ops + errors, 0.99), errors);
	return errors ? 1 : 0;
}
