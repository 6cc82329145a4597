#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dnsname.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An identifier value from newOrder, in both modes. Whatever normalize returns must pass
 * check (it is the normal form), and check must only pass what normalize leaves unchanged. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[DNSNAME_MAX + 1], err[128];
	char *in = malloc(size + 1);

	if (in == NULL)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	for (int w = 0; w < 2; w++) {
		bool wild = w == 1;

		if (dnsname_normalize(in, wild, out, sizeof(out), err, sizeof(err)) == DEED_OK &&
		    (strlen(out) > DNSNAME_MAX ||
		     dnsname_check(out, wild, err, sizeof(err)) != DEED_OK))
			__builtin_trap();
		if (dnsname_check(in, wild, err, sizeof(err)) == DEED_OK &&
		    (dnsname_normalize(in, wild, out, sizeof(out), err, sizeof(err)) != DEED_OK ||
		     strcmp(in, out) != 0))
			__builtin_trap();
	}
	free(in);
	return 0;
}
