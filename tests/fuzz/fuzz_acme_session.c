#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

/*
 * The client as a whole reads an ACME server's answers: directory, order, authorizations,
 * challenges, problem documents, certificate chains. Its parsing lives inside acme.c's and
 * issue.c's request steps (static), and the fuzz programs link libdeedca only; so both
 * production files are compiled into this program unchanged, with libcurl's transfer
 * replaced by a scripted server whose answers are the fuzz input. Every byte the client
 * parses comes through the same callbacks (on_header, on_body) and the same code as in a
 * real session.
 *
 * Input: one selector byte, then the server's answers in the order the client asks,
 * separated by a line "%%". An answer is a status code line, header lines, an empty line,
 * the body (LF line ends; each header reaches the client with CRLF, in its own buffer).
 *
 * selector bits 0-1: 0 directory (acme_new, then what the client looks up in it)
 *                    1 issuance (acme_new, then issue_run: order, authorizations,
 *                      challenges, polls, finalize, download)
 *                    2 problems (a POST, an order poll, an authorization poll: the messages
 *                      built from problem documents)
 *                    3 chain (download of the certificate URL and its alternates)
 *           bits 2-3: the solver's challenge type (http-01, dns-01, tls-alpn-01,
 *                     dns-persist-01)
 *           bit 4:    a preferred chain ("Pebble Root CA 1") for issuance and chain
 * In modes 2 and 3 the directory is a fixed Pebble one and every answer carries a nonce.
 */

#define SCRIPT_MAX 64
#define CHUNK 16384

struct answer {
	const char *p;
	size_t len;
};

static struct {
	struct answer a[SCRIPT_MAX];
	size_t n, next;
	bool auto_nonce;
	bool nobody;
	long status;
	void *wdata, *hdata;
} fake;

static void fake_setopt(CURLoption opt, uintptr_t v);
static CURLcode fake_perform(void);
static CURLcode fake_getinfo(long *status);
static unsigned fake_sleep(unsigned s);

#undef curl_easy_setopt
#undef curl_easy_getinfo
#define curl_easy_init() ((CURL *)&fake)
#define curl_easy_cleanup(h) ((void)(h))
#define curl_easy_reset(h) ((void)(h))
#define curl_easy_setopt(h, opt, param) fake_setopt((opt), (uintptr_t)(param))
#define curl_easy_perform(h) fake_perform()
#define curl_easy_getinfo(h, info, p) fake_getinfo(p)
/* Polls wait for the server: not here. */
#define sleep(s) fake_sleep(s)

#include "../../src/client/acme.c"
#include "../../src/client/issue.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* solver_dns.c tells a DNS hook the outcome; for any other solver it does nothing. */
void
solver_dns_hook_outcome(struct solver *s, bool ok)
{
	(void)s;
	(void)ok;
}

static void
fake_setopt(CURLoption opt, uintptr_t v)
{
	if (opt == CURLOPT_WRITEDATA)
		fake.wdata = (void *)v;
	else if (opt == CURLOPT_HEADERDATA)
		fake.hdata = (void *)v;
	else if (opt == CURLOPT_NOBODY)
		fake.nobody = v != 0;
}

static CURLcode
fake_getinfo(long *status)
{
	*status = fake.status;
	return CURLE_OK;
}

static unsigned
fake_sleep(unsigned s)
{
	return 0;
}

/* Hand n octets to a callback in a buffer of exactly n octets, as libcurl may. */
static bool
deliver(size_t (*cb)(char *, size_t, size_t, void *), void *arg, const char *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);
	size_t got;

	if (b == NULL)
		return false;
	memcpy(b, p, n);
	got = cb(b, 1, n, arg);
	free(b);
	return got == n;
}

static bool
deliver_header(const char *p, size_t n)
{
	char *b = malloc(n + 2);
	bool ok;

	if (b == NULL)
		return false;
	memcpy(b, p, n);
	memcpy(b + n, "\r\n", 2);
	ok = on_header(b, 1, n + 2, fake.hdata) == n + 2;
	free(b);
	return ok;
}

static CURLcode
fake_perform(void)
{
	const char *p, *end, *nl;
	char status[64];
	size_t n = 0;
	bool nobody = fake.nobody;

	fake.nobody = false; /* each request sets its own */
	if (fake.next >= fake.n)
		return CURLE_COULDNT_CONNECT;
	p = fake.a[fake.next].p;
	end = p + fake.a[fake.next].len;
	fake.next++;
	fake.status = 0;
	while (p + n < end && n < 3 && p[n] >= '0' && p[n] <= '9')
		fake.status = fake.status * 10 + (p[n++] - '0');
	if (n == 0)
		return CURLE_WEIRD_SERVER_REPLY;
	snprintf(status, sizeof(status), "HTTP/1.1 %ld", fake.status);
	if (!deliver_header(status, strlen(status)))
		return CURLE_WRITE_ERROR;
	if (fake.auto_nonce && !deliver_header("Replay-Nonce: fuzz", 18))
		return CURLE_WRITE_ERROR;
	nl = memchr(p, '\n', (size_t)(end - p));
	p = nl != NULL ? nl + 1 : end;
	while (p < end && *p != '\n') {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)((nl != NULL ? nl : end) - p);
		if (!deliver_header(p, n))
			return CURLE_WRITE_ERROR;
		p += n + (nl != NULL);
	}
	if (!deliver_header("", 0))
		return CURLE_WRITE_ERROR;
	if (p < end)
		p++; /* the empty line */
	while (!nobody && p < end) {
		n = (size_t)(end - p) < CHUNK ? (size_t)(end - p) : CHUNK;
		if (!deliver(growbuf_curl_write, fake.wdata, p, n))
			return CURLE_WRITE_ERROR;
		p += n;
	}
	return CURLE_OK;
}

static void
fake_load(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	static const char sep[] = "\n%%\n";

	while (p <= end && fake.n < SCRIPT_MAX) {
		const char *s = memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1);
		const char *stop = s != NULL ? s : end;

		fake.a[fake.n++] = (struct answer){p, (size_t)(stop - p)};
		if (s == NULL)
			break;
		p = s + sizeof(sep) - 1;
	}
}

/* --- the solver: accepts everything, checks what the client hands it ------------------- */

static void
check_str(const char *s, size_t cap)
{
	if (s != NULL && strnlen(s, cap) == cap)
		__builtin_trap();
}

static int
solver_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	(void)s;
	(void)err;
	(void)errlen;
	check_str(c->identifier, 256);
	check_str(c->token, 128);
	check_str(c->key_authz, 256);
	if (c->n_issuers > ISSUERS_MAX)
		__builtin_trap();
	for (size_t i = 0; i < c->n_issuers; i++)
		if (!issuer_name_ok(c->issuers[i]))
			__builtin_trap();
	return DEED_OK;
}

static int
solver_ready(struct solver *s, char *err, size_t errlen)
{
	return DEED_OK;
}

static int
solver_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	return DEED_OK;
}

static const struct solver_ops fake_solver_ops = {
    .present = solver_present, .ready = solver_ready, .cleanup = solver_cleanup};

/* --- the modes --------------------------------------------------------------------------- */

static const char pebble_dir[] =
    "200\n"
    "Content-Type: application/json; charset=utf-8\n"
    "\n"
    "{\"keyChange\":\"https://acme.test/rollover-account-key\","
    "\"meta\":{\"externalAccountRequired\":false,"
    "\"termsOfService\":\"data:text/plain,Do%20what%20thou%20wilt\"},"
    "\"newAccount\":\"https://acme.test/sign-me-up\",\"newNonce\":\"https://acme.test/nonce-plz\","
    "\"newOrder\":\"https://acme.test/order-plz\",\"revokeCert\":\"https://acme.test/"
    "revoke-cert\"}";

static void
look_up_directory(const struct acme *a)
{
	static const char *const names[] = {"newNonce",	  "newAccount", "newOrder",   "newAuthz",
					    "revokeCert", "keyChange",	"renewalInfo"};
	const json_t *meta = acme_meta(a);

	if (acme_dir(a, "newNonce") == NULL || acme_dir(a, "newAccount") == NULL ||
	    acme_dir(a, "newOrder") == NULL)
		__builtin_trap(); /* acme_new promised these */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		(void)acme_dir(a, names[i]);
	(void)json_object_get(meta, "termsOfService");
	(void)djson_str(meta, "termsOfService");
	(void)djson_str(meta, "accountHashPrefix");
}

static void
check_result(const struct issue_result *res)
{
	size_t n;

	if (res->cert_pem == NULL || res->chain_pem == NULL || res->cert_url == NULL ||
	    strncmp(res->cert_pem, "-----BEGIN CERTIFICATE-----", 27) != 0)
		__builtin_trap();
	n = strlen(res->cert_pem);
	if (n == 0 || res->cert_pem[n - 1] != '\n' ||
	    strstr(res->cert_pem, "-----END CERTIFICATE-----") == NULL)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"http-01", "dns-01", "tls-alpn-01", "dns-persist-01"};
	static const char *const names[] = {"example.org", "*.example.org"};
	static struct jwk *key;
	struct solver solver = {.ops = &fake_solver_ops};
	struct issue_opts o = {.names = names, .n_names = 2, .timeout_s = 300, .solver = &solver};
	struct issue_result res;
	struct acme *a = NULL;
	struct acme_resp r;
	struct pending p;
	enum issue_fail why;
	char err[512];
	int mode, rc;

	if (key == NULL && jwk_generate("ec256", &key) != DEED_OK)
		abort();
	if (size == 0)
		return 0;
	memset(&fake, 0, sizeof(fake));
	memset(&res, 0, sizeof(res));
	mode = data[0] & 3;
	solver.type = types[(data[0] >> 2) & 3];
	o.preferred_chain = data[0] & 0x10 ? "Pebble Root CA 1" : NULL;
	if (mode >= 2) {
		fake.a[fake.n++] = (struct answer){pebble_dir, sizeof(pebble_dir) - 1};
		fake.auto_nonce = true;
	}
	fake_load(data + 1, size - 1);
	if (acme_new("https://acme.test/dir", NULL, &a, err, sizeof(err)) != DEED_OK)
		return 0;
	look_up_directory(a);
	acme_set_account(a, key, "https://acme.test/my-account/1");
	switch (mode) {
	case 1:
		rc = issue_run(a, "thumbprint", "https://acme.test/my-account/1", &o, &res, &why,
			       err, sizeof(err));
		check_str(err, sizeof(err));
		if (rc == DEED_OK)
			check_result(&res);
		issue_result_cleanup(&res);
		break;
	case 2:
		snprintf(a->nonce, sizeof(a->nonce), "fuzz");
		if (post_ok(a, "https://acme.test/order-plz", "{}", &r, &why, "new order", err,
			    sizeof(err)) == DEED_OK)
			acme_resp_cleanup(&r);
		check_str(err, sizeof(err));
		memset(&r, 0, sizeof(r));
		if (await_order(a, "https://acme.test/my-order/1", "valid", mono() + 300, &r, &why,
				err, sizeof(err)) == DEED_OK)
			acme_resp_cleanup(&r);
		check_str(err, sizeof(err));
		memset(&p, 0, sizeof(p));
		snprintf(p.authz_url, sizeof(p.authz_url), "https://acme.test/authZ/1");
		snprintf(p.identifier, sizeof(p.identifier), "example.org");
		(void)await_authz(a, &p, mono() + 300, &why, err, sizeof(err));
		check_str(err, sizeof(err));
		break;
	case 3:
		snprintf(a->nonce, sizeof(a->nonce), "fuzz");
		rc = download(a, &o, "https://acme.test/certZ/1", &res, &why, err, sizeof(err));
		if (rc == DEED_OK)
			check_result(&res);
		issue_result_cleanup(&res);
		break;
	default:
		break;
	}
	acme_free(a);
	return 0;
}
