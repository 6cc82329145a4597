# shellcheck shell=bash
# Sourced by bench-compare.sh and bench-peak.sh: the lab directory, Knot, and deed-ca on
# loopback as both benchmarks run them. Needs SRC, DEED_BUILD and DEED_LAB set. Every
# process started here is stopped by PID at exit (BENCH_KEEP=1 keeps them and the directory).

ISSUER=ca.deed.test
# shellcheck source=deed-conf.sh
. "$SRC/scripts/deed-conf.sh"
CA_PID=

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# CPU time (user + system, clock ticks) a process has used so far; nothing once it is gone.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null; }

bench_cleanup() {
  if [ -n "$CA_PID" ]; then kill -TERM "$CA_PID" 2>/dev/null && wait "$CA_PID" 2>/dev/null; fi
  bash "$DEED_LAB/down.sh" >/dev/null 2>&1 || true
  rm -rf "$LAB_DIR"
}

# bench_lab_start NAME: checks the build and the lab kit, makes LAB_DIR, starts Knot on a free
# port (DNS=127.0.0.1:PORT). Extra LAB_* / PEBBLE_* ports may be exported before.
bench_lab_start() {
  [ -x "$DEED_BUILD/deed-bench" ] || { echo "no $DEED_BUILD/deed-bench: build first (make build)" >&2; exit 1; }
  [ -x "$DEED_LAB/dns-up.sh" ] || { echo "lab kit not found at $DEED_LAB (set DEED_LAB)" >&2; exit 1; }
  LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/deed-$1.XXXXXX")
  export LAB_DIR LAB_DNS_PORT
  trap bench_cleanup EXIT
  [ -n "${BENCH_KEEP:-}" ] && trap - EXIT
  LAB_DNS_PORT=$(free_port)
  DNS=127.0.0.1:$LAB_DNS_PORT
  bash "$DEED_LAB/dns-up.sh" >"$LAB_DIR/dns-up.out" 2>&1 || { cat "$LAB_DIR/dns-up.out"; exit 1; }
}

# bench_ca_start [THREADS [KEY=VALUE...]]: deed-ca with its default configuration (three
# challenge types, our issuer name for CAA and dns-persist-01), THREADS HTTP threads if given
# and not empty, and each KEY set to VALUE. Sets CA_PID, CA_URL and CA_HTTP (the port it
# validates http-01 against).
bench_ca_start() {
  local port
  port=$(free_port); CA_HTTP=$(free_port)
  CA_URL=https://127.0.0.1:$port/directory
  "$DEED_BUILD/deed-ca" init --dir "$LAB_DIR/ca" --listen "127.0.0.1:$port" >/dev/null || exit 1
  deed_conf_set "$LAB_DIR/ca/deed-ca.conf" challenges=http-01,dns-01,dns-persist-01 \
    "caa_identities=$ISSUER" ${1:+"threads=$1"} "${@:2}" || exit 1
  "$DEED_BUILD/deed-ca" serve --dir "$LAB_DIR/ca" --dns-resolver "$DNS" --http01-port "$CA_HTTP" \
    --allow-loopback >"$LAB_DIR/deed-ca.log" 2>&1 &
  CA_PID=$!
  for _ in $(seq 100); do
    curl -sf --cacert "$LAB_DIR/ca/root.pem" "$CA_URL" >/dev/null && return 0
    sleep 0.1
  done
  echo "deed-ca did not start:" >&2
  cat "$LAB_DIR/deed-ca.log" >&2
  exit 1
}
