#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "va_dns.h"

/*
 * va_dns_parse_answer on hand-built DNS messages (RFC 1035 §4.1): what libunbound's callback
 * hands a lookup, and what a broken or hostile message must not get past.
 */

struct msg {
	uint8_t b[8192];
	size_t n;
};

static void
put(struct msg *m, const void *p, size_t n)
{
	assert_true(m->n + n <= sizeof(m->b));
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static void
u16(struct msg *m, unsigned v)
{
	uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};

	put(m, b, 2);
}

static void
u32(struct msg *m, uint32_t v)
{
	u16(m, v >> 16);
	u16(m, v & 0xffff);
}

/* A name in labels, uncompressed. */
static void
name(struct msg *m, const char *dotted)
{
	while (*dotted != '\0') {
		const char *dot = strchr(dotted, '.');
		size_t l = dot != NULL ? (size_t)(dot - dotted) : strlen(dotted);
		uint8_t len = (uint8_t)l;

		put(m, &len, 1);
		put(m, dotted, l);
		dotted += l + (dot != NULL);
	}
	put(m, "", 1);
}

/* Header and one question for qname; the question's name sits at offset 12. */
static void
start(struct msg *m, int rcode, unsigned an, unsigned ns, const char *qname, unsigned qtype)
{
	m->n = 0;
	u16(m, 0x1234);
	u16(m, 0x8180 | (unsigned)rcode);
	u16(m, 1);
	u16(m, an);
	u16(m, ns);
	u16(m, 0);
	name(m, qname);
	u16(m, qtype);
	u16(m, 1);
}

/* An RR owned by the question's name (a pointer to offset 12), RDATA as given. */
static void
rr(struct msg *m, unsigned type, uint32_t ttl, const void *rdata, size_t len)
{
	u16(m, 0xc00c);
	u16(m, type);
	u16(m, 1);
	u32(m, ttl);
	u16(m, (unsigned)len);
	put(m, rdata, len);
}

static int
parse(const struct msg *m, int sec, int type, struct va_dns_answer *ans)
{
	memset(ans, 0, sizeof(*ans));
	return va_dns_parse_answer(0, m->b, m->n, sec, "signature expired", type, ans);
}

static void
test_txt_records_joined_with_lowest_ttl(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, 0, 2, 0, "_validation-persist.example.test", VA_DNS_TXT);
	rr(&m, VA_DNS_TXT, 300, "\x0a" "ca.example", 11);
	rr(&m, VA_DNS_TXT, 60, "\x02" "ab" "\x03" "cde", 7);
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_NOERROR);
	assert_int_equal(a.dnssec, VA_DNSSEC_INSECURE);
	assert_int_equal(a.n, 2);
	assert_string_equal(a.rr[0], "ca.example");
	assert_string_equal(a.rr[1], "abcde");
	assert_int_equal(a.len[1], 5);
	assert_int_equal(a.ttl, 60);
	va_dns_answer_cleanup(&a);
}

static void
test_nxdomain_and_libunbound_verdicts(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, VA_DNS_NXDOMAIN, 0, 0, "nope.example.test", VA_DNS_TXT);
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_NXDOMAIN);
	assert_int_equal(a.n, 0);
	assert_int_equal(a.ttl, 0);
	/* libunbound's own SERVFAIL: the packet is not read (here there is none). */
	memset(&a, 0, sizeof(a));
	assert_int_equal(va_dns_parse_answer(VA_DNS_SERVFAIL, NULL, 0, 0, NULL, VA_DNS_TXT, &a),
			 DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_SERVFAIL);
	assert_int_equal(a.n, 0);
}

static void
test_only_the_type_asked_after_a_cname(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, 0, 2, 0, "www.example.test", VA_DNS_TXT);
	rr(&m, 5 /* CNAME */, 300, "\x06target\xc0\x10", 9); /* target.example.test */
	rr(&m, VA_DNS_TXT, 30, "\x01v", 2);
	assert_int_equal(parse(&m, 2, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.dnssec, VA_DNSSEC_SECURE);
	assert_int_equal(a.n, 1);
	assert_string_equal(a.rr[0], "v");
	assert_int_equal(a.ttl, 30);
	va_dns_answer_cleanup(&a);
}

/* RDATA comes as the server's, without the message: compressed names written out. */
static void
test_compressed_names_in_rdata_are_expanded(void **state)
{
	static const uint8_t want[] = "\x00\x0a\x04mail\x07" "example\x04test";
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, 0, 1, 0, "example.test", 15 /* MX */);
	rr(&m, 15, 300, "\x00\x0a\x04mail\xc0\x0c", 9);
	assert_int_equal(parse(&m, 0, 15, &a), DEED_OK);
	assert_int_equal(a.n, 1);
	assert_int_equal(a.len[0], sizeof(want)); /* the root label's 0 is want's NUL */
	assert_memory_equal(a.rr[0], want, sizeof(want));
	va_dns_answer_cleanup(&a);
}

static void
test_bogus_keeps_records_and_reason(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, 0, 1, 0, "signed.example.test", VA_DNS_TXT);
	rr(&m, VA_DNS_TXT, 300, "\x01x", 2);
	assert_int_equal(parse(&m, 1, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.dnssec, VA_DNSSEC_BOGUS);
	assert_string_equal(a.why_bogus, "signature expired");
	assert_int_equal(a.n, 1);
	va_dns_answer_cleanup(&a);
}

/* A message that does not parse is a SERVFAIL with nothing in it, never a read past it. */
static void
test_broken_messages_are_servfail(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	/* cut short inside the last RR */
	start(&m, 0, 1, 0, "example.test", VA_DNS_TXT);
	rr(&m, VA_DNS_TXT, 300, "\x03" "abc", 4);
	m.n -= 2;
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_SERVFAIL);
	assert_int_equal(a.n, 0);
	/* more answers announced than present */
	start(&m, 0, 9, 0, "example.test", VA_DNS_TXT);
	rr(&m, VA_DNS_TXT, 300, "\x03" "abc", 4);
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_SERVFAIL);
	/* a name in RDATA pointing at itself */
	start(&m, 0, 1, 0, "example.test", 5 /* CNAME */);
	u16(&m, 0xc00c);
	u16(&m, 5);
	u16(&m, 1);
	u32(&m, 300);
	u16(&m, 2);
	u16(&m, 0xc000 | (unsigned)m.n);
	assert_int_equal(parse(&m, 0, 5, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_SERVFAIL);
	assert_int_equal(a.n, 0);
	/* no header */
	m.n = 11;
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_OK);
	assert_int_equal(a.rcode, VA_DNS_SERVFAIL);
}

static void
test_more_than_the_cap_is_too_big(void **state)
{
	struct msg m;
	struct va_dns_answer a;

	(void)state;
	start(&m, 0, VA_DNS_MAX_RRS + 1, 0, "many.example.test", VA_DNS_TXT);
	for (int i = 0; i < VA_DNS_MAX_RRS + 1; i++)
		rr(&m, VA_DNS_TXT, 300, "\x01x", 2);
	assert_int_equal(parse(&m, 0, VA_DNS_TXT, &a), DEED_ETOOBIG);
	assert_int_equal(a.n, 0); /* counted before anything was copied */
	va_dns_answer_cleanup(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_txt_records_joined_with_lowest_ttl),
	    cmocka_unit_test(test_nxdomain_and_libunbound_verdicts),
	    cmocka_unit_test(test_only_the_type_asked_after_a_cname),
	    cmocka_unit_test(test_compressed_names_in_rdata_are_expanded),
	    cmocka_unit_test(test_bogus_keeps_records_and_reason),
	    cmocka_unit_test(test_broken_messages_are_servfail),
	    cmocka_unit_test(test_more_than_the_cap_is_too_big),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
