#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "acme.h"
#include "djson.h"
#include "error.h"
#include "growbuf.h"
#include "jws.h"

#define NONCE_MAX 256
#define BADNONCE_RETRIES 3

struct acme {
	CURL *curl; /* one handle: its connection is reused across requests */
	char *ca_bundle;
	json_t *dir;
	const struct jwk *key;
	char *kid;
	char nonce[NONCE_MAX]; /* the last Replay-Nonce seen, "" when none */
};

/* --- transport ------------------------------------------------------------------------- */

/* One response on its way in: headers go straight to r (and the nonce to a), the body to
 * body, handed to r once complete. */
struct rx {
	struct acme *a;
	struct acme_resp *r;
	struct growbuf body;
};

void
acme_header_value(char *dst, size_t dstsz, const char *v, size_t len)
{
	while (len > 0 && (*v == ' ' || *v == '\t'))
		v++, len--;
	while (len > 0 && isspace((unsigned char)v[len - 1]))
		len--;
	if (len >= dstsz)
		len = dstsz - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
}

/* Link: <url>;rel="alternate", <url2>;rel="up" (RFC 8288), as ACME servers send them. */
static void
parse_links(struct acme_resp *r, const char *v, size_t len)
{
	const char *end = v + len;

	while (v < end && r->n_links < ACME_MAX_LINKS) {
		const char *lt = memchr(v, '<', (size_t)(end - v)), *gt, *rel, *stop;
		struct acme_link *l;

		if (lt == NULL || (gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			return;
		stop = memchr(gt, ',', (size_t)(end - gt));
		if (stop == NULL)
			stop = end;
		l = &r->links[r->n_links];
		acme_header_value(l->url, sizeof(l->url), lt + 1, (size_t)(gt - lt - 1));
		l->rel[0] = '\0';
		for (rel = gt; rel + 4 <= stop; rel++) {
			if (strncasecmp(rel, "rel=", 4) == 0) {
				const char *q = rel + 4;
				size_t n = 0;

				if (q < stop && *q == '"')
					q++;
				while (q + n < stop && q[n] != '"' && q[n] != ';' && q[n] != ' ')
					n++;
				acme_header_value(l->rel, sizeof(l->rel), q, n);
				break;
			}
		}
		r->n_links++;
		v = stop + 1;
	}
}

static size_t
on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct rx *x = arg;
	size_t n = sz * nm;
	const char *colon = memchr(p, ':', n);
	size_t name_len, vlen;
	const char *v;

	if (colon == NULL)
		return n;
	name_len = (size_t)(colon - p);
	v = colon + 1;
	vlen = n - name_len - 1;
#define IS(h) (name_len == strlen(h) && strncasecmp(p, h, name_len) == 0)
	if (IS("Replay-Nonce"))
		acme_header_value(x->a->nonce, sizeof(x->a->nonce), v, vlen);
	else if (IS("Location"))
		acme_header_value(x->r->location, sizeof(x->r->location), v, vlen);
	else if (IS("Content-Type"))
		acme_header_value(x->r->content_type, sizeof(x->r->content_type), v, vlen);
	else if (IS("Link"))
		parse_links(x->r, v, vlen);
	else if (IS("Retry-After")) {
		char buf[64];

		acme_header_value(buf, sizeof(buf), v, vlen);
		/* Seconds, or an HTTP date: then ask again in a while. */
		if (isdigit((unsigned char)buf[0])) {
			unsigned long long s = strtoull(buf, NULL, 10);

			/* A day at most: a server's "wait a century" is treated as a long wait,
			 * not as an overflow. */
			x->r->retry_after = s > 86400 ? 86400 : (int)s;
		} else {
			x->r->retry_after = 5;
		}
	}
#undef IS
	return n;
}

enum method { M_GET, M_HEAD, M_POST };

static int
request(struct acme *a, enum method m, const char *url, const char *body, struct acme_resp *r,
	char *err, size_t errlen)
{
	struct curl_slist *h = NULL;
	struct rx x = {.a = a, .r = r, .body = {.max = ACME_MAX_BODY}};
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	curl_easy_reset(a->curl);
	curl_easy_setopt(a->curl, CURLOPT_URL, url);
	curl_easy_setopt(a->curl, CURLOPT_USERAGENT, "deed/0.1");
	curl_easy_setopt(a->curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(a->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(a->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(a->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(a->curl, CURLOPT_WRITEFUNCTION, growbuf_curl_write);
	curl_easy_setopt(a->curl, CURLOPT_WRITEDATA, &x.body);
	curl_easy_setopt(a->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(a->curl, CURLOPT_HEADERDATA, &x);
	if (a->ca_bundle != NULL)
		curl_easy_setopt(a->curl, CURLOPT_CAINFO, a->ca_bundle);
	if (m == M_HEAD)
		curl_easy_setopt(a->curl, CURLOPT_NOBODY, 1L);
	if (m == M_POST) {
		h = curl_slist_append(NULL, "Content-Type: application/jose+json");
		curl_easy_setopt(a->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(a->curl, CURLOPT_POSTFIELDS, body);
	}
	cc = curl_easy_perform(a->curl);
	curl_slist_free_all(h);
	if (cc != CURLE_OK) {
		int rc = cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
				 cc == CURLE_SSL_CACERT_BADFILE
			 ? DEED_ETLS
			 : DEED_ECONNECT;

		deed_seterr(err, errlen, "%s: %s", url,
			    x.body.too_big ? "response too large" : curl_easy_strerror(cc));
		growbuf_free(&x.body);
		acme_resp_cleanup(r);
		return rc;
	}
	r->raw = x.body.p; /* NULL when there was no body */
	r->raw_len = x.body.len;
	curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &r->status);
	if (r->raw != NULL && strstr(r->content_type, "json") != NULL)
		djson_parse(r->raw, r->raw_len, ACME_MAX_BODY, &r->body, NULL, 0);
	return DEED_OK;
}

/* --- session --------------------------------------------------------------------------- */

int
acme_new(const char *url, const char *ca_bundle, struct acme **out, char *err, size_t errlen)
{
	struct acme *a;
	struct acme_resp r;
	int rc;

	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->curl = curl_easy_init()) == NULL) {
		free(a);
		return DEED_ENOMEM;
	}
	if (ca_bundle != NULL && (a->ca_bundle = strdup(ca_bundle)) == NULL) {
		acme_free(a);
		return DEED_ENOMEM;
	}
	if ((rc = request(a, M_GET, url, NULL, &r, err, errlen)) != DEED_OK) {
		acme_free(a);
		return rc;
	}
	if (r.status != 200 || !json_is_object(r.body) ||
	    !json_is_string(json_object_get(r.body, "newNonce")) ||
	    !json_is_string(json_object_get(r.body, "newAccount")) ||
	    !json_is_string(json_object_get(r.body, "newOrder"))) {
		deed_seterr(err, errlen, "%s is not an ACME directory (HTTP %ld)", url, r.status);
		acme_resp_cleanup(&r);
		acme_free(a);
		return DEED_EMALFORMED;
	}
	a->dir = json_incref(r.body);
	acme_resp_cleanup(&r);
	*out = a;
	return DEED_OK;
}

void
acme_free(struct acme *a)
{
	if (a == NULL)
		return;
	if (a->curl != NULL)
		curl_easy_cleanup(a->curl);
	json_decref(a->dir);
	free(a->ca_bundle);
	free(a->kid);
	free(a);
}

void
acme_set_account(struct acme *a, const struct jwk *key, const char *kid)
{
	a->key = key;
	free(a->kid);
	a->kid = kid != NULL ? strdup(kid) : NULL;
}

const char *
acme_dir(const struct acme *a, const char *name)
{
	return djson_str(a->dir, name);
}

const json_t *
acme_meta(const struct acme *a)
{
	return json_object_get(a->dir, "meta");
}

static int
fresh_nonce(struct acme *a, char *err, size_t errlen)
{
	struct acme_resp r;
	const char *url = acme_dir(a, "newNonce");
	int rc;

	a->nonce[0] = '\0';
	if ((rc = request(a, M_HEAD, url, NULL, &r, err, errlen)) != DEED_OK)
		return rc;
	acme_resp_cleanup(&r);
	if (a->nonce[0] == '\0') {
		deed_seterr(err, errlen, "%s gave no Replay-Nonce", url);
		return DEED_EMALFORMED;
	}
	return DEED_OK;
}

static bool
is_bad_nonce(const struct acme_resp *r)
{
	const char *t = djson_str(r->body, "type");

	return r->status == 400 && t != NULL &&
	       strcmp(t, "urn:ietf:params:acme:error:badNonce") == 0;
}

static int
signed_post(struct acme *a, const struct jwk *key, const char *kid, const char *url,
	    const char *payload, struct acme_resp *r, char *err, size_t errlen)
{
	char *jws = NULL;
	int rc = DEED_OK;

	memset(r, 0, sizeof(*r));
	/* RFC 8555 §6.5: a badNonce answer carries a fresh nonce and a retry with it is
	 * explicitly allowed. Servers may refuse good nonces at random (Pebble refuses 5 % on
	 * purpose), so a few retries keep a long session from failing on chance alone. */
	for (int attempt = 0; attempt <= BADNONCE_RETRIES; attempt++) {
		if (a->nonce[0] == '\0' && (rc = fresh_nonce(a, err, errlen)) != DEED_OK)
			return rc;
		rc = jws_sign(key, kid, a->nonce, url, payload != NULL ? payload : "", &jws);
		a->nonce[0] = '\0'; /* used */
		if (rc != DEED_OK) {
			deed_seterr(err, errlen, "cannot sign the request: %s", deed_strerror(rc));
			return rc;
		}
		rc = request(a, M_POST, url, jws, r, err, errlen);
		free(jws);
		jws = NULL;
		if (rc != DEED_OK || !is_bad_nonce(r) || attempt == BADNONCE_RETRIES)
			break;
		acme_resp_cleanup(r);
	}
	return rc;
}

int
acme_post(struct acme *a, const char *url, const char *payload, struct acme_resp *r, char *err,
	  size_t errlen)
{
	if (a->key == NULL)
		return DEED_EINVAL;
	return signed_post(a, a->key, a->kid, url, payload, r, err, errlen);
}

int
acme_post_with(struct acme *a, const struct jwk *key, const char *url, const char *payload,
	       struct acme_resp *r, char *err, size_t errlen)
{
	return signed_post(a, key, NULL, url, payload, r, err, errlen);
}

void
acme_problem(const struct acme_resp *r, char *out, size_t outsz)
{
	const char *detail = djson_str(r->body, "detail"), *type = djson_str(r->body, "type");
	const char *shortt = type;

	if (type != NULL && strncmp(type, "urn:ietf:params:acme:error:", 27) == 0)
		shortt = type + 27;
	if (detail != NULL || type != NULL)
		snprintf(out, outsz, "%s (%s, HTTP %ld)", detail != NULL ? detail : "no detail",
			 shortt != NULL ? shortt : "no type", r->status);
	else
		snprintf(out, outsz, "HTTP %ld with no problem document", r->status);
}

const char *
acme_link(const struct acme_resp *r, const char *rel, size_t *from)
{
	for (size_t i = from != NULL ? *from : 0; i < r->n_links; i++) {
		if (strcmp(r->links[i].rel, rel) == 0) {
			if (from != NULL)
				*from = i + 1;
			return r->links[i].url;
		}
	}
	return NULL;
}

void
acme_resp_cleanup(struct acme_resp *r)
{
	if (r == NULL)
		return;
	json_decref(r->body);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}
