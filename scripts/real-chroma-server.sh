#!/usr/bin/env bash
# Starts a real Chroma 1.x server (`chroma run` from the official wheel) with reset allowed,
# taking the same arguments as `chroma-rs run` so that scripts/chroma-suite.sh can run Chroma's
# own test suite against real Chroma for comparison:
#   CHROMA_RS_SERVER="bash scripts/real-chroma-server.sh" bash scripts/chroma-suite.sh 1.5.9
# (`chroma run` takes allow_reset only from a config file, and a config file only without
# --path/--host/--port.) Env: CHROMA_VERSION (default 1.5.9; venv from scripts/setup-venvs.sh).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="${CHROMA_RS_VENVS:-$ROOT/.venvs}/chroma-${CHROMA_VERSION:-1.5.9}/bin/chroma"
path=./chroma_data host=127.0.0.1 port=8000
while [ $# -gt 0 ]; do
  case "$1" in
    --path) path="$2"; shift 2 ;;
    --host) host="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) echo "real-chroma-server.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$path"
cfg="$path.chroma-config.yaml"
printf 'persist_path: "%s"\nlisten_address: "%s"\nport: %s\nallow_reset: true\n' "$path" "$host" "$port" >"$cfg"
exec "$BIN" run "$cfg"
