/*
 * noop-sendmail: the fastest sendmail there can be.  Takes any arguments,
 * reads the message to the end as sendmail does, and exits 0.  The drain
 * benchmark measures spoold's own cost per job with it.
 */
#include <errno.h>
#include <unistd.h>

int
main(void)
{
	char	buf[65536];
	ssize_t	n;

	while ((n = read(0, buf, sizeof(buf))) != 0)
		if (n == -1 && errno != EINTR)
			return 74;	/* EX_IOERR */
	return 0;
}
