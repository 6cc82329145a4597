#include <stddef.h>
#include <stdint.h>

#include "csr.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What finalize hands the CA (RFC 8555 §7.4): a DER CSR. The same bytes go through the PEM
 * reader too, so a seed that is a PEM block reaches csr_parse_der by that route. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *c = NULL;
	char err[128];

	if (csr_parse_der(data, size, &c, err, sizeof(err)) == DEED_OK && c->n_names == 0)
		__builtin_trap(); /* a parsed CSR always names something */
	csr_free(c);
	(void)csr_parse_pem((const char *)data, size, &c, err, sizeof(err));
	csr_free(c);
	return 0;
}
