#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "labdns.h"
#include "solver.h"
#include "va.h"
#include "va_tlsalpn.h"
#include "vatest.h"

/*
 * tls-alpn-01 from the CA's side, with names resolved through the lab's Knot: against the
 * client's own responder (solver_tlsalpn) for what must pass, and against a TLS server of
 * this file presenting crafted certificates for what must not.
 */

#define KA "tok_abc.thumbprint_0123456789-abcdefghijklmnopqrstuvwxyzABCD"
#define NAME "www.example.test"
#define DETAIL_CERT "Incorrect validation certificate for tls-alpn-01 challenge: "

/* --- crafted certificates -------------------------------------------------------------- */

/* Zero is the RFC 8737 certificate for NAME and KA; each field spoils one thing. */
struct certopt {
	const char *names[3]; /* dNSNames of the SAN; {NAME} when names[0] is NULL */
	bool ip_san;	      /* the SAN is iPAddress 127.0.0.1 instead */
	bool no_san, two_san_ext;
	bool no_acme, two_acme_ext;
	bool not_critical;
	const char *hash_of; /* what the acmeIdentifier hashes; KA when NULL */
	bool trailing;	     /* one byte after the OCTET STRING */
	bool foreign_signer; /* signed by another key (issuer name still = subject) */
	bool other_issuer;   /* issuer name differs from subject */
};

static void
add_san(X509 *x, const struct certopt *o)
{
	GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
	static const unsigned char lo[4] = {127, 0, 0, 1};

	assert_non_null(gens);
	for (int i = 0; i < 3 && (i == 0 || o->names[i] != NULL); i++) {
		GENERAL_NAME *g = GENERAL_NAME_new();
		ASN1_STRING *v = o->ip_san ? ASN1_OCTET_STRING_new() : ASN1_IA5STRING_new();

		assert_non_null(g);
		assert_non_null(v);
		if (o->ip_san)
			assert_int_equal(ASN1_OCTET_STRING_set(v, lo, 4), 1);
		else
			assert_int_equal(ASN1_STRING_set(v, o->names[i] ? o->names[i] : NAME, -1),
					 1);
		GENERAL_NAME_set0_value(g, o->ip_san ? GEN_IPADD : GEN_DNS, v);
		assert_true(sk_GENERAL_NAME_push(gens, g) > 0);
		if (o->ip_san)
			break;
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_APPEND), 1);
	GENERAL_NAMES_free(gens);
}

static void
add_acme(X509 *x, const struct certopt *o)
{
	ASN1_OBJECT *oid = OBJ_txt2obj(VA_TLSALPN_OID, 1);
	ASN1_OCTET_STRING *v = ASN1_OCTET_STRING_new();
	const char *ka = o->hash_of ? o->hash_of : KA;
	unsigned char val[35] = {0x04, 0x20};
	X509_EXTENSION *ext;

	assert_non_null(oid);
	assert_non_null(v);
	assert_int_equal(EVP_Digest(ka, strlen(ka), val + 2, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(ASN1_OCTET_STRING_set(v, val, o->trailing ? 35 : 34), 1);
	assert_non_null(ext = X509_EXTENSION_create_by_OBJ(NULL, oid, !o->not_critical, v));
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
	ASN1_OCTET_STRING_free(v);
	ASN1_OBJECT_free(oid);
}

/* A certificate per o, and the key of its public key (what a server needs). */
static X509 *
make_cert(const struct certopt *o, EVP_PKEY **key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256"), *signer = o->foreign_signer ? EVP_EC_gen("P-256") : k;
	X509_NAME *subj = X509_NAME_new(), *iss = X509_NAME_new();
	X509 *x = X509_new();

	assert_non_null(k);
	assert_non_null(signer);
	assert_non_null(x);
	assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
	assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 8737), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
						    (const unsigned char *)"acme", -1, -1, 0),
			 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     iss, "CN", MBSTRING_ASC,
			     (const unsigned char *)(o->other_issuer ? "Some CA" : "acme"), -1, -1,
			     0),
			 1);
	assert_int_equal(X509_set_subject_name(x, subj), 1);
	assert_int_equal(X509_set_issuer_name(x, iss), 1);
	assert_int_equal(X509_set_pubkey(x, k), 1);
	if (!o->no_san)
		add_san(x, o);
	if (o->two_san_ext)
		add_san(x, o);
	if (!o->no_acme)
		add_acme(x, o);
	if (o->two_acme_ext)
		add_acme(x, o);
	assert_true(X509_sign(x, signer, EVP_sha256()) > 0);
	if (signer != k)
		EVP_PKEY_free(signer);
	X509_NAME_free(subj);
	X509_NAME_free(iss);
	*key = k;
	return x;
}

/* va_tlsalpn_check_cert on the DER of the certificate o describes. */
static int
check_der(const struct certopt *o, const char *ident, char *why, size_t whylen)
{
	EVP_PKEY *k;
	X509 *x = make_cert(o, &k);
	unsigned char *der = NULL;
	int len = i2d_X509(x, &der), rc;

	assert_true(len > 0);
	rc = va_tlsalpn_check_cert(der, (size_t)len, ident, KA, why, whylen);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

/* --- the test's TLS server ------------------------------------------------------------- */

enum mode {
	M_TLS,	  /* handshake with the current certificate */
	M_CLOSE,  /* accept, then close at once */
	M_TEXT,	  /* read the ClientHello, answer in plain HTTP */
	M_SILENT, /* accept and say nothing */
};

struct srv {
	struct vatest_srv net; /* the accept loop, calling serve_one; net.lock guards the rest */
	enum mode mode;
	SSL_CTX *ctx;
	char last_sni[256];
	unsigned char last_alpn[64]; /* the client's ALPN list, wire format */
	size_t last_alpn_len;
};

static struct srv s4; /* 127.0.0.1:P; nothing on [::1]:P */
static struct labdns lab;
static struct va *va; /* allow_loopback, tlsalpn01_port P */
static int P;
static struct solver *sol4, *sol6; /* the client's responder: 127.0.0.1:Q, [::1]:Q6 */
static int Q, Q6;

/* Runs on the ClientHello, so before the validator can have finished. */
static int
on_sni(SSL *ssl, int *al, void *arg)
{
	struct srv *s = arg;
	const char *sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);

	pthread_mutex_lock(&s->net.lock);
	snprintf(s->last_sni, sizeof(s->last_sni), "%s", sni ? sni : "");
	pthread_mutex_unlock(&s->net.lock);
	return SSL_TLSEXT_ERR_OK;
}

static int
on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
	unsigned inlen, void *arg)
{
	struct srv *s = arg;

	pthread_mutex_lock(&s->net.lock);
	s->last_alpn_len = inlen < sizeof(s->last_alpn) ? inlen : sizeof(s->last_alpn);
	memcpy(s->last_alpn, in, s->last_alpn_len);
	pthread_mutex_unlock(&s->net.lock);
	/* The client offers acme-tls/1 first; we assert elsewhere that it offers only that. */
	if (inlen >= 11 && in[0] == 10 && memcmp(in + 1, "acme-tls/1", 10) == 0) {
		*out = in + 1;
		*outlen = 10;
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* Wait until the peer closes (or 3 s), so that our close sends no RST over unread data. */
static void
drain(int c)
{
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	char buf[512];

	while (poll(&pfd, 1, 3000) == 1 && read(c, buf, sizeof(buf)) > 0)
		;
}

static void
serve_tls(struct srv *s, SSL_CTX *ctx, int c)
{
	struct timeval tv = {3, 0};
	SSL *ssl = SSL_new(ctx);
	char buf[64];

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (ssl == NULL || SSL_set_fd(ssl, c) != 1)
		goto out;
	if (SSL_accept(ssl) == 1) {
		/* Until the validator closes. */
		while (SSL_read(ssl, buf, sizeof(buf)) > 0)
			;
	}
out:
	ERR_clear_error();
	SSL_free(ssl);
}

static void
serve_one(void *arg, int c)
{
	struct srv *s = arg;
	static const char http[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	SSL_CTX *ctx = NULL;
	char buf[1024];
	enum mode m;

	pthread_mutex_lock(&s->net.lock);
	m = s->mode;
	if (s->ctx != NULL && SSL_CTX_up_ref(s->ctx) == 1)
		ctx = s->ctx;
	pthread_mutex_unlock(&s->net.lock);
	switch (m) {
	case M_TLS:
		if (ctx != NULL)
			serve_tls(s, ctx, c);
		break;
	case M_CLOSE:
		break;
	case M_TEXT:
		if (poll(&pfd, 1, 3000) == 1 && read(c, buf, sizeof(buf)) > 0 &&
		    write(c, http, sizeof(http) - 1) > 0) {
			shutdown(c, SHUT_WR);
			drain(c);
		}
		break;
	case M_SILENT:
		drain(c); /* read the ClientHello, answer nothing, until the validator closes */
		break;
	}
	SSL_CTX_free(ctx);
}

static int
srv_start(struct srv *s, int family, int port)
{
	return vatest_srv_start(&s->net, family, port, serve_one, s);
}

static void
srv_stop(struct srv *s)
{
	vatest_srv_stop(&s->net);
	SSL_CTX_free(s->ctx);
	s->ctx = NULL;
}

/* From now on s answers in mode m; in M_TLS with the certificate o describes, selecting
 * acme-tls/1 when alpn. */
static void
srv_set(struct srv *s, enum mode m, const struct certopt *o, bool alpn)
{
	SSL_CTX *ctx = NULL;
	EVP_PKEY *k;
	X509 *x;

	if (m == M_TLS) {
		x = make_cert(o, &k);
		assert_non_null(ctx = SSL_CTX_new(TLS_server_method()));
		assert_int_equal(SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION), 1);
		assert_int_equal(SSL_CTX_set_num_tickets(ctx, 0), 1);
		assert_int_equal(SSL_CTX_use_certificate(ctx, x), 1);
		assert_int_equal(SSL_CTX_use_PrivateKey(ctx, k), 1);
		SSL_CTX_set_tlsext_servername_callback(ctx, on_sni);
		SSL_CTX_set_tlsext_servername_arg(ctx, s);
		if (alpn)
			SSL_CTX_set_alpn_select_cb(ctx, on_alpn, s);
		X509_free(x);
		EVP_PKEY_free(k);
	}
	pthread_mutex_lock(&s->net.lock);
	SSL_CTX_free(s->ctx);
	s->ctx = ctx;
	s->mode = m;
	s->last_sni[0] = '\0';
	s->last_alpn_len = 0;
	pthread_mutex_unlock(&s->net.lock);
}

/* --- helpers --------------------------------------------------------------------------- */

static void
validate_with(struct va *v, const char *ident, struct va_result *res)
{
	vatest_validate(v, "tls-alpn-01", ident, "tok_abc", KA, res);
}

static void
validate(const char *ident, struct va_result *res)
{
	validate_with(va, ident, res);
}

/* Validate NAME against s4 presenting the certificate o describes (ALPN selected). */
static void
validate_cert(const struct certopt *o, struct va_result *res)
{
	srv_set(&s4, M_TLS, o, true);
	validate(NAME, res);
}

static void
assert_starts(const char *hay, const char *prefix)
{
	if (strncmp(hay, prefix, strlen(prefix)) != 0)
		fail_msg("\"%s\" does not start with \"%s\"", hay, prefix);
}

static struct va *
va_with(bool allow_loopback, int port, int timeout_ms)
{
	return vatest_va(lab.resolver, allow_loopback, port, timeout_ms);
}

static int
other_port(int a, int b)
{
	int p;

	for (int i = 0; i < 20; i++)
		if ((p = labdns_free_port()) != 0 && p != a && p != b)
			return p;
	return 0;
}

static int
solver_at(bool v6, int port, struct solver **out)
{
	struct solver_challenge c = {.type = "tls-alpn-01",
				     .token = "tok_abc",
				     .key_authz = KA,
				     .account_url = VATEST_ACCOUNT};
	static const char *const names[] = {NAME, "dual.example.test"};
	char at[64], err[256];

	snprintf(at, sizeof(at), v6 ? "[::1]:%d" : "127.0.0.1:%d", port);
	if (solver_tlsalpn_new(at, out, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "solver on %s: %s\n", at, err);
		return -1;
	}
	for (size_t i = 0; i < 2; i++) {
		c.identifier = names[i];
		if ((*out)->ops->present(*out, &c, err, sizeof(err)) != DEED_OK) {
			fprintf(stderr, "present %s: %s\n", names[i], err);
			return -1;
		}
	}
	return 0;
}

static int
group_setup(void **state)
{
	/* As deed-ca's main does: a peer that resets mid-handshake must not kill us. */
	signal(SIGPIPE, SIG_IGN);
	if (labdns_start(&lab) != 0)
		return -1;
	if (labdns_update(&lab, "update add private.example.test. 5 A 10.0.0.1\n"
				"update add dual.example.test. 5 AAAA ::1\n"
				"update add dual.example.test. 5 A 127.0.0.1") != 0)
		goto fail;
	/* P, Q, Q6 are free on 127.0.0.1 and ::1; s4 serves P on 127.0.0.1 only, so nothing
	 * answers on [::1]:P (the IPv4 fallback test needs that). */
	if ((P = labdns_free_port()) == 0 || srv_start(&s4, AF_INET, P) != 0)
		goto fail;
	if ((Q = other_port(P, 0)) == 0 || (Q6 = other_port(P, Q)) == 0)
		goto fail;
	if (solver_at(false, Q, &sol4) != 0 || solver_at(true, Q6, &sol6) != 0)
		goto fail;
	va = va_with(true, P, 5000);
	return 0;
fail:
	if (sol4 != NULL)
		sol4->ops->free(sol4);
	if (sol6 != NULL)
		sol6->ops->free(sol6);
	srv_stop(&s4);
	labdns_stop(&lab);
	return -1;
}

static int
group_teardown(void **state)
{
	va_free(va);
	sol4->ops->free(sol4);
	sol6->ops->free(sol6);
	srv_stop(&s4);
	labdns_stop(&lab);
	return 0;
}

/* --- through a TLS connection ---------------------------------------------------------- */

static void
tlsalpn01_client_responder_validates(void **state)
{
	struct va *v = va_with(true, Q, 5000);
	struct va_result res;
	json_t *rec, *resolved;
	char port[8];

	validate_with(v, NAME, &res);
	if (!res.ok)
		fail_msg("not validated: %s", res.detail);
	assert_int_equal(json_array_size(res.records), 1);
	rec = json_array_get(res.records, 0);
	snprintf(port, sizeof(port), "%d", Q);
	assert_string_equal(rec_str(&res, 0, "hostname"), NAME);
	assert_string_equal(rec_str(&res, 0, "port"), port);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	resolved = json_object_get(rec, "addressesResolved");
	assert_int_equal(json_array_size(resolved), 1);
	assert_string_equal(json_string_value(json_array_get(resolved, 0)), "127.0.0.1");
	assert_null(json_object_get(rec, "addressesTried"));
	assert_null(json_object_get(rec, "url"));
	va_result_cleanup(&res);

	/* The same responder, a different key authorization: refused. */
	{
		struct va_request req = {.type = "tls-alpn-01",
					 .identifier = NAME,
					 .token = "tok_abc",
					 .key_authz = KA "x"};

		assert_int_equal(va_validate(v, &req, &res), DEED_OK);
		assert_false(res.ok);
		assert_int_equal(res.prob, PROB_UNAUTHORIZED);
		assert_starts(res.detail, DETAIL_CERT "acmeIdentifier extension value ");
		va_result_cleanup(&res);
	}
	va_free(v);
}

static void
tlsalpn01_sends_sni_and_only_acme_alpn(void **state)
{
	struct certopt o = {0};
	struct va_result res;

	validate_cert(&o, &res);
	if (!res.ok)
		fail_msg("not validated: %s", res.detail);
	assert_string_equal(s4.last_sni, NAME);
	assert_int_equal(s4.last_alpn_len, 11);
	assert_memory_equal(s4.last_alpn,
			    "\x0a"
			    "acme-tls/1",
			    11);
	va_result_cleanup(&res);

	/* Case does not matter in the SAN. */
	o.names[0] = "WWW.Example.TEST";
	validate_cert(&o, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
tlsalpn01_ipv6_first_then_ipv4(void **state)
{
	struct va *v6 = va_with(true, Q6, 5000);
	struct certopt o = {.names = {"dual.example.test"}};
	struct va_result res;
	json_t *tried;

	/* [::1]:Q6 answers: IPv6 is used. */
	validate_with(v6, "dual.example.test", &res);
	if (!res.ok)
		fail_msg("not validated: %s", res.detail);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "::1");
	assert_null(json_object_get(json_array_get(res.records, 0), "addressesTried"));
	va_result_cleanup(&res);
	va_free(v6);

	/* Nothing on [::1]:P: refused, then 127.0.0.1:P. */
	srv_set(&s4, M_TLS, &o, true);
	validate("dual.example.test", &res);
	if (!res.ok)
		fail_msg("not validated: %s", res.detail);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	tried = json_object_get(json_array_get(res.records, 0), "addressesTried");
	assert_int_equal(json_array_size(tried), 1);
	assert_string_equal(json_string_value(json_array_get(tried, 0)), "::1");
	assert_string_equal(s4.last_sni, "dual.example.test");
	va_result_cleanup(&res);
}

static void
tlsalpn01_wrong_hash_is_unauthorized(void **state)
{
	struct certopt o = {.hash_of = "tok_abc.someone-else"};
	struct va_result res;
	char want[200];

	validate_cert(&o, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "acmeIdentifier extension value ");
	assert_contains(res.detail, "is not SHA-256 of the key authorization");
	snprintf(want, sizeof(want), "(requested " NAME " from 127.0.0.1:%d)", P);
	assert_contains(res.detail, want);
	va_result_cleanup(&res);
}

static void
tlsalpn01_acme_identifier_must_be_critical(void **state)
{
	struct certopt o = {.not_critical = true};
	struct va_result res;

	validate_cert(&o, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "acmeIdentifier extension is not critical");
	va_result_cleanup(&res);
}

static void
tlsalpn01_san_must_be_only_the_identifier(void **state)
{
	struct certopt two = {.names = {NAME, "api.example.test"}};
	struct certopt other = {.names = {"api.example.test"}};
	struct certopt ip = {.ip_san = true};
	struct va_result res;

	validate_cert(&two, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "subjectAltName has 2 entries; only dNSName "
					      "\"" NAME "\" is allowed");
	va_result_cleanup(&res);

	validate_cert(&other, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "subjectAltName is dNSName \"api.example.test\", "
					      "not \"" NAME "\"");
	va_result_cleanup(&res);

	validate_cert(&ip, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "subjectAltName holds an iPAddress");
	va_result_cleanup(&res);
}

static void
tlsalpn01_must_be_self_signed(void **state)
{
	struct certopt o = {.foreign_signer = true};
	struct va_result res;

	validate_cert(&o, &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_starts(res.detail, DETAIL_CERT "it is not self-signed (its signature does not "
					      "verify with its own key)");
	va_result_cleanup(&res);
}

static void
tlsalpn01_acme_tls_1_must_be_selected(void **state)
{
	struct certopt o = {0};
	struct va_result res;
	char want[160];

	/* A perfect certificate, but the server does not select acme-tls/1. */
	srv_set(&s4, M_TLS, &o, false);
	validate(NAME, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	snprintf(want, sizeof(want),
		 "Cannot negotiate ALPN protocol \"acme-tls/1\" for tls-alpn-01 challenge: "
		 "127.0.0.1:%d selected none",
		 P);
	assert_string_equal(res.detail, want);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	va_result_cleanup(&res);
}

static void
tlsalpn01_not_tls(void **state)
{
	struct va_result res;
	char want[160];

	/* Closed right after accept: a connection problem, not a certificate one. */
	snprintf(want, sizeof(want), "127.0.0.1: TLS handshake with " NAME ":%d: ", P);
	srv_set(&s4, M_CLOSE, NULL, false);
	validate(NAME, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_starts(res.detail, want);
	va_result_cleanup(&res);

	/* Something that is not TLS answers: the handshake fails. */
	snprintf(want, sizeof(want), "127.0.0.1: TLS handshake with " NAME ":%d failed: ", P);
	srv_set(&s4, M_TEXT, NULL, false);
	validate(NAME, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_TLS);
	assert_starts(res.detail, want);
	va_result_cleanup(&res);
}

static void
tlsalpn01_silent_peer_bounded_by_deadline(void **state)
{
	struct va *quick = va_with(true, P, 1000);
	struct va_result res;
	int64_t t0 = ms_now();

	srv_set(&s4, M_SILENT, NULL, false);
	validate_with(quick, NAME, &res);
	assert_true(ms_now() - t0 < 2500);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "TLS handshake with " NAME);
	assert_contains(res.detail, "timed out");
	va_result_cleanup(&res);
	va_free(quick);
}

static void
tlsalpn01_nothing_listening(void **state)
{
	int port = other_port(P, Q);
	struct va *closed;
	struct va_result res;
	char want[160];

	assert_true(port != 0 && port != Q6);
	closed = va_with(true, port, 5000);
	validate_with(closed, NAME, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	snprintf(want, sizeof(want), "127.0.0.1: Connecting to " NAME ":%d: Connection refused",
		 port);
	assert_string_equal(res.detail, want);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	va_result_cleanup(&res);
	va_free(closed);
}

static void
tlsalpn01_reserved_address_refused_before_connecting(void **state)
{
	struct va_result res;
	int64_t t0 = ms_now();

	/* 10.0.0.1 is not on loopback: a connection attempt would leave the machine, and
	 * would time out rather than fail at once. */
	validate("private.example.test", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, "private.example.test resolves only to reserved "
					"addresses (10.0.0.1: private-use); refusing to connect");
	assert_null(rec_str(&res, 0, "addressUsed"));
	assert_true(ms_now() - t0 < 1000);
	va_result_cleanup(&res);
}

static void
tlsalpn01_loopback_refused_unless_allowed(void **state)
{
	struct va *strict = va_with(false, P, 5000);
	struct certopt o = {0};
	struct va_result res;
	int before;

	srv_set(&s4, M_TLS, &o, true);
	before = atomic_load(&s4.net.conns);
	validate_with(strict, NAME, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, NAME " resolves only to reserved addresses "
					     "(127.0.0.1: loopback); refusing to connect");
	assert_null(rec_str(&res, 0, "addressUsed"));
	assert_int_equal(atomic_load(&s4.net.conns), before); /* no connection was made */
	va_result_cleanup(&res);
	va_free(strict);

	/* The same server with loopback allowed: validated. */
	validate(NAME, &res);
	assert_true(res.ok);
	assert_int_equal(atomic_load(&s4.net.conns), before + 1);
	va_result_cleanup(&res);
}

static void
tlsalpn01_not_for_wildcards(void **state)
{
	struct va_request req = {.type = "tls-alpn-01",
				 .identifier = NAME,
				 .wildcard = true,
				 .token = "tok_abc",
				 .key_authz = KA};
	struct va_result res;
	int before = atomic_load(&s4.net.conns);

	assert_int_equal(va_validate(va, &req, &res), DEED_EUNSUPPORTED);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_MALFORMED);
	assert_string_equal(res.detail,
			    "challenge type tls-alpn-01 cannot be validated here for a wildcard");
	assert_int_equal(atomic_load(&s4.net.conns), before);
	va_result_cleanup(&res);
}

static void
tlsalpn01_ip_identifier_refused(void **state)
{
	struct va_result res;
	int before = atomic_load(&s4.net.conns);

	validate("127.0.0.1", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_MALFORMED);
	assert_string_equal(res.detail, "tls-alpn-01 for IP address identifiers is not supported");
	assert_int_equal(atomic_load(&s4.net.conns), before);
	va_result_cleanup(&res);
}

static void
tlsalpn01_names_that_do_not_resolve(void **state)
{
	struct va_result res;

	validate("nothere.example.test", &res);
	assert_int_equal(res.prob, PROB_DNS);
	assert_string_equal(res.detail, "NXDOMAIN looking up A for nothere.example.test - check "
					"that a DNS record exists for this domain");
	va_result_cleanup(&res);
}

/* --- the certificate alone ------------------------------------------------------------- */

static void
check_cert_rules(void **state)
{
	/* clang-format off */
	static const struct {
		struct certopt o;
		int rc;
		const char *why;
	} cases[] = {
		{{.hash_of = NULL}, DEED_OK, ""},
		{{.names = {"Www.Example.Test"}}, DEED_OK, ""},
		{{.no_san = true}, DEED_EDENIED, "no subjectAltName extension"},
		{{.two_san_ext = true}, DEED_EDENIED, "2 subjectAltName extensions"},
		{{.no_acme = true}, DEED_EDENIED, "no acmeIdentifier extension"},
		{{.two_acme_ext = true}, DEED_EDENIED, "2 acmeIdentifier extensions"},
		{{.trailing = true}, DEED_EDENIED,
		 "acmeIdentifier extension value is not a DER OCTET STRING of 32 bytes"},
		{{.not_critical = true}, DEED_EDENIED, "acmeIdentifier extension is not critical"},
		{{.names = {NAME ".evil"}}, DEED_EDENIED,
		 "subjectAltName is dNSName \"" NAME ".evil\", not \"" NAME "\""},
		{{.names = {NAME, NAME}}, DEED_EDENIED,
		 "subjectAltName has 2 entries; only dNSName \"" NAME "\" is allowed"},
		{{.other_issuer = true}, DEED_EDENIED,
		 "it is not self-signed (issuer differs from subject)"},
		{{.foreign_signer = true}, DEED_EDENIED,
		 "it is not self-signed (its signature does not verify with its own key)"},
	};
	/* clang-format on */
	char why[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc;

		why[0] = '\0';
		rc = check_der(&cases[i].o, NAME, why, sizeof(why));
		if (rc != cases[i].rc || strcmp(why, cases[i].why) != 0)
			fail_msg("case %zu: rc %d \"%s\", want %d \"%s\"", i, rc, why, cases[i].rc,
				 cases[i].why);
	}
}

static void
check_cert_not_der(void **state)
{
	static const struct certopt good = {0};
	EVP_PKEY *k;
	X509 *x = make_cert(&good, &k);
	unsigned char *der = NULL, *longer;
	int len = i2d_X509(x, &der);
	char why[128];

	assert_true(len > 0);
	assert_int_equal(va_tlsalpn_check_cert(der, (size_t)len, NAME, KA, why, sizeof(why)),
			 DEED_OK);
	/* Cut, or followed by anything: not one certificate. */
	assert_int_equal(va_tlsalpn_check_cert(der, (size_t)len - 1, NAME, KA, why, sizeof(why)),
			 DEED_EMALFORMED);
	assert_string_equal(why, "not one DER certificate");
	assert_non_null(longer = malloc((size_t)len + 1));
	memcpy(longer, der, (size_t)len);
	longer[len] = 0;
	assert_int_equal(va_tlsalpn_check_cert(longer, (size_t)len + 1, NAME, KA, why, sizeof(why)),
			 DEED_EMALFORMED);
	assert_int_equal(va_tlsalpn_check_cert(der, 0, NAME, KA, why, sizeof(why)),
			 DEED_EMALFORMED);
	/* The right certificate for another name or another key authorization. */
	assert_int_equal(
	    va_tlsalpn_check_cert(der, (size_t)len, "api.example.test", KA, why, sizeof(why)),
	    DEED_EDENIED);
	assert_int_equal(va_tlsalpn_check_cert(der, (size_t)len, NAME, "x", why, sizeof(why)),
			 DEED_EDENIED);
	free(longer);
	OPENSSL_free(der);
	X509_free(x);
	EVP_PKEY_free(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tlsalpn01_client_responder_validates),
	    cmocka_unit_test(tlsalpn01_sends_sni_and_only_acme_alpn),
	    cmocka_unit_test(tlsalpn01_ipv6_first_then_ipv4),
	    cmocka_unit_test(tlsalpn01_wrong_hash_is_unauthorized),
	    cmocka_unit_test(tlsalpn01_acme_identifier_must_be_critical),
	    cmocka_unit_test(tlsalpn01_san_must_be_only_the_identifier),
	    cmocka_unit_test(tlsalpn01_must_be_self_signed),
	    cmocka_unit_test(tlsalpn01_acme_tls_1_must_be_selected),
	    cmocka_unit_test(tlsalpn01_not_tls),
	    cmocka_unit_test(tlsalpn01_silent_peer_bounded_by_deadline),
	    cmocka_unit_test(tlsalpn01_nothing_listening),
	    cmocka_unit_test(tlsalpn01_reserved_address_refused_before_connecting),
	    cmocka_unit_test(tlsalpn01_loopback_refused_unless_allowed),
	    cmocka_unit_test(tlsalpn01_not_for_wildcards),
	    cmocka_unit_test(tlsalpn01_ip_identifier_refused),
	    cmocka_unit_test(tlsalpn01_names_that_do_not_resolve),
	    cmocka_unit_test(check_cert_rules),
	    cmocka_unit_test(check_cert_not_der),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
