#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "problem.h"

/*
 * va: the validation authority. One call = one validation from this perspective. Calls block
 * (they run on the RA's worker threads, never on an HTTP handler) and are thread-safe.
 */

struct va_config {
	const char *resolver;  /* "ADDR" or "ADDR@PORT" to send every lookup to; NULL = system */
	int http01_port;       /* 80 in production */
	int tlsalpn01_port;    /* 443 in production */
	bool allow_loopback;   /* let http-01/tls-alpn-01 reach 127.0.0.0/8 and ::1 */
	int timeout_ms;        /* whole validation deadline */
	const char *trust_anchor_file; /* DNSSEC anchors; NULL = none (answers are insecure) */
};

struct va_request {
	const char *type;        /* "http-01", "dns-01", ... */
	const char *identifier;  /* DNS name, no "*." */
	bool wildcard;
	const char *token;
	const char *key_authz;   /* token "." thumbprint */
	const char *account_url; /* as in kid; dns-account-01 hashes it into its label */
	/* Check CAA (va_caa.h) once the challenge passed, for type as the validation method;
	 * issuers are then our CAA issuer domain names. */
	bool check_caa;
	/* dns-persist-01 and CAA */
	const char *const *issuers;     /* our issuer domain names (caa_identities) */
	size_t n_issuers;
	/* dns-persist-01 only */
	bool accept_plain;              /* accounturi may be the account URL (draft -01) */
	const char *hash_prefix;        /* accountHashPrefix, NULL = hashed form refused (-02) */
	const char *const *thumbprints; /* the account's key thumbprints, newest first */
	size_t n_thumbprints;
};

struct va_result {
	bool ok;
	enum prob_type prob;   /* when !ok */
	char detail[512];      /* when !ok: what was seen, for the client */
	json_t *records;       /* validationRecord array (owned); may be NULL */
	/* dns-persist-01: what the passing record allows */
	int64_t ttl;           /* TTL of the TXT RRset, seconds */
	int64_t persist_until; /* persistUntil, INT64_MAX when absent */
	char validated_name[300]; /* the name whose record passed */
};

struct va;

/* Returns DEED_OK, DEED_ENOMEM, DEED_EINVAL (bad resolver or anchor file). err gets why.
 * Initialises libcurl for the process (curl_global_init, once; a program that already did is
 * fine: libcurl counts the calls). */
int va_new(const struct va_config *cfg, struct va **out, char *err, size_t errlen);
void va_free(struct va *va);

/* Run the validation. Always fills res (res->ok false with a problem when it failed).
 * Returns DEED_OK, or DEED_EUNSUPPORTED for an unknown challenge type. */
int va_validate(struct va *va, const struct va_request *req, struct va_result *res);

/* CAA alone (RFC 8659, RFC 8657), for the RA's recheck before issuance: req->identifier,
 * wildcard, type (the method that validated the authorization), account_url and issuers are
 * used. res is filled afresh: ok, and prob (PROB_CAA, PROB_DNS) and detail when refused;
 * records holds the one CAA validationRecord (va_caa.h). */
void va_check_caa(struct va *va, const struct va_request *req, struct va_result *res);

void va_result_cleanup(struct va_result *res);

/* Set res's problem type and detail (printf-style); returns false, so that a validator can
 * `return va_fail(...)`. */
bool va_fail(struct va_result *res, enum prob_type t, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A value from the network made fit for a problem detail: at most 100 of its len bytes,
 * quotes and backslashes escaped, other unprintable bytes as \DDD, "..." when cut. out should
 * have 408 bytes; a smaller one cuts earlier. */
void va_printable(const char *v, size_t len, char *out, size_t outsz);
