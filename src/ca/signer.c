#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "signer.h"
#include "spki.h"

/* ub-common-name, RFC 5280 Appendix A.1. */
#define CN_MAX 64

/*
 * Everything issuance reads from the issuer is copied out once here, so concurrent
 * signer_prepare calls only read private, never-modified objects (OpenSSL caches lazily
 * inside X509 objects; reading our own copies keeps that off the hot path).
 */
struct signer {
	X509 *issuer;
	EVP_PKEY *key;
	const EVP_MD *md; /* NULL for keys that hash internally (EdDSA) */
	X509_NAME *issuer_name;
	ASN1_OCTET_STRING *issuer_kid;
	X509_ALGOR *sigalg; /* what X509_sign will write into the TBS */
	int64_t issuer_not_after;
	char *chain_pem;
};

#define seterr deed_seterr

/* The OpenSSL reason behind a failure, for err; clears the queue so the next caller in this
 * thread does not inherit it. */
static const char *
ossl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown reason");
	else
		ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

void
signer_free(struct signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->issuer);
	EVP_PKEY_free(s->key);
	X509_NAME_free(s->issuer_name);
	ASN1_OCTET_STRING_free(s->issuer_kid);
	X509_ALGOR_free(s->sigalg);
	free(s->chain_pem);
	free(s);
}

/* SHA-2 sized to the key: a P-384 key signs with SHA-384 (the strength match CA/B BR
 * §7.1.3.2 asks for); RSA keys get SHA-256. */
static int
pick_md(EVP_PKEY *key, const EVP_MD **md)
{
	switch (EVP_PKEY_get_base_id(key)) {
	case EVP_PKEY_EC:
		*md = EVP_PKEY_get_bits(key) <= 256   ? EVP_sha256()
		      : EVP_PKEY_get_bits(key) <= 384 ? EVP_sha384()
						      : EVP_sha512();
		return DEED_OK;
	case EVP_PKEY_RSA:
		*md = EVP_sha256();
		return DEED_OK;
	case EVP_PKEY_ED25519:
	case EVP_PKEY_ED448:
		*md = NULL;
		return DEED_OK;
	default:
		return DEED_EBADKEY;
	}
}

/*
 * The AlgorithmIdentifier X509_sign will put in the certificate, asked from the provider
 * without signing anything. signer_prepare writes it into the TBS up front so that the bytes
 * the RA stores before signing are exactly the bytes that get signed.
 */
static int
query_sigalg(EVP_PKEY *key, const EVP_MD *md, X509_ALGOR **out)
{
	EVP_MD_CTX *mctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	unsigned char buf[256];
	const unsigned char *p = buf;
	OSSL_PARAM params[2];
	int rc = DEED_ECRYPTO;

	*out = NULL;
	if (mctx == NULL)
		return DEED_ENOMEM;
	params[0] =
	    OSSL_PARAM_construct_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, buf, sizeof(buf));
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_DigestSignInit(mctx, &pctx, md, NULL, key) != 1 ||
	    EVP_PKEY_CTX_get_params(pctx, params) != 1 || !OSSL_PARAM_modified(&params[0]) ||
	    params[0].return_size > sizeof(buf))
		goto out;
	if ((*out = d2i_X509_ALGOR(NULL, &p, (long)params[0].return_size)) == NULL)
		goto out;
	rc = DEED_OK;
out:
	EVP_MD_CTX_free(mctx);
	return rc;
}

static int
asn1_time_to_unix(const ASN1_TIME *t, int64_t *out)
{
	struct tm tm;

	if (ASN1_TIME_to_tm(t, &tm) != 1)
		return DEED_ECRYPTO;
	*out = (int64_t)timegm(&tm);
	return DEED_OK;
}

int
signer_new(X509 *issuer, EVP_PKEY *key, struct signer **out, char *err, size_t errlen)
{
	struct signer *s = NULL;
	const ASN1_OCTET_STRING *kid;
	BIO *mem = NULL;
	char *data, why[160];
	long n;
	int rc = DEED_ENOMEM;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	rc = DEED_ECRYPTO;
	if (X509_check_private_key(issuer, key) != 1) {
		seterr(err, errlen, "the issuer key does not match the issuer certificate");
		goto out;
	}
	if (X509_check_ca(issuer) == 0) {
		seterr(err, errlen, "the issuer certificate is not a CA");
		goto out;
	}
	/* RFC 5280 §4.2.1.1: our certificates must carry the issuer's key identifier. */
	if ((kid = X509_get0_subject_key_id(issuer)) == NULL) {
		seterr(err, errlen, "the issuer certificate has no subject key identifier");
		goto out;
	}
	if (pick_md(key, &s->md) != DEED_OK) {
		seterr(err, errlen, "the issuer key type is not supported");
		goto out;
	}
	if (query_sigalg(key, s->md, &s->sigalg) != DEED_OK) {
		seterr(err, errlen, "no signature algorithm for the issuer key: %s",
		       ossl_reason(why, sizeof(why)));
		goto out;
	}
	if (asn1_time_to_unix(X509_get0_notAfter(issuer), &s->issuer_not_after) != DEED_OK) {
		seterr(err, errlen, "the issuer certificate's notAfter does not parse");
		goto out;
	}
	if ((s->issuer_kid = ASN1_OCTET_STRING_dup(kid)) == NULL ||
	    (s->issuer_name = X509_NAME_dup(X509_get_subject_name(issuer))) == NULL ||
	    (mem = BIO_new(BIO_s_mem())) == NULL || PEM_write_bio_X509(mem, issuer) != 1 ||
	    (n = BIO_get_mem_data(mem, &data)) <= 0 ||
	    (s->chain_pem = strndup(data, (size_t)n)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	if (X509_up_ref(issuer) != 1)
		goto out;
	s->issuer = issuer;
	if (EVP_PKEY_up_ref(key) != 1)
		goto out;
	s->key = key;
	*out = s;
	s = NULL;
	rc = DEED_OK;
out:
	ERR_clear_error();
	BIO_free(mem);
	signer_free(s);
	return rc;
}

/* Never prompt: a library must not read the terminal, and our keys are not encrypted. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	return -1;
}

/* Open DIR/NAME for reading; err names the path on failure. */
static FILE *
open_in(const char *dir, const char *name, char *path, size_t pathsz, char *err, size_t errlen)
{
	FILE *f;
	int n = snprintf(path, pathsz, "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= pathsz) {
		seterr(err, errlen, "%s/%s: path too long", dir, name);
		return NULL;
	}
	if ((f = fopen(path, "re")) == NULL)
		seterr(err, errlen, "%s: %s", path, strerror(errno));
	return f;
}

static int
read_cert(const char *dir, const char *name, X509 **x, char *err, size_t errlen)
{
	char path[PATH_MAX], why[160];
	FILE *f = open_in(dir, name, path, sizeof(path), err, errlen);

	if (f == NULL)
		return DEED_EIO;
	*x = PEM_read_X509(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (*x == NULL) {
		seterr(err, errlen, "%s: %s", path, ossl_reason(why, sizeof(why)));
		return DEED_ECRYPTO;
	}
	return DEED_OK;
}

static int
read_key(const char *dir, const char *name, EVP_PKEY **k, char *err, size_t errlen)
{
	char path[PATH_MAX], why[160];
	FILE *f = open_in(dir, name, path, sizeof(path), err, errlen);

	if (f == NULL)
		return DEED_EIO;
	*k = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	if (*k == NULL) {
		seterr(err, errlen, "%s: %s", path, ossl_reason(why, sizeof(why)));
		return DEED_ECRYPTO;
	}
	return DEED_OK;
}

int
signer_load(const char *dir, struct signer **out, char *err, size_t errlen)
{
	X509 *inter = NULL, *root = NULL;
	EVP_PKEY *key = NULL;
	int rc;

	*out = NULL;
	if ((rc = read_cert(dir, "intermediate.pem", &inter, err, errlen)) != DEED_OK ||
	    (rc = read_key(dir, "intermediate.key", &key, err, errlen)) != DEED_OK ||
	    (rc = read_cert(dir, "root.pem", &root, err, errlen)) != DEED_OK)
		goto out;
	/* Refuse to serve chains that clients trusting root.pem cannot build. */
	if (X509_check_issued(root, inter) != X509_V_OK ||
	    X509_verify(inter, X509_get0_pubkey(root)) != 1) {
		seterr(err, errlen, "%s/intermediate.pem is not signed by %s/root.pem", dir, dir);
		rc = DEED_ECRYPTO;
		goto out;
	}
	rc = signer_new(inter, key, out, err, errlen);
out:
	ERR_clear_error();
	X509_free(inter);
	X509_free(root);
	EVP_PKEY_free(key);
	return rc;
}

/* RFC 5280 §4.1.2.2: a positive INTEGER of at most 20 octets. A non-zero first octet below
 * 0x80 makes the encoding exactly 20 octets (CA/B BR §7.1: >= 64 bits of CSPRNG output; this
 * keeps 159 bits minus the few lost to the retry). */
int
signer_new_serial(uint8_t serial[20])
{
	do {
		if (RAND_bytes(serial, 20) != 1)
			return DEED_ECRYPTO;
		serial[0] &= 0x7f;
	} while (serial[0] == 0);
	return DEED_OK;
}

static int
add_ext(X509 *x, int nid, void *value, int crit)
{
	return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_DEFAULT) == 1 ? DEED_OK
									       : DEED_ECRYPTO;
}

/* A name that is an IP literal becomes an iPAddress (RFC 5280 §4.2.1.6); as a dNSName it
 * would be a name nobody can own. */
static GENERAL_NAME *
make_gn(const char *name)
{
	GENERAL_NAME *gn = GENERAL_NAME_new();
	ASN1_STRING *v = NULL;
	unsigned char ip[16];
	int len = 0, type = GEN_DNS;

	if (gn == NULL)
		return NULL;
	if (inet_pton(AF_INET, name, ip) == 1)
		len = 4;
	else if (inet_pton(AF_INET6, name, ip) == 1)
		len = 16;
	if (len > 0) {
		type = GEN_IPADD;
		v = ASN1_OCTET_STRING_new();
		if (v == NULL || ASN1_OCTET_STRING_set(v, ip, len) != 1)
			goto fail;
	} else {
		v = ASN1_IA5STRING_new();
		if (v == NULL || ASN1_STRING_set(v, name, -1) != 1)
			goto fail;
	}
	GENERAL_NAME_set0_value(gn, type, v);
	return gn;
fail:
	ASN1_STRING_free(v);
	GENERAL_NAME_free(gn);
	return NULL;
}

static int
add_san(X509 *x, const struct signer_req *req, int crit)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	int rc = DEED_ENOMEM;

	if (gens == NULL)
		return DEED_ENOMEM;
	for (size_t i = 0; i < req->n_names; i++) {
		GENERAL_NAME *gn = make_gn(req->names[i]);

		if (gn == NULL || sk_GENERAL_NAME_push(gens, gn) <= 0) {
			GENERAL_NAME_free(gn);
			goto out;
		}
	}
	rc = add_ext(x, NID_subject_alt_name, gens, crit);
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static int
add_key_usage(X509 *x, EVP_PKEY *pub)
{
	ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
	int rc = DEED_ENOMEM;

	if (ku == NULL)
		return DEED_ENOMEM;
	/* digitalSignature (bit 0) for (EC)DHE; keyEncipherment (bit 2) only where RSA key
	 * transport is possible — never for ECDSA keys (protocol notes §6, classic). */
	if (ASN1_BIT_STRING_set_bit(ku, 0, 1) != 1 ||
	    (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA && ASN1_BIT_STRING_set_bit(ku, 2, 1) != 1))
		goto out;
	rc = add_ext(x, NID_key_usage, ku, 1);
out:
	ASN1_BIT_STRING_free(ku);
	return rc;
}

static int
add_leaf_constraints(X509 *x)
{
	BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
	EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
	int rc = DEED_ENOMEM;

	if (bc == NULL || eku == NULL ||
	    sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) <= 0)
		goto out;
	bc->ca = 0;
	if ((rc = add_ext(x, NID_basic_constraints, bc, 1)) != DEED_OK)
		goto out;
	rc = add_ext(x, NID_ext_key_usage, eku, 0);
out:
	BASIC_CONSTRAINTS_free(bc);
	sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
	return rc;
}

/* SKI by RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey bits. AKI: the issuer's
 * SKI. */
static int
add_key_ids(struct signer *s, X509 *x)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
	AUTHORITY_KEYID *akid = AUTHORITY_KEYID_new();
	int rc = DEED_ENOMEM;

	if (ski == NULL || akid == NULL)
		goto out;
	if (X509_pubkey_digest(x, EVP_sha1(), md, &mdlen) != 1) {
		rc = DEED_ECRYPTO;
		goto out;
	}
	if (ASN1_OCTET_STRING_set(ski, md, (int)mdlen) != 1 ||
	    (akid->keyid = ASN1_OCTET_STRING_dup(s->issuer_kid)) == NULL)
		goto out;
	if ((rc = add_ext(x, NID_subject_key_identifier, ski, 0)) != DEED_OK)
		goto out;
	rc = add_ext(x, NID_authority_key_identifier, akid, 0);
out:
	ASN1_OCTET_STRING_free(ski);
	AUTHORITY_KEYID_free(akid);
	return rc;
}

static int
set_times(X509 *x, int64_t nb, int64_t na)
{
	ASN1_TIME *t;
	int ok;

	/* ASN1_TIME_set picks UTCTime through 2049 and GeneralizedTime after, as RFC 5280
	 * §4.1.2.5 requires. */
	if ((t = ASN1_TIME_set(NULL, (time_t)nb)) == NULL)
		return DEED_ECRYPTO;
	ok = X509_set1_notBefore(x, t);
	ASN1_TIME_free(t);
	if (ok != 1 || (t = ASN1_TIME_set(NULL, (time_t)na)) == NULL)
		return DEED_ECRYPTO;
	ok = X509_set1_notAfter(x, t);
	ASN1_TIME_free(t);
	return ok == 1 ? DEED_OK : DEED_ECRYPTO;
}

static int
encode_tbs(X509 *x, uint8_t **out, size_t *len)
{
	unsigned char *p;
	int n;

	*out = NULL;
	if ((n = i2d_re_X509_tbs(x, NULL)) <= 0)
		return DEED_ECRYPTO;
	if ((*out = malloc((size_t)n)) == NULL)
		return DEED_ENOMEM;
	p = *out;
	if (i2d_re_X509_tbs(x, &p) != n) {
		free(*out);
		*out = NULL;
		return DEED_ECRYPTO;
	}
	*len = (size_t)n;
	return DEED_OK;
}

static bool
req_ok(const struct signer *s, const struct signer_req *req)
{
	if (req == NULL || req->pubkey == NULL || req->names == NULL || req->n_names == 0)
		return false;
	for (size_t i = 0; i < req->n_names; i++)
		if (req->names[i] == NULL || req->names[i][0] == '\0' ||
		    strlen(req->names[i]) > 253)
			return false;
	if (req->cn != NULL && (req->cn[0] == '\0' || strlen(req->cn) > CN_MAX))
		return false;
	/* A certificate outliving its issuer would fail path validation at the end. */
	return req->serial[0] != 0 && req->serial[0] < 0x80 && req->not_after > req->not_before &&
	       req->not_after <= s->issuer_not_after;
}

/*
 * The subject public key. Copying the CSR's SubjectPublicKeyInfo (algorithm, parameters, key
 * bits) is what a certificate must carry, and costs a fraction of encoding the key anew
 * (X509_set_pubkey runs OpenSSL's encoders, a third of the signer's time in a profile).
 * Returns 1 on success, as OpenSSL's setters do.
 */
static int
set_spki(X509 *x, const struct signer_req *req)
{
	const unsigned char *bits;
	X509_ALGOR *pa;
	int blen;

	if (req->spki == NULL ||
	    X509_PUBKEY_get0_param(NULL, &bits, &blen, &pa, (X509_PUBKEY *)req->spki) != 1 ||
	    pa == NULL)
		return X509_set_pubkey(x, req->pubkey);
	switch (spki_set_parts(X509_get_X509_PUBKEY(x), pa, bits, blen)) {
	case 1:
		return 1;
	case 0:
		return X509_set_pubkey(x, req->pubkey); /* parameters we would have to copy */
	}
	return 0;
}

int
signer_prepare(struct signer *s, const struct signer_req *req, X509 **xout, uint8_t **tbs,
	       size_t *tbs_len)
{
	X509 *x = NULL;
	X509_NAME *subj = NULL;
	ASN1_INTEGER *serial = NULL;
	int rc = DEED_EINVAL;

	*xout = NULL;
	*tbs = NULL;
	*tbs_len = 0;
	if (!req_ok(s, req))
		goto out;
	rc = DEED_ENOMEM;
	if ((x = X509_new()) == NULL || (subj = X509_NAME_new()) == NULL ||
	    (serial = ASN1_INTEGER_new()) == NULL)
		goto out;
	if (ASN1_STRING_set(serial, req->serial, 20) != 1)
		goto out;
	/* RFC 5280 §4.1.2.6: with no CN the subject is an empty sequence and the SAN carries
	 * the identity, so it must be critical (§4.2.1.6). */
	if (req->cn != NULL &&
	    X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
				       (const unsigned char *)req->cn, -1, -1, 0) != 1)
		goto out;
	rc = DEED_ECRYPTO;
	if (X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_issuer_name(x, s->issuer_name) != 1 || X509_set_subject_name(x, subj) != 1 ||
	    set_spki(x, req) != 1)
		goto out;
	/* The TBS carries the signature algorithm too (RFC 5280 §4.1.2.3); fill it now so the
	 * TBS returned is the one signed. There is no setter for it, but the object is ours. */
	if (X509_ALGOR_copy((X509_ALGOR *)X509_get0_tbs_sigalg(x), s->sigalg) != 1)
		goto out;
	if ((rc = set_times(x, req->not_before, req->not_after)) != DEED_OK ||
	    (rc = add_key_usage(x, req->pubkey)) != DEED_OK ||
	    (rc = add_leaf_constraints(x)) != DEED_OK || (rc = add_key_ids(s, x)) != DEED_OK ||
	    (rc = add_san(x, req, req->cn == NULL)) != DEED_OK)
		goto out;
	if ((rc = encode_tbs(x, tbs, tbs_len)) != DEED_OK)
		goto out;
	*xout = x;
	x = NULL;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	X509_free(x);
	X509_NAME_free(subj);
	ASN1_INTEGER_free(serial);
	return rc;
}

/*
 * Safe from many threads at once: each call signs through its own EVP_MD_CTX/EVP_PKEY_CTX
 * and only reads the shared key (openssl-threads(7): two threads can sign with two contexts).
 */
int
signer_sign(struct signer *s, X509 *x, uint8_t **der, size_t *der_len)
{
	uint8_t *before = NULL, *after = NULL;
	size_t blen = 0, alen = 0;
	unsigned char *p;
	int n, rc;

	*der = NULL;
	*der_len = 0;
	if ((rc = encode_tbs(x, &before, &blen)) != DEED_OK)
		goto out;
	rc = DEED_ECRYPTO;
	if (X509_sign(x, s->key, s->md) <= 0)
		goto out;
	/* The RA stored the TBS from signer_prepare as the record of what we sign; refuse to
	 * hand out anything else. The verify catches a faulty signature (a fault in ECDSA
	 * signing can leak the key) before it leaves the process. */
	if ((rc = encode_tbs(x, &after, &alen)) != DEED_OK)
		goto out;
	rc = DEED_ECRYPTO;
	if (alen != blen || memcmp(before, after, blen) != 0 ||
	    X509_verify(x, X509_get0_pubkey(s->issuer)) != 1)
		goto out;
	if ((n = i2d_X509(x, NULL)) <= 0)
		goto out;
	rc = DEED_ENOMEM;
	if ((*der = malloc((size_t)n)) == NULL)
		goto out;
	p = *der;
	if (i2d_X509(x, &p) != n) {
		free(*der);
		*der = NULL;
		rc = DEED_ECRYPTO;
		goto out;
	}
	*der_len = (size_t)n;
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		ERR_clear_error();
	free(before);
	free(after);
	return rc;
}

const char *
signer_chain_pem(const struct signer *s)
{
	return s->chain_pem;
}

X509 *
signer_issuer(const struct signer *s)
{
	return s->issuer;
}
