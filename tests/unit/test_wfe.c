/*
 * The whole ACME request path (wfe -> ra -> sa/signer) driven without the network: every bad
 * request gets the problem type and status a careful CA returns, and changes no state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "config.h"
#include "csr.h"
#include "djson.h"
#include "error.h"
#include "init.h"
#include "jwk.h"
#include "jws.h"
#include "keypolicy.h"
#include "ra.h"
#include "sa.h"
#include "signer.h"
#include "va.h"
#include "wfe.h"

#define BASE "https://127.0.0.1:14443"

struct env {
	char dir[64];
	struct ca_config cfg;
	struct sa *sa;
	struct va *va;
	struct signer *signer;
	struct ra *ra;
	struct wfe *wfe;
};

struct client {
	struct jwk *key;
	char kid[640];
};

struct resp {
	int status;
	json_t *body; /* parsed JSON body, or NULL */
	char *raw;
	char location[640];
};

static struct env E;

static void
resp_free(struct resp *r)
{
	json_decref(r->body);
	free(r->raw);
	memset(r, 0, sizeof(*r));
}

static struct resp
send_raw(const char *method, const char *path, const char *ctype, const char *body)
{
	struct wfe_request req = {0};
	struct wfe_reply rep;
	struct resp r = {0};
	const char *loc;

	req.method = method;
	req.path = path;
	req.content_type = ctype;
	req.body = body != NULL ? body : "";
	req.body_len = body != NULL ? strlen(body) : 0;
	req.body_too_big = req.body_len > JWS_MAX_BODY;
	wfe_handle(E.wfe, &req, &rep);
	r.status = rep.status;
	if (rep.body != NULL) {
		r.raw = strndup(rep.body, rep.body_len);
		if (rep.content_type != NULL && strstr(rep.content_type, "json") != NULL)
			djson_parse(rep.body, rep.body_len, 1 << 20, &r.body, NULL, 0);
	}
	if ((loc = wfe_reply_header(&rep, "Location")) != NULL)
		snprintf(r.location, sizeof(r.location), "%s", loc);
	assert_non_null(wfe_reply_header(&rep, "Replay-Nonce"));
	wfe_reply_cleanup(&rep);
	return r;
}

static void
get_nonce(char *out, size_t outsz)
{
	struct wfe_request req = {.method = "HEAD", .path = "/acme/new-nonce", .body = ""};
	struct wfe_reply rep;

	wfe_handle(E.wfe, &req, &rep);
	assert_int_equal(rep.status, 200);
	snprintf(out, outsz, "%s", wfe_reply_header(&rep, "Replay-Nonce"));
	wfe_reply_cleanup(&rep);
}

/* Sign payload for path as c (kid when c->kid is set, else jwk) and POST it. */
static struct resp
post(struct client *c, const char *path, const char *payload)
{
	char nonce[64], url[640], *jws = NULL;
	struct resp r;

	get_nonce(nonce, sizeof(nonce));
	snprintf(url, sizeof(url), BASE "%s", path);
	assert_int_equal(jws_sign(c->key, c->kid[0] ? c->kid : NULL, nonce, url, payload, &jws),
			 DEED_OK);
	r = send_raw("POST", path, "application/jose+json", jws);
	free(jws);
	return r;
}

static const char *
prob_type(const struct resp *r)
{
	const char *t = djson_str(r->body, "type");

	return t != NULL ? t + strlen("urn:ietf:params:acme:error:") : "";
}

#define assert_problem(r, want_status, want_type)                                          \
	do {                                                                               \
		if ((r).status != (want_status) || strcmp(prob_type(&(r)), want_type) != 0) \
			fail_msg("got %d %s, want %d %s: %s", (r).status, prob_type(&(r)),  \
				 want_status, want_type, (r).raw ? (r).raw : "");            \
	} while (0)

static const char *
path_of(const char *url)
{
	assert_true(strncmp(url, BASE, strlen(BASE)) == 0);
	return url + strlen(BASE);
}

static void
new_client(struct client *c, const char *keytype)
{
	struct resp r;

	memset(c, 0, sizeof(*c));
	assert_int_equal(jwk_generate(keytype, &c->key), DEED_OK);
	r = post(c, "/acme/new-account", "{\"termsOfServiceAgreed\":true}");
	assert_int_equal(r.status, 201);
	snprintf(c->kid, sizeof(c->kid), "%s", r.location);
	resp_free(&r);
}

static void
free_client(struct client *c)
{
	jwk_free(c->key);
}

static size_t
order_count(const struct client *c)
{
	int64_t id, ids[64];
	size_t n = 0;

	assert_int_equal(ra_account_id_from_url(E.ra, c->kid, &id), DEED_OK);
	assert_int_equal(E.sa->ops->order_list(E.sa, id, 0, ids, 64, &n), DEED_OK);
	return n;
}

/* Accounts stored so far (ids are consecutive; the highest one found is the count). */
static size_t
account_count(void)
{
	struct sa_account a = {0};
	size_t n = 0;

	while (E.sa->ops->account_get(E.sa, (int64_t)n + 1, &a) == DEED_OK) {
		sa_account_cleanup(&a);
		n++;
	}
	return n;
}

static int
setup(void **state)
{
	char err[256] = "", path[128], base[256];
	struct va_config vc = {.http01_port = 80, .tlsalpn01_port = 443, .timeout_ms = 2000};

	snprintf(E.dir, sizeof(E.dir), "/tmp/deed-wfe.XXXXXX");
	assert_non_null(mkdtemp(E.dir));
	strcat(E.dir, "/ca");
	assert_int_equal(ca_init(E.dir, "test", "127.0.0.1:14443", err, sizeof(err)), DEED_OK);
	assert_int_equal(config_defaults(&E.cfg, E.dir), DEED_OK);
	snprintf(path, sizeof(path), "%s/deed-ca.conf", E.dir);
	assert_int_equal(config_load(&E.cfg, path, err, sizeof(err)), DEED_OK);
	assert_int_equal(config_base_url(&E.cfg, base, sizeof(base)), DEED_OK);
	assert_string_equal(base, BASE);
	snprintf(path, sizeof(path), "sqlite:%s/deed-ca.db", E.dir);
	assert_int_equal(sa_open(path, &E.sa, err, sizeof(err)), DEED_OK);
	assert_int_equal(signer_load(E.dir, &E.signer, err, sizeof(err)), DEED_OK);
	assert_int_equal(va_new(&vc, &E.va, err, sizeof(err)), DEED_OK);
	assert_int_equal(ra_new(&E.cfg, base, E.sa, E.va, E.signer, &E.ra, err, sizeof(err)),
			 DEED_OK);
	assert_int_equal(wfe_new(&E.cfg, base, E.ra, E.sa, E.signer, &E.wfe, err, sizeof(err)),
			 DEED_OK);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	wfe_free(E.wfe);
	ra_free(E.ra);
	va_free(E.va);
	signer_free(E.signer);
	sa_close(E.sa);
	config_cleanup(&E.cfg);
	E.dir[strlen(E.dir) - 3] = '\0';
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", E.dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* --- tests ----------------------------------------------------------------------------- */

static void
directory_lists_endpoints_and_meta(void **state)
{
	struct resp r = send_raw("GET", "/directory", NULL, NULL);

	assert_int_equal(r.status, 200);
	assert_string_equal(djson_str(r.body, "newOrder"), BASE "/acme/new-order");
	assert_string_equal(djson_str(r.body, "newNonce"), BASE "/acme/new-nonce");
	assert_true(json_is_array(json_object_get(json_object_get(r.body, "meta"),
						  "caaIdentities")));
	resp_free(&r);
	r = send_raw("POST", "/directory", "application/jose+json", "{}");
	assert_problem(r, 405, "malformed");
	resp_free(&r);
}

static void
new_nonce_head_200_get_204(void **state)
{
	struct resp r = send_raw("GET", "/acme/new-nonce", NULL, NULL);

	assert_int_equal(r.status, 204);
	resp_free(&r);
	r = send_raw("HEAD", "/acme/new-nonce", NULL, NULL);
	assert_int_equal(r.status, 200);
	resp_free(&r);
}

static void
new_account_created_then_found(void **state)
{
	struct client c;
	struct resp r;
	char kid[640];

	new_client(&c, "ec256");
	snprintf(kid, sizeof(kid), "%s", c.kid);
	c.kid[0] = '\0';
	r = post(&c, "/acme/new-account", "{\"onlyReturnExisting\":true}");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.location, kid);
	assert_string_equal(djson_str(r.body, "status"), "valid");
	resp_free(&r);
	r = post(&c, "/acme/new-account", "{}");
	assert_int_equal(r.status, 200);
	assert_string_equal(r.location, kid);
	resp_free(&r);
	free_client(&c);
}

static void
only_return_existing_unknown_key_is_account_does_not_exist(void **state)
{
	struct client c = {0};
	struct resp r;

	assert_int_equal(jwk_generate("ec256", &c.key), DEED_OK);
	r = post(&c, "/acme/new-account", "{\"onlyReturnExisting\":true}");
	assert_problem(r, 400, "accountDoesNotExist");
	resp_free(&r);
	free_client(&c);
}

static void
new_account_bad_contacts_refused(void **state)
{
	struct client c = {0};
	struct resp r;

	assert_int_equal(jwk_generate("ec256", &c.key), DEED_OK);
	r = post(&c, "/acme/new-account", "{\"contact\":[\"tel:+1555\"]}");
	assert_problem(r, 400, "unsupportedContact");
	resp_free(&r);
	r = post(&c, "/acme/new-account", "{\"contact\":[\"mailto:not an address\"]}");
	assert_problem(r, 400, "invalidContact");
	resp_free(&r);
	r = post(&c, "/acme/new-account", "{\"contact\":\"mailto:a@b.test\"}");
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	r = post(&c, "/acme/new-account", "{\"onlyReturnExisting\":true}");
	assert_problem(r, 400, "accountDoesNotExist"); /* nothing was created */
	resp_free(&r);
	free_client(&c);
}

static void
rsa1024_account_key_is_bad_public_key(void **state)
{
	EVP_PKEY *pk = EVP_RSA_gen(1024);
	struct client c = {0};
	struct resp r;

	assert_non_null(pk);
	assert_int_equal(jwk_from_pkey(pk, &c.key), DEED_OK);
	EVP_PKEY_free(pk);
	r = post(&c, "/acme/new-account", "{}");
	assert_problem(r, 400, "badPublicKey");
	resp_free(&r);
	free_client(&c);
}

static void
wrong_content_type_is_415(void **state)
{
	struct resp r = send_raw("POST", "/acme/new-order", "application/json", "{}");

	assert_problem(r, 415, "malformed");
	resp_free(&r);
}

static void
oversized_body_is_413(void **state)
{
	size_t n = JWS_MAX_BODY + 10;
	char *big = malloc(n + 1);
	struct resp r;

	memset(big, 'a', n);
	big[n] = '\0';
	r = send_raw("POST", "/acme/new-order", "application/jose+json", big);
	assert_problem(r, 413, "malformed");
	resp_free(&r);
	free(big);
}

static void
garbage_body_is_malformed(void **state)
{
	struct resp r = send_raw("POST", "/acme/new-order", "application/jose+json", "{nope");

	assert_problem(r, 400, "malformed");
	resp_free(&r);
}

/* A hand-made JWS whose protected header is hdr (JSON text) and signature is junk. */
static char *
forged(const char *hdr, const char *payload)
{
	char *ph = NULL, *pp = NULL, *out = malloc(8192);

	b64url_encode((const uint8_t *)hdr, strlen(hdr), &ph);
	b64url_encode((const uint8_t *)payload, strlen(payload), &pp);
	snprintf(out, 8192, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"AAAA\"}",
		 ph, pp);
	free(ph);
	free(pp);
	return out;
}

static void
alg_none_and_hs256_are_bad_signature_algorithm(void **state)
{
	char nonce[64], hdr[512], *body;
	struct resp r;

	get_nonce(nonce, sizeof(nonce));
	snprintf(hdr, sizeof(hdr),
		 "{\"alg\":\"none\",\"nonce\":\"%s\",\"url\":\"" BASE "/acme/new-order\","
		 "\"kid\":\"" BASE "/acme/acct/1\"}", nonce);
	body = forged(hdr, "{}");
	r = send_raw("POST", "/acme/new-order", "application/jose+json", body);
	assert_problem(r, 400, "badSignatureAlgorithm");
	assert_true(json_is_array(json_object_get(r.body, "algorithms")));
	resp_free(&r);
	free(body);
	snprintf(hdr, sizeof(hdr),
		 "{\"alg\":\"HS256\",\"nonce\":\"%s\",\"url\":\"" BASE "/acme/new-order\","
		 "\"kid\":\"" BASE "/acme/acct/1\"}", nonce);
	body = forged(hdr, "{}");
	r = send_raw("POST", "/acme/new-order", "application/jose+json", body);
	assert_problem(r, 400, "badSignatureAlgorithm");
	resp_free(&r);
	free(body);
}

static void
nonce_missing_reused_or_forged_is_bad_nonce(void **state)
{
	struct client c;
	char nonce[64], *jws = NULL;
	struct resp r;

	new_client(&c, "ec256");
	assert_int_equal(jws_sign(c.key, c.kid, NULL, BASE "/acme/new-order", "{}", &jws), DEED_OK);
	r = send_raw("POST", "/acme/new-order", "application/jose+json", jws);
	assert_problem(r, 400, "badNonce");
	resp_free(&r);
	free(jws);

	get_nonce(nonce, sizeof(nonce));
	assert_int_equal(jws_sign(c.key, c.kid, nonce, c.kid, NULL, &jws), DEED_OK);
	r = send_raw("POST", path_of(c.kid), "application/jose+json", jws); /* uses nonce */
	resp_free(&r);
	r = send_raw("POST", path_of(c.kid), "application/jose+json", jws); /* replay */
	assert_problem(r, 400, "badNonce");
	resp_free(&r);
	free(jws);

	assert_int_equal(jws_sign(c.key, c.kid, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
				  BASE "/acme/new-order", "{}", &jws), DEED_OK);
	r = send_raw("POST", "/acme/new-order", "application/jose+json", jws);
	assert_problem(r, 400, "badNonce");
	resp_free(&r);
	free(jws);
	assert_int_equal(order_count(&c), 0);
	free_client(&c);
}

static void
url_mismatch_is_unauthorized(void **state)
{
	struct client c;
	char nonce[64], *jws = NULL;
	struct resp r;

	new_client(&c, "ec256");
	get_nonce(nonce, sizeof(nonce));
	assert_int_equal(jws_sign(c.key, c.kid, nonce, BASE "/acme/revoke-cert",
				  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}",
				  &jws), DEED_OK);
	r = send_raw("POST", "/acme/new-order", "application/jose+json", jws);
	assert_problem(r, 403, "unauthorized");
	resp_free(&r);
	free(jws);
	assert_int_equal(order_count(&c), 0);
	free_client(&c);
}

static void
jwk_where_kid_required_and_back_are_malformed(void **state)
{
	struct client c;
	char kid[640];
	struct resp r;

	new_client(&c, "ec256");
	snprintf(kid, sizeof(kid), "%s", c.kid);
	c.kid[0] = '\0';
	r = post(&c, "/acme/new-order", "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	snprintf(c.kid, sizeof(c.kid), "%s", kid);
	r = post(&c, "/acme/new-account", "{}");
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	assert_int_equal(order_count(&c), 0);
	free_client(&c);
}

static void
unknown_kid_is_account_does_not_exist(void **state)
{
	struct client c = {0};
	struct resp r;

	assert_int_equal(jwk_generate("ec256", &c.key), DEED_OK);
	snprintf(c.kid, sizeof(c.kid), BASE "/acme/acct/999999");
	r = post(&c, "/acme/new-order", "{}");
	assert_problem(r, 400, "accountDoesNotExist");
	resp_free(&r);
	free_client(&c);
}

static void
signature_by_another_key_is_malformed(void **state)
{
	struct client a, b;
	struct resp r;

	new_client(&a, "ec256");
	new_client(&b, "ec256");
	snprintf(b.kid, sizeof(b.kid), "%s", a.kid); /* b signs claiming to be a */
	r = post(&b, "/acme/new-order",
		 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	assert_int_equal(order_count(&a), 0);
	free_client(&a);
	free_client(&b);
}

static void
bad_identifiers_are_refused(void **state)
{
	static const struct {
		const char *payload, *type;
	} cases[] = {
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"WWW.example.test\"}]}",
		 "rejectedIdentifier"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"example.test.\"}]}",
		 "rejectedIdentifier"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a..test\"}]}", "rejectedIdentifier"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.*.test\"}]}",
		 "rejectedIdentifier"},
		{"{\"identifiers\":[{\"type\":\"ip\",\"value\":\"192.0.2.1\"}]}",
		 "unsupportedIdentifier"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"},"
		 "{\"type\":\"dns\",\"value\":\"a.test\"}]}", "malformed"},
		{"{\"identifiers\":[]}", "malformed"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
		 "\"notAfter\":\"2030-01-01T00:00:00Z\"}", "malformed"},
		{"{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}],"
		 "\"identifiers\":[]}", "malformed"},
		{"[]", "malformed"},
	};
	struct client c;

	new_client(&c, "ec256");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resp r = post(&c, "/acme/new-order", cases[i].payload);

		assert_problem(r, 400, cases[i].type);
		resp_free(&r);
	}
	assert_int_equal(order_count(&c), 0);
	free_client(&c);
}

static void
get_on_post_resources_is_405(void **state)
{
	struct resp r = send_raw("GET", "/acme/order/1", NULL, NULL);

	assert_problem(r, 405, "malformed");
	resp_free(&r);
	r = send_raw("POST", "/nowhere", "application/jose+json", "{}");
	assert_problem(r, 404, "malformed");
	resp_free(&r);
}

/* Make every authorization of the order valid through the store, as a passed validation
 * would. */
static void
validate_all(const json_t *order)
{
	const json_t *az = json_object_get(order, "authorizations"), *u;
	size_t i;

	json_array_foreach(az, i, u) {
		int64_t id = strtoll(strrchr(json_string_value(u), '/') + 1, NULL, 10);
		struct sa_authz a = {0};

		assert_int_equal(E.sa->ops->authz_get(E.sa, id, &a), DEED_OK);
		assert_int_equal(E.sa->ops->chall_begin(E.sa, a.challs[0].id, time(NULL)), DEED_OK);
		assert_int_equal(E.sa->ops->chall_finish(E.sa, a.challs[0].id, true, time(NULL),
							  time(NULL) + 30 * 86400, NULL, NULL, NULL), DEED_OK);
		sa_authz_cleanup(&a);
	}
}

static char *
csr_b64(EVP_PKEY *key, const char *const *names, size_t n)
{
	uint8_t *der = NULL;
	size_t len = 0;
	char *b = NULL, *payload = malloc(8192);

	assert_int_equal(csr_create(key, names, n, &der, &len), DEED_OK);
	b64url_encode(der, len, &b);
	snprintf(payload, 8192, "{\"csr\":\"%s\"}", b);
	free(b);
	free(der);
	return payload;
}

static void
order_finalize_download_revoke(void **state)
{
	static const char *names[] = {"*.example.test", "example.test"};
	static const char *other[] = {"example.test", "extra.example.test"};
	struct client c, stranger;
	struct resp r, o;
	struct jwk *certkey = NULL;
	EVP_PKEY *weak = EVP_RSA_gen(1024);
	char order_path[640], fin[640], cert_path[640], *p;
	char revoke[8192];
	const char *pem_start;
	char *der_b64 = NULL;

	new_client(&c, "ec256");
	new_client(&stranger, "ec256");
	o = post(&c, "/acme/new-order",
		 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"example.test\"},"
		 "{\"type\":\"dns\",\"value\":\"*.example.test\"}]}");
	assert_int_equal(o.status, 201);
	assert_string_equal(djson_str(o.body, "status"), "pending");
	snprintf(order_path, sizeof(order_path), "%s", path_of(o.location));
	snprintf(fin, sizeof(fin), "%s", path_of(djson_str(o.body, "finalize")));

	/* The wildcard's authorization offers no http-01. */
	{
		const char *az = json_string_value(
			json_array_get(json_object_get(o.body, "authorizations"), 0));
		struct resp a = post(&c, path_of(az), NULL);

		assert_int_equal(a.status, 200);
		assert_true(json_is_true(json_object_get(a.body, "wildcard")));
		assert_int_equal(json_array_size(json_object_get(a.body, "challenges")), 1);
		resp_free(&a);
		a = post(&stranger, path_of(az), NULL);
		assert_problem(a, 403, "unauthorized");
		resp_free(&a);
	}

	r = post(&stranger, order_path, NULL);
	assert_problem(r, 403, "unauthorized");
	resp_free(&r);
	r = post(&c, order_path, "{}");
	assert_problem(r, 400, "malformed"); /* POST-as-GET only */
	resp_free(&r);

	assert_int_equal(jwk_generate("ec256", &certkey), DEED_OK);
	p = csr_b64(certkey->pkey, names, 2);
	r = post(&c, fin, p);
	assert_problem(r, 403, "orderNotReady");
	resp_free(&r);

	validate_all(o.body);
	r = post(&c, order_path, NULL);
	assert_string_equal(djson_str(r.body, "status"), "ready");
	resp_free(&r);

	/* CSRs that do not fit the order or the policy change nothing. */
	{
		char *bad = csr_b64(certkey->pkey, other, 2);

		r = post(&c, fin, bad);
		assert_problem(r, 400, "badCSR");
		resp_free(&r);
		free(bad);
		bad = csr_b64(c.key->pkey, names, 2);
		r = post(&c, fin, bad);
		assert_problem(r, 400, "badCSR");
		resp_free(&r);
		free(bad);
		bad = csr_b64(weak, names, 2);
		r = post(&c, fin, bad);
		assert_problem(r, 400, "badCSR");
		resp_free(&r);
		free(bad);
		r = post(&c, fin, "{\"csr\":\"!!!\"}");
		assert_problem(r, 400, "badCSR");
		resp_free(&r);
		r = post(&stranger, fin, p);
		assert_problem(r, 403, "unauthorized");
		resp_free(&r);
		r = post(&c, order_path, NULL);
		assert_string_equal(djson_str(r.body, "status"), "ready");
		resp_free(&r);
	}

	r = post(&c, fin, p);
	if (r.status != 200)
		fail_msg("finalize: %s", r.raw);
	assert_string_equal(djson_str(r.body, "status"), "valid");
	snprintf(cert_path, sizeof(cert_path), "%s", path_of(djson_str(r.body, "certificate")));
	resp_free(&r);
	r = post(&c, fin, p);
	assert_problem(r, 403, "orderNotReady");
	resp_free(&r);

	r = post(&c, cert_path, NULL);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.raw, "-----BEGIN CERTIFICATE-----"));
	pem_start = strstr(r.raw + 1, "-----BEGIN CERTIFICATE-----");
	assert_non_null(pem_start); /* leaf and intermediate */
	{
		BIO *b = BIO_new_mem_buf(r.raw, -1);
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		uint8_t *der = NULL;
		int len = i2d_X509(x, &der);

		b64url_encode(der, (size_t)len, &der_b64);
		OPENSSL_free(der);
		X509_free(x);
		BIO_free(b);
	}
	resp_free(&r);
	r = post(&stranger, cert_path, NULL);
	assert_problem(r, 403, "unauthorized");
	resp_free(&r);

	snprintf(revoke, sizeof(revoke), "{\"certificate\":\"%s\"}", der_b64);
	r = post(&stranger, "/acme/revoke-cert", revoke);
	assert_problem(r, 403, "unauthorized");
	resp_free(&r);
	snprintf(revoke, sizeof(revoke), "{\"certificate\":\"%s\",\"reason\":7}", der_b64);
	r = post(&c, "/acme/revoke-cert", revoke);
	assert_problem(r, 400, "badRevocationReason");
	resp_free(&r);
	snprintf(revoke, sizeof(revoke), "{\"certificate\":\"%s\",\"reason\":4}", der_b64);
	r = post(&c, "/acme/revoke-cert", revoke);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	r = post(&c, "/acme/revoke-cert", revoke);
	assert_problem(r, 400, "alreadyRevoked");
	resp_free(&r);

	free(der_b64);
	free(p);
	jwk_free(certkey);
	EVP_PKEY_free(weak);
	resp_free(&o);
	free_client(&c);
	free_client(&stranger);
}

/* An RSA private key with modulus p·q and e = 65537, whatever p and q are: how weak keys
 * that can still sign a CSR are made. */
static EVP_PKEY *
rsa_from_primes(const BIGNUM *p, const BIGNUM *q)
{
	BN_CTX *bc = BN_CTX_new();
	BIGNUM *n = BN_new(), *e = BN_new(), *d = BN_new(), *p1 = BN_new(), *q1 = BN_new();
	BIGNUM *phi = BN_new(), *dp = BN_new(), *dq = BN_new(), *qi = BN_new();
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	OSSL_PARAM *params;
	EVP_PKEY *pkey = NULL;

	assert_non_null(qi);
	assert_true(BN_set_word(e, 65537) && BN_mul(n, p, q, bc) && BN_sub(p1, p, BN_value_one()) &&
		    BN_sub(q1, q, BN_value_one()) && BN_mul(phi, p1, q1, bc) &&
		    BN_mod_inverse(d, e, phi, bc) != NULL && BN_mod(dp, d, p1, bc) &&
		    BN_mod(dq, d, q1, bc) && BN_mod_inverse(qi, q, p, bc) != NULL);
	assert_true(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi));
	assert_non_null(params = OSSL_PARAM_BLD_to_param(bld));
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_KEYPAIR, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(n), BN_free(e), BN_free(d), BN_free(p1), BN_free(q1);
	BN_free(phi), BN_free(dp), BN_free(dq), BN_free(qi);
	BN_CTX_free(bc);
	return pkey;
}

static void
block(EVP_PKEY *pkey)
{
	uint8_t h[32];
	char hex[65];

	assert_int_equal(keypolicy_spki_sha256(pkey, h), DEED_OK);
	keypolicy_sha256_to_hex(h, hex);
	assert_int_equal(E.sa->ops->blocked_key_add(E.sa, hex, time(NULL), "test"), DEED_OK);
}

/* Keys the policy refuses: as the key of a JWS (newAccount) they are badPublicKey; as the key
 * of a CSR they are badCSR with the reason (RFC 8555 §6.7), and the order stays ready. Fermat-
 * close primes, a small prime factor, RSA-1024, P-521 (certificates only) and a key on the
 * blocked list; nothing is stored. */
static void
weak_and_blocked_keys_are_refused(void **state)
{
	static const char *names[] = {"weak.example.test"};
	struct client c;
	struct resp o, r;
	BIGNUM *p = BN_new(), *q = BN_new();
	EVP_PKEY *keys[5];
	const char *why[5] = {"Fermat", "prime factor", "1024", "P-521", "blocked"};
	struct jwk *p521 = NULL, *ok = NULL;
	char fin[640], *csr;
	size_t n_accounts;

	/* Fermat: q is the next prime after p + 2^100. */
	assert_true(BN_generate_prime_ex(p, 1024, 0, NULL, NULL, NULL));
	assert_true(BN_copy(q, p) && BN_add_word(q, 1) && BN_lshift(q, BN_value_one(), 100) &&
		    BN_add(q, q, p));
	while (BN_check_prime(q, NULL, NULL) != 1)
		assert_true(BN_add_word(q, 1));
	keys[0] = rsa_from_primes(p, q);
	/* 743 · a 2038-bit prime: a 2048-bit modulus with a small factor. */
	assert_true(BN_set_word(p, 743) && BN_generate_prime_ex(q, 2038, 0, NULL, NULL, NULL));
	keys[1] = rsa_from_primes(p, q);
	assert_int_equal(EVP_PKEY_bits(keys[1]), 2048);
	keys[2] = EVP_RSA_gen(1024);
	assert_int_equal(jwk_generate("ec521", &p521), DEED_OK);
	keys[3] = p521->pkey;
	assert_int_equal(jwk_generate("ec256", &ok), DEED_OK);
	keys[4] = ok->pkey;
	block(keys[4]);

	new_client(&c, "ec256");
	n_accounts = account_count();
	o = post(&c, "/acme/new-order",
		 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"weak.example.test\"}]}");
	assert_int_equal(o.status, 201);
	validate_all(o.body);
	snprintf(fin, sizeof(fin), "%s", path_of(djson_str(o.body, "finalize")));
	for (size_t i = 0; i < 5; i++) {
		struct client k = {0};

		csr = csr_b64(keys[i], names, 1);
		r = post(&c, fin, csr);
		if (r.status != 400 || strcmp(prob_type(&r), "badCSR") != 0 ||
		    strstr(djson_str(r.body, "detail"), why[i]) == NULL)
			fail_msg("CSR key %zu (%s): %d %s", i, why[i], r.status, r.raw);
		resp_free(&r);
		free(csr);
		if (i == 3)
			continue; /* P-521 is a good account key */
		assert_int_equal(jwk_from_pkey(keys[i], &k.key), DEED_OK);
		r = post(&k, "/acme/new-account", "{\"termsOfServiceAgreed\":true}");
		if (r.status != 400 || strcmp(prob_type(&r), "badPublicKey") != 0 ||
		    strstr(djson_str(r.body, "detail"), why[i]) == NULL)
			fail_msg("account key %zu (%s): %d %s", i, why[i], r.status, r.raw);
		resp_free(&r);
		free_client(&k);
	}
	assert_int_equal(account_count(), n_accounts);
	r = post(&c, path_of(o.location), NULL);
	assert_string_equal(djson_str(r.body, "status"), "ready");
	resp_free(&r);

	for (size_t i = 0; i < 3; i++)
		EVP_PKEY_free(keys[i]);
	jwk_free(p521);
	jwk_free(ok);
	BN_free(p);
	BN_free(q);
	resp_free(&o);
	free_client(&c);
}

static void
revoke_by_certificate_key(void **state)
{
	static const char *names[] = {"k.example.test"};
	struct client c, holder = {0};
	struct resp o, r;
	char *p, *der_b64 = NULL, revoke[8192];

	new_client(&c, "ec256");
	o = post(&c, "/acme/new-order",
		 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"k.example.test\"}]}");
	validate_all(o.body);
	assert_int_equal(jwk_generate("ec256", &holder.key), DEED_OK);
	p = csr_b64(holder.key->pkey, names, 1);
	r = post(&c, path_of(djson_str(o.body, "finalize")), p);
	assert_int_equal(r.status, 200);
	{
		struct resp cert = post(&c, path_of(djson_str(r.body, "certificate")), NULL);
		BIO *b = BIO_new_mem_buf(cert.raw, -1);
		X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
		uint8_t *der = NULL;
		int len = i2d_X509(x, &der);

		b64url_encode(der, (size_t)len, &der_b64);
		OPENSSL_free(der);
		X509_free(x);
		BIO_free(b);
		resp_free(&cert);
	}
	resp_free(&r);
	snprintf(revoke, sizeof(revoke), "{\"certificate\":\"%s\",\"reason\":1}", der_b64);
	r = post(&holder, "/acme/revoke-cert", revoke); /* jwk = the certificate's key */
	assert_int_equal(r.status, 200);
	resp_free(&r);
	/* keyCompromise puts the key on the blocked list: it opens no account from now on. */
	{
		uint8_t h[32];
		char hex[65];

		assert_int_equal(keypolicy_spki_sha256(holder.key->pkey, h), DEED_OK);
		keypolicy_sha256_to_hex(h, hex);
		assert_int_equal(E.sa->ops->blocked_key_has(E.sa, hex), DEED_OK);
		r = post(&holder, "/acme/new-account", "{\"termsOfServiceAgreed\":true}");
		assert_problem(r, 400, "badPublicKey");
		resp_free(&r);
	}
	free(der_b64);
	free(p);
	resp_free(&o);
	free_client(&c);
	free_client(&holder);
}

static void
deactivated_account_is_unauthorized(void **state)
{
	struct client c;
	struct resp r;

	new_client(&c, "ec256");
	r = post(&c, path_of(c.kid), "{\"status\":\"valid\"}");
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	r = post(&c, path_of(c.kid), "{\"status\":\"deactivated\"}");
	assert_int_equal(r.status, 200);
	assert_string_equal(djson_str(r.body, "status"), "deactivated");
	resp_free(&r);
	r = post(&c, "/acme/new-order",
		 "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"a.test\"}]}");
	assert_problem(r, 403, "unauthorized");
	resp_free(&r);
	free_client(&c);
}

static char *
inner_jws(struct jwk *newkey, const char *kid, const struct jwk *oldkey, const char *url)
{
	json_t *pl = json_object(), *old = jwk_to_json(oldkey), *inner = NULL;
	char *pls, *out;

	json_object_set_new(pl, "account", json_string(kid));
	json_object_set_new(pl, "oldKey", old);
	pls = djson_dump(pl);
	assert_int_equal(jws_sign_json(newkey, NULL, NULL, url, pls, &inner), DEED_OK);
	out = djson_dump(inner);
	json_decref(inner);
	json_decref(pl);
	free(pls);
	return out;
}

static void
key_change_rolls_over_and_refuses_taken_keys(void **state)
{
	struct client c, other;
	struct jwk *newkey = NULL;
	struct resp r;
	char *inner;

	new_client(&c, "ec256");
	new_client(&other, "ec384");
	/* To a key another account holds: 409 with that account's URL. */
	inner = inner_jws(other.key, c.kid, c.key, BASE "/acme/key-change");
	r = post(&c, "/acme/key-change", inner);
	assert_problem(r, 409, "malformed");
	assert_string_equal(r.location, other.kid);
	resp_free(&r);
	free(inner);
	/* Inner url not the outer url. */
	assert_int_equal(jwk_generate("ec256", &newkey), DEED_OK);
	inner = inner_jws(newkey, c.kid, c.key, BASE "/acme/new-order");
	r = post(&c, "/acme/key-change", inner);
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	free(inner);
	/* Good rollover: the old key stops working, the new one works. */
	inner = inner_jws(newkey, c.kid, c.key, BASE "/acme/key-change");
	r = post(&c, "/acme/key-change", inner);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free(inner);
	r = post(&c, path_of(c.kid), NULL);
	assert_problem(r, 400, "malformed");
	resp_free(&r);
	jwk_free(c.key);
	c.key = newkey;
	r = post(&c, path_of(c.kid), NULL);
	assert_int_equal(r.status, 200);
	resp_free(&r);
	free_client(&c);
	free_client(&other);
}

static void
authz_reused_for_same_account_and_name(void **state)
{
	struct client c;
	struct resp a, b;
	const char *pl = "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"reuse.example.test\"}]}";

	E.cfg.authz_reuse = 30 * 86400;
	new_client(&c, "ec256");
	a = post(&c, "/acme/new-order", pl);
	validate_all(a.body);
	b = post(&c, "/acme/new-order", pl);
	assert_int_equal(b.status, 201);
	assert_string_equal(djson_str(b.body, "status"), "ready");
	assert_true(json_equal(json_object_get(a.body, "authorizations"),
			       json_object_get(b.body, "authorizations")));
	resp_free(&a);
	resp_free(&b);
	free_client(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(directory_lists_endpoints_and_meta),
		cmocka_unit_test(new_nonce_head_200_get_204),
		cmocka_unit_test(new_account_created_then_found),
		cmocka_unit_test(only_return_existing_unknown_key_is_account_does_not_exist),
		cmocka_unit_test(new_account_bad_contacts_refused),
		cmocka_unit_test(rsa1024_account_key_is_bad_public_key),
		cmocka_unit_test(wrong_content_type_is_415),
		cmocka_unit_test(oversized_body_is_413),
		cmocka_unit_test(garbage_body_is_malformed),
		cmocka_unit_test(alg_none_and_hs256_are_bad_signature_algorithm),
		cmocka_unit_test(nonce_missing_reused_or_forged_is_bad_nonce),
		cmocka_unit_test(url_mismatch_is_unauthorized),
		cmocka_unit_test(jwk_where_kid_required_and_back_are_malformed),
		cmocka_unit_test(unknown_kid_is_account_does_not_exist),
		cmocka_unit_test(signature_by_another_key_is_malformed),
		cmocka_unit_test(bad_identifiers_are_refused),
		cmocka_unit_test(get_on_post_resources_is_405),
		cmocka_unit_test(order_finalize_download_revoke),
		cmocka_unit_test(revoke_by_certificate_key),
		cmocka_unit_test(weak_and_blocked_keys_are_refused),
		cmocka_unit_test(deactivated_account_is_unauthorized),
		cmocka_unit_test(key_change_rolls_over_and_refuses_taken_keys),
		cmocka_unit_test(authz_reused_for_same_account_and_name),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
