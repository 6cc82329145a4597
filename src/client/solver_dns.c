#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>
#include <openssl/crypto.h>

#include "acctlabel.h"
#include "dnsname.h"
#include "error.h"
#include "solver.h"

#define DNS_PORT 53
#define NAME_MAX_ 253	 /* a DNS name in text, no trailing dot */
#define ADDRSTR_MAX 64	 /* "[v6]:port" */
#define KEYFILE_MAX 4096 /* a TSIG key file is one key, a few lines */
#define TOKEN_MAX_ 256	 /* a word or quoted string of a key file */
#define SECRET_MAX 256	 /* base64 of a 1536-bit HMAC key; keys are 256 or 512 bits */
#define ENTRIES_MAX 1000 /* TXT values at once; an order has at most a few hundred names */
#define SERVERS_MAX 16	 /* authoritative addresses checked per zone */
#define TXT_MAX 1024	 /* a joined TXT value we look at; ours are 43 characters */
#define TXT_VALUE_MAX_ 2048 /* a TXT value we write (dns-persist-01 records are ~150) */
#define TXT_QUOTED_MAX (TXT_VALUE_MAX_ * 4 + 64) /* quoted: \DDD escapes, "" per string */
#define TXT_READ_MAX 4096 /* a joined TXT value read for a caller; longer ones are cut */
#define TXT_RRS_MAX 64    /* TXT RRs read at one name */
#define UPDATE_TIMEOUT_MS 10000
#define QUERY_TIMEOUT_MS 2000
#define TSIG_FUDGE 300 /* RFC 8945 §10: 300 s recommended */
#define POLL_INTERVAL_MS 1000
#define DEFAULT_TTL 60
#define DEFAULT_TIMEOUT_S 120

struct server {
	struct sockaddr_storage ss;
	socklen_t len;
	char str[ADDRSTR_MAX];
};

struct tsig_key {
	char name[NAME_MAX_ + 1];
	char alg[32]; /* as ldns names it: "hmac-sha256." */
	char secret[SECRET_MAX + 1];
};

/* One TXT value we put up: "_acme-challenge.NAME" (dns-01) or "_<label>._acme-challenge.NAME"
 * (dns-account-01) in zone, value. */
struct entry {
	char name[NAME_MAX_ + 1];
	char zone[NAME_MAX_ + 1];
	char value[44];
	unsigned refs; /* the same value presented twice is put up once */
};

struct dns_solver {
	struct solver base; /* first: struct solver * converts to this */
	bool hook;
	bool account; /* dns-account-01: records under the account's label */
	/* rfc2136 */
	struct server primary;
	bool has_key;
	struct tsig_key key;
	char zone[NAME_MAX_ + 1]; /* "" = discover */
	int ttl;
	/* hook */
	char *program;
	bool outcome_ok;
	/* both */
	bool has_resolver;
	struct server resolver;
	int timeout_s;
	struct entry *entries;
	size_t nentries;
};

static const struct solver_ops dns_ops;

/* --- time ------------------------------------------------------------------------------ */

static void
sleep_ms(int64_t ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- TSIG key file --------------------------------------------------------------------- */

struct lex {
	const char *p, *end;
};

/* Skip white space and the three comment styles of named.conf. */
static void
lex_skip(struct lex *l)
{
	while (l->p < l->end) {
		if (isspace((unsigned char)*l->p)) {
			l->p++;
		} else if (*l->p == '#' || (*l->p == '/' && l->p + 1 < l->end && l->p[1] == '/')) {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
		} else if (*l->p == '/' && l->p + 1 < l->end && l->p[1] == '*') {
			const char *e = memmem(l->p + 2, (size_t)(l->end - l->p - 2), "*/", 2);

			l->p = e != NULL ? e + 2 : l->end;
		} else {
			return;
		}
	}
}

/*
 * Next token of a BIND key file into tok: "{", "}", ";", a quoted string (without the quotes)
 * or a word. Returns DEED_OK, DEED_ENOTFOUND at the end, DEED_EMALFORMED.
 */
static int
lex_next(struct lex *l, char tok[TOKEN_MAX_ + 1])
{
	const char *s;
	size_t n;

	lex_skip(l);
	if (l->p == l->end)
		return DEED_ENOTFOUND;
	if (strchr("{};", *l->p) != NULL) {
		tok[0] = *l->p++;
		tok[1] = '\0';
		return DEED_OK;
	}
	if (*l->p == '"') {
		s = ++l->p;
		while (l->p < l->end && *l->p != '"')
			l->p++;
		if (l->p == l->end)
			return DEED_EMALFORMED;
		n = (size_t)(l->p++ - s);
	} else {
		s = l->p;
		while (l->p < l->end && !isspace((unsigned char)*l->p) &&
		       strchr("{};\"", *l->p) == NULL)
			l->p++;
		n = (size_t)(l->p - s);
	}
	if (n > TOKEN_MAX_)
		return DEED_EMALFORMED;
	memcpy(tok, s, n);
	tok[n] = '\0';
	return DEED_OK;
}

/* Expect the next token to be want. */
static bool
lex_expect(struct lex *l, const char *want)
{
	char tok[TOKEN_MAX_ + 1];

	return lex_next(l, tok) == DEED_OK && strcmp(tok, want) == 0;
}

/*
 * The algorithm names of BIND and Knot ("hmac-sha256", any case, maybe with a dot) as ldns
 * spells them. ldns 1.8 misspells hmac-sha384 ("hmac-shac384.") and has no hmac-sha224, so
 * those cannot be used.
 */
static int
tsig_alg(const char *in, char out[32])
{
	static const char *const algs[][2] = {
	    {"hmac-md5", "hmac-md5.sig-alg.reg.int."},
	    {"hmac-md5.sig-alg.reg.int", "hmac-md5.sig-alg.reg.int."},
	    {"hmac-sha1", "hmac-sha1."},
	    {"hmac-sha256", "hmac-sha256."},
	    {"hmac-sha512", "hmac-sha512."},
	};
	size_t i, n = strlen(in);

	if (n > 0 && in[n - 1] == '.')
		n--;
	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strlen(algs[i][0]) == n && strncasecmp(in, algs[i][0], n) == 0) {
			snprintf(out, 32, "%s", algs[i][1]);
			return DEED_OK;
		}
	}
	return DEED_EUNSUPPORTED;
}

/* Check and store name, algorithm and secret; one error message for each way to fail. */
static int
tsig_set(struct tsig_key *k, const char *path, const char *name, const char *alg,
	 const char *secret, char *err, size_t errlen)
{
	size_t n = strlen(name), s = strlen(secret);
	const char *pad = strchr(secret, '=');

	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0 || n > NAME_MAX_ ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") < n) {
		deed_seterr(err, errlen, "TSIG key file %s: bad key name \"%.64s\"", path, name);
		return DEED_EMALFORMED;
	}
	if (tsig_alg(alg, k->alg) != DEED_OK) {
		deed_seterr(err, errlen,
			    "TSIG key file %s: algorithm \"%.32s\" not supported (hmac-sha256, "
			    "hmac-sha512, hmac-sha1, hmac-md5)",
			    path, alg);
		return DEED_EUNSUPPORTED;
	}
	/* ldns decodes the secret only when it signs, and then just fails: check it here. */
	if (s == 0 || s > SECRET_MAX || s % 4 != 0 ||
	    strspn(secret, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/=") <
		s ||
	    (pad != NULL && (pad < secret + s - 2 || strspn(pad, "=") != strlen(pad)))) {
		deed_seterr(err, errlen, "TSIG key file %s: the secret is not base64", path);
		return DEED_EMALFORMED;
	}
	memcpy(k->name, name, n);
	k->name[n] = '\0';
	memcpy(k->secret, secret, s + 1);
	return DEED_OK;
}

/* BIND: key "name" { algorithm hmac-sha256; secret "base64"; }; (comments allowed). */
static int
tsig_parse_bind(struct lex *l, struct tsig_key *k, const char *path, char *err, size_t errlen)
{
	char name[TOKEN_MAX_ + 1], tok[TOKEN_MAX_ + 1], alg[TOKEN_MAX_ + 1] = "";
	char secret[TOKEN_MAX_ + 1] = "";
	int rc = DEED_EMALFORMED;

	if (!lex_expect(l, "key") || lex_next(l, name) != DEED_OK || !lex_expect(l, "{"))
		goto bad;
	for (;;) {
		if (lex_next(l, tok) != DEED_OK)
			goto bad;
		if (strcmp(tok, "}") == 0)
			break;
		if (strcmp(tok, "algorithm") == 0 && lex_next(l, alg) == DEED_OK &&
		    lex_expect(l, ";"))
			continue;
		if (strcmp(tok, "secret") == 0 && lex_next(l, secret) == DEED_OK &&
		    lex_expect(l, ";"))
			continue;
		deed_seterr(err, errlen, "TSIG key file %s: unexpected \"%.32s\" in the key", path,
			    tok);
		goto out;
	}
	lex_expect(l, ";"); /* named.conf wants it; a missing one harms nobody */
	if (alg[0] == '\0' || secret[0] == '\0') {
		deed_seterr(err, errlen, "TSIG key file %s: key \"%.64s\" lacks %s", path, name,
			    alg[0] == '\0' ? "an algorithm" : "a secret");
		goto out;
	}
	rc = tsig_set(k, path, name, alg, secret, err, errlen);
	goto out;
bad:
	deed_seterr(err, errlen, "TSIG key file %s: not a BIND key statement", path);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	return rc;
}

/* Knot (knsupdate -k, kdig -k): one line "[alg:]name:secret"; hmac-sha256 when alg is left out. */
static int
tsig_parse_line(const char *text, struct tsig_key *k, const char *path, char *err, size_t errlen)
{
	char line[KEYFILE_MAX + 1], *f[3], *p;
	size_t n = 0, len;
	int rc;

	len = strcspn(text, "\r\n");
	memcpy(line, text, len);
	line[len] = '\0';
	while (len > 0 && isspace((unsigned char)line[len - 1]))
		line[--len] = '\0';
	for (p = line; n < 3 && p != NULL; n++) {
		f[n] = p;
		if ((p = strchr(p, ':')) != NULL)
			*p++ = '\0';
	}
	if (p != NULL || n < 2 || text[len + strspn(text + len, " \t\r\n")] != '\0') {
		deed_seterr(err, errlen,
			    "TSIG key file %s: neither a BIND key statement nor one line "
			    "\"alg:name:secret\"",
			    path);
		rc = DEED_EMALFORMED;
	} else if (n == 2) {
		rc = tsig_set(k, path, f[0], "hmac-sha256", f[1], err, errlen);
	} else {
		rc = tsig_set(k, path, f[1], f[0], f[2], err, errlen);
	}
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}

static int
tsig_load(const char *path, struct tsig_key *k, char *err, size_t errlen)
{
	char buf[KEYFILE_MAX + 1];
	struct lex l;
	size_t n;
	FILE *f;
	int rc;

	if ((f = fopen(path, "re")) == NULL) {
		deed_seterr(err, errlen, "cannot open TSIG key file %s: %s", path, strerror(errno));
		return DEED_EIO;
	}
	n = fread(buf, 1, sizeof(buf), f);
	rc = ferror(f) ? DEED_EIO : n == sizeof(buf) ? DEED_ETOOBIG : DEED_OK;
	fclose(f);
	if (rc != DEED_OK) {
		deed_seterr(err, errlen, "TSIG key file %s: %s", path,
			    rc == DEED_EIO ? "read error" : "larger than 4096 bytes");
		return rc;
	}
	buf[n] = '\0';
	if (strlen(buf) != n) {
		deed_seterr(err, errlen, "TSIG key file %s: not a text file", path);
		return DEED_EMALFORMED;
	}
	l = (struct lex){buf, buf + n};
	lex_skip(&l);
	if (l.end - l.p > 3 && strncmp(l.p, "key", 3) == 0 &&
	    (isspace((unsigned char)l.p[3]) || l.p[3] == '"'))
		rc = tsig_parse_bind(&l, k, path, err, errlen);
	else
		rc = tsig_parse_line(l.p, k, path, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* --- transport ------------------------------------------------------------------------- */

/* Wait for events on fd until deadline. Returns DEED_OK or DEED_ETIMEOUT. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {fd, events, 0};
	int64_t left;
	int n;

	for (;;) {
		if ((left = deadline - solver_now_ms()) <= 0)
			return DEED_ETIMEOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return DEED_OK;
		if (n < 0 && errno != EINTR)
			return DEED_EIO;
	}
}

/* All of len bytes in or out of a non-blocking stream socket before deadline. */
static int
stream_io(int fd, uint8_t *buf, size_t len, bool out, int64_t deadline)
{
	size_t done = 0;
	ssize_t n;
	int rc;

	while (done < len) {
		if ((rc = wait_fd(fd, out ? POLLOUT : POLLIN, deadline)) != DEED_OK)
			return rc;
		n = out ? send(fd, buf + done, len - done, MSG_NOSIGNAL)
			: recv(fd, buf + done, len - done, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0)
			return DEED_EIO;
		if (n == 0) {
			errno = 0;
			return DEED_ECONNECT; /* closed by the server */
		}
		done += (size_t)n;
	}
	return DEED_OK;
}

static int
connect_to(const struct server *srv, int type, int64_t deadline, int *fdp)
{
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	*fdp = -1;
	if ((fd = socket(srv->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return DEED_EIO;
	if (connect(fd, (const struct sockaddr *)&srv->ss, srv->len) != 0) {
		if (errno != EINPROGRESS) {
			rc = errno == ECONNREFUSED ? DEED_ECONNECT : DEED_EIO;
			goto fail;
		}
		if ((rc = wait_fd(fd, POLLOUT, deadline)) != DEED_OK)
			goto fail;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
			errno = soerr;
			rc = DEED_ECONNECT;
			goto fail;
		}
	}
	*fdp = fd;
	return DEED_OK;
fail:
	close(fd);
	return rc;
}

/*
 * Send the DNS message q to srv and return the reply with the same ID (caller frees). UDP
 * unless tcp. On failure why says what happened ("connection refused", "no answer within
 * 2 s"). Returns DEED_OK, DEED_ECONNECT, DEED_ETIMEOUT, DEED_EIO, DEED_ENOMEM.
 */
static int
dns_exchange(const struct server *srv, const uint8_t *q, size_t qlen, bool tcp, int timeout_ms,
	     uint8_t **ans, size_t *anslen, char *why, size_t whylen)
{
	int64_t deadline = solver_now_ms() + timeout_ms;
	uint8_t *buf = NULL, hdr[2];
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc;

	*ans = NULL;
	if ((rc = connect_to(srv, tcp ? SOCK_STREAM : SOCK_DGRAM, deadline, &fd)) != DEED_OK)
		goto out;
	if (tcp) {
		/* RFC 1035 §4.2.2: two-octet length, then the message. */
		hdr[0] = (uint8_t)(qlen >> 8);
		hdr[1] = (uint8_t)qlen;
		if ((rc = stream_io(fd, hdr, 2, true, deadline)) != DEED_OK ||
		    (rc = stream_io(fd, (uint8_t *)q, qlen, true, deadline)) != DEED_OK ||
		    (rc = stream_io(fd, hdr, 2, false, deadline)) != DEED_OK)
			goto out;
		len = (size_t)(hdr[0] << 8 | hdr[1]);
		rc = DEED_ENOMEM;
		if ((buf = malloc(len > 0 ? len : 1)) == NULL)
			goto out;
		if ((rc = stream_io(fd, buf, len, false, deadline)) != DEED_OK)
			goto out;
		errno = 0;
		rc = len >= 12 && memcmp(buf, q, 2) == 0 ? DEED_OK : DEED_EIO;
		goto out;
	}
	rc = DEED_ENOMEM;
	if ((buf = malloc(65535)) == NULL)
		goto out;
	if (send(fd, q, qlen, 0) != (ssize_t)qlen) {
		rc = errno == ECONNREFUSED ? DEED_ECONNECT : DEED_EIO;
		goto out;
	}
	/* A connected UDP socket: only the server's datagrams arrive, and ICMP port
	 * unreachable shows as ECONNREFUSED instead of a silent timeout. */
	for (;;) {
		if ((rc = wait_fd(fd, POLLIN, deadline)) != DEED_OK)
			goto out;
		n = recv(fd, buf, 65535, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			rc = errno == ECONNREFUSED ? DEED_ECONNECT : DEED_EIO;
			goto out;
		}
		if (n >= 12 && memcmp(buf, q, 2) == 0) {
			len = (size_t)n;
			rc = DEED_OK;
			goto out;
		}
	}
out:
	if (rc != DEED_OK) {
		if (rc == DEED_ETIMEOUT)
			snprintf(why, whylen, "no answer over %s within %d s", tcp ? "TCP" : "UDP",
				 (timeout_ms + 999) / 1000);
		else if (rc == DEED_ECONNECT)
			snprintf(why, whylen, "%s over %s",
				 errno != 0 ? strerror(errno) : "connection closed",
				 tcp ? "TCP" : "UDP");
		else if (rc == DEED_EIO)
			snprintf(why, whylen, "%s over %s",
				 errno != 0 ? strerror(errno) : "reply does not match the query",
				 tcp ? "TCP" : "UDP");
		else
			snprintf(why, whylen, "%s", deed_strerror(rc));
		free(buf);
		buf = NULL;
	}
	if (fd >= 0)
		close(fd);
	*ans = buf;
	*anslen = len;
	return rc;
}

/*
 * Query srv for name/type. UDP, then TCP when the answer is truncated. rd asks a recursive
 * resolver to recurse; authoritative servers are asked without it.
 */
static int
dns_query(const struct server *srv, const char *name, ldns_rr_type type, bool rd, int timeout_ms,
	  ldns_pkt **reply, char *why, size_t whylen)
{
	ldns_pkt *q = NULL;
	ldns_rdf *owner;
	uint8_t *wire = NULL, *ans = NULL;
	size_t wirelen = 0, anslen = 0;
	int rc = DEED_ENOMEM;

	*reply = NULL;
	if ((owner = ldns_dname_new_frm_str(name)) == NULL) {
		snprintf(why, whylen, "\"%s\" is not a DNS name", name);
		return DEED_EINVAL;
	}
	if ((q = ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, rd ? LDNS_RD : 0)) == NULL) {
		ldns_rdf_deep_free(owner);
		goto out;
	}
	ldns_pkt_set_random_id(q);
	if (ldns_pkt2wire(&wire, q, &wirelen) != LDNS_STATUS_OK)
		goto out;
	rc = dns_exchange(srv, wire, wirelen, false, timeout_ms, &ans, &anslen, why, whylen);
	if (rc == DEED_OK && anslen >= 3 && (ans[2] & 0x02) != 0) { /* TC */
		free(ans);
		rc = dns_exchange(srv, wire, wirelen, true, timeout_ms, &ans, &anslen, why, whylen);
	}
	if (rc != DEED_OK)
		goto out;
	if (ldns_wire2pkt(reply, ans, anslen) != LDNS_STATUS_OK || !ldns_pkt_qr(*reply)) {
		ldns_pkt_free(*reply);
		*reply = NULL;
		snprintf(why, whylen, "malformed reply");
		rc = DEED_EMALFORMED;
	}
out:
	ldns_pkt_free(q);
	LDNS_FREE(wire);
	free(ans);
	return rc;
}

static const char *
rcode_str(int rcode)
{
	static const char *const names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
					    "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
					    "NXRRSET", "NOTAUTH", "NOTZONE"};

	return rcode >= 0 && rcode < (int)(sizeof(names) / sizeof(names[0])) ? names[rcode]
									     : "rcode";
}

/* RFC 8945 §5.3: the TSIG error field of a reply. */
static const char *
tsig_error_str(int e)
{
	switch (e) {
	case 16:
		return "BADSIG: the server computes another MAC; wrong secret or algorithm";
	case 17:
		return "BADKEY: the server does not know this key name or algorithm";
	case 18:
		return "BADTIME: the clocks of this host and the server differ too much";
	case 22:
		return "BADTRUNC";
	}
	return NULL;
}

/* "www.example.test." -> "www.example.test", lowercased, into out. */
static void
dname_str(const ldns_rdf *d, char out[NAME_MAX_ + 2])
{
	char *s = ldns_rdf2str(d);
	size_t n;

	snprintf(out, NAME_MAX_ + 2, "%s", s != NULL ? s : "");
	free(s);
	n = strlen(out);
	if (n > 1 && out[n - 1] == '.')
		out[n - 1] = '\0';
	for (char *p = out; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* True if name is zone or below it. */
static bool
in_zone(const char *name, const char *zone)
{
	size_t n = strlen(name), z = strlen(zone);

	return n >= z && strcasecmp(name + n - z, zone) == 0 && (n == z || name[n - z - 1] == '.');
}

/* --- zone and servers ------------------------------------------------------------------ */

/*
 * The zone holding name: ask for its SOA and walk up. A reply names the zone either in the
 * answer (name is the apex) or in the authority section (the SOA of a negative answer, RFC
 * 2308 §3, or the NS set of a referral, whose owner is the apex of the zone below).
 */
static int
find_zone(const struct dns_solver *d, const char *name, char zone[NAME_MAX_ + 1], char *err,
	  size_t errlen)
{
	const struct server *srv = d->has_resolver ? &d->resolver : &d->primary;
	const char *n = name;
	char why[160], owner[NAME_MAX_ + 2];
	ldns_pkt *r = NULL;
	int rc, rcode;
	size_t i;

	while (n != NULL && *n != '\0') {
		if ((rc = dns_query(srv, n, LDNS_RR_TYPE_SOA, true, QUERY_TIMEOUT_MS, &r, why,
				    sizeof(why))) != DEED_OK) {
			deed_seterr(err, errlen,
				    "cannot find the zone of %s: SOA query for %s at %s: %s", name,
				    n, srv->str, why);
			return rc;
		}
		rcode = ldns_pkt_get_rcode(r);
		if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
			deed_seterr(err, errlen,
				    "cannot find the zone of %s: SOA query for %s at %s: %s", name,
				    n, srv->str, rcode_str(rcode));
			ldns_pkt_free(r);
			return DEED_EDNS;
		}
		for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(r)); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);

			dname_str(ldns_rr_owner(rr), owner);
			/* An update of a name that is a CNAME would be ignored by the server
			 * (RFC 2136 §3.4.1.3): say so instead of timing out later. */
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && n == name) {
				deed_seterr(err, errlen,
					    "%s is a CNAME (at %s); updating it is not "
					    "supported, give the target's zone and name instead",
					    name, srv->str);
				ldns_pkt_free(r);
				return DEED_EUNSUPPORTED;
			}
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA && strcasecmp(owner, n) == 0)
				goto found;
		}
		for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_authority(r)); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_authority(r), i);

			dname_str(ldns_rr_owner(rr), owner);
			if ((ldns_rr_get_type(rr) == LDNS_RR_TYPE_SOA ||
			     ldns_rr_get_type(rr) == LDNS_RR_TYPE_NS) &&
			    in_zone(name, owner) && strcmp(owner, ".") != 0)
				goto found;
		}
		ldns_pkt_free(r);
		r = NULL;
		n = strchr(n, '.');
		n = n != NULL ? n + 1 : NULL;
	}
	deed_seterr(err, errlen, "cannot find the zone of %s: no SOA at %s", name, srv->str);
	return DEED_ENOTFOUND;
found:
	ldns_pkt_free(r);
	if (strlen(owner) > NAME_MAX_)
		return DEED_EMALFORMED; /* cannot be: it is a suffix of name */
	memcpy(zone, owner, strlen(owner) + 1);
	return DEED_OK;
}

/* The zone to update for name: the one the solver was given, else found by find_zone. */
static int
zone_of(const struct dns_solver *d, const char *name, char zone[NAME_MAX_ + 1], char *err,
	size_t errlen)
{
	if (d->zone[0] == '\0')
		return find_zone(d, name, zone, err, errlen);
	snprintf(zone, NAME_MAX_ + 1, "%s", d->zone);
	return DEED_OK;
}

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
			      &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		      &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static bool
is_loopback(const struct sockaddr_storage *a)
{
	if (a->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr);
}

/*
 * Add an address of an authoritative server to out. Port 53, except for the primary's own
 * host (its address, or any loopback address when it is on loopback), which is asked at the
 * primary's port: a primary on another port (a lab, a test) serves its zone there.
 */
static void
add_server(const struct dns_solver *d, int family, const void *addr, struct server *out, size_t *n)
{
	struct server s = {0};
	in_port_t port = htons(DNS_PORT);
	size_t i;

	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&s.ss;

		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, 4);
		s.len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s.ss;

		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, 16);
		s.len = sizeof(*sin6);
	}
	if (same_addr(&s.ss, &d->primary.ss) || (is_loopback(&s.ss) && is_loopback(&d->primary.ss)))
		port = d->primary.ss.ss_family == AF_INET
			   ? ((const struct sockaddr_in *)&d->primary.ss)->sin_port
			   : ((const struct sockaddr_in6 *)&d->primary.ss)->sin6_port;
	if (family == AF_INET)
		((struct sockaddr_in *)&s.ss)->sin_port = port;
	else
		((struct sockaddr_in6 *)&s.ss)->sin6_port = port;
	for (i = 0; i < *n; i++)
		if (same_addr(&out[i].ss, &s.ss))
			return;
	if (*n == SERVERS_MAX)
		return;
	solver_addr_str(&s.ss, s.str, sizeof(s.str));
	out[(*n)++] = s;
}

/* A and AAAA records of target in list into out. Returns how many were found. */
static size_t
addrs_from(const struct dns_solver *d, const ldns_rr_list *list, const char *target,
	   struct server *out, size_t *n)
{
	char owner[NAME_MAX_ + 2];
	size_t i, found = 0;

	for (i = 0; i < ldns_rr_list_rr_count(list); i++) {
		ldns_rr *rr = ldns_rr_list_rr(list, i);
		ldns_rr_type t = ldns_rr_get_type(rr);
		ldns_rdf *a = ldns_rr_rdf(rr, 0);

		if ((t != LDNS_RR_TYPE_A && t != LDNS_RR_TYPE_AAAA) || a == NULL)
			continue;
		dname_str(ldns_rr_owner(rr), owner);
		if (strcasecmp(owner, target) != 0 ||
		    ldns_rdf_size(a) != (t == LDNS_RR_TYPE_A ? 4u : 16u))
			continue;
		add_server(d, t == LDNS_RR_TYPE_A ? AF_INET : AF_INET6, ldns_rdf_data(a), out, n);
		found++;
	}
	return found;
}

/* Addresses of the name server target: the glue of the NS reply, the primary, the system. */
static void
ns_addrs(const struct dns_solver *d, const ldns_pkt *nsreply, const char *target,
	 struct server *out, size_t *n)
{
	static const ldns_rr_type types[] = {LDNS_RR_TYPE_A, LDNS_RR_TYPE_AAAA};
	struct addrinfo hints = {0}, *res = NULL, *ai;
	size_t found = addrs_from(d, ldns_pkt_additional(nsreply), target, out, n), i;
	char why[160];
	ldns_pkt *r;

	for (i = 0; found == 0 && i < 2; i++) {
		if (dns_query(&d->primary, target, types[i], false, QUERY_TIMEOUT_MS, &r, why,
			      sizeof(why)) != DEED_OK)
			continue;
		found += addrs_from(d, ldns_pkt_answer(r), target, out, n);
		ldns_pkt_free(r);
	}
	if (found > 0)
		return;
	hints.ai_socktype = SOCK_DGRAM;
	if (getaddrinfo(target, NULL, &hints, &res) != 0)
		return;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			add_server(d, AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, out,
				   n);
		else if (ai->ai_family == AF_INET6)
			add_server(d, AF_INET6, &((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr,
				   out, n);
	}
	freeaddrinfo(res);
}

/*
 * The authoritative servers of zone (its NS set, asked of the primary), where a CA's
 * resolver will look. None found, or the NS set unavailable: the primary alone.
 */
static void
zone_servers(const struct dns_solver *d, const char *zone, struct server *out, size_t *n)
{
	char why[160], target[NAME_MAX_ + 2], owner[NAME_MAX_ + 2];
	ldns_pkt *r = NULL;
	size_t i;

	*n = 0;
	if (dns_query(&d->primary, zone, LDNS_RR_TYPE_NS, false, QUERY_TIMEOUT_MS, &r, why,
		      sizeof(why)) == DEED_OK) {
		for (i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(r)); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), i);

			dname_str(ldns_rr_owner(rr), owner);
			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rdf(rr, 0) == NULL ||
			    strcasecmp(owner, zone) != 0)
				continue;
			dname_str(ldns_rr_rdf(rr, 0), target);
			ns_addrs(d, r, target, out, n);
		}
		ldns_pkt_free(r);
	}
	if (*n == 0)
		out[(*n)++] = d->primary;
}

/* --- update ---------------------------------------------------------------------------- */

/* What an update is about, for messages: the first record, and how many more there are. */
struct update_what {
	const char *name, *value;
	char more[48]; /* "" or " and 7 more" */
};

static void
update_what(struct update_what *w, const char *const *names, const char *const *values, size_t n)
{
	w->name = names[0];
	w->value = values[0];
	w->more[0] = '\0';
	if (n > 1)
		snprintf(w->more, sizeof(w->more), " and %zu more", n - 1);
}

/* Explain a failed update: which server, the rcode, and the TSIG error if there is one. */
static int
update_failed(const struct dns_solver *d, const struct update_what *w, const char *zone, bool add,
	      const ldns_pkt *r, char *err, size_t errlen)
{
	int rcode = ldns_pkt_get_rcode(r), te = -1;
	ldns_rr *tsig = ldns_pkt_tsig(r);
	const char *ts = NULL;
	char tsbuf[600] = "";

	if (tsig != NULL && ldns_rr_rd_count(tsig) > 5)
		te = ldns_rdf2native_int16(ldns_rr_rdf(tsig, 5));
	if (te > 0) {
		ts = tsig_error_str(te);
		if (ts != NULL)
			snprintf(tsbuf, sizeof(tsbuf), ", TSIG %s", ts);
		else
			snprintf(tsbuf, sizeof(tsbuf), ", TSIG error %d", te);
	} else if ((rcode == LDNS_RCODE_NOTAUTH || rcode == LDNS_RCODE_REFUSED) && d->has_key) {
		snprintf(tsbuf, sizeof(tsbuf), " (not authoritative for %s, or key %s not allowed)",
			 zone, d->key.name);
	} else if (rcode == LDNS_RCODE_NOTAUTH || rcode == LDNS_RCODE_REFUSED) {
		snprintf(tsbuf, sizeof(tsbuf),
			 " (not authoritative for %s, or updates need a TSIG key)", zone);
	}
	deed_seterr(err, errlen, "DNS update %s %s TXT \"%s\"%s (zone %s) %s %s: %s%s",
		    add ? "adding" : "deleting", w->name, w->value, w->more, zone,
		    rcode == LDNS_RCODE_REFUSED || rcode == LDNS_RCODE_NOTAUTH ||
			    rcode == LDNS_RCODE_NOTZONE
			? "refused by"
			: "failed at",
		    d->primary.str, rcode_str(rcode), tsbuf);
	return rcode == LDNS_RCODE_REFUSED || rcode == LDNS_RCODE_NOTAUTH ? DEED_EDENIED
									  : DEED_EDNS;
}

/*
 * value as the RDATA of a TXT record in zone-file syntax: character-strings of at most 255
 * octets (RFC 1035 §3.3.14), each quoted, '"' and '\\' escaped, other bytes outside
 * printable ASCII as \DDD. Returns DEED_OK or DEED_ETOOBIG.
 */
static int
txt_quote(const char *value, char *out, size_t outsz)
{
	size_t n = strlen(value), o = 0, i, chunk = 0;

	if (n > TXT_VALUE_MAX_ || outsz < 3)
		return DEED_ETOOBIG;
	for (i = 0; i == 0 || i < n; i++) {
		unsigned char ch = i < n ? (unsigned char)value[i] : 0;

		/* Room for a closing quote, a space, an opening quote and one \DDD. */
		if (outsz - o < 12)
			return DEED_ETOOBIG;
		if (i == 0 || chunk == 255) {
			if (i > 0) {
				out[o++] = '"';
				out[o++] = ' ';
			}
			out[o++] = '"';
			chunk = 0;
		}
		if (i >= n)
			break;
		if (ch == '"' || ch == '\\') {
			out[o++] = '\\';
			out[o++] = (char)ch;
		} else if (ch < 0x20 || ch > 0x7e) {
			o += (size_t)snprintf(out + o, outsz - o, "\\%03u", ch);
		} else {
			out[o++] = (char)ch;
		}
		chunk++;
	}
	out[o++] = '"';
	out[o] = '\0';
	return DEED_OK;
}

/*
 * The update section: each TXT RR names[i] = values[i] to add (RFC 2136 §2.5.1), or to delete
 * exactly (§2.5.4: class NONE, TTL 0, same RDATA).
 */
static int
update_rrs(const struct dns_solver *d, const char *const *names, const char *const *values,
	   size_t n, bool add, ldns_rr_list **out, char *err, size_t errlen)
{
	char rrtext[NAME_MAX_ + 40 + TXT_QUOTED_MAX], quoted[TXT_QUOTED_MAX];
	ldns_rr_list *up = ldns_rr_list_new();
	ldns_rr *rr = NULL;
	size_t i;

	*out = NULL;
	if (up == NULL)
		return DEED_ENOMEM;
	for (i = 0; i < n; i++) {
		if (txt_quote(values[i], quoted, sizeof(quoted)) != DEED_OK ||
		    snprintf(rrtext, sizeof(rrtext), "%s. %d IN TXT %s", names[i], add ? d->ttl : 0,
			     quoted) >= (int)sizeof(rrtext) ||
		    ldns_rr_new_frm_str(&rr, rrtext, 0, NULL, NULL) != LDNS_STATUS_OK) {
			deed_seterr(err, errlen, "cannot build the TXT record for %s", names[i]);
			ldns_rr_list_deep_free(up);
			return DEED_EINVAL;
		}
		if (!add)
			ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE);
		if (!ldns_rr_list_push_rr(up, rr)) {
			ldns_rr_free(rr);
			ldns_rr_list_deep_free(up);
			return DEED_ENOMEM;
		}
		rr = NULL;
	}
	*out = up;
	return DEED_OK;
}

/*
 * One RFC 2136 update message of n TXT RRs, without prerequisites: add them, or delete exactly
 * them, never an RRset: the value of the other name of an order (apex and wildcard share
 * _acme-challenge) and anything else there stays. Over TCP: a refused connection is then an
 * error at once, not a timeout, and a message of many records fits (up to 65535 octets,
 * RFC 1035 §4.2.2; a larger one is DEED_ETOOBIG).
 */
static int
dns_update_rrs(const struct dns_solver *d, const char *zonename, const char *const *names,
	       const char *const *values, size_t n, bool add, char *err, size_t errlen)
{
	struct update_what w;
	char why[160];
	ldns_rr_list *up = NULL;
	ldns_rdf *zone = NULL;
	ldns_pkt *q = NULL, *r = NULL;
	ldns_rr *qtsig;
	uint8_t *wire = NULL, *ans = NULL;
	size_t wirelen = 0, anslen = 0;
	int rc = DEED_ENOMEM;
	ldns_status st;

	update_what(&w, names, values, n);
	if ((rc = update_rrs(d, names, values, n, add, &up, err, errlen)) != DEED_OK)
		goto out;
	rc = DEED_ENOMEM;
	if ((zone = ldns_dname_new_frm_str(zonename)) == NULL) {
		rc = DEED_EINVAL;
		deed_seterr(err, errlen, "zone \"%s\" is not a DNS name", zonename);
		goto out;
	}
	if ((q = ldns_update_pkt_new(zone, LDNS_RR_CLASS_IN, NULL, up, NULL)) == NULL)
		goto out;
	zone = NULL; /* the packet's now */
	ldns_pkt_set_rd(q, false);
	ldns_pkt_set_random_id(q);
	if (d->has_key && (st = ldns_pkt_tsig_sign(q, d->key.name, d->key.secret, TSIG_FUDGE,
						   d->key.alg, NULL)) != LDNS_STATUS_OK) {
		rc = DEED_ECRYPTO;
		deed_seterr(err, errlen, "cannot sign the update with TSIG key %s: %s", d->key.name,
			    ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_pkt2wire(&wire, q, &wirelen) != LDNS_STATUS_OK)
		goto out;
	if (wirelen > 65535) {
		rc = DEED_ETOOBIG;
		deed_seterr(err, errlen,
			    "DNS update for %s%s: %zu records make %zu octets, more than a DNS "
			    "message holds (65535)",
			    w.name, w.more, n, wirelen);
		goto out;
	}
	if ((rc = dns_exchange(&d->primary, wire, wirelen, true, UPDATE_TIMEOUT_MS, &ans, &anslen,
			       why, sizeof(why))) != DEED_OK) {
		deed_seterr(err, errlen, "DNS update for %s%s at %s: %s", w.name, w.more,
			    d->primary.str, why);
		goto out;
	}
	if (ldns_wire2pkt(&r, ans, anslen) != LDNS_STATUS_OK || !ldns_pkt_qr(r) ||
	    ldns_pkt_get_opcode(r) != LDNS_PACKET_UPDATE) {
		rc = DEED_EMALFORMED;
		deed_seterr(err, errlen, "DNS update for %s%s: malformed reply from %s", w.name,
			    w.more, d->primary.str);
		goto out;
	}
	if (ldns_pkt_get_rcode(r) != LDNS_RCODE_NOERROR) {
		rc = update_failed(d, &w, zonename, add, r, err, errlen);
		goto out;
	}
	/* RFC 8945 §5.3: a signed request gets a signed reply; anyone else's "NOERROR" would
	 * make us wait for a record that was never added. */
	qtsig = ldns_pkt_tsig(q);
	if (d->has_key && (ldns_pkt_tsig(r) == NULL ||
			   !ldns_pkt_tsig_verify(r, ans, anslen, d->key.name, d->key.secret,
						 ldns_rr_rdf(qtsig, 3)))) {
		rc = DEED_EBADSIG;
		deed_seterr(err, errlen,
			    "DNS update for %s%s: the reply from %s is not signed "
			    "with TSIG key %s",
			    w.name, w.more, d->primary.str, d->key.name);
		goto out;
	}
	rc = DEED_OK;
out:
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(zone);
	ldns_pkt_free(q);
	ldns_pkt_free(r);
	LDNS_FREE(wire);
	free(ans);
	return rc;
}

/* The update of one TXT RR: what present and cleanup send. */
static int
dns_update(const struct dns_solver *d, const char *name, const char *zonename, const char *value,
	   bool add, char *err, size_t errlen)
{
	return dns_update_rrs(d, zonename, &name, &value, 1, add, err, errlen);
}

/* --- propagation ----------------------------------------------------------------------- */

/* One name to see at one server. */
struct check {
	const char *name;
	const struct server *srv;
	bool done;
	char why[200]; /* what was wrong the last time */
};

/* The joined character-strings of a TXT RR (RFC 8555 §8.4 compares the whole value). */
static void
txt_join(const ldns_rr *rr, char out[TXT_MAX + 1])
{
	size_t i, o = 0;

	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *p = ldns_rdf_data(f);
		size_t len = ldns_rdf_size(f);

		if (len == 0 || p[0] > len - 1)
			continue;
		if (p[0] > TXT_MAX - o)
			break;
		memcpy(out + o, p + 1, p[0]);
		o += p[0];
	}
	out[o] = '\0';
}

/* Ask once: does c->srv serve every value presented for c->name? */
static void
check_once(const struct dns_solver *d, struct check *c, int timeout_ms)
{
	char why[160], owner[NAME_MAX_ + 2], txt[TXT_MAX + 1];
	ldns_pkt *r = NULL;
	size_t i, j;
	int rcode;

	if (dns_query(c->srv, c->name, LDNS_RR_TYPE_TXT, d->has_resolver, timeout_ms, &r, why,
		      sizeof(why)) != DEED_OK) {
		snprintf(c->why, sizeof(c->why), "%s", why);
		return;
	}
	rcode = ldns_pkt_get_rcode(r);
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		snprintf(c->why, sizeof(c->why), "TXT query answered %s", rcode_str(rcode));
		goto out;
	}
	for (i = 0; i < d->nentries; i++) {
		const struct entry *e = &d->entries[i];
		bool seen = false;

		if (strcmp(e->name, c->name) != 0)
			continue;
		for (j = 0; !seen && j < ldns_rr_list_rr_count(ldns_pkt_answer(r)); j++) {
			ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(r), j);

			if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT)
				continue;
			dname_str(ldns_rr_owner(rr), owner);
			txt_join(rr, txt);
			seen = strcasecmp(owner, c->name) == 0 && strcmp(txt, e->value) == 0;
		}
		if (!seen) {
			snprintf(c->why, sizeof(c->why), "value \"%s\" not in the answer (%s)",
				 e->value, rcode_str(rcode));
			goto out;
		}
	}
	c->done = true;
out:
	ldns_pkt_free(r);
}

/*
 * Build the checks: every distinct name at the resolver, or else at every authoritative
 * server of its zone (those a CA's resolver may ask). srvs has room for SERVERS_MAX per entry.
 */
static size_t
build_checks(const struct dns_solver *d, struct check *checks, struct server *srvs)
{
	size_t i, j, k, nc = 0, ns = 0, n;

	for (i = 0; i < d->nentries; i++) {
		const struct entry *e = &d->entries[i];
		struct server *zs;

		for (j = 0; j < i && strcmp(d->entries[j].name, e->name) != 0; j++)
			;
		if (j < i)
			continue; /* name already checked */
		if (d->has_resolver) {
			checks[nc++] = (struct check){e->name, &d->resolver, false, ""};
			continue;
		}
		/* Entries of the same zone share its servers. */
		for (j = 0; j < i && strcmp(d->entries[j].zone, e->zone) != 0; j++)
			;
		zs = &srvs[ns];
		if (j < i) {
			size_t end = nc;

			for (k = 0; k < end; k++) {
				if (strcmp(checks[k].name, d->entries[j].name) == 0)
					checks[nc++] =
					    (struct check){e->name, checks[k].srv, false, ""};
			}
			continue;
		}
		zone_servers(d, e->zone, zs, &n);
		ns += n;
		for (k = 0; k < n; k++)
			checks[nc++] = (struct check){e->name, &zs[k], false, ""};
	}
	return nc;
}

/*
 * Poll every second until each check passes or timeout_s passes. With no resolver a hook
 * solver cannot know where to look, and returns at once.
 */
static int
dns_ready(struct solver *s, char *err, size_t errlen)
{
	struct dns_solver *d = (struct dns_solver *)s;
	int64_t deadline = solver_now_ms() + (int64_t)d->timeout_s * 1000, left;
	struct check *checks = NULL;
	struct server *srvs = NULL;
	size_t nc, i, pending;
	int rc = DEED_ENOMEM;

	if (d->nentries == 0 || (d->hook && !d->has_resolver))
		return DEED_OK;
	if ((checks = calloc(d->nentries * SERVERS_MAX, sizeof(*checks))) == NULL ||
	    (srvs = calloc(d->nentries * SERVERS_MAX, sizeof(*srvs))) == NULL)
		goto out;
	nc = build_checks(d, checks, srvs);
	for (;;) {
		pending = 0;
		for (i = 0; i < nc; i++) {
			if (checks[i].done)
				continue;
			left = deadline - solver_now_ms();
			check_once(d, &checks[i],
				   left < QUERY_TIMEOUT_MS ? (left > 100 ? (int)left : 100)
							   : QUERY_TIMEOUT_MS);
			pending += !checks[i].done;
		}
		if (pending == 0) {
			rc = DEED_OK;
			break;
		}
		if ((left = deadline - solver_now_ms()) <= 0) {
			for (i = 0; checks[i].done; i++)
				;
			deed_seterr(
			    err, errlen,
			    "TXT %s not served by %s after %d s (%zu of %zu checks pending): "
			    "%s",
			    checks[i].name, checks[i].srv->str, d->timeout_s, pending, nc,
			    checks[i].why);
			rc = DEED_ETIMEOUT;
			break;
		}
		sleep_ms(left < POLL_INTERVAL_MS ? left : POLL_INTERVAL_MS);
	}
out:
	free(checks);
	free(srvs);
	return rc;
}

/* --- hook ------------------------------------------------------------------------------ */

#define HOOK_NAME_VAR "DEED_TXT_NAME"

/*
 * Our environment with HOOK_NAME_VAR=name in place of any value it had, built before fork:
 * the child of a threaded process should only exec. Free the array (not its strings, but
 * *assign, which the array points to) with free().
 */
static char **
hook_env(const char *name, char **assign)
{
	size_t n = 0, o = 0, vl = strlen(HOOK_NAME_VAR), alen = vl + 1 + strlen(name) + 1;
	char **env;

	while (environ != NULL && environ[n] != NULL)
		n++;
	if ((env = calloc(n + 2, sizeof(*env))) == NULL || (*assign = malloc(alen)) == NULL) {
		free(env);
		return NULL;
	}
	snprintf(*assign, alen, "%s=%s", HOOK_NAME_VAR, name);
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], HOOK_NAME_VAR "=", vl + 1) != 0)
			env[o++] = environ[i];
	env[o] = *assign;
	return env;
}

/*
 * PROGRAM ACTION TYPE IDENTIFIER TOKEN VALUE, and NAME for dns-account-01 (a dns-01 hook gets
 * the five arguments it always got; the record name is also in DEED_TXT_NAME for both). Its
 * standard output goes to our standard error: what the client prints on standard output stays
 * its own. A failed exec comes back through a close-on-exec pipe, so "not found" is told
 * apart from a hook that exits 127.
 */
static int
run_hook(const struct dns_solver *d, const char *action, const struct solver_challenge *c,
	 const struct entry *ent, char *err, size_t errlen)
{
	char *argv[] = {
	    d->program,
	    (char *)action,
	    (char *)d->base.type,
	    (char *)c->identifier,
	    (char *)(c->token != NULL ? c->token : ""),
	    (char *)ent->value,
	    d->account ? (char *)ent->name : NULL,
	    NULL,
	};
	char **env = NULL, *assign = NULL;
	int pfd[2], st = 0, e = 0;
	ssize_t n;
	pid_t pid;

	if ((env = hook_env(ent->name, &assign)) == NULL)
		return DEED_ENOMEM;
	if (pipe2(pfd, O_CLOEXEC) != 0) {
		deed_seterr(err, errlen, "pipe: %s", strerror(errno));
		free(env);
		free(assign);
		return DEED_EIO;
	}
	if ((pid = fork()) < 0) {
		deed_seterr(err, errlen, "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		free(env);
		free(assign);
		return DEED_EIO;
	}
	if (pid == 0) {
		close(pfd[0]);
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execvpe(d->program, argv, env);
		e = errno;
		/* If even this write fails, the parent sees exit status 127. */
		if (write(pfd[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
			_exit(127);
		_exit(127);
	}
	close(pfd[1]);
	free(env);
	free(assign);
	while ((n = read(pfd[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(pfd[0]);
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (n == (ssize_t)sizeof(e)) {
		deed_seterr(err, errlen, "cannot run dns hook %s: %s", d->program, strerror(e));
		return DEED_EIO;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return DEED_OK;
	if (WIFEXITED(st))
		deed_seterr(err, errlen, "dns hook %s %s for %s exited with status %d", d->program,
			    action, c->identifier, WEXITSTATUS(st));
	else
		deed_seterr(err, errlen, "dns hook %s %s for %s killed by signal %d", d->program,
			    action, c->identifier, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return DEED_EIO;
}

/* --- solver ---------------------------------------------------------------------------- */

/* Record name of a challenge: "_acme-challenge.NAME" (RFC 8555 §8.4) or, for
 * dns-account-01, under the account's label (draft-ietf-acme-dns-account-label §3). */
static int
challenge_name(const struct dns_solver *d, const struct solver_challenge *c, struct entry *e,
	       char *err, size_t errlen)
{
	int rc;

	if (!d->account) {
		if (snprintf(e->name, sizeof(e->name), "_acme-challenge.%s", c->identifier) <
		    (int)sizeof(e->name))
			return DEED_OK;
		deed_seterr(err, errlen, "_acme-challenge.%s is longer than 253 octets",
			    c->identifier);
		return DEED_ETOOBIG;
	}
	rc = acctlabel_name(c->account_url, c->identifier, e->name, sizeof(e->name));
	if (rc == DEED_ETOOBIG)
		deed_seterr(err, errlen,
			    "the dns-account-01 record name for %s is longer than 253 octets",
			    c->identifier);
	else if (rc != DEED_OK)
		deed_seterr(err, errlen, "dns-account-01 for %s: %s", c->identifier,
			    c->account_url == NULL || c->account_url[0] == '\0'
				? "no account URL to compute the label from"
				: deed_strerror(rc));
	return rc;
}

/* Name and value of a dns-01 or dns-account-01 challenge, checked. */
static int
challenge_entry(const struct dns_solver *d, const struct solver_challenge *c, struct entry *e,
		char *err, size_t errlen)
{
	char why[160];
	int rc;

	memset(e, 0, sizeof(*e));
	if (c == NULL || c->identifier == NULL ||
	    dnsname_check(c->identifier, false, why, sizeof(why)) != DEED_OK) {
		deed_seterr(err, errlen, "%s: bad identifier: %s", d->base.type,
			    c && c->identifier ? why : "none");
		return DEED_EINVAL;
	}
	if (c->key_authz == NULL || c->key_authz[0] == '\0' ||
	    strlen(c->key_authz) > SOLVER_KEYAUTHZ_MAX) {
		deed_seterr(err, errlen, "key authorization for %s is empty or too long",
			    c->identifier);
		return DEED_EINVAL;
	}
	if ((rc = challenge_name(d, c, e, err, errlen)) != DEED_OK)
		return rc;
	/* The value is dns-01's for both types. */
	return solver_dns01_value(c->key_authz, e->value);
}

static size_t
entry_find(const struct dns_solver *d, const struct entry *e)
{
	size_t i;

	for (i = 0; i < d->nentries; i++)
		if (strcmp(d->entries[i].name, e->name) == 0 &&
		    strcmp(d->entries[i].value, e->value) == 0)
			break;
	return i;
}

static int
dns_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct dns_solver *d = (struct dns_solver *)s;
	struct entry e, *grown;
	size_t i;
	int rc;

	if ((rc = challenge_entry(d, c, &e, err, errlen)) != DEED_OK)
		return rc;
	if ((i = entry_find(d, &e)) < d->nentries) {
		d->entries[i].refs++;
		return DEED_OK;
	}
	if (d->nentries == ENTRIES_MAX) {
		deed_seterr(err, errlen, "more than %d %s values at once", ENTRIES_MAX,
			    d->base.type);
		return DEED_ETOOBIG;
	}
	if ((grown = realloc(d->entries, (d->nentries + 1) * sizeof(*grown))) == NULL)
		return DEED_ENOMEM;
	d->entries = grown;
	e.refs = 1;
	if (d->hook) {
		rc = run_hook(d, "begin", c, &e, err, errlen);
	} else {
		if ((rc = zone_of(d, e.name, e.zone, err, errlen)) != DEED_OK)
			return rc;
		rc = dns_update(d, e.name, e.zone, e.value, true, err, errlen);
	}
	if (rc == DEED_OK)
		d->entries[d->nentries++] = e;
	return rc;
}

static int
dns_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct dns_solver *d = (struct dns_solver *)s;
	struct entry e;
	size_t i;
	int rc;

	if ((rc = challenge_entry(d, c, &e, err, errlen)) != DEED_OK)
		return rc;
	if ((i = entry_find(d, &e)) == d->nentries)
		return DEED_OK; /* never presented, or already removed */
	if (--d->entries[i].refs > 0)
		return DEED_OK;
	e = d->entries[i];
	d->entries[i] = d->entries[--d->nentries];
	if (d->hook)
		return run_hook(d, d->outcome_ok ? "done" : "failed", c, &e, err, errlen);
	return dns_update(d, e.name, e.zone, e.value, false, err, errlen);
}

static void
dns_free(struct solver *s)
{
	struct dns_solver *d = (struct dns_solver *)s;

	if (d == NULL)
		return;
	OPENSSL_cleanse(&d->key, sizeof(d->key));
	free(d->program);
	free(d->entries);
	free(d);
}

/* One table for both: they differ only in what present and cleanup do (d->hook). */
static const struct solver_ops dns_ops = {dns_present, dns_ready, dns_cleanup, dns_free};

/* The challenge type a DNS solver answers: "dns-01" (NULL) or "dns-account-01". */
static int
type_set(struct dns_solver *d, const char *challenge, char *err, size_t errlen)
{
	if (challenge == NULL || strcmp(challenge, "dns-01") == 0) {
		d->base.type = "dns-01";
	} else if (strcmp(challenge, "dns-account-01") == 0) {
		d->base.type = "dns-account-01";
		d->account = true;
	} else {
		deed_seterr(err, errlen, "the DNS solver cannot answer %.32s challenges",
			    challenge);
		return DEED_EINVAL;
	}
	return DEED_OK;
}

static int
server_set(struct server *srv, const char *what, const char *addr, char *err, size_t errlen)
{
	char why[200];

	if (solver_addr_parse(addr, DNS_PORT, false, &srv->ss, &srv->len, why, sizeof(why)) !=
	    DEED_OK) {
		deed_seterr(err, errlen, "%s: %s", what, why);
		return DEED_EINVAL;
	}
	solver_addr_str(&srv->ss, srv->str, sizeof(srv->str));
	return DEED_OK;
}

int
solver_dns_rfc2136_new(const struct solver_dns_opts *o, struct solver **out, char *err,
		       size_t errlen)
{
	struct dns_solver *d;
	size_t zl;
	int rc;

	*out = NULL;
	if (o == NULL || o->server == NULL) {
		deed_seterr(err, errlen, "%s: no DNS server to update",
			    o != NULL && o->challenge != NULL ? o->challenge : "dns-01");
		return DEED_EINVAL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return DEED_ENOMEM;
	d->base.ops = &dns_ops;
	if ((rc = type_set(d, o->challenge, err, errlen)) != DEED_OK)
		goto fail;
	d->ttl = o->ttl > 0 ? o->ttl : DEFAULT_TTL;
	d->timeout_s = o->timeout_s > 0 ? o->timeout_s : DEFAULT_TIMEOUT_S;
	if ((rc = server_set(&d->primary, "DNS server", o->server, err, errlen)) != DEED_OK)
		goto fail;
	if (o->resolver != NULL &&
	    (rc = server_set(&d->resolver, "resolver", o->resolver, err, errlen)) != DEED_OK)
		goto fail;
	d->has_resolver = o->resolver != NULL;
	if (o->tsig_file != NULL && (rc = tsig_load(o->tsig_file, &d->key, err, errlen)) != DEED_OK)
		goto fail;
	d->has_key = o->tsig_file != NULL;
	if (o->zone != NULL) {
		snprintf(d->zone, sizeof(d->zone), "%s", o->zone);
		zl = strlen(d->zone);
		if (zl > 1 && d->zone[zl - 1] == '.')
			d->zone[zl - 1] = '\0';
		if (zl == 0 || zl > NAME_MAX_) {
			deed_seterr(err, errlen, "zone \"%.64s\" is not a DNS name", o->zone);
			rc = DEED_EINVAL;
			goto fail;
		}
	}
	*out = &d->base;
	return DEED_OK;
fail:
	dns_free(&d->base);
	return rc;
}

int
solver_dns_hook_new(const char *program, const char *challenge, const char *resolver, int timeout_s,
		    struct solver **out, char *err, size_t errlen)
{
	struct dns_solver *d;
	int rc;

	*out = NULL;
	if (program == NULL || program[0] == '\0') {
		deed_seterr(err, errlen, "%s: no hook program",
			    challenge != NULL ? challenge : "dns-01");
		return DEED_EINVAL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL || (d->program = strdup(program)) == NULL) {
		free(d);
		return DEED_ENOMEM;
	}
	d->base.ops = &dns_ops;
	d->hook = true;
	d->outcome_ok = true;
	d->timeout_s = timeout_s > 0 ? timeout_s : DEFAULT_TIMEOUT_S;
	if ((rc = type_set(d, challenge, err, errlen)) != DEED_OK ||
	    (resolver != NULL &&
	     (rc = server_set(&d->resolver, "resolver", resolver, err, errlen)) != DEED_OK)) {
		dns_free(&d->base);
		return rc;
	}
	d->has_resolver = resolver != NULL;
	*out = &d->base;
	return DEED_OK;
}

void
solver_dns_hook_outcome(struct solver *s, bool ok)
{
	/* The ops table tells a DNS solver from the others, d->hook a hook solver. */
	if (s != NULL && s->ops == &dns_ops && ((struct dns_solver *)s)->hook)
		((struct dns_solver *)s)->outcome_ok = ok;
}

/* --- one-off queries and updates (dns-persist-01) -------------------------------------- */

/* The first "nameserver" of /etc/resolv.conf, for callers that give no resolver. */
static int
system_resolver(struct server *srv, char *err, size_t errlen)
{
	char line[512], addr[128];
	FILE *f = fopen("/etc/resolv.conf", "re");
	int rc = DEED_ENOTFOUND;

	if (f == NULL) {
		deed_seterr(err, errlen, "no --resolver given and cannot read /etc/resolv.conf: %s",
			    strerror(errno));
		return DEED_EIO;
	}
	while (rc == DEED_ENOTFOUND && fgets(line, sizeof(line), f) != NULL) {
		char *pct;

		if (sscanf(line, " nameserver %127s", addr) != 1)
			continue;
		if ((pct = strchr(addr, '%')) != NULL) /* fe80::1%eth0: the zone is not ours */
			*pct = '\0';
		rc = server_set(srv, "/etc/resolv.conf nameserver", addr, err, errlen);
	}
	fclose(f);
	if (rc == DEED_ENOTFOUND)
		deed_seterr(err, errlen, "no --resolver given and no nameserver in /etc/resolv.conf");
	return rc;
}

/* The joined character-strings of a TXT RR, at most TXT_READ_MAX octets, NUL-terminated. */
static int
txt_take(const ldns_rr *rr, char **out, size_t *outlen)
{
	char *buf = malloc(TXT_READ_MAX + 1);
	size_t i, o = 0;

	if (buf == NULL)
		return DEED_ENOMEM;
	for (i = 0; i < ldns_rr_rd_count(rr); i++) {
		const ldns_rdf *f = ldns_rr_rdf(rr, i);
		const uint8_t *p = ldns_rdf_data(f);
		size_t len = ldns_rdf_size(f), take;

		if (len == 0 || p[0] > len - 1)
			continue;
		take = p[0] <= TXT_READ_MAX - o ? p[0] : TXT_READ_MAX - o;
		memcpy(buf + o, p + 1, take);
		o += take;
	}
	buf[o] = '\0';
	*out = buf;
	*outlen = o;
	return DEED_OK;
}

/* The TXT RRs of name in an answer, following a CNAME chain inside the answer. */
static int
txt_collect(const ldns_pkt *r, const char *name, char ***values, size_t **lens, size_t *n)
{
	const ldns_rr_list *ans = ldns_pkt_answer(r);
	char cur[NAME_MAX_ + 2], owner[NAME_MAX_ + 2];
	size_t i, hops;
	int rc;

	snprintf(cur, sizeof(cur), "%s", name);
	for (hops = 0; hops < 8; hops++) {
		bool moved = false;

		for (i = 0; i < ldns_rr_list_rr_count(ans); i++) {
			ldns_rr *rr = ldns_rr_list_rr(ans, i);

			dname_str(ldns_rr_owner(rr), owner);
			if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rdf(rr, 0) != NULL &&
			    strcasecmp(owner, cur) == 0) {
				dname_str(ldns_rr_rdf(rr, 0), cur);
				moved = true;
				break;
			}
		}
		if (!moved)
			break;
	}
	for (i = 0; i < ldns_rr_list_rr_count(ans) && *n < TXT_RRS_MAX; i++) {
		ldns_rr *rr = ldns_rr_list_rr(ans, i);

		dname_str(ldns_rr_owner(rr), owner);
		if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || strcasecmp(owner, cur) != 0)
			continue;
		if ((rc = txt_take(rr, &(*values)[*n], &(*lens)[*n])) != DEED_OK)
			return rc;
		(*n)++;
	}
	return DEED_OK;
}

/* TXT of name at srv (rd: through a recursive resolver). NXDOMAIN is no record, not an error. */
static int
query_txt_at(const struct server *srv, bool rd, const char *name, char ***values,
	     size_t **lens, size_t *n, char *err, size_t errlen)
{
	char why[160];
	ldns_pkt *r = NULL;
	int rc, rcode;

	*values = NULL;
	*lens = NULL;
	*n = 0;
	if ((rc = dns_query(srv, name, LDNS_RR_TYPE_TXT, rd, QUERY_TIMEOUT_MS, &r, why,
			    sizeof(why))) != DEED_OK) {
		deed_seterr(err, errlen, "TXT query for %s at %s: %s", name, srv->str, why);
		return rc;
	}
	rcode = ldns_pkt_get_rcode(r);
	if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) {
		deed_seterr(err, errlen, "TXT query for %s at %s answered %s", name, srv->str,
			    rcode_str(rcode));
		ldns_pkt_free(r);
		return DEED_EDNS;
	}
	rc = DEED_ENOMEM;
	if ((*values = calloc(TXT_RRS_MAX, sizeof(**values))) != NULL &&
	    (*lens = calloc(TXT_RRS_MAX, sizeof(**lens))) != NULL)
		rc = txt_collect(r, name, values, lens, n);
	ldns_pkt_free(r);
	if (rc != DEED_OK) {
		solver_dns_txt_free(*values, *lens, *n);
		*values = NULL;
		*lens = NULL;
		*n = 0;
	}
	return rc;
}

int
solver_dns_query_txt(const char *resolver, const char *name, char ***values, size_t **lens,
		     size_t *n, char *err, size_t errlen)
{
	struct server srv;
	int rc;

	*values = NULL;
	*lens = NULL;
	*n = 0;
	rc = resolver != NULL ? server_set(&srv, "resolver", resolver, err, errlen)
			      : system_resolver(&srv, err, errlen);
	if (rc != DEED_OK)
		return rc;
	return query_txt_at(&srv, true, name, values, lens, n, err, errlen);
}

void
solver_dns_txt_free(char **values, size_t *lens, size_t n)
{
	for (size_t i = 0; values != NULL && i < n; i++)
		free(values[i]);
	free(values);
	free(lens);
}

int
solver_dns_publish_txt(const struct solver_dns_opts *o, const char *name, const char *value,
		       bool *already, char *zone_out, size_t zone_outsz, char *err,
		       size_t errlen)
{
	struct solver *s = NULL;
	struct dns_solver *d;
	char zone[NAME_MAX_ + 1], **vals = NULL;
	size_t *lens = NULL, n = 0, i, vlen = strlen(value);
	int rc;

	*already = false;
	if (name == NULL || strlen(name) > NAME_MAX_ || vlen > TXT_VALUE_MAX_) {
		deed_seterr(err, errlen, "TXT record name or value too long");
		return DEED_EINVAL;
	}
	if ((rc = solver_dns_rfc2136_new(o, &s, err, errlen)) != DEED_OK)
		return rc;
	d = (struct dns_solver *)s;
	if ((rc = zone_of(d, name, zone, err, errlen)) != DEED_OK)
		goto out;
	if (zone_out != NULL)
		snprintf(zone_out, zone_outsz, "%s", zone);
	/* Ask the primary itself (no recursion): it has the zone as it is now. */
	if ((rc = query_txt_at(&d->primary, false, name, &vals, &lens, &n, err, errlen)) !=
	    DEED_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (lens[i] == vlen && memcmp(vals[i], value, vlen) == 0) {
			*already = true;
			goto out;
		}
	}
	rc = dns_update(d, name, zone, value, true, err, errlen);
out:
	solver_dns_txt_free(vals, lens, n);
	dns_free(s);
	return rc;
}

int
solver_dns_update_txt(const struct solver_dns_opts *o, const char *const *names,
		      const char *const *values, size_t n, bool add, char *err, size_t errlen)
{
	struct solver *s = NULL;
	struct dns_solver *d;
	char zone[NAME_MAX_ + 1];
	size_t i;
	int rc;

	if (n == 0 || n > ENTRIES_MAX) {
		deed_seterr(err, errlen, "%zu TXT records in one update: 1 to %d wanted", n,
			    ENTRIES_MAX);
		return DEED_EINVAL;
	}
	for (i = 0; i < n; i++) {
		if (names[i] == NULL || values[i] == NULL || strlen(names[i]) > NAME_MAX_ ||
		    strlen(values[i]) > TXT_VALUE_MAX_) {
			deed_seterr(err, errlen,
				    "TXT record %zu: name or value missing or too long", i);
			return DEED_EINVAL;
		}
	}
	if ((rc = solver_dns_rfc2136_new(o, &s, err, errlen)) != DEED_OK)
		return rc;
	d = (struct dns_solver *)s;
	if ((rc = zone_of(d, names[0], zone, err, errlen)) == DEED_OK)
		rc = dns_update_rrs(d, zone, names, values, n, add, err, errlen);
	dns_free(s);
	return rc;
}
