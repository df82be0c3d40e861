/*
 * build-message: a JSON request on stdin, the message relay-fcgi would
 * spool on stdout (req_parse with max_recipients 50, then mime_build with
 * Message-ID <test@example.org> and a fixed date).
 *
 *	build-message [-T]
 *
 * -T: as with html_to_text = no (no text part derived from html).
 *
 * Exit: 0; EX_DATAERR (65) when the request is refused, with "code field"
 * on stderr; EX_OSERR or EX_IOERR on a system error.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "html2text.h"
#include "mail.h"
#include "mime.h"
#include "req.h"

#define BUILD_DATE	1700000000	/* Tue, 14 Nov 2023 22:13:20 */

static int
read_all(int fd, struct buf *b)
{
	ssize_t	 n;

	for (;;) {
		if (buf_reserve(b, 65536) == -1)
			return -1;
		n = read(fd, b->data + b->len, b->cap - b->len - 1);
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		b->len += (size_t)n;
	}
}

static int
write_all(int fd, const char *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
main(int argc, char *argv[])
{
	struct req_limits	 lim = { 50 };
	struct req_error	 e;
	struct mail		 m;
	struct buf		 in, out;
	int			 ch, flags = MIME_TEXT_FROM_HTML;

	while ((ch = getopt(argc, argv, "T")) != -1) {
		switch (ch) {
		case 'T':
			flags = 0;
			break;
		default:
			fprintf(stderr, "usage: build-message [-T]\n");
			return EX_USAGE;
		}
	}
	html2text_init();

	buf_init(&in);
	buf_init(&out);
	if (read_all(STDIN_FILENO, &in) == -1)
		err(EX_IOERR, "stdin");
	if (req_parse(in.data, in.len, &lim, &m, &e) == -1) {
		fprintf(stderr, "%s %s\n%s\n", e.code, e.field, e.message);
		buf_free(&in);
		return e.status == 400 ? EX_DATAERR : EX_OSERR;
	}
	if (mime_build(&m, "test@example.org", BUILD_DATE, flags, &out) == -1)
		err(EX_OSERR, "mime_build");
	if (write_all(STDOUT_FILENO, out.data, out.len) == -1)
		err(EX_IOERR, "stdout");
	req_free(&m);
	buf_free(&in);
	buf_free(&out);
	return EX_OK;
}
