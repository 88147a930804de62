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

from deeprnn.data.vocab import Vocabulary
from deeprnn.data.wordfeatures import TaggerInputs
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
    """A trained head for use outside training: ``model(x) -> logits`` (batch-first).

    Music: (B, T, 88) float piano-roll frames -> (B, T, 88) logits; position t predicts frame t + 1.
    Language model / tagger: (B, T) token ids -> (B, T, V) logits. ``step`` also returns the state, for
    sampling one step at a time. ``vocab`` and ``tags`` hold the token and tag lists (text tasks);
    ``tagger_inputs`` (taggers) turns words into the ids and spelling features the tagger reads.
    """

    def __init__(self, head: nn.Module, task: str, vocab: list[str] | None, tags: list[str] | None,
                 tagger_inputs: TaggerInputs | None = None):
        super().__init__()
        self.head, self.task, self.vocab, self.tags = head, task, vocab, tags
        self.tagger_inputs = tagger_inputs

    def forward(self, inputs: torch.Tensor, hx=None, *, lengths=None, **kwargs) -> torch.Tensor:
        return self.head(inputs, hx, lengths=lengths, **kwargs)[0]

    def step(self, inputs: torch.Tensor, hx=None):
        return self.head(inputs, hx)


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> tuple[InferenceModel, Config]:
    """Rebuild the model of a run from its checkpoint (config and vocabularies come from the checkpoint)."""
    payload = load_checkpoint(checkpoint_path(run_dir, checkpoint), map_location=device)
    config = Config.from_dict(payload["config"], source=f"{run_dir} checkpoint config")
    head = model_from_config(config, payload["task"], **payload["model_kwargs"])
    head.load_state_dict(payload["model"])
    tagger_inputs = None
    if payload["task"] == "tagging":  # checkpoints made before these options lack the keys: their defaults
        features = payload.get("feature_vocab")
        tagger_inputs = TaggerInputs(Vocabulary(payload["vocab"]), config.data.tagging_lowercase,
                                     config.model.word_features, Vocabulary(features) if features else None)
    model = InferenceModel(head, payload["task"], payload.get("vocab"), payload.get("tags"), tagger_inputs).to(device)
    model.eval()
    return model, config


def read_json(path: Path) -> Any:
    return json.loads(Path(path).read_text())
