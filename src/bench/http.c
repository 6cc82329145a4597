#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "acme.h"
#include "bench.h"
#include "error.h"

#define BODY_INITIAL (16 * 1024) /* an order or authorization is well under 2 KiB */

/* Only the headers the ACME flow needs; everything else is skipped without a copy. */
static size_t
on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct bench_http *h = arg;
	size_t n = sz * nm, name_len;
	const char *colon = memchr(p, ':', n);

	if (colon == NULL)
		return n;
	name_len = (size_t)(colon - p);
#define IS(name) (name_len == sizeof(name) - 1 && strncasecmp(p, name, name_len) == 0)
	if (IS("Replay-Nonce"))
		acme_header_value(h->nonce, sizeof(h->nonce), colon + 1, n - name_len - 1);
	else if (IS("Location"))
		acme_header_value(h->location, sizeof(h->location), colon + 1, n - name_len - 1);
	else if (IS("Content-Type"))
		acme_header_value(h->ctype, sizeof(h->ctype), colon + 1, n - name_len - 1);
	else if (IS("Retry-After")) {
		char v[32];

		acme_header_value(v, sizeof(v), colon + 1, n - name_len - 1);
		/* Seconds; an HTTP date counts as "a while" */
		h->retry_after = isdigit((unsigned char)v[0]) ? atoi(v) : 1;
	}
#undef IS
	return n;
}

int
bench_http_init(struct bench_http *h, const char *ca_bundle, bool insecure)
{
	memset(h, 0, sizeof(*h));
	h->rx.max = BENCH_BODY_MAX;
	if ((h->curl = curl_easy_init()) == NULL || growbuf_reserve(&h->rx, BODY_INITIAL) != DEED_OK)
		goto fail;
	/* "Expect:" keeps libcurl from waiting for 100-continue on a large finalize body. */
	if ((h->jose = curl_slist_append(NULL, "Content-Type: application/jose+json")) == NULL ||
	    curl_slist_append(h->jose, "Expect:") == NULL)
		goto fail;
	curl_easy_setopt(h->curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(h->curl, CURLOPT_USERAGENT, "deed-bench/0.1");
	curl_easy_setopt(h->curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 15L);
	curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h->curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, growbuf_curl_write);
	curl_easy_setopt(h->curl, CURLOPT_WRITEDATA, &h->rx);
	curl_easy_setopt(h->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h->curl, CURLOPT_HEADERDATA, h);
	curl_easy_setopt(h->curl, CURLOPT_ERRORBUFFER, h->err);
	if (ca_bundle != NULL)
		curl_easy_setopt(h->curl, CURLOPT_CAINFO, ca_bundle);
	if (insecure) {
		curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return DEED_OK;
fail:
	bench_http_cleanup(h);
	return DEED_ENOMEM;
}

void
bench_http_cleanup(struct bench_http *h)
{
	if (h->curl != NULL)
		curl_easy_cleanup(h->curl);
	curl_slist_free_all(h->jose);
	growbuf_free(&h->rx);
	memset(h, 0, sizeof(*h));
}

static int
perform(struct bench_http *h, const char *url)
{
	CURLcode cc;

	growbuf_clear(&h->rx);
	h->status = 0;
	h->location[0] = h->ctype[0] = h->err[0] = '\0';
	h->kind = "";
	h->retry_after = 0;
	curl_easy_setopt(h->curl, CURLOPT_URL, url);
	if ((cc = curl_easy_perform(h->curl)) != CURLE_OK) {
		h->kind = curl_easy_strerror(cc);
		if (h->rx.too_big) {
			snprintf(h->err, sizeof(h->err), "response larger than %d bytes",
				 BENCH_BODY_MAX);
			h->kind = "response too large";
			return DEED_ETOOBIG;
		}
		if (h->err[0] == '\0')
			snprintf(h->err, sizeof(h->err), "%s", curl_easy_strerror(cc));
		return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CONNECT_ERROR ||
			       cc == CURLE_SSL_CACERT_BADFILE
			   ? DEED_ETLS
			   : DEED_ECONNECT;
	}
	curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &h->status);
	return DEED_OK;
}

int
bench_http_get(struct bench_http *h, const char *url)
{
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_HTTPGET, 1L);
	return perform(h, url);
}

int
bench_http_head(struct bench_http *h, const char *url)
{
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h->curl, CURLOPT_NOBODY, 1L);
	return perform(h, url);
}

int
bench_http_post(struct bench_http *h, const char *url, const char *body, size_t len)
{
	/* NOBODY 0 turns the handle back into a GET, so it must come before POSTFIELDS. */
	curl_easy_setopt(h->curl, CURLOPT_NOBODY, 0L);
	curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, h->jose);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, body);
	return perform(h, url);
}
