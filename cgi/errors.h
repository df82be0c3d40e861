/*
 * errors: the error codes relay-fcgi answers with, a contract for callers'
 * scripts (relay-fcgi(8) lists them for people).  An error answer has the
 * body {"ok":false,"error":CODE,"message":TEXT,"field":PATH}, field only
 * where one input is to blame.  A code keeps its name and its status; a
 * new one gets a row here and in relay-fcgi(8).
 *
 * ERRORS(X) is the table, one X(NAME, code, HTTP status) per code, with
 * what it means above it.  "Control characters" in header-bound fields
 * (names, subject, header values, filenames): C0 (tab included), DEL, C1
 * (U+0080..U+009F, so U+0085 too), U+2028 and U+2029.
 */
#ifndef ERRORS_H
#define ERRORS_H

#define ERRORS(X)							\
	/* The request (send.c, relay-fcgi.c). */			\
	/* no, or a wrong, bearer token (with WWW-Authenticate) */	\
	X(UNAUTHORIZED,		"unauthorized",			401)	\
	/* a Content-Type other than application/json */		\
	X(UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type",	415)	\
	/* no Content-Length */						\
	X(LENGTH_REQUIRED,	"length_required",		411)	\
	/* Content-Length over max_body (before the body is read) */	\
	X(BODY_TOO_LARGE,	"body_too_large",		413)	\
	/* a Content-Length that is not a number */			\
	X(INVALID_LENGTH,	"invalid_length",		400)	\
	/* fewer bytes than Content-Length */				\
	X(SHORT_BODY,		"short_body",			400)	\
	/* an Idempotency-Key that is not 1..255 printable ASCII */	\
	X(INVALID_IDEMPOTENCY_KEY, "invalid_idempotency_key",	400)	\
	/* a method other than POST (with Allow) */			\
	X(METHOD_NOT_ALLOWED,	"method_not_allowed",		405)	\
	/* no such endpoint */						\
	X(NOT_FOUND,		"not_found",			404)	\
									\
	/* The JSON body (json.c). */					\
	/* not JSON, data after the value, a raw control character in	\
	 * a string, or not an object */				\
	X(INVALID_JSON,		"invalid_json",			400)	\
	/* bytes that are not UTF-8 (overlong forms, encoded		\
	 * surrogates, above U+10FFFF), or a lone surrogate escape	\
	 * (\ud800) */							\
	X(INVALID_UTF8,		"invalid_utf8",			400)	\
	/* a \u0000 escape */						\
	X(NUL_CHARACTER,	"nul_character",		400)	\
	/* objects and arrays nested deeper than REQ_MAX_DEPTH (8) */	\
	X(TOO_DEEP,		"too_deep",			400)	\
	/* a key given twice in one object (header names compare	\
	 * case-insensitively) */					\
	X(DUPLICATE_KEY,	"duplicate_key",		400)	\
									\
	/* The fields (req.c). */					\
	/* a key the request does not define */				\
	X(UNKNOWN_FIELD,	"unknown_field",		400)	\
	/* from, to, subject; email of an address object; filename,	\
	 * contentType, content of an attachment */			\
	X(MISSING_FIELD,	"missing_field",		400)	\
	/* a value of the wrong JSON type */				\
	X(INVALID_TYPE,		"invalid_type",			400)	\
	/* an address array without elements */				\
	X(EMPTY_ARRAY,		"empty_array",			400)	\
	/* an address addr_valid() refuses (the message says why) */	\
	X(INVALID_ADDRESS,	"invalid_address",		400)	\
	/* a display name with control characters or over 200 code	\
	 * points */							\
	X(INVALID_NAME,		"invalid_name",			400)	\
	/* to + cc + bcc (or replyTo) over max_recipients */		\
	X(TOO_MANY_RECIPIENTS,	"too_many_recipients",		400)	\
	/* empty, over 200 code points, control characters */		\
	X(INVALID_SUBJECT,	"invalid_subject",		400)	\
	/* neither text nor html (empty strings count as absent) */	\
	X(MISSING_BODY,		"missing_body",			400)	\
	/* text or html with a control character other than tab, LF	\
	 * and CR */							\
	X(INVALID_BODY,		"invalid_body",			400)	\
	/* a header name that is not 1..64 token characters; a value	\
	 * that is empty, has control characters, spaces at either	\
	 * end, non-ASCII (except in X-* headers), or that cannot be	\
	 * folded into lines of 998 octets; an Auto-Submitted other	\
	 * than no, auto-generated, auto-replied, auto-notified */	\
	X(INVALID_HEADER,	"invalid_header",		400)	\
	/* a header other than X-*, List-Unsubscribe,			\
	 * List-Unsubscribe-Post, In-Reply-To, References,		\
	 * Auto-Submitted */						\
	X(HEADER_NOT_ALLOWED,	"header_not_allowed",		400)	\
	/* more than 50 headers */					\
	X(TOO_MANY_HEADERS,	"too_many_headers",		400)	\
	/* a filename (1..255 octets, no / or \, no control		\
	 * characters, no white space at either end, not . or ..),	\
	 * contentType (type/subtype tokens, not multipart/ or	\
	 * message/, no parameter but one "charset=token" on text/	\
	 * types) or content (strict base64) refused */			\
	X(INVALID_ATTACHMENT,	"invalid_attachment",		400)	\
	/* more than 100 attachments */					\
	X(TOO_MANY_ATTACHMENTS,	"too_many_attachments",		400)	\
									\
	/* The caller and the spool (send.c). */			\
	/* from is not one of the caller's senders */			\
	X(SENDER_NOT_ALLOWED,	"sender_not_allowed",		400)	\
	/* the Idempotency-Key was used with a different body */	\
	X(IDEMPOTENCY_CONFLICT,	"idempotency_conflict",		409)	\
	/* a recipient (to, cc or bcc) is on the suppression list	\
	 * (field: its path, the message names it) */			\
	X(RECIPIENT_SUPPRESSED,	"recipient_suppressed",		422)	\
	/* pending/ holds max_pending jobs (with Retry-After) */	\
	X(SPOOL_FULL,		"spool_full",			503)	\
	/* the spool cannot be written (with Retry-After) */		\
	X(SPOOL_UNAVAILABLE,	"spool_unavailable",		503)	\
	/* out of memory */						\
	X(INTERNAL_ERROR,	"internal_error",		500)	\
									\
	/* GET /messages/{id} (messages.c). */				\
	/* an id not of the spool's form */				\
	X(INVALID_ID,		"invalid_id",			400)	\
									\
	/* Only the Resend endpoints (resend.c, resend_req.c), which	\
	 * answer every code as its Resend twin (relay-fcgi(8)). */	\
	/* a request with the Idempotency-Key is still in hand */	\
	X(IDEMPOTENCY_IN_PROGRESS, "idempotency_in_progress",	409)	\
	/* tags not [{name, value}] of 1..256 [A-Za-z0-9_-], a name	\
	 * twice, more than 50 */					\
	X(INVALID_TAG,		"invalid_tag",			400)	\
	/* scheduled_at not ISO 8601 with a zone, or over 30 days	\
	 * ahead */							\
	X(INVALID_SCHEDULED_AT,	"invalid_scheduled_at",		400)	\
	/* template, topic_id, an attachment's path */			\
	X(NOT_SUPPORTED,	"not_supported",		400)	\
	/* PATCH or cancel of a message that no longer waits in the	\
	 * spool: handed over, canceled, held or failed */		\
	X(NOT_WAITING,		"not_waiting",			422)	\
	/* POST /emails/batch (resend_batch.c): more than 100 emails;	\
	 * attachments and scheduled_at there are not_supported */	\
	X(TOO_MANY_EMAILS,	"too_many_emails",		422)

enum err {
#define ERR_ENUM(name, code, status)	ERR_##name,
	ERRORS(ERR_ENUM)
#undef ERR_ENUM
	ERR_COUNT
};

/* The code of e, as the answer spells it ("invalid_json"). */
static inline const char *
err_code(enum err e)
{
	static const char *const codes[ERR_COUNT] = {
#define ERR_CODE(name, code, status)	[ERR_##name] = code,
		ERRORS(ERR_CODE)
#undef ERR_CODE
	};

	return codes[e];
}

/* The HTTP status of an answer with e. */
static inline int
err_status(enum err e)
{
	static const short statuses[ERR_COUNT] = {
#define ERR_STATUS(name, code, status)	[ERR_##name] = status,
		ERRORS(ERR_STATUS)
#undef ERR_STATUS
	};

	return statuses[e];
}

#endif
