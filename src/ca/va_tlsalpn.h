#pragma once

#include <stddef.h>

#include "va.h"
#include "va_dns.h"

/*
 * tls-alpn-01 (RFC 8737) from the CA's side, with the safety rules of http-01
 * (protocol-notes §8.2):
 * - the identifier is resolved by va_http_resolve, so the configured resolver applies and
 *   reserved addresses are dropped before any packet is sent; the address checked is the one
 *   connected to (there is no second lookup);
 * - IPv6 first, IPv4 once when the IPv6 connection could not be made (TCP level only: a
 *   server that answers over IPv6 and fails the challenge is not asked again over IPv4);
 * - TCP connect (at most VA_HTTP_DIAL_MS per attempt) and TLS handshake are non-blocking and
 *   bounded by cfg->timeout_ms, so a silent peer cannot hold a worker;
 * - TLS 1.2 or later, SNI = the identifier, ALPN offered = "acme-tls/1" only, and the server
 *   must select it; the chain is not verified (the certificate is self-signed by design);
 * - the leaf certificate must pass va_tlsalpn_check_cert.
 * One validationRecord: hostname, port, addressesResolved, addressUsed, and addressesTried
 * when IPv6 was given up for IPv4 (as http-01 records them, without a url).
 *
 * OpenSSL writes to the socket with write(2): a peer that resets the connection can raise
 * SIGPIPE, which the program must ignore (deed-ca's main does).
 */

/* RFC 8737 §6.2 and §6.1. */
#define VA_TLSALPN_PROTO "acme-tls/1"
#define VA_TLSALPN_OID "1.3.6.1.5.5.7.1.31" /* id-pe-acmeIdentifier */

/*
 * Check a DER certificate (the leaf the server presented) against the challenge:
 * - exactly one subjectAltName extension, holding exactly one entry: a dNSName equal to
 *   identifier, ASCII case-insensitively (RFC 8737 §3: "no other entries");
 * - exactly one id-pe-acmeIdentifier extension, critical, whose extnValue is the DER OCTET
 *   STRING of SHA-256(key_authz) (04 20 and 32 bytes, nothing after), compared in constant
 *   time (RFC 8737 §3);
 * - self-signed: issuer equal to subject and the signature verifying with the certificate's
 *   own key. RFC 8737 has the client make such a certificate but does not ask the server to
 *   check it; Boulder does, and so do we, so that a certificate from some real CA that
 *   happened to carry the extension is not taken for a challenge response.
 * Other extensions are tolerated. Returns DEED_OK; DEED_EMALFORMED when der is not exactly
 * one certificate; DEED_EDENIED when a rule fails; DEED_ENOMEM, DEED_ECRYPTO. why (may be
 * NULL) gets the reason, fit for a problem detail after "Incorrect validation certificate
 * for tls-alpn-01 challenge: ".
 */
int va_tlsalpn_check_cert(const unsigned char *der, size_t len, const char *identifier,
			  const char *key_authz, char *why, size_t whylen);

/* tls-alpn-01 within cfg->timeout_ms, to port cfg->tlsalpn01_port. Always fills res:
 * PROB_DNS or PROB_CONNECTION (resolution, reserved addresses, TCP, timeouts, a peer that
 * closes), PROB_TLS (handshake refused or broken), PROB_UNAUTHORIZED (acme-tls/1 not
 * selected, wrong certificate), PROB_MALFORMED (identifier unusable). */
void va_tlsalpn01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
		  struct va_result *res);
