/*
 * One virtual client: its own account key, account and connection, driving one issuance after
 * another through the ACME flow of RFC 8555 §7.4 (newOrder, authorization, challenge, poll,
 * finalize, download). Every HTTP request is timed into the client's own statistics, so the
 * threads share nothing on the hot path but two atomic counters.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "b64url.h"
#include "bench.h"
#include "csr.h"
#include "djson.h"
#include "error.h"
#include "jws.h"
#include "solver.h"

#define NAME_MAX_ 253
#define POLL_DEADLINE_US (120 * 1000000LL) /* an authorization or order stuck this long fails */
#define URN_PREFIX "urn:ietf:params:acme:error:"

int64_t
bench_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
sleep_us(int64_t us)
{
	struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};

	while (us > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- errors ----------------------------------------------------------------------------- */

/* Count a failed step as "<step>: <problem type>" (or HTTP status, or transport error), and
 * print the first of each kind in full: the detail is what one needs to fix a setup. */
static void
fail_step(struct bench_client *c, const char *step, const json_t *problem, const char *other)
{
	char label[BENCH_ERR_LABEL];
	const char *type = djson_str(problem, "type"), *detail = djson_str(problem, "detail");
	bool first = true;

	if (type != NULL && strncmp(type, URN_PREFIX, strlen(URN_PREFIX)) == 0)
		type += strlen(URN_PREFIX);
	if (type != NULL)
		snprintf(label, sizeof(label), "%s: %s", step, type);
	else if (other != NULL)
		snprintf(label, sizeof(label), "%s: %s", step, other);
	else
		snprintf(label, sizeof(label), "%s: HTTP %ld", step, c->http.status);
	for (size_t i = 0; i < c->st.n_errs; i++)
		first = first && strcmp(c->st.errs[i].label, label) != 0;
	/* Transport failures are counted by kind; their text has figures (timeouts, bytes). */
	if (detail == NULL && c->http.err[0] != '\0' && other != NULL &&
	    strncmp(other, "transport:", 10) == 0)
		detail = c->http.err;
	if (first)
		fprintf(stderr, "deed-bench: client %d: %s%s%s\n", c->id, label,
			detail != NULL ? ": " : "", detail != NULL ? detail : "");
	bench_stats_error(&c->st, label);
}

/* --- requests --------------------------------------------------------------------------- */

static void
record(struct bench_client *c, enum bench_kind k, int64_t t0)
{
	if (c->recording || k == BENCH_K_ACCOUNT)
		bench_stats_add(&c->st, k, bench_now_us() - t0);
}

static bool
is_bad_nonce(const json_t *body, long status)
{
	const char *t = djson_str(body, "type");

	return status == 400 && t != NULL && strcmp(t, URN_PREFIX "badNonce") == 0;
}

/*
 * Signed POST of payload (NULL = POST-as-GET) to url, with the nonce of the last response, or
 * a fresh one from newNonce when there is none. RFC 8555 §6.5: a badNonce answer carries a
 * fresh nonce and one retry with it is allowed; it is counted. *body gets the parsed JSON (or
 * NULL). Returns true when the server answered 2xx; otherwise the failure is counted under
 * step and *body holds the problem, if any.
 */
static bool
post(struct bench_client *c, enum bench_kind k, const char *step, const char *url,
     const char *payload, json_t **body)
{
	struct bench_http *h = &c->http;
	char *jws = NULL;
	int64_t t0;
	int rc;

	*body = NULL;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (h->nonce[0] == '\0') {
			t0 = bench_now_us();
			if ((rc = bench_http_head(h, c->b->new_nonce)) != DEED_OK ||
			    h->nonce[0] == '\0') {
				char what[BENCH_ERR_LABEL];

				snprintf(what, sizeof(what), "transport: %.60s", h->kind);
				fail_step(c, "newNonce", NULL,
					  rc != DEED_OK ? what : "no Replay-Nonce");
				return false;
			}
			record(c, BENCH_K_NONCE, t0);
		}
		rc = jws_sign(c->acct, c->kid[0] != '\0' ? c->kid : NULL, h->nonce, url,
			      payload != NULL ? payload : "", &jws);
		h->nonce[0] = '\0'; /* used, whatever happens */
		if (rc != DEED_OK) {
			fail_step(c, step, NULL, "cannot sign");
			return false;
		}
		t0 = bench_now_us();
		rc = bench_http_post(h, url, jws, strlen(jws));
		free(jws);
		jws = NULL;
		if (rc != DEED_OK) {
			char what[BENCH_ERR_LABEL];

			snprintf(what, sizeof(what), "transport: %.60s", h->kind);
			fail_step(c, step, NULL, what);
			return false;
		}
		record(c, k, t0);
		if (h->rx.len > 0 && strstr(h->ctype, "json") != NULL)
			djson_parse(h->rx.p, h->rx.len, BENCH_BODY_MAX, body, NULL, 0);
		if (attempt == 0 && is_bad_nonce(*body, h->status)) {
			c->st.bad_nonce++;
			json_decref(*body);
			*body = NULL;
			continue;
		}
		break;
	}
	if (h->status >= 200 && h->status < 300)
		return true;
	fail_step(c, step, *body, NULL);
	return false;
}

/* Wait before the next poll: exponential from poll_min_ms to poll_max_ms, or what the
 * server asked for (Retry-After) when told to honour it. */
static void
poll_wait(struct bench_client *c, int *interval_ms)
{
	const struct bench_opts *o = c->b->o;
	int64_t us = (int64_t)*interval_ms * 1000;

	if (o->honor_retry_after && c->http.retry_after > 0)
		us = (int64_t)(c->http.retry_after > 10 ? 10 : c->http.retry_after) * 1000000;
	sleep_us(us);
	*interval_ms = *interval_ms * 2 > o->poll_max_ms ? o->poll_max_ms : *interval_ms * 2;
}

/* POST-as-GET url until its status is none of the waiting states; *body gets the last one. */
static bool
poll_until(struct bench_client *c, const char *step, const char *url, const char *wait1,
	   const char *wait2, json_t **body)
{
	int interval = c->b->o->poll_min_ms;
	int64_t deadline = bench_now_us() + POLL_DEADLINE_US;
	const char *st;

	*body = NULL;
	for (;;) {
		poll_wait(c, &interval);
		c->st.polls += c->recording;
		if (!post(c, BENCH_K_POLL, step, url, NULL, body))
			return false;
		st = djson_str(*body, "status");
		if (st == NULL || (strcmp(st, wait1) != 0 && (wait2 == NULL || strcmp(st, wait2) != 0)))
			return true;
		if (bench_now_us() > deadline) {
			fail_step(c, step, NULL, "still waiting after 120 s");
			return false;
		}
		json_decref(*body);
		*body = NULL;
	}
}

/* --- setup ------------------------------------------------------------------------------ */

static int
new_account(struct bench_client *c)
{
	const struct bench *b = c->b;
	json_t *body = NULL;
	int64_t t0 = bench_now_us();
	bool ok;

	ok = post(c, BENCH_K_ACCOUNT, "newAccount", b->new_account,
		  b->tos ? "{\"termsOfServiceAgreed\":true}" : "{}", &body);
	json_decref(body);
	if (!ok || c->http.location[0] == '\0') {
		snprintf(c->why, sizeof(c->why), "newAccount at %.300s: %s", b->new_account,
			 ok ? "no Location" : c->st.n_errs > 0 ? c->st.errs[0].label : "failed");
		return DEED_EMALFORMED;
	}
	snprintf(c->kid, sizeof(c->kid), "%s", c->http.location);
	c->setup_us = bench_now_us() - t0;
	return DEED_OK;
}

static int
setup(struct bench_client *c)
{
	const struct bench_opts *o = c->b->o;
	struct solver_dns_opts dns = {0};
	char why[256];
	int rc;

	if ((rc = bench_http_init(&c->http, o->ca_bundle, o->insecure)) != DEED_OK) {
		snprintf(c->why, sizeof(c->why), "cannot set up libcurl");
		return rc;
	}
	if ((rc = jwk_generate(o->key_type, &c->acct)) != DEED_OK ||
	    (rc = jwk_generate(o->cert_key_type, &c->cert_key)) != DEED_OK) {
		snprintf(c->why, sizeof(c->why), "cannot generate a key: %s", deed_strerror(rc));
		return rc;
	}
	if (o->mode == BENCH_DNS01) {
		dns.server = o->dns_server;
		dns.tsig_file = o->tsig_key;
		dns.zone = o->dns_zone;
		dns.ttl = o->ttl;
		if ((rc = solver_dns_rfc2136_new(&dns, &c->dns, why, sizeof(why))) != DEED_OK) {
			snprintf(c->why, sizeof(c->why), "%s", why);
			return rc;
		}
	}
	return new_account(c);
}

/* --- one issuance ----------------------------------------------------------------------- */

static void
order_name(struct bench_client *c, uint64_t seq, char name[NAME_MAX_ + 1])
{
	if (c->b->o->unique_names)
		snprintf(name, NAME_MAX_ + 1, "c%d-%llu-%s.%.200s", c->id, (unsigned long long)seq,
			 c->b->runid, c->zone);
	else
		snprintf(name, NAME_MAX_ + 1, "c%d.%.200s", c->id, c->zone);
}

/* The challenge object of type in an authorization, or NULL. */
static const json_t *
find_challenge(const json_t *authz, const char *type)
{
	const json_t *ch = json_object_get(authz, "challenges"), *v;
	size_t i;

	json_array_foreach(ch, i, v) {
		const char *t = djson_str(v, "type");

		if (t != NULL && strcmp(t, type) == 0)
			return v;
	}
	return NULL;
}

static const char *
mode_challenge(enum bench_mode m)
{
	return m == BENCH_PERSIST ? "dns-persist-01" : m == BENCH_DNS01 ? "dns-01" : "http-01";
}

/* Make the challenge answerable: a token served (http-01) or a TXT record added (dns-01). */
static bool
present(struct bench_client *c, struct solver_challenge *sc, bool undo)
{
	struct solver *s = c->b->o->mode == BENCH_HTTP01 ? c->b->http : c->dns;
	char why[512];
	int64_t t0 = bench_now_us();
	int rc;

	if (s == NULL)
		return true; /* dns-persist-01: the record is already there */
	rc = undo ? s->ops->cleanup(s, sc, why, sizeof(why))
		  : s->ops->present(s, sc, why, sizeof(why));
	if (c->b->o->mode == BENCH_DNS01)
		record(c, BENCH_K_DNS, t0);
	if (rc != DEED_OK) {
		fprintf(stderr, "deed-bench: client %d: %s\n", c->id, why);
		fail_step(c, undo ? "cleanup" : "present", NULL, deed_strerror(rc));
		return false;
	}
	return true;
}

/* One authorization: valid already (reuse, or dns-persist-01 just in time), or answer the
 * mode's challenge and poll until it is decided. */
static bool
do_authz(struct bench_client *c, const char *url, const char *name)
{
	const char *type = mode_challenge(c->b->o->mode), *st, *curl_, *token;
	char ka[SOLVER_KEYAUTHZ_MAX + 1], chall_url[BENCH_URL_MAX];
	struct solver_challenge sc = {0};
	json_t *az = NULL, *r = NULL;
	const json_t *ch;
	bool ok = false, presented = false;

	if (!post(c, BENCH_K_AUTHZ, "authz", url, NULL, &az))
		goto out;
	st = djson_str(az, "status");
	if (st != NULL && strcmp(st, "valid") == 0) {
		c->st.authz_valid_at_order += c->recording;
		ok = true;
		goto out;
	}
	if (st == NULL || strcmp(st, "pending") != 0) {
		fail_step(c, "authz", NULL, st != NULL ? st : "no status");
		goto out;
	}
	if ((ch = find_challenge(az, type)) == NULL || (curl_ = djson_str(ch, "url")) == NULL) {
		fail_step(c, "authz", NULL, "challenge type not offered");
		goto out;
	}
	snprintf(chall_url, sizeof(chall_url), "%s", curl_);
	token = djson_str(ch, "token");
	sc.type = type;
	sc.identifier = name;
	sc.account_url = c->kid;
	if (c->b->o->mode != BENCH_PERSIST) {
		if (token == NULL) {
			fail_step(c, "authz", NULL, "challenge without token");
			goto out;
		}
		snprintf(ka, sizeof(ka), "%s.%s", token, c->acct->thumbprint);
		sc.token = token;
		sc.key_authz = ka;
		if (!present(c, &sc, false))
			goto out;
		presented = true;
	}
	if (!post(c, BENCH_K_CHALL, "challenge", chall_url, "{}", &r))
		goto out;
	/* A server that validates at once answers with the outcome: a valid challenge makes
	 * the authorization valid (RFC 8555 §7.1.6), an invalid one carries its error. */
	st = djson_str(r, "status");
	if (st != NULL && strcmp(st, "valid") == 0) {
		ok = true;
		goto out;
	}
	if (st != NULL && strcmp(st, "invalid") == 0) {
		fail_step(c, "validation", json_object_get(r, "error"), st);
		goto out;
	}
	json_decref(r);
	r = NULL;
	if (!poll_until(c, "poll authz", url, "pending", "processing", &r))
		goto out;
	st = djson_str(r, "status");
	if (st == NULL || strcmp(st, "valid") != 0) {
		/* The challenge's error says why (RFC 8555 §7.1.6). */
		const json_t *done = find_challenge(r, type);

		fail_step(c, "validation", json_object_get(done, "error"),
			  st != NULL ? st : "no status");
		goto out;
	}
	ok = true;
out:
	if (presented)
		ok = present(c, &sc, true) && ok;
	json_decref(az);
	json_decref(r);
	return ok;
}

/* {"csr": base64url(DER)} for name, made with the client's certificate key. */
static char *
csr_payload(struct bench_client *c, const char *name)
{
	const char *names[1] = {name};
	uint8_t *der = NULL;
	size_t derlen = 0;
	char *b64 = NULL, *out = NULL;
	int n;

	if (csr_create(c->cert_key->pkey, names, 1, &der, &derlen) != DEED_OK ||
	    b64url_encode(der, derlen, &b64) != DEED_OK)
		goto out;
	n = snprintf(NULL, 0, "{\"csr\":\"%s\"}", b64);
	if ((out = malloc((size_t)n + 1)) != NULL)
		snprintf(out, (size_t)n + 1, "{\"csr\":\"%s\"}", b64);
out:
	free(der);
	free(b64);
	return out;
}

/*
 * --verify: the chain parses, the leaf's only SAN is name, its key is ours, and each
 * certificate is signed by the next one's key.
 */
static bool
verify_chain(struct bench_client *c, const char *pem, size_t len, const char *name)
{
	X509 *certs[8] = {0};
	GENERAL_NAMES *sans = NULL;
	BIO *bio = BIO_new_mem_buf(pem, (int)len);
	const char *why = NULL;
	size_t n = 0;

	while (bio != NULL && n < 8 && (certs[n] = PEM_read_bio_X509(bio, NULL, NULL, NULL)))
		n++;
	if (n == 0) {
		why = "no certificate";
		goto out;
	}
	sans = X509_get_ext_d2i(certs[0], NID_subject_alt_name, NULL, NULL);
	if (sans == NULL || sk_GENERAL_NAME_num(sans) != 1) {
		why = "SANs are not exactly the ordered name";
		goto out;
	}
	{
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(sans, 0);
		const unsigned char *s;

		if (g->type != GEN_DNS || (s = ASN1_STRING_get0_data(g->d.dNSName)) == NULL ||
		    (size_t)ASN1_STRING_length(g->d.dNSName) != strlen(name) ||
		    memcmp(s, name, strlen(name)) != 0) {
			why = "SAN is not the ordered name";
			goto out;
		}
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(certs[0]), c->cert_key->pkey) != 1) {
		why = "leaf key is not the CSR's";
		goto out;
	}
	for (size_t i = 0; i + 1 < n; i++) {
		if (X509_verify(certs[i], X509_get0_pubkey(certs[i + 1])) != 1) {
			why = "chain does not verify";
			goto out;
		}
	}
out:
	for (size_t i = 0; i < n; i++)
		X509_free(certs[i]);
	GENERAL_NAMES_free(sans);
	BIO_free(bio);
	if (why != NULL)
		fail_step(c, "verify", NULL, why);
	return why == NULL;
}

/* Finalize, waiting for the order to become ready or valid as needed. *order is the order
 * object after finalize (valid), with its certificate URL. */
static bool
do_finalize(struct bench_client *c, const char *order_url, const char *fin_url,
	    const char *name, json_t **order)
{
	char *own = NULL;
	const char *payload = c->csr_payload, *st, *t;
	bool ok = false;

	*order = NULL;
	if (payload == NULL && (payload = own = csr_payload(c, name)) == NULL) {
		fail_step(c, "finalize", NULL, "cannot make the CSR");
		return false;
	}
	if (!c->b->o->unique_names && c->csr_payload == NULL) {
		c->csr_payload = own; /* the name never changes: one CSR for the run */
		own = NULL;
	}
	if (!post(c, BENCH_K_FINALIZE, "finalize", fin_url, payload, order)) {
		/* Some servers make "ready" visible only when the order is fetched again. */
		t = djson_str(*order, "type");
		if (t == NULL || strcmp(t, URN_PREFIX "orderNotReady") != 0)
			goto out;
		json_decref(*order);
		if (!poll_until(c, "poll order", order_url, "pending", NULL, order))
			goto out;
		json_decref(*order);
		if (!post(c, BENCH_K_FINALIZE, "finalize", fin_url, payload, order))
			goto out;
	}
	st = djson_str(*order, "status");
	if (st != NULL && strcmp(st, "processing") == 0) {
		json_decref(*order);
		if (!poll_until(c, "poll order", order_url, "processing", NULL, order))
			goto out;
		st = djson_str(*order, "status");
	}
	if (st == NULL || strcmp(st, "valid") != 0 || djson_str(*order, "certificate") == NULL) {
		fail_step(c, "finalize", json_object_get(*order, "error"),
			  st != NULL ? st : "no status");
		goto out;
	}
	ok = true;
out:
	free(own);
	return ok;
}

static bool
issue_one(struct bench_client *c, uint64_t seq)
{
	char name[NAME_MAX_ + 1], payload[NAME_MAX_ + 64], order_url[BENCH_URL_MAX];
	char fin_url[BENCH_URL_MAX], cert_url[BENCH_URL_MAX];
	json_t *order = NULL, *fin = NULL, *cert = NULL;
	const json_t *authzs, *a;
	const char *s;
	int64_t t0 = bench_now_us();
	bool ok = false;
	size_t i;

	order_name(c, seq, name);
	snprintf(payload, sizeof(payload), "{\"identifiers\":[{\"type\":\"dns\",\"value\":\"%s\"}]}",
		 name);
	if (!post(c, BENCH_K_ORDER, "newOrder", c->b->new_order, payload, &order))
		goto out;
	if (c->http.location[0] == '\0' || (s = djson_str(order, "finalize")) == NULL ||
	    !json_is_array(authzs = json_object_get(order, "authorizations"))) {
		fail_step(c, "newOrder", NULL, "malformed order");
		goto out;
	}
	snprintf(order_url, sizeof(order_url), "%s", c->http.location);
	snprintf(fin_url, sizeof(fin_url), "%s", s);
	/* RFC 8555 §7.1.6: a ready order has every authorization valid; nothing to do there
	 * (dns-persist-01 validated just in time, or authorizations reused). */
	s = djson_str(order, "status");
	if (s != NULL && strcmp(s, "ready") == 0) {
		c->st.ready_at_order += c->recording;
		if (!c->b->o->fetch_authz) {
			c->st.authz_valid_at_order += c->recording * json_array_size(authzs);
			goto finalize;
		}
	}
	json_array_foreach(authzs, i, a) {
		if (!json_is_string(a) || !do_authz(c, json_string_value(a), name))
			goto out;
	}
finalize:
	if (!do_finalize(c, order_url, fin_url, name, &fin))
		goto out;
	snprintf(cert_url, sizeof(cert_url), "%s", djson_str(fin, "certificate"));
	if (!post(c, BENCH_K_CERT, "cert", cert_url, NULL, &cert))
		goto out;
	if (c->b->o->verify && !verify_chain(c, c->http.rx.p, c->http.rx.len, name))
		goto out;
	record(c, BENCH_K_ISSUANCE, t0);
	ok = true;
out:
	json_decref(order);
	json_decref(fin);
	json_decref(cert);
	return ok;
}

/* --- the thread ------------------------------------------------------------------------- */

void *
bench_client_run(void *arg)
{
	struct bench_client *c = arg;
	struct bench *b = c->b;
	const struct bench_opts *o = b->o;

	if (setup(c) != DEED_OK)
		atomic_store(&b->setup_failed, true);
	pthread_barrier_wait(&b->ready);
	pthread_barrier_wait(&b->go); /* main publishes records, sets the clock */
	while (!atomic_load(&b->stop)) {
		int64_t now = bench_now_us();

		if (b->t_end_us != 0 && now >= b->t_end_us)
			break;
		c->recording = now >= b->t_measure_us;
		if (c->recording && o->count > 0 && atomic_fetch_add(&b->claimed, 1) >= o->count)
			break;
		if (issue_one(c, c->seq++)) {
			c->st.issued += c->recording;
		} else {
			c->st.failed += c->recording;
			if (o->max_errors > 0 &&
			    atomic_fetch_add(&b->failures, 1) + 1 >= o->max_errors)
				atomic_store(&b->stop, true);
			/* A server that is down (restarting, say) is not hammered: a client whose
			 * request did not even reach it waits 50 ms before the next order. */
			if (c->http.kind != NULL && c->http.kind[0] != '\0')
				sleep_us(50000);
		}
	}
	return NULL;
}

void
bench_client_cleanup(struct bench_client *c)
{
	if (c->dns != NULL)
		c->dns->ops->free(c->dns);
	jwk_free(c->acct);
	jwk_free(c->cert_key);
	free(c->csr_payload);
	bench_http_cleanup(&c->http);
	bench_stats_cleanup(&c->st);
}
