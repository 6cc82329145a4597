#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "error.h"
#include "init.h"
#include "sa.h"
#include "signer.h"

#define DAY (24LL * 3600)
/* Every certificate starts an hour early, like the RA's, for clients with skewed clocks. */
#define BACKDATE 3600
#define ROOT_DAYS (20 * 365 + 5)  /* 20 years with their leap days */
#define INTER_DAYS (10 * 365 + 3) /* 10 years */
/* Apple platforms refuse TLS server certificates valid for more than 825 days even under a
 * root the user installed; the API must work there. */
#define TLS_DAYS 825

/* What a CA directory holds. Any of them present means a CA (or the wreck of one) is there. */
static const char *const ca_files[] = {
    "root.pem", "root.key", "intermediate.pem", "intermediate.key",
    "tls.pem",	"tls.key",  "deed-ca.db",	"deed-ca.conf",
};

struct ext {
	int nid;
	const char *value;
};

/* RFC 5280 §4.2.1.9/§4.2.1.3; CA/B BR §7.1.2.1 (root: no EKU, no AKI needed when
 * self-signed). */
static const struct ext root_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
};

/* pathlen:0: the intermediate issues only end entities. The EKU limits it to TLS server
 * certificates, what it issues: CA/B BR §7.1.2.2 wants an EKU on TLS subordinate CAs, and a
 * verifier checking the chain for serverAuth (OpenSSL's sslserver purpose) accepts it. */
static const struct ext inter_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
    {NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
};

#define seterr deed_seterr

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

static int
join(char *out, size_t outsz, const char *dir, const char *name)
{
	int n = snprintf(out, outsz, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= outsz ? DEED_EINVAL : DEED_OK;
}

static int
make_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return DEED_OK;
	if (errno == EEXIST && stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
		return DEED_OK;
	seterr(err, errlen, "cannot create %s: %s", dir,
	       errno == EEXIST ? "not a directory" : strerror(errno));
	return DEED_EIO;
}

static int
refuse_existing(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < sizeof(ca_files) / sizeof(ca_files[0]); i++) {
		if (join(path, sizeof(path), dir, ca_files[i]) != DEED_OK) {
			seterr(err, errlen, "%s: path too long", dir);
			return DEED_EINVAL;
		}
		if (lstat(path, &st) == 0) {
			seterr(err, errlen, "%s already exists: there is a CA in %s", path, dir);
			return DEED_ECONFLICT;
		}
		if (errno != ENOENT) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			return DEED_EIO;
		}
	}
	return DEED_OK;
}

/*
 * Create DIR/NAME with content and mode, never replacing anything: the bytes go to a fresh
 * temporary file (mkostemp: O_CREAT|O_EXCL, mode 0600, so a key is never readable by others,
 * not even for a moment), reach the disk, and only then get their name through link(), which
 * fails rather than overwrite. A crash leaves either no file or a whole one.
 */
static int
write_new(const char *dir, const char *name, const void *data, size_t len, mode_t mode, char *err,
	  size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	const char *p = data;
	int fd = -1, rc = DEED_EIO, n;

	n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
	if (join(path, sizeof(path), dir, name) != DEED_OK || n < 0 || (size_t)n >= sizeof(tmp)) {
		seterr(err, errlen, "%s: path too long", dir);
		return DEED_EINVAL;
	}
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		seterr(err, errlen, "cannot create a file in %s: %s", dir, strerror(errno));
		return DEED_EIO;
	}
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto fail;
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	n = close(fd);
	fd = -1;
	if (n == -1)
		goto fail;
	if (link(tmp, path) == -1) {
		if (errno == EEXIST) {
			seterr(err, errlen, "%s already exists: there is a CA in %s", path, dir);
			rc = DEED_ECONFLICT;
			goto out;
		}
		goto fail;
	}
	rc = DEED_OK;
	goto out;
fail:
	seterr(err, errlen, "cannot write %s: %s", path, strerror(errno));
out:
	if (fd != -1)
		close(fd);
	unlink(tmp);
	return rc;
}

/* PEM of a certificate or (with key != NULL) of a private key, written through write_new.
 * Key bytes live in a secure-heap BIO that is wiped when freed. */
static int
write_pem(const char *dir, const char *name, X509 *x, EVP_PKEY *key, char *err, size_t errlen)
{
	BIO *b = BIO_new(key != NULL ? BIO_s_secmem() : BIO_s_mem());
	char *data;
	long n;
	int rc;

	if (b == NULL)
		return DEED_ENOMEM;
	if ((key != NULL ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_bio_X509(b, x)) != 1 ||
	    (n = BIO_get_mem_data(b, &data)) <= 0) {
		BIO_free(b);
		ERR_clear_error();
		return DEED_ENOMEM;
	}
	rc = write_new(dir, name, data, (size_t)n, key != NULL ? 0600 : 0644, err, errlen);
	BIO_free(b);
	return rc;
}

static int
set_name(X509_NAME *nm, const char *org, const char *cn)
{
	return X509_NAME_add_entry_by_NID(nm, NID_organizationName, MBSTRING_UTF8,
					  (const unsigned char *)org, -1, -1, 0) == 1 &&
		       X509_NAME_add_entry_by_NID(nm, NID_commonName, MBSTRING_UTF8,
						  (const unsigned char *)cn, -1, -1, 0) == 1
		   ? DEED_OK
		   : DEED_ENOMEM;
}

/* A CA certificate for key, signed by issuer_key (issuer NULL: self-signed) with SHA-384, the
 * match for the root's P-384 key. */
static int
make_ca_cert(const char *org, const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
	     int64_t not_before, int days, const struct ext *exts, size_t n_exts, X509 **out)
{
	X509 *x = X509_new();
	X509_NAME *nm = X509_NAME_new();
	ASN1_INTEGER *serial = ASN1_INTEGER_new();
	uint8_t sn[20];
	X509V3_CTX ctx;
	int rc = DEED_ENOMEM;

	*out = NULL;
	if (x == NULL || nm == NULL || serial == NULL || set_name(nm, org, cn) != DEED_OK)
		goto out;
	if ((rc = signer_new_serial(sn)) != DEED_OK)
		goto out;
	rc = DEED_ECRYPTO;
	if (ASN1_STRING_set(serial, sn, sizeof(sn)) != 1 ||
	    X509_set_version(x, X509_VERSION_3) != 1 || X509_set_serialNumber(x, serial) != 1 ||
	    X509_set_subject_name(x, nm) != 1 ||
	    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : nm) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(not_before + (int64_t)days * DAY)) ==
		NULL ||
	    X509_set_pubkey(x, key) != 1)
		goto out;
	memset(&ctx, 0, sizeof(ctx));
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	for (size_t i = 0; i < n_exts; i++) {
		X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, exts[i].nid, exts[i].value);
		int ok = e != NULL && X509_add_ext(x, e, -1) == 1;

		X509_EXTENSION_free(e);
		if (!ok)
			goto out;
	}
	if (X509_sign(x, issuer_key, EVP_sha384()) <= 0)
		goto out;
	*out = x;
	x = NULL;
	rc = DEED_OK;
out:
	X509_free(x);
	X509_NAME_free(nm);
	ASN1_INTEGER_free(serial);
	return rc;
}

/* The names the API's certificate covers: loopback always (the default listen address and
 * what local clients use), plus the configured listen address unless it is a wildcard. */
static size_t
tls_names(const char *listen, char host[INET6_ADDRSTRLEN], const char *names[4])
{
	char raw[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	size_t n = 0;
	int port, af;

	names[n++] = "localhost";
	names[n++] = "127.0.0.1";
	names[n++] = "::1";
	if (config_split_hostport(listen, raw, sizeof(raw), &port) != DEED_OK)
		return n;
	af = listen[0] == '[' ? AF_INET6 : AF_INET;
	if (inet_pton(af, raw, bin) != 1 || inet_ntop(af, bin, host, INET6_ADDRSTRLEN) == NULL)
		return n;
	if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0 &&
	    strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0)
		names[n++] = host;
	return n;
}

static int
make_tls_cert(X509 *root, EVP_PKEY *root_key, EVP_PKEY *key, const char *listen, int64_t not_before,
	      X509 **out, char *err, size_t errlen)
{
	struct signer *s = NULL;
	struct signer_req req = {0};
	const char *names[4];
	char host[INET6_ADDRSTRLEN];
	X509 *x = NULL;
	uint8_t *tbs = NULL, *der = NULL;
	const unsigned char *p;
	size_t tbs_len = 0, der_len = 0;
	int rc;

	*out = NULL;
	if ((rc = signer_new(root, root_key, &s, err, errlen)) != DEED_OK)
		goto out;
	req.pubkey = key;
	req.names = names;
	req.n_names = tls_names(listen, host, names);
	req.cn = "localhost";
	req.not_before = not_before;
	req.not_after = not_before + (int64_t)TLS_DAYS * DAY;
	if ((rc = signer_new_serial(req.serial)) != DEED_OK ||
	    (rc = signer_prepare(s, &req, &x, &tbs, &tbs_len)) != DEED_OK ||
	    (rc = signer_sign(s, x, &der, &der_len)) != DEED_OK) {
		seterr(err, errlen, "cannot make the API's TLS certificate: %s", deed_strerror(rc));
		goto out;
	}
	p = der;
	if ((*out = d2i_X509(NULL, &p, (long)der_len)) == NULL)
		rc = DEED_ECRYPTO;
out:
	signer_free(s);
	X509_free(x);
	free(tbs);
	free(der);
	return rc;
}

struct ca_material {
	EVP_PKEY *root_key, *inter_key, *tls_key;
	X509 *root, *inter, *tls;
};

static void
material_cleanup(struct ca_material *m)
{
	EVP_PKEY_free(m->root_key);
	EVP_PKEY_free(m->inter_key);
	EVP_PKEY_free(m->tls_key);
	X509_free(m->root);
	X509_free(m->inter);
	X509_free(m->tls);
}

static int
make_material(const struct ca_config *cfg, struct ca_material *m, char *err, size_t errlen)
{
	char cn[128], why[160];
	int64_t nb = (int64_t)time(NULL) - BACKDATE;
	int rc = DEED_ECRYPTO;

	/* P-384 for the root, which lives 20 years and signs rarely; P-256 below it, what
	 * every TLS stack verifies fastest. */
	if ((m->root_key = EVP_EC_gen("P-384")) == NULL ||
	    (m->inter_key = EVP_EC_gen("P-256")) == NULL ||
	    (m->tls_key = EVP_EC_gen("P-256")) == NULL) {
		seterr(err, errlen, "key generation failed: %s", ossl_reason(why, sizeof(why)));
		return DEED_ECRYPTO;
	}
	snprintf(cn, sizeof(cn), "%s Root CA", cfg->name);
	if ((rc = make_ca_cert(cfg->name, cn, m->root_key, NULL, m->root_key, nb, ROOT_DAYS,
			       root_exts, sizeof(root_exts) / sizeof(root_exts[0]), &m->root)) !=
	    DEED_OK) {
		seterr(err, errlen, "cannot make the root certificate: %s",
		       ossl_reason(why, sizeof(why)));
		return rc;
	}
	snprintf(cn, sizeof(cn), "%s Intermediate CA", cfg->name);
	if ((rc = make_ca_cert(cfg->name, cn, m->inter_key, m->root, m->root_key, nb, INTER_DAYS,
			       inter_exts, sizeof(inter_exts) / sizeof(inter_exts[0]),
			       &m->inter)) != DEED_OK) {
		seterr(err, errlen, "cannot make the intermediate certificate: %s",
		       ossl_reason(why, sizeof(why)));
		return rc;
	}
	/* Signed by the root, not the intermediate: root.pem alone then verifies the API, and
	 * the API keeps working whatever happens to the issuing CA. */
	if ((rc = make_tls_cert(m->root, m->root_key, m->tls_key, cfg->listen, nb, &m->tls, err,
				errlen)) != DEED_OK)
		return rc;
	return DEED_OK;
}

static int
create_database(const char *dir, char *err, size_t errlen)
{
	struct sa *sa = NULL;
	char url[PATH_MAX + 8], why[256] = "";
	int n, rc;

	n = snprintf(url, sizeof(url), "sqlite:%s/deed-ca.db", dir);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		seterr(err, errlen, "%s: path too long", dir);
		return DEED_EINVAL;
	}
	if ((rc = sa_open(url, &sa, why, sizeof(why))) != DEED_OK) {
		seterr(err, errlen, "cannot create the database %s/deed-ca.db: %s", dir,
		       why[0] != '\0' ? why : deed_strerror(rc));
		return rc;
	}
	sa_close(sa);
	return DEED_OK;
}

static int
sync_dir(const char *dir, char *err, size_t errlen)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = DEED_OK;

	if (fd == -1 || fsync(fd) == -1) {
		seterr(err, errlen, "cannot sync %s: %s", dir, strerror(errno));
		rc = DEED_EIO;
	}
	if (fd != -1)
		close(fd);
	return rc;
}

/*
 * Files are written keys first and the configuration last: `deed-ca serve` needs
 * deed-ca.conf, so a CA interrupted halfway never starts, and a second init refuses to touch
 * what the first one left.
 */
int
ca_init(const char *dir, const char *name, const char *listen, char *err, size_t errlen)
{
	struct ca_config cfg;
	struct ca_material m = {0};
	char *conf = NULL;
	size_t conf_len = 0;
	int rc;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (dir == NULL || dir[0] == '\0') {
		seterr(err, errlen, "no directory given");
		return DEED_EINVAL;
	}
	if ((rc = config_defaults(&cfg, dir)) != DEED_OK)
		return rc;
	if ((name != NULL && (rc = config_set(&cfg, "name", name, err, errlen)) != DEED_OK) ||
	    (listen != NULL && (rc = config_set(&cfg, "listen", listen, err, errlen)) != DEED_OK)) {
		rc = rc == DEED_ENOMEM ? rc : DEED_EINVAL;
		goto out;
	}
	if ((rc = make_dir(dir, err, errlen)) != DEED_OK ||
	    (rc = refuse_existing(dir, err, errlen)) != DEED_OK ||
	    (rc = make_material(&cfg, &m, err, errlen)) != DEED_OK ||
	    (rc = config_format(&cfg, &conf, &conf_len)) != DEED_OK)
		goto out;
	if ((rc = write_pem(dir, "root.key", NULL, m.root_key, err, errlen)) != DEED_OK ||
	    (rc = write_pem(dir, "intermediate.key", NULL, m.inter_key, err, errlen)) != DEED_OK ||
	    (rc = write_pem(dir, "tls.key", NULL, m.tls_key, err, errlen)) != DEED_OK ||
	    (rc = write_pem(dir, "root.pem", m.root, NULL, err, errlen)) != DEED_OK ||
	    (rc = write_pem(dir, "intermediate.pem", m.inter, NULL, err, errlen)) != DEED_OK ||
	    (rc = write_pem(dir, "tls.pem", m.tls, NULL, err, errlen)) != DEED_OK ||
	    (rc = create_database(dir, err, errlen)) != DEED_OK ||
	    (rc = write_new(dir, "deed-ca.conf", conf, conf_len, 0644, err, errlen)) != DEED_OK)
		goto out;
	rc = sync_dir(dir, err, errlen);
out:
	ERR_clear_error();
	material_cleanup(&m);
	free(conf);
	config_cleanup(&cfg);
	return rc;
}
