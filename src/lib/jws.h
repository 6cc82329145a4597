#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "jwk.h"

/*
 * JWS in flattened JSON serialization (RFC 7515 §7.2.2) as ACME uses it (RFC 8555 §6.2).
 */

#define JWS_MAX_BODY (64 * 1024) /* cap on a request body we parse */

struct jws {
	char *alg;          /* protected "alg" */
	char *nonce;        /* protected "nonce", NULL if absent */
	char *url;          /* protected "url", NULL if absent */
	char *kid;          /* protected "kid", NULL if absent */
	struct jwk *jwk;    /* protected "jwk", NULL if absent */
	uint8_t *payload;   /* decoded payload, NUL-terminated; "" for POST-as-GET */
	size_t payload_len;
	bool post_as_get;   /* payload was the empty string */
	/* private to jws.c */
	char *signing_input; /* protected "." payload, as received */
	uint8_t *sig;
	size_t sig_len;
};

/*
 * Parse (do not verify) a flattened JWS from len bytes of body. Checks structure: exactly the
 * members protected/payload/signature (no "header", no "signatures"), base64url fields, a
 * protected header that is a JSON object with a string "alg" (never "none" nor an HMAC
 * algorithm: DEED_EBADALG), and exactly one of "jwk"/"kid" (RFC 8555 §6.2). An embedded "jwk"
 * is parsed with jwk_from_json (its key-policy check is the caller's).
 * err (may be NULL) gets a one-line reason.
 * Returns DEED_OK, DEED_EMALFORMED, DEED_EBADALG, DEED_EBADKEY, DEED_ETOOBIG, DEED_ENOMEM.
 */
int jws_parse(const char *body, size_t len, struct jws **out, char *err, size_t errlen);

/*
 * Verify the signature with key (the embedded jwk, or an account's stored key). The alg must
 * fit the key (RS256 for RSA, ES256/384/512 for P-256/384/521, EdDSA for Ed25519). An
 * ECDSA signature must be exactly r || s at the curve's width, an RSA one exactly the modulus
 * size (RFC 7518 §3.4, RFC 8017 §8.2.2).
 * Returns DEED_OK, DEED_EBADALG, DEED_EBADSIG; DEED_EINVAL, DEED_ENOMEM or DEED_ECRYPTO when
 * the check could not be made at all.
 */
int jws_verify(const struct jws *j, const struct jwk *key);

/*
 * Sign payload (NULL or "" for POST-as-GET) with key into a new flattened-JSON string *out.
 * With kid NULL the public key is embedded as "jwk"; nonce may be NULL (inner keyChange JWS).
 * Returns DEED_OK, DEED_EINVAL, DEED_ENOMEM, DEED_ECRYPTO (e.g. key has no private half).
 */
int jws_sign(const struct jwk *key, const char *kid, const char *nonce, const char *url,
	     const char *payload, char **out);

/* Same, returning the JSON object instead of a string (for nesting, as keyChange does). */
int jws_sign_json(const struct jwk *key, const char *kid, const char *nonce, const char *url,
		  const char *payload, json_t **out);

void jws_free(struct jws *j);
