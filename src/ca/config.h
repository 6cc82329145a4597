#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * deed-ca's configuration: DIR/deed-ca.conf, "key = value" lines, '#' comments. Command-line
 * flags override the file. config_write writes the file with every key, its default and a
 * comment. docs/configuration.md describes every key.
 */

#define CONFIG_MAX_CAA 10

struct ca_config {
	char *dir;             /* data directory (not in the file) */
	char *name;            /* CA name used in certificate subjects */
	char *listen;          /* IPv4:PORT or [IPv6]:PORT, default 127.0.0.1:14443 */
	char *base_url;        /* https://HOST:PORT, default derived from listen */
	char *database;        /* "sqlite:PATH"; relative paths are under dir */
	char *dns_resolver;    /* empty for the system's; stored as "ADDR" or "ADDR@PORT" (the
				* va_config.resolver form) whatever spelling the file used */
	int http01_port;       /* 80 */
	int tlsalpn01_port;    /* 443 */
	bool allow_loopback;   /* false */
	int threads;           /* HTTP threads: 0 = one per connection (default) */
	int va_workers;        /* validation threads, default 8 */
	int validation_timeout; /* seconds, default 30 */
	int order_lifetime;    /* seconds, default 7 days */
	int authz_lifetime;    /* pending authz lifetime, seconds, default 7 days */
	int authz_reuse;       /* seconds a valid authz is reused, default 30 days; 0 = never */
	int cert_lifetime;     /* seconds, default 90 days */
	char *terms_of_service; /* URL, empty = none */
	char *website;          /* URL, empty = none */
	char *caa_identities[CONFIG_MAX_CAA]; /* issuer domain names, lowercase */
	size_t n_caa_identities;
	bool caa_check;        /* CAA after each validation, default true */
	int caa_recheck;       /* seconds; older CAA checks are redone at finalize, default 8h */
	char *dnssec_trust_anchor; /* anchor file; "" = no DNSSEC validation */
	char *challenges;      /* comma-separated challenge types offered */
	char *account_hash_prefix; /* dns-persist-01 -02 accountHashPrefix; "" = derived */
	char *persist_accounturi;  /* dns-persist-01 record forms accepted: both|plain|hashed */
	bool persist_jit;          /* dns-persist-01 just-in-time validation at newOrder */
	int persist_jit_per_minute; /* just-in-time lookups per registered domain and minute */
};

/* Defaults for dir. Returns DEED_OK or DEED_ENOMEM. */
int config_defaults(struct ca_config *c, const char *dir);

/* Read DIR/deed-ca.conf over the defaults. Unknown keys, bad values and keys given twice are
 * errors naming the line ("PATH:12: unknown key \"foo\""). On error c keeps what earlier lines
 * set. Returns DEED_OK, DEED_EIO, DEED_EMALFORMED, DEED_ENOMEM, DEED_ETOOBIG (file over 64 KiB,
 * line over 4096 bytes, value over 1024 bytes, more than CONFIG_MAX_CAA caa_identities). */
int config_load(struct ca_config *c, const char *path, char *err, size_t errlen);

/* Parse text (the file's content) over c, for tests and fuzzing. Errors name the line as
 * "deed-ca.conf:N: ...". Same returns as config_load but DEED_EIO. */
int config_parse(struct ca_config *c, const char *text, size_t len, char *err, size_t errlen);

/* Write c to path as a documented config file (0644): every key, with a comment saying what it
 * does and its default. Atomic (temporary file, fsync, rename). Returns DEED_OK, DEED_EIO,
 * DEED_ENOMEM. */
int config_write(const struct ca_config *c, const char *path);

/* The text config_write writes, in *text (NUL-terminated, caller frees) of *len bytes.
 * config_parse of it gives back c. Returns DEED_OK or DEED_ENOMEM. */
int config_format(const struct ca_config *c, char **text, size_t *len);

/* Set one key from a string (used by the parser and by command-line flags). Surrounding blanks
 * are dropped. On error c is unchanged and err says why. Returns DEED_OK, DEED_EMALFORMED
 * (unknown key, bad value), DEED_ETOOBIG, DEED_ENOMEM. */
int config_set(struct ca_config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/* Split "HOST:PORT" or "[IPv6]:PORT" into host (brackets removed) and port 1..65535. host is
 * not checked further. Returns DEED_OK or DEED_EMALFORMED (also when host does not fit). */
int config_split_hostport(const char *hp, char *host, size_t hostsz, int *port);

/* The server's base URL: base_url when set, else "https://" + listen (IPv6 in brackets;
 * "localhost" for 0.0.0.0 and [::]; no ":443"). Returns DEED_OK or DEED_EINVAL when it does not
 * fit outsz. */
int config_base_url(const struct ca_config *c, char *out, size_t outsz);

void config_cleanup(struct ca_config *c);
