/*
 * json: a request body decoded strictly into a cJSON object.
 *
 * The body is first scanned as raw bytes: it must be UTF-8 (no overlong
 * forms, no encoded surrogates, nothing above U+10FFFF), strings may not
 * hold raw control characters, \u0000 or lone surrogate escapes, and
 * nesting may not pass REQ_MAX_DEPTH.  cJSON then parses it (it checks
 * none of these), nothing but white space may follow the value, the value
 * must be an object, and no object at any depth may give a key twice.
 * The codes of what is refused are in errors.h ("The JSON body").
 */
#ifndef JSON_H
#define JSON_H

#include <stddef.h>

#include <cJSON.h>

#include "req.h"

/*
 * 0: *root is the object (free it with cJSON_Delete()).  -1: *root is
 * NULL and err is filled (internal_error when out of memory).
 */
int	json_decode(const char *body, size_t len, cJSON **root,
	    struct req_error *err);
/* The same for a value of any type (POST /emails/batch: an array). */
int	json_decode_value(const char *body, size_t len, cJSON **root,
	    struct req_error *err);

#endif
