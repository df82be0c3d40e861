/*
 * send: the path every enqueueing endpoint shares (POST /send, POST
 * /emails): the bearer token, Content-Type and Content-Length, the body,
 * the Idempotency-Key, the caller's sender allowlist, max_pending, the
 * durable enqueue, logging and X-Relay-Id/X-Relay-Caller.  What differs
 * between the endpoints (the body's shape, the answers) is a struct
 * send_api.
 */
#ifndef SEND_H
#define SEND_H

#include <stddef.h>

#include "mail.h"
#include "req.h"

struct worker;
struct caller;

/* An error as POST /send names it (see relay-fcgi(8)). */
struct send_err {
	int		 status;
	const char	*code;
	const char	*message;
	const char	*field;		/* NULL or "" when none */
	const char	*extra;		/* more header lines, or NULL */
	int		 flags;
};
#define SEND_ERR_NO_TOKEN	0x1	/* 401: no token given at all */

struct send_api {
	int		 ok_status;	/* for a new job: 202, 200 */
	size_t		 idem_max;	/* longest Idempotency-Key */
	int		 idem_nowait;	/* a key in use: 409 busy, no wait */
	int		 batch_body;	/* max_batch_body, not max_body */
	/* The body into m: 0, or -1 with err filled and m empty. */
	int		(*parse)(const char *, size_t, const struct req_limits *,
			    struct mail *, struct req_error *);
	void		(*free)(struct mail *);
	/* Writes the error answer and returns the status it sent. */
	int		(*error)(struct worker *, const struct send_err *);
	/* The answer for a job on disk (duplicate: an earlier request's). */
	void		(*accepted)(struct worker *, int status, const char *id,
			    int duplicate);
};

/* The whole request, answered through api. */
void	send_request(struct worker *, const struct send_api *);

/*
 * The caller of the request's bearer token, also set as w->caller; NULL
 * when refused (answered through api: 401, or Resend's 401/403).
 */
const struct caller *send_authorize(struct worker *, const struct send_api *);

/* Content-Type and Content-Length checked, the body read into w->body:
 * 0, or -1 answered through api. */
int	send_read_json(struct worker *, const struct send_api *);

/*
 * The token, the Content-Type, the body (into w->body) and the
 * Idempotency-Key (*key, NULL if none): the caller, or NULL when answered.
 */
const struct caller *send_begin(struct worker *, const struct send_api *,
	    const char **key);

/* 1 if n more jobs fit below max_pending (estimated), else 0. */
int	send_room(struct worker *, size_t n);
/* Counts n jobs this process just enqueued into that estimate. */
void	send_pending_add(size_t n);

/* m's envelope, every To, Cc and Bcc address (*n): free() the array. */
const char **send_envelope(const struct mail *m, size_t *n);

/* Answers e through api and logs it with the job and caller. */
void	send_reject(struct worker *, const struct send_api *,
	    const struct send_err *);

#endif
