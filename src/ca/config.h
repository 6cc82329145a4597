#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * deed-ca's configuration: DIR/deed-ca.conf, "key = value" lines, '#' comments. Command-line
 * flags override the file. config_write_default writes the file with every key, its default
 * and a comment.
 */

#define CONFIG_MAX_CAA 10

struct ca_config {
	char *dir;             /* data directory (not in the file) */
	char *name;            /* CA name used in certificate subjects */
	char *listen;          /* ADDR:PORT, default 127.0.0.1:14443 */
	char *base_url;        /* https://HOST:PORT, default derived from listen */
	char *database;        /* "sqlite:PATH"; relative paths are under dir */
	char *dns_resolver;    /* ADDR:PORT or empty for the system's */
	int http01_port;       /* 80 */
	int tlsalpn01_port;    /* 443 */
	bool allow_loopback;   /* false */
	int threads;           /* HTTP threads, default 4 */
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
	char *challenges;      /* comma-separated challenge types offered */
};

/* Defaults for dir. Returns DEED_OK or DEED_ENOMEM. */
int config_defaults(struct ca_config *c, const char *dir);

/* Read DIR/deed-ca.conf over the defaults. Unknown keys and bad values are errors naming the
 * line. Returns DEED_OK, DEED_EIO, DEED_EMALFORMED, DEED_ENOMEM. */
int config_load(struct ca_config *c, const char *path, char *err, size_t errlen);

/* Parse text (the file's content) over c, for tests and fuzzing. */
int config_parse(struct ca_config *c, const char *text, size_t len, char *err, size_t errlen);

/* Write c to path as a documented config file (0644). */
int config_write(const struct ca_config *c, const char *path);

/* Set one key from a string (used by the parser and by command-line flags). */
int config_set(struct ca_config *c, const char *key, const char *value, char *err,
	       size_t errlen);

void config_cleanup(struct ca_config *c);
