#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "problem.h"

#define URN "urn:ietf:params:acme:error:"

/* RFC 8555 §6.7 (and the ARI/profiles drafts for the last two) type names, in enum order. */
static const struct {
	enum prob_type t;
	const char *name;
} acme_types[] = {
    {PROB_ACCOUNT_DOES_NOT_EXIST, "accountDoesNotExist"},
    {PROB_ALREADY_REVOKED, "alreadyRevoked"},
    {PROB_BAD_CSR, "badCSR"},
    {PROB_BAD_NONCE, "badNonce"},
    {PROB_BAD_PUBLIC_KEY, "badPublicKey"},
    {PROB_BAD_REVOCATION_REASON, "badRevocationReason"},
    {PROB_BAD_SIGNATURE_ALGORITHM, "badSignatureAlgorithm"},
    {PROB_CAA, "caa"},
    {PROB_COMPOUND, "compound"},
    {PROB_CONNECTION, "connection"},
    {PROB_DNS, "dns"},
    {PROB_EXTERNAL_ACCOUNT_REQUIRED, "externalAccountRequired"},
    {PROB_INCORRECT_RESPONSE, "incorrectResponse"},
    {PROB_INVALID_CONTACT, "invalidContact"},
    {PROB_MALFORMED, "malformed"},
    {PROB_ORDER_NOT_READY, "orderNotReady"},
    {PROB_RATE_LIMITED, "rateLimited"},
    {PROB_REJECTED_IDENTIFIER, "rejectedIdentifier"},
    {PROB_SERVER_INTERNAL, "serverInternal"},
    {PROB_TLS, "tls"},
    {PROB_UNAUTHORIZED, "unauthorized"},
    {PROB_UNSUPPORTED_CONTACT, "unsupportedContact"},
    {PROB_UNSUPPORTED_IDENTIFIER, "unsupportedIdentifier"},
    {PROB_USER_ACTION_REQUIRED, "userActionRequired"},
    {PROB_ALREADY_REPLACED, "alreadyReplaced"},
    {PROB_INVALID_PROFILE, "invalidProfile"},
};

#define N_ACME (sizeof(acme_types) / sizeof(acme_types[0]))

static void
test_each_acme_type_has_its_rfc8555_urn_and_name(void **state)
{
	char want[128];

	for (size_t i = 0; i < N_ACME; i++) {
		snprintf(want, sizeof(want), URN "%s", acme_types[i].name);
		assert_string_equal(prob_urn(acme_types[i].t), want);
		assert_string_equal(prob_name(acme_types[i].t), acme_types[i].name);
	}
}

static void
test_http_level_types_use_malformed_urn(void **state)
{
	static const enum prob_type http[] = {PROB_NOT_FOUND, PROB_METHOD_NOT_ALLOWED,
					      PROB_UNSUPPORTED_MEDIA, PROB_CONFLICT};

	for (size_t i = 0; i < sizeof(http) / sizeof(http[0]); i++) {
		assert_string_equal(prob_urn(http[i]), URN "malformed");
		assert_string_equal(prob_name(http[i]), "malformed");
	}
}

static void
test_http_status_follows_the_type(void **state)
{
	assert_int_equal(prob_http_status(PROB_MALFORMED), 400);
	assert_int_equal(prob_http_status(PROB_BAD_NONCE), 400);
	assert_int_equal(prob_http_status(PROB_BAD_CSR), 400);
	assert_int_equal(prob_http_status(PROB_UNAUTHORIZED), 403);
	assert_int_equal(prob_http_status(PROB_ORDER_NOT_READY), 403);
	assert_int_equal(prob_http_status(PROB_RATE_LIMITED), 429);
	assert_int_equal(prob_http_status(PROB_SERVER_INTERNAL), 500);
	assert_int_equal(prob_http_status(PROB_NOT_FOUND), 404);
	assert_int_equal(prob_http_status(PROB_METHOD_NOT_ALLOWED), 405);
	assert_int_equal(prob_http_status(PROB_UNSUPPORTED_MEDIA), 415);
	assert_int_equal(prob_http_status(PROB_CONFLICT), 409);
	assert_int_equal(prob_http_status(PROB_ALREADY_REPLACED), 409);
}

static void
test_every_status_is_a_client_or_server_error(void **state)
{
	for (int t = PROB_ACCOUNT_DOES_NOT_EXIST; t <= PROB_CONFLICT; t++) {
		int st = prob_http_status((enum prob_type)t);

		assert_true(st >= 400 && st <= 599);
	}
}

static void
test_out_of_range_type_is_server_internal(void **state)
{
	enum prob_type bad = (enum prob_type)(PROB_CONFLICT + 1);

	assert_string_equal(prob_urn(bad), URN "serverInternal");
	assert_string_equal(prob_name(bad), "serverInternal");
	assert_int_equal(prob_http_status(bad), 500);
	assert_int_equal(prob_http_status((enum prob_type) - 1), 500);
}

static void
test_from_string_finds_each_type_by_urn_and_by_short_name(void **state)
{
	char urn[128];

	for (size_t i = 0; i < N_ACME; i++) {
		snprintf(urn, sizeof(urn), URN "%s", acme_types[i].name);
		assert_int_equal(prob_from_string(urn), (int)acme_types[i].t);
		assert_int_equal(prob_from_string(acme_types[i].name), (int)acme_types[i].t);
	}
}

static void
test_from_string_maps_shared_malformed_to_prob_malformed(void **state)
{
	assert_int_equal(prob_from_string(prob_urn(PROB_NOT_FOUND)), PROB_MALFORMED);
	assert_int_equal(prob_from_string("malformed"), PROB_MALFORMED);
}

static void
test_from_string_returns_minus_one_when_unknown(void **state)
{
	assert_int_equal(prob_from_string("noSuchType"), -1);
	assert_int_equal(prob_from_string(URN "noSuchType"), -1);
	assert_int_equal(prob_from_string(URN), -1);
	assert_int_equal(prob_from_string(""), -1);
	assert_int_equal(prob_from_string("Malformed"), -1); /* type names are case-sensitive */
	assert_int_equal(prob_from_string("urn:ietf:params:acme:error:malformedx"), -1);
	assert_int_equal(prob_from_string("about:blank"), -1);
	assert_int_equal(prob_from_string(NULL), -1);
}

static void
test_new_has_type_detail_and_status(void **state)
{
	json_t *p = prob_new(PROB_RATE_LIMITED, "too many orders: %d in %s", 301, "3h");

	assert_non_null(p);
	assert_int_equal(json_object_size(p), 3);
	assert_string_equal(json_string_value(json_object_get(p, "type")), URN "rateLimited");
	assert_string_equal(json_string_value(json_object_get(p, "detail")),
			    "too many orders: 301 in 3h");
	assert_true(json_is_integer(json_object_get(p, "status")));
	assert_int_equal(json_integer_value(json_object_get(p, "status")), 429);
	json_decref(p);
}

static void
test_new_for_http_level_type_carries_its_status(void **state)
{
	json_t *p = prob_new(PROB_UNSUPPORTED_MEDIA, "use application/jose+json");

	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "type")), URN "malformed");
	assert_int_equal(json_integer_value(json_object_get(p, "status")), 415);
	json_decref(p);
}

static void
test_new_truncates_very_long_detail(void **state)
{
	static char big[64 * 1024];
	json_t *p;
	const char *d;

	memset(big, 'x', sizeof(big) - 1);
	p = prob_new(PROB_MALFORMED, "%s and more", big);
	assert_non_null(p);
	d = json_string_value(json_object_get(p, "detail"));
	assert_non_null(d);
	assert_true(strlen(d) > 100);
	assert_true(strlen(d) < 4096);
	assert_int_equal(strspn(d, "x"), strlen(d));
	json_decref(p);
}

/* A detail cut in the middle of a multi-byte character must still give a document. */
static void
test_new_survives_truncation_inside_a_utf8_character(void **state)
{
	static char big[8 * 1024];

	for (size_t i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xbc", 2); /* ü */
	/* One of the two paddings cuts the last "ü" in half. */
	for (size_t pad = 0; pad < 2; pad++) {
		json_t *p = prob_new(PROB_REJECTED_IDENTIFIER, "%.*s%s", (int)pad, "a", big);
		const char *d;

		assert_non_null(p);
		d = json_string_value(json_object_get(p, "detail"));
		assert_non_null(d);
		assert_true(strlen(d) > 100);
		json_decref(p);
	}
}

/* Client bytes quoted into a detail (a name, a CSR field) need not be UTF-8. */
static void
test_new_replaces_invalid_utf8_in_detail(void **state)
{
	json_t *p =
	    prob_new(PROB_BAD_CSR, "name \"%s\" is not valid", "a\xff\xc0\x80z\xed\xa0\x80");

	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "detail")),
			    "name \"a???z???\" is not valid");
	json_decref(p);

	p = prob_new(PROB_MALFORMED, "%s", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xa9");
	assert_non_null(p);
	assert_string_equal(json_string_value(json_object_get(p, "detail")),
			    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x92\xa9");
	json_decref(p);
}

static void
test_new_serializes_as_problem_json(void **state)
{
	json_t *p = prob_new(PROB_BAD_NONCE, "JWS has an invalid anti-replay nonce");
	json_t *back;
	char *s;

	assert_non_null(p);
	s = json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(s);
	assert_string_equal(s,
			    "{\"detail\":\"JWS has an invalid anti-replay nonce\",\"status\":400,"
			    "\"type\":\"" URN "badNonce\"}");
	back = json_loads(s, 0, NULL);
	assert_non_null(back);
	assert_true(json_equal(back, p));
	json_decref(back);
	free(s);
	json_decref(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_each_acme_type_has_its_rfc8555_urn_and_name),
	    cmocka_unit_test(test_http_level_types_use_malformed_urn),
	    cmocka_unit_test(test_http_status_follows_the_type),
	    cmocka_unit_test(test_every_status_is_a_client_or_server_error),
	    cmocka_unit_test(test_out_of_range_type_is_server_internal),
	    cmocka_unit_test(test_from_string_finds_each_type_by_urn_and_by_short_name),
	    cmocka_unit_test(test_from_string_maps_shared_malformed_to_prob_malformed),
	    cmocka_unit_test(test_from_string_returns_minus_one_when_unknown),
	    cmocka_unit_test(test_new_has_type_detail_and_status),
	    cmocka_unit_test(test_new_for_http_level_type_carries_its_status),
	    cmocka_unit_test(test_new_truncates_very_long_detail),
	    cmocka_unit_test(test_new_survives_truncation_inside_a_utf8_character),
	    cmocka_unit_test(test_new_replaces_invalid_utf8_in_detail),
	    cmocka_unit_test(test_new_serializes_as_problem_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
