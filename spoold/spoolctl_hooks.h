/*
 * spoolctl_hooks: spoolctl's webhook commands (events/, events-failed/):
 *
 *	spoolctl hooks [--json]			pending and failed, per caller
 *	spoolctl hooks retry ID... | --failed	send again
 *
 * Returns spoolctl's exit status (0 or a sysexits code).
 */
#ifndef SPOOLCTL_HOOKS_H
#define SPOOLCTL_HOOKS_H

#include <time.h>

#include "spool.h"

int	ctlhooks_run(struct spool *, int argc, char **argv, time_t now);

#endif
