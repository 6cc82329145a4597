#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "error.h"
#include "readfile.h"

/* deed_read_file: whole small files, with a cap. */

static char dir[] = "/tmp/deed-test-readfile.XXXXXX";

static void
write_bytes(const char *path, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		fputc('a' + (int)(i % 26), f);
	assert_int_equal(fclose(f), 0);
}

static void
test_reads_whole_file_up_to_the_cap(void **state)
{
	char path[64], *buf = NULL, err[128] = "";
	size_t len = 1;
	size_t sizes[] = {0, 1, 8190, 8191, 8192, 20000};

	(void)state;
	snprintf(path, sizeof(path), "%s/f", dir);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		write_bytes(path, sizes[k]);
		/* exactly at the cap: read */
		assert_int_equal(deed_read_file(path, sizes[k], &buf, &len, err, sizeof(err)),
				 DEED_OK);
		assert_int_equal(len, sizes[k]);
		assert_int_equal(strlen(buf), sizes[k]);
		for (size_t i = 0; i < len; i++)
			assert_int_equal(buf[i], 'a' + (int)(i % 26));
		free(buf);
		/* one byte over the cap: refused, nothing returned */
		if (sizes[k] > 0) {
			buf = (char *)1;
			assert_int_equal(deed_read_file(path, sizes[k] - 1, &buf, &len, err,
							sizeof(err)),
					 DEED_ETOOBIG);
			assert_null(buf);
			assert_non_null(strstr(err, path));
		}
	}
	unlink(path);
}

static void
test_missing_file_is_not_found(void **state)
{
	char path[64], *buf = NULL, err[128] = "";

	(void)state;
	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(deed_read_file(path, 100, &buf, NULL, err, sizeof(err)), DEED_ENOTFOUND);
	assert_null(buf);
	assert_non_null(strstr(err, "missing"));
}

static void
test_directory_is_an_error(void **state)
{
	char *buf = NULL;

	(void)state;
	assert_int_not_equal(deed_read_file(dir, 100, &buf, NULL, NULL, 0), DEED_OK);
	assert_null(buf);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	return rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reads_whole_file_up_to_the_cap),
	    cmocka_unit_test(test_missing_file_is_not_found),
	    cmocka_unit_test(test_directory_is_an_error),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
