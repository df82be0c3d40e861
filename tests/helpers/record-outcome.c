/*
 * record-outcome: applies one recipient's outcome to a delivery record
 * through the spool API, as trackd does, for tests that have no Postfix.
 *
 *	record-outcome SPOOL ID QID RCPT STATUS DSN RELAY REPLY AT SEQ
 *
 * QID, DSN, RELAY and REPLY may be "-" (none).  Exits 0 when applied, 1
 * when the seq was applied already, 2 on an error (errno's text on
 * stderr), 64 on bad usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "spool.h"

static const char *
opt(const char *s)
{
	return strcmp(s, "-") == 0 ? NULL : s;
}

int
main(int argc, char *argv[])
{
	struct spool_outcome	 o;
	struct spool		*sp;
	const char		*errstr;
	long long		 at, seq;
	int			 r;

	if (argc != 11) {
		fprintf(stderr, "usage: record-outcome SPOOL ID QID RCPT STATUS "
		    "DSN RELAY REPLY AT SEQ\n");
		return EX_USAGE;
	}
	memset(&o, 0, sizeof(o));
	o.status = spool_rcpt_status_parse(argv[5]);
	o.dsn = opt(argv[6]);
	o.relay = opt(argv[7]);
	o.reply = opt(argv[8]);
	at = strtonum(argv[9], 0, LLONG_MAX, &errstr);
	if (errstr == NULL)
		seq = strtonum(argv[10], 0, LLONG_MAX, &errstr);
	if (o.status == -1 || errstr != NULL) {
		fprintf(stderr, "record-outcome: bad status, time or seq\n");
		return EX_USAGE;
	}
	o.at = (time_t)at;
	if ((sp = spool_attach(argv[1])) == NULL) {
		fprintf(stderr, "record-outcome: %s: %s\n", argv[1],
		    strerror(errno));
		return 2;
	}
	r = spool_record_outcome(sp, argv[2], opt(argv[3]), argv[4], &o,
	    (unsigned long long)seq);
	if (r == -1)
		fprintf(stderr, "record-outcome: %s\n", strerror(errno));
	spool_close(sp);
	return r == -1 ? 2 : r;
}
