"""Checkpoints: atomic writes (``deeprnn.files``), safe loads (``weights_only=True``), loading a run for inference.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(..., weights_only=True)`` and never executes code. It carries the resolved config and the
vocabularies, so a model can be rebuilt from the checkpoint alone (as in nanoGPT).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from deeprnn.data.datadir import ENV_VAR as DATA_ENV_VAR
from deeprnn.data.datadir import DataDirChoice
from deeprnn.data.vocab import Vocabulary
from deeprnn.data.wordfeatures import TaggerInputs
from deeprnn.files import atomic_write_bytes, atomic_write_text  # noqa: F401 - atomic_write_text for importers
from deeprnn.models import build_from_config
from deeprnn.training.config import RESUMABLE, ROLE_OF, Config, config_differences
from deeprnn.training.state import CheckpointError, SavedModel

FORMAT_VERSION = 1
CHECKPOINT_NAMES = ("last", "best")
# Keys that may differ between a run's stored config and the config given to --resume: those of the roles
# RESUMABLE (execution and budget; training/config.py), named for the messages.
RESUMABLE_CHANGES = tuple(key for key, role in ROLE_OF.items() if role in RESUMABLE)


def checkpoint_path(run_dir: str | Path, name: str) -> Path:
    if name not in CHECKPOINT_NAMES:
        raise ValueError(f"unknown checkpoint '{name}' (choose from {', '.join(CHECKPOINT_NAMES)})")
    return Path(run_dir) / f"checkpoint_{name}.pt"


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    payload = {"format_version": FORMAT_VERSION, **payload}
    # Serialised in memory first: torch.save turns a failed write of the file into a RuntimeError that does
    # not say why ("unexpected pos"); a write of the bytes raises the OSError itself (a full disk).
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, lambda handle: handle.write(buffer.getbuffer()))


def _load_failure(path: Path, exc: Exception) -> str:
    """One line on why torch could not load ``path``; never torch's advice to load it unsafely."""
    if path.stat().st_size == 0:
        return f"checkpoint {path} is empty (0 bytes): it was never written completely"
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if isinstance(exc, pickle.UnpicklingError) and refused:
        return (f"refused to load checkpoint {path}: it asks for {refused[1]}, which is not tensors or plain data "
                "(a deeprnn checkpoint never holds it; nothing from the file was run)")
    lines = [line for line in text.splitlines() if line.strip() and "weights_only" not in line]
    return f"cannot read checkpoint {path}: {lines[0] if lines else type(exc).__name__}"


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    if not path.parent.is_dir():
        raise CheckpointError(f"no run directory {path.parent} (relative to {Path.cwd()}); give the folder that "
                              "'deeprnn train' wrote (--run-dir)")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path} (has the run finished its first epoch?)")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt or unsafe files
        raise CheckpointError(_load_failure(path, exc)) from None
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version}, this deeprnn reads version {FORMAT_VERSION}"
        )
    return payload


def model_from_config(config: Config, task: str, **task_kwargs: Any) -> nn.Module:
    """Build the head for ``task`` from the ``[model]`` section; ``task_kwargs`` give sizes from the data."""
    return build_from_config(config.model, task, **task_kwargs)


class InferenceModel(nn.Module):
    """A trained head with what it was trained on, called exactly like ``build_model``'s models (batch-first):
    ``logits, state = model(inputs, state=None, lengths=None)``.

    Music: (B, T, 88) float piano-roll frames -> (B, T, 88) logits; position t predicts frame t + 1.
    Language model / tagger: (B, T) token ids -> (B, T, V) logits. Pass ``state`` back in to go on from
    where a call stopped (sampling one step at a time). ``task`` is "music", "lm" or "tagging"; ``vocab``
    and ``tags`` hold the token and tag lists (text tasks); ``head`` is the ``build_model`` model itself.
    ``tagger_inputs`` (taggers) turns words into the ids and spelling features the tagger reads.
    """

    def __init__(self, head: nn.Module, task: str, vocab: list[str] | None, tags: list[str] | None,
                 tagger_inputs: TaggerInputs | None = None):
        super().__init__()
        self.head, self.task, self.vocab, self.tags = head, task, vocab, tags
        self.tagger_inputs = tagger_inputs

    def forward(self, inputs: torch.Tensor, hx=None, *, lengths=None, **kwargs):
        return self.head(inputs, hx, lengths=lengths, **kwargs)


def check_checkpoint_of_run(run_dir: str | Path, path: Path, payload: dict[str, Any]) -> None:
    """Refuse a checkpoint made with another config than the run's config.json (apart from the keys that a
    resume may change), e.g. one copied in from another run: its numbers would not be this run's."""
    config_file = Path(run_dir) / "config.json"
    if not config_file.is_file():
        return
    run = Config.from_dict(read_json(config_file), source=str(config_file))
    made = Config.from_dict(payload["config"], source=f"{path} config")
    changed = [f"{key}: {before!r} in the checkpoint, {after!r} in config.json"
               for key, before, after in config_differences(made, run, ignore=RESUMABLE)]
    if changed:
        raise CheckpointError(f"checkpoint {path} was made with another config than {config_file} "
                              f"({'; '.join(changed)}); it belongs to another run")


def load_run(run_dir: str | Path, checkpoint: str = "best", device: str = "cpu") -> tuple[InferenceModel, Config]:
    """Rebuild the model of a run from its checkpoint (config and vocabularies come from the checkpoint)."""
    path = checkpoint_path(run_dir, checkpoint)
    payload = load_checkpoint(path, map_location=device)
    check_checkpoint_of_run(run_dir, path, payload)
    saved = SavedModel.of(payload)
    config = Config.from_dict(saved.config, source=f"{run_dir} checkpoint config")
    head = model_from_config(config, saved.task, **saved.model_kwargs)
    head.load_state_dict(saved.weights)
    tagger_inputs = None
    if saved.task == "tagging":  # checkpoints made before these options lack the keys: their defaults
        features = saved.feature_vocab
        tagger_inputs = TaggerInputs(Vocabulary(saved.vocab), config.data.tagging_lowercase,
                                     config.model.word_features, Vocabulary(features) if features else None)
    model = InferenceModel(head, saved.task, saved.vocab, saved.tags, tagger_inputs).to(device)
    model.eval()
    return model, config


def read_json(path: Path) -> Any:
    """A run's JSON file; a damaged one is a ValueError naming the file and line."""
    try:
        return json.loads(Path(path).read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a valid JSON file ({exc})") from None


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
