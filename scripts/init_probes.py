"""Initialisation probes: ``deeprnn diagnose`` on each recipe under each initialisation.

Each probe trains a recipe's first N batches through the trainer's own code (``deeprnn.experiments.diagnose``),
seed 0, one thread, then scores the full validation split. One JSON per probe goes to --out (a probe already
there is not rerun, so an interrupted queue resumes); --table prints the Markdown table of docs/models.md.

    DEEPRNN_DATA=../shared/data python scripts/init_probes.py --out /work/runs/probes --jobs 2
    python scripts/init_probes.py --out /work/runs/probes --table
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# (benchmark, recipe file, batches); the DOT(S) recipes' deep output reads h_t only, as in the paper.
BENCHMARKS = {
    "ptb-word": ("configs/recipes/ptb-word", 200),
    "ptb-char": ("configs/recipes/ptb-char", 100),  # 64 x 100 characters a batch
    "jsb": ("configs/recipes/jsb", 200),
}
MODELS = {"rnn": "rnn.toml", "dts-rnn": "dots-rnn.toml", "dots-rnn": "dots-rnn.toml",
          "dots-rnn-star": "dots-rnn-star.toml"}
# model-specific overrides on top of the recipe: DT(S) is the DOT(S) recipe without its deep output
MODEL_SETS = {"dts-rnn": ["model.name=dts-rnn", "model.output_depth=0"]}
INITS = {
    "old default": ["model.transition_gain=none"],
    "gain 1.0": ["model.transition_gain=1.0"],
    "gain 1.5": ["model.transition_gain=1.5"],
    "gain 0.8": ["model.transition_gain=0.8"],
    "gain 0.6": ["model.transition_gain=0.6"],
    "gain 0.4": ["model.transition_gain=0.4"],
    "gain 0.2": ["model.transition_gain=0.2"],
    "groundhog gain 0.8": ["model.init=groundhog", "model.sparse_nonzeros=20", "model.transition_gain=0.8"],
    "groundhog gain 0.6": ["model.init=groundhog", "model.sparse_nonzeros=20", "model.transition_gain=0.6"],
    "groundhog gain 1.0": ["model.init=groundhog", "model.sparse_nonzeros=20", "model.transition_gain=1.0"],
    "groundhog": ["model.init=groundhog", "model.sparse_nonzeros=20", "model.transition_gain=none"],
}


def probes(benchmarks, models, inits, batches=None):
    for benchmark in benchmarks:
        folder, default_batches = BENCHMARKS[benchmark]
        for model in models:
            for init in (["—"] if model == "rnn" else inits):
                overrides = [*MODEL_SETS.get(model, []), "model.output_from_input=false", "train.threads=1",
                             *([] if model == "rnn" else INITS[init])]
                if model == "rnn":
                    overrides.remove("model.output_from_input=false")
                name = f"{benchmark}_{model}_{init.replace(' ', '-')}"
                if batches and batches != default_batches:
                    name += f"_{batches}"
                yield name, REPO / folder / MODELS[model], batches or default_batches, overrides


def run_one(out: Path, name, recipe, batches, overrides) -> str:
    target = out / f"{name}.json"
    if target.is_file():
        return f"{name}: done earlier"
    command = [sys.executable, "-m", "deeprnn.cli.main", "diagnose", str(recipe), "--batches", str(batches),
               "--json", "--no-progress", *[f"--set={item}" for item in overrides]]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return f"{name}: FAILED {done.stderr.strip().splitlines()[-1:]}"
    result = json.loads(done.stdout)
    result["overrides"] = overrides
    target.write_text(json.dumps(result) + "\n")
    return f"{name}: valid {result['metric']} {result['valid'][result['metric']]:.4f}"


def table(out: Path) -> str:
    lines = ["| benchmark | model | init | gain at init | valid | saturated at batch 1 → last | grad norm, last |",
             "|---|---|---|---|---|---|---|"]
    def order(path):
        benchmark, model, init = path.stem.split("_")[:3]
        inits = [name.replace(" ", "-") for name in INITS]
        return (list(BENCHMARKS).index(benchmark), path.stem.count("_"), list(MODELS).index(model),
                inits.index(init) if init in inits else -1)

    for path in sorted(out.glob("*.json"), key=order):
        benchmark, model, init = path.stem.split("_")[:3]
        result = json.loads(path.read_text())
        metric = {"lm": "ppl" if benchmark == "ptb-word" else "bpc", "music": "nll"}[result["task"]]
        first, last = result["records"][0], result["records"][-1]
        saturation = ("n/a" if first["saturated"] is None
                      else f"{100 * first['saturated']:.0f}% → {100 * last['saturated']:.0f}%")
        gain = "n/a" if result["gain"] is None else f"{result['gain']:.2f}"
        lines.append(f"| {benchmark} ({len(result['records'])} batches) | {model} | {init.replace('-', ' ')} | "
                     f"{gain} | {metric} {result['valid'][metric]:.4g} | {saturation} | "
                     f"{last['grad_norm_before_clip']:.3g} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder of probe results (outside the repository)")
    parser.add_argument("--benchmarks", default=",".join(BENCHMARKS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--inits", default=",".join(INITS))
    parser.add_argument("--jobs", type=int, default=1, help="probes at a time (one thread each)")
    parser.add_argument("--batches", type=int, help="training batches per probe (default: per benchmark, above)")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of what is in --out")
    args = parser.parse_args()
    out = Path(args.out)
    if args.table:
        print(table(out))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    queue = list(probes(args.benchmarks.split(","), args.models.split(","), args.inits.split(","), args.batches))
    with ThreadPoolExecutor(args.jobs) as pool:
        for line in pool.map(lambda probe: run_one(out, *probe), queue):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
