#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "djson.h"
#include "error.h"
#include "jwk.h"

/* RFC 7638 §3.1: the example RSA key, with its optional "alg" and "kid". */
#define RFC7638_N                                                                                  \
	"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_"  \
	"BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_" \
	"FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-"        \
	"bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_JWK                                                                                \
	"{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\",\"alg\":\"RS256\","               \
	"\"kid\":\"2011-04-29\"}"
#define RFC7638_THUMBPRINT "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"

/* RFC 8037 §A.2/§A.3: the example Ed25519 public key and its thumbprint. */
#define RFC8037_JWK                                                                                \
	"{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"11qYAYKxCrfVS_"                              \
	"7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
#define RFC8037_THUMBPRINT "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"

/* RFC 7515 §A.3: an example P-256 public key. */
#define RFC7515_EC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define RFC7515_EC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"

/* 31 zero octets: one short of a P-256 coordinate or an Ed25519 key. */
#define ZERO31 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* Parse JSON text s as a JWK; returns the jwk_from_json code, *out set on success. */
static int
jwk_from_text(const char *s, struct jwk **out)
{
	char err[160] = "";
	json_t *v = NULL;
	int rc;

	*out = NULL;
	assert_int_equal(djson_parse(s, strlen(s), 65536, &v, NULL, 0), DEED_OK);
	rc = jwk_from_json(v, out, err, sizeof(err));
	if (rc != DEED_OK)
		assert_true(strlen(err) > 0); /* every refusal says why */
	json_decref(v);
	return rc;
}

static int
jwk_text_rc(const char *s)
{
	struct jwk *k = NULL;
	int rc = jwk_from_text(s, &k);

	jwk_free(k);
	return rc;
}

static void
test_rfc7638_rsa_thumbprint(void **state)
{
	struct jwk *k = NULL;

	assert_int_equal(jwk_from_text(RFC7638_JWK, &k), DEED_OK);
	assert_int_equal(k->kty, JWK_RSA);
	assert_int_equal(k->bits, 2048);
	assert_string_equal(jwk_alg(k), "RS256");
	assert_string_equal(k->thumbprint, RFC7638_THUMBPRINT);
	jwk_free(k);
}

static void
test_rfc8037_ed25519_thumbprint(void **state)
{
	struct jwk *k = NULL;

	assert_int_equal(jwk_from_text(RFC8037_JWK, &k), DEED_OK);
	assert_int_equal(k->kty, JWK_ED25519);
	assert_string_equal(jwk_alg(k), "EdDSA");
	assert_string_equal(k->thumbprint, RFC8037_THUMBPRINT);
	jwk_free(k);
}

static void
test_to_json_has_only_required_members(void **state)
{
	struct jwk *k = NULL;
	json_t *o;
	char *s;

	assert_int_equal(jwk_from_text(RFC7638_JWK, &k), DEED_OK);
	o = jwk_to_json(k);
	assert_non_null(o);
	s = djson_dump(o);
	/* RFC 7638 §3.1 shows exactly this canonical form */
	assert_string_equal(s, "{\"e\":\"AQAB\",\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\"}");
	free(s);
	json_decref(o);
	jwk_free(k);
}

static void
test_accepts_rfc7515_p256_key(void **state)
{
	struct jwk *k = NULL;

	assert_int_equal(jwk_from_text("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X
				       "\",\"y\":\"" RFC7515_EC_Y "\"}",
				       &k),
			 DEED_OK);
	assert_int_equal(k->kty, JWK_EC_P256);
	assert_int_equal(k->bits, 256);
	assert_string_equal(jwk_alg(k), "ES256");
	jwk_free(k);
}

/* Generate type, export as JSON, parse it back: the same key with the same thumbprint. */
static void
round_trip(const char *type, enum jwk_kty kty, int bits, const char *alg)
{
	struct jwk *k = NULL, *k2 = NULL;
	json_t *o;
	char *s;

	assert_int_equal(jwk_generate(type, &k), DEED_OK);
	assert_int_equal(k->kty, kty);
	assert_int_equal(k->bits, bits);
	assert_string_equal(jwk_alg(k), alg);
	assert_int_equal(strlen(k->thumbprint), JWK_THUMBPRINT_LEN);

	o = jwk_to_json(k);
	assert_non_null(o);
	assert_int_equal(json_object_size(o), (kty == JWK_RSA || kty == JWK_ED25519) ? 3 : 4);
	assert_null(json_object_get(o, "d")); /* never the private part */
	s = djson_dump(o);
	json_decref(o);
	assert_int_equal(jwk_from_text(s, &k2), DEED_OK);
	assert_true(jwk_equal(k, k2));
	assert_string_equal(k->thumbprint, k2->thumbprint);
	assert_int_equal(k2->bits, bits);
	free(s);
	jwk_free(k2);
	jwk_free(k);
}

static void
test_round_trips_ec256(void **state)
{
	round_trip("ec256", JWK_EC_P256, 256, "ES256");
}

static void
test_round_trips_ec384(void **state)
{
	round_trip("ec384", JWK_EC_P384, 384, "ES384");
}

static void
test_round_trips_ec521(void **state)
{
	round_trip("ec521", JWK_EC_P521, 521, "ES512");
}

static void
test_round_trips_rsa2048(void **state)
{
	round_trip("rsa2048", JWK_RSA, 2048, "RS256");
}

static void
test_round_trips_rsa3072(void **state)
{
	round_trip("rsa3072", JWK_RSA, 3072, "RS256");
}

static void
test_round_trips_rsa4096(void **state)
{
	round_trip("rsa4096", JWK_RSA, 4096, "RS256");
}

static void
test_round_trips_ed25519(void **state)
{
	round_trip("ed25519", JWK_ED25519, 255, "EdDSA");
}

static void
test_generate_refuses_unknown_type(void **state)
{
	struct jwk *k = NULL;

	assert_int_equal(jwk_generate("rsa1024", &k), DEED_EINVAL);
	assert_null(k);
	assert_int_equal(jwk_generate("ec192", &k), DEED_EINVAL);
}

/* RFC 7518 §6.2.1.2: coordinates keep their leading zero octets. */
static void
test_ec_coordinates_are_full_width(void **state)
{
	struct jwk *k = NULL;
	json_t *o;
	int i, seen = 0;

	/* about 1 key in 128 has a coordinate starting with a zero octet ("A" first) */
	for (i = 0; i < 3000 && !seen; i++) {
		assert_int_equal(jwk_generate("ec256", &k), DEED_OK);
		o = jwk_to_json(k);
		assert_int_equal(strlen(djson_str(o, "x")), 43);
		assert_int_equal(strlen(djson_str(o, "y")), 43);
		seen = djson_str(o, "x")[0] == 'A' || djson_str(o, "y")[0] == 'A';
		json_decref(o);
		jwk_free(k);
	}
	assert_true(seen);
}

static void
test_rejects_ec_coordinate_of_wrong_width(void **state)
{
	/* 31 octets for a P-256 coordinate */
	assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\","
				     "\"x\":\"" ZERO31 "\",\"y\":\"" RFC7515_EC_Y "\"}"),
			 DEED_EMALFORMED);
	/* a P-256 point labelled P-384 */
	assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" RFC7515_EC_X
				     "\",\"y\":\"" RFC7515_EC_Y "\"}"),
			 DEED_EMALFORMED);
}

static void
test_rejects_ec_point_off_curve(void **state)
{
	/* RFC 7515 §A.3's x with y changed in its last octet */
	assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X
				     "\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}"),
			 DEED_EBADKEY);
}

static void
test_rejects_private_members(void **state)
{
	assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
				     "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\","
				     "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
			 DEED_EBADKEY);
	assert_int_equal(
	    jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\",\"p\":\"AQAB\"}"),
	    DEED_EBADKEY);
	assert_int_equal(jwk_text_rc("{\"kty\":\"oct\",\"k\":\"AQAB\"}"), DEED_EBADKEY);
}

static void
test_rejects_unsupported_types_and_curves(void **state)
{
	assert_int_equal(jwk_text_rc("{\"kty\":\"oct\"}"), DEED_EUNSUPPORTED);
	assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" RFC7515_EC_X
				     "\",\"y\":\"" RFC7515_EC_Y "\"}"),
			 DEED_EUNSUPPORTED);
	assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"AA\"}"),
			 DEED_EUNSUPPORTED);
	assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"11qYAYKxCrfVS_"
				     "7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"),
			 DEED_EUNSUPPORTED);
}

static void
test_rejects_malformed_members(void **state)
{
	/* kty missing, not a string */
	assert_int_equal(jwk_text_rc("{\"n\":\"AQAB\",\"e\":\"AQAB\"}"), DEED_EMALFORMED);
	assert_int_equal(jwk_text_rc("{\"kty\":1}"), DEED_EMALFORMED);
	/* e missing; e padded */
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\"}"), DEED_EMALFORMED);
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB==\"}"),
			 DEED_EMALFORMED);
	/* crv missing */
	assert_int_equal(
	    jwk_text_rc("{\"kty\":\"EC\",\"x\":\"" RFC7515_EC_X "\",\"y\":\"" RFC7515_EC_Y "\"}"),
	    DEED_EMALFORMED);
	/* Ed25519 x of 31 octets */
	assert_int_equal(jwk_text_rc("{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
				     "\"x\":\"" ZERO31 "\"}"),
			 DEED_EMALFORMED);
	/* not an object */
	assert_int_equal(jwk_text_rc("[1]"), DEED_EMALFORMED);
}

/* RFC 7518 §2: base64urlUInt uses the minimum number of octets. */
static void
test_rejects_rsa_integers_with_leading_zero(void **state)
{
	uint8_t *n = NULL, *n0;
	size_t nlen = 0;
	char *n0b64 = NULL, doc[1024];

	/* the RFC 7638 modulus with one zero octet put in front: same value, not minimal */
	assert_int_equal(b64url_decode(RFC7638_N, strlen(RFC7638_N), &n, &nlen), DEED_OK);
	n0 = calloc(1, nlen + 1);
	assert_non_null(n0);
	memcpy(n0 + 1, n, nlen);
	assert_int_equal(b64url_encode(n0, nlen + 1, &n0b64), DEED_OK);
	snprintf(doc, sizeof(doc), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"AQAB\"}", n0b64);
	assert_int_equal(jwk_text_rc(doc), DEED_EMALFORMED);
	free(n0b64);
	free(n0);
	free(n);

	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AAEAAQ\"}"),
			 DEED_EMALFORMED);
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"\"}"),
			 DEED_EMALFORMED);
}

static void
test_rejects_even_rsa_modulus_or_exponent(void **state)
{
	/* e = 65536, e = 1, n = 65536 */
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAA\"}"),
			 DEED_EBADKEY);
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQ\"}"),
			 DEED_EBADKEY);
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"AQAA\",\"e\":\"AQAB\"}"),
			 DEED_EBADKEY);
}

static void
test_rejects_alg_that_does_not_fit_key(void **state)
{
	assert_int_equal(jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N
				     "\",\"e\":\"AQAB\",\"alg\":\"ES256\"}"),
			 DEED_EBADALG);
	assert_int_equal(jwk_text_rc("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" RFC7515_EC_X
				     "\",\"y\":\"" RFC7515_EC_Y "\",\"alg\":\"ES384\"}"),
			 DEED_EBADALG);
	assert_int_equal(
	    jwk_text_rc("{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\",\"alg\":7}"),
	    DEED_EMALFORMED);
}

static void
test_different_keys_are_not_equal(void **state)
{
	struct jwk *a = NULL, *b = NULL;

	assert_int_equal(jwk_generate("ec256", &a), DEED_OK);
	assert_int_equal(jwk_generate("ec256", &b), DEED_OK);
	assert_false(jwk_equal(a, b));
	assert_true(jwk_equal(a, a));
	assert_false(jwk_equal(a, NULL));
	jwk_free(a);
	jwk_free(b);
}

static void
test_from_pkey_refuses_other_key_types(void **state)
{
	EVP_PKEY *p;
	struct jwk *k = NULL;
	enum jwk_kty kty;

	p = EVP_PKEY_Q_keygen(NULL, NULL, "X25519");
	assert_non_null(p);
	assert_int_equal(jwk_from_pkey(p, &k), DEED_EUNSUPPORTED);
	assert_null(k);
	EVP_PKEY_free(p);

	p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1");
	assert_non_null(p);
	assert_int_equal(jwk_pkey_kty(p, &kty), DEED_EUNSUPPORTED);
	EVP_PKEY_free(p);
}

static void
test_from_pkey_takes_its_own_reference(void **state)
{
	EVP_PKEY *p;
	struct jwk *k = NULL;
	json_t *o;

	p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	assert_non_null(p);
	assert_int_equal(jwk_from_pkey(p, &k), DEED_OK);
	EVP_PKEY_free(p); /* the jwk keeps the key alive */
	assert_int_equal(k->kty, JWK_EC_P384);
	o = jwk_to_json(k);
	assert_non_null(o);
	assert_string_equal(djson_str(o, "crv"), "P-384");
	json_decref(o);
	jwk_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rfc7638_rsa_thumbprint),
	    cmocka_unit_test(test_rfc8037_ed25519_thumbprint),
	    cmocka_unit_test(test_to_json_has_only_required_members),
	    cmocka_unit_test(test_accepts_rfc7515_p256_key),
	    cmocka_unit_test(test_round_trips_ec256),
	    cmocka_unit_test(test_round_trips_ec384),
	    cmocka_unit_test(test_round_trips_ec521),
	    cmocka_unit_test(test_round_trips_rsa2048),
	    cmocka_unit_test(test_round_trips_rsa3072),
	    cmocka_unit_test(test_round_trips_rsa4096),
	    cmocka_unit_test(test_round_trips_ed25519),
	    cmocka_unit_test(test_generate_refuses_unknown_type),
	    cmocka_unit_test(test_ec_coordinates_are_full_width),
	    cmocka_unit_test(test_rejects_ec_coordinate_of_wrong_width),
	    cmocka_unit_test(test_rejects_ec_point_off_curve),
	    cmocka_unit_test(test_rejects_private_members),
	    cmocka_unit_test(test_rejects_unsupported_types_and_curves),
	    cmocka_unit_test(test_rejects_malformed_members),
	    cmocka_unit_test(test_rejects_rsa_integers_with_leading_zero),
	    cmocka_unit_test(test_rejects_even_rsa_modulus_or_exponent),
	    cmocka_unit_test(test_rejects_alg_that_does_not_fit_key),
	    cmocka_unit_test(test_different_keys_are_not_equal),
	    cmocka_unit_test(test_from_pkey_refuses_other_key_types),
	    cmocka_unit_test(test_from_pkey_takes_its_own_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
