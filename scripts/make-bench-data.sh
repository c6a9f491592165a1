#!/usr/bin/env bash
# Build the benchmark datasets with ../shared/bench/make_dataset.py (deterministic, exact ground truth).
#
# usage: scripts/make-bench-data.sh [--force] [name...]
#        default names: clustered-100k-384 minilm-20k
#        (any make_dataset.py name works: clustered-<N>-<D>[-s<spread>], random-<N>-<D>, minilm-<N>, fashion-mnist)
#   env: BENCH_DATA   output folder (default <repo>/bench-data, gitignored)
#        NICE         niceness for the generator (default 10; the machine is shared)
#        CHROMA_RS_VENVS  see setup-venvs.sh (the `bench` venv provides numpy, tokenizers and the MiniLM weights)
#
# A dataset whose files match the sha256 in its meta.json is skipped (--force rebuilds it). minilm-* needs Debian `wordnet-base`
# and fashion-mnist needs `dataset-fashion-mnist`; they are apt-get installed when missing.
set -euo pipefail

ROOT="$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)"
SHARED="$ROOT/../shared"
MAKE="$SHARED/bench/make_dataset.py"
OUT="${BENCH_DATA:-$ROOT/bench-data}"
NICE="${NICE:-10}"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

FORCE=0
NAMES=()
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) NAMES+=("$a") ;;
  esac
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=(clustered-100k-384 minilm-20k)
[ -f "$MAKE" ] || { echo "missing $MAKE (shared/ must be a sibling of the repo)" >&2; exit 1; }

APT_UPDATED=0
apt_install() {  # apt_install <package>: install a Debian package, running apt-get update once first
  local SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  if [ $APT_UPDATED = 0 ]; then
    log "apt-get update"
    $SUDO apt-get update -qq
    APT_UPDATED=1
  fi
  log "apt-get install $1"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$1" >/dev/null
}

for n in "${NAMES[@]}"; do
  case "$n" in
    minilm-*) [ -f /usr/share/wordnet/data.noun ] || apt_install wordnet-base ;;
    fashion-mnist) [ -d /usr/share/datasets/fashion-mnist ] || apt_install dataset-fashion-mnist ;;
  esac
done

"$ROOT/scripts/setup-venvs.sh" bench
PY="$VENVS/bench/bin/python"

mkdir -p "$OUT"
for n in "${NAMES[@]}"; do
  if [ $FORCE = 0 ] && [ -f "$OUT/$n/meta.json" ]; then
    if "$PY" - "$OUT/$n" <<'PYEOF'
import hashlib, json, os, sys
d = sys.argv[1]
for fn, want in json.load(open(os.path.join(d, "meta.json")))["sha256"].items():
    h = hashlib.sha256()
    with open(os.path.join(d, fn), "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    if h.hexdigest() != want:
        sys.exit(f"{fn}: sha256 mismatch")
PYEOF
    then
      log "$n: exists, sha256 verified ($OUT/$n), skipped"
      continue
    fi
    log "$n: exists but does not match its meta.json, rebuilding"
  fi
  log "$n: generating into $OUT/$n (nice -n $NICE)"
  t0=$(date +%s)
  nice -n "$NICE" "$PY" "$MAKE" "$n" --out "$OUT"
  log "$n: done in $(( $(date +%s) - t0 ))s, $(du -sh "$OUT/$n" | cut -f1)"
done
