/* req_err: the struct req_error of a refused request (see req_err.h). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "req.h"
#include "req_err.h"

void
req_path_add(struct req_path *s, const char *str)
{
	for (; *str != '\0' && s->len + 1 < s->cap; str++)
		s->p[s->len++] = *str >= 0x20 && *str < 0x7f ? *str : '?';
	s->p[s->len] = '\0';
}

void
req_path_idx(struct req_path *s, size_t idx)
{
	char	 t[24];
	int	 n;

	n = snprintf(t, sizeof(t), "[%zu]", idx);
	if (n > 0 && (size_t)n < sizeof(t))
		req_path_add(s, t);
}

int
req_vfail(struct req_error *err, enum err code, const char *fmt, va_list ap)
{
	int	 n;

	err->status = err_status(code);
	err->code = err_code(code);
	n = vsnprintf(err->message, sizeof(err->message), fmt, ap);
	if (n < 0)
		err->message[0] = '\0';
	return -1;
}

int
req_fail(struct req_error *err, enum err code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	req_vfail(err, code, fmt, ap);
	va_end(ap);
	return -1;
}

int
req_fail_nomem(struct req_error *err)
{
	err->status = err_status(ERR_INTERNAL_ERROR);
	err->code = err_code(ERR_INTERNAL_ERROR);
	strlcpy(err->message, "out of memory", sizeof(err->message));
	err->field[0] = '\0';
	return -1;
}
