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
 * Keys are written 0600, the rest 0644, each atomically and never over an existing file; dir is
 * created 0700. name NULL means "deed", listen NULL "127.0.0.1:14443" (IP literal, as in the
 * config). Returns DEED_OK, DEED_EINVAL (bad name or listen), DEED_EIO, DEED_ECONFLICT (one of
 * the files above is already there), DEED_ECRYPTO, DEED_ENOMEM, or sa_open's error for the
 * database. err gets why.
 */
int ca_init(const char *dir, const char *name, const char *listen, char *err, size_t errlen);
