/*
 * spool-fill: puts N jobs into a spool's pending/ through the spool
 * module (spool_enqueue), from a few threads, for the drain benchmark.
 * Every job is due now and holds the same realistic ~2 KB message.
 *
 *	spool-fill -d spooldir [-n jobs] [-t threads]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "benchjob.h"

static struct spool	*spool;
static atomic_long	 left;
static atomic_long	 failed;
static char		 msg[4096];
static size_t		 msglen;

static void
make_message(void)
{
	static const char	*para = "Your order 40213 has shipped and "
	    "is on its way. You can follow the parcel with the link below; "
	    "delivery usually takes two to three working days.\n";
	size_t			 n;
	int			 i;

	n = (size_t)snprintf(msg, sizeof(msg),
	    "From: Shop <orders@example.org>\n"
	    "To: Alice Example <alice@example.net>, bob@example.net\n"
	    "Subject: =?UTF-8?Q?Your_order_has_shipped_=E2=9C=94?=\n"
	    "Date: Sun, 22 Nov 2026 03:00:00 +0000\n"
	    "Message-ID: <0640a1b2c3d4e-0123456789abcdef@relay.test>\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=UTF-8\n"
	    "Content-Transfer-Encoding: quoted-printable\n\n");
	for (i = 0; i < 12 && n + strlen(para) < sizeof(msg); i++) {
		memcpy(msg + n, para, strlen(para));
		n += strlen(para);
	}
	msglen = n;
}

static void *
fill_main(void *arg)
{
	char	id[SPOOL_ID_LEN + 1];

	(void)arg;
	while (atomic_fetch_sub(&left, 1) > 0)
		if (bench_enqueue(spool, msg, msglen, id) == -1) {
			perror("spool_enqueue");
			failed++;
		}
	return NULL;
}

int
main(int argc, char *argv[])
{
	pthread_t	 t[64];
	const char	*dir = NULL, *errstr;
	long		 n = 5000;
	int		 ch, i, nthreads = 8;

	while ((ch = getopt(argc, argv, "d:n:t:")) != -1) {
		switch (ch) {
		case 'd': dir = optarg; break;
		case 'n':
			n = strtonum(optarg, 1, 10000000, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		case 't':
			nthreads = (int)strtonum(optarg, 1, 64, &errstr);
			if (errstr != NULL)
				return EX_USAGE;
			break;
		default:
			fprintf(stderr, "usage: spool-fill -d spooldir [-n jobs] "
			    "[-t threads]\n");
			return EX_USAGE;
		}
	}
	if (dir == NULL)
		return EX_USAGE;
	if ((spool = spool_open(dir)) == NULL) {
		perror(dir);
		return EX_CANTCREAT;
	}
	make_message();
	left = n;
	for (i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], NULL, fill_main, NULL) != 0)
			return EX_OSERR;
	for (i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	spool_close(spool);
	return failed ? 1 : 0;
}
