/*
 * fcgi-echo: the FastCGI ceiling for the benchmark.  A bare libfcgi
 * responder with worker threads, as relay-fcgi has: it reads the whole
 * body, touches no disk and answers 202 with a body of the relay's size.
 *
 * With -d, each body it reads is also enqueued as the message of a job
 * with the spool's own spool_enqueue, as relay-fcgi and bench/durable-loop
 * do: dir becomes a spool, the body is written to tmp/<id>, fsynced,
 * renamed into pending/, and pending/ fsynced.  A failed write answers
 * 503, not 202.
 *
 *	fcgi-echo -s socket [-n workers] [-d dir]
 */
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "benchjob.h"

#define BODY_MAX	(4 << 20)

static int		listen_fd;
static struct spool	*spool;		/* -d dir */
static atomic_flag	warned = ATOMIC_FLAG_INIT;

static void
usage(void)
{
	fprintf(stderr, "usage: fcgi-echo -s socket [-n workers] [-d dir]\n");
	exit(EX_USAGE);
}

/*
 * Reads CONTENT_LENGTH bytes into buf: their number, or -1 on a short or
 * oversized body.
 */
static int
read_body(FCGX_Request *r, char *buf)
{
	const char	*s = FCGX_GetParam("CONTENT_LENGTH", r->envp);
	const char	*errstr;
	long long	 len;
	int		 n, got = 0;

	if (s == NULL || *s == '\0')
		return 0;
	len = strtonum(s, 0, BODY_MAX, &errstr);
	if (errstr != NULL)
		return -1;
	while (got < len) {
		if ((n = FCGX_GetStr(buf + got, (int)len - got, r->in)) <= 0)
			return -1;
		got += n;
	}
	return got;
}

static void *
worker_main(void *arg)
{
	FCGX_Request	 req;
	char		*buf;
	char		 id[SPOOL_ID_LEN + 1];
	int		 len;

	(void)arg;
	if ((buf = malloc(BODY_MAX)) == NULL)
		return NULL;
	if (FCGX_InitRequest(&req, listen_fd, 0) != 0) {
		free(buf);
		return NULL;
	}
	while (FCGX_Accept_r(&req) >= 0) {
		if ((len = read_body(&req, buf)) == -1)
			FCGX_PutS("Status: 400 Bad Request\r\n"
			    "Content-Type: application/json\r\n\r\n"
			    "{\"ok\":false}\n", req.out);
		else if (spool != NULL &&
		    bench_enqueue(spool, buf, (size_t)len, id) == -1) {
			if (!atomic_flag_test_and_set(&warned))
				fprintf(stderr, "fcgi-echo: write: %s\n",
				    strerror(errno));
			FCGX_PutS("Status: 503 Service Unavailable\r\n"
			    "Content-Type: application/json\r\n\r\n"
			    "{\"ok\":false,\"error\":\"spool\"}\n", req.out);
		} else
			FCGX_PutS("Status: 202 Accepted\r\n"
			    "Content-Type: application/json\r\n"
			    "Cache-Control: no-store\r\n"
			    "X-Relay-Id: 0640a1b2c3d4e-0123456789abcdef\r\n"
			    "X-Relay-Caller: bench\r\n\r\n"
			    "{\"ok\":true,\"queued\":true,"
			    "\"id\":\"0640a1b2c3d4e-0123456789abcdef\","
			    "\"messageId\":\"<0640a1b2c3d4e-0123456789abcdef"
			    "@relay.test>\"}\n", req.out);
		FCGX_Finish_r(&req);
	}
	free(buf);
	return NULL;
}

int
main(int argc, char *argv[])
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	sigset_t	 sigs;
	const char	*sock = NULL, *dir = NULL, *errstr;
	mode_t		 old;
	int		 ch, i, sig, n = 16;

	while ((ch = getopt(argc, argv, "d:n:s:")) != -1) {
		switch (ch) {
		case 'd':
			dir = optarg;
			break;
		case 'n':
			n = (int)strtonum(optarg, 1, 1024, &errstr);
			if (errstr != NULL)
				usage();
			break;
		case 's': sock = optarg; break;
		default: usage();
		}
	}
	if (sock == NULL || optind != argc)
		usage();
	if (dir != NULL && (spool = spool_open(dir)) == NULL) {
		fprintf(stderr, "fcgi-echo: %s: %s\n", dir, strerror(errno));
		return EX_CANTCREAT;
	}
	if (FCGX_Init() != 0)
		return EX_OSERR;
	unlink(sock);
	old = umask(0117);
	if ((listen_fd = FCGX_OpenSocket(sock, 1024)) < 0) {
		fprintf(stderr, "fcgi-echo: %s: cannot listen\n", sock);
		return EX_OSERR;
	}
	umask(old);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	for (i = 0; i < n; i++)
		if (pthread_create(&t, &attr, worker_main, NULL) != 0)
			return EX_OSERR;
	while (sigwait(&sigs, &sig) != 0)
		continue;
	unlink(sock);
	return 0;
}
