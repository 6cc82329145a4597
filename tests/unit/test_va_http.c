#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "error.h"
#include "labdns.h"
#include "va.h"
#include "va_http.h"
#include "vatest.h"

/*
 * http-01 against a small HTTP server on loopback, with names resolved through the lab's Knot
 * (so the VA's own resolution, pinning and address filtering are what is tested).
 */

#define KA "tok_abc.thumbprint_0123456789-abcdefghijklmnopqrstuvwxyzABCD"

/* --- the test's HTTP server ------------------------------------------------------------ */

struct srv {
	struct vatest_srv net; /* the accept loop, calling serve_one; net.lock guards the rest */
	char last_ua[128];
	char last_host[128];
};

static struct srv s4; /* 127.0.0.1:P */
static struct srv s6; /* [::1]:P6, nothing on 127.0.0.1:P6 */
static struct labdns lab;
static struct va *va; /* allow_loopback, http01_port P, tlsalpn01_port P */
static int P, P6;

struct reply {
	int status;
	char location[256];
	char body[512];
	bool hang;
};

/* What the server answers for a path. */
static void
route(const char *path, struct reply *r)
{
	const char *tok = NULL;
	int n;

	memset(r, 0, sizeof(*r));
	r->status = 404;
	snprintf(r->body, sizeof(r->body), "not found");
	if (strncmp(path, "/.well-known/acme-challenge/", 28) == 0)
		tok = path + 28;
	if (strcmp(path, "/good") == 0 || (tok && strcmp(tok, "ok") == 0)) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), "%s\r\n \n", KA);
	} else if (sscanf(path, "/hop/%d", &n) == 1) {
		r->status = n > 0 ? 302 : 200;
		if (n > 0)
			snprintf(r->location, sizeof(r->location), "/hop/%d", n - 1);
		else
			snprintf(r->body, sizeof(r->body), "%s", KA);
	} else if (tok == NULL) {
		return;
	} else if (strcmp(tok, "wrong") == 0) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), "wrong\n");
	} else if (strcmp(tok, "leading") == 0) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), " %s", KA);
	} else if (strcmp(tok, "big") == 0 || strcmp(tok, "b128") == 0) {
		r->status = 200;
		memset(r->body, 'a', tok[1] == 'i' ? 129 : 128);
	} else if (strcmp(tok, "chain11") == 0 || strcmp(tok, "chain10") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location), "/hop/%d",
			 strcmp(tok, "chain11") == 0 ? 10 : 9);
	} else if (strcmp(tok, "torel") == 0) {
		r->status = 301;
		snprintf(r->location, sizeof(r->location), "/good");
	} else if (strcmp(tok, "toabs") == 0) {
		r->status = 307;
		snprintf(r->location, sizeof(r->location), "http://WWW.Example.TEST:%d/good", P);
	} else if (strcmp(tok, "toip") == 0) {
		r->status = 308;
		snprintf(r->location, sizeof(r->location), "http://127.0.0.1:%d/good", P);
	} else if (strcmp(tok, "toport") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location), "http://www.example.test:%d/good",
			 P == 8081 ? 8082 : 8081);
	} else if (strcmp(tok, "toftp") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location), "ftp://www.example.test/good");
	} else if (strcmp(tok, "toprivate") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location), "http://private.example.test:%d/good",
			 P);
	} else if (strcmp(tok, "tometa") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location),
			 "http://169.254.169.254/latest/meta-data/");
	} else if (strcmp(tok, "tohttps") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location), "https://www.example.test:%d/good", P);
	} else if (strcmp(tok, "towellknown") == 0) {
		r->status = 302;
		snprintf(r->location, sizeof(r->location),
			 "http://www.example.test.well-known/acme-challenge/x");
	} else if (strcmp(tok, "to303") == 0) {
		r->status = 303;
		snprintf(r->location, sizeof(r->location), "/good");
	} else if (strcmp(tok, "nolocation") == 0) {
		r->status = 302;
	} else if (strcmp(tok, "hang") == 0) {
		r->hang = true;
	}
}

static void
header_value(const char *req, const char *name, char *out, size_t outsz)
{
	const char *p = strcasestr(req, name), *e;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen(name);
	while (*p == ' ')
		p++;
	e = strstr(p, "\r\n");
	snprintf(out, outsz, "%.*s", e ? (int)(e - p) : 0, p);
}

static void
serve_one(void *arg, int c)
{
	struct srv *s = arg;
	char req[8192], path[1024] = "", hdr[1024];
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	struct reply r;
	size_t len = 0;
	ssize_t n;
	int hl;

	while (len < sizeof(req) - 1 && poll(&pfd, 1, 3000) == 1 &&
	       (n = read(c, req + len, sizeof(req) - 1 - len)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	req[len] = '\0';
	if (sscanf(req, "GET %1023s HTTP/1.1", path) != 1) {
		dprintf(c, "HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n");
		return;
	}
	pthread_mutex_lock(&s->net.lock);
	header_value(req, "\r\nUser-Agent:", s->last_ua, sizeof(s->last_ua));
	header_value(req, "\r\nHost:", s->last_host, sizeof(s->last_host));
	pthread_mutex_unlock(&s->net.lock);
	route(path, &r);
	if (r.hang) {
		/* Say nothing until the client gives up and closes. */
		poll(&pfd, 1, 10000);
		return;
	}
	hl = snprintf(hdr, sizeof(hdr),
		      "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n", r.status,
		      strlen(r.body));
	if (r.location[0] != '\0')
		hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, "Location: %s\r\n", r.location);
	hl += snprintf(hdr + hl, sizeof(hdr) - (size_t)hl, "\r\n");
	if (write(c, hdr, (size_t)hl) < 0 || write(c, r.body, strlen(r.body)) < 0)
		return;
}

static int
srv_start(struct srv *s, int family, int port)
{
	return vatest_srv_start(&s->net, family, port, serve_one, s);
}

/* --- helpers --------------------------------------------------------------------------- */

static void
validate_with(struct va *v, const char *ident, const char *token, struct va_result *res)
{
	vatest_validate(v, "http-01", ident, token, KA, res);
}

static void
validate(const char *ident, const char *token, struct va_result *res)
{
	validate_with(va, ident, token, res);
}

static struct va *
va_with(bool allow_loopback, int port, int timeout_ms)
{
	return vatest_va(lab.resolver, allow_loopback, port, timeout_ms);
}

static int
group_setup(void **state)
{
	if (labdns_start(&lab) != 0)
		return -1;
	if (labdns_update(&lab, "update add private.example.test. 5 A 10.0.0.1\n"
				"update add meta.example.test. 5 A 169.254.169.254\n"
				"update add dual.example.test. 5 AAAA ::1\n"
				"update add dual.example.test. 5 A 127.0.0.1\n"
				"update add mixed.example.test. 5 A 10.0.0.1\n"
				"update add mixed.example.test. 5 A 127.0.0.1\n"
				"update add txtonly.example.test. 5 TXT \"x\"") != 0)
		goto fail;
	/* P: free on 127.0.0.1 and ::1 (nothing must answer on [::1]:P for the fallback test);
	 * P6: the same, then served on ::1 only. */
	if ((P = labdns_free_port()) == 0 || srv_start(&s4, AF_INET, P) != 0)
		goto fail;
	do
		P6 = labdns_free_port();
	while (P6 == P);
	if (P6 == 0 || srv_start(&s6, AF_INET6, P6) != 0)
		goto fail;
	va = va_with(true, P, 5000);
	return 0;
fail:
	vatest_srv_stop(&s4.net);
	vatest_srv_stop(&s6.net);
	labdns_stop(&lab);
	return -1;
}

static int
group_teardown(void **state)
{
	va_free(va);
	vatest_srv_stop(&s4.net);
	vatest_srv_stop(&s6.net);
	labdns_stop(&lab);
	return 0;
}

/* --- tests ----------------------------------------------------------------------------- */

static void
http01_key_authorization_validates(void **state)
{
	struct va_result res;
	char url[128], port[8];
	json_t *resolved;

	validate("www.example.test", "ok", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	snprintf(url, sizeof(url), "http://www.example.test:%d/.well-known/acme-challenge/ok", P);
	snprintf(port, sizeof(port), "%d", P);
	assert_string_equal(rec_str(&res, 0, "url"), url);
	assert_string_equal(rec_str(&res, 0, "hostname"), "www.example.test");
	assert_string_equal(rec_str(&res, 0, "port"), port);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	resolved = json_object_get(json_array_get(res.records, 0), "addressesResolved");
	assert_int_equal(json_array_size(resolved), 1);
	assert_string_equal(json_string_value(json_array_get(resolved, 0)), "127.0.0.1");
	assert_null(json_object_get(json_array_get(res.records, 0), "addressesTried"));
	/* What the server saw: our User-Agent, the name (not the address) as Host. */
	assert_string_equal(s4.last_ua, "deed-ca-va");
	snprintf(url, sizeof(url), "www.example.test:%d", P);
	assert_string_equal(s4.last_host, url);
	va_result_cleanup(&res);
}

static void
http01_wrong_body_is_unauthorized(void **state)
{
	struct va_result res;

	validate("www.example.test", "wrong", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_string_equal(res.detail,
			    "The key authorization file from the server did not match this "
			    "challenge. Expected \"" KA "\" (got \"wrong\")");
	va_result_cleanup(&res);

	/* Only trailing whitespace is trimmed. */
	validate("www.example.test", "leading", &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	va_result_cleanup(&res);
}

static void
http01_not_found_is_unauthorized(void **state)
{
	struct va_result res;
	char want[160];

	validate("www.example.test", "missing", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	snprintf(want, sizeof(want),
		 "Invalid response from http://www.example.test:%d/.well-known/acme-challenge/"
		 "missing: 404",
		 P);
	assert_string_equal(res.detail, want);
	va_result_cleanup(&res);
}

static void
http01_body_over_128_bytes_is_unauthorized(void **state)
{
	struct va_result res;

	validate("www.example.test", "big", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "more than 128 bytes");
	va_result_cleanup(&res);

	/* 128 bytes are read and compared (and do not match). */
	validate("www.example.test", "b128", &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, "did not match");
	va_result_cleanup(&res);
}

static void
http01_loopback_refused_unless_allowed(void **state)
{
	struct va *strict = va_with(false, P, 5000);
	struct va_result res;
	int before = atomic_load(&s4.net.conns);

	validate_with(strict, "www.example.test", "ok", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, "www.example.test resolves only to reserved addresses "
					"(127.0.0.1: loopback); refusing to connect");
	assert_null(rec_str(&res, 0, "addressUsed"));
	assert_int_equal(atomic_load(&s4.net.conns), before); /* no connection was made */
	va_result_cleanup(&res);
	va_free(strict);
}

static void
http01_reserved_addresses_refused_before_connecting(void **state)
{
	struct va_result res;
	int64_t t0 = ms_now();

	/* 10.0.0.1 and 169.254.169.254 are not on loopback: a connection attempt would leave
	 * the machine. None is made (it would also time out, not fail at once). */
	validate("private.example.test", "ok", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, "private.example.test resolves only to reserved "
					"addresses (10.0.0.1: private-use); refusing to connect");
	assert_null(rec_str(&res, 0, "addressUsed"));
	va_result_cleanup(&res);

	validate("meta.example.test", "ok", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "(169.254.169.254: link-local); refusing to connect");
	va_result_cleanup(&res);
	assert_true(ms_now() - t0 < 1000);

	/* A usable address next to a reserved one: only the usable one is tried. */
	validate("mixed.example.test", "ok", &res);
	assert_true(res.ok);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	assert_int_equal(
	    json_array_size(json_object_get(json_array_get(res.records, 0), "addressesResolved")),
	    2);
	va_result_cleanup(&res);
}

static void
http01_redirects_limited_to_ten(void **state)
{
	struct va_result res;

	validate("www.example.test", "chain10", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 11);
	va_result_cleanup(&res);

	validate("www.example.test", "chain11", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, "Too many redirects (more than 10)");
	assert_int_equal(json_array_size(res.records), 11);
	va_result_cleanup(&res);
}

static void
http01_redirect_to_other_port_refused(void **state)
{
	struct va_result res;
	int before = atomic_load(&s4.net.conns);

	validate("www.example.test", "toport", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "Invalid port in redirect target");
	assert_contains(res.detail, P == 8081 ? "not 8082" : "not 8081");
	assert_int_equal(atomic_load(&s4.net.conns), before + 1);
	va_result_cleanup(&res);
}

static void
http01_redirect_to_other_scheme_refused(void **state)
{
	struct va_result res;

	validate("www.example.test", "toftp", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(res.detail, "Invalid protocol scheme in redirect target "
					"\"ftp://www.example.test/good\": only \"http\" and "
					"\"https\" are supported");
	va_result_cleanup(&res);
}

static void
http01_redirect_on_same_server_validates(void **state)
{
	struct va_result res;
	char url[128];

	validate("www.example.test", "torel", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 2);
	snprintf(url, sizeof(url), "http://www.example.test:%d/good", P);
	assert_string_equal(rec_str(&res, 1, "url"), url);
	va_result_cleanup(&res);

	/* Absolute, with the host in another case: compared and resolved in lowercase. */
	validate("www.example.test", "toabs", &res);
	assert_true(res.ok);
	assert_string_equal(rec_str(&res, 1, "hostname"), "www.example.test");
	va_result_cleanup(&res);

	/* To an address literal. */
	validate("www.example.test", "toip", &res);
	assert_true(res.ok);
	assert_string_equal(rec_str(&res, 1, "hostname"), "127.0.0.1");
	assert_string_equal(rec_str(&res, 1, "addressUsed"), "127.0.0.1");
	va_result_cleanup(&res);
}

static void
http01_redirect_targets_filtered_like_the_first(void **state)
{
	struct va_result res;

	validate("www.example.test", "toprivate", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "(10.0.0.1: private-use); refusing to connect");
	assert_int_equal(json_array_size(res.records), 2);
	va_result_cleanup(&res);

	validate("www.example.test", "tometa", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_string_equal(
	    res.detail, "169.254.169.254 is a reserved address (link-local); refusing to connect");
	va_result_cleanup(&res);

	validate("www.example.test", "towellknown", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "missing '/' in redirect target");
	va_result_cleanup(&res);

	validate("www.example.test", "nolocation", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "redirect without a Location");
	va_result_cleanup(&res);

	/* 303 is not one of the redirects followed. */
	validate("www.example.test", "to303", &res);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains(res.detail, ": 303");
	va_result_cleanup(&res);
}

static void
http01_redirect_to_https_is_followed(void **state)
{
	struct va_result res;

	/* https on the configured TLS port is allowed; the server there speaks plain HTTP,
	 * so the handshake fails: a TLS problem, after the redirect was accepted. */
	validate("www.example.test", "tohttps", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_TLS);
	assert_int_equal(json_array_size(res.records), 2);
	assert_contains(rec_str(&res, 1, "url"), "https://www.example.test:");
	va_result_cleanup(&res);
}

static void
http01_names_that_do_not_resolve(void **state)
{
	struct va_result res;

	validate("nothere.example.test", "ok", &res);
	assert_int_equal(res.prob, PROB_DNS);
	assert_string_equal(res.detail, "NXDOMAIN looking up A for nothere.example.test - check "
					"that a DNS record exists for this domain");
	va_result_cleanup(&res);

	validate("txtonly.example.test", "ok", &res);
	assert_int_equal(res.prob, PROB_DNS);
	assert_string_equal(res.detail, "No valid IP addresses found for txtonly.example.test");
	va_result_cleanup(&res);

	/* Knot refuses other zones. */
	validate("www.other.test", "ok", &res);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains(res.detail, "SERVFAIL looking up AAAA for www.other.test");
	va_result_cleanup(&res);
}

static void
http01_ipv6_first_then_ipv4(void **state)
{
	struct va *v6 = va_with(true, P6, 5000);
	struct va_result res;
	json_t *tried;

	/* [::1]:P6 answers: IPv6 is used. */
	validate_with(v6, "dual.example.test", "ok", &res);
	assert_true(res.ok);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "::1");
	assert_null(json_object_get(json_array_get(res.records, 0), "addressesTried"));
	va_result_cleanup(&res);
	va_free(v6);

	/* Nothing on [::1]:P: refused, then 127.0.0.1:P. */
	validate("dual.example.test", "ok", &res);
	assert_true(res.ok);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	tried = json_object_get(json_array_get(res.records, 0), "addressesTried");
	assert_int_equal(json_array_size(tried), 1);
	assert_string_equal(json_string_value(json_array_get(tried, 0)), "::1");
	va_result_cleanup(&res);
}

static void
http01_connection_problems(void **state)
{
	struct va *quick = va_with(true, P, 1000);
	struct va *closed;
	struct va_result res;
	int64_t t0;
	int port;

	/* A server that accepts and never answers: the whole validation's deadline holds. */
	t0 = ms_now();
	validate_with(quick, "www.example.test", "hang", &res);
	assert_true(ms_now() - t0 < 2500);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "timed out");
	va_result_cleanup(&res);
	va_free(quick);

	/* Nobody listening. */
	assert_true((port = labdns_free_port()) != 0);
	closed = va_with(true, port, 5000);
	validate_with(closed, "www.example.test", "ok", &res);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains(res.detail, "127.0.0.1: Fetching http://www.example.test:");
	va_result_cleanup(&res);
	va_free(closed);
}

static void
http01_not_for_wildcards(void **state)
{
	struct va_request req = {.type = "http-01",
				 .identifier = "example.test",
				 .wildcard = true,
				 .token = "ok",
				 .key_authz = KA};
	struct va_result res;

	assert_int_equal(va_validate(va, &req, &res), DEED_EUNSUPPORTED);
	assert_false(res.ok);
	va_result_cleanup(&res);
}

static void
reserved_ranges(void **state)
{
	/* clang-format off */
	static const struct {
		const char *addr;
		bool reserved;
		bool with_loopback;
	} cases[] = {
		{"8.8.8.8", false, false},          {"1.1.1.1", false, false},
		{"2001:4860:4860::8888", false, false},
		{"0.1.2.3", true, true},            {"10.1.2.3", true, true},
		{"100.64.0.1", true, true},         {"100.128.0.0", false, false},
		{"127.0.0.1", true, false},         {"127.255.255.254", true, false},
		{"169.254.169.254", true, true},    {"172.16.0.1", true, true},
		{"172.31.255.255", true, true},     {"172.32.0.0", false, false},
		{"192.0.0.8", true, true},          {"192.0.2.1", true, true},
		{"192.88.99.1", true, true},        {"192.168.1.1", true, true},
		{"198.18.0.1", true, true},         {"198.19.255.255", true, true},
		{"198.20.0.0", false, false},       {"198.51.100.7", true, true},
		{"203.0.113.9", true, true},        {"224.0.0.1", true, true},
		{"239.255.255.250", true, true},    {"240.0.0.1", true, true},
		{"255.255.255.255", true, true},    {"::", true, true},
		{"::1", true, false},               {"::ffff:127.0.0.1", true, true},
		{"::ffff:8.8.8.8", true, true},     {"64:ff9b::8.8.8.8", true, true},
		{"100::1", true, true},             {"2001::1", true, true},
		{"2001:db8::1", true, true},        {"2002::1", true, true},
		{"3fff::1", true, true},            {"fc00::1", true, true},
		{"fd12:3456::1", true, true},       {"fe80::1", true, true},
		{"febf::1", true, true},            {"fec0::1", false, false},
		{"ff02::1", true, true},            {"2a00:1450::1", false, false},
		{"not an address", true, true},     {"", true, true},
		{"1.2.3", true, true},
	};
	/* clang-format on */

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (va_addr_reserved(cases[i].addr, false) != cases[i].reserved ||
		    va_addr_reserved(cases[i].addr, true) != cases[i].with_loopback)
			fail_msg("%s: reserved should be %d, with loopback allowed %d",
				 cases[i].addr, cases[i].reserved, cases[i].with_loopback);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(http01_key_authorization_validates),
	    cmocka_unit_test(http01_wrong_body_is_unauthorized),
	    cmocka_unit_test(http01_not_found_is_unauthorized),
	    cmocka_unit_test(http01_body_over_128_bytes_is_unauthorized),
	    cmocka_unit_test(http01_loopback_refused_unless_allowed),
	    cmocka_unit_test(http01_reserved_addresses_refused_before_connecting),
	    cmocka_unit_test(http01_redirects_limited_to_ten),
	    cmocka_unit_test(http01_redirect_to_other_port_refused),
	    cmocka_unit_test(http01_redirect_to_other_scheme_refused),
	    cmocka_unit_test(http01_redirect_on_same_server_validates),
	    cmocka_unit_test(http01_redirect_targets_filtered_like_the_first),
	    cmocka_unit_test(http01_redirect_to_https_is_followed),
	    cmocka_unit_test(http01_names_that_do_not_resolve),
	    cmocka_unit_test(http01_ipv6_first_then_ipv4),
	    cmocka_unit_test(http01_connection_problems),
	    cmocka_unit_test(http01_not_for_wildcards),
	    cmocka_unit_test(reserved_ranges),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
