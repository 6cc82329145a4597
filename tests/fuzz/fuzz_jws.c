#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "jws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The server's first contact with a request body: parse, then verify with the embedded key. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jws *j = NULL;
	char err[128];

	if (jws_parse((const char *)data, size, &j, err, sizeof(err)) == DEED_OK && j->jwk != NULL)
		(void)jws_verify(j, j->jwk);
	jws_free(j);
	return 0;
}
