#!/usr/bin/env bash
# The checks that need a GPU, as one script for a lent machine (docs/performance.md, "On a GPU"):
#   1. the CUDA-only tests (fast path on CUDA against the CPU reference; train.cuda_graph's recorded step
#      against the eager one; a CUDA run evaluated and resumed on CPU);
#   2. train.cuda_graph: benchmarks/epoch.py on the lm datasets with and without --cuda-graph;
#   3. train.prefetch: benchmarks/epoch.py with and without --prefetch;
#   4. the PyTorch toolchain on CUDA (docs/pytorch.md): compile, export and autocast of the fused path.
# Every step has its own time limit and the script goes on after a failure, so one broken step still leaves
# the others' numbers; each step's output is kept in OUT_DIR/<step>.log. The limits add up to 550 s, inside
# the device tool's 10 minutes a call. Not run on a GPU yet.
#
#   bash benchmarks/gpu_checks.sh OUT_DIR DATA_DIR [WHEEL_DIR]
#
# DATA_DIR holds ptb/, brown/, jsb/ and nottingham/ as in ../shared/data (only those four are read).
# WHEEL_DIR: wheels of what the machine's Python lacks, installed with --no-deps into /tmp/site (on the lent
# H200 image, as listed on 2026-11-17: mido, optuna and optuna's alembic, colorlog, mako, sqlalchemy, greenlet).
# The machine's own CUDA build of torch is used, never the CPU pin. On the device tool: copy the data and the
# wheels into ignored folders of the checkout, carry them, and pass $OUT as OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:?usage: gpu_checks.sh OUT_DIR DATA_DIR}
export DEEPRNN_DATA=${2:?usage: gpu_checks.sh OUT_DIR DATA_DIR}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR"

step() {  # step NAME SECONDS COMMAND...: run with a limit, keep its log, report its exit status
    local name=$1 limit=$2; shift 2
    echo "== $name: $*"
    local start=$SECONDS
    timeout "$limit" "$@" > "$OUT_DIR/$name.log" 2>&1
    local rc=$?
    echo "   rc=$rc in $((SECONDS - start)) s; last lines:"
    tail -n 25 "$OUT_DIR/$name.log" | sed 's/^/   /'
}

if [ -n "${3:-}" ]; then
    python -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$3"/*.whl \
        > "$OUT_DIR/install.log" 2>&1 || echo "wheel install failed: $OUT_DIR/install.log"
fi
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$OUT_DIR/machine.log" 2>&1
python -c "import torch, sys; print(torch.__version__, torch.version.cuda, sys.version.split()[0])" >> "$OUT_DIR/machine.log" 2>&1
cat "$OUT_DIR/machine.log"

step tests_cuda 180 python -m pytest -q -x -p no:cacheprovider tests/test_graphed.py tests/test_fast_cores.py \
    tests/test_models_sequences.py tests/test_training.py -k "cuda or graph"
lm=(--datasets ptb,brown --models rnn,dts-rnn,dots-rnn,srnn,lstm,gru --batches 10)
step epoch_eager 110 python benchmarks/epoch.py --device cuda "${lm[@]}"
step epoch_cuda_graph 110 python benchmarks/epoch.py --device cuda --cuda-graph "${lm[@]}"
music=(--datasets jsb,nottingham,brown --models rnn,lstm --batches 10)
step epoch_no_prefetch 45 python benchmarks/epoch.py --device cuda "${music[@]}"
step epoch_prefetch 45 python benchmarks/epoch.py --device cuda --prefetch "${music[@]}"
step toolchain_cuda 60 python -m pytest -q -p no:cacheprovider tests/test_pytorch_toolchain.py -k cuda
