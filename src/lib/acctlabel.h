#pragma once

#include <stddef.h>

/*
 * dns-account-01 (draft-ietf-acme-dns-account-label): the account-specific label under which
 * the TXT record is published, so that several ACME accounts can validate one name at the
 * same time without touching each other's records. Shared by deed-ca (the VA) and the client.
 *
 *   label  = "_" lowercase(base32(SHA-256(account URL)[0:10]))   17 characters
 *   record = label "._acme-challenge." name
 *
 * The account URL is hashed as given (its ASCII bytes, exactly as in Location / kid); name is
 * the identifier without "*." (a wildcard is validated at its base name, as for dns-01).
 */

/* "_" and 16 base32 characters: 10 bytes are 80 bits, 16 groups of 5, so never padding. */
#define ACCTLABEL_LEN 17

/*
 * The label of account_url into out (NUL-terminated).
 * Returns DEED_OK, DEED_EINVAL (account_url NULL or empty), DEED_ECRYPTO.
 */
int acctlabel_label(const char *account_url, char out[ACCTLABEL_LEN + 1]);

/*
 * The record name "<label>._acme-challenge.<name>" into out (size outsz). name may end in a
 * dot; the result has none.
 * Returns DEED_OK, DEED_EINVAL (account_url or name NULL or empty), DEED_ETOOBIG (longer than
 * the 253 octets of a DNS name, or than outsz - 1), DEED_ECRYPTO.
 */
int acctlabel_name(const char *account_url, const char *name, char *out, size_t outsz);
