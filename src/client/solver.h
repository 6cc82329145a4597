#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Challenge solvers of the client: they make a challenge answerable (publish a DNS record,
 * serve a file, answer a TLS handshake) and undo it afterwards. The ACME flow is:
 *
 *   for each authorization: present(challenge)
 *   ready()            -- e.g. wait until every DNS record is served
 *   POST {} to each challenge, poll the authorizations
 *   for each authorization: cleanup(challenge)   -- also after failure
 *   free()
 *
 * Functions return DEED_OK or an error from error.h with err (may be NULL) filled with a
 * one-line reason naming what failed (e.g. "DNS update for _acme-challenge.example.test
 * refused by 127.0.0.1:8053: REFUSED").
 */

struct solver_challenge {
	const char *type;        /* "http-01", "dns-01", "dns-account-01", "tls-alpn-01",
				  * "dns-persist-01" */
	const char *identifier;  /* DNS name without "*." */
	bool wildcard;
	const char *token;       /* NULL for dns-persist-01, which has none */
	const char *key_authz;   /* token "." account thumbprint; NULL for dns-persist-01 */
	const char *account_url; /* the kid; dns-account-01's label is computed from it */
	/* dns-persist-01: the challenge's issuer domain names (normalized); none elsewhere */
	const char *const *issuers;
	size_t n_issuers;
};

struct solver;

struct solver_ops {
	int (*present)(struct solver *s, const struct solver_challenge *c, char *err,
		       size_t errlen);
	/* Block until everything presented can be seen by the CA, or the deadline passes
	 * (DEED_ETIMEOUT). May be NULL. */
	int (*ready)(struct solver *s, char *err, size_t errlen);
	int (*cleanup)(struct solver *s, const struct solver_challenge *c, char *err,
		       size_t errlen);
	void (*free)(struct solver *s);
};

struct solver {
	const struct solver_ops *ops;
	const char *type; /* the challenge type it solves */
};

/* http-01, built-in responder on ADDR:PORT ("127.0.0.1:5002", "[::]:80"); serves
 * /.well-known/acme-challenge/<token> for what is presented, 404 otherwise. */
int solver_http_standalone_new(const char *listen, struct solver **out, char *err,
			       size_t errlen);

/* http-01 by writing DIR/.well-known/acme-challenge/<token> (mode 0644). */
int solver_http_webroot_new(const char *dir, struct solver **out, char *err, size_t errlen);

/* tls-alpn-01 (RFC 8737), built-in responder on ADDR:PORT: self-signed certificate per SNI
 * with the critical id-pe-acmeIdentifier extension, ALPN "acme-tls/1" only. */
int solver_tlsalpn_new(const char *listen, struct solver **out, char *err, size_t errlen);

struct solver_dns_opts {
	const char *server;      /* RFC 2136 primary, "ADDR:PORT" (port 53 if omitted) */
	const char *tsig_file;   /* BIND `key "name" { algorithm ...; secret "..."; };` or a
				  * one-line "alg:name:secret"; NULL = unsigned updates */
	const char *zone;        /* zone to update; NULL = found by SOA lookups via resolver
				  * (or, without one, at server) */
	const char *resolver;    /* "ADDR:PORT" to check propagation; NULL = the zone's
				  * authoritative servers (NS of the zone) */
	int ttl;                 /* TTL of the TXT records, default 60 */
	int timeout_s;           /* propagation deadline for ready(), default 120 */
	const char *challenge;   /* "dns-01" (NULL) or "dns-account-01" */
};

/* dns-01 by RFC 2136 dynamic update (ldns), TSIG-signed. present adds one TXT value (never
 * replaces the RRset: wildcard and apex share a name); cleanup deletes exactly that value.
 * With o->challenge "dns-account-01" (draft-ietf-acme-dns-account-label) the same TXT value
 * goes to "_<label>._acme-challenge.NAME", the label computed from the challenge's
 * account_url (acctlabel.h). Returns DEED_EINVAL for another challenge type. */
int solver_dns_rfc2136_new(const struct solver_dns_opts *o, struct solver **out, char *err,
			   size_t errlen);

/* dns-01 or dns-account-01 (challenge; NULL = dns-01) through a program:
 *   PROGRAM begin|done|failed TYPE IDENTIFIER TOKEN VALUE [NAME]
 * where VALUE is the TXT value and NAME, given for dns-account-01 only (dns-01 hooks see the
 * five arguments they always did), the record name "_<label>._acme-challenge.IDENTIFIER".
 * Both types also get the record name in the environment as DEED_TXT_NAME. "begin" on
 * present, "done"/"failed" on cleanup (solver_dns_hook_outcome says which). ready() checks
 * propagation through resolver when one is given.
 * The program's standard output goes to standard error; a non-zero exit is DEED_EIO with the
 * status in err. */
int solver_dns_hook_new(const char *program, const char *challenge, const char *resolver,
			int timeout_s, struct solver **out, char *err, size_t errlen);
/* Called before cleanup: ok picks "done", !ok "failed"; without a call cleanup says "done".
 * On a solver that is not a hook solver it does nothing, so a caller may call it on any. */
void solver_dns_hook_outcome(struct solver *s, bool ok);

/*
 * The TXT RRs at name, asked of resolver ("ADDR:PORT", port 53 if omitted; NULL = the first
 * nameserver of /etc/resolv.conf) with recursion, following a CNAME chain in the answer. Each
 * value is the RR's character-strings joined (cut at 4096 octets), NUL-terminated, its length
 * in lens; at most 64 RRs. NXDOMAIN or no TXT gives *n = 0. Free with solver_dns_txt_free.
 * Returns DEED_OK, DEED_EINVAL (bad resolver or name), DEED_EIO (no resolv.conf),
 * DEED_ENOTFOUND (no nameserver in it), DEED_EDNS (an rcode other than NOERROR/NXDOMAIN),
 * DEED_ECONNECT, DEED_ETIMEOUT, DEED_EMALFORMED (reply), DEED_ENOMEM; err says which.
 */
int solver_dns_query_txt(const char *resolver, const char *name, char ***values, size_t **lens,
			 size_t *n, char *err, size_t errlen);
void solver_dns_txt_free(char **values, size_t *lens, size_t n);

/*
 * Publish one TXT RR (value up to 2048 octets, split into 255-octet strings) at name by RFC
 * 2136 update per o (server, TSIG key, zone or SOA discovery, ttl), adding to whatever RRset is
 * there. If the primary already serves that exact value, *already is set and nothing is sent
 * (the zone serial stays). zone_out (may be NULL) gets the zone updated. Does not wait for
 * propagation. Returns DEED_OK or an error of solver_dns_rfc2136_new, the zone search, the
 * query or the update (DEED_EDENIED when refused), err says which.
 */
int solver_dns_publish_txt(const struct solver_dns_opts *o, const char *name, const char *value,
			   bool *already, char *zone_out, size_t zone_outsz, char *err,
			   size_t errlen);

/*
 * One RFC 2136 update message per o (server, TSIG key, ttl) that adds the n TXT RRs
 * names[i] = values[i] (values up to 2048 octets each) or, with !add, deletes exactly those
 * (RFC 2136 §2.5.4), leaving every other value at those names. One message, so the server
 * applies all of them or none, and its zone serial moves once. Every name must be in one
 * zone: o->zone or, without it, the zone of names[0] found by SOA lookups as
 * solver_dns_rfc2136_new does. Does not wait for propagation. Returns DEED_OK, DEED_EINVAL
 * (n is 0 or above 1000, a name or value too long), DEED_ETOOBIG (more than a DNS message's
 * 65535 octets) or an error of solver_dns_rfc2136_new, the zone search or the update
 * (DEED_EDENIED when refused); err says which.
 */
int solver_dns_update_txt(const struct solver_dns_opts *o, const char *const *names,
			  const char *const *values, size_t n, bool add, char *err, size_t errlen);

/* The dns-01 TXT value for a key authorization: base64url(SHA-256(key_authz)), 43 chars. */
int solver_dns01_value(const char *key_authz, char out[44]);

/* --- Shared by the solver implementations (solver*.c); callers of the solvers need none of
 * --- what follows. */

/*
 * Parse "ADDR:PORT", "[V6ADDR]:PORT", "ADDR" or a bare IPv6 address into *ss. ADDR may be a
 * host name (resolved by the system resolver) unless numeric_only. Without a port,
 * default_port is used; default_port < 0 makes the port mandatory.
 * Returns DEED_OK or DEED_EINVAL.
 */
int solver_addr_parse(const char *s, int default_port, bool numeric_only,
		      struct sockaddr_storage *ss, socklen_t *sslen, char *err, size_t errlen);

/* Milliseconds of CLOCK_MONOTONIC: deadlines that a change of the wall clock cannot move. */
int64_t solver_now_ms(void);

/* ss as "ADDR:PORT" or "[V6ADDR]:PORT" into out (truncated to outsz). */
void solver_addr_str(const struct sockaddr_storage *ss, char *out, size_t outsz);

/*
 * True if token can be a path segment and a file name: 1 to SOLVER_TOKEN_MAX base64url
 * characters (RFC 8555 §8.1: tokens are base64url). Tokens come from the server, so this is
 * what keeps "../" out of the webroot.
 */
#define SOLVER_TOKEN_MAX 128
bool solver_token_ok(const char *token);

/* Cap on a key authorization: token "." 43-character thumbprint, with room to spare. */
#define SOLVER_KEYAUTHZ_MAX 256

/*
 * A responder: a thread that accepts TCP connections on a listening socket and drives each,
 * non-blocking, through the callbacks until it is finished or 10 s have passed. At most 64
 * connections at a time; more wait in the listen queue.
 */
struct solver_responder;

struct solver_conn_ops {
	/* Called once right after accept (revents 0), then whenever fd is ready. *state starts
	 * NULL and belongs to the callbacks. Returns POLLIN or POLLOUT to wait for, or 0 when
	 * the connection is finished (then close is called and fd closed). */
	short (*step)(void *arg, int fd, short revents, void **state);
	void (*close)(void *arg, void *state); /* frees state; may be NULL when state is */
};

/*
 * Bind listen ("ADDR:PORT", numeric) before returning, so a busy port is an error here, then
 * serve from a new thread. Returns DEED_OK, DEED_EINVAL, DEED_EIO (bind, listen, thread) or
 * DEED_ENOMEM.
 */
int solver_responder_new(const char *listen, const struct solver_conn_ops *ops, void *arg,
			 struct solver_responder **out, char *err, size_t errlen);

/* Stop the thread, close every connection and the socket. Accepts NULL. */
void solver_responder_free(struct solver_responder *r);
