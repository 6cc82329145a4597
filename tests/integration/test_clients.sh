#!/usr/bin/env bash
# Unmodified real ACME clients (Debian's certbot and lego) obtain certificates from deed-ca over
# dns-01 (RFC 2136 to a real Knot), http-01 and (lego) tls-alpn-01; each chain verifies against
# DIR/root.pem with exactly the SANs requested. Then deed-ca restarts and the account and the certificate are still
# there.
set -uo pipefail
. "$(dirname "$0")/lib.sh"

export LAB_DNS_PORT; LAB_DNS_PORT=$(free_port)
CA_PORT=$(free_port)
export ACME_HTTP_PORT; ACME_HTTP_PORT=$(free_port)
export ACME_TLS_PORT; ACME_TLS_PORT=$(free_port)
CA=$LAB_DIR/ca
export ACME_URL=https://127.0.0.1:$CA_PORT/directory
export ACME_TLS_CA=$CA/root.pem ACME_ROOT_PEM=$CA/root.pem
export CERTBOT_TRIES=1 LAB_CASE_TIMEOUT=300

dns_up
ca_init "$CA" "$CA_PORT"
sed -i "s/^challenges = .*/challenges = http-01,dns-01,tls-alpn-01/" "$CA/deed-ca.conf"
SERVE=(--dns-resolver "127.0.0.1:$LAB_DNS_PORT" --http01-port "$ACME_HTTP_PORT"
       --tlsalpn01-port "$ACME_TLS_PORT" --allow-loopback)
ca_start "$CA" "${SERVE[@]}" || { fail "deed-ca starts"; exit 1; }

# run_client NAME SCRIPT MODE DOMAIN...: the lab script issues and verifies; we also check SANs.
run_client() {
  local name=$1 script=$2 mode=$3 out crt
  shift 3
  out=$LAB_DIR/$name.out
  if timeout 300 bash "$DEED_LAB/$script" "$mode" "$@" >"$out" 2>&1 &&
     grep -q '^verify: OK' "$out"; then
    crt=$(sed -n 's/^cert: //p' "$out" | tail -1)
    if sans_exactly "$crt" "$@"; then ok "$name ($*)"; return 0; fi
  fi
  tail -25 "$out"
  fail "$name ($*)"
}

run_client lego-dns lego-issue.sh dns www.example.test '*.example.test' example.test
run_client lego-http lego-issue.sh http www.example.test
run_client lego-tls lego-issue.sh tls api.example.test
run_client certbot-http certbot-issue.sh http www.example.test
run_client certbot-dns certbot-issue.sh dns example.test '*.example.test'

# The certificate lego got over http-01, and lego's account, survive a restart.
LEGO_DIR=$(ls -d "$LAB_DIR"/lego/*/ | head -1)
KEY=$(find "$LEGO_DIR/accounts" -name '*.key' | head -1)
KID=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["registration"]["uri"])' \
      "$(find "$LEGO_DIR/accounts" -name account.json | head -1)")
CERT_URL=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["certUrl"])' \
      "$LEGO_DIR/certificates/www.example.test.json")
POST=("$DEED_BUILD/acme-post" --ca "$CA/root.pem" --key "$KEY" --kid "$KID" --directory "$ACME_URL")
"${POST[@]}" "$CERT_URL" >"$LAB_DIR/before.pem" 2>&1 || true

check "deed-ca stops cleanly on SIGTERM" ca_stop
ca_start "$CA" "${SERVE[@]}" || { fail "deed-ca restarts"; exit 1; }

check "account still valid after restart" \
  bash -c '"$@" "$0" | sed -n 2p | grep -q "\"status\":\"valid\""' "$KID" "${POST[@]}"
"${POST[@]}" "$CERT_URL" >"$LAB_DIR/after.pem" 2>&1
check "certificate downloads after restart, unchanged" \
  bash -c 'head -1 "$0" | grep -qx 200 && cmp -s "$0" "$1"' "$LAB_DIR/after.pem" "$LAB_DIR/before.pem"
check "downloaded chain verifies against root.pem" bash -c \
  'tail -n +2 "$0" > "$0.chain" && openssl verify -CAfile "$1" -untrusted "$0.chain" "$0.chain" >/dev/null' \
  "$LAB_DIR/after.pem" "$CA/root.pem"
run_client lego-http-after-restart lego-issue.sh http api.example.test
