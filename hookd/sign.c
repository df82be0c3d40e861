/*
 * sign: Standard Webhooks signing.  See sign.h.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "sign.h"

int
sign_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t len,
    unsigned char mac[SIGN_MAC_LEN])
{
	unsigned int	n = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, len, mac, &n) == NULL ||
	    n != SIGN_MAC_LEN)
		return -1;
	return 0;
}

int
sign_webhook(const void *key, size_t keylen, const char *id,
    time_t timestamp, const void *body, size_t len, char sig[SIGN_SIG_MAX])
{
	unsigned char	 mac[SIGN_MAC_LEN];
	char		*msg, head[128];
	int		 n, r = -1;

	n = snprintf(head, sizeof(head), "%s.%lld.", id, (long long)timestamp);
	if (n < 0 || (size_t)n >= sizeof(head))
		return -1;
	if ((msg = malloc((size_t)n + len)) == NULL)
		return -1;
	memcpy(msg, head, (size_t)n);
	memcpy(msg + n, body, len);
	if (sign_hmac_sha256(key, keylen, msg, (size_t)n + len, mac) == 0) {
		memcpy(sig, "v1,", 3);
		if (EVP_EncodeBlock((unsigned char *)sig + 3, mac,
		    SIGN_MAC_LEN) == 44)
			r = 0;
	}
	OPENSSL_cleanse(mac, sizeof(mac));
	free(msg);
	return r;
}
