#!/usr/bin/env bash
# Side-by-side runs: real Chroma through bench/chroma_bench.py, chroma-rs through crates/bench or its server.
#
# usage: bench/run-baselines.sh [options] <dataset> [-- <extra bench/chroma_bench.py args>]
#   <dataset>          a name under bench-data/ (make it with scripts/make-bench-data.sh) or a folder
#   --runs a,b,...     which runs, in this order (default: c159-emb,c04-emb,c159-http; --ours adds ours-emb,ours-http)
#                        c159-emb   Chroma 1.5.9 embedded (PersistentClient)
#                        c04-emb    Chroma 0.4.24 embedded (its default search_ef is 10)
#                        c04-ef100  Chroma 0.4.24 embedded, created with hnsw:search_ef=100
#                        c159-http  Chroma 1.5.9 server (`chroma run`) + the 1.5.9 HttpClient
#                        c04-http   Chroma 0.4.24 server + the 0.4.24 HttpClient
#                        ours-emb   chroma-rs embedded: the chroma-rs-bench binary of crates/bench
#                                   ($CHROMA_RS_BENCH_BIN, else <target>/release/chroma-rs-bench)
#                        ours-http  chroma-rs server + the 1.5.9 HttpClient
#                                   ($CHROMA_RS_BIN, else <target>/release/chroma-rs)
#                      <target> is $CARGO_TARGET_DIR, else target/. A missing binary skips its run with a message
#                      (build both: cargo build --release -p chroma-bench -p chroma-rs).
#   --ours             add ours-emb,ours-http to the default runs
#   --rounds R         repeat the list R times, interleaved (default 1; the machine is noisy, summaries take medians)
#   --batch B          records per add (default 5000)
#   --queries Q        single queries per pass (default 1000)
#   --out FILE         JSONL file, appended to (default bench/results/<YYYY-MM-DD>-<dataset>.jsonl)
#   --no-summary       skip the table
# Databases go to bench-run/<dataset>/<run>/ (gitignored; recreated per run), each run's output to
# bench-run/<dataset>/<run>.log. The table (bench/summarize.py over --out) is printed and written
# beside the JSONL as .md. Venvs come from scripts/setup-venvs.sh (created on first use; CHROMA_RS_VENVS).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
OURS_BIN="${CHROMA_RS_BIN:-$TARGET/release/chroma-rs}"
OURS_BENCH="${CHROMA_RS_BENCH_BIN:-$TARGET/release/chroma-rs-bench}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }
usage() { awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; }

RUNS="" OURS=0 ROUNDS=1 BATCH=5000 QUERIES=1000 OUT="" SUMMARY=1 DATASET="" EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ours) OURS=1 ;;
    --runs) RUNS="$2"; shift ;;
    --rounds) ROUNDS="$2"; shift ;;
    --batch) BATCH="$2"; shift ;;
    --queries) QUERIES="$2"; shift ;;
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

if [ -d "$DATASET" ]; then DS_DIR="$(cd "$DATASET" && pwd)"; else DS_DIR="$ROOT/bench-data/$DATASET"; fi
[ -f "$DS_DIR/base.npy" ] || { echo "no dataset at $DS_DIR (make it: scripts/make-bench-data.sh $DATASET)" >&2; exit 1; }
DS="$(basename "$DS_DIR")"
OUT="${OUT:-$ROOT/bench/results/$(date +%F)-$DS.jsonl}"
mkdir -p "$(dirname "$OUT")"
OUT="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
RUNDIR="$ROOT/bench-run/$DS"

if [ -z "$RUNS" ]; then
  RUNS="c159-emb,c04-emb,c159-http"
  [ $OURS = 1 ] && RUNS="$RUNS,ours-emb,ours-http"
fi
IFS=, read -r -a RUNLIST <<<"$RUNS"

NEED=()
for r in "${RUNLIST[@]}"; do
  case "$r" in
    c159-*|ours-http) NEED+=(chroma-1.5.9) ;;
    c04-*) NEED+=(chroma-0.4.24) ;;
    ours-emb) ;;
    *) echo "unknown run '$r'" >&2; exit 2 ;;
  esac
done
if [ ${#NEED[@]} -gt 0 ]; then
  CHROMA_RS_VENVS="$VENVS" bash "$ROOT/scripts/setup-venvs.sh" $(printf '%s\n' "${NEED[@]}" | sort -u) || exit 1
fi

# run_one <run>: one measured run; returns its exit status (77 = skipped)
run_one() {
  local r="$1" venv="" label system args=() cmd
  local suffix=""
  [ "$BATCH" = 5000 ] || suffix=" b$BATCH"
  case "$r" in
    c159-emb)  venv=chroma-1.5.9;  system=chroma-1.5.9;  label="chroma-1.5.9 embedded" ;;
    c04-emb)   venv=chroma-0.4.24; system=chroma-0.4.24; label="chroma-0.4.24 embedded" ;;
    c04-ef100) venv=chroma-0.4.24; system="chroma-0.4.24 (search_ef 100)"; label="chroma-0.4.24 embedded search_ef=100"
               args=(--create-ef 100) ;;
    c159-http) venv=chroma-1.5.9;  system=chroma-1.5.9;  label="chroma-1.5.9 http"
               args=(--mode http --server-cmd "$VENVS/chroma-1.5.9/bin/chroma run --path {path} --host 127.0.0.1 --port {port}") ;;
    c04-http)  venv=chroma-0.4.24; system=chroma-0.4.24; label="chroma-0.4.24 http"
               args=(--mode http --server-cmd "$VENVS/chroma-0.4.24/bin/chroma run --path {path} --host 127.0.0.1 --port {port}") ;;
    ours-http) venv=chroma-1.5.9;  system=chroma-rs;     label="chroma-rs http"
               if [ ! -x "$OURS_BIN" ]; then
                 log "ours-http: SKIPPED, no binary at $OURS_BIN (cargo build --release -p chroma-rs, or set CHROMA_RS_BIN)"
                 return 77
               fi
               args=(--mode http --server-cmd "$OURS_BIN run --path {path} --host 127.0.0.1 --port {port}") ;;
    ours-emb)  system=chroma-rs; label="chroma-rs embedded"
               if [ ! -x "$OURS_BENCH" ]; then
                 log "ours-emb: SKIPPED, no binary at $OURS_BENCH (cargo build --release -p chroma-bench, or set CHROMA_RS_BENCH_BIN)"
                 return 77
               fi ;;
  esac
  label="$label$suffix"
  if [ "$r" = ours-emb ]; then
    cmd=("$OURS_BENCH" --dataset "$DS_DIR" --path "$RUNDIR/$r" --batch "$BATCH" --queries "$QUERIES"
         --label "$label" --out "$OUT")
  else
    cmd=("$VENVS/$venv/bin/python" "$ROOT/bench/chroma_bench.py" --dataset "$DS_DIR" --path "$RUNDIR/$r"
         --batch "$BATCH" --queries "$QUERIES" --label "$label" --system "$system" --out "$OUT"
         "${args[@]}" "${EXTRA[@]}")
  fi
  log "$r: $label on $DS (load average $(cut -d' ' -f1-3 /proc/loadavg))"
  local t0 rc
  t0=$(date +%s)
  ANONYMIZED_TELEMETRY=False "${cmd[@]}" >"$RUNDIR/$r.log" 2>&1
  rc=$?
  log "$r: exit $rc after $(( $(date +%s) - t0 )) s$( [ $rc = 0 ] || echo ", see $RUNDIR/$r.log")"
  [ $rc = 0 ] || tail -n 20 "$RUNDIR/$r.log" >&2
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
  python3 "$ROOT/bench/summarize.py" --dataset "$DS" "$OUT" | tee "${OUT%.jsonl}.md"
fi
if [ ${#FAILED[@]} -gt 0 ]; then
  log "FAILED: ${FAILED[*]} (logs in $RUNDIR/)"
  exit 1
fi
