/*
 * health: GET /health.  200 "ok" when the config is loaded, the spool is
 * writable, spoold holds its lock, trackd holds its lock (when postfix_log
 * is set) and the oldest due job is younger than max_pending_age;
 * otherwise 503 and the first reason found.
 */
#include <stdio.h>
#include <time.h>

#include "http.h"
#include "relay.h"

void
health_handle(struct worker *w)
{
	const struct relay	*r = w->relay;
	char			 why[128];
	time_t			 now = time(NULL), oldest;
	int			 n;

	if (!spool_writable(r->spool))
		n = snprintf(why, sizeof(why), "spool not writable\n");
	else if (!spool_daemon_running(r->spool))
		n = snprintf(why, sizeof(why), "spoold not running\n");
	else if (r->cfg.postfix_log[0] != '\0' &&
	    !spool_track_running(r->spool))
		n = snprintf(why, sizeof(why), "trackd not running\n");
	else if ((oldest = spool_oldest_due(r->spool, now)) != 0 &&
	    now - oldest > r->cfg.max_pending_age)
		n = snprintf(why, sizeof(why), "oldest pending job waits "
		    "%llds\n", (long long)(now - oldest));
	else {
		http_reply(w, 200, NULL, "text/plain", "ok\n", 3);
		return;
	}
	http_reply(w, 503, HTTP_RETRY_AFTER, "text/plain", why,
	    (size_t)n);
}
