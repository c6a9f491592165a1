#!/usr/bin/env bash
# The load test (bench/load_test.py, official 1.5.9 client) against one node on its folder, one
# node on PostgreSQL and three nodes on the same PostgreSQL database (clients round-robined over
# the nodes), each under two mixes: the default add/query/get and queries only. Reports the CPU
# the nodes spent per operation and the CPU PostgreSQL spent per record added.
#
#   bash bench/pg-nodes.sh [seconds per run, default 30] [results file]
#
# Needs a release binary (cargo build --release -p chroma-rs; CHROMA_RS_BIN to override) and
# Debian's postgresql (scripts/fixtures/start-postgres.sh starts the scratch cluster on 19300).
# Nodes listen on 127.0.0.1:19310-19313. SKIP_FOLDER=1 skips the folder node; PG_NODES_DB_PREFIX
# (default pg_nodes_) names the databases, dropped and re-created. See bench/README.md.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-30}"
out="${2:-$root/bench/results/$(date -u +%F)-pg-nodes.jsonl}"
bin="${CHROMA_RS_BIN:-${CARGO_TARGET_DIR:-$root/target}/release/chroma-rs}"
py="${LOAD_TEST_PYTHON:-$root/.venvs/chroma-1.5.9/bin/python}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
pg_url="$(bash "$root/scripts/fixtures/start-postgres.sh" | tail -1)"

start() { # port args...
  local port="$1"; shift
  "$bin" run --host 127.0.0.1 --port "$port" "$@" >"$work/node-$port.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/api/v2/heartbeat" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "node on $port did not start:" >&2; cat "$work/node-$port.log" >&2; return 1
}
stop_all() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; pids=(); }

run() { # label urls node-pids extra...
  local label="$1" urls="$2" npids="$3"; shift 3
  for mix in "add=30,query=40,get=30" "query=100"; do
    "$py" "$root/bench/load_test.py" --url "$urls" --duration "$secs" --node-pids "$npids" --postgres-cpu \
      --mix "$mix" --label "$label $mix" --out "$out" "$@" || echo "load test failed: $label $mix (see its JSON line)" >&2
  done
}

if [ -z "${SKIP_FOLDER:-}" ]; then
  start 19310 --path "$work/folder"
  run "folder node" http://127.0.0.1:19310 "${pids[0]}"
  stop_all
fi

for n in 1 3; do
  db="${PG_NODES_DB_PREFIX:-pg_nodes_}$n"
  psql "$pg_url" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
  urls=() 
  for i in $(seq 0 $((n - 1))); do
    start $((19310 + i)) --storage "${pg_url%/*}/$db"
    urls+=("http://127.0.0.1:$((19310 + i))")
  done
  run "$n postgres node(s)" "$(IFS=,; echo "${urls[*]}")" "$(IFS=,; echo "${pids[*]}")"
  stop_all
done
echo "results appended to $out"
