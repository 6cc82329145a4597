#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <idn2.h>

#include "dnsname.h"
#include "error.h"

#define LABEL_MAX 63

/* Every refusal here is DEED_EMALFORMED with a reason naming the input. */
#define fail(err, errlen, ...) deed_fail(DEED_EMALFORMED, (err), (errlen), __VA_ARGS__)

bool
dnsname_is_wildcard(const char *name)
{
	return name != NULL && name[0] == '*' && name[1] == '.';
}

const char *
dnsname_base(const char *name)
{
	return dnsname_is_wildcard(name) ? name + 2 : name;
}

static bool
ldh(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/*
 * RFC 5891 §5.4: an "xn--" label is an A-label only if it decodes to a valid U-label that
 * encodes back to the same label. Punycode decoding alone takes almost anything ("xn--abc"
 * decodes to C1 control characters, "xn--ls8h" to an emoji), so encode it back and compare.
 */
static bool
alabel_ok(const char *label, size_t len)
{
	char a[LABEL_MAX + 1], *u = NULL, *back = NULL;
	bool ok;

	memcpy(a, label, len);
	a[len] = '\0';
	ok = idn2_to_unicode_8z8z(a, &u, 0) == IDN2_OK &&
	     idn2_to_ascii_8z(u, &back, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) == IDN2_OK &&
	     strcmp(back, a) == 0;
	idn2_free(back);
	idn2_free(u);
	return ok;
}

/*
 * Check an ASCII name that is already lowercase and has no trailing dot: LDH labels of 1-63
 * octets, no leading or trailing hyphen, at least two labels, a TLD that is not all digits (so
 * IPv4 literals are refused), and "xn--" labels that are A-labels (RFC 5890 §2.3.2.1).
 */
static int
check_ldh(const char *name, const char *shown, char *err, size_t errlen)
{
	const char *p = name;
	bool all_digits = true;
	size_t labels = 0;

	if (*name == '\0')
		return fail(err, errlen, "empty name");
	if (strlen(name) > DNSNAME_MAX)
		return fail(err, errlen, "name \"%.80s...\" is longer than 253 octets", shown);
	while (*p != '\0') {
		const char *label = p;
		size_t len;

		all_digits = true;
		while (*p != '\0' && *p != '.') {
			if (!ldh(*p))
				return fail(
				    err, errlen,
				    "name \"%.200s\" has a character outside a-z, 0-9 and '-'",
				    shown);
			if (*p < '0' || *p > '9')
				all_digits = false;
			p++;
		}
		len = (size_t)(p - label);
		if (len == 0)
			return fail(err, errlen, "name \"%.200s\" has an empty label", shown);
		if (len > LABEL_MAX)
			return fail(err, errlen, "name \"%.200s\" has a label over 63 octets",
				    shown);
		if (label[0] == '-' || label[len - 1] == '-')
			return fail(err, errlen,
				    "name \"%.200s\" has a label starting or ending with '-'",
				    shown);
		if (len >= 4 && strncmp(label, "xn--", 4) == 0) {
			if (!alabel_ok(label, len))
				return fail(
				    err, errlen,
				    "name \"%.200s\" has an \"xn--\" label that is not a valid "
				    "A-label",
				    shown);
		} else if (len >= 4 && label[2] == '-' && label[3] == '-') {
			/* RFC 5891 §4.2.3.1: "??--" is reserved for IDNA prefixes. */
			return fail(err, errlen,
				    "name \"%.200s\" has a label with hyphens in positions 3 and 4",
				    shown);
		}
		labels++;
		if (*p == '.')
			p++;
		if (*p == '\0' && p[-1] == '.')
			return fail(err, errlen, "name \"%.200s\" ends with a dot", shown);
	}
	if (labels < 2)
		return fail(err, errlen, "name \"%.200s\" has a single label", shown);
	if (all_digits)
		return fail(err, errlen,
			    "name \"%.200s\" ends in an all-numeric label, as an IP address does",
			    shown);
	return DEED_OK;
}

static bool
is_ascii(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

int
dnsname_normalize(const char *in, bool allow_wildcard, char *out, size_t outsz, char *err,
		  size_t errlen)
{
	char buf[4 * (DNSNAME_MAX + 1)];
	const char *base;
	size_t n, prefix;
	char *ace = NULL;
	int rc;

	if (in == NULL || outsz < DNSNAME_MAX + 1)
		return DEED_EINVAL;
	n = strlen(in);
	if (n == 0)
		return fail(err, errlen, "empty name");
	/* The input cap: room for a 253-character name at 4 UTF-8 octets a character. Longer
	 * input could only fit through code points UTS #46 deletes, which no one needs. */
	if (n >= sizeof(buf))
		return fail(err, errlen, "name \"%.80s...\" is far too long", in);
	memcpy(buf, in, n + 1);
	if (buf[n - 1] == '.')
		buf[--n] = '\0';
	prefix = dnsname_is_wildcard(buf) ? 2 : 0;
	if (prefix && !allow_wildcard)
		return fail(err, errlen, "wildcard name \"%.200s\" is not allowed here", in);
	base = buf + prefix;
	if (strchr(base, '*') != NULL)
		return fail(err, errlen, "name \"%.200s\": '*' may only be a whole leftmost label",
			    in);
	if (is_ascii(base)) {
		/* ASCII is only lowercased: libidn2 would also rewrite valid A-labels. */
		for (char *p = buf; *p != '\0'; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + ('a' - 'A'));
		if ((rc = check_ldh(base, in, err, errlen)) != DEED_OK)
			return rc;
		if (n > DNSNAME_MAX)
			return fail(err, errlen, "name \"%.80s...\" is longer than 253 octets", in);
		memcpy(out, buf, n + 1);
		return DEED_OK;
	}
	/* U-labels: IDNA2008 with the UTS #46 mapping (lowercase, NFC), as browsers do. */
	rc = idn2_to_ascii_8z(base, &ace, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
	if (rc != IDN2_OK)
		return fail(err, errlen,
			    "name \"%.200s\" is not a valid internationalized name: %s", in,
			    idn2_strerror(rc));
	for (char *p = ace; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + ('a' - 'A'));
	rc = check_ldh(ace, in, err, errlen);
	if (rc == DEED_OK && strlen(ace) + prefix > DNSNAME_MAX)
		rc = fail(err, errlen, "name \"%.80s...\" is longer than 253 octets", in);
	if (rc == DEED_OK)
		snprintf(out, outsz, "%s%s", prefix ? "*." : "", ace);
	idn2_free(ace);
	return rc;
}

int
dnsname_check(const char *in, bool allow_wildcard, char *err, size_t errlen)
{
	char norm[DNSNAME_MAX + 1];
	int rc;

	if (in == NULL)
		return DEED_EINVAL;
	if (*in != '\0' && in[strlen(in) - 1] == '.')
		return fail(err, errlen, "name \"%.200s\" must not end with a dot", in);
	if (!is_ascii(in))
		return fail(err, errlen, "name \"%.200s\" must be in A-label (xn--) form", in);
	for (const char *p = in; *p != '\0'; p++)
		if (*p >= 'A' && *p <= 'Z')
			return fail(err, errlen, "name \"%.200s\" is not lowercase", in);
	if ((rc = dnsname_normalize(in, allow_wildcard, norm, sizeof(norm), err, errlen)) !=
	    DEED_OK)
		return rc;
	return strcmp(norm, in) == 0
		   ? DEED_OK
		   : fail(err, errlen, "name \"%.200s\" is not in normal form", in);
}
