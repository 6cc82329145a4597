#pragma once

#include <stddef.h>

/*
 * Replay nonces (RFC 8555 §6.5) for one server process.
 *
 * A nonce is base64url(counter || MAC(counter)): 8 octets of a per-process counter and the first
 * 16 octets of HMAC-SHA256 under a random per-process key. Issuing needs no storage; redeeming
 * checks the MAC, that the counter lies in the window of the last NONCE_WINDOW nonces issued,
 * and that its bit in a ring bitmap is still clear, then sets it. So every nonce is accepted
 * at most once, forged ones never, and memory is fixed whatever the load. Nonces older than
 * the window, and all nonces after a restart, are refused (the client retries on badNonce).
 */

#define NONCE_LEN 32 /* characters: base64url of 24 octets */
#define NONCE_WINDOW (1u << 20)

struct nonce_store;

int nonce_store_new(struct nonce_store **out);
void nonce_store_free(struct nonce_store *ns);

/* Write a fresh nonce into out (NONCE_LEN + 1 bytes). Returns DEED_OK or DEED_ECRYPTO. */
int nonce_issue(struct nonce_store *ns, char out[NONCE_LEN + 1]);

/* Redeem nonce. Returns DEED_OK, or DEED_ENOTFOUND when it is forged, unknown, too old, or
 * already used. */
int nonce_redeem(struct nonce_store *ns, const char *nonce);
