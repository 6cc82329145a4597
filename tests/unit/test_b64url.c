#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "b64url.h"
#include "error.h"

/* Decode s (its strlen) and return the code, freeing whatever came back. */
static int
decode_rc(const char *s)
{
	uint8_t *out = NULL;
	size_t outlen = 0;
	int rc;

	rc = b64url_decode(s, strlen(s), &out, &outlen);
	free(out);
	return rc;
}

/* RFC 4648 §10 vectors, with the padding RFC 7515 §2 drops. */
static void
test_encodes_rfc4648_vectors_without_padding(void **state)
{
	static const struct {
		const char *in, *out;
	} v[] = {
	    {"", ""},		{"f", "Zg"},	      {"fo", "Zm8"},	      {"foo", "Zm9v"},
	    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
	};
	size_t i;
	char *s;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(b64url_encode((const uint8_t *)v[i].in, strlen(v[i].in), &s),
				 DEED_OK);
		assert_string_equal(s, v[i].out);
		assert_int_equal(b64url_enclen(strlen(v[i].in)), strlen(v[i].out));
		free(s);
	}
}

static void
test_decodes_rfc4648_vectors(void **state)
{
	uint8_t *out = NULL;
	size_t outlen = 0;

	assert_int_equal(b64url_decode("Zm9vYmE", 7, &out, &outlen), DEED_OK);
	assert_int_equal(outlen, 5);
	assert_memory_equal(out, "fooba", 5);
	assert_int_equal(out[5], '\0'); /* text payloads can be used as strings */
	free(out);

	assert_int_equal(b64url_decode("", 0, &out, &outlen), DEED_OK);
	assert_int_equal(outlen, 0);
	assert_int_equal(out[0], '\0');
	free(out);
}

static void
test_uses_url_safe_alphabet(void **state)
{
	static const uint8_t in[] = {0xfb, 0xff};
	uint8_t *out = NULL;
	size_t outlen = 0;
	char *s;

	assert_int_equal(b64url_encode(in, sizeof(in), &s), DEED_OK);
	assert_string_equal(s, "-_8"); /* standard base64 would be "+/8=" */
	assert_int_equal(b64url_decode(s, strlen(s), &out, &outlen), DEED_OK);
	assert_int_equal(outlen, 2);
	assert_memory_equal(out, in, 2);
	free(out);
	free(s);
}

static void
test_round_trips_every_length(void **state)
{
	uint8_t in[100], *out;
	size_t len, outlen, i;
	char *s;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 37 + 11);
	for (len = 0; len <= sizeof(in); len++) {
		assert_int_equal(b64url_encode(in, len, &s), DEED_OK);
		assert_int_equal(strlen(s), b64url_enclen(len));
		assert_int_equal(b64url_decode(s, strlen(s), &out, &outlen), DEED_OK);
		assert_int_equal(outlen, len);
		if (len > 0)
			assert_memory_equal(out, in, len);
		free(out);
		free(s);
	}
}

static void
test_rejects_padding(void **state)
{
	assert_int_equal(decode_rc("Zg=="), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm8="), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zg="), DEED_EMALFORMED);
}

static void
test_rejects_standard_alphabet_characters(void **state)
{
	assert_int_equal(decode_rc("+_8"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("-/8"), DEED_EMALFORMED);
}

static void
test_rejects_whitespace_and_nul(void **state)
{
	uint8_t *out = NULL;
	size_t outlen = 0;

	assert_int_equal(decode_rc(" Zm9v"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm9v\n"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm\r\n9v"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm9\tv"), DEED_EMALFORMED);
	/* An embedded NUL inside the given length is a bad character, not an end. */
	assert_int_equal(b64url_decode("Zm\0v", 4, &out, &outlen), DEED_EMALFORMED);
	assert_null(out);
}

static void
test_rejects_length_one_mod_four(void **state)
{
	assert_int_equal(decode_rc("Z"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm9vY"), DEED_EMALFORMED);
}

static void
test_rejects_nonzero_trailing_bits(void **state)
{
	/* "Zg" is canonical for "f"; "Zh" has the same first byte but a stray low bit. */
	assert_int_equal(decode_rc("Zg"), DEED_OK);
	assert_int_equal(decode_rc("Zh"), DEED_EMALFORMED);
	assert_int_equal(decode_rc("Zm8"), DEED_OK);
	assert_int_equal(decode_rc("Zm9"), DEED_EMALFORMED);
}

static void
test_encode_buf_refuses_small_buffer(void **state)
{
	char buf[5];

	/* "foo" needs 4 characters and a NUL */
	assert_int_equal(b64url_encode_buf((const uint8_t *)"foo", 3, buf, 4), DEED_EINVAL);
	assert_int_equal(b64url_encode_buf((const uint8_t *)"foo", 3, buf, sizeof(buf)), DEED_OK);
	assert_string_equal(buf, "Zm9v");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_encodes_rfc4648_vectors_without_padding),
	    cmocka_unit_test(test_decodes_rfc4648_vectors),
	    cmocka_unit_test(test_uses_url_safe_alphabet),
	    cmocka_unit_test(test_round_trips_every_length),
	    cmocka_unit_test(test_rejects_padding),
	    cmocka_unit_test(test_rejects_standard_alphabet_characters),
	    cmocka_unit_test(test_rejects_whitespace_and_nul),
	    cmocka_unit_test(test_rejects_length_one_mod_four),
	    cmocka_unit_test(test_rejects_nonzero_trailing_bits),
	    cmocka_unit_test(test_encode_buf_refuses_small_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
