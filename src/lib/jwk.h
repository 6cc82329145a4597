#pragma once

#include <stdbool.h>

#include <jansson.h>
#include <openssl/evp.h>

/*
 * JSON Web Keys (RFC 7517/7518/8037) for the key types ACME uses, and their RFC 7638
 * thumbprints.
 */

enum jwk_kty {
	JWK_RSA,
	JWK_EC_P256,
	JWK_EC_P384,
	JWK_EC_P521,
	JWK_ED25519,
};

#define JWK_THUMBPRINT_LEN 43 /* base64url of SHA-256, no padding */

struct jwk {
	enum jwk_kty kty;
	EVP_PKEY *pkey;                          /* public (or private, for signing) key */
	char thumbprint[JWK_THUMBPRINT_LEN + 1]; /* RFC 7638, base64url(SHA-256) */
	int bits;                                /* RSA modulus, EC field size (Ed25519 255) */
};

/*
 * Parse a public JWK object. Only the members each kty requires are read; private members
 * ("d", "p", ...) are refused so that a client never leaks a private key into a request by
 * mistake and a server never stores one. The "alg" member, when present, must be a JWS
 * algorithm that fits the key. EC points are checked to be on the curve. RSA "n" and "e" must
 * be minimal (no leading zero octet, RFC 7518 §2); EC "x"/"y" exactly the coordinate width.
 * err (may be NULL) gets a one-line reason.
 * Returns DEED_OK, DEED_EMALFORMED, DEED_EBADKEY (private members, off-curve point, even or
 * oversize RSA values), DEED_EUNSUPPORTED (other kty or curve), DEED_EBADALG ("alg" does not
 * fit the key), DEED_ENOMEM.
 */
int jwk_from_json(const json_t *obj, struct jwk **out, char *err, size_t errlen);

/*
 * Wrap an OpenSSL key (a reference is taken).
 * Returns DEED_OK, DEED_EINVAL, DEED_EUNSUPPORTED (not RSA, P-256/384/521 or Ed25519),
 * DEED_ENOMEM, DEED_ECRYPTO.
 */
int jwk_from_pkey(EVP_PKEY *pkey, struct jwk **out);

/*
 * The public JWK as a new JSON object with exactly the RFC 7638 required members.
 * Returns NULL on allocation failure.
 */
json_t *jwk_to_json(const struct jwk *k);

/* The JWS "alg" this key signs with: RS256, ES256, ES384, ES512 or EdDSA. */
const char *jwk_alg(const struct jwk *k);

/* True if two keys are the same public key (compared by thumbprint). */
bool jwk_equal(const struct jwk *a, const struct jwk *b);

/*
 * Generate a new private key. type is one of "ec256", "ec384", "ec521", "rsa2048",
 * "rsa3072", "rsa4096", "ed25519". Returns DEED_OK, DEED_EINVAL, DEED_ECRYPTO.
 */
int jwk_generate(const char *type, struct jwk **out);

/*
 * Which of the types above an OpenSSL key is, without wrapping it (key policy uses this for
 * CSR keys). RSA-PSS keys and EC keys with explicit parameters are not RSA/EC here.
 * Returns DEED_OK, DEED_EINVAL, DEED_EUNSUPPORTED.
 */
int jwk_pkey_kty(const EVP_PKEY *pkey, enum jwk_kty *out);

/*
 * The private key of k (from jwk_generate or a key file) as an unencrypted PKCS#8 PEM string in
 * *pem (caller frees, after wiping). Returns DEED_OK, DEED_ECRYPTO, DEED_ENOMEM.
 */
int jwk_private_pem(const struct jwk *k, char **pem);

/* A second handle on k's key (the EVP_PKEY is shared, reference-counted; OpenSSL lets threads
 * use one key at the same time). Returns DEED_OK or DEED_ENOMEM. */
int jwk_dup(const struct jwk *k, struct jwk **out);

void jwk_free(struct jwk *k);
