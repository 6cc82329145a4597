/*
 * acme-post: send one signed ACME request, for integration tests.
 *
 *   acme-post --ca ROOT.pem --key ACCOUNT.key --kid ACCOUNT_URL --directory DIR_URL URL [PAYLOAD]
 *
 * Without PAYLOAD it is a POST-as-GET. Fetches a nonce from the directory's newNonce, signs with
 * the account key, prints the HTTP status on the first line and the body after it. Exit 0 when
 * the status is 2xx.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/pem.h>

#include "djson.h"
#include "error.h"
#include "growbuf.h"
#include "jwk.h"
#include "jws.h"

static size_t
on_header(char *data, size_t sz, size_t nm, void *arg)
{
	char *nonce = arg;
	size_t len = sz * nm;

	if (len > 14 && strncasecmp(data, "Replay-Nonce:", 13) == 0) {
		const char *v = data + 13;
		size_t i = 0;

		while (*v == ' ')
			v++;
		while (i < 127 && v + i < data + len && v[i] != '\r' && v[i] != '\n')
			nonce[i] = v[i], i++;
		nonce[i] = '\0';
	}
	return len;
}

static long
request(const char *url, const char *ca, const char *body, struct growbuf *out, char *nonce)
{
	CURL *c = curl_easy_init();
	struct curl_slist *h = NULL;
	long status = 0;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CAINFO, ca);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, growbuf_curl_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, nonce);
	if (body != NULL) {
		h = curl_slist_append(h, "Content-Type: application/jose+json");
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c) == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return status;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"ca", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},
		{"kid", required_argument, NULL, 'i'},
		{"directory", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	const char *ca = NULL, *keyfile = NULL, *kid = NULL, *dir = NULL, *url, *payload;
	struct growbuf b = {.max = 1 << 20};
	char nonce[128] = "", *jws = NULL;
	json_t *d = NULL;
	struct jwk *k = NULL;
	EVP_PKEY *pk = NULL;
	FILE *f;
	long status;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': ca = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'i': kid = optarg; break;
		case 'd': dir = optarg; break;
		default: return 2;
		}
	}
	if (ca == NULL || keyfile == NULL || kid == NULL || dir == NULL || optind >= argc) {
		fprintf(stderr, "usage: acme-post --ca F --key F --kid URL --directory URL URL "
				"[PAYLOAD]\n");
		return 2;
	}
	url = argv[optind];
	payload = optind + 1 < argc ? argv[optind + 1] : "";
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((f = fopen(keyfile, "r")) == NULL || (pk = PEM_read_PrivateKey(f, NULL, NULL, NULL)) ==
						       NULL) {
		fprintf(stderr, "acme-post: cannot read key %s\n", keyfile);
		return 1;
	}
	fclose(f);
	if (jwk_from_pkey(pk, &k) != DEED_OK)
		return 1;
	if (request(dir, ca, NULL, &b, nonce) != 200 ||
	    djson_parse(b.p, b.len, 1 << 16, &d, NULL, 0) != DEED_OK ||
	    djson_str(d, "newNonce") == NULL) {
		fprintf(stderr, "acme-post: cannot read directory %s\n", dir);
		return 1;
	}
	growbuf_free(&b);
	nonce[0] = '\0';
	request(djson_str(d, "newNonce"), ca, NULL, &b, nonce);
	growbuf_free(&b);
	if (jws_sign(k, kid, nonce, url, payload, &jws) != DEED_OK)
		return 1;
	status = request(url, ca, jws, &b, nonce);
	printf("%ld\n%s", status, b.p != NULL ? b.p : "");
	growbuf_free(&b);
	free(jws);
	json_decref(d);
	jwk_free(k);
	EVP_PKEY_free(pk);
	curl_global_cleanup();
	return status >= 200 && status < 300 ? 0 : 1;
}
