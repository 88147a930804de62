"""Why a training run stopped: summary.json's ``stopped``, declared once. The trainer writes it; the CLI (exit
code), the sweeps (a diverged point is final) and the reports (runs cut by their budget or by the learning-rate
floor) read it. A torch-free leaf. Every committed summary holds one of these strings, so their wording never
changes: a new reason gets a new prefix."""

from __future__ import annotations

COMPLETED = "completed all epochs"
_PATIENCE = "early stopping: "
_MAX_STEPS = "reached train.max_steps"
_RATE_FLOOR = "learning rate "
_DIVERGED = "diverged"


def patience(epochs: int) -> str:
    return f"{_PATIENCE}no validation improvement for {epochs} epochs"


def max_steps(steps: int) -> str:
    return f"{_MAX_STEPS}={steps}"


def rate_floor(lr: float, min_lr: float) -> str:
    return f"{_RATE_FLOOR}{lr:.3g} below train.min_lr={min_lr:g}"


def diverged(why: str) -> str:
    return f"{_DIVERGED}: {why}"


def is_diverged(stopped: object) -> bool:
    return str(stopped or "").startswith(_DIVERGED)


def is_rate_floor(stopped: object) -> bool:
    return str(stopped or "").startswith(_RATE_FLOOR)


def is_budget(stopped: object) -> bool:
    """Stopped by its epochs or steps running out, not by a rule about how it was learning."""
    stopped = str(stopped or "")
    return stopped == COMPLETED or stopped.startswith(_MAX_STEPS)
