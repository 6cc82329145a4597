#!/usr/bin/env bash
# Resource limits: while 2000 idle connections, 50 slow-loris requests (headers trickled a byte a
# second) and 10 clients announcing and sending huge bodies are held against deed-ca, deed-bench
# still completes its issuances without an error, deed-ca's memory stays bounded, and each huge
# body is refused with 413 before it is read. Latency with and without the attack is printed
# (measured, not asserted).
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BENCH=$DEED_BUILD/deed-bench
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory
RSS_CAP_KB=$((200 * 1024))

dns_up
ca_init "$CA" "$CA_PORT" dns-01,dns-persist-01
ca_start "$CA" --dns-resolver "$DNS" || { fail "deed-ca starts"; exit 1; }

bench() {  # bench NAME: 100 dns-persist-01 issuances, 4 clients; the summary line is kept
  "$BENCH" --mode dns-persist-01 --tsig-key "$LAB_DIR/dns/tsig.bind.key" --dns-server "$DNS" \
    --ca-bundle "$CA/root.pem" --unique-names --count 100 --concurrency 4 "$ACME_URL" \
    >"$LAB_DIR/$1.out" 2>&1
}
p99() { tail -1 "$LAB_DIR/$1.out" | sed -n 's/.* p99_ms=\([0-9.]*\).*/\1/p'; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$CA_PID/status"; }

check "baseline: 100 issuances, no error" bench quiet
RSS_BASE=$(rss_kb)
echo "baseline: p99 request $(p99 quiet) ms, deed-ca RSS $RSS_BASE kB"

# The attacker holds its connections until told to stop (a file), and reports what it saw.
python3 - "$CA_PORT" "$CA/root.pem" "$LAB_DIR/attack.stop" >"$LAB_DIR/attack.out" 2>&1 <<'PY' &
import socket, ssl, sys, threading, time
port, ca, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
import os
ctx = ssl.create_default_context(cafile=ca)
held, lock = [], threading.Lock()
refused_413 = [0]
def idle(n):
    for _ in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            with lock: held.append(s)
        except OSError as e:
            print("idle connect failed:", e, flush=True)
def loris():
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=5),
                            server_hostname="127.0.0.1")
        req = b"POST /acme/new-order HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/jose+json\r\n"
        for b in req:
            if os.path.exists(stop): break
            s.send(bytes([b])); time.sleep(1)
        s.close()
    except OSError:
        pass  # closed by the server's timeout: what should happen
def huge():
    # The headers announce 10 GB; the answer must come before any of it is sent.
    try:
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10),
                            server_hostname="127.0.0.1")
        s.sendall(b"POST /acme/new-order HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                  b"Content-Type: application/jose+json\r\nContent-Length: 10000000000\r\n\r\n")
        s.settimeout(5)
        if s.recv(64).startswith(b"HTTP/1.1 413"):
            with lock: refused_413[0] += 1
        # Then push body bytes anyway, as an attacker would, until the server hangs up.
        try:
            for _ in range(100):
                s.sendall(b"A" * 65536)
        except OSError:
            pass
        s.close()
    except OSError as e:
        print("huge:", e, flush=True)
threads = [threading.Thread(target=idle, args=(500,)) for _ in range(4)]
threads += [threading.Thread(target=loris) for _ in range(50)]
threads += [threading.Thread(target=huge) for _ in range(10)]
for t in threads: t.start()
time.sleep(3)
print("holding", len(held), "idle connections", flush=True)
while not os.path.exists(stop): time.sleep(0.2)
for t in threads: t.join()
print("huge bodies refused with 413:", refused_413[0], flush=True)
for s in held: s.close()
PY
ATTACK=$!
sleep 4
RSS_PEAK=0
( while kill -0 "$ATTACK" 2>/dev/null; do r=$(rss_kb); echo "$r"; sleep 0.2; done >"$LAB_DIR/rss.samples" ) &
SAMPLER=$!
check "under attack: 100 issuances, no error" bench attacked
touch "$LAB_DIR/attack.stop"
wait "$ATTACK"
wait "$SAMPLER" 2>/dev/null
RSS_PEAK=$(sort -n "$LAB_DIR/rss.samples" | tail -1)
cat "$LAB_DIR/attack.out"
echo "under attack: p99 request $(p99 attacked) ms (baseline $(p99 quiet) ms), deed-ca peak RSS ${RSS_PEAK} kB"
check "2000 idle connections were held open" grep -q 'holding 2000 idle connections' "$LAB_DIR/attack.out"
check "every huge body refused with 413 before being read" grep -q 'huge bodies refused with 413: 10' "$LAB_DIR/attack.out"
GROWTH=$(( ${RSS_PEAK:-999999999} - RSS_BASE ))
# Memory is measured on the plain build only: ASan's shadow memory alone is larger than the cap,
# and it keeps some 150 KiB per thread (allocator caches, the thread's shadow), and deed-ca has a
# thread per connection. (grep without -q: with pipefail, ldd killed by SIGPIPE after an early
# match would make the pipeline fail.)
if ! ldd "$DEED_BUILD/deed-ca" | grep libasan >/dev/null; then
  check "deed-ca's memory grew by less than 100 MiB under attack (+$GROWTH kB)" test "$GROWTH" -lt $((100 * 1024))
  check "deed-ca's memory stayed under 200 MiB ($RSS_PEAK kB)" test "${RSS_PEAK:-999999999}" -lt "$RSS_CAP_KB"
else
  echo "memory checks left to the plain build (ASan: +$GROWTH kB)"
fi
check "deed-ca still answers afterwards" curl -sf --cacert "$CA/root.pem" -o /dev/null "$ACME_URL"
check "deed-ca stops cleanly on SIGTERM" ca_stop
