/*
 * req: the JSON body of POST /send, decoded (json.h) and validated into a
 * struct mail (mail.h).  The error codes, their meaning and their HTTP
 * status are the table in errors.h.
 */
#ifndef REQ_H
#define REQ_H

#include <stddef.h>

#include "mail.h"

#define REQ_MAX_DEPTH		8	/* nesting of objects, arrays */
#define REQ_SUBJECT_MAX		200	/* code points */
#define REQ_NAME_MAX		200	/* code points, display name */
#define REQ_MAX_HEADERS		50
#define REQ_HEADER_NAME_MAX	64	/* octets */
#define REQ_MAX_ATTACHMENTS	100
#define REQ_FILENAME_MAX	255	/* octets */
#define REQ_CONTENT_TYPE_MAX	127	/* octets */

struct req_limits {
	size_t	 max_recipients;	/* to + cc + bcc; replyTo alone */
};

struct req_error {
	int		 status;	/* 400, or 500 on ENOMEM */
	const char	*code;		/* a code of errors.h */
	char		 message[200];	/* for people, ASCII */
	char		 field[64];	/* "to[2].email", ASCII, or "" */
};

/*
 * Decode and validate len bytes of body.  0: m filled (free it with
 * req_free()).  -1: err filled and m left empty.
 */
int	req_parse(const char *body, size_t len, const struct req_limits *,
	    struct mail *m, struct req_error *err);

struct cJSON;

/*
 * The second half of req_parse(), after json_decode(): the fields of a
 * POST /send object validated into m.
 * root is taken over in every case: freed on error, else by req_free().
 * Text, html and attachment contents are rewritten in place.
 */
int	req_mail(struct cJSON *root, const struct req_limits *,
	    struct mail *m, struct req_error *err);

/* Free what req_parse() allocated; m is left empty.  Safe on an empty m. */
void	req_free(struct mail *m);

#endif
