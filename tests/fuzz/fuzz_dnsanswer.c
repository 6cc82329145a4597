#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "va_dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* TXT, A, AAAA, CAA, and the types whose RDATA holds (compressed) names. */
static const int types[] = {16, 1, 28, 257, 5, 6, 15, 2, 12, 14, 99, 0};

/*
 * A DNS answer message as libunbound hands it to a lookup's callback, but from anyone: byte 0
 * picks the type asked (low nibble) and the DNSSEC status (bits 4-5); the rest is the
 * message. Whatever it holds, the parse stays inside it, and what comes out is what callers
 * rely on: at most VA_DNS_MAX_RRS RRs, each one NUL-terminated at its length, a TTL only with
 * RRs, an rcode of four bits.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct va_dns_answer ans;
	int rc, type, sec;

	if (size == 0)
		return 0;
	type = types[(data[0] & 0x0f) % (sizeof(types) / sizeof(types[0]))];
	sec = (data[0] >> 4) & 3;
	memset(&ans, 0, sizeof(ans));
	rc = va_dns_parse_answer(0, data + 1, size - 1, sec, "why", type, &ans);
	if (rc == DEED_OK) {
		if (ans.n > VA_DNS_MAX_RRS || (ans.n == 0 && ans.ttl != 0) || ans.rcode < 0 ||
		    ans.rcode > 15)
			__builtin_trap();
		for (size_t i = 0; i < ans.n; i++)
			if (ans.rr[i] == NULL || ans.rr[i][ans.len[i]] != '\0')
				__builtin_trap();
	} else if (rc != DEED_ETOOBIG && rc != DEED_ENOMEM) {
		__builtin_trap();
	}
	va_dns_answer_cleanup(&ans);
	return 0;
}
