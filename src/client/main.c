/*
 * deed: the ACME client. See docs/deed.1 for the manual; exit codes:
 *   0 success (or nothing to renew)   1 other failure   2 bad command line
 *   3 the server refused (problem document)   4 network or TLS failure
 *   5 validation failed   6 the challenge solver failed   7 local files
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "acme.h"
#include "b64url.h"
#include "certstore.h"
#include "djson.h"
#include "error.h"
#include "issue.h"
#include "jwk.h"
#include "jws.h"
#include "solver.h"

#define DEFAULT_SERVER "https://acme-v02.api.letsencrypt.org/directory"

enum exit_code {
	EXIT_OK_ = 0, EXIT_FAIL = 1, EXIT_USAGE = 2, EXIT_SERVER = 3, EXIT_NETWORK = 4,
	EXIT_VALIDATION = 5, EXIT_SOLVER = 6, EXIT_LOCAL = 7,
};

struct ctx {
	const char *server;
	char *server_owned; /* server taken from a renewal record */
	const char *ca_bundle;
	char dir[4096];
	bool quiet, json, tty;
	/* the account, once loaded */
	struct acme *acme;
	struct jwk *key;
	char account_dir[4700];
	char account_url[1024];
};

static void
die_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
die_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("deed: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
say(const struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
say(const struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (c->quiet || c->json)
		return;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
on_progress(void *arg, const char *step, const char *detail)
{
	const struct ctx *c = arg;

	if (c->tty)
		say(c, "deed: %s %s", step, detail);
}

static int
exit_for(int rc)
{
	switch (rc) {
	case DEED_ECONNECT:
	case DEED_ETLS:
	case DEED_ETIMEOUT:
		return EXIT_NETWORK;
	case DEED_EIO:
		return EXIT_LOCAL;
	default:
		return EXIT_FAIL;
	}
}

/* --- account --------------------------------------------------------------------------- */

static int
key_to_pem(const struct jwk *k, char **pem)
{
	BIO *b = BIO_new(BIO_s_mem());
	BUF_MEM *m;
	int rc = DEED_ECRYPTO;

	if (b != NULL && PEM_write_bio_PrivateKey(b, k->pkey, NULL, NULL, 0, NULL, NULL) == 1) {
		BIO_get_mem_ptr(b, &m);
		*pem = strndup(m->data, m->length);
		rc = *pem != NULL ? DEED_OK : DEED_ENOMEM;
	}
	BIO_free(b);
	return rc;
}

static int
load_key(const char *path, struct jwk **k)
{
	FILE *f = fopen(path, "r");
	EVP_PKEY *pk;
	int rc;

	if (f == NULL)
		return errno == ENOENT ? DEED_ENOTFOUND : DEED_EIO;
	pk = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (pk == NULL)
		return DEED_EMALFORMED;
	rc = jwk_from_pkey(pk, k);
	EVP_PKEY_free(pk);
	return rc;
}

/* Connect and load the stored account for this server (if any). */
static int
open_session(struct ctx *c, bool need_account)
{
	char err[512] = "", sid[512], path[4800], *text = NULL;
	json_t *j = NULL;
	int rc;

	if ((rc = acme_new(c->server, c->ca_bundle, &c->acme, err, sizeof(err))) != DEED_OK) {
		die_msg("%s", err);
		return rc == DEED_EMALFORMED ? EXIT_SERVER : EXIT_NETWORK;
	}
	certstore_server_id(c->server, sid, sizeof(sid));
	snprintf(c->account_dir, sizeof(c->account_dir), "%s/accounts/%s", c->dir, sid);
	snprintf(path, sizeof(path), "%s/account.key", c->account_dir);
	rc = load_key(path, &c->key);
	if (rc == DEED_ENOTFOUND && !need_account)
		return EXIT_OK_;
	if (rc != DEED_OK) {
		if (rc == DEED_ENOTFOUND)
			die_msg("no account for %s; run: deed --server %s account register "
				"--agree-tos",
				c->server, c->server);
		else
			die_msg("cannot read the account key %s: %s", path, deed_strerror(rc));
		return rc == DEED_ENOTFOUND ? EXIT_FAIL : EXIT_LOCAL;
	}
	snprintf(path, sizeof(path), "%s/account.json", c->account_dir);
	if (certstore_read_file(path, &text, NULL, err, sizeof(err)) == DEED_OK &&
	    djson_parse(text, strlen(text), 1 << 16, &j, NULL, 0) == DEED_OK &&
	    djson_str(j, "url") != NULL)
		snprintf(c->account_url, sizeof(c->account_url), "%s", djson_str(j, "url"));
	free(text);
	json_decref(j);
	acme_set_account(c->acme, c->key, c->account_url[0] ? c->account_url : NULL);
	if (need_account && c->account_url[0] == '\0') {
		die_msg("%s has no account URL; register again", path);
		return EXIT_LOCAL;
	}
	return EXIT_OK_;
}

static int
save_account(struct ctx *c, bool save_key)
{
	char path[4800], err[512] = "", *pem = NULL, *text;
	json_t *j;
	int rc;

	if (certstore_mkdirs(c->account_dir, 0700) != DEED_OK) {
		die_msg("cannot create %s: %s", c->account_dir, strerror(errno));
		return EXIT_LOCAL;
	}
	if (save_key) {
		snprintf(path, sizeof(path), "%s/account.key", c->account_dir);
		if (key_to_pem(c->key, &pem) != DEED_OK)
			return EXIT_FAIL;
		rc = certstore_write_file(path, pem, strlen(pem), 0600, err, sizeof(err));
		explicit_bzero(pem, strlen(pem));
		free(pem);
		if (rc != DEED_OK) {
			die_msg("%s", err);
			return EXIT_LOCAL;
		}
	}
	j = json_pack("{s:s,s:s}", "url", c->account_url, "server", c->server);
	text = djson_dump(j);
	json_decref(j);
	snprintf(path, sizeof(path), "%s/account.json", c->account_dir);
	rc = text != NULL ? certstore_write_file(path, text, strlen(text), 0600, err, sizeof(err))
			  : DEED_ENOMEM;
	free(text);
	if (rc != DEED_OK) {
		die_msg("%s", err);
		return EXIT_LOCAL;
	}
	return EXIT_OK_;
}

/* POST and require 2xx; on failure print the problem and return an exit code. */
static int
post_or_die(struct ctx *c, const char *what, const char *url, const char *payload,
	    struct acme_resp *r)
{
	char err[512] = "", prob[768];
	int rc = acme_post(c->acme, url, payload, r, err, sizeof(err));

	if (rc != DEED_OK) {
		die_msg("%s: %s", what, err);
		return exit_for(rc);
	}
	if (r->status < 200 || r->status > 299) {
		acme_problem(r, prob, sizeof(prob));
		die_msg("%s: %s", what, prob);
		acme_resp_cleanup(r);
		return EXIT_SERVER;
	}
	return EXIT_OK_;
}

static int
do_register(struct ctx *c, const char *email, bool agree)
{
	struct acme_resp r;
	json_t *p;
	char *payload;
	int ex;

	if (c->key == NULL && jwk_generate("ec256", &c->key) != DEED_OK) {
		die_msg("cannot generate an account key");
		return EXIT_FAIL;
	}
	acme_set_account(c->acme, c->key, NULL);
	p = json_pack("{s:b}", "termsOfServiceAgreed", agree);
	if (email != NULL) {
		char m[512];

		snprintf(m, sizeof(m), "mailto:%s", email);
		json_object_set_new(p, "contact", json_pack("[s]", m));
	}
	payload = djson_dump(p);
	json_decref(p);
	ex = post_or_die(c, "account registration", acme_dir(c->acme, "newAccount"), payload, &r);
	free(payload);
	if (ex != EXIT_OK_)
		return ex;
	snprintf(c->account_url, sizeof(c->account_url), "%s", r.location);
	acme_resp_cleanup(&r);
	if (c->account_url[0] == '\0') {
		die_msg("the server gave no account URL");
		return EXIT_SERVER;
	}
	acme_set_account(c->acme, c->key, c->account_url);
	if ((ex = save_account(c, true)) != EXIT_OK_)
		return ex;
	say(c, "deed: account %s", c->account_url);
	if (c->json)
		printf("{\"account\":\"%s\"}\n", c->account_url);
	return EXIT_OK_;
}

static int
cmd_account(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"email", required_argument, NULL, 'e'},
		{"agree-tos", no_argument, NULL, 'a'},
		{NULL, 0, NULL, 0},
	};
	const char *email = NULL, *sub;
	bool agree = false;
	struct acme_resp r;
	int ch, ex;

	if (argc < 2) {
		die_msg("account: register, show, deactivate or rollover?");
		return EXIT_USAGE;
	}
	sub = argv[1];
	optind = 0; /* GNU: restart the scanner, with argument permutation */
	while ((ch = getopt_long(argc - 1, argv + 1, "", opts, NULL)) != -1) {
		if (ch == 'e')
			email = optarg;
		else if (ch == 'a')
			agree = true;
		else
			return EXIT_USAGE;
	}
	if (strcmp(sub, "register") == 0) {
		if ((ex = open_session(c, false)) != EXIT_OK_)
			return ex;
		if (c->account_url[0] != '\0') {
			say(c, "deed: already registered: %s", c->account_url);
			return EXIT_OK_;
		}
		if (!agree && json_object_get(acme_meta(c->acme), "termsOfService") != NULL) {
			die_msg("the CA's terms of service are at %s; pass --agree-tos to accept them",
				djson_str(acme_meta(c->acme), "termsOfService"));
			return EXIT_USAGE;
		}
		return do_register(c, email, agree);
	}
	if ((ex = open_session(c, true)) != EXIT_OK_)
		return ex;
	if (strcmp(sub, "show") == 0) {
		if ((ex = post_or_die(c, "account", c->account_url, NULL, &r)) != EXIT_OK_)
			return ex;
		printf("%s\n%s\n", c->account_url, r.raw != NULL ? r.raw : "");
		acme_resp_cleanup(&r);
		return EXIT_OK_;
	}
	if (strcmp(sub, "deactivate") == 0) {
		ex = post_or_die(c, "deactivation", c->account_url, "{\"status\":\"deactivated\"}",
				 &r);
		acme_resp_cleanup(&r);
		if (ex == EXIT_OK_)
			say(c, "deed: account %s deactivated", c->account_url);
		return ex;
	}
	if (strcmp(sub, "rollover") == 0) {
		/* RFC 8555 §7.3.5: inner JWS by the new key over {account, oldKey}. */
		struct jwk *nk = NULL;
		json_t *inner_pl, *inner = NULL;
		char *pl, *inner_s;
		const char *url = acme_dir(c->acme, "keyChange");

		if (url == NULL || jwk_generate("ec256", &nk) != DEED_OK)
			return EXIT_FAIL;
		inner_pl = json_pack("{s:s,s:o}", "account", c->account_url, "oldKey",
				     jwk_to_json(c->key));
		pl = djson_dump(inner_pl);
		json_decref(inner_pl);
		if (pl == NULL || jws_sign_json(nk, NULL, NULL, url, pl, &inner) != DEED_OK) {
			free(pl);
			jwk_free(nk);
			return EXIT_FAIL;
		}
		free(pl);
		inner_s = djson_dump(inner);
		json_decref(inner);
		ex = post_or_die(c, "key rollover", url, inner_s, &r);
		free(inner_s);
		acme_resp_cleanup(&r);
		if (ex != EXIT_OK_) {
			jwk_free(nk);
			return ex;
		}
		jwk_free(c->key);
		c->key = nk;
		acme_set_account(c->acme, c->key, c->account_url);
		if ((ex = save_account(c, true)) != EXIT_OK_)
			return ex;
		say(c, "deed: account key rolled over");
		return EXIT_OK_;
	}
	die_msg("account: unknown subcommand \"%s\"", sub);
	return EXIT_USAGE;
}

/* --- issue / renew --------------------------------------------------------------------- */

static int
build_solver(const json_t *conf, struct solver **s)
{
	const char *type = djson_str(conf, "challenge"), *v;
	char err[512] = "";
	int rc = DEED_EINVAL;

	*s = NULL;
	if (type == NULL) {
		die_msg("--challenge is required (http-01, dns-01 or tls-alpn-01)");
		return EXIT_USAGE;
	}
	if (strcmp(type, "http-01") == 0) {
		if ((v = djson_str(conf, "standalone")) != NULL)
			rc = solver_http_standalone_new(v, s, err, sizeof(err));
		else if ((v = djson_str(conf, "webroot")) != NULL)
			rc = solver_http_webroot_new(v, s, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "http-01 needs --standalone ADDR:PORT or --webroot DIR");
	} else if (strcmp(type, "tls-alpn-01") == 0) {
		if ((v = djson_str(conf, "standalone")) != NULL)
			rc = solver_tlsalpn_new(v, s, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "tls-alpn-01 needs --standalone ADDR:PORT");
	} else if (strcmp(type, "dns-01") == 0) {
		if ((v = djson_str(conf, "dns_hook")) != NULL) {
			rc = solver_dns_hook_new(v, djson_str(conf, "resolver"), 120, s, err,
						 sizeof(err));
		} else if ((v = djson_str(conf, "dns_update")) != NULL) {
			struct solver_dns_opts o = {
				.server = v,
				.tsig_file = djson_str(conf, "tsig_key"),
				.zone = djson_str(conf, "zone"),
				.resolver = djson_str(conf, "resolver"),
				.ttl = 60,
				.timeout_s = 120,
			};

			rc = solver_dns_rfc2136_new(&o, s, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err),
				 "dns-01 needs --dns-update ADDR:PORT [--tsig-key FILE] or --dns-hook PROGRAM");
		}
	} else {
		snprintf(err, sizeof(err), "challenge type \"%s\" is not supported", type);
	}
	if (rc != DEED_OK) {
		die_msg("%s", err);
		return rc == DEED_EINVAL ? EXIT_USAGE : EXIT_SOLVER;
	}
	return EXIT_OK_;
}

static int
run_hook(const char *prog, const char *name, const char *live)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		setenv("DEED_NAME", name, 1);
		setenv("DEED_LIVE", live, 1);
		execlp(prog, prog, name, live, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Issue per conf (a renewal record) and install the result under name. */
static int
issue_with(struct ctx *c, const char *name, json_t *conf)
{
	struct solver *s = NULL;
	struct issue_opts o = {0};
	struct issue_result res = {0};
	const json_t *domains = json_object_get(conf, "domains"), *d;
	const char **names = NULL;
	enum issue_fail why = ISSUE_FAIL_NONE;
	char err[768] = "", live[4600];
	size_t i;
	int ex, rc;

	if ((ex = build_solver(conf, &s)) != EXIT_OK_)
		return ex;
	if ((names = calloc(json_array_size(domains) + 1, sizeof(char *))) == NULL) {
		s->ops->free(s);
		return EXIT_FAIL;
	}
	json_array_foreach(domains, i, d)
		names[i] = json_string_value(d);
	o.names = names;
	o.n_names = json_array_size(domains);
	o.key_type = djson_str(conf, "key_type");
	o.solver = s;
	o.preferred_chain = djson_str(conf, "preferred_chain");
	o.timeout_s = 300;
	o.progress = on_progress;
	o.progress_arg = c;
	rc = issue_run(c->acme, c->key->thumbprint, c->account_url, &o, &res, &why, err,
		       sizeof(err));
	s->ops->free(s);
	free(names);
	if (rc != DEED_OK) {
		die_msg("%s", err);
		switch (why) {
		case ISSUE_FAIL_SERVER: return EXIT_SERVER;
		case ISSUE_FAIL_NETWORK: return EXIT_NETWORK;
		case ISSUE_FAIL_VALIDATION: return EXIT_VALIDATION;
		case ISSUE_FAIL_SOLVER: return EXIT_SOLVER;
		case ISSUE_FAIL_LOCAL: return EXIT_LOCAL;
		default: return EXIT_FAIL;
		}
	}
	json_object_set_new(conf, "server", json_string(c->server));
	rc = certstore_install(c->dir, name, res.cert_pem, res.chain_pem, res.key_pem, err,
			       sizeof(err));
	if (rc == DEED_OK)
		rc = certstore_save_renewal(c->dir, name, conf, err, sizeof(err));
	issue_result_cleanup(&res);
	if (rc != DEED_OK) {
		die_msg("certificate issued but not stored: %s", err);
		return EXIT_LOCAL;
	}
	snprintf(live, sizeof(live), "%s/live/%s", c->dir, name);
	say(c, "deed: certificate for %s in %s", name, live);
	if (c->json)
		printf("{\"name\":\"%s\",\"live\":\"%s\",\"fullchain\":\"%s/fullchain.pem\"}\n",
		       name, live, live);
	if (djson_str(conf, "deploy_hook") != NULL) {
		int st = run_hook(djson_str(conf, "deploy_hook"), name, live);

		if (st != 0) {
			die_msg("deploy hook %s exited with %d", djson_str(conf, "deploy_hook"), st);
			return EXIT_FAIL;
		}
	}
	return EXIT_OK_;
}

static int
cmd_issue(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"domain", required_argument, NULL, 'd'},
		{"challenge", required_argument, NULL, 'c'},
		{"standalone", required_argument, NULL, 's'},
		{"webroot", required_argument, NULL, 'w'},
		{"dns-update", required_argument, NULL, 'u'},
		{"tsig-key", required_argument, NULL, 't'},
		{"zone", required_argument, NULL, 'z'},
		{"dns-hook", required_argument, NULL, 'H'},
		{"resolver", required_argument, NULL, 'r'},
		{"key-type", required_argument, NULL, 'k'},
		{"name", required_argument, NULL, 'n'},
		{"deploy-hook", required_argument, NULL, 'D'},
		{"preferred-chain", required_argument, NULL, 'p'},
		{NULL, 0, NULL, 0},
	};
	static const struct {
		int opt;
		const char *key;
	} keys[] = {
		{'c', "challenge"}, {'s', "standalone"}, {'w', "webroot"}, {'u', "dns_update"},
		{'t', "tsig_key"}, {'z', "zone"}, {'H', "dns_hook"}, {'r', "resolver"},
		{'k', "key_type"}, {'D', "deploy_hook"}, {'p', "preferred_chain"},
	};
	json_t *conf = json_object(), *domains = json_array();
	const char *name = NULL;
	char abs[4096];
	int ch, ex;

	json_object_set_new(conf, "domains", domains);
	optind = 0; /* GNU: restart the scanner, with argument permutation */
	while ((ch = getopt_long(argc, argv, "d:c:n:", opts, NULL)) != -1) {
		if (ch == 'd') {
			json_array_append_new(domains, json_string(optarg));
			continue;
		}
		if (ch == 'n') {
			name = optarg;
			continue;
		}
		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
			if (keys[i].opt != ch)
				continue;
			/* Paths are stored absolute so that renew works from any directory. */
			if ((ch == 'w' || ch == 't' || ch == 'D') && optarg[0] != '/' &&
			    strchr(optarg, '/') != NULL && realpath(optarg, abs) != NULL)
				json_object_set_new(conf, keys[i].key, json_string(abs));
			else
				json_object_set_new(conf, keys[i].key, json_string(optarg));
			ch = 0;
			break;
		}
		if (ch != 0) {
			json_decref(conf);
			return EXIT_USAGE;
		}
	}
	if (json_array_size(domains) == 0) {
		die_msg("issue: at least one -d NAME is required");
		json_decref(conf);
		return EXIT_USAGE;
	}
	if (name == NULL)
		name = json_string_value(json_array_get(domains, 0));
	if (name[0] == '*' && name[1] == '.')
		name += 2;
	if (strchr(name, '/') != NULL || name[0] == '.' || name[0] == '\0') {
		die_msg("issue: bad certificate name \"%s\"", name);
		json_decref(conf);
		return EXIT_USAGE;
	}
	if ((ex = open_session(c, true)) != EXIT_OK_) {
		json_decref(conf);
		return ex;
	}
	ex = issue_with(c, name, conf);
	json_decref(conf);
	return ex;
}

/* Due when less than a third of the lifetime is left. */
static int
renewal_due(const char *dir, const char *name, bool *due, char *err, size_t errlen)
{
	char path[4600];
	FILE *f;
	X509 *x;
	time_t nb, na, now = time(NULL);
	struct tm tm;

	snprintf(path, sizeof(path), "%s/live/%s/cert.pem", dir, name);
	if ((f = fopen(path, "r")) == NULL) {
		deed_seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return DEED_EIO;
	}
	x = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (x == NULL) {
		deed_seterr(err, errlen, "%s does not hold a certificate", path);
		return DEED_EMALFORMED;
	}
	ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm);
	nb = timegm(&tm);
	ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm);
	na = timegm(&tm);
	X509_free(x);
	*due = na - now < (na - nb) / 3;
	return DEED_OK;
}

static int
renew_one(struct ctx *c, const char *name, bool force)
{
	json_t *conf = NULL;
	char err[512] = "";
	bool due = false;
	int ex;

	if (certstore_load_renewal(c->dir, name, &conf, err, sizeof(err)) != DEED_OK) {
		die_msg("renew %s: %s", name, err);
		return EXIT_LOCAL;
	}
	if (!force && renewal_due(c->dir, name, &due, err, sizeof(err)) == DEED_OK && !due) {
		json_decref(conf);
		return EXIT_OK_;
	}
	if (c->acme == NULL) {
		/* The server is the one the certificate came from, unless --server says else. */
		if (strcmp(c->server, DEFAULT_SERVER) == 0 && djson_str(conf, "server") != NULL &&
		    (c->server_owned = strdup(djson_str(conf, "server"))) != NULL)
			c->server = c->server_owned;
		if ((ex = open_session(c, true)) != EXIT_OK_) {
			json_decref(conf);
			return ex;
		}
	}
	say(c, "deed: renewing %s", name);
	ex = issue_with(c, name, conf);
	json_decref(conf);
	return ex;
}

static int
cmd_renew(struct ctx *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0},
	};
	bool all = false, force = false;
	int ch, worst = EXIT_OK_;

	optind = 0; /* GNU: restart the scanner, with argument permutation */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'a')
			all = true;
		else if (ch == 'f')
			force = true;
		else
			return EXIT_USAGE;
	}
	if (all == (optind < argc)) {
		die_msg("renew: give a NAME or --all");
		return EXIT_USAGE;
	}
	if (!all)
		return renew_one(c, argv[optind], force);
	{
		char rdir[4200];
		struct dirent *e;
		DIR *d;

		snprintf(rdir, sizeof(rdir), "%s/renewal", c->dir);
		if ((d = opendir(rdir)) == NULL)
			return errno == ENOENT ? EXIT_OK_ : EXIT_LOCAL;
		while ((e = readdir(d)) != NULL) {
			char name[256];
			size_t n = strlen(e->d_name);
			int ex;

			if (n <= 5 || n >= sizeof(name) || strcmp(e->d_name + n - 5, ".json") != 0)
				continue;
			memcpy(name, e->d_name, n - 5);
			name[n - 5] = '\0';
			if ((ex = renew_one(c, name, force)) != EXIT_OK_)
				worst = ex;
		}
		closedir(d);
	}
	return worst;
}

static int
cmd_revoke(struct ctx *c, int argc, char **argv)
{
	static const struct {
		const char *name;
		int code;
	} reasons[] = {
		{"unspecified", 0}, {"keyCompromise", 1}, {"affiliationChanged", 3},
		{"superseded", 4}, {"cessationOfOperation", 5}, {"privilegeWithdrawn", 9},
	};
	static const struct option opts[] = {
		{"reason", required_argument, NULL, 'r'},
		{NULL, 0, NULL, 0},
	};
	const char *reason = NULL;
	char path[4600], payload[16384], *b = NULL;
	struct acme_resp r;
	json_t *conf = NULL;
	X509 *x = NULL;
	uint8_t *der = NULL;
	int ch, ex, len, code = -1;
	FILE *f;

	optind = 0; /* GNU: restart the scanner, with argument permutation */
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch != 'r')
			return EXIT_USAGE;
		reason = optarg;
	}
	if (optind + 1 != argc) {
		die_msg("revoke: give the certificate NAME");
		return EXIT_USAGE;
	}
	for (size_t i = 0; reason != NULL && i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (strcmp(reasons[i].name, reason) == 0)
			code = reasons[i].code;
	if (reason != NULL && code < 0) {
		die_msg("revoke: unknown reason \"%s\"", reason);
		return EXIT_USAGE;
	}
	snprintf(path, sizeof(path), "%s/live/%s/cert.pem", c->dir, argv[optind]);
	if ((f = fopen(path, "r")) == NULL || (x = PEM_read_X509(f, NULL, NULL, NULL)) == NULL) {
		if (f != NULL)
			fclose(f);
		die_msg("revoke: cannot read %s", path);
		return EXIT_LOCAL;
	}
	fclose(f);
	len = i2d_X509(x, &der);
	X509_free(x);
	if (len <= 0 || b64url_encode(der, (size_t)len, &b) != DEED_OK) {
		OPENSSL_free(der);
		return EXIT_FAIL;
	}
	OPENSSL_free(der);
	if (code >= 0)
		snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\",\"reason\":%d}", b, code);
	else
		snprintf(payload, sizeof(payload), "{\"certificate\":\"%s\"}", b);
	free(b);
	if (certstore_load_renewal(c->dir, argv[optind], &conf, NULL, 0) == DEED_OK &&
	    djson_str(conf, "server") != NULL && strcmp(c->server, DEFAULT_SERVER) == 0 &&
	    (c->server_owned = strdup(djson_str(conf, "server"))) != NULL)
		c->server = c->server_owned;
	json_decref(conf);
	if ((ex = open_session(c, true)) != EXIT_OK_)
		return ex;
	ex = post_or_die(c, "revocation", acme_dir(c->acme, "revokeCert"), payload, &r);
	acme_resp_cleanup(&r);
	if (ex == EXIT_OK_)
		say(c, "deed: revoked %s", argv[optind]);
	return ex;
}

/* --- main ------------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: deed [--server URL] [--ca-bundle FILE] [--dir DIR] [--quiet] [--json] COMMAND\n"
		"  account register [--email ADDR] --agree-tos | show | deactivate | rollover\n"
		"  issue -d NAME [-d NAME ...] --challenge http-01|dns-01|tls-alpn-01\n"
		"        [--standalone ADDR:PORT | --webroot DIR]\n"
		"        [--dns-update ADDR:PORT [--tsig-key FILE] [--zone ZONE] | --dns-hook PROG]\n"
		"        [--resolver ADDR:PORT] [--key-type ec256|ec384|rsa2048|rsa3072|rsa4096]\n"
		"        [--name NAME] [--deploy-hook PROG] [--preferred-chain ISSUER-CN]\n"
		"  renew NAME | --all [--force]\n"
		"  revoke NAME [--reason unspecified|keyCompromise|superseded|...]\n"
		"exit codes: 0 ok, 1 failure, 2 usage, 3 server refused, 4 network/TLS,\n"
		"            5 validation failed, 6 solver failed, 7 local files\n");
}

static void
default_dir(char *out, size_t outsz)
{
	const char *home = getenv("HOME");

	if (geteuid() == 0 || home == NULL)
		snprintf(out, outsz, "/var/lib/deed");
	else
		snprintf(out, outsz, "%s/.local/share/deed", home);
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"server", required_argument, NULL, 'S'},
		{"ca-bundle", required_argument, NULL, 'C'},
		{"dir", required_argument, NULL, 'D'},
		{"quiet", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct ctx c = {0};
	const char *cmd;
	int ch, ex;

	c.server = DEFAULT_SERVER;
	default_dir(c.dir, sizeof(c.dir));
	/* Global options come before the command; "+" stops at the first non-option. */
	while ((ch = getopt_long(argc, argv, "+qjh", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': c.server = optarg; break;
		case 'C': c.ca_bundle = optarg; break;
		case 'D': snprintf(c.dir, sizeof(c.dir), "%s", optarg); break;
		case 'q': c.quiet = true; break;
		case 'j': c.json = true; break;
		case 'h': usage(stdout); return EXIT_OK_;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	c.tty = isatty(STDERR_FILENO);
	signal(SIGPIPE, SIG_IGN);
	umask(022);
	if (certstore_mkdirs(c.dir, 0700) != DEED_OK) {
		die_msg("cannot create %s: %s", c.dir, strerror(errno));
		return EXIT_LOCAL;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "account") == 0)
		ex = cmd_account(&c, argc, argv);
	else if (strcmp(cmd, "issue") == 0)
		ex = cmd_issue(&c, argc, argv);
	else if (strcmp(cmd, "renew") == 0)
		ex = cmd_renew(&c, argc, argv);
	else if (strcmp(cmd, "revoke") == 0)
		ex = cmd_revoke(&c, argc, argv);
	else {
		die_msg("unknown command \"%s\"", cmd);
		usage(stderr);
		ex = EXIT_USAGE;
	}
	acme_free(c.acme);
	jwk_free(c.key);
	free(c.server_owned);
	curl_global_cleanup();
	return ex;
}
