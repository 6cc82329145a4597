#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "djson.h"
#include "error.h"

#define CAP 4096

/* Parse s (its strlen) with CAP and return the code, releasing any result. */
static int
parse_rc(const char *s)
{
	json_t *v = NULL;
	int rc;

	rc = djson_parse(s, strlen(s), CAP, &v, NULL, 0);
	json_decref(v);
	return rc;
}

/* n nested arrays: "[[...]]". Caller frees. */
static char *
nested_arrays(size_t n)
{
	char *s = malloc(2 * n + 1);
	size_t i;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[i] = '[';
		s[n + i] = ']';
	}
	s[2 * n] = '\0';
	return s;
}

static void
test_parses_object_and_reads_string_members(void **state)
{
	const char *doc = "{\"status\":\"pending\",\"n\":3}";
	json_t *v = NULL;

	assert_int_equal(djson_parse(doc, strlen(doc), CAP, &v, NULL, 0), DEED_OK);
	assert_string_equal(djson_str(v, "status"), "pending");
	assert_null(djson_str(v, "n"));	      /* not a string */
	assert_null(djson_str(v, "missing")); /* absent */
	assert_null(djson_str(NULL, "status"));
	json_decref(v);
}

static void
test_parses_buffer_without_nul(void **state)
{
	const char *doc = "{\"a\":\"b\"}GARBAGE";
	json_t *v = NULL;

	/* only the first 9 bytes are the document */
	assert_int_equal(djson_parse(doc, 9, CAP, &v, NULL, 0), DEED_OK);
	assert_string_equal(djson_str(v, "a"), "b");
	json_decref(v);
}

static void
test_rejects_duplicate_keys(void **state)
{
	char err[128] = "";
	json_t *v = NULL;
	const char *doc = "{\"a\":1,\"a\":2}";

	assert_int_equal(djson_parse(doc, strlen(doc), CAP, &v, err, sizeof(err)), DEED_EMALFORMED);
	assert_null(v);
	assert_true(strlen(err) > 0);
	assert_int_equal(parse_rc("{\"o\":{\"k\":true,\"k\":false}}"), DEED_EMALFORMED);
}

static void
test_rejects_trailing_garbage(void **state)
{
	assert_int_equal(parse_rc("{\"a\":1}x"), DEED_EMALFORMED);
	assert_int_equal(parse_rc("{\"a\":1}{\"b\":2}"), DEED_EMALFORMED);
	assert_int_equal(parse_rc("{} \n"), DEED_OK); /* trailing whitespace is allowed */
}

static void
test_rejects_empty_and_truncated_input(void **state)
{
	assert_int_equal(parse_rc(""), DEED_EMALFORMED);
	assert_int_equal(parse_rc("{\"a\":"), DEED_EMALFORMED);
}

static void
test_rejects_nul_escape(void **state)
{
	/* "\u0000" would silently truncate the string for C callers */
	assert_int_equal(parse_rc("{\"a\":\"x\\u0000y\"}"), DEED_EMALFORMED);
}

static void
test_rejects_deep_nesting(void **state)
{
	char *s = nested_arrays(100);
	char err[128] = "";
	json_t *v = NULL;

	assert_int_equal(djson_parse(s, strlen(s), CAP, &v, err, sizeof(err)), DEED_ETOOBIG);
	assert_null(v);
	assert_non_null(strstr(err, "nested"));
	free(s);
}

static void
test_accepts_nesting_up_to_the_cap(void **state)
{
	char *s = nested_arrays(DJSON_MAX_DEPTH);

	assert_int_equal(parse_rc(s), DEED_OK);
	free(s);
	s = nested_arrays(DJSON_MAX_DEPTH + 1);
	assert_int_equal(parse_rc(s), DEED_ETOOBIG);
	free(s);
}

static void
test_brackets_inside_strings_do_not_nest(void **state)
{
	char doc[256];
	char *br = nested_arrays(50);

	/* 100 brackets, two escaped quotes, all inside one string value */
	snprintf(doc, sizeof(doc), "{\"a\":\"\\\"%s\\\"\"}", br);
	assert_int_equal(parse_rc(doc), DEED_OK);
	free(br);
}

static void
test_rejects_oversize_document(void **state)
{
	const char *doc = "{\"a\":\"0123456789\"}";
	json_t *v = NULL;

	assert_int_equal(djson_parse(doc, strlen(doc), strlen(doc) - 1, &v, NULL, 0), DEED_ETOOBIG);
	assert_null(v);
	assert_int_equal(djson_parse(doc, strlen(doc), strlen(doc), &v, NULL, 0), DEED_OK);
	json_decref(v);
}

static void
test_dump_is_compact_and_sorted(void **state)
{
	const char *doc = "{ \"b\" : 1,\n \"a\" : [1, 2, {\"z\":null, \"y\":\"/\"}] }";
	json_t *v = NULL;
	char *s;

	assert_int_equal(djson_parse(doc, strlen(doc), CAP, &v, NULL, 0), DEED_OK);
	s = djson_dump(v);
	assert_non_null(s);
	assert_string_equal(s, "{\"a\":[1,2,{\"y\":\"/\",\"z\":null}],\"b\":1}");
	free(s);
	json_decref(v);
	assert_null(djson_dump(NULL));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parses_object_and_reads_string_members),
	    cmocka_unit_test(test_parses_buffer_without_nul),
	    cmocka_unit_test(test_rejects_duplicate_keys),
	    cmocka_unit_test(test_rejects_trailing_garbage),
	    cmocka_unit_test(test_rejects_empty_and_truncated_input),
	    cmocka_unit_test(test_rejects_nul_escape),
	    cmocka_unit_test(test_rejects_deep_nesting),
	    cmocka_unit_test(test_accepts_nesting_up_to_the_cap),
	    cmocka_unit_test(test_brackets_inside_strings_do_not_nest),
	    cmocka_unit_test(test_rejects_oversize_document),
	    cmocka_unit_test(test_dump_is_compact_and_sorted),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
