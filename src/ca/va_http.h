#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

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

/* Milliseconds of CLOCK_MONOTONIC: the clock of every deadline below. */
int64_t va_http_now_ms(void);

/* Where a validation may connect: the first usable address of each family. */
struct va_http_addrs {
	char v6[INET6_ADDRSTRLEN]; /* first usable AAAA, or "" */
	char v4[INET6_ADDRSTRLEN]; /* first usable A, or "" */
};

/*
 * The addresses to connect to for host (a name, resolved AAAA and A together through d, or an
 * IP literal, not looked up), reserved ones dropped (va_addr_reserved). Shared by http-01 and
 * tls-alpn-01 so that both refuse exactly the same destinations. The caller tries out->v6
 * first and falls back to out->v4 only when the IPv6 connection could not be made. Sets
 * "addressesResolved" (every address seen, reserved ones too) in rec. deadline is in
 * va_http_now_ms() time.
 * Returns true with at least one of out->v6, out->v4 set; false with res->prob (PROB_DNS,
 * PROB_CONNECTION for reserved-only, PROB_SERVER_INTERNAL) and res->detail filled.
 */
bool va_http_resolve(struct va_dns *d, const char *host, bool allow_loopback, int64_t deadline,
		     struct va_http_addrs *out, json_t *rec, struct va_result *res);

/* http-01 within cfg->timeout_ms. Always fills res. */
void va_http01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	       struct va_result *res);
