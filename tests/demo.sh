#!/usr/bin/env bash
# make demo: a CA (deed-ca, SQLite), a real DNS server (Knot) and the client (deed) on loopback.
# The domain owner publishes one persistent record; the certificate is issued with
# dns-persist-01 and renewed three times, and Knot itself shows the zone never changed again.
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${DEED_BUILD:-$SRC/build}
LAB=${DEED_LAB:-$(cd "$SRC/.." && pwd)/shared/lab}
[ -x "$LAB/dns-up.sh" ] || { echo "demo: the lab kit is not at $LAB (set DEED_LAB)" >&2; exit 1; }
export LAB_DIR; LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/deed-demo.XXXXXX")
CA_PID=
cleanup() {
  [ -n "$CA_PID" ] && kill "$CA_PID" 2>/dev/null && wait "$CA_PID" 2>/dev/null
  bash "$LAB/down.sh" >/dev/null 2>&1 || true
  rm -rf "$LAB_DIR"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
START=$(date +%s)

export LAB_DNS_PORT; LAB_DNS_PORT=$(port)
DNS=127.0.0.1:$LAB_DNS_PORT
CA_PORT=$(port)
CA=$LAB_DIR/ca
URL=https://127.0.0.1:$CA_PORT/directory
D=("$BUILD/deed" --verbose --server "$URL" --ca-bundle "$CA/root.pem" --dir "$LAB_DIR/client")
serial() { kdig @127.0.0.1 -p "$LAB_DNS_PORT" +short SOA example.test | awk '{print $3}'; }

step "Knot DNS, authoritative for example.test on $DNS"
bash "$LAB/dns-up.sh" | tail -1

step "deed-ca: a new CA, offering dns-persist-01 as issuer ca.deed.test"
"$BUILD/deed-ca" init --dir "$CA" --name "deed demo" --listen "127.0.0.1:$CA_PORT"
sed -i -e "s/^challenges = .*/challenges = http-01,dns-01,dns-persist-01/" \
       -e "s/^caa_identities =.*/caa_identities = ca.deed.test/" \
       -e "s/^authz_reuse = .*/authz_reuse = 0/" "$CA/deed-ca.conf"
echo "(authz_reuse = 0: every order is validated afresh, by a real DNS lookup)"
"$BUILD/deed-ca" serve --dir "$CA" --dns-resolver "$DNS" >"$LAB_DIR/deed-ca.log" 2>&1 &
CA_PID=$!
for _ in $(seq 50); do curl -sf --cacert "$CA/root.pem" "$URL" >/dev/null && break; sleep 0.1; done
echo "directory: $URL"

step "deed: register an account"
"${D[@]}" account register --email owner@example.test --agree-tos

step "deed persist show: the one record the domain owner adds"
"${D[@]}" persist show -d example.test --wildcard

step "deed persist publish: add it once (RFC 2136, TSIG)"
"${D[@]}" persist publish -d example.test --wildcard --dns-update "$DNS" --tsig-key "$LAB_DIR/dns/tsig.bind.key"
SERIAL=$(serial)
echo "zone serial now: $SERIAL"
"${D[@]}" persist check -d example.test --wildcard --resolver "$DNS"

step "deed issue: example.test, *.example.test, www.example.test with dns-persist-01 (no DNS credentials)"
"${D[@]}" issue --challenge dns-persist-01 -d example.test -d '*.example.test' -d www.example.test
openssl x509 -in "$LAB_DIR/client/live/example.test/cert.pem" -noout -serial -ext subjectAltName

for i in 1 2 3; do
  step "renewal $i: deed renew --force"
  "${D[@]}" renew example.test --force
  openssl x509 -in "$LAB_DIR/client/live/example.test/cert.pem" -noout -serial
  echo "zone serial (from Knot): $(serial)"
done

step "result"
grep -c "dns-persist-01 for .*: valid" "$LAB_DIR/deed-ca.log" | sed 's/^/fresh dns-persist-01 validations by the CA: /'
if [ "$(serial)" = "$SERIAL" ]; then
  echo "zone serial unchanged since the one publication: $SERIAL"
else
  echo "zone serial CHANGED: $SERIAL -> $(serial)"; exit 1
fi
openssl verify -CAfile "$CA/root.pem" -untrusted "$LAB_DIR/client/live/example.test/chain.pem" \
  "$LAB_DIR/client/live/example.test/cert.pem"
echo "demo done in $(( $(date +%s) - START )) s"
