#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>

#include "b64url.h"
#include "djson.h"
#include "error.h"
#include "jwk.h"

/*
 * Caps on RSA members, refused before any big-number work: OpenSSL itself will not use a
 * modulus above 16384 bits, and an exponent wider than 64 bits only makes verification slow
 * (key policy wants 65537 anyway).
 */
#define JWK_RSA_MAX_N 2048 /* octets */
#define JWK_RSA_MAX_E 8	   /* octets */

#define JWK_ED25519_LEN 32 /* RFC 8032 §5.1.5: public keys are 32 octets */

/* One row per curve: the JWK name (RFC 7518 §6.2.1.1), OpenSSL's, and sizes. */
struct jwk_curve {
	enum jwk_kty kty;
	const char *crv;
	const char *group; /* OpenSSL group name */
	int nid;
	size_t width; /* coordinate octets, RFC 7518 §6.2.1.2 */
	int bits;
	const char *alg; /* RFC 7518 §3.4 */
};

static const struct jwk_curve jwk_curves[] = {
    {JWK_EC_P256, "P-256", "prime256v1", NID_X9_62_prime256v1, 32, 256, "ES256"},
    {JWK_EC_P384, "P-384", "secp384r1", NID_secp384r1, 48, 384, "ES384"},
    {JWK_EC_P521, "P-521", "secp521r1", NID_secp521r1, 66, 521, "ES512"},
};

/* Members that only a private JWK carries (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2). */
static const char *const jwk_private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

static const struct jwk_curve *
jwk_curve_by_kty(enum jwk_kty kty)
{
	size_t i;

	for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++)
		if (jwk_curves[i].kty == kty)
			return &jwk_curves[i];
	return NULL;
}

static const struct jwk_curve *
jwk_curve_by_crv(const char *crv)
{
	size_t i;

	for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++)
		if (strcmp(jwk_curves[i].crv, crv) == 0)
			return &jwk_curves[i];
	return NULL;
}

static const struct jwk_curve *
jwk_curve_by_nid(int nid)
{
	size_t i;

	for (i = 0; i < sizeof(jwk_curves) / sizeof(jwk_curves[0]); i++)
		if (jwk_curves[i].nid == nid)
			return &jwk_curves[i];
	return NULL;
}

int
jwk_pkey_kty(const EVP_PKEY *pkey, enum jwk_kty *out)
{
	const struct jwk_curve *c;
	char group[64];
	size_t glen = 0;
	int nid;

	if (pkey == NULL || out == NULL)
		return DEED_EINVAL;
	/* EVP_PKEY_is_a(.., "RSA") is false for RSA-PSS keys, which JWS RS256 cannot use. */
	if (EVP_PKEY_is_a(pkey, "RSA")) {
		*out = JWK_RSA;
		return DEED_OK;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		*out = JWK_ED25519;
		return DEED_OK;
	}
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return DEED_EUNSUPPORTED;
	/* Keys with explicit curve parameters have no group name and are refused here. */
	if (EVP_PKEY_get_group_name(pkey, group, sizeof(group), &glen) != 1) {
		ERR_clear_error();
		return DEED_EUNSUPPORTED;
	}
	if ((nid = OBJ_sn2nid(group)) == NID_undef)
		nid = EC_curve_nist2nid(group);
	if ((c = jwk_curve_by_nid(nid)) == NULL)
		return DEED_EUNSUPPORTED;
	*out = c->kty;
	return DEED_OK;
}

const char *
jwk_alg(const struct jwk *k)
{
	const struct jwk_curve *c;

	if (k == NULL)
		return NULL;
	switch (k->kty) {
	case JWK_RSA:
		return "RS256";
	case JWK_ED25519:
		return "EdDSA"; /* RFC 8037 §3.1 */
	case JWK_EC_P256:
	case JWK_EC_P384:
	case JWK_EC_P521:
		c = jwk_curve_by_kty(k->kty);
		return c != NULL ? c->alg : NULL;
	}
	return NULL;
}

bool
jwk_equal(const struct jwk *a, const struct jwk *b)
{
	if (a == NULL || b == NULL)
		return false;
	return a->kty == b->kty && strcmp(a->thumbprint, b->thumbprint) == 0;
}

int
jwk_dup(const struct jwk *k, struct jwk **out)
{
	struct jwk *d;

	*out = NULL;
	if ((d = malloc(sizeof(*d))) == NULL)
		return DEED_ENOMEM;
	*d = *k;
	if (EVP_PKEY_up_ref(d->pkey) != 1) {
		free(d);
		return DEED_ECRYPTO;
	}
	*out = d;
	return DEED_OK;
}

void
jwk_free(struct jwk *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* A new JSON string holding the base64url of len bytes, or NULL. */
static json_t *
jwk_b64_json(const uint8_t *buf, size_t len)
{
	char *s = NULL;
	json_t *v = NULL;

	if (b64url_encode(buf, len, &s) != DEED_OK)
		return NULL;
	v = json_string(s);
	free(s);
	return v;
}

/* RFC 7518 §2 base64urlUInt of a public big-number parameter: minimal octets. */
static json_t *
jwk_bn_json(const EVP_PKEY *pkey, const char *param, size_t pad)
{
	BIGNUM *bn = NULL;
	uint8_t *buf = NULL;
	json_t *v = NULL;
	size_t len;

	if (EVP_PKEY_get_bn_param(pkey, param, &bn) != 1)
		goto out;
	len = pad > 0 ? pad : (size_t)BN_num_bytes(bn);
	if (len == 0)
		len = 1; /* RFC 7518 §2: zero is "AA" */
	if ((buf = calloc(1, len)) == NULL)
		goto out;
	if (BN_bn2binpad(bn, buf, (int)len) < 0)
		goto out;
	v = jwk_b64_json(buf, len);
out:
	free(buf);
	BN_free(bn);
	return v;
}

/* Set member key of o to v (reference stolen, NULL allowed); true on success. */
static bool
jwk_set(json_t *o, const char *key, json_t *v)
{
	return json_object_set_new(o, key, v) == 0;
}

json_t *
jwk_to_json(const struct jwk *k)
{
	const struct jwk_curve *c;
	uint8_t raw[JWK_ED25519_LEN];
	size_t rawlen = sizeof(raw);
	json_t *o = NULL;
	bool ok = false;

	if (k == NULL || k->pkey == NULL || (o = json_object()) == NULL)
		goto out;

	/* RFC 7638 §3.2: exactly the required members of each kty, nothing optional. */
	switch (k->kty) {
	case JWK_RSA:
		ok = jwk_set(o, "kty", json_string("RSA")) &&
		     jwk_set(o, "n", jwk_bn_json(k->pkey, OSSL_PKEY_PARAM_RSA_N, 0)) &&
		     jwk_set(o, "e", jwk_bn_json(k->pkey, OSSL_PKEY_PARAM_RSA_E, 0));
		break;
	case JWK_EC_P256:
	case JWK_EC_P384:
	case JWK_EC_P521:
		/* RFC 7518 §6.2.1.2: coordinates are always full width, leading zeros kept. */
		c = jwk_curve_by_kty(k->kty);
		ok = c != NULL && jwk_set(o, "kty", json_string("EC")) &&
		     jwk_set(o, "crv", json_string(c->crv)) &&
		     jwk_set(o, "x", jwk_bn_json(k->pkey, OSSL_PKEY_PARAM_EC_PUB_X, c->width)) &&
		     jwk_set(o, "y", jwk_bn_json(k->pkey, OSSL_PKEY_PARAM_EC_PUB_Y, c->width));
		break;
	case JWK_ED25519:
		/* RFC 8037 §2: kty "OKP", crv, and the raw public key as x. */
		ok = EVP_PKEY_get_raw_public_key(k->pkey, raw, &rawlen) == 1 &&
		     rawlen == sizeof(raw) && jwk_set(o, "kty", json_string("OKP")) &&
		     jwk_set(o, "crv", json_string("Ed25519")) &&
		     jwk_set(o, "x", jwk_b64_json(raw, rawlen));
		break;
	}
out:
	if (!ok) {
		ERR_clear_error();
		json_decref(o);
		o = NULL;
	}
	return o;
}

/* RFC 7638 §3: SHA-256 over the sorted, whitespace-free JSON of the required members. */
static int
jwk_thumbprint(struct jwk *k)
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	json_t *o = NULL;
	char *s = NULL;
	int rc = DEED_ENOMEM;

	if ((o = jwk_to_json(k)) == NULL || (s = djson_dump(o)) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	if (EVP_Digest(s, strlen(s), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
		goto out;
	rc = b64url_encode_buf(md, mdlen, k->thumbprint, sizeof(k->thumbprint));
out:
	free(s);
	json_decref(o);
	return rc;
}

/* Take ownership of pkey (freed on failure too) and build the jwk around it. */
static int
jwk_wrap(EVP_PKEY *pkey, enum jwk_kty kty, struct jwk **out)
{
	const struct jwk_curve *c;
	struct jwk *k = NULL;
	int rc = DEED_ENOMEM;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		goto out;
	k->kty = kty;
	k->pkey = pkey;
	pkey = NULL;
	switch (kty) {
	case JWK_RSA:
		k->bits = EVP_PKEY_get_bits(k->pkey);
		break;
	case JWK_ED25519:
		k->bits = 255; /* the field GF(2^255 - 19), RFC 7748 §4.1 */
		break;
	default:
		c = jwk_curve_by_kty(kty);
		k->bits = c != NULL ? c->bits : 0;
		break;
	}
	if ((rc = jwk_thumbprint(k)) != DEED_OK)
		goto out;
	*out = k;
	k = NULL;
out:
	EVP_PKEY_free(pkey);
	jwk_free(k);
	return rc;
}

int
jwk_from_pkey(EVP_PKEY *pkey, struct jwk **out)
{
	enum jwk_kty kty;
	int rc;

	if (pkey == NULL || out == NULL)
		return DEED_EINVAL;
	*out = NULL;
	if ((rc = jwk_pkey_kty(pkey, &kty)) != DEED_OK)
		return rc;
	if (EVP_PKEY_up_ref(pkey) != 1)
		return DEED_ECRYPTO;
	return jwk_wrap(pkey, kty, out);
}

/*
 * Decode the base64url member name of obj. Strictly: a JWK that is not canonical base64url
 * would hash to a thumbprint other than the one its owner computes.
 */
static int
jwk_member(const json_t *obj, const char *name, uint8_t **buf, size_t *len, char *err,
	   size_t errlen)
{
	const json_t *v = json_object_get(obj, name);
	int rc;

	if (v == NULL)
		return deed_fail(DEED_EMALFORMED, err, errlen, "JWK lacks \"%s\"", name);
	if (!json_is_string(v))
		return deed_fail(DEED_EMALFORMED, err, errlen, "JWK \"%s\" is not a string", name);
	rc = b64url_decode(json_string_value(v), json_string_length(v), buf, len);
	if (rc == DEED_EMALFORMED)
		return deed_fail(rc, err, errlen, "JWK \"%s\" is not base64url", name);
	return rc;
}

/*
 * RFC 7518 §6.3.1: n and e are base64urlUInt, which §2 defines as the minimal octets of the
 * value; a leading zero octet (or an empty value) is not a valid encoding.
 */
static int
jwk_rsa_uint(const json_t *obj, const char *name, size_t max, BIGNUM **bn, char *err, size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = jwk_member(obj, name, &buf, &len, err, errlen)) != DEED_OK)
		goto out;
	rc = DEED_EMALFORMED;
	if (len == 0 || buf[0] == 0) {
		deed_fail(rc, err, errlen, "RSA \"%s\" is not a minimal unsigned integer", name);
		goto out;
	}
	rc = DEED_EBADKEY;
	if (len > max) {
		deed_fail(rc, err, errlen, "RSA \"%s\" is too large (%zu octets)", name, len);
		goto out;
	}
	rc = DEED_ENOMEM;
	if ((*bn = BN_bin2bn(buf, (int)len, NULL)) == NULL)
		goto out;
	rc = DEED_OK;
out:
	free(buf);
	return rc;
}

static int
jwk_rsa_from_json(const json_t *obj, EVP_PKEY **pkey, char *err, size_t errlen)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	BIGNUM *n = NULL, *e = NULL;
	int rc;

	if ((rc = jwk_rsa_uint(obj, "n", JWK_RSA_MAX_N, &n, err, errlen)) != DEED_OK ||
	    (rc = jwk_rsa_uint(obj, "e", JWK_RSA_MAX_E, &e, err, errlen)) != DEED_OK)
		goto out;
	/*
	 * The cheap part of SP 800-56B §6.4.2.2's public-key check. The full one
	 * (EVP_PKEY_public_check) runs Miller-Rabin on n, tens of milliseconds for a large key
	 * from an unauthenticated sender; key policy bounds the size instead.
	 */
	rc = DEED_EBADKEY;
	if (!BN_is_odd(n) || !BN_is_odd(e) || BN_is_one(e)) {
		deed_fail(rc, err, errlen, "RSA modulus and exponent must be odd, exponent > 1");
		goto out;
	}

	rc = DEED_ENOMEM;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	rc = DEED_EBADKEY;
	if (EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		deed_fail(rc, err, errlen, "RSA key refused by the crypto library");
		goto out;
	}
	rc = DEED_OK;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/* Read coordinate name, which must be exactly width octets (RFC 7518 §6.2.1.2/§6.2.1.3). */
static int
jwk_ec_coord(const json_t *obj, const char *name, size_t width, uint8_t *dst, char *err,
	     size_t errlen)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = jwk_member(obj, name, &buf, &len, err, errlen)) != DEED_OK)
		goto out;
	rc = DEED_EMALFORMED;
	if (len != width) {
		deed_fail(rc, err, errlen, "EC \"%s\" is %zu octets, the curve needs %zu", name,
			   len, width);
		goto out;
	}
	memcpy(dst, buf, width);
	rc = DEED_OK;
out:
	free(buf);
	return rc;
}

static int
jwk_ec_from_json(const json_t *obj, const struct jwk_curve *c, EVP_PKEY **pkey, char *err,
		 size_t errlen)
{
	/* SEC 1 §2.3.3 uncompressed point: 0x04 || x || y. */
	uint8_t pt[1 + 2 * 66];
	OSSL_PARAM params[3];
	EVP_PKEY_CTX *ctx = NULL, *chk = NULL;
	size_t ptlen = 1 + 2 * c->width;
	int rc;

	pt[0] = 0x04;
	if ((rc = jwk_ec_coord(obj, "x", c->width, pt + 1, err, errlen)) != DEED_OK ||
	    (rc = jwk_ec_coord(obj, "y", c->width, pt + 1 + c->width, err, errlen)) != DEED_OK)
		goto out;

	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)c->group, 0);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, ptlen);
	params[2] = OSSL_PARAM_construct_end();

	rc = DEED_ECRYPTO;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1)
		goto out;
	/*
	 * An off-curve point invites invalid-curve attacks; OpenSSL refuses one while
	 * importing, and the public check below also rules out points of the wrong order.
	 */
	rc = DEED_EBADKEY;
	if (EVP_PKEY_fromdata(ctx, pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		deed_fail(rc, err, errlen, "EC point is not on %s", c->crv);
		goto out;
	}
	if ((chk = EVP_PKEY_CTX_new_from_pkey(NULL, *pkey, NULL)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	if (EVP_PKEY_public_check(chk) != 1) {
		deed_fail(rc, err, errlen, "EC point is not a valid %s public key", c->crv);
		goto out;
	}
	rc = DEED_OK;
out:
	if (rc != DEED_OK) {
		EVP_PKEY_free(*pkey);
		*pkey = NULL;
	}
	EVP_PKEY_CTX_free(chk);
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

static int
jwk_okp_from_json(const json_t *obj, EVP_PKEY **pkey, char *err, size_t errlen)
{
	uint8_t *x = NULL;
	size_t len = 0;
	int rc;

	if ((rc = jwk_member(obj, "x", &x, &len, err, errlen)) != DEED_OK)
		goto out;
	rc = DEED_EMALFORMED;
	if (len != JWK_ED25519_LEN) {
		deed_fail(rc, err, errlen, "Ed25519 \"x\" is %zu octets, not 32", len);
		goto out;
	}
	rc = DEED_EBADKEY;
	if ((*pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, x, len)) == NULL) {
		deed_fail(rc, err, errlen, "Ed25519 key refused by the crypto library");
		goto out;
	}
	rc = DEED_OK;
out:
	free(x);
	return rc;
}

/* Which kty (and curve) obj describes, from its "kty" and "crv" members. */
static int
jwk_json_kty(const json_t *obj, enum jwk_kty *kty, char *err, size_t errlen)
{
	const struct jwk_curve *c;
	const json_t *v;
	const char *s, *crv = NULL;

	v = json_object_get(obj, "kty");
	if (!json_is_string(v))
		return deed_fail(DEED_EMALFORMED, err, errlen,
				  "JWK \"kty\" missing or not a string");
	s = json_string_value(v);
	if (strcmp(s, "RSA") == 0) {
		*kty = JWK_RSA;
		return DEED_OK;
	}
	if (strcmp(s, "EC") != 0 && strcmp(s, "OKP") != 0)
		return deed_fail(DEED_EUNSUPPORTED, err, errlen, "JWK kty \"%.32s\" not supported",
				  s);

	v = json_object_get(obj, "crv");
	if (!json_is_string(v))
		return deed_fail(DEED_EMALFORMED, err, errlen,
				  "JWK \"crv\" missing or not a string");
	crv = json_string_value(v);
	if (strcmp(s, "OKP") == 0) {
		/* RFC 8037 §2 also defines Ed448 and X25519/X448; ACME needs none of them. */
		if (strcmp(crv, "Ed25519") != 0)
			return deed_fail(DEED_EUNSUPPORTED, err, errlen,
					  "OKP curve \"%.32s\" not supported", crv);
		*kty = JWK_ED25519;
		return DEED_OK;
	}
	if ((c = jwk_curve_by_crv(crv)) == NULL)
		return deed_fail(DEED_EUNSUPPORTED, err, errlen,
				  "EC curve \"%.32s\" not supported", crv);
	*kty = c->kty;
	return DEED_OK;
}

int
jwk_from_json(const json_t *obj, struct jwk **out, char *err, size_t errlen)
{
	const struct jwk_curve *c;
	const json_t *alg;
	EVP_PKEY *pkey = NULL;
	struct jwk *k = NULL;
	enum jwk_kty kty = JWK_RSA;
	size_t i;
	int rc = DEED_EINVAL;

	if (obj == NULL || out == NULL)
		goto out;
	*out = NULL;
	rc = DEED_EMALFORMED;
	if (!json_is_object(obj)) {
		deed_fail(rc, err, errlen, "JWK is not a JSON object");
		goto out;
	}
	rc = DEED_EBADKEY;
	for (i = 0; i < sizeof(jwk_private_members) / sizeof(jwk_private_members[0]); i++) {
		if (json_object_get(obj, jwk_private_members[i]) != NULL) {
			deed_fail(rc, err, errlen, "JWK carries private member \"%s\"",
				   jwk_private_members[i]);
			goto out;
		}
	}
	if ((rc = jwk_json_kty(obj, &kty, err, errlen)) != DEED_OK)
		goto out;

	switch (kty) {
	case JWK_RSA:
		rc = jwk_rsa_from_json(obj, &pkey, err, errlen);
		break;
	case JWK_ED25519:
		rc = jwk_okp_from_json(obj, &pkey, err, errlen);
		break;
	default:
		c = jwk_curve_by_kty(kty);
		rc = c != NULL ? jwk_ec_from_json(obj, c, &pkey, err, errlen) : DEED_EINVAL;
		break;
	}
	if (rc != DEED_OK)
		goto out;

	rc = jwk_wrap(pkey, kty, &k);
	pkey = NULL;
	if (rc != DEED_OK)
		goto out;

	/* RFC 7517 §4.4: a key that names its algorithm must only be used with that one. */
	if ((alg = json_object_get(obj, "alg")) != NULL) {
		rc = DEED_EMALFORMED;
		if (!json_is_string(alg)) {
			deed_fail(rc, err, errlen, "JWK \"alg\" is not a string");
			goto out;
		}
		rc = DEED_EBADALG;
		if (strcmp(json_string_value(alg), jwk_alg(k)) != 0) {
			deed_fail(rc, err, errlen, "JWK \"alg\" %.32s does not fit a key for %s",
				   json_string_value(alg), jwk_alg(k));
			goto out;
		}
	}

	*out = k;
	k = NULL;
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	jwk_free(k);
	return rc;
}

int
jwk_generate(const char *type, struct jwk **out)
{
	EVP_PKEY *pkey = NULL;
	int rc = DEED_EINVAL;

	if (type == NULL || out == NULL)
		goto out;
	*out = NULL;

	/* RSA keys get OpenSSL's default public exponent, 65537. */
	if (strcmp(type, "ec256") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(type, "ec384") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	else if (strcmp(type, "ec521") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	else if (strcmp(type, "rsa2048") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else if (strcmp(type, "rsa3072") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072);
	else if (strcmp(type, "rsa4096") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096);
	else if (strcmp(type, "ed25519") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else
		goto out;

	rc = DEED_ECRYPTO;
	if (pkey == NULL)
		goto out;
	rc = jwk_from_pkey(pkey, out);
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	EVP_PKEY_free(pkey);
	return rc;
}

int
jwk_private_pem(const struct jwk *k, char **pem)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	int rc = DEED_ECRYPTO;

	*pem = NULL;
	if (b != NULL && PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		BIO_get_mem_ptr(b, &m);
		*pem = strndup(m->data, m->length);
		rc = *pem != NULL ? DEED_OK : DEED_ENOMEM;
	}
	BIO_free_all(b);
	return rc;
}
