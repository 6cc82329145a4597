#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "b64url.h"
#include "djson.h"
#include "error.h"
#include "jwk.h"
#include "jws.h"

#define NONCE "bm9uY2UtMQ"
#define URL "https://ca.test/acme/new-order"
#define KID "https://ca.test/acme/acct/1"

/* One key of each kind, generated once for the whole file (RSA generation is slow). */
enum { K_EC256, K_EC384, K_EC521, K_RSA, K_ED25519, K_N };
static const char *const key_types[K_N] = {"ec256", "ec384", "ec521", "rsa2048", "ed25519"};
static struct jwk *keys[K_N];

static int
setup_keys(void **state)
{
	size_t i;

	for (i = 0; i < K_N; i++)
		if (jwk_generate(key_types[i], &keys[i]) != DEED_OK)
			return -1;
	return 0;
}

static int
teardown_keys(void **state)
{
	size_t i;

	for (i = 0; i < K_N; i++)
		jwk_free(keys[i]);
	return 0;
}

static char *
b64(const char *s)
{
	char *out = NULL;

	assert_int_equal(b64url_encode((const uint8_t *)s, strlen(s), &out), DEED_OK);
	return out;
}

/* A flattened JWS body from a protected header in JSON text, already-encoded payload and
 * signature. Caller frees. */
static char *
mkjws(const char *prot, const char *payload, const char *sig)
{
	char *p = b64(prot), *body = NULL;

	assert_true(asprintf(&body,
			     "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p,
			     payload, sig) > 0);
	free(p);
	return body;
}

static int
parse_rc(const char *body)
{
	struct jws *j = NULL;
	char err[160] = "";
	int rc;

	rc = jws_parse(body, strlen(body), &j, err, sizeof(err));
	if (rc != DEED_OK)
		assert_true(strlen(err) > 0); /* every refusal says why */
	jws_free(j);
	return rc;
}

/* Parse body and verify it with key; returns the first failing code. */
static int
parse_verify_rc(const char *body, const struct jwk *key)
{
	struct jws *j = NULL;
	int rc;

	if ((rc = jws_parse(body, strlen(body), &j, NULL, 0)) == DEED_OK)
		rc = jws_verify(j, key != NULL ? key : j->jwk);
	jws_free(j);
	return rc;
}

/* Sign, then replace member name of the result with value; caller frees the new body. */
static char *
sign_and_replace(const struct jwk *key, const char *name, const char *value)
{
	json_t *o = NULL;
	char *s;

	assert_int_equal(jws_sign_json(key, NULL, NONCE, URL, "{}", &o), DEED_OK);
	if (name != NULL)
		assert_int_equal(json_object_set_new(o, name, json_string(value)), 0);
	s = djson_dump(o);
	assert_non_null(s);
	json_decref(o);
	return s;
}

/* The decoded "signature" of a signed body. */
static size_t
signature_len(const char *body)
{
	json_t *o = NULL;
	uint8_t *sig = NULL;
	size_t len = 0;
	const char *s;

	assert_int_equal(djson_parse(body, strlen(body), JWS_MAX_BODY, &o, NULL, 0), DEED_OK);
	s = djson_str(o, "signature");
	assert_non_null(s);
	assert_int_equal(b64url_decode(s, strlen(s), &sig, &len), DEED_OK);
	free(sig);
	json_decref(o);
	return len;
}

static void
round_trip(const struct jwk *key, const char *alg)
{
	struct jws *j = NULL;
	char *body = NULL;

	assert_int_equal(jws_sign(key, NULL, NONCE, URL, "{\"termsOfServiceAgreed\":true}", &body),
			 DEED_OK);
	assert_int_equal(jws_parse(body, strlen(body), &j, NULL, 0), DEED_OK);
	assert_string_equal(j->alg, alg);
	assert_string_equal(j->nonce, NONCE);
	assert_string_equal(j->url, URL);
	assert_null(j->kid);
	assert_non_null(j->jwk);
	assert_true(jwk_equal(j->jwk, key));
	assert_false(j->post_as_get);
	assert_int_equal(j->payload_len, strlen("{\"termsOfServiceAgreed\":true}"));
	assert_string_equal((const char *)j->payload, "{\"termsOfServiceAgreed\":true}");
	assert_int_equal(jws_verify(j, j->jwk), DEED_OK);
	assert_int_equal(jws_verify(j, key), DEED_OK);
	jws_free(j);
	free(body);
}

static void
test_round_trips_es256(void **state)
{
	round_trip(keys[K_EC256], "ES256");
}

static void
test_round_trips_es384(void **state)
{
	round_trip(keys[K_EC384], "ES384");
}

static void
test_round_trips_es512(void **state)
{
	round_trip(keys[K_EC521], "ES512");
}

static void
test_round_trips_rs256(void **state)
{
	round_trip(keys[K_RSA], "RS256");
}

static void
test_round_trips_eddsa(void **state)
{
	round_trip(keys[K_ED25519], "EdDSA");
}

/* RFC 7518 §3.4: r || s, each exactly the width of the curve order, whatever their value. */
static void
test_ecdsa_signatures_are_fixed_width_raw(void **state)
{
	static const struct {
		int key;
		size_t len;
	} v[] = {{K_EC256, 64}, {K_EC384, 96}, {K_EC521, 132}};
	size_t i;
	int n;
	char *body;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		/* enough signatures that some r or s has leading zero octets to pad */
		for (n = 0; n < 200; n++) {
			body = sign_and_replace(keys[v[i].key], NULL, NULL);
			assert_int_equal(signature_len(body), v[i].len);
			assert_int_equal(parse_verify_rc(body, keys[v[i].key]), DEED_OK);
			free(body);
		}
	}
}

static void
test_kid_form_carries_no_jwk(void **state)
{
	struct jws *j = NULL;
	char *body = NULL;

	assert_int_equal(jws_sign(keys[K_EC256], KID, NONCE, URL, "{}", &body), DEED_OK);
	assert_int_equal(jws_parse(body, strlen(body), &j, NULL, 0), DEED_OK);
	assert_string_equal(j->kid, KID);
	assert_null(j->jwk);
	assert_int_equal(jws_verify(j, keys[K_EC256]), DEED_OK);
	jws_free(j);
	free(body);
}

/* RFC 8555 §6.3: POST-as-GET is the empty payload, whether given as NULL or "". */
static void
test_post_as_get_has_empty_payload(void **state)
{
	struct jws *j = NULL;
	char *body = NULL;
	const char *payloads[] = {NULL, ""};
	size_t i;

	for (i = 0; i < 2; i++) {
		assert_int_equal(jws_sign(keys[K_EC256], KID, NONCE, URL, payloads[i], &body),
				 DEED_OK);
		assert_non_null(strstr(body, "\"payload\":\"\""));
		assert_int_equal(jws_parse(body, strlen(body), &j, NULL, 0), DEED_OK);
		assert_true(j->post_as_get);
		assert_int_equal(j->payload_len, 0);
		assert_string_equal((const char *)j->payload, "");
		assert_int_equal(jws_verify(j, keys[K_EC256]), DEED_OK);
		jws_free(j);
		free(body);
		j = NULL;
	}
}

static void
test_absent_nonce_is_omitted(void **state)
{
	struct jws *j = NULL;
	char *body = NULL;

	assert_int_equal(jws_sign(keys[K_ED25519], NULL, NULL, URL, "{}", &body), DEED_OK);
	assert_int_equal(jws_parse(body, strlen(body), &j, NULL, 0), DEED_OK);
	assert_null(j->nonce);
	assert_string_equal(j->url, URL);
	jws_free(j);
	free(body);
}

/* RFC 8555 §7.3.5: keyChange nests a JWS by the new key inside one by the old. */
static void
test_nested_key_change_jws_verifies(void **state)
{
	struct jws *outer = NULL, *inner = NULL;
	json_t *in = NULL;
	char *inner_s, *body = NULL;

	assert_int_equal(
	    jws_sign_json(keys[K_EC384], NULL, NULL, URL, "{\"account\":\"" KID "\"}", &in),
	    DEED_OK);
	inner_s = djson_dump(in);
	assert_int_equal(jws_sign(keys[K_RSA], KID, NONCE, URL, inner_s, &body), DEED_OK);

	assert_int_equal(jws_parse(body, strlen(body), &outer, NULL, 0), DEED_OK);
	assert_int_equal(jws_verify(outer, keys[K_RSA]), DEED_OK);
	assert_int_equal(
	    jws_parse((const char *)outer->payload, outer->payload_len, &inner, NULL, 0), DEED_OK);
	assert_null(inner->nonce);
	assert_int_equal(jws_verify(inner, inner->jwk), DEED_OK);
	assert_true(jwk_equal(inner->jwk, keys[K_EC384]));

	jws_free(inner);
	jws_free(outer);
	free(body);
	free(inner_s);
	json_decref(in);
}

static void
test_rejects_tampered_payload(void **state)
{
	size_t i;
	char *p = b64("{\"termsOfServiceAgreed\":false}"), *body;

	for (i = 0; i < K_N; i++) {
		body = sign_and_replace(keys[i], "payload", p);
		assert_int_equal(parse_verify_rc(body, keys[i]), DEED_EBADSIG);
		free(body);
	}
	free(p);
}

/*
 * Sign with each key, decode the signature, flip one bit in it (flip) or drop its last octet,
 * and check that the result no longer verifies.
 */
static void
expect_bad_signature(bool flip)
{
	json_t *o = NULL;
	uint8_t *sig = NULL;
	size_t i, len = 0;
	char *s = NULL, *body;

	for (i = 0; i < K_N; i++) {
		body = sign_and_replace(keys[i], NULL, NULL);
		assert_int_equal(djson_parse(body, strlen(body), JWS_MAX_BODY, &o, NULL, 0),
				 DEED_OK);
		free(body);
		assert_int_equal(b64url_decode(djson_str(o, "signature"),
					       strlen(djson_str(o, "signature")), &sig, &len),
				 DEED_OK);
		if (flip)
			sig[len / 2] ^= 0x01;
		else
			len--;
		assert_int_equal(b64url_encode(sig, len, &s), DEED_OK);
		json_object_set_new(o, "signature", json_string(s));
		body = djson_dump(o);
		assert_int_equal(parse_verify_rc(body, keys[i]), DEED_EBADSIG);
		free(body);
		free(s);
		free(sig);
		json_decref(o);
	}
}

static void
test_rejects_tampered_signature(void **state)
{
	expect_bad_signature(true);
}

/* A signature one octet short: ECDSA must be 2 * width, RSA exactly the modulus size. */
static void
test_rejects_signature_of_wrong_length(void **state)
{
	expect_bad_signature(false);
}

/* RFC 8555 §6.2: never "none", never a MAC, and only the algorithms deed implements. */
static void
test_rejects_alg_none_and_hmac(void **state)
{
	static const char *const prot[] = {
	    "{\"alg\":\"none\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	    "{\"alg\":\"HS256\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	    "{\"alg\":\"HS512\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	    "{\"alg\":\"RS512\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	    "{\"alg\":\"PS256\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	    "{\"alg\":\"\",\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}",
	};
	size_t i;
	char *body;

	for (i = 0; i < sizeof(prot) / sizeof(prot[0]); i++) {
		body = mkjws(prot[i], "e30", "AAAA");
		assert_int_equal(parse_rc(body), DEED_EBADALG);
		free(body);
	}
}

static void
test_rejects_missing_or_non_string_alg(void **state)
{
	char *body;

	body = mkjws("{\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	body =
	    mkjws("{\"alg\":256,\"kid\":\"" KID "\",\"nonce\":\"n\",\"url\":\"u\"}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

/* The key decides the algorithm: a signature made with one key never passes as another's. */
static void
test_rejects_alg_that_does_not_fit_key(void **state)
{
	char *body = NULL;
	json_t *jwk;
	char *jwks, *prot = NULL;

	/* signed by P-256 (ES256), checked against each other key type */
	assert_int_equal(jws_sign(keys[K_EC256], KID, NONCE, URL, "{}", &body), DEED_OK);
	assert_int_equal(parse_verify_rc(body, keys[K_EC384]), DEED_EBADALG);
	assert_int_equal(parse_verify_rc(body, keys[K_EC521]), DEED_EBADALG);
	assert_int_equal(parse_verify_rc(body, keys[K_RSA]), DEED_EBADALG);
	assert_int_equal(parse_verify_rc(body, keys[K_ED25519]), DEED_EBADALG);
	free(body);

	/* an embedded P-256 key claiming ES384 */
	jwk = jwk_to_json(keys[K_EC256]);
	jwks = djson_dump(jwk);
	assert_true(asprintf(&prot, "{\"alg\":\"ES384\",\"jwk\":%s,\"nonce\":\"n\",\"url\":\"u\"}",
			     jwks) > 0);
	body = mkjws(prot, "e30", "AAAA");
	assert_int_equal(parse_verify_rc(body, NULL), DEED_EBADALG);
	free(body);
	free(prot);
	free(jwks);
	json_decref(jwk);
}

static void
test_rejects_unprotected_header_and_general_serialization(void **state)
{
	char *body = sign_and_replace(keys[K_EC256], NULL, NULL);
	char *bad = NULL;

	/* splice a member in front of the signed object's own */
	assert_true(asprintf(&bad, "{\"header\":{\"kid\":\"x\"},%s", body + 1) > 0);
	assert_int_equal(parse_rc(bad), DEED_EMALFORMED);
	free(bad);
	assert_true(asprintf(&bad, "{\"signatures\":[],%s", body + 1) > 0);
	assert_int_equal(parse_rc(bad), DEED_EMALFORMED);
	free(bad);
	assert_true(asprintf(&bad, "{\"extra\":1,%s", body + 1) > 0);
	assert_int_equal(parse_rc(bad), DEED_EMALFORMED);
	free(bad);
	/* general serialization alone */
	assert_int_equal(parse_rc("{\"payload\":\"e30\",\"signatures\":[{\"protected\":\"e30\","
				  "\"signature\":\"AAAA\"}]}"),
			 DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_missing_or_non_string_members(void **state)
{
	assert_int_equal(parse_rc("{\"protected\":\"e30\",\"payload\":\"e30\"}"), DEED_EMALFORMED);
	assert_int_equal(parse_rc("{\"protected\":\"e30\",\"payload\":{},\"signature\":\"AAAA\"}"),
			 DEED_EMALFORMED);
	assert_int_equal(parse_rc("[\"protected\",\"payload\",\"signature\"]"), DEED_EMALFORMED);
	/* compact serialization is not JSON at all */
	assert_int_equal(parse_rc("e30.e30.AAAA"), DEED_EMALFORMED);
}

/* RFC 8555 §6.2: exactly one of "jwk" and "kid". */
static void
test_rejects_both_jwk_and_kid(void **state)
{
	json_t *jwk = jwk_to_json(keys[K_EC256]);
	char *jwks = djson_dump(jwk), *prot = NULL, *body;

	assert_true(asprintf(&prot,
			     "{\"alg\":\"ES256\",\"jwk\":%s,\"kid\":\"" KID
			     "\",\"nonce\":\"n\",\"url\":\"u\"}",
			     jwks) > 0);
	body = mkjws(prot, "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	free(prot);
	free(jwks);
	json_decref(jwk);
}

static void
test_rejects_neither_jwk_nor_kid(void **state)
{
	char *body = mkjws("{\"alg\":\"ES256\",\"nonce\":\"n\",\"url\":\"u\"}", "e30", "AAAA");

	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	body =
	    mkjws("{\"alg\":\"ES256\",\"kid\":\"\",\"nonce\":\"n\",\"url\":\"u\"}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_non_string_nonce_or_url(void **state)
{
	char *body =
	    mkjws("{\"alg\":\"ES256\",\"kid\":\"k\",\"nonce\":1,\"url\":\"u\"}", "e30", "AAAA");

	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	body = mkjws("{\"alg\":\"ES256\",\"kid\":\"k\",\"nonce\":\"n\",\"url\":[\"u\"]}", "e30",
		     "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_crit_and_unencoded_payload(void **state)
{
	char *body = mkjws("{\"alg\":\"ES256\",\"kid\":\"k\",\"crit\":[\"b64\"],\"b64\":false}",
			   "e30", "AAAA");

	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_protected_header_that_is_not_an_object(void **state)
{
	char *body = mkjws("[\"alg\",\"ES256\"]", "e30", "AAAA");

	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	body = mkjws("{\"alg\":\"ES256\",\"kid\":\"k\"", "e30", "AAAA"); /* truncated */
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_embedded_private_or_unsupported_key(void **state)
{
	char *body;

	body = mkjws("{\"alg\":\"EdDSA\",\"jwk\":{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
		     "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\","
		     "\"d\":\"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\"}}",
		     "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EBADKEY);
	free(body);
	body = mkjws("{\"alg\":\"ES256\",\"jwk\":{\"kty\":\"oct\",\"k\":\"AAAA\"}}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EBADKEY);
	free(body);
	body = mkjws("{\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"AA\","
		     "\"y\":\"AA\"}}",
		     "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EBADKEY);
	free(body);
	body = mkjws("{\"alg\":\"ES256\",\"jwk\":\"not an object\"}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_bad_base64(void **state)
{
	const char *prot = "{\"alg\":\"ES256\",\"kid\":\"k\",\"nonce\":\"n\",\"url\":\"u\"}";
	char *p = b64(prot), *body = NULL;

	/* padding on the payload, '+' in the signature, a space in the protected header */
	body = mkjws(prot, "e30=", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	body = mkjws(prot, "e30", "AA+A");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	assert_true(asprintf(&body,
			     "{\"protected\":\" %s\",\"payload\":\"e30\",\"signature\":\"AAAA\"}",
			     p) > 0);
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	/* a padded protected header */
	assert_true(asprintf(&body,
			     "{\"protected\":\"%s==\",\"payload\":\"e30\",\"signature\":\"AAAA\"}",
			     p) > 0);
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
	free(p);
}

static void
test_rejects_duplicate_json_keys(void **state)
{
	char *body = sign_and_replace(keys[K_EC256], NULL, NULL), *bad = NULL;

	/* a second "payload" after the signed one */
	assert_true(asprintf(&bad, "%.*s,\"payload\":\"e30\"}", (int)strlen(body) - 1, body) > 0);
	assert_int_equal(parse_rc(bad), DEED_EMALFORMED);
	free(bad);
	free(body);
	/* and inside the protected header */
	body = mkjws("{\"alg\":\"ES256\",\"alg\":\"none\",\"kid\":\"k\"}", "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_EMALFORMED);
	free(body);
}

static void
test_rejects_trailing_garbage(void **state)
{
	char *body = sign_and_replace(keys[K_EC256], NULL, NULL), *bad = NULL;

	assert_int_equal(parse_rc(body), DEED_OK);
	assert_true(asprintf(&bad, "%s{}", body) > 0);
	assert_int_equal(parse_rc(bad), DEED_EMALFORMED);
	free(bad);
	free(body);
}

static void
test_rejects_deep_nesting(void **state)
{
	char deep[256], prot[400], *body;
	size_t i;

	for (i = 0; i < 100; i++) {
		deep[i] = '[';
		deep[100 + i] = ']';
	}
	deep[200] = '\0';
	/* in the body */
	assert_true(asprintf(&body,
			     "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\","
			     "\"x\":%s}",
			     deep) > 0);
	assert_int_equal(parse_rc(body), DEED_ETOOBIG);
	free(body);
	/* in the protected header */
	snprintf(prot, sizeof(prot), "{\"alg\":\"ES256\",\"kid\":\"k\",\"x\":%s}", deep);
	body = mkjws(prot, "e30", "AAAA");
	assert_int_equal(parse_rc(body), DEED_ETOOBIG);
	free(body);
}

static void
test_rejects_oversize_body(void **state)
{
	const char *doc = "{\"protected\":\"e30\",\"payload\":\"\",\"signature\":\"\"}";
	size_t len = JWS_MAX_BODY + 100;
	char *big = malloc(len + 1);

	/* a small document followed by whitespace that pushes it over the cap */
	assert_non_null(big);
	memset(big, ' ', len);
	big[len] = '\0';
	memcpy(big, doc, strlen(doc));
	assert_int_equal(parse_rc(big), DEED_ETOOBIG);
	free(big);
}

static void
test_signing_with_public_key_fails(void **state)
{
	json_t *pub = jwk_to_json(keys[K_EC256]);
	struct jwk *k = NULL;
	char *body = NULL;

	assert_int_equal(jwk_from_json(pub, &k, NULL, 0), DEED_OK);
	assert_int_equal(jws_sign(k, KID, NONCE, URL, "{}", &body), DEED_ECRYPTO);
	assert_null(body);
	jwk_free(k);
	json_decref(pub);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trips_es256),
	    cmocka_unit_test(test_round_trips_es384),
	    cmocka_unit_test(test_round_trips_es512),
	    cmocka_unit_test(test_round_trips_rs256),
	    cmocka_unit_test(test_round_trips_eddsa),
	    cmocka_unit_test(test_ecdsa_signatures_are_fixed_width_raw),
	    cmocka_unit_test(test_kid_form_carries_no_jwk),
	    cmocka_unit_test(test_post_as_get_has_empty_payload),
	    cmocka_unit_test(test_absent_nonce_is_omitted),
	    cmocka_unit_test(test_nested_key_change_jws_verifies),
	    cmocka_unit_test(test_rejects_tampered_payload),
	    cmocka_unit_test(test_rejects_tampered_signature),
	    cmocka_unit_test(test_rejects_signature_of_wrong_length),
	    cmocka_unit_test(test_rejects_alg_none_and_hmac),
	    cmocka_unit_test(test_rejects_missing_or_non_string_alg),
	    cmocka_unit_test(test_rejects_alg_that_does_not_fit_key),
	    cmocka_unit_test(test_rejects_unprotected_header_and_general_serialization),
	    cmocka_unit_test(test_rejects_missing_or_non_string_members),
	    cmocka_unit_test(test_rejects_both_jwk_and_kid),
	    cmocka_unit_test(test_rejects_neither_jwk_nor_kid),
	    cmocka_unit_test(test_rejects_non_string_nonce_or_url),
	    cmocka_unit_test(test_rejects_crit_and_unencoded_payload),
	    cmocka_unit_test(test_rejects_protected_header_that_is_not_an_object),
	    cmocka_unit_test(test_rejects_embedded_private_or_unsupported_key),
	    cmocka_unit_test(test_rejects_bad_base64),
	    cmocka_unit_test(test_rejects_duplicate_json_keys),
	    cmocka_unit_test(test_rejects_trailing_garbage),
	    cmocka_unit_test(test_rejects_deep_nesting),
	    cmocka_unit_test(test_rejects_oversize_body),
	    cmocka_unit_test(test_signing_with_public_key_fails),
	};

	return cmocka_run_group_tests(tests, setup_keys, teardown_keys);
}
