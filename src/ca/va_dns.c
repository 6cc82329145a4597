#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <unbound-event.h>
#include <unbound.h>

#include "acctlabel.h"
#include "b64url.h"
#include "error.h"
#include "va_dns.h"

#define MAX_BATCH 16 /* lookups of one va_dns_lookup_many */

/*
 * Resolver contexts are pooled: setting one up costs about a millisecond and a half of CPU
 * (configuration, modules, caches), ten times a lookup. A context goes back to the pool only
 * when every query it was given has been answered; it is retired after POOL_USES batches or
 * POOL_AGE_MS, so that a replaced anchor file or resolv.conf is read again within a minute.
 *
 * Each context runs on its own libevent base (ub_ctx_create_event), which the thread that
 * waits for a batch runs itself: a lookup is sent, answered and validated in the calling
 * thread, with no libunbound worker thread to hand queries and answers to through pipes.
 */
#define POOL_MAX 64
#define POOL_USES 2000
#define POOL_AGE_MS 60000

struct pooled {
	struct ub_ctx *ctx;
	struct event_base *base; /* ctx's; freed after it */
	int64_t born;		 /* now_ms() at creation */
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
 * The settings of every context, before its first lookup. On failure *step names the setting
 * libunbound refused.
 */
static int
ctx_configure(const struct va_dns *d, struct ub_ctx *ctx, const char **step)
{
	int u;

	*step = "options";
	/* The configured resolver is on loopback in tests and often in production (a local
	 * validating resolver, systemd-resolved's 127.0.0.53); libunbound refuses loopback by
	 * default. Only forwarders are ever queried, so this opens nothing else. */
	if ((u = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no")) != 0)
		return u;
	/* No answer outlives its lookup: every RRset and negative answer expires at once, so a
	 * record removed or published a moment ago is seen as it is now, though the context
	 * lives on in the pool. serve-original-ttl keeps the TTL the server sent in the answer
	 * (dns-persist-01 reuse is capped by it) instead of that zero. */
	if ((u = ub_ctx_set_option(ctx, "cache-max-ttl:", "0")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "cache-max-negative-ttl:", "0")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "serve-original-ttl:", "yes")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "msg-cache-size:", "256k")) != 0 ||
	    (u = ub_ctx_set_option(ctx, "rrset-cache-size:", "256k")) != 0)
		return u;
	*step = d->fwd[0] != '\0' ? d->fwd : "/etc/resolv.conf";
	if (d->fwd[0] != '\0')
		u = ub_ctx_set_fwd(ctx, d->fwd);
	else
		u = ub_ctx_resolvconf(ctx, NULL);
	if (u != 0)
		return UB_SYNTAX; /* ub_ctx_resolvconf returns an errno, not a UB_ code */
	*step = d->ta_file != NULL ? d->ta_file : "set-up";
	if (d->ta_file != NULL && (u = ub_ctx_add_ta_file(ctx, d->ta_file)) != 0)
		return u;
	/* RFC 6761 §6.2: "test." is never delegated, so no chain of trust reaches names under
	 * it from the root's anchor, and with that anchor every lab and test answer would be
	 * bogus. Treat it as unsigned. An anchor in the file for a zone below it still wins
	 * (libunbound: a trust anchor overrides domain-insecure), so a signed zone under .test
	 * whose DS or DNSKEY is in the file validates secure. */
	if (d->ta_file != NULL && (u = ub_ctx_set_option(ctx, "domain-insecure:", "test.")) != 0)
		return u;
	/* libunbound answers RFC 6761's "test." itself (NXDOMAIN for every name under it). Let
	 * the resolver answer names below it, so that lab and test zones under .test resolve,
	 * but answer "test." itself here: it is never delegated, so it has no records, and a
	 * forwarder authoritative only for a zone below it would refuse the CAA lookup that
	 * climbs there. This also finalizes the context (and loads the trust anchors) while
	 * the caller holds ub_setup_lock. */
	if ((u = ub_ctx_zone_add(ctx, "test.", "transparent")) != 0)
		return u;
	return ub_ctx_data_add(ctx, "test. 86400 IN SOA localhost. nobody.invalid. 1 3600 1200 "
				    "604800 86400");
}

/*
 * A libevent base for one context. A pooled context moves from thread to thread (handed over
 * under pool_lock) but is never run by two at once, so its base needs no locks of its own,
 * whatever the rest of the process asks of libevent (evthread_use_pthreads).
 */
static struct event_base *
base_new(void)
{
	struct event_config *cfg;
	struct event_base *base = NULL;

	if ((cfg = event_config_new()) == NULL)
		return NULL;
	if (event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK) == 0)
		base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return base;
}

static void
ctx_close(struct pooled *p)
{
	if (p->ctx != NULL) {
		pthread_mutex_lock(&ub_setup_lock);
		/* This also calls back the queries still unanswered, with SERVFAIL
		 * (mesh_state_cleanup): a batch stops listening before it lets go of its
		 * context (struct batch, over). */
		ub_ctx_delete(p->ctx);
		pthread_mutex_unlock(&ub_setup_lock);
	}
	/* After the context: ub_ctx_delete removes libunbound's events from the base. */
	if (p->base != NULL)
		event_base_free(p->base);
	p->ctx = NULL;
	p->base = NULL;
}

/*
 * A finalized resolver context for one lookup (or one batch), on a base of its own. log:
 * where libunbound's own messages go; NULL silences them (library code does not print). On
 * failure *step names the setting libunbound refused.
 */
static int
ctx_open(const struct va_dns *d, FILE *log, struct pooled *p, const char **step)
{
	int u = UB_NOMEM;

	memset(p, 0, sizeof(*p));
	p->born = now_ms();
	*step = "options";
	if ((p->base = base_new()) == NULL)
		return UB_NOMEM;
	pthread_mutex_lock(&ub_setup_lock);
	if ((p->ctx = ub_ctx_create_event(p->base)) != NULL) {
		ub_ctx_debugout(p->ctx, log);
		u = ctx_configure(d, p->ctx, step);
	}
	pthread_mutex_unlock(&ub_setup_lock);
	if (u != 0)
		ctx_close(p);
	return u;
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
	return ctx_open(d, NULL, out, &step);
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
			p->base = NULL;
		}
		pthread_mutex_unlock(&d->pool_lock);
	}
	ctx_close(p);
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
	struct pooled probe = {0};
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
	ctx_close(&probe);
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
		ctx_close(&d->idle[i]);
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

		if (l > len - i) /* a string longer than the RDATA left: keep what is there */
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

/*
 * The answer comes as the DNS message libunbound would send a client (RFC 1035 §4.1). It is
 * read as untrusted input: every read is checked against its length, so that a message cut
 * short or lying about its counts is refused, never read past.
 */

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

/* One resource record (RFC 1035 §4.1.3); rdata points into the message. */
struct wire_rr {
	unsigned type, cls;
	uint32_t ttl;
	const uint8_t *rdata;
	size_t rdlen;
};

/* The RR at pkt[*off] into rr, *off past it; false when it runs past len. */
static bool
rr_next(const uint8_t *pkt, size_t len, size_t *off, struct wire_rr *rr)
{
	const uint8_t *h;

	if (!skip_name(pkt, len, off) || len - *off < 10)
		return false;
	h = pkt + *off;
	rr->type = (unsigned)h[0] << 8 | h[1];
	rr->cls = (unsigned)h[2] << 8 | h[3];
	rr->ttl = (uint32_t)h[4] << 24 | (uint32_t)h[5] << 16 | (uint32_t)h[6] << 8 | h[7];
	rr->rdlen = (size_t)h[8] << 8 | h[9];
	*off += 10;
	if (rr->rdlen > len - *off)
		return false;
	rr->rdata = pkt + *off;
	*off += rr->rdlen;
	return true;
}

/*
 * Copy the possibly compressed name at pkt[*off] into out (at least 255 octets), in full, its
 * length into *outlen; *off past the name where it sits. Every pointer must go back before
 * the last one's target (RFC 1035 §4.1.4: to a prior occurrence), which ends any loop. False
 * when the name runs past len or grows beyond 255 octets.
 */
static bool
name_copy(const uint8_t *pkt, size_t len, size_t *off, uint8_t *out, size_t *outlen)
{
	size_t at = *off, lim = *off, o = 0;
	bool jumped = false;

	while (at < len) {
		uint8_t l = pkt[at];

		if ((l & 0xc0) == 0xc0) {
			size_t to;

			if (len - at < 2 || (to = (size_t)(l & 0x3f) << 8 | pkt[at + 1]) >= lim)
				return false;
			if (!jumped)
				*off = at + 2;
			jumped = true;
			at = lim = to;
			continue;
		}
		if ((l & 0xc0) != 0 || l >= len - at || o + 1 + l > 255)
			return false;
		memcpy(out + o, pkt + at, 1 + (size_t)l);
		o += 1 + (size_t)l;
		at += 1 + (size_t)l;
		if (l == 0) {
			if (!jumped)
				*off = at;
			*outlen = o;
			return true;
		}
	}
	return false;
}

/*
 * RFC 3597 §4: the RDATA of RFC 1035's types with names in it may hold compressed names, and
 * libunbound's encoder compresses them (msgencode.c, compress_rdata). How many names there
 * are, after *fixed octets of other fields; 0 for every other type.
 */
static unsigned
rdata_names(unsigned type, size_t *fixed)
{
	*fixed = 0;
	switch (type) {
	case 2:	 /* NS */
	case 3:	 /* MD */
	case 4:	 /* MF */
	case 5:	 /* CNAME */
	case 7:	 /* MB */
	case 8:	 /* MG */
	case 9:	 /* MR */
	case 12: /* PTR */
		return 1;
	case 6:	 /* SOA: MNAME RNAME, then five numbers */
	case 14: /* MINFO */
		return 2;
	case 15: /* MX: PREFERENCE EXCHANGE */
		*fixed = 2;
		return 1;
	}
	return 0;
}

/*
 * rr's RDATA as the caller gets it (rdata_text), with compressed names written out in full,
 * as the server's RDATA reads without the message around it.
 * Returns DEED_OK, DEED_EMALFORMED (a name runs outside the RDATA), DEED_ENOMEM.
 */
static int
rr_text(const uint8_t *pkt, const struct wire_rr *rr, char **out, size_t *outlen)
{
	size_t fixed, nl, o, off = (size_t)(rr->rdata - pkt), end = off + rr->rdlen;
	unsigned names = rdata_names(rr->type, &fixed);
	uint8_t *v;

	if (names == 0) {
		*out = rdata_text(rr->rdata, rr->rdlen, (int)rr->type, outlen);
		return *out != NULL ? DEED_OK : DEED_ENOMEM;
	}
	if (rr->rdlen < fixed)
		return DEED_EMALFORMED;
	if ((v = malloc(rr->rdlen + names * 255 + 1)) == NULL)
		return DEED_ENOMEM;
	memcpy(v, rr->rdata, fixed);
	o = fixed;
	off += fixed;
	for (unsigned i = 0; i < names; i++, o += nl) {
		/* end as the length: the name's own octets stay inside the RDATA, and pointers
		 * go backwards */
		if (!name_copy(pkt, end, &off, v + o, &nl)) {
			free(v);
			return DEED_EMALFORMED;
		}
	}
	memcpy(v + o, pkt + off, end - off);
	o += end - off;
	v[o] = '\0';
	*out = (char *)v;
	*outlen = o;
	return DEED_OK;
}

/* Where the answer section starts, *off, and its RR count, *an; false when the header or the
 * question section runs past len. */
static bool
answer_section(const uint8_t *pkt, size_t len, size_t *off, unsigned *an)
{
	unsigned qd;

	if (pkt == NULL || len < 12)
		return false;
	qd = (unsigned)pkt[4] << 8 | pkt[5];
	*an = (unsigned)pkt[6] << 8 | pkt[7];
	*off = 12;
	for (unsigned i = 0; i < qd; i++) {
		if (!skip_name(pkt, len, off) || len - *off < 4)
			return false;
		*off += 4;
	}
	return true;
}

/*
 * The RRs of rrtype, class IN, in the answer section: their number into *n and their lowest
 * TTL into *ttl; with ans, their RDATA as text into ans->rr too (a first call without ans
 * counts them, so that the caller checks the cap before anything is allocated).
 * libunbound's answer holds the CNAME chain from the name asked and the RRset at its end (its
 * scrubber drops any other RRset: iter_scrub.c, scrub_normalize), so these are the final
 * name's. The TTL is the one the server sent (serve-original-ttl), not what libunbound's cache
 * keeps, which is nothing here.
 * Returns DEED_OK; DEED_EMALFORMED when the header, question or answer section runs past len;
 * DEED_ETOOBIG; DEED_ENOMEM.
 */
static int
answer_rrs(const uint8_t *pkt, size_t len, int rrtype, struct va_dns_answer *ans, size_t *n,
	   uint32_t *ttl)
{
	struct wire_rr rr;
	size_t off;
	unsigned an;
	int rc;

	*n = 0;
	*ttl = UINT32_MAX;
	if (!answer_section(pkt, len, &off, &an))
		return DEED_EMALFORMED;
	for (unsigned i = 0; i < an; i++) {
		if (!rr_next(pkt, len, &off, &rr))
			return DEED_EMALFORMED;
		if ((int)rr.type != rrtype || rr.cls != 1 /* IN */)
			continue;
		if (rr.ttl < *ttl)
			*ttl = rr.ttl;
		if (ans != NULL) {
			if (*n >= VA_DNS_MAX_RRS)
				return DEED_ETOOBIG;
			if ((rc = rr_text(pkt, &rr, &ans->rr[*n], &ans->len[*n])) != DEED_OK)
				return rc;
			ans->n = *n + 1;
		}
		(*n)++;
	}
	return DEED_OK;
}

/*
 * Copy what the caller needs out of libunbound's answer (the arguments of its callback,
 * ub_event_callback_type). A non-zero rcode is libunbound's own verdict, with sec 0 and a
 * packet not to be read (unbound-event.h): SERVFAIL when the resolver failed, refused or
 * did not answer in time. Else the packet holds the answer, its rcode (NOERROR, NXDOMAIN)
 * in the header; a bogus answer comes this way too, with its records, its rcode, sec 1 and
 * why_bogus (mesh.c, mesh_do_callback: "bogus messages are not made into servfail"). This is
 * what the ub_result of the threaded mode was made from (libworker_bg_done_cb,
 * libworker_enter_result), and a packet that does not parse is a SERVFAIL, as it was there.
 */
int
va_dns_parse_answer(int rcode, const uint8_t *pkt, size_t len, int sec, const char *why_bogus,
		    int rrtype, struct va_dns_answer *ans)
{
	uint32_t ttl;
	size_t n;
	int rc;

	ans->rcode = rcode;
	if (rcode != 0)
		return DEED_OK;
	rc = answer_rrs(pkt, len, rrtype, NULL, &n, &ttl);
	if (rc == DEED_OK && n > VA_DNS_MAX_RRS)
		return DEED_ETOOBIG;
	if (rc == DEED_OK && n > 0)
		rc = answer_rrs(pkt, len, rrtype, ans, &n, &ttl);
	if (rc == DEED_EMALFORMED) {
		va_dns_answer_cleanup(ans);
		ans->rcode = VA_DNS_SERVFAIL;
		return DEED_OK;
	}
	if (rc != DEED_OK)
		return rc;
	ans->rcode = pkt[3] & 0x0f; /* RFC 1035 §4.1.1 */
	ans->ttl = n > 0 ? ttl : 0;
	ans->dnssec = sec == 1 ? VA_DNSSEC_BOGUS : sec == 2 ? VA_DNSSEC_SECURE : VA_DNSSEC_INSECURE;
	if (sec == 1 && why_bogus != NULL)
		snprintf(ans->why_bogus, sizeof(ans->why_bogus), "%s", why_bogus);
	return DEED_OK;
}

static int
ub_to_deed(int u)
{
	return u == UB_NOMEM ? DEED_ENOMEM : u == UB_SYNTAX ? DEED_EINVAL : DEED_EDNS;
}

struct batch;

/* One query of a batch, as libunbound's callback gets it. */
struct pending {
	struct batch *b;
	struct va_dns_query *q;
	bool done; /* q->rc and q->ans are set */
};

struct batch {
	struct pending p[MAX_BATCH];
	size_t n;
	bool expired; /* the deadline passed */
	/* The wait is over: what libunbound still calls back (ub_ctx_delete answers every
	 * query left with SERVFAIL) changes nothing, so an unanswered query stays a timeout. */
	bool over;
};

/*
 * libunbound's callback. It runs in the waiting thread, inside event_base_loop, or inside
 * ub_resolve_event itself for an answer from local data ("test."). The packet is
 * libunbound's buffer, valid for this call only: everything is copied out here.
 */
static void
on_answer(void *arg, int rcode, void *packet, int packet_len, int sec, char *why_bogus,
	  int was_ratelimited)
{
	struct pending *p = arg;
	struct va_dns_query *q = p->q;

	if (p->b->over || p->done)
		return;
	p->done = true;
	q->rc = va_dns_parse_answer(rcode, packet, packet_len > 0 ? (size_t)packet_len : 0, sec,
				    why_bogus, q->rrtype, &q->ans);
	if (q->rc != DEED_OK)
		va_dns_answer_cleanup(&q->ans);
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct batch *b = arg;

	b->expired = true;
}

static bool
batch_done(const struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (!b->p[i].done)
			return false;
	return true;
}

/*
 * Hand the n queries to libunbound. One it refuses (a name it cannot parse) is done at once
 * with the error. Returns false when it refused one: the refused query stays registered in
 * the context until ub_ctx_delete, so that context is not pooled.
 */
static bool
batch_send(struct pooled *pc, struct batch *b, struct va_dns_query *q, size_t n)
{
	bool clean = true;

	b->n = n;
	for (size_t i = 0; i < n; i++)
		b->p[i] = (struct pending){.b = b, .q = &q[i]};
	for (size_t i = 0; i < n; i++) {
		int u = ub_resolve_event(pc->ctx, q[i].name, q[i].rrtype, 1 /* IN */, &b->p[i],
					 on_answer, NULL);

		if (u != 0 && !b->p[i].done) {
			b->p[i].done = true;
			q[i].rc = ub_to_deed(u);
			clean = false;
		}
	}
	return clean;
}

/*
 * Run the context's event base in this thread until every query of the batch is answered or
 * the deadline passes. EVLOOP_ONCE returns after each round of events, so the batch is looked
 * at after every answer; the timer ends the round that is running at the deadline.
 * Returns DEED_OK (answered or expired), DEED_ENOMEM, DEED_EDNS when the base cannot run.
 */
static int
batch_wait(struct pooled *pc, struct batch *b, int64_t deadline)
{
	int64_t left = deadline - now_ms();
	struct timeval tv = {.tv_sec = left / 1000, .tv_usec = (left % 1000) * 1000};
	struct event *timer;
	int rc = DEED_OK;

	if (left <= 0 || batch_done(b))
		return DEED_OK;
	if ((timer = evtimer_new(pc->base, on_deadline, b)) == NULL)
		return DEED_ENOMEM;
	if (evtimer_add(timer, &tv) != 0)
		rc = DEED_EDNS;
	while (rc == DEED_OK && !b->expired && !batch_done(b))
		if (event_base_loop(pc->base, EVLOOP_ONCE) != 0)
			rc = DEED_EDNS; /* -1 an error; 1 nothing to wait for, not even the timer */
	event_free(timer);
	return rc;
}

int
va_dns_lookup_many(struct va_dns *d, struct va_dns_query *q, size_t n, int timeout_ms)
{
	struct batch b = {0};
	struct pooled pc = {0};
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	bool clean = false;
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
	clean = batch_send(&pc, &b, q, n);
	rc = batch_wait(&pc, &b, deadline);
	b.over = true;
	for (size_t i = 0; i < n; i++) {
		clean = clean && b.p[i].done;
		if (!b.p[i].done)
			q[i].rc = rc != DEED_OK ? rc : DEED_ETIMEOUT;
	}
	rc = DEED_OK;
out:
	for (size_t i = 0; i < n && rc != DEED_OK; i++)
		q[i].rc = rc;
	/* A context with unanswered queries is deleted, which drops them. */
	ctx_put(d, &pc, clean);
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
