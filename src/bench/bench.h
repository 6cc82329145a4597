#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "growbuf.h"

#include "jwk.h"

/*
 * deed-bench: N virtual ACME clients, each with its own account, driven through complete
 * issuances (newOrder -> authorization -> challenge -> poll -> finalize -> download) against
 * any ACME server. Modules: main.c (options, setup, report), client.c (one virtual client's
 * ACME flow), http.c (the per-client HTTP/1.1 transport), stats.c (latencies, errors).
 * DNS updates (dns-01, and the one that publishes the dns-persist-01 records) are the
 * client's solver_dns (solver.h).
 */

enum bench_mode {
	BENCH_PERSIST, /* dns-persist-01: records published once, before the timed phase */
	BENCH_DNS01,   /* dns-01: one RFC 2136 add and delete per order */
	BENCH_HTTP01,  /* http-01: the built-in responder */
};

/* What a latency sample measures. The HTTP request kinds come first: "all requests" is
 * BENCH_K_NONCE .. BENCH_K_CERT. */
enum bench_kind {
	BENCH_K_NONCE,    /* HEAD newNonce, when no nonce was at hand */
	BENCH_K_ORDER,    /* POST newOrder */
	BENCH_K_AUTHZ,    /* first POST-as-GET of an authorization */
	BENCH_K_CHALL,    /* POST {} to the challenge */
	BENCH_K_POLL,     /* POST-as-GET of an authorization or order while waiting */
	BENCH_K_FINALIZE, /* POST finalize */
	BENCH_K_CERT,     /* POST-as-GET of the certificate */
	BENCH_K_NREQ,
	BENCH_K_DNS = BENCH_K_NREQ, /* one RFC 2136 update (dns-01) */
	BENCH_K_ISSUANCE,           /* newOrder sent to certificate received */
	BENCH_K_ACCOUNT,            /* newAccount, in the setup phase */
	BENCH_K_N,
};

const char *bench_kind_name(enum bench_kind k);

/* --- options -------------------------------------------------------------------------- */

struct bench_opts {
	const char *url;
	const char *ca_bundle;
	bool insecure;
	enum bench_mode mode;
	long count;           /* issuances to make (0 = run for duration_s) */
	double duration_s;
	double warmup_s;      /* issuances started in this first span are not counted */
	int concurrency;
	const char *key_type;      /* account keys */
	const char *cert_key_type; /* certificate keys */
	bool unique_names;
	const char *zone;          /* names are made under it */
	const char *dns_server;    /* RFC 2136 primary, ADDR:PORT */
	const char *tsig_key;      /* TSIG key file (BIND or alg:name:secret) */
	const char *dns_zone;      /* zone to update; NULL = found by SOA lookups */
	int ttl;
	const char *http_listen;   /* http-01 responder, ADDR:PORT */
	const char *issuer;        /* dns-persist-01 issuer when the directory names none */
	bool keep_records;
	int poll_min_ms, poll_max_ms;
	bool honor_retry_after;
	bool verify;
	bool fetch_authz;          /* fetch authorizations of an order ready at newOrder too */
	long max_errors;           /* stop after this many failed issuances (0 = never) */
};

/* --- statistics (stats.c) --------------------------------------------------------------- */

struct bench_samples {
	uint32_t *us; /* microseconds */
	size_t n, cap;
};

#define BENCH_ERR_KINDS 32
#define BENCH_ERR_LABEL 96

struct bench_err {
	char label[BENCH_ERR_LABEL]; /* "finalize: badCSR", "poll: transport: ..." */
	uint64_t n;
};

/* One per client thread (no locks on the hot path); merged at the end. */
struct bench_stats {
	struct bench_samples s[BENCH_K_N];
	struct bench_err errs[BENCH_ERR_KINDS];
	size_t n_errs;
	uint64_t other_errs; /* labels beyond BENCH_ERR_KINDS */
	uint64_t issued, failed, bad_nonce, polls, authz_valid_at_order;
	uint64_t ready_at_order; /* orders ready in the newOrder response */
};

/* Record a sample; a failed allocation drops it (and is counted nowhere: memory is gone). */
void bench_stats_add(struct bench_stats *st, enum bench_kind k, int64_t us);
void bench_stats_error(struct bench_stats *st, const char *label);
/* Append from's samples and counters to into. Returns DEED_OK or DEED_ENOMEM. */
int bench_stats_merge(struct bench_stats *into, const struct bench_stats *from);
/* Sort s and give the p-th percentile (0 < p <= 100) in microseconds; 0 when empty. */
uint32_t bench_samples_pct(struct bench_samples *s, double p);
void bench_stats_cleanup(struct bench_stats *st);

/* --- HTTP (http.c) ---------------------------------------------------------------------- */

#define BENCH_BODY_MAX (1024 * 1024) /* a response body; certificate chains are a few KiB */
#define BENCH_URL_MAX 1024

/*
 * One libcurl easy handle per client thread, options set once, so the connection is kept alive
 * across requests and a request allocates nothing but what libcurl itself needs. HTTP/1.1:
 * what every ACME client speaks, and what the server's per-request cost is measured with.
 */
struct bench_http {
	CURL *curl;
	struct curl_slist *jose;  /* Content-Type: application/jose+json */
	struct growbuf rx;        /* the response body, at most BENCH_BODY_MAX */
	long status;
	char nonce[256];          /* the last Replay-Nonce seen; "" once used */
	char location[BENCH_URL_MAX];
	char ctype[128];
	int retry_after;          /* seconds, 0 when absent */
	char err[CURL_ERROR_SIZE];   /* the failure in full (curl's words, with figures) */
	const char *kind;            /* the failure's kind, to count by: curl_easy_strerror */
};

/* Returns DEED_OK or DEED_ENOMEM. ca_bundle NULL = system store; insecure skips checks. */
int bench_http_init(struct bench_http *h, const char *ca_bundle, bool insecure);
void bench_http_cleanup(struct bench_http *h);
/* DEED_OK when the server answered (any status), DEED_ECONNECT/DEED_ETLS/DEED_ETOOBIG with
 * h->err saying why. */
int bench_http_get(struct bench_http *h, const char *url);
int bench_http_head(struct bench_http *h, const char *url);
int bench_http_post(struct bench_http *h, const char *url, const char *body, size_t len);

/* --- the run and its virtual clients (client.c) ------------------------------------------ */

struct solver;

struct bench {
	const struct bench_opts *o;
	char new_nonce[BENCH_URL_MAX], new_account[BENCH_URL_MAX], new_order[BENCH_URL_MAX];
	bool tos;          /* the directory has termsOfService: agree */
	char runid[16];    /* random, so repeated runs never order the same name */
	struct solver *http; /* http-01 responder shared by all clients */
	pthread_barrier_t ready, go; /* setup done; timed phase starts */
	atomic_long claimed;         /* issuances handed out (count mode) */
	atomic_long failures;        /* failed issuances, for max_errors */
	atomic_bool stop;
	atomic_bool setup_failed;
	int64_t t_measure_us, t_end_us; /* CLOCK_MONOTONIC; t_end_us 0 = no deadline */
};

struct bench_client {
	struct bench *b;
	int id;
	pthread_t thread;
	struct bench_http http;
	struct jwk *acct, *cert_key;
	char kid[BENCH_URL_MAX];
	char zone[256];        /* names of this client are made under it */
	char persist_value[BENCH_URL_MAX + 320]; /* its dns-persist-01 record */
	char *csr_payload;     /* cached for a fixed name */
	struct solver *dns;    /* dns-01 */
	bool recording;        /* inside the timed phase */
	uint64_t seq;
	int64_t setup_us;
	struct bench_stats st;
	char why[512];         /* setup failure */
};

/* The thread body: setup (key, account), wait for the start, issue until told to stop. */
void *bench_client_run(void *arg);
void bench_client_cleanup(struct bench_client *c);

/* CLOCK_MONOTONIC in microseconds. */
int64_t bench_now_us(void);
