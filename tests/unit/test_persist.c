#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "error.h"
#include "labdns.h"
#include "persist.h"
#include "solver.h"

/*
 * The client side of dns-persist-01: option parsing, the record `deed persist show` prints,
 * the verdict `deed persist check` prints, and, against the lab's Knot (labdns.h), the
 * one-time publication, the TXT query and the solver's pre-check.
 */

/* Protocol notes §4.5 test vectors (draft -02). */
#define THUMB "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
#define ACCT "https://ca.example/acct/123"
#define PREFIX "https://ca.example/account-hash/"
#define HASH_EXAMPLE_COM PREFIX "sha-256/5SQm7n6tPh2-PlLbCKGnViTXX5z19SCN4cPGQHSk-kw"
#define NOW 1767225600 /* 2026-01-01T00:00:00Z */

static const char *const issuers1[] = {"authority.example"};

/* --- --until ----------------------------------------------------------------------------- */

static void
test_until_accepts_date_and_unix_time(void **state)
{
	int64_t t = 0;

	assert_int_equal(persist_parse_until("2026-01-01", &t, NULL, 0), DEED_OK);
	assert_int_equal(t, NOW);
	assert_int_equal(persist_parse_until("2028-02-29", &t, NULL, 0), DEED_OK); /* leap day */
	assert_int_equal(t, 1835395200);
	assert_int_equal(persist_parse_until("1767225600", &t, NULL, 0), DEED_OK);
	assert_int_equal(t, NOW);
}

static void
test_until_refuses_other_forms(void **state)
{
	static const char *const bad[] = {
	    "",		 "2026-02-30", "2026-13-01", "2027-02-29",	    "2026-1-01",
	    "2026-01-1", "26-01-01",   "0",	     "-1767225600",	    "+5",
	    "12abc",	 "2026/01/01", "1970-01-01", "2026-01-01T00:00:00Z"};
	char err[256];
	int64_t t = 7;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (persist_parse_until(bad[i], &t, err, sizeof(err)) != DEED_EINVAL)
			fail_msg("--until \"%s\" accepted", bad[i]);
		assert_non_null(strstr(err, "YYYY-MM-DD"));
	}
}

static void
test_format_time_is_iso8601_utc(void **state)
{
	char buf[40];

	persist_format_time(NOW, buf, sizeof(buf));
	assert_string_equal(buf, "2026-01-01T00:00:00Z");
}

/* --- issuer names -------------------------------------------------------------------------- */

static void
test_dir_issuers_prefers_issuer_domain_names_sorted(void **state)
{
	json_t *meta =
	    json_pack("{s:[s,s],s:[s,s,s]}", "issuerDomainNames", "z.example", "b.example",
		      "caaIdentities", "z.example", "b.example", "other.example");
	const char *out[PERSIST_ISSUERS_MAX];
	size_t n = 0;

	assert_int_equal(persist_dir_issuers(meta, out, &n, NULL, 0), DEED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "b.example");
	assert_string_equal(out[1], "z.example");
	json_decref(meta);
}

static void
test_dir_issuers_falls_back_to_caa_identities(void **state)
{
	json_t *meta = json_pack("{s:[],s:[s,s]}", "issuerDomainNames", "caaIdentities",
				 "y.example", "x.example");
	const char *out[PERSIST_ISSUERS_MAX];
	size_t n = 0;

	assert_int_equal(persist_dir_issuers(meta, out, &n, NULL, 0), DEED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(out[0], "x.example");
	json_decref(meta);
}

static void
test_dir_issuers_refuses_none_too_many_and_junk(void **state)
{
	const char *out[PERSIST_ISSUERS_MAX];
	char err[256];
	size_t n = 9;
	json_t *meta = json_object(), *many = json_array();

	assert_int_equal(persist_dir_issuers(meta, out, &n, err, sizeof(err)), DEED_ENOTFOUND);
	assert_int_equal(n, 0);
	assert_int_equal(persist_dir_issuers(NULL, out, &n, err, sizeof(err)), DEED_ENOTFOUND);
	for (int i = 0; i < 11; i++) {
		char name[32];

		snprintf(name, sizeof(name), "ca%d.example", i);
		json_array_append_new(many, json_string(name));
	}
	json_object_set_new(meta, "issuerDomainNames", many);
	assert_int_equal(persist_dir_issuers(meta, out, &n, err, sizeof(err)), DEED_EMALFORMED);
	json_object_set_new(meta, "issuerDomainNames", json_pack("[s,i]", "a.example", 5));
	assert_int_equal(persist_dir_issuers(meta, out, &n, err, sizeof(err)), DEED_EMALFORMED);
	json_object_set_new(meta, "issuerDomainNames", json_pack("[s]", "Upper.Example."));
	assert_int_equal(persist_dir_issuers(meta, out, &n, err, sizeof(err)), DEED_EMALFORMED);
	json_decref(meta);
}

static void
test_pick_issuer_first_or_asked(void **state)
{
	static const char *const list[] = {"a.example", "b.example"};
	const char *got = NULL;
	char err[256] = "";

	assert_int_equal(persist_pick_issuer(list, 2, NULL, &got, NULL, 0), DEED_OK);
	assert_string_equal(got, "a.example");
	assert_int_equal(persist_pick_issuer(list, 2, "B.Example.", &got, NULL, 0), DEED_OK);
	assert_string_equal(got, "b.example");
	assert_int_equal(persist_pick_issuer(list, 2, "c.example", &got, err, sizeof(err)),
			 DEED_ENOTFOUND);
	assert_null(got);
	assert_non_null(strstr(err, "a.example, b.example"));
	assert_int_equal(persist_pick_issuer(list, 0, NULL, &got, NULL, 0), DEED_ENOTFOUND);
}

/* --- the record (persist show) --------------------------------------------------------------- */

static struct persist_spec
spec(const char *domain, enum persist_form form, const char *prefix)
{
	return (struct persist_spec){
	    .domain = domain,
	    .ttl = 3600,
	    .issuer = "authority.example",
	    .form = form,
	    .hash_prefix = prefix,
	    .thumbprint = THUMB,
	    .account_url = ACCT,
	};
}

static void
test_build_hashed_is_bound_to_the_domain(void **state)
{
	struct persist_spec s = spec("Example.COM", PERSIST_FORM_AUTO, PREFIX);
	struct persist_record r;

	assert_int_equal(persist_build(&s, &r, NULL, 0), DEED_OK);
	assert_true(r.hashed);
	assert_false(r.wildcard);
	assert_string_equal(r.domain, "example.com");
	assert_string_equal(r.name, "_validation-persist.example.com");
	assert_string_equal(r.accounturi, HASH_EXAMPLE_COM);
	assert_string_equal(r.value, "authority.example; accounturi=" HASH_EXAMPLE_COM);
	assert_string_equal(r.zone_line, "_validation-persist.example.com. 3600 IN TXT "
					 "\"authority.example; accounturi=" HASH_EXAMPLE_COM "\"");
}

static void
test_build_wildcard_name_and_until(void **state)
{
	struct persist_spec s = spec("*.example.com", PERSIST_FORM_PLAIN, PREFIX);
	struct persist_record r;

	s.until = 1798675200;
	assert_int_equal(persist_build(&s, &r, NULL, 0), DEED_OK);
	assert_false(r.hashed);
	assert_true(r.wildcard); /* *.NAME needs policy=wildcard at NAME */
	assert_string_equal(r.name, "_validation-persist.example.com");
	assert_string_equal(r.value, "authority.example; accounturi=" ACCT
				     "; policy=wildcard; persistUntil=1798675200");

	s = spec("example.com", PERSIST_FORM_AUTO, NULL); /* no prefix: -01 plain form */
	s.wildcard = true;
	assert_int_equal(persist_build(&s, &r, NULL, 0), DEED_OK);
	assert_false(r.hashed);
	assert_string_equal(r.value, "authority.example; accounturi=" ACCT "; policy=wildcard");
}

static void
test_build_refuses_hashed_without_prefix_and_bad_names(void **state)
{
	struct persist_spec s = spec("example.com", PERSIST_FORM_HASHED, NULL);
	struct persist_record r;
	char err[256] = "";

	assert_int_equal(persist_build(&s, &r, err, sizeof(err)), DEED_EINVAL);
	assert_non_null(strstr(err, "accountHashPrefix"));
	s = spec("exa mple.com", PERSIST_FORM_PLAIN, NULL);
	assert_int_equal(persist_build(&s, &r, err, sizeof(err)), DEED_EINVAL);
	s = spec("example.com", PERSIST_FORM_PLAIN, NULL);
	s.account_url =
	    "https://ca.example/acct/1 23"; /* a space: the CA would call it malformed */
	assert_int_equal(persist_build(&s, &r, err, sizeof(err)), DEED_EINVAL);
}

static void
test_record_json_has_name_value_zone_line(void **state)
{
	struct persist_spec s = spec("example.com", PERSIST_FORM_PLAIN, NULL);
	struct persist_record r;
	json_t *j;
	char *text;

	assert_int_equal(persist_build(&s, &r, NULL, 0), DEED_OK);
	assert_non_null(text = persist_record_json(&r));
	assert_non_null(j = json_loads(text, 0, NULL));
	assert_string_equal(json_string_value(json_object_get(j, "name")), r.name);
	assert_string_equal(json_string_value(json_object_get(j, "value")), r.value);
	assert_string_equal(json_string_value(json_object_get(j, "zone_line")), r.zone_line);
	assert_null(strchr(text, '\n'));
	json_decref(j);
	free(text);
}

/* --- the verdict (persist check) ------------------------------------------------------------- */

static struct persist_query
query(const char *domain, bool wildcard)
{
	return (struct persist_query){
	    .domain = domain,
	    .need_wildcard = wildcard,
	    .account_url = ACCT,
	    .thumbprint = THUMB,
	    .issuers = issuers1,
	    .n_issuers = 1,
	    .hash_prefix = PREFIX,
	    .now = NOW,
	};
}

static void
judge1(const struct persist_query *q, const char *txt, struct persist_report *rep)
{
	char *t[1] = {(char *)txt};
	size_t len[1] = {strlen(txt)};

	persist_judge(q, t, len, 1, rep);
}

static void
test_judge_ok_plain_with_details(void **state)
{
	struct persist_query q = query("example.com", false);
	struct persist_report rep;

	judge1(&q, "authority.example; accounturi=" ACCT, &rep);
	assert_true(rep.ok);
	assert_int_equal(rep.verdict, PERSIST_VALID);
	assert_string_equal(rep.verdict_line, "OK: \"authority.example; accounturi=" ACCT
					      "\" authorizes account " ACCT " for example.com");
	assert_string_equal(rep.issuer, "authority.example");
	assert_false(rep.hashed);
	assert_false(rep.wildcard);
	assert_true(rep.until == INT64_MAX);
	assert_string_equal(rep.warning, "");
}

static void
test_judge_ok_hashed_wildcard_names_both(void **state)
{
	struct persist_query q = query("example.com", true);
	struct persist_report rep;

	judge1(&q, "authority.example; accounturi=" HASH_EXAMPLE_COM "; policy=wildcard", &rep);
	assert_true(rep.ok);
	assert_true(rep.hashed);
	assert_true(rep.wildcard);
	assert_non_null(strstr(rep.verdict_line, " for example.com and *.example.com"));
}

static void
test_judge_warns_30_days_before_persist_until(void **state)
{
	struct persist_query q = query("example.com", false);
	struct persist_report rep;

	judge1(&q, "authority.example; accounturi=" ACCT "; persistUntil=1768435200", &rep);
	assert_true(rep.ok); /* 14 days left */
	assert_int_equal(rep.until, 1768435200);
	assert_non_null(strstr(rep.warning, "WARNING: "));
	assert_non_null(strstr(rep.warning, "2026-01-15T00:00:00Z"));
	assert_non_null(strstr(rep.warning, "in 14 days"));
	judge1(&q, "authority.example; accounturi=" ACCT "; persistUntil=1798675200", &rep);
	assert_true(rep.ok);
	assert_string_equal(rep.warning, "");
}

static void
test_judge_not_ok_says_why(void **state)
{
	struct persist_query q = query("example.com", false);
	struct persist_report rep;

	judge1(&q, "authority.example; accounturi=https://ca.example/acct/999", &rep);
	assert_false(rep.ok);
	assert_int_equal(rep.verdict, PERSIST_UNAUTHORIZED);
	assert_non_null(strstr(rep.verdict_line, "NOT OK: "));
	assert_non_null(strstr(rep.verdict_line, "acct/999"));
	assert_string_equal(rep.record,
			    "authority.example; accounturi=https://ca.example/acct/999");

	q = query("example.com", true); /* wildcard asked, record without policy */
	judge1(&q, "authority.example; accounturi=" ACCT, &rep);
	assert_false(rep.ok);
	assert_non_null(strstr(rep.verdict_line, "policy=wildcard"));

	q = query("example.com", false);
	persist_judge(&q, NULL, NULL, 0, &rep);
	assert_false(rep.ok);
	assert_non_null(strstr(rep.verdict_line, "NOT OK: "));
	assert_non_null(strstr(rep.verdict_line, "no TXT record"));
	assert_string_equal(rep.record, "");
}

static void
test_judge_any_valid_record_wins(void **state)
{
	struct persist_query q = query("example.com", false);
	struct persist_report rep;
	char *t[3] = {(char *)"other-ca.example; accounturi=x",
		      (char *)"authority.example; accounturi=" ACCT "; accounturi=" ACCT,
		      (char *)"authority.example; accounturi=" ACCT};
	size_t len[3] = {strlen(t[0]), strlen(t[1]), strlen(t[2])};
	char *js;
	json_t *j;

	persist_judge(&q, t, len, 3, &rep);
	assert_true(rep.ok);
	assert_string_equal(rep.record, t[2]);
	assert_non_null(js = persist_report_json(&q, &rep));
	assert_non_null(j = json_loads(js, 0, NULL));
	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_string_equal(json_string_value(json_object_get(j, "accounturi_form")), "plain");
	assert_true(json_is_null(json_object_get(j, "persistUntil")));
	json_decref(j);
	free(js);
	persist_judge(&q, t, len, 2, &rep); /* without the good one: malformed */
	assert_false(rep.ok);
	assert_int_equal(rep.verdict, PERSIST_MALFORMED);
}

/* --- the solver without a resolver -------------------------------------------------------- */

static void
test_solver_without_resolver_writes_and_checks_nothing(void **state)
{
	struct persist_solver_opts o = {.account_url = ACCT, .thumbprint = THUMB};
	struct solver_challenge c = {.type = "dns-persist-01", .identifier = "example.com"};
	struct solver *s = NULL;
	char err[256] = "";

	assert_int_equal(persist_solver_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_string_equal(s->type, "dns-persist-01");
	assert_null(s->ops->ready);
	assert_int_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->cleanup(s, &c, err, sizeof(err)), DEED_OK);
	s->ops->free(s);
}

/* --- against Knot ---------------------------------------------------------------------------- */

#define ZONE "example.test"
#define PNAME "_validation-persist." ZONE

static struct {
	struct labdns dns;
	char server[64];
	char key[PATH_MAX];
} lab;

static int
lab_up(void **state)
{
	if (labdns_start(&lab.dns) != 0)
		return -1;
	snprintf(lab.server, sizeof(lab.server), "127.0.0.1:%d", lab.dns.port);
	snprintf(lab.key, sizeof(lab.key), "%s/dns/tsig.bind.key", lab.dns.dir);
	return 0;
}

static int
lab_down(void **state)
{
	labdns_stop(&lab.dns);
	return 0;
}

/* The zone's SOA serial, as Knot serves it. */
static long
serial(void)
{
	char cmd[256], out[512] = "";
	long mname_serial = -1;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "kdig @127.0.0.1 -p %d +short SOA " ZONE, lab.dns.port);
	assert_non_null(p = popen(cmd, "r"));
	if (fgets(out, sizeof(out), p) != NULL)
		sscanf(out, "%*s %*s %ld", &mname_serial);
	pclose(p);
	return mname_serial;
}

static bool
has_value(const char *name, const char *value)
{
	char **v = NULL, err[256] = "";
	size_t *len = NULL, n = 0;
	bool found = false;

	if (solver_dns_query_txt(lab.server, name, &v, &len, &n, err, sizeof(err)) != DEED_OK)
		fail_msg("query: %s", err);
	for (size_t i = 0; i < n; i++)
		found = found || (len[i] == strlen(value) && memcmp(v[i], value, len[i]) == 0);
	solver_dns_txt_free(v, len, n);
	return found;
}

/*
 * A long record (over 255 octets, so two character-strings) is added next to what is there,
 * read back joined, and publishing it again sends nothing: the serial stays.
 */
static void
test_publish_adds_once_and_is_idempotent(void **state)
{
	struct solver_dns_opts o = {.server = lab.server, .tsig_file = lab.key, .ttl = 300};
	char value[400], err[512] = "", zone[256] = "";
	bool already = true;
	long s1, s2;

	assert_int_equal(labdns_update(&lab.dns, "update add " PNAME ". 60 TXT \"someone-else\""),
			 0);
	snprintf(value, sizeof(value), "authority.example; accounturi=%s; future=%0300d", ACCT, 7);
	if (solver_dns_publish_txt(&o, PNAME, value, &already, zone, sizeof(zone), err,
				   sizeof(err)) != DEED_OK)
		fail_msg("publish: %s", err);
	assert_false(already);
	assert_string_equal(zone, ZONE);
	assert_true(has_value(PNAME, value));
	assert_true(has_value(PNAME, "someone-else")); /* the RRset was added to, not replaced */
	s1 = serial();
	assert_true(s1 > 0);
	if (solver_dns_publish_txt(&o, PNAME, value, &already, NULL, 0, err, sizeof(err)) !=
	    DEED_OK)
		fail_msg("publish again: %s", err);
	assert_true(already);
	s2 = serial();
	assert_int_equal(s1, s2);
	assert_int_equal(labdns_update(&lab.dns, "update delete " PNAME ". TXT"), 0);
}

static void
test_query_txt_none_and_unreachable(void **state)
{
	char **v = NULL, err[256] = "";
	size_t *len = NULL, n = 5;

	assert_int_equal(solver_dns_query_txt(lab.server, "_validation-persist.nothing." ZONE, &v,
					      &len, &n, err, sizeof(err)),
			 DEED_OK);
	assert_int_equal(n, 0);
	solver_dns_txt_free(v, len, n);
	n = 5;
	assert_int_not_equal(
	    solver_dns_query_txt("127.0.0.1:1", PNAME, &v, &len, &n, err, sizeof(err)), DEED_OK);
	assert_int_equal(n, 0);
	assert_non_null(strstr(err, "127.0.0.1:1"));
}

/*
 * The solver's pre-check: a record at the name passes; a name below it passes only through an
 * ancestor's policy=wildcard record (as deed-ca climbs); a wrong account fails with the
 * verdict in err.
 */
static void
test_solver_checks_the_record_before_answering(void **state)
{
	struct persist_solver_opts o = {
	    .resolver = lab.server, .account_url = ACCT, .thumbprint = THUMB};
	struct solver_challenge apex = {
	    .type = "dns-persist-01", .identifier = ZONE, .issuers = issuers1, .n_issuers = 1};
	struct solver_challenge www = apex;
	struct solver *s = NULL;
	char err[2048] = "";

	www.identifier = "www." ZONE;
	assert_int_equal(persist_solver_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &apex, err, sizeof(err)), DEED_EDENIED);
	assert_non_null(strstr(err, "no TXT record"));

	assert_int_equal(labdns_update(&lab.dns,
				       "update add " PNAME ". 60 TXT \"authority.example; "
				       "accounturi=" ACCT "\""),
			 0);
	if (s->ops->present(s, &apex, err, sizeof(err)) != DEED_OK)
		fail_msg("apex: %s", err);
	assert_int_equal(s->ops->present(s, &www, err, sizeof(err)), DEED_EDENIED);

	assert_int_equal(labdns_update(&lab.dns,
				       "update delete " PNAME ". TXT\n"
				       "update add " PNAME ". 60 TXT \"authority.example; "
				       "accounturi=" ACCT "; policy=wildcard\""),
			 0);
	if (s->ops->present(s, &www, err, sizeof(err)) != DEED_OK)
		fail_msg("www through the ancestor: %s", err);

	assert_int_equal(labdns_update(&lab.dns,
				       "update delete " PNAME ". TXT\n"
				       "update add " PNAME ". 60 TXT \"authority.example; "
				       "accounturi=https://ca.example/acct/999\""),
			 0);
	assert_int_equal(s->ops->present(s, &apex, err, sizeof(err)), DEED_EDENIED);
	assert_non_null(strstr(err, "NOT OK: "));
	assert_non_null(strstr(err, "acct/999"));
	s->ops->free(s);
	assert_int_equal(labdns_update(&lab.dns, "update delete " PNAME ". TXT"), 0);
}

int
main(void)
{
	const struct CMUnitTest local[] = {
	    cmocka_unit_test(test_until_accepts_date_and_unix_time),
	    cmocka_unit_test(test_until_refuses_other_forms),
	    cmocka_unit_test(test_format_time_is_iso8601_utc),
	    cmocka_unit_test(test_dir_issuers_prefers_issuer_domain_names_sorted),
	    cmocka_unit_test(test_dir_issuers_falls_back_to_caa_identities),
	    cmocka_unit_test(test_dir_issuers_refuses_none_too_many_and_junk),
	    cmocka_unit_test(test_pick_issuer_first_or_asked),
	    cmocka_unit_test(test_build_hashed_is_bound_to_the_domain),
	    cmocka_unit_test(test_build_wildcard_name_and_until),
	    cmocka_unit_test(test_build_refuses_hashed_without_prefix_and_bad_names),
	    cmocka_unit_test(test_record_json_has_name_value_zone_line),
	    cmocka_unit_test(test_judge_ok_plain_with_details),
	    cmocka_unit_test(test_judge_ok_hashed_wildcard_names_both),
	    cmocka_unit_test(test_judge_warns_30_days_before_persist_until),
	    cmocka_unit_test(test_judge_not_ok_says_why),
	    cmocka_unit_test(test_judge_any_valid_record_wins),
	    cmocka_unit_test(test_solver_without_resolver_writes_and_checks_nothing),
	};
	const struct CMUnitTest knot[] = {
	    cmocka_unit_test(test_publish_adds_once_and_is_idempotent),
	    cmocka_unit_test(test_query_txt_none_and_unreachable),
	    cmocka_unit_test(test_solver_checks_the_record_before_answering),
	};
	int failed;

	failed = cmocka_run_group_tests_name("persist", local, NULL, NULL);
	failed += cmocka_run_group_tests_name("persist_knot", knot, lab_up, lab_down);
	return failed;
}
