/*
 * cfg: relay.conf, shared by relay-fcgi, spoold and spoolctl.
 *
 * "key = value" lines, '#' comments, blank lines.  Unknown keys, repeated
 * keys and bad values are errors reported as "file:line: message".  Sizes
 * take k/m suffixes, durations s/m/h/d, booleans yes/no.  The compiled-in defaults below are
 * what an absent key means.
 */
#ifndef CFG_H
#define CFG_H

#include <limits.h>
#include <stddef.h>
#include <time.h>

#define CFG_PATH_DEFAULT	"/etc/mail-relay/relay.conf"
#define CFG_PATH_ENV		"MAIL_RELAY_CONF"
#define CFG_SENDMAIL_ARGS	16

struct cfg {
	char	 spool[PATH_MAX];		/* /var/spool/mail-relay */
	char	 tokens[PATH_MAX];		/* /etc/mail-relay/tokens */
	char	 message_id_domain[254];	/* gethostname() */
	char	 user[64];			/* "" : keep the current user */
	size_t	 max_body;			/* 512k */
	size_t	 max_batch_body;		/* 4m: POST /emails/batch */
	size_t	 max_recipients;		/* 50 */
	size_t	 max_pending;			/* 10000 */
	int	 workers;			/* 16 */
	time_t	 max_pending_age;		/* 15m: /health limit */
	/* spoold */
	char	 sendmail[1024];		/* the command line as written */
	char	*sendmail_argv[CFG_SENDMAIL_ARGS + 1];	/* points into argbuf */
	char	 sendmail_argbuf[1024];
	int	 sendmail_argc;
	time_t	 sendmail_timeout;		/* 30s */
	int	 max_attempts;			/* 8 */
	time_t	 backoff_initial;		/* 30s */
	time_t	 backoff_max;			/* 1h */
	/* delivery status (trackd, spoold's records, suppression) */
	char	 postfix_log[PATH_MAX];		/* "": no trackd */
	time_t	 track_retention;		/* 7d: sent/ records kept */
	int	 suppress_bounces;		/* yes */
	/* webhooks (hookd) */
	char	 webhooks[PATH_MAX];		/* "": no webhooks */
	char	 webhook_ca_file[PATH_MAX];	/* "": the system's CAs */
	time_t	 webhook_max_age;		/* 24h: then failed */
	/* relay-fcgi */
	char	 metrics_token[256];		/* "": /metrics without a token */
	int	 html_to_text;			/* yes: text part from html */
};

/*
 * The config path: the -c argument if given, else $MAIL_RELAY_CONF (ignored
 * when set-id), else CFG_PATH_DEFAULT.
 */
const char	*cfg_path(const char *);
void		 cfg_defaults(struct cfg *);
/* 0, or -1 with "file:line: why" in err.  A struct cfg is not copyable. */
int		 cfg_load(const char *, struct cfg *, char *, size_t);
/* Parsers for the value syntaxes, shared with tests: 0 or -1. */
int		 cfg_parse_size(const char *, size_t *);
int		 cfg_parse_duration(const char *, time_t *);

#endif
