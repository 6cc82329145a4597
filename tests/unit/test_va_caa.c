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

#include "error.h"
#include "labdns.h"
#include "va.h"
#include "va_caa.h"
#include "va_dns.h"
#include "vatest.h"

/*
 * CAA (RFC 8659, RFC 8657): the RDATA parser and the evaluation of a record set on their own,
 * then the climb against a real authoritative server, the lab's Knot (zone example.test),
 * updated with TSIG-signed RFC 2136 updates. Each test uses names of its own. The climb ends
 * at "test.", which the resolver answers itself (va_dns.c: never delegated, no records); a
 * name under other.test is refused by Knot, which libunbound reports as SERVFAIL.
 */

#define ACCT "https://ca.test/acct/1"
#define ACCT2 "https://ca.test/acct/2"

static const char *const issuers[] = {"other-name.test", "ca.test"};

static struct labdns lab;
static struct va *va;
static struct va_dns *dns;

static void
publish(const char *lines)
{
	assert_int_equal(labdns_update(&lab, "%s", lines), 0);
}

static struct va_caa_request
request(const char *name, bool wildcard, const char *method, const char *acct)
{
	return (struct va_caa_request){.identifier = name,
				       .wildcard = wildcard,
				       .method = method,
				       .account_url = acct,
				       .issuers = issuers,
				       .n_issuers = 2};
}

static void
check(const char *name, bool wildcard, const char *method, const char *acct, struct va_result *res)
{
	struct va_caa_request req = request(name, wildcard, method, acct);

	memset(res, 0, sizeof(*res));
	va_caa_check(dns, &req, 5000, res);
}

/* The CAA validationRecord: the last one of res. */
static json_t *
caa_record(const struct va_result *res)
{
	json_t *rec;

	assert_non_null(res->records);
	assert_true(json_array_size(res->records) >= 1);
	rec =
	    json_object_get(json_array_get(res->records, json_array_size(res->records) - 1), "caa");
	assert_non_null(rec);
	return rec;
}

/* Member key of the CAA record rec, which must be a string. */
static const char *
caa_str(json_t *rec, const char *key)
{
	const char *v = json_string_value(json_object_get(rec, key));

	assert_non_null(v);
	return v;
}

/* --- RDATA and record-set evaluation, no DNS ------------------------------------------ */

/* An RDATA from flags, tag and value, into buf; *len gets its length. */
static char *
rdata(char *buf, size_t *len, uint8_t flags, const char *tag, const char *value)
{
	size_t t = strlen(tag), v = strlen(value);

	buf[0] = (char)flags;
	buf[1] = (char)t;
	memcpy(buf + 2, tag, t);
	memcpy(buf + 2 + t, value, v);
	*len = 2 + t + v;
	return buf;
}

/* Evaluate up to 4 records given as (flags, tag, value) triples. */
static enum va_caa_verdict
eval(const struct va_caa_request *req, char *why, size_t whylen, size_t n, ...)
{
	char bufs[4][512], *rr[4];
	size_t len[4];
	va_list ap;

	assert_true(n <= 4);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++) {
		int flags = va_arg(ap, int);
		const char *tag = va_arg(ap, const char *);
		const char *value = va_arg(ap, const char *);

		rr[i] = rdata(bufs[i], &len[i], (uint8_t)flags, tag, value);
	}
	va_end(ap);
	return va_caa_evaluate(req, "example.test", rr, len, n, why, whylen);
}

static void
parse_reads_flags_tag_value(void **state)
{
	const uint8_t ok[] = {128, 5, 'i', 's', 's', 'u', 'e', 'c', 'a'};
	const uint8_t novalue[] = {0, 5, 'i', 's', 's', 'u', 'e'};
	struct va_caa_rr rr;

	assert_int_equal(va_caa_parse(ok, sizeof(ok), &rr), DEED_OK);
	assert_int_equal(rr.flags, 128);
	assert_int_equal(rr.taglen, 5);
	assert_memory_equal(rr.tag, "issue", 5);
	assert_int_equal(rr.vlen, 2);
	assert_memory_equal(rr.value, "ca", 2);
	assert_int_equal(va_caa_parse(novalue, sizeof(novalue), &rr), DEED_OK);
	assert_int_equal(rr.vlen, 0);
}

static void
parse_refuses_bad_tags_and_short_rdata(void **state)
{
	const uint8_t empty_tag[] = {0, 0, 'x'};
	const uint8_t long_tag[] = {0,	 16,  'a', 'b', 'c', 'd', 'e', 'f', 'g',
				    'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', 'p'};
	const uint8_t max_tag[] = {0,	15,  'a', 'b', 'c', 'd', 'e', 'f', 'g',
				   'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o'};
	const uint8_t dash_tag[] = {0, 3, 'a', '-', 'b'};
	const uint8_t short_tag[] = {0, 5, 'i', 's', 's'};
	const uint8_t one[] = {0};
	struct va_caa_rr rr;

	assert_int_equal(va_caa_parse(empty_tag, sizeof(empty_tag), &rr), DEED_EMALFORMED);
	assert_int_equal(va_caa_parse(long_tag, sizeof(long_tag), &rr), DEED_EMALFORMED);
	assert_int_equal(va_caa_parse(max_tag, sizeof(max_tag), &rr), DEED_OK);
	assert_int_equal(va_caa_parse(dash_tag, sizeof(dash_tag), &rr), DEED_EMALFORMED);
	assert_int_equal(va_caa_parse(short_tag, sizeof(short_tag), &rr), DEED_EMALFORMED);
	assert_int_equal(va_caa_parse(one, sizeof(one), &rr), DEED_EMALFORMED);
	assert_int_equal(va_caa_parse(NULL, 0, &rr), DEED_EMALFORMED);
}

static void
rr_text_quotes_and_shows_unparseable_as_hex(void **state)
{
	char buf[512], out[512];
	size_t len;
	const uint8_t bad[] = {0x80, 0, 0xff};

	rdata(buf, &len, 0, "issue", "ca.test; a=\"b\"");
	va_caa_rr_text((const uint8_t *)buf, len, out, sizeof(out));
	assert_string_equal(out, "0 issue \"ca.test; a=\\\"b\\\"\"");
	va_caa_rr_text(bad, sizeof(bad), out, sizeof(out));
	assert_string_equal(out, "\\# 3 8000ff");
}

static void
eval_empty_set_and_no_issue_property_allow(void **state)
{
	struct va_caa_request req = request("example.test", false, "http-01", ACCT);
	char why[512];

	assert_int_equal(va_caa_evaluate(&req, "example.test", NULL, NULL, 0, why, sizeof(why)),
			 VA_CAA_ALLOWED);
	assert_int_equal(eval(&req, why, sizeof(why), 2, 0, "iodef", "mailto:a@example.test", 0,
			      "issuemail", "other.ca"),
			 VA_CAA_ALLOWED);
	/* issuewild does not speak for a name that is not a wildcard */
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issuewild", ";"), VA_CAA_ALLOWED);
}

static void
eval_issuer_match_is_case_insensitive_with_trailing_dot(void **state)
{
	struct va_caa_request req = request("example.test", false, "dns-01", ACCT);
	char why[512];

	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "ISSUE", "CA.Test."), VA_CAA_ALLOWED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", " ca.test ; "),
			 VA_CAA_ALLOWED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test.example"),
			 VA_CAA_REFUSED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "a.ca.test"), VA_CAA_REFUSED);
}

static void
eval_issue_semicolon_allows_nobody(void **state)
{
	struct va_caa_request req = request("example.test", false, "dns-01", ACCT);
	char why[512];

	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", ";"), VA_CAA_REFUSED);
	assert_string_equal(why, "CAA record for example.test prevents issuance: 0 issue \";\" "
				 "(names no issuer, so allows nobody)");
	/* and it does not stop another record from allowing us */
	assert_int_equal(eval(&req, why, sizeof(why), 2, 0, "issue", ";", 0, "issue", "ca.test"),
			 VA_CAA_ALLOWED);
}

static void
eval_unusable_parameters_refuse(void **state)
{
	struct va_caa_request req = request("example.test", false, "dns-01", ACCT);
	char why[512];

	/* RFC 8657: one accounturi at most; any duplicate parameter makes the record unusable */
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue",
			      "ca.test; accounturi=" ACCT "; accounturi=" ACCT),
			 VA_CAA_REFUSED);
	assert_contains(why, "parameter accounturi appears more than once");
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test; x=1; X=2"),
			 VA_CAA_REFUSED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test; novalue"),
			 VA_CAA_REFUSED);
	assert_contains(why, "malformed");
	/* validationmethods: labels, comma-separated, nothing else */
	assert_int_equal(
	    eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test; validationmethods=dns-01,"),
	    VA_CAA_REFUSED);
	assert_contains(why, "validationmethods is malformed");
	assert_int_equal(
	    eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test; validationmethods=-dns-01"),
	    VA_CAA_REFUSED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue",
			      "ca.test; validationmethods=http_01,dns-01"),
			 VA_CAA_REFUSED);
	/* unknown labels and unknown parameters are fine */
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue",
			      "ca.test; validationmethods=future-02,dns-01; future=x"),
			 VA_CAA_ALLOWED);
	/* a NUL would end the issuer early for C string code: such a value is unusable */
	{
		char buf[64], *rr[1] = {buf};
		size_t len;

		rdata(buf, &len, 0, "issue", "ca.testXother.ca");
		buf[2 + 5 + 7] = '\0';
		assert_int_equal(
		    va_caa_evaluate(&req, "example.test", rr, &len, 1, why, sizeof(why)),
		    VA_CAA_REFUSED);
		assert_contains(why, "\\000");
	}
}

static void
eval_critical_flags(void **state)
{
	struct va_caa_request req = request("example.test", false, "dns-01", ACCT);
	char why[512], buf[8], *rr[2];
	size_t len[2];

	assert_int_equal(eval(&req, why, sizeof(why), 2, 128, "tbs", "x", 0, "issue", "ca.test"),
			 VA_CAA_CRITICAL);
	assert_contains(why, "128 tbs \"x\"");
	/* RFC 6844's bit numbering: a flags octet of 1 is read as critical too */
	assert_int_equal(eval(&req, why, sizeof(why), 2, 1, "tbs", "x", 0, "issue", "ca.test"),
			 VA_CAA_CRITICAL);
	assert_int_equal(eval(&req, why, sizeof(why), 2, 0, "tbs", "x", 0, "issue", "ca.test"),
			 VA_CAA_ALLOWED);
	/* known tags may be critical */
	assert_int_equal(eval(&req, why, sizeof(why), 3, 128, "iodef", "mailto:x@y.test", 128,
			      "issuemail", ";", 128, "issue", "ca.test"),
			 VA_CAA_ALLOWED);
	/* an RDATA we cannot parse: skipped, unless it is flagged critical */
	memcpy(buf, "\x00\x00zz", 4);
	rr[0] = buf;
	len[0] = 4;
	rr[1] = buf + 4; /* an empty RDATA: not even a flags octet */
	len[1] = 0;
	assert_int_equal(va_caa_evaluate(&req, "example.test", rr, len, 2, why, sizeof(why)),
			 VA_CAA_ALLOWED);
	buf[0] = (char)0x80;
	assert_int_equal(va_caa_evaluate(&req, "example.test", rr, len, 2, why, sizeof(why)),
			 VA_CAA_CRITICAL);
	assert_contains(why, "\\# 4 8000");
}

static void
eval_wildcard_prefers_issuewild(void **state)
{
	struct va_caa_request req = request("example.test", true, "dns-01", ACCT);
	char why[512];

	/* any issuewild replaces all issue records */
	assert_int_equal(
	    eval(&req, why, sizeof(why), 2, 0, "issue", "ca.test", 0, "issuewild", "other.ca"),
	    VA_CAA_REFUSED);
	assert_contains(why, "0 issuewild \"other.ca\"");
	assert_null(strstr(why, "0 issue \"ca.test\""));
	assert_int_equal(
	    eval(&req, why, sizeof(why), 2, 0, "issue", "other.ca", 0, "IssueWild", "ca.test"),
	    VA_CAA_ALLOWED);
	/* none: issue speaks for wildcards too */
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "other.ca"), VA_CAA_REFUSED);
	assert_int_equal(eval(&req, why, sizeof(why), 1, 0, "issue", "ca.test"), VA_CAA_ALLOWED);
}

static void
eval_detail_names_every_record(void **state)
{
	struct va_caa_request req = request("example.test", false, "http-01", ACCT2);
	char why[512];

	assert_int_equal(eval(&req, why, sizeof(why), 2, 0, "issue", "other.ca", 0, "issue",
			      "ca.test; accounturi=" ACCT),
			 VA_CAA_REFUSED);
	assert_string_equal(why, "CAA record for example.test prevents issuance: 0 issue "
				 "\"other.ca\", 0 issue \"ca.test; accounturi=" ACCT "\" (0 issue "
				 "\"ca.test; accounturi=" ACCT
				 "\": accounturi is not this account's URL)");
}

/* --- against Knot --------------------------------------------------------------------- */

static int
group_setup(void **state)
{
	return vatest_lab_start(&lab, &va, &dns);
}

static int
group_teardown(void **state)
{
	vatest_lab_stop(&lab, va, dns);
	return 0;
}

static void
dns_no_caa_anywhere_allows(void **state)
{
	struct va_result res;
	json_t *rec;

	check("www.nocaa.example.test", false, "http-01", ACCT, &res);
	assert_true(res.ok);
	rec = caa_record(&res);
	assert_true(json_is_null(json_object_get(rec, "name")));
	assert_int_equal(json_array_size(json_object_get(rec, "records")), 0);
	assert_string_equal(caa_str(rec, "dnssec"), "insecure");
	assert_string_equal(caa_str(rec, "result"), "allowed");
	va_result_cleanup(&res);
}

static void
dns_other_ca_blocks(void **state)
{
	struct va_result res;
	json_t *rec;

	publish("update add blk.example.test. 5 CAA 0 issue \"other.ca\"");
	check("blk.example.test", false, "http-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_string_equal(
	    res.detail, "CAA record for blk.example.test prevents issuance: 0 issue \"other.ca\"");
	rec = caa_record(&res);
	assert_string_equal(caa_str(rec, "name"), "blk.example.test");
	assert_int_equal(json_array_size(json_object_get(rec, "records")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "records"), 0)),
			    "0 issue \"other.ca\"");
	assert_string_equal(caa_str(rec, "result"), "refused");
	va_result_cleanup(&res);
}

static void
dns_our_name_allows(void **state)
{
	struct va_result res;
	json_t *rec;

	publish("update add ours.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add ours.example.test. 5 CAA 0 iodef \"mailto:x@ours.example.test\"");
	check("ours.example.test", false, "http-01", ACCT, &res);
	assert_true(res.ok);
	rec = caa_record(&res);
	assert_string_equal(caa_str(rec, "name"), "ours.example.test");
	assert_int_equal(json_array_size(json_object_get(rec, "records")), 2);
	assert_string_equal(caa_str(rec, "result"), "allowed");
	va_result_cleanup(&res);
}

static void
dns_parent_applies_and_child_overrides(void **state)
{
	struct va_result res;

	publish("update add par.example.test. 5 CAA 0 issue \"other.ca\"\n"
		"update add own.par.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add a.own.par.example.test. 5 A 127.0.0.1");
	check("deep.kid.par.example.test", false, "dns-01", ACCT, &res);
	assert_int_equal(res.prob, PROB_CAA);
	assert_false(res.ok);
	assert_contains(res.detail, "CAA record for par.example.test prevents issuance");
	assert_string_equal(caa_str(caa_record(&res), "name"), "par.example.test");
	va_result_cleanup(&res);
	check("own.par.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	/* the closest set wins over the parent's, for names below it too */
	check("a.own.par.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	assert_string_equal(caa_str(caa_record(&res), "name"), "own.par.example.test");
	va_result_cleanup(&res);
}

static void
dns_cname_at_the_name_is_followed(void **state)
{
	struct va_result res;

	publish("update add tgt.example.test. 5 CAA 0 issue \"other.ca\"\n"
		"update add al.example.test. 5 CNAME tgt.example.test.");
	check("al.example.test", false, "dns-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	/* RFC 8659: the set is the one found for the name asked */
	assert_string_equal(
	    res.detail, "CAA record for al.example.test prevents issuance: 0 issue \"other.ca\"");
	va_result_cleanup(&res);
}

static void
dns_accounturi(void **state)
{
	struct va_request req = {.type = "dns-01",
				 .identifier = "acct.example.test",
				 .account_url = ACCT2,
				 .issuers = issuers,
				 .n_issuers = 2};
	struct va_result res;

	publish("update add acct.example.test. 5 CAA 0 issue \"ca.test; accounturi=" ACCT "\"");
	va_check_caa(va, &req, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_contains(res.detail, "accounturi is not this account's URL");
	assert_int_equal(json_array_size(res.records), 1);
	va_result_cleanup(&res);
	req.account_url = ACCT;
	va_check_caa(va, &req, &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	assert_int_equal(res.persist_until, INT64_MAX);
	va_result_cleanup(&res);
}

static void
dns_validationmethods(void **state)
{
	struct va_result res;

	publish("update add vm.example.test. 5 CAA 0 issue \"ca.test; "
		"validationmethods=dns-persist-01\"");
	check("vm.example.test", false, "http-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_contains(res.detail, "validationmethods does not list http-01");
	va_result_cleanup(&res);
	check("vm.example.test", false, "dns-persist-01", ACCT, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	check("vm.example.test", false, "dns-01", ACCT, &res);
	assert_false(res.ok);
	va_result_cleanup(&res);
}

static void
dns_issuewild_semicolon_blocks_only_the_wildcard(void **state)
{
	struct va_result res;

	publish("update add wild.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add wild.example.test. 5 CAA 0 issuewild \";\"");
	check("wild.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	check("wild.example.test", true, "dns-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_contains(res.detail, "0 issuewild \";\"");
	va_result_cleanup(&res);
}

static void
dns_unknown_critical_tag_refuses(void **state)
{
	struct va_result res;

	publish("update add crit.example.test. 5 CAA 128 tbs \"x\"\n"
		"update add crit.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add noncrit.example.test. 5 CAA 0 tbs \"x\"\n"
		"update add noncrit.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add onlyunknown.example.test. 5 CAA 0 tbs \"x\"");
	check("crit.example.test", false, "dns-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_contains(res.detail, "CAA record for crit.example.test has a critical property");
	assert_contains(res.detail, "128 tbs \"x\"");
	assert_string_equal(caa_str(caa_record(&res), "result"), "refused");
	va_result_cleanup(&res);
	check("noncrit.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	/* a non-empty set without issue: the climb stops there, and nothing restricts */
	check("onlyunknown.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	assert_string_equal(caa_str(caa_record(&res), "name"), "onlyunknown.example.test");
	va_result_cleanup(&res);
}

static void
dns_servfail_at_the_name_is_dns_problem(void **state)
{
	struct va_result res;
	json_t *rec;

	/* Knot is not authoritative for other.test and refuses; libunbound reports SERVFAIL. */
	check("www.other.test", false, "dns-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(res.detail, "SERVFAIL looking up CAA for www.other.test");
	rec = caa_record(&res);
	assert_string_equal(caa_str(rec, "name"), "www.other.test");
	assert_string_equal(caa_str(rec, "result"), "dns error");
	va_result_cleanup(&res);
}

static void
dns_failure_above_the_relevant_set_does_not_matter(void **state)
{
	struct va_result res;

	/* brk.example.test's CAA lookup follows its CNAME out of the zone: SERVFAIL there */
	publish("update add brk.example.test. 5 CNAME nowhere.other.test.\n"
		"update add ok.brk.example.test. 5 CAA 0 issue \"ca.test\"\n"
		"update add none.brk.example.test. 5 A 127.0.0.1");
	check("ok.brk.example.test", false, "dns-01", ACCT, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	/* below it, with no set found first, the failure decides: fail closed */
	check("none.brk.example.test", false, "dns-01", ACCT, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(res.detail, "SERVFAIL looking up CAA for brk.example.test");
	va_result_cleanup(&res);
}

static void
validate_checks_caa_after_dcv_when_asked(void **state)
{
	const char *ka = "tokC.thumbprint-caa";
	struct va_request req = {.type = "dns-01",
				 .identifier = "dcv.example.test",
				 .token = "tokC",
				 .key_authz = ka,
				 .account_url = ACCT,
				 .issuers = issuers,
				 .n_issuers = 2};
	struct va_result res;
	char v[64], lines[512];

	txt_for(ka, v);
	snprintf(lines, sizeof(lines),
		 "update add _acme-challenge.dcv.example.test. 5 TXT \"%s\"\n"
		 "update add dcv.example.test. 5 CAA 0 issue \"other.ca\"",
		 v);
	publish(lines);
	/* not asked: DCV alone */
	assert_int_equal(va_validate(va, &req, &res), DEED_OK);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	va_result_cleanup(&res);
	/* asked: the DCV record stays, the CAA one follows, and CAA refuses */
	req.check_caa = true;
	assert_int_equal(va_validate(va, &req, &res), DEED_OK);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CAA);
	assert_int_equal(json_array_size(res.records), 2);
	assert_non_null(json_object_get(json_array_get(res.records, 0), "hostname"));
	assert_string_equal(caa_str(caa_record(&res), "name"), "dcv.example.test");
	assert_contains(res.detail, "CAA record for dcv.example.test prevents issuance");
	va_result_cleanup(&res);
	/* once the record names us, the same validation passes */
	publish("update delete dcv.example.test. CAA\n"
		"update add dcv.example.test. 5 CAA 0 issue \"ca.test; validationmethods=dns-01\"");
	assert_int_equal(va_validate(va, &req, &res), DEED_OK);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 2);
	assert_string_equal(caa_str(caa_record(&res), "result"), "allowed");
	va_result_cleanup(&res);
	/* a failed DCV is not followed by CAA */
	req.key_authz = "tokC.wrong";
	assert_int_equal(va_validate(va, &req, &res), DEED_OK);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_int_equal(json_array_size(res.records), 1);
	va_result_cleanup(&res);
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(parse_reads_flags_tag_value),
	    cmocka_unit_test(parse_refuses_bad_tags_and_short_rdata),
	    cmocka_unit_test(rr_text_quotes_and_shows_unparseable_as_hex),
	    cmocka_unit_test(eval_empty_set_and_no_issue_property_allow),
	    cmocka_unit_test(eval_issuer_match_is_case_insensitive_with_trailing_dot),
	    cmocka_unit_test(eval_issue_semicolon_allows_nobody),
	    cmocka_unit_test(eval_unusable_parameters_refuse),
	    cmocka_unit_test(eval_critical_flags),
	    cmocka_unit_test(eval_wildcard_prefers_issuewild),
	    cmocka_unit_test(eval_detail_names_every_record),
	};
	const struct CMUnitTest dnstests[] = {
	    cmocka_unit_test(dns_no_caa_anywhere_allows),
	    cmocka_unit_test(dns_other_ca_blocks),
	    cmocka_unit_test(dns_our_name_allows),
	    cmocka_unit_test(dns_parent_applies_and_child_overrides),
	    cmocka_unit_test(dns_cname_at_the_name_is_followed),
	    cmocka_unit_test(dns_accounturi),
	    cmocka_unit_test(dns_validationmethods),
	    cmocka_unit_test(dns_issuewild_semicolon_blocks_only_the_wildcard),
	    cmocka_unit_test(dns_unknown_critical_tag_refuses),
	    cmocka_unit_test(dns_servfail_at_the_name_is_dns_problem),
	    cmocka_unit_test(dns_failure_above_the_relevant_set_does_not_matter),
	    cmocka_unit_test(validate_checks_caa_after_dcv_when_asked),
	};
	int failed = cmocka_run_group_tests_name("va_caa_eval", pure, NULL, NULL);

	return failed +
	       cmocka_run_group_tests_name("va_caa_dns", dnstests, group_setup, group_teardown);
}
