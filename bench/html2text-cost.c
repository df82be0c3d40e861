/*
 * html2text-cost: what deriving the text part costs a request.  Reads a
 * /send JSON body (the benchmark's), drops its "text", and times, over n
 * rounds on one thread: html2text_convert() of its html, and mime_build()
 * of the html-only request with and without MIME_TEXT_FROM_HTML, next to
 * req_parse() + mime_build() of the body as sent.
 *
 *	html2text-cost -f body.json [-n rounds]
 *
 * Prints one line: "convert_us=A build_html_us=B build_html_text_us=C
 * parse_build_us=D text_bytes=E" (microseconds per round).
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "buf.h"
#include "html2text.h"
#include "mail.h"
#include "mime.h"
#include "req.h"

static double
now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE	*f;
	char	*s;
	long	 n;

	if ((f = fopen(path, "rb")) == NULL || fseek(f, 0, SEEK_END) == -1 ||
	    (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) == -1)
		err(EX_NOINPUT, "%s", path);
	if ((s = malloc((size_t)n + 1)) == NULL)
		err(EX_OSERR, "malloc");
	if (fread(s, 1, (size_t)n, f) != (size_t)n)
		err(EX_IOERR, "%s", path);
	s[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return s;
}

/* The body without its "text" member, as cJSON prints it. */
static char *
html_only(const char *body)
{
	cJSON	*root = cJSON_Parse(body);
	char	*s;

	if (root == NULL)
		errx(EX_DATAERR, "the body is not JSON");
	cJSON_DeleteItemFromObject(root, "text");
	if ((s = cJSON_PrintUnformatted(root)) == NULL)
		errx(EX_OSERR, "cJSON_PrintUnformatted");
	cJSON_Delete(root);
	return s;
}

static void
parse(const char *json, struct mail *m)
{
	struct req_limits	 lim = { 50 };
	struct req_error	 e;

	if (req_parse(json, strlen(json), &lim, m, &e) == -1)
		errx(EX_DATAERR, "req_parse: %s %s", e.code, e.message);
}

/* Microseconds per mime_build() of m with flags. */
static double
time_build(const struct mail *m, int flags, long rounds, struct buf *b)
{
	double	 t = now_us();
	long	 i;

	for (i = 0; i < rounds; i++) {
		buf_reset(b);
		if (mime_build(m, "x@bench.example", 1700000000, flags, b) == -1)
			err(EX_OSERR, "mime_build");
	}
	return (now_us() - t) / rounds;
}

int
main(int argc, char *argv[])
{
	const char	*path = NULL, *errstr;
	struct mail	 m;
	struct buf	 b, text;
	char		*body, *html;
	size_t		 len;
	long		 rounds = 20000, i;
	double		 t, conv, with, without, full;
	int		 ch;

	while ((ch = getopt(argc, argv, "f:n:")) != -1) {
		switch (ch) {
		case 'f': path = optarg; break;
		case 'n':
			rounds = strtonum(optarg, 1, 10000000, &errstr);
			if (errstr != NULL)
				errx(EX_USAGE, "-n %s: %s", optarg, errstr);
			break;
		default: goto usage;
		}
	}
	if (path == NULL)
		goto usage;
	html2text_init();
	body = slurp(path, &len);
	html = html_only(body);
	buf_init(&b);
	buf_init(&text);
	parse(html, &m);
	t = now_us();
	for (i = 0; i < rounds; i++) {
		buf_reset(&text);
		if (html2text_convert(&text, m.html, strlen(m.html)) == -1)
			err(EX_OSERR, "html2text_convert");
	}
	conv = (now_us() - t) / rounds;
	with = time_build(&m, MIME_TEXT_FROM_HTML, rounds, &b);
	without = time_build(&m, 0, rounds, &b);
	req_free(&m);
	t = now_us();
	for (i = 0; i < rounds; i++) {
		parse(body, &m);
		buf_reset(&b);
		if (mime_build(&m, "x@bench.example", 1700000000, 0, &b) == -1)
			err(EX_OSERR, "mime_build");
		req_free(&m);
	}
	full = (now_us() - t) / rounds;
	printf("convert_us=%.2f build_html_us=%.2f build_html_text_us=%.2f "
	    "parse_build_us=%.2f text_bytes=%zu\n", conv, without, with, full,
	    text.len);
	buf_free(&b);
	buf_free(&text);
	free(body);
	free(html);
	return EX_OK;
usage:
	fprintf(stderr, "usage: html2text-cost -f body.json [-n rounds]\n");
	return EX_USAGE;
}
