#include <stdarg.h>
#include <stdio.h>

#include "error.h"

static void vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
vseterr(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err != NULL && errlen > 0)
		vsnprintf(err, errlen, fmt, ap);
}

void
deed_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(err, errlen, fmt, ap);
	va_end(ap);
}

int
deed_fail(int rc, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vseterr(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

const char *
deed_strerror(int err)
{
	switch (err) {
	case DEED_OK: return "success";
	case DEED_ENOMEM: return "out of memory";
	case DEED_EINVAL: return "invalid argument";
	case DEED_EMALFORMED: return "malformed input";
	case DEED_ETOOBIG: return "input too large";
	case DEED_EBADSIG: return "bad signature";
	case DEED_EBADALG: return "algorithm not accepted";
	case DEED_EBADKEY: return "key refused";
	case DEED_ECRYPTO: return "cryptographic library failure";
	case DEED_ENOTFOUND: return "not found";
	case DEED_ECONFLICT: return "conflict";
	case DEED_EDB: return "storage failure";
	case DEED_EIO: return "I/O error";
	case DEED_EDNS: return "DNS lookup failed";
	case DEED_ECONNECT: return "connection failed";
	case DEED_ETIMEOUT: return "timed out";
	case DEED_ETLS: return "TLS failure";
	case DEED_EDENIED: return "denied by policy";
	case DEED_EUNSUPPORTED: return "not supported";
	case DEED_ESTATE: return "wrong state";
	}
	return "unknown error";
}
