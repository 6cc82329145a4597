#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "solver.h"

#define WELL_KNOWN "/.well-known/acme-challenge/"
#define REQ_MAX 4096 /* a validator's GET is a few hundred bytes */
#define RESP_MAX (SOLVER_KEYAUTHZ_MAX + 256)
#define TOKENS_MAX 1000 /* far more than the names of one order (Let's Encrypt: 100) */
#define PATH_MAX_ 4096

/* --- standalone responder -------------------------------------------------------------- */

struct token {
	char token[SOLVER_TOKEN_MAX + 1];
	char key_authz[SOLVER_KEYAUTHZ_MAX + 1];
};

struct http_standalone {
	struct solver base; /* first: struct solver * converts to this */
	struct solver_responder *resp;
	pthread_mutex_t lock; /* tokens are read by the responder thread */
	struct token *tokens;
	size_t ntokens;
};

struct http_conn {
	char in[REQ_MAX];
	size_t inlen;
	char out[RESP_MAX];
	size_t outlen, outoff;
	bool responding;
};

static int
check_challenge(const struct solver_challenge *c, char *err, size_t errlen)
{
	if (c == NULL || !solver_token_ok(c->token)) {
		deed_seterr(err, errlen, "challenge token is missing or not base64url");
		return DEED_EINVAL;
	}
	if (c->key_authz == NULL || c->key_authz[0] == '\0' ||
	    strlen(c->key_authz) > SOLVER_KEYAUTHZ_MAX) {
		deed_seterr(err, errlen, "key authorization for token %s is empty or too long",
			    c->token);
		return DEED_EINVAL;
	}
	return DEED_OK;
}

/* Index of token in the table, or ntokens. Called with the lock held. */
static size_t
token_find(const struct http_standalone *h, const char *token)
{
	size_t i;

	for (i = 0; i < h->ntokens; i++)
		if (strcmp(h->tokens[i].token, token) == 0)
			break;
	return i;
}

/* Request line of a complete request head -> the response into conn->out. */
static void
http_respond(struct http_standalone *h, struct http_conn *hc)
{
	char method[8] = "", *target, *sp, *eol;
	const char *status = "404 Not Found", *body = "not found\n";
	char ka[SOLVER_KEYAUTHZ_MAX + 1];
	bool head = false;
	size_t i;

	hc->in[hc->inlen] = '\0';
	eol = strpbrk(hc->in, "\r\n");
	if (eol != NULL)
		*eol = '\0';
	sp = strchr(hc->in, ' ');
	if (sp == NULL || (size_t)(sp - hc->in) >= sizeof(method)) {
		status = "400 Bad Request";
		body = "bad request\n";
		goto out;
	}
	memcpy(method, hc->in, (size_t)(sp - hc->in));
	target = sp + 1;
	if ((sp = strchr(target, ' ')) != NULL)
		*sp = '\0';
	head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		status = "405 Method Not Allowed";
		body = "method not allowed\n";
		goto out;
	}
	/* RFC 9112 §3.2.2: a request may carry the absolute form of the URL. */
	if (strncmp(target, "http://", 7) == 0 && (target = strchr(target + 7, '/')) == NULL)
		goto out;
	if (strncmp(target, WELL_KNOWN, strlen(WELL_KNOWN)) != 0)
		goto out;
	target += strlen(WELL_KNOWN);
	pthread_mutex_lock(&h->lock);
	if ((i = token_find(h, target)) < h->ntokens) {
		memcpy(ka, h->tokens[i].key_authz, sizeof(ka));
		status = "200 OK";
		body = ka;
	}
	pthread_mutex_unlock(&h->lock);
out:
	/* RFC 8555 §8.3: the body is the key authorization and nothing else (the example uses
	 * application/octet-stream). */
	hc->outlen = (size_t)snprintf(hc->out, sizeof(hc->out),
				      "HTTP/1.1 %s\r\nContent-Type: application/octet-stream\r\n"
				      "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
				      status, strlen(body), head ? "" : body);
	if (hc->outlen >= sizeof(hc->out))
		hc->outlen = sizeof(hc->out) - 1;
	hc->responding = true;
}

static bool
head_complete(const struct http_conn *hc)
{
	const char *p = hc->in, *end = hc->in + hc->inlen;

	for (; p < end; p++)
		if (*p == '\n' && ((p + 1 < end && p[1] == '\n') ||
				   (p + 2 < end && p[1] == '\r' && p[2] == '\n')))
			return true;
	return false;
}

static short
http_step(void *arg, int fd, short revents, void **state)
{
	struct http_standalone *h = arg;
	struct http_conn *hc = *state;
	ssize_t n;

	if (hc == NULL) {
		if ((hc = calloc(1, sizeof(*hc))) == NULL)
			return 0;
		*state = hc;
		return POLLIN;
	}
	if (!hc->responding) {
		n = recv(fd, hc->in + hc->inlen, sizeof(hc->in) - 1 - hc->inlen, 0);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return POLLIN;
		if (n <= 0)
			return 0;
		hc->inlen += (size_t)n;
		if (head_complete(hc) || hc->inlen == sizeof(hc->in) - 1)
			http_respond(h, hc);
		else
			return POLLIN;
	}
	(void)revents;
	while (hc->outoff < hc->outlen) {
		n = send(fd, hc->out + hc->outoff, hc->outlen - hc->outoff, MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return POLLOUT;
		if (n <= 0)
			return 0;
		hc->outoff += (size_t)n;
	}
	return 0;
}

static void
http_close(void *arg, void *state)
{
	free(state);
}

static const struct solver_conn_ops http_conn_ops = {http_step, http_close};

static int
standalone_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct http_standalone *h = (struct http_standalone *)s;
	int rc;
	size_t i;

	if ((rc = check_challenge(c, err, errlen)) != DEED_OK)
		return rc;
	pthread_mutex_lock(&h->lock);
	if ((i = token_find(h, c->token)) == h->ntokens) {
		struct token *t;

		if (h->ntokens == TOKENS_MAX) {
			rc = DEED_ETOOBIG;
			deed_seterr(err, errlen, "more than %d http-01 tokens at once", TOKENS_MAX);
			goto out;
		}
		if ((t = realloc(h->tokens, (h->ntokens + 1) * sizeof(*t))) == NULL) {
			rc = DEED_ENOMEM;
			goto out;
		}
		h->tokens = t;
		h->ntokens++;
		snprintf(t[i].token, sizeof(t[i].token), "%s", c->token);
	}
	snprintf(h->tokens[i].key_authz, sizeof(h->tokens[i].key_authz), "%s", c->key_authz);
out:
	pthread_mutex_unlock(&h->lock);
	return rc;
}

static int
standalone_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct http_standalone *h = (struct http_standalone *)s;
	size_t i;

	if (c == NULL || c->token == NULL)
		return DEED_EINVAL;
	pthread_mutex_lock(&h->lock);
	if ((i = token_find(h, c->token)) < h->ntokens)
		h->tokens[i] = h->tokens[--h->ntokens];
	pthread_mutex_unlock(&h->lock);
	return DEED_OK;
}

static void
standalone_free(struct solver *s)
{
	struct http_standalone *h = (struct http_standalone *)s;

	if (h == NULL)
		return;
	solver_responder_free(h->resp); /* first: the thread reads the table */
	pthread_mutex_destroy(&h->lock);
	free(h->tokens);
	free(h);
}

static const struct solver_ops standalone_ops = {
    standalone_present,
    NULL, /* served from the moment present returns */
    standalone_cleanup,
    standalone_free,
};

int
solver_http_standalone_new(const char *listen_addr, struct solver **out, char *err, size_t errlen)
{
	struct http_standalone *h;
	int rc;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return DEED_ENOMEM;
	h->base.ops = &standalone_ops;
	h->base.type = "http-01";
	pthread_mutex_init(&h->lock, NULL);
	if ((rc = solver_responder_new(listen_addr, &http_conn_ops, h, &h->resp, err, errlen)) !=
	    DEED_OK) {
		standalone_free(&h->base);
		return rc;
	}
	*out = &h->base;
	return DEED_OK;
}

/* --- webroot --------------------------------------------------------------------------- */

struct http_webroot {
	struct solver base;
	char dir[PATH_MAX_];
	bool made_wk, made_ac; /* directories we created, removed again by free if empty */
};

/* mkdir path unless it exists; *made says whether we did. Mode 0755: the web server reads it. */
static int
ensure_dir(const char *path, bool *made, char *err, size_t errlen)
{
	if (mkdir(path, 0755) == 0) {
		*made = true;
		if (chmod(path, 0755) == 0) /* a umask could have taken the server's access */
			return DEED_OK;
	} else if (errno == EEXIST) {
		return DEED_OK;
	}
	deed_seterr(err, errlen, "cannot create %s: %s", path, strerror(errno));
	return DEED_EIO;
}

static int
webroot_present(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct http_webroot *w = (struct http_webroot *)s;
	char path[PATH_MAX_ + 256], tmp[PATH_MAX_ + 256];
	size_t len;
	int fd = -1, rc;

	if ((rc = check_challenge(c, err, errlen)) != DEED_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/.well-known", w->dir);
	if ((rc = ensure_dir(path, &w->made_wk, err, errlen)) != DEED_OK)
		return rc;
	snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", w->dir);
	if ((rc = ensure_dir(path, &w->made_ac, err, errlen)) != DEED_OK)
		return rc;
	snprintf(path, sizeof(path), "%s" WELL_KNOWN "%s", w->dir, c->token);
	/* Written under another name and renamed, so the web server never serves half a file. */
	snprintf(tmp, sizeof(tmp), "%s" WELL_KNOWN ".%s.XXXXXX", w->dir, c->token);
	rc = DEED_EIO;
	len = strlen(c->key_authz);
	if ((fd = mkstemp(tmp)) < 0) {
		deed_seterr(err, errlen, "cannot create a file in %s" WELL_KNOWN ": %s", w->dir,
			    strerror(errno));
		return DEED_EIO;
	}
	/* Mode 0644 whatever the umask: the web server usually runs as another user. */
	if (write(fd, c->key_authz, len) != (ssize_t)len || fchmod(fd, 0644) != 0) {
		deed_seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = close(fd);
	fd = -1;
	if (rc != 0) {
		rc = DEED_EIO;
		deed_seterr(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		goto out;
	}
	rc = DEED_EIO;
	if (rename(tmp, path) != 0) {
		deed_seterr(err, errlen, "cannot rename to %s: %s", path, strerror(errno));
		goto out;
	}
	rc = DEED_OK;
out:
	if (fd >= 0)
		close(fd);
	if (rc != DEED_OK)
		unlink(tmp);
	return rc;
}

static int
webroot_cleanup(struct solver *s, const struct solver_challenge *c, char *err, size_t errlen)
{
	struct http_webroot *w = (struct http_webroot *)s;
	char path[PATH_MAX_ + 256];

	if (c == NULL || !solver_token_ok(c->token)) {
		deed_seterr(err, errlen, "challenge token is missing or not base64url");
		return DEED_EINVAL;
	}
	snprintf(path, sizeof(path), "%s" WELL_KNOWN "%s", w->dir, c->token);
	if (unlink(path) != 0 && errno != ENOENT) {
		deed_seterr(err, errlen, "cannot remove %s: %s", path, strerror(errno));
		return DEED_EIO;
	}
	return DEED_OK;
}

static void
webroot_free(struct solver *s)
{
	struct http_webroot *w = (struct http_webroot *)s;
	char path[PATH_MAX_ + 64];

	if (w == NULL)
		return;
	/* Only what we created, and only when empty: the site may keep other files there. */
	if (w->made_ac) {
		snprintf(path, sizeof(path), "%s/.well-known/acme-challenge", w->dir);
		rmdir(path);
	}
	if (w->made_wk) {
		snprintf(path, sizeof(path), "%s/.well-known", w->dir);
		rmdir(path);
	}
	free(w);
}

static const struct solver_ops webroot_ops = {
    webroot_present,
    NULL,
    webroot_cleanup,
    webroot_free,
};

int
solver_http_webroot_new(const char *dir, struct solver **out, char *err, size_t errlen)
{
	struct http_webroot *w;
	struct stat st;
	size_t len;

	*out = NULL;
	if (dir == NULL || (len = strlen(dir)) == 0 || len >= PATH_MAX_) {
		deed_seterr(err, errlen, "webroot directory name is empty or too long");
		return DEED_EINVAL;
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		deed_seterr(err, errlen, "webroot %s is not a directory", dir);
		return DEED_EINVAL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return DEED_ENOMEM;
	w->base.ops = &webroot_ops;
	w->base.type = "http-01";
	memcpy(w->dir, dir, len + 1);
	while (len > 1 && w->dir[len - 1] == '/')
		w->dir[--len] = '\0';
	*out = &w->base;
	return DEED_OK;
}
