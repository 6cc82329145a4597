#pragma once

#include <stddef.h>

#include "sa.h"

/*
 * The SQLite driver of the storage interface. WAL journal, synchronous=FULL (a certificate
 * acknowledged to a client is on disk), foreign keys on, schema version in PRAGMA user_version.
 * Returns DEED_OK, DEED_EDB (cannot open, or the schema is newer than this program knows).
 */
int sa_sqlite_open(const char *path, struct sa **out, char *err, size_t errlen);
