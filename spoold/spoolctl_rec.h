/*
 * spoolctl_rec: spoolctl's commands on delivery records (sent/) and the
 * suppression list.  Each prints its answer and returns spoolctl's exit
 * status (0 or a sysexits code), messages on stderr.
 */
#ifndef SPOOLCTL_REC_H
#define SPOOLCTL_REC_H

#include <time.h>

#include <cjson/cJSON.h>

#include "spool.h"

/* show ID for a record: text, or JSON when json. */
int	ctlrec_show(struct spool *, const char *id, int json, time_t now);
/* One record in list: a text line, or an object added to arr. */
void	ctlrec_list_one(struct spool *, const char *id, cJSON *arr,
	    time_t now);
/*
 * Recipients of the records changed since `since`, by status into
 * n[SPOOL_RCPT_NSTATUS]; 0 or -1 + errno.
 */
int	ctlrec_count(struct spool *, time_t since, long *n);
int	ctlrec_suppressed(struct spool *, int json);
int	ctlrec_suppress(struct spool *, const char *addr, time_t now);
int	ctlrec_unsuppress(struct spool *, const char *addr);

#endif
