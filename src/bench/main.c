/*
 * deed-bench: a load generator for ACME servers. See usage() and docs/performance.md.
 *
 * Phases: fetch the directory; every virtual client (one thread each) makes its keys and its
 * account (setup, timed apart); in dns-persist-01 mode one DNS update publishes every
 * client's record; then the timed phase, in which each client issues one certificate after
 * another until --count issuances were handed out or --duration passed; then the report.
 * Performance is measured here, never asserted: the exit status says only whether every
 * issuance succeeded.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/rand.h>

#include "bench.h"
#include "djson.h"
#include "error.h"
#include "issuevalue.h"
#include "solver.h"

#define EXIT_ERRORS 1
#define EXIT_USAGE 2
#define CONCURRENCY_MAX 1000 /* the http-01 responder holds 1000 tokens */

static void
usage(FILE *f)
{
	fputs(
	    "usage: deed-bench [options] DIRECTORY-URL\n"
	    "\n"
	    "Drive N virtual ACME clients, each with its own account, through complete issuances\n"
	    "(newOrder, authorization, challenge, poll, finalize, download; an order ready at\n"
	    "newOrder goes straight to finalize) and report\n"
	    "issuances/s, per-request latency percentiles and errors by problem type. The last\n"
	    "line of output is one machine-readable summary. Exit 0 when every issuance succeeded,\n"
	    "1 when any failed, 2 on bad usage.\n"
	    "\n"
	    "Load:\n"
	    "  -m, --mode MODE         dns-persist-01 (default): one DNS update before the run\n"
	    "                          publishes a policy=wildcard record per client N at\n"
	    "                          _validation-persist.cN.ZONE, and it orders names under\n"
	    "                          cN.ZONE; each order validates by a real DNS lookup with no\n"
	    "                          DNS write. dns-01: an RFC 2136 add and\n"
	    "                          delete of _acme-challenge.NAME per order. http-01: the\n"
	    "                          built-in responder on --http-port.\n"
	    "  -n, --count N           issuances in all (default 100 without --duration)\n"
	    "  -d, --duration SECONDS  run this long instead (issuances under way complete)\n"
	    "      --warmup SECONDS    issuances started in this first span are not counted\n"
	    "  -c, --concurrency N     virtual clients, one thread and connection each (default 4)\n"
	    "      --key-type TYPE     account keys: ec256 (default), ec384, rsa2048, rsa3072, ...\n"
	    "      --cert-key-type T   certificate keys (default: --key-type)\n"
	    "  -u, --unique-names      a new name per order (cN-SEQ-RUNID.ZONE; dns-persist-01:\n"
	    "                          cN-SEQ-RUNID.cN.ZONE), so no order can reuse an\n"
	    "                          authorization; default: each client orders cN.ZONE\n"
	    "                          (dns-persist-01: cN.cN.ZONE)\n"
	    "      --zone ZONE         names are made under ZONE (default bench.example.test)\n"
	    "      --poll MIN[,MAX]    poll interval in ms, doubling from MIN to MAX (default 5,200)\n"
	    "      --honor-retry-after wait what Retry-After says (at most 10 s) when it is sent\n"
	    "      --max-errors N      stop after N failed issuances (default 100; 0 = never)\n"
	    "      --fetch-authz       fetch each authorization even when the order is ready at\n"
	    "                          newOrder, as clients that do not look at its status do\n"
	    "      --verify            parse each chain: the leaf's one SAN is the ordered name, its\n"
	    "                          key the CSR's, each certificate signed by the next\n"
	    "\n"
	    "Server:\n"
	    "      --ca-bundle FILE    PEM to trust for the server's HTTPS (else the system's)\n"
	    "  -k, --insecure          do not check the server's HTTPS certificate\n"
	    "\n"
	    "DNS (dns-persist-01, dns-01):\n"
	    "      --dns-server A:P    RFC 2136 primary (default 127.0.0.1:8053, the lab's Knot)\n"
	    "      --tsig-key FILE     TSIG key: BIND key statement or \"alg:name:secret\"\n"
	    "      --dns-zone ZONE     zone to update (default: found by SOA queries)\n"
	    "      --ttl SECONDS       TTL of the records written (default 60)\n"
	    "      --issuer NAME       dns-persist-01 issuer domain name when the directory has no\n"
	    "                          meta.issuerDomainNames\n"
	    "      --keep-records      leave the dns-persist-01 records in the zone\n"
	    "\n"
	    "http-01:\n"
	    "      --http-port PORT    port the server validates against (default 5002), served on\n"
	    "                          127.0.0.1; or --http-listen ADDR:PORT\n"
	    "\n"
	    "Summary line:\n"
	    "  deed-bench: mode=M url=U concurrency=C issued=N errors=E seconds=S rate=R\n"
	    "    p50_ms= p90_ms= p99_ms= max_ms= (over every request of the timed phase)\n"
	    "    issue_p50_ms= issue_p99_ms= setup_s= bad_nonce= polls= authz_valid_at_order=\n"
	    "    ready_at_order= (orders ready in the newOrder response)\n"
	    "    runid= (names of --unique-names runs: cN-SEQ-RUNID.ZONE)\n",
	    f);
}

/* --- options ---------------------------------------------------------------------------- */

static bool
parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

static bool
parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo && v <= hi))
		return false;
	*out = v;
	return true;
}

static int
bad_usage(const char *what, const char *val)
{
	fprintf(stderr, "deed-bench: %s: %s (try --help)\n", what, val != NULL ? val : "");
	return EXIT_USAGE;
}

enum {
	OPT_WARMUP = 256, OPT_KEY, OPT_CERT_KEY, OPT_ZONE, OPT_POLL, OPT_RETRY_AFTER,
	OPT_MAX_ERRORS, OPT_VERIFY, OPT_FETCH_AUTHZ, OPT_CA_BUNDLE, OPT_DNS_SERVER, OPT_TSIG, OPT_DNS_ZONE,
	OPT_TTL, OPT_ISSUER, OPT_KEEP, OPT_HTTP_PORT, OPT_HTTP_LISTEN,
};

/* Returns -1 when the options are good, else the exit status. */
static int
parse_opts(int argc, char **argv, struct bench_opts *o, char *listen, size_t listensz)
{
	static const struct option lopts[] = {
	    {"mode", required_argument, NULL, 'm'},
	    {"count", required_argument, NULL, 'n'},
	    {"duration", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, OPT_WARMUP},
	    {"concurrency", required_argument, NULL, 'c'},
	    {"key-type", required_argument, NULL, OPT_KEY},
	    {"cert-key-type", required_argument, NULL, OPT_CERT_KEY},
	    {"unique-names", no_argument, NULL, 'u'},
	    {"zone", required_argument, NULL, OPT_ZONE},
	    {"poll", required_argument, NULL, OPT_POLL},
	    {"honor-retry-after", no_argument, NULL, OPT_RETRY_AFTER},
	    {"max-errors", required_argument, NULL, OPT_MAX_ERRORS},
	    {"verify", no_argument, NULL, OPT_VERIFY},
	    {"fetch-authz", no_argument, NULL, OPT_FETCH_AUTHZ},
	    {"ca-bundle", required_argument, NULL, OPT_CA_BUNDLE},
	    {"insecure", no_argument, NULL, 'k'},
	    {"dns-server", required_argument, NULL, OPT_DNS_SERVER},
	    {"tsig-key", required_argument, NULL, OPT_TSIG},
	    {"dns-zone", required_argument, NULL, OPT_DNS_ZONE},
	    {"ttl", required_argument, NULL, OPT_TTL},
	    {"issuer", required_argument, NULL, OPT_ISSUER},
	    {"keep-records", no_argument, NULL, OPT_KEEP},
	    {"http-port", required_argument, NULL, OPT_HTTP_PORT},
	    {"http-listen", required_argument, NULL, OPT_HTTP_LISTEN},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	long v;
	int ch;

	*o = (struct bench_opts){
	    .mode = BENCH_PERSIST, .concurrency = 4, .key_type = "ec256",
	    .zone = "bench.example.test", .dns_server = "127.0.0.1:8053", .ttl = 60,
	    .poll_min_ms = 5, .poll_max_ms = 200, .max_errors = 100,
	};
	snprintf(listen, listensz, "127.0.0.1:5002");
	while ((ch = getopt_long(argc, argv, "m:n:d:c:ukh", lopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			if (strcmp(optarg, "dns-persist-01") == 0)
				o->mode = BENCH_PERSIST;
			else if (strcmp(optarg, "dns-01") == 0)
				o->mode = BENCH_DNS01;
			else if (strcmp(optarg, "http-01") == 0)
				o->mode = BENCH_HTTP01;
			else
				return bad_usage("unknown --mode", optarg);
			break;
		case 'n':
			if (!parse_long(optarg, 1, 100000000, &o->count))
				return bad_usage("--count wants 1..1e8", optarg);
			break;
		case 'd':
			if (!parse_double(optarg, 0.001, 86400, &o->duration_s))
				return bad_usage("--duration wants seconds", optarg);
			break;
		case OPT_WARMUP:
			if (!parse_double(optarg, 0, 86400, &o->warmup_s))
				return bad_usage("--warmup wants seconds", optarg);
			break;
		case 'c':
			if (!parse_long(optarg, 1, CONCURRENCY_MAX, &v))
				return bad_usage("--concurrency wants 1..1000", optarg);
			o->concurrency = (int)v;
			break;
		case OPT_KEY:
			o->key_type = optarg;
			break;
		case OPT_CERT_KEY:
			o->cert_key_type = optarg;
			break;
		case 'u':
			o->unique_names = true;
			break;
		case OPT_ZONE:
			o->zone = optarg;
			break;
		case OPT_POLL: {
			char *comma = strchr(optarg, ',');
			long lo, hi;

			if (comma != NULL)
				*comma = '\0';
			if (!parse_long(optarg, 1, 60000, &lo) ||
			    (comma != NULL && !parse_long(comma + 1, lo, 60000, &hi)))
				return bad_usage("--poll wants MIN[,MAX] milliseconds", optarg);
			o->poll_min_ms = (int)lo;
			o->poll_max_ms = comma != NULL ? (int)hi : (int)(lo > 200 ? lo : 200);
			break;
		}
		case OPT_RETRY_AFTER:
			o->honor_retry_after = true;
			break;
		case OPT_MAX_ERRORS:
			if (!parse_long(optarg, 0, 100000000, &o->max_errors))
				return bad_usage("--max-errors wants a number", optarg);
			break;
		case OPT_VERIFY:
			o->verify = true;
			break;
		case OPT_FETCH_AUTHZ:
			o->fetch_authz = true;
			break;
		case OPT_CA_BUNDLE:
			o->ca_bundle = optarg;
			break;
		case 'k':
			o->insecure = true;
			break;
		case OPT_DNS_SERVER:
			o->dns_server = optarg;
			break;
		case OPT_TSIG:
			o->tsig_key = optarg;
			break;
		case OPT_DNS_ZONE:
			o->dns_zone = optarg;
			break;
		case OPT_TTL:
			if (!parse_long(optarg, 0, 86400, &v))
				return bad_usage("--ttl wants seconds", optarg);
			o->ttl = (int)v;
			break;
		case OPT_ISSUER:
			o->issuer = optarg;
			break;
		case OPT_KEEP:
			o->keep_records = true;
			break;
		case OPT_HTTP_PORT:
			if (!parse_long(optarg, 1, 65535, &v))
				return bad_usage("--http-port wants 1..65535", optarg);
			snprintf(listen, listensz, "127.0.0.1:%ld", v);
			break;
		case OPT_HTTP_LISTEN:
			snprintf(listen, listensz, "%s", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return bad_usage("bad option", argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return bad_usage("one directory URL expected", optind < argc ? argv[optind + 1] : "none");
	o->url = argv[optind];
	if (o->count > 0 && o->duration_s > 0)
		return bad_usage("--count and --duration exclude each other", "");
	if (o->count == 0 && o->duration_s == 0)
		o->count = 100;
	if (o->cert_key_type == NULL)
		o->cert_key_type = o->key_type;
	if (strlen(o->zone) > 200)
		return bad_usage("--zone is too long", o->zone);
	o->http_listen = listen;
	return -1;
}

/* --- directory and records ------------------------------------------------------------- */

static int
fetch_directory(struct bench *b, char *issuer, size_t issuersz)
{
	struct bench_http h;
	json_t *d = NULL;
	const json_t *meta, *names;
	const char *nn, *na, *no;
	int rc;

	if ((rc = bench_http_init(&h, b->o->ca_bundle, b->o->insecure)) != DEED_OK)
		return rc;
	if ((rc = bench_http_get(&h, b->o->url)) != DEED_OK) {
		fprintf(stderr, "deed-bench: %s: %s\n", b->o->url, h.err);
		goto out;
	}
	rc = DEED_EMALFORMED;
	if (h.status != 200 || djson_parse(h.rx.p, h.rx.len, BENCH_BODY_MAX, &d, NULL, 0) != DEED_OK ||
	    (nn = djson_str(d, "newNonce")) == NULL || (na = djson_str(d, "newAccount")) == NULL ||
	    (no = djson_str(d, "newOrder")) == NULL) {
		fprintf(stderr, "deed-bench: %s is not an ACME directory (HTTP %ld)\n", b->o->url,
			h.status);
		goto out;
	}
	snprintf(b->new_nonce, sizeof(b->new_nonce), "%s", nn);
	snprintf(b->new_account, sizeof(b->new_account), "%s", na);
	snprintf(b->new_order, sizeof(b->new_order), "%s", no);
	meta = json_object_get(d, "meta");
	b->tos = djson_str(meta, "termsOfService") != NULL;
	names = json_object_get(meta, "issuerDomainNames");
	if (json_is_string(json_array_get(names, 0)))
		snprintf(issuer, issuersz, "%s", json_string_value(json_array_get(names, 0)));
	rc = DEED_OK;
out:
	json_decref(d);
	bench_http_cleanup(&h);
	return rc;
}

struct persist_set {
	struct solver_dns_opts dns; /* the primary, key and zone of --dns-server etc. */
	const char **names; /* per client: _validation-persist.<its zone> */
	const char **values;
	char (*namebuf)[300];
	size_t n;
	bool published;
};

/* Every client's record in one update: "<issuer>; accounturi=<kid>; policy=wildcard". */
static int
persist_publish(struct bench *b, struct bench_client *cl, const char *issuer,
		struct persist_set *ps)
{
	const struct bench_opts *o = b->o;
	char err[512];
	int rc;

	ps->n = (size_t)o->concurrency;
	if ((ps->names = calloc(ps->n, sizeof(*ps->names))) == NULL ||
	    (ps->values = calloc(ps->n, sizeof(*ps->values))) == NULL ||
	    (ps->namebuf = calloc(ps->n, sizeof(*ps->namebuf))) == NULL)
		return DEED_ENOMEM;
	for (size_t i = 0; i < ps->n; i++) {
		if (persist_record_value(issuer, cl[i].kid, true, 0, cl[i].persist_value,
					 sizeof(cl[i].persist_value)) != DEED_OK) {
			fprintf(stderr, "deed-bench: cannot build the record for issuer \"%s\", "
					"account %s\n",
				issuer, cl[i].kid);
			return DEED_EINVAL;
		}
		snprintf(ps->namebuf[i], sizeof(ps->namebuf[i]), "_validation-persist.%s",
			 cl[i].zone);
		ps->names[i] = ps->namebuf[i];
		ps->values[i] = cl[i].persist_value;
	}
	ps->dns = (struct solver_dns_opts){
	    .server = o->dns_server, .tsig_file = o->tsig_key, .zone = o->dns_zone, .ttl = o->ttl};
	if ((rc = solver_dns_update_txt(&ps->dns, ps->names, ps->values, ps->n, true, err,
					sizeof(err))) != DEED_OK) {
		fprintf(stderr, "deed-bench: publishing the dns-persist-01 records: %s\n", err);
		return rc;
	}
	ps->published = true;
	return DEED_OK;
}

static void
persist_remove(const struct bench *b, struct persist_set *ps)
{
	char err[512];

	if (ps->published && !b->o->keep_records &&
	    solver_dns_update_txt(&ps->dns, ps->names, ps->values, ps->n, false, err,
				  sizeof(err)) != DEED_OK)
		fprintf(stderr, "deed-bench: removing the dns-persist-01 records: %s\n", err);
	free(ps->names);
	free(ps->values);
	free(ps->namebuf);
}

/* --- report ----------------------------------------------------------------------------- */

static double
ms(uint32_t us)
{
	return (double)us / 1000.0;
}

static void
report_row(const char *name, struct bench_samples *s)
{
	if (s->n == 0)
		return;
	printf("  %-12s %8zu %9.2f %9.2f %9.2f %9.2f\n", name, s->n,
	       ms(bench_samples_pct(s, 50)), ms(bench_samples_pct(s, 90)),
	       ms(bench_samples_pct(s, 99)), ms(bench_samples_pct(s, 100)));
}

static const char *
mode_name(enum bench_mode m)
{
	return m == BENCH_PERSIST ? "dns-persist-01" : m == BENCH_DNS01 ? "dns-01" : "http-01";
}

static int
report(const struct bench *b, struct bench_stats *st, double setup_s, double seconds)
{
	const struct bench_opts *o = b->o;
	struct bench_samples all = {0};
	uint64_t errors = st->other_errs;
	double rate = seconds > 0 ? (double)st->issued / seconds : 0;

	for (size_t i = 0; i < st->n_errs; i++)
		errors += st->errs[i].n;
	/* "all requests": every HTTP request kind together */
	for (int k = BENCH_K_NONCE; k < BENCH_K_NREQ; k++)
		all.n += st->s[k].n;
	if (all.n > 0 && (all.us = malloc(all.n * sizeof(*all.us))) != NULL) {
		size_t off = 0;

		for (int k = BENCH_K_NONCE; k < BENCH_K_NREQ; k++) {
			if (st->s[k].n == 0)
				continue;
			memcpy(all.us + off, st->s[k].us, st->s[k].n * sizeof(*all.us));
			off += st->s[k].n;
		}
	} else {
		all.n = 0;
	}
	printf("\ndeed-bench: %s against %s: %d clients, %s account keys, %s certificate keys, "
	       "%s names (run %s)\n",
	       mode_name(o->mode), o->url, o->concurrency, o->key_type, o->cert_key_type,
	       o->unique_names ? "unique" : "reused", b->runid);
	printf("setup: %d accounts in %.2f s\n", o->concurrency, setup_s);
	printf("issued %llu in %.2f s: %.1f issuances/s; %llu failed; %llu badNonce retries; "
	       "%llu polls; %llu authorizations valid at newOrder; %llu orders ready at newOrder\n\n",
	       (unsigned long long)st->issued, seconds, rate, (unsigned long long)st->failed,
	       (unsigned long long)st->bad_nonce, (unsigned long long)st->polls,
	       (unsigned long long)st->authz_valid_at_order, (unsigned long long)st->ready_at_order);
	printf("  %-12s %8s %9s %9s %9s %9s\n", "request", "count", "p50 ms", "p90 ms", "p99 ms",
	       "max ms");
	for (int k = 0; k < BENCH_K_N; k++)
		report_row(bench_kind_name((enum bench_kind)k), &st->s[k]);
	report_row("all requests", &all);
	if (errors > 0) {
		printf("\nerrors:\n");
		for (size_t i = 0; i < st->n_errs; i++)
			printf("  %8llu  %s\n", (unsigned long long)st->errs[i].n, st->errs[i].label);
		if (st->other_errs > 0)
			printf("  %8llu  (other kinds)\n", (unsigned long long)st->other_errs);
	}
	printf("\ndeed-bench: mode=%s url=%s concurrency=%d issued=%llu errors=%llu seconds=%.3f "
	       "rate=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f issue_p50_ms=%.2f "
	       "issue_p99_ms=%.2f setup_s=%.3f bad_nonce=%llu polls=%llu authz_valid_at_order=%llu "
	       "ready_at_order=%llu runid=%s\n",
	       mode_name(o->mode), o->url, o->concurrency, (unsigned long long)st->issued,
	       (unsigned long long)errors, seconds, rate, ms(bench_samples_pct(&all, 50)),
	       ms(bench_samples_pct(&all, 90)), ms(bench_samples_pct(&all, 99)),
	       ms(bench_samples_pct(&all, 100)), ms(bench_samples_pct(&st->s[BENCH_K_ISSUANCE], 50)),
	       ms(bench_samples_pct(&st->s[BENCH_K_ISSUANCE], 99)), setup_s,
	       (unsigned long long)st->bad_nonce, (unsigned long long)st->polls,
	       (unsigned long long)st->authz_valid_at_order, (unsigned long long)st->ready_at_order,
	       b->runid);
	free(all.us);
	return errors > 0 || st->failed > 0 ? EXIT_ERRORS : 0;
}

/* --- main ------------------------------------------------------------------------------- */

static void
client_zone(const struct bench_opts *o, int id, char *out, size_t outsz)
{
	/* dns-persist-01: each client its own name with its own record, as each customer's
	 * domain has its own. All of them at one name made an RRset larger than a DNS answer
	 * over UDP holds (libunbound offers 1232 octets), so every lookup went again over TCP,
	 * which no real domain with one or two records costs a CA. */
	if (o->mode == BENCH_PERSIST)
		snprintf(out, outsz, "c%d.%s", id, o->zone);
	else
		snprintf(out, outsz, "%s", o->zone);
}

int
main(int argc, char **argv)
{
	struct bench_opts o;
	struct bench b = {0};
	struct bench_client *cl = NULL;
	struct bench_stats total = {0};
	struct persist_set ps = {0};
	char listen[128], issuer[256] = "", err[512];
	unsigned char rnd[4];
	int rc, exit_rc = EXIT_ERRORS, started = 0;
	int64_t t_setup, t_start, t_done;
	bool barriers = false, aborted = false;

	if ((rc = parse_opts(argc, argv, &o, listen, sizeof(listen))) >= 0)
		return rc;
	b.o = &o;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		goto out;
	snprintf(b.runid, sizeof(b.runid), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	if (fetch_directory(&b, issuer, sizeof(issuer)) != DEED_OK)
		goto out;
	if (o.mode == BENCH_PERSIST && issuer[0] == '\0') {
		if (o.issuer == NULL) {
			fprintf(stderr, "deed-bench: the directory names no issuerDomainNames: "
					"give --issuer\n");
			goto out;
		}
		snprintf(issuer, sizeof(issuer), "%s", o.issuer);
	}
	if (o.mode == BENCH_HTTP01 &&
	    solver_http_standalone_new(o.http_listen, &b.http, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "deed-bench: http-01 responder: %s\n", err);
		goto out;
	}
	if ((cl = calloc((size_t)o.concurrency, sizeof(*cl))) == NULL)
		goto out;
	pthread_barrier_init(&b.ready, NULL, (unsigned)o.concurrency + 1);
	pthread_barrier_init(&b.go, NULL, (unsigned)o.concurrency + 1);
	barriers = true;
	t_setup = bench_now_us();
	for (int i = 0; i < o.concurrency; i++) {
		cl[i].b = &b;
		cl[i].id = i;
		client_zone(&o, i, cl[i].zone, sizeof(cl[i].zone));
		if (pthread_create(&cl[i].thread, NULL, bench_client_run, &cl[i]) != 0) {
			fprintf(stderr, "deed-bench: cannot start thread %d\n", i);
			/* The barriers wait for every thread: without this one, run nothing. */
			exit(EXIT_ERRORS);
		}
		started++;
	}
	pthread_barrier_wait(&b.ready);
	t_start = bench_now_us();
	if (atomic_load(&b.setup_failed)) {
		for (int i = 0; i < o.concurrency; i++) {
			if (cl[i].why[0] != '\0') {
				fprintf(stderr, "deed-bench: setup of client %d: %s\n", i, cl[i].why);
				break;
			}
		}
		aborted = true;
	} else if (o.mode == BENCH_PERSIST &&
		   persist_publish(&b, cl, issuer, &ps) != DEED_OK) {
		aborted = true;
	}
	if (aborted)
		atomic_store(&b.stop, true);
	b.t_measure_us = bench_now_us() + (int64_t)(o.warmup_s * 1e6);
	b.t_end_us = o.duration_s > 0 ? b.t_measure_us + (int64_t)(o.duration_s * 1e6) : 0;
	pthread_barrier_wait(&b.go);
	for (int i = 0; i < started; i++)
		pthread_join(cl[i].thread, NULL);
	t_done = bench_now_us();
	if (aborted)
		goto out; /* nothing was measured */
	for (int i = 0; i < o.concurrency; i++)
		if (bench_stats_merge(&total, &cl[i].st) != DEED_OK)
			goto out;
	exit_rc = report(&b, &total, (double)(t_start - t_setup) / 1e6,
			 (double)(t_done - (b.t_measure_us < t_done ? b.t_measure_us : t_done)) /
			     1e6);
out:
	persist_remove(&b, &ps);
	for (int i = 0; cl != NULL && i < o.concurrency; i++)
		bench_client_cleanup(&cl[i]);
	free(cl);
	if (barriers) {
		pthread_barrier_destroy(&b.ready);
		pthread_barrier_destroy(&b.go);
	}
	if (b.http != NULL)
		b.http->ops->free(b.http);
	bench_stats_cleanup(&total);
	curl_global_cleanup();
	return exit_rc;
}
