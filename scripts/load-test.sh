#!/usr/bin/env bash
# Concurrent load test through the official Python client (chromadb 1.5.9, API v2).
#
#   scripts/load-test.sh URL [seconds] [extra bench/load_test.py flags...]
#
# e.g. scripts/load-test.sh http://127.0.0.1:8000 60 --label chroma-rs
# against a server started beforehand, e.g. `target/release/chroma-rs run --path /tmp/lt --port 8000`
# or `.venvs/chroma-1.5.9/bin/chroma run --path /tmp/lt --port 8000` (add --server-pid PID for its CPU time and
# its RSS, sampled every 5 s and checked over the second half: see bench/load_test.py).
# See bench/README.md.
# Defaults: 32 client threads, 60 s, dimension 128, add/query/get mix 30/40/30.
# Prints a table and appends a JSON line to bench/results/load-<UTC date>.jsonl.
# Exit status 0 only when there were no errors and every acknowledged add was found.
# Python: $LOAD_TEST_PYTHON, else .venvs/chroma-1.5.9/bin/python (scripts/setup-venvs.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL="${1:-${CHROMA_URL:-http://127.0.0.1:8000}}"
SECS="${2:-60}"
shift $(( $# > 2 ? 2 : $# ))
PY="${LOAD_TEST_PYTHON:-${CHROMA_RS_VENVS:-$HERE/.venvs}/chroma-1.5.9/bin/python}"
if [[ ! -x "$PY" ]]; then
  echo "load-test: $PY not found; run scripts/setup-venvs.sh or set LOAD_TEST_PYTHON" >&2
  exit 2
fi
exec "$PY" "$HERE/bench/load_test.py" --url "$URL" --duration "$SECS" "$@"
