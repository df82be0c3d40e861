/*
 * html2text: html on stdin, the text html2text_convert() derives from it
 * (the text/plain part relay-fcgi adds to html-only mail) on stdout.
 *
 * Exit: 0; EX_OSERR or EX_IOERR on a system error.
 */
#include <err.h>
#include <stdio.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "html2text.h"

int
main(void)
{
	struct buf	 in, out;
	ssize_t		 n;
	size_t		 off;

	buf_init(&in);
	buf_init(&out);
	for (;;) {
		if (buf_reserve(&in, 65536) == -1)
			err(EX_OSERR, "read");
		if ((n = read(STDIN_FILENO, in.data + in.len,
		    in.cap - in.len - 1)) == -1)
			err(EX_IOERR, "stdin");
		if (n == 0)
			break;
		in.len += (size_t)n;
	}
	html2text_init();
	if (html2text_convert(&out, in.len > 0 ? in.data : "", in.len) == -1)
		err(EX_OSERR, "html2text");
	for (off = 0; off < out.len; off += (size_t)n)
		if ((n = write(STDOUT_FILENO, out.data + off,
		    out.len - off)) == -1)
			err(EX_IOERR, "stdout");
	buf_free(&in);
	buf_free(&out);
	return EX_OK;
}
