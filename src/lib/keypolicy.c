#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "error.h"
#include "jwk.h"
#include "keypolicy.h"
#include "spki.h"

/* Every refusal here is DEED_EBADKEY with a reason. */
#define keypolicy_refuse(err, errlen, ...) deed_fail(DEED_EBADKEY, (err), (errlen), __VA_ARGS__)

/*
 * Boulder's goodkey trial-divides RSA moduli by the primes up to 751: a product of two
 * large primes has no such factor, so one found means a broken generator, and the test
 * costs microseconds.
 */
#define KEYPOLICY_SMALL_PRIME_MAX 751

static bool
keypolicy_is_prime(unsigned int p)
{
	unsigned int d;

	for (d = 2; d * d <= p; d++)
		if (p % d == 0)
			return false;
	return p >= 2;
}

static bool
keypolicy_small_factor(const BIGNUM *n)
{
	unsigned int p;

	for (p = 2; p <= KEYPOLICY_SMALL_PRIME_MAX; p++)
		if (keypolicy_is_prime(p) && BN_mod_word(n, p) == 0)
			return true;
	return false;
}

/*
 * Fermat's method: n = a² − b² = (a − b)(a + b), so if p and q are close, a = (p + q)/2 is
 * just above √n and a² − n is a square after few steps from a = ⌈√n⌉. About
 * (p − q)² / (8√n) steps are needed: KEYPOLICY_FERMAT_ROUNDS catches |p − q| up to roughly
 * 30·n^¼, which a sound generator never produces (FIPS 186-5 B.3.3 demands
 * |p − q| > 2^(bits/2 − 100)) and a broken one (the 2022 Fujifilm/Canon printer keys) does.
 */

/* Quadratic residues mod 64, 63, 65 and 11: under 1 % of non-squares pass all four, so
 * Newton's square root runs on almost no round. */
#define KEYPOLICY_SQ_MOD (64UL * 63UL * 65UL * 11UL)

struct keypolicy_sqfilter {
	bool m64[64], m63[63], m65[65], m11[11];
};

static void
keypolicy_sqfilter_init(struct keypolicy_sqfilter *f)
{
	unsigned int x;

	memset(f, 0, sizeof(*f));
	/* x and m - x have the same square: x < 64 reaches every residue of each modulus */
	for (x = 0; x < 64; x++) {
		f->m64[x * x % 64] = true;
		f->m63[x * x % 63] = true;
		f->m65[x * x % 65] = true;
		f->m11[x * x % 11] = true;
	}
}

/* r = ⌊√m⌋ by Newton's method. x starts at a power of two not below √m, and the iteration
 * x ← ⌊(x + ⌊m/x⌋)/2⌋ then decreases strictly until it reaches ⌊√m⌋. */
static int
keypolicy_isqrt(BIGNUM *r, const BIGNUM *m, BN_CTX *ctx)
{
	BIGNUM *x, *y;
	int ok = 0;

	BN_CTX_start(ctx);
	x = BN_CTX_get(ctx);
	if ((y = BN_CTX_get(ctx)) == NULL)
		goto out;
	if (BN_is_zero(m)) {
		BN_zero(r);
		ok = 1;
		goto out;
	}
	BN_zero(x);
	if (!BN_set_bit(x, (BN_num_bits(m) + 1) / 2))
		goto out;
	for (;;) {
		if (!BN_div(y, NULL, m, x, ctx) || !BN_add(y, y, x) || !BN_rshift1(y, y))
			goto out;
		if (BN_cmp(y, x) >= 0)
			break;
		if (BN_copy(x, y) == NULL)
			goto out;
	}
	ok = BN_copy(r, x) != NULL;
out:
	BN_CTX_end(ctx);
	return ok;
}

/* *sq = whether m (≥ 0) is a perfect square. Returns 1, or 0 if OpenSSL failed. */
static int
keypolicy_is_square(const BIGNUM *m, const struct keypolicy_sqfilter *f, bool *sq, BN_CTX *ctx)
{
	BN_ULONG w;
	BIGNUM *s;
	int ok = 0;

	*sq = false;
	if ((w = BN_mod_word(m, KEYPOLICY_SQ_MOD)) == (BN_ULONG)-1)
		return 0;
	if (!f->m64[w % 64] || !f->m63[w % 63] || !f->m65[w % 65] || !f->m11[w % 11])
		return 1;
	BN_CTX_start(ctx);
	if ((s = BN_CTX_get(ctx)) == NULL || !keypolicy_isqrt(s, m, ctx) || !BN_sqr(s, s, ctx))
		goto out;
	*sq = BN_cmp(s, m) == 0;
	ok = 1;
out:
	BN_CTX_end(ctx);
	return ok;
}

/* *weak = whether Fermat's method factors n within rounds steps. Returns DEED_OK or
 * DEED_ECRYPTO. */
static int
keypolicy_fermat(const BIGNUM *n, unsigned int rounds, bool *weak)
{
	struct keypolicy_sqfilter f;
	BIGNUM *a, *b2, *t;
	BN_CTX *ctx;
	unsigned int i;
	int rc = DEED_ECRYPTO;

	*weak = false;
	keypolicy_sqfilter_init(&f);
	if ((ctx = BN_CTX_new()) == NULL)
		return DEED_ECRYPTO;
	BN_CTX_start(ctx);
	a = BN_CTX_get(ctx);
	b2 = BN_CTX_get(ctx);
	if ((t = BN_CTX_get(ctx)) == NULL)
		goto out;
	/* a = ⌈√n⌉, b2 = a² − n */
	if (!keypolicy_isqrt(a, n, ctx) || !BN_sqr(t, a, ctx))
		goto out;
	if (BN_cmp(t, n) < 0 && (!BN_add_word(a, 1) || !BN_sqr(t, a, ctx)))
		goto out;
	if (!BN_sub(b2, t, n))
		goto out;
	for (i = 0; i < rounds; i++) {
		if (!keypolicy_is_square(b2, &f, weak, ctx))
			goto out;
		if (*weak)
			break;
		/* (a + 1)² − n = b2 + 2a + 1 */
		if (!BN_lshift1(t, a) || !BN_add_word(t, 1) || !BN_add(b2, b2, t) ||
		    !BN_add_word(a, 1))
			goto out;
	}
	rc = DEED_OK;
out:
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return rc;
}

/*
 * ROCA (Nemec et al., "The Return of Coppersmith's Attack", CCS 2017; CVE-2017-15361):
 * Infineon's RSALib made primes p = k·M + (65537^a mod M) with M the product of the first
 * primes, so n mod r lies in the subgroup 65537 generates in (Z/rZ)* for each prime r | M.
 * M holds every prime up to 701 for moduli of 1984 bits and more, which covers every size
 * keypolicy_rsa lets through: testing all of them, a random modulus passes with probability
 * about 2^-167 (the product of |<65537>| / (r - 1)), an RSALib one always. (The published
 * detector stops at 167 to cover 512-bit keys too, at a 2^-28 false-positive rate.)
 */
#define KEYPOLICY_ROCA_PRIME_MAX 701

static bool
keypolicy_roca(const BIGNUM *n)
{
	unsigned int g, r, x, res;
	bool in;

	for (r = 3; r <= KEYPOLICY_ROCA_PRIME_MAX; r += 2) {
		if (!keypolicy_is_prime(r))
			continue;
		res = (unsigned int)BN_mod_word(n, r);
		g = 65537 % r;
		/* walk the cyclic subgroup <g>, at most r - 1 steps; a random modulus usually
		 * leaves it within the first few primes */
		in = false;
		x = 1;
		do {
			if (x == res) {
				in = true;
				break;
			}
			x = x * g % r;
		} while (x != 1);
		if (!in)
			return false;
	}
	return true;
}

/*
 * Fixed sizes rather than a minimum: they are what the CA/Browser Forum Baseline
 * Requirements §6.1.5 allow and what every client generates, and an upper bound keeps a
 * hostile 16384-bit key from making each verification (and the Fermat check below)
 * expensive. A single exponent, 65537, rules out e = 1 and the small-exponent pitfalls;
 * Let's Encrypt refuses others too. The modulus checks run cheapest first.
 */
static int
keypolicy_rsa(EVP_PKEY *pkey, char *err, size_t errlen)
{
	BIGNUM *n = NULL, *e = NULL;
	int bits, rc = DEED_EBADKEY;
	bool weak;

	bits = EVP_PKEY_get_bits(pkey);
	if (bits != 2048 && bits != 3072 && bits != 4096) {
		keypolicy_refuse(err, errlen, "RSA keys must be 2048, 3072 or 4096 bits, got %d",
				 bits);
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1 || !BN_is_word(e, 65537)) {
		keypolicy_refuse(err, errlen, "RSA public exponent must be 65537");
		goto out;
	}
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
	    keypolicy_small_factor(n)) {
		keypolicy_refuse(err, errlen, "RSA modulus has a small prime factor");
		goto out;
	}
	if (keypolicy_fermat(n, KEYPOLICY_FERMAT_ROUNDS, &weak) != DEED_OK) {
		rc = deed_fail(DEED_ECRYPTO, err, errlen, "cannot check the RSA modulus");
		goto out;
	}
	if (weak) {
		keypolicy_refuse(err, errlen,
				 "RSA modulus can be factored (Fermat): primes too close");
		goto out;
	}
	if (keypolicy_roca(n)) {
		keypolicy_refuse(err, errlen,
				 "RSA modulus has the ROCA fingerprint (Infineon "
				 "RSALib weak key, CVE-2017-15361)");
		goto out;
	}
	rc = DEED_OK;
out:
	BN_free(n);
	BN_free(e);
	return rc;
}

/*
 * EC public-key validation for CSR keys, which reach here straight from DER (jwk_from_json
 * checks JWS keys itself). The curves allowed, P-256, P-384 and P-521, have cofactor 1: every
 * point on them but infinity has the group's prime order, so the partial check (SP 800-56A
 * §5.6.2.3.4: not infinity, coordinates in range, on the curve) is a full validation; the
 * n·Q = O test EVP_PKEY_public_check adds is a scalar multiplication that cannot fail here.
 */
static int
keypolicy_ec(EVP_PKEY *pkey, char *err, size_t errlen)
{
	EVP_PKEY_CTX *ctx = NULL;
	int rc = DEED_EBADKEY;

	if ((ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_public_check_quick(ctx) != 1) {
		keypolicy_refuse(err, errlen, "EC public key is not a valid curve point");
		goto out;
	}
	rc = DEED_OK;
out:
	ERR_clear_error();
	EVP_PKEY_CTX_free(ctx);
	return rc;
}

int
keypolicy_check(EVP_PKEY *pkey, enum keypolicy_use use, char *err, size_t errlen)
{
	enum jwk_kty kty;
	int rc;

	if (pkey == NULL)
		return keypolicy_refuse(err, errlen, "no key");
	if (jwk_pkey_kty(pkey, &kty) != DEED_OK) {
		const char *name = EVP_PKEY_get0_type_name(pkey);

		if (EVP_PKEY_is_a(pkey, "EC"))
			rc = keypolicy_refuse(
			    err, errlen, "EC keys must be on P-256 or P-384 (P-521 for accounts)");
		else
			rc = keypolicy_refuse(err, errlen, "%s keys are not accepted",
					      name != NULL ? name : "unknown");
		ERR_clear_error();
		return rc;
	}

	switch (kty) {
	case JWK_RSA:
		rc = keypolicy_rsa(pkey, err, errlen);
		ERR_clear_error();
		return rc;
	case JWK_EC_P256:
	case JWK_EC_P384:
		return keypolicy_ec(pkey, err, errlen);
	case JWK_EC_P521:
		/*
		 * Baseline Requirements §6.1.5 allow only P-256 and P-384 in certificates; an
		 * account key never leaves the ACME exchange, so P-521 (ES512) is fine there.
		 */
		if (use != KEYPOLICY_ACCOUNT)
			return keypolicy_refuse(err, errlen,
						"P-521 keys are accepted for accounts only");
		return keypolicy_ec(pkey, err, errlen);
	case JWK_ED25519:
		/* Same reason: publicly trusted certificates cannot carry Ed25519 keys. */
		if (use != KEYPOLICY_ACCOUNT)
			return keypolicy_refuse(err, errlen,
						"Ed25519 keys are accepted for accounts only");
		return DEED_OK;
	}
	return keypolicy_refuse(err, errlen, "key type not accepted");
}

static int
keypolicy_hash_cmp(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

void
keypolicy_blocklist_sort(uint8_t (*hashes)[32], size_t n)
{
	if (hashes != NULL && n > 1)
		qsort(hashes, n, sizeof(hashes[0]), keypolicy_hash_cmp);
}

/* Whether bl blocks pkey; the hash is computed only when there is a list to look it up in. */
static int
keypolicy_blocked(EVP_PKEY *pkey, const struct keypolicy_blocklist *bl, char *err, size_t errlen)
{
	uint8_t h[32];
	int rc;

	if (bl == NULL || (bl->n == 0 && bl->lookup == NULL))
		return DEED_OK;
	if (bl->n > 0 && bl->hashes == NULL)
		return deed_fail(DEED_EINVAL, err, errlen, "blocked-keys list has no hashes");
	if ((rc = keypolicy_spki_sha256(pkey, h)) != DEED_OK)
		return deed_fail(rc, err, errlen, "cannot encode the public key");
	if (bl->n > 0 &&
	    bsearch(h, bl->hashes, bl->n, sizeof(bl->hashes[0]), keypolicy_hash_cmp) != NULL)
		return keypolicy_refuse(err, errlen, "public key is forbidden (blocked)");
	if (bl->lookup == NULL)
		return DEED_OK;
	rc = bl->lookup(bl->arg, h);
	if (rc == DEED_OK)
		return keypolicy_refuse(err, errlen, "public key is forbidden (blocked)");
	if (rc != DEED_ENOTFOUND)
		return deed_fail(rc, err, errlen, "cannot check the blocked-keys list");
	return DEED_OK;
}

int
keypolicy_check_blocklist(EVP_PKEY *pkey, enum keypolicy_use use,
			  const struct keypolicy_blocklist *bl, char *err, size_t errlen)
{
	int rc;

	if ((rc = keypolicy_check(pkey, use, err, errlen)) != DEED_OK)
		return rc;
	return keypolicy_blocked(pkey, bl, err, errlen);
}

/*
 * An EC point can be encoded compressed or uncompressed, and OpenSSL re-encodes a key in the
 * form it was decoded from. Hashing the uncompressed form gives each key one hash, the one a
 * JWK (always x and y) or a usual CSR yields.
 */
static int
keypolicy_canonical(EVP_PKEY *pkey, EVP_PKEY **canon)
{
	char form[32];
	size_t flen = 0;

	*canon = NULL;
	if (!EVP_PKEY_is_a(pkey, "EC"))
		return DEED_OK;
	if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, form,
					   sizeof(form), &flen) == 1 &&
	    strcmp(form, "uncompressed") == 0)
		return DEED_OK;
	if ((*canon = EVP_PKEY_dup(pkey)) == NULL ||
	    EVP_PKEY_set_utf8_string_param(*canon, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
					   "uncompressed") != 1) {
		EVP_PKEY_free(*canon);
		*canon = NULL;
		return DEED_ECRYPTO;
	}
	return DEED_OK;
}

int
keypolicy_spki_sha256(EVP_PKEY *pkey, uint8_t out[32])
{
	EVP_PKEY *canon = NULL;
	unsigned char *der = NULL;
	unsigned int hlen = 0;
	int len, rc;

	if (pkey == NULL || out == NULL)
		return DEED_EINVAL;
	if ((rc = keypolicy_canonical(pkey, &canon)) != DEED_OK)
		goto out;
	rc = DEED_ECRYPTO;
	if ((len = spki_i2d(canon != NULL ? canon : pkey, &der)) <= 0)
		goto out;
	if (EVP_Digest(der, (size_t)len, out, &hlen, EVP_sha256(), NULL) != 1 || hlen != 32)
		goto out;
	rc = DEED_OK;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_PKEY_free(canon);
	return rc;
}

/* An operator's key, certificate or CSR file; a chain or a key with its certificate fits. */
#define KEYPOLICY_PEM_MAX (64 * 1024)

/* The public key in one decoded PEM block named name, or NULL (not a key-bearing block, or
 * it does not decode: *bad tells). */
static EVP_PKEY *
keypolicy_pem_key(const char *name, const char *header, const unsigned char *data, long dlen,
		  bool *bad)
{
	const unsigned char *p = data;
	EVP_PKEY *pkey = NULL;
	X509_REQ *req = NULL;
	X509 *x = NULL;

	*bad = true;
	if (strcmp(name, PEM_STRING_PUBLIC) == 0)
		pkey = d2i_PUBKEY(NULL, &p, dlen);
	else if (strcmp(name, PEM_STRING_RSA_PUBLIC) == 0)
		pkey = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, dlen);
	else if (strcmp(name, PEM_STRING_X509) == 0) {
		if ((x = d2i_X509(NULL, &p, dlen)) != NULL)
			pkey = X509_get_pubkey(x);
	} else if (strcmp(name, PEM_STRING_X509_REQ) == 0 ||
		   strcmp(name, PEM_STRING_X509_REQ_OLD) == 0) {
		if ((req = d2i_X509_REQ(NULL, &p, dlen)) != NULL)
			pkey = X509_REQ_get_pubkey(req);
	} else if (strcmp(name, PEM_STRING_PKCS8INF) == 0 || strcmp(name, PEM_STRING_RSA) == 0 ||
		   strcmp(name, PEM_STRING_ECPRIVATEKEY) == 0) {
		/* a Proc-Type header means an encrypted traditional key: no passphrase here */
		if (header[0] == '\0')
			pkey = d2i_AutoPrivateKey(NULL, &p, dlen);
	} else
		*bad = false;
	X509_free(x);
	X509_REQ_free(req);
	return pkey;
}

int
keypolicy_spki_sha256_pem(const char *pem, size_t len, uint8_t out[32], char *err, size_t errlen)
{
	char *name = NULL, *header = NULL;
	unsigned char *data = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	long dlen = 0;
	bool bad = false;
	int rc = DEED_EMALFORMED;

	if (pem == NULL || out == NULL)
		return deed_fail(DEED_EINVAL, err, errlen, "no PEM text");
	if (len > KEYPOLICY_PEM_MAX)
		return deed_fail(DEED_ETOOBIG, err, errlen, "PEM text over %d bytes",
				 KEYPOLICY_PEM_MAX);
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL)
		return deed_fail(DEED_ENOMEM, err, errlen, "out of memory");
	while (pkey == NULL && !bad && PEM_read_bio(bio, &name, &header, &data, &dlen) == 1) {
		pkey = keypolicy_pem_key(name, header, data, dlen, &bad);
		if (bad && pkey == NULL)
			deed_seterr(err, errlen, "PEM block %s does not decode%s", name,
				    header[0] != '\0' ? " (encrypted?)" : "");
		OPENSSL_free(name);
		OPENSSL_free(header);
		OPENSSL_free(data);
		name = header = NULL;
		data = NULL;
	}
	if (pkey == NULL) {
		if (!bad)
			deed_seterr(err, errlen,
				    "no PEM public key, certificate, CSR or "
				    "unencrypted private key");
		goto out;
	}
	if ((rc = keypolicy_spki_sha256(pkey, out)) != DEED_OK)
		deed_seterr(err, errlen, "cannot encode the public key");
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

static int
keypolicy_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
keypolicy_sha256_from_hex(const char *hex, uint8_t out[32])
{
	int hi, lo;
	size_t i;

	if (hex == NULL || out == NULL)
		return DEED_EMALFORMED;
	for (i = 0; i < 32; i++) {
		/* hex[2i] is checked before hex[2i+1] is read: a short string stops at its NUL */
		if ((hi = keypolicy_hexval(hex[2 * i])) < 0 ||
		    (lo = keypolicy_hexval(hex[2 * i + 1])) < 0)
			return DEED_EMALFORMED;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return hex[64] == '\0' ? DEED_OK : DEED_EMALFORMED;
}

void
keypolicy_sha256_to_hex(const uint8_t hash[32], char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < 32; i++) {
		hex[2 * i] = digits[hash[i] >> 4];
		hex[2 * i + 1] = digits[hash[i] & 0xf];
	}
	hex[64] = '\0';
}
