/*
 * req_err: filling the struct req_error (req.h) of a refused request, for
 * the request parsers (json.c, req.c): the code and status come from the
 * table in errors.h, the message is formatted, the field is a path such
 * as "to[2].email" built in a struct req_path.
 */
#ifndef REQ_ERR_H
#define REQ_ERR_H

#include <stdarg.h>
#include <stddef.h>

#include "errors.h"
#include "req.h"

/* A bounded ASCII string (other bytes become '?'): err->field. */
struct req_path {
	char	*p;
	size_t	 len, cap;
};

#define REQ_PATH(err)	{ (err)->field, 0, sizeof((err)->field) }

void	req_path_add(struct req_path *, const char *);
void	req_path_idx(struct req_path *, size_t);	/* "[idx]" */

/* Set err's code, status and message (not its field); return -1. */
int	req_fail(struct req_error *, enum err, const char *, ...)
	    __attribute__((format(printf, 3, 4)));
int	req_vfail(struct req_error *, enum err, const char *, va_list)
	    __attribute__((format(printf, 3, 0)));

/* internal_error (500), "out of memory", no field; return -1. */
int	req_fail_nomem(struct req_error *);

#endif
