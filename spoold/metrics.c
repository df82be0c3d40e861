/*
 * metrics: the per-program counter files; see metrics.h for the rules.
 *
 * File layout (host byte order; the same programs write and read it):
 *
 *	struct mfile	header: magic, version, capacity, count, pid,
 *			start time, program version
 *	struct mseries	[capacity]: name (NUL-terminated), value
 */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "spool.h"
#include "version.h"

#define MFILE_MAGIC	"mrmetr1"
#define MFILE_VERSION	1
#define HASH_SIZE	4096		/* > 2 * METRICS_SERIES_MAX */

struct mseries {
	char		 name[METRICS_NAME_MAX];
	uint64_t	 value;
};

struct mfile {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 capacity;
	uint32_t	 count;		/* published with release */
	uint32_t	 pad;
	int64_t		 pid;
	int64_t		 start;
	char		 build[32];
	char		 reserved[56];
	struct mseries	 series[];
};

#define MFILE_SIZE	(sizeof(struct mfile) + \
			 METRICS_SERIES_MAX * sizeof(struct mseries))

static pthread_mutex_t	 mtx = PTHREAD_MUTEX_INITIALIZER;
static struct mfile	*mf;		/* NULL: not initialised */
static struct mfile	*mf_private;	/* before init or after a failure */
static uint16_t		 hash[HASH_SIZE];	/* series index + 1, 0 empty */
static uint64_t		 sink;		/* for what does not fit */

static uint32_t
name_hash(const char *s)
{
	uint32_t	h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

static void
header_init(struct mfile *f)
{
	memcpy(f->magic, MFILE_MAGIC, sizeof(f->magic));
	f->version = MFILE_VERSION;
	f->capacity = METRICS_SERIES_MAX;
	f->pid = getpid();
	f->start = time(NULL);
	strlcpy(f->build, RELAY_VERSION, sizeof(f->build));
}

/* The file in use, made private when init was never called or failed. */
static struct mfile *
current(void)
{
	if (mf == NULL) {
		mf_private = mmap(NULL, MFILE_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mf_private == MAP_FAILED) {
			mf_private = NULL;
			return NULL;
		}
		header_init(mf_private);
		mf = mf_private;
	}
	return mf;
}

/* Makes metrics/<program>.new, sized, locked, then renames it in place. */
static int
make_file(struct spool *sp, const char *program, struct mfile **out)
{
	struct flock	 fl;
	struct mfile	*f;
	char		 tmp[64];
	int		 fd;

	if (snprintf(tmp, sizeof(tmp), "%s.new", program) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = spool_metrics_open(sp, tmp, SPOOL_METRICS_CREATE)) == -1)
		return -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (ftruncate(fd, 0) == -1 || ftruncate(fd, MFILE_SIZE) == -1 ||
	    fcntl(fd, F_OFD_SETLK, &fl) == -1)
		goto fail;
	f = mmap(NULL, MFILE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (f == MAP_FAILED)
		goto fail;
	header_init(f);
	if (spool_metrics_rename(sp, tmp, program) == -1) {
		munmap(f, MFILE_SIZE);
		goto fail;
	}
	/* The fd stays open for the lock: it is the program's "up". */
	*out = f;
	return 0;
fail:
	spool_metrics_unlink(sp, tmp);
	{
		int	saved = errno;

		close(fd);
		errno = saved;
	}
	return -1;
}

int
metrics_init(struct spool *sp, const char *program)
{
	struct mfile	*f;
	int		 rc = 0;

	pthread_mutex_lock(&mtx);
	if (make_file(sp, program, &f) == 0) {
		mf = f;
		memset(hash, 0, sizeof(hash));
	} else {
		rc = -1;
		(void)current();
	}
	pthread_mutex_unlock(&mtx);
	return rc;
}

/* Index of name in f, adding it; -1 when full.  Under mtx. */
static long
find_or_add(struct mfile *f, const char *name)
{
	uint32_t	 h = name_hash(name) % HASH_SIZE;
	uint32_t	 n;

	while (hash[h] != 0) {
		if (strcmp(f->series[hash[h] - 1].name, name) == 0)
			return hash[h] - 1;
		h = (h + 1) % HASH_SIZE;
	}
	n = __atomic_load_n(&f->count, __ATOMIC_RELAXED);
	if (n >= f->capacity)
		return -1;
	strlcpy(f->series[n].name, name, METRICS_NAME_MAX);
	f->series[n].value = 0;
	__atomic_store_n(&f->count, n + 1, __ATOMIC_RELEASE);
	hash[h] = (uint16_t)(n + 1);
	return n;
}

uint64_t *
metrics_series(const char *name)
{
	struct mfile	*f;
	uint64_t	*v = &sink;
	long		 i;

	if (strlen(name) >= METRICS_NAME_MAX)
		return &sink;
	pthread_mutex_lock(&mtx);
	if ((f = current()) != NULL && (i = find_or_add(f, name)) != -1)
		v = &f->series[i].value;
	pthread_mutex_unlock(&mtx);
	return v;
}

uint64_t *
metrics_seriesf(const char *fmt, ...)
{
	char	name[METRICS_NAME_MAX];
	va_list	ap;
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(name))
		return &sink;
	return metrics_series(name);
}

/* "0.05" for 50000 us: the shortest decimal form of the bound. */
static void
seconds_text(char *out, size_t size, uint64_t usec)
{
	char	*p;

	snprintf(out, size, "%llu.%06llu", (unsigned long long)(usec / 1000000),
	    (unsigned long long)(usec % 1000000));
	p = out + strlen(out) - 1;
	while (*p == '0')
		*p-- = '\0';
	if (*p == '.')
		*p = '\0';
}

void
metrics_hist_init(struct metrics_hist *h, const char *family,
    const char *labels, const uint64_t *bounds, size_t n)
{
	const char	*sep = *labels != '\0' ? "," : "";
	char		 le[32];
	size_t		 i;

	memset(h, 0, sizeof(*h));
	if (n > METRICS_BUCKETS_MAX)
		n = METRICS_BUCKETS_MAX;
	for (i = 0; i < n; i++) {
		h->bound[i] = bounds[i];
		seconds_text(le, sizeof(le), bounds[i]);
		h->bucket[i] = metrics_seriesf("%s_bucket{%s%sle=\"%s\"}",
		    family, labels, sep, le);
	}
	h->bucket[n] = metrics_seriesf("%s_bucket{%s%sle=\"+Inf\"}", family,
	    labels, sep);
	if (*labels != '\0') {
		h->sum = metrics_seriesf("%s_sum{%s}", family, labels);
		h->count = metrics_seriesf("%s_count{%s}", family, labels);
	} else {
		h->sum = metrics_seriesf("%s_sum", family);
		h->count = metrics_seriesf("%s_count", family);
	}
	h->nbounds = n;
}

void
metrics_hist_observe(const struct metrics_hist *h, uint64_t usec)
{
	size_t	i;

	for (i = 0; i < h->nbounds; i++)
		if (usec <= h->bound[i])
			metrics_add(h->bucket[i], 1);
	metrics_add(h->bucket[h->nbounds], 1);
	metrics_add(h->sum, usec);
	metrics_add(h->count, 1);
}

void
metrics_label(char *out, size_t size, const char *value)
{
	size_t	o = 0;

	for (; *value != '\0' && o + 3 < size; value++) {
		if (*value == '\\' || *value == '"') {
			out[o++] = '\\';
			out[o++] = *value;
		} else if (*value == '\n') {
			out[o++] = '\\';
			out[o++] = 'n';
		} else
			out[o++] = *value;
	}
	if (size > 0)
		out[o] = '\0';
}

/* ---- reading ---- */

int
metrics_view_open(struct spool *sp, const char *program,
    struct metrics_view *v)
{
	const struct mfile	*f;
	struct flock		 fl;
	struct stat		 st;
	void			*map;
	int			 fd, saved;

	memset(v, 0, sizeof(*v));
	if ((fd = spool_metrics_open(sp, program, 0)) == -1)
		return errno == ENOENT ? 0 : -1;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fstat(fd, &st) == -1 || fcntl(fd, F_OFD_GETLK, &fl) == -1)
		goto fail;
	if (fl.l_type == F_UNLCK || (size_t)st.st_size < MFILE_SIZE) {
		close(fd);
		return 0;
	}
	map = mmap(NULL, MFILE_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	close(fd);
	f = map;
	if (memcmp(f->magic, MFILE_MAGIC, sizeof(f->magic)) != 0 ||
	    f->version != MFILE_VERSION ||
	    f->capacity != METRICS_SERIES_MAX) {
		munmap(map, MFILE_SIZE);
		return 0;
	}
	v->map = map;
	v->size = MFILE_SIZE;
	v->nseries = __atomic_load_n(&f->count, __ATOMIC_ACQUIRE);
	if (v->nseries > METRICS_SERIES_MAX)
		v->nseries = METRICS_SERIES_MAX;
	v->start = f->start;
	memcpy(v->version, f->build, sizeof(v->version));
	v->version[sizeof(v->version) - 1] = '\0';
	return 1;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

void
metrics_view_close(struct metrics_view *v)
{
	if (v->map != NULL)
		munmap((void *)v->map, v->size);
	memset(v, 0, sizeof(*v));
}

const char *
metrics_view_series(const struct metrics_view *v, size_t i, uint64_t *value)
{
	const struct mfile	*f = v->map;
	const struct mseries	*s;

	if (f == NULL || i >= v->nseries)
		return NULL;
	s = &f->series[i];
	*value = __atomic_load_n(&s->value, __ATOMIC_RELAXED);
	/* Written whole before count was published; NUL-terminated. */
	return memchr(s->name, '\0', sizeof(s->name)) != NULL ? s->name : NULL;
}
