#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "jwk.h"
#include "jws.h"
#include "sa.h"
#include "signer.h"
#include "va.h"

/*
 * ra: the registration authority: the ACME state machine and its policy. The WFE hands it
 * authenticated requests (the JWS already verified, the account already loaded); the RA
 * decides, changes state through the SA, runs validations on its worker pool through the VA,
 * and has the signer issue.
 *
 * Functions that can refuse a request return DEED_OK, or an error with *prob set to the
 * RFC 8555 problem document to send (caller frees). An error with *prob left NULL is an
 * internal failure (serverInternal).
 */

struct ra;

/* Starts cfg->va_workers validation threads and recovers what a crash left behind:
 * challenges left processing are validated again, reserved certificates never signed are
 * abandoned (their orders become invalid, their serials are never reused). */
int ra_new(const struct ca_config *cfg, const char *base_url, struct sa *sa, struct va *va,
	   struct signer *signer, struct ra **out, char *err, size_t errlen);

/* Stops the workers after the validation in progress on each; queued ones stay processing in
 * the store and are picked up at the next start. */
void ra_free(struct ra *ra);

/* Whether a challenge type is offered. */
bool ra_offers(const struct ra *ra, const char *type);

/* dns-persist-01 (draft -02): the accountHashPrefix of hashed accounturi values. */
const char *ra_hash_prefix(const struct ra *ra);

/* The account's public key (a fresh handle; caller frees with jwk_free), from a cache of the
 * parsed stored keys. Returns DEED_OK, DEED_EDB (the stored key does not parse), DEED_ENOMEM. */
int ra_account_key(struct ra *ra, const struct sa_account *a, struct jwk **out);

/* The URL of an account (what clients put in "kid"). */
void ra_account_url(const struct ra *ra, int64_t id, char *buf, size_t bufsz);

/* Parse the account id out of a kid URL; DEED_ENOTFOUND when it is not one of ours. */
int ra_account_id_from_url(const struct ra *ra, const char *url, int64_t *id);

/* newAccount (RFC 8555 §7.3). *created tells 201 from 200. */
int ra_new_account(struct ra *ra, const struct jwk *key, const json_t *payload,
		   struct sa_account *out, bool *created, json_t **prob);

/* POST to the account URL: update contact, or deactivate (RFC 8555 §7.3.2, §7.3.6).
 * acct is updated in place. */
int ra_update_account(struct ra *ra, struct sa_account *acct, const json_t *payload,
		      json_t **prob);

/* keyChange (RFC 8555 §7.3.5). inner is the outer payload (the inner JWS text); outer_url
 * is the outer JWS "url". On a key already in use, *conflict_owner gets its account id. */
int ra_key_change(struct ra *ra, struct sa_account *acct, const char *outer_url,
		  const uint8_t *inner, size_t inner_len, int64_t *conflict_owner,
		  json_t **prob);

/* newOrder (RFC 8555 §7.4). *status gets the new order's status, "ready" when every
 * authorization is valid already (reused, or dns-persist-01 just in time), else "pending". */
int ra_new_order(struct ra *ra, const struct sa_account *acct, const json_t *payload,
		 struct sa_order *out, const char **status, json_t **prob);

/* The status an order shows now ("pending", "ready", "processing", "valid", "invalid"),
 * derived from its authorizations while it waits on them. */
const char *ra_order_status(struct ra *ra, const struct sa_order *o, int64_t now);

/* The status an authorization shows now ("expired" once past its expiry). */
const char *ra_authz_status(const struct sa_authz *a, int64_t now);

/* POST {} to a challenge: start its validation (RFC 8555 §7.5.1), queued for the validation
 * workers. *out gets the challenge as it stands afterwards: with a thread per connection the
 * call waits up to 5 s for the outcome (valid or invalid), else it is processing. */
int ra_respond_challenge(struct ra *ra, const struct sa_account *acct, int64_t chall_id,
			 struct sa_chall *out, json_t **prob);

/* POST {"status":"deactivated"} to an authorization (RFC 8555 §7.5.2). */
int ra_deactivate_authz(struct ra *ra, const struct sa_account *acct, int64_t authz_id,
			json_t **prob);

/* finalize (RFC 8555 §7.4): check the CSR against the order and policy, then issue. */
int ra_finalize(struct ra *ra, const struct sa_account *acct, int64_t order_id,
		const json_t *payload, struct sa_order *out, json_t **prob);

/* revokeCert (RFC 8555 §7.6): by the issuing account (acct != NULL) or by the certificate's
 * own key (key != NULL). */
int ra_revoke(struct ra *ra, const struct sa_account *acct, const struct jwk *key,
	      const json_t *payload, json_t **prob);

/* Wait until no validation is queued or running (tests). */
void ra_drain(struct ra *ra);
