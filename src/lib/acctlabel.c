#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "acctlabel.h"
#include "error.h"

#define DIGEST_TAKE 10	  /* bytes of the SHA-256 digest the label encodes */
#define NAME_TEXT_MAX 253 /* a DNS name in text form, no trailing dot */

/*
 * RFC 4648 §6 base32 of exactly 10 bytes: two 40-bit groups, 8 characters each, no padding
 * needed. Written out here, lowercase directly, because OpenSSL has no base32 and the input
 * length never varies.
 */
static void
base32_lower_10(const uint8_t in[DIGEST_TAKE], char out[16])
{
	static const char alpha[] = "abcdefghijklmnopqrstuvwxyz234567";

	for (size_t g = 0; g < 2; g++) {
		uint64_t v = 0;

		for (size_t i = 0; i < 5; i++)
			v = v << 8 | in[g * 5 + i];
		for (size_t i = 0; i < 8; i++)
			out[g * 8 + i] = alpha[(v >> (35 - 5 * i)) & 0x1f];
	}
}

int
acctlabel_label(const char *account_url, char out[ACCTLABEL_LEN + 1])
{
	uint8_t md[EVP_MAX_MD_SIZE];
	unsigned mdlen = 0;

	if (account_url == NULL || account_url[0] == '\0' || out == NULL)
		return DEED_EINVAL;
	/* draft-ietf-acme-dns-account-label §3: the first 10 octets of SHA-256(account URL). */
	if (EVP_Digest(account_url, strlen(account_url), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		return DEED_ECRYPTO;
	out[0] = '_';
	base32_lower_10(md, out + 1);
	out[ACCTLABEL_LEN] = '\0';
	return DEED_OK;
}

int
acctlabel_name(const char *account_url, const char *name, char *out, size_t outsz)
{
	char label[ACCTLABEL_LEN + 1];
	size_t n;
	int rc, len;

	if (name == NULL || out == NULL || outsz == 0)
		return DEED_EINVAL;
	n = strlen(name);
	if (n > 0 && name[n - 1] == '.')
		n--;
	if (n == 0)
		return DEED_EINVAL;
	if ((rc = acctlabel_label(account_url, label)) != DEED_OK)
		return rc;
	if (n > NAME_TEXT_MAX)
		return DEED_ETOOBIG;
	len = snprintf(out, outsz, "%s._acme-challenge.%.*s", label, (int)n, name);
	if (len < 0 || (size_t)len >= outsz || len > NAME_TEXT_MAX) {
		out[0] = '\0';
		return DEED_ETOOBIG;
	}
	return DEED_OK;
}
