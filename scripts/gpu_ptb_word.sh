#!/usr/bin/env bash
# The next Penn Treebank word-level run on a lent GPU, in one call of the device tool: the RNN at its new recipe
# (spectral radius 0.9; the sRNN and the RNN with DOT(S)-RNN's parameter count ran on the CPU), a plain
# `deeprnn reproduce ptb-word --only RECIPE` on CUDA with train.cuda_graph (an execution setting: the runs keep
# their recipes' identity and join the CPU table, marked "(GPU)"). A checkpoint (about 100 MB) does not fit the
# device tool's 64 MiB of carried files, so a run that does not finish within the call is lost; each step's log
# says how far it got and its epoch time, for planning the next call. The small files of finished runs come back
# under OUT_DIR/runs; adopt them with `deeprnn reproduce ptb-word --set train.threads=1 --reuse DIR --no-train`.
#
#   bash scripts/gpu_ptb_word.sh OUT_DIR DATA_DIR [WHEEL_DIR] [SECONDS]
#
# DATA_DIR holds ptb/ as in ../shared/data; WHEEL_DIR as for benchmarks/gpu_checks.sh (what the machine's Python
# lacks: mido, optuna and its dependencies); SECONDS, the time for all runs (default 520, inside the tool's
# 10 minutes a call). On the device tool: copy ../shared/data/ptb and the wheels into ignored folders of the
# checkout (e.g. .gl/data/ptb, .gl/wheels), carry them, and pass $OUT as OUT_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT_DIR=${1:?usage: gpu_ptb_word.sh OUT_DIR DATA_DIR [WHEEL_DIR] [SECONDS]}
export DEEPRNN_DATA=${2:?usage: gpu_ptb_word.sh OUT_DIR DATA_DIR [WHEEL_DIR] [SECONDS]}
BUDGET=${4:-520}
export PYTHONUNBUFFERED=1
mkdir -p "$OUT_DIR/runs"
if [ -n "${3:-}" ]; then
    python -m pip install -q --no-index --no-deps --no-compile --target /tmp/site "$3"/*.whl \
        > "$OUT_DIR/install.log" 2>&1 || echo "wheel install failed: $OUT_DIR/install.log"
fi
export PYTHONPATH="$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total --format=csv > "$OUT_DIR/machine.log" 2>&1
deadline=$((SECONDS + BUDGET))
for recipe in rnn; do
    left=$((deadline - SECONDS))
    [ "$left" -lt 60 ] && { echo "== $recipe: no time left"; break; }
    echo "== $recipe ($left s left)"
    timeout "$left" python -m deeprnn.cli.main reproduce ptb-word --only "$recipe" --set train.device=cuda \
        --set train.cuda_graph=true --out /tmp/gpu-runs --results "$OUT_DIR/results" --results-md "$OUT_DIR/RESULTS.md" \
        > "$OUT_DIR/$recipe.log" 2>&1
    echo "   rc=$?; last epochs:"; grep -E "epoch [0-9]+/" "$OUT_DIR/$recipe.log" | tail -n 3 | sed 's/^/   /'
done
# the small files of every run, finished or not (no checkpoints)
(cd /tmp/gpu-runs 2>/dev/null && find . \( -name '*.json' -o -name 'metrics.jsonl' \) -exec cp --parents {} "$OUT_DIR/runs" \;)
