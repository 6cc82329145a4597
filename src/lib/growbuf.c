#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "growbuf.h"

int
growbuf_reserve(struct growbuf *b, size_t n)
{
	size_t need, cap;
	char *np;

	if (n > SIZE_MAX - 1 - b->len || (b->max != 0 && b->len + n > b->max))
		return DEED_ETOOBIG;
	need = b->len + n + 1;
	if (need <= b->cap)
		return DEED_OK;
	/* Double, so appending a body in many pieces copies it a bounded number of times. */
	cap = b->cap > 0 ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->max != 0 && cap > b->max + 1)
		cap = b->max + 1;
	if ((np = realloc(b->p, cap)) == NULL)
		return DEED_ENOMEM;
	b->p = np;
	b->cap = cap;
	b->p[b->len] = '\0';
	return DEED_OK;
}

int
growbuf_append(struct growbuf *b, const void *data, size_t n)
{
	int rc = growbuf_reserve(b, n);

	if (rc == DEED_ETOOBIG)
		b->too_big = true;
	if (rc != DEED_OK)
		return rc;
	if (n > 0)
		memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return DEED_OK;
}

void
growbuf_clear(struct growbuf *b)
{
	b->len = 0;
	b->too_big = false;
	if (b->p != NULL)
		b->p[0] = '\0';
}

void
growbuf_free(struct growbuf *b)
{
	size_t max = b->max;

	free(b->p);
	memset(b, 0, sizeof(*b));
	b->max = max;
}

size_t
growbuf_curl_write(char *data, size_t size, size_t nmemb, void *arg)
{
	size_t n = size * nmemb; /* libcurl: size is always 1 */

	return growbuf_append(arg, data, n) == DEED_OK ? n : 0;
}
