"""Gradient flow through the recurrence: ‖∂L/∂h_t‖ at every step t, and parameter-gradient norms.

The loss sits at the last step only, so the gradient reaching h_t has travelled T - t steps back through
the transition and nowhere else; its norm against the distance T - t is the vanishing-gradient picture.

- Synthetic (the replication's section 4.1): inputs X (32, T, 10) ~ N(0, 1), a fixed random read-out V
  (10, H) ~ N(0, 1/H) and random targets y (32, 10) ~ N(0, 1), and L = ½‖V h_T − y‖² / B.
- Music: windows of T + 1 frames from a dataset; L is the model's own next-frame loss at the last step,
  the Bernoulli NLL of frame T + 1 summed over keys and averaged over the batch, through the head's read-out.

How ∂L/∂h_t is obtained: the cores stack their per-step states into a new output tensor, so the gradient
with respect to that output is only the direct part, not the total derivative through later steps. We
therefore unroll the core one step at a time, feeding each step's returned state tensor h_n (LSTM: (h_n,
c_n)) into the next call; ``torch.autograd.grad(L, [h_n at each step])`` then gives the total derivative.
For stacked models h_t is the top layer's state (the slice of that gradient); for LSTM it is h, not c.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from deeprnn.architectures import ARCHITECTURES, applies
from deeprnn.models import build_model

VANISHING = 1e-6  # ‖∂L/∂h_1‖ below this: the first step gets (numerically) no signal
EXPLODING = 10.0  # ‖∂L/∂h_1‖ above this: the gradient grows with distance
# Which build_model option "depth" sets per architecture (deeprnn.architectures); a model without one (rnn) is
# measured once, as depth 1.
DEPTH_OPTION = {a.name: a.depth_option for a in ARCHITECTURES.values() if a.depth_option}


@dataclass
class Measurement:
    source: str  # "synthetic", "<dataset>-init", "<dataset>-run-init", "<dataset>-run-trained"
    model: str
    depth: int
    hidden: int
    length: int  # T
    loss: float
    step_grad_norms: list[float]  # ‖∂L/∂h_t‖ for t = 1..T
    param_grad_norm: float  # over all core parameters
    layer_grad_norms: list[float] = field(default_factory=list)  # per transition layer / stacked layer

    @property
    def grad_h1(self) -> float:
        return self.step_grad_norms[0]

    @property
    def grad_hT(self) -> float:
        return self.step_grad_norms[-1]

    @property
    def vanishing(self) -> bool:
        return self.grad_h1 < VANISHING

    @property
    def exploding(self) -> bool:
        return not math.isfinite(self.grad_h1) or self.grad_h1 > EXPLODING


@contextmanager
def measuring(threads: int, log: Callable[[str], None]):
    """Torch threads set for the measurement and restored after it; its warnings (e.g. lengths a dataset's
    pieces do not reach) logged, not lost."""
    before, caught = torch.get_num_threads(), []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            torch.set_num_threads(threads)
            yield
    finally:
        torch.set_num_threads(before)  # leave the process as it was (matters when called from Python)
        for warning in caught:
            log(f"warning: {warning.message}")


def configurations(models, depths) -> list[tuple[str, int]]:
    """(model, depth) pairs; a plain rnn has no depth and is measured once."""
    unknown = [model for model in models if model not in ARCHITECTURES]
    if unknown:
        raise ValueError(f"unknown model {unknown[0]!r}; valid names: {', '.join(ARCHITECTURES)}")
    return [(model, depth) for model in models for depth in (depths if model in DEPTH_OPTION else [1])]


def build_head(model: str, depth: int, hidden_size: int, input_size: int, seed: int, spectral_radius: float = 1.0,
               transition_dropout: float = 0.0, **init):
    """A freshly initialised music head (build_model's documented initialisation), seeded, in eval mode.

    ``init``: build_model's other initialisation options (``init``, ``sparse_nonzeros``, ``transition_gain``),
    as ``deeprnn train`` takes them in ``[model]``.

    ``transition_dropout`` (deep-transition models only; ignored for the others) is measured in training mode,
    one mask per sequence as in training: see ``fixed_dropout_masks``.
    """
    torch.manual_seed(seed)
    options = {DEPTH_OPTION[model]: depth} if model in DEPTH_OPTION else {}
    if applies(model, "transition_dropout"):
        options["transition_dropout"] = transition_dropout
    head = build_model(model, "music", input_size=input_size, hidden_size=hidden_size,
                       spectral_radius=spectral_radius, **options, **init)
    return head.eval()


@contextmanager
def fixed_dropout_masks(core, x: torch.Tensor, seed: int):
    """Training-mode dropout of a deep-transition core with one mask per sequence for the whole unroll.

    ``unroll`` calls the core once per step, which would draw a new mask each time; training draws one per
    sequence (variational dropout), and that is what makes the product of step Jacobians grow: the kept
    units are scaled by 1 / (1 - p) at every step alike. Nothing changes for cores without dropout.
    """
    if not getattr(core, "dropout", 0.0) or not hasattr(core, "dropout_masks"):
        yield
        return
    generator_state = torch.get_rng_state()
    torch.manual_seed(seed)
    core.train()
    masks = core.dropout_masks(x.shape[0], x)
    core.dropout_masks = lambda *args: masks  # an instance attribute shadows the method
    try:
        yield
    finally:
        del core.dropout_masks
        core.eval()
        torch.set_rng_state(generator_state)


def depth_of(core) -> int:
    return getattr(core, "transition_depth", None) or core.num_layers


def unroll(core, x: torch.Tensor) -> list:
    """The core's state after each step of the batch-first ``x``: run one step per call, passing the
    returned state to the next, so each state tensor is the one the recursion really uses."""
    state, states = None, []
    for t in range(x.shape[1]):
        _, state = core(x[:, t : t + 1], state)
        states.append(state)
    return states


def hidden_part(state) -> torch.Tensor:
    return state[0] if isinstance(state, tuple) else state  # LSTM: (h_n, c_n)


def layer_index(core, name: str) -> int:
    """Layer of a core parameter, as the core says (the core protocol's ``parameter_layer``)."""
    return core.parameter_layer(name) if hasattr(core, "parameter_layer") else 0


def measure(core, x: torch.Tensor, last_step_loss, seed: int = 0) -> tuple[float, list[float], float, list[float]]:
    """(L, [‖∂L/∂h_t‖ for t = 1..T], ‖∂L/∂θ‖, per-layer ‖∂L/∂θ_l‖) for ``L = last_step_loss(h_T)``."""
    with fixed_dropout_masks(core, x, seed):
        hidden = [hidden_part(state) for state in unroll(core, x)]  # (num_layers, B, H) per step
    loss = last_step_loss(hidden[-1][-1])
    named = [(name, p) for name, p in core.named_parameters() if p.requires_grad]
    grads = torch.autograd.grad(loss, hidden + [p for _, p in named], allow_unused=True)
    step_grads, param_grads = grads[: len(hidden)], grads[len(hidden) :]
    # Norms in float64: squaring float32 entries below ~1e-19 would underflow to 0 and fake a collapse.
    step_norms = [0.0 if g is None else g[-1].double().norm().item() for g in step_grads]
    layers: dict[int, float] = {}
    for (name, _), g in zip(named, param_grads):
        if g is not None:
            layer = layer_index(core, name)
            layers[layer] = layers.get(layer, 0.0) + g.double().pow(2).sum().item()
    layer_norms = [math.sqrt(layers.get(k, 0.0)) for k in range(max(layers, default=-1) + 1)]
    return loss.item(), step_norms, math.sqrt(sum(layers.values())), layer_norms


def synthetic_batch(length: int, batch_size: int, input_size: int, seed: int) -> torch.Tensor:
    """X (B, T, input_size) ~ N(0, 1), seeded by (seed, T): every architecture sees the same inputs."""
    generator = torch.Generator().manual_seed(seed * 100_003 + length)
    return torch.randn(batch_size, length, input_size, generator=generator)


def synthetic_loss(hidden_size: int, batch_size: int, target_size: int, seed: int):
    """L(h_T) = ½‖V h_T − y‖² / B with V (target_size, H) ~ N(0, 1/H) and y ~ N(0, 1), seeded by ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    readout = torch.randn(target_size, hidden_size, generator=generator) / math.sqrt(hidden_size)
    targets = torch.randn(batch_size, target_size, generator=generator)
    return lambda h_last: 0.5 * (h_last @ readout.T - targets).pow(2).sum() / h_last.shape[0]


def music_windows(rolls: list[np.ndarray], length: int, batch_size: int, seed: int):
    """A batch of ``batch_size`` windows of T + 1 frames (inputs x_1..x_T, targets x_2..x_{T+1}), seeded."""
    from deeprnn.data import collate_music

    long_enough = [i for i, roll in enumerate(rolls) if len(roll) > length]
    if not long_enough:
        raise ValueError(f"no sequence has more than {length} frames; use shorter --lengths")
    rng = np.random.default_rng(seed * 100_003 + length)
    picks = rng.choice(long_enough, size=batch_size, replace=len(long_enough) < batch_size)
    windows = []
    for i in picks:
        start = int(rng.integers(0, len(rolls[i]) - length))
        windows.append(rolls[i][start : start + length + 1])
    return collate_music(windows, range(batch_size), score_first_frame=False)


def music_loss(head, batch):
    """The head's next-frame NLL at the last step: Bernoulli NLL of x_{T+1}, summed over keys, mean over B."""
    def loss(h_last):
        features = torch.cat([h_last, batch.inputs[:, -1]], -1) if head.output_from_input else h_last
        logits = head.output(features)
        return F.binary_cross_entropy_with_logits(logits, batch.targets[:, -1], reduction="sum") / h_last.shape[0]
    return loss


def synthetic_sweep(models, depths, lengths, hidden_size=200, batch_size=32, input_size=10, seed=0,
                    progress=True, spectral_radius=1.0, transition_dropout=0.0, **init) -> list[Measurement]:
    """The replication's Figure 1 measurement: every (model, depth) at every length T, synthetic inputs."""
    loss = synthetic_loss(hidden_size, batch_size, input_size, seed)
    results = []
    tasks = [(model, depth, length) for model, depth in configurations(models, depths) for length in lengths]
    for model, depth, length in tqdm(tasks, desc="gradflow synthetic", disable=not progress):
        core = build_head(model, depth, hidden_size, input_size, seed, spectral_radius, transition_dropout,
                          **init).core
        values = measure(core, synthetic_batch(length, batch_size, input_size, seed), loss, seed)
        results.append(Measurement("synthetic", model, depth, hidden_size, length, *values))
    return results


def music_measurements(source: str, heads: list[tuple[str, object]], rolls, lengths, batch_size=32, seed=0,
                       progress=True) -> list[Measurement]:
    """The same measurement on real music windows, for each (model name, head) given. Lengths that no piece
    reaches are left out with a warning (JSB's pieces have at most 129 frames), unless none is left."""
    reached = [length for length in lengths if any(len(roll) > length for roll in rolls)]
    if reached and len(reached) < len(lengths):
        warnings.warn(f"{source}: no piece is longer than {max(map(len, rolls))} frames; measured at T = "
                      f"{', '.join(map(str, reached))} only", stacklevel=2)
        lengths = reached
    results = []
    tasks = [(name, head, length) for name, head in heads for length in lengths]
    for name, head, length in tqdm(tasks, desc=f"gradflow {source}", disable=not progress):
        batch = music_windows(rolls, length, batch_size, seed)
        values = measure(head.core, batch.inputs, music_loss(head, batch), seed)
        results.append(Measurement(source, name, depth_of(head.core), head.core.hidden_size, length, *values))
    return results


def music_sweep(dataset, models, depths, lengths, hidden_size=200, batch_size=32, seed=0, data_dir=None,
                progress=True, spectral_radius=1.0, transition_dropout=0.0, **init) -> list[Measurement]:
    """Every (model, depth) at initialisation on windows of the training split of ``dataset``."""
    from deeprnn.data import load_music

    rolls = load_music(dataset, "train", data_dir)
    heads = [(model, build_head(model, depth, hidden_size, 88, seed, spectral_radius, transition_dropout, **init))
             for model, depth in configurations(models, depths)]
    return music_measurements(f"{dataset}-init", heads, rolls, lengths, batch_size, seed, progress)


def run_sweep(run_dir, lengths, batch_size=32, seed=0, data_dir=None, progress=True) -> list[Measurement]:
    """A trained run's best checkpoint and the same architecture freshly initialised, on the run's dataset."""
    from deeprnn.data import load_music
    from deeprnn.training import load_run

    model, config = load_run(run_dir, "best")
    if model.task != "music":
        raise ValueError(f"gradflow on real data needs a music run; {run_dir} is a {model.task} run")
    torch.manual_seed(seed)
    fresh = build_model(**model.head.hparams).eval()
    rolls = load_music(config.data.name, "train", data_dir or config.data.data_dir)
    name = config.model.name
    return (music_measurements(f"{config.data.name}-run-init", [(name, fresh)], rolls, lengths, batch_size, seed,
                               progress)
            + music_measurements(f"{config.data.name}-run-trained", [(name, model.head)], rolls, lengths,
                                 batch_size, seed, progress))


def as_record(m: Measurement) -> dict:
    return {**asdict(m), "grad_h1": m.grad_h1, "grad_hT": m.grad_hT, "vanishing": m.vanishing,
            "exploding": m.exploding}


SUMMARY_COLUMNS = ("source", "model", "depth", "hidden", "length", "loss", "grad_h1", "grad_hT", "param_grad_norm",
                   "layer_grad_norms", "vanishing", "exploding")


def _number(value: float) -> str:
    return f"{value:.6e}"


def _key(m: Measurement) -> str:
    return f"{m.source},{m.model},{m.depth},{m.hidden},{m.length}"


def summary_csv(measurements: list[Measurement]) -> str:
    """gradflow.csv's text: ``SUMMARY_COLUMNS``, one row per measurement (``deeprnn reproduce`` keeps it too)."""
    summary = [",".join(SUMMARY_COLUMNS)]
    for m in measurements:
        summary.append(",".join([_key(m), _number(m.loss), _number(m.grad_h1), _number(m.grad_hT),
                                 _number(m.param_grad_norm), ";".join(map(_number, m.layer_grad_norms)),
                                 str(m.vanishing).lower(), str(m.exploding).lower()]))
    return "\n".join(summary) + "\n"


def write_results(measurements: list[Measurement], out_dir: Path, settings: dict) -> list[Path]:
    """gradflow.csv (one row per measurement), gradflow_steps.csv (one row per step) and gradflow.json."""
    out_dir.mkdir(parents=True, exist_ok=True)
    steps = ["source,model,depth,hidden,length,t,distance,grad_norm"]
    for m in measurements:
        steps += [f"{_key(m)},{t},{m.length - t},{_number(norm)}" for t, norm in enumerate(m.step_grad_norms, start=1)]
    paths = [out_dir / "gradflow.csv", out_dir / "gradflow_steps.csv", out_dir / "gradflow.json"]
    paths[0].write_text(summary_csv(measurements))
    paths[1].write_text("\n".join(steps) + "\n")
    document = {"settings": settings, "thresholds": {"vanishing": VANISHING, "exploding": EXPLODING},
                "results": [as_record(m) for m in measurements]}
    paths[2].write_text(json.dumps(document, indent=1) + "\n")
    return paths


def summary_table(measurements: list[Measurement]) -> str:
    """‖∂L/∂h_1‖ per (source, model, depth) and length; V marks vanishing, E exploding."""
    lengths = sorted({m.length for m in measurements})
    rows: dict[tuple, dict[int, Measurement]] = {}
    for m in measurements:
        rows.setdefault((m.source, m.model, m.depth), {})[m.length] = m
    header = f"{'source':<24}{'model':<10}{'depth':>5}" + "".join(f"{f'T={T}':>12}" for T in lengths)
    lines = ["‖∂L/∂h_1‖ (V: < 1e-6, vanishing; E: > 10, exploding)", header]
    for (source, model, depth), by_length in rows.items():
        cells = []
        for T in lengths:
            m = by_length.get(T)
            flag = "" if m is None else "V" if m.vanishing else "E" if m.exploding else " "
            cells.append(f"{'-' if m is None else f'{m.grad_h1:.2e}'}{flag:>2}".rjust(12))
        lines.append(f"{source:<24}{model:<10}{depth:>5}" + "".join(cells))
    flagged = sum(m.vanishing or m.exploding for m in measurements)
    lines.append(f"{flagged} of {len(measurements)} measurements flagged")
    return "\n".join(lines)
