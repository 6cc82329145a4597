#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "error.h"
#include "va_caa.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RRS 16

static const char *const issuers[] = {"ca.example", "Other-Name.example."};
static const char *const methods[] = {"http-01",	"dns-01", "tls-alpn-01", "dns-account-01",
				      "dns-persist-01", "",	  "x",		 NULL};

/* Text that goes into problem details and JSON: one printable line inside its buffer. */
static void
check_line(const char *s, size_t cap)
{
	size_t n = strnlen(s, cap);

	if (n == cap)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			__builtin_trap();
}

/*
 * A CAA RRset from anyone's DNS. Byte 0 picks the request (bit 0: wildcard, bits 1-3: the
 * method, bit 4: the account); the rest is RRs, each a length octet then that many octets of
 * RDATA. Every RDATA goes through the parser and the text form, the set through the
 * evaluation; with our issuer names taken away no set may allow more than before.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct va_caa_request req = {
	    .identifier = "www.example.test", .issuers = issuers, .n_issuers = 2};
	char *rr[MAX_RRS], text[512], why[512];
	size_t len[MAX_RRS], n = 0, i = 1;
	enum va_caa_verdict v, none;

	if (size == 0)
		return 0;
	req.wildcard = data[0] & 1;
	req.method = methods[(data[0] >> 1) & 7];
	req.account_url = data[0] & 0x10 ? "https://ca.example/acct/1" : NULL;
	while (i < size && n < MAX_RRS) {
		size_t l = data[i++];

		if (l > size - i)
			l = size - i;
		rr[n] = (char *)data + i;
		len[n++] = l;
		i += l;
	}
	for (size_t k = 0; k < n; k++) {
		struct va_caa_rr p;

		if (va_caa_parse((const uint8_t *)rr[k], len[k], &p) == DEED_OK) {
			if (p.taglen == 0 || p.taglen > VA_CAA_TAG_MAX || p.tag != rr[k] + 2 ||
			    p.value != p.tag + p.taglen || 2 + p.taglen + p.vlen != len[k] ||
			    p.flags != (uint8_t)rr[k][0])
				__builtin_trap();
		}
		va_caa_rr_text((const uint8_t *)rr[k], len[k], text, sizeof(text));
		check_line(text, sizeof(text));
		va_caa_rr_text((const uint8_t *)rr[k], len[k], text, 7); /* cut short */
		check_line(text, 7);
	}
	v = va_caa_evaluate(&req, "example.test", rr, len, n, why, sizeof(why));
	check_line(why, sizeof(why));
	if (v != VA_CAA_ALLOWED && v != VA_CAA_REFUSED && v != VA_CAA_CRITICAL)
		__builtin_trap();
	req.n_issuers = 0;
	none = va_caa_evaluate(&req, NULL, rr, len, n, why, 40);
	check_line(why, 40);
	if (none == VA_CAA_ALLOWED && v != VA_CAA_ALLOWED)
		__builtin_trap();
	if ((none == VA_CAA_CRITICAL) != (v == VA_CAA_CRITICAL))
		__builtin_trap();
	return 0;
}
