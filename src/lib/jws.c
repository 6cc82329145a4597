#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "b64url.h"
#include "djson.h"
#include "error.h"
#include "jwk.h"
#include "jws.h"

/*
 * The JWS algorithms deed accepts. RFC 8555 §6.2: servers must implement ES256 and should
 * implement EdDSA (Ed25519); RS256 is what most deployed clients still sign with.
 */
static const char *const jws_algs[] = {"RS256", "ES256", "ES384", "ES512", "EdDSA"};

void
jws_free(struct jws *j)
{
	if (j == NULL)
		return;
	free(j->alg);
	free(j->nonce);
	free(j->url);
	free(j->kid);
	jwk_free(j->jwk);
	free(j->payload);
	free(j->signing_input);
	free(j->sig);
	free(j);
}

/*
 * Digest and ECDSA coordinate width for a key type. RFC 7518 §3.4 fixes the signature as
 * r || s, each the width of the curve order; other key types have width 0.
 */
static const EVP_MD *
jws_md(enum jwk_kty kty, size_t *width)
{
	*width = 0;
	switch (kty) {
	case JWK_RSA:
		return EVP_sha256();
	case JWK_EC_P256:
		*width = 32;
		return EVP_sha256();
	case JWK_EC_P384:
		*width = 48;
		return EVP_sha384();
	case JWK_EC_P521:
		*width = 66;
		return EVP_sha512();
	case JWK_ED25519:
		return NULL; /* RFC 8032: Ed25519 hashes internally */
	}
	return NULL;
}

/*
 * RFC 8555 §6.2: the JWS must use the flattened JSON serialization, one signature, and no
 * unprotected header. Anything beyond the three members is refused rather than ignored, so
 * that nothing unsigned can ride along.
 */
static int
jws_check_members(const json_t *root, char *err, size_t errlen)
{
	static const char *const want[] = {"protected", "payload", "signature"};
	void *it;
	size_t i;

	if (!json_is_object(root))
		return deed_fail(DEED_EMALFORMED, err, errlen, "JWS is not a JSON object");
	for (it = json_object_iter((json_t *)root); it != NULL;
	     it = json_object_iter_next((json_t *)root, it)) {
		const char *key = json_object_iter_key(it);

		if (strcmp(key, "header") == 0)
			return deed_fail(DEED_EMALFORMED, err, errlen,
					  "JWS unprotected header not allowed");
		if (strcmp(key, "signatures") == 0)
			return deed_fail(DEED_EMALFORMED, err, errlen,
					  "JWS general serialization not allowed, use flattened");
		if (strcmp(key, "protected") != 0 && strcmp(key, "payload") != 0 &&
		    strcmp(key, "signature") != 0)
			return deed_fail(DEED_EMALFORMED, err, errlen,
					  "JWS has unexpected member \"%.32s\"", key);
	}
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!json_is_string(json_object_get(root, want[i])))
			return deed_fail(DEED_EMALFORMED, err, errlen,
					  "JWS \"%s\" missing or not a string", want[i]);
	return DEED_OK;
}

static int
jws_check_alg(const char *alg, char *err, size_t errlen)
{
	size_t i;

	/*
	 * RFC 8555 §6.2: never "none" nor a MAC. HS* would let anyone who knows the public key
	 * (everyone) forge a MAC keyed with it.
	 */
	if (strcmp(alg, "none") == 0 || strncmp(alg, "HS", 2) == 0)
		return deed_fail(DEED_EBADALG, err, errlen, "JWS alg \"%.32s\" is never accepted",
				  alg);
	for (i = 0; i < sizeof(jws_algs) / sizeof(jws_algs[0]); i++)
		if (strcmp(alg, jws_algs[i]) == 0)
			return DEED_OK;
	return deed_fail(DEED_EBADALG, err, errlen, "JWS alg \"%.32s\" not supported", alg);
}

/* Copy optional string member name of hdr into *dst; a non-string value is malformed. */
static int
jws_opt_str(const json_t *hdr, const char *name, char **dst, char *err, size_t errlen)
{
	const json_t *v = json_object_get(hdr, name);

	if (v == NULL)
		return DEED_OK;
	if (!json_is_string(v))
		return deed_fail(DEED_EMALFORMED, err, errlen, "JWS \"%s\" is not a string", name);
	if ((*dst = strdup(json_string_value(v))) == NULL)
		return DEED_ENOMEM;
	return DEED_OK;
}

static int
jws_parse_header(struct jws *j, const json_t *hdr, char *err, size_t errlen)
{
	const json_t *alg, *jwk, *kid;
	int rc;

	if (!json_is_object(hdr))
		return deed_fail(DEED_EMALFORMED, err, errlen,
				  "JWS protected header is not an object");

	alg = json_object_get(hdr, "alg");
	if (!json_is_string(alg))
		return deed_fail(DEED_EMALFORMED, err, errlen,
				  "JWS \"alg\" missing or not a string");
	if ((rc = jws_check_alg(json_string_value(alg), err, errlen)) != DEED_OK)
		return rc;
	if ((j->alg = strdup(json_string_value(alg))) == NULL)
		return DEED_ENOMEM;

	/*
	 * RFC 7515 §4.1.11: a recipient must refuse "crit" extensions it does not understand,
	 * and deed understands none; RFC 8555 §6.2 forbids the unencoded payload ("b64").
	 */
	if (json_object_get(hdr, "crit") != NULL || json_object_get(hdr, "b64") != NULL)
		return deed_fail(DEED_EMALFORMED, err, errlen, "JWS \"crit\"/\"b64\" not allowed");

	/* RFC 8555 §6.2: "jwk" and "kid" are mutually exclusive, and one must be there. */
	jwk = json_object_get(hdr, "jwk");
	kid = json_object_get(hdr, "kid");
	if ((jwk == NULL) == (kid == NULL))
		return deed_fail(DEED_EMALFORMED, err, errlen,
				  "JWS must carry exactly one of \"jwk\" and \"kid\"");
	if (kid != NULL) {
		if (!json_is_string(kid) || json_string_length(kid) == 0)
			return deed_fail(DEED_EMALFORMED, err, errlen,
					  "JWS \"kid\" is not a non-empty string");
		if ((j->kid = strdup(json_string_value(kid))) == NULL)
			return DEED_ENOMEM;
	} else {
		rc = jwk_from_json(jwk, &j->jwk, err, errlen);
		/* An unknown kty or curve is still a key the server does not support. */
		if (rc == DEED_EUNSUPPORTED)
			rc = DEED_EBADKEY;
		if (rc != DEED_OK)
			return rc;
	}

	if ((rc = jws_opt_str(hdr, "nonce", &j->nonce, err, errlen)) != DEED_OK ||
	    (rc = jws_opt_str(hdr, "url", &j->url, err, errlen)) != DEED_OK)
		return rc;
	return DEED_OK;
}

/* Decode base64url member name of root into *buf, naming the member in the error. */
static int
jws_member(const json_t *root, const char *name, uint8_t **buf, size_t *len, char *err,
	   size_t errlen)
{
	const json_t *v = json_object_get(root, name);
	int rc;

	rc = b64url_decode(json_string_value(v), json_string_length(v), buf, len);
	if (rc == DEED_EMALFORMED)
		deed_fail(rc, err, errlen, "JWS \"%s\" is not base64url", name);
	return rc;
}

/* RFC 7515 §5.1 step 5, §5.2 step 8: the signing input, protected "." payload. */
static char *
jws_join(const char *prot, const char *pay)
{
	size_t plen = strlen(prot), ylen = strlen(pay);
	char *s;

	if ((s = malloc(plen + 1 + ylen + 1)) == NULL)
		return NULL;
	memcpy(s, prot, plen);
	s[plen] = '.';
	memcpy(s + plen + 1, pay, ylen + 1);
	return s;
}

int
jws_parse(const char *body, size_t len, struct jws **out, char *err, size_t errlen)
{
	json_t *root = NULL, *hdr = NULL;
	struct jws *j = NULL;
	uint8_t *hbuf = NULL;
	const char *prot, *pay;
	size_t hlen = 0;
	int rc = DEED_EINVAL;

	if (out == NULL || (body == NULL && len > 0))
		goto out;
	*out = NULL;

	if ((rc = djson_parse(body, len, JWS_MAX_BODY, &root, err, errlen)) != DEED_OK ||
	    (rc = jws_check_members(root, err, errlen)) != DEED_OK)
		goto out;

	rc = DEED_ENOMEM;
	if ((j = calloc(1, sizeof(*j))) == NULL)
		goto out;

	if ((rc = jws_member(root, "protected", &hbuf, &hlen, err, errlen)) != DEED_OK)
		goto out;
	if ((rc = djson_parse((const char *)hbuf, hlen, JWS_MAX_BODY, &hdr, err, errlen)) !=
	    DEED_OK) {
		if (rc == DEED_EMALFORMED)
			deed_fail(rc, err, errlen, "JWS protected header is not JSON");
		goto out;
	}
	if ((rc = jws_parse_header(j, hdr, err, errlen)) != DEED_OK)
		goto out;

	/* RFC 8555 §6.3: POST-as-GET is exactly the empty payload, not "{}" nor "e30". */
	if ((rc = jws_member(root, "payload", &j->payload, &j->payload_len, err, errlen)) !=
	    DEED_OK)
		goto out;
	j->post_as_get = j->payload_len == 0;

	if ((rc = jws_member(root, "signature", &j->sig, &j->sig_len, err, errlen)) != DEED_OK)
		goto out;

	/*
	 * RFC 7515 §5.2 step 8: the signing input is the encoded fields exactly as received;
	 * the strict decoding above has already proved them to be plain base64url ASCII.
	 */
	prot = json_string_value(json_object_get(root, "protected"));
	pay = json_string_value(json_object_get(root, "payload"));
	rc = DEED_ENOMEM;
	if ((j->signing_input = jws_join(prot, pay)) == NULL)
		goto out;

	*out = j;
	j = NULL;
	rc = DEED_OK;
out:
	free(hbuf);
	json_decref(hdr);
	json_decref(root);
	jws_free(j);
	return rc;
}

/* RFC 7518 §3.4: r || s, each zero-padded to width, into the DER that OpenSSL verifies. */
static int
jws_ecdsa_raw2der(const uint8_t *raw, size_t width, uint8_t **der, size_t *derlen)
{
	ECDSA_SIG *sig = NULL;
	BIGNUM *r = NULL, *s = NULL;
	int n, rc = DEED_ENOMEM;

	*der = NULL;
	if ((sig = ECDSA_SIG_new()) == NULL || (r = BN_bin2bn(raw, (int)width, NULL)) == NULL ||
	    (s = BN_bin2bn(raw + width, (int)width, NULL)) == NULL)
		goto out;
	if (ECDSA_SIG_set0(sig, r, s) != 1)
		goto out;
	r = s = NULL;
	if ((n = i2d_ECDSA_SIG(sig, der)) <= 0) {
		*der = NULL;
		goto out;
	}
	*derlen = (size_t)n;
	rc = DEED_OK;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	return rc;
}

/* The reverse, for signing: OpenSSL's DER into the fixed-width r || s that JWS wants. */
static int
jws_ecdsa_der2raw(const uint8_t *der, size_t derlen, size_t width, uint8_t *raw)
{
	const unsigned char *p = der;
	const BIGNUM *r, *s;
	ECDSA_SIG *sig = NULL;
	int rc = DEED_ECRYPTO;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)derlen)) == NULL)
		goto out;
	ECDSA_SIG_get0(sig, &r, &s);
	if (BN_bn2binpad(r, raw, (int)width) != (int)width ||
	    BN_bn2binpad(s, raw + width, (int)width) != (int)width)
		goto out;
	rc = DEED_OK;
out:
	ECDSA_SIG_free(sig);
	return rc;
}

int
jws_verify(const struct jws *j, const struct jwk *key)
{
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md;
	const char *alg;
	const uint8_t *sig;
	uint8_t *der = NULL;
	size_t siglen, width;
	int rc = DEED_EINVAL;

	if (j == NULL || key == NULL || key->pkey == NULL || j->alg == NULL ||
	    j->signing_input == NULL)
		goto out;

	/*
	 * RFC 8555 §6.2 / RFC 7515 §10.7: the algorithm comes from the attacker, so it must be
	 * the one the key is for, or a key could be used with an algorithm it was never
	 * meant for.
	 */
	rc = DEED_EBADALG;
	if ((alg = jwk_alg(key)) == NULL || strcmp(j->alg, alg) != 0)
		goto out;

	md = jws_md(key->kty, &width);
	sig = j->sig;
	siglen = j->sig_len;
	rc = DEED_EBADSIG;
	if (width > 0) {
		if (siglen != 2 * width)
			goto out;
		if ((rc = jws_ecdsa_raw2der(sig, width, &der, &siglen)) != DEED_OK)
			goto out;
		sig = der;
	} else if (key->kty == JWK_RSA && siglen != (size_t)EVP_PKEY_get_size(key->pkey)) {
		/* RFC 8017 §8.2.2 step 1: the signature is exactly k octets long. */
		goto out;
	}

	rc = DEED_ENOMEM;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	if (EVP_DigestVerifyInit(ctx, NULL, md, NULL, key->pkey) != 1)
		goto out;
	rc = DEED_EBADSIG;
	if (EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *)j->signing_input,
			     strlen(j->signing_input)) != 1)
		goto out;
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* Sign input with key; *sig is the JWS signature (raw r || s for ECDSA). */
static int
jws_sign_input(const struct jwk *key, const char *input, uint8_t **sig, size_t *siglen)
{
	EVP_MD_CTX *ctx = NULL;
	const EVP_MD *md;
	uint8_t *buf = NULL, *raw = NULL;
	size_t len, width;
	int max, rc = DEED_ECRYPTO;

	md = jws_md(key->kty, &width);
	if ((max = EVP_PKEY_get_size(key->pkey)) <= 0)
		goto out;
	rc = DEED_ENOMEM;
	if ((ctx = EVP_MD_CTX_new()) == NULL || (buf = malloc((size_t)max)) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	len = (size_t)max;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, key->pkey) != 1 ||
	    EVP_DigestSign(ctx, buf, &len, (const unsigned char *)input, strlen(input)) != 1)
		goto out;

	if (width > 0) {
		rc = DEED_ENOMEM;
		if ((raw = malloc(2 * width)) == NULL)
			goto out;
		if ((rc = jws_ecdsa_der2raw(buf, len, width, raw)) != DEED_OK)
			goto out;
		free(buf);
		buf = raw;
		raw = NULL;
		len = 2 * width;
	}
	*sig = buf;
	*siglen = len;
	buf = NULL;
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	free(raw);
	free(buf);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/* RFC 8555 §6.2: the protected header carries alg, jwk or kid, nonce and url. */
static json_t *
jws_header(const struct jwk *key, const char *kid, const char *nonce, const char *url)
{
	json_t *h;
	int ok;

	if ((h = json_object()) == NULL)
		return NULL;
	ok = json_object_set_new(h, "alg", json_string(jwk_alg(key))) == 0;
	if (kid != NULL)
		ok = ok && json_object_set_new(h, "kid", json_string(kid)) == 0;
	else
		ok = ok && json_object_set_new(h, "jwk", jwk_to_json(key)) == 0;
	if (nonce != NULL)
		ok = ok && json_object_set_new(h, "nonce", json_string(nonce)) == 0;
	if (url != NULL)
		ok = ok && json_object_set_new(h, "url", json_string(url)) == 0;
	if (!ok) {
		json_decref(h);
		return NULL;
	}
	return h;
}

int
jws_sign_json(const struct jwk *key, const char *kid, const char *nonce, const char *url,
	      const char *payload, json_t **out)
{
	json_t *hdr = NULL, *o = NULL;
	char *hjson = NULL, *prot = NULL, *pay = NULL, *input = NULL, *sigb64 = NULL;
	uint8_t *sig = NULL;
	size_t siglen = 0;
	int rc = DEED_EINVAL;

	if (key == NULL || key->pkey == NULL || out == NULL || jwk_alg(key) == NULL)
		goto out;
	*out = NULL;
	if (payload == NULL)
		payload = ""; /* RFC 8555 §6.3: POST-as-GET */

	rc = DEED_ENOMEM;
	if ((hdr = jws_header(key, kid, nonce, url)) == NULL || (hjson = djson_dump(hdr)) == NULL)
		goto out;
	if ((rc = b64url_encode((const uint8_t *)hjson, strlen(hjson), &prot)) != DEED_OK ||
	    (rc = b64url_encode((const uint8_t *)payload, strlen(payload), &pay)) != DEED_OK)
		goto out;

	rc = DEED_ENOMEM;
	if ((input = jws_join(prot, pay)) == NULL)
		goto out;

	if ((rc = jws_sign_input(key, input, &sig, &siglen)) != DEED_OK ||
	    (rc = b64url_encode(sig, siglen, &sigb64)) != DEED_OK)
		goto out;

	rc = DEED_ENOMEM;
	if ((o = json_object()) == NULL ||
	    json_object_set_new(o, "protected", json_string(prot)) != 0 ||
	    json_object_set_new(o, "payload", json_string(pay)) != 0 ||
	    json_object_set_new(o, "signature", json_string(sigb64)) != 0)
		goto out;
	*out = o;
	o = NULL;
	rc = DEED_OK;
out:
	json_decref(o);
	json_decref(hdr);
	free(hjson);
	free(prot);
	free(pay);
	free(input);
	free(sig);
	free(sigb64);
	return rc;
}

int
jws_sign(const struct jwk *key, const char *kid, const char *nonce, const char *url,
	 const char *payload, char **out)
{
	json_t *o = NULL;
	int rc = DEED_EINVAL;

	if (out == NULL)
		goto out;
	*out = NULL;
	if ((rc = jws_sign_json(key, kid, nonce, url, payload, &o)) != DEED_OK)
		goto out;
	rc = DEED_ENOMEM;
	if ((*out = djson_dump(o)) == NULL)
		goto out;
	rc = DEED_OK;
out:
	json_decref(o);
	return rc;
}
