# shellcheck shell=bash
# Sourced by scripts/bench-lib.sh and tests/integration/lib.sh.

# deed_conf_set FILE KEY=VALUE...: set each KEY in a deed-ca.conf that `deed-ca init` wrote
# (it lists every key). A KEY the file does not have is an error, so that a misspelt or
# renamed key stops the caller instead of leaving the default in place.
deed_conf_set() {
  local conf=$1 kv
  shift
  for kv in "$@"; do
    grep -q "^${kv%%=*} =" "$conf" || { echo "$conf has no key ${kv%%=*}" >&2; return 1; }
    sed -i "s|^${kv%%=*} =.*|${kv%%=*} = ${kv#*=}|" "$conf"
  done
}
