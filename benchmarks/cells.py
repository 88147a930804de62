"""Training-iteration speed of the recurrent cores against torch.nn.RNN, on CPU (or a CUDA device).

    .venv/bin/python benchmarks/cells.py                  # table
    .venv/bin/python benchmarks/cells.py --json           # one JSON document on stdout
    python benchmarks/cells.py --device cuda --graphs     # on a GPU, also each training step as one CUDA graph

For every thread count, sequence length T and hidden size H (batch 32, input size H), each model runs
forward + backward + SGD step on a fixed random batch; the loss is <output, fixed random tensor>, so every
output receives a gradient. Repetitions are interleaved (one iteration of every model, then the next
round) and the median is reported, so load from other processes hits all models alike. In the same rounds
a bare GEMM of the per-step shape (B, H) x (H, H) is timed: "% GEMM" is the achieved rate relative to it; and
a large (T * B, H) x (H, H) GEMM, about the best rate the BLAS reaches ("peak"). "% peak" is the rate of the
work actually done relative to it (no model computes the gradient w.r.t. the batch, which the formula below
counts: one forward-sized GEMM per step less), and "ceiling" the "x nn.RNN" a model would show if all its
GEMMs ran at that peak: no fp32 implementation of the same equations can exceed it on the machine. "bound" is
the "x nn.RNN" if the recurrence's per-step GEMMs ran at the (B, H) x (H, H) rate, everything else at the peak,
and nothing but GEMMs took time: what this BLAS allows an implementation built from its calls.
"steps/s" counts sequence steps: B * T per iteration.

On CUDA every timing is bracketed by torch.cuda.synchronize(), the thread count is moot (one group per T, H),
and the baseline torch.nn.RNN is cuDNN's. --graphs adds, per model, the same training step captured once as a
CUDA graph and replayed (static input, SGD: the pattern of PyTorch's "whole network capture"); a model whose
capture fails is reported with the error instead of a time.

FLOPs count matrix multiplies only, per step: 2 * B * in * out for every linear map, times 3 for forward
plus backward (backward = 2 x forward, whether or not a gradient w.r.t. the input is needed).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

from deeprnn.models import DTRNN, DeepOutput, StackedRNN
from deeprnn.models.rhn import RHN

BATCH = 32
FORMULA = "GFLOP per iteration = 3 (forward + backward) x T x sum over linear maps of 2 * B * in * out"


class WithDeepOutput(torch.nn.Module):
    """DOT(S)-RNN as benchmarked: the DT(S) core plus a deep output (one tanh layer and a linear read-out,
    both H -> H), applied to all steps at once as in the heads."""

    def __init__(self, core, size):
        super().__init__()
        self.core, self.output = core, DeepOutput(size, size, depth=1)

    def forward(self, x):
        h, h_n = self.core(x)
        return self.output(h), h_n


def models(H):
    """name -> (constructor, number of H x H linear maps per step, how many of them are inside the recurrence,
    i.e. fed by h_{t-1} or by a block of the same step); input size is H."""
    def dt(depth, shortcut, deep_output=False, impl="auto"):
        def make():
            core = DTRNN(H, H, transition_depth=depth, shortcut=shortcut, impl=impl)
            return WithDeepOutput(core, H) if deep_output else core
        recurrent = depth + (depth - 1) * shortcut  # W_1..W_L, S_2..S_L
        return make, 1 + recurrent + 2 * deep_output, recurrent  # plus U and the deep output's two maps

    return {
        "torch.nn.RNN": (lambda: torch.nn.RNN(H, H), 2, 1),
        "rnn": (lambda: StackedRNN(H, H, num_layers=1), 2, 1),
        "srnn-2": (lambda: StackedRNN(H, H, num_layers=2), 4, 2),
        "dt-rnn-2": dt(2, False),
        "dts-rnn-2": dt(2, True),
        "dts-rnn-2 (reference loop)": dt(2, True, impl="reference"),
        "dt-rnn-3": dt(3, False),
        "dts-rnn-3": dt(3, True),
        "dot-rnn": dt(2, False, deep_output=True),
        "dots-rnn": dt(2, True, deep_output=True),
        # RHN (reference loop only): per highway layer a (2H, H) map from the state (h and the transform gate),
        # the first layer another from x_t; all inside the recurrence but the input's
        "rhn-2": (lambda: RHN(H, H, transition_depth=2), 2 + 2 * 2, 2 * 2),
        "rhn-3": (lambda: RHN(H, H, transition_depth=3), 2 + 2 * 3, 2 * 3),
    }


def sgd_step(model, T, H, device):
    """(forward + backward + SGD step on a fixed random batch, its optimiser); gradients are not zeroed."""
    x = torch.randn(T, BATCH, H, device=device)
    weight = torch.randn(T, BATCH, H, device=device)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-4)

    def step():
        output, _ = model(x)
        (output * weight).sum().backward()
        optimizer.step()
    return step, optimizer


def training_step(model, T, H, device):
    step, optimizer = sgd_step(model, T, H, device)

    def step_and_zero():
        step()
        optimizer.zero_grad(set_to_none=True)
    return step_and_zero


def graphed_training_step(model, T, H, device):
    """The same step captured as one CUDA graph (torch.cuda.graph), after three warm-up steps on a side
    stream; each call replays it. Returns the error message instead if the capture fails."""
    step, optimizer = sgd_step(model, T, H, device)
    try:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                optimizer.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            step()
    except Exception as error:  # noqa: BLE001 -- reported per model, the other models still run
        return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
    return graph.replay


def gemm_step(H, device, steps=20, rows=BATCH):
    """``steps`` GEMMs of the shape (rows, H) x (H, H), into a preallocated output: rows = B is the per-step
    shape; rows = T * B the large GEMMs of the input projections and weight gradients, about the best rate
    this BLAS reaches on the machine (its practical fp32 peak)."""
    a, w = torch.randn(rows, H, device=device), torch.randn(H, H, device=device)
    out = torch.empty(rows, H, device=device)

    def step():
        for _ in range(steps):
            torch.mm(a, w, out=out)
    return step, steps * 2 * rows * H * H


def least_seconds(maps, recurrent, unit, gemm_rate, peak_rate):
    """The least time a model's GEMMs can take: (all at ``peak_rate``, the recurrence's per-step GEMMs at
    ``gemm_rate`` and the rest at ``peak_rate``); ``unit``: GFLOP of one map's forward over all steps.

    The FLOP formula counts 3 units per map, but no model computes the gradient w.r.t. the batch (none is
    needed), so the work done is 3 maps - 1 units. Of it, the forward and dh GEMMs of the maps inside the
    recurrence (2 units each) must run step by step with B rows; the rest (input projections, deep output,
    weight gradients) can run as large GEMMs."""
    done, sequential = 3 * maps - 1, 2 * recurrent
    return done * unit / peak_rate, sequential * unit / gemm_rate + (done - sequential) * unit / peak_rate


def measure(threads, T, H, names, max_reps, budget, device="cpu", graphs=False):
    """One group (threads, T, H): a timed warm-up round, then as many interleaved rounds as fit in ``budget``
    seconds, at most ``max_reps``; if not even one fits, the warm-up round is reported (reps = 0)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    table = {name: models(H)[name] for name in names}
    steps = {name: training_step(make().to(device), T, H, device) for name, (make, *_) in table.items()}
    failed = {}
    if graphs:
        for name, (make, *counts) in list(table.items()):
            graphed = graphed_training_step(make().to(device), T, H, device)
            if isinstance(graphed, str):
                failed[f"{name} (CUDA graph)"] = graphed
            else:
                table[f"{name} (CUDA graph)"], steps[f"{name} (CUDA graph)"] = (make, *counts), graphed
    gemm, gemm_flops = gemm_step(H, device)
    large_gemm, large_gemm_flops = gemm_step(H, device, steps=3, rows=T * BATCH)
    steps["gemm"], steps["large gemm"] = gemm, large_gemm
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)

    def one_round():
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)

    times = {name: [] for name in steps}
    one_round()  # warm-up: allocator, MKL buffers; its time decides how many rounds fit
    round_seconds = sum(values[0] for values in times.values())
    reps = min(max_reps, int((budget - round_seconds) / round_seconds))
    if reps > 0:
        times = {name: [] for name in steps}
        for _ in range(reps):
            one_round()
    median = {name: statistics.median(values) for name, values in times.items()}
    gemm_rate = gemm_flops / median["gemm"] / 1e9
    peak_rate = large_gemm_flops / median["large gemm"] / 1e9
    unit = T * 2 * BATCH * H * H / 1e9  # GFLOP of one map's forward over all steps
    baseline = None
    rows = []
    for name, (_, maps, recurrent) in table.items():
        gflop = 3 * maps * unit
        rate = gflop / median[name]
        at_peak, least = least_seconds(maps, recurrent, unit, gemm_rate, peak_rate)
        baseline = rate if name == "torch.nn.RNN" else baseline
        rows.append(dict(threads=threads, T=T, H=H, batch=BATCH, model=name, ms=1e3 * median[name],
                         steps_per_s=BATCH * T / median[name], gflop=gflop, gflops=rate,
                         ratio_to_torch_rnn=rate / baseline, pct_gemm=100 * rate / gemm_rate,
                         pct_peak=100 * at_peak / median[name], gemm_gflops=gemm_rate, peak_gflops=peak_rate,
                         ceiling=gflop / at_peak / baseline, bound=gflop / least / baseline, reps=reps,
                         device=device))
    for name, error in failed.items():
        rows.append(dict(threads=threads, T=T, H=H, batch=BATCH, model=name, error=error, device=device))
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of a table")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--lengths", default="100,200", help="sequence lengths T (default 100,200)")
    parser.add_argument("--hidden", default="200,400", help="hidden sizes H (default 200,400)")
    parser.add_argument("--reps", type=int, default=7, help="at most this many interleaved repetitions (default 7)")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="seconds for the whole run, shared by the groups in proportion to T * H^2 "
                             "(default 150; a group whose warm-up round leaves no time reports that round)")
    parser.add_argument("--models", default=None, help="comma-separated subset of the models")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda; on cuda --threads is ignored")
    parser.add_argument("--graphs", action="store_true",
                        help="CUDA only: also time each model's training step captured as one CUDA graph")
    args = parser.parse_args(argv)
    on_cuda = torch.device(args.device).type == "cuda"
    if on_cuda and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if args.graphs and not on_cuda:
        parser.error("--graphs needs --device cuda")
    if on_cuda:
        args.threads = "1"  # the CPU thread count does not change GPU timings; one group per (T, H)

    ints = lambda text: [int(v) for v in text.split(",")]  # noqa: E731
    names = list(models(1)) if args.models is None else ["torch.nn.RNN"] + [
        n for n in args.models.split(",") if n != "torch.nn.RNN"]
    unknown = set(names) - set(models(1))
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {', '.join(models(1))}")

    started, load_before = time.time(), os.getloadavg()
    rows = []
    groups = [(threads, T, H) for threads in ints(args.threads) for H in ints(args.hidden) for T in ints(args.lengths)]
    weights = [T * H * H for _, T, H in groups]
    for i, (threads, T, H) in enumerate(groups):
        remaining = args.budget - (time.time() - started)
        group = measure(threads, T, H, names, args.reps, remaining * weights[i] / sum(weights[i:]),
                        device=args.device, graphs=args.graphs)
        rows.extend(group)
        if not args.json:
            print_group(group, flush=True)
    gpu = torch.cuda.get_device_name(args.device) if on_cuda else None
    info = dict(formula=FORMULA, torch=torch.__version__, python=platform.python_version(), device=args.device, gpu=gpu,
                machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                load_before=load_before, load_after=os.getloadavg(), seconds=time.time() - started,
                command=" ".join([os.path.basename(sys.executable), *sys.argv]))
    if args.json:
        print(json.dumps(dict(info, results=rows), indent=1))
    else:
        print(f"\n{FORMULA}; input size = H, batch {BATCH}; device {args.device}" + (f" ({gpu})" if gpu else "") + ".")
        print("% GEMM: achieved rate / rate of a bare (B, H) x (H, H) GEMM measured in the same rounds.")
        print("% peak: the FLOPs actually done (no input gradient: 3 maps - 1) per second / rate of a large "
              "(T*B, H) x (H, H) GEMM in the same rounds,\n  about the best this BLAS reaches. ceiling: the "
              "'x nn.RNN' of a model whose every GEMM ran at that peak, the most any fp32 implementation could reach.\n"
              "bound: the same with the per-step GEMMs of the recurrence at the (B, H) x (H, H) rate and nothing but "
              "GEMMs costing time.")
        print(f"load average before {load_before}, after {info['load_after']}; {info['seconds']:.0f} s")


def print_group(rows, flush=False):
    first = rows[0]
    where = "" if first["device"] == "cpu" else f"{first['device']}  "
    print(f"\n{where}threads={first['threads']}  T={first['T']}  H={first['H']}  B={BATCH}  "
          f"(GEMM rate {first['gemm_gflops']:.1f} GFLOP/s, peak {first['peak_gflops']:.1f}; "
          f"{'median of ' + str(first['reps']) if first['reps'] else 'warm-up round only'})")
    print(f"{'model':<40}{'ms/iter':>10}{'steps/s':>10}{'GFLOP/s':>9}{'x nn.RNN':>10}{'% GEMM':>8}{'% peak':>8}"
          f"{'ceiling':>9}{'bound':>7}")
    for row in rows:
        if "error" in row:
            print(f"{row['model']:<40}  capture failed: {row['error']}", flush=flush)
            continue
        print(f"{row['model']:<40}{row['ms']:>10.1f}{row['steps_per_s']:>10.0f}{row['gflops']:>9.1f}"
              f"{row['ratio_to_torch_rnn']:>10.2f}{row['pct_gemm']:>8.0f}{row['pct_peak']:>8.0f}"
              f"{row['ceiling']:>9.2f}{row['bound']:>7.2f}", flush=flush)


if __name__ == "__main__":
    main()
