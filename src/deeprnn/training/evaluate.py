"""Evaluate a run's checkpoint on a split, with the same metrics as training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from deeprnn.training.checkpoint import (
    check_checkpoint_of_run,
    checkpoint_path,
    load_checkpoint,
    model_from_config,
    run_data_dir,
)
from deeprnn.training.config import Config
from deeprnn.training.state import SavedModel
from deeprnn.training.tasks import build_task
from deeprnn.training.trainer import resolve_device


def evaluate_run(
    run_dir: str | Path, split: str = "test", checkpoint: str = "best", device: str = "auto", data_dir=None
) -> dict[str, Any]:
    """The metrics of a run's checkpoint on a split; the data is read as ``run_data_dir`` says (``data_dir``:
    --data-dir)."""
    if split not in ("train", "valid", "test"):
        raise ValueError(f"unknown split '{split}' (choose from train, valid, test)")
    path = checkpoint_path(run_dir, checkpoint)
    payload = load_checkpoint(path)
    check_checkpoint_of_run(run_dir, path, payload)
    saved = SavedModel.of(payload)
    config = Config.from_dict(saved.config, source=f"{run_dir} checkpoint config")
    config.data.data_dir = run_data_dir(run_dir, data_dir)
    torch_device = resolve_device(device)
    task = build_task(config, torch_device)
    model = model_from_config(config, saved.task, **saved.model_kwargs).to(torch_device)
    model.load_state_dict(saved.weights)
    model.eval()
    metrics = task.evaluate(model, split)
    return {"run_dir": str(run_dir), "checkpoint": checkpoint, "epoch": saved.epoch, "split": split, "metrics": metrics}
