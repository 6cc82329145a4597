#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sqlite3.h>

#include "error.h"
#include "sa_sqlite.h"

#define POOL 8
#define SCHEMA_VERSION 1
#define BUSY_MS 10000

/* Prepared statements, one cache per connection. */
enum stmt {
	S_BEGIN, S_COMMIT, S_ROLLBACK,
	S_ACCT_INSERT, S_ACCT_GET, S_ACCT_BY_THUMB, S_ACCT_CONTACT, S_ACCT_CAS, S_ACCT_EXISTS,
	S_ACCT_SETKEY,
	S_ORDER_INSERT, S_ORDER_AUTHZ_INSERT, S_ORDER_GET, S_ORDER_AUTHZ_IDS, S_ORDER_LIST,
	S_ORDER_CAS, S_ORDER_EXISTS,
	S_AUTHZ_INSERT, S_AUTHZ_GET, S_AUTHZ_REUSE, S_AUTHZ_CAS, S_AUTHZ_EXISTS,
	S_AUTHZ_DEACT_ALL, S_AUTHZ_FINISH,
	S_CHALL_INSERT, S_CHALL_OF_AUTHZ, S_CHALL_GET, S_CHALL_BEGIN_CHECK, S_CHALL_SIBLINGS,
	S_CHALL_SET_PROCESSING, S_CHALL_FINISH, S_CHALL_PROCESSING,
	S_CERT_INSERT, S_CERT_ISSUE, S_CERT_ORDER_VALID, S_CERT_ABANDON, S_CERT_ORDER_INVALID,
	S_CERT_GET, S_CERT_BY_SERIAL, S_CERT_REVOKE, S_CERT_EXISTS, S_CERT_RESERVED,
	N_STMT
};

static const char *const sql[N_STMT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_ACCT_INSERT] = "INSERT INTO accounts(status, jwk, thumbprint, contact, tos_agreed, "
			  "created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[S_ACCT_GET] = "SELECT id, status, jwk, thumbprint, contact, tos_agreed, created_at "
		       "FROM accounts WHERE id = ?",
	[S_ACCT_BY_THUMB] = "SELECT id, status, jwk, thumbprint, contact, tos_agreed, created_at "
			    "FROM accounts WHERE thumbprint = ?",
	[S_ACCT_CONTACT] = "UPDATE accounts SET contact = ? WHERE id = ?",
	[S_ACCT_CAS] = "UPDATE accounts SET status = ? WHERE id = ? AND status = ?",
	[S_ACCT_EXISTS] = "SELECT 1 FROM accounts WHERE id = ?",
	[S_ACCT_SETKEY] = "UPDATE accounts SET jwk = ?, thumbprint = ? WHERE id = ? AND "
			  "thumbprint = ?",
	[S_ORDER_INSERT] = "INSERT INTO orders(account_id, status, expires, created_at, not_before, "
			   "not_after, identifiers) VALUES (?, ?, ?, ?, ?, ?, ?)",
	[S_ORDER_AUTHZ_INSERT] = "INSERT INTO order_authz(order_id, position, authz_id) "
				 "VALUES (?, ?, ?)",
	[S_ORDER_GET] = "SELECT id, account_id, status, expires, created_at, not_before, "
			"not_after, identifiers, error, cert_id FROM orders WHERE id = ?",
	[S_ORDER_AUTHZ_IDS] = "SELECT authz_id FROM order_authz WHERE order_id = ? "
			      "ORDER BY position",
	[S_ORDER_LIST] = "SELECT id FROM orders WHERE account_id = ?4 AND (?1 = 0 OR id < ?2) "
			 "ORDER BY id DESC LIMIT ?3",
	[S_ORDER_CAS] = "UPDATE orders SET status = ?, error = ? WHERE id = ? AND status = ?",
	[S_ORDER_EXISTS] = "SELECT 1 FROM orders WHERE id = ?",
	[S_AUTHZ_INSERT] = "INSERT INTO authz(account_id, identifier, wildcard, status, expires, "
			   "created_at) VALUES (?, ?, ?, ?, ?, ?)",
	[S_AUTHZ_GET] = "SELECT id, account_id, identifier, wildcard, status, expires, created_at "
			"FROM authz WHERE id = ?",
	[S_AUTHZ_REUSE] = "SELECT id FROM authz WHERE account_id = ? AND identifier = ? AND "
			  "wildcard = ? AND status = 'valid' AND expires > ? "
			  "ORDER BY expires DESC LIMIT 1",
	[S_AUTHZ_CAS] = "UPDATE authz SET status = ? WHERE id = ? AND status = ?",
	[S_AUTHZ_EXISTS] = "SELECT 1 FROM authz WHERE id = ?",
	[S_AUTHZ_DEACT_ALL] = "UPDATE authz SET status = 'deactivated' WHERE account_id = ? AND "
			      "status IN ('pending', 'valid')",
	[S_AUTHZ_FINISH] = "UPDATE authz SET status = ?, expires = ? WHERE id = ? AND "
			   "status = 'pending'",
	[S_CHALL_INSERT] = "INSERT INTO challenges(authz_id, type, token, status) "
			   "VALUES (?, ?, ?, ?)",
	[S_CHALL_OF_AUTHZ] = "SELECT id, authz_id, type, token, status, validated_at, error, "
			     "record FROM challenges WHERE authz_id = ? ORDER BY id",
	[S_CHALL_GET] = "SELECT id, authz_id, type, token, status, validated_at, error, record "
			"FROM challenges WHERE id = ?",
	[S_CHALL_BEGIN_CHECK] = "SELECT c.status, a.status, a.expires, c.authz_id FROM challenges c "
				"JOIN authz a ON a.id = c.authz_id WHERE c.id = ?",
	[S_CHALL_SIBLINGS] = "SELECT count(*) FROM challenges WHERE authz_id = ? AND "
			     "status = 'processing'",
	[S_CHALL_SET_PROCESSING] = "UPDATE challenges SET status = 'processing' WHERE id = ? AND "
				   "status = 'pending'",
	[S_CHALL_FINISH] = "UPDATE challenges SET status = ?, validated_at = ?, error = ?, "
			   "record = ? WHERE id = ? AND status = 'processing' RETURNING authz_id",
	[S_CHALL_PROCESSING] = "SELECT id FROM challenges WHERE status = 'processing' "
			       "ORDER BY id LIMIT ?",
	[S_CERT_INSERT] = "INSERT INTO certificates(serial, order_id, account_id, status, tbs, "
			  "not_before, not_after) VALUES (?, ?, ?, 'reserved', ?, ?, ?)",
	[S_CERT_ISSUE] = "UPDATE certificates SET der = ?, status = 'issued' WHERE id = ? AND "
			 "status = 'reserved' RETURNING order_id",
	[S_CERT_ORDER_VALID] = "UPDATE orders SET status = 'valid', cert_id = ? WHERE id = ? AND "
			       "status = 'processing'",
	[S_CERT_ABANDON] = "UPDATE certificates SET status = 'abandoned' WHERE id = ? AND "
			   "status = 'reserved' RETURNING order_id",
	[S_CERT_ORDER_INVALID] = "UPDATE orders SET status = 'invalid', error = ? WHERE id = ? "
				 "AND status = 'processing'",
	[S_CERT_GET] = "SELECT id, serial, order_id, account_id, status, tbs, der, not_before, "
		       "not_after, revoked_reason, revoked_at FROM certificates WHERE id = ?",
	[S_CERT_BY_SERIAL] = "SELECT id, serial, order_id, account_id, status, tbs, der, "
			     "not_before, not_after, revoked_reason, revoked_at FROM certificates "
			     "WHERE serial = ?",
	[S_CERT_REVOKE] = "UPDATE certificates SET revoked_reason = ?, revoked_at = ? WHERE id = ? "
			  "AND revoked_reason < 0 AND status = 'issued'",
	[S_CERT_EXISTS] = "SELECT 1 FROM certificates WHERE id = ?",
	[S_CERT_RESERVED] = "SELECT id FROM certificates WHERE status = 'reserved' ORDER BY id "
			    "LIMIT ?",
};

static const char schema_v1[] =
	"CREATE TABLE accounts ("
	"  id INTEGER PRIMARY KEY,"
	"  status TEXT NOT NULL,"
	"  jwk TEXT NOT NULL,"
	"  thumbprint TEXT NOT NULL UNIQUE,"
	"  contact TEXT NOT NULL,"
	"  tos_agreed INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE TABLE authz ("
	"  id INTEGER PRIMARY KEY,"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id),"
	"  identifier TEXT NOT NULL,"
	"  wildcard INTEGER NOT NULL,"
	"  status TEXT NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL);"
	"CREATE INDEX authz_reuse ON authz(account_id, identifier, wildcard, status, expires);"
	"CREATE TABLE challenges ("
	"  id INTEGER PRIMARY KEY,"
	"  authz_id INTEGER NOT NULL REFERENCES authz(id),"
	"  type TEXT NOT NULL,"
	"  token TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  validated_at INTEGER NOT NULL DEFAULT 0,"
	"  error TEXT,"
	"  record TEXT);"
	"CREATE INDEX challenges_authz ON challenges(authz_id);"
	"CREATE INDEX challenges_processing ON challenges(status) WHERE status = 'processing';"
	"CREATE TABLE orders ("
	"  id INTEGER PRIMARY KEY,"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id),"
	"  status TEXT NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  created_at INTEGER NOT NULL,"
	"  not_before INTEGER NOT NULL DEFAULT 0,"
	"  not_after INTEGER NOT NULL DEFAULT 0,"
	"  identifiers TEXT NOT NULL,"
	"  error TEXT,"
	"  cert_id INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX orders_account ON orders(account_id, id);"
	"CREATE TABLE order_authz ("
	"  order_id INTEGER NOT NULL REFERENCES orders(id),"
	"  position INTEGER NOT NULL,"
	"  authz_id INTEGER NOT NULL REFERENCES authz(id),"
	"  PRIMARY KEY (order_id, position));"
	"CREATE TABLE certificates ("
	"  id INTEGER PRIMARY KEY,"
	"  serial TEXT NOT NULL UNIQUE,"
	"  order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id),"
	"  account_id INTEGER NOT NULL REFERENCES accounts(id),"
	"  status TEXT NOT NULL,"
	"  tbs BLOB NOT NULL,"
	"  der BLOB,"
	"  not_before INTEGER NOT NULL,"
	"  not_after INTEGER NOT NULL,"
	"  revoked_reason INTEGER NOT NULL DEFAULT -1,"
	"  revoked_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX certificates_reserved ON certificates(status) WHERE status = 'reserved';"
	"PRAGMA user_version = 1;";

struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[N_STMT];
	bool busy;
};

struct sa_sqlite {
	struct sa base; /* first: struct sa * converts to struct sa_sqlite * */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct conn conns[POOL];
	int n_conns;
};

/* --- connections ----------------------------------------------------------------------- */

static struct conn *
acquire(struct sa *sa)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;
	struct conn *c = NULL;

	pthread_mutex_lock(&s->lock);
	while (c == NULL) {
		for (int i = 0; i < s->n_conns && c == NULL; i++)
			if (!s->conns[i].busy)
				c = &s->conns[i];
		if (c == NULL)
			pthread_cond_wait(&s->freed, &s->lock);
	}
	c->busy = true;
	pthread_mutex_unlock(&s->lock);
	return c;
}

static void
release(struct sa *sa, struct conn *c)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;

	pthread_mutex_lock(&s->lock);
	c->busy = false;
	pthread_cond_signal(&s->freed);
	pthread_mutex_unlock(&s->lock);
}

/* The cached statement, reset and unbound, ready for binding. NULL on failure. */
static sqlite3_stmt *
stmt(struct conn *c, enum stmt i)
{
	if (c->st[i] == NULL) {
		if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK)
			return NULL;
	} else {
		sqlite3_reset(c->st[i]);
		sqlite3_clear_bindings(c->st[i]);
	}
	return c->st[i];
}

/* Run a statement that returns no row (or ignore its rows). */
static int
exec_done(sqlite3_stmt *s)
{
	int rc;

	if (s == NULL)
		return DEED_EDB;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		;
	sqlite3_reset(s);
	if (rc == SQLITE_CONSTRAINT)
		return DEED_ECONFLICT;
	return rc == SQLITE_DONE ? DEED_OK : DEED_EDB;
}

static int
begin(struct conn *c)
{
	return exec_done(stmt(c, S_BEGIN));
}

static int
commit(struct conn *c)
{
	return exec_done(stmt(c, S_COMMIT));
}

static void
rollback(struct conn *c)
{
	if (!sqlite3_get_autocommit(c->db))
		exec_done(stmt(c, S_ROLLBACK));
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

static char *
col_dup(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return t != NULL ? strdup((const char *)t) : NULL;
}

static int
status_from(const char *(*name)(int), const unsigned char *text, int n)
{
	for (int i = 0; i < n; i++)
		if (text != NULL && strcmp(name(i), (const char *)text) == 0)
			return i;
	return 0;
}

static const char *acct_name(int s) { return sa_acct_status_str((enum sa_acct_status)s); }
static const char *order_name(int s) { return sa_order_status_str((enum sa_order_status)s); }
static const char *authz_name(int s) { return sa_authz_status_str((enum sa_authz_status)s); }
static const char *chall_name(int s) { return sa_chall_status_str((enum sa_chall_status)s); }

/* Distinguish "no such row" from "row in another state" after a CAS changed nothing. */
static int
missing_or_conflict(struct conn *c, enum stmt exists, int64_t id)
{
	sqlite3_stmt *s = stmt(c, exists);
	int rc;

	if (s == NULL)
		return DEED_EDB;
	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return DEED_ECONFLICT;
	return rc == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
}

/* --- accounts -------------------------------------------------------------------------- */

static int
read_account(sqlite3_stmt *s, struct sa_account *a)
{
	memset(a, 0, sizeof(*a));
	a->id = sqlite3_column_int64(s, 0);
	a->status = (enum sa_acct_status)status_from(acct_name, sqlite3_column_text(s, 1), 3);
	a->jwk_json = col_dup(s, 2);
	snprintf(a->thumbprint, sizeof(a->thumbprint), "%s",
		 (const char *)sqlite3_column_text(s, 3));
	a->contact_json = col_dup(s, 4);
	a->tos_agreed = sqlite3_column_int(s, 5) != 0;
	a->created_at = sqlite3_column_int64(s, 6);
	if (a->jwk_json == NULL || a->contact_json == NULL) {
		sa_account_cleanup(a);
		return DEED_ENOMEM;
	}
	return DEED_OK;
}

static int
account_query(struct sa *sa, enum stmt which, int64_t id, const char *thumb,
	      struct sa_account *out)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, which);
	int rc = DEED_EDB, step;

	memset(out, 0, sizeof(*out));
	if (s == NULL)
		goto out;
	if (thumb != NULL)
		bind_text(s, 1, thumb);
	else
		sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		rc = read_account(s, out);
	else if (step == SQLITE_DONE)
		rc = DEED_ENOTFOUND;
	sqlite3_reset(s);
out:
	release(sa, c);
	return rc;
}

static int
account_create(struct sa *sa, struct sa_account *a)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ACCT_INSERT);
	int rc = DEED_EDB;

	if (s != NULL) {
		bind_text(s, 1, sa_acct_status_str(a->status));
		bind_text(s, 2, a->jwk_json);
		bind_text(s, 3, a->thumbprint);
		bind_text(s, 4, a->contact_json != NULL ? a->contact_json : "[]");
		sqlite3_bind_int(s, 5, a->tos_agreed);
		sqlite3_bind_int64(s, 6, a->created_at);
		rc = exec_done(s);
		if (rc == DEED_OK)
			a->id = sqlite3_last_insert_rowid(c->db);
	}
	release(sa, c);
	return rc;
}

static int
account_get(struct sa *sa, int64_t id, struct sa_account *out)
{
	return account_query(sa, S_ACCT_GET, id, NULL, out);
}

static int
account_get_by_thumbprint(struct sa *sa, const char *thumbprint, struct sa_account *out)
{
	return account_query(sa, S_ACCT_BY_THUMB, 0, thumbprint, out);
}

static int
account_update_contact(struct sa *sa, int64_t id, const char *contact_json)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ACCT_CONTACT);
	int rc = DEED_EDB;

	if (s != NULL) {
		bind_text(s, 1, contact_json);
		sqlite3_bind_int64(s, 2, id);
		rc = exec_done(s);
		if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
			rc = DEED_ENOTFOUND;
	}
	release(sa, c);
	return rc;
}

static int
account_cas_status(struct sa *sa, int64_t id, enum sa_acct_status from, enum sa_acct_status to)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ACCT_CAS);
	int rc = DEED_EDB;

	if (s != NULL) {
		bind_text(s, 1, sa_acct_status_str(to));
		sqlite3_bind_int64(s, 2, id);
		bind_text(s, 3, sa_acct_status_str(from));
		rc = exec_done(s);
		if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
			rc = missing_or_conflict(c, S_ACCT_EXISTS, id);
	}
	release(sa, c);
	return rc;
}

static int
account_change_key(struct sa *sa, int64_t id, const char *old_thumbprint,
		   const char *new_jwk_json, const char *new_thumbprint, int64_t *owner)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int rc;

	*owner = 0;
	if ((rc = begin(c)) != DEED_OK)
		goto out;
	if ((s = stmt(c, S_ACCT_BY_THUMB)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	bind_text(s, 1, new_thumbprint);
	if (sqlite3_step(s) == SQLITE_ROW) {
		*owner = sqlite3_column_int64(s, 0);
		sqlite3_reset(s);
		rc = DEED_ECONFLICT;
		goto out;
	}
	sqlite3_reset(s);
	if ((s = stmt(c, S_ACCT_SETKEY)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	bind_text(s, 1, new_jwk_json);
	bind_text(s, 2, new_thumbprint);
	sqlite3_bind_int64(s, 3, id);
	bind_text(s, 4, old_thumbprint);
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	if (sqlite3_changes(c->db) != 1) {
		rc = missing_or_conflict(c, S_ACCT_EXISTS, id);
		goto out;
	}
	rc = commit(c);
out:
	if (rc != DEED_OK)
		rollback(c);
	release(sa, c);
	return rc;
}

/* --- orders and authorizations --------------------------------------------------------- */

static int
insert_authz(struct conn *c, struct sa_authz *a)
{
	sqlite3_stmt *s = stmt(c, S_AUTHZ_INSERT);
	int rc;

	if (s == NULL)
		return DEED_EDB;
	sqlite3_bind_int64(s, 1, a->account_id);
	bind_text(s, 2, a->identifier);
	sqlite3_bind_int(s, 3, a->wildcard);
	bind_text(s, 4, sa_authz_status_str(a->status));
	sqlite3_bind_int64(s, 5, a->expires);
	sqlite3_bind_int64(s, 6, a->created_at);
	if ((rc = exec_done(s)) != DEED_OK)
		return rc;
	a->id = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; i < a->n_challs; i++) {
		struct sa_chall *ch = &a->challs[i];

		if ((s = stmt(c, S_CHALL_INSERT)) == NULL)
			return DEED_EDB;
		sqlite3_bind_int64(s, 1, a->id);
		bind_text(s, 2, ch->type);
		bind_text(s, 3, ch->token);
		bind_text(s, 4, sa_chall_status_str(ch->status));
		if ((rc = exec_done(s)) != DEED_OK)
			return rc;
		ch->id = sqlite3_last_insert_rowid(c->db);
		ch->authz_id = a->id;
	}
	return DEED_OK;
}

static char *
join_names(char *const *names, size_t n)
{
	size_t len = 1;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += strlen(names[i]) + 1;
	if ((out = malloc(len)) == NULL)
		return NULL;
	p = out;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(names[i]);

		memcpy(p, names[i], l);
		p += l;
		*p++ = '\n';
	}
	*p = '\0';
	return out;
}

static int
order_create(struct sa *sa, struct sa_order *o, struct sa_authz *authz)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	char *idents = join_names(o->identifiers, o->n_identifiers);
	int rc;

	free(o->authz_ids);
	o->n_authz = 0;
	if (idents == NULL ||
	    (o->authz_ids = calloc(o->n_identifiers + 1, sizeof(int64_t))) == NULL) {
		rc = DEED_ENOMEM;
		goto out;
	}
	if ((rc = begin(c)) != DEED_OK)
		goto out;
	for (size_t i = 0; i < o->n_identifiers; i++) {
		if (authz[i].id == 0 && (rc = insert_authz(c, &authz[i])) != DEED_OK)
			goto out;
		o->authz_ids[i] = authz[i].id;
	}
	if ((s = stmt(c, S_ORDER_INSERT)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, o->account_id);
	bind_text(s, 2, sa_order_status_str(o->status));
	sqlite3_bind_int64(s, 3, o->expires);
	sqlite3_bind_int64(s, 4, o->created_at);
	sqlite3_bind_int64(s, 5, o->not_before);
	sqlite3_bind_int64(s, 6, o->not_after);
	bind_text(s, 7, idents);
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	o->id = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; i < o->n_identifiers; i++) {
		if ((s = stmt(c, S_ORDER_AUTHZ_INSERT)) == NULL) {
			rc = DEED_EDB;
			goto out;
		}
		sqlite3_bind_int64(s, 1, o->id);
		sqlite3_bind_int64(s, 2, (int64_t)i);
		sqlite3_bind_int64(s, 3, o->authz_ids[i]);
		if ((rc = exec_done(s)) != DEED_OK)
			goto out;
	}
	o->n_authz = o->n_identifiers;
	rc = commit(c);
out:
	if (rc != DEED_OK) {
		rollback(c);
		o->id = 0;
	}
	free(idents);
	release(sa, c);
	return rc;
}

static int
split_names(const char *text, struct sa_order *o)
{
	size_t n = 0;
	const char *p;

	for (p = text; *p != '\0'; p++)
		n += *p == '\n';
	if ((o->identifiers = calloc(n + 1, sizeof(char *))) == NULL)
		return DEED_ENOMEM;
	for (p = text; *p != '\0';) {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		if ((o->identifiers[o->n_identifiers] = strndup(p, len)) == NULL)
			return DEED_ENOMEM;
		o->n_identifiers++;
		p += len + (nl != NULL);
	}
	return DEED_OK;
}

static int
order_get(struct sa *sa, int64_t id, struct sa_order *o)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ORDER_GET);
	int rc = DEED_EDB, step;

	memset(o, 0, sizeof(*o));
	if (s == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		sqlite3_reset(s);
		goto out;
	}
	o->id = sqlite3_column_int64(s, 0);
	o->account_id = sqlite3_column_int64(s, 1);
	o->status = (enum sa_order_status)status_from(order_name, sqlite3_column_text(s, 2), 4);
	o->expires = sqlite3_column_int64(s, 3);
	o->created_at = sqlite3_column_int64(s, 4);
	o->not_before = sqlite3_column_int64(s, 5);
	o->not_after = sqlite3_column_int64(s, 6);
	rc = split_names((const char *)sqlite3_column_text(s, 7), o);
	o->error_json = col_dup(s, 8);
	o->cert_id = sqlite3_column_int64(s, 9);
	sqlite3_reset(s);
	if (rc != DEED_OK)
		goto out;
	if ((o->authz_ids = calloc(o->n_identifiers + 1, sizeof(int64_t))) == NULL ||
	    (s = stmt(c, S_ORDER_AUTHZ_IDS)) == NULL) {
		rc = o->authz_ids == NULL ? DEED_ENOMEM : DEED_EDB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, id);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && o->n_authz < o->n_identifiers)
		o->authz_ids[o->n_authz++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	rc = DEED_OK;
out:
	if (rc != DEED_OK)
		sa_order_cleanup(o);
	release(sa, c);
	return rc;
}

/* Run a "SELECT id ... LIMIT ?" statement. */
static int
list_ids(struct sa *sa, enum stmt which, int64_t *ids, size_t max, size_t *n)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, which);
	int rc = DEED_EDB, step;

	*n = 0;
	if (s != NULL) {
		sqlite3_bind_int64(s, 1, (int64_t)max);
		while ((step = sqlite3_step(s)) == SQLITE_ROW && *n < max)
			ids[(*n)++] = sqlite3_column_int64(s, 0);
		rc = step == SQLITE_ROW || step == SQLITE_DONE ? DEED_OK : DEED_EDB;
		sqlite3_reset(s);
	}
	release(sa, c);
	return rc;
}

static int
order_list(struct sa *sa, int64_t account_id, int64_t before, int64_t *ids, size_t max,
	   size_t *n)
{
	/* Parameters: ?1 and ?2 the cursor ("before", 0 = from the newest), ?3 the page size,
	 * ?4 the account. */
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ORDER_LIST);
	int rc = DEED_EDB, step;

	*n = 0;
	if (s != NULL) {
		sqlite3_bind_int64(s, 1, before);
		sqlite3_bind_int64(s, 2, before);
		sqlite3_bind_int64(s, 3, (int64_t)max);
		sqlite3_bind_int64(s, 4, account_id);
		while ((step = sqlite3_step(s)) == SQLITE_ROW && *n < max)
			ids[(*n)++] = sqlite3_column_int64(s, 0);
		rc = step == SQLITE_ROW || step == SQLITE_DONE ? DEED_OK : DEED_EDB;
		sqlite3_reset(s);
	}
	release(sa, c);
	return rc;
}

static int
order_cas_status(struct sa *sa, int64_t id, enum sa_order_status from, enum sa_order_status to,
		 const char *error_json)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ORDER_CAS);
	int rc = DEED_EDB;

	if (s != NULL) {
		bind_text(s, 1, sa_order_status_str(to));
		bind_text(s, 2, error_json);
		sqlite3_bind_int64(s, 3, id);
		bind_text(s, 4, sa_order_status_str(from));
		rc = exec_done(s);
		if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
			rc = missing_or_conflict(c, S_ORDER_EXISTS, id);
	}
	release(sa, c);
	return rc;
}

static int
read_chall(sqlite3_stmt *s, struct sa_chall *ch)
{
	memset(ch, 0, sizeof(*ch));
	ch->id = sqlite3_column_int64(s, 0);
	ch->authz_id = sqlite3_column_int64(s, 1);
	snprintf(ch->type, sizeof(ch->type), "%s", (const char *)sqlite3_column_text(s, 2));
	snprintf(ch->token, sizeof(ch->token), "%s", (const char *)sqlite3_column_text(s, 3));
	ch->status = (enum sa_chall_status)status_from(chall_name, sqlite3_column_text(s, 4), 4);
	ch->validated_at = sqlite3_column_int64(s, 5);
	ch->error_json = col_dup(s, 6);
	ch->record_json = col_dup(s, 7);
	return DEED_OK;
}

static int
authz_get(struct sa *sa, int64_t id, struct sa_authz *a)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_GET);
	int rc = DEED_EDB, step;
	size_t cap = 0;

	memset(a, 0, sizeof(*a));
	if (s == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		sqlite3_reset(s);
		goto out;
	}
	a->id = sqlite3_column_int64(s, 0);
	a->account_id = sqlite3_column_int64(s, 1);
	snprintf(a->identifier, sizeof(a->identifier), "%s",
		 (const char *)sqlite3_column_text(s, 2));
	a->wildcard = sqlite3_column_int(s, 3) != 0;
	a->status = (enum sa_authz_status)status_from(authz_name, sqlite3_column_text(s, 4), 5);
	a->expires = sqlite3_column_int64(s, 5);
	a->created_at = sqlite3_column_int64(s, 6);
	sqlite3_reset(s);
	if ((s = stmt(c, S_CHALL_OF_AUTHZ)) == NULL)
		goto out;
	sqlite3_bind_int64(s, 1, id);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		if (a->n_challs == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct sa_chall *nc = realloc(a->challs, ncap * sizeof(*nc));

			if (nc == NULL) {
				rc = DEED_ENOMEM;
				sqlite3_reset(s);
				goto out;
			}
			a->challs = nc;
			cap = ncap;
		}
		read_chall(s, &a->challs[a->n_challs++]);
	}
	sqlite3_reset(s);
	rc = step == SQLITE_DONE ? DEED_OK : DEED_EDB;
out:
	if (rc != DEED_OK)
		sa_authz_cleanup(a);
	release(sa, c);
	return rc;
}

static int
authz_find_reusable(struct sa *sa, int64_t account_id, const char *identifier, bool wildcard,
		    int64_t valid_at, int64_t *authz_id)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_REUSE);
	int rc = DEED_EDB, step;

	if (s != NULL) {
		sqlite3_bind_int64(s, 1, account_id);
		bind_text(s, 2, identifier);
		sqlite3_bind_int(s, 3, wildcard);
		sqlite3_bind_int64(s, 4, valid_at);
		step = sqlite3_step(s);
		if (step == SQLITE_ROW) {
			*authz_id = sqlite3_column_int64(s, 0);
			rc = DEED_OK;
		} else {
			rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		}
		sqlite3_reset(s);
	}
	release(sa, c);
	return rc;
}

static int
authz_cas_status(struct sa *sa, int64_t id, enum sa_authz_status from, enum sa_authz_status to)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_CAS);
	int rc = DEED_EDB;

	if (s != NULL) {
		bind_text(s, 1, sa_authz_status_str(to));
		sqlite3_bind_int64(s, 2, id);
		bind_text(s, 3, sa_authz_status_str(from));
		rc = exec_done(s);
		if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
			rc = missing_or_conflict(c, S_AUTHZ_EXISTS, id);
	}
	release(sa, c);
	return rc;
}

static int
authz_deactivate_all(struct sa *sa, int64_t account_id)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_DEACT_ALL);
	int rc = DEED_EDB;

	if (s != NULL) {
		sqlite3_bind_int64(s, 1, account_id);
		rc = exec_done(s);
	}
	release(sa, c);
	return rc;
}

/* --- challenges ------------------------------------------------------------------------ */

static int
chall_begin(struct sa *sa, int64_t chall_id, int64_t now)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int64_t authz_id;
	int rc, step;

	if ((rc = begin(c)) != DEED_OK)
		goto out;
	if ((s = stmt(c, S_CHALL_BEGIN_CHECK)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, chall_id);
	step = sqlite3_step(s);
	if (step != SQLITE_ROW) {
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		sqlite3_reset(s);
		goto out;
	}
	if (strcmp((const char *)sqlite3_column_text(s, 0), "pending") != 0 ||
	    strcmp((const char *)sqlite3_column_text(s, 1), "pending") != 0 ||
	    sqlite3_column_int64(s, 2) <= now) {
		sqlite3_reset(s);
		rc = DEED_ECONFLICT;
		goto out;
	}
	authz_id = sqlite3_column_int64(s, 3);
	sqlite3_reset(s);
	if ((s = stmt(c, S_CHALL_SIBLINGS)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, authz_id);
	step = sqlite3_step(s);
	if (step != SQLITE_ROW || sqlite3_column_int64(s, 0) != 0) {
		rc = step == SQLITE_ROW ? DEED_ECONFLICT : DEED_EDB;
		sqlite3_reset(s);
		goto out;
	}
	sqlite3_reset(s);
	if ((s = stmt(c, S_CHALL_SET_PROCESSING)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	sqlite3_bind_int64(s, 1, chall_id);
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	rc = sqlite3_changes(c->db) == 1 ? commit(c) : DEED_ECONFLICT;
out:
	if (rc != DEED_OK)
		rollback(c);
	release(sa, c);
	return rc;
}

static int
chall_finish(struct sa *sa, int64_t chall_id, bool ok, int64_t validated_at, int64_t new_expires,
	     const char *error_json, const char *record_json)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int64_t authz_id = 0;
	int rc, step;

	if ((rc = begin(c)) != DEED_OK)
		goto out;
	if ((s = stmt(c, S_CHALL_FINISH)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	bind_text(s, 1, ok ? "valid" : "invalid");
	sqlite3_bind_int64(s, 2, ok ? validated_at : 0);
	bind_text(s, 3, ok ? NULL : error_json);
	bind_text(s, 4, record_json);
	sqlite3_bind_int64(s, 5, chall_id);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		authz_id = sqlite3_column_int64(s, 0);
	while (step == SQLITE_ROW)
		step = sqlite3_step(s);
	sqlite3_reset(s);
	if (step != SQLITE_DONE) {
		rc = DEED_EDB;
		goto out;
	}
	if (authz_id == 0) {
		rc = missing_or_conflict(c, S_CHALL_GET, chall_id);
		goto out;
	}
	/* The authorization moves only if still pending: one deactivated meanwhile stays so,
	 * and only the challenge records the outcome. An invalid one keeps its expiry. */
	if ((s = stmt(c, ok ? S_AUTHZ_FINISH : S_AUTHZ_CAS)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	if (ok) {
		bind_text(s, 1, "valid");
		sqlite3_bind_int64(s, 2, new_expires);
		sqlite3_bind_int64(s, 3, authz_id);
	} else {
		bind_text(s, 1, "invalid");
		sqlite3_bind_int64(s, 2, authz_id);
		bind_text(s, 3, "pending");
	}
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	rc = commit(c);
out:
	if (rc != DEED_OK)
		rollback(c);
	release(sa, c);
	return rc;
}

static int
chall_list_processing(struct sa *sa, int64_t *ids, size_t max, size_t *n)
{
	return list_ids(sa, S_CHALL_PROCESSING, ids, max, n);
}

static int
chall_get(struct sa *sa, int64_t chall_id, struct sa_chall *out)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_CHALL_GET);
	int rc = DEED_EDB, step;

	memset(out, 0, sizeof(*out));
	if (s != NULL) {
		sqlite3_bind_int64(s, 1, chall_id);
		step = sqlite3_step(s);
		if (step == SQLITE_ROW)
			rc = read_chall(s, out);
		else
			rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		sqlite3_reset(s);
	}
	release(sa, c);
	return rc;
}

/* --- certificates ---------------------------------------------------------------------- */

static int
cert_reserve(struct sa *sa, struct sa_cert *cert)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int rc;

	if ((rc = begin(c)) != DEED_OK)
		goto out;
	if ((s = stmt(c, S_ORDER_CAS)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	bind_text(s, 1, "processing");
	bind_text(s, 2, NULL);
	sqlite3_bind_int64(s, 3, cert->order_id);
	bind_text(s, 4, "pending");
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	if (sqlite3_changes(c->db) != 1) {
		rc = missing_or_conflict(c, S_ORDER_EXISTS, cert->order_id);
		goto out;
	}
	if ((s = stmt(c, S_CERT_INSERT)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	bind_text(s, 1, cert->serial);
	sqlite3_bind_int64(s, 2, cert->order_id);
	sqlite3_bind_int64(s, 3, cert->account_id);
	sqlite3_bind_blob(s, 4, cert->tbs_der, (int)cert->tbs_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, cert->not_before);
	sqlite3_bind_int64(s, 6, cert->not_after);
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	cert->id = sqlite3_last_insert_rowid(c->db);
	rc = commit(c);
out:
	if (rc != DEED_OK)
		rollback(c);
	release(sa, c);
	return rc;
}

/* Move a reserved certificate on (issue or abandon) and its order with it. */
static int
cert_settle(struct sa *sa, int64_t cert_id, const uint8_t *der, size_t len,
	    const char *error_json)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int64_t order_id = 0;
	int rc, step;

	if ((rc = begin(c)) != DEED_OK)
		goto out;
	if ((s = stmt(c, der != NULL ? S_CERT_ISSUE : S_CERT_ABANDON)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	if (der != NULL) {
		sqlite3_bind_blob(s, 1, der, (int)len, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, cert_id);
	} else {
		sqlite3_bind_int64(s, 1, cert_id);
	}
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		order_id = sqlite3_column_int64(s, 0);
	while (step == SQLITE_ROW)
		step = sqlite3_step(s);
	sqlite3_reset(s);
	if (step != SQLITE_DONE) {
		rc = DEED_EDB;
		goto out;
	}
	if (order_id == 0) {
		rc = missing_or_conflict(c, S_CERT_EXISTS, cert_id);
		goto out;
	}
	if ((s = stmt(c, der != NULL ? S_CERT_ORDER_VALID : S_CERT_ORDER_INVALID)) == NULL) {
		rc = DEED_EDB;
		goto out;
	}
	if (der != NULL)
		sqlite3_bind_int64(s, 1, cert_id);
	else
		bind_text(s, 1, error_json);
	sqlite3_bind_int64(s, 2, order_id);
	if ((rc = exec_done(s)) != DEED_OK)
		goto out;
	if (sqlite3_changes(c->db) != 1) {
		rc = DEED_ECONFLICT;
		goto out;
	}
	rc = commit(c);
out:
	if (rc != DEED_OK)
		rollback(c);
	release(sa, c);
	return rc;
}

static int
cert_issue(struct sa *sa, int64_t cert_id, const uint8_t *der, size_t len)
{
	if (der == NULL || len == 0)
		return DEED_EINVAL;
	return cert_settle(sa, cert_id, der, len, NULL);
}

static int
cert_abandon(struct sa *sa, int64_t cert_id, const char *error_json)
{
	return cert_settle(sa, cert_id, NULL, 0, error_json);
}

static int
read_cert(sqlite3_stmt *s, struct sa_cert *cert)
{
	const void *b;
	int n;

	memset(cert, 0, sizeof(*cert));
	cert->id = sqlite3_column_int64(s, 0);
	snprintf(cert->serial, sizeof(cert->serial), "%s", (const char *)sqlite3_column_text(s, 1));
	cert->order_id = sqlite3_column_int64(s, 2);
	cert->account_id = sqlite3_column_int64(s, 3);
	{
		const char *st = (const char *)sqlite3_column_text(s, 4);

		cert->status = strcmp(st, "issued") == 0	   ? SA_CERT_ISSUED
			       : strcmp(st, "abandoned") == 0 ? SA_CERT_ABANDONED
							      : SA_CERT_RESERVED;
	}
	for (int col = 5; col <= 6; col++) {
		uint8_t **dst = col == 5 ? &cert->tbs_der : &cert->der;
		size_t *dlen = col == 5 ? &cert->tbs_len : &cert->der_len;

		b = sqlite3_column_blob(s, col);
		n = sqlite3_column_bytes(s, col);
		if (b != NULL && n > 0) {
			if ((*dst = malloc((size_t)n)) == NULL) {
				sa_cert_cleanup(cert);
				return DEED_ENOMEM;
			}
			memcpy(*dst, b, (size_t)n);
			*dlen = (size_t)n;
		}
	}
	cert->not_before = sqlite3_column_int64(s, 7);
	cert->not_after = sqlite3_column_int64(s, 8);
	cert->revoked_reason = sqlite3_column_int(s, 9);
	cert->revoked_at = sqlite3_column_int64(s, 10);
	return DEED_OK;
}

static int
cert_query(struct sa *sa, enum stmt which, int64_t id, const char *serial, struct sa_cert *out)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, which);
	int rc = DEED_EDB, step;

	memset(out, 0, sizeof(*out));
	if (s != NULL) {
		if (serial != NULL)
			bind_text(s, 1, serial);
		else
			sqlite3_bind_int64(s, 1, id);
		step = sqlite3_step(s);
		if (step == SQLITE_ROW)
			rc = read_cert(s, out);
		else
			rc = step == SQLITE_DONE ? DEED_ENOTFOUND : DEED_EDB;
		sqlite3_reset(s);
	}
	release(sa, c);
	return rc;
}

static int
cert_get(struct sa *sa, int64_t id, struct sa_cert *out)
{
	return cert_query(sa, S_CERT_GET, id, NULL, out);
}

static int
cert_get_by_serial(struct sa *sa, const char *serial, struct sa_cert *out)
{
	return cert_query(sa, S_CERT_BY_SERIAL, 0, serial, out);
}

static int
cert_revoke(struct sa *sa, int64_t id, int reason, int64_t at)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_CERT_REVOKE);
	int rc = DEED_EDB;

	if (s != NULL) {
		sqlite3_bind_int(s, 1, reason);
		sqlite3_bind_int64(s, 2, at);
		sqlite3_bind_int64(s, 3, id);
		rc = exec_done(s);
		if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
			rc = missing_or_conflict(c, S_CERT_EXISTS, id);
	}
	release(sa, c);
	return rc;
}

static int
cert_list_reserved(struct sa *sa, int64_t *ids, size_t max, size_t *n)
{
	return list_ids(sa, S_CERT_RESERVED, ids, max, n);
}

/* --- open / close ---------------------------------------------------------------------- */

static void
sqlite_close(struct sa *sa)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;

	for (int i = 0; i < s->n_conns; i++) {
		for (int j = 0; j < N_STMT; j++)
			sqlite3_finalize(s->conns[i].st[j]);
		sqlite3_close(s->conns[i].db);
	}
	pthread_cond_destroy(&s->freed);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct sa_ops sqlite_ops = {
	.close = sqlite_close,
	.account_create = account_create,
	.account_get = account_get,
	.account_get_by_thumbprint = account_get_by_thumbprint,
	.account_update_contact = account_update_contact,
	.account_cas_status = account_cas_status,
	.account_change_key = account_change_key,
	.order_create = order_create,
	.order_get = order_get,
	.order_list = order_list,
	.order_cas_status = order_cas_status,
	.authz_get = authz_get,
	.authz_find_reusable = authz_find_reusable,
	.authz_cas_status = authz_cas_status,
	.authz_deactivate_all = authz_deactivate_all,
	.chall_begin = chall_begin,
	.chall_finish = chall_finish,
	.chall_list_processing = chall_list_processing,
	.chall_get = chall_get,
	.cert_reserve = cert_reserve,
	.cert_issue = cert_issue,
	.cert_abandon = cert_abandon,
	.cert_get = cert_get,
	.cert_get_by_serial = cert_get_by_serial,
	.cert_revoke = cert_revoke,
	.cert_list_reserved = cert_list_reserved,
};

static int
exec_sql(sqlite3 *db, const char *text, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
		deed_seterr(err, errlen, "%s", msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return DEED_EDB;
	}
	return DEED_OK;
}

/* Bring the schema to SCHEMA_VERSION, refusing a database from a newer deed. */
static int
migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *s = NULL;
	int version = -1, rc;

	if ((rc = exec_sql(db, "BEGIN IMMEDIATE", err, errlen)) != DEED_OK)
		return rc;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		version = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	if (version < 0 || version > SCHEMA_VERSION) {
		deed_seterr(err, errlen, "%s: schema version %d is newer than this deed-ca knows (%d)",
			    path, version, SCHEMA_VERSION);
		exec_sql(db, "ROLLBACK", NULL, 0);
		return DEED_EDB;
	}
	if (version == 0 && (rc = exec_sql(db, schema_v1, err, errlen)) != DEED_OK) {
		exec_sql(db, "ROLLBACK", NULL, 0);
		return rc;
	}
	return exec_sql(db, "COMMIT", err, errlen);
}

static int
open_conn(const char *path, sqlite3 **db, char *err, size_t errlen)
{
	/* WAL lets readers proceed during a write; FULL makes every commit durable (fsync of the
	 * WAL), which is what "an acknowledged certificate survives a power loss" needs. */
	static const char pragmas[] = "PRAGMA journal_mode = WAL;"
				      "PRAGMA synchronous = FULL;"
				      "PRAGMA foreign_keys = ON;";

	if (sqlite3_open_v2(path, db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		deed_seterr(err, errlen, "%s: %s", path, *db ? sqlite3_errmsg(*db) : "cannot open");
		return DEED_EDB;
	}
	sqlite3_busy_timeout(*db, BUSY_MS);
	return exec_sql(*db, pragmas, err, errlen);
}

int
sa_sqlite_open(const char *path, struct sa **out, char *err, size_t errlen)
{
	struct sa_sqlite *s;
	mode_t old;
	int rc;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return DEED_ENOMEM;
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->freed, NULL);
	/* The database holds account keys' public halves and contacts: owner only. */
	old = umask(077);
	rc = open_conn(path, &s->conns[0].db, err, errlen);
	umask(old);
	s->n_conns = 1;
	if (rc == DEED_OK)
		rc = migrate(s->conns[0].db, path, err, errlen);
	for (int i = 1; rc == DEED_OK && i < POOL; i++) {
		rc = open_conn(path, &s->conns[i].db, err, errlen);
		s->n_conns++;
	}
	if (rc != DEED_OK) {
		sqlite_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return DEED_OK;
}
