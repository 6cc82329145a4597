#pragma once

#include <stddef.h>

#include <jansson.h>

/*
 * Strict JSON for untrusted input: jansson with duplicate keys rejected, a cap on size and on
 * nesting depth, and a whole-document parse (trailing garbage is an error).
 */

#define DJSON_MAX_DEPTH 32

/*
 * Parse len bytes of buf (need not be NUL-terminated). Documents larger than maxlen bytes or
 * nested deeper than DJSON_MAX_DEPTH are refused with DEED_ETOOBIG. The top level must be an
 * object or an array (jansson's default).
 * On failure, err (size errlen, may be NULL) gets a one-line reason.
 * Returns DEED_OK, DEED_EMALFORMED, DEED_ETOOBIG or DEED_ENOMEM.
 */
int djson_parse(const char *buf, size_t len, size_t maxlen, json_t **out, char *err,
		size_t errlen);

/* String member key of obj, or NULL when absent or not a string. */
const char *djson_str(const json_t *obj, const char *key);

/*
 * Compact serialization with sorted keys (stable for tests and thumbprints) into a new
 * string. Returns NULL on allocation failure.
 */
char *djson_dump(const json_t *v);
