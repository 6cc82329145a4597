#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "spki.h"
#include "dnsname.h"
#include "error.h"

/*
 * PKCS#10 (RFC 2986 §4) as deed reads it. OpenSSL's X509_REQ decodes the subject public key
 * while parsing, through OpenSSL 3's provider decoders, which cost more than checking the
 * request's signature; these templates are the same structure with the key left as its
 * algorithm identifier and bits, turned into a key below without the decoders. The request
 * info keeps its encoding as received (ASN1_SEQUENCE_enc), which the signature covers.
 */
typedef struct {
	X509_ALGOR *algor;
	ASN1_BIT_STRING *public_key;
} CSR_SPKI;

typedef struct {
	ASN1_ENCODING enc;
	ASN1_INTEGER *version;
	X509_NAME *subject;
	CSR_SPKI *spki;
	STACK_OF(X509_ATTRIBUTE) *attributes;
} CSR_INFO;

typedef struct {
	CSR_INFO *info;
	X509_ALGOR *sig_alg;
	ASN1_BIT_STRING *signature;
} CSR_REQ;

ASN1_SEQUENCE(CSR_SPKI) = {
	ASN1_SIMPLE(CSR_SPKI, algor, X509_ALGOR),
	ASN1_SIMPLE(CSR_SPKI, public_key, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CSR_SPKI)

ASN1_SEQUENCE_enc(CSR_INFO, enc, NULL) = {
	ASN1_SIMPLE(CSR_INFO, version, ASN1_INTEGER),
	ASN1_SIMPLE(CSR_INFO, subject, X509_NAME),
	ASN1_SIMPLE(CSR_INFO, spki, CSR_SPKI),
	/* RFC 2986 makes it mandatory; OpenSSL takes it absent too, and so do we. */
	ASN1_IMP_SET_OF_OPT(CSR_INFO, attributes, X509_ATTRIBUTE, 0)
} static_ASN1_SEQUENCE_END_ref(CSR_INFO, CSR_INFO)

ASN1_SEQUENCE(CSR_REQ) = {
	ASN1_SIMPLE(CSR_REQ, info, CSR_INFO),
	ASN1_SIMPLE(CSR_REQ, sig_alg, X509_ALGOR),
	ASN1_SIMPLE(CSR_REQ, signature, ASN1_BIT_STRING)
} static_ASN1_SEQUENCE_END(CSR_REQ)


void
csr_free(struct csr *c)
{
	if (c == NULL)
		return;
	EVP_PKEY_free(c->pkey);
	X509_PUBKEY_free(c->spki);
	for (size_t i = 0; i < c->n_names; i++)
		free(c->names[i]);
	free(c->names);
	free(c->cn);
	free(c->der);
	free(c);
}

/*
 * RFC 8555 §7.4 leaves the CSR signature algorithm to the CA. deed takes SHA-2 with RSA
 * PKCS#1 v1.5 or ECDSA (what the CA/B Baseline Requirements allow) and Ed25519 (RFC 8410).
 * SHA-1 and MD5 are out: a collision would let one signature stand for other names. RSA-PSS
 * is out because its parameters carry their own hash choices that would each need a check,
 * and clients do not send it.
 */
static bool
sig_alg_ok(int nid)
{
	switch (nid) {
	case NID_sha256WithRSAEncryption:
	case NID_sha384WithRSAEncryption:
	case NID_sha512WithRSAEncryption:
	case NID_ecdsa_with_SHA256:
	case NID_ecdsa_with_SHA384:
	case NID_ecdsa_with_SHA512:
	case NID_ED25519:
		return true;
	}
	return false;
}

/*
 * Add one CSR name (a dNSName or the CN) to c. Names are compared case-insensitively (RFC
 * 4343) so they are lowercased first; beyond that they must already be what an ACME order
 * holds (RFC 8555 §7.1.4: A-labels, no trailing dot), because finalize compares the CSR's
 * names with the order's identifiers octet for octet (RFC 8555 §7.4).
 */
static int
add_name(struct csr *c, const char *raw, size_t len, char *err, size_t errlen)
{
	char lower[DNSNAME_MAX + 1], why[320];

	if (len == 0)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR has an empty name");
	if (memchr(raw, '\0', len) != NULL)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR name \"%.80s\" has a NUL octet",
			      raw);
	if (len > DNSNAME_MAX)
		return deed_fail(DEED_EMALFORMED, err, errlen,
			      "CSR name \"%.80s...\" is longer than 253 octets", raw);
	for (size_t i = 0; i < len; i++)
		lower[i] = (char)(raw[i] >= 'A' && raw[i] <= 'Z' ? raw[i] + ('a' - 'A') : raw[i]);
	lower[len] = '\0';
	if (dnsname_check(lower, true, why, sizeof(why)) != DEED_OK)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR %s", why);
	for (size_t i = 0; i < c->n_names; i++)
		if (strcmp(c->names[i], lower) == 0)
			return DEED_OK;
	if (c->n_names == CSR_MAX_NAMES)
		return deed_fail(DEED_ETOOBIG, err, errlen, "CSR has more than %d names",
			      CSR_MAX_NAMES);
	if ((c->names[c->n_names] = strdup(lower)) == NULL)
		return DEED_ENOMEM;
	c->n_names++;
	return DEED_OK;
}

/* RFC 5280 §4.2.1.6 GeneralName choices, named as a subscriber would recognise them. */
static const char *
gen_type_name(int type)
{
	switch (type) {
	case GEN_OTHERNAME:
		return "otherName";
	case GEN_EMAIL:
		return "email (rfc822Name)";
	case GEN_X400:
		return "x400Address";
	case GEN_DIRNAME:
		return "directoryName";
	case GEN_EDIPARTY:
		return "ediPartyName";
	case GEN_URI:
		return "URI";
	case GEN_IPADD:
		return "IP address";
	case GEN_RID:
		return "registeredID";
	}
	return "unknown";
}

/*
 * The dNSNames of the subjectAltName extension in the PKCS#10 extensionRequest attribute
 * (RFC 2985 §5.4.2). Only DNS identifiers exist in deed's orders, so any other name type is
 * refused outright instead of being left out of the certificate silently.
 */
/*
 * The extensions of the extensionRequest attribute (or Microsoft's older one), as OpenSSL's
 * X509_REQ_get_extensions reads them: the first attribute found, its first value; none is an
 * empty list, one that does not parse is NULL.
 */
static STACK_OF(X509_EXTENSION) *
requested_extensions(const CSR_INFO *info)
{
	static const int nids[] = {NID_ext_req, NID_ms_ext_req};
	ASN1_TYPE *ext = NULL;
	const unsigned char *p;

	for (size_t i = 0; i < sizeof(nids) / sizeof(nids[0]); i++) {
		int idx = X509at_get_attr_by_NID(info->attributes, nids[i], -1);

		if (idx >= 0) {
			ext = X509_ATTRIBUTE_get0_type(X509at_get_attr(info->attributes, idx), 0);
			break;
		}
	}
	if (ext == NULL)
		return sk_X509_EXTENSION_new_null();
	if (ext->type != V_ASN1_SEQUENCE)
		return NULL;
	p = ext->value.sequence->data;
	return d2i_X509_EXTENSIONS(NULL, &p, ext->value.sequence->length);
}

static int
read_sans(struct csr *c, const CSR_INFO *info, char *err, size_t errlen)
{
	STACK_OF(X509_EXTENSION) *exts = requested_extensions(info);
	GENERAL_NAMES *gens = NULL;
	int rc = DEED_OK, crit = 0;

	/* OpenSSL 3 gives an empty stack when there is no extensionRequest attribute, NULL when
	 * it does not parse; the latter must not pass as "no SAN". */
	if (exts == NULL)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR extension request does not parse");
	gens = X509V3_get_d2i(exts, NID_subject_alt_name, &crit, NULL);
	if (gens == NULL && crit == -2) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR has more than one SAN extension");
		goto out;
	}
	if (gens == NULL && crit >= 0) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR SAN extension does not parse");
		goto out;
	}
	for (int i = 0; gens != NULL && i < sk_GENERAL_NAME_num(gens); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);

		if (g->type != GEN_DNS) {
			rc = deed_fail(DEED_EUNSUPPORTED, err, errlen,
				    "CSR has a SAN of type %s; only DNS names are supported",
				    gen_type_name(g->type));
			goto out;
		}
		rc = add_name(c, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
			      (size_t)ASN1_STRING_length(g->d.dNSName), err, errlen);
		if (rc != DEED_OK)
			goto out;
	}
out:
	GENERAL_NAMES_free(gens);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	return rc;
}

/* RFC 8555 §7.4 lets the CN be one of the names; it counts as a name like any SAN. */
static int
read_cn(struct csr *c, const X509_NAME *subj, char *err, size_t errlen)
{
	int idx = X509_NAME_get_index_by_NID(subj, NID_commonName, -1);
	const ASN1_STRING *s;
	unsigned char *utf8 = NULL;
	int len, rc;

	if (idx < 0)
		return DEED_OK;
	/* Which of two CNs would be "the" CN is anyone's guess. */
	if (X509_NAME_get_index_by_NID(subj, NID_commonName, idx) >= 0)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR subject has more than one CN");
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
	if ((len = ASN1_STRING_to_UTF8(&utf8, s)) < 0)
		return deed_fail(DEED_EMALFORMED, err, errlen, "CSR CN does not decode");
	rc = add_name(c, (const char *)utf8, (size_t)len, err, errlen);
	if (rc == DEED_OK) {
		c->cn = strndup((const char *)utf8, (size_t)len);
		if (c->cn == NULL)
			rc = DEED_ENOMEM;
		for (char *p = c->cn; p != NULL && *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + ('a' - 'A'));
	}
	OPENSSL_free(utf8);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a BIT STRING's last octet is whole, as every key's bits are. */
static bool
whole_octets(const ASN1_BIT_STRING *b)
{
	return (b->flags & ASN1_STRING_FLAG_BITS_LEFT) == 0 || (b->flags & 0x07) == 0;
}

/* An EC public key on a named curve from its point (RFC 5480 §2.2), checked to lie on the
 * curve by OpenSSL's import. */
static EVP_PKEY *
ec_key(int curve, const unsigned char *point, int len)
{
	const char *group = OBJ_nid2sn(curve);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	EVP_PKEY *key = NULL;
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
	    OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, (size_t)len),
	    OSSL_PARAM_construct_end()};

	if (ctx == NULL || group == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
		EVP_PKEY_free(key);
		key = NULL;
	}
	EVP_PKEY_CTX_free(ctx);
	return key;
}

/*
 * The request's public key. EC keys on the curves deed signs for and Ed25519 keys are built
 * from their parameters and bits; anything else (RSA, other curves, explicit parameters)
 * through d2i_PUBKEY of the SubjectPublicKeyInfo, OpenSSL's decoders and all. NULL when it
 * does not make a key.
 */
static EVP_PKEY *
request_key(const CSR_SPKI *spki)
{
	const ASN1_OBJECT *obj;
	const void *pval;
	const unsigned char *bits = ASN1_STRING_get0_data(spki->public_key), *p;
	unsigned char *der = NULL;
	int blen = ASN1_STRING_length(spki->public_key), ptype, len, curve;
	EVP_PKEY *key = NULL;

	X509_ALGOR_get0(&obj, &ptype, &pval, spki->algor);
	if (whole_octets(spki->public_key)) {
		switch (OBJ_obj2nid(obj)) {
		case NID_X9_62_id_ecPublicKey:
			curve = ptype == V_ASN1_OBJECT ? OBJ_obj2nid(pval) : NID_undef;
			if (curve == NID_X9_62_prime256v1 || curve == NID_secp384r1 ||
			    curve == NID_secp521r1)
				return ec_key(curve, bits, blen);
			break;
		case NID_ED25519: /* RFC 8410 §3: parameters absent */
			if (ptype == V_ASN1_UNDEF)
				return EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519", NULL, bits,
								      (size_t)blen);
			break;
		}
	}
	if ((len = ASN1_item_i2d((const ASN1_VALUE *)spki, &der, ASN1_ITEM_rptr(CSR_SPKI))) > 0) {
		p = der;
		key = d2i_PUBKEY(NULL, &p, len);
	}
	OPENSSL_free(der);
	return key;
}

int
csr_parse_der(const uint8_t *der, size_t len, struct csr **out, char *err, size_t errlen)
{
	const unsigned char *p = der;
	CSR_REQ *req = NULL;
	struct csr *c = NULL;
	int rc, nid;

	*out = NULL;
	if (len > CSR_MAX_DER) {
		rc = deed_fail(DEED_ETOOBIG, err, errlen, "CSR is larger than %d bytes", CSR_MAX_DER);
		goto out;
	}
	if ((req = (CSR_REQ *)ASN1_item_d2i(NULL, &p, (long)len, ASN1_ITEM_rptr(CSR_REQ))) ==
	    NULL) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR does not parse as PKCS#10");
		goto out;
	}
	/* Bytes after the request would not be covered by anything we check. */
	if (p != der + len) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR has trailing data");
		goto out;
	}
	/* RFC 2986 §4.1: version is 0 (v1); anything else is a request we do not understand. */
	if (ASN1_INTEGER_get(req->info->version) != 0) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR version is %ld, not 1",
			    ASN1_INTEGER_get(req->info->version) + 1);
		goto out;
	}
	nid = OBJ_obj2nid(req->sig_alg->algorithm);
	if (!sig_alg_ok(nid)) {
		rc = deed_fail(DEED_EUNSUPPORTED, err, errlen,
			    "CSR signature algorithm %s is not accepted (use SHA-256/384/512 with "
			    "RSA or ECDSA, or Ed25519)",
			    OBJ_nid2sn(nid));
		goto out;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->names = calloc(CSR_MAX_NAMES, sizeof(char *))) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	if ((c->pkey = request_key(req->info->spki)) == NULL) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR public key does not parse");
		goto out;
	}
	/* Over the request info as received (its saved encoding), as X509_REQ_verify does. */
	if (ASN1_item_verify(ASN1_ITEM_rptr(CSR_INFO), req->sig_alg, req->signature, req->info,
			     c->pkey) != 1) {
		rc = deed_fail(DEED_EBADSIG, err, errlen, "CSR signature does not verify");
		goto out;
	}
	if ((rc = read_sans(c, req->info, err, errlen)) != DEED_OK ||
	    (rc = read_cn(c, req->info->subject, err, errlen)) != DEED_OK)
		goto out;
	if (c->n_names == 0) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "CSR names no DNS name");
		goto out;
	}
	/* Sorted, so finalize can compare them with the order's sorted identifiers in one pass. */
	qsort(c->names, c->n_names, sizeof(char *), cmp_str);
	/* The key as the request encodes it, for the certificate (signer_req.spki); NULL for
	 * parameters spki_set_parts does not copy, and the signer encodes c->pkey then. */
	rc = DEED_ENOMEM;
	if ((c->spki = X509_PUBKEY_new()) == NULL)
		goto out;
	switch (spki_set_parts(c->spki, req->info->spki->algor,
			       ASN1_STRING_get0_data(req->info->spki->public_key),
			       ASN1_STRING_length(req->info->spki->public_key))) {
	case -1:
		goto out;
	case 0:
		X509_PUBKEY_free(c->spki);
		c->spki = NULL;
		break;
	}
	if ((c->der = malloc(len)) == NULL)
		goto out;
	memcpy(c->der, der, len);
	c->der_len = len;
	*out = c;
	c = NULL;
	rc = DEED_OK;
out:
	/* A refused request leaves OpenSSL errors behind; they must not surface later in an
	 * unrelated call on this thread (SSL_get_error reads the same queue). */
	if (rc != DEED_OK)
		ERR_clear_error();
	csr_free(c);
	ASN1_item_free((ASN1_VALUE *)req, ASN1_ITEM_rptr(CSR_REQ));
	return rc;
}

/* Encrypted PEM is not a CSR anyone sends; without this OpenSSL would ask the terminal. */
static int
no_password(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

int
csr_parse_pem(const char *pem, size_t len, struct csr **out, char *err, size_t errlen)
{
	BIO *b = NULL;
	unsigned char *der = NULL;
	long n = 0;
	int rc;

	*out = NULL;
	/* Before BIO_new_mem_buf: it takes an int, and a negative one means "use strlen". The
	 * cap leaves room for base64 (4/3), line breaks and text around the block. */
	if (len > 4 * CSR_MAX_DER) {
		rc = deed_fail(DEED_ETOOBIG, err, errlen, "CSR PEM is larger than %d bytes",
			    4 * CSR_MAX_DER);
		goto out;
	}
	if ((b = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	/* The DER as sent goes to csr_parse_der, not a re-encoding: trailing data inside the
	 * block is refused as it is in DER, and struct csr keeps the request as received.
	 * "NEW CERTIFICATE REQUEST" (old OpenSSL and Netscape) is taken too. */
	if (PEM_bytes_read_bio(&der, &n, NULL, PEM_STRING_X509_REQ, b, no_password, NULL) != 1) {
		rc = deed_fail(DEED_EMALFORMED, err, errlen, "no CERTIFICATE REQUEST PEM block found");
		goto out;
	}
	rc = csr_parse_der(der, (size_t)n, out, err, errlen);
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	OPENSSL_free(der);
	BIO_free(b);
	return rc;
}

/* Put key's SubjectPublicKeyInfo into req: without OpenSSL's encoder round trip where
 * spki_set can (X509_REQ_set_pubkey made up most of the time a CSR took). */
static int
set_pubkey(X509_REQ *req, EVP_PKEY *key)
{
	X509_PUBKEY *pub = X509_REQ_get_X509_PUBKEY(req);
	int rc = pub != NULL ? spki_set(pub, key) : 0;

	return rc == 0 ? X509_REQ_set_pubkey(req, key) : rc == 1;
}

int
csr_create(EVP_PKEY *key, const char *const *names, size_t n, uint8_t **der, size_t *derlen)
{
	X509_REQ *req = NULL;
	X509_NAME *subj = NULL;
	GENERAL_NAMES *gens = NULL;
	STACK_OF(X509_EXTENSION) *exts = NULL;
	X509_EXTENSION *ext = NULL;
	const EVP_MD *md = EVP_sha256();
	unsigned char *buf = NULL;
	int len, rc = DEED_ECRYPTO;

	*der = NULL;
	*derlen = 0;
	if (key == NULL || names == NULL || n == 0 || n > CSR_MAX_NAMES)
		return DEED_EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] == NULL)
			return DEED_EINVAL;
	if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519)
		md = NULL; /* RFC 8410 §6: Ed25519 hashes inside the signature, no digest here */
	if ((req = X509_REQ_new()) == NULL || (subj = X509_NAME_new()) == NULL ||
	    (gens = GENERAL_NAMES_new()) == NULL || (exts = sk_X509_EXTENSION_new_null()) == NULL)
		goto out;
	/* RFC 5280 Appendix A ub-common-name is 64: a longer first name lives in the SAN only,
	 * which is all RFC 8555 §7.4 needs. */
	if (strlen(names[0]) <= 64 &&
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)names[0], -1, -1, 0) != 1)
		goto out;
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();

		if (g == NULL || s == NULL || ASN1_STRING_set(s, names[i], -1) != 1) {
			GENERAL_NAME_free(g);
			ASN1_IA5STRING_free(s);
			goto out;
		}
		GENERAL_NAME_set0_value(g, GEN_DNS, s);
		if (sk_GENERAL_NAME_push(gens, g) <= 0) {
			GENERAL_NAME_free(g);
			goto out;
		}
	}
	if ((ext = X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) == NULL ||
	    sk_X509_EXTENSION_push(exts, ext) <= 0) {
		X509_EXTENSION_free(ext);
		goto out;
	}
	if (X509_REQ_set_version(req, 0) != 1 || X509_REQ_set_subject_name(req, subj) != 1 ||
	    set_pubkey(req, key) != 1 || X509_REQ_add_extensions(req, exts) != 1 ||
	    X509_REQ_sign(req, key, md) <= 0)
		goto out;
	if ((len = i2d_X509_REQ(req, &buf)) <= 0)
		goto out;
	if ((*der = malloc((size_t)len)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	memcpy(*der, buf, (size_t)len);
	*derlen = (size_t)len;
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	OPENSSL_free(buf);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	GENERAL_NAMES_free(gens);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return rc;
}
