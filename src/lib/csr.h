#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * PKCS#10 certificate signing requests (RFC 2986) as ACME finalize receives them
 * (RFC 8555 §7.4).
 */

#define CSR_MAX_DER (16 * 1024)
#define CSR_MAX_NAMES 100

struct csr {
	EVP_PKEY *pkey;       /* subject public key */
	char **names;         /* lowercase, de-duplicated dNSName SANs plus the CN, sorted */
	size_t n_names;
	char *cn;             /* subject CN as given (lowercased), NULL if none */
	uint8_t *der;         /* the request as received */
	size_t der_len;
	X509_PUBKEY *spki;    /* the SubjectPublicKeyInfo as the request has it, to go into
			       * the certificate as it is; NULL for key parameters other than
			       * absent, NULL or a curve OID (the key is encoded anew then) */
};

/*
 * Parse a DER CSR and verify its self-signature. Refuses: trailing data, signature algorithms
 * other than SHA-256/384/512 with RSA or ECDSA (and Ed25519), email/URI/IP/other SAN types,
 * more than CSR_MAX_NAMES names, and names that are not valid DNS names.
 * err (may be NULL) gets a one-line reason.
 * Returns DEED_OK, DEED_EMALFORMED, DEED_EBADSIG, DEED_ETOOBIG, DEED_EUNSUPPORTED, DEED_ENOMEM.
 */
int csr_parse_der(const uint8_t *der, size_t len, struct csr **out, char *err, size_t errlen);

/* Same for a PEM "CERTIFICATE REQUEST" block. */
int csr_parse_pem(const char *pem, size_t len, struct csr **out, char *err, size_t errlen);

/*
 * Make a CSR for names (first name also the CN) signed by key (client side).
 * *der is a new buffer. Returns DEED_OK, DEED_EINVAL, DEED_ECRYPTO, DEED_ENOMEM.
 */
int csr_create(EVP_PKEY *key, const char *const *names, size_t n, uint8_t **der,
	       size_t *derlen);

void csr_free(struct csr *c);
