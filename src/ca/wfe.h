#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "ra.h"
#include "sa.h"
#include "signer.h"

/*
 * wfe: the web front end. Routes ACME requests, checks the JWS (content type, structure,
 * nonce, url, key, signature), and renders resources and RFC 8555 problem documents. No
 * policy lives here; decisions are the RA's.
 *
 * wfe_handle is the whole request path without the network, so tests drive it directly;
 * wfe_listen puts it behind libmicrohttpd with TLS.
 */

#define WFE_MAX_HEADERS 8

struct wfe_request {
	const char *method;       /* "GET", "HEAD", "POST", ... */
	const char *path;         /* "/acme/order/12" (no query) */
	const char *cursor;       /* "cursor" query argument, or NULL */
	const char *content_type; /* request Content-Type, or NULL */
	const char *body;
	size_t body_len;
	bool body_too_big;        /* the body exceeded JWS_MAX_BODY and was dropped */
};

struct wfe_header {
	char name[32];
	char value[640];
};

struct wfe_reply {
	int status;
	const char *content_type;  /* static string, or NULL when there is no body */
	char *body;                /* malloc'd, may be NULL */
	size_t body_len;
	struct wfe_header headers[WFE_MAX_HEADERS];
	size_t n_headers;
};

struct wfe;

int wfe_new(const struct ca_config *cfg, const char *base_url, struct ra *ra, struct sa *sa,
	    struct signer *signer, struct wfe **out, char *err, size_t errlen);

/* Handle one request; rep is always filled (release with wfe_reply_cleanup). */
void wfe_handle(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep);

void wfe_reply_cleanup(struct wfe_reply *rep);

/* The value of header name in rep, or NULL. */
const char *wfe_reply_header(const struct wfe_reply *rep, const char *name);

/* Serve HTTPS on listen ("ADDR:PORT", "[V6]:PORT") with the PEM certificate chain and key,
 * threads worker threads. Returns DEED_OK, DEED_EIO (cannot bind, bad key). */
int wfe_listen(struct wfe *w, const char *listen, const char *cert_pem, const char *key_pem,
	       int threads, char *err, size_t errlen);

/* Stop listening (finishing requests in flight) and free. */
void wfe_free(struct wfe *w);
