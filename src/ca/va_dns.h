#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "va.h"

/*
 * DNS for validation: one libunbound context shared by every validation thread (libunbound
 * serializes what needs it), no answer cache between validations, DNSSEC validation when trust
 * anchors are configured. CAA and dns-persist-01 lookups build on va_dns_lookup.
 */

enum va_dnssec { VA_DNSSEC_INSECURE, VA_DNSSEC_SECURE, VA_DNSSEC_BOGUS };

#define VA_DNS_MAX_RRS 64

struct va_dns_answer {
	int rcode;              /* DNS rcode (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED) */
	bool havedata;
	enum va_dnssec dnssec;
	char why_bogus[160];
	uint32_t ttl;
	size_t n;
	char *rr[VA_DNS_MAX_RRS]; /* TXT: character-strings joined; A/AAAA: address text */
	size_t len[VA_DNS_MAX_RRS];
};

struct va_dns;

/* resolver: "ADDR", "ADDR@PORT" or "ADDR:PORT" (IPv4) or NULL for /etc/resolv.conf.
 * Returns DEED_OK, DEED_EINVAL (bad resolver or anchor file), DEED_ENOMEM. */
int va_dns_new(const char *resolver, const char *trust_anchor_file, struct va_dns **out,
	       char *err, size_t errlen);
void va_dns_free(struct va_dns *d);

/* Look name up (type 1 A, 16 TXT, 28 AAAA, 257 CAA ...). DEED_OK when an answer came back
 * (look at rcode), DEED_EDNS when the lookup itself failed. */
int va_dns_lookup(struct va_dns *d, const char *name, int rrtype, struct va_dns_answer *ans);
void va_dns_answer_cleanup(struct va_dns_answer *ans);

/* Short text for a result's security, "secure" / "insecure" / "bogus". */
const char *va_dnssec_str(enum va_dnssec s);

/* dns-01 (RFC 8555 §8.4). */
void va_dns01(struct va_dns *d, const struct va_request *req, struct va_result *res);
