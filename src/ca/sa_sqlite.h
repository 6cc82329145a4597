#pragma once

#include <stddef.h>

#include "sa.h"

/*
 * The SQLite driver of the storage interface: a pool of connections to one database file in
 * WAL mode with synchronous=FULL (a commit, and so an acknowledged certificate, is on disk
 * before the call returns), foreign keys on, schema version in PRAGMA user_version and
 * migrated forward at open. The file is created owner-only.
 *
 * Returns DEED_OK; DEED_EINVAL when path is empty or ":memory:" (each pooled connection would
 * get its own database); DEED_EDB when the file cannot be opened, is not a deed-ca database,
 * cannot use WAL, or has a schema newer than this program knows; DEED_ENOMEM. err (may be
 * NULL) gets a one-line reason naming the file.
 */
int sa_sqlite_open(const char *path, struct sa **out, char *err, size_t errlen);
