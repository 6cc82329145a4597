#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "error.h"
#include "labdns.h"
#include "solver.h"

/*
 * The solvers against real peers: libcurl and an OpenSSL client for the responders, and the
 * lab's Knot (RFC 2136 + TSIG, started by the lab kit on a free port, labdns.h) for dns-01, checked
 * with kdig and changed behind the solver's back with knsupdate.
 */

#define ZONE "example.test"
#define CH_NAME "_acme-challenge." ZONE

/* A challenge whose key authorization is TOKEN ".thumb" (any string serves the solvers). */
#define CH(type_, identifier_, token_)                                                             \
	{                                                                                          \
		.type = (type_), .identifier = (identifier_), .token = (token_),                   \
		.key_authz = token_ ".thumb"                                                       \
	}

/* dns-account-01: two accounts and their labels, computed outside the project (Python's
 * hashlib and base64). */
#define ACCT1 "https://ca.test/acct/1"
#define LABEL1 "_bb55pyrwl3od577j"
#define ACCT2 "https://ca.test/acct/2"
#define LABEL2 "_jnxwryeab6rfobhb"

/* A dns-account-01 challenge of account acct_. */
#define CHA(identifier_, token_, acct_)                                                            \
	{                                                                                          \
		.type = "dns-account-01", .identifier = (identifier_), .token = (token_),          \
		.key_authz = token_ ".thumb", .account_url = (acct_)                               \
	}

/* --- helpers ----------------------------------------------------------------------------- */

/* A port free on loopback, for the responders and for "nothing listens here". */
static int
free_port(void)
{
	int port = labdns_free_port();

	assert_true(port > 0);
	return port;
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* Run cmd (sh -c) and return its standard output, at most outsz-1 bytes. */
static int
run_capture(const char *cmd, char *out, size_t outsz)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	assert_non_null(p);
	n = fread(out, 1, outsz - 1, p);
	out[n] = '\0';
	return pclose(p);
}

/* --- dns-01 value and shared bits -------------------------------------------------------- */

/* SHA-256("abc") is FIPS 180-2's example; base64url of it without padding. */
static void
test_dns01_value_is_base64url_of_sha256(void **state)
{
	char v[44];

	assert_int_equal(solver_dns01_value("abc", v), DEED_OK);
	assert_string_equal(v, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
	assert_int_equal(strlen(v), 43);
	assert_int_equal(solver_dns01_value(NULL, v), DEED_EINVAL);
}

static void
test_token_check_keeps_paths_out(void **state)
{
	char big[SOLVER_TOKEN_MAX + 2];

	assert_true(solver_token_ok("evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"));
	assert_false(solver_token_ok("../../etc/passwd"));
	assert_false(solver_token_ok("a/b"));
	assert_false(solver_token_ok(".hidden"));
	assert_false(solver_token_ok(""));
	assert_false(solver_token_ok(NULL));
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(solver_token_ok(big));
	big[SOLVER_TOKEN_MAX] = '\0';
	assert_true(solver_token_ok(big));
}

static void
test_addr_parse_forms(void **state)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char s[64], err[256];

	assert_int_equal(solver_addr_parse("127.0.0.1:5002", -1, true, &ss, &len, err, sizeof(err)),
			 DEED_OK);
	solver_addr_str(&ss, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:5002");
	assert_int_equal(solver_addr_parse("[::1]:80", -1, true, &ss, &len, err, sizeof(err)),
			 DEED_OK);
	solver_addr_str(&ss, s, sizeof(s));
	assert_string_equal(s, "[::1]:80");
	assert_int_equal(solver_addr_parse("::1", 53, true, &ss, &len, err, sizeof(err)), DEED_OK);
	solver_addr_str(&ss, s, sizeof(s));
	assert_string_equal(s, "[::1]:53");
	assert_int_equal(solver_addr_parse("127.0.0.1", 53, true, &ss, &len, err, sizeof(err)),
			 DEED_OK);
	solver_addr_str(&ss, s, sizeof(s));
	assert_string_equal(s, "127.0.0.1:53");
	/* A listen address needs its port; ports and numeric hosts are checked. */
	assert_int_equal(solver_addr_parse("127.0.0.1", -1, true, &ss, &len, err, sizeof(err)),
			 DEED_EINVAL);
	assert_non_null(strstr(err, "no port"));
	assert_int_equal(
	    solver_addr_parse("127.0.0.1:65536", -1, true, &ss, &len, err, sizeof(err)),
	    DEED_EINVAL);
	assert_int_equal(solver_addr_parse("localhost:80", -1, true, &ss, &len, err, sizeof(err)),
			 DEED_EINVAL);
	assert_int_equal(solver_addr_parse("[::1:80", -1, true, &ss, &len, err, sizeof(err)),
			 DEED_EINVAL);
}

/* --- http-01 ----------------------------------------------------------------------------- */

struct body {
	char buf[1024];
	size_t len;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t len = size * n;

	if (len > sizeof(b->buf) - 1 - b->len)
		return 0;
	memcpy(b->buf + b->len, p, len);
	b->len += len;
	b->buf[b->len] = '\0';
	return len;
}

/* HTTP request to 127.0.0.1:port; returns the status, body into *b. */
static long
http_req(int port, const char *method, const char *path, struct body *b)
{
	CURL *c = curl_easy_init();
	char url[512];
	long code = 0;

	assert_non_null(c);
	memset(b, 0, sizeof(*b));
	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	else if (strcmp(method, "GET") != 0)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	assert_int_equal(curl_easy_perform(c), CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	return code;
}

static void
test_http_standalone_serves_presented_tokens_only(void **state)
{
	struct solver_challenge a = CH("http-01", "www.example.test", "tokA");
	struct solver_challenge b = CH("http-01", "api.example.test", "tokB");
	struct solver *s = NULL;
	struct body body;
	char listen_at[64], err[256] = "";
	int port = free_port();

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_http_standalone_new(listen_at, &s, err, sizeof(err)), DEED_OK);
	assert_string_equal(s->type, "http-01");
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &b, err, sizeof(err)), DEED_OK);

	/* RFC 8555 §8.3: the body is exactly the key authorization. */
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/tokA", &body), 200);
	assert_string_equal(body.buf, "tokA.thumb");
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/tokB", &body), 200);
	assert_string_equal(body.buf, "tokB.thumb");
	assert_int_equal(http_req(port, "HEAD", "/.well-known/acme-challenge/tokA", &body), 200);
	assert_int_equal(body.len, 0);
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/unknown", &body), 404);
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/", &body), 404);
	assert_int_equal(http_req(port, "GET", "/tokA", &body), 404);
	assert_int_equal(http_req(port, "POST", "/.well-known/acme-challenge/tokA", &body), 405);

	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/tokA", &body), 404);
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/tokB", &body), 200);
	/* A token that is not base64url is refused before it is served. */
	a.token = "../x";
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EINVAL);
	s->ops->free(s);
}

/* A silent client must not keep the validator out: connections are served side by side. */
static void
test_http_standalone_not_blocked_by_idle_client(void **state)
{
	struct solver_challenge a = CH("http-01", "www.example.test", "tokA");
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct solver *s = NULL;
	struct body body;
	char listen_at[64], err[256] = "";
	int port = free_port(), idle;

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_http_standalone_new(listen_at, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	idle = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(idle, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(write(idle, "GET /", 5), 5);
	assert_int_equal(http_req(port, "GET", "/.well-known/acme-challenge/tokA", &body), 200);
	close(idle);
	s->ops->free(s);
}

static void
test_http_standalone_busy_port_is_an_error(void **state)
{
	struct solver *s1 = NULL, *s2 = NULL;
	char listen_at[64], err[256] = "";
	int port = free_port();

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_http_standalone_new(listen_at, &s1, err, sizeof(err)), DEED_OK);
	assert_int_equal(solver_http_standalone_new(listen_at, &s2, err, sizeof(err)), DEED_EIO);
	assert_null(s2);
	assert_non_null(strstr(err, listen_at));
	assert_int_equal(solver_http_standalone_new("nonsense", &s2, err, sizeof(err)),
			 DEED_EINVAL);
	s1->ops->free(s1);
}

static void
test_http_webroot_writes_and_removes_the_file(void **state)
{
	struct solver_challenge a = CH("http-01", "www.example.test", "tokW");
	char dir[] = "/tmp/deed-webroot.XXXXXX", path[512], got[64] = "", err[256] = "";
	struct solver *s = NULL;
	struct stat st;
	mode_t old = umask(077); /* the file must still be readable by the web server */
	FILE *f;

	assert_non_null(mkdtemp(dir));
	assert_int_equal(solver_http_webroot_new(dir, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge/tokW", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(got, sizeof(got), f));
	fclose(f);
	assert_string_equal(got, "tokW.thumb");

	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_not_equal(stat(path, &st), 0);
	a.token = "../../escape";
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EINVAL);
	s->ops->free(s);
	/* The directories it made are gone with it; the webroot stays. */
	snprintf(path, sizeof(path), "%s/.well-known", dir);
	assert_int_not_equal(stat(path, &st), 0);
	assert_int_equal(rmdir(dir), 0);
	umask(old);
	assert_int_equal(solver_http_webroot_new("/nonexistent/dir", &s, err, sizeof(err)),
			 DEED_EINVAL);
}

/* --- tls-alpn-01 ------------------------------------------------------------------------- */

/*
 * Handshake with 127.0.0.1:port offering alpn (wire format, NULL = no ALPN) and SNI sni.
 * Returns the server's certificate (caller frees) or NULL when the handshake fails.
 */
static X509 *
tls_probe(int port, const char *sni, const char *alpn, size_t alpnlen)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	struct timeval tv = {5, 0};
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl = NULL;
	X509 *cert = NULL;
	const unsigned char *sel = NULL;
	unsigned sellen = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_non_null(ctx);
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_non_null(ssl = SSL_new(ctx));
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, sni);
	if (alpn != NULL)
		assert_int_equal(
		    SSL_set_alpn_protos(ssl, (const unsigned char *)alpn, (unsigned)alpnlen), 0);
	if (SSL_connect(ssl) == 1) {
		/* RFC 8737 §3: the server must have negotiated acme-tls/1. */
		SSL_get0_alpn_selected(ssl, &sel, &sellen);
		assert_int_equal(sellen, 10);
		assert_memory_equal(sel, "acme-tls/1", 10);
		cert = SSL_get1_peer_certificate(ssl);
		SSL_shutdown(ssl);
	}
	ERR_clear_error();
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	close(fd);
	return cert;
}

#define ALPN_ACME                                                                                  \
	"\x0a"                                                                                     \
	"acme-tls/1"

/* Check the RFC 8737 §3 certificate: self-signed, one SAN, critical acmeIdentifier. */
static void
check_alpn_cert(X509 *x, const char *dns, const unsigned char *ip, size_t iplen, const char *ka)
{
	ASN1_OBJECT *oid = OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1);
	GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	const GENERAL_NAME *g;
	X509_EXTENSION *ext;
	const ASN1_OCTET_STRING *v;
	unsigned char want[34] = {0x04, 0x20};
	unsigned mdlen = 0;
	EVP_PKEY *pub = X509_get0_pubkey(x);
	int idx;

	assert_non_null(x);
	assert_int_equal(X509_verify(x, pub), 1);
	assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
	assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);

	assert_non_null(gens);
	assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
	g = sk_GENERAL_NAME_value(gens, 0);
	if (dns != NULL) {
		assert_int_equal(g->type, GEN_DNS);
		assert_int_equal(ASN1_STRING_length(g->d.dNSName), strlen(dns));
		assert_memory_equal(ASN1_STRING_get0_data(g->d.dNSName), dns, strlen(dns));
	} else {
		assert_int_equal(g->type, GEN_IPADD);
		assert_int_equal(ASN1_STRING_length(g->d.iPAddress), iplen);
		assert_memory_equal(ASN1_STRING_get0_data(g->d.iPAddress), ip, iplen);
	}
	GENERAL_NAMES_free(gens);

	assert_non_null(oid);
	idx = X509_get_ext_by_OBJ(x, oid, -1);
	assert_true(idx >= 0);
	assert_int_equal(X509_get_ext_by_OBJ(x, oid, idx), -1); /* exactly once */
	ext = X509_get_ext(x, idx);
	assert_int_equal(X509_EXTENSION_get_critical(ext), 1);
	v = X509_EXTENSION_get_data(ext);
	assert_int_equal(EVP_Digest(ka, strlen(ka), want + 2, &mdlen, EVP_sha256(), NULL), 1);
	assert_int_equal(ASN1_STRING_length(v), sizeof(want));
	assert_memory_equal(ASN1_STRING_get0_data(v), want, sizeof(want));
	ASN1_OBJECT_free(oid);
}

static void
test_tlsalpn_presents_the_challenge_certificate(void **state)
{
	struct solver_challenge a = CH("tls-alpn-01", "www.example.test", "tokT");
	struct solver_challenge b = CH("tls-alpn-01", "api.example.test", "tokU");
	struct solver *s = NULL;
	char listen_at[64], err[256] = "";
	int port = free_port();
	X509 *x;

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_tlsalpn_new(listen_at, &s, err, sizeof(err)), DEED_OK);
	assert_string_equal(s->type, "tls-alpn-01");
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &b, err, sizeof(err)), DEED_OK);

	x = tls_probe(port, "www.example.test", ALPN_ACME, 11);
	check_alpn_cert(x, "www.example.test", NULL, 0, "tokT.thumb");
	X509_free(x);
	/* The certificate follows the SNI; ALPN lists with more than acme-tls/1 are fine. */
	x = tls_probe(port, "api.example.test", "\x02h2" ALPN_ACME, 14);
	check_alpn_cert(x, "api.example.test", NULL, 0, "tokU.thumb");
	X509_free(x);

	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);
	assert_null(tls_probe(port, "www.example.test", ALPN_ACME, 11));
	assert_non_null(x = tls_probe(port, "api.example.test", ALPN_ACME, 11));
	X509_free(x);
	s->ops->free(s);
}

/* A client that does not ask for acme-tls/1 is not a validator and gets no certificate. */
static void
test_tlsalpn_refuses_other_clients(void **state)
{
	struct solver_challenge a = CH("tls-alpn-01", "www.example.test", "tokT");
	struct solver *s = NULL;
	char listen_at[64], err[256] = "";
	int port = free_port();

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_tlsalpn_new(listen_at, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	assert_null(tls_probe(port, "www.example.test", NULL, 0));
	assert_null(tls_probe(port, "www.example.test", "\x02h2\x08http/1.1", 12));
	assert_null(tls_probe(port, "unknown.example.test", ALPN_ACME, 11));
	s->ops->free(s);
}

/* RFC 8738 §6: for an IP identifier the SNI is the reverse name, the SAN an iPAddress. */
static void
test_tlsalpn_ip_identifier(void **state)
{
	struct solver_challenge a = CH("tls-alpn-01", "127.0.0.1", "tokI");
	const unsigned char ip[4] = {127, 0, 0, 1};
	struct solver *s = NULL;
	char listen_at[64], err[256] = "";
	int port = free_port();
	X509 *x;

	snprintf(listen_at, sizeof(listen_at), "127.0.0.1:%d", port);
	assert_int_equal(solver_tlsalpn_new(listen_at, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	x = tls_probe(port, "1.0.0.127.in-addr.arpa", ALPN_ACME, 11);
	check_alpn_cert(x, NULL, ip, sizeof(ip), "tokI.thumb");
	X509_free(x);
	a.identifier = "not a name";
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EINVAL);
	s->ops->free(s);
}

/* --- dns-01 hook (no DNS server needed) -------------------------------------------------- */

/* A hook that logs its arguments to DIR/args and exits with the number in DIR/code. */
static void
make_hook(const char *dir, char *hook, size_t hooksz)
{
	char text[1024];

	snprintf(hook, hooksz, "%s/hook.sh", dir);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "echo \"$*\" >> '%s/args'\n"
		 "exit $(cat '%s/code' 2>/dev/null || echo 0)\n",
		 dir, dir);
	write_file(hook, text, 0755);
}

static void
test_dns_hook_runs_program_with_args(void **state)
{
	struct solver_challenge a = CH("dns-01", "www.example.test", "tokH");
	char dir[] = "/tmp/deed-hook.XXXXXX", hook[512], path[512], args[1024], want[1024];
	char value[44], err[256] = "";
	struct solver *s = NULL;

	assert_non_null(mkdtemp(dir));
	make_hook(dir, hook, sizeof(hook));
	assert_int_equal(solver_dns01_value("tokH.thumb", value), DEED_OK);
	assert_int_equal(solver_dns_hook_new(hook, NULL, NULL, 5, &s, err, sizeof(err)), DEED_OK);
	assert_string_equal(s->type, "dns-01");
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->ready(s, err, sizeof(err)), DEED_OK); /* no resolver: at once */
	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_OK);
	solver_dns_hook_outcome(s, false);
	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);

	snprintf(path, sizeof(path), "cat %s/args", dir);
	assert_int_equal(run_capture(path, args, sizeof(args)), 0);
	snprintf(want, sizeof(want),
		 "begin dns-01 www.example.test tokH %s\ndone dns-01 www.example.test tokH %s\n"
		 "begin dns-01 www.example.test tokH %s\nfailed dns-01 www.example.test tokH %s\n",
		 value, value, value, value);
	assert_string_equal(args, want);

	/* A non-zero exit is an error that names the status. */
	snprintf(path, sizeof(path), "%s/code", dir);
	write_file(path, "3\n", 0644);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EIO);
	assert_non_null(strstr(err, "status 3"));
	s->ops->free(s);

	/* A program that cannot be run says why. */
	assert_int_equal(
	    solver_dns_hook_new("/nonexistent/hook", NULL, NULL, 5, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EIO);
	assert_non_null(strstr(err, "No such file"));
	s->ops->free(s);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/*
 * dns-account-01 through a hook: TYPE says dns-account-01 and NAME, the record name under the
 * account's label, comes as a sixth argument; DEED_TXT_NAME has the record name for both
 * types, so a dns-01 hook keeps its five arguments.
 */
static void
test_dns_account_hook_gets_record_name(void **state)
{
	struct solver_challenge a = CHA("www.example.test", "tokL", ACCT1);
	struct solver_challenge plain = CH("dns-01", "www.example.test", "tokL");
	char dir[] = "/tmp/deed-hook.XXXXXX", hook[512], text[1024], cmd[512], args[2048];
	char want[2048], value[44], err[256] = "";
	struct solver *s = NULL;

	assert_non_null(mkdtemp(dir));
	snprintf(hook, sizeof(hook), "%s/hook.sh", dir);
	snprintf(text, sizeof(text), "#!/bin/sh\necho \"$# $* env=$DEED_TXT_NAME\" >> '%s/args'\n",
		 dir);
	write_file(hook, text, 0755);
	assert_int_equal(solver_dns01_value("tokL.thumb", value), DEED_OK);

	setenv("DEED_TXT_NAME", "stale-from-parent", 1); /* replaced, not passed on */
	assert_int_equal(solver_dns_hook_new(hook, "dns-account-01", NULL, 5, &s, err, sizeof(err)),
			 DEED_OK);
	assert_string_equal(s->type, "dns-account-01");
	if (s->ops->present(s, &a, err, sizeof(err)) != DEED_OK)
		fail_msg("present: %s", err);
	assert_int_equal(s->ops->cleanup(s, &a, err, sizeof(err)), DEED_OK);
	/* Without the account URL there is no label to publish under. */
	a.account_url = NULL;
	assert_int_equal(s->ops->present(s, &a, err, sizeof(err)), DEED_EINVAL);
	assert_non_null(strstr(err, "no account URL"));
	s->ops->free(s);

	assert_int_equal(solver_dns_hook_new(hook, NULL, NULL, 5, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &plain, err, sizeof(err)), DEED_OK);
	s->ops->free(s);
	unsetenv("DEED_TXT_NAME");

	snprintf(cmd, sizeof(cmd), "cat %s/args", dir);
	assert_int_equal(run_capture(cmd, args, sizeof(args)), 0);
	snprintf(
	    want, sizeof(want),
	    "6 begin dns-account-01 www.example.test tokL %s " LABEL1
	    "._acme-challenge.www.example.test env=" LABEL1 "._acme-challenge.www.example.test\n"
	    "6 done dns-account-01 www.example.test tokL %s " LABEL1
	    "._acme-challenge.www.example.test env=" LABEL1 "._acme-challenge.www.example.test\n"
	    "5 begin dns-01 www.example.test tokL %s env=_acme-challenge.www.example.test\n",
	    value, value, value);
	assert_string_equal(args, want);

	/* Only the two DNS challenge types. */
	assert_int_equal(solver_dns_hook_new(hook, "http-01", NULL, 5, &s, err, sizeof(err)),
			 DEED_EINVAL);
	assert_null(s);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* Key files are checked when the solver is made, before any update is sent. */
static void
test_dns_tsig_file_errors(void **state)
{
	static const struct {
		const char *text;
		int rc;
	} v[] = {
	    {"key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0\"; };\n", DEED_OK},
	    {"# comment\nkey k {\n  algorithm HMAC-SHA512.; // why not\n"
	     "  /* the secret */ secret \"c2VjcmV0\";\n};\n",
	     DEED_OK},
	    {"hmac-sha256:k:c2VjcmV0\n", DEED_OK},
	    {"k:c2VjcmV0\n", DEED_OK},
	    {"key \"k\" { algorithm hmac-sha384; secret \"c2VjcmV0\"; };\n", DEED_EUNSUPPORTED},
	    {"key \"k\" { algorithm hmac-sha256; };\n", DEED_EMALFORMED},
	    {"key \"k\" { algorithm hmac-sha256; secret \"c2VjcmV0\"; foo bar; };\n",
	     DEED_EMALFORMED},
	    {"key \"k\" { algorithm hmac-sha256; secret \"not base64!\"; };\n", DEED_EMALFORMED},
	    {"hmac-sha256:k:c2Vj=mV0\n", DEED_EMALFORMED},
	    {"hmac-sha256:k:c2VjcmV0:extra\n", DEED_EMALFORMED},
	    {"just-one-field\n", DEED_EMALFORMED},
	    {"", DEED_EMALFORMED},
	};
	char path[] = "/tmp/deed-tsig.XXXXXX", err[256];
	struct solver_dns_opts o = {.server = "127.0.0.1:1", .tsig_file = path};
	struct solver *s;
	size_t i;
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		write_file(path, v[i].text, 0600);
		s = NULL;
		err[0] = '\0';
		if (solver_dns_rfc2136_new(&o, &s, err, sizeof(err)) != v[i].rc)
			fail_msg("case %zu: %s", i, err);
		if (v[i].rc != DEED_OK)
			assert_non_null(strstr(err, path)); /* the message names the file */
		if (s != NULL)
			s->ops->free(s);
	}
	unlink(path);
	o.tsig_file = "/nonexistent/key";
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_EIO);
	o.tsig_file = NULL;
	o.server = "not an address:x";
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_EINVAL);
}

/* More records than one DNS message (65535 octets) holds: refused before anything is sent. */
static void
test_dns_update_txt_too_big_for_one_message(void **state)
{
	static char value[2001];
	const char *names[40], *values[40];
	struct solver_dns_opts o = {.server = "127.0.0.1:1", .zone = ZONE};
	char err[512] = "";

	memset(value, 'v', sizeof(value) - 1);
	for (size_t i = 0; i < 40; i++) {
		names[i] = "_validation-persist." ZONE;
		values[i] = value;
	}
	assert_int_equal(solver_dns_update_txt(&o, names, values, 40, true, err, sizeof(err)),
			 DEED_ETOOBIG);
	assert_non_null(strstr(err, "65535"));
}

/* --- dns-01 against Knot ----------------------------------------------------------------- */

/* The lab's Knot (labdns.h), and how the solver reaches it. */
struct lab {
	struct labdns dns;
	char server[64]; /* "127.0.0.1:PORT" */
	char bind_key[PATH_MAX], knot_key[PATH_MAX];
};

static struct lab lab;

static int
lab_up(void **state)
{
	if (labdns_start(&lab.dns) != 0)
		return -1;
	snprintf(lab.server, sizeof(lab.server), "127.0.0.1:%d", lab.dns.port);
	/* dns-up.sh writes the key in every format; the solver reads two of them. */
	snprintf(lab.bind_key, sizeof(lab.bind_key), "%s/dns/tsig.bind.key", lab.dns.dir);
	snprintf(lab.knot_key, sizeof(lab.knot_key), "%s/dns/tsig.knot.key", lab.dns.dir);
	return 0;
}

static int
lab_down(void **state)
{
	labdns_stop(&lab.dns);
	return 0;
}

/* The TXT values Knot serves at name, as kdig prints them (one quoted value a line). */
static void
kdig_txt(const char *name, char *out, size_t outsz)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "kdig @127.0.0.1 -p %d +short +tcp TXT %s", lab.dns.port, name);
	assert_int_equal(run_capture(cmd, out, outsz), 0);
}

static bool
served(const char *name, const char *value)
{
	char out[4096], want[64];

	kdig_txt(name, out, sizeof(out));
	snprintf(want, sizeof(want), "\"%s\"", value);
	return strstr(out, want) != NULL;
}

/*
 * An order for example.test and *.example.test: two values at one name. Both are added, the
 * zone's own servers (its NS, found by the solver) serve both, and each cleanup deletes only
 * its own value: the other one and a record someone else put there stay.
 */
static void
test_dns_rfc2136_apex_and_wildcard_share_a_name(void **state)
{
	struct solver_challenge apex = CH("dns-01", ZONE, "tok-apex");
	struct solver_challenge wild = CH("dns-01", ZONE, "tok-wild");
	struct solver_dns_opts o = {.server = lab.server,
				    .tsig_file = lab.bind_key,
				    .timeout_s = 10}; /* zone and resolver found by the solver */
	char va[44], vw[44], err[512] = "", out[4096];
	struct solver *s = NULL;

	assert_int_equal(solver_dns01_value("tok-apex.thumb", va), DEED_OK);
	assert_int_equal(solver_dns01_value("tok-wild.thumb", vw), DEED_OK);
	wild.wildcard = true; /* the authorization of *.example.test names example.test */
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_string_equal(s->type, "dns-01");
	if (s->ops->present(s, &apex, err, sizeof(err)) != DEED_OK)
		fail_msg("present apex: %s", err);
	if (s->ops->present(s, &wild, err, sizeof(err)) != DEED_OK)
		fail_msg("present wildcard: %s", err);
	assert_true(served(CH_NAME, va));
	assert_true(served(CH_NAME, vw));
	if (s->ops->ready(s, err, sizeof(err)) != DEED_OK)
		fail_msg("ready: %s", err);

	assert_int_equal(
	    labdns_update(&lab.dns, "update add " CH_NAME ". 60 TXT \"unrelated-value\""), 0);
	assert_true(served(CH_NAME, "unrelated-value"));
	if (s->ops->cleanup(s, &apex, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup apex: %s", err);
	assert_false(served(CH_NAME, va));
	assert_true(served(CH_NAME, vw));
	assert_true(served(CH_NAME, "unrelated-value"));
	if (s->ops->cleanup(s, &wild, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup wildcard: %s", err);
	kdig_txt(CH_NAME, out, sizeof(out));
	assert_string_equal(out, "\"unrelated-value\"\n");
	s->ops->free(s);
	assert_int_equal(
	    labdns_update(&lab.dns, "update delete " CH_NAME ". TXT \"unrelated-value\""), 0);
}

/* The one-line key format, a zone given, and propagation checked through a resolver. */
static void
test_dns_rfc2136_knot_key_format_and_resolver(void **state)
{
	struct solver_challenge c = CH("dns-01", "www." ZONE, "tok-www");
	struct solver_dns_opts o = {.server = lab.server,
				    .tsig_file = lab.knot_key,
				    .zone = ZONE ".",
				    .resolver = lab.server,
				    .ttl = 30,
				    .timeout_s = 10};
	char v[44], err[512] = "", out[4096], cmd[512];
	struct solver *s = NULL;
	int ttl = 0;

	assert_int_equal(solver_dns01_value("tok-www.thumb", v), DEED_OK);
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	if (s->ops->present(s, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("present: %s", err);
	assert_true(served("_acme-challenge.www." ZONE, v));
	if (s->ops->ready(s, err, sizeof(err)) != DEED_OK)
		fail_msg("ready: %s", err);
	/* The TTL asked for is the one served. */
	snprintf(cmd, sizeof(cmd),
		 "kdig @127.0.0.1 -p %d +noall +answer TXT _acme-challenge.www." ZONE,
		 lab.dns.port);
	assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "%*s %d", &ttl), 1);
	assert_int_equal(ttl, 30);
	if (s->ops->cleanup(s, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup: %s", err);
	assert_false(served("_acme-challenge.www." ZONE, v));
	s->ops->free(s);
}

/* A secret the server does not know: the update is refused and the message says why. */
static void
test_dns_rfc2136_wrong_secret_is_notauth(void **state)
{
	struct solver_challenge c = CH("dns-01", "api." ZONE, "tok-api");
	char path[PATH_MAX + 32], err[512] = "", v[44];
	struct solver_dns_opts o = {.server = lab.server, .tsig_file = path, .zone = ZONE};
	struct solver *s = NULL;
	int rc;

	snprintf(path, sizeof(path), "%s/wrong.key", lab.dns.dir);
	write_file(path,
		   "key \"acme-key\" {\n\talgorithm hmac-sha256;\n"
		   "\tsecret \"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\";\n};\n",
		   0600);
	assert_int_equal(solver_dns01_value("tok-api.thumb", v), DEED_OK);
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	rc = s->ops->present(s, &c, err, sizeof(err));
	assert_int_not_equal(rc, DEED_OK);
	if (strstr(err, "NOTAUTH") == NULL || strstr(err, "BADSIG") == NULL ||
	    strstr(err, lab.server) == NULL)
		fail_msg("unexpected message: %s", err);
	assert_false(served("_acme-challenge.api." ZONE, v));
	s->ops->free(s);

	/* No key at all: Knot's ACL wants one. */
	o.tsig_file = NULL;
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_int_not_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_OK);
	if (strstr(err, "NOTAUTH") == NULL && strstr(err, "REFUSED") == NULL)
		fail_msg("unexpected message: %s", err);
	s->ops->free(s);
}

/* A zone Knot does not serve. */
static void
test_dns_rfc2136_foreign_zone_refused(void **state)
{
	struct solver_challenge c = CH("dns-01", "www.other.test", "tok-o");
	struct solver_dns_opts o = {
	    .server = lab.server, .tsig_file = lab.bind_key, .zone = "other.test"};
	struct solver *s = NULL;
	char err[512] = "";

	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_int_not_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_OK);
	if (strstr(err, "REFUSED") == NULL && strstr(err, "NOTAUTH") == NULL &&
	    strstr(err, "NOTZONE") == NULL)
		fail_msg("unexpected message: %s", err);
	assert_non_null(strstr(err, lab.server));
	s->ops->free(s);

	/* Without a zone, the solver finds none for other.test at Knot (REFUSED there). */
	o.zone = NULL;
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_int_not_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_OK);
	assert_non_null(strstr(err, "zone of _acme-challenge.www.other.test"));
	s->ops->free(s);
}

/* Nothing listens: the error names the server at once instead of waiting. */
static void
test_dns_rfc2136_no_server(void **state)
{
	struct solver_challenge c = CH("dns-01", "www." ZONE, "tok-n");
	char server[64], err[512] = "";
	struct solver_dns_opts o = {.server = server, .tsig_file = lab.bind_key, .zone = ZONE};
	struct solver *s = NULL;

	snprintf(server, sizeof(server), "127.0.0.1:%d", free_port());
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_ECONNECT);
	assert_non_null(strstr(err, server));
	assert_non_null(strstr(err, "refused"));
	s->ops->free(s);
}

/*
 * dns-account-01 by RFC 2136: two accounts validating the same names at once each publish
 * under their own label, apex and wildcard of one account share that label's name, the plain
 * _acme-challenge record (another client's dns-01) is left alone, and each cleanup removes
 * only its own value.
 */
static void
test_dns_account_rfc2136_publishes_at_label(void **state)
{
	struct solver_challenge a1 = CHA(ZONE, "tok-a1", ACCT1);
	struct solver_challenge w1 = CHA(ZONE, "tok-w1", ACCT1);
	struct solver_challenge a2 = CHA(ZONE, "tok-a2", ACCT2);
	struct solver_dns_opts o = {.server = lab.server,
				    .tsig_file = lab.bind_key,
				    .timeout_s = 10,
				    .challenge = "dns-account-01"}; /* zone found by the solver */
	const char *n1 = LABEL1 "._acme-challenge." ZONE, *n2 = LABEL2 "._acme-challenge." ZONE;
	char v1[44], vw[44], v2[44], err[512] = "", out[4096];
	struct solver *s1 = NULL, *s2 = NULL;

	assert_int_equal(solver_dns01_value("tok-a1.thumb", v1), DEED_OK);
	assert_int_equal(solver_dns01_value("tok-w1.thumb", vw), DEED_OK);
	assert_int_equal(solver_dns01_value("tok-a2.thumb", v2), DEED_OK);
	w1.wildcard = true;
	assert_int_equal(
	    labdns_update(&lab.dns, "update add " CH_NAME ". 60 TXT \"dns-01-of-someone\""), 0);
	assert_int_equal(solver_dns_rfc2136_new(&o, &s1, err, sizeof(err)), DEED_OK);
	assert_string_equal(s1->type, "dns-account-01");
	assert_int_equal(solver_dns_rfc2136_new(&o, &s2, err, sizeof(err)), DEED_OK);
	if (s1->ops->present(s1, &a1, err, sizeof(err)) != DEED_OK ||
	    s1->ops->present(s1, &w1, err, sizeof(err)) != DEED_OK ||
	    s2->ops->present(s2, &a2, err, sizeof(err)) != DEED_OK)
		fail_msg("present: %s", err);
	assert_true(served(n1, v1));
	assert_true(served(n1, vw));
	assert_false(served(n1, v2));
	assert_true(served(n2, v2));
	assert_false(served(n2, v1));
	kdig_txt(CH_NAME, out, sizeof(out));
	assert_string_equal(out, "\"dns-01-of-someone\"\n");
	if (s1->ops->ready(s1, err, sizeof(err)) != DEED_OK ||
	    s2->ops->ready(s2, err, sizeof(err)) != DEED_OK)
		fail_msg("ready: %s", err);

	if (s1->ops->cleanup(s1, &a1, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup: %s", err);
	assert_false(served(n1, v1));
	assert_true(served(n1, vw));
	assert_true(served(n2, v2));
	if (s1->ops->cleanup(s1, &w1, err, sizeof(err)) != DEED_OK ||
	    s2->ops->cleanup(s2, &a2, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup: %s", err);
	kdig_txt(n1, out, sizeof(out));
	assert_string_equal(out, "");
	kdig_txt(n2, out, sizeof(out));
	assert_string_equal(out, "");
	kdig_txt(CH_NAME, out, sizeof(out));
	assert_string_equal(out, "\"dns-01-of-someone\"\n");
	s1->ops->free(s1);
	s2->ops->free(s2);
	assert_int_equal(
	    labdns_update(&lab.dns, "update delete " CH_NAME ". TXT \"dns-01-of-someone\""), 0);
}

/* A zone given, propagation checked through a resolver, and the errors that are this type's
 * own: no account URL, a record name too long, an unknown challenge type. */
static void
test_dns_account_rfc2136_zone_resolver_and_errors(void **state)
{
	struct solver_challenge c = CHA("www." ZONE, "tok-aw", ACCT2);
	struct solver_dns_opts o = {.server = lab.server,
				    .tsig_file = lab.knot_key,
				    .zone = ZONE,
				    .resolver = lab.server,
				    .timeout_s = 10,
				    .challenge = "dns-account-01"};
	const char *name = LABEL2 "._acme-challenge.www." ZONE;
	char v[44], err[512] = "", big[240];
	struct solver *s = NULL;

	assert_int_equal(solver_dns01_value("tok-aw.thumb", v), DEED_OK);
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_OK);
	if (s->ops->present(s, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("present: %s", err);
	if (s->ops->ready(s, err, sizeof(err)) != DEED_OK)
		fail_msg("ready: %s", err);
	assert_true(served(name, v));
	assert_false(served("_acme-challenge.www." ZONE, v));
	if (s->ops->cleanup(s, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("cleanup: %s", err);
	assert_false(served(name, v));

	c.account_url = "";
	assert_int_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_EINVAL);
	assert_non_null(strstr(err, "no account URL"));
	/* 220 octets of name: fine for dns-01, 254 with the label and _acme-challenge. */
	memset(big, 'a', sizeof(big));
	for (size_t i = 63; i < 207; i += 64)
		big[i] = '.';
	snprintf(big + 207, sizeof(big) - 207, ".%s", ZONE);
	assert_int_equal(strlen(big), 220);
	c.identifier = big;
	c.account_url = ACCT2;
	assert_int_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_ETOOBIG);
	assert_non_null(strstr(err, "longer than 253"));
	s->ops->free(s);

	o.challenge = "dns-persist-01";
	assert_int_equal(solver_dns_rfc2136_new(&o, &s, err, sizeof(err)), DEED_EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, "dns-persist-01"));
}

/* The zone's SOA serial at Knot: Knot adds 1 per update message (serial-policy increment). */
static unsigned long
zone_serial(void)
{
	char cmd[256], out[512];
	unsigned long serial = 0;

	snprintf(cmd, sizeof(cmd), "kdig @127.0.0.1 -p %d +short SOA " ZONE, lab.dns.port);
	assert_int_equal(run_capture(cmd, out, sizeof(out)), 0);
	assert_int_equal(sscanf(out, "%*s %*s %lu", &serial), 1);
	return serial;
}

/*
 * Several TXT records, two of them at one name, added in one update message (the zone's
 * serial moves once) with the zone found by the function; then deleted in one message with
 * the zone given and the one-line key: exactly those values go, a value someone else put at
 * one of the names stays.
 */
static void
test_dns_update_txt_adds_and_deletes_several_in_one_update(void **state)
{
	const char *names[] = {"_validation-persist.u1." ZONE, "_validation-persist.u1." ZONE,
			       "_validation-persist.u2." ZONE};
	const char *values[] = {"ca.test; accounturi=https://ca.test/acct/1",
				"ca.test; accounturi=https://ca.test/acct/2",
				"ca.test; accounturi=https://ca.test/acct/3; policy=wildcard"};
	struct solver_dns_opts o = {.server = lab.server, .tsig_file = lab.bind_key};
	char err[512] = "", out[4096];
	unsigned long serial;
	size_t i;

	assert_int_equal(
	    labdns_update(&lab.dns, "update add _validation-persist.u1." ZONE ". 60 TXT \"other\""),
	    0);
	serial = zone_serial();
	if (solver_dns_update_txt(&o, names, values, 3, true, err, sizeof(err)) != DEED_OK)
		fail_msg("add: %s", err);
	assert_int_equal(zone_serial(), serial + 1);
	for (i = 0; i < 3; i++)
		assert_true(served(names[i], values[i]));
	assert_true(served(names[0], "other"));

	o.tsig_file = lab.knot_key;
	o.zone = ZONE;
	serial = zone_serial();
	if (solver_dns_update_txt(&o, names, values, 3, false, err, sizeof(err)) != DEED_OK)
		fail_msg("delete: %s", err);
	assert_int_equal(zone_serial(), serial + 1);
	kdig_txt(names[0], out, sizeof(out));
	assert_string_equal(out, "\"other\"\n");
	kdig_txt(names[2], out, sizeof(out));
	assert_string_equal(out, "");
	assert_int_equal(
	    labdns_update(&lab.dns, "update delete _validation-persist.u1." ZONE ". TXT \"other\""),
	    0);

	/* Nothing to send, and a zone the server refuses: errors, the message says why. */
	assert_int_equal(solver_dns_update_txt(&o, names, values, 0, true, err, sizeof(err)),
			 DEED_EINVAL);
	o.zone = "other.test";
	assert_int_not_equal(solver_dns_update_txt(&o, names, values, 3, true, err, sizeof(err)),
			     DEED_OK);
	if (strstr(err, "and 2 more") == NULL || strstr(err, lab.server) == NULL)
		fail_msg("unexpected message: %s", err);
}

/*
 * A hook that really publishes (knsupdate), with propagation checked at Knot as the resolver;
 * and a hook that publishes nothing, so ready() runs into its deadline.
 */
static void
test_dns_hook_with_resolver(void **state)
{
	struct solver_challenge c = CH("dns-01", "mail." ZONE, "tok-m");
	char hook[PATH_MAX + 32], text[2 * PATH_MAX + 512], err[512] = "", v[44];
	struct solver *s = NULL;

	snprintf(hook, sizeof(hook), "%s/publish.sh", lab.dns.dir);
	snprintf(text, sizeof(text),
		 "#!/bin/sh\n"
		 "case $1 in begin) op=add ;; *) op=delete ;; esac\n"
		 "printf 'server 127.0.0.1 %d\\nzone " ZONE ".\\n"
		 "update %%s _acme-challenge.%%s. 60 TXT \"%%s\"\\nsend\\n' \"$op\" \"$3\" \"$5\" "
		 "| knsupdate -k '%s'\n",
		 lab.dns.port, lab.knot_key);
	write_file(hook, text, 0755);
	assert_int_equal(solver_dns01_value("tok-m.thumb", v), DEED_OK);
	assert_int_equal(solver_dns_hook_new(hook, "dns-01", lab.server, 10, &s, err, sizeof(err)),
			 DEED_OK);
	if (s->ops->present(s, &c, err, sizeof(err)) != DEED_OK)
		fail_msg("present: %s", err);
	if (s->ops->ready(s, err, sizeof(err)) != DEED_OK)
		fail_msg("ready: %s", err);
	assert_true(served("_acme-challenge.mail." ZONE, v));
	assert_int_equal(s->ops->cleanup(s, &c, err, sizeof(err)), DEED_OK);
	assert_false(served("_acme-challenge.mail." ZONE, v));
	s->ops->free(s);

	assert_int_equal(solver_dns_hook_new("true", "dns-01", lab.server, 2, &s, err, sizeof(err)),
			 DEED_OK);
	assert_int_equal(s->ops->present(s, &c, err, sizeof(err)), DEED_OK);
	assert_int_equal(s->ops->ready(s, err, sizeof(err)), DEED_ETIMEOUT);
	assert_non_null(strstr(err, "_acme-challenge.mail." ZONE));
	assert_non_null(strstr(err, lab.server));
	assert_int_equal(s->ops->cleanup(s, &c, err, sizeof(err)), DEED_OK);
	s->ops->free(s);
}

int
main(void)
{
	const struct CMUnitTest local[] = {
	    cmocka_unit_test(test_dns01_value_is_base64url_of_sha256),
	    cmocka_unit_test(test_token_check_keeps_paths_out),
	    cmocka_unit_test(test_addr_parse_forms),
	    cmocka_unit_test(test_http_standalone_serves_presented_tokens_only),
	    cmocka_unit_test(test_http_standalone_not_blocked_by_idle_client),
	    cmocka_unit_test(test_http_standalone_busy_port_is_an_error),
	    cmocka_unit_test(test_http_webroot_writes_and_removes_the_file),
	    cmocka_unit_test(test_tlsalpn_presents_the_challenge_certificate),
	    cmocka_unit_test(test_tlsalpn_refuses_other_clients),
	    cmocka_unit_test(test_tlsalpn_ip_identifier),
	    cmocka_unit_test(test_dns_hook_runs_program_with_args),
	    cmocka_unit_test(test_dns_account_hook_gets_record_name),
	    cmocka_unit_test(test_dns_tsig_file_errors),
	    cmocka_unit_test(test_dns_update_txt_too_big_for_one_message),
	};
	const struct CMUnitTest knot[] = {
	    cmocka_unit_test(test_dns_rfc2136_apex_and_wildcard_share_a_name),
	    cmocka_unit_test(test_dns_rfc2136_knot_key_format_and_resolver),
	    cmocka_unit_test(test_dns_rfc2136_wrong_secret_is_notauth),
	    cmocka_unit_test(test_dns_rfc2136_foreign_zone_refused),
	    cmocka_unit_test(test_dns_rfc2136_no_server),
	    cmocka_unit_test(test_dns_account_rfc2136_publishes_at_label),
	    cmocka_unit_test(test_dns_account_rfc2136_zone_resolver_and_errors),
	    cmocka_unit_test(test_dns_hook_with_resolver),
	    cmocka_unit_test(test_dns_update_txt_adds_and_deletes_several_in_one_update),
	};
	int failed;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("solver", local, NULL, NULL);
	failed += cmocka_run_group_tests_name("solver_knot", knot, lab_up, lab_down);
	curl_global_cleanup();
	return failed;
}
