#pragma once

#include <stddef.h>

/*
 * Read the whole file at path (a regular file or a pipe) into *out, NUL-terminated (the
 * caller frees it); *len (may be NULL) gets its length. Files longer than max are refused.
 * err (may be NULL) gets a one-line reason naming path.
 * Returns DEED_OK, DEED_ENOTFOUND (no such file), DEED_EIO, DEED_ETOOBIG or DEED_ENOMEM.
 */
int deed_read_file(const char *path, size_t max, char **out, size_t *len, char *err,
		   size_t errlen);
