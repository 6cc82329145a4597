/*
 * The one RFC 2136 update of a dns-persist-01 run: every client's record added in one message
 * before the timed phase, deleted in one at the end. The client's solver_dns (src/client)
 * updates one TXT value per message and offers no delete of an arbitrary value, hence this
 * small copy on ldns's resolver API (which signs with TSIG and checks the signed reply).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <ldns/ldns.h>
#include <openssl/crypto.h>

#include "bench.h"
#include "error.h"
#include "solver.h"

#define KEYFILE_MAX 4096
#define QUERY_TIMEOUT_S 5

/* --- TSIG key file ---------------------------------------------------------------------- */

static int
alg_ldns(const char *in, char out[32])
{
	static const char *const algs[][2] = {
	    {"hmac-sha256", "hmac-sha256."},
	    {"hmac-sha512", "hmac-sha512."},
	    {"hmac-sha1", "hmac-sha1."},
	    {"hmac-md5", "hmac-md5.sig-alg.reg.int."},
	};
	size_t n = strlen(in);

	if (n > 0 && in[n - 1] == '.')
		n--;
	for (size_t i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
		if (strlen(algs[i][0]) == n && strncasecmp(in, algs[i][0], n) == 0) {
			snprintf(out, 32, "%s", algs[i][1]);
			return DEED_OK;
		}
	}
	return DEED_EUNSUPPORTED;
}

/* The word after keyword in s (quotes and a trailing ';' dropped) into out. */
static bool
bind_field(const char *s, const char *keyword, char *out, size_t outsz)
{
	const char *p = strstr(s, keyword);
	size_t n;

	if (p == NULL)
		return false;
	p += strlen(keyword);
	p += strspn(p, " \t\r\n\"");
	n = strcspn(p, " \t\r\n\";{");
	if (n == 0 || n >= outsz)
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

int
bench_dns_tsig_load(const char *path, struct bench_tsig *k, char *err, size_t errlen)
{
	char buf[KEYFILE_MAX + 1], alg[64] = "hmac-sha256", *f[3], *p;
	size_t n = 0;
	FILE *fp;
	int rc = DEED_EMALFORMED;

	memset(k, 0, sizeof(*k));
	if ((fp = fopen(path, "re")) == NULL)
		return deed_fail(DEED_EIO, err, errlen, "cannot open TSIG key file %s: %s", path,
				 strerror(errno));
	n = fread(buf, 1, KEYFILE_MAX, fp);
	fclose(fp);
	buf[n] = '\0';
	p = buf + strspn(buf, " \t\r\n");
	if (strncmp(p, "key", 3) == 0 && (isspace((unsigned char)p[3]) || p[3] == '"')) {
		/* BIND: key "name" { algorithm hmac-sha256; secret "base64"; }; */
		if (!bind_field(p, "key", k->name, sizeof(k->name)) ||
		    !bind_field(p, "algorithm", alg, sizeof(alg)) ||
		    !bind_field(p, "secret", k->secret, sizeof(k->secret)))
			goto bad;
	} else {
		/* Knot: one line "[alg:]name:secret" */
		p[strcspn(p, "\r\n")] = '\0';
		for (n = 0; n < 3 && p != NULL; n++) {
			f[n] = p;
			if ((p = strchr(p, ':')) != NULL)
				*p++ = '\0';
		}
		if (p != NULL || n < 2)
			goto bad;
		snprintf(k->name, sizeof(k->name), "%s", f[n - 2]);
		snprintf(k->secret, sizeof(k->secret), "%s", f[n - 1]);
		if (n == 3)
			snprintf(alg, sizeof(alg), "%s", f[0]);
	}
	if (alg_ldns(alg, k->alg) != DEED_OK) {
		rc = deed_fail(DEED_EUNSUPPORTED, err, errlen,
			       "TSIG key file %s: algorithm %s not supported", path, alg);
		goto out;
	}
	if (k->name[0] == '\0' || k->secret[0] == '\0')
		goto bad;
	rc = DEED_OK;
	goto out;
bad:
	deed_seterr(err, errlen,
		    "TSIG key file %s: neither a BIND key statement nor \"alg:name:secret\"", path);
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (rc != DEED_OK)
		OPENSSL_cleanse(k, sizeof(*k));
	return rc;
}

/* --- transport -------------------------------------------------------------------------- */

static int
resolver_new(const char *server, const struct bench_tsig *key, ldns_resolver **out, char *err,
	     size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	ldns_resolver *r;
	ldns_rdf *addr;
	uint16_t port = 53;
	char why[200];

	*out = NULL;
	if (solver_addr_parse(server, 53, true, &ss, &sslen, why, sizeof(why)) != DEED_OK)
		return deed_fail(DEED_EINVAL, err, errlen, "DNS server %s: %s", server, why);
	if ((r = ldns_resolver_new()) == NULL ||
	    (addr = ldns_sockaddr_storage2rdf(&ss, &port)) == NULL) {
		ldns_resolver_free(r);
		return DEED_ENOMEM;
	}
	ldns_resolver_push_nameserver(r, addr);
	ldns_rdf_deep_free(addr);
	ldns_resolver_set_port(r, port);
	/* TCP: a refused connection is an error at once, and a large update fits. */
	ldns_resolver_set_usevc(r, true);
	ldns_resolver_set_retry(r, 1);
	ldns_resolver_set_timeout(r, (struct timeval){QUERY_TIMEOUT_S, 0});
	if (key != NULL) {
		ldns_resolver_set_tsig_keyname(r, key->name);
		ldns_resolver_set_tsig_algorithm(r, key->alg);
		ldns_resolver_set_tsig_keydata(r, key->secret);
	}
	*out = r;
	return DEED_OK;
}

int
bench_dns_find_zone(const char *server, const char *name, char *zone, size_t zonesz, char *err,
		    size_t errlen)
{
	ldns_resolver *r = NULL;
	const char *n = name;
	int rc;

	if ((rc = resolver_new(server, NULL, &r, err, errlen)) != DEED_OK)
		return rc;
	rc = DEED_ENOTFOUND;
	for (; n != NULL && *n != '\0'; n = strchr(n, '.') ? strchr(n, '.') + 1 : NULL) {
		ldns_rdf *d = ldns_dname_new_frm_str(n);
		ldns_pkt *p;
		ldns_rr_list *soa;

		if (d == NULL)
			break;
		p = ldns_resolver_query(r, d, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0);
		ldns_rdf_deep_free(d);
		if (p == NULL) {
			rc = deed_fail(DEED_EDNS, err, errlen, "SOA query for %s at %s failed", n,
				       server);
			break;
		}
		soa = ldns_pkt_rr_list_by_type(p, LDNS_RR_TYPE_SOA, LDNS_SECTION_ANSWER);
		if (soa != NULL && ldns_rr_list_rr_count(soa) > 0) {
			char *owner = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(soa, 0)));

			if (owner != NULL) {
				size_t len = strlen(owner);

				if (len > 1 && owner[len - 1] == '.')
					owner[len - 1] = '\0';
				snprintf(zone, zonesz, "%s", owner);
				rc = strcasecmp(owner, n) == 0 ? DEED_OK : DEED_ENOTFOUND;
			}
			free(owner);
		}
		ldns_rr_list_deep_free(soa);
		ldns_pkt_free(p);
		if (rc == DEED_OK)
			break;
	}
	if (rc == DEED_ENOTFOUND)
		deed_seterr(err, errlen, "no zone of %s at %s", name, server);
	ldns_resolver_deep_free(r);
	return rc;
}

int
bench_dns_update(const char *server, const struct bench_tsig *key, const char *zone,
		 const char *const *names, const char *const *values, size_t n, int ttl,
		 bool add, char *err, size_t errlen)
{
	ldns_resolver *r = NULL;
	ldns_rr_list *up = NULL;
	ldns_rdf *z = NULL;
	ldns_pkt *q = NULL, *a = NULL;
	ldns_status st;
	char text[2048];
	int rc;

	if ((rc = resolver_new(server, key, &r, err, errlen)) != DEED_OK)
		return rc;
	rc = DEED_ENOMEM;
	if ((up = ldns_rr_list_new()) == NULL)
		goto out;
	for (size_t i = 0; i < n; i++) {
		ldns_rr *rr = NULL;

		/* Our values are printable ASCII without quotes or backslashes
		 * (persist_record_value refuses anything else), and under 255 octets. */
		if (snprintf(text, sizeof(text), "%s. %d IN TXT \"%s\"", names[i], add ? ttl : 0,
			     values[i]) >= (int)sizeof(text) ||
		    ldns_rr_new_frm_str(&rr, text, 0, NULL, NULL) != LDNS_STATUS_OK) {
			rc = deed_fail(DEED_EINVAL, err, errlen, "cannot build TXT %s", names[i]);
			goto out;
		}
		if (!add)
			ldns_rr_set_class(rr, LDNS_RR_CLASS_NONE); /* RFC 2136 §2.5.4 */
		if (!ldns_rr_list_push_rr(up, rr)) {
			ldns_rr_free(rr);
			goto out;
		}
	}
	if ((z = ldns_dname_new_frm_str(zone)) == NULL) {
		rc = deed_fail(DEED_EINVAL, err, errlen, "zone %s is not a DNS name", zone);
		goto out;
	}
	if ((q = ldns_update_pkt_new(z, LDNS_RR_CLASS_IN, NULL, up, NULL)) == NULL)
		goto out;
	z = NULL; /* the packet's now; the update section is a copy of up */
	ldns_pkt_set_random_id(q);
	if (key != NULL && (st = ldns_update_pkt_tsig_add(q, r)) != LDNS_STATUS_OK) {
		rc = deed_fail(DEED_ECRYPTO, err, errlen, "TSIG signing failed: %s",
			       ldns_get_errorstr_by_id(st));
		goto out;
	}
	/* ldns_send checks the reply's TSIG against the request's MAC. */
	if ((st = ldns_send(&a, r, q)) != LDNS_STATUS_OK || a == NULL) {
		rc = deed_fail(DEED_ECONNECT, err, errlen, "DNS update at %s: %s", server,
			       ldns_get_errorstr_by_id(st));
		goto out;
	}
	if (ldns_pkt_get_rcode(a) != LDNS_RCODE_NOERROR) {
		ldns_lookup_table *t =
		    ldns_lookup_by_id(ldns_rcodes, (int)ldns_pkt_get_rcode(a));
		int code = ldns_pkt_get_rcode(a);

		rc = deed_fail(code == LDNS_RCODE_REFUSED || code == LDNS_RCODE_NOTAUTH
				   ? DEED_EDENIED
				   : DEED_EDNS,
			       err, errlen, "DNS update of zone %s at %s: %s", zone, server,
			       t != NULL ? t->name : "error");
		goto out;
	}
	rc = DEED_OK;
out:
	ldns_rr_list_deep_free(up);
	ldns_rdf_deep_free(z);
	ldns_pkt_free(q);
	ldns_pkt_free(a);
	ldns_resolver_deep_free(r);
	return rc;
}
