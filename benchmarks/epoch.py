"""Where a training epoch's time goes: the model, or everything around it (data, batching, metrics).

    DEEPRNN_DATA=/work/shared/data .venv/bin/python benchmarks/epoch.py
    .venv/bin/python benchmarks/epoch.py --datasets jsb,ptb --models dts-rnn,dots-rnn --batches 20 --json

For each dataset and model this runs the trainer's own epoch loop (``deeprnn.training.trainer._train_epoch``,
the config in configs/<task>/<dataset>.toml with ``model.name`` overridden) for a fixed number of batches,
after a few warm-up batches, and splits its wall time three ways:

- model: ``training_step`` (forward, loss, backward, gradient clipping, optimiser step);
- data: producing the batches (``task.train_batches``: batching, padding, collation, device transfer);
- other: the rest of the loop (loss and gradient-norm bookkeeping, throughput, progress bar).

"outside" = data + other, as a share of the total; the target is < 5%. The epoch time is extrapolated as
(total / batches) x the number of batches in an epoch; batches are drawn in the epoch's shuffled order, so
the timed ones are a random sample of the epoch's (bucketed) lengths. Evaluation passes are not included.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from deeprnn.training import trainer
from deeprnn.training.checkpoint import model_from_config
from deeprnn.training.config import load_config
from deeprnn.training.tasks import build_task

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DATASETS = {  # dataset -> config file (its task is the directory)
    "jsb": "music/jsb.toml", "nottingham": "music/nottingham.toml", "musedata": "music/musedata.toml",
    "pianomidi": "music/pianomidi.toml", "ptb": "lm/ptb.toml", "ptb-char": "lm/ptb-char.toml",
    "brown": "tagging/brown.toml", "conll2000": "tagging/conll2000.toml",
}
MODELS = ("rnn", "srnn", "dt-rnn", "dts-rnn", "dot-rnn", "dots-rnn", "lstm", "gru")


def time_epoch(task, config, batches, warmup):
    """(seconds total, in training_step, in producing batches) over ``batches`` batches of the trainer's loop."""
    model = model_from_config(config, task.name, **task.model_kwargs())
    optimizer = trainer._make_optimizer(config, model)
    spent = {"model": 0.0, "data": 0.0}
    real_step, real_batches = trainer.training_step, task.train_batches

    def timed_step(*args, **kwargs):
        start = time.perf_counter()
        try:
            return real_step(*args, **kwargs)
        finally:
            spent["model"] += time.perf_counter() - start

    def timed_batches(epoch, seed):
        batches = real_batches(epoch, seed)
        while True:
            start = time.perf_counter()
            try:
                batch = next(batches)
            except StopIteration:
                return
            finally:
                spent["data"] += time.perf_counter() - start
            yield batch

    state = {"step": 0, "skipped_steps": 0}
    config.train.max_batches_per_epoch = warmup
    trainer._train_epoch(model, task, optimizer, config, 0, state, progress=False)
    trainer.training_step, task.train_batches = timed_step, timed_batches
    try:
        config.train.max_batches_per_epoch = batches
        start = time.perf_counter()
        trainer._train_epoch(model, task, optimizer, config, 1, state, progress=False)
        total = time.perf_counter() - start
    finally:
        trainer.training_step, task.train_batches = real_step, real_batches
    return total, spent["model"], spent["data"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"default: {','.join(DATASETS)}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"default: {','.join(MODELS)}")
    parser.add_argument("--batches", type=int, default=10, help="timed batches per dataset and model (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not os.environ.get("DEEPRNN_DATA"):
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"
        if shared.is_dir():
            os.environ["DEEPRNN_DATA"] = str(shared)

    rows, started, load_before = [], time.time(), os.getloadavg()
    if not args.json:
        print(f"{'dataset':<11}{'model':<10}{'ms/batch':>9}{'data %':>8}{'other %':>8}{'outside %':>10}"
              f"{'batches':>9}{'epoch (s)':>11}")
    for dataset in args.datasets.split(","):
        config = load_config(CONFIGS / DATASETS[dataset], [f"train.threads={args.threads}", "train.device=cpu"])
        load_start = time.perf_counter()
        task = build_task(config, torch.device("cpu"))
        load_seconds = time.perf_counter() - load_start
        for name in args.models.split(","):
            config = load_config(CONFIGS / DATASETS[dataset], [f"model.name={name}", f"train.threads={args.threads}",
                                                               "train.device=cpu"])
            torch.manual_seed(config.train.seed)
            total, model_s, data_s = time_epoch(task, config, args.batches, args.warmup)
            other_s = total - model_s - data_s
            per_epoch = task.num_train_batches()
            row = dict(dataset=dataset, task=task.name, model=name, batches=args.batches,
                       ms_per_batch=1e3 * total / args.batches, model_s=model_s, data_s=data_s, other_s=other_s,
                       data_pct=100 * data_s / total, other_pct=100 * other_s / total,
                       outside_pct=100 * (data_s + other_s) / total, batches_per_epoch=per_epoch,
                       epoch_s=total / args.batches * per_epoch, dataset_load_s=load_seconds,
                       batch_size=config.data.batch_size)
            rows.append(row)
            if not args.json:
                print(f"{dataset:<11}{name:<10}{row['ms_per_batch']:>9.1f}{row['data_pct']:>8.2f}"
                      f"{row['other_pct']:>8.2f}{row['outside_pct']:>10.2f}{per_epoch:>9}{row['epoch_s']:>11.0f}",
                      flush=True)
    info = dict(threads=args.threads, torch=torch.__version__, cpus=os.cpu_count(), load_before=load_before,
                load_after=os.getloadavg(), seconds=time.time() - started)
    if args.json:
        print(json.dumps(dict(info, results=rows), indent=1))
    else:
        worst = max(rows, key=lambda r: r["outside_pct"])
        print(f"\nlargest share outside the model: {worst['outside_pct']:.2f}% ({worst['dataset']}, {worst['model']})")
        print(f"threads {args.threads}; load average before {load_before}, after {info['load_after']}; "
              f"{info['seconds']:.0f} s")


if __name__ == "__main__":
    main()
