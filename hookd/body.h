/*
 * body: an event's JSON body in Resend's shape:
 *
 *	{"type":"email.bounced","created_at":"2026-12-01T18:15:48.000Z",
 *	 "data":{"email_id":"...","from":"...","to":["..."],"subject":"...",
 *	 "created_at":"...","tags":[],
 *	 "bounce":{"message":"<remote reply>","type":"Permanent"}}}
 *
 * "to" is the recipient for a recipient's event (delivered,
 * delivery_delayed, bounced, suppressed), else every recipient.
 */
#ifndef BODY_H
#define BODY_H

struct spool_event;

/* The body, NUL-terminated; free after.  NULL + errno. */
char	*body_make(const struct spool_event *);

#endif
