#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "error.h"
#include "jwk.h"
#include "keypolicy.h"

/* Every refusal here is DEED_EBADKEY with a reason. */
#define keypolicy_refuse(err, errlen, ...) deed_fail(DEED_EBADKEY, (err), (errlen), __VA_ARGS__)

/*
 * Boulder's goodkey trial-divides RSA moduli by the primes up to 751: a product of two
 * large primes has no such factor, so one found means a broken generator, and the test
 * costs microseconds.
 */
#define KEYPOLICY_SMALL_PRIME_MAX 751

static bool
keypolicy_is_prime(unsigned int p)
{
	unsigned int d;

	for (d = 2; d * d <= p; d++)
		if (p % d == 0)
			return false;
	return p >= 2;
}

static bool
keypolicy_small_factor(const BIGNUM *n)
{
	unsigned int p;

	for (p = 2; p <= KEYPOLICY_SMALL_PRIME_MAX; p++)
		if (keypolicy_is_prime(p) && BN_mod_word(n, p) == 0)
			return true;
	return false;
}

/*
 * Fixed sizes rather than a minimum: they are what the CA/Browser Forum Baseline
 * Requirements §6.1.5 allow and what every client generates, and an upper bound keeps a
 * hostile 16384-bit key from making each verification expensive. A single exponent, 65537,
 * rules out e = 1 and the small-exponent pitfalls; Let's Encrypt refuses others too.
 */
static int
keypolicy_rsa(EVP_PKEY *pkey, char *err, size_t errlen)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits, rc = DEED_EBADKEY;

	bits = EVP_PKEY_get_bits(pkey);
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		keypolicy_refuse(err, errlen, "RSA keys must be 2048, 3072 or 4096 bits, got %d",
				 bits);
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || !BN_is_word(e, 65537)) {
		keypolicy_refuse(err, errlen, "RSA public exponent must be 65537");
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    keypolicy_small_factor(n)) {
		keypolicy_refuse(err, errlen, "RSA modulus has a small prime factor");
		goto out;
	}
	rc = DEED_OK;
out:
	BN_free(n);
	BN_free(e);
	return rc;
}

/*
 * SP 800-56A §5.6.2.3.3 full public-key validation (on the curve, in range, right order).
 * jwk_from_json already does this for JWS keys; CSR keys reach here straight from DER.
 */
static int
keypolicy_ec(EVP_PKEY *pkey, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	int rc = DEED_EBADKEY;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check(ctx) != 1) {
		keypolicy_refuse(err, errlen, "EC public key is not a valid curve point");
		goto out;
	}
	rc = DEED_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
keypolicy_check(EVP_PKEY *pkey, enum keypolicy_use use, char *err, size_t errlen)
{
	enum jwk_kty kty;
	int rc;

	if (pkey == NULL)
		return keypolicy_refuse(err, errlen, "no key");
	if (jwk_pkey_kty(pkey, &kty) != DEED_OK) {
		const char *name = EVP_PKEY_get0_type_name(pkey);

		if (EVP_PKEY_is_a(pkey, "EC"))
			rc = keypolicy_refuse(
			    err, errlen, "EC keys must be on P-256 or P-384 (P-521 for accounts)");
		else
			rc = keypolicy_refuse(err, errlen, "%s keys are not accepted",
					      name != NULL ? name : "unknown");
		ERR_clear_error();
		return rc;
	}

	switch (kty) {
	case JWK_RSA:
		rc = keypolicy_rsa(pkey, err, errlen);
		ERR_clear_error();
		return rc;
	case JWK_EC_P256:
	case JWK_EC_P384:
		return keypolicy_ec(pkey, err, errlen);
	case JWK_EC_P521:
		/*
		 * Baseline Requirements §6.1.5 allow only P-256 and P-384 in certificates; an
		 * account key never leaves the ACME exchange, so P-521 (ES512) is fine there.
		 */
		if (use != KEYPOLICY_ACCOUNT)
			return keypolicy_refuse(err, errlen,
						"P-521 keys are accepted for accounts only");
		return keypolicy_ec(pkey, err, errlen);
	case JWK_ED25519:
		/* Same reason: publicly trusted certificates cannot carry Ed25519 keys. */
		if (use != KEYPOLICY_ACCOUNT)
			return keypolicy_refuse(err, errlen,
						"Ed25519 keys are accepted for accounts only");
		return DEED_OK;
	}
	return keypolicy_refuse(err, errlen, "key type not accepted");
}
