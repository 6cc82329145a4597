#!/usr/bin/env bash
# The deed client against two real ACME servers: Debian's Pebble 2.4 (http-01, tls-alpn-01,
# dns-01 over RFC 2136 to Knot with apex + wildcard in one order, --preferred-chain with an
# alternate root) and deed-ca (http-01, dns-01, dns-account-01; a challenge answered with its
# outcome, one answered processing after a slow validation, and one queued by a pool thread).
# Each certificate verifies against the issuing root; renew --force replaces it; revoke makes the
# server report it revoked; dns-01 cleanup removes only deed's TXT values; a failed write leaves
# the previous certificate files intact.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

DEED=$DEED_BUILD/deed
export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_HTTP_PORT PEBBLE_TLS_PORT
PEBBLE_PORT=$(free_port); PEBBLE_MGMT_PORT=$(free_port)
PEBBLE_HTTP_PORT=$(free_port); PEBBLE_TLS_PORT=$(free_port)
export PEBBLE_VA_NOSLEEP=1
# One alternate root: the certificate URL then links an alternate chain (RFC 8555 §7.4.2), for
# --preferred-chain.
export PEBBLE_ALTERNATE_ROOTS=1
ZONE=example.test
KEY=$LAB_DIR/dns/tsig.bind.key
DNS=127.0.0.1:$LAB_DNS_PORT

dns_up
bash "$DEED_LAB/pebble-up.sh" >"$LAB_DIR/pebble-up.out" 2>&1 || { cat "$LAB_DIR/pebble-up.out"; fail "Pebble starts"; exit 1; }
PEBBLE_URL=https://127.0.0.1:$PEBBLE_PORT/dir
PEBBLE_TLS=$LAB_DIR/pebble/certs/pebble-tls-ca.pem
PEBBLE_ROOT=$LAB_DIR/pebble/issuer-root.pem

# verify_live DIR NAME ROOT NAMES...: chain verifies to ROOT, SANs exactly NAMES.
verify_live() {
  local dir=$1 name=$2 root=$3
  shift 3
  openssl verify -purpose sslserver -CAfile "$root" -untrusted "$dir/live/$name/chain.pem" \
    "$dir/live/$name/cert.pem" >/dev/null && sans_exactly "$dir/live/$name/cert.pem" "$@" &&
    cmp -s <(cat "$dir/live/$name/cert.pem" "$dir/live/$name/chain.pem") "$dir/live/$name/fullchain.pem" &&
    [ "$(stat -c %a "$dir/live/$name/privkey.pem")" = 600 ]
}
serial() { openssl x509 -in "$1" -noout -serial | cut -d= -f2; }
txt_values() { kdig @127.0.0.1 -p "$LAB_DNS_PORT" +short TXT "$1" | sort; }

# ---- against Pebble ----
P=(--server "$PEBBLE_URL" --ca-bundle "$PEBBLE_TLS" --dir "$LAB_DIR/deed-pebble")
check "pebble: account register" "$DEED" "${P[@]}" account register --email lab@example.test --agree-tos
check "pebble: account key is 0600" test "$(stat -c %a "$LAB_DIR"/deed-pebble/accounts/*/account.key)" = 600
check "pebble: http-01 issue" "$DEED" "${P[@]}" issue -d www.example.test --challenge http-01 \
  --standalone "127.0.0.1:$PEBBLE_HTTP_PORT"
check "pebble: http-01 chain verifies, SANs exact" verify_live "$LAB_DIR/deed-pebble" www.example.test "$PEBBLE_ROOT" www.example.test
check "pebble: tls-alpn-01 issue" "$DEED" "${P[@]}" issue -d api.example.test --challenge tls-alpn-01 \
  --standalone "127.0.0.1:$PEBBLE_TLS_PORT"
check "pebble: tls-alpn-01 chain verifies" verify_live "$LAB_DIR/deed-pebble" api.example.test "$PEBBLE_ROOT" api.example.test

# --preferred-chain: the chain whose top certificate's issuer has that CN (Pebble's roots are
# named at random: ask its management API), else the default chain.
MGMT=https://127.0.0.1:$PEBBLE_MGMT_PORT
curl -sSf --cacert "$PEBBLE_TLS" "$MGMT/roots/1" >"$LAB_DIR/alt-root.pem"
ALT_CN=$(openssl x509 -in "$LAB_DIR/alt-root.pem" -noout -subject -nameopt multiline | sed -n 's/^ *commonName *= //p')
check "pebble: it has an alternate root ($ALT_CN)" test -n "$ALT_CN"
check "pebble: --preferred-chain picks the alternate chain" "$DEED" "${P[@]}" issue -d mail.example.test \
  --challenge http-01 --standalone "127.0.0.1:$PEBBLE_HTTP_PORT" --preferred-chain "$ALT_CN"
check "pebble: ... which verifies to the alternate root, not the default one" bash -c '
  verify() { openssl verify -purpose sslserver -CAfile "$1" -untrusted "$2/chain.pem" "$2/cert.pem" >/dev/null 2>&1; }
  verify "$0" "$1" && ! verify "$2" "$1"' "$LAB_DIR/alt-root.pem" "$LAB_DIR/deed-pebble/live/mail.example.test" "$PEBBLE_ROOT"
check "pebble: --preferred-chain naming no chain keeps the default one" bash -c \
  '"$@" >"$0" 2>&1 || { cat "$0"; exit 1; }' "$LAB_DIR/nochain.out" "$DEED" "${P[@]}" issue \
  -d chain.bench.example.test --challenge http-01 --standalone "127.0.0.1:$PEBBLE_HTTP_PORT" --preferred-chain "No Such Root"
check "pebble: ... which verifies to the default root" verify_live "$LAB_DIR/deed-pebble" chain.bench.example.test "$PEBBLE_ROOT" chain.bench.example.test

# A TXT value that is not deed's, at the name deed will use: it must survive the cleanup.
printf 'server %s\nzone %s\nupdate add _acme-challenge.%s. 60 TXT "keep-me"\nsend\n' \
  "127.0.0.1 $LAB_DNS_PORT" "$ZONE" "$ZONE" | knsupdate -k "$LAB_DIR/dns/tsig.knot.key" >/dev/null 2>&1
check "pebble: dns-01 apex + wildcard in one order" "$DEED" "${P[@]}" issue -d example.test -d '*.example.test' \
  --challenge dns-01 --dns-update "$DNS" --tsig-key "$KEY" --resolver "$DNS"
check "pebble: dns-01 chain verifies, SANs exact" verify_live "$LAB_DIR/deed-pebble" example.test "$PEBBLE_ROOT" example.test '*.example.test'
left=$(txt_values "_acme-challenge.$ZONE")
check "dns-01 cleanup removed only deed's values (left: $left)" test "$left" = '"keep-me"'

OLD=$(serial "$LAB_DIR/deed-pebble/live/www.example.test/cert.pem")
check "pebble: renew --force" "$DEED" "${P[@]}" renew www.example.test --force
NEW=$(serial "$LAB_DIR/deed-pebble/live/www.example.test/cert.pem")
check "pebble: renewal replaced the certificate" test "$OLD" != "$NEW"
check "pebble: earlier version kept" test -s "$LAB_DIR/deed-pebble/archive/www.example.test/1/cert.pem"
check "pebble: renew when nothing is due is silent, exit 0" \
  bash -c '[ -z "$("$@" renew --all 2>&1)" ]' _ "$DEED" "${P[@]}"
check "pebble: revoke" "$DEED" "${P[@]}" revoke www.example.test --reason superseded
check "pebble: Pebble reports it revoked" bash -c \
  'curl -sS --cacert "$1" "$2/cert-status-by-serial/$3" | grep -q "\"Status\": *\"Revoked\""' \
  _ "$PEBBLE_TLS" "https://127.0.0.1:$PEBBLE_MGMT_PORT" "$NEW"

# ---- against deed-ca ----
CA_PORT=$(free_port)
CA_HTTP=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory
ca_init "$CA" "$CA_PORT"
sed -i "s/^challenges = .*/challenges = http-01,dns-01,dns-account-01/" "$CA/deed-ca.conf"
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca starts"; exit 1; }
D=(--server "$ACME_URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/deed-ca-client")
check "deed-ca: account register" "$DEED" "${D[@]}" account register --agree-tos
check "deed-ca: http-01 issue" bash -c '"$@" >"$0" 2>&1 || { cat "$0"; exit 1; }' "$LAB_DIR/inline.out" \
  "$DEED" --verbose "${D[@]}" issue -d www.example.test --challenge http-01 --standalone "127.0.0.1:$CA_HTTP"
# A thread per connection (the default): the challenge is validated while its POST waits, and
# the answer says valid, so the client polls nothing.
check "deed-ca: the challenge answer carries the outcome, nothing polled" bash -c '
  grep -q "^deed: validating www.example.test" "$0" && ! grep -q "^deed: polling" "$0"' "$LAB_DIR/inline.out"
check "deed-ca: http-01 chain verifies" verify_live "$LAB_DIR/deed-ca-client" www.example.test "$CA/root.pem" www.example.test
check "deed-ca: dns-01 issue" "$DEED" "${D[@]}" issue -d example.test -d '*.example.test' \
  --challenge dns-01 --dns-update "$DNS" --tsig-key "$KEY" --resolver "$DNS"
check "deed-ca: dns-01 chain verifies" verify_live "$LAB_DIR/deed-ca-client" example.test "$CA/root.pem" example.test '*.example.test'
# dns-account-01: the record goes under this account's label, computed here independently.
ACCT_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$LAB_DIR"/deed-ca-client/accounts/*/account.json)
LABEL=_$(python3 -c 'import base64,hashlib,sys; print(base64.b32encode(hashlib.sha256(sys.argv[1].encode()).digest()[:10]).decode().lower())' "$ACCT_URL")
check "deed-ca: dns-account-01 issue (name + wildcard)" "$DEED" "${D[@]}" issue -d acct.example.test \
  -d '*.acct.example.test' --challenge dns-account-01 --dns-update "$DNS" --tsig-key "$KEY" --resolver "$DNS"
check "deed-ca: dns-account-01 chain verifies" verify_live "$LAB_DIR/deed-ca-client" acct.example.test "$CA/root.pem" acct.example.test '*.acct.example.test'
check "deed-ca: validated at $LABEL._acme-challenge.acct.example.test" \
  bash -c '"$@" | grep -q "$0._acme-challenge.acct.example.test"' "$LABEL" "$DEED_BUILD/deed-ca" admin validations --dir "$CA" acct.example.test
check "deed-ca: dns-account-01 record removed afterwards" \
  bash -c '[ -z "$(kdig @127.0.0.1 -p "$1" +short TXT "$2._acme-challenge.acct.example.test")" ]' _ "$LAB_DNS_PORT" "$LABEL"
OLD=$(serial "$LAB_DIR/deed-ca-client/live/example.test/cert.pem")
check "deed-ca: renew --force" "$DEED" "${D[@]}" renew example.test --force
check "deed-ca: renewal replaced the certificate" test "$OLD" != "$(serial "$LAB_DIR/deed-ca-client/live/example.test/cert.pem")"
check "deed-ca: revoke" "$DEED" "${D[@]}" revoke example.test

# ---- a slow validation: the challenge answer waits 5 s at most, then says processing ----
# The http-01 target accepts connections and never answers (a tarpit); validation_timeout
# is 8 s here, so the answer comes first and the client polls until the outcome.
ca_stop
sed -i "s/^validation_timeout = .*/validation_timeout = 8s/" "$CA/deed-ca.conf"
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca restarts"; exit 1; }
python3 -c '
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(16); held = []
while True: held.append(s.accept()[0])' "$CA_HTTP" &
TARPIT=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$CA_HTTP") 2>/dev/null && break; sleep 0.1; done
mkdir -p "$LAB_DIR/webroot"
"$DEED" --verbose "${D[@]}" issue -d mail.example.test --challenge http-01 --webroot "$LAB_DIR/webroot" \
  >"$LAB_DIR/slow.out" 2>&1
check "deed-ca: a validation that times out fails the issuance (exit 5)" test $? = 5
check "deed-ca: its challenge was answered processing before the outcome, and polled" \
  grep -q "^deed: polling mail.example.test" "$LAB_DIR/slow.out"
check "deed-ca: the failure names the timeout" grep -qi "time" "$LAB_DIR/slow.out"
kill "$TARPIT" 2>/dev/null; wait "$TARPIT" 2>/dev/null

# ---- a pool of HTTP threads: validations go to the workers' queue, the client polls ----
ca_stop
sed -i "s/^threads = .*/threads = 2/" "$CA/deed-ca.conf"
ca_start "$CA" --dns-resolver "$DNS" --http01-port "$CA_HTTP" --allow-loopback || { fail "deed-ca restarts with threads = 2"; exit 1; }
check "deed-ca (pool of 2 threads): http-01 issue, validated by a worker" bash -c \
  '"$@" >"$0" 2>&1 || { cat "$0"; exit 1; }' "$LAB_DIR/queued.out" \
  "$DEED" --verbose "${D[@]}" issue -d api.example.test --challenge http-01 --standalone "127.0.0.1:$CA_HTTP"
check "deed-ca (pool of 2 threads): the answer said processing; the authorization was polled" \
  grep -q "^deed: polling api.example.test" "$LAB_DIR/queued.out"
check "deed-ca (pool of 2 threads): chain verifies" verify_live "$LAB_DIR/deed-ca-client" api.example.test "$CA/root.pem" api.example.test
"$DEED" "${D[@]}" revoke example.test >"$LAB_DIR/revoke2.out" 2>&1
check "deed-ca: reports it revoked (second revoke: alreadyRevoked, exit 3)" \
  bash -c '[ $1 = 3 ] && grep -q alreadyRevoked "$2"' _ $? "$LAB_DIR/revoke2.out"

check "deed-ca: account rollover" "$DEED" "${D[@]}" account rollover
check "deed-ca: the account works with the new key" "$DEED" "${D[@]}" account show

# ---- a failed write leaves the previous files intact ----
# A file size limit of 1 KiB makes writing the new chain fail with EFBIG, as a full disk would;
# SIGXFSZ is ignored so that the write returns the error instead of killing the process.
LIVE=$LAB_DIR/deed-ca-client/live/www.example.test
BEFORE=$(cat "$LIVE"/*.pem | sha256sum)
(trap '' XFSZ; ulimit -f 1; exec "$DEED" "${D[@]}" renew www.example.test --force) >"$LAB_DIR/failwrite.out" 2>&1
check "failed write: exit 7 with a one-line reason" bash -c '[ $1 = 7 ] && tail -1 "$2" | grep -q "not stored: cannot write .*File too large"' _ $? "$LAB_DIR/failwrite.out"
check "failed write: the incomplete version was removed" test "$(ls "$LAB_DIR/deed-ca-client/archive/www.example.test")" = 1
check "failed write: previous files intact and live" test "$(cat "$LIVE"/*.pem | sha256sum)" = "$BEFORE"

# ---- killed mid-renewal: live files are always one complete version ----
for delay in 0.3 0.6 0.9 1.2; do
  "$DEED" "${D[@]}" renew www.example.test --force >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
done
check "killed mid-renewal: live cert, chain, fullchain and key are one consistent version" bash -c '
  cmp -s <(cat "$1/cert.pem" "$1/chain.pem") "$1/fullchain.pem" &&
  [ "$(openssl x509 -in "$1/cert.pem" -noout -pubkey)" = "$(openssl pkey -in "$1/privkey.pem" -pubout)" ]' _ "$LIVE"

# ---- bad input ----
"$DEED" --server "https://127.0.0.1:$(free_port)/directory" --dir "$LAB_DIR/x" account register --agree-tos >"$LAB_DIR/unreach.out" 2>&1
check "unreachable server: exit 4, one line" bash -c '[ $1 = 4 ] && [ $(wc -l < "$2") = 1 ]' _ $? "$LAB_DIR/unreach.out"
"$DEED" --server "$ACME_URL" --dir "$LAB_DIR/x" account register --agree-tos >"$LAB_DIR/badtls.out" 2>&1
check "untrusted TLS: exit 4" test $? = 4
"$DEED" "${D[@]}" issue -d nxd.example.test --challenge dns-01 --dns-update "$DNS" \
  --resolver "$DNS" >"$LAB_DIR/refused.out" 2>&1
check "DNS update refused: exit 6 naming the refusal" bash -c '[ $1 = 6 ] && grep -Eq "REFUSED|NOTAUTH" "$2"' _ $? "$LAB_DIR/refused.out"

# ---- deactivation is final ----
check "deed-ca: account deactivate" "$DEED" "${D[@]}" account deactivate
"$DEED" "${D[@]}" account show >"$LAB_DIR/deact.out" 2>&1
check "deed-ca: a deactivated account is refused (exit 3, unauthorized)" \
  bash -c '[ $1 = 3 ] && grep -q unauthorized "$2"' _ $? "$LAB_DIR/deact.out"
