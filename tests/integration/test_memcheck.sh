#!/usr/bin/env bash
# The long-running server leaks nothing: deed-ca serves a deed-bench smoke run (dns-persist-01 and
# http-01) under valgrind's memcheck, stops on SIGTERM, and memcheck reports no error and no
# byte lost. On the ASan+UBSan build (valgrind cannot run it) the same run relies on
# LeakSanitizer at exit and on the sanitizers' reports in the log instead.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BENCH=$DEED_BUILD/deed-bench
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
URL=https://127.0.0.1:$CA_PORT/directory
VGLOG=$LAB_DIR/memcheck.log

dns_up
ca_init "$CA" "$CA_PORT" http-01,dns-01,dns-persist-01

SANITIZED=0
# grep without -q reads all of ldd's output: with pipefail, ldd killed by SIGPIPE after an early
# match would make the pipeline fail.
if ldd "$DEED_BUILD/deed-ca" | grep libasan >/dev/null; then SANITIZED=1; fi
SERVE=(serve --dir "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback)
if [ $SANITIZED = 1 ]; then
  "$DEED_BUILD/deed-ca" "${SERVE[@]}" >"$LAB_DIR/logs/deed-ca.log" 2>&1 &
else
  command -v valgrind >/dev/null || { fail "valgrind is installed (make deps)"; exit 1; }
  valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible \
    --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=3 --log-file="$VGLOG" \
    "$DEED_BUILD/deed-ca" "${SERVE[@]}" >"$LAB_DIR/logs/deed-ca.log" 2>&1 &
fi
CA_PID=$!
for _ in $(seq 150); do
  curl -sf --cacert "$CA/root.pem" "$URL" >/dev/null 2>&1 && break
  sleep 0.2
done

B=(--ca-bundle "$CA/root.pem" --dns-server "$DNS" --unique-names --verify)
check "dns-persist-01: 60 issuances, no error" bash -c '"$@" >/dev/null 2>&1' _ \
  "$BENCH" --mode dns-persist-01 --tsig-key "$LAB_DIR/dns/tsig.bind.key" --count 60 --concurrency 4 "${B[@]}" "$URL"
check "http-01: 20 issuances, no error" bash -c '"$@" >/dev/null 2>&1' _ \
  "$BENCH" --mode http-01 --http-port "$CA_HTTP" --count 20 --concurrency 2 "${B[@]}" "$URL"

kill -TERM "$CA_PID"
wait "$CA_PID"
RC=$?
CA_PID=
check "deed-ca stops cleanly on SIGTERM (exit $RC)" test "$RC" = 0
if [ $SANITIZED = 1 ]; then
  check "no sanitizer report (LeakSanitizer at exit, ASan, UBSan)" \
    bash -c '! grep -Eq "ERROR: (Address|Leak)Sanitizer|runtime error:" "$1"' _ "$LAB_DIR/logs/deed-ca.log"
else
  check "memcheck: no error" grep -q 'ERROR SUMMARY: 0 errors' "$VGLOG"
  check "memcheck: every heap block freed" grep -q 'All heap blocks were freed -- no leaks are possible' "$VGLOG"
  grep -E 'total heap usage' "$VGLOG" | sed 's/^==[0-9]*== */memcheck: /'
fi
