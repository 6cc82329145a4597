#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of a key without OpenSSL 3's encoders.
 *
 * OpenSSL 3 builds a key's SPKI by running its provider encoder to DER and, for an
 * X509_PUBKEY, decoding the result again into a second key: most of the time a CSR took to
 * make, and a visible share of every issuance where a key is hashed. For EC keys with
 * uncompressed points (RFC 5480) and Ed25519 keys (RFC 8410) the algorithm identifier and the
 * key bits are set directly; the DER is the same as OpenSSL's own.
 */

/*
 * Set pub to key's SPKI. Returns 1 on success, 0 when key is of another kind (or an EC key
 * with a compressed point): use X509_PUBKEY_set / X509_REQ_set_pubkey then; -1 on failure.
 */
int spki_set(X509_PUBKEY *pub, EVP_PKEY *key);

/* i2d of key's SPKI into *der (OPENSSL_free it); the length, or <= 0 on failure. Falls back
 * to i2d_PUBKEY for keys spki_set does not cover. */
int spki_i2d(EVP_PKEY *key, unsigned char **der);

/*
 * Set pub from an algorithm identifier and key bits, copied (a CSR's, to go into a
 * certificate as they are). Returns 1 on success, 0 when the algorithm's parameters are of a
 * kind not copied here (anything but absent, NULL or an OID): build the key's SPKI another
 * way then; -1 on failure.
 */
int spki_set_parts(X509_PUBKEY *pub, const X509_ALGOR *alg, const unsigned char *bits, int blen);
