#pragma once

/*
 * Test helper (header only): a Knot DNS server of the test's own (not the lab kit's), with
 * zones it signs itself (ECDSA P-256, algorithm 13; NSEC or NSEC3) or serves as given. It
 * runs on a free loopback port from a temporary directory that holds everything (config,
 * zones, key database, control socket, log) and is stopped by its PID at the end.
 *
 * knotd, knotc, keymgr and kdig come from Debian's knot and knot-dnsutils packages.
 */

#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "labdns.h" /* labdns_free_port, labdns_sh */

enum knotsign_mode {
	KNOTSIGN_UNSIGNED, /* served as given (a pre-signed zone stays as it is) */
	KNOTSIGN_NSEC,	   /* Knot signs it, NSEC chain */
	KNOTSIGN_NSEC3,	   /* Knot signs it, NSEC3 chain */
};

struct knotsign_zone {
	const char *name; /* "signed.test." */
	const char *text; /* zone file contents */
	enum knotsign_mode mode;
};

struct knotsign {
	char dir[64];	   /* every file of this server */
	int port;	   /* UDP and TCP on 127.0.0.1 */
	pid_t pid;	   /* knotd, a child of this process */
	char resolver[32]; /* "127.0.0.1@PORT", for va_config.resolver */
};

static inline bool knotsign_write(const char *path, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool
knotsign_write(const char *path, const char *fmt, ...)
{
	FILE *f = fopen(path, "w");
	va_list ap;
	bool ok;

	if (f == NULL)
		return false;
	va_start(ap, fmt);
	ok = vfprintf(f, fmt, ap) >= 0;
	va_end(ap);
	return fclose(f) == 0 && ok;
}

static inline bool
knotsign_write_conf(const struct knotsign *k, const struct knotsign_zone *z, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/knot.conf", k->dir);
	if ((f = fopen(path, "w")) == NULL)
		return false;
	fprintf(f,
		"server:\n  rundir: %s\n  listen: 127.0.0.1@%d\n"
		"log:\n  - target: %s/knotd.log\n    any: info\n"
		"database:\n  storage: %s\n"
		"control:\n  listen: %s/knot.sock\n"
		"policy:\n"
		"  - id: nsec\n    algorithm: ecdsap256sha256\n"
		"  - id: nsec3\n    algorithm: ecdsap256sha256\n    nsec3: on\n"
		/* the zone file is never rewritten; zone-flush +outdir writes the signed zone */
		"template:\n  - id: default\n    storage: %s\n    zonefile-sync: -1\n"
		"    journal-content: none\n"
		"zone:\n",
		k->dir, k->port, k->dir, k->dir, k->dir, k->dir);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "  - domain: %s\n    file: %szone\n", z[i].name, z[i].name);
		if (z[i].mode != KNOTSIGN_UNSIGNED)
			fprintf(f, "    dnssec-signing: on\n    dnssec-policy: %s\n",
				z[i].mode == KNOTSIGN_NSEC3 ? "nsec3" : "nsec");
	}
	return fclose(f) == 0;
}

/* Every zone answers its SOA, signed (RRSIG) when Knot signs it. */
static inline bool
knotsign_ready(const struct knotsign *k, const struct knotsign_zone *z, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!labdns_sh("kdig @127.0.0.1 -p %d +dnssec +noall +answer +time=1 +retry=0 "
			       "SOA %s 2>/dev/null | grep -q '%s'",
			       k->port, z[i].name,
			       z[i].mode == KNOTSIGN_UNSIGNED ? "SOA" : "RRSIG"))
			return false;
	return true;
}

static inline void
knotsign_kill(struct knotsign *k)
{
	if (k->pid <= 0)
		return;
	kill(k->pid, SIGTERM);
	for (int i = 0; i < 100; i++) { /* 5 s, then for sure */
		if (waitpid(k->pid, NULL, WNOHANG) == k->pid) {
			k->pid = 0;
			return;
		}
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
	kill(k->pid, SIGKILL);
	waitpid(k->pid, NULL, 0);
	k->pid = 0;
}

static inline int
knotsign_spawn(struct knotsign *k)
{
	char conf[128], log[128];

	snprintf(conf, sizeof(conf), "%s/knot.conf", k->dir);
	snprintf(log, sizeof(log), "%s/knotd.out", k->dir);
	fflush(NULL);
	if ((k->pid = fork()) < 0)
		return -1;
	if (k->pid == 0) {
		if (freopen(log, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(127);
		execlp("knotd", "knotd", "-c", conf, (char *)NULL);
		_exit(127);
	}
	return 0;
}

/*
 * Start knotd with the n zones z. Returns 0 once every zone is served (and signed), or -1
 * after saying why on stderr.
 */
static inline int
knotsign_start(struct knotsign *k, const struct knotsign_zone *z, size_t n)
{
	char path[128];

	memset(k, 0, sizeof(*k));
	snprintf(k->dir, sizeof(k->dir), "/tmp/deed-knotsign.XXXXXX");
	if (mkdtemp(k->dir) == NULL) {
		perror("knotsign: mkdtemp");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%szone", k->dir, z[i].name);
		if (!knotsign_write(path, "%s", z[i].text)) {
			perror("knotsign: zone file");
			goto fail;
		}
	}
	/* The port is free when picked; if someone takes it before knotd binds, try another. */
	for (int tries = 0; tries < 3; tries++) {
		if ((k->port = labdns_free_port()) == 0 || !knotsign_write_conf(k, z, n) ||
		    knotsign_spawn(k) != 0)
			break;
		for (int i = 0; i < 200 && !knotsign_ready(k, z, n); i++) /* 10 s */
			nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
		if (knotsign_ready(k, z, n)) {
			snprintf(k->resolver, sizeof(k->resolver), "127.0.0.1@%d", k->port);
			/* A test that crashes never reaches knotsign_stop: a watchdog stops this
			 * knotd once this process is gone, unless knotsign_stop removed the
			 * directory (then the PID may be someone else's), and removes the
			 * directory once knotd has exited (it writes there until then). */
			labdns_sh("nohup sh -c 'while kill -0 %d 2>/dev/null; do sleep 1; done; "
				  "[ -d %s ] || exit 0; kill %d; for i in 1 2 3 4 5 6 7 8 9 10; do "
				  "kill -0 %d 2>/dev/null && sleep 0.5; done; rm -rf %s' "
				  ">/dev/null 2>&1 </dev/null &",
				  (int)getpid(), k->dir, (int)k->pid, (int)k->pid, k->dir);
			return 0;
		}
		knotsign_kill(k);
	}
	fprintf(stderr, "knotsign: knotd did not start; its log:\n");
	labdns_sh("cat '%s/knotd.log' '%s/knotd.out' >&2", k->dir, k->dir);
fail:
	labdns_sh("rm -rf '%s'", k->dir);
	k->dir[0] = '\0';
	return -1;
}

/*
 * Append the DS records of zone's KSK (keymgr ds: SHA-256 and SHA-384) to the anchor file
 * at path: what the parent would publish, and what a validator is given as the zone's anchor.
 */
static inline int
knotsign_ds(const struct knotsign *k, const char *zone, const char *path)
{
	return labdns_sh("keymgr -c '%s/knot.conf' %s ds >>'%s' 2>/dev/null && grep -q ' DS ' '%s'",
			 k->dir, zone, path, path)
		   ? 0
		   : -1;
}

/* Write the zone as Knot serves it (signed: RRSIG, NSEC/NSEC3, DNSKEY) into out (size
 * outsz, a file under this server's directory). */
static inline int
knotsign_dump(const struct knotsign *k, const char *zone, char *out, size_t outsz)
{
	snprintf(out, outsz, "%s/dump/%szone", k->dir, zone); /* zone ends with "." */
	if (!labdns_sh("mkdir -p '%s/dump' && knotc -s '%s/knot.sock' -b zone-flush %s "
		       "+outdir '%s/dump' >/dev/null",
		       k->dir, k->dir, zone, k->dir))
		return -1;
	return access(out, R_OK) == 0 ? 0 : -1;
}

/* Stop knotd (by its PID) and remove its directory. */
static inline void
knotsign_stop(struct knotsign *k)
{
	if (k->dir[0] == '\0')
		return;
	knotsign_kill(k);
	labdns_sh("rm -rf '%s'", k->dir);
	k->dir[0] = '\0';
}
