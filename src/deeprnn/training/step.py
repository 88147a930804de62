"""What one optimiser step returns, for the trainer's eager step and the recorded CUDA-graph step alike."""

from __future__ import annotations

from typing import Any, NamedTuple


class StepResult(NamedTuple):
    """One optimiser step (``trainer.training_step``, ``GraphedLMStep.step``)."""

    loss: float  # the step's mean loss per unit
    units: int  # frames, tokens or words scored
    state: Any  # the hidden state to carry into the next window (lm); meaningless when not finite
    norm_before: float  # gradient norm before clipping (nan when the loss was not finite)
    norm_after: float  # after clipping
    finite: bool  # False: the loss or gradients were not finite and the step was skipped
