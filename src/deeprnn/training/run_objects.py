"""The objects a run trains and with what (``RunObjects``), built by ``trainer.setup``: the same for ``train`` and
``deeprnn diagnose``. Their checkpoint format is ``deeprnn.training.state``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.optim.swa_utils import AveragedModel

from deeprnn.training import state as checkpoint_format
from deeprnn.training.config import Config
from deeprnn.training.graphed import GraphedLMStep
from deeprnn.training.state import TrainingState
from deeprnn.training.tasks import Task


@dataclass
class RunObjects:
    """What a run trains and with what; ``payload`` and ``restore`` are its checkpoint (``state.payload``,
    ``state.restore``)."""

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
        return checkpoint_format.payload(self, config, state)

    def restore(self, payload: dict[str, Any], source: str | Path) -> TrainingState:
        """Put back what ``payload`` saved and return its counters; ``source`` names the checkpoint in errors."""
        return checkpoint_format.restore(self, payload, source)
