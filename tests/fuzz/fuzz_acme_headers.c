#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/*
 * The fuzz programs link libdeedca, not the client library, and the header parser is
 * acme.c's curl callback (static): compile the production file into this program as is.
 */
#include "../../src/client/acme.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_str(const char *s, size_t cap)
{
	if (strnlen(s, cap) == cap)
		__builtin_trap();
}

/*
 * The response headers of one ACME reply, one header per line (LF), each handed to the
 * client's header callback as libcurl does: in its own buffer of exactly that line with CRLF
 * and no NUL, so that a read past the line is caught. Then what the client reads back:
 * the Replay-Nonce, Location, Retry-After and Link rel="alternate"/"up" (RFC 8555 §7.4.2,
 * §7.5.1, §8.2, §6.5).
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct acme a;
	struct acme_resp r;
	struct rx x = {.a = &a, .r = &r};
	const uint8_t *p = data, *end = data + size;
	const char *u;
	size_t from, n = 0;

	memset(&a, 0, sizeof(a));
	memset(&r, 0, sizeof(r));
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = (size_t)((nl != NULL ? nl : end) - p);
		char *line = malloc(len + 2);

		if (line == NULL)
			return 0;
		memcpy(line, p, len);
		memcpy(line + len, "\r\n", 2);
		if (on_header(line, 1, len + 2, &x) != len + 2)
			__builtin_trap();
		free(line);
		p += len + 1;
	}
	check_str(a.nonce, sizeof(a.nonce));
	check_str(r.location, sizeof(r.location));
	check_str(r.content_type, sizeof(r.content_type));
	if (r.n_links > ACME_MAX_LINKS)
		__builtin_trap();
	for (size_t i = 0; i < r.n_links; i++) {
		check_str(r.links[i].rel, sizeof(r.links[i].rel));
		check_str(r.links[i].url, sizeof(r.links[i].url));
	}
	/* Every link of a rel is found once, in order, and the walk ends. */
	for (const char *rel = "alternate"; rel != NULL; rel = rel[0] == 'a' ? "up" : NULL) {
		size_t want = 0;

		for (size_t i = 0; i < r.n_links; i++)
			want += strcmp(r.links[i].rel, rel) == 0;
		from = 0;
		n = 0;
		while ((u = acme_link(&r, rel, &from)) != NULL) {
			if (++n > want || u < r.links[0].url || u > r.links[ACME_MAX_LINKS - 1].url)
				__builtin_trap();
		}
		if (n != want)
			__builtin_trap();
	}
	(void)acme_link(&r, "up", NULL);
	acme_resp_cleanup(&r);
	return 0;
}
