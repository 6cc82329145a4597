#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "b64url.h"
#include "error.h"
#include "solver.h"

#define ADDR_MAX 300	      /* a host name (253) with brackets, colon and port */
#define CONN_MAX 64	      /* connections a responder drives at once */
#define CONN_TIMEOUT_MS 10000 /* a validator that has not finished by then never will */
#define LISTEN_BACKLOG 64

int
solver_dns01_value(const char *key_authz, char out[44])
{
	uint8_t md[32];
	unsigned mdlen = 0;

	if (key_authz == NULL || out == NULL)
		return DEED_EINVAL;
	/* RFC 8555 §8.4: the TXT value is base64url(SHA-256(key authorization)). */
	if (EVP_Digest(key_authz, strlen(key_authz), md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md))
		return DEED_ECRYPTO;
	return b64url_encode_buf(md, sizeof(md), out, 44);
}

bool
solver_token_ok(const char *token)
{
	size_t n;

	if (token == NULL)
		return false;
	n = strspn(token, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_");
	return n > 0 && n <= SOLVER_TOKEN_MAX && token[n] == '\0';
}

/*
 * Split s into host and port: "[v6]:port", "[v6]", "host:port", "host", and a bare IPv6
 * address (two or more colons and no brackets: the port cannot be told from the address).
 */
static int
split_hostport(const char *s, char *host, size_t hostsz, const char **port)
{
	const char *colon;
	size_t len;

	*port = NULL;
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || (end[1] != '\0' && end[1] != ':'))
			return DEED_EINVAL;
		len = (size_t)(end - s - 1);
		if (end[1] == ':')
			*port = end + 2;
		s++;
	} else if ((colon = strchr(s, ':')) != NULL && strchr(colon + 1, ':') == NULL) {
		len = (size_t)(colon - s);
		*port = colon + 1;
	} else {
		len = strlen(s);
	}
	if (len == 0 || len >= hostsz)
		return DEED_EINVAL;
	memcpy(host, s, len);
	host[len] = '\0';
	return DEED_OK;
}

int
solver_addr_parse(const char *s, int default_port, bool numeric_only, struct sockaddr_storage *ss,
		  socklen_t *sslen, char *err, size_t errlen)
{
	struct addrinfo hints = {0}, *res = NULL;
	char host[ADDR_MAX], portbuf[16];
	const char *port;
	char *end;
	long p;
	int g;

	if (s == NULL || split_hostport(s, host, sizeof(host), &port) != DEED_OK) {
		deed_seterr(err, errlen, "address \"%.200s\" is not ADDR:PORT", s ? s : "(null)");
		return DEED_EINVAL;
	}
	if (port == NULL) {
		if (default_port < 0) {
			deed_seterr(err, errlen, "address \"%.200s\" has no port", s);
			return DEED_EINVAL;
		}
		p = default_port;
	} else {
		errno = 0;
		p = strtol(port, &end, 10);
		if (errno != 0 || end == port || *end != '\0' || p < 0 || p > 65535) {
			deed_seterr(err, errlen, "address \"%.200s\" has a bad port", s);
			return DEED_EINVAL;
		}
	}
	snprintf(portbuf, sizeof(portbuf), "%ld", p);
	hints.ai_family = AF_UNSPEC;
	hints.ai_flags = AI_NUMERICSERV | (numeric_only ? AI_NUMERICHOST : 0);
	if ((g = getaddrinfo(host, portbuf, &hints, &res)) != 0 || res == NULL) {
		deed_seterr(err, errlen, "address \"%.200s\": %s", s,
			    numeric_only ? "not a numeric address" : gai_strerror(g));
		return DEED_EINVAL;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return DEED_OK;
}

int64_t
solver_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
solver_addr_str(const struct sockaddr_storage *ss, char *out, size_t outsz)
{
	char host[NI_MAXHOST], serv[NI_MAXSERV];
	socklen_t len =
	    ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);

	if (getnameinfo((const struct sockaddr *)ss, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, outsz, "(unprintable address)");
		return;
	}
	snprintf(out, outsz, ss->ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* --- responder ------------------------------------------------------------------------- */

struct conn {
	int fd;
	short events;
	void *state;
	int64_t deadline_ms;
};

struct solver_responder {
	int lfd;
	int wake[2]; /* a byte on wake[1] tells the thread to stop */
	pthread_t thread;
	bool started;
	const struct solver_conn_ops *ops;
	void *arg;
	struct conn conns[CONN_MAX];
	size_t nconns;
};


static void
conn_end(struct solver_responder *r, size_t i)
{
	if (r->ops->close != NULL)
		r->ops->close(r->arg, r->conns[i].state);
	close(r->conns[i].fd);
	r->conns[i] = r->conns[--r->nconns];
}

static void
accept_all(struct solver_responder *r)
{
	while (r->nconns < CONN_MAX) {
		int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return; /* EAGAIN, or a connection reset before we got to it */
		c = &r->conns[r->nconns++];
		*c = (struct conn){fd, 0, NULL, solver_now_ms() + CONN_TIMEOUT_MS};
		if ((c->events = r->ops->step(r->arg, fd, 0, &c->state)) == 0)
			conn_end(r, r->nconns - 1);
	}
}

/*
 * One thread serves every connection by poll(): a validator that connects and then stalls
 * must not hold up the others (RFC 8555 §10.2: several vantage points may validate at once).
 */
static void *
responder_main(void *arg)
{
	struct solver_responder *r = arg;
	struct pollfd pfd[CONN_MAX + 2];

	for (;;) {
		int64_t now = solver_now_ms(), wait = 1000;
		size_t i, n = r->nconns;

		pfd[0] = (struct pollfd){r->wake[0], POLLIN, 0};
		pfd[1] = (struct pollfd){r->lfd, r->nconns < CONN_MAX ? POLLIN : 0, 0};
		for (i = 0; i < n; i++) {
			pfd[i + 2] = (struct pollfd){r->conns[i].fd, r->conns[i].events, 0};
			if (r->conns[i].deadline_ms - now < wait)
				wait = r->conns[i].deadline_ms - now;
		}
		if (poll(pfd, n + 2, wait < 0 ? 0 : (int)wait) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents != 0)
			break;
		/* Backwards, so that conn_end's move of the last entry skips nothing. */
		now = solver_now_ms();
		for (i = n; i-- > 0;) {
			struct conn *c = &r->conns[i];

			if (pfd[i + 2].revents != 0)
				c->events =
				    r->ops->step(r->arg, c->fd, pfd[i + 2].revents, &c->state);
			if (c->events == 0 || now >= c->deadline_ms)
				conn_end(r, i);
		}
		if (pfd[1].revents != 0)
			accept_all(r);
	}
	while (r->nconns > 0)
		conn_end(r, r->nconns - 1);
	return NULL;
}

int
solver_responder_new(const char *listen_addr, const struct solver_conn_ops *ops, void *arg,
		     struct solver_responder **out, char *err, size_t errlen)
{
	struct solver_responder *r = NULL;
	struct sockaddr_storage ss;
	socklen_t sslen;
	int rc, one = 1;

	*out = NULL;
	if ((rc = solver_addr_parse(listen_addr, -1, true, &ss, &sslen, err, errlen)) != DEED_OK)
		return rc;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return DEED_ENOMEM;
	r->lfd = r->wake[0] = r->wake[1] = -1;
	r->ops = ops;
	r->arg = arg;
	rc = DEED_EIO;
	r->lfd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (r->lfd < 0 || setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(r->lfd, (struct sockaddr *)&ss, sslen) != 0 ||
	    listen(r->lfd, LISTEN_BACKLOG) != 0) {
		deed_seterr(err, errlen, "cannot listen on %s: %s", listen_addr, strerror(errno));
		goto fail;
	}
	if (pipe2(r->wake, O_CLOEXEC) != 0) {
		deed_seterr(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	if ((errno = pthread_create(&r->thread, NULL, responder_main, r)) != 0) {
		deed_seterr(err, errlen, "cannot start the responder thread: %s", strerror(errno));
		goto fail;
	}
	r->started = true;
	*out = r;
	return DEED_OK;
fail:
	solver_responder_free(r);
	return rc;
}

void
solver_responder_free(struct solver_responder *r)
{
	if (r == NULL)
		return;
	if (r->started) {
		while (write(r->wake[1], "x", 1) < 0 && errno == EINTR)
			;
		pthread_join(r->thread, NULL);
	}
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->wake[0] >= 0)
		close(r->wake[0]);
	if (r->wake[1] >= 0)
		close(r->wake[1]);
	free(r);
}
