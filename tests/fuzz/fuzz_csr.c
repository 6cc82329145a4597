#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "csr.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * csr_parse_der reads PKCS#10 with its own templates and builds the key without OpenSSL's
 * X509_REQ; whatever it accepts, OpenSSL's own parse must accept too, with the same key and a
 * signature that verifies, and the SubjectPublicKeyInfo it keeps for the certificate must be
 * the request's.
 */
static void
same_as_openssl(const uint8_t *data, size_t size, const struct csr *c)
{
	const unsigned char *p = data;
	X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)size);
	EVP_PKEY *theirs = req != NULL ? X509_REQ_get0_pubkey(req) : NULL;
	unsigned char *a = NULL, *b = NULL;
	int la, lb;

	if (theirs == NULL || p != data + size || X509_REQ_verify(req, theirs) != 1 ||
	    EVP_PKEY_eq(theirs, c->pkey) != 1)
		__builtin_trap();
	if (c->spki != NULL) {
		la = i2d_X509_PUBKEY(c->spki, &a);
		lb = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &b);
		if (la <= 0 || la != lb || memcmp(a, b, (size_t)la) != 0)
			__builtin_trap();
	}
	OPENSSL_free(a);
	OPENSSL_free(b);
	X509_REQ_free(req);
	ERR_clear_error();
}

/* What finalize hands the CA (RFC 8555 §7.4): a DER CSR. The same bytes go through the PEM
 * reader too, so a seed that is a PEM block reaches csr_parse_der by that route. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct csr *c = NULL;
	char err[128];

	if (csr_parse_der(data, size, &c, err, sizeof(err)) == DEED_OK) {
		if (c->n_names == 0)
			__builtin_trap(); /* a parsed CSR always names something */
		same_as_openssl(data, size, c);
	}
	csr_free(c);
	(void)csr_parse_pem((const char *)data, size, &c, err, sizeof(err));
	csr_free(c);
	return 0;
}
