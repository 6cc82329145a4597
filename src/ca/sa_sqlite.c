#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "error.h"
#include "log.h"
#include "sa_sqlite.h"

/*
 * SQLite driver of the storage authority.
 *
 * Concurrency: SQLite serialises writers per database file whatever we do, so the pool only
 * has to let readers run beside the one writer (WAL) and keep a thread from waiting on
 * another's connection. Each connection is opened NOMUTEX and used by one thread at a time;
 * the pool hands them out under a mutex. A writer that finds the write lock taken sleeps in
 * SQLite's busy handler up to BUSY_TIMEOUT_MS, so lock contention never surfaces as an error
 * short of that.
 *
 * Every multi-statement write runs in BEGIN IMMEDIATE: the write lock is taken before the
 * first read, so what we read cannot change before we write (no SQLITE_BUSY_SNAPSHOT
 * upgrade failures, which the busy handler cannot retry).
 *
 * Writers of this process also queue on a mutex before they touch the database (acquire_write),
 * so that they wait their turn in order instead of sleeping in SQLite's busy handler, whose
 * back-off adds milliseconds under load.
 *
 * Durability (group commit): connections run with synchronous=NORMAL, so a commit appends to
 * the WAL without waiting for the disk. No write is acknowledged before it is on disk, though:
 * release() of a connection that changed rows waits until an fsync of the WAL that began after
 * its commit has finished. One fsync, made by whichever waiter finds none running, covers every
 * commit made before it began, so concurrent writers share it instead of taking one each. A
 * power loss can only lose commits whose callers were still waiting. (A reader on another
 * connection can see such a commit up to one fsync before it is durable.)
 */

/* Connections: one for writers (in turn, under wlock), one that only flushes the WAL, and
 * READERS for everything else. Sixteen readers cover the default validation workers (8) and
 * as many requests again without a wait. Writers share one connection so that its page cache
 * stays warm: SQLite drops a connection's whole cache when it begins a transaction and finds
 * that another connection has written since its last one, so with writers taking any pooled
 * connection every write read its pages (table and index leaves) back from the file. */
#define READERS 16
#define WRITER READERS
#define SYNCER (READERS + 1)
#define N_CONNS (READERS + 2)
#define BUSY_TIMEOUT_MS 10000
/* 'deed' in ASCII: marks the file as ours, so a foreign SQLite file is refused rather than
 * having our tables added to it. */
#define APPLICATION_ID 0x64656564

enum stmt {
	S_BEGIN_WRITE, S_BEGIN_READ, S_COMMIT, S_ROLLBACK,
	S_ACCT_INSERT, S_ACCT_GET, S_ACCT_BY_THUMB, S_ACCT_OWNER, S_ACCT_CONTACT, S_ACCT_CAS,
	S_ACCT_SETKEY, S_ACCT_EXISTS, S_ACCT_RETIRE_KEY, S_ACCT_OLD_KEYS,
	S_ORDER_INSERT, S_ORDER_AUTHZ_INSERT, S_ORDER_GET, S_ORDER_IDENTS, S_ORDER_AUTHZ_IDS,
	S_ORDER_LIST, S_ORDER_CAS, S_ORDER_EXISTS,
	S_AUTHZ_INSERT, S_AUTHZ_OWNED, S_AUTHZ_GET, S_AUTHZ_REUSE, S_AUTHZ_CAS, S_AUTHZ_EXISTS,
	S_AUTHZ_DEACT_ALL, S_AUTHZ_FINISH,
	S_CHALL_INSERT, S_CHALL_OF_AUTHZ, S_CHALL_GET, S_CHALL_BEGIN, S_CHALL_FINISH,
	S_CHALL_PROCESSING, S_CHALL_EXISTS,
	S_CERT_ORDER_RESERVE, S_CERT_INSERT, S_CERT_SETTLE, S_CERT_ORDER_SETTLE, S_CERT_GET,
	S_CERT_BY_SERIAL, S_CERT_REVOKE, S_CERT_EXISTS, S_CERT_RESERVED,
	S_VAL_INSERT, S_VAL_LIST, S_VAL_LIST_ALL, S_VAL_ANY_OK,
	S_BLOCK_ADD, S_BLOCK_HAS, S_BLOCK_LIST,
	N_STMT
};

#define ACCT_COLS "id, status, jwk, thumbprint, contact, tos_agreed, created_at"
#define CHALL_COLS "id, authz_id, type, token, status, validated_at, error, record"
#define CERT_COLS                                                                          \
	"id, serial, order_id, account_id, status, tbs, der, not_before, not_after, "      \
	"revoked_reason, revoked_at"

static const char *const sql[N_STMT] = {
	[S_BEGIN_WRITE] = "BEGIN IMMEDIATE",
	[S_BEGIN_READ] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",

	[S_ACCT_INSERT] = "INSERT INTO accounts(status, jwk, thumbprint, contact, tos_agreed, "
			  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_ACCT_GET] = "SELECT " ACCT_COLS " FROM accounts WHERE id = ?1",
	[S_ACCT_BY_THUMB] = "SELECT " ACCT_COLS " FROM accounts WHERE thumbprint = ?1",
	[S_ACCT_OWNER] = "SELECT id FROM accounts WHERE thumbprint = ?1",
	[S_ACCT_CONTACT] = "UPDATE accounts SET contact = ?1 WHERE id = ?2",
	[S_ACCT_CAS] = "UPDATE accounts SET status = ?1 WHERE id = ?2 AND status = ?3",
	[S_ACCT_SETKEY] = "UPDATE accounts SET jwk = ?1, thumbprint = ?2 "
			  "WHERE id = ?3 AND thumbprint = ?4",
	[S_ACCT_EXISTS] = "SELECT 1 FROM accounts WHERE id = ?1",
	/* A key rolled back to and away from again is retired anew. */
	[S_ACCT_RETIRE_KEY] = "INSERT INTO account_old_keys(account_id, thumbprint, retired, "
			      "retired_at) VALUES (?1, ?2, (SELECT coalesce(max(retired), 0) + 1 "
			      "FROM account_old_keys WHERE account_id = ?1), "
			      "CAST(strftime('%s', 'now') AS INTEGER)) "
			      "ON CONFLICT(account_id, thumbprint) DO UPDATE SET "
			      "retired = excluded.retired, retired_at = excluded.retired_at",
	[S_ACCT_OLD_KEYS] = "SELECT k.thumbprint FROM account_old_keys k JOIN accounts a ON "
			    "a.id = k.account_id WHERE k.account_id = ?1 AND k.thumbprint != "
			    "a.thumbprint ORDER BY k.retired DESC LIMIT ?2",

	[S_ORDER_INSERT] = "INSERT INTO orders(account_id, status, expires, created_at, "
			   "not_before, not_after, identifiers) "
			   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[S_ORDER_AUTHZ_INSERT] = "INSERT INTO order_authz(order_id, position, authz_id) "
				 "VALUES (?1, ?2, ?3)",
	[S_ORDER_GET] = "SELECT id, account_id, status, expires, created_at, not_before, "
			"not_after, json_array_length(identifiers), error, cert_id "
			"FROM orders WHERE id = ?1",
	[S_ORDER_IDENTS] = "SELECT j.value FROM orders o, json_each(o.identifiers) j "
			   "WHERE o.id = ?1 ORDER BY j.key",
	[S_ORDER_AUTHZ_IDS] = "SELECT authz_id FROM order_authz WHERE order_id = ?1 "
			      "ORDER BY position",
	[S_ORDER_LIST] = "SELECT id FROM orders WHERE account_id = ?1 AND id < ?2 "
			 "ORDER BY id DESC LIMIT ?3",
	[S_ORDER_CAS] = "UPDATE orders SET status = ?1, error = ?2 WHERE id = ?3 AND status = ?4",
	[S_ORDER_EXISTS] = "SELECT 1 FROM orders WHERE id = ?1",

	[S_AUTHZ_INSERT] = "INSERT INTO authz(account_id, identifier, wildcard, status, expires, "
			   "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_AUTHZ_OWNED] = "SELECT 1 FROM authz WHERE id = ?1 AND account_id = ?2",
	[S_AUTHZ_GET] = "SELECT id, account_id, identifier, wildcard, status, expires, "
			"created_at FROM authz WHERE id = ?1",
	[S_AUTHZ_REUSE] = "SELECT id FROM authz WHERE account_id = ?1 AND identifier = ?2 AND "
			  "wildcard = ?3 AND status = 'valid' AND expires > ?4 "
			  "ORDER BY expires DESC, id DESC LIMIT 1",
	[S_AUTHZ_CAS] = "UPDATE authz SET status = ?1 WHERE id = ?2 AND status = ?3",
	[S_AUTHZ_EXISTS] = "SELECT 1 FROM authz WHERE id = ?1",
	[S_AUTHZ_DEACT_ALL] = "UPDATE authz SET status = 'deactivated' WHERE account_id = ?1 AND "
			      "status IN ('pending', 'valid')",
	/* An invalid authorization keeps its expiry; a valid one gets the reuse lifetime. */
	[S_AUTHZ_FINISH] = "UPDATE authz SET status = ?1, "
			   "expires = CASE WHEN ?1 = 'valid' THEN ?2 ELSE expires END "
			   "WHERE id = ?3 AND status = 'pending'",

	[S_CHALL_INSERT] = "INSERT INTO challenges(authz_id, type, token, status, validated_at, "
			   "record) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[S_CHALL_OF_AUTHZ] = "SELECT " CHALL_COLS " FROM challenges WHERE authz_id = ?1 "
			     "ORDER BY id",
	[S_CHALL_GET] = "SELECT " CHALL_COLS " FROM challenges WHERE id = ?1",
	/* All of chall_begin's conditions in the one statement that changes the row, so no
	 * other writer can slip between the check and the change. */
	[S_CHALL_BEGIN] = "UPDATE challenges SET status = 'processing' "
			  "WHERE id = ?1 AND status = 'pending' "
			  "AND EXISTS (SELECT 1 FROM authz a WHERE a.id = challenges.authz_id "
			  "AND a.status = 'pending' AND a.expires > ?2) "
			  "AND NOT EXISTS (SELECT 1 FROM challenges o "
			  "WHERE o.authz_id = challenges.authz_id AND o.status = 'processing')",
	[S_CHALL_FINISH] = "UPDATE challenges SET status = ?1, validated_at = ?2, error = ?3, "
			   "record = ?4 WHERE id = ?5 AND status = 'processing' "
			   "RETURNING authz_id",
	[S_CHALL_PROCESSING] = "SELECT id FROM challenges WHERE status = 'processing' "
			       "ORDER BY id LIMIT ?1",
	[S_CHALL_EXISTS] = "SELECT 1 FROM challenges WHERE id = ?1",

	[S_CERT_ORDER_RESERVE] = "UPDATE orders SET status = 'processing', error = NULL "
				 "WHERE id = ?1 AND status = 'pending' RETURNING account_id",
	[S_CERT_INSERT] = "INSERT INTO certificates(serial, order_id, account_id, status, tbs, "
			  "not_before, not_after) VALUES (?1, ?2, ?3, 'reserved', ?4, ?5, ?6)",
	[S_CERT_SETTLE] = "UPDATE certificates SET status = ?1, der = ?2 "
			  "WHERE id = ?3 AND status = 'reserved' RETURNING order_id",
	[S_CERT_ORDER_SETTLE] = "UPDATE orders SET status = ?1, cert_id = ?2, error = ?3 "
				"WHERE id = ?4 AND status = 'processing'",
	[S_CERT_GET] = "SELECT " CERT_COLS " FROM certificates WHERE id = ?1",
	[S_CERT_BY_SERIAL] = "SELECT " CERT_COLS " FROM certificates WHERE serial = ?1",
	[S_CERT_REVOKE] = "UPDATE certificates SET revoked_reason = ?1, revoked_at = ?2 "
			  "WHERE id = ?3 AND status = 'issued' AND revoked_reason < 0",
	[S_CERT_EXISTS] = "SELECT 1 FROM certificates WHERE id = ?1",
	[S_CERT_RESERVED] = "SELECT id FROM certificates WHERE status = 'reserved' "
			    "ORDER BY id LIMIT ?1",
	[S_VAL_INSERT] = "INSERT INTO validations(at, account_id, identifier, wildcard, method, jit, "
			 "ok, problem, records) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	[S_VAL_LIST] = "SELECT id, at, account_id, identifier, wildcard, method, jit, ok, problem, "
		       "records FROM validations WHERE identifier = ?1 ORDER BY id",
	[S_VAL_ANY_OK] = "SELECT 1 FROM validations WHERE account_id = ?1 AND method = ?2 AND ok = 1 "
			 "LIMIT 1",
	[S_VAL_LIST_ALL] = "SELECT id, at, account_id, identifier, wildcard, method, jit, ok, "
			   "problem, records FROM validations ORDER BY id",
	[S_BLOCK_ADD] = "INSERT INTO blocked_keys(spki_sha256, added_at, source) VALUES (?1, ?2, ?3) "
			"ON CONFLICT(spki_sha256) DO NOTHING",
	[S_BLOCK_HAS] = "SELECT 1 FROM blocked_keys WHERE spki_sha256 = ?1",
	[S_BLOCK_LIST] = "SELECT spki_sha256, added_at, source FROM blocked_keys ORDER BY added_at, "
			 "spki_sha256",
};

/*
 * Schema migrations: migrations[i] takes the database from version i to i + 1 and runs in
 * the same transaction as the user_version bump, so a crash leaves either version. Append
 * only; never edit a released step.
 */
static const char migration_1[] =
	"CREATE TABLE accounts ("
	" id INTEGER PRIMARY KEY,"
	" status TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),"
	" jwk TEXT NOT NULL,"
	" thumbprint TEXT NOT NULL UNIQUE,"
	" contact TEXT NOT NULL DEFAULT '[]',"
	" tos_agreed INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE authz ("
	" id INTEGER PRIMARY KEY,"
	" account_id INTEGER NOT NULL REFERENCES accounts(id),"
	" identifier TEXT NOT NULL,"
	" wildcard INTEGER NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN"
	"  ('pending', 'valid', 'invalid', 'deactivated', 'revoked')),"
	" expires INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX authz_reuse ON authz(account_id, identifier, wildcard, status, expires);"
	"CREATE TABLE challenges ("
	" id INTEGER PRIMARY KEY,"
	" authz_id INTEGER NOT NULL REFERENCES authz(id),"
	" type TEXT NOT NULL,"
	" token TEXT NOT NULL,"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),"
	" validated_at INTEGER NOT NULL DEFAULT 0,"
	" error TEXT,"
	" record TEXT);"
	"CREATE INDEX challenges_authz ON challenges(authz_id, status);"
	"CREATE INDEX challenges_processing ON challenges(id) WHERE status = 'processing';"
	"CREATE TABLE orders ("
	" id INTEGER PRIMARY KEY,"
	" account_id INTEGER NOT NULL REFERENCES accounts(id),"
	" status TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),"
	" expires INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" not_before INTEGER NOT NULL DEFAULT 0,"
	" not_after INTEGER NOT NULL DEFAULT 0,"
	" identifiers TEXT NOT NULL," /* JSON array, in order */
	" error TEXT,"
	" cert_id INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX orders_account ON orders(account_id, id);"
	"CREATE TABLE order_authz ("
	" order_id INTEGER NOT NULL REFERENCES orders(id),"
	" authz_id INTEGER NOT NULL REFERENCES authz(id),"
	" position INTEGER NOT NULL,"
	" PRIMARY KEY (order_id, position));"
	"CREATE TABLE certificates ("
	" id INTEGER PRIMARY KEY,"
	" serial TEXT NOT NULL UNIQUE,"
	" order_id INTEGER NOT NULL UNIQUE REFERENCES orders(id),"
	" account_id INTEGER NOT NULL REFERENCES accounts(id),"
	" status TEXT NOT NULL CHECK (status IN ('reserved', 'issued', 'abandoned')),"
	" tbs BLOB NOT NULL,"
	" der BLOB,"
	" not_before INTEGER NOT NULL,"
	" not_after INTEGER NOT NULL,"
	" revoked_reason INTEGER NOT NULL DEFAULT -1,"
	" revoked_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX certificates_reserved ON certificates(id) WHERE status = 'reserved';";

/* v2: the audit log of validation attempts (dns-persist-01 asks for it: which records were
 * seen, their TTL and DNSSEC status, and the outcome, at every validation). */
static const char migration_2[] =
	"CREATE TABLE validations ("
	" id INTEGER PRIMARY KEY,"
	" at INTEGER NOT NULL,"
	" account_id INTEGER NOT NULL REFERENCES accounts(id),"
	" identifier TEXT NOT NULL,"
	" wildcard INTEGER NOT NULL CHECK (wildcard IN (0, 1)),"
	" method TEXT NOT NULL,"
	" jit INTEGER NOT NULL CHECK (jit IN (0, 1)),"
	" ok INTEGER NOT NULL CHECK (ok IN (0, 1)),"
	" problem TEXT,"
	" records TEXT);"
	"CREATE INDEX validations_identifier ON validations(identifier, id);"
	"CREATE INDEX validations_account ON validations(account_id, method, ok);";

/* v3: public keys refused for accounts and certificates (SHA-256 of the SubjectPublicKeyInfo,
 * lowercase hex): added by the operator, and by every keyCompromise revocation. */
static const char migration_3[] =
	"CREATE TABLE blocked_keys ("
	" spki_sha256 TEXT PRIMARY KEY CHECK (length(spki_sha256) = 64),"
	" added_at INTEGER NOT NULL,"
	" source TEXT NOT NULL);";

/* v4: the thumbprints of the keys an account used before its current one (key rollover), for
 * dns-persist-01 records whose hashed accounturi was made with one of them (draft -02: the CA
 * keeps every thumbprint while the account lives). Accounts that rolled over before v4 have
 * no history: it was not kept. */
static const char migration_4[] =
	"CREATE TABLE account_old_keys ("
	" account_id INTEGER NOT NULL REFERENCES accounts(id),"
	" thumbprint TEXT NOT NULL,"
	" retired INTEGER NOT NULL," /* the account's rollovers so far: orders its old keys */
	" retired_at INTEGER NOT NULL,"
	" PRIMARY KEY (account_id, thumbprint));";

static const char *const migrations[] = {migration_1, migration_2, migration_3, migration_4};
#define SCHEMA_VERSION ((int)(sizeof(migrations) / sizeof(migrations[0])))

struct conn {
	sqlite3 *db;
	sqlite3_stmt *st[N_STMT];
	bool writer;		/* holds the write mutex (acquire_write) */
	bool defer_sync;	/* release() need not wait for the disk: see cert_reserve */
	sqlite3_int64 changes0; /* sqlite3_total_changes64 at acquire */
};

struct sa_sqlite {
	struct sa base; /* first, so a struct sa * is a struct sa_sqlite * */
	pthread_mutex_t lock;
	pthread_cond_t returned;
	struct conn conns[N_CONNS]; /* READERS pooled ones, then WRITER and SYNCER */
	int n_conns;
	struct conn *idle[READERS];
	int n_idle;
	pthread_mutex_t wlock;	     /* one writer at a time, in this process */
	pthread_mutex_t sync_lock;   /* the group commit's state below */
	pthread_cond_t synced_cond;
	uint64_t committed;	     /* commits made so far (tickets) */
	uint64_t synced;	     /* commits known to be on disk */
	bool syncing;		     /* an fsync is running */
	int sync_err;		     /* how the last fsync failed (0 = it did not) */
};

/* --- pool and statement helpers -------------------------------------------------------- */

struct conn;
static int insert_validation(struct conn *c, struct sa_validation *v);

/* The connection's cached statement, reset and unbound. */
static sqlite3_stmt *
stmt(struct conn *c, enum stmt i)
{
	sqlite3_reset(c->st[i]);
	sqlite3_clear_bindings(c->st[i]);
	return c->st[i];
}

/* Map an SQLite result (extended codes are on) to the project's errors. A unique key taken
 * is the conflict the interface promises; a foreign key missing means the caller named a row
 * that does not exist; NOT NULL and CHECK failures mean the caller passed an unusable
 * value. */
static int
map_rc(int rc)
{
	switch (rc) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return DEED_OK;
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return DEED_ECONFLICT;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return DEED_ENOTFOUND;
	case SQLITE_CONSTRAINT_NOTNULL:
	case SQLITE_CONSTRAINT_CHECK:
		return DEED_EINVAL;
	case SQLITE_NOMEM:
		return DEED_ENOMEM;
	}
	return DEED_EDB;
}

/* Run a statement to completion. *first (may be NULL) gets column 0 of the first row, 0
 * when there was none: the RETURNING value of a CAS that matched. */
static int
run(sqlite3_stmt *s, int64_t *first)
{
	int rc;

	if (first != NULL)
		*first = 0;
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && first != NULL)
		*first = sqlite3_column_int64(s, 0);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(s);
	sqlite3_reset(s);
	return map_rc(rc);
}

static void
conn_start(struct conn *c, bool writer)
{
	c->writer = writer;
	c->defer_sync = false;
	c->changes0 = sqlite3_total_changes64(c->db);
}

/* A pooled connection, for an operation that only reads. */
static struct conn *
acquire(struct sa *sa)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;
	struct conn *c;

	pthread_mutex_lock(&s->lock);
	while (s->n_idle == 0)
		pthread_cond_wait(&s->returned, &s->lock);
	c = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->lock);
	conn_start(c, false);
	return c;
}

/* The writers' connection, in turn behind this process's other writers. */
static struct conn *
acquire_write(struct sa *sa)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;

	pthread_mutex_lock(&s->wlock);
	conn_start(&s->conns[WRITER], true);
	return &s->conns[WRITER];
}

/* fsync the WAL through the connection's own file handle (SQLite's VFS). */
static int
sync_wal(struct conn *c)
{
	sqlite3_file *f = NULL;

	if (sqlite3_file_control(c->db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &f) != SQLITE_OK ||
	    f == NULL || f->pMethods == NULL)
		return SQLITE_IOERR;
	return f->pMethods->xSync(f, SQLITE_SYNC_NORMAL);
}

/* Wait until the commit just made (ticket) is on disk; see the comment at the top. The
 * flush goes through the SYNCER connection's handle of the WAL (fdatasync acts on the file,
 * whichever handle wrote), so the writers' connection is free for the next writer meanwhile. */
static int
group_sync(struct sa_sqlite *s)
{
	uint64_t ticket, target;
	int rc = DEED_OK, err;

	pthread_mutex_lock(&s->sync_lock);
	ticket = ++s->committed;
	while (s->synced < ticket) {
		if (s->syncing) {
			pthread_cond_wait(&s->synced_cond, &s->sync_lock);
			continue;
		}
		s->syncing = true;
		target = s->committed;
		pthread_mutex_unlock(&s->sync_lock);
		err = sync_wal(&s->conns[SYNCER]);
		pthread_mutex_lock(&s->sync_lock);
		s->syncing = false;
		if (err == SQLITE_OK)
			s->synced = target;
		pthread_cond_broadcast(&s->synced_cond);
		if (err != SQLITE_OK) {
			rc = DEED_EDB;
			break;
		}
	}
	pthread_mutex_unlock(&s->sync_lock);
	return rc;
}

static void
release(struct sa *sa, struct conn *c)
{
	struct sa_sqlite *s = (struct sa_sqlite *)sa;
	bool sync;

	/* A connection must go back clean: an open transaction would hold the write lock (or
	 * pin an old WAL snapshot) for whoever takes it next. */
	if (!sqlite3_get_autocommit(c->db))
		run(stmt(c, S_ROLLBACK), NULL);
	sync = sqlite3_total_changes64(c->db) != c->changes0 && !c->defer_sync;
	if (c->writer) {
		c->writer = false;
		pthread_mutex_unlock(&s->wlock);
	} else {
		pthread_mutex_lock(&s->lock);
		s->idle[s->n_idle++] = c;
		pthread_cond_signal(&s->returned);
		pthread_mutex_unlock(&s->lock);
	}
	/* With the connection given back: the next writer commits while this one's fsync runs
	 * (through the SYNCER connection). */
	if (sync && group_sync(s) != DEED_OK)
		log_err("sa: fsync of the write-ahead log failed; a power loss may lose the last "
			"writes");
}

static int
begin_write(struct conn *c)
{
	return run(stmt(c, S_BEGIN_WRITE), NULL);
}

/* A read transaction, so a record read with several statements comes from one snapshot. */
static int
begin_read(struct conn *c)
{
	return run(stmt(c, S_BEGIN_READ), NULL);
}

static int
commit(struct conn *c)
{
	return run(stmt(c, S_COMMIT), NULL);
}

static void
bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v != NULL)
		sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(s, i);
}

/* After a CAS changed no row: DEED_ENOTFOUND if the row does not exist, else the stored
 * status was not the expected one. Rows are never deleted, so the answer cannot go stale. */
static int
missing_or_conflict(struct conn *c, enum stmt exists, int64_t id)
{
	sqlite3_stmt *s = stmt(c, exists);
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc == SQLITE_ROW)
		return DEED_ECONFLICT;
	return rc == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(rc);
}

/* Run a single-row CAS statement and tell what its failure to change a row means. */
static int
run_cas(struct conn *c, sqlite3_stmt *s, enum stmt exists, int64_t id)
{
	int rc = run(s, NULL);

	if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
		rc = missing_or_conflict(c, exists, id);
	return rc;
}

/* A status CAS whose statement binds (to, id, from): accounts' and authorizations'. */
static int
cas_status(struct sa *sa, enum stmt cas, enum stmt exists, int64_t id, const char *from,
	   const char *to)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, cas);
	int rc;

	bind_text(s, 1, to);
	sqlite3_bind_int64(s, 2, id);
	bind_text(s, 3, from);
	rc = run_cas(c, s, exists, id);
	release(sa, c);
	return rc;
}

static int
col_dup(sqlite3_stmt *s, int col, char **out)
{
	const unsigned char *t;

	*out = NULL;
	if (sqlite3_column_type(s, col) == SQLITE_NULL)
		return DEED_OK;
	/* Not NULL yet no text: SQLite failed to convert the value for want of memory. */
	if ((t = sqlite3_column_text(s, col)) == NULL)
		return DEED_ENOMEM;
	return (*out = strdup((const char *)t)) != NULL ? DEED_OK : DEED_ENOMEM;
}

/* Copy a text column into a fixed buffer; a value that does not fit is a corrupt row, not
 * something to truncate silently. */
static int
col_copy(sqlite3_stmt *s, int col, char *buf, size_t size)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t n;

	if (t == NULL || (n = (size_t)sqlite3_column_bytes(s, col)) >= size)
		return DEED_EDB;
	memcpy(buf, t, n + 1);
	return DEED_OK;
}

static int
col_blob(sqlite3_stmt *s, int col, uint8_t **out, size_t *len)
{
	const void *b = sqlite3_column_blob(s, col);
	int n = sqlite3_column_bytes(s, col);

	*out = NULL;
	*len = 0;
	if (b == NULL || n <= 0)
		return DEED_OK;
	if ((*out = malloc((size_t)n)) == NULL)
		return DEED_ENOMEM;
	memcpy(*out, b, (size_t)n);
	*len = (size_t)n;
	return DEED_OK;
}

static const char *const cert_names[] = {"reserved", "issued", "abandoned"};

static const char *acct_name(int i) { return sa_acct_status_str((enum sa_acct_status)i); }
static const char *order_name(int i) { return sa_order_status_str((enum sa_order_status)i); }
static const char *authz_name(int i) { return sa_authz_status_str((enum sa_authz_status)i); }
static const char *chall_name(int i) { return sa_chall_status_str((enum sa_chall_status)i); }
static const char *cert_name(int i) { return cert_names[i]; }

/* Parse a stored status. Text we do not know is a corrupt row: reading it as the first
 * status ("valid" for accounts) would grant what nobody granted. */
static int
col_status(sqlite3_stmt *s, int col, const char *(*name)(int), int n, int *out)
{
	const char *t = (const char *)sqlite3_column_text(s, col);

	for (int i = 0; t != NULL && i < n; i++) {
		if (strcmp(t, name(i)) == 0) {
			*out = i;
			return DEED_OK;
		}
	}
	return DEED_EDB;
}

/* Run a "SELECT id ... LIMIT ?1" statement into ids. */
static int
list_ids(struct sa *sa, enum stmt which, int64_t *ids, size_t max, size_t *n)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, which);
	int step;

	*n = 0;
	sqlite3_bind_int64(s, 1, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	release(sa, c);
	return map_rc(step);
}

/* --- accounts -------------------------------------------------------------------------- */

static int
read_account(sqlite3_stmt *s, void *out)
{
	struct sa_account *a = out;
	int st, rc;

	a->id = sqlite3_column_int64(s, 0);
	if ((rc = col_status(s, 1, acct_name, SA_ACCT_REVOKED + 1, &st)) != DEED_OK)
		return rc;
	a->status = (enum sa_acct_status)st;
	if ((rc = col_dup(s, 2, &a->jwk_json)) != DEED_OK ||
	    (rc = col_copy(s, 3, a->thumbprint, sizeof(a->thumbprint))) != DEED_OK ||
	    (rc = col_dup(s, 4, &a->contact_json)) != DEED_OK)
		return rc;
	a->tos_agreed = sqlite3_column_int(s, 5) != 0;
	a->created_at = sqlite3_column_int64(s, 6);
	return a->jwk_json != NULL && a->contact_json != NULL ? DEED_OK : DEED_EDB;
}

/* Fetch the one row statement `which` finds for id (or for key, when not NULL) with read.
 * DEED_ENOTFOUND when there is none. */
static int
get_row(struct sa *sa, enum stmt which, int64_t id, const char *key,
	int (*read)(sqlite3_stmt *, void *), void *out)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, which);
	int rc, step;

	if (key != NULL)
		bind_text(s, 1, key);
	else
		sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		rc = read(s, out);
	else
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(step);
	sqlite3_reset(s);
	release(sa, c);
	return rc;
}

static int
account_query(struct sa *sa, enum stmt which, int64_t id, const char *thumb,
	      struct sa_account *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_row(sa, which, id, thumb, read_account, out)) != DEED_OK)
		sa_account_cleanup(out);
	return rc;
}

static int
account_create(struct sa *sa, struct sa_account *a)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	if (a->jwk_json == NULL || a->thumbprint[0] == '\0')
		return DEED_EINVAL;
	c = acquire_write(sa);
	s = stmt(c, S_ACCT_INSERT);
	bind_text(s, 1, acct_name(a->status));
	bind_text(s, 2, a->jwk_json);
	bind_text(s, 3, a->thumbprint);
	bind_text(s, 4, a->contact_json != NULL ? a->contact_json : "[]");
	sqlite3_bind_int(s, 5, a->tos_agreed);
	sqlite3_bind_int64(s, 6, a->created_at);
	if ((rc = run(s, NULL)) == DEED_OK)
		a->id = sqlite3_last_insert_rowid(c->db);
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
	if (thumbprint == NULL) {
		memset(out, 0, sizeof(*out));
		return DEED_ENOTFOUND;
	}
	return account_query(sa, S_ACCT_BY_THUMB, 0, thumbprint, out);
}

static int
account_update_contact(struct sa *sa, int64_t id, const char *contact_json)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, S_ACCT_CONTACT);
	int rc;

	bind_text(s, 1, contact_json != NULL ? contact_json : "[]");
	sqlite3_bind_int64(s, 2, id);
	rc = run(s, NULL);
	if (rc == DEED_OK && sqlite3_changes(c->db) != 1)
		rc = DEED_ENOTFOUND;
	release(sa, c);
	return rc;
}

static int
account_cas_status(struct sa *sa, int64_t id, enum sa_acct_status from, enum sa_acct_status to)
{
	return cas_status(sa, S_ACCT_CAS, S_ACCT_EXISTS, id, acct_name(from), acct_name(to));
}

static int
account_change_key(struct sa *sa, int64_t id, const char *old_thumbprint,
		   const char *new_jwk_json, const char *new_thumbprint, int64_t *owner)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	*owner = 0;
	if (old_thumbprint == NULL || new_jwk_json == NULL || new_thumbprint == NULL ||
	    *new_thumbprint == '\0')
		return DEED_EINVAL;
	c = acquire_write(sa);
	if ((rc = begin_write(c)) != DEED_OK)
		goto out;
	/* RFC 8555 §7.3.5: a key already bound to an account cannot be rolled over to; the
	 * caller reports that account's URL. */
	s = stmt(c, S_ACCT_OWNER);
	bind_text(s, 1, new_thumbprint);
	if ((rc = run(s, owner)) != DEED_OK)
		goto out;
	if (*owner != 0) {
		rc = DEED_ECONFLICT;
		goto out;
	}
	s = stmt(c, S_ACCT_SETKEY);
	bind_text(s, 1, new_jwk_json);
	bind_text(s, 2, new_thumbprint);
	sqlite3_bind_int64(s, 3, id);
	bind_text(s, 4, old_thumbprint);
	if ((rc = run_cas(c, s, S_ACCT_EXISTS, id)) != DEED_OK)
		goto out;
	s = stmt(c, S_ACCT_RETIRE_KEY);
	sqlite3_bind_int64(s, 1, id);
	bind_text(s, 2, old_thumbprint);
	if ((rc = run(s, NULL)) != DEED_OK)
		goto out;
	rc = commit(c);
out:
	release(sa, c); /* rolls back anything left open */
	return rc;
}

static int
account_old_thumbprints(struct sa *sa, int64_t id, char (*out)[SA_THUMBPRINT_MAX], size_t max,
			size_t *n)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ACCT_OLD_KEYS);
	int step;

	*n = 0;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, (int64_t)max);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		if (col_copy(s, 0, out[*n], SA_THUMBPRINT_MAX) == DEED_OK)
			(*n)++;
	sqlite3_reset(s);
	release(sa, c);
	return step == SQLITE_DONE || step == SQLITE_ROW ? DEED_OK : map_rc(step);
}

/* --- orders ---------------------------------------------------------------------------- */

/* The identifiers as a JSON array of strings: readable with the sqlite3 shell, and split
 * again by SQLite's json_each. */
static char *
names_to_json(char *const *names, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t len = 3;
	char *out, *p;

	for (size_t i = 0; i < n; i++)
		len += 6 * strlen(names[i]) + 3;
	if ((out = malloc(len)) == NULL)
		return NULL;
	p = out;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const unsigned char *q = (const unsigned char *)names[i]; *q != '\0'; q++) {
			if (*q == '"' || *q == '\\') {
				*p++ = '\\';
				*p++ = (char)*q;
			} else if (*q < 0x20) {
				memcpy(p, "\\u00", 4);
				p[4] = hex[*q >> 4];
				p[5] = hex[*q & 0xf];
				p += 6;
			} else {
				*p++ = (char)*q;
			}
		}
		*p++ = '"';
	}
	*p++ = ']';
	*p = '\0';
	return out;
}

/* Whether a to-be-created authorization is pending with pending challenges, or valid with
 * exactly one valid challenge and the others pending. */
static bool
new_authz_ok(const struct sa_authz *a)
{
	size_t valid = 0;

	if (a->status != SA_AUTHZ_PENDING && a->status != SA_AUTHZ_VALID)
		return false;
	for (size_t i = 0; i < a->n_challs; i++) {
		if (a->challs[i].status == SA_CHALL_VALID)
			valid++;
		else if (a->challs[i].status != SA_CHALL_PENDING)
			return false;
	}
	return valid == (a->status == SA_AUTHZ_VALID ? 1u : 0u);
}

/* Insert a new authorization and its challenges, filling in their ids. */
static int
insert_authz(struct conn *c, int64_t account_id, struct sa_authz *a)
{
	sqlite3_stmt *s;
	int rc;

	if (!new_authz_ok(a))
		return DEED_EINVAL;
	s = stmt(c, S_AUTHZ_INSERT);
	sqlite3_bind_int64(s, 1, account_id);
	bind_text(s, 2, a->identifier);
	sqlite3_bind_int(s, 3, a->wildcard);
	bind_text(s, 4, authz_name(a->status));
	sqlite3_bind_int64(s, 5, a->expires);
	sqlite3_bind_int64(s, 6, a->created_at);
	if ((rc = run(s, NULL)) != DEED_OK)
		return rc;
	a->id = sqlite3_last_insert_rowid(c->db);
	a->account_id = account_id;
	for (size_t i = 0; i < a->n_challs; i++) {
		struct sa_chall *ch = &a->challs[i];

		s = stmt(c, S_CHALL_INSERT);
		sqlite3_bind_int64(s, 1, a->id);
		bind_text(s, 2, ch->type);
		bind_text(s, 3, ch->token);
		bind_text(s, 4, chall_name(ch->status));
		sqlite3_bind_int64(s, 5, ch->status == SA_CHALL_VALID ? ch->validated_at : 0);
		bind_text(s, 6, ch->status == SA_CHALL_VALID ? ch->record_json : NULL);
		if ((rc = run(s, NULL)) != DEED_OK)
			return rc;
		ch->id = sqlite3_last_insert_rowid(c->db);
		ch->authz_id = a->id;
	}
	return DEED_OK;
}

/* A reused authorization must exist and be the same account's: linking another account's
 * authorization would let it skip validation. */
static int
check_reused_authz(struct conn *c, int64_t account_id, int64_t authz_id)
{
	sqlite3_stmt *s = stmt(c, S_AUTHZ_OWNED);
	int64_t one;
	int rc;

	sqlite3_bind_int64(s, 1, authz_id);
	sqlite3_bind_int64(s, 2, account_id);
	if ((rc = run(s, &one)) != DEED_OK)
		return rc;
	return one == 1 ? DEED_OK : DEED_ENOTFOUND;
}

static int
insert_order(struct conn *c, struct sa_order *o, const char *idents_json)
{
	sqlite3_stmt *s = stmt(c, S_ORDER_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, o->account_id);
	bind_text(s, 2, order_name(o->status));
	sqlite3_bind_int64(s, 3, o->expires);
	sqlite3_bind_int64(s, 4, o->created_at);
	sqlite3_bind_int64(s, 5, o->not_before);
	sqlite3_bind_int64(s, 6, o->not_after);
	bind_text(s, 7, idents_json);
	if ((rc = run(s, NULL)) != DEED_OK)
		return rc;
	o->id = sqlite3_last_insert_rowid(c->db);
	for (size_t i = 0; i < o->n_identifiers; i++) {
		s = stmt(c, S_ORDER_AUTHZ_INSERT);
		sqlite3_bind_int64(s, 1, o->id);
		sqlite3_bind_int64(s, 2, (int64_t)i);
		sqlite3_bind_int64(s, 3, o->authz_ids[i]);
		if ((rc = run(s, NULL)) != DEED_OK)
			return rc;
	}
	return DEED_OK;
}

static int
order_create(struct sa *sa, struct sa_order *o, struct sa_authz *authz, struct sa_validation *audit,
	     size_t n_audit)
{
	struct conn *c = NULL;
	char *idents = NULL;
	bool *created = NULL;
	size_t n = o->n_identifiers;
	int rc = DEED_ENOMEM;

	free(o->authz_ids);
	o->authz_ids = NULL;
	o->n_authz = 0;
	o->id = 0;
	if ((idents = names_to_json(o->identifiers, n)) == NULL ||
	    (o->authz_ids = calloc(n + 1, sizeof(*o->authz_ids))) == NULL ||
	    (created = calloc(n + 1, sizeof(*created))) == NULL)
		goto out;
	c = acquire_write(sa);
	if ((rc = begin_write(c)) != DEED_OK)
		goto out;
	for (size_t i = 0; i < n; i++) {
		if (authz[i].id != 0) {
			rc = check_reused_authz(c, o->account_id, authz[i].id);
		} else {
			rc = insert_authz(c, o->account_id, &authz[i]);
			created[i] = true;
		}
		if (rc != DEED_OK)
			goto out;
		o->authz_ids[i] = authz[i].id;
	}
	if ((rc = insert_order(c, o, idents)) != DEED_OK)
		goto out;
	for (size_t i = 0; i < n_audit; i++)
		if ((rc = insert_validation(c, &audit[i])) != DEED_OK)
			goto out;
	o->n_authz = n;
	rc = commit(c);
out:
	if (c != NULL)
		release(sa, c);
	if (rc != DEED_OK) {
		/* The transaction rolled back: ids handed out inside it name nothing, and a
		 * caller retrying must not take them for authorizations to reuse. */
		for (size_t i = 0; created != NULL && i < n; i++) {
			if (!created[i])
				continue;
			authz[i].id = 0;
			for (size_t j = 0; j < authz[i].n_challs; j++)
				authz[i].challs[j].id = authz[i].challs[j].authz_id = 0;
		}
		free(o->authz_ids);
		o->authz_ids = NULL;
		o->n_authz = 0;
		o->id = 0;
	}
	free(created);
	free(idents);
	return rc;
}

/* The order's row; *n gets its number of identifiers. */
static int
read_order_row(sqlite3_stmt *s, struct sa_order *o, size_t *n)
{
	int st, rc, count;

	o->id = sqlite3_column_int64(s, 0);
	o->account_id = sqlite3_column_int64(s, 1);
	if ((rc = col_status(s, 2, order_name, SA_ORDER_INVALID + 1, &st)) != DEED_OK)
		return rc;
	o->status = (enum sa_order_status)st;
	o->expires = sqlite3_column_int64(s, 3);
	o->created_at = sqlite3_column_int64(s, 4);
	o->not_before = sqlite3_column_int64(s, 5);
	o->not_after = sqlite3_column_int64(s, 6);
	count = sqlite3_column_int(s, 7);
	o->cert_id = sqlite3_column_int64(s, 9);
	if ((rc = col_dup(s, 8, &o->error_json)) != DEED_OK)
		return rc;
	if (count < 0)
		return DEED_EDB;
	*n = (size_t)count;
	/* +1: calloc(0) may return NULL, which would read as out of memory. */
	if ((o->identifiers = calloc(*n + 1, sizeof(*o->identifiers))) == NULL ||
	    (o->authz_ids = calloc(*n + 1, sizeof(*o->authz_ids))) == NULL)
		return DEED_ENOMEM;
	return DEED_OK;
}

/* Identifiers and authorization ids, both in position order; each list must have exactly
 * one entry per identifier or the order is corrupt. */
static int
read_order_lists(struct conn *c, struct sa_order *o, size_t want)
{
	sqlite3_stmt *s = stmt(c, S_ORDER_IDENTS);
	int step, rc = DEED_OK;

	sqlite3_bind_int64(s, 1, o->id);
	while (rc == DEED_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
		if (o->n_identifiers == want)
			rc = DEED_EDB;
		else if ((rc = col_dup(s, 0, &o->identifiers[o->n_identifiers])) == DEED_OK &&
			 o->identifiers[o->n_identifiers] != NULL)
			o->n_identifiers++;
		else if (rc == DEED_OK)
			rc = DEED_EDB;
	}
	sqlite3_reset(s);
	if (rc != DEED_OK || (rc = map_rc(step)) != DEED_OK)
		return rc;
	s = stmt(c, S_ORDER_AUTHZ_IDS);
	sqlite3_bind_int64(s, 1, o->id);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && o->n_authz < want)
		o->authz_ids[o->n_authz++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	if ((rc = map_rc(step)) != DEED_OK)
		return rc;
	return o->n_identifiers == want && o->n_authz == want ? DEED_OK : DEED_EDB;
}

static int
order_get(struct sa *sa, int64_t id, struct sa_order *o)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	size_t n = 0;
	int rc, step;

	memset(o, 0, sizeof(*o));
	if ((rc = begin_read(c)) != DEED_OK)
		goto out;
	s = stmt(c, S_ORDER_GET);
	sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		rc = read_order_row(s, o, &n);
	else
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(step);
	sqlite3_reset(s);
	if (rc != DEED_OK || (rc = read_order_lists(c, o, n)) != DEED_OK)
		goto out;
	rc = commit(c);
out:
	release(sa, c);
	if (rc != DEED_OK)
		sa_order_cleanup(o);
	return rc;
}

static int
order_list(struct sa *sa, int64_t account_id, int64_t before, int64_t *ids, size_t max,
	   size_t *n)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_ORDER_LIST);
	int step;

	*n = 0;
	sqlite3_bind_int64(s, 1, account_id);
	/* "id < before" with before = INT64_MAX for the first page keeps one index range
	 * scan for every page. */
	sqlite3_bind_int64(s, 2, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int64(s, 3, max > INT64_MAX ? INT64_MAX : (int64_t)max);
	while ((step = sqlite3_step(s)) == SQLITE_ROW && *n < max)
		ids[(*n)++] = sqlite3_column_int64(s, 0);
	sqlite3_reset(s);
	release(sa, c);
	return map_rc(step);
}

static int
order_cas_status(struct sa *sa, int64_t id, enum sa_order_status from, enum sa_order_status to,
		 const char *error_json)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, S_ORDER_CAS);
	int rc;

	bind_text(s, 1, order_name(to));
	bind_text(s, 2, error_json);
	sqlite3_bind_int64(s, 3, id);
	bind_text(s, 4, order_name(from));
	rc = run_cas(c, s, S_ORDER_EXISTS, id);
	release(sa, c);
	return rc;
}

/* --- authorizations -------------------------------------------------------------------- */

static int
read_chall(sqlite3_stmt *s, void *out)
{
	struct sa_chall *ch = out;
	int st, rc;

	memset(ch, 0, sizeof(*ch));
	ch->id = sqlite3_column_int64(s, 0);
	ch->authz_id = sqlite3_column_int64(s, 1);
	if ((rc = col_copy(s, 2, ch->type, sizeof(ch->type))) != DEED_OK ||
	    (rc = col_copy(s, 3, ch->token, sizeof(ch->token))) != DEED_OK ||
	    (rc = col_status(s, 4, chall_name, SA_CHALL_INVALID + 1, &st)) != DEED_OK)
		return rc;
	ch->status = (enum sa_chall_status)st;
	ch->validated_at = sqlite3_column_int64(s, 5);
	if ((rc = col_dup(s, 6, &ch->error_json)) != DEED_OK ||
	    (rc = col_dup(s, 7, &ch->record_json)) != DEED_OK)
		return rc;
	return DEED_OK;
}

static int
read_authz_row(sqlite3_stmt *s, struct sa_authz *a)
{
	int st, rc;

	a->id = sqlite3_column_int64(s, 0);
	a->account_id = sqlite3_column_int64(s, 1);
	if ((rc = col_copy(s, 2, a->identifier, sizeof(a->identifier))) != DEED_OK ||
	    (rc = col_status(s, 4, authz_name, SA_AUTHZ_REVOKED + 1, &st)) != DEED_OK)
		return rc;
	a->wildcard = sqlite3_column_int(s, 3) != 0;
	a->status = (enum sa_authz_status)st;
	a->expires = sqlite3_column_int64(s, 5);
	a->created_at = sqlite3_column_int64(s, 6);
	return DEED_OK;
}

static int
read_challs(struct conn *c, struct sa_authz *a)
{
	sqlite3_stmt *s = stmt(c, S_CHALL_OF_AUTHZ);
	size_t cap = 0;
	int step, rc = DEED_OK;

	sqlite3_bind_int64(s, 1, a->id);
	while (rc == DEED_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
		if (a->n_challs == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 4;
			struct sa_chall *nc = realloc(a->challs, ncap * sizeof(*nc));

			if (nc == NULL) {
				rc = DEED_ENOMEM;
				break;
			}
			a->challs = nc;
			cap = ncap;
		}
		/* Counted before reading, so cleanup frees what a failed read left behind. */
		rc = read_chall(s, &a->challs[a->n_challs++]);
	}
	sqlite3_reset(s);
	return rc != DEED_OK ? rc : map_rc(step);
}

static int
authz_get(struct sa *sa, int64_t id, struct sa_authz *a)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s;
	int rc, step;

	memset(a, 0, sizeof(*a));
	if ((rc = begin_read(c)) != DEED_OK)
		goto out;
	s = stmt(c, S_AUTHZ_GET);
	sqlite3_bind_int64(s, 1, id);
	step = sqlite3_step(s);
	if (step == SQLITE_ROW)
		rc = read_authz_row(s, a);
	else
		rc = step == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(step);
	sqlite3_reset(s);
	if (rc != DEED_OK || (rc = read_challs(c, a)) != DEED_OK)
		goto out;
	rc = commit(c);
out:
	release(sa, c);
	if (rc != DEED_OK)
		sa_authz_cleanup(a);
	return rc;
}

static int
authz_find_reusable(struct sa *sa, int64_t account_id, const char *identifier, bool wildcard,
		    int64_t valid_at, int64_t *authz_id)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_REUSE);
	int rc;

	sqlite3_bind_int64(s, 1, account_id);
	bind_text(s, 2, identifier);
	sqlite3_bind_int(s, 3, wildcard);
	sqlite3_bind_int64(s, 4, valid_at);
	rc = run(s, authz_id);
	if (rc == DEED_OK && *authz_id == 0)
		rc = DEED_ENOTFOUND;
	release(sa, c);
	return rc;
}

static int
authz_cas_status(struct sa *sa, int64_t id, enum sa_authz_status from, enum sa_authz_status to)
{
	return cas_status(sa, S_AUTHZ_CAS, S_AUTHZ_EXISTS, id, authz_name(from), authz_name(to));
}

static int
authz_deactivate_all(struct sa *sa, int64_t account_id)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, S_AUTHZ_DEACT_ALL);
	int rc;

	sqlite3_bind_int64(s, 1, account_id);
	rc = run(s, NULL);
	release(sa, c);
	return rc;
}

/* --- challenges ------------------------------------------------------------------------ */

static int
chall_begin(struct sa *sa, int64_t chall_id, int64_t now)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, S_CHALL_BEGIN);
	int rc;

	sqlite3_bind_int64(s, 1, chall_id);
	sqlite3_bind_int64(s, 2, now);
	rc = run_cas(c, s, S_CHALL_EXISTS, chall_id);
	release(sa, c);
	return rc;
}

static int
chall_finish(struct sa *sa, int64_t chall_id, bool ok, int64_t validated_at, int64_t new_expires,
	     const char *error_json, const char *record_json, struct sa_validation *audit)
{
	struct conn *c = acquire_write(sa);
	const char *to = ok ? "valid" : "invalid";
	sqlite3_stmt *s;
	int64_t authz_id;
	int rc;

	if ((rc = begin_write(c)) != DEED_OK)
		goto out;
	s = stmt(c, S_CHALL_FINISH);
	bind_text(s, 1, to);
	sqlite3_bind_int64(s, 2, ok ? validated_at : 0);
	bind_text(s, 3, ok ? NULL : error_json);
	bind_text(s, 4, record_json);
	sqlite3_bind_int64(s, 5, chall_id);
	if ((rc = run(s, &authz_id)) != DEED_OK)
		goto out;
	if (authz_id == 0) {
		rc = missing_or_conflict(c, S_CHALL_EXISTS, chall_id);
		goto out;
	}
	/* CAS pending -> valid|invalid. An authorization deactivated while its challenge was
	 * validated stays deactivated and the challenge alone records the outcome: failing here
	 * would leave the challenge processing, to be validated again at every start. */
	s = stmt(c, S_AUTHZ_FINISH);
	bind_text(s, 1, to);
	sqlite3_bind_int64(s, 2, new_expires);
	sqlite3_bind_int64(s, 3, authz_id);
	if ((rc = run(s, NULL)) != DEED_OK)
		goto out;
	/* The audit record rides in the same transaction: one commit (and one share of an
	 * fdatasync) per validation instead of two. */
	if (audit != NULL && (rc = insert_validation(c, audit)) != DEED_OK)
		goto out;
	rc = commit(c);
out:
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
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_row(sa, S_CHALL_GET, chall_id, NULL, read_chall, out)) != DEED_OK)
		sa_chall_cleanup(out);
	return rc;
}

/* --- certificates ---------------------------------------------------------------------- */

/* Serials are stored as given and looked up by string, so one spelling only. */
static bool
serial_ok(const char *serial)
{
	size_t n = strnlen(serial, 41);

	if (n == 0 || n > 40)
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = serial[i];

		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
			return false;
	}
	return true;
}

static int
cert_reserve(struct sa *sa, struct sa_cert *cert)
{
	struct conn *c;
	sqlite3_stmt *s;
	int64_t order_account;
	int rc;

	if (!serial_ok(cert->serial) || cert->tbs_der == NULL || cert->tbs_len == 0 ||
	    cert->tbs_len > INT_MAX)
		return DEED_EINVAL;
	c = acquire_write(sa);
	if ((rc = begin_write(c)) != DEED_OK)
		goto out;
	s = stmt(c, S_CERT_ORDER_RESERVE);
	sqlite3_bind_int64(s, 1, cert->order_id);
	if ((rc = run(s, &order_account)) != DEED_OK)
		goto out;
	if (order_account == 0) {
		rc = missing_or_conflict(c, S_ORDER_EXISTS, cert->order_id);
		goto out;
	}
	if (order_account != cert->account_id) {
		rc = DEED_EINVAL;
		goto out;
	}
	s = stmt(c, S_CERT_INSERT);
	bind_text(s, 1, cert->serial);
	sqlite3_bind_int64(s, 2, cert->order_id);
	sqlite3_bind_int64(s, 3, cert->account_id);
	sqlite3_bind_blob(s, 4, cert->tbs_der, (int)cert->tbs_len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 5, cert->not_before);
	sqlite3_bind_int64(s, 6, cert->not_after);
	if ((rc = run(s, NULL)) != DEED_OK)
		goto out;
	cert->id = sqlite3_last_insert_rowid(c->db);
	cert->status = SA_CERT_RESERVED;
	/* Not flushed on its own: nobody is told of a reservation. The certificate signed
	 * after it leaves this process only once cert_issue's commit, which comes later in the
	 * same write-ahead log, is on disk; and a power loss before that loses the signature
	 * (held in memory) together with its reservation. */
	c->defer_sync = true;
	rc = commit(c);
out:
	release(sa, c);
	if (rc != DEED_OK)
		cert->id = 0;
	return rc;
}

/* Move a reserved certificate to issued (der != NULL) or abandoned, and its order from
 * processing to valid or invalid with it, in one transaction. */
static int
cert_settle(struct sa *sa, int64_t cert_id, const uint8_t *der, size_t len,
	    const char *error_json)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s;
	int64_t order_id;
	int rc;

	if ((rc = begin_write(c)) != DEED_OK)
		goto out;
	s = stmt(c, S_CERT_SETTLE);
	bind_text(s, 1, cert_name(der != NULL ? SA_CERT_ISSUED : SA_CERT_ABANDONED));
	if (der != NULL)
		sqlite3_bind_blob(s, 2, der, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, cert_id);
	if ((rc = run(s, &order_id)) != DEED_OK)
		goto out;
	if (order_id == 0) {
		rc = missing_or_conflict(c, S_CERT_EXISTS, cert_id);
		goto out;
	}
	s = stmt(c, S_CERT_ORDER_SETTLE);
	bind_text(s, 1, order_name(der != NULL ? SA_ORDER_VALID : SA_ORDER_INVALID));
	sqlite3_bind_int64(s, 2, der != NULL ? cert_id : 0);
	bind_text(s, 3, der != NULL ? NULL : error_json);
	sqlite3_bind_int64(s, 4, order_id);
	/* The order exists (foreign key), so no change means it left processing. */
	if ((rc = run(s, NULL)) != DEED_OK)
		goto out;
	if (sqlite3_changes(c->db) != 1) {
		rc = DEED_ECONFLICT;
		goto out;
	}
	rc = commit(c);
out:
	release(sa, c);
	return rc;
}

static int
cert_issue(struct sa *sa, int64_t cert_id, const uint8_t *der, size_t len)
{
	if (der == NULL || len == 0 || len > INT_MAX)
		return DEED_EINVAL;
	return cert_settle(sa, cert_id, der, len, NULL);
}

static int
cert_abandon(struct sa *sa, int64_t cert_id, const char *error_json)
{
	return cert_settle(sa, cert_id, NULL, 0, error_json);
}

static int
read_cert(sqlite3_stmt *s, void *out)
{
	struct sa_cert *cert = out;
	int st, rc;

	cert->id = sqlite3_column_int64(s, 0);
	if ((rc = col_copy(s, 1, cert->serial, sizeof(cert->serial))) != DEED_OK ||
	    (rc = col_status(s, 4, cert_name, SA_CERT_ABANDONED + 1, &st)) != DEED_OK)
		return rc;
	cert->order_id = sqlite3_column_int64(s, 2);
	cert->account_id = sqlite3_column_int64(s, 3);
	cert->status = (enum sa_cert_status)st;
	if ((rc = col_blob(s, 5, &cert->tbs_der, &cert->tbs_len)) != DEED_OK ||
	    (rc = col_blob(s, 6, &cert->der, &cert->der_len)) != DEED_OK)
		return rc;
	cert->not_before = sqlite3_column_int64(s, 7);
	cert->not_after = sqlite3_column_int64(s, 8);
	cert->revoked_reason = sqlite3_column_int(s, 9);
	cert->revoked_at = sqlite3_column_int64(s, 10);
	return DEED_OK;
}

static int
cert_query(struct sa *sa, enum stmt which, int64_t id, const char *serial, struct sa_cert *out)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = get_row(sa, which, id, serial, read_cert, out)) != DEED_OK)
		sa_cert_cleanup(out);
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
	if (serial == NULL) {
		memset(out, 0, sizeof(*out));
		return DEED_ENOTFOUND;
	}
	return cert_query(sa, S_CERT_BY_SERIAL, 0, serial, out);
}

static int
cert_revoke(struct sa *sa, int64_t id, int reason, int64_t at)
{
	struct conn *c;
	sqlite3_stmt *s;
	int rc;

	/* A negative reason is how "not revoked" is stored. */
	if (reason < 0)
		return DEED_EINVAL;
	c = acquire_write(sa);
	s = stmt(c, S_CERT_REVOKE);
	sqlite3_bind_int(s, 1, reason);
	sqlite3_bind_int64(s, 2, at);
	sqlite3_bind_int64(s, 3, id);
	rc = run_cas(c, s, S_CERT_EXISTS, id);
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

	if (s == NULL)
		return;
	/* The last connection closed checkpoints the WAL into the database file. */
	for (int i = 0; i < s->n_conns; i++) {
		for (int j = 0; j < N_STMT; j++)
			sqlite3_finalize(s->conns[i].st[j]);
		sqlite3_close(s->conns[i].db);
	}
	pthread_cond_destroy(&s->returned);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->wlock);
	pthread_mutex_destroy(&s->sync_lock);
	pthread_cond_destroy(&s->synced_cond);
	free(s);
}

static int
validation_add(struct sa *sa, struct sa_validation *v)
{
	struct conn *c = acquire_write(sa);
	int rc = insert_validation(c, v);

	release(sa, c);
	return rc;
}

/* One audit record through c (in the caller's transaction, if any); fills v->id. */
static int
insert_validation(struct conn *c, struct sa_validation *v)
{
	sqlite3_stmt *s = stmt(c, S_VAL_INSERT);
	int rc;

	sqlite3_bind_int64(s, 1, v->at);
	sqlite3_bind_int64(s, 2, v->account_id);
	bind_text(s, 3, v->identifier);
	sqlite3_bind_int(s, 4, v->wildcard);
	bind_text(s, 5, v->method);
	sqlite3_bind_int(s, 6, v->jit);
	sqlite3_bind_int(s, 7, v->ok);
	bind_text(s, 8, v->problem_json);
	bind_text(s, 9, v->records_json);
	if ((rc = run(s, NULL)) == DEED_OK)
		v->id = sqlite3_last_insert_rowid(c->db);
	return rc;
}

static int
validation_list(struct sa *sa, const char *identifier,
		int (*fn)(void *arg, const struct sa_validation *v), void *arg)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, identifier != NULL ? S_VAL_LIST : S_VAL_LIST_ALL);
	int step, rc = DEED_OK;

	if (identifier != NULL)
		bind_text(s, 1, identifier);
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		struct sa_validation v = {0};

		v.id = sqlite3_column_int64(s, 0);
		v.at = sqlite3_column_int64(s, 1);
		v.account_id = sqlite3_column_int64(s, 2);
		v.wildcard = sqlite3_column_int(s, 4) != 0;
		v.jit = sqlite3_column_int(s, 6) != 0;
		v.ok = sqlite3_column_int(s, 7) != 0;
		if ((rc = col_copy(s, 3, v.identifier, sizeof(v.identifier))) != DEED_OK ||
		    (rc = col_copy(s, 5, v.method, sizeof(v.method))) != DEED_OK ||
		    (rc = col_dup(s, 8, &v.problem_json)) != DEED_OK ||
		    (rc = col_dup(s, 9, &v.records_json)) != DEED_OK) {
			sa_validation_cleanup(&v);
			break;
		}
		if (fn(arg, &v) != 0) {
			sa_validation_cleanup(&v);
			step = SQLITE_DONE; /* the caller stopped: not an error */
			break;
		}
		sa_validation_cleanup(&v);
	}
	sqlite3_reset(s);
	release(sa, c);
	if (rc != DEED_OK)
		return rc;
	return map_rc(step);
}

static int
validation_any_ok(struct sa *sa, int64_t account_id, const char *method)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_VAL_ANY_OK);
	int step;

	sqlite3_bind_int64(s, 1, account_id);
	bind_text(s, 2, method);
	step = sqlite3_step(s);
	sqlite3_reset(s);
	release(sa, c);
	if (step == SQLITE_ROW)
		return DEED_OK;
	return step == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(step);
}

static int
blocked_key_add(struct sa *sa, const char *spki_sha256, int64_t at, const char *source)
{
	struct conn *c = acquire_write(sa);
	sqlite3_stmt *s = stmt(c, S_BLOCK_ADD);
	int rc;

	bind_text(s, 1, spki_sha256);
	sqlite3_bind_int64(s, 2, at);
	bind_text(s, 3, source);
	rc = run(s, NULL);
	release(sa, c);
	return rc;
}

static int
blocked_key_has(struct sa *sa, const char *spki_sha256)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_BLOCK_HAS);
	int step;

	bind_text(s, 1, spki_sha256);
	step = sqlite3_step(s);
	sqlite3_reset(s);
	release(sa, c);
	if (step == SQLITE_ROW)
		return DEED_OK;
	return step == SQLITE_DONE ? DEED_ENOTFOUND : map_rc(step);
}

static int
blocked_key_list(struct sa *sa, int (*fn)(void *arg, const char *spki_sha256, int64_t at,
					  const char *source),
		 void *arg)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *s = stmt(c, S_BLOCK_LIST);
	int step, rc = DEED_OK;

	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *h = (const char *)sqlite3_column_text(s, 0);
		const char *src = (const char *)sqlite3_column_text(s, 2);

		if (fn(arg, h != NULL ? h : "", sqlite3_column_int64(s, 1), src != NULL ? src : "") !=
		    0)
			break;
	}
	if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = map_rc(step);
	sqlite3_reset(s);
	release(sa, c);
	return rc;
}

static int query_int(sqlite3 *db, const char *text, int64_t *out);

/* Each invariant: a query counting the rows that break it, and what it means. */
static const struct {
	const char *what;
	const char *sql;
} invariants[] = {
    {"certificate serials used more than once",
     "SELECT count(*) FROM (SELECT serial FROM certificates GROUP BY serial HAVING count(*) > 1)"},
    {"orders with more than one certificate",
     "SELECT count(*) FROM (SELECT order_id FROM certificates WHERE status = 'issued' "
     "GROUP BY order_id HAVING count(*) > 1)"},
    {"valid orders without their one issued certificate",
     "SELECT count(*) FROM orders o WHERE o.status = 'valid' AND NOT EXISTS (SELECT 1 FROM "
     "certificates c WHERE c.id = o.cert_id AND c.order_id = o.id AND c.status = 'issued' "
     "AND c.der IS NOT NULL)"},
    {"issued certificates whose order is not valid with them",
     "SELECT count(*) FROM certificates c LEFT JOIN orders o ON o.id = c.order_id WHERE "
     "c.status = 'issued' AND (o.id IS NULL OR o.status != 'valid' OR o.cert_id != c.id)"},
    {"orders left processing", "SELECT count(*) FROM orders WHERE status = 'processing'"},
    {"certificates left reserved (signed or not)",
     "SELECT count(*) FROM certificates WHERE status = 'reserved'"},
    {"valid authorizations without a valid challenge",
     "SELECT count(*) FROM authz a WHERE a.status = 'valid' AND NOT EXISTS (SELECT 1 FROM "
     "challenges c WHERE c.authz_id = a.id AND c.status = 'valid')"},
    {"authorizations with more than one valid challenge",
     "SELECT count(*) FROM (SELECT authz_id FROM challenges WHERE status = 'valid' GROUP BY "
     "authz_id HAVING count(*) > 1)"},
    {"orders whose authorizations are missing",
     "SELECT count(*) FROM orders o WHERE (SELECT count(*) FROM order_authz x JOIN authz a ON "
     "a.id = x.authz_id WHERE x.order_id = o.id) != json_array_length(o.identifiers)"},
    {"rows naming rows that do not exist (foreign keys)",
     "SELECT count(*) FROM pragma_foreign_key_check"},
};

/* See sa.h. Reads one snapshot through one connection. */
static int
check(struct sa *sa, int (*fn)(void *arg, const char *what, int64_t bad), void *arg)
{
	struct conn *c = acquire(sa);
	sqlite3_stmt *st = NULL;
	int64_t n;
	int rc, broken = 0;
	const char *ok;

	/* integrity_check first: it reads every page, and says "ok" or lists what is wrong. */
	rc = sqlite3_prepare_v2(c->db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
		     sqlite3_step(st) == SQLITE_ROW
		 ? DEED_OK
		 : DEED_EDB;
	ok = rc == DEED_OK ? (const char *)sqlite3_column_text(st, 0) : NULL;
	n = ok != NULL && strcmp(ok, "ok") == 0 ? 0 : 1;
	sqlite3_finalize(st);
	if (rc != DEED_OK)
		goto out;
	broken += n != 0;
	if (fn(arg, "database pages failing PRAGMA integrity_check", n) != 0)
		goto out;
	if ((rc = begin_read(c)) != DEED_OK)
		goto out;
	for (size_t i = 0; i < sizeof(invariants) / sizeof(invariants[0]); i++) {
		if ((rc = query_int(c->db, invariants[i].sql, &n)) != DEED_OK)
			break;
		broken += n != 0;
		if (fn(arg, invariants[i].what, n) != 0)
			break;
	}
out:
	release(sa, c);
	if (rc == DEED_OK && broken > 0)
		rc = DEED_ECONFLICT;
	return rc;
}

static const struct sa_ops sqlite_ops = {
	.close = sqlite_close,
	.check = check,
	.blocked_key_add = blocked_key_add,
	.blocked_key_has = blocked_key_has,
	.blocked_key_list = blocked_key_list,
	.validation_add = validation_add,
	.validation_list = validation_list,
	.validation_any_ok = validation_any_ok,
	.account_create = account_create,
	.account_get = account_get,
	.account_get_by_thumbprint = account_get_by_thumbprint,
	.account_update_contact = account_update_contact,
	.account_cas_status = account_cas_status,
	.account_change_key = account_change_key,
	.account_old_thumbprints = account_old_thumbprints,
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
exec_sql(sqlite3 *db, const char *text, const char *path, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
		deed_seterr(err, errlen, "%s: %s", path, msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return DEED_EDB;
	}
	return DEED_OK;
}

/* The integer a one-row, one-column query returns (a PRAGMA or a count). */
static int
query_int(sqlite3 *db, const char *text, int64_t *out)
{
	sqlite3_stmt *s = NULL;
	int rc = DEED_EDB;

	if (sqlite3_prepare_v2(db, text, -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = DEED_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* Refuse files that are not ours or are newer than we are; bring ours up to date. */
static int
check_version(sqlite3 *db, const char *path, int64_t *version, char *err, size_t errlen)
{
	int64_t app_id, tables;

	if (query_int(db, "PRAGMA application_id", &app_id) != DEED_OK ||
	    query_int(db, "PRAGMA user_version", version) != DEED_OK ||
	    query_int(db, "SELECT count(*) FROM sqlite_schema", &tables) != DEED_OK) {
		deed_seterr(err, errlen, "%s: cannot read the schema version: %s", path,
			    sqlite3_errmsg(db));
		return DEED_EDB;
	}
	if (app_id != APPLICATION_ID && (app_id != 0 || tables != 0)) {
		deed_seterr(err, errlen, "%s: not a deed-ca database", path);
		return DEED_EDB;
	}
	if (*version > SCHEMA_VERSION) {
		deed_seterr(err, errlen,
			    "%s: schema version %lld is newer than this deed-ca knows (%d); "
			    "run a newer deed-ca",
			    path, (long long)*version, SCHEMA_VERSION);
		return DEED_EDB;
	}
	if (*version < 0) {
		deed_seterr(err, errlen, "%s: invalid schema version %lld", path,
			    (long long)*version);
		return DEED_EDB;
	}
	return DEED_OK;
}

static int
migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	char bump[96];
	int64_t version;
	int rc;

	/* IMMEDIATE: two processes opening a fresh database at once must not both create it. */
	if ((rc = exec_sql(db, "BEGIN IMMEDIATE", path, err, errlen)) != DEED_OK)
		return rc;
	if ((rc = check_version(db, path, &version, err, errlen)) != DEED_OK)
		goto out;
	for (int64_t v = version; v < SCHEMA_VERSION; v++) {
		snprintf(bump, sizeof(bump),
			 "PRAGMA user_version = %lld; PRAGMA application_id = %d;",
			 (long long)v + 1, APPLICATION_ID);
		if ((rc = exec_sql(db, migrations[v], path, err, errlen)) != DEED_OK ||
		    (rc = exec_sql(db, bump, path, err, errlen)) != DEED_OK)
			goto out;
	}
	rc = exec_sql(db, "COMMIT", path, err, errlen);
out:
	if (rc != DEED_OK && !sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int
open_conn(const char *path, struct conn *c, char *err, size_t errlen)
{
	/* NORMAL: a commit does not wait for the disk; release() does, through group_sync,
	 * before anything is acknowledged (see the top of this file). No mmap_size: a read
	 * transaction that finds the WAL changed since its last one unmaps the whole file, so
	 * with writes always under way every read paid for munmap, TLB shootdowns and page
	 * faults, far more than the pread calls it saved. */
	static const char pragmas[] = "PRAGMA synchronous = NORMAL;" /* durability: group_sync */
				      "PRAGMA foreign_keys = ON;"
				      "PRAGMA trusted_schema = OFF;";
	char mode[8] = "";
	sqlite3_stmt *s = NULL;

	if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		deed_seterr(err, errlen, "%s: %s", path,
			    c->db != NULL ? sqlite3_errmsg(c->db) : "cannot open");
		return DEED_EDB;
	}
	sqlite3_extended_result_codes(c->db, 1);
	sqlite3_busy_timeout(c->db, BUSY_TIMEOUT_MS);
	/* Refuse SQL that could corrupt the file (writable_schema and the like), whoever
	 * injects it. */
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
	/* journal_mode answers with the mode in force: a file system without shared memory
	 * would silently keep the rollback journal and serialise readers behind writers. */
	if (sqlite3_prepare_v2(c->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
	    sqlite3_step(s) == SQLITE_ROW)
		snprintf(mode, sizeof(mode), "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	if (strcmp(mode, "wal") != 0) {
		deed_seterr(err, errlen, "%s: cannot use WAL journal mode: %s", path,
			    mode[0] != '\0' ? mode : sqlite3_errmsg(c->db));
		return DEED_EDB;
	}
	return exec_sql(c->db, pragmas, path, err, errlen);
}

/* Prepared once per connection and kept for its life: PERSISTENT tells SQLite so. */
static int
prepare_all(struct conn *c, const char *path, char *err, size_t errlen)
{
	for (int i = 0; i < N_STMT; i++) {
		if (sqlite3_prepare_v3(c->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &c->st[i],
				       NULL) != SQLITE_OK) {
			deed_seterr(err, errlen, "%s: %s", path, sqlite3_errmsg(c->db));
			return DEED_EDB;
		}
	}
	return DEED_OK;
}

/* Create the file ourselves, owner-only: it holds account keys and contacts, and SQLite
 * gives its -wal and -shm files the database file's mode. Avoids umask(), which is process
 * wide and would race other threads creating files. */
static int
create_file(const char *path, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd == -1) {
		deed_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return DEED_EDB;
	}
	close(fd);
	return DEED_OK;
}

int
sa_sqlite_open(const char *path, struct sa **out, char *err, size_t errlen)
{
	struct sa_sqlite *s = NULL;
	int rc = DEED_EINVAL;

	*out = NULL;
	/* Each pooled connection to ":memory:" would be a separate empty database. */
	if (path == NULL || *path == '\0' || strcmp(path, ":memory:") == 0) {
		deed_seterr(err, errlen, "SQLite database: a file path is required");
		goto out;
	}
	rc = DEED_EDB;
	/* Memory statistics take one process-wide mutex on every SQLite allocation, which all
	 * the pool's connections then queue on; nothing here reads them. Only possible before
	 * SQLite initialises; later it is refused, harmlessly. */
	(void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	if (!sqlite3_threadsafe()) {
		deed_seterr(err, errlen, "SQLite was built without thread support");
		goto out;
	}
	if ((rc = create_file(path, err, errlen)) != DEED_OK)
		goto out;
	rc = DEED_ENOMEM;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	s->base.ops = &sqlite_ops;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->returned, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_mutex_init(&s->sync_lock, NULL);
	pthread_cond_init(&s->synced_cond, NULL);
	for (int i = 0; i < N_CONNS; i++) {
		s->n_conns++; /* counted first: close() must close a half-opened handle */
		if ((rc = open_conn(path, &s->conns[i], err, errlen)) != DEED_OK)
			goto out;
		if (i == 0 && (rc = migrate(s->conns[0].db, path, err, errlen)) != DEED_OK)
			goto out;
		if ((rc = prepare_all(&s->conns[i], path, err, errlen)) != DEED_OK)
			goto out;
		if (i < READERS)
			s->idle[s->n_idle++] = &s->conns[i];
	}
	/* The syncer's handle of the WAL opens with its first transaction. */
	if ((rc = exec_sql(s->conns[SYNCER].db, "BEGIN; SELECT 1 FROM sqlite_schema; COMMIT;",
			   path, err, errlen)) != DEED_OK)
		goto out;
	if (sync_wal(&s->conns[SYNCER]) != SQLITE_OK) {
		deed_seterr(err, errlen, "%s: cannot flush the write-ahead log", path);
		rc = DEED_EDB;
		goto out;
	}
	*out = &s->base;
	s = NULL;
	rc = DEED_OK;
out:
	if (s != NULL)
		sqlite_close(&s->base);
	return rc;
}
