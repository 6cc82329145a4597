#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "error.h"

/*
 * config_parse over arbitrary bytes. Beyond not crashing: whatever parses must be written by
 * config_format as a file that parses back to the very same text, or `deed-ca init` could write
 * a config that `deed-ca serve` then refuses or reads differently.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ca_config c, back;
	char err[256], url[512];
	char *t1 = NULL, *t2 = NULL;
	size_t n1 = 0, n2 = 0;

	if (config_defaults(&c, "/fuzz") != DEED_OK)
		return 0;
	if (config_parse(&c, (const char *)data, size, err, sizeof(err)) == DEED_OK) {
		(void)config_base_url(&c, url, sizeof(url));
		if (config_format(&c, &t1, &n1) == DEED_OK &&
		    config_defaults(&back, "/fuzz") == DEED_OK) {
			if (config_parse(&back, t1, n1, err, sizeof(err)) != DEED_OK)
				abort();
			if (config_format(&back, &t2, &n2) != DEED_OK || n1 != n2 ||
			    memcmp(t1, t2, n1) != 0)
				abort();
			config_cleanup(&back);
		}
	}
	free(t1);
	free(t2);
	config_cleanup(&c);
	return 0;
}
