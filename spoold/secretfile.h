/*
 * secretfile: open a file that holds secrets (the tokens file, the
 * webhooks file) for reading, refusing it unless it is a regular file, no
 * symbolic link, neither group- nor world-writable, not world-readable.
 * One rule and one hint for both: root:mail-relay, mode 0640.
 */
#ifndef SECRETFILE_H
#define SECRETFILE_H

#include <stddef.h>
#include <stdio.h>

/* The open file, or NULL with "path: why" in err. */
FILE	*secretfile_open(const char *path, char *err, size_t errlen);
/*
 * Reads fp line by line: '#' starts a comment, blank lines are skipped,
 * and fn gets every other line without its leading blanks and line end.
 * fn returns NULL, or why the line is wrong: then -1 with "path:N: why"
 * in err.  -1 with "path: why" on a read error, else 0.  The line
 * buffer is wiped before it is freed: it held secrets.
 */
int	 secretfile_lines(FILE *fp, const char *path,
	    const char *(*fn)(char *line, void *arg), void *arg, char *err,
	    size_t errlen);

#endif
