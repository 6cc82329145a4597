#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "va.h"
#include "va_dns.h"

/*
 * CAA for the CA (RFC 8659, with RFC 8657's accounturi and validationmethods): may we issue
 * for this name, to this account, after this validation method? Split in three so that the
 * parts that read untrusted bytes can be fuzzed and unit-tested without DNS:
 *
 *   va_caa_parse     one RR's RDATA -> flags, tag, value
 *   va_caa_evaluate  one relevant RRset (raw RDATA) -> allowed / refused
 *   va_caa_check     finds the relevant RRset in the DNS, then evaluates it
 */

#define VA_CAA_TAG_MAX 15 /* RFC 8659 §4.1: tag length 1..15 */

/* Flag bits that make a property critical. RFC 8659 §4.1 defines bit 0 of the flags octet
 * (value 128); RFC 6844's figure numbered the bits the other way, so some records set 1
 * meaning "critical": both count, as refusing is the safe reading of an ambiguous flag. */
#define VA_CAA_CRITICAL_BITS 0x81

struct va_caa_request {
	const char *identifier; /* DNS name, no "*.", no trailing dot */
	bool wildcard;		/* the order names "*.<identifier>" */
	const char *method;	/* challenge type that validated: "http-01", "dns-01", ... */
	const char *account_url;
	const char *const *issuers; /* our issuer domain names (caa_identities) */
	size_t n_issuers;
};

/* One CAA RR, parsed. tag and value point into the RDATA given to va_caa_parse. */
struct va_caa_rr {
	uint8_t flags;
	const char *tag; /* not NUL-terminated */
	size_t taglen;	 /* 1..VA_CAA_TAG_MAX, [A-Za-z0-9] only */
	const char *value;
	size_t vlen;
};

/*
 * RFC 8659 §4.1: flags (1 octet), tag length (1 octet), tag, value (the rest). Refuses RDATA
 * too short for its tag, a tag length of 0 or over 15, and a tag with characters other than
 * ASCII letters and digits. The value is not looked at.
 * Returns DEED_OK or DEED_EMALFORMED.
 */
int va_caa_parse(const uint8_t *rdata, size_t len, struct va_caa_rr *out);

/*
 * The record as presentation text, e.g. `0 issue "ca.test; accounturi=..."`, value escaped
 * and capped as va_printable does; an RDATA that does not parse as `\# <len> <hex>` (RFC 3597,
 * hex capped at 32 octets with "..."). out should have 512 octets; a smaller one cuts earlier.
 */
void va_caa_rr_text(const uint8_t *rdata, size_t len, char *out, size_t outsz);

enum va_caa_verdict {
	VA_CAA_ALLOWED,	 /* no property speaks against us, or one of ours authorizes */
	VA_CAA_REFUSED,	 /* issue/issuewild records exist and none authorizes us */
	VA_CAA_CRITICAL, /* a critical property we do not know: nobody may issue */
};

/*
 * Judge the relevant RRset found at owner (used in why only; may be NULL for "no set") for
 * req. rdata[i]/len[i] are the RRs' raw RDATA, as va_dns returns them.
 *
 * RFC 8659 §4: tags are compared case-insensitively; issue and issuewild are evaluated;
 * iodef, issuemail and issuevmc are ignored; any other tag with a critical flag bit
 * (VA_CAA_CRITICAL_BITS) refuses, and so does an RDATA that does not parse when its flags
 * octet has one (a property we cannot even read is one we do not understand); an RDATA that
 * does not parse and is not critical is skipped. A wildcard uses the issuewild records if
 * there are any, else the issue records; other names use issue. No selected record: allowed.
 * A selected record authorizes when all of:
 *   - its value holds only HTAB and %x20-7E and parses as an issue-value (issuevalue_parse);
 *   - its issuer-domain-name equals one of req->issuers, case-insensitively, a trailing dot
 *     on either side ignored (`issue ";"` has none and authorizes nobody);
 *   - no parameter tag appears twice;
 *   - accounturi (RFC 8657 §3), if present, equals req->account_url byte for byte;
 *   - validationmethods (RFC 8657 §4), if present, is a comma-separated list of labels
 *     (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)) and one of them equals req->method.
 * Unknown parameters are ignored.
 *
 * why (may be NULL) gets a one-line reason for a refusal, naming owner and the records, e.g.
 * `CAA record for example.test prevents issuance: 0 issue "other.ca"`; for an allowed set
 * it gets a short note of what allowed.
 */
enum va_caa_verdict va_caa_evaluate(const struct va_caa_request *req, const char *owner,
				    char *const *rdata, const size_t *len, size_t n, char *why,
				    size_t whylen);

/*
 * RFC 8659 §3: find the relevant RRset and judge it for req, within timeout_ms.
 * For DNS identifiers only: an IP address has no CAA (RFC 8738 §7), the caller skips it.
 *
 * CAA is asked at the identifier and at each ancestor up to, but not including, the root (the
 * TLD is asked), all at once (in batches of 16 levels, one deadline for all). The resolver
 * follows a CNAME at a queried name; the climb goes on from the queried name's parent, never
 * from an alias target. The most specific non-empty answer is the relevant RRset; NXDOMAIN
 * and NODATA are empty. A lookup that fails (timeout, SERVFAIL, REFUSED, bogus DNSSEC, too
 * many RRs) at a level before the relevant RRset, or anywhere when no level has records,
 * refuses with PROB_DNS: we cannot know the set we did not see. A failure at a level above
 * the relevant RRset does not matter.
 *
 * res: sets ok (true when allowed), and when refused prob (PROB_CAA for a record that
 * prevents issuance, PROB_DNS for a lookup failure, PROB_MALFORMED for an unusable request)
 * and detail. Appends one validationRecord to res->records (made when NULL):
 *
 *   {"caa": {"name": <owner of the relevant RRset, the name whose lookup failed, or null>,
 *            "records": [<each RR of that set as va_caa_rr_text>],
 *            "dnssec": "secure" | "insecure" | "bogus",  (that answer's, or the weakest seen)
 *            "result": "allowed" | "refused" | "dns error"}}
 *
 * Leaves every other member of res alone, so it can follow a DCV on the same result.
 */
void va_caa_check(struct va_dns *d, const struct va_caa_request *req, int timeout_ms,
		  struct va_result *res);
