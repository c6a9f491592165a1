#!/usr/bin/env bash
# Side-by-side baselines: real Chroma (and optionally chroma-rs) through ../shared/bench/chroma_baseline.py.
#
# usage: bench/run-baselines.sh [options] <dataset> [-- <extra chroma_baseline.py args>]
#   <dataset>          a name under bench-data/ (e.g. clustered-100k-384, see scripts/make-bench-data.sh) or a path
#   --ours             also run chroma-rs over HTTP ($CHROMA_RS_BIN, else ${CARGO_TARGET_DIR:-target}/release/chroma-rs),
#                      measured with the official 1.5.9 HttpClient; skipped with a message when the binary is missing.
#                      With $CHROMA_RS_FACTORY=module:callable (and optionally $CHROMA_RS_PYTHONPATH) it also
#                      runs chroma-rs embedded through that factory.
#   --runs a,b,...     which runs (default: c159-emb,c04-emb,c159-http [+ ours-http,ours-emb with --ours])
#                      known: c159-emb   Chroma 1.5.9 embedded (PersistentClient)
#                             c04-emb    Chroma 0.4.24 embedded (default search_ef=10)
#                             c04-ef100  Chroma 0.4.24 embedded created with hnsw:search_ef=100
#                             c159-http  Chroma 1.5.9 server (`chroma run`) + 1.5.9 HttpClient
#                             c04-http   Chroma 0.4.24 server + 0.4.24 HttpClient
#                             ours-http  chroma-rs server + 1.5.9 HttpClient
#                             ours-emb   chroma-rs embedded via $CHROMA_RS_FACTORY
#   --rounds R         repeat the whole list R times, interleaved (default 1; the machine is noisy)
#   --batch B          add batch size (default 5000)
#   --out FILE         JSONL file (default bench/results/<YYYY-MM-DD>-<dataset>.jsonl; appended to)
#   --no-summary       skip the Markdown summary
# Everything after `--` goes to chroma_baseline.py, e.g. `-- --n 2000 --queries 100`.
# Runs write their databases under bench-run/<dataset>/<run>/ (gitignored; deleted and recreated per run).
# The summary (../shared/bench/summarize.py) is printed and written next to the JSONL as .md.
# Venvs come from scripts/setup-venvs.sh (created on first use).
set -uo pipefail

ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
SHARED="$ROOT/../shared"
HARNESS="$SHARED/bench/chroma_baseline.py"
SUMMARIZE="$SHARED/bench/summarize.py"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
OURS_BIN="${CHROMA_RS_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/chroma-rs}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }

RUNS="" OURS=0 ROUNDS=1 BATCH=5000 OUT="" SUMMARY=1 DATASET="" EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) OURS=1 ;;
    --runs) RUNS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --batch) BATCH="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --no-summary) SUMMARY=0 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; EXTRA=("$@"); break ;;
    -*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [ -z "$DATASET" ] || { echo "one dataset only" >&2; exit 2; }; DATASET="$1" ;;
  esac
  shift
done
[ -n "$DATASET" ] || { usage >&2; exit 2; }
[ -f "$HARNESS" ] || { echo "missing $HARNESS (shared/ must be a sibling of the repo)" >&2; exit 1; }

if [ -d "$DATASET" ]; then DS_DIR="$(cd "$DATASET" && pwd)"; else DS_DIR="$ROOT/bench-data/$DATASET"; fi
[ -f "$DS_DIR/base.npy" ] || { echo "no dataset at $DS_DIR (make it: scripts/make-bench-data.sh $DATASET)" >&2; exit 1; }
DS="$(basename "$DS_DIR")"
OUT="${OUT:-$ROOT/bench/results/$(date +%F)-$DS.jsonl}"
mkdir -p "$(dirname "$OUT")"
RUNDIR="$ROOT/bench-run/$DS"

if [ -z "$RUNS" ]; then
  RUNS="c159-emb,c04-emb,c159-http"
  [ $OURS = 1 ] && RUNS="$RUNS,ours-http" && [ -n "${CHROMA_RS_FACTORY:-}" ] && RUNS="$RUNS,ours-emb"
fi
IFS=, read -r -a RUNLIST <<<"$RUNS"

# venvs needed by the selected runs
NEED=()
for r in "${RUNLIST[@]}"; do
  case "$r" in
    c159-*|ours-*) NEED+=(chroma-1.5.9) ;;
    c04-*) NEED+=(chroma-0.4.24) ;;
    *) echo "unknown run '$r'" >&2; exit 2 ;;
  esac
done
"$ROOT/scripts/setup-venvs.sh" $(printf '%s\n' "${NEED[@]}" | sort -u) || exit 1

# run_one <run>: one chroma_baseline.py invocation; returns its exit code (77 = skipped)
run_one() {
  local r="$1" py args=() label env=()
  case "$r" in
    c159-emb)  py="$VENVS/chroma-1.5.9/bin/python";  label="chroma-1.5.9 embedded"
               args=(--mode persistent) ;;
    c04-emb)   py="$VENVS/chroma-0.4.24/bin/python"; label="chroma-0.4.24 embedded"
               args=(--mode persistent) ;;
    c04-ef100) py="$VENVS/chroma-0.4.24/bin/python"; label="chroma-0.4.24 embedded search_ef=100"
               args=(--mode persistent --create-ef 100) ;;
    c159-http) py="$VENVS/chroma-1.5.9/bin/python";  label="chroma-1.5.9 http"
               args=(--mode http --server-cmd "$VENVS/chroma-1.5.9/bin/chroma run --path {path} --host 127.0.0.1 --port {port}") ;;
    c04-http)  py="$VENVS/chroma-0.4.24/bin/python"; label="chroma-0.4.24 http"
               env=(ALLOW_RESET=TRUE)
               args=(--mode http --server-cmd "$VENVS/chroma-0.4.24/bin/chroma run --path {path} --host 127.0.0.1 --port {port}") ;;
    ours-http)
      if [ ! -x "$OURS_BIN" ]; then
        log "ours-http: SKIPPED, no binary at $OURS_BIN (build it: cargo build --release, or set CHROMA_RS_BIN)"
        return 77
      fi
      py="$VENVS/chroma-1.5.9/bin/python"; label="chroma-rs http"
      args=(--mode http --server-cmd "$OURS_BIN run --path {path} --host 127.0.0.1 --port {port}") ;;
    ours-emb)
      if [ -z "${CHROMA_RS_FACTORY:-}" ]; then
        log "ours-emb: SKIPPED, set CHROMA_RS_FACTORY=module:callable (and CHROMA_RS_PYTHONPATH if needed)"
        return 77
      fi
      py="${CHROMA_RS_PYTHON:-$VENVS/chroma-1.5.9/bin/python}"; label="chroma-rs embedded"
      env=(PYTHONPATH="${CHROMA_RS_PYTHONPATH:-}${PYTHONPATH:+:$PYTHONPATH}")
      args=(--mode persistent --client-factory "$CHROMA_RS_FACTORY") ;;
  esac
  [ "$BATCH" = 5000 ] || label="$label b$BATCH"
  log "$r: $label on $DS   (load: $(cut -d' ' -f1-3 /proc/loadavg))"
  local t0=$(date +%s)
  env ANONYMIZED_TELEMETRY=False "${env[@]}" "$py" "$HARNESS" --dataset "$DS_DIR" --path "$RUNDIR/$r" \
      --batch "$BATCH" --label "$label" --out "$OUT" "${args[@]}" "${EXTRA[@]}" >"$RUNDIR/$r.stdout"
  local rc=$?
  log "$r: rc=$rc in $(( $(date +%s) - t0 ))s"
  return $rc
}

mkdir -p "$RUNDIR"
log "dataset $DS_DIR -> $OUT; runs: ${RUNLIST[*]}; rounds: $ROUNDS"
FAILED=()
for ((round = 1; round <= ROUNDS; round++)); do
  [ "$ROUNDS" = 1 ] || log "round $round/$ROUNDS"
  for r in "${RUNLIST[@]}"; do
    run_one "$r"
    rc=$?
    [ $rc = 0 ] || [ $rc = 77 ] || FAILED+=("$r")
  done
done

if [ $SUMMARY = 1 ] && [ -s "$OUT" ]; then
  python3 "$SUMMARIZE" "$OUT" | tee "${OUT%.jsonl}.md"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  log "FAILED: ${FAILED[*]} (stderr above; server logs in $RUNDIR/*.server.log)"
  exit 1
fi
