"""Shared test setup: point the data directory at the verified copies in ../shared/data."""

from __future__ import annotations

import errno
import importlib.util
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO_ROOT / ".." / "shared" / "data").resolve()

if SHARED_DATA.is_dir() and not os.environ.get("DEEPRNN_DATA"):
    os.environ["DEEPRNN_DATA"] = str(SHARED_DATA)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = Path(os.environ.get("DEEPRNN_DATA", SHARED_DATA))
    if not path.is_dir():
        pytest.fail(f"benchmark data directory not found: {path} (set DEEPRNN_DATA)")
    return path


@pytest.fixture(scope="session")
def load_script():
    """``load_script("benchmarks/cells.py")``: a script of the repository (benchmarks/, scripts/; not part of the
    package) imported as a module."""
    def load(relative_path: str):
        path = REPO_ROOT / relative_path
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load


# One intra-op thread: the suite's models are tiny, and on a busy 2-core machine PyTorch's default
# threading makes their small matrix products many times slower.
import torch  # noqa: E402

torch.set_num_threads(1)


class DiskFull:
    """A file handle whose writes stop part-way with ENOSPC, as on a full disk (tests import it from conftest)."""

    def __init__(self, handle):
        self.handle = handle

    def write(self, data):
        data = data if isinstance(data, str) else bytes(data)
        self.handle.write(data[: len(data) // 2])
        self.handle.flush()
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.handle, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.handle.close()
