#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "error.h"
#include "va_http.h"

#define DIAL_MS 10000
#define RR_A 1
#define RR_AAAA 28

/* --- reserved address ranges (IANA special-purpose registries) ------------------------- */

struct net {
	int family;
	uint8_t addr[16];
	int bits;
	bool loopback;
};

#define V4(a, b, c, d, n) {AF_INET, {a, b, c, d}, n, false}
#define V6(n, ...) {AF_INET6, {__VA_ARGS__}, n, false}

static const struct net reserved[] = {
	V4(0, 0, 0, 0, 8),       V4(10, 0, 0, 0, 8),      V4(100, 64, 0, 0, 10),
	{AF_INET, {127, 0, 0, 0}, 8, true},
	V4(169, 254, 0, 0, 16),  V4(172, 16, 0, 0, 12),   V4(192, 0, 0, 0, 24),
	V4(192, 0, 2, 0, 24),    V4(192, 31, 196, 0, 24), V4(192, 52, 193, 0, 24),
	V4(192, 88, 99, 0, 24),  V4(192, 168, 0, 0, 16),  V4(192, 175, 48, 0, 24),
	V4(198, 18, 0, 0, 15),   V4(198, 51, 100, 0, 24), V4(203, 0, 113, 0, 24),
	V4(224, 0, 0, 0, 4),     V4(240, 0, 0, 0, 4),
	V6(128, 0),                                       /* ::/128 */
	{AF_INET6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, true}, /* ::1 */
	V6(96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff), /* ::ffff:0:0/96 */
	V6(96, 0, 0x64, 0xff, 0x9b),                      /* 64:ff9b::/96 */
	V6(48, 0, 0x64, 0xff, 0x9b, 0, 1),                /* 64:ff9b:1::/48 */
	V6(64, 0x01, 0x00),                               /* 100::/64 */
	V6(23, 0x20, 0x01),                               /* 2001::/23 */
	V6(32, 0x20, 0x01, 0x0d, 0xb8),                   /* 2001:db8::/32 */
	V6(16, 0x20, 0x02),                               /* 2002::/16 */
	V6(48, 0x26, 0x20, 0x00, 0x4f, 0x80, 0x00),       /* 2620:4f:8000::/48 */
	V6(20, 0x3f, 0xff),                               /* 3fff::/20 */
	V6(16, 0x5f, 0x00),                               /* 5f00::/16 */
	V6(7, 0xfc),                                      /* fc00::/7 */
	V6(10, 0xfe, 0x80),                               /* fe80::/10 */
	V6(8, 0xff),                                      /* ff00::/8 multicast */
};

static bool
in_net(const uint8_t *a, const struct net *n)
{
	int full = n->bits / 8, rest = n->bits % 8;

	if (memcmp(a, n->addr, (size_t)full) != 0)
		return false;
	return rest == 0 || ((a[full] ^ n->addr[full]) & (0xff << (8 - rest))) == 0;
}

bool
va_addr_reserved(const char *addr, bool allow_loopback)
{
	uint8_t a[16];
	int family;

	if (inet_pton(AF_INET, addr, a) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, a) == 1)
		family = AF_INET6;
	else
		return true;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		if (reserved[i].family != family || !in_net(a, &reserved[i]))
			continue;
		if (reserved[i].loopback && allow_loopback)
			continue;
		return true;
	}
	return false;
}

/* --- one fetch ------------------------------------------------------------------------- */

struct body {
	char data[VA_HTTP_MAX_BODY + 1];
	size_t len;
	bool too_long;
};

static size_t
on_body(char *p, size_t sz, size_t nm, void *arg)
{
	struct body *b = arg;
	size_t n = sz * nm;

	if (b->len + n > VA_HTTP_MAX_BODY) {
		b->too_long = true;
		return 0; /* abort the transfer: we never read past the cap */
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct target {
	char scheme[8];
	char host[256];
	int port;
	char path[2048];
};

/* Resolve host through the validation resolver: IPv6 first, then IPv4, reserved ones dropped.
 * Returns the number of usable addresses put in v6/v4 (one of each at most), or -1 with
 * res filled. */
static int
resolve(struct va_dns *d, const char *host, bool allow_loopback, char *v6, char *v4,
	json_t *rec, struct va_result *res)
{
	static const int types[] = {RR_AAAA, RR_A};
	json_t *all = json_array();
	char refused[64] = "";
	uint8_t bin[16];
	bool is4, is6;
	int usable = 0, answered = 0;

	v6[0] = v4[0] = '\0';
	json_object_set_new(rec, "addressesResolved", all);
	is4 = inet_pton(AF_INET, host, bin) == 1;
	is6 = !is4 && inet_pton(AF_INET6, host, bin) == 1;
	if (is4 || is6 || strchr(host, ':') != NULL) {
		/* An IP literal (only reachable through a redirect). */
		json_array_append_new(all, json_string(host));
		if (!(is4 || is6) || va_addr_reserved(host, allow_loopback)) {
			res->prob = PROB_CONNECTION;
			deed_seterr(res->detail, sizeof(res->detail),
				    "%.64s is a reserved address; refusing to connect", host);
			return -1;
		}
		inet_ntop(is6 ? AF_INET6 : AF_INET, bin, is6 ? v6 : v4, INET6_ADDRSTRLEN);
		return 1;
	}
	for (int t = 0; t < 2; t++) {
		struct va_dns_answer ans;

		if (va_dns_lookup(d, host, types[t], &ans) != DEED_OK)
			continue;
		if (ans.rcode == 0 || ans.rcode == 3)
			answered++;
		for (size_t i = 0; i < ans.n; i++) {
			json_array_append_new(all, json_string(ans.rr[i]));
			if (va_addr_reserved(ans.rr[i], allow_loopback)) {
				if (refused[0] == '\0')
					snprintf(refused, sizeof(refused), "%s", ans.rr[i]);
				continue;
			}
			if (t == 0 && v6[0] == '\0')
				snprintf(v6, INET6_ADDRSTRLEN, "%s", ans.rr[i]), usable++;
			if (t == 1 && v4[0] == '\0')
				snprintf(v4, INET6_ADDRSTRLEN, "%s", ans.rr[i]), usable++;
		}
		va_dns_answer_cleanup(&ans);
	}
	if (usable > 0)
		return usable;
	if (refused[0] != '\0') {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail),
			    "%s resolves only to reserved addresses (%s); refusing to connect", host,
			    refused);
	} else {
		res->prob = PROB_DNS;
		deed_seterr(res->detail, sizeof(res->detail), "%s: %s", host,
			    answered ? "no A or AAAA record" : "DNS lookup failed");
	}
	return -1;
}

/* Parse a redirect target and apply the redirect rules. */
static bool
redirect_ok(const char *url, const struct va_config *cfg, struct target *t,
	    struct va_result *res)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL, *query = NULL;
	bool ok = false;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK) {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail), "redirect to an unparsable URL");
		goto out;
	}
	curl_url_get(u, CURLUPART_QUERY, &query, 0);
	if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail),
			    "redirect to scheme \"%.20s\" refused: only http and https", scheme);
		goto out;
	}
	snprintf(t->scheme, sizeof(t->scheme), "%s", scheme);
	t->port = strcmp(scheme, "http") == 0 ? 80 : 443;
	if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) {
		int p = atoi(port);
		int test = strcmp(scheme, "http") == 0 ? cfg->http01_port : cfg->tlsalpn01_port;

		if (p != 80 && p != 443 && p != test) {
			res->prob = PROB_CONNECTION;
			deed_seterr(res->detail, sizeof(res->detail),
				    "redirect to port %d refused: only 80 and 443", p);
			goto out;
		}
		t->port = p;
	}
	if (strlen(path) + (query ? strlen(query) + 1 : 0) >= sizeof(t->path)) {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail), "redirect path too long");
		goto out;
	}
	snprintf(t->path, sizeof(t->path), "%s%s%s", path, query ? "?" : "", query ? query : "");
	/* Hosts are compared and resolved in lowercase; brackets of IPv6 literals dropped. */
	{
		const char *h = host;
		size_t n = strlen(h);

		if (h[0] == '[' && n > 2 && h[n - 1] == ']') {
			h++;
			n -= 2;
		}
		if (n >= sizeof(t->host))
			goto out;
		for (size_t i = 0; i < n; i++)
			t->host[i] = (char)tolower((unsigned char)h[i]);
		t->host[n] = '\0';
		if (strchr(t->host, '%') != NULL) {
			res->prob = PROB_CONNECTION;
			deed_seterr(res->detail, sizeof(res->detail),
				    "redirect to an IPv6 zone refused");
			goto out;
		}
	}
	ok = true;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_free(query);
	curl_url_cleanup(u);
	return ok;
}

enum fetch_outcome { FETCH_DONE, FETCH_NO_CONNECT, FETCH_FAILED };

static enum fetch_outcome
fetch(const struct target *t, const char *addr, int64_t deadline, long *status, char *location,
      size_t locsz, struct body *b, struct va_result *res)
{
	CURL *c = curl_easy_init();
	struct curl_slist *pin = NULL;
	char url[2400], pinning[400], hostport[300];
	bool v6 = strchr(addr, ':') != NULL;
	int64_t left = deadline - now_ms();
	enum fetch_outcome out = FETCH_FAILED;
	const char *redir = NULL;
	CURLcode cc;

	memset(b, 0, sizeof(*b));
	*status = 0;
	location[0] = '\0';
	if (c == NULL || left <= 0) {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail), "validation timed out");
		goto done;
	}
	if (strchr(t->host, ':') != NULL)
		snprintf(hostport, sizeof(hostport), "[%s]", t->host);
	else
		snprintf(hostport, sizeof(hostport), "%s", t->host);
	snprintf(url, sizeof(url), "%s://%s:%d%s", t->scheme, hostport, t->port, t->path);
	/* Pin the address we resolved and checked: curl makes no lookup of its own. */
	snprintf(pinning, sizeof(pinning), "%s:%d:%s%s%s", t->host, t->port, v6 ? "[" : "", addr,
		 v6 ? "]" : "");
	pin = curl_slist_append(NULL, pinning);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_RESOLVE, pin);
	curl_easy_setopt(c, CURLOPT_PROXY, "");
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(left < DIAL_MS ? left : DIAL_MS));
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)left);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "deed-ca-va");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	/* RFC 8555 §8.3: redirect targets over https are not authenticated. */
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (cc == CURLE_WRITE_ERROR && b->too_long) {
		out = FETCH_DONE;
	} else if (cc == CURLE_COULDNT_CONNECT ||
		   (cc == CURLE_OPERATION_TIMEDOUT && *status == 0)) {
		res->prob = PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail), "%s: cannot connect to %s port %d: %s",
			    url, addr, t->port, curl_easy_strerror(cc));
		out = FETCH_NO_CONNECT;
	} else if (cc != CURLE_OK) {
		res->prob = cc == CURLE_SSL_CONNECT_ERROR ? PROB_TLS : PROB_CONNECTION;
		deed_seterr(res->detail, sizeof(res->detail), "%s (%s): %s", url, addr,
			    curl_easy_strerror(cc));
	} else {
		if (curl_easy_getinfo(c, CURLINFO_REDIRECT_URL, &redir) == CURLE_OK && redir)
			snprintf(location, locsz, "%s", redir);
		out = FETCH_DONE;
	}
done:
	curl_slist_free_all(pin);
	curl_easy_cleanup(c);
	return out;
}

static void
trim_right(struct body *b)
{
	while (b->len > 0 && isspace((unsigned char)b->data[b->len - 1]))
		b->data[--b->len] = '\0';
}

void
va_http01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	  struct va_result *res)
{
	struct target t = {0};
	int64_t deadline = now_ms() + (cfg->timeout_ms > 0 ? cfg->timeout_ms : 30000);
	char location[2048];
	struct body b;

	memset(res, 0, sizeof(*res));
	res->records = json_array();
	snprintf(t.scheme, sizeof(t.scheme), "http");
	snprintf(t.host, sizeof(t.host), "%s", req->identifier);
	t.port = cfg->http01_port > 0 ? cfg->http01_port : 80;
	snprintf(t.path, sizeof(t.path), "/.well-known/acme-challenge/%s", req->token);

	for (int hop = 0; hop <= VA_HTTP_MAX_REDIRECTS; hop++) {
		char v6[INET6_ADDRSTRLEN], v4[INET6_ADDRSTRLEN], url[2400];
		const char *used = NULL;
		json_t *rec = json_object();
		enum fetch_outcome fo = FETCH_FAILED;
		long status = 0;

		snprintf(url, sizeof(url), "%s://%s:%d%s", t.scheme, t.host, t.port, t.path);
		json_object_set_new(rec, "url", json_string(url));
		json_object_set_new(rec, "hostname", json_string(t.host));
		json_object_set_new(rec, "port", json_integer(t.port));
		json_array_append_new(res->records, rec);
		if (resolve(d, t.host, cfg->allow_loopback, v6, v4, rec, res) < 0)
			return;
		/* IPv6 first; IPv4 only when the IPv6 connection could not be made. */
		if (v6[0] != '\0') {
			used = v6;
			fo = fetch(&t, v6, deadline, &status, location, sizeof(location), &b, res);
		}
		if ((used == NULL || fo == FETCH_NO_CONNECT) && v4[0] != '\0') {
			used = v4;
			fo = fetch(&t, v4, deadline, &status, location, sizeof(location), &b, res);
		}
		json_object_set_new(rec, "addressUsed", json_string(used));
		if (fo != FETCH_DONE)
			return;
		if (status == 301 || status == 302 || status == 307 || status == 308) {
			if (hop == VA_HTTP_MAX_REDIRECTS) {
				res->prob = PROB_CONNECTION;
				deed_seterr(res->detail, sizeof(res->detail),
					    "too many redirects (more than %d)",
					    VA_HTTP_MAX_REDIRECTS);
				return;
			}
			if (location[0] == '\0' || !redirect_ok(location, cfg, &t, res)) {
				if (location[0] == '\0') {
					res->prob = PROB_CONNECTION;
					deed_seterr(res->detail, sizeof(res->detail),
						    "%s: redirect without a Location", url);
				}
				return;
			}
			continue;
		}
		res->prob = PROB_UNAUTHORIZED;
		if (status != 200) {
			deed_seterr(res->detail, sizeof(res->detail),
				    "Invalid response from %s: HTTP %ld", url, status);
			return;
		}
		if (b.too_long) {
			deed_seterr(res->detail, sizeof(res->detail),
				    "Invalid response from %s: longer than %d bytes", url,
				    VA_HTTP_MAX_BODY);
			return;
		}
		trim_right(&b);
		if (strlen(b.data) != b.len || strcmp(b.data, req->key_authz) != 0) {
			deed_seterr(res->detail, sizeof(res->detail),
				    "The key authorization file from %s is \"%.*s\", expected \"%s\"",
				    url, 64, b.data, req->key_authz);
			return;
		}
		res->ok = true;
		return;
	}
}
