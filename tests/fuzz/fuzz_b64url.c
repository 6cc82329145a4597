#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64url.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Strict decoding means one spelling per value: whatever decodes must re-encode to itself. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *enc = NULL;

	if (b64url_decode((const char *)data, size, &out, &outlen) == DEED_OK) {
		if (b64url_encode(out, outlen, &enc) != DEED_OK || strlen(enc) != size ||
		    memcmp(enc, data, size) != 0)
			abort();
	}
	free(enc);
	free(out);
	return 0;
}
