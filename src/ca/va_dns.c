#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unbound.h>

#include "b64url.h"
#include "error.h"
#include "va_dns.h"

#define RR_TXT 16
#define RR_A 1
#define RR_AAAA 28
#define SHOWN_MAX 100 /* characters of a seen value echoed in a problem detail */

struct va_dns {
	struct ub_ctx *ctx;
};

const char *
va_dnssec_str(enum va_dnssec s)
{
	return s == VA_DNSSEC_SECURE ? "secure" : s == VA_DNSSEC_BOGUS ? "bogus" : "insecure";
}

/* "127.0.0.1:8053" -> "127.0.0.1@8053"; "ADDR" and "ADDR@PORT" pass through. */
static int
unbound_addr(const char *in, char *out, size_t outsz)
{
	const char *colon = strchr(in, ':');

	if (strlen(in) + 1 > outsz)
		return DEED_EINVAL;
	if (colon != NULL && strchr(colon + 1, ':') == NULL && strchr(in, '@') == NULL) {
		snprintf(out, outsz, "%.*s@%s", (int)(colon - in), in, colon + 1);
		return DEED_OK;
	}
	snprintf(out, outsz, "%s", in);
	return DEED_OK;
}

int
va_dns_new(const char *resolver, const char *trust_anchor_file, struct va_dns **out, char *err,
	   size_t errlen)
{
	struct va_dns *d;
	char addr[128];
	int rc = DEED_EINVAL, u;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->ctx = ub_ctx_create()) == NULL) {
		free(d);
		return DEED_ENOMEM;
	}
	/* Every validation must see what the authoritative servers serve now: a cached answer
	 * would let a record removed a minute ago still validate. */
	if (ub_ctx_set_option(d->ctx, "cache-max-ttl:", "0") != 0 ||
	    ub_ctx_set_option(d->ctx, "cache-max-negative-ttl:", "0") != 0) {
		deed_seterr(err, errlen, "libunbound refuses the cache settings");
		goto fail;
	}
	if (resolver != NULL) {
		/* A resolver on loopback is the point of the setting (a local resolver, or a
		 * lab's authoritative server); libunbound refuses loopback by default. */
		if (ub_ctx_set_option(d->ctx, "do-not-query-localhost:", "no") != 0) {
			deed_seterr(err, errlen, "libunbound refuses do-not-query-localhost");
			goto fail;
		}
		if (unbound_addr(resolver, addr, sizeof(addr)) != DEED_OK ||
		    (u = ub_ctx_set_fwd(d->ctx, addr)) != 0) {
			deed_seterr(err, errlen, "DNS resolver \"%s\" not usable", resolver);
			goto fail;
		}
	} else if ((u = ub_ctx_resolvconf(d->ctx, NULL)) != 0) {
		deed_seterr(err, errlen, "cannot read /etc/resolv.conf: %s", ub_strerror(u));
		goto fail;
	}
	if (trust_anchor_file != NULL && (u = ub_ctx_add_ta_file(d->ctx, trust_anchor_file)) != 0) {
		deed_seterr(err, errlen, "trust anchors %s: %s", trust_anchor_file, ub_strerror(u));
		goto fail;
	}
	/* libunbound answers the RFC 6761 name "test." itself (NXDOMAIN); with a chosen
	 * resolver, that resolver decides, so lab zones under .test resolve. This finalizes the
	 * context, so it comes after every other setting. */
	if (resolver != NULL && ub_ctx_zone_add(d->ctx, "test.", "nodefault") != 0) {
		deed_seterr(err, errlen, "libunbound refuses the test. zone setting");
		goto fail;
	}
	*out = d;
	return DEED_OK;
fail:
	va_dns_free(d);
	return rc;
}

void
va_dns_free(struct va_dns *d)
{
	if (d == NULL)
		return;
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);
	free(d);
}

void
va_dns_answer_cleanup(struct va_dns_answer *ans)
{
	for (size_t i = 0; i < ans->n; i++)
		free(ans->rr[i]);
	memset(ans, 0, sizeof(*ans));
}

/* One TXT RR's character-strings joined (RFC 8555 §8.4 compares the whole value). */
static char *
txt_join(const uint8_t *p, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t o = 0, i = 0;

	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t l = p[i++];

		if (l > len - i)
			l = len - i;
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

int
va_dns_lookup(struct va_dns *d, const char *name, int rrtype, struct va_dns_answer *ans)
{
	struct ub_result *r = NULL;
	int u;

	memset(ans, 0, sizeof(*ans));
	if ((u = ub_resolve(d->ctx, name, rrtype, 1 /* IN */, &r)) != 0)
		return DEED_EDNS;
	ans->rcode = r->rcode;
	ans->havedata = r->havedata != 0;
	ans->ttl = (uint32_t)(r->ttl > 0 ? r->ttl : 0);
	ans->dnssec = r->bogus ? VA_DNSSEC_BOGUS : r->secure ? VA_DNSSEC_SECURE : VA_DNSSEC_INSECURE;
	if (r->why_bogus != NULL)
		snprintf(ans->why_bogus, sizeof(ans->why_bogus), "%s", r->why_bogus);
	for (int i = 0; r->havedata && r->data[i] != NULL && ans->n < VA_DNS_MAX_RRS; i++) {
		const uint8_t *p = (const uint8_t *)r->data[i];
		size_t len = (size_t)r->len[i];
		char *v = NULL;

		if (rrtype == RR_TXT) {
			v = txt_join(p, len, &ans->len[ans->n]);
		} else if ((rrtype == RR_A && len == 4) || (rrtype == RR_AAAA && len == 16)) {
			if ((v = malloc(INET6_ADDRSTRLEN)) != NULL) {
				inet_ntop(rrtype == RR_A ? AF_INET : AF_INET6, p, v, INET6_ADDRSTRLEN);
				ans->len[ans->n] = strlen(v);
			}
		} else if ((v = malloc(len + 1)) != NULL) {
			memcpy(v, p, len);
			v[len] = '\0';
			ans->len[ans->n] = len;
		}
		if (v == NULL) {
			ub_resolve_free(r);
			va_dns_answer_cleanup(ans);
			return DEED_ENOMEM;
		}
		ans->rr[ans->n++] = v;
	}
	ub_resolve_free(r);
	return DEED_OK;
}

static const char *
rcode_str(int rcode)
{
	switch (rcode) {
	case 0: return "NOERROR";
	case 1: return "FORMERR";
	case 2: return "SERVFAIL";
	case 3: return "NXDOMAIN";
	case 4: return "NOTIMP";
	case 5: return "REFUSED";
	}
	return "an error";
}

void
va_dns01(struct va_dns *d, const struct va_request *req, struct va_result *res)
{
	struct va_dns_answer ans;
	uint8_t digest[32];
	char want[64], qname[300];
	json_t *rec;
	int rc;

	memset(res, 0, sizeof(*res));
	res->prob = PROB_UNAUTHORIZED;
	snprintf(qname, sizeof(qname), "_acme-challenge.%s", req->identifier);
	if (EVP_Digest(req->key_authz, strlen(req->key_authz), digest, NULL, EVP_sha256(), NULL) !=
		    1 ||
	    b64url_encode_buf(digest, sizeof(digest), want, sizeof(want)) != DEED_OK) {
		res->prob = PROB_SERVER_INTERNAL;
		deed_seterr(res->detail, sizeof(res->detail), "cannot compute the digest");
		return;
	}
	if ((rc = va_dns_lookup(d, qname, RR_TXT, &ans)) != DEED_OK) {
		res->prob = PROB_DNS;
		deed_seterr(res->detail, sizeof(res->detail), "DNS lookup of TXT %s failed", qname);
		return;
	}
	rec = json_object();
	json_object_set_new(rec, "hostname", json_string(qname));
	json_object_set_new(rec, "dnssec", json_string(va_dnssec_str(ans.dnssec)));
	res->records = json_array();
	json_array_append_new(res->records, rec);

	if (ans.dnssec == VA_DNSSEC_BOGUS) {
		res->prob = PROB_DNS;
		deed_seterr(res->detail, sizeof(res->detail),
			    "DNSSEC validation of TXT %s failed: %s", qname, ans.why_bogus);
	} else if (ans.rcode != 0 && ans.rcode != 3) {
		res->prob = PROB_DNS;
		deed_seterr(res->detail, sizeof(res->detail), "DNS lookup of TXT %s: %s", qname,
			    rcode_str(ans.rcode));
	} else if (!ans.havedata || ans.n == 0) {
		deed_seterr(res->detail, sizeof(res->detail), "No TXT record found at %s", qname);
	} else {
		for (size_t i = 0; i < ans.n && !res->ok; i++)
			res->ok = ans.len[i] == strlen(want) &&
				  CRYPTO_memcmp(ans.rr[i], want, ans.len[i]) == 0;
		if (!res->ok)
			deed_seterr(res->detail, sizeof(res->detail),
				    "Incorrect TXT record \"%.*s\"%s found at %s (expected \"%s\")",
				    SHOWN_MAX, ans.rr[0], ans.n > 1 ? " (and others)" : "", qname,
				    want);
	}
	va_dns_answer_cleanup(&ans);
}
