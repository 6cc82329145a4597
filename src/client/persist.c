#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>
#include <libpsl.h>

#include "djson.h"
#include "dnsname.h"
#include "error.h"
#include "issuevalue.h"
#include "persist.h"
#include "solver.h"

#define LABEL "_validation-persist."
#define MAX_LEVELS 16 /* names looked at for one identifier: itself and its ancestors */

/* --- directory and options ------------------------------------------------------------- */

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
persist_dir_issuers(const json_t *meta, const char *out[PERSIST_ISSUERS_MAX], size_t *n, char *err,
		    size_t errlen)
{
	const char *key = "issuerDomainNames";
	const json_t *list = json_object_get(meta, key), *v;
	size_t i;

	*n = 0;
	if (!json_is_array(list) || json_array_size(list) == 0) {
		key = "caaIdentities";
		list = json_object_get(meta, key);
	}
	if (!json_is_array(list) || json_array_size(list) == 0) {
		deed_seterr(err, errlen,
			    "the CA's directory names no issuer (meta.issuerDomainNames or "
			    "meta.caaIdentities)");
		return DEED_ENOTFOUND;
	}
	if (json_array_size(list) > PERSIST_ISSUERS_MAX) {
		deed_seterr(err, errlen,
			    "the CA's directory lists %zu names in meta.%s (at most %d)",
			    json_array_size(list), key, PERSIST_ISSUERS_MAX);
		return DEED_EMALFORMED;
	}
	json_array_foreach(list, i, v)
	{
		const char *s = json_string_value(v);

		if (s == NULL || dnsname_check(s, false, NULL, 0) != DEED_OK) {
			deed_seterr(err, errlen,
				    "the CA's directory meta.%s holds \"%.64s\", not a DNS name",
				    key, s != NULL ? s : "(not a string)");
			return DEED_EMALFORMED;
		}
		out[i] = s;
	}
	*n = json_array_size(list);
	qsort(out, *n, sizeof(out[0]), cmp_str);
	return DEED_OK;
}

int
persist_pick_issuer(const char *const *issuers, size_t n, const char *want, const char **out,
		    char *err, size_t errlen)
{
	char norm[DNSNAME_MAX + 1], list[600] = "";
	size_t i, pos = 0;

	*out = NULL;
	if (n == 0) {
		deed_seterr(err, errlen, "the CA names no issuer");
		return DEED_ENOTFOUND;
	}
	if (want == NULL) {
		*out = issuers[0];
		return DEED_OK;
	}
	if (dnsname_normalize(want, false, norm, sizeof(norm), NULL, 0) == DEED_OK) {
		for (i = 0; i < n; i++) {
			if (strcmp(issuers[i], norm) == 0) {
				*out = issuers[i];
				return DEED_OK;
			}
		}
	}
	for (i = 0; i < n && pos < sizeof(list); i++) {
		int w =
		    snprintf(list + pos, sizeof(list) - pos, "%s%s", i > 0 ? ", " : "", issuers[i]);

		if (w < 0)
			break;
		pos += (size_t)w;
	}
	deed_seterr(err, errlen, "issuer \"%.64s\" is not offered by the CA (it names: %s)", want,
		    list);
	return DEED_ENOTFOUND;
}

/* n decimal digits at s into *v. */
static bool
digits(const char *s, size_t n, int *v)
{
	*v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int
persist_parse_until(const char *s, int64_t *out, char *err, size_t errlen)
{
	size_t n = s != NULL ? strlen(s) : 0;
	struct tm tm = {0};
	int y, m, d;
	time_t t;

	*out = 0;
	if (n == 10 && s[4] == '-' && s[7] == '-' && digits(s, 4, &y) && digits(s + 5, 2, &m) &&
	    digits(s + 8, 2, &d)) {
		tm.tm_year = y - 1900;
		tm.tm_mon = m - 1;
		tm.tm_mday = d;
		t = timegm(&tm);
		/* timegm normalizes 2026-02-30 to March: a changed field means no such day. */
		if (m >= 1 && m <= 12 && d >= 1 && tm.tm_year == y - 1900 && tm.tm_mon == m - 1 &&
		    tm.tm_mday == d && t > 0) {
			*out = (int64_t)t;
			return DEED_OK;
		}
	} else if (n > 0 && n <= 18 && strspn(s, "0123456789") == n) {
		int64_t v = 0;

		for (size_t i = 0; i < n; i++)
			v = v * 10 + (s[i] - '0');
		if (v > 0) {
			*out = v;
			return DEED_OK;
		}
	}
	deed_seterr(err, errlen,
		    "--until \"%.40s\": give a date YYYY-MM-DD (UTC midnight) or UNIX seconds",
		    s != NULL ? s : "");
	return DEED_EINVAL;
}

void
persist_format_time(int64_t t, char *out, size_t outsz)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, outsz, "%" PRId64, t);
}

/* --- the record to publish ------------------------------------------------------------- */

int
persist_build(const struct persist_spec *spec, struct persist_record *out, char *err, size_t errlen)
{
	char why[200];
	bool hashed;
	int rc;

	memset(out, 0, sizeof(*out));
	if (spec->domain == NULL ||
	    dnsname_normalize(spec->domain, true, out->domain, sizeof(out->domain), why,
			      sizeof(why)) != DEED_OK) {
		deed_seterr(err, errlen, "-d %.260s: %s", spec->domain != NULL ? spec->domain : "",
			    spec->domain != NULL ? why : "no name");
		return DEED_EINVAL;
	}
	/* The record for *.NAME lives at NAME and needs policy=wildcard (§4.3, §4.6). */
	out->wildcard = spec->wildcard || dnsname_is_wildcard(out->domain);
	if (dnsname_is_wildcard(out->domain))
		memmove(out->domain, out->domain + 2, strlen(out->domain + 2) + 1);
	if (snprintf(out->name, sizeof(out->name), LABEL "%s", out->domain) >=
	    (int)sizeof(out->name)) {
		deed_seterr(err, errlen, LABEL "%s is too long", out->domain);
		return DEED_EINVAL;
	}
	switch (spec->form) {
	case PERSIST_FORM_HASHED:
		hashed = true;
		break;
	case PERSIST_FORM_PLAIN:
		hashed = false;
		break;
	default:
		hashed = spec->hash_prefix != NULL && spec->hash_prefix[0] != '\0';
	}
	if (hashed && (spec->hash_prefix == NULL || spec->hash_prefix[0] == '\0')) {
		deed_seterr(err, errlen,
			    "--form hashed: the CA advertises no meta.accountHashPrefix");
		return DEED_EINVAL;
	}
	out->hashed = hashed;
	/* Draft -02 §3.1: the digest covers the FQDN the record is at, binding it there. */
	if (hashed)
		rc =
		    persist_hashed_uri(spec->hash_prefix, out->domain, spec->thumbprint,
				       spec->account_url, out->accounturi, sizeof(out->accounturi));
	else
		rc = snprintf(out->accounturi, sizeof(out->accounturi), "%s", spec->account_url) <
			     (int)sizeof(out->accounturi)
			 ? DEED_OK
			 : DEED_EINVAL;
	if (rc != DEED_OK) {
		deed_seterr(err, errlen, "cannot compute the accounturi: %s", deed_strerror(rc));
		return DEED_EINVAL;
	}
	if (persist_record_value(spec->issuer, out->accounturi, out->wildcard, spec->until,
				 out->value, sizeof(out->value)) != DEED_OK) {
		deed_seterr(err, errlen,
			    "cannot build a record for issuer \"%.64s\" and accounturi \"%.200s\"",
			    spec->issuer != NULL ? spec->issuer : "", out->accounturi);
		return DEED_EINVAL;
	}
	if (persist_zone_line(out->domain, spec->ttl, out->value, out->zone_line,
			      sizeof(out->zone_line)) != DEED_OK) {
		deed_seterr(err, errlen, "cannot format the zone-file line for %s", out->name);
		return DEED_EINVAL;
	}
	return DEED_OK;
}

char *
persist_record_json(const struct persist_record *r)
{
	json_t *j = json_pack("{s:s,s:s,s:s}", "name", r->name, "value", r->value, "zone_line",
			      r->zone_line);
	char *s = djson_dump(j);

	json_decref(j);
	return s;
}

/* --- checking what is published -------------------------------------------------------- */

void
persist_judge(const struct persist_query *q, char *const *txt, const size_t *len, size_t n,
	      struct persist_report *out)
{
	struct persist_check c = {0};
	const char *tp[1] = {q->thumbprint};
	char why[4096] = "", when[40];
	struct issuevalue iv;
	size_t which = n;
	int64_t days;

	memset(out, 0, sizeof(*out));
	out->until = INT64_MAX;
	c.issuers = q->issuers;
	c.n_issuers = q->n_issuers;
	c.account_url = q->account_url;
	c.accept_plain = true;
	c.hash_prefix = q->hash_prefix;
	c.thumbprints = q->thumbprint != NULL ? tp : NULL;
	c.n_thumbprints = q->thumbprint != NULL ? 1 : 0;
	c.record_domain = q->domain;
	c.need_wildcard_policy = q->need_wildcard;
	c.now = q->now;
	out->verdict = persist_evaluate_all(&c, txt, len, n, &which, &out->until, why, sizeof(why));
	if (which < n)
		snprintf(
		    out->record, sizeof(out->record), "%.*s",
		    (int)(len[which] < sizeof(out->record) ? len[which] : sizeof(out->record) - 1),
		    txt[which]);
	if (out->verdict != PERSIST_VALID) {
		snprintf(out->verdict_line, sizeof(out->verdict_line), "NOT OK: %s", why);
		return;
	}
	out->ok = true;
	if (issuevalue_parse(txt[which], len[which], &iv, NULL, 0) == DEED_OK) {
		const char *acct = issuevalue_get(&iv, "accounturi");
		const char *policy = issuevalue_get(&iv, "policy");

		snprintf(out->issuer, sizeof(out->issuer), "%s", iv.issuer);
		out->hashed = acct != NULL && strcmp(acct, q->account_url) != 0;
		out->wildcard = policy != NULL && strcasecmp(policy, "wildcard") == 0;
	}
	snprintf(out->verdict_line, sizeof(out->verdict_line),
		 "OK: \"%s\" authorizes account %s for %s%s%s", out->record, q->account_url,
		 q->domain, out->wildcard ? " and *." : "", out->wildcard ? q->domain : "");
	if (out->until != INT64_MAX) {
		days = (out->until - q->now) / 86400;
		if (out->until - q->now < (int64_t)PERSIST_WARN_DAYS * 86400) {
			persist_format_time(out->until, when, sizeof(when));
			snprintf(out->warning, sizeof(out->warning),
				 "WARNING: the record expires at %s (persistUntil, in %" PRId64
				 " days); publish one with a later --until before then",
				 when, days);
		}
	}
}

char *
persist_report_json(const struct persist_query *q, const struct persist_report *r)
{
	json_t *j = json_pack("{s:b,s:s,s:s,s:s,s:s,s:b}", "ok", r->ok, "name", q->domain,
			      "account", q->account_url, "verdict", r->verdict_line, "record",
			      r->record, "wildcard", r->wildcard);
	char *s;

	if (j == NULL)
		return NULL;
	if (r->ok) {
		json_object_set_new(j, "issuer", json_string(r->issuer));
		json_object_set_new(j, "accounturi_form",
				    json_string(r->hashed ? "hashed" : "plain"));
		json_object_set_new(j, "persistUntil",
				    r->until != INT64_MAX ? json_integer(r->until) : json_null());
	}
	if (r->warning[0] != '\0')
		json_object_set_new(j, "warning", json_string(r->warning));
	s = djson_dump(j);
	json_decref(j);
	return s;
}

int
persist_check_dns(const char *resolver, const struct persist_query *q, struct persist_report *out,
		  char *err, size_t errlen)
{
	char name[DNSNAME_MAX + 24], **vals = NULL;
	size_t *lens = NULL, n = 0;
	int rc;

	if (snprintf(name, sizeof(name), LABEL "%s", q->domain) >= (int)sizeof(name)) {
		deed_seterr(err, errlen, LABEL "%s is too long", q->domain);
		return DEED_EINVAL;
	}
	if ((rc = solver_dns_query_txt(resolver, name, &vals, &lens, &n, err, errlen)) != DEED_OK)
		return rc;
	persist_judge(q, vals, lens, n, out);
	solver_dns_txt_free(vals, lens, n);
	return DEED_OK;
}

/* --- the solver ------------------------------------------------------------------------ */

struct persist_solver {
	struct solver base; /* first: struct solver * converts to this */
	bool check;
	char resolver[128];
	char account_url[PERSIST_URI_MAX];
	char thumbprint[64];
	char hash_prefix[PERSIST_URI_MAX];
	bool has_prefix;
};

/*
 * Judge the name, then each ancestor up to the registered domain (needing policy=wildcard
 * there), as deed-ca does (protocol notes §4.13 item 4). A CA that does not climb will still
 * refuse a record found only at an ancestor; the CA has the last word.
 */
static int
persist_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct persist_solver *p = (struct persist_solver *)s;
	const psl_ctx_t *psl = psl_builtin();
	const char *reg, *name;
	struct persist_report *rep = NULL;
	char first[4608] = "";
	size_t level = 0;
	int rc = DEED_OK;

	if (!p->check)
		return DEED_OK;
	if (c == NULL || c->identifier == NULL || c->n_issuers == 0) {
		deed_seterr(err, errlen, "dns-persist-01: no identifier or issuer names to check");
		return DEED_EINVAL;
	}
	if ((rep = malloc(sizeof(*rep))) == NULL)
		return DEED_ENOMEM;
	reg = psl != NULL ? psl_registrable_domain(psl, c->identifier) : NULL;
	for (name = c->identifier; name != NULL && level < MAX_LEVELS; level++) {
		struct persist_query q = {
		    .domain = name,
		    .need_wildcard = c->wildcard || level > 0,
		    .account_url = p->account_url,
		    .thumbprint = p->thumbprint,
		    .issuers = c->issuers,
		    .n_issuers = c->n_issuers,
		    .hash_prefix = p->has_prefix ? p->hash_prefix : NULL,
		    .now = (int64_t)time(NULL),
		};

		rc = persist_check_dns(p->resolver, &q, rep, err, errlen);
		if (rc != DEED_OK && level == 0)
			break;
		if (rc == DEED_OK && rep->ok)
			break;
		if (level == 0)
			snprintf(first, sizeof(first), "%s", rep->verdict_line);
		rc = DEED_EDENIED;
		if (reg == NULL || strcmp(name, reg) == 0)
			break;
		name = strchr(name, '.');
		name = name != NULL ? name + 1 : NULL;
	}
	if (rc == DEED_EDENIED)
		deed_seterr(err, errlen, "dns-persist-01 record for %s%s (checked at %s): %s",
			    c->wildcard ? "*." : "", c->identifier,
			    p->resolver[0] != '\0' ? p->resolver : "the system resolver", first);
	free(rep);
	return rc;
}

static int
persist_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	return DEED_OK; /* the record is persistent by design */
}

static void
persist_free(struct solver *s)
{
	free(s);
}

static const struct solver_ops persist_ops = {persist_present, NULL, persist_cleanup, persist_free};

static bool
copy(char *dst, size_t dstsz, const char *src)
{
	return src != NULL && snprintf(dst, dstsz, "%s", src) < (int)dstsz;
}

int
persist_solver_new(const struct persist_solver_opts *o, struct solver **out, char *err,
		   size_t errlen)
{
	struct persist_solver *p;

	*out = NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return DEED_ENOMEM;
	p->base.ops = &persist_ops;
	p->base.type = "dns-persist-01";
	p->check = o != NULL && o->resolver != NULL;
	if (p->check && (!copy(p->resolver, sizeof(p->resolver), o->resolver) ||
			 !copy(p->account_url, sizeof(p->account_url), o->account_url) ||
			 !copy(p->thumbprint, sizeof(p->thumbprint), o->thumbprint) ||
			 (o->hash_prefix != NULL &&
			  !copy(p->hash_prefix, sizeof(p->hash_prefix), o->hash_prefix)))) {
		deed_seterr(err, errlen,
			    "dns-persist-01: resolver, account or key missing or too long");
		free(p);
		return DEED_EINVAL;
	}
	p->has_prefix = p->check && o->hash_prefix != NULL && o->hash_prefix[0] != '\0';
	*out = &p->base;
	return DEED_OK;
}
