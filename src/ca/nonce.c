#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "b64url.h"
#include "error.h"
#include "nonce.h"

#define MAC_LEN 16

struct nonce_store {
	pthread_mutex_t lock;
	uint8_t key[32];
	EVP_MAC_CTX *hmac; /* HMAC-SHA256 already keyed; each MAC works on a copy */
	uint64_t next;  /* counter of the next nonce to issue; starts at 1 */
	uint8_t used[NONCE_WINDOW / 8];
};

/*
 * A keyed HMAC-SHA256 context to copy for each MAC: the one-shot HMAC() looks up the MAC and
 * the digest in OpenSSL 3's provider store and sets the key again on every call, which cost
 * more than the MAC itself (two MACs per request).
 */
static EVP_MAC_CTX *
hmac_new(const uint8_t key[32])
{
	OSSL_PARAM params[] = {
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
	    OSSL_PARAM_construct_end()};
	EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = m != NULL ? EVP_MAC_CTX_new(m) : NULL;

	EVP_MAC_free(m); /* the context holds its own reference */
	if (ctx != NULL && EVP_MAC_init(ctx, key, 32, params) != 1) {
		EVP_MAC_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

int
nonce_store_new(struct nonce_store **out)
{
	struct nonce_store *ns;

	*out = NULL;
	if ((ns = calloc(1, sizeof(*ns))) == NULL)
		return DEED_ENOMEM;
	if (RAND_bytes(ns->key, sizeof(ns->key)) != 1 || (ns->hmac = hmac_new(ns->key)) == NULL) {
		OPENSSL_cleanse(ns->key, sizeof(ns->key));
		free(ns);
		return DEED_ECRYPTO;
	}
	pthread_mutex_init(&ns->lock, NULL);
	ns->next = 1;
	*out = ns;
	return DEED_OK;
}

void
nonce_store_free(struct nonce_store *ns)
{
	if (ns == NULL)
		return;
	pthread_mutex_destroy(&ns->lock);
	EVP_MAC_CTX_free(ns->hmac);
	OPENSSL_cleanse(ns->key, sizeof(ns->key));
	free(ns);
}

static int
mac(const struct nonce_store *ns, const uint8_t ctr[8], uint8_t out[MAC_LEN])
{
	uint8_t full[EVP_MAX_MD_SIZE];
	size_t len = 0;
	EVP_MAC_CTX *ctx = EVP_MAC_CTX_dup(ns->hmac); /* the shared one is never written */
	int ok = ctx != NULL && EVP_MAC_update(ctx, ctr, 8) == 1 &&
		 EVP_MAC_final(ctx, full, &len, sizeof(full)) == 1 && len >= MAC_LEN;

	EVP_MAC_CTX_free(ctx);
	if (!ok)
		return DEED_ECRYPTO;
	memcpy(out, full, MAC_LEN);
	OPENSSL_cleanse(full, sizeof(full));
	return DEED_OK;
}

int
nonce_issue(struct nonce_store *ns, char out[NONCE_LEN + 1])
{
	uint8_t raw[8 + MAC_LEN];
	uint64_t c;
	int rc;

	pthread_mutex_lock(&ns->lock);
	c = ns->next++;
	/* The slot this counter will use must be clear: it last held the nonce one window ago,
	 * which is now out of the window anyway. */
	ns->used[(c % NONCE_WINDOW) / 8] &= (uint8_t)~(1u << (c % 8));
	pthread_mutex_unlock(&ns->lock);

	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)(c >> (56 - 8 * i));
	if ((rc = mac(ns, raw, raw + 8)) != DEED_OK)
		return rc;
	return b64url_encode_buf(raw, sizeof(raw), out, NONCE_LEN + 1);
}

int
nonce_redeem(struct nonce_store *ns, const char *nonce)
{
	uint8_t *raw = NULL, want[MAC_LEN];
	size_t len = 0;
	uint64_t c = 0;
	int rc = DEED_ENOTFOUND;

	if (nonce == NULL || strlen(nonce) != NONCE_LEN)
		return DEED_ENOTFOUND;
	if (b64url_decode(nonce, NONCE_LEN, &raw, &len) != DEED_OK || len != 8 + MAC_LEN)
		goto out;
	if (mac(ns, raw, want) != DEED_OK || CRYPTO_memcmp(want, raw + 8, MAC_LEN) != 0)
		goto out;
	for (int i = 0; i < 8; i++)
		c = (c << 8) | raw[i];

	pthread_mutex_lock(&ns->lock);
	if (c != 0 && c < ns->next && ns->next - c <= NONCE_WINDOW) {
		uint8_t *byte = &ns->used[(c % NONCE_WINDOW) / 8];
		uint8_t bit = (uint8_t)(1u << (c % 8));

		if ((*byte & bit) == 0) {
			*byte |= bit;
			rc = DEED_OK;
		}
	}
	pthread_mutex_unlock(&ns->lock);
out:
	free(raw);
	return rc;
}
