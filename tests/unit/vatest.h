#pragma once

/*
 * Test helper (header only): what the VA tests (tests/unit/test_va*.c) share. Assertions on
 * strings, the dns-01 TXT value, a validation call, a va or the lab's Knot with a va and a
 * va_dns set up for a test group, and a loopback TCP server thread that hands each accepted
 * connection to a function of the test. Every function is static inline, so a test that
 * includes this and uses only part of it gets no unused-function warning.
 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <openssl/evp.h>

#include "error.h"
#include "labdns.h"
#include "va.h"
#include "va_dns.h"

/* The account the validations are made for, unless a test says otherwise. */
#define VATEST_ACCOUNT "https://ca.test/acct/1"

/* --- assertions and small values -------------------------------------------------------- */

static inline void
assert_contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

/* The same, ignoring case. */
static inline void
assert_contains_nocase(const char *hay, const char *needle)
{
	if (strcasestr(hay, needle) == NULL)
		fail_msg("\"%s\" does not contain \"%s\"", hay, needle);
}

static inline int64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* base64url(SHA-256(ka)), RFC 8555 §8.4, computed here with OpenSSL's own base64, not the
 * project's. */
static inline void
txt_for(const char *ka, char out[64])
{
	unsigned char d[32], b64[64];

	assert_int_equal(EVP_Digest(ka, strlen(ka), d, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_EncodeBlock(b64, d, sizeof(d)), 44);
	for (int i = 0; i < 43; i++)
		out[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : (char)b64[i];
	out[43] = '\0';
}

/* Member key of validation record i, as a string; NULL when absent. */
static inline const char *
rec_str(const struct va_result *res, size_t i, const char *key)
{
	return json_string_value(json_object_get(json_array_get(res->records, i), key));
}

/* --- validations ------------------------------------------------------------------------ */

/* Validate ident with challenge type, token and key authorization ka, for VATEST_ACCOUNT. The
 * call must succeed; res says whether the validation did. */
static inline void
vatest_validate(struct va *v, const char *type, const char *ident, const char *token,
		const char *ka, struct va_result *res)
{
	struct va_request req = {.type = type,
				 .identifier = ident,
				 .token = token,
				 .key_authz = ka,
				 .account_url = VATEST_ACCOUNT};

	assert_int_equal(va_validate(v, &req, res), DEED_OK);
}

/* A va resolving through resolver that connects to port for http-01 and tls-alpn-01. */
static inline struct va *
vatest_va(const char *resolver, bool allow_loopback, int port, int timeout_ms)
{
	struct va_config cfg = {.resolver = resolver,
				.http01_port = port,
				.tlsalpn01_port = port,
				.allow_loopback = allow_loopback,
				.timeout_ms = timeout_ms};
	char err[256];
	struct va *v;

	assert_int_equal(va_new(&cfg, &v, err, sizeof(err)), DEED_OK);
	return v;
}

/* --- the lab's Knot, with a va and a va_dns through it (for a group's setup) ------------- */

/* Start the lab's Knot, then *va and *dns resolving through it. Returns 0, or -1 (with
 * nothing left running) after saying why on stderr. */
static inline int
vatest_lab_start(struct labdns *lab, struct va **va, struct va_dns **dns)
{
	char err[256] = "";
	struct va_config cfg = {.http01_port = 80, .tlsalpn01_port = 443, .timeout_ms = 5000};

	if (labdns_start(lab) != 0)
		return -1;
	cfg.resolver = lab->resolver;
	if (va_new(&cfg, va, err, sizeof(err)) != DEED_OK ||
	    va_dns_new(lab->resolver, NULL, dns, err, sizeof(err)) != DEED_OK) {
		fprintf(stderr, "va_new: %s\n", err);
		labdns_stop(lab);
		return -1;
	}
	return 0;
}

static inline void
vatest_lab_stop(struct labdns *lab, struct va *va, struct va_dns *dns)
{
	va_free(va);
	va_dns_free(dns);
	labdns_stop(lab);
}

/* --- a loopback TCP server --------------------------------------------------------------- */

/*
 * A thread that accepts on a loopback port and serves one connection at a time: it counts
 * the connection, calls serve_one(arg, fd), then closes fd. Zero-initialised, it is a server
 * not started, which vatest_srv_stop accepts.
 */
struct vatest_srv {
	int fd; /* listening */
	int port;
	int stop[2]; /* a byte written to stop[1] ends the thread */
	pthread_t th;
	bool running;
	atomic_int conns; /* connections accepted */
	void (*serve_one)(void *arg, int fd);
	void *arg;
	pthread_mutex_t lock; /* for what serve_one records and the test reads, if anything */
};

static inline void *
vatest_srv_loop(void *p)
{
	struct vatest_srv *s = p;

	for (;;) {
		struct pollfd pfd[2] = {{.fd = s->fd, .events = POLLIN},
					{.fd = s->stop[0], .events = POLLIN}};
		int c;

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			break;
		if (pfd[1].revents)
			break;
		if (!(pfd[0].revents & POLLIN) ||
		    (c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		atomic_fetch_add(&s->conns, 1);
		s->serve_one(s->arg, c);
		close(c);
	}
	return NULL;
}

/* Listen on the loopback address of family (127.0.0.1 or ::1) at port, or at a port the
 * kernel picks when port is 0 (s->port says which), and start serving. Returns 0 or -1;
 * vatest_srv_stop cleans up either way. */
static inline int
vatest_srv_start(struct vatest_srv *s, int family, int port, void (*serve_one)(void *, int),
		 void *arg)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->serve_one = serve_one;
	s->arg = arg;
	len = labdns_loopback(family, port, &ss);
	if ((s->fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&ss, len) != 0 || listen(s->fd, 16) != 0 ||
	    getsockname(s->fd, (struct sockaddr *)&ss, &len) != 0 || pipe2(s->stop, O_CLOEXEC) != 0)
		return -1;
	s->port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	s->running = pthread_create(&s->th, NULL, vatest_srv_loop, s) == 0;
	return s->running ? 0 : -1;
}

static inline void
vatest_srv_stop(struct vatest_srv *s)
{
	if (s->fd == 0) /* never started, or stopped already */
		return;
	if (s->running && write(s->stop[1], "x", 1) == 1)
		pthread_join(s->th, NULL);
	s->running = false;
	if (s->fd > 0)
		close(s->fd);
	if (s->stop[0] > 0) {
		close(s->stop[0]);
		close(s->stop[1]);
	}
	pthread_mutex_destroy(&s->lock);
	s->fd = s->stop[0] = s->stop[1] = 0;
}
