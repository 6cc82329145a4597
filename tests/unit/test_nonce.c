#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "error.h"
#include "nonce.h"

static void
nonce_redeems_once(void **state)
{
	struct nonce_store *ns;
	char n[NONCE_LEN + 1];

	assert_int_equal(nonce_store_new(&ns), DEED_OK);
	assert_int_equal(nonce_issue(ns, n), DEED_OK);
	assert_int_equal(strlen(n), NONCE_LEN);
	assert_int_equal(nonce_redeem(ns, n), DEED_OK);
	assert_int_equal(nonce_redeem(ns, n), DEED_ENOTFOUND);
	nonce_store_free(ns);
}

static void
nonce_forged_or_foreign_refused(void **state)
{
	struct nonce_store *a, *b;
	char n[NONCE_LEN + 1];

	assert_int_equal(nonce_store_new(&a), DEED_OK);
	assert_int_equal(nonce_store_new(&b), DEED_OK);
	assert_int_equal(nonce_issue(a, n), DEED_OK);
	assert_int_equal(nonce_redeem(b, n), DEED_ENOTFOUND); /* another process's key */
	n[5] = n[5] == 'A' ? 'B' : 'A';
	assert_int_equal(nonce_redeem(a, n), DEED_ENOTFOUND); /* MAC no longer fits */
	assert_int_equal(nonce_redeem(a, ""), DEED_ENOTFOUND);
	assert_int_equal(nonce_redeem(a, NULL), DEED_ENOTFOUND);
	assert_int_equal(nonce_redeem(a, "not a nonce at all, far too long for one"),
			 DEED_ENOTFOUND);
	nonce_store_free(a);
	nonce_store_free(b);
}

static void
nonce_older_than_window_refused(void **state)
{
	struct nonce_store *ns;
	char first[NONCE_LEN + 1], later[NONCE_LEN + 1], n[NONCE_LEN + 1];

	assert_int_equal(nonce_store_new(&ns), DEED_OK);
	assert_int_equal(nonce_issue(ns, first), DEED_OK);
	assert_int_equal(nonce_issue(ns, later), DEED_OK);
	for (unsigned i = 0; i < NONCE_WINDOW - 1; i++)
		assert_int_equal(nonce_issue(ns, n), DEED_OK);
	/* first is now NONCE_WINDOW + 1 nonces back, later exactly NONCE_WINDOW. */
	assert_int_equal(nonce_redeem(ns, first), DEED_ENOTFOUND);
	assert_int_equal(nonce_redeem(ns, later), DEED_OK);
	assert_int_equal(nonce_redeem(ns, n), DEED_OK);
	nonce_store_free(ns);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(nonce_redeems_once),
		cmocka_unit_test(nonce_forged_or_foreign_refused),
		cmocka_unit_test(nonce_older_than_window_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
