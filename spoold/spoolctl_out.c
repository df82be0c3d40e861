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
