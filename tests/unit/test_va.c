#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>

#include "error.h"
#include "labdns.h"
#include "problem.h"
#include "va.h"
#include "va_http.h"
#include "vatest.h"

/*
 * The validation authority end to end: va_addr_reserved's table, then dns-01 and http-01
 * validations through a real resolver path. Names are served by the lab's Knot DNS (started
 * here on a free loopback port, records added with TSIG-signed RFC 2136 updates), and the
 * http-01 server is a thread of this program on 127.0.0.1. Nothing leaves loopback: names
 * that resolve elsewhere must be refused before any connection, which is what those cases
 * check.
 */

#define ZONE "example.test"
#define THUMB "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
#define TIMEOUT_MS 10000

/* --- va_addr_reserved ------------------------------------------------------------------ */

struct addr_case {
	const char *addr;
	bool reserved;		/* with allow_loopback false */
	bool reserved_loopback; /* with allow_loopback true */
};

static void
addr_reserved_matches_special_purpose_registries(void **state)
{
	static const struct addr_case cases[] = {
	    /* private, shared, link-local (cloud metadata), this-network, multicast, broadcast */
	    {"10.0.0.1", true, true},
	    {"169.254.169.254", true, true},
	    {"172.16.5.4", true, true},
	    {"192.168.1.1", true, true},
	    {"100.64.0.1", true, true},
	    {"0.0.0.0", true, true},
	    {"224.0.0.1", true, true},
	    {"255.255.255.255", true, true},
	    {"fe80::1", true, true},
	    {"fc00::1", true, true},
	    {"::ffff:1.2.3.4", true, true},
	    {"2001:db8::1", true, true},
	    /* loopback: only allow_loopback opens it, and only in its native spelling */
	    {"127.0.0.1", true, false},
	    {"127.255.255.254", true, false},
	    {"::1", true, false},
	    {"::ffff:127.0.0.1", true, true},
	    /* public */
	    {"8.8.8.8", false, false},
	    {"1.1.1.1", false, false},
	    {"2606:4700::1111", false, false},
	    /* edges of the prefixes */
	    {"100.63.255.255", false, false},
	    {"100.127.255.255", true, true},
	    {"100.128.0.0", false, false},
	    {"172.15.255.255", false, false},
	    {"172.31.255.255", true, true},
	    {"172.32.0.0", false, false},
	    {"223.255.255.255", false, false},
	    {"febf::1", true, true},
	    {"2001:1ff::1", true, true},	    /* inside 2001::/23 */
	    {"2001:4860:4860::8888", false, false}, /* just outside it */
	    /* not an address: refused rather than guessed at */
	    {"", true, true},
	    {"garbage", true, true},
	    {"localhost", true, true},
	    {"1.2.3", true, true},
	    {"10.0.0.1 ", true, true},
	    {"[::1]", true, true},
	    {"256.1.1.1", true, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];

		if (va_addr_reserved(c->addr, false) != c->reserved)
			fail_msg("va_addr_reserved(\"%s\", false) should be %s", c->addr,
				 c->reserved ? "true" : "false");
		if (va_addr_reserved(c->addr, true) != c->reserved_loopback)
			fail_msg("va_addr_reserved(\"%s\", true) should be %s", c->addr,
				 c->reserved_loopback ? "true" : "false");
	}
}

/* --- the lab's Knot (labdns.h) ------------------------------------------------------- */

static struct labdns lab;

/* A TSIG-signed update of the lab zone, which Knot serves once this returns. */
#define UPDATE(...) assert_int_equal(labdns_update(&lab, __VA_ARGS__), 0)

static int
lab_start(void)
{
	if (labdns_start(&lab) != 0)
		return -1;
	/* Names whose only address must never be connected to, and a name with no TXT. */
	if (labdns_update(&lab,
			  "update add ten.%s. 5 A 10.0.0.1\n"
			  "update add meta.%s. 5 A 169.254.169.254\n"
			  "update add _acme-challenge.d-nodata.%s. 5 A 127.0.0.1",
			  ZONE, ZONE, ZONE) != 0) {
		fprintf(stderr, "knsupdate failed\n");
		labdns_stop(&lab);
		return -1;
	}
	return 0;
}

/* --- the http-01 server ---------------------------------------------------------------- */

struct srv {
	struct vatest_srv net; /* the accept loop, calling serve_one; net.lock guards last_host */
	char last_host[128];   /* Host header of the last request */
};

static struct srv srv;

struct reply {
	int status;
	char location[300];
	char body[512];
};

static void redirect(struct reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
redirect(struct reply *r, const char *fmt, ...)
{
	va_list ap;

	r->status = 302;
	va_start(ap, fmt);
	vsnprintf(r->location, sizeof(r->location), fmt, ap);
	va_end(ap);
}

/*
 * What the server answers. Under /.well-known/acme-challenge/TOKEN:
 *   ok*      200 "TOKEN.THUMB\n"       wrong  200 another key authorization
 *   big      200, 200 bytes: the right key authorization padded with spaces
 *   hopN     N redirects in all, then the right answer
 *   same, p8081, ftp, toten, tometa   one redirect (see below)
 *   other    404
 * /r/K/TOKEN: K > 0 redirects to /r/K-1/TOKEN; /r/0/TOKEN answers "TOKEN.THUMB\n".
 */
static void
route(const char *path, struct reply *r)
{
	const char *tok;
	int k, n;

	memset(r, 0, sizeof(*r));
	r->status = 404;
	snprintf(r->body, sizeof(r->body), "no such file\n");
	if (sscanf(path, "/r/%d/%n", &k, &n) == 1 && k >= 0) {
		if (k > 0) {
			redirect(r, "/r/%d/%s", k - 1, path + n);
		} else {
			r->status = 200;
			snprintf(r->body, sizeof(r->body), "%.400s.%s\n", path + n, THUMB);
		}
		return;
	}
	if (strncmp(path, "/.well-known/acme-challenge/", 28) != 0)
		return;
	tok = path + 28;
	if (strncmp(tok, "ok", 2) == 0) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), "%.400s.%s\n", tok, THUMB);
	} else if (strcmp(tok, "wrong") == 0) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), "wrong.%s\n", "someone-elses-thumbprint");
	} else if (strcmp(tok, "big") == 0) {
		r->status = 200;
		snprintf(r->body, sizeof(r->body), "big.%-*s", 200 - 4, THUMB);
	} else if (sscanf(tok, "hop%d", &k) == 1 && k > 0) {
		redirect(r, "/r/%d/%s", k - 1, tok);
	} else if (strcmp(tok, "same") == 0) {
		redirect(r, "http://www.%s:%d/r/0/same", ZONE, srv.net.port);
	} else if (strcmp(tok, "p8081") == 0) {
		redirect(r, "http://www.%s:8081/r/0/p8081", ZONE);
	} else if (strcmp(tok, "ftp") == 0) {
		redirect(r, "ftp://www.%s/r/0/ftp", ZONE);
	} else if (strcmp(tok, "toten") == 0) {
		redirect(r, "http://ten.%s:%d/r/0/toten", ZONE, srv.net.port);
	} else if (strcmp(tok, "tometa") == 0) {
		redirect(r, "http://169.254.169.254:%d/r/0/tometa", srv.net.port);
	}
}

static void
send_all(int c, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c, p, len, MSG_NOSIGNAL); /* the VA may hang up first */

		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

static void
serve_one(void *arg, int c)
{
	char req[8192], path[1024], head[1024];
	struct pollfd pfd = {.fd = c, .events = POLLIN};
	const char *h, *e;
	struct reply r;
	size_t len = 0;
	ssize_t n;
	int hl;

	req[0] = '\0';
	while (len < sizeof(req) - 1 && strstr(req, "\r\n\r\n") == NULL &&
	       poll(&pfd, 1, 5000) == 1 && (n = recv(c, req + len, sizeof(req) - 1 - len, 0)) > 0) {
		len += (size_t)n;
		req[len] = '\0';
	}
	if (sscanf(req, "GET %1023s HTTP/1.1\r\n", path) != 1)
		return;
	if ((h = strcasestr(req, "\r\nHost:")) != NULL) {
		for (h += 7; *h == ' '; h++)
			;
		e = strstr(h, "\r\n");
		pthread_mutex_lock(&srv.net.lock);
		snprintf(srv.last_host, sizeof(srv.last_host), "%.*s", e ? (int)(e - h) : 0, h);
		pthread_mutex_unlock(&srv.net.lock);
	}
	route(path, &r);
	hl = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d Test\r\nContent-Length: %zu\r\nConnection: close\r\n%s%s%s\r\n",
		      r.status, strlen(r.body), r.location[0] ? "Location: " : "", r.location,
		      r.location[0] ? "\r\n" : "");
	send_all(c, head, (size_t)hl);
	send_all(c, r.body, strlen(r.body));
}

/* On 127.0.0.1, at a port the kernel picks (srv.net.port). */
static int
srv_start(void)
{
	if (vatest_srv_start(&srv.net, AF_INET, 0, serve_one, NULL) != 0)
		return -1;
	return srv.net.port == 8081 ? -1 : 0; /* the port the redirect cases call foreign */
}

static int
conns(void)
{
	return atomic_load(&srv.net.conns);
}

/* --- fixtures -------------------------------------------------------------------------- */

static struct va *va;	     /* allow_loopback, http01_port = the test server's */
static struct va *va_strict; /* the same without allow_loopback */

static struct va *
make_va(bool allow_loopback)
{
	struct va_config cfg = {
	    .resolver = lab.resolver,
	    .http01_port = srv.net.port,
	    .tlsalpn01_port = 443,
	    .allow_loopback = allow_loopback,
	    .timeout_ms = TIMEOUT_MS,
	};
	struct va *v = NULL;
	char err[256] = "";

	if (va_new(&cfg, &v, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "va_new: %s\n", err);
		return NULL;
	}
	return v;
}

static int
group_teardown(void **state)
{
	(void)state;
	va_free(va);
	va_free(va_strict);
	va = va_strict = NULL;
	vatest_srv_stop(&srv.net);
	labdns_stop(&lab);
	return 0;
}

static int
group_setup(void **state)
{
	if (lab_start() != 0 || srv_start() != 0 || (va = make_va(true)) == NULL ||
	    (va_strict = make_va(false)) == NULL) {
		group_teardown(state);
		return -1;
	}
	return 0;
}

static void
dns01(const char *name, const char *key_authz, struct va_result *res)
{
	struct va_request req = {.type = "dns-01", .identifier = name, .key_authz = key_authz};

	assert_int_equal(va_validate(va, &req, res), DEED_OK);
}

static void
http01_with(struct va *v, const char *name, const char *token, struct va_result *res)
{
	char ka[128];
	struct va_request req = {
	    .type = "http-01", .identifier = name, .token = token, .key_authz = ka};

	snprintf(ka, sizeof(ka), "%s.%s", token, THUMB);
	assert_int_equal(va_validate(v, &req, res), DEED_OK);
}

static void
http01(const char *token, struct va_result *res)
{
	http01_with(va, "www." ZONE, token, res);
}

/* --- dns-01 ---------------------------------------------------------------------------- */

static void
dns01_matching_txt_record_validates(void **state)
{
	struct va_result res;
	char txt[64];

	txt_for("tok-d1." THUMB, txt);
	UPDATE("update add _acme-challenge.d1.%s. 5 TXT \"%s\"", ZONE, txt);
	dns01("d1." ZONE, "tok-d1." THUMB, &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	assert_string_equal(rec_str(&res, 0, "hostname"), "d1." ZONE);
	assert_string_equal(rec_str(&res, 0, "txtName"), "_acme-challenge.d1." ZONE);
	va_result_cleanup(&res);
}

static void
dns01_one_matching_value_among_several_validates(void **state)
{
	struct va_result res;
	char txt[64];

	txt_for("tok-d2." THUMB, txt);
	UPDATE("update add _acme-challenge.d2.%s. 5 TXT \"left-over-value\"\n"
	       "update add _acme-challenge.d2.%s. 5 TXT \"%s\"",
	       ZONE, ZONE, txt);
	dns01("d2." ZONE, "tok-d2." THUMB, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

static void
dns01_wrong_value_is_unauthorized_and_shows_what_was_seen(void **state)
{
	struct va_result res;

	UPDATE("update add _acme-challenge.d3.%s. 5 TXT \"not-the-digest-value\"", ZONE);
	dns01("d3." ZONE, "tok-d3." THUMB, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "not-the-digest-value");
	assert_contains_nocase(res.detail, "_acme-challenge.d3." ZONE);
	va_result_cleanup(&res);
}

static void
dns01_without_txt_record_is_unauthorized(void **state)
{
	struct va_result res;

	/* NXDOMAIN: nothing at all at the name. */
	dns01("d-none." ZONE, "tok." THUMB, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "No TXT record");
	va_result_cleanup(&res);
	/* NODATA: the name exists with an A record only. */
	dns01("d-nodata." ZONE, "tok." THUMB, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "No TXT record");
	va_result_cleanup(&res);
}

/* RFC 8555 §8.4 compares the record's value: a TXT RR's character-strings joined. */
static void
dns01_multi_string_txt_is_compared_joined(void **state)
{
	struct va_result res;
	char txt[64];

	UPDATE("update add _acme-challenge.d4.%s. 5 TXT \"abc\" \"def\"", ZONE);
	dns01("d4." ZONE, "tok-d4." THUMB, &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "\"abcdef\"");
	va_result_cleanup(&res);

	txt_for("tok-d5." THUMB, txt);
	UPDATE("update add _acme-challenge.d5.%s. 5 TXT \"%.20s\" \"%s\"", ZONE, txt, txt + 20);
	dns01("d5." ZONE, "tok-d5." THUMB, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

/* Every validation asks the server afresh: nothing is served from a cache, even within the
 * records' TTL. */
static void
dns01_changed_record_is_seen_at_once(void **state)
{
	struct va_result res;
	char txt[64];

	txt_for("tok-d6." THUMB, txt);
	UPDATE("update add _acme-challenge.d6.%s. 3600 TXT \"stale\"", ZONE);
	dns01("d6." ZONE, "tok-d6." THUMB, &res);
	assert_false(res.ok);
	assert_contains_nocase(res.detail, "stale");
	va_result_cleanup(&res);

	UPDATE("update delete _acme-challenge.d6.%s. TXT\n"
	       "update add _acme-challenge.d6.%s. 3600 TXT \"%s\"",
	       ZONE, ZONE, txt);
	dns01("d6." ZONE, "tok-d6." THUMB, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);

	UPDATE("update delete _acme-challenge.d6.%s. TXT", ZONE);
	dns01("d6." ZONE, "tok-d6." THUMB, &res);
	assert_false(res.ok);
	assert_contains_nocase(res.detail, "No TXT record");
	va_result_cleanup(&res);
}

/* A CNAME at _acme-challenge delegates the record elsewhere (a common set-up); the resolver
 * follows it. */
static void
dns01_record_behind_cname_validates(void **state)
{
	struct va_result res;
	char txt[64];

	txt_for("tok-d7." THUMB, txt);
	UPDATE("update add _acme-challenge.d7.%s. 5 CNAME d7-delegated.%s.\n"
	       "update add d7-delegated.%s. 5 TXT \"%s\"",
	       ZONE, ZONE, ZONE, txt);
	dns01("d7." ZONE, "tok-d7." THUMB, &res);
	assert_true(res.ok);
	va_result_cleanup(&res);
}

/* --- http-01 --------------------------------------------------------------------------- */

static void
http01_correct_key_authorization_validates(void **state)
{
	struct va_result res;
	char url[128], host[128];

	http01("ok1", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 1);
	snprintf(url, sizeof(url), "http://www.%s:%d/.well-known/acme-challenge/ok1", ZONE,
		 srv.net.port);
	assert_string_equal(rec_str(&res, 0, "url"), url);
	assert_string_equal(rec_str(&res, 0, "hostname"), "www." ZONE);
	assert_string_equal(rec_str(&res, 0, "addressUsed"), "127.0.0.1");
	va_result_cleanup(&res);
	/* The request names the identifier, not the address it was sent to. */
	snprintf(host, sizeof(host), "www.%s:%d", ZONE, srv.net.port);
	pthread_mutex_lock(&srv.net.lock);
	assert_string_equal(srv.last_host, host);
	pthread_mutex_unlock(&srv.net.lock);
}

static void
http01_wrong_body_is_unauthorized(void **state)
{
	struct va_result res;

	http01("wrong", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "someone-elses-thumbprint");
	va_result_cleanup(&res);
}

static void
http01_not_found_is_unauthorized(void **state)
{
	struct va_result res;

	http01("absent", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "404");
	va_result_cleanup(&res);
}

/* Over the 128-byte cap it fails, even though trimming would leave the right value. */
static void
http01_body_of_200_bytes_is_unauthorized(void **state)
{
	struct va_result res;

	http01("big", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_UNAUTHORIZED);
	assert_contains_nocase(res.detail, "128");
	va_result_cleanup(&res);
}

static void
http01_loopback_refused_without_allow_loopback(void **state)
{
	struct va_result res;
	int before = conns();

	http01_with(va_strict, "www." ZONE, "ok2", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "reserved");
	assert_contains_nocase(res.detail, "127.0.0.1");
	assert_null(rec_str(&res, 0, "addressUsed"));
	va_result_cleanup(&res);
	assert_int_equal(conns(), before);
}

/* Only loopback traffic is possible here, so a connection attempt to these addresses could
 * not be told from a refusal by its outcome: the detail must name the reserved address, and
 * no address may have been used. */
static void
http01_name_with_reserved_address_refused_before_connecting(void **state)
{
	static const struct {
		const char *name, *addr;
	} cases[] = {{"ten." ZONE, "10.0.0.1"}, {"meta." ZONE, "169.254.169.254"}};
	struct va_result res;

	for (size_t i = 0; i < 2; i++) {
		http01_with(va, cases[i].name, "ok3", &res);
		assert_false(res.ok);
		assert_int_equal(res.prob, PROB_CONNECTION);
		assert_contains_nocase(res.detail, cases[i].addr);
		assert_contains_nocase(res.detail, "reserved");
		assert_int_equal(json_array_size(res.records), 1);
		assert_string_equal(
		    json_string_value(json_array_get(
			json_object_get(json_array_get(res.records, 0), "addressesResolved"), 0)),
		    cases[i].addr);
		assert_null(rec_str(&res, 0, "addressUsed"));
		va_result_cleanup(&res);
	}
}

static void
http01_redirect_on_same_host_and_port_validates(void **state)
{
	struct va_result res;
	char url[128];

	http01("same", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 2);
	snprintf(url, sizeof(url), "http://www.%s:%d/r/0/same", ZONE, srv.net.port);
	assert_string_equal(rec_str(&res, 1, "url"), url);
	va_result_cleanup(&res);
}

static void
http01_ten_redirects_are_followed(void **state)
{
	struct va_result res;
	int before = conns();

	http01("hop10", &res);
	assert_true(res.ok);
	assert_int_equal(json_array_size(res.records), 11);
	va_result_cleanup(&res);
	assert_int_equal(conns() - before, 11);
}

static void
http01_eleven_redirects_fail_as_too_many(void **state)
{
	struct va_result res;
	int before = conns();

	http01("hop11", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "too many redirects");
	va_result_cleanup(&res);
	/* The eleventh redirect is not followed. */
	assert_int_equal(conns() - before, 11);
}

static void
http01_redirect_to_port_8081_fails(void **state)
{
	struct va_result res;
	int before = conns();

	http01("p8081", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "port");
	assert_contains_nocase(res.detail, "8081");
	va_result_cleanup(&res);
	assert_int_equal(conns() - before, 1);
}

static void
http01_redirect_to_ftp_fails(void **state)
{
	struct va_result res;
	int before = conns();

	http01("ftp", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "ftp://");
	va_result_cleanup(&res);
	assert_int_equal(conns() - before, 1);
}

/* A redirect target goes through the same address check as the first request. */
static void
http01_redirect_to_reserved_address_fails_before_connecting(void **state)
{
	struct va_result res;

	http01("toten", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "10.0.0.1");
	assert_contains_nocase(res.detail, "reserved");
	assert_int_equal(json_array_size(res.records), 2);
	assert_null(rec_str(&res, 1, "addressUsed"));
	va_result_cleanup(&res);

	http01("tometa", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_CONNECTION);
	assert_contains_nocase(res.detail, "169.254.169.254");
	assert_contains_nocase(res.detail, "reserved");
	assert_null(rec_str(&res, 1, "addressUsed"));
	va_result_cleanup(&res);
}

static void
http01_name_that_does_not_exist_is_dns_problem(void **state)
{
	struct va_result res;
	int before = conns();

	http01_with(va, "nope." ZONE, "ok4", &res);
	assert_false(res.ok);
	assert_int_equal(res.prob, PROB_DNS);
	assert_contains_nocase(res.detail, "nope." ZONE);
	va_result_cleanup(&res);
	assert_int_equal(conns(), before);
}

/* RFC 8555 §7.1.3: a wildcard is validated with dns-01 only. */
static void
http01_for_wildcard_is_unsupported(void **state)
{
	struct va_result res;
	struct va_request req = {.type = "http-01",
				 .identifier = "www." ZONE,
				 .wildcard = true,
				 .token = "ok5",
				 .key_authz = "ok5." THUMB};
	int before = conns();

	assert_int_equal(va_validate(va, &req, &res), DEED_EUNSUPPORTED);
	assert_false(res.ok);
	va_result_cleanup(&res);
	assert_int_equal(conns(), before);
}

/* --- many at once --------------------------------------------------------------------- */

#define THREADS 8

struct job {
	int i;
	bool ok, ok_wrong; /* outcome of a right and of a wrong validation */
};

static void *
run_job(void *arg)
{
	struct job *j = arg;
	struct va_result res;
	char name[64], tok[32] = "", ka[128];
	struct va_request req = {.identifier = name, .token = tok, .key_authz = ka};

	if (j->i % 2 == 0) {
		snprintf(name, sizeof(name), "c%d.%s", j->i, ZONE);
		snprintf(ka, sizeof(ka), "tok-c%d.%s", j->i, THUMB);
		req.type = "dns-01";
	} else {
		snprintf(name, sizeof(name), "www.%s", ZONE);
		snprintf(tok, sizeof(tok), "ok-c%d", j->i);
		snprintf(ka, sizeof(ka), "%s.%s", tok, THUMB);
		req.type = "http-01";
	}
	j->ok = va_validate(va, &req, &res) == DEED_OK && res.ok;
	va_result_cleanup(&res);
	snprintf(ka, sizeof(ka), "something-else.%s", THUMB);
	j->ok_wrong = va_validate(va, &req, &res) == DEED_OK && res.ok;
	va_result_cleanup(&res);
	return NULL;
}

/* Validations run on many worker threads at once; none sees another's answer. */
static void
concurrent_validations_each_get_their_own_outcome(void **state)
{
	pthread_t th[THREADS];
	struct job jobs[THREADS];
	char txt[64], ka[128];

	for (int i = 0; i < THREADS; i += 2) {
		snprintf(ka, sizeof(ka), "tok-c%d.%s", i, THUMB);
		txt_for(ka, txt);
		UPDATE("update add _acme-challenge.c%d.%s. 5 TXT \"%s\"", i, ZONE, txt);
	}
	for (int i = 0; i < THREADS; i++) {
		jobs[i] = (struct job){.i = i};
		assert_int_equal(pthread_create(&th[i], NULL, run_job, &jobs[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(th[i], NULL);
		if (!jobs[i].ok || jobs[i].ok_wrong)
			fail_msg("job %d: right %s, wrong %s", i, jobs[i].ok ? "ok" : "failed",
				 jobs[i].ok_wrong ? "ok" : "failed");
	}
}

int
main(void)
{
	const struct CMUnitTest pure[] = {
	    cmocka_unit_test(addr_reserved_matches_special_purpose_registries),
	};
	const struct CMUnitTest lab_tests[] = {
	    cmocka_unit_test(dns01_matching_txt_record_validates),
	    cmocka_unit_test(dns01_one_matching_value_among_several_validates),
	    cmocka_unit_test(dns01_wrong_value_is_unauthorized_and_shows_what_was_seen),
	    cmocka_unit_test(dns01_without_txt_record_is_unauthorized),
	    cmocka_unit_test(dns01_multi_string_txt_is_compared_joined),
	    cmocka_unit_test(dns01_changed_record_is_seen_at_once),
	    cmocka_unit_test(dns01_record_behind_cname_validates),
	    cmocka_unit_test(http01_correct_key_authorization_validates),
	    cmocka_unit_test(http01_wrong_body_is_unauthorized),
	    cmocka_unit_test(http01_not_found_is_unauthorized),
	    cmocka_unit_test(http01_body_of_200_bytes_is_unauthorized),
	    cmocka_unit_test(http01_loopback_refused_without_allow_loopback),
	    cmocka_unit_test(http01_name_with_reserved_address_refused_before_connecting),
	    cmocka_unit_test(http01_redirect_on_same_host_and_port_validates),
	    cmocka_unit_test(http01_ten_redirects_are_followed),
	    cmocka_unit_test(http01_eleven_redirects_fail_as_too_many),
	    cmocka_unit_test(http01_redirect_to_port_8081_fails),
	    cmocka_unit_test(http01_redirect_to_ftp_fails),
	    cmocka_unit_test(http01_redirect_to_reserved_address_fails_before_connecting),
	    cmocka_unit_test(http01_name_that_does_not_exist_is_dns_problem),
	    cmocka_unit_test(http01_for_wildcard_is_unsupported),
	    cmocka_unit_test(concurrent_validations_each_get_their_own_outcome),
	};
	int failed;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	failed = cmocka_run_group_tests_name("va_addr_reserved", pure, NULL, NULL);
	failed +=
	    cmocka_run_group_tests_name("validations", lab_tests, group_setup, group_teardown);
	curl_global_cleanup();
	return failed != 0;
}
