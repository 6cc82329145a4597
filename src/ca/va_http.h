#pragma once

#include <stdbool.h>

#include "va.h"
#include "va_dns.h"

/*
 * http-01 (RFC 8555 §8.3) with the safety rules of a public CA: addresses resolved once and
 * pinned, reserved ranges refused before any packet, redirects followed by hand within limits,
 * a small response cap.
 */

#define VA_HTTP_MAX_REDIRECTS 10
#define VA_HTTP_MAX_BODY 128

/* True if the address (text form) is in a reserved or special-purpose range; loopback
 * (127.0.0.0/8, ::1) is reserved unless allow_loopback. Unparsable text is reserved. */
bool va_addr_reserved(const char *addr, bool allow_loopback);

void va_http01(struct va_dns *d, const struct va_config *cfg, const struct va_request *req,
	       struct va_result *res);
