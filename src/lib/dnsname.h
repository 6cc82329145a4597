#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * DNS names as ACME identifiers: normalized to lowercase A-labels without a trailing dot,
 * checked for LDH syntax and length, with an optional leading "*." wildcard label.
 */

#define DNSNAME_MAX 253

/*
 * Normalize in (UTF-8, possibly with U-labels or uppercase) into out (size >= DNSNAME_MAX+1):
 * lowercase, IDNA2008 A-labels (libidn2), no trailing dot. With allow_wildcard, a leading
 * "*." is kept. Refuses empty labels, labels over 63 octets, names over 253 octets, characters
 * outside LDH, leading or trailing hyphens, all-numeric TLDs (IP addresses), single-label names.
 * err (may be NULL) gets a one-line reason.
 * Returns DEED_OK or DEED_EMALFORMED.
 */
int dnsname_normalize(const char *in, bool allow_wildcard, char *out, size_t outsz, char *err,
		      size_t errlen);

/*
 * Strict check that in is already in normal form (what an ACME identifier must be on the wire:
 * RFC 8555 §7.1.4 asks servers to refuse what is not). Returns DEED_OK or DEED_EMALFORMED.
 */
int dnsname_check(const char *in, bool allow_wildcard, char *err, size_t errlen);

/* True if name starts with "*.". */
bool dnsname_is_wildcard(const char *name);

/* name without a leading "*." (points into name). */
const char *dnsname_base(const char *name);
