/*
 * resend_req: the body of POST /emails, Resend's request, into a struct
 * mail validated as req.c validates a POST /send body (see resend_req.c).
 */
#ifndef RESEND_REQ_H
#define RESEND_REQ_H

#include <stddef.h>
#include <time.h>

#include "mail.h"
#include "req.h"

#define RESEND_MAX_TO		50	/* addresses in to */
#define RESEND_MAX_TAGS		50

struct cJSON;

/*
 * Decode and validate len bytes of body into m (free it with
 * resend_free()).  -1: err filled and m left empty.
 */
int	resend_parse(const char *body, size_t len, const struct req_limits *,
	    struct mail *m, struct req_error *err);

/* The same from a decoded value, taken over in every case (batches). */
int	resend_mail(struct cJSON *root, const struct req_limits *, time_t now,
	    struct mail *m, struct req_error *err);

void	resend_free(struct mail *m);

#endif
