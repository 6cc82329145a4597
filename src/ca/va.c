#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "error.h"
#include "va.h"
#include "va_caa.h"
#include "va_dns.h"
#include "va_persist.h"
#include "va_http.h"
#include "va_tlsalpn.h"

#define PRINTABLE_MAX 100 /* bytes of a value from the network echoed in a problem detail */

struct va {
	struct va_config cfg; /* resolver and trust_anchor_file cleared: va_dns owns them */
	struct va_dns *dns;
};

/* curl_global_init is not thread-safe and must precede any other libcurl call; the VA is
 * the CA's only libcurl user, so it makes sure of it once per process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int
va_new(const struct va_config *cfg, struct va **out, char *err, size_t errlen)
{
	struct va *va = NULL;
	int rc = DEED_ENOMEM;

	*out = NULL;
	pthread_once(&curl_once, curl_init);
	if (curl_init_rc != CURLE_OK) {
		deed_seterr(err, errlen, "cannot initialise libcurl");
		return DEED_ENOMEM;
	}
	if ((va = calloc(1, sizeof(*va))) == NULL)
		goto out;
	va->cfg = *cfg;
	va->cfg.resolver = NULL;
	va->cfg.trust_anchor_file = NULL;
	if (va->cfg.timeout_ms <= 0)
		va->cfg.timeout_ms = 30000;
	if (va->cfg.http01_port <= 0 || va->cfg.http01_port > 65535)
		va->cfg.http01_port = 80;
	if (va->cfg.tlsalpn01_port <= 0 || va->cfg.tlsalpn01_port > 65535)
		va->cfg.tlsalpn01_port = 443;
	rc = va_dns_new(cfg->resolver, cfg->trust_anchor_file, &va->dns, err, errlen);
	if (rc != DEED_OK)
		goto out;
	*out = va;
	va = NULL;
out:
	va_free(va);
	return rc;
}

void
va_free(struct va *va)
{
	if (va == NULL)
		return;
	va_dns_free(va->dns);
	free(va);
}

static void
caa_request(const struct va_request *req, struct va_caa_request *c)
{
	memset(c, 0, sizeof(*c));
	c->identifier = req->identifier;
	c->wildcard = req->wildcard;
	c->method = req->type;
	c->account_url = req->account_url;
	c->issuers = req->issuers;
	c->n_issuers = req->n_issuers;
}

/* After a passing DCV, when asked: CAA is checked by the same perspective right away, its
 * record appended to the DCV's; a refusal turns the result into a failure. */
static void
caa_after_dcv(struct va *va, const struct va_request *req, struct va_result *res)
{
	struct va_caa_request c;

	if (!req->check_caa || !res->ok)
		return;
	caa_request(req, &c);
	va_caa_check(va->dns, &c, va->cfg.timeout_ms, res);
}

void
va_check_caa(struct va *va, const struct va_request *req, struct va_result *res)
{
	struct va_caa_request c;

	memset(res, 0, sizeof(*res));
	res->persist_until = INT64_MAX;
	caa_request(req, &c);
	va_caa_check(va->dns, &c, va->cfg.timeout_ms, res);
}

int
va_validate(struct va *va, const struct va_request *req, struct va_result *res)
{
	memset(res, 0, sizeof(*res));
	if (req->type != NULL && req->identifier != NULL &&
	    strcmp(req->type, "dns-persist-01") == 0) {
		/* No token, no key authorization: the account itself is what the record names. */
		va_persist01(va->dns, req, va->cfg.timeout_ms, res);
		caa_after_dcv(va, req, res);
		return DEED_OK;
	}
	if (req->type == NULL || req->identifier == NULL || req->key_authz == NULL) {
		res->prob = PROB_MALFORMED;
		deed_seterr(res->detail, sizeof(res->detail), "incomplete validation request");
		return DEED_EINVAL;
	}
	if (strcmp(req->type, "dns-01") == 0) {
		va_dns01(va->dns, req, va->cfg.timeout_ms, res);
	} else if (strcmp(req->type, "dns-account-01") == 0) {
		/* draft-ietf-acme-dns-account-label: dns-01 under the account's label; like
		 * dns-01 it may validate a wildcard. */
		va_dns_account01(va->dns, req, va->cfg.timeout_ms, res);
	} else if (strcmp(req->type, "http-01") == 0 && !req->wildcard && req->token != NULL) {
		/* RFC 8555 §7.1.3: a wildcard is validated only with dns-01. */
		va_http01(va->dns, &va->cfg, req, res);
	} else if (strcmp(req->type, "tls-alpn-01") == 0 && !req->wildcard) {
		/* RFC 8737 §3: nor with tls-alpn-01. */
		va_tlsalpn01(va->dns, &va->cfg, req, res);
	} else {
		res->prob = PROB_MALFORMED;
		deed_seterr(res->detail, sizeof(res->detail),
			    "challenge type %.32s cannot be validated here%s", req->type,
			    req->wildcard ? " for a wildcard" : "");
		return DEED_EUNSUPPORTED;
	}
	/* The validators start from a zeroed result; only dns-persist-01 has a persistUntil. */
	res->persist_until = INT64_MAX;
	caa_after_dcv(va, req, res);
	return DEED_OK;
}

void
va_result_cleanup(struct va_result *res)
{
	if (res == NULL)
		return;
	json_decref(res->records);
	res->records = NULL;
}

bool
va_fail(struct va_result *res, enum prob_type t, const char *fmt, ...)
{
	va_list ap;

	res->prob = t;
	va_start(ap, fmt);
	vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
	va_end(ap);
	return false;
}

void
va_printable(const char *v, size_t len, char *out, size_t outsz)
{
	size_t o = 0, i;

	if (outsz == 0)
		return;
	for (i = 0; i < len && i < PRINTABLE_MAX && o + 5 < outsz; i++) {
		unsigned char c = (unsigned char)v[i];

		if (c == '"' || c == '\\')
			o += (size_t)snprintf(out + o, outsz - o, "\\%c", c);
		else if (c < 0x20 || c > 0x7e)
			o += (size_t)snprintf(out + o, outsz - o, "\\%03u", c);
		else
			out[o++] = (char)c;
	}
	if (i < len && o + 4 <= outsz) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}
