#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "csr.h"
#include "djson.h"
#include "error.h"
#include "issue.h"
#include "jwk.h"

#define MAX_AUTHZ 100
#define PERSIST_TYPE "dns-persist-01"
#define ISSUERS_MAX 10 /* draft-ietf-acme-dns-persist: 1 to 10 issuer domain names */
#define ISSUER_LEN_MAX 253

struct pending {
	char authz_url[1024];
	char chall_url[1024];
	char identifier[256];
	char token[128];
	char key_authz[256];
	bool wildcard;
	bool presented;
	bool valid; /* the challenge's answer said valid: nothing to poll */
	/* dns-persist-01 */
	char issuers[ISSUERS_MAX][ISSUER_LEN_MAX + 1];
	const char *issuer_ptrs[ISSUERS_MAX];
	size_t n_issuers;
};

static void
progress(const struct issue_opts *o, const char *step, const char *detail)
{
	if (o->progress != NULL)
		o->progress(o->progress_arg, step, detail);
}

/* A progress line about one authorization: its name, "*." for a wildcard. */
static void
progress_authz(const struct issue_opts *o, const char *step, const struct pending *p)
{
	char name[sizeof(p->identifier) + 2];

	snprintf(name, sizeof(name), "%s%s", p->wildcard ? "*." : "", p->identifier);
	progress(o, step, name);
}

static time_t
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Sleep before the next poll: the server's Retry-After when it gave one, else a backoff that
 * grows from 1 s to 8 s; never past the deadline. */
static bool
wait_poll(const struct acme_resp *r, int *delay, time_t deadline)
{
	int s = r->retry_after > 0 ? r->retry_after : *delay;
	time_t left = deadline - mono();

	if (left <= 0)
		return false;
	if (s > left)
		s = (int)left;
	if (s > 60)
		s = 60;
	sleep((unsigned)s);
	if (*delay < 8)
		*delay *= 2;
	return true;
}

static int
fail(enum issue_fail *why, enum issue_fail w, int rc)
{
	*why = w;
	return rc;
}

/* A POST whose answer must be 2xx; otherwise err gets the problem. */
static int
post_ok(struct acme *a, const char *url, const char *payload, struct acme_resp *r,
	enum issue_fail *why, const char *what, char *err, size_t errlen)
{
	char prob[768];
	int rc = acme_post(a, url, payload, r, err, errlen);

	if (rc != DEED_OK)
		return fail(why, ISSUE_FAIL_NETWORK, rc);
	if (r->status < 200 || r->status > 299) {
		acme_problem(r, prob, sizeof(prob));
		deed_seterr(err, errlen, "%s: %s", what, prob);
		acme_resp_cleanup(r);
		return fail(why, ISSUE_FAIL_SERVER, DEED_EDENIED);
	}
	return DEED_OK;
}

static char *
order_payload(const struct issue_opts *o)
{
	json_t *p = json_object(), *ids = json_array();
	char *s;

	for (size_t i = 0; i < o->n_names; i++)
		json_array_append_new(ids, json_pack("{s:s,s:s}", "type", "dns", "value",
						     o->names[i]));
	json_object_set_new(p, "identifiers", ids);
	s = djson_dump(p);
	json_decref(p);
	return s;
}

static struct solver_challenge
challenge_of(const struct issue_opts *o, const struct pending *p, const char *account_url)
{
	bool persist = strcmp(o->solver->type, PERSIST_TYPE) == 0;

	return (struct solver_challenge){
	    .type = o->solver->type,
	    .identifier = p->identifier,
	    .wildcard = p->wildcard,
	    .token = persist ? NULL : p->token,
	    .key_authz = persist ? NULL : p->key_authz,
	    .account_url = account_url,
	    .issuers = p->issuer_ptrs,
	    .n_issuers = p->n_issuers,
	};
}

/* An issuer domain name as the draft wants it on the wire: lowercase LDH labels, A-labels,
 * no trailing dot, at most 253 octets. */
static bool
issuer_name_ok(const char *s)
{
	size_t n = s != NULL ? strlen(s) : 0, label = 0;

	if (n == 0 || n > ISSUER_LEN_MAX || s[n - 1] == '.' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      (s[i] == '-' && label > 0)) ||
		    ++label > 63)
			return false;
	}
	return s[n - 1] != '-';
}

static bool
json_has_string(const json_t *arr, const char *want)
{
	const json_t *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	}
	return false;
}

/*
 * The issuer list of a dns-persist-01 challenge: "issuerDomainNames" (-02) or
 * "issuer-domain-names" (-01). 0 or more than 10 names, or a name not in normal form, makes
 * the challenge malformed; so does a directory meta.issuerDomainNames entry missing from the
 * list, or a list entry missing from meta.caaIdentities (draft -02 §3.1 client duties).
 */
static int
challenge_issuers(const struct acme *a, const json_t *ch, struct pending *p, char *err,
		size_t errlen)
{
	const json_t *list = json_object_get(ch, "issuerDomainNames"), *v;
	const json_t *meta = acme_meta(a), *dir_names, *caa;
	size_t i;

	if (list == NULL)
		list = json_object_get(ch, "issuer-domain-names");
	if (!json_is_array(list) || json_array_size(list) == 0 ||
	    json_array_size(list) > ISSUERS_MAX) {
		deed_seterr(err, errlen,
			    "the dns-persist-01 challenge for %s has %s issuer domain names "
			    "(1 to 10 required)",
			    p->identifier, json_is_array(list) ? "too few or too many" : "no");
		return DEED_EMALFORMED;
	}
	json_array_foreach(list, i, v) {
		const char *name = json_string_value(v);

		if (!issuer_name_ok(name)) {
			deed_seterr(err, errlen,
				    "the dns-persist-01 challenge for %s names issuer \"%.64s\", not "
				    "a lowercase A-label domain name",
				    p->identifier, name != NULL ? name : "(not a string)");
			return DEED_EMALFORMED;
		}
		snprintf(p->issuers[i], sizeof(p->issuers[i]), "%s", name);
		p->issuer_ptrs[i] = p->issuers[i];
	}
	p->n_issuers = json_array_size(list);
	dir_names = json_object_get(meta, "issuerDomainNames");
	json_array_foreach(dir_names, i, v) {
		if (json_is_string(v) && !json_has_string(list, json_string_value(v))) {
			deed_seterr(err, errlen,
				    "the dns-persist-01 challenge for %s lacks the directory's "
				    "issuer domain name %.64s",
				    p->identifier, json_string_value(v));
			return DEED_EMALFORMED;
		}
	}
	caa = json_object_get(meta, "caaIdentities");
	for (i = 0; json_is_array(caa) && i < p->n_issuers; i++) {
		if (!json_has_string(caa, p->issuers[i])) {
			deed_seterr(err, errlen,
				    "the dns-persist-01 challenge for %s names issuer %s, which is "
				    "not among the directory's caaIdentities",
				    p->identifier, p->issuers[i]);
			return DEED_EMALFORMED;
		}
	}
	return DEED_OK;
}

/* Read one authorization; if pending, pick the solver's challenge and present it. */
static int
prepare_authz(struct acme *a, const char *thumbprint, const char *account_url,
	      const struct issue_opts *o, const char *url, struct pending *p, bool *needed,
	      enum issue_fail *why, char *err, size_t errlen)
{
	struct acme_resp r;
	const json_t *chs, *ch = NULL;
	const char *status, *value;
	struct solver_challenge sc;
	bool persist;
	size_t i;
	int rc;

	*needed = false;
	if ((rc = post_ok(a, url, NULL, &r, why, "authorization", err, errlen)) != DEED_OK)
		return rc;
	status = djson_str(r.body, "status");
	value = djson_str(json_object_get(r.body, "identifier"), "value");
	if (status == NULL || value == NULL) {
		acme_resp_cleanup(&r);
		deed_seterr(err, errlen, "%s: not an authorization object", url);
		return fail(why, ISSUE_FAIL_SERVER, DEED_EMALFORMED);
	}
	if (strcmp(status, "valid") == 0) {
		acme_resp_cleanup(&r);
		return DEED_OK;
	}
	if (strcmp(status, "pending") != 0) {
		deed_seterr(err, errlen, "authorization for %s is %s", value, status);
		acme_resp_cleanup(&r);
		return fail(why, ISSUE_FAIL_VALIDATION, DEED_ESTATE);
	}
	snprintf(p->authz_url, sizeof(p->authz_url), "%s", url);
	snprintf(p->identifier, sizeof(p->identifier), "%s", value);
	p->wildcard = json_is_true(json_object_get(r.body, "wildcard"));
	chs = json_object_get(r.body, "challenges");
	json_array_foreach(chs, i, ch) {
		const char *type = djson_str(ch, "type");

		if (type != NULL && strcmp(type, o->solver->type) == 0)
			break;
	}
	/* dns-persist-01 has no token (draft-ietf-acme-dns-persist §3.1; Boulder and Pebble send
	 * none or ""), hence no key authorization: the TXT record names the account instead. */
	persist = strcmp(o->solver->type, PERSIST_TYPE) == 0;
	if (i == json_array_size(chs) || djson_str(ch, "url") == NULL ||
	    (!persist && djson_str(ch, "token") == NULL)) {
		deed_seterr(err, errlen, "the server offers no %s challenge for %s%s",
			    o->solver->type, p->wildcard ? "*." : "", value);
		acme_resp_cleanup(&r);
		return fail(why, ISSUE_FAIL_SERVER, DEED_EUNSUPPORTED);
	}
	snprintf(p->chall_url, sizeof(p->chall_url), "%s", djson_str(ch, "url"));
	if (persist) {
		rc = challenge_issuers(a, ch, p, err, errlen);
		acme_resp_cleanup(&r);
		if (rc != DEED_OK)
			return fail(why, ISSUE_FAIL_SERVER, rc);
	} else {
		snprintf(p->token, sizeof(p->token), "%s", djson_str(ch, "token"));
		acme_resp_cleanup(&r);
		/* RFC 8555 §8.1: the key authorization binds the token to the account key. */
		snprintf(p->key_authz, sizeof(p->key_authz), "%s.%s", p->token, thumbprint);
	}
	sc = challenge_of(o, p, account_url);
	progress_authz(o, "presenting", p);
	/* A dns-persist-01 "present" only checks the record (when asked to): its failure is a
	 * validation that would fail, not a solver that broke. */
	if ((rc = o->solver->ops->present(o->solver, &sc, err, errlen)) != DEED_OK)
		return fail(why, persist ? ISSUE_FAIL_VALIDATION : ISSUE_FAIL_SOLVER, rc);
	p->presented = true;
	*needed = true;
	return DEED_OK;
}

/* A failed validation of p, for the user: the challenge's problem (prob, may be NULL) or the
 * status it ended in. */
static int
validation_failed(const struct pending *p, const json_t *prob, const char *status,
		  enum issue_fail *why, char *err, size_t errlen)
{
	const char *detail = djson_str(prob, "detail"), *type = djson_str(prob, "type");

	deed_seterr(err, errlen, "validation of %s%s failed: %s (%s)", p->wildcard ? "*." : "",
		    p->identifier, detail != NULL ? detail : status != NULL ? status : "?",
		    type != NULL ? type : "no problem type");
	return fail(why, ISSUE_FAIL_VALIDATION, DEED_EDENIED);
}

/* Poll an authorization until it is decided. */
static int
await_authz(struct acme *a, const struct pending *p, time_t deadline, enum issue_fail *why,
	    char *err, size_t errlen)
{
	int delay = 1, rc;

	for (;;) {
		struct acme_resp r;
		const char *status;

		if ((rc = post_ok(a, p->authz_url, NULL, &r, why, "authorization", err, errlen)) !=
		    DEED_OK)
			return rc;
		status = djson_str(r.body, "status");
		if (status != NULL && strcmp(status, "valid") == 0) {
			acme_resp_cleanup(&r);
			return DEED_OK;
		}
		if (status == NULL || strcmp(status, "pending") != 0) {
			/* Find the failed challenge's error for the user. */
			const json_t *ch, *e = NULL;
			size_t i;

			json_array_foreach(json_object_get(r.body, "challenges"), i, ch)
				if (json_object_get(ch, "error") != NULL)
					e = json_object_get(ch, "error");
			rc = validation_failed(p, e, status, why, err, errlen);
			acme_resp_cleanup(&r);
			return rc;
		}
		if (!wait_poll(&r, &delay, deadline)) {
			acme_resp_cleanup(&r);
			deed_seterr(err, errlen, "validation of %s timed out", p->identifier);
			return fail(why, ISSUE_FAIL_VALIDATION, DEED_ETIMEOUT);
		}
		acme_resp_cleanup(&r);
	}
}

/* Poll the order until its status is one of want (or invalid). */
static int
await_order(struct acme *a, const char *url, const char *want, time_t deadline,
	    struct acme_resp *out, enum issue_fail *why, char *err, size_t errlen)
{
	int delay = 1, rc;

	for (;;) {
		const char *status;

		if ((rc = post_ok(a, url, NULL, out, why, "order", err, errlen)) != DEED_OK)
			return rc;
		status = djson_str(out->body, "status");
		if (status != NULL && strcmp(status, want) == 0)
			return DEED_OK;
		if (status == NULL || strcmp(status, "invalid") == 0) {
			char prob[512] = "no reason given";
			const json_t *e = json_object_get(out->body, "error");

			if (e != NULL && djson_str(e, "detail") != NULL)
				snprintf(prob, sizeof(prob), "%s", djson_str(e, "detail"));
			else if (e != NULL && djson_str(e, "type") != NULL)
				snprintf(prob, sizeof(prob), "%s", djson_str(e, "type"));
			deed_seterr(err, errlen, "order became invalid: %s", prob);
			acme_resp_cleanup(out);
			return fail(why, ISSUE_FAIL_SERVER, DEED_ESTATE);
		}
		if (!wait_poll(out, &delay, deadline)) {
			acme_resp_cleanup(out);
			deed_seterr(err, errlen, "order did not become %s in time", want);
			return fail(why, ISSUE_FAIL_SERVER, DEED_ETIMEOUT);
		}
		acme_resp_cleanup(out);
	}
}

static int
make_key_and_csr(const struct issue_opts *o, char **key_pem, char **csr_payload)
{
	struct jwk *k = NULL;
	uint8_t *der = NULL;
	size_t len = 0;
	char *b = NULL;
	int rc;

	if ((rc = jwk_generate(o->key_type != NULL ? o->key_type : "ec256", &k)) != DEED_OK)
		return rc;
	if ((rc = csr_create(k->pkey, o->names, o->n_names, &der, &len)) != DEED_OK)
		goto out;
	if ((rc = b64url_encode(der, len, &b)) != DEED_OK)
		goto out;
	if ((*csr_payload = malloc(strlen(b) + 16)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	sprintf(*csr_payload, "{\"csr\":\"%s\"}", b);
	rc = jwk_private_pem(k, key_pem);
out:
	free(b);
	free(der);
	jwk_free(k);
	return rc;
}

/* The issuer CN of the last certificate in a PEM chain (what --preferred-chain names). */
static bool
chain_matches(const char *pem, const char *want)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509 *x, *last = NULL;
	char cn[256] = "";
	bool match;

	while (b != NULL && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
		X509_free(last);
		last = x;
	}
	if (last != NULL)
		X509_NAME_get_text_by_NID(X509_get_issuer_name(last), NID_commonName, cn, sizeof(cn));
	match = strcmp(cn, want) == 0;
	X509_free(last);
	BIO_free(b);
	return match;
}

static int
download(struct acme *a, const struct issue_opts *o, const char *url, struct issue_result *res,
	 enum issue_fail *why, char *err, size_t errlen)
{
	struct acme_resp r, alt;
	const char *chosen, *second;
	size_t from = 0;
	int rc;

	if ((rc = post_ok(a, url, NULL, &r, why, "certificate", err, errlen)) != DEED_OK)
		return rc;
	chosen = r.raw;
	memset(&alt, 0, sizeof(alt));
	if (o->preferred_chain != NULL && !chain_matches(r.raw, o->preferred_chain)) {
		const char *u;

		/* RFC 8555 §7.4.2: alternates are Link rel="alternate" on the certificate URL. */
		while ((u = acme_link(&r, "alternate", &from)) != NULL) {
			if (post_ok(a, u, NULL, &alt, why, "alternate chain", err, errlen) != DEED_OK)
				continue;
			if (chain_matches(alt.raw, o->preferred_chain)) {
				chosen = alt.raw;
				break;
			}
			acme_resp_cleanup(&alt);
		}
	}
	if (chosen == NULL || strncmp(chosen, "-----BEGIN CERTIFICATE-----", 27) != 0 ||
	    (second = strstr(chosen + 27, "-----END CERTIFICATE-----")) == NULL) {
		deed_seterr(err, errlen, "%s: the server sent no PEM certificate chain", url);
		rc = fail(why, ISSUE_FAIL_SERVER, DEED_EMALFORMED);
		goto out;
	}
	second += strlen("-----END CERTIFICATE-----");
	while (*second == '\r' || *second == '\n')
		second++;
	res->cert_pem = malloc((size_t)(second - chosen) + 2);
	res->chain_pem = strdup(second);
	res->cert_url = strdup(url);
	if (res->cert_pem == NULL || res->chain_pem == NULL || res->cert_url == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	memcpy(res->cert_pem, chosen, (size_t)(second - chosen));
	res->cert_pem[second - chosen] = '\0';
	if (res->cert_pem[second - chosen - 1] != '\n')
		strcat(res->cert_pem, "\n");
	rc = DEED_OK;
out:
	acme_resp_cleanup(&alt);
	acme_resp_cleanup(&r);
	return rc;
}

int
issue_run(struct acme *a, const char *thumbprint, const char *account_url,
	  const struct issue_opts *o, struct issue_result *res, enum issue_fail *why, char *err,
	  size_t errlen)
{
	struct pending *p = NULL;
	struct acme_resp r, ord;
	const json_t *azs, *u;
	char order_url[1024], finalize[1024], *payload = NULL, *csr = NULL;
	time_t deadline = mono() + (o->timeout_s > 0 ? o->timeout_s : 300);
	const char *st;
	size_t n = 0, i;
	bool ready;
	int rc;

	memset(res, 0, sizeof(*res));
	memset(&ord, 0, sizeof(ord));
	*why = ISSUE_FAIL_NONE;
	progress(o, "ordering", o->names[0]);
	if ((payload = order_payload(o)) == NULL)
		return DEED_ENOMEM;
	rc = post_ok(a, acme_dir(a, "newOrder"), payload, &r, why, "new order", err, errlen);
	free(payload);
	if (rc != DEED_OK)
		return rc;
	snprintf(order_url, sizeof(order_url), "%s", r.location);
	snprintf(finalize, sizeof(finalize), "%s",
		 djson_str(r.body, "finalize") ? djson_str(r.body, "finalize") : "");
	azs = json_object_get(r.body, "authorizations");
	if (order_url[0] == '\0' || finalize[0] == '\0' || !json_is_array(azs) ||
	    json_array_size(azs) > MAX_AUTHZ) {
		acme_resp_cleanup(&r);
		deed_seterr(err, errlen, "the new order has no Location, finalize or authorizations");
		return fail(why, ISSUE_FAIL_SERVER, DEED_EMALFORMED);
	}
	if ((p = calloc(json_array_size(azs) + 1, sizeof(*p))) == NULL) {
		acme_resp_cleanup(&r);
		return DEED_ENOMEM;
	}
	/* RFC 8555 §7.1.6: a ready order has every authorization valid already (reused, or
	 * dns-persist-01 validated just in time): straight to finalize. */
	st = djson_str(r.body, "status");
	ready = st != NULL && strcmp(st, "ready") == 0;
	if (ready) {
		progress(o, "order ready at once:", "every authorization is valid already");
	} else {
		json_array_foreach(azs, i, u) {
			bool needed = false;

			rc = prepare_authz(a, thumbprint, account_url, o, json_string_value(u),
					   &p[n], &needed, why, err, errlen);
			if (rc != DEED_OK)
				break;
			if (needed)
				n++;
		}
	}
	acme_resp_cleanup(&r);
	if (rc == DEED_OK && n > 0 && o->solver->ops->ready != NULL) {
		progress(o, "waiting", "for the challenge responses to be visible");
		if ((rc = o->solver->ops->ready(o->solver, err, errlen)) != DEED_OK)
			*why = ISSUE_FAIL_SOLVER;
	}
	for (i = 0; rc == DEED_OK && i < n; i++) {
		progress_authz(o, "validating", &p[i]);
		rc = post_ok(a, p[i].chall_url, "{}", &r, why, "challenge", err, errlen);
		/* A CA that validates at once answers with the outcome: a valid challenge makes
		 * its authorization valid (RFC 8555 §7.1.6), an invalid one carries its
		 * problem. Anything else (processing) is polled. */
		st = rc == DEED_OK ? djson_str(r.body, "status") : NULL;
		p[i].valid = st != NULL && strcmp(st, "valid") == 0;
		if (st != NULL && strcmp(st, "invalid") == 0)
			rc = validation_failed(&p[i], json_object_get(r.body, "error"), st, why, err,
					       errlen);
		acme_resp_cleanup(&r);
	}
	for (i = 0; rc == DEED_OK && i < n; i++) {
		if (p[i].valid)
			continue;
		progress_authz(o, "polling", &p[i]);
		rc = await_authz(a, &p[i], deadline, why, err, errlen);
	}
	/* Clean up whatever happened; a cleanup failure is reported only if all else went well.
	 * A hook learns whether validation succeeded. */
	solver_dns_hook_outcome(o->solver, rc == DEED_OK);
	for (i = 0; i < n; i++) {
		struct solver_challenge sc = challenge_of(o, &p[i], account_url);
		char cerr[256];

		if (p[i].presented && o->solver->ops->cleanup(o->solver, &sc, cerr, sizeof(cerr)) !=
					      DEED_OK && rc == DEED_OK) {
			deed_seterr(err, errlen, "cleanup: %s", cerr);
			rc = fail(why, ISSUE_FAIL_SOLVER, DEED_EIO);
		}
	}
	if (rc != DEED_OK)
		goto out;
	if (!ready) {
		rc = await_order(a, order_url, "ready", deadline, &ord, why, err, errlen);
		if (rc != DEED_OK)
			goto out;
		acme_resp_cleanup(&ord);
	}
	progress(o, "finalizing", o->names[0]);
	if ((rc = make_key_and_csr(o, &res->key_pem, &csr)) != DEED_OK) {
		deed_seterr(err, errlen, "cannot make the key and CSR: %s", deed_strerror(rc));
		*why = ISSUE_FAIL_LOCAL;
		goto out;
	}
	if ((rc = post_ok(a, finalize, csr, &ord, why, "finalize", err, errlen)) != DEED_OK)
		goto out;
	/* The answer is the order (RFC 8555 §7.4): valid already when the CA signs at once. */
	if (djson_str(ord.body, "status") == NULL ||
	    strcmp(djson_str(ord.body, "status"), "valid") != 0 ||
	    djson_str(ord.body, "certificate") == NULL) {
		acme_resp_cleanup(&ord);
		rc = await_order(a, order_url, "valid", deadline, &ord, why, err, errlen);
		if (rc != DEED_OK)
			goto out;
	}
	if (djson_str(ord.body, "certificate") == NULL) {
		deed_seterr(err, errlen, "the valid order has no certificate URL");
		rc = fail(why, ISSUE_FAIL_SERVER, DEED_EMALFORMED);
		goto out;
	}
	progress(o, "downloading", djson_str(ord.body, "certificate"));
	rc = download(a, o, djson_str(ord.body, "certificate"), res, why, err, errlen);
out:
	acme_resp_cleanup(&ord);
	free(csr);
	free(p);
	if (rc != DEED_OK)
		issue_result_cleanup(res);
	return rc;
}

void
issue_result_cleanup(struct issue_result *r)
{
	free(r->cert_pem);
	free(r->chain_pem);
	if (r->key_pem != NULL)
		explicit_bzero(r->key_pem, strlen(r->key_pem));
	free(r->key_pem);
	free(r->cert_url);
	memset(r, 0, sizeof(*r));
}
