/*
 * follow: read a log file line by line as it grows, the way `tail -F`
 * does, woken by inotify only (no polling), through both kinds of
 * rotation:
 *
 *	rename + new file	the old file is read to its end; once the new
 *				file under the name has data (the writer has
 *				reopened), reading goes on there from 0; lines
 *				still added to the old file (the last ones of a
 *				postlogd that a reload replaces) are read until
 *				it has been quiet for FOLLOW_LATE_MS
 *	copytruncate		the file is shorter than the position, or the
 *				byte before it is no longer a newline: reading
 *				starts again at 0 of the same file; what the
 *				old content held after the position (written
 *				before the copy, not yet read) is lost, and
 *				its offset logged
 *
 * A partial last line is held until its newline arrives.  A line longer
 * than FOLLOW_LINE_MAX is handed over cut to that length, once, and the
 * rest of it skipped.  Lines are numbered (seq) from 1 across files and
 * restarts; the position (device, inode, offset of the first line not yet
 * consumed, seq of the last one consumed) lets a restart go on exactly
 * where the last run stopped, in the rotated file first when the log was
 * rotated meanwhile.
 */
#ifndef FOLLOW_H
#define FOLLOW_H

#include <sys/types.h>
#include <limits.h>

#include "spool.h"

#define FOLLOW_LINE_MAX		16384
#define FOLLOW_TAIL		64	/* bytes kept before the position */
/*
 * Line numbers skipped at a break found at a restart (the saved file
 * truncated or gone): lines read after the last saved position may have
 * been numbered up to FOLLOW_SEQ_JUMP / 2 past it (the caller saves before
 * acting on a line further on), and the new lines must get numbers none
 * of them had.
 */
#define FOLLOW_SEQ_JUMP		65536
#define FOLLOW_LATE_MS		2000

/*
 * Called for each complete line (no newline, not NUL-terminated).  0 to
 * go on; -1 stops: the line is not consumed and comes again at the next
 * follow_run (a record could not be written: nothing may be skipped).
 * seq is the line's number; late is 0, or for a line added to the old
 * file after the switch 1, 2, ... (counted anew after each numbered line):
 * such a line has no number of its own, so that it cannot change the
 * numbers a restart gives, and comes after line seq.
 */
typedef int	(*follow_cb)(const char *line, size_t len,
		    unsigned long long seq, unsigned late, void *arg);

struct follow {
	char			 path[PATH_MAX];
	char			 dir[PATH_MAX];
	char			 base[NAME_MAX + 1];
	int			 inofd;
	int			 wd_dir, wd_file, wd_next;
	int			 fd;		/* -1: no file yet */
	dev_t			 dev;
	ino_t			 ino;
	off_t			 rd;		/* next byte to read */
	off_t			 lstart;	/* first byte not consumed */
	char			 tail[FOLLOW_TAIL];	/* the bytes before rd */
	size_t			 ntail;
	unsigned long long	 seq;		/* last line consumed */
	int			 skip;		/* dropping an overlong line */
	int			 check_name;	/* the name may have moved */
	int			 check_trunc;
	int			 resumed;	/* first check after a restart */
	int			 moved;		/* truncated or switched files */
	/* the file before a rename, read for its late lines */
	int			 old_fd, wd_old;
	off_t			 old_rd;
	long long		 old_until;	/* monotonic ms */
	unsigned		 late;
	unsigned long long	 late_seq;
	char			*old_buf;
	size_t			 old_len;
	char			*buf;		/* bytes [lstart, rd) */
	size_t			 len;
};

/*
 * Opens path's directory watch and the file.  pos NULL: the first start,
 * which begins at the end of the file (after its last newline), or at 0
 * of a file created later.  0, or -1 + errno (the directory cannot be
 * watched; a missing file is waited for).
 */
int	follow_open(struct follow *, const char *path,
	    const struct spool_track_pos *pos);
/* The fd to poll for POLLIN. */
int	follow_fd(const struct follow *);
/* Milliseconds until follow_run must run without an event, -1: never. */
int	follow_timeout(const struct follow *);
/*
 * Takes in inotify events and hands every complete line to cb.  0, or -1:
 * ECANCELED when cb refused a line (call again later), another errno
 * when reading failed.  After a truncation or a switch to a new file it
 * returns 0 at once with moved set: the caller saves the position (so a
 * restart does not find the break again and number lines twice), clears
 * moved and calls again.
 */
int	follow_run(struct follow *, follow_cb, void *arg);
void	follow_pos(const struct follow *, struct spool_track_pos *);
void	follow_close(struct follow *);

#endif
