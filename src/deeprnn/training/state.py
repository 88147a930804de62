"""The checkpoint format: what a checkpoint holds, the one place that writes and reads its contents
(``payload``, ``restore``), the trainer's counters it stores (``TrainingState``) and the part inference reads
(``SavedModel``). The live objects a run trains are ``run_objects.RunObjects``.

A checkpoint (format version 1; ``checkpoint.save_checkpoint`` adds ``format_version``) is a plain dict:

    config, task, model_kwargs    the resolved config, the task's name and the sizes from the data
    model                         the weights that are evaluated: with optim.ema_decay, the average's
    optimizer, lr_decay, plateau  state_dicts (plateau None without optim.plateau_patience)
    rng_cpu, rng_cuda             the RNG states (rng_cuda None off CUDA)
    trainer                       ``TrainingState.to_dict()``
    vocab, tags, feature_vocab    ``Task.extras()``: the vocabularies of the text tasks
    trained_model, average_updates  with optim.ema_decay only: the raw weights training goes on from, and the
                                  average's update count

``payload`` writes it from a run's objects and ``restore`` reads it back into them to resume (``RunObjects``
calls both); inference reads its model part through ``SavedModel``. The keys and values are those the trainer
wrote before this module existed (tests/fixtures/run-v1 is such a run), so a change here must keep old run
directories loading and resuming. What this module reads of a run is declared by ``Checkpointed``, so it
imports none of the trainer's modules.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch.optim.swa_utils import AveragedModel


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or does not match the run's config or format."""


@dataclass
class TrainingState:
    """The trainer's counters, checkpointed as "trainer" (in this field order, that of format version 1)."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimiser steps taken, skipped ones included
    best_epoch: int | None = None
    best_value: float | None = None  # the best epoch's validation selection metric
    bad_epochs: int = 0  # epochs since the best
    wall_time_s: float = 0.0  # training and validation time, summed over the epochs of every session
    skipped_steps: int = 0  # steps skipped for a non-finite loss or gradient
    stopped: str | None = None  # why the run stopped early; None while it goes on

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> TrainingState:
        return cls(**stored)


@dataclass(frozen=True)
class SavedModel:
    """The part of a checkpoint that inference reads: what rebuilds the model, its evaluated weights, the
    vocabularies (None where the task has none, or the checkpoint predates them)."""

    config: dict[str, Any]  # as stored; Config.from_dict parses it
    task: str
    model_kwargs: dict[str, Any]
    weights: dict[str, torch.Tensor]  # with optim.ema_decay the average's, which is what a run reports
    epoch: int  # epochs trained when it was saved
    vocab: list[str] | None = None
    tags: list[str] | None = None
    feature_vocab: list[str] | None = None

    @classmethod
    def of(cls, payload: dict[str, Any]) -> SavedModel:
        return cls(payload["config"], payload["task"], payload["model_kwargs"], payload["model"],
                   payload["trainer"]["epoch"], payload.get("vocab"), payload.get("tags"),
                   payload.get("feature_vocab"))



class _TaskFacts(Protocol):
    """What the format stores of a task: its name, the sizes that rebuild the model, its vocabularies."""

    name: str

    def model_kwargs(self) -> dict[str, Any]: ...

    def extras(self) -> dict[str, Any]: ...


class _ConfigFacts(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


class Checkpointed(Protocol):
    """The objects of a run that its checkpoint saves and restores (``run_objects.RunObjects`` is one)."""

    device: torch.device
    task: _TaskFacts
    model: torch.nn.Module  # the weights the optimiser steps
    optimizer: torch.optim.Optimizer
    average: AveragedModel | None
    decay: torch.optim.lr_scheduler.ExponentialLR
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None

    @property
    def evaluated(self) -> torch.nn.Module: ...


def payload(run: Checkpointed, config: _ConfigFacts, state: TrainingState) -> dict[str, Any]:
    """The checkpoint of ``run`` as it is now (the RNG states included: take it after the epoch's last draw)."""
    saved = {
        "config": config.to_dict(), "task": run.task.name, "model_kwargs": run.task.model_kwargs(),
        "model": run.evaluated.state_dict(), "optimizer": run.optimizer.state_dict(),
        "lr_decay": run.decay.state_dict(),
        "plateau": run.plateau.state_dict() if run.plateau is not None else None,
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
        "trainer": state.to_dict(), **run.task.extras(),
    }  # fmt: skip
    if run.average is not None:
        saved.update(trained_model=run.model.state_dict(), average_updates=int(run.average.n_averaged))
    return saved


def restore(run: Checkpointed, saved: dict[str, Any], source: str | Path) -> TrainingState:
    """Put back into ``run`` what ``saved`` holds (weights, average, optimiser, schedulers, RNG states) and return
    its counters; ``source`` names the checkpoint in errors."""
    try:
        # "model" holds what is evaluated: with averaging the average, and the raw weights are "trained_model"
        run.model.load_state_dict(saved["trained_model"] if run.average is not None else saved["model"])
        if run.average is not None:
            run.average.module.load_state_dict(saved["model"])
            run.average.n_averaged.fill_(saved["average_updates"])
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {source} does not fit the model of this config: {exc}") from None
    run.optimizer.load_state_dict(saved["optimizer"])
    run.decay.load_state_dict(saved["lr_decay"])
    if run.plateau is not None and saved.get("plateau"):
        run.plateau.load_state_dict(saved["plateau"])
    torch.set_rng_state(saved["rng_cpu"].cpu())
    if run.device.type == "cuda" and saved.get("rng_cuda") is not None:
        torch.cuda.set_rng_state(saved["rng_cuda"].cpu(), run.device)
    return TrainingState.from_dict(saved["trainer"])
