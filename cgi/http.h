/*
 * http: answers on a FastCGI request.  Every answer carries X-Relay-Id (and
 * X-Relay-Caller once the caller is known) so the access log can name both.
 */
#ifndef HTTP_H
#define HTTP_H

#include <stddef.h>

#include "errors.h"

/* The extra header line of every 503: try again in 30 s. */
#define HTTP_RETRY_AFTER	"Retry-After: 30\r\n"

struct buf;
struct worker;

const char	*http_param(const struct worker *, const char *);
/* extra: more header lines, each ending "\r\n", or NULL. */
void		 http_reply(struct worker *, int, const char *, const char *,
		    const char *, size_t);
void		 http_error(struct worker *, int, const char *, const char *,
		    const char *, const char *);
/* Appends s (UTF-8) as the inside of a JSON string. */
void		 http_json_str(struct buf *, const char *s);
/* http_error() with the status and code of e (errors.h). */
void		 http_fail(struct worker *, enum err, const char *,
		    const char *, const char *);

#endif
