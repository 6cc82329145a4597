#pragma once

#include <stddef.h>

#include <jansson.h>

/*
 * The client's files under DIR:
 *
 *   accounts/<server id>/account.key    account private key (PEM, 0600)
 *   accounts/<server id>/account.json   {"url": account URL, "server": directory URL}
 *   archive/<name>/<n>/{cert,chain,fullchain,privkey}.pem   every version ever issued
 *   live/<name> -> ../archive/<name>/<n>                    symlink to the current version
 *   renewal/<name>.json                  how it was issued, so that renew can repeat it
 *
 * A new version is written completely (each file written to a temporary name, fsync'd,
 * renamed, then the directory fsync'd) before live/<name> is switched to it by an atomic
 * rename of a symlink: a crash or a full disk leaves the previous files in place and live.
 */

/* "https://ca.example/dir" -> "ca.example_dir": a directory name for a server. */
void certstore_server_id(const char *url, char *out, size_t outsz);

/* mkdir -p with mode. Returns DEED_OK or DEED_EIO. */
int certstore_mkdirs(const char *path, int mode);

/* Write data to path atomically (tmp + fsync + rename + fsync dir) with mode. */
int certstore_write_file(const char *path, const char *data, size_t len, int mode, char *err,
			 size_t errlen);

/* Read a whole (small) file; *out is NUL-terminated (caller frees). */
int certstore_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen);

/* Store a new version for name and make it live. fullchain = cert + chain. */
int certstore_install(const char *dir, const char *name, const char *cert_pem,
		      const char *chain_pem, const char *key_pem, char *err, size_t errlen);

int certstore_save_renewal(const char *dir, const char *name, const json_t *conf, char *err,
			   size_t errlen);
int certstore_load_renewal(const char *dir, const char *name, json_t **conf, char *err,
			   size_t errlen);
