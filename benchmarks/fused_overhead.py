"""The fused path's cost of its routes: the autograd.Function it had before it became a torch.library operator
(rebuilt here from fast.fused_forward / fused_backward, exactly as it was) against the current eager route
(fast.fused_apply), in one process, interleaved (ABBA) rounds, on a DTS-RNN training step, 1 thread. At
T=1, B=1, H=4 the difference is the fixed cost per call; at the benchmark sizes, whether it shows.

    .venv/bin/python benchmarks/fused_overhead.py
"""

from __future__ import annotations

import statistics
import time

import torch
from torch.autograd.function import once_differentiable

from deeprnn.models import DTRNN, fast

torch.set_num_threads(1)


class Old(torch.autograd.Function):
    """The autograd.Function of the fused path before the operator (same kernels)."""

    @staticmethod
    def forward(ctx, x, h0, step_mask, dropout_masks, layout, *params):
        out, hn, z, states, pooled = fast.fused_forward(x, h0, step_mask, dropout_masks, layout, params)
        ctx.layout, ctx.step_mask, ctx.dropout_masks = layout, step_mask, dropout_masks
        ctx.save_for_backward(x, h0, z, states, *pooled, *params)
        return out, hn

    @staticmethod
    @once_differentiable
    def backward(ctx, go, gh):
        x, h0, z, states, *rest = ctx.saved_tensors
        n = len(ctx.layout.pooled)
        gx, gh0, grads = fast.fused_backward(go, gh, x, h0, z, states, rest[:n], ctx.step_mask, ctx.dropout_masks,
                                             ctx.layout, rest[n:], ctx.needs_input_grad[0], ctx.needs_input_grad[1])
        return (gx, gh0, None, None, None, *grads)



NEW_APPLY = fast.fused_apply
ROUTES = (("autograd.Function", lambda *args: Old.apply(*args)), ("now", NEW_APPLY))


def training_step(T, B, H):
    torch.manual_seed(0)
    core = DTRNN(H, H, transition_depth=2, shortcut=True)
    x, weight = torch.randn(T, B, H), torch.randn(T, B, H)

    def step():
        output, _ = core(x)
        (output * weight).sum().backward()
    return step


def compare(T, B, H, rounds):
    """Median and minimum ms of each route over ``rounds`` ABBA-interleaved training steps."""
    step, times = training_step(T, B, H), {label: [] for label, _ in ROUTES}
    for _, apply in ROUTES:  # warm-up
        fast.fused_apply = apply
        step()
    for i in range(rounds):
        for label, apply in ROUTES if i % 2 else ROUTES[::-1]:
            fast.fused_apply = apply
            start = time.perf_counter()
            step()
            times[label].append(time.perf_counter() - start)
    fast.fused_apply = NEW_APPLY
    for name, statistic in (("median", statistics.median), ("min", min)):
        ms = {label: 1e3 * statistic(values) for label, values in times.items()}
        print(f"T={T} B={B} H={H}, {rounds} rounds, {name}: "
              + ", ".join(f"{label} {value:.3f} ms" for label, value in ms.items())
              + f", now / before {ms['now'] / ms['autograd.Function']:.3f}")


if __name__ == "__main__":
    for T, B, H, rounds in ((100, 32, 200, 60), (1, 1, 4, 2001), (200, 32, 400, 30)):
        compare(T, B, H, rounds)
