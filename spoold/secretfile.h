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

#endif
