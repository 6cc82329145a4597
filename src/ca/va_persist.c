#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpsl.h>

#include "error.h"
#include "issuevalue.h"
#include "va_dns.h"
#include "va_persist.h"

#define LABEL "_validation-persist."
#define MAX_LEVELS 16

static const char *
verdict_str(enum persist_verdict v)
{
	switch (v) {
	case PERSIST_VALID: return "valid";
	case PERSIST_MALFORMED: return "malformed";
	case PERSIST_UNAUTHORIZED: return "unauthorized";
	case PERSIST_IGNORED: return "ignored";
	}
	return "?";
}

/* One name's records judged; rec gets the audit entry. Returns DEED_EDNS when the lookup
 * failed (SERVFAIL, timeout, bogus). */
static int
judge(struct va_dns *d, const struct va_request *req, const char *domain, bool ancestor,
      int timeout_ms, json_t *rec, enum persist_verdict *v, int64_t *until, uint32_t *ttl,
      char *why, size_t whylen)
{
	struct va_dns_answer ans;
	struct persist_check c = {0};
	char qname[300];
	json_t *seen = json_array();
	size_t which = 0;
	int rc;

	snprintf(qname, sizeof(qname), LABEL "%s", domain);
	json_object_set_new(rec, "hostname", json_string(qname));
	json_object_set_new(rec, "records", seen);
	rc = va_dns_txt(d, qname, timeout_ms, &ans);
	if (rc != DEED_OK) {
		deed_seterr(why, whylen, "DNS lookup of TXT %s failed: %s", qname, deed_strerror(rc));
		json_object_set_new(rec, "result", json_string("dns error"));
		return DEED_EDNS;
	}
	json_object_set_new(rec, "dnssec", json_string(va_dnssec_str(ans.dnssec)));
	json_object_set_new(rec, "ttl", json_integer(ans.ttl));
	if (ans.dnssec == VA_DNSSEC_BOGUS || (ans.rcode != VA_DNS_NOERROR &&
					      ans.rcode != VA_DNS_NXDOMAIN)) {
		deed_seterr(why, whylen, "DNS lookup of TXT %s: %s", qname,
			    ans.dnssec == VA_DNSSEC_BOGUS ? "DNSSEC validation failed"
							  : va_dns_rcode_str(ans.rcode));
		json_object_set_new(rec, "result", json_string("dns error"));
		va_dns_answer_cleanup(&ans);
		return DEED_EDNS;
	}
	for (size_t i = 0; i < ans.n; i++)
		json_array_append_new(seen, json_stringn(ans.rr[i], ans.len[i]));
	c.issuers = req->issuers;
	c.n_issuers = req->n_issuers;
	c.account_url = req->account_url;
	c.accept_plain = req->accept_plain;
	c.hash_prefix = req->hash_prefix;
	c.thumbprints = req->thumbprints;
	c.n_thumbprints = req->n_thumbprints;
	c.record_domain = domain;
	/* A record at an ancestor covers the name only with policy=wildcard (deed's reading of
	 * the draft's subdomain scope, protocol notes §4.13 item 4). */
	c.need_wildcard_policy = req->wildcard || ancestor;
	c.now = (int64_t)time(NULL);
	if (ans.n == 0) {
		*v = PERSIST_UNAUTHORIZED;
		deed_seterr(why, whylen, "No TXT record found at %s", qname);
	} else {
		*v = persist_evaluate_all(&c, ans.rr, ans.len, ans.n, &which, until, why, whylen);
	}
	*ttl = ans.ttl;
	json_object_set_new(rec, "result", json_string(verdict_str(*v)));
	va_dns_answer_cleanup(&ans);
	return DEED_OK;
}

void
va_persist01(struct va_dns *d, const struct va_request *req, int timeout_ms,
	     struct va_result *res)
{
	char levels[MAX_LEVELS][256], first_why[400] = "";
	enum persist_verdict first = PERSIST_UNAUTHORIZED, worst_anc = PERSIST_IGNORED;
	char anc_why[400] = "";
	const psl_ctx_t *psl = psl_builtin();
	const char *reg = psl != NULL ? psl_registrable_domain(psl, req->identifier) : NULL;
	size_t n = 0;

	memset(res, 0, sizeof(*res));
	res->records = json_array();
	res->persist_until = INT64_MAX;
	/* The name itself, then each ancestor down to the registered domain, never above it:
	 * a record at a public suffix must not speak for everything under it. */
	for (const char *p = req->identifier; p != NULL && n < MAX_LEVELS;) {
		snprintf(levels[n++], sizeof(levels[0]), "%s", p);
		if (reg == NULL || strcmp(p, reg) == 0)
			break;
		p = strchr(p, '.');
		p = p != NULL ? p + 1 : NULL;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *rec = json_object();
		enum persist_verdict v = PERSIST_UNAUTHORIZED;
		int64_t until = INT64_MAX;
		uint32_t ttl = 0;
		char why[400] = "";
		int rc;

		json_array_append_new(res->records, rec);
		rc = judge(d, req, levels[i], i > 0, timeout_ms, rec, &v, &until, &ttl, why,
			   sizeof(why));
		if (rc != DEED_OK && i == 0) {
			res->prob = PROB_DNS;
			snprintf(res->detail, sizeof(res->detail), "%s", why);
			return;
		}
		if (rc != DEED_OK)
			continue;
		if (v == PERSIST_VALID) {
			res->ok = true;
			res->ttl = ttl;
			res->persist_until = until;
			snprintf(res->validated_name, sizeof(res->validated_name), LABEL "%s",
				 levels[i]);
			return;
		}
		if (i == 0) {
			first = v;
			snprintf(first_why, sizeof(first_why), "%s", why);
		} else if (v == PERSIST_MALFORMED ||
			   (v == PERSIST_UNAUTHORIZED && worst_anc == PERSIST_IGNORED)) {
			worst_anc = v;
			snprintf(anc_why, sizeof(anc_why), "%s", why);
		}
	}
	/* Malformed outranks unauthorized (the draft's error precedence); the name's own record
	 * speaks first. */
	if (first == PERSIST_MALFORMED || worst_anc != PERSIST_MALFORMED) {
		res->prob = first == PERSIST_MALFORMED ? PROB_MALFORMED : PROB_UNAUTHORIZED;
		snprintf(res->detail, sizeof(res->detail), "%s", first_why);
	} else {
		res->prob = PROB_MALFORMED;
		snprintf(res->detail, sizeof(res->detail), "%s", anc_why);
	}
}
