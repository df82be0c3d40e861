/*
 * resend: the Resend-compatible endpoints under /emails, and Resend's
 * error shape {"statusCode":N,"name":"...","message":"..."}.
 */
#ifndef RESEND_H
#define RESEND_H

struct worker;
struct send_err;
struct caller;

/* Routes a request whose path is /emails or below it. */
void	resend_dispatch(struct worker *, const char *method, const char *path);

/* Resend's status and name for a /send error code (send.h flags). */
void	resend_twin(const char *code, const char *field, int flags,
	    int *status, const char **name);
/* A send_api error writer: the twin of e, in Resend's shape. */
int	resend_error(struct worker *, const struct send_err *e);
/* {"statusCode":status,"name":name,"message":"field: message"}. */
void	resend_reply_error(struct worker *, int status, const char *name,
	    const char *field, const char *message, const char *extra);

/* GET /emails/{id} for the caller c (emails_get.c); id is valid. */
void	emails_get(struct worker *, const struct caller *c, const char *id);

#endif
