#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "config.h"
#include "djson.h"
#include "error.h"
#include "init.h"
#include "keypolicy.h"
#include "log.h"
#include "ra.h"
#include "readfile.h"
#include "sa.h"
#include "signer.h"
#include "va.h"
#include "wfe.h"

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: deed-ca init --dir DIR [--name NAME] [--listen ADDR:PORT]\n"
		"       deed-ca serve --dir DIR [--listen ADDR:PORT] [--dns-resolver ADDR:PORT]\n"
		"                     [--http01-port N] [--tlsalpn01-port N] [--allow-loopback]\n"
		"                     [--verbose]\n"
		"       deed-ca admin validations --dir DIR [NAME]\n"
		"       deed-ca admin block-key --dir DIR PEM-FILE|SPKI-SHA256\n"
		"       deed-ca admin blocked-keys --dir DIR\n"
		"       deed-ca admin check --dir DIR\n"
		"\n"
		"init   make a new CA in DIR: root.pem (the one file clients trust), an\n"
		"       intermediate, the API's TLS certificate, deed-ca.conf and the database.\n"
		"serve  run the ACME server; the directory is https://LISTEN/directory.\n"
		"       Flags override DIR/deed-ca.conf. SIGTERM or SIGINT stops it cleanly.\n"
		"admin validations  the audit log of validation attempts (all, or for NAME):\n"
		"       method, names queried, records seen, TTL, DNSSEC status, CAA, result.\n"
		"admin block-key  refuse a public key from now on, for accounts and certificates:\n"
		"       a PEM public key, certificate, CSR or private key, or the SHA-256 of the\n"
		"       key's SubjectPublicKeyInfo (64 lowercase hex digits).\n"
		"admin blocked-keys  list the blocked keys: hash, when, source (admin, or\n"
		"       keyCompromise for a key revoked as compromised).\n"
		"admin check  verify the database with the server stopped: integrity, no serial\n"
		"       twice, one certificate per valid order and one order per certificate,\n"
		"       nothing left processing; exit 1 if an invariant is broken.\n");
}

static int
cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'n'},
		{"listen", required_argument, NULL, 'l'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *dir = NULL, *name = "deed", *listen = "127.0.0.1:14443";
	char err[512] = "";
	int c, rc;

	while ((c = getopt_long(argc, argv, "d:n:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'n': name = optarg; break;
		case 'l': listen = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (dir == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((rc = ca_init(dir, name, listen, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca init: %s\n", err[0] ? err : deed_strerror(rc));
		return 1;
	}
	printf("deed-ca: new CA \"%s\" in %s; clients trust %s/root.pem\n", name, dir, dir);
	return 0;
}

static void
db_url(const struct ca_config *cfg, char *out, size_t outsz)
{
	if (strncmp(cfg->database, "sqlite:", 7) == 0 && cfg->database[7] != '/')
		snprintf(out, outsz, "sqlite:%s/%s", cfg->dir, cfg->database + 7);
	else
		snprintf(out, outsz, "%s", cfg->database);
}

static int
serve(struct ca_config *cfg)
{
	struct sa *sa = NULL;
	struct va *va = NULL;
	struct signer *signer = NULL;
	struct ra *ra = NULL;
	struct wfe *wfe = NULL;
	struct va_config vc = {0};
	char err[512] = "", base[512], path[4096], cert[4096], key[4096], anchor[4096];
	sigset_t set;
	int sig = 0, rc, status = 1;

	if (config_base_url(cfg, base, sizeof(base)) != DEED_OK) {
		fprintf(stderr, "deed-ca: cannot derive the base URL from listen \"%s\"\n",
			cfg->listen);
		return 1;
	}
	/* Signals are taken synchronously by the main thread; every thread started below
	 * inherits the blocked mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	db_url(cfg, path, sizeof(path));
	if ((rc = sa_open(path, &sa, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: database: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	if ((rc = signer_load(cfg->dir, &signer, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: signer: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	vc.resolver = cfg->dns_resolver != NULL && cfg->dns_resolver[0] ? cfg->dns_resolver : NULL;
	vc.http01_port = cfg->http01_port;
	vc.tlsalpn01_port = cfg->tlsalpn01_port;
	vc.allow_loopback = cfg->allow_loopback;
	vc.timeout_ms = cfg->validation_timeout * 1000;
	if (cfg->dnssec_trust_anchor != NULL && cfg->dnssec_trust_anchor[0] == '/')
		vc.trust_anchor_file = cfg->dnssec_trust_anchor;
	else if (cfg->dnssec_trust_anchor != NULL && cfg->dnssec_trust_anchor[0] != '\0') {
		snprintf(anchor, sizeof(anchor), "%s/%s", cfg->dir, cfg->dnssec_trust_anchor);
		vc.trust_anchor_file = anchor;
	}
	if ((rc = va_new(&vc, &va, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: validation: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	if ((rc = ra_new(cfg, base, sa, va, signer, &ra, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	if ((rc = wfe_new(cfg, base, ra, sa, signer, &wfe, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	snprintf(cert, sizeof(cert), "%s/tls.pem", cfg->dir);
	snprintf(key, sizeof(key), "%s/tls.key", cfg->dir);
	if ((rc = wfe_listen(wfe, cfg->listen, cert, key, cfg->threads, err, sizeof(err))) !=
	    DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err);
		goto out;
	}
	log_info("deed-ca: serving %s/directory", base);
	while (sigwait(&set, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
		;
	log_info("deed-ca: signal %d, shutting down", sig);
	status = 0;
out:
	/* Order matters: stop taking requests, then stop validating, then close the store. */
	wfe_free(wfe);
	ra_free(ra);
	va_free(va);
	signer_free(signer);
	sa_close(sa);
	return status;
}

static int
print_validation(void *arg, const struct sa_validation *v)
{
	char ts[32];
	time_t t = (time_t)v->at;
	struct tm tm;
	json_t *recs = NULL, *r, *seen, *x;
	size_t i, k;

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s  %s%s  %s  %s  account %lld%s\n", ts, v->wildcard ? "*." : "", v->identifier,
	       v->method, v->ok ? "valid" : "invalid", (long long)v->account_id,
	       v->jit ? "  (just in time, at newOrder)" : "");
	if (v->records_json != NULL)
		djson_parse(v->records_json, strlen(v->records_json), 1 << 20, &recs, NULL, 0);
	json_array_foreach(recs, i, r) {
		json_t *ttl = json_object_get(r, "ttl"), *caa = json_object_get(r, "caa");

		if (caa != NULL) {
			/* The CAA check that followed the validation (or a recheck at finalize). */
			printf("    CAA at %s", djson_str(caa, "name") ? djson_str(caa, "name")
								: "(no record set)");
			if (djson_str(caa, "dnssec") != NULL)
				printf("  dnssec %s", djson_str(caa, "dnssec"));
			printf("  %s\n", djson_str(caa, "result") ? djson_str(caa, "result") : "?");
			seen = json_object_get(caa, "records");
			json_array_foreach(seen, k, x)
				printf("      %s\n", json_string_value(x));
			continue;
		}
		printf("    %s", djson_str(r, "hostname") ? djson_str(r, "hostname")
						     : djson_str(r, "url") ? djson_str(r, "url") : "?");
		if (djson_str(r, "txtName") != NULL)
			printf("  TXT at %s", djson_str(r, "txtName"));
		if (ttl != NULL)
			printf("  ttl %lld", (long long)json_integer_value(ttl));
		if (djson_str(r, "dnssec") != NULL)
			printf("  dnssec %s", djson_str(r, "dnssec"));
		if (djson_str(r, "result") != NULL)
			printf("  %s", djson_str(r, "result"));
		printf("\n");
		seen = json_object_get(r, "records");
		json_array_foreach(seen, k, x)
			printf("      \"%s\"\n", json_string_value(x));
	}
	json_decref(recs);
	if (v->problem_json != NULL) {
		json_t *p = NULL;

		djson_parse(v->problem_json, strlen(v->problem_json), 1 << 16, &p, NULL, 0);
		printf("    problem: %s: %s\n", djson_str(p, "type") ? djson_str(p, "type") : "?",
		       djson_str(p, "detail") ? djson_str(p, "detail") : "");
		json_decref(p);
	}
	(void)arg;
	return 0;
}

/* The SHA-256 of the public key in a PEM file (public key, certificate, CSR or private key),
 * as 64 lowercase hex digits: keypolicy reads the PEM. */
static int
spki_hash_of_file(const char *path, char hex[65], char *err, size_t errlen)
{
	char *buf = NULL, why[200] = "";
	uint8_t h[32];
	size_t n = 0;
	int rc;

	if ((rc = deed_read_file(path, 1 << 20, &buf, &n, err, errlen)) != DEED_OK)
		return rc;
	rc = keypolicy_spki_sha256_pem(buf, n, h, why, sizeof(why));
	free(buf);
	if (rc != DEED_OK) {
		deed_seterr(err, errlen, "%s: %s", path, why[0] ? why : deed_strerror(rc));
		return rc;
	}
	keypolicy_sha256_to_hex(h, hex);
	return DEED_OK;
}

/* A hash given on the command line: exactly 64 lowercase hex digits, the stored spelling. */
static bool
is_sha256_hex(const char *s)
{
	uint8_t h[32];
	char back[65];

	if (keypolicy_sha256_from_hex(s, h) != DEED_OK)
		return false;
	keypolicy_sha256_to_hex(h, back);
	return strcmp(back, s) == 0;
}

static int
print_blocked(void *arg, const char *h, int64_t at, const char *source)
{
	char when[32];
	time_t t = (time_t)at;
	struct tm tm;

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	printf("%s  %s  %s\n", h, when, source);
	(void)arg;
	return 0;
}

static int
print_check(void *arg, const char *what, int64_t bad)
{
	printf("%s  %s: %lld\n", bad == 0 ? "ok  " : "FAIL", what, (long long)bad);
	(void)arg;
	return 0;
}

/* deed-ca admin block-key: the operator adds a key (PEM file or hash) to the blocked list. */
static int
admin_block_key(struct sa *sa, const char *what)
{
	char hex[65], err[512] = "";
	int rc;

	if (what == NULL) {
		usage(stderr);
		return 2;
	}
	if (is_sha256_hex(what))
		snprintf(hex, sizeof(hex), "%s", what);
	else if ((rc = spki_hash_of_file(what, hex, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err[0] ? err : deed_strerror(rc));
		return 1;
	}
	if ((rc = sa->ops->blocked_key_add(sa, hex, (int64_t)time(NULL), "admin")) != DEED_OK) {
		fprintf(stderr, "deed-ca: blocking the key: %s\n", deed_strerror(rc));
		return 1;
	}
	printf("deed-ca: blocked key %s\n", hex);
	return 0;
}

static int
cmd_admin(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{NULL, 0, NULL, 0},
	};
	struct ca_config cfg;
	struct sa *sa = NULL;
	const char *dir = NULL, *sub, *arg;
	char err[512] = "", path[4096], url[4200];
	int c, rc, status = 1;

	if (argc < 2 || (strcmp(argv[1], "validations") != 0 && strcmp(argv[1], "block-key") != 0 &&
			 strcmp(argv[1], "blocked-keys") != 0 && strcmp(argv[1], "check") != 0)) {
		usage(stderr);
		return 2;
	}
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "d:", opts, NULL)) != -1) {
		if (c != 'd') {
			usage(stderr);
			return 2;
		}
		dir = optarg;
	}
	if (dir == NULL || argc - optind > 1) {
		usage(stderr);
		return 2;
	}
	arg = optind < argc ? argv[optind] : NULL;
	if (config_defaults(&cfg, dir) != DEED_OK)
		return 1;
	snprintf(path, sizeof(path), "%s/deed-ca.conf", dir);
	if (config_load(&cfg, path, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err);
		goto out;
	}
	db_url(&cfg, url, sizeof(url));
	if ((rc = sa_open(url, &sa, err, sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-ca: database: %s\n", err[0] ? err : deed_strerror(rc));
		goto out;
	}
	if (strcmp(sub, "block-key") == 0) {
		status = admin_block_key(sa, arg);
		goto out;
	}
	if (strcmp(sub, "check") == 0) {
		rc = sa->ops->check(sa, print_check, NULL);
		if (rc == DEED_ECONFLICT) {
			printf("deed-ca: the database breaks the invariants above\n");
			goto out;
		}
		if (rc == DEED_OK)
			printf("deed-ca: all invariants hold\n");
	} else if (strcmp(sub, "blocked-keys") == 0)
		rc = sa->ops->blocked_key_list(sa, print_blocked, NULL);
	else
		rc = sa->ops->validation_list(sa, arg, print_validation, NULL);
	if (rc != DEED_OK) {
		fprintf(stderr, "deed-ca: reading the database: %s\n", deed_strerror(rc));
		goto out;
	}
	status = 0;
out:
	sa_close(sa);
	config_cleanup(&cfg);
	return status;
}

static int
cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{"dir", required_argument, NULL, 'd'},
		{"listen", required_argument, NULL, 'l'},
		{"dns-resolver", required_argument, NULL, 'r'},
		{"http01-port", required_argument, NULL, 'p'},
		{"tlsalpn01-port", required_argument, NULL, 't'},
		{"allow-loopback", no_argument, NULL, 'L'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct {
		const char *key, *value;
	} over[16];
	size_t n_over = 0;
	struct ca_config cfg;
	const char *dir = NULL;
	char err[512] = "", path[4096];
	int c, status = 1;

	while ((c = getopt_long(argc, argv, "d:l:r:p:t:Lvh", opts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'l': over[n_over].key = "listen"; over[n_over++].value = optarg; break;
		case 'r': over[n_over].key = "dns_resolver"; over[n_over++].value = optarg; break;
		case 'p': over[n_over].key = "http01_port"; over[n_over++].value = optarg; break;
		case 't': over[n_over].key = "tlsalpn01_port"; over[n_over++].value = optarg; break;
		case 'L': over[n_over].key = "allow_loopback"; over[n_over++].value = "true"; break;
		case 'v': log_verbosity = LOG_DEBUG; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (n_over == sizeof(over) / sizeof(over[0])) {
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (config_defaults(&cfg, dir) != DEED_OK) {
		fprintf(stderr, "deed-ca: out of memory\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/deed-ca.conf", dir);
	if (config_load(&cfg, path, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "deed-ca: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < n_over; i++) {
		if (config_set(&cfg, over[i].key, over[i].value, err, sizeof(err)) != DEED_OK) {
			fprintf(stderr, "deed-ca: --%s: %s\n", over[i].key, err);
			goto out;
		}
	}
	status = serve(&cfg);
out:
	config_cleanup(&cfg);
	return status;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "deed-ca: cannot initialise libcurl\n");
		return 1;
	}
	if (strcmp(argv[1], "init") == 0)
		rc = cmd_init(argc - 1, argv + 1);
	else if (strcmp(argv[1], "serve") == 0)
		rc = cmd_serve(argc - 1, argv + 1);
	else if (strcmp(argv[1], "admin") == 0)
		rc = cmd_admin(argc - 1, argv + 1);
	else if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		rc = 0;
	} else {
		fprintf(stderr, "deed-ca: unknown command \"%s\"\n", argv[1]);
		usage(stderr);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
