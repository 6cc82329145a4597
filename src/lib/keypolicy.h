#pragma once

#include <stddef.h>

#include <openssl/evp.h>

/*
 * Which public keys deed accepts for accounts and certificates. For now: RSA 2048, 3072 or
 * 4096 bits with exponent 65537, EC P-256 and P-384 (P-521 for account keys only), Ed25519
 * for account keys only.
 */

enum keypolicy_use {
	KEYPOLICY_ACCOUNT,
	KEYPOLICY_CERT,
};

/*
 * Besides type and size: RSA moduli with a prime factor up to 751 are refused, and EC points
 * get full public-key validation (CSR keys arrive without jwk_from_json's checks).
 * err (may be NULL) gets a one-line reason. Returns DEED_OK or DEED_EBADKEY.
 */
int keypolicy_check(EVP_PKEY *pkey, enum keypolicy_use use, char *err, size_t errlen);
