/*
 * fuzz_cfg: relay.conf through cfg_load() (the input is the file), and
 * the size and duration syntaxes through cfg_parse_size() and
 * cfg_parse_duration() against a reference written from cfg.h.
 *
 * Accepted: every value within the range relay.conf(5) gives, paths
 * absolute, the sendmail command split into 1..16 non-empty words of
 * which the first is absolute, backoff_initial <= backoff_max.  Refused:
 * the message names the file.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "fuzzutil.h"

/* digits, then at most one suffix from sfx with its multiplier. */
static int
ref_number(const char *s, const char *sfx, const unsigned long long *mul,
    unsigned long long max, unsigned long long *out)
{
	unsigned long long	v = 0, m = 1;
	const char		*p = s, *k;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (ULLONG_MAX - (unsigned)(*p - '0')) / 10)
			return -1;
		v = v * 10 + (unsigned)(*p - '0');
	}
	if (*p != '\0') {
		if ((k = strchr(sfx, *p)) == NULL)
			return -1;
		m = mul[k - sfx];
		p++;
	}
	if (*p != '\0' || v > max / m)
		return -1;
	*out = v * m;
	return 0;
}

static void
check_parsers(const char *s)
{
	static const unsigned long long	 smul[] = { 1024, 1024, 1 << 20,
	    1 << 20 }, dmul[] = { 1, 60, 3600, 86400 };
	unsigned long long		 want;
	size_t				 size;
	time_t				 dur;
	int				 ok;

	ok = ref_number(s, "kKmM", smul, SIZE_MAX, &want) == 0;
	FZ_CHECK((cfg_parse_size(s, &size) == 0) == ok, "size \"%s\"", s);
	FZ_CHECK(!ok || size == want, "size \"%s\" = %zu", s, size);
	ok = ref_number(s, "smhd", dmul, INT32_MAX, &want) == 0;
	FZ_CHECK((cfg_parse_duration(s, &dur) == 0) == ok, "duration \"%s\"",
	    s);
	FZ_CHECK(!ok || (unsigned long long)dur == want, "duration \"%s\"", s);
}

static void
check_cfg(const struct cfg *c)
{
	int	i;

	FZ_CHECK(c->spool[0] == '/' && c->tokens[0] == '/', "relative path");
	FZ_CHECK(memchr(c->message_id_domain, '\0',
	    sizeof(c->message_id_domain)) && memchr(c->user, '\0',
	    sizeof(c->user)), "unterminated string");
	FZ_CHECK(c->max_body >= 1024 && c->max_body <= 64 << 20, "max_body");
	FZ_CHECK(c->max_batch_body >= 1024 && c->max_batch_body <= 256 << 20,
	    "max_batch_body");
	FZ_CHECK(c->max_recipients >= 1 && c->max_recipients <= 1000 &&
	    c->max_pending >= 1 && c->max_pending <= 10000000 &&
	    c->workers >= 1 && c->workers <= 1024 && c->max_attempts >= 1 &&
	    c->max_attempts <= 1000, "counts");
	FZ_CHECK(c->max_pending_age >= 1 && c->max_pending_age <= 30 * 86400 &&
	    c->sendmail_timeout >= 1 && c->sendmail_timeout <= 86400 &&
	    c->backoff_initial >= 1 && c->backoff_initial <= 86400 &&
	    c->backoff_max >= 1 && c->backoff_max <= 7 * 86400 &&
	    c->backoff_initial <= c->backoff_max, "durations");
	FZ_CHECK(c->track_retention >= 60 && c->track_retention <= 366 * 86400 &&
	    c->webhook_max_age >= 60 && c->webhook_max_age <= 30 * 86400,
	    "tracking and webhook durations");
	FZ_CHECK((c->suppress_bounces == 0 || c->suppress_bounces == 1) &&
	    (c->html_to_text == 0 || c->html_to_text == 1), "booleans");
	FZ_CHECK((c->postfix_log[0] == '\0' || c->postfix_log[0] == '/') &&
	    (c->webhooks[0] == '\0' || c->webhooks[0] == '/') &&
	    (c->webhook_ca_file[0] == '\0' || c->webhook_ca_file[0] == '/') &&
	    memchr(c->metrics_token, '\0', sizeof(c->metrics_token)),
	    "tracking, webhook and metrics strings");
	FZ_CHECK(c->sendmail_argc >= 1 && c->sendmail_argc <= CFG_SENDMAIL_ARGS &&
	    c->sendmail_argv[c->sendmail_argc] == NULL &&
	    c->sendmail_argv[0][0] == '/', "sendmail argv");
	for (i = 0; i < c->sendmail_argc; i++)
		FZ_CHECK(c->sendmail_argv[i][0] != '\0' &&
		    strpbrk(c->sendmail_argv[i], " \t") == NULL, "argv word");
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static char	 path[PATH_MAX];
	struct cfg	*c;
	char		 err[512], *s;
	FILE		*f;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s/relay.conf", fz_tmpdir());
	if ((f = fopen(path, "w")) == NULL ||
	    fwrite(data, 1, len, f) != len || fclose(f) != 0)
		abort();
	if ((c = malloc(sizeof(*c))) == NULL)
		abort();
	err[0] = '\0';
	if (cfg_load(path, c, err, sizeof(err)) == 0)
		check_cfg(c);
	else
		FZ_CHECK(strncmp(err, path, strlen(path)) == 0 &&
		    err[strlen(path)] == ':', "error \"%s\"", err);
	free(c);

	if ((s = malloc(len + 1)) == NULL)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	check_parsers(s);
	free(s);
	return 0;
}
