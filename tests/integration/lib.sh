# lib.sh -- shared by the integration tests: the lab (../shared/lab), free ports, starting and
# stopping deed-ca by PID, and a closing "N passed, N failed" line.
# shellcheck shell=bash

DEED_SRC=${DEED_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../../scripts/deed-conf.sh
. "$DEED_SRC/scripts/deed-conf.sh"
DEED_BUILD=${DEED_BUILD:-$DEED_SRC/build}
DEED_LAB=${DEED_LAB:-$(cd "$DEED_SRC/.." && pwd)/shared/lab}
[ -x "$DEED_LAB/dns-up.sh" ] || { echo "lab kit not found at $DEED_LAB (set DEED_LAB)" >&2; exit 1; }

LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/deed-it.XXXXXX")
export LAB_DIR
PASSED=0
FAILED=0
CA_PID=

# free_port: a TCP and UDP port nothing listens on now.
free_port() {
  python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", p))
    except OSError:
        t.close(); continue
    t.close(); u.close(); print(p); break
PY
}

ok()   { PASSED=$((PASSED + 1)); echo "ok: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }

# check DESCRIPTION COMMAND...: run it, count it.
check() {
  local what=$1
  shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

dns_up() {  # the lab's Knot (on $LAB_DNS_PORT when set); the test stops if it does not come up
  bash "$DEED_LAB/dns-up.sh" >"$LAB_DIR/dns-up.out" 2>&1 ||
    { cat "$LAB_DIR/dns-up.out"; fail "Knot starts"; exit 1; }
}

# The issuer domain name the tests' CAs go by (CAA records, dns-persist-01 records).
ISSUER=ca.deed.test
# ca_init DIR PORT [CHALLENGES [KEY=VALUE...]]: a new deed-ca in DIR listening on
# 127.0.0.1:PORT; with CHALLENGES, offering those under the name $ISSUER, and each KEY of its
# configuration set to VALUE (a key the file does not have stops the test).
ca_init() {
  local dir=$1 port=$2
  "$DEED_BUILD/deed-ca" init --dir "$dir" --listen "127.0.0.1:$port" >/dev/null ||
    { fail "deed-ca init"; exit 1; }
  [ $# -ge 3 ] || return 0
  deed_conf_set "$dir/deed-ca.conf" "challenges=$3" "caa_identities=$ISSUER" "${@:4}" ||
    { fail "deed-ca.conf settings"; exit 1; }
}

ca_start() {  # ca_start DIR ARGS...: start deed-ca serve, wait for its directory
  local dir=$1
  shift
  "$DEED_BUILD/deed-ca" serve --dir "$dir" "$@" >>"$LAB_DIR/logs/deed-ca.log" 2>&1 &
  CA_PID=$!
  for _ in $(seq 100); do
    if curl -sf --cacert "$dir/root.pem" "$ACME_URL" >/dev/null 2>&1; then return 0; fi
    kill -0 "$CA_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "deed-ca did not come up; log:" >&2
  tail -20 "$LAB_DIR/logs/deed-ca.log" >&2
  return 1
}

ca_stop() {  # graceful: SIGTERM, then wait for it
  [ -n "$CA_PID" ] || return 0
  kill -TERM "$CA_PID" 2>/dev/null || true
  wait "$CA_PID" 2>/dev/null
  local rc=$?
  CA_PID=
  return $rc
}

finish() {
  local rc=$?
  if [ -n "$CA_PID" ]; then kill -TERM "$CA_PID" 2>/dev/null && wait "$CA_PID" 2>/dev/null; fi
  bash "$DEED_LAB/down.sh" >/dev/null 2>&1 || true
  if [ "$FAILED" -gt 0 ] || [ $rc -ne 0 ]; then
    echo "--- deed-ca log (tail) ---"; tail -40 "$LAB_DIR/logs/deed-ca.log" 2>/dev/null || true
    echo "state kept in $LAB_DIR"
  else
    rm -rf "$LAB_DIR"
  fi
  echo "$PASSED passed, $FAILED failed"
  if [ "$FAILED" -gt 0 ]; then exit 1; fi
  exit $rc
}
trap finish EXIT

# sans_exactly CERT NAME...: the leaf's SANs are exactly NAMEs (as a set).
sans_exactly() {
  local crt=$1 got want
  shift
  got=$(openssl x509 -in "$crt" -noout -ext subjectAltName | tail -n +2 | tr ',' '\n' |
        sed 's/^ *DNS://' | sort | tr '\n' ' ')
  want=$(printf '%s\n' "$@" | sort | tr '\n' ' ')
  [ "$got" = "$want" ] || { echo "SANs: got [$got], want [$want]"; return 1; }
}
