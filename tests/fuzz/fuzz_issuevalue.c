#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "issuevalue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const issuers[] = {"authority.example", "ca.example.net"};
static const char *const thumbprints[] = {"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs",
					  "newerkeythumbprintnewerkeythumbprintnewerke"};

/* A reason must be one printable line that fits its buffer: it goes into problem details. */
static void
check_why(const char *why, size_t whylen)
{
	size_t n = strnlen(why, whylen);

	if (n == whylen)
		__builtin_trap();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)why[i] < 0x20 || (unsigned char)why[i] > 0x7e)
			__builtin_trap();
}

/*
 * A TXT record from anyone's DNS. The whole input is one RR value; split at '\n' it is also
 * an RR set. Parsed values must obey the grammar's caps, a valid verdict needs a record that
 * parses, and the set's verdict must agree with the per-record ones.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct persist_check c = {
	    .issuers = issuers,
	    .n_issuers = 2,
	    .account_url = "https://ca.example/acct/123",
	    .hash_prefix = "https://ca.example/account-hash/",
	    .thumbprints = thumbprints,
	    .n_thumbprints = 2,
	    .record_domain = "example.com",
	    .now = 1767225600,
	};
	static struct issuevalue iv;
	char *rr[16], why[512];
	size_t len[16], n = 0, which;
	const char *s = (const char *)data, *end = s + size;
	int64_t until;
	bool any_valid = false;

	if (issuevalue_parse(s, size, &iv, why, sizeof(why)) == DEED_OK) {
		if (iv.n_params > IV_MAX_PARAMS)
			__builtin_trap();
		for (size_t i = 0; i < iv.n_params; i++)
			if (strlen(iv.params[i].tag) == 0 ||
			    strlen(iv.params[i].value) >= IV_VALUE_MAX ||
			    strpbrk(iv.params[i].value, " ;\t") != NULL)
				__builtin_trap();
	}
	for (int mode = 0; mode < 4; mode++) {
		c.accept_plain = mode & 1;
		c.need_wildcard_policy = mode & 2;
		until = 0;
		enum persist_verdict v = persist_evaluate(&c, s, size, &until, why, sizeof(why));

		check_why(why, sizeof(why));
		if (v == PERSIST_VALID && issuevalue_parse(s, size, &iv, NULL, 0) != DEED_OK)
			__builtin_trap();
	}
	c.accept_plain = true;
	while (s <= end && n < 16) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t l = (nl != NULL ? nl : end) - s;

		rr[n] = (char *)s, len[n++] = l;
		if (nl == NULL)
			break;
		s = nl + 1;
	}
	for (size_t i = 0; i < n; i++)
		any_valid |= persist_evaluate(&c, rr[i], len[i], &until, NULL, 0) == PERSIST_VALID;
	which = SIZE_MAX;
	if ((persist_evaluate_all(&c, rr, len, n, &which, &until, why, sizeof(why)) ==
	     PERSIST_VALID) != any_valid ||
	    which > n)
		__builtin_trap();
	check_why(why, sizeof(why));
	return 0;
}
