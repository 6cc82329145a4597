#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * base64url without padding (RFC 7515 §2, RFC 4648 §5).
 */

/* Length of the encoding of n bytes, not counting the NUL. */
size_t b64url_enclen(size_t n);

/*
 * Encode len bytes into a new NUL-terminated string in *out (caller frees).
 * Returns DEED_OK or DEED_ENOMEM.
 */
int b64url_encode(const uint8_t *in, size_t len, char **out);

/*
 * Encode into caller storage dst of size dstsz (must be >= b64url_enclen(len) + 1).
 * Returns DEED_OK or DEED_EINVAL when dst is too small.
 */
int b64url_encode_buf(const uint8_t *in, size_t len, char *dst, size_t dstsz);

/*
 * Strict decode of inlen characters: the URL-safe alphabet only, no padding, no whitespace,
 * no non-canonical trailing bits. *out is a new buffer (caller frees; one extra NUL byte is
 * appended after *outlen bytes so text payloads can be used as strings).
 * Returns DEED_OK, DEED_EMALFORMED or DEED_ENOMEM.
 */
int b64url_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen);
