#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * RFC 8659 §4.2 issue-values, and the dns-persist-01 record rules built on them
 * (draft-ietf-acme-dns-persist; deed accepts the -01 cleartext accounturi and the -02 hashed
 * accounturi, see docs/challenges/dns-persist-01.md).
 */

#define IV_MAX_PARAMS 32
#define IV_TAG_MAX 64
#define IV_VALUE_MAX 1024

struct iv_param {
	char tag[IV_TAG_MAX];      /* as written */
	char value[IV_VALUE_MAX];
};

struct issuevalue {
	char issuer[254];          /* normalized: lowercase A-label, no trailing dot; "" if none */
	char issuer_raw[256];      /* as written (trimmed), for messages */
	struct iv_param params[IV_MAX_PARAMS];
	size_t n_params;
};

/*
 * Parse one TXT value (the character-strings of one RR already joined). Leading/trailing
 * SP/HTAB are trimmed around the issuer, tags and values. Refuses (DEED_EMALFORMED, err says
 * why): empty parameter (e.g. trailing ";"), a parameter without "=", an empty tag or a tag
 * outside (ALPHA / DIGIT) *( *("-") (ALPHA / DIGIT)), a value with characters outside
 * %x21-3A / %x3C-7E, more than IV_MAX_PARAMS parameters, over-long pieces. The issuer is
 * normalized with dnsname_normalize; one that does not normalize leaves issuer "" (and
 * issuer_raw set) but is not an error here. A ";" followed only by SP/HTAB (no parameters)
 * is grammatical per RFC 8659 §4.2; a ";" after a parameter must be followed by another.
 * An issuer over 255 octets is refused (issuer ""); on a refusal in the parameters,
 * issuer and issuer_raw stay set, so the caller can still tell whose record it was.
 * Returns DEED_OK, DEED_EMALFORMED, or DEED_EINVAL (out NULL, or s NULL with len > 0).
 */
int issuevalue_parse(const char *s, size_t len, struct issuevalue *out, char *err,
		     size_t errlen);

/* Value of the first parameter whose tag equals tag case-insensitively, or NULL. */
const char *issuevalue_get(const struct issuevalue *iv, const char *tag);

/* Number of parameters with that tag (case-insensitive). */
size_t issuevalue_count(const struct issuevalue *iv, const char *tag);

/* --- dns-persist-01 ------------------------------------------------------------------- */

enum persist_verdict {
	PERSIST_VALID,
	PERSIST_MALFORMED,    /* a record for us that does not parse or breaks a syntax rule */
	PERSIST_UNAUTHORIZED, /* a record for us that does not authorize this account/name/time */
	PERSIST_IGNORED,      /* a record for another issuer */
};

struct persist_check {
	const char *const *issuers;     /* our issuer domain names, normalized */
	size_t n_issuers;
	const char *account_url;        /* -01: accounturi must equal it (byte for byte) */
	bool accept_plain;              /* accept the -01 cleartext form */
	const char *hash_prefix;        /* -02: accountHashPrefix; NULL = hashed form refused */
	const char *const *thumbprints; /* every key thumbprint the account has had, newest first */
	size_t n_thumbprints;
	const char *record_domain;      /* FQDN the record is at, without "_validation-persist." */
	bool need_wildcard_policy;      /* wildcard identifier, or a record at an ancestor */
	int64_t now;                    /* UNIX seconds */
};

/*
 * Judge one record. why (may be NULL) gets what was seen and what is wrong, for a problem
 * detail. *until gets persistUntil (INT64_MAX when absent) for a valid record.
 * Rules: other issuers are ignored even when malformed; accounturi required and single;
 * policy/persistUntil at most once; persistUntil a base-10 integer (sign allowed); unknown tags
 * ignored, duplicates of unknown tags too; policy compared case-insensitively with "wildcard";
 * now > persistUntil is unauthorized.
 */
enum persist_verdict persist_evaluate(const struct persist_check *c, const char *txt, size_t len,
				      int64_t *until, char *why, size_t whylen);

/*
 * Judge all RRs at one name: any valid record wins (*which = its index); otherwise malformed
 * outranks unauthorized; with no record for us at all the verdict is PERSIST_UNAUTHORIZED with
 * "no record for <issuers>". why names the deciding record. which (may be NULL) gets the
 * index of the deciding record, or n when no record was for us; until (may be NULL) is set
 * only for a valid verdict.
 */
enum persist_verdict persist_evaluate_all(const struct persist_check *c, char *const *txt,
					  const size_t *len, size_t n, size_t *which,
					  int64_t *until, char *why, size_t whylen);

/*
 * -02 hashed accounturi: prefix + "sha-256/" + base64url(SHA-256(len(domain) || domain ||
 * thumbprint || account_url)), domain being the record's FQDN or "*" for the domain-free form.
 * Returns DEED_OK or DEED_EINVAL (domain longer than 255, out too small; needs
 * strlen(prefix) + 52 octets), DEED_ENOMEM or DEED_ECRYPTO when OpenSSL fails.
 */
int persist_hashed_uri(const char *prefix, const char *domain, const char *thumbprint,
		       const char *account_url, char *out, size_t outsz);

/* The record value deed writes: "<issuer>; accounturi=<uri>[; policy=wildcard]
 * [; persistUntil=<until>]" (until 0 = none). Returns DEED_OK, or DEED_EINVAL when issuer is
 * not a normalized name, accounturi is empty or has characters a value may not hold, or out
 * is too small. */
int persist_record_value(const char *issuer, const char *accounturi, bool wildcard,
			 int64_t until, char *out, size_t outsz);

/* A zone-file line: `_validation-persist.<domain>. <ttl> IN TXT "..." "..."`, the value split
 * into character-strings of at most 255 octets, '"' and '\' escaped, other octets outside
 * %x20-7E as \DDD. A leading "*." and a trailing dot of domain are dropped (§4.3). Returns
 * DEED_OK, or DEED_EINVAL (empty domain, negative ttl, out too small). */
int persist_zone_line(const char *domain, int ttl, const char *value, char *out, size_t outsz);
