#!/usr/bin/env bash
# make bench-peak: deed-ca alone at its peak on this machine, the way docs/performance.md
# measures it: Knot and deed-ca on loopback (default configuration), deed-bench with
# dns-persist-01, unique names (a fresh validation per order). Prints deed-bench's table and
# the CPU each process used per issuance (CPUs used during the timed phase / issuance rate),
# deed-ca's peak RSS, and with PERF=1 where deed-ca's CPU went (perf record --call-graph dwarf
# for 2 s mid-run, shares by part).
#
# Environment: BENCH_MODE (default dns-persist-01), BENCH_SECONDS (10), BENCH_WARMUP (2),
# BENCH_CONCURRENCY (16), BENCH_THREADS (deed-ca's HTTP threads; default: the config's),
# BENCH_JIT=0 (dns-persist-01 without just-in-time validation: the challenge path),
# BENCH_CA_SET="KEY=VALUE ..." (more deed-ca.conf settings, for experiments),
# PERF=1, DEED_BUILD (default build), DEED_LAB (default ../shared/lab), BENCH_KEEP=1 keeps the
# lab directory. Loopback only; every process started here is stopped by PID.
set -uo pipefail

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEED_BUILD=${DEED_BUILD:-$SRC/build}
DEED_LAB=${DEED_LAB:-$(cd "$SRC/.." && pwd)/shared/lab}
MODE=${BENCH_MODE:-dns-persist-01}
SECS=${BENCH_SECONDS:-10}
WARMUP=${BENCH_WARMUP:-2}
CONC=${BENCH_CONCURRENCY:-16}
. "$SRC/scripts/bench-lib.sh"
bench_lab_start peak
# dns-persist-01 renewals as deed-ca serves them: the record is looked up at newOrder (just in
# time), the order is ready at once, and the client goes straight to finalize. All bench names
# are under one registered domain, so the per-domain budget of such lookups is raised, as a
# platform ordering many names under its own domain would. BENCH_JIT=0: every order answers
# its challenge instead.
if [ "${BENCH_JIT:-1}" = 0 ]; then
  bench_ca_start "${BENCH_THREADS:-}" persist_jit=false ${BENCH_CA_SET:-}
  path="no just-in-time lookup: every order answers its challenge"
else
  bench_ca_start "${BENCH_THREADS:-}" persist_jit_per_minute=1000000 ${BENCH_CA_SET:-}
  path="validated just in time at newOrder (an account's first order answers the challenge)"
fi

key=$LAB_DIR/dns/tsig.knot.key
[ "$MODE" = dns-persist-01 ] && key=$LAB_DIR/dns/tsig.bind.key
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
threads=$(sed -n 's/^threads = //p' "$LAB_DIR/ca/deed-ca.conf")
[ "$threads" = 0 ] && threads="one HTTP thread per connection" || threads="a pool of $threads HTTP threads"
echo "deed-ca $(git -C "$SRC" describe --always --dirty 2>/dev/null), $threads; $MODE, $CONC clients, ${SECS}s after ${WARMUP}s warm-up, unique names"
[ "$MODE" = dns-persist-01 ] && echo "dns-persist-01: $path"
"$DEED_BUILD/deed-bench" --mode "$MODE" --duration "$SECS" --warmup "$WARMUP" --concurrency "$CONC" \
  --unique-names --ca-bundle "$LAB_DIR/ca/root.pem" --dns-server "$DNS" --tsig-key "$key" \
  --http-port "$CA_HTTP" "$CA_URL" >"$LAB_DIR/bench.out" 2>&1 &
BENCH_PID=$!
# CPU is counted over the timed phase only: from the end of the warm-up to its end.
sleep "$WARMUP"
ca0=$(cpu_ticks "$CA_PID"); b0=$(cpu_ticks "$BENCH_PID"); t0=$(date +%s.%N)
PERF_PID=
if [ -n "${PERF:-}" ]; then
  ( sleep $(( SECS > 4 ? SECS / 2 - 1 : 1 ))
    perf record -F 999 --call-graph dwarf -p "$CA_PID" -o "$LAB_DIR/perf.data" -- sleep 2 \
      >/dev/null 2>&1 || echo "perf record failed" >&2 ) &
  PERF_PID=$!
fi
ca1=$ca0; b1=$b0; t1=$t0
# The last reading taken while deed-bench still ran (one taken as it exits reads nothing).
while kill -0 "$BENCH_PID" 2>/dev/null; do
  c=$(cpu_ticks "$CA_PID"); b=$(cpu_ticks "$BENCH_PID"); t=$(date +%s.%N)
  if [ "${b:-0}" -ge "$b1" ] && kill -0 "$BENCH_PID" 2>/dev/null; then ca1=$c; b1=$b; t1=$t; fi
  sleep 0.2
done
wait "$BENCH_PID"; rc=$?
[ -n "$PERF_PID" ] && wait "$PERF_PID"
sed -n '/^issued/,$p' "$LAB_DIR/bench.out"
[ $rc = 0 ] || echo "deed-bench exit $rc"
rate=$(tail -1 "$LAB_DIR/bench.out" | sed -n 's/.* rate=\([0-9.]*\).*/\1/p')
python3 - "$ca0" "$ca1" "$b0" "$b1" "$t0" "$t1" "${rate:-0}" <<'PY'
import os, sys
ca0, ca1, b0, b1 = (int(x) for x in sys.argv[1:5])
t0, t1, rate = (float(x) for x in sys.argv[5:8])
hz = os.sysconf("SC_CLK_TCK")
dt = max(t1 - t0, 1e-9)
for name, a, b in (("deed-ca", ca0, ca1), ("deed-bench", b0, b1)):
    cpus = (b - a) / hz / dt
    per = cpus / rate * 1000 if rate else 0
    print("%-10s %.2f CPUs = %.2f ms CPU per issuance" % (name, cpus, per))
PY
echo "deed-ca peak RSS: $(( $(awk '/^VmHWM/ {print $2}' "/proc/$CA_PID/status") / 1024 )) MiB"
if [ -n "${PERF:-}" ] && [ -s "$LAB_DIR/perf.data" ]; then
  echo "where deed-ca's CPU went (2 s mid-run, share of samples, first matching part):"
  perf script -i "$LAB_DIR/perf.data" 2>/dev/null | python3 "$SRC/scripts/perf-parts.py"
fi
exit $rc
