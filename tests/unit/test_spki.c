#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "spki.h"

/* SubjectPublicKeyInfo without OpenSSL's encoders must be byte for byte OpenSSL's. */

static void
same_as_openssl(EVP_PKEY *key, int want_set)
{
	unsigned char *want = NULL, *got = NULL;
	int wl, gl;
	X509_PUBKEY *pub = X509_PUBKEY_new();

	assert_non_null(key);
	assert_non_null(pub);
	assert_int_equal(spki_set(pub, key), want_set);
	X509_PUBKEY_free(pub);
	wl = i2d_PUBKEY(key, &want);
	gl = spki_i2d(key, &got);
	assert_true(wl > 0);
	assert_int_equal(gl, wl);
	assert_memory_equal(got, want, (size_t)wl);
	OPENSSL_free(want);
	OPENSSL_free(got);
	EVP_PKEY_free(key);
}

static void
test_ec_curves(void **state)
{
	(void)state;
	same_as_openssl(EVP_EC_gen("P-256"), 1);
	same_as_openssl(EVP_EC_gen("P-384"), 1);
	same_as_openssl(EVP_EC_gen("P-521"), 1);
}

static void
test_ed25519(void **state)
{
	(void)state;
	same_as_openssl(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), 1);
}

/* Left to OpenSSL (spki_set says 0), and spki_i2d still gives OpenSSL's encoding. */
static void
test_rsa_and_compressed_points_fall_back(void **state)
{
	EVP_PKEY *ec = EVP_EC_gen("P-256");

	(void)state;
	same_as_openssl(EVP_RSA_gen(2048), 0);
	assert_non_null(ec);
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
			     ec, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
			 1);
	same_as_openssl(ec, 0);
}

static void
test_null_arguments(void **state)
{
	X509_PUBKEY *pub = X509_PUBKEY_new();

	(void)state;
	assert_int_equal(spki_set(NULL, NULL), -1);
	assert_int_equal(spki_set(pub, NULL), -1);
	X509_PUBKEY_free(pub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ec_curves),
	    cmocka_unit_test(test_ed25519),
	    cmocka_unit_test(test_rsa_and_compressed_points_fall_back),
	    cmocka_unit_test(test_null_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
