/*
 * spoolctl_out: how spoolctl's commands print: times, free text from the
 * spool, JSON documents.
 */
#ifndef SPOOLCTL_OUT_H
#define SPOOLCTL_OUT_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "spool.h"

/* t as 2026-12-01T10:00:00Z in buf, "-" for 0 (none). */
const char	*ctl_iso(time_t t, char *buf, size_t size);
/* Prints s on one line, escaped as text_line does, so a terminal shows it. */
void		 ctl_put_safe(const char *s);
/*
 * The addressing as the job or record keeps it (from, to, cc, bcc,
 * reply-to): "key: value" lines, one per address, none for a job
 * written before the lines existed (env->from NULL).
 */
void		 ctl_put_addr(const struct spool_env *env);
/* The same into o: "from" (null if not kept), "to", "cc", "bcc",
 * "reply_to" (arrays, empty if not kept). */
void		 ctl_json_addr(cJSON *o, const struct spool_env *env);
/* Prints o and frees it: 0, or EX_OSERR with a line on stderr. */
int		 ctl_print_json(cJSON *o);

#endif
