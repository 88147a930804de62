"""Checkpoints: atomic writes, safe loads (``weights_only=True``), and loading a run for inference.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` and never executes code. It carries the resolved config and the
vocabularies, so a model can be rebuilt from the checkpoint alone (as in nanoGPT).
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deeprnn.data.datadir import ENV_VAR as DATA_ENV_VAR
from deeprnn.data.datadir import DataDirChoice
from deeprnn.models import build_model
from deeprnn.training.config import Config

FORMAT_VERSION = 1
CHECKPOINT_NAMES = ("last", "best")


class CheckpointError(RuntimeError):
    """A checkpoint that is missing, unreadable, or does not match the run's config or format."""


def checkpoint_path(run_dir: str | Path, name: str) -> Path:
    if name not in CHECKPOINT_NAMES:
        raise ValueError(f"unknown checkpoint '{name}' (choose from {', '.join(CHECKPOINT_NAMES)})")
    return Path(run_dir) / f"checkpoint_{name}.pt"


def atomic_write_bytes(path: Path, write) -> None:
    """Write through a temporary file in the same directory, then rename: a crash never leaves a torn file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format_version": FORMAT_VERSION, **payload}
    atomic_write_bytes(path, lambda handle: torch.save(payload, handle))


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not path.parent.is_dir():
        raise CheckpointError(f"no run directory {path.parent} (relative to {Path.cwd()}); give the folder that "
                              "'deeprnn train' wrote (--run-dir)")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (has the run finished its first epoch?)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, this deeprnn reads version {FORMAT_VERSION}"
        )
    return payload


def model_from_config(config: Config, task: str, **task_kwargs: Any) -> nn.Module:
    """Build the head for ``task`` from the ``[model]`` section; ``task_kwargs`` give sizes from the data."""
    hyper = dataclasses.asdict(config.model)
    name = hyper.pop("name")
    hyper.pop("output_bias_from_data")  # applied by the trainer, not part of the architecture
    return build_model(name, task=task, **task_kwargs, **hyper)


class InferenceModel(nn.Module):
    """A trained head with what it was trained on, called exactly like ``build_model``'s models (batch-first):
    ``logits, state = model(inputs, state=None, lengths=None)``.

    Music: (B, T, 88) float piano-roll frames -> (B, T, 88) logits; position t predicts frame t + 1.
    Language model / tagger: (B, T) token ids -> (B, T, V) logits. Pass ``state`` back in to go on from
    where a call stopped (sampling one step at a time). ``task`` is "music", "lm" or "tagging"; ``vocab``
    and ``tags`` hold the token and tag lists (text tasks); ``head`` is the ``build_model`` model itself.
    """

    def __init__(self, head: nn.Module, task: str, vocab: list[str] | None, tags: list[str] | None):
        super().__init__()
        self.head, self.task, self.vocab, self.tags = head, task, vocab, tags

    def forward(self, inputs: torch.Tensor, hx=None, *, lengths=None):
        return self.head(inputs, hx, lengths=lengths)


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> tuple[InferenceModel, Config]:
    """Rebuild the model of a run from its checkpoint (config and vocabularies come from the checkpoint)."""
    payload = load_checkpoint(checkpoint_path(run_dir, checkpoint), map_location=device)
    config = Config.from_dict(payload["config"], source=f"{run_dir} checkpoint config")
    head = model_from_config(config, payload["task"], **payload["model_kwargs"])
    head.load_state_dict(payload["model"])
    model = InferenceModel(head, payload["task"], payload.get("vocab"), payload.get("tags")).to(device)
    model.eval()
    return model, config


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())


def _run_file(run_dir: Path, name: str) -> dict[str, Any]:
    try:
        return json.loads((run_dir / name).read_text())
    except (OSError, ValueError):
        return {}  # missing or unreadable: the loads that follow say what is wrong with the run


def run_data_dir(run_dir: str | Path, given: str | os.PathLike | None = None) -> str | os.PathLike | None:
    """Where to read a trained run's dataset now, as a ``data_dir`` for the loaders: ``given`` (--data-dir),
    else the run's own ``data.data_dir``, else None when $DEEPRNN_DATA is set (the loaders read it), else the
    directory recorded in its env.json (where it trained), else None (the per-user cache)."""
    if given is not None:
        return given
    run_dir = Path(run_dir)
    configured = _run_file(run_dir, "config.json").get("data", {}).get("data_dir")
    if configured is not None:
        return configured
    if os.environ.get(DATA_ENV_VAR):
        return None
    recorded = _run_file(run_dir, "env.json").get("data_dir")
    if not recorded:
        return None
    return DataDirChoice(recorded, f"recorded in {run_dir / 'env.json'}, where the run trained")
