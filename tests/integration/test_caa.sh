#!/usr/bin/env bash
# CAA (RFC 8659, RFC 8657) end to end: deed-ca checks the CAA records a real Knot serves after
# each validation, and again at finalize, and the deed client gets the problem. Records naming
# another CA, another account, or only other validation methods refuse issuance; issuewild ";"
# refuses only the wildcard; a CAA lookup that fails (SERVFAIL) refuses; our own name allows.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DEED=$DEED_BUILD/deed
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
DNS=127.0.0.1:$LAB_DNS_PORT
KEY=$LAB_DIR/dns/tsig.bind.key
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory

dns_up
# caa_recheck = 0: every finalize checks CAA again, so that the recheck is exercised at once.
ca_init "$CA" "$CA_PORT" http-01,dns-01,dns-persist-01 caa_recheck=0
grep -q '^caa_check = true' "$CA/deed-ca.conf" || { fail "CAA is checked by default"; exit 1; }
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca starts"; exit 1; }

C=(--server "$ACME_URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/deed")
"$DEED" "${C[@]}" account register --agree-tos >/dev/null 2>&1 || { fail "account register"; exit 1; }
ACCT=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$LAB_DIR"/deed/accounts/*/account.json)

# zone LINE...: one RFC 2136 update of example.test with these update lines.
zone() {
  { printf 'server 127.0.0.1 %s\nzone example.test\n' "$LAB_DNS_PORT"; printf '%s\n' "$@"; printf 'send\n'; } |
    knsupdate -k "$LAB_DIR/dns/tsig.knot.key"
}
# host NAME CAA-VALUE...: NAME gets A 127.0.0.1 and exactly these CAA records.
host() {
  local name=$1 v lines=()
  shift
  lines+=("update delete $name. CAA" "update add $name. 60 A 127.0.0.1")
  for v in "$@"; do lines+=("update add $name. 60 CAA $v"); done
  zone "${lines[@]}"
}
http01() { "$DEED" "${C[@]}" issue --challenge http-01 --standalone "127.0.0.1:$CA_HTTP" "$@"; }
dns01() { "$DEED" "${C[@]}" issue --challenge dns-01 --dns-update "$DNS" --tsig-key "$KEY" --resolver "$DNS" "$@"; }
# refused WHAT CMD...: CMD fails, and its message carries the caa problem and WHAT.
refused() {
  local what=$1 out=$LAB_DIR/out.$RANDOM
  shift
  if "$@" >"$out" 2>&1; then echo "issued, though CAA should refuse"; return 1; fi
  grep -q 'caa' "$out" && grep -qF -- "$what" "$out" || { echo "output: $(cat "$out")"; return 1; }
}
# refused_dns CMD...: CMD fails with a dns problem (the CAA lookup failed).
refused_dns() {
  local out=$LAB_DIR/out.$RANDOM
  if "$@" >"$out" 2>&1; then echo "issued, though the CAA lookup failed"; return 1; fi
  grep -q 'dns' "$out" && grep -qi 'CAA' "$out" || { echo "output: $(cat "$out")"; return 1; }
}
issued() { "$@" >"$LAB_DIR/issued.out" 2>&1 || { cat "$LAB_DIR/issued.out"; return 1; }; }

host free.example.test
check "no CAA record anywhere: issued" issued http01 -d free.example.test

host other.example.test '0 issue "other.ca"'
check 'issue "other.ca" refuses, naming the record' refused 'other.ca' http01 -d other.example.test

host ours.example.test "0 issue \"$ISSUER\""
check "issue \"$ISSUER\" (our name) allows" issued http01 -d ours.example.test

host sub.ours.example.test
check "the parent's CAA set applies to a name without its own" issued http01 -d sub.ours.example.test
host child.other.example.test "0 issue \"$ISSUER\""
check "a child's own set overrides its parent's" issued http01 -d child.other.example.test

host acct.example.test "0 issue \"$ISSUER; accounturi=${ACCT%/*}/999\""
check "accounturi of another account refuses" refused 'accounturi' http01 -d acct.example.test
host acctok.example.test "0 issue \"$ISSUER; accounturi=$ACCT\""
check "accounturi of this account allows" issued http01 -d acctok.example.test

host vm.example.test "0 issue \"$ISSUER; validationmethods=dns-persist-01\""
check "validationmethods=dns-persist-01 refuses http-01" refused 'validationmethods' http01 -d vm.example.test
zone "update add _validation-persist.vm.example.test. 60 TXT \"$ISSUER; accounturi=$ACCT\""
check "validationmethods=dns-persist-01 allows dns-persist-01" \
  issued "$DEED" "${C[@]}" issue --challenge dns-persist-01 -d vm.example.test

host wild.example.test "0 issue \"$ISSUER\"" '0 issuewild ";"'
check 'issuewild ";" refuses the wildcard' refused 'issuewild' dns01 -d '*.wild.example.test'
check 'issuewild ";" leaves the name itself to issue' issued dns01 -d wild.example.test

host crit.example.test "0 issue \"$ISSUER\"" '128 tbs "unknown"'
check "an unknown critical property refuses" refused 'tbs' http01 -d crit.example.test

# The CAA query at sf.example.test follows a CNAME into a zone the resolver cannot answer for:
# SERVFAIL. Validation itself (dns-01, at _acme-challenge.sf) succeeds; CAA fails closed.
zone "update add sf.example.test. 60 CNAME caa.unreachable.example.org."
check "a CAA lookup failing with SERVFAIL refuses" refused_dns dns01 -d sf.example.test

# Finalize rechecks CAA (caa_recheck = 0 here): the authorization from earlier is reused, but a
# CAA record published since then refuses the new order at finalize.
host re.example.test "0 issue \"$ISSUER\""
check "recheck: issued while CAA allows" issued http01 -d re.example.test
host re.example.test '0 issue "other.ca"'
check "recheck: the reused authorization's CAA is checked again at finalize" \
  refused 'other.ca' http01 -d re.example.test
check "recheck: the finalize recheck is logged" grep -q 'CAA recheck at finalize for re.example.test' "$LAB_DIR/logs/deed-ca.log"

check "the audit log shows the CAA outcome" \
  bash -c '"$@" | grep -q "other.ca"' _ "$DEED_BUILD/deed-ca" admin validations --dir "$CA" other.example.test
