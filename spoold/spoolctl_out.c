/* spoolctl_out: spoolctl's printing; spoolctl_out.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "spoolctl_out.h"
#include "text.h"

const char *
ctl_iso(time_t t, char *buf, size_t size)
{
	struct tm	tm;

	if (t <= 0)
		snprintf(buf, size, "-");
	else if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

void
ctl_put_safe(const char *s)
{
	size_t	 size = TEXT_LINE_SIZE(strlen(s));
	char	*out;

	if ((out = malloc(size)) == NULL) {
		fprintf(stderr, "spoolctl: out of memory\n");
		exit(EX_OSERR);
	}
	fputs(text_line(s, out, size), stdout);
	free(out);
}

static const char *const addr_text[SPOOL_NADDR] = {
	"to", "cc", "bcc", "reply-to"
};
static const char *const addr_json[SPOOL_NADDR] = {
	"to", "cc", "bcc", "reply_to"
};

void
ctl_put_addr(const struct spool_env *env)
{
	size_t	k, i;

	if (env->from == NULL)
		return;
	printf("from: ");
	ctl_put_safe(env->from);
	printf("\n");
	for (k = 0; k < SPOOL_NADDR; k++)
		for (i = 0; i < env->addr[k].n; i++) {
			printf("%s: ", addr_text[k]);
			ctl_put_safe(env->addr[k].v[i]);
			printf("\n");
		}
}

void
ctl_json_addr(cJSON *o, const struct spool_env *env)
{
	cJSON	*a;
	size_t	 k, i;

	if (env->from != NULL)
		cJSON_AddStringToObject(o, "from", env->from);
	else
		cJSON_AddNullToObject(o, "from");
	for (k = 0; k < SPOOL_NADDR; k++) {
		a = cJSON_AddArrayToObject(o, addr_json[k]);
		for (i = 0; env->from != NULL && i < env->addr[k].n; i++)
			cJSON_AddItemToArray(a,
			    cJSON_CreateString(env->addr[k].v[i]));
	}
}

int
ctl_print_json(cJSON *o)
{
	char	*s;

	if (o == NULL || (s = cJSON_Print(o)) == NULL) {
		cJSON_Delete(o);
		fprintf(stderr, "spoolctl: out of memory\n");
		return EX_OSERR;
	}
	printf("%s\n", s);
	free(s);
	cJSON_Delete(o);
	return 0;
}
