/*
 * acme-hostile: a hostile ACME client, for the integration test test_hostile.sh.
 *
 *   acme-hostile --ca ROOT.pem --directory URL --db DEED-CA.DB
 *                --key-a KEY --kid-a URL --key-b KEY --kid-b URL --name NAME
 *                --cert PEM --revoked PEM --blocked-key KEY [--only SUBSTRING]
 *
 * Account A (--key-a/--kid-a) holds a valid authorization for NAME, a valid certificate for it
 * (--cert) and a certificate it revoked (--revoked); account B is a stranger to all of that;
 * --blocked-key is a private key the operator blocked. The tool first makes what else the cases
 * need (a ready order, a pending order, a deactivated account), then sends each hostile
 * request built by hand -- raw JSON and base64url, so that malformed encodings can be made -- and
 * checks the exact HTTP status and problem type (and a detail substring where one matters), that
 * the problem came as application/problem+json with a fresh Replay-Nonce, and that the database
 * (every row of every table, read through a read-only SQLite connection) is the same before and
 * after. One "ok: ..." or "FAIL: ..." line per case, then "N passed, N failed"; exit 1 on any
 * failure, 2 when the fixtures cannot be set up. --only runs the cases whose name contains
 * SUBSTRING (after the same setup).
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sqlite3.h>

#include "b64url.h"
#include "csr.h"
#include "djson.h"
#include "error.h"
#include "growbuf.h"
#include "jwk.h"

#define URN "urn:ietf:params:acme:error:"
#define MAX_TABLES 32
#define MAX_SCRATCH 256
#define BODY_MAX (1 << 20) /* a response body; the largest is a certificate chain */

/* A signing key: the private key, its public JWK as JSON text, and the account URL if any. */
struct key {
	struct jwk *jwk;
	char *jwk_json;
	const char *alg;
	char kid[640]; /* empty: sign with "jwk" */
};

struct resp {
	long status;
	struct growbuf body; /* at most BODY_MAX */
	json_t *json;
	char nonce[128];
	char ctype[128];
	char location[640];
};

/* Per-table hashes of the database. */
struct snapshot {
	size_t n;
	char name[MAX_TABLES][64];
	uint8_t hash[MAX_TABLES][32];
};

struct ctx {
	CURL *curl;
	const char *ca, *db_path, *name;
	sqlite3 *db;
	char base[640]; /* https://host:port */
	char dir_url[640], new_nonce[640], new_account[640], new_order[640], revoke[640],
	    key_change[640];
	struct key a, b, c; /* c: deactivated */
	char *cert_b64, *revoked_b64;
	EVP_PKEY *blocked;
	/* made by setup() */
	char ready_order[640], ready_finalize[640];
	char pending_order[640], pending_finalize[640], pending_authz[640], pending_chall[640];
	char valid_order[640], valid_finalize[640], cert_url[640];
	/* per case */
	char why[1024];
	void *scratch[MAX_SCRATCH];
	size_t n_scratch;
	int passed, failed;
};

/* --- small helpers ------------------------------------------------------------------------ */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "acme-hostile: setup: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* Remember p to be freed after the current case. */
static void *
keep(struct ctx *c, void *p)
{
	if (p == NULL)
		die("out of memory");
	if (c->n_scratch == MAX_SCRATCH)
		die("too many scratch allocations in one case");
	c->scratch[c->n_scratch++] = p;
	return p;
}

static void
scratch_free(struct ctx *c)
{
	for (size_t i = 0; i < c->n_scratch; i++)
		free(c->scratch[i]);
	c->n_scratch = 0;
}

/* printf into a scratch string. */
static char *S(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static char *
S(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return keep(c, s);
}

static char *
b64(struct ctx *c, const void *p, size_t n)
{
	char *s = NULL;

	if (b64url_encode(p, n, &s) != DEED_OK)
		die("b64url_encode");
	return keep(c, s);
}

static char *
b64s(struct ctx *c, const char *s)
{
	return b64(c, s, strlen(s));
}

static void why(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
why(struct ctx *c, const char *fmt, ...)
{
	size_t used = strlen(c->why);
	va_list ap;

	/* Every reason, separated by "; ". */
	if (used > 0 && used + 2 < sizeof(c->why)) {
		memcpy(c->why + used, "; ", 3);
		used += 2;
	}
	va_start(ap, fmt);
	vsnprintf(c->why + used, sizeof(c->why) - used, fmt, ap);
	va_end(ap);
}

/* --- HTTP ------------------------------------------------------------------------------ */

static void
header_value(const char *data, size_t len, size_t skip, char *dst, size_t dstsz)
{
	const char *v = data + skip, *end = data + len;
	size_t i = 0;

	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (i + 1 < dstsz && v + i < end && v[i] != '\r' && v[i] != '\n')
		dst[i] = v[i], i++;
	dst[i] = '\0';
}

static size_t
on_header(char *data, size_t sz, size_t nm, void *arg)
{
	struct resp *r = arg;
	size_t len = sz * nm;

	if (len > 13 && strncasecmp(data, "Replay-Nonce:", 13) == 0)
		header_value(data, len, 13, r->nonce, sizeof(r->nonce));
	else if (len > 13 && strncasecmp(data, "Content-Type:", 13) == 0)
		header_value(data, len, 13, r->ctype, sizeof(r->ctype));
	else if (len > 9 && strncasecmp(data, "Location:", 9) == 0)
		header_value(data, len, 9, r->location, sizeof(r->location));
	return len;
}

static void
resp_free(struct resp *r)
{
	growbuf_free(&r->body);
	json_decref(r->json);
	memset(r, 0, sizeof(*r));
	r->body.max = BODY_MAX;
}

/*
 * One request on the shared handle (the connection is kept). method GET, HEAD or POST; for
 * POST, ctype NULL sends no Content-Type at all. Returns the status, 0 on transport failure.
 */
static long
http(struct ctx *c, const char *method, const char *url, const char *ctype, const char *body,
     size_t len, struct resp *r)
{
	struct curl_slist *h = NULL;
	char ct[160];

	resp_free(r);
	curl_easy_reset(c->curl);
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, growbuf_curl_write);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, &r->body);
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(c->curl, CURLOPT_TIMEOUT, 20L);
	if (strcmp(method, "HEAD") == 0) {
		curl_easy_setopt(c->curl, CURLOPT_NOBODY, 1L);
	} else if (strcmp(method, "POST") == 0) {
		snprintf(ct, sizeof(ct), "Content-Type: %s", ctype != NULL ? ctype : "");
		h = curl_slist_append(h, ct);
		h = curl_slist_append(h, "Expect:");
		curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	}
	if (curl_easy_perform(c->curl) == CURLE_OK)
		curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(h);
	if (r->body.p != NULL && strstr(r->ctype, "json") != NULL)
		djson_parse(r->body.p, r->body.len, BODY_MAX, &r->json, NULL, 0);
	return r->status;
}

static long
post_jws(struct ctx *c, const char *url, const char *body, struct resp *r)
{
	return http(c, "POST", url, "application/jose+json", body, strlen(body), r);
}

/* A fresh nonce from newNonce. */
static char *
nonce(struct ctx *c)
{
	struct resp r = {0};
	char *n;

	if (http(c, "HEAD", c->new_nonce, NULL, NULL, 0, &r) != 200 || r.nonce[0] == '\0')
		die("newNonce answered %ld", r.status);
	n = keep(c, strdup(r.nonce));
	resp_free(&r);
	return n;
}

/* --- keys and JWS ---------------------------------------------------------------------- */

/* Fill in the JWK text and alg of k, whose jwk is set. */
static void
key_fill(struct key *k, const char *kid)
{
	json_t *j = jwk_to_json(k->jwk);

	k->jwk_json = djson_dump(j);
	json_decref(j);
	if (k->jwk_json == NULL)
		die("out of memory");
	k->alg = jwk_alg(k->jwk);
	snprintf(k->kid, sizeof(k->kid), "%s", kid != NULL ? kid : "");
}

/* Wrap pk (taking the caller's reference). */
static void
key_init(struct key *k, EVP_PKEY *pk, const char *kid)
{
	memset(k, 0, sizeof(*k));
	if (jwk_from_pkey(pk, &k->jwk) != DEED_OK)
		die("jwk_from_pkey");
	EVP_PKEY_free(pk); /* the jwk holds its own reference */
	key_fill(k, kid);
}

static void
key_gen(struct key *k, const char *type)
{
	memset(k, 0, sizeof(*k));
	if (jwk_generate(type, &k->jwk) != DEED_OK)
		die("jwk_generate %s", type);
	key_fill(k, NULL);
}

static EVP_PKEY *
read_key(const char *path)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk;

	if (f == NULL || (pk = PEM_read_PrivateKey(f, NULL, NULL, NULL)) == NULL)
		die("cannot read the private key %s", path);
	fclose(f);
	return pk;
}

static void
key_load(struct key *k, const char *path, const char *kid)
{
	key_init(k, read_key(path), kid);
}

static void
key_cleanup(struct key *k)
{
	jwk_free(k->jwk);
	free(k->jwk_json);
	memset(k, 0, sizeof(*k));
}

/* An RSA key too small for the key policy, built without jwk_generate's checks. */
static void
key_weak_rsa(struct key *k)
{
	EVP_PKEY *pk = EVP_RSA_gen(1024);

	if (pk == NULL)
		die("RSA-1024 generation");
	key_init(k, pk, NULL);
}

enum sigmode { SIG_RAW, SIG_DER, SIG_SHORT };

/* The JWS signature over input: r || s for ECDSA (or OpenSSL's DER with SIG_DER), one byte
 * short with SIG_SHORT. */
static uint8_t *
sign_input(const struct key *k, const char *input, enum sigmode mode, size_t *len)
{
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	const EVP_MD *md = NULL;
	size_t n = 0, width = 0;
	uint8_t *sig = NULL;

	switch (k->jwk->kty) {
	case JWK_RSA:
		md = EVP_sha256();
		break;
	case JWK_EC_P256:
		md = EVP_sha256();
		width = 32;
		break;
	case JWK_EC_P384:
		md = EVP_sha384();
		width = 48;
		break;
	case JWK_EC_P521:
		md = EVP_sha512();
		width = 66;
		break;
	case JWK_ED25519:
		break;
	}
	if (m == NULL || EVP_DigestSignInit(m, NULL, md, NULL, k->jwk->pkey) != 1 ||
	    EVP_DigestSign(m, NULL, &n, (const uint8_t *)input, strlen(input)) != 1 ||
	    (sig = malloc(n > 2 * width ? n : 2 * width)) == NULL ||
	    EVP_DigestSign(m, sig, &n, (const uint8_t *)input, strlen(input)) != 1)
		die("signing failed");
	EVP_MD_CTX_free(m);
	if (width > 0 && mode != SIG_DER) {
		const uint8_t *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
		const BIGNUM *r, *s;

		if (es == NULL)
			die("ECDSA signature does not parse");
		ECDSA_SIG_get0(es, &r, &s);
		BN_bn2binpad(r, sig, (int)width);
		BN_bn2binpad(s, sig + width, (int)width);
		ECDSA_SIG_free(es);
		n = 2 * width;
	}
	if (mode == SIG_SHORT)
		n--;
	*len = n;
	return sig;
}

/* The three base64url fields of a JWS, as sent. */
struct parts {
	char *prot, *pay, *sig;
};

/* Encode prot and payload (NULL: POST-as-GET) and sign them with k. */
static struct parts
parts(struct ctx *c, const struct key *k, const char *prot, const char *payload, enum sigmode mode)
{
	struct parts p;
	size_t n;
	uint8_t *sig;

	p.prot = b64s(c, prot);
	p.pay = b64s(c, payload != NULL ? payload : "");
	sig = keep(c, sign_input(k, S(c, "%s.%s", p.prot, p.pay), mode, &n));
	p.sig = b64(c, sig, n);
	return p;
}

static char *
flat(struct ctx *c, struct parts p)
{
	return S(c, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}", p.prot, p.pay,
		 p.sig);
}

/* The usual protected header of k for url, with a fresh nonce. */
static char *
hdr(struct ctx *c, const struct key *k, const char *url)
{
	if (k->kid[0] != '\0')
		return S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
			 k->alg, k->kid, nonce(c), url);
	return S(c, "{\"alg\":\"%s\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", k->alg,
		 k->jwk_json, nonce(c), url);
}

/* A correctly signed JWS of payload for url. */
static char *
jws(struct ctx *c, const struct key *k, const char *url, const char *payload)
{
	return flat(c, parts(c, k, hdr(c, k, url), payload, SIG_RAW));
}

static long
signed_post(struct ctx *c, const struct key *k, const char *url, const char *payload,
	    struct resp *r)
{
	return post_jws(c, url, jws(c, k, url, payload), r);
}

/* The inner JWS of a key change: signed by nk, carrying it as jwk, for url. */
static char *
inner_jws(struct ctx *c, const struct key *nk, const char *url, const char *account,
	  const char *oldkey)
{
	char *prot = S(c, "{\"alg\":\"%s\",\"jwk\":%s,\"url\":\"%s\"}", nk->alg, nk->jwk_json, url);

	return flat(c, parts(c, nk, prot,
			     S(c, "{\"account\":\"%s\",\"oldKey\":%s}", account, oldkey), SIG_RAW));
}

/* --- fixtures -------------------------------------------------------------------------- */

static char *
pem_cert_b64(const char *path)
{
	FILE *f = fopen(path, "r");
	X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
	uint8_t *der = NULL;
	char *s = NULL;
	int n;

	if (x == NULL || (n = i2d_X509(x, &der)) <= 0 ||
	    b64url_encode(der, (size_t)n, &s) != DEED_OK)
		die("cannot read the certificate %s", path);
	OPENSSL_free(der);
	X509_free(x);
	fclose(f);
	return s;
}

/* A CSR for names signed by pk, base64url, as a finalize payload. */
static char *
csr_payload(struct ctx *c, EVP_PKEY *pk, const char *const *names, size_t n)
{
	uint8_t *der = NULL;
	size_t len = 0;

	if (csr_create(pk, names, n, &der, &len) != DEED_OK)
		die("csr_create");
	keep(c, der);
	return S(c, "{\"csr\":\"%s\"}", b64(c, der, len));
}

static const char *
jstr(const json_t *j, const char *k)
{
	const char *s = djson_str(j, k);

	return s != NULL ? s : "";
}

static void
copy(char *dst, const char *src)
{
	snprintf(dst, 640, "%s", src);
}

static void
directory(struct ctx *c)
{
	struct resp r = {0};
	char *slash;

	if (http(c, "GET", c->dir_url, NULL, NULL, 0, &r) != 200 || r.json == NULL)
		die("GET %s answered %ld", c->dir_url, r.status);
	copy(c->new_nonce, jstr(r.json, "newNonce"));
	copy(c->new_account, jstr(r.json, "newAccount"));
	copy(c->new_order, jstr(r.json, "newOrder"));
	copy(c->revoke, jstr(r.json, "revokeCert"));
	copy(c->key_change, jstr(r.json, "keyChange"));
	resp_free(&r);
	snprintf(c->base, sizeof(c->base), "%s", c->dir_url);
	if ((slash = strstr(c->base, "://")) == NULL || (slash = strchr(slash + 3, '/')) == NULL)
		die("directory URL %s has no path", c->dir_url);
	*slash = '\0';
}

static json_t *
order_for(struct ctx *c, const char *name, const char *want_status, char *loc)
{
	struct resp r = {0};
	json_t *o;

	signed_post(c, &c->a, c->new_order,
		    S(c, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}", name), &r);
	if (r.status != 201 || strcmp(jstr(r.json, "status"), want_status) != 0)
		die("newOrder %s: %ld %s (want 201, %s)", name, r.status, r.body.p ? r.body.p : "",
		    want_status);
	copy(loc, r.location);
	o = json_incref(r.json);
	resp_free(&r);
	return o;
}

/* What the cases need beyond the shell script's fixtures. Changes the database. */
static void
setup(struct ctx *c)
{
	struct resp r = {0};
	json_t *o, *orders;
	size_t i;

	directory(c);

	/* A ready order: A's authorization for the name is reused. */
	o = order_for(c, c->name, "ready", c->ready_order);
	copy(c->ready_finalize, jstr(o, "finalize"));
	json_decref(o);

	/* A pending order with a pending authorization and challenge. */
	o = order_for(c, "pending.example.test", "pending", c->pending_order);
	copy(c->pending_finalize, jstr(o, "finalize"));
	copy(c->pending_authz,
	     json_string_value(json_array_get(json_object_get(o, "authorizations"), 0)));
	json_decref(o);
	signed_post(c, &c->a, c->pending_authz, NULL, &r);
	if (r.status != 200)
		die("authz %s: %ld", c->pending_authz, r.status);
	copy(c->pending_chall,
	     jstr(json_array_get(json_object_get(r.json, "challenges"), 0), "url"));

	/* A's valid order and its certificate. */
	signed_post(c, &c->a, S(c, "%s/orders", c->a.kid), NULL, &r);
	orders = json_incref(json_object_get(r.json, "orders"));
	for (i = 0; i < json_array_size(orders) && c->cert_url[0] == '\0'; i++) {
		const char *u = json_string_value(json_array_get(orders, i));

		signed_post(c, &c->a, u, NULL, &r);
		if (strcmp(jstr(r.json, "status"), "valid") == 0) {
			copy(c->valid_order, u);
			copy(c->valid_finalize, jstr(r.json, "finalize"));
			copy(c->cert_url, jstr(r.json, "certificate"));
		}
	}
	json_decref(orders);
	if (c->cert_url[0] == '\0')
		die("account A has no valid order");

	/* C: an account that deactivated itself. */
	key_gen(&c->c, "ec256");
	signed_post(c, &c->c, c->new_account, "{\"termsOfServiceAgreed\":true}", &r);
	if (r.status != 201)
		die("newAccount C: %ld", r.status);
	copy(c->c.kid, r.location);
	signed_post(c, &c->c, c->c.kid, "{\"status\":\"deactivated\"}", &r);
	if (r.status != 200 || strcmp(jstr(r.json, "status"), "deactivated") != 0)
		die("deactivating C: %ld", r.status);
	resp_free(&r);
	scratch_free(c);
}

/* --- the database ------------------------------------------------------------------------ */

static void
hash_value(EVP_MD_CTX *m, sqlite3_stmt *st, int col)
{
	int type = sqlite3_column_type(st, col);
	const void *p = NULL;
	uint32_t n = 0;
	uint8_t t = (uint8_t)type;

	if (type == SQLITE_BLOB || type == SQLITE_TEXT || type == SQLITE_INTEGER ||
	    type == SQLITE_FLOAT) {
		/* Integers and floats as text: exact for our purpose. */
		p = type == SQLITE_BLOB ? sqlite3_column_blob(st, col)
					: (const void *)sqlite3_column_text(st, col);
		n = (uint32_t)sqlite3_column_bytes(st, col);
	}
	EVP_DigestUpdate(m, &t, 1);
	EVP_DigestUpdate(m, &n, sizeof(n));
	if (n > 0)
		EVP_DigestUpdate(m, p, n);
}

/* Hash every row of every table (and the schema), table by table, in one read transaction. */
static void
snapshot(struct ctx *c, struct snapshot *s)
{
	sqlite3_stmt *tables = NULL, *rows = NULL;
	char sql[160];

	memset(s, 0, sizeof(*s));
	if (sqlite3_exec(c->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c->db,
			       "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
			       -1, &tables, NULL) != SQLITE_OK)
		die("reading the database: %s", sqlite3_errmsg(c->db));
	while (sqlite3_step(tables) == SQLITE_ROW && s->n < MAX_TABLES - 1) {
		const char *name = (const char *)sqlite3_column_text(tables, 0);
		EVP_MD_CTX *m = EVP_MD_CTX_new();

		snprintf(s->name[s->n], sizeof(s->name[0]), "%s", name);
		snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid", name);
		if (m == NULL || EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
		    sqlite3_prepare_v2(c->db, sql, -1, &rows, NULL) != SQLITE_OK)
			die("reading table %s: %s", name, sqlite3_errmsg(c->db));
		while (sqlite3_step(rows) == SQLITE_ROW) {
			EVP_DigestUpdate(m, "R", 1);
			for (int i = 0; i < sqlite3_column_count(rows); i++)
				hash_value(m, rows, i);
		}
		sqlite3_finalize(rows);
		EVP_DigestFinal_ex(m, s->hash[s->n], NULL);
		EVP_MD_CTX_free(m);
		s->n++;
	}
	sqlite3_finalize(tables);
	/* The schema itself, as a pseudo-table. */
	{
		EVP_MD_CTX *m = EVP_MD_CTX_new();

		snprintf(s->name[s->n], sizeof(s->name[0]), "sqlite_master");
		EVP_DigestInit_ex(m, EVP_sha256(), NULL);
		sqlite3_prepare_v2(c->db, "SELECT type, name, sql FROM sqlite_master ORDER BY name",
				   -1, &rows, NULL);
		while (sqlite3_step(rows) == SQLITE_ROW)
			for (int i = 0; i < 3; i++)
				hash_value(m, rows, i);
		sqlite3_finalize(rows);
		EVP_DigestFinal_ex(m, s->hash[s->n], NULL);
		EVP_MD_CTX_free(m);
		s->n++;
	}
	sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
}

/* Empty string when equal, else the names of the tables that differ. */
static void
snapshot_diff(const struct snapshot *x, const struct snapshot *y, char *out, size_t outsz)
{
	size_t used = 0;

	out[0] = '\0';
	if (x->n != y->n) {
		snprintf(out, outsz, "number of tables");
		return;
	}
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->name[i], y->name[i]) != 0 || memcmp(x->hash[i], y->hash[i], 32) != 0)
			used += (size_t)snprintf(out + used, used < outsz ? outsz - used : 0,
						 "%s%s", used ? "," : "", x->name[i]);
}

/* --- the cases ----------------------------------------------------------------------------- */

/* Each case sends its request(s) and leaves the last answer in r; c->why for anything else
 * that went wrong. */
typedef void case_fn(struct ctx *c, struct resp *r);

struct hcase {
	const char *name;
	case_fn *fn;
	int status;
	const char *type;   /* without the URN prefix */
	const char *detail; /* substring of "detail", or NULL */
};

/* ---- transport and routing ---- */

static void
t_unknown_endpoint(struct ctx *c, struct resp *r)
{
	const char *u = S(c, "%s/acme/no-such-thing", c->base);

	signed_post(c, &c->a, u, NULL, r);
}

static void
t_get_order(struct ctx *c, struct resp *r)
{
	http(c, "GET", c->ready_order, NULL, NULL, 0, r);
}

static void
t_get_new_account(struct ctx *c, struct resp *r)
{
	http(c, "GET", c->new_account, NULL, NULL, 0, r);
}

static void
t_ctype_json(struct ctx *c, struct resp *r)
{
	const char *b = jws(c, &c->a, c->a.kid, NULL);

	http(c, "POST", c->a.kid, "application/json", b, strlen(b), r);
}

static void
t_ctype_none(struct ctx *c, struct resp *r)
{
	const char *b = jws(c, &c->a, c->a.kid, NULL);

	http(c, "POST", c->a.kid, NULL, b, strlen(b), r);
}

static void
t_oversized(struct ctx *c, struct resp *r)
{
	/* A signed newOrder whose payload carries 80 KiB of filler. */
	size_t n = 80 * 1024;
	char *fill = keep(c, malloc(n + 1));

	memset(fill, 'a', n);
	fill[n] = '\0';
	signed_post(c, &c->a, c->new_order,
		    S(c,
		      "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"big.example.test\"}],"
		      "\"x\":\"%s\"}",
		      fill),
		    r);
}

/* ---- JWS structure and encodings ---- */

static void
t_trailing_garbage(struct ctx *c, struct resp *r)
{
	post_jws(c, c->a.kid, S(c, "%s xyz", jws(c, &c->a, c->a.kid, NULL)), r);
}

static void
t_dup_member(struct ctx *c, struct resp *r)
{
	struct parts p =
	    parts(c, &c->a, hdr(c, &c->a, c->new_order),
		  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"dup.example.test\"}]}", SIG_RAW);

	post_jws(
	    c, c->new_order,
	    S(c, "{\"protected\":\"%s\",\"payload\":\"%s\",\"payload\":\"\",\"signature\":\"%s\"}",
	      p.prot, p.pay, p.sig),
	    r);
}

static void
t_dup_header(struct ctx *c, struct resp *r)
{
	const char *prot = S(c,
			     "{\"alg\":\"%s\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\","
			     "\"url\":\"%s\"}",
			     c->a.alg, c->a.kid, nonce(c), c->key_change, c->new_order);

	post_jws(
	    c, c->new_order,
	    flat(c, parts(c, &c->a, prot,
			  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"dup.example.test\"}]}",
			  SIG_RAW)),
	    r);
}

static void
t_dup_payload(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->new_order,
		    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"dup.example.test\"}],"
		    "\"identifiers\":[{\"type\":\"dns\",\"value\":\"dup2.example.test\"}]}",
		    r);
}

static void
t_payload_garbage(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->new_order,
		    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"junk.example.test\"}]} junk",
		    r);
}

static void
t_b64_padding(struct ctx *c, struct resp *r)
{
	/* Add spaces to the header until its encoding would need padding, then pad it. */
	char *h = hdr(c, &c->a, c->a.kid), *prot;
	struct parts p;
	size_t n;
	uint8_t *sig;

	while (strlen(h) % 3 == 0)
		h = S(c, "%s ", h);
	prot = S(c, "%s%s", b64s(c, h), strlen(h) % 3 == 1 ? "==" : "=");
	p.prot = prot;
	p.pay = "";
	sig = keep(c, sign_input(&c->a, S(c, "%s.", prot), SIG_RAW, &n));
	p.sig = b64(c, sig, n);
	post_jws(c, c->a.kid, flat(c, p), r);
}

static void
t_b64_bad_char(struct ctx *c, struct resp *r)
{
	/* A '*' inside the payload, signed as sent. */
	char *h = b64s(c, hdr(c, &c->a, c->a.kid));
	const char *pay = S(c, "%s*", b64s(c, "{\"contact\":[]}"));
	size_t n;
	uint8_t *sig = keep(c, sign_input(&c->a, S(c, "%s.%s", h, pay), SIG_RAW, &n));
	struct parts p = {h, (char *)pay, b64(c, sig, n)};

	post_jws(c, c->a.kid, flat(c, p), r);
}

static void
t_b64_std_alphabet(struct ctx *c, struct resp *r)
{
	/* The signature in the standard alphabet ('+' and '/'): sign until it has '-' or '_'. */
	struct parts p;

	for (int i = 0; i < 64; i++) {
		p = parts(c, &c->a, hdr(c, &c->a, c->a.kid), NULL, SIG_RAW);
		if (strpbrk(p.sig, "-_") != NULL)
			break;
	}
	for (char *q = p.sig; *q != '\0'; q++)
		*q = *q == '-' ? '+' : *q == '_' ? '/' : *q;
	post_jws(c, c->a.kid, flat(c, p), r);
}

static void
t_hdr_not_json(struct ctx *c, struct resp *r)
{
	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, "alg=ES256; kid=1", NULL, SIG_RAW)), r);
}

static void
t_hdr_array(struct ctx *c, struct resp *r)
{
	const char *prot = S(c, "[\"%s\",\"%s\",\"%s\"]", c->a.alg, nonce(c), c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, NULL, SIG_RAW)), r);
}

static char *
nested(struct ctx *c, int depth)
{
	char *s = keep(c, malloc((size_t)depth * 2 + 1));

	memset(s, '[', (size_t)depth);
	memset(s + depth, ']', (size_t)depth);
	s[2 * depth] = '\0';
	return s;
}

static void
t_deep_body(struct ctx *c, struct resp *r)
{
	struct parts p = parts(c, &c->a, hdr(c, &c->a, c->a.kid), NULL, SIG_RAW);

	post_jws(c, c->a.kid,
		 S(c, "{\"protected\":\"%s\",\"payload\":\"\",\"signature\":\"%s\",\"x\":%s}",
		   p.prot, p.sig, nested(c, 200)),
		 r);
}

static void
t_deep_payload(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->new_order,
		    S(c,
		      "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"deep.example.test\"}],"
		      "\"x\":%s}",
		      nested(c, 40)),
		    r);
}

static void
t_unprotected_header(struct ctx *c, struct resp *r)
{
	struct parts p = parts(c, &c->a, hdr(c, &c->a, c->a.kid), NULL, SIG_RAW);

	post_jws(c, c->a.kid,
		 S(c,
		   "{\"protected\":\"%s\",\"header\":{\"kid\":\"%s\"},\"payload\":\"\","
		   "\"signature\":\"%s\"}",
		   p.prot, c->b.kid, p.sig),
		 r);
}

static void
t_general_serialization(struct ctx *c, struct resp *r)
{
	struct parts p = parts(c, &c->a, hdr(c, &c->a, c->a.kid), NULL, SIG_RAW);

	post_jws(
	    c, c->a.kid,
	    S(c, "{\"payload\":\"\",\"signatures\":[{\"protected\":\"%s\",\"signature\":\"%s\"}]}",
	      p.prot, p.sig),
	    r);
}

static void
t_crit(struct ctx *c, struct resp *r)
{
	const char *prot = S(c,
			     "{\"alg\":\"%s\",\"crit\":[\"exp\"],\"exp\":1,\"kid\":\"%s\","
			     "\"nonce\":\"%s\",\"url\":\"%s\"}",
			     c->a.alg, c->a.kid, nonce(c), c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, NULL, SIG_RAW)), r);
}

static void
t_b64_false(struct ctx *c, struct resp *r)
{
	const char *prot = S(c,
			     "{\"alg\":\"%s\",\"b64\":false,\"crit\":[\"b64\"],\"kid\":\"%s\","
			     "\"nonce\":\"%s\",\"url\":\"%s\"}",
			     c->a.alg, c->a.kid, nonce(c), c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, NULL, SIG_RAW)), r);
}

/* ---- algorithms and signatures ---- */

static void
t_alg_none(struct ctx *c, struct resp *r)
{
	struct key k;
	const char *prot;

	key_gen(&k, "ec256");
	prot = S(c, "{\"alg\":\"none\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", k.jwk_json,
		 nonce(c), c->new_account);
	post_jws(c, c->new_account,
		 S(c, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"\"}", b64s(c, prot),
		   b64s(c, "{\"termsOfServiceAgreed\":true}")),
		 r);
	key_cleanup(&k);
}

static void
t_alg_hs256(struct ctx *c, struct resp *r)
{
	/* HMAC keyed with the account's public JWK: what an algorithm-confusion attack tries. */
	const char *prot =
	    S(c, "{\"alg\":\"HS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}", c->b.kid,
	      nonce(c), c->b.kid);
	char *in = S(c, "%s.%s", b64s(c, prot), b64s(c, "{\"contact\":[]}"));
	uint8_t mac[32];
	unsigned int n = 0;

	HMAC(EVP_sha256(), c->b.jwk_json, (int)strlen(c->b.jwk_json), (const uint8_t *)in,
	     strlen(in), mac, &n);
	post_jws(c, c->b.kid,
		 S(c, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"%s\"}",
		   b64s(c, prot), b64s(c, "{\"contact\":[]}"), b64(c, mac, n)),
		 r);
}

static void
t_alg_ps256(struct ctx *c, struct resp *r)
{
	const char *prot =
	    S(c, "{\"alg\":\"PS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}", c->a.kid,
	      nonce(c), c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, NULL, SIG_RAW)), r);
}

static void
t_alg_mismatch_jwk(struct ctx *c, struct resp *r)
{
	/* An EC key in "jwk", but "alg" RS256. */
	struct key k;
	const char *prot;

	key_gen(&k, "ec256");
	prot = S(c, "{\"alg\":\"RS256\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}", k.jwk_json,
		 nonce(c), c->new_account);
	post_jws(c, c->new_account,
		 flat(c, parts(c, &k, prot, "{\"termsOfServiceAgreed\":true}", SIG_RAW)), r);
	key_cleanup(&k);
}

static void
t_alg_mismatch_kid(struct ctx *c, struct resp *r)
{
	/* A's stored key is EC; the header says RS256 (the signature is ES256's). */
	const char *prot =
	    S(c, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}", c->a.kid,
	      nonce(c), c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, "{\"contact\":[]}", SIG_RAW)), r);
}

static void
t_rsa_tiny(struct ctx *c, struct resp *r)
{
	struct key k;

	key_weak_rsa(&k);
	signed_post(c, &k, c->new_account, "{\"termsOfServiceAgreed\":true}", r);
	key_cleanup(&k);
}

static void
t_sig_der(struct ctx *c, struct resp *r)
{
	post_jws(c, c->a.kid,
		 flat(c, parts(c, &c->a, hdr(c, &c->a, c->a.kid), "{\"contact\":[]}", SIG_DER)), r);
}

static void
t_sig_short(struct ctx *c, struct resp *r)
{
	post_jws(c, c->a.kid,
		 flat(c, parts(c, &c->a, hdr(c, &c->a, c->a.kid), "{\"contact\":[]}", SIG_SHORT)),
		 r);
}

static void
t_kid_other_account(struct ctx *c, struct resp *r)
{
	/* B's URL as kid, signed with A's key: B's contact must not change. */
	const char *prot = S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
			     c->a.alg, c->b.kid, nonce(c), c->b.kid);

	post_jws(
	    c, c->b.kid,
	    flat(c, parts(c, &c->a, prot, "{\"contact\":[\"mailto:evil@example.test\"]}", SIG_RAW)),
	    r);
}

/* ---- JWKs ---- */

/* A newAccount request whose "jwk" is jwk_text, signed with k. */
static void
new_account_with_jwk(struct ctx *c, const struct key *k, const char *jwk_text, struct resp *r)
{
	const char *prot = S(c, "{\"alg\":\"%s\",\"jwk\":%s,\"nonce\":\"%s\",\"url\":\"%s\"}",
			     k->alg, jwk_text, nonce(c), c->new_account);

	post_jws(c, c->new_account,
		 flat(c, parts(c, k, prot, "{\"termsOfServiceAgreed\":true}", SIG_RAW)), r);
}

static void
t_jwk_private(struct ctx *c, struct resp *r)
{
	struct key k;
	json_t *j;
	char *d = NULL;

	key_gen(&k, "ec256");
	/* The real private scalar, as a careless client would leak it. */
	{
		BIGNUM *priv = NULL;
		uint8_t buf[32];

		if (EVP_PKEY_get_bn_param(k.jwk->pkey, "priv", &priv) != 1 ||
		    BN_bn2binpad(priv, buf, 32) != 32)
			die("EC private scalar");
		BN_clear_free(priv);
		d = b64(c, buf, 32);
	}
	djson_parse(k.jwk_json, strlen(k.jwk_json), 4096, &j, NULL, 0);
	json_object_set_new(j, "d", json_string(d));
	new_account_with_jwk(c, &k, keep(c, djson_dump(j)), r);
	json_decref(j);
	key_cleanup(&k);
}

static void
t_jwk_oct(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	new_account_with_jwk(c, &k, "{\"k\":\"c2VjcmV0LXNlY3JldC1zZWNyZXQ\",\"kty\":\"oct\"}", r);
	key_cleanup(&k);
}

static void
t_jwk_secp256k1(struct ctx *c, struct resp *r)
{
	struct key k;
	json_t *j;

	key_gen(&k, "ec256");
	djson_parse(k.jwk_json, strlen(k.jwk_json), 4096, &j, NULL, 0);
	json_object_set_new(j, "crv", json_string("secp256k1"));
	new_account_with_jwk(c, &k, keep(c, djson_dump(j)), r);
	json_decref(j);
	key_cleanup(&k);
}

static void
t_jwk_off_curve(struct ctx *c, struct resp *r)
{
	struct key k;
	json_t *j;
	char *y;

	key_gen(&k, "ec256");
	djson_parse(k.jwk_json, strlen(k.jwk_json), 4096, &j, NULL, 0);
	y = keep(c, strdup(djson_str(j, "y")));
	y[5] = y[5] == 'A' ? 'B' : 'A';
	json_object_set_new(j, "y", json_string(y));
	new_account_with_jwk(c, &k, keep(c, djson_dump(j)), r);
	json_decref(j);
	key_cleanup(&k);
}

/* ---- nonces ---- */

static void
with_nonce(struct ctx *c, const char *nonce_member, struct resp *r)
{
	const char *prot = S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",%s\"url\":\"%s\"}", c->a.alg,
			     c->a.kid, nonce_member, c->a.kid);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, NULL, SIG_RAW)), r);
}

static void
t_nonce_missing(struct ctx *c, struct resp *r)
{
	with_nonce(c, "", r);
}

static void
t_nonce_empty(struct ctx *c, struct resp *r)
{
	with_nonce(c, "\"nonce\":\"\",", r);
}

static void
t_nonce_bad_chars(struct ctx *c, struct resp *r)
{
	with_nonce(c, "\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/\",", r);
}

static void
t_nonce_future(struct ctx *c, struct resp *r)
{
	/* A fresh nonce with its counter moved 1000 ahead: one the server has not issued. */
	const char *n = nonce(c);
	uint8_t *raw = NULL;
	size_t len = 0;
	unsigned carry = 1000;

	if (b64url_decode(n, strlen(n), &raw, &len) != DEED_OK || len < 8)
		die("nonce %s is not base64url of at least 8 octets", n);
	keep(c, raw);
	for (int i = 7; i >= 0 && carry > 0; i--) {
		carry += raw[i];
		raw[i] = (uint8_t)carry;
		carry >>= 8;
	}
	with_nonce(c, S(c, "\"nonce\":\"%s\",", b64(c, raw, len)), r);
}

static void
t_nonce_replayed(struct ctx *c, struct resp *r)
{
	const char *b = jws(c, &c->a, c->a.kid, NULL);

	if (post_jws(c, c->a.kid, b, r) != 200)
		why(c, "the first use answered %ld", r->status);
	post_jws(c, c->a.kid, b, r);
}

/* ---- url, jwk and kid ---- */

static void
with_url(struct ctx *c, const char *url_member, struct resp *r)
{
	const char *prot = S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",\"nonce\":\"%s\"%s}", c->a.alg,
			     c->a.kid, nonce(c), url_member);

	post_jws(c, c->a.kid, flat(c, parts(c, &c->a, prot, "{\"contact\":[]}", SIG_RAW)), r);
}

static void
t_url_other(struct ctx *c, struct resp *r)
{
	with_url(c, S(c, ",\"url\":\"%s\"", c->new_order), r);
}

static void
t_url_missing(struct ctx *c, struct resp *r)
{
	with_url(c, "", r);
}

static void
t_url_http(struct ctx *c, struct resp *r)
{
	with_url(c, S(c, ",\"url\":\"http%s\"", c->a.kid + 5), r);
}

static void
t_jwk_and_kid(struct ctx *c, struct resp *r)
{
	const char *prot = S(c,
			     "{\"alg\":\"%s\",\"jwk\":%s,\"kid\":\"%s\",\"nonce\":\"%s\","
			     "\"url\":\"%s\"}",
			     c->a.alg, c->a.jwk_json, c->a.kid, nonce(c), c->new_order);

	post_jws(
	    c, c->new_order,
	    flat(c, parts(c, &c->a, prot,
			  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"both.example.test\"}]}",
			  SIG_RAW)),
	    r);
}

static void
t_neither_jwk_nor_kid(struct ctx *c, struct resp *r)
{
	const char *prot = S(c, "{\"alg\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}", c->a.alg,
			     nonce(c), c->new_account);

	post_jws(c, c->new_account,
		 flat(c, parts(c, &c->a, prot, "{\"termsOfServiceAgreed\":true}", SIG_RAW)), r);
}

static void
with_kid(struct ctx *c, const char *kid, struct resp *r)
{
	const char *prot = S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",\"nonce\":\"%s\",\"url\":\"%s\"}",
			     c->a.alg, kid, nonce(c), c->new_order);

	post_jws(
	    c, c->new_order,
	    flat(c, parts(c, &c->a, prot,
			  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"kid.example.test\"}]}",
			  SIG_RAW)),
	    r);
}

static void
t_kid_unknown(struct ctx *c, struct resp *r)
{
	with_kid(c, S(c, "%s/acme/acct/987654", c->base), r);
}

static void
t_kid_trailing_slash(struct ctx *c, struct resp *r)
{
	with_kid(c, S(c, "%s/", c->a.kid), r);
}

static void
t_kid_new_account(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->new_account, "{\"termsOfServiceAgreed\":true}", r);
}

static void
t_jwk_new_order(struct ctx *c, struct resp *r)
{
	struct key k = c->a;

	k.kid[0] = '\0'; /* A's own key, embedded */
	signed_post(c, &k, c->new_order,
		    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"jwk.example.test\"}]}", r);
}

/* ---- accounts ---- */

static void
t_deact_get(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->c, c->c.kid, NULL, r);
}

static void
t_deact_order(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->c, c->new_order,
		    "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"deact.example.test\"}]}", r);
}

static void
t_deact_reactivate(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->c, c->c.kid, "{\"status\":\"valid\"}", r);
}

static void
t_deact_new_account(struct ctx *c, struct resp *r)
{
	/* The deactivated key asks for an account again: the same, deactivated one, not a new
	 * one. RFC 8555 §7.3.6: requests signed with it are refused. */
	struct key k = c->c;

	k.kid[0] = '\0';
	signed_post(c, &k, c->new_account, "{\"termsOfServiceAgreed\":true}", r);
}

static void
t_other_account_update(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->a.kid, "{\"contact\":[\"mailto:evil@example.test\"]}", r);
}

static void
t_other_account_deactivate(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->a.kid, "{\"status\":\"deactivated\"}", r);
}

static void
t_other_orders_list(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, S(c, "%s/orders", c->a.kid), NULL, r);
}

static void
t_only_existing(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	signed_post(c, &k, c->new_account,
		    "{\"onlyReturnExisting\":true,\"termsOfServiceAgreed\":true}", r);
	key_cleanup(&k);
}

static void
new_account_payload(struct ctx *c, const char *payload, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	signed_post(c, &k, c->new_account, payload, r);
	key_cleanup(&k);
}

static void
t_contact_tel(struct ctx *c, struct resp *r)
{
	new_account_payload(c, "{\"termsOfServiceAgreed\":true,\"contact\":[\"tel:+15551234\"]}",
			    r);
}

static void
t_contact_two_at(struct ctx *c, struct resp *r)
{
	new_account_payload(
	    c, "{\"termsOfServiceAgreed\":true,\"contact\":[\"mailto:a@b@example.test\"]}", r);
}

static void
t_contact_not_array(struct ctx *c, struct resp *r)
{
	new_account_payload(
	    c, "{\"termsOfServiceAgreed\":true,\"contact\":\"mailto:a@example.test\"}", r);
}

static void
t_new_account_array(struct ctx *c, struct resp *r)
{
	new_account_payload(c, "[{\"termsOfServiceAgreed\":true}]", r);
}

static void
t_status_revoked(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->a.kid, "{\"status\":\"revoked\"}", r);
}

/* ---- key change ---- */

static void
key_change(struct ctx *c, const char *inner, struct resp *r)
{
	signed_post(c, &c->a, c->key_change, inner, r);
}

static void
t_kc_url_mismatch(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	key_change(c, inner_jws(c, &k, c->new_order, c->a.kid, c->a.jwk_json), r);
	key_cleanup(&k);
}

static void
t_kc_other_account(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	key_change(c, inner_jws(c, &k, c->key_change, c->b.kid, c->a.jwk_json), r);
	key_cleanup(&k);
}

static void
t_kc_wrong_old_key(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	key_change(c, inner_jws(c, &k, c->key_change, c->a.kid, c->b.jwk_json), r);
	key_cleanup(&k);
}

static void
t_kc_key_in_use(struct ctx *c, struct resp *r)
{
	struct key bk = c->b;

	bk.kid[0] = '\0';
	key_change(c, inner_jws(c, &bk, c->key_change, c->a.kid, c->a.jwk_json), r);
	if (r->status == 409 && strcmp(r->location, c->b.kid) != 0)
		why(c, "Location is \"%s\", not B's account %s", r->location, c->b.kid);
}

static void
t_kc_inner_kid(struct ctx *c, struct resp *r)
{
	struct key k;
	const char *prot;

	key_gen(&k, "ec256");
	prot =
	    S(c, "{\"alg\":\"%s\",\"kid\":\"%s\",\"url\":\"%s\"}", k.alg, c->a.kid, c->key_change);
	key_change(
	    c,
	    flat(c, parts(c, &k, prot,
			  S(c, "{\"account\":\"%s\",\"oldKey\":%s}", c->a.kid, c->a.jwk_json),
			  SIG_RAW)),
	    r);
	key_cleanup(&k);
}

static void
t_kc_inner_wrong_signer(struct ctx *c, struct resp *r)
{
	/* The inner JWS names a new key but is signed by another one. */
	struct key k, other;
	const char *prot;

	key_gen(&k, "ec256");
	key_gen(&other, "ec256");
	prot = S(c, "{\"alg\":\"%s\",\"jwk\":%s,\"url\":\"%s\"}", k.alg, k.jwk_json, c->key_change);
	key_change(
	    c,
	    flat(c, parts(c, &other, prot,
			  S(c, "{\"account\":\"%s\",\"oldKey\":%s}", c->a.kid, c->a.jwk_json),
			  SIG_RAW)),
	    r);
	key_cleanup(&k);
	key_cleanup(&other);
}

static void
t_kc_weak_key(struct ctx *c, struct resp *r)
{
	struct key k;

	key_weak_rsa(&k);
	key_change(c, inner_jws(c, &k, c->key_change, c->a.kid, c->a.jwk_json), r);
	key_cleanup(&k);
}

static void
t_kc_inner_none(struct ctx *c, struct resp *r)
{
	struct key k;
	const char *prot;

	key_gen(&k, "ec256");
	prot = S(c, "{\"alg\":\"none\",\"jwk\":%s,\"url\":\"%s\"}", k.jwk_json, c->key_change);
	key_change(c,
		   S(c, "{\"protected\":\"%s\",\"payload\":\"%s\",\"signature\":\"\"}",
		     b64s(c, prot),
		     b64s(c, S(c, "{\"account\":\"%s\",\"oldKey\":%s}", c->a.kid, c->a.jwk_json))),
		   r);
	key_cleanup(&k);
}

/* ---- orders and identifiers ---- */

static void
new_order(struct ctx *c, const char *payload, struct resp *r)
{
	signed_post(c, &c->a, c->new_order, payload, r);
}

static void
t_order_array(struct ctx *c, struct resp *r)
{
	new_order(c, "[{\"type\":\"dns\",\"value\":\"arr.example.test\"}]", r);
}

static void
t_order_post_as_get(struct ctx *c, struct resp *r)
{
	new_order(c, NULL, r);
}

static void
t_order_ip(struct ctx *c, struct resp *r)
{
	new_order(c, "{\"identifiers\":[{\"type\":\"ip\",\"value\":\"127.0.0.1\"}]}", r);
}

static void
t_order_name_too_long(struct ctx *c, struct resp *r)
{
	/* 5 labels of 60: 304 octets. */
	char l[61];

	memset(l, 'a', 60);
	l[60] = '\0';
	new_order(c,
		  S(c, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s.%s.%s.%s.%s.test\"}]}",
		    l, l, l, l, l),
		  r);
}

static void
t_order_label_too_long(struct ctx *c, struct resp *r)
{
	char l[65];

	memset(l, 'b', 64);
	l[64] = '\0';
	new_order(
	    c, S(c, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s.example.test\"}]}", l), r);
}

static void
t_order_empty(struct ctx *c, struct resp *r)
{
	new_order(c, "{\"identifiers\":[]}", r);
}

static void
t_order_duplicate(struct ctx *c, struct resp *r)
{
	new_order(c,
		  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"twice.example.test\"},"
		  "{\"type\":\"dns\",\"value\":\"twice.example.test\"}]}",
		  r);
}

static void
t_order_not_after(struct ctx *c, struct resp *r)
{
	new_order(c,
		  "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"na.example.test\"}],"
		  "\"notAfter\":\"2099-01-01T00:00:00Z\"}",
		  r);
}

static void
t_order_ip_as_dns(struct ctx *c, struct resp *r)
{
	new_order(c, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"127.0.0.1\"}]}", r);
}

static void
t_order_bad_wildcard(struct ctx *c, struct resp *r)
{
	new_order(c, "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"www.*.example.test\"}]}", r);
}

/* ---- other accounts' resources, POST-as-GET ---- */

static void
t_pag_order_body(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->ready_order, "{}", r);
}

static void
t_pag_cert_body(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->cert_url, "{}", r);
}

static void
t_other_order(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->valid_order, NULL, r);
}

static void
t_other_authz(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->pending_authz, NULL, r);
}

static void
t_other_authz_deactivate(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->pending_authz, "{\"status\":\"deactivated\"}", r);
}

static void
t_other_chall(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->pending_chall, NULL, r);
}

static void
t_other_chall_answer(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->pending_chall, "{}", r);
}

static void
t_other_cert(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->cert_url, NULL, r);
}

static void
t_no_such_order(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, S(c, "%s/acme/order/987654", c->base), NULL, r);
}

static void
t_chall_bad_payload(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->pending_chall, "{\"keyAuthorization\":\"x.y\"}", r);
}

/* ---- finalize ---- */

static void
finalize_with(struct ctx *c, const char *url, EVP_PKEY *pk, const char *const *names, size_t n,
	      struct resp *r)
{
	signed_post(c, &c->a, url, csr_payload(c, pk, names, n), r);
}

static void
t_fin_pending(struct ctx *c, struct resp *r)
{
	const char *names[] = {"pending.example.test"};
	struct key k;

	key_gen(&k, "ec256");
	finalize_with(c, c->pending_finalize, k.jwk->pkey, names, 1, r);
	key_cleanup(&k);
}

static void
t_fin_valid(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name};
	struct key k;

	key_gen(&k, "ec256");
	finalize_with(c, c->valid_finalize, k.jwk->pkey, names, 1, r);
	key_cleanup(&k);
}

static void
t_fin_other_account(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name};
	struct key k;

	key_gen(&k, "ec256");
	signed_post(c, &c->b, c->ready_finalize, csr_payload(c, k.jwk->pkey, names, 1), r);
	key_cleanup(&k);
}

static void
t_csr_extra_name(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name, "extra.example.test"};
	struct key k;

	key_gen(&k, "ec256");
	finalize_with(c, c->ready_finalize, k.jwk->pkey, names, 2, r);
	key_cleanup(&k);
}

static void
t_csr_other_name(struct ctx *c, struct resp *r)
{
	const char *names[] = {"other.example.test"};
	struct key k;

	key_gen(&k, "ec256");
	finalize_with(c, c->ready_finalize, k.jwk->pkey, names, 1, r);
	key_cleanup(&k);
}

static void
t_csr_account_key(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name};

	finalize_with(c, c->ready_finalize, c->a.jwk->pkey, names, 1, r);
}

static void
t_csr_blocked_key(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name};

	finalize_with(c, c->ready_finalize, c->blocked, names, 1, r);
}

static void
t_csr_weak_key(struct ctx *c, struct resp *r)
{
	const char *names[] = {c->name};
	EVP_PKEY *pk = EVP_RSA_gen(1024);

	finalize_with(c, c->ready_finalize, pk, names, 1, r);
	EVP_PKEY_free(pk);
}

static void
t_csr_not_b64(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->ready_finalize, "{\"csr\":\"MIIB+/==\"}", r);
}

static void
t_csr_garbage(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->ready_finalize,
		    S(c, "{\"csr\":\"%s\"}", b64s(c, "this is not a certificate request")), r);
}

static void
t_fin_no_csr(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->ready_finalize, "{\"certificate\":\"MIIB\"}", r);
}

/* ---- revocation ---- */

static void
t_rev_stranger(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->b, c->revoke, S(c, "{\"certificate\":\"%s\"}", c->cert_b64), r);
}

static void
t_rev_stranger_jwk(struct ctx *c, struct resp *r)
{
	struct key k;

	key_gen(&k, "ec256");
	signed_post(c, &k, c->revoke, S(c, "{\"certificate\":\"%s\",\"reason\":1}", c->cert_b64),
		    r);
	key_cleanup(&k);
}

static void
t_rev_deactivated(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->c, c->revoke, S(c, "{\"certificate\":\"%s\"}", c->cert_b64), r);
}

static void
t_rev_reason_7(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->revoke, S(c, "{\"certificate\":\"%s\",\"reason\":7}", c->cert_b64),
		    r);
}

static void
t_rev_reason_hold(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->revoke, S(c, "{\"certificate\":\"%s\",\"reason\":6}", c->cert_b64),
		    r);
}

static void
t_rev_reason_string(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->revoke,
		    S(c, "{\"certificate\":\"%s\",\"reason\":\"1\"}", c->cert_b64), r);
}

static void
t_rev_already(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->revoke,
		    S(c, "{\"certificate\":\"%s\",\"reason\":4}", c->revoked_b64), r);
}

static void
t_rev_not_b64(struct ctx *c, struct resp *r)
{
	signed_post(c, &c->a, c->revoke, "{\"certificate\":\"MII+/w==\"}", r);
}

static void
t_rev_foreign_cert(struct ctx *c, struct resp *r)
{
	/* A self-signed certificate for the name, key and all of the requester's making. */
	struct key k;
	X509 *x = X509_new();
	uint8_t *der = NULL;
	int n;

	key_gen(&k, "ec256");
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_set_version(x, 2);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const uint8_t *)c->name, -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_set_pubkey(x, k.jwk->pkey);
	if (X509_sign(x, k.jwk->pkey, EVP_sha256()) <= 0 || (n = i2d_X509(x, &der)) <= 0)
		die("self-signed certificate");
	signed_post(c, &k, c->revoke, S(c, "{\"certificate\":\"%s\"}", b64(c, der, (size_t)n)), r);
	OPENSSL_free(der);
	X509_free(x);
	key_cleanup(&k);
}

/* clang-format off */
static const struct hcase cases[] = {
	/* transport and routing */
	{"unknown endpoint", t_unknown_endpoint, 404, "malformed", NULL},
	{"GET on a POST-as-GET resource (order)", t_get_order, 405, "malformed", NULL},
	{"GET on newAccount", t_get_new_account, 405, "malformed", NULL},
	{"wrong content type (application/json)", t_ctype_json, 415, "malformed", NULL},
	{"no content type", t_ctype_none, 415, "malformed", NULL},
	{"oversized body (80 KiB)", t_oversized, 413, "malformed", NULL},
	/* JWS structure and encodings */
	{"trailing garbage after the JWS", t_trailing_garbage, 400, "malformed", NULL},
	{"duplicate member in the JWS object", t_dup_member, 400, "malformed", NULL},
	{"duplicate key in the protected header", t_dup_header, 400, "malformed", NULL},
	{"duplicate key in the payload", t_dup_payload, 400, "malformed", NULL},
	{"trailing garbage in the payload", t_payload_garbage, 400, "malformed", NULL},
	{"base64 with padding (protected)", t_b64_padding, 400, "malformed", "base64url"},
	{"base64 with an invalid character (payload)", t_b64_bad_char, 400, "malformed", "base64url"},
	{"base64 standard alphabet (signature)", t_b64_std_alphabet, 400, "malformed", "base64url"},
	{"protected header is not JSON", t_hdr_not_json, 400, "malformed", NULL},
	{"protected header is an array", t_hdr_array, 400, "malformed", NULL},
	{"deep JSON nesting in the JWS body", t_deep_body, 400, "malformed", NULL},
	{"deep JSON nesting in the payload", t_deep_payload, 400, "malformed", NULL},
	{"unprotected header member", t_unprotected_header, 400, "malformed", NULL},
	{"general serialization (signatures)", t_general_serialization, 400, "malformed", NULL},
	{"crit header parameter", t_crit, 400, "malformed", NULL},
	{"unencoded payload (b64 false)", t_b64_false, 400, "malformed", NULL},
	/* algorithms and signatures */
	{"alg none", t_alg_none, 400, "badSignatureAlgorithm", NULL},
	{"alg HS256 keyed with the public JWK", t_alg_hs256, 400, "badSignatureAlgorithm", NULL},
	{"alg PS256 (not offered)", t_alg_ps256, 400, "badSignatureAlgorithm", NULL},
	{"alg RS256 with an EC jwk", t_alg_mismatch_jwk, 400, "badSignatureAlgorithm", NULL},
	{"alg RS256 with an EC account key (kid)", t_alg_mismatch_kid, 400, "badSignatureAlgorithm", NULL},
	{"RS256 with a 1024-bit RSA key", t_rsa_tiny, 400, "badPublicKey", NULL},
	{"ES256 signature in DER, not r||s", t_sig_der, 400, "malformed", NULL},
	{"signature one octet short", t_sig_short, 400, "malformed", NULL},
	{"kid of another account (signed with own key)", t_kid_other_account, 400, "malformed", NULL},
	/* JWKs */
	{"jwk with the private member d", t_jwk_private, 400, "badPublicKey", NULL},
	{"jwk of kty oct", t_jwk_oct, 400, "badPublicKey", NULL},
	{"jwk on curve secp256k1", t_jwk_secp256k1, 400, "badPublicKey", NULL},
	{"jwk point not on the curve", t_jwk_off_curve, 400, "badPublicKey", NULL},
	/* nonces */
	{"missing nonce", t_nonce_missing, 400, "badNonce", NULL},
	{"empty nonce", t_nonce_empty, 400, "badNonce", NULL},
	{"nonce with characters outside base64url", t_nonce_bad_chars, 400, "badNonce", NULL},
	{"nonce from the future (counter not issued yet)", t_nonce_future, 400, "badNonce", NULL},
	{"replayed nonce", t_nonce_replayed, 400, "badNonce", NULL},
	/* url, jwk, kid */
	{"url of another endpoint", t_url_other, 403, "unauthorized", NULL},
	{"url missing", t_url_missing, 403, "unauthorized", NULL},
	{"url with http instead of https", t_url_http, 403, "unauthorized", NULL},
	{"jwk and kid together", t_jwk_and_kid, 400, "malformed", NULL},
	{"neither jwk nor kid", t_neither_jwk_nor_kid, 400, "malformed", NULL},
	{"kid of no account", t_kid_unknown, 400, "accountDoesNotExist", NULL},
	{"kid with a trailing slash", t_kid_trailing_slash, 400, "accountDoesNotExist", NULL},
	{"kid on newAccount", t_kid_new_account, 400, "malformed", NULL},
	{"jwk on newOrder", t_jwk_new_order, 400, "malformed", NULL},
	/* accounts */
	{"deactivated account: POST-as-GET of itself", t_deact_get, 403, "unauthorized", NULL},
	{"deactivated account: newOrder", t_deact_order, 403, "unauthorized", NULL},
	{"deactivated account: status back to valid", t_deact_reactivate, 403, "unauthorized", NULL},
	{"deactivated account: newAccount with its key", t_deact_new_account, 403, "unauthorized", NULL},
	{"another account's contact update", t_other_account_update, 403, "unauthorized", NULL},
	{"another account's deactivation", t_other_account_deactivate, 403, "unauthorized", NULL},
	{"another account's orders list", t_other_orders_list, 403, "unauthorized", NULL},
	{"onlyReturnExisting for an unknown key", t_only_existing, 400, "accountDoesNotExist", NULL},
	{"contact with a tel: URL", t_contact_tel, 400, "unsupportedContact", NULL},
	{"contact mailto: with two @", t_contact_two_at, 400, "invalidContact", NULL},
	{"contact not an array", t_contact_not_array, 400, "malformed", NULL},
	{"newAccount payload is an array", t_new_account_array, 400, "malformed", NULL},
	{"account status set to revoked", t_status_revoked, 400, "malformed", NULL},
	/* key change */
	{"keyChange: inner url differs from outer", t_kc_url_mismatch, 400, "malformed", NULL},
	{"keyChange: inner account is another account", t_kc_other_account, 403, "unauthorized", NULL},
	{"keyChange: oldKey is not the current key", t_kc_wrong_old_key, 403, "unauthorized", NULL},
	{"keyChange: new key is another account's (409, Location)", t_kc_key_in_use, 409, "malformed", NULL},
	{"keyChange: inner JWS with kid", t_kc_inner_kid, 400, "malformed", NULL},
	{"keyChange: inner signed by another key", t_kc_inner_wrong_signer, 400, "malformed", NULL},
	{"keyChange: new key RSA-1024", t_kc_weak_key, 400, "badPublicKey", NULL},
	{"keyChange: inner alg none", t_kc_inner_none, 400, "badSignatureAlgorithm", NULL},
	/* orders and identifiers */
	{"newOrder payload is an array", t_order_array, 400, "malformed", NULL},
	{"newOrder as POST-as-GET", t_order_post_as_get, 400, "malformed", NULL},
	{"identifier of type ip", t_order_ip, 400, "unsupportedIdentifier", NULL},
	{"identifier longer than 253 octets", t_order_name_too_long, 400, "rejectedIdentifier", NULL},
	{"identifier label longer than 63 octets", t_order_label_too_long, 400, "rejectedIdentifier", NULL},
	{"identifier an IP address as type dns", t_order_ip_as_dns, 400, "rejectedIdentifier", NULL},
	{"identifier with a wildcard not leftmost", t_order_bad_wildcard, 400, "rejectedIdentifier", NULL},
	{"no identifiers", t_order_empty, 400, "malformed", NULL},
	{"the same identifier twice", t_order_duplicate, 400, "malformed", NULL},
	{"newOrder with notAfter", t_order_not_after, 400, "malformed", NULL},
	/* POST-as-GET and other accounts' resources */
	{"POST-as-GET with a body: order", t_pag_order_body, 400, "malformed", NULL},
	{"POST-as-GET with a body: certificate", t_pag_cert_body, 400, "malformed", NULL},
	{"another account's order", t_other_order, 403, "unauthorized", NULL},
	{"another account's authorization", t_other_authz, 403, "unauthorized", NULL},
	{"another account's authorization deactivated", t_other_authz_deactivate, 403, "unauthorized", NULL},
	{"another account's challenge", t_other_chall, 403, "unauthorized", NULL},
	{"another account's challenge answered", t_other_chall_answer, 403, "unauthorized", NULL},
	{"another account's certificate", t_other_cert, 403, "unauthorized", NULL},
	{"order that does not exist", t_no_such_order, 404, "malformed", NULL},
	{"challenge answered with more than {}", t_chall_bad_payload, 400, "malformed", NULL},
	/* finalize */
	{"finalize before ready", t_fin_pending, 403, "orderNotReady", NULL},
	{"finalize of a valid order", t_fin_valid, 403, "orderNotReady", NULL},
	{"finalize of another account's order", t_fin_other_account, 403, "unauthorized", NULL},
	{"CSR with an extra name", t_csr_extra_name, 400, "badCSR", NULL},
	{"CSR for another name", t_csr_other_name, 400, "badCSR", NULL},
	{"CSR with the account key", t_csr_account_key, 400, "badCSR", NULL},
	/* RFC 8555 §6.7: badCSR "The CSR is unacceptable (e.g., due to a short key)". */
	{"CSR for a blocked key", t_csr_blocked_key, 400, "badCSR", "blocked"},
	{"CSR with an RSA-1024 key", t_csr_weak_key, 400, "badCSR", NULL},
	{"CSR not base64url", t_csr_not_b64, 400, "badCSR", NULL},
	{"CSR not DER", t_csr_garbage, 400, "badCSR", NULL},
	{"finalize without csr", t_fin_no_csr, 400, "malformed", NULL},
	/* revocation */
	{"revocation by a stranger (kid)", t_rev_stranger, 403, "unauthorized", NULL},
	{"revocation by a stranger (jwk, not the certificate's key)", t_rev_stranger_jwk, 403, "unauthorized", NULL},
	{"revocation by a deactivated account", t_rev_deactivated, 403, "unauthorized", NULL},
	{"revocation reason 7 (unused)", t_rev_reason_7, 400, "badRevocationReason", NULL},
	{"revocation reason certificateHold", t_rev_reason_hold, 400, "badRevocationReason", NULL},
	{"revocation reason as a string", t_rev_reason_string, 400, "badRevocationReason", NULL},
	{"revoking an already revoked certificate", t_rev_already, 400, "alreadyRevoked", NULL},
	{"revocation: certificate not base64url", t_rev_not_b64, 400, "malformed", NULL},
	{"revocation of another CA's certificate", t_rev_foreign_cert, 400, "malformed", NULL},
};
/* clang-format on */

/* --- driver ------------------------------------------------------------------------------ */

static void
run(struct ctx *c, const struct hcase *hc)
{
	struct snapshot before, after;
	struct resp r = {0};
	const char *type, *detail;
	char diff[256];

	c->why[0] = '\0';
	snapshot(c, &before);
	hc->fn(c, &r);
	snapshot(c, &after);
	type = jstr(r.json, "type");
	detail = jstr(r.json, "detail");
	if (r.status != hc->status || strncmp(type, URN, strlen(URN)) != 0 ||
	    strcmp(type + strlen(URN), hc->type) != 0)
		why(c, "got %ld %s, want %d %s%s", r.status, type[0] ? type : "(no type)",
		    hc->status, URN, hc->type);
	else if (hc->detail != NULL && strstr(detail, hc->detail) == NULL)
		why(c, "detail \"%s\" lacks \"%s\"", detail, hc->detail);
	if (strncmp(r.ctype, "application/problem+json", 24) != 0)
		why(c, "Content-Type \"%s\", want application/problem+json", r.ctype);
	if (r.nonce[0] == '\0')
		why(c, "no Replay-Nonce on the error response");
	if (strcmp(hc->type, "badSignatureAlgorithm") == 0 &&
	    !json_is_array(json_object_get(r.json, "algorithms")))
		why(c, "badSignatureAlgorithm without an \"algorithms\" array");
	snapshot_diff(&before, &after, diff, sizeof(diff));
	if (diff[0] != '\0')
		why(c, "the database changed (%s)", diff);
	if (c->why[0] == '\0') {
		c->passed++;
		printf("ok: %s -> %d %s\n", hc->name, hc->status, hc->type);
	} else {
		c->failed++;
		printf("FAIL: %s: %s%s%s\n", hc->name, c->why, r.body.p != NULL ? "; body: " : "",
		       r.body.p != NULL ? r.body.p : "");
	}
	fflush(stdout);
	resp_free(&r);
	scratch_free(c);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"ca", required_argument, NULL, 'c'},
	    {"directory", required_argument, NULL, 'd'},
	    {"db", required_argument, NULL, 'D'},
	    {"key-a", required_argument, NULL, 'a'},
	    {"kid-a", required_argument, NULL, 'A'},
	    {"key-b", required_argument, NULL, 'b'},
	    {"kid-b", required_argument, NULL, 'B'},
	    {"name", required_argument, NULL, 'n'},
	    {"cert", required_argument, NULL, 'C'},
	    {"revoked", required_argument, NULL, 'R'},
	    {"blocked-key", required_argument, NULL, 'k'},
	    {"only", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	struct ctx c = {0};
	const char *ka = NULL, *kida = NULL, *kb = NULL, *kidb = NULL, *cert = NULL,
		   *revoked = NULL, *blocked = NULL, *dir = NULL, *only = NULL;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'c':
			c.ca = optarg;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'D':
			c.db_path = optarg;
			break;
		case 'a':
			ka = optarg;
			break;
		case 'A':
			kida = optarg;
			break;
		case 'b':
			kb = optarg;
			break;
		case 'B':
			kidb = optarg;
			break;
		case 'n':
			c.name = optarg;
			break;
		case 'C':
			cert = optarg;
			break;
		case 'R':
			revoked = optarg;
			break;
		case 'k':
			blocked = optarg;
			break;
		case 'o':
			only = optarg;
			break;
		default:
			return 2;
		}
	}
	if (c.ca == NULL || dir == NULL || c.db_path == NULL || ka == NULL || kida == NULL ||
	    kb == NULL || kidb == NULL || c.name == NULL || cert == NULL || revoked == NULL ||
	    blocked == NULL) {
		fprintf(stderr, "usage: acme-hostile --ca F --directory URL --db F --key-a F "
				"--kid-a URL --key-b F --kid-b URL --name NAME --cert F "
				"--revoked F --blocked-key F [--only SUBSTRING]\n");
		return 2;
	}
	snprintf(c.dir_url, sizeof(c.dir_url), "%s", dir);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((c.curl = curl_easy_init()) == NULL)
		die("curl");
	if (sqlite3_open_v2(c.db_path, &c.db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("cannot open %s read-only: %s", c.db_path, sqlite3_errmsg(c.db));
	key_load(&c.a, ka, kida);
	key_load(&c.b, kb, kidb);
	c.blocked = read_key(blocked);
	c.cert_b64 = pem_cert_b64(cert);
	c.revoked_b64 = pem_cert_b64(revoked);

	setup(&c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (only == NULL || strstr(cases[i].name, only) != NULL)
			run(&c, &cases[i]);
	printf("%d passed, %d failed\n", c.passed, c.failed);

	key_cleanup(&c.a);
	key_cleanup(&c.b);
	key_cleanup(&c.c);
	EVP_PKEY_free(c.blocked);
	free(c.cert_b64);
	free(c.revoked_b64);
	sqlite3_close(c.db);
	curl_easy_cleanup(c.curl);
	curl_global_cleanup();
	return c.failed > 0 ? 1 : 0;
}
