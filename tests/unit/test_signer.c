#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "init.h"
#include "signer.h"

/* One CA for the whole group (key generation is the slow part), plus a second one to mix
 * files from. */
struct fx {
	char base[256];
	char ca[320], other[320];
	struct signer *s;
	X509 *root, *inter;
	EVP_PKEY *ec256, *rsa2048;
};

static const char *const names2[] = {"example.test", "*.example.test"};

static void
rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[PATH_MAX];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		rm_tree(p);
	}
	closedir(d);
	rmdir(path);
}

static X509 *
load_cert(const char *dir, const char *name)
{
	char p[PATH_MAX];
	FILE *fp;
	X509 *x = NULL;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if ((fp = fopen(p, "r")) != NULL) {
		x = PEM_read_X509(fp, NULL, NULL, NULL);
		fclose(fp);
	}
	return x;
}

static int
group_setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *t = getenv("TMPDIR");
	char err[512] = "";

	*state = f;
	if (f == NULL)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/deed-signer-XXXXXX", t != NULL ? t : "/tmp");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->ca, sizeof(f->ca), "%s/ca", f->base);
	snprintf(f->other, sizeof(f->other), "%s/other", f->base);
	if (ca_init(f->ca, "Signer Test", NULL, err, sizeof(err)) != DEED_OK ||
	    ca_init(f->other, "Other", NULL, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "ca_init: %s\n", err);
		return -1;
	}
	if (signer_load(f->ca, &f->s, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "signer_load: %s\n", err);
		return -1;
	}
	f->root = load_cert(f->ca, "root.pem");
	f->inter = load_cert(f->ca, "intermediate.pem");
	f->ec256 = EVP_EC_gen("P-256");
	f->rsa2048 = EVP_RSA_gen(2048);
	if (f->root == NULL || f->inter == NULL || f->ec256 == NULL || f->rsa2048 == NULL)
		return -1;
	return 0;
}

static int
group_teardown(void **state)
{
	struct fx *f = *state;

	if (f == NULL)
		return 0;
	signer_free(f->s);
	X509_free(f->root);
	X509_free(f->inter);
	EVP_PKEY_free(f->ec256);
	EVP_PKEY_free(f->rsa2048);
	rm_tree(f->base);
	free(f);
	return 0;
}

static void
base_req(struct signer_req *r, EVP_PKEY *key)
{
	int64_t now = (int64_t)time(NULL);

	memset(r, 0, sizeof(*r));
	r->pubkey = key;
	r->names = names2;
	r->n_names = 2;
	r->cn = "example.test";
	r->not_before = now - 3600;
	r->not_after = now + 90 * 24 * 3600 - 3601;
	assert_int_equal(signer_new_serial(r->serial), DEED_OK);
}

/* The tbsCertificate element inside a DER Certificate, found by hand: exactly the bytes the
 * signature covers, with no re-encoding by OpenSSL in between. */
static size_t
der_header(const uint8_t *p, size_t avail, size_t *body)
{
	size_t nl, i;

	assert_true(avail >= 2);
	assert_int_equal(p[0], 0x30);
	if (p[1] < 0x80) {
		*body = p[1];
		return 2;
	}
	nl = p[1] & 0x7f;
	assert_true(nl >= 1 && nl <= 3 && avail >= 2 + nl);
	for (*body = 0, i = 0; i < nl; i++)
		*body = (*body << 8) | p[2 + i];
	return 2 + nl;
}

static void
signed_tbs(const uint8_t *der, size_t len, const uint8_t **tbs, size_t *tbs_len)
{
	size_t body, h = der_header(der, len, &body);

	assert_int_equal(h + body, len);
	*tbs = der + h;
	h = der_header(*tbs, body, &body);
	*tbs_len = h + body;
}

/* prepare + sign; returns the certificate decoded from the DER signer_sign gave; through
 * tbs/der (if not NULL) the TBS signer_prepare gave and the DER. */
static X509 *
issue_der(struct signer *s, const struct signer_req *r, uint8_t **tbs, size_t *tbs_len,
	  uint8_t **der_out, size_t *der_len)
{
	X509 *x = NULL, *out;
	uint8_t *t = NULL, *der = NULL;
	size_t tl = 0, dl = 0;
	const unsigned char *p;

	assert_int_equal(signer_prepare(s, r, &x, &t, &tl), DEED_OK);
	assert_int_equal(signer_sign(s, x, &der, &dl), DEED_OK);
	p = der;
	out = d2i_X509(NULL, &p, (long)dl);
	assert_non_null(out);
	assert_ptr_equal(p, der + dl);
	X509_free(x);
	if (der_out != NULL) {
		*der_out = der;
		*der_len = dl;
	} else {
		free(der);
	}
	if (tbs != NULL) {
		*tbs = t;
		*tbs_len = tl;
	} else {
		free(t);
	}
	return out;
}

static X509 *
issue(struct signer *s, const struct signer_req *r)
{
	return issue_der(s, r, NULL, NULL, NULL, NULL);
}

/* `openssl verify -purpose sslserver -CAfile root.pem -untrusted <chain>` in C. */
static void
assert_chains_to_root(struct fx *f, X509 *leaf)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	STACK_OF(X509) *chain = sk_X509_new_null();
	BIO *b = BIO_new_mem_buf(signer_chain_pem(f->s), -1);
	X509 *inter;

	assert_non_null(st);
	assert_non_null(ctx);
	assert_non_null(chain);
	assert_non_null(b);
	assert_non_null(inter = PEM_read_bio_X509(b, NULL, NULL, NULL));
	assert_int_equal(sk_X509_push(chain, inter), 1);
	assert_int_equal(X509_STORE_add_cert(st, f->root), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, chain), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	if (X509_verify_cert(ctx) != 1)
		fail_msg("verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
	sk_X509_pop_free(chain, X509_free);
	BIO_free(b);
}

static void
assert_sans_exactly(X509 *x, const char *const *want, size_t n)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);

	assert_non_null(g);
	assert_int_equal(sk_GENERAL_NAME_num(g), n);
	for (size_t i = 0; i < n; i++) {
		GENERAL_NAME *gn = sk_GENERAL_NAME_value(g, (int)i);
		int type;
		ASN1_STRING *v = GENERAL_NAME_get0_value(gn, &type);

		assert_int_equal(type, GEN_DNS);
		assert_int_equal(ASN1_STRING_length(v), strlen(want[i]));
		assert_memory_equal(ASN1_STRING_get0_data(v), want[i], strlen(want[i]));
	}
	GENERAL_NAMES_free(g);
}

static bool
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	assert_int_equal(X509_get_ext_by_NID(x, nid, i), -1); /* exactly once */
	return X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

static void
new_serial_is_a_positive_20_octet_integer(void **state)
{
	uint8_t a[20], b[20];

	for (int i = 0; i < 5000; i++) {
		assert_int_equal(signer_new_serial(a), DEED_OK);
		assert_true(a[0] >= 0x01 && a[0] <= 0x7f);
	}
	assert_int_equal(signer_new_serial(b), DEED_OK);
	assert_memory_not_equal(a, b, sizeof(a));
}

static void
ec256_cert_chains_to_root_as_a_tls_server(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->ec256);
	x = issue(f->s, &r);
	assert_chains_to_root(f, x);
	assert_int_equal(X509_check_host(x, "www.example.test", 0, 0, NULL), 1);
	X509_free(x);
}

static void
rsa2048_cert_chains_to_root_as_a_tls_server(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->rsa2048);
	x = issue(f->s, &r);
	assert_chains_to_root(f, x);
	X509_free(x);
}

static void
sans_are_exactly_the_requested_names_in_order(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->ec256);
	x = issue(f->s, &r);
	assert_sans_exactly(x, names2, 2);
	assert_false(ext_critical(x, NID_subject_alt_name)); /* the subject has a CN */
	X509_free(x);
}

static void
ec_key_gets_digital_signature_only(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->ec256);
	x = issue(f->s, &r);
	assert_true(ext_critical(x, NID_key_usage));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
	X509_free(x);
}

static void
rsa_key_also_gets_key_encipherment(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->rsa2048);
	x = issue(f->s, &r);
	assert_true(ext_critical(x, NID_key_usage));
	assert_int_equal(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT);
	X509_free(x);
}

static void
serial_is_the_requested_20_octets_and_positive(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	const ASN1_INTEGER *sn;
	unsigned char *der = NULL;
	X509 *x;
	int n;

	base_req(&r, f->ec256);
	x = issue(f->s, &r);
	sn = X509_get0_serialNumber(x);
	assert_int_equal(ASN1_STRING_type(sn), V_ASN1_INTEGER); /* not V_ASN1_NEG_INTEGER */
	assert_int_equal(ASN1_STRING_length(sn), 20);
	assert_memory_equal(ASN1_STRING_get0_data(sn), r.serial, 20);
	n = i2d_ASN1_INTEGER(sn, &der);
	assert_int_equal(n, 22); /* tag, length, exactly 20 content octets */
	assert_int_equal(der[1], 20);
	assert_true(der[2] < 0x80);
	OPENSSL_free(der);
	X509_free(x);
}

static void
prepared_tbs_is_exactly_what_was_signed(void **state)
{
	struct fx *f = *state;
	EVP_PKEY *keys[2] = {f->ec256, f->rsa2048};

	for (size_t i = 0; i < 2; i++) {
		struct signer_req r;
		uint8_t *tbs = NULL, *der = NULL;
		const uint8_t *st;
		size_t tbs_len = 0, der_len = 0, st_len = 0;
		X509 *x;

		base_req(&r, keys[i]);
		x = issue_der(f->s, &r, &tbs, &tbs_len, &der, &der_len);
		signed_tbs(der, der_len, &st, &st_len);
		assert_int_equal(st_len, tbs_len);
		assert_memory_equal(st, tbs, tbs_len);
		/* and the signature over those bytes is good */
		assert_int_equal(X509_verify(x, X509_get0_pubkey(f->inter)), 1);
		free(tbs);
		free(der);
		X509_free(x);
	}
}

static void
cert_follows_the_classic_leaf_profile(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char cn[128];
	const ASN1_OCTET_STRING *ski;
	X509 *x;

	base_req(&r, f->ec256);
	x = issue(f->s, &r);
	assert_int_equal(X509_get_version(x), X509_VERSION_3);
	assert_int_equal(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(f->inter)),
			 0);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 1);
	assert_true(X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
					      sizeof(cn)) > 0);
	assert_string_equal(cn, "example.test");
	assert_true(ext_critical(x, NID_basic_constraints));
	assert_int_equal(X509_check_ca(x), 0);
	assert_false(ext_critical(x, NID_ext_key_usage));
	assert_int_equal(X509_get_extended_key_usage(x), XKU_SSL_SERVER);
	assert_non_null(ski = X509_get0_subject_key_id(x));
	assert_int_equal(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen), 1);
	assert_int_equal(ASN1_STRING_length(ski), mdlen);
	assert_memory_equal(ASN1_STRING_get0_data(ski), md, mdlen);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(x),
					       X509_get0_subject_key_id(f->inter)),
			 0);
	assert_int_equal(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), (time_t)r.not_before), 0);
	assert_int_equal(ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), (time_t)r.not_after), 0);
	assert_int_equal(X509_get_ext_count(x), 6);
	assert_int_equal(X509_verify(x, X509_get0_pubkey(signer_issuer(f->s))), 1);
	X509_free(x);
}

static void
no_cn_gives_an_empty_subject_and_a_critical_san(void **state)
{
	struct fx *f = *state;
	struct signer_req r;
	X509 *x;

	base_req(&r, f->ec256);
	r.cn = NULL;
	x = issue(f->s, &r);
	assert_int_equal(X509_NAME_entry_count(X509_get_subject_name(x)), 0);
	assert_true(ext_critical(x, NID_subject_alt_name));
	assert_chains_to_root(f, x);
	X509_free(x);
}

static void
ip_literal_names_become_ip_addresses(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = {"192.0.2.1", "2001:db8::7", "host.example.test"};
	struct signer_req r;
	GENERAL_NAMES *g;
	int type;
	X509 *x;

	base_req(&r, f->ec256);
	r.names = names;
	r.n_names = 3;
	r.cn = NULL;
	x = issue(f->s, &r);
	assert_int_equal(X509_check_ip_asc(x, "192.0.2.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(x, "2001:db8::7", 0), 1);
	assert_int_equal(X509_check_host(x, "host.example.test", 0, 0, NULL), 1);
	assert_int_equal(X509_check_host(x, "192.0.2.1", 0, 0, NULL), 0);
	assert_non_null(g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL));
	GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(g, 0), &type);
	assert_int_equal(type, GEN_IPADD);
	GENERAL_NAMES_free(g);
	X509_free(x);
}

static void
prepare_refuses_requests_it_cannot_honour(void **state)
{
	struct fx *f = *state;
	static const char *const empty[] = {""};
	const char *long_cn = "a234567890123456789012345678901234567890123456789012345678901.test";
	struct signer_req r;
	X509 *x = (X509 *)1;
	uint8_t *tbs = (uint8_t *)1;
	size_t len = 1;

#define REFUSED(mutate)                                                                            \
	do {                                                                                       \
		base_req(&r, f->ec256);                                                            \
		mutate;                                                                            \
		assert_int_equal(signer_prepare(f->s, &r, &x, &tbs, &len), DEED_EINVAL);           \
		assert_null(x);                                                                    \
		assert_null(tbs);                                                                  \
	} while (0)

	REFUSED(r.n_names = 0);
	REFUSED(r.names = empty; r.n_names = 1);
	REFUSED(r.pubkey = NULL);
	REFUSED(r.cn = long_cn);
	REFUSED(r.cn = "");
	REFUSED(r.serial[0] = 0x80);
	REFUSED(r.serial[0] = 0x00);
	REFUSED(r.not_after = r.not_before);
	/* Past the intermediate's notAfter (ten years): the chain would stop verifying. */
	REFUSED(r.not_after = r.not_before + (int64_t)11 * 365 * 24 * 3600);
#undef REFUSED
}

struct worker {
	struct fx *f;
	int ok;
};

static void *
sign_many(void *arg)
{
	struct worker *w = arg;
	EVP_PKEY *issuer_pub = X509_get0_pubkey(w->f->inter);

	for (int i = 0; i < 25; i++) {
		struct signer_req r;
		X509 *x = NULL, *y;
		uint8_t *tbs = NULL, *der = NULL;
		size_t tl = 0, dl = 0;
		const unsigned char *p;
		int64_t now = (int64_t)time(NULL);

		memset(&r, 0, sizeof(r));
		r.pubkey = w->f->ec256;
		r.names = names2;
		r.n_names = 2;
		r.not_before = now;
		r.not_after = now + 3600;
		if (signer_new_serial(r.serial) != DEED_OK ||
		    signer_prepare(w->f->s, &r, &x, &tbs, &tl) != DEED_OK ||
		    signer_sign(w->f->s, x, &der, &dl) != DEED_OK) {
			X509_free(x);
			free(tbs);
			return NULL;
		}
		p = der;
		y = d2i_X509(NULL, &p, (long)dl);
		if (y != NULL && X509_verify(y, issuer_pub) == 1)
			w->ok++;
		X509_free(y);
		X509_free(x);
		free(tbs);
		free(der);
	}
	return NULL;
}

static void
signing_from_many_threads_at_once_gives_valid_certificates(void **state)
{
	struct fx *f = *state;
	pthread_t t[8];
	struct worker w[8];

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){.f = f, .ok = 0};
		assert_int_equal(pthread_create(&t[i], NULL, sign_many, &w[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(w[i].ok, 25);
	}
}

static void
chain_pem_is_the_intermediate_and_issuer_is_too(void **state)
{
	struct fx *f = *state;
	BIO *b = BIO_new_mem_buf(signer_chain_pem(f->s), -1);
	X509 *x;

	assert_non_null(b);
	assert_non_null(x = PEM_read_bio_X509(b, NULL, NULL, NULL));
	assert_int_equal(X509_cmp(x, f->inter), 0);
	/* nothing but the one certificate */
	assert_null(PEM_read_bio_X509(b, NULL, NULL, NULL));
	ERR_clear_error();
	assert_int_equal(X509_cmp(signer_issuer(f->s), f->inter), 0);
	X509_free(x);
	BIO_free(b);
}

static void
copy_file(const char *from_dir, const char *to_dir, const char *name)
{
	char a[PATH_MAX], b[PATH_MAX], buf[8192];
	FILE *in, *out;
	size_t n;

	snprintf(a, sizeof(a), "%s/%s", from_dir, name);
	snprintf(b, sizeof(b), "%s/%s", to_dir, name);
	assert_non_null(in = fopen(a, "r"));
	assert_non_null(out = fopen(b, "w"));
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		assert_int_equal(fwrite(buf, 1, n, out), n);
	fclose(in);
	fclose(out);
}

/* A directory with intermediate.pem, intermediate.key, root.pem taken from the given CAs. */
static void
mix(const char *dir, const char *inter_pem, const char *inter_key, const char *root_pem)
{
	rm_tree(dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	copy_file(inter_pem, dir, "intermediate.pem");
	copy_file(inter_key, dir, "intermediate.key");
	copy_file(root_pem, dir, "root.pem");
}

static void
load_refuses_missing_files_naming_them(void **state)
{
	struct fx *f = *state;
	struct signer *s = (struct signer *)1;
	char dir[PATH_MAX], err[512] = "";

	snprintf(dir, sizeof(dir), "%s/nothing", f->base);
	assert_int_equal(signer_load(dir, &s, err, sizeof(err)), DEED_EIO);
	assert_null(s);
	assert_non_null(strstr(err, "intermediate.pem"));
}

static void
load_refuses_a_key_that_is_not_the_intermediates(void **state)
{
	struct fx *f = *state;
	struct signer *s = NULL;
	char dir[PATH_MAX], err[512] = "";

	snprintf(dir, sizeof(dir), "%s/mixed-key", f->base);
	mix(dir, f->ca, f->other, f->ca);
	assert_int_equal(signer_load(dir, &s, err, sizeof(err)), DEED_ECRYPTO);
	assert_null(s);
	assert_non_null(strstr(err, "does not match"));
	rm_tree(dir);
}

static void
load_refuses_an_intermediate_from_another_root(void **state)
{
	struct fx *f = *state;
	struct signer *s = NULL;
	char dir[PATH_MAX], err[512] = "";

	snprintf(dir, sizeof(dir), "%s/mixed-root", f->base);
	mix(dir, f->ca, f->ca, f->other);
	assert_int_equal(signer_load(dir, &s, err, sizeof(err)), DEED_ECRYPTO);
	assert_null(s);
	assert_non_null(strstr(err, "not signed by"));
	rm_tree(dir);
}

static void
load_refuses_garbage_pem(void **state)
{
	struct fx *f = *state;
	struct signer *s = NULL;
	char dir[PATH_MAX], p[PATH_MAX + 32], err[512] = "";
	FILE *fp;

	snprintf(dir, sizeof(dir), "%s/garbage", f->base);
	mix(dir, f->ca, f->ca, f->ca);
	snprintf(p, sizeof(p), "%s/intermediate.key", dir);
	assert_non_null(fp = fopen(p, "w"));
	fputs("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", fp);
	fclose(fp);
	assert_int_equal(signer_load(dir, &s, err, sizeof(err)), DEED_ECRYPTO);
	assert_null(s);
	assert_non_null(strstr(err, "intermediate.key"));
	rm_tree(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(new_serial_is_a_positive_20_octet_integer),
	    cmocka_unit_test(ec256_cert_chains_to_root_as_a_tls_server),
	    cmocka_unit_test(rsa2048_cert_chains_to_root_as_a_tls_server),
	    cmocka_unit_test(sans_are_exactly_the_requested_names_in_order),
	    cmocka_unit_test(ec_key_gets_digital_signature_only),
	    cmocka_unit_test(rsa_key_also_gets_key_encipherment),
	    cmocka_unit_test(serial_is_the_requested_20_octets_and_positive),
	    cmocka_unit_test(prepared_tbs_is_exactly_what_was_signed),
	    cmocka_unit_test(cert_follows_the_classic_leaf_profile),
	    cmocka_unit_test(no_cn_gives_an_empty_subject_and_a_critical_san),
	    cmocka_unit_test(ip_literal_names_become_ip_addresses),
	    cmocka_unit_test(prepare_refuses_requests_it_cannot_honour),
	    cmocka_unit_test(signing_from_many_threads_at_once_gives_valid_certificates),
	    cmocka_unit_test(chain_pem_is_the_intermediate_and_issuer_is_too),
	    cmocka_unit_test(load_refuses_missing_files_naming_them),
	    cmocka_unit_test(load_refuses_a_key_that_is_not_the_intermediates),
	    cmocka_unit_test(load_refuses_an_intermediate_from_another_root),
	    cmocka_unit_test(load_refuses_garbage_pem),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
