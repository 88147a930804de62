"""torch.compile on the cores: compile time, and the speed of a compiled training step against eager, on CPU.

    .venv/bin/python benchmarks/compile.py                 # table
    .venv/bin/python benchmarks/compile.py --json          # one JSON document on stdout

Each model is one of benchmarks/cells.py (batch 32, input size H, forward + backward + SGD step on a fixed
random batch, loss <output, fixed random tensor>), run eagerly and as torch.compile(model, fullgraph=True,
backend=--backend). The loop cores' fused recurrence is one operator in the compiled graph (forward and
backward), so compile can only speed up what surrounds it (the deep output, the loss); its own time is the
eager kernel's. "compile s" is the wall time of the first compiled step (dynamo, AOTAutograd, inductor's code
generation and C++ build), with inductor's caches disabled unless --warm-cache. Then eager and compiled steps
are timed in interleaved rounds and the medians reported, so load from other processes hits both alike.
"max |diff|" is the largest difference between the compiled and the eager model's outputs and gradients after
one step from the same parameters (float32), "rel" the largest of those differences relative to the largest
entry of its tensor.
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cells import models, training_step  # noqa: E402 -- the benchmark's models and step, shared

DEFAULT_MODELS = "rnn,srnn-2,dts-rnn-2,dots-rnn"


def first_step(model, run, T, H):
    """One forward + backward of ``run`` (``model`` or its compiled form) on a fixed batch: (seconds, [output,
    every parameter's gradient]); the gradients are then cleared."""
    x = torch.randn(T, 32, H, generator=torch.Generator().manual_seed(1))
    weight = torch.randn(T, 32, H, generator=torch.Generator().manual_seed(2))
    start = time.perf_counter()
    output, _ = run(x)
    (output * weight).sum().backward()
    seconds = time.perf_counter() - start
    results = [output.detach(), *(p.grad.clone() for p in model.parameters())]
    model.zero_grad(set_to_none=True)
    return seconds, results


def measure(name, make, T, H, backend, reps):
    """One model: compile time (the first compiled step), max |compiled - eager| after that step from the same
    parameters, and the eager and compiled medians (ms) over ``reps`` interleaved training steps."""
    torch.manual_seed(0)
    eager_model = make()
    torch.manual_seed(0)
    model = make()
    compiled_model = torch.compile(model, fullgraph=True, backend=backend)
    compile_seconds, compiled_results = first_step(model, compiled_model, T, H)
    _, eager_results = first_step(eager_model, eager_model, T, H)
    difference = max((a - b).abs().max().item() for a, b in zip(compiled_results, eager_results))
    relative = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(compiled_results, eager_results))
    eager, compiled = training_step(eager_model, T, H, "cpu"), training_step(compiled_model, T, H, "cpu")
    eager()  # warm-up
    compiled()
    times = {"eager": [], "compiled": []}
    for _ in range(reps):
        for label, step in (("eager", eager), ("compiled", compiled)):
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    eager_ms, compiled_ms = (1e3 * statistics.median(times[label]) for label in ("eager", "compiled"))
    return dict(model=name, T=T, H=H, batch=32, threads=torch.get_num_threads(), backend=backend,
                compile_s=compile_seconds, eager_ms=eager_ms, compiled_ms=compiled_ms,
                compiled_over_eager=compiled_ms / eager_ms, max_abs_diff=difference, max_rel_diff=relative, reps=reps,
                load=os.getloadavg()[0])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated (default {DEFAULT_MODELS})")
    parser.add_argument("--length", type=int, default=100, help="sequence length T (default 100)")
    parser.add_argument("--hidden", type=int, default=200, help="hidden size H (default 200)")
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    parser.add_argument("--reps", type=int, default=15, help="interleaved rounds (default 15)")
    parser.add_argument("--backend", default="inductor", help="torch.compile backend (default inductor)")
    parser.add_argument("--warm-cache", action="store_true", help="keep inductor's caches (compile time)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if not args.warm_cache:
        torch._inductor.config.force_disable_caches = True
    table = models(args.hidden)
    rows = [measure(name, table[name][0], args.length, args.hidden, args.backend, args.reps)
            for name in args.models.split(",")]
    if args.json:
        print(json.dumps(dict(torch=torch.__version__, rows=rows), indent=1))
        return
    print(f"torch {torch.__version__}, CPU, {args.threads} thread(s), T={args.length}, H={args.hidden}, batch 32, "
          f"backend {args.backend}, median of {args.reps} interleaved rounds")
    print(f"{'model':<12} {'compile s':>9} {'eager ms':>9} {'compiled ms':>11} {'ratio':>6} {'max |diff|':>10} "
          f"{'rel':>8} {'load':>5}")
    for row in rows:
        print(f"{row['model']:<12} {row['compile_s']:>9.1f} {row['eager_ms']:>9.1f} {row['compiled_ms']:>11.1f} "
              f"{row['compiled_over_eager']:>6.3f} {row['max_abs_diff']:>10.2e} "
              f"{row['max_rel_diff']:>8.1e} {row['load']:>5.1f}")


if __name__ == "__main__":
    main()
