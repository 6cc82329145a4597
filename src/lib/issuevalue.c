#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "b64url.h"
#include "dnsname.h"
#include "error.h"
#include "issuevalue.h"

/* How much of a record a message quotes: enough to recognise it, not a whole 64 KiB RR. */
#define QUOTE_MAX 200
/* A SHA-256 digest in base64url without padding. */
#define SHA256_B64_LEN 43

static bool
is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

static bool
is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 8659 §4.2: value = *(%x21-3A / %x3C-7E), printable ASCII without SP and ";". */
static bool
is_value_char(char c)
{
	unsigned char u = (unsigned char)c;

	return (u >= 0x21 && u <= 0x3a) || (u >= 0x3c && u <= 0x7e);
}

static char
ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* ASCII-only case-insensitive equality: tags and policy values are ASCII, and the C
 * library's strcasecmp follows the locale. */
static bool
ascii_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (ascii_lower(*a) != ascii_lower(*b))
			return false;
	return *a == *b;
}

static void
trim(const char **p, size_t *n)
{
	while (*n > 0 && is_wsp(**p))
		(*p)++, (*n)--;
	while (*n > 0 && is_wsp((*p)[*n - 1]))
		(*n)--;
}

/* RFC 8659 §4.2: tag = (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)). */
static bool
is_tag(const char *p, size_t n)
{
	if (n == 0 || !is_alnum(p[0]) || !is_alnum(p[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(p[i]) && p[i] != '-')
			return false;
	return true;
}

/*
 * Copy n octets of untrusted text into dst as one printable line: '"' and '\' escaped,
 * other bytes outside %x20-7E as \xNN, cut after max input octets with "...". A record comes
 * from anyone's DNS and ends up in a problem document and the log.
 */
static void
quote(char *dst, size_t dstsz, const char *src, size_t n, size_t max)
{
	size_t o = 0;

	if (dstsz == 0)
		return;
	for (size_t i = 0; i < n; i++) {
		unsigned char u = (unsigned char)src[i];
		char tmp[8];
		size_t tl;

		if (i == max) {
			memcpy(tmp, "...", 3), tl = 3;
		} else if (u == '"' || u == '\\') {
			tmp[0] = '\\', tmp[1] = (char)u, tl = 2;
		} else if (u < 0x20 || u > 0x7e) {
			static const char hex[] = "0123456789abcdef";

			tmp[0] = '\\', tmp[1] = 'x', tmp[2] = hex[u >> 4], tmp[3] = hex[u & 15];
			tl = 4;
		} else {
			tmp[0] = (char)u, tl = 1;
		}
		if (o + tl >= dstsz)
			break;
		memcpy(dst + o, tmp, tl);
		o += tl;
		if (i == max)
			break;
	}
	dst[o] = '\0';
}

/* Read the issuer (everything before the first ";") into out. */
static int
parse_issuer(const char *s, size_t n, struct issuevalue *out, char *err, size_t errlen)
{
	char q[4 * 80 + 4];

	trim(&s, &n);
	if (n >= sizeof(out->issuer_raw)) {
		quote(q, sizeof(q), s, n, 80);
		deed_seterr(err, errlen, "issuer \"%s\" is longer than %zu octets", q,
			    sizeof(out->issuer_raw) - 1);
		return DEED_EMALFORMED;
	}
	memcpy(out->issuer_raw, s, n);
	out->issuer_raw[n] = '\0';
	/* A NUL inside would make normalize see a different, shorter name. */
	if (n == 0 || memchr(s, '\0', n) != NULL ||
	    dnsname_normalize(out->issuer_raw, false, out->issuer, sizeof(out->issuer), NULL, 0) !=
		DEED_OK)
		out->issuer[0] = '\0';
	return DEED_OK;
}

/* One "tag = value" piece, already split off at ";" and trimmed; idx counts from 1. */
static int
parse_param(const char *p, size_t n, size_t idx, struct issuevalue *out, char *err, size_t errlen)
{
	char q[4 * 80 + 4];
	const char *eq, *tag, *val;
	size_t tlen, vlen;

	quote(q, sizeof(q), p, n, 80);
	if (n == 0) {
		deed_seterr(err, errlen,
			    "parameter %zu is empty (a \";\" with no tag=value after it)", idx);
		return DEED_EMALFORMED;
	}
	if ((eq = memchr(p, '=', n)) == NULL) {
		deed_seterr(err, errlen, "parameter \"%s\" has no \"=\"", q);
		return DEED_EMALFORMED;
	}
	if (out->n_params == IV_MAX_PARAMS) {
		deed_seterr(err, errlen, "more than %d parameters", IV_MAX_PARAMS);
		return DEED_EMALFORMED;
	}
	tag = p, tlen = (size_t)(eq - p);
	val = eq + 1, vlen = n - tlen - 1;
	trim(&tag, &tlen);
	trim(&val, &vlen);
	if (tlen == 0) {
		deed_seterr(err, errlen, "parameter \"%s\" has an empty tag", q);
		return DEED_EMALFORMED;
	}
	if (tlen >= IV_TAG_MAX) {
		deed_seterr(err, errlen, "tag of parameter \"%s\" is longer than %d octets", q,
			    IV_TAG_MAX - 1);
		return DEED_EMALFORMED;
	}
	if (!is_tag(tag, tlen)) {
		deed_seterr(err, errlen,
			    "tag of parameter \"%s\" is not letters and digits joined by '-'", q);
		return DEED_EMALFORMED;
	}
	if (vlen >= IV_VALUE_MAX) {
		deed_seterr(err, errlen, "value of parameter \"%s\" is longer than %d octets", q,
			    IV_VALUE_MAX - 1);
		return DEED_EMALFORMED;
	}
	for (size_t i = 0; i < vlen; i++) {
		if (!is_value_char(val[i])) {
			deed_seterr(err, errlen,
				    "value of parameter \"%s\" contains byte 0x%02x; only "
				    "printable ASCII without spaces or ';' is allowed",
				    q, (unsigned char)val[i]);
			return DEED_EMALFORMED;
		}
	}
	memcpy(out->params[out->n_params].tag, tag, tlen);
	out->params[out->n_params].tag[tlen] = '\0';
	memcpy(out->params[out->n_params].value, val, vlen);
	out->params[out->n_params].value[vlen] = '\0';
	out->n_params++;
	return DEED_OK;
}

/*
 * RFC 8659 §4.2: issue-value = *WSP [issuer-domain-name *WSP] [";" *WSP [parameters *WSP]].
 * A ";" followed only by WSP is therefore grammatical (no parameters), but a ";" after a
 * parameter must be followed by another one: parameters = parameter *WSP ";" *WSP parameters.
 */
int
issuevalue_parse(const char *s, size_t len, struct issuevalue *out, char *err, size_t errlen)
{
	const char *semi, *p, *end, *rest;
	size_t restlen, idx = 0;
	int rc;

	if (out == NULL || (s == NULL && len > 0))
		return DEED_EINVAL;
	memset(out, 0, sizeof(*out));
	if (s == NULL)
		s = "";
	end = s + len;
	semi = memchr(s, ';', len);
	if ((rc = parse_issuer(s, semi != NULL ? (size_t)(semi - s) : len, out, err, errlen)) !=
	    DEED_OK)
		return rc;
	if (semi == NULL)
		return DEED_OK;
	rest = semi + 1, restlen = (size_t)(end - rest);
	trim(&rest, &restlen);
	if (restlen == 0)
		return DEED_OK;
	for (p = semi + 1;;) {
		const char *q = memchr(p, ';', (size_t)(end - p));
		const char *piece = p;
		size_t n = (q != NULL ? q : end) - p;

		trim(&piece, &n);
		if ((rc = parse_param(piece, n, ++idx, out, err, errlen)) != DEED_OK)
			return rc;
		if (q == NULL)
			return DEED_OK;
		p = q + 1;
	}
}

const char *
issuevalue_get(const struct issuevalue *iv, const char *tag)
{
	for (size_t i = 0; i < iv->n_params; i++)
		if (ascii_ieq(iv->params[i].tag, tag))
			return iv->params[i].value;
	return NULL;
}

size_t
issuevalue_count(const struct issuevalue *iv, const char *tag)
{
	size_t n = 0;

	for (size_t i = 0; i < iv->n_params; i++)
		if (ascii_ieq(iv->params[i].tag, tag))
			n++;
	return n;
}

/* --- dns-persist-01 ------------------------------------------------------------------- */

/* What every message about one record starts with. */
struct recdesc {
	char text[4 * QUOTE_MAX + 8];
	const char *domain;
};

static void
describe(struct recdesc *d, const struct persist_check *c, const char *txt, size_t len)
{
	quote(d->text, sizeof(d->text), txt != NULL ? txt : "", len, QUOTE_MAX);
	d->domain = c->record_domain != NULL ? c->record_domain : "?";
}

/*
 * persistUntil: draft-ietf-acme-dns-persist-01 §3.1 "base-10 integer"; a sign is allowed as
 * Boulder's ParseInt allows it (a negative time is simply in the past). Anything else,
 * including overflow, is malformed.
 */
static bool
parse_int64(const char *s, int64_t *out)
{
	bool neg = false;
	uint64_t v = 0, lim;

	if (*s == '+' || *s == '-')
		neg = *s++ == '-';
	if (*s == '\0')
		return false;
	lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return false;
		if (v > (lim - (uint64_t)(*s - '0')) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if (neg)
		*out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
	else
		*out = (int64_t)v;
	return true;
}

/* "2025-12-31T23:59:59Z", or "out of range" for times gmtime cannot show. */
static void
fmt_time(int64_t t, char *buf, size_t bufsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, bufsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, bufsz, "out of range");
}

static bool
is_ours(const struct persist_check *c, const char *issuer)
{
	if (issuer[0] == '\0')
		return false;
	for (size_t i = 0; i < c->n_issuers; i++)
		if (c->issuers[i] != NULL && strcmp(c->issuers[i], issuer) == 0)
			return true;
	return false;
}

/* Our issuer names as "a, b, c" for messages. */
static void
list_issuers(const struct persist_check *c, char *buf, size_t bufsz)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < c->n_issuers && c->issuers[i] != NULL; i++) {
		int n = snprintf(buf + o, bufsz - o, "%s%s", i > 0 ? ", " : "", c->issuers[i]);

		if (n < 0 || (size_t)n >= bufsz - o)
			break;
		o += (size_t)n;
	}
}

/* draft -02 §3.1: 43 base64url characters with the last one carrying no stray bits. */
static bool
is_sha256_b64(const char *s)
{
	static const char alpha[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const char *last;

	if (strlen(s) != SHA256_B64_LEN)
		return false;
	for (const char *p = s; *p != '\0'; p++)
		if (strchr(alpha, *p) == NULL)
			return false;
	last = strchr(alpha, s[SHA256_B64_LEN - 1]);
	return ((last - alpha) & 3) == 0;
}

/*
 * -02 hashed form (draft -02 §3.1, protocol notes §4.5): rest is what follows our prefix.
 * Each retained thumbprint, newest first, in the domain form and the "*" form: key rollover
 * must not break records published under an older key.
 */
static enum persist_verdict
check_hashed(const struct persist_check *c, const char *acct, const char *rest,
	     const struct recdesc *d, char *why, size_t whylen)
{
	char uri[IV_VALUE_MAX], want_dom[IV_VALUE_MAX], want_any[IV_VALUE_MAX];
	const char *slash = strchr(rest, '/');

	if (slash == NULL) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has accounturi %s without "
			    "\"<hash-alg>/<digest>\" after the prefix %s",
			    d->text, d->domain, acct, c->hash_prefix);
		return PERSIST_MALFORMED;
	}
	if ((size_t)(slash - rest) != 7 || memcmp(rest, "sha-256", 7) != 0) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s hashes its accounturi with "
			    "\"%.*s\"; this CA accepts only sha-256",
			    d->text, d->domain, (int)(slash - rest), rest);
		return PERSIST_MALFORMED;
	}
	if (!is_sha256_b64(slash + 1)) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has accounturi digest \"%s\", "
			    "which is not %d base64url characters of a SHA-256 hash",
			    d->text, d->domain, slash + 1, SHA256_B64_LEN);
		return PERSIST_MALFORMED;
	}
	for (size_t i = 0; i < c->n_thumbprints; i++) {
		if (persist_hashed_uri(c->hash_prefix, d->domain, c->thumbprints[i], c->account_url,
				       uri, sizeof(uri)) == DEED_OK &&
		    strcmp(uri, acct) == 0)
			return PERSIST_VALID;
		if (persist_hashed_uri(c->hash_prefix, "*", c->thumbprints[i], c->account_url, uri,
				       sizeof(uri)) == DEED_OK &&
		    strcmp(uri, acct) == 0)
			return PERSIST_VALID;
	}
	if (c->n_thumbprints == 0 ||
	    persist_hashed_uri(c->hash_prefix, d->domain, c->thumbprints[0], c->account_url,
			       want_dom, sizeof(want_dom)) != DEED_OK ||
	    persist_hashed_uri(c->hash_prefix, "*", c->thumbprints[0], c->account_url, want_any,
			       sizeof(want_any)) != DEED_OK) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has hashed accounturi %s, "
			    "which does not match account %s",
			    d->text, d->domain, acct, c->account_url);
		return PERSIST_UNAUTHORIZED;
	}
	deed_seterr(why, whylen,
		    "record \"%s\" at _validation-persist.%s has hashed accounturi %s, which "
		    "matches no key of account %s for this domain (%zu key(s) tried); the current "
		    "key expects %s here, or %s at any domain",
		    d->text, d->domain, acct, c->account_url, c->n_thumbprints, want_dom, want_any);
	return PERSIST_UNAUTHORIZED;
}

/*
 * Does accounturi name the requesting account? -01 (§3.1): the account URL, Simple String
 * Comparison (RFC 3986 §6.2.1), so no case folding. -02: a hashed URI under our
 * accountHashPrefix; anything else is malformed there (§9.3.1).
 */
static enum persist_verdict
check_account(const struct persist_check *c, const char *acct, const struct recdesc *d, char *why,
	      size_t whylen)
{
	const char *url = c->account_url != NULL ? c->account_url : "";
	size_t plen = c->hash_prefix != NULL ? strlen(c->hash_prefix) : 0;

	if (c->accept_plain && strcmp(acct, url) == 0)
		return PERSIST_VALID;
	if (c->hash_prefix != NULL && strncmp(acct, c->hash_prefix, plen) == 0)
		return check_hashed(c, acct, acct + plen, d, why, whylen);
	if (c->accept_plain) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s names account %s, not %s",
			    d->text, d->domain, acct, url);
		return PERSIST_UNAUTHORIZED;
	}
	if (c->hash_prefix != NULL) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has accounturi %s, which is "
			    "not under our accountHashPrefix %s",
			    d->text, d->domain, acct, c->hash_prefix);
		return PERSIST_MALFORMED;
	}
	deed_seterr(why, whylen,
		    "record \"%s\" at _validation-persist.%s cannot authorize anything: this CA "
		    "is configured to accept no accounturi form",
		    d->text, d->domain);
	return PERSIST_UNAUTHORIZED;
}

/*
 * The checks a record for us must pass once it parses, in the order of §4.4 of the
 * protocol notes: every malformed condition first (draft §9.3.1), then the unauthorized ones,
 * so one record always gets the same verdict whatever the account.
 */
static enum persist_verdict
judge(const struct persist_check *c, const struct issuevalue *iv, const struct recdesc *d,
      int64_t *until, char *why, size_t whylen)
{
	static const char *const single[] = {"accounturi", "policy", "persistUntil"};
	const char *acct = issuevalue_get(iv, "accounturi");
	const char *policy = issuevalue_get(iv, "policy");
	const char *pu = issuevalue_get(iv, "persistUntil");
	int64_t t = INT64_MAX;
	enum persist_verdict v;
	char when[64];

	if (acct == NULL) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has no accounturi parameter",
			    d->text, d->domain);
		return PERSIST_MALFORMED;
	}
	for (size_t i = 0; i < sizeof(single) / sizeof(single[0]); i++) {
		size_t n = issuevalue_count(iv, single[i]);

		if (n > 1) {
			deed_seterr(why, whylen,
				    "record \"%s\" at _validation-persist.%s has %zu %s "
				    "parameters; at most one is allowed",
				    d->text, d->domain, n, single[i]);
			return PERSIST_MALFORMED;
		}
	}
	if (acct[0] == '\0') {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has an empty accounturi",
			    d->text, d->domain);
		return PERSIST_MALFORMED;
	}
	if (pu != NULL && !parse_int64(pu, &t)) {
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s has persistUntil \"%s\", "
			    "which is not a base-10 integer of UNIX seconds",
			    d->text, d->domain, pu);
		return PERSIST_MALFORMED;
	}
	if ((v = check_account(c, acct, d, why, whylen)) != PERSIST_VALID)
		return v;
	/* §3.1: only "wildcard" is defined; any other value behaves as if absent. */
	if (c->need_wildcard_policy && (policy == NULL || !ascii_ieq(policy, "wildcard"))) {
		if (policy == NULL)
			deed_seterr(
			    why, whylen,
			    "record \"%s\" at _validation-persist.%s has no policy=wildcard, "
			    "needed for *.%s and names below %s",
			    d->text, d->domain, d->domain, d->domain);
		else
			deed_seterr(why, whylen,
				    "record \"%s\" at _validation-persist.%s has policy=%s, not "
				    "policy=wildcard, needed for *.%s and names below %s",
				    d->text, d->domain, policy, d->domain, d->domain);
		return PERSIST_UNAUTHORIZED;
	}
	if (pu != NULL && c->now > t) {
		fmt_time(t, when, sizeof(when));
		deed_seterr(
		    why, whylen,
		    "record \"%s\" at _validation-persist.%s is expired: persistUntil %" PRId64
		    " (%s) has passed",
		    d->text, d->domain, t, when);
		return PERSIST_UNAUTHORIZED;
	}
	if (until != NULL)
		*until = t;
	deed_seterr(why, whylen, "record \"%s\" at _validation-persist.%s authorizes account %s",
		    d->text, d->domain, c->account_url);
	return PERSIST_VALID;
}

enum persist_verdict
persist_evaluate(const struct persist_check *c, const char *txt, size_t len, int64_t *until,
		 char *why, size_t whylen)
{
	struct issuevalue iv;
	struct recdesc d;
	char err[512], ours[256];
	int rc;

	if (why != NULL && whylen > 0)
		why[0] = '\0';
	describe(&d, c, txt, len);
	rc = issuevalue_parse(txt != NULL ? txt : "", txt != NULL ? len : 0, &iv, err, sizeof(err));
	/* §4.4/§4.7: another CA's record is none of our business, even when it is broken. */
	if (!is_ours(c, iv.issuer)) {
		list_issuers(c, ours, sizeof(ours));
		quote(err, sizeof(err), iv.issuer_raw, strlen(iv.issuer_raw), 80);
		deed_seterr(why, whylen,
			    "record \"%s\" at _validation-persist.%s is for issuer \"%s\", not %s",
			    d.text, d.domain, iv.issuer[0] != '\0' ? iv.issuer : err, ours);
		return PERSIST_IGNORED;
	}
	if (rc != DEED_OK) {
		deed_seterr(why, whylen, "record \"%s\" at _validation-persist.%s is malformed: %s",
			    d.text, d.domain, err);
		return PERSIST_MALFORMED;
	}
	return judge(c, &iv, &d, until, why, whylen);
}

/*
 * §4.4 precedence (Boulder and Pebble agree): one passing record is enough; otherwise the
 * owner most needs to hear about a broken record of ours, then about one that names the
 * wrong account, time or scope.
 */
enum persist_verdict
persist_evaluate_all(const struct persist_check *c, char *const *txt, const size_t *len, size_t n,
		     size_t *which, int64_t *until, char *why, size_t whylen)
{
	char buf[4096], mwhy[4096], uwhy[4096], ours[256];
	size_t first_m = SIZE_MAX, first_u = SIZE_MAX;
	int64_t t;

	mwhy[0] = uwhy[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		enum persist_verdict v = persist_evaluate(c, txt[i], len[i], &t, buf, sizeof(buf));

		if (v == PERSIST_VALID) {
			if (which != NULL)
				*which = i;
			if (until != NULL)
				*until = t;
			deed_seterr(why, whylen, "%s", buf);
			return PERSIST_VALID;
		}
		if (v == PERSIST_MALFORMED && first_m == SIZE_MAX)
			first_m = i, memcpy(mwhy, buf, sizeof(buf));
		else if (v == PERSIST_UNAUTHORIZED && first_u == SIZE_MAX)
			first_u = i, memcpy(uwhy, buf, sizeof(buf));
	}
	if (first_m != SIZE_MAX) {
		if (which != NULL)
			*which = first_m;
		deed_seterr(why, whylen, "%s", mwhy);
		return PERSIST_MALFORMED;
	}
	if (first_u != SIZE_MAX) {
		if (which != NULL)
			*which = first_u;
		deed_seterr(why, whylen, "%s", uwhy);
		return PERSIST_UNAUTHORIZED;
	}
	if (which != NULL)
		*which = n;
	list_issuers(c, ours, sizeof(ours));
	if (n == 0)
		deed_seterr(why, whylen,
			    "no record for %s at _validation-persist.%s: no TXT record", ours,
			    c->record_domain != NULL ? c->record_domain : "?");
	else
		deed_seterr(why, whylen,
			    "no record for %s at _validation-persist.%s: its %zu TXT record(s) are "
			    "all for other issuers",
			    ours, c->record_domain != NULL ? c->record_domain : "?", n);
	return PERSIST_UNAUTHORIZED;
}

int
persist_hashed_uri(const char *prefix, const char *domain, const char *thumbprint,
		   const char *account_url, char *out, size_t outsz)
{
	unsigned char md[EVP_MAX_MD_SIZE], dlen;
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = NULL;
	size_t plen, n;
	int rc = DEED_EINVAL;

	if (prefix == NULL || domain == NULL || thumbprint == NULL || account_url == NULL ||
	    out == NULL)
		goto out;
	/* The length is a single octet (draft -02 §3.1). */
	if ((n = strlen(domain)) > 255)
		goto out;
	dlen = (unsigned char)n;
	plen = strlen(prefix);
	if (outsz < plen + sizeof("sha-256/") - 1 + SHA256_B64_LEN + 1)
		goto out;
	rc = DEED_ENOMEM;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, &dlen, 1) != 1 || EVP_DigestUpdate(ctx, domain, n) != 1 ||
	    EVP_DigestUpdate(ctx, thumbprint, strlen(thumbprint)) != 1 ||
	    EVP_DigestUpdate(ctx, account_url, strlen(account_url)) != 1 ||
	    EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32)
		goto out;
	memcpy(out, prefix, plen);
	memcpy(out + plen, "sha-256/", 8);
	rc = b64url_encode_buf(md, mdlen, out + plen + 8, outsz - plen - 8);
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

int
persist_record_value(const char *issuer, const char *accounturi, bool wildcard, int64_t until,
		     char *out, size_t outsz)
{
	int n, m = 0;

	if (issuer == NULL || accounturi == NULL || out == NULL || outsz == 0 ||
	    dnsname_check(issuer, false, NULL, 0) != DEED_OK || accounturi[0] == '\0')
		return DEED_EINVAL;
	/* A URI the CA would call malformed is not worth publishing. */
	for (const char *p = accounturi; *p != '\0'; p++)
		if (!is_value_char(*p))
			return DEED_EINVAL;
	n = snprintf(out, outsz, "%s; accounturi=%s%s", issuer, accounturi,
		     wildcard ? "; policy=wildcard" : "");
	if (n < 0 || (size_t)n >= outsz)
		return DEED_EINVAL;
	if (until != 0)
		m = snprintf(out + n, outsz - (size_t)n, "; persistUntil=%" PRId64, until);
	if (m < 0 || (size_t)m >= outsz - (size_t)n)
		return DEED_EINVAL;
	return DEED_OK;
}

static bool
put(char *out, size_t outsz, size_t *pos, const char *s, size_t n)
{
	if (n >= outsz - *pos)
		return false;
	memcpy(out + *pos, s, n);
	*pos += n;
	out[*pos] = '\0';
	return true;
}

/*
 * §4.3: a TXT character-string holds at most 255 octets (RFC 1035 §3.3), so longer values are
 * split; the CA joins the strings of one RR without a separator. Splitting happens on the raw
 * octets, before zone-file escaping (RFC 1035 §5.1).
 */
int
persist_zone_line(const char *domain, int ttl, const char *value, char *out, size_t outsz)
{
	const char *base;
	size_t dlen, vlen, pos = 0, i = 0;
	int n;

	if (domain == NULL || value == NULL || out == NULL || outsz == 0 || ttl < 0)
		return DEED_EINVAL;
	base = dnsname_base(domain);
	dlen = strlen(base);
	if (dlen > 0 && base[dlen - 1] == '.')
		dlen--;
	if (dlen == 0 || dlen > DNSNAME_MAX)
		return DEED_EINVAL;
	n = snprintf(out, outsz, "_validation-persist.%.*s. %d IN TXT", (int)dlen, base, ttl);
	if (n < 0 || (size_t)n >= outsz)
		return DEED_EINVAL;
	pos = (size_t)n;
	vlen = strlen(value);
	do {
		size_t end = vlen - i > 255 ? i + 255 : vlen;

		if (!put(out, outsz, &pos, " \"", 2))
			return DEED_EINVAL;
		for (; i < end; i++) {
			unsigned char u = (unsigned char)value[i];
			char tmp[5];
			size_t tl = 1;

			if (u == '"' || u == '\\')
				tmp[0] = '\\', tmp[1] = (char)u, tl = 2;
			else if (u < 0x20 || u > 0x7e)
				tmp[0] = '\\', tmp[1] = (char)('0' + u / 100),
				tmp[2] = (char)('0' + u / 10 % 10), tmp[3] = (char)('0' + u % 10),
				tl = 4;
			else
				tmp[0] = (char)u;
			if (!put(out, outsz, &pos, tmp, tl))
				return DEED_EINVAL;
		}
		if (!put(out, outsz, &pos, "\"", 1))
			return DEED_EINVAL;
	} while (i < vlen);
	return DEED_OK;
}
