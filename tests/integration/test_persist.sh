#!/usr/bin/env bash
# dns-persist-01 end to end: deed-ca, Knot and the deed client. The record is published once;
# then issuance and three renewals leave the zone's serial unchanged. Deleting the record,
# persistUntil in the past, a wildcard without policy=wildcard and another account's record all
# fail; another CA's record beside ours is ignored; a subdomain validates through its parent's
# policy=wildcard record; an authorization is valid at newOrder (just in time); a record hashed
# with the account's key keeps validating after a key rollover.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DEED=$DEED_BUILD/deed
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
KEY=$LAB_DIR/dns/tsig.bind.key
CA_PORT=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory

dns_up
# Offer dns-persist-01 under the issuer name ca.deed.test; validate afresh for every order.
ca_init "$CA" "$CA_PORT" dns-01,dns-persist-01 authz_reuse=0
ca_start "$CA" --dns-resolver "$DNS" || { fail "deed-ca starts"; exit 1; }

C=(--server "$ACME_URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/deed")
"$DEED" "${C[@]}" account register --agree-tos >/dev/null 2>&1 || { fail "account register"; exit 1; }
ACCT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$LAB_DIR"/deed/accounts/*/account.json)

zone_serial() { kdig @127.0.0.1 -p "$LAB_DNS_PORT" +short SOA example.test | awk '{print $3}'; }
# txt NAME VALUE...: replace the TXT RRset at _validation-persist.NAME with the VALUEs.
txt() {
  local name=$1 v
  shift
  {
    printf 'server 127.0.0.1 %s\nzone example.test\nupdate delete _validation-persist.%s. TXT\n' "$LAB_DNS_PORT" "$name"
    for v in "$@"; do printf 'update add _validation-persist.%s. 60 TXT "%s"\n' "$name" "$v"; done
    printf 'send\n'
  } | knsupdate -k "$LAB_DIR/dns/tsig.knot.key"
}
# expect_fail NAME TYPE: issuing NAME with dns-persist-01 fails validation with problem TYPE.
expect_fail() {
  local out=$LAB_DIR/fail.$RANDOM
  "$DEED" "${C[@]}" issue -d "$1" --challenge dns-persist-01 >"$out" 2>&1
  local rc=$?
  [ $rc = 5 ] && grep -q "$2" "$out" || { echo "exit $rc: $(cat "$out")"; return 1; }
}
issue() { "$DEED" "${C[@]}" issue --challenge dns-persist-01 "$@" >"$LAB_DIR/issue.out" 2>&1 || { cat "$LAB_DIR/issue.out"; return 1; }; }

# ---- bad records (before any wildcard record exists at the parent) ----
txt past.example.test "$ISSUER; accounturi=$ACCT; persistUntil=1000000000"
check "persistUntil in the past: unauthorized" expect_fail past.example.test unauthorized
txt wild.example.test "$ISSUER; accounturi=$ACCT"
check "wildcard without policy=wildcard: unauthorized" expect_fail '*.wild.example.test' unauthorized
txt other.example.test "$ISSUER; accounturi=${ACCT%/*}/999"
check "another account's record: unauthorized" expect_fail other.example.test unauthorized
txt bad.example.test "$ISSUER; accounturi=$ACCT; persistUntil=tomorrow"
check "malformed persistUntil: malformed" expect_fail bad.example.test malformed
check "no record at all: unauthorized" expect_fail none.example.test unauthorized
txt two.example.test "other-ca.test; accounturi=x; accounturi=y" "$ISSUER; accounturi=$ACCT"
check "a second CA's (broken) record beside ours is ignored" issue -d two.example.test

# ---- the main flow: publish once, then never touch DNS ----
check "persist show prints the record" bash -c '"$@" persist show -d example.test --wildcard | grep -q "_validation-persist.example.test"' _ "$DEED" "${C[@]}"
check "persist publish (once)" "$DEED" "${C[@]}" persist publish -d example.test --wildcard --dns-update "$DNS" --tsig-key "$KEY"
SERIAL=$(zone_serial)
check "persist check: OK" "$DEED" "${C[@]}" persist check -d example.test --wildcard --resolver "$DNS"
check "issue example.test + *.example.test + www.example.test" issue -d example.test -d '*.example.test' -d www.example.test
check "chain verifies against root.pem" openssl verify -CAfile "$CA/root.pem" -untrusted "$LAB_DIR/deed/live/example.test/chain.pem" "$LAB_DIR/deed/live/example.test/cert.pem"
check "validated just in time at newOrder" grep -q "example.test (account 1): valid just in time" "$LAB_DIR/logs/deed-ca.log"
for i in 1 2 3; do
  check "renewal $i" bash -c '"$@" >"$0" 2>&1 || { cat "$0"; exit 1; }' "$LAB_DIR/renew.out" \
    "$DEED" --verbose "${C[@]}" renew example.test --force
done
# The order is ready at newOrder (just in time): no authorization fetched, no challenge, no
# polling, the finalize answer used as it is.
check "a renewal goes from the ready order straight to finalize" bash -c '
  grep -q "^deed: order ready at once: every authorization is valid already" "$0" &&
  ! grep -Eq "^deed: (validating|waiting)" "$0"' "$LAB_DIR/renew.out"
check "zone serial unchanged after the one publication ($SERIAL)" test "$(zone_serial)" = "$SERIAL"
check "subdomain validates through the parent's policy=wildcard record" issue -d sub.example.test

# ---- key rollover: the record was hashed with the old key (draft -02); it keeps working ----
check "account key rollover" "$DEED" "${C[@]}" account rollover
check "after the rollover, the record made with the old key still validates" \
  "$DEED" "${C[@]}" renew example.test --force
check "... and the zone was not touched ($SERIAL)" test "$(zone_serial)" = "$SERIAL"

# ---- the owner revokes by deleting the record ----
printf 'server 127.0.0.1 %s\nzone example.test\nupdate delete _validation-persist.example.test. TXT\nsend\n' \
  "$LAB_DNS_PORT" | knsupdate -k "$LAB_DIR/dns/tsig.knot.key"
check "after deleting the record, the next validation fails: unauthorized" expect_fail example.test unauthorized

# ---- reuse: never longer than the record's TTL ----
ca_stop
sed -i "s/^authz_reuse = .*/authz_reuse = 30d/" "$CA/deed-ca.conf"
ca_start "$CA" --dns-resolver "$DNS" || { fail "deed-ca restarts with reuse"; exit 1; }
{
  printf 'server 127.0.0.1 %s\nzone example.test\n' "$LAB_DNS_PORT"
  printf 'update add _validation-persist.reuse.example.test. 10 TXT "%s; accounturi=%s"\nsend\n' "$ISSUER" "$ACCT"
} | knsupdate -k "$LAB_DIR/dns/tsig.knot.key"
attempts() { "$DEED_BUILD/deed-ca" admin validations --dir "$CA" reuse.example.test | grep -c "^[0-9]"; }
issue -d reuse.example.test
issue -d reuse.example.test
check "a second order within the record's TTL (10 s) reuses the authorization" test "$(attempts)" = 1
sleep 11
issue -d reuse.example.test
check "an order after the TTL validates afresh" test "$(attempts)" = 2

# ---- the audit log ----
check "admin validations: every attempt with names, records seen, TTL, DNSSEC status, result" bash -c '
  "$1" admin validations --dir "$2" example.test >"$3" &&
  grep -Eq "_validation-persist.example.test  ttl [0-9]+  dnssec insecure  valid" "$3" &&
  grep -q "accounturi=" "$3" && grep -q "(just in time, at newOrder)" "$3" &&
  grep -q "example.test  dns-persist-01  invalid" "$3"' _ "$DEED_BUILD/deed-ca" "$CA" "$LAB_DIR/audit.out"
sed -n 1,12p "$LAB_DIR/audit.out"
