#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>

#include "error.h"
#include "knotsign.h"
#include "va.h"
#include "va_dns.h"
#include "vatest.h"

/*
 * DNSSEC validation against zones Knot really signs (ECDSA P-256, NSEC and NSEC3), with the
 * zones' own DS records as trust anchors:
 *   good:   signed.test. (NSEC), signed3.test. (NSEC3), plain.test. (unsigned)
 *   forged: signed.test. as good signed it, with one TXT record's RDATA replaced and its
 *           RRSIG kept, served as it is (an on-path attacker's answer)
 */

#define KA_WWW "tokWww.thumbprint-secure"
#define KA_FORGED "tokForged.thumbprint-attacker"
#define OWNER_VALUE "published-by-the-owner"
#define TIMEOUT_MS 5000

/* The root zone's KSK-2017 (as in /usr/share/dns/root.key of Debian's dns-root-data). */
#define ROOT_KSK                                                                                   \
	". IN DNSKEY 257 3 8 AwEAAaz/tAm8yTn4Mfeh5eyI96WSVexTBAvkMgJzkKTOiW1vkIbzxeF3+/4RgWOq7Hrx" \
	"RixHlFlExOLAJr5emLvN7SWXgnLh4+B5xQlNVz8Og8kvArMtNROxVQuCaSnIDdD5LKyWbRd2n9WGe2R8PzgCmr3E" \
	"gVLrjyBxWezF0jLHwVN8efS3rCj/EWgvIWgb9tarpVUDK/b58Da+sqqls3eNbuv7pr+eoZG+SrDK6nWeL3c6H5Ap" \
	"xz7LjVc1uTIdsIXxuOLYA4/ilBmSVIzuDWfdRUfhHdY6+cn8HFRm+2hM8AnXGXws9555KrUB5qihylGa8subX2Nn" \
	"6UwNR1AkUTV74bU= ; keytag 20326\n"

static struct knotsign good, forged;
static char anchors[128];		     /* DS of signed.test. and signed3.test. */
static char root_anchors[128];		     /* the root's KSK and the same DS */
static char root_only[128];		     /* the root's KSK alone */
static struct va *va_good, *va_forged;	     /* anchors; through good / forged */
static struct va *va_forged_blind;	     /* no anchors; through forged */
static struct va_dns *dns_good, *dns_forged; /* anchors; for the lookup API */

/* dns-01 for ident with key authorization ka. */
static void
validate(struct va *v, const char *ident, const char *ka, struct va_result *res)
{
	vatest_validate(v, "dns-01", ident, "tok", ka, res);
}

static const char *
record_dnssec(const struct va_result *res)
{
	return json_string_value(json_object_get(json_array_get(res->records, 0), "dnssec"));
}

static void
lookup(struct va_dns *d, const char *name, int rrtype, struct va_dns_answer *ans)
{
	assert_int_equal(va_dns_lookup(d, name, rrtype, TIMEOUT_MS, ans), DEED_OK);
}

/* A va_dns through good with the anchor file at path. */
static struct va_dns *
dns_with(const char *path)
{
	struct va_dns *d;
	char err[256] = "";

	if (va_dns_new(good.resolver, path, &d, err, sizeof(err)) != DEED_OK)
		fail_msg("va_dns_new(%s): %s", path, err);
	return d;
}

static int
zone_text(char *buf, size_t bufsz, const char *origin, const char *extra)
{
	char v[64];

	txt_for(KA_WWW, v);
	return snprintf(buf, bufsz,
			"$ORIGIN %s\n$TTL 300\n"
			"@ SOA ns hostmaster 1 3600 600 86400 300\n"
			"@ NS ns\nns A 127.0.0.1\nwww A 127.0.0.1\n"
			"_acme-challenge.www TXT \"%s\"\n%s",
			origin, v, extra) < (int)bufsz
		   ? 0
		   : -1;
}

/* The dump of good's signed.test. with the owner's TXT value replaced by the attacker's. */
static int
forge_zone(char *out, size_t outsz)
{
	char path[128], v[64], *text = NULL, *at;
	size_t len = 0;
	FILE *f;
	int rc = -1;

	if (knotsign_dump(&good, "signed.test.", path, sizeof(path)) != 0 ||
	    (f = fopen(path, "r")) == NULL)
		return -1;
	text = calloc(1, outsz);
	if (text != NULL)
		len = fread(text, 1, outsz - 1, f);
	fclose(f);
	/* exactly one such record, and its RRSIG kept as Knot made it */
	if (text == NULL || len == outsz - 1 ||
	    (at = strstr(text, "\"" OWNER_VALUE "\"")) == NULL ||
	    strstr(at + 1 + strlen(OWNER_VALUE), OWNER_VALUE) != NULL ||
	    strstr(text, "RRSIG\tTXT") == NULL)
		goto out;
	txt_for(KA_FORGED, v);
	*at = '\0';
	if (snprintf(out, outsz, "%s\"%s\"%s", text, v, at + strlen(OWNER_VALUE) + 2) < (int)outsz)
		rc = 0;
out:
	free(text);
	return rc;
}

static int
new_va(const char *resolver, const char *ta, struct va **out)
{
	struct va_config cfg = {.http01_port = 80,
				.tlsalpn01_port = 443,
				.timeout_ms = TIMEOUT_MS,
				.resolver = resolver,
				.trust_anchor_file = ta};
	char err[256] = "";
	int rc = va_new(&cfg, out, err, sizeof(err));

	if (rc != DEED_OK)
		fprintf(stderr, "va_new: %s\n", err);
	return rc;
}

static int
group_setup(void **state)
{
	static char signed_zone[2048], signed3_zone[1024], plain_zone[1024], forged_zone[16384];
	struct knotsign_zone zones[] = {
	    {"signed.test.", signed_zone, KNOTSIGN_NSEC},
	    {"signed3.test.", signed3_zone, KNOTSIGN_NSEC3},
	    {"plain.test.", plain_zone, KNOTSIGN_UNSIGNED},
	};
	struct knotsign_zone forged_zones[] = {{"signed.test.", forged_zone, KNOTSIGN_UNSIGNED}};
	char err[256] = "";

	(void)state;
	if (zone_text(signed_zone, sizeof(signed_zone), "signed.test.",
		      "_acme-challenge.forged TXT \"" OWNER_VALUE "\"\n") != 0 ||
	    zone_text(signed3_zone, sizeof(signed3_zone), "signed3.test.", "") != 0 ||
	    zone_text(plain_zone, sizeof(plain_zone), "plain.test.", "") != 0)
		return -1;
	if (knotsign_start(&good, zones, 3) != 0)
		return -1;
	snprintf(anchors, sizeof(anchors), "%s/anchors", good.dir);
	snprintf(root_anchors, sizeof(root_anchors), "%s/root+anchors", good.dir);
	snprintf(root_only, sizeof(root_only), "%s/root.key", good.dir);
	if (knotsign_ds(&good, "signed.test.", anchors) != 0 ||
	    knotsign_ds(&good, "signed3.test.", anchors) != 0 ||
	    !knotsign_write(root_only, "%s", ROOT_KSK) ||
	    !labdns_sh("cat '%s' '%s' >'%s'", root_only, anchors, root_anchors)) {
		fprintf(stderr, "test_va_dnssec: no trust anchors from keymgr\n");
		goto fail;
	}
	if (forge_zone(forged_zone, sizeof(forged_zone)) != 0) {
		fprintf(stderr, "test_va_dnssec: cannot forge the signed zone\n");
		goto fail;
	}
	if (knotsign_start(&forged, forged_zones, 1) != 0)
		goto fail;
	if (new_va(good.resolver, anchors, &va_good) != DEED_OK ||
	    new_va(forged.resolver, anchors, &va_forged) != DEED_OK ||
	    new_va(forged.resolver, NULL, &va_forged_blind) != DEED_OK ||
	    va_dns_new(good.resolver, anchors, &dns_good, err, sizeof(err)) != DEED_OK ||
	    va_dns_new(forged.resolver, anchors, &dns_forged, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "test_va_dnssec: %s\n", err);
		goto fail;
	}
	return 0;
fail:
	knotsign_stop(&forged);
	knotsign_stop(&good);
	return -1;
}

static int
group_teardown(void **state)
{
	(void)state;
	va_free(va_good);
	va_free(va_forged);
	va_free(va_forged_blind);
	va_dns_free(dns_good);
	va_dns_free(dns_forged);
	knotsign_stop(&forged);
	knotsign_stop(&good);
	return 0;
}

static void
signed_answers_are_secure(void **state)
{
	struct va_dns_answer ans;

	(void)state;
	lookup(dns_good, "www.signed.test", VA_DNS_A, &ans);
	assert_int_equal(ans.rcode, VA_DNS_NOERROR);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	assert_int_equal(ans.n, 1);
	assert_string_equal(ans.rr[0], "127.0.0.1");
	va_dns_answer_cleanup(&ans);

	/* The NSEC3 zone too. */
	lookup(dns_good, "_acme-challenge.www.signed3.test", VA_DNS_TXT, &ans);
	assert_int_equal(ans.rcode, VA_DNS_NOERROR);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	assert_int_equal(ans.n, 1);
	va_dns_answer_cleanup(&ans);
}

static void
dns01_signed_record_validates_secure(void **state)
{
	const char *idents[] = {"www.signed.test", "www.signed3.test"};
	struct va_result res;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		validate(va_good, idents[i], KA_WWW, &res);
		if (!res.ok)
			fail_msg("%s: %s", idents[i], res.detail);
		assert_string_equal(record_dnssec(&res), "secure");
		va_result_cleanup(&res);
	}
}

static void
nonexistence_is_proven_secure(void **state)
{
	const char *nx[] = {"nope.signed.test", "nope.signed3.test", "a.b.nope.signed3.test"};
	struct va_dns_answer ans;
	struct va_result res;

	(void)state;
	/* NXDOMAIN: NSEC and NSEC3 denial of existence validate. */
	for (size_t i = 0; i < 3; i++) {
		lookup(dns_good, nx[i], VA_DNS_TXT, &ans);
		assert_int_equal(ans.rcode, VA_DNS_NXDOMAIN);
		if (ans.dnssec != VA_DNSSEC_SECURE)
			fail_msg("%s: %s %s", nx[i], va_dnssec_str(ans.dnssec), ans.why_bogus);
		va_dns_answer_cleanup(&ans);
	}
	/* NODATA: the name exists, the type does not. */
	lookup(dns_good, "www.signed3.test", VA_DNS_AAAA, &ans);
	assert_int_equal(ans.rcode, VA_DNS_NOERROR);
	assert_int_equal(ans.n, 0);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	va_dns_answer_cleanup(&ans);

	/* A dns-01 with no record: unauthorized, and the absence is proven. */
	validate(va_good, "absent.signed.test", KA_WWW, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail,
			    "No TXT record found at _acme-challenge.absent.signed.test");
	assert_string_equal(record_dnssec(&res), "secure");
	va_result_cleanup(&res);
}

static void
forged_record_is_bogus(void **state)
{
	struct va_dns_answer ans;
	char v[64];

	(void)state;
	/* libunbound hands the records over with the verdict; va_dns_failed looks at the
	 * verdict first, so no caller compares them. */
	txt_for(KA_FORGED, v);
	lookup(dns_forged, "_acme-challenge.forged.signed.test", VA_DNS_TXT, &ans);
	assert_int_equal(ans.dnssec, VA_DNSSEC_BOGUS);
	assert_int_equal(ans.n, 1);
	assert_string_equal(ans.rr[0], v); /* what the forged server serves */
	assert_contains(ans.why_bogus, "_acme-challenge.forged.signed.test");
	va_dns_answer_cleanup(&ans);

	/* The rest of the forged server's zone is intact and still validates: the failure is
	 * the changed record's, not the server's. */
	lookup(dns_forged, "_acme-challenge.www.signed.test", VA_DNS_TXT, &ans);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	assert_int_equal(ans.n, 1);
	va_dns_answer_cleanup(&ans);
}

static void
dns01_forged_record_fails_dnssec(void **state)
{
	struct va_result res;

	(void)state;
	/* Without validation the forgery would pass: it holds the attacker's right value. */
	validate(va_forged_blind, "forged.signed.test", KA_FORGED, &res);
	assert_true(res.ok);
	assert_string_equal(record_dnssec(&res), "insecure");
	va_result_cleanup(&res);

	validate(va_forged, "forged.signed.test", KA_FORGED, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(
	    res.detail,
	    "DNSSEC validation failed looking up TXT for _acme-challenge.forged.signed.test");
	assert_string_equal(record_dnssec(&res), "bogus");
	va_result_cleanup(&res);

	/* What the zone really holds, through the good server: the owner's value. */
	validate(va_good, "forged.signed.test", KA_FORGED, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "Incorrect TXT record \"" OWNER_VALUE "\"");
	assert_string_equal(record_dnssec(&res), "secure");
	va_result_cleanup(&res);
}

static void
wrong_anchor_is_bogus(void **state)
{
	struct va_dns_answer ans;
	struct va_dns *d;
	char path[128];

	(void)state;
	/* A DS that matches no key of the zone: a key the zone never had, or a stale anchor. */
	snprintf(path, sizeof(path), "%s/wrong-ds", good.dir);
	assert_true(knotsign_write(path, "signed.test. IN DS 12345 13 2 "
					 "4d2b0a5c1e9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6"
					 "a5b4c3d\n"));
	d = dns_with(path);
	lookup(d, "www.signed.test", VA_DNS_A, &ans);
	assert_int_equal(ans.dnssec, VA_DNSSEC_BOGUS);
	assert_contains(ans.why_bogus, "signed.test");
	va_dns_answer_cleanup(&ans);
	va_dns_free(d);
}

static void
unsigned_zone_is_insecure(void **state)
{
	struct va_dns_answer ans;
	struct va_result res;

	(void)state;
	/* plain.test is under no anchor of the file. */
	lookup(dns_good, "www.plain.test", VA_DNS_A, &ans);
	assert_int_equal(ans.rcode, VA_DNS_NOERROR);
	assert_int_equal(ans.dnssec, VA_DNSSEC_INSECURE);
	assert_int_equal(ans.n, 1);
	va_dns_answer_cleanup(&ans);

	validate(va_good, "www.plain.test", KA_WWW, &res);
	if (!res.ok)
		fail_msg("%s", res.detail);
	assert_string_equal(record_dnssec(&res), "insecure");
	va_result_cleanup(&res);
}

static void
root_anchor_leaves_test_insecure(void **state)
{
	/* deed-ca's default, when dns-root-data is installed */
	const char *roots[] = {root_only, "/usr/share/dns/root.key"};
	struct va_dns_answer ans;
	struct va_dns *d;

	(void)state;
	/* The root's anchor and a forwarder that serves only .test zones: no chain of trust
	 * reaches test. (RFC 6761), and the names under it are insecure, not bogus. */
	for (size_t i = 0; i < 2; i++) {
		if (i > 0 && access(roots[i], R_OK) != 0)
			continue;
		d = dns_with(roots[i]);
		lookup(d, "www.plain.test", VA_DNS_A, &ans);
		assert_int_equal(ans.dnssec, VA_DNSSEC_INSECURE);
		assert_int_equal(ans.n, 1);
		va_dns_answer_cleanup(&ans);
		lookup(d, "www.signed.test", VA_DNS_A, &ans);
		assert_int_equal(ans.dnssec, VA_DNSSEC_INSECURE);
		va_dns_answer_cleanup(&ans);
		va_dns_free(d);
	}

	/* With the zones' own anchors next to the root's, those zones are secure again. */
	d = dns_with(root_anchors);
	lookup(d, "www.signed.test", VA_DNS_A, &ans);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	va_dns_answer_cleanup(&ans);
	lookup(d, "nope.signed3.test", VA_DNS_A, &ans);
	assert_int_equal(ans.rcode, VA_DNS_NXDOMAIN);
	assert_int_equal(ans.dnssec, VA_DNSSEC_SECURE);
	va_dns_answer_cleanup(&ans);
	lookup(d, "www.plain.test", VA_DNS_A, &ans);
	assert_int_equal(ans.dnssec, VA_DNSSEC_INSECURE);
	va_dns_answer_cleanup(&ans);
	va_dns_free(d);
}

static void
anchor_file_must_hold_anchors(void **state)
{
	struct {
		const char *text;
		const char *err;
	} bad[] = {
	    {"", "no DS or DNSKEY record"},
	    {"; signed.test. IN DS 1 13 2 00\n\n", "no DS or DNSKEY record"},
	    {"signed.test. IN DS not-a-key-tag\n", "DNSSEC trust anchors"},
	};
	struct va_dns *d = NULL;
	char path[128], err[256];
	int64_t t0;

	(void)state;
	/* Every one would otherwise mean no validation, or a resolver that never starts:
	 * refused at start, with the file named. */
	snprintf(path, sizeof(path), "%s/bad-anchors", good.dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_true(knotsign_write(path, "%s", bad[i].text));
		err[0] = '\0';
		assert_int_equal(va_dns_new(good.resolver, path, &d, err, sizeof(err)),
				 DEED_EINVAL);
		assert_null(d);
		assert_contains(err, bad[i].err);
		assert_contains(err, path);
	}
	/* libunbound alone would read a directory for ever. */
	t0 = (int64_t)time(NULL);
	assert_int_equal(va_dns_new(good.resolver, good.dir, &d, err, sizeof(err)), DEED_EINVAL);
	assert_true((int64_t)time(NULL) - t0 < 5);
	assert_contains(err, "not a regular file");
	snprintf(path, sizeof(path), "%s/missing", good.dir);
	assert_int_equal(va_dns_new(good.resolver, path, &d, err, sizeof(err)), DEED_EINVAL);
	assert_contains(err, path);
	assert_contains(err, "No such file");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(signed_answers_are_secure),
	    cmocka_unit_test(dns01_signed_record_validates_secure),
	    cmocka_unit_test(nonexistence_is_proven_secure),
	    cmocka_unit_test(forged_record_is_bogus),
	    cmocka_unit_test(dns01_forged_record_fails_dnssec),
	    cmocka_unit_test(wrong_anchor_is_bogus),
	    cmocka_unit_test(unsigned_zone_is_insecure),
	    cmocka_unit_test(root_anchor_leaves_test_insecure),
	    cmocka_unit_test(anchor_file_must_hold_anchors),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
