/*
 * durable-loop: the bare durable-write loop, the reference for durable
 * acceptance.  N threads each repeat what one accepted job costs the disk:
 * write tmp/<name>, fsync it, close, rename it into pending/, fsync
 * pending/.  No HTTP, no parsing, no sharing of fsyncs between threads.
 *
 *	durable-loop -d dir [-t threads] [-s seconds] [-b bytes] [-m mode]
 *
 * Modes (-m): 0, the bare loop above (default); 1, the same with the
 * directory fsync shared by the threads waiting at the time; 2, group
 * commit: write without fsync, one syncfs(2) plus one flush for every
 * thread waiting, rename, one shared directory fsync; 3, as 2 without the
 * extra flush (syncfs on ext4 without a journal issues its device flush
 * before its last metadata writes, so 3 is not crash-safe there).  Modes
 * 1-3 are for trying group commit on a filesystem; the benchmark's
 * reference is mode 0.
 *
 * Prints one line: "ops=N secs=S rate=R p50_ms=A p99_ms=B errors=E".
 */
#define _GNU_SOURCE		/* syncfs */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#define NBUCKETS	20000	/* 10 us steps to 100 ms, then 1 ms steps */

struct loop {
	pthread_t		 tid;
	int			 n;
	unsigned long long	 ops, errors;
	unsigned		*hist;
};

static int		 tmp_fd, pending_fd;
static size_t		 file_len = 2600;
static char		*file_data;
static double		 deadline;
static atomic_int	 go;
static int		 mode;

/* One sync on behalf of every thread that arrives while one runs. */
struct gsync {
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cond;
	unsigned long	 started, done;
	int		 running, err;
	int		(*op)(void);
};

static int
op_dir(void)
{
	return fsync(pending_fd);
}

static int
op_fs(void)
{
	if (syncfs(tmp_fd) == -1)
		return -1;
	return mode == 2 ? fsync(tmp_fd) : 0;
}

static struct gsync	 dir_sync = { PTHREAD_MUTEX_INITIALIZER,
			    PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, op_dir };
static struct gsync	 fs_sync = { PTHREAD_MUTEX_INITIALIZER,
			    PTHREAD_COND_INITIALIZER, 0, 0, 0, 0, op_fs };

static int
gsync_run(struct gsync *g)
{
	unsigned long	need, mine;
	int		r, err;

	pthread_mutex_lock(&g->mtx);
	need = g->started + 1;
	while (g->done < need) {
		if (g->running) {
			pthread_cond_wait(&g->cond, &g->mtx);
			continue;
		}
		g->running = 1;
		mine = ++g->started;
		pthread_mutex_unlock(&g->mtx);
		r = g->op();
		err = r == -1 ? errno : 0;
		pthread_mutex_lock(&g->mtx);
		g->running = 0;
		g->done = mine;
		g->err = err;
		pthread_cond_broadcast(&g->cond);
	}
	err = g->err;
	pthread_mutex_unlock(&g->mtx);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

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

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One durable job: 0 or -1. */
static int
one(const char *name)
{
	int	fd;


	fd = openat(tmp_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    0600);
	if (fd == -1)
		return -1;
	if (write_all(fd, file_data, file_len) == -1 ||
	    (mode < 2 && fsync(fd) == -1)) {
		close(fd);
		return -1;
	}
	if (close(fd) == -1)
		return -1;
	if (mode >= 2 && gsync_run(&fs_sync) == -1)
		return -1;
	if (renameat(tmp_fd, name, pending_fd, name) == -1)
		return -1;
	return mode == 0 ? fsync(pending_fd) : gsync_run(&dir_sync);
}

static void *
loop_main(void *arg)
{
	struct loop	*l = arg;
	char		 name[64];
	double		 t0, t1;
	unsigned long	 seq = 0;

	while (!atomic_load(&go))
		;
	for (t0 = now(); t0 < deadline; t0 = t1) {
		snprintf(name, sizeof(name), "%013llx-%04x%012lx",
		    (unsigned long long)(t0 * 1e6), l->n, seq++);
		if (one(name) == -1)
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

static int
open_dir(const char *dir, const char *sub)
{
	char	path[4096];

	if (snprintf(path, sizeof(path), "%s/%s", dir, sub) >= (int)sizeof(path))
		return -1;
	if (mkdir(path, 0700) == -1 && errno != EEXIST)
		return -1;
	return open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

	while ((ch = getopt(argc, argv, "b:d:m:s:t:")) != -1) {
		switch (ch) {
		case 'b':
			file_len = (size_t)strtonum(optarg, 1, 1 << 24, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		case 'd': dir = optarg; break;
		case 'm':
			mode = (int)strtonum(optarg, 0, 3, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		case 's': secs = strtod(optarg, NULL); break;
		case 't':
			nthreads = (int)strtonum(optarg, 1, 4096, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		default:
			fprintf(stderr, "usage: durable-loop -d dir [-t threads] "
			    "[-s seconds] [-b bytes] [-m mode]\n");
			return EX_USAGE;
		}
	}
	if (dir == NULL || secs <= 0)
		return EX_USAGE;
	if (mkdir(dir, 0700) == -1 && errno != EEXIST)
		return EX_CANTCREAT;
	if ((tmp_fd = open_dir(dir, "tmp")) == -1 ||
	    (pending_fd = open_dir(dir, "pending")) == -1) {
		perror(dir);
		return EX_CANTCREAT;
	}
	if ((file_data = malloc(file_len)) == NULL ||
	    (loops = calloc(nthreads, sizeof(*loops))) == NULL ||
	    (hist = calloc(NBUCKETS, sizeof(*hist))) == NULL)
		return EX_OSERR;
	for (b = 0; b < file_len; b++)
		file_data[b] = (b % 64 == 63) ? '\n' : 'a' + b % 26;
	for (i = 0; i < nthreads; i++) {
		loops[i].n = i;
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
