"""The training loop: one function, ``train(config, run_dir)``, that writes a complete run directory.

Run directory (see docs/training.md):
    config.json        the fully resolved config
    env.json           package versions, device, seed, git commit; each later resume under other code or torch
    metrics.jsonl      one line per epoch: train and valid metrics, lr, gradient norms, time, throughput
    metrics.csv        the same records as CSV, made from metrics.jsonl after every epoch
    tensorboard/       TensorBoard events, with train.tensorboard = true (training/runlog.py)
    summary.json       best epoch, parameter count, wall time, valid and test metrics
    checkpoint_last.pt / checkpoint_best.pt

Reporting rule: test metrics are those of the best-validation checkpoint.
Resume: checkpoints are written at the end of every epoch with the model, optimiser, schedulers, RNG
state and data cursor (their format: deeprnn.training.state; env.json's provenance: deeprnn.training.provenance);
the batch order of an epoch is a function of (seed, epoch), so a resumed run replays the interrupted epoch
exactly and ends with the same metrics as an uninterrupted one.

The functions below come in the order a run calls them: ``train``, the run directory, ``setup``, the resume,
``run_epoch`` and its steps, the stop rules, the checkpoints, ``finish``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel
from tqdm.auto import tqdm

from deeprnn import stop_reasons
from deeprnn.files import append_record, read_records, remove_stale_temporaries
from deeprnn.metric_keys import SHOWN
from deeprnn.models import count_parameters
from deeprnn.runlock import run_lock
from deeprnn.training.checkpoint import (
    RESUMABLE_CHANGES,
    atomic_write_text,
    checkpoint_path,
    load_checkpoint,
    model_from_config,
    read_json,
    save_checkpoint,
)
from deeprnn.training.config import RESUMABLE, Config, ConfigError, config_differences
from deeprnn.training.graphed import GraphedLMStep, graphed_step
from deeprnn.training.metrics import SELECTION_METRIC
from deeprnn.training.optimizers import ClippedMomentumSGD
from deeprnn.training.prefetch import prefetch
from deeprnn.training.provenance import write_environment
from deeprnn.training.run_objects import RunObjects
from deeprnn.training.runlog import TENSORBOARD_DIR, TensorBoardLog, write_metrics_csv
from deeprnn.training.state import SavedModel, TrainingState
from deeprnn.training.step import StepResult
from deeprnn.training.tasks import Task, build_task

RUN_FILES = ("config.json", "env.json", "metrics.jsonl", "summary.json", "checkpoint_last.pt", "checkpoint_best.pt",
             "metrics.csv")
RUN_FOLDERS = (TENSORBOARD_DIR,)  # written by some runs only; replaced with the run by --overwrite


class TrainingDiverged(RuntimeError):
    """Too many consecutive non-finite losses or gradients, or no finite validation result to report."""

    exit_code = 3  # the command line's exit code for a diverged run (cli.main.EXIT_DIVERGED)


# A run has diverged when its validation loss (nats) is non-finite or above this many times that of the trivial
# model it starts from (divergence_bound). Never relative to the first epoch's loss: a run still on the unigram
# plateau has not diverged.
DIVERGENCE_FACTOR = 2.0


def train(
    config: Config | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    log=print,
) -> dict[str, Any]:
    """Train (or resume) a run and return its summary (also written to ``summary.json``)."""
    run_dir = Path(run_dir)
    with run_lock(run_dir):  # one writer per run directory (deeprnn.runlock)
        return _train_locked(config, run_dir, resume, overwrite, progress, log)


def _train_locked(config: Config | None, run_dir: Path, resume: bool, overwrite: bool, progress, log) -> dict:
    config = prepare_run_dir(run_dir, config, resume=resume, overwrite=overwrite)
    run = setup(config)  # the model and data load: only now may an old run be replaced
    if overwrite and not resume:
        discard_old_run(run_dir)
    atomic_write_text(run_dir / "config.json", config.to_json() + "\n")
    state = _resume(run, config, run_dir, log) if resume else TrainingState()
    write_environment(run_dir, config, run.device, state.epoch, resumed=resume)
    params = count_parameters(run.model)
    if state.epoch == 0:
        log(f"{config.model.name} on {config.data.name} ({run.task.name}): {params:,} parameters, device "
            f"{run.device}" + threads_hint(config, run.device))
    write_metrics_csv(run_dir)
    board = TensorBoardLog(run_dir, config.to_json(), state.step) if config.train.tensorboard else None
    on_step = (lambda index, result: board.after_step(state.step, result.loss, result.units)) if board else None
    with closing(board) if board else nullcontext():
        while _trains_on(state, config):
            record = run_epoch(run, config, state, progress, on_step)  # train, validate, keep the best, decide to stop
            # the record before the checkpoint: a resume drops the records after its checkpoint's epoch, replays them
            append_record(run_dir / "metrics.jsonl", record)
            write_metrics_csv(run_dir)
            _save_checkpoints(run_dir, run.payload(config, state), improved=record["best"])
            if board:
                board.after_epoch(record)
            log(_epoch_line(record, config.train.epochs))
    return finish(run_dir, run.task, run.model, state, params, run.device, log)


def prepare_run_dir(run_dir: Path, config: Config | None, *, resume: bool, overwrite: bool) -> Config:
    """Create or reopen a run directory; refuses to mix two runs in one directory."""
    config_file = run_dir / "config.json"
    if resume:
        if not config_file.is_file():
            raise ConfigError(f"--resume {run_dir}: no run there (config.json missing)")
        stored = Config.from_dict(read_json(config_file), source=str(config_file))
        return _check_resumable(stored, config)
    if config is None:
        raise ConfigError("a config file is needed to start a new run")
    if run_dir.exists() and not run_dir.is_dir():
        raise ConfigError(f"run directory {run_dir} is a file; give another --run-dir")
    if run_dir.exists() and any((run_dir / name).exists() for name in RUN_FILES):
        if not overwrite:
            stored = read_json(config_file) if config_file.is_file() else None
            same = stored == config.to_dict()
            raise ConfigError(
                f"run directory {run_dir} already holds {'this' if same else 'a different'} run; "
                "use --resume to continue it, --overwrite to replace it, or another --run-dir"
            )
    return config  # the directory is made with config.json, once the model and data are known to load


def _check_resumable(stored: Config, given: Config | None) -> Config:
    if given is None:
        return stored
    changed = config_differences(stored, given, ignore=RESUMABLE)  # what a resumed run computes may not change
    if changed:
        diffs = ", ".join(f"{key}: {old!r} -> {new!r}" for key, old, new in changed)
        allowed = ", ".join(RESUMABLE_CHANGES)
        raise ConfigError(f"cannot resume with a different config ({diffs}); only {allowed} may change")
    return given


def setup(config: Config) -> RunObjects:
    """Threads, determinism, device and seed, then the task, the initialised model (with the read-out bias from
    the data), the optimiser and the schedulers, in the order that makes a run's numbers."""
    if config.train.threads:
        torch.set_num_threads(config.train.threads)
    if config.train.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
    device = resolve_device(config.train.device)
    torch.manual_seed(config.train.seed)

    task = build_task(config, device)
    model = model_from_config(config, task.name, **task.model_kwargs())
    if config.model.output_bias_from_data:
        bias = task.output_bias()
        if bias is not None:
            with torch.no_grad():
                model.output.readout.bias.copy_(bias)
    model = model.to(device)
    optimizer = _make_optimizer(config, model)
    graphed = graphed_step(config, task, model, device)  # recorded at its first batch, replayed in every epoch
    average = weight_average(model, config.optim.ema_decay) if config.optim.ema_decay else None
    decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.optim.lr_decay)
    plateau = None
    if config.optim.plateau_patience is not None:
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            mode="max" if SELECTION_METRIC[task.name][1] else "min",
            factor=config.optim.plateau_factor,
            patience=config.optim.plateau_patience,
            threshold=config.optim.plateau_threshold,
        )
    return RunObjects(device=device, task=task, model=model, optimizer=optimizer, graphed=graphed, average=average,
                      decay=decay, plateau=plateau, divergence_bound=divergence_bound(task, config))


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("train.device is 'cuda' but no CUDA device is available (use --device cpu)")
    return torch.device(name)


def _make_optimizer(config: Config, model: torch.nn.Module) -> torch.optim.Optimizer:
    opt = config.optim
    if opt.name == "sgd-clipped-momentum":
        return ClippedMomentumSGD(model.parameters(), lr=opt.lr, momentum=opt.momentum, max_norm=opt.clip_norm,
                                  weight_decay=opt.weight_decay)
    if opt.name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=opt.lr, momentum=opt.momentum, weight_decay=opt.weight_decay)
    # The fused kernel does Adam's update in one pass per tensor instead of about eight (6x faster on CPU for
    # a PTB word model's 10k x 400 matrices, ~5% of a batch: benchmarks/text_step.py); same update to float
    # rounding. A checkpoint saved without it resumes without it (load_state_dict restores the group's settings).
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.Adam(model.parameters(), lr=opt.lr, weight_decay=opt.weight_decay, fused=fused or None)


def weight_average(model: torch.nn.Module, decay: float) -> AveragedModel:
    """An exponential moving average of ``model``'s weights (Polyak averaging), updated after each optimiser step.

    The first update copies the weights; an update after t earlier ones moves the average towards the weights
    by 1 - d with d = min(decay, (1 + t) / (10 + t)), the warm-up of tf.train.ExponentialMovingAverage's
    num_updates. With the fixed decay alone the first epochs' average is mostly the early weights (measured on
    JSB: a GRU at decay 0.999 stayed behind its raw weights for 8 epochs; its early-stopped best is epoch 6-7).
    The average's horizon, 1 / (1 - d) steps, is therefore (10 + t) / 9, about the last ninth of the steps so
    far, until that reaches 1 / (1 - decay): after about 4,500 steps for decay 0.998, 9,000 for 0.999. Runs
    that stop earlier are the same for every decay above that.
    Buffers are not averaged but copied from the model (AveragedModel's use_buffers=False).
    """

    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], updates: torch.Tensor) -> None:
        t = int(updates)  # updates so far (>= 1: AveragedModel makes the first one a copy)
        step = 1.0 - min(decay, (1 + t) / (10 + t))
        for a, c in zip(averaged, current):
            a.lerp_(c, step)

    average = AveragedModel(model, multi_avg_fn=update)
    for module in average.module.modules():
        if isinstance(module, torch.nn.RNNBase):
            # the copy's LSTM/GRU weights are separate tensors: on CUDA cuDNN would warn and re-pack them at
            # every call; updates are in place, so packing them once here lasts
            module.flatten_parameters()
    return average


def divergence_bound(task: Task, config: Config) -> float:
    """The validation loss above which a run has diverged: DIVERGENCE_FACTOR times that of the trivial model the
    run starts from, the training frequencies with ``model.output_bias_from_data`` (Task.trivial_losses), else
    the worse of those and all-zero logits (88 ln 2 = 61 nats per frame for music)."""
    losses = task.trivial_losses()
    start = losses["unigram"] if config.model.output_bias_from_data else max(losses.values())
    return DIVERGENCE_FACTOR * start


def discard_old_run(run_dir: Path) -> None:
    """Remove the run that ``--overwrite`` replaces: called only once the new run has loaded its model and data,
    so a new run that cannot start leaves the old one intact. Its files are first moved into one hidden folder
    (each move atomic), then that folder is deleted; a kill in between leaves the folder, which the next run in
    the directory deletes."""
    aside = run_dir / f".replaced-{os.getpid()}"
    for name in RUN_FILES + RUN_FOLDERS:
        if (run_dir / name).exists():
            aside.mkdir(exist_ok=True)
            os.replace(run_dir / name, aside / name)
    for stale in run_dir.glob(".replaced-*"):
        shutil.rmtree(stale, ignore_errors=True)


def _resume(run: RunObjects, config: Config, run_dir: Path, log) -> TrainingState:
    """The state of ``run`` after the last checkpointed epoch, restored into its objects (the first epoch's when
    there is no checkpoint yet); the files of what came after it are cleared, since it is replayed."""
    last = checkpoint_path(run_dir, "last")
    if not last.is_file():
        log(f"resuming {run_dir}: no checkpoint yet, starting from epoch 1")
        _clear_interrupted_writes(run_dir, 0, log)
        return TrainingState()
    payload = load_checkpoint(last, map_location=run.device)
    _check_resumable(Config.from_dict(SavedModel.of(payload).config, source=str(last)), config)
    state = run.restore(payload, last)
    _clear_interrupted_writes(run_dir, state.epoch, log)
    if _trains_on(state, config):
        # summary.json marks a finished run: one resumed for more epochs has none until it ends again, so an
        # interruption cannot leave the old, shorter run's summary beside its new config
        (run_dir / "summary.json").unlink(missing_ok=True)
    log(f"resuming {run_dir} after epoch {state.epoch} (step {state.step})")
    return state


def _trains_on(state: TrainingState, config: Config) -> bool:
    """Whether the run has epochs left: nothing stopped it and its budget is not spent."""
    return state.stopped is None and state.epoch < config.train.epochs


def _clear_interrupted_writes(run_dir: Path, last_epoch: int, log) -> None:
    """Before a resume: delete the temporary files of interrupted writes, and drop the metric records after the
    last checkpoint (their epochs are replayed), a torn last record included."""
    for tmp in remove_stale_temporaries(run_dir, RUN_FILES):
        log(f"removed {tmp}, left by an interrupted write")
    path = run_dir / "metrics.jsonl"
    if path.is_file():
        kept = [record for record in read_records(path, warn=log) if record["epoch"] <= last_epoch]
        atomic_write_text(path, "".join(json.dumps(record) + "\n" for record in kept))


def threads_hint(config: Config, device: torch.device) -> str:
    """A word about train.threads when torch picks the CPU threads: on a shared machine its default can make
    small models many times slower (the demo: 306 s with 2 threads, 29 s with 1, on a busy 2-core machine)."""
    if device.type != "cpu" or config.train.threads is not None or torch.get_num_threads() == 1:
        return ""
    return (f", {torch.get_num_threads()} torch threads (on a shared machine or for a small model, "
            "--set train.threads=1 is often much faster)")


def run_epoch(run: RunObjects, config: Config, state: TrainingState, progress, on_step=None) -> dict[str, Any]:
    """Epoch ``state.epoch + 1``: train, validate, keep the best, step the schedulers and apply the stop rules,
    updating ``state``; returns the epoch's metrics.jsonl record. ``on_step``: see ``_train_epoch``."""
    epoch = state.epoch + 1
    started = time.perf_counter()
    train_metrics = _train_epoch(run.model, run.task, run.optimizer, config, epoch, state, progress, run.average,
                                 run.graphed, on_step)
    run.evaluated.eval()
    valid = run.task.evaluate(run.evaluated, "valid")
    run.model.train()
    elapsed = time.perf_counter() - started
    state.wall_time_s += elapsed
    metric_name, larger_is_better = SELECTION_METRIC[run.task.name]
    value = valid[metric_name]
    improved = _is_better(value, state.best_value, larger_is_better)
    if improved:
        state.best_epoch, state.best_value, state.bad_epochs = epoch, value, 0
    else:
        state.bad_epochs += 1
    lr = run.optimizer.param_groups[0]["lr"]  # the epoch's rate, before the schedulers step
    run.decay.step()
    if run.plateau is not None and math.isfinite(value):
        run.plateau.step(value)
    state.epoch = epoch
    state.stopped = (_diverged(valid, run.task.loss_key, run.divergence_bound)
                     or _stop_reason(config, state, run.optimizer.param_groups[0]["lr"]))
    return {
        "epoch": epoch, "step": state.step, "lr": lr, "train": train_metrics, "valid": valid,
        "wall_time_s": round(elapsed, 3), "best": improved,
    }  # fmt: skip


def _train_epoch(model, task: Task, optimizer, config: Config, epoch: int, state: TrainingState, progress,
                 average: AveragedModel | None = None, graphed: GraphedLMStep | None = None, on_step=None) -> dict:
    """One epoch of training steps, counted in ``state``; returns the epoch's training metrics. ``on_step(index,
    result)``, if given, is called with each step's ``StepResult`` (``deeprnn diagnose`` reads the steps so)."""
    model.train()
    total_batches = task.num_train_batches()
    if config.train.max_batches_per_epoch is not None:
        total_batches = min(total_batches, config.train.max_batches_per_epoch)
    bad_in_a_row, carried = 0, None
    task.begin_epoch()
    totals = _EpochTotals()
    quiet = not sys.stderr.isatty() if progress is None else not progress
    batches = task.train_batches(epoch, config.train.seed)
    # closing() stops the prefetch thread when the loop leaves early (batch cap, max_steps, an error)
    with (tqdm(total=total_batches, desc=f"epoch {epoch}", leave=False, disable=quiet) as bar,
          closing(prefetch(batches)) if config.train.prefetch else nullcontext(batches) as batches):
        for index, batch in enumerate(batches):
            if index >= total_batches or (config.train.max_steps is not None and state.step >= config.train.max_steps):
                break
            result = _step(model, task, batch, carried, optimizer, config, graphed)
            state.step += 1
            if on_step is not None:
                on_step(index, result)
            if not result.finite:
                state.skipped_steps += 1
                bad_in_a_row += 1
                if bad_in_a_row >= config.train.max_bad_steps:
                    raise TrainingDiverged(
                        f"epoch {epoch} step {index + 1}: {bad_in_a_row} consecutive non-finite losses or gradients; "
                        "stopping (try a lower optim.lr or optim.clip_norm)"
                    )
                carried = None  # the next window starts from zeros
                continue
            bad_in_a_row, carried = 0, result.state
            if average is not None:
                average.update_parameters(model)
            totals.add(result)
            bar.update(1)
            bar.set_postfix(**totals.progress(task.unit))
    return totals.metrics(task, state.skipped_steps)


def _step(model, task: Task, batch, carried, optimizer, config: Config, graphed: GraphedLMStep | None) -> StepResult:
    """One training step, replayed from the recorded graph where it takes the batch, else eager."""
    if graphed is not None and graphed.accepts(batch):
        return graphed.step(batch, carried, optimizer)
    return training_step(model, task, batch, carried, optimizer, config.optim.gradient_clip_norm,
                         config.optim.weight_noise, config.optim.weight_noise_biases)


def training_step(model, task: Task, batch, state, optimizer, clip_norm: float | None, weight_noise: float = 0.0,
                  noise_biases: bool = True) -> StepResult:
    """One optimiser step. Order matters and is tested: forward, backward, clip, step.

    Returns the loss value, units, new state, grad norm before clipping, after clipping and whether it was finite.
    Non-finite loss or gradients skip the step (the optimiser state is untouched). ``weight_noise`` perturbs
    the weights for this step's forward and backward (Graves 2011); ``noise_biases=False`` leaves the biases
    out, as GroundHog's ``no_noise_bias`` does.
    """
    optimizer.zero_grad(set_to_none=True)
    noisy, noise = [], []
    if weight_noise > 0:  # nothing to walk on the hot path without noise
        noisy = [p for name, p in model.named_parameters()
                 if noise_biases or not name.rsplit(".", 1)[-1].startswith("bias")]
        with torch.no_grad():
            for p in noisy:
                n = torch.randn_like(p) * weight_noise
                p.add_(n)
                noise.append(n)
    loss, units, state = task.train_loss(model, batch, state)
    finite = bool(torch.isfinite(loss))
    norm_before = norm_after = float("nan")
    if finite:
        loss.backward()
    if noise:
        with torch.no_grad():
            for p, n in zip(noisy, noise):
                p.sub_(n)
    if finite:
        params = [p for p in model.parameters() if p.grad is not None]
        max_norm = clip_norm if clip_norm else float("inf")
        norm_before = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
        finite = math.isfinite(norm_before)
        norm_after = min(norm_before, max_norm) if finite else norm_before
    if finite:
        optimizer.step()
    else:
        optimizer.zero_grad(set_to_none=True)
    return StepResult(float(loss.detach()), units, state, norm_before, norm_after, finite)


class _EpochTotals:
    """The sums behind an epoch's training metrics, over its finite steps."""

    def __init__(self):
        self.loss_sum = self.units_sum = 0.0
        self.norms_before, self.norms_after = [], []
        self.started = time.perf_counter()

    def add(self, result: StepResult) -> None:
        self.loss_sum += result.loss * result.units
        self.units_sum += result.units
        self.norms_before.append(result.norm_before)
        self.norms_after.append(result.norm_after)

    def progress(self, unit: str) -> dict[str, str]:
        """The progress bar's postfix: the mean loss so far and the throughput."""
        rate = self.units_sum / max(time.perf_counter() - self.started, 1e-9)
        return {"loss": f"{self.loss_sum / self.units_sum:.4f}", f"{unit}/s": f"{rate:.0f}"}

    def metrics(self, task: Task, skipped_steps: int) -> dict[str, float]:
        """The epoch's ``train`` record in metrics.jsonl."""
        elapsed = time.perf_counter() - self.started
        before, after = self.norms_before, self.norms_after
        return {
            "loss": self.loss_sum / self.units_sum if self.units_sum else float("nan"),
            **task.train_accuracy(),
            "grad_norm_before_clip": sum(before) / len(before) if before else float("nan"),
            "grad_norm_after_clip": sum(after) / len(after) if after else float("nan"),
            "grad_norm_max": max(before) if before else float("nan"),
            "skipped_steps": skipped_steps,
            f"{task.unit}_per_s": self.units_sum / elapsed if elapsed > 0 else 0.0,
        }


def _is_better(value: float, best: float | None, larger_is_better: bool) -> bool:
    if not math.isfinite(value):
        return False  # a NaN checkpoint is never marked best
    if best is None:
        return True
    return value > best if larger_is_better else value < best


def _diverged(valid: dict[str, float], key: str, bound: float) -> str | None:
    """``stopped`` for a run whose validation loss ``valid[key]`` is non-finite or above ``bound``, else None."""
    value = valid[key]
    if not math.isfinite(value):
        return stop_reasons.diverged(f"validation {key} is {value}")
    if value > bound:
        return stop_reasons.diverged(f"validation {key} {value:.6g} is above {bound:.6g} "
                                     f"({DIVERGENCE_FACTOR:g} x the trivial model's)")
    return None


def _stop_reason(config: Config, state: TrainingState, lr: float) -> str | None:
    """Why the run stops after this epoch (the last rule that applies), or None to go on."""
    reason = None
    if config.train.patience is not None and state.bad_epochs >= config.train.patience:
        reason = stop_reasons.patience(config.train.patience)
    if config.train.max_steps is not None and state.step >= config.train.max_steps:
        reason = stop_reasons.max_steps(config.train.max_steps)
    if config.train.min_lr is not None and lr < config.train.min_lr:
        reason = stop_reasons.rate_floor(lr, config.train.min_lr)
    return reason


def _save_checkpoints(run_dir: Path, payload: dict[str, Any], improved: bool) -> None:
    # Best before last: a kill between the two replays this epoch on resume, which rewrites the
    # same best; the other order could leave 'last' pointing at a best that was never written.
    if improved:
        save_checkpoint(checkpoint_path(run_dir, "best"), payload)
    save_checkpoint(checkpoint_path(run_dir, "last"), payload)


def _epoch_line(record: dict[str, Any], epochs: int) -> str:
    return (f"epoch {record['epoch']}/{epochs}  train {_format_metrics(record['train'])}  "
            f"valid {_format_metrics(record['valid'])}  lr {record['lr']:.3g}  {record['wall_time_s']:.1f}s"
            + ("  *" if record["best"] else ""))


def _format_metrics(values: dict[str, float]) -> str:
    shown = [k for k in SHOWN if k in values]
    return " ".join(f"{k} {values[k]:.4f}" for k in shown)


def finish(run_dir: Path, task: Task, model, state: TrainingState, params: int, device, log=print) -> dict[str, Any]:
    """Evaluate the best-validation checkpoint on valid and test, write summary.json, print a table."""
    best = checkpoint_path(run_dir, "best")
    if not best.is_file():
        raise TrainingDiverged(f"{run_dir}: no finite validation result in {state.epoch} epochs; nothing to report"
                               + (f" ({state.stopped})" if state.stopped else ""))
    model.load_state_dict(SavedModel.of(load_checkpoint(best, map_location=device)).weights)
    model.eval()
    results = {split: task.evaluate(model, split) for split in ("valid", "test")}
    summary = {
        "best_epoch": state.best_epoch,
        "epochs": state.epoch,
        "steps": state.step,
        "skipped_steps": state.skipped_steps,
        "params": params,
        "wall_time_s": round(state.wall_time_s, 2),
        "stopped": state.stopped or stop_reasons.COMPLETED,
        "task": task.name,
        "model": read_json(run_dir / "config.json")["model"]["name"],
        "dataset": read_json(run_dir / "config.json")["data"]["name"],
        "valid": results["valid"],
        "test": results["test"],
    }
    atomic_write_text(run_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
    log(summary_table(summary))
    return summary


def summary_table(summary: dict[str, Any]) -> str:
    keys = [k for k in SHOWN if k in summary["valid"]]
    cells = {split: [f"{summary[split][k]:.4f}" for k in keys] for split in ("valid", "test")}
    # at least two spaces between columns, however wide a (diverged) value is
    widths = [max(11, *(len(cells[split][i]) + 2 for split in cells)) for i in range(len(keys))]
    lines = [
        f"{summary['model']} on {summary['dataset']}: best epoch {summary['best_epoch']} of {summary['epochs']}, "
        f"{summary['params']:,} parameters, {summary['wall_time_s']:.1f}s",
        f"{'split':<6}" + "".join(f"{k:>{w}}" for k, w in zip(keys, widths)),
    ]
    for split in ("valid", "test"):
        lines.append(f"{split:<6}" + "".join(f"{cell:>{w}}" for cell, w in zip(cells[split], widths)))
    if stop_reasons.is_diverged(summary.get("stopped")):
        lines.append(f"stopped: {summary['stopped']}")
    return "\n".join(lines)
