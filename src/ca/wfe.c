#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "djson.h"
#include "error.h"
#include "jws.h"
#include "keypolicy.h"
#include "log.h"
#include "nonce.h"
#include "problem.h"
#include "readfile.h"
#include "wfe.h"

#define ORDERS_PER_PAGE 100
/* Connections at once; with a thread per connection, also the most HTTP threads. */
#define WFE_MAX_CONNECTIONS 4096
/* Stack of each HTTP thread: request handling (JSON, OpenSSL, SQLite, libunbound's validator
 * in a just-in-time lookup) stays far below it; 8 MiB, glibc's default, would reserve 32 GiB
 * of address space for WFE_MAX_CONNECTIONS threads. */
#define WFE_THREAD_STACK (1024 * 1024)

struct wfe {
	const struct ca_config *cfg;
	char base[512];
	struct ra *ra;
	struct sa *sa;
	struct signer *signer;
	struct nonce_store *nonces;
	char *directory; /* rendered once */
	struct MHD_Daemon *daemon;
	char *tls_cert, *tls_key;
};

/* What a POST handler gets once the JWS checked out. */
struct post {
	struct jws *jws;
	json_t *payload;          /* NULL for POST-as-GET */
	struct sa_account acct;   /* when signed with kid */
	bool have_acct;
};

enum key_mode { NEED_KID, NEED_JWK, EITHER_KEY };

/* --- replies --------------------------------------------------------------------------- */

static void
add_header(struct wfe_reply *rep, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
add_header(struct wfe_reply *rep, const char *name, const char *fmt, ...)
{
	struct wfe_header *h;
	va_list ap;

	if (rep->n_headers == WFE_MAX_HEADERS)
		return;
	h = &rep->headers[rep->n_headers++];
	snprintf(h->name, sizeof(h->name), "%s", name);
	va_start(ap, fmt);
	vsnprintf(h->value, sizeof(h->value), fmt, ap);
	va_end(ap);
}

const char *
wfe_reply_header(const struct wfe_reply *rep, const char *name)
{
	for (size_t i = 0; i < rep->n_headers; i++)
		if (strcasecmp(rep->headers[i].name, name) == 0)
			return rep->headers[i].value;
	return NULL;
}

void
wfe_reply_cleanup(struct wfe_reply *rep)
{
	free(rep->body);
	memset(rep, 0, sizeof(*rep));
}

static void
reply_json(struct wfe_reply *rep, int status, json_t *body)
{
	rep->status = status;
	rep->content_type = "application/json";
	rep->body = body != NULL ? djson_dump(body) : NULL;
	rep->body_len = rep->body != NULL ? strlen(rep->body) : 0;
	if (body != NULL && rep->body == NULL) {
		rep->status = 500;
		rep->content_type = NULL;
	}
	json_decref(body);
}

/* Send a problem document (taking it); NULL means an internal error. */
static void
reply_problem(struct wfe_reply *rep, json_t *prob)
{
	json_int_t status;

	if (prob == NULL)
		prob = prob_new(PROB_SERVER_INTERNAL, "internal error");
	status = json_integer_value(json_object_get(prob, "status"));
	reply_json(rep, status >= 400 && status <= 599 ? (int)status : 500, prob);
	rep->content_type = "application/problem+json";
}

static void
reply_prob(struct wfe_reply *rep, enum prob_type t, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
reply_prob(struct wfe_reply *rep, enum prob_type t, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	reply_problem(rep, prob_new(t, "%s", detail));
}

/* --- rendering ------------------------------------------------------------------------- */

static json_t *
rfc3339(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *
url_of(const struct wfe *w, const char *kind, int64_t id)
{
	char buf[640];

	snprintf(buf, sizeof(buf), "%s/acme/%s/%lld", w->base, kind, (long long)id);
	return json_string(buf);
}

static json_t *
parse_stored(const char *s)
{
	json_t *v = NULL;

	if (s != NULL)
		djson_parse(s, strlen(s), 1 << 20, &v, NULL, 0);
	return v;
}

static json_t *
render_account(const struct wfe *w, const struct sa_account *a)
{
	json_t *o = json_object();
	json_t *contact = parse_stored(a->contact_json);
	char buf[640];

	json_object_set_new(o, "status", json_string(sa_acct_status_str(a->status)));
	json_object_set_new(o, "contact", contact != NULL ? contact : json_array());
	json_object_set_new(o, "termsOfServiceAgreed", json_boolean(a->tos_agreed));
	snprintf(buf, sizeof(buf), "%s/acme/acct/%lld/orders", w->base, (long long)a->id);
	json_object_set_new(o, "orders", json_string(buf));
	json_object_set_new(o, "key", parse_stored(a->jwk_json));
	json_object_set_new(o, "createdAt", rfc3339(a->created_at));
	return o;
}

static json_t *
issuer_names(const struct wfe *w)
{
	json_t *a = json_array();

	for (size_t i = 0; i < w->cfg->n_caa_identities; i++)
		json_array_append_new(a, json_string(w->cfg->caa_identities[i]));
	return a;
}

/* account_id: the owner of the challenge's authorization. */
static json_t *
render_chall(const struct wfe *w, const struct sa_chall *c, int64_t account_id)
{
	json_t *o = json_object(), *v;

	json_object_set_new(o, "type", json_string(c->type));
	json_object_set_new(o, "url", url_of(w, "chall", c->id));
	json_object_set_new(o, "status", json_string(sa_chall_status_str(c->status)));
	if (strcmp(c->type, "dns-persist-01") == 0) {
		/* No token. deed serves draft -01 and -02 at once (protocol notes §4.13):
		 * -01's accounturi + issuer-domain-names, -02's issuerDomainNames. */
		json_object_set_new(o, "accounturi", url_of(w, "acct", account_id));
		json_object_set_new(o, "issuer-domain-names", issuer_names(w));
		json_object_set_new(o, "issuerDomainNames", issuer_names(w));
	} else {
		json_object_set_new(o, "token", json_string(c->token));
	}
	if (c->status == SA_CHALL_VALID && c->validated_at > 0)
		json_object_set_new(o, "validated", rfc3339(c->validated_at));
	if ((v = parse_stored(c->error_json)) != NULL)
		json_object_set_new(o, "error", v);
	if ((v = parse_stored(c->record_json)) != NULL)
		json_object_set_new(o, "validationRecord", v);
	return o;
}

static json_t *
render_authz(const struct wfe *w, const struct sa_authz *a)
{
	json_t *o = json_object(), *id = json_object(), *ch = json_array();

	json_object_set_new(id, "type", json_string("dns"));
	json_object_set_new(id, "value", json_string(a->identifier));
	json_object_set_new(o, "identifier", id);
	json_object_set_new(o, "status", json_string(ra_authz_status(a, time(NULL))));
	json_object_set_new(o, "expires", rfc3339(a->expires));
	/* Once decided, show only the challenge that decided it (RFC 8555 §7.1.4 lets the
	 * server drop the others). */
	for (size_t i = 0; i < a->n_challs; i++) {
		if (a->status != SA_AUTHZ_PENDING && a->challs[i].status == SA_CHALL_PENDING)
			continue;
		json_array_append_new(ch, render_chall(w, &a->challs[i], a->account_id));
	}
	json_object_set_new(o, "challenges", ch);
	if (a->wildcard)
		json_object_set_new(o, "wildcard", json_true());
	return o;
}

/* status: the order's status when the caller knows it, else NULL (derived here). */
static json_t *
render_order(struct wfe *w, const struct sa_order *ord, const char *st)
{
	json_t *o = json_object(), *ids = json_array(), *az = json_array(), *v;

	if (st == NULL)
		st = ra_order_status(w->ra, ord, time(NULL));

	json_object_set_new(o, "status", json_string(st));
	json_object_set_new(o, "expires", rfc3339(ord->expires));
	for (size_t i = 0; i < ord->n_identifiers; i++) {
		json_t *id = json_object();

		json_object_set_new(id, "type", json_string("dns"));
		json_object_set_new(id, "value", json_string(ord->identifiers[i]));
		json_array_append_new(ids, id);
	}
	json_object_set_new(o, "identifiers", ids);
	for (size_t i = 0; i < ord->n_authz; i++)
		json_array_append_new(az, url_of(w, "authz", ord->authz_ids[i]));
	json_object_set_new(o, "authorizations", az);
	json_object_set_new(o, "finalize", url_of(w, "finalize", ord->id));
	if (ord->status == SA_ORDER_VALID && ord->cert_id > 0)
		json_object_set_new(o, "certificate", url_of(w, "cert", ord->cert_id));
	if ((v = parse_stored(ord->error_json)) != NULL)
		json_object_set_new(o, "error", v);
	return o;
}

static json_t *
render_directory(const struct wfe *w)
{
	const struct ca_config *c = w->cfg;
	json_t *d = json_object(), *meta = json_object(), *caa = json_array();
	char buf[640];
	static const struct {
		const char *key, *path;
	} eps[] = {
		{"newNonce", "/acme/new-nonce"}, {"newAccount", "/acme/new-account"},
		{"newOrder", "/acme/new-order"}, {"revokeCert", "/acme/revoke-cert"},
		{"keyChange", "/acme/key-change"},
	};

	for (size_t i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", w->base, eps[i].path);
		json_object_set_new(d, eps[i].key, json_string(buf));
	}
	if (c->terms_of_service != NULL && c->terms_of_service[0] != '\0')
		json_object_set_new(meta, "termsOfService", json_string(c->terms_of_service));
	if (c->website != NULL && c->website[0] != '\0')
		json_object_set_new(meta, "website", json_string(c->website));
	for (size_t i = 0; i < c->n_caa_identities; i++)
		json_array_append_new(caa, json_string(c->caa_identities[i]));
	json_object_set_new(meta, "caaIdentities", caa);
	if (ra_offers(w->ra, "dns-persist-01")) {
		json_object_set_new(meta, "issuerDomainNames", issuer_names(w));
		json_object_set_new(meta, "accountHashPrefix", json_string(ra_hash_prefix(w->ra)));
	}
	json_object_set_new(meta, "externalAccountRequired", json_false());
	json_object_set_new(d, "meta", meta);
	return d;
}

/* --- request checks -------------------------------------------------------------------- */

static bool
is_jose_json(const char *ct)
{
	size_t n = strlen("application/jose+json");

	if (ct == NULL || strncasecmp(ct, "application/jose+json", n) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void
bad_alg(struct wfe_reply *rep, const char *detail)
{
	reply_problem(rep, prob_new(PROB_BAD_SIGNATURE_ALGORITHM, "%s", detail));
}

/*
 * RFC 8555 §6.2-6.5: everything a POST must satisfy before any handler looks at it. On
 * failure the reply is filled and false returned; nothing has changed but the nonce.
 */
static bool
authenticate(struct wfe *w, const struct wfe_request *req, enum key_mode mode, struct post *p,
	     struct wfe_reply *rep)
{
	struct jwk *key = NULL;
	char err[256] = "", url[640];
	int64_t id = 0;
	int rc;

	memset(p, 0, sizeof(*p));
	if (!is_jose_json(req->content_type)) {
		reply_prob(rep, PROB_UNSUPPORTED_MEDIA,
			   "Content-Type must be application/jose+json");
		return false;
	}
	if (req->body_too_big) {
		json_t *pr = prob_new(PROB_MALFORMED, "request body exceeds %d bytes",
				      JWS_MAX_BODY);

		json_object_set_new(pr, "status", json_integer(413));
		reply_problem(rep, pr);
		return false;
	}
	rc = jws_parse(req->body, req->body_len, &p->jws, err, sizeof(err));
	if (rc == DEED_EBADALG) {
		bad_alg(rep, err);
		return false;
	}
	if (rc == DEED_EBADKEY || rc == DEED_EUNSUPPORTED) {
		reply_prob(rep, PROB_BAD_PUBLIC_KEY, "%s", err);
		return false;
	}
	if (rc != DEED_OK) {
		reply_prob(rep, PROB_MALFORMED, "%s", err[0] ? err : "JWS does not parse");
		return false;
	}
	if (p->jws->nonce == NULL || nonce_redeem(w->nonces, p->jws->nonce) != DEED_OK) {
		reply_prob(rep, PROB_BAD_NONCE, "%s",
			   p->jws->nonce == NULL ? "JWS has no nonce"
						 : "JWS nonce is unknown, expired or used");
		goto fail;
	}
	snprintf(url, sizeof(url), "%s%s", w->base, req->path);
	if (p->jws->url == NULL || strcmp(p->jws->url, url) != 0) {
		reply_prob(rep, PROB_UNAUTHORIZED, "JWS url \"%.200s\" is not the request URL %s",
			   p->jws->url != NULL ? p->jws->url : "", url);
		goto fail;
	}
	if (p->jws->jwk != NULL && mode == NEED_KID) {
		reply_prob(rep, PROB_MALFORMED, "this resource needs \"kid\", not \"jwk\"");
		goto fail;
	}
	if (p->jws->kid != NULL && mode == NEED_JWK) {
		reply_prob(rep, PROB_MALFORMED, "this resource needs \"jwk\", not \"kid\"");
		goto fail;
	}
	if (p->jws->kid != NULL) {
		if (ra_account_id_from_url(w->ra, p->jws->kid, &id) != DEED_OK ||
		    w->sa->ops->account_get(w->sa, id, &p->acct) != DEED_OK) {
			reply_prob(rep, PROB_ACCOUNT_DOES_NOT_EXIST, "no account at \"%.200s\"",
				   p->jws->kid);
			goto fail;
		}
		p->have_acct = true;
		if (ra_account_key(w->ra, &p->acct, &key) != DEED_OK) {
			reply_problem(rep, NULL);
			goto fail;
		}
		/* An alg that does not fit the account's key is badSignatureAlgorithm, as it is
		 * for a jwk-signed request; a bad signature is malformed. */
		rc = jws_verify(p->jws, key);
		if (rc == DEED_EBADALG) {
			bad_alg(rep, "alg does not fit the account's key");
			goto fail;
		}
		if (rc != DEED_OK) {
			reply_prob(rep, PROB_MALFORMED, "JWS signature does not verify with the "
							"account's key");
			goto fail;
		}
		if (p->acct.status != SA_ACCT_VALID) {
			reply_prob(rep, PROB_UNAUTHORIZED, "account is %s",
				   sa_acct_status_str(p->acct.status));
			goto fail;
		}
	} else {
		if (keypolicy_check(p->jws->jwk->pkey, KEYPOLICY_ACCOUNT, err, sizeof(err)) !=
		    DEED_OK) {
			reply_prob(rep, PROB_BAD_PUBLIC_KEY, "%s", err);
			goto fail;
		}
		rc = jws_verify(p->jws, p->jws->jwk);
		if (rc == DEED_EBADALG) {
			bad_alg(rep, "alg does not fit the key");
			goto fail;
		}
		if (rc != DEED_OK) {
			reply_prob(rep, PROB_MALFORMED, "JWS signature does not verify");
			goto fail;
		}
	}
	if (!p->jws->post_as_get) {
		rc = djson_parse((const char *)p->jws->payload, p->jws->payload_len, JWS_MAX_BODY,
				 &p->payload, err, sizeof(err));
		if (rc != DEED_OK) {
			reply_prob(rep, PROB_MALFORMED, "payload: %s", err);
			goto fail;
		}
	}
	jwk_free(key);
	return true;
fail:
	jwk_free(key);
	jws_free(p->jws);
	p->jws = NULL;
	sa_account_cleanup(&p->acct);
	return false;
}

static void
post_cleanup(struct post *p)
{
	jws_free(p->jws);
	json_decref(p->payload);
	sa_account_cleanup(&p->acct);
}

static bool
require_post_as_get(const struct post *p, struct wfe_reply *rep)
{
	if (p->payload != NULL) {
		reply_prob(rep, PROB_MALFORMED, "this resource takes POST-as-GET (empty payload)");
		return false;
	}
	return true;
}

/* After the store looked up one of an account's objects: true when it was found and is the
 * requesting account's; otherwise the reply says why (404, 500, or 403 for another account's). */
static bool
owned(struct wfe_reply *rep, int rc, int64_t owner, const struct post *p, const char *what)
{
	if (rc == DEED_ENOTFOUND) {
		reply_prob(rep, PROB_NOT_FOUND, "no such %s", what);
		return false;
	}
	if (rc != DEED_OK) {
		reply_problem(rep, NULL);
		return false;
	}
	if (owner != p->acct.id) {
		reply_prob(rep, PROB_UNAUTHORIZED, "%s belongs to another account", what);
		return false;
	}
	return true;
}

/* --- handlers -------------------------------------------------------------------------- */

static void
do_new_account(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	struct post p;
	struct sa_account a = {0};
	json_t *prob = NULL;
	bool created = false;
	char url[640];

	if (!authenticate(w, req, NEED_JWK, &p, rep))
		return;
	if (p.payload == NULL) {
		reply_prob(rep, PROB_MALFORMED, "newAccount needs a JSON object payload");
		goto out;
	}
	if (ra_new_account(w->ra, p.jws->jwk, p.payload, &a, &created, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		goto out;
	}
	ra_account_url(w->ra, a.id, url, sizeof(url));
	reply_json(rep, created ? 201 : 200, render_account(w, &a));
	add_header(rep, "Location", "%s", url);
out:
	sa_account_cleanup(&a);
	post_cleanup(&p);
}

static void
do_account(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	json_t *prob = NULL;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (p.acct.id != id) {
		reply_prob(rep, PROB_UNAUTHORIZED, "the JWS kid is not this account");
		goto out;
	}
	if (ra_update_account(w->ra, &p.acct, p.payload, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		goto out;
	}
	reply_json(rep, 200, render_account(w, &p.acct));
out:
	post_cleanup(&p);
}

static void
do_orders_list(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	int64_t ids[ORDERS_PER_PAGE + 1], before = 0;
	size_t n = 0;
	json_t *list, *o;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (!require_post_as_get(&p, rep))
		goto out;
	if (p.acct.id != id) {
		reply_prob(rep, PROB_UNAUTHORIZED, "orders of another account");
		goto out;
	}
	if (req->cursor != NULL)
		before = strtoll(req->cursor, NULL, 10);
	if (w->sa->ops->order_list(w->sa, id, before, ids, ORDERS_PER_PAGE + 1, &n) != DEED_OK) {
		reply_problem(rep, NULL);
		goto out;
	}
	list = json_array();
	for (size_t i = 0; i < n && i < ORDERS_PER_PAGE; i++)
		json_array_append_new(list, url_of(w, "order", ids[i]));
	o = json_object();
	json_object_set_new(o, "orders", list);
	reply_json(rep, 200, o);
	if (n > ORDERS_PER_PAGE)
		add_header(rep, "Link", "<%s/acme/acct/%lld/orders?cursor=%lld>;rel=\"next\"",
			   w->base, (long long)id, (long long)ids[ORDERS_PER_PAGE - 1]);
out:
	post_cleanup(&p);
}

static void
do_key_change(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	struct post p;
	json_t *prob = NULL;
	int64_t owner = 0;
	char url[640];

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (p.payload == NULL) {
		reply_prob(rep, PROB_MALFORMED, "keyChange needs the inner JWS as payload");
		goto out;
	}
	if (ra_key_change(w->ra, &p.acct, p.jws->url, p.jws->payload, p.jws->payload_len,
			  &owner, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		if (owner != 0) {
			ra_account_url(w->ra, owner, url, sizeof(url));
			add_header(rep, "Location", "%s", url);
		}
		goto out;
	}
	reply_json(rep, 200, render_account(w, &p.acct));
out:
	post_cleanup(&p);
}

static void
do_new_order(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	struct post p;
	struct sa_order o = {0};
	const char *st = NULL;
	json_t *prob = NULL;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (ra_new_order(w->ra, &p.acct, p.payload, &o, &st, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		goto out;
	}
	reply_json(rep, 201, render_order(w, &o, st));
	add_header(rep, "Location", "%s/acme/order/%lld", w->base, (long long)o.id);
out:
	sa_order_cleanup(&o);
	post_cleanup(&p);
}

static void
do_order(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	struct sa_order o = {0};
	int rc;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (!require_post_as_get(&p, rep))
		goto out;
	rc = w->sa->ops->order_get(w->sa, id, &o);
	if (!owned(rep, rc, o.account_id, &p, "order"))
		goto out;
	reply_json(rep, 200, render_order(w, &o, NULL));
	if (o.status == SA_ORDER_PROCESSING)
		add_header(rep, "Retry-After", "1");
out:
	sa_order_cleanup(&o);
	post_cleanup(&p);
}

static void
do_finalize(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	struct sa_order o = {0};
	json_t *prob = NULL;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (p.payload == NULL) {
		reply_prob(rep, PROB_MALFORMED, "finalize needs a JSON object with \"csr\"");
		goto out;
	}
	if (ra_finalize(w->ra, &p.acct, id, p.payload, &o, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		goto out;
	}
	reply_json(rep, 200, render_order(w, &o, NULL));
	add_header(rep, "Location", "%s/acme/order/%lld", w->base, (long long)o.id);
out:
	sa_order_cleanup(&o);
	post_cleanup(&p);
}

static void
do_authz(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	struct sa_authz a = {0};
	json_t *prob = NULL;
	int rc;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (p.payload != NULL) {
		const char *st = djson_str(p.payload, "status");

		if (st == NULL || strcmp(st, "deactivated") != 0) {
			reply_prob(rep, PROB_MALFORMED,
				   "an authorization takes POST-as-GET or {\"status\":\"deactivated\"}");
			goto out;
		}
		if (ra_deactivate_authz(w->ra, &p.acct, id, &prob) != DEED_OK) {
			reply_problem(rep, prob);
			goto out;
		}
	}
	rc = w->sa->ops->authz_get(w->sa, id, &a);
	if (!owned(rep, rc, a.account_id, &p, "authorization"))
		goto out;
	reply_json(rep, 200, render_authz(w, &a));
out:
	sa_authz_cleanup(&a);
	post_cleanup(&p);
}

static void
do_chall(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	struct sa_chall c = {0};
	struct sa_authz a = {0};
	json_t *prob = NULL;
	int rc;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (p.payload != NULL) {
		/* RFC 8555 §7.5.1: the client says it is ready by POSTing an empty object. */
		if (!json_is_object(p.payload) || json_object_size(p.payload) != 0) {
			reply_prob(rep, PROB_MALFORMED, "respond to a challenge with {}");
			goto out;
		}
		if (ra_respond_challenge(w->ra, &p.acct, id, &c, &prob) != DEED_OK) {
			reply_problem(rep, prob);
			goto out;
		}
	} else {
		rc = w->sa->ops->chall_get(w->sa, id, &c);
		if (rc == DEED_OK && w->sa->ops->authz_get(w->sa, c.authz_id, &a) != DEED_OK)
			rc = DEED_EDB; /* a challenge without its authorization: our fault */
		if (!owned(rep, rc, a.account_id, &p, "challenge"))
			goto out;
	}
	reply_json(rep, 200, render_chall(w, &c, p.acct.id));
	add_header(rep, "Link", "<%s/acme/authz/%lld>;rel=\"up\"", w->base,
		   (long long)c.authz_id);
	if (c.status == SA_CHALL_PROCESSING)
		add_header(rep, "Retry-After", "1");
out:
	sa_authz_cleanup(&a);
	sa_chall_cleanup(&c);
	post_cleanup(&p);
}

/* A certificate's DER as a PEM block (RFC 7468: base64 in lines of 64), then chain; NUL-
 * terminated, *len bytes. NULL when out of memory. */
static char *
pem_chain(const uint8_t *der, size_t der_len, const char *chain, size_t *len)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----\n";
	static const char end[] = "-----END CERTIFICATE-----\n";
	size_t lines = (der_len + 47) / 48, chain_len = strlen(chain);
	size_t cap = sizeof(begin) + lines * 65 + sizeof(end) + chain_len + 1;
	char *out = malloc(cap), *o;

	if (out == NULL)
		return NULL;
	o = out + (sizeof(begin) - 1);
	memcpy(out, begin, sizeof(begin) - 1);
	for (size_t i = 0; i < der_len; i += 48) {
		size_t n = der_len - i < 48 ? der_len - i : 48;

		o += EVP_EncodeBlock((unsigned char *)o, der + i, (int)n);
		*o++ = '\n';
	}
	memcpy(o, end, sizeof(end) - 1);
	o += sizeof(end) - 1;
	memcpy(o, chain, chain_len + 1);
	*len = (size_t)(o - out) + chain_len;
	return out;
}

static void
do_cert(struct wfe *w, const struct wfe_request *req, int64_t id, struct wfe_reply *rep)
{
	struct post p;
	struct sa_cert c = {0};
	const char *chain = signer_chain_pem(w->signer);
	int rc;

	if (!authenticate(w, req, NEED_KID, &p, rep))
		return;
	if (!require_post_as_get(&p, rep))
		goto out;
	rc = w->sa->ops->cert_get(w->sa, id, &c);
	if (rc == DEED_OK && c.status != SA_CERT_ISSUED)
		rc = DEED_ENOTFOUND; /* reserved or abandoned: nothing to download */
	if (!owned(rep, rc, c.account_id, &p, "certificate"))
		goto out;
	/* RFC 8555 §7.4.2: PEM chain, end-entity first. The stored DER was made by our signer,
	 * so it is written as PEM without being parsed again. */
	if ((rep->body = pem_chain(c.der, c.der_len, chain, &rep->body_len)) == NULL) {
		reply_problem(rep, NULL);
		goto out;
	}
	rep->status = 200;
	rep->content_type = "application/pem-certificate-chain";
out:
	sa_cert_cleanup(&c);
	post_cleanup(&p);
}

static void
do_revoke(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	struct post p;
	json_t *prob = NULL;

	if (!authenticate(w, req, EITHER_KEY, &p, rep))
		return;
	if (p.payload == NULL) {
		reply_prob(rep, PROB_MALFORMED, "revokeCert needs a JSON object payload");
		goto out;
	}
	if (ra_revoke(w->ra, p.have_acct ? &p.acct : NULL, p.have_acct ? NULL : p.jws->jwk,
		      p.payload, &prob) != DEED_OK) {
		reply_problem(rep, prob);
		goto out;
	}
	rep->status = 200;
out:
	post_cleanup(&p);
}

/* --- routing --------------------------------------------------------------------------- */

/* Match "/acme/<kind>/<id>" (suffix NULL) or "/acme/<kind>/<id><suffix>". */
static bool
match_id(const char *path, const char *kind, const char *suffix, int64_t *id)
{
	char prefix[64];
	size_t n;
	const char *p;
	char *end;
	long long v;

	n = (size_t)snprintf(prefix, sizeof(prefix), "/acme/%s/", kind);
	if (strncmp(path, prefix, n) != 0)
		return false;
	p = path + n;
	if (*p < '1' || *p > '9')
		return false;
	v = strtoll(p, &end, 10);
	if (v <= 0)
		return false;
	if (suffix == NULL ? *end != '\0' : strcmp(end, suffix) != 0)
		return false;
	*id = v;
	return true;
}

static void
route(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	const char *m = req->method, *path = req->path;
	bool get = strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
	bool post = strcmp(m, "POST") == 0;
	int64_t id = 0;

	if (strcmp(path, "/directory") == 0) {
		if (!get) {
			reply_prob(rep, PROB_METHOD_NOT_ALLOWED, "use GET");
			add_header(rep, "Allow", "GET, HEAD");
			return;
		}
		rep->status = 200;
		rep->content_type = "application/json";
		rep->body = strdup(w->directory);
		rep->body_len = rep->body != NULL ? strlen(rep->body) : 0;
		return;
	}
	if (strcmp(path, "/acme/new-nonce") == 0) {
		/* RFC 8555 §7.2: HEAD answers 200, GET 204. */
		if (!get) {
			reply_prob(rep, PROB_METHOD_NOT_ALLOWED, "use HEAD or GET");
			add_header(rep, "Allow", "GET, HEAD");
			return;
		}
		rep->status = strcmp(m, "HEAD") == 0 ? 200 : 204;
		add_header(rep, "Cache-Control", "no-store");
		return;
	}
	if (!post) {
		bool known = strcmp(path, "/acme/new-account") == 0 ||
			     strcmp(path, "/acme/new-order") == 0 ||
			     strcmp(path, "/acme/revoke-cert") == 0 ||
			     strcmp(path, "/acme/key-change") == 0 || strncmp(path, "/acme/", 6) == 0;

		if (known) {
			/* RFC 8555 §6.3: resources are fetched with POST-as-GET. */
			reply_prob(rep, PROB_METHOD_NOT_ALLOWED,
				   "use POST (POST-as-GET to fetch a resource)");
			add_header(rep, "Allow", "POST");
		} else {
			reply_prob(rep, PROB_NOT_FOUND, "no such resource");
		}
		return;
	}
	if (strcmp(path, "/acme/new-account") == 0)
		do_new_account(w, req, rep);
	else if (strcmp(path, "/acme/new-order") == 0)
		do_new_order(w, req, rep);
	else if (strcmp(path, "/acme/revoke-cert") == 0)
		do_revoke(w, req, rep);
	else if (strcmp(path, "/acme/key-change") == 0)
		do_key_change(w, req, rep);
	else if (match_id(path, "acct", "/orders", &id))
		do_orders_list(w, req, id, rep);
	else if (match_id(path, "acct", NULL, &id))
		do_account(w, req, id, rep);
	else if (match_id(path, "order", NULL, &id))
		do_order(w, req, id, rep);
	else if (match_id(path, "finalize", NULL, &id))
		do_finalize(w, req, id, rep);
	else if (match_id(path, "authz", NULL, &id))
		do_authz(w, req, id, rep);
	else if (match_id(path, "chall", NULL, &id))
		do_chall(w, req, id, rep);
	else if (match_id(path, "cert", NULL, &id))
		do_cert(w, req, id, rep);
	else
		reply_prob(rep, PROB_NOT_FOUND, "no such resource");
}

void
wfe_handle(struct wfe *w, const struct wfe_request *req, struct wfe_reply *rep)
{
	char nonce[NONCE_LEN + 1];

	memset(rep, 0, sizeof(*rep));
	route(w, req, rep);
	/* RFC 8555 §6.5: a fresh nonce on every response, errors included, so a client can
	 * retry after badNonce at once. */
	if (nonce_issue(w->nonces, nonce) == DEED_OK)
		add_header(rep, "Replay-Nonce", "%s", nonce);
	add_header(rep, "Link", "<%s/directory>;rel=\"index\"", w->base);
	if (strcmp(req->method, "POST") == 0 && wfe_reply_header(rep, "Cache-Control") == NULL)
		add_header(rep, "Cache-Control", "no-store");
}

int
wfe_new(const struct ca_config *cfg, const char *base_url, struct ra *ra, struct sa *sa,
	struct signer *signer, struct wfe **out, char *err, size_t errlen)
{
	struct wfe *w;
	json_t *d;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return DEED_ENOMEM;
	w->cfg = cfg;
	snprintf(w->base, sizeof(w->base), "%s", base_url);
	w->ra = ra;
	w->sa = sa;
	w->signer = signer;
	if (nonce_store_new(&w->nonces) != DEED_OK) {
		snprintf(err, errlen, "cannot create the nonce store");
		free(w);
		return DEED_ECRYPTO;
	}
	d = render_directory(w);
	w->directory = djson_dump(d);
	json_decref(d);
	if (w->directory == NULL) {
		wfe_free(w);
		return DEED_ENOMEM;
	}
	*out = w;
	return DEED_OK;
}

/* --- libmicrohttpd glue ---------------------------------------------------------------- */

struct conn {
	char *body;
	size_t len;
	bool too_big;
};

static enum MHD_Result
queue_reply(struct MHD_Connection *c, struct wfe_reply *rep)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(rep->body_len, rep->body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL)
		return MHD_NO;
	rep->body = NULL; /* MHD owns it now */
	if (rep->content_type != NULL)
		MHD_add_response_header(r, "Content-Type", rep->content_type);
	for (size_t i = 0; i < rep->n_headers; i++)
		MHD_add_response_header(r, rep->headers[i].name, rep->headers[i].value);
	ret = MHD_queue_response(c, (unsigned int)rep->status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct wfe *w = cls;
	struct conn *st = *con_cls;
	struct wfe_request req = {0};
	struct wfe_reply rep;
	enum MHD_Result ret;

	if (st == NULL) {
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");

		if ((st = calloc(1, sizeof(*st))) == NULL)
			return MHD_NO;
		*con_cls = st;
		/* A body announced larger than any request we take is refused before it is read:
		 * the 413 goes out now and the connection closes, instead of draining a gigabyte. */
		if (cl == NULL || strtoull(cl, NULL, 10) <= JWS_MAX_BODY)
			return MHD_YES;
		st->too_big = true;
	}
	if (*upload_size > 0) {
		/* Keep at most JWS_MAX_BODY bytes; beyond that, note it and drop the rest. */
		if (!st->too_big && st->len + *upload_size <= JWS_MAX_BODY) {
			char *nb = realloc(st->body, st->len + *upload_size + 1);

			if (nb == NULL)
				return MHD_NO;
			st->body = nb;
			memcpy(st->body + st->len, upload, *upload_size);
			st->len += *upload_size;
			st->body[st->len] = '\0';
		} else {
			st->too_big = true;
		}
		*upload_size = 0;
		return MHD_YES;
	}
	req.method = method;
	req.path = url;
	req.cursor = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
	req.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
	req.body = st->body != NULL ? st->body : "";
	req.body_len = st->len;
	req.body_too_big = st->too_big;
	wfe_handle(w, &req, &rep);
	ret = queue_reply(c, &rep);
	wfe_reply_cleanup(&rep);
	return ret;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct conn *st = *con_cls;

	if (st != NULL) {
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

static int
parse_listen(const char *listen, struct sockaddr_storage *ss, char *err, size_t errlen)
{
	char host[128];
	const char *colon;
	long port;
	char *end;

	memset(ss, 0, sizeof(*ss));
	if (listen[0] == '[') {
		const char *rb = strchr(listen, ']');

		if (rb == NULL || rb[1] != ':' || (size_t)(rb - listen - 1) >= sizeof(host))
			goto bad;
		memcpy(host, listen + 1, (size_t)(rb - listen - 1));
		host[rb - listen - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(listen, ':');
		if (colon == NULL || (size_t)(colon - listen) >= sizeof(host))
			goto bad;
		memcpy(host, listen, (size_t)(colon - listen));
		host[colon - listen] = '\0';
	}
	port = strtol(colon + 1, &end, 10);
	if (*end != '\0' || port < 1 || port > 65535)
		goto bad;
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		((struct sockaddr_in *)ss)->sin_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		return DEED_OK;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		return DEED_OK;
	}
bad:
	snprintf(err, errlen, "listen address \"%s\" is not IP:PORT or [IPv6]:PORT", listen);
	return DEED_EINVAL;
}

/*
 * threads > 0: a pool of that many threads, each serving the connections it accepted, one
 * request at a time. 0: a thread for each connection (the default). A request that waits
 * (for the disk, or for a just-in-time DNS lookup) then holds up its own connection only,
 * not the others a pool thread happens to serve: with 16 clients on 8 pool threads, the way
 * connections fell on threads made throughput vary by a quarter from one run to the next, and
 * one slow DNS server could stall a pool thread for validation_timeout.
 */
int
wfe_listen(struct wfe *w, const char *listen, const char *cert_pem, const char *key_pem,
	   int threads, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS;
	int rc;

	if ((rc = parse_listen(listen, &ss, err, errlen)) != DEED_OK)
		return rc;
	if ((rc = deed_read_file(cert_pem, 1 << 20, &w->tls_cert, NULL, err, errlen)) != DEED_OK ||
	    (rc = deed_read_file(key_pem, 1 << 20, &w->tls_key, NULL, err, errlen)) != DEED_OK)
		return rc;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	/* A thread per connection watches its one socket with poll; a pool thread watches
	 * many with epoll. */
	flags |= threads > 0 ? MHD_USE_EPOLL : MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
	w->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, on_request, w,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_HTTPS_MEM_CERT, w->tls_cert,
		MHD_OPTION_HTTPS_MEM_KEY, w->tls_key,
		MHD_OPTION_HTTPS_PRIORITIES, "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2",
		/* 1 is MHD's "no pool": the listening thread serves every connection */
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(threads > 0 ? threads : 1),
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)30,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)WFE_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_THREAD_STACK_SIZE, (size_t)WFE_THREAD_STACK,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, w,
		MHD_OPTION_END);
	if (w->daemon == NULL) {
		snprintf(err, errlen, "cannot serve HTTPS on %s (address in use, or bad TLS key?)",
			 listen);
		return DEED_EIO;
	}
	return DEED_OK;
}

void
wfe_free(struct wfe *w)
{
	if (w == NULL)
		return;
	if (w->daemon != NULL)
		MHD_stop_daemon(w->daemon);
	nonce_store_free(w->nonces);
	free(w->directory);
	free(w->tls_cert);
	free(w->tls_key);
	free(w);
}
