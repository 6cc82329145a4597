#pragma once

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/*
 * Which public keys deed accepts for accounts and certificates: RSA 2048, 3072 or 4096 bits
 * with exponent 65537, EC P-256 and P-384 (P-521 for account keys only), Ed25519 for account
 * keys only; and, optionally, not on a list of blocked keys (SHA-256 of the
 * SubjectPublicKeyInfo, the identifier Boulder's blockedKeys table and CT tooling use).
 */

enum keypolicy_use {
	KEYPOLICY_ACCOUNT,
	KEYPOLICY_CERT,
};

/* Rounds of Fermat factorization tried on each RSA modulus (protocol notes §9: at least 100). */
#define KEYPOLICY_FERMAT_ROUNDS 110

/*
 * Besides type and size, RSA moduli are refused when they have a prime factor up to 751,
 * when Fermat's method splits them within KEYPOLICY_FERMAT_ROUNDS rounds (primes too close),
 * and when they carry the ROCA fingerprint (Infineon RSALib, CVE-2017-15361). EC points get
 * full public-key validation (CSR keys arrive without jwk_from_json's checks).
 * err (may be NULL) gets a one-line reason. Returns DEED_OK, DEED_EBADKEY, or DEED_ECRYPTO
 * when OpenSSL fails (out of memory) while checking an RSA modulus.
 */
int keypolicy_check(EVP_PKEY *pkey, enum keypolicy_use use, char *err, size_t errlen);

/*
 * Blocked keys, by SPKI SHA-256 (keypolicy_spki_sha256). Either or both of:
 * - hashes: n hashes sorted ascending in memcmp order (keypolicy_blocklist_sort), searched
 *   with bsearch; NULL when n is 0;
 * - lookup: asked after hashes, e.g. to look the hash up in the CA's database. It returns
 *   DEED_OK if the hash is blocked, DEED_ENOTFOUND if it is not, any other code if it could
 *   not tell; keypolicy_check_blocklist then fails with that code (fail closed).
 */
struct keypolicy_blocklist {
	const uint8_t (*hashes)[32];
	size_t n;
	int (*lookup)(void *arg, const uint8_t hash[32]);
	void *arg;
};

/*
 * keypolicy_check, then the blocklist bl (NULL or empty: no key is blocked). A blocked key is
 * refused with "public key is forbidden (blocked)".
 * Returns DEED_OK, DEED_EBADKEY, DEED_ECRYPTO (the key cannot be encoded), DEED_EINVAL
 * (bl->n > 0 with no hashes), or the error bl->lookup returned.
 */
int keypolicy_check_blocklist(EVP_PKEY *pkey, enum keypolicy_use use,
			      const struct keypolicy_blocklist *bl, char *err, size_t errlen);

/* Sort n hashes into the order struct keypolicy_blocklist needs. */
void keypolicy_blocklist_sort(uint8_t (*hashes)[32], size_t n);

/*
 * out = SHA-256 of pkey's DER SubjectPublicKeyInfo, as `openssl pkey -pubin -outform DER |
 * sha256sum` prints it. EC keys are hashed with their point uncompressed whatever form they
 * arrived in, so one key has one hash (a compressed copy of a blocked key is still blocked).
 * Returns DEED_OK, DEED_EINVAL (NULL argument) or DEED_ECRYPTO.
 */
int keypolicy_spki_sha256(EVP_PKEY *pkey, uint8_t out[32]);

/*
 * keypolicy_spki_sha256 of the key in the first PEM block of pem[0..len) that holds one:
 * PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE, CERTIFICATE REQUEST (or NEW CERTIFICATE
 * REQUEST), or an unencrypted PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY. Other blocks
 * are skipped. err (may be NULL) gets a one-line reason.
 * Returns DEED_OK, DEED_ETOOBIG (over 64 KiB), DEED_EMALFORMED (no such block, or it does
 * not decode), DEED_ENOMEM or DEED_ECRYPTO.
 */
int keypolicy_spki_sha256_pem(const char *pem, size_t len, uint8_t out[32], char *err,
			      size_t errlen);

/*
 * Parse exactly 64 hex digits (either case, nothing before or after) into out.
 * Returns DEED_OK or DEED_EMALFORMED (out is then unspecified).
 */
int keypolicy_sha256_from_hex(const char *hex, uint8_t out[32]);

/* Lowercase hex of hash, NUL-terminated. */
void keypolicy_sha256_to_hex(const uint8_t hash[32], char hex[65]);
