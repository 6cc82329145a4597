#pragma once

#include <jansson.h>

/*
 * RFC 7807 problem documents with the ACME error types of RFC 8555 §6.7.
 */

enum prob_type {
	PROB_ACCOUNT_DOES_NOT_EXIST,
	PROB_ALREADY_REVOKED,
	PROB_BAD_CSR,
	PROB_BAD_NONCE,
	PROB_BAD_PUBLIC_KEY,
	PROB_BAD_REVOCATION_REASON,
	PROB_BAD_SIGNATURE_ALGORITHM,
	PROB_CAA,
	PROB_COMPOUND,
	PROB_CONNECTION,
	PROB_DNS,
	PROB_EXTERNAL_ACCOUNT_REQUIRED,
	PROB_INCORRECT_RESPONSE,
	PROB_INVALID_CONTACT,
	PROB_MALFORMED,
	PROB_ORDER_NOT_READY,
	PROB_RATE_LIMITED,
	PROB_REJECTED_IDENTIFIER,
	PROB_SERVER_INTERNAL,
	PROB_TLS,
	PROB_UNAUTHORIZED,
	PROB_UNSUPPORTED_CONTACT,
	PROB_UNSUPPORTED_IDENTIFIER,
	PROB_USER_ACTION_REQUIRED,
	PROB_ALREADY_REPLACED,
	PROB_INVALID_PROFILE,
	PROB_NOT_FOUND,        /* 404, type malformed */
	PROB_METHOD_NOT_ALLOWED, /* 405, type malformed */
	PROB_UNSUPPORTED_MEDIA, /* 415, type malformed */
	PROB_CONFLICT,          /* 409, type malformed (keyChange to a key in use) */
};

/* "urn:ietf:params:acme:error:malformed" and so on. */
const char *prob_urn(enum prob_type t);

/* The short name, "malformed" and so on (for logs and storage). */
const char *prob_name(enum prob_type t);

/* Look a type up by its full URN or short name; returns -1 when unknown. */
int prob_from_string(const char *s);

/* The HTTP status a careful CA answers with. */
int prob_http_status(enum prob_type t);

/*
 * A new problem document {"type", "detail", "status"}. detail is printf-formatted.
 * Returns NULL on allocation failure.
 */
json_t *prob_new(enum prob_type t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
