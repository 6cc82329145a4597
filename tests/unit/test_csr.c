#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "csr.h"
#include "error.h"

/* Keys are slow to make under the sanitizers: one of each for the whole file. */
static EVP_PKEY *ec256, *rsa2048, *ed25519;

/* How to build a request by hand, for the shapes csr_create never makes. */
struct req_opts {
	const char *cn;	 /* subject CN; NULL for none */
	const char *cn2; /* a second CN */
	const char *san; /* SAN in openssl.cnf syntax ("DNS:a.test,IP:192.0.2.1"); NULL: none */
	bool san_twice;	 /* two SAN extensions */
	bool bad_ext_request; /* an extensionRequest attribute that is not a SEQUENCE */
	const EVP_MD *md;     /* NULL: SHA-256 (none for Ed25519) */
	bool pss;	      /* sign with RSA-PSS */
	long version;	      /* PKCS#10 version field (0 is v1) */
	const char *raw_dns;  /* one dNSName SAN of raw_dns_len octets, NULs and all */
	size_t raw_dns_len;
};

/* Sign a request shaped by o with key; returns a malloc'd DER. */
static uint8_t *
build(EVP_PKEY *key, const struct req_opts *o, size_t *len)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *subj = X509_NAME_new();
	STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
	const EVP_MD *md = o->md != NULL ? o->md : EVP_sha256();
	unsigned char *der = NULL;
	uint8_t *copy;
	int n;

	assert_non_null(req);
	assert_non_null(subj);
	assert_non_null(exts);
	if (EVP_PKEY_get_id(key) == EVP_PKEY_ED25519)
		md = NULL;
	if (o->cn != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)o->cn, -1, -1,
							    0),
				 1);
	if (o->cn2 != NULL)
		assert_int_equal(X509_NAME_add_entry_by_NID(subj, NID_commonName, MBSTRING_UTF8,
							    (const unsigned char *)o->cn2, -1, -1,
							    0),
				 1);
	assert_int_equal(X509_REQ_set_subject_name(req, subj), 1);
	assert_int_equal(X509_REQ_set_pubkey(req, key), 1);
	if (o->san != NULL) {
		X509V3_CTX ctx;
		X509_EXTENSION *ext;

		X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
		ext = X509V3_EXT_nconf_nid(NULL, &ctx, NID_subject_alt_name, o->san);
		assert_non_null(ext);
		assert_true(sk_X509_EXTENSION_push(exts, ext) > 0);
		if (o->san_twice)
			assert_true(sk_X509_EXTENSION_push(exts, X509_EXTENSION_dup(ext)) > 0);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
	}
	if (o->raw_dns != NULL) {
		GENERAL_NAMES *gens = GENERAL_NAMES_new();
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

		assert_non_null(gens);
		assert_non_null(g);
		assert_non_null(ia5);
		assert_int_equal(ASN1_STRING_set(ia5, o->raw_dns, (int)o->raw_dns_len), 1);
		GENERAL_NAME_set0_value(g, GEN_DNS, ia5);
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
		assert_true(sk_X509_EXTENSION_push(
				exts, X509V3_EXT_i2d(NID_subject_alt_name, 0, gens)) > 0);
		assert_int_equal(X509_REQ_add_extensions(req, exts), 1);
		GENERAL_NAMES_free(gens);
	}
	if (o->version != 0)
		assert_int_equal(X509_REQ_set_version(req, o->version), 1);
	if (o->bad_ext_request)
		assert_int_equal(X509_REQ_add1_attr_by_NID(req, NID_ext_req, V_ASN1_UTF8STRING,
							   (const unsigned char *)"x", 1),
				 1);
	if (o->pss) {
		EVP_MD_CTX *mctx = EVP_MD_CTX_new();
		EVP_PKEY_CTX *pctx = NULL;

		assert_non_null(mctx);
		assert_int_equal(EVP_DigestSignInit(mctx, &pctx, md, NULL, key), 1);
		assert_true(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0);
		assert_true(X509_REQ_sign_ctx(req, mctx) > 0);
		EVP_MD_CTX_free(mctx);
	} else {
		assert_true(X509_REQ_sign(req, key, md) > 0);
	}
	n = i2d_X509_REQ(req, &der);
	assert_true(n > 0);
	copy = malloc((size_t)n);
	assert_non_null(copy);
	memcpy(copy, der, (size_t)n);
	*len = (size_t)n;
	OPENSSL_free(der);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	X509_NAME_free(subj);
	X509_REQ_free(req);
	return copy;
}

/* Parse der and expect rc with a reason (or success); the CSR is freed. */
static void
expect_parse(const uint8_t *der, size_t len, int rc)
{
	struct csr *c = (struct csr *)&c; /* must be reset to NULL on failure */
	char err[256];

	err[0] = '\0';
	ERR_clear_error();
	assert_int_equal(csr_parse_der(der, len, &c, err, sizeof(err)), rc);
	/* A refusal must not leave OpenSSL errors for the next TLS call on this thread. */
	assert_int_equal(ERR_peek_error(), 0);
	if (rc == DEED_OK) {
		assert_non_null(c);
	} else {
		assert_null(c);
		assert_true(strlen(err) > 0);
	}
	csr_free(c);
}

/* Build with key and o, then expect rc from csr_parse_der. */
static void
expect_built(EVP_PKEY *key, const struct req_opts *o, int rc)
{
	size_t len;
	uint8_t *der = build(key, o, &len);

	expect_parse(der, len, rc);
	free(der);
}

/* Create a CSR for names with key, parse it back and check the sorted, unique names. */
static void
round_trip(EVP_PKEY *key)
{
	static const char *const names[] = {"www.example.test", "example.test", "api.example.test",
					    "example.test", "WWW.Example.TEST"};
	uint8_t *der = NULL;
	size_t len = 0;
	struct csr *c = NULL;
	char err[256] = "";

	assert_int_equal(csr_create(key, names, 5, &der, &len), DEED_OK);
	assert_non_null(der);
	assert_true(len > 0 && len <= CSR_MAX_DER);
	if (csr_parse_der(der, len, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("parse: %s", err);
	assert_int_equal(c->n_names, 3);
	assert_string_equal(c->names[0], "api.example.test");
	assert_string_equal(c->names[1], "example.test");
	assert_string_equal(c->names[2], "www.example.test");
	assert_non_null(c->cn);
	assert_string_equal(c->cn, "www.example.test");
	assert_int_equal(EVP_PKEY_eq(c->pkey, key), 1);
	/* The SubjectPublicKeyInfo is byte for byte what OpenSSL's own encoder makes. */
	{
		unsigned char *want = NULL, *got = NULL;
		int wl = i2d_PUBKEY(key, &want);
		int gl = i2d_X509_PUBKEY(c->spki, &got);

		assert_true(wl > 0);
		assert_int_equal(gl, wl);
		assert_memory_equal(got, want, (size_t)wl);
		OPENSSL_free(want);
		OPENSSL_free(got);
	}
	assert_int_equal(c->der_len, len);
	assert_memory_equal(c->der, der, len);
	csr_free(c);
	free(der);
}

static void
test_ec256_csr_round_trips_with_sorted_unique_names(void **state)
{
	round_trip(ec256);
}

static void
test_rsa2048_csr_round_trips_with_sorted_unique_names(void **state)
{
	round_trip(rsa2048);
}

static void
test_ed25519_csr_round_trips(void **state)
{
	round_trip(ed25519);
}

static void
test_p521_and_compressed_p256_round_trip(void **state)
{
	EVP_PKEY *p521 = EVP_EC_gen("P-521"), *comp = EVP_EC_gen("P-256");

	assert_non_null(p521);
	assert_non_null(comp);
	round_trip(p521);
	/* The certificate gets the point in the form the request has it. */
	assert_int_equal(EVP_PKEY_set_utf8_string_param(
			     comp, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "compressed"),
			 1);
	round_trip(comp);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(comp);
}

/* A point that is not on the curve is no key, whatever the signature says. */
static void
test_point_off_the_curve_is_refused(void **state)
{
	static const char *const names[] = {"example.test"};
	uint8_t point[65], *der = NULL, *at = NULL;
	size_t plen = 0, len = 0;
	char err[256] = "";
	struct csr *c = NULL;

	assert_int_equal(EVP_PKEY_get_octet_string_param(ec256, OSSL_PKEY_PARAM_PUB_KEY, point,
							 sizeof(point), &plen),
			 1);
	assert_int_equal(plen, 65);
	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	for (size_t i = 0; at == NULL && i + plen <= len; i++)
		if (memcmp(der + i, point, plen) == 0)
			at = der + i;
	assert_non_null(at);
	at[plen - 1] ^= 0x01; /* y no longer matches x */
	assert_int_equal(csr_parse_der(der, len, &c, err, sizeof(err)), DEED_EMALFORMED);
	assert_null(c);
	assert_string_equal(err, "CSR public key does not parse");
	free(der);
}

static void
test_ec384_csr_round_trips(void **state)
{
	EVP_PKEY *ec384 = EVP_EC_gen("P-384");

	assert_non_null(ec384);
	round_trip(ec384);
	EVP_PKEY_free(ec384);
}

static void
test_flipped_signature_byte_is_bad_signature(void **state)
{
	EVP_PKEY *keys[] = {ec256, rsa2048, ed25519};
	static const char *const names[] = {"example.test"};

	for (size_t i = 0; i < 3; i++) {
		uint8_t *der = NULL;
		size_t len = 0;

		assert_int_equal(csr_create(keys[i], names, 1, &der, &len), DEED_OK);
		der[len - 1] ^= 0x01; /* the signature BIT STRING ends the request */
		expect_parse(der, len, DEED_EBADSIG);
		free(der);
	}
}

static void
test_altered_request_info_is_bad_signature(void **state)
{
	static const char *const names[] = {"aaaa.example.test"};
	uint8_t *der = NULL;
	size_t len = 0, changed = 0;

	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	/* Turn the SAN and CN into "baaa.example.test": still a valid name, now unsigned. */
	for (size_t i = 0; i + 17 <= len; i++)
		if (memcmp(der + i, "aaaa.example.test", 17) == 0)
			der[i] = 'b', changed++;
	assert_int_equal(changed, 2);
	expect_parse(der, len, DEED_EBADSIG);
	free(der);
}

static void
test_sha1_signature_is_unsupported(void **state)
{
	struct req_opts o = {.cn = "example.test", .san = "DNS:example.test", .md = EVP_sha1()};

	expect_built(ec256, &o, DEED_EUNSUPPORTED);
	expect_built(rsa2048, &o, DEED_EUNSUPPORTED);
}

static void
test_sha384_and_sha512_signatures_are_accepted(void **state)
{
	struct req_opts o = {.san = "DNS:example.test", .md = EVP_sha384()};

	expect_built(ec256, &o, DEED_OK);
	o.md = EVP_sha512();
	expect_built(rsa2048, &o, DEED_OK);
}

static void
test_rsa_pss_signature_is_unsupported(void **state)
{
	struct req_opts o = {.san = "DNS:example.test", .pss = true};

	expect_built(rsa2048, &o, DEED_EUNSUPPORTED);
}

static void
test_email_san_is_unsupported(void **state)
{
	struct req_opts o = {.cn = "example.test", .san = "DNS:example.test,email:a@example.test"};

	expect_built(ec256, &o, DEED_EUNSUPPORTED);
}

static void
test_ip_san_is_unsupported(void **state)
{
	struct req_opts o = {.san = "IP:192.0.2.1"};

	expect_built(ec256, &o, DEED_EUNSUPPORTED);
	o.san = "DNS:example.test,IP:2001:db8::1";
	expect_built(ec256, &o, DEED_EUNSUPPORTED);
}

static void
test_uri_san_is_unsupported(void **state)
{
	struct req_opts o = {.san = "URI:https://example.test/,DNS:example.test"};

	expect_built(ec256, &o, DEED_EUNSUPPORTED);
}

static void
test_trailing_garbage_is_malformed(void **state)
{
	struct req_opts o = {.san = "DNS:example.test"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len), *more = malloc(len + 1);

	assert_non_null(more);
	memcpy(more, der, len);
	more[len] = 0;
	expect_parse(more, len, DEED_OK);
	expect_parse(more, len + 1, DEED_EMALFORMED);
	expect_parse(der, len - 1, DEED_EMALFORMED); /* and truncation */
	free(more);
	free(der);
}

static void
test_cn_only_csr_gives_one_name(void **state)
{
	struct req_opts o = {.cn = "Example.TEST"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len);
	struct csr *c = NULL;

	assert_int_equal(csr_parse_der(der, len, &c, NULL, 0), DEED_OK);
	assert_int_equal(c->n_names, 1);
	assert_string_equal(c->names[0], "example.test");
	assert_string_equal(c->cn, "example.test");
	csr_free(c);
	free(der);
}

static void
test_san_only_csr_has_no_cn(void **state)
{
	struct req_opts o = {.san = "DNS:b.example.test,DNS:a.example.test"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len);
	struct csr *c = NULL;

	assert_int_equal(csr_parse_der(der, len, &c, NULL, 0), DEED_OK);
	assert_null(c->cn);
	assert_int_equal(c->n_names, 2);
	assert_string_equal(c->names[0], "a.example.test");
	assert_string_equal(c->names[1], "b.example.test");
	csr_free(c);
	free(der);
}

static void
test_uppercase_san_is_lowercased(void **state)
{
	struct req_opts o = {.san = "DNS:WWW.Example.TEST,DNS:www.example.test"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len);
	struct csr *c = NULL;

	assert_int_equal(csr_parse_der(der, len, &c, NULL, 0), DEED_OK);
	assert_int_equal(c->n_names, 1);
	assert_string_equal(c->names[0], "www.example.test");
	csr_free(c);
	free(der);
}

static void
test_wildcard_san_is_accepted(void **state)
{
	struct req_opts o = {.san = "DNS:*.example.test,DNS:example.test"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len);
	struct csr *c = NULL;

	assert_int_equal(csr_parse_der(der, len, &c, NULL, 0), DEED_OK);
	assert_int_equal(c->n_names, 2);
	assert_string_equal(c->names[0], "*.example.test");
	assert_string_equal(c->names[1], "example.test");
	csr_free(c);
	free(der);
}

/* "DNS:n0.example.test,DNS:n1.example.test,..." for n names. */
static char *
many_sans(int n)
{
	char *s = malloc((size_t)n * 32 + 1), *p = s;

	assert_non_null(s);
	for (int i = 0; i < n; i++)
		p += sprintf(p, "%sDNS:n%d.example.test", i ? "," : "", i);
	return s;
}

static void
test_hundred_names_are_accepted_and_101_too_many(void **state)
{
	struct req_opts o = {.cn = "n0.example.test"};
	char *san = many_sans(100), *more = many_sans(101);

	o.san = san;
	expect_built(ec256, &o, DEED_OK); /* the CN is one of the SANs */
	o.cn = "other.example.test";
	expect_built(ec256, &o, DEED_ETOOBIG); /* the CN counts */
	o.cn = NULL;
	o.san = more;
	expect_built(ec256, &o, DEED_ETOOBIG);
	free(san);
	free(more);
}

static void
test_invalid_dns_name_in_san_is_malformed(void **state)
{
	static const char *const bad[] = {"DNS:a..b",	       "DNS:example.test.",
					  "DNS:exa_mple.test", "DNS:localhost",
					  "DNS:192.0.2.1",     "DNS:www.*.example.test"};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct req_opts o = {.cn = "example.test", .san = bad[i]};

		expect_built(ec256, &o, DEED_EMALFORMED);
	}
}

/* The reason names the offending name and says what is wrong with it. */
static void
test_invalid_name_reason_quotes_the_name(void **state)
{
	struct req_opts o = {.san = "DNS:ok.example.test,DNS:a..b.example.test"};
	size_t len;
	uint8_t *der = build(ec256, &o, &len);
	struct csr *c = NULL;
	char err[256] = "";

	assert_int_equal(csr_parse_der(der, len, &c, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "\"a..b.example.test\""));
	assert_non_null(strstr(err, "empty label"));
	free(der);
}

/* "good.test\0.evil.test": the classic NUL-prefix trick must not yield "good.test". */
static void
test_dns_san_with_nul_octet_is_malformed(void **state)
{
	static const char raw[] = "good.example.test\0.evil.test";
	struct req_opts o = {.raw_dns = raw, .raw_dns_len = sizeof(raw) - 1};

	expect_built(ec256, &o, DEED_EMALFORMED);
	o.raw_dns = "good.example.test";
	o.raw_dns_len = strlen(o.raw_dns);
	expect_built(ec256, &o, DEED_OK);
}

/* Orders hold A-labels (RFC 8555 §7.1.4), so the CSR must too; a U-label is not converted. */
static void
test_u_label_san_is_malformed_and_a_label_accepted(void **state)
{
	struct req_opts o = {.raw_dns = "b\xc3\xbc"
					"cher.example",
			     .raw_dns_len = 14};

	expect_built(ec256, &o, DEED_EMALFORMED);
	o.raw_dns = "xn--bcher-kva.example";
	o.raw_dns_len = strlen(o.raw_dns);
	expect_built(ec256, &o, DEED_OK);
	o.raw_dns = "";
	o.raw_dns_len = 0;
	expect_built(ec256, &o, DEED_EMALFORMED);
}

static void
test_other_name_and_registered_id_sans_are_unsupported(void **state)
{
	struct req_opts o = {.san = "DNS:example.test,otherName:1.3.6.1.4.1.311.20.2.3;UTF8:a@b"};

	expect_built(ec256, &o, DEED_EUNSUPPORTED);
	o.san = "DNS:example.test,RID:1.2.3.4";
	expect_built(ec256, &o, DEED_EUNSUPPORTED);
}

/* RFC 2986 §4.1: only version 0 (v1) exists. */
static void
test_version_other_than_v1_is_malformed(void **state)
{
	struct req_opts o = {.san = "DNS:example.test", .version = 2};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

static void
test_cn_that_is_not_a_dns_name_is_malformed(void **state)
{
	struct req_opts o = {.cn = "Example Corp", .san = "DNS:example.test"};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

static void
test_two_cns_are_malformed(void **state)
{
	struct req_opts o = {.cn = "a.example.test", .cn2 = "b.example.test"};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

static void
test_csr_without_any_name_is_malformed(void **state)
{
	struct req_opts o = {0};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

static void
test_two_san_extensions_are_malformed(void **state)
{
	struct req_opts o = {.san = "DNS:example.test", .san_twice = true};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

/* A CN-only CSR with a broken extensionRequest must not pass as one without SANs. */
static void
test_unparsable_extension_request_is_malformed(void **state)
{
	struct req_opts o = {.cn = "example.test", .bad_ext_request = true};

	expect_built(ec256, &o, DEED_EMALFORMED);
}

/* PEM of the given label around data, with header lines hdr ("" for none). */
static char *
pem_wrap(const char *label, const char *hdr, const uint8_t *data, size_t len, size_t *pemlen)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *mem, *s;
	long n;

	assert_non_null(b);
	assert_true(PEM_write_bio(b, label, hdr, data, (long)len) > 0);
	n = BIO_get_mem_data(b, &mem);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	memcpy(s, mem, (size_t)n);
	s[n] = '\0';
	*pemlen = (size_t)n;
	BIO_free(b);
	return s;
}

static void
test_pem_parses_to_the_same_request(void **state)
{
	static const char *const names[] = {"b.example.test", "a.example.test"};
	uint8_t *der = NULL;
	size_t len = 0, pemlen;
	struct csr *c = NULL;
	char *pem, *text;

	assert_int_equal(csr_create(ec256, names, 2, &der, &len), DEED_OK);
	pem = pem_wrap("CERTIFICATE REQUEST", "", der, len, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen, &c, NULL, 0), DEED_OK);
	assert_int_equal(c->n_names, 2);
	assert_string_equal(c->names[0], "a.example.test");
	assert_string_equal(c->cn, "b.example.test");
	assert_int_equal(c->der_len, len);
	assert_memory_equal(c->der, der, len);
	csr_free(c);

	/* Text around the block, as "openssl req -text" writes it, is skipped. */
	text = malloc(pemlen + 64);
	assert_non_null(text);
	sprintf(text, "Certificate Request:\n    Data: ...\n%s", pem);
	assert_int_equal(csr_parse_pem(text, strlen(text), &c, NULL, 0), DEED_OK);
	csr_free(c);
	free(text);
	free(pem);

	pem = pem_wrap("NEW CERTIFICATE REQUEST", "", der, len, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen, &c, NULL, 0), DEED_OK);
	csr_free(c);
	free(pem);
	free(der);
}

static void
test_pem_without_a_request_block_is_malformed(void **state)
{
	static const char *const names[] = {"example.test"};
	uint8_t *der = NULL;
	size_t len = 0, pemlen;
	struct csr *c = (struct csr *)&c;
	char *pem, err[256] = "";

	assert_int_equal(csr_parse_pem("hello", 5, &c, err, sizeof(err)), DEED_EMALFORMED);
	assert_null(c);
	assert_true(strlen(err) > 0);
	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	pem = pem_wrap("CERTIFICATE", "", der, len, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen, &c, NULL, 0), DEED_EMALFORMED);
	free(pem);
	/* Cut inside the block. */
	pem = pem_wrap("CERTIFICATE REQUEST", "", der, len, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen / 2, &c, NULL, 0), DEED_EMALFORMED);
	free(pem);
	free(der);
}

static void
test_pem_with_trailing_data_inside_the_block_is_malformed(void **state)
{
	static const char *const names[] = {"example.test"};
	uint8_t *der = NULL, *more;
	size_t len = 0, pemlen;
	struct csr *c = NULL;
	char *pem;

	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	more = calloc(1, len + 4);
	assert_non_null(more);
	memcpy(more, der, len);
	pem = pem_wrap("CERTIFICATE REQUEST", "", more, len + 4, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen, &c, NULL, 0), DEED_EMALFORMED);
	assert_null(c);
	free(pem);
	free(more);
	free(der);
}

/* OpenSSL would ask the terminal for a pass phrase; a server must just refuse. */
static void
test_encrypted_pem_is_refused_without_prompting(void **state)
{
	static const char *const names[] = {"example.test"};
	uint8_t *der = NULL;
	size_t len = 0, pemlen;
	struct csr *c = NULL;
	char *pem;

	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	pem = pem_wrap("CERTIFICATE REQUEST",
		       "Proc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
		       "00112233445566778899AABBCCDDEEFF\n",
		       der, len, &pemlen);
	assert_int_equal(csr_parse_pem(pem, pemlen, &c, NULL, 0), DEED_EMALFORMED);
	assert_null(c);
	free(pem);
	free(der);
}

static void
test_input_over_csr_max_der_is_too_big(void **state)
{
	uint8_t *big = calloc(1, CSR_MAX_DER + 1);
	char *pem = malloc(4 * CSR_MAX_DER + 1);
	struct csr *c = NULL;

	assert_non_null(big);
	assert_non_null(pem);
	big[0] = 0x30; /* looks like a SEQUENCE */
	expect_parse(big, CSR_MAX_DER + 1, DEED_ETOOBIG);
	expect_parse(big, CSR_MAX_DER, DEED_EMALFORMED);
	memset(pem, ' ', 4 * CSR_MAX_DER + 1);
	assert_int_equal(csr_parse_pem(pem, 4 * CSR_MAX_DER + 1, &c, NULL, 0), DEED_ETOOBIG);
	assert_null(c);
	free(pem);
	free(big);
}

static void
test_empty_input_is_malformed(void **state)
{
	static const uint8_t none[1];
	struct csr *c = NULL;

	expect_parse(none, 0, DEED_EMALFORMED);
	expect_parse(NULL, 0, DEED_EMALFORMED);
	assert_int_equal(csr_parse_pem("", 0, &c, NULL, 0), DEED_EMALFORMED);
	assert_null(c);
}

static void
test_garbage_is_malformed(void **state)
{
	static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
	static const uint8_t huge_len[] = {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30};

	expect_parse(junk, sizeof(junk), DEED_EMALFORMED);
	expect_parse(huge_len, sizeof(huge_len), DEED_EMALFORMED);
	expect_parse((const uint8_t *)"hello", 5, DEED_EMALFORMED);
}

static void
test_create_refuses_bad_arguments(void **state)
{
	static const char *const names[] = {"example.test"};
	const char *many[CSR_MAX_NAMES + 1];
	uint8_t *der = (uint8_t *)&der;
	size_t len = 1;

	for (size_t i = 0; i <= CSR_MAX_NAMES; i++)
		many[i] = "example.test";
	assert_int_equal(csr_create(ec256, names, 0, &der, &len), DEED_EINVAL);
	assert_null(der);
	assert_int_equal(len, 0);
	assert_int_equal(csr_create(ec256, many, CSR_MAX_NAMES + 1, &der, &len), DEED_EINVAL);
	assert_int_equal(csr_create(NULL, names, 1, &der, &len), DEED_EINVAL);
	assert_int_equal(csr_create(ec256, NULL, 1, &der, &len), DEED_EINVAL);
}

static void
test_create_leaves_cn_out_when_first_name_is_too_long_for_it(void **state)
{
	char longname[80];
	const char *names[1] = {longname};
	uint8_t *der = NULL;
	size_t len = 0;
	struct csr *c = NULL;

	memset(longname, 'a', 63);
	strcpy(longname + 63, ".example.test"); /* 76 octets: a valid name, over ub-common-name */
	assert_int_equal(csr_create(ec256, names, 1, &der, &len), DEED_OK);
	assert_int_equal(csr_parse_der(der, len, &c, NULL, 0), DEED_OK);
	assert_null(c->cn);
	assert_int_equal(c->n_names, 1);
	assert_string_equal(c->names[0], longname);
	csr_free(c);
	free(der);
}

static void
test_free_accepts_null(void **state)
{
	csr_free(NULL);
}

static int
make_keys(void **state)
{
	ec256 = EVP_EC_gen("P-256");
	rsa2048 = EVP_RSA_gen(2048);
	ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	return ec256 != NULL && rsa2048 != NULL && ed25519 != NULL ? 0 : -1;
}

static int
free_keys(void **state)
{
	EVP_PKEY_free(ec256);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(ed25519);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_ec256_csr_round_trips_with_sorted_unique_names),
	    cmocka_unit_test(test_rsa2048_csr_round_trips_with_sorted_unique_names),
	    cmocka_unit_test(test_ed25519_csr_round_trips),
	    cmocka_unit_test(test_ec384_csr_round_trips),
	    cmocka_unit_test(test_p521_and_compressed_p256_round_trip),
	    cmocka_unit_test(test_point_off_the_curve_is_refused),
	    cmocka_unit_test(test_flipped_signature_byte_is_bad_signature),
	    cmocka_unit_test(test_altered_request_info_is_bad_signature),
	    cmocka_unit_test(test_sha1_signature_is_unsupported),
	    cmocka_unit_test(test_sha384_and_sha512_signatures_are_accepted),
	    cmocka_unit_test(test_rsa_pss_signature_is_unsupported),
	    cmocka_unit_test(test_email_san_is_unsupported),
	    cmocka_unit_test(test_ip_san_is_unsupported),
	    cmocka_unit_test(test_uri_san_is_unsupported),
	    cmocka_unit_test(test_trailing_garbage_is_malformed),
	    cmocka_unit_test(test_cn_only_csr_gives_one_name),
	    cmocka_unit_test(test_san_only_csr_has_no_cn),
	    cmocka_unit_test(test_uppercase_san_is_lowercased),
	    cmocka_unit_test(test_wildcard_san_is_accepted),
	    cmocka_unit_test(test_hundred_names_are_accepted_and_101_too_many),
	    cmocka_unit_test(test_invalid_dns_name_in_san_is_malformed),
	    cmocka_unit_test(test_invalid_name_reason_quotes_the_name),
	    cmocka_unit_test(test_dns_san_with_nul_octet_is_malformed),
	    cmocka_unit_test(test_u_label_san_is_malformed_and_a_label_accepted),
	    cmocka_unit_test(test_other_name_and_registered_id_sans_are_unsupported),
	    cmocka_unit_test(test_version_other_than_v1_is_malformed),
	    cmocka_unit_test(test_cn_that_is_not_a_dns_name_is_malformed),
	    cmocka_unit_test(test_two_cns_are_malformed),
	    cmocka_unit_test(test_csr_without_any_name_is_malformed),
	    cmocka_unit_test(test_two_san_extensions_are_malformed),
	    cmocka_unit_test(test_unparsable_extension_request_is_malformed),
	    cmocka_unit_test(test_pem_parses_to_the_same_request),
	    cmocka_unit_test(test_pem_without_a_request_block_is_malformed),
	    cmocka_unit_test(test_pem_with_trailing_data_inside_the_block_is_malformed),
	    cmocka_unit_test(test_encrypted_pem_is_refused_without_prompting),
	    cmocka_unit_test(test_input_over_csr_max_der_is_too_big),
	    cmocka_unit_test(test_empty_input_is_malformed),
	    cmocka_unit_test(test_garbage_is_malformed),
	    cmocka_unit_test(test_create_refuses_bad_arguments),
	    cmocka_unit_test(test_create_leaves_cn_out_when_first_name_is_too_long_for_it),
	    cmocka_unit_test(test_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, make_keys, free_keys);
}
