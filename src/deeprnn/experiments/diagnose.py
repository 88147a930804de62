"""``deeprnn diagnose``: the pre-flight check before hours of training.

It builds a run exactly as ``deeprnn train`` does (``trainer.setup``: seed, data, initialised model, read-out bias,
optimiser) and trains its first N batches through the trainer's own epoch loop (``trainer.run_epoch``), so
its losses are the ones ``deeprnn train`` would log for the same config and seed (tested). It reports:

- the gain of the recurrent step at initialisation (``deeprnn.models.init.step_gain``: the largest singular
  value of ∂h_t/∂h_{t-1} at the origin; none for sRNN, LSTM and GRU);
- per batch: the training loss, the gradient norm before and after clipping, and the fraction of the core's
  output units that are saturated (tanh: |h| > 0.99; sigmoid: |2h - 1| > 0.99; over real steps only);
- then the validation metric of the model after those batches (the weight average's, with optim.ema_decay).

Nothing is written unless asked (``out``: diagnose.json and diagnose.png).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from deeprnn.metric_keys import SHOWN
from deeprnn.models import step_gain
from deeprnn.training.config import Config
from deeprnn.training.metrics import SELECTION_METRIC
from deeprnn.training.state import TrainingState
from deeprnn.training.step import StepResult
from deeprnn.training.trainer import run_epoch, setup

SATURATED = 0.99  # |h| (tanh) or |2h - 1| (sigmoid) above this: the unit's slope is below 2% of its maximum


@dataclass
class BatchRecord:
    batch: int  # 1-based, counted over epochs
    epoch: int
    loss: float
    grad_norm_before_clip: float
    grad_norm_after_clip: float
    saturated: float | None  # fraction of the core's output units; None where the units do not saturate
    finite: bool


@dataclass
class Diagnosis:
    model: str
    dataset: str
    task: str
    gain: float | None
    records: list[BatchRecord] = field(default_factory=list)
    valid: dict[str, float] = field(default_factory=dict)
    metric: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def output_activation(core) -> str | None:
    """The nonlinearity that produces the core's output h_t: the core's ``output_units`` (the core protocol,
    docs/models.md); None (no saturation measured) for a core that does not declare them."""
    return getattr(core, "output_units", None)


def saturated_fraction(h: torch.Tensor, activation: str | None, lengths=None) -> float | None:
    """The fraction of h's (B, T, H) values that are saturated, over each sequence's first ``lengths`` steps."""
    if activation == "tanh":
        saturated = h.abs() > SATURATED
    elif activation == "sigmoid":
        saturated = (2 * h - 1).abs() > SATURATED
    else:
        return None
    if lengths is None:
        return float(saturated.float().mean())
    steps = torch.arange(h.shape[1], device=h.device)
    real = (steps < torch.as_tensor(lengths, device=h.device)[:, None]).unsqueeze(-1)
    return float((saturated & real).sum() / (real.sum() * h.shape[-1]).clamp_min(1))


def _saturation_probe(core, activation):
    """A forward hook on ``core`` that keeps the saturated fraction of its last training call's output."""
    seen = {"fraction": None}

    def hook(module, args, kwargs, output):
        h = output[0]
        if isinstance(h, torch.nn.utils.rnn.PackedSequence):
            h, lengths = torch.nn.utils.rnn.pad_packed_sequence(h, batch_first=True)
        else:
            lengths = kwargs.get("lengths")
        if module.training:
            seen["fraction"] = saturated_fraction(h.detach(), activation, lengths)

    return seen, core.register_forward_hook(hook, with_kwargs=True)


def diagnose(config: Config, batches: int = 200, progress: bool | None = None) -> Diagnosis:
    """Train ``config``'s first ``batches`` batches as ``deeprnn train`` would, then validate (see module doc).

    The epochs are the trainer's own (``trainer.run_epoch``: steps, validation, schedulers, stop rules), the
    last one cut at ``batches``; the validation metric is that of the last epoch, cut or whole.
    """
    if batches < 1:
        raise ValueError(f"batches must be >= 1, got {batches}")
    run = setup(config)
    core = run.model.core
    result = Diagnosis(config.model.name, config.data.name, run.task.name, step_gain(core),
                       metric=SELECTION_METRIC[run.task.name][0])
    seen, handle = _saturation_probe(core, output_activation(core))

    def on_step(index: int, step: StepResult) -> None:
        result.records.append(BatchRecord(len(result.records) + 1, state.epoch + 1, step.loss, step.norm_before,
                                          step.norm_after, seen["fraction"], step.finite))

    state = TrainingState()
    try:
        while state.step < batches and state.stopped is None:
            cap = min(batches - state.step, config.train.max_batches_per_epoch or batches)
            epoch_config = replace(config, train=replace(config.train, max_batches_per_epoch=cap))
            result.valid = run_epoch(run, epoch_config, state, progress, on_step)["valid"]
    finally:
        handle.remove()
    return result


def _cell(value, digits=4) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}g}" if math.isfinite(value) else str(value)


def report(result: Diagnosis, rows: int = 10) -> str:
    """The gain, a table of about ``rows`` evenly spaced batches (first and last included), the validation
    metric, and a warning line for each sign of trouble."""
    records = result.records
    shown = sorted({round(i * (len(records) - 1) / max(rows - 1, 1)) for i in range(rows)})
    lines = [f"{result.model} on {result.dataset} ({result.task}): step gain at init "
             f"{_cell(result.gain)} (largest singular value of dh_t/dh_(t-1) at the origin)",
             f"{'batch':>6} {'loss':>10} {'grad norm':>10} {'clipped':>10} {'saturated':>10}"]
    for index in shown:
        r = records[index]
        saturated = "n/a" if r.saturated is None else f"{100 * r.saturated:.1f}%"
        lines.append(f"{r.batch:>6} {_cell(r.loss):>10} {_cell(r.grad_norm_before_clip):>10} "
                     f"{_cell(r.grad_norm_after_clip):>10} {saturated:>10}" + ("" if r.finite else "  skipped"))
    shown_valid = ", ".join(f"{key} {_cell(value)}" for key, value in result.valid.items()
                            if key in SHOWN)
    lines.append(f"validation after {len(records)} batches: {shown_valid}")
    return "\n".join(lines + warnings(result))


def warnings(result: Diagnosis) -> list[str]:
    """Plain-language signs that the run will not learn as it is."""
    said = []
    last = result.records[-1]
    if result.gain is not None and result.gain > 1.5:
        said.append(f"warning: step gain {result.gain:.2f} at init: the state may run on its own dynamics and "
                    "saturate; try model.transition_gain (docs/models.md)")
    if last.saturated is not None and last.saturated > 0.25:
        said.append(f"warning: {100 * last.saturated:.0f}% of the output units are saturated after "
                    f"{last.batch} batches; their gradients are near zero")
    skipped = sum(not r.finite for r in result.records)
    if skipped:
        said.append(f"warning: {skipped} of {len(result.records)} steps had non-finite losses or gradients")
    return said


def write(result: Diagnosis, out: Path) -> list[Path]:
    """diagnose.json (every batch) and diagnose.png (loss, gradient norm and saturation against the batch)."""
    from deeprnn.reports.plotting import plt

    out.mkdir(parents=True, exist_ok=True)
    (out / "diagnose.json").write_text(result.to_json() + "\n")
    batch = [r.batch for r in result.records]
    figure, axes = plt.subplots(1, 3, figsize=(12, 3.2), constrained_layout=True)
    axes[0].plot(batch, [r.loss for r in result.records])
    axes[0].set(title="training loss", xlabel="batch")
    axes[1].plot(batch, [r.grad_norm_before_clip for r in result.records], label="before clipping")
    axes[1].plot(batch, [r.grad_norm_after_clip for r in result.records], label="after")
    axes[1].set(title="gradient norm", xlabel="batch", yscale="log")
    axes[1].legend()
    fractions = [r.saturated for r in result.records]
    if all(f is not None for f in fractions):
        axes[2].plot(batch, [100 * f for f in fractions])
    axes[2].set(title="saturated output units (%)", xlabel="batch", ylim=(0, 100))
    figure.suptitle(f"{result.model} on {result.dataset}: step gain at init {_cell(result.gain)}")
    figure.savefig(out / "diagnose.png", dpi=110)
    plt.close(figure)
    return [out / "diagnose.json", out / "diagnose.png"]
