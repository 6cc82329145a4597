#!/usr/bin/env bash
# Crash safety: deed-bench keeps 8 clients issuing (dns-persist-01, unique names, real lookups
# against the lab's Knot) while deed-ca is killed with SIGKILL at random moments, at least 20
# times, and restarted each time (recovery runs at start). Every fourth round also kills a start
# 0-400 ms after exec: before, during or just after its recovery.
#
# After every kill, on the crashed database (`deed-ca admin check`): integrity_check and every
# invariant a transaction guarantees hold (no serial twice, one certificate per valid order and
# one valid order per certificate, valid authorizations with their one valid challenge,
# foreign keys, ...); only "orders left processing" / "certificates left reserved" may be
# non-zero there, and they must be equal (a reservation moves its order to processing in one
# transaction). The next start must log exactly that many abandoned reservations and as many
# re-queued validations as challenges were left processing. Rounds 3, 9, 12, 15, 21, 24 skip that
# check and restart straight on the crashed files (deed-ca opens the hot WAL itself).
# At the end: deed-bench stopped, deed-ca stopped with SIGTERM (exit 0), `admin check` exits 0
# with every invariant at 0, no challenge left processing, no fewer issued certificates than
# deed-bench received, a certificate issued (by deed) before the first kill still stored
# byte for byte and revocable, and 20 fresh issuances without an error. Under ASan/UBSan the
# deed-ca log must hold no sanitizer report (killed runs print none).
#
# CRASH_ROUNDS (default 24, at least 20) and CRASH_SEED (default: random, printed) reproduce a run.
# shellcheck disable=SC2016 # the bash -c scripts expand their own arguments
set -uo pipefail
. "$(dirname "$0")/lib.sh"

BENCH=$DEED_BUILD/deed-bench
DEED=$DEED_BUILD/deed
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory
ROUNDS=${CRASH_ROUNDS:-24}
[ "$ROUNDS" -ge 20 ] || ROUNDS=20
SEED=${CRASH_SEED:-$(( $(date +%s%N) % 32768 ))}
RANDOM=$SEED
RUN_S=8          # one deed-bench run; the driver starts the next one until told to stop
SERVE=(--dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback)
HAVE_SQLITE=0; command -v sqlite3 >/dev/null && HAVE_SQLITE=1
mkdir -p "$LAB_DIR/bench" "$LAB_DIR/check"
echo "crash test: $ROUNDS rounds, seed $SEED (CRASH_SEED=$SEED CRASH_ROUNDS=$ROUNDS to repeat)"

# ---- the load: deed-bench runs one after another until $LAB_DIR/bench.stop exists ----
DRIVER_PID=
bench_driver() {
  local i=0 pid
  while [ ! -e "$LAB_DIR/bench.stop" ]; do
    i=$((i + 1))
    "$BENCH" --mode dns-persist-01 --tsig-key "$LAB_DIR/dns/tsig.bind.key" --dns-server "$DNS" \
      --ca-bundle "$CA/root.pem" --unique-names --verify --concurrency 8 --duration "$RUN_S" \
      --max-errors 0 "$ACME_URL" >"$LAB_DIR/bench/run-$(printf %03d $i).out" 2>&1 &
    pid=$!
    echo "$pid" >"$LAB_DIR/bench.pid"
    wait "$pid"
    # A run whose setup met a dead server ends at once: do not spin.
    [ -e "$LAB_DIR/bench.stop" ] || sleep 0.2
  done
}
stop_load() {  # ask the driver to stop and wait for its last run to finish
  [ -n "$DRIVER_PID" ] || return 0
  touch "$LAB_DIR/bench.stop"
  wait "$DRIVER_PID" 2>/dev/null
  DRIVER_PID=
}
kill_load() {  # on an early exit: the driver and its running deed-bench, by PID
  [ -n "$DRIVER_PID" ] || return 0
  touch "$LAB_DIR/bench.stop"
  kill -TERM "$DRIVER_PID" 2>/dev/null
  [ -s "$LAB_DIR/bench.pid" ] && kill -TERM "$(cat "$LAB_DIR/bench.pid")" 2>/dev/null
  wait "$DRIVER_PID" 2>/dev/null
  DRIVER_PID=
}
trap 'rc=$?; kill_load; (exit $rc); finish' EXIT

# ---- admin check output: "ok    WHAT: N" / "FAIL  WHAT: N" per invariant ----
ADMIN_PROCESSING="orders left processing"
ADMIN_RESERVED="certificates left reserved (signed or not)"
count_of() {  # count_of FILE WHAT: the number on WHAT's line (empty if missing)
  grep -F "  $2: " "$1" | head -1 | sed 's/.*: //'
}
# transactional_ok FILE: integrity_check ran and said ok, and no invariant other than the two a
# start recovers is broken; prints the broken lines.
transactional_ok() {
  local bad
  [ "$(count_of "$1" "database pages failing PRAGMA integrity_check")" = 0 ] || {
    echo "integrity_check line: $(grep -F integrity_check "$1")"; return 1; }
  [ "$(count_of "$1" "certificate serials used more than once")" = 0 ] || return 1
  bad=$(grep '^FAIL' "$1" | grep -vF -e "$ADMIN_PROCESSING:" -e "$ADMIN_RESERVED:")
  [ -z "$bad" ] || { echo "$bad"; return 1; }
  [ "$(grep -c '^\(ok  \|FAIL\)  ' "$1")" -ge 10 ] || { echo "admin check printed:"; cat "$1"; return 1; }
}
sql() { sqlite3 -batch -noheader "$CA/deed-ca.db" "$1"; }

# ---- set-up ----
dns_up
ca_init "$CA" "$CA_PORT" http-01,dns-persist-01
ca_start "$CA" "${SERVE[@]}" || { fail "deed-ca starts"; exit 1; }

# A certificate issued before any kill, by the deed client (http-01), to look for at the end.
D=(--server "$ACME_URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/client")
PRE=pre.bench.example.test
check "before the kills: deed issues $PRE" bash -c '
  "$1" "${@:3}" account register --agree-tos >"$2" 2>&1 &&
  "$1" "${@:3}" issue -d pre.bench.example.test --challenge http-01 --standalone "127.0.0.1:$0" >>"$2" 2>&1 ||
  { cat "$2"; exit 1; }' "$CA_HTTP" "$DEED" "$LAB_DIR/pre.out" "${D[@]}"
PRE_PEM=$LAB_DIR/client/live/$PRE/cert.pem
PRE_SERIAL=$(openssl x509 -in "$PRE_PEM" -noout -serial 2>/dev/null | sed 's/^serial=//')

bench_driver &
DRIVER_PID=$!
sleep 1.5   # the first run's accounts and records in place, issuance under way

# ---- the rounds ----
T0=$(date +%s)
bad_crash=()      # rounds whose crashed database broke a transactional invariant
bad_pair=()       # rounds where orders processing != certificates reserved
bad_restart=()    # rounds whose restart failed
bad_recover=()    # rounds whose start did not recover exactly what the crash left
bad_exit=()       # servers that were gone before the SIGKILL reached them
sum_reserved=0 sum_chall=0 early=0 restarted=0 hot=0

# crashed_db TAG: admin check (and sqlite3) on the database just left by a SIGKILL; sets R, C.
crashed_db() {
  local tag=$1 out=$LAB_DIR/check/$1.txt p
  "$DEED_BUILD/deed-ca" admin check --dir "$CA" >"$out" 2>&1
  if ! transactional_ok "$out" >"$out.why"; then bad_crash+=("$tag"); fi
  p=$(count_of "$out" "$ADMIN_PROCESSING")
  R=$(count_of "$out" "$ADMIN_RESERVED")
  [ -n "$p" ] && [ "$p" = "$R" ] || bad_pair+=("$tag(processing=$p,reserved=$R)")
  C=-
  [ $HAVE_SQLITE = 1 ] && C=$(sql "SELECT count(*) FROM challenges WHERE status = 'processing'")
}

for round in $(seq "$ROUNDS"); do
  # A random moment: 0.2-1.5 s into this server's life (a few rounds: 0-0.2 s, just after start).
  if [ $((RANDOM % 6)) = 0 ]; then ms=$((RANDOM % 200)); else ms=$((200 + RANDOM % 1300)); fi
  sleep "$(printf '%d.%03d' $((ms / 1000)) $((ms % 1000)))"
  kill -KILL "$CA_PID" 2>/dev/null
  wait "$CA_PID" 2>/dev/null
  st=$?
  CA_PID=
  [ $st = 137 ] || bad_exit+=("round$round: exit $st before the SIGKILL")
  if [ $((round % 3)) = 0 ] && [ $((round % 4)) != 2 ]; then
    # Some rounds restart straight on the crashed files, so that deed-ca itself (not admin
    # check) opens the hot WAL; what it recovered is then not compared.
    R=- C=-
    hot=$((hot + 1))
    line="round $round: SIGKILL after ${ms} ms; restart on the hot WAL, unchecked"
  else
    crashed_db "round$round"
    line="round $round: SIGKILL after ${ms} ms; crashed db: reserved=$R challenges_processing=$C"
  fi

  # Every fourth round, a start is killed too, 0-400 ms after exec: before, during or just after
  # recovery (a start takes about 0.15 s in a release build, longer under ASan).
  if [ $((round % 4)) = 2 ]; then
    "$DEED_BUILD/deed-ca" serve --dir "$CA" "${SERVE[@]}" >>"$LAB_DIR/logs/deed-ca.log" 2>&1 &
    pid=$!
    ems=$((RANDOM % 400))
    sleep "0.$(printf %03d $ems)"
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    st=$?
    [ $st = 137 ] || bad_exit+=("round$round-early: exit $st before the SIGKILL")
    early=$((early + 1))
    crashed_db "round$round-early"
    line="$line; start killed after ${ems} ms: reserved=$R challenges_processing=$C"
  fi
  [ "$R" = - ] || sum_reserved=$((sum_reserved + R))
  [ "$C" = - ] || sum_chall=$((sum_chall + C))

  mark=$(wc -l <"$LAB_DIR/logs/deed-ca.log")
  t=$(date +%s%N)
  if ! ca_start "$CA" "${SERVE[@]}"; then
    bad_restart+=("$round")
    echo "$line; RESTART FAILED"
    break
  fi
  restarted=$((restarted + 1))
  since=$(tail -n +"$((mark + 1))" "$LAB_DIR/logs/deed-ca.log")
  got_r=$(sed -n 's/.*abandoned \([0-9]*\) unsigned certificate reservation.*/\1/p' <<<"$since" | tail -1)
  got_c=$(sed -n 's/.*recovered \([0-9]*\) validation(s) left processing.*/\1/p' <<<"$since" | tail -1)
  [ "$R" = - ] || [ "${got_r:-0}" = "$R" ] || bad_recover+=("round$round: reserved=$R, start abandoned ${got_r:-0}")
  [ "$C" = - ] || [ "${got_c:-0}" = "$C" ] || bad_recover+=("round$round: challenges processing=$C, start re-queued ${got_c:-0}")
  echo "$line; restarted in $(( ($(date +%s%N) - t) / 1000000 )) ms (abandoned ${got_r:-0}, re-queued ${got_c:-0})"
done
T1=$(date +%s)

check "deed-ca restarted after every one of the $ROUNDS kills (${bad_restart[*]:-})" test "$restarted" = "$ROUNDS"
check "no deed-ca exited by itself between kills (${bad_exit[*]:-})" test ${#bad_exit[@]} = 0
check "every crashed database: integrity_check ok, no serial twice, every transactional invariant (${bad_crash[*]:-})" \
  test ${#bad_crash[@]} = 0
for t in "${bad_crash[@]}"; do echo "--- $t:"; cat "$LAB_DIR/check/$t.txt.why"; done
check "every crashed database: orders processing = certificates reserved (${bad_pair[*]:-})" test ${#bad_pair[@]} = 0
check "every start recovered exactly what the crash left (${bad_recover[*]:-})" test ${#bad_recover[@]} = 0

# ---- the end: a little more load on the last server, then a clean stop ----
sleep 2
stop_load
runs=0 issued=0 errors=0 noresult=0
for f in "$LAB_DIR"/bench/run-*.out; do
  runs=$((runs + 1))
  s=$(grep '^deed-bench: mode=' "$f" | tail -1)
  if [ -z "$s" ]; then noresult=$((noresult + 1)); continue; fi
  n=${s#* issued=}; issued=$((issued + ${n%% *}))
  n=${s#* errors=}; errors=$((errors + ${n%% *}))
done
echo "load: $runs deed-bench runs ($noresult ended in setup, server down), $issued issuances, $errors failed ones (expected: the kills)"
echo "kills: $ROUNDS under load in $((T1 - T0)) s ($hot restarted on the hot WAL), plus $early during a start; $sum_reserved reservations and $sum_chall processing validations found after the checked kills"
echo "their errors by kind (all runs):"
awk '/^errors:$/ { e = 1; next } /^$/ { e = 0 } e && $1 ~ /^[0-9]+$/ { n = $1; $1 = ""; sum[substr($0, 2)] += n }
     END { for (k in sum) printf "  %9d  %s\n", sum[k], k }' "$LAB_DIR"/bench/run-*.out | sort -rn
check "issuances happened across the kills ($issued)" test "$issued" -gt 0
runs_out=("$LAB_DIR"/bench/run-*.out)
last=${runs_out[-1]}
check "the last deed-bench run (ending on the final server) issued" bash -c \
  'tail -1 "$1" | grep -Eq "^deed-bench: mode=.* issued=[1-9][0-9]* "' _ "$last"

check "deed-ca stops cleanly on SIGTERM (exit 0)" ca_stop
"$DEED_BUILD/deed-ca" admin check --dir "$CA" >"$LAB_DIR/check/final.txt" 2>&1
rc=$?
sed 's/^/  /' "$LAB_DIR/check/final.txt"
check "admin check after recovery: exit 0" test $rc = 0
check "admin check after recovery: every invariant holds" bash -c \
  '! grep -q "^FAIL" "$1" && grep -q "all invariants hold" "$1" && [ "$(grep -c "^ok  " "$1")" -ge 10 ]' _ "$LAB_DIR/check/final.txt"
none_left() {
  [ "$(count_of "$1" "$ADMIN_PROCESSING")" = 0 ] && [ "$(count_of "$1" "$ADMIN_RESERVED")" = 0 ]
}
check "admin check: no order left processing, no certificate left reserved" none_left "$LAB_DIR/check/final.txt"
if [ $HAVE_SQLITE = 1 ]; then
  check "no challenge left processing (no authorization waiting on one)" \
    test "$(sql "SELECT count(*) FROM challenges WHERE status = 'processing'")" = 0
  stored=$(sql "SELECT count(*) FROM certificates WHERE status = 'issued'")
  echo "database: $stored certificates issued, $(sql "SELECT count(*) FROM certificates WHERE status = 'abandoned'") abandoned, $(sql "SELECT count(*) FROM orders") orders"
  check "every certificate deed-bench received is stored ($stored >= $issued + 1)" test "$stored" -ge $((issued + 1))
  pre_stored() {  # the row with the serial deed got holds exactly the DER deed got
    local want got
    [ -n "$PRE_SERIAL" ] || return 1
    want=$(openssl x509 -in "$PRE_PEM" -outform DER | od -An -tx1 -v | tr -d ' \n' | tr a-f A-F)
    got=$(sql "SELECT hex(der) FROM certificates WHERE status = 'issued' AND upper(serial) = upper('$PRE_SERIAL')")
    [ -n "$want" ] && [ "$got" = "$want" ]
  }
  check "the certificate issued before the kills is stored byte for byte" pre_stored
else
  echo "sqlite3 not installed: the row-level checks are skipped"
fi

# ---- issuance still works ----
ca_start "$CA" "${SERVE[@]}" || fail "deed-ca starts after the crash test"
"$BENCH" --mode dns-persist-01 --tsig-key "$LAB_DIR/dns/tsig.bind.key" --dns-server "$DNS" \
  --ca-bundle "$CA/root.pem" --unique-names --verify --concurrency 4 --count 20 \
  "$ACME_URL" >"$LAB_DIR/after.out" 2>&1
rc=$?
tail -1 "$LAB_DIR/after.out"
check "after the kills: 20 issuances, no error" bash -c \
  '[ $1 = 0 ] && tail -1 "$2" | grep -Eq "^deed-bench: mode=dns-persist-01 .* issued=20 errors=0 "' _ $rc "$LAB_DIR/after.out"
check "the certificate issued before the kills can be revoked (the server finds it)" \
  "$DEED" "${D[@]}" revoke "$PRE" --reason superseded
"$DEED" "${D[@]}" revoke "$PRE" >"$LAB_DIR/revoke2.out" 2>&1
check "a second revoke says alreadyRevoked" bash -c '[ $1 = 3 ] && grep -q alreadyRevoked "$2"' _ $? "$LAB_DIR/revoke2.out"
check "deed-ca stops cleanly again" ca_stop
check "admin check still passes" "$DEED_BUILD/deed-ca" admin check --dir "$CA" >/dev/null

# ---- sanitizers (ASan build): killed processes print nothing; the others must print nothing ----
san=$(grep -E "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:|SUMMARY: (Address|Undefined|Leak)Sanitizer" \
        "$LAB_DIR/logs/deed-ca.log" "$LAB_DIR"/bench/*.out "$LAB_DIR/after.out" 2>/dev/null | head -5)
check "no sanitizer report in deed-ca's log or deed-bench's output" test -z "$san"
[ -z "$san" ] || echo "$san"
