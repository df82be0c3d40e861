/*
 * scrape: GET /metrics and the counters relay-fcgi keeps for it.  Every
 * figure and what resets it: relay-fcgi(8), METRICS.
 */
#ifndef SCRAPE_H
#define SCRAPE_H

#include <stddef.h>
#include <stdint.h>

struct buf;
struct caller;
struct relay;
struct tokens;
struct worker;

/* The endpoint label of a request, from its path. */
enum {
	SCRAPE_SEND, SCRAPE_HEALTH, SCRAPE_MESSAGES, SCRAPE_EMAILS,
	SCRAPE_EMAILS_BATCH, SCRAPE_METRICS, SCRAPE_OTHER, SCRAPE_NENDPOINTS
};
int	scrape_endpoint(const char *path);

/* Per caller, in the order of the tokens file: accepted messages, rcpts. */
struct scrape_callers {
	uint64_t	**messages;
	uint64_t	**recipients;
	size_t		  n;
};
int	scrape_callers(struct scrape_callers *, const struct tokens *);
void	scrape_callers_free(struct scrape_callers *);

/* One atomic add each once a series is known. */
void	scrape_count_answer(int endpoint, int status);
void	scrape_count_error(int endpoint, const char *code);
void	scrape_count_accepted(const struct relay *, const struct caller *,
	    size_t nrcpt);

/* Addresses on the suppression list, -1 if unknown. */
long	scrape_suppressed(const struct relay *);
int	scrape_render(const struct relay *, struct buf *);
void	scrape_handle(struct worker *);

#endif
