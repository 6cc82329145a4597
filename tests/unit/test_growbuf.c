#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "growbuf.h"

/* growbuf: bodies received in pieces, kept NUL-terminated, refused past their limit. */

static void
test_appends_pieces_nul_terminated(void **state)
{
	struct growbuf b = {0};
	char piece[1000];

	(void)state;
	memset(piece, 'x', sizeof(piece));
	for (int i = 0; i < 100; i++)
		assert_int_equal(growbuf_append(&b, piece, sizeof(piece)), DEED_OK);
	assert_int_equal(b.len, 100000);
	assert_true(b.cap > b.len);
	assert_int_equal(b.p[b.len], '\0');
	assert_int_equal(strlen(b.p), 100000);
	assert_false(b.too_big);
	/* An empty append of an empty buffer still gives a string. */
	growbuf_free(&b);
	assert_null(b.p);
	assert_int_equal(growbuf_append(&b, "", 0), DEED_OK);
	assert_string_equal(b.p, "");
	growbuf_free(&b);
}

static void
test_refuses_past_max_and_keeps_what_it_has(void **state)
{
	struct growbuf b = {.max = 10};
	char *kept;

	(void)state;
	assert_int_equal(growbuf_append(&b, "0123456", 7), DEED_OK);
	assert_int_equal(growbuf_append(&b, "789", 3), DEED_OK); /* exactly max */
	assert_string_equal(b.p, "0123456789");
	assert_true(b.cap <= b.max + 1);
	assert_int_equal(growbuf_append(&b, "a", 1), DEED_ETOOBIG);
	assert_true(b.too_big);
	assert_int_equal(b.len, 10);
	assert_string_equal(b.p, "0123456789");
	/* clear: empty, too_big forgotten, memory kept, max kept */
	kept = b.p;
	growbuf_clear(&b);
	assert_false(b.too_big);
	assert_int_equal(b.len, 0);
	assert_ptr_equal(b.p, kept);
	assert_string_equal(b.p, "");
	assert_int_equal(growbuf_reserve(&b, 11), DEED_ETOOBIG);
	assert_int_equal(growbuf_reserve(&b, 10), DEED_OK);
	growbuf_free(&b);
	assert_int_equal(b.max, 10);
	assert_null(b.p);
}

static void
test_curl_callback_takes_or_stops(void **state)
{
	struct growbuf b = {.max = 8};
	char data[] = "abcdefghij";

	(void)state;
	assert_int_equal(growbuf_curl_write(data, 1, 5, &b), 5);
	assert_int_equal(growbuf_curl_write(data + 5, 1, 3, &b), 3);
	assert_string_equal(b.p, "abcdefgh");
	/* Past max: 0, which makes libcurl end the transfer; too_big says why. */
	assert_int_equal(growbuf_curl_write(data + 8, 1, 2, &b), 0);
	assert_true(b.too_big);
	assert_string_equal(b.p, "abcdefgh");
	growbuf_free(&b);
}

static void
test_size_overflow_is_refused(void **state)
{
	struct growbuf b = {0};

	(void)state;
	assert_int_equal(growbuf_append(&b, "ab", 2), DEED_OK);
	assert_int_equal(growbuf_reserve(&b, SIZE_MAX), DEED_ETOOBIG);
	assert_int_equal(growbuf_reserve(&b, SIZE_MAX - 2), DEED_ETOOBIG);
	assert_string_equal(b.p, "ab");
	growbuf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_appends_pieces_nul_terminated),
	    cmocka_unit_test(test_refuses_past_max_and_keeps_what_it_has),
	    cmocka_unit_test(test_curl_callback_takes_or_stops),
	    cmocka_unit_test(test_size_overflow_is_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
