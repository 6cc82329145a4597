#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "error.h"
#include "keypolicy.h"

/* Check pkey for both uses; expect acct and cert codes. */
static void
expect(EVP_PKEY *pkey, int acct, int cert)
{
	char err[160];

	assert_non_null(pkey);
	err[0] = '\0';
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), acct);
	if (acct != DEED_OK)
		assert_true(strlen(err) > 0);
	err[0] = '\0';
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_CERT, err, sizeof(err)), cert);
	if (cert != DEED_OK)
		assert_true(strlen(err) > 0);
	EVP_PKEY_free(pkey);
}

/* An RSA (or RSA-PSS) key of bits with public exponent e. */
static EVP_PKEY *
rsa_key(const char *type, unsigned int bits, unsigned int e)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = BN_new();

	assert_non_null(ctx);
	assert_non_null(bn);
	assert_int_equal(BN_set_word(bn, e), 1);
	assert_int_equal(EVP_PKEY_keygen_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, (int)bits), 1);
	assert_int_equal(EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn), 1);
	assert_int_equal(EVP_PKEY_generate(ctx, &pkey), 1);
	BN_free(bn);
	EVP_PKEY_CTX_free(ctx);
	return pkey;
}

static void
test_accepts_rsa_2048_3072_4096_for_both_uses(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)4096), DEED_OK, DEED_OK);
}

static void
test_refuses_rsa_1024_with_reason(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	char err[160] = "";

	assert_non_null(pkey);
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, "RSA keys must be 2048, 3072 or 4096 bits, got 1024");
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_CERT, NULL, 0), DEED_EBADKEY);
	EVP_PKEY_free(pkey);
}

static void
test_refuses_rsa_sizes_between_the_allowed_ones(void **state)
{
	expect(rsa_key("RSA", 2304, 65537), DEED_EBADKEY, DEED_EBADKEY);
}

static void
test_refuses_rsa_exponent_other_than_65537(void **state)
{
	EVP_PKEY *pkey = rsa_key("RSA", 2048, 3);
	char err[160] = "";

	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_non_null(strstr(err, "65537"));
	EVP_PKEY_free(pkey);
}

/* A public RSA key with modulus n and exponent 65537. */
static EVP_PKEY *
rsa_pub(const BIGNUM *n)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY *pkey = NULL;
	OSSL_PARAM *params;
	BIGNUM *e = BN_new();

	assert_non_null(bld);
	assert_non_null(ctx);
	assert_int_equal(BN_set_word(e, 65537), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n), 1);
	assert_int_equal(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e), 1);
	params = OSSL_PARAM_BLD_to_param(bld);
	assert_non_null(params);
	assert_int_equal(EVP_PKEY_fromdata_init(ctx), 1);
	assert_int_equal(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params), 1);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(e);
	return pkey;
}

static void
test_refuses_rsa_modulus_with_small_prime_factor(void **state)
{
	BIGNUM *m = BN_new(), *n = BN_new();
	EVP_PKEY *pkey;
	char err[160] = "";

	/* 751 times a random odd number, sized so the product has exactly 2048 bits */
	assert_non_null(m);
	assert_non_null(n);
	do {
		assert_int_equal(BN_rand(m, 2039, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD), 1);
		assert_int_equal(BN_copy(n, m) != NULL, 1);
		assert_int_equal(BN_mul_word(n, 751), 1);
	} while (BN_num_bits(n) != 2048);
	pkey = rsa_pub(n);
	assert_int_equal(keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, "RSA modulus has a small prime factor");
	EVP_PKEY_free(pkey);
	BN_free(m);
	BN_free(n);
}

/* A random 1024-bit prime with its top two bits set, so that a product of two has 2048. */
static BIGNUM *
prime_1024(void)
{
	BIGNUM *p = BN_new();

	assert_non_null(p);
	assert_int_equal(BN_generate_prime_ex(p, 1024, 0, NULL, NULL, NULL), 1);
	return p;
}

/* The least prime >= p + 2^shift. */
static BIGNUM *
prime_after(const BIGNUM *p, int shift)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *q = BN_new(), *d = BN_new();

	assert_non_null(ctx);
	assert_non_null(q);
	assert_non_null(d);
	assert_int_equal(BN_lshift(d, BN_value_one(), shift), 1);
	assert_int_equal(BN_add(q, p, d), 1);
	if (!BN_is_odd(q))
		assert_int_equal(BN_add_word(q, 1), 1);
	while (BN_check_prime(q, ctx, NULL) != 1)
		assert_int_equal(BN_add_word(q, 2), 1);
	BN_free(d);
	BN_CTX_free(ctx);
	return q;
}

/* keypolicy_check (account use) of the public key p·q; err gets the reason. */
static int
check_pq(const BIGNUM *p, const BIGNUM *q, char *err, size_t errlen)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *n = BN_new();
	EVP_PKEY *pkey;
	int rc;

	assert_non_null(ctx);
	assert_non_null(n);
	assert_int_equal(BN_mul(n, p, q, ctx), 1);
	assert_int_equal(BN_num_bits(n), 2048);
	pkey = rsa_pub(n);
	err[0] = '\0';
	rc = keypolicy_check(pkey, KEYPOLICY_ACCOUNT, err, errlen);
	EVP_PKEY_free(pkey);
	BN_free(n);
	BN_CTX_free(ctx);
	return rc;
}

#define FERMAT_REASON "RSA modulus can be factored (Fermat): primes too close"

/*
 * Fermat's method needs about (q − p)² / (8√n) steps, √n ∈ [0.75, 1)·2^1024 here. The
 * distances below put that at ~0 steps (2^100), 33..43 steps (2^516: found only if the
 * rounds really advance) and 129..171 steps (2^517: beyond the 110 rounds, so accepted).
 */
static void
test_refuses_rsa_2048_with_close_primes(void **state)
{
	BIGNUM *p = prime_1024(), *q = prime_after(p, 100);
	char err[160];

	assert_int_equal(check_pq(p, q, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, FERMAT_REASON);
	BN_free(p);
	BN_free(q);
}

static void
test_refuses_close_primes_found_after_dozens_of_rounds(void **state)
{
	BIGNUM *p = prime_1024(), *q = prime_after(p, 516);
	char err[160];

	assert_int_equal(check_pq(p, q, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, FERMAT_REASON);
	BN_free(p);
	BN_free(q);
}

static void
test_accepts_primes_beyond_the_fermat_rounds(void **state)
{
	BIGNUM *p = prime_1024(), *q = prime_after(p, 517);
	char err[160];

	assert_int_equal(check_pq(p, q, err, sizeof(err)), DEED_OK);
	BN_free(p);
	BN_free(q);
}

static void
test_refuses_square_modulus(void **state)
{
	BIGNUM *p = prime_1024();
	char err[160];

	assert_int_equal(check_pq(p, p, err, sizeof(err)), DEED_EBADKEY);
	assert_string_equal(err, FERMAT_REASON);
	BN_free(p);
}

/*
 * A prime as Infineon's RSALib made them: k·M + (65537^a mod M), M the product of the primes
 * up to 701 (the M it used for 1984- to 3936-bit keys), k and a random; 1024 bits, top two
 * set.
 */
static BIGNUM *
roca_prime(void)
{
	BN_CTX *ctx = BN_CTX_new();
	BIGNUM *m = BN_new(), *g = BN_new(), *a = BN_new(), *k = BN_new(), *p = BN_new();
	unsigned int r, d;

	assert_non_null(ctx);
	assert_non_null(m);
	assert_non_null(g);
	assert_non_null(a);
	assert_non_null(k);
	assert_non_null(p);
	assert_int_equal(BN_one(m), 1);
	for (r = 2; r <= 701; r++) {
		for (d = 2; d * d <= r && r % d != 0; d++)
			;
		if (d * d > r)
			assert_int_equal(BN_mul_word(m, r), 1);
	}
	assert_int_equal(BN_set_word(g, 65537), 1);
	do {
		assert_int_equal(BN_rand(a, 64, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY), 1);
		assert_int_equal(BN_mod_exp(a, g, a, m, ctx), 1);
		assert_int_equal(
		    BN_rand(k, 1024 - BN_num_bits(m), BN_RAND_TOP_TWO, BN_RAND_BOTTOM_ANY), 1);
		assert_int_equal(BN_mul(p, k, m, ctx), 1);
		assert_int_equal(BN_add(p, p, a), 1);
	} while (BN_num_bits(p) != 1024 || !BN_is_bit_set(p, 1022) ||
		 BN_check_prime(p, ctx, NULL) != 1);
	BN_free(m);
	BN_free(g);
	BN_free(a);
	BN_free(k);
	BN_CTX_free(ctx);
	return p;
}

static void
test_refuses_roca_fingerprint(void **state)
{
	BIGNUM *p = roca_prime(), *q = roca_prime();
	char err[160];

	assert_int_equal(check_pq(p, q, err, sizeof(err)), DEED_EBADKEY);
	assert_non_null(strstr(err, "ROCA"));
	BN_free(p);
	BN_free(q);
}

/* One RSALib-shaped prime is not enough: the fingerprint is about n, not its coprimality. */
static void
test_accepts_modulus_with_one_roca_shaped_prime(void **state)
{
	BIGNUM *p = roca_prime(), *q = prime_1024();
	char err[160];

	assert_int_equal(check_pq(p, q, err, sizeof(err)), DEED_OK);
	BN_free(p);
	BN_free(q);
}

/* Written with `openssl genpkey`; the hashes are `openssl pkey -pubin -outform DER |
 * sha256sum` of each. The compressed key is the P-256 one with its point compressed
 * (`openssl ec -pubin -conv_form compressed`), whose DER hashes to 3ad6a55c…. */
static const char fixed_p256[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEUamdDI04mK9Wh3EJfAw37m9wSBgi\n"
    "1V7U7wJm6Osfef2QmLCQzlMMdLYZFmMOufwIUhelBHnJHmtqnt+3wlQaVw==\n"
    "-----END PUBLIC KEY-----\n";
static const char fixed_p256_hash[] =
    "bc1ffa82d5aa489954232899e85d9b352e1641087f6ea3f8f52a994360b29d02";
static const char fixed_p256_compressed[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MDkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDIgADUamdDI04mK9Wh3EJfAw37m9wSBgi\n"
    "1V7U7wJm6Osfef0=\n"
    "-----END PUBLIC KEY-----\n";
static const char fixed_rsa[] = "-----BEGIN PUBLIC KEY-----\n"
				"MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA3eEs9YLu9oxKDZCS7Mkk\n"
				"fVVT1oxxDpZ++5AYEDvqhJ6EuvrBXIJ2pWS/E1+lB0/0Ttx+pgCRFHRYuj8543TK\n"
				"T5RBy+zmppuPHAy3Q9WWW/XbkjSjNDKsp1rTzUZhbcYyc8cnZy6XxqhBrAy9931r\n"
				"WBRPab9g9vFcYcBUYURUbUXx3IGz+Nb6WXvdoa1W16o1NiNF+hCD1wtW6InWqmYO\n"
				"XNcgEloO5pE4yU21Ee13KEg+5tFThHsWIu+MzUYdLxGHVY+Tvi1uWCp5LrDjSUB3\n"
				"3+CI9ngOMhYgHgMntqxzFMkYPx1sOF2NrF/XfJmvR98lw+3Zx2Gs3nOvzbgsKfSM\n"
				"QwIDAQAB\n"
				"-----END PUBLIC KEY-----\n";
static const char fixed_rsa_hash[] =
    "2f62bb00891cc94a37be5b307be8256415894f24a930d29bee024cc0e9422033";

static EVP_PKEY *
pem_pub(const char *pem)
{
	BIO *bio = BIO_new_mem_buf(pem, -1);
	EVP_PKEY *pkey;

	assert_non_null(bio);
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	assert_non_null(pkey);
	BIO_free(bio);
	return pkey;
}

static void
assert_hash_hex(const uint8_t h[32], const char *want)
{
	char hex[65];

	keypolicy_sha256_to_hex(h, hex);
	assert_string_equal(hex, want);
}

static void
test_spki_sha256_matches_openssl_cli(void **state)
{
	EVP_PKEY *pkey;
	uint8_t h[32];

	pkey = pem_pub(fixed_p256);
	assert_int_equal(keypolicy_spki_sha256(pkey, h), DEED_OK);
	assert_hash_hex(h, fixed_p256_hash);
	EVP_PKEY_free(pkey);
	pkey = pem_pub(fixed_rsa);
	assert_int_equal(keypolicy_spki_sha256(pkey, h), DEED_OK);
	assert_hash_hex(h, fixed_rsa_hash);
	EVP_PKEY_free(pkey);
	assert_int_equal(keypolicy_spki_sha256(NULL, h), DEED_EINVAL);
}

/* The same hash through another encoder: X509_PUBKEY_set + i2d_X509_PUBKEY + EVP_Q_digest. */
static void
test_spki_sha256_matches_x509_pubkey_encoding(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	X509_PUBKEY *xpk = NULL;
	unsigned char *der = NULL;
	uint8_t h[32], want[32];
	size_t wlen = 0;
	int len;

	assert_non_null(pkey);
	assert_int_equal(X509_PUBKEY_set(&xpk, pkey), 1);
	assert_true((len = i2d_X509_PUBKEY(xpk, &der)) > 0);
	assert_int_equal(EVP_Q_digest(NULL, "SHA256", NULL, der, (size_t)len, want, &wlen), 1);
	assert_int_equal(wlen, 32);
	assert_int_equal(keypolicy_spki_sha256(pkey, h), DEED_OK);
	assert_memory_equal(h, want, 32);
	OPENSSL_free(der);
	X509_PUBKEY_free(xpk);
	EVP_PKEY_free(pkey);
}

static void
test_spki_sha256_of_compressed_point_is_the_uncompressed_keys(void **state)
{
	EVP_PKEY *pkey = pem_pub(fixed_p256_compressed);
	unsigned char *der = NULL;
	uint8_t h[32];

	/* the key really re-encodes compressed: 1 + 32 bytes of point, 59 bytes of SPKI */
	assert_int_equal(i2d_PUBKEY(pkey, &der), 59);
	assert_int_equal(keypolicy_spki_sha256(pkey, h), DEED_OK);
	assert_hash_hex(h, fixed_p256_hash);
	/* and the caller's key is left as it was */
	OPENSSL_free(der);
	der = NULL;
	assert_int_equal(i2d_PUBKEY(pkey, &der), 59);
	OPENSSL_free(der);
	EVP_PKEY_free(pkey);
}

/* PEM text of a self-signed certificate, a CSR or a PKCS #8 private key for pkey. */
enum pem_kind { PEM_CERT, PEM_CSR, PEM_PRIV };

static char *
pem_of(EVP_PKEY *pkey, enum pem_kind kind)
{
	BIO *bio = BIO_new(BIO_s_mem());
	X509_REQ *req = NULL;
	X509 *x = NULL;
	char *data, *out;
	long len;

	assert_non_null(bio);
	/* some text before the block, as in `openssl x509 -text` output */
	assert_true(BIO_puts(bio, "Subject: CN=test\n") > 0);
	switch (kind) {
	case PEM_CERT:
		assert_non_null(x = X509_new());
		assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 1), 1);
		assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
		assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 3600));
		assert_int_equal(X509_set_pubkey(x, pkey), 1);
		assert_true(X509_sign(x, pkey, EVP_sha256()) > 0);
		assert_int_equal(PEM_write_bio_X509(bio, x), 1);
		break;
	case PEM_CSR:
		assert_non_null(req = X509_REQ_new());
		assert_int_equal(X509_REQ_set_pubkey(req, pkey), 1);
		assert_true(X509_REQ_sign(req, pkey, EVP_sha256()) > 0);
		assert_int_equal(PEM_write_bio_X509_REQ(bio, req), 1);
		break;
	case PEM_PRIV:
		assert_int_equal(PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL), 1);
		break;
	}
	len = BIO_get_mem_data(bio, &data);
	assert_non_null(out = calloc(1, (size_t)len + 1));
	memcpy(out, data, (size_t)len);
	X509_free(x);
	X509_REQ_free(req);
	BIO_free(bio);
	return out;
}

static void
test_spki_sha256_pem_reads_key_certificate_csr_and_private_key(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	uint8_t want[32], h[32];
	char err[160], *pem;
	int kind;

	assert_non_null(pkey);
	assert_int_equal(keypolicy_spki_sha256(pkey, want), DEED_OK);
	for (kind = PEM_CERT; kind <= PEM_PRIV; kind++) {
		pem = pem_of(pkey, (enum pem_kind)kind);
		memset(h, 0, sizeof(h));
		assert_int_equal(keypolicy_spki_sha256_pem(pem, strlen(pem), h, err, sizeof(err)),
				 DEED_OK);
		assert_memory_equal(h, want, 32);
		free(pem);
	}
	assert_int_equal(
	    keypolicy_spki_sha256_pem(fixed_rsa, strlen(fixed_rsa), h, err, sizeof(err)), DEED_OK);
	assert_hash_hex(h, fixed_rsa_hash);
	EVP_PKEY_free(pkey);
}

static void
test_spki_sha256_pem_refuses_text_without_a_key(void **state)
{
	static const char other[] = "-----BEGIN X509 CRL-----\nMAA=\n-----END X509 CRL-----\n";
	static const char broken[] = "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----\n";
	char err[160] = "", *big;
	uint8_t h[32];

	assert_int_equal(keypolicy_spki_sha256_pem("hello\n", 6, h, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_true(strlen(err) > 0);
	assert_int_equal(keypolicy_spki_sha256_pem(other, strlen(other), h, NULL, 0),
			 DEED_EMALFORMED);
	err[0] = '\0';
	assert_int_equal(keypolicy_spki_sha256_pem(broken, strlen(broken), h, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_non_null(strstr(err, "PUBLIC KEY"));
	assert_non_null(big = calloc(1, 64 * 1024 + 2));
	memset(big, '\n', 64 * 1024 + 1);
	assert_int_equal(keypolicy_spki_sha256_pem(big, 64 * 1024 + 1, h, NULL, 0), DEED_ETOOBIG);
	free(big);
}

static void
test_sha256_hex_round_trip_and_strictness(void **state)
{
	uint8_t h[32], back[32];
	char hex[65], upper[65];
	size_t i;

	assert_int_equal(RAND_bytes(h, sizeof(h)), 1);
	keypolicy_sha256_to_hex(h, hex);
	assert_int_equal(strlen(hex), 64);
	assert_int_equal(keypolicy_sha256_from_hex(hex, back), DEED_OK);
	assert_memory_equal(h, back, 32);
	for (i = 0; i < 65; i++)
		upper[i] = (char)(hex[i] >= 'a' && hex[i] <= 'f' ? hex[i] - 'a' + 'A' : hex[i]);
	memset(back, 0, sizeof(back));
	assert_int_equal(keypolicy_sha256_from_hex(upper, back), DEED_OK);
	assert_memory_equal(h, back, 32);
	assert_int_equal(keypolicy_sha256_from_hex(fixed_p256_hash, back), DEED_OK);
	assert_hash_hex(back, fixed_p256_hash);

	hex[63] = '\0'; /* 63 digits */
	assert_int_equal(keypolicy_sha256_from_hex(hex, back), DEED_EMALFORMED);
	keypolicy_sha256_to_hex(h, hex);
	hex[10] = 'g';
	assert_int_equal(keypolicy_sha256_from_hex(hex, back), DEED_EMALFORMED);
	assert_int_equal(
	    keypolicy_sha256_from_hex(
		"bc1ffa82d5aa489954232899e85d9b352e1641087f6ea3f8f52a994360b29d020", back),
	    DEED_EMALFORMED);
	assert_int_equal(
	    keypolicy_sha256_from_hex(
		" bc1ffa82d5aa489954232899e85d9b352e1641087f6ea3f8f52a994360b29d0", back),
	    DEED_EMALFORMED);
	assert_int_equal(keypolicy_sha256_from_hex("", back), DEED_EMALFORMED);
}

#define BLOCKED_REASON "public key is forbidden (blocked)"

static void
test_refuses_blocked_key_and_accepts_it_with_empty_list(void **state)
{
	EVP_PKEY *keys[2] = {
	    EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"),
	    EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048),
	};
	struct keypolicy_blocklist bl = {0};
	uint8_t list[5][32];
	char err[160];
	size_t i;

	for (i = 0; i < 2; i++) {
		assert_non_null(keys[i]);
		/* the key among random hashes, sorted; it lands anywhere in the array */
		assert_int_equal(RAND_bytes(&list[0][0], sizeof(list)), 1);
		assert_int_equal(keypolicy_spki_sha256(keys[i], list[2]), DEED_OK);
		keypolicy_blocklist_sort(list, 5);
		bl.hashes = (const uint8_t(*)[32])list;
		bl.n = 5;
		err[0] = '\0';
		assert_int_equal(
		    keypolicy_check_blocklist(keys[i], KEYPOLICY_CERT, &bl, err, sizeof(err)),
		    DEED_EBADKEY);
		assert_string_equal(err, BLOCKED_REASON);
		assert_int_equal(
		    keypolicy_check_blocklist(keys[i], KEYPOLICY_ACCOUNT, &bl, NULL, 0),
		    DEED_EBADKEY);

		bl.n = 0;
		assert_int_equal(
		    keypolicy_check_blocklist(keys[i], KEYPOLICY_CERT, &bl, err, sizeof(err)),
		    DEED_OK);
		assert_int_equal(
		    keypolicy_check_blocklist(keys[i], KEYPOLICY_CERT, NULL, err, sizeof(err)),
		    DEED_OK);
		/* the plain check knows nothing of lists */
		assert_int_equal(keypolicy_check(keys[i], KEYPOLICY_CERT, err, sizeof(err)),
				 DEED_OK);
		EVP_PKEY_free(keys[i]);
	}
}

static void
test_accepts_key_missing_from_a_nonempty_list(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	uint8_t list[8][32];
	struct keypolicy_blocklist bl = {.hashes = (const uint8_t(*)[32])list, .n = 8};

	assert_non_null(pkey);
	assert_int_equal(RAND_bytes(&list[0][0], sizeof(list)), 1);
	keypolicy_blocklist_sort(list, 8);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, NULL, 0), DEED_OK);
	EVP_PKEY_free(pkey);
}

static void
test_blocks_compressed_copy_of_a_blocked_key(void **state)
{
	EVP_PKEY *pkey = pem_pub(fixed_p256_compressed);
	uint8_t list[1][32];
	struct keypolicy_blocklist bl = {.hashes = (const uint8_t(*)[32])list, .n = 1};
	char err[160] = "";

	assert_int_equal(keypolicy_sha256_from_hex(fixed_p256_hash, list[0]), DEED_OK);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, err, sizeof(err)),
			 DEED_EBADKEY);
	assert_string_equal(err, BLOCKED_REASON);
	EVP_PKEY_free(pkey);
}

/* A lookup callback, as the CA's database would answer: the hash it holds, or an error. */
struct lookup_arg {
	uint8_t blocked[32];
	int fail;
	int calls;
};

static int
lookup(void *arg, const uint8_t hash[32])
{
	struct lookup_arg *la = arg;

	la->calls++;
	if (la->fail != DEED_OK)
		return la->fail;
	return memcmp(hash, la->blocked, 32) == 0 ? DEED_OK : DEED_ENOTFOUND;
}

static void
test_blocklist_lookup_callback_blocks_and_fails_closed(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	struct lookup_arg la = {.fail = DEED_OK};
	struct keypolicy_blocklist bl = {.lookup = lookup, .arg = &la};
	char err[160] = "";

	assert_non_null(pkey);
	assert_int_equal(keypolicy_spki_sha256(pkey, la.blocked), DEED_OK);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, err, sizeof(err)),
			 DEED_EBADKEY);
	assert_string_equal(err, BLOCKED_REASON);
	assert_int_equal(la.calls, 1);

	la.blocked[0] ^= 1;
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, err, sizeof(err)),
			 DEED_OK);

	la.fail = DEED_EDB;
	err[0] = '\0';
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, err, sizeof(err)),
			 DEED_EDB);
	assert_true(strlen(err) > 0);
	EVP_PKEY_free(pkey);
}

/* The list comes after the policy: a refused key is refused for its own reason. */
static void
test_blocklist_variant_still_applies_the_policy(void **state)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	struct lookup_arg la = {.fail = DEED_OK};
	struct keypolicy_blocklist bl = {.lookup = lookup, .arg = &la};
	char err[160] = "";

	assert_non_null(pkey);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, err, sizeof(err)),
			 DEED_EBADKEY);
	assert_string_equal(err, "RSA keys must be 2048, 3072 or 4096 bits, got 1024");
	assert_int_equal(la.calls, 0);
	EVP_PKEY_free(pkey);
	pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521");
	assert_non_null(pkey);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_CERT, &bl, NULL, 0),
			 DEED_EBADKEY);
	assert_int_equal(keypolicy_check_blocklist(pkey, KEYPOLICY_ACCOUNT, &bl, NULL, 0), DEED_OK);
	EVP_PKEY_free(pkey);
}

static void
test_accepts_p256_and_p384_for_both_uses(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), DEED_OK, DEED_OK);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), DEED_OK, DEED_OK);
}

static void
test_accepts_p521_for_accounts_but_not_certificates(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"), DEED_OK, DEED_EBADKEY);
}

static void
test_accepts_ed25519_for_accounts_but_not_certificates(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"), DEED_OK, DEED_EBADKEY);
}

static void
test_refuses_other_curves_and_types(void **state)
{
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "secp256k1"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-224"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "ED448"), DEED_EBADKEY, DEED_EBADKEY);
	expect(EVP_PKEY_Q_keygen(NULL, NULL, "X25519"), DEED_EBADKEY, DEED_EBADKEY);
	/* RSA-PSS keys are restricted to PSS, and JWS RS256 is PKCS #1 v1.5 */
	expect(rsa_key("RSA-PSS", 2048, 65537), DEED_EBADKEY, DEED_EBADKEY);
}

static void
test_refuses_null_key(void **state)
{
	assert_int_equal(keypolicy_check(NULL, KEYPOLICY_ACCOUNT, NULL, 0), DEED_EBADKEY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_rsa_2048_3072_4096_for_both_uses),
	    cmocka_unit_test(test_refuses_rsa_1024_with_reason),
	    cmocka_unit_test(test_refuses_rsa_sizes_between_the_allowed_ones),
	    cmocka_unit_test(test_refuses_rsa_exponent_other_than_65537),
	    cmocka_unit_test(test_refuses_rsa_modulus_with_small_prime_factor),
	    cmocka_unit_test(test_accepts_p256_and_p384_for_both_uses),
	    cmocka_unit_test(test_accepts_p521_for_accounts_but_not_certificates),
	    cmocka_unit_test(test_accepts_ed25519_for_accounts_but_not_certificates),
	    cmocka_unit_test(test_refuses_other_curves_and_types),
	    cmocka_unit_test(test_refuses_null_key),
	    cmocka_unit_test(test_refuses_rsa_2048_with_close_primes),
	    cmocka_unit_test(test_refuses_close_primes_found_after_dozens_of_rounds),
	    cmocka_unit_test(test_accepts_primes_beyond_the_fermat_rounds),
	    cmocka_unit_test(test_refuses_square_modulus),
	    cmocka_unit_test(test_refuses_roca_fingerprint),
	    cmocka_unit_test(test_accepts_modulus_with_one_roca_shaped_prime),
	    cmocka_unit_test(test_spki_sha256_matches_openssl_cli),
	    cmocka_unit_test(test_spki_sha256_matches_x509_pubkey_encoding),
	    cmocka_unit_test(test_spki_sha256_of_compressed_point_is_the_uncompressed_keys),
	    cmocka_unit_test(test_spki_sha256_pem_reads_key_certificate_csr_and_private_key),
	    cmocka_unit_test(test_spki_sha256_pem_refuses_text_without_a_key),
	    cmocka_unit_test(test_sha256_hex_round_trip_and_strictness),
	    cmocka_unit_test(test_refuses_blocked_key_and_accepts_it_with_empty_list),
	    cmocka_unit_test(test_accepts_key_missing_from_a_nonempty_list),
	    cmocka_unit_test(test_blocks_compressed_copy_of_a_blocked_key),
	    cmocka_unit_test(test_blocklist_lookup_callback_blocks_and_fails_closed),
	    cmocka_unit_test(test_blocklist_variant_still_applies_the_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
