#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "va.h"

/*
 * DNS for validation, on libunbound: the lookups of dns-01, dns-account-01 and of http-01's
 * address resolution, and the base that CAA and dns-persist-01 build on.
 *
 * Every lookup (or batch) runs in a resolver context that no other lookup uses at the same
 * time, taken from a pool. Contexts keep nothing between lookups that could answer one: every
 * RRset and negative answer expires the moment it arrives (cache-max-ttl 0), so a record
 * removed a second ago cannot validate and a record published a second ago is seen; the TTL
 * reported is the one the server sent. Each lookup has a deadline; at the deadline it is
 * abandoned (DEED_ETIMEOUT) and its context deleted. DNSSEC is validated when trust anchors are
 * configured; without them every answer is insecure.
 */

enum va_dnssec { VA_DNSSEC_INSECURE, VA_DNSSEC_SECURE, VA_DNSSEC_BOGUS };

/* RR types, host order. */
#define VA_DNS_A 1
#define VA_DNS_CNAME 5
#define VA_DNS_TXT 16
#define VA_DNS_AAAA 28
#define VA_DNS_CAA 257

/* Cap on the RRs of one answer; an RRset larger than this is refused (DEED_ETOOBIG) rather
 * than cut, so that no record is silently left out of a comparison. */
#define VA_DNS_MAX_RRS 64

/* Canonical rcodes (RFC 1035 §4.1.1). libunbound reports an upstream REFUSED as SERVFAIL. */
#define VA_DNS_NOERROR 0
#define VA_DNS_SERVFAIL 2
#define VA_DNS_NXDOMAIN 3

/*
 * One answer. rr[i]: for TXT the RR's character-strings joined (RFC 8555 §8.4); for A and
 * AAAA the address as text; for other types the raw RDATA. Each is NUL-terminated, len[i]
 * not counting the NUL (TXT and RDATA may hold NULs of their own).
 */
struct va_dns_answer {
	int rcode;	       /* rcode of the final answer, after CNAMEs */
	enum va_dnssec dnssec; /* security of the answer */
	char why_bogus[160];   /* the validator's reason, when bogus */
	uint32_t ttl;	       /* TTL of the RRset as served; 0 when n == 0 */
	size_t n;	       /* RRs of the type asked; 0 for NXDOMAIN and NODATA */
	char *rr[VA_DNS_MAX_RRS];
	size_t len[VA_DNS_MAX_RRS];
};

struct va_dns;

/*
 * resolver: where every lookup is sent: "ADDR", "ADDR@PORT", "IPV4:PORT" or "[IPV6]:PORT";
 * NULL or "" = the name servers of /etc/resolv.conf, read at each lookup.
 *
 * trust_anchor_file: NULL or "" = no DNSSEC validation. Else one regular file of DS and/or
 * DNSKEY records in zone-file format (libunbound's ub_ctx_add_ta_file; ';' comments), for
 * any number of zones: a name is validated from the closest anchor above it. It is one file,
 * not a list; to trust the root and a private zone, concatenate their records (e.g.
 * /usr/share/dns/root.key and `keymgr ZONE ds`). The file is read again at each lookup, so a
 * replaced file counts from the next lookup (replace it atomically); RFC 5011 rollovers are
 * not followed. With anchors, names under RFC 6761's "test." (never delegated, so no chain
 * of trust reaches it from the root) are insecure, unless the file has an anchor for a zone
 * under test. that holds them: that anchor still makes them secure, or bogus.
 *
 * Both are checked here, by setting up one resolver context. An anchor file that is missing,
 * unreadable, not a regular file, without any DS or DNSKEY record, or that libunbound cannot
 * parse is an error: never a silent fall back to no validation.
 * Returns DEED_OK, DEED_EINVAL (bad resolver or anchor file; err says which), DEED_ENOMEM.
 */
int va_dns_new(const char *resolver, const char *trust_anchor_file, struct va_dns **out, char *err,
	       size_t errlen);
void va_dns_free(struct va_dns *d);

/*
 * Look name up (IN class, rrtype host order) and wait at most timeout_ms. ans is always
 * initialised, so va_dns_answer_cleanup is safe after any return.
 * Returns DEED_OK when an answer came back, whatever its rcode (look at ans->rcode and
 * ans->dnssec); DEED_ETIMEOUT when the deadline passed first; DEED_ETOOBIG when the RRset has
 * more than VA_DNS_MAX_RRS records; DEED_EINVAL for a name libunbound cannot parse;
 * DEED_EDNS when the resolver could not run; DEED_ENOMEM.
 */
int va_dns_lookup(struct va_dns *d, const char *name, int rrtype, int timeout_ms,
		  struct va_dns_answer *ans);

/* va_dns_lookup for TXT. */
int va_dns_txt(struct va_dns *d, const char *name, int timeout_ms, struct va_dns_answer *ans);

/* One lookup of a batch. */
struct va_dns_query {
	const char *name;
	int rrtype;
	int rc;			  /* set: what va_dns_lookup would have returned */
	struct va_dns_answer ans; /* set; clean it up with va_dns_answer_cleanup */
};

/*
 * Run n lookups at the same time, all within one deadline of timeout_ms (http-01 asks AAAA
 * and A together; CAA asks a name and its ancestors). Every q[i].rc and q[i].ans is set.
 * Returns DEED_OK when every q[i].rc is DEED_OK, else the first q[i].rc that is not.
 */
int va_dns_lookup_many(struct va_dns *d, struct va_dns_query *q, size_t n, int timeout_ms);

void va_dns_answer_cleanup(struct va_dns_answer *ans);

/*
 * Fill ans (zeroed by the caller) from what libunbound hands a lookup's callback: its rcode
 * (non-zero: its own verdict, the packet unread), the DNS message of the answer (untrusted:
 * every read is bounded by len; one that does not parse is a SERVFAIL), sec (0 insecure,
 * 1 bogus, 2 secure) and why_bogus. The RRs of rrtype in the answer section are the answer.
 * Returns DEED_OK, DEED_ETOOBIG (more than VA_DNS_MAX_RRS), DEED_ENOMEM; on failure ans may
 * hold RRs already (va_dns_answer_cleanup). Used by the lookups and the fuzz target.
 */
int va_dns_parse_answer(int rcode, const uint8_t *pkt, size_t len, int sec, const char *why_bogus,
			int rrtype, struct va_dns_answer *ans);

/* "secure" / "insecure" / "bogus". */
const char *va_dnssec_str(enum va_dnssec s);

/* "NOERROR", "SERVFAIL", "NXDOMAIN" ... for problem details. */
const char *va_dns_rcode_str(int rcode);

/* "TXT", "A", "AAAA", "CAA" ... for problem details. */
const char *va_dns_type_str(int rrtype);

/*
 * Write into buf (size bufsz) the problem detail for a lookup that did not give a usable
 * answer: rc from va_dns_lookup, or DEED_OK with a bogus answer or an rcode other than
 * NOERROR/NXDOMAIN. Returns true when that is the case (the caller reports PROB_DNS), false
 * when ans is a usable answer (NOERROR or NXDOMAIN, not bogus).
 */
bool va_dns_failed(int rc, const struct va_dns_answer *ans, const char *name, int rrtype, char *buf,
		   size_t bufsz);

/* dns-01 (RFC 8555 §8.4) within timeout_ms. Always fills res. */
void va_dns01(struct va_dns *d, const struct va_request *req, int timeout_ms,
	      struct va_result *res);

/*
 * dns-account-01 (draft-ietf-acme-dns-account-label) within timeout_ms: the dns-01 TXT value
 * at "_<label>._acme-challenge.<identifier>", the label computed from req->account_url
 * (acctlabel.h). Always fills res: unauthorized (naming the record name and the account URL)
 * when no record there matches; malformed when the record name would be too long; a record at
 * the plain _acme-challenge name, or under another account's label, never counts.
 */
void va_dns_account01(struct va_dns *d, const struct va_request *req, int timeout_ms,
		      struct va_result *res);
