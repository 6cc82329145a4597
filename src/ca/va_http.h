#pragma once

#include <stdbool.h>

#include "va.h"
#include "va_dns.h"

/*
 * http-01 (RFC 8555 §8.3) with the safety rules of a public CA (protocol-notes §8.1):
 * - names are resolved through va_dns (so the configured resolver applies), AAAA and A
 *   together; reserved and special-purpose addresses are dropped before any packet is sent;
 * - libcurl is pinned to the address we checked (it makes no lookup of its own) and a socket
 *   callback refuses any other address as a backstop;
 * - IPv6 first, IPv4 once when the IPv6 connection could not be made;
 * - redirects are followed by hand: at most VA_HTTP_MAX_REDIRECTS, only 301/302/307/308, only
 *   http and https, only ports 80 and 443 (plus cfg->http01_port for http and
 *   cfg->tlsalpn01_port for https, so test set-ups work), each new host resolved and checked
 *   the same way; https targets are not authenticated (RFC 8555 §8.3);
 * - the body is read up to VA_HTTP_MAX_BODY bytes; a longer one fails the challenge.
 * One validationRecord per request: url, hostname, port, addressesResolved, addressUsed,
 * and addressesTried when IPv6 was given up for IPv4.
 */

#define VA_HTTP_MAX_REDIRECTS 10
#define VA_HTTP_MAX_BODY 128
#define VA_HTTP_DIAL_MS 10000 /* per connection attempt */

/* True if the address (text form) is in a reserved or special-purpose range; loopback
 * (127.0.0.0/8, ::1) is reserved unless allow_loopback. Unparsable text is reserved. */
bool va_addr_reserved(const char *addr, bool allow_loopback);

/* http-01 within cfg->timeout_ms. Always fills res. */
void va_http01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	       struct va_result *res);
