#!/usr/bin/env bash
# Official Chroma JS clients against a running server.
#
#   scripts/js-tests.sh URL [v1|v2|v1,v2]
#
#   URL   server base URL, e.g. http://127.0.0.1:8000 (default $CHROMA_URL or that)
#   API   which client lines to run (default v1,v2):
#           v2 = chromadb@3.5.0 (npm latest, /api/v2)     reference: real Chroma 1.5.9
#           v1 = chromadb@1.8.1 (Chroma 0.4 era, /api/v1) reference: real Chroma 0.4.24
#
# Installs the pinned clients with `npm ci` in tests/js (set JS_TESTS_SKIP_INSTALL=1 to
# reuse node_modules), then runs `node --test` (one file at a time). Exit status is
# node's: 0 when every check passed. Needs node >= 20 and npm.
set -euo pipefail
URL="${1:-${CHROMA_URL:-http://127.0.0.1:8000}}"
API="${2:-${CHROMA_API:-v1,v2}}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HERE/tests/js"

if [[ "${JS_TESTS_SKIP_INSTALL:-0}" != 1 || ! -d node_modules ]]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

files=()
[[ ",$API," == *",v2,"* ]] && files+=(v2.test.js search.test.js)
[[ ",$API," == *",v1,"* ]] && files+=(v1.test.js)
if [[ ${#files[@]} -eq 0 ]]; then
  echo "js-tests: API must be v1, v2 or v1,v2 (got '$API')" >&2
  exit 2
fi

if ! curl -fsS -o /dev/null --max-time 5 "$URL/api/v2/heartbeat" && ! curl -fsS -o /dev/null --max-time 5 "$URL/api/v1/heartbeat"; then
  echo "js-tests: no Chroma server answers at $URL" >&2
  exit 2
fi

echo "js-tests: $URL, clients: $API" >&2
CHROMA_URL="$URL" CHROMA_API="$API" exec node --test --test-concurrency=1 --test-reporter=spec "${files[@]}"
