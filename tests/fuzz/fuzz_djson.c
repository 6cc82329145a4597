#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "djson.h"
#include "error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whatever parses must dump to JSON that parses again to the same canonical dump. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *v = NULL, *v2 = NULL;
	char *s = NULL, *s2 = NULL;

	if (djson_parse((const char *)data, size, 64 * 1024, &v, NULL, 0) == DEED_OK) {
		if ((s = djson_dump(v)) == NULL ||
		    djson_parse(s, strlen(s), SIZE_MAX, &v2, NULL, 0) != DEED_OK ||
		    (s2 = djson_dump(v2)) == NULL || strcmp(s, s2) != 0)
			abort();
	}
	free(s2);
	free(s);
	json_decref(v2);
	json_decref(v);
	return 0;
}
