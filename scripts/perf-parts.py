#!/usr/bin/env python3
"""Shares of a deed-ca perf profile by part: reads `perf script` output of a
--call-graph dwarf recording on stdin; a sample counts for the first part (in the order
below) any frame of its stack belongs to, else for the library of its innermost frame."""
import collections
import re
import sys

PARTS = [
    ("fdatasync (group commit)", ["fdatasync"]),
    ("JWS signature checks", ["jws_verify"]),
    ("CSR parse and signature check", ["csr_parse_der"]),
    ("signing the certificate", ["signer_sign"]),
    ("key policy, blocked keys", ["keypolicy_"]),
    ("SQLite statements", ["sqlite3_step", "sqlite3_prepare", "sqlite3_reset"]),
    ("DNS lookups (libunbound)", ["va_dns_lookup_many", "libunbound"]),
    ("JSON (jansson)", ["libjansson"]),
    ("waiting: futex, epoll, poll", ["futex", "pthread_cond", "__lll_lock", "epoll_wait", "__poll"]),
    ("malloc", ["malloc", "_int_free", "cfree", "realloc"]),
    ("TLS (GnuTLS)", ["libgnutls", "libnettle", "libhogweed"]),
    ("HTTP and the rest of request handling", ["libmicrohttpd"]),
]


def main():
    counts = collections.Counter()
    total = 0
    stack = []

    def flush():
        nonlocal total
        if not stack:
            return
        total += 1
        text = "\n".join(stack)
        for name, pats in PARTS:
            if any(p in text for p in pats):
                counts[name] += 1
                return
        m = re.search(r"\(([^()]*)\)$", stack[0])
        counts["other: " + (m.group(1).rsplit("/", 1)[-1] if m else "?")] += 1

    for line in sys.stdin:
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            stack = []
        elif line[0] in " \t":
            stack.append(line.strip())
    flush()
    if total == 0:
        print("  no samples")
        return
    for name, n in counts.most_common(16):
        print("  %5.1f %%  %s" % (100.0 * n / total, name))
    print("  (%d samples)" % total)


if __name__ == "__main__":
    main()
