#include <dirent.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "error.h"
#include "init.h"
#include "signer.h"

#define DAY (24 * 3600)

struct fx {
	char base[256]; /* mkdtemp directory, removed at the end */
	char dir[512];	/* base/ca: does not exist until ca_init */
};

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

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const char *t = getenv("TMPDIR");

	if (f == NULL)
		return -1;
	snprintf(f->base, sizeof(f->base), "%s/deed-init-XXXXXX", t != NULL ? t : "/tmp");
	if (mkdtemp(f->base) == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/ca", f->base);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_tree(f->base);
	free(f);
	return 0;
}

static X509 *
load_cert(const char *dir, const char *name)
{
	char p[PATH_MAX];
	FILE *fp;
	X509 *x;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(fp = fopen(p, "r"));
	x = PEM_read_X509(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(x);
	return x;
}

static EVP_PKEY *
load_key(const char *dir, const char *name)
{
	char p[PATH_MAX];
	FILE *fp;
	EVP_PKEY *k;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_non_null(fp = fopen(p, "r"));
	k = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
	fclose(fp);
	assert_non_null(k);
	return k;
}

static mode_t
mode_of(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 07777;
}

static bool
exists(const char *dir, const char *name)
{
	char p[PATH_MAX];
	struct stat st;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &st) == 0;
}

static void
init_ok(const char *dir, const char *name, const char *listen)
{
	char err[512] = "";
	int rc = ca_init(dir, name, listen, err, sizeof(err));

	if (rc != DEED_OK)
		fail_msg("ca_init: %d %s", rc, err);
}

static void
assert_name(X509_NAME *nm, int nid, const char *want)
{
	char got[256];

	assert_true(X509_NAME_get_text_by_NID(nm, nid, got, sizeof(got)) > 0);
	assert_string_equal(got, want);
}

static bool
ext_critical(X509 *x, int nid)
{
	int i = X509_get_ext_by_NID(x, nid, -1);

	assert_true(i >= 0);
	return X509_EXTENSION_get_critical(X509_get_ext(x, i)) == 1;
}

static int64_t
lifetime(X509 *x)
{
	int days = 0, secs = 0;

	assert_int_equal(
	    ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	return (int64_t)days * DAY + secs;
}

static void
init_creates_every_file_with_its_mode(void **state)
{
	struct fx *f = *state;
	static const char *const keys[] = {"root.key", "intermediate.key", "tls.key"};
	static const char *const pub[] = {"root.pem", "intermediate.pem", "tls.pem",
					  "deed-ca.conf"};
	struct stat st;

	init_ok(f->dir, NULL, NULL);
	assert_int_equal(stat(f->dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(mode_of(f->dir, keys[i]), 0600);
	for (size_t i = 0; i < 4; i++)
		assert_int_equal(mode_of(f->dir, pub[i]), 0644);
	assert_true(exists(f->dir, "deed-ca.db"));
}

static void
init_leaves_no_temporary_files(void **state)
{
	struct fx *f = *state;
	DIR *d;
	struct dirent *e;
	size_t n = 0;

	init_ok(f->dir, NULL, NULL);
	assert_non_null(d = opendir(f->dir));
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			assert_true(strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0);
		else
			n++;
	}
	closedir(d);
	assert_int_equal(n, 8);
}

static void
second_init_refuses_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	char err[512] = "";
	X509 *before, *after;

	init_ok(f->dir, "first", NULL);
	before = load_cert(f->dir, "root.pem");
	assert_int_equal(ca_init(f->dir, "second", NULL, err, sizeof(err)), DEED_ECONFLICT);
	assert_non_null(strstr(err, "already exists"));
	after = load_cert(f->dir, "root.pem");
	assert_int_equal(X509_cmp(before, after), 0);
	X509_free(before);
	X509_free(after);
}

static void
init_refuses_a_directory_holding_only_a_config(void **state)
{
	struct fx *f = *state;
	char p[PATH_MAX], err[512] = "";
	FILE *fp;

	assert_int_equal(mkdir(f->dir, 0700), 0);
	snprintf(p, sizeof(p), "%s/deed-ca.conf", f->dir);
	assert_non_null(fp = fopen(p, "w"));
	fclose(fp);
	assert_int_equal(ca_init(f->dir, NULL, NULL, err, sizeof(err)), DEED_ECONFLICT);
	assert_non_null(strstr(err, "deed-ca.conf"));
	assert_false(exists(f->dir, "root.key"));
}

static void
init_uses_an_existing_empty_directory(void **state)
{
	struct fx *f = *state;

	assert_int_equal(mkdir(f->dir, 0755), 0);
	init_ok(f->dir, NULL, NULL);
	assert_true(exists(f->dir, "root.pem"));
}

static void
init_rejects_bad_name_or_listen_before_writing(void **state)
{
	struct fx *f = *state;
	char err[512] = "";

	assert_int_equal(ca_init(f->dir, "", NULL, err, sizeof(err)), DEED_EINVAL);
	assert_int_equal(ca_init(f->dir, "0123456789012345678901234567890123456789012345678", NULL,
				 err, sizeof(err)),
			 DEED_EINVAL);
	assert_int_equal(ca_init(f->dir, "bad\x01name", NULL, err, sizeof(err)), DEED_EINVAL);
	assert_int_equal(ca_init(f->dir, NULL, "localhost:14443", err, sizeof(err)), DEED_EINVAL);
	assert_non_null(strstr(err, "listen"));
	assert_int_equal(ca_init(f->dir, NULL, "127.0.0.1:0", err, sizeof(err)), DEED_EINVAL);
	assert_false(exists(f->base, "ca"));
}

static void
root_is_a_self_signed_p384_ca_for_20_years(void **state)
{
	struct fx *f = *state;
	X509 *root;
	EVP_PKEY *key;

	init_ok(f->dir, "Acme Test", NULL);
	root = load_cert(f->dir, "root.pem");
	key = load_key(f->dir, "root.key");
	assert_int_equal(X509_check_private_key(root, key), 1);
	assert_int_equal(X509_verify(root, key), 1);
	assert_int_equal(X509_check_issued(root, root), X509_V_OK);
	assert_int_equal(EVP_PKEY_get_base_id(key), EVP_PKEY_EC);
	assert_int_equal(EVP_PKEY_get_bits(key), 384);
	assert_int_equal(X509_get_version(root), X509_VERSION_3);
	assert_name(X509_get_subject_name(root), NID_commonName, "Acme Test Root CA");
	assert_name(X509_get_subject_name(root), NID_organizationName, "Acme Test");
	assert_true(X509_check_ca(root) > 0);
	assert_true(ext_critical(root, NID_basic_constraints));
	assert_int_equal(X509_get_pathlen(root), -1);
	assert_true(ext_critical(root, NID_key_usage));
	assert_int_equal(X509_get_key_usage(root), KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_non_null(X509_get0_subject_key_id(root));
	assert_int_equal(X509_get_ext_by_NID(root, NID_ext_key_usage, -1), -1);
	assert_int_equal(X509_get_signature_nid(root), NID_ecdsa_with_SHA384);
	assert_int_equal(lifetime(root), (int64_t)(20 * 365 + 5) * DAY);
	assert_true(X509_cmp_time(X509_get0_notBefore(root), NULL) < 0);
	X509_free(root);
	EVP_PKEY_free(key);
}

static void
intermediate_is_a_p256_ca_signed_by_root_with_pathlen_0(void **state)
{
	struct fx *f = *state;
	X509 *root, *inter;
	EVP_PKEY *key;

	init_ok(f->dir, NULL, NULL);
	root = load_cert(f->dir, "root.pem");
	inter = load_cert(f->dir, "intermediate.pem");
	key = load_key(f->dir, "intermediate.key");
	assert_int_equal(X509_verify(inter, X509_get0_pubkey(root)), 1);
	assert_int_equal(X509_check_issued(root, inter), X509_V_OK);
	assert_int_equal(X509_check_private_key(inter, key), 1);
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	assert_name(X509_get_subject_name(inter), NID_commonName, "deed Intermediate CA");
	assert_name(X509_get_subject_name(inter), NID_organizationName, "deed");
	assert_true(X509_check_ca(inter) > 0);
	assert_true(ext_critical(inter, NID_basic_constraints));
	assert_int_equal(X509_get_pathlen(inter), 0);
	assert_true(ext_critical(inter, NID_key_usage));
	assert_int_equal(X509_get_key_usage(inter),
			 KU_DIGITAL_SIGNATURE | KU_KEY_CERT_SIGN | KU_CRL_SIGN);
	assert_int_equal(X509_get_extended_key_usage(inter), XKU_SSL_SERVER);
	assert_int_equal(ASN1_OCTET_STRING_cmp(X509_get0_authority_key_id(inter),
					       X509_get0_subject_key_id(root)),
			 0);
	assert_non_null(X509_get0_subject_key_id(inter));
	assert_int_equal(lifetime(inter), (int64_t)(10 * 365 + 3) * DAY);
	assert_true(ASN1_TIME_compare(X509_get0_notAfter(inter), X509_get0_notAfter(root)) <= 0);
	X509_free(root);
	X509_free(inter);
	EVP_PKEY_free(key);
}

static void
assert_verifies_with_root_alone(X509 *root, X509 *leaf)
{
	X509_STORE *st = X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	int ok;

	assert_non_null(st);
	assert_non_null(ctx);
	assert_int_equal(X509_STORE_add_cert(st, root), 1);
	assert_int_equal(X509_STORE_CTX_init(ctx, st, leaf, NULL), 1);
	assert_int_equal(X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER), 1);
	ok = X509_verify_cert(ctx);
	if (ok != 1)
		fail_msg("verify: %s",
			 X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(st);
}

static size_t
san_count(X509 *x)
{
	GENERAL_NAMES *g = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	size_t n;

	assert_non_null(g);
	n = (size_t)sk_GENERAL_NAME_num(g);
	GENERAL_NAMES_free(g);
	return n;
}

static void
tls_cert_verifies_with_root_alone_and_names_loopback_and_listen(void **state)
{
	struct fx *f = *state;
	X509 *root, *tls;
	EVP_PKEY *key;

	init_ok(f->dir, NULL, "192.0.2.7:8443");
	root = load_cert(f->dir, "root.pem");
	tls = load_cert(f->dir, "tls.pem");
	key = load_key(f->dir, "tls.key");
	assert_verifies_with_root_alone(root, tls);
	assert_int_equal(X509_check_private_key(tls, key), 1);
	assert_int_equal(EVP_PKEY_get_bits(key), 256);
	assert_int_equal(X509_check_host(tls, "localhost", 0, 0, NULL), 1);
	assert_int_equal(X509_check_ip_asc(tls, "127.0.0.1", 0), 1);
	assert_int_equal(X509_check_ip_asc(tls, "::1", 0), 1);
	assert_int_equal(X509_check_ip_asc(tls, "192.0.2.7", 0), 1);
	assert_int_equal(san_count(tls), 4);
	assert_int_equal(X509_get_extended_key_usage(tls), XKU_SSL_SERVER);
	assert_int_equal(X509_check_ca(tls), 0);
	assert_true(lifetime(tls) <= 825 * DAY);
	assert_true(X509_cmp_time(X509_get0_notBefore(tls), NULL) < 0);
	X509_free(root);
	X509_free(tls);
	EVP_PKEY_free(key);
}

static void
tls_cert_names_an_ipv6_listen_address(void **state)
{
	struct fx *f = *state;
	X509 *tls;

	init_ok(f->dir, NULL, "[2001:db8::1]:443");
	tls = load_cert(f->dir, "tls.pem");
	assert_int_equal(X509_check_ip_asc(tls, "2001:db8::1", 0), 1);
	assert_int_equal(san_count(tls), 4);
	X509_free(tls);
}

static void
tls_cert_leaves_out_wildcard_and_loopback_listen_addresses(void **state)
{
	struct fx *f = *state;
	X509 *tls;

	init_ok(f->dir, NULL, "[::]:14443");
	tls = load_cert(f->dir, "tls.pem");
	assert_int_equal(san_count(tls), 3);
	X509_free(tls);
	rm_tree(f->dir);
	init_ok(f->dir, NULL, "127.0.0.1:9999");
	tls = load_cert(f->dir, "tls.pem");
	assert_int_equal(san_count(tls), 3);
	X509_free(tls);
}

static void
config_written_by_init_loads_with_name_and_listen(void **state)
{
	struct fx *f = *state;
	struct ca_config c;
	char p[PATH_MAX], err[512] = "";

	init_ok(f->dir, "Test Lab", "10.0.0.1:8443");
	assert_int_equal(config_defaults(&c, f->dir), DEED_OK);
	snprintf(p, sizeof(p), "%s/deed-ca.conf", f->dir);
	if (config_load(&c, p, err, sizeof(err)) != DEED_OK)
		fail_msg("%s", err);
	assert_string_equal(c.name, "Test Lab");
	assert_string_equal(c.listen, "10.0.0.1:8443");
	assert_string_equal(c.database, "sqlite:deed-ca.db");
	assert_int_equal(c.cert_lifetime, 90 * DAY);
	config_cleanup(&c);
}

static void
signer_loads_what_init_made(void **state)
{
	struct fx *f = *state;
	struct signer *s = NULL;
	char err[512] = "";
	X509 *inter;

	init_ok(f->dir, NULL, NULL);
	if (signer_load(f->dir, &s, err, sizeof(err)) != DEED_OK)
		fail_msg("%s", err);
	inter = load_cert(f->dir, "intermediate.pem");
	assert_int_equal(X509_cmp(inter, signer_issuer(s)), 0);
	X509_free(inter);
	signer_free(s);
}

static void
init_reports_a_directory_it_cannot_create(void **state)
{
	struct fx *f = *state;
	char dir[PATH_MAX], err[512] = "";

	snprintf(dir, sizeof(dir), "%s/missing/ca", f->base);
	assert_int_equal(ca_init(dir, NULL, NULL, err, sizeof(err)), DEED_EIO);
	assert_non_null(strstr(err, dir));
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(init_creates_every_file_with_its_mode),
	    T(init_leaves_no_temporary_files),
	    T(second_init_refuses_and_changes_nothing),
	    T(init_refuses_a_directory_holding_only_a_config),
	    T(init_uses_an_existing_empty_directory),
	    T(init_rejects_bad_name_or_listen_before_writing),
	    T(root_is_a_self_signed_p384_ca_for_20_years),
	    T(intermediate_is_a_p256_ca_signed_by_root_with_pathlen_0),
	    T(tls_cert_verifies_with_root_alone_and_names_loopback_and_listen),
	    T(tls_cert_names_an_ipv6_listen_address),
	    T(tls_cert_leaves_out_wildcard_and_loopback_listen_addresses),
	    T(config_written_by_init_loads_with_name_and_listen),
	    T(signer_loads_what_init_made),
	    T(init_reports_a_directory_it_cannot_create),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
