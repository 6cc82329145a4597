/*
 * deed: the ACME client. See docs/deed.1 for the manual; exit codes:
 *   0 success (or nothing to renew)   1 other failure   2 bad command line
 *   3 the server refused (problem document)   4 network or TLS failure
 *   5 validation failed   6 the challenge solver failed   7 local files
 * "persist check" exits 0 when a published dns-persist-01 record authorizes the account, 5
 * when none does (or the resolver answers SERVFAIL), 4 when the resolver cannot be reached.
 * "persist publish" exits 6 when the DNS update fails.
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
#include "dnsname.h"
#include "error.h"
#include "issue.h"
#include "jwk.h"
#include "jws.h"
#include "persist.h"
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
	bool quiet, json, tty, verbose;
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

	if (c->tty || c->verbose)
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
		if (jwk_private_pem(c->key, &pem) != DEED_OK)
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
build_solver(const struct ctx *c, const json_t *conf, struct solver **s)
{
	const char *type = djson_str(conf, "challenge"), *v;
	char err[512] = "";
	int rc = DEED_EINVAL;

	*s = NULL;
	if (type == NULL) {
		die_msg("--challenge is required (http-01, dns-01, dns-account-01, tls-alpn-01 or "
			"dns-persist-01)");
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
	} else if (strcmp(type, "dns-01") == 0 || strcmp(type, "dns-account-01") == 0) {
		/* dns-account-01 publishes the same value under the account's label: the same
		 * solvers, told which name to use (the label comes from c->account_url). */
		if ((v = djson_str(conf, "dns_hook")) != NULL) {
			rc = solver_dns_hook_new(v, type, djson_str(conf, "resolver"), 120, s, err,
						 sizeof(err));
		} else if ((v = djson_str(conf, "dns_update")) != NULL) {
			struct solver_dns_opts o = {
				.server = v,
				.tsig_file = djson_str(conf, "tsig_key"),
				.zone = djson_str(conf, "zone"),
				.resolver = djson_str(conf, "resolver"),
				.ttl = 60,
				.timeout_s = 120,
				.challenge = type,
			};

			rc = solver_dns_rfc2136_new(&o, s, err, sizeof(err));
		} else {
			snprintf(err, sizeof(err),
				 "%s needs --dns-update ADDR:PORT [--tsig-key FILE] or --dns-hook PROGRAM",
				 type);
		}
	} else if (strcmp(type, "dns-persist-01") == 0) {
		/* Nothing to write: the record was published once (deed persist publish). */
		struct persist_solver_opts o = {
			.resolver = djson_str(conf, "resolver"),
			.account_url = c->account_url,
			.thumbprint = c->key->thumbprint,
			.hash_prefix = djson_str(acme_meta(c->acme), "accountHashPrefix"),
		};

		rc = persist_solver_new(&o, s, err, sizeof(err));
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

	if ((ex = build_solver(c, conf, &s)) != EXIT_OK_)
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

/* --- persist (dns-persist-01) ---------------------------------------------------------- */

#define PERSIST_DEFAULT_TTL 3600

struct persist_args {
	const char *domain, *until_s, *form_s, *issuer, *resolver;
	const char *dns_update, *tsig_key, *zone;
	bool wildcard;
	int ttl;
	/* derived */
	char base[DNSNAME_MAX + 1];
	int64_t until;
	enum persist_form form;
	const char *issuers[PERSIST_ISSUERS_MAX];
	size_t n_issuers;
	const char *hash_prefix;
};

static int
persist_parse_args(struct persist_args *a, int argc, char **argv)
{
	static const struct option opts[] = {
		{"domain", required_argument, NULL, 'd'},
		{"wildcard", no_argument, NULL, 'W'},
		{"until", required_argument, NULL, 'U'},
		{"form", required_argument, NULL, 'F'},
		{"ttl", required_argument, NULL, 'T'},
		{"issuer", required_argument, NULL, 'I'},
		{"resolver", required_argument, NULL, 'r'},
		{"dns-update", required_argument, NULL, 'u'},
		{"tsig-key", required_argument, NULL, 't'},
		{"zone", required_argument, NULL, 'z'},
		{NULL, 0, NULL, 0},
	};
	char err[256] = "", *end;
	long v;
	int ch;

	a->ttl = PERSIST_DEFAULT_TTL;
	optind = 0; /* GNU: restart the scanner, with argument permutation */
	while ((ch = getopt_long(argc - 1, argv + 1, "d:", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': a->domain = optarg; break;
		case 'W': a->wildcard = true; break;
		case 'U': a->until_s = optarg; break;
		case 'F': a->form_s = optarg; break;
		case 'I': a->issuer = optarg; break;
		case 'r': a->resolver = optarg; break;
		case 'u': a->dns_update = optarg; break;
		case 't': a->tsig_key = optarg; break;
		case 'z': a->zone = optarg; break;
		case 'T':
			v = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || v < 1 || v > 2147483647) {
				die_msg("persist: --ttl must be 1 to 2147483647 seconds");
				return EXIT_USAGE;
			}
			a->ttl = (int)v;
			break;
		default: return EXIT_USAGE;
		}
	}
	if (optind + 1 < argc) {
		die_msg("persist: unexpected argument \"%s\"", argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (a->domain == NULL) {
		die_msg("persist: -d NAME is required");
		return EXIT_USAGE;
	}
	if (dnsname_normalize(a->domain, true, a->base, sizeof(a->base), err, sizeof(err)) !=
	    DEED_OK) {
		die_msg("persist: -d %s: %s", a->domain, err);
		return EXIT_USAGE;
	}
	/* *.NAME: the record is at NAME and needs policy=wildcard. */
	if (dnsname_is_wildcard(a->base)) {
		memmove(a->base, a->base + 2, strlen(a->base + 2) + 1);
		a->wildcard = true;
	}
	if (a->until_s != NULL) {
		if (persist_parse_until(a->until_s, &a->until, err, sizeof(err)) != DEED_OK) {
			die_msg("persist: %s", err);
			return EXIT_USAGE;
		}
		if (a->until <= (int64_t)time(NULL)) {
			die_msg("persist: --until %s is in the past", a->until_s);
			return EXIT_USAGE;
		}
	}
	if (a->form_s == NULL)
		a->form = PERSIST_FORM_AUTO;
	else if (strcmp(a->form_s, "hashed") == 0)
		a->form = PERSIST_FORM_HASHED;
	else if (strcmp(a->form_s, "plain") == 0)
		a->form = PERSIST_FORM_PLAIN;
	else {
		die_msg("persist: --form is hashed or plain");
		return EXIT_USAGE;
	}
	return EXIT_OK_;
}

/* The account and what the directory says about dns-persist-01. */
static int
persist_open(struct ctx *c, struct persist_args *a)
{
	char err[512] = "";
	int ex;

	if ((ex = open_session(c, true)) != EXIT_OK_)
		return ex;
	if (persist_dir_issuers(acme_meta(c->acme), a->issuers, &a->n_issuers, err,
				sizeof(err)) != DEED_OK) {
		die_msg("persist: %s", err);
		return EXIT_SERVER;
	}
	a->hash_prefix = djson_str(acme_meta(c->acme), "accountHashPrefix");
	if (a->hash_prefix != NULL && a->hash_prefix[0] == '\0')
		a->hash_prefix = NULL;
	return EXIT_OK_;
}

/*
 * Draft -02 §5 (pre-provisioning): before the account URL goes into a record for others to
 * publish, prove it with a POST-as-GET (payload "", no redirects followed) and see it valid.
 */
static int
persist_account_valid(struct ctx *c)
{
	struct acme_resp r;
	const char *st;
	int ex;

	if ((ex = post_or_die(c, "account", c->account_url, NULL, &r)) != EXIT_OK_)
		return ex;
	st = djson_str(r.body, "status");
	if (r.status != 200 || st == NULL || strcmp(st, "valid") != 0) {
		die_msg("account %s is %s at the CA; a record for it would authorize nothing",
			c->account_url, st != NULL ? st : "not confirmed");
		acme_resp_cleanup(&r);
		return EXIT_SERVER;
	}
	acme_resp_cleanup(&r);
	return EXIT_OK_;
}

static int
persist_record_for(struct ctx *c, struct persist_args *a, struct persist_record *rec)
{
	struct persist_spec spec = {0};
	char err[512] = "";
	int ex;

	if ((ex = persist_open(c, a)) != EXIT_OK_)
		return ex;
	spec.domain = a->base;
	spec.wildcard = a->wildcard;
	spec.until = a->until;
	spec.ttl = a->ttl;
	spec.form = a->form;
	spec.hash_prefix = a->hash_prefix;
	spec.thumbprint = c->key->thumbprint;
	spec.account_url = c->account_url;
	if (persist_pick_issuer(a->issuers, a->n_issuers, a->issuer, &spec.issuer, err,
				sizeof(err)) != DEED_OK ||
	    persist_build(&spec, rec, err, sizeof(err)) != DEED_OK) {
		die_msg("persist: %s", err);
		return EXIT_USAGE;
	}
	return persist_account_valid(c);
}

static void
persist_print_record(const struct ctx *c, const struct persist_record *rec)
{
	char *j;

	if (c->json) {
		if ((j = persist_record_json(rec)) != NULL)
			printf("%s\n", j);
		free(j);
		return;
	}
	printf("%s\n\nname: %s\nvalue: %s\n", rec->zone_line, rec->name, rec->value);
}

static int
persist_show(struct ctx *c, struct persist_args *a)
{
	struct persist_record *rec = malloc(sizeof(*rec));
	int ex;

	if (rec == NULL)
		return EXIT_FAIL;
	if ((ex = persist_record_for(c, a, rec)) == EXIT_OK_)
		persist_print_record(c, rec);
	free(rec);
	return ex;
}

static int
persist_publish(struct ctx *c, struct persist_args *a)
{
	struct persist_record *rec = malloc(sizeof(*rec));
	struct solver_dns_opts o = {
		.server = a->dns_update,
		.tsig_file = a->tsig_key,
		.zone = a->zone,
		.resolver = a->resolver,
		.ttl = a->ttl,
	};
	char err[1024] = "", zone[DNSNAME_MAX + 1] = "", *j;
	bool already = false;
	int ex, rc;

	if (rec == NULL)
		return EXIT_FAIL;
	if (a->dns_update == NULL) {
		die_msg("persist publish: --dns-update ADDR:PORT is required");
		free(rec);
		return EXIT_USAGE;
	}
	if ((ex = persist_record_for(c, a, rec)) != EXIT_OK_)
		goto out;
	rc = solver_dns_publish_txt(&o, rec->name, rec->value, &already, zone, sizeof(zone), err,
				    sizeof(err));
	if (rc != DEED_OK) {
		die_msg("persist publish: %s", err);
		ex = rc == DEED_EINVAL ? EXIT_USAGE : EXIT_SOLVER;
		goto out;
	}
	if (c->json) {
		json_t *o_ = json_pack("{s:s,s:s,s:s,s:s,s:b}", "name", rec->name, "value",
				       rec->value, "zone_line", rec->zone_line, "zone", zone,
				       "changed", !already);

		if ((j = djson_dump(o_)) != NULL)
			printf("%s\n", j);
		free(j);
		json_decref(o_);
	} else if (already) {
		printf("already published, nothing changed: %s TXT \"%s\"\n", rec->name,
		       rec->value);
	} else {
		printf("published in zone %s: %s\n", zone, rec->zone_line);
	}
out:
	free(rec);
	return ex;
}

static int
persist_check(struct ctx *c, struct persist_args *a)
{
	struct persist_report *rep = malloc(sizeof(*rep));
	struct persist_query q = {0};
	char err[1024] = "", when[40], *j;
	int ex, rc;

	if (rep == NULL)
		return EXIT_FAIL;
	if ((ex = persist_open(c, a)) != EXIT_OK_)
		goto out;
	q.domain = a->base;
	q.need_wildcard = a->wildcard;
	q.account_url = c->account_url;
	q.thumbprint = c->key->thumbprint;
	q.issuers = a->issuers;
	q.n_issuers = a->n_issuers;
	q.hash_prefix = a->hash_prefix;
	q.now = (int64_t)time(NULL);
	rc = persist_check_dns(a->resolver, &q, rep, err, sizeof(err));
	if (rc != DEED_OK) {
		die_msg("persist check: %s", err);
		ex = rc == DEED_ECONNECT || rc == DEED_ETIMEOUT ? EXIT_NETWORK
		     : rc == DEED_EINVAL			   ? EXIT_USAGE
		     : rc == DEED_EDNS || rc == DEED_EMALFORMED ? EXIT_VALIDATION
								: EXIT_FAIL;
		goto out;
	}
	ex = rep->ok ? EXIT_OK_ : EXIT_VALIDATION;
	if (c->json) {
		if ((j = persist_report_json(&q, rep)) != NULL)
			printf("%s\n", j);
		free(j);
		goto out;
	}
	printf("%s\n", rep->verdict_line);
	if (rep->ok) {
		if (rep->until != INT64_MAX)
			persist_format_time(rep->until, when, sizeof(when));
		printf("  issuer:  %s\n  account: %s (accounturi %s)\n  policy:  %s\n"
		       "  expires: %s\n",
		       rep->issuer, c->account_url, rep->hashed ? "in the hashed form" : "plain",
		       rep->wildcard ? "wildcard" : "none (this name only)",
		       rep->until != INT64_MAX ? when : "never (no persistUntil)");
	} else {
		printf("  looked at: _validation-persist.%s TXT\n  account:   %s\n", a->base,
		       c->account_url);
		printf("  issuers:  ");
		for (size_t i = 0; i < a->n_issuers; i++)
			printf(" %s", a->issuers[i]);
		printf("\n");
	}
	if (rep->warning[0] != '\0')
		printf("%s\n", rep->warning);
out:
	free(rep);
	return ex;
}

static int
cmd_persist(struct ctx *c, int argc, char **argv)
{
	struct persist_args a = {0};
	int ex;

	if (argc < 2) {
		die_msg("persist: show, check or publish?");
		return EXIT_USAGE;
	}
	if ((ex = persist_parse_args(&a, argc, argv)) != EXIT_OK_)
		return ex;
	if (strcmp(argv[1], "show") == 0)
		return persist_show(c, &a);
	if (strcmp(argv[1], "check") == 0)
		return persist_check(c, &a);
	if (strcmp(argv[1], "publish") == 0)
		return persist_publish(c, &a);
	die_msg("persist: unknown subcommand \"%s\"", argv[1]);
	return EXIT_USAGE;
}

/* --- main ------------------------------------------------------------------------------ */

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: deed [--server URL] [--ca-bundle FILE] [--dir DIR] [--quiet] [--verbose] [--json]\n"
		"            COMMAND\n"
		"  account register [--email ADDR] --agree-tos | show | deactivate | rollover\n"
		"  issue -d NAME [-d NAME ...]\n"
		"        --challenge http-01|dns-01|dns-account-01|tls-alpn-01|dns-persist-01\n"
		"        [--standalone ADDR:PORT | --webroot DIR]\n"
		"        [--dns-update ADDR:PORT [--tsig-key FILE] [--zone ZONE] | --dns-hook PROG]\n"
		"        [--resolver ADDR:PORT] [--key-type ec256|ec384|rsa2048|rsa3072|rsa4096]\n"
		"        [--name NAME] [--deploy-hook PROG] [--preferred-chain ISSUER-CN]\n"
		"  renew NAME | --all [--force]\n"
		"  revoke NAME [--reason unspecified|keyCompromise|superseded|...]\n"
		"  persist show -d NAME [--wildcard] [--until YYYY-MM-DD|UNIX] [--form hashed|plain]\n"
		"        [--ttl N] [--issuer NAME]\n"
		"  persist check -d NAME [--wildcard] [--resolver ADDR:PORT]\n"
		"  persist publish -d NAME [--wildcard] [--until ...] --dns-update ADDR:PORT\n"
		"        [--tsig-key FILE] [--zone ZONE] [--ttl N]\n"
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
		{"verbose", no_argument, NULL, 'v'},
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
	while ((ch = getopt_long(argc, argv, "+qvjh", opts, NULL)) != -1) {
		switch (ch) {
		case 'S': c.server = optarg; break;
		case 'C': c.ca_bundle = optarg; break;
		case 'D': snprintf(c.dir, sizeof(c.dir), "%s", optarg); break;
		case 'q': c.quiet = true; break;
		case 'v': c.verbose = true; break;
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
	else if (strcmp(cmd, "persist") == 0)
		ex = cmd_persist(&c, argc, argv);
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
