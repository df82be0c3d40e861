/*
 * sign: Standard Webhooks signatures, as Resend and Svix make them:
 * webhook-signature = "v1," base64(HMAC-SHA256(key, id "." timestamp "."
 * body)), key the bytes of the secret after "whsec_".  HMAC-SHA256 is
 * OpenSSL's (libcrypto, which libcurl links anyway).
 */
#ifndef SIGN_H
#define SIGN_H

#include <stddef.h>
#include <time.h>

#define SIGN_MAC_LEN	32
#define SIGN_SIG_MAX	(3 + 44 + 1)	/* "v1," + base64 of 32 bytes + NUL */

/* HMAC-SHA256 of msg under key into mac: 0, -1 on failure. */
int	sign_hmac_sha256(const void *key, size_t keylen, const void *msg,
	    size_t len, unsigned char mac[SIGN_MAC_LEN]);
/* The webhook-signature value into sig: 0, -1 on failure. */
int	sign_webhook(const void *key, size_t keylen, const char *id,
	    time_t timestamp, const void *body, size_t len,
	    char sig[SIGN_SIG_MAX]);

#endif
