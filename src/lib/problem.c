#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "problem.h"

#define URN "urn:ietf:params:acme:error:"
#define DETAIL_MAX 1024

/*
 * RFC 8555 §6.7 types, plus alreadyReplaced (RFC 9773, ARI) and invalidProfile (the ACME
 * profiles draft). Statuses: 400 unless the RFC or common practice says otherwise —
 * §6.6 429 for rateLimited, §7.4 403 for orderNotReady, §7.3.3 403 for userActionRequired,
 * 403 for what the client may not do (unauthorized, caa, compound), 409 for a replacement
 * already made (as Boulder answers), 500 for our own failures.
 */
/* clang-format off */
#define T(n, st) {n, URN n, st}

static const struct {
	const char *name;
	const char *urn;
	int status;
} types[] = {
	[PROB_ACCOUNT_DOES_NOT_EXIST] = T("accountDoesNotExist", 400),
	[PROB_ALREADY_REVOKED] = T("alreadyRevoked", 400),
	[PROB_BAD_CSR] = T("badCSR", 400),
	[PROB_BAD_NONCE] = T("badNonce", 400),
	[PROB_BAD_PUBLIC_KEY] = T("badPublicKey", 400),
	[PROB_BAD_REVOCATION_REASON] = T("badRevocationReason", 400),
	[PROB_BAD_SIGNATURE_ALGORITHM] = T("badSignatureAlgorithm", 400),
	[PROB_CAA] = T("caa", 403),
	[PROB_COMPOUND] = T("compound", 403),
	[PROB_CONNECTION] = T("connection", 400),
	[PROB_DNS] = T("dns", 400),
	[PROB_EXTERNAL_ACCOUNT_REQUIRED] = T("externalAccountRequired", 400),
	[PROB_INCORRECT_RESPONSE] = T("incorrectResponse", 400),
	[PROB_INVALID_CONTACT] = T("invalidContact", 400),
	[PROB_MALFORMED] = T("malformed", 400),
	[PROB_ORDER_NOT_READY] = T("orderNotReady", 403),
	[PROB_RATE_LIMITED] = T("rateLimited", 429),
	[PROB_REJECTED_IDENTIFIER] = T("rejectedIdentifier", 400),
	[PROB_SERVER_INTERNAL] = T("serverInternal", 500),
	[PROB_TLS] = T("tls", 400),
	[PROB_UNAUTHORIZED] = T("unauthorized", 403),
	[PROB_UNSUPPORTED_CONTACT] = T("unsupportedContact", 400),
	[PROB_UNSUPPORTED_IDENTIFIER] = T("unsupportedIdentifier", 400),
	[PROB_USER_ACTION_REQUIRED] = T("userActionRequired", 403),
	[PROB_ALREADY_REPLACED] = T("alreadyReplaced", 409),
	[PROB_INVALID_PROFILE] = T("invalidProfile", 400),
	/* Not ACME error types of their own: HTTP-level refusals that still deserve a problem
	 * document. "malformed" is the closest ACME type for each. */
	[PROB_NOT_FOUND] = T("malformed", 404),
	[PROB_METHOD_NOT_ALLOWED] = T("malformed", 405),
	[PROB_UNSUPPORTED_MEDIA] = T("malformed", 415),
	[PROB_CONFLICT] = T("malformed", 409),
};
/* clang-format on */

#define N_TYPES (sizeof(types) / sizeof(types[0]))

const char *
prob_name(enum prob_type t)
{
	return (size_t)t < N_TYPES ? types[t].name : "serverInternal";
}

const char *
prob_urn(enum prob_type t)
{
	return (size_t)t < N_TYPES ? types[t].urn : URN "serverInternal";
}

int
prob_from_string(const char *s)
{
	if (s == NULL)
		return -1;
	if (strncmp(s, URN, strlen(URN)) == 0)
		s += strlen(URN);
	/* The HTTP-level entries share "malformed"; the first match is PROB_MALFORMED. */
	for (size_t i = 0; i < N_TYPES; i++)
		if (strcmp(s, types[i].name) == 0)
			return (int)i;
	return -1;
}

int
prob_http_status(enum prob_type t)
{
	return (size_t)t < N_TYPES ? types[t].status : 500;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629 §4), 0 if none starts there. */
static size_t
utf8_seq(const unsigned char *s)
{
	unsigned int cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1fu;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0fu;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) /* also stops at the terminating NUL */
			return 0;
		cp = cp << 6 | (s[i] & 0x3fu);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return n;
}

/*
 * Details quote what the client sent (a name cut at "%.200s", a CSR's bytes) and are cut at
 * DETAIL_MAX, so they may hold invalid or half a UTF-8 sequence; jansson refuses such a
 * string and the whole document would be lost. Replace each offending byte with '?'.
 */
static void
utf8_scrub(char *s)
{
	while (*s != '\0') {
		size_t n = utf8_seq((const unsigned char *)s);

		if (n == 0)
			*s++ = '?';
		else
			s += n;
	}
}

json_t *
prob_new(enum prob_type t, const char *fmt, ...)
{
	char detail[DETAIL_MAX];
	json_t *p;
	va_list ap;

	va_start(ap, fmt);
	if (vsnprintf(detail, sizeof(detail), fmt, ap) < 0)
		detail[0] = '\0';
	va_end(ap);
	utf8_scrub(detail);
	if ((p = json_object()) == NULL)
		return NULL;
	if (json_object_set_new(p, "type", json_string(prob_urn(t))) != 0 ||
	    json_object_set_new(p, "detail", json_stringn(detail, strlen(detail))) != 0 ||
	    json_object_set_new(p, "status", json_integer(prob_http_status(t))) != 0) {
		json_decref(p);
		return NULL;
	}
	/* RFC 8555 §6.2: badSignatureAlgorithm MUST list the algorithms accepted, wherever the
	 * refusal comes from (the outer JWS, or keyChange's inner one). */
	if (t == PROB_BAD_SIGNATURE_ALGORITHM &&
	    json_object_set_new(p, "algorithms",
				json_pack("[sssss]", "RS256", "ES256", "ES384", "ES512", "EdDSA")) != 0) {
		json_decref(p);
		return NULL;
	}
	return p;
}
