#!/usr/bin/env bash
# make bench: deed-bench against deed-ca and against Debian's Pebble 2.4 in the same run, on this
# machine, with the same challenge type, and the ratio of their issuance rates. Pebble runs with
# PEBBLE_VA_NOSLEEP=1 and PEBBLE_WFE_NONCEREJECT=0 so that it is not slowed on purpose; both
# validate over real loopback (http-01: deed-bench's responder; dns-01: RFC 2136 to Knot).
# Then deed-ca alone with dns-persist-01 (Pebble 2.4 does not have it), the headline mode.
#
# Environment: BENCH_MODE (http-01 | dns-01, default http-01), BENCH_SECONDS (default 10),
# BENCH_CONCURRENCY (default 4: Debian's Pebble 2.4 sometimes stops answering with 8 or more),
# BENCH_WARMUP (default 2), DEED_BUILD (default build), DEED_LAB (default ../shared/lab),
# BENCH_KEEP=1 keeps the lab directory. Loopback only; every process started here is stopped by
# PID.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEED_BUILD=${DEED_BUILD:-$SRC/build}
DEED_LAB=${DEED_LAB:-$(cd "$SRC/.." && pwd)/shared/lab}
MODE=${BENCH_MODE:-http-01}
SECONDS_=${BENCH_SECONDS:-10}
CONC=${BENCH_CONCURRENCY:-4}
WARMUP=${BENCH_WARMUP:-2}
BENCH=$DEED_BUILD/deed-bench

case $MODE in http-01|dns-01) ;; *) echo "BENCH_MODE must be http-01 or dns-01" >&2; exit 2 ;; esac
. "$SRC/scripts/bench-lib.sh"
export PEBBLE_PORT PEBBLE_MGMT_PORT PEBBLE_HTTP_PORT PEBBLE_TLS_PORT
PEBBLE_PORT=$(free_port); PEBBLE_MGMT_PORT=$(free_port)
PEBBLE_HTTP_PORT=$(free_port); PEBBLE_TLS_PORT=$(free_port)
export PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0
bench_lab_start bench

# bench NAME URL CA-BUNDLE HTTP-PORT MODE SERVER-PID: one timed run; prints its table, and the
# server's CPU time per issuance into $LAB_DIR/NAME.cpu: the CPU it used from the end of the
# warm-up until deed-bench exited, over the issuances of the timed phase.
bench() {
  local name=$1 url=$2 cab=$3 hport=$4 mode=$5 pid=$6 key=$LAB_DIR/dns/tsig.knot.key t0
  [ "$mode" = dns-persist-01 ] && key=$LAB_DIR/dns/tsig.bind.key
  "$BENCH" --mode "$mode" --duration "$SECONDS_" --warmup "$WARMUP" --concurrency "$CONC" \
    --unique-names --ca-bundle "$cab" --dns-server "$DNS" --tsig-key "$key" \
    --http-port "$hport" "$url" >"$LAB_DIR/$name.out" 2>&1 &
  sleep "$WARMUP"
  t0=$(cpu_ticks "$pid")
  wait $!
  local rc=$?
  python3 -c 'import os, sys; t, n = (int(sys.argv[1]) - int(sys.argv[2])) * 1000 / os.sysconf("SC_CLK_TCK"), int(sys.argv[3] or 0); print("%.2f" % (t / n if n else 0))' \
    "$(cpu_ticks "$pid")" "$t0" "$(sed -n 's/^issued \([0-9]*\) .*/\1/p' "$LAB_DIR/$name.out")" >"$LAB_DIR/$name.cpu"
  sed -n '/^issued/,$p' "$LAB_DIR/$name.out" | grep -v '^deed-bench:' | sed "s/^/  [$name] /"
  [ $rc = 0 ] || echo "  [$name] deed-bench exit $rc"
  tail -1 "$LAB_DIR/$name.out" | grep -q '^deed-bench: ' || return 1
}
rate() { tail -1 "$LAB_DIR/$1.out" | sed -n 's/.* rate=\([0-9.]*\).*/\1/p'; }

echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
echo "mode $MODE, $CONC clients, ${SECONDS_}s after ${WARMUP}s warm-up, unique names (a fresh validation per order)"

# ---- Pebble ----
bash "$DEED_LAB/pebble-up.sh" >"$LAB_DIR/pebble-up.out" 2>&1 || { cat "$LAB_DIR/pebble-up.out"; exit 1; }
echo "== Pebble $(dpkg-query -W -f='${Version}' pebble 2>/dev/null)"
bench pebble "https://127.0.0.1:$PEBBLE_PORT/dir" "$LAB_DIR/pebble/certs/pebble-tls-ca.pem" \
  "$PEBBLE_HTTP_PORT" "$MODE" "$(cat "$LAB_DIR/run/pebble.pid")" || exit 1
PEBBLE_ERRORS=$(tail -1 "$LAB_DIR/pebble.out" | sed -n 's/.* errors=\([0-9]*\).*/\1/p')
bash "$DEED_LAB/down.sh" pebble >/dev/null 2>&1

# ---- deed-ca ----
bench_ca_start ""
echo "== deed-ca $(git -C "$SRC" describe --always --dirty 2>/dev/null)"
bench deed "$CA_URL" "$LAB_DIR/ca/root.pem" "$CA_HTTP" "$MODE" "$CA_PID" || exit 1
RSS=$(awk '/^VmHWM/ {print $2}' "/proc/$CA_PID/status")
echo "== deed-ca, dns-persist-01"
bench persist "$CA_URL" "$LAB_DIR/ca/root.pem" "$CA_HTTP" dns-persist-01 "$CA_PID" || exit 1
RSS2=$(awk '/^VmHWM/ {print $2}' "/proc/$CA_PID/status")

P=$(rate pebble); D=$(rate deed); Q=$(rate persist)
echo
echo "$MODE issuances/s: deed-ca $D, Pebble $P"
echo "dns-persist-01 issuances/s: deed-ca $Q"
echo "server CPU per issuance ($MODE): deed-ca $(cat "$LAB_DIR/deed.cpu") ms, Pebble $(cat "$LAB_DIR/pebble.cpu") ms; dns-persist-01: deed-ca $(cat "$LAB_DIR/persist.cpu") ms"
echo "deed-ca peak RSS: $((RSS / 1024)) MiB after $MODE, $((RSS2 / 1024)) MiB after dns-persist-01"
if [ "${PEBBLE_ERRORS:-1}" != 0 ]; then
  echo "Pebble's run had $PEBBLE_ERRORS failed issuances (it stopped answering): no ratio" >&2
  exit 1
fi
python3 -c 'import sys; d, p = float(sys.argv[1]), float(sys.argv[2]); print("ratio deed-ca / Pebble (%s): %.2f" % (sys.argv[3], d / p))' "$D" "$P" "$MODE"
