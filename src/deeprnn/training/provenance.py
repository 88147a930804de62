"""A run's provenance in env.json: the code (git commit, uncommitted edits), packages, machine and device it
trained under, and every resume under other code, torch or device (``resumed_under``)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

from deeprnn import __version__
from deeprnn.data import resolve_data_dir
from deeprnn.files import atomic_write_text
from deeprnn.training.checkpoint import read_json
from deeprnn.training.config import Config

RESUME_KEYS = ("git_commit", "deeprnn", "torch", "device")  # what decides the numbers a resumed run goes on with


def write_environment(run_dir: Path, config: Config, device: torch.device, after_epoch: int, resumed: bool) -> None:
    """env.json for a new run; a resumed one keeps its own and records what it is resumed under."""
    env_path, current = run_dir / "env.json", environment(config, device)
    if resumed and env_path.is_file():
        record_resume(env_path, current, after_epoch)
    else:
        atomic_write_text(env_path, json.dumps(current, indent=2) + "\n")


def environment(config: Config, device: torch.device) -> dict[str, Any]:
    import numpy

    commit, modified = git_state()
    return {
        "deeprnn": __version__,
        "torch": torch.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "cuda_device": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
        "seed": config.train.seed,
        "deterministic": config.train.deterministic,
        "git_commit": commit,
        "source_modified": modified,  # uncommitted changes to src/deeprnn when the run started (None: no git)
        # where this machine keeps the data (absolute): later commands on the run read it there when neither
        # --data-dir nor $DEEPRNN_DATA says otherwise. Not part of the run's identity; never copied to results/.
        "data_dir": os.path.abspath(resolve_data_dir(config.data.data_dir)),
    }


def git_state() -> tuple[str | None, bool | None]:
    """(HEAD commit, whether src/deeprnn has uncommitted edits); (None, None) outside a git checkout."""
    package = Path(__file__).resolve().parents[1]  # src/deeprnn
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=package
        ).stdout.strip() or None
        if commit is None:
            return None, None
        # The commit alone does not name the code when the package has uncommitted edits (configs are
        # recorded in config.json; only the package's own files count here).
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."],
                                capture_output=True, text=True, timeout=5, cwd=package).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def record_resume(env_path: Path, current: dict[str, Any], after_epoch: int) -> None:
    """A run resumed under other code, torch or device than it was running under appends that to env.json's
    ``resumed_under`` list, so its provenance is whole (reports list every commit a run trained under)."""
    env = read_json(env_path)
    moved = env.get("data_dir") != current["data_dir"]
    env["data_dir"] = current["data_dir"]  # where it trained last: what later commands read
    latest = (env.get("resumed_under") or [env])[-1]
    modified = bool(current.get("source_modified"))  # edited code may differ from one resume to the next
    if not modified and all(latest.get(key) == current.get(key) for key in RESUME_KEYS):
        if moved:
            atomic_write_text(env_path, json.dumps(env, indent=2) + "\n")
        return
    entry = {"after_epoch": after_epoch, **{key: current.get(key) for key in RESUME_KEYS}}
    if modified:
        entry["source_modified"] = True
    env["resumed_under"] = [*env.get("resumed_under", []), entry]
    atomic_write_text(env_path, json.dumps(env, indent=2) + "\n")
