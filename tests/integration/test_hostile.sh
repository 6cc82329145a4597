#!/usr/bin/env bash
# Hostile clients against a running deed-ca over HTTPS: acme-hostile sends requests built by hand
# (alg none and HS256, tiny keys, bad nonces and urls, jwk with kid, duplicate JSON keys, bad
# base64url, oversized and deeply nested bodies, other accounts' resources, bad CSRs, revocation
# by strangers, ...), and each must get the exact HTTP status and problem type and leave the
# database unchanged. The fixtures come from the deed client over http-01 (Knot serves the
# names): account A with a valid and a revoked certificate, account B a stranger, and a key the
# operator blocked. One check per case; the closing line counts them all.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DEED=$DEED_BUILD/deed
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
NAME=www.example.test
export ACME_URL=https://127.0.0.1:$CA_PORT/directory

dns_up
ca_init "$CA" "$CA_PORT" http-01,dns-01 authz_reuse=30d
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca starts"; exit 1; }

# deed_as A|B ARGS...: the deed client with account A's or B's state directory.
deed_as() {
  local who=$1
  shift
  "$DEED" --server "$ACME_URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/deed-$who" "$@" \
    >>"$LAB_DIR/deed-$who.out" 2>&1 || { tail -5 "$LAB_DIR/deed-$who.out"; return 1; }
}
acct_url() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$LAB_DIR"/deed-"$1"/accounts/*/account.json; }
acct_key() { echo "$LAB_DIR"/deed-"$1"/accounts/*/account.key; }
http01() { deed_as "$1" issue --challenge http-01 --standalone "127.0.0.1:$CA_HTTP" -d "$2"; }

setup() {
  deed_as A account register --agree-tos &&
  deed_as B account register --agree-tos &&
  http01 A "$NAME" &&
  http01 A api.example.test &&
  deed_as A revoke api.example.test --reason superseded &&
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$LAB_DIR/blocked.key" 2>/dev/null &&
  "$DEED_BUILD/deed-ca" admin block-key --dir "$CA" "$LAB_DIR/blocked.key" >/dev/null
}
setup || { fail "fixtures: two accounts, a valid and a revoked certificate, a blocked key"; exit 1; }

# Every line of acme-hostile is one check: "ok: ..." or "FAIL: ...".
"$DEED_BUILD/acme-hostile" --ca "$CA/root.pem" --directory "$ACME_URL" --db "$CA/deed-ca.db" \
  --key-a "$(acct_key A)" --kid-a "$(acct_url A)" --key-b "$(acct_key B)" --kid-b "$(acct_url B)" \
  --name "$NAME" --cert "$LAB_DIR/deed-A/live/$NAME/cert.pem" \
  --revoked "$LAB_DIR/deed-A/live/api.example.test/cert.pem" \
  --blocked-key "$LAB_DIR/blocked.key" >"$LAB_DIR/hostile.out" 2>&1
rc=$?
while IFS= read -r line; do
  case $line in
    "ok: "*) ok "${line#ok: }" ;;
    "FAIL: "*) fail "${line#FAIL: }" ;;
    *" passed, "*" failed") ;;
    *) echo "$line" ;;
  esac
done <"$LAB_DIR/hostile.out"
[ $rc -le 1 ] || fail "acme-hostile could not run (exit $rc)"
[ $rc -ne 0 ] || [ "$FAILED" -eq 0 ] || fail "acme-hostile exited 0 despite failures"

# The server survived all of it, and the database is still consistent.
check "deed-ca still answers" curl -sf --cacert "$CA/root.pem" -o /dev/null "$ACME_URL"
check "deed-ca stops cleanly" ca_stop
if "$DEED_BUILD/deed-ca" admin check --dir "$CA" >"$LAB_DIR/admin-check.out" 2>&1; then
  ok "admin check: the database's invariants hold"
else
  cat "$LAB_DIR/admin-check.out"; fail "admin check: the database's invariants hold"
fi
if grep -q "ERROR: AddressSanitizer\|runtime error:" "$LAB_DIR/logs/deed-ca.log"; then
  fail "deed-ca log has no sanitizer report"
else
  ok "deed-ca log has no sanitizer report"
fi
