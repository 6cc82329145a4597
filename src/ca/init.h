#pragma once

#include <stddef.h>

/*
 * `deed-ca init`: make a new CA in dir (created if missing, must be empty of CA files):
 *   root.pem, root.key            self-signed root (EC P-384), the one file clients trust
 *   intermediate.pem, .key        issuing CA (EC P-256), signed by the root
 *   tls.pem, tls.key              HTTPS certificate for the API (localhost, 127.0.0.1, ::1 and
 *                                 the listen host), signed by the root
 *   deed-ca.conf                  documented defaults
 *   deed-ca.db                    SQLite database with the schema
 * Keys are written 0600. Returns DEED_OK, DEED_EIO, DEED_ECONFLICT (a CA is already there),
 * DEED_ECRYPTO. err gets why.
 */
int ca_init(const char *dir, const char *name, const char *listen, char *err, size_t errlen);
