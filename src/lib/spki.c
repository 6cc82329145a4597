#include <string.h>

#include <openssl/core_names.h>
#include <openssl/objects.h>

#include "spki.h"

/* RFC 5480 §2: id-ecPublicKey with the named curve, the point as the key bits. */
static int
set_ec(X509_PUBKEY *pub, EVP_PKEY *key)
{
	char form[32], group[64];
	unsigned char *enc = NULL;
	size_t len = 0;
	int curve;

	/* Compressed points are left to OpenSSL: callers hashing keys want one form. */
	if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form,
					   sizeof(form), NULL) == 1 &&
	    strcmp(form, "uncompressed") != 0)
		return 0;
	if (EVP_PKEY_get_group_name(key, group, sizeof(group), NULL) != 1 ||
	    (curve = OBJ_txt2nid(group)) == NID_undef)
		return 0; /* explicit parameters and the like */
	if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0,
					    &len) != 1 ||
	    len == 0 || (enc = OPENSSL_malloc(len)) == NULL ||
	    EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, enc, len,
					    &len) != 1 ||
	    X509_PUBKEY_set0_param(pub, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
				   OBJ_nid2obj(curve), enc, (int)len) != 1) {
		OPENSSL_free(enc);
		return -1;
	}
	return 1;
}

/* RFC 8410 §3: id-Ed25519 with the parameters absent. */
static int
set_ed25519(X509_PUBKEY *pub, EVP_PKEY *key)
{
	unsigned char *enc = NULL;
	size_t len = 0;

	if (EVP_PKEY_get_raw_public_key(key, NULL, &len) != 1 || len == 0 ||
	    (enc = OPENSSL_malloc(len)) == NULL ||
	    EVP_PKEY_get_raw_public_key(key, enc, &len) != 1 ||
	    X509_PUBKEY_set0_param(pub, OBJ_nid2obj(NID_ED25519), V_ASN1_UNDEF, NULL, enc,
				   (int)len) != 1) {
		OPENSSL_free(enc);
		return -1;
	}
	return 1;
}

int
spki_set(X509_PUBKEY *pub, EVP_PKEY *key)
{
	if (pub == NULL || key == NULL)
		return -1;
	switch (EVP_PKEY_get_id(key)) {
	case EVP_PKEY_EC:
		return set_ec(pub, key);
	case EVP_PKEY_ED25519:
		return set_ed25519(pub, key);
	}
	return 0;
}

int
spki_i2d(EVP_PKEY *key, unsigned char **der)
{
	X509_PUBKEY *pub = X509_PUBKEY_new();
	int rc = pub != NULL ? spki_set(pub, key) : -1;
	int len = -1;

	*der = NULL;
	if (rc == 1)
		len = i2d_X509_PUBKEY(pub, der);
	else if (rc == 0)
		len = i2d_PUBKEY(key, der);
	X509_PUBKEY_free(pub);
	return len;
}

int
spki_set_parts(X509_PUBKEY *pub, const X509_ALGOR *alg, const unsigned char *bits, int blen)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	ASN1_OBJECT *a = NULL, *po = NULL;
	unsigned char *copy = NULL;
	int ptype;

	if (pub == NULL || alg == NULL || bits == NULL || blen < 0)
		return -1;
	X509_ALGOR_get0(&obj, &ptype, &pval, alg);
	if (ptype != V_ASN1_OBJECT && ptype != V_ASN1_NULL && ptype != V_ASN1_UNDEF)
		return 0;
	if ((a = OBJ_dup(obj)) == NULL ||
	    (ptype == V_ASN1_OBJECT && (po = OBJ_dup(pval)) == NULL) ||
	    (copy = OPENSSL_memdup(bits, blen > 0 ? (size_t)blen : 1)) == NULL ||
	    X509_PUBKEY_set0_param(pub, a, ptype, po, copy, blen) != 1) {
		ASN1_OBJECT_free(a);
		ASN1_OBJECT_free(po);
		OPENSSL_free(copy);
		return -1;
	}
	return 1;
}
