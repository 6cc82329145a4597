#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "va_http.h"
#include "va_tlsalpn.h"

#define HOST_MAX 253		 /* a DNS name in text form, no trailing dot */
#define WHAT_MAX (HOST_MAX + 16) /* "host:port" */
#define ACME_ID_LEN 34		 /* 04 20 and a SHA-256 */
#define SHOWN_MAX 120		 /* bytes of a certificate's name echoed back */

_Static_assert(sizeof(VA_TLSALPN_PROTO) - 1 == 10, "ALPN length prefix below");

/* --- the certificate (RFC 8737 §3) ----------------------------------------------------- */

/* DNS names compare in ASCII case only; no locale may fold anything else. */
static bool
name_eq(const unsigned char *a, size_t alen, const char *b)
{
	if (alen != strlen(b))
		return false;
	for (size_t i = 0; i < alen; i++) {
		unsigned char x = a[i], y = (unsigned char)b[i];

		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

static const char *
gen_kind(int type)
{
	switch (type) {
	case GEN_DNS:
		return "a dNSName";
	case GEN_IPADD:
		return "an iPAddress";
	case GEN_EMAIL:
		return "an rfc822Name";
	case GEN_URI:
		return "a uniformResourceIdentifier";
	case GEN_DIRNAME:
		return "a directoryName";
	default:
		return "an unusual name";
	}
}

/* RFC 8737 §3: "a subjectAltName extension containing the dNSName being validated and no
 * other entries". */
static int
check_san(const X509_EXTENSION *ext, const char *identifier, char *why, size_t whylen)
{
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data((X509_EXTENSION *)ext);
	const unsigned char *start = ASN1_STRING_get0_data(v), *p = start;
	long len = ASN1_STRING_length(v);
	GENERAL_NAMES *gens = d2i_GENERAL_NAMES(NULL, &p, len);
	const GENERAL_NAME *gen;
	char shown[SHOWN_MAX];
	int n, rc = DEED_EDENIED;

	if (gens == NULL || p != start + len) {
		deed_seterr(why, whylen, "malformed subjectAltName extension");
		goto out;
	}
	if ((n = sk_GENERAL_NAME_num(gens)) != 1) {
		deed_seterr(why, whylen,
			    "subjectAltName has %d entries; only dNSName \"%s\" is allowed", n,
			    identifier);
		goto out;
	}
	gen = sk_GENERAL_NAME_value(gens, 0);
	if (gen->type != GEN_DNS) {
		deed_seterr(why, whylen, "subjectAltName holds %s, not dNSName \"%s\"",
			    gen_kind(gen->type), identifier);
		goto out;
	}
	if (!name_eq(ASN1_STRING_get0_data(gen->d.dNSName),
		     (size_t)ASN1_STRING_length(gen->d.dNSName), identifier)) {
		va_printable((const char *)ASN1_STRING_get0_data(gen->d.dNSName),
			     (size_t)ASN1_STRING_length(gen->d.dNSName), shown, sizeof(shown));
		deed_seterr(why, whylen, "subjectAltName is dNSName \"%s\", not \"%s\"", shown,
			    identifier);
		goto out;
	}
	rc = DEED_OK;
out:
	GENERAL_NAMES_free(gens);
	return rc;
}

static void
hex(const unsigned char *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 0xf];
	}
	out[2 * n] = '\0';
}

/* RFC 8737 §3: critical, extnValue = DER OCTET STRING of SHA-256(key authorization). The
 * bytes are compared whole (tag, length, digest), so nothing trails and no other encoding of
 * the same value passes. */
static int
check_acme_id(const X509_EXTENSION *ext, const char *key_authz, char *why, size_t whylen)
{
	const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data((X509_EXTENSION *)ext);
	const unsigned char *got = ASN1_STRING_get0_data(v);
	unsigned char want[ACME_ID_LEN] = {0x04, 0x20};

	if (X509_EXTENSION_get_critical(ext) != 1)
		return deed_fail(DEED_EDENIED, why, whylen,
				 "acmeIdentifier extension is not critical");
	if (ASN1_STRING_length(v) != ACME_ID_LEN || got[0] != 0x04 || got[1] != 0x20)
		return deed_fail(DEED_EDENIED, why, whylen,
				 "acmeIdentifier extension value is not a DER OCTET STRING of 32 "
				 "bytes");
	if (EVP_Digest(key_authz, strlen(key_authz), want + 2, NULL, EVP_sha256(), NULL) != 1)
		return deed_fail(DEED_ECRYPTO, why, whylen, "SHA-256 failed");
	if (CRYPTO_memcmp(got, want, ACME_ID_LEN) != 0) {
		char got_hex[65], want_hex[65];

		hex(got + 2, 32, got_hex);
		hex(want + 2, 32, want_hex);
		return deed_fail(DEED_EDENIED, why, whylen,
				 "acmeIdentifier extension value %s is not SHA-256 of the key "
				 "authorization (%s)",
				 got_hex, want_hex);
	}
	return DEED_OK;
}

/* Not in RFC 8737's list of server checks; see va_tlsalpn.h for why it is here. */
static int
check_self_signed(X509 *x, char *why, size_t whylen)
{
	const unsigned char *s, *i;
	size_t slen, ilen;
	EVP_PKEY *k;

	if (X509_NAME_get0_der(X509_get_subject_name(x), &s, &slen) != 1 ||
	    X509_NAME_get0_der(X509_get_issuer_name(x), &i, &ilen) != 1 || slen != ilen ||
	    memcmp(s, i, slen) != 0)
		return deed_fail(DEED_EDENIED, why, whylen,
				 "it is not self-signed (issuer differs from subject)");
	if ((k = X509_get0_pubkey(x)) == NULL || X509_verify(x, k) != 1)
		return deed_fail(DEED_EDENIED, why, whylen,
				 "it is not self-signed (its signature does not verify with its "
				 "own key)");
	return DEED_OK;
}

static int
check_x509(X509 *x, const char *identifier, const char *key_authz, char *why, size_t whylen)
{
	ASN1_OBJECT *acme_oid = OBJ_txt2obj(VA_TLSALPN_OID, 1);
	const X509_EXTENSION *san = NULL, *acme = NULL;
	int nsan = 0, nacme = 0, rc;

	if (acme_oid == NULL)
		return deed_fail(DEED_ENOMEM, why, whylen, "out of memory");
	/* Counted by hand: OpenSSL's lookups return the first of duplicated extensions. */
	for (int i = 0; i < X509_get_ext_count(x); i++) {
		const X509_EXTENSION *ext = X509_get_ext(x, i);
		const ASN1_OBJECT *obj = X509_EXTENSION_get_object((X509_EXTENSION *)ext);

		if (OBJ_obj2nid(obj) == NID_subject_alt_name) {
			san = ext;
			nsan++;
		} else if (OBJ_cmp(obj, acme_oid) == 0) {
			acme = ext;
			nacme++;
		}
	}
	ASN1_OBJECT_free(acme_oid);
	if (nsan == 0)
		return deed_fail(DEED_EDENIED, why, whylen, "no subjectAltName extension");
	if (nsan > 1)
		return deed_fail(DEED_EDENIED, why, whylen, "%d subjectAltName extensions", nsan);
	if (nacme == 0)
		return deed_fail(DEED_EDENIED, why, whylen, "no acmeIdentifier extension");
	if (nacme > 1)
		return deed_fail(DEED_EDENIED, why, whylen, "%d acmeIdentifier extensions", nacme);
	if ((rc = check_san(san, identifier, why, whylen)) != DEED_OK ||
	    (rc = check_acme_id(acme, key_authz, why, whylen)) != DEED_OK)
		return rc;
	return check_self_signed(x, why, whylen);
}

int
va_tlsalpn_check_cert(const unsigned char *der, size_t len, const char *identifier,
		      const char *key_authz, char *why, size_t whylen)
{
	const unsigned char *p = der;
	X509 *x = NULL;
	int rc;

	if (len == 0 || len > LONG_MAX || (x = d2i_X509(NULL, &p, (long)len)) == NULL ||
	    p != der + len) {
		rc = deed_fail(DEED_EMALFORMED, why, whylen, "not one DER certificate");
		goto out;
	}
	rc = check_x509(x, identifier, key_authz, why, whylen);
out:
	X509_free(x);
	ERR_clear_error();
	return rc;
}

/* --- the connection -------------------------------------------------------------------- */

enum outcome { DONE, NO_CONNECTION, FAILED };

/* What one handshake gave. */
struct peer {
	bool alpn_ok;	      /* the server selected acme-tls/1 */
	char alpn[64];	      /* what it selected, printable; "" for nothing */
	X509 *leaf;	      /* owned; NULL if none was sent */
	char where[WHAT_MAX]; /* "addr:port", "[addr]:port" */
};

/* Wait for fd to be ready for events until the deadline: 1 ready, 0 timed out, -1 error. */
static int
wait_fd(int fd, short events, int64_t until)
{
	for (;;) {
		struct pollfd p = {.fd = fd, .events = events};
		int64_t left = until - va_http_now_ms();
		int n;

		if (left <= 0)
			return 0;
		if ((n = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left)) >= 0)
			return n > 0 ? 1 : 0;
		if (errno != EINTR)
			return -1;
	}
}

/*
 * A TCP connection to addr:port, non-blocking, within VA_HTTP_DIAL_MS and the deadline. Any
 * failure here is NO_CONNECTION: nothing was said, so the other family may be tried.
 */
static enum outcome
dial(const char *addr, int port, const char *what, int64_t deadline, int *out,
     struct va_result *res)
{
	int64_t until = va_http_now_ms() + VA_HTTP_DIAL_MS;
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t sslen, elen = sizeof(int);
	char ebuf[128];
	int fd, e = 0, w;

	*out = -1;
	if (until > deadline)
		until = deadline;
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		sslen = sizeof(*s6);
	} else if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		sslen = sizeof(*s4);
	} else {
		va_fail(res, PROB_SERVER_INTERNAL, "unusable address %.64s", addr);
		return FAILED;
	}
	if (until <= va_http_now_ms()) {
		va_fail(res, PROB_CONNECTION, "%s: Connecting to %s: validation timed out", addr,
			 what);
		return FAILED;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		va_fail(res, PROB_SERVER_INTERNAL, "%s: cannot open a socket: %s", addr,
			 strerror_r(errno, ebuf, sizeof(ebuf)));
		return FAILED;
	}
	if (connect(fd, (struct sockaddr *)&ss, sslen) != 0) {
		if (errno != EINPROGRESS) {
			e = errno;
		} else if ((w = wait_fd(fd, POLLOUT, until)) == 0) {
			close(fd);
			va_fail(res, PROB_CONNECTION, "%s: Connecting to %s: timed out", addr,
				 what);
			return NO_CONNECTION;
		} else if (w < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0) {
			e = errno;
		}
	}
	if (e != 0) {
		close(fd);
		va_fail(res, PROB_CONNECTION, "%s: Connecting to %s: %s", addr, what,
			 strerror_r(e, ebuf, sizeof(ebuf)));
		return NO_CONNECTION;
	}
	*out = fd;
	return DONE;
}

/*
 * A handshake that did not finish: the peer going away is a connection problem, anything
 * OpenSSL refused (an alert, garbage, no common version) a TLS one.
 */
static void
handshake_failed(int sslerr, int sys, const char *addr, const char *what, struct va_result *res)
{
	unsigned long e = ERR_peek_error();
	const char *reason = ERR_reason_error_string(e);
	char ebuf[128];

	if (sslerr == SSL_ERROR_SYSCALL && e == 0)
		va_fail(res, PROB_CONNECTION, "%s: TLS handshake with %s: %s", addr, what,
			 sys != 0 ? strerror_r(sys, ebuf, sizeof(ebuf))
				  : "connection closed by the server");
	else if (sslerr == SSL_ERROR_ZERO_RETURN ||
		 (ERR_GET_LIB(e) == ERR_LIB_SSL &&
		  ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING))
		va_fail(res, PROB_CONNECTION,
			 "%s: TLS handshake with %s: connection closed by the server", addr, what);
	else
		va_fail(res, PROB_TLS, "%s: TLS handshake with %s failed: %s", addr, what,
			 reason != NULL ? reason : "protocol error");
}

/* RFC 8737 §3: TLS with SNI = the identifier and ALPN acme-tls/1, on a connected socket. */
static enum outcome
handshake(SSL_CTX *ctx, int fd, const char *host, const char *addr, const char *what,
	  int64_t deadline, struct peer *p, struct va_result *res)
{
	const unsigned char *sel = NULL;
	unsigned sellen = 0;
	enum outcome o = FAILED;
	SSL *ssl;
	int r, w;

	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1) {
		va_fail(res, PROB_SERVER_INTERNAL, "cannot set up a TLS connection");
		goto out;
	}
	for (;;) {
		int e, sys;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_connect(ssl)) == 1)
			break;
		sys = errno;
		e = SSL_get_error(ssl, r);
		if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
			handshake_failed(e, sys, addr, what, res);
			goto out;
		}
		if ((w = wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) <= 0) {
			va_fail(res, PROB_CONNECTION, "%s: TLS handshake with %s: %s", addr, what,
				 w == 0 ? "timed out" : "poll failed");
			goto out;
		}
	}
	SSL_get0_alpn_selected(ssl, &sel, &sellen);
	p->alpn_ok =
	    sellen == sizeof(VA_TLSALPN_PROTO) - 1 && memcmp(sel, VA_TLSALPN_PROTO, sellen) == 0;
	va_printable((const char *)sel, sellen, p->alpn, sizeof(p->alpn));
	p->leaf = SSL_get1_peer_certificate(ssl);
	/* A courtesy close_notify (RFC 8737 §3: the connection is closed after the handshake);
	 * the socket is non-blocking, so this never waits. */
	SSL_shutdown(ssl);
	o = DONE;
out:
	SSL_free(ssl);
	ERR_clear_error();
	return o;
}

static enum outcome
attempt(SSL_CTX *ctx, const char *host, int port, const char *addr, int64_t deadline,
	struct peer *p, struct va_result *res)
{
	char what[WHAT_MAX];
	enum outcome o;
	int fd;

	snprintf(what, sizeof(what), "%s:%d", host, port);
	snprintf(p->where, sizeof(p->where), strchr(addr, ':') ? "[%s]:%d" : "%s:%d", addr, port);
	if ((o = dial(addr, port, what, deadline, &fd, res)) != DONE)
		return o;
	o = handshake(ctx, fd, host, addr, what, deadline, p, res);
	close(fd);
	return o;
}

/* One context per validation: nothing (sessions, tickets) carries over to the next. */
static SSL_CTX *
client_ctx(void)
{
	static const unsigned char alpn[] = "\x0a" VA_TLSALPN_PROTO;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	/* RFC 8737 §4: TLS 1.2 or later. SSL_CTX_set_alpn_protos returns 0 on success. */
	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	/* The certificate is self-signed by design; check_x509 is what judges it. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	return ctx;
}

/* --- the challenge --------------------------------------------------------------------- */

void
va_tlsalpn01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	     struct va_result *res)
{
	int64_t deadline = va_http_now_ms() + (cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000);
	int port = cfg->tlsalpn01_port > 0 ? cfg->tlsalpn01_port : 443, rc;
	char host[HOST_MAX + 1], num[16], why[sizeof(res->detail)];
	struct peer p = {.leaf = NULL};
	struct va_http_addrs a;
	const char *used = NULL;
	enum outcome o = FAILED;
	SSL_CTX *ctx = NULL;
	unsigned char bin[16];
	json_t *rec = NULL;
	size_t n;

	memset(res, 0, sizeof(*res));
	res->prob = PROB_SERVER_INTERNAL;
	if ((res->records = json_array()) == NULL || (rec = json_object()) == NULL ||
	    json_array_append_new(res->records, rec) != 0) {
		va_fail(res, PROB_SERVER_INTERNAL, "out of memory");
		goto out;
	}
	n = strlen(req->identifier);
	if (n == 0 || n > HOST_MAX) {
		va_fail(res, PROB_MALFORMED, "identifier empty or too long");
		goto out;
	}
	for (size_t i = 0; i <= n; i++)
		host[i] = (char)(req->identifier[i] >= 'A' && req->identifier[i] <= 'Z'
				     ? req->identifier[i] + ('a' - 'A')
				     : req->identifier[i]);
	/* RFC 8738 §6 (reverse-name SNI, iPAddress SAN) is not implemented: deed has no IP
	 * identifiers, and an address must never go out as an SNI (RFC 6066 §3). */
	if (inet_pton(AF_INET, host, bin) == 1 || inet_pton(AF_INET6, host, bin) == 1) {
		va_fail(res, PROB_MALFORMED,
			 "tls-alpn-01 for IP address identifiers is not supported");
		goto out;
	}
	snprintf(num, sizeof(num), "%d", port);
	json_object_set_new(rec, "hostname", json_string(host));
	json_object_set_new(rec, "port", json_string(num));
	if (!va_http_resolve(d, host, cfg->allow_loopback, deadline, &a, rec, res))
		goto out;
	if ((ctx = client_ctx()) == NULL) {
		ERR_clear_error();
		va_fail(res, PROB_SERVER_INTERNAL, "cannot set up the TLS context");
		goto out;
	}
	/* IPv6 first; IPv4 once, only when the IPv6 connection could not be made. */
	if (a.v6[0] != '\0') {
		used = a.v6;
		o = attempt(ctx, host, port, a.v6, deadline, &p, res);
	}
	if ((used == NULL || o == NO_CONNECTION) && a.v4[0] != '\0') {
		if (used != NULL) {
			json_t *tried = json_array();

			json_array_append_new(tried, json_string(used));
			json_object_set_new(rec, "addressesTried", tried);
		}
		used = a.v4;
		o = attempt(ctx, host, port, a.v4, deadline, &p, res);
	}
	json_object_set_new(rec, "addressUsed", json_string(used));
	if (o != DONE)
		goto out;
	/* RFC 8737 §3: a server that does not select acme-tls/1 is not answering the
	 * challenge, whatever certificate it shows. */
	if (!p.alpn_ok) {
		va_fail(res, PROB_UNAUTHORIZED,
			 "Cannot negotiate ALPN protocol \"%s\" for tls-alpn-01 challenge: %s "
			 "selected %s%s%s",
			 VA_TLSALPN_PROTO, p.where, p.alpn[0] ? "\"" : "none", p.alpn,
			 p.alpn[0] ? "\"" : "");
		goto out;
	}
	if (p.leaf == NULL)
		rc = deed_fail(DEED_EDENIED, why, sizeof(why), "no certificate presented");
	else
		rc = check_x509(p.leaf, host, req->key_authz, why, sizeof(why));
	if (rc == DEED_EDENIED)
		va_fail(res, PROB_UNAUTHORIZED,
			 "Incorrect validation certificate for tls-alpn-01 challenge: %s "
			 "(requested %s from %s)",
			 why, host, p.where);
	else if (rc != DEED_OK)
		va_fail(res, PROB_SERVER_INTERNAL, "checking the certificate: %s", why);
	else
		res->ok = true;
out:
	X509_free(p.leaf);
	SSL_CTX_free(ctx);
	ERR_clear_error();
}
