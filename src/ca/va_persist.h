#pragma once

#include "va.h"
#include "va_dns.h"

/*
 * dns-persist-01 (draft-ietf-acme-dns-persist): read the TXT records at
 * _validation-persist.<name>; when none of them passes, climb to each ancestor up to the
 * registered domain (libpsl) and accept there only a record with policy=wildcard. res gets the
 * TTL and persistUntil of the passing record (for reuse), and one validationRecord per name
 * looked at (records seen, TTL, DNSSEC status, verdict) for the audit log.
 */
void va_persist01(struct va_dns *d, const struct va_request *req, int timeout_ms,
		  struct va_result *res);
