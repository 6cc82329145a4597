#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "acme.h"
#include "solver.h"

/*
 * One issuance (RFC 8555 §7.4): order, solve each authorization with the solver, finalize
 * with a new key, download the chain (an alternate one when preferred_chain names its root's
 * issuer CN).
 */

struct issue_opts {
	const char *const *names;
	size_t n_names;
	const char *key_type;        /* ec256 (default), ec384, rsa2048, rsa3072, rsa4096 */
	struct solver *solver;
	const char *preferred_chain; /* issuer CN of the chain's last certificate, or NULL */
	int timeout_s;               /* overall deadline for validation and issuance */
	void (*progress)(void *arg, const char *step, const char *detail);
	void *progress_arg;
};

struct issue_result {
	char *cert_pem;   /* the leaf */
	char *chain_pem;  /* the intermediates */
	char *key_pem;    /* the new private key */
	char *cert_url;
};

/* Kinds of failure, for exit codes. */
enum issue_fail { ISSUE_FAIL_NONE, ISSUE_FAIL_SERVER, ISSUE_FAIL_NETWORK, ISSUE_FAIL_VALIDATION,
		  ISSUE_FAIL_SOLVER, ISSUE_FAIL_LOCAL };

int issue_run(struct acme *a, const char *thumbprint, const char *account_url,
	      const struct issue_opts *o, struct issue_result *res, enum issue_fail *why,
	      char *err, size_t errlen);

void issue_result_cleanup(struct issue_result *r);
