#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * sa: the storage authority. A narrow typed interface; drivers (sa_sqlite.c now, PostgreSQL
 * later) implement struct sa_ops. Nothing SQL-specific crosses this header.
 *
 * Every state transition is a compare-and-set: the call names the status it expects and
 * fails with DEED_ECONFLICT when the stored status differs, so two front ends racing on the
 * same object cannot both win.
 *
 * Times are UNIX seconds (int64_t). IDs are positive int64_t assigned by the store.
 * Record structs returned by getters are owned by the caller and released with the matching
 * sa_*_cleanup(); cleanup accepts a zeroed struct.
 *
 * All functions return DEED_OK, DEED_ENOTFOUND, DEED_ECONFLICT, DEED_EDB or DEED_ENOMEM
 * unless stated otherwise, and DEED_EINVAL for an argument the store cannot hold (NULL where a
 * value is required). A reference to a row that does not exist (an account, order or
 * authorization id) is DEED_ENOTFOUND. Implementations are safe to call from many threads at
 * once.
 */

enum sa_acct_status { SA_ACCT_VALID, SA_ACCT_DEACTIVATED, SA_ACCT_REVOKED };

/* Stored order status. pending/ready/invalid for orders still waiting on authorizations are
 * derived by the RA from the authorizations; the store keeps what only finalize decides. */
enum sa_order_status { SA_ORDER_PENDING, SA_ORDER_PROCESSING, SA_ORDER_VALID, SA_ORDER_INVALID };

enum sa_authz_status {
	SA_AUTHZ_PENDING,
	SA_AUTHZ_VALID,
	SA_AUTHZ_INVALID,
	SA_AUTHZ_DEACTIVATED,
	SA_AUTHZ_REVOKED,
};

enum sa_chall_status { SA_CHALL_PENDING, SA_CHALL_PROCESSING, SA_CHALL_VALID, SA_CHALL_INVALID };

enum sa_cert_status {
	SA_CERT_RESERVED, /* serial allocated, to-be-signed stored, not yet signed */
	SA_CERT_ISSUED,
	SA_CERT_ABANDONED, /* issuance failed after the reservation; serial never reused */
};

#define SA_THUMBPRINT_MAX 44 /* an RFC 7638 SHA-256 thumbprint in base64url, and its NUL */

struct sa_account {
	int64_t id;
	enum sa_acct_status status;
	char *jwk_json;      /* public JWK, RFC 7638 members only */
	char thumbprint[SA_THUMBPRINT_MAX]; /* RFC 7638, base64url */
	char *contact_json;  /* JSON array of URLs, "[]" when none */
	bool tos_agreed;
	int64_t created_at;
};

#define SA_TYPE_MAX 24
#define SA_TOKEN_MAX 64
#define SA_NAME_MAX 254

struct sa_chall {
	int64_t id;
	int64_t authz_id;
	char type[SA_TYPE_MAX]; /* "http-01", "dns-01", ... */
	char token[SA_TOKEN_MAX];
	enum sa_chall_status status;
	int64_t validated_at;   /* 0 unless valid */
	char *error_json;       /* problem document, NULL unless invalid */
	char *record_json;      /* validationRecord array, NULL when none */
};

struct sa_authz {
	int64_t id;
	int64_t account_id;
	char identifier[SA_NAME_MAX]; /* DNS name without "*." */
	bool wildcard;
	enum sa_authz_status status;
	int64_t expires;
	int64_t created_at;
	struct sa_chall *challs;
	size_t n_challs;
};

struct sa_order {
	int64_t id;
	int64_t account_id;
	enum sa_order_status status;
	int64_t expires;
	int64_t created_at;
	int64_t not_before; /* 0 when not requested */
	int64_t not_after;
	char **identifiers; /* normalized DNS names, "*." kept, sorted */
	size_t n_identifiers;
	int64_t *authz_ids; /* one per identifier, same order as identifiers */
	size_t n_authz;
	char *error_json;   /* problem document, NULL when none */
	int64_t cert_id;    /* 0 until valid */
};

struct sa_cert {
	int64_t id;
	char serial[41];   /* lowercase hex, 20 octets at most */
	int64_t order_id;
	int64_t account_id;
	enum sa_cert_status status;
	uint8_t *tbs_der;  /* to-be-signed certificate, stored before signing */
	size_t tbs_len;
	uint8_t *der;      /* signed leaf, NULL while reserved */
	size_t der_len;
	int64_t not_before;
	int64_t not_after;
	int revoked_reason; /* -1 when not revoked */
	int64_t revoked_at;
};

/* One validation attempt, for the audit log (what was asked, what DNS or HTTP showed, the
 * outcome). Kept for ever; never changed. */
struct sa_validation {
	int64_t id;
	int64_t at;                  /* UNIX seconds */
	int64_t account_id;
	char identifier[SA_NAME_MAX]; /* without "*." */
	bool wildcard;
	char method[SA_TYPE_MAX];    /* challenge type */
	bool jit;                    /* dns-persist-01 just-in-time lookup at newOrder */
	bool ok;
	char *problem_json;          /* NULL when ok */
	char *records_json;          /* validationRecord array: names, records seen, TTL, DNSSEC */
};

struct sa;

struct sa_ops {
	void (*close)(struct sa *sa);

	/* Accounts. account_create fills a->id and fails DEED_ECONFLICT when the thumbprint is
	 * already registered. */
	int (*account_create)(struct sa *sa, struct sa_account *a);
	int (*account_get)(struct sa *sa, int64_t id, struct sa_account *out);
	int (*account_get_by_thumbprint)(struct sa *sa, const char *thumbprint,
					 struct sa_account *out);
	int (*account_update_contact)(struct sa *sa, int64_t id, const char *contact_json);
	int (*account_cas_status)(struct sa *sa, int64_t id, enum sa_acct_status from,
				  enum sa_acct_status to);
	/* Swap the key if the stored thumbprint is still old_thumbprint. DEED_ECONFLICT when the
	 * new key is registered to an account (*owner gets its id) or the old key changed (*owner
	 * = 0). */
	int (*account_change_key)(struct sa *sa, int64_t id, const char *old_thumbprint,
				  const char *new_jwk_json, const char *new_thumbprint,
				  int64_t *owner);
	/* The thumbprints of the keys the account used before its current one (kept by
	 * account_change_key), most recently retired first, at most max; *n gets how many. */
	int (*account_old_thumbprints)(struct sa *sa, int64_t id,
				       char (*out)[SA_THUMBPRINT_MAX], size_t max, size_t *n);

	/* Orders. Creates o (fills o->id and o->authz_ids) in one transaction. authz has
	 * o->n_identifiers entries, one per identifier in the same order: an entry with id != 0 is
	 * an existing authorization to reuse (only linked); an entry with id == 0 is created with
	 * its challenges, and its id and its challenges' ids are filled in. New authorizations
	 * belong to o->account_id; a reused one must already, else DEED_ENOTFOUND. A created
	 * authorization is pending with pending challenges, or valid (validated while the order
	 * was made: dns-persist-01 just in time) with exactly one valid challenge, whose
	 * validated_at and record_json are stored; anything else is DEED_EINVAL. The n_audit
	 * records of audit (validation attempts made for this order) are stored in the same
	 * transaction, their ids filled in. On failure nothing was stored and every id filled
	 * in is reset to 0. */
	int (*order_create)(struct sa *sa, struct sa_order *o, struct sa_authz *authz,
			    struct sa_validation *audit, size_t n_audit);
	int (*order_get)(struct sa *sa, int64_t id, struct sa_order *out);
	/* IDs of an account's orders, newest first, at most max, with id < before (0 = none). */
	int (*order_list)(struct sa *sa, int64_t account_id, int64_t before, int64_t *ids,
			  size_t max, size_t *n);
	/* CAS from -> to; error_json (may be NULL) is stored with the new status. */
	int (*order_cas_status)(struct sa *sa, int64_t id, enum sa_order_status from,
				enum sa_order_status to, const char *error_json);

	/* Authorizations. */
	int (*authz_get)(struct sa *sa, int64_t id, struct sa_authz *out);
	/* The newest valid authorization of account for (identifier, wildcard) still valid at
	 * valid_at, created with an allowed challenge; DEED_ENOTFOUND when none. */
	int (*authz_find_reusable)(struct sa *sa, int64_t account_id, const char *identifier,
				   bool wildcard, int64_t valid_at, int64_t *authz_id);
	int (*authz_cas_status)(struct sa *sa, int64_t id, enum sa_authz_status from,
				enum sa_authz_status to);
	/* Deactivate every pending or valid authorization of an account (account deactivation). */
	int (*authz_deactivate_all)(struct sa *sa, int64_t account_id);

	/* Challenges. chall_begin moves the challenge pending -> processing only if its
	 * authorization is pending, unexpired at now, and has no other challenge processing. */
	int (*chall_begin)(struct sa *sa, int64_t chall_id, int64_t now);
	/* Record a validation outcome: challenge processing -> valid|invalid and its authorization
	 * pending -> valid (with expires = new_expires) | invalid, and audit (when not NULL; its
	 * id is filled) into the audit log, in one transaction. An authorization no longer pending
	 * (deactivated meanwhile) keeps its status; the challenge still records the outcome, so it
	 * does not stay processing. */
	int (*chall_finish)(struct sa *sa, int64_t chall_id, bool ok, int64_t validated_at,
			    int64_t new_expires, const char *error_json, const char *record_json,
			    struct sa_validation *audit);
	/* Challenges left processing by a crash: their ids, to be validated again. */
	int (*chall_list_processing)(struct sa *sa, int64_t *ids, size_t max, size_t *n);
	int (*chall_get)(struct sa *sa, int64_t chall_id, struct sa_chall *out);

	/* Certificates. cert_reserve stores serial + to-be-signed bytes (fills c->id) and moves
	 * the order pending -> processing, in one transaction; DEED_ECONFLICT if the order was
	 * not pending or the serial exists. DEED_EINVAL unless the serial is 1-40 lowercase hex
	 * digits, tbs is non-empty and c->account_id is the order's account. */
	int (*cert_reserve)(struct sa *sa, struct sa_cert *c);
	/* Store the signed certificate, mark it issued and move the order processing -> valid. */
	int (*cert_issue)(struct sa *sa, int64_t cert_id, const uint8_t *der, size_t len);
	/* Reservation failed to sign: abandon it and move the order processing -> invalid. */
	int (*cert_abandon)(struct sa *sa, int64_t cert_id, const char *error_json);
	int (*cert_get)(struct sa *sa, int64_t id, struct sa_cert *out);
	int (*cert_get_by_serial)(struct sa *sa, const char *serial, struct sa_cert *out);
	/* CAS not-revoked -> revoked; DEED_ECONFLICT when already revoked or not issued (reserved
	 * or abandoned). reason must be >= 0. */
	int (*cert_revoke)(struct sa *sa, int64_t id, int reason, int64_t at);
	/* Certificates left reserved by a crash (ids), for recovery at start. */
	int (*cert_list_reserved)(struct sa *sa, int64_t *ids, size_t max, size_t *n);

	/* Audit log of validation attempts. validation_add fills v->id. validation_list calls
	 * fn for each attempt about identifier (NULL = all), oldest first; fn returns non-zero
	 * to stop. */
	int (*validation_add)(struct sa *sa, struct sa_validation *v);
	int (*validation_list)(struct sa *sa, const char *identifier,
			       int (*fn)(void *arg, const struct sa_validation *v), void *arg);
	/* Whether the account ever passed a validation of method: DEED_OK (yes), DEED_ENOTFOUND. */
	int (*validation_any_ok)(struct sa *sa, int64_t account_id, const char *method);

	/* Check the store's invariants (for `deed-ca admin check`, with the server stopped): the
	 * storage's own integrity, no serial used twice, every valid order with exactly one
	 * issued certificate and every issued certificate with its valid order, nothing left
	 * processing or reserved (a start recovers those), every valid authorization with exactly
	 * one valid challenge, no dangling reference. fn gets each invariant with the number of
	 * rows that break it (0 = holds); it returns non-zero to stop. Returns DEED_OK when all
	 * hold, DEED_ECONFLICT when one does not, or a storage error. */
	int (*check)(struct sa *sa, int (*fn)(void *arg, const char *what, int64_t bad),
		     void *arg);

	/* Blocked public keys, by SHA-256 of the SubjectPublicKeyInfo as 64 lowercase hex
	 * digits. Adding a key already there is DEED_OK and keeps the first entry. has:
	 * DEED_OK (blocked) or DEED_ENOTFOUND. list: oldest first; fn returns non-zero to stop. */
	int (*blocked_key_add)(struct sa *sa, const char *spki_sha256, int64_t at,
			       const char *source);
	int (*blocked_key_has)(struct sa *sa, const char *spki_sha256);
	int (*blocked_key_list)(struct sa *sa,
				int (*fn)(void *arg, const char *spki_sha256, int64_t at,
					  const char *source),
				void *arg);
};

struct sa {
	const struct sa_ops *ops;
};

/* Open the store named by url: "sqlite:PATH" or a plain path (SQLite). Creates the schema
 * or migrates it. err (may be NULL) gets a one-line reason. */
int sa_open(const char *url, struct sa **out, char *err, size_t errlen);

static inline void
sa_close(struct sa *sa)
{
	if (sa != NULL)
		sa->ops->close(sa);
}

void sa_account_cleanup(struct sa_account *a);
void sa_order_cleanup(struct sa_order *o);
void sa_authz_cleanup(struct sa_authz *a);
void sa_chall_cleanup(struct sa_chall *c);
void sa_cert_cleanup(struct sa_cert *c);
void sa_validation_cleanup(struct sa_validation *v);

const char *sa_acct_status_str(enum sa_acct_status s);
const char *sa_order_status_str(enum sa_order_status s);
const char *sa_authz_status_str(enum sa_authz_status s);
const char *sa_chall_status_str(enum sa_chall_status s);
