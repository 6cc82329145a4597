#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "error.h"
#include "sa.h"

/*
 * The storage authority against the SQLite driver, on a fresh database in a temporary
 * directory per test.
 */

#define NOW 1700000000
#define DAY 86400

struct env {
	char dir[64];
	char path[96];
	struct sa *sa;
};

static void
remove_dir(const char *dir)
{
	DIR *d;
	struct dirent *de;
	char p[400];

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	char err[256] = "";

	if (e == NULL)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/deed-test-sa-XXXXXX");
	if (mkdtemp(e->dir) == NULL) {
		free(e);
		return -1;
	}
	snprintf(e->path, sizeof(e->path), "%s/ca.db", e->dir);
	if (sa_open(e->path, &e->sa, err, sizeof(err)) != DEED_OK) {
		print_error("sa_open: %s\n", err);
		remove_dir(e->dir);
		free(e);
		return -1;
	}
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	sa_close(e->sa);
	remove_dir(e->dir);
	free(e);
	return 0;
}

static struct sa *
SA(void **state)
{
	return ((struct env *)*state)->sa;
}

/* --- fixtures -------------------------------------------------------------------------- */

static int64_t
make_account(struct sa *sa, const char *thumb)
{
	struct sa_account a = {0};

	a.status = SA_ACCT_VALID;
	a.jwk_json = (char *)"{\"kty\":\"EC\"}";
	snprintf(a.thumbprint, sizeof(a.thumbprint), "%s", thumb);
	a.contact_json = (char *)"[\"mailto:a@example.org\"]";
	a.tos_agreed = true;
	a.created_at = NOW;
	assert_int_equal(sa->ops->account_create(sa, &a), DEED_OK);
	assert_true(a.id > 0);
	return a.id;
}

/* A pending authorization template for name with an http-01 and a dns-01 challenge. */
static void
new_authz(struct sa_authz *a, struct sa_chall ch[2], const char *name, bool wildcard,
	  int64_t expires)
{
	memset(a, 0, sizeof(*a));
	memset(ch, 0, 2 * sizeof(*ch));
	snprintf(a->identifier, sizeof(a->identifier), "%s", name);
	a->wildcard = wildcard;
	a->status = SA_AUTHZ_PENDING;
	a->created_at = NOW;
	a->expires = expires;
	snprintf(ch[0].type, sizeof(ch[0].type), "http-01");
	snprintf(ch[0].token, sizeof(ch[0].token), "tok-http-%s", name);
	snprintf(ch[1].type, sizeof(ch[1].type), "dns-01");
	snprintf(ch[1].token, sizeof(ch[1].token), "tok-dns-%s", name);
	a->challs = ch;
	a->n_challs = 2;
}

/* A pending order of acct for the n names, to be created. */
static void
new_order(struct sa_order *o, int64_t acct, char **names, size_t n)
{
	memset(o, 0, sizeof(*o));
	o->account_id = acct;
	o->status = SA_ORDER_PENDING;
	o->expires = NOW + 7 * DAY;
	o->created_at = NOW;
	o->identifiers = names;
	o->n_identifiers = n;
}

/* An order for one name with a fresh authorization; *authz_id and *chall_ids (2) filled. */
static int64_t
make_order(struct sa *sa, int64_t acct, const char *name, int64_t authz_expires, int64_t *authz_id,
	   int64_t chall_ids[2])
{
	struct sa_authz az;
	struct sa_chall ch[2];
	char *names[1] = {(char *)name};
	struct sa_order o = {0};
	int64_t id;

	new_authz(&az, ch, name, false, authz_expires);
	new_order(&o, acct, names, 1);
	assert_int_equal(sa->ops->order_create(sa, &o, &az, NULL, 0), DEED_OK);
	if (authz_id != NULL)
		*authz_id = az.id;
	if (chall_ids != NULL) {
		chall_ids[0] = ch[0].id;
		chall_ids[1] = ch[1].id;
	}
	id = o.id;
	free(o.authz_ids);
	return id;
}

/* An authorization made valid through its first challenge, expiring at expires. */
static int64_t
make_valid_authz(struct sa *sa, int64_t acct, const char *name, int64_t expires)
{
	int64_t authz, ch[2];

	make_order(sa, acct, name, NOW + DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], true, NOW, expires, NULL, "[]", NULL), DEED_OK);
	return authz;
}

static const uint8_t TBS[] = {0x30, 0x03, 0x02, 0x01, 0x01};
static const uint8_t DER[] = {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x01};

static int
reserve(struct sa *sa, int64_t order, int64_t acct, const char *serial, int64_t *cert_id)
{
	struct sa_cert c = {0};
	int rc;

	snprintf(c.serial, sizeof(c.serial), "%s", serial);
	c.order_id = order;
	c.account_id = acct;
	c.tbs_der = (uint8_t *)TBS;
	c.tbs_len = sizeof(TBS);
	c.not_before = NOW;
	c.not_after = NOW + 90 * DAY;
	rc = sa->ops->cert_reserve(sa, &c);
	if (cert_id != NULL)
		*cert_id = c.id;
	return rc;
}

static enum sa_order_status
order_status(struct sa *sa, int64_t id)
{
	struct sa_order o;
	enum sa_order_status st;

	assert_int_equal(sa->ops->order_get(sa, id, &o), DEED_OK);
	st = o.status;
	sa_order_cleanup(&o);
	return st;
}

static enum sa_authz_status
authz_status(struct sa *sa, int64_t id)
{
	struct sa_authz a;
	enum sa_authz_status st;

	assert_int_equal(sa->ops->authz_get(sa, id, &a), DEED_OK);
	st = a.status;
	sa_authz_cleanup(&a);
	return st;
}

/* --- accounts -------------------------------------------------------------------------- */

static void
account_created_is_found_by_id_and_thumbprint(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a;
	int64_t id = make_account(sa, "thumb-A");

	assert_int_equal(sa->ops->account_get(sa, id, &a), DEED_OK);
	assert_int_equal(a.id, id);
	assert_int_equal(a.status, SA_ACCT_VALID);
	assert_string_equal(a.jwk_json, "{\"kty\":\"EC\"}");
	assert_string_equal(a.thumbprint, "thumb-A");
	assert_string_equal(a.contact_json, "[\"mailto:a@example.org\"]");
	assert_true(a.tos_agreed);
	assert_int_equal(a.created_at, NOW);
	sa_account_cleanup(&a);

	assert_int_equal(sa->ops->account_get_by_thumbprint(sa, "thumb-A", &a), DEED_OK);
	assert_int_equal(a.id, id);
	sa_account_cleanup(&a);

	assert_int_equal(sa->ops->account_get(sa, id + 1, &a), DEED_ENOTFOUND);
	assert_int_equal(sa->ops->account_get_by_thumbprint(sa, "nobody", &a), DEED_ENOTFOUND);
	sa_account_cleanup(&a); /* a failed getter leaves a struct cleanup accepts */
}

static void
account_with_registered_thumbprint_conflicts(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a = {0};

	make_account(sa, "thumb-A");
	a.status = SA_ACCT_VALID;
	a.jwk_json = (char *)"{}";
	snprintf(a.thumbprint, sizeof(a.thumbprint), "thumb-A");
	assert_int_equal(sa->ops->account_create(sa, &a), DEED_ECONFLICT);
}

static void
account_without_contact_stores_empty_array(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a = {0}, got;

	a.jwk_json = (char *)"{}";
	snprintf(a.thumbprint, sizeof(a.thumbprint), "t");
	assert_int_equal(sa->ops->account_create(sa, &a), DEED_OK);
	assert_int_equal(sa->ops->account_get(sa, a.id, &got), DEED_OK);
	assert_string_equal(got.contact_json, "[]");
	sa_account_cleanup(&got);
}

static void
account_contact_update_persists_and_missing_is_notfound(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a;
	int64_t id = make_account(sa, "thumb-A");

	assert_int_equal(sa->ops->account_update_contact(sa, id, "[\"mailto:b@example.org\"]"),
			 DEED_OK);
	assert_int_equal(sa->ops->account_get(sa, id, &a), DEED_OK);
	assert_string_equal(a.contact_json, "[\"mailto:b@example.org\"]");
	sa_account_cleanup(&a);
	assert_int_equal(sa->ops->account_update_contact(sa, id + 9, "[]"), DEED_ENOTFOUND);
}

static void
account_status_cas_checks_expected_status(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a;
	int64_t id = make_account(sa, "thumb-A");

	assert_int_equal(sa->ops->account_cas_status(sa, id, SA_ACCT_DEACTIVATED, SA_ACCT_REVOKED),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->account_cas_status(sa, id, SA_ACCT_VALID, SA_ACCT_DEACTIVATED),
			 DEED_OK);
	assert_int_equal(sa->ops->account_cas_status(sa, id, SA_ACCT_VALID, SA_ACCT_DEACTIVATED),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->account_get(sa, id, &a), DEED_OK);
	assert_int_equal(a.status, SA_ACCT_DEACTIVATED);
	sa_account_cleanup(&a);
	assert_int_equal(sa->ops->account_cas_status(sa, 999, SA_ACCT_VALID, SA_ACCT_DEACTIVATED),
			 DEED_ENOTFOUND);
}

static void
account_key_change_swaps_key_and_frees_old_thumbprint(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a;
	int64_t owner = -1, id = make_account(sa, "old");

	assert_int_equal(
	    sa->ops->account_change_key(sa, id, "old", "{\"kty\":\"OKP\"}", "new", &owner),
	    DEED_OK);
	assert_int_equal(owner, 0);
	assert_int_equal(sa->ops->account_get_by_thumbprint(sa, "new", &a), DEED_OK);
	assert_int_equal(a.id, id);
	assert_string_equal(a.jwk_json, "{\"kty\":\"OKP\"}");
	sa_account_cleanup(&a);
	assert_int_equal(sa->ops->account_get_by_thumbprint(sa, "old", &a), DEED_ENOTFOUND);
	/* The old key is free again: a new account may register it. */
	make_account(sa, "old");
}

/* dns-persist-01 (draft -02) needs every key an account has used: each rollover keeps the
 * retired key's thumbprint, newest first; the current key is never listed; a failed
 * rollover keeps nothing. */
static void
account_key_changes_keep_old_thumbprints(void **state)
{
	struct sa *sa = SA(state);
	char old[4][SA_THUMBPRINT_MAX];
	int64_t owner, id = make_account(sa, "k1");
	size_t n = 9;

	make_account(sa, "other");
	assert_int_equal(sa->ops->account_old_thumbprints(sa, id, old, 4, &n), DEED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sa->ops->account_change_key(sa, id, "k1", "{}", "k2", &owner), DEED_OK);
	assert_int_equal(sa->ops->account_change_key(sa, id, "k2", "{}", "k3", &owner), DEED_OK);
	assert_int_equal(sa->ops->account_change_key(sa, id, "k3", "{}", "other", &owner),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->account_change_key(sa, id, "stale", "{}", "k4", &owner),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->account_old_thumbprints(sa, id, old, 4, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(old[0], "k2");
	assert_string_equal(old[1], "k1");
	/* Back to k1: k3 is retired now, k1 is current again. */
	assert_int_equal(sa->ops->account_change_key(sa, id, "k3", "{}", "k1", &owner), DEED_OK);
	assert_int_equal(sa->ops->account_old_thumbprints(sa, id, old, 4, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(old[0], "k3");
	assert_string_equal(old[1], "k2");
	/* And away from k1 again: it comes first. max is honoured. */
	assert_int_equal(sa->ops->account_change_key(sa, id, "k1", "{}", "k5", &owner), DEED_OK);
	assert_int_equal(sa->ops->account_old_thumbprints(sa, id, old, 2, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_string_equal(old[0], "k1");
	assert_string_equal(old[1], "k3");
	assert_int_equal(sa->ops->account_old_thumbprints(sa, 999, old, 4, &n), DEED_OK);
	assert_int_equal(n, 0);
}

static void
account_key_change_to_anothers_key_names_owner(void **state)
{
	struct sa *sa = SA(state);
	struct sa_account a;
	int64_t owner = 0, id = make_account(sa, "mine"), other = make_account(sa, "theirs");

	assert_int_equal(sa->ops->account_change_key(sa, id, "mine", "{}", "theirs", &owner),
			 DEED_ECONFLICT);
	assert_int_equal(owner, other);
	assert_int_equal(sa->ops->account_get(sa, id, &a), DEED_OK);
	assert_string_equal(a.thumbprint, "mine");
	sa_account_cleanup(&a);
}

static void
account_key_change_with_stale_old_key_conflicts(void **state)
{
	struct sa *sa = SA(state);
	int64_t owner = -1, id = make_account(sa, "current");

	assert_int_equal(sa->ops->account_change_key(sa, id, "stale", "{}", "new", &owner),
			 DEED_ECONFLICT);
	assert_int_equal(owner, 0);
	assert_int_equal(sa->ops->account_change_key(sa, 999, "current", "{}", "new2", &owner),
			 DEED_ENOTFOUND);
}

/* --- orders ---------------------------------------------------------------------------- */

static void
order_create_links_new_and_reused_authz_in_identifier_order(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t reused = make_valid_authz(sa, acct, "b.example", NOW + 30 * DAY);
	struct sa_authz az[3], got;
	struct sa_chall ch_a[2], ch_c[2];
	char *names[3] = {(char *)"*.a.example", (char *)"b.example", (char *)"c.example"};
	struct sa_order o = {0}, g;

	new_authz(&az[0], ch_a, "a.example", true, NOW + DAY);
	memset(&az[1], 0, sizeof(az[1]));
	az[1].id = reused;
	new_authz(&az[2], ch_c, "c.example", false, NOW + DAY);
	new_order(&o, acct, names, 3);
	o.not_before = NOW + 10;
	o.not_after = NOW + 20;
	assert_int_equal(sa->ops->order_create(sa, &o, az, NULL, 0), DEED_OK);
	assert_true(o.id > 0);
	assert_int_equal(o.n_authz, 3);
	assert_true(az[0].id > 0 && az[2].id > 0 && az[0].id != az[2].id);
	assert_int_equal(o.authz_ids[0], az[0].id);
	assert_int_equal(o.authz_ids[1], reused);
	assert_int_equal(o.authz_ids[2], az[2].id);
	assert_true(ch_a[0].id > 0 && ch_a[1].id > 0 && ch_c[0].id > 0);
	assert_int_equal(ch_a[1].authz_id, az[0].id);
	free(o.authz_ids);

	assert_int_equal(sa->ops->order_get(sa, o.id, &g), DEED_OK);
	assert_int_equal(g.account_id, acct);
	assert_int_equal(g.status, SA_ORDER_PENDING);
	assert_int_equal(g.expires, NOW + 7 * DAY);
	assert_int_equal(g.created_at, NOW);
	assert_int_equal(g.not_before, NOW + 10);
	assert_int_equal(g.not_after, NOW + 20);
	assert_int_equal(g.n_identifiers, 3);
	assert_int_equal(g.n_authz, 3);
	for (size_t i = 0; i < 3; i++)
		assert_string_equal(g.identifiers[i], names[i]);
	assert_int_equal(g.authz_ids[0], az[0].id);
	assert_int_equal(g.authz_ids[1], reused);
	assert_int_equal(g.authz_ids[2], az[2].id);
	assert_null(g.error_json);
	assert_int_equal(g.cert_id, 0);
	sa_order_cleanup(&g);

	assert_int_equal(sa->ops->authz_get(sa, az[0].id, &got), DEED_OK);
	assert_int_equal(got.account_id, acct);
	assert_string_equal(got.identifier, "a.example");
	assert_true(got.wildcard);
	assert_int_equal(got.status, SA_AUTHZ_PENDING);
	assert_int_equal(got.expires, NOW + DAY);
	assert_int_equal(got.n_challs, 2);
	assert_int_equal(got.challs[0].id, ch_a[0].id);
	assert_string_equal(got.challs[0].type, "http-01");
	assert_string_equal(got.challs[0].token, "tok-http-a.example");
	assert_int_equal(got.challs[0].status, SA_CHALL_PENDING);
	assert_string_equal(got.challs[1].type, "dns-01");
	assert_null(got.challs[1].error_json);
	sa_authz_cleanup(&got);
}

static void
order_create_refuses_other_accounts_authz_and_rolls_back(void **state)
{
	struct sa *sa = SA(state);
	int64_t mine = make_account(sa, "mine"), theirs = make_account(sa, "theirs");
	int64_t foreign = make_valid_authz(sa, theirs, "b.example", NOW + 30 * DAY);
	struct sa_authz az[2];
	struct sa_chall ch[2];
	char *names[2] = {(char *)"a.example", (char *)"b.example"};
	struct sa_order o = {0};
	size_t n;
	int64_t ids[4];

	new_authz(&az[0], ch, "a.example", false, NOW + DAY);
	memset(&az[1], 0, sizeof(az[1]));
	az[1].id = foreign;
	o.account_id = mine;
	o.expires = NOW + DAY;
	o.identifiers = names;
	o.n_identifiers = 2;
	assert_int_equal(sa->ops->order_create(sa, &o, az, NULL, 0), DEED_ENOTFOUND);
	/* Nothing of the rolled-back transaction is left, ids included. */
	assert_int_equal(o.id, 0);
	assert_null(o.authz_ids);
	assert_int_equal(az[0].id, 0);
	assert_int_equal(ch[0].id, 0);
	assert_int_equal(sa->ops->order_list(sa, mine, 0, ids, 4, &n), DEED_OK);
	assert_int_equal(n, 0);
}

static void
order_create_for_missing_account_is_notfound(void **state)
{
	struct sa *sa = SA(state);
	struct sa_authz az;
	struct sa_chall ch[2];
	char *names[1] = {(char *)"a.example"};
	struct sa_order o = {0};

	new_authz(&az, ch, "a.example", false, NOW + DAY);
	o.account_id = 42;
	o.identifiers = names;
	o.n_identifiers = 1;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, NULL, 0), DEED_ENOTFOUND);
	assert_int_equal(az.id, 0);
}

static int count_broken(void *arg, const char *what, int64_t bad);
static int count_audit(void *arg, const struct sa_validation *v);

/* Validated while the order is made (dns-persist-01 just in time): the authorization is
 * stored valid with its one valid challenge and the audit records, in one transaction. */
static void
order_create_stores_authz_validated_on_creation(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	struct sa_authz az, got;
	struct sa_chall ch[2];
	char *names[1] = {(char *)"a.example"};
	struct sa_order o = {0};
	struct sa_validation v[2] = {
	    {.at = NOW, .account_id = acct, .identifier = "a.example", .method = "dns-01",
	     .jit = true, .ok = true, .records_json = (char *)"[]"},
	    {.at = NOW, .account_id = acct, .identifier = "a.example", .method = "dns-01",
	     .jit = true, .ok = false, .problem_json = (char *)"{}"},
	};
	char broken[512] = "";
	int n_audit = 0;

	new_order(&o, acct, names, 1);
	/* Shapes a validation cannot produce are refused, and nothing is stored. */
	new_authz(&az, ch, "a.example", false, NOW + DAY);
	az.status = SA_AUTHZ_VALID;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, v, 2), DEED_EINVAL);
	az.status = SA_AUTHZ_PENDING;
	ch[1].status = SA_CHALL_VALID;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, v, 2), DEED_EINVAL);
	az.status = SA_AUTHZ_VALID;
	ch[0].status = SA_CHALL_VALID;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, v, 2), DEED_EINVAL);
	ch[0].status = SA_CHALL_PROCESSING;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, v, 2), DEED_EINVAL);
	assert_int_equal(az.id, 0);
	assert_int_equal(sa->ops->validation_list(sa, NULL, count_audit, &n_audit), DEED_OK);
	assert_int_equal(n_audit, 0);

	ch[0].status = SA_CHALL_PENDING;
	ch[1].validated_at = NOW + 3;
	ch[1].record_json = (char *)"[{\"name\":\"a.example\"}]";
	az.expires = NOW + 30 * DAY;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, v, 2), DEED_OK);
	assert_true(v[0].id > 0 && v[1].id > v[0].id);
	assert_int_equal(sa->ops->validation_list(sa, NULL, count_audit, &n_audit), DEED_OK);
	assert_int_equal(n_audit, 2);
	assert_int_equal(sa->ops->authz_get(sa, az.id, &got), DEED_OK);
	assert_int_equal(got.status, SA_AUTHZ_VALID);
	assert_int_equal(got.expires, NOW + 30 * DAY);
	assert_int_equal(got.challs[0].status, SA_CHALL_PENDING);
	assert_int_equal(got.challs[0].validated_at, 0);
	assert_null(got.challs[0].record_json);
	assert_int_equal(got.challs[1].status, SA_CHALL_VALID);
	assert_int_equal(got.challs[1].validated_at, NOW + 3);
	assert_string_equal(got.challs[1].record_json, "[{\"name\":\"a.example\"}]");
	sa_authz_cleanup(&got);
	/* Settled: no challenge of it starts any more, and the store's invariants hold. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[0].id, NOW), DEED_ECONFLICT);
	assert_int_equal(sa->ops->validation_any_ok(sa, acct, "dns-01"), DEED_OK);
	assert_int_equal(sa->ops->check(sa, count_broken, broken), DEED_OK);
	assert_string_equal(broken, "");
	free(o.authz_ids);
}

static void
order_list_pages_newest_first(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), other = make_account(sa, "u");
	int64_t made[5], ids[8];
	size_t n;

	for (int i = 0; i < 5; i++) {
		made[i] = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
		make_order(sa, other, "a.example", NOW + DAY, NULL, NULL);
	}
	assert_int_equal(sa->ops->order_list(sa, acct, 0, ids, 2, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], made[4]);
	assert_int_equal(ids[1], made[3]);
	assert_int_equal(sa->ops->order_list(sa, acct, ids[1], ids, 2, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], made[2]);
	assert_int_equal(ids[1], made[1]);
	assert_int_equal(sa->ops->order_list(sa, acct, ids[1], ids, 8, &n), DEED_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], made[0]);
	assert_int_equal(sa->ops->order_list(sa, acct, made[0], ids, 8, &n), DEED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sa->ops->order_list(sa, 999, 0, ids, 8, &n), DEED_OK);
	assert_int_equal(n, 0);
}

/* Positions are numbers, not text: the eleventh identifier does not sort before the second. */
static void
order_with_twelve_identifiers_keeps_their_order(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	struct sa_authz az[12];
	struct sa_chall ch[12][2];
	char names[12][32], *np[12];
	struct sa_order o = {0}, g;

	for (int i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "n%02d.example", i);
		np[i] = names[i];
		new_authz(&az[i], ch[i], names[i], false, NOW + DAY);
	}
	o.account_id = acct;
	o.expires = NOW + DAY;
	o.identifiers = np;
	o.n_identifiers = 12;
	assert_int_equal(sa->ops->order_create(sa, &o, az, NULL, 0), DEED_OK);
	free(o.authz_ids);
	assert_int_equal(sa->ops->order_get(sa, o.id, &g), DEED_OK);
	assert_int_equal(g.n_identifiers, 12);
	assert_int_equal(g.n_authz, 12);
	for (int i = 0; i < 12; i++) {
		assert_string_equal(g.identifiers[i], names[i]);
		assert_int_equal(g.authz_ids[i], az[i].id);
	}
	sa_order_cleanup(&g);
}

static void
order_status_cas_stores_error(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t id = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	struct sa_order o;

	assert_int_equal(
	    sa->ops->order_cas_status(sa, id, SA_ORDER_PROCESSING, SA_ORDER_INVALID, NULL),
	    DEED_ECONFLICT);
	assert_int_equal(sa->ops->order_cas_status(sa, id, SA_ORDER_PENDING, SA_ORDER_INVALID,
						   "{\"type\":\"x\"}"),
			 DEED_OK);
	assert_int_equal(sa->ops->order_get(sa, id, &o), DEED_OK);
	assert_int_equal(o.status, SA_ORDER_INVALID);
	assert_string_equal(o.error_json, "{\"type\":\"x\"}");
	sa_order_cleanup(&o);
	assert_int_equal(
	    sa->ops->order_cas_status(sa, 999, SA_ORDER_PENDING, SA_ORDER_INVALID, NULL),
	    DEED_ENOTFOUND);
	assert_int_equal(sa->ops->order_get(sa, 999, &o), DEED_ENOTFOUND);
}

/* --- authorizations and challenges ----------------------------------------------------- */

static void
chall_begin_moves_pending_to_processing_once(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];
	struct sa_chall c;

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_get(sa, ch[0], &c), DEED_OK);
	assert_int_equal(c.status, SA_CHALL_PROCESSING);
	sa_chall_cleanup(&c);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_ECONFLICT);
	/* Another challenge of the same authorization may not start alongside. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[1], NOW), DEED_ECONFLICT);
	assert_int_equal(authz_status(sa, authz), SA_AUTHZ_PENDING);
	assert_int_equal(sa->ops->chall_begin(sa, 999, NOW), DEED_ENOTFOUND);
	assert_int_equal(sa->ops->chall_get(sa, 999, &c), DEED_ENOTFOUND);
}

/* The challenge's own status is checked, not only its authorization's: a challenge that has
 * a result does not start again even under a pending authorization. */
static void
chall_begin_needs_the_challenge_itself_pending(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(
	    sa->ops->authz_cas_status(sa, authz, SA_AUTHZ_PENDING, SA_AUTHZ_DEACTIVATED), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], false, NOW, 0, "{}", NULL, NULL), DEED_OK);
	assert_int_equal(
	    sa->ops->authz_cas_status(sa, authz, SA_AUTHZ_DEACTIVATED, SA_AUTHZ_PENDING), DEED_OK);
	/* ch[0] is invalid, nothing is processing, the authorization is pending again. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_ECONFLICT);
	assert_int_equal(sa->ops->chall_begin(sa, ch[1], NOW), DEED_OK);
}

static void
chall_begin_refuses_expired_or_non_pending_authz(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	/* expires is exclusive: at the expiry instant the authorization is expired. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW + DAY), DEED_ECONFLICT);
	assert_int_equal(
	    sa->ops->authz_cas_status(sa, authz, SA_AUTHZ_PENDING, SA_AUTHZ_DEACTIVATED), DEED_OK);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_ECONFLICT);
}

static int
count_audit(void *arg, const struct sa_validation *v)
{
	(*(int *)arg)++;
	(void)v;
	return 0;
}

static void
chall_finish_ok_validates_challenge_and_authz(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];
	struct sa_authz a;

	struct sa_validation v = {.at = NOW, .account_id = acct, .identifier = "a.example",
				  .method = "http-01", .ok = true};
	int n_audit = 0;

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	/* Only a processing challenge can finish; its audit record is not written either. */
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], true, NOW, NOW + 30 * DAY, NULL, NULL, &v),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->validation_list(sa, NULL, count_audit, &n_audit), DEED_OK);
	assert_int_equal(n_audit, 0);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], true, NOW + 5, NOW + 30 * DAY, NULL,
					       "[{\"url\":\"http://a.example/\"}]", &v),
			 DEED_OK);
	/* The audit record went in with the outcome. */
	assert_true(v.id > 0);
	assert_int_equal(sa->ops->validation_list(sa, NULL, count_audit, &n_audit), DEED_OK);
	assert_int_equal(n_audit, 1);
	assert_int_equal(sa->ops->authz_get(sa, authz, &a), DEED_OK);
	assert_int_equal(a.status, SA_AUTHZ_VALID);
	assert_int_equal(a.expires, NOW + 30 * DAY);
	assert_int_equal(a.challs[0].status, SA_CHALL_VALID);
	assert_int_equal(a.challs[0].validated_at, NOW + 5);
	assert_string_equal(a.challs[0].record_json, "[{\"url\":\"http://a.example/\"}]");
	assert_null(a.challs[0].error_json);
	assert_int_equal(a.challs[1].status, SA_CHALL_PENDING);
	sa_authz_cleanup(&a);
	/* The authorization is settled: its other challenge cannot start any more. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[1], NOW), DEED_ECONFLICT);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], true, NOW, NOW, NULL, NULL, NULL),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->chall_finish(sa, 999, true, NOW, NOW, NULL, NULL, NULL),
			 DEED_ENOTFOUND);
}

static void
chall_finish_failed_invalidates_challenge_and_authz(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];
	struct sa_authz a;

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[1], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[1], false, NOW, NOW + 30 * DAY,
					       "{\"type\":\"urn:ietf:params:acme:error:dns\"}",
					       NULL, NULL),
			 DEED_OK);
	assert_int_equal(sa->ops->authz_get(sa, authz, &a), DEED_OK);
	assert_int_equal(a.status, SA_AUTHZ_INVALID);
	assert_int_equal(a.expires, NOW + DAY); /* a failure does not extend it */
	assert_int_equal(a.challs[1].status, SA_CHALL_INVALID);
	assert_int_equal(a.challs[1].validated_at, 0);
	assert_string_equal(a.challs[1].error_json,
			    "{\"type\":\"urn:ietf:params:acme:error:dns\"}");
	sa_authz_cleanup(&a);
	/* Nothing can start on an invalid authorization. */
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_ECONFLICT);
}

static void
chall_finish_after_deactivation_keeps_authz_deactivated(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), authz, ch[2];
	struct sa_chall c;

	make_order(sa, acct, "a.example", NOW + DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(
	    sa->ops->authz_cas_status(sa, authz, SA_AUTHZ_PENDING, SA_AUTHZ_DEACTIVATED), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], true, NOW, NOW + 30 * DAY, NULL, NULL, NULL),
			 DEED_OK);
	assert_int_equal(authz_status(sa, authz), SA_AUTHZ_DEACTIVATED);
	assert_int_equal(sa->ops->chall_get(sa, ch[0], &c), DEED_OK);
	assert_int_equal(c.status, SA_CHALL_VALID);
	sa_chall_cleanup(&c);
}

static void
chall_list_processing_returns_started_challenges(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), a1[2], a2[2], a3[2], ids[8];
	size_t n;

	make_order(sa, acct, "a.example", NOW + DAY, NULL, a1);
	make_order(sa, acct, "b.example", NOW + DAY, NULL, a2);
	make_order(sa, acct, "c.example", NOW + DAY, NULL, a3);
	assert_int_equal(sa->ops->chall_list_processing(sa, ids, 8, &n), DEED_OK);
	assert_int_equal(n, 0);
	assert_int_equal(sa->ops->chall_begin(sa, a1[1], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_begin(sa, a3[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_begin(sa, a2[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, a2[0], true, NOW, NOW + DAY, NULL, NULL, NULL),
			 DEED_OK);
	assert_int_equal(sa->ops->chall_list_processing(sa, ids, 8, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], a1[1]);
	assert_int_equal(ids[1], a3[0]);
	assert_int_equal(sa->ops->chall_list_processing(sa, ids, 1, &n), DEED_OK);
	assert_int_equal(n, 1);
}

static void
authz_find_reusable_picks_newest_valid_unexpired_of_same_account_and_kind(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), other = make_account(sa, "u"), id, ch[2];
	int64_t shorter = make_valid_authz(sa, acct, "a.example", NOW + 10 * DAY);
	int64_t longer = make_valid_authz(sa, acct, "a.example", NOW + 20 * DAY);
	int64_t pending;

	make_valid_authz(sa, other, "b.example", NOW + 20 * DAY);
	make_order(sa, acct, "c.example", NOW + 20 * DAY, &pending, ch);

	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW, &id),
			 DEED_OK);
	assert_int_equal(id, longer);
	/* valid_at is exclusive of the expiry instant. */
	assert_int_equal(
	    sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW + 20 * DAY, &id),
	    DEED_ENOTFOUND);
	assert_int_equal(
	    sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW + 20 * DAY - 1, &id),
	    DEED_OK);
	assert_int_equal(id, longer);
	/* Other wildcard-ness, other account, other name, pending: none reusable. */
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", true, NOW, &id),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "b.example", false, NOW, &id),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_find_reusable(sa, other, "a.example", false, NOW, &id),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "c.example", false, NOW, &id),
			 DEED_ENOTFOUND);
	/* A deactivated one is not reused; the next best is. */
	assert_int_equal(
	    sa->ops->authz_cas_status(sa, longer, SA_AUTHZ_VALID, SA_AUTHZ_DEACTIVATED), DEED_OK);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW, &id),
			 DEED_OK);
	assert_int_equal(id, shorter);
}

/* A wildcard authorization is found for the wildcard only, whatever the order of creation;
 * a failed one never is. */
static void
authz_find_reusable_keeps_wildcard_and_plain_apart(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), id, wild, plain, authz, ch[2];
	struct sa_authz az;
	struct sa_chall chs[2];
	char *names[1] = {(char *)"*.a.example"};
	struct sa_order o = {0};

	new_authz(&az, chs, "a.example", true, NOW + DAY);
	o.account_id = acct;
	o.expires = NOW + DAY;
	o.identifiers = names;
	o.n_identifiers = 1;
	assert_int_equal(sa->ops->order_create(sa, &o, &az, NULL, 0), DEED_OK);
	free(o.authz_ids);
	wild = az.id;
	assert_int_equal(sa->ops->chall_begin(sa, chs[1].id, NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, chs[1].id, true, NOW, NOW + 5 * DAY, NULL, NULL, NULL),
			 DEED_OK);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", true, NOW, &id),
			 DEED_OK);
	assert_int_equal(id, wild);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW, &id),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "*.a.example", true, NOW, &id),
			 DEED_ENOTFOUND);

	/* A newer plain one does not shadow the wildcard, nor the other way round. */
	plain = make_valid_authz(sa, acct, "a.example", NOW + 3 * DAY);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW, &id),
			 DEED_OK);
	assert_int_equal(id, plain);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", true, NOW, &id),
			 DEED_OK);
	assert_int_equal(id, wild);
	/* Past its expiry neither is reusable. */
	assert_int_equal(
	    sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW + 3 * DAY, &id),
	    DEED_ENOTFOUND);
	assert_int_equal(
	    sa->ops->authz_find_reusable(sa, acct, "a.example", true, NOW + 5 * DAY, &id),
	    DEED_ENOTFOUND);

	/* Invalid and revoked authorizations are never reused. */
	make_order(sa, acct, "b.example", NOW + 9 * DAY, &authz, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], false, NOW, NOW + 9 * DAY, "{}", NULL, NULL),
			 DEED_OK);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "b.example", false, NOW, &id),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_cas_status(sa, plain, SA_AUTHZ_VALID, SA_AUTHZ_REVOKED),
			 DEED_OK);
	assert_int_equal(sa->ops->authz_find_reusable(sa, acct, "a.example", false, NOW, &id),
			 DEED_ENOTFOUND);
}

static void
authz_status_cas_and_deactivate_all(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), other = make_account(sa, "u");
	int64_t valid = make_valid_authz(sa, acct, "a.example", NOW + 10 * DAY);
	int64_t pending, invalid, theirs, ch[2];

	make_order(sa, acct, "b.example", NOW + DAY, &pending, ch);
	make_order(sa, acct, "c.example", NOW + DAY, &invalid, ch);
	assert_int_equal(sa->ops->chall_begin(sa, ch[0], NOW), DEED_OK);
	assert_int_equal(sa->ops->chall_finish(sa, ch[0], false, NOW, 0, "{}", NULL, NULL), DEED_OK);
	theirs = make_valid_authz(sa, other, "a.example", NOW + 10 * DAY);

	assert_int_equal(sa->ops->authz_cas_status(sa, valid, SA_AUTHZ_PENDING, SA_AUTHZ_REVOKED),
			 DEED_ECONFLICT);
	assert_int_equal(sa->ops->authz_cas_status(sa, 999, SA_AUTHZ_PENDING, SA_AUTHZ_REVOKED),
			 DEED_ENOTFOUND);
	assert_int_equal(sa->ops->authz_deactivate_all(sa, acct), DEED_OK);
	assert_int_equal(authz_status(sa, valid), SA_AUTHZ_DEACTIVATED);
	assert_int_equal(authz_status(sa, pending), SA_AUTHZ_DEACTIVATED);
	assert_int_equal(authz_status(sa, invalid), SA_AUTHZ_INVALID);
	assert_int_equal(authz_status(sa, theirs), SA_AUTHZ_VALID);
}

/* --- certificates ---------------------------------------------------------------------- */

static void
cert_reserve_moves_order_to_processing_once(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t other = make_order(sa, acct, "b.example", NOW + DAY, NULL, NULL);
	int64_t id, id2;
	struct sa_cert c;

	assert_int_equal(reserve(sa, order, acct, "0abc", &id), DEED_OK);
	assert_true(id > 0);
	assert_int_equal(order_status(sa, order), SA_ORDER_PROCESSING);
	assert_int_equal(sa->ops->cert_get(sa, id, &c), DEED_OK);
	assert_int_equal(c.status, SA_CERT_RESERVED);
	assert_string_equal(c.serial, "0abc");
	assert_int_equal(c.order_id, order);
	assert_int_equal(c.account_id, acct);
	assert_int_equal(c.tbs_len, sizeof(TBS));
	assert_memory_equal(c.tbs_der, TBS, sizeof(TBS));
	assert_null(c.der);
	assert_int_equal(c.not_after, NOW + 90 * DAY);
	assert_int_equal(c.revoked_reason, -1);
	sa_cert_cleanup(&c);

	/* A second finalize of the same order loses. */
	assert_int_equal(reserve(sa, order, acct, "0abd", &id2), DEED_ECONFLICT);
	assert_int_equal(id2, 0);
	/* A serial is never used twice, and the losing order stays pending. */
	assert_int_equal(reserve(sa, other, acct, "0abc", &id2), DEED_ECONFLICT);
	assert_int_equal(order_status(sa, other), SA_ORDER_PENDING);
	assert_int_equal(reserve(sa, 999, acct, "0abe", NULL), DEED_ENOTFOUND);
	/* Serials are one spelling: lowercase hex, 20 octets at most. */
	assert_int_equal(reserve(sa, other, acct, "0ABF", NULL), DEED_EINVAL);
	assert_int_equal(reserve(sa, other, acct, "", NULL), DEED_EINVAL);
	assert_int_equal(order_status(sa, other), SA_ORDER_PENDING);
}

static void
cert_reserve_refuses_foreign_account_and_settled_order(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), stranger = make_account(sa, "u");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t failed = make_order(sa, acct, "b.example", NOW + DAY, NULL, NULL);
	int64_t id = -1, ids[4];
	size_t n;

	/* Another account cannot finalize the order, and nothing of the attempt stays. */
	assert_int_equal(reserve(sa, order, stranger, "10", &id), DEED_EINVAL);
	assert_int_equal(id, 0);
	assert_int_equal(order_status(sa, order), SA_ORDER_PENDING);
	assert_int_equal(sa->ops->cert_list_reserved(sa, ids, 4, &n), DEED_OK);
	assert_int_equal(n, 0);
	/* The serial was not taken by the refused attempt. */
	assert_int_equal(reserve(sa, order, acct, "10", &id), DEED_OK);

	assert_int_equal(
	    sa->ops->order_cas_status(sa, failed, SA_ORDER_PENDING, SA_ORDER_INVALID, "{}"),
	    DEED_OK);
	assert_int_equal(reserve(sa, failed, acct, "11", NULL), DEED_ECONFLICT);
	assert_int_equal(order_status(sa, failed), SA_ORDER_INVALID);
}

static void
cert_issue_stores_der_and_validates_order(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t id;
	struct sa_cert c;
	struct sa_order o;

	assert_int_equal(reserve(sa, order, acct, "01", &id), DEED_OK);
	assert_int_equal(sa->ops->cert_issue(sa, id, DER, sizeof(DER)), DEED_OK);
	assert_int_equal(sa->ops->cert_get_by_serial(sa, "01", &c), DEED_OK);
	assert_int_equal(c.id, id);
	assert_int_equal(c.status, SA_CERT_ISSUED);
	assert_int_equal(c.der_len, sizeof(DER));
	assert_memory_equal(c.der, DER, sizeof(DER));
	assert_memory_equal(c.tbs_der, TBS, sizeof(TBS));
	sa_cert_cleanup(&c);
	assert_int_equal(sa->ops->order_get(sa, order, &o), DEED_OK);
	assert_int_equal(o.status, SA_ORDER_VALID);
	assert_int_equal(o.cert_id, id);
	sa_order_cleanup(&o);

	assert_int_equal(sa->ops->cert_issue(sa, id, DER, sizeof(DER)), DEED_ECONFLICT);
	assert_int_equal(sa->ops->cert_abandon(sa, id, NULL), DEED_ECONFLICT);
	assert_int_equal(sa->ops->cert_issue(sa, 999, DER, sizeof(DER)), DEED_ENOTFOUND);
	assert_int_equal(sa->ops->cert_get_by_serial(sa, "02", &c), DEED_ENOTFOUND);
	assert_int_equal(sa->ops->cert_get(sa, 999, &c), DEED_ENOTFOUND);
}

static void
cert_abandon_invalidates_order_and_keeps_serial_taken(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t other = make_order(sa, acct, "b.example", NOW + DAY, NULL, NULL);
	int64_t id;
	struct sa_cert c;
	struct sa_order o;

	assert_int_equal(reserve(sa, order, acct, "77", &id), DEED_OK);
	assert_int_equal(sa->ops->cert_abandon(sa, id, "{\"type\":\"serverInternal\"}"), DEED_OK);
	assert_int_equal(sa->ops->cert_get(sa, id, &c), DEED_OK);
	assert_int_equal(c.status, SA_CERT_ABANDONED);
	assert_null(c.der);
	sa_cert_cleanup(&c);
	assert_int_equal(sa->ops->order_get(sa, order, &o), DEED_OK);
	assert_int_equal(o.status, SA_ORDER_INVALID);
	assert_string_equal(o.error_json, "{\"type\":\"serverInternal\"}");
	assert_int_equal(o.cert_id, 0);
	sa_order_cleanup(&o);
	assert_int_equal(sa->ops->cert_issue(sa, id, DER, sizeof(DER)), DEED_ECONFLICT);
	assert_int_equal(reserve(sa, other, acct, "77", NULL), DEED_ECONFLICT);
}

static void
cert_issue_refuses_order_no_longer_processing(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t id;
	struct sa_cert c;

	assert_int_equal(reserve(sa, order, acct, "0c", &id), DEED_OK);
	assert_int_equal(
	    sa->ops->order_cas_status(sa, order, SA_ORDER_PROCESSING, SA_ORDER_INVALID, NULL),
	    DEED_OK);
	assert_int_equal(sa->ops->cert_issue(sa, id, DER, sizeof(DER)), DEED_ECONFLICT);
	assert_int_equal(sa->ops->cert_abandon(sa, id, NULL), DEED_ECONFLICT);
	/* Neither half of the transaction happened. */
	assert_int_equal(sa->ops->cert_get(sa, id, &c), DEED_OK);
	assert_int_equal(c.status, SA_CERT_RESERVED);
	assert_null(c.der);
	sa_cert_cleanup(&c);
}

static void
cert_revoke_happens_once_and_only_when_issued(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t");
	int64_t order = make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t id;
	struct sa_cert c;

	assert_int_equal(reserve(sa, order, acct, "aa", &id), DEED_OK);
	assert_int_equal(sa->ops->cert_revoke(sa, id, 1, NOW), DEED_ECONFLICT); /* not signed */
	assert_int_equal(sa->ops->cert_issue(sa, id, DER, sizeof(DER)), DEED_OK);
	assert_int_equal(sa->ops->cert_revoke(sa, id, -1, NOW), DEED_EINVAL);
	assert_int_equal(sa->ops->cert_revoke(sa, id, 0, NOW + 100), DEED_OK);
	assert_int_equal(sa->ops->cert_revoke(sa, id, 1, NOW + 200), DEED_ECONFLICT);
	assert_int_equal(sa->ops->cert_get(sa, id, &c), DEED_OK);
	assert_int_equal(c.revoked_reason, 0);
	assert_int_equal(c.revoked_at, NOW + 100);
	sa_cert_cleanup(&c);
	assert_int_equal(sa->ops->cert_revoke(sa, 999, 1, NOW), DEED_ENOTFOUND);
}

static void
cert_list_reserved_returns_unsettled_reservations(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), ids[8], c1, c2, c3;
	size_t n;

	assert_int_equal(
	    reserve(sa, make_order(sa, acct, "a.example", NOW + DAY, NULL, NULL), acct, "01", &c1),
	    DEED_OK);
	assert_int_equal(
	    reserve(sa, make_order(sa, acct, "b.example", NOW + DAY, NULL, NULL), acct, "02", &c2),
	    DEED_OK);
	assert_int_equal(
	    reserve(sa, make_order(sa, acct, "c.example", NOW + DAY, NULL, NULL), acct, "03", &c3),
	    DEED_OK);
	assert_int_equal(sa->ops->cert_issue(sa, c2, DER, sizeof(DER)), DEED_OK);
	assert_int_equal(sa->ops->cert_list_reserved(sa, ids, 8, &n), DEED_OK);
	assert_int_equal(n, 2);
	assert_int_equal(ids[0], c1);
	assert_int_equal(ids[1], c3);
}

/* --- the database file ----------------------------------------------------------------- */

static void
records_survive_close_and_reopen(void **state)
{
	struct env *e = *state;
	int64_t acct = make_account(e->sa, "t");
	int64_t order = make_order(e->sa, acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t authz = make_valid_authz(e->sa, acct, "b.example", NOW + 30 * DAY);
	int64_t cert;
	struct sa_order o;
	struct sa_cert c;
	struct sa_account a;
	struct sa_authz az;
	struct stat st;
	char err[256] = "";

	assert_int_equal(reserve(e->sa, order, acct, "beef", &cert), DEED_OK);
	assert_int_equal(e->sa->ops->cert_issue(e->sa, cert, DER, sizeof(DER)), DEED_OK);
	sa_close(e->sa);
	e->sa = NULL;
	assert_int_equal(stat(e->path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0); /* owner only */

	assert_int_equal(sa_open(e->path, &e->sa, err, sizeof(err)), DEED_OK);
	assert_int_equal(e->sa->ops->order_get(e->sa, order, &o), DEED_OK);
	assert_int_equal(o.status, SA_ORDER_VALID);
	assert_string_equal(o.identifiers[0], "a.example");
	assert_int_equal(o.cert_id, cert);
	sa_order_cleanup(&o);
	assert_int_equal(e->sa->ops->cert_get_by_serial(e->sa, "beef", &c), DEED_OK);
	assert_memory_equal(c.der, DER, sizeof(DER));
	sa_cert_cleanup(&c);
	assert_int_equal(e->sa->ops->account_get_by_thumbprint(e->sa, "t", &a), DEED_OK);
	assert_int_equal(a.id, acct);
	sa_account_cleanup(&a);
	assert_int_equal(e->sa->ops->authz_get(e->sa, authz, &az), DEED_OK);
	assert_int_equal(az.status, SA_AUTHZ_VALID);
	assert_int_equal(az.expires, NOW + 30 * DAY);
	assert_int_equal(az.n_challs, 2);
	assert_int_equal(az.challs[0].status, SA_CHALL_VALID);
	assert_int_equal(az.challs[1].status, SA_CHALL_PENDING);
	sa_authz_cleanup(&az);
	/* The reopened store goes on handing out fresh ids. */
	assert_true(make_account(e->sa, "t2") > acct);
}

static void
url_forms_open_and_unknown_drivers_refused(void **state)
{
	struct env *e = *state;
	struct sa *sa = NULL;
	char url[160], err[256] = "";
	struct sa_account a;

	make_account(e->sa, "t");
	snprintf(url, sizeof(url), "sqlite:%s", e->path);
	assert_int_equal(sa_open(url, &sa, err, sizeof(err)), DEED_OK);
	assert_int_equal(sa->ops->account_get_by_thumbprint(sa, "t", &a), DEED_OK);
	sa_account_cleanup(&a);
	sa_close(sa);
	assert_int_equal(sa_open("postgres://localhost/deed", &sa, err, sizeof(err)), DEED_EINVAL);
	assert_null(sa);
	assert_int_equal(sa_open(":memory:", &sa, err, sizeof(err)), DEED_EINVAL);
	assert_int_equal(sa_open("", &sa, err, sizeof(err)), DEED_EINVAL);
	assert_int_not_equal(sa_open("/nonexistent-dir/x/ca.db", &sa, err, sizeof(err)), DEED_OK);
	assert_null(sa);
}

/* A version 3 database (before account key history) with an account in it opens, is
 * migrated, keeps its data, and then keeps retired keys. */
static void
database_from_version_3_is_migrated(void **state)
{
	struct env *e = *state;
	char old[2][SA_THUMBPRINT_MAX];
	struct sa_account a;
	int64_t owner, id = make_account(e->sa, "v3key");
	sqlite3 *db;
	char err[256] = "";
	size_t n;

	sa_close(e->sa);
	e->sa = NULL;
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "DROP TABLE account_old_keys; PRAGMA user_version = 3",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sa_open(e->path, &e->sa, err, sizeof(err)), DEED_OK);
	assert_int_equal(e->sa->ops->account_get(e->sa, id, &a), DEED_OK);
	assert_string_equal(a.thumbprint, "v3key");
	sa_account_cleanup(&a);
	assert_int_equal(e->sa->ops->account_change_key(e->sa, id, "v3key", "{}", "v4key", &owner),
			 DEED_OK);
	assert_int_equal(e->sa->ops->account_old_thumbprints(e->sa, id, old, 2, &n), DEED_OK);
	assert_int_equal(n, 1);
	assert_string_equal(old[0], "v3key");
}

static void
database_with_newer_schema_is_refused(void **state)
{
	struct env *e = *state;
	sqlite3 *db;
	struct sa *sa = NULL;
	char err[256] = "";

	sa_close(e->sa);
	e->sa = NULL;
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sa_open(e->path, &sa, err, sizeof(err)), DEED_EDB);
	assert_null(sa);
	assert_non_null(strstr(err, "schema version 99 is newer"));
}

static void
foreign_sqlite_file_is_refused(void **state)
{
	struct env *e = *state;
	sqlite3 *db;
	struct sa *sa = NULL;
	char path[160], err[256] = "";

	snprintf(path, sizeof(path), "%s/other.db", e->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(sa_open(path, &sa, err, sizeof(err)), DEED_EDB);
	assert_null(sa);
	assert_non_null(strstr(err, "not a deed-ca database"));
}

/* --- concurrency ----------------------------------------------------------------------- */

#define RACERS 16

struct race {
	struct sa *sa;
	int64_t chall;
	pthread_barrier_t *start;
	int rc;
};

static void *
race_begin(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->start);
	r->rc = r->sa->ops->chall_begin(r->sa, r->chall, NOW);
	return NULL;
}

static void
chall_begin_race_has_exactly_one_winner(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), ch[2];
	pthread_t th[RACERS];
	struct race r[RACERS];
	pthread_barrier_t start;
	int won = 0, lost = 0;

	make_order(sa, acct, "a.example", NOW + DAY, NULL, ch);
	/* More racers than pooled connections, so some also wait for a connection; half
	 * go for the other challenge of the same authorization. */
	pthread_barrier_init(&start, NULL, RACERS);
	for (int i = 0; i < RACERS; i++) {
		r[i] = (struct race){.sa = sa, .chall = ch[i % 2], .start = &start};
		assert_int_equal(pthread_create(&th[i], NULL, race_begin, &r[i]), 0);
	}
	for (int i = 0; i < RACERS; i++) {
		pthread_join(th[i], NULL);
		won += r[i].rc == DEED_OK;
		lost += r[i].rc == DEED_ECONFLICT;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(won, 1);
	assert_int_equal(lost, RACERS - 1);
}

/* The validation of one challenge is started by exactly one of many simultaneous requests
 * (RFC 8555 §7.5.1: a client may POST the challenge more than once). */
static void
chall_begin_by_eight_threads_on_one_challenge_has_one_winner(void **state)
{
	struct sa *sa = SA(state);
	int64_t acct = make_account(sa, "t"), ch[2];
	pthread_t th[8];
	struct race r[8];
	pthread_barrier_t start;
	int won = 0, lost = 0;
	struct sa_chall c;

	make_order(sa, acct, "a.example", NOW + DAY, NULL, ch);
	pthread_barrier_init(&start, NULL, 8);
	for (int i = 0; i < 8; i++) {
		r[i] = (struct race){.sa = sa, .chall = ch[0], .start = &start, .rc = -12345};
		assert_int_equal(pthread_create(&th[i], NULL, race_begin, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		won += r[i].rc == DEED_OK;
		lost += r[i].rc == DEED_ECONFLICT;
	}
	pthread_barrier_destroy(&start);
	assert_int_equal(won, 1);
	assert_int_equal(lost, 7);
	assert_int_equal(sa->ops->chall_get(sa, ch[0], &c), DEED_OK);
	assert_int_equal(c.status, SA_CHALL_PROCESSING);
	sa_chall_cleanup(&c);
}

struct writer {
	struct sa *sa;
	int idx;
	int rc;
};

static void *
write_accounts(void *arg)
{
	struct writer *w = arg;
	struct sa_account a = {0}, got;

	w->rc = DEED_OK;
	for (int i = 0; i < 20 && w->rc == DEED_OK; i++) {
		memset(&a, 0, sizeof(a));
		a.jwk_json = (char *)"{}";
		snprintf(a.thumbprint, sizeof(a.thumbprint), "w%d-%d", w->idx, i);
		if ((w->rc = w->sa->ops->account_create(w->sa, &a)) == DEED_OK &&
		    (w->rc = w->sa->ops->account_get(w->sa, a.id, &got)) == DEED_OK)
			sa_account_cleanup(&got);
	}
	return NULL;
}

static void
concurrent_writers_all_succeed(void **state)
{
	struct sa *sa = SA(state);
	pthread_t th[12];
	struct writer w[12];

	for (int i = 0; i < 12; i++) {
		w[i] = (struct writer){.sa = sa, .idx = i};
		assert_int_equal(pthread_create(&th[i], NULL, write_accounts, &w[i]), 0);
	}
	for (int i = 0; i < 12; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].rc, DEED_OK);
	}
}

static void
status_names_are_rfc8555_words(void **state)
{
	assert_string_equal(sa_acct_status_str(SA_ACCT_DEACTIVATED), "deactivated");
	assert_string_equal(sa_order_status_str(SA_ORDER_PROCESSING), "processing");
	assert_string_equal(sa_authz_status_str(SA_AUTHZ_REVOKED), "revoked");
	assert_string_equal(sa_chall_status_str(SA_CHALL_INVALID), "invalid");
	assert_string_equal(sa_chall_status_str((enum sa_chall_status)42), "unknown");
}

static int
collect_blocked(void *arg, const char *h, int64_t at, const char *source)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%.8s@%lld:%s ", h, (long long)at, source);
	return 0;
}

/* Blocked keys: added once (a second add keeps the first entry), found, listed oldest first,
 * kept across a reopen; a hash that is not 64 characters is refused by the schema. */
static void
blocked_keys_are_added_once_found_and_listed(void **state)
{
	struct env *e = *state;
	char a[65], b[65], list[512] = "", err[256];

	memset(a, 'a', 64), a[64] = '\0';
	memset(b, 'b', 64), b[64] = '\0';
	assert_int_equal(SA(state)->ops->blocked_key_has(SA(state), a), DEED_ENOTFOUND);
	assert_int_equal(SA(state)->ops->blocked_key_add(SA(state), b, 200, "admin"), DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_add(SA(state), a, 100, "keyCompromise"),
			 DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_add(SA(state), a, 300, "admin"), DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_add(SA(state), "abc", 1, "admin"), DEED_EINVAL);
	sa_close(e->sa);
	assert_int_equal(sa_open(e->path, &e->sa, err, sizeof(err)), DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_has(SA(state), a), DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_has(SA(state), b), DEED_OK);
	assert_int_equal(SA(state)->ops->blocked_key_list(SA(state), collect_blocked, list), DEED_OK);
	assert_string_equal(list, "aaaaaaaa@100:keyCompromise bbbbbbbb@200:admin ");
}

static int
count_broken(void *arg, const char *what, int64_t bad)
{
	char *out = arg;
	size_t n = strlen(out);

	if (bad != 0)
		snprintf(out + n, 512 - n, "%s=%lld;", what, (long long)bad);
	return 0;
}

/* admin check: a sound database passes; an order stranded in processing and a valid order
 * without a certificate (written behind the driver's back) are named. */
static void
check_names_broken_invariants(void **state)
{
	struct env *e = *state;
	int64_t acct = make_account(SA(state), "thumb-check");
	int64_t o1 = make_order(SA(state), acct, "a.example", NOW + DAY, NULL, NULL);
	int64_t o2 = make_order(SA(state), acct, "b.example", NOW + DAY, NULL, NULL);
	char out[512] = "", sql[160];
	sqlite3 *db;

	assert_int_equal(SA(state)->ops->check(SA(state), count_broken, out), DEED_OK);
	assert_string_equal(out, "");
	assert_int_equal(sqlite3_open(e->path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql),
		 "UPDATE orders SET status = 'processing' WHERE id = %lld;"
		 "UPDATE orders SET status = 'valid' WHERE id = %lld;",
		 (long long)o1, (long long)o2);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(SA(state)->ops->check(SA(state), count_broken, out), DEED_ECONFLICT);
	assert_string_equal(out, "valid orders without their one issued certificate=1;"
				 "orders left processing=1;");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(account_created_is_found_by_id_and_thumbprint),
	    T(account_with_registered_thumbprint_conflicts),
	    T(account_without_contact_stores_empty_array),
	    T(account_contact_update_persists_and_missing_is_notfound),
	    T(account_status_cas_checks_expected_status),
	    T(account_key_change_swaps_key_and_frees_old_thumbprint),
	    T(account_key_change_to_anothers_key_names_owner),
	    T(account_key_changes_keep_old_thumbprints),
	    T(account_key_change_with_stale_old_key_conflicts),
	    T(order_create_links_new_and_reused_authz_in_identifier_order),
	    T(order_create_refuses_other_accounts_authz_and_rolls_back),
	    T(order_create_for_missing_account_is_notfound),
	    T(order_create_stores_authz_validated_on_creation),
	    T(order_list_pages_newest_first),
	    T(order_with_twelve_identifiers_keeps_their_order),
	    T(order_status_cas_stores_error),
	    T(chall_begin_moves_pending_to_processing_once),
	    T(chall_begin_needs_the_challenge_itself_pending),
	    T(chall_begin_refuses_expired_or_non_pending_authz),
	    T(chall_finish_ok_validates_challenge_and_authz),
	    T(chall_finish_failed_invalidates_challenge_and_authz),
	    T(chall_finish_after_deactivation_keeps_authz_deactivated),
	    T(chall_list_processing_returns_started_challenges),
	    T(authz_find_reusable_picks_newest_valid_unexpired_of_same_account_and_kind),
	    T(authz_find_reusable_keeps_wildcard_and_plain_apart),
	    T(authz_status_cas_and_deactivate_all),
	    T(cert_reserve_moves_order_to_processing_once),
	    T(cert_reserve_refuses_foreign_account_and_settled_order),
	    T(cert_issue_stores_der_and_validates_order),
	    T(cert_abandon_invalidates_order_and_keeps_serial_taken),
	    T(cert_issue_refuses_order_no_longer_processing),
	    T(cert_revoke_happens_once_and_only_when_issued),
	    T(cert_list_reserved_returns_unsettled_reservations),
	    T(records_survive_close_and_reopen),
	    T(url_forms_open_and_unknown_drivers_refused),
	    T(database_from_version_3_is_migrated),
	    T(database_with_newer_schema_is_refused),
	    T(foreign_sqlite_file_is_refused),
	    T(chall_begin_race_has_exactly_one_winner),
	    T(chall_begin_by_eight_threads_on_one_challenge_has_one_winner),
	    T(concurrent_writers_all_succeed),
	    T(blocked_keys_are_added_once_found_and_listed),
	    T(check_names_broken_invariants),
	    cmocka_unit_test(status_names_are_rfc8555_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
