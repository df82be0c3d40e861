/*
 * relay: what relay-fcgi's workers share.  A struct relay is built whole at
 * start and on SIGHUP, never changed afterwards, and swapped under a lock
 * that every request holds for reading.
 */
#ifndef RELAY_H
#define RELAY_H

#include <fcgiapp.h>

#include "buf.h"
#include "mail.h"
#include "cfg.h"
#include "scrape.h"
#include "spool.h"
#include "tokens.h"

struct relay {
	struct cfg	 cfg;
	struct tokens	 tokens;
	struct spool	*spool;
	struct scrape_callers counters;	/* per caller, for /metrics */
};

struct worker {
	FCGX_Request		 req;
	const struct relay	*relay;
	char			 id[SPOOL_ID_LEN + 1];	/* X-Relay-Id */
	const char		*caller;		/* X-Relay-Caller */
	int			 endpoint;		/* SCRAPE_*, for /metrics */
	struct buf		 body;		/* reused from request to request */
	struct buf		 msg;
	struct buf		 out;
};

/* 0, or -1 with the reason in err. */
int	relay_load(const char *, struct relay *, char *, size_t);
void	relay_free(struct relay *);

void	send_handle(struct worker *);
void	health_handle(struct worker *);
/* path: the whole path, "/messages/" and the id. */
void	messages_handle(struct worker *, const char *path);
/* The caller of the request's bearer token, or NULL. */
const struct caller *send_auth(struct worker *);
struct send_api;
/* 1 if a recipient of m is suppressed (422 answered through api), 0 if
 * none, -1 on a spool error (503 answered). */
int	send_suppressed(struct worker *, const struct send_api *,
	    const struct mail *);

#endif
