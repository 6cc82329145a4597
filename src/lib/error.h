#pragma once

#include <stddef.h>

/*
 * The project's one error enum. Library code returns these; only main() and the HTTP edge
 * turn them into messages or RFC 8555 problem documents.
 */
enum deed_err {
	DEED_OK = 0,
	DEED_ENOMEM = -1,     /* allocation failed */
	DEED_EINVAL = -2,     /* caller passed something unusable */
	DEED_EMALFORMED = -3, /* input does not parse */
	DEED_ETOOBIG = -4,    /* input exceeds the cap chosen for it */
	DEED_EBADSIG = -5,    /* signature does not verify */
	DEED_EBADALG = -6,    /* algorithm not accepted, or not fit for the key */
	DEED_EBADKEY = -7,    /* key type, size or value refused by policy */
	DEED_ECRYPTO = -8,    /* the crypto library failed */
	DEED_ENOTFOUND = -9,  /* no such record */
	DEED_ECONFLICT = -10, /* compare-and-set lost, or unique key already taken */
	DEED_EDB = -11,       /* storage failed */
	DEED_EIO = -12,       /* file or socket I/O failed */
	DEED_EDNS = -13,      /* DNS lookup failed (SERVFAIL, timeout, bogus) */
	DEED_ECONNECT = -14,  /* could not connect */
	DEED_ETIMEOUT = -15,  /* deadline passed */
	DEED_ETLS = -16,      /* TLS failure */
	DEED_EDENIED = -17,   /* policy refuses */
	DEED_EUNSUPPORTED = -18, /* well-formed but not supported */
	DEED_ESTATE = -19,    /* object is not in the state the operation needs */
};

/*
 * Write a one-line reason into a caller's error buffer; err may be NULL (nothing is written).
 * Library functions use it to tell the caller why, without printing.
 */
void deed_seterr(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* deed_seterr, then return rc: a refusal with its reason is one `return` statement. */
int deed_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A short English description of err; never NULL. */
const char *deed_strerror(int err);
