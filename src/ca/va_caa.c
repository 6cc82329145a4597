#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "error.h"
#include "issuevalue.h"
#include "va_caa.h"
#include "va_dns.h"

#define BATCH 16       /* levels per va_dns_lookup_many (its own cap) */
#define MAX_LEVELS 128 /* a 253-octet name has at most 127 labels */
#define HEX_MAX 32     /* octets of an unparseable RDATA shown in hex */
#define LIST_MAX 1024  /* the records named in a reason, before the caller's cap */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive in ASCII only: the C library's strcasecmp follows the locale. */
static bool
ascii_ieqn(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (ascii_lower(a[i]) != ascii_lower(b[i]))
			return false;
	return true;
}

static bool
is_alnum(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int
va_caa_parse(const uint8_t *rdata, size_t len, struct va_caa_rr *out)
{
	size_t taglen;

	memset(out, 0, sizeof(*out));
	if (rdata == NULL || len < 2)
		return DEED_EMALFORMED;
	taglen = rdata[1];
	if (taglen == 0 || taglen > VA_CAA_TAG_MAX || taglen > len - 2)
		return DEED_EMALFORMED;
	for (size_t i = 0; i < taglen; i++)
		if (!is_alnum(rdata[2 + i]))
			return DEED_EMALFORMED;
	out->flags = rdata[0];
	out->tag = (const char *)rdata + 2;
	out->taglen = taglen;
	out->value = (const char *)rdata + 2 + taglen;
	out->vlen = len - 2 - taglen;
	return DEED_OK;
}

void
va_caa_rr_text(const uint8_t *rdata, size_t len, char *out, size_t outsz)
{
	struct va_caa_rr rr;
	char v[408];
	size_t o;

	if (outsz == 0)
		return;
	if (va_caa_parse(rdata, len, &rr) == DEED_OK) {
		va_printable(rr.value, rr.vlen, v, sizeof(v));
		snprintf(out, outsz, "%u %.*s \"%s\"", rr.flags, (int)rr.taglen, rr.tag, v);
		return;
	}
	o = (size_t)snprintf(out, outsz, "\\# %zu%s", len, len > 0 ? " " : "");
	for (size_t i = 0; i < len && i < HEX_MAX && o + 3 < outsz; i++)
		o += (size_t)snprintf(out + o, outsz - o, "%02x", rdata[i]);
	if (len > HEX_MAX && o + 4 <= outsz)
		snprintf(out + o, outsz - o, "...");
}

static bool
tag_is(const struct va_caa_rr *rr, const char *tag)
{
	return ascii_ieqn(rr->tag, rr->taglen, tag, strlen(tag));
}

/* RFC 8659 §4.2-4.4 and the tags other CAA consumers define (RFC 9495 issuemail; the BIMI
 * group's issuevmc): we know what they mean, so their critical flag does not stop us. */
static bool
tag_known(const struct va_caa_rr *rr)
{
	return tag_is(rr, "issue") || tag_is(rr, "issuewild") || tag_is(rr, "iodef") ||
	       tag_is(rr, "issuemail") || tag_is(rr, "issuevmc");
}

/* The name compared as RFC 8659 §4.2 asks (a domain name: case-insensitive), with the one
 * allowance of a trailing dot on either side. */
static bool
issuer_is_ours(const struct va_caa_request *req, const char *issuer)
{
	size_t n = strlen(issuer);

	if (n > 0 && issuer[n - 1] == '.')
		n--;
	if (n == 0)
		return false;
	for (size_t i = 0; i < req->n_issuers; i++) {
		const char *ours = req->issuers[i];
		size_t m = ours != NULL ? strlen(ours) : 0;

		if (m > 0 && ours[m - 1] == '.')
			m--;
		if (m > 0 && ascii_ieqn(issuer, n, ours, m))
			return true;
	}
	return false;
}

/* RFC 8657 §4: value = label *("," label), label = (ALPHA / DIGIT) *( *("-") (ALPHA /
 * DIGIT)). Returns false for a list that breaks the grammar; *listed says whether method is
 * one of the labels (compared exactly: ACME challenge types are lowercase by registration). */
static bool
methods_parse(const char *v, const char *method, bool *listed)
{
	size_t mlen = method != NULL ? strlen(method) : 0;

	*listed = false;
	for (const char *p = v;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == 0 || !is_alnum((unsigned char)p[0]) || !is_alnum((unsigned char)p[n - 1]))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!is_alnum((unsigned char)p[i]) && p[i] != '-')
				return false;
		if (mlen > 0 && n == mlen && memcmp(p, method, n) == 0)
			*listed = true;
		if (comma == NULL)
			return true;
		p = comma + 1;
	}
}

/*
 * Does this issue/issuewild record authorize req? When not, and the record is ours (or
 * names nobody), reason gets why; for another CA's record reason stays "".
 */
static bool
authorizes(const struct va_caa_request *req, const struct va_caa_rr *rr, struct issuevalue *iv,
	   char *reason, size_t reasonlen)
{
	char err[512];
	const char *v;
	bool listed;

	reason[0] = '\0';
	/* RFC 8659 §4.2's issue-value is printable ASCII and WSP; anything else (a NUL, UTF-8)
	 * would only let a name compare equal that is not what the record says. */
	for (size_t i = 0; i < rr->vlen; i++) {
		unsigned char c = (unsigned char)rr->value[i];

		if (c != '\t' && (c < 0x20 || c > 0x7e)) {
			deed_seterr(reason, reasonlen, "value holds octet \\%03u", c);
			return false;
		}
	}
	if (issuevalue_parse(rr->value, rr->vlen, iv, err, sizeof(err)) != DEED_OK) {
		if (issuer_is_ours(req, iv->issuer_raw))
			deed_seterr(reason, reasonlen, "malformed: %s", err);
		return false;
	}
	if (iv->issuer_raw[0] == '\0') {
		deed_seterr(reason, reasonlen, "names no issuer, so allows nobody");
		return false;
	}
	if (!issuer_is_ours(req, iv->issuer_raw))
		return false;
	for (size_t i = 0; i < iv->n_params; i++) {
		if (issuevalue_count(iv, iv->params[i].tag) > 1) {
			deed_seterr(reason, reasonlen, "parameter %.64s appears more than once",
				    iv->params[i].tag);
			return false;
		}
	}
	/* RFC 8657 §3: the account URL as the CA gives it to the client, byte for byte. */
	if ((v = issuevalue_get(iv, "accounturi")) != NULL &&
	    (req->account_url == NULL || strcmp(v, req->account_url) != 0)) {
		deed_seterr(reason, reasonlen, "accounturi is not this account's URL");
		return false;
	}
	if ((v = issuevalue_get(iv, "validationmethods")) != NULL) {
		if (!methods_parse(v, req->method, &listed)) {
			deed_seterr(reason, reasonlen, "validationmethods is malformed");
			return false;
		}
		if (!listed) {
			deed_seterr(reason, reasonlen, "validationmethods does not list %.32s",
				    req->method != NULL ? req->method : "(none)");
			return false;
		}
	}
	return true;
}

/* Append text to the list in buf (", " between items), keeping it NUL-terminated. */
static void
list_add(char *buf, size_t bufsz, const char *text)
{
	size_t o = strlen(buf);

	if (o + 1 < bufsz)
		snprintf(buf + o, bufsz - o, "%s%s", o > 0 ? ", " : "", text);
}

static enum va_caa_verdict
evaluate(const struct va_caa_request *req, const char *owner, char *const *rdata, const size_t *len,
	 size_t n, struct issuevalue *iv, char *why, size_t whylen)
{
	char text[512], first_text[520] = "", reason[600] = "", first_reason[600] = "";
	char list[LIST_MAX] = "";
	const char *sel = "issue";
	struct va_caa_rr rr;
	size_t nsel = 0;

	owner = owner != NULL ? owner : "(none)";
	for (size_t i = 0; i < n; i++) {
		const uint8_t *p = (const uint8_t *)rdata[i];
		bool parsed = va_caa_parse(p, len[i], &rr) == DEED_OK;

		/* RFC 8659 §4.1: a critical property we do not understand forbids issuance. An
		 * RDATA we cannot read at all, flagged critical, is such a property too. */
		if ((parsed && !tag_known(&rr) && (rr.flags & VA_CAA_CRITICAL_BITS)) ||
		    (!parsed && len[i] > 0 && (p[0] & VA_CAA_CRITICAL_BITS))) {
			va_caa_rr_text(p, len[i], text, sizeof(text));
			deed_seterr(why, whylen,
				    "CAA record for %s has a critical property deed does not "
				    "understand: %s",
				    owner, text);
			return VA_CAA_CRITICAL;
		}
		/* RFC 8659 §4.3: any issuewild replaces the issue records for a wildcard. */
		if (parsed && req->wildcard && tag_is(&rr, "issuewild"))
			sel = "issuewild";
	}
	for (size_t i = 0; i < n; i++) {
		if (va_caa_parse((const uint8_t *)rdata[i], len[i], &rr) != DEED_OK ||
		    !tag_is(&rr, sel))
			continue;
		nsel++;
		va_caa_rr_text((const uint8_t *)rdata[i], len[i], text, sizeof(text));
		if (authorizes(req, &rr, iv, reason, sizeof(reason))) {
			deed_seterr(why, whylen, "CAA record for %s allows issuance: %s", owner,
				    text);
			return VA_CAA_ALLOWED;
		}
		list_add(list, sizeof(list), text);
		if (first_reason[0] == '\0' && reason[0] != '\0') {
			snprintf(first_reason, sizeof(first_reason), "%s", reason);
			snprintf(first_text, sizeof(first_text), "%s: ", text);
		}
	}
	if (nsel == 0) {
		deed_seterr(why, whylen, "no %s property in the CAA records for %s", sel, owner);
		return VA_CAA_ALLOWED;
	}
	/* Why our own record did not do: after the record when it is the only one, else
	 * naming which of them. */
	deed_seterr(why, whylen, "CAA record for %s prevents issuance: %s%s%s%s%s", owner, list,
		    first_reason[0] != '\0' ? " (" : "", nsel > 1 ? first_text : "", first_reason,
		    first_reason[0] != '\0' ? ")" : "");
	return VA_CAA_REFUSED;
}

enum va_caa_verdict
va_caa_evaluate(const struct va_caa_request *req, const char *owner, char *const *rdata,
		const size_t *len, size_t n, char *why, size_t whylen)
{
	/* 35 KB: on the heap, not on an RA worker's stack. */
	struct issuevalue *iv = malloc(sizeof(*iv));
	enum va_caa_verdict v;

	if (iv == NULL) {
		deed_seterr(why, whylen, "out of memory evaluating the CAA records for %s",
			    owner != NULL ? owner : "(none)");
		return VA_CAA_REFUSED;
	}
	v = evaluate(req, owner, rdata, len, n, iv, why, whylen);
	free(iv);
	return v;
}

/* The identifier as a query name: no "*.", no trailing dot, lowercase. false when it is not
 * a name at all (empty, empty label, too long). */
static bool
query_name(const char *ident, bool *wildcard, char *out, size_t outsz)
{
	size_t n;

	if (ident == NULL)
		return false;
	if (strncmp(ident, "*.", 2) == 0) {
		ident += 2;
		*wildcard = true;
	}
	n = strlen(ident);
	if (n > 0 && ident[n - 1] == '.')
		n--;
	if (n == 0 || n > 253 || n >= outsz || ident[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (ident[i] == '.' && ident[i + 1] == '.')
			return false;
		out[i] = ascii_lower(ident[i]);
	}
	out[n] = '\0';
	return true;
}

/* The weaker of two DNSSEC states: bogus < insecure < secure. */
static enum va_dnssec
weaker(enum va_dnssec a, enum va_dnssec b)
{
	if (a == VA_DNSSEC_BOGUS || b == VA_DNSSEC_BOGUS)
		return VA_DNSSEC_BOGUS;
	if (a == VA_DNSSEC_INSECURE || b == VA_DNSSEC_INSECURE)
		return VA_DNSSEC_INSECURE;
	return VA_DNSSEC_SECURE;
}

/* The validationRecord of one CAA check (documented in va_caa.h). */
static void
add_record(struct va_result *res, const char *name, const struct va_dns_answer *ans,
	   enum va_dnssec dnssec, const char *result)
{
	json_t *list = json_array(), *caa = json_object(), *rec = json_object();
	char text[512];

	if (ans != NULL) {
		for (size_t i = 0; i < ans->n; i++) {
			va_caa_rr_text((const uint8_t *)ans->rr[i], ans->len[i], text,
				       sizeof(text));
			json_array_append_new(list, json_string(text));
		}
	}
	json_object_set_new(caa, "name", name != NULL ? json_string(name) : json_null());
	json_object_set_new(caa, "records", list);
	json_object_set_new(caa, "dnssec", json_string(va_dnssec_str(dnssec)));
	json_object_set_new(caa, "result", json_string(result));
	json_object_set_new(rec, "caa", caa);
	if (res->records == NULL)
		res->records = json_array();
	json_array_append_new(res->records, rec);
}

/* Decide at one level. Returns true when the climb ends here (a failure or a relevant set). */
static bool
at_level(const struct va_caa_request *req, struct va_dns_query *q, enum va_dnssec *dnssec,
	 struct va_result *res)
{
	enum va_caa_verdict v;
	char why[sizeof(res->detail)];

	if (q->rc == DEED_OK)
		*dnssec = weaker(*dnssec, q->ans.dnssec);
	if (va_dns_failed(q->rc, &q->ans, q->name, VA_DNS_CAA, res->detail, sizeof(res->detail))) {
		res->ok = false;
		res->prob = PROB_DNS;
		add_record(res, q->name, NULL, *dnssec, "dns error");
		return true;
	}
	if (q->ans.n == 0)
		return false;
	v = va_caa_evaluate(req, q->name, q->ans.rr, q->ans.len, q->ans.n, why, sizeof(why));
	res->ok = v == VA_CAA_ALLOWED;
	if (!res->ok) {
		res->prob = PROB_CAA;
		snprintf(res->detail, sizeof(res->detail), "%s", why);
	}
	add_record(res, q->name, &q->ans, q->ans.dnssec, res->ok ? "allowed" : "refused");
	return true;
}

void
va_caa_check(struct va_dns *d, const struct va_caa_request *req, int timeout_ms,
	     struct va_result *res)
{
	struct va_caa_request r = *req;
	struct va_dns_query q[BATCH];
	const char *levels[MAX_LEVELS];
	enum va_dnssec dnssec = VA_DNSSEC_SECURE;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	char name[256];
	size_t n = 0;
	bool done = false;

	if (!query_name(req->identifier, &r.wildcard, name, sizeof(name))) {
		res->ok = false;
		res->prob = PROB_MALFORMED;
		deed_seterr(res->detail, sizeof(res->detail), "no DNS name to check CAA for");
		add_record(res, NULL, NULL, VA_DNSSEC_INSECURE, "refused");
		return;
	}
	/* RFC 8659 §3: the name, then each parent, up to but not including the root. */
	for (const char *p = name; p != NULL && n < MAX_LEVELS;) {
		levels[n++] = p;
		p = strchr(p, '.');
		p = p != NULL ? p + 1 : NULL;
	}
	/* Most specific first; a batch further up is asked only when this one decided nothing,
	 * which for any real name means one batch. */
	for (size_t start = 0; start < n && !done; start += BATCH) {
		size_t m = n - start < BATCH ? n - start : BATCH;
		int64_t left = deadline - now_ms();

		for (size_t i = 0; i < m; i++) {
			q[i].name = levels[start + i];
			q[i].rrtype = VA_DNS_CAA;
		}
		va_dns_lookup_many(d, q, m, left > 0 ? (int)left : 0);
		for (size_t i = 0; i < m; i++) {
			if (!done)
				done = at_level(&r, &q[i], &dnssec, res);
			va_dns_answer_cleanup(&q[i].ans);
		}
	}
	if (!done) {
		/* RFC 8659 §3: no CAA RRset anywhere up the tree, issuance is not restricted. */
		res->ok = true;
		add_record(res, NULL, NULL, dnssec, "allowed");
	}
}
