/*
 * spoolctl_out: how spoolctl's commands print: times, free text from the
 * spool, JSON documents.
 */
#ifndef SPOOLCTL_OUT_H
#define SPOOLCTL_OUT_H

#include <stddef.h>
#include <time.h>

#include <cjson/cJSON.h>

/* t as 2026-12-01T10:00:00Z in buf, "-" for 0 (none). */
const char	*ctl_iso(time_t t, char *buf, size_t size);
/* Prints s on one line, escaped as text_line does, so a terminal shows it. */
void		 ctl_put_safe(const char *s);
/* Prints o and frees it: 0, or EX_OSERR with a line on stderr. */
int		 ctl_print_json(cJSON *o);

#endif
