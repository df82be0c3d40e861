/*
 * faultinject: an LD_PRELOAD shim that makes file system calls fail, for
 * the fault-injection tests (tests/test_faults.py).
 *
 *	LD_PRELOAD=tests/helpers/faultinject.so FI_CONTROL=/path/to/control prog
 *
 * What fails is read from the control file (re-read whenever it changes,
 * so a test can switch faults on and off in a running program; no file,
 * no faults) or, without FI_CONTROL, from FI_* variables of the same
 * names in upper case.  One "key value" per line:
 *
 *	funcs	comma-separated: open openat write fsync fdatasync rename
 *		renameat renameat2 unlink unlinkat, or "all"
 *	path	fnmatch(3) pattern ('*' matches '/' too) for the path the call
 *		works on: open/rename/unlink paths, the directory fd's path
 *		joined with the name for the *at calls, the fd's path for
 *		write/fsync/fdatasync (sockets and pipes never match a
 *		pattern with a '/').  Default "*".
 *	errno	ENOSPC, EIO, EMFILE, EACCES, EROFS, EDQUOT or a number;
 *		default EIO
 *	after	let this many matching calls through first (default 0)
 *	times	then fail this many (default: all that follow; 0: none,
 *		for delay or short alone)
 *	short	1: a matching write of more than one byte that is let
 *		through writes only half of it and returns the short count
 *	delay	milliseconds to sleep before each matching call (faults or
 *		not): widens windows for kill -9
 *	kill	1: a call that would fail kills the process instead
 *		(SIGKILL, before the call): a crash at an exact point, for
 *		the resume tests of tests/test_batch_crash.py
 *	log	a file; one line per event: "pid func what path", what
 *		being errno=N (a fault), short, delay, kill or gate
 *	gate	a directory: before each matching call (faults or not),
 *		create DIR/reached and hold the call until DIR/release
 *		exists (at most 60 s): a test runs its side of a race
 *		exactly inside that window, then releases the call
 *
 * Calls inside the C library (fopen, posix_spawn) do not go through these
 * symbols and are never affected.
 */
#define _GNU_SOURCE
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
	F_OPEN = 1 << 0, F_OPENAT = 1 << 1, F_WRITE = 1 << 2,
	F_FSYNC = 1 << 3, F_FDATASYNC = 1 << 4, F_RENAME = 1 << 5,
	F_RENAMEAT = 1 << 6, F_RENAMEAT2 = 1 << 7, F_UNLINK = 1 << 8,
	F_UNLINKAT = 1 << 9
};

static const struct {
	const char	*name;
	int		 bit;
} func_names[] = {
	{ "open", F_OPEN }, { "openat", F_OPENAT }, { "write", F_WRITE },
	{ "fsync", F_FSYNC }, { "fdatasync", F_FDATASYNC },
	{ "rename", F_RENAME }, { "renameat", F_RENAMEAT },
	{ "renameat2", F_RENAMEAT2 }, { "unlink", F_UNLINK },
	{ "unlinkat", F_UNLINKAT },
};

struct fi_conf {
	int	 funcs;
	char	 path[PATH_MAX];
	int	 err;
	long	 after, times;
	int	 shortw;
	long	 delay_ms;
	int	 kill;
	char	 log[PATH_MAX];
	char	 gate[PATH_MAX];
};

static pthread_mutex_t	 fi_mtx = PTHREAD_MUTEX_INITIALIZER;
static struct fi_conf	 conf;
static int		 conf_loaded;
static struct stat	 conf_st;	/* of the control file last read */
static long		 seen;		/* matching calls since the load */

static int
parse_errno(const char *v)
{
	static const struct { const char *n; int e; } t[] = {
		{ "ENOSPC", ENOSPC }, { "EIO", EIO }, { "EMFILE", EMFILE },
		{ "EACCES", EACCES }, { "EROFS", EROFS }, { "EDQUOT", EDQUOT },
		{ "ENFILE", ENFILE }, { "EINTR", EINTR },
	};
	size_t	i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (strcmp(v, t[i].n) == 0)
			return t[i].e;
	return atoi(v) > 0 ? atoi(v) : EIO;
}

static int
parse_funcs(const char *v)
{
	char	buf[512], *tok, *save = NULL;
	size_t	i;
	int	bits = 0;

	snprintf(buf, sizeof(buf), "%s", v);
	for (tok = strtok_r(buf, ", ", &save); tok != NULL;
	    tok = strtok_r(NULL, ", ", &save)) {
		if (strcmp(tok, "all") == 0)
			return ~0;
		for (i = 0; i < sizeof(func_names) / sizeof(func_names[0]); i++)
			if (strcmp(tok, func_names[i].name) == 0)
				bits |= func_names[i].bit;
	}
	return bits;
}

static void
conf_set(struct fi_conf *c, const char *k, const char *v)
{
	if (strcmp(k, "funcs") == 0)
		c->funcs = parse_funcs(v);
	else if (strcmp(k, "path") == 0)
		snprintf(c->path, sizeof(c->path), "%s", v);
	else if (strcmp(k, "errno") == 0)
		c->err = parse_errno(v);
	else if (strcmp(k, "after") == 0)
		c->after = atol(v);
	else if (strcmp(k, "times") == 0)
		c->times = atol(v);
	else if (strcmp(k, "short") == 0)
		c->shortw = atoi(v);
	else if (strcmp(k, "delay") == 0)
		c->delay_ms = atol(v);
	else if (strcmp(k, "kill") == 0)
		c->kill = atoi(v);
	else if (strcmp(k, "log") == 0)
		snprintf(c->log, sizeof(c->log), "%s", v);
	else if (strcmp(k, "gate") == 0)
		snprintf(c->gate, sizeof(c->gate), "%s", v);
}

static void
conf_defaults(struct fi_conf *c)
{
	memset(c, 0, sizeof(*c));
	strcpy(c->path, "*");
	c->err = EIO;
	c->times = -1;
}

/* The control file, read with raw system calls (no recursion). */
static void
conf_read_file(const char *path, struct fi_conf *c)
{
	char	buf[8192], *line, *save = NULL, *sp;
	ssize_t	n;
	int	fd;

	conf_defaults(c);
	if ((fd = (int)syscall(SYS_openat, AT_FDCWD, path,
	    O_RDONLY | O_CLOEXEC)) < 0)
		return;
	n = syscall(SYS_read, fd, buf, sizeof(buf) - 1);
	syscall(SYS_close, fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		if ((sp = strchr(line, ' ')) == NULL)
			continue;
		*sp++ = '\0';
		conf_set(c, line, sp);
	}
}

static void
conf_read_env(struct fi_conf *c)
{
	static const char *const keys[] = { "funcs", "path", "errno", "after",
	    "times", "short", "delay", "log", "gate" };
	char		 name[32];
	const char	*v;
	size_t		 i, k;

	conf_defaults(c);
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		snprintf(name, sizeof(name), "FI_%s", keys[i]);
		for (k = 3; name[k] != '\0'; k++)
			name[k] = (char)(name[k] - 'a' + 'A');
		if ((v = getenv(name)) != NULL)
			conf_set(c, keys[i], v);
	}
}

/* Called with fi_mtx held: bring conf up to date. */
static void
conf_refresh(void)
{
	const char	*ctl = getenv("FI_CONTROL");
	struct stat	 st;

	if (ctl == NULL) {
		if (!conf_loaded) {
			conf_read_env(&conf);
			conf_loaded = 1;
		}
		return;
	}
	if (syscall(SYS_newfstatat, AT_FDCWD, ctl, &st, 0) != 0)
		memset(&st, 0, sizeof(st));
	if (conf_loaded && st.st_ino == conf_st.st_ino &&
	    st.st_dev == conf_st.st_dev && st.st_size == conf_st.st_size &&
	    st.st_mtim.tv_sec == conf_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == conf_st.st_mtim.tv_nsec)
		return;
	conf_st = st;
	conf_loaded = 1;
	seen = 0;
	if (st.st_ino == 0)
		conf_defaults(&conf);
	else
		conf_read_file(ctl, &conf);
}

static void
fd_path(int fd, char *out, size_t size)
{
	char	proc[64];
	ssize_t	n;

	if (fd == AT_FDCWD) {
		if (getcwd(out, size) == NULL)
			out[0] = '\0';
		return;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = syscall(SYS_readlinkat, AT_FDCWD, proc, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void
at_path(int dirfd, const char *name, char *out, size_t size)
{
	char	dir[PATH_MAX];
	int	n;

	if (name == NULL) {
		out[0] = '\0';
		return;
	}
	if (name[0] == '/') {
		snprintf(out, size, "%s", name);
		return;
	}
	fd_path(dirfd, dir, sizeof(dir));
	n = snprintf(out, size, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= size)
		out[0] = '\0';		/* too long to match anything */
}

static void
log_event(const struct fi_conf *c, const char *func, const char *what,
    const char *path)
{
	char	line[PATH_MAX + 128];
	int	fd, n;

	if (c->log[0] == '\0')
		return;
	n = snprintf(line, sizeof(line), "%ld %s %s %s\n", (long)getpid(),
	    func, what, path);
	if ((fd = (int)syscall(SYS_openat, AT_FDCWD, c->log,
	    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0)
		return;
	if (n > 0)
		(void)syscall(SYS_write, fd, line, (size_t)n);
	syscall(SYS_close, fd);
}

static void
log_fault(const struct fi_conf *c, const char *func, const char *path)
{
	char	what[32];

	snprintf(what, sizeof(what), "errno=%d", c->err);
	log_event(c, func, what, path);
}

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* The gate: DIR/reached, then wait for DIR/release (raw system calls). */
static void
gate_wait(const struct fi_conf *c, const char *func, const char *path)
{
	char		name[PATH_MAX + 16];
	struct stat	st;
	int		fd, i;

	snprintf(name, sizeof(name), "%s/reached", c->gate);
	if ((fd = (int)syscall(SYS_openat, AT_FDCWD, name,
	    O_WRONLY | O_CREAT | O_CLOEXEC, 0644)) >= 0)
		syscall(SYS_close, fd);
	log_event(c, func, "gate", path);
	snprintf(name, sizeof(name), "%s/release", c->gate);
	for (i = 0; i < 6000; i++) {
		if (syscall(SYS_newfstatat, AT_FDCWD, name, &st, 0) == 0)
			return;
		sleep_ms(10);
	}
}

/*
 * Decides for one call: 0 let it through, 1 fail it (errno set), 2 a
 * short write.  p1 and p2 are the paths the call works on.
 */
static int
decide(int bit, const char *func, const char *p1, const char *p2)
{
	struct fi_conf	c;
	long		n;
	int		hit, saved = errno;

	pthread_mutex_lock(&fi_mtx);
	conf_refresh();
	if (!(conf.funcs & bit) ||
	    !((p1 != NULL && fnmatch(conf.path, p1, 0) == 0) ||
	    (p2 != NULL && fnmatch(conf.path, p2, 0) == 0))) {
		pthread_mutex_unlock(&fi_mtx);
		errno = saved;
		return 0;
	}
	n = seen++;
	c = conf;
	pthread_mutex_unlock(&fi_mtx);
	if (c.delay_ms > 0) {
		log_event(&c, func, "delay", p1 != NULL ? p1 : "");
		sleep_ms(c.delay_ms);
	}
	if (c.gate[0] != '\0')
		gate_wait(&c, func, p1 != NULL ? p1 : "");
	errno = saved;
	hit = n >= c.after && (c.times < 0 || n < c.after + c.times);
	if (!hit) {
		if (!c.shortw || bit != F_WRITE)
			return 0;
		log_event(&c, "write", "short", p1 != NULL ? p1 : "");
		return 2;
	}
	if (c.kill) {
		log_event(&c, func, "kill", p1 != NULL ? p1 : "");
		raise(SIGKILL);
	}
	log_fault(&c, func, p1 != NULL ? p1 : "");
	errno = c.err;
	return 1;
}

/* Whether any fault is configured for bit, without resolving paths. */
static int
armed(int bit)
{
	int	r, saved = errno;

	pthread_mutex_lock(&fi_mtx);
	conf_refresh();
	r = (conf.funcs & bit) != 0;
	pthread_mutex_unlock(&fi_mtx);
	errno = saved;
	return r;
}

/* The next definition of a symbol, looked up once per call site. */
#define REAL(ret, name, ...)						\
	static ret (*real)(__VA_ARGS__);				\
	if (real == NULL)						\
		real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

static mode_t
va_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ?
	    (mode_t)va_arg(ap, int) : 0;
}

static int
do_open(const char *path, int flags, mode_t mode)
{
	REAL(int, "open", const char *, int, ...);
	if (armed(F_OPEN) && decide(F_OPEN, "open", path, NULL))
		return -1;
	return real(path, flags, mode);
}

int
open(const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return do_open(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	va_list	ap;
	mode_t	mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return do_open(path, flags, mode);
}

static int
do_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	char	path[PATH_MAX];

	REAL(int, "openat", int, const char *, int, ...);
	if (armed(F_OPENAT)) {
		at_path(dirfd, name, path, sizeof(path));
		if (decide(F_OPENAT, "openat", path, NULL))
			return -1;
	}
	return real(dirfd, name, flags, mode);
}

int
openat(int dirfd, const char *name, int flags, ...)
{
	va_list	ap;
	mode_t	mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, name, flags, mode);
}

int
openat64(int dirfd, const char *name, int flags, ...)
{
	va_list	ap;
	mode_t	mode;

	va_start(ap, flags);
	mode = va_mode(flags, ap);
	va_end(ap);
	return do_openat(dirfd, name, flags, mode);
}

/* _FORTIFY_SOURCE turns some opens into these. */
int	__open_2(const char *, int);
int	__open64_2(const char *, int);
int	__openat_2(int, const char *, int);
int	__openat64_2(int, const char *, int);

int
__open_2(const char *path, int flags)
{
	return do_open(path, flags, 0);
}

int
__open64_2(const char *path, int flags)
{
	return do_open(path, flags, 0);
}

int
__openat_2(int dirfd, const char *name, int flags)
{
	return do_openat(dirfd, name, flags, 0);
}

int
__openat64_2(int dirfd, const char *name, int flags)
{
	return do_openat(dirfd, name, flags, 0);
}

ssize_t
write(int fd, const void *buf, size_t n)
{
	char	path[PATH_MAX];
	int	r;

	REAL(ssize_t, "write", int, const void *, size_t);
	if (armed(F_WRITE)) {
		fd_path(fd, path, sizeof(path));
		if ((r = decide(F_WRITE, "write", path, NULL)) == 1)
			return -1;
		if (r == 2 && n > 1)
			return real(fd, buf, n / 2);
	}
	return real(fd, buf, n);
}

static int
sync_fault(const char *sym, int bit, int fd)
{
	char	path[PATH_MAX];

	if (!armed(bit))
		return 0;
	fd_path(fd, path, sizeof(path));
	return decide(bit, sym, path, NULL);
}

int
fsync(int fd)
{
	REAL(int, "fsync", int);
	if (sync_fault("fsync", F_FSYNC, fd))
		return -1;
	return real(fd);
}

int
fdatasync(int fd)
{
	REAL(int, "fdatasync", int);
	if (sync_fault("fdatasync", F_FDATASYNC, fd))
		return -1;
	return real(fd);
}

int
rename(const char *from, const char *to)
{
	REAL(int, "rename", const char *, const char *);
	if (armed(F_RENAME) && decide(F_RENAME, "rename", from, to))
		return -1;
	return real(from, to);
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	char	p1[PATH_MAX], p2[PATH_MAX];

	REAL(int, "renameat", int, const char *, int, const char *);
	if (armed(F_RENAMEAT)) {
		at_path(fd1, from, p1, sizeof(p1));
		at_path(fd2, to, p2, sizeof(p2));
		if (decide(F_RENAMEAT, "renameat", p1, p2))
			return -1;
	}
	return real(fd1, from, fd2, to);
}

int
renameat2(int fd1, const char *from, int fd2, const char *to,
    unsigned int flags)
{
	char	p1[PATH_MAX], p2[PATH_MAX];

	REAL(int, "renameat2", int, const char *, int, const char *,
	    unsigned int);
	if (armed(F_RENAMEAT2)) {
		at_path(fd1, from, p1, sizeof(p1));
		at_path(fd2, to, p2, sizeof(p2));
		if (decide(F_RENAMEAT2, "renameat2", p1, p2))
			return -1;
	}
	return real(fd1, from, fd2, to, flags);
}

int
unlink(const char *path)
{
	REAL(int, "unlink", const char *);
	if (armed(F_UNLINK) && decide(F_UNLINK, "unlink", path, NULL))
		return -1;
	return real(path);
}

int
unlinkat(int dirfd, const char *name, int flags)
{
	char	path[PATH_MAX];

	REAL(int, "unlinkat", int, const char *, int);
	if (armed(F_UNLINKAT)) {
		at_path(dirfd, name, path, sizeof(path));
		if (decide(F_UNLINKAT, "unlinkat", path, NULL))
			return -1;
	}
	return real(dirfd, name, flags);
}
