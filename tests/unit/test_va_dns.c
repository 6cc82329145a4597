#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
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
#include "va_dns.h"
#include "vatest.h"

/*
 * dns-01 and the libunbound wrapper against a real authoritative server: the lab's Knot,
 * updated with TSIG-signed RFC 2136 updates between validations.
 */

static struct labdns lab;
static struct va *va;	   /* resolving through Knot */
static struct va_dns *dns; /* the same, for the lookup API */

/* dns-01 for ident with key authorization ka. */
static void
validate(struct va *v, const char *ident, const char *ka, struct va_result *res)
{
	vatest_validate(v, "dns-01", ident, "tok", ka, res);
}

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
dns01_matching_record_validates(void **state)
{
	const char *ka = "tokOK.thumbprint-ok";
	struct va_result res;
	char v[64];
	json_t *rec;

	txt_for(ka, v);
	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.ok.example.test. 5 TXT \"%s\"", v), 0);
	validate(va, "ok.example.test", ka, &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	rec = json_array_get(res.records, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "hostname")), "ok.example.test");
	assert_string_equal(json_string_value(json_object_get(rec, "dnssec")), "insecure");
	va_result_cleanup(&res);
}

static void
dns01_any_of_two_records_validates(void **state)
{
	const char *ka = "tokTwo.thumbprint";
	struct va_result res;
	char v[64];

	/* A name and its wildcard in one order: two values at one name. */
	txt_for(ka, v);
	assert_int_equal(
	    labdns_update(&lab,
			  "update add _acme-challenge.two.example.test. 5 TXT \"other-value\"\n"
			  "update add _acme-challenge.two.example.test. 5 TXT \"%s\"",
			  v),
	    0);
	validate(va, "two.example.test", ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
dns01_wrong_record_is_unauthorized(void **state)
{
	struct va_result res;

	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.wrong.example.test. 5 TXT \"not-it\""),
	    0);
	validate(va, "wrong.example.test", "tokW.thumb", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(
	    res.detail,
	    "Incorrect TXT record \"not-it\" found at _acme-challenge.wrong.example.test");
	va_result_cleanup(&res);
}

static void
dns01_missing_record_is_unauthorized(void **state)
{
	struct va_result res;

	/* NXDOMAIN */
	validate(va, "absent.example.test", "tokA.thumb", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail,
			    "No TXT record found at _acme-challenge.absent.example.test");
	va_result_cleanup(&res);

	/* NODATA: the name exists, with another type */
	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.nodata.example.test. 5 A 127.0.0.1"),
	    0);
	validate(va, "nodata.example.test", "tokN.thumb", &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail,
			    "No TXT record found at _acme-challenge.nodata.example.test");
	va_result_cleanup(&res);
}

static void
dns01_joins_character_strings(void **state)
{
	const char *ka = "tokSplit.thumbprint";
	struct va_result res;
	char v[64];

	/* One RR of three character-strings (RFC 8555 §8.4 compares their concatenation). */
	txt_for(ka, v);
	assert_int_equal(
	    labdns_update(
		&lab,
		"update add _acme-challenge.split.example.test. 5 TXT \"%.10s\" \"%.20s\" \"%s\"",
		v, v + 10, v + 30),
	    0);
	validate(va, "split.example.test", ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);

	/* Two RRs holding the halves are two values, neither of them the right one. */
	assert_int_equal(
	    labdns_update(&lab,
			  "update add _acme-challenge.halves.example.test. 5 TXT \"%.20s\"\n"
			  "update add _acme-challenge.halves.example.test. 5 TXT \"%s\"",
			  v, v + 20),
	    0);
	validate(va, "halves.example.test", ka, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "(and 1 more) found at _acme-challenge.halves.example.test");
	va_result_cleanup(&res);
}

static void
dns01_sees_changes_at_once(void **state)
{
	const char *ka1 = "tokFirst.thumb", *ka2 = "tokSecond.thumb";
	struct va_result res;
	char v1[64], v2[64];

	txt_for(ka1, v1);
	txt_for(ka2, v2);
	/* A failed lookup must not be remembered: publish right after it, validate again. */
	validate(va, "fresh.example.test", ka1, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	va_result_cleanup(&res);
	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.fresh.example.test. 300 TXT \"%s\"",
			  v1),
	    0);
	validate(va, "fresh.example.test", ka1, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);

	/* Replaced within the same second, despite the 300 s TTL: the old value is gone. */
	assert_int_equal(
	    labdns_update(&lab,
			  "update delete _acme-challenge.fresh.example.test. TXT\n"
			  "update add _acme-challenge.fresh.example.test. 300 TXT \"%s\"",
			  v2),
	    0);
	validate(va, "fresh.example.test", ka2, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	validate(va, "fresh.example.test", ka1, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	va_result_cleanup(&res);

	/* And removed: nothing left. */
	assert_int_equal(
	    labdns_update(&lab, "update delete _acme-challenge.fresh.example.test. TXT"), 0);
	validate(va, "fresh.example.test", ka2, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "No TXT record found");
	va_result_cleanup(&res);
}

static void
dns01_follows_cname(void **state)
{
	const char *ka = "tokAlias.thumb";
	struct va_result res;
	char v[64];

	/* The usual delegation of _acme-challenge to a zone the client can update. */
	txt_for(ka, v);
	assert_int_equal(
	    labdns_update(
		&lab,
		"update add _acme-challenge.alias.example.test. 5 CNAME target.acme.example.test.\n"
		"update add target.acme.example.test. 5 TXT \"%s\"",
		v),
	    0);
	validate(va, "alias.example.test", ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
dns01_refused_zone_is_dns_problem(void **state)
{
	struct va_result res;

	/* Knot is not authoritative for other.test and refuses; libunbound reports SERVFAIL. */
	validate(va, "www.other.test", "tokR.thumb", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(res.detail, "SERVFAIL looking up TXT for _acme-challenge.www.other.test");
	va_result_cleanup(&res);
}

static void
dns01_echo_is_escaped_and_capped(void **state)
{
	struct va_result res;
	char big[201];

	memset(big, 'x', 200);
	big[200] = '\0';
	assert_int_equal(
	    labdns_update(
		&lab, "update add _acme-challenge.odd.example.test. 5 TXT \"q\\\"b\\\\\\009%s\"",
		big),
	    0);
	validate(va, "odd.example.test", "tokO.thumb", &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	/* q " b \ TAB, then x up to 100 bytes in all, then "..." */
	assert_contains(res.detail, "Incorrect TXT record \"q\\\"b\\\\\\009xxxx");
	/* 5 bytes shown escaped, then 95 of the 200 x */
	memset(big, 'x', 95);
	strcpy(big + 95, "...\" found at _acme-challenge.odd.example.test");
	assert_contains(res.detail, big);
	memset(big, 'x', 96);
	big[96] = '\0';
	assert_null(strstr(res.detail, big));
	va_result_cleanup(&res);
}

/* --- dns-account-01 ---------------------------------------------------------------------- */

/* Labels of two accounts, computed outside the project (Python's hashlib and base64). */
#define ACCT1 "https://ca.test/acct/1"
#define LABEL1 "_bb55pyrwl3od577j"
#define ACCT2 "https://ca.test/acct/2"
#define LABEL2 "_jnxwryeab6rfobhb"

static void
validate_acct(const char *ident, bool wildcard, const char *acct, const char *ka,
	      struct va_result *res)
{
	struct va_request req = {.type = "dns-account-01",
				 .identifier = ident,
				 .wildcard = wildcard,
				 .token = "tok",
				 .key_authz = ka,
				 .account_url = acct};

	assert_int_equal(va_validate(va, &req, res), DEED_OK);
}

/* Put value up at label._acme-challenge.name (label "" for the plain dns-01 name). */
static void
publish(const char *label, const char *name, const char *value)
{
	assert_int_equal(labdns_update(&lab, "update add %s%s_acme-challenge.%s. 5 TXT \"%s\"",
				       label, label[0] ? "." : "", name, value),
			 0);
}

static void
acct01_record_under_label_validates(void **state)
{
	const char *ka = "tokAcct.thumb";
	struct va_result res;
	json_t *rec;
	char v[64];

	txt_for(ka, v);
	publish(LABEL1, "acct.example.test", "other-client");
	publish(LABEL1, "acct.example.test", v);
	validate_acct("acct.example.test", false, ACCT1, ka, &res);
	assert_true(res.ok);
	rec = json_array_get(res.records, 0);
	assert_string_equal(json_string_value(json_object_get(rec, "hostname")),
			    "acct.example.test");
	assert_string_equal(json_string_value(json_object_get(rec, "txtName")),
			    LABEL1 "._acme-challenge.acct.example.test");
	va_result_cleanup(&res);
}

static void
acct01_plain_acme_challenge_does_not_count(void **state)
{
	const char *ka = "tokPlain.thumb";
	struct va_result res;
	char v[64];

	/* The right value, at the dns-01 name: dns-01 passes, dns-account-01 does not. */
	txt_for(ka, v);
	publish("", "plain.example.test", v);
	validate(va, "plain.example.test", ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
	validate_acct("plain.example.test", false, ACCT1, ka, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail, "No TXT record found at " LABEL1
					"._acme-challenge.plain.example.test (the label of "
					"account " ACCT1 ")");
	va_result_cleanup(&res);
}

static void
acct01_other_accounts_label_does_not_count(void **state)
{
	const char *ka = "tokOther.thumb";
	struct va_result res;
	char v[64];

	/* Account 2 published the value account 1 needs, under its own label. */
	txt_for(ka, v);
	publish(LABEL2, "shared.example.test", v);
	validate_acct("shared.example.test", false, ACCT1, ka, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "No TXT record found at " LABEL1);
	va_result_cleanup(&res);
	validate_acct("shared.example.test", false, ACCT2, ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);

	/* A wrong value under the right label names the record and the account. */
	publish(LABEL1, "shared.example.test", "stale");
	validate_acct("shared.example.test", false, ACCT1, ka, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail, "Incorrect TXT record \"stale\" found at " LABEL1
					"._acme-challenge.shared.example.test (the label of "
					"account " ACCT1 ")");
	va_result_cleanup(&res);
}

static void
acct01_wildcard_validates_at_base_name(void **state)
{
	const char *ka = "tokWild.thumb";
	struct va_result res;
	char v[64];

	/* *.wild.example.test: the authorization names wild.example.test, as for dns-01. */
	txt_for(ka, v);
	publish(LABEL1, "wild.example.test", v);
	validate_acct("wild.example.test", true, ACCT1, ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
acct01_needs_account_and_short_name(void **state)
{
	struct va_result res;
	char big[230];

	validate_acct("acct.example.test", false, NULL, "tokN.thumb", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_SERVER_INTERNAL);
	assert_contains(res.detail, "no account URL");
	va_result_cleanup(&res);

	/* 220 octets is a fine name, but the label and _acme-challenge make it 254. */
	memset(big, 'a', sizeof(big));
	for (size_t i = 63; i < 220; i += 64)
		big[i] = '.';
	big[220] = '\0';
	validate_acct(big, false, ACCT1, "tokN.thumb", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_MALFORMED);
	assert_contains(res.detail, "253 octets");
	va_result_cleanup(&res);
}

static void
lookup_reports_records_ttl_and_rcode(void **state)
{
	struct va_dns_answer ans;
	struct va_dns_query q[3] = {{.name = "www.example.test", .rrtype = VA_DNS_A},
				    {.name = "www.example.test", .rrtype = VA_DNS_AAAA},
				    {.name = "nothing.example.test", .rrtype = VA_DNS_A}};

	assert_int_equal(labdns_update(&lab,
				       "update add multi.example.test. 42 TXT \"one\" \"two\"\n"
				       "update add multi.example.test. 42 TXT \"three\""),
			 0);
	assert_int_equal(va_dns_txt(dns, "multi.example.test", 2000, &ans), DEED_OK);
	assert_int_equal(ans.rcode, VA_DNS_NOERROR);
	assert_int_equal(ans.ttl, 42); /* as served: not capped to 0 to defeat a cache */
	assert_int_equal(ans.dnssec, VA_DNSSEC_INSECURE);
	assert_int_equal(ans.n, 2);
	assert_true((strcmp(ans.rr[0], "onetwo") == 0 && strcmp(ans.rr[1], "three") == 0) ||
		    (strcmp(ans.rr[1], "onetwo") == 0 && strcmp(ans.rr[0], "three") == 0));
	assert_int_equal(ans.len[0] + ans.len[1], 11);
	va_dns_answer_cleanup(&ans);

	assert_int_equal(va_dns_lookup_many(dns, q, 3, 2000), DEED_OK);
	assert_int_equal(q[0].ans.n, 1);
	assert_string_equal(q[0].ans.rr[0], "127.0.0.1");
	assert_int_equal(q[0].ans.ttl, 5);
	assert_int_equal(q[1].ans.rcode, VA_DNS_NOERROR); /* NODATA */
	assert_int_equal(q[1].ans.n, 0);
	assert_int_equal(q[2].ans.rcode, VA_DNS_NXDOMAIN);
	assert_int_equal(q[2].ans.n, 0);
	for (int i = 0; i < 3; i++)
		va_dns_answer_cleanup(&q[i].ans);
}

static void
lookup_refuses_oversized_rrset(void **state)
{
	struct va_dns_answer ans;
	char cmds[VA_DNS_MAX_RRS * 64 + 64];
	size_t o = 0;

	for (int i = 0; i <= VA_DNS_MAX_RRS; i++)
		o += (size_t)snprintf(cmds + o, sizeof(cmds) - o,
				      "update add many.example.test. 5 TXT \"v%d\"\n", i);
	assert_int_equal(labdns_update(&lab, "%s", cmds), 0);
	assert_int_equal(va_dns_txt(dns, "many.example.test", 3000, &ans), DEED_ETOOBIG);
	assert_int_equal(ans.n, 0);
	va_dns_answer_cleanup(&ans);
}

/* A UDP port that takes queries and never answers. */
static int
blackhole(int *port)
{
	struct sockaddr_storage ss;
	socklen_t len = labdns_loopback(AF_INET, 0, &ss);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&ss, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	*port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

static void
dns01_timeout_is_bounded(void **state)
{
	struct va_config cfg = {.timeout_ms = 1000};
	struct va_result res;
	struct va *slow;
	char err[256], resolver[32];
	int port, fd = blackhole(&port);
	int64_t t0;

	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", port);
	cfg.resolver = resolver;
	assert_int_equal(va_new(&cfg, &slow, err, sizeof(err)), DEED_OK);
	t0 = ms_now();
	validate(slow, "www.example.test", "tokT.thumb", &res);
	assert_true(ms_now() - t0 < 2500);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_string_equal(res.detail,
			    "query timed out looking up TXT for _acme-challenge.www.example.test");
	va_result_cleanup(&res);
	va_free(slow);
	close(fd);
}

static void
dnssec_bogus_is_dns_problem(void **state)
{
	struct va_config cfg = {.timeout_ms = 5000, .resolver = lab.resolver};
	struct va_result res;
	struct va *strict;
	char err[256], ta[128], v[64];
	const char *ka = "tokSec.thumb";
	FILE *f;

	/* An anchor says example.test is signed; Knot serves it unsigned: every answer is
	 * bogus, as it would be for a stripped or forged one. */
	snprintf(ta, sizeof(ta), "%s/ta.keys", lab.dir);
	assert_non_null(f = fopen(ta, "w"));
	fprintf(f, "example.test. IN DS 12345 13 2 "
		   "4d2b0a5c1e9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d\n");
	fclose(f);
	cfg.trust_anchor_file = ta;
	assert_int_equal(va_new(&cfg, &strict, err, sizeof(err)), DEED_OK);
	txt_for(ka, v);
	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.sec.example.test. 5 TXT \"%s\"", v), 0);
	validate(strict, "sec.example.test", ka, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(
	    res.detail,
	    "DNSSEC validation failed looking up TXT for _acme-challenge.sec.example.test");
	assert_string_equal(
	    json_string_value(json_object_get(json_array_get(res.records, 0), "dnssec")), "bogus");
	va_result_cleanup(&res);
	va_free(strict);

	/* The same record through the va without anchors: insecure, and valid. */
	validate(va, "sec.example.test", ka, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
va_new_checks_resolver_and_anchors(void **state)
{
	static const char *good[] = {"127.0.0.1", "127.0.0.1@8053", "127.0.0.1:8053",
				     "::1",	  "::1@53",	    "[::1]:8053"};
	static const char *bad[] = {"localhost",       "127.0.0.1:",	     "127.0.0.1:0",
				    "127.0.0.1:65536", "127.0.0.1@x",	     "[::1",
				    "[::1]x",	       "ns.example.test@53", "1.2.3.4:53:53"};
	struct va_config cfg = {.timeout_ms = 1000};
	struct va *v;
	char err[256];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cfg.resolver = good[i];
		assert_int_equal(va_new(&cfg, &v, err, sizeof(err)), DEED_OK);
		va_free(v);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg.resolver = bad[i];
		err[0] = '\0';
		if (va_new(&cfg, &v, err, sizeof(err)) != DEED_EINVAL)
			fail_msg("resolver \"%s\" accepted", bad[i]);
		assert_null(v);
		assert_contains(err, "DNS resolver");
	}
	cfg.resolver = lab.resolver;
	cfg.trust_anchor_file = "/nonexistent/anchors";
	assert_int_equal(va_new(&cfg, &v, err, sizeof(err)), DEED_EINVAL);
	assert_null(v);
	assert_contains(err, "/nonexistent/anchors");
}

struct worker {
	int ok;
	int n;
};

static void *
validate_many(void *arg)
{
	struct worker *w = arg;
	struct va_request req = {.type = "dns-01",
				 .identifier = "par.example.test",
				 .token = "tok",
				 .key_authz = "tokPar.thumb"};

	for (int i = 0; i < w->n; i++) {
		struct va_result res;

		if (va_validate(va, &req, &res) == DEED_OK && res.ok)
			w->ok++;
		va_result_cleanup(&res);
	}
	return NULL;
}

static void
dns01_concurrent_validations(void **state)
{
	enum { THREADS = 8, EACH = 10 };
	struct worker w[THREADS] = {0};
	pthread_t th[THREADS];
	char v[64];

	/* One va serves all the RA's worker threads at once. */
	txt_for("tokPar.thumb", v);
	assert_int_equal(
	    labdns_update(&lab, "update add _acme-challenge.par.example.test. 5 TXT \"%s\"", v), 0);
	for (int i = 0; i < THREADS; i++) {
		w[i].n = EACH;
		assert_int_equal(pthread_create(&th[i], NULL, validate_many, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].ok, EACH);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(dns01_matching_record_validates),
	    cmocka_unit_test(dns01_any_of_two_records_validates),
	    cmocka_unit_test(dns01_wrong_record_is_unauthorized),
	    cmocka_unit_test(dns01_missing_record_is_unauthorized),
	    cmocka_unit_test(dns01_joins_character_strings),
	    cmocka_unit_test(dns01_sees_changes_at_once),
	    cmocka_unit_test(dns01_follows_cname),
	    cmocka_unit_test(dns01_refused_zone_is_dns_problem),
	    cmocka_unit_test(dns01_echo_is_escaped_and_capped),
	    cmocka_unit_test(acct01_record_under_label_validates),
	    cmocka_unit_test(acct01_plain_acme_challenge_does_not_count),
	    cmocka_unit_test(acct01_other_accounts_label_does_not_count),
	    cmocka_unit_test(acct01_wildcard_validates_at_base_name),
	    cmocka_unit_test(acct01_needs_account_and_short_name),
	    cmocka_unit_test(lookup_reports_records_ttl_and_rcode),
	    cmocka_unit_test(lookup_refuses_oversized_rrset),
	    cmocka_unit_test(dns01_timeout_is_bounded),
	    cmocka_unit_test(dnssec_bogus_is_dns_problem),
	    cmocka_unit_test(va_new_checks_resolver_and_anchors),
	    cmocka_unit_test(dns01_concurrent_validations),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
