#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "sa.h"
#include "sa_sqlite.h"

int
sa_open(const char *url, struct sa **out, char *err, size_t errlen)
{
	*out = NULL;
	if (url == NULL || *url == '\0') {
		deed_seterr(err, errlen, "no database given");
		return DEED_EINVAL;
	}
	if (strncmp(url, "sqlite:", 7) == 0)
		return sa_sqlite_open(url + 7, out, err, errlen);
	if (strstr(url, "://") != NULL) {
		deed_seterr(err, errlen, "database \"%s\": unsupported driver", url);
		return DEED_EINVAL;
	}
	return sa_sqlite_open(url, out, err, errlen);
}

void
sa_account_cleanup(struct sa_account *a)
{
	if (a == NULL)
		return;
	free(a->jwk_json);
	free(a->contact_json);
	memset(a, 0, sizeof(*a));
}

void
sa_chall_cleanup(struct sa_chall *c)
{
	if (c == NULL)
		return;
	free(c->error_json);
	free(c->record_json);
	memset(c, 0, sizeof(*c));
}

void
sa_authz_cleanup(struct sa_authz *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->n_challs; i++)
		sa_chall_cleanup(&a->challs[i]);
	free(a->challs);
	memset(a, 0, sizeof(*a));
}

void
sa_order_cleanup(struct sa_order *o)
{
	if (o == NULL)
		return;
	for (size_t i = 0; i < o->n_identifiers; i++)
		free(o->identifiers[i]);
	free(o->identifiers);
	free(o->authz_ids);
	free(o->error_json);
	memset(o, 0, sizeof(*o));
}

void
sa_validation_cleanup(struct sa_validation *v)
{
	if (v == NULL)
		return;
	free(v->problem_json);
	free(v->records_json);
	memset(v, 0, sizeof(*v));
}

void
sa_cert_cleanup(struct sa_cert *c)
{
	if (c == NULL)
		return;
	free(c->tbs_der);
	free(c->der);
	memset(c, 0, sizeof(*c));
}

static const char *const acct_names[] = {"valid", "deactivated", "revoked"};
static const char *const order_names[] = {"pending", "processing", "valid", "invalid"};
static const char *const authz_names[] = {"pending", "valid", "invalid", "deactivated",
					  "revoked"};
static const char *const chall_names[] = {"pending", "processing", "valid", "invalid"};

#define NAME(tbl, s) ((size_t)(s) < sizeof(tbl) / sizeof(tbl[0]) ? tbl[s] : "unknown")

const char *
sa_acct_status_str(enum sa_acct_status s)
{
	return NAME(acct_names, s);
}

const char *
sa_order_status_str(enum sa_order_status s)
{
	return NAME(order_names, s);
}

const char *
sa_authz_status_str(enum sa_authz_status s)
{
	return NAME(authz_names, s);
}

const char *
sa_chall_status_str(enum sa_chall_status s)
{
	return NAME(chall_names, s);
}
