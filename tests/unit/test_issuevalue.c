#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "issuevalue.h"

/*
 * Protocol notes §4.12 setup: issuer authority.example, account https://ca.example/acct/123,
 * now 2026-01-01T00:00:00Z, record at _validation-persist.example.com. Thumbprint and hashes
 * are the draft -02 vectors (§4.5).
 */
#define ACCT "https://ca.example/acct/123"
#define NOW INT64_C(1767225600)
#define TP "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define TP_NEWER "newerkeythumbprintnewerkeythumbprintnewerke"
#define PREFIX "https://ca.example/account-hash/"
#define H_DOMAIN "5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"
#define H_ANY "NpDnSwUthQK8zCgFdefYxAdAVPnygMLbs9US6oO-5ug"
#define R_PREFIX "authority.example; accounturi="
#define R1 "authority.example; accounturi=https://ca.example/acct/123"

static const char *const issuers[] = {"authority.example"};
static const char *const thumbprints[] = {TP};

/* The -01 setup: cleartext accounturi only. */
static struct persist_check
check01(void)
{
	return (struct persist_check){
	    .issuers = issuers,
	    .n_issuers = 1,
	    .account_url = ACCT,
	    .accept_plain = true,
	    .hash_prefix = NULL,
	    .thumbprints = thumbprints,
	    .n_thumbprints = 1,
	    .record_domain = "example.com",
	    .need_wildcard_policy = false,
	    .now = NOW,
	};
}

/* The -02 setup: hashed accounturi only. */
static struct persist_check
check02(void)
{
	struct persist_check c = check01();

	c.accept_plain = false;
	c.hash_prefix = PREFIX;
	return c;
}

static const char *
vname(enum persist_verdict v)
{
	switch (v) {
	case PERSIST_VALID:
		return "VALID";
	case PERSIST_MALFORMED:
		return "MALFORMED";
	case PERSIST_UNAUTHORIZED:
		return "UNAUTHORIZED";
	case PERSIST_IGNORED:
		return "IGNORED";
	}
	return "?";
}

/* Judge txt and expect want; why must be non-empty and, if why_has, contain it. */
static void
expect(const struct persist_check *c, const char *txt, enum persist_verdict want,
       const char *why_has)
{
	char why[2048];
	int64_t until = 42;
	enum persist_verdict v;

	why[0] = '\0';
	v = persist_evaluate(c, txt, strlen(txt), &until, why, sizeof(why));
	if (v != want)
		fail_msg("\"%s\": got %s, want %s (%s)", txt, vname(v), vname(want), why);
	if (why[0] == '\0')
		fail_msg("\"%s\": no reason given", txt);
	if (why_has != NULL && strstr(why, why_has) == NULL)
		fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", txt, why, why_has);
	if (v == PERSIST_VALID && until == 42)
		fail_msg("\"%s\": until not set", txt);
}

static void
expect01(const char *txt, enum persist_verdict want, const char *why_has)
{
	struct persist_check c = check01();

	expect(&c, txt, want, why_has);
}

/* --- §4.12 table, rows 1-20 ----------------------------------------------------------- */

static void
test_v1_record_naming_our_account_is_valid(void **state)
{
	struct persist_check c = check01();
	int64_t until = 0;

	(void)state;
	assert_int_equal(persist_evaluate(&c, R1, strlen(R1), &until, NULL, 0), PERSIST_VALID);
	assert_true(until == INT64_MAX);
}

static void
test_v2_strings_of_one_rr_joined_are_valid(void **state)
{
	/* "authority.example;" " accounturi=..." joined without a separator. */
	char joined[256];
	char *rr[1] = {joined};
	size_t len[1], which = 99;
	struct persist_check c = check01();

	(void)state;
	snprintf(joined, sizeof(joined), "%s%s", "authority.example;",
		 " accounturi=https://ca.example/acct/123");
	len[0] = strlen(joined);
	assert_int_equal(persist_evaluate_all(&c, rr, len, 1, &which, NULL, NULL, 0),
			 PERSIST_VALID);
	assert_int_equal(which, 0);
}

static void
test_v2_strings_are_never_joined_across_rrs(void **state)
{
	char *rr[2] = {"authority.example;", "accounturi=https://ca.example/acct/123"};
	size_t len[2] = {strlen(rr[0]), strlen(rr[1])}, which = 99;
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, rr, len, 2, &which, NULL, why, sizeof(why)),
			 PERSIST_MALFORMED);
	assert_int_equal(which, 0);
	assert_non_null(strstr(why, "has no accounturi"));
}

static void
test_v3_wildcard_without_policy_is_unauthorized(void **state)
{
	struct persist_check c = check01();

	(void)state;
	c.need_wildcard_policy = true;
	expect(&c, R1, PERSIST_UNAUTHORIZED,
	       "record \"" R1 "\" at _validation-persist.example.com has no policy=wildcard, "
	       "needed for *.example.com");
}

static void
test_v4_wildcard_with_policy_in_any_case_is_valid(void **state)
{
	struct persist_check c = check01();

	(void)state;
	c.need_wildcard_policy = true;
	expect(&c, R1 "; POLICY=WildCard", PERSIST_VALID, NULL);
}

static void
test_v4_other_policy_value_behaves_as_absent(void **state)
{
	struct persist_check c = check01();

	(void)state;
	expect(&c, R1 "; policy=everything", PERSIST_VALID, NULL);
	c.need_wildcard_policy = true;
	expect(&c, R1 "; policy=everything", PERSIST_UNAUTHORIZED,
	       "has policy=everything, not policy=wildcard");
}

static void
test_v5_uppercase_issuer_with_trailing_dot_is_normalized_and_valid(void **state)
{
	(void)state;
	expect01("AUTHORITY.EXAMPLE.; accounturi=https://ca.example/acct/123", PERSIST_VALID, NULL);
}

static void
test_v6_other_account_is_unauthorized_and_says_which(void **state)
{
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate(&c, R_PREFIX "https://ca.example/acct/999",
					  strlen(R_PREFIX "https://ca.example/acct/999"), NULL, why,
					  sizeof(why)),
			 PERSIST_UNAUTHORIZED);
	assert_string_equal(why, "record \"authority.example; "
				 "accounturi=https://ca.example/acct/999\" at "
				 "_validation-persist.example.com names account "
				 "https://ca.example/acct/999, not https://ca.example/acct/123");
}

static void
test_v7_accounturi_is_not_case_folded(void **state)
{
	(void)state;
	expect01(R_PREFIX "https://CA.example/acct/123", PERSIST_UNAUTHORIZED,
		 "names account https://CA.example/acct/123, not");
}

static void
test_v8_persist_until_in_the_past_is_unauthorized_with_date(void **state)
{
	(void)state;
	expect01(R1 "; persistUntil=1767225599", PERSIST_UNAUTHORIZED,
		 "persistUntil 1767225599 (2025-12-31T23:59:59Z) has passed");
}

static void
test_v9_persist_until_as_date_is_malformed(void **state)
{
	(void)state;
	expect01(R1 "; persistUntil=2026-12-31", PERSIST_MALFORMED,
		 "persistUntil \"2026-12-31\", which is not a base-10 integer");
}

static void
test_v10_record_without_accounturi_is_malformed(void **state)
{
	(void)state;
	expect01("authority.example; policy=wildcard", PERSIST_MALFORMED,
		 "has no accounturi parameter");
}

static void
test_v11_duplicate_accounturi_is_malformed_even_when_identical(void **state)
{
	(void)state;
	expect01(R1 "; accounturi=https://ca.example/acct/123", PERSIST_MALFORMED,
		 "has 2 accounturi parameters");
	expect01(R1 "; ACCOUNTURI=https://ca.example/acct/123", PERSIST_MALFORMED, NULL);
}

static void
test_v11_duplicate_policy_or_persist_until_is_malformed(void **state)
{
	(void)state;
	expect01(R1 "; policy=wildcard; policy=wildcard", PERSIST_MALFORMED,
		 "has 2 policy parameters");
	expect01(R1 "; persistUntil=1; persistuntil=1", PERSIST_MALFORMED,
		 "has 2 persistUntil parameters");
}

static void
test_v12_trailing_semicolon_after_parameter_is_malformed(void **state)
{
	(void)state;
	expect01(R1 ";", PERSIST_MALFORMED, "is empty");
	expect01(R1 "; ", PERSIST_MALFORMED, NULL);
}

static void
test_v13_space_inside_value_is_malformed(void **state)
{
	(void)state;
	expect01(R1 "; policy=wild card", PERSIST_MALFORMED, "contains byte 0x20");
}

static void
test_v14_duplicate_unknown_tags_are_ignored(void **state)
{
	/* Protocol notes §4.13 item 7: Boulder's choice, not Pebble's. */
	(void)state;
	expect01(R1 "; foo=bar; foo=baz", PERSIST_VALID, NULL);
}

static void
test_v15_unknown_tag_is_ignored(void **state)
{
	(void)state;
	expect01(R1 "; future=1", PERSIST_VALID, NULL);
}

static void
test_v16_foreign_issuer_is_ignored_even_when_malformed(void **state)
{
	(void)state;
	expect01("other-ca.example; accounturi=https://ca.example/acct/123; accounturi=x",
		 PERSIST_IGNORED, "is for issuer \"other-ca.example\", not authority.example");
	expect01("other-ca.example; accounturi=x;", PERSIST_IGNORED, NULL);
	expect01("other-ca.example; policy=wild card", PERSIST_IGNORED, NULL);
}

static void
test_v17_any_valid_record_wins_over_malformed(void **state)
{
	char *rr[2] = {R1 "; accounturi=https://ca.example/acct/123", R1};
	size_t len[2] = {strlen(rr[0]), strlen(rr[1])}, which = 99;
	struct persist_check c = check01();
	int64_t until = 0;

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, rr, len, 2, &which, &until, NULL, 0),
			 PERSIST_VALID);
	assert_int_equal(which, 1);
	assert_true(until == INT64_MAX);
}

static void
test_v18_malformed_outranks_unauthorized(void **state)
{
	char *rr[2] = {R_PREFIX "https://ca.example/acct/999",
		       "authority.example; policy=wildcard"};
	size_t len[2] = {strlen(rr[0]), strlen(rr[1])}, which = 99;
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, rr, len, 2, &which, NULL, why, sizeof(why)),
			 PERSIST_MALFORMED);
	assert_int_equal(which, 1);
	assert_non_null(strstr(why, "has no accounturi"));
}

static void
test_v18_unauthorized_reported_when_nothing_is_malformed(void **state)
{
	char *rr[2] = {"other-ca.example; x", R_PREFIX "https://ca.example/acct/999"};
	size_t len[2] = {strlen(rr[0]), strlen(rr[1])}, which = 99;
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, rr, len, 2, &which, NULL, why, sizeof(why)),
			 PERSIST_UNAUTHORIZED);
	assert_int_equal(which, 1);
	assert_non_null(strstr(why, "names account https://ca.example/acct/999"));
}

static void
test_v19_no_txt_record_is_unauthorized_no_record(void **state)
{
	struct persist_check c = check01();
	size_t which = 99;
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, NULL, NULL, 0, &which, NULL, why, sizeof(why)),
			 PERSIST_UNAUTHORIZED);
	assert_int_equal(which, 0);
	assert_non_null(strstr(why, "no record for authority.example at "
				    "_validation-persist.example.com"));
}

static void
test_v19_only_foreign_records_is_unauthorized_no_record(void **state)
{
	char *rr[2] = {"other-ca.example; accounturi=x", "ca.example.net; accounturi=y"};
	size_t len[2] = {strlen(rr[0]), strlen(rr[1])}, which = 99;
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate_all(&c, rr, len, 2, &which, NULL, why, sizeof(why)),
			 PERSIST_UNAUTHORIZED);
	assert_int_equal(which, 2);
	assert_non_null(strstr(why, "no record for authority.example"));
}

static void
test_v20_ancestor_record_needs_wildcard_policy(void **state)
{
	/* www.example.com validated from the record at example.com (§4.13 item 4). */
	struct persist_check c = check01();

	(void)state;
	c.need_wildcard_policy = true;
	expect(&c, R1 "; policy=wildcard", PERSIST_VALID, NULL);
	expect(&c, R1, PERSIST_UNAUTHORIZED, "has no policy=wildcard");
}

/* --- persistUntil --------------------------------------------------------------------- */

static void
test_persist_until_in_the_future_is_valid_and_returned(void **state)
{
	struct persist_check c = check01();
	int64_t until = 0;
	const char *r = R1 "; persistUntil=1767225600";

	(void)state;
	/* now == persistUntil is still allowed: only now > persistUntil is expired. */
	assert_int_equal(persist_evaluate(&c, r, strlen(r), &until, NULL, 0), PERSIST_VALID);
	assert_true(until == NOW);
	r = R1 "; persistUntil=1798761600";
	assert_int_equal(persist_evaluate(&c, r, strlen(r), &until, NULL, 0), PERSIST_VALID);
	assert_true(until == INT64_C(1798761600));
}

static void
test_persist_until_negative_is_in_the_past(void **state)
{
	(void)state;
	expect01(R1 "; persistUntil=-5", PERSIST_UNAUTHORIZED, "persistUntil -5 (");
	expect01(R1 "; persistUntil=-9223372036854775808", PERSIST_UNAUTHORIZED, "has passed");
}

static void
test_persist_until_with_plus_sign_is_an_integer(void **state)
{
	struct persist_check c = check01();
	int64_t until = 0;
	const char *r = R1 "; persistUntil=+1798761600";

	(void)state;
	expect01(R1 "; persistUntil=+5", PERSIST_UNAUTHORIZED, "persistUntil 5 (");
	assert_int_equal(persist_evaluate(&c, r, strlen(r), &until, NULL, 0), PERSIST_VALID);
	assert_true(until == INT64_C(1798761600));
}

static void
test_persist_until_not_an_integer_is_malformed(void **state)
{
	(void)state;
	expect01(R1 "; persistUntil=", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=+", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=1e9", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=0x10", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=9223372036854775808", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=-9223372036854775809", PERSIST_MALFORMED, NULL);
	expect01(R1 "; persistUntil=9223372036854775807", PERSIST_VALID, NULL);
}

/* --- -02 hashed accounturi ------------------------------------------------------------ */

static void
test_hash_vector_domain_form(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(persist_hashed_uri("", "example.com", TP, ACCT, out, sizeof(out)),
			 DEED_OK);
	assert_string_equal(out, "sha-256/" H_DOMAIN);
}

static void
test_hash_vector_domain_free_form(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(persist_hashed_uri("", "*", TP, ACCT, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "sha-256/" H_ANY);
}

static void
test_hashed_uri_is_prefix_alg_and_digest(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(persist_hashed_uri(PREFIX, "example.com", TP, ACCT, out, sizeof(out)),
			 DEED_OK);
	assert_string_equal(out, PREFIX "sha-256/" H_DOMAIN);
}

static void
test_hashed_uri_refuses_small_buffer_and_long_domain(void **state)
{
	char out[sizeof(PREFIX "sha-256/" H_DOMAIN)], dom[300];

	(void)state;
	assert_int_equal(persist_hashed_uri(PREFIX, "example.com", TP, ACCT, out, sizeof(out)),
			 DEED_OK);
	assert_int_equal(persist_hashed_uri(PREFIX, "example.com", TP, ACCT, out, sizeof(out) - 1),
			 DEED_EINVAL);
	memset(dom, 'a', 256);
	dom[256] = '\0';
	assert_int_equal(persist_hashed_uri("", dom, TP, ACCT, out, sizeof(out)), DEED_EINVAL);
	dom[255] = '\0';
	assert_int_equal(persist_hashed_uri("", dom, TP, ACCT, out, sizeof(out)), DEED_OK);
}

static void
test_02_hashed_record_is_valid_for_its_domain(void **state)
{
	struct persist_check c = check02();

	(void)state;
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_VALID, NULL);
}

static void
test_02_hashed_record_at_other_domain_is_unauthorized(void **state)
{
	struct persist_check c = check02();

	(void)state;
	c.record_domain = "example.net";
	/* The reason tells the owner what the current key expects there. */
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_UNAUTHORIZED,
	       "matches no key of account https://ca.example/acct/123");
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_UNAUTHORIZED,
	       "or " PREFIX "sha-256/" H_ANY " at any domain");
}

static void
test_02_domain_free_form_is_valid_anywhere(void **state)
{
	struct persist_check c = check02();

	(void)state;
	expect(&c, R_PREFIX PREFIX "sha-256/" H_ANY, PERSIST_VALID, NULL);
	c.record_domain = "example.net";
	expect(&c, R_PREFIX PREFIX "sha-256/" H_ANY, PERSIST_VALID, NULL);
}

static void
test_02_other_hash_algorithm_is_malformed(void **state)
{
	struct persist_check c = check02();

	(void)state;
	expect(&c,
	       R_PREFIX PREFIX "sha-512/"
			       "2Hk3Mg1kVt0zM8rM7FUDLC8hBv6BmtZKXm9HOkZp4bJ1Zl_3cxIXWnfmJTB8rK"
			       "6W2Ck-JoLIJ7L1xpkkUYdK3g",
	       PERSIST_MALFORMED, "\"sha-512\"; this CA accepts only sha-256");
}

static void
test_02_cleartext_url_is_malformed_when_plain_refused(void **state)
{
	struct persist_check c = check02();

	(void)state;
	expect(&c, R1, PERSIST_MALFORMED,
	       "has accounturi https://ca.example/acct/123, which is not under our "
	       "accountHashPrefix " PREFIX);
}

static void
test_02_bad_digest_is_malformed(void **state)
{
	struct persist_check c = check02();

	(void)state;
	expect(&c, R_PREFIX PREFIX "sha-256/abc", PERSIST_MALFORMED, "not 43 base64url");
	/* '+' is not base64url; 'l' as last char leaves stray bits. */
	expect(&c, R_PREFIX PREFIX "sha-256/5SQm7n6tPh2+PlLbCKGnViTXX5z19SCN4cPGQHSk-kw",
	       PERSIST_MALFORMED, NULL);
	expect(&c, R_PREFIX PREFIX "sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kl",
	       PERSIST_MALFORMED, NULL);
	expect(&c, R_PREFIX PREFIX "sha-256", PERSIST_MALFORMED, "without \"<hash-alg>/<digest>\"");
}

static void
test_02_older_thumbprint_still_validates_after_key_rollover(void **state)
{
	static const char *const both[] = {TP_NEWER, TP};
	struct persist_check c = check02();

	(void)state;
	c.thumbprints = both;
	c.n_thumbprints = 2;
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_VALID, NULL);
	expect(&c, R_PREFIX PREFIX "sha-256/" H_ANY, PERSIST_VALID, NULL);
	/* Once the old key is forgotten, its records stop working. */
	c.n_thumbprints = 1;
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_UNAUTHORIZED, NULL);
}

static void
test_02_hashed_form_of_other_account_is_unauthorized(void **state)
{
	struct persist_check c = check02();

	(void)state;
	c.account_url = "https://ca.example/acct/124";
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_UNAUTHORIZED, NULL);
}

static void
test_dual_mode_accepts_both_forms(void **state)
{
	/* §4.13 item 2: deed's default serves -01 and -02 clients at once. */
	struct persist_check c = check02();

	(void)state;
	c.accept_plain = true;
	expect(&c, R1, PERSIST_VALID, NULL);
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_VALID, NULL);
	expect(&c, R_PREFIX "https://ca.example/acct/999", PERSIST_UNAUTHORIZED,
	       "names account https://ca.example/acct/999");
}

static void
test_02_hashed_record_still_needs_policy_and_time(void **state)
{
	struct persist_check c = check02();

	(void)state;
	c.need_wildcard_policy = true;
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN, PERSIST_UNAUTHORIZED, "policy=wildcard");
	expect(&c, R_PREFIX PREFIX "sha-256/" H_DOMAIN "; policy=wildcard; persistUntil=1",
	       PERSIST_UNAUTHORIZED, "has passed");
}

/* --- record syntax and caps ----------------------------------------------------------- */

static void
test_issuer_only_record_is_malformed_for_lack_of_accounturi(void **state)
{
	(void)state;
	expect01("authority.example", PERSIST_MALFORMED, "has no accounturi");
	expect01("authority.example;", PERSIST_MALFORMED, "has no accounturi");
}

static void
test_empty_accounturi_is_malformed(void **state)
{
	(void)state;
	expect01("authority.example; accounturi=", PERSIST_MALFORMED, "empty accounturi");
}

static void
test_oversized_value_is_malformed(void **state)
{
	char r[2048];

	(void)state;
	snprintf(r, sizeof(r), "%s", R_PREFIX);
	memset(r + strlen(r), 'a', IV_VALUE_MAX);
	r[strlen(R_PREFIX) + IV_VALUE_MAX] = '\0';
	expect01(r, PERSIST_MALFORMED, "longer than 1023 octets");
}

static void
test_too_many_params_is_malformed(void **state)
{
	char r[2048];
	size_t o;

	(void)state;
	o = (size_t)snprintf(r, sizeof(r), "%s", R1);
	for (int i = 0; i < IV_MAX_PARAMS; i++)
		o += (size_t)snprintf(r + o, sizeof(r) - o, "; x%d=1", i);
	expect01(r, PERSIST_MALFORMED, "more than 32 parameters");
}

static void
test_why_quotes_control_bytes_safely(void **state)
{
	const char r[] = "authority.example; accounturi=https://ca.example/acct/1\"\n23";
	struct persist_check c = check01();
	char why[1024];

	(void)state;
	assert_int_equal(persist_evaluate(&c, r, sizeof(r) - 1, NULL, why, sizeof(why)),
			 PERSIST_MALFORMED);
	assert_null(strchr(why, '\n'));
	assert_non_null(strstr(why, "acct/1\\\"\\x0a23"));
}

static void
test_nul_in_issuer_is_not_our_issuer(void **state)
{
	const char r[] = "authority.example\0x; accounturi=https://ca.example/acct/123";
	struct persist_check c = check01();

	(void)state;
	assert_int_equal(persist_evaluate(&c, r, sizeof(r) - 1, NULL, NULL, 0), PERSIST_IGNORED);
}

static void
test_parse_trims_and_keeps_tags_as_written(void **state)
{
	static const char s[] = " \tAuthority.Example \t;\t AccountURI \t= \thttps://x/?a=b \t";
	struct issuevalue iv;
	char err[256];

	(void)state;
	assert_int_equal(issuevalue_parse(s, strlen(s), &iv, err, sizeof(err)), DEED_OK);
	assert_string_equal(iv.issuer, "authority.example");
	assert_string_equal(iv.issuer_raw, "Authority.Example");
	assert_int_equal(iv.n_params, 1);
	assert_string_equal(iv.params[0].tag, "AccountURI");
	assert_string_equal(iv.params[0].value, "https://x/?a=b");
	assert_string_equal(issuevalue_get(&iv, "accounturi"), "https://x/?a=b");
	assert_null(issuevalue_get(&iv, "policy"));
	assert_int_equal(issuevalue_count(&iv, "ACCOUNTURI"), 1);
}

static void
test_parse_follows_rfc8659_grammar_for_empty_parts(void **state)
{
	struct issuevalue iv;
	char err[256];

	(void)state;
	/* RFC 8659 §4.2: no issuer, and ";" with no parameters, are both grammatical. */
	assert_int_equal(issuevalue_parse(";", 1, &iv, err, sizeof(err)), DEED_OK);
	assert_string_equal(iv.issuer, "");
	assert_int_equal(issuevalue_parse("", 0, &iv, err, sizeof(err)), DEED_OK);
	assert_int_equal(issuevalue_parse("ca.example ; ", 13, &iv, err, sizeof(err)), DEED_OK);
	assert_string_equal(iv.issuer, "ca.example");
	assert_int_equal(iv.n_params, 0);
	assert_int_equal(issuevalue_parse("ca.example; a=1;; b=2", 21, &iv, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_non_null(strstr(err, "parameter 2 is empty"));
	assert_int_equal(issuevalue_parse("ca.example; a", 13, &iv, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_non_null(strstr(err, "has no \"=\""));
	assert_int_equal(issuevalue_parse("ca.example; =1", 14, &iv, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_non_null(strstr(err, "empty tag"));
	/* The issuer survives a refusal, so the record can still be attributed. */
	assert_string_equal(iv.issuer, "ca.example");
}

static void
test_parse_checks_tag_grammar(void **state)
{
	static const char *const good[] = {"a=1", "a-b=1", "a--b=1", "0=1", "A1=1"};
	static const char *const bad[] = {"-a=1", "a-=1", "a_b=1", "a b=1", "a.b=1"};
	struct issuevalue iv;
	char s[64], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(s, sizeof(s), "ca.example; %s", good[i]);
		if (issuevalue_parse(s, strlen(s), &iv, err, sizeof(err)) != DEED_OK)
			fail_msg("\"%s\" refused: %s", s, err);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(s, sizeof(s), "ca.example; %s", bad[i]);
		if (issuevalue_parse(s, strlen(s), &iv, err, sizeof(err)) != DEED_EMALFORMED)
			fail_msg("\"%s\" accepted", s);
	}
}

static void
test_parse_refuses_over_long_tag_and_issuer(void **state)
{
	struct issuevalue iv;
	char s[600], err[256];

	(void)state;
	memcpy(s, "ca.example; ", 12);
	memset(s + 12, 't', IV_TAG_MAX);
	memcpy(s + 12 + IV_TAG_MAX, "=1", 3);
	assert_int_equal(issuevalue_parse(s, strlen(s), &iv, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "longer than 63"));
	s[12 + IV_TAG_MAX - 1] = '=', s[12 + IV_TAG_MAX] = '1', s[12 + IV_TAG_MAX + 1] = '\0';
	assert_int_equal(issuevalue_parse(s, strlen(s), &iv, err, sizeof(err)), DEED_OK);
	memset(s, 'a', 256);
	assert_int_equal(issuevalue_parse(s, 256, &iv, err, sizeof(err)), DEED_EMALFORMED);
	assert_string_equal(iv.issuer, "");
	assert_int_equal(issuevalue_parse(s, 255, &iv, err, sizeof(err)), DEED_OK);
	assert_string_equal(iv.issuer, ""); /* 255 octets do not normalize, not an error */
	assert_int_equal(iv.issuer_raw[254], 'a');
}

static void
test_parse_accepts_exactly_max_params(void **state)
{
	struct issuevalue iv;
	char s[1024], err[256];
	size_t o = (size_t)snprintf(s, sizeof(s), "ca.example");

	(void)state;
	for (int i = 0; i < IV_MAX_PARAMS; i++)
		o += (size_t)snprintf(s + o, sizeof(s) - o, "; t%d=%d", i, i);
	assert_int_equal(issuevalue_parse(s, o, &iv, err, sizeof(err)), DEED_OK);
	assert_int_equal(iv.n_params, IV_MAX_PARAMS);
}

/* --- what the client writes ----------------------------------------------------------- */

static void
test_record_value_format(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(
	    persist_record_value("authority.example", ACCT, false, 0, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "authority.example; accounturi=" ACCT);
	assert_int_equal(
	    persist_record_value("authority.example", ACCT, true, 1798761600, out, sizeof(out)),
	    DEED_OK);
	assert_string_equal(out, "authority.example; accounturi=" ACCT
				 "; policy=wildcard; persistUntil=1798761600");
	assert_int_equal(
	    persist_record_value("authority.example", ACCT, false, -5, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "authority.example; accounturi=" ACCT "; persistUntil=-5");
}

static void
test_record_value_round_trips_through_evaluate(void **state)
{
	struct persist_check c = check01();
	char out[256];

	(void)state;
	c.need_wildcard_policy = true;
	assert_int_equal(
	    persist_record_value("authority.example", ACCT, true, 1798761600, out, sizeof(out)),
	    DEED_OK);
	expect(&c, out, PERSIST_VALID, NULL);
}

static void
test_record_value_refuses_what_would_be_malformed_or_too_long(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(
	    persist_record_value("Authority.example", ACCT, false, 0, out, sizeof(out)),
	    DEED_EINVAL);
	assert_int_equal(
	    persist_record_value("authority.example", "https://x/a b", false, 0, out, sizeof(out)),
	    DEED_EINVAL);
	assert_int_equal(persist_record_value("authority.example", "", false, 0, out, sizeof(out)),
			 DEED_EINVAL);
	assert_int_equal(persist_record_value("authority.example", ACCT, false, 0, out, strlen(R1)),
			 DEED_EINVAL);
	assert_int_equal(
	    persist_record_value("authority.example", ACCT, false, 5, out, strlen(R1) + 3),
	    DEED_EINVAL);
}

static void
test_zone_line_single_string(void **state)
{
	char out[512];

	(void)state;
	assert_int_equal(persist_zone_line("example.com", 300, R1, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "_validation-persist.example.com. 300 IN TXT \"" R1 "\"");
	assert_int_equal(persist_zone_line("*.example.com.", 0, R1, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "_validation-persist.example.com. 0 IN TXT \"" R1 "\"");
}

static void
test_zone_line_splits_600_octets_into_255_255_90(void **state)
{
	char value[601], out[1024], want[1024];

	(void)state;
	for (int i = 0; i < 600; i++)
		value[i] = (char)('a' + i / 255);
	value[600] = '\0';
	snprintf(want, sizeof(want),
		 "_validation-persist.example.com. 60 IN TXT \"%.255s\" "
		 "\"%.255s\" \"%.90s\"",
		 value, value + 255, value + 510);
	assert_int_equal(persist_zone_line("example.com", 60, value, out, sizeof(out)), DEED_OK);
	assert_string_equal(out, want);
	assert_int_equal(persist_zone_line("example.com", 60, value, out, strlen(want)),
			 DEED_EINVAL);
	assert_int_equal(persist_zone_line("example.com", 60, value, out, strlen(want) + 1),
			 DEED_OK);
}

static void
test_zone_line_escapes_quotes_backslashes_and_controls(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(persist_zone_line("example.com", 1, "a\"b\\c\td", out, sizeof(out)),
			 DEED_OK);
	assert_string_equal(out, "_validation-persist.example.com. 1 IN TXT \"a\\\"b\\\\c\\009d\"");
	assert_int_equal(persist_zone_line("example.com", 1, "", out, sizeof(out)), DEED_OK);
	assert_string_equal(out, "_validation-persist.example.com. 1 IN TXT \"\"");
}

static void
test_zone_line_splits_on_octets_before_escaping(void **state)
{
	/* 256 quotes: a first string of 255 octets (510 characters once escaped), then one. */
	char value[257], out[1024];

	(void)state;
	memset(value, '"', 256);
	value[256] = '\0';
	assert_int_equal(persist_zone_line("example.com", 1, value, out, sizeof(out)), DEED_OK);
	assert_non_null(strstr(out, "\\\"\" \"\\\"\""));
	assert_int_equal(strlen(out), strlen("_validation-persist.example.com. 1 IN TXT ") + 2 +
					  510 + 1 + 2 + 2);
}

static void
test_zone_line_refuses_bad_arguments(void **state)
{
	char out[256];

	(void)state;
	assert_int_equal(persist_zone_line("example.com", -1, "v", out, sizeof(out)), DEED_EINVAL);
	assert_int_equal(persist_zone_line("", 1, "v", out, sizeof(out)), DEED_EINVAL);
	assert_int_equal(persist_zone_line("example.com", 1, "v", out, 10), DEED_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_record_naming_our_account_is_valid),
	    cmocka_unit_test(test_v2_strings_of_one_rr_joined_are_valid),
	    cmocka_unit_test(test_v2_strings_are_never_joined_across_rrs),
	    cmocka_unit_test(test_v3_wildcard_without_policy_is_unauthorized),
	    cmocka_unit_test(test_v4_wildcard_with_policy_in_any_case_is_valid),
	    cmocka_unit_test(test_v4_other_policy_value_behaves_as_absent),
	    cmocka_unit_test(test_v5_uppercase_issuer_with_trailing_dot_is_normalized_and_valid),
	    cmocka_unit_test(test_v6_other_account_is_unauthorized_and_says_which),
	    cmocka_unit_test(test_v7_accounturi_is_not_case_folded),
	    cmocka_unit_test(test_v8_persist_until_in_the_past_is_unauthorized_with_date),
	    cmocka_unit_test(test_v9_persist_until_as_date_is_malformed),
	    cmocka_unit_test(test_v10_record_without_accounturi_is_malformed),
	    cmocka_unit_test(test_v11_duplicate_accounturi_is_malformed_even_when_identical),
	    cmocka_unit_test(test_v11_duplicate_policy_or_persist_until_is_malformed),
	    cmocka_unit_test(test_v12_trailing_semicolon_after_parameter_is_malformed),
	    cmocka_unit_test(test_v13_space_inside_value_is_malformed),
	    cmocka_unit_test(test_v14_duplicate_unknown_tags_are_ignored),
	    cmocka_unit_test(test_v15_unknown_tag_is_ignored),
	    cmocka_unit_test(test_v16_foreign_issuer_is_ignored_even_when_malformed),
	    cmocka_unit_test(test_v17_any_valid_record_wins_over_malformed),
	    cmocka_unit_test(test_v18_malformed_outranks_unauthorized),
	    cmocka_unit_test(test_v18_unauthorized_reported_when_nothing_is_malformed),
	    cmocka_unit_test(test_v19_no_txt_record_is_unauthorized_no_record),
	    cmocka_unit_test(test_v19_only_foreign_records_is_unauthorized_no_record),
	    cmocka_unit_test(test_v20_ancestor_record_needs_wildcard_policy),
	    cmocka_unit_test(test_persist_until_in_the_future_is_valid_and_returned),
	    cmocka_unit_test(test_persist_until_negative_is_in_the_past),
	    cmocka_unit_test(test_persist_until_with_plus_sign_is_an_integer),
	    cmocka_unit_test(test_persist_until_not_an_integer_is_malformed),
	    cmocka_unit_test(test_hash_vector_domain_form),
	    cmocka_unit_test(test_hash_vector_domain_free_form),
	    cmocka_unit_test(test_hashed_uri_is_prefix_alg_and_digest),
	    cmocka_unit_test(test_hashed_uri_refuses_small_buffer_and_long_domain),
	    cmocka_unit_test(test_02_hashed_record_is_valid_for_its_domain),
	    cmocka_unit_test(test_02_hashed_record_at_other_domain_is_unauthorized),
	    cmocka_unit_test(test_02_domain_free_form_is_valid_anywhere),
	    cmocka_unit_test(test_02_other_hash_algorithm_is_malformed),
	    cmocka_unit_test(test_02_cleartext_url_is_malformed_when_plain_refused),
	    cmocka_unit_test(test_02_bad_digest_is_malformed),
	    cmocka_unit_test(test_02_older_thumbprint_still_validates_after_key_rollover),
	    cmocka_unit_test(test_02_hashed_form_of_other_account_is_unauthorized),
	    cmocka_unit_test(test_dual_mode_accepts_both_forms),
	    cmocka_unit_test(test_02_hashed_record_still_needs_policy_and_time),
	    cmocka_unit_test(test_issuer_only_record_is_malformed_for_lack_of_accounturi),
	    cmocka_unit_test(test_empty_accounturi_is_malformed),
	    cmocka_unit_test(test_oversized_value_is_malformed),
	    cmocka_unit_test(test_too_many_params_is_malformed),
	    cmocka_unit_test(test_why_quotes_control_bytes_safely),
	    cmocka_unit_test(test_nul_in_issuer_is_not_our_issuer),
	    cmocka_unit_test(test_parse_trims_and_keeps_tags_as_written),
	    cmocka_unit_test(test_parse_follows_rfc8659_grammar_for_empty_parts),
	    cmocka_unit_test(test_parse_checks_tag_grammar),
	    cmocka_unit_test(test_parse_refuses_over_long_tag_and_issuer),
	    cmocka_unit_test(test_parse_accepts_exactly_max_params),
	    cmocka_unit_test(test_record_value_format),
	    cmocka_unit_test(test_record_value_round_trips_through_evaluate),
	    cmocka_unit_test(test_record_value_refuses_what_would_be_malformed_or_too_long),
	    cmocka_unit_test(test_zone_line_single_string),
	    cmocka_unit_test(test_zone_line_splits_600_octets_into_255_255_90),
	    cmocka_unit_test(test_zone_line_escapes_quotes_backslashes_and_controls),
	    cmocka_unit_test(test_zone_line_splits_on_octets_before_escaping),
	    cmocka_unit_test(test_zone_line_refuses_bad_arguments),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
