/*
 * mail: a validated mail request, as req_parse() leaves it and
 * mime_build() consumes it.  Strings are UTF-8, NUL-terminated, and point
 * into memory owned by the request (freed by req_free()).
 */
#ifndef MAIL_H
#define MAIL_H

#include <stddef.h>
#include <time.h>

struct mail_addr {
	const char	*email;		/* validated addr-spec, ASCII */
	const char	*name;		/* display name or NULL */
};

struct mail_header {
	const char	*name;		/* X-*, List-Unsubscribe, ... */
	const char	*value;		/* no CR, LF, NUL or other controls */
};

struct mail_attachment {
	const char	*filename;
	const char	*content_type;	/* "type/subtype", lower case */
	unsigned char	*data;		/* decoded content */
	size_t		 len;
	const char	*charset;	/* text types only: the caller's, or NULL */
	const char	*content_id;	/* inline part of a multipart/related
					   (without <>), or NULL */
};

struct mail_tag {
	const char	*name;		/* [A-Za-z0-9_-], 1..256 */
	const char	*value;
};

struct mail {
	struct mail_addr	 from;
	struct mail_addr	*to, *cc, *bcc, *reply_to;
	size_t			 nto, ncc, nbcc, nreply_to;
	const char		*subject;
	const char		*text;		/* NULL when absent */
	const char		*html;		/* NULL when absent */
	struct mail_header	*headers;
	size_t			 nheaders;
	struct mail_attachment	*attachments;
	size_t			 nattachments;
	struct mail_tag		*tags;		/* kept with the job only */
	size_t			 ntags;
	time_t			 scheduled_at;	/* due time, 0: now */
	void			*priv;		/* owned by req.c */
	void			*ext;		/* owned by resend_req.c */
};

#endif
