#!/usr/bin/env bash
# One call on a GPU machine: the CUDA tests, the GPU benchmark against torch CUDA, and a short PTB LM run.
#
#   bash bench/gpu_run.sh [RESULTS_DIR]      (default: runs/gpu/<date>-<host>)
#
# Everything goes under RESULTS_DIR: env.txt (nvidia-smi, versions), tests.log + junit.xml,
# kernel_compile.log, bench.json + bench.log, ptb/ (metrics.json, loss.png, checkpoint) + ptb.log.
# The PTB files must already be in the repository at $PTB_DIR (default runs/data/ptb, git-ignored:
# `mkdir -p runs/data/ptb && cp ../shared/data/ptb/ptb.*.txt runs/data/ptb/` before the machine is
# started, and carry that folder along: ../shared does not travel). Without them the LM step is skipped.
# Each step runs even when an earlier one fails; the exit code is the number of failed steps.
# Set GPU_RUN_PIP=1 to `pip install -e '.[test,cuda12,gpu-check]'` first (needs the package index).
set -u
cd "$(dirname "$0")/.."
OUT="${1:-runs/gpu/$(date -u +%Y%m%d-%H%M%S)-$(hostname -s 2>/dev/null || echo host)}"
PTB_DIR="${PTB_DIR:-runs/data/ptb}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
fails=0
step() {  # step NAME LOG CMD...: run, tee the log, count failures
    local name="$1" log="$2"
    shift 2
    echo "== $name: $*" | tee -a "$OUT/summary.txt"
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    echo "   rc=$rc, $((SECONDS - t0)) s, log: $log" | tee -a "$OUT/summary.txt"
    [ "$rc" -eq 0 ] || fails=$((fails + 1))
}

if [ "${GPU_RUN_PIP:-0}" = 1 ]; then
    step "install" "$OUT/pip.log" "$PY" -m pip install -e '.[test,cuda12,gpu-check]'
fi
{
    date -u
    nvidia-smi || true
    "$PY" -c "import sys, numpy; print(sys.version); print('numpy', numpy.__version__)"
    "$PY" -c "import cupy; print('cupy', cupy.__version__); cupy.show_config()" || true
    "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" || true
    "$PY" -c "import backprop as bp; print('bp.cuda', bp.cuda.is_available(), bp.cuda.unavailable_reason())"
} >"$OUT/env.txt" 2>&1

# 1. the CUDA tests: real-GPU rows of the op table and tests/test_cuda.py (plus the host-side checks)
step "cuda tests" "$OUT/tests.log" "$PY" -m pytest -q -p no:cacheprovider -rs --junitxml="$OUT/junit.xml" \
    tests/test_cuda.py tests/test_ops_gradcheck.py -k "cuda or test_cuda" tests/test_cuda_standin.py
step "kernel compile (NVRTC)" "$OUT/kernel_compile.log" "$PY" -m pytest -q -p no:cacheprovider -rs \
    tests/test_kernel_compile.py

# 2. the benchmark on the GPU, against torch CUDA when torch is installed
step "bench (cuda)" "$OUT/bench.log" "$PY" -m bench --device cuda --out "$OUT/bench.json"

# 3. a short PTB LM run on the GPU
if [ -f "$PTB_DIR/ptb.train.txt" ]; then
    step "ptb lm (cuda)" "$OUT/ptb.log" "$PY" -m backprop train-lm \
        --train "$PTB_DIR/ptb.train.txt" --valid "$PTB_DIR/ptb.valid.txt" --test "$PTB_DIR/ptb.test.txt" \
        --context 4 --embed-dim 128 --hidden-dim 256 --dropout 0.25 --batch-size 512 --lr 2e-3 \
        --epochs 1 --max-steps 2000 --device cuda --no-progress --no-ngram --out "$OUT/ptb"
else
    echo "== ptb lm: skipped, no $PTB_DIR/ptb.train.txt (see the header of this script)" | tee -a "$OUT/summary.txt"
fi
echo "results in $OUT ($fails failed step(s))" | tee -a "$OUT/summary.txt"
exit "$fails"
