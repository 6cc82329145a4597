#pragma once

/*
 * Test helper (header only): the ACME lab's Knot DNS server, authoritative for example.test,
 * started on a free loopback port for one test program and stopped by its PID at the end.
 * The VA tests resolve through it, so they exercise the real resolver path and send nothing
 * beyond loopback.
 *
 * The lab kit is found at $DEED_LAB, else <source>/../shared/lab (from $DEED_TEST_DATA, which
 * CTest sets to <source>/tests/data, or from this file's own path).
 */

#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct labdns {
	char dir[64];	    /* LAB_DIR: every file of this lab */
	char kit[PATH_MAX]; /* the lab's scripts */
	int port;	    /* Knot, UDP and TCP, 127.0.0.1 (and ::1) */
	char resolver[32];  /* "127.0.0.1@PORT", for va_config.resolver */
};

/* The loopback address of family (127.0.0.1 or ::1) with port, in ss; returns its length. */
static inline socklen_t
labdns_loopback(int family, int port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons((uint16_t)port);
		s->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons((uint16_t)port);
		s->sin6_addr = in6addr_loopback;
		return sizeof(*s);
	}
}

/* Bind type/port on a loopback address; true if that worked (the port is free there). */
static inline bool
labdns_bind_ok(int family, int type, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = labdns_loopback(family, port, &ss);
	int fd, one = 1;
	bool ok;

	if ((fd = socket(family, type, 0)) < 0)
		return family == AF_INET6; /* no IPv6 at all: nothing can be listening there */
	if (type == SOCK_STREAM)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ok = bind(fd, (struct sockaddr *)&ss, len) == 0;
	close(fd);
	return ok;
}

/*
 * A port that is free for TCP and UDP on 127.0.0.1 and ::1: the kernel picks one for TCP on
 * 127.0.0.1, the others are checked. Returns 0 if none was found.
 */
static inline int
labdns_free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_storage ss;
		socklen_t len = labdns_loopback(AF_INET, 0, &ss);
		int fd = socket(AF_INET, SOCK_STREAM, 0), port;

		if (fd < 0)
			return 0;
		if (bind(fd, (struct sockaddr *)&ss, len) != 0 ||
		    getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
			close(fd);
			return 0;
		}
		close(fd);
		port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		if (labdns_bind_ok(AF_INET, SOCK_DGRAM, port) &&
		    labdns_bind_ok(AF_INET6, SOCK_STREAM, port) &&
		    labdns_bind_ok(AF_INET6, SOCK_DGRAM, port))
			return port;
	}
	return 0;
}

static inline bool
labdns_find_kit(char *out, size_t outsz)
{
	const char *env = getenv("DEED_LAB"), *data = getenv("DEED_TEST_DATA");
	char path[2 * PATH_MAX + 32];
	size_t n;

	if (env != NULL && env[0] != '\0') {
		snprintf(out, outsz, "%s", env);
	} else if (data != NULL && (n = strlen(data)) > 11 &&
		   strcmp(data + n - 11, "/tests/data") == 0) {
		/* tests/data need not exist: strip it by hand, not through the file system */
		snprintf(out, outsz, "%.*s/../shared/lab", (int)(n - 11), data);
	} else {
		snprintf(out, outsz, "%s", __FILE__);
		if (strrchr(out, '/') == NULL)
			return false;
		*strrchr(out, '/') = '\0';
		snprintf(path, sizeof(path), "%s/../../../shared/lab", out);
		if (strlen(path) >= outsz)
			return false;
		memcpy(out, path, strlen(path) + 1);
	}
	snprintf(path, sizeof(path), "%s/dns-up.sh", out);
	return access(path, R_OK) == 0;
}

/* Run a shell command line; true if it exited 0. */
static inline bool labdns_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static inline bool
labdns_sh(const char *fmt, ...)
{
	char cmd[PATH_MAX * 2 + 512];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Start Knot for this program. Returns 0, or -1 after saying why on stderr. */
static inline int
labdns_start(struct labdns *l)
{
	memset(l, 0, sizeof(*l));
	if (!labdns_find_kit(l->kit, sizeof(l->kit))) {
		fprintf(stderr, "labdns: no lab kit at %s (set DEED_LAB)\n", l->kit);
		return -1;
	}
	snprintf(l->dir, sizeof(l->dir), "/tmp/deed-labdns.XXXXXX");
	if (mkdtemp(l->dir) == NULL) {
		perror("labdns: mkdtemp");
		return -1;
	}
	/* The port is free when picked; dns-up.sh refuses it if someone took it since. */
	for (int tries = 0; tries < 3; tries++) {
		if ((l->port = labdns_free_port()) == 0)
			break;
		if (labdns_sh("LAB_DIR='%s' LAB_DNS_PORT=%d LAB_DNS_SELFCHECK=0 bash '%s/dns-up.sh'"
			      " >'%s/dns-up.log' 2>&1",
			      l->dir, l->port, l->kit, l->dir)) {
			snprintf(l->resolver, sizeof(l->resolver), "127.0.0.1@%d", l->port);
			/* A test that crashes never reaches labdns_stop: a watchdog stops this
			 * lab's Knot (by its PID file) once this process is gone. */
			labdns_sh("nohup sh -c 'while kill -0 %d 2>/dev/null; do sleep 1; done; "
				  "LAB_DIR=\"%s\" bash \"%s/down.sh\"; rm -rf \"%s\"' "
				  ">/dev/null 2>&1 </dev/null &",
				  (int)getpid(), l->dir, l->kit, l->dir);
			return 0;
		}
	}
	fprintf(stderr, "labdns: Knot did not start; dns-up.sh said:\n");
	labdns_sh("cat '%s/dns-up.log' >&2", l->dir);
	labdns_sh("rm -rf '%s'", l->dir);
	return -1;
}

/*
 * Send one TSIG-signed RFC 2136 update to the lab zone. lines: knsupdate commands, one per
 * line, e.g. "update add _acme-challenge.x.example.test. 5 TXT \"v\"". Returns 0 when Knot
 * accepted it (it serves the change from then on).
 */
static inline int labdns_update(const struct labdns *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline int
labdns_update(const struct labdns *l, const char *fmt, ...)
{
	char cmd[PATH_MAX + 128];
	va_list ap;
	FILE *p;
	int st;

	snprintf(cmd, sizeof(cmd), "knsupdate -k '%s/dns/tsig.knot.key'", l->dir);
	if ((p = popen(cmd, "w")) == NULL)
		return -1;
	fprintf(p, "server 127.0.0.1 %d\nzone example.test.\n", l->port);
	va_start(ap, fmt);
	vfprintf(p, fmt, ap);
	va_end(ap);
	fprintf(p, "\nsend\nquit\n");
	st = pclose(p);
	return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Stop this lab's Knot (by its saved PID) and remove the lab directory. */
static inline void
labdns_stop(struct labdns *l)
{
	if (l->dir[0] == '\0')
		return;
	labdns_sh("LAB_DIR='%s' bash '%s/down.sh' >/dev/null 2>&1", l->dir, l->kit);
	labdns_sh("rm -rf '%s'", l->dir);
	l->dir[0] = '\0';
}
