#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "acctlabel.h"
#include "error.h"

/* The account label of dns-account-01 (draft-ietf-acme-dns-account-label). */

/* The vectors of protocol-notes §3 (the first one is the one client documentation publishes). */
static void
test_label_vectors(void **state)
{
	char label[ACCTLABEL_LEN + 1], name[300];

	assert_int_equal(acctlabel_label("https://example.com/acme/acct/ExampleAccount", label),
			 DEED_OK);
	assert_string_equal(label, "_ujmmovf2vn55tgye");
	assert_int_equal(acctlabel_name("https://example.com/acme/acct/ExampleAccount",
					"example.org", name, sizeof(name)),
			 DEED_OK);
	assert_string_equal(name, "_ujmmovf2vn55tgye._acme-challenge.example.org");

	assert_int_equal(acctlabel_label("https://ca.example/acct/123", label), DEED_OK);
	assert_string_equal(label, "_h5zlfqoi7m5jaytl");
}

/* RFC 4648 §6 base32, bit by bit and uppercase: a second implementation to compare with. */
static void
ref_label(const char *url, char out[ACCTLABEL_LEN + 1])
{
	static const char alpha[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	unsigned char md[32];

	assert_int_equal(EVP_Digest(url, strlen(url), md, NULL, EVP_sha256(), NULL), 1);
	out[0] = '_';
	for (size_t c = 0; c < 16; c++) {
		unsigned v = 0;

		for (size_t b = c * 5; b < c * 5 + 5; b++)
			v = v << 1 | ((md[b / 8] >> (7 - b % 8)) & 1);
		out[1 + c] = (char)tolower((unsigned char)alpha[v]);
	}
	out[ACCTLABEL_LEN] = '\0';
}

/* Every account URL gets 16 lowercase base32 characters, no padding, equal to the reference;
 * the URL is hashed as given (no normalization: a trailing slash is another account). */
static void
test_label_matches_reference(void **state)
{
	char url[128], got[ACCTLABEL_LEN + 1], want[ACCTLABEL_LEN + 1];

	for (int i = 0; i < 200; i++) {
		snprintf(url, sizeof(url), "https://ca.test:%d/acme/acct/%d", 14000 + i % 7,
			 i * 7919);
		assert_int_equal(acctlabel_label(url, got), DEED_OK);
		ref_label(url, want);
		assert_string_equal(got, want);
		assert_int_equal(strlen(got), ACCTLABEL_LEN);
		assert_int_equal(strspn(got + 1, "abcdefghijklmnopqrstuvwxyz234567"), 16);
	}
	assert_int_equal(acctlabel_label("https://ca.example/acct/123/", got), DEED_OK);
	assert_string_not_equal(got, "_h5zlfqoi7m5jaytl");
	assert_int_equal(acctlabel_label("HTTPS://ca.example/acct/123", got), DEED_OK);
	assert_string_not_equal(got, "_h5zlfqoi7m5jaytl");
}

static void
test_name_forms_and_limits(void **state)
{
	const char *url = "https://ca.example/acct/123";
	char name[300], big[260], small[20];

	/* A wildcard's authorization names the base domain: the caller strips "*.". */
	assert_int_equal(acctlabel_name(url, "example.test.", name, sizeof(name)), DEED_OK);
	assert_string_equal(name, "_h5zlfqoi7m5jaytl._acme-challenge.example.test");

	/* The label and "._acme-challenge." are 34 octets: a 219-octet name makes 253, one
	 * more is too long. */
	memset(big, 'a', sizeof(big));
	for (size_t i = 63; i < 219; i += 64)
		big[i] = '.';
	big[219] = '\0';
	assert_int_equal(acctlabel_name(url, big, name, sizeof(name)), DEED_OK);
	assert_int_equal(strlen(name), 253);
	big[219] = 'a';
	big[220] = '\0';
	assert_int_equal(acctlabel_name(url, big, name, sizeof(name)), DEED_ETOOBIG);
	assert_string_equal(name, "");

	assert_int_equal(acctlabel_name(url, "example.test", small, sizeof(small)), DEED_ETOOBIG);
	assert_int_equal(acctlabel_name(url, "", name, sizeof(name)), DEED_EINVAL);
	assert_int_equal(acctlabel_name(url, ".", name, sizeof(name)), DEED_EINVAL);
	assert_int_equal(acctlabel_name(url, NULL, name, sizeof(name)), DEED_EINVAL);
	assert_int_equal(acctlabel_name("", "example.test", name, sizeof(name)), DEED_EINVAL);
	assert_int_equal(acctlabel_name(NULL, "example.test", name, sizeof(name)), DEED_EINVAL);
	assert_int_equal(acctlabel_label(NULL, small), DEED_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_label_vectors),
	    cmocka_unit_test(test_label_matches_reference),
	    cmocka_unit_test(test_name_forms_and_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
