#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * A byte buffer that grows up to a limit and is kept NUL-terminated, for bodies received over
 * HTTP (libcurl's write callback below). Zero-initialise, set max, append; the memory stays
 * between uses (growbuf_clear) until growbuf_free.
 */
struct growbuf {
	char *p;      /* p[len] == '\0' once anything was appended or reserved; NULL before */
	size_t len;
	size_t cap;   /* bytes allocated at p */
	size_t max;   /* the most it may hold, not counting the NUL; 0 = no limit */
	bool too_big; /* an append was refused for max */
};

/* Room for n more bytes plus the NUL, at once; DEED_OK, DEED_ETOOBIG (over max) or
 * DEED_ENOMEM. */
int growbuf_reserve(struct growbuf *b, size_t n);

/* Append n bytes. DEED_OK; DEED_ETOOBIG when that would pass max (too_big is then set and
 * nothing is appended); DEED_ENOMEM. */
int growbuf_append(struct growbuf *b, const void *data, size_t n);

/* Empty it (and forget too_big), keeping the memory. */
void growbuf_clear(struct growbuf *b);

/* Release the memory and zero it, keeping max. */
void growbuf_free(struct growbuf *b);

/* A libcurl CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA a struct growbuf *: returns what it
 * took, or 0 (which ends the transfer with CURLE_WRITE_ERROR) when the body passes max or
 * memory runs out; too_big tells the two apart. */
size_t growbuf_curl_write(char *data, size_t size, size_t nmemb, void *arg);
