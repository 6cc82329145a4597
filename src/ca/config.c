#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "error.h"

/*
 * Caps. A config file is a few kilobytes typed by a person; anything far bigger is a mistake
 * (or a fuzzer) and is refused instead of buffered.
 */
#define VALUE_CAP 1024
#define LINE_CAP 4096
#define TEXT_CAP (64 * 1024)
/* "<name> Intermediate CA" must stay within ub-common-name, 64 (RFC 5280 App. A.1). */
#define NAME_CAP 48
#define DAY (24LL * 3600)

enum ktype { K_STR, K_PORT, K_BOOL, K_INT, K_DUR, K_CAA };

/* Checks a string value and returns the form to store (malloc'd): the file and the command
 * line then hold one spelling, and what the server uses is what config_write writes back. */
typedef int (*norm_fn)(const char *v, char **out, char *err, size_t errlen);

struct key {
	const char *name;
	enum ktype type;
	size_t off;
	long long min, max; /* K_INT, K_DUR */
	norm_fn norm;	    /* K_STR */
	const char *def;    /* the default, spelt as in the file */
	const char *help;   /* comment above the key in the file; '\n' separates lines */
};

static int norm_name(const char *v, char **out, char *err, size_t errlen);
static int norm_listen(const char *v, char **out, char *err, size_t errlen);
static int norm_base_url(const char *v, char **out, char *err, size_t errlen);
static int norm_database(const char *v, char **out, char *err, size_t errlen);
static int norm_resolver(const char *v, char **out, char *err, size_t errlen);
static int norm_url(const char *v, char **out, char *err, size_t errlen);
static int norm_challenges(const char *v, char **out, char *err, size_t errlen);
static int norm_persist_form(const char *v, char **out, char *err, size_t errlen);
static int norm_path(const char *v, char **out, char *err, size_t errlen);

#define OFF(f) offsetof(struct ca_config, f)

static const struct key keys[] = {
    {"name", K_STR, OFF(name), 0, 0, norm_name, "deed",
     "CA name, used in the certificate subjects (\"<name> Root CA\", \"<name> Intermediate "
     "CA\").\nOnly read by `deed-ca init`; changing it later renames nothing."},
    {"listen", K_STR, OFF(listen), 0, 0, norm_listen, "127.0.0.1:14443",
     "Address the ACME API listens on: IPv4:PORT or [IPv6]:PORT."},
    {"base_url", K_STR, OFF(base_url), 0, 0, norm_base_url, "",
     "URL clients reach the API at (https://HOST[:PORT][/PATH]), used in every URL the\n"
     "server hands out. Empty: https://<listen>, with localhost for a wildcard address."},
    {"database", K_STR, OFF(database), 0, 0, norm_database, "sqlite:deed-ca.db",
     "Database: sqlite:PATH; a relative PATH is under the CA directory."},
    {"dns_resolver", K_STR, OFF(dns_resolver), 0, 0, norm_resolver, "",
     "DNS server used for validation: ADDR, ADDR:PORT, [IPv6]:PORT or ADDR@PORT.\n"
     "Empty: the system's resolver."},
    {"http01_port", K_PORT, OFF(http01_port), 1, 65535, NULL, "80",
     "Port http-01 validation connects to (RFC 8555 says 80; change it for tests only)."},
    {"tlsalpn01_port", K_PORT, OFF(tlsalpn01_port), 1, 65535, NULL, "443",
     "Port tls-alpn-01 validation connects to (RFC 8737 says 443; change it for tests only)."},
    {"allow_loopback", K_BOOL, OFF(allow_loopback), 0, 0, NULL, "false",
     "Let http-01 and tls-alpn-01 validation connect to 127.0.0.0/8 and ::1\n"
     "(true for a lab on one machine)."},
    {"threads", K_INT, OFF(threads), 0, 256, NULL, "0",
     "HTTP threads: 0 = one per connection, so that a request waiting for the disk or\n"
     "DNS holds up no other connection; 1-256 = a pool of that many, each serving many\n"
     "connections one request at a time."},
    {"va_workers", K_INT, OFF(va_workers), 1, 256, NULL, "8", "Validation worker threads (1-256)."},
    {"validation_timeout", K_DUR, OFF(validation_timeout), 1, 600, NULL, "30s",
     "Deadline for a whole validation attempt (1s-10m)."},
    {"order_lifetime", K_DUR, OFF(order_lifetime), 60, 365 * DAY, NULL, "7d",
     "How long a new order stays usable (1m-365d)."},
    {"authz_lifetime", K_DUR, OFF(authz_lifetime), 60, 365 * DAY, NULL, "7d",
     "How long a pending authorization waits for validation (1m-365d)."},
    {"authz_reuse", K_DUR, OFF(authz_reuse), 0, 365 * DAY, NULL, "30d",
     "How long a valid authorization is reused for new orders (0-365d; 0 = never)."},
    {"cert_lifetime", K_DUR, OFF(cert_lifetime), 2 * 3600, 825 * DAY, NULL, "90d",
     "Certificate validity (2h-825d). Certificates start an hour before issuance, so\n"
     "short values leave little. 825 days is the most Apple platforms accept."},
    {"terms_of_service", K_STR, OFF(terms_of_service), 0, 0, norm_url, "",
     "Terms of service URL for the directory's meta.termsOfService. Empty: none, and\n"
     "clients need not agree to anything."},
    {"website", K_STR, OFF(website), 0, 0, norm_url, "",
     "Website URL for the directory's meta.website. Empty: none."},
    {"caa_identities", K_CAA, 0, 0, 0, NULL, "",
     "Comma-separated issuer domain names this CA recognises in CAA records (RFC 8659),\n"
     "advertised as meta.caaIdentities. Empty: none advertised, so a domain whose CAA\n"
     "records name any issuer refuses this CA."},
    {"caa_check", K_BOOL, OFF(caa_check), 0, 0, NULL, "true",
     "Check CAA records (RFC 8659, RFC 8657) after each successful validation and refuse\n"
     "issuance when they do not name this CA (caa_identities). Only a CA whose names are\n"
     "not in the public DNS (a lab, an internal fleet) should turn this off."},
    {"caa_recheck", K_DUR, OFF(caa_recheck), 0, 8 * 3600, NULL, "8h",
     "At finalize, check CAA again for every authorization validated longer ago than\n"
     "this (0-8h; the CA/B Baseline Requirements allow at most 8 hours)."},
    {"dnssec_trust_anchor", K_STR, OFF(dnssec_trust_anchor), 0, 0, norm_path,
     "/usr/share/dns/root.key",
     "DNSSEC trust anchors (DS or DNSKEY records in zone-file format) validation lookups\n"
     "are checked against; a bogus answer fails validation. A relative path is under the\n"
     "CA directory. Empty: no DNSSEC validation (every answer counts as insecure)."},
    {"challenges", K_STR, OFF(challenges), 0, 0, norm_challenges, "http-01,dns-01",
     "Comma-separated challenge types offered: http-01, dns-01, tls-alpn-01,\n"
     "dns-account-01, dns-persist-01 (the server refuses to start with one it lacks)."},
    {"account_hash_prefix", K_STR, OFF(account_hash_prefix), 0, 0, norm_url, "",
     "dns-persist-01 (draft -02): the accountHashPrefix that hashed accounturi values\n"
     "start with. Empty: <base_url>/acme/account-hash/. Must never change once records\n"
     "that use it are published."},
    {"persist_accounturi", K_STR, OFF(persist_accounturi), 0, 0, norm_persist_form, "both",
     "dns-persist-01: which accounturi forms a record may use: plain (the account URL,\n"
     "draft -01), hashed (draft -02, bound to the account key) or both."},
    {"persist_jit", K_BOOL, OFF(persist_jit), 0, 0, NULL, "true",
     "dns-persist-01: look the record up when an order is created, so that an\n"
     "authorization can be valid at once (just-in-time validation)."},
    {"persist_jit_per_minute", K_INT, OFF(persist_jit_per_minute), 1, 1000000, NULL, "30",
     "dns-persist-01: at most this many just-in-time lookups a minute for names under\n"
     "one registered domain (1-1000000); further orders answer their challenge. Raise\n"
     "it when many names under one domain you control are ordered at once."},
};

#define N_KEYS (sizeof(keys) / sizeof(keys[0]))

#define seterr deed_seterr

/* Text from the file echoed into an error message: printable ASCII only, so a hostile or
 * binary file cannot put terminal escapes into the operator's log, and short. */
static const char *
quote(const char *s, char buf[72])
{
	size_t i;

	for (i = 0; i < 64 && s[i] != '\0'; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (s[i] != '\0') {
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

static bool
is_ws(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Strict decimal: digits only, no sign, no blanks; false on overflow past max. */
static bool
parse_uint(const char *s, size_t n, long long max, long long *out)
{
	long long v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (v > (max - (s[i] - '0')) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static bool
parse_duration(const char *s, long long *out)
{
	size_t n = strlen(s);
	long long unit = 1, v;

	if (n == 0)
		return false;
	switch (s[n - 1]) {
	case 's':
		unit = 1;
		n--;
		break;
	case 'm':
		unit = 60;
		n--;
		break;
	case 'h':
		unit = 3600;
		n--;
		break;
	case 'd':
		unit = DAY;
		n--;
		break;
	default:
		break;
	}
	if (!parse_uint(s, n, LLONG_MAX / unit, &v))
		return false;
	*out = v * unit;
	return true;
}

static void
format_duration(long long v, char *out, size_t outsz)
{
	if (v != 0 && v % DAY == 0)
		snprintf(out, outsz, "%lldd", v / DAY);
	else if (v != 0 && v % 3600 == 0)
		snprintf(out, outsz, "%lldh", v / 3600);
	else if (v != 0 && v % 60 == 0)
		snprintf(out, outsz, "%lldm", v / 60);
	else if (v != 0)
		snprintf(out, outsz, "%llds", v);
	else
		snprintf(out, outsz, "0");
}

static int
parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on", "1"};
	static const char *const no[] = {"false", "no", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return DEED_OK;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return DEED_OK;
		}
	}
	return DEED_EMALFORMED;
}

static int
dup_out(const char *v, char **out)
{
	return (*out = strdup(v)) == NULL ? DEED_ENOMEM : DEED_OK;
}

static bool
utf8_valid(const unsigned char *s)
{
	while (*s != '\0') {
		size_t n;
		uint32_t cp;

		if (*s < 0x80) {
			s++;
			continue;
		} else if ((*s & 0xe0) == 0xc0) {
			n = 1;
			cp = *s & 0x1f;
		} else if ((*s & 0xf0) == 0xe0) {
			n = 2;
			cp = *s & 0x0f;
		} else if ((*s & 0xf8) == 0xf0) {
			n = 3;
			cp = *s & 0x07;
		} else {
			return false;
		}
		for (size_t i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i] & 0x3f);
		}
		/* Overlong forms, surrogates and values past U+10FFFF are not UTF-8. */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		s += n + 1;
	}
	return true;
}

static int
norm_name(const char *v, char **out, char *err, size_t errlen)
{
	if (v[0] == '\0' || strlen(v) > NAME_CAP || !utf8_valid((const unsigned char *)v)) {
		seterr(err, errlen, "name must be 1-%d bytes of UTF-8", NAME_CAP);
		return DEED_EMALFORMED;
	}
	return dup_out(v, out);
}

int
config_split_hostport(const char *hp, char *host, size_t hostsz, int *port)
{
	const char *colon;
	size_t hlen;
	long long p;

	if (hp[0] == '[') {
		const char *rb = strchr(hp, ']');

		if (rb == NULL || rb[1] != ':')
			return DEED_EMALFORMED;
		hp++;
		hlen = (size_t)(rb - hp);
		colon = rb + 1;
	} else {
		colon = strchr(hp, ':');
		/* A second colon means an IPv6 address without brackets: ambiguous. */
		if (colon == NULL || strchr(colon + 1, ':') != NULL)
			return DEED_EMALFORMED;
		hlen = (size_t)(colon - hp);
	}
	if (hlen == 0 || hlen >= hostsz || !parse_uint(colon + 1, strlen(colon + 1), 65535, &p) ||
	    p == 0)
		return DEED_EMALFORMED;
	memcpy(host, hp, hlen);
	host[hlen] = '\0';
	*port = (int)p;
	return DEED_OK;
}

/* wfe binds exactly this address, so only IP literals: a name would need a lookup at start. */
static int
norm_listen(const char *v, char **out, char *err, size_t errlen)
{
	char host[INET6_ADDRSTRLEN + 8];
	unsigned char bin[16];
	int port;

	if (config_split_hostport(v, host, sizeof(host), &port) != DEED_OK ||
	    inet_pton(v[0] == '[' ? AF_INET6 : AF_INET, host, bin) != 1) {
		seterr(err, errlen, "listen must be IPv4:PORT or [IPv6]:PORT, port 1-65535");
		return DEED_EMALFORMED;
	}
	return dup_out(v, out);
}

static bool
has_blank(const char *v)
{
	for (; *v != '\0'; v++)
		if ((unsigned char)*v <= 0x20)
			return true;
	return false;
}

/* RFC 8555 §6.1: the API is HTTPS only. A trailing '/' is dropped so that base + "/path"
 * never doubles the slash. */
static int
norm_base_url(const char *v, char **out, char *err, size_t errlen)
{
	size_t n = strlen(v);

	if (n == 0)
		return dup_out(v, out);
	if (strncmp(v, "https://", 8) != 0 || n == 8 || v[8] == '/' || has_blank(v) ||
	    strpbrk(v, "?#") != NULL) {
		seterr(err, errlen, "base_url must be https://HOST[:PORT][/PATH] or empty");
		return DEED_EMALFORMED;
	}
	while (n > 9 && v[n - 1] == '/')
		n--;
	if ((*out = strndup(v, n)) == NULL)
		return DEED_ENOMEM;
	return DEED_OK;
}

static int
norm_database(const char *v, char **out, char *err, size_t errlen)
{
	if (v[0] == '\0') {
		seterr(err, errlen, "database must not be empty");
		return DEED_EMALFORMED;
	}
	return dup_out(v, out);
}

/* Accept the spellings people write; store the "ADDR" / "ADDR@PORT" form that
 * va_config.resolver takes (libunbound's forwarder syntax). */
static int
norm_resolver(const char *v, char **out, char *err, size_t errlen)
{
	char host[64], buf[INET6_ADDRSTRLEN];
	unsigned char bin[16];
	const char *at = strchr(v, '@');
	long long p = 0;
	int port = 0, af;

	if (v[0] == '\0')
		return dup_out(v, out);
	if (at != NULL) {
		if ((size_t)(at - v) >= sizeof(host) ||
		    !parse_uint(at + 1, strlen(at + 1), 65535, &p) || p == 0)
			goto bad;
		memcpy(host, v, (size_t)(at - v));
		host[at - v] = '\0';
		port = (int)p;
	} else if (config_split_hostport(v, host, sizeof(host), &port) != DEED_OK) {
		/* No port: a bare IPv4 or IPv6 address. */
		if (strlen(v) >= sizeof(host))
			goto bad;
		memcpy(host, v, strlen(v) + 1);
		port = 0;
	}
	af = strchr(host, ':') != NULL ? AF_INET6 : AF_INET;
	if (inet_pton(af, host, bin) != 1 || inet_ntop(af, bin, buf, sizeof(buf)) == NULL)
		goto bad;
	if (port != 0)
		snprintf(host, sizeof(host), "%s@%d", buf, port);
	else
		snprintf(host, sizeof(host), "%s", buf);
	return dup_out(host, out);
bad:
	seterr(err, errlen,
	       "dns_resolver must be an IP address with an optional port "
	       "(ADDR, ADDR:PORT, [IPv6]:PORT or ADDR@PORT)");
	return DEED_EMALFORMED;
}

static int
norm_path(const char *v, char **out, char *err, size_t errlen)
{
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			seterr(err, errlen, "expected a file path without control characters");
			return DEED_EMALFORMED;
		}
	}
	return dup_out(v, out);
}

static int
norm_url(const char *v, char **out, char *err, size_t errlen)
{
	if (v[0] != '\0' && ((strncmp(v, "https://", 8) != 0 && strncmp(v, "http://", 7) != 0) ||
			     has_blank(v) || strlen(v) < 9)) {
		seterr(err, errlen, "expected an http:// or https:// URL without blanks, or empty");
		return DEED_EMALFORMED;
	}
	return dup_out(v, out);
}

/* Split a comma-separated list into trimmed elements; f sees each one. Empty elements are
 * errors ("a,,b" is a typo, not an intent). */
static int
for_each_item(const char *v, int (*f)(void *arg, const char *item, char *err, size_t errlen),
	      void *arg, char *err, size_t errlen)
{
	char item[VALUE_CAP + 1], q[72];
	const char *p = v;
	int rc;

	if (*v == '\0')
		return DEED_OK;
	for (;;) {
		const char *end = strchr(p, ','), *b, *e;

		if (end == NULL)
			end = p + strlen(p);
		for (b = p; b < end && is_ws(*b); b++)
			;
		for (e = end; e > b && is_ws(e[-1]); e--)
			;
		if (b == e) {
			seterr(err, errlen, "empty element in list \"%s\"", quote(v, q));
			return DEED_EMALFORMED;
		}
		memcpy(item, b, (size_t)(e - b));
		item[e - b] = '\0';
		if ((rc = f(arg, item, err, errlen)) != DEED_OK)
			return rc;
		if (*end == '\0')
			return DEED_OK;
		p = end + 1;
	}
}

struct chall_acc {
	char out[VALUE_CAP + 1];
	size_t len;
};

static int
chall_item(void *arg, const char *item, char *err, size_t errlen)
{
	static const char *const known[] = {"http-01", "dns-01", "tls-alpn-01", "dns-account-01",
					    "dns-persist-01"};
	struct chall_acc *a = arg;
	const char *p;
	size_t n = strlen(item);
	char q[72];
	bool ok = false;

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		ok = ok || strcmp(item, known[i]) == 0;
	if (!ok) {
		seterr(err, errlen, "unknown challenge type \"%s\"", quote(item, q));
		return DEED_EMALFORMED;
	}
	/* A repeated type is dropped: offering it twice means nothing more. */
	for (p = a->out; (p = strstr(p, item)) != NULL; p += n)
		if ((p == a->out || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return DEED_OK;
	a->len += (size_t)snprintf(a->out + a->len, sizeof(a->out) - a->len, "%s%s",
				   a->len > 0 ? "," : "", item);
	return DEED_OK;
}

static int
norm_persist_form(const char *v, char **out, char *err, size_t errlen)
{
	if (strcmp(v, "both") != 0 && strcmp(v, "plain") != 0 && strcmp(v, "hashed") != 0) {
		seterr(err, errlen, "persist_accounturi must be both, plain or hashed");
		return DEED_EMALFORMED;
	}
	return dup_out(v, out);
}

static int
norm_challenges(const char *v, char **out, char *err, size_t errlen)
{
	struct chall_acc a = {.len = 0};
	int rc;

	if ((rc = for_each_item(v, chall_item, &a, err, errlen)) != DEED_OK)
		return rc;
	if (a.len == 0) {
		seterr(err, errlen, "challenges must name at least one challenge type");
		return DEED_EMALFORMED;
	}
	return dup_out(a.out, out);
}

struct caa_acc {
	char *v[CONFIG_MAX_CAA];
	size_t n;
};

/* RFC 8659 §4.2 issuer-domain-name: label *("." label), LDH labels. Stored lowercase since
 * CAA comparison is on lowercase names (Boulder compares the exact string). */
static bool
caa_name_ok(char *s)
{
	size_t n = strlen(s), lab = 0;

	if (n == 0 || n > 253)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char ch = s[i];

		if (ch == '.' || ch == '\0') {
			if (lab == 0 || lab > 63 || s[i - 1] == '-')
				return false;
			lab = 0;
			continue;
		}
		if (ch >= 'A' && ch <= 'Z')
			s[i] = (char)(ch - 'A' + 'a');
		else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
			   (ch == '-' && lab > 0)))
			return false;
		lab++;
	}
	return true;
}

static int
caa_item(void *arg, const char *item, char *err, size_t errlen)
{
	struct caa_acc *a = arg;
	char buf[VALUE_CAP + 1], q[72];

	snprintf(buf, sizeof(buf), "%s", item);
	if (!caa_name_ok(buf)) {
		seterr(err, errlen, "caa_identities: \"%s\" is not a domain name", quote(item, q));
		return DEED_EMALFORMED;
	}
	for (size_t i = 0; i < a->n; i++)
		if (strcmp(a->v[i], buf) == 0)
			return DEED_OK;
	if (a->n == CONFIG_MAX_CAA) {
		seterr(err, errlen, "caa_identities: more than %d names", CONFIG_MAX_CAA);
		return DEED_ETOOBIG;
	}
	if ((a->v[a->n] = strdup(buf)) == NULL)
		return DEED_ENOMEM;
	a->n++;
	return DEED_OK;
}

static int
set_caa(struct ca_config *c, const char *v, char *err, size_t errlen)
{
	struct caa_acc a = {.n = 0};
	int rc = for_each_item(v, caa_item, &a, err, errlen);

	if (rc != DEED_OK) {
		for (size_t i = 0; i < a.n; i++)
			free(a.v[i]);
		return rc;
	}
	for (size_t i = 0; i < c->n_caa_identities; i++)
		free(c->caa_identities[i]);
	memset(c->caa_identities, 0, sizeof(c->caa_identities));
	memcpy(c->caa_identities, a.v, a.n * sizeof(a.v[0]));
	c->n_caa_identities = a.n;
	return DEED_OK;
}

static const struct key *
find_key(const char *name)
{
	for (size_t i = 0; i < N_KEYS; i++)
		if (strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* The value is trimmed here, not only by the parser, so that a command-line flag and a file
 * line holding the same text give the same result. On error c is left as it was. */
int
config_set(struct ca_config *c, const char *key, const char *value, char *err, size_t errlen)
{
	const struct key *k = find_key(key);
	char v[VALUE_CAP + 1], q[72];
	const char *b = value, *e;
	long long n;
	bool flag;
	int rc;

	if (value == NULL) {
		seterr(err, errlen, "%s: no value", k != NULL ? k->name : "?");
		return DEED_EINVAL;
	}
	if (k == NULL) {
		seterr(err, errlen, "unknown key \"%s\"", quote(key, q));
		return DEED_EMALFORMED;
	}
	while (is_ws(*b))
		b++;
	for (e = b + strlen(b); e > b && is_ws(e[-1]); e--)
		;
	if ((size_t)(e - b) > VALUE_CAP) {
		seterr(err, errlen, "%s: value longer than %d bytes", k->name, VALUE_CAP);
		return DEED_ETOOBIG;
	}
	memcpy(v, b, (size_t)(e - b));
	v[e - b] = '\0';
	for (const char *p = v; *p != '\0'; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			seterr(err, errlen, "%s: control character in value", k->name);
			return DEED_EMALFORMED;
		}
	}

	switch (k->type) {
	case K_STR: {
		char *norm = NULL, **field = (char **)((char *)c + k->off);

		if ((rc = k->norm(v, &norm, err, errlen)) != DEED_OK)
			return rc;
		free(*field);
		*field = norm;
		return DEED_OK;
	}
	case K_PORT:
	case K_INT:
		if (!parse_uint(v, strlen(v), k->max, &n) || n < k->min) {
			seterr(err, errlen, "%s: \"%s\" is not a number from %lld to %lld", k->name,
			       quote(v, q), k->min, k->max);
			return DEED_EMALFORMED;
		}
		*(int *)((char *)c + k->off) = (int)n;
		return DEED_OK;
	case K_DUR:
		if (!parse_duration(v, &n) || n < k->min || n > k->max) {
			char lo[24], hi[24];

			format_duration(k->min, lo, sizeof(lo));
			format_duration(k->max, hi, sizeof(hi));
			seterr(err, errlen,
			       "%s: \"%s\" is not a duration from %s to %s (seconds, or a number "
			       "with s, m, h or d)",
			       k->name, quote(v, q), lo, hi);
			return DEED_EMALFORMED;
		}
		*(int *)((char *)c + k->off) = (int)n;
		return DEED_OK;
	case K_BOOL:
		if (parse_bool(v, &flag) != DEED_OK) {
			seterr(err, errlen, "%s: \"%s\" is not true/false, yes/no, on/off or 1/0",
			       k->name, quote(v, q));
			return DEED_EMALFORMED;
		}
		*(bool *)((char *)c + k->off) = flag;
		return DEED_OK;
	case K_CAA:
		return set_caa(c, v, err, errlen);
	}
	return DEED_EINVAL;
}

int
config_defaults(struct ca_config *c, const char *dir)
{
	int rc;

	memset(c, 0, sizeof(*c));
	if ((c->dir = strdup(dir != NULL ? dir : ".")) == NULL)
		return DEED_ENOMEM;
	for (size_t i = 0; i < N_KEYS; i++) {
		if ((rc = config_set(c, keys[i].name, keys[i].def, NULL, 0)) != DEED_OK) {
			config_cleanup(c);
			return rc;
		}
	}
	return DEED_OK;
}

void
config_cleanup(struct ca_config *c)
{
	if (c == NULL)
		return;
	free(c->dir);
	for (size_t i = 0; i < N_KEYS; i++)
		if (keys[i].type == K_STR)
			free(*(char **)((char *)c + keys[i].off));
	for (size_t i = 0; i < c->n_caa_identities; i++)
		free(c->caa_identities[i]);
	memset(c, 0, sizeof(*c));
}

/* One line: "key = value", '#' comment or blank. Returns the key index through *ki. */
static int
parse_line(struct ca_config *c, char *line, size_t *ki, char *err, size_t errlen)
{
	char *eq, *k, *e, q[72];
	const struct key *key;

	while (is_ws(*line))
		line++;
	if (*line == '\0' || *line == '#') {
		*ki = N_KEYS;
		return DEED_OK;
	}
	if ((eq = strchr(line, '=')) == NULL) {
		seterr(err, errlen, "expected \"key = value\"");
		return DEED_EMALFORMED;
	}
	k = line;
	for (e = eq; e > k && is_ws(e[-1]); e--)
		;
	*e = '\0';
	if ((key = find_key(k)) == NULL) {
		seterr(err, errlen, "unknown key \"%s\"", quote(k, q));
		return DEED_EMALFORMED;
	}
	*ki = (size_t)(key - keys);
	return config_set(c, k, eq + 1, err, errlen);
}

static int
parse_text(struct ca_config *c, const char *text, size_t len, const char *label, char *err,
	   size_t errlen)
{
	unsigned seen[N_KEYS] = {0};
	char line[LINE_CAP + 1], why[256];
	const char *p = text, *end = text + len;
	unsigned lineno = 0;
	size_t ki;
	int rc;

	if (len > TEXT_CAP) {
		seterr(err, errlen, "%s: larger than %d bytes", label, TEXT_CAP);
		return DEED_ETOOBIG;
	}
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3; /* a UTF-8 byte order mark some editors add */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl != NULL ? nl : end) - p);

		lineno++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > LINE_CAP) {
			seterr(err, errlen, "%s:%u: line longer than %d bytes", label, lineno,
			       LINE_CAP);
			return DEED_ETOOBIG;
		}
		if (memchr(p, '\0', n) != NULL) {
			seterr(err, errlen, "%s:%u: NUL byte", label, lineno);
			return DEED_EMALFORMED;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p = nl != NULL ? nl + 1 : end;

		why[0] = '\0';
		if ((rc = parse_line(c, line, &ki, why, sizeof(why))) != DEED_OK) {
			seterr(err, errlen, "%s:%u: %s", label, lineno, why);
			return rc;
		}
		if (ki == N_KEYS)
			continue;
		/* A key given twice is almost always an edit that forgot the first one. */
		if (seen[ki] != 0) {
			seterr(err, errlen, "%s:%u: \"%s\" already set on line %u", label, lineno,
			       keys[ki].name, seen[ki]);
			return DEED_EMALFORMED;
		}
		seen[ki] = lineno;
	}
	return DEED_OK;
}

int
config_parse(struct ca_config *c, const char *text, size_t len, char *err, size_t errlen)
{
	return parse_text(c, text, len, "deed-ca.conf", err, errlen);
}

int
config_load(struct ca_config *c, const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	ssize_t r;
	int fd = -1, rc = DEED_EIO;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((buf = malloc(TEXT_CAP + 1)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	/* Read one byte past the cap to tell "exactly the cap" from "too big". */
	while (len <= TEXT_CAP) {
		if ((r = read(fd, buf + len, TEXT_CAP + 1 - len)) == -1) {
			if (errno == EINTR)
				continue;
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	rc = parse_text(c, buf, len, path, err, errlen);
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return rc;
}

/* Append to a growing buffer; the whole file is small and bounded by the key table. */
struct out {
	char *buf;
	size_t len, cap;
	int rc;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->rc != DEED_OK)
		return;
	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->rc = DEED_EINVAL;
			return;
		}
		if ((size_t)n < o->cap - o->len) {
			o->len += (size_t)n;
			return;
		}
		size_t ncap = o->cap * 2 + (size_t)n;
		char *nb = realloc(o->buf, ncap);

		if (nb == NULL) {
			o->rc = DEED_ENOMEM;
			return;
		}
		o->buf = nb;
		o->cap = ncap;
	}
}

static void
format_value(const struct ca_config *c, const struct key *k, struct out *o)
{
	const char *base = (const char *)c;
	char d[24];

	switch (k->type) {
	case K_STR:
		out_printf(o, "%s", *(char *const *)(base + k->off));
		break;
	case K_PORT:
	case K_INT:
		out_printf(o, "%d", *(const int *)(base + k->off));
		break;
	case K_DUR:
		format_duration(*(const int *)(base + k->off), d, sizeof(d));
		out_printf(o, "%s", d);
		break;
	case K_BOOL:
		out_printf(o, "%s", *(const bool *)(base + k->off) ? "true" : "false");
		break;
	case K_CAA:
		for (size_t i = 0; i < c->n_caa_identities; i++)
			out_printf(o, "%s%s", i > 0 ? "," : "", c->caa_identities[i]);
		break;
	}
}

int
config_format(const struct ca_config *c, char **text, size_t *len)
{
	struct out o = {.buf = malloc(4096), .len = 0, .cap = 4096, .rc = DEED_OK};

	*text = NULL;
	*len = 0;
	if (o.buf == NULL)
		return DEED_ENOMEM;
	out_printf(&o,
		   "# deed-ca configuration.\n"
		   "# One \"key = value\" per line. A line starting with '#' is a comment; a '#'\n"
		   "# after a value is part of the value. Values are taken as written, without\n"
		   "# quotes. Durations are seconds, or a number with s, m, h or d (90d).\n"
		   "# Booleans: true/false, yes/no, on/off, 1/0. Flags of `deed-ca serve`\n"
		   "# override this file. See docs/configuration.md.\n");
	for (size_t i = 0; i < N_KEYS; i++) {
		const char *h = keys[i].help;

		out_printf(&o, "\n");
		while (*h != '\0') {
			size_t n = strcspn(h, "\n");

			out_printf(&o, "# %.*s\n", (int)n, h);
			h += n + (h[n] == '\n');
		}
		out_printf(&o, "# Default: %s\n", keys[i].def[0] != '\0' ? keys[i].def : "(empty)");
		out_printf(&o, "%s =", keys[i].name);
		/* No trailing blank after an empty value. */
		size_t mark = o.len;

		out_printf(&o, " ");
		format_value(c, &keys[i], &o);
		if (o.rc == DEED_OK && o.len == mark + 1)
			o.len = mark;
		out_printf(&o, "\n");
	}
	if (o.rc != DEED_OK) {
		free(o.buf);
		return o.rc;
	}
	*text = o.buf;
	*len = o.len;
	return DEED_OK;
}

/* Atomic replace: a reader (or a crash) sees the old file or the new one, never half. */
int
config_write(const struct ca_config *c, const char *path)
{
	char *text = NULL, *tmp = NULL, *dir = NULL;
	const char *slash;
	size_t len = 0, off = 0;
	int fd = -1, dfd = -1, cr, rc;

	if ((rc = config_format(c, &text, &len)) != DEED_OK)
		return rc;
	rc = DEED_ENOMEM;
	if (asprintf(&tmp, "%s.XXXXXX", path) == -1) {
		tmp = NULL;
		goto out;
	}
	if ((slash = strrchr(path, '/')) == NULL)
		dir = strdup(".");
	else
		dir = strndup(path, slash == path ? 1 : (size_t)(slash - path));
	if (dir == NULL)
		goto out;
	rc = DEED_EIO;
	if ((fd = mkostemp(tmp, O_CLOEXEC)) == -1) {
		free(tmp);
		tmp = NULL;
		goto out;
	}
	if (fchmod(fd, 0644) == -1)
		goto out;
	while (off < len) {
		ssize_t w = write(fd, text + off, len - off);

		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto out;
	cr = close(fd);
	fd = -1;
	if (cr == -1 || rename(tmp, path) == -1)
		goto out;
	free(tmp);
	tmp = NULL;
	/* The rename itself is durable only once the directory is. */
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 || fsync(dfd) == -1)
		goto out;
	rc = DEED_OK;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	if (tmp != NULL)
		unlink(tmp);
	free(tmp);
	free(dir);
	free(text);
	return rc;
}

int
config_base_url(const struct ca_config *c, char *out, size_t outsz)
{
	char host[INET6_ADDRSTRLEN + 8], port[8] = "";
	const char *h = host;
	bool v6;
	int p, n;

	if (c->base_url != NULL && c->base_url[0] != '\0') {
		n = snprintf(out, outsz, "%s", c->base_url);
		return n < 0 || (size_t)n >= outsz ? DEED_EINVAL : DEED_OK;
	}
	if (c->listen == NULL ||
	    config_split_hostport(c->listen, host, sizeof(host), &p) != DEED_OK)
		return DEED_EINVAL;
	v6 = c->listen[0] == '[';
	/* A wildcard address is not somewhere a client can connect to; the API's TLS
	 * certificate always names localhost. */
	if (strcmp(host, "0.0.0.0") == 0 || (v6 && strspn(host, ":0") == strlen(host))) {
		h = "localhost";
		v6 = false;
	}
	if (p != 443)
		snprintf(port, sizeof(port), ":%d", p);
	n = snprintf(out, outsz, "https://%s%s%s%s", v6 ? "[" : "", h, v6 ? "]" : "", port);
	return n < 0 || (size_t)n >= outsz ? DEED_EINVAL : DEED_OK;
}
