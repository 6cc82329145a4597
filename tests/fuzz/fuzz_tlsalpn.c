#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "va_tlsalpn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The certificate a tls-alpn-01 responder presents (RFC 8737 §3): DER from the network, checked
 * for one SAN naming the identifier and the critical acmeIdentifier extension. The seeds are
 * certificates for www.example.test and the key authorization below, good and broken. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char why[256];

	(void)va_tlsalpn_check_cert(data, size, "www.example.test", "fuzz-token.fuzz-thumbprint",
				    why, sizeof(why));
	return 0;
}
