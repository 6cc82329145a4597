#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <curl/curl.h>

#include "error.h"
#include "va_http.h"

#define MAX_PATH 2000 /* path and query of a redirect target, bytes (Boulder's limit) */
#define URL_MAX (16 + 256 + MAX_PATH)

/* --- reserved address ranges ----------------------------------------------------------
 * IANA's IPv4 and IPv6 special-purpose address registries (as Boulder embeds them), plus
 * multicast. An address in any of them is never connected to. */

struct net {
	int family;
	uint8_t addr[16];
	int bits;
	const char *kind;
};

/* clang-format off */
#define V4(a, b, c, d, n, k) {AF_INET, {a, b, c, d}, n, k}
#define V6(n, k, ...) {AF_INET6, {__VA_ARGS__}, n, k}

static const struct net reserved[] = {
	V4(0, 0, 0, 0, 8, "this network"),
	V4(10, 0, 0, 0, 8, "private-use"),
	V4(100, 64, 0, 0, 10, "shared address space"),
	V4(127, 0, 0, 0, 8, "loopback"),
	V4(169, 254, 0, 0, 16, "link-local"),
	V4(172, 16, 0, 0, 12, "private-use"),
	V4(192, 0, 0, 0, 24, "IETF protocol assignments"),
	V4(192, 0, 2, 0, 24, "documentation"),
	V4(192, 31, 196, 0, 24, "AS112"),
	V4(192, 52, 193, 0, 24, "AMT"),
	V4(192, 88, 99, 0, 24, "6to4 relay anycast"),
	V4(192, 168, 0, 0, 16, "private-use"),
	V4(192, 175, 48, 0, 24, "AS112"),
	V4(198, 18, 0, 0, 15, "benchmarking"),
	V4(198, 51, 100, 0, 24, "documentation"),
	V4(203, 0, 113, 0, 24, "documentation"),
	V4(224, 0, 0, 0, 4, "multicast"),
	V4(240, 0, 0, 0, 4, "reserved"), /* includes 255.255.255.255 */
	V6(128, "unspecified", 0),
	V6(128, "loopback", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
	V6(96, "IPv4-mapped", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff),
	V6(96, "IPv4/IPv6 translation", 0, 0x64, 0xff, 0x9b),
	V6(48, "IPv4/IPv6 translation", 0, 0x64, 0xff, 0x9b, 0, 1),
	V6(64, "discard-only", 0x01, 0x00),
	V6(64, "dummy prefix", 0x01, 0x00, 0, 0, 0, 0, 0, 1),
	V6(23, "IETF protocol assignments", 0x20, 0x01),
	V6(32, "documentation", 0x20, 0x01, 0x0d, 0xb8),
	V6(16, "6to4", 0x20, 0x02),
	V6(48, "AS112", 0x26, 0x20, 0x00, 0x4f, 0x80, 0x00),
	V6(20, "documentation", 0x3f, 0xff),
	V6(16, "segment routing", 0x5f, 0x00),
	V6(7, "unique-local", 0xfc),
	V6(10, "link-local", 0xfe, 0x80),
	V6(8, "multicast", 0xff),
};
/* clang-format on */

static bool
in_net(const uint8_t *a, const struct net *n)
{
	int full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(a, n->addr, (size_t)full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) == 0;
}

/* The range addr falls in, or NULL when it may be connected to. Unparsable = "invalid". */
static const char *
reserved_kind(const char *addr, bool allow_loopback)
{
	uint8_t a[16];
	int family;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return "invalid";
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (reserved[i].family != family || !in_net(a, &reserved[i]))
			continue;
		if (allow_loopback && strcmp(reserved[i].kind, "loopback") == 0)
			continue;
		return reserved[i].kind;
	}
	return NULL;
}

bool
va_addr_reserved(const char *addr, bool allow_loopback)
{
	return reserved_kind(addr, allow_loopback) != NULL;
}

/* --- time and targets ------------------------------------------------------------------ */

int64_t
va_http_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct target {
	char scheme[8]; /* "http" or "https" */
	char host[256]; /* lowercase name or IP literal, no brackets */
	int port;
	char path[MAX_PATH + 1]; /* path and query */
};

static bool
is_https(const struct target *t)
{
	return strcmp(t->scheme, "https") == 0;
}

static void
target_url(const struct target *t, char *out, size_t outsz)
{
	bool v6 = strchr(t->host, ':') != NULL;
	bool dflt = t->port == (is_https(t) ? 443 : 80);
	char port[8] = "";

	if (!dflt)
		snprintf(port, sizeof(port), ":%d", t->port);
	snprintf(out, outsz, "%s://%s%s%s%s%s", t->scheme, v6 ? "[" : "", t->host, v6 ? "]" : "",
		 port, t->path);
}

/* --- resolution ------------------------------------------------------------------------ */

/* Take one address from the answers: recorded in all, kept if usable and the first of its
 * family, remembered in refused if reserved. */
static void
consider(const char *addr, bool allow_loopback, json_t *all, char *slot, char *refused,
	 const char **refused_kind)
{
	const char *kind = reserved_kind(addr, allow_loopback);

	json_array_append_new(all, json_string(addr));
	if (kind != NULL) {
		if (refused[0] == '\0') {
			snprintf(refused, INET6_ADDRSTRLEN, "%s", addr);
			*refused_kind = kind;
		}
		return;
	}
	if (slot[0] == '\0')
		snprintf(slot, INET6_ADDRSTRLEN, "%s", addr);
}

/* Also what tls-alpn-01 connects to (va_http.h). */
bool
va_http_resolve(struct va_dns *d, const char *host, bool allow_loopback, int64_t deadline,
		struct va_http_addrs *out, json_t *rec, struct va_result *res)
{
	struct va_dns_query q[2] = {{.name = host, .rrtype = VA_DNS_AAAA},
				    {.name = host, .rrtype = VA_DNS_A}};
	char refused[INET6_ADDRSTRLEN] = "", failed[sizeof(res->detail)] = "";
	const char *kind = NULL;
	json_t *all = json_array();
	uint8_t bin[16];
	bool ok = false, bogus = false, looked_up = false;

	out->v6[0] = out->v4[0] = '\0';
	if (all == NULL || json_object_set_new(rec, "addressesResolved", all) != 0)
		return va_fail(res, PROB_SERVER_INTERNAL, "out of memory");
	if (inet_pton(AF_INET6, host, bin) == 1) {
		consider(host, allow_loopback, all, out->v6, refused, &kind);
	} else if (inet_pton(AF_INET, host, bin) == 1) {
		consider(host, allow_loopback, all, out->v4, refused, &kind);
	} else {
		looked_up = true;
		va_dns_lookup_many(d, q, 2, (int)(deadline - va_http_now_ms()));
		for (int i = 0; i < 2; i++) {
			char *slot = i == 0 ? out->v6 : out->v4;

			/* An answer that fails DNSSEC fails the validation, whatever the other
			 * family says: it may be the forged one. Its reason is the one shown. */
			if (q[i].rc == DEED_OK && q[i].ans.dnssec == VA_DNSSEC_BOGUS) {
				va_dns_failed(q[i].rc, &q[i].ans, host, q[i].rrtype, failed,
					      sizeof(failed));
				bogus = true;
				continue;
			}
			if (va_dns_failed(q[i].rc, &q[i].ans, host, q[i].rrtype,
					  failed[0] ? NULL : failed, sizeof(failed)))
				continue;
			for (size_t j = 0; j < q[i].ans.n; j++)
				consider(q[i].ans.rr[j], allow_loopback, all, slot, refused, &kind);
		}
	}
	if (!bogus && (out->v6[0] != '\0' || out->v4[0] != '\0'))
		ok = true;
	else if (bogus || failed[0] != '\0')
		va_fail(res, PROB_DNS, "%s", failed);
	else if (refused[0] != '\0' && looked_up)
		va_fail(res, PROB_CONNECTION,
			 "%s resolves only to reserved addresses (%s: %s); refusing to connect",
			 host, refused, kind);
	else if (refused[0] != '\0')
		va_fail(res, PROB_CONNECTION, "%s is a reserved address (%s); refusing to connect",
			 refused, kind);
	else if (q[0].ans.rcode == VA_DNS_NXDOMAIN && q[1].ans.rcode == VA_DNS_NXDOMAIN)
		va_fail(res, PROB_DNS,
			 "NXDOMAIN looking up A for %s - check that a DNS record exists for this "
			 "domain",
			 host);
	else
		va_fail(res, PROB_DNS, "No valid IP addresses found for %s", host);
	va_dns_answer_cleanup(&q[0].ans);
	va_dns_answer_cleanup(&q[1].ans);
	return ok;
}

/* --- one request ----------------------------------------------------------------------- */

struct response {
	CURL *c;
	long status;
	char location[URL_MAX]; /* Location header of the final response as sent, "" if none */
	bool location_too_long;
	char body[VA_HTTP_MAX_BODY + 1];
	size_t len;
	bool too_long; /* a 200 body over the cap: reading stopped there */
	bool skipped;  /* the body of a non-200 response: not read at all */
};

/* Keeps the Location header ourselves: libcurl works out its redirect URL only for a
 * transfer that ran to the end, and we stop reading non-200 bodies at once. */
static size_t
on_header(char *p, size_t sz, size_t nm, void *arg)
{
	struct response *r = arg;
	size_t n = sz * nm, len = n;

	if (n >= 5 && strncasecmp(p, "HTTP/", 5) == 0) {
		r->location[0] = '\0'; /* a new response (after a 1xx): forget the last one's */
		r->location_too_long = false;
		return n;
	}
	if (n < 9 || strncasecmp(p, "location:", 9) != 0)
		return n;
	p += 9;
	len -= 9;
	while (len > 0 && (*p == ' ' || *p == '\t'))
		p++, len--;
	while (len > 0 && isspace((unsigned char)p[len - 1]))
		len--;
	if (len >= sizeof(r->location)) {
		r->location_too_long = true;
		return n;
	}
	memcpy(r->location, p, len);
	r->location[len] = '\0';
	return n;
}

static size_t
on_body(char *p, size_t sz, size_t nm, void *arg)
{
	struct response *r = arg;
	size_t n = sz * nm;
	long status = 0;

	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200) {
		r->skipped = true; /* only the status and Location matter */
		return 0;
	}
	if (n > VA_HTTP_MAX_BODY - r->len) {
		r->too_long = true; /* never read past the cap */
		return 0;
	}
	memcpy(r->body + r->len, p, n);
	r->len += n;
	r->body[r->len] = '\0';
	return n;
}

/* The address libcurl may connect to, and only that one. */
struct pin {
	int family;
	uint8_t addr[16];
	int port;
};

/* A backstop behind CURLOPT_RESOLVE: a socket is opened only for the checked address. */
static curl_socket_t
open_pinned(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	const struct pin *pin = arg;
	struct sockaddr_storage ss;
	const void *got;
	int port;

	if (purpose != CURLSOCKTYPE_IPCXN || a->family != pin->family || a->addrlen > sizeof(ss))
		return CURL_SOCKET_BAD;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, &a->addr, a->addrlen);
	if (a->family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)&ss;

		got = &s->sin_addr;
		port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&ss;

		got = &s->sin6_addr;
		port = ntohs(s->sin6_port);
	}
	if (port != pin->port || memcmp(got, pin->addr, a->family == AF_INET ? 4 : 16) != 0)
		return CURL_SOCKET_BAD;
	return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

enum outcome { GOT_RESPONSE, NO_CONNECTION, FAILED };

static enum outcome
fetch(const struct target *t, const char *addr, int64_t deadline, struct response *r,
      struct va_result *res)
{
	char url[URL_MAX], pinning[sizeof(t->host) + 64], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *pinlist = NULL;
	struct pin pin = {.port = t->port};
	bool v6 = strchr(addr, ':') != NULL;
	int64_t left = deadline - va_http_now_ms();
	enum outcome out = FAILED;
	curl_off_t connected = 0;
	CURLcode cc;

	memset(r, 0, sizeof(*r));
	target_url(t, url, sizeof(url));
	if (left <= 0) {
		va_fail(res, PROB_CONNECTION, "%s: Fetching %s: validation timed out", addr, url);
		return FAILED;
	}
	pin.family = v6 ? AF_INET6 : AF_INET;
	inet_pton(pin.family, addr, pin.addr);
	/* Pin the address we resolved and checked: libcurl makes no lookup of its own. */
	snprintf(pinning, sizeof(pinning), "%s:%d:%s%s%s", t->host, t->port, v6 ? "[" : "", addr,
		 v6 ? "]" : "");
	/* (An IP literal is not looked up at all, and CURLOPT_RESOLVE cannot name an IPv6 one.) */
	if ((r->c = curl_easy_init()) == NULL ||
	    (strcmp(t->host, addr) != 0 && (pinlist = curl_slist_append(NULL, pinning)) == NULL)) {
		va_fail(res, PROB_SERVER_INTERNAL, "cannot set up an HTTP request");
		goto out;
	}
	curl_easy_setopt(r->c, CURLOPT_URL, url);
	curl_easy_setopt(r->c, CURLOPT_RESOLVE, pinlist);
	curl_easy_setopt(r->c, CURLOPT_OPENSOCKETFUNCTION, open_pinned);
	curl_easy_setopt(r->c, CURLOPT_OPENSOCKETDATA, &pin);
	curl_easy_setopt(r->c, CURLOPT_PROXY, ""); /* no proxy from the environment either */
	curl_easy_setopt(r->c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(r->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(r->c, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(left < VA_HTTP_DIAL_MS ? left : VA_HTTP_DIAL_MS));
	curl_easy_setopt(r->c, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(r->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->c, CURLOPT_USERAGENT, "deed-ca-va");
	curl_easy_setopt(r->c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(r->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(r->c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(r->c, CURLOPT_HEADERDATA, r);
	/* RFC 8555 §8.3: an https redirect target is not authenticated; only modern TLS. */
	curl_easy_setopt(r->c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(r->c, CURLOPT_SSL_VERIFYHOST, 0L);
	curl_easy_setopt(r->c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	cc = curl_easy_perform(r->c);
	curl_easy_getinfo(r->c, CURLINFO_RESPONSE_CODE, &r->status);
	if (cc == CURLE_OK || (cc == CURLE_WRITE_ERROR && (r->too_long || r->skipped))) {
		out = GOT_RESPONSE;
		goto out;
	}
	curl_easy_getinfo(r->c, CURLINFO_CONNECT_TIME_T, &connected);
	va_fail(res,
		 cc == CURLE_SSL_CONNECT_ERROR || cc == CURLE_PEER_FAILED_VERIFICATION
		     ? PROB_TLS
		     : PROB_CONNECTION,
		 "%s: Fetching %s: %s", addr, url, errbuf[0] ? errbuf : curl_easy_strerror(cc));
	/* A connection that was never made may be retried over the other family. */
	if (connected == 0 && (cc == CURLE_COULDNT_CONNECT || cc == CURLE_OPERATION_TIMEDOUT))
		out = NO_CONNECTION;
out:
	curl_slist_free_all(pinlist);
	curl_easy_cleanup(r->c);
	r->c = NULL;
	return out;
}

/* --- redirects ------------------------------------------------------------------------- */

static bool
host_chars_ok(const char *h)
{
	for (; *h != '\0'; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.' && *h != '_')
			return false;
	return true;
}

static bool
port_allowed(int port, bool https, const struct va_config *cfg)
{
	return port == 80 || port == 443 ||
	       port == (https ? cfg->tlsalpn01_port : cfg->http01_port);
}

/* Parse a redirect target (absolute, or relative to t's URL) into t, applying the rules of
 * protocol-notes §8.1. */
static bool
redirect_target(const char *loc, const struct va_config *cfg, struct target *t,
		struct va_result *res)
{
	char base[URL_MAX];
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL, *zone = NULL;
	char shown[408], h[sizeof(t->host)];
	CURLU *u = curl_url();
	bool ok = false, https;
	uint8_t bin[16];
	size_t n;
	long p;

	va_printable(loc, strlen(loc), shown, sizeof(shown));
	target_url(t, base, sizeof(base));
	if (u == NULL || curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_set(u, CURLUPART_URL, loc, CURLU_NON_SUPPORT_SCHEME) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		va_fail(res, PROB_CONNECTION, "Invalid redirect target \"%s\"", shown);
		goto out;
	}
	if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
		va_fail(res, PROB_CONNECTION,
			 "Invalid protocol scheme in redirect target \"%s\": only \"http\" and "
			 "\"https\" are supported",
			 shown);
		goto out;
	}
	https = strcasecmp(scheme, "https") == 0;
	if (curl_url_get(u, CURLUPART_ZONEID, &zone, 0) == CURLUE_OK) {
		va_fail(res, PROB_CONNECTION, "Invalid host in redirect target \"%s\": IPv6 zone",
			 shown);
		goto out;
	}
	p = https ? 443 : 80;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		p = strtol(port, NULL, 10);
		if (!port_allowed((int)p, https, cfg)) {
			va_fail(
			    res, PROB_CONNECTION,
			    "Invalid port in redirect target \"%s\": only ports 80 and 443 are "
			    "supported, not %ld",
			    shown, p);
			goto out;
		}
	}
	/* Hosts are compared and resolved in lowercase; an IPv6 literal loses its brackets. */
	n = strlen(host);
	if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n -= 2] = '\0';
	}
	if (n == 0 || n >= sizeof(h)) {
		va_fail(res, PROB_CONNECTION, "Invalid host in redirect target \"%s\"", shown);
		goto out;
	}
	for (size_t i = 0; i <= n; i++)
		h[i] = (char)tolower((unsigned char)host[i]);
	if (n >= 11 && strcmp(h + n - 11, ".well-known") == 0) {
		va_fail(res, PROB_CONNECTION,
			 "Invalid host in redirect target \"%s\". Check webserver config for "
			 "missing '/' in redirect target.",
			 shown);
		goto out;
	}
	if (inet_pton(AF_INET6, h, bin) != 1 && !host_chars_ok(h)) {
		va_fail(res, PROB_CONNECTION, "Invalid host in redirect target \"%s\"", shown);
		goto out;
	}
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (strlen(path) + (query != NULL ? strlen(query) + 1 : 0) > MAX_PATH) {
		va_fail(res, PROB_CONNECTION, "Redirect target too long");
		goto out;
	}
	snprintf(t->scheme, sizeof(t->scheme), "%s", https ? "https" : "http");
	snprintf(t->host, sizeof(t->host), "%s", h);
	t->port = (int)p;
	snprintf(t->path, sizeof(t->path), "%s%s%s", path, query ? "?" : "", query ? query : "");
	ok = true;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_free(zone);
	curl_url_cleanup(u);
	return ok;
}

/* --- the challenge --------------------------------------------------------------------- */

static void
trim_right(struct response *r)
{
	while (r->len > 0 && isspace((unsigned char)r->body[r->len - 1]))
		r->body[--r->len] = '\0';
}

/* One request of the chain: resolve, IPv6 then IPv4, recorded in rec. */
static enum outcome
attempt(struct va_dns *d, const struct va_config *cfg, const struct target *t, int64_t deadline,
	json_t *rec, struct response *r, struct va_result *res)
{
	struct va_http_addrs a;
	const char *used = NULL;
	enum outcome o = FAILED;
	char url[URL_MAX], port[8];

	target_url(t, url, sizeof(url));
	snprintf(port, sizeof(port), "%d", t->port);
	json_object_set_new(rec, "url", json_string(url));
	json_object_set_new(rec, "hostname", json_string(t->host));
	json_object_set_new(rec, "port", json_string(port));
	if (!va_http_resolve(d, t->host, cfg->allow_loopback, deadline, &a, rec, res))
		return FAILED;
	/* IPv6 first; IPv4 once, only when the IPv6 connection could not be made. */
	if (a.v6[0] != '\0') {
		used = a.v6;
		o = fetch(t, a.v6, deadline, r, res);
	}
	if ((used == NULL || o == NO_CONNECTION) && a.v4[0] != '\0') {
		if (used != NULL) {
			json_t *tried = json_array();

			json_array_append_new(tried, json_string(used));
			json_object_set_new(rec, "addressesTried", tried);
		}
		used = a.v4;
		o = fetch(t, a.v4, deadline, r, res);
	}
	json_object_set_new(rec, "addressUsed", json_string(used));
	return o;
}

void
va_http01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	  struct va_result *res)
{
	int64_t deadline = va_http_now_ms() + (cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000);
	struct target t = {.scheme = "http"};
	struct response *r;
	char url[URL_MAX], seen[408];

	memset(res, 0, sizeof(*res));
	res->prob = PROB_SERVER_INTERNAL;
	if ((r = malloc(sizeof(*r))) == NULL || (res->records = json_array()) == NULL) {
		deed_seterr(res->detail, sizeof(res->detail), "out of memory");
		goto out;
	}
	if (strlen(req->identifier) >= sizeof(t.host) || strlen(req->token) > 256) {
		va_fail(res, PROB_MALFORMED, "identifier or token too long");
		goto out;
	}
	for (size_t i = 0; req->identifier[i] != '\0'; i++)
		t.host[i] = (char)tolower((unsigned char)req->identifier[i]);
	t.port = cfg->http01_port > 0 ? cfg->http01_port : 80;
	snprintf(t.path, sizeof(t.path), "/.well-known/acme-challenge/%s", req->token);

	for (int hop = 0;; hop++) {
		json_t *rec = json_object();

		if (rec == NULL || json_array_append_new(res->records, rec) != 0) {
			va_fail(res, PROB_SERVER_INTERNAL, "out of memory");
			goto out;
		}
		if (attempt(d, cfg, &t, deadline, rec, r, res) != GOT_RESPONSE)
			goto out;
		target_url(&t, url, sizeof(url));
		if (r->status == 301 || r->status == 302 || r->status == 307 || r->status == 308) {
			if (hop == VA_HTTP_MAX_REDIRECTS) {
				va_fail(res, PROB_CONNECTION, "Too many redirects (more than %d)",
					 VA_HTTP_MAX_REDIRECTS);
				goto out;
			}
			if (r->location_too_long) {
				va_fail(res, PROB_CONNECTION, "Redirect target too long");
				goto out;
			}
			if (r->location[0] == '\0') {
				va_fail(res, PROB_CONNECTION, "%s: redirect without a Location",
					 url);
				goto out;
			}
			if (!redirect_target(r->location, cfg, &t, res))
				goto out;
			continue;
		}
		if (r->status != 200) {
			va_fail(res, PROB_UNAUTHORIZED, "Invalid response from %s: %ld", url,
				 r->status);
			goto out;
		}
		if (r->too_long) {
			va_fail(res, PROB_UNAUTHORIZED,
				 "Invalid response from %s: more than %d bytes", url,
				 VA_HTTP_MAX_BODY);
			goto out;
		}
		trim_right(r);
		if (strlen(r->body) != r->len || strcmp(r->body, req->key_authz) != 0) {
			va_printable(r->body, r->len, seen, sizeof(seen));
			va_fail(res, PROB_UNAUTHORIZED,
				 "The key authorization file from the server did not match this "
				 "challenge. Expected \"%.100s\" (got \"%s\")",
				 req->key_authz, seen);
			goto out;
		}
		res->ok = true;
		goto out;
	}
out:
	free(r);
}
