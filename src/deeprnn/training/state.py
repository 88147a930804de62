"""A run's state: the trainer's counters (``TrainingState``), the objects it trains (``RunObjects``), what one
training step returns (``StepResult``), and the one place that writes and reads a checkpoint's contents.

A checkpoint (format version 1; ``checkpoint.save_checkpoint`` adds ``format_version``) is a plain dict:

    config, task, model_kwargs    the resolved config, the task's name and the sizes from the data
    model                         the weights that are evaluated: with optim.ema_decay, the average's
    optimizer, lr_decay, plateau  state_dicts (plateau None without optim.plateau_patience)
    rng_cpu, rng_cuda             the RNG states (rng_cuda None off CUDA)
    trainer                       ``TrainingState.to_dict()``
    vocab, tags, feature_vocab    ``Task.extras()``: the vocabularies of the text tasks
    trained_model, average_updates  with optim.ema_decay only: the raw weights training goes on from, and the
                                  average's update count

``RunObjects.payload`` writes it and ``RunObjects.restore`` reads it back to resume; inference reads its model
part through ``SavedModel``. The keys and values are those the trainer wrote before this module existed
(tests/fixtures/run-v1 is such a run), so a change here must keep old run directories loading and resuming.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
from torch.optim.swa_utils import AveragedModel

if TYPE_CHECKING:  # types only: checkpoint.py imports this module and must not pull in the tasks' data code
    from deeprnn.training.config import Config
    from deeprnn.training.graphed import GraphedLMStep
    from deeprnn.training.tasks import Task


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or does not match the run's config or format."""


class StepResult(NamedTuple):
    """One optimiser step (``trainer.training_step``, ``GraphedLMStep.step``)."""

    loss: float  # the step's mean loss per unit
    units: int  # frames, tokens or words scored
    state: Any  # the hidden state to carry into the next window (lm); meaningless when not finite
    norm_before: float  # gradient norm before clipping (nan when the loss was not finite)
    norm_after: float  # after clipping
    finite: bool  # False: the loss or gradients were not finite and the step was skipped


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


@dataclass
class RunObjects:
    """What a run trains and with what, built by ``trainer.setup``: the same for ``train`` and ``deeprnn
    diagnose``. ``payload`` and ``restore`` are its checkpoint (see the module docstring)."""

    device: torch.device
    task: Task
    model: torch.nn.Module  # the weights the optimiser steps
    optimizer: torch.optim.Optimizer
    graphed: GraphedLMStep | None  # train.cuda_graph's recorded step
    average: AveragedModel | None  # optim.ema_decay's weight average
    decay: torch.optim.lr_scheduler.ExponentialLR
    plateau: torch.optim.lr_scheduler.ReduceLROnPlateau | None
    divergence_bound: float  # validation loss above which the run has diverged (trainer.divergence_bound)

    @property
    def evaluated(self) -> torch.nn.Module:
        """The model that is validated and checkpointed as "model": the average with optim.ema_decay."""
        return self.average.module if self.average is not None else self.model

    def payload(self, config: Config, state: TrainingState) -> dict[str, Any]:
        """The checkpoint of the run as it is now (the RNG states included: take it after the epoch's last draw)."""
        payload = {
            "config": config.to_dict(), "task": self.task.name, "model_kwargs": self.task.model_kwargs(),
            "model": self.evaluated.state_dict(), "optimizer": self.optimizer.state_dict(),
            "lr_decay": self.decay.state_dict(),
            "plateau": self.plateau.state_dict() if self.plateau is not None else None,
            "rng_cpu": torch.get_rng_state(),
            "rng_cuda": torch.cuda.get_rng_state(self.device) if self.device.type == "cuda" else None,
            "trainer": state.to_dict(), **self.task.extras(),
        }  # fmt: skip
        if self.average is not None:
            payload.update(trained_model=self.model.state_dict(), average_updates=int(self.average.n_averaged))
        return payload

    def restore(self, payload: dict[str, Any], source: str | Path) -> TrainingState:
        """Put back what ``payload`` saved (weights, average, optimiser, schedulers, RNG states) and return its
        counters; ``source`` names the checkpoint in errors."""
        try:
            # "model" holds what is evaluated: with averaging the average, and the raw weights are "trained_model"
            self.model.load_state_dict(payload["trained_model"] if self.average is not None else payload["model"])
            if self.average is not None:
                self.average.module.load_state_dict(payload["model"])
                self.average.n_averaged.fill_(payload["average_updates"])
        except RuntimeError as exc:
            raise CheckpointError(f"checkpoint {source} does not fit the model of this config: {exc}") from None
        self.optimizer.load_state_dict(payload["optimizer"])
        self.decay.load_state_dict(payload["lr_decay"])
        if self.plateau is not None and payload.get("plateau"):
            self.plateau.load_state_dict(payload["plateau"])
        torch.set_rng_state(payload["rng_cpu"].cpu())
        if self.device.type == "cuda" and payload.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(payload["rng_cuda"].cpu(), self.device)
        return TrainingState.from_dict(payload["trainer"])
