"""Where a training epoch's time goes: the model, or everything around it (data, batching, metrics).

    DEEPRNN_DATA=/work/shared/data .venv/bin/python benchmarks/epoch.py
    .venv/bin/python benchmarks/epoch.py --datasets jsb,ptb --models dts-rnn,dots-rnn --batches 20 --json
    python benchmarks/epoch.py --device cuda    # on a GPU: the same split, each step synchronised
    python benchmarks/epoch.py --device cuda --prefetch    # batches made ahead in a thread (train.prefetch)
    python benchmarks/epoch.py --device cuda --cuda-graph --datasets ptb,brown   # lm steps replayed as a CUDA graph

For each dataset and model this runs the trainer's own epoch loop (``deeprnn.training.trainer._train_epoch``,
the config in configs/<task>/<dataset>.toml with ``model.name`` overridden) for a fixed number of batches,
after a few warm-up batches, and splits its wall time three ways:

- model: ``training_step`` (forward, loss, backward, gradient clipping, optimiser step); with ``--cuda-graph``
  (``train.cuda_graph``, lm datasets only) the recorded step where it applies, recorded in the warm-up;
- data: producing the batches (``task.train_batches``: batching, padding, collation, device transfer); with
  ``--prefetch`` (``train.prefetch``) they are made in a thread, and this is the loop's wait for each one;
- other: the rest of the loop (loss and gradient-norm bookkeeping, throughput, progress bar).

Some work is done once per epoch, not per batch: the loop's set-up before its first batch (the tagging and
music tasks count their batches by building the epoch's batch plan, ~20 ms for Brown's 57k sentences) and
the first batch's excess data time over a typical batch (building the shuffled, bucketed plan again). It
is counted once per epoch:

    epoch time = fixed + (total - fixed) / batches x batches per epoch,   outside % of that epoch likewise.

Batches are drawn in the epoch's shuffled order, so the timed ones are a random sample of the epoch's
(bucketed) lengths. Evaluation passes are not included. The target is outside < 5% of the epoch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from deeprnn.training import trainer
from deeprnn.training.checkpoint import model_from_config
from deeprnn.training.config import load_config
from deeprnn.training.state import TrainingState
from deeprnn.training.tasks import build_task, resolve_task

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DATASETS = {  # dataset -> config file (its task is the directory)
    "jsb": "music/jsb.toml", "nottingham": "music/nottingham.toml", "musedata": "music/musedata.toml",
    "pianomidi": "music/pianomidi.toml", "ptb": "lm/ptb.toml", "ptb-char": "lm/ptb-char.toml",
    "brown": "tagging/brown.toml", "conll2000": "tagging/conll2000.toml",
}
MODELS = ("rnn", "srnn", "dt-rnn", "dts-rnn", "dot-rnn", "dots-rnn", "lstm", "gru")


def time_epoch(task, config, batches, warmup, device=None):
    """Seconds (total, in training_step, in producing batches, once-per-epoch part of the latter, loop set-up
    before the first batch) over ``batches`` batches of the trainer's loop. On CUDA each training step is
    synchronised before its clock stops, so its kernels count as model time."""
    device = device or torch.device("cpu")
    model = model_from_config(config, task.name, **task.model_kwargs()).to(device)
    optimizer = trainer._make_optimizer(config, model)
    graphed = trainer.graphed_step(config, task, model, device)  # None unless --cuda-graph
    spent = {"model": 0.0, "data": []}
    real_step, real_batches, real_prefetch = trainer.training_step, task.train_batches, trainer.prefetch
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def timing(step):
        def timed_step(*args, **kwargs):
            start = time.perf_counter()
            try:
                return step(*args, **kwargs)
            finally:
                sync()
                spent["model"] += time.perf_counter() - start

        return timed_step

    def timed(batches):
        try:
            while True:
                start = time.perf_counter()
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                finally:
                    spent["data"].append(time.perf_counter() - start)
                yield batch
        finally:
            getattr(batches, "close", lambda: None)()  # a prefetch thread stops

    def timed_batches(epoch, seed):
        spent["first_request"] = time.perf_counter()  # a generator's body starts at the first next()
        yield from timed(real_batches(epoch, seed))

    def timed_prefetch(batches, **kwargs):
        # With train.prefetch the batches are made in a thread; what the loop loses is its wait for each one.
        spent["first_request"] = time.perf_counter()
        return timed(real_prefetch(batches, **kwargs))

    state = TrainingState()
    config.train.max_batches_per_epoch = warmup
    trainer._train_epoch(model, task, optimizer, config, 0, state, progress=False, graphed=graphed)
    trainer.training_step = timing(real_step)
    if graphed is not None:
        graphed.step = timing(graphed.step)
    if config.train.prefetch:
        trainer.prefetch = timed_prefetch
    else:
        task.train_batches = timed_batches
    try:
        config.train.max_batches_per_epoch = batches
        start = time.perf_counter()
        trainer._train_epoch(model, task, optimizer, config, 1, state, progress=False, graphed=graphed)
        total = time.perf_counter() - start
    finally:
        trainer.training_step, task.train_batches, trainer.prefetch = real_step, real_batches, real_prefetch
    data = spent["data"][:batches]  # the loop stops after asking for one batch more than it uses, or not
    fixed = max(0.0, data[0] - statistics.median(data[1:])) if len(data) > 1 else 0.0
    return total, spent["model"], sum(spent["data"]), fixed, spent["first_request"] - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"default: {','.join(DATASETS)}")
    parser.add_argument("--models", default=",".join(MODELS), help=f"default: {','.join(MODELS)}")
    parser.add_argument("--batches", type=int, default=10, help="timed batches per dataset and model (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed batches first (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    parser.add_argument("--prefetch", action="store_true",
                        help="train.prefetch: make the batches ahead in a thread (off by default, as in the "
                             "trainer); the data time is then the loop's wait for each batch")
    parser.add_argument("--cuda-graph", action="store_true",
                        help="train.cuda_graph: replay the lm training step as a recorded CUDA graph (CUDA and lm "
                             "datasets only; the others are skipped)")
    args = parser.parse_args(argv)
    if args.cuda_graph and args.device != "cuda":
        parser.error("--cuda-graph needs --device cuda")
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    torch.set_num_threads(args.threads)
    if not os.environ.get("DEEPRNN_DATA"):
        shared = Path(__file__).resolve().parents[2] / "shared" / "data"
        if shared.is_dir():
            os.environ["DEEPRNN_DATA"] = str(shared)

    rows, started, load_before = [], time.time(), os.getloadavg()
    print(f"{'dataset':<11}{'model':<10}{'ms/batch':>9}{'data %':>8}{'other %':>8}{'outside %':>10}"
          f"{'batches':>9}{'epoch (s)':>11}", file=sys.stderr if args.json else sys.stdout)
    for dataset in args.datasets.split(","):
        common = [f"train.threads={args.threads}", f"train.device={args.device}",
                  f"train.prefetch={str(args.prefetch).lower()}", f"train.cuda_graph={str(args.cuda_graph).lower()}"]
        config = load_config(CONFIGS / DATASETS[dataset], common)
        if args.cuda_graph and resolve_task(config) != "lm":
            print(f"{dataset}: skipped (--cuda-graph applies to lm datasets only)", file=sys.stderr)
            continue
        load_start = time.perf_counter()
        task = build_task(config, device)
        load_seconds = time.perf_counter() - load_start
        for name in args.models.split(","):
            config = load_config(CONFIGS / DATASETS[dataset], [f"model.name={name}", *common])
            torch.manual_seed(config.train.seed)
            total, model_s, data_s, fixed_data, setup = time_epoch(task, config, args.batches, args.warmup, device)
            other_s = total - model_s - data_s
            per_epoch = task.num_train_batches()
            scale = per_epoch / args.batches  # per-batch parts scale with the epoch, the fixed parts do not
            epoch_s = fixed_data + setup + (total - fixed_data - setup) * scale
            row = dict(dataset=dataset, task=task.name, model=name, batches=args.batches,
                       ms_per_batch=1e3 * (total - fixed_data - setup) / args.batches, model_s=model_s,
                       data_s=data_s, other_s=other_s, fixed_data_s=fixed_data, setup_s=setup,
                       batches_per_epoch=per_epoch, epoch_s=epoch_s,
                       data_pct=100 * (fixed_data + (data_s - fixed_data) * scale) / epoch_s,
                       other_pct=100 * (setup + (other_s - setup) * scale) / epoch_s,
                       dataset_load_s=load_seconds, batch_size=config.data.batch_size)
            row["outside_pct"] = row["data_pct"] + row["other_pct"]
            rows.append(row)
            print(f"{dataset:<11}{name:<10}{row['ms_per_batch']:>9.1f}{row['data_pct']:>8.2f}"
                  f"{row['other_pct']:>8.2f}{row['outside_pct']:>10.2f}{per_epoch:>9}{row['epoch_s']:>11.0f}",
                  flush=True, file=sys.stderr if args.json else sys.stdout)  # progress, also with --json
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    info = dict(threads=args.threads, device=args.device, prefetch=args.prefetch, cuda_graph=args.cuda_graph,
                gpu=gpu, torch=torch.__version__, cpus=os.cpu_count(),
                load_before=load_before,
                load_after=os.getloadavg(), seconds=time.time() - started)
    if args.json:
        print(json.dumps(dict(info, results=rows), indent=1))
    else:
        worst = max(rows, key=lambda r: r["outside_pct"])
        print(f"\nlargest share outside the model: {worst['outside_pct']:.2f}% ({worst['dataset']}, {worst['model']})")
        print(f"device {args.device}{f' ({gpu})' if gpu else ''}; threads {args.threads}; "
              f"prefetch {'on' if args.prefetch else 'off'}; cuda graph {'on' if args.cuda_graph else 'off'}; "
              f"load average before {load_before}, after {info['load_after']}; "
              f"{info['seconds']:.0f} s")


if __name__ == "__main__":
    main()
