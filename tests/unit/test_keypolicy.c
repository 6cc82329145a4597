#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "error.h"
#include "keypolicy.h"

/* Check pkey for both uses; expect acct and cert codes. */
static void
expect(EVP_PKEY *pkey, int acct, int cert)
{
	char err[160];

	assert_non_null(pkey);
	err[0] = '\0';
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), acct);
	if (acct != DEED_OK)
		assert_true(strlen(err) > 0);
	err[0] = '\0';
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_CERT, err, sizeof(err)), cert);
	if (cert != DEED_OK)
		assert_true(strlen(err) > 0);
	EVP_PKEY_free(pkey);
}

/* An RSA (or RSA-PSS) key of bits with public exponent e. */
static EVP_PKEY *
rsa_key(const char *type, unsigned int bits, unsigned int e)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = BN_new();

	assert_non_null(ctx);
	assert_non_null(bn);
	assert_int_equal(BN_set_word(bn, e), 1);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &pkey), 1);
	BN_free(bn);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static void
test_accepts_rsa_2048_3072_4096_for_both_uses(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096), DEED_OK, DEED_OK);
}

static void
test_refuses_rsa_1024_with_reason(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char err[160] = "";

	assert_non_null(pkey);
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, "RSA keys must be 2048, 3072 or 4096 bits, got 1024");
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_CERT, NULL, 0), DEED_EBADKEY);
	EVP_PKEY_free(pkey);
}

static void
test_refuses_rsa_sizes_between_the_allowed_ones(void **state)
{
	expect(rsa_key("RSA", 2304, 65537), DEED_EBADKEY, DEED_EBADKEY);
}

static void
test_refuses_rsa_exponent_other_than_65537(void **state)
{
	EVP_PKEY *pkey = rsa_key("RSA", 2048, 3);
	char err[160] = "";

	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_non_null(strstr(err, "65537"));
	EVP_PKEY_free(pkey);
}

/* A public RSA key with modulus n and exponent 65537. */
static EVP_PKEY *
rsa_pub(const BIGNUM *n)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params;
	BIGNUM *e = BN_new();

	assert_non_null(bld);
	assert_non_null(ctx);
	assert_int_equal(BN_set_word(e, 65537), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_non_null(params);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	return pkey;
}

static void
test_refuses_rsa_modulus_with_small_prime_factor(void **state)
{
	BIGNUM *m = BN_new(), *n = BN_new();
	EVP_PKEY *pkey;
	char err[160] = "";

	/* 751 times a random odd number, sized so the product has exactly 2048 bits */
	assert_non_null(m);
	assert_non_null(n);
	do {
		assert_int_equal(BN_rand(m, 2039, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
		assert_int_equal(BN_copy(n, m) != NULL, 1);
		assert_int_equal(BN_mul_word(n, 751), 1);
	} while (BN_num_bits(n) != 2048);
	pkey = rsa_pub(n);
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, "RSA modulus has a small prime factor");
	EVP_PKEY_free(pkey);
	BN_free(m);
	BN_free(n);
}

static void
test_accepts_p256_and_p384_for_both_uses(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), DEED_OK, DEED_OK);
}

static void
test_accepts_p521_for_accounts_but_not_certificates(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), DEED_OK, DEED_EBADKEY);
}

static void
test_accepts_ed25519_for_accounts_but_not_certificates(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), DEED_OK, DEED_EBADKEY);
}

static void
test_refuses_other_curves_and_types(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), DEED_EBADKEY, DEED_EBADKEY);
	/* RSA-PSS keys are restricted to PSS, and JWS RS256 is PKCS #1 v1.5 */
	expect(rsa_key("RSA-PSS", 2048, 65537), DEED_EBADKEY, DEED_EBADKEY);
}

static void
test_refuses_null_key(void **state)
{
	assert_int_equal(keypolicy_check(NULL, KEYPOLICY_ACCOUNT, NULL, 0), DEED_EBADKEY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_rsa_2048_3072_4096_for_both_uses),
	    cmocka_unit_test(test_refuses_rsa_1024_with_reason),
	    cmocka_unit_test(test_refuses_rsa_sizes_between_the_allowed_ones),
	    cmocka_unit_test(test_refuses_rsa_exponent_other_than_65537),
	    cmocka_unit_test(test_refuses_rsa_modulus_with_small_prime_factor),
	    cmocka_unit_test(test_accepts_p256_and_p384_for_both_uses),
	    cmocka_unit_test(test_accepts_p521_for_accounts_but_not_certificates),
	    cmocka_unit_test(test_accepts_ed25519_for_accounts_but_not_certificates),
	    cmocka_unit_test(test_refuses_other_curves_and_types),
	    cmocka_unit_test(test_refuses_null_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
