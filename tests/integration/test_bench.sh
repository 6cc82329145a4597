#!/usr/bin/env bash
# deed-bench smoke run against deed-ca and the lab's Knot: dns-persist-01 with unique names
# (a few hundred issuances, the records published and removed by deed-bench), then http-01 and
# dns-01. Each run must end without a single error and print its summary line; every chain
# downloaded is parsed (--verify: the leaf's SAN is the ordered name). Speed is reported,
# never checked.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BENCH=$DEED_BUILD/deed-bench
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory

dns_up
ca_init "$CA" "$CA_PORT" dns-01,http-01,dns-persist-01
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca starts"; exit 1; }

B=(--ca-bundle "$CA/root.pem" --dns-server "$DNS" --verify --unique-names)
# bench NAME ARGS...: run deed-bench, keep its output in $LAB_DIR/NAME.out, show the summary.
bench() {
  local name=$1
  shift
  "$BENCH" "$@" "$ACME_URL" >"$LAB_DIR/$name.out" 2>&1
  local rc=$?
  tail -1 "$LAB_DIR/$name.out"
  [ $rc = 0 ] || { echo "deed-bench exit $rc"; tail -30 "$LAB_DIR/$name.out"; return 1; }
}
summary_ok() {  # summary_ok NAME MODE ISSUED: the last line is the summary, all issued, no error
  tail -1 "$LAB_DIR/$1.out" | grep -Eq "^deed-bench: mode=$2 url=\S+ concurrency=[0-9]+ issued=$3 errors=0 seconds=[0-9.]+ rate=[0-9.]+ p50_ms=[0-9.]+ p90_ms=[0-9.]+ p99_ms=[0-9.]+ max_ms=[0-9.]+ "
}
# Our records left at the 8 clients' names (_validation-persist.cN.bench.example.test).
persist_rrs() {
  local c n=0
  for c in 0 1 2 3 4 5 6 7; do
    n=$(( n + $(kdig @127.0.0.1 -p "$LAB_DNS_PORT" +short TXT "_validation-persist.c$c.bench.example.test" | grep -c "$ISSUER") ))
  done
  echo "$n"
}

check "deed-bench --help documents the modes" bash -c '"$1" --help | grep -q dns-persist-01' _ "$BENCH"
check "bad usage exits 2" bash -c '"$1" --count 0 x >/dev/null 2>&1; [ $? = 2 ]' _ "$BENCH"

check "dns-persist-01: 300 issuances, 8 clients, unique names, no error" \
  bench persist --mode dns-persist-01 --tsig-key "$LAB_DIR/dns/tsig.bind.key" --count 300 --concurrency 8 "${B[@]}"
check "dns-persist-01: summary line" summary_ok persist dns-persist-01 300
# Just in time: after an account's first dns-persist-01 validation its orders are ready at
# newOrder and go straight to finalize, within the budget of 30 a minute per registered domain
# (every bench name is under example.test; the run may straddle a minute).
ready_at_order() { tail -1 "$LAB_DIR/persist.out" | sed -n 's/.* ready_at_order=\([0-9]*\) .*/\1/p'; }
check "dns-persist-01: orders ready at newOrder, within the per-domain budget" \
  bash -c 'n=$1; [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 60 ]' _ "$(ready_at_order)"
check "dns-persist-01: the records are removed afterwards" test "$(persist_rrs)" = 0

check "http-01: 40 issuances, no error" \
  bench http --mode http-01 --http-port "$CA_HTTP" --count 40 --concurrency 4 "${B[@]}"
check "http-01: summary line" summary_ok http http-01 40

check "dns-01: 40 issuances, no error" \
  bench dns --mode dns-01 --tsig-key "$LAB_DIR/dns/tsig.knot.key" --count 40 --concurrency 4 "${B[@]}"
check "dns-01: summary line" summary_ok dns dns-01 40
# The names were cN-SEQ-RUNID.bench.example.test: each client's first two must have no TXT left.
dns01_clean() {
  local run c q
  run=$(tail -1 "$LAB_DIR/dns.out" | sed -n 's/.* runid=\([0-9a-f]*\).*/\1/p')
  [ -n "$run" ] || return 1
  for c in 0 1 2 3; do
    for q in 0 1; do
      [ -z "$(kdig @127.0.0.1 -p "$LAB_DNS_PORT" +short TXT "_acme-challenge.c$c-$q-$run.bench.example.test")" ] || return 1
    done
  done
}
check "dns-01: every _acme-challenge record removed" dns01_clean

# A run that cannot succeed must say so in its exit status (here: nobody answers http-01).
check "failing validations exit 1 with the problem type counted" bash -c '
  "$1" --mode http-01 --http-port "$2" --count 2 --concurrency 1 --ca-bundle "$3" "$4" >"$5" 2>&1
  [ $? = 1 ] && grep -q "validation: connection" "$5"' _ "$BENCH" "$(free_port)" "$CA/root.pem" "$ACME_URL" "$LAB_DIR/fail.out"

# Last: the records it keeps make cN.bench.example.test names of their own, which the
# zone's *.bench.example.test A record then no longer answers for.
check "dns-persist-01: --keep-records keeps one record per client" bash -c '
  "$@" --mode dns-persist-01 --keep-records --count 8 >/dev/null 2>&1' _ \
  "$BENCH" --tsig-key "$LAB_DIR/dns/tsig.bind.key" --concurrency 8 "${B[@]}" "$ACME_URL"
check "dns-persist-01: ... at each client's own name" test "$(persist_rrs)" = 8
