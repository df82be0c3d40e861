/*
 * relay-fcgi: the FastCGI responder behind nginx.
 *
 *	relay-fcgi [-dv] [-c config] [-s socket] [-n workers]
 *
 * Phases: arguments; init (config, tokens, spool, socket, privileges,
 * the worker threads: may die); serve (the workers accept and answer; a
 * failed accept backs off, nothing dies); signals (the main thread waits
 * for HUP, to reload, and TERM/INT, to finish the requests in hand and
 * exit 0).
 */
#define _GNU_SOURCE

#include <sys/socket.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "html2text.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "priv.h"
#include "relay.h"
#include "resend.h"

#define LISTEN_BACKLOG	1024

static pthread_rwlock_t	 relay_lock;
static struct relay	*relay_now;	/* under relay_lock */
static const char	*conf_path;
static int		 listen_fd;

static void
usage(void)
{
	fprintf(stderr, "usage: relay-fcgi [-dv] [-c config] [-s socket] "
	    "[-n workers]\n");
	exit(EX_USAGE);
}

int
relay_load(const char *path, struct relay *r, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	if (cfg_load(path, &r->cfg, err, errlen) == -1)
		return -1;
	if (tokens_load(r->cfg.tokens, &r->tokens, err, errlen) == -1)
		return -1;
	if ((r->spool = spool_open(r->cfg.spool)) == NULL) {
		snprintf(err, errlen, "%s: %s", r->cfg.spool, strerror(errno));
		tokens_free(&r->tokens);
		return -1;
	}
	return 0;
}

void
relay_free(struct relay *r)
{
	scrape_callers_free(&r->counters);
	tokens_free(&r->tokens);
	spool_close(r->spool);
	free(r);
}

/* Route on the path as nginx's stock fastcgi_params passes it. */
static void
dispatch(struct worker *w)
{
	const char	*method = http_param(w, "REQUEST_METHOD");
	const char	*path = http_param(w, "DOCUMENT_URI");

	if (path == NULL)
		path = http_param(w, "SCRIPT_NAME");
	if (method == NULL || path == NULL)
		path = "";
	w->caller = NULL;
	w->endpoint = scrape_endpoint(path);
	if (spool_id_new(w->id) == -1)
		w->id[0] = '\0';
	if (strcmp(path, "/send") == 0) {
		if (strcmp(method, "POST") == 0)
			send_handle(w);
		else
			http_fail(w, ERR_METHOD_NOT_ALLOWED, "use POST",
			    NULL, "Allow: POST\r\n");
	} else if (strncmp(path, "/emails", 7) == 0 &&
	    (path[7] == '\0' || path[7] == '/')) {
		resend_dispatch(w, method, path);
	} else if (strcmp(path, "/health") == 0) {
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			health_handle(w);
		else
			http_fail(w, ERR_METHOD_NOT_ALLOWED,
			    "use GET or HEAD", NULL, "Allow: GET, HEAD\r\n");
	} else if (strcmp(path, "/metrics") == 0) {
		if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
			scrape_handle(w);
		else
			http_fail(w, ERR_METHOD_NOT_ALLOWED,
			    "use GET or HEAD", NULL, "Allow: GET, HEAD\r\n");
	} else if (strncmp(path, "/messages/", 10) == 0)
		messages_handle(w, path);
	else
		http_fail(w, ERR_NOT_FOUND, "no such endpoint", NULL,
		    NULL);
}

static void *
worker_main(void *arg)
{
	struct worker	*w = arg;

	for (;;) {
		if (FCGX_Accept_r(&w->req) < 0) {
			/* EMFILE and the like: back off, then carry on. */
			log_warnx("accept failed");
			sleep(1);
			continue;
		}
		pthread_rwlock_rdlock(&relay_lock);
		w->relay = relay_now;
		dispatch(w);
		FCGX_Finish_r(&w->req);
		w->relay = NULL;
		pthread_rwlock_unlock(&relay_lock);
		if (w->body.cap > (1 << 20))
			buf_free(&w->body);
		if (w->msg.cap > (2 << 20))
			buf_free(&w->msg);
	}
	return NULL;
}

static int
open_socket(const char *path)
{
	struct stat	st;
	mode_t		old;
	int		fd;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	old = umask(0117);
	fd = FCGX_OpenSocket(path, LISTEN_BACKLOG);
	umask(old);
	if (fd < 0)
		fatalx(EX_OSERR, "%s: cannot listen", path);
	return fd;
}

static void
reload(void)
{
	struct relay	*fresh, *old;
	char		 err[512];

	if ((fresh = malloc(sizeof(*fresh))) == NULL) {
		log_warn("reload");
		return;
	}
	if (relay_load(conf_path, fresh, err, sizeof(err)) == -1) {
		log_warnx("reload failed, keeping the old configuration: %s",
		    err);
		free(fresh);
		return;
	}
	if (scrape_callers(&fresh->counters, &fresh->tokens) == -1) {
		log_warn("reload");
		relay_free(fresh);
		return;
	}
	pthread_rwlock_wrlock(&relay_lock);
	old = relay_now;
	relay_now = fresh;
	pthread_rwlock_unlock(&relay_lock);
	relay_free(old);
	log_info("configuration reloaded");
}

static void
start_workers(int n)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	struct worker	*w;
	int		 i;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (i = 0; i < n; i++) {
		if ((w = calloc(1, sizeof(*w))) == NULL)
			fatal(EX_OSERR, "calloc");
		/* Here, where dying is still allowed, not in the worker. */
		if (FCGX_InitRequest(&w->req, listen_fd, 0) != 0)
			fatalx(EX_OSERR, "FCGX_InitRequest failed");
		if (pthread_create(&t, &attr, worker_main, w) != 0)
			fatalx(EX_OSERR, "pthread_create failed");
	}
	pthread_attr_destroy(&attr);
}

/*
 * Loads the configuration, opens the socket, drops privileges and starts
 * the workers; dies with a sysexits code when it cannot.  *workers: -n,
 * 0 for relay.conf's.
 */
static void
init(const char *sockpath, int *workers)
{
	pthread_rwlockattr_t	 rwattr;
	char			 err[512];

	if ((relay_now = malloc(sizeof(*relay_now))) == NULL)
		fatal(EX_OSERR, "malloc");
	if (relay_load(conf_path, relay_now, err, sizeof(err)) == -1) {
		fprintf(stderr, "relay-fcgi: %s\n", err);
		exit(EX_CONFIG);
	}
	if (*workers == 0)
		*workers = relay_now->cfg.workers;
	if (FCGX_Init() != 0)
		fatalx(EX_OSERR, "FCGX_Init failed");
	if (sockpath == NULL && FCGX_IsCGI())
		fatalx(EX_USAGE, "standard input is not a listening socket: "
		    "give -s socket, or start from systemd or spawn-fcgi");
	listen_fd = sockpath ? open_socket(sockpath) : 0;
	daemon_drop_privileges(relay_now->cfg.user, relay_now->spool);
	if (metrics_init(relay_now->spool, METRICS_RELAY_FCGI) == -1)
		log_warn("metrics: counters will not be shown");
	if (scrape_callers(&relay_now->counters, &relay_now->tokens) == -1)
		fatal(EX_OSERR, "malloc");
	html2text_init();	/* libxml2, once, before the threads */
	pthread_rwlockattr_init(&rwattr);
	pthread_rwlockattr_setkind_np(&rwattr,
	    PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&relay_lock, &rwattr);
	start_workers(*workers);
}

int
main(int argc, char *argv[])
{
	sigset_t		 sigs;
	const char		*sockpath = NULL, *errstr;
	int			 ch, sig, debug = 0, verbose = 0, workers = 0;

	/*
	 * HUP, TERM and INT wait, blocked in every thread, for the sigwait
	 * loop below: one that arrives while starting is taken there.
	 */
	daemon_block_signals(&sigs);

	while ((ch = getopt(argc, argv, "c:dn:s:v")) != -1) {
		switch (ch) {
		case 'c': conf_path = optarg; break;
		case 'd': debug = 1; break;
		case 'n':
			workers = (int)strtonum(optarg, 1, 1024, &errstr);
			if (errstr != NULL)
				fatalx(EX_USAGE, "-n %s: %s", optarg, errstr);
			break;
		case 's': sockpath = optarg; break;
		case 'v': verbose = 1; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	conf_path = cfg_path(conf_path);
	log_init("relay-fcgi", debug ? LOG_TO_STDERR : LOG_TO_SYSLOG, verbose);

	init(sockpath, &workers);

	/* serve: the workers, from here on */
	log_info("serving with %d workers on %s", workers,
	    sockpath ? sockpath : "fd 0");

	/* signals */
	for (;;) {
		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload();
			continue;
		}
		/* Wait for the requests in hand, then go. */
		pthread_rwlock_wrlock(&relay_lock);
		log_info("exiting on signal %d", sig);
		if (sockpath != NULL)
			unlink(sockpath);
		return 0;
	}
}
