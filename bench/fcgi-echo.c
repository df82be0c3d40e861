/*
 * fcgi-echo: the FastCGI ceiling for the benchmark.  A bare libfcgi
 * responder with worker threads, as relay-fcgi has: it reads the whole
 * body, touches no disk and answers 202 with a body of the relay's size.
 *
 *	fcgi-echo -s socket [-n workers]
 */
#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#define BODY_MAX	(4 << 20)

static int	listen_fd;

static void
usage(void)
{
	fprintf(stderr, "usage: fcgi-echo -s socket [-n workers]\n");
	exit(EX_USAGE);
}

/* Reads CONTENT_LENGTH bytes into buf; -1 on a short or oversized body. */
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
	return 0;
}

static void *
worker_main(void *arg)
{
	FCGX_Request	 req;
	char		*buf;

	(void)arg;
	if ((buf = malloc(BODY_MAX)) == NULL)
		return NULL;
	if (FCGX_InitRequest(&req, listen_fd, 0) != 0)
		return NULL;
	while (FCGX_Accept_r(&req) >= 0) {
		if (read_body(&req, buf) == -1)
			FCGX_PutS("Status: 400 Bad Request\r\n"
			    "Content-Type: application/json\r\n\r\n"
			    "{\"ok\":false}\n", req.out);
		else
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
	const char	*sock = NULL, *errstr;
	mode_t		 old;
	int		 ch, i, sig, n = 16;

	while ((ch = getopt(argc, argv, "n:s:")) != -1) {
		switch (ch) {
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
