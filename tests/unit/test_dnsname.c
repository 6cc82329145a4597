#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "dnsname.h"
#include "error.h"

/* Normalize in and expect want. */
static void
expect_norm(const char *in, bool wildcard, const char *want)
{
	char out[DNSNAME_MAX + 1], err[256];

	err[0] = '\0';
	if (dnsname_normalize(in, wildcard, out, sizeof(out), err, sizeof(err)) != DEED_OK)
		fail_msg("\"%s\" refused: %s", in, err);
	assert_string_equal(out, want);
}

/* Expect in to be refused with a reason, by normalize and by check. */
static void
expect_refused(const char *in, bool wildcard)
{
	char out[DNSNAME_MAX + 1], err[256];

	err[0] = '\0';
	if (dnsname_normalize(in, wildcard, out, sizeof(out), err, sizeof(err)) != DEED_EMALFORMED)
		fail_msg("normalize accepted \"%s\" as \"%s\"", in, out);
	assert_true(strlen(err) > 0);
	err[0] = '\0';
	if (dnsname_check(in, wildcard, err, sizeof(err)) != DEED_EMALFORMED)
		fail_msg("check accepted \"%s\"", in);
	assert_true(strlen(err) > 0);
}

/* A name of total length len made of 63-octet labels and a short last one. */
static void
make_long(char *buf, size_t len)
{
	size_t i = 0;

	while (i < len) {
		size_t lab = len - i > 64 ? 63 : len - i;

		memset(buf + i, 'a', lab);
		i += lab;
		if (i < len)
			buf[i++] = '.';
	}
	buf[len] = '\0';
	if (buf[len - 1] == '.') /* keep the last label non-empty */
		buf[len - 2] = '.', buf[len - 1] = 'b';
}

static void
test_normalize_lowercases(void **state)
{
	expect_norm("WWW.Example.TEST", false, "www.example.test");
	expect_norm("www.example.test", false, "www.example.test");
}

static void
test_normalize_drops_one_trailing_dot(void **state)
{
	expect_norm("example.test.", false, "example.test");
	expect_refused("example.test..", false);
	expect_refused(".", false);
}

static void
test_normalize_turns_u_labels_into_a_labels(void **state)
{
	expect_norm("bücher.example", false, "xn--bcher-kva.example");
	expect_norm("BÜCHER.Example", false, "xn--bcher-kva.example");
	expect_norm("*.bücher.example", true, "*.xn--bcher-kva.example");
}

/* IDNA2008 (RFC 5892) keeps U+00DF as itself; IDNA2003's transitional mapping to "ss"
 * would name a different domain. */
static void
test_normalize_keeps_sharp_s_nontransitionally(void **state)
{
	expect_norm("faß.example", false, "xn--fa-hia.example");
}

static void
test_normalize_keeps_valid_a_labels(void **state)
{
	expect_norm("xn--bcher-kva.example", false, "xn--bcher-kva.example");
	expect_norm("XN--BCHER-KVA.example", false, "xn--bcher-kva.example");
}

static void
test_normalize_allows_wildcard_only_when_asked(void **state)
{
	char out[DNSNAME_MAX + 1];

	expect_norm("*.example.test", true, "*.example.test");
	expect_norm("*.Example.TEST.", true, "*.example.test");
	assert_int_equal(dnsname_normalize("*.example.test", false, out, sizeof(out), NULL, 0),
			 DEED_EMALFORMED);
}

static void
test_refuses_wildcard_that_is_not_the_whole_leftmost_label(void **state)
{
	expect_refused("www.*.example.test", true);
	expect_refused("*", true);
	expect_refused("*.", true);
	expect_refused("*.test", true); /* the base is a single label */
	expect_refused("w*.example.test", true);
	expect_refused("*.*.example.test", true);
	expect_refused("example.test.*", true);
}

static void
test_refuses_ip_addresses(void **state)
{
	expect_refused("1.2.3.4", false);
	expect_refused("1.2.3.4", true);
	expect_refused("example.123", false);
	expect_norm("1.2.3.example", false, "1.2.3.example");
	expect_norm("123.example", false, "123.example");
}

static void
test_refuses_empty_labels(void **state)
{
	expect_refused("a..b", false);
	expect_refused(".a.b", false);
	expect_refused("..", false);
	expect_refused("*..example.test", true);
}

static void
test_refuses_label_over_63_octets(void **state)
{
	char name[80];

	memset(name, 'a', 64);
	strcpy(name + 64, ".test");
	expect_refused(name, false);
	strcpy(name + 63, ".test"); /* 63 is the limit itself */
	expect_norm(name, false, name);
}

static void
test_refuses_names_over_253_octets(void **state)
{
	char name[256], dotted[300], wild[300];

	make_long(name, 254);
	assert_int_equal(strlen(name), 254);
	expect_refused(name, false);

	make_long(name, 253);
	expect_norm(name, false, name);
	snprintf(dotted, sizeof(dotted), "%s.", name); /* 254 with the root dot is fine */
	expect_norm(dotted, false, name);

	make_long(name, 252);
	snprintf(wild, sizeof(wild), "*.%s", name); /* the wildcard label counts */
	expect_refused(wild, true);
	make_long(name, 251);
	snprintf(wild, sizeof(wild), "*.%s", name);
	expect_norm(wild, true, wild);
}

/* labels copies of "a"x55 + "ü" (57 octets in UTF-8, 63 as an A-label), then ".test". */
static void
make_idn(char *buf, int labels)
{
	size_t i = 0;

	for (int l = 0; l < labels; l++) {
		memset(buf + i, 'a', 55);
		i += 55;
		memcpy(buf + i, "\xc3\xbc.", 3);
		i += 3;
	}
	memcpy(buf + i, "test", 5);
}

static void
test_refuses_u_label_name_that_grows_over_253_octets(void **state)
{
	char name[400], out[DNSNAME_MAX + 1];

	make_idn(name, 4); /* 236 octets in, 4*63+4+4 = 260 out */
	assert_true(strlen(name) <= DNSNAME_MAX);
	expect_refused(name, false);
	make_idn(name, 3); /* 3*63+3+4 = 196 out */
	assert_int_equal(dnsname_normalize(name, false, out, sizeof(out), NULL, 0), DEED_OK);
	assert_int_equal(strlen(out), 196);
	assert_int_equal(dnsname_check(out, false, NULL, 0), DEED_OK);
}

static void
test_refuses_leading_or_trailing_hyphen(void **state)
{
	expect_refused("-a.test", false);
	expect_refused("a-.test", false);
	expect_refused("a.-test", false);
	expect_refused("a.test-", false);
	expect_norm("a-b.test", false, "a-b.test");
}

static void
test_refuses_characters_outside_ldh(void **state)
{
	expect_refused("exa_mple.test", false);
	expect_refused("exa mple.test", false);
	expect_refused("exa@mple.test", false);
	expect_refused("exa/mple.test", false);
	expect_refused("example.test\n", false);
}

static void
test_refuses_hyphens_in_positions_3_and_4(void **state)
{
	expect_refused("ab--c.test", false);
	expect_refused("a.ab--c", false);
	expect_norm("a--b.test", false, "a--b.test");
	expect_norm("abc--d.test", false, "abc--d.test");
}

static void
test_refuses_invalid_a_labels(void **state)
{
	expect_refused("xn--invalid-.test", false);   /* trailing hyphen */
	expect_refused("xn--zz.test", false);	      /* not punycode */
	expect_refused("xn--.test", false);	      /* nothing to decode */
	expect_refused("xn--abc.test", false);	      /* decodes to C1 control characters */
	expect_refused("xn--ls8h.test", false);	      /* an emoji: not IDNA2008 */
	expect_refused("xn--xn--a.test", false);      /* decodes to a non-U-label */
	expect_refused("xn--0ca.xn--abc-def", false); /* breaks the bidi rule */
}

static void
test_refuses_invalid_u_labels(void **state)
{
	expect_refused("☃.test", false); /* U+2603 snowman is DISALLOWED */
	expect_refused("bü..example", false);
	expect_refused("bücher.\xff.example", false);
	expect_refused("a＊b.test", false); /* U+FF0A fullwidth asterisk maps to '*' */
}

static void
test_refuses_single_label_names(void **state)
{
	expect_refused("localhost", false);
	expect_refused("test", false);
	expect_refused("*.localhost", true);
}

static void
test_refuses_empty_name(void **state)
{
	char out[DNSNAME_MAX + 1];

	expect_refused("", false);
	expect_refused("", true);
	assert_int_equal(dnsname_normalize(NULL, false, out, sizeof(out), NULL, 0), DEED_EINVAL);
	assert_int_equal(dnsname_check(NULL, false, NULL, 0), DEED_EINVAL);
}

static void
test_normalize_refuses_small_output_buffer(void **state)
{
	char out[DNSNAME_MAX];

	assert_int_equal(dnsname_normalize("example.test", false, out, sizeof(out), NULL, 0),
			 DEED_EINVAL);
}

static void
test_normalize_refuses_far_too_long_input_without_overflow(void **state)
{
	static char big[8192];
	char out[DNSNAME_MAX + 1], err[64];

	memset(big, 'a', sizeof(big) - 1);
	assert_int_equal(dnsname_normalize(big, false, out, sizeof(out), err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_true(strlen(err) > 0 && strlen(err) < sizeof(err));
}

static void
test_check_accepts_normal_form(void **state)
{
	assert_int_equal(dnsname_check("www.example.test", false, NULL, 0), DEED_OK);
	assert_int_equal(dnsname_check("xn--bcher-kva.example", false, NULL, 0), DEED_OK);
	assert_int_equal(dnsname_check("*.example.test", true, NULL, 0), DEED_OK);
	assert_int_equal(dnsname_check("a-1.b2.example", false, NULL, 0), DEED_OK);
}

static void
test_check_refuses_uppercase(void **state)
{
	char err[256] = "";

	assert_int_equal(dnsname_check("WWW.example.test", false, err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_non_null(strstr(err, "lowercase"));
	assert_int_equal(dnsname_check("XN--bcher-kva.example", false, NULL, 0), DEED_EMALFORMED);
}

static void
test_check_refuses_trailing_dot(void **state)
{
	char err[256] = "";

	assert_int_equal(dnsname_check("example.test.", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "dot"));
}

static void
test_check_refuses_u_labels(void **state)
{
	char err[256] = "";

	assert_int_equal(dnsname_check("bücher.example", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "A-label"));
}

static void
test_check_refuses_wildcard_unless_allowed(void **state)
{
	char err[256] = "";

	assert_int_equal(dnsname_check("*.example.test", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "wildcard"));
}

/* Reasons quote the name, so an ACME client sees which identifier was refused. */
static void
test_reasons_quote_the_name(void **state)
{
	char err[256] = "";

	assert_int_equal(dnsname_check("exa_mple.test", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "\"exa_mple.test\""));
	assert_int_equal(dnsname_check("1.2.3.4", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "IP address"));
	assert_int_equal(dnsname_check("localhost", false, err, sizeof(err)), DEED_EMALFORMED);
	assert_non_null(strstr(err, "single label"));
}

static void
test_check_agrees_with_normalize_on_its_output(void **state)
{
	static const char *in[] = {"WWW.Example.TEST", "example.test.", "bücher.example",
				   "*.Bücher.Example."};
	char out[DNSNAME_MAX + 1];

	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		assert_int_equal(dnsname_normalize(in[i], true, out, sizeof(out), NULL, 0),
				 DEED_OK);
		assert_int_equal(dnsname_check(out, true, NULL, 0), DEED_OK);
	}
}

static void
test_wildcard_and_base(void **state)
{
	const char *w = "*.example.test";

	assert_true(dnsname_is_wildcard(w));
	assert_ptr_equal(dnsname_base(w), w + 2);
	assert_false(dnsname_is_wildcard("example.test"));
	assert_string_equal(dnsname_base("example.test"), "example.test");
	assert_false(dnsname_is_wildcard("*"));
	assert_false(dnsname_is_wildcard("*example.test"));
	assert_false(dnsname_is_wildcard(""));
	assert_false(dnsname_is_wildcard(NULL));
}

static void
test_error_buffer_may_be_null_or_tiny(void **state)
{
	char out[DNSNAME_MAX + 1], err[4] = "zzz";

	assert_int_equal(dnsname_normalize("a..b", false, out, sizeof(out), NULL, 0),
			 DEED_EMALFORMED);
	assert_int_equal(dnsname_normalize("a..b", false, out, sizeof(out), err, sizeof(err)),
			 DEED_EMALFORMED);
	assert_true(strlen(err) < sizeof(err));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_normalize_lowercases),
	    cmocka_unit_test(test_normalize_drops_one_trailing_dot),
	    cmocka_unit_test(test_normalize_turns_u_labels_into_a_labels),
	    cmocka_unit_test(test_normalize_keeps_sharp_s_nontransitionally),
	    cmocka_unit_test(test_normalize_keeps_valid_a_labels),
	    cmocka_unit_test(test_normalize_allows_wildcard_only_when_asked),
	    cmocka_unit_test(test_refuses_wildcard_that_is_not_the_whole_leftmost_label),
	    cmocka_unit_test(test_refuses_ip_addresses),
	    cmocka_unit_test(test_refuses_empty_labels),
	    cmocka_unit_test(test_refuses_label_over_63_octets),
	    cmocka_unit_test(test_refuses_names_over_253_octets),
	    cmocka_unit_test(test_refuses_u_label_name_that_grows_over_253_octets),
	    cmocka_unit_test(test_refuses_leading_or_trailing_hyphen),
	    cmocka_unit_test(test_refuses_characters_outside_ldh),
	    cmocka_unit_test(test_refuses_hyphens_in_positions_3_and_4),
	    cmocka_unit_test(test_refuses_invalid_a_labels),
	    cmocka_unit_test(test_refuses_invalid_u_labels),
	    cmocka_unit_test(test_refuses_single_label_names),
	    cmocka_unit_test(test_refuses_empty_name),
	    cmocka_unit_test(test_normalize_refuses_small_output_buffer),
	    cmocka_unit_test(test_normalize_refuses_far_too_long_input_without_overflow),
	    cmocka_unit_test(test_check_accepts_normal_form),
	    cmocka_unit_test(test_check_refuses_uppercase),
	    cmocka_unit_test(test_check_refuses_trailing_dot),
	    cmocka_unit_test(test_check_refuses_u_labels),
	    cmocka_unit_test(test_check_refuses_wildcard_unless_allowed),
	    cmocka_unit_test(test_reasons_quote_the_name),
	    cmocka_unit_test(test_check_agrees_with_normalize_on_its_output),
	    cmocka_unit_test(test_wildcard_and_base),
	    cmocka_unit_test(test_error_buffer_may_be_null_or_tiny),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
