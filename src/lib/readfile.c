#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "readfile.h"

int
deed_read_file(const char *path, size_t max, char **out, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rbe");
	char *buf = NULL, *nb;
	size_t n = 0, cap = 0, r;
	int rc = DEED_OK;

	*out = NULL;
	if (len != NULL)
		*len = 0;
	if (f == NULL) {
		deed_seterr(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return errno == ENOENT ? DEED_ENOTFOUND : DEED_EIO;
	}
	for (;;) {
		if (cap - n < 2) { /* room for one more byte and the NUL */
			/* Never more than max + 1 bytes: reading one past max tells a file of
			 * exactly max bytes from a longer one. */
			cap = cap == 0 ? 8192 : cap * 2;
			if (cap > max + 2)
				cap = max + 2;
			if ((nb = realloc(buf, cap)) == NULL) {
				rc = DEED_ENOMEM;
				break;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - 1 - n, f);
		n += r;
		if (n > max) {
			rc = DEED_ETOOBIG;
			deed_seterr(err, errlen, "%s is larger than %zu bytes", path, max);
			break;
		}
		if (r == 0)
			break;
	}
	if (rc == DEED_OK && ferror(f)) {
		rc = DEED_EIO;
		deed_seterr(err, errlen, "cannot read %s", path);
	}
	fclose(f);
	if (rc != DEED_OK) {
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	if (len != NULL)
		*len = n;
	return DEED_OK;
}
