#!/usr/bin/env bash
# Make the benchmark datasets under bench-data/ with bench/make_dataset.py (seeded, exact ground truth).
#
# usage: scripts/make-bench-data.sh [--force] [--queries Q] [name...]
#        default names: clustered-100k-384 minilm-20k
#   names: clustered-<N>-<D>[-s<spread>], random-<N>-<D>, minilm-<N>   (bench/make_dataset.py --help)
#          legacy-03-<N>   a Chroma 0.3.x duckdb+parquet folder of N x 384 records, written by the real
#                          chromadb 0.3.29 (crates/migrate/examples/make_legacy03_bench.py), for migrate_bench
#          N takes k/m suffixes: the size is in the name, e.g. clustered-5k-384 or minilm-2k for a quick check.
#   --queries Q    query vectors per dataset (default 1000)
#   --force        rebuild even when the dataset exists and matches its meta.json
#   env: BENCH_DATA       output folder (default <repo>/bench-data, gitignored)
#        BENCH_DATA_FROM  optional folder of prebuilt datasets (default: ../shared/bench-data beside the
#                         repo when it exists): a dataset found there with a meta.json is copied and
#                         checked instead of generated. Nothing else is read from outside the repo.
#        NICE             niceness of the generator (default 10)
#        CHROMA_RS_VENVS  see scripts/setup-venvs.sh (the `bench` venv has numpy, tokenizers and the
#                         MiniLM weights; legacy-* uses the fixture-0.3.29 venv of scripts/fixtures/make-venvs.sh)
#
# A dataset whose files match the sha256 list of its meta.json is skipped. minilm-* needs the Debian
# package wordnet-base, installed with apt-get when missing. Times on 2 cores: clustered-100k-384 about
# 1 min, minilm-20k a few minutes (the numpy encoder), clustered-5k-384 a few seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${BENCH_DATA:-$ROOT/bench-data}"
FROM="${BENCH_DATA_FROM:-$ROOT/../shared/bench-data}"
NICE="${NICE:-10}"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

FORCE=0
QUERIES=1000
NAMES=()
while [ $# -gt 0 ]; do
  case "$1" in
    --force) FORCE=1 ;;
    --queries) QUERIES="$2"; shift ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) NAMES+=("$1") ;;
  esac
  shift
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=(clustered-100k-384 minilm-20k)

# verify <dir>: the files match the sha256 list in <dir>/meta.json
verify() {
  [ -f "$1/meta.json" ] || return 1
  "$PY" - "$1" <<'EOF'
import hashlib, json, os, sys
folder = sys.argv[1]
with open(os.path.join(folder, "meta.json")) as f:
    wanted = json.load(f)["sha256"]
for name, digest in wanted.items():
    h = hashlib.sha256()
    with open(os.path.join(folder, name), "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != digest:
        sys.exit(f"{name}: sha256 differs from meta.json")
EOF
}

NEED_BENCH=0
for n in "${NAMES[@]}"; do
  case "$n" in
    legacy-03-*) ;;
    minilm-*)
      NEED_BENCH=1
      if [ ! -f /usr/share/wordnet/data.noun ]; then
        SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
        log "apt-get install wordnet-base (the sentences of minilm-*)"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wordnet-base >/dev/null
      fi ;;
    *) NEED_BENCH=1 ;;
  esac
done
PY=python3
if [ $NEED_BENCH = 1 ]; then
  CHROMA_RS_VENVS="$VENVS" bash "$ROOT/scripts/setup-venvs.sh" bench
  PY="$VENVS/bench/bin/python"
fi

mkdir -p "$OUT"
for n in "${NAMES[@]}"; do
  dir="$OUT/$n"
  t0=$(date +%s)
  case "$n" in
    legacy-03-*)
      if [ $FORCE = 0 ] && [ -f "$dir/chroma-embeddings.parquet" ]; then
        log "$n: exists ($dir), skipped"
        continue
      fi
      count="${n#legacy-03-}"
      count="${count/k/000}"; count="${count/m/000000}"
      CHROMA_RS_VENVS="$VENVS" bash "$ROOT/scripts/fixtures/make-venvs.sh" 0.3.29
      log "$n: writing $count x 384 records with the real chromadb 0.3.29 into $dir"
      nice -n "$NICE" "$VENVS/fixture-0.3.29/bin/python" "$ROOT/crates/migrate/examples/make_legacy03_bench.py" \
        "$dir" "$count" 384
      ;;
    *)
      if [ $FORCE = 0 ] && [ -f "$dir/meta.json" ]; then
        if verify "$dir"; then
          log "$n: exists and matches its meta.json ($dir), skipped"
          continue
        fi
        log "$n: exists but differs from its meta.json, rebuilding"
      fi
      if [ -f "$FROM/$n/meta.json" ]; then
        log "$n: copying the prebuilt dataset from $FROM/$n"
        rm -rf "$dir"
        cp -r "$FROM/$n" "$dir"
        verify "$dir" || { echo "$n: the copy from $FROM does not match its meta.json" >&2; exit 1; }
      else
        log "$n: generating into $dir (nice -n $NICE)"
        nice -n "$NICE" "$PY" "$ROOT/bench/make_dataset.py" "$n" --out "$OUT" --queries "$QUERIES"
      fi
      ;;
  esac
  log "$n: done in $(( $(date +%s) - t0 )) s, $(du -sh "$dir" | cut -f1)"
done
