#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unbound.h>

#include "acctlabel.h"
#include "b64url.h"
#include "error.h"
#include "va_dns.h"

#define MAX_BATCH 16 /* lookups of one va_dns_lookup_many */

/*
 * Resolver contexts are pooled: setting one up costs about a millisecond and a half of CPU
 * (configuration, modules, caches, the worker thread), ten times a lookup. A context goes back
 * to the pool only when every query it was given has been answered; it is retired after
 * POOL_USES batches or POOL_AGE_MS, so that a replaced anchor file or resolv.conf is read
 * again within a minute.
 */
#define POOL_MAX 64
#define POOL_USES 2000
#define POOL_AGE_MS 60000

struct pooled {
	struct ub_ctx *ctx;
	int64_t born; /* now_ms() at creation */
	int uses;
};

struct va_dns {
	char fwd[INET6_ADDRSTRLEN + 8]; /* "ADDR@PORT"; "" = the servers of /etc/resolv.conf */
	char *ta_file;
	pthread_mutex_t pool_lock;
	struct pooled idle[POOL_MAX];
	size_t n_idle;
};

/*
 * libunbound keeps process-wide state that every context's creation, set-up and deletion
 * writes (log destination, TTL limits, some locks it initialises and destroys). Lookups run
 * concurrently; only those three steps take this lock. It is the one piece of global state
 * here, and it guards the library's, not ours.
 */
static pthread_mutex_t ub_setup_lock = PTHREAD_MUTEX_INITIALIZER;

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *
va_dnssec_str(enum va_dnssec s)
{
	return s == VA_DNSSEC_SECURE ? "secure" : s == VA_DNSSEC_BOGUS ? "bogus" : "insecure";
}

const char *
va_dns_rcode_str(int rcode)
{
	switch (rcode) {
	case 0:
		return "NOERROR";
	case 1:
		return "FORMERR";
	case 2:
		return "SERVFAIL";
	case 3:
		return "NXDOMAIN";
	case 4:
		return "NOTIMP";
	case 5:
		return "REFUSED";
	}
	return "an unexpected rcode";
}

const char *
va_dns_type_str(int rrtype)
{
	switch (rrtype) {
	case VA_DNS_A:
		return "A";
	case VA_DNS_CNAME:
		return "CNAME";
	case VA_DNS_TXT:
		return "TXT";
	case VA_DNS_AAAA:
		return "AAAA";
	case VA_DNS_CAA:
		return "CAA";
	}
	return "a record";
}

/*
 * "ADDR", "ADDR@PORT", "IPV4:PORT" or "[IPV6]:PORT" into libunbound's "ADDR@PORT". The address
 * must be a literal: the resolver is what names are looked up with.
 */
static int
parse_resolver(const char *in, char *out, size_t outsz)
{
	char addr[INET6_ADDRSTRLEN + 2];
	const char *port = "53", *end, *sep;
	uint8_t bin[16];
	size_t alen;
	char *stop;
	long p;

	if (in[0] == '[') {
		if ((end = strchr(in, ']')) == NULL || (end[1] != '\0' && end[1] != ':'))
			return DEED_EINVAL;
		if (end[1] == ':')
			port = end + 2;
		in++;
		alen = (size_t)(end - in);
	} else if ((sep = strchr(in, '@')) != NULL ||
		   /* one colon: IPv4 and a port (IPv6 has two or more) */
		   ((sep = strchr(in, ':')) != NULL && strchr(sep + 1, ':') == NULL)) {
		alen = (size_t)(sep - in);
		port = sep + 1;
	} else {
		alen = strlen(in);
	}
	if (alen == 0 || alen >= sizeof(addr))
		return DEED_EINVAL;
	memcpy(addr, in, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) != 1 && inet_pton(AF_INET6, addr, bin) != 1)
		return DEED_EINVAL;
	errno = 0;
	p = strtol(port, &stop, 10);
	if (port[0] < '0' || port[0] > '9' || *stop != '\0' || errno != 0 || p < 1 || p > 65535)
		return DEED_EINVAL;
	snprintf(out, outsz, "%s@%ld", addr, p);
	return DEED_OK;
}

/*
 * A finalized resolver context for one lookup (or one batch). log: where libunbound's own
 * messages go; NULL silences them (library code does not print). On failure *step names the
 * setting libunbound refused.
 */
static int
ctx_open(const struct va_dns *d, FILE *log, struct ub_ctx **out, const char **step)
{
	struct ub_ctx *ctx;
	int u = 0;

	*out = NULL;
	*step = "options";
	pthread_mutex_lock(&ub_setup_lock);
	if ((ctx = ub_ctx_create()) == NULL) {
		pthread_mutex_unlock(&ub_setup_lock);
		return UB_NOMEM;
	}
	ub_ctx_debugout(ctx, log);
	/* The configured resolver is on loopback in tests and often in production (a local
	 * validating resolver, systemd-resolved's 127.0.0.53); libunbound refuses loopback by
	 * default. Only forwarders are ever queried, so this opens nothing else. */
	if ((u = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
		goto out;
	/* No answer outlives its lookup: every RRset and negative answer expires at once, so a
	 * record removed or published a moment ago is seen as it is now, though the context
	 * lives on in the pool. serve-original-ttl keeps the TTL the server sent in the answer
	 * (dns-persist-01 reuse is capped by it) instead of that zero. */
	if ((u = ub_ctx_set_option(ctx, "cache-max-ttl:", "0")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "cache-max-negative-ttl:", "0")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "serve-original-ttl:", "yes")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "msg-cache-size:", "256k")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "rrset-cache-size:", "256k")) != 0)
		goto out;
	/* Threads, not the default fork(), for the background worker that lets us wait with
	 * a deadline (ub_resolve itself has none). */
	if ((u = ub_ctx_async(ctx, 1)) != 0)
		goto out;
	*step = d->fwd[0] != '\0' ? d->fwd : "/etc/resolv.conf";
	if (d->fwd[0] != '\0')
		u = ub_ctx_set_fwd(ctx, d->fwd);
	else
		u = ub_ctx_resolvconf(ctx, NULL);
	if (u != 0) {
		u = UB_SYNTAX; /* ub_ctx_resolvconf returns an errno, not a UB_ code */
		goto out;
	}
	*step = d->ta_file != NULL ? d->ta_file : "set-up";
	if (d->ta_file != NULL && (u = ub_ctx_add_ta_file(ctx, d->ta_file)) != 0)
		goto out;
	/* RFC 6761 §6.2: "test." is never delegated, so no chain of trust reaches names under
	 * it from the root's anchor, and with that anchor every lab and test answer would be
	 * bogus. Treat it as unsigned. An anchor in the file for a zone below it still wins
	 * (libunbound: a trust anchor overrides domain-insecure), so a signed zone under .test
	 * whose DS or DNSKEY is in the file validates secure. */
	if (d->ta_file != NULL && (u = ub_ctx_set_option(ctx, "domain-insecure:", "test.")) != 0)
		goto out;
	/* libunbound answers RFC 6761's "test." itself (NXDOMAIN for every name under it). Let
	 * the resolver answer names below it, so that lab and test zones under .test resolve,
	 * but answer "test." itself here: it is never delegated, so it has no records, and a
	 * forwarder authoritative only for a zone below it would refuse the CAA lookup that
	 * climbs there. This also finalizes the context (and loads the trust anchors) while
	 * we hold the lock. */
	if ((u = ub_ctx_zone_add(ctx, "test.", "transparent")) != 0)
		goto out;
	u = ub_ctx_data_add(ctx, "test. 86400 IN SOA localhost. nobody.invalid. 1 3600 1200 "
				 "604800 86400");
out:
	if (u != 0) {
		ub_ctx_delete(ctx);
		ctx = NULL;
	}
	pthread_mutex_unlock(&ub_setup_lock);
	*out = ctx;
	return u;
}

static void
ctx_close(struct ub_ctx *ctx)
{
	if (ctx == NULL)
		return;
	pthread_mutex_lock(&ub_setup_lock);
	ub_ctx_delete(ctx); /* also stops the worker thread and drops unanswered queries */
	pthread_mutex_unlock(&ub_setup_lock);
}

/* A context from the pool, or a new one. */
static int
ctx_get(struct va_dns *d, struct pooled *out)
{
	const char *step;

	pthread_mutex_lock(&d->pool_lock);
	if (d->n_idle > 0) {
		*out = d->idle[--d->n_idle];
		pthread_mutex_unlock(&d->pool_lock);
		return 0;
	}
	pthread_mutex_unlock(&d->pool_lock);
	memset(out, 0, sizeof(*out));
	out->born = now_ms();
	return ctx_open(d, NULL, &out->ctx, &step);
}

/* Back to the pool if clean (no query left unanswered, whose callback could still fire) and
 * not due for retirement; else deleted. */
static void
ctx_put(struct va_dns *d, struct pooled *p, bool clean)
{
	if (p->ctx == NULL)
		return;
	p->uses++;
	if (clean && p->uses < POOL_USES && now_ms() - p->born < POOL_AGE_MS) {
		pthread_mutex_lock(&d->pool_lock);
		if (d->n_idle < POOL_MAX) {
			d->idle[d->n_idle++] = *p;
			p->ctx = NULL;
		}
		pthread_mutex_unlock(&d->pool_lock);
	}
	ctx_close(p->ctx);
	p->ctx = NULL;
}

/* The first thing libunbound logged (the cause; later lines repeat the consequences), without
 * its "[time] libunbound[pid:tid] error: " prefix. */
static const char *
first_reason(char *log)
{
	char *p;

	if (log == NULL)
		return "";
	if ((p = strchr(log, '\n')) != NULL)
		*p = '\0';
	if ((p = strstr(log, "error: ")) != NULL)
		return p + 7;
	return log;
}

/*
 * The anchor file, checked before libunbound reads it: libunbound loops for ever on a
 * directory, and takes a file without an anchor (empty, all comments) as "validate nothing",
 * which would turn DNSSEC off without a word. A line holds an anchor when one of its fields,
 * before any ';' comment, is the type DS or DNSKEY (base64 and hex never contain blanks).
 */
static int
ta_file_check(const char *path, char *err, size_t errlen)
{
	char line[1024], *tok, *save;
	struct stat st;
	bool found = false;
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		deed_seterr(err, errlen, "DNSSEC trust anchors %s: %s", path, strerror(errno));
		return DEED_EINVAL;
	}
	if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
		fclose(f);
		deed_seterr(err, errlen, "DNSSEC trust anchors %s: not a regular file", path);
		return DEED_EINVAL;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, ";")] = '\0';
		for (tok = strtok_r(line, " \t\r\n()", &save); tok != NULL && !found;
		     tok = strtok_r(NULL, " \t\r\n()", &save))
			found = strcasecmp(tok, "DS") == 0 || strcasecmp(tok, "DNSKEY") == 0;
	}
	fclose(f);
	if (!found)
		deed_seterr(err, errlen, "DNSSEC trust anchors %s: no DS or DNSKEY record", path);
	return found ? DEED_OK : DEED_EINVAL;
}

int
va_dns_new(const char *resolver, const char *trust_anchor_file, struct va_dns **out, char *err,
	   size_t errlen)
{
	struct va_dns *d;
	struct ub_ctx *probe = NULL;
	const char *step = "";
	char *logbuf = NULL;
	size_t loglen = 0;
	FILE *log = NULL;
	int rc = DEED_ENOMEM, u;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		goto out;
	pthread_mutex_init(&d->pool_lock, NULL);
	if (resolver != NULL && resolver[0] != '\0' &&
	    parse_resolver(resolver, d->fwd, sizeof(d->fwd)) != DEED_OK) {
		rc = DEED_EINVAL;
		deed_seterr(
		    err, errlen,
		    "DNS resolver \"%.64s\": want ADDR, ADDR@PORT, IPV4:PORT or [IPV6]:PORT",
		    resolver);
		goto out;
	}
	if (trust_anchor_file != NULL && trust_anchor_file[0] != '\0') {
		if ((rc = ta_file_check(trust_anchor_file, err, errlen)) != DEED_OK)
			goto out;
		rc = DEED_ENOMEM;
		if ((d->ta_file = strdup(trust_anchor_file)) == NULL)
			goto out;
	}
	/* Set up one context now, so that a bad anchor file or an unreadable resolv.conf is
	 * reported at start, with libunbound's reason, rather than at every validation. */
	if ((log = open_memstream(&logbuf, &loglen)) == NULL)
		goto out;
	if ((u = ctx_open(d, log, &probe, &step)) != 0) {
		rc = u == UB_NOMEM ? DEED_ENOMEM : DEED_EINVAL;
		fflush(log);
		deed_seterr(err, errlen, "%s (%s): %s%s%s",
			    step == d->ta_file ? "DNSSEC trust anchors" : "DNS resolver", step,
			    ub_strerror(u), loglen ? ": " : "", first_reason(logbuf));
		goto out;
	}
	*out = d;
	d = NULL;
	rc = DEED_OK;
out:
	ctx_close(probe);
	if (log != NULL)
		fclose(log);
	free(logbuf);
	va_dns_free(d);
	return rc;
}

void
va_dns_free(struct va_dns *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_idle; i++)
		ctx_close(d->idle[i].ctx);
	pthread_mutex_destroy(&d->pool_lock);
	free(d->ta_file);
	free(d);
}

void
va_dns_answer_cleanup(struct va_dns_answer *ans)
{
	if (ans == NULL)
		return;
	for (size_t i = 0; i < ans->n; i++)
		free(ans->rr[i]);
	memset(ans, 0, sizeof(*ans));
}

/* One TXT RR's character-strings joined (RFC 8555 §8.4 compares the whole value). */
static char *
txt_join(const uint8_t *p, size_t len, size_t *outlen)
{
	char *out = malloc(len + 1);
	size_t o = 0, i = 0;

	if (out == NULL)
		return NULL;
	while (i < len) {
		size_t l = p[i++];

		if (l > len - i) /* libunbound checked the wire form; stay inside it anyway */
			l = len - i;
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static char *
rdata_text(const uint8_t *p, size_t len, int rrtype, size_t *outlen)
{
	char *v;

	if (rrtype == VA_DNS_TXT)
		return txt_join(p, len, outlen);
	if ((rrtype == VA_DNS_A && len == 4) || (rrtype == VA_DNS_AAAA && len == 16)) {
		if ((v = malloc(INET6_ADDRSTRLEN)) == NULL)
			return NULL;
		inet_ntop(rrtype == VA_DNS_A ? AF_INET : AF_INET6, p, v, INET6_ADDRSTRLEN);
		*outlen = strlen(v);
		return v;
	}
	if ((v = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(v, p, len);
	v[len] = '\0';
	*outlen = len;
	return v;
}

/* Copy what the caller needs out of libunbound's result. */
/* Skip a possibly compressed domain name at pkt[*off]; false when it runs past len. */
static bool
skip_name(const uint8_t *pkt, size_t len, size_t *off)
{
	while (*off < len) {
		uint8_t l = pkt[*off];

		if (l == 0) {
			(*off)++;
			return true;
		}
		if ((l & 0xc0) == 0xc0) { /* a pointer ends the name */
			*off += 2;
			return *off <= len;
		}
		if ((l & 0xc0) != 0)
			return false;
		*off += 1 + (size_t)l;
	}
	return false;
}

/*
 * The TTL of the rrtype RRs in the answer section, as the server sent it (the lowest, should
 * they differ). libunbound's own ttl field reports what its cache keeps, which is nothing
 * here; the packet carries the original (serve-original-ttl). 0 when the packet does not
 * parse or holds no such RR.
 */
static uint32_t
packet_ttl(const uint8_t *pkt, size_t len, int rrtype)
{
	size_t off = 12;
	unsigned qd, an;
	uint32_t ttl = UINT32_MAX;

	if (pkt == NULL || len < 12)
		return 0;
	qd = (unsigned)pkt[4] << 8 | pkt[5];
	an = (unsigned)pkt[6] << 8 | pkt[7];
	for (unsigned i = 0; i < qd; i++)
		if (!skip_name(pkt, len, &off) || (off += 4) > len)
			return 0;
	for (unsigned i = 0; i < an; i++) {
		unsigned type, rdlen;
		uint32_t t;

		if (!skip_name(pkt, len, &off) || off + 10 > len)
			break;
		type = (unsigned)pkt[off] << 8 | pkt[off + 1];
		t = (uint32_t)pkt[off + 4] << 24 | (uint32_t)pkt[off + 5] << 16 |
		    (uint32_t)pkt[off + 6] << 8 | pkt[off + 7];
		rdlen = (unsigned)pkt[off + 8] << 8 | pkt[off + 9];
		off += 10 + rdlen;
		if (off > len)
			break;
		if ((int)type == rrtype && t < ttl)
			ttl = t;
	}
	return ttl == UINT32_MAX ? 0 : ttl;
}

static int
answer_fill(const struct ub_result *r, int rrtype, struct va_dns_answer *ans)
{
	size_t count = 0;

	ans->rcode = r->rcode;
	ans->dnssec = r->bogus	  ? VA_DNSSEC_BOGUS
		      : r->secure ? VA_DNSSEC_SECURE
				  : VA_DNSSEC_INSECURE;
	if (r->bogus && r->why_bogus != NULL)
		snprintf(ans->why_bogus, sizeof(ans->why_bogus), "%s", r->why_bogus);
	if (!r->havedata)
		return DEED_OK;
	while (r->data[count] != NULL)
		count++;
	if (count > VA_DNS_MAX_RRS)
		return DEED_ETOOBIG;
	ans->ttl = packet_ttl(r->answer_packet, r->answer_packet != NULL ? (size_t)r->answer_len : 0,
			      rrtype);
	for (size_t i = 0; i < count; i++) {
		ans->rr[i] = rdata_text((const uint8_t *)r->data[i], (size_t)r->len[i], rrtype,
					&ans->len[i]);
		if (ans->rr[i] == NULL)
			return DEED_ENOMEM;
		ans->n = i + 1;
	}
	return DEED_OK;
}

struct pending {
	bool done;
	int err;
	struct ub_result *r;
};

/* Runs inside ub_process, in the thread that waits. */
static void
on_answer(void *arg, int err, struct ub_result *r)
{
	struct pending *p = arg;

	p->done = true;
	p->err = err;
	p->r = r;
}

static int
ub_to_deed(int u)
{
	return u == UB_NOMEM ? DEED_ENOMEM : u == UB_SYNTAX ? DEED_EINVAL : DEED_EDNS;
}

int
va_dns_lookup_many(struct va_dns *d, struct va_dns_query *q, size_t n, int timeout_ms)
{
	struct pending p[MAX_BATCH] = {0};
	struct pooled pc = {0};
	struct ub_ctx *ctx = NULL;
	bool clean = true;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	size_t waiting = 0;
	int rc = DEED_OK, u;

	for (size_t i = 0; i < n; i++) {
		memset(&q[i].ans, 0, sizeof(q[i].ans));
		q[i].rc = DEED_ETIMEOUT; /* until an answer says otherwise */
	}
	if (n > MAX_BATCH) {
		rc = DEED_EINVAL;
		goto out;
	}
	if ((u = ctx_get(d, &pc)) != 0) {
		rc = ub_to_deed(u);
		goto out;
	}
	ctx = pc.ctx;
	for (size_t i = 0; i < n; i++) {
		if ((u = ub_resolve_async(ctx, q[i].name, q[i].rrtype, 1 /* IN */, &p[i], on_answer,
					  NULL)) != 0) {
			p[i].done = true;
			p[i].err = u;
			continue;
		}
		waiting++;
	}
	while (waiting > 0) {
		struct pollfd pfd = {.fd = ub_fd(ctx), .events = POLLIN};
		int64_t left = deadline - now_ms();
		size_t still = 0;

		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)(left > 60000 ? 60000 : left)) < 0 && errno != EINTR) {
			rc = DEED_EDNS;
			break;
		}
		if (pfd.revents != 0 && (u = ub_process(ctx)) != 0) {
			rc = ub_to_deed(u);
			break;
		}
		for (size_t i = 0; i < n; i++)
			still += !p[i].done;
		waiting = still;
	}
	for (size_t i = 0; i < n; i++) {
		clean = clean && p[i].done;
		if (!p[i].done)
			q[i].rc = rc != DEED_OK ? rc : DEED_ETIMEOUT;
		else if (p[i].err != 0)
			q[i].rc = ub_to_deed(p[i].err);
		else if ((q[i].rc = answer_fill(p[i].r, q[i].rrtype, &q[i].ans)) != DEED_OK)
			va_dns_answer_cleanup(&q[i].ans);
	}
	rc = DEED_OK;
out:
	for (size_t i = 0; i < n; i++) {
		if (rc != DEED_OK)
			q[i].rc = rc;
		if (i < MAX_BATCH)
			ub_resolve_free(p[i].r);
	}
	/* A context with unanswered queries is deleted, which drops them. */
	ctx_put(d, &pc, clean && rc == DEED_OK);
	for (size_t i = 0; i < n; i++)
		if (q[i].rc != DEED_OK)
			return q[i].rc;
	return DEED_OK;
}

int
va_dns_lookup(struct va_dns *d, const char *name, int rrtype, int timeout_ms,
	      struct va_dns_answer *ans)
{
	struct va_dns_query q = {.name = name, .rrtype = rrtype};
	int rc = va_dns_lookup_many(d, &q, 1, timeout_ms);

	*ans = q.ans;
	return rc;
}

int
va_dns_txt(struct va_dns *d, const char *name, int timeout_ms, struct va_dns_answer *ans)
{
	return va_dns_lookup(d, name, VA_DNS_TXT, timeout_ms, ans);
}

bool
va_dns_failed(int rc, const struct va_dns_answer *ans, const char *name, int rrtype, char *buf,
	      size_t bufsz)
{
	const char *type = va_dns_type_str(rrtype);

	if (rc == DEED_ETIMEOUT) {
		deed_seterr(buf, bufsz, "query timed out looking up %s for %s", type, name);
	} else if (rc == DEED_ETOOBIG) {
		deed_seterr(buf, bufsz, "more than %d %s records at %s", VA_DNS_MAX_RRS, type,
			    name);
	} else if (rc != DEED_OK) {
		deed_seterr(buf, bufsz, "looking up %s for %s failed: %s", type, name,
			    deed_strerror(rc));
	} else if (ans->dnssec == VA_DNSSEC_BOGUS) {
		/* Checked before the rcode: the validator turns a bogus answer into SERVFAIL. */
		deed_seterr(buf, bufsz, "DNSSEC validation failed looking up %s for %s: %s", type,
			    name, ans->why_bogus[0] ? ans->why_bogus : "bogus answer");
	} else if (ans->rcode != VA_DNS_NOERROR && ans->rcode != VA_DNS_NXDOMAIN) {
		deed_seterr(buf, bufsz,
			    "%s looking up %s for %s - the domain's nameservers may be "
			    "malfunctioning",
			    va_dns_rcode_str(ans->rcode), type, name);
	} else {
		return false;
	}
	return true;
}

/*
 * The TXT check that dns-01 and dns-account-01 share, at qname: any RR whose joined
 * character-strings equal base64url(SHA-256(key authorization)) passes. about is appended to
 * an unauthorized detail ("" for nothing). res is zeroed by the caller.
 */
static void
txt_challenge(struct va_dns *d, const struct va_request *req, const char *qname, const char *about,
	      int timeout_ms, struct va_result *res)
{
	struct va_dns_answer ans = {0};
	uint8_t digest[32];
	char want[64], seen[408];
	json_t *rec = NULL;
	int rc;

	res->prob = PROB_SERVER_INTERNAL;
	/* RFC 8555 §8.4: the record holds base64url(SHA-256(key authorization)). */
	if (EVP_Digest(req->key_authz, strlen(req->key_authz), digest, NULL, EVP_sha256(), NULL) !=
		1 ||
	    b64url_encode_buf(digest, sizeof(digest), want, sizeof(want)) != DEED_OK) {
		deed_seterr(res->detail, sizeof(res->detail), "cannot compute the digest");
		return;
	}
	rc = va_dns_txt(d, qname, timeout_ms, &ans);
	if ((res->records = json_array()) == NULL || (rec = json_object()) == NULL ||
	    json_array_append_new(res->records, rec) != 0 ||
	    json_object_set_new(rec, "hostname", json_string(req->identifier)) != 0 ||
	    json_object_set_new(rec, "txtName", json_string(qname)) != 0 ||
	    (rc == DEED_OK &&
	     json_object_set_new(rec, "dnssec", json_string(va_dnssec_str(ans.dnssec))) != 0)) {
		deed_seterr(res->detail, sizeof(res->detail), "out of memory");
		goto out;
	}
	if (va_dns_failed(rc, &ans, qname, VA_DNS_TXT, res->detail, sizeof(res->detail))) {
		res->prob = PROB_DNS;
		goto out;
	}
	res->prob = PROB_UNAUTHORIZED;
	if (ans.n == 0) {
		deed_seterr(res->detail, sizeof(res->detail), "No TXT record found at %s%s", qname,
			    about);
		goto out;
	}
	/* Any record may match: a name and its wildcard in one order publish two values. */
	for (size_t i = 0; i < ans.n && !res->ok; i++)
		res->ok =
		    ans.len[i] == strlen(want) && CRYPTO_memcmp(ans.rr[i], want, ans.len[i]) == 0;
	if (!res->ok) {
		va_printable(ans.rr[0], ans.len[0], seen, sizeof(seen));
		if (ans.n > 1)
			deed_seterr(res->detail, sizeof(res->detail),
				    "Incorrect TXT record \"%s\" (and %zu more) found at %s%s",
				    seen, ans.n - 1, qname, about);
		else
			deed_seterr(res->detail, sizeof(res->detail),
				    "Incorrect TXT record \"%s\" found at %s%s", seen, qname,
				    about);
	}
out:
	va_dns_answer_cleanup(&ans);
}

void
va_dns01(struct va_dns *d, const struct va_request *req, int timeout_ms, struct va_result *res)
{
	char qname[300];

	memset(res, 0, sizeof(*res));
	if (strlen(req->identifier) > 253) {
		res->prob = PROB_MALFORMED;
		deed_seterr(res->detail, sizeof(res->detail), "identifier too long");
		return;
	}
	snprintf(qname, sizeof(qname), "_acme-challenge.%s", req->identifier);
	txt_challenge(d, req, qname, "", timeout_ms, res);
}

void
va_dns_account01(struct va_dns *d, const struct va_request *req, int timeout_ms,
		 struct va_result *res)
{
	char qname[300], about[300];
	int rc;

	memset(res, 0, sizeof(*res));
	/* draft-ietf-acme-dns-account-label §3: the record sits under a label derived from the
	 * account URL, so a record another account published for the same name never counts. */
	rc = acctlabel_name(req->account_url, req->identifier, qname, sizeof(qname));
	if (rc == DEED_ETOOBIG) {
		res->prob = PROB_MALFORMED;
		deed_seterr(res->detail, sizeof(res->detail),
			    "identifier too long for dns-account-01: the record name would exceed "
			    "253 octets");
		return;
	}
	if (rc != DEED_OK) {
		res->prob = PROB_SERVER_INTERNAL;
		deed_seterr(res->detail, sizeof(res->detail),
			    "cannot compute the account label: %s",
			    req->account_url == NULL ? "no account URL" : deed_strerror(rc));
		return;
	}
	/* The label depends on the account URL: say which one, so that a client that hashed
	 * another form of it (a trailing slash, another host name) can tell. */
	snprintf(about, sizeof(about), " (the label of account %.200s)", req->account_url);
	txt_challenge(d, req, qname, about, timeout_ms, res);
}
