#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpsl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "b64url.h"
#include "csr.h"
#include "dnsname.h"
#include "djson.h"
#include "error.h"
#include "keypolicy.h"
#include "log.h"
#include "problem.h"
#include "ra.h"

#define MAX_IDENTIFIERS 100
#define MAX_CONTACTS 10
#define MAX_CHALLENGE_TYPES 8
#define BACKDATE 3600 /* seconds; certificates start an hour early for skewed clocks */
#define RECOVER_MAX 4096
#define JIT_SLOTS 1024
#define OLD_KEYS_MAX 16 /* retired account keys whose hashed dns-persist-01 records validate */
/* How long a challenge POST waits for its validation before it answers "processing": most
 * validations take milliseconds, and the answer then carries the outcome, sparing the client
 * a poll; a slow one (a distant DNS server, an unreachable http-01 host) does not hold the
 * request past what any client waits for an answer. */
#define ANSWER_WAIT_MS 5000
#define KEY_CACHE_SLOTS 4096

/* A queued validation. When the request that queued it had the challenge, authorization
 * and account at hand, the job carries what validating needs of them (no strings, no
 * challenge list), so the worker need not read them again. */
struct job {
	int64_t chall_id;
	bool loaded;
	struct sa_chall ch;
	struct sa_authz az;
	struct sa_account acct;
	struct job *next;
};

/* A request waiting, for at most ANSWER_WAIT_MS, for the outcome of the validation it queued,
 * so that its answer can carry the outcome. Linked in ra->waiters under ra->lock. */
struct waiter {
	int64_t chall_id;
	bool done;               /* the worker finished (recorded says whether it stored it) */
	bool recorded;
	struct sa_chall outcome; /* status, validated_at, error_json, record_json when recorded */
	pthread_cond_t cv;       /* on CLOCK_MONOTONIC */
	struct waiter *next;
};

struct ra {
	const struct ca_config *cfg;
	char base[512];
	char hash_prefix[600]; /* dns-persist-01 accountHashPrefix */
	struct sa *sa;
	struct va *va;
	struct signer *signer;
	char *types[MAX_CHALLENGE_TYPES]; /* challenge types offered */
	size_t n_types;

	pthread_mutex_t jit_lock;
	struct {
		uint32_t hash;
		int64_t minute;
		int count;
	} jit[JIT_SLOTS];    /* per-domain just-in-time budget (draft: SHOULD rate-limit) */
	/* Accounts known to have passed dns-persist-01, by id modulo the size: a pass stays in
	 * the audit log for ever, so an entry never goes stale. Under jit_lock. */
	int64_t persist_passed[JIT_SLOTS];

	/* Account keys as parsed from the store, by account id and thumbprint: parsing and
	 * checking a JWK (an EC point check is a scalar multiplication) cost more than the
	 * signature check every request needs it for. A key change changes the thumbprint, so
	 * a stale entry is never used. */
	pthread_mutex_t keys_lock;
	struct {
		int64_t id;
		char thumbprint[JWK_THUMBPRINT_LEN + 1];
		struct jwk *key;
	} keys[KEY_CACHE_SLOTS];

	pthread_mutex_t lock;
	pthread_cond_t wake; /* a job arrived, or stop */
	pthread_cond_t idle; /* the queue drained */
	struct job *head, *tail;
	struct waiter *waiters; /* requests waiting for the outcome of their job */
	int running;         /* jobs being validated now */
	bool stop;
	pthread_t *workers;
	int n_workers;
};

int
ra_account_key(struct ra *ra, const struct sa_account *a, struct jwk **out)
{
	size_t i = (size_t)a->id % KEY_CACHE_SLOTS;
	struct jwk *k = NULL;
	json_t *j = NULL;
	int rc = DEED_ENOTFOUND;

	*out = NULL;
	pthread_mutex_lock(&ra->keys_lock);
	if (ra->keys[i].key != NULL && ra->keys[i].id == a->id &&
	    strcmp(ra->keys[i].thumbprint, a->thumbprint) == 0)
		rc = jwk_dup(ra->keys[i].key, out);
	pthread_mutex_unlock(&ra->keys_lock);
	if (rc != DEED_ENOTFOUND)
		return rc;
	if ((rc = djson_parse(a->jwk_json, strlen(a->jwk_json), 16384, &j, NULL, 0)) != DEED_OK ||
	    (rc = jwk_from_json(j, &k, NULL, 0)) != DEED_OK || (rc = jwk_dup(k, out)) != DEED_OK) {
		json_decref(j);
		jwk_free(k);
		return rc == DEED_ENOMEM ? rc : DEED_EDB;
	}
	json_decref(j);
	pthread_mutex_lock(&ra->keys_lock);
	jwk_free(ra->keys[i].key);
	ra->keys[i].id = a->id;
	snprintf(ra->keys[i].thumbprint, sizeof(ra->keys[i].thumbprint), "%s", a->thumbprint);
	ra->keys[i].key = k;
	pthread_mutex_unlock(&ra->keys_lock);
	return DEED_OK;
}

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

/* --- URLs ------------------------------------------------------------------------------ */

bool
ra_offers(const struct ra *ra, const char *type)
{
	for (size_t i = 0; i < ra->n_types; i++)
		if (strcmp(ra->types[i], type) == 0)
			return true;
	return false;
}

const char *
ra_hash_prefix(const struct ra *ra)
{
	return ra->hash_prefix;
}

void
ra_account_url(const struct ra *ra, int64_t id, char *buf, size_t bufsz)
{
	snprintf(buf, bufsz, "%s/acme/acct/%lld", ra->base, (long long)id);
}

int
ra_account_id_from_url(const struct ra *ra, const char *url, int64_t *id)
{
	size_t n = strlen(ra->base);
	const char *p;
	char *end;
	long long v;

	if (url == NULL || strncmp(url, ra->base, n) != 0 ||
	    strncmp(url + n, "/acme/acct/", 11) != 0)
		return DEED_ENOTFOUND;
	p = url + n + 11;
	if (*p < '1' || *p > '9')
		return DEED_ENOTFOUND;
	v = strtoll(p, &end, 10);
	if (*end != '\0' || v <= 0)
		return DEED_ENOTFOUND;
	*id = v;
	return DEED_OK;
}

/* --- worker pool ----------------------------------------------------------------------- */

/* Queue chall_id; ch, az and acct (all or none NULL) are what the caller loaded of it. */
static void
enqueue_loaded(struct ra *ra, int64_t chall_id, const struct sa_chall *ch,
	       const struct sa_authz *az, const struct sa_account *acct)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL) {
		/* The challenge stays processing in the store; the next start validates it. */
		log_err("ra: out of memory queueing challenge %lld", (long long)chall_id);
		return;
	}
	j->chall_id = chall_id;
	if (ch != NULL) {
		j->loaded = true;
		j->ch = *ch;
		j->ch.error_json = j->ch.record_json = NULL;
		j->az = *az;
		j->az.challs = NULL;
		j->az.n_challs = 0;
		j->acct = *acct;
		j->acct.jwk_json = j->acct.contact_json = NULL;
	}
	pthread_mutex_lock(&ra->lock);
	if (ra->tail != NULL)
		ra->tail->next = j;
	else
		ra->head = j;
	ra->tail = j;
	pthread_cond_signal(&ra->wake);
	pthread_mutex_unlock(&ra->lock);
}

static void
enqueue(struct ra *ra, int64_t chall_id)
{
	enqueue_loaded(ra, chall_id, NULL, NULL, NULL);
}

static int
key_authz(const char *token, const char *thumbprint, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s.%s", token, thumbprint);

	return n < 0 || (size_t)n >= outsz ? DEED_EINVAL : DEED_OK;
}

static char *
prob_dump(json_t *p)
{
	char *s = p != NULL ? djson_dump(p) : NULL;

	json_decref(p);
	return s;
}

/* The SHA-256 of pkey's SubjectPublicKeyInfo in lowercase hex: the blocked-keys list's key. */
static int
spki_hex(EVP_PKEY *pkey, char hex[65])
{
	uint8_t h[32];
	int rc;

	if ((rc = keypolicy_spki_sha256(pkey, h)) != DEED_OK)
		return rc;
	keypolicy_sha256_to_hex(h, hex);
	return DEED_OK;
}

/* The key policy, then the blocked-keys list. err gets the reason for the client. Returns
 * DEED_OK, DEED_EBADKEY, or a storage error. */
static int
check_key(struct ra *ra, EVP_PKEY *pkey, enum keypolicy_use use, char *err, size_t errlen)
{
	char hex[65];
	int rc;

	if ((rc = keypolicy_check(pkey, use, err, errlen)) != DEED_OK)
		return rc;
	if ((rc = spki_hex(pkey, hex)) != DEED_OK) {
		deed_seterr(err, errlen, "cannot encode the public key");
		return DEED_EBADKEY;
	}
	rc = ra->sa->ops->blocked_key_has(ra->sa, hex);
	if (rc == DEED_ENOTFOUND)
		return DEED_OK;
	if (rc == DEED_OK) {
		deed_seterr(err, errlen, "public key is forbidden: it is on this CA's blocked-keys "
					 "list (SPKI SHA-256 %s)",
			    hex);
		return DEED_EBADKEY;
	}
	deed_seterr(err, errlen, "cannot check the blocked-keys list");
	return rc;
}

/* The fields of a validation request, from the stored challenge, authorization and account.
 * buf holds the strings the request points to. */
struct vreq {
	struct va_request req;
	char ka[256];
	char acct_url[600];
	const char *thumbs[1 + OLD_KEYS_MAX];
	char old[OLD_KEYS_MAX][SA_THUMBPRINT_MAX];
};

static int
fill_request(struct ra *ra, const struct sa_chall *ch, const struct sa_authz *az,
	     const struct sa_account *acct, struct vreq *v)
{
	memset(v, 0, sizeof(*v));
	ra_account_url(ra, acct->id, v->acct_url, sizeof(v->acct_url));
	if (key_authz(ch->token, acct->thumbprint, v->ka, sizeof(v->ka)) != DEED_OK)
		return DEED_EINVAL;
	v->req.type = ch->type;
	v->req.identifier = az->identifier;
	v->req.wildcard = az->wildcard;
	v->req.token = ch->token;
	v->req.key_authz = v->ka;
	v->req.account_url = v->acct_url;
	/* Our issuer domain names: what CAA records and dns-persist-01 records must name. */
	v->req.issuers = (const char *const *)ra->cfg->caa_identities;
	v->req.n_issuers = ra->cfg->n_caa_identities;
	v->req.check_caa = ra->cfg->caa_check;
	if (strcmp(ch->type, "dns-persist-01") == 0) {
		const char *form = ra->cfg->persist_accounturi;
		size_t n_old = 0;

		v->req.accept_plain = form == NULL || strcmp(form, "hashed") != 0;
		v->req.hash_prefix = form == NULL || strcmp(form, "plain") != 0 ? ra->hash_prefix
										   : NULL;
		/* Draft -02: a record hashed with any key the account has used validates, the
		 * current one first, then the retired ones newest first (at most OLD_KEYS_MAX:
		 * each costs two hashes per record seen). */
		v->thumbs[0] = acct->thumbprint;
		if (v->req.hash_prefix != NULL &&
		    ra->sa->ops->account_old_thumbprints(ra->sa, acct->id, v->old, OLD_KEYS_MAX,
							 &n_old) != DEED_OK)
			n_old = 0; /* the current key still validates */
		for (size_t i = 0; i < n_old; i++)
			v->thumbs[1 + i] = v->old[i];
		v->req.thumbprints = v->thumbs;
		v->req.n_thumbprints = 1 + n_old;
	}
	return DEED_OK;
}

/* How long a valid authorization stays valid. dns-persist-01: never past the record's
 * persistUntil (draft -02 §3.2). */
static int64_t
valid_until(const struct ra *ra, const struct va_result *res, int64_t now)
{
	int64_t e = now + (ra->cfg->authz_reuse > 0 ? ra->cfg->authz_reuse : ra->cfg->order_lifetime);

	if (res->persist_until < e) /* va_validate sets INT64_MAX when there is none */
		e = res->persist_until;
	return e > now ? e : now + 1;
}

/* Every validation attempt goes to the audit log, passed or not. */
static void
audit_record(struct sa_validation *v, int64_t account_id, const struct sa_authz *az,
	     const char *method, bool jit, const struct va_result *res, const char *err_json,
	     const char *rec_json)
{
	memset(v, 0, sizeof(*v));
	v->at = now_s();
	v->account_id = account_id;
	snprintf(v->identifier, sizeof(v->identifier), "%s", az->identifier);
	v->wildcard = az->wildcard;
	snprintf(v->method, sizeof(v->method), "%s", method);
	v->jit = jit;
	v->ok = res->ok;
	v->problem_json = (char *)err_json;
	v->records_json = (char *)rec_json;
}

static void
audit(struct ra *ra, int64_t account_id, const struct sa_authz *az, const char *method, bool jit,
      const struct va_result *res, const char *err_json, const char *rec_json)
{
	struct sa_validation v;

	audit_record(&v, account_id, az, method, jit, res, err_json, rec_json);
	if (ra->sa->ops->validation_add(ra->sa, &v) != DEED_OK)
		log_err("ra: cannot write the audit record of a %s validation of %s", method,
			az->identifier);
}

/* Run the validation of ch (processing; of az, of acct) and record its outcome (RFC 8555
 * §7.5.1: a failed challenge makes the authorization invalid). Once the outcome is stored,
 * ch has it too. */
static void
validate_loaded(struct ra *ra, struct sa_chall *ch, const struct sa_authz *az,
		const struct sa_account *acct)
{
	struct va_result res = {0};
	struct sa_validation rec;
	struct vreq v;
	char *err_json = NULL, *rec_json = NULL;
	int64_t now;
	int rc;

	if (fill_request(ra, ch, az, acct, &v) != DEED_OK)
		return;
	if (acct->status != SA_ACCT_VALID) {
		/* A deactivated account validates nothing (dns-persist-01's emergency stop). */
		res.prob = PROB_UNAUTHORIZED;
		snprintf(res.detail, sizeof(res.detail), "account is %s",
			 sa_acct_status_str(acct->status));
	} else {
		rc = va_validate(ra->va, &v.req, &res);
		if (rc != DEED_OK && !res.ok && res.detail[0] == '\0') {
			res.prob = PROB_SERVER_INTERNAL;
			snprintf(res.detail, sizeof(res.detail), "validation failed: %s",
				 deed_strerror(rc));
		}
	}
	if (!res.ok)
		err_json = prob_dump(prob_new(res.prob, "%s", res.detail));
	if (res.records != NULL)
		rec_json = djson_dump(res.records);

	now = now_s();
	audit_record(&rec, acct->id, az, ch->type, false, &res, err_json, rec_json);
	rc = ra->sa->ops->chall_finish(ra->sa, ch->id, res.ok, now, valid_until(ra, &res, now),
				       err_json, rec_json, &rec);
	if (rc != DEED_OK) /* the attempt happened all the same: it goes to the log */
		audit(ra, acct->id, az, ch->type, false, &res, err_json, rec_json);
	log_info("ra: %s for %s%s (account %lld): %s%s%s%s", ch->type, az->wildcard ? "*." : "",
		 az->identifier, (long long)acct->id, res.ok ? "valid" : "invalid",
		 res.ok ? "" : ": ", res.ok ? "" : res.detail,
		 res.validated_name[0] ? res.validated_name : "");
	if (rc != DEED_OK) {
		log_err("ra: challenge %lld: recording the outcome failed: %s",
			(long long)ch->id, deed_strerror(rc));
	} else {
		ch->status = res.ok ? SA_CHALL_VALID : SA_CHALL_INVALID;
		ch->validated_at = res.ok ? now : 0;
		free(ch->error_json);
		free(ch->record_json);
		ch->error_json = err_json;
		ch->record_json = rec_json;
		err_json = rec_json = NULL;
	}
	free(err_json);
	free(rec_json);
	va_result_cleanup(&res);
}

/* A queued validation: load what it needs, then as above. *out gets the challenge as it
 * stands afterwards (the caller cleans it up); it has the outcome when it is no longer
 * processing. */
static void
validate(struct ra *ra, int64_t chall_id, struct sa_chall *out)
{
	struct sa_authz az = {0};
	struct sa_account acct = {0};

	if (ra->sa->ops->chall_get(ra->sa, chall_id, out) != DEED_OK ||
	    ra->sa->ops->authz_get(ra->sa, out->authz_id, &az) != DEED_OK ||
	    ra->sa->ops->account_get(ra->sa, az.account_id, &acct) != DEED_OK)
		log_err("ra: challenge %lld: cannot load it for validation", (long long)chall_id);
	else
		validate_loaded(ra, out, &az, &acct);
	sa_authz_cleanup(&az);
	sa_account_cleanup(&acct);
}

/*
 * Just-in-time dns-persist-01 (draft §3.3): at newOrder, a record that already passes makes the
 * authorization valid at once. Any failure leaves it pending, silently: the client can still
 * answer the challenge.
 */
/* Whether another just-in-time lookup for name fits this minute's budget of its registered
 * domain. Names hashing to one slot share a budget, which errs on the side of fewer lookups. */
static bool
jit_allowed(struct ra *ra, const char *name)
{
	const psl_ctx_t *psl = psl_builtin();
	const char *reg = psl != NULL ? psl_registrable_domain(psl, name) : NULL;
	uint32_t h = 2166136261u;
	int64_t minute = now_s() / 60;
	bool ok;
	size_t i;

	for (const char *p = reg != NULL ? reg : name; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u; /* FNV-1a */
	i = h % JIT_SLOTS;
	pthread_mutex_lock(&ra->jit_lock);
	if (ra->jit[i].hash != h || ra->jit[i].minute != minute) {
		ra->jit[i].hash = h;
		ra->jit[i].minute = minute;
		ra->jit[i].count = 0;
	}
	ok = ra->jit[i].count < ra->cfg->persist_jit_per_minute;
	if (ok)
		ra->jit[i].count++;
	pthread_mutex_unlock(&ra->jit_lock);
	return ok;
}

/* A just-in-time lookup for one new authorization of an order. */
struct jit {
	bool tried;
	struct sa_validation rec; /* its audit record: records_json is the challenge's */
	char *err_json;           /* the problem, when it did not pass */
	char name[300];           /* the name whose record passed */
};

/* Whether the account ever passed a dns-persist-01 validation. */
static bool
persist_passed(struct ra *ra, int64_t account_id)
{
	size_t i = (size_t)account_id % JIT_SLOTS;
	bool known;

	pthread_mutex_lock(&ra->jit_lock);
	known = ra->persist_passed[i] == account_id;
	pthread_mutex_unlock(&ra->jit_lock);
	if (known)
		return true;
	if (ra->sa->ops->validation_any_ok(ra->sa, account_id, "dns-persist-01") != DEED_OK)
		return false;
	pthread_mutex_lock(&ra->jit_lock);
	ra->persist_passed[i] = account_id;
	pthread_mutex_unlock(&ra->jit_lock);
	return true;
}

/*
 * Look up the dns-persist-01 record of the new authorization az. When it passes, az becomes
 * valid through its dns-persist-01 challenge, and is stored so with the order: one
 * transaction, one flush. j says whether a lookup happened and how it went.
 */
static void
jit_persist(struct ra *ra, const struct sa_account *acct, struct sa_authz *az, struct jit *j)
{
	struct va_result res = {0};
	struct sa_chall *ch = NULL;
	struct vreq v;
	char *rec_json;
	int64_t now;

	for (size_t i = 0; i < az->n_challs && ch == NULL; i++)
		if (strcmp(az->challs[i].type, "dns-persist-01") == 0)
			ch = &az->challs[i];
	/* Draft §3.3 SHOULDs: only for accounts that passed dns-persist-01 before, and within a
	 * per-domain budget. Otherwise the client answers the challenge. */
	if (ch == NULL || !persist_passed(ra, acct->id) || !jit_allowed(ra, az->identifier) ||
	    fill_request(ra, ch, az, acct, &v) != DEED_OK)
		return;
	j->tried = true;
	va_validate(ra->va, &v.req, &res);
	rec_json = res.records != NULL ? djson_dump(res.records) : NULL;
	now = now_s();
	if (res.ok) {
		/* RFC 8555 §7.1.4: a valid authorization lists the challenge that validated it;
		 * the others are never shown, so they are not stored either. */
		if (ch != &az->challs[0]) {
			az->challs[0] = *ch;
			ch = &az->challs[0];
		}
		az->n_challs = 1;
		ch->status = SA_CHALL_VALID;
		ch->validated_at = now;
		ch->record_json = rec_json;
		az->status = SA_AUTHZ_VALID;
		az->expires = valid_until(ra, &res, now);
		snprintf(j->name, sizeof(j->name), "%s", res.validated_name);
	} else {
		j->err_json = prob_dump(prob_new(res.prob, "%s", res.detail));
		ch->record_json = rec_json; /* for the audit record; stored only when valid */
	}
	audit_record(&j->rec, acct->id, az, ch->type, true, &res, j->err_json, ch->record_json);
	va_result_cleanup(&res);
}

/* Whether a valid authorization may serve a new order: one validated by dns-persist-01 only
 * for min(authz_reuse, the record's TTL) after validation (draft -01 §5). */
static bool
reusable(const struct ra *ra, const struct sa_authz *a, int64_t now)
{
	for (size_t i = 0; i < a->n_challs; i++) {
		const struct sa_chall *c = &a->challs[i];
		json_t *recs = NULL, *r;
		int64_t ttl = 0, limit;
		size_t k;

		if (c->status != SA_CHALL_VALID || strcmp(c->type, "dns-persist-01") != 0)
			continue;
		if (c->record_json != NULL)
			djson_parse(c->record_json, strlen(c->record_json), 1 << 20, &recs, NULL, 0);
		json_array_foreach(recs, k, r) {
			const char *res = djson_str(r, "result");

			if (res != NULL && strcmp(res, "valid") == 0)
				ttl = json_integer_value(json_object_get(r, "ttl"));
		}
		json_decref(recs);
		limit = ra->cfg->authz_reuse < ttl ? ra->cfg->authz_reuse : ttl;
		return c->validated_at + limit > now;
	}
	return true;
}

static void *
worker(void *arg)
{
	struct ra *ra = arg;

	pthread_mutex_lock(&ra->lock);
	for (;;) {
		struct sa_chall done = {0};
		struct waiter *w;
		struct job *j;

		while (ra->head == NULL && !ra->stop)
			pthread_cond_wait(&ra->wake, &ra->lock);
		if (ra->stop)
			break;
		j = ra->head;
		ra->head = j->next;
		if (ra->head == NULL)
			ra->tail = NULL;
		ra->running++;
		pthread_mutex_unlock(&ra->lock);

		if (j->loaded) {
			done = j->ch; /* its strings are NULL; validate_loaded sets them */
			validate_loaded(ra, &done, &j->az, &j->acct);
		} else {
			validate(ra, j->chall_id, &done);
		}

		pthread_mutex_lock(&ra->lock);
		for (w = ra->waiters; w != NULL && w->chall_id != j->chall_id; w = w->next)
			;
		if (w != NULL) { /* the request that queued it still waits: hand it the outcome */
			w->recorded = done.status == SA_CHALL_VALID || done.status == SA_CHALL_INVALID;
			w->outcome = done;
			memset(&done, 0, sizeof(done));
			w->done = true;
			pthread_cond_signal(&w->cv);
		}
		free(j);
		ra->running--;
		if (ra->head == NULL && ra->running == 0)
			pthread_cond_broadcast(&ra->idle);
		sa_chall_cleanup(&done);
	}
	pthread_mutex_unlock(&ra->lock);
	return NULL;
}

void
ra_drain(struct ra *ra)
{
	pthread_mutex_lock(&ra->lock);
	while (ra->head != NULL || ra->running > 0)
		pthread_cond_wait(&ra->idle, &ra->lock);
	pthread_mutex_unlock(&ra->lock);
}

/* After a crash: validations that were running are run again; certificates reserved but never
 * signed are abandoned so that their orders end (invalid) instead of staying processing. */
static void
recover(struct ra *ra)
{
	int64_t *ids = calloc(RECOVER_MAX, sizeof(*ids));
	size_t n = 0;

	if (ids == NULL)
		return;
	if (ra->sa->ops->chall_list_processing(ra->sa, ids, RECOVER_MAX, &n) == DEED_OK) {
		for (size_t i = 0; i < n; i++)
			enqueue(ra, ids[i]);
		if (n > 0)
			log_info("ra: recovered %zu validation(s) left processing", n);
	}
	n = 0;
	if (ra->sa->ops->cert_list_reserved(ra->sa, ids, RECOVER_MAX, &n) == DEED_OK) {
		char *e = prob_dump(prob_new(PROB_SERVER_INTERNAL,
					     "issuance was interrupted; please place a new order"));
		size_t done = 0;
		int rc;

		for (size_t i = 0; i < n; i++) {
			if ((rc = ra->sa->ops->cert_abandon(ra->sa, ids[i], e)) == DEED_OK)
				done++;
			else /* left reserved: the next start tries again, admin check names it */
				log_err("ra: cannot abandon certificate reservation %lld: %s",
					(long long)ids[i], deed_strerror(rc));
		}
		if (done > 0)
			log_info("ra: abandoned %zu unsigned certificate reservation(s)", done);
		free(e);
	}
	free(ids);
}

static int
parse_types(struct ra *ra, const char *list, char *err, size_t errlen)
{
	static const char *known[] = {"http-01",	"dns-01",	 "tls-alpn-01",
				      "dns-account-01", "dns-persist-01"};
	char *copy = strdup(list != NULL ? list : ""), *save = NULL, *t;
	int rc = DEED_OK;

	if (copy == NULL)
		return DEED_ENOMEM;
	for (t = strtok_r(copy, ", ", &save); t != NULL; t = strtok_r(NULL, ", ", &save)) {
		bool ok = false;

		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(t, known[i]) == 0;
		if (!ok || ra->n_types == MAX_CHALLENGE_TYPES) {
			snprintf(err, errlen, "challenge type \"%s\" is not supported", t);
			rc = DEED_EINVAL;
			break;
		}
		if ((ra->types[ra->n_types++] = strdup(t)) == NULL) {
			rc = DEED_ENOMEM;
			break;
		}
	}
	if (rc == DEED_OK && ra->n_types == 0) {
		snprintf(err, errlen, "no challenge types configured");
		rc = DEED_EINVAL;
	}
	free(copy);
	return rc;
}

int
ra_new(const struct ca_config *cfg, const char *base_url, struct sa *sa, struct va *va,
       struct signer *signer, struct ra **out, char *err, size_t errlen)
{
	struct ra *ra;
	int rc;

	*out = NULL;
	if ((ra = calloc(1, sizeof(*ra))) == NULL)
		return DEED_ENOMEM;
	ra->cfg = cfg;
	snprintf(ra->base, sizeof(ra->base), "%s", base_url);
	ra->sa = sa;
	ra->va = va;
	ra->signer = signer;
	pthread_mutex_init(&ra->lock, NULL);
	pthread_mutex_init(&ra->jit_lock, NULL);
	pthread_mutex_init(&ra->keys_lock, NULL);
	pthread_cond_init(&ra->wake, NULL);
	pthread_cond_init(&ra->idle, NULL);
	if ((rc = parse_types(ra, cfg->challenges, err, errlen)) != DEED_OK)
		goto fail;
	if (cfg->account_hash_prefix != NULL && cfg->account_hash_prefix[0] != '\0')
		snprintf(ra->hash_prefix, sizeof(ra->hash_prefix), "%s", cfg->account_hash_prefix);
	else
		snprintf(ra->hash_prefix, sizeof(ra->hash_prefix), "%s/acme/account-hash/",
			 base_url);
	if (ra_offers(ra, "dns-persist-01") && cfg->n_caa_identities == 0) {
		snprintf(err, errlen, "dns-persist-01 needs caa_identities: the issuer domain "
				      "names its records name");
		rc = DEED_EINVAL;
		goto fail;
	}
	ra->n_workers = cfg->va_workers > 0 ? cfg->va_workers : 1;
	if ((ra->workers = calloc((size_t)ra->n_workers, sizeof(pthread_t))) == NULL) {
		rc = DEED_ENOMEM;
		goto fail;
	}
	for (int i = 0; i < ra->n_workers; i++) {
		if (pthread_create(&ra->workers[i], NULL, worker, ra) != 0) {
			ra->n_workers = i;
			snprintf(err, errlen, "cannot start validation workers");
			ra_free(ra);
			return DEED_ENOMEM;
		}
	}
	recover(ra);
	*out = ra;
	return DEED_OK;
fail:
	ra_free(ra);
	return rc;
}

void
ra_free(struct ra *ra)
{
	struct job *j;

	if (ra == NULL)
		return;
	pthread_mutex_lock(&ra->lock);
	ra->stop = true;
	pthread_cond_broadcast(&ra->wake);
	for (struct waiter *w = ra->waiters; w != NULL; w = w->next)
		pthread_cond_signal(&w->cv); /* none should be left: the HTTP server stops first */
	pthread_mutex_unlock(&ra->lock);
	for (int i = 0; i < ra->n_workers; i++)
		pthread_join(ra->workers[i], NULL);
	while ((j = ra->head) != NULL) {
		ra->head = j->next;
		free(j);
	}
	for (size_t i = 0; i < ra->n_types; i++)
		free(ra->types[i]);
	free(ra->workers);
	pthread_cond_destroy(&ra->idle);
	pthread_cond_destroy(&ra->wake);
	pthread_mutex_destroy(&ra->lock);
	pthread_mutex_destroy(&ra->jit_lock);
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++)
		jwk_free(ra->keys[i].key);
	pthread_mutex_destroy(&ra->keys_lock);
	free(ra);
}

/* --- accounts -------------------------------------------------------------------------- */

/* RFC 8555 §7.3: contact is an array of URLs; deed supports mailto: with one plain address. */
static int
check_contacts(const json_t *contact, json_t **prob)
{
	size_t i;
	json_t *v;

	if (!json_is_array(contact)) {
		*prob = prob_new(PROB_MALFORMED, "contact must be an array of URLs");
		return DEED_EMALFORMED;
	}
	if (json_array_size(contact) > MAX_CONTACTS) {
		*prob = prob_new(PROB_INVALID_CONTACT, "at most %d contacts are allowed",
				 MAX_CONTACTS);
		return DEED_EMALFORMED;
	}
	json_array_foreach(contact, i, v) {
		const char *s = json_string_value(v), *at;

		if (s == NULL) {
			*prob = prob_new(PROB_MALFORMED, "contact entries must be strings");
			return DEED_EMALFORMED;
		}
		if (strncmp(s, "mailto:", 7) != 0) {
			*prob = prob_new(PROB_UNSUPPORTED_CONTACT,
					 "contact \"%.100s\": only mailto: URLs are supported", s);
			return DEED_EMALFORMED;
		}
		s += 7;
		at = strchr(s, '@');
		if (strlen(s) > 254 || at == NULL || at == s || at[1] == '\0' ||
		    strchr(at + 1, '@') != NULL || strpbrk(s, " \t\r\n?,;<>\"") != NULL) {
			*prob = prob_new(PROB_INVALID_CONTACT,
					 "contact \"mailto:%.100s\" is not a single email address",
					 s);
			return DEED_EMALFORMED;
		}
	}
	return DEED_OK;
}

int
ra_new_account(struct ra *ra, const struct jwk *key, const json_t *payload,
	       struct sa_account *out, bool *created, json_t **prob)
{
	const json_t *contact, *tos, *only;
	json_t *pub = NULL;
	char *contact_json = NULL, err[256] = "";
	int rc;

	*created = false;
	memset(out, 0, sizeof(*out));
	if (!json_is_object(payload)) {
		*prob = prob_new(PROB_MALFORMED, "newAccount payload must be a JSON object");
		return DEED_EMALFORMED;
	}
	only = json_object_get(payload, "onlyReturnExisting");
	if (only != NULL && !json_is_boolean(only)) {
		*prob = prob_new(PROB_MALFORMED, "onlyReturnExisting must be a boolean");
		return DEED_EMALFORMED;
	}
	/* RFC 8555 §7.3.1: an existing key returns its account, unchanged; but §7.3.6: a
	 * deactivated account's key authorizes nothing more, this lookup included. */
	rc = ra->sa->ops->account_get_by_thumbprint(ra->sa, key->thumbprint, out);
	if (rc == DEED_OK && out->status != SA_ACCT_VALID) {
		*prob = prob_new(PROB_UNAUTHORIZED, "the account of this key is %s",
				 sa_acct_status_str(out->status));
		sa_account_cleanup(out);
		return DEED_EDENIED;
	}
	if (rc == DEED_OK)
		return DEED_OK;
	if (rc != DEED_ENOTFOUND)
		return rc;
	if (json_is_true(only)) {
		*prob = prob_new(PROB_ACCOUNT_DOES_NOT_EXIST, "no account exists with this key");
		return DEED_ENOTFOUND;
	}
	if ((rc = check_key(ra, key->pkey, KEYPOLICY_ACCOUNT, err, sizeof(err))) != DEED_OK) {
		*prob = prob_new(rc == DEED_EBADKEY ? PROB_BAD_PUBLIC_KEY : PROB_SERVER_INTERNAL,
				 "%s", err);
		return rc;
	}
	tos = json_object_get(payload, "termsOfServiceAgreed");
	if (tos != NULL && !json_is_boolean(tos)) {
		*prob = prob_new(PROB_MALFORMED, "termsOfServiceAgreed must be a boolean");
		return DEED_EMALFORMED;
	}
	if (ra->cfg->terms_of_service != NULL && ra->cfg->terms_of_service[0] != '\0' &&
	    !json_is_true(tos)) {
		*prob = prob_new(PROB_MALFORMED, "you must agree to the terms of service at %s",
				 ra->cfg->terms_of_service);
		return DEED_EMALFORMED;
	}
	contact = json_object_get(payload, "contact");
	if (contact != NULL && (rc = check_contacts(contact, prob)) != DEED_OK)
		return rc;
	contact_json = contact != NULL ? djson_dump(contact) : strdup("[]");
	pub = jwk_to_json(key);
	if (contact_json == NULL || pub == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	out->status = SA_ACCT_VALID;
	out->jwk_json = djson_dump(pub);
	out->contact_json = contact_json;
	contact_json = NULL;
	snprintf(out->thumbprint, sizeof(out->thumbprint), "%s", key->thumbprint);
	out->tos_agreed = json_is_true(tos);
	out->created_at = now_s();
	if (out->jwk_json == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	rc = ra->sa->ops->account_create(ra->sa, out);
	if (rc == DEED_ECONFLICT) {
		/* Another request registered the same key a moment ago: return that account. */
		sa_account_cleanup(out);
		rc = ra->sa->ops->account_get_by_thumbprint(ra->sa, key->thumbprint, out);
		goto out;
	}
	if (rc == DEED_OK) {
		*created = true;
		log_info("ra: new account %lld", (long long)out->id);
	}
out:
	if (rc != DEED_OK && !*created)
		sa_account_cleanup(out);
	json_decref(pub);
	free(contact_json);
	return rc;
}

int
ra_update_account(struct ra *ra, struct sa_account *acct, const json_t *payload,
		  json_t **prob)
{
	const json_t *contact, *status;
	char *cj;
	int rc;

	if (payload == NULL) /* POST-as-GET */
		return DEED_OK;
	if (!json_is_object(payload)) {
		*prob = prob_new(PROB_MALFORMED, "account update must be a JSON object");
		return DEED_EMALFORMED;
	}
	status = json_object_get(payload, "status");
	if (status != NULL) {
		if (!json_is_string(status) ||
		    strcmp(json_string_value(status), "deactivated") != 0) {
			*prob = prob_new(PROB_MALFORMED,
					 "the only status a client may set is \"deactivated\"");
			return DEED_EMALFORMED;
		}
	}
	contact = json_object_get(payload, "contact");
	if (contact != NULL) {
		if ((rc = check_contacts(contact, prob)) != DEED_OK)
			return rc;
		if ((cj = djson_dump(contact)) == NULL)
			return DEED_ENOMEM;
		rc = ra->sa->ops->account_update_contact(ra->sa, acct->id, cj);
		if (rc != DEED_OK) {
			free(cj);
			return rc;
		}
		free(acct->contact_json);
		acct->contact_json = cj;
	}
	if (status != NULL) {
		/* RFC 8555 §7.3.6: irreversible; pending authorizations go with it. */
		rc = ra->sa->ops->account_cas_status(ra->sa, acct->id, SA_ACCT_VALID,
						      SA_ACCT_DEACTIVATED);
		if (rc == DEED_ECONFLICT) {
			*prob = prob_new(PROB_UNAUTHORIZED, "account is not valid");
			return rc;
		}
		if (rc != DEED_OK)
			return rc;
		acct->status = SA_ACCT_DEACTIVATED;
		ra->sa->ops->authz_deactivate_all(ra->sa, acct->id);
		log_info("ra: account %lld deactivated", (long long)acct->id);
	}
	return DEED_OK;
}

int
ra_key_change(struct ra *ra, struct sa_account *acct, const char *outer_url,
	      const uint8_t *inner, size_t inner_len, int64_t *conflict_owner, json_t **prob)
{
	struct jws *j = NULL;
	json_t *body = NULL, *newpub = NULL, *oldkey;
	struct jwk *old = NULL;
	char err[256] = "", url[600];
	char *newjson = NULL;
	const char *account;
	int rc;

	*conflict_owner = 0;
	/* RFC 8555 §7.3.5: the inner JWS is signed by the new key, carries it as "jwk". */
	if ((rc = jws_parse((const char *)inner, inner_len, &j, err, sizeof(err))) != DEED_OK) {
		*prob = prob_new(rc == DEED_EBADALG ? PROB_BAD_SIGNATURE_ALGORITHM : PROB_MALFORMED,
				 "inner JWS: %s", err);
		goto out;
	}
	if (j->jwk == NULL || j->kid != NULL) {
		*prob = prob_new(PROB_MALFORMED, "inner JWS must carry the new key as \"jwk\"");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if ((rc = check_key(ra, j->jwk->pkey, KEYPOLICY_ACCOUNT, err, sizeof(err))) != DEED_OK) {
		*prob = prob_new(rc == DEED_EBADKEY ? PROB_BAD_PUBLIC_KEY : PROB_SERVER_INTERNAL,
				 "new key: %s", err);
		goto out;
	}
	if ((rc = jws_verify(j, j->jwk)) != DEED_OK) {
		*prob = prob_new(PROB_MALFORMED, "inner JWS signature does not verify");
		goto out;
	}
	if (j->url == NULL || strcmp(j->url, outer_url) != 0) {
		*prob = prob_new(PROB_MALFORMED, "inner JWS url must equal the outer url");
		rc = DEED_EMALFORMED;
		goto out;
	}
	rc = djson_parse((const char *)j->payload, j->payload_len, JWS_MAX_BODY, &body, err,
			 sizeof(err));
	if (rc != DEED_OK || !json_is_object(body)) {
		*prob = prob_new(PROB_MALFORMED, "inner payload: %s",
				 err[0] ? err : "must be a JSON object");
		rc = DEED_EMALFORMED;
		goto out;
	}
	account = djson_str(body, "account");
	ra_account_url(ra, acct->id, url, sizeof(url));
	if (account == NULL || strcmp(account, url) != 0) {
		*prob = prob_new(PROB_UNAUTHORIZED,
				 "inner payload \"account\" does not match the requesting account");
		rc = DEED_EDENIED;
		goto out;
	}
	oldkey = json_object_get(body, "oldKey");
	if (oldkey == NULL || jwk_from_json(oldkey, &old, err, sizeof(err)) != DEED_OK) {
		*prob = prob_new(PROB_MALFORMED, "inner payload \"oldKey\": %s",
				 err[0] ? err : "missing");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if (strcmp(old->thumbprint, acct->thumbprint) != 0) {
		*prob = prob_new(PROB_UNAUTHORIZED, "\"oldKey\" is not the account's current key");
		rc = DEED_EDENIED;
		goto out;
	}
	if (strcmp(j->jwk->thumbprint, acct->thumbprint) == 0) {
		*prob = prob_new(PROB_MALFORMED, "the new key is the account's current key");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if ((newpub = jwk_to_json(j->jwk)) == NULL || (newjson = djson_dump(newpub)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	rc = ra->sa->ops->account_change_key(ra->sa, acct->id, acct->thumbprint, newjson,
					     j->jwk->thumbprint, conflict_owner);
	if (rc == DEED_ECONFLICT) {
		if (*conflict_owner != 0)
			*prob = prob_new(PROB_CONFLICT, "the new key is already in use by an account");
		else
			*prob = prob_new(PROB_UNAUTHORIZED, "the account key changed meanwhile");
		goto out;
	}
	if (rc != DEED_OK)
		goto out;
	free(acct->jwk_json);
	acct->jwk_json = newjson;
	newjson = NULL;
	snprintf(acct->thumbprint, sizeof(acct->thumbprint), "%s", j->jwk->thumbprint);
	log_info("ra: account %lld changed its key", (long long)acct->id);
out:
	free(newjson);
	json_decref(newpub);
	json_decref(body);
	jwk_free(old);
	jws_free(j);
	return rc;
}

/* --- orders ---------------------------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
new_token(char *out, size_t outsz)
{
	uint8_t raw[32];

	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return DEED_ECRYPTO;
	return b64url_encode_buf(raw, sizeof(raw), out, outsz);
}

/* Challenges offered for one identifier: every configured type, less http-01 and tls-alpn-01
 * for wildcards (RFC 8555 §7.1.3, RFC 8737 §3: only DNS-based proof covers a subtree). */
static int
make_challenges(struct ra *ra, struct sa_authz *az)
{
	int rc;

	if ((az->challs = calloc(ra->n_types, sizeof(*az->challs))) == NULL)
		return DEED_ENOMEM;
	for (size_t i = 0; i < ra->n_types; i++) {
		struct sa_chall *c = &az->challs[az->n_challs];

		if (az->wildcard && (strcmp(ra->types[i], "http-01") == 0 ||
				     strcmp(ra->types[i], "tls-alpn-01") == 0))
			continue;
		snprintf(c->type, sizeof(c->type), "%s", ra->types[i]);
		c->status = SA_CHALL_PENDING;
		/* dns-persist-01 has no token: the record names the account, not an order. */
		if (strcmp(c->type, "dns-persist-01") != 0 &&
		    (rc = new_token(c->token, sizeof(c->token))) != DEED_OK)
			return rc;
		az->n_challs++;
	}
	return DEED_OK;
}

static int
parse_identifiers(const json_t *payload, char ***names, size_t *n, json_t **prob)
{
	const json_t *ids = json_object_get(payload, "identifiers"), *id;
	char norm[DNSNAME_MAX + 1], err[256];
	size_t i;

	*names = NULL;
	*n = 0;
	if (!json_is_array(ids) || json_array_size(ids) == 0) {
		*prob = prob_new(PROB_MALFORMED, "identifiers must be a non-empty array");
		return DEED_EMALFORMED;
	}
	if (json_array_size(ids) > MAX_IDENTIFIERS) {
		*prob = prob_new(PROB_REJECTED_IDENTIFIER, "at most %d identifiers per order",
				 MAX_IDENTIFIERS);
		return DEED_EMALFORMED;
	}
	if ((*names = calloc(json_array_size(ids), sizeof(char *))) == NULL)
		return DEED_ENOMEM;
	json_array_foreach(ids, i, id) {
		const char *type = djson_str(id, "type"), *value = djson_str(id, "value");

		if (!json_is_object(id) || type == NULL || value == NULL) {
			*prob = prob_new(PROB_MALFORMED,
					 "each identifier needs string \"type\" and \"value\"");
			return DEED_EMALFORMED;
		}
		if (strcmp(type, "dns") != 0) {
			*prob = prob_new(PROB_UNSUPPORTED_IDENTIFIER,
					 "identifier type \"%.40s\" is not supported", type);
			return DEED_EUNSUPPORTED;
		}
		/* RFC 8555 §7.1.4: names arrive in their final form (lowercase A-labels). */
		if (dnsname_check(value, true, err, sizeof(err)) != DEED_OK) {
			*prob = prob_new(PROB_REJECTED_IDENTIFIER, "%s", err);
			return DEED_EMALFORMED;
		}
		if (dnsname_normalize(value, true, norm, sizeof(norm), err, sizeof(err)) != DEED_OK) {
			*prob = prob_new(PROB_REJECTED_IDENTIFIER, "%s", err);
			return DEED_EMALFORMED;
		}
		if (((*names)[(*n)++] = strdup(norm)) == NULL)
			return DEED_ENOMEM;
	}
	qsort(*names, *n, sizeof(char *), cmp_str);
	for (i = 1; i < *n; i++) {
		if (strcmp((*names)[i - 1], (*names)[i]) == 0) {
			*prob = prob_new(PROB_MALFORMED, "identifier \"%s\" appears twice",
					 (*names)[i]);
			return DEED_EMALFORMED;
		}
	}
	return DEED_OK;
}

int
ra_new_order(struct ra *ra, const struct sa_account *acct, const json_t *payload,
	     struct sa_order *out, const char **status, json_t **prob)
{
	struct sa_authz *az = NULL;
	struct sa_validation *recs = NULL;
	struct jit *jit = NULL;
	char **names = NULL;
	size_t n = 0, n_recs = 0, i;
	int64_t now = now_s(), expires;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(payload)) {
		*prob = prob_new(PROB_MALFORMED, "newOrder payload must be a JSON object");
		return DEED_EMALFORMED;
	}
	if (json_object_get(payload, "notBefore") != NULL ||
	    json_object_get(payload, "notAfter") != NULL) {
		*prob = prob_new(PROB_MALFORMED, "notBefore and notAfter are not supported");
		return DEED_EUNSUPPORTED;
	}
	if (json_object_get(payload, "profile") != NULL) {
		*prob = prob_new(PROB_INVALID_PROFILE, "this CA offers no certificate profiles");
		return DEED_EUNSUPPORTED;
	}
	if ((rc = parse_identifiers(payload, &names, &n, prob)) != DEED_OK)
		goto out;
	if ((az = calloc(n, sizeof(*az))) == NULL || (jit = calloc(n, sizeof(*jit))) == NULL ||
	    (recs = calloc(n, sizeof(*recs))) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	expires = now + ra->cfg->order_lifetime;
	for (i = 0; i < n; i++) {
		bool wild = dnsname_is_wildcard(names[i]);
		const char *base = dnsname_base(names[i]);
		int64_t reuse_id = 0;

		/* Reuse a valid authorization that outlives this order's first day. */
		if (ra->cfg->authz_reuse > 0 &&
		    ra->sa->ops->authz_find_reusable(ra->sa, acct->id, base, wild, now + 86400,
						     &reuse_id) == DEED_OK) {
			struct sa_authz old = {0};

			if (ra->sa->ops->authz_get(ra->sa, reuse_id, &old) == DEED_OK &&
			    reusable(ra, &old, now)) {
				az[i].id = reuse_id;
				if (old.expires < expires)
					expires = old.expires;
				sa_authz_cleanup(&old);
				continue;
			}
			sa_authz_cleanup(&old);
		}
		az[i].account_id = acct->id;
		snprintf(az[i].identifier, sizeof(az[i].identifier), "%s", base);
		az[i].wildcard = wild;
		az[i].status = SA_AUTHZ_PENDING;
		az[i].created_at = now;
		az[i].expires = now + ra->cfg->authz_lifetime;
		if (az[i].expires < expires)
			expires = az[i].expires;
		if ((rc = make_challenges(ra, &az[i])) != DEED_OK)
			goto out;
		if (az[i].n_challs == 0) {
			*prob = prob_new(PROB_REJECTED_IDENTIFIER,
					 "no configured challenge type can validate \"%s\"",
					 names[i]);
			rc = DEED_EDENIED;
			goto out;
		}
	}
	/* Just in time: new authorizations whose record passes are stored valid, with the order
	 * and the audit records of every lookup, in one transaction. */
	for (i = 0; ra->cfg->persist_jit && i < n; i++) {
		if (az[i].id != 0)
			continue;
		jit_persist(ra, acct, &az[i], &jit[i]);
		if (!jit[i].tried)
			continue;
		recs[n_recs++] = jit[i].rec;
		if (az[i].status == SA_AUTHZ_VALID && az[i].expires < expires)
			expires = az[i].expires;
	}
	out->account_id = acct->id;
	out->status = SA_ORDER_PENDING;
	out->created_at = now;
	out->expires = expires;
	out->identifiers = names;
	out->n_identifiers = n;
	names = NULL;
	rc = ra->sa->ops->order_create(ra->sa, out, az, recs, n_recs);
	if (rc != DEED_OK) {
		/* The lookups happened all the same: they go to the audit log. */
		for (i = 0; i < n_recs; i++)
			if (ra->sa->ops->validation_add(ra->sa, &recs[i]) != DEED_OK)
				log_err("ra: cannot write the audit record of a just-in-time "
					"lookup for %s", recs[i].identifier);
		goto out;
	}
	log_info("ra: account %lld: new order %lld for %zu name(s)", (long long)acct->id,
		 (long long)out->id, n);
	/* A reused authorization (az[i] holds only its id) is valid; a new one is pending or
	 * valid. */
	*status = "ready";
	for (i = 0; i < n; i++)
		if (az[i].n_challs > 0 && az[i].status != SA_AUTHZ_VALID)
			*status = "pending";
	for (i = 0; i < n; i++)
		if (jit[i].tried && az[i].status == SA_AUTHZ_VALID)
			log_info("ra: dns-persist-01 for %s%s (account %lld): valid just in time "
				 "(%s)", az[i].wildcard ? "*." : "", az[i].identifier,
				 (long long)acct->id, jit[i].name);
out:
	if (names != NULL) {
		for (i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	if (az != NULL) {
		for (i = 0; i < n; i++)
			sa_authz_cleanup(&az[i]);
		free(az);
	}
	for (i = 0; jit != NULL && i < n; i++)
		free(jit[i].err_json);
	free(jit);
	free(recs);
	if (rc != DEED_OK)
		sa_order_cleanup(out);
	return rc;
}

const char *
ra_authz_status(const struct sa_authz *a, int64_t now)
{
	if ((a->status == SA_AUTHZ_PENDING || a->status == SA_AUTHZ_VALID) && a->expires <= now)
		return "expired";
	return sa_authz_status_str(a->status);
}

/* ra_order_status; keep (NULL, or o->n_authz zeroed entries the caller cleans up) gets the
 * authorizations read on the way, so that finalize need not read them again. */
static const char *
order_status(struct ra *ra, const struct sa_order *o, int64_t now, struct sa_authz *keep)
{
	size_t valid = 0;

	if (o->status != SA_ORDER_PENDING)
		return sa_order_status_str(o->status);
	if (o->expires <= now)
		return "invalid";
	/* RFC 8555 §7.1.6: ready once every authorization is valid; invalid as soon as one
	 * cannot become valid any more. */
	for (size_t i = 0; i < o->n_authz; i++) {
		struct sa_authz a = {0};
		const char *s;

		if (ra->sa->ops->authz_get(ra->sa, o->authz_ids[i], &a) != DEED_OK)
			return "invalid";
		s = ra_authz_status(&a, now);
		if (keep != NULL)
			keep[i] = a;
		else
			sa_authz_cleanup(&a);
		if (strcmp(s, "valid") == 0)
			valid++;
		else if (strcmp(s, "pending") != 0)
			return "invalid";
	}
	return valid == o->n_authz ? "ready" : "pending";
}

const char *
ra_order_status(struct ra *ra, const struct sa_order *o, int64_t now)
{
	return order_status(ra, o, now, NULL);
}

/* --- challenges and authorizations ----------------------------------------------------- */

static int
load_owned_authz(struct ra *ra, const struct sa_account *acct, int64_t id, struct sa_authz *a,
		 json_t **prob)
{
	int rc = ra->sa->ops->authz_get(ra->sa, id, a);

	if (rc == DEED_ENOTFOUND) {
		*prob = prob_new(PROB_NOT_FOUND, "no such authorization");
		return rc;
	}
	if (rc != DEED_OK)
		return rc;
	if (a->account_id != acct->id) {
		sa_authz_cleanup(a);
		*prob = prob_new(PROB_UNAUTHORIZED, "authorization belongs to another account");
		return DEED_EDENIED;
	}
	return DEED_OK;
}

/*
 * Queue the validation of the challenge out (processing; of az, of acct) and, with a thread
 * per connection, wait up to ANSWER_WAIT_MS for its outcome, which out then takes. A pool
 * thread answers at once: it serves other connections meanwhile.
 */
static void
queue_and_wait(struct ra *ra, struct sa_chall *out, const struct sa_authz *az,
	       const struct sa_account *acct)
{
	struct waiter w = {.chall_id = out->id};
	pthread_condattr_t attr;
	struct timespec until;
	struct waiter **pp;

	if (ra->cfg->threads != 0) {
		enqueue_loaded(ra, out->id, out, az, acct);
		return;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cv, &attr);
	pthread_condattr_destroy(&attr);
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ANSWER_WAIT_MS / 1000;
	until.tv_nsec += (long)(ANSWER_WAIT_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* Linked before the job is queued, so a worker that finishes at once finds it. */
	pthread_mutex_lock(&ra->lock);
	w.next = ra->waiters;
	ra->waiters = &w;
	pthread_mutex_unlock(&ra->lock);
	enqueue_loaded(ra, out->id, out, az, acct);
	pthread_mutex_lock(&ra->lock);
	while (!w.done && !ra->stop &&
	       pthread_cond_timedwait(&w.cv, &ra->lock, &until) != ETIMEDOUT)
		;
	for (pp = &ra->waiters; *pp != &w; pp = &(*pp)->next)
		;
	*pp = w.next;
	pthread_mutex_unlock(&ra->lock);
	pthread_cond_destroy(&w.cv);
	if (w.recorded) {
		out->status = w.outcome.status;
		out->validated_at = w.outcome.validated_at;
		free(out->error_json);
		free(out->record_json);
		out->error_json = w.outcome.error_json;
		out->record_json = w.outcome.record_json;
		w.outcome.error_json = w.outcome.record_json = NULL;
	}
	sa_chall_cleanup(&w.outcome);
}

int
ra_respond_challenge(struct ra *ra, const struct sa_account *acct, int64_t chall_id,
		     struct sa_chall *out, json_t **prob)
{
	struct sa_authz a = {0};
	int64_t now = now_s();
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ra->sa->ops->chall_get(ra->sa, chall_id, out);
	if (rc == DEED_ENOTFOUND) {
		*prob = prob_new(PROB_NOT_FOUND, "no such challenge");
		return rc;
	}
	if (rc != DEED_OK)
		return rc;
	if ((rc = load_owned_authz(ra, acct, out->authz_id, &a, prob)) != DEED_OK)
		goto fail;
	if (out->status != SA_CHALL_PENDING) {
		/* Already started or decided: answering again changes nothing. */
		rc = DEED_OK;
		goto done;
	}
	if (strcmp(ra_authz_status(&a, now), "pending") != 0) {
		*prob = prob_new(PROB_MALFORMED, "authorization is %s; it takes no more challenges",
				 ra_authz_status(&a, now));
		rc = DEED_ESTATE;
		goto fail;
	}
	rc = ra->sa->ops->chall_begin(ra->sa, chall_id, now);
	if (rc == DEED_ECONFLICT) {
		*prob = prob_new(PROB_MALFORMED,
				 "another challenge of this authorization is being validated");
		goto fail;
	}
	if (rc != DEED_OK)
		goto fail;
	out->status = SA_CHALL_PROCESSING;
	queue_and_wait(ra, out, &a, acct);
done:
	sa_authz_cleanup(&a);
	return DEED_OK;
fail:
	sa_authz_cleanup(&a);
	sa_chall_cleanup(out);
	return rc;
}

int
ra_deactivate_authz(struct ra *ra, const struct sa_account *acct, int64_t authz_id,
		    json_t **prob)
{
	struct sa_authz a = {0};
	int rc;

	if ((rc = load_owned_authz(ra, acct, authz_id, &a, prob)) != DEED_OK)
		return rc;
	/* RFC 8555 §7.5.2: pending or valid authorizations may be deactivated. */
	if (a.status != SA_AUTHZ_PENDING && a.status != SA_AUTHZ_VALID) {
		*prob = prob_new(PROB_MALFORMED, "authorization is %s and cannot be deactivated",
				 sa_authz_status_str(a.status));
		rc = DEED_ESTATE;
	} else {
		rc = ra->sa->ops->authz_cas_status(ra->sa, authz_id, a.status,
						    SA_AUTHZ_DEACTIVATED);
		if (rc == DEED_ECONFLICT)
			*prob = prob_new(PROB_MALFORMED, "authorization changed state meanwhile");
	}
	sa_authz_cleanup(&a);
	return rc;
}

/* --- finalize -------------------------------------------------------------------------- */

static bool
same_key(struct ra *ra, EVP_PKEY *a, const struct sa_account *acct)
{
	struct jwk *k = NULL;
	bool same = false;

	if (ra_account_key(ra, acct, &k) == DEED_OK)
		same = EVP_PKEY_eq(a, k->pkey) == 1;
	jwk_free(k);
	return same;
}

/* The subject CN: the CSR's if it is one of the names and fits (64 octets, RFC 5280
 * ub-common-name), else the first name that fits, else none. */
static const char *
choose_cn(const struct csr *c, char *const *names, size_t n)
{
	if (c->cn != NULL && strlen(c->cn) <= 64)
		return c->cn;
	for (size_t i = 0; i < n; i++)
		if (strlen(names[i]) <= 64)
			return names[i];
	return NULL;
}

static int
issue(struct ra *ra, const struct sa_account *acct, struct sa_order *o, struct csr *c,
      json_t **prob)
{
	struct signer_req req = {0};
	struct sa_cert cert = {0};
	X509 *x = NULL;
	uint8_t *tbs = NULL, *der = NULL;
	size_t tbs_len = 0, der_len = 0;
	int64_t now = now_s();
	int rc;

	req.pubkey = c->pkey;
	req.spki = c->spki;
	req.names = (const char *const *)o->identifiers;
	req.n_names = o->n_identifiers;
	req.cn = choose_cn(c, o->identifiers, o->n_identifiers);
	req.not_before = now - BACKDATE;
	req.not_after = req.not_before + ra->cfg->cert_lifetime - 1;
	if ((rc = signer_new_serial(req.serial)) != DEED_OK)
		goto out;
	if ((rc = signer_prepare(ra->signer, &req, &x, &tbs, &tbs_len)) != DEED_OK)
		goto out;

	/* Crash safety: the serial and the exact bytes to be signed are on disk before any
	 * signature exists. This also moves the order pending -> processing, so a second
	 * finalize racing this one loses here. */
	for (int i = 0; i < 20; i++)
		snprintf(cert.serial + 2 * i, 3, "%02x", req.serial[i]);
	cert.order_id = o->id;
	cert.account_id = acct->id;
	cert.status = SA_CERT_RESERVED;
	cert.tbs_der = tbs;
	cert.tbs_len = tbs_len;
	cert.not_before = req.not_before;
	cert.not_after = req.not_after;
	cert.revoked_reason = -1;
	rc = ra->sa->ops->cert_reserve(ra->sa, &cert);
	cert.tbs_der = NULL;
	if (rc == DEED_ECONFLICT) {
		*prob = prob_new(PROB_ORDER_NOT_READY, "order is already being finalized");
		goto out;
	}
	if (rc != DEED_OK)
		goto out;

	if ((rc = signer_sign(ra->signer, x, &der, &der_len)) != DEED_OK) {
		char *e = prob_dump(prob_new(PROB_SERVER_INTERNAL, "signing failed"));

		ra->sa->ops->cert_abandon(ra->sa, cert.id, e);
		free(e);
		goto out;
	}
	if ((rc = ra->sa->ops->cert_issue(ra->sa, cert.id, der, der_len)) != DEED_OK)
		goto out;
	o->status = SA_ORDER_VALID;
	o->cert_id = cert.id;
	log_info("ra: order %lld: issued certificate serial %s", (long long)o->id, cert.serial);
out:
	X509_free(x);
	free(tbs);
	free(der);
	sa_cert_cleanup(&cert);
	return rc;
}

/*
 * CAA again at finalize (CA/B BR §3.2.2.8: checked within 8 hours before issuance) for every
 * authorization whose validation, and so whose CAA check, is older than caa_recheck.
 * Reused authorizations are the usual case. A refusal leaves the order ready: once the
 * domain's CAA names us again, finalize succeeds.
 */
/* az: the order's authorizations, as order_status read them for finalize. */
static int
recheck_caa(struct ra *ra, const struct sa_account *acct, const struct sa_order *o,
	    struct sa_authz *az, json_t **prob)
{
	int rc = DEED_OK;

	if (!ra->cfg->caa_check)
		return DEED_OK;
	for (size_t i = 0; i < o->n_authz && rc == DEED_OK; i++) {
		struct va_result res = {0};
		const struct sa_chall *ch = NULL;
		struct vreq v;
		char *err_json = NULL, *rec_json = NULL;
		int64_t now = now_s();

		for (size_t k = 0; k < az[i].n_challs; k++)
			if (az[i].challs[k].status == SA_CHALL_VALID)
				ch = &az[i].challs[k];
		if (ch != NULL && now - ch->validated_at >= ra->cfg->caa_recheck &&
		    (rc = fill_request(ra, ch, &az[i], acct, &v)) == DEED_OK) {
			va_check_caa(ra->va, &v.req, &res);
			if (!res.ok)
				err_json = prob_dump(prob_new(res.prob, "%s", res.detail));
			if (res.records != NULL)
				rec_json = djson_dump(res.records);
			audit(ra, acct->id, &az[i], "caa", false, &res, err_json, rec_json);
			if (!res.ok) {
				*prob = prob_new(res.prob, "%s", res.detail);
				rc = DEED_EDENIED;
			}
			log_info("ra: CAA recheck at finalize for %s%s (order %lld): %s",
				 az[i].wildcard ? "*." : "", az[i].identifier, (long long)o->id,
				 res.ok ? "allowed" : res.detail);
		}
		free(err_json);
		free(rec_json);
		va_result_cleanup(&res);
	}
	return rc;
}

int
ra_finalize(struct ra *ra, const struct sa_account *acct, int64_t order_id,
	    const json_t *payload, struct sa_order *out, json_t **prob)
{
	struct csr *c = NULL;
	struct sa_authz *az = NULL;
	uint8_t *der = NULL;
	size_t der_len = 0;
	const char *csr_b64, *st;
	char err[256] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ra->sa->ops->order_get(ra->sa, order_id, out);
	if (rc == DEED_ENOTFOUND) {
		*prob = prob_new(PROB_NOT_FOUND, "no such order");
		return rc;
	}
	if (rc != DEED_OK)
		return rc;
	if (out->account_id != acct->id) {
		*prob = prob_new(PROB_UNAUTHORIZED, "order belongs to another account");
		rc = DEED_EDENIED;
		goto out;
	}
	if ((az = calloc(out->n_authz > 0 ? out->n_authz : 1, sizeof(*az))) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	st = order_status(ra, out, now_s(), az);
	if (strcmp(st, "ready") != 0) {
		*prob = prob_new(PROB_ORDER_NOT_READY, "order is %s, not ready", st);
		rc = DEED_ESTATE;
		goto out;
	}
	csr_b64 = djson_str(payload, "csr");
	if (csr_b64 == NULL) {
		*prob = prob_new(PROB_MALFORMED, "finalize needs a \"csr\" string");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if (strlen(csr_b64) > CSR_MAX_DER * 2 ||
	    b64url_decode(csr_b64, strlen(csr_b64), &der, &der_len) != DEED_OK) {
		*prob = prob_new(PROB_BAD_CSR, "csr is not base64url DER");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if ((rc = csr_parse_der(der, der_len, &c, err, sizeof(err))) != DEED_OK) {
		*prob = prob_new(PROB_BAD_CSR, "%s", err);
		goto out;
	}
	/* RFC 8555 §6.7: badPublicKey is for the key a JWS was signed with; a CSR whose key we
	 * refuse is badCSR ("unacceptable, e.g. due to a short key"), the reason in the detail. */
	if ((rc = check_key(ra, c->pkey, KEYPOLICY_CERT, err, sizeof(err))) != DEED_OK) {
		*prob = prob_new(rc == DEED_EBADKEY ? PROB_BAD_CSR : PROB_SERVER_INTERNAL,
				 "CSR key: %s", err);
		goto out;
	}
	if (same_key(ra, c->pkey, acct)) {
		*prob = prob_new(PROB_BAD_CSR, "the certificate key must differ from the account key");
		rc = DEED_EBADKEY;
		goto out;
	}
	/* RFC 8555 §7.4: exactly the order's identifiers, no more, no fewer. Both lists are
	 * sorted and de-duplicated. */
	bool same = c->n_names == out->n_identifiers;
	for (size_t i = 0; same && i < c->n_names; i++)
		same = strcmp(c->names[i], out->identifiers[i]) == 0;
	if (!same) {
		*prob = prob_new(PROB_BAD_CSR,
				 "CSR names (%zu) are not exactly the order's identifiers (%zu)",
				 c->n_names, out->n_identifiers);
		rc = DEED_EDENIED;
		goto out;
	}
	if ((rc = recheck_caa(ra, acct, out, az, prob)) != DEED_OK)
		goto out;
	rc = issue(ra, acct, out, c, prob);
out:
	for (size_t i = 0; az != NULL && i < out->n_authz; i++)
		sa_authz_cleanup(&az[i]);
	free(az);
	csr_free(c);
	free(der);
	if (rc != DEED_OK)
		sa_order_cleanup(out);
	return rc;
}

/* --- revocation ------------------------------------------------------------------------ */

/* RFC 5280 §5.3.1 reasons a subscriber may give: unspecified, keyCompromise, superseded,
 * cessationOfOperation, and affiliationChanged/privilegeWithdrawn which carry no CA-side
 * meaning. certificateHold, removeFromCRL and the CA-compromise reasons are refused. */
#define REASON_KEY_COMPROMISE 1

static bool
reason_allowed(long long r)
{
	return r == 0 || r == 1 || r == 3 || r == 4 || r == 5 || r == 9;
}

int
ra_revoke(struct ra *ra, const struct sa_account *acct, const struct jwk *key,
	  const json_t *payload, json_t **prob)
{
	const char *b64 = djson_str(payload, "certificate");
	const json_t *jr = json_object_get(payload, "reason");
	struct sa_cert rec = {0};
	uint8_t *der = NULL;
	const uint8_t *p;
	size_t der_len = 0;
	X509 *x = NULL;
	long long reason = 0;
	char serial[41] = "";
	const ASN1_INTEGER *sn;
	BIGNUM *bn = NULL;
	char *hex = NULL;
	int rc;

	if (b64 == NULL || b64url_decode(b64, strlen(b64), &der, &der_len) != DEED_OK) {
		*prob = prob_new(PROB_MALFORMED, "revokeCert needs \"certificate\" as base64url DER");
		rc = DEED_EMALFORMED;
		goto out;
	}
	p = der;
	if ((x = d2i_X509(NULL, &p, (long)der_len)) == NULL || p != der + der_len) {
		*prob = prob_new(PROB_MALFORMED, "certificate does not parse");
		rc = DEED_EMALFORMED;
		goto out;
	}
	if (jr != NULL) {
		if (!json_is_integer(jr)) {
			*prob = prob_new(PROB_BAD_REVOCATION_REASON, "reason must be an integer");
			rc = DEED_EMALFORMED;
			goto out;
		}
		reason = json_integer_value(jr);
		if (!reason_allowed(reason)) {
			*prob = prob_new(PROB_BAD_REVOCATION_REASON,
					 "reason %lld is not accepted (use 0, 1, 3, 4, 5 or 9)",
					 reason);
			rc = DEED_EINVAL;
			goto out;
		}
	}
	/* Ours? The issuer's signature must verify, then the serial must be on file with the
	 * same bytes. */
	if (X509_verify(x, X509_get0_pubkey(signer_issuer(ra->signer))) != 1) {
		*prob = prob_new(PROB_MALFORMED, "certificate was not issued by this CA");
		rc = DEED_ENOTFOUND;
		goto out;
	}
	sn = X509_get0_serialNumber(x);
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) == NULL || (hex = BN_bn2hex(bn)) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	{
		size_t hl = strlen(hex), pad = hl < 40 ? 40 - hl : 0;

		if (hl > 40) {
			*prob = prob_new(PROB_MALFORMED, "unknown certificate");
			rc = DEED_ENOTFOUND;
			goto out;
		}
		memset(serial, '0', pad);
		for (size_t i = 0; i < hl; i++)
			serial[pad + i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] + 32 : hex[i]);
		serial[40] = '\0';
	}
	rc = ra->sa->ops->cert_get_by_serial(ra->sa, serial, &rec);
	if (rc == DEED_ENOTFOUND || (rc == DEED_OK && (rec.der_len != der_len ||
						       memcmp(rec.der, der, der_len) != 0))) {
		*prob = prob_new(PROB_MALFORMED, "unknown certificate");
		rc = DEED_ENOTFOUND;
		goto out;
	}
	if (rc != DEED_OK)
		goto out;
	if (acct != NULL && rec.account_id != acct->id) {
		*prob = prob_new(PROB_UNAUTHORIZED,
				 "the requesting account did not order this certificate");
		rc = DEED_EDENIED;
		goto out;
	}
	if (key != NULL && EVP_PKEY_eq(key->pkey, X509_get0_pubkey(x)) != 1) {
		*prob = prob_new(PROB_UNAUTHORIZED,
				 "the request is not signed by the certificate's key");
		rc = DEED_EDENIED;
		goto out;
	}
	if (rec.revoked_reason >= 0) {
		*prob = prob_new(PROB_ALREADY_REVOKED, "certificate is already revoked");
		rc = DEED_ECONFLICT;
		goto out;
	}
	rc = ra->sa->ops->cert_revoke(ra->sa, rec.id, (int)reason, now_s());
	if (rc == DEED_ECONFLICT)
		*prob = prob_new(PROB_ALREADY_REVOKED, "certificate is already revoked");
	else if (rc == DEED_OK)
		log_info("ra: revoked certificate %s, reason %lld", serial, reason);
	/* A compromised key is refused from now on, for every account and certificate. */
	if (rc == DEED_OK && reason == REASON_KEY_COMPROMISE) {
		char kh[65];

		if (spki_hex(X509_get0_pubkey(x), kh) != DEED_OK ||
		    ra->sa->ops->blocked_key_add(ra->sa, kh, now_s(), "keyCompromise") != DEED_OK)
			log_err("ra: cannot block the key of revoked certificate %s", serial);
		else
			log_info("ra: blocked key %s (keyCompromise)", kh);
	}
out:
	OPENSSL_free(hex);
	BN_free(bn);
	X509_free(x);
	free(der);
	sa_cert_cleanup(&rec);
	return rc;
}
