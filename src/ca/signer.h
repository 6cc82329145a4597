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
	const X509_PUBKEY *spki;   /* the same key as the CSR encodes it, or NULL */
	const char *const *names;  /* dNSNames, already normalized */
	size_t n_names;
	const char *cn;            /* subject CN, NULL for none */
	int64_t not_before;
	int64_t not_after;
	uint8_t serial[20];        /* positive, first octet < 0x80 */
};

/*
 * Load DIR/intermediate.pem, DIR/intermediate.key and DIR/root.pem; refuses an intermediate
 * that root.pem did not sign or a key that does not match it.
 * Returns DEED_OK, DEED_EIO, DEED_ECRYPTO, DEED_ENOMEM. err gets why.
 */
int signer_load(const char *dir, struct signer **out, char *err, size_t errlen);

/*
 * A signer for issuer (a CA certificate with a subject key identifier) and its key, both
 * up-referenced (the caller keeps its own references). signer_load uses it; `deed-ca init`
 * uses it with the root to issue the API's TLS certificate under the same profile.
 * Returns DEED_OK, DEED_ECRYPTO (key does not match, not a CA, no SKI, unusable key type),
 * DEED_ENOMEM. err gets why.
 */
int signer_new(X509 *issuer, EVP_PKEY *key, struct signer **out, char *err, size_t errlen);
void signer_free(struct signer *s);

/* Fill serial with 20 random octets forming a positive INTEGER (RFC 5280 §4.1.2.2): the first
 * octet is 0x01..0x7f, so the INTEGER is exactly 20 octets. Returns DEED_OK or DEED_ECRYPTO. */
int signer_new_serial(uint8_t serial[20]);

/*
 * Build the unsigned certificate ("classic" profile, protocol notes §6): subject CN = req->cn
 * or an empty subject (then the SAN is critical), SAN with every name (an IP literal becomes an
 * iPAddress), basicConstraints critical CA:FALSE, keyUsage critical digitalSignature
 * (+keyEncipherment for RSA keys), EKU serverAuth, SKI, AKI keyid. *tbs gets its DER
 * to-be-signed bytes (caller frees), including the signature algorithm: they are exactly the
 * bytes signer_sign signs. *x is owned by the caller (X509_free).
 * Returns DEED_OK, DEED_EINVAL (no names, empty or over-long name or CN, serial not a positive
 * 20-octet INTEGER, not_after <= not_before, or not_after past the issuer's notAfter),
 * DEED_ECRYPTO, DEED_ENOMEM.
 */
int signer_prepare(struct signer *s, const struct signer_req *req, X509 **x, uint8_t **tbs,
		   size_t *tbs_len);

/* Sign x (from signer_prepare); *der gets the certificate DER (caller frees). The signed
 * certificate is checked against the issuer key and against the prepared TBS before it is
 * returned. Safe to call from several threads at once (separate x).
 * Returns DEED_OK, DEED_ECRYPTO, DEED_ENOMEM. */
int signer_sign(struct signer *s, X509 *x, uint8_t **der, size_t *der_len);

/* The intermediate as PEM (borrowed; lives as long as s): what follows the leaf in a chain. */
const char *signer_chain_pem(const struct signer *s);

/* The issuer certificate (borrowed), for revocation checks (is this cert ours?). */
X509 *signer_issuer(const struct signer *s);
