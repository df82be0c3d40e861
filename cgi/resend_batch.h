/*
 * resend_batch: POST /emails/batch (see resend_batch.c).
 */
#ifndef RESEND_BATCH_H
#define RESEND_BATCH_H

#define RESEND_BATCH_MAX	100	/* emails in one batch, as Resend */

struct worker;

/* The whole request, answered in Resend's shape. */
void	resend_batch(struct worker *);

#endif
