#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * signer: holds the intermediate CA key. Builds and signs end-entity certificates. Nothing
 * else in deed-ca touches the key.
 *
 * Issuance is two steps so that the RA can store the to-be-signed certificate (and its
 * serial) before anything is signed (crash safety): signer_prepare, store, signer_sign.
 */

struct signer;

struct signer_req {
	EVP_PKEY *pubkey;          /* subject key, from the CSR */
	const char *const *names;  /* dNSNames, already normalized */
	size_t n_names;
	const char *cn;            /* subject CN, NULL for none */
	int64_t not_before;
	int64_t not_after;
	uint8_t serial[20];        /* positive, first octet < 0x80 */
};

/*
 * Load DIR/intermediate.pem, DIR/intermediate.key and DIR/root.pem.
 * Returns DEED_OK, DEED_EIO, DEED_ECRYPTO. err gets why.
 */
int signer_load(const char *dir, struct signer **out, char *err, size_t errlen);
void signer_free(struct signer *s);

/* Fill serial with 20 random octets forming a positive INTEGER (RFC 5280 §4.1.2.2). */
int signer_new_serial(uint8_t serial[20]);

/* Build the unsigned certificate; *tbs gets its DER to-be-signed bytes (caller frees).
 * *x is owned by the caller (X509_free). */
int signer_prepare(struct signer *s, const struct signer_req *req, X509 **x, uint8_t **tbs,
		   size_t *tbs_len);

/* Sign x (from signer_prepare); *der gets the certificate DER (caller frees). */
int signer_sign(struct signer *s, X509 *x, uint8_t **der, size_t *der_len);

/* The intermediate as PEM (borrowed; lives as long as s): what follows the leaf in a chain. */
const char *signer_chain_pem(const struct signer *s);

/* The issuer certificate (borrowed), for revocation checks (is this cert ours?). */
X509 *signer_issuer(const struct signer *s);
