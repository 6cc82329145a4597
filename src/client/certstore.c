#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "certstore.h"
#include "djson.h"
#include "error.h"
#include "readfile.h"

#define FILE_MAX (1 << 20)

void
certstore_server_id(const char *url, char *out, size_t outsz)
{
	const char *p = strstr(url, "://");
	size_t o = 0;

	p = p != NULL ? p + 3 : url;
	for (; *p != '\0' && o + 1 < outsz; p++)
		out[o++] = (*p == '/' || *p == ':' || *p == '?' || *p == '&') ? '_' : *p;
	while (o > 0 && out[o - 1] == '_')
		o--;
	out[o] = '\0';
}

int
certstore_mkdirs(const char *path, int mode)
{
	char buf[4096];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return DEED_EINVAL;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
			return DEED_EIO;
		*p = '/';
	}
	if (mkdir(buf, (mode_t)mode) != 0 && errno != EEXIST)
		return DEED_EIO;
	return DEED_OK;
}

static int
fsync_dir(const char *path)
{
	char dir[4096];
	char *slash;
	int fd, rc = DEED_OK;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		return DEED_EIO;
	if (fsync(fd) != 0)
		rc = DEED_EIO;
	close(fd);
	return rc;
}

int
certstore_write_file(const char *path, const char *data, size_t len, int mode, char *err,
		     size_t errlen)
{
	char tmp[4200];
	size_t off = 0;
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode)) < 0) {
		deed_seterr(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return DEED_EIO;
	}
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			deed_seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
			goto fail;
		}
		off += (size_t)w;
	}
	if (fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0) {
		deed_seterr(err, errlen, "cannot sync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		deed_seterr(err, errlen, "cannot close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		deed_seterr(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
		goto fail;
	}
	return fsync_dir(path);
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return DEED_EIO;
}

int
certstore_read_file(const char *path, char **out, size_t *len, char *err, size_t errlen)
{
	return deed_read_file(path, FILE_MAX, out, len, err, errlen);
}

/* The next version number: one more than the largest under archive/<name>. */
static int
next_version(const char *archive)
{
	DIR *d = opendir(archive);
	struct dirent *e;
	int max = 0;

	if (d == NULL)
		return 1;
	while ((e = readdir(d)) != NULL) {
		int v = atoi(e->d_name);

		if (v > max)
			max = v;
	}
	closedir(d);
	return max + 1;
}

int
certstore_install(const char *dir, const char *name, const char *cert_pem, const char *chain_pem,
		  const char *key_pem, char *err, size_t errlen)
{
	char archive[4096], version[4200], path[4400], live[4096], link_tmp[4200], target[512];
	size_t cl = strlen(cert_pem), hl = strlen(chain_pem);
	char *full = NULL;
	int v, rc;

	snprintf(archive, sizeof(archive), "%s/archive/%s", dir, name);
	snprintf(live, sizeof(live), "%s/live", dir);
	if (certstore_mkdirs(archive, 0700) != DEED_OK || certstore_mkdirs(live, 0755) != DEED_OK) {
		deed_seterr(err, errlen, "cannot create %s: %s", archive, strerror(errno));
		return DEED_EIO;
	}
	v = next_version(archive);
	snprintf(version, sizeof(version), "%s/%d", archive, v);
	if (mkdir(version, 0700) != 0) {
		deed_seterr(err, errlen, "cannot create %s: %s", version, strerror(errno));
		return DEED_EIO;
	}
	if ((full = malloc(cl + hl + 1)) == NULL)
		return DEED_ENOMEM;
	memcpy(full, cert_pem, cl);
	memcpy(full + cl, chain_pem, hl + 1);
	snprintf(path, sizeof(path), "%s/privkey.pem", version);
	if ((rc = certstore_write_file(path, key_pem, strlen(key_pem), 0600, err, errlen)) != DEED_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/cert.pem", version);
	if ((rc = certstore_write_file(path, cert_pem, cl, 0644, err, errlen)) != DEED_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/chain.pem", version);
	if ((rc = certstore_write_file(path, chain_pem, hl, 0644, err, errlen)) != DEED_OK)
		goto out;
	snprintf(path, sizeof(path), "%s/fullchain.pem", version);
	if ((rc = certstore_write_file(path, full, cl + hl, 0644, err, errlen)) != DEED_OK)
		goto out;
	/* Switch live/<name> to the complete new version in one rename. */
	snprintf(target, sizeof(target), "../archive/%s/%d", name, v);
	snprintf(link_tmp, sizeof(link_tmp), "%s/.%s.%ld", live, name, (long)getpid());
	unlink(link_tmp);
	snprintf(path, sizeof(path), "%s/%s", live, name);
	if (symlink(target, link_tmp) != 0 || rename(link_tmp, path) != 0) {
		deed_seterr(err, errlen, "cannot switch %s to version %d: %s", path, v,
			    strerror(errno));
		unlink(link_tmp);
		rc = DEED_EIO;
		goto out;
	}
	rc = fsync_dir(path);
out:
	if (rc != DEED_OK) {
		/* Leave no half-written version behind; live/<name> still names the old one. */
		static const char *const files[] = {"privkey.pem", "cert.pem", "chain.pem",
						    "fullchain.pem"};

		for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
			snprintf(path, sizeof(path), "%s/%s", version, files[i]);
			unlink(path);
		}
		rmdir(version);
	}
	free(full);
	return rc;
}

int
certstore_save_renewal(const char *dir, const char *name, const json_t *conf, char *err,
		       size_t errlen)
{
	char d[4096], path[4200];
	char *text = djson_dump(conf);
	int rc;

	if (text == NULL)
		return DEED_ENOMEM;
	snprintf(d, sizeof(d), "%s/renewal", dir);
	if (certstore_mkdirs(d, 0700) != DEED_OK) {
		free(text);
		deed_seterr(err, errlen, "cannot create %s", d);
		return DEED_EIO;
	}
	snprintf(path, sizeof(path), "%s/%s.json", d, name);
	rc = certstore_write_file(path, text, strlen(text), 0600, err, errlen);
	free(text);
	return rc;
}

int
certstore_load_renewal(const char *dir, const char *name, json_t **conf, char *err,
		       size_t errlen)
{
	char path[4200], *text = NULL;
	size_t len = 0;
	int rc;

	snprintf(path, sizeof(path), "%s/renewal/%s.json", dir, name);
	if ((rc = certstore_read_file(path, &text, &len, err, errlen)) != DEED_OK)
		return rc;
	rc = djson_parse(text, len, FILE_MAX, conf, err, errlen);
	free(text);
	return rc;
}
