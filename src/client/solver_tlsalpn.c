#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dnsname.h"
#include "error.h"
#include "solver.h"

/* RFC 8737 §6.1: the ALPN protocol name, as it goes on the wire (length-prefixed). */
#define ALPN_ACME "acme-tls/1"
#define ALPN_ACME_LEN 10
/* RFC 8737 §6.1: id-pe-acmeIdentifier. */
#define OID_ACME_IDENTIFIER "1.3.6.1.5.5.7.1.31"
#define NAMES_MAX 1000
#define SNI_MAX 253
#define CERT_DAYS 7 /* long enough for any validation, short enough to be useless after */

struct alpn_cert {
	char sni[SNI_MAX + 1]; /* the name a validator sends: the identifier, or its reverse */
	X509 *cert;
	EVP_PKEY *key;
};

struct tlsalpn {
	struct solver base; /* first: struct solver * converts to this */
	struct solver_responder *resp;
	SSL_CTX *ctx;
	pthread_mutex_t lock; /* certs are read by the responder thread */
	struct alpn_cert *certs;
	size_t ncerts;
};

/* --- certificate ----------------------------------------------------------------------- */

/*
 * RFC 8738 §6: for an IP identifier the validator's SNI is the reverse-mapping name
 * ("4.3.2.1.in-addr.arpa"); sni gets that, or the DNS identifier itself. *ip says which.
 */
static int
sni_for(const char *identifier, char sni[SNI_MAX + 1], unsigned char ip[16], int *iplen)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;
	int i;

	*iplen = 0;
	if (inet_pton(AF_INET, identifier, ip) == 1) {
		*iplen = 4;
		snprintf(sni, SNI_MAX + 1, "%u.%u.%u.%u.in-addr.arpa", ip[3], ip[2], ip[1], ip[0]);
		return DEED_OK;
	}
	if (inet_pton(AF_INET6, identifier, ip) == 1) {
		*iplen = 16;
		for (i = 15; i >= 0; i--) {
			sni[o++] = hex[ip[i] & 0xf];
			sni[o++] = '.';
			sni[o++] = hex[ip[i] >> 4];
			sni[o++] = '.';
		}
		snprintf(sni + o, SNI_MAX + 1 - o, "ip6.arpa");
		return DEED_OK;
	}
	if (dnsname_check(identifier, false, NULL, 0) != DEED_OK)
		return DEED_EINVAL;
	snprintf(sni, SNI_MAX + 1, "%s", identifier);
	return DEED_OK;
}

/* RFC 8737 §3: subjectAltName with exactly the identifier being validated. */
static int
add_san(X509 *x, const char *identifier, const unsigned char *ip, int iplen)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	GENERAL_NAME *gen = GENERAL_NAME_new();
	ASN1_STRING *v = iplen > 0 ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();
	int rc = DEED_ECRYPTO;

	if (gens == NULL || gen == NULL || v == NULL)
		goto out;
	if (iplen > 0 ? ASN1_OCTET_STRING_set(v, ip, iplen) != 1
		      : ASN1_STRING_set(v, identifier, -1) != 1)
		goto out;
	GENERAL_NAME_set0_value(gen, iplen > 0 ? GEN_IPADD : GEN_DNS, v);
	v = NULL;
	if (sk_GENERAL_NAME_push(gens, gen) <= 0)
		goto out;
	gen = NULL;
	if (X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
		goto out;
	rc = DEED_OK;
out:
	ASN1_STRING_free(v);
	GENERAL_NAME_free(gen);
	GENERAL_NAMES_free(gens);
	return rc;
}

/*
 * RFC 8737 §3: the critical acmeIdentifier extension, whose extnValue is the DER of an
 * OCTET STRING holding SHA-256(key authorization): 04 20 <32 bytes>.
 */
static int
add_acme_identifier(X509 *x, const char *key_authz)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(OID_ACME_IDENTIFIER, 1);
	ASN1_OCTET_STRING *inner = ASN1_OCTET_STRING_new(), *outer = ASN1_OCTET_STRING_new();
	X509_EXTENSION *ext = NULL;
	unsigned char md[32], *der = NULL;
	unsigned mdlen = 0;
	int derlen, rc = DEED_ECRYPTO;

	if (oid == NULL || inner == NULL || outer == NULL)
		goto out;
	if (EVP_Digest(key_authz, strlen(key_authz), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    ASN1_OCTET_STRING_set(inner, md, (int)mdlen) != 1)
		goto out;
	if ((derlen = i2d_ASN1_OCTET_STRING(inner, &der)) <= 0 ||
	    ASN1_OCTET_STRING_set(outer, der, derlen) != 1)
		goto out;
	if ((ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 1, outer)) == NULL ||
	    X509_add_ext(x, ext, -1) != 1)
		goto out;
	rc = DEED_OK;
out:
	OPENSSL_free(der);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(outer);
	ASN1_OCTET_STRING_free(inner);
	ASN1_OBJECT_free(oid);
	return rc;
}

/* A fresh P-256 key and a self-signed certificate for one challenge (RFC 8737 §3). */
static int
make_cert(const char *identifier, const char *key_authz, const unsigned char *ip, int iplen,
	  X509 **xout, EVP_PKEY **kout)
{
	EVP_PKEY *k = NULL;
	X509 *x = NULL;
	X509_NAME *name = NULL;
	BIGNUM *serial = NULL;
	int rc = DEED_ECRYPTO;

	if ((k = EVP_EC_gen("P-256")) == NULL || (x = X509_new()) == NULL ||
	    (name = X509_NAME_new()) == NULL || (serial = BN_new()) == NULL)
		goto out;
	if (X509_set_version(x, X509_VERSION_3) != 1 ||
	    BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
	    BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -3600) == NULL ||
	    X509_gmtime_adj(X509_getm_notAfter(x), 86400L * CERT_DAYS) == NULL)
		goto out;
	/* Subject == issuer: the validator checks that the certificate is self-signed. The CN
	 * is only for people reading it (64 characters at most, RFC 5280 ub-common-name). */
	if (X509_NAME_add_entry_by_txt(
		name, "CN", MBSTRING_ASC,
		(const unsigned char *)(strlen(identifier) <= 64 ? identifier : "acme-tls/1"), -1,
		-1, 0) != 1 ||
	    X509_set_subject_name(x, name) != 1 || X509_set_issuer_name(x, name) != 1 ||
	    X509_set_pubkey(x, k) != 1)
		goto out;
	if ((rc = add_san(x, identifier, ip, iplen)) != DEED_OK ||
	    (rc = add_acme_identifier(x, key_authz)) != DEED_OK)
		goto out;
	rc = DEED_ECRYPTO;
	if (X509_sign(x, k, EVP_sha256()) <= 0)
		goto out;
	*xout = x;
	*kout = k;
	x = NULL;
	k = NULL;
	rc = DEED_OK;
out:
	BN_free(serial);
	X509_NAME_free(name);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* --- handshake ------------------------------------------------------------------------- */

/* True if the ClientHello's ALPN extension (RFC 7301 §3.1) lists acme-tls/1. */
static bool
offers_acme_alpn(SSL *ssl)
{
	const unsigned char *p;
	size_t len, i, l;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &p,
				      &len) != 1 ||
	    len < 2 || (size_t)((p[0] << 8) | p[1]) != len - 2)
		return false;
	for (i = 2; i < len; i += l) {
		l = p[i++];
		if (l > len - i)
			return false;
		if (l == ALPN_ACME_LEN && memcmp(p + i, ALPN_ACME, ALPN_ACME_LEN) == 0)
			return true;
	}
	return false;
}

/* The host_name of the ClientHello's SNI extension (RFC 6066 §3) into out. */
static bool
client_sni(SSL *ssl, char out[SNI_MAX + 1])
{
	const unsigned char *p;
	size_t len, l;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) != 1 || len < 5 ||
	    (size_t)((p[0] << 8) | p[1]) != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name)
		return false;
	l = (size_t)((p[3] << 8) | p[4]);
	if (l == 0 || l > len - 5 || l > SNI_MAX || memchr(p + 5, '\0', l) != NULL)
		return false;
	memcpy(out, p + 5, l);
	out[l] = '\0';
	if (out[l - 1] == '.')
		out[l - 1] = '\0';
	return true;
}

/*
 * Everything is decided on the ClientHello, before any certificate is chosen: a client that
 * does not offer acme-tls/1 is not a validator and gets no certificate at all (RFC 8737 §3:
 * this port answers only the challenge), and the certificate is the one for its SNI.
 */
static int
on_client_hello(SSL *ssl, int *al, void *arg)
{
	struct tlsalpn *t = arg;
	char sni[SNI_MAX + 1];
	size_t i;
	int ok = 0;

	if (!offers_acme_alpn(ssl)) {
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return SSL_CLIENT_HELLO_ERROR;
	}
	if (!client_sni(ssl, sni)) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->ncerts; i++) {
		if (strcasecmp(t->certs[i].sni, sni) == 0) {
			ok = SSL_use_certificate(ssl, t->certs[i].cert) == 1 &&
			     SSL_use_PrivateKey(ssl, t->certs[i].key) == 1;
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	if (!ok) {
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* RFC 8737 §3: the server negotiates acme-tls/1 and nothing else. */
static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
	unsigned inlen, void *arg)
{
	unsigned i, l;

	for (i = 0; i < inlen; i += l) {
		l = in[i++];
		if (l > inlen - i)
			break;
		if (l == ALPN_ACME_LEN && memcmp(in + i, ALPN_ACME, ALPN_ACME_LEN) == 0) {
			*out = in + i;
			*outlen = (unsigned char)l;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

struct tls_conn {
	SSL *ssl;
	bool done; /* handshake over; waiting for the validator to close (RFC 8737 §3) */
};

static short
tls_step(void *arg, int fd, short revents, void **state)
{
	struct tlsalpn *t = arg;
	struct tls_conn *tc = *state;
	char buf[256];
	int r;

	if (tc == NULL) {
		if ((tc = calloc(1, sizeof(*tc))) == NULL)
			return 0;
		*state = tc;
		if ((tc->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(tc->ssl, fd) != 1) {
			ERR_clear_error();
			return 0;
		}
	}
	(void)revents;
	if (tc->done) {
		/* Anything but a want-read means the validator closed or sent data it must
		 * not send; either way we are finished. */
		r = SSL_read(tc->ssl, buf, sizeof(buf));
		r = SSL_get_error(tc->ssl, r);
		ERR_clear_error();
		return r == SSL_ERROR_WANT_READ ? POLLIN : 0;
	}
	if ((r = SSL_accept(tc->ssl)) == 1) {
		tc->done = true;
		SSL_shutdown(tc->ssl);
		ERR_clear_error();
		return POLLIN;
	}
	r = SSL_get_error(tc->ssl, r);
	ERR_clear_error();
	return r == SSL_ERROR_WANT_READ ? POLLIN : r == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
}

static void
tls_close(void *arg, void *state)
{
	struct tls_conn *tc = state;

	if (tc == NULL)
		return;
	SSL_free(tc->ssl);
	free(tc);
}

static const struct solver_conn_ops tls_conn_ops = {tls_step, tls_close};

/* --- solver ---------------------------------------------------------------------------- */

static void
cert_cleanup(struct alpn_cert *c)
{
	X509_free(c->cert);
	EVP_PKEY_free(c->key);
}

static int
tlsalpn_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct tlsalpn *t = (struct tlsalpn *)s;
	struct alpn_cert nc = {0}, *grown;
	unsigned char ip[16];
	int iplen, rc;
	size_t i;

	if (c == NULL || c->identifier == NULL ||
	    sni_for(c->identifier, nc.sni, ip, &iplen) != DEED_OK) {
		deed_seterr(err, errlen,
			    "tls-alpn-01: identifier \"%.200s\" is neither a DNS name "
			    "nor an IP address",
			    c && c->identifier ? c->identifier : "(null)");
		return DEED_EINVAL;
	}
	if (c->key_authz == NULL || c->key_authz[0] == '\0' ||
	    strlen(c->key_authz) > SOLVER_KEYAUTHZ_MAX) {
		deed_seterr(err, errlen, "key authorization for %s is empty or too long",
			    c->identifier);
		return DEED_EINVAL;
	}
	if ((rc = make_cert(c->identifier, c->key_authz, ip, iplen, &nc.cert, &nc.key)) !=
	    DEED_OK) {
		ERR_clear_error();
		deed_seterr(err, errlen, "cannot make the tls-alpn-01 certificate for %s",
			    c->identifier);
		return rc;
	}
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->ncerts; i++)
		if (strcmp(t->certs[i].sni, nc.sni) == 0)
			break;
	if (i < t->ncerts) {
		/* A new challenge for the same name replaces the old one. */
		cert_cleanup(&t->certs[i]);
	} else if (t->ncerts == NAMES_MAX) {
		rc = DEED_ETOOBIG;
		deed_seterr(err, errlen, "more than %d tls-alpn-01 names at once", NAMES_MAX);
	} else if ((grown = realloc(t->certs, (t->ncerts + 1) * sizeof(*grown))) == NULL) {
		rc = DEED_ENOMEM;
	} else {
		t->certs = grown;
		t->ncerts++;
	}
	if (rc == DEED_OK)
		t->certs[i] = nc;
	pthread_mutex_unlock(&t->lock);
	if (rc != DEED_OK)
		cert_cleanup(&nc);
	return rc;
}

static int
tlsalpn_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct tlsalpn *t = (struct tlsalpn *)s;
	char sni[SNI_MAX + 1];
	unsigned char ip[16];
	int iplen;
	size_t i;

	if (c == NULL || c->identifier == NULL ||
	    sni_for(c->identifier, sni, ip, &iplen) != DEED_OK)
		return DEED_EINVAL;
	pthread_mutex_lock(&t->lock);
	for (i = 0; i < t->ncerts; i++) {
		if (strcmp(t->certs[i].sni, sni) == 0) {
			cert_cleanup(&t->certs[i]);
			t->certs[i] = t->certs[--t->ncerts];
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return DEED_OK;
}

static void
tlsalpn_free(struct solver *s)
{
	struct tlsalpn *t = (struct tlsalpn *)s;
	size_t i;

	if (t == NULL)
		return;
	solver_responder_free(t->resp); /* first: the thread uses ctx and certs */
	SSL_CTX_free(t->ctx);
	for (i = 0; i < t->ncerts; i++)
		cert_cleanup(&t->certs[i]);
	free(t->certs);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static const struct solver_ops tlsalpn_ops = {
    tlsalpn_present,
    NULL, /* served from the moment present returns */
    tlsalpn_cleanup,
    tlsalpn_free,
};

int
solver_tlsalpn_new(const char *listen_addr, struct solver **out, char *err, size_t errlen)
{
	struct tlsalpn *t;
	int rc = DEED_ETLS;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return DEED_ENOMEM;
	t->base.ops = &tlsalpn_ops;
	t->base.type = "tls-alpn-01";
	pthread_mutex_init(&t->lock, NULL);
	/* RFC 8737 §4: TLS 1.2 or later. No session tickets: every validation is one fresh
	 * handshake and nothing is resumed. */
	if ((t->ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_num_tickets(t->ctx, 0) != 1) {
		ERR_clear_error();
		deed_seterr(err, errlen, "cannot set up the TLS context");
		goto fail;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_client_hello_cb(t->ctx, on_client_hello, t);
	SSL_CTX_set_alpn_select_cb(t->ctx, on_alpn, t);
	if ((rc = solver_responder_new(listen_addr, &tls_conn_ops, t, &t->resp, err, errlen)) !=
	    DEED_OK)
		goto fail;
	*out = &t->base;
	return DEED_OK;
fail:
	tlsalpn_free(&t->base);
	return rc;
}
