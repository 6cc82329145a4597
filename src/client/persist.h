#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "dnsname.h"
#include "issuevalue.h"
#include "solver.h"

/*
 * The client side of dns-persist-01 (draft-ietf-acme-dns-persist; protocol notes §4): the
 * record deed asks the user to publish once (`deed persist show|publish`), the read-only check
 * of what is published (`deed persist check`, and `deed issue --resolver`), and the solver,
 * which writes nothing: the record is already there.
 *
 * The record rules themselves (parse, judge, hashed accounturi, zone-file line) are the shared
 * core's, issuevalue.h.
 */

#define PERSIST_ISSUERS_MAX 10	   /* the draft's cap on issuer domain names */
#define PERSIST_VALUE_MAX 2048	   /* a record value deed writes */
#define PERSIST_ZONE_LINE_MAX 8192 /* its zone-file line: \DDD escapes, quotes */
#define PERSIST_URI_MAX 1100	   /* an account URL or a hashed accounturi */
#define PERSIST_WARN_DAYS 30	   /* warn when persistUntil is this close */

/*
 * The issuer domain names a directory's meta advertises for dns-persist-01:
 * "issuerDomainNames" (draft -02) when it is a non-empty array, else "caaIdentities"; sorted
 * bytewise. out points into meta. Returns DEED_OK, DEED_ENOTFOUND (neither present),
 * DEED_EMALFORMED (more than 10, or an entry not a string or not a DNS name); err says which.
 */
int persist_dir_issuers(const json_t *meta, const char *out[PERSIST_ISSUERS_MAX], size_t *n,
			char *err, size_t errlen);

/*
 * The issuer to write: want (any case, trailing dot allowed) when it is in the sorted list,
 * else the first one. Returns DEED_OK or DEED_ENOTFOUND (want is not offered; err lists the
 * names that are).
 */
int persist_pick_issuer(const char *const *issuers, size_t n, const char *want, const char **out,
			char *err, size_t errlen);

/*
 * --until: "YYYY-MM-DD" (that day 00:00:00 UTC) or UNIX seconds (a positive decimal integer).
 * Returns DEED_OK or DEED_EINVAL.
 */
int persist_parse_until(const char *s, int64_t *out, char *err, size_t errlen);

/* t as "YYYY-MM-DDTHH:MM:SSZ" (UTC); out has room for 32. */
void persist_format_time(int64_t t, char *out, size_t outsz);

enum persist_form {
	PERSIST_FORM_AUTO,   /* hashed when the CA advertises accountHashPrefix, else plain */
	PERSIST_FORM_HASHED, /* draft -02: <prefix>sha-256/<digest>, bound to the domain */
	PERSIST_FORM_PLAIN,  /* draft -01: the account URL */
};

struct persist_spec {
	const char *domain; /* as given; "*.NAME" means NAME with wildcard */
	bool wildcard;	    /* policy=wildcard: *.NAME and names below NAME */
	int64_t until;	    /* persistUntil; 0 = none */
	int ttl;	    /* of the zone-file line */
	const char *issuer; /* normalized issuer domain name */
	enum persist_form form;
	const char *hash_prefix; /* the directory's accountHashPrefix, or NULL */
	const char *thumbprint;	 /* the account key's RFC 7638 thumbprint */
	const char *account_url;
};

struct persist_record {
	char domain[DNSNAME_MAX + 1]; /* NAME, normalized, without "*." */
	char name[DNSNAME_MAX + 24];  /* _validation-persist.NAME */
	char accounturi[PERSIST_URI_MAX];
	bool hashed;
	bool wildcard;
	char value[PERSIST_VALUE_MAX];
	char zone_line[PERSIST_ZONE_LINE_MAX];
};

/*
 * The record for spec. Returns DEED_OK, DEED_EINVAL (bad name, hashed form without a prefix,
 * a value the CA would call malformed); err says which.
 */
int persist_build(const struct persist_spec *spec, struct persist_record *out, char *err,
		  size_t errlen);

/* {"name","value","zone_line"} as one line of JSON (malloc'd), or NULL. */
char *persist_record_json(const struct persist_record *r);

/* What the CA would decide about the records at one name. */
struct persist_query {
	const char *domain; /* NAME (normalized, no "*.") the records are at */
	bool need_wildcard; /* *.NAME, or NAME's subdomains, must be covered */
	const char *account_url;
	const char *thumbprint;	    /* current account key */
	const char *const *issuers; /* the CA's issuer domain names */
	size_t n_issuers;
	const char *hash_prefix; /* NULL = the CA takes no hashed accounturi */
	int64_t now;
};

struct persist_report {
	bool ok;
	enum persist_verdict verdict;
	char record[PERSIST_VALUE_MAX]; /* the deciding record, "" if none */
	char issuer[DNSNAME_MAX + 1];	/* of a valid record */
	bool hashed;			/* its accounturi is the hashed form */
	bool wildcard;			/* it has policy=wildcard */
	int64_t until;			/* its persistUntil, INT64_MAX when none */
	char verdict_line[4608];	/* "OK: ..." or "NOT OK: ..." */
	char warning[256];		/* "WARNING: ..." or "" */
};

/*
 * Judge the TXT values found at _validation-persist.<q->domain> (txt[i] of len[i] octets) with
 * persist_evaluate_all, and say it in words: the verdict line, the record's issuer, policy,
 * expiry, and a warning when persistUntil is within PERSIST_WARN_DAYS of q->now.
 */
void persist_judge(const struct persist_query *q, char *const *txt, const size_t *len, size_t n,
		   struct persist_report *out);

/* The report as one line of JSON (malloc'd), or NULL. */
char *persist_report_json(const struct persist_query *q, const struct persist_report *r);

/*
 * Query TXT at _validation-persist.<q->domain> through resolver (NULL = /etc/resolv.conf) and
 * judge it. Returns DEED_OK when the records were judged (out->ok says how), or the error of
 * solver_dns_query_txt (err says why).
 */
int persist_check_dns(const char *resolver, const struct persist_query *q,
		      struct persist_report *out, char *err, size_t errlen);

struct persist_solver_opts {
	const char *resolver; /* check the records through it before answering; NULL = no */
	const char *account_url;
	const char *thumbprint;
	const char *hash_prefix; /* the directory's accountHashPrefix, or NULL */
};

/*
 * The dns-persist-01 solver: present and cleanup write nothing. With a resolver, present
 * first checks the record the way the CA will (the challenge's issuer names; the name itself,
 * then each ancestor up to the registered domain with policy=wildcard, as deed-ca does) and
 * fails with DEED_EDENIED and the verdict in err when nothing would pass.
 * Returns DEED_OK, DEED_EINVAL (bad resolver), DEED_ENOMEM.
 */
int persist_solver_new(const struct persist_solver_opts *o, struct solver **out, char *err,
		       size_t errlen);
