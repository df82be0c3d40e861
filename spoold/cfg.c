/*
 * cfg: parse relay.conf strictly.  Every key once; unknown keys, bad values
 * and missing '=' are errors naming file:line.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

enum cfg_type {
	T_PATH, T_STRING, T_SIZE, T_COUNT, T_DURATION, T_COMMAND, T_BOOL
};

struct cfg_key {
	const char	*name;
	enum cfg_type	 type;
	size_t		 off;
	size_t		 len;		/* strings: buffer size */
	long long	 min, max;	/* counts */
};

#define STR(f, t)	t, offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f)
#define NUM(f, t)	t, offsetof(struct cfg, f), 0

static const struct cfg_key keys[] = {
	{ "spool",		STR(spool, T_PATH), 0, 0 },
	{ "tokens",		STR(tokens, T_PATH), 0, 0 },
	{ "message_id_domain",	STR(message_id_domain, T_STRING), 0, 0 },
	{ "user",		STR(user, T_STRING), 0, 0 },
	{ "max_body",		NUM(max_body, T_SIZE), 1024, 64 << 20 },
	{ "max_batch_body",	NUM(max_batch_body, T_SIZE), 1024, 256 << 20 },
	{ "max_recipients",	NUM(max_recipients, T_COUNT), 1, 1000 },
	{ "max_pending",	NUM(max_pending, T_COUNT), 1, 10000000 },
	{ "workers",		NUM(workers, T_COUNT), 1, 1024 },
	{ "max_pending_age",	NUM(max_pending_age, T_DURATION), 1, 30 * 86400 },
	{ "sendmail",		STR(sendmail, T_COMMAND), 0, 0 },
	{ "sendmail_timeout",	NUM(sendmail_timeout, T_DURATION), 1, 86400 },
	{ "max_attempts",	NUM(max_attempts, T_COUNT), 1, 1000 },
	{ "backoff_initial",	NUM(backoff_initial, T_DURATION), 1, 86400 },
	{ "backoff_max",	NUM(backoff_max, T_DURATION), 1, 7 * 86400 },
	{ "postfix_log",	STR(postfix_log, T_PATH), 0, 0 },
	{ "track_retention",	NUM(track_retention, T_DURATION), 60,
	    366 * 86400 },
	{ "suppress_bounces",	NUM(suppress_bounces, T_BOOL), 0, 1 },
	{ "webhooks",		STR(webhooks, T_PATH), 0, 0 },
	{ "webhook_ca_file",	STR(webhook_ca_file, T_PATH), 0, 0 },
	{ "webhook_max_age",	NUM(webhook_max_age, T_DURATION), 60,
	    30 * 86400 },
	{ "metrics_token",	STR(metrics_token, T_STRING), 0, 0 },
	{ "html_to_text",	NUM(html_to_text, T_BOOL), 0, 1 },
};
#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

const char *
cfg_path(const char *arg)
{
	const char	*env;

	if (arg != NULL)
		return arg;
	if (getuid() == geteuid() && getgid() == getegid() &&
	    (env = getenv(CFG_PATH_ENV)) != NULL && *env != '\0')
		return env;
	return CFG_PATH_DEFAULT;
}

/* Split the sendmail command line on blanks into argv. */
static int
cfg_split_command(struct cfg *c)
{
	char	*p, *word;

	strlcpy(c->sendmail_argbuf, c->sendmail, sizeof(c->sendmail_argbuf));
	c->sendmail_argc = 0;
	p = c->sendmail_argbuf;
	while ((word = strsep(&p, " \t")) != NULL) {
		if (*word == '\0')
			continue;
		if (c->sendmail_argc == CFG_SENDMAIL_ARGS)
			return -1;
		c->sendmail_argv[c->sendmail_argc++] = word;
	}
	c->sendmail_argv[c->sendmail_argc] = NULL;
	return c->sendmail_argc > 0 && c->sendmail_argv[0][0] == '/' ? 0 : -1;
}

void
cfg_defaults(struct cfg *c)
{
	memset(c, 0, sizeof(*c));
	strlcpy(c->spool, "/var/spool/mail-relay", sizeof(c->spool));
	strlcpy(c->tokens, "/etc/mail-relay/tokens", sizeof(c->tokens));
	if (gethostname(c->message_id_domain,
	    sizeof(c->message_id_domain)) == -1)
		strlcpy(c->message_id_domain, "localhost",
		    sizeof(c->message_id_domain));
	c->max_body = 512 * 1024;
	c->max_batch_body = 4 * 1024 * 1024;
	c->max_recipients = 50;
	c->max_pending = 10000;
	c->workers = 16;
	c->max_pending_age = 15 * 60;
	strlcpy(c->sendmail, "/usr/sbin/sendmail", sizeof(c->sendmail));
	cfg_split_command(c);
	c->sendmail_timeout = 30;
	c->max_attempts = 8;
	c->backoff_initial = 30;
	c->backoff_max = 3600;
	c->track_retention = 7 * 86400;
	c->suppress_bounces = 1;
	c->webhook_max_age = 24 * 3600;
	c->html_to_text = 1;
}

/* A unit suffix and what it multiplies by. */
struct cfg_unit {
	char			suffix;
	unsigned long long	mul;
};

static const struct cfg_unit size_units[] = {
	{ 'k', 1024 }, { 'K', 1024 }, { 'm', 1024 * 1024 }, { 'M', 1024 * 1024 },
	{ '\0', 0 }
};
static const struct cfg_unit duration_units[] = {
	{ 's', 1 }, { 'm', 60 }, { 'h', 3600 }, { 'd', 86400 }, { '\0', 0 }
};

/* Digits and at most one suffix from units; 0 with *out <= max, or -1. */
static int
parse_scaled(const char *s, const struct cfg_unit *units,
    unsigned long long max, unsigned long long *out)
{
	char			*end;
	unsigned long long	 v, mul = 1;

	if (!isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return -1;
	for (; units->suffix != '\0' && *end != '\0'; units++)
		if (*end == units->suffix) {
			mul = units->mul;
			end++;
			break;
		}
	if (*end != '\0' || v > max / mul)
		return -1;
	*out = v * mul;
	return 0;
}

/* "512k", "1m", "4096": bytes. */
int
cfg_parse_size(const char *s, size_t *out)
{
	unsigned long long	v;

	if (parse_scaled(s, size_units, SIZE_MAX, &v) == -1)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* "30s", "5m", "1h", "7d", "45" (seconds). */
int
cfg_parse_duration(const char *s, time_t *out)
{
	unsigned long long	v;

	if (parse_scaled(s, duration_units, INT32_MAX, &v) == -1)
		return -1;
	*out = (time_t)v;
	return 0;
}

static const struct cfg_key *
cfg_key_find(const char *name)
{
	size_t	i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static const char *
cfg_set(struct cfg *c, const struct cfg_key *k, const char *v)
{
	char		*field = (char *)c + k->off;
	const char	*errstr;
	long long	 n;
	size_t		 size;
	time_t		 dur;

	switch (k->type) {
	case T_PATH:
		if (v[0] != '/')
			return "must be an absolute path";
		/* FALLTHROUGH */
	case T_STRING:
	case T_COMMAND:
		if (strlcpy(field, v, k->len) >= k->len)
			return "value too long";
		if (k->type == T_COMMAND && cfg_split_command(c) == -1)
			return "must be an absolute path and at most 16 words";
		return NULL;
	case T_SIZE:
		if (cfg_parse_size(v, &size) == -1 ||
		    size < (size_t)k->min || size > (size_t)k->max)
			return "bad size (a number with optional k or m)";
		*(size_t *)(void *)field = size;
		return NULL;
	case T_DURATION:
		if (cfg_parse_duration(v, &dur) == -1 ||
		    dur < k->min || dur > k->max)
			return "bad duration (a number with s, m, h or d)";
		*(time_t *)(void *)field = dur;
		return NULL;
	case T_BOOL:
		if (strcmp(v, "yes") == 0)
			*(int *)(void *)field = 1;
		else if (strcmp(v, "no") == 0)
			*(int *)(void *)field = 0;
		else
			return "must be yes or no";
		return NULL;
	case T_COUNT:
		n = strtonum(v, k->min, k->max, &errstr);
		if (errstr != NULL)
			return errstr;
		if (k->off == offsetof(struct cfg, workers) ||
		    k->off == offsetof(struct cfg, max_attempts))
			*(int *)(void *)field = (int)n;
		else
			*(size_t *)(void *)field = (size_t)n;
		return NULL;
	}
	return "bad key type";
}

static char *
trim(char *s)
{
	char	*e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' ||
	    e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
cfg_line(struct cfg *c, char *line, unsigned char *seen, const char **why)
{
	const struct cfg_key	*k;
	char			*eq, *name, *value;

	if ((eq = strchr(line, '=')) == NULL) {
		*why = "expected key = value";
		return -1;
	}
	*eq = '\0';
	name = trim(line);
	value = trim(eq + 1);
	if ((k = cfg_key_find(name)) == NULL) {
		*why = "unknown key";
		return -1;
	}
	if (seen[k - keys]++) {
		*why = "key given twice";
		return -1;
	}
	if (*value == '\0') {
		*why = "empty value";
		return -1;
	}
	return (*why = cfg_set(c, k, value)) == NULL ? 0 : -1;
}

int
cfg_load(const char *path, struct cfg *c, char *err, size_t errlen)
{
	FILE		*fp;
	char		*line = NULL, *p;
	size_t		 cap = 0;
	ssize_t		 n;
	unsigned long	 lineno = 0;
	unsigned char	 seen[NKEYS] = { 0 };
	const char	*why;
	int		 rc = 0;

	cfg_defaults(c);
	if ((fp = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((n = getline(&line, &cap, fp)) != -1) {
		lineno++;
		if ((p = strchr(line, '#')) != NULL)
			*p = '\0';
		p = trim(line);
		if (*p == '\0')
			continue;
		if (cfg_line(c, p, seen, &why) == -1) {
			snprintf(err, errlen, "%s:%lu: %s", path, lineno, why);
			rc = -1;
			break;
		}
	}
	if (rc == 0 && ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	if (rc == 0 && c->backoff_initial > c->backoff_max) {
		snprintf(err, errlen, "%s: backoff_initial exceeds backoff_max",
		    path);
		rc = -1;
	}
	free(line);
	fclose(fp);
	return rc;
}
