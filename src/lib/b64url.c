#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "error.h"

/* RFC 4648 §5: the URL- and filename-safe alphabet. */
static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of one alphabet character, or -1 for anything else ('=', '+', '/', space, NUL...). */
static int
b64url_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

size_t
b64url_enclen(size_t n)
{
	/* RFC 7515 §2: padding is dropped, so a 1- or 2-byte tail takes 2 or 3 characters. */
	static const size_t tail[3] = {0, 2, 3};

	return n / 3 * 4 + tail[n % 3];
}

int
b64url_encode_buf(const uint8_t *in, size_t len, char *dst, size_t dstsz)
{
	size_t i, o = 0;
	uint32_t v;

	if (dst == NULL || (in == NULL && len > 0))
		return DEED_EINVAL;
	/* n / 3 * 4 cannot overflow below this bound, so b64url_enclen is exact. */
	if (len > SIZE_MAX / 4 * 3 - 3 || dstsz < b64url_enclen(len) + 1)
		return DEED_EINVAL;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		dst[o++] = b64url_alphabet[v >> 18 & 63];
		dst[o++] = b64url_alphabet[v >> 12 & 63];
		dst[o++] = b64url_alphabet[v >> 6 & 63];
		dst[o++] = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		dst[o++] = b64url_alphabet[v >> 18 & 63];
		dst[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		dst[o++] = b64url_alphabet[v >> 18 & 63];
		dst[o++] = b64url_alphabet[v >> 12 & 63];
		dst[o++] = b64url_alphabet[v >> 6 & 63];
	}
	dst[o] = '\0';
	return DEED_OK;
}

int
b64url_encode(const uint8_t *in, size_t len, char **out)
{
	char *buf = NULL;
	size_t sz;
	int rc = DEED_ENOMEM;

	if (out == NULL || (in == NULL && len > 0))
		return DEED_EINVAL;
	*out = NULL;
	if (len > SIZE_MAX / 4 * 3 - 3)
		goto out;
	sz = b64url_enclen(len) + 1;
	if ((buf = malloc(sz)) == NULL)
		goto out;
	if ((rc = b64url_encode_buf(in, len, buf, sz)) != DEED_OK)
		goto out;
	*out = buf;
	buf = NULL;
out:
	free(buf);
	return rc;
}

int
b64url_decode(const char *in, size_t inlen, uint8_t **out, size_t *outlen)
{
	uint8_t *buf = NULL;
	size_t i, o = 0, rem;
	uint32_t v = 0;
	int d, rc = DEED_EMALFORMED;

	if (out == NULL || outlen == NULL || (in == NULL && inlen > 0))
		return DEED_EINVAL;
	*out = NULL;
	*outlen = 0;

	/*
	 * A single leftover character carries only 6 bits, less than one byte: no encoder
	 * produces it (RFC 4648 §4/§5), so it can only be truncation or tampering.
	 */
	rem = inlen % 4;
	if (rem == 1)
		goto out;

	rc = DEED_ENOMEM;
	if ((buf = malloc(inlen / 4 * 3 + 3)) == NULL)
		goto out;
	rc = DEED_EMALFORMED;

	for (i = 0; i < inlen; i++) {
		if ((d = b64url_val((unsigned char)in[i])) < 0)
			goto out;
		v = v << 6 | (uint32_t)d;
		if (i % 4 == 3) {
			buf[o++] = (uint8_t)(v >> 16);
			buf[o++] = (uint8_t)(v >> 8);
			buf[o++] = (uint8_t)v;
			v = 0;
		}
	}

	/*
	 * RFC 4648 §3.5: the pad bits of the last character must be zero. Refusing non-zero
	 * ones keeps the encoding canonical, so one value has exactly one spelling.
	 */
	if (rem == 2) {
		if ((v & 0x0f) != 0)
			goto out;
		buf[o++] = (uint8_t)(v >> 4);
	} else if (rem == 3) {
		if ((v & 0x03) != 0)
			goto out;
		buf[o++] = (uint8_t)(v >> 10);
		buf[o++] = (uint8_t)(v >> 2);
	}
	buf[o] = '\0';

	*out = buf;
	*outlen = o;
	buf = NULL;
	rc = DEED_OK;
out:
	free(buf);
	return rc;
}
