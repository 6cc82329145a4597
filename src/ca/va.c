#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "va.h"
#include "va_dns.h"
#include "va_http.h"

struct va {
	struct va_config cfg;
	char *resolver;
	struct va_dns *dns;
};

int
va_new(const struct va_config *cfg, struct va **out, char *err, size_t errlen)
{
	struct va *va;
	int rc;

	*out = NULL;
	if ((va = calloc(1, sizeof(*va))) == NULL)
		return DEED_ENOMEM;
	va->cfg = *cfg;
	if (cfg->resolver != NULL && (va->resolver = strdup(cfg->resolver)) == NULL) {
		free(va);
		return DEED_ENOMEM;
	}
	va->cfg.resolver = va->resolver;
	va->cfg.trust_anchor_file = NULL; /* only va_dns keeps it */
	if (va->cfg.timeout_ms <= 0)
		va->cfg.timeout_ms = 30000;
	rc = va_dns_new(cfg->resolver, cfg->trust_anchor_file, &va->dns, err, errlen);
	if (rc != DEED_OK) {
		va_free(va);
		return rc;
	}
	*out = va;
	return DEED_OK;
}

void
va_free(struct va *va)
{
	if (va == NULL)
		return;
	va_dns_free(va->dns);
	free(va->resolver);
	free(va);
}

int
va_validate(struct va *va, const struct va_request *req, struct va_result *res)
{
	memset(res, 0, sizeof(*res));
	if (strcmp(req->type, "dns-01") == 0) {
		va_dns01(va->dns, req, res);
		return DEED_OK;
	}
	if (strcmp(req->type, "http-01") == 0 && !req->wildcard) {
		va_http01(va->dns, &va->cfg, req, res);
		return DEED_OK;
	}
	res->prob = PROB_MALFORMED;
	deed_seterr(res->detail, sizeof(res->detail), "challenge type %s cannot be validated here",
		    req->type);
	return DEED_EUNSUPPORTED;
}

void
va_result_cleanup(struct va_result *res)
{
	if (res == NULL)
		return;
	json_decref(res->records);
	res->records = NULL;
}
