/* http: write FastCGI responses and JSON error bodies. */
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "relay.h"

static const char *
http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 403: return "Forbidden";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default:  return "Unknown";
	}
}

const char *
http_param(const struct worker *w, const char *name)
{
	return FCGX_GetParam(name, w->req.envp);
}

void
http_reply(struct worker *w, int status, const char *extra,
    const char *ctype, const char *body, size_t len)
{
	const char	*method = http_param(w, "REQUEST_METHOD");

	scrape_count_answer(w->endpoint, status);
	FCGX_FPrintF(w->req.out,
	    "Status: %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Cache-Control: no-store\r\n"
	    "X-Relay-Id: %s\r\n",
	    status, http_status_text(status), ctype, w->id[0] ? w->id : "-");
	if (w->caller != NULL)
		FCGX_FPrintF(w->req.out, "X-Relay-Caller: %s\r\n", w->caller);
	if (extra != NULL)
		FCGX_PutS(extra, w->req.out);
	FCGX_PutS("\r\n", w->req.out);
	if (len > 0 && (method == NULL || strcmp(method, "HEAD") != 0))
		FCGX_PutStr(body, (int)len, w->req.out);
}

void
http_json_str(struct buf *b, const char *s)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			buf_addf(b, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_addf(b, "\\u%04x", *p);
		else
			buf_addc(b, (char)*p);
	}
}

void
http_error(struct worker *w, int status, const char *code,
    const char *message, const char *field, const char *extra)
{
	struct buf	*b = &w->out;

	scrape_count_error(w->endpoint, code);
	buf_reset(b);
	buf_adds(b, "{\"ok\":false,\"error\":\"");
	http_json_str(b, code);
	buf_adds(b, "\",\"message\":\"");
	http_json_str(b, message);
	buf_adds(b, "\"");
	if (field != NULL && *field != '\0') {
		buf_adds(b, ",\"field\":\"");
		http_json_str(b, field);
		buf_adds(b, "\"");
	}
	if (buf_adds(b, "}\n") == -1) {
		http_reply(w, 500, extra, "application/json",
		    "{\"ok\":false,\"error\":\"internal_error\"}\n", 37);
		return;
	}
	http_reply(w, status, extra, "application/json", b->data, b->len);
}

void
http_fail(struct worker *w, enum err e, const char *message,
    const char *field, const char *extra)
{
	http_error(w, err_status(e), err_code(e), message, field, extra);
}
