#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "jwk.h"

/*
 * An ACME session (RFC 8555 §6-7) with one server: the directory, nonces, signed requests
 * (kid once the account is known, jwk before), POST-as-GET, one automatic retry on badNonce,
 * and the response headers a client needs (Location, Link, Retry-After).
 */

#define ACME_MAX_LINKS 8
#define ACME_MAX_BODY (4 * 1024 * 1024)

struct acme_link {
	char rel[32];
	char url[1024];
};

struct acme_resp {
	long status;
	json_t *body;       /* parsed when the body is JSON, else NULL */
	char *raw;          /* the body, NUL-terminated */
	size_t raw_len;
	char content_type[128];
	char location[1024];
	int retry_after;    /* seconds; 0 when absent */
	struct acme_link links[ACME_MAX_LINKS];
	size_t n_links;
};

struct acme;

/* Fetch the directory at url. ca_bundle is a PEM file to trust instead of the system store
 * (NULL = system). Returns DEED_OK, DEED_ECONNECT, DEED_ETLS, DEED_EMALFORMED (not an ACME
 * directory); err names what failed. */
int acme_new(const char *url, const char *ca_bundle, struct acme **out, char *err,
	     size_t errlen);
void acme_free(struct acme *a);

/* The key that signs, and the account URL once known (kid; NULL = embed the jwk). Borrowed. */
void acme_set_account(struct acme *a, const struct jwk *key, const char *kid);

/* A directory entry ("newOrder", ...) or NULL; the directory's "meta" object or NULL. */
const char *acme_dir(const struct acme *a, const char *name);
const json_t *acme_meta(const struct acme *a);

/* Signed POST of payload (NULL = POST-as-GET) to url. DEED_OK when the server answered, whatever
 * the status (problem documents are in r->body); transport errors otherwise. */
int acme_post(struct acme *a, const char *url, const char *payload, struct acme_resp *r,
	      char *err, size_t errlen);

/* Sign with key (not the session's) and embed its jwk: for keyChange's inner JWS and
 * revocation by certificate key. */
int acme_post_with(struct acme *a, const struct jwk *key, const char *url, const char *payload,
		   struct acme_resp *r, char *err, size_t errlen);

/* A one-line description of an error response: the problem's detail and type. */
void acme_problem(const struct acme_resp *r, char *out, size_t outsz);

/* The first link with rel (e.g. "alternate", "up"), starting at index *from; NULL when none. */
const char *acme_link(const struct acme_resp *r, const char *rel, size_t *from);

void acme_resp_cleanup(struct acme_resp *r);

/*
 * The value of a header line as libcurl hands it over (v, len: what follows the colon, CRLF
 * included): leading SP/HTAB and trailing white space dropped (RFC 9110 §5.5), copied into dst
 * NUL-terminated, cut to dstsz - 1 octets. dstsz must be at least 1. Shared with deed-bench.
 */
void acme_header_value(char *dst, size_t dstsz, const char *v, size_t len);
